/* sluice — the embedded SQLite view store (sluice/store.h).
 *
 * Each apply is one BEGIN IMMEDIATE transaction. Per row, one lookup reads
 * the key's stored and tombstone timestamps, and the C code decides: the
 * decision then needs no conditional SQL, and holds even if rows and
 * tombstones were ever written by someone else. Statements are prepared
 * once at open; rows are bound without a copy (SQLITE_STATIC), since they
 * are only stepped while the caller's rows are alive.
 *
 * WAL checkpoints run off the apply: SQLite's automatic checkpoint would
 * copy the WAL into the database and fsync both inside the COMMIT of the
 * apply that crossed 1000 pages, a stall of the writer. Instead the
 * writer's WAL hook only signals a thread of the store's own, which
 * checkpoints (PASSIVE: never blocks the writer or readers) on a connection
 * of its own, when the WAL passed CKPT_PAGES and at least every CKPT_MS
 * while anything is left in it; past CKPT_HARD_PAGES the writer checkpoints
 * itself (see there). */
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/store.h"
#include "store/sqlite_util.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE_MAX 64
#define BUSY_MS_DEFAULT 5000
/* Internal, for tests only: overrides the 5 s busy timeout (milliseconds,
 * 0 = fail at once), so a test of SL_EBUSY does not wait 5 s. Read at open. */
#define BUSY_MS_ENV "SLUICE_SQLITE_BUSY_MS"
/* WAL pages after which a commit asks for a checkpoint (SQLite's own
 * automatic checkpoint threshold), and the longest time WAL content waits
 * for one when no more commits come. */
#define CKPT_PAGES 1000
#define CKPT_MS 1000
/* A writer that never pauses never finds the WAL wholly copied, so never
 * starts it over: past this size it checkpoints itself after its commit
 * (RESTART: waiting for the thread's checkpoint and old readers, so that
 * the WAL starts over; the thread has copied most of it already), which
 * bounds the WAL file. */
#define CKPT_HARD_PAGES 4000

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET,  /* (stored timestamp or NULL, tombstone timestamp or NULL) of a key */
    ST_PUT,  /* upsert a live row */
    ST_DEL,  /* delete a live row */
    ST_TPUT, /* upsert a tombstone */
    ST_TDEL, /* delete a tombstone */
    ST_COUNT
};

typedef struct sqstore_s {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int busy_ms;
    int64_t busy_since; /* start of the current wait for a lock (monotonic ms) */
    atomic_int stop;    /* sl_store_interrupt() was called */
    /* the checkpointer (file databases only) */
    sqlite3 *ck_db;
    pthread_t ck_thread;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_on;      /* the thread runs */
    int ck_want;    /* a commit passed CKPT_PAGES (under ck_mu) */
    int ck_quit;    /* the store closes (under ck_mu) */
    int ck_pending; /* frames in the WAL at the last commit (under ck_mu) */
} sqstore_t;

typedef struct col_s {
    const char *name;
    const char *type;
    int pk;
} col_t;

static const col_t view_cols[] = {
    {"key", "TEXT", 1},      {"timestamp", "INTEGER", 0}, {"type", "TEXT", 0},
    {"event_id", "TEXT", 0}, {"entity", "TEXT", 0},       {"updated_at", "INTEGER", 0},
};

static const col_t tomb_cols[] = {
    {"key", "TEXT", 1},
    {"timestamp", "INTEGER", 0},
    {"event_id", "TEXT", 0},
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int busy_wait(void *arg, int count)
{
    sqstore_t *s = arg;
    return sl__sqlite_busy_step(&s->stop, &s->busy_since, s->busy_ms, count);
}

static void sq_interrupt(void *opaque)
{
    sqstore_t *s = opaque;
    atomic_store(&s->stop, 1);
    sqlite3_interrupt(s->db);
}

static int valid_table(const char *t, char *errstr, size_t errstr_size)
{
    size_t n = strlen(t);
    if (n == 0 || n > TABLE_MAX) {
        sl__errf(errstr, errstr_size, "sqlite store: table name must be 1 to %d bytes, got %zu",
                 TABLE_MAX, n);
        return 0;
    }
    if (t[0] >= '0' && t[0] <= '9') {
        sl__errf(errstr, errstr_size, "sqlite store: table name \"%s\" starts with a digit", t);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            sl__errf(errstr, errstr_size,
                     "sqlite store: table name \"%s\": only letters, digits and '_' are allowed",
                     t);
            return 0;
        }
    }
    /* SQLite reserves these and would refuse CREATE with a vaguer message. */
    if (sqlite3_strnicmp(t, "sqlite_", 7) == 0) {
        sl__errf(errstr, errstr_size, "sqlite store: table name \"%s\" is reserved by SQLite", t);
        return 0;
    }
    return 1;
}

/* Run a statement that returns no rows, once. */
static int exec_sql(sqlite3 *db, const char *sql, char *errstr, size_t errstr_size)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        sl__errf(errstr, errstr_size, "sqlite store: %s: %s", sql, sqlite3_errmsg(db));
    return rc;
}

static int set_wal(sqlite3 *db, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sl__errf(errstr, errstr_size, "sqlite store: cannot set WAL mode: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc == SQLITE_OK || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    const char *file = sqlite3_db_filename(db, "main");
    rc = SQLITE_OK;
    /* An in-memory or temporary database cannot be WAL, and needs not be. */
    if (file && file[0] && (!mode || sqlite3_stricmp(mode, "wal") != 0)) {
        sl__errf(errstr, errstr_size, "sqlite store: cannot use WAL mode (journal mode is %s)",
                 mode ? mode : "unknown");
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Compare an existing table with the layout the store writes. Nullability
 * and defaults are not compared: they do not change what the store does. */
static int check_layout(sqlite3 *db, const char *table, const col_t *cols, size_t ncols,
                        char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = NULL;
    /* CREATE TABLE IF NOT EXISTS is satisfied by an SQL view of that name too. */
    int rc = sqlite3_prepare_v2(db,
                                "SELECT 1 FROM sqlite_schema WHERE type = 'view' AND "
                                "name = ?1 COLLATE NOCASE",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sl__errf(errstr, errstr_size, "sqlite store: \"%s\" is an SQL view, not a table", table);
        sqlite3_finalize(st);
        return SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK || rc == SQLITE_DONE)
        rc = sqlite3_prepare_v2(db, "SELECT name, type, pk FROM pragma_table_info(?1)", -1, &st,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        sl__errf(errstr, errstr_size, "sqlite store: cannot read the layout of \"%s\": %s", table,
                 sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc;
    }
    size_t seen = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int pk = sqlite3_column_int(st, 2) != 0;
        const col_t *want = NULL;
        for (size_t i = 0; i < ncols && name; i++)
            if (sqlite3_stricmp(name, cols[i].name) == 0)
                want = &cols[i];
        if (!want) {
            sl__errf(errstr, errstr_size,
                     "sqlite store: table \"%s\" exists with another layout: unexpected column "
                     "\"%s\"",
                     table, name ? name : "");
            sqlite3_finalize(st);
            return SQLITE_ERROR;
        }
        if (!type || sqlite3_stricmp(type, want->type) != 0 || pk != want->pk) {
            sl__errf(errstr, errstr_size,
                     "sqlite store: table \"%s\" exists with another layout: column \"%s\" is "
                     "\"%s%s\", expected \"%s%s\"",
                     table, name, type ? type : "", pk ? " PRIMARY KEY" : "", want->type,
                     want->pk ? " PRIMARY KEY" : "");
            sqlite3_finalize(st);
            return SQLITE_ERROR;
        }
        seen++;
    }
    if (rc != SQLITE_DONE) {
        sl__errf(errstr, errstr_size, "sqlite store: cannot read the layout of \"%s\": %s", table,
                 sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (seen != ncols) {
        /* Every column seen was expected and names are unique: some are missing. */
        sl__errf(errstr, errstr_size,
                 "sqlite store: table \"%s\" exists with another layout: %zu of the %zu "
                 "expected columns are missing",
                 table, ncols - seen, ncols);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

static int create_tables(sqlite3 *db, const char *t, char *errstr, size_t errstr_size)
{
    char sql[512], tomb[TABLE_MAX + 16];
    snprintf(tomb, sizeof tomb, "%s_deleted", t);
    int rc = exec_sql(db, "BEGIN IMMEDIATE", errstr, errstr_size);
    if (rc != SQLITE_OK)
        return rc;
    /* Quoted: a valid name may still be an SQL keyword ("order"). */
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS \"%s\" ("
             "key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, type TEXT NOT NULL, "
             "event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL)",
             t);
    rc = exec_sql(db, sql, errstr, errstr_size);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE IF NOT EXISTS \"%s\" ("
                 "key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, event_id TEXT)",
                 tomb);
        rc = exec_sql(db, sql, errstr, errstr_size);
    }
    if (rc == SQLITE_OK)
        rc = check_layout(db, t, view_cols, sizeof view_cols / sizeof view_cols[0], errstr,
                          errstr_size);
    if (rc == SQLITE_OK)
        rc = check_layout(db, tomb, tomb_cols, sizeof tomb_cols / sizeof tomb_cols[0], errstr,
                          errstr_size);
    if (rc == SQLITE_OK)
        rc = exec_sql(db, "COMMIT", errstr, errstr_size);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- checkpoints off the writer's path ---- */

/* SQLite calls this after each commit on the writer's connection, with the
 * WAL's size in pages: the writer only signals. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sqstore_t *s = arg;
    if (pages >= CKPT_HARD_PAGES) {
        /* RESTART, not PASSIVE, and retried while busy (for at most about
         * 0.2 s: the checkpoint lock does not go through the busy handler
         * here): the thread's checkpoint ends, then this one copies the rest
         * and the next commit starts the WAL over. A single PASSIVE one found
         * the thread at it whenever that thread lost its core, and the WAL
         * grew past 40 MB on a loaded machine (sqlite_store/
         * the_wal_stays_bounded_...). Still busy, or failed (the disk): the
         * next commit tries again. */
        for (int tries = 0; tries < 100; tries++) {
            if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL) !=
                SQLITE_BUSY)
                break;
            struct timespec ms2 = {0, 2000000};
            nanosleep(&ms2, NULL); /* the thread is at it: it ends in a moment */
        }
        return SQLITE_OK;
    }
    pthread_mutex_lock(&s->ck_mu);
    s->ck_pending = pages;
    if (pages >= CKPT_PAGES && !s->ck_want) {
        s->ck_want = 1;
        pthread_cond_signal(&s->ck_cv);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return SQLITE_OK;
}

static void *ck_main(void *arg)
{
    sqstore_t *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    while (!s->ck_quit) {
        if (!s->ck_want) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += CKPT_MS / 1000;
            until.tv_nsec += (long)(CKPT_MS % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->ck_cv, &s->ck_mu, &until);
            if (s->ck_quit)
                break;
            /* the timer: only when something is left to copy */
            if (!s->ck_want && !s->ck_pending)
                continue;
        }
        s->ck_want = 0;
        s->ck_pending = 0;
        pthread_mutex_unlock(&s->ck_mu);
        /* PASSIVE copies what no reader still needs and never waits for a
         * lock: what it leaves is copied by a later one. A failure (the disk)
         * is the writer's to see on its next commit; here it only means the
         * WAL stays longer. */
        (void)sqlite3_wal_checkpoint_v2(s->ck_db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* Start the checkpointer of a file database; an in-memory or temporary one
 * has no WAL. On failure the writer keeps SQLite's automatic checkpoints. */
static void ck_start(sqstore_t *s)
{
    const char *file = sqlite3_db_filename(s->db, "main");
    if (!file || !file[0])
        return;
    /* A connection knows the database is WAL once it has read it: a
     * checkpoint before that does nothing. */
    if (sqlite3_open_v2(file, &s->ck_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(s->ck_db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
            SQLITE_OK) {
        sqlite3_close_v2(s->ck_db);
        s->ck_db = NULL;
        return;
    }
    if (pthread_mutex_init(&s->ck_mu, NULL))
        goto no_thread;
    if (pthread_cond_init(&s->ck_cv, NULL)) {
        pthread_mutex_destroy(&s->ck_mu);
        goto no_thread;
    }
    if (pthread_create(&s->ck_thread, NULL, ck_main, s)) {
        pthread_cond_destroy(&s->ck_cv);
        pthread_mutex_destroy(&s->ck_mu);
        goto no_thread;
    }
    s->ck_on = 1;
    sqlite3_wal_hook(s->db, wal_hook, s); /* replaces the automatic checkpoint */
    return;
no_thread:
    sqlite3_close_v2(s->ck_db);
    s->ck_db = NULL;
}

static void ck_stop(sqstore_t *s)
{
    if (!s->ck_on)
        return;
    sqlite3_wal_hook(s->db, NULL, NULL);
    pthread_mutex_lock(&s->ck_mu);
    s->ck_quit = 1;
    pthread_cond_signal(&s->ck_cv);
    pthread_mutex_unlock(&s->ck_mu);
    pthread_join(s->ck_thread, NULL);
    pthread_cond_destroy(&s->ck_cv);
    pthread_mutex_destroy(&s->ck_mu);
    sqlite3_close_v2(s->ck_db);
    s->ck_db = NULL;
    s->ck_on = 0;
}

static int prepare_all(sqstore_t *s, const char *t, char *errstr, size_t errstr_size)
{
    char sql[ST_COUNT][400];
    snprintf(sql[ST_BEGIN], sizeof sql[0], "BEGIN IMMEDIATE");
    snprintf(sql[ST_COMMIT], sizeof sql[0], "COMMIT");
    snprintf(sql[ST_ROLLBACK], sizeof sql[0], "ROLLBACK");
    snprintf(sql[ST_GET], sizeof sql[0],
             "SELECT (SELECT timestamp FROM \"%s\" WHERE key = ?1), "
             "(SELECT timestamp FROM \"%s_deleted\" WHERE key = ?1)",
             t, t);
    /* An update, not INSERT OR REPLACE: REPLACE deletes then inserts, which
     * users' triggers on the view would see as a delete. */
    snprintf(sql[ST_PUT], sizeof sql[0],
             "INSERT INTO \"%s\" (key, timestamp, type, event_id, entity, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET "
             "timestamp = excluded.timestamp, type = excluded.type, "
             "event_id = excluded.event_id, entity = excluded.entity, "
             "updated_at = excluded.updated_at",
             t);
    snprintf(sql[ST_DEL], sizeof sql[0], "DELETE FROM \"%s\" WHERE key = ?1", t);
    snprintf(sql[ST_TPUT], sizeof sql[0],
             "INSERT INTO \"%s_deleted\" (key, timestamp, event_id) VALUES (?1, ?2, ?3) "
             "ON CONFLICT (key) DO UPDATE SET timestamp = excluded.timestamp, "
             "event_id = excluded.event_id",
             t);
    snprintf(sql[ST_TDEL], sizeof sql[0], "DELETE FROM \"%s_deleted\" WHERE key = ?1", t);
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            sl__errf(errstr, errstr_size, "sqlite store: cannot prepare \"%s\": %s", sql[i],
                     sqlite3_errmsg(s->db));
            return rc;
        }
    }
    return SQLITE_OK;
}

static void sq_destroy(void *opaque)
{
    sqstore_t *s = opaque;
    if (!s)
        return;
    /* first: the writer's close, the last one, checkpoints what is left and
     * removes the WAL */
    ck_stop(s);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    sl_free(s);
}

/* Step a statement that returns no rows, and make it ready for the next use. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sl__sqlite_err(rc);
}

static int bind_text(sqlite3_stmt *st, int i, const char *p, size_t len)
{
    int rc = sqlite3_bind_text64(st, i, p, (sqlite3_uint64)len, SQLITE_STATIC, SQLITE_UTF8);
    return rc == SQLITE_OK ? 0 : sl__sqlite_err(rc);
}

static int bind_key(sqlite3_stmt *st, const sl_view_row_t *r)
{
    return bind_text(st, 1, r->key, r->key_len);
}

/* Apply one row inside the open transaction; *changed tells whether it did. */
static int apply_row(sqstore_t *s, const sl_view_row_t *r, int64_t now, int *changed)
{
    sqlite3_stmt *get = s->st[ST_GET];
    int err;
    *changed = 0;
    if ((err = bind_key(get, r)))
        return err;
    int rc = sqlite3_step(get);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(get);
        return sl__sqlite_err(rc);
    }
    int has_row = sqlite3_column_type(get, 0) != SQLITE_NULL;
    int has_tomb = sqlite3_column_type(get, 1) != SQLITE_NULL;
    int64_t row_ts = sqlite3_column_int64(get, 0), tomb_ts = sqlite3_column_int64(get, 1);
    sqlite3_reset(get);
    if ((has_row && r->timestamp_ms <= row_ts) || (has_tomb && r->timestamp_ms <= tomb_ts))
        return 0;

    if (!r->deleted) {
        sqlite3_stmt *put = s->st[ST_PUT];
        if ((err = bind_key(put, r)) || (err = bind_text(put, 3, r->type, r->type_len)) ||
            (err = bind_text(put, 4, r->event_id, r->event_id_len)) ||
            (err = bind_text(put, 5, r->entity, r->entity_len)))
            return err;
        sqlite3_bind_int64(put, 2, r->timestamp_ms);
        sqlite3_bind_int64(put, 6, now);
        if ((err = run(put)))
            return err;
        if (has_tomb) {
            if ((err = bind_key(s->st[ST_TDEL], r)) || (err = run(s->st[ST_TDEL])))
                return err;
        }
    } else {
        if (has_row) {
            if ((err = bind_key(s->st[ST_DEL], r)) || (err = run(s->st[ST_DEL])))
                return err;
        }
        sqlite3_stmt *tput = s->st[ST_TPUT];
        if ((err = bind_key(tput, r)) || (err = bind_text(tput, 3, r->event_id, r->event_id_len)))
            return err;
        sqlite3_bind_int64(tput, 2, r->timestamp_ms);
        if ((err = run(tput)))
            return err;
    }
    *changed = 1;
    return 0;
}

static int sq_apply(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    sqstore_t *s = opaque;
    size_t done = 0;
    int err = 0;
    if (applied)
        *applied = 0;
    /* An interrupt that came before this apply started is meant for it. */
    if (atomic_exchange(&s->stop, 0))
        return SL_EAGAIN;
    /* Checked before the transaction: a bad row is the caller's bug, and the
     * batch must not half-apply because of it. A NULL key would even be
     * stored, as SQLite allows NULL in a TEXT PRIMARY KEY. */
    for (size_t i = 0; i < n; i++) {
        const sl_view_row_t *r = &rows[i];
        if (!r->key || (!r->deleted && (!r->type || !r->entity)))
            return SL_EINVAL;
    }
    /* A transaction left open by a failed ROLLBACK would make every later
     * BEGIN fail; end it so one bad moment does not poison the store. */
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    if ((err = run(s->st[ST_BEGIN]))) {
        atomic_store(&s->stop, 0); /* as at fail: below */
        return err;
    }
    int64_t now = wall_ms();
    for (size_t i = 0; i < n; i++) {
        int changed;
        if ((err = apply_row(s, &rows[i], now, &changed)))
            goto fail;
        done += (size_t)changed;
    }
    if ((err = run(s->st[ST_COMMIT])))
        goto fail;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_clear_bindings(s->st[i]);
    if (applied)
        *applied = done;
    return 0;

fail:
    /* SQLite rolls back by itself after some errors (full disk, I/O, out of
     * memory); otherwise the transaction is still open. */
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_clear_bindings(s->st[i]);
    /* This apply ended early: an interrupt that asked for it is answered. */
    atomic_store(&s->stop, 0);
    return err;
}

static const sl_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .apply = sq_apply,
    .destroy = sq_destroy,
    .interrupt = sq_interrupt,
};

static int busy_ms(void)
{
    const char *v = getenv(BUSY_MS_ENV);
    if (!v || !*v)
        return BUSY_MS_DEFAULT;
    char *end;
    long ms = strtol(v, &end, 10);
    if (*end || ms < 0 || ms > INT_MAX)
        return BUSY_MS_DEFAULT;
    return (int)ms;
}

/* The PRAGMA for a view.synchronous value, or NULL when it is not one. WAL
 * makes NORMAL safe against a crash of the process; FULL adds an fsync of
 * the WAL at every commit, so a committed transaction survives a power
 * loss too. OFF and EXTRA are not offered: OFF risks the database itself on
 * a power loss, and EXTRA only differs from FULL in DELETE journal mode. */
static const char *sync_pragma(const char *v)
{
    if (!v || !strcmp(v, "normal"))
        return "PRAGMA synchronous=NORMAL";
    if (!strcmp(v, "full"))
        return "PRAGMA synchronous=FULL";
    return NULL;
}

sl_store_t *sl_store_sqlite_open(const char *path, const char *table, char *errstr,
                                 size_t errstr_size)
{
    return sl_store_sqlite_open_opts(path, table, NULL, errstr, errstr_size);
}

sl_store_t *sl_store_sqlite_open_opts(const char *path, const char *table,
                                      const sl_store_sqlite_opts_t *opts, char *errstr,
                                      size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (!table)
        table = "view";
    if (!path) {
        sl__errf(errstr, errstr_size, "sqlite store: path is required");
        return NULL;
    }
    if (!valid_table(table, errstr, errstr_size))
        return NULL;
    const char *sync = sync_pragma(opts ? opts->synchronous : NULL);
    if (!sync) {
        sl__errf(errstr, errstr_size,
                 "sqlite store: synchronous: expected normal or full, got \"%s\"",
                 opts->synchronous);
        return NULL;
    }
    sqstore_t *s = sl_calloc(1, sizeof *s);
    if (!s) {
        sl__errf(errstr, errstr_size, "sqlite store: out of memory");
        return NULL;
    }
    /* NOMUTEX: the store is used by one thread at a time, so the connection
     * needs no lock of its own; it may still move between threads. */
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sl__errf(errstr, errstr_size, "sqlite store: cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* SQLite falls back to read-only when the file is not writable: say so
     * now rather than fail every apply later. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        sl__errf(errstr, errstr_size, "sqlite store: %s is read-only", path);
        goto fail;
    }
    s->busy_ms = busy_ms();
    sqlite3_busy_handler(s->db, busy_wait, s);
    /* The busy timeout comes first: switching to WAL waits for other users. */
    if (set_wal(s->db, errstr, errstr_size) != SQLITE_OK ||
        exec_sql(s->db, sync, errstr, errstr_size) != SQLITE_OK ||
        create_tables(s->db, table, errstr, errstr_size) != SQLITE_OK ||
        prepare_all(s, table, errstr, errstr_size) != SQLITE_OK)
        goto fail;
    ck_start(s);
    sl_store_t *store = sl_store_new(&sqlite_ops, s);
    if (!store) {
        sl__errf(errstr, errstr_size, "sqlite store: out of memory");
        goto fail;
    }
    return store;

fail:
    sq_destroy(s);
    return NULL;
}
