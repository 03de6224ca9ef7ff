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
 * Checkpoints are read once, at start, before any shard is read: one that
 * cannot be read is retried until kinesis.checkpoints.timeout.ms, then the
 * start fails. Taking it as "no checkpoint" would start the shard from
 * kinesis.iterator: LATEST would skip records and then overwrite the
 * checkpoint. Writes run as jobs on the engine's executor (libuv's thread
 * pool), one at a time; a failed write stays pending and is retried. */
#include "core/util.h"
#include "kinesis/client.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"
#include "kinesis/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include "runtime/runtime.h"

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
    char *seq; /* NULL for a record that came without one */
} seqent_t;

typedef struct shard_s {
    char *id, *parent, *adjacent;
    int32_t part; /* partition index for the engine */
    int state;
    int closed_range; /* the listing says the shard is closed (has an ending sequence number) */
    char *iterator;
    char *last_seq; /* sequence number of the last record pushed */
    char *ckpt;     /* checkpoint stored (or read at start) */
    char *want;     /* checkpoint to store next (a write is pending), or NULL */
    int64_t next_off;
    int64_t due; /* when the next call may go (ms, monotonic) */
    unsigned backoff;
    int paused;
    seqent_t *fifo; /* pushed, not yet below the watermark */
    size_t fhead, fn, fcap;
} shard_t;

typedef struct kin_rec_s {
    sl_record_t rec; /* first: the engine hands this pointer back */
    /* key, position and data follow in the same allocation */
} kin_rec_t;

/* A checkpoint read at start. */
typedef struct known_s {
    char *shard, *seq;
} known_t;

typedef struct kin_src_s {
    sl_processor_t *proc;
    sl_engine_t *e;
    sl__kin_t *kin;
    sl__ckpt_t *ckpt;
    char *ckpt_path;
    int64_t ckpt_timeout_ms;
    known_t *known;
    size_t nknown, kcap;
    int ck_busy; /* a checkpoint write is in flight */
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
} kin_src_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static shard_t *shard_find(kin_src_t *s, const char *id)
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

typedef struct ckent_s {
    size_t idx; /* the shard's index (the array may move meanwhile) */
    char *shard, *seq;
    int rc;
} ckent_t;

typedef struct ckjob_s {
    kin_src_t *s;
    sl__ckpt_t *ckpt;
    const char *app, *stream;
    ckent_t *ents;
    size_t n;
} ckjob_t;

static void ckjob_free(ckjob_t *j)
{
    for (size_t i = 0; i < j->n; i++) {
        sl_free(j->ents[i].shard);
        sl_free(j->ents[i].seq);
    }
    sl_free(j->ents);
    sl_free(j);
}

/* On the executor's thread: the checkpoint handle and the job only. */
static void ck_work(void *arg)
{
    ckjob_t *j = arg;
    int stop = 0;
    for (size_t i = 0; i < j->n; i++) {
        /* The database is locked or failing: the rest waits for the next
         * attempt rather than each waiting out the busy timeout. */
        j->ents[i].rc =
            stop ? stop
                 : sl__ckpt_put(j->ckpt, j->app, j->stream, j->ents[i].shard, j->ents[i].seq);
        if (j->ents[i].rc)
            stop = j->ents[i].rc;
    }
}

static void ck_interrupt(void *arg)
{
    ckjob_t *j = arg;
    sl__ckpt_interrupt(j->ckpt);
}

static void ck_flush(kin_src_t *s);
static void schedule(kin_src_t *s);

static void ck_done(void *arg, int status)
{
    ckjob_t *j = arg;
    kin_src_t *s = j->s;
    s->ck_busy = 0;
    for (size_t i = 0; i < j->n; i++) {
        ckent_t *c = &j->ents[i];
        shard_t *sh = &s->shards[c->idx];
        int rc = status ? status : c->rc;
        if (rc) {
            if (s->closed) {
                /* The last write at shutdown: not retried; the records
                 * after the stored checkpoint are read again next time. */
                sl__log(s->proc, "warn",
                        "checkpoint of %s/%s not stored at shutdown: %s; records after %s will "
                        "be read again",
                        s->stream, sh->id, sl_strerror(rc), sh->ckpt ? sh->ckpt : "its start");
                sl_free(sh->want);
                sh->want = NULL;
            } else {
                sl__log(s->proc, "warn", "checkpoint of %s/%s not stored: %s; will retry",
                        s->stream, sh->id, sl_strerror(rc));
            }
            continue;
        }
        set_str(&sh->ckpt, c->seq);
        if (sh->want && !strcmp(sh->want, c->seq)) {
            sl_free(sh->want);
            sh->want = NULL;
        }
        if (!strcmp(c->seq, SL__CKPT_SHARD_END) && sh->state == SH_ENDED) {
            sh->state = SH_FINISHED;
            sl__log(s->proc, "info", "shard %s read and done to its end", sh->id);
            /* Its children may start now. */
            for (size_t k = 0; k < s->nshards; k++)
                if (s->shards[k].state == SH_WAIT_PARENT)
                    s->shards[k].due = 0;
            s->next_list = 0;
        }
    }
    ckjob_free(j);
    /* Newer checkpoints that came meanwhile (failed ones wait for the next
     * commit, so a locked database is not hammered). */
    if (s->closed)
        ck_flush(s);
    else
        schedule(s); /* children of a finished shard may start */
}

/* Write every pending checkpoint, unless a write is in flight (its done
 * sends what came meanwhile at shutdown; while running, the next commit). */
static void ck_flush(kin_src_t *s)
{
    if (s->ck_busy || !s->ckpt)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->nshards; i++)
        n += s->shards[i].want != NULL;
    if (!n)
        return;
    ckjob_t *j = sl_calloc(1, sizeof *j);
    if (!j || !(j->ents = sl_calloc(n, sizeof *j->ents))) {
        sl_free(j);
        return; /* out of memory: the next commit tries again */
    }
    *j = (ckjob_t){s, s->ckpt, s->app, s->stream, j->ents, 0};
    for (size_t i = 0; i < s->nshards; i++) {
        shard_t *sh = &s->shards[i];
        if (!sh->want)
            continue;
        ckent_t *c = &j->ents[j->n];
        c->idx = i;
        c->shard = sl_strdup(sh->id);
        c->seq = sl_strdup(sh->want);
        j->n++;
        if (!c->shard || !c->seq) {
            ckjob_free(j);
            return;
        }
    }
    sl_job_t job = {ck_work, ck_done, ck_interrupt, j};
    int rc = sl_engine_submit(s->e, &job);
    if (rc) {
        sl__log(s->proc, "warn", "checkpoints of %s not stored: %s%s", s->stream, sl_strerror(rc),
                s->closed ? "; records after the stored ones will be read again" : "; will retry");
        if (s->closed)
            for (size_t i = 0; i < s->nshards; i++) {
                sl_free(s->shards[i].want);
                s->shards[i].want = NULL;
            }
        ckjob_free(j);
        return;
    }
    s->ck_busy = 1;
}

/* Move the shard's checkpoint up to its done watermark. */
static void shard_checkpoint(kin_src_t *s, shard_t *sh)
{
    int64_t wm = sl_engine_watermark(s->e, s->stream, sh->part);
    char *seq = NULL;
    while (sh->fn && sh->fifo[sh->fhead].off < wm) {
        seqent_t *f = &sh->fifo[sh->fhead];
        /* A record without a sequence number (a fault) moves nothing: the
         * checkpoint stays at the last record before it that has one. */
        if (f->seq) {
            sl_free(seq);
            seq = f->seq;
            f->seq = NULL;
        }
        sh->fhead = (sh->fhead + 1) % sh->fcap;
        sh->fn--;
    }
    if (seq) {
        sl_free(sh->want);
        sh->want = seq;
    }
    if (sh->state == SH_ENDED && !sh->fn &&
        !(sh->ckpt && !strcmp(sh->ckpt, SL__CKPT_SHARD_END) && !sh->want))
        set_str(&sh->want, SL__CKPT_SHARD_END);
}

static void ks_commit(void *opaque, int sync)
{
    (void)sync; /* the write completes on the loop, which runs until it does */
    kin_src_t *s = opaque;
    for (size_t i = 0; i < s->nshards; i++)
        shard_checkpoint(s, &s->shards[i]);
    ck_flush(s);
}

static int known_add(void *opaque, const char *shard, const char *seq)
{
    kin_src_t *s = opaque;
    if (s->nknown == s->kcap) {
        size_t cap = s->kcap ? s->kcap * 2 : 16;
        known_t *n = sl_realloc(s->known, cap * sizeof *n);
        if (!n)
            return SL_ENOMEM;
        s->known = n;
        s->kcap = cap;
    }
    known_t *k = &s->known[s->nknown];
    k->shard = sl_strdup(shard);
    k->seq = sl_strdup(seq);
    if (!k->shard || !k->seq) {
        sl_free(k->shard);
        sl_free(k->seq);
        return SL_ENOMEM;
    }
    s->nknown++;
    return 0;
}

static void known_clear(kin_src_t *s)
{
    for (size_t i = 0; i < s->nknown; i++) {
        sl_free(s->known[i].shard);
        sl_free(s->known[i].seq);
    }
    s->nknown = 0;
}

/* Open the checkpoint store and read the stream's checkpoints, retrying a
 * locked or failing store until kinesis.checkpoints.timeout.ms. Runs at
 * start, before the loop: nothing else is waiting on it yet. */
static int ckpt_load(kin_src_t *s)
{
    int64_t start = now_ms(), end = start + s->ckpt_timeout_ms;
    char err[400] = "";
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = s->ckpt ? 0 : sl__ckpt_open(s->ckpt_path, &s->ckpt, err, sizeof err);
        if (!rc) {
            known_clear(s);
            rc = sl__ckpt_list(s->ckpt, s->app, s->stream, known_add, s);
            if (!rc) {
                if (attempt)
                    sl__log(s->proc, "info", "checkpoints of %s read after %lld ms", s->stream,
                            (long long)(now_ms() - start));
                return 0;
            }
            snprintf(err, sizeof err, "checkpoints at %s: %s", s->ckpt_path, sl_strerror(rc));
        }
        if (!sl_err_is_retriable(rc) || now_ms() >= end)
            break;
        if (!attempt)
            sl__log(s->proc, "warn", "%s; retrying for up to %lld ms", err,
                    (long long)s->ckpt_timeout_ms);
        int64_t left = end - now_ms();
        struct timespec ts = {0, (long)(left < 200 ? (left > 0 ? left : 0) : 200) * 1000000L};
        nanosleep(&ts, NULL);
    }
    known_clear(s);
    sl__log(s->proc, "error",
            "cannot read the checkpoints of stream %s (%s); not starting: reading from "
            "kinesis.iterator instead would skip or repeat records",
            s->stream, err);
    return rc;
}

/* ---- shard listing ---- */

static int parent_done(kin_src_t *s, const char *id)
{
    if (!id)
        return 1;
    shard_t *p = shard_find(s, id);
    /* A parent no longer listed has expired out of retention: nothing to wait for. */
    return !p || p->state == SH_FINISHED;
}

static void shard_add(kin_src_t *s, json_t *j)
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
    const char *seq = NULL;
    for (size_t k = 0; k < s->nknown && !seq; k++)
        if (!strcmp(s->known[k].shard, id))
            seq = s->known[k].seq;
    if (seq) {
        set_str(&sh->ckpt, seq);
        if (!sh->ckpt) {
            sl_free(sh->id);
            sl_free(sh->parent);
            sl_free(sh->adjacent);
            return; /* out of memory: the next listing adds it */
        }
        sh->state = strcmp(seq, SL__CKPT_SHARD_END) ? SH_NEED_ITER : SH_FINISHED;
    } else {
        sh->state = SH_WAIT_PARENT;
    }
    s->nshards++;
    sl__log(s->proc, "info", "shard %s%s%s%s", id, sh->parent ? " (child of " : "",
            sh->parent ? sh->parent : "", sh->parent ? ")" : "");
}

static void list_next(kin_src_t *s);

static void on_list(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    kin_src_t *s = opaque;
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

static void list_next(kin_src_t *s)
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

static void shard_backoff(kin_src_t *s, shard_t *sh)
{
    unsigned b = sh->backoff < 6 ? sh->backoff++ : 6;
    int64_t cap = (int64_t)500 << b; /* 0.5 s .. 32 s */
    if (cap > 10000)
        cap = 10000;
    sh->due = now_ms() + cap / 2 + (int64_t)((unsigned)rand() % (unsigned)(cap / 2 + 1));
    (void)s;
}

typedef struct shcall_s {
    kin_src_t *s;
    size_t idx; /* shards may move when the array grows: keep the index */
} shcall_t;

static void on_iterator(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    shcall_t *c = opaque;
    kin_src_t *s = c->s;
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
    char *seqcopy = seq ? sl_strdup(seq) : NULL;
    if (seq && !seqcopy) {
        sl_free(k);
        return SL_ENOMEM;
    }
    int rc = why[0] ? sl_engine_push_fault(s->e, &k->rec, SL_EFIELD, why)
                    : sl_engine_push(s->e, &k->rec);
    if (rc) {
        sl_free(seqcopy);
        sl_free(k);
        return rc;
    }
    sh->fifo[(sh->fhead + sh->fn) % sh->fcap] = (seqent_t){sh->next_off, seqcopy};
    sh->fn++;
    sh->next_off++;
    if (seq)
        set_str(&sh->last_seq, seq);
    return 0;
}

static void on_records(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    shcall_t *c = opaque;
    kin_src_t *s = c->s;
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
        ck_flush(s);
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

static void shard_step(kin_src_t *s, size_t idx, int64_t now)
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
    if (sh->state == SH_ENDED) {
        shard_checkpoint(s, sh);
        ck_flush(s);
    }
}

static void tick_cb(uv_timer_t *t);

/* Run whatever is due, then sleep until the next due time. */
static void tick(kin_src_t *s)
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

static void schedule(kin_src_t *s)
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
    kin_src_t *s = opaque;
    int rc = check_reachable(s);
    if (!rc)
        rc = ckpt_load(s);
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
    kin_src_t *s = opaque;
    s->stopping = 1;
}

static void ks_close(void *opaque)
{
    kin_src_t *s = opaque;
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
    kin_src_t *s = opaque;
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
    sl__ckpt_close(s->ckpt);
    known_clear(s);
    sl_free(s->known);
    sl_free(s->ckpt_path);
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
        sl__errf(errstr, errstr_size, "one Kinesis stream name is required");
        return SL_EINVAL;
    }
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
    s->poll_ms = sl_conf_get_int(conf, "kinesis.poll.interval.ms");
    s->refresh_ms = sl_conf_get_int(conf, "kinesis.shards.refresh.ms");
    const char *cp = sl__kin_conf_str(conf, "kinesis.checkpoints");
    if (!cp)
        cp = "sqlite:checkpoints.db";
    if (strncmp(cp, "sqlite:", 7) || !cp[7]) {
        sl__errf(errstr, errstr_size, "kinesis.checkpoints must be sqlite:PATH");
        ks_destroy(s);
        return SL_EINVAL;
    }
    /* Opened and read at start, where a locked store is waited on. */
    s->ckpt_path = sl_strdup(cp + 7);
    if (!s->ckpt_path)
        goto oom;
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
