/* sluice-faults: the fault store's tables, queried with SQLite's JSON
 * functions; time, base64 and the shared filter flags.
 *
 * `faults` is the view `store` keeps (one row per fault id, the whole event
 * in `entity`, see sluice/store.h); `faults_resubmit` holds what resubmit
 * did to a fault (no row: open). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sluice/sluice.h>

#include "faults/faults.h"

const char *default_store(void)
{
    const char *e = getenv("SLUICE_STORE");
    return e && *e ? e : "sqlite:faults.db";
}

sqlite3 *fdb_open(const char *prog, const char *store)
{
    if (strncmp(store, "sqlite:", 7) || !store[7]) {
        fprintf(stderr, "%s: --store %s: expected sqlite:PATH\n", prog, store);
        return NULL;
    }
    const char *path = store + 7;
    sqlite3 *db = NULL;
    /* Never create it: a mistyped path is an error, not an empty store. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: cannot open the fault store %s: %s\n", prog, path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "SELECT key, timestamp, entity FROM faults LIMIT 0", -1, &st,
                                NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    if (!ok) {
        fprintf(stderr, "%s: %s is not a fault store (no table faults: run %s store first)\n", prog,
                path, prog);
        sqlite3_close(db);
        return NULL;
    }
    char *err = NULL;
    if (sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS faults_resubmit ("
                     " id TEXT PRIMARY KEY,"
                     " status TEXT NOT NULL,"             /* sending | resubmitted */
                     " at INTEGER NOT NULL,"              /* epoch ms of the status */
                     " dest TEXT NOT NULL,"               /* kafka:TOPIC or kinesis:STREAM */
                     " sends INTEGER NOT NULL DEFAULT 0," /* deliveries counted */
                     /* sending: the destination's ends before (Kafka), the run's
                      * time and id (Kinesis); resubmitted to Kinesis: the
                      * record's shard and sequence number */
                     " probe TEXT)",
                     NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, err ? err : "cannot create faults_resubmit");
        sqlite3_free(err);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

int fdb_query(const char *prog, sqlite3 *db, const fault_filter_t *f, fault_row_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char ids[64] = "";
    if (f->nids)
        snprintf(ids, sizeof ids, " AND f.key IN (SELECT value FROM json_each(?9))");
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "SELECT f.key, f.timestamp, f.entity, COALESCE(r.status, 'open'), r.at, r.dest, r.probe"
        " FROM faults f LEFT JOIN faults_resubmit r ON r.id = f.key"
        " WHERE (?1 IS NULL OR json_extract(f.entity, '$.tags.pipeline') = ?1)"
        " AND (?2 IS NULL OR json_extract(f.entity, '$.err.name') = ?2)"
        " AND (?3 IS NULL OR json_extract(f.entity, '$.tags.processor') = ?3)"
        " AND (?4 IS NULL OR COALESCE(r.status, 'open') = ?4)"
        " AND (?5 IS NULL OR f.timestamp >= ?5)"
        " AND (?6 IS NULL OR f.timestamp <= ?6)%s"
        " ORDER BY f.timestamp, f.key LIMIT ?7",
        ids);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: query failed: %s\n", prog, sqlite3_errmsg(db));
        return -1;
    }
    const char *s[4] = {f->pipeline, f->error, f->processor, f->status};
    for (int i = 0; i < 4; i++)
        if (s[i])
            sqlite3_bind_text(st, i + 1, s[i], -1, SQLITE_STATIC);
    if (f->has_since)
        sqlite3_bind_int64(st, 5, f->since);
    if (f->until)
        sqlite3_bind_int64(st, 6, f->until);
    sqlite3_bind_int64(st, 7, f->limit > 0 ? f->limit : -1);
    char *idjson = NULL;
    if (f->nids) {
        json_t *a = json_array();
        for (size_t i = 0; i < f->nids; i++)
            json_array_append_new(a, json_string(f->ids[i]));
        idjson = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        sqlite3_bind_text(st, 9, idjson, -1, SQLITE_STATIC);
    }
    fault_row_t *rows = NULL;
    size_t cnt = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            fault_row_t *nr = realloc(rows, cap * sizeof *nr);
            if (!nr) {
                fprintf(stderr, "%s: out of memory\n", prog);
                ret = -1;
                break;
            }
            rows = nr;
        }
        fault_row_t *r = &rows[cnt];
        memset(r, 0, sizeof *r);
        const char *ent = (const char *)sqlite3_column_text(st, 2);
        json_error_t je;
        r->event = ent ? json_loads(ent, 0, &je) : NULL;
        r->id = dup_col(st, 0);
        r->time = sqlite3_column_int64(st, 1);
        r->status = dup_col(st, 3);
        r->at = sqlite3_column_int64(st, 4);
        r->dest = dup_col(st, 5);
        r->probe = dup_col(st, 6);
        cnt++;
        if (!r->event || !r->id || !r->status) {
            fprintf(stderr, "%s: fault %s: its stored event cannot be read\n", prog,
                    r->id ? r->id : "?");
            ret = -1;
            break;
        }
    }
    if (!ret && rc != SQLITE_DONE) {
        fprintf(stderr, "%s: query failed: %s\n", prog, sqlite3_errmsg(db));
        ret = -1;
    }
    sqlite3_finalize(st);
    free(idjson);
    if (ret) {
        fdb_rows_free(rows, cnt);
        return -1;
    }
    *out = rows;
    *n = cnt;
    return 0;
}

void fdb_rows_free(fault_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].status);
        free(rows[i].dest);
        free(rows[i].probe);
        json_decref(rows[i].event);
    }
    free(rows);
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int fdb_mark(const char *prog, sqlite3 *db, const char *id, const char *status, const char *dest,
             const char *probe)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db,
                                "INSERT INTO faults_resubmit (id, status, at, dest, sends, probe)"
                                " VALUES (?1, ?2, ?3, ?4, ?5 = 'resubmitted', ?6)"
                                " ON CONFLICT(id) DO UPDATE SET status = ?2, at = ?3, dest = ?4,"
                                " sends = sends + (?2 = 'resubmitted'), probe = ?6",
                                -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_ms());
        sqlite3_bind_text(st, 4, dest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
        if (probe)
            sqlite3_bind_text(st, 6, probe, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    if (!ok)
        fprintf(stderr, "%s: cannot mark %s %s: %s\n", prog, id, status, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && !errno && v >= 0) {
        *out = v;
        return 0;
    }
    return sl_rfc3339_parse(s, strlen(s), out) ? -1 : 0;
}

void fmt_time(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[24];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03dZ", d, (int)(ms % 1000));
}

unsigned char *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *o = malloc(n / 4 * 3 + 1);
    if (!o)
        return NULL;
    if (sl_base64_decode(s, n, o, len)) {
        free(o);
        return NULL;
    }
    o[*len] = 0;
    return o;
}

json_t *jget(json_t *j, const char *path)
{
    char part[64];
    while (j && *path) {
        const char *dot = strchr(path, '.');
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        if (l >= sizeof part)
            return NULL;
        memcpy(part, path, l);
        part[l] = 0;
        j = json_object_get(j, part);
        path += l + (dot != NULL);
    }
    return j;
}

const char *jstr(json_t *j, const char *path)
{
    return json_string_value(jget(j, path));
}

int filter_arg(const char *prog, int argc, char **argv, int *i, const char **store,
               fault_filter_t *f)
{
    static const char *const flags[] = {"--store", "--pipeline", "--error",  "--processor",
                                        "--since", "--until",    "--status", "--limit"};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) {
        size_t fl = strlen(flags[k]);
        if (strncmp(a, flags[k], fl) || (a[fl] && a[fl] != '='))
            continue;
        const char *v = a[fl] == '=' ? a + fl + 1 : *i + 1 < argc ? argv[++*i] : NULL;
        if (!v || !*v) {
            fprintf(stderr, "%s: %s needs a value\n", prog, flags[k]);
            return -1;
        }
        switch (k) {
        case 0:
            *store = v;
            break;
        case 1:
            f->pipeline = v;
            break;
        case 2:
            f->error = v;
            break;
        case 3:
            f->processor = v;
            break;
        case 4:
        case 5: {
            int64_t t;
            if (parse_time(v, &t)) {
                fprintf(stderr, "%s: %s %s: expected RFC 3339 (2026-11-29T10:00:00Z) or epoch ms\n",
                        prog, flags[k], v);
                return -1;
            }
            if (k == 4) {
                f->since = t;
                f->has_since = 1;
            } else {
                f->until = t;
            }
            break;
        }
        case 6:
            if (strcmp(v, "open") && strcmp(v, "resubmitted") && strcmp(v, "sending")) {
                fprintf(stderr, "%s: --status %s: expected open or resubmitted\n", prog, v);
                return -1;
            }
            f->status = v;
            break;
        default: {
            char *end;
            errno = 0;
            long long l = strtoll(v, &end, 10);
            if (*end || errno || l <= 0) {
                fprintf(stderr, "%s: --limit %s: expected a positive number\n", prog, v);
                return -1;
            }
            f->limit = l;
        }
        }
        return 1;
    }
    return 0;
}
