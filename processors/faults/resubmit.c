/* sluice-faults resubmit: send the original records of chosen faults again.
 *
 * Each fault is sent exactly once in total, as counted at the destination,
 * even when a run is killed at any point and run again:
 *
 *   1. before sending, in one transaction, every fault of the run is marked
 *      `sending` together with the destination's end offsets (the probe);
 *   2. the records are produced, each with the header sluice.resubmit.fault
 *      naming its fault, and each fault is marked `resubmitted` from its own
 *      delivery report;
 *   3. a later run finds the faults a killed run left `sending` and, before
 *      sending anything, reads the destination from their probe to its end:
 *      a fault whose record is there was delivered (killed between the
 *      delivery and the mark) and is only marked; one that is not there was
 *      never delivered (killed before sending, or the delivery failed) and
 *      is sent again.
 *
 * Marking before sending alone would lose a fault killed between the mark
 * and the send; marking after the acknowledgement alone would send twice a
 * fault killed between the acknowledgement and the mark. The probe bounds
 * the read to what was written since the faults were marked. It relies on
 * the destination still retaining that range (an error otherwise: nothing is
 * sent for it) and on nobody else writing sluice.resubmit.fault headers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/sluice.h>

#include "common/cli.h"
#include "faults/faults.h"

#define PROG "sluice-faults resubmit"
#define MAX_PARTS 4096
#define HDR_PIPELINE "sluice.resubmit.pipeline"
#define HDR_FAULT "sluice.resubmit.fault"
#define HDR_RUN "sluice.resubmit.run"
/* How far before a Kinesis run's probe time a later run reads the stream:
 * arrival times are the service's clock, the probe time this host's. */
#define KIN_SKEW_MS (5 * 60 * 1000)

/* One fault to send: its decoded record. */
typedef struct {
    fault_row_t *row;
    char dest[512];
    unsigned char *key, *value;
    size_t key_len, value_len;
    sl_header_t *headers;
    unsigned char **hvals; /* the decoded header values, nvals of them */
    size_t nh, nvals;
    int in_doubt;     /* left `sending` by an interrupted run */
    char run[48];     /* Kinesis, in doubt: the run id of that run, "" for any */
    char coords[300]; /* where it was found or written (JSON), or "" */
    int found;        /* in doubt, and found at the destination */
    int send;
    int dest_done; /* its destination was handled */
} item_t;

typedef struct {
    sqlite3 *db;
    item_t **sending; /* the items produced, by message index */
    size_t marked, failed;
} run_t;

static void item_free(item_t *it)
{
    free(it->key);
    free(it->value);
    for (size_t i = 0; i < it->nvals; i++)
        free(it->hvals[i]);
    free(it->hvals);
    free(it->headers);
}

/* Decodes the fault's record into @p it. Returns 0, or -1 after printing why
 * it cannot be sent as it was. */
static int item_load(item_t *it, fault_row_t *row, const char *to)
{
    it->row = row;
    json_t *ev = row->event, *r = jget(ev, "uow.record");
    const char *topic = jstr(r, "topic");
    if (!r || !topic || !jstr(r, "value")) {
        fprintf(stderr, "%s: fault %s holds no original record\n", PROG, row->id);
        return -1;
    }
    json_t *tr = jget(ev, "uow.truncated");
    if (json_is_true(json_object_get(r, "truncated")) || json_is_true(jget(tr, "key")) ||
        json_is_true(jget(tr, "headers"))) {
        fprintf(stderr,
                "%s: fault %s: its record was cut to fit the fault (see uow.truncated): it "
                "cannot be sent again as it was; read it back from %s by its coordinates\n",
                PROG, row->id, topic);
        return -1;
    }
    if (to)
        snprintf(it->dest, sizeof it->dest, "%s", to);
    else
        snprintf(it->dest, sizeof it->dest, "%s:%s", jstr(r, "position") ? "kinesis" : "kafka",
                 topic);
    it->value = b64_decode(jstr(r, "value"), &it->value_len);
    const char *k = jstr(r, "key");
    if (k)
        it->key = b64_decode(k, &it->key_len);
    json_t *hs = json_object_get(r, "headers");
    size_t nh = json_array_size(hs);
    it->headers = calloc(nh + 3, sizeof *it->headers);
    it->hvals = calloc(nh + 1, sizeof *it->hvals);
    if (!it->value || (k && !it->key) || !it->headers || !it->hvals) {
        fprintf(stderr, "%s: fault %s: its record cannot be decoded\n", PROG, row->id);
        return -1;
    }
    for (size_t i = 0; i < nh; i++) {
        json_t *h = json_array_get(hs, i);
        const char *name = jstr(h, "name");
        /* A record that faulted after an earlier resubmit carries that
         * resubmit's headers: this one sets its own. */
        if (!name || !strncmp(name, "sluice.resubmit.", 16))
            continue;
        size_t vl = 0;
        unsigned char *v = b64_decode(jstr(h, "value") ? jstr(h, "value") : "", &vl);
        if (!v) {
            fprintf(stderr, "%s: fault %s: header %s cannot be decoded\n", PROG, row->id, name);
            return -1;
        }
        it->hvals[it->nvals++] = v;
        it->headers[it->nh++] = (sl_header_t){name, v, vl};
    }
    /* A decode fault ("-") reached no pipeline: every pipeline takes it. */
    const char *pl = jstr(ev, "tags.pipeline");
    if (pl && strcmp(pl, "-"))
        it->headers[it->nh++] = (sl_header_t){HDR_PIPELINE, pl, strlen(pl)};
    it->headers[it->nh++] = (sl_header_t){HDR_FAULT, row->id, strlen(row->id)};
    it->in_doubt = !strcmp(row->status, "sending");
    return 0;
}

/* The processor whose configuration the Kafka calls use: -X and -c. */
static sl_processor_t *processor(const char **xkv, size_t nx, const char **ckv, size_t nc,
                                 int kafka)
{
    sl_conf_t *c = sl_conf_new();
    char err[512], k[512];
    int bad = !c || sl_conf_set(c, "processor.name", "sluice-faults", err, sizeof err);
    const char *bs = getenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS");
    if (!bad && bs && *bs)
        bad = sl_conf_set(c, "kafka.bootstrap.servers", bs, err, sizeof err);
    for (size_t i = 0; !bad && i < nx + nc; i++) {
        const char *kv = i < nx ? xkv[i] : ckv[i - nx], *eq = strchr(kv, '=');
        snprintf(k, sizeof k, "%s%.*s", i < nx ? "kafka." : "", (int)(eq - kv), kv);
        bad = sl_conf_set(c, k, eq + 1, err, sizeof err);
    }
    if (!bad && kafka && !sl_conf_get_str_pt(c, "kafka.bootstrap.servers")) {
        snprintf(err, sizeof err,
                 "no Kafka brokers: set -X bootstrap.servers=HOST:PORT or "
                 "SLUICE_KAFKA_BOOTSTRAP_SERVERS");
        bad = 1;
    }
    sl_processor_t *p = bad ? NULL : sl_processor_new(c, err, sizeof err);
    if (!p)
        fprintf(stderr, "%s: %s\n", PROG, err);
    sl_conf_destroy(c);
    return p;
}

typedef struct {
    item_t *items;
    size_t n;
    const char *dest;
    size_t found;
} scan_t;

/* Where a fault was found or written, as `show` and `list --json` report
 * it: a Kafka partition and offset. */
static void kafka_coords(item_t *it, int32_t partition, int64_t offset)
{
    snprintf(it->coords, sizeof it->coords, "{\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}",
             partition, offset);
}

/* The same for a Kinesis shard and sequence number: strings the service
 * chose, so written escaped; coordinates that do not fit are left out ("")
 * rather than cut into invalid JSON. */
static void shard_coords(item_t *it, const char *shard, const char *sequence)
{
    json_t *j = json_pack("{s:s?,s:s?}", "shard", shard, "sequence", sequence);
    size_t n = j ? json_dumpb(j, it->coords, sizeof it->coords - 1, JSON_COMPACT) : 0;
    json_decref(j);
    it->coords[n && n < sizeof it->coords ? n : 0] = 0;
}

static int on_record(void *opaque, const sl_record_t *rec)
{
    scan_t *s = opaque;
    /* Kinesis: the run that sent it (see send_kinesis). */
    const sl_header_t *run = NULL;
    for (size_t h = 0; h < rec->header_count; h++)
        if (!strcmp(rec->headers[h].name, HDR_RUN))
            run = &rec->headers[h];
    for (size_t h = 0; h < rec->header_count; h++) {
        const sl_header_t *hd = &rec->headers[h];
        if (strcmp(hd->name, HDR_FAULT))
            continue;
        for (size_t i = 0; i < s->n; i++) {
            item_t *it = &s->items[i];
            if (it->in_doubt && !it->found && !strcmp(it->dest, s->dest) &&
                strlen(it->row->id) == hd->value_len &&
                !memcmp(it->row->id, hd->value, hd->value_len) &&
                (!it->run[0] || (run && strlen(it->run) == run->value_len &&
                                 !memcmp(it->run, run->value, run->value_len)))) {
                it->found = 1;
                s->found++;
                if (rec->position && rec->opaque)
                    shard_coords(it, (const char *)rec->opaque, rec->position);
                else
                    kafka_coords(it, rec->partition, rec->offset);
            }
        }
    }
    return 0;
}

static void on_ack(void *opaque, size_t i, const sl_kafka_msg_t *m)
{
    run_t *r = opaque;
    item_t *it = r->sending[i];
    if (m->err) {
        /* Left `sending`: the next run checks the destination. */
        r->failed++;
        return;
    }
    /* Where it was delivered, as `show` and `list --json` report it. */
    kafka_coords(it, m->partition, m->offset);
    if (!fdb_mark(PROG, r->db, it->row->id, "resubmitted", it->dest, it->coords))
        r->marked++;
}

/* After the check of @p dest (@p rc, @p err: the scan's result): marks
 * resubmitted the faults it found there (an interrupted run sent them).
 * Returns 0, or -1 with the error printed. */
static int mark_found(sqlite3 *db, item_t *items, size_t n, const char *dest, int rc,
                      const char *err)
{
    if (rc) {
        fprintf(stderr, "%s: cannot check %s for an interrupted run's faults: %s\n", PROG, dest,
                err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (it->send && it->found && !strcmp(it->dest, dest)) {
            if (fdb_mark(PROG, db, it->row->id, "resubmitted", dest,
                         it->coords[0] ? it->coords : NULL))
                return -1;
            it->send = 0;
            printf("%s: already at %s (an interrupted run sent it): marked resubmitted\n",
                   it->row->id, dest);
        }
    }
    return 0;
}

/* How many faults are still to be sent to @p dest. */
static size_t to_send(const item_t *items, size_t n, const char *dest)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += items[i].send && !strcmp(items[i].dest, dest);
    return m;
}

/* Step 1: every fault to be sent to @p dest marked `sending` with @p probe,
 * in one transaction, and listed in @p order (room for to_send()). Returns
 * 0, or -1 with nothing marked and the error printed. */
static int mark_sending(sqlite3 *db, item_t *items, size_t n, const char *dest, const char *probe,
                        item_t **order)
{
    int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == 0;
    size_t j = 0;
    for (size_t i = 0; ok && i < n; i++) {
        item_t *it = &items[i];
        if (!it->send || strcmp(it->dest, dest))
            continue;
        ok = !fdb_mark(PROG, db, it->row->id, "sending", dest, probe);
        order[j++] = it;
    }
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == 0;
    if (ok)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    fprintf(stderr, "%s: cannot mark the faults before sending: %s\n", PROG, sqlite3_errmsg(db));
    return -1;
}

/* Step 2's outcome for @p dest: 0 when each of the @p m was acknowledged
 * and marked, else the error (@p err of the call, or @p partial) and
 * EXIT_RUNTIME. */
static int sent_report(const char *dest, size_t m, size_t marked, size_t failed, const char *err,
                       const char *partial)
{
    if (err || failed || marked != m) {
        fprintf(stderr,
                "%s: %s: %zu of %zu sent and marked; %s (run again: the rest is checked at the "
                "destination and sent once)\n",
                PROG, dest, marked, m, err ? err : partial);
        return EXIT_RUNTIME;
    }
    printf("sent %zu fault%s to %s\n", m, m == 1 ? "" : "s", dest);
    return 0;
}

/* Resolves the in-doubt faults of @p dest and sends what must be sent.
 * Returns 0 or an exit code. */
static int send_to(sl_processor_t *p, sqlite3 *db, item_t *items, size_t n, const char *dest,
                   double rate, size_t *sent)
{
    const char *topic = dest + 6;
    char err[512];
    /* 3: faults a killed run left `sending`, checked from their probe. */
    json_t *from = NULL;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (!it->send || !it->in_doubt || strcmp(it->dest, dest))
            continue;
        json_t *pr = it->row->probe ? json_loads(it->row->probe, 0, NULL) : NULL;
        if (!json_is_array(pr) || (it->row->dest && strcmp(it->row->dest, dest))) {
            /* Sent elsewhere (another --to) or with no probe: from the start. */
            json_decref(pr);
            pr = json_array();
        }
        if (!from) {
            from = pr;
            continue;
        }
        /* The earliest probe covers every in-doubt fault of this destination. */
        for (size_t k = 0; k < json_array_size(from); k++) {
            json_int_t a = json_integer_value(json_array_get(from, k));
            json_int_t b = k < json_array_size(pr) ? json_integer_value(json_array_get(pr, k)) : 0;
            if (b < a)
                json_array_set_new(from, k, json_integer(b));
        }
        if (json_array_size(pr) < json_array_size(from))
            for (size_t k = json_array_size(pr); k < json_array_size(from); k++)
                json_array_set_new(from, k, json_integer(0));
        json_decref(pr);
    }
    int64_t ends[MAX_PARTS];
    int nparts = MAX_PARTS;
    int rc = sl_kafka_end_offsets(p, topic, ends, &nparts, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: --to %s: %s\n", PROG, dest, err);
        json_decref(from);
        return EXIT_RUNTIME;
    }
    if (from) {
        int64_t start[MAX_PARTS];
        for (int k = 0; k < nparts; k++)
            start[k] = (size_t)k < json_array_size(from)
                           ? (int64_t)json_integer_value(json_array_get(from, k))
                           : 0;
        json_decref(from);
        scan_t s = {items, n, dest, 0};
        rc = sl_kafka_scan(p, topic, start, nparts, on_record, &s, err, sizeof err);
        if (mark_found(db, items, n, dest, rc, err))
            return EXIT_RUNTIME;
    }
    size_t m = to_send(items, n, dest);
    if (!m)
        return 0;
    /* 1: the probe and `sending`, in one transaction. */
    json_t *probe = json_array();
    for (int k = 0; k < nparts; k++)
        json_array_append_new(probe, json_integer(ends[k]));
    char *ps = json_dumps(probe, JSON_COMPACT);
    json_decref(probe);
    sl_kafka_msg_t *msgs = calloc(m, sizeof *msgs);
    item_t **order = calloc(m, sizeof *order);
    if (!ps || !msgs || !order || mark_sending(db, items, n, dest, ps, order)) {
        free(ps);
        free(msgs);
        free(order);
        return EXIT_RUNTIME;
    }
    free(ps);
    for (size_t j = 0; j < m; j++)
        msgs[j] = (sl_kafka_msg_t){.key = order[j]->key,
                                   .key_len = order[j]->key_len,
                                   .value = order[j]->value,
                                   .value_len = order[j]->value_len,
                                   .headers = order[j]->headers,
                                   .header_count = order[j]->nh};
    /* 2: send; each fault is marked from its own delivery report. */
    run_t r = {.db = db, .sending = order};
    rc = sl_kafka_produce_sync(p, topic, msgs, m, rate, on_ack, &r, err, sizeof err);
    *sent += r.marked;
    free(msgs);
    free(order);
    return sent_report(dest, m, r.marked, r.failed, rc ? err : NULL, "some deliveries failed");
}

/* ---- Kinesis ----------------------------------------------------------
 * The same three steps, with what Kinesis offers. A record has no headers:
 * sl_kinesis_put_sync writes it in the sluice envelope, which the Kinesis
 * source unwraps, so the headers route it as over Kafka. A stream has no
 * end offsets to probe: the probe is the time of the run (the reread
 * starts from it, less KIN_SKEW_MS for the service's clock: AT_TIMESTAMP)
 * and an id of the run, sent as the header sluice.resubmit.run. A record
 * counts as the in-doubt fault's only when it carries both the fault id and
 * that run's id, so an earlier --force run's record of the same fault,
 * read in the skew margin, is not taken for this one. Each fault is marked
 * with the shard and sequence number of its record. */

typedef struct {
    sqlite3 *db;
    item_t **sending;
    size_t marked, failed;
} krun_t;

static void on_kack(void *opaque, size_t i, const sl_kinesis_msg_t *m)
{
    krun_t *r = opaque;
    item_t *it = r->sending[i];
    if (m->err) {
        r->failed++; /* left `sending`: the next run checks the stream */
        return;
    }
    shard_coords(it, m->shard, m->sequence);
    if (!fdb_mark(PROG, r->db, it->row->id, "resubmitted", it->dest, it->coords))
        r->marked++;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int send_kinesis(sl_processor_t *p, sqlite3 *db, item_t *items, size_t n, const char *dest,
                        double rate, size_t *sent)
{
    const char *stream = dest + 8;
    char err[512];
    /* A stream that does not exist: an error before anything is marked. */
    if (sl_kinesis_stream_check(p, stream, err, sizeof err)) {
        fprintf(stderr, "%s: --to %s: %s\n", PROG, dest, err);
        return EXIT_RUNTIME;
    }
    /* 3: faults a killed run left `sending` to this stream, looked for from
     * the earliest of their runs' times. */
    int64_t since = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (!it->send || !it->in_doubt || strcmp(it->dest, dest))
            continue;
        if (it->row->dest && strcmp(it->row->dest, dest)) {
            /* Left sending to another destination: never sent here. */
            it->in_doubt = 0;
            continue;
        }
        json_t *pr = it->row->probe ? json_loads(it->row->probe, 0, NULL) : NULL;
        const char *run = jstr(pr, "run");
        json_t *at = json_object_get(pr, "since");
        int64_t t = json_is_integer(at) ? (int64_t)json_integer_value(at) : 0;
        /* No usable probe: from the stream's start, by the fault id alone. */
        snprintf(it->run, sizeof it->run, "%s", run && json_is_integer(at) ? run : "");
        t = it->run[0] && t > KIN_SKEW_MS ? t - KIN_SKEW_MS : 0;
        if (t < since)
            since = t;
        json_decref(pr);
    }
    if (since != INT64_MAX) {
        scan_t s = {items, n, dest, 0};
        int rc = sl_kinesis_scan(p, stream, since, on_record, &s, err, sizeof err);
        if (mark_found(db, items, n, dest, rc, err))
            return EXIT_RUNTIME;
    }
    size_t m = to_send(items, n, dest);
    if (!m)
        return 0;
    /* 1: the probe (this run's time and id) and `sending`, in one
     * transaction, before anything is sent. */
    char run[48], probe[128];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t0 = wall_ms();
    snprintf(run, sizeof run, "%" PRIx64 "-%ld-%lx", (uint64_t)t0, (long)getpid(),
             (unsigned long)ts.tv_nsec);
    snprintf(probe, sizeof probe, "{\"since\":%" PRId64 ",\"run\":\"%s\"}", t0, run);
    sl_kinesis_msg_t *msgs = calloc(m, sizeof *msgs);
    item_t **order = calloc(m, sizeof *order);
    if (!msgs || !order || mark_sending(db, items, n, dest, probe, order)) {
        free(msgs);
        free(order);
        return EXIT_RUNTIME;
    }
    for (size_t j = 0; j < m; j++) {
        item_t *it = order[j];
        /* The run's id after the item's own headers (room kept by item_load). */
        it->headers[it->nh] = (sl_header_t){HDR_RUN, run, strlen(run)};
        msgs[j] = (sl_kinesis_msg_t){.key = it->key,
                                     .key_len = it->key_len,
                                     .value = it->value,
                                     .value_len = it->value_len,
                                     .headers = it->headers,
                                     .header_count = it->nh + 1};
    }
    /* 2: send; each fault is marked from its own entry's answer. */
    krun_t r = {.db = db, .sending = order};
    int rc = sl_kinesis_put_sync(p, stream, msgs, m, rate, on_kack, &r, err, sizeof err);
    *sent += r.marked;
    free(msgs);
    free(order);
    return sent_report(dest, m, r.marked, r.failed, rc ? err : NULL, "some entries failed");
}

int faults_resubmit(int argc, char **argv)
{
    const char *store = default_store(), *to = NULL;
    fault_filter_t f = {0};
    int all = 0, execute = 0, force = 0, filters = 0, rc = EXIT_USAGE;
    double rate = 0;
    const char **ids = calloc((size_t)argc, sizeof *ids), **xkv = calloc((size_t)argc, sizeof *xkv),
               **ckv = calloc((size_t)argc, sizeof *ckv);
    size_t nids = 0, nx = 0, nc = 0;
    if (!ids || !xkv || !ckv) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *st = store;
        int r = filter_arg(PROG, argc, argv, &i, &store, &f);
        if (r < 0)
            goto out;
        if (r) {
            filters += store == st;
            continue;
        }
        if (!strcmp(a, "--all"))
            all = 1;
        else if (!strcmp(a, "--execute"))
            execute = 1;
        else if (!strcmp(a, "--force"))
            force = 1;
        else if (!strcmp(a, "--to") || !strncmp(a, "--to=", 5)) {
            to = a[4] == '=' ? a + 5 : i + 1 < argc ? argv[++i] : "";
            if ((strncmp(to, "kafka:", 6) || !to[6] || strchr(to, ',')) &&
                (strncmp(to, "kinesis:", 8) || !to[8])) {
                fprintf(stderr, "%s: --to %s: expected kafka:TOPIC or kinesis:STREAM\n", PROG, to);
                goto out;
            }
        } else if (!strcmp(a, "--rate") || !strncmp(a, "--rate=", 7)) {
            const char *v = a[6] == '=' ? a + 7 : i + 1 < argc ? argv[++i] : "";
            char *end;
            rate = strtod(v, &end);
            if (!*v || *end || !(rate > 0)) {
                fprintf(stderr, "%s: --rate %s: expected records per second, above 0\n", PROG, v);
                goto out;
            }
        } else if (!strncmp(a, "-X", 2) || !strncmp(a, "-c", 2)) {
            const char *v = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : "";
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || eq - v > 400) {
                fprintf(stderr, "%s: %.2s %s: expected KEY=VALUE\n", PROG, a, v);
                goto out;
            }
            if (a[1] == 'X')
                xkv[nx++] = v;
            else
                ckv[nc++] = v;
        } else if (a[0] == '-') {
            fprintf(stderr, "%s: unknown argument \"%s\" (see --help)\n", PROG, a);
            goto out;
        } else {
            ids[nids++] = a;
        }
    }
    if (!!nids + all + !!filters != 1) {
        fprintf(stderr,
                "%s: say which faults: fault ids, --all, or filters (--pipeline, --error, "
                "--processor, --since, --until, --status, --limit), one of the three\n",
                PROG);
        goto out;
    }
    sqlite3 *db = fdb_open(PROG, store);
    if (!db) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (nids) {
        f.ids = ids;
        f.nids = nids;
    }
    fault_row_t *rows = NULL;
    size_t n = 0;
    item_t *items = NULL;
    sl_processor_t *p = NULL;
    rc = EXIT_RUNTIME;
    if (fdb_query(PROG, db, &f, &rows, &n))
        goto close;
    for (size_t i = 0; i < nids; i++) {
        size_t k = 0;
        while (k < n && strcmp(rows[k].id, ids[i]))
            k++;
        if (k == n) {
            fprintf(stderr, "%s: no fault %s in %s: nothing sent\n", PROG, ids[i], store + 7);
            goto close;
        }
    }
    if (!n) {
        fprintf(stderr, "%s: no fault in %s matches: nothing sent\n", PROG, store + 7);
        goto close;
    }
    items = calloc(n, sizeof *items);
    if (!items)
        goto close;
    /* Every fault is checked before anything is sent: nothing half-sent. */
    size_t skipped = 0, chosen = 0, kafka = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rows[i].status, "resubmitted") && !force) {
            skipped++;
            continue;
        }
        if (item_load(&items[i], &rows[i], to))
            goto close;
        items[i].send = 1;
        chosen++;
        kafka += !strncmp(items[i].dest, "kafka:", 6);
    }
    if (!execute) {
        for (size_t i = 0; i < n; i++) {
            item_t *it = &items[i];
            if (!it->send)
                continue;
            const char *pl = jstr(it->row->event, "tags.pipeline");
            printf("would send %s to %s for pipeline %s: key %zu bytes, value %zu bytes, %zu "
                   "headers%s\n",
                   it->row->id, it->dest, pl, it->key_len, it->value_len, it->nh,
                   it->in_doubt ? " (left sending by an interrupted run: checked at the "
                                  "destination first)"
                                : "");
        }
        printf("dry run: %zu fault%s would be sent, %zu already resubmitted skipped (--force "
               "sends them again); add --execute to send\n",
               chosen, chosen == 1 ? "" : "s", skipped);
        rc = 0;
        goto close;
    }
    if (!chosen) {
        printf("nothing to send: %zu fault%s already resubmitted (--force sends again)\n", skipped,
               skipped == 1 ? "" : "s");
        rc = 0;
        goto close;
    }
    p = processor(xkv, nx, ckv, nc, kafka > 0);
    if (!p)
        goto close;
    size_t sent = 0;
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!items[i].send || items[i].dest_done)
            continue;
        /* Each destination once. Not judged by `send` of the items before:
         * a fault found at the destination is no longer to send, and the
         * destination would be taken again for the next one, sending again
         * what its first pass sent. */
        for (size_t k = i; k < n; k++)
            if (!strcmp(items[k].dest, items[i].dest))
                items[k].dest_done = 1;
        rc = strncmp(items[i].dest, "kinesis:", 8)
                 ? send_to(p, db, items, n, items[i].dest, rate, &sent)
                 : send_kinesis(p, db, items, n, items[i].dest, rate, &sent);
    }
    if (skipped)
        printf("%zu already resubmitted, skipped\n", skipped);
close:
    sl_processor_destroy(p);
    for (size_t i = 0; items && i < n; i++)
        item_free(&items[i]);
    free(items);
    fdb_rows_free(rows, n);
    sqlite3_close(db);
out:
    free(ids);
    free(xkv);
    free(ckv);
    return rc;
}
