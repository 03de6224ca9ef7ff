/* sluice — checkpoints of stream readers in SQLite. */
#include "kinesis/checkpoint.h"
#include "core/util.h"
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

struct sl__ckpt_s {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *list;
    int64_t busy_since;
    atomic_int stop;
};

/* As the view store maps them, except that a store that cannot be opened
 * (CANTOPEN, like NOTADB, CORRUPT, READONLY) will not open by waiting. */
static int map_rc(int rc)
{
    return (rc & 0xff) == SQLITE_CANTOPEN ? SL_ESTORE : sl__sqlite_err(rc);
}

/* Waits for a lock in short steps so that sl__ckpt_interrupt() ends the
 * wait at once. */
static int busy_wait(void *arg, int count)
{
    sl__ckpt_t *c = arg;
    return sl__sqlite_busy_step(&c->stop, &c->busy_since, BUSY_MS, count);
}

int sl__ckpt_open(const char *path, sl__ckpt_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    sl__ckpt_t *c = sl_calloc(1, sizeof *c);
    if (!c) {
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    int rc = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_handler(c->db, busy_wait, c);
        rc = sqlite3_exec(c->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "CREATE TABLE IF NOT EXISTS checkpoints ("
                          " application TEXT NOT NULL, stream TEXT NOT NULL, shard TEXT NOT NULL,"
                          " sequence TEXT NOT NULL, updated_at INTEGER NOT NULL,"
                          " PRIMARY KEY (application, stream, shard))",
                          NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(c->db,
                                "SELECT sequence FROM checkpoints WHERE application = ?1 AND "
                                "stream = ?2 AND shard = ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &c->get, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(c->db,
                                "SELECT shard, sequence FROM checkpoints WHERE application = ?1 "
                                "AND stream = ?2",
                                -1, SQLITE_PREPARE_PERSISTENT, &c->list, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(c->db,
                                "INSERT INTO checkpoints (application, stream, shard, sequence, "
                                "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (application, "
                                "stream, shard) DO UPDATE SET sequence = excluded.sequence, "
                                "updated_at = excluded.updated_at",
                                -1, SQLITE_PREPARE_PERSISTENT, &c->put, NULL);
    if (rc != SQLITE_OK) {
        sl__errf(errstr, errstr_size, "checkpoints at %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sl__ckpt_close(c);
        return map_rc(rc);
    }
    *out = c;
    return 0;
}

static void bind3(sqlite3_stmt *st, const char *app, const char *stream, const char *shard)
{
    sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stream, -1, SQLITE_STATIC);
    if (shard)
        sqlite3_bind_text(st, 3, shard, -1, SQLITE_STATIC);
}

int sl__ckpt_list(sl__ckpt_t *c, const char *app, const char *stream,
                  int (*each)(void *opaque, const char *shard, const char *seq), void *opaque)
{
    if (!c || !app || !stream || !each)
        return SL_EINVAL;
    bind3(c->list, app, stream, NULL);
    int rc, out = 0;
    while ((rc = sqlite3_step(c->list)) == SQLITE_ROW) {
        const char *shard = (const char *)sqlite3_column_text(c->list, 0);
        const char *seq = (const char *)sqlite3_column_text(c->list, 1);
        if (shard && seq && (out = each(opaque, shard, seq)))
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = map_rc(rc);
    sqlite3_reset(c->list);
    sqlite3_clear_bindings(c->list);
    return out;
}

int sl__ckpt_get(sl__ckpt_t *c, const char *app, const char *stream, const char *shard, char *seq,
                 size_t cap)
{
    if (!c || !app || !stream || !shard || !seq || !cap)
        return SL_EINVAL;
    bind3(c->get, app, stream, shard);
    int rc = sqlite3_step(c->get), out;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(c->get, 0);
        size_t n = (size_t)sqlite3_column_bytes(c->get, 0);
        if (n + 1 > cap) {
            out = SL_ERANGE;
        } else {
            memcpy(seq, v, n);
            seq[n] = 0;
            out = 0;
        }
    } else {
        out = rc == SQLITE_DONE ? SL_ENOENT : map_rc(rc);
    }
    sqlite3_reset(c->get);
    sqlite3_clear_bindings(c->get);
    return out;
}

int sl__ckpt_put(sl__ckpt_t *c, const char *app, const char *stream, const char *shard,
                 const char *seq)
{
    if (!c || !app || !stream || !shard || !seq)
        return SL_EINVAL;
    /* An interrupt that came before this call is meant for it. */
    if (atomic_exchange(&c->stop, 0))
        return SL_EAGAIN;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    bind3(c->put, app, stream, shard);
    sqlite3_bind_text(c->put, 4, seq, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->put, 5, (sqlite3_int64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int rc = sqlite3_step(c->put);
    sqlite3_reset(c->put);
    sqlite3_clear_bindings(c->put);
    if (rc == SQLITE_DONE)
        return 0;
    atomic_store(&c->stop, 0); /* ended early: an interrupt is answered */
    return map_rc(rc);
}

void sl__ckpt_interrupt(sl__ckpt_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    sqlite3_interrupt(c->db);
}

void sl__ckpt_close(sl__ckpt_t *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->list);
    sqlite3_close_v2(c->db);
    sl_free(c);
}
