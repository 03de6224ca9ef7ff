/* The embedded SQLite view store, against real database files in a fresh
 * temporary directory per test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/store.h"

static char dir[64];
static char dbpath[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sl_sqlite_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp");
    snprintf(dbpath, sizeof dbpath, "%s/view.db", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

TestSuite(sqlite_store, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static sl_store_t *open_ok(const char *table)
{
    char err[256];
    sl_store_t *s = sl_store_sqlite_open(dbpath, table, err, sizeof err);
    cr_assert(s, "open failed: %s", err);
    return s;
}

/* A row of @p type; @p event_id and @p entity may be NULL. */
static sl_view_row_t row(const char *key, int64_t ts, const char *type, const char *event_id,
                         const char *entity, int deleted)
{
    return (sl_view_row_t){
        .key = key,
        .key_len = strlen(key),
        .timestamp_ms = ts,
        .type = type,
        .type_len = strlen(type),
        .event_id = event_id,
        .event_id_len = event_id ? strlen(event_id) : 0,
        .entity = entity,
        .entity_len = entity ? strlen(entity) : 0,
        .deleted = deleted,
    };
}

static sl_view_row_t up(const char *key, int64_t ts, const char *entity)
{
    return row(key, ts, "thing-updated", "e1", entity, 0);
}

static sl_view_row_t del(const char *key, int64_t ts, const char *event_id)
{
    return row(key, ts, "thing-deleted", event_id, NULL, 1);
}

static size_t apply1(sl_store_t *s, sl_view_row_t r)
{
    size_t applied = 99;
    cr_assert_eq(sl_store_apply(s, &r, 1, &applied), 0);
    return applied;
}

/* A second, independent connection: what a user querying the view sees. */
static sqlite3 *peek(void)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
}

static void exec_path(const char *sql)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    exec_ok(db, sql);
    sqlite3_close(db);
}

/* The single integer result of @p sql, or @p none if it returns no row or NULL. */
static int64_t q_int(const char *sql, int64_t none)
{
    sqlite3 *db = peek();
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    int64_t v = none;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The single text result of @p sql in @p buf; "(none)" for no row, "(null)" for NULL. */
static const char *q_text(const char *sql, char *buf, size_t n)
{
    sqlite3 *db = peek();
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        snprintf(buf, n, "(none)");
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        snprintf(buf, n, "(null)");
    else
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

static int64_t view_ts(const char *key)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT timestamp FROM view WHERE key = '%s'", key);
    return q_int(sql, -1);
}

static int64_t tomb_ts(const char *key)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT timestamp FROM view_deleted WHERE key = '%s'", key);
    return q_int(sql, -1);
}

static const char *view_entity(const char *key, char *buf, size_t n)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT entity FROM view WHERE key = '%s'", key);
    return q_text(sql, buf, n);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- open, tables, layout --------------------------------------------- */

Test(sqlite_store, creates_tables_on_first_open_and_reopen_keeps_data)
{
    cr_assert_eq(access(dbpath, F_OK), -1, "no file before the first open");
    sl_store_t *s = open_ok(NULL);
    cr_assert_str_eq(sl_store_name(s), "sqlite");
    cr_assert_eq(access(dbpath, F_OK), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                       "name IN ('view', 'view_deleted')",
                       0),
                 2);
    char buf[256];
    cr_assert_str_eq(q_text("SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" || "
                            "' ' || pk, ',') FROM pragma_table_info('view')",
                            buf, sizeof buf),
                     "key TEXT 0 1,timestamp INTEGER 1 0,type TEXT 1 0,event_id TEXT 0 0,"
                     "entity TEXT 1 0,updated_at INTEGER 1 0");
    cr_assert_str_eq(q_text("SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" || "
                            "' ' || pk, ',') FROM pragma_table_info('view_deleted')",
                            buf, sizeof buf),
                     "key TEXT 0 1,timestamp INTEGER 1 0,event_id TEXT 0 0");

    cr_assert_eq(apply1(s, up("k1", 100, "{\"name\":\"one\"}")), 1);
    cr_assert_eq(apply1(s, del("k2", 100, "e2")), 1);
    sl_store_destroy(s);

    s = open_ok("view");
    cr_assert_eq(view_ts("k1"), 100, "data survives a reopen");
    cr_assert_eq(tomb_ts("k2"), 100, "tombstones survive a reopen");
    cr_assert_eq(apply1(s, up("k1", 100, "{}")), 0, "the stored version still counts");
    cr_assert_eq(apply1(s, up("k2", 50, "{}")), 0, "the stored tombstone still counts");
    cr_assert_eq(apply1(s, up("k1", 101, "{\"name\":\"two\"}")), 1);
    sl_store_destroy(s);
    cr_assert_str_eq(view_entity("k1", buf, sizeof buf), "{\"name\":\"two\"}");
}

Test(sqlite_store, journal_mode_is_wal)
{
    sl_store_t *s = open_ok(NULL);
    char buf[32];
    cr_assert_str_eq(q_text("PRAGMA journal_mode", buf, sizeof buf), "wal");
    cr_assert_eq(apply1(s, up("k", 1, "{}")), 1);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    cr_assert_eq(access(wal, F_OK), 0, "writes go through the write-ahead log");
    sl_store_destroy(s);
}

Test(sqlite_store, rejects_bad_table_names)
{
    char long65[66], long64[65];
    memset(long65, 'a', 65);
    long65[65] = '\0';
    memset(long64, 'b', 64);
    long64[64] = '\0';
    const char *bad[] = {"",      "1abc",      "a-b",  "a b",           "a;drop table x",
                         "\"q\"", "t\xc3\xa4", long65, "sqlite_master", "SQLITE_mine",
                         "a.b",   "view\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "untouched";
        sl_store_t *s = sl_store_sqlite_open(dbpath, bad[i], err, sizeof err);
        cr_assert_null(s, "table name \"%s\" must be rejected", bad[i]);
        cr_assert(err[0] && strcmp(err, "untouched") != 0, "an errstr for \"%s\"", bad[i]);
        cr_assert(strstr(err, "table name"), "errstr names the problem: %s", err);
    }
    cr_assert_null(sl_store_sqlite_open(dbpath, "1x", NULL, 0), "errstr may be NULL");
    cr_assert_eq(access(dbpath, F_OK), -1, "a bad name creates no database");

    const char *good[] = {"_x", "Orders_2", "order", "select", long64};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sl_store_t *s = open_ok(good[i]);
        sl_view_row_t r = up("k", 10, "{\"n\":1}");
        cr_assert_eq(apply1(s, r), 1, "table \"%s\"", good[i]);
        sl_store_destroy(s);
    }
}

Test(sqlite_store, custom_table_name)
{
    sl_store_t *s = open_ok("things");
    cr_assert_eq(apply1(s, up("a", 10, "{\"name\":\"A\"}")), 1);
    cr_assert_eq(apply1(s, up("b", 10, "{\"name\":\"B\"}")), 1);
    cr_assert_eq(apply1(s, del("b", 20, "e9")), 1);
    sl_store_destroy(s);
    cr_assert_eq(q_int("SELECT count(*) FROM things", -1), 1);
    cr_assert_eq(q_int("SELECT timestamp FROM things_deleted WHERE key = 'b'", -1), 20);
    cr_assert_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE name = 'view'", -1), 0,
                 "the default table is not created");
}

Test(sqlite_store, rejects_incompatible_existing_tables)
{
    static const struct {
        const char *sql;
        const char *why;
    } cases[] = {
        {"CREATE TABLE view (key TEXT PRIMARY KEY, value TEXT)", "unexpected column"},
        {"CREATE TABLE view (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, type TEXT NOT "
         "NULL, event_id TEXT, entity TEXT NOT NULL)",
         "missing"},
        {"CREATE TABLE view (key TEXT PRIMARY KEY, timestamp TEXT NOT NULL, type TEXT NOT NULL, "
         "event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL)",
         "\"timestamp\""},
        {"CREATE TABLE view (key TEXT, timestamp INTEGER NOT NULL, type TEXT NOT NULL, "
         "event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL)",
         "PRIMARY KEY"},
        {"CREATE TABLE view (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, type TEXT NOT "
         "NULL, event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL, extra BLOB)",
         "unexpected column \"extra\""},
        {"CREATE TABLE view_deleted (key TEXT PRIMARY KEY, ts INTEGER)", "view_deleted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        teardown();
        setup();
        exec_path(cases[i].sql);
        char err[512] = "";
        sl_store_t *s = sl_store_sqlite_open(dbpath, NULL, err, sizeof err);
        cr_assert_null(s, "case %zu must be rejected", i);
        cr_assert(strstr(err, "another layout"), "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].why), "case %zu: %s", i, err);
        cr_assert_eq(q_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", -1), 1,
                     "case %zu: nothing created beside the existing table", i);
    }
}

Test(sqlite_store, accepts_compatible_existing_table)
{
    /* Same columns in another order and case: still the layout the store writes. */
    exec_path("CREATE TABLE view (ENTITY text NOT NULL, Key TEXT PRIMARY KEY, type TEXT NOT "
              "NULL, timestamp INTEGER NOT NULL, updated_at INTEGER NOT NULL, event_id TEXT);"
              "INSERT INTO view VALUES ('{}', 'old', 't', 500, 0, NULL)");
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, up("old", 400, "{\"v\":1}")), 0);
    cr_assert_eq(apply1(s, up("old", 600, "{\"v\":2}")), 1);
    sl_store_destroy(s);
    char buf[64];
    cr_assert_str_eq(view_entity("old", buf, sizeof buf), "{\"v\":2}");
}

Test(sqlite_store, rejects_sql_view_with_the_table_name)
{
    exec_path("CREATE TABLE base (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, type TEXT NOT "
              "NULL, event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL);"
              "CREATE VIEW view AS SELECT * FROM base");
    char err[512] = "";
    cr_assert_null(sl_store_sqlite_open(dbpath, NULL, err, sizeof err));
    cr_assert(strstr(err, "not a table"), "%s", err);
}

Test(sqlite_store, open_errors)
{
    char err[256] = "";
    cr_assert_null(sl_store_sqlite_open(NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, "path"), "%s", err);

    char nodir[200];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/view.db", dir);
    err[0] = '\0';
    cr_assert_null(sl_store_sqlite_open(nodir, NULL, err, sizeof err));
    cr_assert(strstr(err, "cannot open"), "%s", err);

    /* Not a database at all. */
    FILE *f = fopen(dbpath, "w");
    cr_assert(f);
    fputs("this is not an sqlite database, just some text that is long enough to look at. "
          "this is not an sqlite database, just some text that is long enough to look at.",
          f);
    fclose(f);
    err[0] = '\0';
    cr_assert_null(sl_store_sqlite_open(dbpath, NULL, err, sizeof err));
    cr_assert(err[0]);
    cr_assert_null(sl_store_sqlite_open(dbpath, NULL, NULL, 0), "errstr may be NULL");
}

Test(sqlite_store, read_only_file_is_an_open_error)
{
    if (geteuid() == 0) {
        teardown(); /* a skipped test does not run .fini */
        cr_skip_test("root can write to a read-only file");
    }
    sl_store_destroy(open_ok(NULL));
    cr_assert_eq(chmod(dbpath, 0444), 0);
    char err[256] = "";
    cr_assert_null(sl_store_sqlite_open(dbpath, NULL, err, sizeof err));
    cr_assert(strstr(err, "read-only"), "%s", err);
}

Test(sqlite_store, open_survives_allocation_failures)
{
    int opened = 0;
    for (uint64_t n = 1; n <= 10 && !opened; n++) {
        char err[256] = "";
        sl_mem_fail_at(n, 0);
        sl_store_t *s = sl_store_sqlite_open(dbpath, NULL, err, sizeof err);
        sl_mem_fail_at(0, 0);
        if (s) {
            opened = 1;
            cr_assert_eq(apply1(s, up("k", 1, "{}")), 1);
            sl_store_destroy(s);
        } else {
            cr_assert(strstr(err, "out of memory"), "allocation %u: %s", (unsigned)n, err);
        }
    }
    cr_assert(opened, "open succeeds once the failure is past its allocations");
}

Test(sqlite_store, in_memory_database)
{
    char err[256];
    sl_store_t *s = sl_store_sqlite_open(":memory:", NULL, err, sizeof err);
    cr_assert(s, "%s", err);
    cr_assert_eq(apply1(s, up("k", 1, "{}")), 1);
    cr_assert_eq(apply1(s, up("k", 1, "{}")), 0);
    sl_store_destroy(s);
}

/* ---- the newer-wins rule ---------------------------------------------- */

Test(sqlite_store, upsert_newer_wins_older_and_equal_are_noops)
{
    sl_store_t *s = open_ok(NULL);
    char buf[256];
    int64_t before = now_ms();
    sl_view_row_t r = up("k", 100, "{\"v\":1}");
    r.event_id = "ev-100";
    r.event_id_len = 6;
    r.type = "thing-created";
    r.type_len = strlen(r.type);
    cr_assert_eq(apply1(s, r), 1, "first write applies");
    int64_t after = now_ms();
    cr_assert_str_eq(q_text("SELECT key || '|' || timestamp || '|' || type || '|' || event_id || "
                            "'|' || entity FROM view",
                            buf, sizeof buf),
                     "k|100|thing-created|ev-100|{\"v\":1}");
    int64_t upd = q_int("SELECT updated_at FROM view WHERE key = 'k'", -1);
    cr_assert(upd >= before && upd <= after, "updated_at is wall clock ms");

    r = up("k", 200, "{\"v\":2}");
    cr_assert_eq(apply1(s, r), 1, "newer wins");
    cr_assert_str_eq(view_entity("k", buf, sizeof buf), "{\"v\":2}");
    cr_assert_eq(view_ts("k"), 200);
    cr_assert_str_eq(q_text("SELECT type || '|' || event_id FROM view", buf, sizeof buf),
                     "thing-updated|e1", "every column follows the newer event");

    cr_assert_eq(apply1(s, up("k", 150, "{\"v\":\"older\"}")), 0, "older is a no-op");
    cr_assert_eq(apply1(s, up("k", 200, "{\"v\":\"equal\"}")), 0, "equal is a no-op");
    cr_assert_str_eq(view_entity("k", buf, sizeof buf), "{\"v\":2}");
    cr_assert_eq(view_ts("k"), 200);

    cr_assert_eq(apply1(s, up("k", -5, "{}")), 0, "negative timestamps compare as numbers");
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 1);
    sl_store_destroy(s);
}

Test(sqlite_store, event_id_may_be_null_and_key_is_length_delimited)
{
    sl_store_t *s = open_ok(NULL);
    const char keys[] = "abcdef"; /* only "abc" is the key */
    const char ent[] = "{\"n\":1}garbage";
    sl_view_row_t r = {
        .key = keys,
        .key_len = 3,
        .timestamp_ms = 7,
        .type = "thing-createdXX",
        .type_len = strlen("thing-created"),
        .entity = ent,
        .entity_len = 7,
    };
    cr_assert_eq(apply1(s, r), 1);
    char buf[64];
    cr_assert_str_eq(
        q_text("SELECT key || '|' || type || '|' || entity FROM view", buf, sizeof buf),
        "abc|thing-created|{\"n\":1}");
    cr_assert_str_eq(q_text("SELECT event_id FROM view", buf, sizeof buf), "(null)");
    cr_assert_eq(apply1(s, del("abc", 8, NULL)), 1);
    cr_assert_str_eq(q_text("SELECT event_id FROM view_deleted WHERE key = 'abc'", buf, sizeof buf),
                     "(null)");
    sl_store_destroy(s);
}

Test(sqlite_store, applied_counts_only_rows_that_changed_the_view)
{
    sl_store_t *s = open_ok(NULL);
    sl_view_row_t first[] = {up("a", 10, "{}"), up("b", 10, "{}"), up("c", 10, "{}")};
    size_t applied = 99;
    cr_assert_eq(sl_store_apply(s, first, 3, &applied), 0);
    cr_assert_eq(applied, 3);

    sl_view_row_t second[] = {
        up("a", 5, "{}"),  /* older: skipped */
        up("b", 10, "{}"), /* equal: skipped */
        up("c", 11, "{}"), /* newer */
        up("d", 1, "{}"),  /* new key */
        del("a", 9, "x"),  /* older delete: skipped */
        del("b", 12, "x"), /* newer delete */
        del("zz", 3, "x"), /* delete of an unknown key: remembered */
    };
    cr_assert_eq(sl_store_apply(s, second, 7, &applied), 0);
    cr_assert_eq(applied, 4);
    cr_assert_eq(sl_store_apply(s, second, 7, &applied), 0);
    cr_assert_eq(applied, 0, "a replay changes nothing");
    cr_assert_eq(sl_store_apply(s, second, 7, NULL), 0, "applied may be NULL");
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 3);

    applied = 99;
    cr_assert_eq(sl_store_apply(s, NULL, 0, &applied), 0);
    cr_assert_eq(applied, 0);
    sl_store_destroy(s);
}

/* ---- deletes and tombstones ------------------------------------------- */

Test(sqlite_store, delete_then_older_upsert_is_noop_newer_recreates)
{
    sl_store_t *s = open_ok(NULL);
    char buf[128];
    cr_assert_eq(apply1(s, up("k", 100, "{\"v\":1}")), 1);
    cr_assert_eq(apply1(s, del("k", 200, "del-1")), 1, "a newer delete applies");
    cr_assert_eq(view_ts("k"), -1, "the row is gone from the view");
    cr_assert_eq(tomb_ts("k"), 200);
    cr_assert_str_eq(q_text("SELECT event_id FROM view_deleted WHERE key = 'k'", buf, sizeof buf),
                     "del-1");

    cr_assert_eq(apply1(s, up("k", 150, "{\"v\":\"late\"}")), 0, "older than the delete");
    cr_assert_eq(apply1(s, up("k", 200, "{\"v\":\"same\"}")), 0, "as old as the delete");
    cr_assert_eq(view_ts("k"), -1, "still deleted");
    cr_assert_eq(apply1(s, del("k", 150, "del-0")), 0, "an older delete is a no-op");
    cr_assert_eq(apply1(s, del("k", 200, "del-2")), 0, "an equal delete is a no-op");
    cr_assert_eq(tomb_ts("k"), 200);
    cr_assert_str_eq(q_text("SELECT event_id FROM view_deleted WHERE key = 'k'", buf, sizeof buf),
                     "del-1");
    cr_assert_eq(apply1(s, del("k", 250, "del-3")), 1, "a newer delete moves the tombstone");
    cr_assert_eq(tomb_ts("k"), 250);

    cr_assert_eq(apply1(s, up("k", 300, "{\"v\":3}")), 1, "newer than the delete");
    cr_assert_eq(view_ts("k"), 300);
    cr_assert_str_eq(view_entity("k", buf, sizeof buf), "{\"v\":3}");
    cr_assert_eq(tomb_ts("k"), -1, "the tombstone is gone once the key lives again");
    sl_store_destroy(s);
}

Test(sqlite_store, delete_older_than_the_row_is_noop)
{
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, up("k", 100, "{}")), 1);
    cr_assert_eq(apply1(s, del("k", 50, "d")), 0);
    cr_assert_eq(apply1(s, del("k", 100, "d")), 0);
    cr_assert_eq(view_ts("k"), 100);
    cr_assert_eq(tomb_ts("k"), -1, "no tombstone for a skipped delete");
    sl_store_destroy(s);
}

Test(sqlite_store, delete_before_create_keeps_the_late_create_out)
{
    /* Out of order delivery: the delete arrives before the create. */
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, del("k", 200, "d")), 1);
    cr_assert_eq(tomb_ts("k"), 200);
    cr_assert_eq(apply1(s, up("k", 100, "{}")), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 0);
    sl_store_destroy(s);
}

Test(sqlite_store, same_key_several_times_in_one_batch)
{
    sl_store_t *s = open_ok(NULL);
    char buf[64];
    sl_view_row_t rows[] = {
        up("k", 100, "{\"v\":\"A\"}"), /* applies */
        up("k", 300, "{\"v\":\"B\"}"), /* applies */
        up("k", 200, "{\"v\":\"C\"}"), /* older than B */
        up("k", 300, "{\"v\":\"D\"}"), /* equal to B */
        del("k", 250, "d"),            /* older than B */
        up("j", 5, "{\"v\":\"J\"}"),   /* another key between */
        up("k", 301, "{\"v\":\"E\"}"), /* applies */
    };
    size_t applied;
    cr_assert_eq(sl_store_apply(s, rows, sizeof rows / sizeof rows[0], &applied), 0);
    cr_assert_eq(applied, 4);
    cr_assert_str_eq(view_entity("k", buf, sizeof buf), "{\"v\":\"E\"}");
    cr_assert_eq(view_ts("k"), 301);

    sl_view_row_t life[] = {up("m", 1, "{\"v\":1}"), del("m", 2, "d"),  up("m", 3, "{\"v\":3}"),
                            del("n", 9, "d"),        up("n", 10, "{}"), del("n", 11, "d")};
    cr_assert_eq(sl_store_apply(s, life, 6, &applied), 0);
    cr_assert_eq(applied, 6, "create, delete, re-create in one batch all apply");
    cr_assert_str_eq(view_entity("m", buf, sizeof buf), "{\"v\":3}");
    cr_assert_eq(tomb_ts("m"), -1);
    cr_assert_eq(view_ts("n"), -1);
    cr_assert_eq(tomb_ts("n"), 11);
    sl_store_destroy(s);
}

/* ---- atomicity and errors --------------------------------------------- */

Test(sqlite_store, invalid_row_fails_the_whole_batch)
{
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, up("pre", 10, "{\"v\":\"pre\"}")), 1);
    sl_view_row_t bad_entity = up("x", 20, NULL);
    sl_view_row_t bad_key = up("x", 20, "{}");
    bad_key.key = NULL;
    sl_view_row_t bad_type = up("x", 20, "{}");
    bad_type.type = NULL;
    const sl_view_row_t *bads[] = {&bad_entity, &bad_key, &bad_type};
    for (size_t i = 0; i < 3; i++) {
        sl_view_row_t rows[] = {up("a", 1, "{}"), up("pre", 11, "{\"v\":\"new\"}"), *bads[i],
                                del("b", 1, "d"), up("c", 1, "{}")};
        size_t applied = 99;
        cr_assert_eq(sl_store_apply(s, rows, 5, &applied), SL_EINVAL, "case %zu", i);
        cr_assert_eq(applied, 0);
        cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 1, "case %zu: none applied", i);
        cr_assert_eq(q_int("SELECT count(*) FROM view_deleted", -1), 0);
        cr_assert_eq(view_ts("pre"), 10);
    }
    /* A delete needs no entity nor type. */
    sl_view_row_t d = del("pre", 30, NULL);
    d.type = NULL;
    cr_assert_eq(apply1(s, d), 1);
    sl_store_destroy(s);
}

Test(sqlite_store, failure_mid_transaction_rolls_back_everything)
{
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, up("pre", 10, "{\"v\":\"pre\"}")), 1);
    cr_assert_eq(apply1(s, up("gone", 10, "{}")), 1);
    /* A user's trigger refuses one key: SQLite fails in the middle of the batch. */
    exec_path("CREATE TRIGGER refuse BEFORE INSERT ON view WHEN NEW.key = 'boom' "
              "BEGIN SELECT RAISE(ABORT, 'refused'); END");
    sl_view_row_t rows[] = {
        up("a", 1, "{}"),     up("pre", 11, "{\"v\":\"new\"}"),
        del("gone", 11, "d"), up("boom", 1, "{}"),
        up("z", 1, "{}"),
    };
    size_t applied = 99;
    int err = sl_store_apply(s, rows, 5, &applied);
    cr_assert_eq(err, SL_ESTORE, "got %s", sl_err_name(err));
    cr_assert_not(sl_err_is_retriable(err));
    cr_assert_eq(applied, 0);
    char buf[64];
    cr_assert_str_eq(view_entity("pre", buf, sizeof buf), "{\"v\":\"pre\"}");
    cr_assert_eq(view_ts("gone"), 10, "the delete before the failure is undone");
    cr_assert_eq(tomb_ts("gone"), -1);
    cr_assert_eq(view_ts("a"), -1);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 2);

    exec_path("DROP TRIGGER refuse");
    cr_assert_eq(sl_store_apply(s, rows, 5, &applied), 0, "the store is usable after a failure");
    cr_assert_eq(applied, 5);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 4);
    sl_store_destroy(s);
}

Test(sqlite_store, busy_while_another_connection_writes)
{
    setenv("SLUICE_SQLITE_BUSY_MS", "50", 1);
    sl_store_t *s = open_ok(NULL);
    unsetenv("SLUICE_SQLITE_BUSY_MS");
    cr_assert_eq(apply1(s, up("k", 1, "{}")), 1);

    sqlite3 *other = peek();
    exec_ok(other, "BEGIN IMMEDIATE");
    exec_ok(other, "INSERT INTO view VALUES ('o', 1, 't', NULL, '{}', 0)");
    sl_view_row_t rows[] = {up("k", 2, "{}"), up("n", 1, "{}")};
    size_t applied = 99;
    int err = sl_store_apply(s, rows, 2, &applied);
    cr_assert_eq(err, SL_EBUSY, "got %s", sl_err_name(err));
    cr_assert(sl_err_is_retriable(err));
    cr_assert_eq(applied, 0);
    exec_ok(other, "COMMIT");
    sqlite3_close(other);

    cr_assert_eq(sl_store_apply(s, rows, 2, &applied), 0, "the retry goes through");
    cr_assert_eq(applied, 2);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 3);
    sl_store_destroy(s);
}

Test(sqlite_store, readers_do_not_block_the_writer)
{
    sl_store_t *s = open_ok(NULL);
    cr_assert_eq(apply1(s, up("k", 1, "{}")), 1);
    sqlite3 *reader = peek();
    exec_ok(reader, "BEGIN");
    exec_ok(reader, "SELECT count(*) FROM view");
    cr_assert_eq(apply1(s, up("k", 2, "{}")), 1, "WAL: an open read does not block a write");
    exec_ok(reader, "COMMIT");
    sqlite3_close(reader);
    sl_store_destroy(s);
}

/* ---- queries, scale, threads ------------------------------------------ */

Test(sqlite_store, users_query_the_view_with_plain_sql)
{
    sl_store_t *s = open_ok(NULL);
    sl_view_row_t rows[] = {
        up("t1", 1, "{\"name\":\"Alice\",\"status\":\"active\",\"n\":3}"),
        up("t2", 1, "{\"name\":\"Bob\",\"status\":\"active\",\"n\":4}"),
        up("t3", 1, "{\"name\":\"Carol\",\"status\":\"closed\",\"n\":5}"),
        del("t2", 2, "d"),
    };
    cr_assert_eq(sl_store_apply(s, rows, 4, NULL), 0);
    char buf[128];
    cr_assert_str_eq(
        q_text("SELECT json_extract(entity, '$.name') FROM view WHERE key = 't1'", buf, sizeof buf),
        "Alice");
    cr_assert_str_eq(q_text("SELECT group_concat(json_extract(entity, '$.name'), ',') FROM "
                            "(SELECT entity FROM view "
                            "WHERE json_extract(entity, '$.status') = 'active' ORDER BY key)",
                            buf, sizeof buf),
                     "Alice", "deleted entities are not in the view");
    cr_assert_eq(q_int("SELECT sum(json_extract(entity, '$.n')) FROM view", -1), 8);
    sl_store_destroy(s);
}

Test(sqlite_store, ten_thousand_rows_in_one_batch)
{
    enum { N = 10000 };
    sl_store_t *s = open_ok(NULL);
    static char keys[N][16], ents[N][48];
    static sl_view_row_t rows[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%05d", i);
        snprintf(ents[i], sizeof ents[i], "{\"name\":\"thing %d\",\"i\":%d}", i, i);
        rows[i] = up(keys[i], 1000 + i, ents[i]);
        if (i % 10 == 9)
            rows[i] = del(keys[i - 1], 5000 + i, "d"); /* deletes a key of this batch */
    }
    size_t applied = 0;
    cr_assert_eq(sl_store_apply(s, rows, N, &applied), 0);
    cr_assert_eq(applied, N);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), N - 2 * (N / 10));
    cr_assert_eq(q_int("SELECT count(*) FROM view_deleted", -1), N / 10);
    cr_assert_eq(q_int("SELECT json_extract(entity, '$.i') FROM view WHERE key = 'key-09997'", -1),
                 9997);
    cr_assert_eq(sl_store_apply(s, rows, N, &applied), 0);
    cr_assert_eq(applied, 0, "the replayed batch is a no-op");
    sl_store_destroy(s);
}

typedef struct {
    sl_store_t *s;
    int err;
    size_t applied;
} thread_arg_t;

static void *apply_in_thread(void *p)
{
    thread_arg_t *a = p;
    sl_view_row_t rows[] = {up("t", 1, "{}"), up("u", 1, "{}")};
    a->err = sl_store_apply(a->s, rows, 2, &a->applied);
    return NULL;
}

Test(sqlite_store, used_from_another_thread)
{
    thread_arg_t a = {.s = open_ok(NULL)};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, apply_in_thread, &a), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(a.err, 0);
    cr_assert_eq(a.applied, 2);
    cr_assert_eq(apply1(a.s, up("t", 2, "{}")), 1, "and back on the opening thread");
    sl_store_destroy(a.s);
}

/* ---- interrupt ---------------------------------------------------------- */

typedef struct bg_apply_s {
    sl_store_t *s;
    int rc;
} bg_apply_t;

static void *bg_apply(void *arg)
{
    bg_apply_t *a = arg;
    sl_view_row_t row = up("k", 5, "{}");
    a->rc = sl_store_apply(a->s, &row, 1, NULL);
    return NULL;
}

/* A drain that runs out of time interrupts an apply waiting on a lock from
 * another thread. The busy timeout here is 10 minutes: an apply that did
 * not see the interrupt would hold the test past its timeout. */
Test(sqlite_store, interrupt_ends_a_wait_for_a_lock_from_another_thread, .timeout = 60)
{
    setenv("SLUICE_SQLITE_BUSY_MS", "600000", 1);
    sl_store_t *s = open_ok(NULL);
    unsetenv("SLUICE_SQLITE_BUSY_MS");
    sqlite3 *other = peek();
    exec_ok(other, "BEGIN EXCLUSIVE");
    bg_apply_t a = {s, 1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bg_apply, &a), 0);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    sl_store_interrupt(s);
    pthread_join(th, NULL);
    cr_assert(a.rc < 0 && sl_err_is_retriable(a.rc), "retriable, got %s", sl_err_name(a.rc));
    exec_ok(other, "ROLLBACK");
    sqlite3_close(other);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 0, "nothing applied");
    cr_assert_eq(apply1(s, up("k", 5, "{}")), 1, "the store works after an interrupt");
    sl_store_destroy(s);
}

/* An interrupt with no apply running is for the next apply, which changes
 * nothing and says so (retriable); the one after works. */
Test(sqlite_store, an_interrupt_before_an_apply_ends_that_apply)
{
    sl_store_t *s = open_ok(NULL);
    sl_store_interrupt(s);
    sl_view_row_t row = up("k", 1, "{}");
    cr_assert_eq(sl_store_apply(s, &row, 1, NULL), SL_EAGAIN);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 0);
    cr_assert_eq(apply1(s, row), 1);
    sl_store_interrupt(NULL);
    sl_store_destroy(s);
}

/* ---- WAL checkpoints off the writer's path ----------------------------- */

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : st.st_size;
}

/* Rows with distinct keys and 1 kB entities, batch @p b of @p n rows. */
static void apply_batch(sl_store_t *s, int b, int n)
{
    static char ent[1024];
    memset(ent, 'x', sizeof ent - 1);
    ent[0] = '"';
    ent[sizeof ent - 2] = '"';
    sl_view_row_t *rows = calloc((size_t)n, sizeof *rows);
    char(*keys)[32] = calloc((size_t)n, sizeof *keys);
    cr_assert(rows && keys);
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "k-%d-%d", b, i);
        rows[i] = up(keys[i], 1, ent);
    }
    size_t applied = 0;
    cr_assert_eq(sl_store_apply(s, rows, (size_t)n, &applied), 0);
    cr_assert_eq(applied, (size_t)n);
    free(rows);
    free(keys);
}

/* Below SQLite's automatic threshold (1000 pages) a WAL used to wait for the
 * next large write or the close: now the store's checkpointer copies it
 * into the database within a second or so, while the store stays open. */
Test(sqlite_store, a_small_wal_is_checkpointed_while_idle)
{
    sl_store_t *s = open_ok(NULL);
    off_t before = file_size(dbpath);
    apply_batch(s, 0, 200); /* about 60 pages: far below 1000 */
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    cr_assert_gt(file_size(wal), 200 * 1024, "the rows went to the WAL");
    off_t after = before;
    for (int i = 0; i < 300 && after < before + 200 * 1024; i++) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        after = file_size(dbpath);
    }
    cr_assert_geq(after, before + 200 * 1024,
                  "the database file holds the rows (%lld bytes, %lld before) with the store open",
                  (long long)after, (long long)before);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), 200);
    sl_store_destroy(s);
}

/* A writer that never pauses: the WAL file still stays bounded (about 4000
 * pages and a transaction), far below what the writes add up to (60 MB). */
Test(sqlite_store, the_wal_stays_bounded_under_continuous_writes)
{
    enum { BATCHES = 120, ROWS = 500 };
    sl_store_t *s = open_ok(NULL);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    off_t peak = 0;
    for (int b = 0; b < BATCHES; b++) {
        apply_batch(s, b, ROWS);
        off_t w = file_size(wal);
        if (w > peak)
            peak = w;
    }
    cr_assert_lt(peak, 24 << 20, "WAL peak %lld bytes", (long long)peak);
    cr_assert_eq(q_int("SELECT count(*) FROM view", -1), BATCHES * ROWS);
    sl_store_destroy(s);
    cr_assert_eq(file_size(wal), 0, "the close checkpoints and removes the WAL");
}

/* ---- synchronous (view.synchronous) ----------------------------------- */

/* A probe of what the store's own connection asks of the disk: a VFS that
 * wraps SQLite's default one (the real unix VFS does every operation) and
 * counts the fsyncs of the WAL that end a commit, made on the thread that
 * applies. The store's connection is private, so its PRAGMA synchronous is
 * read back from what it does: FULL syncs the WAL in every COMMIT, NORMAL
 * never does (only a checkpoint, on the store's checkpointer thread, and a
 * WAL header written when the WAL starts over, which this probe tells from a
 * commit by the write that comes before the sync: the header at offset 0). */
typedef struct pfile_s {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    int wal;
    sqlite3_int64 last_write; /* offset of the last write to this file */
} pfile_t;

static sqlite3_vfs *p_real;
static sqlite3_vfs p_vfs;
static pthread_t p_writer;
static atomic_int p_commit_syncs, p_header_syncs;

#define REAL(f) (((pfile_t *)(f))->real)
static int p_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int p_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int p_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    ((pfile_t *)f)->last_write = o;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int p_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int p_sync(sqlite3_file *f, int flags)
{
    pfile_t *p = (pfile_t *)f;
    if (p->wal && pthread_equal(pthread_self(), p_writer))
        atomic_fetch_add(p->last_write == 0 ? &p_header_syncs : &p_commit_syncs, 1);
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int p_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int p_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int p_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int p_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int p_fctl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int p_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int p_caps(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int p_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int p_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void p_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int p_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int p_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int p_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods p_io = {
    3,          p_close,       p_read,      p_write, p_truncate, p_sync, p_size,
    p_lock,     p_unlock,      p_check,     p_fctl,  p_sector,   p_caps, p_shm_map,
    p_shm_lock, p_shm_barrier, p_shm_unmap, p_fetch, p_unfetch,
};

static int p_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    pfile_t *p = (pfile_t *)f;
    p->real = (sqlite3_file *)(p + 1);
    p->wal = (flags & SQLITE_OPEN_WAL) != 0;
    p->last_write = -1;
    int rc = p_real->xOpen(p_real, name, p->real, flags, out);
    /* SQLite closes a file whose pMethods is set, even when the open failed. */
    p->base.pMethods = p->real->pMethods ? &p_io : NULL;
    return rc;
}

/* Make the probe SQLite's default VFS for this test's process. */
static void probe_on(void)
{
    p_real = sqlite3_vfs_find(NULL);
    cr_assert(p_real && p_real->iVersion >= 1);
    p_vfs = *p_real; /* every other method is the real one's, with its pAppData */
    p_vfs.zName = "sl_sync_probe";
    p_vfs.szOsFile = (int)sizeof(pfile_t) + p_real->szOsFile;
    p_vfs.xOpen = p_open;
    p_vfs.pNext = NULL;
    cr_assert_eq(sqlite3_vfs_register(&p_vfs, 1), SQLITE_OK);
    p_writer = pthread_self();
}

static sl_store_t *open_sync(const char *mode)
{
    char err[256];
    sl_store_sqlite_opts_t o = {.synchronous = mode};
    sl_store_t *s = sl_store_sqlite_open_opts(dbpath, NULL, &o, err, sizeof err);
    cr_assert(s, "open with synchronous %s failed: %s", mode ? mode : "(default)", err);
    return s;
}

/* @p n applies of one row each: the WAL syncs that ended a commit. */
static int64_t sync_ts = 100;
static int commit_syncs_of(sl_store_t *s, int n)
{
    atomic_store(&p_commit_syncs, 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(apply1(s, up("k", sync_ts++, "{\"n\":1}")), 1);
    return atomic_load(&p_commit_syncs);
}

Test(sqlite_store, synchronous_full_fsyncs_the_wal_in_every_commit)
{
    probe_on();
    sl_store_t *s = open_sync("full");
    cr_assert_eq(commit_syncs_of(s, 5), 5, "one fsync of the WAL per commit");
    cr_assert_eq(view_ts("k"), 104);
    sl_store_destroy(s);
}

Test(sqlite_store, synchronous_normal_is_the_default_and_leaves_commits_unsynced)
{
    probe_on();
    sl_store_t *s = open_sync("normal");
    cr_assert_eq(commit_syncs_of(s, 5), 0, "NORMAL: no fsync in a commit");
    sl_store_destroy(s);
    for (int i = 0; i < 2; i++) {
        /* no options, and options that leave synchronous NULL: the same */
        sl_store_sqlite_opts_t zero = {0};
        char err[256];
        s = i ? sl_store_sqlite_open(dbpath, NULL, err, sizeof err)
              : sl_store_sqlite_open_opts(dbpath, NULL, &zero, err, sizeof err);
        cr_assert(s, "%s", err);
        cr_assert_eq(commit_syncs_of(s, 3), 0, "the default is NORMAL (open %d)", i);
        sl_store_destroy(s);
    }
    /* and the probe sees syncs at all: the same file, FULL */
    s = open_sync("full");
    cr_assert_eq(commit_syncs_of(s, 2), 2);
    sl_store_destroy(s);
}

Test(sqlite_store, synchronous_bad_value_is_an_open_error)
{
    static const char *const bad[] = {"off", "extra", "FULL", "Normal", "", "full "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "unchanged";
        sl_store_sqlite_opts_t o = {.synchronous = bad[i]};
        cr_assert_null(sl_store_sqlite_open_opts(dbpath, NULL, &o, err, sizeof err), "\"%s\"",
                       bad[i]);
        char want[128];
        snprintf(want, sizeof want, "synchronous: expected normal or full, got \"%s\"", bad[i]);
        cr_assert(strstr(err, want), "\"%s\": %s", bad[i], err);
        cr_assert_null(sl_store_sqlite_open_opts(dbpath, NULL, &o, NULL, 0), "errstr may be NULL");
    }
    cr_assert_eq(access(dbpath, F_OK), -1, "a refused open creates no database");
}
