/* sluice — JSON string spans unescaped (sl_span_unescape) and RFC 3339
 * times (sl_rfc3339_parse), for the scanner's users (see scan.c). */
#include "core/scan_int.h"
#include "sluice/error.h"
#include "sluice/record.h"

#include <stdint.h>
#include <string.h>

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t s_utf8_encode(unsigned long cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int sl_span_unescape(sl_span_t s, char *out, size_t cap, size_t *out_len)
{
    const unsigned char *p, *end;
    size_t n = 0;

    if (!s.len) {
        if (out_len)
            *out_len = 0;
        return 0;
    }
    if (!s.ptr)
        return SL_EINVAL;
    p = (const unsigned char *)s.ptr;
    end = p + s.len;
    while (p < end) {
        const unsigned char *q = memchr(p, '\\', (size_t)(end - p)), *next;
        size_t run = (size_t)((q ? q : end) - p), k;
        unsigned char u8[4];
        const char *reason;
        long cp;

        if (run) {
            if (!out || run > cap - n)
                return SL_ERANGE;
            memcpy(out + n, p, run);
            n += run;
            p += run;
        }
        if (!q)
            break;
        if (end - p < 2)
            return SL_EJSON;
        next = p + 2;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            cp = p[1];
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            cp = sl__scan_uescape(p, end, &next, &reason);
            if (cp < 0)
                return SL_EJSON;
            break;
        default:
            return SL_EJSON;
        }
        k = s_utf8_encode((unsigned long)cp, u8);
        if (!out || k > cap - n)
            return SL_ERANGE;
        memcpy(out + n, u8, k);
        n += k;
        p = next;
    }
    if (out_len)
        *out_len = n;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no timegm() and no TZ dependence. */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int s_dec(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 1;
}

int sl_rfc3339_parse(const char *s, size_t len, int64_t *out_ms)
{
    static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0, ms = 0;
    size_t i = 19;
    int64_t t, off = 0;

    /* YYYY-MM-DDTHH:MM:SS then [.frac] then Z or +hh:mm */
    if (!s || len < 20 || !s_dec(s, 4, &y) || s[4] != '-' || !s_dec(s + 5, 2, &mo) || s[7] != '-' ||
        !s_dec(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !s_dec(s + 11, 2, &h) || s[13] != ':' || !s_dec(s + 14, 2, &mi) || s[16] != ':' ||
        !s_dec(s + 17, 2, &sec))
        return SL_EFIELD;
    if (s[i] == '.') {
        unsigned scale = 100;
        i++;
        if (i == len || !is_digit(s[i]))
            return SL_EFIELD;
        for (; i < len && is_digit(s[i]); i++) {
            ms += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
        }
    }
    if (i == len)
        return SL_EFIELD;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i < 6 || !s_dec(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !s_dec(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return SL_EFIELD;
        off = (int64_t)(oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return SL_EFIELD;
    }
    if (i != len || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return SL_EFIELD;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return SL_EFIELD;
    t = ((s_days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60 + sec;
    if (out_ms)
        *out_ms = t * 1000 + ms;
    return 0;
}
