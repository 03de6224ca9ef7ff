/* The event body: what it is (the whole event), and "out of memory" told
 * apart from "not JSON" (sl_uow_body_get()). */
#include "helpers.h"

TestSuite(body, .init = sl_mem_use_for_jansson);

typedef struct seen_s {
    int calls;
    int rc[4];
    int had_type; /* the body holds the envelope's "type" */
    int fail_first_parse;
} seen_t;

/* Records what sl_uow_body_get() says, and maps it to the stage result the
 * header recommends: retry on memory, fault on not JSON. */
static sl_result_t body_stage(sl_uow_t *u, void *opaque)
{
    seen_t *s = opaque;
    json_t *b = (json_t *)1;
    if (s->fail_first_parse && s->calls == 0)
        sl_mem_fail_at(1, 0); /* jansson's first allocation of the parse */
    int rc = sl_uow_body_get(u, &b);
    sl_mem_fail_at(0, 0);
    if (s->calls < 4)
        s->rc[s->calls] = rc;
    s->calls++;
    if (rc) {
        cr_assert_null(b, "no tree on error");
        /* (after a failed parse for memory, a second call may parse) */
        if (rc == SL_EJSON)
            cr_assert_null(sl_uow_body(u), "sl_uow_body() is NULL");
        sl_uow_fail(u, rc, "no body");
        return rc == SL_ENOMEM ? SL_RETRY : SL_FAULT;
    }
    cr_assert(b);
    cr_assert_eq(sl_uow_body(u), b, "the same cached tree");
    s->had_type = json_is_string(json_object_get(b, "type"));
    return SL_OK;
}

static sl_test_t *one_pipeline(seen_t *s, sl_test_sink_t **out)
{
    const char *kv[] = {"retry.backoff.ms", "1", "retry.backoff.max.ms", "1", NULL};
    sl_test_t *t = driver(kv);
    *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("body");
    cr_assert_eq(sl_pipeline_map(p, body_stage, s), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(*out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

/* Pushes one thing-created event (key "k") to "in". */
static void push_created(sl_test_t *t)
{
    char buf[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", ev(buf, sizeof buf, "thing-created", "k", 1)),
                 0);
}

Test(body, is_the_whole_event_envelope_fields_included)
{
    seen_t s = {0};
    sl_test_sink_t *out;
    sl_test_t *t = one_pipeline(&s, &out);
    push_created(t);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.rc[0], 0);
    cr_assert(s.had_type, "the body is the whole event, not only the entity");
    cr_assert_eq(sl_test_sink_count(out), 1);
    sl_test_destroy(t);
}

Test(body, not_json_is_SL_EJSON_and_a_fault_not_a_retry)
{
    seen_t s = {0};
    sl_test_sink_t *out;
    sl_test_t *t = one_pipeline(&s, &out);
    /* CloudEvents binary mode: the envelope is in the headers, the data is
     * plain text, which the engine accepts without a JSON check. */
    sl_header_t h[] = {
        {.name = "ce_specversion", .value = "1.0", .value_len = 3},
        {.name = "ce_type", .value = "thing-created", .value_len = 13},
        {.name = "ce_id", .value = "x1", .value_len = 2},
        {.name = "content-type", .value = "text/plain", .value_len = 10},
    };
    sl_record_t r = {.topic = "in",
                     .offset = -1,
                     .value = "hello, not JSON",
                     .value_len = 15,
                     .headers = h,
                     .header_count = 4};
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    cr_assert_eq(s.calls, 1, "not retried");
    cr_assert_eq(s.rc[0], SL_EJSON, "got %s", sl_err_name(s.rc[0]));
    cr_assert_eq(sl_test_sink_count(out), 0);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1, "a fault event");
    const sl_test_msg_t *m = sl_test_sink_msg(sl_test_faults(t), 0);
    cr_assert(strstr(m->value, "EJSON"), "the fault names the error: %s", m->value);
    cr_assert_eq(sl_test_committed(t, "in", 0), 1);
    sl_test_destroy(t);
}

Test(body, out_of_memory_is_SL_ENOMEM_and_the_retry_gets_the_body)
{
    seen_t s = {.fail_first_parse = 1};
    sl_test_sink_t *out;
    sl_test_t *t = one_pipeline(&s, &out);
    push_created(t);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.rc[0], SL_ENOMEM, "got %s", sl_err_name(s.rc[0]));
    sl_test_advance(t, 100); /* the retry's backoff */
    cr_assert_eq(s.calls, 2, "retried once");
    cr_assert_eq(s.rc[1], 0, "the retry parses: got %s", sl_err_name(s.rc[1]));
    cr_assert_eq(sl_test_sink_count(out), 1);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0, "memory is not a fault");
    sl_test_destroy(t);
}

static sl_result_t null_args(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *b = (json_t *)1;
    cr_assert_eq(sl_uow_body_get(u, NULL), SL_EINVAL);
    cr_assert_eq(sl_uow_body_get(NULL, &b), SL_EINVAL);
    cr_assert_null(b);
    return SL_OK;
}

Test(body, null_arguments_are_SL_EINVAL)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("n");
    sl_pipeline_map(p, null_args, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"type\":\"x\"}"), 0);
    cr_assert_eq(sl_test_sink_count(out), 1);
    sl_test_destroy(t);
}
