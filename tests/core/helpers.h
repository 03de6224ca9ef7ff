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

/* Ends pipeline @p p with the test sink @p out and adds it to @p t. */
static inline void add_with_sink(sl_test_t *t, sl_pipeline_t *p, sl_test_sink_t *out)
{
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
}

/* A test driver with @p kv and one pipeline @p name into a test sink "out"
 * (in *@p out): a map stage @p map (@p opaque) when it is not NULL, then
 * batches of @p max_events (linger 5 ms) when it is not 0. */
static inline sl_test_t *driver_out(const char *const *kv, const char *name, sl_stage_fn map,
                                    void *opaque, size_t max_events, sl_test_sink_t **out)
{
    sl_test_t *t = driver(kv);
    *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new(name);
    if (map)
        cr_assert_eq(sl_pipeline_map(p, map, opaque), 0);
    if (max_events) {
        sl_batch_opts_t o = {.max_events = max_events, .max_bytes = 0, .linger_ms = 5};
        cr_assert_eq(sl_pipeline_batch(p, &o), 0);
    }
    add_with_sink(t, p, *out);
    return t;
}

static inline int span_is(sl_span_t s, const char *lit)
{
    return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

#endif
