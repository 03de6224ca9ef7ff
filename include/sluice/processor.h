/* sluice — the processor: one source, its pipelines, their sinks and a fault
 * sink, driven by one libuv loop on the calling thread.
 *
 * A processor owns an engine (sluice/engine.h). Connectors attach to it: a
 * source (sl_kafka_source_attach()) and sinks (sl_kafka_sink_new()).
 * sl_processor_run() blocks until a stop is requested (SIGINT, SIGTERM or
 * sl_processor_stop()) and the drain is over: fetching stops, open batches
 * are flushed, acknowledgements are awaited up to drain.timeout.ms, the
 * watermark is committed, and the source closes. A Kafka source's final
 * commit and group leave take at most close.timeout.ms together, so over
 * Kafka it returns at most drain.timeout.ms + close.timeout.ms after the
 * stop, whatever the brokers do. */
#ifndef SLUICE_PROCESSOR_H
#define SLUICE_PROCESSOR_H

#include "sluice/export.h"

#include "sluice/conf.h"
#include "sluice/engine.h"
#include "sluice/http.h"
#include "sluice/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_processor_s sl_processor_t;

/**
 * @brief New processor configured by @p conf (copied; NULL takes defaults).
 * @returns A processor owned by the caller (sl_processor_destroy()), or NULL
 *          with a message in @p errstr (out of memory, or an event loop that
 *          cannot be created).
 * @remark The processor and what is attached to it belong to the thread that
 *         calls sl_processor_run(); only sl_processor_stop() may be called
 *         from elsewhere.
 */
SL_EXPORT sl_processor_t *sl_processor_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Destroy a processor that is not running: its engine, pipelines,
 *        source and the sinks it owns. NULL is accepted.
 */
SL_EXPORT void sl_processor_destroy(sl_processor_t *p);

/**
 * @brief Add a pipeline; on success the processor owns it (destroyed with
 *        it), else it stays the caller's (sl_pipeline_destroy()).
 * @returns 0; SL_EINVAL if @p p or @p pl is NULL or @p pl has no sink;
 *          SL_EEXIST if a pipeline of that name is already added; SL_ESTATE
 *          once the processor has run, or when @p pl is already added;
 *          SL_ENOMEM. On failure sl_pipeline_error(pl) says why.
 */
SL_EXPORT int sl_processor_add_pipeline(sl_processor_t *p, sl_pipeline_t *pl);

/**
 * @brief Set the sink of fault events (required before running).
 * @param sink borrowed; sinks made by sl_kafka_sink_new() belong to the processor.
 * @returns 0; SL_EINVAL if @p p or @p sink is NULL; SL_ESTATE once the
 *          processor has run.
 */
SL_EXPORT int sl_processor_set_fault_sink(sl_processor_t *p, sl_sink_t *sink);

/**
 * @brief Run until stopped and drained. Every failure is also logged (a
 *        JSON line on stderr saying why).
 * @returns
 *   - 0 when the drain completed: every record read was done and its
 *     offset committed.
 *   - SL_ETIMEDOUT when drain.timeout.ms passed with records still in
 *     flight: they will be read again by the next owner; nothing is lost.
 *   - SL_ESINKDOWN when a sink (or the fault sink) said it cannot work at
 *     all (a fatal producer error, no authorization, a missing topic or
 *     stream): intake stopped, only records done before the broken ones were
 *     committed, and the next run reads the rest.
 *   - SL_EIO when the source cannot reach its brokers or endpoint within
 *     source.connect.timeout.ms (nothing was read), or failed for good while
 *     running (a fatal consumer error; handled like SL_ESINKDOWN).
 *   - SL_EINVAL when it cannot start: @p p is NULL, no source, no pipeline,
 *     no fault sink, or the Kafka subscription was refused.
 *   - SL_ESTATE when it has already run (a processor runs once).
 *   - SL_EBUSY, SL_ESTORE or SL_EIO when a Kinesis source cannot read its
 *     checkpoint store within kinesis.checkpoints.timeout.ms.
 *   - SL_ENOMEM when out of memory at start.
 *
 *   The binaries map these to exit codes as a service should: 0 → 0,
 *   SL_ETIMEDOUT → 3, anything else → 1 (examples/orders.c shows it).
 * @remark Installs SIGINT and SIGTERM handlers for its duration when
 *         processor.signals is true (the default).
 */
SL_EXPORT int sl_processor_run(sl_processor_t *p);

/**
 * @brief Ask a running processor to drain and stop.
 * @remark Thread-safe and async-signal-safe; a no-op when not running.
 */
SL_EXPORT void sl_processor_stop(sl_processor_t *p);

/** @brief The processor's engine (owned by it), for stats and watermarks. */
SL_EXPORT sl_engine_t *sl_processor_engine(sl_processor_t *p);

/** @brief The processor's configuration (owned by it). */
SL_EXPORT const sl_conf_t *sl_processor_conf(const sl_processor_t *p);

/**
 * @brief The processor's AsyncAPI 3.0 document: its servers (the Kafka
 *        brokers or the Kinesis endpoint configured), channels (each source
 *        topic or stream, each sink's, the faults'), operations (receive on
 *        the source, send on each sink and the faults) and a message per
 *        event type its pipelines declare (sl_pipeline_consumes(),
 *        sl_pipeline_produces(); the flavors declare theirs), each with its
 *        JSON Schema embedded in components.schemas. A pipeline that
 *        declares nothing has the generic event envelope; sinks that are not
 *        streams (a store) are not channels.
 * @param format "json" (indented) or "yaml" (NULL = "json").
 * @param out receives the document, NUL-terminated, owned by the caller
 *        (sl_free()); NULL on failure.
 * @returns 0; SL_EINVAL for a NULL @p p or @p out or an unknown @p format;
 *          SL_ENOMEM.
 * @remark Connects to nothing. Call it before sl_processor_run() or after;
 *         not while it runs on another thread.
 */
SL_EXPORT int sl_processor_describe(sl_processor_t *p, const char *format, char **out);

/**
 * @brief Make @p p a processor to describe, never to run: connectors
 *        attached from now on (sl_kafka_source_attach(), sl_kafka_sink_new(),
 *        and their Kinesis peers) record their topics, streams and servers
 *        but create no client, so nothing connects anywhere, not even an
 *        embedded broker starts. sl_processor_run() then refuses to run
 *        (no source: SL_EINVAL). For `--describe`.
 * @returns 0; SL_EINVAL for a NULL @p p; SL_ENOMEM.
 * @remark Not thread-safe. Call it right after sl_processor_new(): what was
 *         attached before it stays a real client.
 */
SL_EXPORT int sl_processor_describe_only(sl_processor_t *p);

/**
 * @brief Serve the paths under @p prefix on the processor's HTTP endpoint
 *        (http.listen) with @p fn, run off the loop (see sluice/http.h).
 *
 * A request's path matches when it equals @p prefix or continues it with
 * '/'; the longest matching prefix wins, and a route never shadows
 * /metrics, /health or /ready. Without http.listen the route is kept and
 * never called.
 *
 * @param prefix copied; starts with '/', does not end with '/', at most 63
 *        bytes (e.g. "/views").
 * @param fn called on worker threads, concurrently (thread-safe), for as
 *        long as the processor runs.
 * @param opaque passed to @p fn; on success owned by the processor, which
 *        calls @p destroy (may be NULL) on it once no call of @p fn can run
 *        any more (at sl_processor_destroy() at the latest); on failure it
 *        stays the caller's.
 * @returns 0; SL_EINVAL for a NULL @p p or @p fn or a bad @p prefix;
 *          SL_EEXIST if @p prefix is already routed (or is one of the
 *          operations paths); SL_ERANGE past 8 routes (or when the
 *          processor has no room left to keep them); SL_ESTATE once the
 *          processor has run; SL_ENOMEM.
 * @remark Not thread-safe: call it on the processor's thread before
 *         sl_processor_run().
 */
SL_EXPORT int sl_processor_add_route(sl_processor_t *p, const char *prefix, sl_http_route_fn fn,
                                     void *opaque, void (*destroy)(void *opaque));

#ifdef __cplusplus
}
#endif
#endif
