/* Transitive end-to-end tests in isolation: the trigger's output of the
 * demo's change records is recorded as a fixture (tests/core/fixtures), and
 * the listener's tests replay that recording as their input, so the
 * contract between the two services is tested without a broker. And the
 * fixture format itself: every byte survives, bad lines are clear errors. */
#include "../test_util.h"
#include "helpers.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef SL_FIXTURES_DIR
#error "SL_FIXTURES_DIR: tests/meson.build passes tests/core/fixtures"
#endif

TestSuite(fixtures);

#define CHANGES SL_FIXTURES_DIR "/thing-changes.jsonl"
#define EVENTS SL_FIXTURES_DIR "/thing-events.jsonl"

/* A new empty file; @p what only names it. */
static char *temp_path(const char *what)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/sl-fixture-%s-XXXXXX", what);
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    return path;
}

/* ---- the trigger records, the listener replays ---- */

Test(fixtures, the_trigger_output_of_the_demo_changes_is_the_recorded_fixture)
{
    const char *kv[] = {"source.format", "json", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *events = sl_test_sink_new(t, "thing-events", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("cdc");
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    cr_assert_eq(sl_cdc(p, &o), 0);
    cr_assert_eq(sl_pipeline_batch(p, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(events)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char err[512];
    size_t pushed = 0;
    cr_assert_eq(sl_test_push_fixture(t, CHANGES, NULL, &pushed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pushed, 14);
    sl_test_advance(t, 1000); /* the batch's linger */
    cr_assert_eq(sl_test_sink_count(events), 11, "one event per good change record");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 3, "the demo's three poison records");
    cr_assert_eq(sl_test_committed(t, "thing-changes", 0), 14);
    /* Record, then compare with the recording the listener's test replays:
     * a change of the trigger's output must be a deliberate one
     * (SLUICE_RECORD_FIXTURES=1 rewrites the recording). */
    /* recording: the fixture itself; else a temporary file, removed after */
    int recording = getenv("SLUICE_RECORD_FIXTURES") != NULL;
    const char *rec = recording ? EVENTS : temp_path("jsonl");
    cr_assert_eq(sl_test_sink_save(events, rec, err, sizeof err), 0, "%s", err);
    char *got = tu_slurp(rec), *want = tu_slurp(EVENTS);
    cr_assert(got && want);
    cr_expect_str_eq(got, want,
                     "the trigger's output is not the recorded contract (" EVENTS
                     "): re-record with SLUICE_RECORD_FIXTURES=1 if the change is meant");
    free(got);
    free(want);
    if (!recording)
        unlink(rec);
    sl_test_destroy(t);
}

static char *view_one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

Test(fixtures, the_listener_view_of_the_recorded_trigger_output)
{
    char *db_path = temp_path("db");
    char err[512];
    sl_store_t *store = sl_store_sqlite_open(db_path, NULL, err, sizeof err);
    cr_assert(store, "%s", err);
    sl_test_t *t = driver(NULL);
    sl_pipeline_t *p = sl_pipeline_new("materialize");
    const char *types[] = {"thing-created", "thing-updated", "thing-deleted"};
    sl_materialize_opts_t o = {.types = types,
                               .type_count = 3,
                               .match = SL_MATCH_EXACT,
                               .key_pointer = "/thing/id",
                               .store = store,
                               .batch = {0, 0, -1}};
    cr_assert_eq(sl_materialize(p, &o), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    size_t pushed = 0;
    cr_assert_eq(sl_test_push_fixture(t, EVENTS, NULL, &pushed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pushed, 11);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_committed(t, "thing-events", 0), 11, "every event applied");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t); /* and the pipeline, which owns the store */

    /* The newest state of every thing, as the demo's change records left it:
     * thing 1 at v3, thing 2 removed then created again and at v3, thing 3
     * removed. */
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    char *n = view_one(db, "SELECT count(*) FROM view");
    cr_expect_str_eq(n, "2");
    free(n);
    char *e1 = view_one(db, "SELECT entity FROM view WHERE key = 'thing-00001'");
    cr_assert(e1, "thing-00001 is in the view");
    cr_expect(strstr(e1, "\"name\":\"Thing 1 v3\""), "%s", e1);
    cr_expect(strstr(e1, "\"price\":1.03"), "numbers as written: %s", e1);
    free(e1);
    char *e2 = view_one(db, "SELECT entity FROM view WHERE key = 'thing-00002'");
    cr_assert(e2, "thing-00002 is in the view again");
    cr_expect(strstr(e2, "\"name\":\"Thing 2 v3\""), "%s", e2);
    free(e2);
    char *d = view_one(db, "SELECT key FROM view_deleted WHERE key = 'thing-00003'");
    cr_expect_str_eq(d, "thing-00003", "thing-00003 was removed");
    free(d);
    char *ts = view_one(db, "SELECT timestamp FROM view WHERE key = 'thing-00001'");
    cr_expect_str_eq(ts, "1767225600070", "the newest change's timestamp");
    free(ts);
    sqlite3_close(db);
    unlink(db_path);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db_path);
    unlink(wal);
}

/* ---- the format ---- */

typedef struct bin_s {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} bin_t;

/* Outputs of a service under test: keys of any bytes; values that are events
 * (escapes, UTF-8, an escaped control character), and one that is not
 * UTF-8. */
#define BIN(k, v)                                                                                  \
    {                                                                                              \
        k, sizeof k - 1, v, sizeof v - 1                                                           \
    }
static const bin_t bins[] = {
    BIN("plain", "{\"type\":\"a\"}"),
    BIN("\xff\xfe\x00k", "{\"type\":\"b\",\"s\":\"caf\xc3\xa9 \\u0001 \\\"q\\\" \\n\"}"),
    BIN("", "{\"type\":\"c\",\"e\":\"\xf0\x9f\x98\x80\"}"),
    BIN("k", "\xff\x00 not UTF-8"),
};
#define NBINS (sizeof bins / sizeof bins[0])

/* Outputs bins[i] for record i. */
static sl_result_t bin_map(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const bin_t *b = &bins[sl_uow_record(u)->offset];
    return sl_uow_set_output(u, b->key, b->key_len, b->value, b->value_len) ? SL_RETRY : SL_OK;
}

/* The records a fixture pushes, as the engine saw them. */
typedef struct seen_s {
    size_t n;
    bin_t got[8];
    char store[8][64];
    char hdr[8][64];
    int64_t offset[8];
    int32_t partition[8];
} seen_t;

static seen_t g_seen;

static sl_result_t record_it(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    size_t i = g_seen.n++;
    cr_assert_lt(i, 8);
    cr_assert_leq(r->key_len + r->value_len, sizeof g_seen.store[i]);
    memcpy(g_seen.store[i], r->key ? r->key : "", r->key_len);
    memcpy(g_seen.store[i] + r->key_len, r->value ? r->value : "", r->value_len);
    g_seen.got[i] = (bin_t){r->key, r->key_len, r->value, r->value_len};
    g_seen.offset[i] = r->offset;
    g_seen.partition[i] = r->partition;
    size_t o = 0;
    for (size_t h = 0; h < r->header_count; h++)
        o += (size_t)snprintf(g_seen.hdr[i] + o, sizeof g_seen.hdr[i] - o, "%s=%.*s;",
                              r->headers[h].name, (int)r->headers[h].value_len,
                              (const char *)r->headers[h].value);
    return SL_OK;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(fixtures, every_byte_survives_save_and_push)
{
    memset(&g_seen, 0, sizeof g_seen);
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "copy", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("copy");
    cr_assert_eq(sl_pipeline_map(p, bin_map, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    for (size_t i = 0; i < NBINS; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"type\":\"x\"}"), 0);
    cr_assert_eq(sl_test_sink_count(out), NBINS);
    char *path = temp_path("jsonl");
    char err[256];
    cr_assert_eq(sl_test_sink_save(out, path, err, sizeof err), 0, "%s", err);
    sl_test_destroy(t);
    char *text = tu_slurp(path);
    cr_assert(strstr(text, "\"key_b64\":\"//4Aaw==\""), "bytes that are not UTF-8 in base64: %s",
              text);
    cr_assert(strstr(text, "\"value_b64\":\"/wAgbm90IFVURi04\""), "%s", text);
    cr_assert(strstr(text,
                     "{\"topic\":\"copy\",\"key\":\"plain\",\"value\":\"{\\\"type\\\":\\\"a\\\"}\","
                     "\"pipeline\":\"copy\"}\n"),
              "%s", text);
    free(text);

    /* Replayed: the records are the outputs, byte for byte. The one that
     * is not UTF-8 is no event: a fault holding it. */
    t = driver(NULL);
    sl_test_sink_t *sink = sl_test_sink_new(t, "seen", 0, 0, 0);
    p = sl_pipeline_new("seen");
    sl_pipeline_map(p, record_it, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(sink));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    size_t pushed;
    cr_assert_eq(sl_test_push_fixture(t, path, NULL, &pushed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pushed, NBINS);
    cr_assert_eq(g_seen.n, NBINS - 1);
    for (size_t i = 0; i + 1 < NBINS; i++) {
        cr_expect_eq(g_seen.got[i].key_len, bins[i].key_len, "record %zu key", i);
        cr_expect_eq(g_seen.got[i].value_len, bins[i].value_len, "record %zu value", i);
        cr_expect(!memcmp(g_seen.store[i], bins[i].key, bins[i].key_len) &&
                      !memcmp(g_seen.store[i] + bins[i].key_len, bins[i].value, bins[i].value_len),
                  "record %zu, byte for byte", i);
    }
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1);
    cr_assert_eq(sl_test_committed(t, "copy", 0), (int64_t)NBINS, "every record accounted for");
    sl_test_destroy(t);
    unlink(path);
}

Test(fixtures, bytes_headers_and_coordinates_are_pushed_as_written)
{
    memset(&g_seen, 0, sizeof g_seen);
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("rec");
    sl_pipeline_map(p, record_it, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(out));
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char *path = temp_path("jsonl");
    write_file(path, "{\"topic\":\"a\",\"key\":\"k1\",\"value\":\"{\\\"type\\\":\\\"x\\\"}\"}\n"
                     "\n"
                     "{\"topic\":\"a\",\"partition\":3,\"offset\":40,\"key_b64\":\"/w==\","
                     "\"value_json\":{\"type\":\"y\",\"price\":80.22}}\n"
                     "{\"topic\":\"a\",\"value_b64\":\"/wABAg==\",\"headers\":["
                     "{\"name\":\"ce_specversion\",\"value\":\"1.0\"},"
                     "{\"name\":\"ce_type\",\"value\":\"z\"},{\"name\":\"ce_id\",\"value\":\"1\"},"
                     "{\"name\":\"content-type\",\"value_b64\":\"b2N0ZXRz\"}],"
                     "\"pipeline\":\"ignored\"}\n");
    char err[256];
    size_t pushed;
    cr_assert_eq(sl_test_push_fixture(t, path, NULL, &pushed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pushed, 3, "the blank line is skipped");
    cr_assert_eq(g_seen.n, 3);
    cr_assert(g_seen.got[0].key_len == 2 && !memcmp(g_seen.store[0], "k1", 2));
    cr_assert_eq(g_seen.partition[1], 3);
    cr_assert_eq(g_seen.offset[1], 40);
    cr_assert_eq(g_seen.got[1].key_len, 1);
    cr_assert_eq((unsigned char)g_seen.store[1][0], 0xff);
    cr_assert(!memcmp(g_seen.store[1] + 1, "{\"type\":\"y\",\"price\":80.22}", 26),
              "value_json as compact text: %.*s", (int)g_seen.got[1].value_len,
              g_seen.store[1] + 1);
    cr_assert_eq(g_seen.got[2].key_len, 0);
    cr_assert_str_eq(g_seen.hdr[2], "ce_specversion=1.0;ce_type=z;ce_id=1;content-type=octets;");
    cr_assert(g_seen.got[2].value_len == 4 && !memcmp(g_seen.store[2], "\xff\x00\x01\x02", 4),
              "value_b64: the bytes (CloudEvents binary mode: any content)");
    cr_assert_eq(sl_test_sink_count(out), 3);
    unlink(path);
    sl_test_destroy(t);
}

Test(fixtures, bad_lines_are_clear_errors_with_the_line_number)
{
    static const struct {
        const char *line;
        int rc;
        const char *says;
    } cases[] = {
        {"{\"topic\":\"a\",\"value\":\"{}\"", SL_EJSON, ":2: not JSON"},
        {"[1,2]", SL_EJSON, ":2: not a JSON object"},
        {"{\"value\":\"{}\"}", SL_EFIELD, ":2: \"topic\" must be a non-empty string"},
        {"{\"topic\":\"a\"}", SL_EFIELD, ":2: no \"value\""},
        {"{\"topic\":\"a\",\"value\":1}", SL_EFIELD, ":2: \"value\" must be a string or null"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"value_b64\":\"eA==\"}", SL_EFIELD,
         ":2: give only one of \"value\""},
        {"{\"topic\":\"a\",\"value_b64\":\"not base64!\"}", SL_EFIELD,
         ":2: \"value_b64\" is not standard padded base64"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"partition\":-1}", SL_EFIELD,
         ":2: \"partition\" must be an integer from 0"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"offset\":\"7\"}", SL_EFIELD,
         ":2: \"offset\" must be an integer"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"vaule\":\"y\"}", SL_EFIELD,
         ":2: unknown member \"vaule\""},
        {"{\"topic\":\"a\",\"value\":\"x\",\"headers\":{}}", SL_EFIELD,
         ":2: \"headers\" must be an array"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"headers\":[{\"value\":\"v\"}]}", SL_EFIELD,
         ":2: header 0: \"name\" must be a non-empty string"},
        {"{\"topic\":\"a\",\"value\":\"x\",\"headers\":[{\"name\":\"h\",\"val\":\"v\"}]}",
         SL_EFIELD, ":2: header 0: unknown member \"val\""},
        {"{\"topic\":\"a\",\"value\":\"x\",\"offset\":0}", SL_EINVAL,
         ":2: cannot push the record: "},
    };
    char *path = temp_path("jsonl");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_test_t *t = driver(NULL);
        sl_test_sink_t *out = sl_test_sink_new(t, "out", 0, 0, 0);
        sl_pipeline_t *p = sl_pipeline_new("p");
        sl_pipeline_sink(p, sl_test_sink_handle(out));
        cr_assert_eq(sl_test_add_pipeline(t, p), 0);
        char text[512];
        snprintf(text, sizeof text,
                 "{\"topic\":\"a\",\"offset\":0,\"value\":\"{\\\"type\\\":"
                 "\\\"t\\\"}\"}\n%s\n{\"topic\":\"a\",\"value\":\"x\"}\n",
                 cases[i].line);
        write_file(path, text);
        char err[512] = "";
        size_t pushed = 99;
        int rc = sl_test_push_fixture(t, path, NULL, &pushed, err, sizeof err);
        cr_expect_eq(rc, cases[i].rc, "%s: got %s (%s)", cases[i].line, sl_err_name(rc), err);
        cr_expect(strstr(err, cases[i].says) && !strncmp(err, path, strlen(path)),
                  "%s: the message names the file and line: %s", cases[i].line, err);
        cr_expect_eq(pushed, 1, "%s: the line before was pushed, none after", cases[i].line);
        cr_expect_eq(sl_test_sink_count(out), 1, "%s", cases[i].line);
        sl_test_destroy(t);
    }
    unlink(path);
    sl_test_t *t = driver(NULL);
    char err[256];
    cr_assert_eq(sl_test_push_fixture(t, "/nonexistent/x.jsonl", NULL, NULL, err, sizeof err),
                 SL_EIO);
    cr_assert(strstr(err, "/nonexistent/x.jsonl: "), "%s", err);
    cr_assert_eq(sl_test_push_fixture(NULL, path, NULL, NULL, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_test_sink_save(NULL, path, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_test_sink_save(sl_test_faults(t), "/nonexistent/dir/x", err, sizeof err),
                 SL_EIO);
    sl_test_destroy(t);
}
