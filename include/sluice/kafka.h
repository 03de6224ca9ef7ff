/* sluice — Kafka connector: a consumer-group source and a producer sink,
 * both on librdkafka, both driven by the processor's loop.
 *
 * Every librdkafka property passes through from the processor's
 * configuration with the "kafka." prefix removed, e.g.
 * kafka.bootstrap.servers, kafka.group.id, kafka.linger.ms. */
#ifndef SLUICE_KAFKA_H
#define SLUICE_KAFKA_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#include "sluice/pipeline.h"
#include "sluice/processor.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Make a Kafka consumer-group source the processor's source.
 *
 * Defaults (each overridable through kafka.*): partition.assignment.strategy
 * cooperative-sticky, enable.auto.commit false, enable.auto.offset.store
 * false, auto.offset.reset earliest. Offsets are committed from the engine's
 * done watermark (offset + 1) every commit.interval.ms, and synchronously on
 * revoke and at the end of a drain; nothing is committed for a lost
 * assignment. Records are read in batches on the loop thread; each one's
 * key, value and headers are copied once into a buffer the source keeps until
 * the record is done, and librdkafka's message is freed at once; headers pass
 * through and CloudEvents binary mode (ce_* headers) is read.
 *
 * @param topics comma-separated topic names (copied).
 * @returns 0; SL_EINVAL (no topics, no kafka.group.id, bad property, with a
 *          message in @p errstr); SL_EEXIST if a source is already attached;
 *          SL_ESTATE while running; SL_ENOMEM.
 * @remark Call before sl_processor_run(), on the processor's thread.
 */
SL_EXPORT int sl_kafka_source_attach(sl_processor_t *p, const char *topics, char *errstr,
                                     size_t errstr_size);

/**
 * @brief A Kafka producer sink writing to @p topic, owned by the processor.
 *
 * Every Kafka sink of a processor, its fault sink among them, writes through
 * one producer (made by the first, configured from kafka.*), so a processor
 * holds one set of producer connections whatever the number of topics it
 * writes; errors still count against the sink whose topic they concern, and
 * a producer-wide one (fatal, authentication) makes every sink unusable.
 *
 * Idempotent by default (enable.idempotence true). A uow completes only from
 * its delivery report, never on enqueue; the output key and value are handed
 * to librdkafka without a copy. Retriable delivery errors retry the uow with
 * backoff, permanent ones make it a fault. Per-key order holds: the same key
 * goes to the same partition, whose delivery reports come in order, and a
 * uow delivered after an earlier one of its key failed is written again
 * behind it (see sl_uow_ack()). Its hard record limit is
 * message.max.bytes, so a larger event becomes a fault before it is sent.
 *
 * @param topic copied.
 * @returns A sink owned by the processor (destroyed with it), or NULL with a
 *          message in @p errstr.
 * @remark Call before sl_processor_run(), on the processor's thread.
 */
SL_EXPORT sl_sink_t *sl_kafka_sink_new(sl_processor_t *p, const char *topic, char *errstr,
                                       size_t errstr_size);

/**
 * @brief The bootstrap servers the processor's Kafka clients use: those of
 *        its embedded broker when kafka.bootstrap.servers is "embedded" (the
 *        broker starts with the first Kafka client of the processor), else
 *        the configured value.
 * @returns A string owned by the processor, or NULL when none is set.
 */
SL_EXPORT const char *sl_kafka_bootstrap(const sl_processor_t *p);

/* ---- for tools that run once (sluice-faults resubmit) ---------------------
 * Each call below makes its own short-lived librdkafka client from the
 * processor's kafka.* configuration (bootstrap.servers=embedded included)
 * and returns when done; the processor need not run and must not be running
 * on another thread. They block the calling thread. */

/**
 * One record for sl_kafka_produce_sync(). Key, value and headers are those
 * of sl_record_t (each may be NULL), borrowed for the call.
 */
typedef struct sl_kafka_msg_s {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const sl_header_t *headers;
    size_t header_count;
    int err;           /**< out: 0 once delivered, else why not */
    int32_t partition; /**< out: where it was delivered, -1 if not */
    int64_t offset;    /**< out: its offset there, -1 if not */
} sl_kafka_msg_t;

/**
 * @brief The end offset (high watermark: the next offset to be written) of
 *        each partition of @p topic.
 * @param ends receives the end of partition i at ends[i].
 * @param count in: the room in @p ends; out: the number of partitions.
 * @returns 0; SL_ENOENT when the topic does not exist; SL_ERANGE when it has
 *          more partitions than @p count; SL_EINVAL for bad arguments or
 *          properties; SL_EIO or SL_ETIMEDOUT when brokers do not answer
 *          (each with a message in @p errstr).
 */
SL_EXPORT int sl_kafka_end_offsets(sl_processor_t *p, const char *topic, int64_t *ends, int *count,
                                   char *errstr, size_t errstr_size);

/**
 * @brief Read partitions 0..count-1 of @p topic from @p from[i] up to their
 *        end at the time of the call, calling @p cb for each record in
 *        partition order. No consumer group is joined; nothing is committed.
 * @param cb gets a record borrowed for the call (at most 64 headers);
 *        returns 0 to go on, anything else to stop with that value.
 * @returns 0; what @p cb returned; SL_ERANGE when an offset in @p from is no
 *          longer retained (what was there cannot be read); SL_EIO,
 *          SL_ETIMEDOUT, SL_EINVAL, SL_ENOMEM (with a message in @p errstr).
 */
SL_EXPORT int sl_kafka_scan(sl_processor_t *p, const char *topic, const int64_t *from, int count,
                            int (*cb)(void *opaque, const sl_record_t *rec), void *opaque,
                            char *errstr, size_t errstr_size);

/**
 * @brief Produce @p n records to @p topic (idempotent producer, each record's
 *        key choosing its partition) and wait for every delivery report.
 * @param msgs borrowed; their err, partition and offset are set from the
 *        reports. @param rate at most this many records per second; 0 = no limit.
 * @param acked if not NULL, called on the calling thread with each record's
 *        report as it arrives (delivered when m->err is 0), before the call
 *        returns; a record not produced at all gets no call.
 * @returns 0 when every record was delivered; SL_ENOENT (the topic does not
 *          exist: nothing was sent); the first delivery error otherwise
 *          (records after a produce error are not sent; those before it still
 *          get their reports); a message in @p errstr.
 */
SL_EXPORT int sl_kafka_produce_sync(sl_processor_t *p, const char *topic, sl_kafka_msg_t *msgs,
                                    size_t n, double rate,
                                    void (*acked)(void *opaque, size_t i, const sl_kafka_msg_t *m),
                                    void *opaque, char *errstr, size_t errstr_size);

#ifdef __cplusplus
}
#endif
#endif
