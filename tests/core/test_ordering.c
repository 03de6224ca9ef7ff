/* Ordering modes of a pipeline (sl_pipeline_ordering(), pipeline.ordering):
 * a sink that acknowledges each uow later, in a random order and sometimes
 * with a retriable error, on the test driver's virtual clock. Per mode: what
 * may be at the sink at once, the order in which each key's (and in
 * partition mode each partition's) events complete, and a committed
 * watermark that is always exactly the lowest offset not yet done. */
#include "helpers.h"

#include <stdlib.h>

TestSuite(ordering, .timeout = 120);

enum { N = 600, KEYS = 7, PARTS = 2 };

static uint64_t rs;

static unsigned rnd(unsigned n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (unsigned)(rs % n);
}

/* Event @p i of key k<key> on partition @p part: its record offset is its
 * index within the partition, carried in "o". */
static int event(char *buf, size_t cap, int i, int key, int part, int64_t off)
{
    return snprintf(buf, cap,
                    "{\"id\":\"e-%d\",\"type\":\"thing-created\",\"timestamp\":%d,"
                    "\"partitionKey\":\"k%d\",\"thing\":{\"n\":%d,\"k\":%d,\"p\":%d,\"o\":%lld}}",
                    i, 1700000000 + i, key, i, key, part, (long long)off);
}

typedef struct ev_s {
    int n, k, p;
    long long o;
} ev_t;

static ev_t parse(const char *v, size_t len)
{
    char tmp[512];
    cr_assert_lt(len, sizeof tmp, "len %zu: %.100s", len, v);
    memcpy(tmp, v, len);
    tmp[len] = 0;
    const char *t = strstr(tmp, "\"thing\":");
    ev_t e;
    cr_assert(t && sscanf(t, "\"thing\":{\"n\":%d,\"k\":%d,\"p\":%d,\"o\":%lld}", &e.n, &e.k, &e.p,
                          &e.o) == 4,
              "%s", tmp);
    return e;
}

typedef struct run_s {
    sl_order_t mode;
    sl_test_sink_t *sink;
    int started[KEYS]; /* uows of each key past the tap and not yet done */
    int started_p[PARTS];
    int tap_violations;
} run_t;

/* The first stage: in key (partition) order no other uow of its key
 * (partition) may have started and not be done yet. */
static sl_result_t tap(sl_uow_t *u, void *opaque)
{
    run_t *r = opaque;
    sl_span_t v = sl_uow_record(u)->value
                      ? (sl_span_t){sl_uow_record(u)->value, sl_uow_record(u)->value_len}
                      : (sl_span_t){"", 0};
    ev_t e = parse(v.ptr, v.len);
    if ((r->mode == SL_ORDER_KEY && r->started[e.k]) ||
        (r->mode == SL_ORDER_PARTITION && r->started_p[e.p]))
        r->tap_violations++;
    r->started[e.k]++;
    r->started_p[e.p]++;
    return SL_OK;
}

typedef struct result_s {
    size_t max_pending;     /* uows at the sink at once, the most seen */
    size_t max_pending_key; /* of one key */
    size_t max_pending_part;
    int key_inversions;  /* a key's event completed before an earlier one of its partition */
    int part_inversions; /* a partition's event completed before an earlier one */
    size_t failures;     /* retriable acknowledgements given */
} result_t;

/* Push N events over PARTS partitions and KEYS keys, then acknowledge what
 * is pending at random, one in eight with a retriable error, checking the
 * committed watermark after every step. @p prop: set the mode through
 * pipeline.ordering instead of the builder call. */
static result_t run(sl_order_t mode, const char *prop, uint64_t seed)
{
    static const char *names[] = {"sink", "partition", "key", "unordered"};
    const char *kv[] = {"retry.max",
                        "1000",
                        "retry.backoff.ms",
                        "1",
                        "retry.backoff.max.ms",
                        "4",
                        "pipeline.ordering",
                        prop ? names[mode] : "sink",
                        NULL};
    sl_test_t *t = driver(kv);
    static run_t r;
    memset(&r, 0, sizeof r);
    r.mode = mode;
    r.sink = sl_test_sink_new(t, "async", 0, 0, 0);
    sl_test_sink_set_ack(r.sink, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("ordered");
    cr_assert_eq(sl_pipeline_tap(p, tap, &r), 0);
    if (!prop)
        cr_assert_eq(sl_pipeline_ordering(p, mode), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(r.sink)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_pipeline_ordering(p, mode), SL_ESTATE, "too late once added");

    rs = seed;
    int64_t next_off[PARTS] = {0};
    char buf[512];
    for (int i = 0; i < N; i++) {
        int k = (int)rnd(KEYS), pt = (int)rnd(PARTS);
        int64_t off = next_off[pt]++;
        event(buf, sizeof buf, i, k, pt, off);
        char key[8];
        snprintf(key, sizeof key, "k%d", k);
        cr_assert_eq(sl_test_push(t, "t", pt, off, key, strlen(key), buf, strlen(buf)), 0);
    }
    /* done[p][o]: the event at offset o of partition p is acknowledged. */
    static char done[PARTS][N];
    memset(done, 0, sizeof done);
    int last_n_key[PARTS][KEYS], last_o_part[PARTS];
    for (int k = 0; k < KEYS; k++)
        for (int q = 0; q < PARTS; q++)
            last_n_key[q][k] = -1;
    for (int q = 0; q < PARTS; q++)
        last_o_part[q] = -1;
    result_t res = {0};
    size_t completed = 0;
    for (int steps = 0; completed < N; steps++) {
        cr_assert_lt(steps, 100 * N, "no progress: %zu of %d done, %zu pending, %zu in flight",
                     completed, N, sl_test_sink_pending(r.sink), sl_test_inflight(t));
        size_t np = sl_test_sink_pending(r.sink);
        if (np > res.max_pending)
            res.max_pending = np;
        size_t per_key[KEYS] = {0}, per_part[PARTS] = {0};
        for (size_t i = 0; i < np; i++) {
            size_t len;
            const char *v = sl_test_sink_pending_value(r.sink, i, &len);
            ev_t e = parse(v, len);
            if (++per_key[e.k] > res.max_pending_key)
                res.max_pending_key = per_key[e.k];
            if (++per_part[e.p] > res.max_pending_part)
                res.max_pending_part = per_part[e.p];
        }
        if (!np) {
            sl_test_advance(t, 5); /* retries back off */
            continue;
        }
        size_t i = rnd((unsigned)np);
        size_t len;
        const char *val = sl_test_sink_pending_value(r.sink, i, &len);
        ev_t e = parse(val, len);
        int fail = rnd(8) == 0;
        if (fail)
            res.failures++;
        else {
            /* Done from the test's view before the ack: the engine's
             * watermark may only follow. */
            done[e.p][e.o] = 1;
            completed++;
            if (e.n < last_n_key[e.p][e.k])
                res.key_inversions++;
            else
                last_n_key[e.p][e.k] = e.n;
            if (e.o < last_o_part[e.p])
                res.part_inversions++;
            else
                last_o_part[e.p] = (int)e.o;
            r.started[e.k]--;
            r.started_p[e.p]--;
        }
        cr_assert_eq(sl_test_sink_ack(r.sink, i, fail ? SL_EAGAIN : 0), 0);
        if (rnd(4) == 0)
            sl_test_advance(t, 1);
        /* The watermark is exactly the lowest offset not done: it never
         * passes an unfinished uow and never lags a finished prefix. */
        for (int q = 0; q < PARTS; q++) {
            int64_t low = 0;
            while (low < next_off[q] && done[q][low])
                low++;
            int64_t wm = sl_test_committed(t, "t", q);
            cr_assert(wm == low || (wm == -1 && low == 0),
                      "mode %s, partition %d: watermark %lld, lowest offset not done %lld",
                      names[mode], q, (long long)wm, (long long)low);
        }
    }
    cr_assert_eq(sl_test_sink_count(r.sink), N, "every event accepted exactly once");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0, "no fault");
    for (int q = 0; q < PARTS; q++)
        cr_assert_eq(sl_test_committed(t, "t", q), next_off[q], "committed to the end");
    cr_assert_eq(sl_test_inflight(t), 0);
    cr_assert_eq(r.tap_violations, 0, "a uow waits for its turn before its first stage");
    cr_assert_gt(res.failures, 0, "retriable acknowledgements were exercised");
    sl_test_destroy(t);
    return res;
}

Test(ordering, partition_mode_completes_each_partition_in_offset_order)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        result_t r = run(SL_ORDER_PARTITION, NULL, 0x9e3779b97f4a7c15ull * seed);
        cr_assert_eq(r.part_inversions, 0, "each partition completes in offset order");
        cr_assert_eq(r.key_inversions, 0, "so does each key of a partition");
        cr_assert_eq(r.max_pending_part, 1, "one uow per partition at the sink");
        cr_assert_eq(r.max_pending, PARTS, "the partitions run side by side");
    }
}

Test(ordering, key_mode_keeps_many_keys_in_flight_and_each_key_in_order)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        result_t r = run(SL_ORDER_KEY, NULL, 0x2545f4914f6cdd1dull * seed);
        cr_assert_eq(r.key_inversions, 0, "each key completes in order");
        cr_assert_eq(r.max_pending_key, 1, "one uow per key at the sink");
        cr_assert_eq(r.max_pending, KEYS, "every key in flight at once");
        cr_assert_gt(r.part_inversions, 0, "a partition's keys complete in any order");
    }
}

Test(ordering, unordered_mode_runs_everything_at_once)
{
    result_t r = run(SL_ORDER_UNORDERED, NULL, 77);
    cr_assert_eq(r.max_pending, N, "every uow at the sink at once");
    cr_assert_gt(r.max_pending_key, 1);
    cr_assert_gt(r.key_inversions, 0, "keys complete in the sink's order, not the input's");
}

Test(ordering, the_property_sets_the_mode_of_a_pipeline_without_its_own)
{
    result_t r = run(SL_ORDER_KEY, "pipeline.ordering", 99);
    cr_assert_eq(r.key_inversions, 0);
    cr_assert_eq(r.max_pending_key, 1);
    cr_assert_eq(r.max_pending, KEYS);
    r = run(SL_ORDER_PARTITION, "pipeline.ordering", 98);
    cr_assert_eq(r.part_inversions, 0);
    cr_assert_eq(r.max_pending_part, 1);
}

/* The default (sink order) writes everything at once, as before: the sink's
 * acknowledgement order is the per-key order. */
Test(ordering, sink_mode_is_the_default_and_writes_everything_at_once)
{
    const char *kv[] = {NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("p");
    sl_pipeline_sink(p, sl_test_sink_handle(s));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char buf[512];
    for (int i = 0; i < 20; i++) {
        event(buf, sizeof buf, i, 0, 0, i);
        cr_assert_eq(sl_test_push(t, "t", 0, i, "k0", 2, buf, strlen(buf)), 0);
    }
    cr_assert_eq(sl_test_sink_pending(s), 20);
    while (sl_test_sink_pending(s))
        cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    cr_assert_eq(sl_test_committed(t, "t", 0), 20);
    sl_test_destroy(t);
}

Test(ordering, bad_modes_are_refused)
{
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_ordering(p, (sl_order_t)4), SL_EINVAL);
    cr_assert_eq(sl_pipeline_ordering(NULL, SL_ORDER_KEY), SL_EINVAL);
    sl_pipeline_destroy(p);
    const char *kv[] = {"pipeline.ordering", "by-key", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    p = sl_pipeline_new("p");
    sl_pipeline_sink(p, sl_test_sink_handle(s));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_test_start(t), SL_EINVAL, "an unknown pipeline.ordering stops the start");
    sl_test_destroy(t);
}

/* A map that asks for one retry of each event the first time it sees it,
 * except the first event of the run, which runs at once. */
static sl_result_t retry_once(sl_uow_t *u, void *opaque)
{
    int *calls = opaque;
    (*calls)++;
    const sl_record_t *rec = sl_uow_record(u);
    if (rec->offset > 0 && sl_uow_attempts(u) == 0)
        return SL_RETRY;
    return SL_OK;
}

/* Found while building the ordering modes: when a key's holder was done
 * and the first of its waiters retried at once (holding the key again),
 * only the next waiter was queued behind it and every later one was lost:
 * never run, never done, its partition's watermark stuck. In every mode
 * that holds keys, four events of one key, each retried once, all land. */
Test(ordering, waiters_behind_a_key_whose_next_holder_retries_are_not_lost)
{
    static const sl_order_t modes[] = {SL_ORDER_SINK, SL_ORDER_PARTITION, SL_ORDER_KEY};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        const char *kv[] = {"retry.backoff.ms", "10", "retry.backoff.max.ms", "10", NULL};
        sl_test_t *t = driver(kv);
        sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
        sl_pipeline_t *p = sl_pipeline_new("p");
        int calls = 0;
        cr_assert_eq(sl_pipeline_map(p, retry_once, &calls), 0);
        cr_assert_eq(sl_pipeline_ordering(p, modes[m]), 0);
        sl_pipeline_sink(p, sl_test_sink_handle(s));
        cr_assert_eq(sl_test_add_pipeline(t, p), 0);
        char buf[512];
        /* Event 0 is held at the sink (manual ack) while 1..4 arrive. */
        sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
        for (int i = 0; i < 5; i++) {
            event(buf, sizeof buf, i, 0, 0, i);
            cr_assert_eq(sl_test_push(t, "t", 0, i, "k0", 2, buf, strlen(buf)), 0);
        }
        /* Event 1 retries (its first try) and holds the key; 2..4 wait. */
        sl_test_sink_set_ack(s, SL_TEST_ACK_AUTO);
        cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
        for (int i = 0; i < 20 && sl_test_sink_count(s) < 5; i++)
            sl_test_advance(t, 20);
        cr_assert_eq(sl_test_sink_count(s), 5, "mode %d: every event of the key lands, got %zu",
                     (int)modes[m], sl_test_sink_count(s));
        for (size_t i = 0; i < 5; i++)
            cr_assert_eq(sl_test_sink_msg(s, i)->offset, (int64_t)i, "in order");
        cr_assert_eq(sl_test_committed(t, "t", 0), 5);
        sl_test_destroy(t);
    }
}

/* Each event becomes two children: one keeps the record's key, one gets
 * key "x<key>" from sl_emit(). */
static sl_result_t split(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)opaque;
    const sl_record_t *rec = sl_uow_record(u);
    ev_t e = parse(rec->value, rec->value_len);
    char v[96], k[16];
    int n = snprintf(v, sizeof v, "{\"thing\":{\"n\":%d,\"k\":%d,\"p\":%d,\"o\":%lld}}", e.n, e.k,
                     e.p, e.o);
    if (sl_emit(em, NULL, 0, v, (size_t)n))
        return SL_RETRY;
    int kl = snprintf(k, sizeof k, "xk%d", e.k);
    n = snprintf(v, sizeof v, "{\"thing\":{\"n\":%d,\"k\":%d,\"p\":%d,\"o\":%lld}}", e.n,
                 e.k + KEYS, e.p, e.o);
    return sl_emit(em, k, (size_t)kl, v, (size_t)n) ? SL_RETRY : SL_OK;
}

/* Key order holds for flat-map children too: each child key's events
 * complete in input order, one per key at the sink, under random and
 * failing acknowledgements; the watermark passes a record only when both
 * its children are done. */
Test(ordering, key_mode_orders_flat_map_children_by_their_own_keys)
{
    const char *kv[] = {"retry.max", "1000", "retry.backoff.ms", "1", "retry.backoff.max.ms",
                        "4",         NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *s = sl_test_sink_new(t, "async", 0, 0, 0);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("split");
    cr_assert_eq(sl_pipeline_flat_map(p, split, NULL), 0);
    cr_assert_eq(sl_pipeline_ordering(p, SL_ORDER_KEY), 0);
    sl_pipeline_sink(p, sl_test_sink_handle(s));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    enum { M = 300 };
    rs = 12345;
    char buf[512];
    for (int i = 0; i < M; i++) {
        int k = (int)rnd(KEYS);
        event(buf, sizeof buf, i, k, 0, i);
        char key[8];
        snprintf(key, sizeof key, "k%d", k);
        cr_assert_eq(sl_test_push(t, "t", 0, i, key, strlen(key), buf, strlen(buf)), 0);
    }
    int last[2 * KEYS], halves[M] = {0};
    for (int k = 0; k < 2 * KEYS; k++)
        last[k] = -1;
    size_t completed = 0, max_pending = 0;
    for (int steps = 0; completed < 2 * M; steps++) {
        cr_assert_lt(steps, 200 * M, "no progress: %zu of %d done", completed, 2 * M);
        size_t np = sl_test_sink_pending(s);
        if (np > max_pending)
            max_pending = np;
        int seen[2 * KEYS] = {0};
        for (size_t i = 0; i < np; i++) {
            size_t len;
            const char *v = sl_test_sink_pending_value(s, i, &len);
            ev_t e = parse(v, len);
            cr_assert_eq(seen[e.k]++, 0, "one uow per child key at the sink");
        }
        if (!np) {
            sl_test_advance(t, 5);
            continue;
        }
        size_t i = rnd((unsigned)np), len;
        const char *v = sl_test_sink_pending_value(s, i, &len);
        ev_t e = parse(v, len);
        int fail = rnd(8) == 0;
        if (!fail) {
            cr_assert_gt(e.n, last[e.k], "child key %d: event %d after %d", e.k, e.n, last[e.k]);
            last[e.k] = e.n;
            halves[e.n]++;
            completed++;
        }
        cr_assert_eq(sl_test_sink_ack(s, i, fail ? SL_EAGAIN : 0), 0);
        if (rnd(4) == 0)
            sl_test_advance(t, 1);
        int64_t low = 0;
        while (low < M && halves[low] == 2)
            low++;
        int64_t wm = sl_test_committed(t, "t", 0);
        cr_assert(wm == low || (wm == -1 && low == 0), "watermark %lld, lowest not done %lld",
                  (long long)wm, (long long)low);
    }
    cr_assert_eq(max_pending, 2 * KEYS, "every child key in flight at once");
    cr_assert_eq(sl_test_committed(t, "t", 0), M);
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* The bound on what a partition has in flight holds in key mode: with
 * inflight.partition.max.records 5 and 20 keys, the source is paused at 5
 * (the driver feeds only while it is not), at most 5 uows are at the sink,
 * and everything completes with each key in order. */
Test(ordering, key_mode_keeps_within_the_partition_bound)
{
    const char *kv[] = {"inflight.partition.max.records", "5", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *s = sl_test_sink_new(t, "async", 0, 0, 0);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("bounded");
    cr_assert_eq(sl_pipeline_ordering(p, SL_ORDER_KEY), 0);
    sl_pipeline_sink(p, sl_test_sink_handle(s));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    enum { M = 200, K = 20 };
    rs = 4242;
    int last[K], pauses = 0, fed = 0, completed = 0;
    size_t max_pending = 0;
    for (int k = 0; k < K; k++)
        last[k] = -1;
    char buf[512];
    while (completed < M) {
        while (fed < M && !sl_test_paused(t, "t", 0)) {
            int k = (int)rnd(K);
            event(buf, sizeof buf, fed, k, 0, fed);
            char key[8];
            snprintf(key, sizeof key, "k%d", k);
            cr_assert_eq(sl_test_push(t, "t", 0, fed, key, strlen(key), buf, strlen(buf)), 0);
            fed++;
        }
        if (fed < M)
            pauses++;
        size_t np = sl_test_sink_pending(s);
        cr_assert_gt(np, 0, "%d fed, %d done, nothing at the sink", fed, completed);
        if (np > max_pending)
            max_pending = np;
        size_t i = rnd((unsigned)np), len;
        const char *v = sl_test_sink_pending_value(s, i, &len);
        ev_t e = parse(v, len);
        cr_assert_gt(e.n, last[e.k]);
        last[e.k] = e.n;
        completed++;
        cr_assert_eq(sl_test_sink_ack(s, i, 0), 0);
    }
    cr_assert_leq(max_pending, 5, "at most the bound at the sink");
    cr_assert_gt(max_pending, 1, "keys ran side by side");
    cr_assert_gt(pauses, 0, "the partition was paused at its bound");
    cr_assert_eq(sl_test_committed(t, "t", 0), M);
    sl_test_destroy(t);
}
