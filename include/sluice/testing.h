/* sluice — the public test driver.
 *
 * Test pipelines without a broker: an in-memory source, in-memory sinks and
 * a virtual clock around a real engine. Feed records, advance time, read what
 * each sink received, the fault events, and the committed watermark.
 * A test driver and everything it returns belong to one thread.
 *
 * Blocking work (sl_engine_submit(): the materialize flavor's store
 * applies) runs on no other thread here: the driver's executor queues each
 * job and runs it (work, then done) on the test's thread when the driver
 * call that submitted it (push, tick, advance, sink ack) is about to
 * return, in submission order. So runs repeat exactly; sl_test_hold_jobs()
 * keeps jobs queued to look at the state in between. */
#ifndef SLUICE_TESTING_H
#define SLUICE_TESTING_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#include "sluice/conf.h"
#include "sluice/engine.h"
#include "sluice/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_test_s sl_test_t;
typedef struct sl_test_sink_s sl_test_sink_t;

/** One message a test sink accepted. Bytes are owned by the sink. */
typedef struct sl_test_msg_s {
    const char *pipeline; /**< pipeline that wrote it ("-" for a decode fault) */
    const char *key;      /**< output key, NUL-terminated for convenience (may hold NULs) */
    size_t key_len;
    const char *value; /**< output value, NUL-terminated for convenience */
    size_t value_len;
    const char *topic; /**< coordinates of the source record */
    int32_t partition;
    int64_t offset;
    size_t batch;               /**< index of the sink write that carried it */
    const sl_header_t *headers; /**< output headers (sl_uow_output_headers()), copied; each
                                     value NUL-terminated for convenience; NULL when none */
    size_t header_count;
} sl_test_msg_t;

/** How a test sink acknowledges. */
typedef enum sl_test_ack_e {
    SL_TEST_ACK_AUTO = 0,  /**< acknowledge every uow during the write */
    SL_TEST_ACK_MANUAL = 1 /**< keep uows pending until sl_test_sink_ack() */
} sl_test_ack_t;

/**
 * @brief New test driver: an engine on a virtual clock that starts at
 *        1767225600000 (2026-01-01T00:00:00Z) and only moves with sl_test_advance().
 * @param conf copied; NULL takes defaults. random.seed 0 is replaced by 1 so
 *        runs repeat.
 * @returns A driver owned by the caller (sl_test_destroy()), or NULL with a
 *          message in @p errstr.
 */
SL_EXPORT sl_test_t *sl_test_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Destroy the driver, its engine, pipelines and test sinks. Jobs still
 *        queued are cancelled first (done with SL_ESHUTDOWN, never run).
 *        NULL is accepted.
 */
SL_EXPORT void sl_test_destroy(sl_test_t *t);

/**
 * @brief A new in-memory sink owned by the driver.
 * @param name copied. @param max_events, max_bytes, max_record_bytes its hard
 *        limits (0 = none), as a real destination would have.
 * @returns The sink, or NULL when out of memory.
 */
SL_EXPORT sl_test_sink_t *sl_test_sink_new(sl_test_t *t, const char *name, size_t max_events,
                                           size_t max_bytes, size_t max_record_bytes);

/** @brief The name the test sink was made with (owned by it), or NULL for NULL. */
SL_EXPORT const char *sl_test_sink_name(const sl_test_sink_t *s);

/** @brief The sink handle to pass to sl_pipeline_sink(); owned by the test sink. */
SL_EXPORT sl_sink_t *sl_test_sink_handle(sl_test_sink_t *s);

/** @brief The driver's fault sink (a test sink named "faults"). */
SL_EXPORT sl_test_sink_t *sl_test_faults(sl_test_t *t);

/**
 * @brief Add a pipeline; on success the driver's engine owns it.
 * @returns As sl_engine_add_pipeline() (SL_EINVAL also for a NULL @p t);
 *          on failure sl_pipeline_error(p) says why.
 */
SL_EXPORT int sl_test_add_pipeline(sl_test_t *t, sl_pipeline_t *p);

/**
 * @brief Start the engine (done implicitly by the first push).
 * @returns As sl_engine_start().
 */
SL_EXPORT int sl_test_start(sl_test_t *t);

/**
 * @brief Feed a record; the driver copies everything.
 * @param key may be NULL. @param value may hold any bytes.
 * @param offset the record's offset, or -1 for one past the partition's last.
 * @returns As sl_test_push_record(); the copy is freed when the engine releases it.
 */
SL_EXPORT int sl_test_push(sl_test_t *t, const char *topic, int32_t partition, int64_t offset,
                           const void *key, size_t key_len, const void *value, size_t value_len);

/** @brief sl_test_push() of NUL-terminated key (may be NULL) and value, offset auto.
 *  @returns As sl_test_push(). */
SL_EXPORT int sl_test_push_str(sl_test_t *t, const char *topic, int32_t partition, const char *key,
                               const char *value);

/**
 * @brief Feed a record with headers; everything in @p rec is copied.
 *        rec->offset -1 means one past the partition's last.
 * @returns As sl_engine_push(), or the error of starting the engine (as
 *          sl_test_start()); SL_EINVAL also for a NULL @p t, @p rec or
 *          rec->topic; SL_ENOMEM when the copy cannot be made.
 */
SL_EXPORT int sl_test_push_record(sl_test_t *t, const sl_record_t *rec);

/**
 * @brief Advance the virtual clock by @p ms, firing each timer at its due
 *        time in order, then tick once more.
 */
SL_EXPORT void sl_test_advance(sl_test_t *t, int64_t ms);

/** @brief Fire what is due now (linger 0 batches), without moving the clock. */
SL_EXPORT void sl_test_tick(sl_test_t *t);

/** @brief Current virtual time in ms. */
SL_EXPORT int64_t sl_test_now(const sl_test_t *t);

/** @brief The watermark to commit for a partition, or -1 (see sl_engine_watermark()). */
SL_EXPORT int64_t sl_test_committed(sl_test_t *t, const char *topic, int32_t partition);

/**
 * @brief Whether the engine asked to pause @p partition of @p topic, for its
 *        own bound or the engine-wide one.
 */
SL_EXPORT int sl_test_paused(const sl_test_t *t, const char *topic, int32_t partition);

/** @brief Records the driver fed that the engine has not released yet. */
SL_EXPORT size_t sl_test_inflight(const sl_test_t *t);

/**
 * @brief Hold (1) submitted jobs in the queue until sl_test_run_jobs(), or
 *        let them run at the end of each driver call (0, the default).
 */
SL_EXPORT void sl_test_hold_jobs(sl_test_t *t, int hold);

/** @brief Jobs submitted and not run yet. */
SL_EXPORT size_t sl_test_jobs_pending(const sl_test_t *t);

/**
 * @brief Run every queued job now, in order (work, then done), including
 *        jobs their done callbacks submit.
 * @returns How many ran (0 when called from inside a job).
 */
SL_EXPORT size_t sl_test_run_jobs(sl_test_t *t);

/** @brief The driver's engine (owned by the driver), for stats and advanced use. */
SL_EXPORT sl_engine_t *sl_test_engine(sl_test_t *t);

/* ---- test sinks ---- */

/** @brief Messages accepted (acknowledged with success) so far. */
SL_EXPORT size_t sl_test_sink_count(const sl_test_sink_t *s);

/** @brief The @p i-th accepted message, or NULL past the end. Owned by the sink. */
SL_EXPORT const sl_test_msg_t *sl_test_sink_msg(const sl_test_sink_t *s, size_t i);

/** @brief Number of write calls so far. */
SL_EXPORT size_t sl_test_sink_writes(const sl_test_sink_t *s);

/** @brief Size of the @p i-th write call, 0 past the end. */
SL_EXPORT size_t sl_test_sink_write_size(const sl_test_sink_t *s, size_t i);

/** @brief Set how the sink acknowledges (default SL_TEST_ACK_AUTO). */
SL_EXPORT void sl_test_sink_set_ack(sl_test_sink_t *s, sl_test_ack_t mode);

/**
 * @brief Make the next @p count uows written be acknowledged with @p err
 *        (auto mode), e.g. SL_EIO for a retriable failure, SL_ESINK for a permanent one.
 */
SL_EXPORT void sl_test_sink_fail_next(sl_test_sink_t *s, size_t count, int err);

/** @brief Make the next @p count write calls fail as a whole with @p err. */
SL_EXPORT void sl_test_sink_fail_writes(sl_test_sink_t *s, size_t count, int err);

/** @brief Uows written and not yet acknowledged (manual mode). */
SL_EXPORT size_t sl_test_sink_pending(const sl_test_sink_t *s);

/** @brief Output value of the @p i-th pending uow (not NUL-terminated), or NULL. */
SL_EXPORT const char *sl_test_sink_pending_value(const sl_test_sink_t *s, size_t i, size_t *len);

/**
 * @brief Acknowledge the @p i-th pending uow with @p err (0 = success: it is
 *        then recorded as accepted). Pending indexes after @p i shift down.
 * @returns 0, SL_ERANGE if there is no such pending uow.
 */
SL_EXPORT int sl_test_sink_ack(sl_test_sink_t *s, size_t i, int err);

/** @brief Forget the accepted messages and write counts (pending ones stay). */
SL_EXPORT void sl_test_sink_clear(sl_test_sink_t *s);

/* ---- fixture files: recorded output as another test's input ----
 *
 * A service's tests record the events it produces; a downstream service's
 * tests replay them as input, so the contract between the two is tested
 * without a broker. A fixture is a JSON Lines file (UTF-8, one JSON object
 * per line; blank lines are skipped):
 *
 *   {"topic":"thing-events","key":"thing-1","value":"{\"type\":\"thing-created\"}"}
 *
 * members (any other is an error):
 *   topic        string: the destination (saved: the test sink's name)
 *   partition    integer 0..2^31-1, default 0
 *   offset       integer >= 0, default one past the partition's last
 *   timestamp    integer ms, default the driver's virtual clock
 *   key          string (the bytes, UTF-8), or null / absent: no key
 *   key_b64      instead of key: standard base64, for bytes that are not UTF-8
 *   value        string, or null: no value (a tombstone); required unless
 *   value_b64    ... base64 is given instead, or
 *   value_json   ... any JSON, pushed as its compact text (for hand-written
 *                fixtures; numbers written as sl_uow_set_output_json() does)
 *   headers      array of {"name": string, "value": string | "value_b64": base64}
 *   pipeline     string: the pipeline that wrote it (saved; ignored on push)
 *
 * Saved files use "key"/"value" when the bytes are UTF-8 and "_b64" when not,
 * so every byte survives the round trip. Sinks write no record headers
 * today, so saved lines have none; input fixtures may (e.g. CloudEvents
 * binary mode's ce_* headers).
 */

/**
 * @brief Save the messages @p s accepted, in order, as a fixture file.
 * @param path created or truncated.
 * @param errstr receives a message on failure (may be NULL).
 * @returns 0; SL_EINVAL for a NULL argument; SL_EIO when the file cannot be
 *          written; SL_ENOMEM.
 */
SL_EXPORT int sl_test_sink_save(const sl_test_sink_t *s, const char *path, char *errstr,
                                size_t errstr_size);

/**
 * @brief Push every record of a fixture file, in order, as sl_test_push_record().
 * @param topic the topic of every record, or NULL to take each line's "topic".
 * @param pushed receives how many records were pushed (may be NULL); on an
 *        error, the records of the lines before the bad one were pushed.
 * @param errstr receives "PATH:LINE: what is wrong" on failure (may be NULL).
 * @returns 0; SL_EINVAL for a NULL @p t or @p path; SL_EIO when the file
 *          cannot be read; SL_EJSON for a line that is not a JSON object;
 *          SL_EFIELD for a member that is unknown, of the wrong type or not
 *          base64; SL_ENOMEM; or what sl_test_push_record() returned.
 */
SL_EXPORT int sl_test_push_fixture(sl_test_t *t, const char *path, const char *topic,
                                   size_t *pushed, char *errstr, size_t errstr_size);

#ifdef __cplusplus
}
#endif
#endif
