/* bench_flavors — the listener and the trigger end to end over the embedded
 * Kafka broker, side by side in one run with a raw librdkafka group consumer
 * and `kcat -C` reading the same topic, and the listener's memory as its
 * input grows tenfold:
 *   raw    a librdkafka group consumer (consume_batch_queue) reading the topic
 *   kcat   kcat -C -e -q > /dev/null (process start and connect included)
 *   trigger  sl_cdc (DynamoDB Streams records -> thing events) -> batch(500)
 *            -> Kafka sink, on a processor thread
 *   listener sl_materialize (thing events -> newest per key -> SQLite view),
 *            on a processor thread
 *   sqlite   SQLite alone: the listener's conditional upserts of the same
 *            rows in the same transactions (as the listener's store
 *            recorded them), with the view store's statements, pragmas
 *            and checkpoint arrangement: its ceiling
 *   memory   the sluice-listener binary over N and then 10 N events: its peak
 *            RSS, sampled every 50 ms, should stay flat.
 * librdkafka and SQLite are used for the baselines and to produce the input;
 * everything measured of sluice goes through include/sluice/. */
#define BENCH_NAME "bench_flavors"
#include "bench_kafka.h"
#include "bench_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char g_dir[64];
static const char *g_bs;

/* ---- input ---- */

static size_t g_change_bytes, g_event_bytes;

static void produce(const char *topic, size_t n, int changes, size_t things)
{
    rd_kafka_t *rk = bench_producer(g_bs);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        char v[700], key[32];
        size_t id = i % things, ver = i / things + 1;
        int64_t ts = 1767225600000ll + (int64_t)i;
        int len;
        snprintf(key, sizeof key, "thing-%06zu", id);
        if (changes)
            len = snprintf(
                v, sizeof v,
                "{\"eventID\":\"%zu\",\"eventName\":\"%s\",\"eventSource\":\"aws:dynamodb\","
                "\"awsRegion\":\"us-east-1\",\"dynamodb\":{\"ApproximateCreationDateTime\":"
                "%lld,\"Keys\":{\"id\":{\"S\":\"%s\"}},\"NewImage\":{\"id\":{\"S\":\"%s\"},"
                "\"name\":{\"S\":\"Thing %zu\"},\"status\":{\"S\":\"active\"},\"count\":{\"N\":"
                "\"%zu\"},\"price\":{\"N\":\"%zu.25\"},\"timestamp\":{\"N\":\"%lld\"}},"
                "\"SequenceNumber\":\"%020zu\",\"SizeBytes\":200,"
                "\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
                i, ver == 1 ? "INSERT" : "MODIFY", (long long)(ts / 1000), key, key, id, ver,
                id % 100, (long long)ts, i);
        else
            len = snprintf(
                v, sizeof v,
                "{\"id\":\"ev-%zu\",\"type\":\"%s\",\"timestamp\":%lld,"
                "\"partitionKey\":\"%s\",\"tags\":{\"source\":\"bench\"},\"thing\":{\"id\":"
                "\"%s\",\"name\":\"Thing %zu\",\"status\":\"active\",\"count\":%zu,"
                "\"price\":%zu.25,\"description\":\"an event of the listener benchmark,"
                " about three hundred bytes long\"}}",
                i, ver == 1 ? "thing-created" : "thing-updated", (long long)ts, key, key, id, ver,
                id % 100);
        bytes += (size_t)len;
        bench_produce(rk, topic, key, v, (size_t)len);
    }
    bench_producer_done(rk, topic);
    if (changes)
        g_change_bytes = bytes / n;
    else
        g_event_bytes = bytes / n;
}

/* ---- raw consumer and kcat ---- */

static double raw_consumer(const char *topic, size_t n, const char *group)
{
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", g_bs, err, sizeof err);
    rd_kafka_conf_set(kc, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
    if (!rk)
        die("consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *batch[1000];
    size_t got = 0;
    double t0 = 0, deadline = now_s() + 120;
    while (got < n && now_s() < deadline) {
        size_t want = n - got < 1000 ? n - got : 1000;
        ssize_t k = rd_kafka_consume_batch_queue(q, 100, batch, want);
        for (ssize_t i = 0; i < k; i++) {
            if (!batch[i]->err) {
                if (!got)
                    t0 = now_s();
                got++;
            }
            rd_kafka_message_destroy(batch[i]);
        }
    }
    double t1 = now_s();
    if (got < n)
        die("raw consumer read %zu of %zu", got, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return t1 - t0;
}

static double kcat(const char *topic)
{
    char *argv[] = {"kcat", "-C", "-b", (char *)g_bs, "-t", (char *)topic,
                    "-e",   "-q", "-o", "beginning",  NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = now_s();
    if (posix_spawnp(&pid, "kcat", &fa, NULL, argv, environ)) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && !WEXITSTATUS(st) ? now_s() - t0 : -1;
}

/* ---- the flavors on a processor thread ---- */

static sl_store_t *recording_store(const char *path, size_t n);
static char g_view_sync[16] = "normal";

/* ---- CPU per thread (BENCH_THREAD_CPU=1) ----
 * Each thread's run time (ns, /proc/self/task/TID/schedstat) when the
 * listener saw its first record and when it saw its last: where the
 * process's CPU goes beside the store's thread. */
#define TSNAP_MAX 128
typedef struct {
    int tid;
    char comm[20];
    unsigned long long ns;
    unsigned long long wait; /* ns runnable but waiting for a CPU (run queue) */
} tcpu_t;
typedef struct {
    tcpu_t t[TSNAP_MAX];
    size_t n;
} tsnap_t;

static void tsnap(tsnap_t *s)
{
    s->n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && s->n < TSNAP_MAX) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        tcpu_t *t = &s->t[s->n];
        t->tid = atoi(e->d_name);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", t->tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int ok = fscanf(f, "%llu %llu", &t->ns, &t->wait) == 2;
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", t->tid);
        f = fopen(path, "r");
        t->comm[0] = 0;
        if (f) {
            if (fgets(t->comm, sizeof t->comm, f))
                t->comm[strcspn(t->comm, "\n")] = 0;
            fclose(f);
        }
        s->n += (size_t)ok;
    }
    closedir(d);
}

static tsnap_t g_ts0, g_ts1;

/* The calling thread's id (/proc/thread-self is PID/task/TID). */
static int my_tid(void)
{
    char l[64];
    ssize_t k = readlink("/proc/thread-self", l, sizeof l - 1);
    if (k <= 0)
        return 0;
    l[k] = 0;
    const char *t = strrchr(l, '/');
    return t ? atoi(t + 1) : 0;
}
static int g_loop_tid, g_main_tid;

/* Each thread's CPU between the two snapshots, per event, busiest first. */
static void tsnap_print(size_t n)
{
    tcpu_t d[TSNAP_MAX];
    size_t k = 0;
    for (size_t i = 0; i < g_ts1.n; i++) {
        unsigned long long before = 0, wbefore = 0;
        for (size_t j = 0; j < g_ts0.n; j++)
            if (g_ts0.t[j].tid == g_ts1.t[i].tid) {
                before = g_ts0.t[j].ns;
                wbefore = g_ts0.t[j].wait;
            }
        d[k] = g_ts1.t[i];
        d[k].ns -= before;
        d[k].wait -= wbefore;
        if ((double)d[k].ns / (double)n >= 50) /* 0.05 us an event */
            k++;
    }
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && d[j].ns > d[j - 1].ns; j--) {
            tcpu_t x = d[j];
            d[j] = d[j - 1];
            d[j - 1] = x;
        }
    /* the second figure: time the thread was ready to run but had no CPU
     * (schedstat's run-queue wait), per event: what two cores shared by
     * more busy threads cost it */
    printf("  CPU per event by thread, first to last record (+ waiting for a CPU):");
    unsigned long long wsum = 0;
    for (size_t i = 0; i < k; i++) {
        wsum += d[i].wait;
        printf(" %s%s %.2f us (+%.2f)%s", d[i].comm,
               d[i].tid == g_loop_tid   ? "[loop]"
               : d[i].tid == g_main_tid ? "[bench]"
                                        : "",
               (double)d[i].ns / 1e3 / (double)n, (double)d[i].wait / 1e3 / (double)n,
               i + 1 < k ? "," : "");
    }
    printf("; waiting in all %.2f us\n", (double)wsum / 1e3 / (double)n);
}

static bench_seen_t g_seen;
/* the process's CPU seconds over the last flavor (from its first record to
 * the end of its drain, the in-process broker included) or SQLite alone
 * run: less noisy than the rates on a shared machine */
static double g_cpu;

/* The process's CPU seconds when the first record was seen: a flavor's CPU
 * is counted over the window its rate is (start-up and group join left
 * out, as SQLite alone's opening is). */
static atomic_int g_cpu_first_set;
static double g_cpu_first;

static sl_result_t count(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    if (!atomic_load_explicit(&g_cpu_first_set, memory_order_relaxed) &&
        !atomic_exchange(&g_cpu_first_set, 1)) {
        g_cpu_first = cpu_s();
        if (getenv("BENCH_THREAD_CPU")) {
            g_loop_tid = my_tid();
            tsnap(&g_ts0);
        }
    }
    bench_seen_note(&g_seen);
    return SL_OK;
}

/* CPU seconds of the last flavor()'s processor thread up to its last record. */
static double g_flavor_cpu;

/* The trigger's tree path, for the side-by-side "before" of issue 17: a
 * mapping hook makes sl_cdc take the jansson path (parse, tree, dump), as
 * every record did before the fast path; the entity is the image, shared
 * as the default tree path shares it, so only the path differs. */
static int tree_entity(const sl_cdc_change_t *ch, json_t **entity, void *arg)
{
    (void)arg;
    const json_t *img = ch->new_image ? ch->new_image : ch->old_image;
    *entity = img ? json_incref((json_t *)img) : NULL;
    return 0;
}

/* The trigger (@p view NULL; @p tree: its jansson path) or the listener;
 * returns its seconds from the first record to the end of the drain after
 * the last. */
static double flavor(const char *group, const char *topic, size_t n, const char *view, int tree)
{
    char err[512];
    sl_conf_t *c = sl_conf_new();
    const char *kv[] = {"processor.name",
                        group,
                        "processor.signals",
                        "false",
                        "kafka.bootstrap.servers",
                        g_bs,
                        "kafka.group.id",
                        group,
                        "log.level",
                        "warn",
                        "source.format",
                        view ? "event" : "json",
                        NULL};
    for (size_t i = 0; kv[i]; i += 2)
        check(sl_conf_set(c, kv[i], kv[i + 1], err, sizeof err), kv[i]);
    /* The listener as sluice-listener runs it: with its 32 MiB budget (about
     * 4 000 records in flight, smaller Kafka buffers), so the reading keeps
     * pace with the store rather than holding the whole input in flight
     * (BENCH_FLAVOR_CONF="memory.max.bytes=0": the library's default, no
     * budget). */
    if (view)
        check(sl_conf_set(c, "memory.max.bytes", "33554432", err, sizeof err), err);
    /* BENCH_FLAVOR_CONF="k=v k=v": more properties for both flavors (e.g. a
     * lower inflight.max.records, to pace the reading behind the store) */
    const char *fc = getenv("BENCH_FLAVOR_CONF");
    if (fc) {
        char buf[512], *save = NULL;
        snprintf(buf, sizeof buf, "%s", fc);
        for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            char *eq = strchr(t, '=');
            if (!eq)
                die("BENCH_FLAVOR_CONF: %s is not k=v", t);
            *eq = 0;
            check(sl_conf_set(c, t, eq + 1, err, sizeof err), err);
        }
    }
    /* the view's PRAGMA synchronous (BENCH_FLAVOR_CONF="view.synchronous=
     * full"): the store opens with it, and SQLite alone uses the same */
    snprintf(g_view_sync, sizeof g_view_sync, "%s", sl_conf_get_str(c, "view.synchronous"));
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    if (!p)
        die("processor: %s", err);
    check(sl_kafka_source_attach(p, topic, err, sizeof err), err);
    sl_sink_t *f = sl_kafka_sink_new(p, "bench-faults", err, sizeof err);
    if (!f)
        die("fault sink: %s", err);
    check(sl_processor_set_fault_sink(p, f), "fault sink");
    sl_pipeline_t *pl = sl_pipeline_new(view ? "materialize" : "cdc");
    check(sl_pipeline_tap(pl, count, NULL), "tap");
    if (view) {
        sl_store_t *st = recording_store(view, n);
        const char *types[] = {"thing-created", "thing-updated", "thing-deleted"};
        sl_materialize_opts_t o = {.types = types,
                                   .type_count = 3,
                                   .key_pointer = "/thing/id",
                                   .store = st,
                                   .batch = {500, 0, -1}};
        check(sl_materialize(pl, &o), "sl_materialize");
    } else {
        sl_sink_t *out = sl_kafka_sink_new(p, "bench-thing-events", err, sizeof err);
        if (!out)
            die("sink: %s", err);
        sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB,
                           .entity = "thing",
                           .source = "bench",
                           .to_entity = tree ? tree_entity : NULL};
        sl_batch_opts_t b = {500, 0, -1};
        check(sl_cdc(pl, &o), "sl_cdc");
        check(sl_pipeline_batch(pl, &b), "batch");
        check(sl_pipeline_sink(pl, out), "sink");
    }
    check(sl_processor_add_pipeline(p, pl), "pipeline");
    bench_seen_reset(&g_seen);
    atomic_store(&g_cpu_first_set, 0);
    bench_run_t r = {p, -999};
    pthread_t th;
    if (pthread_create(&th, NULL, bench_runner, &r))
        die("thread");
    double deadline = now_s() + 300;
    while (atomic_load(&g_seen.n) < n && now_s() < deadline)
        sleep_ms(2);
    if (atomic_load(&g_seen.n) < n)
        die("%s saw %zu of %zu records", group, atomic_load(&g_seen.n), n);
    double t_seen = now_s();
    if (getenv("BENCH_THREAD_CPU")) {
        g_main_tid = my_tid();
        tsnap(&g_ts1);
    }
    /* the processor thread's own CPU time so far (sources, engine, stages,
     * sinks on the loop; not librdkafka's or the broker's threads) */
    clockid_t cid;
    struct timespec ts = {0, 0};
    if (!pthread_getcpuclockid(th, &cid))
        clock_gettime(cid, &ts);
    g_flavor_cpu = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    sl_processor_stop(p);
    pthread_join(th, NULL);
    double t1 = now_s();
    g_cpu = cpu_s() - g_cpu_first;
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    if (r.rc || st.records_done != n || st.faults)
        die("%s: run %d, %llu done, %llu faults of %zu", group, r.rc,
            (unsigned long long)st.records_done, (unsigned long long)st.faults, n);
    sl_processor_destroy(p);
    if (getenv("BENCH_FLAVOR_TRACE"))
        fprintf(stderr, "%s: %.3f s to the last record seen, %.3f s more to the drain's end\n",
                group, t_seen - atomic_load(&g_seen.first), t1 - t_seen);
    return t1 - atomic_load(&g_seen.first);
}

/* ---- the ceiling: SQLite alone ---- */

/* What the listener's store was asked to do, for SQLite alone to do the
 * same: each transaction's rows (their events' indexes, from the ids
 * "ev-N"), in order. The listener compacts a batch by key and groups the
 * batches queued behind the one in flight into one transaction, so its
 * transactions are neither of 500 rows nor in the order produced; the
 * ceiling replays exactly these. Recording costs an append per row. */
typedef struct {
    sl_store_t *inner;
    uint32_t *ev; /* event index of each row, in apply order */
    size_t nev, cap;
    uint32_t *txn; /* rows per transaction */
    size_t ntxn, txn_cap;
    size_t deletes;
    double apply_cpu;  /* the applying thread's CPU seconds inside the store */
    double apply_wall; /* the same applies' wall-clock seconds */
    /* the store's waits from the end of one apply to the start of the next
     * (nothing to apply): over 20 ms, 5 to 20 ms, shorter (count, seconds) */
    double last_end;
    size_t waits_long, waits_mid;
    double wait_long_s, wait_mid_s, wait_short_s;
} txlog_t;

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static txlog_t g_log;
static double g_bare_thread_cpu; /* SQLite alone's own thread, seconds */

static int rec_apply(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    txlog_t *l = opaque;
    double c0 = thread_cpu_s(), w0 = now_s();
    if (l->last_end > 0) {
        double w = w0 - l->last_end;
        if (w > 0.020) {
            l->waits_long++;
            l->wait_long_s += w;
        } else if (w > 0.005) {
            l->waits_mid++;
            l->wait_mid_s += w;
        } else {
            l->wait_short_s += w;
        }
    }
    int rc = sl_store_apply(l->inner, rows, n, applied);
    l->apply_cpu += thread_cpu_s() - c0;
    l->last_end = now_s();
    l->apply_wall += l->last_end - w0;
    if (rc || !n)
        return rc;
    if (l->nev + n > l->cap || l->ntxn == l->txn_cap)
        die("txlog: more rows than events");
    for (size_t i = 0; i < n; i++) {
        const sl_view_row_t *r = &rows[i];
        uint32_t ix = 0;
        /* "ev-N": the bench's own ids */
        for (size_t k = 3; k < r->event_id_len; k++)
            ix = ix * 10 + (uint32_t)(r->event_id[k] - '0');
        l->ev[l->nev++] = ix;
        l->deletes += (size_t)r->deleted;
    }
    l->txn[l->ntxn++] = (uint32_t)n;
    return 0;
}

static void rec_interrupt(void *opaque)
{
    sl_store_interrupt(((txlog_t *)opaque)->inner);
}

static void rec_destroy(void *opaque)
{
    txlog_t *l = opaque;
    sl_store_destroy(l->inner);
    l->inner = NULL;
}

/* The view store at @p path, recording into g_log (reset, room for @p n rows). */
static sl_store_t *recording_store(const char *path, size_t n)
{
    char err[256];
    free(g_log.ev);
    free(g_log.txn);
    memset(&g_log, 0, sizeof g_log);
    g_log.ev = xcalloc(n, sizeof *g_log.ev);
    g_log.txn = xcalloc(n, sizeof *g_log.txn);
    g_log.cap = g_log.txn_cap = n;
    sl_store_sqlite_opts_t so = {.synchronous = g_view_sync};
    g_log.inner = sl_store_sqlite_open_opts(path, "things", &so, err, sizeof err);
    if (!g_log.inner)
        die("view: %s", err);
    static const sl_store_ops_t ops = {
        .name = "sqlite", .apply = rec_apply, .destroy = rec_destroy, .interrupt = rec_interrupt};
    sl_store_t *s = sl_store_new(&ops, &g_log);
    if (!s)
        die("store: out of memory");
    return s;
}

static void sq_check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die("sqlite: %s: %s", what, sqlite3_errmsg(db));
}

static void sq_exec(sqlite3 *db, const char *sql)
{
    sq_check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

/* The view store's WAL arrangement (lib/store/sqlite.c): no automatic
 * checkpoint in the COMMIT; the commit's WAL hook wakes a thread that
 * checkpoints (PASSIVE) on a connection of its own past 1000 pages, and
 * past 4000 the writer checkpoints itself (RESTART). Rebuilt here with
 * SQLite's API only, as a program of its own would. */
typedef struct {
    sqlite3 *db;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want, quit;
} bare_ck_t;

static int bare_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    bare_ck_t *c = arg;
    if (pages >= 4000) {
        for (int tries = 0; tries < 100; tries++) {
            if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL) !=
                SQLITE_BUSY)
                break;
            sleep_ms(2);
        }
    } else if (pages >= 1000) {
        pthread_mutex_lock(&c->mu);
        if (!c->want) {
            c->want = 1;
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *bare_ck_main(void *arg)
{
    bare_ck_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->want && !c->quit)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->quit)
            break;
        c->want = 0;
        pthread_mutex_unlock(&c->mu);
        sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The listener's SQL work without sluice: the rows the listener wrote for
 * the same n events (key, timestamp, type, event id, and the entity's text
 * as the events carry it), built before the clock starts; then the
 * listener's transactions as its store recorded them (g_log: the same rows
 * in the same order and transactions), per row the view store's lookup of
 * the key's row and tombstone timestamps and its upsert, with the store's
 * pragmas (WAL, synchronous=NORMAL), connection flags (NOMUTEX), checkpoint
 * arrangement (BENCH_BARE_AUTOCKPT=1: SQLite's automatic one, in the
 * COMMIT, instead) and statements prepared once. BENCH_BARE_TXN=N replays
 * the same rows in transactions of N instead (what a batch size costs). Returns seconds. What the
 * listener can reach at best. */
static double bare_sqlite(const char *path, size_t n, size_t things)
{
    typedef struct {
        char key[24], id[24], entity[256];
        int64_t ts;
        int first;
    } row_t;
    if (g_log.deletes)
        die("sqlite alone: the listener deleted %zu rows; the bench has no deletes", g_log.deletes);
    row_t *rows = xcalloc(n, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        size_t id = i % things, ver = i / things + 1;
        snprintf(rows[i].key, sizeof rows[i].key, "thing-%06zu", id);
        snprintf(rows[i].id, sizeof rows[i].id, "ev-%zu", i);
        snprintf(rows[i].entity, sizeof rows[i].entity,
                 "{\"id\":\"%s\",\"name\":\"Thing %zu\",\"status\":\"active\",\"count\":%zu,"
                 "\"price\":%zu.25,\"description\":\"an event of the listener benchmark,"
                 " about three hundred bytes long\"}",
                 rows[i].key, id, ver, id % 100);
        rows[i].ts = 1767225600000ll + (int64_t)i;
        rows[i].first = ver == 1;
    }
    for (size_t i = 0; i < g_log.nev; i++)
        if (g_log.ev[i] >= n)
            die("sqlite alone: the listener wrote event %u of %zu", g_log.ev[i], n);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        die("sqlite: cannot open %s", path);
    sq_exec(db, "PRAGMA journal_mode=WAL");
    /* the listener's view.synchronous; BENCH_BARE_SYNC=FULL (or OFF): what
     * another setting would cost SQLite alone */
    char sync[64];
    snprintf(sync, sizeof sync, "PRAGMA synchronous=%.30s",
             getenv("BENCH_BARE_SYNC") ? getenv("BENCH_BARE_SYNC") : g_view_sync);
    sq_exec(db, sync);
    sq_exec(db, "CREATE TABLE things (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, type "
                "TEXT NOT NULL, event_id TEXT, entity TEXT NOT NULL, updated_at INTEGER NOT NULL)");
    sq_exec(db, "CREATE TABLE things_deleted (key TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, "
                "event_id TEXT)");
    bare_ck_t ck = {0};
    int ck_on = !getenv("BENCH_BARE_AUTOCKPT");
    if (ck_on) {
        if (sqlite3_open_v2(path, &ck.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK)
            die("sqlite: cannot open %s", path);
        sq_exec(ck.db, "SELECT count(*) FROM sqlite_schema");
        pthread_mutex_init(&ck.mu, NULL);
        pthread_cond_init(&ck.cv, NULL);
        if (pthread_create(&ck.th, NULL, bare_ck_main, &ck))
            die("thread");
        sqlite3_wal_hook(db, bare_wal_hook, &ck);
    }
    sqlite3_stmt *get, *put, *begin, *commit;
    sq_check(db,
             sqlite3_prepare_v3(db,
                                "SELECT (SELECT timestamp FROM things WHERE key = ?1), (SELECT "
                                "timestamp FROM things_deleted WHERE key = ?1)",
                                -1, SQLITE_PREPARE_PERSISTENT, &get, NULL),
             "prepare");
    sq_check(db,
             sqlite3_prepare_v3(db,
                                "INSERT INTO things (key, timestamp, type, event_id, entity, "
                                "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO "
                                "UPDATE SET timestamp = excluded.timestamp, type = excluded.type, "
                                "event_id = excluded.event_id, entity = excluded.entity, "
                                "updated_at = excluded.updated_at",
                                -1, SQLITE_PREPARE_PERSISTENT, &put, NULL),
             "prepare");
    sq_check(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), "prepare");
    sq_check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "prepare");
    double t0 = now_s(), c0 = cpu_s(), tc0 = thread_cpu_s();
    size_t at = 0;
    size_t fixed = getenv("BENCH_BARE_TXN") ? strtoul(getenv("BENCH_BARE_TXN"), NULL, 10) : 0;
    for (size_t t = 0; fixed ? at < g_log.nev : t < g_log.ntxn; t++) {
        sq_check(db, sqlite3_step(begin), "BEGIN");
        sqlite3_reset(begin);
        int64_t now = (int64_t)(now_s() * 1000);
        size_t size = fixed ? (g_log.nev - at < fixed ? g_log.nev - at : fixed) : g_log.txn[t];
        for (size_t end = at + size; at < end; at++) {
            const row_t *r = &rows[g_log.ev[at]];
            sqlite3_bind_text(get, 1, r->key, -1, SQLITE_STATIC);
            sq_check(db, sqlite3_step(get), "lookup");
            int newer =
                sqlite3_column_type(get, 0) == SQLITE_NULL || r->ts > sqlite3_column_int64(get, 0);
            sqlite3_reset(get);
            if (!newer)
                continue;
            sqlite3_bind_text(put, 1, r->key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(put, 2, r->ts);
            sqlite3_bind_text(put, 3, r->first ? "thing-created" : "thing-updated", -1,
                              SQLITE_STATIC);
            sqlite3_bind_text(put, 4, r->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(put, 5, r->entity, -1, SQLITE_STATIC);
            sqlite3_bind_int64(put, 6, now);
            sq_check(db, sqlite3_step(put), "upsert");
            sqlite3_reset(put);
        }
        sq_check(db, sqlite3_step(commit), "COMMIT");
        sqlite3_reset(commit);
    }
    double t = now_s() - t0;
    g_cpu = cpu_s() - c0;
    g_bare_thread_cpu = thread_cpu_s() - tc0;
    sqlite3_stmt *cnt;
    sq_check(db, sqlite3_prepare_v2(db, "SELECT count(*) FROM things", -1, &cnt, NULL), "count");
    sq_check(db, sqlite3_step(cnt), "count");
    if ((size_t)sqlite3_column_int64(cnt, 0) != things)
        die("sqlite alone: %lld rows, expected %zu", (long long)sqlite3_column_int64(cnt, 0),
            things);
    sqlite3_finalize(cnt);
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    if (ck_on) {
        sqlite3_wal_hook(db, NULL, NULL);
        pthread_mutex_lock(&ck.mu);
        ck.quit = 1;
        pthread_cond_signal(&ck.cv);
        pthread_mutex_unlock(&ck.mu);
        pthread_join(ck.th, NULL);
        pthread_cond_destroy(&ck.cv);
        pthread_mutex_destroy(&ck.mu);
        sqlite3_close(ck.db);
    }
    sqlite3_close(db);
    free(rows);
    return t;
}

/* ---- memory: the listener binary, RSS sampled ---- */

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static int64_t committed(const char *group, const char *topic, int parts)
{
    return bench_committed(g_bs, group, topic, parts);
}

/* Where each memory run's RSS goes, once a second (--rss-trace FILE, or
 * next to --csv as NAME_rss.csv): case, seconds, RSS, events committed. */
static FILE *g_rss_trace;

static long listener_peak_rss(const char *bin, const char *topic, int parts, size_t n,
                              const char *group, double *rate)
{
    char view[160], xb[300];
    snprintf(view, sizeof view, "sqlite:%s/%s.db#things", g_dir, group);
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", g_bs);
    char *argv[] = {(char *)bin, "--source", "kafka:", "--key", "/thing/id", "--view", view,
                    "--group", (char *)group, "-X", xb,
                    /* its buffers as memory.max.bytes's default sizes them */
                    "-c", "commit.interval.ms=200", "-c", "log.level=warn", NULL};
    /* BENCH_LISTENER_CONF="k=v k=v": other properties (-c), e.g. another
     * memory.max.bytes, to measure a default */
    char extra[512], *cargv[16];
    size_t nc = 0;
    const char *ec = getenv("BENCH_LISTENER_CONF");
    if (ec) {
        snprintf(extra, sizeof extra, "%s", ec);
        for (char *t = strtok(extra, " "); t && nc < 14; t = strtok(NULL, " ")) {
            cargv[nc++] = "-c";
            cargv[nc++] = t;
        }
    }
    size_t na = 0;
    while (argv[na])
        na++;
    char *full[48];
    memcpy(full, argv, na * sizeof *argv);
    memcpy(full + na, cargv, nc * sizeof *cargv);
    full[na + nc] = NULL;
    char src[128];
    snprintf(src, sizeof src, "kafka:%s", topic);
    argv[2] = src;
    full[2] = src;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    if (posix_spawn(&pid, bin, &fa, NULL, full, environ))
        die("cannot start %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    long peak = 0;
    double deadline = now_s() + 600, next_check = 0, t0 = now_s(), next_trace = 0;
    int trace = getenv("BENCH_RSS_TRACE") != NULL; /* diagnosis: RSS and progress on stderr */
    for (;;) {
        long r = rss_kb(pid);
        if (r > peak)
            peak = r;
        if ((trace || g_rss_trace) && now_s() >= next_trace) {
            long long done = (long long)committed(group, topic, parts);
            if (trace)
                fprintf(stderr, "%s %5.1f s  RSS %6ld kB  committed %lld of %zu\n", group,
                        now_s() - t0, r, done, n);
            if (g_rss_trace)
                fprintf(g_rss_trace, "%s,%.1f,%ld,%lld\n", group, now_s() - t0, r, done);
            next_trace = now_s() + 1;
        }
        if (now_s() > next_check) {
            if (committed(group, topic, parts) >= (int64_t)n)
                break;
            next_check = now_s() + 0.5;
        }
        if (now_s() > deadline)
            die("%s did not finish %zu events", group, n);
        sleep_ms(50);
    }
    /* from the start to all committed: its start and the commit interval
     * included, the same for every budget */
    *rate = (double)n / (now_s() - t0);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    return peak;
}

/* --trigger-alone: only the trigger, no raw consumer and no jansson path
 * beside it (a profile of the processor thread sees the trigger alone). */
static int g_trigger_alone;

/* --only-trigger: per rep the raw consumer on the change records, the
 * trigger, and the trigger on its jansson path, side by side; with the CPU
 * time the process spent per record in each trigger run (processor, client
 * and broker threads together), which a busy machine disturbs less than
 * the rates. */
static void trigger_only(size_t n, size_t reps, FILE *csv)
{
    if (g_trigger_alone) {
        /* for profilers: the trigger's processor runs alone, nothing beside */
        for (size_t r = 0; r < reps; r++) {
            char g[64], a[32];
            snprintf(g, sizeof g, "trigger-%zu", r);
            double c0 = cpu_s(), rate = (double)n / flavor(g, "changes", n, NULL, 0);
            printf("rep %zu/%zu: trigger alone %s/s; CPU per record %.2f us, the processor "
                   "thread's %.2f us\n",
                   r + 1, reps, fmt_rate(a, sizeof a, rate), (cpu_s() - c0) * 1e6 / (double)n,
                   g_flavor_cpu * 1e6 / (double)n);
            if (getenv("BENCH_THREAD_CPU"))
                tsnap_print(n);
        }
        return;
    }
    double *raw = xcalloc(reps, sizeof *raw), *fast = xcalloc(reps, sizeof *fast),
           *tree = xcalloc(reps, sizeof *tree), *qr = xcalloc(reps, sizeof *qr),
           *qt = xcalloc(reps, sizeof *qt);
    for (size_t r = 0; r < reps; r++) {
        char g[64], a[32], b[32], c[32];
        snprintf(g, sizeof g, "raw-c-%zu", r);
        raw[r] = (double)n / raw_consumer("changes", n, g);
        snprintf(g, sizeof g, "trigger-%zu", r);
        double c0 = cpu_s();
        fast[r] = (double)n / flavor(g, "changes", n, NULL, 0);
        double c1 = cpu_s(), p1 = g_flavor_cpu;
        if (getenv("BENCH_THREAD_CPU")) {
            printf("  trigger:");
            tsnap_print(n);
        }
        snprintf(g, sizeof g, "trigger-tree-%zu", r);
        tree[r] = (double)n / flavor(g, "changes", n, NULL, 1);
        double c2 = cpu_s(), p2 = g_flavor_cpu;
        if (getenv("BENCH_THREAD_CPU")) {
            printf("  jansson path:");
            tsnap_print(n);
        }
        qr[r] = fast[r] / raw[r];
        qt[r] = fast[r] / tree[r];
        printf("rep %zu/%zu: raw %s/s, trigger %s/s (%.3fx raw), trigger on the jansson path "
               "%s/s (trigger %.2fx of it); CPU per record %.2f us, jansson path %.2f us; the "
               "processor thread's %.2f us, jansson path %.2f us\n",
               r + 1, reps, fmt_rate(a, sizeof a, raw[r]), fmt_rate(b, sizeof b, fast[r]), qr[r],
               fmt_rate(c, sizeof c, tree[r]), qt[r], (c1 - c0) * 1e6 / (double)n,
               (c2 - c1) * 1e6 / (double)n, p1 * 1e6 / (double)n, p2 * 1e6 / (double)n);
        fflush(stdout);
    }
    summary_t s1 = summarize(raw, reps), s2 = summarize(fast, reps), s3 = summarize(tree, reps),
              r1 = summarize(qr, reps), r2 = summarize(qt, reps);
    char x[32], y[32], z[32], rt[32];
    snprintf(rt, sizeof rt, "%.3fx", r1.med);
    const summary_t *rows[] = {&s1, &s2, &s3};
    const char *names[] = {"raw librdkafka group consumer, change records",
                           "trigger: cdc (DynamoDB) -> batch(500) -> Kafka sink",
                           "the same trigger on the jansson path (a mapping hook)"};
    for (size_t i = 0; i < 3; i++) {
        printf("%-58s %9s (%s..%s)\n", names[i], fmt_rate(x, sizeof x, rows[i]->med),
               fmt_rate(y, sizeof y, rows[i]->min), fmt_rate(z, sizeof z, rows[i]->max));
        /* the rows as the full run writes them (ratio: the trigger's to the raw consumer) */
        if (csv)
            fprintf(csv, "\"%s\",%.0f,%.0f,%.0f,%.2f,,%s\n", names[i], rows[i]->med, rows[i]->min,
                    rows[i]->max, rows[i]->med * (double)g_change_bytes / 1e6, i == 1 ? rt : "");
    }
    printf("  trigger / raw consumer    %.3fx (%.3f..%.3f)\n", r1.med, r1.min, r1.max);
    printf("  trigger / jansson path    %.2fx (%.2f..%.2f)\n", r2.med, r2.min, r2.max);
    free(raw);
    free(fast);
    free(tree);
    free(qr);
    free(qt);
}

int main(int argc, char **argv)
{
    size_t n = 50000, reps = 3;
    int quick = 0, memory = 1, only_memory = 0, only_listener = 0, only_trigger = 0;
    const char *csvpath = NULL, *rsspath = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            n = 3000;
            reps = 1;
        } else if (!strcmp(argv[i], "--events")) {
            n = parse_size("--events", argv[++i], 1000, 1000000);
        } else if (!strcmp(argv[i], "--reps")) {
            reps = parse_size("--reps", argv[++i], 1, 100);
        } else if (!strcmp(argv[i], "--no-memory")) {
            memory = 0;
        } else if (!strcmp(argv[i], "--only-memory")) {
            only_memory = 1;
        } else if (!strcmp(argv[i], "--only-listener")) {
            only_listener = 1; /* the listener and SQLite alone; no memory case */
            memory = 0;
        } else if (!strcmp(argv[i], "--only-trigger")) {
            only_trigger = 1; /* the raw consumer and the trigger, fast and tree paths */
            memory = 0;
        } else if (!strcmp(argv[i], "--trigger-alone")) {
            only_trigger = g_trigger_alone = 1; /* the trigger only, for profiles */
            memory = 0;
        } else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
            csvpath = argv[++i];
        } else if (!strcmp(argv[i], "--rss-trace") && i + 1 < argc) {
            rsspath = argv[++i];
        } else {
            printf(
                "usage: bench_flavors [--quick] [--events N] [--reps R] [--no-memory] "
                "[--only-memory] [--only-listener] [--only-trigger] [--trigger-alone] [--csv FILE] "
                "[--rss-trace FILE]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    sl_broker_t *b = bench_broker(&g_bs);
    snprintf(g_dir, sizeof g_dir, "/tmp/sluice-bench-fl-XXXXXX");
    if (!mkdtemp(g_dir))
        die("mkdtemp");
    /* 5 MiB per partition in the mock: enough partitions for the input */
    int parts = (int)(n * 600 / (3 << 20)) + 8;
    check(sl_broker_create_topic(b, "changes", parts, 1), "topic");
    check(sl_broker_create_topic(b, "events", parts, 1), "topic");
    check(sl_broker_create_topic(b, "bench-thing-events", parts, 1), "topic");
    check(sl_broker_create_topic(b, "bench-faults", 1, 1), "topic");
    size_t things = n / 5 ? n / 5 : 1;
    produce("changes", n, 1, things);
    produce("events", n, 0, things);
    printf("sluice %s bench_flavors: %zu change records (%zu B) and %zu events (%zu B) of %zu "
           "things, %d partitions, %zu rep(s)\n",
           sl_version(), n, g_change_bytes, n, g_event_bytes, things, parts, reps);
    FILE *csv = csvpath ? fopen(csvpath, "w") : NULL;
    if (csvpath && !csv)
        die("cannot open %s", csvpath);
    if (csv)
        fprintf(csv, "case,events_per_s,min,max,mb_per_s,peak_rss_kb,ratio\n");
    char rp[PATH_MAX];
    if (rsspath || csvpath) {
        if (!rsspath) {
            /* NAME.csv -> NAME_rss.csv */
            size_t cl = strlen(csvpath);
            snprintf(rp, sizeof rp, "%.*s_rss.csv",
                     (int)(cl > 4 && !strcmp(csvpath + cl - 4, ".csv") ? cl - 4 : cl), csvpath);
            rsspath = rp;
        }
        g_rss_trace = fopen(rsspath, "w");
        if (!g_rss_trace)
            die("cannot open %s", rsspath);
        fprintf(g_rss_trace, "case,seconds,rss_kb,committed\n");
    }
    if (only_trigger) {
        trigger_only(n, reps, csv);
        only_memory = 1; /* nothing else below but the (disabled) memory case */
    }
    if (!only_memory) {
        double *traw = xcalloc(reps, sizeof *traw), *ttr = xcalloc(reps, sizeof *ttr),
               *lraw = xcalloc(reps, sizeof *lraw), *tli = xcalloc(reps, sizeof *tli),
               *tk = xcalloc(reps, sizeof *tk), *qt = xcalloc(reps, sizeof *qt),
               *ql = xcalloc(reps, sizeof *ql), *tsq = xcalloc(reps, sizeof *tsq),
               *qs = xcalloc(reps, sizeof *qs), *ucl = xcalloc(reps, sizeof *ucl),
               *ucs = xcalloc(reps, sizeof *ucs);
        for (size_t r = 0; r < reps; r++) {
            char g[64], view[128];
            if (only_listener) {
                /* the listener beside its ceiling, quickly: the rest as 1 */
                traw[r] = ttr[r] = lraw[r] = 1;
            } else {
                snprintf(g, sizeof g, "raw-c-%zu", r);
                traw[r] = (double)n / raw_consumer("changes", n, g);
                snprintf(g, sizeof g, "trigger-%zu", r);
                ttr[r] = (double)n / flavor(g, "changes", n, NULL, 0);
                snprintf(g, sizeof g, "raw-e-%zu", r);
                lraw[r] = (double)n / raw_consumer("events", n, g);
            }
            snprintf(g, sizeof g, "listener-%zu", r);
            snprintf(view, sizeof view, "%s/view-%zu.db", g_dir, r);
            tli[r] = (double)n / flavor(g, "events", n, view, 0);
            double cpu_li = g_cpu;
            snprintf(view, sizeof view, "%s/bare-%zu.db", g_dir, r);
            tsq[r] = (double)n / bare_sqlite(view, n, things);
            double cpu_sq = g_cpu;
            double k = only_listener ? 0 : kcat("events");
            tk[r] = k > 0 ? (double)n / k : 0;
            qt[r] = ttr[r] / traw[r];
            ql[r] = tli[r] / lraw[r];
            qs[r] = tli[r] / tsq[r];
            char a[32], c[32], d[32], e[32], f[32];
            if (only_listener)
                printf("rep %zu/%zu: listener %s/s, SQLite alone %s/s (listener %.3fx of it); "
                       "%zu transactions of %.0f rows\n",
                       r + 1, reps, fmt_rate(e, sizeof e, tli[r]), fmt_rate(f, sizeof f, tsq[r]),
                       qs[r], g_log.ntxn, (double)g_log.nev / (double)g_log.ntxn);
            else
                printf(
                    "rep %zu/%zu: raw %s/s, trigger %s/s (%.3fx); raw %s/s, listener %s/s (%.3fx), "
                    "SQLite alone %s/s (listener %.3fx of it); %zu transactions of %.0f rows\n",
                    r + 1, reps, fmt_rate(a, sizeof a, traw[r]), fmt_rate(c, sizeof c, ttr[r]),
                    qt[r], fmt_rate(d, sizeof d, lraw[r]), fmt_rate(e, sizeof e, tli[r]), ql[r],
                    fmt_rate(f, sizeof f, tsq[r]), qs[r], g_log.ntxn,
                    (double)g_log.nev / (double)g_log.ntxn);
            ucl[r] = cpu_li * 1e6 / (double)n;
            ucs[r] = cpu_sq * 1e6 / (double)n;
            printf("  CPU per event: listener %.2f us (the process, the in-process broker "
                   "included), SQLite alone %.2f us; of which the writing thread's: listener's "
                   "store %.2f us, SQLite alone's loop %.2f us\n",
                   ucl[r], ucs[r], g_log.apply_cpu * 1e6 / (double)n,
                   g_bare_thread_cpu * 1e6 / (double)n);
            if (getenv("BENCH_THREAD_CPU")) {
                /* the applies' wall time less their CPU: their thread
                 * waiting for a core (or for the disk) while it applied;
                 * the listener's wall time less the applies' wall: the
                 * store with nothing to apply */
                printf("  the store's applies: %.2f us CPU and %.2f us wall a row; the listener "
                       "%.2f us wall an event\n",
                       g_log.apply_cpu * 1e6 / (double)n, g_log.apply_wall * 1e6 / (double)n,
                       1e6 / tli[r]);
                /* a long wait is the store starved: the intake paused or
                 * the fetcher stalled (bench/README, fourth session) */
                printf("  the store's waits between applies: %zu over 20 ms (%.1f ms in all), "
                       "%zu of 5-20 ms (%.1f ms), the shorter ones %.1f ms\n",
                       g_log.waits_long, g_log.wait_long_s * 1e3, g_log.waits_mid,
                       g_log.wait_mid_s * 1e3, g_log.wait_short_s * 1e3);
                tsnap_print(n);
            }
            fflush(stdout);
        }
        summary_t s1 = summarize(traw, reps), s2 = summarize(ttr, reps), s3 = summarize(lraw, reps),
                  s4 = summarize(tli, reps), s5 = summarize(tk, reps), r1 = summarize(qt, reps),
                  r2 = summarize(ql, reps), s6 = summarize(tsq, reps), r3 = summarize(qs, reps);
        char x[32], y[32], z[32];
#define ROW(name, s, size, ratio)                                                                  \
    do {                                                                                           \
        printf("%-58s %9s (%s..%s) %8.1f MB/s\n", name, fmt_rate(x, sizeof x, s.med),              \
               fmt_rate(y, sizeof y, s.min), fmt_rate(z, sizeof z, s.max),                         \
               s.med *(double)size / 1e6);                                                         \
        if (csv)                                                                                   \
            fprintf(csv, "\"%s\",%.0f,%.0f,%.0f,%.2f,,%s\n", name, s.med, s.min, s.max,            \
                    s.med *(double)size / 1e6, ratio);                                             \
    } while (0)
        printf(
            "case                                                        records/s (min..max)\n");
        char rt[32], rl[32];
        snprintf(rt, sizeof rt, "%.3fx", r1.med);
        snprintf(rl, sizeof rl, "%.3fx", r2.med);
        if (!only_listener) {
            ROW("raw librdkafka group consumer, change records", s1, g_change_bytes, "");
            ROW("trigger: cdc (DynamoDB) -> batch(500) -> Kafka sink", s2, g_change_bytes, rt);
            ROW("raw librdkafka group consumer, thing events", s3, g_event_bytes, "");
        }
        ROW("listener: materialize -> SQLite view (one txn per batch)", s4, g_event_bytes,
            only_listener ? "" : rl);
        if (!only_listener)
            ROW("kcat -C -e -q, thing events (process + connect incl.)", s5, g_event_bytes, "");
        char rs[32];
        snprintf(rs, sizeof rs, "%.3fx", r3.med);
        ROW("SQLite alone: the listener's upserts, same transactions", s6, g_event_bytes, rs);
        printf("ratios, per rep side by side (median, min..max):\n");
        if (!only_listener) {
            printf("  trigger / raw consumer    %.3fx (%.3f..%.3f)\n", r1.med, r1.min, r1.max);
            printf("  listener / raw consumer   %.3fx (%.3f..%.3f)\n", r2.med, r2.min, r2.max);
        }
        if (s5.med > 0)
            printf("  listener / kcat           %.3fx\n", s4.med / s5.med);
        printf("  listener / SQLite alone   %.3fx (%.3f..%.3f)\n", r3.med, r3.min, r3.max);
        summary_t u1 = summarize(ucl, reps), u2 = summarize(ucs, reps);
        printf("CPU per event (median, min..max): listener %.2f us (%.2f..%.2f), SQLite alone "
               "%.2f us (%.2f..%.2f)\n",
               u1.med, u1.min, u1.max, u2.med, u2.min, u2.max);
    }
    if (memory) {
        char path[PATH_MAX];
        const char *bin = bench_bin("SLUICE_LISTENER_BIN", argv[0], "../processors/sluice-listener",
                                    path, sizeof path);
        /* Flat means: once the input is larger than what the processor may
         * hold (librdkafka's queue, up to 64 MiB; the engine's in-flight
         * bounds), more input costs no more memory. So the base is at least
         * 200 000 events (about 60 MB), unless --quick. */
        size_t m = quick || n >= 200000 ? n : 200000;
        int mparts = (int)(m * 600 / (3 << 20)) + 8;
        /* Both topics get the partitions the larger one needs (the mock
         * keeps 5 MiB per partition), so only the input size differs:
         * librdkafka's buffers grow with the partition count, not the input. */
        check(sl_broker_create_topic(b, "mem1", mparts * 10, 1), "topic");
        check(sl_broker_create_topic(b, "mem10", mparts * 10, 1), "topic");
        produce("mem1", m, 0, things);
        produce("mem10", m * 10, 0, things);
        double rate1, rate10;
        long m1 = listener_peak_rss(bin, "mem1", mparts * 10, m, "mem-1x", &rate1);
        long m10 = listener_peak_rss(bin, "mem10", mparts * 10, m * 10, "mem-10x", &rate10);
        n = m;
        char a[32], c[32];
        printf("memory: sluice-listener peak RSS %ld kB over %zu events (%s/s), %ld kB over %zu "
               "events (%s/s): %.2fx for 10x the input\n",
               m1, n, fmt_rate(a, sizeof a, rate1), m10, n * 10, fmt_rate(c, sizeof c, rate10),
               m1 > 0 ? (double)m10 / (double)m1 : 0);
        if (csv) {
            fprintf(csv, "\"memory: sluice-listener over %zu events\",,,,,%ld,\n", n, m1);
            fprintf(csv, "\"memory: sluice-listener over %zu events (10x)\",,,,,%ld,%.2fx\n",
                    n * 10, m10, m1 > 0 ? (double)m10 / (double)m1 : 0);
        }
    }
    if (csv && fclose(csv))
        die("cannot write %s", csvpath);
    if (g_rss_trace && fclose(g_rss_trace))
        die("cannot write %s", rsspath);
    free(g_log.ev);
    free(g_log.txn);
    sl_broker_destroy(b);
    bench_rmtree(g_dir);
    return 0;
}
