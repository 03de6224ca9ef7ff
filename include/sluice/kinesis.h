/* sluice — Kinesis-compatible streams: a shard-reading source with
 * checkpoints and a PutRecords sink, both on the processor's loop.
 *
 * The Kinesis JSON 1.1 API (X-Amz-Target: Kinesis_20131202.*) over libcurl's
 * multi interface, driven by the processor's libuv loop (no thread per
 * shard, no blocking call on the loop), every call signed with AWS
 * Signature Version 4. Secrets never appear in logs.
 *
 * Where and who, from the environment first, then the processor's
 * configuration (kinesis.* properties pass through):
 *   endpoint     AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL, then
 *                kinesis.endpoint, else https://kinesis.REGION.amazonaws.com
 *   region       AWS_REGION, then AWS_DEFAULT_REGION, then kinesis.region,
 *                else us-east-1
 *   credentials  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *
 * Other properties (all optional):
 *   kinesis.application          whose checkpoints the source keeps
 *                                (default: kafka.group.id, else processor.name)
 *   kinesis.checkpoints          sqlite:PATH of the checkpoint store
 *                                (default sqlite:checkpoints.db)
 *   kinesis.checkpoints.timeout.ms  how long the start retries a checkpoint
 *                                store that cannot be read (locked, I/O
 *                                errors) before it fails (default 30000)
 *   kinesis.iterator             where a shard without a checkpoint starts:
 *                                TRIM_HORIZON (default) or LATEST
 *   kinesis.records.limit        GetRecords Limit, 1..10000 (default 10000)
 *   kinesis.poll.interval.ms     least time between two GetRecords of a shard
 *                                (default 200: the 5 calls/s per shard limit)
 *   kinesis.shards.refresh.ms    how often shards are listed again to find
 *                                children after a reshard (default 10000)
 *   kinesis.request.timeout.ms   one call's timeout (default 10000)
 */
#ifndef SLUICE_KINESIS_H
#define SLUICE_KINESIS_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#include "sluice/pipeline.h"
#include "sluice/processor.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Make a Kinesis stream the processor's source.
 *
 * Shards are listed (ListShards, every page), and each is read by a
 * GetRecords loop that keeps within kinesis.poll.interval.ms per shard,
 * backs off on ProvisionedThroughputExceededException and renews expired
 * iterators. A closed parent shard is read to its end, and its records done,
 * before its children are read, so a reshard keeps per-key order. Records are
 * numbered per shard for the engine (partition = shard index, offset = its
 * count); their sequence numbers are the records' positions. The checkpoint
 * of a shard (the sequence number below which everything is done) advances
 * from the engine's done watermark, like Kafka offsets, every
 * commit.interval.ms and at the end of a drain; a restart resumes after it
 * (AFTER_SEQUENCE_NUMBER). Checkpoint writes run on the processor's thread
 * pool, never on the loop; a failed write is retried at the next commit.
 *
 * The checkpoints are read when the processor starts, before any shard is
 * read. One that cannot be read is retried (kinesis.checkpoints.timeout.ms),
 * then sl_processor_run() fails with an error log line: it is never taken as
 * "no checkpoint", which would start the shard from kinesis.iterator (LATEST
 * would skip records). A record that comes without Data or SequenceNumber
 * is a fault event; one without a sequence number never moves the
 * checkpoint (it stays at the record before it).
 *
 * @param stream the stream name (copied).
 * @returns 0; SL_EINVAL (no stream, bad property, no credentials; message
 *          in @p errstr); SL_EEXIST if a source
 *          is attached; SL_ESTATE while running; SL_ENOMEM.
 * @remark Call before sl_processor_run(), on the processor's thread.
 */
SL_EXPORT int sl_kinesis_source_attach(sl_processor_t *p, const char *stream, char *errstr,
                                       size_t errstr_size);

/**
 * @brief A Kinesis PutRecords sink writing to @p stream, owned by the processor.
 *
 * Batches hold at most 500 records and 5 MiB (data and partition keys) per
 * call; a record over 1 MiB (its data and partition key) becomes a fault
 * (SL_ETOOBIG). The partition key is the output key (the event's
 * partitionKey by default), at most 256 characters. A value that starts
 * with the sluice record envelope's magic (below) is written in an
 * envelope of its own, so that a reader gets it as it was.
 * Per partition key one event is in flight at a time: a call holds at most
 * one entry of a key, and a key's next event is written once the previous
 * one is stored (PutRecords stores the other entries of a call when some
 * fail, so two entries of one key in flight together could be stored out of
 * order). A failed entry (or every entry of a throttled or unanswered call)
 * is written again by the sink, not the stored entries of its call, after
 * the retry.backoff.ms / retry.backoff.max.ms backoff, its key held; each
 * such write counts as a retry of the event; past retry.max it goes back
 * to the engine as SL_EAGAIN: a fault (SL_ERETRIES), or, from the fault
 * sink, retried on with intake held. So a later event of a key never overtakes an earlier
 * one, and a partial failure writes no event twice (a call whose answer was
 * lost after the service stored it can: at-least-once). Events of many keys
 * fill a call; a single busy key is written one event per round trip.
 *
 * @param stream copied.
 * @returns A sink owned by the processor, or NULL with a message in @p errstr.
 * @remark Call before sl_processor_run(), on the processor's thread.
 */
SL_EXPORT sl_sink_t *sl_kinesis_sink_new(sl_processor_t *p, const char *stream, char *errstr,
                                         size_t errstr_size);

/* ---- for tools that run once (sluice-faults resubmit) ---------------------
 * Each call below makes its own client from the processor's configuration
 * (endpoint, region, credentials as above; kinesis.request.timeout.ms per
 * call) and returns when done; the processor need not run and must not be
 * running on another thread. They block the calling thread.
 *
 * Records with headers travel in the sluice record envelope (the README,
 * "When an event faults"): the record's data is a 9-byte magic
 * (00 73 6C 75 69 63 65 1E 01), its key mode and key, its headers and then
 * its value byte for byte. The Kinesis source unwraps it into the record it
 * carries (value, key and headers), so pipelines see the original record; a
 * malformed one becomes a fault event with the record as it came. */

/** One record for sl_kinesis_put_sync(). */
typedef struct sl_kinesis_msg_s {
    const void *key; /**< the partition key when it can be one (1..256 bytes of printable
                          ASCII); else it travels in the envelope; may be NULL */
    size_t key_len;
    const void *value; /**< may be NULL */
    size_t value_len;
    const sl_header_t *headers; /**< may be NULL; any header means an envelope */
    size_t header_count;
    int err;            /**< out: 0 once written, else why not */
    char shard[80];     /**< out: the ShardId it was written to */
    char sequence[160]; /**< out: its SequenceNumber */
} sl_kinesis_msg_t;

/**
 * @brief Whether @p stream exists (ListShards, every page) with a shard.
 * @returns 0; SL_ENOENT when it does not exist or has no shard; SL_EINVAL
 *          (bad arguments or properties, no credentials); another error when
 *          the service does not answer; a message in @p errstr.
 * @remark Thread-safe with respect to other processors.
 */
SL_EXPORT int sl_kinesis_stream_check(sl_processor_t *p, const char *stream, char *errstr,
                                      size_t errstr_size);

/**
 * @brief Write @p n records to @p stream (PutRecords: at most 500 records and
 *        5 MiB a call) and wait for every entry's answer.
 *
 * A record with headers, with a key that cannot be a partition key, or whose
 * value starts with the envelope's magic is written in the envelope; its
 * partition key is its key when it can be one, else a hash of the key (or
 * of the value without a key). Every record is checked first, and the
 * stream's existence: an error there sends nothing. A call holds at most
 * one record of a partition key, so the records of a key are stored in
 * their order. A failed entry (the documented entry errors: nothing was
 * written) is written again, before later records, up to 10 times; a call
 * throttled as a whole goes again with backoff. A call whose outcome is
 * unknown (no answer, a timeout, a server error) is not repeated, since it
 * may have written records: the call returns its error and those records
 * get no @p acked call.
 *
 * @param msgs borrowed; err, shard and sequence are set from the answers.
 * @param rate at most this many records per second; 0 = no limit.
 * @param acked if not NULL, called on the calling thread for each record as
 *        its entry is answered (written when m->err is 0, given up when not),
 *        before the call returns.
 * @returns 0 when every record was written; SL_ENOENT (the stream does not
 *          exist: nothing was sent); SL_ETOOBIG (a record over 1 MiB with its
 *          envelope: nothing was sent); SL_EINVAL (a header name empty, over
 *          255 bytes, or too many headers: nothing was sent); SL_EAGAIN (an
 *          entry failed 10 times); the call's error otherwise; a message in
 *          @p errstr.
 * @remark Blocks the calling thread. Thread-safe with respect to other
 *         processors; not to be called on @p p from two threads at once.
 */
SL_EXPORT int sl_kinesis_put_sync(sl_processor_t *p, const char *stream, sl_kinesis_msg_t *msgs,
                                  size_t n, double rate,
                                  void (*acked)(void *opaque, size_t i, const sl_kinesis_msg_t *m),
                                  void *opaque, char *errstr, size_t errstr_size);

/**
 * @brief Read every shard of @p stream from @p since_ms (epoch ms, by
 *        arrival time: AT_TIMESTAMP; 0 = from the oldest retained record) to
 *        its end at the time of the call, calling @p cb for each record,
 *        shard after shard, in order within a shard. Envelopes are unwrapped
 *        (a malformed one is given as it came). Nothing is checkpointed.
 * @param cb gets a record borrowed for the call: topic the stream, partition
 *        the shard's index in the listing, offset its count in the scan,
 *        position its sequence number, opaque its ShardId (a string); it
 *        returns 0 to go on, anything else to stop with that value.
 * @returns 0; what @p cb returned; SL_ENOENT when the stream does not exist;
 *          SL_EIO, SL_ETIMEDOUT, SL_EINVAL, SL_ENOMEM (with a message in
 *          @p errstr).
 * @remark Blocks the calling thread; @p cb runs on it. Thread-safe with
 *         respect to other processors; not to be called on @p p from two
 *         threads at once.
 */
SL_EXPORT int sl_kinesis_scan(sl_processor_t *p, const char *stream, int64_t since_ms,
                              int (*cb)(void *opaque, const sl_record_t *rec), void *opaque,
                              char *errstr, size_t errstr_size);

#ifdef __cplusplus
}
#endif

#endif
