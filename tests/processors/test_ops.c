/* The operations endpoint (http.listen): /metrics, /health and /ready of a
 * processor, scraped with libcurl while it runs against an embedded broker
 * in the test process, and of the service binaries. Every /metrics scrape
 * is validated with `promtool check metrics` (SLUICE_PROMTOOL).
 *
 * The sink of the in-process processors is the test's own, on the engine's
 * executor (libuv's thread pool, as a store sink): a gate holds its writes
 * (records stay in flight), a delay makes it slow. Every wait is a bounded
 * wait on a condition; nothing asserts a duration. */
#include "../http_util.h"
#include "../kafka/kafka_helpers.h"
#include "runtime/runtime.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#define WAIT_MS 60000

/* ---- HTTP ---- */

/* @p method on http://127.0.0.1:@p port@p path; returns the status, the
 * body (malloc'ed, NUL-terminated) in *@p out. */
static long http(int port, const char *method, const char *path, char **out)
{
    return th_http(&(th_req_t){.port = port, .method = method, .path = path}, out, NULL);
}

/* promtool check metrics over @p text: SLUICE_PROMTOOL is required here. */
static void promtool(const char *text)
{
    th_promtool(text, 1);
}

/* GET /metrics, validated; the caller frees. */
static char *scrape(int port)
{
    char *body;
    cr_assert_eq(http(port, "GET", "/metrics", &body), 200);
    promtool(body);
    return body;
}

/* The sum of every sample of family member @p name (any labels). */
static double sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    double t = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, name, n) && (l[n] == ' ' || l[n] == '{')) {
            const char *sp = strchr(l, ' ');
            if (l[n] == '{')
                sp = strstr(l, "} ") + 1;
            t += strtod(sp + 1, NULL);
        }
    return t;
}

/* ---- the test sink ---- */

typedef struct {
    atomic_int closed;      /* the gate: writes wait while it is closed */
    atomic_int delay_ms;    /* each write takes this long */
    atomic_int fail_writes; /* this many more writes are acknowledged with SL_EAGAIN */
    atomic_long acked;
    sl_engine_t *e;
} tsink_t;

typedef struct {
    tsink_t *s;
    sl_uow_t **uows;
    size_t n;
} tjob_t;

static void tjob_work(void *arg)
{
    tjob_t *j = arg;
    while (atomic_load(&j->s->closed))
        tu_sleep_ms(5);
    int d = atomic_load(&j->s->delay_ms);
    if (d)
        tu_sleep_ms(d);
}

static void tjob_done(void *arg, int status)
{
    tjob_t *j = arg;
    if (!status && atomic_load(&j->s->fail_writes) > 0) {
        atomic_fetch_sub(&j->s->fail_writes, 1);
        status = SL_EAGAIN;
    }
    for (size_t i = 0; i < j->n; i++)
        sl_uow_ack(j->uows[i], status);
    atomic_fetch_add(&j->s->acked, (long)j->n);
    free(j->uows);
    free(j);
}

static int tsink_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    tsink_t *s = opaque;
    tjob_t *j = malloc(sizeof *j);
    cr_assert(j);
    j->s = s;
    j->n = n;
    j->uows = malloc(n * sizeof *j->uows);
    cr_assert(j->uows);
    memcpy(j->uows, uows, n * sizeof *uows);
    sl_job_t job = {tjob_work, tjob_done, NULL, j};
    int rc = sl_engine_submit(s->e, &job);
    if (rc) {
        free(j->uows);
        free(j);
    }
    return rc;
}

/* The fault sink: acknowledges at once. */
static int faults_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    atomic_long *count = opaque;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    atomic_fetch_add(count, (long)n);
    return 0;
}

/* ---- an in-process processor ---- */

typedef struct {
    sl_processor_t *p;
    pthread_t th;
    tsink_t sink;
    atomic_long faults;
    sl_sink_t *out, *fsink;
    int port;
} proc_t;

static void *run_proc(void *arg)
{
    return (void *)(intptr_t)sl_processor_run(arg);
}

static sl_result_t keep(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    return SL_OK;
}

/* Faults an event that says "fail":true. */
static sl_result_t fail_marked(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    static const char mark[] = "\"fail\":true";
    const char *v = r->value;
    int marked = 0;
    for (size_t i = 0; !marked && i + sizeof mark - 1 <= r->value_len; i++)
        marked = !memcmp(v + i, mark, sizeof mark - 1);
    if (marked) {
        sl_uow_fail(u, SL_ESTAGE, "marked to fail");
        return SL_FAULT;
    }
    return SL_OK;
}

/* The map stage of the test processors. */
static sl_stage_fn g_stage = keep;
/* If set, the pipeline starts with a filter on this type: records of other
 * types are done on arrival, never tracked. */
static const char *g_type;

/* A processor reading @p topic of @p bs as @p group into the test sink,
 * with http.listen=127.0.0.1:0 and the pairs of @p extra (NULL-ended). */
static void proc_start(proc_t *t, const char *bs, const char *group, const char *topic,
                       const char *const *extra)
{
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        group,
                        "processor.signals",
                        "false",
                        "processor.name",
                        "ops-test",
                        "http.listen",
                        "127.0.0.1:0",
                        "batch.linger.ms",
                        "10",
                        "commit.interval.ms",
                        "100",
                        NULL};
    t->p = tu_processor(kv, extra);
    t->sink.e = sl_processor_engine(t->p);
    sl_sink_ops_t ops = {.name = "gated", .write = tsink_write};
    t->out = sl_sink_new(&ops, &t->sink);
    sl_sink_ops_t fops = {.name = "faults", .write = faults_write};
    t->fsink = sl_sink_new(&fops, &t->faults);
    cr_assert(t->out && t->fsink);
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    if (g_type)
        cr_assert_eq(sl_pipeline_filter_types(pl, SL_MATCH_EXACT, &g_type, 1), 0);
    sl_pipeline_map(pl, g_stage, NULL);
    sl_pipeline_batch(pl, NULL);
    sl_pipeline_sink(pl, t->out);
    cr_assert_eq(sl_processor_add_pipeline(t->p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(t->p, t->fsink), 0);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(t->p, topic, err, sizeof err), 0, "%s", err);
    cr_assert_eq(pthread_create(&t->th, NULL, run_proc, t->p), 0);
    /* The port is known once the run has bound it (before the source starts). */
    int64_t end = tu_now_ms() + WAIT_MS;
    while (!(t->port = sl__proc_http_port(t->p)) && tu_now_ms() < end)
        tu_sleep_ms(10);
    cr_assert(t->port > 0, "the endpoint listens");
}

/* Stops, joins and frees; returns what sl_processor_run() returned. */
static int proc_stop(proc_t *t)
{
    atomic_store(&t->sink.closed, 0);
    sl_processor_stop(t->p);
    void *rc;
    pthread_join(t->th, &rc);
    sl_processor_destroy(t->p);
    sl_sink_destroy(t->out);
    sl_sink_destroy(t->fsink);
    return (int)(intptr_t)rc;
}

/* Waits until GET @p path answers @p status (and, if @p needle, a body
 * containing it); returns that body (the caller frees). */
static char *wait_status(int port, const char *path, long status, const char *needle)
{
    int64_t end = tu_now_ms() + WAIT_MS;
    long got = 0;
    char *body = NULL;
    while (tu_now_ms() < end) {
        free(body);
        got = http(port, "GET", path, &body);
        if (got == status && (!needle || strstr(body, needle)))
            return body;
        tu_sleep_ms(100);
    }
    cr_assert_fail("GET %s: still %ld (%s), waited for %ld%s%s", path, got, body, status,
                   needle ? " with " : "", needle ? needle : "");
    return NULL;
}

static void event(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "{\"id\":\"e%d\",\"type\":\"thing-created\",\"timestamp\":%d,\"n\":%d}", i,
             1000 + i, i);
}

/* hi and the group's committed offset (else lo) of @p partition, from the
 * broker. */
static int64_t broker_lag(const char *bs, const char *group, const char *topic, int partition)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk, "%s", err);
    int64_t lo, hi;
    cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 10000), 0);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
    int64_t pos = l->elems[0].offset >= 0 ? l->elems[0].offset : lo;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return hi - pos;
}

TestSuite(ops, .timeout = 300);

/* Counters agree with what the test produced; lag while behind is the
 * broker's (high watermark less committed), and 0 once caught up; /health
 * turns 503 while nothing gets done with records waiting, 200 after. */
Test(ops, counters_lag_and_stall)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {2};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    enum { GOOD = 20, POISON = 3 };
    char buf[256], key[16];
    for (int i = 0; i < GOOD; i++) {
        snprintf(key, sizeof key, "k%d", i);
        event(buf, sizeof buf, i);
        kt_produce(prod, "in", key, buf, strlen(buf));
    }
    for (int i = 0; i < POISON; i++)
        kt_produce(prod, "in", "poison", "not json", 8);
    kt_flush(prod);

    proc_t t = {0};
    atomic_store(&t.sink.closed, 1);
    const char *extra[] = {"health.stall.ms", "1000", NULL};
    proc_start(&t, bs, "g-ops", "in", extra);

    /* Every record is in: the poison ones are faults (done), the good ones
     * wait at the closed sink. */
    int64_t end = tu_now_ms() + WAIT_MS;
    char *m = NULL;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(t.port);
        double in = sum(m, "sluice_records_in_total");
        cr_assert_eq(sum(m, "sluice_records_done_total") + th_sample(m, "sluice_in_flight_records"),
                     in, "records in = done + in flight:\n%s", m);
        if (in == GOOD + POISON && sum(m, "sluice_faults_total") == POISON)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(sum(m, "sluice_records_in_total"), GOOD + POISON, "%s", m);
    cr_assert_eq(sum(m, "sluice_faults_total"), POISON, "faults = poison records sent:\n%s", m);
    cr_assert_eq(th_sample(m, "sluice_decode_faults_total"), POISON, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_in_flight_records"), GOOD, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_assigned_partitions"), 2, "%s", m);
    cr_assert(strstr(m, "sluice_faults_total{pipeline=\"\",error=\"SL_EJSON\"} 3"), "%s", m);
    free(m);

    /* Behind: the lag of each partition is the broker's. */
    for (int part = 0; part < 2; part++) {
        char name[96];
        snprintf(name, sizeof name, "sluice_consumer_lag_records{topic=\"in\",partition=\"%d\"}",
                 part);
        end = tu_now_ms() + WAIT_MS;
        double got = -1;
        int64_t want = -2;
        while (tu_now_ms() < end) {
            m = scrape(t.port);
            got = th_sample(m, name);
            free(m);
            want = broker_lag(bs, "g-ops", "in", part);
            if (got == (double)want)
                break;
            tu_sleep_ms(200);
        }
        cr_assert_eq(got, (double)want, "partition %d: lag %g, the broker's %lld", part, got,
                     (long long)want);
    }
    cr_assert_gt(broker_lag(bs, "g-ops", "in", 0) + broker_lag(bs, "g-ops", "in", 1), 0,
                 "the test's records are behind");

    /* Wedged: records waiting, none done for health.stall.ms. */
    char *h = wait_status(t.port, "/health", 503, "stalled");
    free(h);
    /* ... and the oldest of them grows old. */
    end = tu_now_ms() + WAIT_MS;
    double age = 0;
    while (tu_now_ms() < end && age < 2) {
        m = scrape(t.port);
        age = th_sample(m, "sluice_oldest_in_flight_age_seconds");
        free(m);
        tu_sleep_ms(200);
    }
    cr_assert_geq(age, 2, "the oldest record in flight ages");

    /* Open the gate: everything gets done, /health is back, lag falls to 0. */
    atomic_store(&t.sink.closed, 0);
    h = wait_status(t.port, "/health", 200, "ok");
    free(h);
    end = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < end) {
        m = scrape(t.port);
        int caught_up =
            th_sample(m, "sluice_records_done_total") == GOOD + POISON &&
            th_sample(m, "sluice_consumer_lag_records{topic=\"in\",partition=\"0\"}") == 0 &&
            th_sample(m, "sluice_consumer_lag_records{topic=\"in\",partition=\"1\"}") == 0 &&
            th_sample(m, "sluice_committed_offset{topic=\"in\",partition=\"0\"}") >= 0 &&
            th_sample(m, "sluice_committed_offset{topic=\"in\",partition=\"1\"}") >= 0;
        if (caught_up)
            break;
        free(m);
        m = NULL;
        tu_sleep_ms(200);
    }
    cr_assert(m, "caught up: done = every record, lag 0 on every partition");
    cr_assert_eq(th_sample(m, "sluice_in_flight_records"), 0, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_oldest_in_flight_age_seconds"), 0, "%s", m);
    cr_assert_geq(th_sample(m, "sluice_last_commit_age_seconds"), 0, "a commit succeeded:\n%s", m);
    cr_assert_geq(th_sample(m, "sluice_rebalances_total"), 1, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_uows_total{pipeline=\"pass\",outcome=\"sunk\"}"), GOOD, "%s",
                 m);
    cr_assert_eq(th_sample(m, "sluice_batch_size_count{pipeline=\"pass\"}"),
                 sum(m, "sluice_batches_total"), "one size per batch:\n%s", m);
    cr_assert_eq(th_sample(m, "sluice_batch_size_sum{pipeline=\"pass\"}"), GOOD, "%s", m);
    cr_assert_gt(th_sample(m, "sluice_sink_write_duration_seconds_count{pipeline=\"pass\",sink="
                              "\"gated\"}"),
                 0, "%s", m);
    cr_assert_gt(th_sample(m, "process_resident_memory_bytes"), 0, "%s", m);
    cr_assert_gt(th_sample(m, "process_open_fds"), 0, "%s", m);
    free(m);
    for (int part = 0; part < 2; part++)
        cr_assert_eq(broker_lag(bs, "g-ops", "in", part), 0, "committed up to the end");
    cr_assert_eq(proc_stop(&t), 0);
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}

/* A partition's records in counts those done on arrival (no pipeline wants
 * their type) as well as those tracked, also while tracked ones wait at the
 * sink between them: equal to what was produced, and per partition to its
 * watermark once every record is done. */
Test(ops, records_in_counts_those_done_on_arrival)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {2};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    enum { N = 40 }; /* every other one of the wanted type */
    char buf[256], key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(buf, sizeof buf, "{\"id\":\"e%d\",\"type\":\"%s\",\"n\":%d}", i,
                 i % 2 ? "thing-other" : "thing-created", i);
        kt_produce(prod, "in", key, buf, strlen(buf));
    }
    kt_flush(prod);
    proc_t t = {0};
    g_type = "thing-created";
    atomic_store(&t.sink.closed, 1);
    proc_start(&t, bs, "g-in", "in", NULL);
    int64_t end = tu_now_ms() + WAIT_MS;
    char *m = NULL;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(t.port);
        if (sum(m, "sluice_records_in_total") == N)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(sum(m, "sluice_records_in_total"), N, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_in_flight_records"), N / 2, "the wanted ones wait:\n%s", m);
    cr_assert_eq(th_sample(m, "sluice_records_done_total"), N / 2, "the others are done:\n%s", m);
    atomic_store(&t.sink.closed, 0);
    end = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(t.port);
        if (th_sample(m, "sluice_records_done_total") == N)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(th_sample(m, "sluice_records_done_total"), N, "%s", m);
    cr_assert_eq(sum(m, "sluice_records_in_total"), N, "%s", m);
    for (int part = 0; part < 2; part++) {
        char in[96], wm[96];
        snprintf(in, sizeof in, "sluice_records_in_total{topic=\"in\",partition=\"%d\"}", part);
        snprintf(wm, sizeof wm, "sluice_partition_watermark_offset{topic=\"in\",partition=\"%d\"}",
                 part);
        double w = th_sample(m, wm);
        cr_assert_eq(th_sample(m, in), w < 0 ? 0 : w, "partition %d:\n%s", part, m);
    }
    free(m);
    cr_assert_eq(proc_stop(&t), 0);
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}

/* Faults by pipeline and error, retries by pipeline: what the test caused. */
Test(ops, faults_and_retries_by_pipeline)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    enum { GOOD = 6, MARKED = 2 };
    char buf[256], key[16];
    for (int i = 0; i < GOOD + MARKED; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if (i < MARKED)
            snprintf(buf, sizeof buf, "{\"type\":\"thing-created\",\"fail\":true,\"n\":%d}", i);
        else
            event(buf, sizeof buf, i);
        kt_produce(prod, "in", key, buf, strlen(buf));
    }
    kt_flush(prod);
    proc_t t = {0};
    g_stage = fail_marked;
    atomic_store(&t.sink.fail_writes, 1);
    const char *extra[] = {"retry.backoff.ms", "10", "retry.backoff.max.ms", "50", NULL};
    proc_start(&t, bs, "g-faults", "in", extra);
    int64_t end = tu_now_ms() + WAIT_MS;
    char *m = NULL;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(t.port);
        if (th_sample(m, "sluice_records_done_total") == GOOD + MARKED)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(th_sample(m, "sluice_records_done_total"), GOOD + MARKED, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_faults_total{pipeline=\"pass\",error=\"SL_ESTAGE\"}"), MARKED,
                 "%s", m);
    cr_assert_eq(sum(m, "sluice_faults_total"), MARKED, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_uows_total{pipeline=\"pass\",outcome=\"faulted\"}"), MARKED,
                 "%s", m);
    cr_assert_eq(th_sample(m, "sluice_uows_total{pipeline=\"pass\",outcome=\"sunk\"}"), GOOD, "%s",
                 m);
    cr_assert_geq(th_sample(m, "sluice_retries_total{pipeline=\"pass\"}"), 1,
                  "the failed write was retried:\n%s", m);
    free(m);
    cr_assert_eq(atomic_load(&t.faults), MARKED);
    cr_assert_eq(proc_stop(&t), 0);
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}

/* /ready: 200 with partitions and brokers; 503 naming the source while the
 * broker is down, 200 again once it is back. */
Test(ops, ready_follows_the_broker)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    proc_t t = {0};
    proc_start(&t, bs, "g-ready", "in", NULL);
    char *r = wait_status(t.port, "/ready", 200, "\"ready\":true");
    free(r);
    cr_assert_eq(sl_broker_set_down(b, 1, 1), 0);
    r = wait_status(t.port, "/ready", 503, "\"part\":\"source\"");
    cr_assert(strstr(r, "no broker reachable"), "%s", r);
    free(r);
    char *m = scrape(t.port);
    cr_assert_eq(th_sample(m, "sluice_kafka_brokers_up"), 0, "%s", m);
    free(m);
    /* Liveness is not readiness: the loop still turns, nothing is stuck. */
    cr_assert_eq(http(t.port, "GET", "/health", NULL), 200);
    cr_assert_eq(sl_broker_set_down(b, 1, 0), 0);
    r = wait_status(t.port, "/ready", 200, "\"ready\":true");
    free(r);
    cr_assert_eq(proc_stop(&t), 0);
    sl_broker_destroy(b);
}

/* /ready is 503 while the processor drains. */
Test(ops, not_ready_while_draining)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    char buf[256];
    for (int i = 0; i < 5; i++) {
        event(buf, sizeof buf, i);
        kt_produce(prod, "in", "k", buf, strlen(buf));
    }
    kt_flush(prod);
    proc_t t = {0};
    atomic_store(&t.sink.closed, 1);
    proc_start(&t, bs, "g-drain", "in", NULL);
    char *r = wait_status(t.port, "/ready", 200, NULL);
    free(r);
    int64_t end = tu_now_ms() + WAIT_MS;
    char *m = NULL;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(t.port);
        if (th_sample(m, "sluice_in_flight_records") == 5)
            break;
        tu_sleep_ms(100);
    }
    cr_assert_eq(th_sample(m, "sluice_in_flight_records"), 5, "%s", m);
    free(m);
    sl_processor_stop(t.p);
    r = wait_status(t.port, "/ready", 503, "\"reason\":\"draining\"");
    cr_assert(strstr(r, "\"part\":\"processor\""), "%s", r);
    free(r);
    m = scrape(t.port);
    cr_assert_eq(th_sample(m, "sluice_up"), 0, "%s", m);
    free(m);
    cr_assert_eq(proc_stop(&t), 0, "the drain completes once the sink lets go");
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}

/* A slow sink is progress: /health stays 200 all along. */
Test(ops, healthy_under_a_slow_sink)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    enum { N = 12 };
    char buf[256], key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        event(buf, sizeof buf, i);
        kt_produce(prod, "in", key, buf, strlen(buf));
    }
    kt_flush(prod);
    proc_t t = {0};
    atomic_store(&t.sink.delay_ms, 250);
    const char *extra[] = {"health.stall.ms", "5000", "batch.max.events", "1", NULL};
    proc_start(&t, bs, "g-slow", "in", extra);
    int64_t end = tu_now_ms() + WAIT_MS;
    int probes = 0;
    while (tu_now_ms() < end && atomic_load(&t.sink.acked) < N) {
        char *h;
        long st = http(t.port, "GET", "/health", &h);
        cr_assert_eq(st, 200, "probe %d: %s", probes, h);
        free(h);
        probes++;
        tu_sleep_ms(100);
    }
    cr_assert_eq(atomic_load(&t.sink.acked), N);
    cr_assert_gt(probes, 3, "probed while the sink worked");
    char *m = scrape(t.port);
    cr_assert_eq(th_sample(m, "sluice_batches_total{pipeline=\"pass\",reason=\"count\"}"), N, "%s",
                 m);
    free(m);
    cr_assert_eq(proc_stop(&t), 0);
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}

/* Unknown paths 404, other methods 405; a port in use is a start error; an
 * unparsable address is refused by the configuration. */
Test(ops, bad_requests_and_addresses)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    proc_t t = {0};
    proc_start(&t, bs, "g-bad", "in", NULL);
    char *body;
    cr_assert_eq(http(t.port, "GET", "/nope", &body), 404);
    free(body);
    cr_assert_eq(http(t.port, "GET", "/metrics/x", NULL), 404);
    cr_assert_eq(http(t.port, "POST", "/metrics", NULL), 405);
    cr_assert_eq(http(t.port, "DELETE", "/ready", NULL), 405);
    cr_assert_eq(http(t.port, "GET", "/health?verbose=1", NULL), 200, "a query is not the path");

    /* Another processor on the same port. */
    char addr[64], err[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", t.port);
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        "g-bad2",
                        "processor.signals",
                        "false",
                        "http.listen",
                        addr,
                        NULL};
    sl_processor_t *p2 = tu_processor(kv, NULL);
    sl_sink_ops_t fops = {.name = "faults", .write = faults_write};
    atomic_long n2 = 0;
    sl_sink_t *f2 = sl_sink_new(&fops, &n2);
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    sl_pipeline_map(pl, keep, NULL);
    sl_pipeline_sink(pl, f2);
    cr_assert_eq(sl_processor_add_pipeline(p2, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p2, f2), 0);
    cr_assert_eq(sl_kafka_source_attach(p2, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_run(p2), SL_EIO, "a port in use stops the run");
    sl_processor_destroy(p2);
    sl_sink_destroy(f2);
    cr_assert_eq(http(t.port, "GET", "/health", NULL), 200, "the first one still serves");

    sl_conf_t *c = sl_conf_new();
    const char *bad[] = {"nope",     "127.0.0.1", "127.0.0.1:",      "127.0.0.1:65536",
                         "1.2.3:80", "[::1:80",   "host.example:80", "127.0.0.1:8a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(sl_conf_set(c, "http.listen", bad[i], err, sizeof err), SL_EINVAL, "%s",
                     bad[i]);
    const char *good[] = {"127.0.0.1:9464", "[::1]:0", "*:9464", "localhost:1", ":9464", ""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(sl_conf_set(c, "http.listen", good[i], err, sizeof err), 0, "%s: %s", good[i],
                     err);
    cr_assert_eq(sl_conf_set(c, "log.level", "loud", err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_conf_set(c, "log.level", "warn", err, sizeof err), 0);
    sl_conf_destroy(c);
    cr_assert_eq(proc_stop(&t), 0);
    sl_broker_destroy(b);
}

/* ---- the service binaries ---- */

static const char *bin(const char *env)
{
    const char *p = getenv(env);
    if (!p)
        cr_skip_test("%s is not set", env);
    return p;
}

/* The port a binary logged ("serving ... on http://127.0.0.1:PORT"). */
static int logged_port(const char *log, pid_t pid)
{
    int64_t end = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < end) {
        char *s = tu_slurp(log);
        const char *at = strstr(s, "on http://127.0.0.1:");
        int port = at ? atoi(at + strlen("on http://127.0.0.1:")) : 0;
        free(s);
        if (port > 0)
            return port;
        cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the binary exited early");
        tu_sleep_ms(50);
    }
    cr_assert_fail("no endpoint address in %s", log);
    return 0;
}

/* sluice-listener with --http: scraped during its run; a bad address is a
 * usage error (2), a port in use a start error (1). */
Test(ops, listener_binary)
{
    const char *lb = bin("SLUICE_LISTENER_BIN");
    const char *topics[] = {"events", "faults", NULL};
    const int parts[] = {2, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    char bsx[128], view[128], log[] = "/tmp/sluice-ops-listener-XXXXXX";
    int fd = mkstemp(log);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(bsx, sizeof bsx, "bootstrap.servers=%s", bs);
    snprintf(view, sizeof view, "sqlite:%s.db", log);
    char *argv[] = {(char *)lb, "--source", "kafka:events", "--key", "/thing/id", "--view",
                    view,       "--name",   "ops-listener", "-X",    bsx,         "--log-level",
                    "info",     "--http",   "127.0.0.1:0",  NULL};
    pid_t pid = tu_spawn(argv, log, environ);
    int port = logged_port(log, pid);
    rd_kafka_t *prod = kt_producer(bs);
    enum { N = 30 };
    char buf[256], key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "t%d", i);
        snprintf(buf, sizeof buf,
                 "{\"id\":\"e%d\",\"type\":\"thing-created\",\"timestamp\":%d,"
                 "\"thing\":{\"id\":\"t%d\",\"version\":1}}",
                 i, 1000 + i, i);
        kt_produce(prod, "events", key, buf, strlen(buf));
    }
    kt_flush(prod);
    int64_t end = tu_now_ms() + WAIT_MS;
    char *m = NULL;
    while (tu_now_ms() < end) {
        free(m);
        m = scrape(port);
        cr_assert_eq(sum(m, "sluice_records_done_total") + th_sample(m, "sluice_in_flight_records"),
                     sum(m, "sluice_records_in_total"), "%s", m);
        if (th_sample(m, "sluice_records_done_total") == N)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(th_sample(m, "sluice_records_done_total"), N, "%s", m);
    cr_assert(strstr(m, "sluice_info{processor=\"ops-listener\""), "%s", m);
    free(m);
    char *r = wait_status(port, "/ready", 200, NULL);
    free(r);

    /* A second one on the same port cannot start. */
    char log2[] = "/tmp/sluice-ops-listener2-XXXXXX";
    fd = mkstemp(log2);
    close(fd);
    char http2[64];
    snprintf(http2, sizeof http2, "127.0.0.1:%d", port);
    argv[14] = http2;
    argv[12] = "error";
    pid_t pid2 = tu_spawn(argv, log2, environ);
    cr_assert_eq(kt_wait(pid2, WAIT_MS), 1, "a port in use: exit 1");
    char *l2 = tu_slurp(log2);
    cr_assert(strstr(l2, "address already in use"), "%s", l2);
    cr_assert(strstr(l2, "\"level\":\"error\""), "%s", l2);
    cr_assert_null(strstr(l2, "\"level\":\"info\""), "--log-level error: %s", l2);
    free(l2);
    unlink(log2);

    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, WAIT_MS), 0, "drained");

    /* An unparsable address: one line on stderr, exit 2. */
    argv[14] = "localhost";
    pid2 = tu_spawn(argv, log2, environ);
    cr_assert_eq(kt_wait(pid2, WAIT_MS), 2);
    l2 = tu_slurp(log2);
    cr_assert(strstr(l2, "expected ADDR:PORT"), "%s", l2);
    cr_assert_eq(strchr(l2, '\n'), l2 + strlen(l2) - 1, "one line: %s", l2);
    free(l2);
    unlink(log2);
    argv[14] = "127.0.0.1:0";
    argv[12] = "verbose";
    pid2 = tu_spawn(argv, log2, environ);
    cr_assert_eq(kt_wait(pid2, WAIT_MS), 2, "--log-level verbose: exit 2");
    unlink(log2);
    unlink(log);
    unlink(view + 7);
    rd_kafka_destroy(prod);
    sl_broker_destroy(b);
}
