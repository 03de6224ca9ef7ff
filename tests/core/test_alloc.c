/* Allocation failure at every allocation of a pipeline run leaks and
 * crashes nothing and loses no record; the steady-state batch path makes no
 * allocation per uow. Counted through the sl_malloc hook. */
#include "helpers.h"

TestSuite(alloc, .init = sl_mem_use_for_jansson);

static sl_result_t view_map(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *body = sl_uow_body(u);
    if (!body)
        return SL_RETRY;
    json_t *row = json_pack("{s:O?,s:s}", "thing", json_object_get(body, "thing"), "v", "1");
    if (!row)
        return SL_RETRY;
    int rc = sl_uow_set_output_json(u, NULL, 0, row);
    json_decref(row);
    return rc ? SL_RETRY : SL_OK;
}

static sl_result_t split(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    for (int i = 0; i < 2; i++)
        if (sl_emit(em, k.ptr, k.len, "x", 1))
            return SL_RETRY;
    return SL_OK;
}

enum { NSWEEP = 24 };

/* Record i: every seventh is not JSON, odd ones are of pipeline a's type. */
static const char *rec_value(char *b, size_t n, int i)
{
    return i % 7 == 3 ? "{\"type\":"
                      : ev(b, n, i % 2 ? "thing-x" : "other", i % 3 ? "k1" : "k2", i);
}

struct outcome {
    int built;
    size_t pushed, refused, sunk_a, sunk_b, faults, done, decode_faults;
    /* per record: messages in sink b, fault events */
    int in_b[NSWEEP], faulted[NSWEEP];
};

/* One run with the n-th allocation failing (sticky: and all after it, until
 * the injection is lifted half-way). Returns what was accounted. */
static struct outcome scenario(uint64_t n, int sticky)
{
    struct outcome o = {0};
    const char *kv[] = {"retry.max", "1000", "retry.backoff.ms", "1", "retry.backoff.max.ms",
                        "4",         NULL};
    sl_conf_t *c = sl_conf_new();
    for (const char *const *p = kv; *p; p += 2)
        sl_conf_set(c, p[0], p[1], NULL, 0);
    sl_conf_set(c, "random.seed", "9", NULL, 0);
    sl_mem_fail_at(n, sticky);
    sl_test_t *t = sl_test_new(c, NULL, 0);
    sl_conf_destroy(c);
    sl_test_sink_t *sa = t ? sl_test_sink_new(t, "a", 0, 0, 0) : NULL;
    sl_test_sink_t *sb = t ? sl_test_sink_new(t, "b", 0, 0, 0) : NULL;
    sl_pipeline_t *pa = sl_pipeline_new("a"), *pb = sl_pipeline_new("b");
    const char *types[] = {"thing-"};
    int ok = t && sa && sb && pa && pb;
    ok = ok && !sl_pipeline_filter_types(pa, SL_MATCH_PREFIX, types, 1) &&
         !sl_pipeline_map(pa, view_map, NULL) && !sl_pipeline_compact(pa, NULL) &&
         !sl_pipeline_sink(pa, sl_test_sink_handle(sa));
    ok = ok && !sl_pipeline_flat_map(pb, split, NULL) && !sl_pipeline_batch(pb, NULL) &&
         !sl_pipeline_sink(pb, sl_test_sink_handle(sb));
    if (ok && !sl_test_add_pipeline(t, pa)) {
        pa = NULL;
        if (!sl_test_add_pipeline(t, pb))
            pb = NULL;
    }
    ok = ok && !pa && !pb && !sl_test_start(t);
    sl_pipeline_destroy(pa);
    sl_pipeline_destroy(pb);
    if (!ok) {
        sl_mem_fail_at(0, 0);
        sl_test_destroy(t);
        return o;
    }
    o.built = 1;
    /* The source keeps a refused record and offers it again, before any
     * later one, until the engine takes it: each round offers what is
     * waiting, then at most one new record. */
    char b[256];
    int next = 0, waiting = -1; /* waiting: the refused record, offered again */
    for (int round = 0; next < NSWEEP || waiting >= 0; round++) {
        if (round == 12)
            sl_mem_fail_at(0, 0); /* lift the injection: everything deferred must now finish */
        cr_assert_lt(round, 1000, "n=%llu: the source gets its records in", (unsigned long long)n);
        int i = waiting >= 0 ? waiting : next++;
        int rc = sl_test_push(t, "in", 0, i, "key", 3, rec_value(b, sizeof b, i),
                              strlen(rec_value(b, sizeof b, i)));
        if (rc) {
            cr_assert_eq(rc, SL_ENOMEM, "push fails only for memory");
            o.refused++;
            waiting = i;
        } else {
            o.pushed++;
            waiting = -1;
        }
        sl_test_advance(t, 3);
    }
    sl_mem_fail_at(0, 0);
    sl_test_advance(t, 60000);
    cr_assert_eq(sl_test_inflight(t), 0, "n=%llu: every pushed record is done",
                 (unsigned long long)n);
    o.sunk_a = sl_test_sink_count(sa);
    o.sunk_b = sl_test_sink_count(sb);
    o.faults = sl_test_sink_count(sl_test_faults(t));
    for (size_t i = 0; i < o.sunk_b; i++) {
        int64_t off = sl_test_sink_msg(sb, i)->offset;
        cr_assert(off >= 0 && off < NSWEEP);
        o.in_b[off]++;
    }
    for (size_t i = 0; i < o.faults; i++) {
        int64_t off = sl_test_sink_msg(sl_test_faults(t), i)->offset;
        cr_assert(off >= 0 && off < NSWEEP);
        o.faulted[off]++;
    }
    cr_assert_eq(sl_test_committed(t, "in", 0), NSWEEP, "n=%llu: the watermark passes every record",
                 (unsigned long long)n);
    sl_stats_t st;
    sl_engine_stats(sl_test_engine(t), &st);
    o.done = st.records_done;
    o.decode_faults = st.decode_faults;
    sl_test_destroy(t);
    return o;
}

static void sweep(int sticky)
{
    sl_mem_stats_t before, after;
    size_t runs = 0, completed = 0, refused = 0;
    for (uint64_t n = 1; n < 20000; n++) {
        sl_mem_stats(&before);
        struct outcome o = scenario(n, sticky);
        sl_mem_stats(&after);
        cr_assert_eq(
            after.allocs - before.allocs, after.frees - before.frees,
            "n=%llu sticky=%d: %llu allocations not freed", (unsigned long long)n, sticky,
            (unsigned long long)((after.allocs - before.allocs) - (after.frees - before.frees)));
        cr_assert_eq(after.bytes, before.bytes, "n=%llu sticky=%d: %lld bytes not freed",
                     (unsigned long long)n, sticky, (long long)(after.bytes - before.bytes));
        runs++;
        if (o.built) {
            completed++;
            /* Every record taken exactly once and done; pipeline b emits two
             * per decodable record and retries through every injected
             * failure; each bad record faults once. */
            cr_assert_eq(o.pushed, NSWEEP, "n=%llu: every record taken once",
                         (unsigned long long)n);
            cr_assert_eq(o.done, NSWEEP, "n=%llu", (unsigned long long)n);
            for (int i = 0; i < NSWEEP; i++) {
                int bad = i % 7 == 3;
                cr_assert_eq(o.in_b[i], bad ? 0 : 2, "n=%llu: record %d in b %d times",
                             (unsigned long long)n, i, o.in_b[i]);
                cr_assert_eq(o.faulted[i], bad, "n=%llu: record %d faulted %d times",
                             (unsigned long long)n, i, o.faulted[i]);
            }
            cr_assert_eq(o.decode_faults, 3, "n=%llu", (unsigned long long)n);
            refused += o.refused;
            cr_assert_gt(o.sunk_a, 0);
        }
        if (after.failed == before.failed)
            break; /* the injection point is past the whole run */
    }
    cr_assert_gt(runs, 100, "the sweep covered the run's allocations");
    cr_log_info("sticky=%d: %zu runs, %zu completed, %zu pushes refused", sticky, runs, completed,
                refused);
    cr_assert_gt(completed, 0);
    cr_assert_gt(refused, 0, "the sweep made the engine refuse records");
}

Test(alloc, every_allocation_can_fail_once)
{
    sweep(0);
}

Test(alloc, every_allocation_can_fail_from_then_on)
{
    sweep(1);
}

static void rel(void *o, const sl_record_t *r, int done)
{
    (void)o;
    (void)r;
    (void)done;
}

static int ack_all(void *opaque, sl_uow_t *const *uows, size_t n)
{
    size_t *count = opaque;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    *count += n;
    return 0;
}

static sl_result_t small_output(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    return sl_uow_set_output(u, k.ptr, k.len, "{\"v\":1}", 7) ? SL_RETRY : SL_OK;
}

Test(alloc, steady_state_batch_path_allocates_nothing)
{
    enum { NREC = 4096, WARM = 20000, MEASURE = 100000 };
    sl_conf_t *c = sl_conf_new();
    sl_conf_set(c, "inflight.max.records", "100000", NULL, 0);
    sl_conf_set(c, "batch.linger.ms", "1000000", NULL, 0);
    sl_engine_t *e = sl_engine_new(c, NULL, 0);
    sl_conf_destroy(c);
    size_t sunk = 0, faults = 0;
    sl_sink_ops_t ops = {.name = "count", .write = ack_all};
    sl_sink_t *sink = sl_sink_new(&ops, &sunk), *fs = sl_sink_new(&ops, &faults);
    sl_source_ops_t src = {.release = rel};
    sl_engine_set_source(e, &src, NULL);
    sl_engine_set_fault_sink(e, fs);
    const char *types[] = {"thing-"};
    for (int k = 0; k < 2; k++) {
        sl_pipeline_t *p = sl_pipeline_new(k ? "compact" : "batch");
        sl_pipeline_filter_types(p, SL_MATCH_PREFIX, types, 1);
        sl_pipeline_map(p, small_output, NULL);
        sl_batch_opts_t o = {.max_events = 500, .max_bytes = 0, .linger_ms = -1};
        if (k)
            sl_pipeline_compact(p, &o);
        else
            sl_pipeline_batch(p, &o);
        sl_pipeline_sink(p, sink);
        cr_assert_eq(sl_engine_add_pipeline(e, p), 0);
    }
    cr_assert_eq(sl_engine_start(e, NULL, 0), 0);
    static char vals[NREC][200];
    static sl_record_t recs[NREC];
    const char *tnames[] = {"thing-created", "other-a", "other-b", "other-c"};
    for (int i = 0; i < NREC; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i % 100);
        ev(vals[i], sizeof vals[i], tnames[i % 4], key, i);
        recs[i] = (sl_record_t){.topic = "in", .value = vals[i], .value_len = strlen(vals[i])};
    }
    int64_t off = 0;
    sl_mem_stats_t a, b;
    for (int phase = 0; phase < 2; phase++) {
        int n = phase ? MEASURE : WARM;
        if (phase)
            sl_mem_stats(&a);
        for (int i = 0; i < n; i++) {
            sl_record_t *r = &recs[off % NREC];
            r->offset = off++;
            cr_assert_eq(sl_engine_push(e, r), 0);
        }
        if (phase)
            sl_mem_stats(&b);
    }
    cr_assert_eq(b.allocs - a.allocs, 0, "%llu allocations in %d pushes",
                 (unsigned long long)(b.allocs - a.allocs), MEASURE);
    cr_assert_eq(b.reallocs - a.reallocs, 0);
    cr_assert_gt(sunk, (size_t)(WARM + MEASURE) / 4, "the path was exercised");
    cr_assert_eq(faults, 0);
    sl_engine_destroy(e);
    sl_sink_destroy(sink);
    sl_sink_destroy(fs);
}
