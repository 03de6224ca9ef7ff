/* Collectors: batch bounds (count, bytes, linger, sink hard limits, oversize),
 * compact by key, group by key. */
#include "helpers.h"

TestSuite(batch);

struct bcase {
    const char *name;
    sl_batch_opts_t opts;
    size_t sink_max_events, sink_max_bytes;
    int pushes;
    int64_t advance;
    size_t want_writes;
    size_t want_first, want_last;
};

/* Values are exactly 20 bytes, keys "k" (1 byte): 21 bytes per uow. */
static void push_n(sl_test_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "{\"type\":\"t%08d\"}", i);
        cr_assert_eq(strlen(v), 20);
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", v), 0);
    }
}

Test(batch, bounds_table)
{
    static const struct bcase cases[] = {
        {.name = "count",
         .opts = {.max_events = 10, .max_bytes = 0, .linger_ms = 1000},
         .pushes = 25,
         .advance = 0,
         .want_writes = 2,
         .want_first = 10,
         .want_last = 10},
        {.name = "count+linger",
         .opts = {.max_events = 10, .max_bytes = 0, .linger_ms = 1000},
         .pushes = 25,
         .advance = 1000,
         .want_writes = 3,
         .want_first = 10,
         .want_last = 5},
        {.name = "linger not yet",
         .opts = {.max_events = 10, .max_bytes = 0, .linger_ms = 1000},
         .pushes = 5,
         .advance = 999,
         .want_writes = 0},
        {.name = "bytes",
         .opts = {.max_events = 100, .max_bytes = 21 * 4, .linger_ms = 50},
         .pushes = 9,
         .advance = 50,
         .want_writes = 3,
         .want_first = 4,
         .want_last = 1},
        {.name = "sink max events",
         .opts = {.max_events = 100, .max_bytes = 0, .linger_ms = 50},
         .sink_max_events = 3,
         .pushes = 7,
         .advance = 50,
         .want_writes = 3,
         .want_first = 3,
         .want_last = 1},
        {.name = "sink max bytes",
         .opts = {.max_events = 100, .max_bytes = 0, .linger_ms = 50},
         .sink_max_bytes = 42,
         .pushes = 5,
         .advance = 50,
         .want_writes = 3,
         .want_first = 2,
         .want_last = 1},
        {.name = "linger 0 closes at the tick",
         .opts = {.max_events = 100, .max_bytes = 0, .linger_ms = 0},
         .pushes = 5,
         .advance = 0,
         .want_writes = 1,
         .want_first = 5,
         .want_last = 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct bcase *c = &cases[i];
        sl_test_t *t = driver(NULL);
        sl_test_sink_t *s = sl_test_sink_new(t, "out", c->sink_max_events, c->sink_max_bytes, 0);
        sl_pipeline_t *p = sl_pipeline_new("b");
        cr_assert_eq(sl_pipeline_batch(p, &c->opts), 0);
        add_with_sink(t, p, s);
        push_n(t, c->pushes);
        sl_test_advance(t, c->advance);
        cr_assert_eq(sl_test_sink_writes(s), c->want_writes, "%s: writes", c->name);
        if (c->want_writes) {
            cr_assert_eq(sl_test_sink_write_size(s, 0), c->want_first, "%s: first", c->name);
            cr_assert_eq(sl_test_sink_write_size(s, c->want_writes - 1), c->want_last, "%s: last",
                         c->name);
        }
        for (size_t k = 0; k < sl_test_sink_count(s); k++)
            cr_assert_eq(sl_test_sink_msg(s, k)->offset, (int64_t)k, "%s: order", c->name);
        cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
        sl_test_destroy(t);
    }
}

Test(batch, oversize_uow_is_a_fault_and_the_rest_flows)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 64); /* 64-byte records at most */
    sl_pipeline_t *p = sl_pipeline_new("b");
    sl_batch_opts_t o = {.max_events = 10, .max_bytes = 0, .linger_ms = 10};
    sl_pipeline_batch(p, &o);
    add_with_sink(t, p, s);
    char big[200];
    snprintf(big, sizeof big, "{\"type\":\"t\",\"pad\":\"%0150d\"}", 0);
    push_n(t, 2);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", big), 0);
    push_n(t, 2);
    sl_test_advance(t, 10);
    cr_assert_eq(sl_test_sink_count(s), 4);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1);
    const sl_test_msg_t *f = sl_test_sink_msg(sl_test_faults(t), 0);
    cr_assert(strstr(f->value, "\"name\":\"SL_ETOOBIG\""), "%s", f->value);
    cr_assert(strstr(f->value, "\"stage\":\"batch\""));
    cr_assert_eq(f->offset, 2);
    cr_assert_eq(sl_test_committed(t, "in", 0), 5, "the fault is done once acknowledged");
    sl_test_destroy(t);
}

static void push_kv(sl_test_t *t, const char *key, int i)
{
    char b[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "thing-updated", key, i)), 0);
}

Test(batch, compact_keeps_newest_per_key)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("c");
    sl_batch_opts_t o = {.max_events = 100, .max_bytes = 0, .linger_ms = 100};
    cr_assert_eq(sl_pipeline_compact(p, &o), 0);
    add_with_sink(t, p, s);
    const char *keys[] = {"a", "b", "a", "c", "b", "a"};
    for (int i = 0; i < 6; i++)
        push_kv(t, keys[i], i);
    cr_assert_eq(sl_test_committed(t, "in", 0), -1);
    sl_test_advance(t, 100);
    cr_assert_eq(sl_test_sink_count(s), 3);
    /* survivors in the order of their own position: c(3), b(4), a(5) */
    int64_t want[] = {3, 4, 5};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sl_test_sink_msg(s, (size_t)i)->offset, want[i]);
    sl_stats_t st;
    sl_engine_pipeline_stats(sl_test_engine(t), "c", &st);
    cr_assert_eq(st.compacted, 3);
    cr_assert_eq(sl_test_committed(t, "in", 0), 6);
    /* Streaming: a second window compacts on its own. */
    push_kv(t, "a", 6);
    push_kv(t, "a", 7);
    sl_test_advance(t, 100);
    cr_assert_eq(sl_test_sink_count(s), 4);
    cr_assert_eq(sl_test_sink_msg(s, 3)->offset, 7);
    sl_test_destroy(t);
}

Test(batch, group_writes_once_per_key_in_order)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("g");
    sl_batch_opts_t o = {.max_events = 6, .max_bytes = 0, .linger_ms = 100};
    cr_assert_eq(sl_pipeline_group(p, &o), 0);
    add_with_sink(t, p, s);
    const char *keys[] = {"a", "b", "a", "c", "b", "a", "z"};
    for (int i = 0; i < 7; i++)
        push_kv(t, keys[i], i);
    /* 6 uows closed the batch: groups a(0,2,5) b(1,4) c(3); z still open. */
    cr_assert_eq(sl_test_sink_writes(s), 3);
    cr_assert_eq(sl_test_sink_write_size(s, 0), 3);
    cr_assert_eq(sl_test_sink_write_size(s, 1), 2);
    cr_assert_eq(sl_test_sink_write_size(s, 2), 1);
    int64_t want[] = {0, 2, 5, 1, 4, 3};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(sl_test_sink_msg(s, (size_t)i)->offset, want[i]);
    sl_test_advance(t, 100);
    cr_assert_eq(sl_test_sink_count(s), 7);
    cr_assert_eq(sl_test_committed(t, "in", 0), 7);
    sl_test_destroy(t);
}

Test(batch, flush_closes_open_batches)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("b");
    sl_pipeline_batch(p, NULL); /* configured defaults: 500 events, 50 ms */
    add_with_sink(t, p, s);
    push_n(t, 7);
    cr_assert_eq(sl_test_sink_count(s), 0);
    cr_assert_eq(sl_engine_flush(sl_test_engine(t)), 0);
    cr_assert_eq(sl_test_sink_writes(s), 1);
    cr_assert_eq(sl_test_sink_count(s), 7);
    sl_test_destroy(t);
}
