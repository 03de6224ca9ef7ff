/* An RFC 3339 reader for the fuzz targets, written apart from the library's
 * sl_rfc3339_parse(): days are counted from year 1 with the leap-year rule
 * (the library uses the era formula), so the two do not share a mistake.
 * No timegm(): the header compiles alone, with no feature macro. */
#ifndef SL_FUZZ_TIME_H
#define SL_FUZZ_TIME_H

#include <stdint.h>
#include <string.h>

static inline int fuzz_digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

/* RFC 3339 date-time as the header documents it (a space or 't' for 'T',
 * 'z' for 'Z', second 60 rolling into the next minute, fractions truncated
 * to ms), read here apart from the library. */
static inline int fuzz_rfc3339(const char *s, size_t n, int64_t *ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0, sign = 0;
    size_t i = 19;
    if (n < 20 || !fuzz_digits(s, 4, &y) || s[4] != '-' || !fuzz_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !fuzz_digits(s + 8, 2, &d) || !strchr("Tt ", s[10]) || !s[10] ||
        !fuzz_digits(s + 11, 2, &h) || s[13] != ':' || !fuzz_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !fuzz_digits(s + 17, 2, &sec))
        return 0;
    if (s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - f0 < 3)
                frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (i == f0)
            return 0;
        for (size_t k = i - f0; k < 3; k++)
            frac *= 10;
    }
    if (i == n)
        return 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '-' ? -1 : 1;
        if (n - i < 6 || !fuzz_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !fuzz_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return 0;
        i += 6;
    } else {
        return 0;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (i != n || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
        return 0;
    /* Year 0000 is allowed: count from 400 years later (146 097 days, a
     * whole Gregorian cycle) so that every division is of a positive. */
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t yy = (int64_t)y + 400 - 1; /* whole years before this one */
    int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400 + before[mo - 1] + (mo > 2 && leap) +
                   (d - 1) - 146097 - 719162; /* 719 162: 0001-01-01 to 1970-01-01 */
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + sec;
    *ms = ((int64_t)t - (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
    return 1;
}

#endif
