/* When the Kafka source kicks librdkafka 2.0's fetcher (sl__kick_t): when
 * the consumer queue ran dry from a backlog near one of librdkafka's
 * thresholds (then librdkafka may have stopped fetching and decide again
 * only up to a second later), never for what merely passed through it. */
#include "kafka/kafka_int.h"

#include <criterion/criterion.h>

TestSuite(kick);

/* thresholds of 900 messages, 900 KiB (90% of 1000 and 1000 KiB) */
static sl__kick_t kick(void)
{
    sl__kick_t k = {.at_msgs = 900, .at_bytes = 900 * 1024};
    return k;
}

Test(kick, a_backlog_of_messages_read_down_to_nothing_is_kicked_once)
{
    sl__kick_t k = kick();
    for (size_t q = 1000; q > 0; q -= 100)
        sl__kick_read(&k, q, 100, 100 * 300);
    cr_assert_eq(sl__kick_dry(&k), 1);
    cr_assert_eq(sl__kick_dry(&k), 0, "once: nothing read since");
}

/* Thousands of messages through a queue that never held more than 200:
 * no backlog, whatever their bytes add up to. The old rule summed the
 * bytes read since the queue last ran dry (here 6 MB against 900 KiB) and
 * kicked: a seek that throws away what a fetch in flight brings. */
Test(kick, bytes_passing_through_a_short_queue_are_no_backlog)
{
    sl__kick_t k = kick();
    for (int i = 0; i < 200; i++)
        sl__kick_read(&k, 200, 100, 100 * 300);
    cr_assert_eq(sl__kick_dry(&k), 0);
}

/* A backlog at the byte threshold (few large messages) is one. */
Test(kick, a_backlog_of_bytes_is_kicked)
{
    sl__kick_t k = kick();
    sl__kick_read(&k, 100, 50, 50 * 10000); /* 100 messages of 10 kB queued: 1 MB */
    sl__kick_read(&k, 50, 50, 50 * 10000);
    cr_assert_eq(sl__kick_dry(&k), 1);
}

/* A backlog below both thresholds is none. */
Test(kick, a_short_backlog_is_not_kicked)
{
    sl__kick_t k = kick();
    sl__kick_read(&k, 800, 800, 800 * 1000); /* 800 messages, 800 kB */
    cr_assert_eq(sl__kick_dry(&k), 0);
}

/* Empty reads with nothing read before them (an idle consumer at the log's
 * end) never kick. */
Test(kick, an_idle_queue_is_never_kicked)
{
    sl__kick_t k = kick();
    for (int i = 0; i < 100; i++)
        cr_assert_eq(sl__kick_dry(&k), 0);
}

/* A short consume batch that left the queue empty: it ran dry from the
 * backlog. The source used to kick only when a later read found the queue
 * empty, and nothing woke the loop for that read while the fetcher, stopped
 * by the backlog, brought nothing (bench_flavors' listener stood 20-44 ms
 * at a time). */
Test(kick, a_short_batch_that_drains_a_backlog_is_kicked)
{
    sl__kick_t k = kick();
    sl__kick_read(&k, 1000, 1000, 1000 * 300);
    cr_assert_eq(sl__kick_short(&k, 0), 1);
    cr_assert_eq(sl__kick_dry(&k), 0, "once: nothing read since");
}

/* Messages came in while the batch was taken: the fetcher is fetching, and
 * the backlog still counts when the queue runs dry later. */
Test(kick, a_short_batch_with_messages_left_is_not_kicked_yet)
{
    sl__kick_t k = kick();
    sl__kick_read(&k, 1000, 1000, 1000 * 300);
    cr_assert_eq(sl__kick_short(&k, 40), 0);
    sl__kick_read(&k, 40, 40, 40 * 300);
    cr_assert_eq(sl__kick_short(&k, 0), 1, "the backlog before still counts");
}

/* What merely passed through a short queue is no backlog, drained or not. */
Test(kick, a_short_batch_without_a_backlog_is_not_kicked)
{
    sl__kick_t k = kick();
    sl__kick_read(&k, 200, 200, 200 * 300);
    cr_assert_eq(sl__kick_short(&k, 0), 0);
}
