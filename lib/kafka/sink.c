/* sluice — Kafka sink: an (idempotent) producer; a uow completes from its
 * delivery report. Key and value are handed over without a copy: the uow's
 * output stays valid until it is acknowledged. */
#include "core/util.h"
#include "kafka/kafka_int.h"
#include "sluice/error.h"
#include "sluice/kafka.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kafka_sink_s {
    sl_processor_t *proc; /* first: log_cb reads it through the opaque */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *mainq;
    sl__kqwake_t wake;
    uv_timer_t timer;
    int timer_on;
    int closed;
    int autocreate; /* allow.auto.create.topics: an unknown topic may still appear */
    int down;       /* the sink is unusable: every write is acknowledged SL_ESINKDOWN */
    int brokers_up; /* from librdkafka's statistics (operations endpoint on); -1 unknown */
    int all_down;   /* librdkafka said all brokers are down, and none came up since */
    char *topic;
} kafka_sink_t;

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
           !s->autocreate;
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
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(s->rk, fr, sizeof fr);
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
    sl__proc_fail(s->proc, SL_ESINKDOWN, "kafka sink %s is unusable: %s", s->topic, why);
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

/* librdkafka's client-wide errors: most are transient (brokers down,
 * transport) and only logged; those that say the producer cannot work fail
 * the processor at once, without waiting for a delivery report. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    kafka_sink_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        s->all_down = 1;
    }
    if (is_down_err(s, (rd_kafka_resp_err_t)err)) {
        go_down(s, (rd_kafka_resp_err_t)err, reason);
    } else {
        sl__log(s->proc, "warn", "kafka sink %s: %s: %s", s->topic,
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    }
}

/* librdkafka's statistics, served by the sink's poll on the loop thread. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    kafka_sink_t *s = opaque;
    int up = sl__kafka_brokers_up(json);
    if (up >= 0) {
        s->brokers_up = up;
        s->all_down = up == 0;
    }
    return 0; /* librdkafka frees json */
}

static int ks_ready(void *opaque, char *why, size_t why_size)
{
    kafka_sink_t *s = opaque;
    if (s->down) {
        snprintf(why, why_size, "kafka sink %s: unusable", s->topic);
        return 0;
    }
    if (s->all_down || s->brokers_up == 0) {
        snprintf(why, why_size, "kafka sink %s: no broker reachable", s->topic);
        return 0;
    }
    return 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_sink_t *s = opaque;
    sl_uow_t *u = m->_private;
    if (!u)
        return;
    int err = sink_err(s, m->err);
    if (err) {
        char msg[200];
        snprintf(msg, sizeof msg, "kafka delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
        sl_uow_fail(u, err, msg);
    } else if (s->all_down) {
        s->all_down = 0; /* delivered: a broker is back (statistics may be off) */
    }
    sl_uow_ack(u, err);
}

static int ks_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    kafka_sink_t *s = opaque;
    if (s->closed)
        return SL_ESHUTDOWN;
    if (s->down)
        return SL_ESINKDOWN; /* each uow stays undone: it is read again by the next run */
    for (size_t i = 0; i < n; i++) {
        sl_uow_t *u = uows[i];
        sl_span_t k, v;
        sl_uow_output(u, &k, &v);
        if (rd_kafka_produce(s->rkt, RD_KAFKA_PARTITION_UA, 0, (void *)v.ptr, v.len,
                             k.len ? k.ptr : NULL, k.len, u) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            char msg[200];
            snprintf(msg, sizeof msg, "kafka produce to %s failed: %s", s->topic,
                     rd_kafka_err2str(e));
            int err = sink_err(s, e);
            sl_uow_fail(u, err, msg);
            sl_uow_ack(u, err);
        }
    }
    return 0;
}

static void ks_poll(void *opaque, int timeout_ms)
{
    kafka_sink_t *s = opaque;
    if (s->rk)
        rd_kafka_poll(s->rk, timeout_ms);
}

static void wake_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    kafka_sink_t *s = h->data;
    sl__kqwake_drain(&s->wake);
    rd_kafka_poll(s->rk, 0);
    sl__proc_after(s->proc);
}

static void timer_cb(uv_timer_t *t)
{
    kafka_sink_t *s = t->data;
    rd_kafka_poll(s->rk, 0);
    sl__proc_after(s->proc);
}

/* Start the loop hooks lazily, the first time the loop runs them. */
static int ks_start(kafka_sink_t *s)
{
    uv_loop_t *loop = sl__proc_loop(s->proc);
    if (sl__kqwake_init(&s->wake, loop, s->mainq, wake_cb, s))
        return SL_EIO;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, timer_cb, 100, 100);
    s->timer_on = 1;
    return 0;
}

static void ks_shutdown(void *opaque)
{
    kafka_sink_t *s = opaque;
    if (s->closed || !s->rk)
        return;
    s->closed = 1;
    /* Give back what librdkafka still holds: each uow is acknowledged with a
     * purge error now, while the engine is alive. */
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(s->rk, 0);
}

static void ks_close(void *opaque)
{
    kafka_sink_t *s = opaque;
    /* Whatever is still unacknowledged at this point was drained or timed
     * out; librdkafka may still deliver it while we wait a little. */
    if (s->rk)
        rd_kafka_flush(s->rk, 100);
    sl__kqwake_close(&s->wake, s->mainq);
    if (s->timer_on) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, NULL);
        s->timer_on = 0;
    }
}

static void ks_destroy(void *opaque)
{
    kafka_sink_t *s = opaque;
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    if (s->mainq)
        rd_kafka_queue_destroy(s->mainq);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    sl_free(s->topic);
    sl_free(s);
}

/* The sink's own destroy is a no-op: the processor's service owns the state. */
static void ks_sink_destroy(void *opaque)
{
    (void)opaque;
}

static int ks_lazy_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    kafka_sink_t *s = opaque;
    if (!s->wake.active && !s->closed && ks_start(s))
        return SL_EIO;
    return ks_write(opaque, uows, n);
}

rd_kafka_t *sl__kafka_sink_rk(const sl_sink_t *sink)
{
    void *opaque;
    const sl_sink_ops_t *ops = sl__sink_ops(sink, &opaque);
    return ops && ops->write == ks_lazy_write ? ((kafka_sink_t *)opaque)->rk : NULL;
}

sl_sink_t *sl_kafka_sink_new(sl_processor_t *p, const char *topic, char *errstr, size_t errstr_size)
{
    if (!p || !topic || !*topic) {
        sl__errf(errstr, errstr_size, "a processor and a topic are required");
        return NULL;
    }
    static const char *const defaults[] = {"enable.idempotence", "true", "linger.ms", "5", NULL};
    if (errstr && errstr_size)
        errstr[0] = 0;
    kafka_sink_t *s = sl_calloc(1, sizeof *s);
    if (!s || !(s->topic = sl_strdup(topic))) {
        sl_free(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->proc = p;
    rd_kafka_conf_t *kc = sl__kafka_conf(p, RD_KAFKA_PRODUCER, defaults, errstr, errstr_size);
    if (!kc)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (sl__proc_http_on(p))
        rd_kafka_conf_set_stats_cb(kc, stats_cb);
    s->brokers_up = -1;
    rd_kafka_conf_set_opaque(kc, s);
    /* Consumer-only properties shared through kafka.* would warn here. */
    char err[256];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    if (!s->rk) {
        rd_kafka_conf_destroy(kc);
        sl__errf(errstr, errstr_size, "kafka producer: %s", err);
        goto fail;
    }
    s->rkt = rd_kafka_topic_new(s->rk, topic, NULL);
    s->mainq = rd_kafka_queue_get_main(s->rk);
    if (!s->rkt || !s->mainq)
        goto fail;
    char ac[8];
    size_t al = sizeof ac;
    s->autocreate = rd_kafka_conf_get(rd_kafka_conf(s->rk), "allow.auto.create.topics", ac, &al) !=
                        RD_KAFKA_CONF_OK ||
                    strcmp(ac, "false") != 0;
    size_t max = 1000000;
    char buf[32];
    size_t bl = sizeof buf;
    if (rd_kafka_conf_get(rd_kafka_conf(s->rk), "message.max.bytes", buf, &bl) == RD_KAFKA_CONF_OK)
        max = (size_t)strtoull(buf, NULL, 10);
    sl_sink_ops_t ops = {.name = s->topic,
                         .write = ks_lazy_write,
                         .destroy = ks_sink_destroy,
                         .max_record_bytes = max - 512 /* record overhead */};
    sl__service_t svc = {ks_poll, ks_shutdown, ks_close, ks_destroy, s, ks_ready};
    if (sl__proc_add_service(p, &svc))
        goto fail;
    /* From here the processor's service owns s. */
    sl_sink_t *sink = sl_sink_new(&ops, s);
    if (!sink || sl__proc_own_sink(p, sink)) {
        sl_sink_destroy(sink);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return sink;
fail:
    if (errstr && errstr_size && !errstr[0])
        sl__errf(errstr, errstr_size, "cannot create the kafka sink for %s", topic);
    ks_destroy(s);
    return NULL;
}
