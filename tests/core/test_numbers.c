/* Numbers as people write them: a real is written in the shortest form that
 * reads back to the same double, everywhere sluice writes JSON; everything
 * else byte for byte as jansson writes it. */
#include "helpers.h"

#include "core/jsonw.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

TestSuite(numbers);

static int same_bits(double a, double b)
{
    return !memcmp(&a, &b, sizeof a);
}

static const struct {
    const char *name;
    double v;
    const char *want;
} table[] = {
    {"0.1", 0.1, "0.1"},
    {"80.22 (jansson: 80.219999999999999)", 80.22, "80.22"},
    {"0.1 + 0.2 needs 17 digits", 0.1 + 0.2, "0.30000000000000004"},
    {"1/3", 1.0 / 3.0, "0.3333333333333333"},
    {"2/3", 2.0 / 3.0, "0.6666666666666666"},
    {"1e-7: exponent without leading zeros", 1e-7, "1e-7"},
    {"1e21: exponent without '+'", 1e21, "1e21"},
    {"1e15", 1e15, "1e15"},
    {"1e14 stays a real", 1e14, "100000000000000.0"},
    {"0.0", 0.0, "0.0"},
    {"-0.0 keeps its sign", -0.0, "-0.0"},
    {"1.0 stays a real", 1.0, "1.0"},
    {"-1.5", -1.5, "-1.5"},
    {"2^53 + 1 as a double is 2^53", 9007199254740993.0, "9007199254740992.0"},
    {"2^53", 9007199254740992.0, "9007199254740992.0"},
    {"largest double", DBL_MAX, "1.7976931348623157e308"},
    {"most negative double", -DBL_MAX, "-1.7976931348623157e308"},
    {"smallest normal double", DBL_MIN, "2.2250738585072014e-308"},
    {"smallest subnormal double", 4.9406564584124654e-324, "5e-324"},
    {"largest subnormal double", 2.2250738585072009e-308, "2.225073858507201e-308"},
    {"123456.789", 123456.789, "123456.789"},
    {"5e-324 * 3", 1.48e-323, "1.5e-323"},
    {"NaN: JSON has none", NAN, "null"},
    {"infinity: JSON has none", INFINITY, "null"},
    {"-infinity", -INFINITY, "null"},
};

Test(numbers, shortest_form_table)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char out[SL__DBL_MAX_LEN + 1];
        size_t n = sl__fmt_double(table[i].v, out);
        cr_expect_str_eq(out, table[i].want, "%s: got %s", table[i].name, out);
        cr_expect_eq(n, strlen(out), "%s: length", table[i].name);
        if (isfinite(table[i].v))
            cr_expect(same_bits(strtod(out, NULL), table[i].v), "%s reads back", table[i].name);
    }
}

/* Significant digits of a number's text: no leading or trailing zeros. */
static int digits_of(const char *s)
{
    int n = 0, upto = 0, lead = 1;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        n++;
        if (*s != '0')
            upto = n;
    }
    return upto ? upto : 1;
}

/* Whether some decimal of @p p significant digits reads back to @p v: the
 * nearest one, or the next one up or down (a power of two has more room
 * above it than below). */
static int some_p_digits_read_back(double v, int p)
{
    char s[400];
    snprintf(s, sizeof s, "%.*e", p - 1, v);
    if (same_bits(strtod(s, NULL), v))
        return 1;
    char *e = strchr(s, 'e');
    for (int dir = -1; dir <= 1; dir += 2) {
        char t[400];
        memcpy(t, s, sizeof t);
        char *q = t + (e - s) - 1;
        int ok = 1;
        for (;; q--) {
            if (q < t || *q == '-') {
                ok = 0; /* a carry or borrow out of the first digit: more digits */
                break;
            }
            if (*q < '0' || *q > '9')
                continue;
            if (dir > 0 ? *q < '9' : *q > '0') {
                *q = (char)(*q + dir);
                break;
            }
            *q = dir > 0 ? '0' : '9';
        }
        if (ok && same_bits(strtod(t, NULL), v))
            return 1;
    }
    return 0;
}

static void check_shortest(double v)
{
    char out[SL__DBL_MAX_LEN + 1];
    sl__fmt_double(v, out);
    cr_assert(same_bits(strtod(out, NULL), v), "%.17g written %s", v, out);
    int d = digits_of(out);
    for (int p = 1; p < d; p++)
        cr_assert_not(some_p_digits_read_back(v, p), "%.17g: %d digits would do, not %s", v, p,
                      out);
}

Test(numbers, powers_of_two_are_shortest_too)
{
    for (int e = -1074; e <= 1023; e++) {
        check_shortest(ldexp(1.0, e));
        check_shortest(-ldexp(1.0, e));
    }
    char out[SL__DBL_MAX_LEN + 1];
    sl__fmt_double(ldexp(1.0, -1017), out);
    cr_assert_str_eq(out, "7.120236347223045e-307", "16 digits, not 7.1202363472230444e-307");
}

/* Random bit patterns (every exponent, subnormals included): each reads
 * back bit for bit, and no form with fewer digits would have. */
Test(numbers, random_doubles_read_back_and_are_shortest)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        check_shortest(v);
    }
}

Test(numbers, integers_are_exact)
{
    static const struct {
        json_int_t v;
        const char *want;
    } t[] = {
        {0, "0"},
        {-1, "-1"},
        {9007199254740993ll, "9007199254740993"}, /* 2^53 + 1: not a double */
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        sl__jw_t jw;
        sl__jw_init(&jw, NULL, 0);
        json_t *j = json_integer(t[i].v);
        cr_assert_eq(sl__jw_json(&jw, j), 0);
        cr_expect(jw.len == strlen(t[i].want) && !memcmp(jw.buf, t[i].want, jw.len), "%s: got %.*s",
                  t[i].want, (int)jw.len, jw.buf);
        json_decref(j);
        sl_free(jw.buf);
    }
}

/* sl__jw_int() writes two digits at a time: every digit count, odd and
 * even, each side of a power of ten, both signs, as printf writes them. */
Test(numbers, integers_at_every_digit_count_are_decimal)
{
    int64_t p = 1;
    for (int k = 0; k < 19; k++) {
        if (k)
            p *= 10; /* 10^k, up to 10^18 */
        const int64_t vs[] = {p, p - 1, p + 1, -p, 1 - p, -p - 1, p * 5 / 3};
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            char want[32];
            int n = snprintf(want, sizeof want, "%" PRId64, vs[i]);
            sl__jw_t jw;
            sl__jw_init(&jw, NULL, 0);
            sl__jw_int(&jw, vs[i]);
            cr_expect(!jw.oom && jw.len == (size_t)n && !memcmp(jw.buf, want, jw.len),
                      "%s: got %.*s", want, (int)jw.len, jw.buf);
            sl_free(jw.buf);
        }
    }
}

/* Without reals, the writer's bytes are jansson's, escapes and member order
 * included. */
Test(numbers, the_rest_is_byte_for_byte_what_jansson_writes)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "\"\"",
        "null",
        "true",
        "{\"type\":\"thing-created\",\"id\":\"e1\",\"n\":[1,-2,3,{\"a\":null,\"b\":false}]}",
        "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}",
        ("\"tab\\t nl\\n cr\\r bs\\b ff\\f quote\\\" backslash\\\\ slash/ ctl\\u0001\\u001f "
         "del\x7f\""),
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\u2028\"",
        "{\"v\":\"v\\u0000w\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_error_t je;
        json_t *j = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        cr_assert(j, "%s: %s", docs[i], je.text);
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        sl__jw_t jw;
        sl__jw_init(&jw, NULL, 0);
        cr_assert_eq(sl__jw_json(&jw, j), 0);
        cr_expect(jw.len == strlen(want) && !memcmp(jw.buf, want, jw.len),
                  "jansson %s, sluice %.*s", want, (int)jw.len, jw.buf);
        free(want);
        sl_free(jw.buf);
        json_decref(j);
    }
    /* a key with a NUL (jansson's parser refuses one, its API takes it) */
    json_t *o = json_object();
    cr_assert_eq(json_object_setn_new(o, "k\0ey", 4, json_string("x")), 0);
    char *want = json_dumps(o, JSON_COMPACT);
    sl__jw_t jw;
    sl__jw_init(&jw, NULL, 0);
    cr_assert_eq(sl__jw_json(&jw, o), 0);
    cr_expect(jw.len == strlen(want) && !memcmp(jw.buf, want, jw.len), "jansson %s, sluice %.*s",
              want, (int)jw.len, jw.buf);
    free(want);
    sl_free(jw.buf);
    json_decref(o);
}

Test(numbers, what_jansson_cannot_encode_is_an_error)
{
    sl__jw_t jw;
    sl__jw_init(&jw, NULL, 0);
    json_t *bad = json_stringn_nocheck("\xff\xfe", 2);
    cr_assert_eq(sl__jw_json(&jw, bad), SL_EINVAL, "not UTF-8");
    json_decref(bad);
    /* nesting past the bound (a cycle would never end) */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < SL__JW_MAX_DEPTH + 5; i++) {
        json_t *a = json_array();
        json_array_append_new(cur, a);
        cur = a;
    }
    jw.len = 0;
    cr_assert_eq(sl__jw_json(&jw, root), SL_EINVAL, "too deep");
    json_decref(root);
    cr_assert_eq(sl__jw_json(&jw, NULL), SL_EINVAL);
    sl_free(jw.buf);
    cr_assert_null(json_real(NAN), "jansson trees cannot hold NaN");
    cr_assert_null(json_real(INFINITY), "nor infinity");
}

/* ---- through the public API ---- */

static sl_result_t reals_map(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *o = json_pack("{s:f,s:f,s:f,s:f,s:I,s:s}", "price", 80.22, "tax", 0.1, "big", 1e21,
                          "zero", -0.0, "id", (json_int_t)9007199254740993ll, "k", "v");
    sl_span_t k = sl_uow_key(u);
    int rc = sl_uow_set_output_json(u, k.ptr, k.len, o);
    json_decref(o);
    return rc ? SL_RETRY : SL_OK;
}

Test(numbers, sl_uow_set_output_json_writes_numbers_as_people_write_them)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("reals");
    sl_pipeline_map(p, reals_map, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "order-1", "{\"type\":\"order-placed\"}"), 0);
    cr_assert_eq(sl_test_sink_count(out), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(out, 0);
    cr_assert_str_eq(m->key, "order-1");
    cr_assert_str_eq(m->value, "{\"price\":80.22,\"tax\":0.1,\"big\":1e21,\"zero\":-0.0,"
                               "\"id\":9007199254740993,\"k\":\"v\"}");
    sl_test_destroy(t);
}

/* Keeps the records of the topic named by @p opaque. */
static sl_result_t topic_is(sl_uow_t *u, void *opaque)
{
    return strcmp(sl_uow_record(u)->topic, opaque) ? SL_SKIP : SL_OK;
}

/* The trigger's events: a DynamoDB number and a Debezium real id (its
 * partitionKey) are written as they were in the change record. */
Test(numbers, cdc_events_keep_numbers_as_written)
{
    const char *kv[] = {"source.format", "json", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *ddb = sl_pipeline_new("ddb"), *dbz = sl_pipeline_new("dbz");
    sl_cdc_opts_t o1 = {.format = SL_CDC_DYNAMODB, .entity = "order"};
    sl_cdc_opts_t o2 = {.format = SL_CDC_DEBEZIUM, .entity = "order"};
    cr_assert_eq(sl_pipeline_filter(ddb, topic_is, "ddb"), 0);
    cr_assert_eq(sl_pipeline_filter(dbz, topic_is, "dbz"), 0);
    cr_assert_eq(sl_cdc(ddb, &o1), 0);
    cr_assert_eq(sl_cdc(dbz, &o2), 0);
    sl_pipeline_sink(ddb, sl_test_sink_handle(out));
    sl_pipeline_sink(dbz, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, ddb), 0);
    cr_assert_eq(sl_test_add_pipeline(t, dbz), 0);
    cr_assert_eq(sl_test_push_str(t, "ddb", 0, NULL,
                                  "{\"eventName\":\"INSERT\",\"dynamodb\":{"
                                  "\"ApproximateCreationDateTime\":1767225601,\"Keys\":{\"pk\":{"
                                  "\"S\":\"o1\"}},\"NewImage\":{\"pk\":{\"S\":\"o1\"},\"total\":{"
                                  "\"N\":\"80.22\"}}}}"),
                 0);
    cr_assert_eq(sl_test_push_str(t, "dbz", 0, NULL,
                                  "{\"after\":{\"id\":80.22,\"rate\":0.1},\"op\":\"c\","
                                  "\"ts_ms\":1767225600001}"),
                 0);
    int ddb_seen = 0, dbz_seen = 0;
    for (size_t i = 0; i < sl_test_sink_count(out); i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(out, i);
        if (!strcmp(m->pipeline, "ddb") && strstr(m->value, "\"pk\":\"o1\"")) {
            cr_expect(strstr(m->value, "\"total\":80.22"), "%s", m->value);
            ddb_seen = 1;
        } else if (!strcmp(m->pipeline, "dbz")) {
            cr_expect(strstr(m->value, "\"partitionKey\":\"80.22\""), "%s", m->value);
            cr_expect(strstr(m->value, "\"rate\":0.1"), "%s", m->value);
            cr_expect_str_eq(m->key, "80.22");
            dbz_seen = 1;
        }
    }
    cr_assert(ddb_seen && dbz_seen, "both events written (%zu messages, %zu faults)",
              sl_test_sink_count(out), sl_test_sink_count(sl_test_faults(t)));
    sl_test_destroy(t);
}
