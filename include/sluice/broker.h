/* sluice — embedded Kafka broker.
 *
 * A Kafka cluster inside the calling process, for demos and tests: librdkafka's
 * mock cluster, listening on 127.0.0.1 with ephemeral ports. Any Kafka client
 * reaches it through sl_broker_bootstrap(); it lives until sl_broker_destroy()
 * or the end of the process that created it.
 *
 * Limits of the librdkafka 2.0.2 mock: only 5 MiB or 100k message sets are
 * kept per partition (older ones are dropped); a second consumer-group member
 * joins only when the rebalance timeout expires; aborted transactions are not
 * hidden from read_committed readers; no SSL or SASL; topics are not created
 * through the Admin API (use sl_broker_create_topic(), or the clients'
 * auto-creation). */
#ifndef SLUICE_BROKER_H
#define SLUICE_BROKER_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_broker_s sl_broker_t;

/** Most brokers one sl_broker_new() starts. */
#define SL_BROKER_MAX_BROKERS 16

/** Broker id that stands for every broker of the cluster. */
#define SL_BROKER_ALL (-1)

/** Kafka protocol API keys, for sl_broker_inject_errors(). Other keys of the
 *  Kafka protocol may be passed as plain numbers. */
typedef enum sl_kafka_api_e {
    SL_KAFKA_API_PRODUCE = 0,
    SL_KAFKA_API_FETCH = 1,
    SL_KAFKA_API_LIST_OFFSETS = 2,
    SL_KAFKA_API_METADATA = 3,
    SL_KAFKA_API_OFFSET_COMMIT = 8,
    SL_KAFKA_API_OFFSET_FETCH = 9,
    SL_KAFKA_API_FIND_COORDINATOR = 10,
    SL_KAFKA_API_JOIN_GROUP = 11,
    SL_KAFKA_API_HEARTBEAT = 12,
    SL_KAFKA_API_LEAVE_GROUP = 13,
    SL_KAFKA_API_SYNC_GROUP = 14,
    SL_KAFKA_API_API_VERSIONS = 18,
    SL_KAFKA_API_INIT_PRODUCER_ID = 22,
    SL_KAFKA_API_ADD_PARTITIONS_TO_TXN = 24,
    SL_KAFKA_API_ADD_OFFSETS_TO_TXN = 25,
    SL_KAFKA_API_END_TXN = 26,
    SL_KAFKA_API_TXN_OFFSET_COMMIT = 28
} sl_kafka_api_t;

/**
 * @brief Start a cluster of @p brokers brokers on 127.0.0.1, each on a free
 *        ephemeral port. Broker ids run from 1 to @p brokers.
 * @param brokers 1..SL_BROKER_MAX_BROKERS.
 * @param errstr buffer for a message on failure; may be NULL.
 * @param errstr_size size of @p errstr.
 * @returns A cluster owned by the caller (sl_broker_destroy()), or NULL with a
 *          message in @p errstr: bad @p brokers, out of memory, or librdkafka
 *          could not create its handle or listen.
 * @remark Thread-safe. The cluster runs on librdkafka threads, all created
 *         with every signal blocked (this call blocks them in the calling
 *         thread while it starts them), and serves until destroyed.
 *         librdkafka's own log lines for the cluster are discarded.
 */
SL_EXPORT sl_broker_t *sl_broker_new(int brokers, char *errstr, size_t errstr_size);

/**
 * @brief Bootstrap servers of the cluster, e.g. "127.0.0.1:40857,127.0.0.1:44797".
 * @param b the cluster.
 * @returns A comma-separated host:port list, one per broker in id order, owned
 *          by @p b and valid until sl_broker_destroy(); NULL if @p b is NULL.
 * @remark Thread-safe.
 */
SL_EXPORT const char *sl_broker_bootstrap(const sl_broker_t *b);

/**
 * @brief Create a topic.
 * @param b the cluster.
 * @param topic name, copied: 1..249 characters of [A-Za-z0-9._-], not "." or "..".
 * @param partitions 1..10000.
 * @param replication_factor 1..number of brokers. Checked, but the 2.0.2
 *        mock ignores it: metadata lists min(3, brokers) replicas for every
 *        partition, and replication has no effect on data (one leader holds it).
 * @returns 0; SL_EEXIST if the topic exists (created before, or auto-created
 *          by a client); SL_EINVAL for a NULL @p b or a bad argument; SL_EIO if
 *          librdkafka reports another error.
 * @remark Thread-safe. Clients learn of the topic at their next metadata refresh.
 */
SL_EXPORT int sl_broker_create_topic(sl_broker_t *b, const char *topic, int partitions,
                                     int replication_factor);

/**
 * @brief Take a broker down, or bring it back up.
 * @param b the cluster.
 * @param broker_id 1..number of brokers, or SL_BROKER_ALL.
 * @param down non-zero: close the broker's connections and refuse new ones
 *        (connect() fails with ECONNREFUSED);
 *        0: accept connections again. Neither moves partition leadership, so
 *        requests for partitions led by a down broker fail until it is up.
 * @returns 0 (also when the broker already was in that state); SL_EINVAL for
 *          a NULL @p b or an unknown @p broker_id; SL_EIO from librdkafka.
 * @remark Thread-safe.
 */
SL_EXPORT int sl_broker_set_down(sl_broker_t *b, int32_t broker_id, int down);

/**
 * @brief Make the next @p count requests of one Kafka API fail.
 * @param b the cluster.
 * @param api_key Kafka protocol API key (an sl_kafka_api_t, or any other key
 *        >= 0; keys the mock does not serve never match).
 * @param count 1..100000 requests, on any broker, in arrival order.
 * @param kafka_error an rd_kafka_resp_err_t broker error code (> 0, known to
 *        librdkafka, e.g. 6 NOT_LEADER_FOR_PARTITION), or
 *        RD_KAFKA_RESP_ERR__TRANSPORT (-195) to make the broker drop the
 *        connection instead of answering.
 * @returns 0; SL_EINVAL for a NULL @p b or a bad argument; SL_ENOMEM (only
 *          for a @p count over 64).
 * @remark Thread-safe. Errors queue up behind those injected before for the
 *         same API, in one queue for the whole cluster. A request that fails
 *         this way is answered with the error and otherwise ignored (a failed
 *         produce stores nothing). The mock shifts the whole queue for every
 *         request it fails, so very large counts slow the cluster down.
 */
SL_EXPORT int sl_broker_inject_errors(sl_broker_t *b, int16_t api_key, size_t count,
                                      int kafka_error);

/**
 * @brief Delay every response of a broker.
 * @param b the cluster.
 * @param broker_id 1..number of brokers, or SL_BROKER_ALL.
 * @param rtt_ms added round-trip time, 0..3600000; 0 removes the delay.
 * @returns 0; SL_EINVAL for a NULL @p b or a bad argument; SL_EIO from librdkafka.
 * @remark Thread-safe.
 */
SL_EXPORT int sl_broker_set_rtt(sl_broker_t *b, int32_t broker_id, int rtt_ms);

/**
 * @brief Stop the cluster: close every connection and listener and free it.
 * @param b the cluster; NULL is accepted.
 * @remark Not thread-safe with other calls on @p b, which must have returned
 *         first. Clients still connected see their connections drop.
 *         The string from sl_broker_bootstrap() is freed too. May block for
 *         up to about 2 s: librdkafka 2.0.2 sometimes misses the wake-up of
 *         its mock threads and notices the stop only on their 1 s poll timeout.
 */
SL_EXPORT void sl_broker_destroy(sl_broker_t *b);

#ifdef __cplusplus
}
#endif
#endif
