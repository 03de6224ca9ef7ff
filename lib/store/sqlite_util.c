/* sluice — SQLite helpers shared by the view store and the Kinesis
 * checkpoints (store/sqlite_util.h). */
#include "store/sqlite_util.h"
#include "sluice/error.h"

#include <sqlite3.h>
#include <time.h>

int sl__sqlite_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_INTERRUPT:
        return SL_EAGAIN;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SL_EBUSY;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
        return SL_EIO;
    case SQLITE_NOMEM:
        return SL_ENOMEM;
    default:
        return SL_ESTORE;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl__sqlite_busy_step(atomic_int *stop, int64_t *since, int64_t limit_ms, int count)
{
    if (atomic_load(stop))
        return 0;
    int64_t now = mono_ms();
    if (count == 0)
        *since = now;
    int64_t left = limit_ms - (now - *since);
    if (left <= 0)
        return 0;
    int64_t step = count < 4 ? (int64_t)1 << count : 10;
    if (step > left)
        step = left;
    struct timespec ts = {0, (long)step * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}
