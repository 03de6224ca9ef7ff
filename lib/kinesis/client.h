/* sluice — Kinesis JSON 1.1 calls, signed, on the loop (private). */
#ifndef SL_KINESIS_CLIENT_H
#define SL_KINESIS_CLIENT_H

#include <jansson.h>
#include <stddef.h>

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

/* The endpoint URL, for logs (no secrets in it). */
const char *sl__kin_endpoint(const sl__kin_t *k);

/* A kinesis.* property as an integer within [lo, hi], or @p def. */
long long sl__kin_conf_int(sl_processor_t *p, const char *name, long long def, long long lo,
                           long long hi);

/* Base64 (standard alphabet, padded). Encode returns the length written
 * (out must hold 4 * ((n + 2) / 3) + 1 bytes); decode returns the decoded
 * length, or -1 on bad input (out must hold 3 * (n / 4) bytes). */
size_t sl__b64_encode(const void *in, size_t n, char *out);
long sl__b64_decode(const char *in, size_t n, unsigned char *out);

#endif
