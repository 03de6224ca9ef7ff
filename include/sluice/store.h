/* sluice — the view store port, and its embedded SQLite implementation.
 *
 * A listener keeps a lean materialized view: one row per entity key holding
 * the newest state it has seen. The materialize flavor (sluice/flavors.h)
 * writes to a store through this port; the embedded default is SQLite
 * (sl_store_sqlite_open()), and a user plugs their own database by filling
 * in sl_store_ops_t.
 *
 * The one rule every store keeps: a row applies only when its timestamp is
 * strictly newer than what the store holds for its key, deletes included.
 * Replays and out-of-order events are then no-ops, so at-least-once
 * delivery leaves the view exactly as the newest event says. */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One change to the view. Every pointer is borrowed for the call only. */
typedef struct sl_view_row_s {
    const char *key; /**< entity key (UTF-8, not NUL-terminated) */
    size_t key_len;
    int64_t timestamp_ms; /**< the event's timestamp: the version of the row */
    const char *type;     /**< the event type that produced the row */
    size_t type_len;
    const char *event_id; /**< the event's id, or NULL */
    size_t event_id_len;
    const char *entity; /**< the entity as JSON text; NULL for a delete */
    size_t entity_len;
    int deleted; /**< 1: remove the key's row (a tombstone keeps the timestamp) */
} sl_view_row_t;

/** What a store does. */
typedef struct sl_store_ops_s {
    const char *name; /**< for logs and fault tags; static storage */
    /**
     * Apply @p n rows atomically (all or none), in order. A row whose
     * timestamp is not newer than the key's stored one (row or tombstone) is
     * skipped; a delete removes the row and remembers its timestamp so an
     * older upsert arriving later stays a no-op.
     * @param applied if not NULL, set to the number of rows that changed the
     *        view (skipped rows do not count).
     * @returns 0; a retriable error (SL_EAGAIN, SL_EBUSY, SL_EIO: the batch
     *          is retried with backoff); or another negative SL_E* code (the
     *          batch's events become faults).
     */
    int (*apply)(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied);
    /** Release @p opaque; may be NULL. */
    void (*destroy)(void *opaque);
    /**
     * Optional. Called from another thread while apply may be running
     * (when a drain runs out of time): make that apply return soon with a
     * retriable error and change nothing. With no apply running, the next
     * apply may be the one that returns early. Must be thread-safe. A store
     * without it delays a timed-out shutdown until its apply returns.
     */
    void (*interrupt)(void *opaque);
} sl_store_ops_t;

typedef struct sl_store_s sl_store_t;

/**
 * @brief Wrap store operations in a handle.
 * @param ops copied. @param opaque passed to every op, released by ops->destroy.
 * @returns A store owned by the caller (sl_store_destroy()), or NULL when out
 *          of memory or ops->apply is NULL (ops->destroy is then not called).
 * @remark Thread-safe; the store itself is used from one thread at a time.
 */
SL_EXPORT sl_store_t *sl_store_new(const sl_store_ops_t *ops, void *opaque);

/** @brief Destroy a store (calls ops->destroy). NULL is accepted. */
SL_EXPORT void sl_store_destroy(sl_store_t *store);

/**
 * @brief Apply rows through the store's ops (see sl_store_ops_t.apply).
 * @returns As ops->apply; SL_EINVAL for a NULL store or rows with n > 0.
 * @remark Not thread-safe: one thread per store at a time.
 */
SL_EXPORT int sl_store_apply(sl_store_t *store, const sl_view_row_t *rows, size_t n,
                             size_t *applied);

/**
 * @brief Ask an apply running on another thread to stop (ops->interrupt;
 *        nothing when the store has none). NULL is accepted.
 * @remark Thread-safe, the one call that is: it may run while another
 *         thread is inside sl_store_apply().
 */
SL_EXPORT void sl_store_interrupt(sl_store_t *store);

/** @brief The store's name (static storage of its ops). */
SL_EXPORT const char *sl_store_name(const sl_store_t *store);

/**
 * @brief Open (creating if needed) an SQLite view at @p path, table @p table.
 *
 * The database runs in WAL mode with synchronous=NORMAL; each apply is one
 * transaction. The table is created if missing:
 *
 *     CREATE TABLE <table> (
 *       key        TEXT PRIMARY KEY,   -- the entity key
 *       timestamp  INTEGER NOT NULL,   -- ms since the epoch, of the newest event applied
 *       type       TEXT NOT NULL,      -- that event's type
 *       event_id   TEXT,               -- that event's id
 *       entity     TEXT NOT NULL,      -- the entity, JSON text
 *       updated_at INTEGER NOT NULL    -- wall clock ms when the row was written
 *     );
 *
 * and deletes leave a tombstone in `<table>_deleted (key TEXT PRIMARY KEY,
 * timestamp INTEGER NOT NULL, event_id TEXT)`, so that the view table holds
 * only live entities and users query it directly (json_extract works on
 * `entity`). An existing table with another layout is an error.
 *
 * @param table NULL means "view"; letters, digits and '_' only, not starting
 *        with a digit, at most 64 bytes.
 * @param errstr receives a message on failure (may be NULL).
 * @returns A store owned by the caller, or NULL: bad table name, cannot open
 *          or create the database, or an incompatible table.
 * @remark The store may be used from one thread at a time (any thread);
 *         the materialize flavor applies on the executor's thread, never on
 *         the loop. A busy database (another writer) is waited on for up to
 *         5 s per transaction, then reported as SL_EBUSY (retriable: the
 *         engine retries with backoff). sl_store_interrupt() ends that wait
 *         (and a running statement) at once with SL_EAGAIN, rolled back.
 * @remark A database file (not ":memory:") gets a thread of the store's own
 *         and a second connection that checkpoint the WAL (PASSIVE, after a
 *         commit passed 1000 WAL pages and at least once a second while it
 *         holds anything); past 4000 pages the writer checkpoints after its
 *         commit. sl_store_destroy() stops the thread and the last close
 *         copies the rest and removes the WAL. The journal mode is WAL with
 *         synchronous=NORMAL: a power cut may lose the last transactions
 *         since the last checkpoint, never the database's consistency
 *         (sl_store_sqlite_open_opts() with synchronous "full" keeps them).
 */
SL_EXPORT sl_store_t *sl_store_sqlite_open(const char *path, const char *table, char *errstr,
                                           size_t errstr_size);

/** Options of sl_store_sqlite_open_opts(). Zero them, then set what differs. */
typedef struct sl_store_sqlite_opts_s {
    /**
     * The connection's PRAGMA synchronous, as the view.synchronous property
     * spells it (lower case); borrowed for the call only.
     * NULL or "normal": a commit appends to the WAL without an fsync; the
     * WAL is fsynced at each checkpoint. The view survives a crash of the
     * process; a power loss or an OS crash may lose the last commits, whose
     * events' offsets may already be committed (they are not read again).
     * "full": the WAL is also fsynced at every commit (with group commit,
     * one fsync per transaction of up to 8 192 rows, not per event), so a
     * view that acknowledged a batch keeps it through a power loss.
     */
    const char *synchronous;
} sl_store_sqlite_opts_t;

/**
 * @brief sl_store_sqlite_open() with options.
 * @param opts NULL: the defaults, exactly as sl_store_sqlite_open().
 * @returns As sl_store_sqlite_open(); also NULL, with a message in
 *          @p errstr, when opts->synchronous is neither "normal" nor "full".
 * @remark As sl_store_sqlite_open(); thread-safe as an open.
 */
SL_EXPORT sl_store_t *sl_store_sqlite_open_opts(const char *path, const char *table,
                                                const sl_store_sqlite_opts_t *opts, char *errstr,
                                                size_t errstr_size);

#ifdef __cplusplus
}
#endif

#endif
