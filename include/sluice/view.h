/* sluice — the query side of a listener's SQLite view: read-only, over HTTP.
 *
 * A view reader answers GET requests for the rows of one view table kept by
 * the SQLite store (sl_store_sqlite_open() in sluice/store.h), as a route of
 * a processor's HTTP endpoint:
 *
 *     sl_view_reader_t *r = sl_view_reader_sqlite_open(path, table, err, sizeof err);
 *     sl_processor_add_route(p, "/views", sl_view_reader_http, r, sl_view_reader_destroy);
 *
 * It serves
 *
 * - `GET /views/{table}/{key}` (the key %-decoded, '/' allowed): 200 with
 *   `{"key","timestamp","type","event_id","entity"}` (entity: the stored
 *   JSON itself) and `ETag: "<timestamp>"`; 304 when If-None-Match names
 *   that tag (or is `*`); 404 `{"error":"not found"}` for an unknown key;
 *   404 `{"error":"deleted","deleted_at":ms}` with the header
 *   `X-Sluice-Deleted-At: <ms>` for a deleted one (its tombstone).
 * - `GET /views/{table}?after=KEY&limit=N`: the rows in key order (bytewise)
 *   after KEY (from the start without it), N of them (default 100, at most
 *   1000): `{"items":[row...],"next":KEY|null}`; `next` is the last key
 *   of the page when more rows follow: pass it, %-encoded, as `after`.
 *   Each page is one read transaction and the cursor is a key, not an
 *   offset, so writes between pages never repeat a key nor skip one that
 *   was there all along.
 * - bad input: 400 with `{"error":...}` for a bad limit, a key longer than
 *   1024 bytes (after decoding) or bad %-encoding; 404 for a table other
 *   than the reader's; 405 for a method other than GET; 503 when the
 *   database stays busy. Nothing from a request is ever put in SQL text:
 *   every statement is prepared once per connection with parameters.
 *
 * Reads use their own read-only connections (WAL lets them run beside the
 * writer), opened as needed and pooled; they run on the runtime's worker
 * threads, never on the loop. */
#ifndef SLUICE_VIEW_H
#define SLUICE_VIEW_H

#include "sluice/export.h"
#include "sluice/http.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_view_reader_s sl_view_reader_t;

/** The longest key a view reader looks up, in bytes (after %-decoding). */
#define SL_VIEW_KEY_MAX 1024
/** Rows per page without a limit, and the most a limit may ask for. */
#define SL_VIEW_PAGE_DEFAULT 100
#define SL_VIEW_PAGE_MAX 1000

/**
 * @brief Open a read-only reader of the view table @p table in the SQLite
 *        database @p path (made by sl_store_sqlite_open(): open the store
 *        first, it creates the database and its tables).
 * @param table NULL means "view", as for the store.
 * @param errstr receives a message on failure (may be NULL).
 * @returns A reader owned by the caller (sl_view_reader_destroy(), or the
 *          processor it is routed on), or NULL: bad table name, no such
 *          database or table, out of memory.
 * @remark Thread-safe: sl_view_reader_http() may run on many threads at once.
 */
SL_EXPORT sl_view_reader_t *sl_view_reader_sqlite_open(const char *path, const char *table,
                                                       char *errstr, size_t errstr_size);

/**
 * @brief Answer one request (an sl_http_route_fn; @p reader is the reader).
 * @returns 0 with @p res filled in (its body allocated with sl_malloc(),
 *          for the caller to sl_free()), whatever the request: bad input is
 *          a 4xx response; SL_ENOMEM when out of memory (@p res then holds
 *          nothing to free).
 * @remark Thread-safe; blocks on SQLite (at most about 2 s on a database
 *         that stays locked).
 */
SL_EXPORT int sl_view_reader_http(void *reader, const sl_http_request_t *req,
                                  sl_http_response_t *res);

/** @brief Close the reader's connections and free it. NULL is accepted.
 *  @remark Not while a call of sl_view_reader_http() runs. */
SL_EXPORT void sl_view_reader_destroy(void *reader);

#ifdef __cplusplus
}
#endif
#endif
