/* sluice — Kafka consumer group failover time.
 *
 * Three sluice-listener processes share a topic of 6 partitions in one
 * consumer group over the embedded broker, while a producer thread keeps
 * writing to every partition. One member is SIGKILLed; the failover time is
 * from the kill to the moment every partition's committed offset has moved
 * past where it stood after the kill, i.e. the dead member's partitions are
 * consumed (and committed) again by the survivors. Measured at librdkafka's
 * defaults (session.timeout.ms 45000, heartbeat.interval.ms 3000) and at
 * tuned settings (6000 and 1000, max.poll.interval.ms 10000). The committed offsets are polled
 * every 25 ms and the listeners commit every 100 ms: the figures carry about 150 ms of that
 * resolution.
 *
 * Session and heartbeat are librdkafka's defaults in the default case, but
 * max.poll.interval.ms is 45000 rather than 300000: the embedded broker
 * lets a member join a formed group only when the rebalance timeout
 * (max.poll.interval.ms) expires, and with 300 s the group of three took
 * longer than 240 s to form. It must be at least session.timeout.ms, so
 * the tuned case lowers it to 10000.
 *
 * Never run by `meson test`; nothing is asserted about the figures, but a
 * group that does not form or a failover that does not complete within its
 * deadline exits non-zero. The listener binary is SLUICE_LISTENER_BIN, or
 * ../processors/sluice-listener beside this program. */
#define BENCH_NAME "bench_failover"
#include "bench_util.h"

#include <librdkafka/rdkafka.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PARTS 6
#define MEMBERS 3
#define TOPIC "fo-events"
#define PRODUCE_EVERY_MS 20 /* one event per partition each period: 300 events/s */
#define FORM_DEADLINE_S 240.0
#define FAILOVER_DEADLINE_S 240.0

static const char *g_bs;
/* Members alive, killed at exit: a member outliving this process would
 * keep retrying against the embedded broker that died with it. */
static pid_t g_members[MEMBERS];

static void kill_members(void)
{
    for (int i = 0; i < MEMBERS; i++)
        if (g_members[i] > 0) {
            kill(g_members[i], SIGKILL);
            waitpid(g_members[i], NULL, 0);
            g_members[i] = 0;
        }
}
static char g_dir[64];
static atomic_int g_producing = 1;

/* ---- the producer: a steady stream on every partition -------------------- */

static void *producer_main(void *arg)
{
    (void)arg;
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_bs, err, sizeof err);
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk)
        die("producer: %s", err);
    for (long i = 0; atomic_load(&g_producing); i++) {
        for (int p = 0; p < PARTS; p++) {
            char key[32], buf[256];
            long id = i * PARTS + p;
            snprintf(key, sizeof key, "thing-%ld", id % 5000);
            int n = snprintf(buf, sizeof buf,
                             "{\"id\":\"ev-%ld\",\"type\":\"thing-updated\",\"timestamp\":%ld,"
                             "\"thing\":{\"id\":\"thing-%ld\",\"version\":%ld}}",
                             id, 1767225600000l + id, id % 5000, id);
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf, (size_t)n),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e)
                die("produce: %s", rd_kafka_err2str(e));
        }
        rd_kafka_poll(rk, 0);
        sleep_ms(PRODUCE_EVERY_MS);
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    return NULL;
}

/* ---- the group's committed offsets ------------------------------------- */

static rd_kafka_t *offsets_client(const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", g_bs, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk)
        die("consumer: %s", err);
    return rk;
}

/* Committed offset per partition into @p off (-1: none yet). */
static void committed(rd_kafka_t *rk, int64_t *off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, TOPIC, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    if (e)
        die("committed: %s", rd_kafka_err2str(e));
    for (int p = 0; p < PARTS; p++)
        off[p] = l->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- the members --------------------------------------------------------- */

static pid_t spawn_member(const char *bin, const char *group, int i, const char *session,
                          const char *heartbeat, const char *poll, char *log, size_t logcap)
{
    char view[160], xb[300], st[64], hb[64], mp[64];
    snprintf(view, sizeof view, "sqlite:%s/%s-%d.db#things", g_dir, group, i);
    snprintf(log, logcap, "%s/%s-%d.log", g_dir, group, i);
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", g_bs);
    snprintf(st, sizeof st, "session.timeout.ms=%s", session);
    snprintf(hb, sizeof hb, "heartbeat.interval.ms=%s", heartbeat);
    snprintf(mp, sizeof mp, "max.poll.interval.ms=%s", poll ? poll : "300000");
    char *argv[] = {(char *)bin,
                    "--source",
                    "kafka:" TOPIC,
                    "--key",
                    "/thing/id",
                    "--view",
                    view,
                    "--group",
                    (char *)group,
                    "-X",
                    xb,
                    "-X",
                    st,
                    "-X",
                    hb,
                    "-X",
                    mp,
                    "-c",
                    "commit.interval.ms=100",
                    "-c",
                    "batch.linger.ms=20",
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    if (posix_spawn(&pid, bin, &fa, NULL, argv, environ))
        die("cannot start %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Partitions a member holds, from its incremental "assigned N" / "revoking
 * N" / "lost N" log lines. */
static int held(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        const char *m = strstr(line, "\"msg\":\"");
        int k;
        if (!m)
            continue;
        if (sscanf(m, "\"msg\":\"assigned %d partition", &k) == 1)
            n += k;
        else if (sscanf(m, "\"msg\":\"revoking %d partition", &k) == 1 ||
                 sscanf(m, "\"msg\":\"lost %d partition", &k) == 1)
            n -= k;
    }
    fclose(f);
    return n;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A member's group events after the kill, in seconds from it: where the
 * failover time goes (session timeout, rebalance, first fetch). */
static void timeline(const char *log, int member, int64_t kill_ms)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        const char *m = strstr(line, "\"msg\":\""), *t = strstr(line, "\"ts\":");
        if (!m || !t || !(strstr(m, "partition(s)")))
            continue;
        int64_t ts = strtoll(t + 5, NULL, 10);
        if (ts < kill_ms)
            continue;
        const char *e = strchr(m + 7, '"');
        printf("  member %d at +%.2f s: %.*s\n", member, (double)(ts - kill_ms) / 1e3,
               e ? (int)(e - m - 7) : 40, m + 7);
    }
    fclose(f);
}

static void alive(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
            g_members[i] = 0;
            die("member %d exited early (status %d); see its log in %s", i, st, g_dir);
        }
    }
}

/* One failover: returns the seconds from the kill to every partition being
 * committed past its offset after the kill; *waited gets how many
 * partitions waited more than a second (the dead member's). */
static double failover(const char *bin, const char *group, const char *session,
                       const char *heartbeat, const char *poll, int *waited)
{
    pid_t pids[MEMBERS];
    char logs[MEMBERS][256];
    for (int i = 0; i < MEMBERS; i++)
        g_members[i] = pids[i] =
            spawn_member(bin, group, i, session, heartbeat, poll, logs[i], sizeof logs[i]);
    rd_kafka_t *rk = offsets_client(group);
    int64_t before[PARTS], off[PARTS];
    /* Formed: every member holds partitions, all 6 are held, and every
     * partition's commit moves. */
    double deadline = now_s() + FORM_DEADLINE_S;
    for (int formed = 0; !formed;) {
        if (now_s() > deadline)
            die("%s: the group of %d did not form in %.0f s", group, MEMBERS, FORM_DEADLINE_S);
        alive(pids, MEMBERS);
        int total = 0, all = 1;
        for (int i = 0; i < MEMBERS; i++) {
            int h = held(logs[i]);
            all = all && h > 0;
            total += h;
        }
        if (all && total == PARTS) {
            committed(rk, before);
            sleep_ms(500);
            committed(rk, off);
            formed = 1;
            for (int p = 0; p < PARTS; p++)
                formed = formed && off[p] > before[p];
        } else {
            sleep_ms(100);
        }
    }
    int victim = MEMBERS - 1;
    double t0 = now_s();
    int64_t kill_ms = wall_ms();
    kill(pids[victim], SIGKILL);
    int st;
    waitpid(pids[victim], &st, 0);
    pids[victim] = -1;
    g_members[victim] = 0;
    /* After the kill: the dead member's commits are frozen from here. */
    committed(rk, before);
    double at[PARTS] = {0};
    int left = PARTS;
    while (left) {
        if (now_s() - t0 > FAILOVER_DEADLINE_S)
            die("%s: %d partition(s) not consumed again %.0f s after the kill", group, left,
                FAILOVER_DEADLINE_S);
        alive(pids, MEMBERS);
        committed(rk, off);
        double t = now_s() - t0;
        for (int p = 0; p < PARTS; p++)
            if (at[p] == 0 && off[p] > before[p]) {
                at[p] = t;
                left--;
            }
        if (left)
            sleep_ms(25);
    }
    double worst = 0;
    *waited = 0;
    for (int p = 0; p < PARTS; p++) {
        if (at[p] > worst)
            worst = at[p];
        if (at[p] > 1.0)
            (*waited)++;
    }
    for (int i = 0; i < MEMBERS; i++)
        if (pids[i] > 0)
            timeline(logs[i], i, kill_ms);
    for (int i = 0; i < MEMBERS; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            waitpid(pids[i], &st, 0);
            g_members[i] = 0;
        }
    rd_kafka_destroy(rk);
    return worst;
}

int main(int argc, char **argv)
{
    size_t reps = 3;
    int quick = 0;
    const char *csvpath = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            reps = 1;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = parse_size("--reps", argv[++i], 1, 100);
        } else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
            csvpath = argv[++i];
        } else {
            printf("usage: bench_failover [--quick] [--reps R] [--csv FILE]\n"
                   "  --quick   the tuned settings only, once (a smoke run, not a measurement)\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    const char *bin = getenv("SLUICE_LISTENER_BIN");
    char path[PATH_MAX];
    if (!bin) {
        snprintf(path, sizeof path, "%s", argv[0]);
        char *slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
                 "../processors/sluice-listener");
        bin = path;
    }
    atexit(kill_members);
    if (access(bin, X_OK))
        die("no listener binary at %s (set SLUICE_LISTENER_BIN)", bin);
    char err[256];
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    if (!b)
        die("embedded broker: %s", err);
    g_bs = sl_broker_bootstrap(b);
    check(sl_broker_create_topic(b, TOPIC, PARTS, 1), "topic");
    check(sl_broker_create_topic(b, "faults", 1, 1), "topic");
    snprintf(g_dir, sizeof g_dir, "/tmp/sluice-bench-fo-XXXXXX");
    if (!mkdtemp(g_dir))
        die("mkdtemp");
    pthread_t prod;
    if (pthread_create(&prod, NULL, producer_main, NULL))
        die("pthread_create");

    static const struct {
        const char *name, *session, *heartbeat, *poll;
    } cases[] = {
        {"default: session.timeout.ms 45000, heartbeat.interval.ms 3000", "45000", "3000", "45000"},
        {"tuned: session.timeout.ms 6000, heartbeat.interval.ms 1000", "6000", "1000", "10000"},
    };
    size_t first = quick ? 1 : 0, ncases = sizeof cases / sizeof *cases;
    printf("sluice %s bench_failover: %d sluice-listener members, %d partitions, %d events/s, "
           "one member SIGKILLed; %zu rep(s)%s\n",
           sl_version(), MEMBERS, PARTS, PARTS * 1000 / PRODUCE_EVERY_MS, reps,
           quick ? " (--quick: a smoke run, not a measurement)" : "");
    FILE *csv = csvpath ? fopen(csvpath, "w") : NULL;
    if (csvpath && !csv)
        die("cannot open %s", csvpath);
    if (csv)
        fprintf(csv, "case,failover_s,min,max\n");
    for (size_t c = first; c < ncases; c++) {
        double *t = xcalloc(reps, sizeof *t);
        for (size_t r = 0; r < reps; r++) {
            char group[64];
            snprintf(group, sizeof group, "fo-%zu-%zu", c, r);
            int waited = 0;
            t[r] =
                failover(bin, group, cases[c].session, cases[c].heartbeat, cases[c].poll, &waited);
            printf("%s, rep %zu/%zu: %.2f s (%d partition(s) waited for the failover)\n",
                   cases[c].name, r + 1, reps, t[r], waited);
            fflush(stdout);
        }
        summary_t s = summarize(t, reps);
        printf("failover, %-62s %6.2f s (%.2f..%.2f)\n", cases[c].name, s.med, s.min, s.max);
        if (csv)
            fprintf(csv, "\"%s\",%.3f,%.3f,%.3f\n", cases[c].name, s.med, s.min, s.max);
        free(t);
    }
    atomic_store(&g_producing, 0);
    pthread_join(prod, NULL);
    if (csv && fclose(csv))
        die("cannot write %s", csvpath);
    sl_broker_destroy(b);
    bench_rmtree(g_dir);
    return 0;
}
