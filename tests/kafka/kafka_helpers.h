/* Helpers for the Kafka integration suites: an embedded broker in the test
 * process, a plain producer and reader, and the kproc test processor spawned
 * as a child (path in SLUICE_KPROC_BIN). Every wait is bounded. */
#ifndef SL_TEST_KAFKA_HELPERS_H
#define SL_TEST_KAFKA_HELPERS_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test_util.h"
#include "sluice/broker.h"
#include "sluice/sluice.h"

extern char **environ;

static inline sl_broker_t *kt_broker(const char *const *topics, const int *parts)
{
    char err[256];
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    cr_assert(b, "broker: %s", err);
    for (size_t i = 0; topics[i]; i++)
        cr_assert_eq(sl_broker_create_topic(b, topics[i], parts[i], 1), 0);
    return b;
}

static inline rd_kafka_t *kt_producer(const char *bootstrap)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert(rk, "producer: %s", err);
    return rk;
}

static inline void kt_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *value,
                              size_t len)
{
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (!e)
            return;
        cr_assert_eq(e, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce: %s", rd_kafka_err2str(e));
        cr_assert_lt(tries, 1000);
        rd_kafka_poll(rk, 10);
    }
}

static inline void kt_flush(rd_kafka_t *rk)
{
    cr_assert_eq(rd_kafka_flush(rk, 30000), 0, "producer flush");
}

/* Sum over partitions of @p topic's high watermarks: how many records it
 * holds (no transactions here), or -1 when they cannot be read (no such
 * topic). Exact and quick, where a read must guess when the last record
 * has come. */
static inline int64_t kt_high_sum_try(const char *bootstrap, const char *topic, int partitions)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert(rk, "watermarks: %s", err);
    int64_t sum = 0;
    for (int i = 0; i < partitions && sum >= 0; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000))
            sum = -1;
        else
            sum += hi;
    }
    rd_kafka_destroy(rk);
    return sum;
}

/* kt_high_sum_try() of a topic that must exist. */
static inline int64_t kt_high_sum(const char *bootstrap, const char *topic, int partitions)
{
    int64_t n = kt_high_sum_try(bootstrap, topic, partitions);
    cr_assert_geq(n, 0, "cannot read the watermarks of %s", topic);
    return n;
}

/* Reads every partition of @p topic from the beginning until @p want
 * messages arrived, nothing new came for @p quiet_ms after that, or
 * @p timeout_ms passed. Calls @p fn for each message. Returns the count.
 * @p want 0 means what the topic holds when the read starts: without it,
 * a reader slower to start than @p quiet_ms returned 0 from any topic. */
static inline size_t kt_read(const char *bootstrap, const char *topic, int partitions, size_t want,
                             int timeout_ms, int quiet_ms,
                             void (*fn)(const rd_kafka_message_t *m, void *opaque), void *opaque)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", "kt-reader", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(c, "enable.partition.eof", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk, "reader: %s", err);
    if (!want) {
        int64_t held = kt_high_sum_try(bootstrap, topic, partitions);
        want = held > 0 ? (size_t)held : 0;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t end = tu_now_ms() + timeout_ms, last = tu_now_ms();
    while (tu_now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (n >= want && tu_now_ms() - last >= quiet_ms)
                break;
            continue;
        }
        if (!m->err) {
            n++;
            last = tu_now_ms();
            if (fn)
                fn(m, opaque);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* Sum over partitions of the offsets committed by @p group on @p topic. */
static inline int64_t kt_committed(const char *bootstrap, const char *group, const char *topic,
                                   int partitions)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
    int64_t sum = 0;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset >= 0)
            sum += l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

/* Where kproc's stderr goes (NULL: inherited). */
static const char *kt_stderr_path;

/* Spawns kproc with up to 8 extra key=value arguments (NULL-terminated). */
static inline pid_t kt_spawn_kproc_v(const char *bootstrap, const char *in, const char *out,
                                     const char *faults, const char *group,
                                     const char *const *extra)
{
    const char *bin = getenv("SLUICE_KPROC_BIN");
    if (!bin)
        cr_skip_test("SLUICE_KPROC_BIN is not set");
    char *argv[16] = {(char *)bin, (char *)bootstrap, (char *)in,
                      (char *)out, (char *)faults,    (char *)group};
    int n = 6;
    for (; extra && *extra && n < 15; extra++)
        argv[n++] = (char *)*extra;
    argv[n] = NULL;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (kt_stderr_path)
        posix_spawn_file_actions_addopen(&fa, 2, kt_stderr_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0, "spawn %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Resident set size of @p pid in kB, 0 if unknown. */
static inline long kt_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (fp)
        fclose(fp);
    return kb;
}

static inline pid_t kt_spawn_kproc(const char *bootstrap, const char *in, const char *out,
                                   const char *faults, const char *group, const char *extra1,
                                   const char *extra2)
{
    const char *extra[] = {extra1, extra2, NULL};
    if (!extra1)
        extra[0] = extra2, extra[1] = NULL;
    return kt_spawn_kproc_v(bootstrap, in, out, faults, group, extra);
}

/* Waits up to @p timeout_ms for @p pid; returns its exit status, or -1 (then
 * it is killed). */
static inline int kt_wait(pid_t pid, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    int st;
    while (tu_now_ms() < end) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        tu_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* Which of n events "e0".."e<n-1>" (by their id) a read saw, and how often. */
typedef struct kt_tally_s {
    int n;
    unsigned *count;
    size_t total;
} kt_tally_t;

/* A kt_read() callback counting into the kt_tally_t @p opaque. */
static inline void kt_tally_out(const rd_kafka_message_t *m, void *opaque)
{
    kt_tally_t *t = opaque;
    int id;
    t->total++;
    if (m->len && sscanf(m->payload, "{\"id\":\"e%d\"", &id) == 1 && id >= 0 && id < t->n)
        t->count[id]++;
}

#endif
