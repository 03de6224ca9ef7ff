/* sluice — Kinesis source: one GetRecords loop per shard on the processor's
 * loop, parents read and done before children, checkpoints from the done
 * watermark.
 *
 * The engine wants int64 offsets that grow per partition; Kinesis sequence
 * numbers are decimal strings of up to 128 digits. So each shard is a
 * partition (its index here) and its records are numbered 0, 1, 2, ... in the
 * order read; a FIFO per shard maps those numbers back to sequence numbers
 * when the watermark advances, and the sequence number below the watermark
 * is the checkpoint.
 *
 * A shard is read only while this worker holds its lease (source_lease.c),
 * from the checkpoint in the lease. The lease table is read at start, before
 * any shard is read: one that cannot be read is retried until
 * kinesis.checkpoints.timeout.ms, then the start fails. Taking it as "no
 * checkpoint" would start the shard from kinesis.iterator: LATEST would skip
 * records and then overwrite the checkpoint. Writes run as jobs on the
 * engine's executor (libuv's thread pool), one at a time; a failed write
 * stays pending and is retried. An answer to a call made under a lease since
 * lost (or taken again) is dropped (the shard's gen moved). */
#include "core/conf_int.h"
#include "kinesis/source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t sl__kinsrc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

shard_t *sl__kinsrc_shard_find(kin_src_t *s, const char *id)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (!strcmp(s->shards[i].id, id))
            return &s->shards[i];
    return NULL;
}

void sl__kinsrc_set_str(char **dst, const char *v)
{
    char *n = v ? sl_strdup(v) : NULL;
    if (v && !n)
        return; /* out of memory: keep the old value (a renewal will come) */
    sl_free(*dst);
    *dst = n;
}

/* ---- reading ---- */

static void shard_backoff(kin_src_t *s, shard_t *sh)
{
    unsigned b = sh->backoff < 6 ? sh->backoff++ : 6;
    int64_t cap = (int64_t)500 << b; /* 0.5 s .. 32 s */
    if (cap > 10000)
        cap = 10000;
    sh->due = sl__kinsrc_now_ms() + cap / 2 + (int64_t)((unsigned)rand() % (unsigned)(cap / 2 + 1));
    (void)s;
}

typedef struct shcall_s {
    kin_src_t *s;
    size_t idx; /* shards may move when the array grows: keep the index */
    unsigned gen;
} shcall_t;

/* The shard a call on it answered (NULL when the client shut down, or when
 * its lease was lost or taken again since the call went: the answer is
 * then dropped), its source in *@p sp; the call's context is freed. */
static shard_t *call_done(void *opaque, sl__kin_fail_t why, kin_src_t **sp)
{
    shcall_t *c = opaque;
    kin_src_t *s = *sp = c->s;
    size_t idx = c->idx;
    unsigned gen = c->gen;
    sl_free(c);
    s->inflight_calls--;
    if (why == KIN_SHUTDOWN)
        return NULL;
    /* For /ready: an answer, even a refusal to go faster, is a reachable
     * endpoint; no answer, a server error or a denial is not. */
    s->unreachable = why == KIN_TRANSPORT || why == KIN_SERVER || why == KIN_DENIED ? (int)why : 0;
    if (s->shards[idx].gen != gen || !s->shards[idx].held) {
        sl__kinsrc_schedule(s);
        return NULL;
    }
    return &s->shards[idx];
}

static void on_iterator(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    kin_src_t *s;
    shard_t *sh = call_done(opaque, why, &s);
    if (!sh)
        return;
    sh->state = SH_NEED_ITER;
    if (err) {
        sl__log(s->proc, "warn", "GetShardIterator %s/%s: %s", s->stream, sh->id, msg);
        shard_backoff(s, sh);
    } else {
        sl__kinsrc_set_str(&sh->iterator,
                           json_string_value(json_object_get(resp, "ShardIterator")));
        if (sh->iterator) {
            sh->state = SH_READY;
            sh->due = 0;
            sh->backoff = 0;
        }
    }
    sl__kinsrc_schedule(s);
}

static int push_record(kin_src_t *s, shard_t *sh, json_t *r)
{
    sl__kin_rec_t e;
    int bad = sl__kin_rec_parse(r, &e);
    const char *seq = e.seq;
    /* A record without data or without a sequence number (a broken
     * service) is still a record: it becomes a fault with what is known.
     * Without a sequence number it has no position of its own: it takes the
     * next offset like any record, and its FIFO entry holds no sequence
     * number, so the checkpoint never moves to or past it by itself. */
    char why[SL__CKPT_SEQ_MAX + 128];
    why[0] = 0;
    if (bad && !seq)
        snprintf(why, sizeof why, "kinesis record of shard %s without SequenceNumber (after %s)%s",
                 sh->id,
                 sh->last_seq ? sh->last_seq
                 : sh->ckpt   ? sh->ckpt
                              : "the shard's start",
                 e.data ? "" : " nor Data");
    else if (bad)
        snprintf(why, sizeof why, "kinesis record of shard %s without Data", sh->id);
    size_t dl = e.data_len, kl = e.key_len, sl = e.seq_len;
    kin_rec_t *k = sl_malloc(sizeof *k + kl + 1 + sl + 1 + dl + 1);
    if (!k)
        return SL_ENOMEM;
    char *key = (char *)(k + 1), *pos = key + kl + 1;
    unsigned char *val = (unsigned char *)pos + sl + 1;
    size_t vl = sl__kin_rec_value(&e, val);
    memcpy(key, e.key, kl + 1);
    memcpy(pos, seq ? seq : "", sl + 1);
    k->hdrs = NULL;
    k->rec = (sl_record_t){.topic = s->stream,
                           .partition = sh->part,
                           .offset = sh->next_off,
                           .timestamp_ms = e.arrival_ms,
                           .key = kl ? key : NULL,
                           .key_len = kl,
                           .value = vl ? val : NULL,
                           .value_len = vl,
                           .position = seq ? pos : NULL,
                           .opaque = k};
    /* A sluice envelope (sluice-faults resubmit): the record it carries, with
     * its key and headers, is the record. An ordinary record costs the
     * first-character compare of the base64 Data. A malformed envelope is a
     * fault with the record as it came: never a guess at what it meant. */
    if (!why[0] && sl__kenv_is_b64(e.data, e.data_len) && sl__kenv_is(val, vl)) {
        sl__kenv_t env;
        char ewhy[160];
        int er = sl__kenv_unwrap(val, vl, &env, ewhy, sizeof ewhy);
        if (er == SL_ENOMEM) {
            sl_free(k);
            return SL_ENOMEM;
        }
        if (er) {
            snprintf(why, sizeof why, "kinesis record of shard %s at %s: %s", sh->id, seq, ewhy);
        } else {
            k->hdrs = env.headers;
            k->rec.headers = env.headers;
            k->rec.header_count = env.header_count;
            if (env.key_mode == SL__KENV_KEY_NONE) {
                k->rec.key = NULL;
                k->rec.key_len = 0;
            } else if (env.key_mode == SL__KENV_KEY_INLINE) {
                k->rec.key = env.key;
                k->rec.key_len = env.key_len;
            }
            k->rec.value = env.value_len ? env.value : NULL;
            k->rec.value_len = env.value_len;
        }
    }
    /* the FIFO entry first: the engine may release the record during the push */
    if (sh->fn == sh->fcap) {
        size_t cap = sh->fcap ? sh->fcap * 2 : 64;
        seqent_t *n = sl_malloc(cap * sizeof *n);
        if (!n) {
            sl_free(k->hdrs);
            sl_free(k);
            return SL_ENOMEM;
        }
        for (size_t i = 0; i < sh->fn; i++)
            n[i] = sh->fifo[(sh->fhead + i) % sh->fcap];
        sl_free(sh->fifo);
        sh->fifo = n;
        sh->fcap = cap;
        sh->fhead = 0;
    }
    char *seqcopy = seq ? sl_strdup(seq) : NULL;
    if (seq && !seqcopy) {
        sl_free(k->hdrs);
        sl_free(k);
        return SL_ENOMEM;
    }
    int rc = why[0] ? sl_engine_push_fault(s->e, &k->rec, SL_EFIELD, why)
                    : sl_engine_push(s->e, &k->rec);
    if (rc) {
        sl_free(seqcopy);
        sl_free(k->hdrs);
        sl_free(k);
        return rc;
    }
    s->rec_bytes += vl;
    s->rec_n++;
    sh->fifo[(sh->fhead + sh->fn) % sh->fcap] = (seqent_t){sh->next_off, seqcopy};
    sh->fn++;
    sh->next_off++;
    if (seq)
        sl__kinsrc_set_str(&sh->last_seq, seq);
    return 0;
}

static void on_records(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    kin_src_t *s;
    shard_t *sh = call_done(opaque, why, &s);
    if (!sh)
        return;
    sh->state = SH_READY;
    sh->due = sl__kinsrc_now_ms() + s->poll_ms;
    if (err) {
        if (why == KIN_EXPIRED) {
            sl__log(s->proc, "info", "iterator of %s/%s expired: renewing", s->stream, sh->id);
            sl__kinsrc_set_str(&sh->iterator, NULL);
            sh->state = SH_NEED_ITER;
            sh->due = 0;
        } else {
            if (why != KIN_THROTTLED)
                sl__log(s->proc, "warn", "GetRecords %s/%s: %s", s->stream, sh->id, msg);
            shard_backoff(s, sh);
        }
        sl__kinsrc_schedule(s);
        return;
    }
    sh->backoff = 0;
    if (s->stopping) {
        sl__kinsrc_schedule(s); /* read after the drain began: read again by the next run */
        return;
    }
    json_t *behind = json_object_get(resp, "MillisBehindLatest");
    if (json_is_integer(behind)) {
        sh->behind_known = 1;
        sh->behind_ms = json_integer_value(behind);
    }
    json_t *recs = json_object_get(resp, "Records");
    size_t i, taken = 0;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        int rc = push_record(s, sh, r);
        if (rc) {
            /* Out of memory: read again from the last record taken. */
            sl__log(s->proc, "warn", "%s/%s: %s; reading again after record %zu", s->stream, sh->id,
                    sl_strerror(rc), taken);
            sl__kinsrc_set_str(&sh->iterator, NULL);
            sh->state = SH_NEED_ITER;
            shard_backoff(s, sh);
            sl__proc_after(s->proc);
            sl__kinsrc_schedule(s);
            return;
        }
        taken++;
    }
    const char *next = json_string_value(json_object_get(resp, "NextShardIterator"));
    sl__kinsrc_set_str(&sh->iterator, next);
    if (!next) {
        /* A closed shard, read to its end: finished once its records are done. */
        sh->state = SH_ENDED;
        sl__log(s->proc, "info", "shard %s closed: read to its end", sh->id);
        s->next_list = 0; /* its children: list again now */
        sl__kinsrc_shard_checkpoint(s, sh);
        sl__kinsrc_ck_flush(s);
    } else if (taken && json_integer_value(json_object_get(resp, "MillisBehindLatest")) > 0) {
        sh->due =
            sl__kinsrc_now_ms() + s->poll_ms; /* more is waiting: the next call when allowed */
    } else if (!taken) {
        sh->due = sl__kinsrc_now_ms() + (s->poll_ms > 1000 ? s->poll_ms : 1000);
    }
    sl__proc_after(s->proc);
    sl__kinsrc_schedule(s);
}

/* Records asked per GetRecords call: kinesis.records.limit when set, else
 * as many as the source's share of memory.max.bytes holds when every shard's
 * answer arrives at once. An answer holds each value base64 encoded (4/3)
 * with its sequence number and key, and its JSON tree costs about three
 * times its text; the mean value so far (1 KiB before the first) sizes a
 * record. At least one record per call, at most the property's value. */
static int call_limit(const kin_src_t *s)
{
    if (s->limit_set)
        return s->limit;
    double mean = s->rec_n ? (double)s->rec_bytes / (double)s->rec_n : 1024;
    double per = (mean * 4 / 3 + 160) * 3;
    double n = (double)s->mem_share / (double)(s->nshards ? s->nshards : 1) / per;
    if (n < 1)
        return 1;
    return n < s->limit ? (int)n : s->limit;
}

/* Send @p req (stolen) for shard @p idx; the shard is busy until @p cb.
 * Returns 1 when sent; else the shard tries again in 100 ms. */
static int shard_call(kin_src_t *s, size_t idx, const char *op, json_t *req, sl__kin_cb cb,
                      int64_t now)
{
    shard_t *sh = &s->shards[idx];
    shcall_t *c = req ? sl_malloc(sizeof *c) : NULL;
    if (!c) {
        json_decref(req);
        sh->due = now + 100;
        return 0;
    }
    *c = (shcall_t){s, idx, sh->gen};
    if (sl__kin_call(s->kin, op, req, cb, c)) {
        sl_free(c);
        sh->due = now + 100;
        return 0;
    }
    s->inflight_calls++;
    sh->state = SH_BUSY;
    return 1;
}

static void shard_step(kin_src_t *s, size_t idx, int64_t now)
{
    shard_t *sh = &s->shards[idx];
    if (sh->due > now || sh->state == SH_BUSY)
        return;
    if (!sh->held)
        return; /* another worker's, or nobody's yet */
    if (sh->state == SH_NEED_ITER) {
        json_t *req;
        const char *after = sh->last_seq ? sh->last_seq : sh->ckpt;
        if (after && strcmp(after, SL__CKPT_SHARD_END))
            req = json_pack("{s:s,s:s,s:s,s:s}", "StreamName", s->stream, "ShardId", sh->id,
                            "ShardIteratorType", "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber",
                            after);
        else
            /* Children always from their start: their parents were read. */
            req = json_pack("{s:s,s:s,s:s}", "StreamName", s->stream, "ShardId", sh->id,
                            "ShardIteratorType",
                            s->latest && !sh->parent ? "LATEST" : "TRIM_HORIZON");
        shard_call(s, idx, "GetShardIterator", req, on_iterator, now);
        return;
    }
    if (sh->state == SH_READY && sh->iterator && !sh->paused && !s->paused_all) {
        json_t *req = json_pack("{s:s,s:i}", "ShardIterator", sh->iterator, "Limit", call_limit(s));
        if (shard_call(s, idx, "GetRecords", req, on_records, now))
            sh->due = now + s->poll_ms;
        return;
    }
    if (sh->state == SH_ENDED) {
        sl__kinsrc_shard_checkpoint(s, sh);
        sl__kinsrc_ck_flush(s);
    }
}

static void tick_cb(uv_timer_t *t);

/* Run whatever is due, then sleep until the next due time. */
static void tick(kin_src_t *s)
{
    if (s->closed)
        return;
    int64_t now = sl__kinsrc_now_ms();
    if (!s->stopping && !s->listing && now >= s->next_list)
        sl__kinsrc_list_next(s);
    sl__kinsrc_lease_tick(s, now); /* renewals continue while draining */
    for (size_t i = 0; !s->stopping && i < s->nshards; i++)
        shard_step(s, i, now);
    int64_t next = s->next_list;
    if (!s->ck_busy && s->next_cycle < next)
        next = s->next_cycle; /* (a cycle in flight schedules the tick when it ends) */
    for (size_t i = 0; i < s->nshards; i++) {
        shard_t *sh = &s->shards[i];
        if (sh->held && sh->state != SH_BUSY && sh->state != SH_FINISHED && sh->due < next)
            next = sh->due;
    }
    int64_t wait = next - sl__kinsrc_now_ms();
    if (wait < 1)
        wait = 1;
    if (wait > 1000)
        wait = 1000; /* ENDED shards wait for their watermark */
    uv_timer_start(&s->tick, tick_cb, (uint64_t)wait, 0);
}

static void tick_cb(uv_timer_t *t)
{
    tick(t->data);
}

void sl__kinsrc_schedule(kin_src_t *s)
{
    if (s->timer_on && !s->closed)
        uv_timer_start(&s->tick, tick_cb, 0, 0);
}

/* ---- the source interface ---- */

/* At start, as the Kafka source does with its brokers: an endpoint that
 * cannot be reached, or a stream that does not exist, is an error now rather
 * than a warning repeated forever. Transient failures are retried until
 * source.connect.timeout.ms. */
static int check_reachable(kin_src_t *s)
{
    int64_t limit = sl_conf_get_int(sl_processor_conf(s->proc), "source.connect.timeout.ms");
    if (limit <= 0)
        return 0;
    int64_t end = sl__kinsrc_now_ms() + limit;
    char msg[300] = "";
    for (;;) {
        int64_t left = end - sl__kinsrc_now_ms();
        json_t *resp = NULL;
        sl__kin_fail_t why;
        json_t *req = json_pack("{s:s}", "StreamName", s->stream);
        int rc =
            req ? sl__kin_call_sync(s->kin, "DescribeStreamSummary", req,
                                    (long)(left > 100 ? left : 100), &resp, &why, msg, sizeof msg)
                : SL_ENOMEM;
        json_decref(resp);
        if (!rc)
            return 0;
        if (why == KIN_NOT_FOUND || why == KIN_INVALID || why == KIN_DENIED) {
            sl__log(s->proc, "error", "kinesis stream %s at %s: %s", s->stream,
                    sl__kin_endpoint(s->kin), msg);
            return SL_EINVAL;
        }
        if (sl__kinsrc_now_ms() + 500 >= end)
            break;
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sl__log(s->proc, "error", "cannot reach the Kinesis endpoint %s within %lld ms: %s",
            sl__kin_endpoint(s->kin), (long long)limit, msg);
    return SL_EIO;
}

static int ks_start(void *opaque)
{
    kin_src_t *s = opaque;
    int rc = check_reachable(s);
    if (!rc)
        rc = sl__kinsrc_ckpt_load(s);
    if (rc)
        return rc;
    uv_timer_init(sl__proc_loop(s->proc), &s->tick);
    s->tick.data = s;
    s->timer_on = 1;
    sl__log(s->proc, "info",
            "kinesis stream %s at %s, application %s, worker %s, leases in %s (failover %lld ms)",
            s->stream, sl__kin_endpoint(s->kin), s->app, s->worker, s->store_spec,
            (long long)s->failover_ms);
    sl__kinsrc_schedule(s);
    return 0;
}

static void ks_stop(void *opaque)
{
    kin_src_t *s = opaque;
    s->stopping = 1;
}

static void ks_close(void *opaque)
{
    kin_src_t *s = opaque;
    if (s->closed)
        return;
    s->releasing = 1; /* the last checkpoints go with the releases: others take over at once */
    sl__kinsrc_commit(s, 1);
    s->closed = 1;
    s->stopping = 1;
    sl__kin_close(s->kin);
    if (s->timer_on) {
        uv_timer_stop(&s->tick);
        uv_close((uv_handle_t *)&s->tick, NULL);
        s->timer_on = 0;
    }
}

static void ks_release(void *opaque, const sl_record_t *rec, int done)
{
    (void)opaque;
    (void)done;
    kin_rec_t *k = rec->opaque;
    sl_free(k->hdrs);
    sl_free(k);
}

static void ks_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    kin_src_t *s = opaque;
    (void)topic;
    if (partition == SL_PARTITION_ALL)
        s->paused_all = pause;
    else if (partition >= 0 && (size_t)partition < s->nshards)
        s->shards[partition].paused = pause;
    if (!pause)
        sl__kinsrc_schedule(s);
}

static void ks_destroy(void *opaque)
{
    kin_src_t *s = opaque;
    if (!s)
        return;
    for (size_t i = 0; i < s->nshards; i++) {
        shard_t *sh = &s->shards[i];
        sl_free(sh->id);
        sl_free(sh->parent);
        sl_free(sh->adjacent);
        sl_free(sh->iterator);
        sl_free(sh->last_seq);
        sl_free(sh->ckpt);
        sl_free(sh->want);
        for (size_t k = 0; k < sh->fn; k++)
            sl_free(sh->fifo[(sh->fhead + k) % sh->fcap].seq);
        sl_free(sh->fifo);
    }
    sl_free(s->shards);
    sl_free(s->list_token);
    sl__kin_destroy(s->kin);
    sl__lease_close(&s->store);
    sl__kinsrc_seen_clear(s);
    sl_free(s->seen);
    sl_free(s->store_spec);
    sl_free(s->worker);
    sl_free(s->stream);
    sl_free(s->app);
    sl_free(s);
}

/* Shards this processor reads now: it holds their lease and they are not
 * finished. */
static size_t held(const kin_src_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nshards; i++)
        n += s->shards[i].held && s->shards[i].state != SH_UNLEASED &&
             s->shards[i].state != SH_FINISHED;
    return n;
}

static int ks_ready(void *opaque, char *why, size_t why_size)
{
    kin_src_t *s = opaque;
    if (s->unreachable) {
        snprintf(why, why_size, "kinesis stream %s: the endpoint %s", s->stream,
                 s->unreachable == KIN_TRANSPORT ? "does not answer"
                 : s->unreachable == KIN_DENIED  ? "denies access"
                                                 : "answers with server errors");
        return 0;
    }
    if (!s->started_ok || !held(s)) {
        snprintf(why, why_size, "kinesis stream %s: no shard to read (yet)", s->stream);
        return 0;
    }
    return 1;
}

static void ks_metrics(void *opaque, sl__metrics_t *m)
{
    kin_src_t *s = opaque;
    sl__metric_help(m, "sluice_assigned_partitions", "gauge",
                    "Shards this processor reads (their lease held, not finished).");
    sl__metric_u(m, "sluice_assigned_partitions", held(s), NULL);
    if (s->last_commit_ms) {
        sl__metric_help(m, "sluice_last_commit_age_seconds", "gauge",
                        "Seconds since a checkpoint was last stored.");
        sl__metric_d(m, "sluice_last_commit_age_seconds",
                     (double)(sl__kinsrc_now_ms() - s->last_commit_ms) / 1000.0, NULL);
    }
    sl__metric_help(m, "sluice_consumer_lag_seconds", "gauge",
                    "How far behind the tip of its shard the last read was (Kinesis "
                    "MillisBehindLatest, in seconds), by stream, partition (the shard's index) "
                    "and shard.");
    char pn[16];
    for (size_t i = 0; i < s->nshards; i++) {
        const shard_t *sh = &s->shards[i];
        if (!sh->behind_known || !sh->held || sh->state == SH_FINISHED)
            continue; /* another worker's shard: its lag is that worker's to tell */
        snprintf(pn, sizeof pn, "%d", (int)sh->part);
        sl__metric_d(m, "sluice_consumer_lag_seconds", (double)sh->behind_ms / 1000.0, "topic",
                     s->stream, "partition", pn, "shard", sh->id, NULL);
    }
}

static const sl__source_if_t kinesis_source_if = {
    .name = "kinesis",
    .start = ks_start,
    .stop = ks_stop,
    .commit = sl__kinsrc_commit,
    .close = ks_close,
    .destroy = ks_destroy,
    .release = ks_release,
    .flow = ks_flow,
    .ready = ks_ready,
    .metrics = ks_metrics,
};

int sl_kinesis_source_attach(sl_processor_t *p, const char *stream, char *errstr,
                             size_t errstr_size)
{
    if (!p || !stream || !*stream || strchr(stream, ',')) {
        sl__errf(errstr, errstr_size, "one Kinesis stream name is required");
        return SL_EINVAL;
    }
    char epb[160];
    const char *ep = sl__kin_endpoint_url(p, epb, sizeof epb);
    /* Its channel in the processor's description; describe-only: no client. */
    if (sl__proc_describe_source(p, "kinesis", stream, ep)) {
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    if (sl__proc_describe_only(p))
        return 0;
    const sl_conf_t *conf = sl_processor_conf(p);
    kin_src_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->proc = p;
    s->e = sl_processor_engine(p);
    s->stream = sl_strdup(stream);
    const char *app = sl__kin_conf_str(conf, "kinesis.application");
    if (!app)
        app = sl_conf_get_str_pt(conf, "kafka.group.id");
    if (!app)
        app = sl_conf_get_str(conf, "processor.name");
    s->app = sl_strdup(app);
    if (!s->stream || !s->app)
        goto oom;
    const char *it = sl__kin_conf_str(conf, "kinesis.iterator");
    if (it && strcmp(it, "TRIM_HORIZON") && strcmp(it, "LATEST")) {
        sl__errf(errstr, errstr_size, "kinesis.iterator must be TRIM_HORIZON or LATEST");
        ks_destroy(s);
        return SL_EINVAL;
    }
    s->latest = it && !strcmp(it, "LATEST");
    s->limit = (int)sl_conf_get_int(conf, "kinesis.records.limit");
    s->limit_set = sl__conf_is_set(conf, "kinesis.records.limit");
    s->mem_share = sl__mem_share(conf, SL__MEM_SOURCE);
    s->poll_ms = sl_conf_get_int(conf, "kinesis.poll.interval.ms");
    s->refresh_ms = sl_conf_get_int(conf, "kinesis.shards.refresh.ms");
    /* kinesis.lease.store; kinesis.checkpoints is its older name. */
    const char *cp = sl__kin_conf_str(conf, "kinesis.lease.store");
    if (!cp)
        cp = sl__kin_conf_str(conf, "kinesis.checkpoints");
    if (!cp)
        cp = "sqlite:checkpoints.db";
    if (!((!strncmp(cp, "sqlite:", 7) && cp[7]) || (!strncmp(cp, "dynamodb:", 9) && cp[9]))) {
        sl__errf(errstr, errstr_size,
                 "kinesis.lease.store (kinesis.checkpoints) must be sqlite:PATH or dynamodb:TABLE");
        ks_destroy(s);
        return SL_EINVAL;
    }
    /* Opened and read at start, where a locked store is waited on. */
    s->store_spec = sl_strdup(cp);
    const char *wid = sl__kin_conf_str(conf, "kinesis.worker.id");
    char host[256] = "";
    if (!wid) {
        if (gethostname(host, sizeof host - 32))
            snprintf(host, sizeof host, "host");
        host[sizeof host - 32] = 0;
        snprintf(host + strlen(host), 32, "-%ld", (long)getpid());
        wid = host;
    }
    s->worker = sl_strdup(wid);
    if (!s->store_spec || !s->worker)
        goto oom;
    s->failover_ms = sl_conf_get_int(conf, "kinesis.lease.failover.ms");
    s->renew_ms = s->failover_ms / 3;
    s->ckpt_timeout_ms = sl_conf_get_int(conf, "kinesis.checkpoints.timeout.ms");
    s->kin = sl__kin_new(p, errstr, errstr_size);
    if (!s->kin) {
        ks_destroy(s);
        return SL_EINVAL;
    }
    int rc = sl__proc_set_source(p, &kinesis_source_if, s);
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
