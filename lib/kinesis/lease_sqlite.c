/* sluice — the Kinesis lease table in SQLite: a file shared by the workers
 * of one host (WAL, so readers do not wait on the writer).
 *
 * The table is the checkpoint table of the layout before leases, with the
 * lease's columns added: a file written by an older sluice is upgraded in
 * place when opened (its checkpoints become leases owned by nobody, taken
 * at once), and the upgrade is one transaction so two workers opening the
 * same old file at the same time do not both alter it. A checkpoint of ""
 * is "none yet" (the old column is NOT NULL). */
#include "core/util.h"
#include "kinesis/lease.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "store/sqlite_util.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BUSY_MS 5000

typedef struct lsq_s {
    sqlite3 *db;
    sqlite3_stmt *list, *create, *update;
    int64_t busy_since;
    atomic_int stop;
} lsq_t;

/* As the view store maps them, except that a store that cannot be opened
 * (CANTOPEN, like NOTADB, CORRUPT, READONLY) will not open by waiting. */
static int map_rc(int rc)
{
    return (rc & 0xff) == SQLITE_CANTOPEN ? SL_ESTORE : sl__sqlite_err(rc);
}

/* Waits for a lock in short steps so that interrupt() ends the wait at once. */
static int busy_wait(void *arg, int count)
{
    lsq_t *c = arg;
    return sl__sqlite_busy_step(&c->stop, &c->busy_since, BUSY_MS, count);
}

static int has_column(sqlite3 *db, const char *col, int *has)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db, "SELECT 1 FROM pragma_table_info('checkpoints') WHERE name = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *has = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The table, created or upgraded from the checkpoint-only layout. */
static int schema(sqlite3 *db)
{
    int has = 0;
    int rc =
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = has_column(db, "counter", &has);
    if (rc != SQLITE_OK || has)
        return rc; /* the usual case: no write, so a busy writer does not delay the start */
    rc = sqlite3_exec(db,
                      "BEGIN IMMEDIATE;"
                      "CREATE TABLE IF NOT EXISTS checkpoints ("
                      " application TEXT NOT NULL, stream TEXT NOT NULL, shard TEXT NOT NULL,"
                      " sequence TEXT NOT NULL, updated_at INTEGER NOT NULL,"
                      " owner TEXT, counter INTEGER NOT NULL DEFAULT 0, parents TEXT,"
                      " PRIMARY KEY (application, stream, shard))",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = has_column(db, "counter", &has);
    if (rc == SQLITE_OK && !has)
        rc = sqlite3_exec(db,
                          "ALTER TABLE checkpoints ADD COLUMN owner TEXT;"
                          "ALTER TABLE checkpoints ADD COLUMN counter INTEGER NOT NULL DEFAULT 0;"
                          "ALTER TABLE checkpoints ADD COLUMN parents TEXT;",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void lsq_close(void *st)
{
    lsq_t *c = st;
    if (!c)
        return;
    sqlite3_finalize(c->list);
    sqlite3_finalize(c->create);
    sqlite3_finalize(c->update);
    sqlite3_close_v2(c->db);
    sl_free(c);
}

static int64_t wall_ms(void)
{
    /* Stored for people reading the table; never compared by a worker. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bind3(sqlite3_stmt *st, const char *app, const char *stream, const char *shard)
{
    sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream, -1, SQLITE_STATIC);
    if (shard)
        sqlite3_bind_text(st, 3, shard, -1, SQLITE_STATIC);
}

static int finish(lsq_t *c, sqlite3_stmt *st, int rc)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return 0;
    atomic_store(&c->stop, 0); /* ended early: an interrupt is answered */
    return map_rc(rc);
}

static int lsq_list(void *st, const char *app, const char *stream, sl__lease_each_fn each,
                    void *opaque)
{
    lsq_t *c = st;
    if (!c || !app || !stream || !each)
        return SL_EINVAL;
    if (atomic_exchange(&c->stop, 0))
        return SL_EAGAIN;
    bind3(c->list, app, stream, NULL);
    int rc, out = 0;
    while ((rc = sqlite3_step(c->list)) == SQLITE_ROW) {
        sl__lease_t l = {
            .shard = (const char *)sqlite3_column_text(c->list, 0),
            .ckpt = (const char *)sqlite3_column_text(c->list, 1),
            .owner = (const char *)sqlite3_column_text(c->list, 2),
            .counter = sqlite3_column_int64(c->list, 3),
            .parents = (const char *)sqlite3_column_text(c->list, 4),
        };
        if (l.shard && (out = each(opaque, &l)))
            break;
    }
    if (out) {
        sqlite3_reset(c->list);
        sqlite3_clear_bindings(c->list);
        return out;
    }
    return finish(c, c->list, rc);
}

static int lsq_create(void *st, const char *app, const char *stream, const char *shard,
                      const char *parents)
{
    lsq_t *c = st;
    if (!c || !app || !stream || !shard)
        return SL_EINVAL;
    if (atomic_exchange(&c->stop, 0))
        return SL_EAGAIN;
    bind3(c->create, app, stream, shard);
    if (parents)
        sqlite3_bind_text(c->create, 4, parents, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->create, 5, wall_ms());
    return finish(c, c->create, sqlite3_step(c->create));
}

static int lsq_update(void *st, const char *app, const char *stream, const char *shard,
                      int64_t expect, const char *owner, const char *ckpt)
{
    lsq_t *c = st;
    if (!c || !app || !stream || !shard)
        return SL_EINVAL;
    /* An interrupt that came before this call is meant for it. */
    if (atomic_exchange(&c->stop, 0))
        return SL_EAGAIN;
    bind3(c->update, app, stream, shard);
    sqlite3_bind_int64(c->update, 4, expect);
    if (owner && *owner)
        sqlite3_bind_text(c->update, 5, owner, -1, SQLITE_STATIC);
    if (ckpt)
        sqlite3_bind_text(c->update, 6, ckpt, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->update, 7, wall_ms());
    int rc = finish(c, c->update, sqlite3_step(c->update));
    if (rc)
        return rc;
    /* The fence: no row changed means the counter moved (or the lease is gone). */
    return sqlite3_changes(c->db) == 1 ? 0 : SL__LEASE_LOST;
}

static void lsq_interrupt(void *st)
{
    lsq_t *c = st;
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    sqlite3_interrupt(c->db);
}

static const sl__lease_ops_t lsq_ops = {
    .kind = "sqlite",
    .list = lsq_list,
    .create = lsq_create,
    .update = lsq_update,
    .interrupt = lsq_interrupt,
    .close = lsq_close,
};

int sl__lease_sqlite_open(const char *path, sl__lease_store_t *out, char *errstr,
                          size_t errstr_size)
{
    *out = (sl__lease_store_t){NULL, NULL};
    lsq_t *c = sl_calloc(1, sizeof *c);
    if (!c) {
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_handler(c->db, busy_wait, c);
        rc = schema(c->db);
    }
    /* The statements every call uses, prepared once. */
    const struct {
        const char *sql;
        sqlite3_stmt **st;
    } prep[] = {
        {"SELECT shard, sequence, owner, counter, parents FROM checkpoints "
         "WHERE application = ?1 AND stream = ?2 ORDER BY shard",
         &c->list},
        {"INSERT INTO checkpoints (application, stream, shard, sequence, "
         "updated_at, owner, counter, parents) VALUES (?1, ?2, ?3, '', ?5, "
         "NULL, 0, ?4) ON CONFLICT (application, stream, shard) DO NOTHING",
         &c->create},
        {"UPDATE checkpoints SET owner = ?5, sequence = coalesce(?6, "
         "sequence), counter = counter + 1, updated_at = ?7 WHERE "
         "application = ?1 AND stream = ?2 AND shard = ?3 AND counter = ?4",
         &c->update},
    };
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof prep / sizeof *prep; i++)
        rc =
            sqlite3_prepare_v3(c->db, prep[i].sql, -1, SQLITE_PREPARE_PERSISTENT, prep[i].st, NULL);
    if (rc != SQLITE_OK) {
        sl__errf(errstr, errstr_size, "lease table at %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        lsq_close(c);
        return map_rc(rc);
    }
    *out = (sl__lease_store_t){&lsq_ops, c};
    return 0;
}

int sl__lease_open(const char *spec, sl__lease_store_t *out, char *errstr, size_t errstr_size)
{
    *out = (sl__lease_store_t){NULL, NULL};
    if (spec && !strncmp(spec, "sqlite:", 7) && spec[7])
        return sl__lease_sqlite_open(spec + 7, out, errstr, errstr_size);
    if (spec && !strncmp(spec, "dynamodb:", 9) && spec[9])
        return sl__lease_dynamodb_open(spec + 9, out, errstr, errstr_size);
    sl__errf(errstr, errstr_size, "lease store %s: expected sqlite:PATH or dynamodb:TABLE",
             spec ? spec : "(none)");
    return SL_EINVAL;
}

void sl__lease_close(sl__lease_store_t *s)
{
    if (s && s->ops)
        s->ops->close(s->st);
    if (s)
        *s = (sl__lease_store_t){NULL, NULL};
}
