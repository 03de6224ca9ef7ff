/* sluice — Kinesis source: checkpoints (see source.c). */
#include "kinesis/source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        s->last_commit_ms = sl__kinsrc_now_ms();
        sl__kinsrc_set_str(&sh->ckpt, c->seq);
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
        sl__kinsrc_ck_flush(s);
    else
        sl__kinsrc_schedule(s); /* children of a finished shard may start */
}

/* Write every pending checkpoint, unless a write is in flight (its done
 * sends what came meanwhile at shutdown; while running, the next commit). */
void sl__kinsrc_ck_flush(kin_src_t *s)
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
void sl__kinsrc_shard_checkpoint(kin_src_t *s, shard_t *sh)
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
        sl__kinsrc_set_str(&sh->want, SL__CKPT_SHARD_END);
}

void sl__kinsrc_commit(void *opaque, int sync)
{
    (void)sync; /* the write completes on the loop, which runs until it does */
    kin_src_t *s = opaque;
    for (size_t i = 0; i < s->nshards; i++)
        sl__kinsrc_shard_checkpoint(s, &s->shards[i]);
    sl__kinsrc_ck_flush(s);
}

static int known_add(void *opaque, const char *shard, const char *seq)
{
    kin_src_t *s = opaque;
    if (sl__grow(&s->known, &s->kcap, s->nknown + 1, sizeof *s->known, 16))
        return SL_ENOMEM;
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

void sl__kinsrc_known_clear(kin_src_t *s)
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
int sl__kinsrc_ckpt_load(kin_src_t *s)
{
    int64_t start = sl__kinsrc_now_ms(), end = start + s->ckpt_timeout_ms;
    char err[400] = "";
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = s->ckpt ? 0 : sl__ckpt_open(s->ckpt_path, &s->ckpt, err, sizeof err);
        if (!rc) {
            sl__kinsrc_known_clear(s);
            rc = sl__ckpt_list(s->ckpt, s->app, s->stream, known_add, s);
            if (!rc) {
                if (attempt)
                    sl__log(s->proc, "info", "checkpoints of %s read after %lld ms", s->stream,
                            (long long)(sl__kinsrc_now_ms() - start));
                return 0;
            }
            snprintf(err, sizeof err, "checkpoints at %s: %s", s->ckpt_path, sl_strerror(rc));
        }
        if (!sl_err_is_retriable(rc) || sl__kinsrc_now_ms() >= end)
            break;
        if (!attempt)
            sl__log(s->proc, "warn", "%s; retrying for up to %lld ms", err,
                    (long long)s->ckpt_timeout_ms);
        int64_t left = end - sl__kinsrc_now_ms();
        struct timespec ts = {0, (long)(left < 200 ? (left > 0 ? left : 0) : 200) * 1000000L};
        nanosleep(&ts, NULL);
    }
    sl__kinsrc_known_clear(s);
    sl__log(s->proc, "error",
            "cannot read the checkpoints of stream %s (%s); not starting: reading from "
            "kinesis.iterator instead would skip or repeat records",
            s->stream, err);
    return rc;
}
