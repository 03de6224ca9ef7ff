/* The Kinesis connector against kinesalite (npm, started by the tests on
 * 127.0.0.1) and, where the service must misbehave, through the
 * fault-injecting proxy in front of it: kinesalite enforces no throughput
 * limits, so throttling, partial PutRecords failures and expired iterators
 * are injected there (tests/kinesis/server). */
#include "kinesis_helpers.h"

#include "../../examples/view_count.h"

#include <sqlite3.h>
#include <stdatomic.h>

TestSuite(kinesis, .timeout = 240);

static char g_dir[64];

static sl_result_t copy(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    return sl_uow_set_output(u, NULL, 0, r->value, r->value_len) ? SL_RETRY : SL_OK;
}

static sl_processor_t *proc_kv(const char *app, const char *in, const char *out,
                               const char *const *extra);

/* A processor: kinesis @p in → copy → kinesis @p out, faults to kinesis "faults". */
static sl_processor_t *proc(const char *app, const char *in, const char *out, const char *extra_k,
                            const char *extra_v)
{
    const char *extra[] = {extra_k, extra_v, NULL};
    return proc_kv(app, in, out, extra);
}

/* proc() with any number of extra settings (key, value, ..., NULL). */
static sl_processor_t *proc_kv(const char *app, const char *in, const char *out,
                               const char *const *extra)
{
    const char *kv[] = {"retry.backoff.ms", "20", "retry.max", "20", NULL};
    return kk_processor(app, g_dir, in, out, "copy", copy, 1, kv, extra);
}

enum { NKEYS = 10 };

/* Events seq in [from, to), keys k0..k9 by turns; a few poison ones. */
static void put_events(const char *url, const char *stream, int from, int to, int poison_every)
{
    size_t n = (size_t)(to - from);
    char **vals = calloc(n, sizeof *vals), **keys = calloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        int seq = from + (int)i;
        keys[i] = malloc(16);
        vals[i] = malloc(160);
        snprintf(keys[i], 16, "k%d", seq % NKEYS);
        if (poison_every && seq % poison_every == poison_every - 1)
            snprintf(vals[i], 160, "{\"type\":\"e\",\"seq\":%d,", seq); /* broken JSON */
        else
            snprintf(vals[i], 160,
                     "{\"type\":\"e\",\"id\":\"e%d\",\"partitionKey\":\"k%d\",\"seq\":%d,"
                     "\"timestamp\":%d}",
                     seq, seq % NKEYS, seq, 1000 + seq);
    }
    kk_put(url, stream, (const char *const *)keys, (const char *const *)vals, n);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
}

/* Wait until @p stream holds at least @p want records; returns them. */
/* The records of @p stream once every seq in [0, @p n) is among them (each
 * at least once), or after a minute. A count of records is not enough:
 * duplicates (retried PutRecords entries) can reach it while the processor
 * has not read every input yet. */
static json_t *wait_all_seqs(const char *url, const char *stream, int n)
{
    json_t *all = NULL;
    char *seen = calloc((size_t)n, 1);
    cr_assert(seen);
    for (int64_t end = tu_now_ms() + 60000; tu_now_ms() < end;) {
        json_decref(all);
        all = kk_read_all(url, stream);
        memset(seen, 0, (size_t)n);
        int distinct = 0;
        size_t i;
        json_t *r;
        json_array_foreach(all, i, r)
        {
            json_t *ev = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
            json_int_t seq = ev ? json_integer_value(json_object_get(ev, "seq")) : -1;
            if (seq >= 0 && seq < n && !seen[seq]) {
                seen[seq] = 1;
                distinct++;
            }
            json_decref(ev);
        }
        if (distinct == n)
            break;
        tu_sleep_ms(200);
    }
    free(seen);
    return all;
}

static json_t *wait_records(const char *url, const char *stream, size_t want)
{
    json_t *all = kk_wait_records(url, stream, want);
    if (json_array_size(all) >= want)
        return all;
    cr_assert_fail("%s holds %zu records, want %zu", stream, json_array_size(all), want);
    return NULL;
}

/* Per key, the last copy of each seq must come in increasing seq order, and
 * every seq in [0, n) but the poison ones must be there. Returns duplicates. */
static size_t check_order(json_t *recs, int n, int poison_every)
{
    int *last = calloc((size_t)n, sizeof *last);
    size_t dups = 0;
    size_t i;
    json_t *r;
    /* position of the last copy of each seq */
    json_array_foreach(recs, i, r)
    {
        json_t *ev = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
        cr_assert(ev, "output is the JSON event");
        int seq = (int)json_integer_value(json_object_get(ev, "seq"));
        cr_assert(seq >= 0 && seq < n);
        if (last[seq])
            dups++;
        last[seq] = (int)i + 1;
        json_decref(ev);
    }
    for (int s = 0; s < n; s++) {
        int poison = poison_every && s % poison_every == poison_every - 1;
        cr_assert_eq(last[s] != 0, !poison, "seq %d %s", s, poison ? "is poison" : "missing");
    }
    for (int k = 0; k < NKEYS; k++) {
        int prev = 0;
        for (int s = k; s < n; s += NKEYS) {
            if (!last[s])
                continue;
            cr_assert_gt(last[s], prev, "key k%d: seq %d's last copy comes before an earlier one",
                         k, s);
            prev = last[s];
        }
    }
    free(last);
    return dups;
}

static void setup_dir(void)
{
    tu_mkdtemp(g_dir, sizeof g_dir, "sluice-kt");
}

static void rm_dir(void)
{
    cr_assert_eq(tu_rmtree(g_dir), 0);
}

enum endpoint_e { NO_ENDPOINT, TO_KINESALITE, TO_PROXY };

/* Every test's start: its own directory, kinesalite (and the proxy) with
 * the streams that follow ("name:shards", ..., NULL), the processors'
 * endpoint set (kk_env) to kinesalite or the proxy, or left alone;
 * returns the server... */
static kk_server_t begin(enum endpoint_e to, ...)
{
    const char *streams[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, to);
    while (n < 7 && (streams[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    streams[n] = NULL;
    kk_server_t s;
    setup_dir();
    kk_start(&s, streams);
    if (to != NO_ENDPOINT)
        kk_env(to == TO_PROXY ? s.proxy : s.kinesalite);
    return s;
}

/* ... and its end. */
static void finish(kk_server_t *s)
{
    kk_stop(s);
    rm_dir();
}

static int64_t count_checkpoints(const char *app)
{
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoints.db", g_dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT count(*) FROM checkpoints WHERE application = ?1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

Test(kinesis, round_trip_over_two_shards_with_poison_and_a_restart_from_the_checkpoint)
{
    kk_server_t s = begin(TO_KINESALITE, "in:2", "out:2", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 300, 50);

    kk_run_t r;
    kk_run(&r, proc("app", "in", "out", "log.level", "info"));
    json_t *out = wait_records(s.kinesalite, "out", 294);
    json_t *faults = wait_records(s.kinesalite, "faults", 6);
    cr_assert_eq(kk_stop_run(&r), 0, "the drain completed");
    cr_assert_eq(check_order(out, 300, 50), 0, "a clean run writes no duplicate");
    cr_assert_eq(json_array_size(faults), 6);
    json_t *f =
        json_loads(json_string_value(json_object_get(json_array_get(faults, 0), "value")), 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "fault");
    json_t *rec = json_object_get(json_object_get(f, "uow"), "record");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "in");
    cr_assert(json_is_string(json_object_get(rec, "value")), "the original bytes");
    cr_assert(json_string_length(json_object_get(rec, "position")) > 20,
              "the record's sequence number");
    json_decref(f);
    cr_assert_eq(count_checkpoints("app"), 2, "one checkpoint per shard");
    json_decref(out);
    json_decref(faults);

    /* A restart resumes after the checkpoints: only the new records. */
    put_events(s.kinesalite, "in", 300, 400, 50);
    kk_run(&r, proc("app", "in", "out", "log.level", "info"));
    out = wait_records(s.kinesalite, "out", 392);
    tu_sleep_ms(500); /* anything read twice would show up by now */
    cr_assert_eq(kk_stop_run(&r), 0);
    json_decref(out);
    out = kk_read_all(s.kinesalite, "out");
    cr_assert_eq(check_order(out, 400, 50), 0, "nothing read twice after a clean stop");
    cr_assert_eq(json_array_size(out), 392);
    faults = kk_read_all(s.kinesalite, "faults");
    cr_assert_eq(json_array_size(faults), 8, "each poison record faulted once");
    json_decref(faults);
    json_decref(out);
    finish(&s);
}

Test(kinesis, a_parent_shard_is_read_to_its_end_before_its_children)
{
    kk_server_t s = begin(TO_KINESALITE, "in:1", "out:2", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 150, 0);
    json_t *ls = kk_call(s.kinesalite, "ListShards", json_pack("{s:s}", "StreamName", "in"));
    const char *parent = json_string_value(
        json_object_get(json_array_get(json_object_get(ls, "Shards"), 0), "ShardId"));
    json_decref(
        kk_call(s.kinesalite, "SplitShard",
                json_pack("{s:s,s:s,s:s}", "StreamName", "in", "ShardToSplit", parent,
                          "NewStartingHashKey", "170141183460469231731687303715884105728")));
    json_decref(ls);
    for (int i = 0; i < 100; i++) { /* ACTIVE again (updateStreamMs is 0) */
        json_t *d =
            kk_call(s.kinesalite, "DescribeStreamSummary", json_pack("{s:s}", "StreamName", "in"));
        const char *st = json_string_value(
            json_object_get(json_object_get(d, "StreamDescriptionSummary"), "StreamStatus"));
        int active = st && !strcmp(st, "ACTIVE");
        json_decref(d);
        if (active)
            break;
        tu_sleep_ms(50);
    }
    put_events(s.kinesalite, "in", 150, 300, 0); /* into the children */
    kk_run_t r;
    kk_run(&r, proc("split", "in", "out", "log.level", "info"));
    json_t *out = wait_records(s.kinesalite, "out", 300);
    cr_assert_eq(kk_stop_run(&r), 0);
    check_order(out, 300, 0);
    json_decref(out);
    cr_assert_eq(count_checkpoints("split"), 3, "the parent (SHARD_END) and two children");
    finish(&s);
}

Test(kinesis, throttling_partial_failures_and_expired_iterators_lose_nothing_and_keep_key_order)
{
    kk_server_t s = begin(NO_ENDPOINT, "in:2", "out:2", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 400, 0);
    kk_env(s.proxy); /* the processor talks to the proxy */
    kk_faults(&s, "{\"throttle\":{\"GetRecords\":4,\"PutRecords\":1},"
                  "\"putRecordsFailures\":{\"every\":2,\"indexes\":[0],\"calls\":4},"
                  "\"expiredIterator\":1}");
    int64_t t0 = tu_now_ms();
    kk_run_t r;
    kk_run(&r, proc("faulty", "in", "out", "kinesis.poll.interval.ms", "200"));
    json_t *out = wait_all_seqs(s.kinesalite, "out", 400);
    int64_t secs = (tu_now_ms() - t0) / 1000 + 1;
    cr_assert_eq(kk_stop_run(&r), 0);
    size_t dups = check_order(out, 400, 0);
    json_t *st = kk_stats(&s);
    json_t *gr = json_object_get(st, "GetRecords"), *pr = json_object_get(st, "PutRecords");
    cr_assert_eq(json_integer_value(json_object_get(gr, "throttled")), 4);
    cr_assert_eq(json_integer_value(json_object_get(gr, "expiredIterator")), 1);
    cr_assert_gt(json_integer_value(json_object_get(pr, "failedEntries")), 0);
    /* Within 5 calls/s per shard (poll interval 200 ms), with slack for the
     * first calls and the backoffs that replace some. */
    json_int_t calls = json_integer_value(json_object_get(gr, "calls"));
    cr_assert_leq(calls, (json_int_t)(secs * 5 * 2 + 4), "%lld GetRecords in %llds",
                  (long long)calls, (long long)secs);
    json_int_t failed = json_integer_value(json_object_get(pr, "failedEntries"));
    fprintf(stderr,
            "faulty run: %lld GetRecords in %llds, %lld PutRecords entries failed, %zu "
            "duplicates in the output\n",
            (long long)calls, (long long)secs, (long long)failed, dups);
    /* Nothing here stores a record twice: a throttled call is answered by
     * the proxy without storing anything, a failed entry is really not
     * stored, an expired iterator is renewed after the last record read,
     * and no transport error is injected. So only failed entries are
     * written again, and no record may be in the output twice (the sink
     * used to write a failed entry's later events of the same key again
     * behind it: 145-188 duplicates of 400). */
    cr_assert_eq(dups, 0, "%zu duplicates in the output (%lld entries failed)", dups,
                 (long long)failed);
    json_decref(st);
    json_decref(out);
    finish(&s);
}

/* A partial PutRecords failure (the proxy's putRecordsFailures: a mock of
 * the service's per-entry ProvisionedThroughputExceeded, which kinesalite
 * never answers; the failed entries are really not stored) fails a known
 * subset: indexes 0, 2, 5, 8, ... of the first three calls. The keys
 * repeat (k0..k9), so a failed entry has later entries of its key behind it
 * (in the same call, when the sink puts them there). No
 * transport error is injected, so every record must reach the stream exactly
 * once, in key order, and the proxy must receive each record once plus once
 * per failed entry: only failed entries are written again. */
Test(kinesis, a_partial_put_records_failure_resends_only_the_failed_entries)
{
    enum { N = 200 };
    kk_server_t s = begin(NO_ENDPOINT, "in:1", "out:1", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, N, 0);
    kk_env(s.proxy);
    kk_faults(&s, "{\"putRecordsFailures\":{\"every\":3,\"indexes\":[0],\"calls\":3}}");
    kk_run_t r;
    kk_run(&r, proc("partial", "in", "out", "log.level", "warn"));
    json_t *out = wait_all_seqs(s.kinesalite, "out", N);
    tu_sleep_ms(500); /* a late re-send would show up by now */
    cr_assert_eq(kk_stop_run(&r), 0);
    json_decref(out);
    out = kk_read_all(s.kinesalite, "out");
    size_t dups = check_order(out, N, 0);
    json_t *st = kk_stats(&s), *pr = json_object_get(st, "PutRecords");
    json_int_t failed = json_integer_value(json_object_get(pr, "failedEntries"));
    json_int_t entries = json_integer_value(json_object_get(pr, "entries"));
    cr_assert_gt(failed, 0, "the proxy failed entries");
    cr_assert_eq(dups, 0, "%zu duplicates in the output (%lld entries failed)", dups,
                 (long long)failed);
    cr_assert_eq(json_array_size(out), (size_t)N);
    cr_assert_eq(entries, N + failed,
                 "the proxy got %lld entries for %d records and %lld failed entries",
                 (long long)entries, N, (long long)failed);
    json_t *faults = kk_read_all(s.kinesalite, "faults");
    cr_assert_eq(json_array_size(faults), 0, "nothing faulted");
    json_decref(faults);
    json_decref(st);
    json_decref(out);
    finish(&s);
}

/* One partition key, so one entry per call (the sink writes a key's events
 * one at a time). The proxy fails the only entry of the first three calls
 * (putRecordsFailures, the mock of a per-entry failure): with retry.max 2
 * that is seq 0 written three times, then a fault (SL_ERETRIES, as the
 * engine's retry limit), and only then the key goes on, in order, each
 * record once. */
Test(kinesis, an_entry_failing_past_retry_max_becomes_a_fault_and_its_key_goes_on_in_order)
{
    enum { N = 30 };
    kk_server_t s = begin(NO_ENDPOINT, "in:1", "out:1", "faults:1", NULL);
    char *keys[N], *vals[N];
    for (int i = 0; i < N; i++) {
        keys[i] = strdup("one");
        vals[i] = malloc(128);
        snprintf(vals[i], 128, "{\"type\":\"e\",\"id\":\"e%d\",\"seq\":%d}", i, i);
    }
    kk_put(s.kinesalite, "in", (const char *const *)keys, (const char *const *)vals, N);
    for (int i = 0; i < N; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    kk_env(s.proxy);
    kk_faults(&s, "{\"putRecordsFailures\":{\"indexes\":[0],\"calls\":3}}");
    const char *extra[] = {
        "retry.max", "2", "retry.backoff.ms", "5", "retry.backoff.max.ms", "20", "log.level",
        "warn",      NULL};
    kk_run_t r;
    kk_run(&r, proc_kv("exhaust", "in", "out", extra));
    json_t *out = wait_records(s.kinesalite, "out", N - 1);
    json_t *faults = wait_records(s.kinesalite, "faults", 1);
    tu_sleep_ms(500); /* a late re-send would show up by now */
    cr_assert_eq(kk_stop_run(&r), 0);
    json_decref(out);
    json_decref(faults);
    out = kk_read_all(s.kinesalite, "out");
    faults = kk_read_all(s.kinesalite, "faults");
    cr_assert_eq(json_array_size(out), (size_t)N - 1,
                 "%zu records in the output, want seq 1..%d once each", json_array_size(out),
                 N - 1);
    size_t i;
    json_t *rec;
    json_array_foreach(out, i, rec)
    {
        json_t *ev = json_loads(json_string_value(json_object_get(rec, "value")), 0, NULL);
        cr_assert(ev);
        cr_assert_eq(json_integer_value(json_object_get(ev, "seq")), (json_int_t)i + 1,
                     "record %zu of the output", i);
        json_decref(ev);
    }
    cr_assert_eq(json_array_size(faults), 1);
    json_t *f =
        json_loads(json_string_value(json_object_get(json_array_get(faults, 0), "value")), 0, NULL);
    cr_assert(f);
    json_t *err = json_object_get(f, "err");
    cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_ERETRIES");
    const char *msg = json_string_value(json_object_get(err, "message"));
    cr_assert(msg && strstr(msg, "retry limit (2) reached") && strstr(msg, "Rate exceeded"), "%s",
              msg ? msg : "(no message)");
    json_t *ev = json_object_get(json_object_get(f, "uow"), "event");
    cr_assert(ev, "the fault holds the event");
    cr_assert_eq(json_integer_value(json_object_get(ev, "seq")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(f, "uow"), "attempts")), 3,
                 "its three writes count as its attempts");
    json_decref(f);
    json_t *st = kk_stats(&s);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(st, "PutRecords"), "failedEntries")), 3,
        "seq 0 failed three times (the first write and two retries)");
    json_decref(st);
    json_decref(faults);
    json_decref(out);
    finish(&s);
}

/* ---- the service binaries over Kinesis ---- */

static pid_t spawn_bin(char *const argv[], const char *log)
{
    return tu_spawn(argv, log, environ);
}

/* Runs the processor binary of @p argv, which must fail at start: its
 * output (log file @p log; the caller frees it) once it exited with 1. */
static char *fails_to_start(char *const argv[], const char *log)
{
    pid_t pid = spawn_bin(argv, log);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    char *out = tu_slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit 1; output:\n%s", out);
    return out;
}

static int stop_bin(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    for (int64_t end = tu_now_ms() + 30000; tu_now_ms() < end;) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        tu_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static int64_t view_rows(const char *db, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM things %s", where);
    return view_count(db, sql);
}

Test(kinesis, the_trigger_and_the_listener_run_over_kinesis)
{
    const char *tbin = getenv("SLUICE_TRIGGER_BIN"), *lbin = getenv("SLUICE_LISTENER_BIN");
    if (!tbin || !lbin)
        cr_skip_test("SLUICE_TRIGGER_BIN / SLUICE_LISTENER_BIN are not set");
    kk_server_t s = begin(TO_KINESALITE, "changes:2", "events:2", "faults:1", NULL);
    enum { THINGS = 20, VERSIONS = 3 };
    char *keys[THINGS * VERSIONS + 1], *vals[THINGS * VERSIONS + 1];
    size_t n = 0;
    for (int v = 1; v <= VERSIONS; v++)
        for (int i = 0; i < THINGS; i++, n++) {
            keys[n] = malloc(16);
            vals[n] = malloc(400);
            snprintf(keys[n], 16, "thing-%d", i);
            const char *op = v == 1 ? "INSERT" : (v == 3 && i % 5 == 0) ? "REMOVE" : "MODIFY";
            snprintf(vals[n], 400,
                     "{\"eventName\":\"%s\",\"eventSource\":\"aws:dynamodb\",\"dynamodb\":{"
                     "\"ApproximateCreationDateTime\":%d,\"Keys\":{\"id\":{\"S\":\"thing-%d\"}},"
                     "\"%s\":{\"id\":{\"S\":\"thing-%d\"},\"v\":{\"N\":\"%d\"}},"
                     "\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
                     op, 1767225600 + v * 10 + i, i, strcmp(op, "REMOVE") ? "NewImage" : "OldImage",
                     i, v);
        }
    keys[n] = strdup("bad");
    vals[n] = strdup("{\"eventName\":\"INSERT\"}");
    n++;
    kk_put(s.kinesalite, "changes", (const char *const *)keys, (const char *const *)vals, n);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    tu_files_t fl;
    tu_files(&fl, g_dir, "things");
    const char *tlog = fl.tlog, *llog = fl.llog, *db = fl.db, *view = fl.view;
    tu_cmd_t targv_c;
    char **targv = tu_cmd(
        &targv_c, tbin,
        "--source kinesis:changes --sink kinesis:events --faults kinesis:faults --format dynamodb "
        "--entity thing -c kinesis.checkpoints=sqlite:%s/t.db -c kinesis.poll.interval.ms=50",
        g_dir);
    tu_cmd_t largv_c;
    char **largv = tu_cmd(&largv_c, lbin,
                          "--source kinesis:events --faults kinesis:faults --key /thing/id --view "
                          "%s -c kinesis.checkpoints=sqlite:%s/l.db -c kinesis.poll.interval.ms=50",
                          view, g_dir);
    pid_t tp = spawn_bin(targv, tlog), lp = spawn_bin(largv, llog);
    int64_t live = THINGS - THINGS / 5, gone = -1, end = tu_now_ms() + 60000;
    int64_t rows = -1, v3 = -1;
    while (tu_now_ms() < end) {
        rows = view_rows(db, "");
        v3 = view_rows(db, "WHERE json_extract(entity, '$.v') = 3");
        gone = view_rows(db, "WHERE key IN (SELECT key FROM things_deleted)");
        if (rows == live && v3 == live && gone == 0)
            break;
        tu_sleep_ms(200);
    }
    cr_assert_eq(rows, live, "live things in the view");
    cr_assert_eq(v3, live, "each at its newest version");
    json_t *faults = wait_records(s.kinesalite, "faults", 1);
    cr_assert_eq(json_array_size(faults), 1, "the malformed change record");
    json_decref(faults);
    cr_assert_eq(stop_bin(tp), 0, "the trigger drains");
    cr_assert_eq(stop_bin(lp), 0, "the listener drains");
    finish(&s);
}

Test(kinesis, an_unreachable_endpoint_or_a_missing_stream_fails_clearly_and_no_secret_is_logged)
{
    const char *tbin = getenv("SLUICE_TRIGGER_BIN");
    if (!tbin)
        cr_skip_test("SLUICE_TRIGGER_BIN is not set");
    kk_server_t s = begin(NO_ENDPOINT, "changes:1", NULL);
    const char *secret = "wJalrXUtnFEMI-this-must-never-be-logged";
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    setenv("AWS_SESSION_TOKEN", "token-that-must-never-be-logged", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    struct {
        const char *endpoint, *stream, *says;
    } cases[] = {
        {"http://127.0.0.1:1", "kinesis:changes", "cannot reach the Kinesis endpoint"},
        {s.kinesalite, "kinesis:nope", "ResourceNotFoundException"},
    };
    for (size_t i = 0; i < 2; i++) {
        setenv("AWS_ENDPOINT_URL_KINESIS", cases[i].endpoint, 1);
        char log[128];
        snprintf(log, sizeof log, "%s/t%zu.log", g_dir, i);
        tu_cmd_t argv_c;
        char **argv = tu_cmd(&argv_c, tbin,
                             "--source %s --sink kinesis:changes --faults kinesis:changes --format "
                             "dynamodb --entity thing -c kinesis.checkpoints=sqlite:%s/c.db -c "
                             "source.connect.timeout.ms=1500 -c log.level=debug",
                             cases[i].stream, g_dir);
        char *out = fails_to_start(argv, log);
        cr_assert(strstr(out, cases[i].says), "says \"%s\":\n%s", cases[i].says, out);
        cr_assert_null(strstr(out, secret), "the secret key is not logged");
        cr_assert_null(strstr(out, "token-that-must-never"), "the session token is not logged");
        free(out);
    }
    unsetenv("AWS_SESSION_TOKEN");
    finish(&s);
}

/* ---- checkpoints that cannot be read, records that are not whole ---- */

/* Hold the checkpoint database the way another process could: exclusive
 * locking mode and a write transaction, so that no other connection can
 * even read it. */
static sqlite3 *lock_checkpoints(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoints.db", g_dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; "
                              "UPDATE checkpoints SET updated_at = updated_at",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    return h;
}

/* "shard=sequence;..." of every checkpoint, in shard order. */
static char *dump_checkpoints(sqlite3 *h)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT shard, sequence FROM checkpoints ORDER BY shard", -1,
                                    &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    char *out = calloc(1, 4096);
    size_t o = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        o += (size_t)snprintf(out + o, 4096 - o, "%s=%s;", sqlite3_column_text(st, 0),
                              sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return out;
}

/* Wait for a run to end by itself; returns sl_processor_run()'s result. */
static int wait_run_end(kk_run_t *r, int timeout_ms)
{
    int64_t end = tu_now_ms() + timeout_ms;
    while (__atomic_load_n(&r->rc, __ATOMIC_SEQ_CST) == -999 && tu_now_ms() < end)
        tu_sleep_ms(50);
    int rc = __atomic_load_n(&r->rc, __ATOMIC_SEQ_CST);
    cr_assert_neq(rc, -999, "the processor kept running");
    pthread_join(r->th, NULL);
    sl_processor_destroy(r->p);
    return rc;
}

/* Stops the processor of @p r (its drain completes) and checks that "out"
 * holds records [0, @p n), each once, in key order (@p why says why). */
static void stop_and_check_all(kk_server_t *s, kk_run_t *r, size_t n, const char *why)
{
    cr_assert_eq(kk_stop_run(r), 0);
    json_t *out = kk_read_all(s->kinesalite, "out");
    cr_assert_eq(check_order(out, (int)n, 0), 0, "%s", why);
    cr_assert_eq(json_array_size(out), n);
    json_decref(out);
}

/* Records [0, 100) of "in" through processor "app" to "out", against
 * kinesalite; the processor keeps running in @p r. */
static void first_100(kk_server_t *s, kk_run_t *r)
{
    put_events(s->kinesalite, "in", 0, 100, 0);
    kk_run(r, proc("app", "in", "out", "log.level", "info"));
    json_decref(wait_records(s->kinesalite, "out", 100));
}

/* A checkpoint that cannot be read is never taken as "none" (with LATEST
 * that would skip every record put while the processor was down): held
 * past kinesis.checkpoints.timeout.ms, the start fails and changes nothing;
 * held for a while, the start waits for it; either way every record is
 * processed, once. */
Test(kinesis, a_locked_checkpoint_store_fails_or_delays_the_start_and_latest_skips_nothing)
{
    kk_server_t s = begin(TO_KINESALITE, "in:2", "out:2", "faults:1", NULL);
    kk_run_t r;
    first_100(&s, &r);
    cr_assert_eq(kk_stop_run(&r), 0);
    cr_assert_eq(count_checkpoints("app"), 2);

    /* Down: more records come. Then the store is locked across a start that
     * gives up after 1 s. */
    put_events(s.kinesalite, "in", 100, 150, 0);
    sqlite3 *h = lock_checkpoints();
    char *before = dump_checkpoints(h);
    const char *give_up[] = {"kinesis.iterator", "LATEST", "kinesis.checkpoints.timeout.ms", "1000",
                             NULL};
    kk_run(&r, proc_kv("app", "in", "out", give_up));
    put_events(s.kinesalite, "in", 150, 200, 0); /* records keep coming */
    int rc = wait_run_end(&r, 60000);
    cr_assert_eq(rc, SL_EBUSY, "the start fails: %s", sl_err_name(rc));
    char *after = dump_checkpoints(h);
    cr_assert_str_eq(after, before, "the checkpoints are untouched");
    free(after);
    json_t *out = kk_read_all(s.kinesalite, "out");
    cr_assert_eq(json_array_size(out), 100, "nothing was read");
    json_decref(out);

    /* Locked again across a start that may wait: released after 3 s. */
    const char *latest[] = {"kinesis.iterator", "LATEST", NULL};
    kk_run(&r, proc_kv("app", "in", "out", latest));
    put_events(s.kinesalite, "in", 200, 250, 0);
    tu_sleep_ms(3000);
    cr_assert_eq(__atomic_load_n(&r.rc, __ATOMIC_SEQ_CST), -999, "still starting");
    sqlite3_close(h);
    out = wait_records(s.kinesalite, "out", 250);
    json_decref(out);
    tu_sleep_ms(500); /* anything read twice would show up by now */
    stop_and_check_all(&s, &r, 250, "every record once, in key order");
    free(before);
    finish(&s);
}

/* The err.message of every fault event in @p faults holding @p what. */
static size_t faults_saying(json_t *faults, const char *what, int with_position)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(faults, i, r)
    {
        json_t *f = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
        cr_assert(f);
        const char *msg = json_string_value(json_object_get(json_object_get(f, "err"), "message"));
        json_t *rec = json_object_get(json_object_get(f, "uow"), "record");
        if (msg && strstr(msg, what)) {
            n++;
            cr_assert_eq(json_object_get(rec, "position") != NULL, with_position, "%s", msg);
        }
        json_decref(f);
    }
    return n;
}

/* A record without SequenceNumber or Data (a broken service, here the
 * proxy) is a fault, not a log line; one without a sequence number does
 * not move the checkpoint, so when it was the last one read, a restart
 * reads it again (and now whole) rather than losing it. */
Test(kinesis, records_without_data_or_sequence_number_are_faults_and_keep_the_checkpoint_order)
{
    kk_server_t s = begin(TO_PROXY, "in:1", "out:1", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 40, 0);
    /* Records 9, 19, 29, 39 of the first answer lose their sequence number. */
    kk_faults(&s, "{\"recordsMissing\": {\"field\": \"SequenceNumber\", \"every\": 10}}");
    const char *limit[] = {"kinesis.records.limit", "1000", NULL};
    kk_run_t r;
    kk_run(&r, proc_kv("app", "in", "out", limit));
    json_t *out = wait_records(s.kinesalite, "out", 36);
    json_t *faults = wait_records(s.kinesalite, "faults", 4);
    cr_assert_eq(kk_stop_run(&r), 0);
    cr_assert_eq(faults_saying(faults, "without SequenceNumber", 0), 4);
    json_decref(faults);
    json_decref(out);

    /* The last record read had no sequence number: the checkpoint is the
     * one before it, and a restart reads it again. Every fifth record of
     * that answer (39 to 59) then comes without Data. */
    put_events(s.kinesalite, "in", 40, 60, 0);
    kk_faults(&s, "{\"recordsMissing\": {\"field\": \"Data\", \"every\": 5}}");
    kk_run(&r, proc_kv("app", "in", "out", limit));
    out = wait_records(s.kinesalite, "out", 37 + 16);
    faults = wait_records(s.kinesalite, "faults", 8);
    tu_sleep_ms(500);
    cr_assert_eq(kk_stop_run(&r), 0);
    json_decref(out);
    json_decref(faults);
    out = kk_read_all(s.kinesalite, "out");
    faults = kk_read_all(s.kinesalite, "faults");
    cr_assert_eq(json_array_size(out), 37 + 16, "record 39 once, after the restart");
    cr_assert_eq(json_array_size(faults), 8);
    cr_assert_eq(faults_saying(faults, "without Data", 1), 4);
    size_t i;
    json_t *rec;
    int seen39 = 0;
    json_array_foreach(out, i, rec)
    {
        seen39 += strstr(json_string_value(json_object_get(rec, "value")), "\"seq\":39,") != NULL;
    }
    cr_assert_eq(seen39, 1);
    json_decref(out);
    json_decref(faults);
    finish(&s);
}

static int64_t max_limit(const kk_server_t *s)
{
    json_t *st = kk_stats(s);
    int64_t v = json_integer_value(json_object_get(json_object_get(st, "GetRecords"), "maxLimit"));
    json_decref(st);
    return v;
}

/* memory.max.bytes bounds what one GetRecords answer may hold: with the
 * smallest budget (1 MiB, a quarter for the source) the source asks for far
 * fewer than kinesis.records.limit's 10000 records per call, and still reads
 * everything; a kinesis.records.limit set explicitly wins. */
Test(kinesis, the_memory_budget_bounds_the_records_asked_per_call)
{
    setup_dir();
    kk_server_t s;
    const char *streams[] = {"in:1", "out:1", "faults:1", NULL};
    kk_start(&s, streams);
    kk_env(s.proxy);
    put_events(s.kinesalite, "in", 0, 400, 0);
    const char *tiny[] = {"memory.max.bytes", "1m", NULL};
    kk_run_t r;
    kk_run(&r, proc_kv("app", "in", "out", tiny));
    json_decref(wait_records(s.kinesalite, "out", 400));
    cr_assert_eq(kk_stop_run(&r), 0);
    int64_t asked = max_limit(&s);
    cr_assert(asked >= 1 && asked < 1000, "at most %lld records asked per call", (long long)asked);

    put_events(s.kinesalite, "in", 400, 500, 0);
    const char *explicit_limit[] = {"memory.max.bytes", "1m", "kinesis.records.limit", "5000",
                                    NULL};
    kk_run(&r, proc_kv("app", "in", "out", explicit_limit));
    json_decref(wait_records(s.kinesalite, "out", 500));
    cr_assert_eq(kk_stop_run(&r), 0);
    cr_assert_eq(max_limit(&s), 5000, "the explicit kinesis.records.limit is asked for");
    json_t *faults = kk_read_all(s.kinesalite, "faults");
    cr_assert_eq(json_array_size(faults), 0);
    json_decref(faults);
    kk_stop(&s);
    rm_dir();
}

/* Checkpoint writes that fail (another writer holds the database past the
 * busy timeout, twice) are retried until they land: a restart after a
 * clean stop then reads nothing twice. */
Test(kinesis, a_failed_checkpoint_write_is_retried)
{
    kk_server_t s = begin(TO_KINESALITE, "in:2", "out:2", "faults:1", NULL);
    kk_run_t r;
    first_100(&s, &r);

    /* A writer holds the checkpoints for 12 s while 100 more records are
     * read and done. */
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoints.db", g_dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(h));
    put_events(s.kinesalite, "in", 100, 200, 0);
    json_t *out = wait_records(s.kinesalite, "out", 200);
    json_decref(out);
    tu_sleep_ms(12000);
    cr_assert_eq(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    tu_sleep_ms(7000); /* a retry lands (each attempt may wait 5 s for the lock) */
    cr_assert_eq(kk_stop_run(&r), 0);

    kk_run(&r, proc("app", "in", "out", "log.level", "info"));
    tu_sleep_ms(3000); /* records read again would be written by now */
    stop_and_check_all(&s, &r, 200, "the restart read nothing twice");
    finish(&s);
}

/* A checkpoint store that is not a database cannot be read: the service
 * does not start (exit 1, with the reason), rather than start every shard
 * from kinesis.iterator; nothing is retried, as waiting cannot help. */
Test(kinesis, a_corrupt_checkpoint_store_fails_the_start_with_exit_1)
{
    const char *tbin = getenv("SLUICE_TRIGGER_BIN");
    if (!tbin)
        cr_skip_test("SLUICE_TRIGGER_BIN is not set");
    kk_server_t s = begin(TO_KINESALITE, "changes:1", "events:1", NULL);
    char path[128], log[128];
    snprintf(path, sizeof path, "%s/checkpoints.db", g_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < 64; i++)
        fputs("this is not an SQLite database, whatever its name says\n", f);
    fclose(f);
    snprintf(log, sizeof log, "%s/t.log", g_dir);
    tu_cmd_t argv_c;
    char **argv = tu_cmd(&argv_c, tbin,
                         "--source kinesis:changes --sink kinesis:events --faults kinesis:events "
                         "--format dynamodb --entity thing -c kinesis.checkpoints=sqlite:%s -c "
                         "kinesis.iterator=LATEST",
                         path);
    char *out = fails_to_start(argv, log);
    cr_assert(strstr(out, "cannot read the checkpoints of stream changes"), "%s", out);
    cr_assert(strstr(out, "not a database"), "the reason: %s", out);
    free(out);
    finish(&s);
}

/* sl_kinesis_put_sync (sluice-faults resubmit) with a partial failure: the
 * proxy fails entry 0 of the first PutRecords (really not stored). Every
 * record has the same key, so a call that held more than one of them would
 * store the later ones while the failed first one goes again behind them:
 * the key's records out of order. Each must be stored once, in order. */
Test(kinesis, put_sync_keeps_a_keys_order_across_a_partial_failure)
{
    enum { N = 12 };
    kk_server_t s = begin(TO_PROXY, "out:1", NULL);
    kk_faults(&s, "{\"putRecordsFailures\":{\"indexes\":[0],\"calls\":1}}");
    char err[512];
    sl_conf_t *c = sl_conf_new();
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    sl_kinesis_msg_t msgs[N];
    char vals[N][16];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "v%02d", i);
        msgs[i] = (sl_kinesis_msg_t){
            .key = "k", .key_len = 1, .value = vals[i], .value_len = strlen(vals[i])};
    }
    cr_assert_eq(sl_kinesis_put_sync(p, "out", msgs, N, 0, NULL, NULL, err, sizeof err), 0, "%s",
                 err);
    sl_processor_destroy(p);
    for (int i = 0; i < N; i++)
        cr_assert_eq(msgs[i].err, 0, "record %d", i);
    json_t *st = kk_stats(&s);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(st, "PutRecords"), "failedEntries")), 1,
        "the proxy failed one entry");
    json_decref(st);
    json_t *out = kk_read_all(s.kinesalite, "out");
    cr_assert_eq(json_array_size(out), (size_t)N, "%zu records stored", json_array_size(out));
    for (size_t i = 0; i < N; i++) {
        const char *v = json_string_value(json_object_get(json_array_get(out, i), "value"));
        cr_assert(v && !strcmp(v, vals[i]), "record %zu of the stream is %s, want %s", i,
                  v ? v : "(none)", vals[i]);
    }
    json_decref(out);
    finish(&s);
}

/* A writer that keeps a stream busy (records of 50 a call) until told to
 * stop or 30 s have passed. */
typedef struct {
    const char *url;
    atomic_int stop, done;
} busy_writer_t;

static void *busy_write(void *arg)
{
    busy_writer_t *w = arg;
    const char *keys[50], *vals[50];
    for (int i = 0; i < 50; i++)
        keys[i] = "k", vals[i] = "{\"type\":\"busy\"}";
    for (int64_t end = tu_now_ms() + 30000; !atomic_load(&w->stop) && tu_now_ms() < end;)
        kk_put(w->url, "busy", keys, vals, 50);
    atomic_store(&w->done, 1);
    return NULL;
}

static int count_rec(void *opaque, const sl_record_t *rec)
{
    (void)rec;
    (*(size_t *)opaque)++;
    return 0;
}

/* sl_kinesis_scan reads a stream to its end at the time of the call: on a
 * stream written to all along (GetRecords never comes back empty) it must
 * still return, not follow the writes for as long as they go on. */
Test(kinesis, scan_returns_while_the_stream_is_still_written)
{
    kk_server_t s = begin(TO_KINESALITE, "busy:1", NULL);
    busy_writer_t w = {.url = s.kinesalite};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, busy_write, &w), 0);
    tu_sleep_ms(300); /* the writes are under way */
    char err[512];
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_set(c, "kinesis.poll.interval.ms", "50", err, sizeof err), 0, "%s", err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    size_t n = 0;
    int rc = sl_kinesis_scan(p, "busy", 0, count_rec, &n, err, sizeof err);
    int writer_done = atomic_load(&w.done);
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    sl_processor_destroy(p);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_gt(n, 0);
    cr_assert_not(writer_done, "the scan of %zu records returned only once the writes stopped", n);
    finish(&s);
}

/* A sluice envelope by hand (layout in lib/kinesis/envelope.h): key mode
 * 0, one header "h" = "x", the value "inner". */
static const unsigned char k_inner_env[] = {0x00, 's',  'l',  'u',  'i', 'c',  'e',  0x1e,
                                            0x01, 0x00, 0x00, 0x01, 'h', 0x00, 0x00, 0x00,
                                            0x00, 0x01, 'x',  'i',  'n', 'n',  'e',  'r'};

static sl_result_t emit_envelope_bytes(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    return sl_uow_set_output(u, NULL, 0, k_inner_env, sizeof k_inner_env) ? SL_RETRY : SL_OK;
}

typedef struct {
    size_t n, header_count, len;
    unsigned char value[64];
} scanned_t;

static int keep_rec(void *opaque, const sl_record_t *rec)
{
    scanned_t *s = opaque;
    s->n++;
    s->header_count = rec->header_count;
    s->len = rec->value_len;
    memcpy(s->value, rec->value, rec->value_len < sizeof s->value ? rec->value_len : 0);
    return 0;
}

/* An event whose value happens to start with the envelope's magic (here a
 * whole valid envelope: bytes anyone can put in a pipeline's output) must
 * reach a reader of the stream as it was: not taken for an envelope and
 * turned into another value with headers (nor, malformed, into a fault).
 * The sink writes it in an envelope of its own. */
Test(kinesis, a_value_that_looks_like_an_envelope_is_written_as_it_is)
{
    kk_server_t s = begin(TO_KINESALITE, "in:1", "out:1", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 1, 0);
    kk_run_t r;
    kk_run(&r,
           kk_processor("magic", g_dir, "in", "out", "copy", emit_envelope_bytes, 1, NULL, NULL));
    json_t *out = wait_records(s.kinesalite, "out", 1);
    cr_assert_eq(kk_stop_run(&r), 0);
    json_decref(out);
    char err[512];
    sl_conf_t *c = sl_conf_new();
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    scanned_t got = {0};
    cr_assert_eq(sl_kinesis_scan(p, "out", 0, keep_rec, &got, err, sizeof err), 0, "%s", err);
    sl_processor_destroy(p);
    cr_assert_eq(got.n, 1);
    cr_assert_eq(got.header_count, 0, "the value was read as an envelope with %zu header(s)",
                 got.header_count);
    cr_assert_eq(got.len, sizeof k_inner_env);
    cr_assert_arr_eq(got.value, k_inner_env, sizeof k_inner_env);
    finish(&s);
}

static char g_big[1024 * 1024];

/* A value of exactly 1 MiB with no output key: within the engine's limit
 * for the sink (key and value), but its partition key (the event's) makes
 * the record larger than the 1 MiB Kinesis takes. */
static sl_result_t emit_1mib(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    memset(g_big, 'a', sizeof g_big);
    return sl_uow_set_output(u, NULL, 0, g_big, sizeof g_big) ? SL_RETRY : SL_OK;
}

/* Such an event is a fault of its own (SL_ETOOBIG), from the sink, before
 * any call: sent, it would make the service refuse its whole call. */
Test(kinesis, a_record_over_1_mib_with_its_partition_key_is_a_fault_of_its_own)
{
    kk_server_t s = begin(TO_KINESALITE, "in:1", "out:1", "faults:1", NULL);
    put_events(s.kinesalite, "in", 0, 1, 0);
    kk_run_t r;
    kk_run(&r, kk_processor("big", g_dir, "in", "out", "copy", emit_1mib, 1, NULL, NULL));
    json_t *faults = wait_records(s.kinesalite, "faults", 1);
    cr_assert_eq(kk_stop_run(&r), 0);
    cr_assert_eq(json_array_size(faults), 1);
    json_t *f =
        json_loads(json_string_value(json_object_get(json_array_get(faults, 0), "value")), 0, NULL);
    cr_assert(f);
    const char *name = json_string_value(json_object_get(json_object_get(f, "err"), "name"));
    cr_assert(name && !strcmp(name, "SL_ETOOBIG"), "fault %s: %s", name ? name : "(none)",
              json_string_value(json_object_get(json_object_get(f, "err"), "message")));
    json_decref(f);
    json_decref(faults);
    finish(&s);
}
