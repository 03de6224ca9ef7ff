/* sluice — what connectors need from the runtime (private). */
#ifndef SL_RUNTIME_RUNTIME_H
#define SL_RUNTIME_RUNTIME_H

#include <uv.h>

#include <stdarg.h>

#include "core/util.h"
#include "sluice/error.h"
#include "sluice/processor.h"

/* The body of a /metrics response (Prometheus text format), written by the
 * runtime and by the connectors' metrics callbacks (lib/runtime/ops.c). */
typedef struct sl__buf_s sl__metrics_t;
/* "# HELP" and "# TYPE" of family @p name (@p type: "counter", "gauge"). */
void sl__metric_help(sl__metrics_t *m, const char *name, const char *type, const char *help);
/* One sample of @p name: then label name and value pairs (the values are
 * escaped), ended by NULL. */
void sl__metric_u(sl__metrics_t *m, const char *name, uint64_t v, ...);
void sl__metric_i(sl__metrics_t *m, const char *name, int64_t v, ...);
void sl__metric_d(sl__metrics_t *m, const char *name, double v, ...);

/* A source plugged into a processor. Every callback runs on the loop thread. */
typedef struct sl__source_if_s {
    const char *name;
    /* The loop is ready: subscribe and start fetching. Returns 0 or an error. */
    int (*start)(void *opaque);
    /* Stop fetching: a drain has begun. */
    void (*stop)(void *opaque);
    /* Commit done watermarks; sync waits for the broker, at most
     * sl__proc_close_left_ms() (it is the final commit after a drain). */
    void (*commit)(void *opaque, int sync);
    /* The drain is over (or timed out): leave, close handles; within
     * sl__proc_close_left_ms(). */
    void (*close)(void *opaque);
    /* After the engine is gone: free everything. */
    void (*destroy)(void *opaque);
    /* The engine's record release and flow callbacks. */
    void (*release)(void *opaque, const sl_record_t *rec, int done);
    void (*flow)(void *opaque, const char *topic, int32_t partition, int pause);
    /* Optional, for /ready: 1 while the source holds partitions (shards) and
     * reaches its brokers (endpoint); else 0 with what is missing in @p why. */
    int (*ready)(void *opaque, char *why, size_t why_size);
    /* Optional, for /metrics: the source's own families (lag, assignment). */
    void (*metrics)(void *opaque, sl__metrics_t *m);
} sl__source_if_t;

/* Something that must be polled to make progress during a synchronous drain
 * (a producer serving delivery reports), owned by the processor. */
typedef struct sl__service_s {
    void (*poll)(void *opaque, int timeout_ms);
    /* Stop accepting writes and give back everything in flight (with errors). */
    void (*shutdown)(void *opaque);
    /* Close loop handles (the loop is still running). */
    void (*close)(void *opaque);
    /* Free (after the engine is gone). */
    void (*destroy)(void *opaque);
    void *opaque;
    /* Optional, for /ready: 1 while it reaches what it writes to; else 0
     * with what is missing in @p why. */
    int (*ready)(void *opaque, char *why, size_t why_size);
} sl__service_t;

int sl__proc_set_source(sl_processor_t *p, const sl__source_if_t *ifc, void *opaque);
/* The opaque of the processor's source if it is of kind @p name, else NULL
 * (for a connector's internal accessors used by tests). */
void *sl__proc_source(const sl_processor_t *p, const char *name);
/* The operations and opaque @p sink was made with (for a connector's
 * internal accessors used by tests). */
const sl_sink_ops_t *sl__sink_ops(const sl_sink_t *sink, void **opaque);
int sl__proc_add_service(sl_processor_t *p, const sl__service_t *svc);
/* Keep @p sink alive as long as the processor (destroyed after the engine). */
int sl__proc_own_sink(sl_processor_t *p, sl_sink_t *sink);
/* Named objects a connector keeps per processor (e.g. an embedded broker
 * shared by its clients); destroyed last, after sources and services. */
int sl__proc_attach(sl_processor_t *p, const char *key, void *obj, void (*destroy)(void *));
void *sl__proc_attached(const sl_processor_t *p, const char *key);
uv_loop_t *sl__proc_loop(sl_processor_t *p);
sl_engine_t *sl__proc_engine(sl_processor_t *p);
int sl__proc_draining(const sl_processor_t *p);
/* What is left, in ms, of close.timeout.ms for the final commit and the
 * source's close after a drain (the whole of it before a drain has ended):
 * a source never blocks longer than this there. */
int sl__proc_close_left_ms(const sl_processor_t *p);

/* Whether the operations endpoint is on (http.listen set): connectors then
 * keep what /ready and /metrics need (e.g. librdkafka's statistics). */
int sl__proc_http_on(const sl_processor_t *p);
/* The port the operations endpoint listens on (0: off, or not listening
 * yet). Thread-safe: a test may wait for it from another thread. */
int sl__proc_http_port(const sl_processor_t *p);
/* Call after doing work on the loop outside the runtime's own callbacks:
 * fires due engine timers, re-arms the engine timer, advances a drain. */
void sl__proc_after(sl_processor_t *p);
/* Synchronous progress for a bounded wait (e.g. a revoke): polls every
 * service for up to @p timeout_ms, completes executor jobs whose work is
 * over (the loop cannot run meanwhile) and ticks the engine. */
void sl__proc_pump(sl_processor_t *p, int timeout_ms);

/* Something the processor cannot do without is broken (a sink, the
 * consumer): logs @p fmt at error level once, stops intake and drains what
 * can still complete, commits only what is done, and makes
 * sl_processor_run() return @p err. Loop thread only; safe inside
 * callbacks (the drain starts on the next loop turn). */
void sl__proc_fail(sl_processor_t *p, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* lib/runtime/describe.c: whether @p p is only to be described
 * (sl_processor_describe_only()): a connector then creates no client. */
int sl__proc_describe_only(const sl_processor_t *p);
/* Records where @p p reads from for its description: @p protocol, the
 * @p addresses (a comma list of topics, or a stream) and @p servers (a
 * comma list of host:port, or an endpoint URL); copied. 0 or SL_ENOMEM. */
int sl__proc_describe_source(sl_processor_t *p, const char *protocol, const char *addresses,
                             const char *servers);

/* A sink of a describe-only processor for the channel @p address (see
 * sl__sink_set_channel()), owned by @p p; it never writes. NULL with a
 * message when out of memory. */
sl_sink_t *sl__proc_channel_sink(sl_processor_t *p, const char *protocol, const char *address,
                                 const char *servers, char *errstr, size_t errstr_size);

/* JSON log lines on stderr. level: "debug", "info", "warn", "error". */
void sl__log(const sl_processor_t *p, const char *level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* lib/runtime/log.c: the line itself, for a processor named @p name (NULL:
 * "sluice") that logs @p level and above (sl__log_level()). */
void sl__vlog(const char *name, int min_level, const char *level, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 0)))
#endif
    ;
/* "debug" 0, "info" 1, "warn" 2, anything else 3. */
int sl__log_level(const char *level);

/* What a connector's sink write answers before it writes anything:
 * SL_ESHUTDOWN once the sink is closed, SL_ESINKDOWN while it is down (each
 * uow stays undone: it is read again by the next run), else 0. */
static inline int sl__sink_refusal(int closed, int down)
{
    return closed ? SL_ESHUTDOWN : down ? SL_ESINKDOWN : 0;
}

/* A connector's sink: sl_sink_new(@p ops, @p opaque), kept alive by @p p
 * (sl__proc_own_sink). NULL with "out of memory" in @p errstr on failure;
 * @p opaque stays the caller's (its service's) either way. */
static inline sl_sink_t *sl__proc_sink_new(sl_processor_t *p, const sl_sink_ops_t *ops,
                                           void *opaque, char *errstr, size_t errstr_size)
{
    sl_sink_t *sink = sl_sink_new(ops, opaque);
    if (!sink || sl__proc_own_sink(p, sink)) {
        sl_sink_destroy(sink);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return sink;
}

#endif
