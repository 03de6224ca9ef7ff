/* sluice-faults: what its commands share (processors/faults). */
#ifndef SLUICE_PROCESSORS_FAULTS_H
#define SLUICE_PROCESSORS_FAULTS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* One stored fault, as a row of `faults` joined with its resubmit state. */
typedef struct fault_row_s {
    char *id;
    int64_t time;  /* the fault event's timestamp, epoch ms */
    json_t *event; /* the whole fault event (owned) */
    char *status;  /* open, sending or resubmitted */
    int64_t at;    /* when the status was set, epoch ms; 0 when open */
    char *dest;    /* kafka:TOPIC or kinesis:STREAM it was sent to, or NULL */
    char *probe;   /* sending: the destination's end offsets before the send (Kafka) or the
                      run's time and id (Kinesis); resubmitted to Kinesis: where (JSON) */
} fault_row_t;

/* Filters of list and resubmit; NULL or 0 for none. */
typedef struct fault_filter_s {
    const char *pipeline, *error, *processor, *status;
    int64_t since, until; /* epoch ms, inclusive; until 0 = none */
    int has_since;
    int64_t limit;          /* 0 = none */
    const char *const *ids; /* exactly these ids, when nids > 0 */
    size_t nids;
} fault_filter_t;

/* Opens the fault store sqlite:PATH (it must exist and hold the table
 * `faults`), creating the resubmit table if missing. NULL after printing a
 * one-line error. */
sqlite3 *fdb_open(const char *prog, const char *store);

/* The rows matching @p f, oldest first, in *@p out (count in *@p n).
 * Returns 0, or -1 after printing an error. */
int fdb_query(const char *prog, sqlite3 *db, const fault_filter_t *f, fault_row_t **out, size_t *n);
void fdb_rows_free(fault_row_t *rows, size_t n);

/* Sets the resubmit state of @p id. Returns 0 or -1 after printing an error. */
int fdb_mark(const char *prog, sqlite3 *db, const char *id, const char *status, const char *dest,
             const char *probe);

/* Parses T (RFC 3339 or epoch ms). Returns 0 or -1. */
int parse_time(const char *s, int64_t *out);
/* Writes @p ms as RFC 3339 UTC with milliseconds into @p buf (32 bytes). */
void fmt_time(int64_t ms, char *buf, size_t cap);
/* Decodes standard base64 @p s into a new buffer (*@p len bytes; NUL-
 * terminated for convenience). NULL for bad input or no memory. */
unsigned char *b64_decode(const char *s, size_t *len);

/* Member @p path ("a.b.c") of @p j, or NULL. */
json_t *jget(json_t *j, const char *path);
const char *jstr(json_t *j, const char *path);

/* The shared option parsing of list and resubmit: --store and the filters.
 * Returns 1 when argv[*i] was one of them (consumed, with its value), 0 when
 * not, -1 after printing an error. */
int filter_arg(const char *prog, int argc, char **argv, int *i, const char **store,
               fault_filter_t *f);
const char *default_store(void);

int faults_store_run(int argc, char **argv);
int faults_list(int argc, char **argv);
int faults_show(int argc, char **argv);
int faults_resubmit(int argc, char **argv);

#endif
