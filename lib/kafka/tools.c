/* sluice — Kafka calls for tools that run once rather than as a processor
 * (sluice-faults resubmit): a topic's end offsets, reading a range of a
 * topic, producing a set of records and waiting for every delivery report.
 * Each makes its own short-lived librdkafka client from the processor's
 * kafka.* configuration; none needs the processor to run. */
#include "core/util.h"
#include "kafka/kafka_int.h"
#include "sluice/error.h"
#include "sluice/kafka.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define META_TIMEOUT_MS 10000

static const char *const no_create[] = {"allow.auto.create.topics", "false", NULL};

/* The librdkafka log callback reads the processor from the opaque's first member. */
typedef struct {
    sl_processor_t *p;
    sl_kafka_msg_t *msgs;
    void (*acked)(void *opaque, size_t i, const sl_kafka_msg_t *m);
    void *opaque;
    size_t pending;
} tool_t;

static rd_kafka_t *client(tool_t *t, rd_kafka_type_t kind, const char *const *defaults,
                          char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kc = sl__kafka_conf(t->p, kind, defaults, errstr, errstr_size);
    if (!kc)
        return NULL;
    rd_kafka_conf_set_opaque(kc, t);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(kind, kc, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        sl__errf(errstr, errstr_size, "kafka client: %s", err);
    }
    return rk;
}

/* The partition count of @p topic, or a negative code (SL_ENOENT when the
 * topic does not exist). */
static int partitions(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return SL_ENOMEM;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
    int rc;
    if (e) {
        sl__errf(errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(e));
        rc = sl__kafka_err(e);
        if (!sl_err_is_retriable(rc) && rc != SL_ENOENT)
            rc = SL_EIO;
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        sl__errf(errstr, errstr_size, "topic %s: %s", topic,
                 e ? rd_kafka_err2str(e) : "no partitions");
        rc = SL_ENOENT;
    } else {
        rc = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int sl_kafka_end_offsets(sl_processor_t *p, const char *topic, int64_t *ends, int *count,
                         char *errstr, size_t errstr_size)
{
    if (!p || !topic || !*topic || !ends || !count || *count <= 0)
        return SL_EINVAL;
    tool_t t = {.p = p};
    /* A producer: it asks nothing of a group. It must not create the topic
     * by asking for it. */
    rd_kafka_t *rk = client(&t, RD_KAFKA_PRODUCER, no_create, errstr, errstr_size);
    if (!rk)
        return SL_EINVAL;
    int n = partitions(rk, topic, errstr, errstr_size);
    int rc = 0;
    if (n < 0) {
        rc = n;
    } else if (n > *count) {
        sl__errf(errstr, errstr_size, "topic %s has %d partitions, more than %d", topic, n, *count);
        rc = SL_ERANGE;
    } else {
        for (int i = 0; i < n && !rc; i++) {
            int64_t lo, hi;
            rd_kafka_resp_err_t e =
                rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, META_TIMEOUT_MS);
            if (e) {
                sl__errf(errstr, errstr_size, "end of %s/%d: %s", topic, i, rd_kafka_err2str(e));
                rc = SL_EIO;
            }
            ends[i] = hi;
        }
        *count = n;
    }
    rd_kafka_destroy(rk);
    return rc;
}

int sl_kafka_scan(sl_processor_t *p, const char *topic, const int64_t *from, int count,
                  int (*cb)(void *opaque, const sl_record_t *rec), void *opaque, char *errstr,
                  size_t errstr_size)
{
    if (!p || !topic || !*topic || !from || count <= 0 || !cb)
        return SL_EINVAL;
    tool_t t = {.p = p};
    /* No group: the partitions are assigned, nothing is committed. */
    static const char *const defs[] = {
        "enable.auto.commit", "false", "enable.partition.eof", "true", "group.id",
        "sluice-scan",        NULL};
    rd_kafka_t *rk = client(&t, RD_KAFKA_CONSUMER, defs, errstr, errstr_size);
    if (!rk)
        return SL_EINVAL;
    int rc = 0;
    int64_t *ends = sl_calloc((size_t)count, sizeof *ends);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(count);
    int open = 0;
    if (!ends || !l) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (int i = 0; i < count && !rc; i++) {
        int64_t lo;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &ends[i], META_TIMEOUT_MS);
        if (e) {
            sl__errf(errstr, errstr_size, "end of %s/%d: %s", topic, i, rd_kafka_err2str(e));
            rc = SL_EIO;
            break;
        }
        if (from[i] < lo) {
            /* Gone from the topic already: what was there cannot be checked. */
            sl__errf(errstr, errstr_size, "%s/%d: offset %lld is no longer retained (first %lld)",
                     topic, i, (long long)from[i], (long long)lo);
            rc = SL_ERANGE;
            break;
        }
        if (from[i] < ends[i]) {
            rd_kafka_topic_partition_list_add(l, topic, i)->offset = from[i];
            open++;
        }
    }
    if (rc || !open)
        goto out;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    if (e) {
        sl__errf(errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(e));
        rc = SL_EIO;
        goto out;
    }
    time_t quiet = time(NULL);
    while (open > 0 && !rc) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (time(NULL) - quiet > META_TIMEOUT_MS / 1000) {
                sl__errf(errstr, errstr_size, "reading %s: nothing for %d s", topic,
                         META_TIMEOUT_MS / 1000);
                rc = SL_ETIMEDOUT;
            }
            continue;
        }
        quiet = time(NULL);
        int32_t part = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (part >= 0 && part < count && ends[part] >= 0) {
                ends[part] = -1;
                open--;
            }
        } else if (m->err) {
            sl__errf(errstr, errstr_size, "reading %s: %s", topic, rd_kafka_message_errstr(m));
            rc = SL_EIO;
        } else if (part >= 0 && part < count && ends[part] >= 0 && m->offset < ends[part]) {
            rd_kafka_headers_t *hs = NULL;
            sl_header_t h[64];
            size_t nh = 0;
            if (!rd_kafka_message_headers(m, &hs)) {
                const char *name;
                const void *val;
                size_t vl;
                while (nh < 64 && !rd_kafka_header_get_all(hs, nh, &name, &val, &vl)) {
                    h[nh] = (sl_header_t){name, val, vl};
                    nh++;
                }
            }
            sl_record_t r = {.topic = topic,
                             .partition = part,
                             .offset = m->offset,
                             .key = m->key,
                             .key_len = m->key_len,
                             .value = m->payload,
                             .value_len = m->len,
                             .headers = nh ? h : NULL,
                             .header_count = nh};
            rc = cb(opaque, &r);
            if (m->offset + 1 >= ends[part]) {
                ends[part] = -1;
                open--;
            }
        }
        rd_kafka_message_destroy(m);
    }
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    sl_free(ends);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tool_t *t = opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    sl_kafka_msg_t *msg = &t->msgs[i];
    msg->err = m->err ? sl__kafka_err(m->err) : 0;
    msg->partition = m->partition;
    msg->offset = m->offset;
    t->pending--;
    if (t->acked)
        t->acked(t->opaque, i, msg);
}

int sl_kafka_produce_sync(sl_processor_t *p, const char *topic, sl_kafka_msg_t *msgs, size_t n,
                          double rate,
                          void (*acked)(void *opaque, size_t i, const sl_kafka_msg_t *m),
                          void *opaque, char *errstr, size_t errstr_size)
{
    if (!p || !topic || !*topic || (n && !msgs) || rate < 0)
        return SL_EINVAL;
    tool_t t = {.p = p, .msgs = msgs, .acked = acked, .opaque = opaque};
    static const char *const defs[] = {"enable.idempotence", "true", "allow.auto.create.topics",
                                       "false", NULL};
    rd_kafka_conf_t *kc = sl__kafka_conf(p, RD_KAFKA_PRODUCER, defs, errstr, errstr_size);
    if (!kc)
        return SL_EINVAL;
    rd_kafka_conf_set_opaque(kc, &t);
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        sl__errf(errstr, errstr_size, "kafka producer: %s", err);
        return SL_EINVAL;
    }
    /* A missing topic is an error before anything is sent. */
    int rc = partitions(rk, topic, errstr, errstr_size);
    rc = rc < 0 ? rc : 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t sent = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        sl_kafka_msg_t *m = &msgs[i];
        m->err = SL_EAGAIN;
        m->partition = -1;
        m->offset = -1;
        if (rate > 0) {
            /* Paced: message i leaves no earlier than i / rate seconds in. */
            for (;;) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                double el = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
                double due = (double)i / rate;
                if (el >= due)
                    break;
                int ms = (int)((due - el) * 1000) + 1;
                rd_kafka_poll(rk, ms < 100 ? ms : 100);
            }
        }
        rd_kafka_headers_t *hs = rd_kafka_headers_new(m->header_count ? m->header_count : 1);
        for (size_t j = 0; j < m->header_count; j++)
            rd_kafka_header_add(hs, m->headers[j].name, -1, m->headers[j].value,
                                (ssize_t)m->headers[j].value_len);
        for (;;) {
            /* rd_kafka_produceva, not producev: producev's argument macros
             * are GNU statement expressions, refused by clang -Wpedantic. */
            rd_kafka_vu_t vu[6] = {
                {.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = topic},
                {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY},
                {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {(void *)m->key, m->key ? m->key_len : 0}},
                {.vtype = RD_KAFKA_VTYPE_VALUE,
                 .u.mem = {(void *)m->value, m->value ? m->value_len : 0}},
                {.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = hs},
                {.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = (void *)(uintptr_t)i}};
            rd_kafka_error_t *pe = rd_kafka_produceva(rk, vu, 6);
            rd_kafka_resp_err_t e = pe ? rd_kafka_error_code(pe) : RD_KAFKA_RESP_ERR_NO_ERROR;
            if (pe)
                rd_kafka_error_destroy(pe);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (e) {
                rd_kafka_headers_destroy(hs);
                sl__errf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(e));
                rc = sl__kafka_err(e);
            } else {
                t.pending++;
                sent++;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    /* Every report, whatever happened above: what was produced is marked
     * only from its own report. */
    while (t.pending)
        rd_kafka_poll(rk, 100);
    rd_kafka_destroy(rk);
    for (size_t i = 0; !rc && i < sent; i++)
        if (msgs[i].err) {
            sl__errf(errstr, errstr_size, "delivery to %s: %s", topic, sl_strerror(msgs[i].err));
            rc = msgs[i].err;
        }
    return rc;
}
