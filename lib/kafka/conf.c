/* sluice — Kafka connector: librdkafka configuration from kafka.* (consumer and
 * producer), its log callback, and librdkafka errors as SL_E* codes. */
#include "core/conf_int.h"
#include "core/util.h"
#include "kafka/kafka_int.h"
#include "sluice/broker.h"
#include "sluice/error.h"
#include "sluice/kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conf_walk {
    rd_kafka_conf_t *kc;
    char *errstr;
    size_t errstr_size;
    const char *const *skip; /* properties of the other client kind */
};

/* kafka.* is shared by the consumer and the producers: each client skips
 * the properties that belong to the other kind, which librdkafka would only
 * warn about. */
static const char *const consumer_only[] = {"group.id",
                                            "group.instance.id",
                                            "partition.assignment.strategy",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "max.poll.interval.ms",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "auto.offset.reset",
                                            "isolation.level",
                                            "fetch.min.bytes",
                                            "fetch.max.bytes",
                                            "fetch.wait.max.ms",
                                            "max.partition.fetch.bytes",
                                            "enable.partition.eof",
                                            "check.crcs",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            NULL};
static const char *const producer_only[] = {"acks",
                                            "request.required.acks",
                                            "enable.idempotence",
                                            "linger.ms",
                                            "queue.buffering.max.ms",
                                            "batch.size",
                                            "batch.num.messages",
                                            "compression.type",
                                            "compression.codec",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "message.send.max.retries",
                                            "retries",
                                            "transactional.id",
                                            "partitioner",
                                            "sticky.partitioning.linger.ms",
                                            NULL};

static int skipped(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}

static int set_one(const char *name, const char *value, void *opaque)
{
    struct conf_walk *w = opaque;
    char err[256];
    if (skipped(w->skip, name))
        return 0;
    if (rd_kafka_conf_set(w->kc, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        if (w->errstr && w->errstr_size)
            snprintf(w->errstr, w->errstr_size, "kafka.%s: %s", name, err);
        return SL_EINVAL;
    }
    return 0;
}

/* librdkafka's own log lines become ours, under the processor's name: every
 * client made here has as its opaque a connector struct whose first member
 * is its processor. Debug lines need kafka.debug anyway. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const char *lvl = level <= 3 ? "error" : level <= 4 ? "warn" : level <= 6 ? "info" : "debug";
    sl_processor_t *const *proc = rd_kafka_opaque(rk);
    sl__log(proc ? *proc : NULL, lvl, "librdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void broker_destroy(void *b)
{
    sl_broker_destroy(b);
}

/* The source's queued.min.messages unless set or lower from a budget, below
 * librdkafka's 100000. A processor slower than its fetcher keeps the queue
 * at this bound: with 100000 queued messages (tens of MB) every message is
 * taken long after its broker thread wrote it, out of every cache, and the
 * fetch buffers the backlog pins grow the heap. In bench_kafka_e2e (b, 200000
 * events of 328 bytes, 32 partitions) 20000 cost about 11% less CPU per
 * event over all threads (the clients' broker threads about a quarter less,
 * the processor's thread a tenth) and about a quarter less peak RSS than
 * 100000, side by side (bench/README.md); 10000 and 5000 stalled the fetcher
 * (librdkafka 2.0's refill, see kick_fetcher in source.c) often enough to
 * lose throughput. */
#define QMIN_DEFAULT 20000

/* The consumer's buffers from the source's share of memory.max.bytes, for
 * each one not set explicitly as kafka.*: the consumer queue
 * (queued.max.messages.kbytes, and queued.min.messages at 256 bytes a
 * message, about what librdkafka keeps per queued message beside its bytes,
 * which the kbytes do not count), half the share; a fetch answer (fetch.max.bytes), the other half,
 * never below message.max.bytes as librdkafka requires; one partition's part
 * of it (max.partition.fetch.bytes), a quarter of a fetch so that one answer
 * spreads over several partitions. A message larger than these bounds is
 * still fetched, alone (KIP-74). None goes above librdkafka's default, and
 * queued.min.messages not above QMIN_DEFAULT. */
static int consumer_memory(sl_processor_t *p, struct conf_walk *w)
{
    const sl_conf_t *c = sl_processor_conf(p);
    int64_t share = sl__mem_share(c, SL__MEM_SOURCE);
    int64_t queue = share / 2, fetch = share - queue;
    char v[32];
    size_t vl = sizeof v;
    int64_t msg_max = 1000000;
    if (rd_kafka_conf_get(w->kc, "message.max.bytes", v, &vl) == RD_KAFKA_CONF_OK)
        msg_max = atoll(v);
    if (fetch < msg_max)
        fetch = msg_max;
    struct {
        const char *name;
        int64_t value, def;
    } d[] = {
        {"queued.max.messages.kbytes", queue / 1024, 65536},
        {"queued.min.messages", queue / 256, QMIN_DEFAULT},
        {"fetch.max.bytes", fetch, 52428800},
        {"max.partition.fetch.bytes", fetch / 4, 1048576},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "kafka.%s", d[i].name);
        if (sl__conf_is_set(c, name))
            continue;
        int64_t x = d[i].value < d[i].def ? d[i].value : d[i].def;
        snprintf(v, sizeof v, "%lld", (long long)(x < 1 ? 1 : x));
        if (set_one(d[i].name, v, w))
            return SL_EINVAL;
    }
    return 0;
}

const char *sl_kafka_bootstrap(const sl_processor_t *p)
{
    const sl_broker_t *b = p ? sl__proc_attached(p, "kafka.embedded") : NULL;
    if (b)
        return sl_broker_bootstrap(b);
    return p ? sl_conf_get_str_pt(sl_processor_conf(p), "kafka.bootstrap.servers") : NULL;
}

rd_kafka_conf_t *sl__kafka_conf(sl_processor_t *p, rd_kafka_type_t kind,
                                const char *const *defaults, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    struct conf_walk w = {kc, errstr, errstr_size, NULL};
    for (; defaults && defaults[0]; defaults += 2)
        if (set_one(defaults[0], defaults[1], &w))
            goto fail;
    /* Clients are named after their processor (librdkafka's log lines and
     * the brokers' view), unless kafka.client.id says otherwise. */
    const char *name = sl_conf_get_str(sl_processor_conf(p), "processor.name");
    if (name && *name && set_one("client.id", name, &w))
        goto fail;
    w.skip = kind == RD_KAFKA_PRODUCER ? consumer_only : producer_only;
    if (sl_conf_foreach(sl_processor_conf(p), "kafka.", set_one, &w))
        goto fail;
    if (kind == RD_KAFKA_CONSUMER && consumer_memory(p, &w))
        goto fail;
    /* bootstrap.servers=embedded: one broker in this process, shared by the
     * processor's clients, for demos and tests. */
    char bs[64];
    size_t bl = sizeof bs;
    if (!sl_conf_get(sl_processor_conf(p), "kafka.bootstrap.servers", bs, &bl) &&
        !strcmp(bs, "embedded")) {
        sl_broker_t *b = sl__proc_attached(p, "kafka.embedded");
        if (!b) {
            char err[256];
            b = sl_broker_new(1, err, sizeof err);
            if (!b) {
                sl__errf(errstr, errstr_size, "embedded broker: %s", err);
                goto fail;
            }
            if (sl__proc_attach(p, "kafka.embedded", b, broker_destroy)) {
                sl_broker_destroy(b);
                goto fail;
            }
            sl__log(p, "info", "embedded broker at %s", sl_broker_bootstrap(b));
        }
        if (set_one("bootstrap.servers", sl_broker_bootstrap(b), &w))
            goto fail;
    }
    /* The operations endpoint's /ready reads broker states from
     * librdkafka's statistics (sl__kafka_brokers_up()), once a second
     * unless kafka.statistics.interval.ms says otherwise. */
    if (sl__proc_http_on(p) &&
        !sl_conf_get_str_pt(sl_processor_conf(p), "kafka.statistics.interval.ms") &&
        set_one("statistics.interval.ms", "1000", &w))
        goto fail;
    rd_kafka_conf_set_log_cb(kc, log_cb);
    return kc;
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

int sl__kafka_brokers_up(const char *stats)
{
    /* A scan, not a parse: the statistics hold every partition of every
     * topic (megabytes with thousands of partitions, every second). Only
     * broker objects have a "state" member ("fetch_state" is a partition's,
     * the group's is lower case "up"). */
    if (!stats || !strstr(stats, "\"brokers\""))
        return -1;
    int up = 0;
    for (const char *p = strstr(stats, "\"state\""); p; p = strstr(p + 7, "\"state\"")) {
        const char *v = p + 7;
        while (*v == ' ')
            v++;
        if (*v++ != ':')
            continue;
        while (*v == ' ')
            v++;
        up += !strncmp(v, "\"UP\"", 4);
    }
    return up;
}

int sl__kafka_err(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return SL_ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        return SL_EAGAIN;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return SL_ETOOBIG;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        /* The client cannot work at all: not the record's fault. */
        return SL_ESINKDOWN;
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        return SL_ESINK;
    default:
        /* Broker down, leader moved, not enough replicas, unknown topic while
         * it is being created, transport errors: all worth another try. */
        return SL_EIO;
    }
}
