/* sluice — the operations endpoint's HTTP server (lib/runtime/http.c, with
 * libh2o on the processor's loop; http_none.c in a build without it).
 * Everything here runs on the loop's thread. */
#ifndef SL_RUNTIME_HTTP_H
#define SL_RUNTIME_HTTP_H

#include <uv.h>

#include <stddef.h>

#include "sluice/http.h"
#include "sluice/processor.h"

/* A response body under construction: appended to with sl__buf_printf(). */
typedef struct sl__buf_s {
    char *p;
    size_t len, cap;
    int oom; /* an append failed: the body is incomplete */
} sl__buf_t;

void sl__buf_printf(sl__buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sl__buf_free(sl__buf_t *b);

/* Answers one request: writes the body to @p body (emptied before the call),
 * points *@p ctype at a static content type and returns the status. */
typedef int (*sl__httpd_fn)(void *opaque, const char *method, size_t method_len, const char *path,
                            size_t path_len, sl__buf_t *body, const char **ctype);

typedef struct sl__httpd_s sl__httpd_t;

/* Listens on @p listen (an http.listen value) on @p loop. Returns 0 with
 * *@p out set, or an error (SL_EINVAL: unparsable; SL_EIO: cannot listen, a
 * port in use; SL_EINVAL too in a build without HTTP) with a message in @p err. */
int sl__httpd_start(uv_loop_t *loop, const char *listen, sl__httpd_fn fn, void *opaque,
                    sl__httpd_t **out, char *err, size_t err_size);
/* The address it listens on, "ADDR:PORT" (port 0 resolved). */
const char *sl__httpd_address(const sl__httpd_t *h);
int sl__httpd_port(const sl__httpd_t *h);
/* Stop listening; open connections close after their response. The loop
 * then runs dry once they are gone. */
void sl__httpd_close(sl__httpd_t *h);
/* Free, after the loop ran dry (sl__httpd_close() first). NULL is accepted. */
void sl__httpd_free(sl__httpd_t *h);

/* ---- routes served off the loop (routes.c; sl_processor_add_route()) ---- */

#define SL__MAX_ROUTES 8

typedef struct sl__route_s {
    char prefix[64];
    size_t prefix_len;
    sl_http_route_fn fn;
    void *opaque;
    void (*destroy)(void *opaque);
} sl__route_t;

/* A processor's routes, shared by reference: the processor holds one, and
 * so does every request whose route function is queued or running. */
typedef struct sl__routes_s sl__routes_t;
/* The processor's routes (NULL: none); borrowed. */
sl__routes_t *sl__proc_routes(const sl_processor_t *p);
/* Thread-safe. The last unref destroys every route's opaque. */
sl__routes_t *sl__routes_ref(sl__routes_t *rs);
void sl__routes_unref(sl__routes_t *rs);
/* The route of the longest prefix @p path (without its query) matches. */
const sl__route_t *sl__routes_match(const sl__routes_t *rs, const char *path, size_t len);
/* The prefixes of @p rs, ", "-separated, in @p buf ("" for none). */
void sl__routes_names(const sl__routes_t *rs, char *buf, size_t cap);
/* Serve @p rs (referenced until sl__httpd_free()) besides the handler:
 * a matching request's function runs on @p loop's thread pool, at most
 * SL__HTTP_WORKERS at a time. */
void sl__httpd_set_routes(sl__httpd_t *h, sl__routes_t *rs);

#endif
