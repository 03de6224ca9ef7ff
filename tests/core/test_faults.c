/* Malformed input becomes a fault event carrying the original record, and
 * the stream goes on; the fault sink failing pauses intake, never drops. */
#include "helpers.h"

#include <stdlib.h>

TestSuite(faults);

static size_t b64dec(const char *in, unsigned char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        cr_assert(p, "base64 alphabet");
        v = (v << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    return n;
}

static sl_test_t *passthrough(sl_test_sink_t **out, const char *const *kv)
{
    sl_test_t *t = driver(kv);
    *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("pass");
    sl_pipeline_sink(p, sl_test_sink_handle(*out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

struct bad {
    const char *name;
    unsigned char *value;
    size_t len;
    const char *err;
};

Test(faults, malformed_inputs_become_faults_and_the_stream_continues)
{
    enum { DEEP = 10000, BIG = 10 * 1024 * 1024 };
    const char *kv[] = {"record.max.bytes", "1048576", "fault.value.max.bytes", "4096", NULL};
    unsigned char *deep = malloc(DEEP * 2 + 64), *big = malloc(BIG);
    size_t dn = 0;
    dn += (size_t)sprintf((char *)deep, "{\"type\":\"a\",\"x\":");
    for (int i = 0; i < DEEP; i++)
        deep[dn++] = '[';
    for (int i = 0; i < DEEP; i++)
        deep[dn++] = ']';
    deep[dn++] = '}';
    memset(big, ' ', BIG);
    memcpy(big, "{\"type\":\"a\",\"pad\":\"", 19);
    memcpy(big + BIG - 2, "\"}", 2);
    unsigned char binary[64];
    for (size_t i = 0; i < sizeof binary; i++)
        binary[i] = (unsigned char)(i * 37 + 200);
    struct bad cases[] = {
        {"invalid JSON", (unsigned char *)"{\"type\":\"a\",", 12, "SL_EJSON"},
        {"bad UTF-8", (unsigned char *)"{\"type\":\"a\xff\"}", 13, "SL_EJSON"},
        {"overlong UTF-8", (unsigned char *)"{\"type\":\"\xc0\xaf\"}", 13, "SL_EJSON"},
        {"missing type", (unsigned char *)"{\"id\":\"1\"}", 10, "SL_ENOTYPE"},
        {"numeric type", (unsigned char *)"{\"type\":7}", 10, "SL_ENOTYPE"},
        {"null type", (unsigned char *)"{\"type\":null}", 13, "SL_ENOTYPE"},
        {"array", (unsigned char *)"[1,2]", 5, "SL_ENOTEVENT"},
        {"empty", (unsigned char *)"", 0, "SL_EJSON"},
        {"10 MB value", big, BIG, "SL_ETOOBIG"},
        {"10,000-deep nesting", deep, dn, "SL_EDEPTH"},
        {"binary", binary, sizeof binary, "SL_EJSON"},
        {"bad timestamp", (unsigned char *)"{\"type\":\"a\",\"timestamp\":true}", 29, "SL_EFIELD"},
    };
    size_t nc = sizeof cases / sizeof *cases;
    sl_test_sink_t *out;
    sl_test_t *t = passthrough(&out, kv);
    for (size_t i = 0; i < nc; i++) {
        cr_assert_eq(sl_test_push(t, "in", 3, -1, "key-x", 5, cases[i].value, cases[i].len), 0);
        cr_assert_eq(sl_test_push_str(t, "in", 3, "good", "{\"type\":\"ok\"}"), 0);
    }
    cr_assert_eq(sl_test_sink_count(out), nc, "every good event is delivered");
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), nc, "each bad one faults exactly once");
    for (size_t i = 0; i < nc; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(f, i);
        json_error_t je;
        json_t *j = json_loadb(m->value, m->value_len, 0, &je);
        cr_assert(j, "%s: fault is JSON: %s", cases[i].name, je.text);
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "fault");
        json_t *err = json_object_get(j, "err");
        cr_assert_str_eq(json_string_value(json_object_get(err, "name")), cases[i].err, "%s",
                         cases[i].name);
        cr_assert_gt(strlen(json_string_value(json_object_get(err, "message"))), 0);
        json_t *rec = json_object_get(json_object_get(j, "uow"), "record");
        cr_assert_eq(json_integer_value(json_object_get(rec, "partition")), 3);
        cr_assert_eq(json_integer_value(json_object_get(rec, "offset")), (json_int_t)(2 * i));
        cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "in");
        cr_assert_str_eq(json_string_value(json_object_get(rec, "key")), "a2V5LXg=");
        cr_assert_eq(json_integer_value(json_object_get(rec, "valueSize")),
                     (json_int_t)cases[i].len);
        const char *b64 = json_string_value(json_object_get(rec, "value"));
        unsigned char *dec = malloc(cases[i].len + 4);
        size_t dl = b64dec(b64, dec);
        int trunc = json_is_true(json_object_get(rec, "truncated"));
        cr_assert_eq(dl, trunc ? 4096 : cases[i].len, "%s", cases[i].name);
        cr_assert_eq(memcmp(dec, cases[i].value, dl), 0, "%s: original bytes", cases[i].name);
        cr_assert_eq(trunc, cases[i].len > 4096);
        free(dec);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "tags"), "pipeline")),
                         "-");
        json_decref(j);
    }
    cr_assert_eq(sl_test_committed(t, "in", 3), (int64_t)(2 * nc));
    sl_stats_t st;
    sl_engine_stats(sl_test_engine(t), &st);
    cr_assert_eq(st.decode_faults, nc);
    cr_assert_eq(st.faults, nc);
    cr_assert_eq(st.records_done, 2 * nc);
    sl_test_destroy(t);
    free(deep);
    free(big);
}

static sl_result_t reject_odd(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    if (sl_uow_record(u)->offset % 2) {
        sl_uow_fail(u, SL_ESTAGE, "odd offsets are not allowed");
        return SL_FAULT;
    }
    return SL_OK;
}

Test(faults, stage_fault_carries_event_and_headers)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("strict");
    sl_pipeline_map(p, reject_odd, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    sl_test_add_pipeline(t, p);
    char b[256];
    sl_header_t h[] = {{.name = "traceparent", .value = "00-ab", .value_len = 5}};
    for (int i = 0; i < 4; i++) {
        sl_record_t r = {.topic = "things",
                         .partition = 1,
                         .offset = -1,
                         .key = "k",
                         .key_len = 1,
                         .value = ev(b, sizeof b, "thing-created", "p1", i),
                         .headers = h,
                         .header_count = 1};
        r.value_len = strlen(r.value);
        cr_assert_eq(sl_test_push_record(t, &r), 0);
    }
    cr_assert_eq(sl_test_sink_count(out), 2);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 2);
    const sl_test_msg_t *m = sl_test_sink_msg(f, 0);
    cr_assert_str_eq(m->key, "p1", "the fault is keyed like its event");
    json_t *j = json_loadb(m->value, m->value_len, 0, NULL);
    cr_assert(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "partitionKey")), "p1");
    json_t *tags = json_object_get(j, "tags");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "pipeline")), "strict");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "stage")), "map");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "source")), "things");
    json_t *err = json_object_get(j, "err");
    cr_assert_str_eq(json_string_value(json_object_get(err, "message")),
                     "odd offsets are not allowed");
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), SL_ESTAGE);
    json_t *event = json_object_get(json_object_get(j, "uow"), "event");
    cr_assert_str_eq(json_string_value(json_object_get(event, "id")), "e-1");
    json_t *hdr = json_array_get(
        json_object_get(json_object_get(json_object_get(j, "uow"), "record"), "headers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "name")), "traceparent");
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "value")), "MDAtYWI=");
    const char *id = json_string_value(json_object_get(j, "id"));
    cr_assert_eq(strlen(id), 22);
    cr_assert_eq(strncmp(id, "fault-", 6), 0);
    char first_id[32];
    strcpy(first_id, id);
    json_decref(j);
    sl_test_destroy(t);

    /* Replaying the same record yields the same fault id. */
    t = driver(NULL);
    out = sl_test_sink_new(t, "out", 0, 0, 0);
    p = sl_pipeline_new("strict");
    sl_pipeline_map(p, reject_odd, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    sl_test_add_pipeline(t, p);
    sl_record_t r = {.topic = "things",
                     .partition = 1,
                     .offset = 1,
                     .key = "k",
                     .key_len = 1,
                     .value = ev(b, sizeof b, "thing-created", "p1", 1)};
    r.value_len = strlen(r.value);
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    j = json_loads(sl_test_sink_msg(sl_test_faults(t), 0)->value, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "id")), first_id);
    json_decref(j);
    sl_test_destroy(t);
}

Test(faults, failing_fault_sink_pauses_and_never_drops)
{
    const char *kv[] = {"retry.backoff.ms", "10", "retry.backoff.max.ms", "50", NULL};
    sl_test_sink_t *out;
    sl_test_t *t = passthrough(&out, kv);
    sl_test_sink_t *f = sl_test_faults(t);
    sl_test_sink_fail_next(f, 20, SL_EIO);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "not json"), 0);
    cr_assert(sl_test_paused(t, "in", 0), "intake pauses while faults cannot be written");
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"ok\"}"), 0);
    cr_assert_eq(sl_test_sink_count(out), 1, "what was read still flows");
    cr_assert_eq(sl_test_committed(t, "in", 0), -1, "the unwritten fault holds the watermark");
    sl_test_advance(t, 2000);
    cr_assert_eq(sl_test_sink_count(f), 1, "retried until written, far beyond retry.max");
    cr_assert_not(sl_test_paused(t, "in", 0));
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    sl_test_destroy(t);
}

Test(faults, cloudevents_binary_mode_reads_headers)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("ce");
    const char *types[] = {"thing-created"};
    sl_pipeline_filter_types(p, SL_MATCH_EXACT, types, 1);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    sl_test_add_pipeline(t, p);
    sl_header_t h[] = {
        {.name = "ce_specversion", .value = "1.0", .value_len = 3},
        {.name = "ce_type", .value = "thing-created", .value_len = 13},
        {.name = "ce_id", .value = "x1", .value_len = 2},
        {.name = "ce_time", .value = "2026-01-01T00:00:01Z", .value_len = 20},
        {.name = "content-type", .value = "application/json", .value_len = 16},
    };
    sl_record_t r = {.topic = "in",
                     .offset = -1,
                     .value = "{\"id\":\"t1\"}",
                     .value_len = 11,
                     .headers = h,
                     .header_count = 5};
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    h[1].value = "thing-deleted";
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    r.value = "{bad";
    r.value_len = 4;
    h[1].value = "thing-created";
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    cr_assert_eq(sl_test_sink_count(out), 1);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1, "invalid JSON data is still a fault");
    sl_test_destroy(t);
}
