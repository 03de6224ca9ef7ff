/* Shared helpers for the core suites: event text and a driver with one pipeline. */
#ifndef SL_TEST_HELPERS_H
#define SL_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sluice/sluice.h"

/* A JSON event in @p buf (static per call site is the caller's business). */
static inline const char *ev(char *buf, size_t n, const char *type, const char *key, int i)
{
    snprintf(buf, n,
             "{\"id\":\"e-%d\",\"type\":\"%s\",\"timestamp\":%d,\"partitionKey\":\"%s\","
             "\"thing\":{\"id\":\"%s\",\"n\":%d}}",
             i, type, 1700000000 + i, key, key, i);
    return buf;
}

static inline sl_test_t *driver(const char *const *kv)
{
    sl_conf_t *c = sl_conf_new();
    cr_assert(c);
    char err[256];
    for (; kv && kv[0]; kv += 2)
        cr_assert_eq(sl_conf_set(c, kv[0], kv[1], err, sizeof err), 0, "%s", err);
    sl_test_t *t = sl_test_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(t, "%s", err);
    return t;
}

static inline int span_is(sl_span_t s, const char *lit)
{
    return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

#endif
