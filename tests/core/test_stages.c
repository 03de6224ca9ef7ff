/* Every per-uow stage, forks to many pipelines, the lazy body. */
#include "helpers.h"

#include <stdlib.h>

TestSuite(stages);

static sl_result_t keep_even(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    return sl_uow_record(u)->offset % 2 == 0 ? SL_OK : SL_SKIP;
}

Test(stages, filter_keeps_and_drops)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("even");
    cr_assert_eq(sl_pipeline_filter(p, keep_even, NULL), 0);
    add_with_sink(t, p, s);
    char b[256];
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "k", i)), 0);
    cr_assert_eq(sl_test_sink_count(s), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(sl_test_sink_msg(s, i)->offset, (int64_t)i * 2);
    sl_stats_t st;
    cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "even", &st), 0);
    cr_assert_eq(st.skipped, 5);
    cr_assert_eq(st.sunk, 5);
    cr_assert_eq(sl_test_committed(t, "in", 0), 10, "every record done, sunk or filtered");
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

struct types_case {
    sl_match_t match;
    const char *names[3];
    size_t count;
    const char *type;
    int pass;
};

Test(stages, filter_types_table)
{
    static const struct types_case cases[] = {
        {.match = SL_MATCH_EXACT,
         .names = {"thing-created"},
         .count = 1,
         .type = "thing-created",
         .pass = 1},
        {.match = SL_MATCH_EXACT,
         .names = {"thing-created"},
         .count = 1,
         .type = "thing-created-x",
         .pass = 0},
        {.match = SL_MATCH_EXACT,
         .names = {"thing-created"},
         .count = 1,
         .type = "thing-create",
         .pass = 0},
        {.match = SL_MATCH_EXACT,
         .names = {"a", "b", "thing-deleted"},
         .count = 3,
         .type = "thing-deleted",
         .pass = 1},
        {.match = SL_MATCH_PREFIX,
         .names = {"thing-"},
         .count = 1,
         .type = "thing-updated",
         .pass = 1},
        {.match = SL_MATCH_PREFIX, .names = {"thing-"}, .count = 1, .type = "thin", .pass = 0},
        {.match = SL_MATCH_PREFIX,
         .names = {"x-", "thing-"},
         .count = 2,
         .type = "thing-",
         .pass = 1},
        {.match = SL_MATCH_EXACT,
         .names = {"thing-\"q"},
         .count = 1,
         .type = "thing-\\\"q",
         .pass = 1},
        {.match = SL_MATCH_EXACT,
         .names = {"thingA"},
         .count = 1,
         .type = "thing\\u0041",
         .pass = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct types_case *c = &cases[i];
        sl_test_t *t = driver(NULL);
        sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
        sl_pipeline_t *p = sl_pipeline_new("types");
        cr_assert_eq(sl_pipeline_filter_types(p, c->match, c->names, c->count), 0);
        add_with_sink(t, p, s);
        char b[256];
        snprintf(b, sizeof b, "{\"type\":\"%s\",\"id\":\"1\"}", c->type);
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", b), 0);
        cr_assert_eq(sl_test_sink_count(s), (size_t)c->pass, "case %zu (%s)", i, c->type);
        cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
        sl_test_destroy(t);
    }
}

static sl_result_t to_view(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *body = sl_uow_body(u);
    if (!body)
        return SL_RETRY;
    json_t *thing = json_object_get(body, "thing");
    json_t *row = json_pack("{s:O,s:I}", "id", json_object_get(thing, "id"), "n",
                            json_integer_value(json_object_get(thing, "n")) * 10);
    if (!row)
        return SL_RETRY;
    sl_span_t k = sl_uow_key(u);
    int rc = sl_uow_set_output_json(u, k.ptr, k.len, row);
    json_decref(row);
    return rc ? SL_RETRY : SL_OK;
}

Test(stages, map_writes_output)
{
    sl_test_sink_t *s;
    sl_test_t *t = driver_out(NULL, "view", to_view, NULL, 0, &s);
    char b[256];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "k1", i)), 0);
    cr_assert_eq(sl_test_sink_count(s), 3);
    const sl_test_msg_t *m = sl_test_sink_msg(s, 2);
    cr_assert_str_eq(m->key, "k1");
    cr_assert_str_eq(m->value, "{\"id\":\"k1\",\"n\":20}");
    sl_test_destroy(t);
}

static sl_result_t explode(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)opaque;
    int64_t n = sl_uow_record(u)->offset % 4; /* 0..3 children */
    for (int64_t i = 0; i < n; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "c%lld", (long long)i);
        snprintf(v, sizeof v, "%lld/%lld", (long long)sl_uow_record(u)->offset, (long long)i);
        if (sl_emit(em, k, strlen(k), v, strlen(v)))
            return SL_RETRY;
    }
    return SL_OK;
}

Test(stages, flat_map_children_and_watermark)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("fm");
    cr_assert_eq(sl_pipeline_flat_map(p, explode, NULL), 0);
    add_with_sink(t, p, s);
    char b[256];
    for (int i = 0; i < 4; i++) /* offsets 0..3 -> 0+1+2+3 children */
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "k", i)), 0);
    cr_assert_eq(sl_test_sink_pending(s), 6);
    /* Offset 0 emitted nothing: done at once. Offset 1 is done only with its child. */
    cr_assert_eq(sl_test_committed(t, "in", 0), 1);
    size_t len;
    cr_assert_eq(memcmp(sl_test_sink_pending_value(s, 0, &len), "1/0", 3), 0);
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    /* Ack the last child of offset 3 first: the watermark must not move. */
    cr_assert_eq(sl_test_sink_ack(s, 4, 0), 0);
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    while (sl_test_sink_pending(s))
        cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    cr_assert_eq(sl_test_committed(t, "in", 0), 4);
    cr_assert_eq(sl_test_sink_count(s), 6);
    cr_assert_str_eq(sl_test_sink_msg(s, 1)->key, "c2", "the child acked second");
    cr_assert_str_eq(sl_test_sink_msg(s, 1)->value, "3/2");
    sl_test_destroy(t);
}

static sl_result_t count_tap(sl_uow_t *u, void *opaque)
{
    (void)u;
    ++*(int *)opaque;
    return SL_SKIP; /* a tap cannot drop */
}

Test(stages, tap_observes_without_dropping)
{
    int seen = 0;
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("tap");
    cr_assert_eq(sl_pipeline_tap(p, count_tap, &seen), 0);
    add_with_sink(t, p, s);
    char b[256];
    for (int i = 0; i < 7; i++)
        sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "k", i));
    cr_assert_eq(seen, 7);
    cr_assert_eq(sl_test_sink_count(s), 7);
    sl_test_destroy(t);
}

Test(stages, rate_limit_token_bucket)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("rl");
    cr_assert_eq(sl_pipeline_rate_limit(p, 0, 1), SL_ERANGE);
    cr_assert_eq(sl_pipeline_rate_limit(p, 10.0, 3), 0); /* 10/s, burst 3 */
    add_with_sink(t, p, s);
    char b[256];
    for (int i = 0; i < 13; i++)
        sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "a", "k", i));
    cr_assert_eq(sl_test_sink_count(s), 3, "the burst passes at once");
    sl_test_advance(t, 500);
    cr_assert_eq(sl_test_sink_count(s), 8, "5 more in 500 ms at 10/s");
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(s), 13);
    for (size_t i = 0; i < 13; i++)
        cr_assert_eq(sl_test_sink_msg(s, i)->offset, (int64_t)i, "order kept");
    sl_test_destroy(t);
}

static sl_result_t body_ptr(sl_uow_t *u, void *opaque)
{
    json_t **slot = opaque;
    json_t *b = sl_uow_body(u);
    cr_assert(b);
    cr_assert(json_is_object(b));
    if (*slot)
        cr_assert_eq(*slot, b, "the body is parsed once and shared");
    *slot = b;
    return SL_OK;
}

Test(stages, fork_to_every_pipeline_and_shared_body)
{
    json_t *seen = NULL;
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s1 = sl_test_sink_new(t, "s1", 0, 0, 0);
    sl_test_sink_t *s2 = sl_test_sink_new(t, "s2", 0, 0, 0);
    sl_pipeline_t *a = sl_pipeline_new("a"), *b = sl_pipeline_new("b"), *dup = sl_pipeline_new("a");
    sl_pipeline_map(a, body_ptr, &seen);
    sl_pipeline_sink(a, sl_test_sink_handle(s1));
    sl_pipeline_map(b, body_ptr, &seen);
    sl_pipeline_sink(b, sl_test_sink_handle(s2));
    sl_pipeline_sink(dup, sl_test_sink_handle(s2));
    cr_assert_eq(sl_test_add_pipeline(t, a), 0);
    cr_assert_eq(sl_test_add_pipeline(t, b), 0);
    cr_assert_eq(sl_test_add_pipeline(t, dup), SL_EEXIST);
    sl_pipeline_destroy(dup);
    char buf[256];
    sl_test_push_str(t, "in", 0, NULL, ev(buf, sizeof buf, "a", "k", 1));
    seen = NULL;
    sl_test_push_str(t, "in", 0, NULL, ev(buf, sizeof buf, "a", "k", 2));
    cr_assert_eq(sl_test_sink_count(s1), 2);
    cr_assert_eq(sl_test_sink_count(s2), 2);
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    sl_test_destroy(t);
}

Test(stages, builder_rejects_misuse)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    cr_assert_null(sl_pipeline_new(NULL));
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_filter(p, NULL, NULL), SL_EINVAL);
    cr_assert_eq(sl_test_add_pipeline(t, p), SL_EINVAL, "no sink yet");
    cr_assert_eq(sl_pipeline_batch(p, NULL), 0);
    cr_assert_eq(sl_pipeline_map(p, keep_even, NULL), SL_ESTATE, "no stage after the collector");
    cr_assert_eq(sl_pipeline_compact(p, NULL), SL_ESTATE, "one collector");
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(s)), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(s)), SL_ESTATE);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"type\":\"a\"}"), 0);
    cr_assert_eq(sl_test_push(t, "in", 0, 0, NULL, 0, "{}", 2), SL_EINVAL, "offset must increase");
    sl_test_destroy(t);
}

/* The message a failed builder or add call leaves on the pipeline contains
 * @p want (and names the pipeline). */
static void assert_says(const sl_pipeline_t *p, const char *want)
{
    const char *msg = sl_pipeline_error(p);
    cr_assert_not_null(msg);
    cr_assert_not_null(strstr(msg, want), "message \"%s\" does not say \"%s\"", msg, want);
    cr_assert_not_null(strstr(msg, "pipeline \"orders\""), "message \"%s\" names no pipeline", msg);
}

Test(stages, builder_errors_leave_a_message)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("orders");
    cr_assert_str_eq(sl_pipeline_error(p), "", "no call has failed yet");
    cr_assert_not_null(sl_pipeline_error(NULL));

    cr_assert_eq(sl_test_add_pipeline(t, p), SL_EINVAL);
    assert_says(p, "has no sink: call sl_pipeline_sink() before adding it");
    cr_assert_eq(sl_pipeline_map(p, NULL, NULL), SL_EINVAL);
    assert_says(p, "the map function is NULL");
    cr_assert_eq(sl_pipeline_flat_map(p, NULL, NULL), SL_EINVAL);
    assert_says(p, "the flat_map function is NULL");
    const char *types[] = {"order-", NULL};
    cr_assert_eq(sl_pipeline_filter_types(p, SL_MATCH_PREFIX, types, 0), SL_EINVAL);
    assert_says(p, "filter_types needs at least one type name");
    cr_assert_eq(sl_pipeline_filter_types(p, SL_MATCH_PREFIX, types, 2), SL_EINVAL);
    assert_says(p, "type name 1 is NULL");
    cr_assert_eq(sl_pipeline_filter_types(p, (sl_match_t)7, types, 1), SL_EINVAL);
    assert_says(p, "match 7");
    cr_assert_eq(sl_pipeline_rate_limit(p, 0, 1), SL_ERANGE);
    assert_says(p, "rate_limit needs per_second > 0 and burst > 0");
    sl_batch_opts_t bad = {0, 0, -5};
    cr_assert_eq(sl_pipeline_batch(p, &bad), SL_ERANGE);
    assert_says(p, "batch: linger_ms -5 is below -1");
    cr_assert_eq(sl_pipeline_sink(p, NULL), SL_EINVAL);
    assert_says(p, "the sink is NULL");

    /* A call that succeeds keeps the last message: one check at the end. */
    cr_assert_eq(sl_pipeline_batch(p, NULL), 0);
    assert_says(p, "the sink is NULL");
    cr_assert_eq(sl_pipeline_tap(p, keep_even, NULL), SL_ESTATE);
    assert_says(p, "cannot add a tap stage: a collector (batch, compact or group) is set");
    cr_assert_eq(sl_pipeline_group(p, NULL), SL_ESTATE);
    assert_says(p, "cannot set a group collector");
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(s)), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(s)), SL_ESTATE);
    assert_says(p, "cannot set the sink: it is already set");

    /* Two pipelines of one name: the second stays the caller's, with why. */
    sl_pipeline_t *twin = sl_pipeline_new("orders");
    cr_assert_eq(sl_pipeline_sink(twin, sl_test_sink_handle(s)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_test_add_pipeline(t, twin), SL_EEXIST);
    assert_says(twin, "a pipeline of that name is already added");
    cr_assert_eq(sl_test_add_pipeline(t, p), SL_ESTATE);
    assert_says(p, "is already added to an engine");
    cr_assert_eq(sl_pipeline_filter(p, keep_even, NULL), SL_ESTATE);
    assert_says(p, "already added to an engine");
    cr_assert_eq(sl_test_add_pipeline(NULL, twin), SL_EINVAL);
    assert_says(twin, "no engine (NULL)");
    sl_pipeline_destroy(twin);
    sl_test_destroy(t);
}

Test(stages, processor_add_pipeline_leaves_a_message)
{
    char err[256];
    sl_conf_t *conf = sl_conf_new();
    cr_assert_eq(sl_conf_set(conf, "processor.signals", "false", err, sizeof err), 0, "%s", err);
    sl_processor_t *proc = sl_processor_new(conf, err, sizeof err);
    sl_conf_destroy(conf);
    cr_assert_not_null(proc, "%s", err);
    sl_pipeline_t *p = sl_pipeline_new("orders");
    cr_assert_eq(sl_processor_add_pipeline(proc, p), SL_EINVAL);
    assert_says(p, "has no sink: call sl_pipeline_sink() before adding it");
    cr_assert_eq(sl_processor_add_pipeline(NULL, p), SL_EINVAL);
    assert_says(p, "no processor (NULL)");
    sl_pipeline_destroy(p);
    sl_processor_destroy(proc);
}

Test(stages, watermark_under_out_of_order_acks)
{
    enum { N = 300 };
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    sl_pipeline_t *p = sl_pipeline_new("p");
    add_with_sink(t, p, s);
    char b[256];
    for (int i = 0; i < N; i++) { /* offsets with gaps: 0, 3, 6, ... */
        ev(b, sizeof b, "a", "k", i);
        cr_assert_eq(sl_test_push(t, "in", 0, i * 3, "k", 1, b, strlen(b)), 0);
    }
    static int done[N];
    srand(11);
    int low = 0;
    while (sl_test_sink_pending(s)) {
        size_t n = sl_test_sink_pending(s), pick = (size_t)rand() % n;
        size_t len;
        const char *v = sl_test_sink_pending_value(s, pick, &len);
        int idx = atoi(strstr(v, "\"e-") + 3);
        cr_assert_eq(sl_test_sink_ack(s, pick, 0), 0);
        done[idx] = 1;
        while (low < N && done[low])
            low++;
        int64_t want = low ? (int64_t)(low - 1) * 3 + 1 : -1;
        cr_assert_eq(sl_test_committed(t, "in", 0), want, "after acking e-%d", idx);
    }
    cr_assert_eq(sl_test_committed(t, "in", 0), (N - 1) * 3 + 1);
    sl_test_destroy(t);
}
