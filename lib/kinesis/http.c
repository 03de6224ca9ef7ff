/* sluice — HTTP over libcurl's multi interface, driven by a libuv loop. */
#include "kinesis/http.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct req_s {
    sl__http_t *h;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    sl__http_body_t resp;
    sl__http_cb cb;
    void *opaque;
    char errbuf[CURL_ERROR_SIZE];
    struct req_s *prev, *next;
} req_t;

/* One watched socket. Freed in its close callback. */
typedef struct sock_s {
    uv_poll_t poll;
    sl__http_t *h;
    curl_socket_t fd;
} sock_t;

struct sl__http_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int closed;
    req_t *reqs; /* in flight */
    size_t n;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc;

static void global_init(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static void check_done(sl__http_t *h);

static void req_finish(sl__http_t *h, req_t *r, int err, long status, const char *errmsg)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    h->n--;
    curl_multi_remove_handle(h->multi, r->easy);
    r->cb(r->opaque, err, status, r->resp.p ? r->resp.p : "", r->resp.n, errmsg);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    sl_free(r->resp.p);
    sl_free(r);
}

size_t sl__http_body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sl__http_body_t *b = ud;
    size_t n = size * nmemb;
    if (sl__grow(&b->p, &b->cap, b->n + n + 1, 1, 4096))
        return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

void sl__http_post_opts(CURL *e, const char *url, struct curl_slist *headers, const char *body,
                        size_t len, sl__http_body_t *resp, long timeout_ms)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sl__http_body_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
}

CURLcode sl__http_perform(CURL *e, long *status)
{
    CURLcode cc = curl_easy_perform(e);
    *status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    return cc;
}

static void sock_closed(uv_handle_t *hd)
{
    sl_free(hd->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *s = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(s->h->multi, s->fd, flags, &running);
    check_done(s->h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    sl__http_t *h = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            s->poll.data = s;
            uv_close((uv_handle_t *)&s->poll, sock_closed);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = sl_calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->h = h;
        s->fd = fd;
        if (uv_poll_init_socket(h->loop, &s->poll, fd)) {
            sl_free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    sl__http_t *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timeout(CURLM *multi, long ms, void *userp)
{
    (void)multi;
    sl__http_t *h = userp;
    if (h->closed)
        return 0;
    if (ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static void check_done(sl__http_t *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        req_t *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r)
            continue;
        CURLcode rc = m->data.result;
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK)
            req_finish(h, r, 0, status, NULL);
        else
            req_finish(h, r, SL_EIO, status, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
    }
}

sl__http_t *sl__http_new(uv_loop_t *loop)
{
    pthread_once(&g_once, global_init);
    if (g_init_rc)
        return NULL;
    sl__http_t *h = sl_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        sl_free(h);
        return NULL;
    }
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* Several calls may share a connection per host (HTTP/1.1 keep-alive). */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32L);
    return h;
}

int sl__http_post(sl__http_t *h, const char *url, struct curl_slist *headers, char *body,
                  size_t len, long timeout_ms, sl__http_cb cb, void *opaque)
{
    if (!h || h->closed) {
        curl_slist_free_all(headers);
        free(body);
        return SL_ESHUTDOWN;
    }
    req_t *r = sl_calloc(1, sizeof *r);
    CURL *e = r ? curl_easy_init() : NULL;
    if (!e) {
        sl_free(r);
        curl_slist_free_all(headers);
        free(body);
        return SL_ENOMEM;
    }
    r->h = h;
    r->easy = e;
    r->headers = headers;
    r->body = body;
    r->cb = cb;
    r->opaque = opaque;
    sl__http_post_opts(e, url, headers, body, len, &r->resp, timeout_ms);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    /* "Expect: 100-continue" costs a round trip per large body. */
    r->headers = curl_slist_append(r->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(r->headers);
        free(body);
        sl_free(r);
        return SL_ENOMEM;
    }
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->n++;
    return 0;
}

size_t sl__http_inflight(const sl__http_t *h)
{
    return h ? h->n : 0;
}

void sl__http_close(sl__http_t *h)
{
    if (!h || h->closed)
        return;
    h->closed = 1;
    while (h->reqs)
        req_finish(h, h->reqs, SL_ESHUTDOWN, 0, "client closed");
    /* Cleanup closes the kept-alive connections: their sockets' watchers are
     * closed through on_socket while the loop still runs. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, NULL);
}

void sl__http_destroy(sl__http_t *h)
{
    if (!h)
        return;
    if (h->multi) /* never closed: the loop never ran it */
        curl_multi_cleanup(h->multi);
    sl_free(h);
}
