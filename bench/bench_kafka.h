/* What the Kafka benches share beyond bench_util.h (librdkafka): a bulk
 * producer of input and a consumer group's committed offsets. */
#ifndef SLUICE_BENCH_KAFKA_H
#define SLUICE_BENCH_KAFKA_H

#include "bench_util.h"

#include <librdkafka/rdkafka.h>
#include <sluice/broker.h>
#include <stdint.h>
#include <string.h>

/* An embedded broker of one node for the bench, its bootstrap into *@p bs;
 * dies when it cannot start. The caller destroys it. */
static inline sl_broker_t *bench_broker(const char **bs)
{
    char err[256];
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    if (!b)
        die("embedded broker: %s", err);
    *bs = sl_broker_bootstrap(b);
    return b;
}

/* A producer to @p bootstrap for bulk input (linger 5 ms, batches of up to
 * 10000). Dies when it cannot be made. */
static inline rd_kafka_t *bench_producer(const char *bootstrap)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(kc, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(kc, "batch.num.messages", "10000", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    if (!rk)
        die("producer: %s", err);
    return rk;
}

/* Queues @p key / @p len bytes at @p v to @p topic (copied), waiting while
 * the producer's queue is full. */
static inline void bench_produce(rd_kafka_t *rk, const char *topic, const char *key, const char *v,
                                 size_t len)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)v, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    rd_kafka_poll(rk, 0);
}

/* Delivers what @p rk holds (dies when it cannot within 60 s: the input of
 * @p topic) and destroys it. */
static inline void bench_producer_done(rd_kafka_t *rk, const char *topic)
{
    if (rd_kafka_flush(rk, 60000))
        die("the input of %s was not all delivered", topic);
    rd_kafka_destroy(rk);
}

/* The sum of the offsets group @p group has committed on partitions 0 to
 * @p parts - 1 of @p topic at the brokers @p bootstrap; 0 for a partition
 * with none, and 0 in all when the broker does not answer in 10 s. */
static inline int64_t bench_committed(const char *bootstrap, const char *group, const char *topic,
                                      int parts)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(kc, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int i = 0; i < parts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    int64_t sum = 0;
    if (!rd_kafka_committed(rk, l, 10000))
        for (int i = 0; i < l->cnt; i++)
            sum += l->elems[i].offset > 0 ? l->elems[i].offset : 0;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

#endif
