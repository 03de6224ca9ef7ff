/* Malformed input becomes a fault event carrying the original record, and
 * the stream goes on; the fault sink failing pauses intake, never drops. */
#include "../test_util.h"
#include "helpers.h"

#include "core/sha256.h"

#include <stdlib.h>

TestSuite(faults);

/* What a fault takes of its bound: key, value and headers (each its name,
 * its value and 8 bytes of framing, as lib/core/fault.c counts them). */
static size_t hdr_bytes(const sl_header_t *h, size_t n)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++)
        b += strlen(h[i].name) + h[i].value_len + 8;
    return b;
}

static size_t msg_size(const sl_test_msg_t *m)
{
    return m->key_len + m->value_len + hdr_bytes(m->headers, m->header_count);
}

static sl_test_t *passthrough(sl_test_sink_t **out, const char *const *kv)
{
    sl_test_t *t = driver_out(kv, "pass", NULL, NULL, 0, out);
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
        size_t dl = tu_b64dec(b64, dec);
        int trunc = json_is_true(json_object_get(rec, "truncated"));
        cr_assert_eq(dl, trunc ? 4096 : cases[i].len, "%s", cases[i].name);
        cr_assert_eq(memcmp(dec, cases[i].value, dl), 0, "%s: original bytes", cases[i].name);
        cr_assert_eq(trunc, cases[i].len > 4096);
        json_t *tr = json_object_get(json_object_get(j, "uow"), "truncated");
        if (trunc) {
            /* Cut at fault.value.max.bytes: marked, with what identifies the whole. */
            char want[65];
            sl__sha256_hex(cases[i].value, cases[i].len, want);
            cr_assert(json_is_true(json_object_get(tr, "value")), "%s", cases[i].name);
            cr_assert_eq(json_integer_value(json_object_get(tr, "originalSize")),
                         (json_int_t)cases[i].len);
            cr_assert_eq(json_integer_value(json_object_get(tr, "keptSize")), 4096);
            cr_assert_str_eq(json_string_value(json_object_get(tr, "sha256")), want);
        } else {
            cr_assert_null(tr, "%s: nothing left out, nothing marked", cases[i].name);
        }
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

/* Pushes @p n events of @p type (ids 0 to n - 1, partition key @p pkey) to
 * @p topic / @p partition, each with key "k" and a traceparent header. */
static void push_traced(sl_test_t *t, const char *topic, int32_t partition, const char *type,
                        const char *pkey, int n)
{
    char b[256];
    sl_header_t h[] = {{.name = "traceparent", .value = "00-ab", .value_len = 5}};
    for (int i = 0; i < n; i++) {
        sl_record_t r = {.topic = topic,
                         .partition = partition,
                         .offset = -1,
                         .key = "k",
                         .key_len = 1,
                         .value = ev(b, sizeof b, type, pkey, i),
                         .headers = h,
                         .header_count = 1};
        r.value_len = strlen(r.value);
        cr_assert_eq(sl_test_push_record(t, &r), 0);
    }
}

Test(faults, stage_fault_carries_event_and_headers)
{
    sl_test_sink_t *out;
    sl_test_t *t = driver_out(NULL, "strict", reject_odd, NULL, 0, &out);
    push_traced(t, "things", 1, "thing-created", "p1", 4);
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
    t = driver_out(NULL, "strict", reject_odd, NULL, 0, &out);
    char b[256];
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
    add_with_sink(t, p, out);
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

/* ---- a fault event fits its sink ---------------------------------------- */

Test(faults, sha256_nist_vectors)
{
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
         "mnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        sl__sha256_hex(v[i].msg, strlen(v[i].msg), hex);
        cr_assert_str_eq(hex, v[i].hex, "\"%s\"", v[i].msg);
    }
    /* One million 'a', in one call and in uneven pieces across blocks. */
    enum { M = 1000000 };
    char *a = malloc(M);
    memset(a, 'a', M);
    static const char million[] =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    sl__sha256_hex(a, M, hex);
    cr_assert_str_eq(hex, million);
    static const size_t steps[] = {1, 7, 55, 56, 63, 64, 65, 1000};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        sl__sha256_t h;
        sl__sha256_init(&h);
        for (size_t off = 0; off < M; off += steps[k])
            sl__sha256_update(&h, a + off, M - off < steps[k] ? M - off : steps[k]);
        unsigned char d[SL__SHA256_LEN];
        sl__sha256_final(&h, d);
        for (int i = 0; i < SL__SHA256_LEN; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        cr_assert_str_eq(hex, million, "pieces of %zu", steps[k]);
    }
    free(a);
}

static sl_result_t reject_all(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_uow_fail(u, SL_ESTAGE, "rejected by the test");
    return SL_FAULT;
}

/* An @p n-byte event (n >= 64) with @p c as padding. */
static char *padded(size_t n, char c)
{
    char *v = malloc(n + 1);
    int h = snprintf(v, n + 1, "{\"id\":\"p\",\"type\":\"t\",\"pad\":\"");
    memset(v + h, c, n - (size_t)h - 2);
    memcpy(v + n - 2, "\"}", 3);
    return v;
}

static json_t *fault_json(const sl_test_msg_t *m)
{
    json_error_t je;
    json_t *j = json_loadb(m->value, m->value_len, 0, &je);
    cr_assert(j, "fault is JSON: %s", je.text);
    return j;
}

static json_t *uow_of(json_t *j)
{
    return json_object_get(j, "uow");
}

static json_t *rec_of(json_t *j)
{
    return json_object_get(uow_of(j), "record");
}

static json_t *marks_of(json_t *j)
{
    return json_object_get(uow_of(j), "truncated");
}

static int mark(json_t *j, const char *what)
{
    return json_is_true(json_object_get(marks_of(j), what));
}

static size_t b64len(json_t *rec)
{
    const char *b = json_string_value(json_object_get(rec, "value"));
    size_t n = strlen(b);
    return n / 4 * 3 - (n && b[n - 1] == '=') - (n > 1 && b[n - 2] == '=');
}

Test(faults, trimming_order_fits_a_small_fault_limit)
{
    /* Of the bound, the sluice.fault.* headers take about 500 bytes. */
    enum { LIMIT = 3400 };
    const char *kv[] = {"fault.max.bytes", "3400", NULL};
    sl_test_sink_t *out;
    sl_test_t *t = driver_out(kv, "strict", reject_all, NULL, 0, &out);
    char *small = padded(100, 's'), *mid = padded(1200, 'm'), *big = padded(6000, 'b');
    char *key = malloc(5000), *blob = malloc(5000);
    memset(key, 'k', 5000);
    memset(blob, 'h', 5000);
    sl_header_t h[] = {{.name = "trace", .value = "t1", .value_len = 2},
                       {.name = "blob", .value = blob, .value_len = 5000}};
    sl_record_t r[] = {
        /* 0: fits whole, the decoded copy included */
        {.key = "k0",
         .key_len = 2,
         .value = small,
         .value_len = 100,
         .headers = h,
         .header_count = 1},
        /* 1: fits once the decoded copy is left out */
        {.key = "k1",
         .key_len = 2,
         .value = mid,
         .value_len = 1200,
         .headers = h,
         .header_count = 1},
        /* 2: and the value cut to what fits */
        {.key = "k2",
         .key_len = 2,
         .value = big,
         .value_len = 6000,
         .headers = h,
         .header_count = 1},
        /* 3: a key that cannot fit: minimal, the fault's key cut to 256 bytes */
        {.key = key,
         .key_len = 5000,
         .value = mid,
         .value_len = 1200,
         .headers = h,
         .header_count = 1},
        /* 4: headers that cannot fit, no key, not JSON: minimal, keyed by its id */
        {.value = "{bad", .value_len = 4, .headers = h, .header_count = 2},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        r[i].topic = "in";
        r[i].partition = 0;
        r[i].offset = -1;
        cr_assert_eq(sl_test_push_record(t, &r[i]), 0);
    }
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", "{\"type\":\"after\"}"), 0);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 6, "one fault each, none stuck");
    cr_assert_eq(sl_test_committed(t, "in", 0), 6, "the stream went on past all of them");
    json_t *j[6];
    for (size_t i = 0; i < 6; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(f, i);
        cr_assert_leq(msg_size(m), LIMIT, "fault %zu: %zu + %zu bytes and headers", i, m->key_len,
                      m->value_len);
        j[i] = fault_json(m);
        json_t *rec = rec_of(j[i]);
        cr_assert_eq(json_integer_value(json_object_get(rec, "offset")), (json_int_t)i,
                     "fault %zu keeps its coordinates", i);
        cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "in");
        json_t *err = json_object_get(j[i], "err");
        if (i == 4)
            cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_EJSON");
        else
            cr_assert_str_eq(json_string_value(json_object_get(err, "message")),
                             "rejected by the test");
        if (i >= 1 && i < 5) {
            char want[65];
            sl__sha256_hex(r[i].value, r[i].value_len, want);
            cr_assert_str_eq(json_string_value(json_object_get(marks_of(j[i]), "sha256")), want,
                             "fault %zu", i);
            cr_assert_eq(json_integer_value(json_object_get(marks_of(j[i]), "originalSize")),
                         (json_int_t)r[i].value_len);
        }
    }
    /* 0: nothing left out */
    cr_assert_null(marks_of(j[0]));
    cr_assert(json_is_object(json_object_get(uow_of(j[0]), "event")));
    /* 1: only the decoded copy */
    cr_assert_null(json_object_get(uow_of(j[1]), "event"));
    cr_assert(mark(j[1], "event") && !mark(j[1], "value") && !mark(j[1], "key") &&
              !mark(j[1], "headers") && !mark(j[1], "partitionKey"));
    cr_assert_eq(b64len(rec_of(j[1])), 1200);
    /* 2: the copy, then the value beyond what fits; the rest kept */
    cr_assert(mark(j[2], "event") && mark(j[2], "value") && !mark(j[2], "key") &&
              !mark(j[2], "headers"));
    cr_assert(json_is_true(json_object_get(rec_of(j[2]), "truncated")));
    size_t kept = b64len(rec_of(j[2]));
    cr_assert_eq(json_integer_value(json_object_get(marks_of(j[2]), "keptSize")), (json_int_t)kept);
    cr_assert(kept > 0 && kept < 6000 && kept % 3 == 0);
    const sl_test_msg_t *m2 = sl_test_sink_msg(f, 2);
    cr_assert_geq(msg_size(m2), LIMIT - 30, "the value fills what room there is");
    cr_assert_str_eq(json_string_value(json_object_get(rec_of(j[2]), "key")), "azI=");
    cr_assert_eq(json_array_size(json_object_get(rec_of(j[2]), "headers")), 1);
    /* 3: minimal; the fault's key cut to 256 bytes, the record key left out */
    const sl_test_msg_t *m3 = sl_test_sink_msg(f, 3);
    cr_assert_eq(m3->key_len, 256);
    cr_assert_eq(strlen(json_string_value(json_object_get(j[3], "partitionKey"))), 256);
    cr_assert(mark(j[3], "key") && mark(j[3], "headers") && mark(j[3], "partitionKey") &&
              mark(j[3], "event"));
    cr_assert(json_is_null(json_object_get(rec_of(j[3]), "key")));
    cr_assert_eq(json_array_size(json_object_get(rec_of(j[3]), "headers")), 0);
    cr_assert_eq(b64len(rec_of(j[3])), 1200, "the value still fits once the key is out");
    /* 4: minimal; no key: keyed by its fault id, as any keyless fault */
    const sl_test_msg_t *m4 = sl_test_sink_msg(f, 4);
    const char *id = json_string_value(json_object_get(j[4], "id"));
    cr_assert(m4->key_len == strlen(id) && !memcmp(m4->key, id, m4->key_len));
    cr_assert_str_eq(json_string_value(json_object_get(j[4], "partitionKey")), id);
    cr_assert(mark(j[4], "headers") && !mark(j[4], "key") && !mark(j[4], "event") &&
              !mark(j[4], "value") && !mark(j[4], "partitionKey"));
    cr_assert_str_eq(json_string_value(json_object_get(rec_of(j[4]), "value")), "e2JhZA==");
    for (size_t i = 0; i < 6; i++)
        json_decref(j[i]);
    sl_test_destroy(t);
    free(small);
    free(mid);
    free(big);
    free(key);
    free(blob);
}

Test(faults, too_large_refusals_shrink_the_fault_and_never_loop)
{
    const char *kv[] = {"retry.backoff.ms", "10", "retry.backoff.max.ms", "50", NULL};
    sl_test_sink_t *out;
    sl_test_t *t = driver_out(kv, "strict", reject_all, NULL, 0, &out);
    sl_test_sink_t *f = sl_test_faults(t);
    char *big = padded(100000, 'x');
    /* The sink takes less than it says: each refusal halves the bound. */
    sl_test_sink_fail_next(f, 2, SL_ETOOBIG);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", big), 0);
    cr_assert_eq(sl_test_sink_count(f), 1, "written at once, no backoff needed");
    cr_assert_not(sl_test_paused(t, "in", 0));
    cr_assert_eq(sl_test_committed(t, "in", 0), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(f, 0);
    json_t *j = fault_json(m);
    /* Whole, about 234 KB, refused; then at most half, refused; then a quarter. */
    cr_assert_leq(msg_size(m), 60000);
    cr_assert(mark(j, "event") && mark(j, "value") && !mark(j, "key"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "err"), "name")),
                     "SL_ESTAGE", "the fault keeps its own error, not the fault sink's");
    json_decref(j);

    /* A sink that refuses everything as too large: down to the minimal
     * fault in a bounded number of writes, then retried with backoff
     * (intake paused) like any failing fault sink, never dropped. */
    sl_test_sink_fail_next(f, 1000, SL_ETOOBIG);
    size_t w0 = sl_test_sink_writes(f);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", big), 0);
    size_t steps = sl_test_sink_writes(f) - w0;
    cr_assert_leq(steps, 20, "%zu writes before the minimal fault", steps);
    cr_assert(sl_test_paused(t, "in", 0), "a refused minimal fault holds intake");
    cr_assert_eq(sl_test_committed(t, "in", 0), 1);
    sl_test_advance(t, 1000);
    cr_assert_gt(sl_test_sink_writes(f) - w0, steps, "retried with backoff");
    sl_test_sink_fail_next(f, 0, 0);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(f), 2, "written once the sink takes it");
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    cr_assert_not(sl_test_paused(t, "in", 0));
    j = fault_json(sl_test_sink_msg(f, 1));
    cr_assert(mark(j, "key") && mark(j, "value"), "the minimal fault");
    json_decref(j);
    sl_test_destroy(t);
    free(big);
}

/* A fault sink with the Kinesis sink's declared limits (lib/kinesis/sink.c:
 * 500 records and 5 MiB per call, 1 MiB per record) and its per-record
 * checks (a partition key of 1 to 256 bytes, else SL_ESINK). A stand-in:
 * the engine sees a fault sink only through these ops, which is what is
 * under test here; kinesalite is not needed for it. */
enum { KIN_RECORD_MAX = 1024 * 1024 };

struct kin_sink {
    size_t writes, refused, n;
    char *keys[8];
    size_t key_len[8], size[8];
    char *values[8];
};

static int kin_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    struct kin_sink *s = opaque;
    s->writes++;
    for (size_t i = 0; i < n; i++) {
        sl_span_t k, v;
        sl_uow_output(uows[i], &k, &v);
        if (!k.len)
            k = sl_uow_key(uows[i]);
        if (!k.len || k.len > 256 || k.len + v.len > KIN_RECORD_MAX || s->n == 8) {
            s->refused++;
            sl_uow_fail(uows[i], SL_ESINK, "kinesis: not a valid record");
            sl_uow_ack(uows[i], SL_ESINK);
            continue;
        }
        s->keys[s->n] = strndup(k.ptr, k.len);
        s->key_len[s->n] = k.len;
        s->values[s->n] = strndup(v.ptr, v.len);
        size_t nh;
        const sl_header_t *h = sl_uow_output_headers(uows[i], &nh);
        s->size[s->n++] = k.len + v.len + hdr_bytes(h, nh);
        sl_uow_ack(uows[i], 0);
    }
    return 0;
}

static void count_release(void *opaque, const sl_record_t *rec, int done)
{
    (void)rec;
    *(size_t *)opaque += (size_t)done;
}

Test(faults, kinesis_shaped_fault_sink_gets_the_same_rule)
{
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_set(c, "record.max.bytes", "4194304", NULL, 0), 0);
    cr_assert_eq(sl_conf_set(c, "fault.value.max.bytes", "4194304", NULL, 0), 0);
    sl_engine_t *e = sl_engine_new(c, NULL, 0);
    sl_conf_destroy(c);
    struct kin_sink ks = {0};
    sl_sink_ops_t kops = {.name = "kinesis-faults",
                          .write = kin_write,
                          .max_events = 500,
                          .max_bytes = 5 * 1024 * 1024,
                          .max_record_bytes = KIN_RECORD_MAX};
    sl_sink_t *fs = sl_sink_new(&kops, &ks);
    size_t done = 0;
    sl_source_ops_t src = {.release = count_release};
    sl_engine_set_source(e, &src, &done);
    cr_assert_eq(sl_engine_set_fault_sink(e, fs), 0);
    sl_pipeline_t *p = sl_pipeline_new("strict");
    sl_pipeline_map(p, reject_all, NULL);
    struct kin_sink outs = {0};
    sl_sink_ops_t oops = {.name = "out", .write = kin_write};
    sl_sink_t *os = sl_sink_new(&oops, &outs);
    sl_pipeline_sink(p, os);
    cr_assert_eq(sl_engine_add_pipeline(e, p), 0);
    cr_assert_eq(sl_engine_start(e, NULL, 0), 0);
    enum { BIG = 3 * 1024 * 1024 };
    char *big = padded(BIG, 'z'), *longkey = malloc(300);
    memset(longkey, 'q', 300);
    sl_record_t r[] = {
        /* a 3 MiB event with a key: trimmed to the 1 MiB record limit at once */
        {.key = "shard-key", .key_len = 9, .value = big, .value_len = BIG},
        /* no key at all: keyed by the fault id, taken at once */
        {.value = "{bad", .value_len = 4},
        /* a key Kinesis refuses (over 256 bytes): refused, rebuilt as the
         * minimal fault with its key cut, then taken */
        {.key = longkey, .key_len = 300, .value = "{bad", .value_len = 4},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        r[i].topic = "stream";
        r[i].offset = (int64_t)i;
        cr_assert_eq(sl_engine_push(e, &r[i]), 0);
    }
    for (int i = 0; i < 100 && sl_engine_inflight(e); i++)
        sl_engine_tick(e);
    cr_assert_eq(done, 3, "every record done");
    cr_assert_eq(ks.n, 3, "one fault each");
    cr_assert_eq(sl_engine_watermark(e, "stream", 0), 3);
    cr_assert_eq(ks.refused, 1, "the refused key: rebuilt minimal once, then taken (%zu, %zu)",
                 ks.refused, ks.writes);
    cr_assert_leq(ks.size[0], KIN_RECORD_MAX);
    cr_assert_gt(ks.size[0], KIN_RECORD_MAX - 64, "what fits of the value is kept");
    json_t *j = json_loads(ks.values[0], 0, NULL);
    cr_assert(mark(j, "event") && mark(j, "value") && !mark(j, "key"));
    json_decref(j);
    cr_assert_eq(strncmp(ks.keys[1], "fault-", 6), 0);
    cr_assert_eq(ks.key_len[2], 256);
    j = json_loads(ks.values[2], 0, NULL);
    cr_assert(mark(j, "partitionKey") && mark(j, "key"));
    cr_assert_str_eq(json_string_value(json_object_get(rec_of(j), "value")), "e2JhZA==");
    json_decref(j);
    for (size_t i = 0; i < ks.n; i++) {
        free(ks.keys[i]);
        free(ks.values[i]);
    }
    sl_engine_destroy(e);
    sl_sink_destroy(fs);
    sl_sink_destroy(os);
    free(big);
    free(longkey);
}

Test(faults, other_permanent_refusal_builds_the_minimal_fault_once)
{
    const char *kv[] = {"retry.backoff.ms", "10", "retry.backoff.max.ms", "50", NULL};
    sl_test_sink_t *out;
    sl_test_t *t = driver_out(kv, "strict", reject_all, NULL, 0, &out);
    sl_test_sink_t *f = sl_test_faults(t);
    sl_header_t h[] = {{.name = "trace", .value = "t1", .value_len = 2}};
    char *v = padded(5000, 'v');
    sl_record_t r = {.topic = "in",
                     .offset = -1,
                     .key = "rk",
                     .key_len = 2,
                     .value = v,
                     .value_len = 5000,
                     .headers = h,
                     .header_count = 1};
    /* Refused for something else than its size (no bound is known): the
     * minimal fault, with the whole value, written at once. */
    sl_test_sink_fail_next(f, 1, SL_ESINK);
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    cr_assert_eq(sl_test_sink_count(f), 1);
    cr_assert_not(sl_test_paused(t, "in", 0));
    json_t *j = fault_json(sl_test_sink_msg(f, 0));
    cr_assert(mark(j, "key") && mark(j, "headers") && mark(j, "event") && !mark(j, "value"));
    cr_assert_eq(b64len(rec_of(j)), 5000);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "err"), "name")),
                     "SL_ESTAGE");
    json_decref(j);
    /* Refused again as minimal: nothing left to shrink, retried with backoff. */
    sl_test_sink_fail_next(f, 3, SL_ESINK);
    size_t w0 = sl_test_sink_writes(f);
    cr_assert_eq(sl_test_push_record(t, &r), 0);
    cr_assert_eq(sl_test_sink_writes(f) - w0, 2, "the event, then its minimal form");
    cr_assert(sl_test_paused(t, "in", 0));
    sl_test_advance(t, 2000);
    cr_assert_eq(sl_test_sink_count(f), 2);
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    cr_assert_not(sl_test_paused(t, "in", 0));
    sl_test_destroy(t);
    free(v);
}

/* ---- the whole context of a fault (schemas/fault.json version 2) ---- */

static sl_result_t pass_map(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    return SL_OK;
}

static sl_result_t no_price(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    if (sl_uow_record(u)->offset % 2 == 0)
        return SL_OK;
    sl_uow_fail(u, SL_EFIELD, "thing.price is missing");
    return SL_FAULT;
}

static sl_result_t always_busy(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_uow_fail(u, SL_EBUSY, "the database is busy");
    return SL_RETRY;
}

/* The value of the output header @p name of @p m, or NULL. */
static const char *hdr(const sl_test_msg_t *m, const char *name)
{
    for (size_t i = 0; i < m->header_count; i++)
        if (!strcmp(m->headers[i].name, name))
            return m->headers[i].value;
    return NULL;
}

Test(faults, fault_names_processor_group_and_stage_by_index_and_name)
{
    const char *kv[] = {"processor.name", "orders-svc", "kafka.group.id", "orders-group", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("orders");
    cr_assert_eq(sl_pipeline_stage_name(p, "early"), SL_ESTATE, "no stage to name yet");
    cr_assert_eq(sl_pipeline_map(p, pass_map, NULL), 0);
    cr_assert_eq(sl_pipeline_stage_name(p, "parse"), 0);
    cr_assert_eq(sl_pipeline_map(p, no_price, NULL), 0);
    cr_assert_eq(sl_pipeline_stage_name(p, "price"), 0);
    cr_assert_eq(sl_pipeline_stage_name(p, ""), SL_EINVAL);
    cr_assert_eq(sl_pipeline_stage_name(p, NULL), SL_EINVAL);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    push_traced(t, "orders", 2, "order-placed", "o-1", 2);
    cr_assert_eq(sl_test_sink_count(out), 1);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(f, 0);
    json_t *j = json_loadb(m->value, m->value_len, 0, NULL);
    cr_assert(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 2);
    json_t *tags = json_object_get(j, "tags");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "processor")), "orders-svc");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "group")), "orders-group");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "pipeline")), "orders");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "stage")), "map");
    cr_assert_eq(json_integer_value(json_object_get(tags, "stageIndex")), 1,
                 "the second map, not the first");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "stageName")), "price");
    json_t *err = json_object_get(j, "err");
    cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_EFIELD");
    cr_assert(json_is_false(json_object_get(err, "retriable")), "a missing field needs a fix");
    json_t *uow = json_object_get(j, "uow");
    int64_t first = json_integer_value(json_object_get(uow, "firstFailure"));
    int64_t last = json_integer_value(json_object_get(uow, "lastFailure"));
    cr_assert_gt(first, 1000000000000ll, "epoch ms");
    cr_assert_eq(first, last, "failed once");
    cr_assert_eq(json_integer_value(json_object_get(uow, "attempts")), 0);

    /* The same context as headers, for tools that do not parse the event. */
    cr_assert_str_eq(hdr(m, "sluice.fault.id"), json_string_value(json_object_get(j, "id")));
    cr_assert_str_eq(hdr(m, "sluice.fault.version"), "2");
    cr_assert_str_eq(hdr(m, "sluice.fault.processor"), "orders-svc");
    cr_assert_str_eq(hdr(m, "sluice.fault.group"), "orders-group");
    cr_assert_str_eq(hdr(m, "sluice.fault.pipeline"), "orders");
    cr_assert_str_eq(hdr(m, "sluice.fault.stage"), "map");
    cr_assert_str_eq(hdr(m, "sluice.fault.stage.index"), "1");
    cr_assert_str_eq(hdr(m, "sluice.fault.stage.name"), "price");
    cr_assert_str_eq(hdr(m, "sluice.fault.error"), "SL_EFIELD");
    cr_assert_str_eq(hdr(m, "sluice.fault.retriable"), "false");
    cr_assert_str_eq(hdr(m, "sluice.fault.source.topic"), "orders");
    cr_assert_str_eq(hdr(m, "sluice.fault.source.partition"), "2");
    cr_assert_str_eq(hdr(m, "sluice.fault.source.offset"), "1");
    cr_assert_str_eq(hdr(m, "sluice.fault.message"), "thing.price is missing");
    cr_assert_null(hdr(m, "traceparent"), "the record's own headers are in the event, not on it");
    cr_assert_null(hdr(m, "sluice.fault.source.position"), "a Kafka record has none");
    cr_assert_eq(sl_test_sink_msg(out, 0)->header_count, 0, "outputs have no headers by default");
    json_decref(j);
    sl_test_destroy(t);
}

Test(faults, retries_run_out_a_retriable_fault_with_its_first_and_last_failure)
{
    const char *kv[] = {"retry.max", "2", "retry.backoff.ms", "1000", "retry.backoff.max.ms",
                        "1000",      NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("busy");
    sl_pipeline_map(p, always_busy, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char b[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", ev(b, sizeof b, "a", "k", 0)), 0);
    sl_test_sink_t *f = sl_test_faults(t);
    for (int i = 0; i < 100 && !sl_test_sink_count(f); i++)
        sl_test_advance(t, 500);
    cr_assert_eq(sl_test_sink_count(f), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(f, 0);
    json_t *j = json_loadb(m->value, m->value_len, 0, NULL);
    cr_assert(j);
    json_t *err = json_object_get(j, "err");
    cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_ERETRIES");
    cr_assert(json_is_true(json_object_get(err, "retriable")), "a transient cause ran out");
    json_t *uow = json_object_get(j, "uow");
    cr_assert_eq(json_integer_value(json_object_get(uow, "attempts")), 3);
    int64_t first = json_integer_value(json_object_get(uow, "firstFailure"));
    int64_t last = json_integer_value(json_object_get(uow, "lastFailure"));
    /* Jittered backoffs below 1 s each, two of them between the first and
     * the last failure, on the driver's virtual clock. */
    cr_assert(last > first && last - first <= 2000, "first %lld, last %lld", (long long)first,
              (long long)last);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "tags"), "stageIndex")), 0);
    cr_assert_null(json_object_get(json_object_get(j, "tags"), "stageName"), "not named");
    cr_assert_null(json_object_get(json_object_get(j, "tags"), "group"), "no group configured");
    cr_assert_str_eq(hdr(m, "sluice.fault.retriable"), "true");
    json_decref(j);
    sl_test_destroy(t);
}

static sl_result_t tag_output(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_header_t h[] = {{.name = "x-a", .value = "1", .value_len = 1},
                       {.name = "x-empty", .value = NULL, .value_len = 0}};
    if (sl_uow_set_output_headers(u, h, 2))
        return SL_RETRY;
    return SL_OK;
}

Test(faults, output_headers_reach_the_sink_copied)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("tagged");
    sl_pipeline_map(p, tag_output, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char b[256];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", ev(b, sizeof b, "a", "k", i)), 0);
    cr_assert_eq(sl_test_sink_count(out), 3);
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(out, i);
        cr_assert_eq(m->header_count, 2);
        cr_assert_str_eq(m->headers[0].name, "x-a");
        cr_assert_eq(m->headers[0].value_len, 1);
        cr_assert_str_eq(m->headers[0].value, "1");
        cr_assert_str_eq(m->headers[1].name, "x-empty");
        cr_assert_eq(m->headers[1].value_len, 0);
    }
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

/* ---- a resubmitted record is for the pipeline it names ---- */

static sl_record_t resubmitted(const char *value, const sl_header_t *h, size_t nh)
{
    return (sl_record_t){.topic = "orders",
                         .partition = 0,
                         .offset = -1,
                         .key = "k",
                         .key_len = 1,
                         .value = value,
                         .value_len = strlen(value),
                         .headers = h,
                         .header_count = nh};
}

static void routing_case(int typed)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *fixed = sl_test_sink_new(t, "fixed", 0, 0, 0);
    sl_test_sink_t *other = sl_test_sink_new(t, "other", 0, 0, 0);
    sl_pipeline_t *a = sl_pipeline_new("fixed"), *b = sl_pipeline_new("other");
    const char *types[] = {"order-"};
    if (typed) {
        /* Every pipeline starts with a type filter: the engine routes on the
         * envelope before building anything (its fast path). */
        cr_assert_eq(sl_pipeline_filter_types(a, SL_MATCH_PREFIX, types, 1), 0);
        cr_assert_eq(sl_pipeline_filter_types(b, SL_MATCH_PREFIX, types, 1), 0);
    }
    sl_pipeline_sink(a, sl_test_sink_handle(fixed));
    sl_pipeline_sink(b, sl_test_sink_handle(other));
    cr_assert_eq(sl_test_add_pipeline(t, a), 0);
    cr_assert_eq(sl_test_add_pipeline(t, b), 0);
    char v[256];
    ev(v, sizeof v, "order-placed", "o-1", 1);
    sl_header_t to_fixed[] = {
        {.name = "traceparent", .value = "00-ab", .value_len = 5},
        {.name = "sluice.resubmit.pipeline", .value = "fixed", .value_len = 5},
        {.name = "sluice.resubmit.fault", .value = "fault-0", .value_len = 7}};
    sl_header_t to_nobody[] = {
        {.name = "sluice.resubmit.pipeline", .value = "gone", .value_len = 4}};
    sl_header_t prefix[] = {{.name = "sluice.resubmit.pipeline", .value = "fix", .value_len = 3}};
    sl_record_t r[] = {
        resubmitted(v, NULL, 0),      /* both */
        resubmitted(v, to_fixed, 3),  /* fixed only */
        resubmitted(v, to_nobody, 1), /* nobody: done, skipped by both */
        resubmitted(v, prefix, 1),    /* a name's prefix is not the name */
        resubmitted(v, to_fixed + 1, 1),
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        cr_assert_eq(sl_test_push_record(t, &r[i]), 0);
    cr_assert_eq(sl_test_sink_count(fixed), 3, "typed %d: the plain record and two routed to it",
                 typed);
    cr_assert_eq(sl_test_sink_count(other), 1, "typed %d: only the plain record", typed);
    cr_assert_eq(sl_test_sink_msg(fixed, 1)->offset, 1);
    cr_assert_eq(sl_test_sink_msg(fixed, 2)->offset, 4);
    cr_assert_eq(sl_test_committed(t, "orders", 0), 5, "every record done");
    sl_stats_t sa, sb;
    cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "fixed", &sa), 0);
    cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "other", &sb), 0);
    cr_assert_eq(sa.records_in, 5);
    cr_assert_eq(sa.skipped, 2, "typed %d", typed);
    cr_assert_eq(sb.records_in, 5);
    cr_assert_eq(sb.skipped, 4, "typed %d: skipped, done and counted", typed);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t);
}

Test(faults, resubmitted_record_runs_only_in_the_pipeline_it_names)
{
    routing_case(0);
    routing_case(1);
}

Test(faults, resubmit_routing_past_64_pipelines)
{
    enum { NPL = 70 };
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    for (int i = 0; i < NPL; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        sl_pipeline_t *p = sl_pipeline_new(name);
        sl_pipeline_sink(p, sl_test_sink_handle(s));
        cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    }
    char v[256];
    ev(v, sizeof v, "order-placed", "o-1", 1);
    sl_header_t h[] = {{.name = "sluice.resubmit.pipeline", .value = "p68", .value_len = 3}};
    sl_record_t plain = resubmitted(v, NULL, 0), routed = resubmitted(v, h, 1);
    cr_assert_eq(sl_test_push_record(t, &plain), 0);
    cr_assert_eq(sl_test_sink_count(s), NPL, "every pipeline, the 65th and later included");
    cr_assert_eq(sl_test_push_record(t, &routed), 0);
    cr_assert_eq(sl_test_sink_count(s), NPL + 1);
    cr_assert_str_eq(sl_test_sink_msg(s, NPL)->pipeline, "p68");
    cr_assert_eq(sl_test_committed(t, "orders", 0), 2);
    sl_test_destroy(t);
}
