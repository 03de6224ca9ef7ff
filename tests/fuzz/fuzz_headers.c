/* libFuzzer target: CloudEvents binary mode (sl_envelope_from_headers(),
 * ce_* Kafka headers) and RFC 3339 times (sl_rfc3339_parse(), also used for
 * the JSON "timestamp"/"time" members).
 *
 * Input: headers, each one byte choosing the name (ce_type, ce_id,
 * ce_partitionkey, ce_time, ce_specversion, or a name that must be
 * ignored), one byte of value length, then the value.
 *
 * Properties: without ce_type the headers are not CloudEvents (0); with an
 * empty one, or a ce_time that is not RFC 3339, SL_EFIELD; else 1 with
 * every span being the value of the last header of its name. RFC 3339 times
 * are accepted and converted exactly as an independent reading (fuzz_time.h)
 * does, and the same text as a JSON "timestamp" string gives the same
 * milliseconds through the envelope scanner. */
#include "fuzz_common.h"
#include "fuzz_time.h"
#include "sluice/error.h"
#include "sluice/record.h"

#include <time.h>

#define T "fuzz_headers"
#define MAXH 32

static const char *const names[] = {"ce_type", "ce_id",          "ce_partitionkey",
                                    "ce_time", "ce_specversion", "ce_Type",
                                    "type",    "ce_time "};

static void check_time(const char *s, size_t n)
{
    int64_t got = -1, want = -1;
    int rc = sl_rfc3339_parse(s, n, &got);
    int ok = fuzz_rfc3339(s, n, &want);
    if (rc != 0 && rc != SL_EFIELD)
        fuzz_fail(T, "sl_rfc3339_parse returned an unexpected code");
    if ((rc == 0) != ok)
        fuzz_fail(T,
                  ok ? "an RFC 3339 time is refused" : "a time that is not RFC 3339 is accepted");
    if (ok && got != want)
        fuzz_fail(T, "an RFC 3339 time converts to other milliseconds");

    /* The same text as a JSON "timestamp" string, when it needs no escape. */
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
            return;
    if (!fuzz_utf8_ok(s, n))
        return;
    char json[300];
    int len = snprintf(json, sizeof json, "{\"type\":\"t\",\"timestamp\":\"%.*s\"}", (int)n, s);
    sl_envelope_t env;
    int src = sl_envelope_scan(json, (size_t)len, &env, NULL);
    if (src != (ok ? 0 : SL_EFIELD) || (ok && env.timestamp != want))
        fuzz_fail(T, "a JSON timestamp string reads otherwise than the same header");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_header_t h[MAXH];
    size_t n = 0, last[5] = {0};
    int seen[5] = {0};
    for (size_t i = 0; i + 2 <= size && n < MAXH;) {
        unsigned which = data[i] % (sizeof names / sizeof *names);
        size_t len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = size - i;
        h[n] =
            (sl_header_t){.name = names[which], .value = len ? data + i : NULL, .value_len = len};
        if (which < 5)
            last[which] = n, seen[which] = 1;
        if (which == 3)
            check_time((const char *)data + i, len);
        i += len;
        n++;
    }
    sl_envelope_t env;
    int rc = sl_envelope_from_headers(h, n, &env);
    int64_t ms = 0;
    int want = !seen[0]                                                                ? 0
               : !h[last[0]].value_len                                                 ? SL_EFIELD
               : seen[3] && !fuzz_rfc3339(h[last[3]].value, h[last[3]].value_len, &ms) ? SL_EFIELD
                                                                                       : 1;
    if (rc != want)
        fuzz_fail(T, "sl_envelope_from_headers returned another verdict");
    if (rc != 1)
        return 0;
    if (env.type.ptr != h[last[0]].value || env.type.len != h[last[0]].value_len)
        fuzz_fail(T, "type is not the last ce_type");
    const int fields[] = {1, 2};
    const sl_span_t spans[] = {env.id, env.partition_key};
    const unsigned flag[] = {SL_ENV_ID, SL_ENV_PKEY};
    for (int k = 0; k < 2; k++) {
        int f = fields[k];
        if (!!(env.flags & flag[k]) != seen[f])
            fuzz_fail(T, "a flag disagrees with the headers");
        if (seen[f] && (spans[k].len != h[last[f]].value_len ||
                        (spans[k].len && spans[k].ptr != h[last[f]].value)))
            fuzz_fail(T, "a span is not the last header of its name");
    }
    if (!!(env.flags & SL_ENV_TIMESTAMP) != seen[3] || (seen[3] && env.timestamp != ms))
        fuzz_fail(T, "the timestamp is not the last ce_time");
    if (!(env.flags & SL_ENV_BINARY) || !(env.flags & SL_ENV_CLOUDEVENTS))
        fuzz_fail(T, "binary mode without its flags");
    return 0;
}
