/* The SQLite view reader (sluice/view.h) called directly, without HTTP:
 * rows written through the store, read back by sl_view_reader_http() with
 * crafted requests. Keys that need JSON escaping round-trip; the cursor of
 * a page is such a key; open errors; a reader opened before rows exist
 * sees them; every answer is JSON. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/store.h"
#include "sluice/view.h"

static char dir[64];
static char dbpath[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sluice-vr-XXXXXX");
    cr_assert(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/view.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(view_reader, .init = setup, .fini = teardown);

static void put(sl_store_t *s, const char *key, int64_t ts, const char *entity)
{
    sl_view_row_t r = {.key = key,
                       .key_len = strlen(key),
                       .timestamp_ms = ts,
                       .type = entity ? "thing-updated" : "thing-deleted",
                       .type_len = strlen(entity ? "thing-updated" : "thing-deleted"),
                       .event_id = "e1",
                       .event_id_len = 2,
                       .entity = entity,
                       .entity_len = entity ? strlen(entity) : 0,
                       .deleted = entity == NULL};
    size_t applied = 0;
    cr_assert_eq(sl_store_apply(s, &r, 1, &applied), 0);
    cr_assert_eq(applied, 1);
}

/* GET @p path (with @p query, NULL for none); the status, the body parsed
 * (the caller decrefs) in *@p out. */
static int ask(sl_view_reader_t *r, const char *path, const char *query, json_t **out)
{
    sl_http_request_t rq = {.method = "GET",
                            .method_len = 3,
                            .path = path,
                            .path_len = strlen(path),
                            .query = query,
                            .query_len = query ? strlen(query) : 0};
    sl_http_response_t res = {0};
    cr_assert_eq(sl_view_reader_http(r, &rq, &res), 0);
    cr_assert_str_eq(res.content_type, "application/json");
    json_error_t e;
    json_t *j = json_loadb(res.body, res.body_len, 0, &e);
    cr_assert(j, "%s: not JSON (%s): %.*s", path, e.text, (int)res.body_len, res.body);
    sl_free(res.body);
    *out = j;
    return res.status;
}

Test(view_reader, keys_that_need_escaping)
{
    char err[256];
    sl_store_t *s = sl_store_sqlite_open(dbpath, "things", err, sizeof err);
    cr_assert(s, "%s", err);
    /* Opened before any row: it sees the rows written later. */
    sl_view_reader_t *r = sl_view_reader_sqlite_open(dbpath, "things", err, sizeof err);
    cr_assert(r, "%s", err);
    const char *keys[] = {"a\"b", "a\\b", "a\x01tab\t", "caf\xc3\xa9", "z"};
    const char *paths[] = {"/views/things/a%22b", "/views/things/a%5Cb", "/views/things/a%01tab%09",
                           "/views/things/caf%C3%A9", "/views/things/z"};
    for (size_t i = 0; i < 5; i++)
        put(s, keys[i], 1000 + (int64_t)i, "{\"n\":[1,{\"x\":\"y\"}]}");
    json_t *j;
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(ask(r, paths[i], NULL, &j), 200);
        cr_assert_str_eq(json_string_value(json_object_get(j, "key")), keys[i]);
        cr_assert_eq(json_integer_value(json_object_get(j, "timestamp")), 1000 + (json_int_t)i);
        cr_assert(json_is_array(json_object_get(json_object_get(j, "entity"), "n")));
        json_decref(j);
    }
    /* Pages of 2: the cursors are keys that need escaping; every key once,
     * in byte order. */
    const char *order[] = {"a\x01tab\t", "a\"b", "a\\b", "caf\xc3\xa9", "z"};
    char after[64] = "";
    size_t seen = 0;
    for (int pages = 0; pages < 3; pages++) {
        char q[128];
        /* The cursor %-encoded byte by byte. */
        int n = snprintf(q, sizeof q, "limit=2%s", pages ? "&after=" : "");
        for (const char *c = after; pages && *c; c++)
            n += snprintf(q + n, sizeof q - (size_t)n, "%%%02X", (unsigned char)*c);
        cr_assert_eq(ask(r, "/views/things", q, &j), 200);
        json_t *items = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(items); i++)
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "key")),
                             order[seen++]);
        json_t *next = json_object_get(j, "next");
        if (pages < 2) {
            cr_assert(json_is_string(next));
            snprintf(after, sizeof after, "%s", json_string_value(next));
        } else {
            cr_assert(json_is_null(next));
        }
        json_decref(j);
    }
    cr_assert_eq(seen, 5);
    /* A deletion: 404 with its time, in the body and a header. */
    put(s, "z", 2000, NULL);
    sl_http_request_t rq = {.method = "GET",
                            .method_len = 3,
                            .path = "/views/things/z",
                            .path_len = strlen("/views/things/z")};
    sl_http_response_t res = {0};
    cr_assert_eq(sl_view_reader_http(r, &rq, &res), 0);
    cr_assert_eq(res.status, 404);
    cr_assert_eq(res.header_count, 1);
    cr_assert_str_eq(res.headers[0].name, "X-Sluice-Deleted-At");
    cr_assert_str_eq(res.headers[0].value, "2000");
    sl_free(res.body);
    sl_view_reader_destroy(r);
    sl_store_destroy(s);
}

Test(view_reader, open_errors)
{
    char err[256];
    cr_assert_null(sl_view_reader_sqlite_open(dbpath, "things", err, sizeof err),
                   "no database yet");
    cr_assert(strstr(err, "cannot open") || strstr(err, "things"), "%s", err);
    sl_store_t *s = sl_store_sqlite_open(dbpath, "things", err, sizeof err);
    cr_assert(s, "%s", err);
    cr_assert_null(sl_view_reader_sqlite_open(dbpath, "other", err, sizeof err), "no table");
    cr_assert(strstr(err, "other"), "%s", err);
    cr_assert_null(sl_view_reader_sqlite_open(dbpath, "bad name", err, sizeof err));
    cr_assert(strstr(err, "bad table name"), "%s", err);
    cr_assert_null(sl_view_reader_sqlite_open(NULL, "things", err, sizeof err));
    sl_view_reader_t *r = sl_view_reader_sqlite_open(dbpath, NULL, err, sizeof err);
    cr_assert_null(r, "the default table \"view\" is not this database's");
    sl_view_reader_destroy(NULL);
    sl_store_destroy(s);
}
