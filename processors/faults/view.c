/* sluice-faults list and show. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "common/cli.h"
#include "faults/faults.h"

#define PROG "sluice-faults"

/* @p s made one line of at most @p max bytes for a table cell. */
static void cell(char *out, size_t cap, const char *s, size_t max)
{
    size_t k = 0;
    if (max >= cap)
        max = cap - 1;
    for (size_t i = 0; s && s[i] && k < max; i++)
        out[k++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    if (s && strlen(s) > max && k >= 3)
        memcpy(out + k - 3, "...", 3);
    out[k] = 0;
}

/* The original record's key as text when printable, else the fault's key. */
static void key_text(json_t *ev, char *out, size_t cap)
{
    const char *b = jstr(ev, "uow.record.key");
    size_t n = 0;
    unsigned char *k = b ? b64_decode(b, &n) : NULL;
    int printable = k != NULL;
    for (size_t i = 0; printable && i < n; i++)
        printable = k[i] >= 0x20 && k[i] != 0x7f;
    cell(out, cap, printable ? (const char *)k : jstr(ev, "partitionKey"), 24);
    free(k);
}

static void coords(json_t *ev, char *out, size_t cap)
{
    json_t *r = jget(ev, "uow.record");
    const char *pos = jstr(r, "position");
    if (pos)
        snprintf(out, cap, "%s/%" PRId64 "/%s", jstr(r, "topic"),
                 (int64_t)json_integer_value(json_object_get(r, "partition")), pos);
    else
        snprintf(out, cap, "%s/%" PRId64 "/%" PRId64, jstr(r, "topic"),
                 (int64_t)json_integer_value(json_object_get(r, "partition")),
                 (int64_t)json_integer_value(json_object_get(r, "offset")));
}

int faults_list(int argc, char **argv)
{
    const char *store = default_store();
    fault_filter_t f = {0};
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        int r = filter_arg(PROG " list", argc, argv, &i, &store, &f);
        if (r < 0)
            return EXIT_USAGE;
        if (r)
            continue;
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
            continue;
        }
        fprintf(stderr, "%s list: unknown argument \"%s\" (see --help)\n", PROG, argv[i]);
        return EXIT_USAGE;
    }
    sqlite3 *db = fdb_open(PROG " list", store);
    if (!db)
        return EXIT_RUNTIME;
    fault_row_t *rows;
    size_t n;
    if (fdb_query(PROG " list", db, &f, &rows, &n)) {
        sqlite3_close(db);
        return EXIT_RUNTIME;
    }
    if (!as_json && n)
        printf("%-24s %-22s %-11s %-16s %-16s %-12s %-24s %-24s %s\n", "TIME", "ID", "STATUS",
               "PROCESSOR", "PIPELINE", "ERROR", "COORDINATES", "KEY", "MESSAGE");
    for (size_t i = 0; i < n; i++) {
        fault_row_t *r = &rows[i];
        if (as_json) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(r->id));
            json_object_set_new(o, "status", json_string(r->status));
            if (r->dest) {
                json_object_set_new(o, "statusAt", json_integer(r->at));
                json_object_set_new(o, "destination", json_string(r->dest));
            }
            /* Resubmitted: where the record went (Kafka: partition and offset; Kinesis:
             * shard and sequence number). */
            json_t *co = r->probe && !strcmp(r->status, "resubmitted")
                             ? json_loads(r->probe, 0, NULL)
                             : NULL;
            if (json_is_object(co))
                json_object_set(o, "coordinates", co);
            json_decref(co);
            json_object_set(o, "fault", r->event);
            char *s = json_dumps(o, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
            json_decref(o);
            continue;
        }
        char t[32], proc[17], pl[17], err[13], co[64], co2[25], key[25], msg[61];
        fmt_time(r->time, t, sizeof t);
        cell(proc, sizeof proc, jstr(r->event, "tags.processor"), 16);
        cell(pl, sizeof pl, jstr(r->event, "tags.pipeline"), 16);
        cell(err, sizeof err, jstr(r->event, "err.name"), 12);
        coords(r->event, co, sizeof co);
        cell(co2, sizeof co2, co, 24);
        key_text(r->event, key, sizeof key);
        cell(msg, sizeof msg, jstr(r->event, "err.message"), 60);
        printf("%-24s %-22s %-11s %-16s %-16s %-12s %-24s %-24s %s\n", t, r->id, r->status, proc,
               pl, err, co2, key, msg);
    }
    if (!as_json)
        fprintf(stderr, "%zu fault%s\n", n, n == 1 ? "" : "s");
    fdb_rows_free(rows, n);
    sqlite3_close(db);
    return 0;
}

/* Prints @p b (@p n bytes): pretty JSON when it is JSON, else text when
 * printable, else hex. */
static void print_value(const unsigned char *b, size_t n)
{
    json_t *j = json_loadb((const char *)b, n, JSON_DECODE_ANY, NULL);
    if (j) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
        printf("%s\n", s ? s : "");
        free(s);
        json_decref(j);
        return;
    }
    int text = 1;
    for (size_t i = 0; i < n && text; i++)
        text = (b[i] >= 0x20 && b[i] != 0x7f) || b[i] == '\n' || b[i] == '\t' || b[i] >= 0x80;
    if (text) {
        fwrite(b, 1, n, stdout);
        putchar('\n');
        return;
    }
    for (size_t i = 0; i < n; i++)
        printf("%02x%s", b[i], (i + 1) % 32 == 0 || i + 1 == n ? "\n" : " ");
}

int faults_show(int argc, char **argv)
{
    const char *store = default_store(), *id = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--store") || !strncmp(a, "--store=", 8)) {
            store = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : "";
            continue;
        }
        if (a[0] == '-' || id) {
            fprintf(stderr, "%s show: unexpected argument \"%s\": show takes one fault id\n", PROG,
                    a);
            return EXIT_USAGE;
        }
        id = a;
    }
    if (!id) {
        fprintf(stderr, "%s show: which fault? e.g. %s show fault-0123456789abcdef\n", PROG, PROG);
        return EXIT_USAGE;
    }
    sqlite3 *db = fdb_open(PROG " show", store);
    if (!db)
        return EXIT_RUNTIME;
    fault_filter_t f = {.ids = &id, .nids = 1};
    fault_row_t *rows;
    size_t n;
    if (fdb_query(PROG " show", db, &f, &rows, &n)) {
        sqlite3_close(db);
        return EXIT_RUNTIME;
    }
    sqlite3_close(db);
    if (!n) {
        fprintf(stderr, "%s show: no fault %s in %s\n", PROG, id, store + 7);
        return EXIT_RUNTIME;
    }
    json_t *ev = rows[0].event;
    char t[32];
    fmt_time(rows[0].time, t, sizeof t);
    printf("id:          %s\n", rows[0].id);
    printf("time:        %s\n", t);
    printf("status:      %s", rows[0].status);
    if (rows[0].dest) {
        fmt_time(rows[0].at, t, sizeof t);
        printf(" (%s to %s", t, rows[0].dest);
        json_t *co = rows[0].probe && !strcmp(rows[0].status, "resubmitted")
                         ? json_loads(rows[0].probe, 0, NULL)
                         : NULL;
        if (jstr(co, "shard") && jstr(co, "sequence"))
            printf(", %s at %s", jstr(co, "shard"), jstr(co, "sequence"));
        else if (json_is_integer(json_object_get(co, "partition")) &&
                 json_is_integer(json_object_get(co, "offset")))
            printf(", partition %" JSON_INTEGER_FORMAT " offset %" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(co, "partition")),
                   json_integer_value(json_object_get(co, "offset")));
        json_decref(co);
        printf(")");
    }
    printf("\nprocessor:   %s", jstr(ev, "tags.processor"));
    if (jstr(ev, "tags.group"))
        printf(" (group %s)", jstr(ev, "tags.group"));
    printf("\npipeline:    %s\n", jstr(ev, "tags.pipeline"));
    printf("stage:       %s #%" PRId64, jstr(ev, "tags.stage") ? jstr(ev, "tags.stage") : "?",
           (int64_t)json_integer_value(jget(ev, "tags.stageIndex")));
    if (jstr(ev, "tags.stageName"))
        printf(" \"%s\"", jstr(ev, "tags.stageName"));
    printf("\nerror:       %s (%" PRId64 ")%s: %s\n", jstr(ev, "err.name"),
           (int64_t)json_integer_value(jget(ev, "err.code")),
           json_is_true(jget(ev, "err.retriable")) ? " retriable" : "", jstr(ev, "err.message"));
    printf("attempts:    %" PRId64 "\n", (int64_t)json_integer_value(jget(ev, "uow.attempts")));
    if (jget(ev, "uow.firstFailure")) {
        char t2[32];
        fmt_time(json_integer_value(jget(ev, "uow.firstFailure")), t, sizeof t);
        fmt_time(json_integer_value(jget(ev, "uow.lastFailure")), t2, sizeof t2);
        printf("failures:    first %s, last %s\n", t, t2);
    }
    char co[256];
    coords(ev, co, sizeof co);
    printf("source:      %s\n", co);
    json_t *r = jget(ev, "uow.record");
    size_t kn = 0;
    unsigned char *k = jstr(r, "key") ? b64_decode(jstr(r, "key"), &kn) : NULL;
    printf("key:         ");
    if (k)
        print_value(k, kn);
    else
        printf("(none)\n");
    free(k);
    json_t *hs = json_object_get(r, "headers");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        size_t hn = 0;
        unsigned char *hv = b64_decode(jstr(json_array_get(hs, i), "value"), &hn);
        printf("header:      %s: ", jstr(json_array_get(hs, i), "name"));
        if (hv)
            print_value(hv, hn);
        else
            printf("?\n");
        free(hv);
    }
    size_t vn = 0;
    unsigned char *v = b64_decode(jstr(r, "value") ? jstr(r, "value") : "", &vn);
    printf("value (%" PRId64 " bytes%s):\n",
           (int64_t)json_integer_value(json_object_get(r, "valueSize")),
           json_is_true(json_object_get(r, "truncated")) ? ", truncated: only the first ones kept"
                                                         : "");
    if (v)
        print_value(v, vn);
    free(v);
    char *tr =
        jget(ev, "uow.truncated") ? json_dumps(jget(ev, "uow.truncated"), JSON_COMPACT) : NULL;
    if (tr)
        printf("left out:    %s\n", tr);
    free(tr);
    fdb_rows_free(rows, n);
    return 0;
}
