/* bench_kin_leases — Kinesis workers sharing a stream through leases (one
 * SQLite lease file), against kinesalite (node, tests/kinesis/server).
 *
 * Measures, per rep: the time for 6 shards to spread from 1 worker to 3
 * (2 leases each), and the failover time: from a SIGKILL of one worker to
 * its leases being held by the others (bounded below by
 * kinesis.lease.failover.ms, less one renewal). Workers are forked
 * processors (kinesis in -> kinesis out). Quick: 1 rep. */
#define BENCH_NAME "bench_kin_leases"
#include "../tests/kinesis/kinesalite_http.h"
#include "bench_util.h"
#include "kinesalite.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char g_dir[64], g_url[128];
static pid_t g_server = -1;
static int g_server_in = -1;

static void start_server(void)
{
    char *streams[] = {"--stream", "in:6", "--stream", "out:1", "--stream", "faults:1", NULL};
    bench_kinesalite_start("/tmp/sluice-bench-kl-XXXXXX", streams, g_dir, sizeof g_dir, g_url,
                           sizeof g_url, &g_server, &g_server_in);
}

static void stop_server(void)
{
    bench_kinesalite_stop(g_dir, g_server, g_server_in);
}

static sl_result_t copy(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    return sl_uow_set_output(u, NULL, 0, r->value, r->value_len) ? SL_RETRY : SL_OK;
}

static pid_t worker(const char *id, const char *failover, int rep)
{
    char log[128], ck[128], app[32];
    snprintf(log, sizeof log, "%s/%s.log", g_dir, id);
    pid_t pid = kh_fork_logged(log);
    if (pid < 0)
        die("fork");
    if (pid)
        return pid;
    snprintf(ck, sizeof ck, "sqlite:%s/leases.db", g_dir);
    snprintf(app, sizeof app, "app%d", rep);
    const char *kv[] = {"processor.name",
                        app,
                        "processor.signals",
                        "true",
                        "kinesis.application",
                        app,
                        "kinesis.lease.store",
                        ck,
                        "kinesis.worker.id",
                        id,
                        "kinesis.lease.failover.ms",
                        failover,
                        "log.level",
                        "warn",
                        NULL};
    kh_worker_run(kv, copy);
}

/* Open leases held by each of w1, w2, w3 (of application app<rep>). */
static void held(int rep, int out[3])
{
    out[0] = out[1] = out[2] = 0;
    char path[128], app[32];
    snprintf(path, sizeof path, "%s/leases.db", g_dir);
    snprintf(app, sizeof app, "app%d", rep);
    sqlite3 *h;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return;
    }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h,
                           "SELECT owner FROM checkpoints WHERE application = ?1 AND "
                           "sequence != 'SHARD_END' AND owner IS NOT NULL",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *o = (const char *)sqlite3_column_text(st, 0);
            if (o && o[0] == 'w' && o[1] >= '1' && o[1] <= '3' && !o[2])
                out[o[1] - '1']++;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
}

/* Seconds until the leases are held as @p a, @p b, @p c. */
static double wait_for(int rep, int a, int b, int c)
{
    double t0 = now_s();
    for (;;) {
        int h[3];
        held(rep, h);
        if (h[0] == a && h[1] == b && h[2] == c)
            return now_s() - t0;
        if (now_s() - t0 > 120)
            die("leases not held %d/%d/%d within 120 s (see %s)", a, b, c, g_dir);
        sleep_ms(20);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_kin_leases [--quick] [--reps R] [--failover-ms MS]\n");
}

int main(int argc, char **argv)
{
    size_t reps = 3, failover = 6000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            reps = 1;
        else if (!strcmp(argv[i], "--reps"))
            reps = opt_size(argc, argv, &i, 1, 100);
        else if (!strcmp(argv[i], "--failover-ms"))
            failover = opt_size(argc, argv, &i, 300, 600000);
        else
            opt_other(argv[i], usage);
    }
    start_server();
    setenv("AWS_ACCESS_KEY_ID", "AKIDBENCH", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_KINESIS", g_url, 1);
    char fo[32];
    snprintf(fo, sizeof fo, "%zu", failover);
    printf("sluice %s bench_kin_leases: 6 shards, SQLite leases, failover %zu ms, %zu rep(s), "
           "kinesalite at %s\n",
           sl_version(), failover, reps, g_url);
    double *spread = xcalloc(reps, sizeof *spread), *fail = xcalloc(reps, sizeof *fail);
    for (size_t r = 0; r < reps; r++) {
        pid_t w1 = worker("w1", fo, (int)r);
        wait_for((int)r, 6, 0, 0);
        double t0 = now_s();
        pid_t w2 = worker("w2", fo, (int)r), w3 = worker("w3", fo, (int)r);
        spread[r] = now_s() - t0 + wait_for((int)r, 2, 2, 2);
        kill(w3, SIGKILL);
        waitpid(w3, NULL, 0);
        fail[r] = wait_for((int)r, 3, 3, 0);
        printf("rep %zu/%zu: spread 1 -> 3 workers %.2f s, failover after a kill %.2f s\n", r + 1,
               reps, spread[r], fail[r]);
        fflush(stdout);
        kill(w1, SIGTERM);
        kill(w2, SIGTERM);
        waitpid(w1, NULL, 0);
        waitpid(w2, NULL, 0);
    }
    summary_t s1 = summarize(spread, reps), s2 = summarize(fail, reps);
    printf("case                                   seconds (median, min..max)\n");
    printf("spread 6 shards from 1 to 3 workers    %.2f (%.2f..%.2f)\n", s1.med, s1.min, s1.max);
    printf("failover after a SIGKILL               %.2f (%.2f..%.2f)  (failover.ms %zu)\n", s2.med,
           s2.min, s2.max, failover);
    free(spread);
    free(fail);
    stop_server();
    return 0;
}
