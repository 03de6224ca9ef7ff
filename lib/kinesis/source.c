/* sluice — Kinesis source: one GetRecords loop per shard on the processor's
 * loop, parents read and done before children, checkpoints from the done
 * watermark.
 *
 * The engine wants int64 offsets that grow per partition; Kinesis sequence
 * numbers are decimal strings of up to 128 digits. So each shard is a
 * partition (its index here) and its records are numbered 0, 1, 2, ... in the
 * order read; a FIFO per shard maps those numbers back to sequence numbers
 * when the watermark advances, and the sequence number below the watermark
 * is the checkpoint. */
#include "kinesis/client.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"
#include "store/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    SH_WAIT_PARENT, /* a parent is not finished yet */
    SH_NEED_ITER,   /* ask for an iterator */
    SH_READY,       /* has an iterator: GetRecords when due */
    SH_BUSY,        /* a call is in flight */
    SH_ENDED,       /* closed shard read to its end: waiting for its records to be done */
    SH_FINISHED     /* done to its end and checkpointed (SHARD_END) */
};

typedef struct seqent_s {
    int64_t off;
    char *seq;
} seqent_t;

typedef struct shard_s {
    char *id, *parent, *adjacent;
    int32_t part; /* partition index for the engine */
    int state;
    int closed_range; /* the listing says the shard is closed (has an ending sequence number) */
    char *iterator;
    char *last_seq; /* sequence number of the last record pushed */
    char *ckpt;     /* checkpoint stored (or read at start) */
    int64_t next_off;
    int64_t due; /* when the next call may go (ms, monotonic) */
    unsigned backoff;
    int paused;
    seqent_t *fifo; /* pushed, not yet below the watermark */
    size_t fhead, fn, fcap;
} shard_t;

typedef struct krec_s {
    sl_record_t rec; /* first: the engine hands this pointer back */
    /* key, position and data follow in the same allocation */
} krec_t;

typedef struct ksrc_s {
    sl_processor_t *proc;
    sl_engine_t *e;
    sl__kin_t *kin;
    sl__ckpt_t *ckpt;
    char *stream, *app;
    int latest; /* kinesis.iterator LATEST */
    int limit;
    int64_t poll_ms, refresh_ms;
    shard_t *shards;
    size_t nshards, scap;
    uv_timer_t tick;
    int timer_on;
    int listing;      /* a ListShards walk is in flight */
    char *list_token; /* its NextToken */
    int64_t next_list;
    int paused_all;
    int stopping, closed;
    int started_ok; /* the first listing succeeded */
    size_t inflight_calls;
} ksrc_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static shard_t *shard_find(ksrc_t *s, const char *id)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (!strcmp(s->shards[i].id, id))
            return &s->shards[i];
    return NULL;
}

static void set_str(char **dst, const char *v)
{
    char *n = v ? sl_strdup(v) : NULL;
    if (v && !n)
        return; /* out of memory: keep the old value (a renewal will come) */
    sl_free(*dst);
    *dst = n;
}

/* ---- checkpoints ---- */

/* Move the shard's checkpoint up to its done watermark. */
static void shard_checkpoint(ksrc_t *s, shard_t *sh)
{
    int64_t wm = sl_engine_watermark(s->e, s->stream, sh->part);
    const char *seq = NULL;
    while (sh->fn && sh->fifo[sh->fhead].off < wm) {
        seqent_t *f = &sh->fifo[sh->fhead];
        if (seq)
            sl_free((char *)seq);
        seq = f->seq;
        f->seq = NULL;
        sh->fhead = (sh->fhead + 1) % sh->fcap;
        sh->fn--;
    }
    if (seq) {
        int rc = sl__ckpt_put(s->ckpt, s->app, s->stream, sh->id, seq);
        if (rc)
            sl__log(s->proc, "warn", "checkpoint of %s/%s: %s; will retry", s->stream, sh->id,
                    sl_strerror(rc));
        set_str(&sh->ckpt, seq);
        sl_free((char *)seq);
    }
    if (sh->state == SH_ENDED && !sh->fn) {
        int rc = sl__ckpt_put(s->ckpt, s->app, s->stream, sh->id, SL__CKPT_SHARD_END);
        if (!rc) {
            sh->state = SH_FINISHED;
            set_str(&sh->ckpt, SL__CKPT_SHARD_END);
            sl__log(s->proc, "info", "shard %s read and done to its end", sh->id);
            /* Its children may start now. */
            for (size_t i = 0; i < s->nshards; i++)
                if (s->shards[i].state == SH_WAIT_PARENT)
                    s->shards[i].due = 0;
        }
    }
}

static void ks_commit(void *opaque, int sync)
{
    (void)sync; /* SQLite writes are synchronous */
    ksrc_t *s = opaque;
    for (size_t i = 0; i < s->nshards; i++)
        shard_checkpoint(s, &s->shards[i]);
}

/* ---- shard listing ---- */

static void schedule(ksrc_t *s);

static int parent_done(ksrc_t *s, const char *id)
{
    if (!id)
        return 1;
    shard_t *p = shard_find(s, id);
    /* A parent no longer listed has expired out of retention: nothing to wait for. */
    return !p || p->state == SH_FINISHED;
}

static void shard_add(ksrc_t *s, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "ShardId"));
    if (!id || shard_find(s, id))
        return;
    if (s->nshards == s->scap) {
        size_t cap = s->scap ? s->scap * 2 : 8;
        shard_t *n = sl_realloc(s->shards, cap * sizeof *n);
        if (!n)
            return; /* the next listing adds it */
        s->shards = n;
        s->scap = cap;
    }
    shard_t *sh = &s->shards[s->nshards];
    memset(sh, 0, sizeof *sh);
    sh->id = sl_strdup(id);
    if (!sh->id)
        return;
    set_str(&sh->parent, json_string_value(json_object_get(j, "ParentShardId")));
    set_str(&sh->adjacent, json_string_value(json_object_get(j, "AdjacentParentShardId")));
    json_t *range = json_object_get(j, "SequenceNumberRange");
    sh->closed_range = json_string_value(json_object_get(range, "EndingSequenceNumber")) != NULL;
    sh->part = (int32_t)s->nshards;
    char seq[SL__CKPT_SEQ_MAX];
    int rc = sl__ckpt_get(s->ckpt, s->app, s->stream, id, seq, sizeof seq);
    if (!rc) {
        set_str(&sh->ckpt, seq);
        sh->state = strcmp(seq, SL__CKPT_SHARD_END) ? SH_NEED_ITER : SH_FINISHED;
    } else {
        if (rc != SL_ENOENT)
            sl__log(s->proc, "warn", "checkpoint of %s/%s unreadable: %s", s->stream, id,
                    sl_strerror(rc));
        sh->state = SH_WAIT_PARENT;
    }
    s->nshards++;
    sl__log(s->proc, "info", "shard %s%s%s%s", id, sh->parent ? " (child of " : "",
            sh->parent ? sh->parent : "", sh->parent ? ")" : "");
}

static void list_next(ksrc_t *s);

static void on_list(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    ksrc_t *s = opaque;
    s->inflight_calls--;
    s->listing = 0;
    if (why == KIN_SHUTDOWN)
        return;
    if (err) {
        sl__log(s->proc, "warn", "ListShards %s: %s", s->stream, msg);
        set_str(&s->list_token, NULL);
        s->next_list = now_ms() + (why == KIN_THROTTLED ? 1000 : 2000);
        schedule(s);
        return;
    }
    json_t *arr = json_object_get(resp, "Shards");
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j) shard_add(s, j);
    const char *tok = json_string_value(json_object_get(resp, "NextToken"));
    set_str(&s->list_token, tok);
    if (tok) {
        list_next(s); /* the next page now */
        return;
    }
    if (!s->started_ok)
        sl__log(s->proc, "info", "reading %s: %zu shard(s)", s->stream, s->nshards);
    s->started_ok = 1;
    s->next_list = now_ms() + s->refresh_ms;
    schedule(s);
}

static void list_next(ksrc_t *s)
{
    json_t *req = s->list_token ? json_pack("{s:s}", "NextToken", s->list_token)
                                : json_pack("{s:s}", "StreamName", s->stream);
    if (!req)
        return;
    if (!sl__kin_call(s->kin, "ListShards", req, on_list, s)) {
        s->listing = 1;
        s->inflight_calls++;
    }
}

/* ---- reading ---- */

static void shard_backoff(ksrc_t *s, shard_t *sh)
{
    unsigned b = sh->backoff < 6 ? sh->backoff++ : 6;
    int64_t cap = (int64_t)500 << b; /* 0.5 s .. 32 s */
    if (cap > 10000)
        cap = 10000;
    sh->due = now_ms() + cap / 2 + (int64_t)((unsigned)rand() % (unsigned)(cap / 2 + 1));
    (void)s;
}

typedef struct shcall_s {
    ksrc_t *s;
    size_t idx; /* shards may move when the array grows: keep the index */
} shcall_t;

static void on_iterator(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    shcall_t *c = opaque;
    ksrc_t *s = c->s;
    shard_t *sh = &s->shards[c->idx];
    sl_free(c);
    s->inflight_calls--;
    if (why == KIN_SHUTDOWN)
        return;
    sh->state = SH_NEED_ITER;
    if (err) {
        sl__log(s->proc, "warn", "GetShardIterator %s/%s: %s", s->stream, sh->id, msg);
        shard_backoff(s, sh);
    } else {
        set_str(&sh->iterator, json_string_value(json_object_get(resp, "ShardIterator")));
        if (sh->iterator) {
            sh->state = SH_READY;
            sh->due = 0;
            sh->backoff = 0;
        }
    }
    schedule(s);
}

static int push_record(ksrc_t *s, shard_t *sh, json_t *r)
{
    const char *data = json_string_value(json_object_get(r, "Data"));
    const char *pk = json_string_value(json_object_get(r, "PartitionKey"));
    const char *seq = json_string_value(json_object_get(r, "SequenceNumber"));
    json_t *at = json_object_get(r, "ApproximateArrivalTimestamp");
    if (!data || !seq)
        return SL_EFIELD;
    size_t dl = strlen(data), kl = pk ? strlen(pk) : 0, sl = strlen(seq);
    krec_t *k = sl_malloc(sizeof *k + kl + 1 + sl + 1 + dl + 1);
    if (!k)
        return SL_ENOMEM;
    char *key = (char *)(k + 1), *pos = key + kl + 1;
    unsigned char *val = (unsigned char *)pos + sl + 1;
    long vl = sl__b64_decode(data, dl, val);
    if (vl < 0) {
        /* Not base64 (a broken service): pass the text on as it came, so the
         * record is still accounted for (most likely as a fault). */
        memcpy(val, data, dl);
        vl = (long)dl;
    }
    memcpy(key, pk ? pk : "", kl + 1);
    memcpy(pos, seq, sl + 1);
    double ts = json_is_number(at) ? json_number_value(at) : 0;
    k->rec = (sl_record_t){.topic = s->stream,
                           .partition = sh->part,
                           .offset = sh->next_off,
                           .timestamp_ms = (int64_t)(ts * 1000.0),
                           .key = kl ? key : NULL,
                           .key_len = kl,
                           .value = val,
                           .value_len = (size_t)vl,
                           .position = pos,
                           .opaque = k};
    /* the FIFO entry first: the engine may release the record during the push */
    if (sh->fn == sh->fcap) {
        size_t cap = sh->fcap ? sh->fcap * 2 : 64;
        seqent_t *n = sl_malloc(cap * sizeof *n);
        if (!n) {
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
    char *seqcopy = sl_strdup(seq);
    if (!seqcopy) {
        sl_free(k);
        return SL_ENOMEM;
    }
    int rc = sl_engine_push(s->e, &k->rec);
    if (rc) {
        sl_free(seqcopy);
        sl_free(k);
        return rc;
    }
    sh->fifo[(sh->fhead + sh->fn) % sh->fcap] = (seqent_t){sh->next_off, seqcopy};
    sh->fn++;
    sh->next_off++;
    set_str(&sh->last_seq, seq);
    return 0;
}

static void on_records(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    shcall_t *c = opaque;
    ksrc_t *s = c->s;
    shard_t *sh = &s->shards[c->idx];
    sl_free(c);
    s->inflight_calls--;
    if (why == KIN_SHUTDOWN)
        return;
    sh->state = SH_READY;
    sh->due = now_ms() + s->poll_ms;
    if (err) {
        if (why == KIN_EXPIRED) {
            sl__log(s->proc, "info", "iterator of %s/%s expired: renewing", s->stream, sh->id);
            set_str(&sh->iterator, NULL);
            sh->state = SH_NEED_ITER;
            sh->due = 0;
        } else {
            if (why != KIN_THROTTLED)
                sl__log(s->proc, "warn", "GetRecords %s/%s: %s", s->stream, sh->id, msg);
            shard_backoff(s, sh);
        }
        schedule(s);
        return;
    }
    sh->backoff = 0;
    if (s->stopping) {
        schedule(s); /* read after the drain began: read again by the next run */
        return;
    }
    json_t *recs = json_object_get(resp, "Records");
    size_t i, taken = 0;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        int rc = push_record(s, sh, r);
        if (rc == SL_EFIELD) {
            sl__log(s->proc, "error",
                    "GetRecords %s/%s: a record without Data or "
                    "SequenceNumber",
                    s->stream, sh->id);
            continue;
        }
        if (rc) {
            /* Out of memory: read again from the last record taken. */
            sl__log(s->proc, "warn", "%s/%s: %s; reading again after record %zu", s->stream, sh->id,
                    sl_strerror(rc), taken);
            set_str(&sh->iterator, NULL);
            sh->state = SH_NEED_ITER;
            shard_backoff(s, sh);
            sl__proc_after(s->proc);
            schedule(s);
            return;
        }
        taken++;
    }
    const char *next = json_string_value(json_object_get(resp, "NextShardIterator"));
    set_str(&sh->iterator, next);
    if (!next) {
        /* A closed shard, read to its end: finished once its records are done. */
        sh->state = SH_ENDED;
        sl__log(s->proc, "info", "shard %s closed: read to its end", sh->id);
        s->next_list = 0; /* its children: list again now */
        shard_checkpoint(s, sh);
    } else if (taken && json_integer_value(json_object_get(resp, "MillisBehindLatest")) > 0) {
        sh->due = now_ms() + s->poll_ms; /* more is waiting: the next call when allowed */
    } else if (!taken) {
        sh->due = now_ms() + (s->poll_ms > 1000 ? s->poll_ms : 1000);
    }
    sl__proc_after(s->proc);
    schedule(s);
}

/* Send @p req (stolen) for shard @p idx; the shard is busy until @p cb.
 * Returns 1 when sent; else the shard tries again in 100 ms. */
static int shard_call(ksrc_t *s, size_t idx, const char *op, json_t *req, sl__kin_cb cb,
                      int64_t now)
{
    shard_t *sh = &s->shards[idx];
    shcall_t *c = req ? sl_malloc(sizeof *c) : NULL;
    if (!c) {
        json_decref(req);
        sh->due = now + 100;
        return 0;
    }
    *c = (shcall_t){s, idx};
    if (sl__kin_call(s->kin, op, req, cb, c)) {
        sl_free(c);
        sh->due = now + 100;
        return 0;
    }
    s->inflight_calls++;
    sh->state = SH_BUSY;
    return 1;
}

static void shard_step(ksrc_t *s, size_t idx, int64_t now)
{
    shard_t *sh = &s->shards[idx];
    if (sh->due > now || sh->state == SH_BUSY)
        return;
    if (sh->state == SH_WAIT_PARENT) {
        if (!parent_done(s, sh->parent) || !parent_done(s, sh->adjacent)) {
            sh->due = now + 1000;
            return;
        }
        sh->state = SH_NEED_ITER;
    }
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
        json_t *req = json_pack("{s:s,s:i}", "ShardIterator", sh->iterator, "Limit", s->limit);
        if (shard_call(s, idx, "GetRecords", req, on_records, now))
            sh->due = now + s->poll_ms;
        return;
    }
    if (sh->state == SH_ENDED)
        shard_checkpoint(s, sh);
}

static void tick_cb(uv_timer_t *t);

/* Run whatever is due, then sleep until the next due time. */
static void tick(ksrc_t *s)
{
    if (s->closed)
        return;
    int64_t now = now_ms();
    if (!s->stopping && !s->listing && now >= s->next_list)
        list_next(s);
    for (size_t i = 0; !s->stopping && i < s->nshards; i++)
        shard_step(s, i, now);
    int64_t next = s->next_list;
    for (size_t i = 0; i < s->nshards; i++) {
        shard_t *sh = &s->shards[i];
        if (sh->state != SH_BUSY && sh->state != SH_FINISHED && sh->due < next)
            next = sh->due;
    }
    int64_t wait = next - now_ms();
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

static void schedule(ksrc_t *s)
{
    if (s->timer_on && !s->closed)
        uv_timer_start(&s->tick, tick_cb, 0, 0);
}

/* ---- the source interface ---- */

/* At start, as the Kafka source does with its brokers: an endpoint that
 * cannot be reached, or a stream that does not exist, is an error now rather
 * than a warning repeated forever. Transient failures are retried until
 * source.connect.timeout.ms. */
static int check_reachable(ksrc_t *s)
{
    int64_t limit = sl_conf_get_int(sl_processor_conf(s->proc), "source.connect.timeout.ms");
    if (limit <= 0)
        return 0;
    int64_t end = now_ms() + limit;
    char msg[300] = "";
    for (;;) {
        int64_t left = end - now_ms();
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
        if (now_ms() + 500 >= end)
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
    ksrc_t *s = opaque;
    int rc = check_reachable(s);
    if (rc)
        return rc;
    uv_timer_init(sl__proc_loop(s->proc), &s->tick);
    s->tick.data = s;
    s->timer_on = 1;
    sl__log(s->proc, "info", "kinesis stream %s at %s, application %s", s->stream,
            sl__kin_endpoint(s->kin), s->app);
    schedule(s);
    return 0;
}

static void ks_stop(void *opaque)
{
    ksrc_t *s = opaque;
    s->stopping = 1;
}

static void ks_close(void *opaque)
{
    ksrc_t *s = opaque;
    if (s->closed)
        return;
    ks_commit(s, 1);
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
    sl_free(rec->opaque);
}

static void ks_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    ksrc_t *s = opaque;
    (void)topic;
    if (partition == SL_PARTITION_ALL)
        s->paused_all = pause;
    else if (partition >= 0 && (size_t)partition < s->nshards)
        s->shards[partition].paused = pause;
    if (!pause)
        schedule(s);
}

static void ks_destroy(void *opaque)
{
    ksrc_t *s = opaque;
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
        for (size_t k = 0; k < sh->fn; k++)
            sl_free(sh->fifo[(sh->fhead + k) % sh->fcap].seq);
        sl_free(sh->fifo);
    }
    sl_free(s->shards);
    sl_free(s->list_token);
    sl__kin_destroy(s->kin);
    sl__ckpt_close(s->ckpt);
    sl_free(s->stream);
    sl_free(s->app);
    sl_free(s);
}

static const sl__source_if_t kinesis_source_if = {
    .name = "kinesis",
    .start = ks_start,
    .stop = ks_stop,
    .commit = ks_commit,
    .close = ks_close,
    .destroy = ks_destroy,
    .release = ks_release,
    .flow = ks_flow,
};

int sl_kinesis_source_attach(sl_processor_t *p, const char *stream, char *errstr,
                             size_t errstr_size)
{
    if (!p || !stream || !*stream || strchr(stream, ',')) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "one Kinesis stream name is required");
        return SL_EINVAL;
    }
    const sl_conf_t *conf = sl_processor_conf(p);
    ksrc_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->proc = p;
    s->e = sl_processor_engine(p);
    s->stream = sl_strdup(stream);
    const char *app = sl_conf_get_str_pt(conf, "kinesis.application");
    if (!app)
        app = sl_conf_get_str_pt(conf, "kafka.group.id");
    if (!app)
        app = sl_conf_get_str(conf, "processor.name");
    s->app = sl_strdup(app);
    if (!s->stream || !s->app)
        goto oom;
    const char *it = sl_conf_get_str_pt(conf, "kinesis.iterator");
    if (it && strcmp(it, "TRIM_HORIZON") && strcmp(it, "LATEST")) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "kinesis.iterator must be TRIM_HORIZON or LATEST");
        ks_destroy(s);
        return SL_EINVAL;
    }
    s->latest = it && !strcmp(it, "LATEST");
    s->limit = (int)sl__kin_conf_int(p, "kinesis.records.limit", 10000, 1, 10000);
    s->poll_ms = sl__kin_conf_int(p, "kinesis.poll.interval.ms", 200, 0, 3600000);
    s->refresh_ms = sl__kin_conf_int(p, "kinesis.shards.refresh.ms", 10000, 100, 3600000);
    const char *cp = sl_conf_get_str_pt(conf, "kinesis.checkpoints");
    if (!cp)
        cp = "sqlite:checkpoints.db";
    if (strncmp(cp, "sqlite:", 7) || !cp[7]) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "kinesis.checkpoints must be sqlite:PATH");
        ks_destroy(s);
        return SL_EINVAL;
    }
    s->ckpt = sl__ckpt_open(cp + 7, errstr, errstr_size);
    if (!s->ckpt) {
        ks_destroy(s);
        return SL_EINVAL;
    }
    s->kin = sl__kin_new(p, errstr, errstr_size);
    if (!s->kin) {
        ks_destroy(s);
        return SL_EINVAL;
    }
    int rc = sl__proc_set_source(p, &kinesis_source_if, s);
    if (rc) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "%s", sl_strerror(rc));
        ks_destroy(s);
        return rc;
    }
    return 0;
oom:
    ks_destroy(s);
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory");
    return SL_ENOMEM;
}
