/* sluice — end-to-end benchmark over the embedded Kafka broker.
 *
 * One run, side by side on the same topic of the same in-process broker
 * (see bench/README.md):
 *   a. a raw librdkafka group consumer reading the topic with
 *      rd_kafka_consume_batch_queue() (the ceiling: it does nothing else);
 *  a2. the same, plus sl_envelope_scan() of every value (the decode alone);
 *  a3. the same consumer plus a producer doing the processor's librdkafka
 *      work and nothing else: every record's headers asked for, the kept
 *      quarter (known from the plan, not decoded) produced as outputs of
 *      the processor's size to another topic, each delivery report awaited
 *      (the floor that librdkafka and the broker leave to any processor);
 *   b. a sluice processor: Kafka source -> filter_types -> map -> batch(500)
 *      -> Kafka sink, faults to a Kafka sink, run on its own thread;
 *   c. kcat -C -e on the same topic, when kcat is on PATH (a reference that
 *      includes process start and connection setup).
 * Only the public API is used, plus librdkafka for the baseline and for
 * producing the input. Never run by `meson test`: no timing is asserted, but
 * any API failure, count that does not add up or wait past its deadline
 * exits non-zero.
 *
 * The engine is not thread-safe: while the processor runs, the main thread
 * only reads C11 atomics that the pipeline's map updates, and queries the
 * broker; engine stats are read after sl_processor_run() has returned. */
#define _GNU_SOURCE /* sched_setaffinity() and CPU_SET for --pin (Linux) */
#define BENCH_NAME "bench_kafka_e2e"
#include "bench_util.h"

#include <librdkafka/rdkafka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

#define NKEYS 1000         /* distinct partition keys */
#define NTYPES 4           /* event types; exactly one is kept by the pipeline */
#define EVENT_SIZE 327     /* target size of one event in bytes */
#define BATCH_EVENTS 500   /* batch(500), also batch.max.events */
#define CONSUME_BATCH 1000 /* messages per rd_kafka_consume_batch_queue (= source.batch.size) */
#define OUT_PARTS 8
#define MIN_IN_PARTS 32
#define PART_BYTES (3u << 20) /* input bytes per partition at most (the mock keeps 5 MiB) */
#define TOPIC_IN "in"
#define TOPIC_OUT "out"
#define TOPIC_FAULTS "faults"
#define TOPIC_IO "out-a3" /* a3's outputs */
#define IO_OUT_BYTES 110  /* a3's output: about the size of b's map output */
#define PIPELINE "bench"
#define KEEP_TYPE "thing-updated"
#define JOIN_DEADLINE_S 60.0 /* group join, first record */
#define QUERY_TIMEOUT_MS 10000

/* ---- errors ------------------------------------------------------------- */

/* ---- clocks, rss -------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double thread_cpu_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts))
        return -1; /* the thread is gone */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* ---- options ------------------------------------------------------------------- */

typedef struct opts_s {
    size_t events;
    size_t reps;
    int partitions; /* of the input topic; 0 = from the event count */
    const char *csv;
    const char *timeline; /* CSV of the processor's progress, sampled every ms */
    int quick;
    int kcat;             /* 1 = run kcat if found */
    int metrics;          /* 1 = also row b+m: the endpoint on and scraped */
    int only_b;           /* 1 = run only b (for a profiler: no other client's threads) */
    int brokers;          /* of the embedded cluster */
    int pin_other;        /* --pin A:B: CPU A for every thread but b's processor; -1 = off */
    int pin_proc;         /* CPU B for b's processor thread */
    const char *conf[32]; /* extra processor properties, "key=value" */
    size_t nconf;
    const char *kafka[32]; /* extra librdkafka consumer properties for a, a2, a3 and b */
    size_t nkafka;
} opts_t;

/* How often row b+m scrapes /metrics: far more often than Prometheus
 * would (15 s by default), so a short run sees scrapes at all. */
#define SCRAPE_MS 200

static void usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: bench_kafka_e2e [--quick] [--events N] [--reps R] [--partitions P] [--no-kcat]\n"
        "                       [--conf K=V]... [--kafka K=V]... [--csv FILE] [--timeline FILE]\n"
        "                       [--brokers N] [--pin A:B]\n"
        "  --quick         smoke run: 5000 events, 1 rep (well under 30 s)\n"
        "  --events N      events produced to the input topic (default 200000)\n"
        "  --reps R        repeat every case R times with fresh group ids; report median\n"
        "                  and min..max (default 1)\n"
        "  --partitions P  partitions of the input topic (default: at least %d, at most\n"
        "                  3 MiB of input per partition)\n"
        "  --conf K=V      extra sluice property for the processor (b), e.g.\n"
        "                  inflight.max.records=1000000\n"
        "                  (repeatable; applied after the benchmark's own)\n"
        "  --kafka K=V     librdkafka property for every consumer compared (a, a2, a3, and b as\n"
        "                  kafka.K), e.g. queued.min.messages=10000000 (repeatable)\n"
        "  --no-kcat       skip the kcat reference row\n"
        "  --brokers N     brokers in the embedded cluster (default 1); the partitions' leaders\n"
        "                  spread over them, so each client fetches over N connections\n"
        "  --pin A:B       for diagnosis: in b, from its first record to its last output, the\n"
        "                  processor's thread runs on CPU B only and every other thread of the\n"
        "                  process (clients, embedded broker) on CPU A only; then all get the\n"
        "                  process's CPUs back. b's 'app' then says how much of its own CPU the\n"
        "                  processor's thread used: the rest it waited for input or acks\n"
        "  --only-b        run only b (no a, a2, a3, c; for callgrind or perf: only b's threads\n"
        "                  run after the warm-up; no ratios)\n"
        "  --metrics       also row b+m: b with http.listen on and /metrics scraped every\n"
        "                  %d ms (side by side with b in each rep)\n"
        "  --csv FILE      also write the rows as CSV\n"
        "  --timeline FILE write the processor's progress every 5 ms as CSV (rep,ms,mapped,\n"
        "                  partitions_read,thread_cpu_ms,stored_outputs), for diagnosis;\n"
        "                  it queries the broker, so it disturbs what it observes a little\n",
        MIN_IN_PARTS, SCRAPE_MS);
}

static void parse_args(int argc, char **argv, opts_t *o)
{
    unsigned given = 0;
    *o = (opts_t){.events = 200000, .reps = 1, .kcat = 1, .brokers = 1, .pin_other = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_common(argc, argv, &i, &o->quick, &o->events, 1000, 20000000, &o->reps, 100,
                       &given)) {
            continue;
        } else if (!strcmp(a, "--partitions")) {
            o->partitions = (int)opt_size(argc, argv, &i, 1, 10000);
        } else if (!strcmp(a, "--conf")) {
            opt_kv(argc, argv, &i, o->conf, &o->nconf, sizeof o->conf / sizeof o->conf[0]);
        } else if (!strcmp(a, "--kafka")) {
            opt_kv(argc, argv, &i, o->kafka, &o->nkafka, sizeof o->kafka / sizeof o->kafka[0]);
        } else if (!strcmp(a, "--timeline")) {
            o->timeline = opt_arg(argc, argv, &i, "a file name");
        } else if (!strcmp(a, "--metrics")) {
            o->metrics = 1;
        } else if (!strcmp(a, "--brokers")) {
            o->brokers = (int)opt_size(argc, argv, &i, 1, 16);
        } else if (!strcmp(a, "--pin")) {
            const char *v = opt_arg(argc, argv, &i, "two CPU numbers, A:B");
            char end;
            if (sscanf(v, "%d:%d%c", &o->pin_other, &o->pin_proc, &end) != 2 || o->pin_other < 0 ||
                o->pin_proc < 0 || o->pin_other >= CPU_SETSIZE || o->pin_proc >= CPU_SETSIZE)
                die("--pin %s: expected two CPU numbers, A:B", v);
        } else if (!strcmp(a, "--no-kcat")) {
            o->kcat = 0;
        } else if (!strcmp(a, "--only-b")) {
            o->only_b = 1;
            o->kcat = 0;
        } else if (!strcmp(a, "--csv")) {
            o->csv = opt_arg(argc, argv, &i, "a file name");
        } else {
            opt_other(a, usage);
        }
    }
    opt_quick(o->quick, given, &o->events, 5000, &o->reps);
}

/* Check --conf and --kafka before anything runs, so that a typo fails fast. */
static void check_props(const opts_t *o)
{
    sl_conf_t *c = sl_conf_new();
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    if (!c || !kc)
        die("out of memory");
    char err[512], kv[512];
    for (size_t i = 0; i < o->nconf + o->nkafka; i++) {
        int is_kafka = i >= o->nconf;
        snprintf(kv, sizeof kv, "%s", is_kafka ? o->kafka[i - o->nconf] : o->conf[i]);
        char *eq = strchr(kv, '=');
        *eq = 0;
        const char *kname = is_kafka ? kv : !strncmp(kv, "kafka.", 6) ? kv + 6 : NULL;
        if (!is_kafka && sl_conf_set(c, kv, eq + 1, err, sizeof err))
            die("--conf %s=%s: %s", kv, eq + 1, err);
        if (kname && rd_kafka_conf_set(kc, kname, eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK)
            die("%s %s=%s: %s", is_kafka ? "--kafka" : "--conf", kv, eq + 1, err);
    }
    rd_kafka_conf_destroy(kc);
    sl_conf_destroy(c);
}

/* ---- events ------------------------------------------------------------------------ */

static const char *const g_types[NTYPES] = {KEEP_TYPE, "order-placed", "user-signed-up",
                                            "invoice-paid"};

typedef struct evspec_s {
    uint64_t r1, r2, r3;
    int32_t partition;
    uint8_t type; /* index in g_types; 0 is kept */
} evspec_t;

typedef struct input_s {
    size_t n;
    int nparts;
    size_t nkeep;      /* events of the kept type (n / 4, give or take a last partial block) */
    uint64_t bytes;    /* sum of value sizes */
    int64_t *count;    /* messages per partition */
    int64_t *last_off; /* offset of each partition's last message (a kept one), -1 if empty */
    uint8_t **kept;    /* [partition][offset]: 1 for an event of the kept type (a3) */
    int nonempty;      /* partitions holding messages */
    double produce_s;
} input_t;

/* Decide every event's type and partition. Types: one of each in every
 * block of 4, in random order, so exactly 25% are kept. Partition: by key,
 * as a keyed producer would. Then the last event of every partition is made
 * a kept one (its type is swapped with an earlier kept event), so that the
 * processor has read every record of a partition once its map sees that
 * partition's last offset: the pipeline keeps its type filter as the first
 * stage (records of other types never become a uow) and the benchmark still
 * knows when all input was consumed. The 25% stays exact. */
static evspec_t *plan_events(input_t *in)
{
    evspec_t *ev = xcalloc(in->n, sizeof *ev);
    int perm[NTYPES] = {0, 1, 2, 3};
    for (size_t i = 0; i < in->n; i++) {
        if (i % NTYPES == 0) {
            rng_shuffle(perm, NTYPES);
        }
        ev[i].type = (uint8_t)perm[i % NTYPES];
        ev[i].r1 = rng();
        ev[i].r2 = rng();
        ev[i].r3 = rng();
        ev[i].partition = (int32_t)((ev[i].r3 % NKEYS) % (uint64_t)in->nparts);
    }
    /* NTYPES divides n only approximately: count what was dealt. */
    size_t *last = xcalloc((size_t)in->nparts, sizeof *last);
    int *has = xcalloc((size_t)in->nparts, sizeof *has);
    for (size_t i = 0; i < in->n; i++) {
        last[ev[i].partition] = i;
        has[ev[i].partition] = 1;
    }
    for (int p = 0; p < in->nparts; p++) {
        if (!has[p] || ev[last[p]].type == 0)
            continue;
        size_t L = last[p], j = L, found = 0;
        /* the latest kept event of the same partition, else any kept event
         * that is not the last of its own partition */
        while (j-- > 0)
            if (ev[j].partition == p && ev[j].type == 0) {
                found = 1;
                break;
            }
        if (!found)
            for (j = 0; j < in->n; j++)
                if (ev[j].type == 0 && last[ev[j].partition] != j) {
                    found = 1;
                    break;
                }
        if (!found)
            die("cannot give partition %d a kept last event: use more events or fewer partitions",
                p);
        ev[j].type = ev[L].type;
        ev[L].type = 0;
    }
    in->count = xcalloc((size_t)in->nparts, sizeof *in->count);
    in->last_off = xcalloc((size_t)in->nparts, sizeof *in->last_off);
    for (size_t i = 0; i < in->n; i++) {
        in->count[ev[i].partition]++;
        in->nkeep += ev[i].type == 0;
    }
    in->kept = xcalloc((size_t)in->nparts, sizeof *in->kept);
    for (int p = 0; p < in->nparts; p++)
        in->kept[p] = xcalloc((size_t)in->count[p] + 1, 1);
    {
        /* offsets follow the production order (an idempotent producer) */
        int64_t *at = xcalloc((size_t)in->nparts, sizeof *at);
        for (size_t i = 0; i < in->n; i++)
            in->kept[ev[i].partition][at[ev[i].partition]++] = ev[i].type == 0;
        free(at);
    }
    for (int p = 0; p < in->nparts; p++) {
        in->last_off[p] = in->count[p] - 1;
        in->nonempty += in->count[p] > 0;
        if (has[p] && ev[last[p]].type != 0)
            die("internal: partition %d does not end with a kept event", p);
    }
    free(last);
    free(has);
    return ev;
}

/* The JSON of event @p i, EVENT_SIZE bytes when the fields allow: the same
 * shape and generator as bench_batch. Returns its length. */
static size_t make_event(const evspec_t *e, size_t i, char *out, size_t cap, char *key,
                         size_t keycap, size_t *keylen)
{
    int kl = snprintf(key, keycap, "key-%04u", (unsigned)(e->r3 % NKEYS));
    if (kl < 0 || (size_t)kl >= keycap)
        die("key of event %zu does not fit", i);
    *keylen = (size_t)kl;
    return bench_event(out, cap, EVENT_SIZE, i, g_types[e->type], key, e->r1, e->r2, e->r3);
}

/* ---- librdkafka helpers ---------------------------------------------------------------- */

static void kconf(rd_kafka_conf_t *c, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(c, name, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("rd_kafka_conf_set(%s=%s) failed: %s", name, value, err);
}

static rd_kafka_t *knew(rd_kafka_type_t type, rd_kafka_conf_t *c, const char *what)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(c);
        die("rd_kafka_new (%s) failed: %s", what, err);
    }
    return rk;
}

static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    size_t *failed = opaque;
    if (m->err) {
        if (!*failed)
            fprintf(stderr, "bench_kafka_e2e: delivery failed: %s\n", rd_kafka_err2str(m->err));
        (*failed)++;
    }
}

/* Produce every input event, each to its planned partition, keyed by its
 * partitionKey; flush. */
static void produce_input(const char *bootstrap, input_t *in, const evspec_t *ev, double deadline)
{
    size_t failed = 0;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kconf(c, "bootstrap.servers", bootstrap);
    kconf(c, "linger.ms", "5");
    kconf(c, "enable.idempotence", "true"); /* offsets follow the production order exactly */
    kconf(c, "batch.num.messages", "10000");
    kconf(c, "batch.size", "4000000");
    kconf(c, "queue.buffering.max.messages", "1000000");
    kconf(c, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(c, delivery_cb);
    rd_kafka_conf_set_opaque(c, &failed);
    rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, c, "input producer");
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, TOPIC_IN, NULL);
    if (!rkt)
        die("rd_kafka_topic_new(%s) failed: %s", TOPIC_IN, rd_kafka_err2str(rd_kafka_last_error()));
    char buf[2 * EVENT_SIZE + 256], key[32];
    double t0 = now_s();
    for (size_t i = 0; i < in->n; i++) {
        size_t kl, len = make_event(&ev[i], i, buf, sizeof buf, key, sizeof key, &kl);
        in->bytes += len;
        while (rd_kafka_produce(rkt, ev[i].partition, RD_KAFKA_MSG_F_COPY, buf, len, key, kl,
                                NULL) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("rd_kafka_produce of event %zu failed: %s", i, rd_kafka_err2str(e));
            if (now_s() > deadline)
                die("producing the input: queue still full at the deadline");
            rd_kafka_poll(rk, 10);
        }
        if ((i & 1023) == 1023)
            rd_kafka_poll(rk, 0);
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_flush(rk, 1000);
        if (!e)
            break;
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT || now_s() > deadline)
            die("flushing the input producer failed: %s (%d messages left)", rd_kafka_err2str(e),
                rd_kafka_outq_len(rk));
    }
    in->produce_s = now_s() - t0;
    if (failed)
        die("%zu input messages were not delivered", failed);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* Leave the group and close @p rk, waiting at most @p timeout_s. */
static void consumer_close(rd_kafka_t *rk, const char *what, double timeout_s)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (!q)
        die("%s: rd_kafka_queue_new failed", what);
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(rk, q);
    if (err) {
        fprintf(stderr, "bench_kafka_e2e: %s: %s\n", what, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        die("%s: rd_kafka_consumer_close_queue failed", what);
    }
    double deadline = now_s() + timeout_s;
    while (!rd_kafka_consumer_closed(rk)) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
        if (ev)
            rd_kafka_event_destroy(ev);
        if (now_s() > deadline)
            die("%s: the consumer did not close within %.0f s", what, timeout_s);
    }
    rd_kafka_queue_destroy(q);
}

/* High watermarks of @p nparts partitions of @p topic in one ListOffsets
 * request (timestamp -1 = latest). */
static void high_watermarks(rd_kafka_t *rk, const char *topic, int nparts, int64_t *hw)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, QUERY_TIMEOUT_MS);
    if (e)
        die("rd_kafka_offsets_for_times(%s) failed: %s", topic, rd_kafka_err2str(e));
    for (int p = 0; p < nparts; p++) {
        const rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, p);
        if (!tp || tp->err || tp->offset < 0)
            die("high watermark of %s/%d: %s", topic, p,
                tp ? rd_kafka_err2str(tp->err) : "missing");
        hw[p] = tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static int64_t sum64(const int64_t *v, int n)
{
    int64_t s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* Read @p topic from @p from[p] up to @p to[p] on every partition (no group)
 * and count the messages; checks that every value starts like an event of
 * the benchmark (an input event or an output of its map). */
static int64_t read_back(const char *bootstrap, const char *topic, int nparts, const int64_t *from,
                         const int64_t *to, double deadline)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kconf(c, "bootstrap.servers", bootstrap);
    kconf(c, "group.id", "bench-read-back");
    kconf(c, "enable.auto.commit", "false");
    kconf(c, "enable.partition.eof", "false");
    rd_kafka_t *rk = knew(RD_KAFKA_CONSUMER, c, "read-back consumer");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int64_t want = 0, got = 0;
    for (int p = 0; p < nparts; p++) {
        if (to[p] <= from[p])
            continue;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = from[p];
        want += to[p] - from[p];
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        die("rd_kafka_assign(%s) failed: %s", topic, rd_kafka_err2str(e));
    while (got < want) {
        if (now_s() > deadline)
            die("reading %s back: %" PRId64 " of %" PRId64 " messages at the deadline", topic, got,
                want);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err)
            die("reading %s back: %s", topic, rd_kafka_message_errstr(m));
        if (m->offset < to[m->partition]) {
            if (m->len < 8 || memcmp(m->payload, "{\"id\":\"", 7))
                die("%s/%d@%" PRId64 " is not an event of the benchmark", topic, (int)m->partition,
                    m->offset);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    consumer_close(rk, "read-back consumer", 30);
    rd_kafka_destroy(rk);
    return got;
}

/* Every partition of the input committed by group @p gid up to its end. */
static void check_committed(const char *bootstrap, const char *gid, const input_t *in)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kconf(c, "bootstrap.servers", bootstrap);
    kconf(c, "group.id", gid);
    kconf(c, "enable.auto.commit", "false");
    rd_kafka_t *rk = knew(RD_KAFKA_CONSUMER, c, "offset reader");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(in->nparts);
    for (int p = 0; p < in->nparts; p++)
        rd_kafka_topic_partition_list_add(l, TOPIC_IN, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, QUERY_TIMEOUT_MS);
    if (e)
        die("rd_kafka_committed(%s) failed: %s", gid, rd_kafka_err2str(e));
    for (int p = 0; p < in->nparts; p++) {
        const rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, TOPIC_IN, p);
        int64_t want = in->count[p] ? in->count[p] : RD_KAFKA_OFFSET_INVALID;
        if (!tp || tp->err || tp->offset != want)
            die("group %s committed %s/%d at %" PRId64 ", expected %" PRId64, gid, TOPIC_IN, p,
                tp ? tp->offset : -1, want);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

/* ---- results -------------------------------------------------------------------------- */

/* ---- CPU by thread ---------------------------------------------------------------- */

/* Every thread of this process lives in one of these: the benchmark's main
 * thread (case a consumes on it; in b it only waits and watches), the
 * processor's thread, the clients' broker threads (consumer and producer
 * alike: librdkafka names them all rdk:brokerN), the clients' main threads,
 * the embedded broker (rdk:mock) and anything else. */
enum { TK_MAIN, TK_PROC, TK_CLIENT, TK_RDMAIN, TK_MOCK, TK_OTHER, NTK };
static const char *const tk_names[NTK] = {"main",     "sl-processor", "rdk:broker*",
                                          "rdk:main", "rdk:mock",     "other"};

#define TSNAP_MAX 512
typedef struct tsnap_s {
    int n;
    pid_t tid[TSNAP_MAX];
    uint8_t kind[TSNAP_MAX];
    double cpu[TSNAP_MAX]; /* seconds */
} tsnap_t;

/* Linux's CPU clock of any thread of this process, by its id
 * (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)): librdkafka's threads have no
 * pthread_t of ours to ask pthread_getcpuclockid() with. */
static clockid_t tid_clock(pid_t tid)
{
    return (clockid_t)((~(uint32_t)tid << 3) | 6u);
}

static int thread_kind(pid_t tid, const char *comm)
{
    if (tid == getpid())
        return TK_MAIN;
    if (!strncmp(comm, "sl-processor", 12))
        return TK_PROC;
    if (!strncmp(comm, "rdk:broker", 10))
        return TK_CLIENT;
    if (!strncmp(comm, "rdk:main", 8))
        return TK_RDMAIN;
    if (!strncmp(comm, "rdk:mock", 8))
        return TK_MOCK;
    return TK_OTHER;
}

/* Calls @p fn with each live thread of this process and its kind, until
 * @p fn returns non-zero. Returns -1 (errno set) if the threads cannot be
 * listed, else 0. */
static int thread_walk(int (*fn)(pid_t tid, int kind, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        pid_t tid = (pid_t)atoi(de->d_name);
        if (tid <= 0)
            continue;
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(comm, sizeof comm, f))
                comm[0] = 0;
            fclose(f);
        }
        if (fn(tid, thread_kind(tid, comm), arg))
            break;
    }
    closedir(d);
    return 0;
}

static int tsnap_add(pid_t tid, int kind, void *arg)
{
    tsnap_t *t = arg;
    double c = thread_cpu_s(tid_clock(tid));
    if (c < 0)
        return 0; /* gone meanwhile */
    t->tid[t->n] = tid;
    t->kind[t->n] = (uint8_t)kind;
    t->cpu[t->n] = c;
    return ++t->n >= TSNAP_MAX;
}

/* Every live thread's CPU time and kind (about 0.1 ms: a directory walk). */
static void tsnap_take(tsnap_t *t)
{
    t->n = 0;
    thread_walk(tsnap_add, t);
}

/* CPU ns per event of each kind of thread between @p a and @p b: a thread
 * born in between counts whole, one that ended in between is lost (none
 * does in a timed window). */
static void tsnap_per_event(const tsnap_t *a, const tsnap_t *b, size_t events, double *out)
{
    for (int k = 0; k < NTK; k++)
        out[k] = 0;
    for (int i = 0; i < b->n; i++) {
        double before = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i]) {
                before = a->cpu[j];
                break;
            }
        out[b->kind[i]] += (b->cpu[i] - before) * 1e9 / (double)events;
    }
}

typedef struct sample_s {
    double rate;    /* events per second over the timed window */
    double secs;    /* the timed window */
    double join_s;  /* subscribe (or start) to first message */
    double cpu;     /* process CPU time / wall time over the window (cores) */
    double tail_s;  /* (b) last output stored -> sl_processor_run() returned */
    double app;     /* CPU time / wall time over the window of the thread that consumes */
    double tk[NTK]; /* CPU ns per input event over the window, by kind of thread */
    long rss_kb;
    int ok;
} sample_t;

static unsigned long g_run_id;

static void group_id(char *buf, size_t size, const char *what, size_t rep)
{
    snprintf(buf, size, "bench-%s-%ld-%lu-%zu", what, (long)getpid(), g_run_id, rep);
}

/* ---- (a) raw librdkafka group consumer ---------------------------------------------------- */

/* What the raw consumer does besides consuming: nothing (a), the scan (a2),
 * librdkafka's part of the processor (a3). */
enum { RAW_PLAIN, RAW_SCAN, RAW_IO };

/* a3's producer: its delivery reports, counted on the consuming thread
 * (rd_kafka_poll() there). */
typedef struct io_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    size_t produced, delivered, failed;
} io_t;

static void io_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    io_t *io = opaque;
    io->delivered++;
    if (m->err && !io->failed++)
        fprintf(stderr, "bench_kafka_e2e: a3 delivery failed: %s\n", rd_kafka_err2str(m->err));
}

/* The producer of a3: the sink's own defaults (enable.idempotence, linger.ms
 * 5), to a topic of its own. */
static void io_open(io_t *io, const char *bootstrap)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kconf(c, "bootstrap.servers", bootstrap);
    kconf(c, "enable.idempotence", "true");
    kconf(c, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(c, io_dr_cb);
    rd_kafka_conf_set_opaque(c, io);
    io->rk = knew(RD_KAFKA_PRODUCER, c, "a3 producer");
    io->rkt = rd_kafka_topic_new(io->rk, TOPIC_IO, NULL);
    if (!io->rkt)
        die("rd_kafka_topic_new(%s) failed: %s", TOPIC_IO, rd_kafka_err2str(rd_kafka_last_error()));
}

/* Produces the kept messages among @p msgs[0..n) in one
 * rd_kafka_produce_batch() (as the sink does): an output of the size of
 * the processor's (its first IO_OUT_BYTES bytes), keyed as the input. */
static void io_take(io_t *io, rd_kafka_message_t **msgs, size_t n, const input_t *in)
{
    rd_kafka_message_t run[CONSUME_BATCH];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        rd_kafka_headers_t *hs;
        if (m->err)
            continue;
        /* the source asks for every record's headers (source.headers) */
        if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_cnt(hs))
            die("a3: unexpected headers on %s/%d@%" PRId64, TOPIC_IN, (int)m->partition, m->offset);
        if (m->partition < 0 || m->partition >= in->nparts || m->offset < 0 ||
            m->offset >= in->count[m->partition])
            die("a3: %s/%d@%" PRId64 " is not in the plan", TOPIC_IN, (int)m->partition, m->offset);
        if (!in->kept[m->partition][m->offset])
            continue;
        run[k++] = (rd_kafka_message_t){.payload = m->payload,
                                        .len = m->len < IO_OUT_BYTES ? m->len : IO_OUT_BYTES,
                                        .key = m->key,
                                        .key_len = m->key_len};
    }
    if (!k)
        return;
    /* F_COPY: the consumed messages are destroyed before delivery */
    int took =
        rd_kafka_produce_batch(io->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, run, (int)k);
    if (took != (int)k)
        die("a3: rd_kafka_produce_batch took %d of %zu: %s", took, k,
            rd_kafka_err2str(run[took < 0 ? 0 : took].err));
    io->produced += k;
    rd_kafka_poll(io->rk, 0);
}

/* The raw consumer (a). With @p mode RAW_SCAN (a2), every message's value
 * also goes through sl_envelope_scan() and a type compare: the decode the
 * processor cannot skip, without the rest of the processor. With RAW_IO
 * (a3), librdkafka's part of the processor instead (io_take). */
static sample_t run_raw(const char *bootstrap, const input_t *in, size_t rep, double budget_s,
                        int mode, const opts_t *o)
{
    sample_t r = {0};
    char gid[128];
    const int scan = mode == RAW_SCAN;
    io_t io = {0};
    group_id(gid, sizeof gid,
             mode == RAW_SCAN ? "raw-scan"
             : mode == RAW_IO ? "raw-io"
                              : "raw",
             rep);
    if (mode == RAW_IO)
        io_open(&io, bootstrap);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kconf(c, "bootstrap.servers", bootstrap);
    kconf(c, "group.id", gid);
    kconf(c, "auto.offset.reset", "earliest");
    kconf(c, "enable.auto.commit", "false");
    for (size_t i = 0; i < o->nkafka; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o->kafka[i]);
        char *eq = strchr(kv, '=');
        *eq = 0;
        kconf(c, kv, eq + 1);
    }
    rd_kafka_t *rk = knew(RD_KAFKA_CONSUMER, c, "raw consumer");
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    if (!q)
        die("rd_kafka_queue_get_consumer failed");
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC_IN, RD_KAFKA_PARTITION_UA);
    rd_kafka_message_t **msgs = xcalloc(CONSUME_BATCH, sizeof *msgs);

    double t_sub = now_s(), join_deadline = t_sub + JOIN_DEADLINE_S;
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        die("rd_kafka_subscribe(%s) failed: %s", TOPIC_IN, rd_kafka_err2str(e));
    uint64_t got = 0, bytes = 0, kept = 0;
    const size_t keep_len = strlen(KEEP_TYPE);
    double t_first = 0, t_last = 0, c_first = 0, c_last = 0, deadline = join_deadline;
    double a_first = 0, a_last = 0;
    static tsnap_t ts0, ts1;
    while (got < in->n) {
        /* The call returns when it has the number asked for or at its
         * timeout: never ask for more than are left, or the last call
         * would sit out its timeout inside the timed window. */
        size_t want = in->n - got < CONSUME_BATCH ? in->n - got : CONSUME_BATCH;
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, want);
        if (n < 0)
            die("rd_kafka_consume_batch_queue failed: %s", rd_kafka_err2str(rd_kafka_last_error()));
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    die("raw consumer: %s", rd_kafka_message_errstr(m));
            } else {
                if (!got) {
                    t_first = now_s();
                    c_first = cpu_s();
                    a_first = thread_cpu_s(CLOCK_THREAD_CPUTIME_ID);
                    tsnap_take(&ts0);
                    deadline = t_first + budget_s;
                }
                got++;
                bytes += m->len;
                if (scan) {
                    sl_envelope_t env;
                    sl_scan_error_t se = {0, NULL};
                    int rc = sl_envelope_scan(m->payload, m->len, &env, &se);
                    if (rc)
                        die("sl_envelope_scan of %s/%d@%" PRId64 " failed: %s at byte %zu (%s)",
                            TOPIC_IN, (int)m->partition, m->offset, sl_err_name(rc), se.offset,
                            se.reason ? se.reason : "?");
                    kept += env.type.len == keep_len && !memcmp(env.type.ptr, KEEP_TYPE, keep_len);
                }
            }
            if (mode != RAW_IO)
                rd_kafka_message_destroy(m);
        }
        if (mode == RAW_IO && n > 0) {
            io_take(&io, msgs, (size_t)n, in);
            for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
        }
        if (mode == RAW_IO && got >= in->n) {
            /* the window ends with the last output stored, as b's */
            while (io.delivered < io.produced) {
                rd_kafka_poll(io.rk, 5);
                if (now_s() > deadline)
                    die("a3: %zu of %zu outputs delivered at the deadline", io.delivered,
                        io.produced);
            }
        }
        if (got >= in->n) {
            t_last = now_s();
            c_last = cpu_s();
            a_last = thread_cpu_s(CLOCK_THREAD_CPUTIME_ID);
            tsnap_take(&ts1);
        } else if (now_s() > deadline) {
            die("raw consumer: %" PRIu64 " of %zu messages %s", got, in->n,
                got ? "at the deadline" : "and no group join by the deadline");
        }
    }
    if (got != in->n || bytes != in->bytes)
        die("raw consumer: %" PRIu64 " messages of %" PRIu64 " bytes; produced %zu of %" PRIu64,
            got, bytes, in->n, in->bytes);
    if (scan && kept != in->nkeep)
        die("raw consumer: scanned %" PRIu64 " events of type %s, produced %zu", kept, KEEP_TYPE,
            in->nkeep);
    if (mode == RAW_IO && (io.produced != in->nkeep || io.failed))
        die("a3: %zu outputs produced for %zu kept events, %zu not delivered", io.produced,
            in->nkeep, io.failed);
    free(msgs);
    rd_kafka_queue_destroy(q);
    consumer_close(rk, "raw consumer", 30);
    rd_kafka_destroy(rk);
    if (mode == RAW_IO) {
        rd_kafka_topic_destroy(io.rkt);
        rd_kafka_destroy(io.rk);
    }
    r.secs = t_last - t_first;
    r.rate = (double)in->n / r.secs;
    r.join_s = t_first - t_sub;
    r.cpu = (c_last - c_first) / r.secs;
    r.app = (a_last - a_first) / r.secs;
    tsnap_per_event(&ts0, &ts1, in->n, r.tk);
    r.rss_kb = peak_rss_kb(RUSAGE_SELF);
    r.ok = 1;
    return r;
}

/* ---- (b) sluice processor ------------------------------------------------------------------- */

/* Written by the processor thread (in the map), read by the main thread. */
typedef struct live_s {
    _Atomic uint64_t seen;      /* uows through the map */
    _Atomic int64_t first_ns;   /* when the first uow reached the map; 0 before */
    _Atomic int64_t first_cpu;  /* process CPU ns then */
    _Atomic int64_t first_tcpu; /* the processor thread's CPU ns then */
    _Atomic uint32_t parts_end; /* partitions whose last record reached the map */
    _Atomic int finished;       /* sl_processor_run() returned */
    int run_rc;                 /* its result, read after `finished` */
    const int64_t *last_off;
    int nparts;
    uint32_t nonempty; /* partitions holding input: all read when parts_end reaches it */
    sem_t all_read;    /* posted once, when parts_end reaches nonempty */
    sl_processor_t *p;
} live_t;

static void put(char *buf, size_t *n, const void *s, size_t len)
{
    memcpy(buf + *n, s, len);
    *n += len;
}

static void put_i64(char *buf, size_t *n, int64_t v)
{
    char tmp[24];
    size_t k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[(*n)++] = '-';
    while (k)
        buf[(*n)++] = tmp[--k];
}

/* The map: a small output derived from the envelope and the record, written
 * without jansson into the uow's reusable buffer; key = the partitionKey.
 * {"id":"...","type":"thing-updated","ts":1767225600037,"from":"in/3@1234"} */
static sl_result_t map_out(sl_uow_t *u, void *opaque)
{
    live_t *lv = opaque;
    const sl_envelope_t *env = sl_uow_envelope(u);
    const sl_record_t *rec = sl_uow_record(u);
    char buf[512];
    size_t n = 0;
    if (env->id.len + env->type.len + strlen(rec->topic) > sizeof buf - 128) {
        sl_uow_fail(u, SL_ETOOBIG, "id or type too long for the benchmark's map");
        return SL_FAULT;
    }
    put(buf, &n, "{\"id\":\"", 7);
    put(buf, &n, env->id.ptr, env->id.len);
    put(buf, &n, "\",\"type\":\"", 10);
    put(buf, &n, env->type.ptr, env->type.len);
    put(buf, &n, "\",\"ts\":", 7);
    put_i64(buf, &n, env->timestamp);
    put(buf, &n, ",\"from\":\"", 9);
    put(buf, &n, rec->topic, strlen(rec->topic));
    buf[n++] = '/';
    put_i64(buf, &n, rec->partition);
    buf[n++] = '@';
    put_i64(buf, &n, rec->offset);
    put(buf, &n, "\"}", 2);
    sl_span_t k = sl_uow_key(u);
    int rc = sl_uow_set_output(u, k.ptr, k.len, buf, n);
    if (rc) {
        sl_uow_fail(u, rc, "sl_uow_set_output failed");
        return SL_FAULT;
    }
    if (atomic_fetch_add_explicit(&lv->seen, 1, memory_order_relaxed) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        atomic_store(&lv->first_cpu, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        atomic_store(&lv->first_tcpu, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
        atomic_store(&lv->first_ns, now_ns());
    }
    if (rec->partition >= 0 && rec->partition < lv->nparts &&
        rec->offset == lv->last_off[rec->partition] &&
        atomic_fetch_add(&lv->parts_end, 1) + 1 == lv->nonempty)
        sem_post(&lv->all_read);
    return SL_OK;
}

static void *proc_thread(void *arg)
{
    live_t *lv = arg;
#ifdef __linux__
    prctl(PR_SET_NAME, "sl-processor", 0, 0, 0); /* a name for perf and top */
#endif
    lv->run_rc = sl_processor_run(lv->p);
    atomic_store(&lv->finished, 1);
    return NULL;
}

static void pconf(sl_conf_t *c, const char *name, const char *value)
{
    char err[512];
    if (sl_conf_set(c, name, value, err, sizeof err))
        die("sl_conf_set(%s=%s) failed: %s", name, value, err);
}

/* Progress samples of the processor, written by --timeline. */
typedef struct tl_s {
    FILE *f;
    size_t rep;
    double t0, last;
    clockid_t clock;
} tl_t;

static void tl_sample(tl_t *tl, const live_t *lv, int64_t stored)
{
    double t = now_s();
    if (!tl->f || t - tl->last < 1e-3)
        return;
    tl->last = t;
    double c = thread_cpu_s(tl->clock);
    fprintf(tl->f, "%zu,%.3f,%" PRIu64 ",%u,%.3f,%" PRId64 "\n", tl->rep, (t - tl->t0) * 1e3,
            atomic_load(&lv->seen), atomic_load(&lv->parts_end), c >= 0 ? c * 1e3 : -1.0, stored);
}

/* Wait until the processor thread returned, calling stop now and then (a
 * stop before the processor runs is a no-op). */
static int wait_finished(live_t *lv, double deadline)
{
    double next_stop = 0;
    while (!atomic_load(&lv->finished)) {
        double t = now_s();
        if (t > deadline)
            return 0;
        if (t >= next_stop) {
            sl_processor_stop(lv->p);
            next_stop = t + 0.1;
        }
        sleep_us(500);
    }
    return 1;
}

PRINTF_LIKE(3, 4) static void proc_fail(live_t *lv, double deadline, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!wait_finished(lv, deadline))
        die("%s; the processor did not stop either", msg);
    die("%s", msg);
}

/* Row b+m: a free port for http.listen (bound, read, released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        die("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct scraper_s {
    int port;
    atomic_int stop;
    unsigned long scrapes, failed;
    size_t bytes;
} scraper_t;

/* GET /metrics every SCRAPE_MS until stopped (plain HTTP/1.0 over a socket). */
static void *scrape_thread(void *arg)
{
    scraper_t *sc = arg;
    char buf[16384];
    while (!atomic_load(&sc->stop)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)sc->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
        ssize_t n = -1;
        if (fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof a) &&
            write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            size_t got = 0;
            while ((n = read(fd, buf, sizeof buf)) > 0)
                got += (size_t)n;
            if (n == 0 && got && !strncmp(buf, "HTTP/1.1 200", 12)) {
                sc->scrapes++;
                sc->bytes += got;
            } else {
                sc->failed++;
            }
        } else {
            sc->failed++;
        }
        if (fd >= 0)
            close(fd);
        sleep_us(SCRAPE_MS * 1000L);
    }
    return NULL;
}

/* --pin: the CPUs the process may use, taken before any case runs. */
static cpu_set_t g_cpus_all;

/* The CPUs of --pin: -1 for every thread back to g_cpus_all. */
typedef struct pin_s {
    int other, proc;
} pin_t;

static int pin_one(pid_t tid, int kind, void *arg)
{
    const pin_t *pin = arg;
    cpu_set_t set = g_cpus_all;
    if (pin->other >= 0) {
        CPU_ZERO(&set);
        CPU_SET(kind == TK_PROC ? pin->proc : pin->other, &set);
    }
    if (sched_setaffinity(tid, sizeof set, &set) && errno != ESRCH)
        die("--pin: sched_setaffinity(%d): %s", (int)tid, strerror(errno));
    return 0;
}

/* Every live thread of this process to CPU @p cpu_other, the processor's to
 * @p cpu_proc; with @p cpu_other -1, every thread back to g_cpus_all. A
 * thread that ends meanwhile is skipped; any other refusal ends the run. */
static void pin_threads(int cpu_other, int cpu_proc)
{
    pin_t pin = {cpu_other, cpu_proc};
    if (thread_walk(pin_one, &pin))
        die("--pin: /proc/self/task: %s", strerror(errno));
}

static sample_t run_sluice(const char *bootstrap, rd_kafka_t *qk, const input_t *in, size_t rep,
                           double budget_s, const opts_t *o, FILE *timeline, int metrics)
{
    sample_t r = {0};
    scraper_t sc = {0};
    pthread_t scth;
    char listen[32];
    char err[512], gid[128];
    /* b and b+m read the same input in one rep: each with its own group. */
    group_id(gid, sizeof gid, metrics ? "sluice-m" : "sluice", rep);
    sl_conf_t *c = sl_conf_new();
    if (!c)
        die("sl_conf_new failed: out of memory");
    pconf(c, "processor.name", "bench");
    pconf(c, "processor.signals", "false");
    pconf(c, "log.level", "warn");
    pconf(c, "batch.max.events", "500");
    pconf(c, "drain.timeout.ms", "10000");
    pconf(c, "kafka.bootstrap.servers", bootstrap);
    pconf(c, "kafka.group.id", gid);
    if (metrics) {
        sc.port = free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%d", sc.port);
        pconf(c, "http.listen", listen);
    }
    for (size_t i = 0; i < o->nkafka; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "kafka.%s", o->kafka[i]);
        char *eq = strchr(kv, '=');
        *eq = 0;
        pconf(c, kv, eq + 1);
    }
    for (size_t i = 0; i < o->nconf; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o->conf[i]);
        char *eq = strchr(kv, '=');
        *eq = 0;
        pconf(c, kv, eq + 1);
    }
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    if (!p)
        die("sl_processor_new failed: %s", err);

    live_t *lv = xcalloc(1, sizeof *lv);
    lv->last_off = in->last_off;
    lv->nparts = in->nparts;
    lv->p = p;
    atomic_init(&lv->seen, 0);
    atomic_init(&lv->first_ns, 0);
    atomic_init(&lv->first_cpu, 0);
    atomic_init(&lv->first_tcpu, 0);
    atomic_init(&lv->parts_end, 0);
    lv->nonempty = (uint32_t)in->nonempty;
    if (sem_init(&lv->all_read, 0, 0))
        die("sem_init failed: %s", strerror(errno));
    atomic_init(&lv->finished, 0);

    sl_sink_t *out = sl_kafka_sink_new(p, TOPIC_OUT, err, sizeof err);
    if (!out)
        die("sl_kafka_sink_new(%s) failed: %s", TOPIC_OUT, err);
    sl_sink_t *faults = sl_kafka_sink_new(p, TOPIC_FAULTS, err, sizeof err);
    if (!faults)
        die("sl_kafka_sink_new(%s) failed: %s", TOPIC_FAULTS, err);
    sl_pipeline_t *pl =
        bench_pipeline(PIPELINE, SL_MATCH_EXACT, KEEP_TYPE, map_out, lv, BATCH_EVENTS, out);
    int rc = sl_processor_add_pipeline(p, pl);
    if (rc) {
        sl_pipeline_destroy(pl);
        check(rc, "sl_processor_add_pipeline");
    }
    check(sl_processor_set_fault_sink(p, faults), "sl_processor_set_fault_sink");
    rc = sl_kafka_source_attach(p, TOPIC_IN, err, sizeof err);
    if (rc)
        die("sl_kafka_source_attach(%s) failed: %s (%s)", TOPIC_IN, sl_err_name(rc), err);

    int64_t out0[OUT_PARTS], out1[OUT_PARTS], f0[1], f1[1];
    high_watermarks(qk, TOPIC_OUT, OUT_PARTS, out0);
    high_watermarks(qk, TOPIC_FAULTS, 1, f0);
    const int64_t out_want = sum64(out0, OUT_PARTS) + (int64_t)in->nkeep;

    pthread_t th;
    double t_start = now_s(), deadline = t_start + JOIN_DEADLINE_S;
    if ((rc = pthread_create(&th, NULL, proc_thread, lv)))
        die("pthread_create failed: %s", strerror(rc));
    clockid_t tclock;
    if ((rc = pthread_getcpuclockid(th, &tclock)))
        die("pthread_getcpuclockid failed: %s", strerror(rc));
    if (metrics && (rc = pthread_create(&scth, NULL, scrape_thread, &sc)))
        die("pthread_create failed: %s", strerror(rc));
    tl_t tl = {timeline, rep, t_start, 0, tclock};

    /* 1. group join and first record */
    int64_t first;
    while (!(first = atomic_load(&lv->first_ns))) {
        if (atomic_load(&lv->finished))
            die("sl_processor_run returned %s before any record arrived", sl_err_name(lv->run_rc));
        if (now_s() > deadline)
            proc_fail(lv, now_s() + 30, "sluice: no record by the deadline (group join?)");
        sleep_us(200);
    }
    if (o->pin_other >= 0)
        pin_threads(o->pin_other, o->pin_proc);
    static tsnap_t ts0, ts1;
    tsnap_take(&ts0); /* at most one wait (0.2 ms) after the first record */
    double t_first = (double)first * 1e-9;
    double c_first = (double)atomic_load(&lv->first_cpu) * 1e-9;
    double a_first = (double)atomic_load(&lv->first_tcpu) * 1e-9;
    deadline = t_first + budget_s;
    /* 2. every record read: each partition's last record reached the map */
    while (atomic_load(&lv->parts_end) < (uint32_t)in->nonempty) {
        if (atomic_load(&lv->finished))
            die("sl_processor_run returned %s before the input was read", sl_err_name(lv->run_rc));
        if (now_s() > deadline)
            proc_fail(lv, now_s() + 30,
                      "sluice: %" PRIu64 " of %zu kept events mapped, %u of %d partitions read "
                      "at the deadline",
                      atomic_load(&lv->seen), in->nkeep, atomic_load(&lv->parts_end), in->nonempty);
        if (tl.f && now_s() - tl.last >= 5e-3) { /* --timeline: outputs too, every 5 ms */
            high_watermarks(qk, TOPIC_OUT, OUT_PARTS, out1);
            tl.last = 0;
            tl_sample(&tl, lv, sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS));
        }
        /* Wait for the map's post, not in a polling loop: waking every
         * 0.2 ms cost this thread about 100 ns of CPU per input event, on
         * the cores the processor needs, and counted in b's 'cores'. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long step_ns = tl.f ? 1000000L : 50000000L;
        until.tv_nsec += step_ns;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (sem_timedwait(&lv->all_read, &until) && errno == EINTR)
            ;
    }
    /* 3. drain: open batches flush, outputs are delivered, offsets committed */
    sl_processor_stop(p);
    double t_out = 0, c_out = 0, a_out = 0;
    for (;;) {
        high_watermarks(qk, TOPIC_OUT, OUT_PARTS, out1);
        if (sum64(out1, OUT_PARTS) >= out_want) {
            t_out = now_s();
            c_out = cpu_s();
            a_out = thread_cpu_s(tclock);
            tsnap_take(&ts1);
            tl.last = 0;
            tl_sample(&tl, lv, sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS));
            break;
        }
        if (atomic_load(&lv->finished))
            die("sluice: the processor stopped (%s) with %" PRId64 " of %zu outputs stored",
                sl_err_name(lv->run_rc), sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS),
                in->nkeep);
        if (now_s() > deadline)
            proc_fail(lv, now_s() + 30, "sluice: %" PRId64 " of %zu outputs stored at the deadline",
                      sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS), in->nkeep);
        tl_sample(&tl, lv, sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS));
        sleep_us(200);
    }
    if (o->pin_other >= 0)
        pin_threads(-1, -1);
    if (!wait_finished(lv, now_s() + 30))
        die("sluice: sl_processor_run did not return within 30 s of the stop");
    double t_ret = now_s();
    pthread_join(th, NULL);
    if (metrics) {
        atomic_store(&sc.stop, 1);
        pthread_join(scth, NULL);
        fprintf(stderr, "b+m: %lu scrapes of /metrics (%zu bytes), %lu failed\n", sc.scrapes,
                sc.bytes, sc.failed);
    }
    if (lv->run_rc)
        die("sl_processor_run returned %s (%s)", sl_err_name(lv->run_rc), sl_strerror(lv->run_rc));

    /* 4. check, on this thread now that the processor is done */
    sl_stats_t es, ps;
    sl_engine_t *e = sl_processor_engine(p);
    sl_engine_stats(e, &es);
    check(sl_engine_pipeline_stats(e, PIPELINE, &ps), "sl_engine_pipeline_stats");
    if (es.records_in != in->n || es.records_done != in->n || es.inflight)
        die("sluice: %" PRIu64 " records in, %" PRIu64 " done, %" PRIu64 " in flight; %zu produced",
            es.records_in, es.records_done, es.inflight, in->n);
    if (es.faults || es.decode_faults || es.retries)
        die("sluice: %" PRIu64 " faults, %" PRIu64 " decode faults, %" PRIu64 " retries", es.faults,
            es.decode_faults, es.retries);
    if (ps.sunk != in->nkeep || ps.skipped != in->n - in->nkeep ||
        atomic_load(&lv->seen) != in->nkeep)
        die("sluice: sunk %" PRIu64 ", skipped %" PRIu64 ", mapped %" PRIu64 "; expected %zu, %zu",
            ps.sunk, ps.skipped, atomic_load(&lv->seen), in->nkeep, in->n - in->nkeep);
    sl_processor_destroy(p);
    /* the group's committed offsets: one past each partition's last record */
    check_committed(bootstrap, gid, in);
    high_watermarks(qk, TOPIC_OUT, OUT_PARTS, out1);
    high_watermarks(qk, TOPIC_FAULTS, 1, f1);
    if (sum64(out1, OUT_PARTS) != out_want || f1[0] != f0[0])
        die("sluice: %" PRId64 " outputs and %" PRId64 " fault events written; expected %zu and 0",
            sum64(out1, OUT_PARTS) - sum64(out0, OUT_PARTS), f1[0] - f0[0], in->nkeep);
    int64_t back = read_back(bootstrap, TOPIC_OUT, OUT_PARTS, out0, out1, now_s() + 60);
    if (back != (int64_t)in->nkeep)
        die("sluice: read back %" PRId64 " outputs, expected %zu", back, in->nkeep);
    sem_destroy(&lv->all_read);
    free(lv);

    r.secs = t_out - t_first;
    r.rate = (double)in->n / r.secs;
    r.join_s = t_first - t_start;
    r.cpu = (c_out - c_first) / r.secs;
    r.app = a_out >= 0 ? (a_out - a_first) / r.secs : -1;
    tsnap_per_event(&ts0, &ts1, in->n, r.tk);
    r.tail_s = t_ret - t_out;
    r.rss_kb = peak_rss_kb(RUSAGE_SELF);
    r.ok = 1;
    return r;
}

/* ---- (c) kcat ---------------------------------------------------------------------------- */

static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n && n + strlen(prog) + 2 < sizeof buf) {
            memcpy(buf, path, n);
            buf[n] = '/';
            strcpy(buf + n + 1, prog);
            if (!access(buf, X_OK))
                return 1;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

/* VmHWM of process @p pid in kB when it runs @p name, else -1. A child's
 * ru_maxrss cannot tell: posix_spawn's child shares the parent's memory
 * until exec, and the kernel carries that peak over. */
static long proc_hwm_kb(pid_t pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long hwm = -1;
    int named = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Name:", 5)) {
            char *v = line + 5;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = 0;
            named = !strcmp(v, name);
        } else if (!strncmp(line, "VmHWM:", 6)) {
            hwm = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return named ? hwm : -1;
}

static sample_t run_kcat(const char *bootstrap, const input_t *in, double budget_s)
{
    sample_t r = {0};
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec kcat -C -b '%s' -t %s -e -q -o beginning > /dev/null",
             bootstrap, TOPIC_IN);
    char *argv[] = {(char *)"sh", (char *)"-c", cmd, NULL};
    pid_t pid;
    fflush(NULL);
    double t0 = now_s();
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    if (rc)
        die("cannot start kcat: %s", strerror(rc));
    int st = 0;
    long hwm = -1;
    double next_hwm = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (now_s() >= next_hwm) { /* about every ms: cheap, and kcat runs for a while */
            long h = proc_hwm_kb(pid, "kcat");
            if (h > hwm)
                hwm = h;
            next_hwm = now_s() + 1e-3;
        }
        if (w < 0 && errno != EINTR)
            die("waitpid(kcat) failed: %s", strerror(errno));
        if (now_s() - t0 > budget_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            die("kcat did not finish within %.0f s", budget_s);
        }
        sleep_us(200);
    }
    double t1 = now_s();
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die("%s: exit status %d", cmd, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    r.secs = t1 - t0;
    r.rate = (double)in->n / r.secs;
    r.rss_kb = hwm; /* the last reading before it exited; -1 if none was taken */
    r.ok = 1;
    return r;
}

/* ---- report ------------------------------------------------------------------------------- */

enum { R_RAW, R_RAW_SCAN, R_RAW_IO, R_SLUICE, R_KCAT, R_SLUICE_M, NROWS };

static const char *const row_names[NROWS] = {
    [R_RAW] = "a  raw librdkafka group consumer, consume_batch_queue",
    [R_RAW_SCAN] = "a2 the same + sl_envelope_scan + type compare",
    [R_RAW_IO] = "a3 a + headers + produce the kept 25% (librdkafka only)",
    [R_SLUICE] = "b  sluice: source->filter_types->map->batch(500)->kafka sink",
    [R_KCAT] = "c  kcat -C -e -q > /dev/null (process + connect incl.)",
    [R_SLUICE_M] = "b+m b, http.listen on, /metrics scraped every 200 ms",
};

static void loadavg(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (!fgets(buf, (int)size, f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    if (!buf[0])
        snprintf(buf, size, "?");
}

/* The summary over @p reps reps of the double at byte @p off of row @p row's
 * samples (offsetof(sample_t, field)); @p tmp has room for @p reps. */
static summary_t summarize_field(sample_t (*res)[NROWS], size_t reps, int row, size_t off,
                                 double *tmp)
{
    for (size_t r = 0; r < reps; r++)
        memcpy(&tmp[r], (const char *)&res[r][row] + off, sizeof tmp[r]);
    return summarize(tmp, reps);
}

int main(int argc, char **argv)
{
    opts_t o;
    parse_args(argc, argv, &o);
    check_props(&o);
    if (sched_getaffinity(0, sizeof g_cpus_all, &g_cpus_all))
        die("sched_getaffinity: %s", strerror(errno));
    if (o.pin_other >= 0 &&
        (!CPU_ISSET(o.pin_other, &g_cpus_all) || !CPU_ISSET(o.pin_proc, &g_cpus_all)))
        die("--pin %d:%d: this process may not run on both CPUs", o.pin_other, o.pin_proc);
    g_run_id = (unsigned long)time(NULL);
    double t_begin = now_s();
    /* each timed phase: at least 20k events/s or it is stuck */
    double budget_s = 30.0 + (double)o.events / 20000.0;

    FILE *csv = NULL;
    if (o.csv && !(csv = fopen(o.csv, "w")))
        die("cannot open %s for writing", o.csv);
    int have_kcat = o.kcat && on_path("kcat");
    FILE *timeline = NULL;
    if (o.timeline) {
        if (!(timeline = fopen(o.timeline, "w")))
            die("cannot open %s for writing", o.timeline);
        fprintf(timeline, "rep,ms,mapped,partitions_read,thread_cpu_ms,stored_outputs\n");
    }

    input_t in = {.n = o.events};
    in.nparts = o.partitions;
    if (!in.nparts) {
        uint64_t need = ((uint64_t)o.events * (EVENT_SIZE + 16) + PART_BYTES - 1) / PART_BYTES;
        in.nparts = need > MIN_IN_PARTS ? (int)need : MIN_IN_PARTS;
    }
    evspec_t *ev = plan_events(&in);

    char err[512];
    sl_broker_t *b = sl_broker_new(o.brokers, err, sizeof err);
    if (!b)
        die("sl_broker_new failed: %s", err);
    const char *bootstrap = sl_broker_bootstrap(b);
    check(sl_broker_create_topic(b, TOPIC_IN, in.nparts, 1), "sl_broker_create_topic(in)");
    check(sl_broker_create_topic(b, TOPIC_OUT, OUT_PARTS, 1), "sl_broker_create_topic(out)");
    check(sl_broker_create_topic(b, TOPIC_IO, OUT_PARTS, 1), "sl_broker_create_topic(out-a3)");
    check(sl_broker_create_topic(b, TOPIC_FAULTS, 1, 1), "sl_broker_create_topic(faults)");

    char la[128];
    loadavg(la, sizeof la);
    printf("sluice %s bench_kafka_e2e: %zu events to %s (%d partitions), %zu (%.1f%%) of type "
           "%s\nembedded cluster of %d broker(s) %s, librdkafka %s, %zu rep(s), loadavg %s\n",
           SL_VERSION_STRING, in.n, TOPIC_IN, in.nparts, in.nkeep,
           100.0 * (double)in.nkeep / (double)in.n, KEEP_TYPE, o.brokers, bootstrap,
           rd_kafka_version_str(), o.reps, la);
    if (o.pin_other >= 0)
        printf("--pin: in b, the processor's thread on CPU %d, every other thread on CPU %d\n",
               o.pin_proc, o.pin_other);
    fflush(stdout);

    produce_input(bootstrap, &in, ev, now_s() + budget_s);
    free(ev);

    /* A handle for metadata queries, kept connected for the whole run. */
    rd_kafka_conf_t *qc = rd_kafka_conf_new();
    kconf(qc, "bootstrap.servers", bootstrap);
    rd_kafka_t *qk = knew(RD_KAFKA_PRODUCER, qc, "query handle");
    int64_t *hw = xcalloc((size_t)in.nparts, sizeof *hw);
    high_watermarks(qk, TOPIC_IN, in.nparts, hw);
    for (int p = 0; p < in.nparts; p++)
        if (hw[p] != in.count[p])
            die("%s/%d holds %" PRId64 " messages, %" PRId64 " were produced to it", TOPIC_IN, p,
                hw[p], in.count[p]);
    /* Read the whole input once, untimed and without a group: it checks
     * what the cases will read, and no timed case is the first to fetch
     * from the broker. */
    int64_t *zero = xcalloc((size_t)in.nparts, sizeof *zero);
    double t_warm = now_s();
    int64_t warm = read_back(bootstrap, TOPIC_IN, in.nparts, zero, hw, now_s() + budget_s);
    if (warm != (int64_t)in.n)
        die("reading %s back: %" PRId64 " messages, %zu produced", TOPIC_IN, warm, in.n);
    t_warm = now_s() - t_warm;
    free(zero);
    free(hw);
    double avg = (double)in.bytes / (double)in.n;
    printf("produced %zu events (average %.1f bytes, %.1f MB) in %.2f s: %.0f events/s; read back "
           "(untimed warm-up) in %.2f s; peak RSS %ld kB\n\n",
           in.n, avg, (double)in.bytes / 1e6, in.produce_s, (double)in.n / in.produce_s, t_warm,
           peak_rss_kb(RUSAGE_SELF));
    fflush(stdout);

    sample_t(*res)[NROWS] = xcalloc(o.reps, sizeof *res);
    for (size_t r = 0; r < o.reps; r++) {
        /* rotate the order, so that no case always runs first on a cold broker */
        static const int order[] = {R_RAW, R_RAW_SCAN, R_RAW_IO, R_SLUICE, R_SLUICE_M};
        int ncases = o.metrics ? 5 : 4;
        for (int k = 0; k < ncases; k++) {
            int row = order[(r + (size_t)k) % (size_t)ncases];
            if (o.only_b && row != R_SLUICE)
                continue;
            if (row == R_SLUICE || row == R_SLUICE_M)
                res[r][row] = run_sluice(bootstrap, qk, &in, r, budget_s, &o,
                                         row == R_SLUICE ? timeline : NULL, row == R_SLUICE_M);
            else
                res[r][row] = run_raw(bootstrap, &in, r, budget_s,
                                      row == R_RAW_SCAN ? RAW_SCAN
                                      : row == R_RAW_IO ? RAW_IO
                                                        : RAW_PLAIN,
                                      &o);
        }
        if (have_kcat)
            res[r][R_KCAT] = run_kcat(bootstrap, &in, budget_s);
        fprintf(
            stderr,
            "rep %zu/%zu: raw %.0f/s, raw+scan %.0f/s, raw+io %.0f/s, sluice %.0f/s (%.2fx raw, "
            "%.2fx raw+io)",
            r + 1, o.reps, res[r][R_RAW].rate, res[r][R_RAW_SCAN].rate, res[r][R_RAW_IO].rate,
            res[r][R_SLUICE].rate, res[r][R_SLUICE].rate / res[r][R_RAW].rate,
            res[r][R_SLUICE].rate / res[r][R_RAW_IO].rate);
        if (have_kcat)
            fprintf(stderr, ", kcat %.0f/s", res[r][R_KCAT].rate);
        if (o.metrics)
            fprintf(stderr, ", sluice+metrics %.0f/s (%.3fx sluice)", res[r][R_SLUICE_M].rate,
                    res[r][R_SLUICE_M].rate / res[r][R_SLUICE].rate);
        fputc('\n', stderr);
    }

    /* per-rep ratios (side by side), then their median */
    double *tmp = xcalloc(o.reps, sizeof *tmp);
    typedef struct ratio_s {
        const char *name;
        int num, den;
        double goal;
    } ratio_t;
    const ratio_t ratios[] = {
        {"sluice processor / raw group consumer", R_SLUICE, R_RAW, 0.6},
        {"sluice processor / raw consumer + envelope scan", R_SLUICE, R_RAW_SCAN, 0},
        {"raw consumer + envelope scan / raw consumer", R_RAW_SCAN, R_RAW, 0},
        {"librdkafka's part alone (a3) / raw consumer", R_RAW_IO, R_RAW, 0},
        {"sluice processor / librdkafka's part alone (a3)", R_SLUICE, R_RAW_IO, 0},
        {"kcat / raw group consumer", R_KCAT, R_RAW, 0},
        {"sluice processor / kcat", R_SLUICE, R_KCAT, 0},
        {"sluice with /metrics scraped / sluice", R_SLUICE_M, R_SLUICE, 0},
    };
    const size_t nratios = sizeof ratios / sizeof ratios[0];
    summary_t rsum[sizeof ratios / sizeof ratios[0]];
    for (size_t k = 0; k < nratios; k++) {
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][ratios[k].den].ok
                         ? res[r][ratios[k].num].rate / res[r][ratios[k].den].rate
                         : 0;
        rsum[k] = summarize(tmp, o.reps);
    }

    if (csv)
        fprintf(csv, "case,events_per_s,min,max,ns_per_event,mb_per_s,join_s,cpu_cores,"
                     "app_thread_cpu,peak_rss_kb,ratio_vs_raw\n");
    printf("%-61s %9s %18s %8s %7s %6s %5s %5s %10s %6s\n", "case", "events/s", "(min..max)",
           "ns/event", "MB/s", "join s", "cores", "app", "peakRSS kB", "ratio");
    for (int row = 0; row < NROWS; row++) {
        if ((row == R_KCAT && !have_kcat) || (row == R_SLUICE_M && !o.metrics) ||
            (o.only_b && row != R_SLUICE))
            continue;
        /* the process-wide peak never goes down: the lowest reading is the one
         * taken right after the case first ran */
        long rss = res[0][row].rss_kb;
        for (size_t r = 1; r < o.reps; r++)
            if (res[r][row].rss_kb < rss)
                rss = res[r][row].rss_kb;
        summary_t sr = summarize_field(res, o.reps, row, offsetof(sample_t, rate), tmp);
        summary_t js = summarize_field(res, o.reps, row, offsetof(sample_t, join_s), tmp);
        summary_t cs = summarize_field(res, o.reps, row, offsetof(sample_t, cpu), tmp);
        summary_t as = summarize_field(res, o.reps, row, offsetof(sample_t, app), tmp);
        for (size_t r = 0; r < o.reps; r++)
            tmp[r] = res[r][row].rate / res[r][R_RAW].rate;
        summary_t rr = summarize(tmp, o.reps);
        char a[32], lo[32], hi[32], range[72], rs[32] = "", jb[16] = "-", cb[16] = "-",
                                               ab[16] = "-";
        snprintf(range, sizeof range, "(%s..%s)", fmt_rate(lo, sizeof lo, sr.min),
                 fmt_rate(hi, sizeof hi, sr.max));
        if (row != R_RAW)
            snprintf(rs, sizeof rs, "%.2fx", rr.med);
        if (row != R_KCAT) {
            snprintf(jb, sizeof jb, "%.2f", js.med);
            snprintf(cb, sizeof cb, "%.2f", cs.med);
            if (as.min >= 0)
                snprintf(ab, sizeof ab, "%.2f", as.med);
        }
        printf("%-61s %9s %18s %8.1f %7.1f %6s %5s %5s %10ld %6s\n", row_names[row],
               fmt_rate(a, sizeof a, sr.med), range, 1e9 / sr.med, sr.med * avg / 1e6, jb, cb, ab,
               rss, rs);
        if (csv) {
            fprintf(csv, "\"%s\",%.0f,%.0f,%.0f,%.1f,%.2f,%s,%s,%s,%ld,", row_names[row], sr.med,
                    sr.min, sr.max, 1e9 / sr.med, sr.med * avg / 1e6, row != R_KCAT ? jb : "",
                    row != R_KCAT ? cb : "", row != R_KCAT && as.min >= 0 ? ab : "", rss);
            if (row != R_RAW)
                fprintf(csv, "%.3f", rr.med);
            fputc('\n', csv);
        }
    }
    if (csv && fclose(csv))
        die("cannot write %s", o.csv);
    if (timeline && fclose(timeline))
        die("cannot write %s", o.timeline);

    printf("\nratios, measured side by side in each rep (median, min..max over %zu rep(s)):\n",
           o.reps);
    for (size_t k = 0; k < nratios && !o.only_b; k++) {
        if ((ratios[k].num == R_KCAT || ratios[k].den == R_KCAT) && !have_kcat)
            continue;
        if (ratios[k].num == R_SLUICE_M && !o.metrics)
            continue;
        printf("  %-50s %5.2fx (%.2f..%.2f)", ratios[k].name, rsum[k].med, rsum[k].min,
               rsum[k].max);
        if (ratios[k].goal > 0)
            printf("  goal >= %.1fx: %s", ratios[k].goal,
                   rsum[k].med >= ratios[k].goal ? "met" : "NOT met");
        putchar('\n');
    }
    if (!have_kcat)
        printf("  (kcat %s)\n", o.kcat ? "is not on PATH: no kcat row" : "skipped (--no-kcat)");
    printf("\nCPU per input event by thread, ns (median over reps; the embedded broker and every "
           "client\nshare this process):\n  %-4s",
           "case");
    for (int k = 0; k < NTK; k++)
        printf(" %12s", tk_names[k]);
    printf(" %12s\n", "all");
    for (int row = 0; row < NROWS; row++) {
        if (row == R_KCAT || (row == R_SLUICE_M && !o.metrics) || (o.only_b && row != R_SLUICE))
            continue;
        static const char *const short_names[NROWS] = {"a", "a2", "a3", "b", "c", "b+m"};
        printf("  %-4s", short_names[row]);
        for (int k = 0; k <= NTK; k++) { /* each kind, then all of them */
            for (size_t r = 0; r < o.reps; r++) {
                tmp[r] = 0;
                for (int j = 0; j < NTK; j++)
                    tmp[r] += k == NTK || j == k ? res[r][row].tk[j] : 0;
            }
            printf(" %12.0f", summarize(tmp, o.reps).med);
        }
        putchar('\n');
    }
    printf("  per rep, sluice / raw:");
    for (size_t r = 0; r < o.reps; r++)
        printf(" %.2f", res[r][R_SLUICE].rate / res[r][R_RAW].rate);
    putchar('\n');
    for (size_t r = 0; r < o.reps; r++)
        tmp[r] = res[r][R_SLUICE].tail_s;
    summary_t tail = summarize(tmp, o.reps);
    printf(
        "\ntimed windows: a, a2 from the first message received to the %zu-th; a3 to the "
        "last of its\noutputs delivered (its producer's delivery report); b from the "
        "first record\nin the map to the last of the %zu outputs stored on '%s' (all input "
        "read, stop, drain).\nsl_processor_run() returned %.0f ms (median) after that: final "
        "commit, leaving the group.\n'join s': subscribe/start to the first message (not "
        "timed). 'cores': process CPU time /\nwall time over the window (the broker, every "
        "client and the processor share this process).\n'app': the same for the one thread "
        "that consumes (a: the main thread; b: the thread in\nsl_processor_run()). 'peakRSS kB': "
        "this process's peak after the case first ran (the\nbroker holds the input in "
        "memory); for c, kcat's own VmHWM.\n",
        in.n, in.nkeep, TOPIC_OUT, tail.med * 1e3);
    printf("anchors (DESIGN.md, same kind of machine): raw librdkafka group consumer on the "
           "embedded broker\nabout 1.06M msg/s once joined; kcat -C about 0.69M msg/s\n");
    if (o.nconf) {
        printf("processor properties added with --conf:");
        for (size_t i = 0; i < o.nconf; i++)
            printf(" %s", o.conf[i]);
        putchar('\n');
    }
    if (o.nkafka) {
        printf("consumer properties added with --kafka (a, a2, a3 and b):");
        for (size_t i = 0; i < o.nkafka; i++)
            printf(" %s", o.kafka[i]);
        putchar('\n');
    }
    loadavg(la, sizeof la);
    printf("loadavg at the end %s; total run time %.1f s; peak RSS %ld kB\n", la, now_s() - t_begin,
           peak_rss_kb(RUSAGE_SELF));

    free(tmp);
    free(res);
    rd_kafka_destroy(qk);
    sl_broker_destroy(b);
    free(in.count);
    free(in.last_off);
    for (int p = 0; p < in.nparts; p++)
        free(in.kept[p]);
    free(in.kept);
    return 0;
}
