/* Memory a uow owns: keys and values that point into a uow's own output
 * buffer, output buffers that must come back, and the in-flight bounds
 * counting what flat-map children and output buffers hold. */
#include "helpers.h"

#include <stdlib.h>

TestSuite(memory);

/* ---- keys and values in a uow's own buffer ---------------------------- */

/* Emits three children keyed "<key>-c<i>" with a short value. */
static sl_result_t split_keyed(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    for (int i = 0; i < 3; i++) {
        char key[64], val[32];
        int kn = snprintf(key, sizeof key, "%.*s-c%d", (int)k.len, k.ptr, i);
        int vn = snprintf(val, sizeof val, "{\"c\":%d}", i);
        if (sl_emit(em, key, (size_t)kn, val, (size_t)vn))
            return SL_RETRY;
    }
    return SL_OK;
}

enum { BIG = 2000 };

/* The README idiom: output keyed by the uow's own key, with an output larger
 * than the first buffer, so the buffer grows under the key it is given. The
 * value repeats the key so a wrong key or value shows. */
static sl_result_t big_with_own_key(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    char v[BIG];
    for (size_t i = 0; i < BIG; i++)
        v[i] = k.len ? k.ptr[i % k.len] : '.';
    return sl_uow_set_output(u, k.ptr, k.len, v, BIG) ? SL_RETRY : SL_OK;
}

/* A driver with one pipeline: the flat map @p split, the map @p map, then
 * (when @p batching is not NULL) that stage, sl_pipeline_compact or
 * sl_pipeline_group, of @p max_events and linger 10 ms; into the test sink
 * "out" (*@p s). */
static sl_test_t *split_then_map(sl_flat_map_fn split, sl_stage_fn map,
                                 int (*batching)(sl_pipeline_t *, const sl_batch_opts_t *),
                                 size_t max_events, sl_test_sink_t **s)
{
    sl_test_t *t = driver(NULL);
    *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_flat_map(p, split, NULL), 0);
    cr_assert_eq(sl_pipeline_map(p, map, NULL), 0);
    if (batching) {
        sl_batch_opts_t o = {.max_events = max_events, .max_bytes = 0, .linger_ms = 10};
        cr_assert_eq(batching(p, &o), 0);
    }
    add_with_sink(t, p, *s);
    return t;
}

Test(memory, output_keyed_by_own_key_survives_buffer_growth)
{
    sl_test_sink_t *s;
    sl_test_t *t = split_then_map(split_keyed, big_with_own_key, NULL, 0, &s);
    char b[256];
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "key%d", i);
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", key, i)), 0);
    }
    cr_assert_eq(sl_test_sink_count(s), 12);
    for (size_t i = 0; i < 12; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        char want[32];
        int wn = snprintf(want, sizeof want, "key%zu-c%zu", i / 3, i % 3);
        cr_assert_eq(m->key_len, (size_t)wn, "message %zu key %.*s", i, (int)m->key_len, m->key);
        cr_assert_eq(memcmp(m->key, want, (size_t)wn), 0, "message %zu key %.*s", i,
                     (int)m->key_len, m->key);
        cr_assert_eq(m->value_len, BIG);
        for (size_t j = 0; j < BIG; j++)
            cr_assert_eq(m->value[j], want[j % (size_t)wn], "message %zu value byte %zu", i, j);
    }
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* Emits @p n children valued "0", "1", ..., keyed by turns by @p keys
 * (@p nkeys of them). */
static sl_result_t emit_numbered(sl_emitter_t *em, int n, const char *const *keys, int nkeys)
{
    for (int i = 0; i < n; i++) {
        char val[16];
        int vn = snprintf(val, sizeof val, "%d", i);
        const char *k = keys[i % nkeys];
        if (sl_emit(em, k, strlen(k), val, (size_t)vn))
            return SL_RETRY;
    }
    return SL_OK;
}

/* Emits children keyed "k0", "k1", "k0", "k1". */
static sl_result_t split_two_keys(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)u;
    (void)opaque;
    static const char *const keys[] = {"k0", "k1"};
    return emit_numbered(em, 4, keys, 2);
}

/* Replaces the output value and keeps the ordering key (NULL output key). */
static sl_result_t wrap_value(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t v;
    sl_uow_output(u, NULL, &v);
    char out[64];
    int n = snprintf(out, sizeof out, "{\"v\":\"%.*s\"}", (int)v.len, v.ptr);
    return sl_uow_set_output(u, NULL, 0, out, (size_t)n) ? SL_RETRY : SL_OK;
}

Test(memory, new_output_leaves_a_childs_ordering_key_alone)
{
    sl_test_sink_t *s;
    sl_test_t *t = split_then_map(split_two_keys, wrap_value, sl_pipeline_compact, 100, &s);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "rk", "{\"type\":\"a\"}"), 0);
    sl_test_advance(t, 20);
    /* Compacted by the children's keys: the last of k0 and the last of k1. */
    cr_assert_eq(sl_test_sink_count(s), 2);
    cr_assert_str_eq(sl_test_sink_msg(s, 0)->value, "{\"v\":\"2\"}");
    cr_assert_str_eq(sl_test_sink_msg(s, 1)->value, "{\"v\":\"3\"}");
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* Grows the output past the first buffer (NULL key), then faults. */
static sl_result_t grow_then_fault(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    char v[BIG];
    memset(v, 'g', sizeof v);
    if (sl_uow_set_output(u, NULL, 0, v, sizeof v))
        return SL_RETRY;
    sl_uow_fail(u, SL_ESTAGE, "no");
    return SL_FAULT;
}

Test(memory, a_faulting_childs_event_carries_its_own_key)
{
    sl_test_sink_t *s;
    sl_test_t *t = split_then_map(split_keyed, grow_then_fault, NULL, 0, &s);
    char b[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "fk", 0)), 0);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 3);
    cr_assert_eq(sl_test_sink_count(s), 0);
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(f, i);
        char want[16];
        snprintf(want, sizeof want, "fk-c%zu", i);
        cr_assert_str_eq(m->key, want, "fault %zu is keyed by its child's key", i);
        json_t *v = json_loads(m->value, 0, NULL);
        cr_assert(v, "fault %zu is JSON", i);
        cr_assert_str_eq(json_string_value(json_object_get(v, "partitionKey")), want);
        json_decref(v);
    }
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* Three children of one key "k", values "0", "1", "2". */
static sl_result_t split_one_key(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)u;
    (void)opaque;
    static const char *const keys[] = {"k"};
    return emit_numbered(em, 3, keys, 1);
}

/* Sets a new output value (NULL key) and retries the first child once. */
static sl_result_t map_then_retry_first(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t v;
    sl_uow_output(u, NULL, &v);
    char first = v.len ? v.ptr[0] : 0;
    if (!memchr(v.ptr, '-', v.len)) {
        char out[32];
        int n = snprintf(out, sizeof out, "%c-mapped", first);
        if (sl_uow_set_output(u, NULL, 0, out, (size_t)n))
            return SL_RETRY;
    }
    return first == '0' && sl_uow_attempts(u) == 0 ? SL_RETRY : SL_OK;
}

Test(memory, a_retrying_child_holds_its_key_whatever_output_it_set)
{
    const char *kv[] = {"retry.backoff.ms", "1", "retry.backoff.max.ms", "2", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_flat_map(p, split_one_key, NULL), 0);
    cr_assert_eq(sl_pipeline_map(p, map_then_retry_first, NULL), 0);
    add_with_sink(t, p, s);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "rk", "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_sink_count(s), 0, "the later children of key k wait behind the first");
    sl_test_advance(t, 50);
    cr_assert_eq(sl_test_sink_count(s), 3);
    for (size_t i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "%zu-mapped", i);
        cr_assert_str_eq(sl_test_sink_msg(s, i)->value, want, "per-key order, message %zu", i);
    }
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* Second level: two children each, unkeyed, so they keep their parent's key. */
static sl_result_t split_unkeyed(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)u;
    (void)opaque;
    for (int i = 0; i < 2; i++)
        if (sl_emit(em, NULL, 0, i ? "second" : "first", i ? 6 : 5))
            return SL_RETRY;
    return SL_OK;
}

/* Output keyed by the ordering key, with the value built from the current
 * output value (in the uow's own buffer) and grown past the first buffer. */
static sl_result_t rekey_from_own_output(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u), v;
    sl_uow_output(u, NULL, &v);
    int rc = sl_uow_set_output(u, k.ptr, k.len, v.ptr, v.len);
    if (rc)
        return SL_RETRY;
    /* Now both the key and the value lie in the buffer: grow it. */
    sl_span_t ok, ov;
    sl_uow_output(u, &ok, &ov);
    char tail[600];
    memset(tail, '+', sizeof tail);
    size_t n = ov.len + sizeof tail;
    char *nv = malloc(n);
    cr_assert(nv);
    memcpy(nv, ov.ptr, ov.len);
    memcpy(nv + ov.len, tail, sizeof tail);
    /* key from the buffer, value from outside: the buffer must grow */
    rc = sl_uow_set_output(u, ok.ptr, ok.len, nv, n);
    free(nv);
    if (rc)
        return SL_RETRY;
    /* value from the buffer, shrunk to what it was */
    sl_uow_output(u, &ok, &ov);
    rc = sl_uow_set_output(u, k.ptr, k.len, ov.ptr, ov.len - sizeof tail);
    return rc ? SL_RETRY : SL_OK;
}

Test(memory, grandchildren_keep_their_key_after_the_parent_is_reused)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_flat_map(p, split_keyed, NULL), 0);
    cr_assert_eq(sl_pipeline_flat_map(p, split_unkeyed, NULL), 0);
    cr_assert_eq(sl_pipeline_map(p, rekey_from_own_output, NULL), 0);
    sl_batch_opts_t o = {.max_events = 1000, .max_bytes = 0, .linger_ms = 10};
    cr_assert_eq(sl_pipeline_group(p, &o), 0);
    add_with_sink(t, p, s);
    char b[256];
    /* Everything waits in the open batch while later records reuse the
     * pooled children of earlier ones. */
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "r%d", i);
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", key, i)), 0);
    }
    sl_test_advance(t, 20);
    /* Grouped by key in order of first appearance: 9 keys, 2 events each. */
    cr_assert_eq(sl_test_sink_count(s), 18);
    cr_assert_eq(sl_test_sink_writes(s), 9, "one write per key");
    for (size_t i = 0; i < 18; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        char want[32];
        snprintf(want, sizeof want, "r%zu-c%zu", i / 6, (i / 2) % 3);
        cr_assert_str_eq(m->key, want, "message %zu", i);
        cr_assert_str_eq(m->value, i % 2 ? "second" : "first", "message %zu", i);
    }
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* sl_uow_set_output_json keyed by the uow's own key, growing the buffer. */
static sl_result_t json_with_own_key(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    char pad[BIG + 1];
    memset(pad, 'x', BIG);
    pad[BIG] = 0;
    json_t *row = json_pack("{s:s#,s:s}", "k", k.ptr, (int)k.len, "pad", pad);
    if (!row)
        return SL_RETRY;
    int rc = sl_uow_set_output_json(u, k.ptr, k.len, row);
    json_decref(row);
    return rc ? SL_RETRY : SL_OK;
}

Test(memory, json_output_keyed_by_own_key_survives_buffer_growth)
{
    /* compacted by the ordering key after the output was set */
    sl_test_sink_t *s;
    sl_test_t *t = split_then_map(split_keyed, json_with_own_key, sl_pipeline_compact, 100, &s);
    char b[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "kk", 0)), 0);
    sl_test_advance(t, 20);
    cr_assert_eq(sl_test_sink_count(s), 3);
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        char want[32];
        snprintf(want, sizeof want, "kk-c%zu", i);
        cr_assert_str_eq(m->key, want);
        json_t *v = json_loads(m->value, 0, NULL);
        cr_assert(v, "message %zu is JSON", i);
        cr_assert_str_eq(json_string_value(json_object_get(v, "k")), want);
        cr_assert_eq(strlen(json_string_value(json_object_get(v, "pad"))), BIG);
        json_decref(v);
    }
    sl_test_destroy(t);
}

/* ---- output buffers come back; bounds count what uows hold ------------ */

enum { BIGOUT = 60 * 1024, NBIG = 200000 };

static char g_big[BIGOUT];

static sl_result_t to_big(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t k = sl_uow_key(u);
    return sl_uow_set_output(u, k.ptr, k.len, g_big, BIGOUT) ? SL_RETRY : SL_OK;
}

/* A source that obeys flow control and a sink that holds uows until told. */
struct harness {
    int paused;
    size_t released;
    sl_uow_t **held;
    size_t nheld, cap;
    size_t acked;
};

static void h_release(void *opaque, const sl_record_t *r, int done)
{
    (void)r;
    struct harness *h = opaque;
    cr_assert(done);
    h->released++;
}

static void h_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    (void)topic;
    struct harness *h = opaque;
    if (partition == SL_PARTITION_ALL)
        h->paused = pause;
}

static int h_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    struct harness *h = opaque;
    for (size_t i = 0; i < n; i++) {
        sl_span_t v;
        sl_uow_output(uows[i], NULL, &v);
        cr_assert_eq(v.len, BIGOUT);
        if (h->nheld == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 1024;
            h->held = realloc(h->held, h->cap * sizeof *h->held);
            cr_assert(h->held);
        }
        h->held[h->nheld++] = uows[i];
    }
    return 0;
}

static void h_ack_all(struct harness *h)
{
    /* Acks may resume the source; take the list first. */
    size_t n = h->nheld;
    h->nheld = 0;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(h->held[i], 0);
    h->acked += n;
}

/* 60 KB outputs from 300-byte inputs, 200,000 records, acknowledged only when
 * the engine pauses its source. The output buffers in flight count against
 * inflight.max.bytes (4 MiB) and pooled buffers are capped at the same
 * amount, so live memory stays under 2 x 4 MiB plus one record's output and
 * the engine's fixed structures: the bound is 12 MiB. Without those rules the
 * engine runs to inflight.max.records (2,000) with a 64 KiB buffer each and
 * keeps every one of them pooled: over 125 MiB. The measured peak is about
 * 4 MiB: the pooled buffers are those the next records reuse. */
Test(memory, large_outputs_stay_within_the_bytes_bound)
{
    const int64_t max_bytes = 4 << 20, bound = 12 << 20;
    memset(g_big, 'v', sizeof g_big);
    sl_conf_t *c = sl_conf_new();
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)max_bytes);
    sl_conf_set(c, "inflight.max.bytes", num, NULL, 0);
    sl_conf_set(c, "inflight.max.records", "2000", NULL, 0);
    sl_conf_set(c, "inflight.partition.max.records", "100000", NULL, 0);
    struct harness h = {0};
    sl_engine_t *e = sl_engine_new(c, NULL, 0);
    sl_conf_destroy(c);
    cr_assert(e);
    sl_sink_ops_t ops = {.name = "hold", .write = h_write};
    sl_sink_t *sink = sl_sink_new(&ops, &h);
    sl_sink_ops_t fops = {.name = "faults", .write = h_write};
    sl_sink_t *fs = sl_sink_new(&fops, &h);
    sl_source_ops_t src = {.release = h_release, .flow = h_flow};
    sl_engine_set_source(e, &src, &h);
    sl_engine_set_fault_sink(e, fs);
    sl_pipeline_t *p = sl_pipeline_new("big");
    sl_pipeline_map(p, to_big, NULL);
    sl_pipeline_sink(p, sink);
    cr_assert_eq(sl_engine_add_pipeline(e, p), 0);
    cr_assert_eq(sl_engine_start(e, NULL, 0), 0);

    /* 300-byte inputs */
    static char vals[64][301];
    static sl_record_t recs[64];
    for (int i = 0; i < 64; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        int n = snprintf(vals[i], sizeof vals[i],
                         "{\"type\":\"a\",\"partitionKey\":\"%s\",\"pad\":\"", key);
        memset(vals[i] + n, 'p', 298 - (size_t)n);
        memcpy(vals[i] + 298, "\"}", 3);
        cr_assert_eq(strlen(vals[i]), 300);
        recs[i] = (sl_record_t){.topic = "in", .value = vals[i], .value_len = 300};
    }
    sl_mem_stats_t m;
    sl_mem_stats(&m);
    if (m.bytes == 0)
        cr_skip_test("the allocator cannot report sizes here");
    int64_t base = m.bytes;
    sl_mem_reset_peak();
    size_t pauses = 0;
    for (int64_t i = 0; i < NBIG; i++) {
        if (h.paused) {
            pauses++;
            h_ack_all(&h);
            cr_assert_not(h.paused, "every ack resumes the source");
        }
        sl_record_t *r = &recs[i % 64];
        r->offset = i;
        cr_assert_eq(sl_engine_push(e, r), 0);
    }
    h_ack_all(&h);
    sl_mem_stats(&m);
    int64_t peak = m.peak_bytes - base;
    cr_log_info("peak %lld bytes over the start, %zu pauses", (long long)peak, pauses);
    cr_assert_eq(h.released, NBIG, "every record done");
    cr_assert_eq(h.acked, NBIG);
    cr_assert_gt(pauses, 0, "the bounds were reached");
    cr_assert_leq(peak, bound, "peak %lld bytes, bound %lld", (long long)peak, (long long)bound);
    /* Nothing in flight: what stays is the idle buffers, capped at
     * inflight.max.bytes, and the fixed structures (1 MiB is ample). */
    int64_t kept = m.bytes - base;
    cr_assert_leq(kept, max_bytes + (1 << 20), "%lld bytes kept after the run", (long long)kept);
    sl_engine_destroy(e);
    sl_sink_destroy(sink);
    sl_sink_destroy(fs);
    free(h.held);
}

/* Emits n children of 100 bytes each. */
static sl_result_t fan_out(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)u;
    size_t n = (size_t)(uintptr_t)opaque;
    char v[100];
    memset(v, 'c', sizeof v);
    for (size_t i = 0; i < n; i++)
        if (sl_emit(em, NULL, 0, v, sizeof v))
            return SL_RETRY;
    return SL_OK;
}

static sl_test_t *fan_driver(const char *const *kv, size_t children, sl_test_sink_t **out)
{
    sl_test_t *t = driver(kv);
    *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_test_sink_set_ack(*out, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("fan");
    cr_assert_eq(sl_pipeline_flat_map(p, fan_out, (void *)(uintptr_t)children), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(*out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

static void ack_all_pending(sl_test_sink_t *s)
{
    while (sl_test_sink_pending(s))
        cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
}

Test(memory, flat_map_children_count_against_the_records_bound)
{
    const char *kv[] = {"inflight.max.records", "5000", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = fan_driver(kv, 1000, &s);
    /* Each record holds itself and its 1,000 children: the fifth reaches 5,000. */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
        cr_assert_not(sl_test_paused(t, "in", 0), "%d records, %d uows", i + 1, (i + 1) * 1001);
    }
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert(sl_test_paused(t, "in", 0), "5 records holding 5,005 uows pause intake");
    cr_assert_geq(sl_engine_inflight(sl_test_engine(t)), 5000);
    ack_all_pending(s);
    cr_assert_not(sl_test_paused(t, "in", 0));
    cr_assert_eq(sl_engine_inflight(sl_test_engine(t)), 0);
    cr_assert_eq(sl_test_sink_count(s), 5000);
    cr_assert_eq(sl_test_committed(t, "in", 0), 5);
    sl_test_destroy(t);
}

Test(memory, flat_map_children_count_against_the_partition_bound)
{
    const char *kv[] = {"inflight.partition.max.records", "2500", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = fan_driver(kv, 1000, &s);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 1, "k", "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert_not(sl_test_paused(t, "in", 0), "2,002 uows in partition 0");
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert(sl_test_paused(t, "in", 0), "3,003 uows in partition 0");
    cr_assert_not(sl_test_paused(t, "in", 1), "1,001 uows in partition 1");
    cr_assert_eq(sl_engine_partition_inflight(sl_test_engine(t), "in", 0), 3003);
    ack_all_pending(s);
    cr_assert_not(sl_test_paused(t, "in", 0));
    cr_assert_eq(sl_engine_partition_inflight(sl_test_engine(t), "in", 0), 0);
    cr_assert_eq(sl_engine_forget_partition(sl_test_engine(t), "in", 0), 0);
    sl_test_destroy(t);
}

Test(memory, children_outputs_count_against_the_bytes_bound)
{
    /* 1,000 children of 100 bytes: each holds an output buffer of at least
     * 100 bytes, so one record holds over 100 KB against a 256 KB bound. */
    const char *kv[] = {"inflight.max.bytes", "262144", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = fan_driver(kv, 1000, &s);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}"), 0);
    cr_assert(sl_test_paused(t, "in", 0), "three records with over 300 KB of outputs");
    sl_stats_t st;
    sl_engine_stats(sl_test_engine(t), &st);
    cr_assert_geq(st.inflight_bytes, 300000);
    ack_all_pending(s);
    cr_assert_not(sl_test_paused(t, "in", 0));
    sl_engine_stats(sl_test_engine(t), &st);
    cr_assert_eq(st.inflight_bytes, 0);
    sl_test_destroy(t);
}
