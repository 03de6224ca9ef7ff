/* bench_kinesis — the Kinesis connector against kinesalite, side by side
 * with a plain curl loop, in one run:
 *   a  curl loop: sequential PutRecords calls of 500 records (libcurl easy,
 *      keep-alive) — the baseline for writing;
 *   b  sluice sink: a processor fed from the embedded Kafka broker writing
 *      every record with the Kinesis sink (PutRecords batches) — the writing
 *      side alone, kinesalite busy only with PutRecords as in a;
 *   c  sluice copy: a processor reading the stream (GetRecords per shard)
 *      and writing every record to a second stream;
 *   d  sluice read: the Kinesis source with a filter that keeps nothing
 *      (GetRecords throughput alone).
 * kinesalite runs in node (tests/kinesis/server/server.js) on 127.0.0.1; it
 * checks no signature, so a is unsigned while sluice signs every call. */
#define BENCH_NAME "bench_kinesis"
#include "../tests/kinesis/kinesalite_http.h"
#include "bench_util.h"
#include "kinesalite.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SLUICE_SOURCE_DIR
#define SLUICE_SOURCE_DIR "."
#endif

extern char **environ;

static char g_url[128], g_dir[64];
static pid_t g_server;
static int g_server_in = -1;

static CURL *g_easy;

/* One call with a reused connection; dies on anything but HTTP 200. */
static json_t *call(const char *op, const char *body)
{
    if (!g_easy)
        g_easy = curl_easy_init();
    struct curl_slist *h = kh_headers(op, "AKIDBENCH");
    h = curl_slist_append(h, "Expect:");
    kh_body_t b = {NULL, 0};
    char url[160];
    snprintf(url, sizeof url, "%s/", g_url);
    curl_easy_setopt(g_easy, CURLOPT_URL, url);
    curl_easy_setopt(g_easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(g_easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(g_easy, CURLOPT_WRITEFUNCTION, kh_body_write);
    curl_easy_setopt(g_easy, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(g_easy);
    long st = 0;
    curl_easy_getinfo(g_easy, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(h);
    if (rc != CURLE_OK || st != 200)
        die("%s: %s HTTP %ld %.200s", op, curl_easy_strerror(rc), st, b.p ? b.p : "");
    json_t *j = json_loads(b.p, 0, NULL);
    free(b.p);
    return j;
}

static void create_stream(const char *name, int shards)
{
    char body[200];
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, shards);
    json_decref(call("CreateStream", body));
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\"}", name);
    for (int i = 0; i < 200; i++) {
        json_t *d = call("DescribeStreamSummary", body);
        const char *s = json_string_value(
            json_object_get(json_object_get(d, "StreamDescriptionSummary"), "StreamStatus"));
        int active = s && !strcmp(s, "ACTIVE");
        json_decref(d);
        if (active)
            return;
        sleep_ms(20);
    }
    die("stream %s did not become ACTIVE", name);
}

static void start_server(void)
{
    char *streams[] = {NULL};
    bench_kinesalite_start("/tmp/sluice-bench-kin-XXXXXX", streams, g_dir, sizeof g_dir, g_url,
                           sizeof g_url, &g_server, &g_server_in);
}

static void stop_server(void)
{
    bench_kinesalite_stop(g_dir, g_server, g_server_in);
}

/* ---- a: the curl loop ---- */

static char **g_bodies; /* prebuilt PutRecords bodies of 500 records, per stream name */
static size_t g_nbodies;

static void build_bodies(const char *stream, size_t n)
{
    g_nbodies = (n + 499) / 500;
    g_bodies = xcalloc(g_nbodies, sizeof *g_bodies);
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t c = 0; c < g_nbodies; c++) {
        size_t cap = 600 * 500 + 200, o = 0;
        char *b = xcalloc(1, cap);
        o += (size_t)snprintf(b + o, cap - o, "{\"StreamName\":\"%s\",\"Records\":[", stream);
        for (size_t i = c * 500; i < n && i < (c + 1) * 500; i++) {
            char ev[400];
            int el = snprintf(ev, sizeof ev,
                              "{\"id\":\"ev-%zu\",\"type\":\"thing-updated\",\"timestamp\":%zu,"
                              "\"partitionKey\":\"key-%04u\",\"thing\":{\"id\":\"thing-%zu\","
                              "\"name\":\"Thing %zu\",\"status\":\"active\",\"count\":%u,"
                              "\"description\":\"a benchmark event of about three hundred bytes"
                              " so that the records look like real ones\"}}",
                              i, 1767225600000 + i, (unsigned)(rng() % 1000), i, i,
                              (unsigned)(rng() % 100));
            o += (size_t)snprintf(b + o, cap - o, "%s{\"Data\":\"", i % 500 ? "," : "");
            size_t j = 0;
            const unsigned char *v = (const unsigned char *)ev;
            for (; j + 3 <= (size_t)el; j += 3) {
                unsigned x = (unsigned)v[j] << 16 | (unsigned)v[j + 1] << 8 | v[j + 2];
                b[o++] = t[x >> 18], b[o++] = t[(x >> 12) & 63], b[o++] = t[(x >> 6) & 63],
                b[o++] = t[x & 63];
            }
            if (j < (size_t)el) {
                unsigned x =
                    (unsigned)v[j] << 16 | (j + 1 < (size_t)el ? (unsigned)v[j + 1] << 8 : 0);
                b[o++] = t[x >> 18], b[o++] = t[(x >> 12) & 63];
                b[o++] = j + 1 < (size_t)el ? t[(x >> 6) & 63] : '=';
                b[o++] = '=';
            }
            o += (size_t)snprintf(b + o, cap - o, "\",\"PartitionKey\":\"key-%04zu\"}", i % 1000);
        }
        snprintf(b + o, cap - o, "]}");
        g_bodies[c] = b;
    }
}

static double curl_loop(void)
{
    double t0 = now_s();
    for (size_t c = 0; c < g_nbodies; c++) {
        json_t *r = call("PutRecords", g_bodies[c]);
        if (json_integer_value(json_object_get(r, "FailedRecordCount")))
            die("the curl loop's PutRecords failed entries");
        json_decref(r);
    }
    return now_s() - t0;
}

/* ---- b and c: sluice ---- */

static bench_seen_t g_seen;
static size_t g_target;

static sl_result_t copy(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    bench_seen_note(&g_seen);
    const sl_record_t *r = sl_uow_record(u);
    return sl_uow_set_output(u, NULL, 0, r->value, r->value_len) ? SL_RETRY : SL_OK;
}

static sl_result_t drop(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    bench_seen_note(&g_seen);
    return SL_SKIP;
}

/* Rate of a processor reading @p in (and writing to @p out when set), from
 * the first record seen to the end of the drain after the last. With
 * @p kafka set, @p in is a topic of that broker instead of a stream. */
static double sluice_case(const char *app, const char *in, const char *out, size_t n,
                          const char *kafka)
{
    char err[512], ck[128];
    snprintf(ck, sizeof ck, "sqlite:%s/checkpoints.db", g_dir);
    sl_conf_t *c = sl_conf_new();
    const char *kv[] = {"processor.name",
                        app,
                        "processor.signals",
                        "false",
                        "kinesis.application",
                        app,
                        "kinesis.checkpoints",
                        ck,
                        "log.level",
                        "warn",
                        "batch.max.events",
                        "500",
                        NULL};
    for (size_t i = 0; kv[i]; i += 2)
        check(sl_conf_set(c, kv[i], kv[i + 1], err, sizeof err), kv[i]);
    if (kafka) {
        check(sl_conf_set(c, "kafka.bootstrap.servers", kafka, err, sizeof err), err);
        check(sl_conf_set(c, "kafka.group.id", app, err, sizeof err), err);
    }
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    if (!p)
        die("processor: %s", err);
    if (kafka)
        check(sl_kafka_source_attach(p, in, err, sizeof err), err);
    else
        check(sl_kinesis_source_attach(p, in, err, sizeof err), err);
    sl_sink_t *o = out ? sl_kinesis_sink_new(p, out, err, sizeof err)
                       : sl_kinesis_sink_new(p, in, err, sizeof err);
    sl_sink_t *f = sl_kinesis_sink_new(p, "bench-faults", err, sizeof err);
    if (!o || !f)
        die("sink: %s", err);
    sl_pipeline_t *pl = sl_pipeline_new(out ? "copy" : "read");
    sl_batch_opts_t b = {500, 0, -1};
    check(sl_pipeline_map(pl, out ? copy : drop, NULL), "map");
    check(sl_pipeline_batch(pl, &b), "batch");
    check(sl_pipeline_sink(pl, o), "sink");
    check(sl_processor_add_pipeline(p, pl), "pipeline");
    check(sl_processor_set_fault_sink(p, f), "faults");
    bench_seen_reset(&g_seen);
    g_target = n;
    bench_run_t r = {p, -999};
    pthread_t th;
    if (pthread_create(&th, NULL, bench_runner, &r))
        die("thread");
    double deadline = now_s() + 120 + (double)n / 1000;
    while (atomic_load(&g_seen.n) < n && now_s() < deadline)
        sleep_ms(2);
    if (atomic_load(&g_seen.n) < n)
        die("%s saw %zu of %zu records", app, atomic_load(&g_seen.n), n);
    sl_processor_stop(p);
    pthread_join(th, NULL);
    double t1 = now_s();
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    if (r.rc || st.records_done != n || st.faults || (out && st.sunk != n))
        die("%s: run %d, %llu done, %llu sunk, %llu faults of %zu", app, r.rc,
            (unsigned long long)st.records_done, (unsigned long long)st.sunk,
            (unsigned long long)st.faults, n);
    sl_processor_destroy(p);
    return t1 - atomic_load(&g_seen.first);
}

/* The same events into a topic of the embedded broker. */
static void kafka_fill(const char *bootstrap, const char *topic, size_t n)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(kc, "linger.ms", "5", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    if (!rk)
        die("producer: %s", err);
    for (size_t i = 0; i < n; i++) {
        char ev[400], key[16];
        int el = snprintf(ev, sizeof ev,
                          "{\"id\":\"ev-%zu\",\"type\":\"thing-updated\",\"timestamp\":%zu,"
                          "\"partitionKey\":\"key-%04zu\",\"thing\":{\"id\":\"thing-%zu\","
                          "\"name\":\"Thing %zu\",\"status\":\"active\",\"count\":%u,"
                          "\"description\":\"a benchmark event of about three hundred bytes"
                          " so that the records look like real ones\"}}",
                          i, 1767225600000 + i, i % 1000, i, i, (unsigned)(rng() % 100));
        snprintf(key, sizeof key, "key-%04zu", i % 1000);
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                 RD_KAFKA_V_VALUE(ev, (size_t)el),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 30000))
        die("the Kafka input was not all delivered");
    rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
    size_t n = 20000, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            n = 2000;
            reps = 1;
        } else if (!strcmp(argv[i], "--records")) {
            n = parse_size("--records", argv[++i], 500, 2000000);
        } else if (!strcmp(argv[i], "--reps")) {
            reps = parse_size("--reps", argv[++i], 1, 100);
        } else {
            printf("usage: bench_kinesis [--quick] [--records N] [--reps R]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    atexit(stop_server);
    setenv("AWS_ACCESS_KEY_ID", "AKIDBENCH", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bench-secret", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_KINESIS", g_url, 1);
    create_stream("bench-faults", 1);
    printf("sluice %s bench_kinesis: %zu records of ~330 B, %zu rep(s), kinesalite at %s\n",
           sl_version(), n, reps, g_url);
    double *ra = xcalloc(reps, sizeof *ra), *rb = xcalloc(reps, sizeof *rb),
           *rc = xcalloc(reps, sizeof *rc), *rd = xcalloc(reps, sizeof *rd),
           *qb = xcalloc(reps, sizeof *qb), *qc = xcalloc(reps, sizeof *qc),
           *qd = xcalloc(reps, sizeof *qd);
    char err[256];
    sl_broker_t *broker = sl_broker_new(1, err, sizeof err);
    if (!broker)
        die("embedded broker: %s", err);
    for (size_t rep = 0; rep < reps; rep++) {
        char in[64], out[64], app[64];
        snprintf(in, sizeof in, "in-%zu", rep);
        snprintf(out, sizeof out, "out-%zu", rep);
        create_stream(in, 4);
        create_stream(out, 4);
        build_bodies(in, n);
        ra[rep] = (double)n / curl_loop();
        for (size_t c = 0; c < g_nbodies; c++)
            free(g_bodies[c]);
        free(g_bodies);
        char topic[64], sunk[64];
        snprintf(topic, sizeof topic, "kin-%zu", rep);
        snprintf(sunk, sizeof sunk, "sunk-%zu", rep);
        check(sl_broker_create_topic(broker, topic, 4, 1), "create topic");
        create_stream(sunk, 4);
        kafka_fill(sl_broker_bootstrap(broker), topic, n);
        snprintf(app, sizeof app, "sink-%zu", rep);
        rb[rep] = (double)n / sluice_case(app, topic, sunk, n, sl_broker_bootstrap(broker));
        snprintf(app, sizeof app, "copy-%zu", rep);
        rc[rep] = (double)n / sluice_case(app, in, out, n, NULL);
        snprintf(app, sizeof app, "read-%zu", rep);
        rd[rep] = (double)n / sluice_case(app, in, NULL, n, NULL);
        qb[rep] = rb[rep] / ra[rep];
        qc[rep] = rc[rep] / ra[rep];
        qd[rep] = rd[rep] / ra[rep];
        char x[32], y[32], z[32], w[32];
        printf("rep %zu/%zu: curl PutRecords loop %s/s, sluice sink %s/s (%.2fx), sluice copy "
               "%s/s, sluice read %s/s\n",
               rep + 1, reps, fmt_rate(x, sizeof x, ra[rep]), fmt_rate(y, sizeof y, rb[rep]),
               qb[rep], fmt_rate(w, sizeof w, rc[rep]), fmt_rate(z, sizeof z, rd[rep]));
    }
    summary_t a = summarize(ra, reps), b = summarize(rb, reps), c = summarize(rc, reps),
              d = summarize(rd, reps), sb = summarize(qb, reps), sc = summarize(qc, reps),
              sd = summarize(qd, reps);
    char s1[32], s2[32], s3[32];
    const char *rows[] = {"a  curl loop: sequential PutRecords of 500 (unsigned)  ",
                          "b  sluice: Kafka source -> Kinesis PutRecords sink     ",
                          "c  sluice: Kinesis source -> copy -> PutRecords sink   ",
                          "d  sluice: Kinesis source -> filter (GetRecords only)  "};
    summary_t all[] = {a, b, c, d};
    printf("case                                                   records/s (median, min..max)\n");
    for (int i = 0; i < 4; i++)
        printf("%s %s (%s..%s)\n", rows[i], fmt_rate(s1, sizeof s1, all[i].med),
               fmt_rate(s2, sizeof s2, all[i].min), fmt_rate(s3, sizeof s3, all[i].max));
    printf("ratios, per rep, side by side (median, min..max):\n");
    printf("  sluice PutRecords sink / curl PutRecords loop         %.2fx (%.2f..%.2f)\n", sb.med,
           sb.min, sb.max);
    printf("  sluice copy (GetRecords + PutRecords) / curl loop     %.2fx (%.2f..%.2f)\n", sc.med,
           sc.min, sc.max);
    printf("  sluice read (GetRecords) / curl PutRecords loop       %.2fx (%.2f..%.2f)\n", sd.med,
           sd.min, sd.max);
    sl_broker_destroy(broker);
    printf("anchor (issue 5, same kind of machine): a plain curl loop of 500-record calls makes "
           "about 7.2k records/s\n");
    printf("peak RSS %ld kB\n", peak_rss_kb(RUSAGE_SELF));
    curl_easy_cleanup(g_easy);
    return 0;
}
