/* sluice — HTTP requests on the processor's libuv loop, over libcurl's multi
 * interface (private to lib/kinesis). No thread, no blocking call: curl's
 * sockets are watched with uv_poll, its timeouts with a uv_timer. */
#ifndef SL_KINESIS_HTTP_H
#define SL_KINESIS_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <uv.h>

typedef struct sl__http_s sl__http_t;

/* A response body as curl hands it over: @p n bytes at @p p (allocated with
 * sl_malloc, @p cap of them; NUL-terminated once anything arrived). Starts
 * zeroed; the owner frees @p p with sl_free(). */
typedef struct sl__http_body_s {
    char *p;
    size_t n, cap;
} sl__http_body_t;

/* CURLOPT_WRITEFUNCTION appending to the sl__http_body_t given as
 * CURLOPT_WRITEDATA. Returns what it took, 0 when out of memory (curl then
 * fails the transfer with CURLE_WRITE_ERROR). */
size_t sl__http_body_write(char *ptr, size_t size, size_t nmemb, void *ud);

/* Sets @p e up to POST [body, body + len) to @p url with @p headers (both
 * borrowed until the transfer ends), the answer appended to @p resp, without
 * signals and for at most @p timeout_ms: what every AWS call here shares. */
void sl__http_post_opts(CURL *e, const char *url, struct curl_slist *headers, const char *body,
                        size_t len, sl__http_body_t *resp, long timeout_ms);

/* curl_easy_perform(@p e), blocking; *@p status is the HTTP status of the
 * answer, 0 when none arrived. Returns curl's result. */
CURLcode sl__http_perform(CURL *e, long *status);

/* A finished request. @p err is 0 when an HTTP response arrived (whatever
 * its status), SL_EIO for a transport failure (connect, reset, timeout),
 * SL_ESHUTDOWN when the client closed first. @p body is valid during the
 * call only (NUL-terminated for convenience). Runs on the loop thread. */
typedef void (*sl__http_cb)(void *opaque, int err, long status, const char *body, size_t len,
                            const char *errmsg);

/* A client on @p loop. NULL when out of memory or curl cannot start.
 * Not thread-safe: the loop's thread only. */
sl__http_t *sl__http_new(uv_loop_t *loop);

/* POST @p body (taken: freed with free() when done, also on error) to @p url
 * with @p headers (taken: curl_slist_free_all when done). The callback runs
 * exactly once, later (never inside this call). Returns 0, SL_ESHUTDOWN
 * after close, or SL_ENOMEM (then the callback does not run). */
int sl__http_post(sl__http_t *h, const char *url, struct curl_slist *headers, char *body,
                  size_t len, long timeout_ms, sl__http_cb cb, void *opaque);

/* Requests in flight. */
size_t sl__http_inflight(const sl__http_t *h);

/* Abort what is in flight (callbacks run with SL_ESHUTDOWN, now) and close
 * the loop handles. The loop must run afterwards for the handles to close. */
void sl__http_close(sl__http_t *h);

/* Free the client once sl__http_close() ran and the loop turned. */
void sl__http_destroy(sl__http_t *h);

#endif
