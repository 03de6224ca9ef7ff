/* In-flight bounds: the engine asks the source to pause above them and to
 * resume below the low mark. */
#include "helpers.h"

TestSuite(flow);

static sl_test_t *manual(sl_test_sink_t **out, const char *const *kv)
{
    sl_test_t *t = driver_out(kv, "p", NULL, NULL, 0, out);
    sl_test_sink_set_ack(*out, SL_TEST_ACK_MANUAL);
    return t;
}

Test(flow, engine_bound_by_count)
{
    const char *kv[] = {"inflight.max.records", "10", "inflight.resume.pct", "50", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = manual(&s, kv);
    for (int i = 0; i < 9; i++) {
        sl_test_push_str(t, "in", i % 2, "k", "{\"type\":\"a\"}");
        cr_assert_not(sl_test_paused(t, "in", 0));
    }
    sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}");
    cr_assert(sl_test_paused(t, "in", 0));
    cr_assert(sl_test_paused(t, "in", 1), "the engine-wide bound pauses every partition");
    for (int i = 0; i < 4; i++) {
        sl_test_sink_ack(s, 0, 0);
        cr_assert(sl_test_paused(t, "in", 0), "still above the low mark after %d acks", i + 1);
    }
    sl_test_sink_ack(s, 0, 0); /* 5 in flight = 50% */
    cr_assert_not(sl_test_paused(t, "in", 0));
    cr_assert_not(sl_test_paused(t, "in", 1));
    sl_test_destroy(t);
}

Test(flow, engine_bound_by_bytes)
{
    const char *kv[] = {"inflight.max.bytes", "100", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = manual(&s, kv);
    char v[64];
    snprintf(v, sizeof v, "{\"type\":\"a\",\"pad\":\"%029d\"}", 0); /* 50 bytes */
    cr_assert_eq(strlen(v), 50);
    sl_test_push_str(t, "in", 0, "k", v);
    cr_assert_not(sl_test_paused(t, "in", 0));
    sl_test_push_str(t, "in", 0, "k", v);
    cr_assert(sl_test_paused(t, "in", 0));
    sl_test_sink_ack(s, 0, 0);
    cr_assert_not(sl_test_paused(t, "in", 0));
    sl_test_destroy(t);
}

Test(flow, partition_bound_pauses_only_that_partition)
{
    const char *kv[] = {"inflight.partition.max.records", "4", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = manual(&s, kv);
    for (int i = 0; i < 4; i++)
        sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}");
    sl_test_push_str(t, "in", 1, "k", "{\"type\":\"a\"}");
    cr_assert(sl_test_paused(t, "in", 0));
    cr_assert_not(sl_test_paused(t, "in", 1));
    cr_assert_eq(sl_engine_partition_inflight(sl_test_engine(t), "in", 0), 4);
    sl_test_sink_ack(s, 0, 0);
    sl_test_sink_ack(s, 0, 0);
    cr_assert_not(sl_test_paused(t, "in", 0));
    sl_test_destroy(t);
}

Test(flow, forget_partition_only_when_idle)
{
    sl_test_sink_t *s;
    sl_test_t *t = manual(&s, NULL);
    sl_engine_t *e = sl_test_engine(t);
    sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}");
    cr_assert_eq(sl_engine_forget_partition(e, "in", 0), SL_EAGAIN);
    cr_assert_eq(sl_engine_forget_partition(e, "in", 9), SL_ENOENT);
    sl_test_sink_ack(s, 0, 0);
    cr_assert_eq(sl_engine_watermark(e, "in", 0), 1);
    cr_assert_eq(sl_engine_forget_partition(e, "in", 0), 0);
    cr_assert_eq(sl_engine_watermark(e, "in", 0), -1);
    /* a re-assigned partition may start anywhere, even below the old offsets */
    cr_assert_eq(sl_test_push(t, "in", 0, 0, "k", 1, "{\"type\":\"a\"}", 12), 0);
    sl_test_destroy(t);
}

/* A processor-wide pause only stops reading, so by default reading resumes
 * as soon as 15% of the bound is free rather than at half: a sink that
 * takes all that is queued at once (the listener's store) is not left idle
 * while the last half drains. */
Test(flow, a_processor_wide_pause_resumes_at_85_percent_by_default)
{
    const char *kv[] = {"inflight.max.records", "20", NULL};
    sl_test_sink_t *s;
    sl_test_t *t = manual(&s, kv);
    for (int i = 0; i < 20; i++)
        sl_test_push_str(t, "in", i % 2, "k", "{\"type\":\"a\"}");
    cr_assert(sl_test_paused(t, "in", 0));
    for (int i = 0; i < 2; i++) {
        sl_test_sink_ack(s, 0, 0);
        cr_assert(sl_test_paused(t, "in", 0), "%d in flight of 20: still paused", 19 - i);
    }
    sl_test_sink_ack(s, 0, 0); /* 17 in flight = 85% */
    cr_assert_not(sl_test_paused(t, "in", 0), "17 in flight of 20 (85%%): resumed");
    cr_assert_not(sl_test_paused(t, "in", 1));
    sl_test_destroy(t);
}

/* A partition's pause keeps its own low mark (50% unless set), whatever the
 * processor-wide one is. */
Test(flow, a_partition_pause_resumes_at_its_own_low_mark)
{
    for (int set = 0; set < 2; set++) {
        const char *kv[] = {"inflight.partition.max.records",
                            "10",
                            "inflight.resume.pct",
                            "90",
                            set ? "inflight.partition.resume.pct" : NULL,
                            "80",
                            NULL};
        sl_test_sink_t *s;
        sl_test_t *t = manual(&s, kv);
        for (int i = 0; i < 10; i++)
            sl_test_push_str(t, "in", 0, "k", "{\"type\":\"a\"}");
        cr_assert(sl_test_paused(t, "in", 0));
        int low = set ? 8 : 5; /* records in flight at which it resumes */
        for (int left = 9; left > low; left--) {
            sl_test_sink_ack(s, 0, 0);
            cr_assert(sl_test_paused(t, "in", 0), "%s: %d of 10 in flight: still paused",
                      set ? "80%" : "the default", left);
        }
        sl_test_sink_ack(s, 0, 0);
        cr_assert_not(sl_test_paused(t, "in", 0), "%s: %d of 10 in flight: resumed",
                      set ? "80%" : "the default", low);
        sl_test_destroy(t);
    }
}
