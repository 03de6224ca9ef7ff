/* sluice — Kafka source: a consumer-group consumer read in batches on the
 * loop thread (librdkafka 2.0's batch consume is not safe with pause, seek
 * or rebalance on another thread). Each message's bytes are copied into a
 * record of the source's own and the message is destroyed at once; the
 * record lives until the engine says it is done; offsets are committed from
 * its watermark. */
#include "core/util.h"
#include "kafka/source_int.h"
#include "sluice/error.h"
#include "sluice/kafka.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t sl__kafsrc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- partitions ---- */

kpart_t *sl__kafsrc_part_find(kafka_src_t *s, const char *topic, int32_t partition, int create)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic))
            return &s->parts[i];
    if (!create)
        return NULL;
    if (sl__grow(&s->parts, &s->pcap, s->nparts + 1, sizeof *s->parts, 16))
        return NULL;
    char *t = sl_strdup(topic);
    if (!t)
        return NULL;
    kpart_t *kp = &s->parts[s->nparts++];
    memset(kp, 0, sizeof *kp);
    kp->topic = t;
    kp->partition = partition;
    kp->committed = -1;
    kp->floor = -1;
    return kp;
}

/* Tell librdkafka to pause or resume partitions whose wanted state changed. */
void sl__kafsrc_apply_pauses(kafka_src_t *s)
{
    rd_kafka_topic_partition_list_t *pause = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < s->nparts; i++) {
        kpart_t *kp = &s->parts[i];
        if (!kp->assigned)
            continue;
        int want = (s->paused_all && s->hard_all) || kp->paused_self || s->stopping;
        if (want == kp->paused_applied)
            continue;
        rd_kafka_topic_partition_list_add(want ? pause : resume, kp->topic, kp->partition);
        kp->paused_applied = want;
    }
    if (pause->cnt)
        rd_kafka_pause_partitions(s->rk, pause);
    if (resume->cnt)
        rd_kafka_resume_partitions(s->rk, resume);
    rd_kafka_topic_partition_list_destroy(pause);
    rd_kafka_topic_partition_list_destroy(resume);
}

/* ---- records ---- */

static kafka_rec_t *krec_get(kafka_src_t *s)
{
    kafka_rec_t *r = s->free_recs;
    if (r) {
        s->free_recs = r->next_free;
        return r;
    }
    r = sl_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->all_next = s->all_recs;
    s->all_recs = r;
    return r;
}

/* A record's buffer above this is freed when the record is: the free list
 * keeps up to inflight.max.records of them, sized for the common record. */
#define KREC_KEEP_BYTES 16384

static void krec_put(kafka_src_t *s, kafka_rec_t *r)
{
    if (r->bcap > KREC_KEEP_BYTES) {
        sl_free(r->buf);
        r->buf = NULL;
        r->bcap = 0;
    }
    r->next_free = s->free_recs;
    s->free_recs = r;
}

/* librdkafka 2.0.2 parses headers on request and keeps nothing when there
 * are none: every call for a header-less record allocates, zeroes and frees
 * a shadow buffer to read a count of 0. So source.headers=false skips the
 * call altogether. */
static size_t headers_get(rd_kafka_message_t *m, int headers, rd_kafka_headers_t **hs)
{
    *hs = NULL;
    if (headers && rd_kafka_message_headers(m, hs) == RD_KAFKA_RESP_ERR_NO_ERROR && *hs)
        return rd_kafka_header_cnt(*hs);
    return 0;
}

/* The topic's name as the source keeps it for as long as it lives: a
 * record's topic must outlast librdkafka's message, destroyed once copied. */
static const char *topic_intern(kafka_src_t *s, const char *name)
{
    if (s->last_topic && !strcmp(s->last_topic, name))
        return s->last_topic;
    for (size_t i = 0; i < s->ntopics; i++)
        if (!strcmp(s->topics[i], name))
            return s->last_topic = s->topics[i];
    if (sl__grow(&s->topics, &s->tcap, s->ntopics + 1, sizeof *s->topics, 4))
        return NULL;
    char *t = sl_strdup(name);
    if (!t)
        return NULL;
    s->topics[s->ntopics++] = t;
    return s->last_topic = t;
}

/* Copies @p m (key, value, headers) into @p r's own buffer, so librdkafka's
 * message can be destroyed at once, while its memory is still in this
 * core's cache: held until the engine is done, tens of thousands of
 * messages pinned whole fetch responses, whose frees came cold and whose
 * replacements the broker thread took from fresh pages. */
static int krec_fill(kafka_src_t *s, kafka_rec_t *r, rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hs;
    size_t nh = headers_get(m, s->headers, &hs);
    if (nh > r->hcap) {
        sl_header_t *n = sl_realloc(r->hdrs, nh * sizeof *n);
        if (!n)
            return SL_ENOMEM;
        r->hdrs = n;
        r->hcap = nh;
    }
    size_t klen = m->key ? m->key_len : 0, vlen = m->payload ? m->len : 0;
    size_t need = klen + vlen;
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        const void *val;
        size_t size;
        if (rd_kafka_header_get_all(hs, i, &name, &val, &size))
            return SL_EIO;
        r->hdrs[i] = (sl_header_t){name, val, val ? size : 0};
        need += strlen(name) + 1 + r->hdrs[i].value_len;
    }
    /* A buffer even for no bytes: an empty key or value is there (not
     * NULL), unlike a missing one, and keeps an address to say so. */
    if (need > r->bcap || !r->buf) {
        size_t cap = need < 256 ? 256 : need;
        char *b = sl_realloc(r->buf, cap);
        if (!b)
            return SL_ENOMEM;
        r->buf = b;
        r->bcap = cap;
    }
    const char *topic = topic_intern(s, rd_kafka_topic_name(m->rkt));
    if (!topic)
        return SL_ENOMEM;
    char *w = r->buf;
    const void *key = NULL, *value = NULL;
    if (m->key) {
        key = memcpy(w, m->key, klen);
        w += klen;
    }
    if (m->payload) {
        value = memcpy(w, m->payload, vlen);
        w += vlen;
    }
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(r->hdrs[i].name) + 1;
        r->hdrs[i].name = memcpy(w, r->hdrs[i].name, nl);
        w += nl;
        if (r->hdrs[i].value) {
            r->hdrs[i].value = memcpy(w, r->hdrs[i].value, r->hdrs[i].value_len);
            w += r->hdrs[i].value_len;
        }
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    r->rec = (sl_record_t){.topic = topic,
                           .partition = m->partition,
                           .offset = m->offset,
                           .timestamp_ms = ts > 0 ? ts : 0,
                           .key = key,
                           .key_len = klen,
                           .value = value,
                           .value_len = vlen,
                           .headers = nh ? r->hdrs : NULL,
                           .header_count = nh,
                           .opaque = NULL};
    return 0;
}

/* The engine could not take a message (out of memory, a bad header): every
 * partition with a message of this batch left unprocessed is rewound to the
 * first such offset, so all of them are read again. Partitions go back
 * independently: a position moved past a dropped message would let later
 * offsets be tracked and the watermark be committed over the gap. */
static void rewind_batch(kafka_src_t *s, rd_kafka_topic_partition_list_t *l)
{
    if (!l->cnt)
        return;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(s->rk, l, 1000);
    if (err) {
        sl__log(s->proc, "error", "cannot rewind %d partition(s): %s", l->cnt,
                rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    s->counters.rewound += (uint64_t)l->cnt;
    for (int i = 0; i < l->cnt; i++) {
        if (l->elems[i].err)
            sl__log(s->proc, "error", "cannot rewind %s/%d to %lld: %s", l->elems[i].topic,
                    (int)l->elems[i].partition, (long long)l->elems[i].offset,
                    rd_kafka_err2str(l->elems[i].err));
        else
            sl__log(s->proc, "warn", "%s/%d rewound to %lld: it is read again", l->elems[i].topic,
                    (int)l->elems[i].partition, (long long)l->elems[i].offset);
    }
}

/* Remember that @p m is left unprocessed: its partition goes back to it,
 * unless an earlier message of the partition is already remembered. */
static void leave_unread(rd_kafka_topic_partition_list_t *l, const rd_kafka_message_t *m)
{
    const char *t = rd_kafka_topic_name(m->rkt);
    if (!rd_kafka_topic_partition_list_find(l, t, m->partition))
        rd_kafka_topic_partition_list_add(l, t, m->partition)->offset = m->offset;
}

static inline void prefetch_msg(const rd_kafka_message_t *m)
{
#if defined(__GNUC__)
    const char *p = m->payload;
    size_t n = m->payload ? m->len : 0;
    if (n > 512)
        n = 512;
    for (size_t off = 0; off < n; off += 64)
        __builtin_prefetch(p + off, 0, 3);
#else
    (void)m;
#endif
}

/* The consumer cannot go on (e.g. fenced by a static member with the same
 * group.instance.id): fail the processor rather than read nothing forever. */
static void consumer_fatal(kafka_src_t *s)
{
    char reason[400];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(s->rk, reason, sizeof reason);
    sl__proc_fail(s->proc, SL_EIO, "kafka consumer: fatal error %s: %s", rd_kafka_err2name(orig),
                  orig ? reason : "unknown");
}

/* librdkafka's client-wide errors: transient ones (brokers down, transport)
 * are only logged; a fatal one fails the processor. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    kafka_src_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        consumer_fatal(s);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        s->all_down = 1;
    }
    sl__log(s->proc, "warn", "kafka consumer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
            reason);
}

/* Hands @p m to the engine. Once one message of the batch could not be
 * taken, @p rw is non-empty and every later one is left for a re-read. */
static void take(kafka_src_t *s, rd_kafka_message_t *m, rd_kafka_topic_partition_list_t *rw)
{
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL)
            consumer_fatal(s);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sl__log(s->proc, "warn", "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    if (rw->cnt) { /* an earlier message of this batch was not taken: read again later */
        leave_unread(rw, m);
        rd_kafka_message_destroy(m);
        return;
    }
    kafka_rec_t *r = krec_get(s);
    int rc = r ? krec_fill(s, r, m) : SL_ENOMEM;
    if (!rc)
        rc = sl_engine_push(s->e, &r->rec);
    if (!rc) {
        rd_kafka_message_destroy(m);
        return;
    }
    if (r)
        krec_put(s, r);
    if (rc == SL_EINVAL) {
        /* At or below an offset already taken: the partition came back after
         * a sl__kafsrc_revoke while older records were in flight. It is a duplicate of
         * something the engine holds. */
        /* Counted, and logged at 1, 2, 4, 8, ... so a large replay does not
         * flood the log; the total is logged at close. */
        uint64_t n = ++s->counters.skipped_taken;
        if (!(n & (n - 1)))
            sl__log(s->proc, "warn", "skipping %s/%d@%lld: already taken (%llu so far)",
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                    (unsigned long long)n);
    } else {
        sl__log(s->proc, "warn", "cannot take %s/%d@%lld: %s", rd_kafka_topic_name(m->rkt),
                (int)m->partition, (long long)m->offset, sl_strerror(rc));
        leave_unread(rw, m);
    }
    rd_kafka_message_destroy(m);
}

/* librdkafka 2.0 stops fetching while the consumer queue holds more than
 * queued.min.messages (or queued.max.messages.kbytes), and decides again only
 * when its broker thread next wakes up: up to a second after the queue ran
 * dry, a stall a processor slower than the fetcher hits on every refill
 * (2.1 added fetch.queue.backoff.ms for it). When the queue runs dry after a
 * backlog that large (sl__kick_dry), seek the partitions left to fetch to
 * the position already consumed:
 * the seek wakes the partition's broker thread, which fetches again; nothing
 * is skipped, as the seek goes to the next offset not yet taken, and the
 * queue it may purge is empty or holds only what will be fetched again. */
static void kick_fetcher(kafka_src_t *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts);
    for (size_t i = 0; i < s->nparts; i++) {
        kpart_t *kp = &s->parts[i];
        if (kp->assigned && !kp->paused_applied)
            rd_kafka_topic_partition_list_add(l, kp->topic, kp->partition);
    }
    if (l->cnt && !rd_kafka_position(s->rk, l)) {
        /* Only partitions with a known position: the others are still
         * resolving their start and fetch on their own. */
        rd_kafka_topic_partition_list_t *to = rd_kafka_topic_partition_list_new(l->cnt);
        /* Only partitions with records left to fetch by the high watermark
         * librdkafka last saw (cached, no request): a seek also throws away
         * what a fetch in flight brings for its partition, and a partition
         * at the log's end is in a fetch that the broker holds up to
         * fetch.wait.max.ms; seeking it woke the broker thread, which then
         * fetched the partitions left before their own seeks came, and
         * those seeks threw the answer away and waited behind the held
         * fetch (bench_flavors: 0.5 s stalls). When none is left by that
         * measure, one partition: the seek still wakes its broker thread. */
        int first = -1;
        for (int i = 0; i < l->cnt; i++) {
            if (l->elems[i].offset < 0)
                continue;
            if (first < 0)
                first = i;
            int64_t lo = 0, hi = -1;
            if (rd_kafka_get_watermark_offsets(s->rk, l->elems[i].topic, l->elems[i].partition, &lo,
                                               &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                hi >= 0 && l->elems[i].offset >= hi)
                continue;
            rd_kafka_topic_partition_list_add(to, l->elems[i].topic, l->elems[i].partition)
                ->offset = l->elems[i].offset;
        }
        if (!to->cnt && first >= 0)
            rd_kafka_topic_partition_list_add(to, l->elems[first].topic, l->elems[first].partition)
                ->offset = l->elems[first].offset;
        if (to->cnt) {
            rd_kafka_error_t *err = rd_kafka_seek_partitions(s->rk, to, 0);
            if (err) {
                sl__log(s->proc, "debug", "fetch kick: %s", rd_kafka_error_string(err));
                rd_kafka_error_destroy(err);
            } else {
                s->kicks++;
            }
        }
        rd_kafka_topic_partition_list_destroy(to);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void sl__kick_read(sl__kick_t *k, size_t queued, size_t n, size_t bytes)
{
    if (queued > k->peak)
        k->peak = queued;
    k->msgs += n;
    k->bytes += bytes;
}

int sl__kick_dry(sl__kick_t *k)
{
    /* The queue's bytes at its longest, from the messages' mean size: the
     * bytes read since it last ran dry are no measure of it (a queue kept
     * short while thousands pass through it is no backlog). */
    size_t peak_bytes =
        k->msgs ? (size_t)((double)k->peak * ((double)k->bytes / (double)k->msgs)) : 0;
    int kick = k->msgs && (k->peak >= k->at_msgs || peak_bytes >= k->at_bytes);
    k->peak = k->msgs = k->bytes = 0;
    return kick;
}

int sl__kick_short(sl__kick_t *k, size_t left)
{
    return left ? 0 : sl__kick_dry(k);
}

/* An engine-wide pause first only stops reading the consumer queue: the
 * bound is usually crossed for milliseconds, until the sinks' delivery
 * reports come back, and pausing partitions in librdkafka 2.0 drops its
 * prefetched messages and stalls fetching for most of a second. Only a pause
 * that lasts is handed to librdkafka (which also keeps the group alive while
 * we do not read). */
#define SOFT_PAUSE_MS 500
#define FETCH_SLICE_MS 20

static void kick_cb(uv_timer_t *t);

static void fetch(kafka_src_t *s)
{
    if (s->stopping || s->closed)
        return;
    if (s->paused_all && !s->hard_all && sl__kafsrc_now_ms() - s->soft_since >= SOFT_PAUSE_MS) {
        s->hard_all = 1;
        sl__log(s->proc, "info", "pausing every partition: %zu records in flight",
                sl_engine_inflight(s->e));
        sl__kafsrc_apply_pauses(s);
    }
    int64_t slice_start = sl__kafsrc_now_ms();
    while (!s->paused_all || s->hard_all) {
        size_t queued = rd_kafka_queue_length(s->q);
        ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->batch, s->batch_size);
        if (n <= 0) {
            if (sl__kick_dry(&s->kick_state))
                kick_fetcher(s);
            break;
        }
        s->counters.batch_len = (uint64_t)n;
        size_t bytes = 0;
        for (ssize_t i = 0; i < n; i++)
            bytes += s->batch[i]->len;
        sl__kick_read(&s->kick_state, queued, (size_t)n, bytes);
        for (ssize_t i = 0; i < n; i++) {
            /* The payloads were written by librdkafka's broker thread on
             * another core: start fetching the next one while this one is
             * scanned. */
            if (i + 1 < n)
                prefetch_msg(s->batch[i + 1]);
            take(s, s->batch[i], s->rewind);
        }
        int rewound = s->rewind->cnt > 0;
        if (rewound) {
            rewind_batch(s, s->rewind);
            rd_kafka_topic_partition_list_destroy(s->rewind);
            s->rewind = rd_kafka_topic_partition_list_new(8);
        }
        /* Serve delivery reports between batches, so acknowledgements keep
         * up with reading. */
        sl__proc_pump(s->proc, 0);
        if (rewound || s->stopping)
            break;
        if ((size_t)n < s->batch_size) {
            /* Drained the queue: the next read would find it empty only
             * when some timer or delivery report woke the loop, and the
             * fetcher, stopped by the backlog, waited until then
             * (bench_flavors' listener: 20-44 ms at a time). */
            if (sl__kick_short(&s->kick_state, rd_kafka_queue_length(s->q)))
                kick_fetcher(s);
            break;
        }
        /* A slow pipeline must not starve the loop (commit and linger
         * timers, signals): after a slice, go on from the next loop turn. */
        if (sl__kafsrc_now_ms() - slice_start >= FETCH_SLICE_MS) {
            if (s->timer_on)
                uv_timer_start(&s->kick, kick_cb, 0, 0);
            break;
        }
    }
    sl__proc_after(s->proc);
}

static void wake_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    kafka_src_t *s = h->data;
    sl__kqwake_drain(&s->wake);
    fetch(s);
}

static void timer_cb(uv_timer_t *t)
{
    sl__kafsrc_log_wait(t->data);
    fetch(t->data);
}

static void kick_cb(uv_timer_t *t)
{
    fetch(t->data);
}

/* ---- the source interface ---- */

static int ks_start(void *opaque)
{
    kafka_src_t *s = opaque;
    uv_loop_t *loop = sl__proc_loop(s->proc);
    int64_t connect_ms = sl_conf_get_int(sl_processor_conf(s->proc), "source.connect.timeout.ms");
    if (connect_ms > 0) {
        /* librdkafka retries unreachable brokers forever; a service that
         * cannot reach its cluster at start should say so and exit. */
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t merr = rd_kafka_metadata(s->rk, 0, NULL, &md, (int)connect_ms);
        if (merr) {
            char bs[512];
            size_t bl = sizeof bs;
            if (rd_kafka_conf_get(rd_kafka_conf(s->rk), "bootstrap.servers", bs, &bl) !=
                RD_KAFKA_CONF_OK)
                snprintf(bs, sizeof bs, "(unset)");
            sl__log(s->proc, "error", "cannot reach the Kafka brokers at %s within %lld ms: %s", bs,
                    (long long)connect_ms, rd_kafka_err2str(merr));
            return SL_EIO;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, s->subscription);
    if (err) {
        sl__log(s->proc, "error", "subscribe: %s", rd_kafka_err2str(err));
        return SL_EINVAL;
    }
    char topics[512];
    size_t o = 0;
    topics[0] = 0;
    for (int i = 0; i < s->subscription->cnt && o < sizeof topics; i++) {
        int n = snprintf(topics + o, sizeof topics - o, "%s%s", i ? ", " : "",
                         s->subscription->elems[i].topic);
        o += n > 0 ? (size_t)n : 0;
    }
    sl__log(s->proc, "info", "joining consumer group %s for topic(s) %s", sl__kafsrc_group(s),
            topics);
    s->wait_since = s->wait_logged = sl__kafsrc_now_ms();
    if (sl__kqwake_init(&s->wake, loop, s->q, wake_cb, s))
        return SL_EIO;
    uv_timer_init(loop, &s->timer);
    uv_timer_init(loop, &s->kick);
    s->timer.data = s->kick.data = s;
    s->timer_on = 1;
    /* Reads also on a timer: after a resume nothing else wakes the loop, and
     * the group needs a poll within max.poll.interval.ms. */
    uv_timer_start(&s->timer, timer_cb, 0, 50);
    return 0;
}

static void ks_stop(void *opaque)
{
    kafka_src_t *s = opaque;
    s->stopping = 1;
    sl__kafsrc_apply_pauses(s);
}

/* Closes the consumer (revoke through the rebalance callback, leave the
 * group) waiting at most @p ms: rd_kafka_consumer_close() waits for as long
 * as the leave takes (a frozen broker: a minute). Returns whether it closed. */
static int close_within(kafka_src_t *s, int ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
    if (!q)
        return 0;
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(s->rk, q);
    if (err) {
        /* (a fatal consumer): nothing to wait for, destroy it as before */
        sl__log(s->proc, "warn", "consumer close: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        rd_kafka_queue_destroy(q);
        return 1;
    }
    int64_t deadline = sl__kafsrc_now_ms() + ms;
    while (!rd_kafka_consumer_closed(s->rk)) {
        int64_t left = deadline - sl__kafsrc_now_ms();
        if (left <= 0)
            break;
        /* The group's queue, what was fetched and not read included, now
         * goes to @p q: served as events (a callback poll would abort on
         * the messages), the revoke handed to the rebalance callback. */
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)(left < 100 ? left : 100));
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            sl__kafsrc_rebalance_cb(s->rk, rd_kafka_event_error(ev),
                                    rd_kafka_event_topic_partition_list(ev), s);
        rd_kafka_event_destroy(ev);
    }
    int closed = rd_kafka_consumer_closed(s->rk);
    rd_kafka_queue_destroy(q);
    return closed;
}

static void ks_close(void *opaque)
{
    kafka_src_t *s = opaque;
    if (s->closed)
        return;
    s->closed = 1;
    s->stopping = 1;
    sl__kqwake_close(&s->wake, s->q);
    if (s->timer_on) {
        uv_timer_stop(&s->timer);
        uv_timer_stop(&s->kick);
        uv_close((uv_handle_t *)&s->timer, NULL);
        uv_close((uv_handle_t *)&s->kick, NULL);
        s->timer_on = 0;
    }
    /* Leaving the group revokes what is left: the drain is over, so no wait. */
    s->drain_ms = 0;
    if (s->kicks)
        sl__log(s->proc, "debug", "fetcher kicked %llu time(s) after the queue ran dry",
                (unsigned long long)s->kicks);
    if (s->counters.skipped_taken || s->counters.rewound)
        sl__log(s->proc, "info",
                "%llu message(s) skipped as already taken, %llu partition rewind(s) after a "
                "message could not be taken",
                (unsigned long long)s->counters.skipped_taken,
                (unsigned long long)s->counters.rewound);
    /* librdkafka 2.0.2 aborts destroying a consumer whose group answered
     * its JoinGroup (the group's assignor is chosen) but not yet a SyncGroup
     * (the sticky assignor has no state yet): an assertion in
     * rd_kafka_sticky_assignor_state_destroy (librdkafka #4312, fixed in
     * 2.1). Leaving the subscription first makes the group discard any later
     * JoinGroup answer; then whether one came is known for sure, and such a
     * consumer is closed but left to the process exit, not destroyed. */
    rd_kafka_unsubscribe(s->rk);
    const char *proto = rd_kafka_rebalance_protocol(s->rk);
    int joined = proto && strcmp(proto, "NONE") != 0;
    int left_in_time = close_within(s, sl__proc_close_left_ms(s->proc));
    s->consumer_closed = 1;
    if (!left_in_time) {
        /* Destroying it would wait for the close to finish. Nothing polls it
         * any more, so only its log callback could still run, on its own
         * threads, with this source (freed later) as its opaque: silence it
         * (level 0: librdkafka logs nothing that low). */
        s->keep_rk = 1;
        rd_kafka_set_log_level(s->rk, 0);
        sl__log(s->proc, "warn",
                "the consumer did not leave its group within close.timeout.ms (%lld ms): it is "
                "left to the process exit; the group gives its partitions to other members "
                "after its session timeout",
                (long long)sl_conf_get_int(sl_processor_conf(s->proc), "close.timeout.ms"));
    } else if (joined && !s->ever_assigned) {
        s->keep_rk = 1;
        /* Nothing polls it any more, so only its log callback could still
         * run, on its own threads, with this source (freed later) as its
         * opaque: silence it (level 0: librdkafka logs nothing that low). */
        rd_kafka_set_log_level(s->rk, 0);
        sl__log(s->proc, "warn",
                "stopped while joining the group: the consumer is closed but not destroyed "
                "(librdkafka 2.0.2 would abort, its bug #4312); the process exit frees it");
    }
}

static void ks_release(void *opaque, const sl_record_t *rec, int done)
{
    (void)done;
    kafka_src_t *s = opaque;
    krec_put(s, (kafka_rec_t *)rec);
}

static void ks_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    kafka_src_t *s = opaque;
    if (partition == SL_PARTITION_ALL) {
        if (!pause && s->hard_all)
            sl__log(s->proc, "info", "resuming every partition: %zu records in flight",
                    sl_engine_inflight(s->e));
        s->paused_all = pause;
        s->hard_all = 0;
        s->soft_since = sl__kafsrc_now_ms();
    } else {
        kpart_t *kp = sl__kafsrc_part_find(s, topic, partition, 0);
        if (!kp)
            return;
        sl__log(s->proc, "info", "%s %s/%d: %zu records of it in flight",
                pause ? "pausing" : "resuming", topic, (int)partition,
                sl_engine_partition_inflight(s->e, topic, partition));
        kp->paused_self = pause;
    }
    sl__kafsrc_apply_pauses(s);
    /* Called from inside the engine: read again on the next loop turn. */
    if (!pause && s->timer_on)
        uv_timer_start(&s->kick, kick_cb, 0, 0);
}

static void ks_destroy(void *opaque)
{
    kafka_src_t *s = opaque;
    if (!s)
        return;
    if (s->q)
        rd_kafka_queue_destroy(s->q);
    if (s->rk && !s->keep_rk)
        rd_kafka_destroy_flags(s->rk,
                               s->consumer_closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (s->subscription)
        rd_kafka_topic_partition_list_destroy(s->subscription);
    if (s->rewind)
        rd_kafka_topic_partition_list_destroy(s->rewind);
    for (kafka_rec_t *r = s->all_recs; r;) {
        kafka_rec_t *n = r->all_next;
        sl_free(r->hdrs);
        sl_free(r->buf);
        sl_free(r);
        r = n;
    }
    for (size_t i = 0; i < s->nparts; i++)
        sl_free(s->parts[i].topic);
    for (size_t i = 0; i < s->ntopics; i++)
        sl_free(s->topics[i]);
    sl_free(s->topics);
    sl_free(s->parts);
    sl_free(s->batch);
    sl_free(s);
}

/* librdkafka's statistics (statistics.interval.ms, set while the
 * operations endpoint is on), served on the loop thread by the consumer
 * queue: how many brokers the consumer is connected to. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)len;
    kafka_src_t *s = opaque;
    int up = sl__kafka_brokers_up(json);
    if (up >= 0) {
        s->brokers_up = up;
        s->all_down = up == 0;
    }
    return 0; /* librdkafka frees json */
}

static int ks_ready(void *opaque, char *why, size_t why_size)
{
    kafka_src_t *s = opaque;
    if (s->all_down || s->brokers_up == 0) {
        snprintf(why, why_size, "kafka consumer: no broker reachable");
        return 0;
    }
    size_t assigned = 0;
    for (size_t i = 0; i < s->nparts; i++)
        assigned += s->parts[i].assigned != 0;
    if (!assigned) {
        snprintf(why, why_size, "kafka consumer: no partition assigned (yet)");
        return 0;
    }
    return 1;
}

/* Where the group resumes reading @p kp: the engine's done watermark, else
 * what the group committed, else the partition's low watermark; -1 unknown. */
static int64_t done_position(kafka_src_t *s, const kpart_t *kp, int64_t lo)
{
    int64_t wm = sl_engine_watermark(s->e, kp->topic, kp->partition);
    if (wm >= 0 && wm >= kp->floor)
        return wm;
    if (kp->committed >= 0)
        return kp->committed;
    if (kp->floor >= 0)
        return kp->floor;
    return lo >= 0 ? lo : -1;
}

static void ks_metrics(void *opaque, sl__metrics_t *m)
{
    kafka_src_t *s = opaque;
    size_t assigned = 0;
    for (size_t i = 0; i < s->nparts; i++)
        assigned += s->parts[i].assigned != 0;
    sl__metric_help(m, "sluice_assigned_partitions", "gauge",
                    "Partitions the consumer group assigned to this processor.");
    sl__metric_u(m, "sluice_assigned_partitions", assigned, NULL);
    sl__metric_help(m, "sluice_rebalances_total", "counter",
                    "Rebalances seen (each assignment and each revocation).");
    sl__metric_u(m, "sluice_rebalances_total", s->rebalances, NULL);
    sl__metric_help(m, "sluice_kafka_brokers_up", "gauge",
                    "Brokers the consumer is connected to (from librdkafka's statistics; -1 not "
                    "yet known).");
    sl__metric_i(m, "sluice_kafka_brokers_up", s->all_down ? 0 : s->brokers_up, NULL);
    if (s->last_commit_ms) {
        sl__metric_help(m, "sluice_last_commit_age_seconds", "gauge",
                        "Seconds since offsets were last committed successfully.");
        sl__metric_d(m, "sluice_last_commit_age_seconds",
                     (double)(sl__kafsrc_now_ms() - s->last_commit_ms) / 1000.0, NULL);
    }
    char pn[16];
    sl__metric_help(m, "sluice_committed_offset", "gauge",
                    "Offset last committed per assigned partition (the next one to read).");
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart_t *kp = &s->parts[i];
        if (!kp->assigned || kp->committed < 0)
            continue;
        snprintf(pn, sizeof pn, "%d", (int)kp->partition);
        sl__metric_i(m, "sluice_committed_offset", kp->committed, "topic", kp->topic, "partition",
                     pn, NULL);
    }
    /* The high watermark librdkafka last saw in a fetch response (no broker
     * round trip here); a partition not fetched yet has none. */
    sl__metric_help(m, "sluice_consumer_lag_records", "gauge",
                    "Records of an assigned partition not yet done: its high watermark less the "
                    "done watermark (or the committed offset).");
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart_t *kp = &s->parts[i];
        int64_t lo = -1, hi = -1;
        if (!kp->assigned ||
            rd_kafka_get_watermark_offsets(s->rk, kp->topic, kp->partition, &lo, &hi) || hi < 0)
            continue;
        int64_t pos = done_position(s, kp, lo);
        if (pos < 0)
            continue;
        snprintf(pn, sizeof pn, "%d", (int)kp->partition);
        sl__metric_i(m, "sluice_consumer_lag_records", hi > pos ? hi - pos : 0, "topic", kp->topic,
                     "partition", pn, NULL);
    }
}

static const sl__source_if_t kafka_source_if = {
    .name = "kafka",
    .start = ks_start,
    .stop = ks_stop,
    .commit = sl__kafsrc_commit,
    .close = ks_close,
    .destroy = ks_destroy,
    .release = ks_release,
    .flow = ks_flow,
    .ready = ks_ready,
    .metrics = ks_metrics,
};

int sl__kafka_source_counters(const sl_processor_t *p, sl__ksrc_counters_t *out)
{
    const kafka_src_t *s = sl__proc_source(p, "kafka");
    if (!s)
        return SL_ENOENT;
    *out = s->counters;
    return 0;
}

rd_kafka_t *sl__kafka_source_rk(const sl_processor_t *p)
{
    const kafka_src_t *s = sl__proc_source(p, "kafka");
    return s ? s->rk : NULL;
}

int sl_kafka_source_attach(sl_processor_t *p, const char *topics, char *errstr, size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = 0;
    if (!p || !topics || !*topics) {
        sl__errf(errstr, errstr_size, "a processor and topics are required");
        return SL_EINVAL;
    }
    /* Describe-only: name the topics and brokers, create no consumer. */
    if (sl__proc_describe_only(p))
        return sl__proc_describe_source(
            p, "kafka", topics,
            sl_conf_get_str_pt(sl_processor_conf(p), "kafka.bootstrap.servers"));
    size_t gl = 0;
    if (sl_conf_get(sl_processor_conf(p), "kafka.group.id", NULL, &gl)) {
        sl__errf(errstr, errstr_size, "kafka.group.id is required for a kafka source");
        return SL_EINVAL;
    }
    /* fetch.wait.max.ms: librdkafka keeps one fetch in flight per broker,
     * and the broker holds a fetch whose partitions are all at their log's
     * end for this long (librdkafka's default 500 ms). Partitions that
     * become fetchable meanwhile (the rest of an assignment whose start
     * offsets were still resolving, partitions resumed, a seek) wait behind
     * it: bench_flavors' trigger waited 0.5 s at its start that way, behind
     * a fetch of the one 204-record partition already read to its end. 100
     * ms bounds that wait; an idle consumer asks its brokers ten times a
     * second instead of twice. */
    static const char *const defaults[] = {"partition.assignment.strategy",
                                           "cooperative-sticky",
                                           "enable.auto.commit",
                                           "false",
                                           "enable.auto.offset.store",
                                           "false",
                                           "auto.offset.reset",
                                           "earliest",
                                           "fetch.wait.max.ms",
                                           "100",
                                           NULL};
    kafka_src_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        return SL_ENOMEM;
    s->proc = p;
    s->e = sl_processor_engine(p);
    s->drain_ms = sl_conf_get_int(sl_processor_conf(p), "drain.timeout.ms");
    s->wait_since = -1;
    /* A sl__kafsrc_revoke runs inside the consumer's poll: staying longer than half of
     * max.poll.interval.ms would get this member thrown out of the group.
     * What is not done by then is not committed: the next owner reads it
     * again (a duplicate, never a loss). */
    char mpi[32];
    size_t ml = sizeof mpi;
    s->revoke_ms = 150000;
    if (!sl_conf_get(sl_processor_conf(p), "kafka.max.poll.interval.ms", mpi, &ml))
        s->revoke_ms = atoll(mpi) / 2;
    s->batch_size = (size_t)sl_conf_get_int(sl_processor_conf(p), "source.batch.size");
    s->headers = (int)sl_conf_get_int(sl_processor_conf(p), "source.headers");
    s->batch = sl_calloc(s->batch_size, sizeof *s->batch);
    s->subscription = rd_kafka_topic_partition_list_new(4);
    s->rewind = rd_kafka_topic_partition_list_new(8);
    if (!s->batch || !s->subscription || !s->rewind)
        goto oom;
    /* Topics: comma separated, spaces ignored. */
    const char *t = topics;
    while (*t) {
        while (*t == ',' || *t == ' ')
            t++;
        size_t n = strcspn(t, ", ");
        if (n) {
            char name[256];
            if (n >= sizeof name) {
                sl__errf(errstr, errstr_size, "topic name too long");
                ks_destroy(s);
                return SL_EINVAL;
            }
            memcpy(name, t, n);
            name[n] = 0;
            rd_kafka_topic_partition_list_add(s->subscription, name, RD_KAFKA_PARTITION_UA);
        }
        t += n;
    }
    if (!s->subscription->cnt) {
        sl__errf(errstr, errstr_size, "no topic in \"%s\"", topics);
        ks_destroy(s);
        return SL_EINVAL;
    }
    rd_kafka_conf_t *kc = sl__kafka_conf(p, RD_KAFKA_CONSUMER, defaults, errstr, errstr_size);
    if (!kc) {
        ks_destroy(s);
        return SL_EINVAL;
    }
    /* After sl__kafka_conf(): an embedded broker has its address now. */
    if (sl__proc_describe_source(p, "kafka", topics, sl_kafka_bootstrap(p))) {
        rd_kafka_conf_destroy(kc);
        ks_destroy(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    rd_kafka_conf_set_rebalance_cb(kc, sl__kafsrc_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(kc, sl__kafsrc_commit_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    if (sl__proc_http_on(p))
        rd_kafka_conf_set_stats_cb(kc, stats_cb);
    s->brokers_up = -1;
    /* Callbacks get the source as their opaque. */
    char err[256];
    rd_kafka_conf_set_opaque(kc, s);
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
    if (!s->rk) {
        rd_kafka_conf_destroy(kc);
        sl__errf(errstr, errstr_size, "kafka consumer: %s", err);
        ks_destroy(s);
        return SL_EINVAL;
    }
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    /* Kick the fetcher after the queue ran dry from 90% of either of
     * librdkafka's queue thresholds (see kick_fetcher). */
    char qv[32];
    size_t ql = sizeof qv;
    long long qmin = 100000, qkb = 65536;
    if (rd_kafka_conf_get(rd_kafka_conf(s->rk), "queued.min.messages", qv, &ql) == RD_KAFKA_CONF_OK)
        qmin = atoll(qv);
    ql = sizeof qv;
    if (rd_kafka_conf_get(rd_kafka_conf(s->rk), "queued.max.messages.kbytes", qv, &ql) ==
        RD_KAFKA_CONF_OK)
        qkb = atoll(qv);
    s->kick_state.at_msgs = (size_t)(qmin > 10 ? qmin / 10 * 9 : 1);
    s->kick_state.at_bytes = (size_t)(qkb > 0 ? qkb : 1) * 1024 / 10 * 9;
    int rc = sl__proc_set_source(p, &kafka_source_if, s);
    if (rc) {
        sl__errf(errstr, errstr_size, "%s", sl_strerror(rc));
        ks_destroy(s);
        return rc;
    }
    return 0;
oom:
    ks_destroy(s);
    sl__errf(errstr, errstr_size, "out of memory");
    return SL_ENOMEM;
}
