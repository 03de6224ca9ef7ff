/* sluice — ready-made flavors: stages composed for the two processor kinds.
 *
 * materialize (listener): filter on event types (and, optionally, out the
 * service's own events) → map each event to a view row keyed by a JSON
 * pointer into the event → compact by key → upsert into a store
 * (sluice/store.h) only if newer → delete on "*-deleted".
 *
 * cdc (trigger): change records of the service's own store (DynamoDB Streams
 * records or Debezium envelopes) → domain events <entity>-created|updated|
 * deleted|undeleted|expired, ready to publish; latched records and
 * global-table replicas skipped (aws-lambda-stream's cdc semantics). The processor reading change
 * records sets source.format=json (they carry no event envelope).
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
    /** Skip (done, not written, counted as skipped) events whose tags.source
     *  is this string: the service's own events, published by its trigger
     *  (aws-lambda-stream's outSourceIsSelf). NULL = keep every source. */
    const char *skip_source;
} sl_materialize_opts_t;

/**
 * @brief Append the materialize stages and its store sink to @p p.
 *
 * An event without a usable key, timestamp or entity becomes a fault (it
 * cannot be placed in the view); store errors are retried when retriable and
 * become faults otherwise. Within a batch, only the newest event of each key
 * is written (by timestamp; the later one on a tie).
 *
 * The store bounds a listener's rate: sluice-listener sets the processor's
 * memory.max.bytes to 33554432 (about 4 000 records in flight rather than
 * the library's 50 000), which costs no rate and less CPU per event than
 * reading far ahead of the store (bench/README.md, bench_flavors); a program
 * that builds its own listener should set it too.
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

/** What the mapping hook (sl_cdc_opts_t.to_entity) sees of one change. All
 *  borrowed, valid during the call only. */
typedef struct sl_cdc_change_s {
    const char *type;   /**< the event type, e.g. "thing-updated" */
    const char *entity; /**< the entity name (the member the entity goes under) */
    const json_t
        *new_image; /**< unmarshalled new image (DynamoDB NewImage, Debezium after), or NULL */
    const json_t *old_image; /**< unmarshalled old image (OldImage, before), or NULL */
    const json_t *record;    /**< the whole change record as parsed */
} sl_cdc_change_t;

/**
 * The mapping hook: the published entity from the change (aws-lambda-stream's
 * toEvent). On success set @p *entity to a new reference the flavor takes
 * over (NULL: the event has no entity member) and return 0. Any other
 * return is an error code (sluice/error.h): the record becomes a fault whose
 * reason names it (SL_ENOMEM is retried). Numbers the hook takes from the
 * images by reference (json_object_set, json_incref) keep their DynamoDB
 * text in the output; numbers it creates are written by value. Called on the
 * engine's thread; it must not keep the images.
 */
typedef int (*sl_cdc_map_fn)(const sl_cdc_change_t *change, json_t **entity, void *arg);

/** What happens to a REMOVE made by DynamoDB's TTL process. */
typedef enum sl_cdc_expired_e {
    SL_CDC_EXPIRED_EVENT = 0, /**< publish "<entity>-expired" (the default) */
    SL_CDC_EXPIRED_SKIP = 1,  /**< done, not published */
    SL_CDC_EXPIRED_DELETE = 2 /**< publish "<entity>-deleted", like a user delete */
} sl_cdc_expired_t;

/** Options of the cdc flavor. Zero (NULL) members take the documented
 *  defaults, so `{.format = SL_CDC_DYNAMODB, .entity = "thing"}` is complete. */
typedef struct sl_cdc_opts_s {
    sl_cdc_format_t format;
    /** Entity name: event types are "<entity>-created|updated|deleted|..." and
     *  the entity sits under this member. Letters, digits, '-' and '_'.
     *  NULL: per record, from the image's discriminator attribute, else its
     *  sort key attribute, lowercased (single-table design); a record whose
     *  image has neither as a usable string is a fault. */
    const char *entity;
    /** tags.source of every event (the service's name); NULL = "sluice". */
    const char *source;

    /* ---- loops and duplicates (both formats) ---- */
    /** Publish records whose new image (the old one for a delete) has the
     *  latched attribute true; 0 (default) skips them: done, not published
     *  (the processor's "skipped" count). */
    int keep_latched;
    /** Publish global-table replicas; 0 (default) skips a record whose image
     *  has the region attribute as a string other than @p region. No check
     *  when @p region is NULL. */
    int keep_replicas;
    /** The processor's region: replica check and tags.region when the
     *  record carries none (DynamoDB awsRegion wins). NULL = none. */
    const char *region;
    const char *latched_attr;       /**< NULL = "latched" */
    const char *region_attr;        /**< NULL = "awsregion" */
    const char *discriminator_attr; /**< NULL = "discriminator" */
    const char *sk_attr;            /**< NULL = "sk" */
    /** DynamoDB: the key attribute that is the partitionKey when Keys has it
     *  as a non-empty S, N or B (aws-lambda-stream's Keys.pk), before the
     *  record key and the joined Keys. NULL = none. */
    const char *pk_attr;
    /** Soft deletes: an update whose new image has this attribute true and
     *  whose old image did not is "<entity>-deleted"; the reverse
     *  "<entity>-undeleted". NULL = "deleted". */
    const char *deleted_attr;
    /** DynamoDB REMOVE by TTL (userIdentity type "Service", principalId
     *  "dynamodb.amazonaws.com"). */
    sl_cdc_expired_t expired;

    /* ---- the entity ---- */
    /** Attributes left out of the default entity (raw.new and raw.old keep
     *  everything); NULL/0 = none. Ignored when @p to_entity is set. */
    const char *const *drop;
    size_t drop_count;
    /** The mapping hook; NULL = the image (minus @p drop) as it is. */
    sl_cdc_map_fn to_entity;
    void *to_entity_arg; /**< passed to @p to_entity; borrowed */

    /* ---- tags (each omitted when NULL) ---- */
    const char *account;
    const char *stage;
    const char *function_name; /**< tags.functionname: the processor */
    const char *pipeline;      /**< tags.pipeline */
} sl_cdc_opts_t;

/**
 * @brief Convert one change record to a domain event (the cdc flavor's map,
 *        usable on its own).
 *
 * First, records that are not published (the result is 0 with @p *out NULL
 * and @p err saying why): latched records, global-table replicas (see
 * keep_latched, keep_replicas) and, with SL_CDC_EXPIRED_SKIP, TTL expiries.
 * The event:
 *   - id: deterministic, UUID-shaped, from the entity name and the change's
 *     own identity when it has one (DynamoDB eventID; Debezium source
 *     position: source.lsn, else source.file/pos/row, else
 *     source.change_lsn/commit_lsn/event_serial_no, else source.scn, else
 *     source.ord, each with source.connector and source.name; a snapshot
 *     read "r" has none), so the same change written twice upstream
 *     publishes one id; else from the record's position (topic, partition,
 *     offset or position string), so a replay publishes the same id;
 *   - type: "<entity>-created" (INSERT, c, r), "-updated" (MODIFY, u),
 *     "-deleted" (REMOVE, d; an update setting the deleted attribute true),
 *     "-undeleted" (an update clearing it), "-expired" (a REMOVE by
 *     DynamoDB's TTL, see sl_cdc_opts_t.expired);
 *   - timestamp: the image's own "timestamp" attribute when it is a number,
 *     else the change time (DynamoDB ApproximateCreationDateTime in seconds,
 *     Debezium ts_ms); a REMOVE or d always takes the change time;
 *   - partitionKey: DynamoDB Keys.<pk_attr> when set and present, else
 *     the record's key when it has one, else the change's key
 *     attributes (DynamoDB Keys, values joined with '|' in name order;
 *     Debezium: the "id" of the image, else the image's first member);
 *   - tags: {"source", "account", "stage", "region", "functionname",
 *     "pipeline" (each when set), "format" ("dynamodb"|"debezium"),
 *     "entity"}; region is the record's awsRegion, else the option;
 *   - <entity>: what the hook returned, else the new image (the old image,
 *     else the Keys, for a delete) without the dropped attributes, as plain
 *     JSON (DynamoDB typed attribute values unmarshalled: {"N":"3"} is 3);
 *     a copy: changing it does not change raw;
 *   - raw: {"new": image or null, "old": image or null}, plain JSON, every
 *     attribute.
 * In this tree a DynamoDB N is a jansson integer when it is one within
 * int64, else a real (rounded to a double); sl_cdc_convert_text() and the
 * sl_cdc stage write every N with its own decimal text instead.
 *
 * @param record the change record (its value is the record's JSON text).
 * @param out on success, a new reference the caller owns, or NULL (skipped).
 * @param err receives a reason on failure or skip (may be NULL).
 * @returns 0; SL_EJSON (not JSON); SL_EFIELD (not a change record of the
 *          format: missing or ill-typed members, unknown operation, bad
 *          attribute value, no usable entity name); SL_EINVAL (bad options);
 *          SL_ENOMEM; or what the mapping hook returned.
 * @remark Thread-safe when the hook is (no shared state).
 */
SL_EXPORT int sl_cdc_convert(const sl_cdc_opts_t *opts, const sl_record_t *record, json_t **out,
                             char *err, size_t err_size);

/**
 * @brief As sl_cdc_convert(), but the event as compact JSON text, exactly as
 *        the sl_cdc stage publishes it: every DynamoDB N with its own decimal
 *        text (made valid JSON: "+5" is 5, ".5" is 0.5, "007" is 7), so
 *        3.14159 stays 3.14159 and integers beyond 2^53 or 2^63 stay exact.
 *        Without a mapping hook the event is written straight from the
 *        record's bytes, no jansson tree (a record that path does not take,
 *        errors included, goes the tree's way: the same answer and reason),
 *        and a Debezium number keeps its text too. With the hook the tree is
 *        built; other reals are then written in their shortest round-trip
 *        form (Debezium 1.50 as 1.5).
 * @param text on success a NUL-terminated string the caller frees with
 *        sl_free(), or NULL when the record is skipped. @param len its length
 *        (may be NULL).
 * @returns as sl_cdc_convert().
 * @remark Thread-safe when the hook is.
 */
SL_EXPORT int sl_cdc_convert_text(const sl_cdc_opts_t *opts, const sl_record_t *record, char **text,
                                  size_t *len, char *err, size_t err_size);

/**
 * @brief Append the cdc map (sl_cdc_convert_text() per record; a skipped
 *        record is SL_SKIP, done and counted as skipped; a failure is a
 *        fault with its reason, SL_ENOMEM a retry) to @p p. The caller adds
 *        the batch and the sink that publishes.
 * @param opts copied (strings and the drop list too; the hook's arg is
 *        borrowed and must outlive the pipeline).
 * @returns 0; SL_EINVAL (bad options); SL_ENOMEM.
 * @remark Not thread-safe: build pipelines on one thread.
 */
SL_EXPORT int sl_cdc(sl_pipeline_t *p, const sl_cdc_opts_t *opts);

#ifdef __cplusplus
}
#endif

#endif
