/* Retries: capped full-jitter backoff, only the affected key held, per-key
 * order kept, retry limit turns into a fault, sink failures per uow. */
#include "helpers.h"

TestSuite(retry);

static void push_kv(sl_test_t *t, const char *key, int i)
{
    char b[256];
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, "thing-updated", key, i)), 0);
}

struct flaky {
    int64_t fail_offset; /* offset that fails */
    int fails_left;      /* how many times; -1 forever */
    int64_t attempt_at[32];
    int attempts;
    sl_test_t *t;
};

static sl_result_t flaky_map(sl_uow_t *u, void *opaque)
{
    struct flaky *f = opaque;
    if (sl_uow_record(u)->offset != f->fail_offset)
        return SL_OK;
    if (f->attempts < 32)
        f->attempt_at[f->attempts] = sl_test_now(f->t);
    f->attempts++;
    if (f->fails_left == 0)
        return SL_OK;
    if (f->fails_left > 0)
        f->fails_left--;
    sl_uow_fail(u, SL_EIO, "downstream unavailable");
    return SL_RETRY;
}

static sl_test_t *flaky_driver(struct flaky *f, sl_test_sink_t **out, const char *retry_max)
{
    const char *kv[] = {"retry.max", retry_max, "retry.backoff.ms", "100", "retry.backoff.max.ms",
                        "400",       NULL};
    sl_test_t *t = driver(kv);
    f->t = t;
    *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    sl_pipeline_map(p, flaky_map, f);
    sl_pipeline_sink(p, sl_test_sink_handle(*out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

Test(retry, holds_only_the_key_and_keeps_its_order)
{
    struct flaky f = {.fail_offset = 0, .fails_left = 3};
    sl_test_sink_t *s;
    sl_test_t *t = flaky_driver(&f, &s, "5");
    const char *keys[] = {"a", "b", "a", "b", "a", "c", "b"};
    for (int i = 0; i < 6; i++)
        push_kv(t, keys[i], i);
    /* a0 is retrying: b1, b3, c5 flow; a2 and a4 wait behind a0. */
    cr_assert_eq(sl_test_sink_count(s), 3);
    cr_assert_eq(sl_test_sink_msg(s, 0)->offset, 1);
    cr_assert_eq(sl_test_sink_msg(s, 1)->offset, 3);
    cr_assert_eq(sl_test_sink_msg(s, 2)->offset, 5);
    cr_assert_eq(sl_test_committed(t, "in", 0), -1, "offset 0 holds the watermark back");
    push_kv(t, "b", 6);
    cr_assert_eq(sl_test_sink_count(s), 4, "other keys keep flowing during the retry");
    sl_test_advance(t, 5000);
    cr_assert_eq(f.attempts, 4);
    cr_assert_eq(sl_test_sink_count(s), 7);
    int64_t a_order[3], n = 0;
    for (size_t i = 0; i < 7; i++)
        if (!strcmp(keys[sl_test_sink_msg(s, i)->offset], "a"))
            a_order[n++] = sl_test_sink_msg(s, i)->offset;
    cr_assert_eq(n, 3);
    cr_assert_eq(a_order[0], 0);
    cr_assert_eq(a_order[1], 2);
    cr_assert_eq(a_order[2], 4);
    cr_assert_eq(sl_test_committed(t, "in", 0), 7);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t);
}

Test(retry, capped_full_jitter_backoff)
{
    struct flaky f = {.fail_offset = 0, .fails_left = 6};
    sl_test_sink_t *s;
    sl_test_t *t = flaky_driver(&f, &s, "10");
    push_kv(t, "a", 0);
    sl_test_advance(t, 10000);
    cr_assert_eq(f.attempts, 7);
    int64_t caps[] = {100, 200, 400, 400, 400, 400};
    int distinct = 0;
    for (int i = 1; i < 7; i++) {
        int64_t d = f.attempt_at[i] - f.attempt_at[i - 1];
        cr_assert_geq(d, 1, "retry %d waited %lld ms", i, (long long)d);
        cr_assert_leq(d, caps[i - 1], "retry %d waited %lld ms, cap %lld", i, (long long)d,
                      (long long)caps[i - 1]);
        if (i > 1 && d != f.attempt_at[i - 1] - f.attempt_at[i - 2])
            distinct++;
    }
    cr_assert_gt(distinct, 0, "jitter: delays are not all the same");
    cr_assert_eq(sl_test_sink_count(s), 1);
    sl_test_destroy(t);
}

Test(retry, limit_turns_into_fault_and_releases_the_key)
{
    struct flaky f = {.fail_offset = 0, .fails_left = -1};
    sl_test_sink_t *s;
    sl_test_t *t = flaky_driver(&f, &s, "3");
    push_kv(t, "a", 0);
    push_kv(t, "a", 1);
    cr_assert_eq(sl_test_sink_count(s), 0);
    sl_test_advance(t, 5000);
    cr_assert_eq(f.attempts, 4, "first try + 3 retries");
    cr_assert_eq(sl_test_sink_count(s), 1);
    cr_assert_eq(sl_test_sink_msg(s, 0)->offset, 1);
    sl_test_sink_t *faults = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(faults), 1);
    const char *v = sl_test_sink_msg(faults, 0)->value;
    cr_assert(strstr(v, "\"name\":\"SL_ERETRIES\""), "%s", v);
    cr_assert(strstr(v, "downstream unavailable"), "%s", v);
    cr_assert(strstr(v, "\"stage\":\"map\""), "%s", v);
    cr_assert(strstr(v, "\"attempts\":4"), "%s", v);
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    sl_test_destroy(t);
}

Test(retry, sink_failures_per_uow)
{
    const char *kv[] = {"retry.max", "5", "retry.backoff.ms", "10", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = driver_out(kv, "p", NULL, NULL, 4, &s);
    /* First write: a0 fails retriably, the others succeed; a0 comes back. */
    sl_test_sink_fail_next(s, 1, SL_EIO);
    const char *first[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        push_kv(t, first[i], i);
    cr_assert_eq(sl_test_sink_writes(s), 1);
    cr_assert_eq(sl_test_sink_count(s), 3);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(s), 4);
    cr_assert_eq(sl_test_sink_msg(s, 3)->offset, 0);
    cr_assert_eq(sl_test_committed(t, "in", 0), 4);
    sl_test_destroy(t);

    t = driver_out(kv, "p", NULL, NULL, 4, &s);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        push_kv(t, keys[i], i);
    cr_assert_eq(sl_test_sink_pending(s), 4);
    push_kv(t, "a", 4); /* later uow of a, open in the next batch */
    sl_test_sink_set_ack(s, SL_TEST_ACK_AUTO);
    cr_assert_eq(sl_test_sink_ack(s, 0, SL_EIO), 0);   /* a0: retriable */
    cr_assert_eq(sl_test_sink_ack(s, 0, SL_ESINK), 0); /* b1: permanent -> fault */
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    sl_test_advance(t, 1000);
    /* c2, d3, then a0 (retried), then a4 which waited behind it. */
    cr_assert_eq(sl_test_sink_count(s), 4);
    cr_assert_eq(sl_test_sink_msg(s, 2)->offset, 0);
    cr_assert_eq(sl_test_sink_msg(s, 3)->offset, 4);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1);
    cr_assert(strstr(sl_test_sink_msg(sl_test_faults(t), 0)->value, "\"stage\":\"sink\""));
    cr_assert_eq(sl_test_committed(t, "in", 0), 5);
    sl_test_destroy(t);
}

Test(retry, whole_write_failure_is_retried)
{
    const char *kv[] = {"retry.backoff.ms", "10", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = driver_out(kv, "p", NULL, NULL, 3, &s);
    sl_test_sink_fail_writes(s, 2, SL_ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        push_kv(t, i == 1 ? "x" : "y", i);
    cr_assert_eq(sl_test_sink_count(s), 0);
    sl_test_advance(t, 2000);
    cr_assert_eq(sl_test_sink_count(s), 3);
    /* per-key order of y survives the retry */
    int64_t last_y = -1;
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        if (m->offset != 1) { /* key y */
            cr_assert_gt(m->offset, last_y);
            last_y = m->offset;
        }
    }
    cr_assert_eq(sl_test_committed(t, "in", 0), 3);
    sl_test_destroy(t);
}

/* A later uow of a key, acknowledged after an earlier uow of the key failed,
 * must not land before it: its success becomes a re-send behind the earlier
 * one (a duplicate at worst, never a reordering). Other keys are untouched. */
Test(retry, a_later_success_does_not_overtake_an_earlier_failure_of_its_key)
{
    const char *kv[] = {"retry.max", "2", "retry.backoff.ms", "10", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = driver_out(kv, "p", NULL, NULL, 3, &s);
    sl_test_sink_set_ack(s, SL_TEST_ACK_MANUAL);
    push_kv(t, "a", 0);
    push_kv(t, "b", 1);
    push_kv(t, "a", 2);
    cr_assert_eq(sl_test_sink_pending(s), 3, "one write of a0, b1, a2");
    cr_assert_eq(sl_test_sink_ack(s, 0, SL_EIO), 0); /* a0 fails, retriable */
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);      /* b1 lands */
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);      /* a2 lands after a0 failed */
    /* The destination has b1 and a2; a2 overtook a0, so it must come again. */
    cr_assert_eq(sl_test_sink_count(s), 2);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_pending(s), 1, "a0 written again, a2 waits behind it");
    size_t len;
    const char *v = sl_test_sink_pending_value(s, 0, &len);
    cr_assert(v && strstr(v, "\"n\":0"), "the pending one is a0");
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_pending(s), 1, "then a2 is written again");
    cr_assert_eq(sl_test_sink_ack(s, 0, 0), 0);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_pending(s), 0);
    cr_assert_eq(sl_test_sink_count(s), 4, "b1, a2, a0, a2: one duplicate");
    cr_assert_eq(sl_test_sink_msg(s, 0)->offset, 1);
    cr_assert_eq(sl_test_sink_msg(s, 1)->offset, 2);
    cr_assert_eq(sl_test_sink_msg(s, 2)->offset, 0);
    cr_assert_eq(sl_test_sink_msg(s, 3)->offset, 2, "the last copy of a2 follows a0");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0,
                 "the re-send of a2 does not count against retry.max");
    cr_assert_eq(sl_test_committed(t, "in", 0), 3);
    sl_test_destroy(t);
}
