/* libFuzzer target: the envelope scanner against jansson.
 *
 * The scanner must reach json_loadb(data, size, 0)'s verdict on every input,
 * keep every span inside the input, agree with sl_json_validate, and on
 * valid JSON give the verdict and the envelope read here from jansson's
 * tree by the rules of sluice/record.h: not an object SL_ENOTEVENT; no
 * string "type", or an empty one, SL_ENOTYPE; an "id", "partitionKey" (else
 * CloudEvents "partitionkey") that is no string, or a "timestamp" (else
 * CloudEvents "time") that is neither a number within int64 nor an RFC 3339
 * string ("time": only the string), SL_EFIELD; else 0 with the same strings,
 * the milliseconds, and the flags (found, CloudEvents for a "specversion",
 * escapes in a span). Of duplicate members the last counts, as in jansson.
 * Any difference aborts. */
#include "fuzz_time.h"
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

/* What sl_envelope_scan() must answer for jansson's tree @p root, and the
 * milliseconds of its time in *ms. */
static int expected(json_t *root, int64_t *ms)
{
    *ms = 0;
    if (!json_is_object(root))
        return SL_ENOTEVENT;
    json_t *t = json_object_get(root, "type");
    if (!json_is_string(t) || !json_string_length(t))
        return SL_ENOTYPE;
    json_t *id = json_object_get(root, "id"), *pk = json_object_get(root, "partitionKey");
    if (!pk)
        pk = json_object_get(root, "partitionkey");
    if ((id && !json_is_string(id)) || (pk && !json_is_string(pk)))
        return SL_EFIELD;
    json_t *ts = json_object_get(root, "timestamp");
    if (ts && json_is_integer(ts)) {
        *ms = json_integer_value(ts);
        return 0;
    }
    if (ts && json_is_real(ts)) {
        double d = json_real_value(ts);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return SL_EFIELD;
        *ms = (int64_t)d;
        return 0;
    }
    if (!ts)
        ts = json_object_get(root, "time");
    if (ts &&
        (!json_is_string(ts) || !fuzz_rfc3339(json_string_value(ts), json_string_length(ts), ms)))
        return SL_EFIELD;
    return 0;
}

/* Flag @p bit of @p env must be set exactly when @p want. */
static void check_flag(const sl_envelope_t *env, unsigned bit, int want, const char *what, int rc)
{
    if (!(env->flags & bit) != !want)
        fail(what, rc);
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
        int64_t ms;
        if (rc != expected(root, &ms))
            fail("the verdict is not the one jansson's tree gives", rc);
        if (rc == 0) {
            v = json_object_get(root, "type");
            check_string(env.type, v, "type differs from jansson's", rc);
            check_flag(&env, SL_ENV_TYPE, 1, "no type flag", rc);
            check_flag(&env, SL_ENV_TYPE_ESC, memchr(env.type.ptr, '\\', env.type.len) != NULL,
                       "the type's escape flag is wrong", rc);
            v = json_object_get(root, "id");
            check_flag(&env, SL_ENV_ID, v != NULL, "the id flag is wrong", rc);
            if (v) {
                check_string(env.id, v, "id differs from jansson's", rc);
                check_flag(&env, SL_ENV_ID_ESC, memchr(env.id.ptr, '\\', env.id.len) != NULL,
                           "the id's escape flag is wrong", rc);
            }
            v = json_object_get(root, "partitionKey");
            if (!v)
                v = json_object_get(root, "partitionkey");
            check_flag(&env, SL_ENV_PKEY, v != NULL, "the partition key flag is wrong", rc);
            if (v) {
                check_string(env.partition_key, v, "partitionKey differs from jansson's", rc);
                check_flag(&env, SL_ENV_PKEY_ESC,
                           memchr(env.partition_key.ptr, '\\', env.partition_key.len) != NULL,
                           "the partition key's escape flag is wrong", rc);
            }
            int timed = json_object_get(root, "timestamp") || json_object_get(root, "time");
            check_flag(&env, SL_ENV_TIMESTAMP, timed, "the timestamp flag is wrong", rc);
            if (timed && env.timestamp != ms)
                fail("timestamp differs from jansson's", rc);
            check_flag(&env, SL_ENV_CLOUDEVENTS, json_object_get(root, "specversion") != NULL,
                       "the CloudEvents flag is wrong", rc);
            check_flag(&env, SL_ENV_BINARY, 0, "binary mode from a JSON text", rc);
        }
    }
    json_decref(root);
    return 0;
}
