/* Kafka failures that must lose nothing and leave nothing stuck, over the
 * embedded broker: an allocation failure in the middle of a consume batch
 * mixing partitions, a broken sink (fatal producer error, a topic that does
 * not exist), a stop while the group join is still pending. The processors
 * run in this process (allocation failures are injected through the sl_mem
 * hooks) or as kproc children. */
#include "kafka_helpers.h"

#include "kafka/kafka_int.h"
#include "sluice/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

TestSuite(failures, .timeout = 300);

/* The embedded broker of most tests: "in" (@p parts partitions), "out" and
 * "faults" (1 each); its bootstrap in *@p bs. */
static sl_broker_t *io_broker(int parts, const char **bs)
{
    const char *topics[] = {"in", "out", "faults", NULL};
    const int nparts[] = {parts, 1, 1};
    sl_broker_t *b = kt_broker(topics, nparts);
    *bs = sl_broker_bootstrap(b);
    return b;
}

/* io_broker(2, @p bs) on which every SyncGroup fails (60 times): a member
 * joins, knows its group's assignor, and never gets an assignment. */
static sl_broker_t *never_assigning_broker(const char **bs)
{
    sl_broker_t *b = io_broker(2, bs);
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_SYNC_GROUP, 60,
                                         RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS),
                 0);
    return b;
}

static void value_of(char *buf, size_t n, int i)
{
    snprintf(buf, n, "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"partitionKey\":\"k%d\"}", i,
             i % 50);
}

/* @p per records into each of @p parts partitions of "in", ids numbered
 * partition by partition. */
static void produce_parts(const char *bs, int parts, int per)
{
    rd_kafka_t *rk = kt_producer(bs);
    char v[128], k[16];
    for (int p = 0; p < parts; p++)
        for (int i = 0; i < per; i++) {
            int id = p * per + i;
            value_of(v, sizeof v, id);
            snprintf(k, sizeof k, "k%d", id % 50);
            cr_assert_eq(
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(p),
                                  RD_KAFKA_V_KEY(k, strlen(k)), RD_KAFKA_V_VALUE(v, strlen(v)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                0);
        }
    kt_flush(rk);
    rd_kafka_destroy(rk);
}

/* io_broker(@p parts, @p bs) with @p per records in each partition of "in"
 * (produce_parts). */
static sl_broker_t *filled_broker(int parts, int per, const char **bs)
{
    sl_broker_t *b = io_broker(parts, bs);
    produce_parts(*bs, parts, per);
    return b;
}

/* Offsets committed by @p group on each of @p parts partitions of @p topic. */
static void committed_each(const char *bs, const char *group, const char *topic, int parts,
                           int64_t *out)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int i = 0; i < parts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
    for (int i = 0; i < parts; i++)
        out[i] = l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

/* Polls until @p group has committed every partition of "in" (@p parts) at
 * @p want, or @p timeout_ms passed; @p off holds the last offsets read. */
static void wait_committed_each(const char *bs, const char *group, int parts, int64_t want,
                                int64_t timeout_ms, int64_t *off)
{
    int64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        int all = 1;
        for (int i = 0; i < parts; i++)
            all = all && off[i] == want;
        if (all || tu_now_ms() >= end)
            return;
        tu_sleep_ms(300);
        committed_each(bs, group, "in", parts, off);
    }
}

/* @p group committed every partition of "in" (@p parts) at @p per, and
 * there is no fault event. */
static void assert_all_committed_no_faults(const char *bs, const char *group, int parts,
                                           int64_t per)
{
    int64_t c[16];
    cr_assert_leq(parts, 16);
    committed_each(bs, group, "in", parts, c);
    for (int i = 0; i < parts; i++)
        cr_assert_eq(c[i], per);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 500, NULL, NULL), 0);
}

/* ---- an allocation failure in the middle of a consume batch ---- */

enum { OOM_PARTS = 4, OOM_PER = 200, OOM_N = OOM_PARTS * OOM_PER };

static int maps_seen;
static sl_sink_t *out_sink;      /* the in-process processor's output sink */
static sl_processor_t *oom_proc; /* the processor of the allocation-failure test */
static int seen_of[OOM_PARTS];   /* records the stage saw, per partition */
static int injected, left_parts;
static uint64_t first_batch;

/* Keeps the value, and builds the allocation-failure test's premise from
 * what it sees. Its first call (the first record of the first consume
 * batch) learns that batch's length, then waits until every other message
 * is in the consumer's queue, so the second consume batch holds all of
 * them. It picks the 50th record of a batch with more than OOM_PER + 50
 * records: more than one partition's worth follows it, so messages of at
 * least two partitions are left. There the next allocation of the loop
 * thread fails: the source's take of the following message. left_parts
 * counts the partitions with records not yet seen: each must be rewound. */
static sl_result_t keep_then_fail(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    if (++maps_seen == 1) {
        sl__ksrc_counters_t kc;
        cr_assert_eq(sl__kafka_source_counters(oom_proc, &kc), 0);
        first_batch = kc.batch_len;
        rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(sl__kafka_source_rk(oom_proc));
        int64_t end = tu_now_ms() + 30000;
        while (rd_kafka_queue_length(q) < OOM_N - first_batch && tu_now_ms() < end)
            tu_sleep_ms(20);
        rd_kafka_queue_destroy(q);
    }
    cr_assert(r->partition >= 0 && r->partition < OOM_PARTS);
    seen_of[r->partition]++;
    uint64_t at = first_batch > OOM_PER + 50 ? 50 : first_batch + 50;
    if (!injected && (uint64_t)maps_seen == at) {
        injected = 1;
        for (int i = 0; i < OOM_PARTS; i++)
            left_parts += seen_of[i] < OOM_PER;
        sl_mem_fail_at(1, 0);
    }
    return SL_OK;
}

static atomic_int run_over;

static void *run_proc(void *arg)
{
    void *rc = (void *)(intptr_t)sl_processor_run(arg);
    atomic_store(&run_over, 1);
    return rc;
}

/* Waits up to @p timeout_ms for the run to end on its own; then stops it.
 * Returns whether it had ended on its own; *rc is its result. */
static int join_within(sl_processor_t *p, pthread_t th, int timeout_ms, intptr_t *rc)
{
    int64_t end = tu_now_ms() + timeout_ms;
    while (!atomic_load(&run_over) && tu_now_ms() < end)
        tu_sleep_ms(50);
    int on_its_own = atomic_load(&run_over);
    if (!on_its_own)
        sl_processor_stop(p);
    void *r;
    pthread_join(th, &r);
    *rc = (intptr_t)r;
    return on_its_own;
}

/* Gives @p p the pipeline "pass" (@p map, batches of the defaults, into
 * @p out), the fault sink @p faults, and the Kafka source of topic "in". */
static void pass_through(sl_processor_t *p, sl_stage_fn map, sl_sink_t *out, sl_sink_t *faults)
{
    char err[256];
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    cr_assert_eq(sl_pipeline_map(pl, map, NULL), 0);
    cr_assert_eq(sl_pipeline_batch(pl, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(pl, out), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
}

static sl_processor_t *in_process(const char *bs, const char *group, sl_stage_fn map,
                                  const char *const *extra)
{
    char err[256];
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_set(c, "kafka.bootstrap.servers", bs, err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "kafka.group.id", group, err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "processor.signals", "false", err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "processor.name", "inproc", err, sizeof err), 0);
    cr_assert_eq(sl_conf_set(c, "batch.linger.ms", "10", err, sizeof err), 0);
    for (; extra && extra[0]; extra += 2)
        cr_assert_eq(sl_conf_set(c, extra[0], extra[1], err, sizeof err), 0, "%s", err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    cr_assert(out, "%s", err);
    out_sink = out;
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(faults, "%s", err);
    pass_through(p, map, out, faults);
    return p;
}

Test(failures, an_allocation_failure_mid_batch_rewinds_every_partition_it_left)
{
    enum { PARTS = OOM_PARTS, PER = OOM_PER, N = OOM_N };
    /* Everything is in the broker before the processor starts; see
     * keep_then_fail for where the allocation fails. No statistics: their
     * events would count in the consumer queue's length. */
    static const char *const no_stats[] = {"kafka.statistics.interval.ms", "0", NULL};
    const char *bs;
    sl_broker_t *b = filled_broker(PARTS, PER, &bs);
    sl_mem_stats_t before, after;
    sl_mem_stats(&before);
    sl_processor_t *p = in_process(bs, "g-oom", keep_then_fail, no_stats);
    oom_proc = p;
    pthread_t th;
    atomic_store(&run_over, 0);
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    kt_tally_t t = {N, calloc(N, sizeof(unsigned)), 0};
    int64_t end = tu_now_ms() + 60000;
    size_t missing = N;
    while (missing && tu_now_ms() < end) {
        memset(t.count, 0, N * sizeof(unsigned));
        t.total = 0;
        kt_read(bs, "out", 1, N, 5000, 500, kt_tally_out, &t);
        missing = 0;
        for (int i = 0; i < N; i++)
            missing += t.count[i] == 0;
    }
    intptr_t rc;
    join_within(p, th, 0, &rc);
    sl_mem_fail_at(0, 0);
    sl_mem_stats(&after);
    cr_assert_eq(after.failed - before.failed, 1, "exactly one allocation failed");
    cr_assert_eq(rc, 0, "a complete drain");
    for (int i = 0; i < N; i++)
        cr_assert_eq(t.count[i], 1, "e%d (partition %d) delivered %u times", i, i / PER,
                     t.count[i]);
    cr_assert_eq(t.total, N, "nothing twice");
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    cr_assert_eq(st.records_done, N, "every record processed once");
    cr_assert_eq(st.faults, 0);
    sl__ksrc_counters_t kc;
    cr_assert_eq(sl__kafka_source_counters(p, &kc), 0);
    cr_assert_geq(left_parts, 2, "the premise: the failure left messages of several partitions");
    cr_assert_eq(kc.rewound, (uint64_t)left_parts,
                 "each partition with messages left is rewound (%llu of %d)",
                 (unsigned long long)kc.rewound, left_parts);
    sl_processor_destroy(p);
    int64_t c[PARTS];
    committed_each(bs, "g-oom", "in", PARTS, c);
    for (int i = 0; i < PARTS; i++)
        cr_assert_eq(c[i], PER, "partition %d committed at %lld, processed %d", i, (long long)c[i],
                     PER);
    free(t.count);
    sl_broker_destroy(b);
}

/* ---- the stop line's rate ---- */

static atomic_int slow_seen;

/* Keeps the value; takes 300 ms over the first record. */
static sl_result_t slow_first(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    if (atomic_fetch_add(&slow_seen, 1) == 0)
        tu_sleep_ms(300);
    return SL_OK;
}

/* The processor's last log line gives the rate over the time from the first
 * record in to the last one done. It took that first time after the
 * source's first read, which here holds the first record's 300 ms: the
 * window left them out (0.019 s); a first read that took every record
 * made it 0.000 s and the rate absurd (1.5e11 records/s). */
Test(failures, the_stop_line_counts_the_first_read_in_its_busy_window)
{
    enum { N = 50 };
    const char *bs;
    sl_broker_t *b = filled_broker(1, N, &bs);
    FILE *log = tmpfile();
    cr_assert(log);
    fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(saved, 0);
    cr_assert_geq(dup2(fileno(log), 2), 0);
    sl_processor_t *p = in_process(bs, "g-line", slow_first, NULL);
    pthread_t th;
    atomic_store(&run_over, 0);
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    size_t got = kt_read(bs, "out", 1, N, 30000, 200, NULL, NULL);
    intptr_t rc;
    join_within(p, th, 0, &rc);
    sl_processor_destroy(p);
    sl_broker_destroy(b);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    cr_assert_eq(got, N);
    cr_assert_eq(rc, 0);
    char line[4096];
    double busy = -1;
    rewind(log);
    while (fgets(line, sizeof line, log)) {
        const char *at = strstr(line, "records/s over the ");
        if (at && strstr(line, "stopped after"))
            busy = strtod(at + strlen("records/s over the "), NULL);
    }
    fclose(log);
    cr_assert_geq(busy, 0.3, "the window is %.3f s, the first record alone took 0.3 s", busy);
    cr_assert_lt(busy, 30.0);
}

/* ---- a sink that is unusable ---- */

/* Keeps the value, slowly: the test sees part of the output before it
 * breaks the producer. */
static sl_result_t keep_slowly(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    tu_sleep_ms(1);
    return SL_OK;
}

static sl_result_t keep_value(sl_uow_t *u, void *opaque)
{
    (void)u;
    (void)opaque;
    return SL_OK;
}

/* Every partition's committed offset is at most the first offset missing
 * from the output: nothing unprocessed is committed over. */
static void assert_commits_cover_only_output(const char *bs, const char *group, const kt_tally_t *t,
                                             int parts, int per, int64_t *committed)
{
    committed_each(bs, group, "in", parts, committed);
    for (int p = 0; p < parts; p++) {
        int64_t first_missing = per;
        for (int i = 0; i < per; i++)
            if (!t->count[p * per + i]) {
                first_missing = i;
                break;
            }
        cr_assert_leq(committed[p], first_missing,
                      "partition %d committed at %lld, but offset %lld was never delivered", p,
                      (long long)committed[p], (long long)first_missing);
    }
}

static size_t read_out(const char *bs, const char *topic, kt_tally_t *t, int timeout_ms)
{
    memset(t->count, 0, (size_t)t->n * sizeof(unsigned));
    t->total = 0;
    kt_read(bs, topic, 1, (size_t)t->n, timeout_ms, 500, kt_tally_out, t);
    size_t missing = 0;
    for (int i = 0; i < t->n; i++)
        missing += t->count[i] == 0;
    return missing;
}

/* Reads "out" into @p t until all @p n inputs arrived (60 s at most), then
 * stops the processor @p pid, which must drain. Returns how many are
 * missing. */
static size_t read_until_stop(const char *bs, kt_tally_t *t, size_t n, pid_t pid)
{
    int64_t end = tu_now_ms() + 60000;
    size_t missing = n;
    while (missing && tu_now_ms() < end)
        missing = read_out(bs, "out", t, 5000);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0, "the second run drains");
    return missing;
}

Test(failures, a_fatal_producer_error_fails_the_processor_without_faults_or_loss)
{
    enum { PARTS = 4, PER = 1000, N = PARTS * PER };
    const char *bs;
    sl_broker_t *b = filled_broker(PARTS, PER, &bs);
    const char *extra[] = {"source.batch.size", "100", "kafka.session.timeout.ms", "6000", NULL};
    sl_processor_t *p = in_process(bs, "g-fatal", keep_slowly, extra);
    pthread_t th;
    atomic_store(&run_over, 0);
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    /* Once part of the output is there, the output producer gets a fatal
     * error, as an idempotent producer does when the broker lost its
     * sequence state. */
    size_t seen = 0;
    int64_t until = tu_now_ms() + 60000;
    while (seen < N / 4 && tu_now_ms() < until)
        seen = kt_read(bs, "out", 1, N / 4, 5000, 0, NULL, NULL);
    cr_assert_geq(seen, N / 4);
    rd_kafka_t *prk = sl__kafka_sink_rk(out_sink);
    cr_assert(prk, "the output sink is a Kafka sink");
    cr_assert_eq(rd_kafka_test_fatal_error(prk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                           "injected by the test"),
                 0);
    intptr_t rc;
    int ended = join_within(p, th, 60000, &rc);
    cr_assert(ended, "the failure ends the run, without a stop");
    cr_assert_eq(rc, SL_ESINKDOWN, "run returns %s", sl_err_name((int)rc));
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    cr_assert_eq(st.faults, 0, "nothing was turned into a fault");
    cr_assert_lt(st.records_done, N, "the run stopped before the end");
    sl_processor_destroy(p);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 3000, 500, NULL, NULL), 0, "no fault events");
    kt_tally_t t = {N, calloc(N, sizeof(unsigned)), 0};
    cr_assert_lt(read_out(bs, "out", &t, 5000), N, "part of the output was delivered");
    int64_t c[PARTS];
    assert_commits_cover_only_output(bs, "g-fatal", &t, PARTS, PER, c);
    int64_t sum = 0;
    for (int i = 0; i < PARTS; i++)
        sum += c[i] > 0 ? c[i] : 0;
    cr_assert_gt(sum, 0, "what was done before the failure is committed");
    cr_assert_lt(sum, N, "what was not done is not");
    /* The next run, with a healthy producer, delivers everything. */
    p = in_process(bs, "g-fatal", keep_value, extra);
    atomic_store(&run_over, 0);
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    int64_t end = tu_now_ms() + 60000;
    size_t missing = N;
    while (missing && tu_now_ms() < end)
        missing = read_out(bs, "out", &t, 5000);
    join_within(p, th, 0, &rc);
    cr_assert_eq(rc, 0, "the second run drains");
    cr_assert_eq(missing, 0, "every input is in the output after the second run");
    sl_engine_stats(sl_processor_engine(p), &st);
    cr_assert_eq(st.faults, 0);
    sl_processor_destroy(p);
    committed_each(bs, "g-fatal", "in", PARTS, c);
    for (int i = 0; i < PARTS; i++)
        cr_assert_eq(c[i], PER, "partition %d committed at %lld", i, (long long)c[i]);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 500, NULL, NULL), 0);
    free(t.count);
    sl_broker_destroy(b);
}

/* Runs kproc (consumer group @p group, settings @p extra) with its stderr
 * in the file @p log: it must fail with exit code 1, saying that the sink
 * "out" is unusable. */
static void kproc_sink_unusable(const char *bs, const char *group, const char *const *extra,
                                const char *log)
{
    kt_stderr_path = log;
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", group, extra);
    int st = kt_wait(pid, 90000);
    kt_stderr_path = NULL;
    cr_assert_eq(st, 1, "the processor fails with exit code 1 (got %d)", st);
    cr_assert(tu_file_has(log, "kafka sink out is unusable"), "a clear error line");
}

Test(failures, a_sink_topic_that_does_not_exist_fails_the_processor_until_it_is_created)
{
    enum { PARTS = 2, PER = 300, N = PARTS * PER };
    const char *bs;
    sl_broker_t *b = filled_broker(PARTS, PER, &bs);
    /* The embedded broker (librdkafka 2.0's mock cluster) answers metadata
     * only up to v2, which cannot carry allow.auto.create.topics: it creates
     * any topic a client asks about. The topic is made to answer "unknown
     * topic" instead, as a cluster with auto-creation off does. */
    rd_kafka_mock_topic_set_error(sl__broker_mock(b), "out",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    char log[] = "/tmp/sl-nosuch-XXXXXX";
    tu_mkstemp(log);
    /* The embedded broker holds a join for the session timeout after the
     * last member left: short, for the second run. */
    const char *extra[] = {"kafka.allow.auto.create.topics=false",
                           "kafka.topic.metadata.propagation.max.ms=1000",
                           "kafka.session.timeout.ms=6000", NULL};
    kproc_sink_unusable(bs, "g-nosuch", extra, log);
    cr_assert(tu_file_has(log, "allow.auto.create.topics"), "that says what to do");
    unlink(log);
    int64_t c[PARTS];
    committed_each(bs, "g-nosuch", "in", PARTS, c);
    for (int i = 0; i < PARTS; i++)
        cr_assert_leq(c[i], 0, "partition %d committed at %lld: nothing was delivered", i,
                      (long long)c[i]);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 500, NULL, NULL), 0, "no fault events");
    /* Fixed: the topic exists. The next run delivers everything. */
    rd_kafka_mock_topic_set_error(sl__broker_mock(b), "out", RD_KAFKA_RESP_ERR_NO_ERROR);
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-nosuch", extra);
    kt_tally_t t = {N, calloc(N, sizeof(unsigned)), 0};
    size_t missing = read_until_stop(bs, &t, N, pid);
    cr_assert_eq(missing, 0, "every input delivered");
    cr_assert_eq(t.total, N, "each once");
    assert_all_committed_no_faults(bs, "g-nosuch", PARTS, PER);
    free(t.count);
    sl_broker_destroy(b);
}

Test(failures, a_fault_sink_that_does_not_exist_fails_the_processor_and_faults_once_fixed)
{
    enum { N = 200, POISON = 60 };
    const char *bs;
    sl_broker_t *b = io_broker(1, &bs);
    /* "Unknown topic" for the fault topic: see the test above. */
    rd_kafka_mock_topic_set_error(sl__broker_mock(b), "faults",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_t *rk = kt_producer(bs);
    char v[128];
    for (int i = 0; i < N; i++) {
        if (i == POISON) {
            kt_produce(rk, "in", "bad", "{\"type\":", 8); /* truncated JSON */
        } else {
            value_of(v, sizeof v, i);
            kt_produce(rk, "in", "k", v, strlen(v));
        }
    }
    kt_flush(rk);
    rd_kafka_destroy(rk);
    /* The embedded broker holds a join for the session timeout after the
     * last member left: short, for the second run. */
    const char *extra[] = {"kafka.allow.auto.create.topics=false",
                           "kafka.topic.metadata.propagation.max.ms=1000",
                           "kafka.session.timeout.ms=6000", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-nofaults", extra);
    int st = kt_wait(pid, 90000);
    cr_assert_eq(st, 1, "the processor fails with exit code 1 (got %d)", st);
    int64_t c;
    committed_each(bs, "g-nofaults", "in", 1, &c);
    cr_assert_leq(c, POISON, "committed at %lld: not past the event whose fault was not written",
                  (long long)c);
    rd_kafka_mock_topic_set_error(sl__broker_mock(b), "faults", RD_KAFKA_RESP_ERR_NO_ERROR);
    pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-nofaults", extra);
    kt_tally_t t = {N, calloc(N, sizeof(unsigned)), 0};
    int64_t end = tu_now_ms() + 60000;
    size_t missing = N;
    while (missing > 1 && tu_now_ms() < end)
        missing = read_out(bs, "out", &t, 5000);
    size_t nf = kt_read(bs, "faults", 1, 1, 60000, 1000, NULL, NULL);
    kill(pid, SIGTERM);
    cr_assert_eq(kt_wait(pid, 60000), 0, "the second run drains");
    cr_assert_eq(missing, 1, "every good input delivered");
    cr_assert_eq(t.count[POISON], 0);
    cr_assert_eq(nf, 1, "the poison event faulted exactly once (%zu)", nf);
    committed_each(bs, "g-nofaults", "in", 1, &c);
    cr_assert_eq(c, N);
    free(t.count);
    sl_broker_destroy(b);
}

/* ---- a stop while the group join is pending ---- */

Test(failures, a_stop_while_joining_the_group_exits_cleanly)
{
    /* The group answers the JoinGroup, but every SyncGroup fails:
     * the member knows its group's assignor but never gets an assignment. */
    const char *bs;
    sl_broker_t *b = never_assigning_broker(&bs);
    char log[] = "/tmp/sl-join-XXXXXX";
    tu_mkstemp(log);
    kt_stderr_path = log;
    const char *extra[] = {"kafka.debug=cgrp", "log.level=debug", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-join", extra);
    kt_stderr_path = NULL;
    int64_t end = tu_now_ms() + 60000;
    while (!tu_file_has(log, "JoinGroup response: GenerationId") && tu_now_ms() < end)
        tu_sleep_ms(100);
    cr_assert(tu_file_has(log, "JoinGroup response: GenerationId"), "the group answered the join");
    tu_sleep_ms(500); /* its SyncGroup fails meanwhile */
    cr_assert_not(tu_file_has(log, "\"assigned "), "no assignment yet");
    kill(pid, SIGTERM);
    int st = kt_wait(pid, 60000);
    cr_assert_eq(st, 0, "a stop before the first assignment exits 0 (got %d)", st);
    cr_assert(tu_file_has(log, "stopped while joining the group"),
              "and says why it keeps the consumer");
    cr_assert(tu_file_has(log, "\"processor\":\"kproc\",\"msg\":\"librdkafka kproc#consumer"),
              "librdkafka's own lines name the processor, as the client's id does");
    unlink(log);
    sl_broker_destroy(b);
}

/* ---- a partition that comes back with a stale watermark ---- */

#define HOLD_FROM 10
#define HOLD_TO 100

static atomic_int seen_200[2]; /* offset 200 of partition i was written */

/* A sink that acknowledges at once, except offsets HOLD_FROM..HOLD_TO-1,
 * which it never acknowledges: they stay in flight through a revoke. */
static int holding_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++) {
        const sl_record_t *r = sl_uow_record(uows[i]);
        if (r->offset >= 200 && r->partition >= 0 && r->partition < 2)
            atomic_store(&seen_200[r->partition], 1);
        if (r->offset < HOLD_FROM || r->offset >= HOLD_TO)
            sl_uow_ack(uows[i], 0);
    }
    return 0;
}

static rd_kafka_t *group_member(const char *bs, const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(c, "partition.assignment.strategy", "cooperative-sticky", err, sizeof err);
    rd_kafka_conf_set(c, "session.timeout.ms", "6000", err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert(rk, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "in", RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(rk, t), 0);
    rd_kafka_topic_partition_list_destroy(t);
    return rk;
}

Test(failures, a_partition_back_from_another_member_is_never_committed_below_its_commit)
{
    enum { PARTS = 2, PER = 200, MOVED_TO = 150 };
    const char *topics[] = {"in", NULL};
    const int parts[] = {PARTS};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    produce_parts(bs, PARTS, PER);
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        "g-stale",
                        "processor.signals",
                        "false",
                        "processor.name",
                        "inproc",
                        "batch.linger.ms",
                        "10",
                        "drain.timeout.ms",
                        "500",
                        "kafka.session.timeout.ms",
                        "6000",
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    sl_sink_ops_t ops = {.name = "holding", .write = holding_write};
    sl_sink_t *sink = sl_sink_new(&ops, NULL), *faults = sl_sink_new(&ops, NULL);
    pass_through(p, keep_value, sink, faults);
    atomic_store(&run_over, 0);
    atomic_store(&seen_200[0], 0);
    atomic_store(&seen_200[1], 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    /* Both partitions read; each committed at HOLD_FROM (the rest in flight). */
    int64_t off[PARTS] = {-1, -1};
    wait_committed_each(bs, "g-stale", PARTS, HOLD_FROM, 60000, off);
    cr_assert(off[0] == HOLD_FROM && off[1] == HOLD_FROM, "committed %lld, %lld", (long long)off[0],
              (long long)off[1]);
    /* A second member takes one partition, commits far ahead on it, leaves. */
    rd_kafka_t *m = group_member(bs, "g-stale");
    rd_kafka_topic_partition_list_t *mine = NULL;
    int64_t end = tu_now_ms() + 90000;
    while (tu_now_ms() < end) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m, 100);
        if (msg)
            rd_kafka_message_destroy(msg);
        if (mine)
            rd_kafka_topic_partition_list_destroy(mine);
        mine = NULL;
        cr_assert_eq(rd_kafka_assignment(m, &mine), 0);
        if (mine->cnt)
            break;
    }
    cr_assert(mine && mine->cnt == 1, "the second member got a partition");
    int32_t moved = mine->elems[0].partition;
    mine->elems[0].offset = MOVED_TO;
    cr_assert_eq(rd_kafka_commit(m, mine, 0), 0);
    rd_kafka_topic_partition_list_destroy(mine);
    committed_each(bs, "g-stale", "in", PARTS, off);
    cr_assert_eq(off[moved], MOVED_TO);
    rd_kafka_consumer_close(m);
    rd_kafka_destroy(m);
    /* The partition comes back, with the earlier records still in flight
     * (a watermark of HOLD_FROM). A new record shows it is read again. */
    rd_kafka_t *prod = kt_producer(bs);
    const char *v = "{\"type\":\"t\",\"id\":\"x\"}";
    cr_assert_eq(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(moved),
                                   RD_KAFKA_V_VALUE((void *)v, strlen(v)),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 0);
    kt_flush(prod);
    rd_kafka_destroy(prod);
    end = tu_now_ms() + 90000;
    while (!atomic_load(&seen_200[moved]) && tu_now_ms() < end)
        tu_sleep_ms(100);
    cr_assert(atomic_load(&seen_200[moved]), "the partition came back");
    /* Commits go on every commit.interval.ms (1 s). */
    for (int i = 0; i < 6; i++) {
        tu_sleep_ms(500);
        committed_each(bs, "g-stale", "in", PARTS, off);
        cr_assert_geq(off[moved], MOVED_TO,
                      "partition %d committed back at %lld, below the %d the group had", (int)moved,
                      (long long)off[moved], MOVED_TO);
    }
    intptr_t rc;
    join_within(p, th, 0, &rc);
    sl__ksrc_counters_t kc;
    cr_assert_eq(sl__kafka_source_counters(p, &kc), 0);
    cr_assert_gt(kc.skipped_taken, 0, "what it had taken before is skipped, and counted");
    sl_processor_destroy(p);
    sl_sink_destroy(sink);
    sl_sink_destroy(faults);
    sl_broker_destroy(b);
}

Test(failures, an_authorization_error_fails_the_processor_without_faults_or_loss)
{
    enum { PARTS = 2, PER = 300, N = PARTS * PER };
    const char *bs;
    sl_broker_t *b = filled_broker(PARTS, PER, &bs);
    /* The next produce request is refused: not allowed to write the topic. */
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_PRODUCE, 1,
                                         RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                 0);
    char log[] = "/tmp/sl-auth-XXXXXX";
    tu_mkstemp(log);
    const char *extra[] = {"kafka.session.timeout.ms=6000", NULL};
    kproc_sink_unusable(bs, "g-auth", extra, log);
    cr_assert(tu_file_has(log, "TOPIC_AUTHORIZATION_FAILED"), "with the reason");
    unlink(log);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 500, NULL, NULL), 0, "no fault events");
    kt_tally_t t = {N, calloc(N, sizeof(unsigned)), 0};
    cr_assert_gt(read_out(bs, "out", &t, 3000), 0, "not everything was delivered");
    int64_t c[PARTS];
    assert_commits_cover_only_output(bs, "g-auth", &t, PARTS, PER, c);
    /* Allowed again: the next run delivers everything. */
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-auth", extra);
    size_t missing = read_until_stop(bs, &t, N, pid);
    cr_assert_eq(missing, 0, "every input delivered");
    assert_all_committed_no_faults(bs, "g-auth", PARTS, PER);
    free(t.count);
    sl_broker_destroy(b);
}

/* A periodic commit marks its offsets committed when it goes out; when it is
 * refused, its callback makes the next commit send them again. Here the
 * refusal comes only after the stop's final commit was made (the answer is
 * held on the coordinator's connection), so the final commit must carry
 * every done offset itself, or the group keeps the older one and the next
 * owner reads the record again. The order of the two answers is forced:
 * the broker holds the periodic commit's answer for 3 s and answers in
 * order, and the stop comes once the broker has taken that commit. */
Test(failures, a_periodic_commit_refused_after_the_final_commit_was_made_loses_no_offset)
{
    enum { PARTS = 2, PER = 100, HOLD_MS = 3000 };
    const char *bs;
    sl_broker_t *b = filled_broker(PARTS, PER, &bs);
    const char *extra[] = {"commit.interval.ms", "200", "close.timeout.ms", "20000", NULL};
    sl_processor_t *p = in_process(bs, "g-inflight", keep_value, extra);
    atomic_store(&run_over, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    int64_t c[PARTS] = {-1, -1};
    wait_committed_each(bs, "g-inflight", PARTS, PER, 60000, c);
    for (int i = 0; i < PARTS; i++)
        cr_assert_eq(c[i], PER, "the first records are done and committed");

    /* Nothing moves now, so the next commit is the one for the record
     * below: its answer is a refusal, held for HOLD_MS. */
    rd_kafka_mock_cluster_t *mc = sl__broker_mock(b);
    cr_assert_eq(
        rd_kafka_mock_broker_push_request_error_rtts(
            mc, 1, SL_KAFKA_API_OFFSET_COMMIT, 1, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, HOLD_MS),
        0);
    rd_kafka_t *rk = kt_producer(bs);
    cr_assert_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(0),
                                   RD_KAFKA_V_VALUE("{\"id\":\"late\",\"type\":\"t\"}", 24),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                 0);
    kt_flush(rk);
    rd_kafka_destroy(rk);
    size_t left = 1;
    int64_t end = tu_now_ms() + 30000;
    while (left && tu_now_ms() < end) {
        tu_sleep_ms(20);
        cr_assert_eq(rd_kafka_mock_broker_error_stack_cnt(mc, 1, SL_KAFKA_API_OFFSET_COMMIT, &left),
                     0);
    }
    cr_assert_eq(left, 0, "the periodic commit of the late record reached the broker");

    /* Stop while that commit waits for its answer. */
    intptr_t rc;
    join_within(p, th, 0, &rc);
    cr_assert_eq(rc, 0);
    committed_each(bs, "g-inflight", "in", PARTS, c);
    cr_assert_eq(c[0], PER + 1, "the late record's offset is committed (got %lld)",
                 (long long)c[0]);
    cr_assert_eq(c[1], PER);
    sl_processor_destroy(p);
    sl_broker_destroy(b);
}

Test(failures, a_processor_stopped_while_joining_in_process_is_destroyed_safely)
{
    const char *bs;
    sl_broker_t *b = never_assigning_broker(&bs);
    const char *extra[] = {"kafka.debug", "cgrp,broker", NULL};
    sl_processor_t *p = in_process(bs, "g-join2", keep_value, extra);
    rd_kafka_t *rk = sl__kafka_source_rk(p);
    cr_assert(rk);
    atomic_store(&run_over, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    /* The group's assignor is known once the JoinGroup is answered. */
    int64_t end = tu_now_ms() + 60000;
    const char *proto = NULL;
    while (tu_now_ms() < end) {
        proto = rd_kafka_rebalance_protocol(rk);
        if (proto && strcmp(proto, "NONE"))
            break;
        tu_sleep_ms(100);
    }
    cr_assert(proto && strcmp(proto, "NONE"), "the group answered the join");
    intptr_t rc;
    join_within(p, th, 0, &rc);
    cr_assert_eq(rc, 0, "a stop before the first assignment drains");
    sl__ksrc_counters_t kc;
    cr_assert_eq(sl__kafka_source_counters(p, &kc), 0);
    sl_processor_destroy(p);
    /* The consumer left behind keeps running against a broker that goes
     * away: nothing of the processor may be touched any more. */
    sl_broker_destroy(b);
    tu_sleep_ms(2000);
}

/* ---- a sink that polls the producer while its delivery reports are acknowledged ---- */

/* The Kafka sink acknowledges the delivery reports one rd_kafka_poll()
 * served after that poll returns, in one pass (acks_flush in
 * lib/kafka/sink.c). An acknowledgement may write again: with retry.max 0 a
 * failed delivery becomes a fault at once, written to the fault sink inside
 * that pass. The fault sink here polls the producer during its write, as a
 * sink retrying a full queue would, so delivery reports arrive while the
 * pass is still acknowledging the earlier ones (the array they are appended
 * to may move). Each must still be acknowledged exactly once: every record
 * ends up either on "out" or as a fault, once, and every offset is
 * committed. */
enum { PF_PARTS = 2, PF_PER = 500, PF_N = PF_PARTS * PF_PER };
static rd_kafka_t *pf_rk;        /* the processor's producer */
static int pf_faults[PF_N];      /* faults per record id */
static int pf_outs[PF_N];        /* outputs on "out" per record id */
static int pf_served, pf_writes; /* events the fault sink's polls served; its writes */
static int pf_bad_ids;

/* The id of a value written by value_of(), or -1. */
static int id_of_value(const void *v, size_t len)
{
    char buf[128];
    if (!v || len >= sizeof buf)
        return -1;
    memcpy(buf, v, len);
    buf[len] = 0;
    const char *at = strstr(buf, "\"id\":\"e");
    int id = at ? atoi(at + 7) : -1;
    return id >= 0 && id < PF_N ? id : -1;
}

static int polling_fault_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    /* Poll until the producer serves something, unless nothing is left. */
    int served = 0;
    int64_t end = tu_now_ms() + 5000;
    while (!served && rd_kafka_outq_len(pf_rk) > 0 && tu_now_ms() < end)
        served = rd_kafka_poll(pf_rk, 20);
    pf_served += served;
    pf_writes++;
    for (size_t i = 0; i < n; i++) {
        const sl_record_t *r = sl_uow_record(uows[i]);
        int id = id_of_value(r->value, r->value_len);
        if (id < 0)
            pf_bad_ids++;
        else
            pf_faults[id]++;
        sl_uow_ack(uows[i], 0);
    }
    return 0;
}

static void count_out(const rd_kafka_message_t *m, void *opaque)
{
    (void)opaque;
    int id = id_of_value(m->payload, m->len);
    if (id < 0)
        pf_bad_ids++;
    else
        pf_outs[id]++;
}

Test(failures, a_fault_sink_polling_during_the_bulk_acknowledgements_loses_and_repeats_nothing)
{
    const char *bs;
    sl_broker_t *b = filled_broker(PF_PARTS, PF_PER, &bs);
    /* The input is stored: from here every Produce is the processor's. The
     * first two fail (no retry in librdkafka, none in the engine); answers
     * come 20 ms late, records enter 50 at a time with at most 64 in flight
     * and a produce request carries at most 10, so other requests are still
     * in flight when the first failure is acknowledged. */
    cr_assert_eq(
        sl_broker_inject_errors(b, SL_KAFKA_API_PRODUCE, 2, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS),
        0);
    cr_assert_eq(sl_broker_set_rtt(b, SL_BROKER_ALL, 20), 0);
    const char *kv[] = {"kafka.bootstrap.servers",
                        bs,
                        "kafka.group.id",
                        "g-pollfault",
                        "processor.signals",
                        "false",
                        "processor.name",
                        "inproc",
                        "batch.linger.ms",
                        "10",
                        "retry.max",
                        "0",
                        "kafka.enable.idempotence",
                        "false",
                        "kafka.retries",
                        "0",
                        "kafka.linger.ms",
                        "2",
                        "inflight.max.records",
                        "64",
                        "source.batch.size",
                        "50",
                        "kafka.batch.num.messages",
                        "10",
                        NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    char err[256];
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    cr_assert(out, "%s", err);
    pf_rk = sl__kafka_sink_rk(out);
    cr_assert(pf_rk);
    sl_sink_ops_t ops = {.name = "polling-faults", .write = polling_fault_write};
    sl_sink_t *faults = sl_sink_new(&ops, NULL);
    cr_assert(faults);
    pass_through(p, keep_value, out, faults);
    atomic_store(&run_over, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    /* Done when every offset is committed. */
    int64_t off[PF_PARTS] = {-1, -1};
    wait_committed_each(bs, "g-pollfault", PF_PARTS, PF_PER, 120000, off);
    intptr_t rc;
    join_within(p, th, 0, &rc);
    cr_assert(off[0] == PF_PER && off[1] == PF_PER, "committed %lld and %lld of %d each",
              (long long)off[0], (long long)off[1], PF_PER);
    cr_assert_eq(rc, 0, "the drain completed: %s", sl_err_name((int)rc));
    sl_stats_t st;
    sl_engine_stats(sl_processor_engine(p), &st);
    sl_processor_destroy(p);
    sl_sink_destroy(faults);
    /* The premise: deliveries failed, and the fault sink's polls served
     * delivery reports while the reports before them were acknowledged. */
    int nfaults = 0;
    for (int i = 0; i < PF_N; i++)
        nfaults += pf_faults[i];
    cr_assert_gt(nfaults, 0, "the injected produce errors became faults");
    cr_assert_gt(pf_served, 0, "the fault sink's polls served delivery reports (%d writes)",
                 pf_writes);
    size_t got = kt_read(bs, "out", 1, (size_t)(PF_N - nfaults), 30000, 1000, count_out, NULL);
    cr_assert_eq(pf_bad_ids, 0);
    for (int i = 0; i < PF_N; i++)
        cr_assert_eq(pf_outs[i] + pf_faults[i], 1,
                     "record e%d: %d output(s), %d fault(s) (%zu outputs, %d faults in all)", i,
                     pf_outs[i], pf_faults[i], got, nfaults);
    cr_assert_eq(got, (size_t)(PF_N - nfaults));
    /* Each record released once, each output and fault acknowledged once. */
    cr_assert_eq(st.records_in, (uint64_t)PF_N);
    cr_assert_eq(st.records_done, (uint64_t)PF_N);
    cr_assert_eq(st.sunk, got);
    cr_assert_eq(st.faults, (uint64_t)nfaults);
    sl_broker_destroy(b);
}
