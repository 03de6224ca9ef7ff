/* sluice — Kafka sinks: one (idempotent) producer per processor, shared by
 * all its Kafka sinks and its Kafka fault sink; a uow completes from its
 * delivery report. Key and value are handed over without a copy: the uow's
 * output stays valid until it is acknowledged.
 *
 * Sharing is safe because every sink's producer would be configured alike
 * (the processor's kafka.* properties): one producer means one set of
 * connections, one idempotence state and one delivery-report queue instead
 * of one per topic. Each delivery report finds its sink through its topic
 * handle's opaque, so errors still count against the sink that wrote. The
 * producer is one service of the processor: shutdown purges what every sink
 * has in flight (each uow acknowledged while the engine is alive), close
 * flushes once, destroy frees the topic handles before the producer. */
#include "core/core.h"
#include "core/describe.h"
#include "core/util.h"
#include "kafka/kafka_int.h"
#include "sluice/error.h"
#include "sluice/kafka.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key under which a processor keeps its producer (sl__proc_attached). */
#define PRODUCER_KEY "kafka.producer"

typedef struct kafka_sink_s kafka_sink_t;

typedef struct kafka_prod_s {
    sl_processor_t *proc; /* first: log_cb reads it through the opaque */
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    sl__kqwake_t wake;
    uv_timer_t timer;
    int timer_on;
    int closed;
    int autocreate; /* allow.auto.create.topics: an unknown topic may still appear */
    size_t max_record;
    int brokers_up;       /* from librdkafka's statistics (operations endpoint on); -1 unknown */
    int all_down;         /* librdkafka said all brokers are down, and none came up since */
    kafka_sink_t **sinks; /* each sink's state, freed with the producer */
    size_t nsinks;
    /* Acknowledgements of the delivery reports one rd_kafka_poll() served,
     * made after it returns (acks_flush) */
    struct dr_ack_s {
        sl_uow_t *u;
        int err;
    } * acks;
    size_t nacks, acap;
    int acking; /* acks_flush() is running: a nested one leaves the rest to it */
} kafka_prod_t;

struct kafka_sink_s {
    kafka_prod_t *prod;
    rd_kafka_topic_t *rkt;
    int down; /* the sink is unusable: every write is acknowledged SL_ESINKDOWN */
    char *topic;
};

/* Errors that say the producer or its topic cannot work at all, rather than
 * that one record is bad or the cluster is busy: a fatal (idempotence)
 * error, no authorization or authentication, a topic that does not exist
 * and will not be created. */
static int is_down_err(const kafka_sink_t *s, rd_kafka_resp_err_t err)
{
    if (sl__kafka_err(err) == SL_ESINKDOWN)
        return 1;
    return (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
            err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) &&
           !s->prod->autocreate;
}

/* Marks the sink unusable and fails the processor, once. */
static void go_down(kafka_sink_t *s, rd_kafka_resp_err_t err, const char *reason)
{
    if (s->down)
        return;
    s->down = 1;
    char why[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fr[400];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(s->prod->rk, fr, sizeof fr);
        snprintf(why, sizeof why, "fatal producer error %s: %s", rd_kafka_err2name(orig),
                 orig ? fr : rd_kafka_err2str(err));
    } else if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
               err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        snprintf(why, sizeof why,
                 "the topic does not exist and allow.auto.create.topics is false: create it");
    } else {
        snprintf(why, sizeof why, "%s: %s", rd_kafka_err2name(err),
                 reason ? reason : rd_kafka_err2str(err));
    }
    sl__proc_fail(s->prod->proc, SL_ESINKDOWN, "kafka sink %s is unusable: %s", s->topic, why);
}

/* The sluice error for a produce or delivery error of this sink. */
static int sink_err(kafka_sink_t *s, rd_kafka_resp_err_t err)
{
    if (!err)
        return 0;
    if (s->down || is_down_err(s, err)) {
        go_down(s, err, NULL);
        return SL_ESINKDOWN;
    }
    return sl__kafka_err(err);
}

/* Whether @p reason names @p topic as a whole word of topic characters (so
 * topic "out" is not found in "output" or "out.v2"). */
static int names_topic(const char *reason, const char *topic)
{
    size_t n = strlen(topic);
    for (const char *at = reason ? strstr(reason, topic) : NULL; at; at = strstr(at + 1, topic)) {
        char before = at == reason ? ' ' : at[-1], after = at[n];
        int word_before = before == '.' || before == '_' || before == '-' ||
                          (before >= '0' && before <= '9') || (before >= 'A' && before <= 'Z') ||
                          (before >= 'a' && before <= 'z');
        int word_after = after == '.' || after == '_' || after == '-' ||
                         (after >= '0' && after <= '9') || (after >= 'A' && after <= 'Z') ||
                         (after >= 'a' && after <= 'z');
        if (!word_before && !word_after)
            return 1;
    }
    return 0;
}

/* librdkafka's client-wide errors: most are transient (brokers down,
 * transport) and only logged; those that say the producer cannot work fail
 * the processor at once, without waiting for a delivery report. A producer
 * error (fatal, authorization) concerns every sink of the shared producer; a
 * topic error concerns the sinks whose topic the reason names (the others
 * learn of theirs from their delivery reports). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    kafka_prod_t *pr = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        pr->all_down = 1;
    /* Errors of one topic; the rest (fatal, authentication, cluster
     * authorization) concern the producer, hence every sink. */
    int topical = e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                  e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                  e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int whole = !topical && sl__kafka_err(e) == SL_ESINKDOWN, hit = 0;
    for (size_t i = 0; i < pr->nsinks; i++) {
        kafka_sink_t *s = pr->sinks[i];
        if (is_down_err(s, e) && (whole || names_topic(reason, s->topic))) {
            go_down(s, e, reason);
            hit = 1;
        }
    }
    if (!hit)
        sl__log(pr->proc, "warn", "kafka producer: %s: %s", rd_kafka_err2name(e), reason);
}

/* The sink that wrote @p m: its topic handle's opaque (one handle per
 * topic: two sinks of one topic share the first one's, and map errors
 * alike), else the first sink of that topic by name. */
static kafka_sink_t *sink_of(const kafka_prod_t *pr, const rd_kafka_message_t *m)
{
    kafka_sink_t *s = rd_kafka_topic_opaque(m->rkt);
    if (s)
        return s;
    const char *name = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < pr->nsinks; i++)
        if (!strcmp(pr->sinks[i]->topic, name))
            return pr->sinks[i];
    return NULL;
}

/* librdkafka's statistics, served by the producer's poll on the loop thread. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    kafka_prod_t *pr = opaque;
    int up = sl__kafka_brokers_up(json);
    if (up >= 0) {
        pr->brokers_up = up;
        pr->all_down = up == 0;
    }
    return 0; /* librdkafka frees json */
}

/* /ready: every sink of the shared producer usable, and a broker reachable. */
static int ks_ready(void *opaque, char *why, size_t why_size)
{
    kafka_prod_t *pr = opaque;
    for (size_t i = 0; i < pr->nsinks; i++) {
        if (pr->sinks[i]->down) {
            snprintf(why, why_size, "kafka sink %s: unusable", pr->sinks[i]->topic);
            return 0;
        }
    }
    if (pr->all_down || pr->brokers_up == 0) {
        snprintf(why, why_size, "kafka sink %s: no broker reachable",
                 pr->nsinks ? pr->sinks[0]->topic : "(none)");
        return 0;
    }
    return 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sl_uow_t *u = m->_private;
    if (!u)
        return;
    kafka_sink_t *s = sink_of(opaque, m);
    if (!s) { /* cannot happen: every message is produced through a sink's handle */
        sl_uow_ack(u, m->err ? sl__kafka_err(m->err) : 0);
        return;
    }
    int err = sink_err(s, m->err);
    if (err) {
        char msg[200];
        snprintf(msg, sizeof msg, "kafka delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
        sl_uow_fail(u, err, msg);
    } else if (!m->err) {
        kafka_prod_t *pr = opaque;
        pr->all_down = 0; /* delivered: a broker is back (statistics may be off) */
    }
    /* While running, the acknowledgement waits until the poll that serves
     * this report returns: the uows of a poll's reports were written long
     * ago and are out of cache, and acknowledged together their loads can be
     * started ahead (acks_flush). Once the producer is closed (purge, flush,
     * destroy) each is acknowledged at once, as before. */
    kafka_prod_t *pr = opaque;
    if (!pr->closed && !sl__grow(&pr->acks, &pr->acap, pr->nacks + 1, sizeof *pr->acks, 256)) {
        pr->acks[pr->nacks++] = (struct dr_ack_s){u, err};
        return;
    }
    sl_uow_ack(u, err);
}

/* How far ahead of the acknowledgement the uow, its entry and its record
 * are asked for: three dependent loads, each started AHEAD reports after
 * the one it needs. */
#define AHEAD 4

/* Acknowledges the reports dr_cb() kept, in their order. An acknowledgement
 * may write (a retry) and poll again: the reports that poll serves are
 * appended, and taken by this same loop. */
static void acks_flush(kafka_prod_t *pr)
{
    if (pr->acking)
        return;
    pr->acking = 1;
    for (size_t i = 0; i < pr->nacks; i++) {
        if (i + 3 * AHEAD < pr->nacks)
            sl__uow_prefetch(pr->acks[i + 3 * AHEAD].u, 0);
        if (i + 2 * AHEAD < pr->nacks)
            sl__uow_prefetch(pr->acks[i + 2 * AHEAD].u, 1);
        if (i + AHEAD < pr->nacks)
            sl__uow_prefetch(pr->acks[i + AHEAD].u, 2);
        sl_uow_ack(pr->acks[i].u, pr->acks[i].err);
    }
    pr->nacks = 0;
    pr->acking = 0;
}

/* rd_kafka_poll() on the producer, then the acknowledgements it gave. */
static void prod_poll(kafka_prod_t *pr, int timeout_ms)
{
    rd_kafka_poll(pr->rk, timeout_ms);
    acks_flush(pr);
}

/* A uow librdkafka refused to take (@p e): failed and acknowledged now. */
static void refused(kafka_sink_t *s, sl_uow_t *u, rd_kafka_resp_err_t e)
{
    char msg[200];
    snprintf(msg, sizeof msg, "kafka produce to %s failed: %s", s->topic, rd_kafka_err2str(e));
    int err = sink_err(s, e);
    sl_uow_fail(u, err, msg);
    sl_uow_ack(u, err);
}

/* Header-less uows are handed over this many at a time. */
#define RUN_MAX 64

/* rd_kafka_produce_batch() of @p n messages, in their order: one clock
 * read, one produce check and one topic lock for the run instead of one
 * each per record (rd_kafka_produce). Each message librdkafka did not take
 * carries its error, as rd_kafka_produce() would have returned it. */
static void produce_run(kafka_sink_t *s, rd_kafka_message_t *ms, size_t n)
{
    if (!n)
        return;
    if ((size_t)rd_kafka_produce_batch(s->rkt, RD_KAFKA_PARTITION_UA, 0, ms, (int)n) == n)
        return;
    for (size_t i = 0; i < n; i++)
        if (ms[i].err)
            refused(s, ms[i]._private, ms[i].err);
}

static int ks_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    kafka_sink_t *s = opaque;
    int refused_all = sl__sink_refusal(s->prod->closed, s->down);
    if (refused_all)
        return refused_all; /* SL_ESINKDOWN: each uow stays undone, read again by the next run */
    rd_kafka_message_t run[RUN_MAX];
    size_t nrun = 0;
    for (size_t i = 0; i < n; i++) {
        sl_uow_t *u = uows[i];
        sl_span_t k, v;
        sl_uow_output(u, &k, &v);
        size_t nh;
        const sl_header_t *h = sl_uow_output_headers(u, &nh);
        if (!nh) {
            run[nrun++] = (rd_kafka_message_t){.payload = (void *)v.ptr,
                                               .len = v.len,
                                               .key = k.len ? (void *)k.ptr : NULL,
                                               .key_len = k.len,
                                               ._private = u};
            if (nrun == RUN_MAX) {
                produce_run(s, run, nrun);
                nrun = 0;
            }
            continue;
        }
        /* The run before this uow first: the records keep their order. */
        produce_run(s, run, nrun);
        nrun = 0;
        /* Headers (a fault's sluice.fault.*, a resubmitted record's):
         * librdkafka copies them and owns the list once produced. */
        rd_kafka_headers_t *hs = rd_kafka_headers_new(nh);
        for (size_t j = 0; j < nh; j++)
            rd_kafka_header_add(hs, h[j].name, -1, h[j].value, (ssize_t)h[j].value_len);
        /* rd_kafka_produceva, not producev: producev's argument macros
         * are GNU statement expressions, refused by clang -Wpedantic. */
        rd_kafka_vu_t vu[6] = {
            {.vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = s->rkt},
            {.vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = RD_KAFKA_PARTITION_UA},
            {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {(void *)v.ptr, v.len}},
            {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {k.len ? (void *)k.ptr : NULL, k.len}},
            {.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = hs},
            {.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = u}};
        rd_kafka_error_t *pe = rd_kafka_produceva(s->prod->rk, vu, 6);
        if (pe) {
            rd_kafka_resp_err_t e = rd_kafka_error_code(pe);
            rd_kafka_error_destroy(pe);
            rd_kafka_headers_destroy(hs);
            refused(s, u, e);
        }
    }
    produce_run(s, run, nrun);
    return 0;
}

static void ks_poll(void *opaque, int timeout_ms)
{
    kafka_prod_t *pr = opaque;
    if (pr->rk)
        prod_poll(pr, timeout_ms);
}

static void wake_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    kafka_prod_t *pr = h->data;
    sl__kqwake_drain(&pr->wake);
    prod_poll(pr, 0);
    sl__proc_after(pr->proc);
}

static void timer_cb(uv_timer_t *t)
{
    kafka_prod_t *pr = t->data;
    prod_poll(pr, 0);
    sl__proc_after(pr->proc);
}

/* Start the loop hooks lazily, the first time a sink writes (on the loop). */
static int prod_start(kafka_prod_t *pr)
{
    uv_loop_t *loop = sl__proc_loop(pr->proc);
    if (sl__kqwake_init(&pr->wake, loop, pr->mainq, wake_cb, pr))
        return SL_EIO;
    uv_timer_init(loop, &pr->timer);
    pr->timer.data = pr;
    uv_timer_start(&pr->timer, timer_cb, 100, 100);
    pr->timer_on = 1;
    return 0;
}

static void ks_shutdown(void *opaque)
{
    kafka_prod_t *pr = opaque;
    if (pr->closed || !pr->rk)
        return;
    pr->closed = 1;
    /* Give back what librdkafka still holds, for every sink: each uow is
     * acknowledged with a purge error now, while the engine is alive. */
    rd_kafka_purge(pr->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    prod_poll(pr, 0);
}

static void ks_close(void *opaque)
{
    kafka_prod_t *pr = opaque;
    /* Whatever is still unacknowledged at this point was drained or timed
     * out; librdkafka may still deliver it while we wait a little. */
    if (pr->rk) {
        rd_kafka_flush(pr->rk, 100);
        acks_flush(pr);
    }
    sl__kqwake_close(&pr->wake, pr->mainq);
    if (pr->timer_on) {
        uv_timer_stop(&pr->timer);
        uv_close((uv_handle_t *)&pr->timer, NULL);
        pr->timer_on = 0;
    }
}

static void sink_free(kafka_sink_t *s)
{
    if (!s)
        return;
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    sl_free(s->topic);
    sl_free(s);
}

static void ks_destroy(void *opaque)
{
    kafka_prod_t *pr = opaque;
    /* Topic handles first: the producer is destroyed after its topics. */
    for (size_t i = 0; i < pr->nsinks; i++)
        sink_free(pr->sinks[i]);
    sl_free(pr->sinks);
    sl_free(pr->acks);
    if (pr->mainq)
        rd_kafka_queue_destroy(pr->mainq);
    if (pr->rk)
        rd_kafka_destroy(pr->rk);
    sl_free(pr);
}

/* The sink's own destroy is a no-op: the producer's service owns the state. */
static void ks_sink_destroy(void *opaque)
{
    (void)opaque;
}

static int ks_lazy_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    kafka_sink_t *s = opaque;
    kafka_prod_t *pr = s->prod;
    if (!pr->wake.active && !pr->closed && prod_start(pr))
        return SL_EIO;
    return ks_write(opaque, uows, n);
}

rd_kafka_t *sl__kafka_sink_rk(const sl_sink_t *sink)
{
    void *opaque;
    const sl_sink_ops_t *ops = sl__sink_ops(sink, &opaque);
    return ops && ops->write == ks_lazy_write ? ((kafka_sink_t *)opaque)->prod->rk : NULL;
}

/* The processor's producer, made (and registered as a service) by its first
 * Kafka sink. NULL with a message in @p errstr. */
static kafka_prod_t *producer_of(sl_processor_t *p, char *errstr, size_t errstr_size)
{
    kafka_prod_t *pr = sl__proc_attached(p, PRODUCER_KEY);
    if (pr)
        return pr;
    static const char *const defaults[] = {"enable.idempotence", "true", "linger.ms", "5", NULL};
    pr = sl_calloc(1, sizeof *pr);
    if (!pr) {
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pr->proc = p;
    rd_kafka_conf_t *kc = sl__kafka_conf(p, RD_KAFKA_PRODUCER, defaults, errstr, errstr_size);
    if (!kc)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (sl__proc_http_on(p))
        rd_kafka_conf_set_stats_cb(kc, stats_cb);
    pr->brokers_up = -1;
    rd_kafka_conf_set_opaque(kc, pr);
    /* Consumer-only properties shared through kafka.* would warn here. */
    char err[256];
    pr->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    if (!pr->rk) {
        rd_kafka_conf_destroy(kc);
        sl__errf(errstr, errstr_size, "kafka producer: %s", err);
        goto fail;
    }
    pr->mainq = rd_kafka_queue_get_main(pr->rk);
    if (!pr->mainq)
        goto fail;
    char ac[8];
    size_t al = sizeof ac;
    pr->autocreate = rd_kafka_conf_get(rd_kafka_conf(pr->rk), "allow.auto.create.topics", ac,
                                       &al) != RD_KAFKA_CONF_OK ||
                     strcmp(ac, "false") != 0;
    pr->max_record = 1000000;
    char buf[32];
    size_t bl = sizeof buf;
    if (rd_kafka_conf_get(rd_kafka_conf(pr->rk), "message.max.bytes", buf, &bl) == RD_KAFKA_CONF_OK)
        pr->max_record = (size_t)strtoull(buf, NULL, 10);
    sl__service_t svc = {ks_poll, ks_shutdown, ks_close, ks_destroy, pr, ks_ready};
    if (sl__proc_add_service(p, &svc))
        goto fail;
    /* From here the processor's service owns pr. Should the processor have
     * no room to name it, the next sink makes a producer of its own:
     * correct, only not shared. */
    sl__proc_attach(p, PRODUCER_KEY, pr, NULL);
    return pr;
fail:
    if (errstr && errstr_size && !errstr[0])
        sl__errf(errstr, errstr_size, "cannot create the kafka producer");
    ks_destroy(pr);
    return NULL;
}

sl_sink_t *sl_kafka_sink_new(sl_processor_t *p, const char *topic, char *errstr, size_t errstr_size)
{
    if (!p || !topic || !*topic) {
        sl__errf(errstr, errstr_size, "a processor and a topic are required");
        return NULL;
    }
    if (errstr && errstr_size)
        errstr[0] = 0;
    /* Describe-only: name the topic and brokers, create no producer. */
    if (sl__proc_describe_only(p))
        return sl__proc_channel_sink(
            p, "kafka", topic, sl_conf_get_str_pt(sl_processor_conf(p), "kafka.bootstrap.servers"),
            errstr, errstr_size);
    kafka_prod_t *pr = producer_of(p, errstr, errstr_size);
    if (!pr)
        return NULL;
    kafka_sink_t *s = sl_calloc(1, sizeof *s);
    kafka_sink_t **ns = sl_realloc(pr->sinks, (pr->nsinks + 1) * sizeof *ns);
    if (ns)
        pr->sinks = ns;
    if (!s || !ns || !(s->topic = sl_strdup(topic))) {
        sink_free(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->prod = pr;
    /* The producer's topic defaults (kafka.* topic properties), and the sink
     * as the opaque its delivery reports are routed by. */
    rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(pr->rk);
    if (tc)
        rd_kafka_topic_conf_set_opaque(tc, s);
    s->rkt = tc ? rd_kafka_topic_new(pr->rk, topic, tc) : NULL;
    if (!s->rkt) { /* rd_kafka_topic_new() freed tc */
        sl__errf(errstr, errstr_size, "kafka topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        sink_free(s);
        return NULL;
    }
    pr->sinks[pr->nsinks++] = s; /* from here the producer owns s */
    sl_sink_ops_t ops = {.name = s->topic,
                         .write = ks_lazy_write,
                         .destroy = ks_sink_destroy,
                         .max_record_bytes = pr->max_record - 512 /* record overhead */};
    sl_sink_t *sink = sl__proc_sink_new(p, &ops, s, errstr, errstr_size);
    /* Its channel in the processor's description (the processor owns the
     * sink already, and frees it with the rest). */
    if (sink && sl__sink_set_channel(sink, "kafka", topic, sl_kafka_bootstrap(p))) {
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return sink;
}
