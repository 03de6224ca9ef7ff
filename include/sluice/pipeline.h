/* sluice — pipelines, stages, units of work and sinks.
 *
 * A pipeline is a named chain of stages ending in a sink. Every pipeline of
 * an engine sees every unit of work (uow) decoded from its source, except a
 * resubmitted record: one with the header `sluice.resubmit.pipeline` (written
 * by `sluice-faults resubmit`) is processed only by the pipeline of that exact
 * name, and every other pipeline skips it (done, counted in `skipped`); when
 * no pipeline has the name, all skip it. Stages are plain C functions
 * returning a sl_result_t; they run on the engine's thread. */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include "sluice/export.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_pipeline_s sl_pipeline_t;
typedef struct sl_uow_s sl_uow_t;
typedef struct sl_sink_s sl_sink_t;
typedef struct sl_emitter_s sl_emitter_t;

/** What a stage made of a unit of work. */
typedef enum sl_result_e {
    SL_OK = 0,    /**< pass it on to the next stage */
    SL_SKIP = 1,  /**< filtered out: done for this pipeline */
    SL_RETRY = 2, /**< transient failure: retried after a capped full-jitter backoff, key held */
    SL_FAULT = 3  /**< permanent failure: published as a fault event, the stream goes on */
} sl_result_t;

/**
 * A stage function (filter, map, tap). It may read the uow, set its output
 * (map) and return a result. To explain a SL_RETRY or SL_FAULT, call
 * sl_uow_fail() before returning.
 */
typedef sl_result_t (*sl_stage_fn)(sl_uow_t *uow, void *opaque);

/** A flat-map function: calls sl_emit() zero or more times for @p uow. */
typedef sl_result_t (*sl_flat_map_fn)(sl_uow_t *uow, sl_emitter_t *em, void *opaque);

/** How sl_pipeline_filter_types() compares the event type. */
typedef enum sl_match_e {
    SL_MATCH_EXACT = 0, /**< type equals one of the names */
    SL_MATCH_PREFIX = 1 /**< type starts with one of the names */
} sl_match_t;

/**
 * Bounds of a batch; a batch closes on whichever comes first. Zero (or -1 for
 * linger) takes the engine's batch.* configuration. The sink's hard limits
 * always apply on top, and a single uow over them becomes a fault.
 */
typedef struct sl_batch_opts_s {
    size_t max_events; /**< close at this many uows; 0 = batch.max.events */
    size_t max_bytes;  /**< close before exceeding this many output bytes; 0 = batch.max.bytes */
    int64_t linger_ms; /**< close this long after the first uow; -1 = batch.linger.ms; 0 = at the
                          next engine tick */
} sl_batch_opts_t;

/**
 * @brief New empty pipeline.
 * @param name copied; used in fault tags, metrics and logs.
 * @returns A pipeline owned by the caller until sl_engine_add_pipeline()
 *          succeeds, or NULL when out of memory or @p name is NULL.
 * @remark A pipeline is built on one thread and never shared.
 */
SL_EXPORT sl_pipeline_t *sl_pipeline_new(const char *name);

/** @brief Free a pipeline the engine does not own; NULL is accepted. Calls the on_destroy hook. */
SL_EXPORT void sl_pipeline_destroy(sl_pipeline_t *p);

/**
 * @brief Why the last failed call on @p p failed: a builder below,
 *        sl_pipeline_on_destroy(), or adding it (sl_engine_add_pipeline(),
 *        sl_processor_add_pipeline(), sl_test_add_pipeline(), which leave
 *        the pipeline with the caller on failure).
 *
 * The builders return bare codes, as every sluice call does; the message
 * says which rule was broken, e.g. `pipeline "orders": has no sink: call
 * sl_pipeline_sink() before adding it`. A call that succeeds leaves the
 * message as it was, so a chain of builders can be checked once at its end.
 * A call given a NULL pipeline has nowhere to leave a message (its code,
 * SL_EINVAL, says it all).
 * @returns A string owned by @p p, valid until the next call on it; "" when
 *          no call has failed; a static string when @p p is NULL.
 * @remark Not thread-safe for the same @p p (a pipeline is built on one thread).
 */
SL_EXPORT const char *sl_pipeline_error(const sl_pipeline_t *p);

/**
 * @brief Register a function called once when the pipeline is destroyed, to
 *        free what its stages' opaque pointers hold. Several may be
 *        registered (flavors register their own); they run in reverse order.
 * @returns 0, SL_EINVAL if @p p or @p fn is NULL, SL_ENOMEM (with a message,
 *          sl_pipeline_error()).
 */
SL_EXPORT int sl_pipeline_on_destroy(sl_pipeline_t *p, void (*fn)(void *opaque), void *opaque);

/**
 * @brief Append a filter: @p fn returns SL_OK to keep, SL_SKIP to drop.
 * @param opaque borrowed; passed to every call.
 * @returns 0; SL_EINVAL for NULL arguments; SL_ESTATE after a collector or
 *          the sink was set or the pipeline was added to an engine;
 *          SL_ENOMEM. The same codes apply to every sl_pipeline_* builder
 *          below (with the extra ones each names). On failure the pipeline
 *          is unchanged and sl_pipeline_error() says why (except for a NULL
 *          @p p).
 */
SL_EXPORT int sl_pipeline_filter(sl_pipeline_t *p, sl_stage_fn fn, void *opaque);

/**
 * @brief Append a filter on the event type, read from the envelope alone (no JSON tree).
 * @param types @p count names, copied.
 * @returns As sl_pipeline_filter(); SL_EINVAL also for no names, a NULL name
 *          or an unknown @p match.
 */
SL_EXPORT int sl_pipeline_filter_types(sl_pipeline_t *p, sl_match_t match, const char *const *types,
                                       size_t count);

/** @brief Append a map: @p fn may set the uow's output (sl_uow_set_output*).
 *  @returns As sl_pipeline_filter(). */
SL_EXPORT int sl_pipeline_map(sl_pipeline_t *p, sl_stage_fn fn, void *opaque);

/**
 * @brief Append a flat-map: @p fn emits any number of new uows with sl_emit();
 *        they replace the input uow downstream. Emitting none is a skip.
 * @returns As sl_pipeline_filter().
 */
SL_EXPORT int sl_pipeline_flat_map(sl_pipeline_t *p, sl_flat_map_fn fn, void *opaque);

/** @brief Append a tap: @p fn observes; SL_OK and SL_SKIP both pass the uow on unchanged.
 *  @returns As sl_pipeline_filter(). */
SL_EXPORT int sl_pipeline_tap(sl_pipeline_t *p, sl_stage_fn fn, void *opaque);

/**
 * @brief Append a token-bucket rate limit: at most @p per_second uows pass on
 *        average, bursts up to @p burst. Excess uows wait in order.
 * @returns SL_ERANGE when @p per_second <= 0 (or NaN) or @p burst == 0, else
 *          as sl_pipeline_filter().
 */
SL_EXPORT int sl_pipeline_rate_limit(sl_pipeline_t *p, double per_second, unsigned burst);

/**
 * @brief End the per-uow stages with a batch collector. At most one collector
 *        per pipeline; without one, each uow reaches the sink alone.
 * @param opts copied; NULL takes the configured defaults.
 * @returns As sl_pipeline_filter() (SL_ESTATE also when a collector is
 *          already set); SL_ERANGE when opts->linger_ms is below -1.
 */
SL_EXPORT int sl_pipeline_batch(sl_pipeline_t *p, const sl_batch_opts_t *opts);

/**
 * @brief Like sl_pipeline_batch(), but when a batch closes only the newest uow
 *        of each key reaches the sink; the older ones are done ("compacted").
 * @returns As sl_pipeline_batch().
 */
SL_EXPORT int sl_pipeline_compact(sl_pipeline_t *p, const sl_batch_opts_t *opts);

/**
 * @brief Like sl_pipeline_batch(), but when a batch closes the sink is called
 *        once per key, with that key's uows in order (streaming: batches still
 *        close on count, bytes and linger, never at the end of input).
 * @returns As sl_pipeline_batch().
 */
SL_EXPORT int sl_pipeline_group(sl_pipeline_t *p, const sl_batch_opts_t *opts);

/**
 * @brief Set the sink that ends the pipeline. Required before the pipeline
 *        is added to an engine; nothing may be appended after it.
 * @param sink borrowed: it must outlive every engine using this pipeline;
 *        one sink may serve several pipelines.
 * @returns 0; SL_EINVAL for a NULL @p sink (e.g. a sink constructor that
 *          failed); SL_ESTATE when a sink is already set or the pipeline
 *          was added to an engine. Never SL_ENOMEM.
 */
SL_EXPORT int sl_pipeline_sink(sl_pipeline_t *p, sl_sink_t *sink);

/** Which uows of a partition a pipeline lets run at the same time. */
typedef enum sl_order_e {
    /** The sink's order (the default): the engine runs a partition's uows
     *  concurrently and writes them in partition order; the sink must
     *  acknowledge each key's uows in write order (see sl_uow_ack()), as a
     *  Kafka producer or a batch call does. */
    SL_ORDER_SINK = 0,
    /** One uow of a partition at a time, from its first stage to its
     *  acknowledgement: uows complete in offset order whatever the sink. */
    SL_ORDER_PARTITION = 1,
    /** One uow per key at a time (the record's key, or an emitted child's
     *  key): each key's uows complete in offset order, different keys run
     *  concurrently, with a sink that acknowledges in any order. */
    SL_ORDER_KEY = 2,
    /** No order: every uow runs and is acknowledged independently, a retry
     *  holds back nothing. */
    SL_ORDER_UNORDERED = 3
} sl_order_t;

/**
 * @brief Set how the pipeline orders the uows of one partition (see
 *        sl_order_t); without this call, the pipeline.ordering property
 *        decides when the engine starts.
 *
 * In every mode the committed watermark stays exact: it never passes a
 * record with a uow not yet done. The number of uows in flight per partition
 * is bounded by inflight.partition.max.records (its partition pauses there),
 * which is also the most keys a partition can have in flight in key mode.
 * In partition and key modes a uow waiting for its turn sits before its
 * first stage, and a batch collector only ever sees the uows whose turn it
 * is: such a pipeline is meant for a sink that writes each uow alone (no
 * collector) and acknowledges later, e.g. an asynchronous call per event.
 * @returns 0, SL_EINVAL for a NULL @p p or an unknown @p order, SL_ESTATE once
 *          the pipeline is added to an engine. Not thread-safe.
 */
SL_EXPORT int sl_pipeline_ordering(sl_pipeline_t *p, sl_order_t order);

/**
 * @brief Name the stage appended last, so that a fault says which one it
 *        was (fault tag `stageName`, header `sluice.fault.stage.name`): two
 *        maps of one pipeline are then told apart beyond their index.
 * @param name copied; replaces an earlier name of the same stage.
 * @returns 0; SL_EINVAL if @p p or @p name is NULL or @p name is empty;
 *          SL_ESTATE when no stage was appended yet or the pipeline was
 *          added to an engine; SL_ENOMEM.
 * @remark Names the last of filter, filter-types, map, flat-map, tap and
 *         rate-limit; the collector and sink are named by their kind.
 */
SL_EXPORT int sl_pipeline_stage_name(sl_pipeline_t *p, const char *name);

/* ---- what a pipeline consumes and produces ---------------------------- */

/**
 * @brief Declare an event type the pipeline consumes from the processor's
 *        source, with its JSON Schema: the processor's description
 *        (sl_processor_describe()) lists it as a message of the source
 *        channel, and sl_pipeline_filter_consumed() can make the same
 *        declaration the pipeline's type filter.
 * @param type the event type (the envelope's `type`), copied; NULL = any
 *        type (then the schema describes them all).
 * @param schema_json a JSON Schema document as text, parsed and kept; NULL =
 *        the generic event envelope (sl_schema("event")). A schema in a
 *        file is read by the caller (the core does no I/O); sl_schema()
 *        gives the ones sluice ships (schemas/).
 * @returns 0; SL_EINVAL for a NULL @p p, an empty @p type, or a schema
 *          that is not a JSON object; SL_ESTATE once the pipeline is added;
 *          SL_ENOMEM. sl_pipeline_error() says why. Declaring does not
 *          filter: a pipeline without a type filter still sees every type.
 * @remark Not thread-safe for the same @p p.
 */
SL_EXPORT int sl_pipeline_consumes(sl_pipeline_t *p, const char *type, const char *schema_json);

/**
 * @brief Declare an event type the pipeline writes to its sink (the sink's
 *        channel in the description), with its JSON Schema.
 * @returns As sl_pipeline_consumes().
 */
SL_EXPORT int sl_pipeline_produces(sl_pipeline_t *p, const char *type, const char *schema_json);

/**
 * @brief Append a type filter (sl_pipeline_filter_types(), exact match)
 *        on the types declared with sl_pipeline_consumes() so far: one
 *        declaration serves the description and the filter.
 *
 * Explicit rather than implied by the declarations, so that declaring
 * types never changes what an existing pipeline processes.
 * @returns As sl_pipeline_filter_types(); SL_EINVAL also when no type is
 *          declared or one declaration is for any type (NULL), with a
 *          message in sl_pipeline_error().
 */
SL_EXPORT int sl_pipeline_filter_consumed(sl_pipeline_t *p);

/**
 * @brief A JSON Schema sluice ships (the files of schemas/, built into the
 *        library): "event" (the domain event envelope), "fault",
 *        "thing-event", "dynamodb-stream-record", "debezium-envelope".
 * @returns Static JSON text, or NULL for an unknown @p name. Thread-safe.
 */
SL_EXPORT const char *sl_schema(const char *name);

/** @brief The pipeline's name, owned by the pipeline. */
SL_EXPORT const char *sl_pipeline_name(const sl_pipeline_t *p);

/* ---- sinks ---------------------------------------------------------- */

/** What a sink implements. */
typedef struct sl_sink_ops_s {
    const char *name; /**< for fault tags and logs; static storage */
    /**
     * Write @p n uows, in order. The array is valid only during the call; the
     * uows stay valid until acknowledged. Every uow must be acknowledged
     * exactly once with sl_uow_ack(), during the call or later on the
     * engine's thread. Return 0, or a negative error when nothing was
     * accepted: then the call acknowledges nothing and every uow of the call
     * is treated as acknowledged with that error.
     */
    int (*write)(void *opaque, sl_uow_t *const *uows, size_t n);
    /** Called by sl_sink_destroy(); may be NULL. */
    void (*destroy)(void *opaque);
    size_t max_events;       /**< hard limit of uows per write; 0 = none */
    size_t max_bytes;        /**< hard limit of output bytes per write; 0 = none */
    size_t max_record_bytes; /**< a single uow above this becomes a fault; 0 = none. As the
                                  fault sink: fault events are trimmed to fit this and
                                  max_bytes (see schemas/fault.json, uow.truncated) */
} sl_sink_ops_t;

/**
 * @brief Wrap sink operations in a sink handle.
 * @param ops copied. @param opaque passed to every op; released by ops->destroy.
 * @returns A sink owned by the caller (sl_sink_destroy()), or NULL when out of
 *          memory or ops->write is NULL (then ops->destroy is not called).
 */
SL_EXPORT sl_sink_t *sl_sink_new(const sl_sink_ops_t *ops, void *opaque);

/** @brief Destroy a sink (calls ops->destroy); NULL is accepted. No engine may still use it. */
SL_EXPORT void sl_sink_destroy(sl_sink_t *sink);

/* ---- units of work -------------------------------------------------- */
/* All uow calls run on the engine's thread. Pointers returned are borrowed
 * from the uow and valid until it is acknowledged or its stage returns. */

/** @brief The record this uow came from (borrowed from the source). */
SL_EXPORT const sl_record_t *sl_uow_record(const sl_uow_t *uow);

/** @brief The envelope read by the scanner (spans into the record). */
SL_EXPORT const sl_envelope_t *sl_uow_envelope(const sl_uow_t *uow);

/** @brief The event type, unescaped. */
SL_EXPORT sl_span_t sl_uow_type(const sl_uow_t *uow);

/** @brief The ordering key: the event's partitionKey, else the record key, else empty. */
SL_EXPORT sl_span_t sl_uow_key(const sl_uow_t *uow);

/** @brief Name of the pipeline the uow is in, or "-" for a decode fault. */
SL_EXPORT const char *sl_uow_pipeline(const sl_uow_t *uow);

/** @brief How many times the current stage has been retried for this uow. */
SL_EXPORT unsigned sl_uow_attempts(const sl_uow_t *uow);

/**
 * @brief The event body: the whole event, i.e. the record's value parsed as
 *        JSON (envelope fields such as "type", "id" and "timestamp" included,
 *        not only the entity), with the reason when there is none.
 *
 * Parsed once, on the first call from any pipeline, and shared by every
 * pipeline of the record. In CloudEvents binary mode the envelope is in the
 * ce_* headers and the body is the value alone (the event's data).
 * @param body set to the tree on success, to NULL on error. The tree is
 *        borrowed from the uow: do not modify or decref it (json_deep_copy()
 *        to change it); valid until the uow's stage returns.
 * @returns 0; SL_ENOMEM when out of memory (transient: return SL_RETRY);
 *          SL_EJSON when the value is not JSON, which no retry changes (a
 *          CloudEvents binary-mode record whose content type is not JSON, an
 *          empty value, a record pushed with sl_engine_push_decoded() whose
 *          value does not parse): return SL_FAULT; SL_EINVAL when @p uow or
 *          @p body is NULL.
 * @remark Engine thread only, like every uow call.
 */
SL_EXPORT int sl_uow_body_get(sl_uow_t *uow, json_t **body);

/**
 * @brief The event body (the whole event, see sl_uow_body_get()), or NULL.
 * @returns A borrowed tree as sl_uow_body_get() sets it; NULL both when out
 *          of memory and when the value is not JSON: call sl_uow_body_get()
 *          to tell the two apart (retry one, fault the other).
 */
SL_EXPORT json_t *sl_uow_body(sl_uow_t *uow);

/**
 * @brief Set the output event to a copy of @p key and @p value.
 * @param key may be NULL to keep the input ordering key as output key.
 *        @p key and @p value may point anywhere, sl_uow_key() and the spans of
 *        sl_uow_output() of this uow included; the ordering key is never
 *        changed by a new output.
 * @returns 0, SL_ENOMEM (the previous output stays).
 * @remark The uow's buffer is reused across uows: no allocation in steady state.
 */
SL_EXPORT int sl_uow_set_output(sl_uow_t *uow, const void *key, size_t key_len, const void *value,
                                size_t value_len);

/**
 * @brief Set the output event to @p value serialized compactly straight into
 *        the uow's reusable buffer.
 *
 * The bytes are those of json_dumpb(value, JSON_COMPACT | JSON_ENCODE_ANY)
 * (member order, separators, escapes), except numbers: a real is written in
 * the shortest form that reads back to the same double (80.22 stays 80.22,
 * 0.1 stays 0.1, 1e21 is 1e21, -0.0 is -0.0), always with a '.' or an
 * exponent so that readers keep it a real (1.0, not 1); an integer is
 * written exactly (9007199254740993 stays so). jansson trees hold no NaN
 * or infinity (json_real() refuses them), so the output is always JSON.
 * @param value borrowed. @param key as in sl_uow_set_output(), and may
 *        likewise point into this uow's current output.
 * @returns 0, SL_ENOMEM, SL_EINVAL if @p value is NULL or cannot be encoded
 *          (a string that is not UTF-8, nesting deeper than 2048, a cycle).
 *          On an error the uow's previous output is not kept: set one again,
 *          or fail the uow.
 */
SL_EXPORT int sl_uow_set_output_json(sl_uow_t *uow, const void *key, size_t key_len,
                                     const json_t *value);

/**
 * @brief The output event: what sl_uow_set_output*() set, else the input
 *        record's key and value (pass-through).
 */
SL_EXPORT void sl_uow_output(const sl_uow_t *uow, sl_span_t *key, sl_span_t *value);

/**
 * @brief Set the headers written with the uow's output, replacing any set
 *        before (a Kafka sink writes them as record headers; a sink without
 *        headers, such as Kinesis, ignores them). Without this call a uow's
 *        output has no headers: the input record's are not passed on.
 * @param headers @p count headers, copied (names and values); a header's
 *        value may be NULL with value_len 0. @p count 0 clears them.
 * @returns 0; SL_EINVAL if @p uow is NULL, @p headers is NULL with a
 *          non-zero @p count, or a header has no name; SL_ENOMEM (the
 *          previous headers stay).
 * @remark The copy counts against inflight.max.bytes until the uow is done.
 */
SL_EXPORT int sl_uow_set_output_headers(sl_uow_t *uow, const sl_header_t *headers, size_t count);

/**
 * @brief The headers of the uow's output (sl_uow_set_output_headers(), or
 *        the `sluice.fault.*` headers of a fault event).
 * @param count receives how many (0 when none).
 * @returns An array borrowed from the uow, valid until it is acknowledged or
 *          its output headers change; NULL when there are none.
 */
SL_EXPORT const sl_header_t *sl_uow_output_headers(const sl_uow_t *uow, size_t *count);

/**
 * @brief Record why a stage is about to return SL_RETRY or SL_FAULT.
 * @param err a negative sluice error code (SL_ESTAGE if unsure).
 * @param message copied (truncated to 200 bytes); may be NULL.
 * @remark Ignored on a fault event being written to the fault sink: the
 *         fault keeps the error it reports (the fault sink's own reason for
 *         refusing it goes to its acknowledgement).
 */
SL_EXPORT void sl_uow_fail(sl_uow_t *uow, int err, const char *message);

/**
 * @brief Attach user data to the uow for later stages or the sink.
 * @param free_fn called with @p data when the uow is done or replaced; may be NULL.
 */
SL_EXPORT void sl_uow_set_data(sl_uow_t *uow, void *data, void (*free_fn)(void *));

/** @brief The user data set by sl_uow_set_data(), or NULL. */
SL_EXPORT void *sl_uow_data(const sl_uow_t *uow);

/**
 * @brief Acknowledge a uow written to a sink: 0 when durably written, a
 *        retriable error to retry it (with backoff, its key held), a
 *        permanent one to turn it into a fault.
 *
 * Per-key order (SL_ORDER_SINK, the default): acknowledge the uows of one
 * key in the order they were written (a Kafka partition's delivery reports,
 * a batch call's results in array order). In SL_ORDER_PARTITION and
 * SL_ORDER_KEY a sink may acknowledge in any order: the engine has at most
 * one uow per partition or per key at the sink; in SL_ORDER_UNORDERED any
 * order is accepted as it comes. A success that arrives after an earlier uow of the same key
 * failed and went to retry has overtaken it at the destination: the engine
 * writes it again behind the earlier one (a duplicate, never a reordering of
 * the last copies), without counting it against retry.max.
 * @remark Exactly once per write; on the engine's thread. Safe to call from
 *         inside the sink's write callback.
 */
SL_EXPORT void sl_uow_ack(sl_uow_t *uow, int err);

/**
 * @brief From a flat-map function: emit one new uow with a copy of @p key
 *        and @p value as its output.
 * @param key may be NULL: the child keeps the input uow's key. Else @p key
 *        (copied) is the child's ordering key as well as its output key.
 * @remark Each child counts against inflight.max.records, and its buffers
 *         against inflight.max.bytes, until it is done.
 * @returns 0, SL_ENOMEM (then return SL_RETRY), SL_EINVAL.
 */
SL_EXPORT int sl_emit(sl_emitter_t *em, const void *key, size_t key_len, const void *value,
                      size_t value_len);

#ifdef __cplusplus
}
#endif
#endif
