/* sluice — the cdc flavor's private interface between its files:
 *   cdc.c           common: text, errors, numbers and times, ids, the event,
 *                   sl_cdc_convert and the sl_cdc stage
 *   cdc_dynamodb.c  DynamoDB Streams records
 *   cdc_debezium.c  Debezium envelopes */
#ifndef SL_FLAVORS_CDC_H
#define SL_FLAVORS_CDC_H

#include "sluice/flavors.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define QUOTE_MAX 48    /* bytes of the record's own text quoted in a message */
#define STAGE_ERR 256   /* reason buffer of the map stage (sl_uow_fail keeps 200) */
#define MS_LIMIT 9.2e18 /* reals at or above this do not fit int64 ms */

/* DynamoDB N texts by number node, so the output writes each N as it was
 * written (cdc.c). Each node is referenced while it is in the table, so its
 * address cannot be reused by another node. */
typedef struct numtext_s {
    json_t *node;
    char *text; /* valid JSON number text, NUL-terminated */
} numtext_t;

typedef struct numtab_s {
    numtext_t *v;
    size_t n, cap;
    int sorted;
} numtab_t;

typedef struct cvt_s {
    numtab_t *nums;  /* NULL: texts are not kept (sl_cdc_convert) */
    const char *fmt; /* "dynamodb" | "debezium": tags.format and the messages' prefix */
    char *err;
    size_t err_size;
    char path[160]; /* where an attribute error is, e.g. "NewImage.tags[2]" */
    size_t plen;
    unsigned cut; /* path pushes that did not fit */
} cvt_t;

#define NO_MARK ((size_t)-1)

typedef enum { OP_CREATE, OP_UPDATE, OP_DELETE } op_t;

#define IDENTITY_MAX 320

/* What both formats extract from a change; references borrowed. */
typedef struct change_s {
    op_t op;
    int64_t ts;
    json_t *pkey;   /* a non-empty string */
    json_t *entity; /* the image published under <entity> (before drop/hook) */
    json_t *img_new, *img_old;
    json_t *keys;       /* DynamoDB Keys unmarshalled, or NULL */
    const json_t *root; /* the whole record */
    const char *region; /* tags.region, or NULL */
    int by_ttl;         /* a REMOVE by DynamoDB's TTL process */
    /* The change's own identity ("dynamodb:<eventID>", "debezium:..."), or
     * empty: the id then comes from the record's position. */
    char identity[IDENTITY_MAX];
} change_t;

/* sl__cdc_build_event() returns this (with *out NULL and the reason in the
 * error buffer) for a record that is done but not published. */
#define CDC_SKIPPED 1

/* Writes "<format>: <message>" to the caller's buffer; returns @p rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int sl__cdc_fail(cvt_t *c, int rc, const char *fmt, ...);
/* Writes "<format>: <path>: <message>"; returns @p rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int sl__cdc_fail_at(cvt_t *c, int rc, const char *fmt, ...);
int sl__cdc_oom(cvt_t *c);
const char *sl__cdc_clip(char out[QUOTE_MAX + 4], const char *s, size_t n);
void sl__cdc_path_set(cvt_t *c, const char *name);
size_t sl__cdc_path_push(cvt_t *c, const char *name, size_t i);
void sl__cdc_path_pop(cvt_t *c, size_t mark);
int sl__cdc_number_of(const char *s, size_t n, json_t **out);
/* Keeps @p s (a number sl__cdc_number_of() accepted) as @p node's text when
 * c->nums is set. Returns 0 or SL_ENOMEM. */
int sl__cdc_keep_text(cvt_t *c, json_t *node, const char *s, size_t n);
int sl__cdc_ms_of(const json_t *v, int64_t *ms);
int sl__cdc_secs_to_ms(const json_t *v, int64_t *ms);
int sl__cdc_image_ts(const json_t *img, int64_t *ms);
json_t *sl__cdc_member(const json_t *o, const char *name);
int sl__cdc_build_event(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const change_t *ch,
                        json_t **out);
int sl__cdc_record_pkey(const sl_record_t *r, json_t **pk);
int sl__cdc_change_or_record(int have, int64_t change, const sl_record_t *r, int64_t *ms);
int sl__cdc_from_dynamodb(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r,
                          const json_t *root, json_t **out);
int sl__cdc_from_debezium(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, json_t *root,
                          json_t **out);

#endif
