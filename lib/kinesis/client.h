/* sluice — Kinesis JSON 1.1 calls, signed, on the loop (private). */
#ifndef SL_KINESIS_CLIENT_H
#define SL_KINESIS_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kinesis/http.h"
#include "runtime/runtime.h"

typedef struct sl__kin_s sl__kin_t;

/* What went wrong with a call, beyond its sluice error code. */
typedef enum {
    KIN_OK = 0,
    KIN_THROTTLED, /* ProvisionedThroughputExceeded, LimitExceeded, Throttling */
    KIN_EXPIRED,   /* ExpiredIteratorException */
    KIN_NOT_FOUND, /* ResourceNotFoundException */
    KIN_INVALID,   /* validation and other client errors */
    KIN_SERVER,    /* 5xx, InternalFailure */
    KIN_TRANSPORT, /* no HTTP answer */
    KIN_SHUTDOWN,  /* the client closed */
    KIN_DENIED     /* AccessDenied, unknown or expired credentials, a bad signature */
} sl__kin_fail_t;

/* @p resp is the parsed answer (borrowed, NULL on failure). @p err is 0 or a
 * sluice code: retriable for throttling, server and transport failures. */
typedef void (*sl__kin_cb)(void *opaque, int err, sl__kin_fail_t why, const char *msg,
                           json_t *resp);

/* A client for processor @p p: endpoint, region and credentials from the
 * environment and the kinesis.* properties (see sluice/kinesis.h). NULL with
 * a message in @p errstr. */
sl__kin_t *sl__kin_new(sl_processor_t *p, char *errstr, size_t errstr_size);

/* Call operation @p op (e.g. "GetRecords") with request @p req (stolen).
 * The callback runs once, later. Returns 0 or an error (callback not run). */
int sl__kin_call(sl__kin_t *k, const char *op, json_t *req, sl__kin_cb cb, void *opaque);

/* A blocking call, for start-up checks only (it blocks the loop's thread):
 * up to @p timeout_ms. Returns 0 with *resp set (caller decrefs), or an
 * error as for sl__kin_call's callback, with a message in @p msg. */
int sl__kin_call_sync(sl__kin_t *k, const char *op, json_t *req, long timeout_ms, json_t **resp,
                      sl__kin_fail_t *why, char *msg, size_t msg_size);

/* Close (in-flight callbacks run with KIN_SHUTDOWN) / free after the loop turned. */
void sl__kin_close(sl__kin_t *k);
void sl__kin_destroy(sl__kin_t *k);

/* The endpoint URL a client of @p p would use (the environment, then
 * kinesis.endpoint, else the region's): @p buf or a string of the
 * environment or configuration. */
const char *sl__kin_endpoint_url(const sl_processor_t *p, char *buf, size_t size);

/* The endpoint URL, for logs (no secrets in it). */
const char *sl__kin_endpoint(const sl__kin_t *k);

/* A kinesis.* string property (lib/kinesis/conf.c), or NULL when empty. */
const char *sl__kin_conf_str(const sl_conf_t *conf, const char *name);

/* The outcome of an HTTP answer of status @p status with body [body,
 * body + len): 0 with *out the parsed body (caller decrefs) when the status
 * is 200 and the body is JSON; else an error code as for sl__kin_cb (*out
 * NULL), *why, and a message in @p msg ("kinesis: HTTP <status> <__type>:
 * <message>", cut to fit). Exposed for the fuzz target. */
int sl__kin_answer(long status, const char *body, size_t len, json_t **out, sl__kin_fail_t *why,
                   char *msg, size_t msg_size);

/* One entry of a GetRecords answer's "Records"; strings borrowed from it. */
typedef struct sl__kin_rec_s {
    const char *data; /* Data (base64), NULL when absent */
    size_t data_len;
    const char *key; /* PartitionKey, "" when absent */
    size_t key_len;
    const char *seq; /* SequenceNumber, NULL when absent */
    size_t seq_len;
    int64_t arrival_ms; /* ApproximateArrivalTimestamp (seconds) in ms; 0 when
                           absent, negative or out of range */
} sl__kin_rec_t;

/* Read entry @p r: 0, or SL_EFIELD without a string Data or SequenceNumber
 * (@p out is filled all the same, the missing ones NULL, so the record can
 * still become a fault with what is known). */
int sl__kin_rec_parse(const json_t *r, sl__kin_rec_t *out);

/* The record's value into @p out (room for data_len bytes): Data decoded,
 * or, when it is not base64 (a broken service), Data as it came, so the
 * record is still accounted for. Returns the value's length. */
size_t sl__kin_rec_value(const sl__kin_rec_t *r, unsigned char *out);

/* The entries of a PutRecords answer @p resp for a call of @p n records:
 * for each failed entry, entry[i] = SL_EAGAIN (both documented entry errors
 * are transient) and emsg[i] its reason (caller frees with sl_free; NULL
 * when out of memory); other entries are left alone. Returns 0, or SL_EIO
 * with a message in @p msg when the answer does not hold @p n results. */
int sl__kin_put_results(const json_t *resp, size_t n, int *entry, char **emsg, char *msg,
                        size_t msg_size);

#endif
