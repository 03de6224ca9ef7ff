/* Helpers every test suite may use: a monotonic clock, a sleep, and a
 * base64 decoder of the tests' own (so a fault event's bytes are checked
 * with code independent of the library's encoder). */
#ifndef SL_TEST_UTIL_H
#define SL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/sluice.h"

static inline int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Decodes base64 @p in (up to its padding) into @p out, which holds
 * strlen(in) / 4 * 3 + 3 bytes; a character outside the alphabet fails the
 * test. Returns the decoded length. */
static inline size_t tu_b64dec(const char *in, unsigned char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        cr_assert(p, "base64 alphabet");
        v = (v << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    return n;
}

/* A processor configured with the pairs of @p kv, then of @p extra (key,
 * value, ..., NULL; either may be NULL); every setting and the processor
 * must be accepted. The caller destroys it. */
static inline sl_processor_t *tu_processor(const char *const *kv, const char *const *extra)
{
    char err[512];
    sl_conf_t *c = sl_conf_new();
    cr_assert(c);
    for (const char *const *l = kv; l; l = l == kv ? extra : NULL)
        for (size_t i = 0; l[i]; i += 2)
            cr_assert_eq(sl_conf_set(c, l[i], l[i + 1], err, sizeof err), 0, "%s", err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    return p;
}

/* The text of file @p path (calloc'd, NUL-terminated; the caller frees it),
 * or an empty string when it cannot be read. */
static inline char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    cr_assert(s);
    if (n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = 0;
    fclose(f);
    return s;
}

#endif
