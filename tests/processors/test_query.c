/* The query API of sluice-listener --http (sluice/view.h): GET by key with
 * ETag and 304, 404 for unknown and deleted keys, keyset pagination (also
 * while the listener keeps writing), bad input as 400/404 with a JSON error.
 * The binary runs against an embedded broker in the test process and is
 * queried with libcurl; every wait is a bounded wait on a condition. */
#include "../http_util.h"
#include "../kafka/kafka_helpers.h"

#include <curl/curl.h>
#include <jansson.h>
#include <strings.h>

#define WAIT_MS 60000

typedef struct {
    long status;
    char *body;    /* NUL-terminated */
    char *headers; /* the raw response headers */
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->body);
    free(r->headers);
    *r = (resp_t){0};
}

/* GET http://127.0.0.1:@p port@p path, with an If-None-Match of @p inm
 * when not NULL. */
static resp_t get(int port, const char *path, const char *inm)
{
    char hv[256];
    if (inm)
        snprintf(hv, sizeof hv, "If-None-Match: %s", inm);
    resp_t r = {0, NULL, NULL};
    r.status = th_http(&(th_req_t){.port = port, .path = path, .header = inm ? hv : NULL}, &r.body,
                       &r.headers);
    return r;
}

/* The value of response header @p name (case-insensitive), malloc'ed, or
 * NULL. */
static char *header(const resp_t *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = r->headers; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncasecmp(l, name, n) && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            return strndup(v, vl);
        }
    return NULL;
}

static json_t *json(const resp_t *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    cr_assert(j, "not JSON (%s): %s", e.text, r->body);
    return j;
}

/* A 4xx with {"error": "..."} containing @p needle. */
static void expect_error(int port, const char *path, long status, const char *needle)
{
    resp_t r = get(port, path, NULL);
    cr_assert_eq(r.status, status, "%s: %ld %s", path, r.status, r.body);
    json_t *j = json(&r);
    const char *msg = json_string_value(json_object_get(j, "error"));
    cr_assert(msg, "%s: no error string: %s", path, r.body);
    cr_assert(strstr(msg, needle), "%s: %s", path, msg);
    char *ct = header(&r, "Content-Type");
    cr_assert(ct && !strcmp(ct, "application/json"), "%s", ct ? ct : "(none)");
    free(ct);
    json_decref(j);
    resp_free(&r);
}

/* ---- the listener ---- */

typedef struct {
    sl_broker_t *b;
    rd_kafka_t *prod;
    pid_t pid;
    int port;
    char log[64];
    char db[80];
} lst_t;

static const char *bin(const char *env)
{
    const char *p = getenv(env);
    if (!p)
        cr_skip_test("%s is not set", env);
    return p;
}

static void lst_start(lst_t *t)
{
    const char *lb = bin("SLUICE_LISTENER_BIN");
    const char *topics[] = {"events", "faults", NULL};
    const int parts[] = {2, 1};
    t->b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(t->b);
    snprintf(t->log, sizeof t->log, "/tmp/sluice-query-XXXXXX");
    tu_mkstemp(t->log);
    snprintf(t->db, sizeof t->db, "%s.db", t->log);
    char bsx[128], view[128];
    snprintf(bsx, sizeof bsx, "bootstrap.servers=%s", bs);
    snprintf(view, sizeof view, "sqlite:%s#things", t->db);
    char *argv[] = {(char *)lb, "--source",    "kafka:events", "--key",       "/thing/id", "--view",
                    view,       "--entity-at", "/thing",       "--name",      "query",     "-X",
                    bsx,        "--http",      "127.0.0.1:0",  "--log-level", "info",      NULL};
    t->pid = tu_spawn(argv, t->log, environ);
    int64_t end = tu_now_ms() + WAIT_MS;
    while (!t->port && tu_now_ms() < end) {
        char *s = tu_slurp(t->log);
        const char *at = strstr(s, "on http://127.0.0.1:");
        t->port = at ? atoi(at + strlen("on http://127.0.0.1:")) : 0;
        free(s);
        cr_assert_eq(waitpid(t->pid, NULL, WNOHANG), 0, "the listener exited early");
        if (!t->port)
            tu_sleep_ms(50);
    }
    cr_assert(t->port > 0, "no endpoint address in %s", t->log);
    t->prod = kt_producer(bs);
}

static void lst_stop(lst_t *t)
{
    kill(t->pid, SIGTERM);
    cr_assert_eq(kt_wait(t->pid, WAIT_MS), 0, "the listener drained and exited 0");
    char *s = tu_slurp(t->log);
    cr_assert_null(strstr(s, "ERROR: AddressSanitizer"), "%s", s);
    free(s);
    rd_kafka_destroy(t->prod);
    sl_broker_destroy(t->b);
    unlink(t->log);
    unlink(t->db);
    char p[96];
    snprintf(p, sizeof p, "%s-wal", t->db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", t->db);
    unlink(p);
}

static void produce(lst_t *t, const char *type, const char *key, int64_t ts, int version)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"id\":\"e-%s-%lld\",\"type\":\"%s\",\"timestamp\":%lld,"
             "\"thing\":{\"id\":\"%s\",\"version\":%d}}",
             key, (long long)ts, type, (long long)ts, key, version);
    kt_produce(t->prod, "events", key, buf, strlen(buf));
}

/* Wait until GET @p path answers @p status. */
static void wait_status(lst_t *t, const char *path, long status)
{
    int64_t end = tu_now_ms() + WAIT_MS;
    long last = 0;
    while (tu_now_ms() < end) {
        resp_t r = get(t->port, path, NULL);
        last = r.status;
        resp_free(&r);
        if (last == status)
            return;
        tu_sleep_ms(100);
    }
    cr_assert_fail("%s: %ld, waited for %ld", path, last, status);
}

/* ---- tests ---- */

/* One row by key: its JSON fields, its ETag, 304 for that tag; 404 for an
 * unknown key; 404 with the deletion time for a deleted one. */
Test(query, get_by_key)
{
    lst_t t = {0};
    lst_start(&t);
    produce(&t, "thing-created", "a/b c", 1000, 1);
    produce(&t, "thing-created", "gone", 2000, 1);
    produce(&t, "thing-deleted", "gone", 2500, 1);
    produce(&t, "thing-created", "last", 3000, 1);
    kt_flush(t.prod);
    wait_status(&t, "/views/things/last", 200);
    wait_status(&t, "/views/things/gone", 404);

    /* The key %-decoded ('/' and ' ' in it). */
    resp_t r = get(t.port, "/views/things/a%2Fb%20c", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "key")), "a/b c");
    cr_assert_eq(json_integer_value(json_object_get(j, "timestamp")), 1000);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "thing-created");
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), "e-a/b c-1000");
    /* The entity as JSON, not a string holding JSON. */
    json_t *ent = json_object_get(j, "entity");
    cr_assert(json_is_object(ent), "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(ent, "id")), "a/b c");
    cr_assert_eq(json_integer_value(json_object_get(ent, "version")), 1);
    json_decref(j);
    char *etag = header(&r, "ETag");
    cr_assert(etag && !strcmp(etag, "\"1000\""), "ETag %s", etag ? etag : "(none)");
    resp_free(&r);
    /* '/' unencoded in the key works too. */
    r = get(t.port, "/views/things/a/b%20c", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    /* A matching If-None-Match: 304, no body; a list with it, or *, too;
     * another tag: 200. */
    const char *match[] = {etag, "\"7\", W/\"1000\"", "*"};
    for (size_t i = 0; i < 3; i++) {
        r = get(t.port, "/views/things/a%2Fb%20c", match[i]);
        cr_assert_eq(r.status, 304, "If-None-Match %s: %ld %s", match[i], r.status, r.body);
        cr_assert_eq(strlen(r.body), 0);
        char *e2 = header(&r, "ETag");
        cr_assert(e2 && !strcmp(e2, etag));
        free(e2);
        resp_free(&r);
    }
    r = get(t.port, "/views/things/a%2Fb%20c", "\"999\"");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    /* A newer version: a new tag, and the old one no longer matches. */
    produce(&t, "thing-updated", "a/b c", 1100, 2);
    kt_flush(t.prod);
    int64_t end = tu_now_ms() + WAIT_MS;
    do {
        resp_free(&r);
        r = get(t.port, "/views/things/a%2Fb%20c", etag);
    } while (r.status == 304 && tu_now_ms() < end && (tu_sleep_ms(100), 1));
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *etag2 = header(&r, "ETag");
    cr_assert(etag2 && !strcmp(etag2, "\"1100\""), "%s", etag2 ? etag2 : "(none)");
    free(etag2);
    free(etag);
    resp_free(&r);

    /* Unknown: 404, no deletion header. */
    r = get(t.port, "/views/things/nobody", NULL);
    cr_assert_eq(r.status, 404);
    j = json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "not found");
    json_decref(j);
    char *del = header(&r, "X-Sluice-Deleted-At");
    cr_assert_null(del);
    resp_free(&r);
    /* Deleted: 404 with when. */
    r = get(t.port, "/views/things/gone", NULL);
    cr_assert_eq(r.status, 404);
    del = header(&r, "X-Sluice-Deleted-At");
    cr_assert(del && !strcmp(del, "2500"), "%s", del ? del : "(none)");
    free(del);
    j = json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "deleted");
    cr_assert_eq(json_integer_value(json_object_get(j, "deleted_at")), 2500);
    json_decref(j);
    resp_free(&r);

    /* The operations paths still answer beside the route. */
    r = get(t.port, "/ready", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    lst_stop(&t);
}

/* Bad input: a JSON error, never a crash (the listener still answers and
 * exits 0 at the end). */
Test(query, bad_input)
{
    lst_t t = {0};
    lst_start(&t);
    produce(&t, "thing-created", "k1", 1000, 1);
    kt_flush(t.prod);
    wait_status(&t, "/views/things/k1", 200);

    const char *bad_limits[] = {"0", "-1", "1001", "abc", "", "10x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
        char p[128];
        snprintf(p, sizeof p, "/views/things?limit=%s", bad_limits[i]);
        expect_error(t.port, p, 400, "limit");
    }
    expect_error(t.port, "/views/other/k1", 404, "unknown table");
    expect_error(t.port, "/views/other", 404, "unknown table");
    expect_error(t.port, "/views/things_deleted/k1", 404, "unknown table");
    expect_error(t.port, "/views", 404, "no table");
    expect_error(t.port, "/views/", 404, "no table");
    expect_error(t.port, "/views/things/%zz", 400, "encoding");
    expect_error(t.port, "/views/things/k%", 400, "encoding");
    expect_error(t.port, "/views/things/k%4", 400, "encoding");
    expect_error(t.port, "/views/things/k%00", 400, "encoding");
    expect_error(t.port, "/views/things?after=%G1", 400, "encoding");
    /* Oversized: 1025 bytes after decoding (1024 is fine: 404). */
    char p[4096];
    int n = snprintf(p, sizeof p, "/views/things/");
    memset(p + n, 'x', 1024);
    p[n + 1024] = 0;
    resp_t r = get(t.port, p, NULL);
    cr_assert_eq(r.status, 404, "1024 bytes: %ld %s", r.status, r.body);
    resp_free(&r);
    p[n + 1024] = 'x';
    p[n + 1025] = 0;
    expect_error(t.port, p, 400, "longer than 1024");
    n = snprintf(p, sizeof p, "/views/things?after=");
    memset(p + n, 'y', 1025);
    p[n + 1025] = 0;
    expect_error(t.port, p, 400, "longer than 1024");
    /* Injection attempts are just keys. */
    expect_error(t.port, "/views/things/k1'%20OR%20'1'='1", 404, "not found");
    r = get(t.port, "/views/things?after=%27%20OR%201%3D1%20--&limit=5", NULL);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    /* Only GET. */
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/views/things/k1", t.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    kh_body_t b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kh_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    cr_assert_eq(st, 405, "%s", b.p);
    curl_easy_cleanup(c);
    free(b.p);

    /* Still serving, the row intact. */
    r = get(t.port, "/views/things/k1", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    /* Queries keep their connection: the second GET reuses the first's. It
     * is left open, idle, when the listener stops: the stop still ends
     * (lst_stop() waits for exit 0). */
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kh_body_write);
    b = (kh_body_t){calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        cr_assert_eq(st, 200);
        long conns = -1;
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
        cr_assert_eq(conns, i == 0 ? 1 : 0, "GET %d: %ld new connections", i, conns);
    }
    lst_stop(&t);
    curl_easy_cleanup(c);
    free(b.p);
}

/* The keys of a page, appended to @p keys (*@p n of them); returns the
 * next cursor (malloc'ed, %-encoded) or NULL at the end. */
static char *page(int port, const char *after, int limit, char ***keys, size_t *n)
{
    char path[4096];
    if (after)
        snprintf(path, sizeof path, "/views/things?after=%s&limit=%d", after, limit);
    else if (limit)
        snprintf(path, sizeof path, "/views/things?limit=%d", limit);
    else
        snprintf(path, sizeof path, "/views/things");
    resp_t r = get(port, path, NULL);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    json_t *j = json(&r);
    json_t *items = json_object_get(j, "items");
    cr_assert(json_is_array(items), "%s", r.body);
    cr_assert_leq(json_array_size(items), (size_t)(limit ? limit : 100));
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        *keys = realloc(*keys, (*n + 1) * sizeof **keys);
        (*keys)[(*n)++] = strdup(json_string_value(json_object_get(it, "key")));
        cr_assert(json_is_object(json_object_get(it, "entity")));
    }
    json_t *next = json_object_get(j, "next");
    char *out = NULL;
    if (json_is_string(next)) {
        cr_assert_str_eq(json_string_value(next),
                         json_string_value(json_object_get(
                             json_array_get(items, json_array_size(items) - 1), "key")),
                         "next is the page's last key");
        CURL *c = curl_easy_init();
        char *e = curl_easy_escape(c, json_string_value(next), 0);
        out = strdup(e);
        curl_free(e);
        curl_easy_cleanup(c);
    } else {
        cr_assert(json_is_null(next), "%s", r.body);
    }
    json_decref(j);
    resp_free(&r);
    return out;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* 250 keys, pages of 100: three pages, every key once, in order; the
 * default limit is 100. */
Test(query, pagination)
{
    lst_t t = {0};
    lst_start(&t);
    enum { N = 250 };
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%03d", (i * 7) % N); /* not in key order */
        produce(&t, "thing-created", key, 1000 + i, 1);
    }
    kt_flush(t.prod);
    for (int i = 0; i < N; i += 10) {
        char p[64];
        snprintf(p, sizeof p, "/views/things/k%03d", i);
        wait_status(&t, p, 200);
    }
    wait_status(&t, "/views/things/k249", 200);

    char **keys = NULL;
    size_t n = 0;
    int pages = 0;
    char *cur = NULL;
    do {
        char *next = page(t.port, cur, 100, &keys, &n);
        free(cur);
        cur = next;
        pages++;
        cr_assert_leq(pages, 3);
    } while (cur);
    cr_assert_eq(pages, 3);
    cr_assert_eq(n, N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        cr_assert_str_eq(keys[i], key);
    }
    free_keys(keys, n);

    /* The default limit. */
    keys = NULL;
    n = 0;
    cur = page(t.port, NULL, 0, &keys, &n);
    cr_assert_eq(n, 100);
    cr_assert_str_eq(cur, "k099");
    free(cur);
    free_keys(keys, n);
    /* Past the end: empty, no next. */
    keys = NULL;
    n = 0;
    cur = page(t.port, "k249", 10, &keys, &n);
    cr_assert_null(cur);
    cr_assert_eq(n, 0);
    free(keys);
    lst_stop(&t);
}

/* Pages while the listener keeps writing (new keys before and after the
 * cursor, updates, deletes of new keys): keys strictly increase across
 * pages (none twice), and every key present before the walk and never
 * deleted is seen. */
Test(query, pagination_under_writes)
{
    lst_t t = {0};
    lst_start(&t);
    enum { N = 200 };
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "m%03d", i);
        produce(&t, "thing-created", key, 1000 + i, 1);
    }
    kt_flush(t.prod);
    wait_status(&t, "/views/things/m199", 200);
    for (int i = 0; i < N; i += 20) {
        snprintf(key, sizeof key, "/views/things/m%03d", i);
        wait_status(&t, key, 200);
    }

    char **keys = NULL;
    size_t n = 0;
    char *cur = NULL;
    int64_t ts = 100000;
    int pages = 0;
    do {
        /* Writes between (and, as the listener applies them, during) the
         * pages: a new key just before and just after the cursor, an
         * update, a created-then-deleted key. */
        for (int w = 0; w < 5; w++) {
            int at = (pages * 7 + w * 41) % N;
            snprintf(key, sizeof key, "m%03d+%d", at, pages);
            produce(&t, "thing-created", key, ts++, 1);
            snprintf(key, sizeof key, "m%03d", at);
            produce(&t, "thing-updated", key, ts++, 2);
            snprintf(key, sizeof key, "m%03d-x%d", at, pages);
            produce(&t, "thing-created", key, ts++, 1);
            produce(&t, "thing-deleted", key, ts++, 1);
        }
        rd_kafka_poll(t.prod, 0);
        char *next = page(t.port, cur, 7, &keys, &n);
        free(cur);
        cur = next;
        pages++;
        cr_assert_lt(pages, 1000);
    } while (cur);
    kt_flush(t.prod);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(strcmp(keys[i - 1], keys[i]), 0, "%s then %s", keys[i - 1], keys[i]);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++)
        seen += strlen(keys[i]) == 4;
    cr_assert_eq(seen, N, "every key present from the start, once");
    free_keys(keys, n);
    lst_stop(&t);
}
