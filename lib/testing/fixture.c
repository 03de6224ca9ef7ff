/* sluice — the test driver's fixture files: a test sink's output saved as
 * JSON lines, and JSON lines pushed as input (format in sluice/testing.h). */
#include "core/jsonw.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/record.h"
#include "sluice/testing.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- saving ---- */

static int is_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = sl__utf8_len(p + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* ,"NAME":"text" or ,"NAME_b64":"base64" for bytes that are not UTF-8. */
static void bytes_member(sl__jw_t *jw, const char *name, const char *s, size_t n)
{
    sl__jw_lit(jw, ",\"");
    sl__jw_lit(jw, name);
    if (is_utf8(s, n)) {
        sl__jw_lit(jw, "\":");
        sl__jw_str(jw, s, n);
    } else {
        sl__jw_lit(jw, "_b64\":");
        sl__jw_b64(jw, s, n);
    }
}

int sl_test_sink_save(const sl_test_sink_t *s, const char *path, char *errstr, size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = 0;
    if (!s || !path) {
        sl__errf(errstr, errstr_size, "a test sink and a path are required");
        return SL_EINVAL;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        sl__errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return SL_EIO;
    }
    sl__jw_t jw;
    sl__jw_init(&jw, NULL, 0);
    int rc = 0;
    for (size_t i = 0; i < sl_test_sink_count(s) && !rc; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        jw.len = 0;
        sl__jw_lit(&jw, "{\"topic\":");
        sl__jw_str(&jw, sl_test_sink_name(s), strlen(sl_test_sink_name(s)));
        if (m->key_len)
            bytes_member(&jw, "key", m->key, m->key_len);
        bytes_member(&jw, "value", m->value, m->value_len);
        sl__jw_lit(&jw, ",\"pipeline\":");
        sl__jw_str(&jw, m->pipeline, strlen(m->pipeline));
        sl__jw_lit(&jw, "}\n");
        if (jw.oom)
            rc = SL_ENOMEM;
        else if (fwrite(jw.buf, 1, jw.len, f) != jw.len)
            rc = SL_EIO;
    }
    sl_free(jw.buf);
    if (fclose(f) && !rc)
        rc = SL_EIO;
    if (rc == SL_EIO)
        sl__errf(errstr, errstr_size, "%s: cannot write: %s", path, strerror(errno));
    else if (rc)
        sl__errf(errstr, errstr_size, "%s: %s", path, sl_strerror(rc));
    return rc;
}

/* ---- pushing ---- */

typedef struct fline_s {
    const char *path;
    size_t line;
    char *errstr;
    size_t errstr_size;
} fline_t;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
bad(const fline_t *fl, int err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sl__errf(fl->errstr, fl->errstr_size, "%s:%zu: %s", fl->path, fl->line, msg);
    return err;
}

/* Bytes of member @p name of @p o: "NAME" (a string, or null: no bytes),
 * "NAME_b64" (base64) or, with @p json_ok, "NAME_json" (any JSON, written
 * compactly). At most one of them. @p buf receives what must be freed. */
static int bytes_of(const fline_t *fl, json_t *o, const char *name, int json_ok, const char **out,
                    size_t *len, char **buf)
{
    char n_b64[32], n_json[32];
    snprintf(n_b64, sizeof n_b64, "%s_b64", name);
    snprintf(n_json, sizeof n_json, "%s_json", name);
    json_t *t = json_object_get(o, name), *b = json_object_get(o, n_b64),
           *j = json_ok ? json_object_get(o, n_json) : NULL;
    *out = NULL;
    *len = 0;
    *buf = NULL;
    if ((t != NULL) + (b != NULL) + (j != NULL) > 1)
        return bad(fl, SL_EFIELD, "give only one of \"%s\", \"%s\"%s%s%s", name, n_b64,
                   json_ok ? " and \"" : "", json_ok ? n_json : "", json_ok ? "\"" : "");
    if (t) {
        if (json_is_null(t))
            return 0;
        if (!json_is_string(t))
            return bad(fl, SL_EFIELD, "\"%s\" must be a string or null (bytes: \"%s\")", name,
                       n_b64);
        *out = json_string_value(t);
        *len = json_string_length(t);
        return 0;
    }
    if (b) {
        if (!json_is_string(b))
            return bad(fl, SL_EFIELD, "\"%s\" must be a base64 string", n_b64);
        size_t bl = json_string_length(b);
        *buf = sl_malloc(bl / 4 * 3 + 1);
        if (!*buf)
            return SL_ENOMEM;
        if (sl_base64_decode(json_string_value(b), bl, *buf, len))
            return bad(fl, SL_EFIELD, "\"%s\" is not standard padded base64", n_b64);
        *out = *buf;
        return 0;
    }
    if (j) {
        sl__jw_t jw;
        sl__jw_init(&jw, NULL, 0);
        int rc = sl__jw_json(&jw, j);
        *buf = jw.buf;
        if (rc)
            return rc == SL_ENOMEM ? rc : bad(fl, SL_EFIELD, "\"%s\" cannot be written", n_json);
        *out = jw.buf ? jw.buf : "";
        *len = jw.len;
    }
    return 0;
}

static int int_member(const fline_t *fl, json_t *o, const char *name, int64_t lo, int64_t hi,
                      int64_t *v)
{
    json_t *x = json_object_get(o, name);
    if (!x)
        return 0;
    if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
        return bad(fl, SL_EFIELD, "\"%s\" must be an integer from %lld to %lld", name,
                   (long long)lo, (long long)hi);
    *v = json_integer_value(x);
    return 0;
}

static const char *const known[] = {"topic",      "partition", "offset",   "timestamp",
                                    "key",        "key_b64",   "value",    "value_b64",
                                    "value_json", "headers",   "pipeline", NULL};

/* Pushes the record of one parsed line. */
static int push_line(sl_test_t *t, const fline_t *fl, json_t *o, const char *topic)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i])
            return bad(fl, SL_EFIELD, "unknown member \"%s\"", k);
    }
    sl_record_t r = {.topic = topic, .offset = -1};
    if (!topic) {
        json_t *tp = json_object_get(o, "topic");
        if (!json_is_string(tp) || !json_string_length(tp) ||
            strlen(json_string_value(tp)) != json_string_length(tp))
            return bad(fl, SL_EFIELD,
                       "\"topic\" must be a non-empty string without NUL (or pass a topic)");
        r.topic = json_string_value(tp);
    }
    int64_t part = 0, off = -1, ts = 0;
    int rc = int_member(fl, o, "partition", 0, INT32_MAX, &part);
    if (!rc)
        rc = int_member(fl, o, "offset", 0, INT64_MAX - 1, &off);
    if (!rc)
        rc = int_member(fl, o, "timestamp", 0, INT64_MAX, &ts);
    if (rc)
        return rc;
    r.partition = (int32_t)part;
    r.offset = off;
    r.timestamp_ms = ts;
    if (!json_object_get(o, "value") && !json_object_get(o, "value_b64") &&
        !json_object_get(o, "value_json"))
        return bad(fl, SL_EFIELD,
                   "no \"value\", \"value_b64\" or \"value_json\" (null for no value)");
    char *kbuf = NULL, *vbuf = NULL;
    const char *kp, *vp;
    size_t kl, vl;
    sl_header_t *h = NULL;
    char **hbufs = NULL;
    json_t *hs = json_object_get(o, "headers");
    size_t nh = json_array_size(hs);
    rc = bytes_of(fl, o, "key", 0, &kp, &kl, &kbuf);
    if (!rc)
        rc = bytes_of(fl, o, "value", 1, &vp, &vl, &vbuf);
    if (!rc && hs && !json_is_array(hs))
        rc = bad(fl, SL_EFIELD, "\"headers\" must be an array of {\"name\", \"value\"}");
    if (!rc && nh) {
        h = sl_calloc(nh, sizeof *h);
        hbufs = sl_calloc(nh, sizeof *hbufs);
        if (!h || !hbufs)
            rc = SL_ENOMEM;
    }
    for (size_t i = 0; !rc && i < nh; i++) {
        json_t *e = json_array_get(hs, i), *name = json_object_get(e, "name");
        if (!json_is_object(e) || !json_is_string(name) || !json_string_length(name) ||
            strlen(json_string_value(name)) != json_string_length(name)) {
            rc = bad(fl, SL_EFIELD, "header %zu: \"name\" must be a non-empty string without NUL",
                     i);
            break;
        }
        json_object_foreach(e, k, v)
        {
            if (strcmp(k, "name") && strcmp(k, "value") && strcmp(k, "value_b64")) {
                rc = bad(fl, SL_EFIELD, "header %zu: unknown member \"%s\"", i, k);
                break;
            }
        }
        const char *hv = NULL;
        size_t hl = 0;
        if (!rc)
            rc = bytes_of(fl, e, "value", 0, &hv, &hl, &hbufs[i]);
        h[i] = (sl_header_t){json_string_value(name), hv, hl};
    }
    if (!rc) {
        r.key = kp;
        r.key_len = kl;
        r.value = vp;
        r.value_len = vl;
        r.headers = h;
        r.header_count = nh;
        rc = sl_test_push_record(t, &r);
        if (rc)
            rc = bad(fl, rc, "cannot push the record: %s", sl_strerror(rc));
    }
    sl_free(kbuf);
    sl_free(vbuf);
    for (size_t i = 0; hbufs && i < nh; i++)
        sl_free(hbufs[i]);
    sl_free(hbufs);
    sl_free(h);
    return rc;
}

int sl_test_push_fixture(sl_test_t *t, const char *path, const char *topic, size_t *pushed,
                         char *errstr, size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = 0;
    if (pushed)
        *pushed = 0;
    if (!t || !path) {
        sl__errf(errstr, errstr_size, "a test driver and a path are required");
        return SL_EINVAL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        sl__errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return SL_EIO;
    }
    fline_t fl = {path, 0, errstr, errstr_size};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    errno = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        fl.line++;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t sp = 0;
        while (sp < len && (line[sp] == ' ' || line[sp] == '\t'))
            sp++;
        if (sp == len) /* blank lines separate nothing: skipped */
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, &je);
        if (!o)
            rc = json_error_code(&je) == json_error_out_of_memory
                     ? bad(&fl, SL_ENOMEM, "out of memory")
                     : bad(&fl, SL_EJSON, "not JSON: %s at column %d", je.text, je.column);
        else if (!json_is_object(o))
            rc = bad(&fl, SL_EJSON, "not a JSON object");
        else
            rc = push_line(t, &fl, o, topic);
        json_decref(o);
        if (!rc && pushed)
            (*pushed)++;
    }
    if (!rc && ferror(f))
        rc = bad(&fl, SL_EIO, "cannot read: %s", strerror(errno));
    free(line); /* getline's, from libc's malloc */
    fclose(f);
    return rc;
}
