/* sluice — ready-made flavors: stages composed for the two processor kinds.
 *
 * materialize (listener): filter on event types → map each event to a view
 * row keyed by a JSON pointer into the event → compact by key → upsert into
 * a store (sluice/store.h) only if newer → delete on "*-deleted".
 *
 * cdc (trigger): change records of the service's own store (DynamoDB Streams
 * records or Debezium envelopes) → domain events <entity>-created|updated|
 * deleted, ready to publish. The processor reading change records sets
 * source.format=json (they carry no event envelope).
 *
 * Flavors are plain stages over uows (lib/core): no I/O of their own. */
#ifndef SLUICE_FLAVORS_H
#define SLUICE_FLAVORS_H

#include "sluice/export.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/pipeline.h"
#include "sluice/record.h"
#include "sluice/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- materialize ------------------------------------------------------ */

typedef struct sl_materialize_opts_s {
    const char *const *types; /**< event types to keep; NULL/0 = every type */
    size_t type_count;
    sl_match_t match; /**< how types match (exact or prefix) */
    /** RFC 6901 pointer to the entity key in the event, e.g. "/thing/id".
     *  The key must be a string or an integer. Required. */
    const char *key_pointer;
    /** Pointer to the entity stored as the row's JSON; NULL = the key
     *  pointer's first token ("/thing/id" → "/thing"), or the whole event
     *  when the key pointer has a single token. */
    const char *entity_pointer;
    /** A type ending with this suffix deletes the key's row; NULL = "-deleted". */
    const char *delete_suffix;
    /** Where rows go. On success the pipeline owns it (destroyed with the
     *  pipeline); on failure the caller keeps it. */
    sl_store_t *store;
    sl_batch_opts_t batch; /**< batching of store writes, as sl_pipeline_batch() ({0, 0, -1}:
                              the processor's defaults) */
} sl_materialize_opts_t;

/**
 * @brief Append the materialize stages and its store sink to @p p.
 *
 * An event without a usable key, timestamp or entity becomes a fault (it
 * cannot be placed in the view); store errors are retried when retriable and
 * become faults otherwise. Within a batch, only the newest event of each key
 * is written (by timestamp; the later one on a tie).
 * @returns 0; SL_EINVAL (bad options, or @p p already has a sink); SL_ENOMEM.
 * @remark Not thread-safe: build pipelines on one thread.
 */
SL_EXPORT int sl_materialize(sl_pipeline_t *p, const sl_materialize_opts_t *opts);

/* ---- cdc -------------------------------------------------------------- */

typedef enum sl_cdc_format_e {
    SL_CDC_DYNAMODB =
        1, /**< DynamoDB Streams records (eventName, dynamodb.Keys/NewImage/OldImage) */
    SL_CDC_DEBEZIUM = 2 /**< Debezium envelopes (before, after, op, source, ts_ms), bare or
                           under "payload" */
} sl_cdc_format_t;

typedef struct sl_cdc_opts_s {
    sl_cdc_format_t format;
    /** Entity name: event types are "<entity>-created|updated|deleted" and the
     *  entity sits under this member. Letters, digits, '-' and '_'. Required. */
    const char *entity;
    /** tags.source of every event; NULL = "sluice". */
    const char *source;
} sl_cdc_opts_t;

/**
 * @brief Convert one change record to a domain event (the cdc flavor's map,
 *        usable on its own).
 *
 * The event:
 *   - id: deterministic from the record's position (topic, partition, offset,
 *     or position string), so a replay publishes the same id;
 *   - type: "<entity>-created" (INSERT, c, r), "-updated" (MODIFY, u),
 *     "-deleted" (REMOVE, d);
 *   - timestamp: the image's own "timestamp" attribute when it is a number,
 *     else the change time (DynamoDB ApproximateCreationDateTime in seconds,
 *     Debezium ts_ms); a delete always takes the change time;
 *   - partitionKey: the record's key when it has one, else the change's key
 *     attributes (DynamoDB Keys, values joined with '|' in name order;
 *     Debezium: the "id" of the image, else the image's first member);
 *   - tags: {"source", "format" ("dynamodb"|"debezium"), "entity"};
 *   - <entity>: the new image, or the old image for a delete, as plain JSON
 *     (DynamoDB typed attribute values unmarshalled: {"N":"3"} is 3);
 *   - raw: {"new": image or null, "old": image or null}, plain JSON.
 *
 * @param record the change record (its value is the record's JSON text).
 * @param out on success, a new reference the caller owns.
 * @param err receives a reason on failure (may be NULL).
 * @returns 0; SL_EJSON (not JSON); SL_EFIELD (not a change record of the
 *          format: missing or ill-typed members, unknown operation, bad
 *          attribute value); SL_EINVAL (bad options); SL_ENOMEM.
 * @remark Thread-safe (no shared state).
 */
SL_EXPORT int sl_cdc_convert(const sl_cdc_opts_t *opts, const sl_record_t *record, json_t **out,
                             char *err, size_t err_size);

/**
 * @brief Append the cdc map (sl_cdc_convert() per record; a failure is a
 *        fault with its reason) to @p p. The caller adds the batch and the
 *        sink that publishes.
 * @param opts copied (strings too).
 * @returns 0; SL_EINVAL (bad options); SL_ENOMEM.
 * @remark Not thread-safe: build pipelines on one thread.
 */
SL_EXPORT int sl_cdc(sl_pipeline_t *p, const sl_cdc_opts_t *opts);

#ifdef __cplusplus
}
#endif

#endif
