/* sluice — a route of a processor's HTTP endpoint, served off its loop.
 *
 * A processor started with http.listen serves /metrics, /health and /ready
 * on its own loop. More paths plug in as routes (sl_processor_add_route()
 * in sluice/processor.h): a route answers a request with a blocking
 * function that runs on a worker thread (libuv's thread pool), never on the
 * loop, so a slow answer (a database read) never holds the stream up. The
 * runtime copies the request for the worker and sends the response from the
 * loop's thread once the function returns.
 *
 * This header only declares the types a route and its server share, so a
 * part that must not know the runtime (the SQLite view reader,
 * sluice/view.h) can provide a route. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One request, as the route's function sees it. Every pointer is valid
 *  for the call only; strings are not NUL-terminated unless said. */
typedef struct sl_http_request_s {
    const char *method; /**< e.g. "GET" */
    size_t method_len;
    const char *path; /**< the path as sent (still %-encoded), without the query */
    size_t path_len;
    const char *query; /**< what follows '?' (still encoded); NULL without one */
    size_t query_len;
    const char *if_none_match; /**< the If-None-Match header's value, NULL if absent */
    size_t if_none_match_len;
} sl_http_request_t;

/** At most this many extra headers in a response. */
#define SL_HTTP_MAX_HEADERS 4

/** One extra response header (fixed storage: nothing to free). */
typedef struct sl_http_header_s {
    char name[40];   /**< NUL-terminated, e.g. "ETag" */
    char value[120]; /**< NUL-terminated */
} sl_http_header_t;

/**
 * The response a route's function fills in. The runtime zeroes it before
 * the call; every field the function leaves alone keeps that default.
 */
typedef struct sl_http_response_s {
    int status;               /**< HTTP status; 0 becomes 500 */
    const char *content_type; /**< static storage; NULL: application/json */
    char *body; /**< allocated with sl_malloc(); the runtime frees it with sl_free() */
    size_t body_len;
    size_t header_count; /**< used entries of @ref headers */
    sl_http_header_t headers[SL_HTTP_MAX_HEADERS];
} sl_http_response_t;

/**
 * A route's function: answer @p req in @p res.
 *
 * Runs on a worker thread (libuv's thread pool of the processor), possibly
 * on several at once for concurrent requests: it must be thread-safe. It
 * must not touch the processor, its engine or its loop. It may block (that
 * is what it is for), briefly: the runtime runs at most a couple of routes'
 * functions at a time, beside the engine's own blocking work.
 *
 * @returns 0 with @p res filled in; a negative SL_E* code when it could not
 *          answer (the client gets 500; a body already set is freed).
 */
typedef int (*sl_http_route_fn)(void *opaque, const sl_http_request_t *req,
                                sl_http_response_t *res);

#ifdef __cplusplus
}
#endif
#endif
