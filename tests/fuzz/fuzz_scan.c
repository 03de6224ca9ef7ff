/* libFuzzer target: the envelope scanner against jansson.
 *
 * The scanner must reach json_loadb(data, size, 0)'s verdict on every input,
 * keep every span inside the input, agree with sl_json_validate, and read
 * the same top-level "type", "id" and "partitionKey" strings and integer
 * "timestamp" as jansson's tree holds. Any difference aborts. */
#include "sluice/error.h"
#include "sluice/record.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int rc)
{
    fprintf(stderr, "fuzz_scan: %s (scanner %s)\n", what, sl_err_name(rc));
    abort();
}

static void check_span(sl_span_t s, const uint8_t *data, size_t size, int rc)
{
    const char *b = (const char *)data;

    if (!s.ptr) {
        if (s.len)
            fail("span with NULL pointer", rc);
        return;
    }
    if (s.ptr < b || s.len > size || (size_t)(s.ptr - b) > size - s.len)
        fail("span outside the input", rc);
}

/* The span, unescaped, must equal jansson's string. */
static void check_string(sl_span_t s, json_t *j, const char *what, int rc)
{
    char buf[4096];
    size_t n = 0;

    if (!json_is_string(j))
        fail(what, rc);
    if (s.len > sizeof buf)
        return;
    if (sl_span_unescape(s, buf, sizeof buf, &n) != 0)
        fail("sl_span_unescape rejected a scanned span", rc);
    if (n != json_string_length(j) || memcmp(buf, json_string_value(j), n) != 0)
        fail(what, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_envelope_t env;
    sl_scan_error_t err = {0, NULL};
    json_error_t jerr;
    json_t *root, *v;
    int vrc, rc, ok;

    vrc = sl_json_validate(data, size, &err);
    rc = sl_envelope_scan(data, size, &env, &err);
    root = json_loadb((const char *)data, size, 0, &jerr);

    if (vrc != 0 && vrc != SL_EJSON && vrc != SL_EDEPTH)
        fail("sl_json_validate returned an unexpected code", vrc);
    ok = rc == 0 || rc == SL_ENOTEVENT || rc == SL_ENOTYPE || rc == SL_EFIELD;
    if (!ok && rc != SL_EJSON && rc != SL_EDEPTH)
        fail("sl_envelope_scan returned an unexpected code", rc);
    if ((vrc == 0) != ok)
        fail("sl_json_validate and sl_envelope_scan disagree", rc);
    if (ok != (root != NULL))
        fail(root ? "jansson accepts what the scanner rejects"
                  : "jansson rejects what the scanner accepts",
             rc);
    if (rc != 0 && (!err.reason || err.offset > size))
        fail("bad sl_scan_error_t", rc);

    check_span(env.type, data, size, rc);
    check_span(env.id, data, size, rc);
    check_span(env.partition_key, data, size, rc);

    if (root) {
        if ((rc == SL_ENOTEVENT) != !json_is_object(root))
            fail("SL_ENOTEVENT disagrees with jansson's root type", rc);
        v = json_object_get(root, "type");
        if (rc == SL_ENOTYPE && json_is_string(v) && json_string_length(v) > 0)
            fail("SL_ENOTYPE with a good type", rc);
        if (rc == 0) {
            check_string(env.type, v, "type differs from jansson's", rc);
            v = json_object_get(root, "id");
            if (v)
                check_string(env.id, v, "id differs from jansson's", rc);
            v = json_object_get(root, "partitionKey");
            if (v)
                check_string(env.partition_key, v, "partitionKey differs from jansson's", rc);
            v = json_object_get(root, "timestamp");
            if (json_is_integer(v) && env.timestamp != json_integer_value(v))
                fail("timestamp differs from jansson's", rc);
            if (json_is_real(v) && env.timestamp != (json_int_t)json_real_value(v))
                fail("real timestamp differs from jansson's", rc);
        }
    }
    json_decref(root);
    return 0;
}
