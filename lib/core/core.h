/* sluice — private structures shared by the core's .c files. */
#ifndef SL_CORE_CORE_H
#define SL_CORE_CORE_H

#include "core/scan_int.h"
#include "core/timer.h"
#include "core/tracker.h"
#include "sluice/engine.h"
#include "sluice/pipeline.h"

#include <stddef.h>
#include <stdint.h>

#define SL__ERRMSG_MAX 200

typedef enum {
    ST_FILTER,
    ST_TYPES,
    ST_MAP,
    ST_FLAT_MAP,
    ST_TAP,
    ST_RATE_LIMIT,
} stage_kind_t;

typedef enum { COLL_BATCH, COLL_COMPACT, COLL_GROUP } coll_kind_t;

/* Where a uow is. */
typedef enum {
    U_FREE,
    U_RUNNING,   /* in a synchronous stage run */
    U_HELD,      /* queued behind the holder of its key */
    U_RATE_WAIT, /* queued in a rate limiter */
    U_IN_BATCH,  /* in an open collector */
    U_AT_SINK,   /* written, waiting for its ack */
    U_RETRY_WAIT,
    U_FAULT_WAIT, /* fault event building or writing must be retried */
    U_AT_FAULT_SINK,
} uow_state_t;

typedef struct entry_s entry_t;

struct sl_uow_s {
    entry_t *entry;
    sl_pipeline_t *pl; /* NULL for a decode fault */
    sl_uow_t *next;    /* intrusive queue link (gate, rate limit, completions) */
    sl__timer_t timer; /* retry / fault retry */
    uint64_t ord;      /* order of arrival: (entry seq << 16) | child index */
    uint32_t stage;    /* next stage to run; nstages = the collector */
    uint16_t attempts;
    uint8_t state; /* uow_state_t */
    uint8_t is_child;
    uint8_t has_output;
    uint8_t holding;     /* this uow holds its key in the pipeline's gate */
    uint8_t fault_stage; /* stage kind name index for the fault tags */
    uint8_t queued;      /* on the engine's completion queue */
    uint8_t fault_min;   /* its fault is minimal: 1 with some value bytes, 2 with none */
    /* The first of its batch, not yet acknowledged as sunk: sink_at holds
     * the low 32 bits of the engine clock when the batch was written (sink
     * latency, in the histogram when it is acknowledged). Both sit in what
     * was padding between fields uow_init resets anyway: the latency stamp
     * adds no byte to the uow (its size sets how many cache lines a record
     * touches) and no cache line to its reset. */
    uint8_t sink_first;
    uint32_t fault_index; /* index of the stage that faulted (nstages: collector or sink) */
    uint32_t sink_at;
    int64_t first_fail_ms; /* engine clock: first failure (retry or fault) of this uow;
                              INT64_MIN = none */
    int64_t last_fail_ms;  /* engine clock: the failure that made it a fault */
    /* output headers (sl_uow_set_output_headers(), or a fault's sluice.fault.*):
     * the array, then the names and values it points to, in one buffer */
    sl_header_t *out_hdrs;
    size_t out_nhdrs, hbuf_cap;
    int pending_err;  /* ack error waiting on the completion queue */
    size_t fault_cap; /* bound of its fault event after the fault sink refused a
                         larger one as too large; 0 = none */
    sl_span_t key;    /* ordering key; stable while in flight */
    /* output: key bytes then value bytes in buf */
    char *buf;
    size_t buf_cap;
    /* a child's own copy of its ordering key, apart from the output so that
     * a new output never moves or changes it */
    char *kbuf;
    size_t kbuf_cap;
    size_t out_key_len, out_val_len;
    int out_key_set;
    int err;
    char errmsg[SL__ERRMSG_MAX + 1];
    void *data;
    void (*data_free)(void *);
    /* gate: uows of the same key waiting behind this holder, in order */
    sl_uow_t *wait_head, *wait_tail;
    sl_uow_t *hnext;    /* holder hash chain */
    sl_uow_t *all_next; /* children: every allocated child, for destroy */
};

struct entry_s {
    sl_engine_t *eng;
    const sl_record_t *rec;
    struct part_s *part;
    uint64_t tseq; /* tracker sequence */
    uint64_t seq;  /* engine-wide arrival sequence */
    sl_envelope_t env;
    int decoded; /* envelope valid */
    /* The engine's scanner held the value to jansson's verdict (source.format
     * json, an envelope scan, a binary-mode value of a JSON content type):
     * a stage may walk it without validating it again. 0 for a value pushed
     * with sl_engine_push_decoded(), never scanned. */
    int value_json;
    json_t *body;
    int body_tried;
    uint32_t pending; /* uows not yet done */
    size_t bytes;     /* counted in the engine's inflight_bytes: value + uow buffers */
    uint32_t children;
    int in_use;
    int stuck; /* a uow of it was acknowledged with SL_ESINKDOWN */
    entry_t *next_free;
    char *scratch; /* unescaped type and key when they hold escapes */
    size_t scratch_cap;
    sl_span_t type_u, key_u;
    sl__scan_hits_t hits; /* the engine's pointers, found by the envelope scan */
    sl_uow_t uows[];      /* one per pipeline */
};

typedef struct stage_s {
    stage_kind_t kind;
    char *name; /* given with sl_pipeline_stage_name(), or NULL */
    union {
        struct {
            sl_stage_fn fn;
            sl_flat_map_fn flat;
            void *opaque;
            struct sl__json_check_s *check; /* a map's stand-in validator, or NULL */
        } f;
        struct {
            sl_match_t match;
            char **names;
            size_t *lens;
            size_t count;
        } types;
        struct {
            double rate, tokens;
            unsigned burst;
            int64_t last_ms;
            sl_uow_t *head, *tail;
            sl__timer_t timer;
            struct sl_pipeline_s *pl;
        } rl;
    } u;
} stage_t;

/* Operations counters (engine_ops.c reads them for the runtime's /metrics):
 * plain increments on the engine's thread, per batch or per fault, never
 * per record. */
enum { SL__CLOSE_FLUSH, SL__CLOSE_COUNT, SL__CLOSE_BYTES, SL__CLOSE_LINGER, SL__CLOSE_N };
#define SL__BATCH_BUCKETS 10 /* batch sizes: le 1, 5, 10, 50, 100, 500, 1000, 5000, 10000, +Inf */
#define SL__LAT_BUCKETS                                                                            \
    12 /* sink latency ms: le 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000, +Inf */
#define SL__ERR_SLOTS 64 /* by -error code; slot 0: anything out of range */
typedef struct sl__pl_ops_s {
    uint64_t closed[SL__CLOSE_N];
    uint64_t batch_hist[SL__BATCH_BUCKETS]; /* per bucket, not cumulative */
    uint64_t batch_sum;
    uint64_t lat_hist[SL__LAT_BUCKETS];
    uint64_t lat_sum_ms, lat_count;
    uint64_t faults_by_err[SL__ERR_SLOTS];
} sl__pl_ops_t;

static inline unsigned sl__err_slot(int err)
{
    return err < 0 && err > -SL__ERR_SLOTS ? (unsigned)-err : 0;
}

typedef struct coll_s {
    coll_kind_t kind;
    int configured;
    sl_batch_opts_t opts;
    /* effective bounds, set at start */
    size_t max_events, max_bytes, max_record;
    int64_t linger;
    sl_uow_t **items, **out;
    size_t n, bytes;
    sl__timer_t timer;
    /* compact/group: open-addressed key table with generations */
    uint32_t *slot_gen, *slot_idx;
    uint32_t gen, tmask;
    uint32_t *gid, *gcount; /* group id per item, items per group */
    sl_uow_t **sorted;
    struct sl_pipeline_s *pl;
    uint8_t why; /* SL__CLOSE_*: why the next flush closes the batch */
} coll_t;

struct sl_sink_s {
    sl_sink_ops_t ops;
    void *opaque;
    /* the channel it writes to, for a processor's description
     * (core/describe.h: sl__sink_set_channel); NULL = not a channel */
    char *ch_protocol, *ch_address, *ch_servers;
};

struct sl_pipeline_s {
    char *name;
    stage_t *stages;
    size_t nstages, cap;
    coll_t coll;
    sl_sink_t *sink;
    struct sl__hook_s {
        void (*fn)(void *);
        void *opaque;
    } * hooks; /* on_destroy hooks, called last registered first */
    size_t nhooks;
    /* the event types it consumes and produces (core/describe.h) */
    struct sl__decl_s *decls;
    size_t ndecls;
    /* Why the last failed builder or add call on this pipeline failed
     * (sl_pipeline_error()); "" while none has. */
    char err[256];
    /* runtime */
    sl_engine_t *eng;
    size_t index;
    uint8_t order;     /* sl_order_t */
    uint8_t order_set; /* by sl_pipeline_ordering(), else pipeline.ordering at start */
    sl_uow_t **held;   /* hash buckets of key holders */
    uint32_t hmask;
    size_t nheld;
    sl_stats_t stats;
    sl__pl_ops_t ops;
    /* pointers its stages read, for the envelope scan to find on its way
     * (sl__pipeline_want_ptr()); want_slot: each one's index in the engine's
     * registry, -1 when the registry was full */
    sl__scan_ptr_t want[SL__SCAN_PTRS];
    int8_t want_slot[SL__SCAN_PTRS];
    size_t nwant;
};

typedef struct part_s {
    /* Its own address: the bytes a partition-ordered pipeline's key gate
     * compares (one holder per partition). */
    const struct part_s *self;
    char *topic;
    int32_t partition;
    sl__tracker_t tr;
    size_t inflight;
    int paused;
    /* Records done on arrival (no pipeline wanted them): with the tracker's
     * pushes (tr.tail, kept anyway) the records pushed, for /metrics. */
    uint64_t in_skipped;
    struct part_s *next;
} part_t;

struct sl_engine_s {
    sl_conf_t *conf;
    const char *name;
    sl_clock_t clock;
    sl_source_ops_t src;
    void *src_opaque;
    sl_sink_t *fault_sink;
    const char *group; /* consumer group or Kinesis application for fault tags, or NULL */
    sl_pipeline_t **pls;
    size_t npl;
    /* the pointers the pipelines' stages read (their want), found by the
     * envelope scan of every record; tokens borrowed from the pipelines */
    sl__scan_ptrs_t ptrs;
    int started;
    int skip_fast; /* every pipeline starts with a type filter */
    /* settings */
    size_t record_max, fault_value_max;
    size_t fault_max; /* a fault event (key and value) fits this; 0 = no bound */
    int json_only;    /* source.format=json: records are validated JSON, no envelope */
    /* with json_only: a stage's stand-in for sl_json_validate() (the first
     * offered by a map of the pipelines), or NULL */
    const struct sl__json_check_s *json_check;
    unsigned retry_max;
    int64_t backoff_base, backoff_max;
    size_t inflight_max, inflight_bytes_max, part_inflight_max;
    unsigned resume_pct;      /* inflight.resume.pct: the processor-wide pause */
    unsigned part_resume_pct; /* inflight.partition.resume.pct */
    uint64_t rng;
    /* pools */
    size_t entry_size;
    entry_t *free_entries;
    void **chunks;
    size_t nchunks, chunks_cap;
    sl_uow_t *free_children, *all_children;
    /* partitions */
    part_t **parts;
    uint32_t pmask;
    part_t *pcache[64]; /* direct-mapped by partition number */
    /* flow: records and flat-map children; bytes of values and of the
     * buffers their uows hold */
    size_t inflight, inflight_bytes;
    /* output buffers kept by idle uows for their next life, and the cap */
    size_t buf_pooled, buf_pool_max;
    int paused_all;
    int fault_blocked;
    size_t stuck; /* records held forever by a sink that is unusable */
    /* scheduling */
    sl__timers_t timers;
    int depth;
    sl_uow_t *cq_head, *cq_tail; /* deferred acks */
    uint64_t seq;
    int64_t first_in_ms; /* the engine's clock when the first record came in, 0 none */
    sl_executor_t exec;  /* blocking work; submit NULL = inline */
    sl_stats_t stats;
    uint64_t faults_by_err[SL__ERR_SLOTS]; /* fault events acknowledged, by -error */
};

/* Records in flight that will never be done: a sink acknowledged one of
 * their uows with SL_ESINKDOWN. The runtime ends a failing drain once they
 * are all that is left. */
size_t sl__engine_stuck(const sl_engine_t *e);

/* The engine's clock (CLOCK_MONOTONIC in ms unless sl_engine_set_clock())
 * when the first record was pushed; 0 when none was. Engine's thread. */
int64_t sl__engine_first_in_ms(const sl_engine_t *e);

/* A sink that writes a failed entry of a batch call again itself (the
 * Kinesis sink) counts it here: one retry of @p u (a uow at the sink), in
 * its attempts, its first failure time and the retries statistics, as the
 * engine's own retry would. Engine thread only. */
void sl__uow_sink_retry(sl_uow_t *u);

/* The engine's retry backoff (engine.c): capped full jitter from
 * retry.backoff.ms to retry.backoff.max.ms for retry @p attempt (1 the
 * first), at least 1 ms, from the engine's random.seed. For a sink that
 * retries itself (the Kinesis sink). Engine thread only. */
int64_t sl__backoff(sl_engine_t *e, unsigned attempt);

/* A sink about to acknowledge many uows (the Kafka sink's delivery reports)
 * warms what sl_uow_ack() will touch, one level per call so the loads do not
 * wait on each other: @p depth 0 the uow, 1 its entry (needs the uow in
 * cache to be useful), 2 the entry's record. Touches nothing else; no
 * effect on the engine's state. Engine thread only. */
void sl__uow_prefetch(const sl_uow_t *u, int depth);

/* fault.c. The version of schemas/fault.json the events follow (field
 * `version`; events without it are version 1). */
#define SL__FAULT_VERSION_S "2"

/* engine_ops.c: engine state for the runtime's /metrics (the engine's
 * thread only; reads, never changes anything). */
typedef struct sl__part_view_s {
    const char *topic;
    int32_t partition;
    uint64_t in;       /* records pushed */
    int64_t watermark; /* next offset to commit, -1: nothing done yet */
    size_t inflight;
    int paused;
} sl__part_view_t;
void sl__engine_each_part(const sl_engine_t *e, void (*fn)(void *arg, const sl__part_view_t *v),
                          void *arg);
/* The arrival sequence of the oldest record in flight (0: none), found by
 * a walk over the entry pool (once per scrape, never on the hot path);
 * and the sequence of the newest record. */
uint64_t sl__engine_oldest_seq(const sl_engine_t *e);
uint64_t sl__engine_seq(const sl_engine_t *e);
/* Histogram bounds of sl__pl_ops_t (batch sizes in uows, latency in ms). */
extern const uint64_t sl__batch_bounds[SL__BATCH_BUCKETS - 1];
extern const int64_t sl__lat_bounds_ms[SL__LAT_BUCKETS - 1];

/* fault.c */
int sl__fault_build(sl_engine_t *e, sl_uow_t *u);

/* engine_uow.c: replaces the uow's output headers with a copy of @p h
 * (@p n of them; n = 0 clears them). Returns 0 or SL_ENOMEM (the old
 * headers stay). */
int sl__uow_headers_set(sl_uow_t *u, const sl_header_t *h, size_t n);

/* engine_uow.c: whether the uow's record value was validated as JSON by the
 * engine's scanner (entry_t.value_json): 1 or 0. For internal stages (the
 * cdc flavor) that would otherwise validate it again; a user stage cannot
 * see it and nothing it outputs is trusted because of it. */
int sl__uow_value_is_json(const sl_uow_t *u);

/* A stage's stand-in for the engine's validation of a record's value when
 * source.format=json: fn(opaque, r, se) returns exactly what
 * sl_json_validate(r->value, r->value_len, se) returns for those bytes (its
 * verdict and its error), and may keep what it learnt on the way (the cdc
 * flavor keeps the event its walk wrote while proving the text JSON) for
 * its own stage's call on the same record, which runs next on the same
 * thread unless a stage before it holds the record. The stage must find out
 * that what it kept is for another record and then do its work as if
 * nothing were kept. Engine thread. */
typedef struct sl__json_check_s {
    int (*fn)(void *opaque, const sl_record_t *r, sl_scan_error_t *se);
    void *opaque;
} sl__json_check_t;

/* pipeline.c: sl_pipeline_map() whose stage offers @p check (borrowed: it
 * must live as long as the pipeline) to the engine. For internal stages (the
 * cdc flavor). Returns as sl_pipeline_map(). Not thread-safe (a builder). */
int sl__pipeline_map_checked(sl_pipeline_t *p, sl_stage_fn fn, void *opaque,
                             sl__json_check_t *check);

/* pipeline.c: asks the engine's envelope scan to find the JSON pointer of
 * @p ntok member names @p tok (unescaped, NUL-terminated, borrowed: they
 * must live as long as the pipeline) in every record it scans, so that a
 * stage need not walk the text again. For internal stages (the materialize
 * flavor), before the pipeline is added. Returns the pipeline's index for
 * sl__uow_ptr(), or -1 when the pointer cannot be found that way (no token,
 * more than SL__SCAN_PTR_TOKS, an array index among them, or the pipeline
 * already has SL__SCAN_PTRS): the stage walks the text itself. Not
 * thread-safe (a builder). */
int sl__pipeline_want_ptr(sl_pipeline_t *pl, const char *const *tok, size_t ntok);

/* engine_uow.c: the value at the pointer the uow's pipeline registered as
 * @p want (sl__pipeline_want_ptr()), as the engine's scan of the record
 * found it: 1 with *@p out its span in the record's value (a string with
 * its quotes), 0 when the pointer does not resolve, -1 when the scan cannot
 * tell (not scanned, an escaped name on the path, the engine's registry
 * full, @p want < 0): walk the text. Engine thread. */
int sl__uow_ptr(const sl_uow_t *u, int want, sl_span_t *out);

/* engine_uow.c: an internal stage writing its output in place, with no copy
 * and, once the uow's pooled buffer is large enough, no allocation.
 * sl__uow_output_lend() gives @p jw the uow's output buffer (empty) and
 * returns 1, or returns 0 when the uow already has an output (an earlier
 * stage's, which must stay whole should this stage fail): write elsewhere.
 * sl__uow_output_take() takes the buffer back, grown or not, and counts it
 * for the entry; with @p key_len <= jw->len the output becomes its first
 * @p key_len bytes (the key) and the rest (the value), else the uow keeps
 * no output. Between the two the uow's buffer is @p jw's alone. */
struct sl__jw_s;
int sl__uow_output_lend(sl_uow_t *u, struct sl__jw_s *jw);
void sl__uow_output_take(sl_uow_t *u, struct sl__jw_s *jw, size_t key_len);

/* The header that names the one pipeline a resubmitted record is for. */
#define SL__RESUBMIT_PIPELINE "sluice.resubmit.pipeline"

/* stage kind names for fault tags */
extern const char *const sl__stage_names[];

/* Leaves a message on @p p (sl_pipeline_error()) and returns @p rc, for the
 * builders and the add calls (engine, processor, test driver). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int sl__pipeline_fail(sl_pipeline_t *p, int rc, const char *fmt, ...);
enum {
    FS_DECODE = 0,
    FS_FILTER,
    FS_TYPES,
    FS_MAP,
    FS_FLAT_MAP,
    FS_TAP,
    FS_RATE_LIMIT,
    FS_BATCH,
    FS_SINK
};

uint64_t sl__hash(const void *p, size_t n);

#endif
