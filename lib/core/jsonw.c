/* sluice — small JSON writer. */
#include "core/jsonw.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/record.h"

#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl__jw_init(sl__jw_t *jw, char *buf, size_t cap)
{
    jw->buf = buf;
    jw->cap = buf ? cap : 0;
    jw->len = 0;
    jw->oom = 0;
}

int sl__jw_reserve(sl__jw_t *jw, size_t extra)
{
    if (jw->oom)
        return SL_ENOMEM;
    if (jw->cap - jw->len >= extra)
        return 0;
    size_t cap = jw->cap ? jw->cap : 256;
    while (cap - jw->len < extra) {
        if (cap > SIZE_MAX / 2) {
            jw->oom = 1;
            return SL_ENOMEM;
        }
        cap *= 2;
    }
    char *b = sl_realloc(jw->buf, cap);
    if (!b) {
        jw->oom = 1;
        return SL_ENOMEM;
    }
    jw->buf = b;
    jw->cap = cap;
    return 0;
}

void sl__jw_lit(sl__jw_t *jw, const char *s)
{
    sl__jw_raw(jw, s, strlen(s));
}

size_t sl__utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4, min = 0x10000;
    else
        return 0;
    if (n < need)
        return 0;
    unsigned cp = c & (0x3f >> (need - 1));
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

void sl__jw_str(sl__jw_t *jw, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = s;
    /* Worst case: every byte becomes a 6-byte escape. */
    if (sl__jw_reserve(jw, n * 6 + 2))
        return;
    char *o = jw->buf + jw->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            *o++ = (char)c;
            i++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            i++;
        } else {
            size_t k = sl__utf8_len(p + i, n - i);
            if (k) {
                memcpy(o, p + i, k);
                o += k;
                i += k;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            }
        }
    }
    *o++ = '"';
    jw->len = (size_t)(o - jw->buf);
}

void sl__jw_int(sl__jw_t *jw, int64_t v)
{
    /* By hand: snprintf is a large share of a small event's cost. */
    char tmp[24];
    char *end = tmp + sizeof tmp, *p = end;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    /* two digits per division: a 13-digit epoch in ms takes 7 steps, not 13 */
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * d, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    sl__jw_raw(jw, p, (size_t)(end - p));
}

/* Whether @p a and @p b are the same double, bit for bit (-0.0 is not 0.0). */
static int same_double(double a, double b)
{
    return !memcmp(&a, &b, sizeof a);
}

/* The 16-digit decimal next above |v|'s nearest one, as %.16g would write it
 * (exponent form), when it reads back to @p v; else 0. Needed at a power of
 * two only: it has twice as much room above it as below, so its nearest
 * 16-digit decimal may fall out below while the next one up is in (2^-1017:
 * 7.120236347223045e-307, where %.17g writes 7.1202363472230444e-307).
 * Elsewhere the room is the same on both sides, and the nearest decides. */
static int next_up16(double v, char *buf, size_t size)
{
    char m[40];
    snprintf(m, sizeof m, "%.15e", v); /* [-]d.ddddddddddddddde±XX */
    char *e = strchr(m, 'e');
    if (!e)
        return 0;
    int x = atoi(e + 1);
    /* %.16g writes these in fixed notation; no power of two there needs 16
     * digits (2^-13 .. 2^53 are exact in fewer) */
    if (x >= -4 && x < 16)
        return 0;
    for (char *p = e - 1;; p--) {
        if (p < m || *p == '-')
            return 0; /* 9.999...: the carry would make 17 digits */
        if (*p < '0' || *p > '9')
            continue; /* the decimal point */
        if (*p < '9') {
            (*p)++;
            break;
        }
        *p = '0';
    }
    if (!same_double(strtod(m, NULL), v))
        return 0;
    char *q = e; /* %g drops trailing zeros (and a bare point) */
    while (q[-1] == '0')
        q--;
    if (q[-1] < '0' || q[-1] > '9')
        q--;
    memmove(q, e, strlen(e) + 1);
    return snprintf(buf, size, "%s", m);
}

size_t sl__fmt_double(double v, char out[SL__DBL_MAX_LEN + 1])
{
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    /* For a normal double every decimal of up to 15 significant digits
     * survives the trip through it (DBL_DIG), so when the shortest form has
     * at most 15 digits, %.15g (which drops trailing zeros) prints exactly
     * it; otherwise it has 16 (the nearest, or at a power of two the next
     * one up: next_up16()) or 17. A subnormal has fewer digits of
     * precision: try every length. %.17g always reads back. */
    char buf[40];
    int n = 0;
    int normal = fabs(v) >= DBL_MIN;
    for (int prec = normal ? 15 : 1; prec <= 17; prec++) {
        n = snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (prec == 17 || same_double(strtod(buf, NULL), v))
            break;
        if (prec == 16 && normal) {
            int k = next_up16(v, buf, sizeof buf);
            if (k > 0) {
                n = k;
                break;
            }
        }
    }
    /* snprintf and strtod agree on the locale's decimal point; JSON's is '.'. */
    const char *point = localeconv()->decimal_point;
    if (point && point[0] && point[0] != '.' && !point[1]) {
        char *d = strchr(buf, point[0]);
        if (d)
            *d = '.';
    }
    size_t o = 0;
    int real_looking = 0;
    for (int i = 0; i < n; i++) {
        char c = buf[i];
        out[o++] = c;
        if (c == '.')
            real_looking = 1;
        if (c == 'e') {
            real_looking = 1;
            /* "e+07" is written "e7", "e-07" "e-7" */
            i++;
            if (buf[i] == '-')
                out[o++] = '-';
            else if (buf[i] != '+')
                i--;
            while (i + 2 < n && buf[i + 1] == '0')
                i++;
        }
    }
    if (!real_looking) {
        out[o++] = '.';
        out[o++] = '0';
    }
    out[o] = 0;
    return o;
}

void sl__jw_double(sl__jw_t *jw, double v)
{
    char tmp[SL__DBL_MAX_LEN + 1];
    sl__jw_raw(jw, tmp, sl__fmt_double(v, tmp));
}

/* A string as jansson escapes it: the two-character escapes it uses, other
 * control characters as \u00XX, everything else (UTF-8 included) as it is. */
static int jw_jstr(sl__jw_t *jw, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)str;
    size_t i = 0, run = 0;
    if (sl__jw_reserve(jw, n + 2))
        return SL_ENOMEM;
    jw->buf[jw->len++] = '"';
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (c < 0x80) {
                i++;
                continue;
            }
            size_t k = sl__utf8_len(p + i, n - i);
            if (!k)
                return SL_EINVAL;
            i += k;
            continue;
        }
        sl__jw_raw(jw, p + run, i - run);
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        sl__jw_raw(jw, esc, el);
        run = ++i;
    }
    sl__jw_raw(jw, p + run, i - run);
    sl__jw_raw(jw, "\"", 1);
    return jw->oom ? SL_ENOMEM : 0;
}

static int jw_value(sl__jw_t *jw, const json_t *v, int depth)
{
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= SL__JW_MAX_DEPTH)
            return SL_EINVAL;
        json_t *o = (json_t *)v; /* jansson's iterators take no const */
        sl__jw_raw(jw, "{", 1);
        int first = 1;
        for (void *it = json_object_iter(o); it && !rc; it = json_object_iter_next(o, it)) {
            if (!first)
                sl__jw_raw(jw, ",", 1);
            first = 0;
            rc = jw_jstr(jw, json_object_iter_key(it), json_object_iter_key_len(it));
            sl__jw_raw(jw, ":", 1);
            if (!rc)
                rc = jw_value(jw, json_object_iter_value(it), depth + 1);
        }
        sl__jw_raw(jw, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        if (depth >= SL__JW_MAX_DEPTH)
            return SL_EINVAL;
        size_t n = json_array_size(v);
        sl__jw_raw(jw, "[", 1);
        for (size_t i = 0; i < n && !rc; i++) {
            if (i)
                sl__jw_raw(jw, ",", 1);
            rc = jw_value(jw, json_array_get(v, i), depth + 1);
        }
        sl__jw_raw(jw, "]", 1);
        break;
    }
    case JSON_STRING:
        rc = jw_jstr(jw, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sl__jw_int(jw, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        sl__jw_double(jw, json_real_value(v));
        break;
    case JSON_TRUE:
        sl__jw_raw(jw, "true", 4);
        break;
    case JSON_FALSE:
        sl__jw_raw(jw, "false", 5);
        break;
    case JSON_NULL:
        sl__jw_raw(jw, "null", 4);
        break;
    }
    if (rc)
        return rc;
    return jw->oom ? SL_ENOMEM : 0;
}

int sl__jw_json(sl__jw_t *jw, const json_t *v)
{
    if (!v)
        return SL_EINVAL;
    return jw_value(jw, v, 0);
}

void sl__jw_b64(sl__jw_t *jw, const void *s, size_t n)
{
    /* the quotes and the encoder's NUL, overwritten by the closing quote */
    if (sl__jw_reserve(jw, (n + 2) / 3 * 4 + 3))
        return;
    char *o = jw->buf + jw->len;
    *o++ = '"';
    o += sl_base64_encode(s, n, o);
    *o++ = '"';
    jw->len = (size_t)(o - jw->buf);
}
