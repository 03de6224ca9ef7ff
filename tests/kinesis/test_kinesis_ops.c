/* The operations endpoint of a processor reading Kinesis (kinesalite):
 * /ready while it holds its shards and the endpoint answers, 503 naming the
 * source once the endpoint is gone; the lag of each shard from
 * MillisBehindLatest, in seconds; every scrape checked by promtool. And a
 * Kinesis sink (behind a Kafka source on the embedded broker) that gets no
 * answer makes /ready name the sink. */
#include "../http_util.h"
#include "kinesis_helpers.h"
#include "runtime/runtime.h"
#include "sluice/broker.h"

#include <librdkafka/rdkafka.h>

#include <stdatomic.h>

TestSuite(kinesis_ops, .timeout = 300);

#define WAIT_MS 60000

static long get(int port, const char *path, char **out)
{
    return th_http(&(th_req_t){.port = port, .path = path}, out, NULL);
}

/* promtool check metrics over @p text; skipped without SLUICE_PROMTOOL. */
static void promtool(const char *text)
{
    th_promtool(text, 0);
}

static int ack_all(void *opaque, sl_uow_t *const *uows, size_t n)
{
    atomic_long *count = opaque;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    atomic_fetch_add(count, (long)n);
    return 0;
}

static sl_result_t keep(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    return SL_OK;
}

/* A "pass" pipeline (keep) into @p o, faults into @p f, on @p p; runs it
 * (kk_run into @p r) and returns the port of its operations endpoint. */
static int run_pass(sl_processor_t *p, kk_run_t *r, sl_sink_t *o, sl_sink_t *f)
{
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    sl_pipeline_map(pl, keep, NULL);
    sl_pipeline_sink(pl, o);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, f), 0);
    kk_run(r, p);
    int port = 0;
    for (int64_t end = tu_now_ms() + WAIT_MS; !(port = sl__proc_http_port(p)) && tu_now_ms() < end;)
        tu_sleep_ms(10);
    cr_assert(port > 0);
    return port;
}

Test(kinesis_ops, ready_and_lag_follow_the_endpoint)
{
    char dir[64];
    tu_mkdtemp(dir, sizeof dir, "sluice-kops");
    kk_server_t s;
    const char *streams[] = {"in:2", NULL};
    kk_start(&s, streams);
    kk_env(s.kinesalite);
    enum { N = 20 };
    char *keys[N], *vals[N];
    for (int i = 0; i < N; i++) {
        keys[i] = malloc(16);
        vals[i] = malloc(64);
        snprintf(keys[i], 16, "k%d", i);
        snprintf(vals[i], 64, "{\"type\":\"thing-updated\",\"n\":%d}", i);
    }
    kk_put(s.kinesalite, "in", (const char *const *)keys, (const char *const *)vals, N);

    char ck[128];
    snprintf(ck, sizeof ck, "sqlite:%s/checkpoints.db", dir);
    const char *kv[] = {"processor.name",
                        "kops",
                        "processor.signals",
                        "false",
                        "kinesis.application",
                        "kops",
                        "kinesis.checkpoints",
                        ck,
                        "kinesis.poll.interval.ms",
                        "50",
                        "kinesis.request.timeout.ms",
                        "2000",
                        "commit.interval.ms",
                        "100",
                        "batch.linger.ms",
                        "10",
                        "drain.timeout.ms",
                        "5000",
                        "http.listen",
                        "127.0.0.1:0",
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    char err[512];
    cr_assert_eq(sl_kinesis_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    atomic_long acked = 0, faults = 0;
    sl_sink_ops_t ops = {.name = "out", .write = ack_all};
    sl_sink_ops_t fops = {.name = "faults", .write = ack_all};
    sl_sink_t *o = sl_sink_new(&ops, &acked), *f = sl_sink_new(&fops, &faults);
    kk_run_t r;
    int port = run_pass(p, &r, o, f);

    /* Every record read and done; both shards held, their lag known and 0
     * once read to the tip. */
    char *m = NULL;
    int64_t end = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < end) {
        free(m);
        cr_assert_eq(get(port, "/metrics", &m), 200);
        promtool(m);
        if (th_sample(m, "sluice_records_done_total") == N &&
            strstr(m, "sluice_consumer_lag_seconds{topic=\"in\",partition=\"0\"") &&
            strstr(m, "sluice_consumer_lag_seconds{topic=\"in\",partition=\"1\""))
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(th_sample(m, "sluice_records_done_total"), N, "%s", m);
    cr_assert_eq(th_sample(m, "sluice_assigned_partitions"), 2, "%s", m);
    for (end = tu_now_ms() + WAIT_MS;
         th_sample(m, "sluice_last_commit_age_seconds") < 0 && tu_now_ms() < end;) {
        free(m);
        cr_assert_eq(get(port, "/metrics", &m), 200);
        promtool(m);
        tu_sleep_ms(200);
    }
    cr_assert_geq(th_sample(m, "sluice_last_commit_age_seconds"), 0, "checkpoints stored:\n%s", m);
    cr_assert(
        strstr(m, "sluice_consumer_lag_seconds{topic=\"in\",partition=\"0\",shard=\"shardId-"),
        "%s", m);
    free(m);
    cr_assert_eq(atomic_load(&acked), N);
    char *body = NULL;
    for (end = tu_now_ms() + WAIT_MS; tu_now_ms() < end;) {
        free(body);
        if (get(port, "/ready", &body) == 200)
            break;
        tu_sleep_ms(100);
    }
    cr_assert(strstr(body, "\"ready\":true"), "%s", body);
    free(body);

    /* The endpoint goes away: not ready, naming the source. */
    kk_stop(&s);
    long st = 0;
    body = NULL;
    for (end = tu_now_ms() + WAIT_MS; tu_now_ms() < end;) {
        free(body);
        st = get(port, "/ready", &body);
        if (st == 503 && strstr(body, "\"part\":\"source\""))
            break;
        tu_sleep_ms(100);
    }
    cr_assert_eq(st, 503, "%s", body);
    cr_assert(strstr(body, "does not answer"), "%s", body);
    free(body);
    kk_stop_run(&r);
    sl_sink_destroy(o);
    sl_sink_destroy(f);
    for (int i = 0; i < N; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    cr_assert_eq(tu_rmtree(dir), 0);
}

/* A Kafka source writing to a Kinesis sink: once the Kinesis endpoint is
 * gone and a write gets no answer, /ready names the sink. */
Test(kinesis_ops, ready_names_a_kinesis_sink_that_gets_no_answer)
{
    char dir[64];
    tu_mkdtemp(dir, sizeof dir, "sluice-kops");
    kk_server_t s;
    const char *streams[] = {"out:1", NULL};
    kk_start(&s, streams);
    kk_env(s.kinesalite);
    char err[512];
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    cr_assert(b, "%s", err);
    cr_assert_eq(sl_broker_create_topic(b, "in", 1, 1), 0);
    const char *kv[] = {"processor.name",
                        "kops2",
                        "processor.signals",
                        "false",
                        "kafka.bootstrap.servers",
                        sl_broker_bootstrap(b),
                        "kafka.group.id",
                        "kops2",
                        "kinesis.request.timeout.ms",
                        "1000",
                        "batch.linger.ms",
                        "10",
                        "retry.backoff.max.ms",
                        "200",
                        "retry.max",
                        "1000",
                        "drain.timeout.ms",
                        "2000",
                        "http.listen",
                        "127.0.0.1:0",
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    sl_sink_t *o = sl_kinesis_sink_new(p, "out", err, sizeof err);
    cr_assert(o, "%s", err);
    atomic_long faults = 0;
    sl_sink_ops_t fops = {.name = "faults", .write = ack_all};
    sl_sink_t *f = sl_sink_new(&fops, &faults);
    kk_run_t r;
    int port = run_pass(p, &r, o, f);

    /* One record through: the sink answered. */
    char *body = NULL;
    long st = 0;
    for (int64_t end = tu_now_ms() + WAIT_MS; tu_now_ms() < end;) {
        free(body);
        if ((st = get(port, "/ready", &body)) == 200)
            break;
        tu_sleep_ms(100);
    }
    cr_assert_eq(st, 200, "%s", body);
    free(body);
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", sl_broker_bootstrap(b), err, sizeof err);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    cr_assert(prod, "%s", err);
    const char *ev = "{\"type\":\"thing-updated\",\"n\":1}";
    cr_assert_eq(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_KEY("k", 1),
                                   RD_KAFKA_V_VALUE((void *)ev, strlen(ev)),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 0);
    cr_assert_eq(rd_kafka_flush(prod, 10000), 0);
    json_t *all = NULL;
    for (int64_t end = tu_now_ms() + WAIT_MS; tu_now_ms() < end;) {
        json_decref(all);
        all = kk_read_all(s.kinesalite, "out");
        if (json_array_size(all) >= 1)
            break;
        tu_sleep_ms(100);
    }
    cr_assert_eq(json_array_size(all), 1);
    json_decref(all);

    /* The endpoint goes; the next write gets no answer. */
    kk_stop(&s);
    cr_assert_eq(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_KEY("k", 1),
                                   RD_KAFKA_V_VALUE((void *)ev, strlen(ev)),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 0);
    cr_assert_eq(rd_kafka_flush(prod, 10000), 0);
    body = NULL;
    for (int64_t end = tu_now_ms() + WAIT_MS; tu_now_ms() < end;) {
        free(body);
        st = get(port, "/ready", &body);
        if (st == 503 && strstr(body, "\"part\":\"sink\""))
            break;
        tu_sleep_ms(100);
    }
    cr_assert_eq(st, 503, "%s", body);
    cr_assert(strstr(body, "kinesis sink out: the endpoint does not answer"), "%s", body);
    free(body);
    rd_kafka_destroy(prod);
    kk_stop_run(&r);
    sl_sink_destroy(f);
    sl_broker_destroy(b);
    cr_assert_eq(tu_rmtree(dir), 0);
}
