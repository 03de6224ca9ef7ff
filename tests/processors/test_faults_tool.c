/* sluice-faults end to end against an embedded broker in this process: a
 * processor with a bug faults 37 of 1,000 events; `store` keeps them, `list`
 * and `show` read them, and once the bug is fixed `resubmit` sends them
 * back to the one pipeline that faulted, exactly once, even across a
 * SIGKILL. Path of the binary in SLUICE_FAULTS_BIN. */
#include "../kafka/kafka_helpers.h"
#include "../kinesis/kinesis_helpers.h"

#include "core/util.h"
#include "kafka/kafka_int.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

TestSuite(faults_tool, .timeout = 300);

#define N_EVENTS 1000
#define N_BAD 37
#define BAD(i) ((i) % 27 == 5) /* 5, 32, ..., 977: 37 of 0..999 */

static char tmpdir[256];

static const char *fbin(void)
{
    const char *b = getenv("SLUICE_FAULTS_BIN");
    if (!b)
        cr_skip_test("SLUICE_FAULTS_BIN is not set");
    return b;
}

/* Runs sluice-faults with @p args (NULL-terminated, after the binary), its
 * stdout and stderr in @p out (a file under tmpdir). Returns the pid. */
static pid_t spawn_faults(const char *const *args, const char *out)
{
    char *argv[64];
    size_t n = 0;
    argv[n++] = (char *)fbin();
    for (; *args && n < 63; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    char *envp[256];
    size_t k = 0;
    for (char **e = environ; *e && k < 250; e++)
        if (strncmp(*e, "SLUICE_", 7))
            envp[k++] = *e;
    envp[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Runs sluice-faults to the end. Returns its exit code; its output in *@p text
 * (malloc'd). */
static int faults(char **text, const char *const *args)
{
    char out[400];
    snprintf(out, sizeof out, "%s/out.txt", tmpdir);
    int rc = kt_wait(spawn_faults(args, out), 120000);
    *text = tu_slurp(out);
    return rc;
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- the orders service: a pipeline with a bug, and an audit beside it ---- */

typedef struct {
    const char *bs;
    int fixed;
    pthread_t th;
    sl_processor_t *p;
    int rc;
    sl_stats_t pricing, audit;
} svc_t;

static sl_result_t price(sl_uow_t *u, void *opaque)
{
    const svc_t *s = opaque;
    json_t *b = sl_uow_body(u);
    json_t *pr = json_object_get(json_object_get(b, "order"), "price");
    if (!json_is_number(pr) && !s->fixed) {
        sl_uow_fail(u, SL_EFIELD, "order.price is not a number");
        return SL_FAULT;
    }
    json_t *o = json_pack("{s:O,s:f}", "id", json_object_get(b, "id"), "price",
                          json_is_number(pr) ? json_number_value(pr) : 0.0);
    int rc = sl_uow_set_output_json(u, NULL, 0, o);
    json_decref(o);
    return rc ? SL_RETRY : SL_OK;
}

static void *svc_main(void *arg)
{
    svc_t *s = arg;
    s->rc = sl_processor_run(s->p);
    return NULL;
}

static void svc_start(svc_t *s)
{
    sl_conf_t *c = sl_conf_new();
    char err[512];
    const char *kv[] = {"processor.name",
                        "orders-svc",
                        "processor.signals",
                        "false",
                        "kafka.bootstrap.servers",
                        s->bs,
                        "kafka.group.id",
                        "orders-svc",
                        "commit.interval.ms",
                        "200",
                        NULL};
    for (const char **k = kv; *k; k += 2)
        cr_assert_eq(sl_conf_set(c, k[0], k[1], err, sizeof err), 0, "%s", err);
    s->p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(s->p, "%s", err);
    cr_assert_eq(sl_kafka_source_attach(s->p, "orders", err, sizeof err), 0, "%s", err);
    sl_sink_t *fs = sl_kafka_sink_new(s->p, "faults", err, sizeof err);
    sl_sink_t *ps = sl_kafka_sink_new(s->p, "out-pricing", err, sizeof err);
    sl_sink_t *as = sl_kafka_sink_new(s->p, "out-audit", err, sizeof err);
    cr_assert(fs && ps && as, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(s->p, fs), 0);
    sl_pipeline_t *pl = sl_pipeline_new("pricing"), *au = sl_pipeline_new("audit");
    cr_assert_eq(sl_pipeline_map(pl, price, s), 0);
    cr_assert_eq(sl_pipeline_stage_name(pl, "price"), 0);
    cr_assert_eq(sl_pipeline_sink(pl, ps), 0);
    cr_assert_eq(sl_pipeline_sink(au, as), 0);
    cr_assert_eq(sl_processor_add_pipeline(s->p, pl), 0);
    cr_assert_eq(sl_processor_add_pipeline(s->p, au), 0);
    cr_assert_eq(pthread_create(&s->th, NULL, svc_main, s), 0);
}

static void svc_stop(svc_t *s)
{
    sl_processor_stop(s->p);
    pthread_join(s->th, NULL);
    cr_assert_eq(s->rc, 0, "the service drained");
    sl_engine_t *e = sl_processor_engine(s->p);
    cr_assert_eq(sl_engine_pipeline_stats(e, "pricing", &s->pricing), 0);
    cr_assert_eq(sl_engine_pipeline_stats(e, "audit", &s->audit), 0);
    sl_processor_destroy(s->p);
    s->p = NULL;
}

static void wait_committed(const char *bs, const char *group, const char *topic, int parts,
                           int64_t want)
{
    int64_t end = tu_now_ms() + 90000, got = -1;
    while (tu_now_ms() < end && (got = kt_committed(bs, group, topic, parts)) < want)
        tu_sleep_ms(200);
    cr_assert_geq(got, want, "%s committed %lld of %lld on %s", group, (long long)got,
                  (long long)want, topic);
}

static int64_t db_count(const char *db, const char *sql)
{
    sqlite3 *h;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return n;
}

/* The ids of the first two faults of the store @p db in the order resubmit
 * takes them (A and B of the kill cases). */
static void first_two(const char *db, char *ida, char *idb, size_t cap)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT key FROM faults ORDER BY timestamp, key LIMIT 2", -1,
                                    &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    snprintf(ida, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    snprintf(idb, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(h);
}

/* Runs @p sql on the store @p db. */
static void db_exec(const char *db, const char *sql)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
}

/* Ids of the outputs of the pricing pipeline, counted per order id. */
typedef struct {
    int seen[N_EVENTS];
    size_t n;
} tally_t;

static void on_out(const rd_kafka_message_t *m, void *opaque)
{
    tally_t *t = opaque;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    int i = id ? atoi(id + 2) : -1;
    if (i >= 0 && i < N_EVENTS)
        t->seen[i]++;
    t->n++;
    json_decref(j);
}

/* Records on "orders" since @p from carrying sluice.resubmit.fault, per fault id. */
typedef struct {
    json_t *count; /* id -> count */
    size_t total, for_pricing;
} dest_t;

static int on_dest(void *opaque, const sl_record_t *r)
{
    dest_t *d = opaque;
    for (size_t i = 0; i < r->header_count; i++) {
        const sl_header_t *h = &r->headers[i];
        if (!strcmp(h->name, "sluice.resubmit.fault")) {
            char id[64];
            snprintf(id, sizeof id, "%.*s", (int)h->value_len, (const char *)h->value);
            json_int_t c = json_integer_value(json_object_get(d->count, id));
            json_object_set_new(d->count, id, json_integer(c + 1));
            d->total++;
        }
        if (!strcmp(h->name, "sluice.resubmit.pipeline") && h->value_len == 7 &&
            !memcmp(h->value, "pricing", 7))
            d->for_pricing++;
    }
    return 0;
}

/* The fault records as the Kafka sink wrote them: their sluice.fault.*
 * headers agree with the event. */
typedef struct {
    size_t n, agree;
} fhdr_t;

static const char *hval(const sl_record_t *r, const char *name, char *buf, size_t cap)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (!strcmp(r->headers[i].name, name)) {
            snprintf(buf, cap, "%.*s", (int)r->headers[i].value_len,
                     (const char *)r->headers[i].value);
            return buf;
        }
    return NULL;
}

static int on_fault_rec(void *opaque, const sl_record_t *r)
{
    fhdr_t *f = opaque;
    json_t *j = json_loadb(r->value, r->value_len, 0, NULL);
    char id[64], pl[64], sn[64], off[32], want[32];
    snprintf(want, sizeof want, "%lld",
             (long long)json_integer_value(
                 json_object_get(json_object_get(json_object_get(j, "uow"), "record"), "offset")));
    f->n++;
    if (hval(r, "sluice.fault.id", id, sizeof id) &&
        !strcmp(id, json_string_value(json_object_get(j, "id"))) &&
        hval(r, "sluice.fault.pipeline", pl, sizeof pl) && !strcmp(pl, "pricing") &&
        hval(r, "sluice.fault.stage.name", sn, sizeof sn) && !strcmp(sn, "price") &&
        hval(r, "sluice.fault.source.offset", off, sizeof off) && !strcmp(off, want))
        f->agree++;
    json_decref(j);
    return 0;
}

static sl_processor_t *tool_proc(const char *bs)
{
    sl_conf_t *c = sl_conf_new();
    sl_conf_set(c, "kafka.bootstrap.servers", bs, NULL, 0);
    char err[256];
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    return p;
}

static void ends(const char *bs, int64_t *e)
{
    sl_processor_t *p = tool_proc(bs);
    char err[256];
    int n = 2;
    cr_assert_eq(sl_kafka_end_offsets(p, "orders", e, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2);
    sl_processor_destroy(p);
}

static dest_t count_dest(const char *bs, const int64_t *from)
{
    sl_processor_t *p = tool_proc(bs);
    dest_t d = {.count = json_object()};
    char err[256];
    cr_assert_eq(sl_kafka_scan(p, "orders", from, 2, on_dest, &d, err, sizeof err), 0, "%s", err);
    sl_processor_destroy(p);
    return d;
}

Test(faults_tool, store_list_show_and_resubmit_exactly_once_to_the_fixed_pipeline)
{
    tu_mkdtemp(tmpdir, sizeof tmpdir, "sluice-faults");
    const char *topics[] = {"orders",      "faults",    "faults.unstorable",
                            "out-pricing", "out-audit", NULL};
    const int parts[] = {2, 1, 1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    char db[300], store[310], xbs[300];
    snprintf(db, sizeof db, "%s/faults.db", tmpdir);
    snprintf(store, sizeof store, "sqlite:%s", db);
    snprintf(xbs, sizeof xbs, "bootstrap.servers=%s", bs);

    /* 1,000 orders, 37 of them with a price the buggy pipeline cannot read. */
    rd_kafka_t *pr = kt_producer(bs);
    for (int i = 0; i < N_EVENTS; i++) {
        char v[256], k[16];
        snprintf(k, sizeof k, "o-%d", i);
        int n = snprintf(v, sizeof v,
                         "{\"id\":\"e-%d\",\"type\":\"order-placed\",\"timestamp\":%d,"
                         "\"partitionKey\":\"%s\",\"order\":{\"id\":\"%s\",\"price\":%s}}",
                         i, 1700000000 + i, k, k, BAD(i) ? "\"n/a\"" : "12.5");
        kt_produce(pr, "orders", k, v, (size_t)n);
    }
    kt_flush(pr);
    rd_kafka_destroy(pr);

    svc_t s = {.bs = bs};
    svc_start(&s);
    wait_committed(bs, "orders-svc", "orders", 2, N_EVENTS);
    svc_stop(&s);
    cr_assert_eq(s.pricing.faults, N_BAD);
    cr_assert_eq(s.pricing.sunk, N_EVENTS - N_BAD);
    cr_assert_eq(s.audit.sunk, N_EVENTS);

    {
        sl_processor_t *tp = tool_proc(bs);
        fhdr_t fh = {0};
        int64_t zero = 0;
        char err[256];
        cr_assert_eq(sl_kafka_scan(tp, "faults", &zero, 1, on_fault_rec, &fh, err, sizeof err), 0,
                     "%s", err);
        sl_processor_destroy(tp);
        cr_assert_eq(fh.n, N_BAD);
        cr_assert_eq(fh.agree, N_BAD, "every fault record carries its sluice.fault.* headers");
    }

    /* store keeps the 37 faults; a second store from the start keeps 37. */
    for (int round = 0; round < 2; round++) {
        char log[320];
        snprintf(log, sizeof log, "%s/store%d.log", tmpdir, round);
        const char *args[] = {"store",
                              "--source",
                              "kafka:faults",
                              "--store",
                              store,
                              "--group",
                              round ? "faults-store-2" : "faults-store",
                              "-X",
                              xbs,
                              NULL};
        pid_t pid = spawn_faults(args, log);
        wait_committed(bs, round ? "faults-store-2" : "faults-store", "faults", 1, N_BAD);
        kill(pid, SIGTERM);
        cr_assert_eq(kt_wait(pid, 30000), 0, "store drains; log:\n%s", tu_slurp(log));
        cr_assert_eq(db_count(db, "SELECT count(*) FROM faults"), N_BAD, "round %d", round);
    }

    char *out;
    const char *ls[] = {"list", "--store", store, "--pipeline", "pricing", "--json", NULL};
    cr_assert_eq(faults(&out, ls), 0, "%s", out);
    cr_assert_eq(lines(out), N_BAD, "%s", out);
    json_t *first = json_loads(strtok(out, "\n"), 0, NULL);
    cr_assert(first);
    json_t *fe = json_object_get(first, "fault");
    cr_assert_str_eq(json_string_value(json_object_get(first, "status")), "open");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fe, "tags"), "stageName")),
                     "price");
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(first, "id")));
    json_decref(first);
    free(out);
    const char *la[] = {"list", "--store", store, "--pipeline", "audit", "--json", NULL};
    cr_assert_eq(faults(&out, la), 0);
    cr_assert_eq(lines(out), 0, "the audit pipeline never faulted: %s", out);
    free(out);
    const char *lt[] = {"list", "--store", store, NULL};
    cr_assert_eq(faults(&out, lt), 0);
    cr_assert(strstr(out, "pricing") && strstr(out, "SL_EFIELD") && strstr(out, "37 faults"), "%s",
              out);
    free(out);
    const char *sh[] = {"show", "--store", store, id, NULL};
    cr_assert_eq(faults(&out, sh), 0, "%s", out);
    cr_assert(strstr(out, "\"price\": \"n/a\"") && strstr(out, "pipeline:    pricing") &&
                  strstr(out, "\"price\""),
              "the value pretty-printed: %s", out);
    free(out);

    /* A dry run sends nothing. */
    int64_t e0[2], e1[2];
    ends(bs, e0);
    const char *dry[] = {"resubmit", "--store", store, "--pipeline", "pricing", "-X", xbs, NULL};
    cr_assert_eq(faults(&out, dry), 0, "%s", out);
    cr_assert(strstr(out, "dry run: 37 faults would be sent"), "%s", out);
    free(out);
    ends(bs, e1);
    cr_assert(e1[0] == e0[0] && e1[1] == e0[1], "a dry run sends nothing");

    /* The fix runs; the resubmit sends 37, the fixed pipeline takes each
     * once, the audit pipeline skips them. */
    const char *ex[] = {"resubmit",  "--store", store, "--pipeline", "pricing",
                        "--execute", "-X",      xbs,   NULL};
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    cr_assert(strstr(out, "sent 37 faults to kafka:orders"), "%s", out);
    free(out);
    dest_t d = count_dest(bs, e0);
    cr_assert_eq(d.total, N_BAD);
    cr_assert_eq(d.for_pricing, N_BAD);
    cr_assert_eq(json_object_size(d.count), N_BAD, "one record per fault");
    json_decref(d.count);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"),
                 N_BAD);
    /* Each marked with where it was delivered: its own partition and offset. */
    cr_assert_eq(db_count(db, "SELECT count(DISTINCT probe) FROM faults_resubmit"
                              " WHERE status = 'resubmitted'"
                              " AND probe LIKE '{\"partition\":%,\"offset\":%}'"),
                 N_BAD);

    s = (svc_t){.bs = bs, .fixed = 1};
    svc_start(&s);
    wait_committed(bs, "orders-svc", "orders", 2, N_EVENTS + N_BAD);
    svc_stop(&s);
    cr_assert_eq(s.pricing.sunk, N_BAD, "the fixed pipeline took the 37");
    cr_assert_eq(s.pricing.faults, 0);
    cr_assert_eq(s.audit.skipped, N_BAD, "the audit pipeline skipped them");
    cr_assert_eq(s.audit.sunk, 0);
    tally_t t = {0};
    kt_read(bs, "out-pricing", 1, N_EVENTS, 60000, 1000, on_out, &t);
    cr_assert_eq(t.n, N_EVENTS, "963 the first time, the 37 once each after the fix");
    for (int i = 0; i < N_EVENTS; i++)
        cr_assert_eq(t.seen[i], 1, "order %d", i);
    cr_assert_eq(kt_read(bs, "out-audit", 1, N_EVENTS, 30000, 1000, NULL, NULL), N_EVENTS);

    /* Again: nothing to send. */
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    cr_assert(strstr(out, "nothing to send"), "%s", out);
    free(out);
    ends(bs, e1);
    cr_assert(e1[0] + e1[1] == e0[0] + e0[1] + N_BAD, "the second resubmit sent nothing");

    /* Killed midway, run again: each fault once in total at the destination. */
    int64_t e2[2];
    ends(bs, e2);
    const char *slow[] = {"resubmit", "--store", store,       "--pipeline", "pricing", "--force",
                          "--rate",   "12",      "--execute", "-X",         xbs,       NULL};
    char log[320];
    snprintf(log, sizeof log, "%s/killed.log", tmpdir);
    pid_t pid = spawn_faults(slow, log);
    int64_t until = tu_now_ms() + 60000;
    /* All 37 are marked sending before the first is sent; kill it once about
     * ten were delivered (at 12 a second) and marked. */
    while (tu_now_ms() < until &&
           db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'") <= 0)
        tu_sleep_ms(10);
    while (tu_now_ms() < until &&
           db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'") > 27)
        tu_sleep_ms(10);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int64_t left = db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'");
    cr_assert(left > 0 && left < N_BAD, "killed midway: %lld left sending", (long long)left);
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    free(out);
    d = count_dest(bs, e2);
    cr_assert_eq(json_object_size(d.count), N_BAD, "every fault reached the destination");
    cr_assert_eq(d.total, N_BAD, "and only once: %zu records for %d faults", d.total, N_BAD);
    json_decref(d.count);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"),
                 N_BAD);

    /* The two cases a kill leaves, made on purpose, for the first two faults
     * in the order resubmit takes them: A was delivered but its run was
     * killed before the mark (its record is past the probe): only marked. B
     * was marked sending and never sent: sent, once. */
    {
        char ida[64], idb[64];
        first_two(db, ida, idb, sizeof ida);
        int64_t e5[2];
        ends(bs, e5);
        char sql[600];
        snprintf(sql, sizeof sql,
                 "UPDATE faults_resubmit SET status = 'sending', dest = 'kafka:orders', probe ="
                 " '[%lld,%lld]' WHERE id IN ('%s', '%s')",
                 (long long)e5[0], (long long)e5[1], ida, idb);
        db_exec(db, sql);
        sl_processor_t *tp = tool_proc(bs);
        sl_header_t hd[2] = {{"sluice.resubmit.pipeline", "pricing", 7},
                             {"sluice.resubmit.fault", ida, strlen(ida)}};
        sl_kafka_msg_t m = {.key = "by-hand",
                            .key_len = 7,
                            .value = "{}",
                            .value_len = 2,
                            .headers = hd,
                            .header_count = 2};
        char err[256];
        cr_assert_eq(sl_kafka_produce_sync(tp, "orders", &m, 1, 0, NULL, NULL, err, sizeof err), 0,
                     "%s", err);
        sl_processor_destroy(tp);
        cr_assert_eq(faults(&out, ex), 0, "%s", out);
        char said[128];
        snprintf(said, sizeof said, "%s: already at kafka:orders", ida);
        cr_assert(strstr(out, said) && strstr(out, "sent 1 fault to kafka:orders"), "%s", out);
        cr_assert_eq(lines(out), 3, "marked A, sent B, skipped the rest: %s", out);
        free(out);
        d = count_dest(bs, e5);
        cr_assert_eq(json_integer_value(json_object_get(d.count, ida)), 1, "A: not sent again");
        cr_assert_eq(json_integer_value(json_object_get(d.count, idb)), 1, "B: sent, once");
        cr_assert_eq(d.total, 2);
        json_decref(d.count);
        cr_assert_eq(
            db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"),
            N_BAD);
    }

    /* Bad input: one line, a non-zero exit, nothing sent. */
    int64_t e3[2];
    ends(bs, e3);
    /* The embedded broker creates any topic a client asks about (see
     * test_failures.c): this one answers "unknown topic", as a cluster with
     * auto-creation off does. */
    rd_kafka_mock_topic_set_error(sl__broker_mock(b), "no-such-topic",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    char missing[320];
    snprintf(missing, sizeof missing, "sqlite:%s/nope.db", tmpdir);
    struct {
        const char *args[12];
        int rc;
        const char *says;
    } bad[] = {
        {{"show", "--store", store, "fault-0000000000000000", NULL}, 1, "no fault"},
        {{"list", "--store", missing, NULL}, 1, "cannot open the fault store"},
        {{"resubmit", "--store", store, "fault-0000000000000000", "--execute", "-X", xbs, NULL},
         1,
         "no fault fault-0000000000000000"},
        {{"resubmit", "--store", store, "--pipeline", "nope", "--execute", "-X", xbs, NULL},
         1,
         "no fault in"},
        {{"resubmit", "--store", store, "--execute", NULL}, 2, "say which faults"},
        {{"resubmit", "--store", store, "--all", "--force", "--to", "kafka:no-such-topic",
          "--execute", "-X", xbs, NULL},
         1,
         "no-such-topic"},
        {{"list", "--store", store, "--since", "yesterday", NULL}, 2, "--since"},
        {{"frobnicate", NULL}, 2, "unknown command"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = faults(&out, bad[i].args);
        cr_assert_eq(rc, bad[i].rc, "case %zu: %s", i, out);
        cr_assert(strstr(out, bad[i].says), "case %zu: %s", i, out);
        cr_assert_eq(lines(out), 1, "case %zu: one line: %s", i, out);
        free(out);
    }
    int64_t e4[2];
    ends(bs, e4);
    cr_assert(e4[0] == e3[0] && e4[1] == e3[1], "bad input sent nothing");

    sl_broker_destroy(b);
    cr_assert_eq(tu_rmtree(tmpdir), 0);
}

/* ---- the same over Kinesis: store, list, show and a dry run ---- */

static int64_t wait_rows(const char *db, int64_t want)
{
    int64_t end = tu_now_ms() + 90000, n = -1;
    while (tu_now_ms() < end && (n = db_count(db, "SELECT count(*) FROM faults")) < want)
        tu_sleep_ms(200);
    return n;
}

static size_t stream_count(const char *url, const char *stream)
{
    json_t *a = kk_read_all(url, stream);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

/* The orders service over Kinesis: pricing (buggy unless @p s->fixed) and
 * audit beside it, on stream "orders", their outputs on "out" and
 * "out-audit", faults on "faults". */
typedef struct {
    svc_t s;
    kk_run_t run;
} ksvc_t;

static void ksvc_start(ksvc_t *k, int fixed)
{
    char ck[300], err[512];
    snprintf(ck, sizeof ck, "sqlite:%s/checkpoints.db", tmpdir);
    const char *kv[] = {"processor.name",
                        "orders-kin",
                        "processor.signals",
                        "false",
                        "kinesis.application",
                        "orders-kin",
                        "kinesis.checkpoints",
                        ck,
                        "kinesis.poll.interval.ms",
                        "50",
                        "commit.interval.ms",
                        "100",
                        NULL};
    memset(k, 0, sizeof *k);
    k->s.fixed = fixed;
    sl_processor_t *p = tu_processor(kv, NULL);
    cr_assert_eq(sl_kinesis_source_attach(p, "orders", err, sizeof err), 0, "%s", err);
    sl_sink_t *o = sl_kinesis_sink_new(p, "out", err, sizeof err);
    sl_sink_t *a = sl_kinesis_sink_new(p, "out-audit", err, sizeof err);
    sl_sink_t *f = sl_kinesis_sink_new(p, "faults", err, sizeof err);
    cr_assert(o && a && f, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, f), 0);
    sl_pipeline_t *pl = sl_pipeline_new("pricing"), *au = sl_pipeline_new("audit");
    cr_assert_eq(sl_pipeline_map(pl, price, &k->s), 0);
    cr_assert_eq(sl_pipeline_stage_name(pl, "price"), 0);
    cr_assert_eq(sl_pipeline_sink(pl, o), 0);
    cr_assert_eq(sl_pipeline_sink(au, a), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, au), 0);
    kk_run(&k->run, p);
}

static void ksvc_stop(ksvc_t *k)
{
    sl_processor_t *p = k->run.p;
    sl_processor_stop(p);
    pthread_join(k->run.th, NULL);
    cr_assert_eq(k->run.rc, 0, "the service drained");
    sl_engine_t *e = sl_processor_engine(p);
    cr_assert_eq(sl_engine_pipeline_stats(e, "pricing", &k->s.pricing), 0);
    cr_assert_eq(sl_engine_pipeline_stats(e, "audit", &k->s.audit), 0);
    sl_processor_destroy(p);
}

#define KIN_MAGIC "\0sluice\x1e\x01"

/* memmem (not in POSIX). */
static const char *find(const char *h, size_t hl, const char *n, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (!memcmp(h + i, n, nl))
            return h + i;
    return NULL;
}

/* The resubmitted records on "orders", read straight from kinesalite and
 * parsed here (not by the code under test): envelopes counted per the
 * fault id in their sluice.resubmit.fault header; *@p for_pricing those
 * that also name the pipeline pricing. */
static json_t *kin_resubmits(const char *url, size_t *total, size_t *for_pricing)
{
    static const char fh[] = "sluice.resubmit.fault", ph[] = "sluice.resubmit.pipeline";
    json_t *all = kk_read_all(url, "orders"), *r, *count = json_object();
    size_t i;
    *total = *for_pricing = 0;
    json_array_foreach(all, i, r)
    {
        json_t *v = json_object_get(r, "value");
        const char *d = json_string_value(v);
        size_t dl = json_string_length(v);
        if (dl < 9 || memcmp(d, KIN_MAGIC, 9))
            continue;
        const char *h = find(d, dl, fh, sizeof fh); /* the name and its NUL */
        if (!h)
            continue; /* the malformed envelope put beside them */
        cr_assert(h + sizeof fh + 4 <= d + dl, "a fault id cut short");
        const unsigned char *lp = (const unsigned char *)h + sizeof fh;
        size_t idl = (size_t)lp[0] << 24 | (size_t)lp[1] << 16 | (size_t)lp[2] << 8 | lp[3];
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)idl, (const char *)lp + 4);
        json_object_set_new(count, id,
                            json_integer(json_integer_value(json_object_get(count, id)) + 1));
        (*total)++;
        const char *pp = find(d, dl, ph, sizeof ph);
        if (pp && pp + sizeof ph + 4 + 7 <= d + dl && !memcmp(pp + sizeof ph + 4, "pricing", 7))
            (*for_pricing)++;
    }
    json_decref(all);
    return count;
}

Test(faults_tool, over_kinesis_store_list_show_and_resubmit_exactly_once_to_the_fixed_pipeline)
{
    enum { N = 200, BADS = 8 }; /* 5, 32, 59, 86, 113, 140, 167, 194 */
    tu_mkdtemp(tmpdir, sizeof tmpdir, "sluice-faults");
    kk_server_t ks;
    const char *streams[] = {"orders:2", "faults:1",    "faults-unstorable:1",
                             "out:1",    "out-audit:1", NULL};
    kk_start(&ks, streams);
    /* Through the proxy: it answers AT_TIMESTAMP (see tests/kinesis/server). */
    kk_env(ks.proxy);
    const char *keys[N], *vals[N];
    static char kb[N][16], vb[N][256];
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "o-%d", i);
        snprintf(vb[i], sizeof vb[i],
                 "{\"id\":\"e-%d\",\"type\":\"order-placed\",\"timestamp\":%d,"
                 "\"partitionKey\":\"%s\",\"order\":{\"id\":\"%s\",\"price\":%s}}",
                 i, 1700000000 + i, k, k, BAD(i) ? "\"n/a\"" : "12.5");
        memcpy(kb[i], k, sizeof k);
        keys[i] = kb[i];
        vals[i] = vb[i];
    }
    kk_put(ks.kinesalite, "orders", keys, vals, N);

    ksvc_t k;
    ksvc_start(&k, 0);
    int64_t end = tu_now_ms() + 90000;
    while (tu_now_ms() < end && (stream_count(ks.kinesalite, "faults") < BADS ||
                                 stream_count(ks.kinesalite, "out") < N - BADS ||
                                 stream_count(ks.kinesalite, "out-audit") < N))
        tu_sleep_ms(200);
    ksvc_stop(&k);
    cr_assert_eq(k.s.pricing.faults, BADS);
    cr_assert_eq(stream_count(ks.kinesalite, "faults"), BADS);

    char db[300], store[310], sck[300], log[320];
    snprintf(db, sizeof db, "%s/faults.db", tmpdir);
    snprintf(store, sizeof store, "sqlite:%s", db);
    snprintf(sck, sizeof sck, "kinesis.checkpoints=sqlite:%s/store-ck.db", tmpdir);
    snprintf(log, sizeof log, "%s/store.log", tmpdir);
    const char *sargs[] = {"store",
                           "--source",
                           "kinesis:faults",
                           "--faults",
                           "kinesis:faults-unstorable",
                           "--store",
                           store,
                           "-c",
                           sck,
                           "-c",
                           "kinesis.poll.interval.ms=50",
                           NULL};
    pid_t pid = spawn_faults(sargs, log);
    int64_t rows = wait_rows(db, BADS);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 30000), 0, "store drains; log:\n%s", tu_slurp(log));
    cr_assert_eq(rows, BADS);

    char *out;
    const char *ls[] = {"list", "--store", store, "--pipeline", "pricing", "--json", NULL};
    cr_assert_eq(faults(&out, ls), 0, "%s", out);
    cr_assert_eq(lines(out), BADS, "%s", out);
    json_t *first = json_loads(strtok(out, "\n"), 0, NULL);
    json_t *rec =
        json_object_get(json_object_get(json_object_get(first, "fault"), "uow"), "record");
    cr_assert(json_string_value(json_object_get(rec, "position")), "a Kinesis sequence number");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "orders");
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(first, "id")));
    json_decref(first);
    free(out);
    const char *sh[] = {"show", "--store", store, id, NULL};
    cr_assert_eq(faults(&out, sh), 0, "%s", out);
    cr_assert(strstr(out, "\"price\": \"n/a\"") && strstr(out, "source:      orders/"), "%s", out);
    free(out);
    const char *dry[] = {"resubmit", "--store", store, "--all", NULL};
    cr_assert_eq(faults(&out, dry), 0, "%s", out);
    cr_assert(strstr(out, "to kinesis:orders for pipeline pricing") &&
                  strstr(out, "dry run: 8 faults would be sent"),
              "%s", out);
    free(out);
    cr_assert_eq(stream_count(ks.kinesalite, "orders"), N, "a dry run sends nothing");

    /* A stream that does not exist: one line, nothing marked, nothing sent. */
    const char *nos[] = {"resubmit",  "--store", store, "--all", "--to", "kinesis:no-such-stream",
                         "--execute", NULL};
    cr_assert_eq(faults(&out, nos), 1, "%s", out);
    cr_assert(strstr(out, "no-such-stream does not exist") && lines(out) == 1, "%s", out);
    free(out);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit"), 0, "nothing marked");
    cr_assert_eq(stream_count(ks.kinesalite, "orders"), N, "nothing sent");

    /* The resubmit sends the 8 in envelopes naming the pipeline and the
     * fault, each marked with its shard and sequence number. */
    const char *ex[] = {"resubmit", "--store", store, "--pipeline", "pricing", "--execute", NULL};
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    cr_assert(strstr(out, "sent 8 faults to kinesis:orders"), "%s", out);
    free(out);
    size_t total, for_pricing;
    json_t *cnt = kin_resubmits(ks.kinesalite, &total, &for_pricing);
    cr_assert_eq(total, BADS);
    cr_assert_eq(for_pricing, BADS);
    cr_assert_eq(json_object_size(cnt), BADS, "one record per fault");
    json_decref(cnt);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"
                              " AND probe LIKE '{\"shard\":\"shardId-%\"sequence\":\"%'"),
                 BADS);
    cr_assert_eq(faults(&out, sh), 0, "%s", out);
    cr_assert(strstr(out, "to kinesis:orders, shardId-0000000000"), "%s", out);
    free(out);

    /* A malformed envelope (5 headers announced, none there) beside them:
     * a fault with the record as it came, not a record for the pipelines. */
    json_t *mr = kk_call(ks.kinesalite, "PutRecords",
                         json_pack("{s:s,s:[{s:s,s:s}]}", "StreamName", "orders", "Records", "Data",
                                   "AHNsdWljZR4BAAAFeA==", "PartitionKey", "broken"));
    cr_assert_eq(json_integer_value(json_object_get(mr, "FailedRecordCount")), 0);
    json_decref(mr);

    /* The fix runs: the fixed pipeline takes each of the 8 once, exactly
     * the original records; the audit pipeline skips them. */
    ksvc_start(&k, 1);
    end = tu_now_ms() + 90000;
    while (tu_now_ms() < end && (stream_count(ks.kinesalite, "out") < N ||
                                 stream_count(ks.kinesalite, "faults") < BADS + 1))
        tu_sleep_ms(200);
    ksvc_stop(&k);
    cr_assert_eq(k.s.pricing.sunk, BADS, "the fixed pipeline took the 8");
    cr_assert_eq(k.s.audit.skipped, BADS, "the audit pipeline skipped them");
    cr_assert_eq(k.s.audit.sunk, 0);
    json_t *outs = kk_read_all(ks.kinesalite, "out"), *o;
    int seen[N] = {0};
    size_t i;
    json_array_foreach(outs, i, o)
    {
        json_t *j = json_loads(json_string_value(json_object_get(o, "value")), 0, NULL);
        const char *oid = json_string_value(json_object_get(j, "id"));
        int n = oid ? atoi(oid + 2) : -1;
        cr_assert(n >= 0 && n < N, "an output of an order");
        seen[n]++;
        json_decref(j);
    }
    json_decref(outs);
    for (int n = 0; n < N; n++)
        cr_assert_eq(seen[n], 1, "order %d", n);
    json_t *fl = kk_read_all(ks.kinesalite, "faults"), *fr;
    size_t broken = 0;
    json_array_foreach(fl, i, fr)
    {
        json_t *ev = json_loads(json_string_value(json_object_get(fr, "value")), 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(ev, "err"), "message"));
        const char *v = json_string_value(
            json_object_get(json_object_get(json_object_get(ev, "uow"), "record"), "value"));
        if (m && strstr(m, "sluice envelope")) {
            broken++;
            cr_assert_str_eq(v, "AHNsdWljZR4BAAAFeA==", "the record as it came");
        }
        json_decref(ev);
    }
    json_decref(fl);
    cr_assert_eq(broken, 1, "the malformed envelope is one fault");

    /* Again: nothing to send. */
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    cr_assert(strstr(out, "nothing to send"), "%s", out);
    free(out);
    cr_assert_eq(stream_count(ks.kinesalite, "orders"), N + BADS + 1);

    /* Killed midway, run again: each fault once more in total, though the
     * stream already holds a record of each from the first resubmit. */
    const char *slow[] = {"resubmit", "--store", store, "--pipeline", "pricing",
                          "--force",  "--rate",  "4",   "--execute",  NULL};
    snprintf(log, sizeof log, "%s/killed.log", tmpdir);
    pid = spawn_faults(slow, log);
    int64_t until = tu_now_ms() + 60000;
    while (tu_now_ms() < until &&
           db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'") <= 0)
        tu_sleep_ms(10);
    while (tu_now_ms() < until &&
           db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'") > 5)
        tu_sleep_ms(10);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int64_t left = db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'sending'");
    cr_assert(left > 0 && left < BADS, "killed midway: %lld left sending; log:\n%s",
              (long long)left, tu_slurp(log));
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    free(out);
    cnt = kin_resubmits(ks.kinesalite, &total, &for_pricing);
    cr_assert_eq(json_object_size(cnt), BADS);
    const char *fid;
    json_t *c;
    json_object_foreach(cnt, fid, c)
        cr_assert_eq(json_integer_value(c), 2, "fault %s: the first resubmit and this one", fid);
    cr_assert_eq(total, 2 * BADS);
    json_decref(cnt);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"),
                 BADS);

    /* The two cases a kill leaves, made on purpose: fault A was delivered by
     * run "run-x" but killed before its mark (its record, with that run's id,
     * is in the stream): only marked. Fault B's run "run-y" was killed before
     * sending, and the stream holds a record of B from another run: not taken
     * for B's, B is sent. */
    char ida[64], idb[64];
    {
        first_two(db, ida, idb, sizeof ida);
        char sql[600];
        int64_t now = (int64_t)time(NULL) * 1000;
        snprintf(sql, sizeof sql,
                 "UPDATE faults_resubmit SET status = 'sending', dest = 'kinesis:orders', probe ="
                 " '{\"since\":%lld,\"run\":\"run-x\"}' WHERE id = '%s';"
                 "UPDATE faults_resubmit SET status = 'sending', dest = 'kinesis:orders', probe ="
                 " '{\"since\":%lld,\"run\":\"run-y\"}' WHERE id = '%s';",
                 (long long)now, ida, (long long)now, idb);
        db_exec(db, sql);
    }
    const char *runs[2][2] = {{ida, "run-x"}, {idb, "run-old"}};
    for (int r = 0; r < 2; r++) {
        /* An envelope by hand: magic, key mode 0, 3 headers, the value. */
        unsigned char env[512];
        size_t el = 0;
        memcpy(env, KIN_MAGIC, 9);
        el = 9;
        env[el++] = 0;
        env[el++] = 0;
        env[el++] = 3;
        const char *hs[3][2] = {{"sluice.resubmit.pipeline", "pricing"},
                                {"sluice.resubmit.fault", runs[r][0]},
                                {"sluice.resubmit.run", runs[r][1]}};
        for (int j = 0; j < 3; j++) {
            size_t nl = strlen(hs[j][0]) + 1, vl = strlen(hs[j][1]);
            memcpy(env + el, hs[j][0], nl);
            el += nl;
            env[el++] = 0, env[el++] = 0, env[el++] = 0, env[el++] = (unsigned char)vl;
            memcpy(env + el, hs[j][1], vl);
            el += vl;
        }
        memcpy(env + el, "{}", 2);
        el += 2;
        char b64[700];
        sl_base64_encode(env, el, b64);
        json_t *pr = kk_call(ks.kinesalite, "PutRecords",
                             json_pack("{s:s,s:[{s:s,s:s}]}", "StreamName", "orders", "Records",
                                       "Data", b64, "PartitionKey", "by-hand"));
        cr_assert_eq(json_integer_value(json_object_get(pr, "FailedRecordCount")), 0);
        json_decref(pr);
    }
    cr_assert_eq(faults(&out, ex), 0, "%s", out);
    char said[128];
    snprintf(said, sizeof said, "%s: already at kinesis:orders", ida);
    cr_assert(strstr(out, said) && strstr(out, "sent 1 fault to kinesis:orders"), "%s", out);
    cr_assert_eq(lines(out), 3, "marked A, sent B, skipped the rest: %s", out);
    free(out);
    cnt = kin_resubmits(ks.kinesalite, &total, &for_pricing);
    cr_assert_eq(json_integer_value(json_object_get(cnt, ida)), 3, "A: not sent again");
    cr_assert_eq(json_integer_value(json_object_get(cnt, idb)), 4, "B: sent, once");
    cr_assert_eq(total, 2 * BADS + 3);
    json_decref(cnt);
    cr_assert_eq(db_count(db, "SELECT count(*) FROM faults_resubmit WHERE status = 'resubmitted'"),
                 BADS);
    kk_stop(&ks);
    cr_assert_eq(tu_rmtree(tmpdir), 0);
}
