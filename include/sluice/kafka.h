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
 * assignment. Records are read in batches on the loop thread and stay
 * zero-copy until done; headers pass through and CloudEvents binary mode
 * (ce_* headers) is read.
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

#ifdef __cplusplus
}
#endif
#endif
