/* sluice demo — the one number the demo reads from the materialized view
 * (also used by tests/kinesis, which checks the same view over Kinesis). */
#ifndef SL_EXAMPLES_VIEW_COUNT_H
#define SL_EXAMPLES_VIEW_COUNT_H

#include <sqlite3.h>
#include <stdint.h>

/* The integer the query @p sql (a SELECT count(*) ...) answers over the
 * SQLite file @p db, opened read-only; -1 when it cannot be read. */
static inline int64_t view_count(const char *db, const char *sql)
{
    sqlite3 *h;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(h);
    return n;
}

#endif
