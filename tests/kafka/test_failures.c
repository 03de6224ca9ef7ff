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
#include <stdint.h>

TestSuite(failures, .timeout = 300);

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

struct tally {
    int n;
    unsigned *count;
    size_t total;
};

static void tally_out(const rd_kafka_message_t *m, void *opaque)
{
    struct tally *t = opaque;
    int id;
    t->total++;
    if (m->len && sscanf(m->payload, "{\"id\":\"e%d\"", &id) == 1 && id >= 0 && id < t->n)
        t->count[id]++;
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

/* ---- an allocation failure in the middle of a consume batch ---- */

static int maps_seen;
static int parts_seen[8], nparts_seen, injected;

/* Keeps the value. The first call sleeps while every partition is fetched:
 * the next consume batch holds all the partitions not in the first one,
 * one after the other. At offset 50 of the third partition seen (the first
 * or second of such a batch, with more after it), the next allocation of
 * the loop thread fails: the source's take of the following message. */
static sl_result_t keep_then_fail(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    if (++maps_seen == 1)
        kt_sleep_ms(1000);
    int known = 0;
    for (int i = 0; i < nparts_seen; i++)
        known |= parts_seen[i] == r->partition;
    if (!known && nparts_seen < 8)
        parts_seen[nparts_seen++] = r->partition;
    if (!injected && nparts_seen == 3 && r->partition == parts_seen[2] && r->offset == 50) {
        injected = 1;
        sl_mem_fail_at(1, 0);
    }
    return SL_OK;
}

static void *run_proc(void *arg)
{
    return (void *)(intptr_t)sl_processor_run(arg);
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
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(faults, "%s", err);
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    cr_assert_eq(sl_pipeline_map(pl, map, NULL), 0);
    cr_assert_eq(sl_pipeline_batch(pl, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(pl, out), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    return p;
}

Test(failures, an_allocation_failure_mid_batch_rewinds_every_partition_it_left)
{
    enum { PARTS = 4, PER = 200, N = PARTS * PER };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {PARTS, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    /* Everything is in the broker before the processor starts. The first
     * consume batch holds the partitions whose start was known first
     * (usually one); see keep_then_fail for the rest. The test checks that
     * the failure left messages of several partitions. */
    produce_parts(bs, PARTS, PER);
    sl_mem_stats_t before, after;
    sl_mem_stats(&before);
    sl_processor_t *p = in_process(bs, "g-oom", keep_then_fail, NULL);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_proc, p), 0);
    struct tally t = {N, calloc(N, sizeof(unsigned)), 0};
    int64_t end = kt_now_ms() + 60000;
    size_t missing = N;
    while (missing && kt_now_ms() < end) {
        memset(t.count, 0, N * sizeof(unsigned));
        t.total = 0;
        kt_read(bs, "out", 1, N, 5000, 500, tally_out, &t);
        missing = 0;
        for (int i = 0; i < N; i++)
            missing += t.count[i] == 0;
    }
    sl_processor_stop(p);
    void *rc;
    pthread_join(th, &rc);
    sl_mem_fail_at(0, 0);
    sl_mem_stats(&after);
    cr_assert_eq(after.failed - before.failed, 1, "exactly one allocation failed");
    cr_assert_eq((intptr_t)rc, 0, "a complete drain");
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
    cr_assert_geq(kc.rewound, 2,
                  "the failure left messages of several partitions: each is rewound (%llu)",
                  (unsigned long long)kc.rewound);
    sl_processor_destroy(p);
    int64_t c[PARTS];
    committed_each(bs, "g-oom", "in", PARTS, c);
    for (int i = 0; i < PARTS; i++)
        cr_assert_eq(c[i], PER, "partition %d committed at %lld, processed %d", i, (long long)c[i],
                     PER);
    free(t.count);
    sl_broker_destroy(b);
}
