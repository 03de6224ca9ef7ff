/* sluice — small JSON writer. */
#include "core/jsonw.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdio.h>
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

void sl__jw_raw(sl__jw_t *jw, const void *s, size_t n)
{
    if (!n || sl__jw_reserve(jw, n))
        return;
    memcpy(jw->buf + jw->len, s, n);
    jw->len += n;
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
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    sl__jw_raw(jw, tmp + i, sizeof tmp - i);
}

void sl__jw_b64(sl__jw_t *jw, const void *s, size_t n)
{
    /* the quotes and the encoder's NUL, overwritten by the closing quote */
    if (sl__jw_reserve(jw, (n + 2) / 3 * 4 + 3))
        return;
    char *o = jw->buf + jw->len;
    *o++ = '"';
    o += sl__b64_encode(s, n, o);
    *o++ = '"';
    jw->len = (size_t)(o - jw->buf);
}
