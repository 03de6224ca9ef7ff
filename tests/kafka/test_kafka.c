/* Kafka end to end over the embedded broker: exact output, poison events as
 * faults, a drain on SIGTERM with exact commits, and a restart that goes on
 * with nothing lost. The processor under test is kproc, a separate process. */
#include "kafka/kafka_int.h"
#include "kafka_helpers.h"

#include <pthread.h>
#include <stdint.h>

TestSuite(kafka, .timeout = 240);

static void value_of(char *buf, size_t n, int i)
{
    snprintf(buf, n,
             "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"timestamp\":%d,"
             "\"partitionKey\":\"k%d\",\"thing\":{\"id\":\"k%d\",\"n\":%d}}",
             i, 1700000000 + i, i % 1000, i % 1000, i);
}

struct seen {
    int n;
    unsigned char *count; /* per input id */
    int bad;
};

/* Checks one output: "<input value>|in/<partition>@<offset>" and counts its id. */
static void check_out(const rd_kafka_message_t *m, void *opaque)
{
    struct seen *s = opaque;
    const char *v = m->payload;
    const char *bar = memchr(v, '|', m->len);
    int id;
    if (!bar || sscanf(v, "{\"id\":\"e%d\"", &id) != 1 || id < 0 || id >= s->n) {
        s->bad++;
        return;
    }
    char want[256];
    value_of(want, sizeof want, id);
    if ((size_t)(bar - v) != strlen(want) || memcmp(v, want, strlen(want)) ||
        strncmp(bar + 1, "in/", 3)) {
        s->bad++;
        return;
    }
    char key[16];
    snprintf(key, sizeof key, "k%d", id % 1000);
    if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len))
        s->bad++;
    s->count[id]++;
}

static void produce_inputs(const char *bootstrap, int from, int to)
{
    rd_kafka_t *rk = kt_producer(bootstrap);
    char v[256], k[16];
    for (int i = from; i < to; i++) {
        value_of(v, sizeof v, i);
        snprintf(k, sizeof k, "k%d", i % 1000);
        kt_produce(rk, "in", k, v, strlen(v));
    }
    kt_flush(rk);
    rd_kafka_destroy(rk);
}

Test(kafka, end_to_end_100k_exact)
{
    enum { N = 100000 };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {8, 8, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    produce_inputs(bs, 0, N);
    pid_t pid = kt_spawn_kproc(bs, "in", "out", "faults", "g-e2e", "batch.max.events=500",
                               "batch.linger.ms=20");
    struct seen s = {N, calloc(N, 1), 0};
    size_t got = kt_read(bs, "out", 8, N, 120000, 1500, check_out, &s);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0, "a complete drain exits 0");
    cr_assert_eq(s.bad, 0, "every output has the input's exact content, key and provenance");
    cr_assert_eq(got, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(s.count[i], 1, "e%d delivered %d times", i, s.count[i]);
    cr_assert_eq(kt_committed(bs, "g-e2e", "in", 8), N, "committed offsets cover every record");
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 3000, 500, NULL, NULL), 0);
    free(s.count);
    sl_broker_destroy(b);
}

struct faults {
    int n;
    char values[16][128];
    char keys[16][16];
    int64_t offsets[16];
};

static void collect_fault(const rd_kafka_message_t *m, void *opaque)
{
    struct faults *f = opaque;
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    cr_assert(j, "fault is JSON: %s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "fault");
    json_t *rec = json_object_get(json_object_get(j, "uow"), "record");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "in");
    cr_assert_lt(f->n, 16);
    snprintf(f->values[f->n], sizeof f->values[0], "%s",
             json_string_value(json_object_get(rec, "value")));
    snprintf(f->keys[f->n], sizeof f->keys[0], "%s",
             json_string_value(json_object_get(rec, "key")));
    f->offsets[f->n] = json_integer_value(json_object_get(rec, "offset"));
    f->n++;
    json_decref(j);
}

Test(kafka, poison_events_become_faults)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *rk = kt_producer(bs);
    char v[256];
    int poison = 0;
    for (int i = 0; i < 1000; i++) {
        if (i % 100 == 37) {
            kt_produce(rk, "in", "bad", "{\"type\":", 8); /* truncated JSON */
            poison++;
        } else {
            value_of(v, sizeof v, i);
            kt_produce(rk, "in", "good", v, strlen(v));
        }
    }
    kt_flush(rk);
    rd_kafka_destroy(rk);
    pid_t pid = kt_spawn_kproc(bs, "in", "out", "faults", "g-poison", "batch.linger.ms=10", NULL);
    size_t out = kt_read(bs, "out", 1, 1000 - (size_t)poison, 60000, 1000, NULL, NULL);
    struct faults f = {0};
    size_t nf = kt_read(bs, "faults", 1, (size_t)poison, 30000, 1000, collect_fault, &f);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0);
    cr_assert_eq(out, 1000 - (size_t)poison, "every good event is delivered");
    cr_assert_eq(nf, (size_t)poison, "each poison event faults exactly once");
    for (int i = 0; i < f.n; i++) {
        cr_assert_str_eq(f.values[i], "eyJ0eXBlIjo=", "the original bytes");
        cr_assert_str_eq(f.keys[i], "YmFk", "the original key");
        cr_assert_eq(f.offsets[i] % 100, 37, "the original coordinates");
    }
    cr_assert_eq(kt_committed(bs, "g-poison", "in", 1), 1000);
    sl_broker_destroy(b);
}

/* The "key" member of a fault's original record, as JSON: a string ("" for
 * an empty key) or null (no key). */
static void collect_fault_key(const rd_kafka_message_t *m, void *opaque)
{
    int *kinds = opaque; /* [n, kind 0, kind 1, ...]: 1 string "", 2 null, 3 other */
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    cr_assert(j, "fault is JSON: %s", je.text);
    json_t *k = json_object_get(json_object_get(json_object_get(j, "uow"), "record"), "key");
    cr_assert_lt(kinds[0], 4);
    kinds[1 + kinds[0]++] = json_is_string(k) && !json_string_length(k) ? 1
                            : json_is_null(k)                           ? 2
                                                                        : 3;
    json_decref(j);
}

/* An empty key is a key: a record with an empty key and an empty value (no
 * bytes to copy at all, the first record of a fresh source) keeps its key
 * as empty, not absent, unlike a record with no key. It is a fault (an
 * empty value is no JSON), whose record says which it had. */
Test(kafka, an_empty_key_stays_a_key_when_the_record_has_no_bytes)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *rk = kt_producer(bs);
    kt_produce(rk, "in", "", "", 0);
    kt_produce(rk, "in", NULL, "", 0);
    kt_flush(rk);
    rd_kafka_destroy(rk);
    pid_t pid =
        kt_spawn_kproc(bs, "in", "out", "faults", "g-empty-key", "batch.linger.ms=10", NULL);
    int kinds[5] = {0};
    size_t nf = kt_read(bs, "faults", 1, 2, 30000, 1000, collect_fault_key, kinds);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0);
    cr_assert_eq(nf, 2, "each record faults once");
    cr_assert_eq(kinds[1], 1, "the empty key stays an empty key (1), not %d (2: no key)", kinds[1]);
    cr_assert_eq(kinds[2], 2, "no key stays no key (2), not %d", kinds[2]);
    sl_broker_destroy(b);
}

static void count_only(const rd_kafka_message_t *m, void *opaque)
{
    (void)m;
    ++*(size_t *)opaque;
}

Test(kafka, sigterm_drains_commits_exactly_and_restart_loses_nothing)
{
    enum { N = 30000 };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {4, 4, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    produce_inputs(bs, 0, N);
    /* A slow, rate-limited first run: SIGTERM arrives mid-stream. */
    pid_t pid =
        kt_spawn_kproc(bs, "in", "out", "faults", "g-term", "batch.linger.ms=50", "rate=5000");
    size_t seen = 0;
    int64_t end = tu_now_ms() + 60000;
    while (seen < 2000 && tu_now_ms() < end)
        seen = kt_read(bs, "out", 4, 2000, 3000, 0, NULL, NULL);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0, "the drain completes");
    size_t first = kt_read(bs, "out", 4, 0, 5000, 1500, NULL, NULL);
    int64_t committed = kt_committed(bs, "g-term", "in", 4);
    cr_assert_eq((size_t)committed, first,
                 "after a complete drain, committed offsets equal the records processed");
    /* Restart: it continues where the first run stopped. */
    pid = kt_spawn_kproc(bs, "in", "out", "faults", "g-term", "batch.linger.ms=20", NULL);
    struct seen s = {N, calloc(N, 1), 0};
    size_t got = kt_read(bs, "out", 4, N, 120000, 1500, check_out, &s);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0);
    cr_assert_eq(s.bad, 0);
    cr_assert_eq(got, N, "nothing lost and nothing twice across the restart");
    for (int i = 0; i < N; i++)
        cr_assert_eq(s.count[i], 1, "e%d", i);
    cr_assert_eq(kt_committed(bs, "g-term", "in", 4), N);
    (void)count_only;
    free(s.count);
    sl_broker_destroy(b);
}

/* check_out, and each key's ids in increasing order (a key's records share
 * an output partition, read in offset order). */
struct ordered {
    struct seen s;
    int last[1000];
    int out_of_order;
};

static void check_ordered(const rd_kafka_message_t *m, void *opaque)
{
    struct ordered *o = opaque;
    int id;
    check_out(m, &o->s);
    if (sscanf(m->payload, "{\"id\":\"e%d\"", &id) != 1 || id < 0 || id >= o->s.n)
        return;
    if (id <= o->last[id % 1000])
        o->out_of_order++;
    o->last[id % 1000] = id;
}

/* A producer queue of a few messages refuses most of every batch of 500
 * (QUEUE_FULL, from the middle of the records the sink hands over at once):
 * each refused record is retried until delivered, none is lost, none comes
 * twice, none becomes a fault, and each key keeps its order. */
Test(kafka, a_full_producer_queue_refuses_records_mid_batch_and_each_is_retried)
{
    enum { N = 3000 };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {4, 4, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    produce_inputs(bs, 0, N);
    const char *extra[] = {"kafka.queue.buffering.max.messages=7",
                           "batch.max.events=500",
                           "batch.linger.ms=5",
                           "retry.max=1000",
                           "retry.backoff.ms=1",
                           "retry.backoff.max.ms=20",
                           "log.stats.interval.ms=200",
                           NULL};
    char log[] = "/tmp/sluice-full-XXXXXX";
    int fd = mkstemp(log);
    cr_assert_geq(fd, 0);
    close(fd);
    kt_stderr_path = log;
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-full", extra);
    kt_stderr_path = NULL;
    struct ordered o = {.s = {N, calloc(N, 1), 0}};
    for (int i = 0; i < 1000; i++)
        o.last[i] = -1;
    size_t got = kt_read(bs, "out", 4, N, 180000, 1500, check_ordered, &o);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0, "a complete drain exits 0");
    cr_assert_eq(o.s.bad, 0, "every output has the input's exact content, key and provenance");
    cr_assert_eq(got, N, "every refused record was retried and delivered once");
    for (int i = 0; i < N; i++)
        cr_assert_eq(o.s.count[i], 1, "e%d delivered %d times", i, o.s.count[i]);
    cr_assert_eq(o.out_of_order, 0, "each key in order");
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 3000, 500, NULL, NULL), 0, "no faults");
    /* The queue did refuse records: the stats lines count their retries. */
    unsigned long long retries = 0;
    char line[1024];
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, " faults, ");
        unsigned long long r;
        if (strstr(line, "\"msg\":\"stats: ") && at && sscanf(at + 9, "%llu retries", &r) == 1)
            retries = r > retries ? r : retries;
    }
    fclose(f);
    cr_assert_gt(retries, 0, "records were refused and retried (log in %s)", log);
    unlink(log);
    free(o.s.count);
    sl_broker_destroy(b);
}

static void *run_proc(void *arg)
{
    return (void *)(intptr_t)sl_processor_run(arg);
}

static sl_result_t keep_value(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    return SL_OK;
}

/* A "pass" pipeline (keep_value) from Kafka topic "in" into @p out, faults
 * into @p faults, on @p p. */
static void add_pass(sl_processor_t *p, sl_sink_t *out, sl_sink_t *faults)
{
    char err[512];
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    sl_pipeline_map(pl, keep_value, NULL);
    sl_pipeline_batch(pl, NULL);
    sl_pipeline_sink(pl, out);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
}

Test(kafka, embedded_bootstrap_in_process)
{
    char err[256];
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_set(c, "kafka.bootstrap.servers", "embedded", err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "kafka.group.id", "g-emb", err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "processor.signals", "false", err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "batch.linger.ms", "10", err, sizeof err), 0);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    cr_assert_str_eq(sl_kafka_bootstrap(p), "embedded", "no client yet, no broker yet");
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    cr_assert(out, "%s", err);
    const char *bs = sl_kafka_bootstrap(p);
    cr_assert(bs && !strncmp(bs, "127.0.0.1:", 10), "the embedded broker listens on loopback");
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(faults);
    cr_assert_str_eq(sl_kafka_bootstrap(p), bs, "one embedded broker per processor");
    produce_inputs(bs, 0, 200);
    add_pass(p, out, faults);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    size_t got = kt_read(bs, "out", 4, 200, 60000, 1000, NULL, NULL); /* auto-created: 4 */
    sl_processor_stop(p);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0, "complete drain");
    cr_assert_eq(got, 200);
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    cr_assert_eq(st.records_done, 200);
    sl_processor_destroy(p);
}

static const char *consumer_conf(rd_kafka_t *rk, const char *name, char *buf, size_t n)
{
    size_t len = n;
    cr_assert_eq(rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &len), RD_KAFKA_CONF_OK, "%s",
                 name);
    return buf;
}

/* The consumer queue's message bound, queued.min.messages: 20000 unless set
 * (librdkafka's own is 100000; a backlog that long is taken out of cache,
 * see lib/kafka/conf.c), less when a budget's share is smaller, and an
 * explicit kafka.queued.min.messages wins either way. The other buffers
 * keep librdkafka's defaults without a budget. */
Test(kafka, the_consumer_queue_holds_at_most_20000_messages_unless_told_otherwise)
{
    const char *topics[] = {"in", NULL};
    const int parts[] = {1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    static const struct {
        const char *budget, *explicit_qmin;
        const char *qmin, *qkb, *fetch;
    } cases[] = {
        {NULL, NULL, "20000", "65536", "52428800"},
        /* 64 MiB: a quarter for the source, half of it for the queue, 8 MiB:
         * 32768 messages at 256 bytes, above 20000 */
        {"64m", NULL, "20000", "8192", "8388608"},
        /* 16 MiB: 2 MiB for the queue, 8192 messages */
        {"16m", NULL, "8192", "2048", "2097152"},
        {NULL, "150000", "150000", "65536", "52428800"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        sl_conf_t *c = sl_conf_new();
        const char *kv[] = {"kafka.bootstrap.servers",
                            bs,
                            "kafka.group.id",
                            "g-qmin",
                            "processor.signals",
                            "false",
                            NULL};
        for (size_t j = 0; kv[j]; j += 2)
            cr_assert_eq(sl_conf_set(c, kv[j], kv[j + 1], err, sizeof err), 0, "%s", err);
        if (cases[i].budget)
            cr_assert_eq(sl_conf_set(c, "memory.max.bytes", cases[i].budget, err, sizeof err), 0);
        if (cases[i].explicit_qmin)
            cr_assert_eq(sl_conf_set(c, "kafka.queued.min.messages", cases[i].explicit_qmin, err,
                                     sizeof err),
                         0);
        sl_processor_t *p = sl_processor_new(c, err, sizeof err);
        sl_conf_destroy(c);
        cr_assert(p, "%s", err);
        sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
        sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
        cr_assert(out && faults, "%s", err);
        add_pass(p, out, faults);
        rd_kafka_t *rk = sl__kafka_source_rk(p);
        cr_assert(rk);
        char buf[64];
        cr_assert_str_eq(consumer_conf(rk, "queued.min.messages", buf, sizeof buf), cases[i].qmin,
                         "case %zu", i);
        cr_assert_str_eq(consumer_conf(rk, "queued.max.messages.kbytes", buf, sizeof buf),
                         cases[i].qkb, "case %zu", i);
        cr_assert_str_eq(consumer_conf(rk, "fetch.max.bytes", buf, sizeof buf), cases[i].fetch,
                         "case %zu", i);
        /* a fetch held at the log's end keeps partitions that become
         * fetchable waiting at most this long (librdkafka's own: 500) */
        cr_assert_str_eq(consumer_conf(rk, "fetch.wait.max.ms", buf, sizeof buf), "100", "case %zu",
                         i);
        sl_processor_destroy(p);
    }
    sl_broker_destroy(b);
}

/* The smallest budget (1 MiB): the consumer's buffers follow from it, an
 * explicit kafka.* property wins over its share, and records larger than
 * every share (700 kB, above the engine's 512 kB and the consumer queue's
 * 128 kB) still go through, between ordinary ones: each bound admits one
 * record, however large, so nothing waits forever. */
Test(kafka, a_tiny_memory_budget_still_processes_everything)
{
    enum { N = 3000, BIGS = 6, BIG = 700 * 1000 };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {4, 4, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *prod = kt_producer(bs);
    char *big = malloc(BIG + 256);
    cr_assert(big);
    char v[256], k[16];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i % 1000);
        if (i % (N / BIGS) == N / BIGS / 2) {
            int h = snprintf(big, 256,
                             "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"timestamp\":1,"
                             "\"thing\":{\"id\":\"%s\",\"pad\":\"",
                             i, k);
            memset(big + h, 'x', BIG - h - 3);
            memcpy(big + BIG - 3, "\"}}", 3);
            kt_produce(prod, "in", k, big, BIG);
        } else {
            value_of(v, sizeof v, i);
            kt_produce(prod, "in", k, v, strlen(v));
        }
    }
    kt_flush(prod);
    rd_kafka_destroy(prod);
    free(big);

    char err[256];
    sl_conf_t *c = sl_conf_new();
    const char *kv[] = {"kafka.bootstrap.servers", bs, "kafka.group.id", "g-tiny",
                        "processor.signals", "false", "batch.linger.ms", "10", "memory.max.bytes",
                        "1m",
                        /* explicit: wins over the budget's share */
                        "kafka.queued.min.messages", "777",
                        /* and over the source's own default */
                        "kafka.fetch.wait.max.ms", "250", NULL};
    for (size_t i = 0; kv[i]; i += 2)
        cr_assert_eq(sl_conf_set(c, kv[i], kv[i + 1], err, sizeof err), 0, "%s", err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(out && faults, "%s", err);
    add_pass(p, out, faults);

    /* the source's quarter, 256 kB: half for the queue, half for a fetch
     * (never below message.max.bytes, 1000000), a quarter of that for a
     * partition */
    rd_kafka_t *rk = sl__kafka_source_rk(p);
    cr_assert(rk);
    char buf[64];
    cr_assert_str_eq(consumer_conf(rk, "queued.max.messages.kbytes", buf, sizeof buf), "128");
    cr_assert_str_eq(consumer_conf(rk, "queued.min.messages", buf, sizeof buf), "777");
    cr_assert_str_eq(consumer_conf(rk, "fetch.max.bytes", buf, sizeof buf), "1000000");
    cr_assert_str_eq(consumer_conf(rk, "max.partition.fetch.bytes", buf, sizeof buf), "250000");
    cr_assert_str_eq(consumer_conf(rk, "fetch.wait.max.ms", buf, sizeof buf), "250");

    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    size_t got = kt_read(bs, "out", 4, N, 180000, 1500, NULL, NULL);
    sl_processor_stop(p);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0, "complete drain");
    cr_assert_eq(got, N, "every record, the large ones too, comes out");
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    cr_assert_eq(st.records_done, N);
    cr_assert_eq(st.faults, 0);
    sl_processor_destroy(p);
    cr_assert_eq(kt_committed(bs, "g-tiny", "in", 4), N, "committed offsets cover every record");
    sl_broker_destroy(b);
}

/* The input's number N, from its value {"id":"eN",...}. */
static int input_id(const sl_uow_t *u)
{
    const sl_record_t *r = sl_uow_record(u);
    char buf[32] = "";
    memcpy(buf, r->value, r->value_len < sizeof buf - 1 ? r->value_len : sizeof buf - 1);
    int id = -1;
    sscanf(buf, "{\"id\":\"e%d\"", &id);
    return id;
}

/* A fault for every tenth input, output for the rest. */
static sl_result_t fault_tenth(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    if (input_id(u) % 10 == 0) {
        sl_uow_fail(u, SL_ESTAGE, "every tenth");
        return SL_FAULT;
    }
    return SL_OK;
}

static sl_result_t keep_even(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    return input_id(u) % 2 == 0 ? SL_OK : SL_SKIP;
}

/* Every Kafka sink of a processor, the fault sink among them, writes through
 * one producer; each delivery report still reaches the sink that wrote it,
 * and a drain delivers and commits everything. */
Test(kafka, one_producer_for_every_kafka_sink)
{
    const char *topics[] = {"in", "out-a", "out-b", "faults", NULL};
    const int parts[] = {2, 2, 2, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        "g-shared",
                        "processor.signals",
                        "false",
                        "batch.linger.ms",
                        "10",
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    char err[256];
    sl_sink_t *a = sl_kafka_sink_new(p, "out-a", err, sizeof err);
    cr_assert(a, "%s", err);
    sl_sink_t *bsink = sl_kafka_sink_new(p, "out-b", err, sizeof err);
    cr_assert(bsink, "%s", err);
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(faults, "%s", err);
    rd_kafka_t *rk = sl__kafka_sink_rk(a);
    cr_assert_not_null(rk);
    cr_assert_eq(sl__kafka_sink_rk(bsink), rk, "the second sink shares the first one's producer");
    cr_assert_eq(sl__kafka_sink_rk(faults), rk, "so does the fault sink");
    sl_processor_t *other = tu_processor(kv, NULL);
    sl_sink_t *o = sl_kafka_sink_new(other, "out-a", err, sizeof err);
    cr_assert(o, "%s", err);
    cr_assert_neq(sl__kafka_sink_rk(o), rk, "another processor has its own");
    sl_processor_destroy(other);

    produce_inputs(bs, 0, 200);
    sl_pipeline_t *pa = sl_pipeline_new("a");
    sl_pipeline_map(pa, fault_tenth, NULL);
    sl_pipeline_batch(pa, NULL);
    sl_pipeline_sink(pa, a);
    sl_pipeline_t *pb = sl_pipeline_new("b");
    sl_pipeline_filter(pb, keep_even, NULL);
    sl_pipeline_sink(pb, bsink);
    cr_assert_eq(sl_processor_add_pipeline(p, pa), 0, "%s", sl_pipeline_error(pa));
    cr_assert_eq(sl_processor_add_pipeline(p, pb), 0, "%s", sl_pipeline_error(pb));
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    size_t got_a = kt_read(bs, "out-a", 2, 180, 60000, 1000, NULL, NULL);
    size_t got_b = kt_read(bs, "out-b", 2, 100, 60000, 500, NULL, NULL);
    size_t got_f = kt_read(bs, "faults", 1, 20, 60000, 500, NULL, NULL);
    sl_processor_stop(p);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0, "complete drain");
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    sl_processor_destroy(p);
    cr_assert_eq(got_a, 180, "out-a: all but the faults (got %zu)", got_a);
    cr_assert_eq(got_b, 100, "out-b: the even offsets (got %zu)", got_b);
    cr_assert_eq(got_f, 20, "faults (got %zu)", got_f);
    cr_assert_eq(st.records_done, 200);
    cr_assert_eq(kt_committed(bs, "g-shared", "in", 2), 200);
    sl_broker_destroy(b);
}

/* ---- headers reach the engine, whatever the record's shape ---- */

#define HDR_N 240

/* The input @p i's headers: none, one plain one, two plain ones, or the
 * CloudEvents binary-mode set that carries the envelope of an empty or a
 * null value. Returns the count; names and values in @p nm and @p val. */
static size_t hdr_shape(int i, const char *nm[4], char val[4][16])
{
    switch (i % 6) {
    case 1:
    case 3:
        nm[0] = "x-n";
        snprintf(val[0], 16, "n%d", i);
        if (i % 6 == 1)
            return 1;
        nm[1] = "x-m";
        snprintf(val[1], 16, "m%d", i);
        return 2;
    case 4:
    case 5:
        nm[0] = "ce_specversion";
        snprintf(val[0], 16, "1.0");
        nm[1] = "ce_type";
        snprintf(val[1], 16, "thing-updated");
        nm[2] = "ce_id";
        snprintf(val[2], 16, "e%d", i);
        nm[3] = "ce_source";
        snprintf(val[3], 16, "t");
        return 4;
    default:
        return 0;
    }
}

struct hdr_seen {
    int count[HDR_N];
    int bad;
    int none; /* source.headers=false: every record arrives without headers */
};

/* Compares the record's headers with what input (its key) was produced with. */
static sl_result_t check_headers(sl_uow_t *u, void *opaque)
{
    struct hdr_seen *hs = opaque;
    const sl_record_t *r = sl_uow_record(u);
    char kb[16] = "";
    memcpy(kb, r->key, r->key_len < sizeof kb - 1 ? r->key_len : sizeof kb - 1);
    int i = atoi(kb);
    if (i < 0 || i >= HDR_N) {
        hs->bad++;
        return SL_OK;
    }
    hs->count[i]++;
    const char *nm[4];
    char val[4][16];
    size_t nh = hs->none ? 0 : hdr_shape(i, nm, val);
    int ok = r->header_count == nh && (nh || !r->headers);
    for (size_t k = 0; ok && k < nh; k++)
        ok = !strcmp(r->headers[k].name, nm[k]) && r->headers[k].value_len == strlen(val[k]) &&
             !memcmp(r->headers[k].value, val[k], strlen(val[k]));
    if (!ok) {
        hs->bad++;
        fprintf(stderr, "input %d: %zu header(s), want %zu\n", i, r->header_count, nh);
    }
    return SL_OK;
}

/* Produces the HDR_N inputs to "in": record i has hdr_shape(i)'s headers, a
 * JSON value of 60 bytes up to past 10 000 (1, 2 and 3-byte varint
 * lengths), an empty value at shape 4 and a null one at shape 5. */
static void hdr_produce(const char *bs)
{
    rd_kafka_t *pk = kt_producer(bs);
    static char v[12000];
    for (int i = 0; i < HDR_N; i++) {
        const char *nm[4];
        char val[4][16], key[16];
        size_t nh = hdr_shape(i, nm, val);
        snprintf(key, sizeof key, "%d", i);
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        for (size_t k = 0; k < nh; k++)
            rd_kafka_header_add(h, nm[k], -1, val[k], -1);
        int pad = (i * 397) % 10000;
        int len = snprintf(
            v, sizeof v, "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"pad\":\"%*s\"}", i, pad, "");
        int shape = i % 6;
        void *body = shape == 5 ? NULL : v;
        size_t vlen = shape >= 4 ? 0 : (size_t)len;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            pk, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(body, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
    }
    kt_flush(pk);
    rd_kafka_destroy(pk);
}

/* Starts a broker, produces the HDR_N inputs (hdr_produce) and runs one
 * processor over "in" (the stage check_headers, then "out"; faults to
 * "faults") with source.headers set to @p headers, until @p want_out records
 * are on "out". Fills @p hs (reset here) and @p st with the engine's
 * counters; returns the broker, which the caller destroys. */
static sl_broker_t *hdr_case(const char *headers, struct hdr_seen *hs, size_t want_out,
                             sl_stats_t *st)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {2, 2, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    hdr_produce(bs);
    memset(hs, 0, sizeof *hs);
    hs->none = !strcmp(headers, "false");
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        "g-hdr",
                        "processor.signals",
                        "false",
                        "batch.linger.ms",
                        "10",
                        "source.headers",
                        headers,
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    char err[256];
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    cr_assert(out, "%s", err);
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(faults, "%s", err);
    sl_pipeline_t *pl = sl_pipeline_new("hdr");
    sl_pipeline_map(pl, check_headers, hs);
    sl_pipeline_batch(pl, NULL);
    sl_pipeline_sink(pl, out);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0, "%s", sl_pipeline_error(pl));
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    size_t got = kt_read(bs, "out", 2, want_out, 60000, 500, NULL, NULL);
    sl_processor_stop(p);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0, "complete drain");
    sl_engine_stats(sl_processor_engine(p), st);
    sl_processor_destroy(p);
    cr_assert_eq(got, want_out);
    return b;
}

/* Records with and without headers, values of 1 to 3-byte varint lengths,
 * empty and null values (whose envelope only the headers carry) all reach
 * the stage with exactly the headers they were produced with, and none
 * becomes a fault. */
Test(kafka, headers_reach_the_engine_for_every_record_shape)
{
    static struct hdr_seen hs;
    sl_stats_t st;
    sl_broker_t *b = hdr_case("true", &hs, HDR_N, &st);
    cr_assert_eq(hs.bad, 0, "%d record(s) with the wrong headers", hs.bad);
    for (int i = 0; i < HDR_N; i++)
        cr_assert_eq(hs.count[i], 1, "input %d reached the stage %d time(s)", i, hs.count[i]);
    cr_assert_eq(st.records_done, HDR_N);
    cr_assert_eq(st.faults, 0);
    sl_broker_destroy(b);
}

/* source.headers=false: the same records reach the stage without headers,
 * so the ones whose envelope only the ce_* headers carry (an empty and a
 * null value) are not events: each becomes a fault on the fault topic, none
 * is lost, and the others flow. */
Test(kafka, source_headers_false_reads_no_headers)
{
    static struct hdr_seen hs;
    sl_stats_t st;
    sl_broker_t *b = hdr_case("false", &hs, HDR_N / 6 * 4, &st);
    cr_assert_eq(hs.bad, 0, "%d record(s) with headers", hs.bad);
    for (int i = 0; i < HDR_N; i++)
        cr_assert_eq(hs.count[i], i % 6 >= 4 ? 0 : 1, "input %d reached the stage %d time(s)", i,
                     hs.count[i]);
    cr_assert_eq(st.records_done, HDR_N);
    cr_assert_eq(st.faults, HDR_N / 6 * 2);
    cr_assert_eq(
        kt_read(sl_broker_bootstrap(b), "faults", 1, HDR_N / 6 * 2, 30000, 500, NULL, NULL),
        HDR_N / 6 * 2);
    sl_broker_destroy(b);
}
