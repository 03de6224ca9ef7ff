/* sluice — the cdc flavor's private interface between its files:
 *   cdc.c           common: text, errors, numbers and times, ids, the event,
 *                   sl_cdc_convert and the sl_cdc stage
 *   cdc_dynamodb.c  DynamoDB Streams records
 *   cdc_debezium.c  Debezium envelopes */
#ifndef SL_FLAVORS_CDC_H
#define SL_FLAVORS_CDC_H

#include "core/jsonw.h"
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
    unsigned cut;  /* path pushes that did not fit */
    int validated; /* sl__cdc_fast() ran the strict scanner on the record itself */
    int invalid;   /* ... and the scanner found no JSON there */
    int proven;    /* sl__cdc_fast()'s walk proved the record JSON itself */
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
/* sl__cdc_fast() returns this when the record needs the jansson path: an
 * error (whose message that path writes), or a form the fast path leaves to
 * it (escaped keys, repeated members, ...). */
#define CDC_FALLBACK 2
/* sl__cdc_fast() with CDC_CHECK returns this, having done nothing, for a
 * record whose text the walk cannot prove JSON itself. */
#define CDC_UNCHECKED 3

/* The partitionKey the fast path found: borrowed from the record, or owned. */
typedef struct fast_pk_s {
    const char *p;
    size_t n;
    char *own; /* sl_malloc'd when set */
} fast_pk_t;

/* What the fast path keeps from one record to the next: its scratch
 * buffers, grown to the largest record met (at most about twice its size),
 * so that a stage allocates nothing per record. A stage's own, used on the
 * engine's thread only. All zero = nothing kept yet. */
typedef struct cdc_keep_s {
    char *s; /* the images as written */
    size_t scap;
    char *tmp; /* decoded strings */
    size_t tcap;
    /* The tags the options fix, written once: those before "region", then
     * those after it up to "entity" included when the options name the
     * entity (with the entity's member name), else up to "format". A keep
     * serves one set of options and one format. */
    char *tags;
    size_t head_n, tail_n;
    /* The id's hash after "<entity>\nchange\ndynamodb:" for the options'
     * entity (sl__cdc_event_id_kept()), once id_ready. */
    uint64_t id_a, id_b;
    int id_ready;
} cdc_keep_t;

/* Frees what @p k holds and zeroes it. */
void sl__cdc_keep_free(cdc_keep_t *k);

/* Flags of sl__cdc_fast(). */
enum {
    /* The record's value was validated as JSON by the engine's scanner
     * (sl__uow_value_is_json()): the walk is not preceded by another
     * validation. Only from a verdict on these very bytes. Without it, a
     * DynamoDB record in compact printable ASCII is proven JSON by the walk
     * itself, any other validated first (cvt_t.validated tells which). */
    CDC_VALIDATED = 1,
    /* The partitionKey's bytes go to @p jw before the event: a uow's output
     * layout (key, then value), written in place. */
    CDC_KEY_FIRST = 2,
    /* The engine's stand-in validation (sl__json_check_t): a record the walk
     * cannot prove JSON itself returns CDC_UNCHECKED at once, unwalked and
     * unvalidated, for the caller to validate. Without CDC_VALIDATED. */
    CDC_CHECK = 4
};

/* The event of a record straight from its bytes (cdc_fast.c), without the
 * mapping hook, appended to @p jw (the caller frees jw->buf). @p keep:
 * buffers to reuse, or NULL (allocated and freed in the call). @p flags:
 * CDC_*. Returns 0 (@p pk set, the caller frees pk->own), CDC_SKIPPED (the
 * reason in the error buffer), CDC_FALLBACK, CDC_UNCHECKED or SL_ENOMEM.
 * @p c tells how the text was found JSON: proven by the walk, or validated
 * (valid or invalid), or neither (CDC_VALIDATED, CDC_UNCHECKED, or a record
 * given up before any verdict: an empty value, no object). */
int sl__cdc_fast(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, sl__jw_t *jw,
                 fast_pk_t *pk, cdc_keep_t *keep, unsigned flags);
/* sl_cdc_convert_text() by one path: @p mode 0 the jansson tree only, 1 the
 * fast path with the tree as its fallback, 2 the fast path only (returns
 * CDC_FALLBACK when it would fall back). For the differential tests. */
int sl__cdc_convert_text_mode(const sl_cdc_opts_t *opts, const sl_record_t *record, int mode,
                              char **text, size_t *len, char *err, size_t err_size);

/* Writes "<format>: <message>" to the caller's buffer, or with @p at
 * "<format>: <path>: <message>"; returns @p rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int sl__cdc_failx(cvt_t *c, int rc, int at, const char *fmt, ...);
/* sl__cdc_fail(c, rc, fmt, ...): "<format>: <message>"; returns @p rc. */
#define sl__cdc_fail(c, rc, ...) sl__cdc_failx(c, rc, 0, __VA_ARGS__)
/* sl__cdc_fail_at(c, rc, fmt, ...): "<format>: <path>: <message>". */
#define sl__cdc_fail_at(c, rc, ...) sl__cdc_failx(c, rc, 1, __VA_ARGS__)
int sl__cdc_oom(cvt_t *c);
const char *sl__cdc_clip(char out[QUOTE_MAX + 4], const char *s, size_t n);
void sl__cdc_path_set(cvt_t *c, const char *name);
size_t sl__cdc_path_push(cvt_t *c, const char *name, size_t i);
void sl__cdc_path_pop(cvt_t *c, size_t mark);
int sl__cdc_number_of(const char *s, size_t n, json_t **out);
/* sl__cdc_number_of() without a node: *is_int and *iv for an integer within
 * int64, else a real whose value goes to *dv (@p dv may be NULL: the value is
 * then computed only when the range check needs it). Returns the same codes. */
int sl__cdc_number_parse(const char *s, size_t n, int *is_int, int64_t *iv, double *dv);
/* The JSON text of DynamoDB number text @p s (checked by
 * sl__cdc_number_parse(); @p real when it is no integer within int64) into
 * @p out of at least n + 32 bytes, NUL-terminated; returns its length. */
size_t sl__cdc_n_text(const char *s, size_t n, int real, char *out);
/* Whether @p buf is valid UTF-8 without NUL. */
int sl__cdc_utf8_text(const void *buf, size_t n);
/* The event id (see cdc.c) into @p id. */
void sl__cdc_event_id(const char *entity, const sl_record_t *r, const char *identity, char id[37]);
/* sl__cdc_event_id() for the entity the options fix (@p entity, the same
 * for every call with @p k), the hash of its constant head kept in @p k for
 * the next record: the same id, a third of the hashing for a DynamoDB
 * change's identity. */
void sl__cdc_event_id_kept(cdc_keep_t *k, const char *entity, const sl_record_t *r,
                           const char *identity, char id[37]);
/* Why @p e is not an entity name, or NULL when it is one. */
const char *sl__cdc_bad_entity(const char *e);
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
