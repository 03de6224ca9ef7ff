/* sluice — benchmark of the in-memory hot paths.
 *
 * Three comparisons, each measured side by side in one run on the same
 * events (see bench/README.md):
 *   1. the batching path: filter -> map -> batch(500) -> sink over pre-decoded uows;
 *   2. the envelope scan against a jansson parse;
 *   3. push (scan) -> filter -> map (body + JSON output) -> batch against a
 *      jansson parse+dump of every event.
 * Only the public API is used, as a user's program would. Never run by
 * `meson test`: no timing is ever asserted, but any API failure or a count
 * that does not add up exits non-zero. */
#define BENCH_NAME "bench_batch"
#include "bench_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NPART 8          /* partitions the records are spread over */
#define NKEYS 1000       /* distinct partition keys */
#define NTYPES 4         /* event types; exactly one matches the filter */
#define EVENT_SIZE 327   /* target size of one event in bytes */
#define BATCH_EVENTS 500 /* batch(500), unless a sweep case sets g_batch */
#define TICK_EVERY 1024  /* pushes between sl_engine_tick() calls */
#define RING_MIN 4096    /* records in the ring, at least (covers an open batch) */
#define TOPIC "bench"
#define PIPELINE "bench"
#define FILTER_PREFIX "thing-"

/* The batch size of the next engine case (the size sweep changes it). */
static size_t g_batch = BATCH_EVENTS;

/* ---- errors ------------------------------------------------------------- */

/* ---- clocks, memory, rss -------------------------------------------------- */

/* jansson's allocator: its default (malloc/free) while timing, as a user's
 * program has it; routed through the counted sluice hook for counting passes.
 * Both end in malloc/free, so a tree may be freed under the other setting. */
static void jansson_counted(int on)
{
    if (on)
        sl_mem_use_for_jansson();
    else
        json_set_alloc_funcs(malloc, free);
}

static uint64_t mem_count(void)
{
    sl_mem_stats_t m;
    sl_mem_stats(&m);
    return m.allocs + m.reallocs;
}

/* ---- events and records --------------------------------------------------- */

typedef struct event_s {
    char *buf;
    size_t len;
    sl_envelope_t env; /* scanned once; spans into buf */
    int pass;          /* its type matches the filter */
} event_t;

typedef struct slot_s {
    sl_record_t rec; /* rec.opaque points back to the slot */
    const event_t *ev;
    int busy; /* pushed and not yet released */
} slot_t;

typedef struct bench_s {
    size_t nevents;
    event_t *ev;
    double avg_size;
    size_t npass;
    char keys[NKEYS][16];
    size_t nring;
    slot_t *ring;
    int64_t next_off[NPART];
    size_t forced_flushes;
    uint64_t checksum;
} bench_t;

static const char *const g_types[NTYPES] = {"thing-updated", "order-placed", "user-signed-up",
                                            "invoice-paid"};

static void make_events(bench_t *b)
{
    char tmp[2 * EVENT_SIZE];
    size_t total = 0;
    int perm[NTYPES] = {0, 1, 2, 3};

    for (size_t k = 0; k < NKEYS; k++)
        snprintf(b->keys[k], sizeof b->keys[k], "key-%04zu", k);
    b->ev = xcalloc(b->nevents, sizeof *b->ev);
    for (size_t i = 0; i < b->nevents; i++) {
        event_t *ev = &b->ev[i];
        if (i % NTYPES == 0) {
            /* a fresh permutation per block of 4: exactly 25% pass, in no fixed pattern */
            rng_shuffle(perm, NTYPES);
        }
        int type = perm[i % NTYPES];
        uint64_t r1 = rng(), r2 = rng(), r3 = rng();
        size_t key = (size_t)(r3 % NKEYS);
        size_t n =
            bench_event(tmp, sizeof tmp, EVENT_SIZE, i, g_types[type], b->keys[key], r1, r2, r3);
        ev->len = n;
        ev->buf = xcalloc(1, ev->len + 1);
        memcpy(ev->buf, tmp, ev->len);
        ev->pass = strncmp(g_types[type], FILTER_PREFIX, strlen(FILTER_PREFIX)) == 0;
        sl_scan_error_t se = {0, NULL};
        int rc = sl_envelope_scan(ev->buf, ev->len, &ev->env, &se);
        if (rc)
            die("sl_envelope_scan of event %zu failed: %s at byte %zu: %s", i, sl_err_name(rc),
                se.offset, se.reason ? se.reason : "?");
        json_error_t jerr;
        json_t *root = json_loadb(ev->buf, ev->len, 0, &jerr);
        if (!root)
            die("jansson rejects event %zu: %s", i, jerr.text);
        json_decref(root);
        total += ev->len;
        b->npass += (size_t)ev->pass;
    }
    b->avg_size = (double)total / (double)b->nevents;

    /* The ring of records: reused over and over, offsets set at each push. */
    b->nring = b->nevents > RING_MIN ? b->nevents : RING_MIN;
    b->ring = xcalloc(b->nring, sizeof *b->ring);
    for (size_t j = 0; j < b->nring; j++) {
        slot_t *s = &b->ring[j];
        s->ev = &b->ev[j % b->nevents];
        const char *key = s->ev->env.partition_key.ptr;
        size_t klen = s->ev->env.partition_key.len;
        s->rec.topic = TOPIC;
        s->rec.partition = (int32_t)(strtoul(key + 4, NULL, 10) % NPART); /* by key */
        s->rec.timestamp_ms = s->ev->env.timestamp;
        s->rec.key = key;
        s->rec.key_len = klen;
        s->rec.value = s->ev->buf;
        s->rec.value_len = s->ev->len;
        s->rec.opaque = s;
    }
}

/* ---- source and sinks ------------------------------------------------------ */

typedef struct counter_s {
    uint64_t uows, writes, bytes, sum;
} counter_t;

static void src_release(void *opaque, const sl_record_t *rec, int done)
{
    /* The ring is preallocated: only mark the slot reusable. */
    (void)opaque;
    (void)done;
    ((slot_t *)rec->opaque)->busy = 0;
}

static size_t g_pauses;

static void src_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    (void)opaque;
    (void)topic;
    (void)partition;
    g_pauses += (size_t)(pause != 0);
}

static int sink_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    counter_t *c = opaque;
    c->writes++;
    for (size_t i = 0; i < n; i++) {
        sl_span_t v;
        sl_uow_output(uows[i], NULL, &v);
        c->bytes += v.len;
        c->sum += v.len ? (unsigned char)v.ptr[v.len - 1] : 0;
        sl_uow_ack(uows[i], 0);
    }
    c->uows += n;
    return 0;
}

/* ---- stages ------------------------------------------------------------------ */

/* Case 1: a realistic small output (key + short value) written into the uow's buffer. */
static sl_result_t map_small(sl_uow_t *u, void *opaque)
{
    static const char value[] = "{\"seen\":true}";
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    int rc = sl_uow_set_output(u, k.ptr, k.len, value, sizeof value - 1);
    if (rc) {
        sl_uow_fail(u, rc, "sl_uow_set_output failed");
        return SL_FAULT;
    }
    return SL_OK;
}

/* The peers' pipeline (bench/peers): each kept event becomes
 * {"id","type","ts","key"}, here straight from the envelope (no tree). */
static sl_result_t map_peer(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_envelope_t *e = sl_uow_envelope(u);
    sl_span_t k = sl_uow_key(u);
    char out[256];
    int n = snprintf(out, sizeof out,
                     "{\"id\":\"%.*s\",\"type\":\"%.*s\",\"ts\":%lld,\"key\":\"%.*s\"}",
                     (int)e->id.len, e->id.ptr, (int)e->type.len, e->type.ptr,
                     (long long)e->timestamp, (int)k.len, k.ptr);
    if (n < 0 || (size_t)n >= sizeof out || sl_uow_set_output(u, k.ptr, k.len, out, (size_t)n)) {
        sl_uow_fail(u, SL_ESTAGE, "map_peer: cannot set the output");
        return SL_FAULT;
    }
    return SL_OK;
}

/* Case 3: the body tree (parsed on demand) encoded as the output event. */
static sl_result_t map_json(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *body = sl_uow_body(u);
    if (!body) {
        sl_uow_fail(u, SL_ENOMEM, "sl_uow_body returned NULL");
        return SL_FAULT;
    }
    sl_span_t k = sl_uow_key(u);
    int rc = sl_uow_set_output_json(u, k.ptr, k.len, body);
    if (rc) {
        sl_uow_fail(u, rc, "sl_uow_set_output_json failed");
        return SL_FAULT;
    }
    return SL_OK;
}

/* ---- results ---------------------------------------------------------------- */

typedef struct sample_s {
    double rate;       /* events (uows) per second */
    double allocs;     /* (allocs + reallocs) per event, jansson's included */
    double lib_allocs; /* the same in the timed loop, jansson not counted */
    double cpu_share;  /* process CPU time / wall time of the timed loop */
    long rss_kb;       /* peak RSS after the case */
} sample_t;

typedef struct opts_s {
    size_t events;
    size_t reps;
    double min_s; /* minimum timed duration of each case */
    const char *csv;
    const char *dump;
    int quick;
    unsigned cases; /* bit per comparison: 1 batch, 2 scan, 4 decode */
} opts_t;

/* ---- case 1 and 3: through the engine ------------------------------------------- */

typedef struct engine_case_s {
    sl_engine_t *e;
    sl_sink_t *sink, *fsink;
    counter_t out, faults;
    uint64_t pushed, expect_pass;
    int64_t first_off[NPART]; /* next offset of each partition when the engine started */
} engine_case_t;

static void engine_case_open(const bench_t *b, engine_case_t *ec, sl_stage_fn map)
{
    char err[256];
    memset(ec, 0, sizeof *ec);
    sl_conf_t *conf = sl_conf_new();
    if (!conf)
        die("sl_conf_new failed: out of memory");
    static const char *const props[][2] = {
        {"processor.name", "bench"},         {"random.seed", "1"},
        {"inflight.max.records", "1000000"}, {"inflight.partition.max.records", "1000000"},
        {"batch.linger.ms", "3600000"},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (sl_conf_set(conf, props[i][0], props[i][1], err, sizeof err))
            die("sl_conf_set(%s=%s) failed: %s", props[i][0], props[i][1], err);
    ec->e = sl_engine_new(conf, err, sizeof err);
    sl_conf_destroy(conf);
    if (!ec->e)
        die("sl_engine_new failed: %s", err);

    sl_sink_ops_t ops = {.name = "bench", .write = sink_write};
    ec->sink = sl_sink_new(&ops, &ec->out);
    sl_sink_ops_t fops = {.name = "bench-faults", .write = sink_write};
    ec->fsink = sl_sink_new(&fops, &ec->faults);
    if (!ec->sink || !ec->fsink)
        die("sl_sink_new failed: out of memory");

    sl_pipeline_t *p =
        bench_pipeline(PIPELINE, SL_MATCH_PREFIX, FILTER_PREFIX, map, NULL, g_batch, ec->sink);
    int rc = sl_engine_add_pipeline(ec->e, p);
    if (rc) {
        sl_pipeline_destroy(p);
        check(rc, "sl_engine_add_pipeline");
    }
    check(sl_engine_set_fault_sink(ec->e, ec->fsink), "sl_engine_set_fault_sink");
    sl_source_ops_t src = {.release = src_release, .flow = src_flow};
    check(sl_engine_set_source(ec->e, &src, NULL), "sl_engine_set_source");
    memcpy(ec->first_off, b->next_off, sizeof ec->first_off);
    if ((rc = sl_engine_start(ec->e, err, sizeof err)))
        die("sl_engine_start failed: %s (%s)", sl_err_name(rc), err);
}

/* One pass over the ring. */
static void engine_pass(bench_t *b, engine_case_t *ec, int decoded)
{
    sl_engine_t *e = ec->e;
    for (size_t j = 0; j < b->nring; j++) {
        slot_t *s = &b->ring[j];
        if (s->busy) {
            /* only with very few events: the open batch spans the whole ring */
            check(sl_engine_flush(e), "sl_engine_flush");
            b->forced_flushes++;
            if (s->busy)
                die("record %zu still in flight after a flush", j);
        }
        s->rec.offset = b->next_off[s->rec.partition]++;
        s->busy = 1;
        int rc =
            decoded ? sl_engine_push_decoded(e, &s->rec, &s->ev->env) : sl_engine_push(e, &s->rec);
        if (rc) {
            s->busy = 0;
            die("%s of record %zu failed: %s (%s)",
                decoded ? "sl_engine_push_decoded" : "sl_engine_push", j, sl_err_name(rc),
                sl_strerror(rc));
        }
        if ((j & (TICK_EVERY - 1)) == TICK_EVERY - 1)
            sl_engine_tick(e);
    }
    ec->pushed += b->nring;
    ec->expect_pass += (uint64_t)(b->nring / b->nevents) * b->npass;
    for (size_t j = b->nring - b->nring % b->nevents; j < b->nring; j++)
        ec->expect_pass += (uint64_t)b->ring[j].ev->pass;
}

/* Flush, check every count adds up, destroy. */
static void engine_case_close(bench_t *b, engine_case_t *ec, const char *what)
{
    check(sl_engine_flush(ec->e), "sl_engine_flush");
    sl_stats_t es, ps;
    sl_engine_stats(ec->e, &es);
    check(sl_engine_pipeline_stats(ec->e, PIPELINE, &ps), "sl_engine_pipeline_stats");
    if (ec->faults.uows || es.faults || es.decode_faults || es.retries)
        die("%s: %" PRIu64 " fault events (%" PRIu64 " decode faults, %" PRIu64 " retries)", what,
            ec->faults.uows, es.decode_faults, es.retries);
    if (es.inflight || es.records_in != ec->pushed || es.records_done != ec->pushed)
        die("%s: %" PRIu64 " records in, %" PRIu64 " done, %" PRIu64 " in flight; pushed %" PRIu64,
            what, es.records_in, es.records_done, es.inflight, ec->pushed);
    if (ps.sunk != ec->expect_pass || ec->out.uows != ec->expect_pass ||
        ps.skipped != ec->pushed - ec->expect_pass)
        die("%s: sunk %" PRIu64 " (sink saw %" PRIu64 "), skipped %" PRIu64 "; expected %" PRIu64
            " and %" PRIu64,
            what, ps.sunk, ec->out.uows, ps.skipped, ec->expect_pass, ec->pushed - ec->expect_pass);
    for (int32_t p = 0; p < NPART; p++) {
        int64_t wm = sl_engine_watermark(ec->e, TOPIC, p);
        int64_t want = b->next_off[p] > ec->first_off[p] ? b->next_off[p] : -1;
        if (wm != want)
            die("%s: watermark of partition %d is %" PRId64 ", expected %" PRId64, what, (int)p, wm,
                want);
    }
    b->checksum += ec->out.sum + ec->out.bytes + ec->out.writes;
    sl_engine_destroy(ec->e);
    sl_sink_destroy(ec->sink);
    sl_sink_destroy(ec->fsink);
    for (size_t j = 0; j < b->nring; j++)
        if (b->ring[j].busy)
            die("%s: record %zu was never released", what, j);
}

static sample_t run_engine_case(bench_t *b, const opts_t *o, int decoded, sl_stage_fn map,
                                const char *what)
{
    engine_case_t ec;
    sample_t r;
    engine_case_open(b, &ec, map);
    engine_pass(b, &ec, decoded); /* warm-up: pools, buffers, partitions, caches */
    uint64_t pushed0 = ec.pushed, m0 = mem_count();
    double c0 = cpu_s(), t0 = now_s(), t1;
    do {
        engine_pass(b, &ec, decoded);
        t1 = now_s();
    } while (t1 - t0 < o->min_s);
    double c1 = cpu_s();
    uint64_t m1 = mem_count();
    double n = (double)(ec.pushed - pushed0);
    r.rate = n / (t1 - t0);
    r.lib_allocs = r.allocs = (double)(m1 - m0) / n;
    r.cpu_share = (c1 - c0) / (t1 - t0);
    if (map == map_json) {
        /* one more pass, untimed, with jansson's allocations counted too */
        check(sl_engine_flush(ec.e), "sl_engine_flush");
        jansson_counted(1);
        uint64_t p0 = ec.pushed;
        m0 = mem_count();
        engine_pass(b, &ec, decoded);
        check(sl_engine_flush(ec.e), "sl_engine_flush");
        r.allocs = (double)(mem_count() - m0) / (double)(ec.pushed - p0);
        jansson_counted(0);
    }
    engine_case_close(b, &ec, what);
    r.rss_kb = peak_rss_kb(RUSAGE_SELF);
    return r;
}

/* ---- case 2 and 3 baselines: scan and jansson --------------------------------------- */

enum { K_SCAN, K_PARSE, K_PARSE_DUMP, K_PARSE_FILTER_DUMP };

static uint64_t one_pass(const bench_t *b, int kind, char *out, size_t out_cap)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < b->nevents; i++) {
        const event_t *ev = &b->ev[i];
        if (kind == K_SCAN) {
            sl_envelope_t env;
            sl_scan_error_t se;
            int rc = sl_envelope_scan(ev->buf, ev->len, &env, &se);
            if (rc)
                die("sl_envelope_scan of event %zu failed: %s", i, sl_err_name(rc));
            sum += (uint64_t)env.timestamp + env.type.len + env.partition_key.len;
            continue;
        }
        json_error_t jerr;
        json_t *root = json_loadb(ev->buf, ev->len, 0, &jerr);
        if (!root)
            die("json_loadb of event %zu failed: %s", i, jerr.text);
        int dump = kind == K_PARSE_DUMP;
        if (kind == K_PARSE_FILTER_DUMP) {
            const char *t = json_string_value(json_object_get(root, "type"));
            dump = t && !strncmp(t, FILTER_PREFIX, strlen(FILTER_PREFIX));
        }
        if (dump) {
            size_t n = json_dumpb(root, out, out_cap, JSON_COMPACT);
            if (n == 0 || n > out_cap)
                die("json_dumpb of event %zu failed (%zu bytes)", i, n);
            sum += n + (unsigned char)out[n / 2];
        } else {
            sum += json_object_size(root);
        }
        json_decref(root);
    }
    return sum;
}

static sample_t run_loop_case(bench_t *b, const opts_t *o, int kind)
{
    char out[4 * EVENT_SIZE + 1024];
    sample_t r;
    b->checksum += one_pass(b, kind, out, sizeof out); /* warm-up */
    uint64_t n = 0, m0 = mem_count();
    double c0 = cpu_s(), t0 = now_s(), t1;
    do {
        b->checksum += one_pass(b, kind, out, sizeof out);
        n += b->nevents;
        t1 = now_s();
    } while (t1 - t0 < o->min_s);
    double c1 = cpu_s();
    r.rate = (double)n / (t1 - t0);
    r.lib_allocs = (double)(mem_count() - m0) / (double)n;
    r.cpu_share = (c1 - c0) / (t1 - t0);
    /* one more pass, untimed, with jansson's allocations counted */
    jansson_counted(1);
    m0 = mem_count();
    b->checksum += one_pass(b, kind, out, sizeof out);
    r.allocs = (double)(mem_count() - m0) / (double)b->nevents;
    jansson_counted(0);
    r.rss_kb = peak_rss_kb(RUSAGE_SELF);
    return r;
}

/* ---- report -------------------------------------------------------------------- */

enum {
    R_BATCH,
    R_SCAN,
    R_PARSE,
    R_ENGINE,
    R_PARSE_DUMP,
    R_PARSE_FILTER_DUMP,
    R_SIZE_1,
    R_SIZE_10,
    R_SIZE_100,
    R_SIZE_500,
    R_SIZE_5000,
    R_PEER,
    NROWS
};

static const size_t size_of_row[NROWS] = {
    [R_SIZE_1] = 1, [R_SIZE_10] = 10, [R_SIZE_100] = 100, [R_SIZE_500] = 500, [R_SIZE_5000] = 5000};

static const char *const row_names[NROWS] = {
    [R_BATCH] = "1 batch: filter->map->batch(500), push_decoded",
    [R_SCAN] = "2 sl_envelope_scan",
    [R_PARSE] = "2 jansson json_loadb+json_decref",
    [R_ENGINE] = "3 engine: push(scan)->filter->map(body+json out)->batch",
    [R_PARSE_DUMP] = "3 jansson json_loadb+json_dumpb (every event)",
    [R_PARSE_FILTER_DUMP] = "3 jansson json_loadb+type filter+json_dumpb",
    [R_SIZE_1] = "4 batch path, batch(1)",
    [R_SIZE_10] = "4 batch path, batch(10)",
    [R_SIZE_100] = "4 batch path, batch(100)",
    [R_SIZE_500] = "4 batch path, batch(500)",
    [R_SIZE_5000] = "4 batch path, batch(5000)",
    [R_PEER] = "5 peers' pipeline: push(scan)->filter->map->batch(500)",
};

/* The comparison (--case bit) each row belongs to. */
static const unsigned row_case[NROWS] = {
    [R_BATCH] = 1,    [R_SCAN] = 2,       [R_PARSE] = 2,
    [R_ENGINE] = 4,   [R_PARSE_DUMP] = 4, [R_PARSE_FILTER_DUMP] = 4,
    [R_SIZE_1] = 8,   [R_SIZE_10] = 8,    [R_SIZE_100] = 8,
    [R_SIZE_500] = 8, [R_SIZE_5000] = 8,  [R_PEER] = 16,
};

typedef struct ratio_s {
    const char *name;
    int num, den; /* rows */
    int row;      /* row whose CSV ratio column carries it, or -1 */
    double goal;
} ratio_t;

static const ratio_t ratios[] = {
    {"envelope scan / jansson parse", R_SCAN, R_PARSE, R_SCAN, 10.0},
    {"engine decode+filter+map+encode / jansson parse+dump", R_ENGINE, R_PARSE_DUMP, R_ENGINE, 0},
    {"engine decode+filter+map+encode / jansson parse+filter+dump", R_ENGINE, R_PARSE_FILTER_DUMP,
     -1, 0},
};
#define NRATIOS (sizeof ratios / sizeof ratios[0])

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: bench_batch [--quick] [--events N] [--reps R] [--min-ms MS] [--case C]... "
            "[--csv FILE]\n"
            "  --quick      tiny run for a smoke test (every case, about a second)\n"
            "  --events N   distinct events (default 10000)\n"
            "  --reps R     repeat each case R times; report median and min..max (default 1)\n"
            "  --min-ms MS  minimum timed duration of each case (default 500)\n"
            "  --case C     run only comparison C: batch, scan, decode, sizes (the batch\n"
            "               path at batch 1, 10, 100, 500, 5000) or peers (the pipeline of\n"
            "               bench/peers from the bytes) (repeatable; default batch, scan,\n"
            "               decode)\n"
            "  --csv FILE   also write the rows as CSV\n"
            "  --dump-events FILE  write the distinct events as JSON Lines (the peers' input)\n");
}

static void parse_args(int argc, char **argv, opts_t *o)
{
    int have_min = 0;
    unsigned given = 0;
    *o = (opts_t){.events = 10000, .reps = 1, .min_s = 0.5, .cases = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_common(argc, argv, &i, &o->quick, &o->events, 4, 10000000, &o->reps, 1000,
                       &given)) {
            continue;
        } else if (!strcmp(a, "--min-ms")) {
            o->min_s = (double)opt_size(argc, argv, &i, 0, 3600000) / 1e3;
            have_min = 1;
        } else if (!strcmp(a, "--case")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (!strcmp(v, "batch"))
                o->cases |= 1;
            else if (!strcmp(v, "scan"))
                o->cases |= 2;
            else if (!strcmp(v, "decode"))
                o->cases |= 4;
            else if (!strcmp(v, "sizes"))
                o->cases |= 8;
            else if (!strcmp(v, "peers"))
                o->cases |= 16;
            else
                die("--case: '%s' is not one of batch, scan, decode, sizes, peers", v);
        } else if (!strcmp(a, "--dump-events")) {
            o->dump = opt_arg(argc, argv, &i, "a file name");
        } else if (!strcmp(a, "--csv")) {
            o->csv = opt_arg(argc, argv, &i, "a file name");
        } else {
            opt_other(a, usage);
        }
    }
    if (!o->cases)
        o->cases = 7;
    opt_quick(o->quick, given, &o->events, 256, &o->reps);
    if (o->quick && !have_min)
        o->min_s = 0.005;
}

int main(int argc, char **argv)
{
    opts_t o;
    parse_args(argc, argv, &o);
    jansson_counted(0);

    FILE *csv = NULL;
    if (o.csv && !(csv = fopen(o.csv, "w")))
        die("cannot open %s for writing", o.csv);

    bench_t *b = xcalloc(1, sizeof *b);
    b->nevents = o.events;
    make_events(b);
    if (o.dump) {
        FILE *df = fopen(o.dump, "w");
        if (!df)
            die("cannot open %s for writing", o.dump);
        for (size_t i = 0; i < b->nevents; i++) {
            fwrite(b->ev[i].buf, 1, b->ev[i].len, df);
            fputc('\n', df);
        }
        if (fclose(df))
            die("cannot write %s", o.dump);
    }

    printf("sluice %s bench_batch: %zu distinct events, average %.1f bytes, %.1f%% pass the "
           "filter\n",
           SL_VERSION_STRING, b->nevents, b->avg_size,
           100.0 * (double)b->npass / (double)b->nevents);
    printf("%d partitions, %d keys, ring of %zu records, batch(%d), %zu rep(s) of at least %.0f ms "
           "each, jansson %s\n\n",
           NPART, NKEYS, b->nring, BATCH_EVENTS, o.reps, o.min_s * 1e3, JANSSON_VERSION);
    fflush(stdout);

    sample_t(*res)[NROWS] = xcalloc(o.reps, sizeof *res);
    for (size_t r = 0; r < o.reps; r++) {
        if (o.cases & 1)
            res[r][R_BATCH] = run_engine_case(b, &o, 1, map_small, row_names[R_BATCH]);
        if (o.cases & 2) {
            res[r][R_SCAN] = run_loop_case(b, &o, K_SCAN);
            res[r][R_PARSE] = run_loop_case(b, &o, K_PARSE);
        }
        if (o.cases & 4) {
            res[r][R_ENGINE] = run_engine_case(b, &o, 0, map_json, row_names[R_ENGINE]);
            res[r][R_PARSE_DUMP] = run_loop_case(b, &o, K_PARSE_DUMP);
            res[r][R_PARSE_FILTER_DUMP] = run_loop_case(b, &o, K_PARSE_FILTER_DUMP);
        }
        if (o.cases & 8)
            for (int row = R_SIZE_1; row <= R_SIZE_5000; row++) {
                g_batch = size_of_row[row];
                res[r][row] = run_engine_case(b, &o, 1, map_small, row_names[row]);
                g_batch = BATCH_EVENTS;
            }
        if (o.cases & 16)
            res[r][R_PEER] = run_engine_case(b, &o, 0, map_peer, row_names[R_PEER]);
        if (o.reps > 1)
            fprintf(stderr, "rep %zu/%zu done\n", r + 1, o.reps);
    }

    /* ratios per rep (side by side), then their median */
    double *tmp = xcalloc(o.reps, sizeof *tmp);
    summary_t rsum[NRATIOS];
    for (size_t k = 0; k < NRATIOS; k++) {
        if (!(o.cases & row_case[ratios[k].num]))
            continue;
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][ratios[k].num].rate / res[r][ratios[k].den].rate;
        rsum[k] = summarize(tmp, o.reps);
    }

    if (csv) {
        fprintf(csv, "case,events_per_s,min,max,ns_per_event,mb_per_s,allocs_per_event,peak_rss_kb,"
                     "ratio\n");
    }
    printf("%-58s %10s %20s %9s %8s %12s %9s %7s\n", "case", "events/s", "(min..max)", "ns/event",
           "MB/s", "allocs/event", "peakRSS kB", "ratio");
    for (int row = 0; row < NROWS; row++) {
        if (!(o.cases & row_case[row]))
            continue;
        long rss = 0;
        for (size_t r = 0; r < o.reps; r++) {
            tmp[r] = res[r][row].rate;
            if (res[r][row].rss_kb > rss)
                rss = res[r][row].rss_kb;
        }
        summary_t s = summarize(tmp, o.reps);
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][row].allocs;
        summary_t al = summarize(tmp, o.reps);
        double ratio = -1;
        for (size_t k = 0; k < NRATIOS; k++)
            if (ratios[k].row == row)
                ratio = rsum[k].med;
        char a[32], lo[32], hi[32], range[72], rs[32] = "";
        snprintf(range, sizeof range, "(%s..%s)", fmt_rate(lo, sizeof lo, s.min),
                 fmt_rate(hi, sizeof hi, s.max));
        if (ratio > 0)
            snprintf(rs, sizeof rs, "%.1fx", ratio);
        printf("%-58s %10s %20s %9.1f %8.1f %12.3f %9ld %7s\n", row_names[row],
               fmt_rate(a, sizeof a, s.med), range, 1e9 / s.med, s.med * b->avg_size / 1e6, al.med,
               rss, rs);
        if (csv) {
            fprintf(csv, "\"%s\",%.0f,%.0f,%.0f,%.2f,%.2f,%.4f,%ld,", row_names[row], s.med, s.min,
                    s.max, 1e9 / s.med, s.med * b->avg_size / 1e6, al.med, rss);
            if (ratio > 0)
                fprintf(csv, "%.3f", ratio);
            fputc('\n', csv);
        }
    }
    if (csv && fclose(csv))
        die("cannot write %s", o.csv);

    printf("\nratios, measured side by side in each rep (median, min..max):\n");
    for (size_t k = 0; k < NRATIOS; k++) {
        if (!(o.cases & row_case[ratios[k].num]))
            continue;
        printf("  %-62s %6.1fx (%.1f..%.1f)", ratios[k].name, rsum[k].med, rsum[k].min,
               rsum[k].max);
        if (ratios[k].goal > 0)
            printf("  goal >= %.0fx: %s", ratios[k].goal,
                   rsum[k].med >= ratios[k].goal ? "met" : "NOT met");
        putchar('\n');
    }
    if (o.cases & 1) {
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][R_BATCH].rate;
        summary_t bs = summarize(tmp, o.reps);
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][R_BATCH].allocs;
        summary_t ba = summarize(tmp, o.reps);
        printf("  %-62s %6.2fM/s, %.3f allocs/uow  goal >= 20M/s, 0 allocs: %s\n",
               "batch path per core", bs.med / 1e6, ba.med,
               bs.med >= 20e6 && ba.med == 0 ? "met" : "NOT met");
    }
    printf("\nanchors (DESIGN.md, same kind of machine): jansson parse 97k/s, parse+dump 62k/s; "
           "aws-lambda-stream\nfilter->map->batch(500) 5.2-5.4k/s; plain highland 158-173k/s\n");
    double min_cpu = 1.0;
    for (size_t r = 0; r < o.reps; r++)
        for (int row = 0; row < NROWS; row++)
            if ((o.cases & row_case[row]) && res[r][row].cpu_share < min_cpu)
                min_cpu = res[r][row].cpu_share;
    if (o.cases & 4) {
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][R_ENGINE].lib_allocs;
        printf("sluice's own allocations per event in the timed engine loop of case 3 (jansson "
               "not counted): %.3f\n",
               summarize(tmp, o.reps).med);
    }
    printf("lowest CPU share of a timed loop (process CPU time / wall time): %.0f%%%s\n",
           100 * min_cpu, min_cpu < 0.95 ? " -- other processes competed for the CPU" : "");
    if (b->forced_flushes)
        printf("note: %zu batches were flushed early because the ring is small\n",
               b->forced_flushes);
    if (g_pauses)
        printf("note: the engine asked to pause intake %zu times\n", g_pauses);
    printf("peak RSS %ld kB; checksum %016" PRIx64 "\n", peak_rss_kb(RUSAGE_SELF), b->checksum);

    free(tmp);
    free(res);
    for (size_t i = 0; i < b->nevents; i++)
        free(b->ev[i].buf);
    free(b->ev);
    free(b->ring);
    free(b);
    return 0;
}
