/* Several Kinesis workers of one application sharing a stream's shards
 * through leases (an SQLite file, or DynamoDB on dynalite), against
 * kinesalite. Each worker is a process (forked from the test, a processor with its signal handlers,
 * as the binaries run), so a worker can be SIGKILLed (no release: its leases expire) or SIGTERMed
 * (drain: its leases are released at once). The lease table is watched from the test: the balance,
 * who holds what, and that no checkpoint ever goes back. */
#include "kinesis_helpers.h"

#include "kinesis/lease.h"

/* Every wait below is on a condition, with a limit that fails it with the
 * lease table and the workers' logs; a test's limits add up to less than
 * this, so a slow machine fails a wait that says what it waited for rather
 * than Criterion's timeout (tests/kinesis/meson.build allows the four). */
static void cleanup(void);
TestSuite(kin_workers, .timeout = 600, .fini = cleanup);

enum { NKEYS = 60, MAXSH = 16 };

static char g_dir[64];
static const char *g_url;
static char g_store[160]; /* kinesis.lease.store of the workers */

/* What a test started, for cleanup() after a failed assertion: the workers
 * (and the server, whose stdin they inherited) would otherwise run on,
 * holding the test's output open, so whatever reads it waits for them. */
static pid_t g_workers[4];
static kk_server_t g_server; /* a copy: the test's own is on its stack */
static int g_server_on;

static sl_result_t copy(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    return sl_uow_set_output(u, NULL, 0, r->value, r->value_len) ? SL_RETRY : SL_OK;
}

/* A worker process: kinesis in → copy → kinesis out until SIGTERM. */
static pid_t worker(const char *id, const char *failover_ms)
{
    char log[128], ck[160];
    snprintf(log, sizeof log, "%s/%s.log", g_dir, id);
    pid_t pid = kh_fork_logged(log);
    cr_assert_neq(pid, -1);
    if (pid) {
        for (size_t i = 0; i < sizeof g_workers / sizeof *g_workers; i++)
            if (!g_workers[i]) {
                g_workers[i] = pid;
                break;
            }
        return pid;
    }
    snprintf(ck, sizeof ck, "%s", g_store);
    const char *kv[] = {"processor.name",
                        "app",
                        "processor.signals",
                        "true",
                        "kinesis.application",
                        "app",
                        "kinesis.lease.store",
                        ck,
                        "kinesis.worker.id",
                        id,
                        "kinesis.lease.failover.ms",
                        failover_ms,
                        "kinesis.poll.interval.ms",
                        "50",
                        "kinesis.shards.refresh.ms",
                        "500",
                        "commit.interval.ms",
                        "100",
                        "batch.linger.ms",
                        "20",
                        "log.level",
                        "info",
                        NULL};
    kh_worker_run(kv, copy);
}

static void dump_logs(void);

/* Signal a worker and wait for its exit (a drain ends within
 * drain.timeout.ms + close.timeout.ms, 35 s by default); its status. */
static int reap(pid_t pid, int sig)
{
    kill(pid, sig);
    int st = 0;
    for (int64_t end = tu_now_ms() + 60000;; tu_sleep_ms(50)) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        cr_assert_neq(r, -1, "waitpid: %s", strerror(errno));
        if (r == pid) {
            for (size_t i = 0; i < sizeof g_workers / sizeof *g_workers; i++)
                if (g_workers[i] == pid)
                    g_workers[i] = 0;
            return st;
        }
        if (tu_now_ms() > end)
            break;
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    dump_logs();
    cr_assert_fail("worker %d did not exit within 60 s of signal %d", (int)pid, sig);
    return st;
}

/* ---- the lease table as the test sees it ---- */

typedef struct view_s {
    int n;
    char shard[MAXSH][64], owner[MAXSH][32], ckpt[MAXSH][140], parents[MAXSH][140];
    int64_t counter[MAXSH];
} view_t;

static view_t g_max; /* the highest checkpoint seen per shard */

static int seq_cmp(const char *a, const char *b)
{
    int ea = !strcmp(a, "SHARD_END"), eb = !strcmp(b, "SHARD_END");
    if (ea || eb)
        return ea - eb;
    size_t la = strlen(a), lb = strlen(b);
    return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

static int view_add(void *opaque, const sl__lease_t *l)
{
    view_t *v = opaque;
    if (v->n == MAXSH)
        return 0;
    snprintf(v->shard[v->n], 64, "%s", l->shard);
    snprintf(v->owner[v->n], 32, "%s", l->owner ? l->owner : "");
    snprintf(v->ckpt[v->n], 140, "%s", l->ckpt ? l->ckpt : "");
    snprintf(v->parents[v->n], 140, "%s", l->parents ? l->parents : "");
    v->counter[v->n] = l->counter;
    v->n++;
    return 0;
}

static view_t read_view(void)
{
    view_t v;
    memset(&v, 0, sizeof v);
    /* Through the port, as a worker reads it (either store). */
    sl__lease_store_t st;
    char err[256];
    if (sl__lease_open(g_store, &st, err, sizeof err))
        return v;
    st.ops->list(st.st, "app", "in", view_add, &v);
    sl__lease_close(&st);
    /* No checkpoint ever goes back, whoever holds the lease. */
    for (int i = 0; i < v.n; i++) {
        int k = 0;
        while (k < g_max.n && strcmp(g_max.shard[k], v.shard[i]))
            k++;
        if (k == g_max.n) {
            cr_assert_lt(g_max.n, MAXSH);
            snprintf(g_max.shard[k], 64, "%s", v.shard[i]);
            g_max.ckpt[k][0] = 0;
            g_max.n++;
        }
        if (!v.ckpt[i][0]) {
            cr_assert_eq(g_max.ckpt[k][0], 0, "shard %s: checkpoint %s went back to none",
                         v.shard[i], g_max.ckpt[k]);
            continue;
        }
        if (g_max.ckpt[k][0])
            cr_assert_geq(seq_cmp(v.ckpt[i], g_max.ckpt[k]), 0,
                          "shard %s: checkpoint went back from %s to %s", v.shard[i], g_max.ckpt[k],
                          v.ckpt[i]);
        snprintf(g_max.ckpt[k], 140, "%s", v.ckpt[i]);
    }
    return v;
}

/* Open (not SHARD_END) leases held by @p owner. */
static int held_by(const view_t *v, const char *owner)
{
    int n = 0;
    for (int i = 0; i < v->n; i++)
        n += strcmp(v->ckpt[i], "SHARD_END") && !strcmp(v->owner[i], owner);
    return n;
}

static void dump_logs(void)
{
    const char *ids[] = {"w1", "w2", "w3"};
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s.log", g_dir, ids[i]);
        char *t = tu_slurp(path);
        size_t l = strlen(t);
        fprintf(stderr, "---- %s (last 3000 bytes)\n%s\n", ids[i], l > 3000 ? t + l - 3000 : t);
        free(t);
    }
}

/* Wait until the open leases are held as @p want (owner, count, ..., NULL);
 * returns the ms it took. */
static int64_t wait_held(int64_t limit_ms, const char *const *want)
{
    int64_t t0 = tu_now_ms();
    view_t v;
    for (;;) {
        v = read_view();
        int ok = v.n > 0;
        for (size_t i = 0; ok && want[i]; i += 2)
            ok = held_by(&v, want[i]) == atoi(want[i + 1]);
        if (ok)
            return tu_now_ms() - t0;
        if (tu_now_ms() - t0 > limit_ms)
            break;
        tu_sleep_ms(100);
    }
    char got[1024] = "";
    for (int i = 0; i < v.n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " %s=%s(%s)", v.shard[i],
                 v.owner[i][0] ? v.owner[i] : "-", v.ckpt[i]);
    dump_logs();
    cr_assert_fail("leases not held as wanted (%s=%s ...) within %lld ms:%s", want[0], want[1],
                   (long long)limit_ms, got);
    return -1;
}

/* Wait until every open lease was written again (renewed) after now: each
 * holder has gone through a cycle of its own since, in which it also tried
 * to renew any lease it still thought it held, so none keeps reading a
 * shard whose lease moved. */
static void wait_renewed(int64_t limit_ms)
{
    view_t v0 = read_view();
    for (int64_t end = tu_now_ms() + limit_ms; tu_now_ms() < end; tu_sleep_ms(100)) {
        view_t v = read_view();
        int ok = v.n == v0.n;
        for (int i = 0; ok && i < v.n; i++)
            ok = !strcmp(v.ckpt[i], "SHARD_END") || v.counter[i] > v0.counter[i];
        if (ok)
            return;
    }
    dump_logs();
    cr_assert_fail("the leases were not renewed within %lld ms", (long long)limit_ms);
}

/* ---- records ---- */

static void put_events(const char *stream, int from, int to)
{
    size_t n = (size_t)(to - from);
    char **vals = calloc(n, sizeof *vals), **keys = calloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        int seq = from + (int)i;
        keys[i] = malloc(16);
        vals[i] = malloc(96);
        snprintf(keys[i], 16, "k%d", seq % NKEYS);
        snprintf(vals[i], 96, "{\"type\":\"e\",\"seq\":%d}", seq);
    }
    kk_put(g_url, stream, (const char *const *)keys, (const char *const *)vals, n);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
}

/* Wait until "out" holds every seq in [0, n) (each at least once); with
 * @p ordered, check per key that the last copies come in seq order (only
 * when no lease moved while records were in flight: a worker whose lease
 * was stolen may still write what it had read until it learns of it).
 * Returns the duplicates. */
static size_t wait_all(int n, int ordered, int64_t limit_ms)
{
    int *last = calloc((size_t)n, sizeof *last);
    size_t dups = 0;
    for (int64_t end = tu_now_ms() + limit_ms;;) {
        json_t *all = kk_read_all(g_url, "out");
        memset(last, 0, (size_t)n * sizeof *last);
        dups = 0;
        int have = 0;
        size_t i;
        json_t *r;
        json_array_foreach(all, i, r)
        {
            json_t *ev = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
            cr_assert(ev);
            int seq = (int)json_integer_value(json_object_get(ev, "seq"));
            json_decref(ev);
            cr_assert(seq >= 0 && seq < n, "seq %d", seq);
            if (last[seq])
                dups++;
            else
                have++;
            last[seq] = (int)i + 1;
        }
        json_decref(all);
        if (have == n)
            break;
        if (tu_now_ms() >= end)
            dump_logs();
        cr_assert_lt(tu_now_ms(), end, "out holds %d of %d events after %lld ms", have, n,
                     (long long)limit_ms);
        read_view();
        tu_sleep_ms(300);
    }
    /* The output stream has one shard: its order is the write order. */
    for (int k = 0; ordered && k < NKEYS; k++) {
        int prev = 0;
        for (int s = k; s < n; s += NKEYS) {
            cr_assert_gt(last[s], prev,
                         "key k%d: seq %d's last copy (at %d) comes before an earlier one (at %d); "
                         "%zu duplicates",
                         k, s, last[s], prev, dups);
            prev = last[s];
        }
    }
    free(last);
    return dups;
}

static void cleanup(void)
{
    for (size_t i = 0; i < sizeof g_workers / sizeof *g_workers; i++) {
        if (g_workers[i]) {
            kill(g_workers[i], SIGKILL);
            waitpid(g_workers[i], NULL, 0);
            g_workers[i] = 0;
        }
    }
    if (g_server_on) {
        g_server_on = 0;
        kk_stop(&g_server);
    }
}

static void start(kk_server_t *s, const char *in, int dynamodb)
{
    tu_mkdtemp(g_dir, sizeof g_dir, "sluice-kw");
    memset(&g_max, 0, sizeof g_max);
    const char *streams[] = {in, "out:1", "faults:1", NULL};
    kk_start(s, streams);
    g_server = *s;
    g_server_on = 1;
    g_url = s->kinesalite;
    kk_env(s->kinesalite);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", s->dynalite, 1);
    if (dynamodb)
        snprintf(g_store, sizeof g_store, "dynamodb:leases");
    else
        snprintf(g_store, sizeof g_store, "sqlite:%s/leases.db", g_dir);
}

static void finish(kk_server_t *s)
{
    g_server_on = 0;
    kk_stop(s);
    cr_assert_eq(tu_rmtree(g_dir), 0);
}

/* 6 shards: one worker takes all; two more join and the leases spread to
 * 2 each (stolen one at a time). One is SIGKILLed: its leases move after
 * the failover time (never before: they are not expired), nothing is lost.
 * One is SIGTERMed: it releases its leases and the last worker takes them
 * without waiting for the failover time. No checkpoint goes back. */
static void three_workers(int dynamodb)
{
    kk_server_t s;
    start(&s, "in:6", dynamodb);
    const int64_t failover = 6000, renew = failover / 3;
    put_events("in", 0, 300);
    pid_t w1 = worker("w1", "6000");
    const char *all1[] = {"w1", "6", NULL};
    int64_t t = wait_held(30000, all1);
    fprintf(stderr, "w1 holds 6 leases after %lld ms\n", (long long)t);
    pid_t w2 = worker("w2", "6000"), w3 = worker("w3", "6000");
    const char *spread[] = {"w1", "2", "w2", "2", "w3", "2", NULL};
    t = wait_held(60000, spread);
    fprintf(stderr, "spread to 2/2/2 after %lld ms\n", (long long)t);
    put_events("in", 300, 600);
    tu_sleep_ms(500);

    /* A kill: no release. */
    int64_t k0 = tu_now_ms();
    int st = reap(w3, SIGKILL);
    cr_assert(WIFSIGNALED(st));
    const char *after_kill[] = {"w1", "3", "w2", "3", "w3", "0", NULL};
    t = wait_held(60000, after_kill);
    int64_t took = tu_now_ms() - k0;
    fprintf(stderr, "w3's leases taken over %lld ms after the kill\n", (long long)took);
    cr_assert_geq(took, failover - renew,
                  "a killed worker's leases are taken only once expired (%lld ms)",
                  (long long)took);
    put_events("in", 600, 900);

    /* A drain: the leases are released and taken at once. Released, they
     * name nobody (or w1, once taken) the moment w2 has exited; not
     * released, they would name w2 until they expired. This is the
     * property, not the time the handover took: on a loaded machine the
     * drain and w1's next cycle may well take longer than the failover. */
    int64_t d0 = tu_now_ms();
    st = reap(w2, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "w2 drained and exited 0 (%d)", st);
    view_t at_exit = read_view();
    cr_assert_eq(held_by(&at_exit, "w2"), 0, "a drained worker released its leases before exiting");
    const char *after_drain[] = {"w1", "6", "w2", "0", NULL};
    wait_held(60000, after_drain);
    int64_t handed = tu_now_ms() - d0;
    fprintf(stderr, "w2's leases handed over %lld ms after SIGTERM (failover %lld ms)\n",
            (long long)handed, (long long)failover);
    put_events("in", 900, 1000);
    size_t dups = wait_all(1000, 0, 90000);
    fprintf(stderr, "duplicates: %zu\n", dups);
    /* Only what w3 had read past its last checkpoint (and what w2 and
     * w1 read before a lease moved) comes twice: far from everything. */
    cr_assert_lt(dups, 600, "duplicates %zu", dups);
    st = reap(w1, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    view_t v = read_view();
    cr_assert_eq(v.n, 6);
    for (int i = 0; i < v.n; i++)
        cr_assert_str_eq(v.owner[i], "", "the drained worker released shard %s", v.shard[i]);
    finish(&s);
}

Test(kin_workers, three_workers_balance_survive_a_kill_and_hand_over_on_drain)
{
    three_workers(0);
}

/* The same with the leases in DynamoDB (dynalite). */
Test(kin_workers, three_workers_over_dynamodb_leases)
{
    three_workers(1);
}

/* A shard split during the run, with two workers: the children's leases
 * are taken only after the parent is finished (SHARD_END), and per key the
 * records come in order across the split (read in a child before the
 * parent's end, a key's later record would come before an earlier one).
 *
 * The assertions hold only when no lease moves while records are in flight,
 * so the failover time is generous (12 s, renewals every 4 s): a worker
 * that a loaded machine leaves unscheduled, or whose lease store waits on
 * a lock (up to 5 s), must not see its lease expire and taken over. The
 * waits are on conditions (phases timed on stderr), their limits adding up
 * to 9 minutes, below the suite's timeout; unloaded it takes ~15 s. */
Test(kin_workers, a_split_during_the_run_leases_children_after_their_parent)
{
    int64_t t0 = tu_now_ms();
    kk_server_t s;
    start(&s, "in:2", 0);
    pid_t w1 = worker("w1", "12000"), w2 = worker("w2", "12000");
    const char *spread[] = {"w1", "1", "w2", "1", NULL};
    wait_held(90000, spread);
    wait_renewed(60000);
    fprintf(stderr, "split: one lease each, renewed, after %lld ms\n",
            (long long)(tu_now_ms() - t0));
    /* Records only now: from here on no lease moves while they are in flight. */
    put_events("in", 0, 200);
    json_t *ls = kk_call(g_url, "ListShards", json_pack("{s:s}", "StreamName", "in"));
    const char *parent = json_string_value(
        json_object_get(json_array_get(json_object_get(ls, "Shards"), 0), "ShardId"));
    char par[64];
    snprintf(par, sizeof par, "%s", parent);
    json_decref(kk_call(g_url, "SplitShard",
                        json_pack("{s:s,s:s,s:s}", "StreamName", "in", "ShardToSplit", par,
                                  "NewStartingHashKey", "85070591730234615865843651857942052864")));
    json_decref(ls);
    int active = 0;
    for (int64_t end = tu_now_ms() + 30000; !active && tu_now_ms() < end;) {
        json_t *d = kk_call(g_url, "DescribeStreamSummary", json_pack("{s:s}", "StreamName", "in"));
        const char *stt = json_string_value(
            json_object_get(json_object_get(d, "StreamDescriptionSummary"), "StreamStatus"));
        active = stt && !strcmp(stt, "ACTIVE");
        json_decref(d);
        if (!active)
            tu_sleep_ms(50);
    }
    cr_assert(active, "stream in is ACTIVE again within 30 s of the split");
    /* While the run goes on: a child's lease is never taken (counter > 0)
     * before its parent's checkpoint is SHARD_END. */
    int children = 0, parent_done = 0;
    for (int64_t end = tu_now_ms() + 90000; tu_now_ms() < end;) {
        view_t v = read_view();
        children = 0;
        parent_done = 0;
        for (int i = 0; i < v.n; i++)
            if (!strcmp(v.shard[i], par))
                parent_done = !strcmp(v.ckpt[i], "SHARD_END");
        for (int i = 0; i < v.n; i++) {
            if (!strstr(v.parents[i], par))
                continue;
            children++;
            cr_assert(v.counter[i] == 0 || parent_done,
                      "child %s leased (counter %lld) before its parent %s ended", v.shard[i],
                      (long long)v.counter[i], par);
        }
        if (children == 2 && parent_done)
            break;
        tu_sleep_ms(50);
    }
    if (children != 2 || !parent_done)
        dump_logs();
    cr_assert_eq(children, 2, "the children's leases were created within 90 s");
    cr_assert(parent_done, "the parent %s was read to its end (SHARD_END) within 90 s", par);
    fprintf(stderr, "split: parent ended, children listed, after %lld ms\n",
            (long long)(tu_now_ms() - t0));
    put_events("in", 200, 400); /* into the children (and the other shard) */
    size_t dups = wait_all(400, 1, 120000);
    fprintf(stderr, "split: all 400 out after %lld ms\n", (long long)(tu_now_ms() - t0));
    cr_assert_eq(dups, 0, "no lease moved while records were in flight: nothing twice");
    view_t v = read_view();
    int open = 0;
    for (int i = 0; i < v.n; i++)
        open += strcmp(v.ckpt[i], "SHARD_END") != 0;
    cr_assert_eq(open, 3, "the parent is finished; the other shard and two children are open");
    cr_assert_eq(held_by(&v, "w1") + held_by(&v, "w2"), 3);
    reap(w1, SIGTERM);
    reap(w2, SIGTERM);
    finish(&s);
}

/* A lease store that cannot be reached at start (DynamoDB on a port where
 * nothing listens) is retried for kinesis.checkpoints.timeout.ms, then the
 * binary exits 1 saying why, never reading a shard without its lease. */
Test(kin_workers, an_unreachable_lease_store_fails_the_start_with_exit_1)
{
    const char *tbin = getenv("SLUICE_TRIGGER_BIN");
    if (!tbin)
        cr_skip_test("SLUICE_TRIGGER_BIN is not set");
    kk_server_t s;
    start(&s, "changes:1", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9", 1);
    char log[128];
    snprintf(log, sizeof log, "%s/t.log", g_dir);
    char *argv[] = {(char *)tbin,
                    "--source",
                    "kinesis:changes",
                    "--sink",
                    "kinesis:out",
                    "--faults",
                    "kinesis:faults",
                    "--format",
                    "dynamodb",
                    "--entity",
                    "thing",
                    "-c",
                    "kinesis.lease.store=dynamodb:leases",
                    "-c",
                    "kinesis.checkpoints.timeout.ms=1000",
                    NULL};
    pid_t pid = tu_spawn(argv, log, environ);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    char *out = tu_slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit 1; output:\n%s", out);
    cr_assert(strstr(out, "cannot read the checkpoints of stream changes"), "%s", out);
    cr_assert(strstr(out, "127.0.0.1:9"), "the store's address: %s", out);
    free(out);
    finish(&s);
}
