/* sluice — SQLite helpers for every layer that keeps something in SQLite
 * (the view store here; the Kinesis checkpoints, which may use this layer
 * for it). */
#ifndef SL_STORE_SQLITE_UTIL_H
#define SL_STORE_SQLITE_UTIL_H

#include <stdatomic.h>
#include <stdint.h>

/* @p rc (primary or extended code) as SL_EAGAIN (interrupted), SL_EBUSY
 * (busy, locked), SL_EIO (I/O error, disk full, cannot open), SL_ENOMEM, or
 * SL_ESTORE for anything else (corrupt, not a database, read-only ...). */
int sl__sqlite_err(int rc);

/* The body of a busy handler that an interrupt ends at once (SQLite's own
 * sleeps through the whole timeout and does not look at sqlite3_interrupt()):
 * @p count is the handler's, @p since keeps when this wait began (monotonic
 * ms). Returns 0 (give up: SQLITE_BUSY) once @p stop is set or @p limit_ms
 * have passed, else sleeps a few milliseconds and returns 1 (try again). */
int sl__sqlite_busy_step(atomic_int *stop, int64_t *since, int64_t limit_ms, int count);

#endif
