/* Offset tracker: the contiguous watermark under out-of-order completion. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/tracker.h"
#include "sluice/error.h"

TestSuite(tracker);

Test(tracker, out_of_order_completion)
{
    sl__tracker_t t;
    cr_assert_eq(sl__tracker_init(&t, 4), 0);
    uint64_t s[6];
    int64_t offs[6] = {10, 11, 12, 15, 16, 20}; /* gaps, as compaction leaves */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(sl__tracker_push(&t, offs[i], &s[i]), 0);
    cr_assert_eq(sl__tracker_push(&t, 20, &s[0]), SL_EINVAL, "offsets must increase");
    cr_assert_eq(t.watermark, -1);
    sl__tracker_done(&t, s[2]);
    sl__tracker_done(&t, s[1]);
    cr_assert_eq(t.watermark, -1, "10 is not done: nothing to commit");
    sl__tracker_done(&t, s[0]);
    cr_assert_eq(t.watermark, 13, "10..12 done: commit 13");
    sl__tracker_done(&t, s[5]);
    cr_assert_eq(t.watermark, 13);
    sl__tracker_done(&t, s[3]);
    cr_assert_eq(t.watermark, 16);
    sl__tracker_done(&t, s[4]);
    cr_assert_eq(t.watermark, 21);
    cr_assert_eq(sl__tracker_inflight(&t), 0);
    sl__tracker_fini(&t);
}

Test(tracker, grows_and_random_order_matches_model)
{
    sl__tracker_t t;
    cr_assert_eq(sl__tracker_init(&t, 16), 0);
    enum { N = 5000 };
    static uint64_t seq[N];
    static int done[N];
    static int order[N];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sl__tracker_push(&t, i * 2, &seq[i]), 0);
        order[i] = i;
    }
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    int low = 0;
    for (int k = 0; k < N; k++) {
        sl__tracker_done(&t, seq[order[k]]);
        done[order[k]] = 1;
        while (low < N && done[low])
            low++;
        int64_t want = low ? (int64_t)(low - 1) * 2 + 1 : -1;
        cr_assert_eq(t.watermark, want, "after %d completions", k + 1);
    }
    sl__tracker_fini(&t);
}

Test(tracker, done_on_arrival_between_in_flight_records)
{
    sl__tracker_t t;
    cr_assert_eq(sl__tracker_init(&t, 4), 0);
    uint64_t a, b;
    cr_assert_eq(sl__tracker_push_done(&t, 0), 0);
    cr_assert_eq(t.watermark, 1, "nothing in flight: committed at once");
    cr_assert_eq(sl__tracker_push(&t, 1, &a), 0);
    cr_assert_eq(sl__tracker_push_done(&t, 2), 0);
    cr_assert_eq(sl__tracker_push_done(&t, 3), 0);
    cr_assert_eq(sl__tracker_push(&t, 4, &b), 0);
    cr_assert_eq(sl__tracker_push_done(&t, 5), 0);
    cr_assert_eq(sl__tracker_push_done(&t, 5), SL_EINVAL);
    cr_assert_eq(t.watermark, 1, "1 holds back 2 and 3");
    sl__tracker_done(&t, b);
    cr_assert_eq(t.watermark, 1);
    sl__tracker_done(&t, a);
    cr_assert_eq(t.watermark, 6, "1..5 all done");
    cr_assert_eq(sl__tracker_inflight(&t), 0);
    sl__tracker_fini(&t);
}
