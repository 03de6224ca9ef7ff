/* Timer heap: fires in due order, ties in start order, stop and restart anywhere. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/timer.h"

TestSuite(timer);

static void noop(sl__timer_t *t, void *ctx)
{
    (void)t;
    (void)ctx;
}

Test(timer, random_model)
{
    enum { N = 2000 };
    static sl__timer_t tm[N];
    static int64_t due[N];
    static int active[N];
    sl__timers_t h;
    sl__timers_init(&h);
    srand(3);
    for (int round = 0; round < 20000; round++) {
        int i = rand() % N;
        int op = rand() % 3;
        if (op < 2) {
            due[i] = rand() % 1000;
            active[i] = 1;
            sl__timer_start(&h, &tm[i], due[i], noop);
        } else {
            sl__timer_stop(&h, &tm[i]);
            active[i] = 0;
        }
    }
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += active[i];
    cr_assert_eq(h.count, n);
    int64_t last = -1;
    uint64_t last_seq = 0;
    sl__timer_t *t;
    size_t popped = 0;
    while ((t = sl__timers_pop_due(&h, 1000))) {
        int i = (int)(t - tm);
        cr_assert(active[i], "only active timers fire");
        cr_assert_eq(t->due, due[i]);
        cr_assert_geq(t->due, last);
        if (t->due == last)
            cr_assert_gt(t->seq, last_seq, "ties fire in start order");
        last = t->due;
        last_seq = t->seq;
        active[i] = 0;
        popped++;
    }
    cr_assert_eq(popped, n);
    cr_assert_null(sl__timers_peek(&h));
}

Test(timer, not_due_stays)
{
    sl__timers_t h;
    sl__timer_t a = {0}, b = {0};
    sl__timers_init(&h);
    sl__timer_start(&h, &a, 50, noop);
    sl__timer_start(&h, &b, 10, noop);
    cr_assert_null(sl__timers_pop_due(&h, 9));
    cr_assert_eq(sl__timers_pop_due(&h, 10), &b);
    sl__timer_start(&h, &a, 5, noop); /* restart moves it */
    cr_assert_eq(sl__timers_pop_due(&h, 5), &a);
    cr_assert_eq(h.count, 0);
}
