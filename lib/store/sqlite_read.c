/* sluice — the read side of the SQLite view (sluice/view.h): GET by key and
 * keyset pages over HTTP, as a route of a processor's endpoint.
 *
 * Separate from the writer (sqlite.c) on purpose: its own read-only
 * connections, which WAL lets read beside the writer's transaction without
 * waiting for it, pooled under a mutex and each used by one worker thread
 * at a time. The SQL text is fixed at open (the table name is the
 * configured, validated one); requests only bind parameters. */
#include "core/jsonw.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/view.h"

#include <sqlite3.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define TABLE_MAX 64
#define IDLE_MAX 8 /* connections kept open between requests */
#define BUSY_MS 2000

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *get, *tomb, *first, *after;
} conn_t;

struct sl_view_reader_s {
    char *path;
    char table[TABLE_MAX + 1];
    size_t table_len;
    pthread_mutex_t mu;
    conn_t *idle[IDLE_MAX];
    size_t nidle;
};

/* ---- connections ---- */

static void conn_close(conn_t *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->tomb);
    sqlite3_finalize(c->first);
    sqlite3_finalize(c->after);
    sqlite3_close(c->db);
    sl_free(c);
}

static conn_t *conn_open(const sl_view_reader_t *r, char *errstr, size_t errstr_size)
{
    conn_t *c = sl_calloc(1, sizeof *c);
    if (!c) {
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(r->path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sl__errf(errstr, errstr_size, "cannot open %s read-only: %s", r->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, BUSY_MS);
    /* Quoted: a valid name may still be an SQL keyword. */
    char sql[4][256];
    const char *cols = "key, timestamp, type, event_id, entity";
    snprintf(sql[0], sizeof sql[0], "SELECT %s FROM \"%s\" WHERE key = ?1", cols, r->table);
    snprintf(sql[1], sizeof sql[1], "SELECT timestamp FROM \"%s_deleted\" WHERE key = ?1",
             r->table);
    snprintf(sql[2], sizeof sql[2], "SELECT %s FROM \"%s\" ORDER BY key LIMIT ?1", cols, r->table);
    snprintf(sql[3], sizeof sql[3], "SELECT %s FROM \"%s\" WHERE key > ?1 ORDER BY key LIMIT ?2",
             cols, r->table);
    sqlite3_stmt **st[4] = {&c->get, &c->tomb, &c->first, &c->after};
    for (int i = 0; i < 4; i++) {
        rc = sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, st[i], NULL);
        if (rc != SQLITE_OK) {
            sl__errf(errstr, errstr_size, "view table \"%s\" in %s: %s", r->table, r->path,
                     sqlite3_errmsg(c->db));
            conn_close(c);
            return NULL;
        }
    }
    return c;
}

static conn_t *conn_take(sl_view_reader_t *r)
{
    conn_t *c = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->nidle)
        c = r->idle[--r->nidle];
    pthread_mutex_unlock(&r->mu);
    return c ? c : conn_open(r, NULL, 0);
}

static void conn_give(sl_view_reader_t *r, conn_t *c)
{
    pthread_mutex_lock(&r->mu);
    if (r->nidle < IDLE_MAX) {
        r->idle[r->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    conn_close(c);
}

sl_view_reader_t *sl_view_reader_sqlite_open(const char *path, const char *table, char *errstr,
                                             size_t errstr_size)
{
    if (!table)
        table = "view";
    size_t n = strlen(table);
    int ok = path && n > 0 && n <= TABLE_MAX && !(table[0] >= '0' && table[0] <= '9');
    for (size_t i = 0; ok && i < n; i++) {
        char c = table[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    if (!ok) {
        sl__errf(errstr, errstr_size,
                 path ? "view reader: bad table name \"%s\" (letters, digits and '_', 1 to 64 "
                        "bytes, not starting with a digit)"
                      : "view reader: no database path",
                 table);
        return NULL;
    }
    sl_view_reader_t *r = sl_calloc(1, sizeof *r);
    size_t pl = strlen(path);
    char *p = sl_malloc(pl + 1);
    if (!r || !p) {
        sl_free(r);
        sl_free(p);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    memcpy(p, path, pl + 1);
    r->path = p;
    memcpy(r->table, table, n + 1);
    r->table_len = n;
    pthread_mutex_init(&r->mu, NULL);
    /* One connection now: a missing database or table is an error here,
     * not a 500 on every request. */
    conn_t *c = conn_open(r, errstr, errstr_size);
    if (!c) {
        sl_view_reader_destroy(r);
        return NULL;
    }
    r->idle[r->nidle++] = c;
    return r;
}

void sl_view_reader_destroy(void *reader)
{
    sl_view_reader_t *r = reader;
    if (!r)
        return;
    for (size_t i = 0; i < r->nidle; i++)
        conn_close(r->idle[i]);
    pthread_mutex_destroy(&r->mu);
    sl_free(r->path);
    sl_free(r);
}

/* ---- the response body ---- */

/* Written with the JSON writer's buffer (sticky oom). */
typedef sl__jw_t jbuf_t;

static void put_i64(jbuf_t *b, int64_t v)
{
    char n[32];
    sl__jw_raw(b, n, (size_t)snprintf(n, sizeof n, "%" PRId64, v));
}

/* A JSON string of @p n bytes (UTF-8 as stored; control characters,
 * quote and backslash escaped). */
static void put_str(jbuf_t *b, const char *s, size_t n)
{
    sl__jw_raw(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sl__jw_raw(b, s + run, i - run);
        char e[8];
        sl__jw_raw(b, e,
                   (size_t)snprintf(e, sizeof e, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c));
        run = i + 1;
    }
    sl__jw_raw(b, s + run, n - run);
    sl__jw_raw(b, "\"", 1);
}

/* The row @p st stands on (columns of "cols" in conn_open()). */
static void put_row(jbuf_t *b, sqlite3_stmt *st)
{
    sl__jw_lit(b, "{\"key\":");
    put_str(b, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sl__jw_lit(b, ",\"timestamp\":");
    put_i64(b, sqlite3_column_int64(st, 1));
    sl__jw_lit(b, ",\"type\":");
    put_str(b, (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    sl__jw_lit(b, ",\"event_id\":");
    if (sqlite3_column_type(st, 3) == SQLITE_NULL)
        sl__jw_lit(b, "null");
    else
        put_str(b, (const char *)sqlite3_column_text(st, 3), (size_t)sqlite3_column_bytes(st, 3));
    /* The entity is JSON text already (the store wrote it so): as is. */
    sl__jw_lit(b, ",\"entity\":");
    const char *ent = (const char *)sqlite3_column_text(st, 4);
    size_t elen = (size_t)sqlite3_column_bytes(st, 4);
    if (ent && elen)
        sl__jw_raw(b, ent, elen);
    else
        sl__jw_lit(b, "null");
    sl__jw_lit(b, "}");
}

/* ---- requests ---- */

/* Header @p name: @p v, in quotes when @p quoted (an entity tag). */
static void add_header(sl_http_response_t *res, const char *name, int quoted, int64_t v)
{
    if (res->header_count == SL_HTTP_MAX_HEADERS)
        return;
    sl_http_header_t *h = &res->headers[res->header_count++];
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->value, sizeof h->value, quoted ? "\"%" PRId64 "\"" : "%" PRId64, v);
}

/* A response with a body of "{\"error\":@p msg}". */
static int fail(sl_http_response_t *res, jbuf_t *b, int status, const char *msg)
{
    b->len = 0;
    sl__jw_lit(b, "{\"error\":");
    put_str(b, msg, strlen(msg));
    sl__jw_lit(b, "}\n");
    res->status = status;
    return status;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* %-decode @p n bytes of @p s into @p out (room for SL_VIEW_KEY_MAX bytes);
 * @p plus: '+' is a space (a query string). Returns the decoded length,
 * -1 for bad encoding (or a NUL byte), -2 when longer than the room. */
static long decode(const char *s, size_t n, int plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (!c)
                return -1;
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        if (o == SL_VIEW_KEY_MAX)
            return -2;
        out[o++] = c;
    }
    return (long)o;
}

/* Whether @p inm (an If-None-Match value) names @p etag: a list of tags,
 * weak ones ("W/") compared as strong, or "*". */
static int etag_match(const char *inm, size_t n, const char *etag)
{
    size_t el = strlen(etag);
    size_t i = 0;
    while (i < n) {
        while (i < n && (inm[i] == ' ' || inm[i] == '\t' || inm[i] == ','))
            i++;
        size_t s = i;
        while (i < n && inm[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (inm[e - 1] == ' ' || inm[e - 1] == '\t'))
            e--;
        if (e - s >= 2 && inm[s] == 'W' && inm[s + 1] == '/')
            s += 2;
        if ((e - s == 1 && inm[s] == '*') || (e - s == el && !memcmp(inm + s, etag, el)))
            return 1;
    }
    return 0;
}

/* A step of a statement: SQLITE_ROW, SQLITE_DONE, or an error answered
 * in @p res (503 busy, else 500). */
static int step(sqlite3_stmt *st, sl_http_response_t *res, jbuf_t *b)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        fail(res, b, 503, "the view is busy: try again");
    else
        fail(res, b, 500, sqlite3_errstr(rc));
    return rc;
}

static void get_key(conn_t *c, const char *key, size_t klen, const sl_http_request_t *req,
                    sl_http_response_t *res, jbuf_t *b)
{
    sqlite3_stmt *st = c->get;
    sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC);
    int rc = step(st, res, b);
    if (rc == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 1);
        char etag[32];
        snprintf(etag, sizeof etag, "\"%" PRId64 "\"", ts);
        add_header(res, "ETag", 1, ts);
        if (req->if_none_match && etag_match(req->if_none_match, req->if_none_match_len, etag)) {
            res->status = 304;
        } else {
            put_row(b, st);
            sl__jw_lit(b, "\n");
            res->status = 200;
        }
    } else if (rc == SQLITE_DONE) {
        sqlite3_stmt *t = c->tomb;
        sqlite3_bind_text(t, 1, key, (int)klen, SQLITE_STATIC);
        rc = step(t, res, b);
        if (rc == SQLITE_ROW) {
            int64_t at = sqlite3_column_int64(t, 0);
            add_header(res, "X-Sluice-Deleted-At", 0, at);
            sl__jw_lit(b, "{\"error\":\"deleted\",\"deleted_at\":");
            put_i64(b, at);
            sl__jw_lit(b, "}\n");
            res->status = 404;
        } else if (rc == SQLITE_DONE) {
            fail(res, b, 404, "not found");
        }
        sqlite3_reset(t);
        sqlite3_clear_bindings(t);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void list(conn_t *c, const sl_http_request_t *req, sl_http_response_t *res, jbuf_t *b)
{
    char after[SL_VIEW_KEY_MAX];
    long alen = -1; /* no cursor */
    long limit = SL_VIEW_PAGE_DEFAULT;
    const char *q = req->query;
    size_t qn = q ? req->query_len : 0;
    for (size_t i = 0; i < qn;) {
        size_t s = i;
        while (i < qn && q[i] != '&')
            i++;
        const char *eq = memchr(q + s, '=', i - s);
        size_t nl = eq ? (size_t)(eq - (q + s)) : i - s;
        const char *v = eq ? eq + 1 : q + i;
        size_t vl = (size_t)(q + i - v);
        if (nl == 5 && !memcmp(q + s, "after", 5)) {
            alen = decode(v, vl, 1, after);
            if (alen == -1) {
                fail(res, b, 400, "after: bad %-encoding");
                return;
            }
            if (alen == -2) {
                fail(res, b, 400, "after: longer than 1024 bytes");
                return;
            }
        } else if (nl == 5 && !memcmp(q + s, "limit", 5)) {
            limit = 0;
            int ok = vl > 0 && vl <= 4;
            for (size_t k = 0; ok && k < vl; k++) {
                ok = v[k] >= '0' && v[k] <= '9';
                limit = limit * 10 + (v[k] - '0');
            }
            if (!ok || limit < 1 || limit > SL_VIEW_PAGE_MAX) {
                fail(res, b, 400, "limit: an integer from 1 to 1000");
                return;
            }
        }
        i += i < qn;
    }
    /* One row more than asked: whether a next page exists. */
    sqlite3_stmt *st = alen >= 0 ? c->after : c->first;
    if (alen >= 0) {
        sqlite3_bind_text(st, 1, after, (int)alen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, limit + 1);
    } else {
        sqlite3_bind_int64(st, 1, limit + 1);
    }
    sl__jw_lit(b, "{\"items\":[");
    long n = 0;
    int rc;
    jbuf_t last = {0}; /* the page's last key: the next cursor */
    while ((rc = step(st, res, b)) == SQLITE_ROW) {
        if (n == limit)
            break;
        if (n++)
            sl__jw_lit(b, ",");
        put_row(b, st);
        last.len = 0;
        sl__jw_raw(&last, (const char *)sqlite3_column_text(st, 0),
                   (size_t)sqlite3_column_bytes(st, 0));
    }
    if (rc == SQLITE_ROW) {
        sl__jw_lit(b, "],\"next\":");
        put_str(b, last.buf ? last.buf : "", last.len);
        b->oom |= last.oom;
        sl__jw_lit(b, "}\n");
        res->status = 200;
    } else if (rc == SQLITE_DONE) {
        sl__jw_lit(b, "],\"next\":null}\n");
        res->status = 200;
    }
    sl_free(last.buf);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int sl_view_reader_http(void *reader, const sl_http_request_t *req, sl_http_response_t *res)
{
    sl_view_reader_t *r = reader;
    jbuf_t b = {0};
    const char *p = req->path;
    size_t n = req->path_len;
    /* The route's prefix ("/views" by convention; whatever it is, the
     * table is the segment after the first one). */
    size_t i = 1;
    while (i < n && p[i] != '/')
        i++;
    if (req->method_len != 3 || memcmp(req->method, "GET", 3)) {
        fail(res, &b, 405, "method not allowed: GET only");
        snprintf(res->headers[0].name, sizeof res->headers[0].name, "Allow");
        snprintf(res->headers[0].value, sizeof res->headers[0].value, "GET");
        res->header_count = 1;
        goto out;
    }
    if (i + 1 >= n) {
        fail(res, &b, 404, "no table: GET /views/{table}/{key} or /views/{table}");
        goto out;
    }
    size_t ts = i + 1, te = ts;
    while (te < n && p[te] != '/')
        te++;
    if (te - ts != r->table_len || memcmp(p + ts, r->table, r->table_len)) {
        fail(res, &b, 404, "unknown table: this endpoint serves its own view table only");
        goto out;
    }
    conn_t *c = conn_take(r);
    if (!c) {
        fail(res, &b, 503, "cannot open the view");
        goto out;
    }
    if (te + 1 >= n) {
        list(c, req, res, &b);
    } else {
        char key[SL_VIEW_KEY_MAX];
        long kl = decode(p + te + 1, n - te - 1, 0, key);
        if (kl == -1)
            fail(res, &b, 400, "key: bad %-encoding");
        else if (kl == -2)
            fail(res, &b, 400, "key: longer than 1024 bytes");
        else
            get_key(c, key, (size_t)kl, req, res, &b);
    }
    conn_give(r, c);
out:
    /* NUL-terminated for convenience (not counted in body_len). */
    if (!sl__jw_reserve(&b, 1))
        b.buf[b.len] = 0;
    if (b.oom) {
        sl_free(b.buf);
        *res = (sl_http_response_t){0};
        return SL_ENOMEM;
    }
    res->content_type = "application/json";
    res->body = b.buf;
    res->body_len = b.len;
    return 0;
}
