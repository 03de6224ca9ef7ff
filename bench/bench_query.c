/* bench_query — the listener's query API under load: wrk GETs rows by key
 * (GET /views/things/KEY, random keys of the view) while sluice-listener
 * ingests events at full speed, against the same ingest with no query.
 *
 *   seed     the listener ingests one version of every thing (the view then
 *            holds every key wrk asks for), then stops
 *   alone    the listener (--http on, unqueried) ingests N newer events
 *   queried  the listener ingests N newer events again while wrk (-c
 *            connections, one thread) GETs random keys until the ingest is
 *            committed; then wrk is stopped (SIGINT: it prints its totals)
 *
 * Prints the GETs per second (wrk's, over the ingest), their non-2xx count,
 * and the ingest rates with their ratio. Goal on 2 cores: >= 20,000 GET/s
 * and queried ingest within 10% of alone. Needs wrk on PATH (Debian: wrk).
 *
 *   bench_query [--quick] [--events N] [--connections C] */
#define BENCH_NAME "bench_query"
#include "bench_kafka.h"
#include "bench_util.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <sluice/broker.h>
#include <sluice/sluice.h>

extern char **environ;

static char g_dir[64];
static const char *g_bs;

/* @p n events of @p things things, timestamps from @p ts0 on. */
static void produce(const char *topic, size_t n, size_t things, int64_t ts0)
{
    rd_kafka_t *rk = bench_producer(g_bs);
    for (size_t i = 0; i < n; i++) {
        char v[700], key[32];
        size_t id = i % things;
        snprintf(key, sizeof key, "thing-%06zu", id);
        int len = snprintf(v, sizeof v,
                           "{\"id\":\"ev-%s-%zu\",\"type\":\"thing-updated\",\"timestamp\":%lld,"
                           "\"thing\":{\"id\":\"%s\",\"name\":\"Thing %zu\",\"status\":\"active\","
                           "\"count\":%zu,\"description\":\"an event of the query benchmark\"}}",
                           topic, i, (long long)(ts0 + (int64_t)i), key, id, i);
        bench_produce(rk, topic, key, v, (size_t)len);
    }
    bench_producer_done(rk, topic);
}

static int64_t committed(const char *group, const char *topic, int parts)
{
    return bench_committed(g_bs, group, topic, parts);
}

static pid_t spawn(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ))
        die("cannot start %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 1 << 20);
    if (!s)
        die("out of memory");
    size_t n = f ? fread(s, 1, (1 << 20) - 1, f) : 0;
    s[n] = 0;
    if (f)
        fclose(f);
    return s;
}

/* The port the listener logged, waited for. */
static int logged_port(const char *log)
{
    for (int i = 0; i < 600; i++) {
        char *s = slurp(log);
        const char *at = strstr(s, "on http://127.0.0.1:");
        int port = at ? atoi(at + strlen("on http://127.0.0.1:")) : 0;
        free(s);
        if (port > 0)
            return port;
        sleep_ms(50);
    }
    die("no endpoint address in %s", log);
    return 0;
}

typedef struct {
    double secs;    /* spawn to every event committed */
    double gets_s;  /* wrk's Requests/sec (queried) */
    long non2xx;    /* wrk's non-2xx responses */
    long long gets; /* wrk's requests */
} run_t;

/* The listener over @p topic (@p n events); with wrk when @p conns > 0. */
static run_t listen_run(const char *bin, const char *topic, int parts, size_t n, int conns,
                        size_t things)
{
    run_t r = {0};
    char view[160], xb[300], log[128], group[64];
    snprintf(view, sizeof view, "sqlite:%s/view.db#things", g_dir);
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", g_bs);
    snprintf(log, sizeof log, "%s/%s.log", g_dir, topic);
    snprintf(group, sizeof group, "bq-%s", topic);
    char src[128];
    snprintf(src, sizeof src, "kafka:%s", topic);
    char *argv[] = {(char *)bin, "--source", src,           "--key", "/thing/id",
                    "--view",    view,       "--group",     group,   "-X",
                    xb,          "--http",   "127.0.0.1:0", "-c",    "commit.interval.ms=200",
                    NULL};
    double t0 = now_s();
    pid_t pid = spawn(argv, log);
    int port = logged_port(log);
    pid_t wpid = 0;
    char wout[160];
    if (conns > 0) {
        char lua[160], url[64], c[16], dur[16];
        snprintf(lua, sizeof lua, "%s/get.lua", g_dir);
        FILE *f = fopen(lua, "w");
        if (!f)
            die("cannot write %s", lua);
        fprintf(f,
                "math.randomseed(42)\n"
                "request = function()\n"
                "  return wrk.format(\"GET\", string.format(\"/views/things/thing-%%06d\", "
                "math.random(0, %zu)))\n"
                "end\n",
                things - 1);
        fclose(f);
        snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
        snprintf(c, sizeof c, "%d", conns);
        snprintf(dur, sizeof dur, "600s");
        snprintf(wout, sizeof wout, "%s/wrk.out", g_dir);
        char *wargv[] = {"wrk", "-t1", "-c", c, "-d", dur, "-s", lua, url, NULL};
        wpid = spawn(wargv, wout);
    }
    double next = 0;
    for (;;) {
        if (now_s() - t0 > 600)
            die("the listener did not finish %zu events of %s", n, topic);
        if (now_s() > next) {
            if (committed(group, topic, parts) >= (int64_t)n)
                break;
            next = now_s() + 0.1;
        }
        sleep_ms(20);
    }
    r.secs = now_s() - t0;
    if (wpid) {
        kill(wpid, SIGINT);
        int st;
        waitpid(wpid, &st, 0);
        char *s = slurp(wout);
        const char *rq = strstr(s, "Requests/sec:");
        const char *nx = strstr(s, "Non-2xx or 3xx responses:");
        const char *tot = strstr(s, " requests in ");
        if (!rq || !tot)
            die("wrk said:\n%s", s);
        r.gets_s = atof(rq + strlen("Requests/sec:"));
        r.non2xx = nx ? atol(nx + strlen("Non-2xx or 3xx responses:")) : 0;
        const char *b = tot;
        while (b > s && b[-1] != '\n' && b[-1] != ' ')
            b--;
        r.gets = atoll(b);
        free(s);
    }
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die("the listener of %s exited with %d; see %s", topic, st, log);
    return r;
}

int main(int argc, char **argv)
{
    size_t n = 200000;
    int conns = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            n = 20000;
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else {
            printf("usage: bench_query [--quick] [--events N] [--connections C]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (n < 1000 || conns < 1)
        die("--events at least 1000, --connections at least 1");
    char path[PATH_MAX];
    const char *bin = bench_bin("SLUICE_LISTENER_BIN", argv[0], "../processors/sluice-listener",
                                path, sizeof path);
    sl_broker_t *b = bench_broker(&g_bs);
    snprintf(g_dir, sizeof g_dir, "/tmp/sluice-bench-q-XXXXXX");
    if (!mkdtemp(g_dir))
        die("mkdtemp");
    /* 5 MiB per partition in the mock: enough partitions for the input. */
    int parts = (int)(n * 300 / (3 << 20)) + 8;
    size_t things = n / 4 ? n / 4 : 1;
    check(sl_broker_create_topic(b, "seed", parts, 1), "topic");
    check(sl_broker_create_topic(b, "alone", parts, 1), "topic");
    check(sl_broker_create_topic(b, "queried", parts, 1), "topic");
    check(sl_broker_create_topic(b, "faults", 1, 1), "topic");
    produce("seed", things, things, 1767225600000ll);
    produce("alone", n, things, 1767225600000ll + (int64_t)n);
    produce("queried", n, things, 1767225600000ll + 2 * (int64_t)n);
    printf("sluice %s bench_query: %zu things seeded, %zu events per run, %d partitions, wrk "
           "-t1 -c%d\n",
           sl_version(), things, n, parts, conns);
    listen_run(bin, "seed", parts, things, 0, things);
    run_t a = listen_run(bin, "alone", parts, n, 0, things);
    run_t q = listen_run(bin, "queried", parts, n, conns, things);
    double ra = (double)n / a.secs, rq = (double)n / q.secs;
    printf("ingest alone        %10.0f events/s (%.2f s, spawn to last commit)\n", ra, a.secs);
    printf("ingest queried      %10.0f events/s (%.2f s): %.3fx of alone (goal >= 0.90)\n", rq,
           q.secs, rq / ra);
    printf("GET by key          %10.0f GET/s (%lld requests, %ld not 2xx) (goal >= 20000)\n",
           q.gets_s, q.gets, q.non2xx);
    sl_broker_destroy(b);
    bench_rmtree(g_dir);
    return 0;
}
