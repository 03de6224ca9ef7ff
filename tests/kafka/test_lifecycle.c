/* A Kafka processor's start and end, as its operator sees them: the group
 * join and the wait for an assignment are logged (never a silent wait), and
 * a shutdown against a frozen broker ends within what drain.timeout.ms
 * promises. The processor runs as a kproc child with its stderr in a file. */
#include "kafka_helpers.h"

#include <sys/stat.h>

TestSuite(lifecycle, .timeout = 300);

static int wait_for(const char *path, const char *needle, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    while (!tu_file_has(path, needle) && tu_now_ms() < end)
        tu_sleep_ms(50);
    return tu_file_has(path, needle);
}

static char *temp_log(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sl-life-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    return path;
}

static void produce_n(const char *bs, int n)
{
    rd_kafka_t *p = kt_producer(bs);
    for (int i = 0; i < n; i++) {
        char v[128];
        snprintf(v, sizeof v,
                 "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"partitionKey\":\"k%d\"}", i, i % 7);
        kt_produce(p, "in", NULL, v, strlen(v));
    }
    kt_flush(p);
    rd_kafka_destroy(p);
}

/* ---- a wait is never silent ---- */

Test(lifecycle, joining_and_a_long_wait_for_an_assignment_are_logged)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {2, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    /* The group answers the join, but every SyncGroup fails: the member
     * waits for an assignment that does not come. */
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_SYNC_GROUP, 1000,
                                         RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS),
                 0);
    char *log = temp_log();
    kt_stderr_path = log;
    const char *extra[] = {"log.level=info", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-life-wait", extra);
    kt_stderr_path = NULL;
    cr_assert(wait_for(log, "joining consumer group g-life-wait for topic(s) in", 30000),
              "the join is logged as it starts");
    /* every 5 s, with the time waited */
    cr_assert(wait_for(log,
                       "waiting for a partition assignment from consumer group g-life-wait: 5.",
                       30000),
              "a wait without an assignment is logged with the time waited");
    cr_assert(wait_for(log,
                       "waiting for a partition assignment from consumer group g-life-wait: 10.",
                       30000),
              "and again a few seconds later");
    cr_assert_not(tu_file_has(log, "\"assigned "), "no assignment came");
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0);
    unlink(log);
    sl_broker_destroy(b);
}

Test(lifecycle, the_assignment_names_the_group_and_the_partitions)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {3, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    char *log = temp_log();
    kt_stderr_path = log;
    const char *extra[] = {"log.level=info", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-life-assign", extra);
    kt_stderr_path = NULL;
    cr_assert(wait_for(log, "joining consumer group g-life-assign for topic(s) in", 30000));
    cr_assert(
        wait_for(log, "assigned 3 partition(s) by consumer group g-life-assign: in[0,1,2]", 60000),
        "the assignment names the group and the partitions");
    cr_assert(tu_file_has(log, "in[0,1,2] after waiting "), "and how long it took");
    produce_n(bs, 20);
    cr_assert_eq(kt_read(bs, "out", 1, 20, 60000, 200, NULL, NULL), 20);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0);
    unlink(log);
    sl_broker_destroy(b);
}

/* ---- shutdown bounded as documented ---- */

/* The promise: a shutdown lasts at most drain.timeout.ms + close.timeout.ms.
 * The margin covers starting the drain and freeing everything on a loaded
 * machine: a bound, not a performance figure. The whole bound (6 s) stays
 * under the 7.3 s the issue saw for a 2 s drain; here the old code did not
 * exit within 90 s (its close waited for the frozen broker). */
enum { DRAIN_MS = 2000, CLOSE_MS = 1000, MARGIN_MS = 3000 };

Test(lifecycle, a_shutdown_against_a_frozen_broker_ends_within_drain_and_close_timeouts)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {2, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    char *log = temp_log();
    kt_stderr_path = log;
    char drain[64], close_to[64];
    snprintf(drain, sizeof drain, "drain.timeout.ms=%d", DRAIN_MS);
    snprintf(close_to, sizeof close_to, "close.timeout.ms=%d", CLOSE_MS);
    /* 5 events/s after a burst of 100 (kproc): of 160 records, most of the
     * last 60 are still in flight at the stop */
    const char *extra[] = {drain, close_to, "rate=5", "commit.interval.ms=200", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-life-frozen", extra);
    kt_stderr_path = NULL;
    cr_assert(wait_for(log, "\"assigned ", 60000), "assigned");
    produce_n(bs, 160);
    cr_assert_geq(kt_read(bs, "out", 1, 101, 60000, 0, NULL, NULL), 101, "it is processing");
    /* Frozen: every broker answers nothing for a minute. The records in
     * flight cannot be acknowledged; the final commit and the group leave
     * get no answer. */
    cr_assert_eq(sl_broker_set_rtt(b, SL_BROKER_ALL, 60000), 0);
    tu_sleep_ms(300);
    int64_t t0 = tu_now_ms();
    kill(pid, SIGTERM);
    int st = kt_wait(pid, 90000);
    int64_t took = tu_now_ms() - t0;
    FILE *f = fopen(log, "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f))
        if (took > DRAIN_MS + CLOSE_MS + MARGIN_MS && !strstr(line, "librdkafka"))
            fprintf(stderr, "%s", line);
    if (f)
        fclose(f);
    cr_assert_leq(took, DRAIN_MS + CLOSE_MS + MARGIN_MS,
                  "the whole shutdown took %lld ms: more than drain.timeout.ms (%d) + "
                  "close.timeout.ms (%d) + %d ms",
                  (long long)took, DRAIN_MS, CLOSE_MS, MARGIN_MS);
    cr_assert_eq(st, 3, "the drain timed out (exit 3), got %d", st);
    cr_assert(tu_file_has(log, "did not leave its group within close.timeout.ms"),
              "the log says the close was cut short");
    unlink(log);
    sl_broker_destroy(b);
}
