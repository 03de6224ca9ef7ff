/* sluice — small helpers every layer shares. */
#include "core/util.h"

#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/record.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void sl__errf(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (!errstr || !errstr_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

int sl__grow_slow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return SL_ENOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return SL_ENOMEM;
    /* The array pointer's own type is the caller's: it is read and written
     * as bytes, which any object pointer may be. */
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *p = sl_realloc(old, c * elem);
    if (!p)
        return SL_ENOMEM;
    memcpy(arrp, &p, sizeof p);
    *cap = c;
    return 0;
}

/* ---- base64 (Kinesis Data, fault events) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sl_base64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *s = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sl_base64_decode(const char *in, size_t n, void *out, size_t *out_len)
{
    if (n % 4)
        return SL_EFIELD;
    unsigned char *d = out;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64v(in[i]), b = b64v(in[i + 1]);
        int pad2 = in[i + 2] == '=', pad3 = in[i + 3] == '=';
        int c = pad2 ? 0 : b64v(in[i + 2]), e = pad3 ? 0 : b64v(in[i + 3]);
        if (a < 0 || b < 0 || c < 0 || e < 0 || (pad2 && !pad3) || ((pad2 || pad3) && i + 4 != n))
            return SL_EFIELD;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)e;
        d[o++] = (unsigned char)(v >> 16);
        if (!pad2)
            d[o++] = (unsigned char)(v >> 8);
        if (!pad3)
            d[o++] = (unsigned char)v;
    }
    *out_len = o;
    return 0;
}
