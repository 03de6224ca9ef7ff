/* sluice — the operations endpoint's HTTP server: libh2o (its libuv build)
 * on the processor's own loop, so a request reads engine state on the
 * loop's thread without a lock. One handler answers every path; the
 * processor (ops.c) decides what each means.
 *
 * Connections close after each response of the operations paths: a probe
 * or a scrape every few seconds gains nothing from keep-alive, and no idle
 * connection then holds the loop open when the processor stops (h2o 2.2's
 * HTTP/1 has no graceful shutdown of idle connections). A route's
 * responses (sl_processor_add_route(): queries, many per second from one
 * client) keep the connection until the endpoint closes; an idle one then
 * holds a stopping loop at most SL__HTTP_IDLE_MS. */
#include "runtime/http.h"
#include "core/conf_int.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <h2o.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

struct sl__httpd_s {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    int listening; /* listener initialised (closed by sl__httpd_close) */
    int closing;   /* sl__httpd_close() was called: no more keep-alive */
    int ctx_ok;    /* ctx initialised */
    size_t conns;  /* accepted connections not yet closed */
    sl__httpd_fn fn;
    void *opaque;
    sl__buf_t body; /* reused by every response */
    char address[80];
    int port;
    /* Routes served off the loop: at most SL__HTTP_WORKERS functions on the
     * thread pool at a time (the engine's blocking work shares it, and a
     * flood of queries must not queue ahead of a store's apply); the rest
     * wait here in arrival order, at most SL__HTTP_QUEUE. */
    sl__routes_t *routes;
    size_t running, queued;
    struct rjob_s *head, *tail;
};

/* Route functions on the thread pool at once: the machine's cores are few
 * and the pool is shared with the executor. */
#define SL__HTTP_WORKERS 2
#define SL__HTTP_QUEUE 4096
/* Keep-alive idle time of a route's connections (h2o's default is 10 s). */
#define SL__HTTP_IDLE_MS 2000

/* The handler h2o calls; its first member is h2o's. */
typedef struct {
    h2o_handler_t super;
    sl__httpd_t *h;
} handler_t;

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* ---- routes: a request answered on the thread pool ---- */

/* One routed request. Its copy of the request lives in buf; the request
 * itself (req) may go away before the answer (its connection closed): a
 * sentinel in the request's memory pool then clears req (req_gone). */
typedef struct rjob_s {
    uv_work_t work;
    sl__httpd_t *h;
    h2o_req_t *req;
    struct rjob_s **slot; /* the sentinel in req's pool */
    const sl__route_t *route;
    sl_http_request_t rq;
    sl_http_response_t res;
    int rc;
    struct rjob_s *next;
    char buf[]; /* method, path, query, If-None-Match */
} rjob_t;

static void req_gone(void *p)
{
    rjob_t *j = *(rjob_t **)p;
    if (j)
        j->req = NULL;
}

/* @p keep: the connection may stay open for the client's next request. */
static void send_simple(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len,
                        int keep)
{
    req->res.status = status;
    req->res.reason = reason(status);
    if (!keep)
        req->http1_is_persistent = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    if (status == 405)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
    /* h2o_send_inline copies the body into the request's pool. */
    h2o_send_inline(req, body ? body : "", len);
}

static void job_work(uv_work_t *w)
{
    rjob_t *j = (rjob_t *)w;
    j->rc = j->route->fn(j->route->opaque, &j->rq, &j->res);
}

static void dispatch(sl__httpd_t *h);

static void job_after(uv_work_t *w, int status)
{
    rjob_t *j = (rjob_t *)w;
    sl__httpd_t *h = j->h;
    h->running--;
    h2o_req_t *req = j->req;
    if (req) {
        *j->slot = NULL;
        sl_http_response_t *r = &j->res;
        if (status || j->rc) {
            static const char err[] = "{\"error\":\"internal error\"}\n";
            send_simple(req, 500, "application/json", err, sizeof err - 1, 0);
        } else {
            for (size_t i = 0; i < r->header_count && i < SL_HTTP_MAX_HEADERS; i++) {
                sl_http_header_t *hd = &r->headers[i];
                size_t nl = strnlen(hd->name, sizeof hd->name),
                       vl = strnlen(hd->value, sizeof hd->value);
                h2o_iovec_t n = h2o_strdup(&req->pool, hd->name, nl),
                            v = h2o_strdup(&req->pool, hd->value, vl);
                h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, NULL, v.base,
                                      v.len);
            }
            send_simple(req, r->status ? r->status : 500,
                        r->content_type ? r->content_type : "application/json", r->body,
                        r->body_len, !h->closing);
        }
    }
    sl_free(j->res.body);
    sl__routes_unref(h->routes);
    sl_free(j);
    dispatch(h);
}

/* Start queued jobs while fewer than SL__HTTP_WORKERS run. */
static void dispatch(sl__httpd_t *h)
{
    while (h->running < SL__HTTP_WORKERS && h->head) {
        rjob_t *j = h->head;
        h->head = j->next;
        if (!h->head)
            h->tail = NULL;
        h->queued--;
        if (!j->req) { /* gone while it waited */
            sl__routes_unref(h->routes);
            sl_free(j);
            continue;
        }
        if (uv_queue_work(h->ctx.loop, &j->work, job_work, job_after)) {
            h2o_req_t *req = j->req;
            *j->slot = NULL;
            sl__routes_unref(h->routes);
            sl_free(j);
            static const char err[] = "{\"error\":\"cannot queue the request\"}\n";
            send_simple(req, 503, "application/json", err, sizeof err - 1, 0);
            continue;
        }
        h->running++;
    }
}

/* Queue @p req for @p route. */
static void route_req(sl__httpd_t *h, const sl__route_t *route, h2o_req_t *req, size_t plen)
{
    static const char busy[] = "{\"error\":\"too many requests queued\"}\n";
    if (h->queued >= SL__HTTP_QUEUE) {
        send_simple(req, 503, "application/json", busy, sizeof busy - 1, 0);
        return;
    }
    h2o_iovec_t inm = {NULL, 0};
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (hi >= 0)
        inm = req->headers.entries[hi].value;
    size_t qlen = plen < req->path.len ? req->path.len - plen - 1 : 0;
    size_t need = req->method.len + plen + qlen + inm.len + 4;
    rjob_t *j = sl_calloc(1, sizeof *j + need);
    rjob_t **slot = j ? h2o_mem_alloc_shared(&req->pool, sizeof *slot, req_gone) : NULL;
    if (!slot) {
        sl_free(j);
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        send_simple(req, 500, "application/json", oom, sizeof oom - 1, 0);
        return;
    }
    *slot = j;
    j->slot = slot;
    j->req = req;
    j->h = h;
    j->route = route;
    char *b = j->buf;
#define COPY(field, src, len)                                                                      \
    do {                                                                                           \
        j->rq.field = b;                                                                           \
        j->rq.field##_len = (len);                                                                 \
        if (len)                                                                                   \
            memcpy(b, (src), (len));                                                               \
        b[len] = 0;                                                                                \
        b += (len) + 1;                                                                            \
    } while (0)
    COPY(method, req->method.base, req->method.len);
    COPY(path, req->path.base, plen);
    if (plen < req->path.len)
        COPY(query, req->path.base + plen + 1, qlen);
    if (inm.base)
        COPY(if_none_match, inm.base, inm.len);
#undef COPY
    sl__routes_ref(h->routes);
    if (h->tail)
        h->tail->next = j;
    else
        h->head = j;
    h->tail = j;
    h->queued++;
    dispatch(h);
}

void sl__httpd_set_routes(sl__httpd_t *h, sl__routes_t *rs)
{
    sl__routes_unref(h->routes);
    h->routes = sl__routes_ref(rs);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    sl__httpd_t *h = ((handler_t *)self)->h;
    /* The path without its query string. */
    size_t plen = req->path.len;
    const char *q = memchr(req->path.base, '?', plen);
    if (q)
        plen = (size_t)(q - req->path.base);
    const sl__route_t *route = sl__routes_match(h->routes, req->path.base, plen);
    if (route) {
        route_req(h, route, req, plen);
        return 0;
    }
    h->body.len = 0;
    h->body.oom = 0;
    const char *ctype = "text/plain; charset=utf-8";
    int status =
        h->fn(h->opaque, req->method.base, req->method.len, req->path.base, plen, &h->body, &ctype);
    if (h->body.oom) {
        status = 500;
        h->body.len = 0;
        ctype = "text/plain; charset=utf-8";
    }
    req->res.status = status;
    req->res.reason = reason(status);
    req->http1_is_persistent = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    if (status == 405)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
    /* h2o_send_inline copies the body into the request's pool. */
    h2o_send_inline(req, h->body.p ? h->body.p : "", h->body.len);
    return 0;
}

typedef struct {
    uv_tcp_t tcp; /* first: h2o's close callback gets this handle */
    sl__httpd_t *h;
} conn_t;

static void conn_closed(uv_handle_t *handle)
{
    conn_t *c = (conn_t *)handle;
    c->h->conns--;
    sl_free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    sl__httpd_t *h = listener->data;
    if (status != 0)
        return;
    conn_t *c = sl_malloc(sizeof *c);
    if (!c)
        return;
    c->h = h;
    uv_tcp_init(listener->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp)) {
        h->conns++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    h->conns++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed);
    h2o_accept(&h->accept, sock);
}

/* h2o's context keeps an async handle for name resolution (never used
 * here) that would hold the loop open forever: unreference it. It is the
 * first member of the context's queue (h2o 2.2 lib/common/multithread.c).
 * Its timeout timers stay armed after their last entry is gone (up to
 * http1-request-timeout, 10 s) and would hold a stopping processor's loop
 * that long: unreferenced too. An open connection holds the loop by its
 * socket, so its timeouts still fire while it lasts. */
static void unref_queue(uv_handle_t *handle, void *arg)
{
    if (handle == arg && handle->type == UV_ASYNC)
        uv_unref(handle);
}

static void free_on_close(uv_handle_t *handle)
{
    sl_free(handle->data);
}

int sl__httpd_start(uv_loop_t *loop, const char *listen, sl__httpd_fn fn, void *opaque,
                    sl__httpd_t **out, char *err, size_t err_size)
{
    char host[64];
    int port;
    *out = NULL;
    if (sl__listen_parse(listen, host, sizeof host, &port)) {
        sl__errf(err, err_size, "http.listen \"%s\": expected ADDR:PORT", listen);
        return SL_EINVAL;
    }
    struct sockaddr_storage ss;
    if (strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                          : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss)) {
        sl__errf(err, err_size, "http.listen \"%s\": not an address", listen);
        return SL_EINVAL;
    }
    sl__httpd_t *h = sl_calloc(1, sizeof *h);
    if (!h) {
        sl__errf(err, err_size, "out of memory");
        return SL_ENOMEM;
    }
    h->fn = fn;
    h->opaque = opaque;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->listening = 1;
    int rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&h->listener, 64, on_accept);
    if (rc) {
        sl__errf(err, err_size, "cannot listen on %s for HTTP (http.listen): %s", listen,
                 uv_strerror(rc));
        /* Freed once the listener's close completes. */
        uv_close((uv_handle_t *)&h->listener, free_on_close);
        return SL_EIO;
    }
    int nl = (int)sizeof ss;
    uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &nl);
    h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(h->address, sizeof h->address, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, h->port);

    h2o_config_init(&h->config);
    /* How long an idle keep-alive connection (a route's client: see
     * job_after) is kept, which is also how long it may hold a stopping
     * processor's loop; and how long a request may take to arrive. */
    h->config.http1.req_timeout = SL__HTTP_IDLE_MS;
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("sluice"));
    h2o_hostconf_t *hc =
        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
    handler_t *hd = (handler_t *)h2o_create_handler(pc, sizeof *hd);
    hd->super.on_req = on_req;
    hd->h = h;
    h2o_context_init(&h->ctx, loop, &h->config);
    h->ctx_ok = 1;
    uv_walk(loop, unref_queue, h->ctx.queue);
    h2o_timeout_t *timeouts[] = {&h->ctx.zero_timeout,
                                 &h->ctx.one_sec_timeout,
                                 &h->ctx.hundred_ms_timeout,
                                 &h->ctx.handshake_timeout,
                                 &h->ctx.http1.req_timeout,
                                 &h->ctx.http2.idle_timeout,
                                 &h->ctx.http2.graceful_shutdown_timeout,
                                 &h->ctx.proxy.io_timeout};
    for (size_t i = 0; i < sizeof timeouts / sizeof *timeouts; i++)
        uv_unref((uv_handle_t *)&timeouts[i]->_backend.timer);
    h->accept.ctx = &h->ctx;
    h->accept.hosts = h->config.hosts;
    /* A peer gone before its response is written must not kill the
     * process (libuv writes with write(2)). */
    signal(SIGPIPE, SIG_IGN);
    *out = h;
    return 0;
}

const char *sl__httpd_address(const sl__httpd_t *h)
{
    return h->address;
}

int sl__httpd_port(const sl__httpd_t *h)
{
    return h->port;
}

void sl__httpd_close(sl__httpd_t *h)
{
    if (!h)
        return;

    h->closing = 1;
    if (h->listening) {
        h->listening = 0;
        uv_close((uv_handle_t *)&h->listener, NULL);
    }
    /* Not h2o_context_request_shutdown(): it arms HTTP/2's graceful
     * shutdown timer even without an HTTP/2 connection, which would keep an
     * entry in a timeout past the loop's end. Connections close after each
     * response anyway (on_req). */
}

void sl__httpd_free(sl__httpd_t *h)
{
    if (!h)
        return;
    /* With a connection still open (a run that did not finish its loop),
     * h2o cannot dispose of its context: leave it rather than abort. */
    if (h->ctx_ok && !h->conns) {
        h2o_context_dispose(&h->ctx);
        h2o_config_dispose(&h->config);
    }
    sl__buf_free(&h->body);
    sl__routes_unref(h->routes);
    sl_free(h);
}
