/* sluice — the engine: the I/O-free heart of a processor.
 *
 * An engine takes records from a source, decodes each once, forks it to every
 * pipeline, runs stages, batches and sinks, turns failures into fault events,
 * tracks per-partition watermarks of done records and tells the source when
 * to pause. It does no I/O and owns no thread: a driver (the libuv processor,
 * or the test driver) pushes records, calls sl_engine_tick() when timers are
 * due, and commits watermarks. Everything runs on the driver's thread, but
 * for blocking work (a store transaction) that sinks and sources hand to
 * the driver's executor (sl_engine_submit()): it runs elsewhere and
 * completes on the driver's thread. */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#include "sluice/conf.h"
#include "sluice/pipeline.h"
#include "sluice/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_engine_s sl_engine_t;

/** A millisecond clock; the default reads CLOCK_MONOTONIC. */
typedef struct sl_clock_s {
    int64_t (*now_ms)(void *opaque);
    void *opaque;
} sl_clock_t;

/** Pass to sl_source_ops_t.flow when every partition is meant. */
#define SL_PARTITION_ALL (-1)

/** What the engine tells its source. */
typedef struct sl_source_ops_s {
    /**
     * The engine no longer needs @p rec: @p done is 1 when every pipeline
     * finished with it (its offset is within the watermark from now on), 0
     * when the engine is destroyed with the record still in flight.
     */
    void (*release)(void *opaque, const sl_record_t *rec, int done);
    /**
     * Pause (@p pause = 1) or resume (0) reading @p partition of @p topic,
     * or every partition when @p partition is SL_PARTITION_ALL (then @p topic is NULL).
     * May be NULL.
     */
    void (*flow)(void *opaque, const char *topic, int32_t partition, int pause);
} sl_source_ops_t;

/**
 * A unit of blocking work (a store transaction, a checkpoint write) that an
 * executor runs away from the engine's thread. Copied by submit.
 */
typedef struct sl_job_s {
    /** Runs on another thread (or later on the engine's thread, see
     *  sl_engine_submit()). Must not touch the engine. */
    void (*work)(void *arg);
    /**
     * Runs on the engine's thread after @p work returned (@p status 0), or
     * instead of it when the executor is shutting down (@p status
     * SL_ESHUTDOWN: @p work never ran). Called exactly once per accepted job.
     */
    void (*done)(void *arg, int status);
    /**
     * Optional; may be called from any thread while @p work may be running:
     * make it return soon (e.g. sqlite3_interrupt). Called when a drain
     * runs out of time.
     */
    void (*interrupt)(void *arg);
    void *arg;
} sl_job_t;

/** Where an engine's blocking work runs (the runtime: libuv's thread pool). */
typedef struct sl_executor_s {
    /**
     * Accept @p job (copied). Returns 0 (done will be called exactly once,
     * never from inside submit), or a negative SL_E* code (SL_ESHUTDOWN,
     * SL_ENOMEM): the job is not taken and neither callback is called.
     */
    int (*submit)(void *opaque, const sl_job_t *job);
    void *opaque;
} sl_executor_t;

/** Counters of one engine or one pipeline. */
typedef struct sl_stats_s {
    uint64_t records_in;     /**< records pushed (engine) or uows entered (pipeline) */
    uint64_t records_done;   /**< records released as done (engine only) */
    uint64_t sunk;           /**< uows acknowledged by a sink */
    uint64_t skipped;        /**< uows filtered out */
    uint64_t compacted;      /**< uows superseded by a newer one of the same key */
    uint64_t faults;         /**< fault events acknowledged by the fault sink */
    uint64_t decode_faults;  /**< records that could not be decoded (engine only) */
    uint64_t retries;        /**< retries scheduled */
    uint64_t batches;        /**< sink writes */
    uint64_t inflight;       /**< records + flat-map children (engine), uows (pipeline) now */
    uint64_t inflight_bytes; /**< record values + buffers of their uows, now (engine only) */
} sl_stats_t;

/**
 * @brief New engine configured by @p conf (copied; NULL takes defaults).
 * @returns An engine owned by the caller (sl_engine_destroy()), or NULL with a
 *          message in @p errstr.
 * @remark An engine and everything attached to it belong to one thread.
 */
SL_EXPORT sl_engine_t *sl_engine_new(const sl_conf_t *conf, char *errstr, size_t errstr_size);

/**
 * @brief Destroy the engine and its pipelines. Records still in flight are
 *        released with done = 0; nothing more is written to any sink.
 *        NULL is accepted.
 */
SL_EXPORT void sl_engine_destroy(sl_engine_t *e);

/** @brief Use @p clock (copied) instead of CLOCK_MONOTONIC.
 *  @returns 0; SL_EINVAL if @p e or @p clock is NULL or clock->now_ms is
 *           NULL; SL_ESTATE after start. */
SL_EXPORT int sl_engine_set_clock(sl_engine_t *e, const sl_clock_t *clock);

/** @brief Set the source callbacks (copied).
 *  @returns 0; SL_EINVAL if @p e or @p ops is NULL; SL_ESTATE after start. */
SL_EXPORT int sl_engine_set_source(sl_engine_t *e, const sl_source_ops_t *ops, void *opaque);

/**
 * @brief Run blocking work through @p ex (copied) from now on.
 *
 * Without an executor, sl_engine_submit() runs a job inline (work, then
 * done, before it returns), which blocks the engine's thread.
 * @returns 0; SL_EINVAL (NULL, or no submit); SL_ESTATE after start.
 * @remark A job's arg borrows engine state (a sink's uows): the executor
 *         must have called every accepted job's done before
 *         sl_engine_destroy() (cancel what has not started, with
 *         SL_ESHUTDOWN).
 */
SL_EXPORT int sl_engine_set_executor(sl_engine_t *e, const sl_executor_t *ex);

/**
 * @brief Hand a job to the engine's executor (for sinks and sources that
 *        would otherwise block the engine's thread).
 * @param job copied; its arg is borrowed until done is called.
 * @returns 0 when taken: done is called exactly once on the engine's thread,
 *          later (with an executor) or before this returns (without one);
 *          SL_EINVAL; or the executor's error (SL_ESHUTDOWN once a drain ran
 *          out of time, SL_ENOMEM): then neither callback is called.
 * @remark On the engine's thread.
 */
SL_EXPORT int sl_engine_submit(sl_engine_t *e, const sl_job_t *job);

/**
 * @brief Push a record that the source already knows it cannot deliver as
 *        it should (a stream record without data or position): it becomes
 *        a fault event with @p err and @p message and is then done, like a
 *        record that cannot be decoded.
 * @param rec as sl_engine_push() (its offset must grow per partition).
 * @param err a negative SL_E* code (SL_EFIELD if unsure).
 * @param message copied (truncated to 200 bytes); may be NULL.
 * @returns As sl_engine_push().
 */
SL_EXPORT int sl_engine_push_fault(sl_engine_t *e, const sl_record_t *rec, int err,
                                   const char *message);

/**
 * @brief Add a pipeline; on success the engine owns it.
 * @returns 0; SL_EINVAL if @p e or @p p is NULL or @p p has no sink;
 *          SL_EEXIST if the name is taken; SL_ESTATE after start or when
 *          @p p is already added to an engine; SL_ENOMEM. On failure the
 *          caller keeps @p p, and sl_pipeline_error(p) says why.
 */
SL_EXPORT int sl_engine_add_pipeline(sl_engine_t *e, sl_pipeline_t *p);

/**
 * @brief Set the sink that receives fault events (required).
 * @param sink borrowed; must outlive the engine.
 * @returns 0; SL_EINVAL if @p e or @p sink is NULL; SL_ESTATE after start.
 */
SL_EXPORT int sl_engine_set_fault_sink(sl_engine_t *e, sl_sink_t *sink);

/**
 * @brief Freeze the set of pipelines and preallocate what steady state needs.
 * @returns 0; SL_EINVAL (no pipeline, or no fault sink) or SL_ENOMEM, with a
 *          message in @p errstr.
 */
SL_EXPORT int sl_engine_start(sl_engine_t *e, char *errstr, size_t errstr_size);

/**
 * @brief Push one record: decode it once and run it through every pipeline.
 * @param rec borrowed until the source's release callback gets it; its offset
 *        must be greater than the previous record of its partition.
 * @returns 0 when the engine took the record (it is then always released
 *          exactly once; bad content becomes a fault, never an error here);
 *          SL_ENOMEM (retry later), SL_EINVAL (offset not increasing),
 *          SL_ESTATE (not started): the engine did not take the record.
 */
SL_EXPORT int sl_engine_push(sl_engine_t *e, const sl_record_t *rec);

/**
 * @brief Like sl_engine_push() with an envelope the caller already has
 *        (a trusted source, a benchmark): the value is not scanned again.
 * @param env copied; its spans must point into @p rec.
 * @returns As sl_engine_push(); SL_EINVAL also for a NULL @p env or one
 *          without a type.
 */
SL_EXPORT int sl_engine_push_decoded(sl_engine_t *e, const sl_record_t *rec,
                                     const sl_envelope_t *env);

/**
 * @brief Fire every timer that is due (linger, retries, rate limits, fault
 *        retries). Drivers call it when sl_engine_next_timeout() expires and
 *        after each burst of pushes.
 */
SL_EXPORT void sl_engine_tick(sl_engine_t *e);

/**
 * @brief Milliseconds until the next timer is due: 0 if one is due now, -1 if none.
 */
SL_EXPORT int64_t sl_engine_next_timeout(sl_engine_t *e);

/** @brief Close every open batch now (for a drain). @returns 0. */
SL_EXPORT int sl_engine_flush(sl_engine_t *e);

/**
 * @brief The offset to commit for a partition: one past the highest offset
 *        below which every record is done.
 * @returns That offset, or -1 when nothing of the partition is done yet.
 */
SL_EXPORT int64_t sl_engine_watermark(sl_engine_t *e, const char *topic, int32_t partition);

/**
 * @brief Forget a partition (revoked or lost). Its records must all be done
 *        (sl_engine_stats() inflight of it is 0); a later record of it starts a new watermark.
 * @returns 0, SL_ENOENT if unknown, SL_EAGAIN if records are still in flight.
 */
SL_EXPORT int sl_engine_forget_partition(sl_engine_t *e, const char *topic, int32_t partition);

/** @brief Records in flight in the whole engine, each flat-map child not yet
 *         done counted as one more. */
SL_EXPORT size_t sl_engine_inflight(const sl_engine_t *e);

/** @brief Records in flight in one partition, flat-map children counted as
 *         in sl_engine_inflight() (0 for an unknown partition). */
SL_EXPORT size_t sl_engine_partition_inflight(sl_engine_t *e, const char *topic, int32_t partition);

/** @brief Engine-wide counters. */
SL_EXPORT void sl_engine_stats(const sl_engine_t *e, sl_stats_t *out);

/** @brief Counters of the pipeline named @p name. @returns 0 or SL_ENOENT. */
SL_EXPORT int sl_engine_pipeline_stats(const sl_engine_t *e, const char *name, sl_stats_t *out);

/** @brief The engine's configuration (read-only, owned by the engine). */
SL_EXPORT const sl_conf_t *sl_engine_conf(const sl_engine_t *e);

/** @brief The engine clock's current time in ms. */
SL_EXPORT int64_t sl_engine_now(const sl_engine_t *e);

#ifdef __cplusplus
}
#endif
#endif
