/* sl_processor_add_route(): a route's function runs off the processor's
 * loop (the loop keeps answering while one is blocked), gets the request,
 * sets status, headers and body; its errors are a 500; a client gone before
 * the answer is harmless; the opaque is destroyed once. In-process
 * processors over an embedded broker, queried with libcurl; every wait is
 * a bounded wait on a condition. */
#define _GNU_SOURCE /* strcasestr */
#include "../http_util.h"
#include "../kafka/kafka_helpers.h"
#include "runtime/runtime.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#define WAIT_MS 60000

typedef struct {
    atomic_int gate;     /* 1: the function waits until it is 0 */
    atomic_int inside;   /* functions running */
    atomic_int calls;    /* functions that returned */
    atomic_int destroys; /* destroy callbacks */
    pthread_t loop_thread;
} route_t;

static int echo(void *opaque, const sl_http_request_t *req, sl_http_response_t *res)
{
    route_t *r = opaque;
    atomic_fetch_add(&r->inside, 1);
    while (atomic_load(&r->gate))
        tu_sleep_ms(5);
    int off_loop = !pthread_equal(pthread_self(), r->loop_thread);
    char *b = sl_malloc(1024);
    cr_assert(b);
    int n = snprintf(b, 1024,
                     "{\"method\":\"%.*s\",\"path\":\"%.*s\",\"query\":\"%.*s\","
                     "\"inm\":\"%.*s\",\"off_loop\":%d}",
                     (int)req->method_len, req->method, (int)req->path_len, req->path,
                     req->query ? (int)req->query_len : 0, req->query ? req->query : "",
                     req->if_none_match ? (int)req->if_none_match_len : 0,
                     req->if_none_match ? req->if_none_match : "", off_loop);
    res->body = b;
    res->body_len = (size_t)n;
    res->status = 201;
    res->content_type = "application/x-test";
    snprintf(res->headers[0].name, sizeof res->headers[0].name, "X-Test");
    snprintf(res->headers[0].value, sizeof res->headers[0].value, "yes");
    res->header_count = 1;
    int fail = req->query && req->query_len == 4 && !memcmp(req->query, "fail", 4);
    atomic_fetch_sub(&r->inside, 1);
    atomic_fetch_add(&r->calls, 1);
    return fail ? SL_EIO : 0;
}

static void route_destroy(void *opaque)
{
    route_t *r = opaque;
    atomic_fetch_add(&r->destroys, 1);
}

/* GET; the status (0: the transfer failed, e.g. timed out), body and
 * headers in *@p body and *@p hdrs when not NULL. */
static long get(int port, const char *path, const char *extra_header, long timeout_ms, char **body,
                char **hdrs)
{
    return th_http(&(th_req_t){.port = port,
                               .path = path,
                               .header = extra_header,
                               .timeout_ms = timeout_ms,
                               .lenient = 1},
                   body, hdrs);
}

typedef struct {
    sl_broker_t *b;
    sl_processor_t *p;
    sl_sink_t *sink;
    pthread_t th;
    int port;
    route_t route;
} proc_t;

static int nop_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    return 0;
}

static void *run(void *arg)
{
    return (void *)(intptr_t)sl_processor_run(arg);
}

static void proc_new(proc_t *t)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    t->b = kt_broker(topics, parts);
    const char *kv[] = {"kafka.bootstrap.servers",
                        sl_broker_bootstrap(t->b),
                        "kafka.group.id",
                        "routes",
                        "processor.signals",
                        "false",
                        "http.listen",
                        "127.0.0.1:0",
                        NULL};
    t->p = tu_processor(kv, NULL);
    sl_sink_ops_t ops = {.name = "nop", .write = nop_write};
    t->sink = sl_sink_new(&ops, NULL);
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    sl_pipeline_sink(pl, t->sink);
    cr_assert_eq(sl_processor_add_pipeline(t->p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(t->p, t->sink), 0);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(t->p, "in", err, sizeof err), 0, "%s", err);
}

static void proc_run(proc_t *t)
{
    cr_assert_eq(pthread_create(&t->th, NULL, run, t->p), 0);
    t->route.loop_thread = t->th;
    int64_t end = tu_now_ms() + WAIT_MS;
    while (!(t->port = sl__proc_http_port(t->p)) && tu_now_ms() < end)
        tu_sleep_ms(10);
    cr_assert(t->port > 0);
}

static void proc_stop(proc_t *t)
{
    sl_processor_stop(t->p);
    void *rc;
    pthread_join(t->th, &rc);
    cr_assert_eq((int)(intptr_t)rc, 0);
    sl_processor_destroy(t->p);
    sl_sink_destroy(t->sink);
    sl_broker_destroy(t->b);
}

Test(routes, add_route_errors)
{
    proc_t t = {0};
    proc_new(&t);
    route_t r = {0};
    cr_assert_eq(sl_processor_add_route(NULL, "/x", echo, &r, NULL), SL_EINVAL);
    cr_assert_eq(sl_processor_add_route(t.p, "/x", NULL, &r, NULL), SL_EINVAL);
    cr_assert_eq(sl_processor_add_route(t.p, NULL, echo, &r, NULL), SL_EINVAL);
    const char *bad[] = {"x", "/", "/x/", "", "/x?y"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(sl_processor_add_route(t.p, bad[i], echo, &r, NULL), SL_EINVAL, "%s", bad[i]);
    char longp[80];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    cr_assert_eq(sl_processor_add_route(t.p, longp, echo, &r, NULL), SL_EINVAL);
    cr_assert_eq(sl_processor_add_route(t.p, "/metrics", echo, &r, NULL), SL_EEXIST);
    cr_assert_eq(sl_processor_add_route(t.p, "/ready", echo, &r, NULL), SL_EEXIST);
    char p[16];
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "/r%d", i);
        cr_assert_eq(sl_processor_add_route(t.p, p, echo, &r, route_destroy), 0);
    }
    cr_assert_eq(sl_processor_add_route(t.p, "/r0", echo, &r, NULL), SL_EEXIST);
    cr_assert_eq(sl_processor_add_route(t.p, "/r8", echo, &r, NULL), SL_ERANGE);
    proc_run(&t);
    cr_assert_eq(sl_processor_add_route(t.p, "/late", echo, &r, NULL), SL_ESTATE);
    proc_stop(&t);
    cr_assert_eq(atomic_load(&r.destroys), 8, "each route's destroy once");
}

typedef struct {
    int port;
    const char *path;
    long timeout_ms;
    long status;
    char *body;
} call_t;

static void *call(void *arg)
{
    call_t *c = arg;
    c->status = get(c->port, c->path, NULL, c->timeout_ms, &c->body, NULL);
    return NULL;
}

/* A processor serving echo() on /echo, running. */
static void echo_run(proc_t *t)
{
    proc_new(t);
    cr_assert_eq(sl_processor_add_route(t->p, "/echo", echo, &t->route, route_destroy), 0);
    proc_run(t);
}

/* The function runs off the loop: while it is held, /health still
 * answers; then its response comes with its status, type, header, body. */
Test(routes, served_off_the_loop)
{
    proc_t t = {0};
    echo_run(&t);

    atomic_store(&t.route.gate, 1);
    call_t c = {t.port, "/echo/a%2Fb?x=1&y", 30000, 0, NULL};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, call, &c), 0);
    int64_t end = tu_now_ms() + WAIT_MS;
    while (!atomic_load(&t.route.inside) && tu_now_ms() < end)
        tu_sleep_ms(5);
    cr_assert_eq(atomic_load(&t.route.inside), 1, "the function is running, held");
    char *body;
    cr_assert_eq(get(t.port, "/health", NULL, 20000, &body, NULL), 200,
                 "the loop answers while a route's function is held");
    free(body);
    atomic_store(&t.route.gate, 0);
    pthread_join(th, NULL);
    cr_assert_eq(c.status, 201, "%s", c.body);
    cr_assert_str_eq(c.body, "{\"method\":\"GET\",\"path\":\"/echo/a%2Fb\",\"query\":\"x=1&y\","
                             "\"inm\":\"\",\"off_loop\":1}");
    free(c.body);

    char *hdrs;
    cr_assert_eq(get(t.port, "/echo", "If-None-Match: \"7\"", 20000, &body, &hdrs), 201);
    cr_assert(strstr(body, "\"inm\":\"\\\"7\\\"\"") || strstr(body, "\"inm\":\"\"7\"\""), "%s",
              body);
    cr_assert(strcasestr(hdrs, "\nx-test: yes"), "%s", hdrs);
    cr_assert(strcasestr(hdrs, "\ncontent-type: application/x-test"), "%s", hdrs);
    free(body);
    free(hdrs);
    /* Not a prefix match at a segment's middle: /echoes is not /echo's. */
    cr_assert_eq(get(t.port, "/echoes", NULL, 20000, NULL, NULL), 404);
    /* The function's error: 500. */
    cr_assert_eq(get(t.port, "/echo?fail", NULL, 20000, &body, NULL), 500);
    cr_assert(strstr(body, "error"), "%s", body);
    free(body);
    proc_stop(&t);
    cr_assert_eq(atomic_load(&t.route.destroys), 1);
}

/* Clients that give up before the answer (their connections closed while
 * the functions run or wait their turn) leave nothing behind: later
 * requests are answered, the processor stops cleanly. */
Test(routes, client_gone_before_the_answer)
{
    proc_t t = {0};
    echo_run(&t);
    atomic_store(&t.route.gate, 1);
    enum { N = 5 }; /* more than run at once: some wait queued */
    call_t c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call_t){t.port, "/echo", 300, -1, NULL};
        cr_assert_eq(pthread_create(&th[i], NULL, call, &c[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(c[i].status, 0, "gave up (timed out)");
        free(c[i].body);
    }
    atomic_store(&t.route.gate, 0);
    int64_t end = tu_now_ms() + WAIT_MS;
    while (atomic_load(&t.route.calls) < 2 && tu_now_ms() < end)
        tu_sleep_ms(10);
    char *body;
    cr_assert_eq(get(t.port, "/echo", NULL, 20000, &body, NULL), 201);
    free(body);
    proc_stop(&t);
    cr_assert_eq(atomic_load(&t.route.destroys), 1);
}
