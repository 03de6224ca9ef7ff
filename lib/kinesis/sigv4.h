/* sluice — AWS Signature Version 4 (HMAC-SHA256), private to lib/kinesis.
 *
 * Signs one HTTP request the way AWS expects for every service but S3
 * (paths are normalized and their bytes encoded once more), which is what
 * the Kinesis JSON 1.1 API needs. Pure computation: no I/O, no clock, no
 * global state, and nothing here ever logs. Every function is thread-safe
 * on distinct objects; a key cache belongs to one thread at a time.
 *
 * Secrets: the secret access key and the session token must never reach a
 * log line. The canonical request and the headers can carry the session
 * token; the Authorization value carries no secret but is a credential for
 * a few minutes. Log them, if at all, through sl__sigv4_redact(). */
#ifndef SL_KINESIS_SIGV4_H
#define SL_KINESIS_SIGV4_H

#include <stddef.h>
#include <time.h>

struct curl_slist;

#define SL__SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SL__SIGV4_DATE_SIZE 17  /* "YYYYMMDDTHHMMSSZ" and its NUL */
#define SL__SIGV4_REDACT_SIZE 9 /* "****" + 4 characters + NUL */
#define SL__SIGV4_SCOPE_MAX 64  /* region and service longer than this are not cached */
#define SL__SIGV4_KINESIS_HEADERS 6

/** Credentials, borrowed from the caller for the duration of a call. */
typedef struct sl__sigv4_creds_s {
    const char *access_key_id;     /**< e.g. "AKIDEXAMPLE"; no '/', ',' or whitespace */
    const char *secret_access_key; /**< never logged, never copied past the call */
    const char *session_token;     /**< NULL or "" for long-term credentials; see below */
} sl__sigv4_creds_t;

/** One request header. Names are matched case-insensitively. */
typedef struct sl__sigv4_header_s {
    const char *name;
    const char *value;
} sl__sigv4_header_t;

/**
 * A request to sign, every pointer borrowed for the duration of the call.
 *
 * Every header in @c headers is signed, so pass exactly the ones that will be
 * sent and should be covered (AWS requires Host and X-Amz-Date). Names may
 * repeat and mix case; values may carry extra spaces or obs-fold lines
 * ("a\n  b", which signs as "a,b", as the AWS test suite expects).
 */
typedef struct sl__sigv4_req_s {
    const char *method;                /**< "GET", "POST", ... as sent */
    const char *path;                  /**< raw path as sent, "/..."; NULL or "" means "/" */
    const char *query;                 /**< raw query without '?'; NULL or "" when none */
    const sl__sigv4_header_t *headers; /**< may be NULL when @c nheaders is 0 */
    size_t nheaders;
    const void *payload; /**< may be NULL when @c payload_len is 0 */
    size_t payload_len;
} sl__sigv4_req_t;

/**
 * What sl__sigv4_sign() produces. The strings live in one block owned by this
 * struct: release it with sl__sigv4_out_fini(). All NULL after a failure.
 */
typedef struct sl__sigv4_out_s {
    char *canonical_request; /**< the CanonicalRequest of the spec, no trailing newline */
    char *string_to_sign;
    char *authorization; /**< the value of the Authorization header */
    char signature[65];  /**< lowercase hex, also at the end of @c authorization */
    void *mem_;          /* the block; private */
} sl__sigv4_out_t;

/**
 * A derived signing key, reused while date, region, service and secret stay
 * the same (the key changes at most daily). Optional: signing without one
 * derives the key on every call (four HMACs).
 */
typedef struct sl__sigv4_key_cache_s {
    unsigned char key[32];
    unsigned char secret_digest[32]; /* SHA-256 of the secret: a rotated secret misses */
    char date[9];
    char region[SL__SIGV4_SCOPE_MAX];
    char service[SL__SIGV4_SCOPE_MAX];
    int valid;
} sl__sigv4_key_cache_t;

/** The headers of a signed Kinesis call, and how they were signed. */
typedef struct sl__sigv4_kinesis_s {
    /** In send order: Host, X-Amz-Date, X-Amz-Target, Content-Type,
     *  [X-Amz-Security-Token,] Authorization. Names are static strings;
     *  values are copies owned by this struct. */
    sl__sigv4_header_t headers[SL__SIGV4_KINESIS_HEADERS];
    size_t nheaders;
    sl__sigv4_out_t sig;
    void *mem_; /* the block of header values; private */
} sl__sigv4_kinesis_t;

/**
 * @brief Sign @p req: canonical request, string to sign, signature and the
 *        Authorization header value.
 * @param creds access key id and secret. The session token is NOT added: a
 *        caller with temporary credentials adds an X-Amz-Security-Token header
 *        to @p req before signing (or, for the few services that want it so,
 *        after), as sl__sigv4_kinesis_sign() does.
 * @param region e.g. "us-east-1"; @p service e.g. "kinesis". Non-empty, no '/',
 *        whitespace or control characters.
 * @param amz_date the request time, "YYYYMMDDTHHMMSSZ" (UTC), the same value as
 *        the X-Amz-Date header; see sl__sigv4_amz_date().
 * @param out overwritten, not freed: release a previous result first.
 * @returns 0; SL_EINVAL for a NULL or malformed argument (bad date, header
 *          name that is not an HTTP token, path not starting with '/' or
 *          holding '?' or '#'); SL_ENOMEM. On error @p out is all NULL.
 * @remark Thread-safe. Canonicalization (AWS SigV4, non-S3):
 *         - path: empty segments, "." and ".." removed; a trailing '/' kept;
 *           every byte but A-Z a-z 0-9 - _ . ~ and '/' becomes %XX, so an
 *           already-encoded path is encoded twice, as AWS requires;
 *         - query: split on '&' then the first '='; each name and value is
 *           percent-decoded ('+' stays a plus) and re-encoded strictly (space
 *           is %20); pairs sorted by name, then value; "a" signs as "a=";
 *         - headers: names lowercased and sorted; values trimmed, runs of
 *           spaces and tabs collapsed to one space; repeated names joined with
 *           ',' in request order;
 *         - payload: lowercase hex SHA-256.
 */
int sl__sigv4_sign(const sl__sigv4_creds_t *creds, const char *region, const char *service,
                   const char *amz_date, const sl__sigv4_req_t *req, sl__sigv4_out_t *out);

/**
 * @brief sl__sigv4_sign() reusing the signing key in @p cache.
 * @param cache NULL to derive the key every time; else initialized with
 *        sl__sigv4_key_cache_init(), refreshed here when its inputs change.
 * @returns As sl__sigv4_sign(). A failure may leave @p cache empty, never wrong.
 * @remark Thread-safe for distinct caches; one cache must not be shared
 *         between threads without a lock.
 */
int sl__sigv4_sign_cached(sl__sigv4_key_cache_t *cache, const sl__sigv4_creds_t *creds,
                          const char *region, const char *service, const char *amz_date,
                          const sl__sigv4_req_t *req, sl__sigv4_out_t *out);

/** @brief Free what sl__sigv4_sign() put in @p out; NULL and repeated calls are fine. */
void sl__sigv4_out_fini(sl__sigv4_out_t *out);

/** @brief Start an empty key cache. @remark No allocation. */
void sl__sigv4_key_cache_init(sl__sigv4_key_cache_t *cache);

/** @brief Wipe the cached key from memory; NULL is fine. The cache may be reused after. */
void sl__sigv4_key_cache_fini(sl__sigv4_key_cache_t *cache);

/**
 * @brief Build and sign the headers of one Kinesis JSON 1.1 call (POST /).
 * @param cache optional key cache, as in sl__sigv4_sign_cached().
 * @param creds with a session token, X-Amz-Security-Token is sent and signed.
 * @param region e.g. "us-east-1"; the signing service is "kinesis".
 * @param host the Host header exactly as sent, port included when not the
 *        default, e.g. "kinesis.us-east-1.amazonaws.com" or "127.0.0.1:4567".
 * @param target the operation, e.g. "Kinesis_20131202.PutRecords".
 * @param amz_date as for sl__sigv4_sign().
 * @param body the JSON request body, @p body_len bytes (NULL when 0).
 * @param out overwritten, not freed; release with sl__sigv4_kinesis_fini().
 * @returns 0, SL_EINVAL or SL_ENOMEM as sl__sigv4_sign(); @p out is empty on error.
 * @remark Thread-safe. The body must be sent byte for byte as signed.
 */
int sl__sigv4_kinesis_sign(sl__sigv4_key_cache_t *cache, const sl__sigv4_creds_t *creds,
                           const char *region, const char *host, const char *target,
                           const char *amz_date, const void *body, size_t body_len,
                           sl__sigv4_kinesis_t *out);

/** @brief Free what sl__sigv4_kinesis_sign() put in @p out; NULL and repeats are fine. */
void sl__sigv4_kinesis_fini(sl__sigv4_kinesis_t *out);

/**
 * @brief sl__sigv4_kinesis_sign() for libcurl: the same headers as
 *        "Name: value" lines on a curl_slist, ready for CURLOPT_HTTPHEADER.
 * @param session_token NULL or "" for long-term credentials.
 * @param headers the lines are appended to @p *headers (NULL starts a list);
 *        free with curl_slist_free_all(). Unchanged on failure.
 * @returns 0; SL_EINVAL as sl__sigv4_kinesis_sign(); SL_ENOMEM, also when curl
 *          cannot copy a line.
 * @remark Thread-safe. No key cache: the key is derived per call.
 */
int sl__sigv4_kinesis_headers(const char *access_key_id, const char *secret_access_key,
                              const char *session_token, const char *region, const char *host,
                              const char *amz_date, const char *target, const void *body,
                              size_t body_len, struct curl_slist **headers);

/**
 * @brief Format @p t (UTC) as an X-Amz-Date, "YYYYMMDDTHHMMSSZ".
 * @param buf receives the text and a NUL; at least SL__SIGV4_DATE_SIZE bytes.
 * @returns 0; SL_EINVAL if @p buf is NULL or the year is not 0..9999;
 *          SL_ERANGE if @p size is too small (then @p buf is "" when size > 0).
 * @remark Thread-safe (gmtime_r).
 */
int sl__sigv4_amz_date(time_t t, char *buf, size_t size);

/**
 * @brief A log-safe stand-in for a secret, access key id or token:
 *        "****" followed by its last 4 characters when it has at least 16
 *        (as the AWS CLI shows keys), else just "****".
 * @param s the secret; NULL is shown as "****" too.
 * @param buf receives the text and a NUL; SL__SIGV4_REDACT_SIZE bytes suffice.
 * @returns 0; SL_EINVAL if @p buf is NULL; SL_ERANGE if @p size is too small
 *          (then @p buf is "" when size > 0).
 * @remark Thread-safe. This module never logs; callers that must mention a
 *         credential use this, and never print the secret itself.
 */
int sl__sigv4_redact(const char *s, char *buf, size_t size);

#endif
