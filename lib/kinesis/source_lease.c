/* sluice — Kinesis source: shard leases and the checkpoints in them (see
 * source.c and lease.h).
 *
 * Several workers (processes, hosts) of one application share a stream's
 * shards through the lease table: a worker reads only the shards whose
 * leases it holds. All store calls run as jobs on the engine's executor, one
 * job at a time, so this worker's writes to one lease never race each other
 * and each knows the counter the last one left. A job (a "cycle") does, in
 * order: create the leases of shards newly listed, the conditional writes
 * (renewals, checkpoints, takes, releases), then, when due, a listing of every
 * lease; the loop then decides what to take. Renewals and listings are due
 * every kinesis.lease.failover.ms / 3.
 *
 * Taking: a lease is expired when its owner is nobody, or when its counter
 * has not moved for the failover time since this worker first saw that
 * counter (no clocks are compared). A worker aims at its fair share,
 * ceil(active leases / live workers): it takes expired leases first; when
 * none is left and it is below its share, it steals one lease per cycle
 * from the most loaded worker. Leases of children are taken only once every
 * parent's checkpoint is SHARD_END. A worker that finds a write of its own
 * lost (the counter moved) drops the shard at once: its records in flight
 * are finished but never checkpointed, and the new owner reads from the
 * checkpoint in the lease (duplicates are bounded by what was in flight). */
#include "kinesis/source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { W_RENEW, W_CKPT, W_TAKE, W_RELEASE };

typedef struct wr_s {
    size_t idx; /* the shard's index (the array may move meanwhile) */
    unsigned gen;
    int kind;
    char *shard, *ckpt; /* ckpt NULL: unchanged */
    int64_t expect;
    int mine; /* the owner after the write: this worker, else nobody */
    int rc;
} wr_t;

typedef struct crt_s {
    char *shard, *parents;
} crt_t;

typedef struct row_s {
    char *shard, *owner, *ckpt, *parents;
    int64_t counter;
} row_t;

typedef struct ljob_s {
    kin_src_t *s;
    sl__lease_store_t store;
    const char *app, *stream, *worker;
    wr_t *w;
    size_t nw;
    crt_t *c;
    size_t nc;
    int scan, scan_rc;
    row_t *rows;
    size_t nrows, rcap;
} ljob_t;

static void rows_free(row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sl_free(rows[i].shard);
        sl_free(rows[i].owner);
        sl_free(rows[i].ckpt);
        sl_free(rows[i].parents);
    }
    sl_free(rows);
}

static void ljob_free(ljob_t *j)
{
    for (size_t i = 0; i < j->nw; i++) {
        sl_free(j->w[i].shard);
        sl_free(j->w[i].ckpt);
    }
    for (size_t i = 0; i < j->nc; i++) {
        sl_free(j->c[i].shard);
        sl_free(j->c[i].parents);
    }
    sl_free(j->w);
    sl_free(j->c);
    rows_free(j->rows, j->nrows);
    sl_free(j);
}

static char *dup_or_null(const char *v)
{
    return v && *v ? sl_strdup(v) : NULL;
}

static int row_add(void *opaque, const sl__lease_t *l)
{
    ljob_t *j = opaque;
    if (sl__grow(&j->rows, &j->rcap, j->nrows + 1, sizeof *j->rows, 16))
        return SL_ENOMEM;
    row_t *r = &j->rows[j->nrows];
    *r = (row_t){sl_strdup(l->shard), dup_or_null(l->owner), dup_or_null(l->ckpt),
                 dup_or_null(l->parents), l->counter};
    j->nrows++;
    if (!r->shard || (l->owner && *l->owner && !r->owner) || (l->ckpt && *l->ckpt && !r->ckpt) ||
        (l->parents && *l->parents && !r->parents))
        return SL_ENOMEM;
    return 0;
}

/* On the executor's thread: the store and the job only. */
static void l_work(void *arg)
{
    ljob_t *j = arg;
    const sl__lease_ops_t *o = j->store.ops;
    int stop = 0;
    for (size_t i = 0; i < j->nc && !stop; i++) {
        int rc = o->create(j->store.st, j->app, j->stream, j->c[i].shard, j->c[i].parents);
        if (rc && rc != SL__LEASE_LOST)
            stop = rc;
    }
    for (size_t i = 0; i < j->nw; i++) {
        wr_t *w = &j->w[i];
        /* A store that is locked or failing: the rest waits for the next
         * cycle rather than each waiting out the busy timeout. */
        w->rc = stop ? stop
                     : o->update(j->store.st, j->app, j->stream, w->shard, w->expect,
                                 w->mine ? j->worker : NULL, w->ckpt);
        if (w->rc && w->rc != SL__LEASE_LOST)
            stop = w->rc;
    }
    if (j->scan)
        j->scan_rc = stop ? stop : o->list(j->store.st, j->app, j->stream, row_add, j);
}

static void l_interrupt(void *arg)
{
    ljob_t *j = arg;
    j->store.ops->interrupt(j->store.st);
}

static seen_t *seen_find(kin_src_t *s, const char *shard)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (!strcmp(s->seen[i].shard, shard))
            return &s->seen[i];
    return NULL;
}

static void seen_free_one(seen_t *e)
{
    sl_free(e->shard);
    sl_free(e->owner);
    sl_free(e->ckpt);
    sl_free(e->parents);
}

void sl__kinsrc_seen_clear(kin_src_t *s)
{
    for (size_t i = 0; i < s->nseen; i++)
        seen_free_one(&s->seen[i]);
    s->nseen = 0;
}

/* Take in a lease as read (or as this worker just wrote it). */
static void seen_put(kin_src_t *s, const char *shard, const char *owner, int64_t counter,
                     const char *ckpt, const char *parents, int64_t now)
{
    seen_t *e = seen_find(s, shard);
    if (!e) {
        if (sl__grow(&s->seen, &s->secap, s->nseen + 1, sizeof *s->seen, 16))
            return; /* out of memory: the next listing adds it */
        e = &s->seen[s->nseen];
        *e = (seen_t){.shard = sl_strdup(shard), .counter = counter, .changed_ms = now};
        if (!e->shard)
            return;
        s->nseen++;
    } else if (e->counter != counter) {
        e->counter = counter;
        e->changed_ms = now;
    }
    e->mark = 1;
    sl__kinsrc_set_str(&e->owner, owner && *owner ? owner : NULL);
    sl__kinsrc_set_str(&e->ckpt, ckpt && *ckpt ? ckpt : NULL);
    if (parents)
        sl__kinsrc_set_str(&e->parents, *parents ? parents : NULL);
}

static int is_end(const char *ckpt)
{
    return ckpt && !strcmp(ckpt, SL__CKPT_SHARD_END);
}

void sl__kinsrc_drop(kin_src_t *s, shard_t *sh)
{
    (void)s;
    sh->held = 0;
    sh->gen++;
    sh->state = SH_UNLEASED;
    sl__kinsrc_set_str(&sh->iterator, NULL);
    sl__kinsrc_set_str(&sh->last_seq, NULL);
    sl__kinsrc_set_str(&sh->want, NULL);
    for (size_t k = 0; k < sh->fn; k++)
        sl_free(sh->fifo[(sh->fhead + k) % sh->fcap].seq);
    sh->fn = sh->fhead = 0;
}

/* Every parent of a lease is done: its checkpoint is SHARD_END, or it is
 * neither leased nor listed any more (out of retention). */
static int parents_done(kin_src_t *s, const char *parents)
{
    if (!parents)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", parents);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        seen_t *e = seen_find(s, p);
        if (e ? !is_end(e->ckpt) : sl__kinsrc_shard_find(s, p) != NULL)
            return 0;
    }
    return 1;
}

static size_t held_count(kin_src_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nshards; i++)
        n += s->shards[i].held;
    return n;
}

/* What to take after a listing: marks seen entries (counter as seen) for
 * the next cycle. Returns how many. */
static size_t decide(kin_src_t *s, int64_t now, int *wanted)
{
    if (s->stopping || s->closed || !s->nseen)
        return 0;
    size_t n = s->nseen, nactive = 0, navail = 0, nown = 0;
    size_t *avail = sl_malloc(n * sizeof *avail);
    const char **owners = sl_malloc(n * sizeof *owners);
    size_t *counts = sl_calloc(n, sizeof *counts);
    size_t taken = 0;
    if (!avail || !owners || !counts)
        goto out;
    for (size_t i = 0; i < n; i++) {
        seen_t *e = &s->seen[i];
        wanted[i] = 0;
        if (is_end(e->ckpt) || !parents_done(s, e->parents))
            continue;
        shard_t *sh = sl__kinsrc_shard_find(s, e->shard);
        if (!sh)
            continue; /* not listed here yet: its parents are not known */
        nactive++;
        if (sh->held)
            continue;
        int mine = e->owner && !strcmp(e->owner, s->worker);
        if (!e->owner || mine || now - e->changed_ms >= s->failover_ms) {
            avail[navail++] = i;
            continue;
        }
        size_t k = 0;
        while (k < nown && strcmp(owners[k], e->owner))
            k++;
        if (k == nown)
            owners[nown++] = e->owner;
        counts[k]++;
    }
    size_t held = held_count(s);
    size_t target = (nactive + nown) / (nown + 1); /* ceil(nactive / workers) */
    if (held >= target)
        goto out;
    /* Expired ones first, from a random place so workers spread out. */
    size_t start = navail ? (size_t)rand() % navail : 0;
    for (size_t k = 0; k < navail && held + taken < target; k++) {
        wanted[avail[(start + k) % navail]] = 1;
        taken++;
    }
    if (taken || !nown)
        goto out;
    size_t most = 0;
    for (size_t k = 1; k < nown; k++)
        if (counts[k] > counts[most])
            most = k;
    if (!(counts[most] > target || (counts[most] == target && held + 1 < target)))
        goto out;
    size_t pick = (size_t)rand() % counts[most], seenk = 0;
    for (size_t i = 0; i < n; i++) {
        seen_t *e = &s->seen[i];
        shard_t *sh = sl__kinsrc_shard_find(s, e->shard);
        if (!sh || sh->held || !e->owner || strcmp(e->owner, owners[most]) || is_end(e->ckpt) ||
            !parents_done(s, e->parents) || now - e->changed_ms >= s->failover_ms)
            continue;
        if (seenk++ == pick) {
            wanted[i] = 1;
            taken = 1;
            sl__log(s->proc, "info",
                    "stealing the lease of shard %s from %s (%zu leases; %zu here)", e->shard,
                    e->owner, counts[most], held);
            break;
        }
    }
out:
    sl_free(avail);
    sl_free(owners);
    sl_free(counts);
    return taken;
}

static void l_done(void *arg, int status);

/* Start a cycle unless one is in flight: pending checkpoints (always),
 * renewals, creations and a listing (when due or @p full), takes (@p take:
 * flags per seen entry), releases (when closing). */
static void cycle(kin_src_t *s, int full, const int *take)
{
    if (s->ck_busy || !s->store.ops)
        return;
    int64_t now = sl__kinsrc_now_ms();
    if (!s->releasing && now >= s->next_cycle)
        full = 1;
    if (s->releasing)
        full = 0;
    ljob_t *j = sl_calloc(1, sizeof *j);
    size_t maxw = s->nshards + s->nseen;
    if (!j || (maxw && !(j->w = sl_calloc(maxw, sizeof *j->w))) ||
        (full && s->nshards && !(j->c = sl_calloc(s->nshards, sizeof *j->c)))) {
        if (j)
            ljob_free(j);
        return; /* out of memory: the next commit tries again */
    }
    j->s = s;
    j->store = s->store;
    j->app = s->app;
    j->stream = s->stream;
    j->worker = s->worker;
    int oom = 0;
    for (size_t i = 0; i < s->nshards; i++) {
        shard_t *sh = &s->shards[i];
        if (full && !seen_find(s, sh->id)) {
            char par[400] = "";
            if (sh->parent || sh->adjacent)
                snprintf(par, sizeof par, "%s%s%s", sh->parent ? sh->parent : "",
                         sh->parent && sh->adjacent ? "," : "", sh->adjacent ? sh->adjacent : "");
            crt_t *c = &j->c[j->nc++];
            c->shard = sl_strdup(sh->id);
            c->parents = dup_or_null(par);
            oom |= !c->shard || (*par && !c->parents);
        }
        if (!sh->held)
            continue;
        int kind = s->releasing ? W_RELEASE : sh->want ? W_CKPT : full ? W_RENEW : -1;
        if (kind < 0)
            continue;
        wr_t *w = &j->w[j->nw++];
        *w = (wr_t){.idx = i, .gen = sh->gen, .kind = kind, .expect = sh->counter};
        w->shard = sl_strdup(sh->id);
        w->ckpt = dup_or_null(sh->want);
        /* A finished shard is released with its SHARD_END: nobody reads it again. */
        w->mine = kind != W_RELEASE && !is_end(sh->want);
        oom |= !w->shard || (sh->want && !w->ckpt);
    }
    for (size_t i = 0; take && i < s->nseen; i++) {
        shard_t *sh = take[i] ? sl__kinsrc_shard_find(s, s->seen[i].shard) : NULL;
        if (!sh || sh->held)
            continue;
        wr_t *w = &j->w[j->nw++];
        *w = (wr_t){.idx = (size_t)(sh - s->shards),
                    .gen = sh->gen,
                    .kind = W_TAKE,
                    .expect = s->seen[i].counter,
                    .mine = 1};
        w->shard = sl_strdup(sh->id);
        oom |= !w->shard;
    }
    j->scan = full;
    if (oom || (!j->nw && !j->nc && !j->scan)) {
        ljob_free(j);
        return;
    }
    if (full)
        s->next_cycle = now + s->renew_ms;
    sl_job_t job = {l_work, l_done, l_interrupt, j};
    int rc = sl_engine_submit(s->e, &job);
    if (rc) {
        sl__log(s->proc, "warn", "leases of %s not written: %s%s", s->stream, sl_strerror(rc),
                s->closed ? "; records after the stored checkpoints will be read again"
                          : "; will retry");
        if (s->closed)
            for (size_t i = 0; i < s->nshards; i++) {
                sl_free(s->shards[i].want);
                s->shards[i].want = NULL;
                s->shards[i].held = 0;
            }
        ljob_free(j);
        return;
    }
    s->ck_busy = 1;
}

static void took(kin_src_t *s, shard_t *sh, const wr_t *w)
{
    seen_t *e = seen_find(s, sh->id);
    sl__log(s->proc, "info", "took the lease of shard %s (owner was %s), reading after %s", sh->id,
            e && e->owner ? e->owner : "nobody", e && e->ckpt ? e->ckpt : "its start");
    sl__kinsrc_drop(s, sh); /* a clean slate: nothing of an earlier hold remains */
    sh->held = 1;
    sh->counter = w->expect + 1;
    sl__kinsrc_set_str(&sh->ckpt, e ? e->ckpt : NULL);
    sh->state = SH_NEED_ITER;
    sh->due = 0;
    sh->backoff = 0;
}

static void l_done(void *arg, int status)
{
    ljob_t *j = arg;
    kin_src_t *s = j->s;
    s->ck_busy = 0;
    int64_t now = sl__kinsrc_now_ms();
    for (size_t i = 0; i < j->nw; i++) {
        wr_t *w = &j->w[i];
        shard_t *sh = &s->shards[w->idx];
        int rc = status ? status : w->rc;
        if (w->gen != sh->gen)
            continue; /* dropped meanwhile */
        if (!rc) {
            if (w->kind == W_TAKE)
                took(s, sh, w); /* before the entry shows this worker as the owner */
            seen_t *e = seen_find(s, sh->id);
            seen_put(s, sh->id, w->mine ? s->worker : NULL, w->expect + 1,
                     w->ckpt ? w->ckpt
                     : e     ? e->ckpt
                             : NULL,
                     NULL, now);
            if (w->kind == W_TAKE)
                continue;
            sh->counter = w->expect + 1;
            if (w->ckpt) {
                s->last_commit_ms = sl__kinsrc_now_ms(); /* /metrics: time since the last commit */
                sl__kinsrc_set_str(&sh->ckpt, w->ckpt);
                if (sh->want && !strcmp(sh->want, w->ckpt)) {
                    sl_free(sh->want);
                    sh->want = NULL;
                }
            }
            if (is_end(w->ckpt) && sh->state == SH_ENDED) {
                sh->state = SH_FINISHED;
                sh->held = 0;
                sl__log(s->proc, "info", "shard %s read and done to its end", sh->id);
                s->next_cycle = 0; /* its children may be taken now */
                s->next_list = 0;
            } else if (w->kind == W_RELEASE) {
                sh->held = 0;
                sh->state = SH_UNLEASED;
                sl__log(s->proc, "info", "released the lease of shard %s at %s", sh->id,
                        sh->ckpt ? sh->ckpt : "its start");
            }
            continue;
        }
        if (w->kind == W_TAKE) {
            if (rc == SL__LEASE_LOST)
                sl__log(s->proc, "info", "lease of shard %s changed before it could be taken",
                        sh->id);
            else
                sl__log(s->proc, "warn", "lease of shard %s not taken: %s", sh->id,
                        sl_strerror(rc));
            continue;
        }
        if (rc == SL__LEASE_LOST) {
            /* The fence: another worker holds it now; what is in flight here
             * is finished but never checkpointed. */
            sl__log(s->proc, "warn",
                    "lease of shard %s lost to another worker: the shard is dropped%s%s%s", sh->id,
                    w->ckpt ? ", checkpoint " : "", w->ckpt ? w->ckpt : "",
                    w->ckpt ? " not written" : "");
            sl__kinsrc_drop(s, sh);
            continue;
        }
        if (s->closed) {
            /* The last write at shutdown: not retried; the records after the
             * stored checkpoint are read again by whoever takes the lease
             * (after the failover time, as it was not released). */
            sl__log(s->proc, "warn",
                    "lease of %s/%s not written at shutdown: %s; records after %s will be read "
                    "again",
                    s->stream, sh->id, sl_strerror(rc), sh->ckpt ? sh->ckpt : "its start");
            sl_free(sh->want);
            sh->want = NULL;
            sh->held = 0;
        } else {
            sl__log(s->proc, "warn", "lease of %s/%s not written: %s; will retry", s->stream,
                    sh->id, sl_strerror(rc));
        }
    }
    size_t ntake = 0;
    int *take = NULL;
    if (j->scan && !status && !j->scan_rc) {
        for (size_t i = 0; i < s->nseen; i++)
            s->seen[i].mark = 0;
        for (size_t i = 0; i < j->nrows; i++) {
            row_t *r = &j->rows[i];
            seen_put(s, r->shard, r->owner, r->counter, r->ckpt, r->parents ? r->parents : "", now);
        }
        for (size_t i = 0; i < s->nshards; i++) {
            shard_t *sh = &s->shards[i];
            seen_t *e = sh->held ? seen_find(s, sh->id) : NULL;
            if (e && e->counter != sh->counter) {
                sl__log(s->proc, "warn",
                        "lease of shard %s taken by %s: the shard is dropped, not checkpointed",
                        sh->id, e->owner ? e->owner : "nobody");
                sl__kinsrc_drop(s, sh);
            }
        }
        take = s->nseen ? sl_calloc(s->nseen, sizeof *take) : NULL;
        if (take)
            ntake = decide(s, now, take);
    } else if (j->scan) {
        sl__log(s->proc, "warn", "leases of %s not read: %s; will retry", s->stream,
                sl_strerror(status ? status : j->scan_rc));
    }
    ljob_free(j);
    if (ntake)
        cycle(s, 0, take);
    sl_free(take);
    if (s->closed)
        sl__kinsrc_ck_flush(s); /* what came meanwhile, and the releases */
    else
        sl__kinsrc_schedule(s);
}

/* Write every pending checkpoint (and whatever else is due) unless a cycle
 * is in flight (its end starts the next at shutdown; while running, the
 * next commit or tick does). */
void sl__kinsrc_ck_flush(kin_src_t *s)
{
    if (s->closed)
        s->releasing = 1;
    cycle(s, 0, NULL);
}

/* Move the shard's checkpoint up to its done watermark. */
void sl__kinsrc_shard_checkpoint(kin_src_t *s, shard_t *sh)
{
    if (!sh->held)
        return;
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
    if (sh->state == SH_ENDED && !sh->fn && !(is_end(sh->ckpt) && !sh->want))
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

/* The periodic part, from the source's timer. */
void sl__kinsrc_lease_tick(kin_src_t *s, int64_t now)
{
    if (!s->closed && now >= s->next_cycle)
        cycle(s, 1, NULL);
}

typedef struct loadctx_s {
    kin_src_t *s;
    int64_t now;
} loadctx_t;

static int seen_add_cb(void *opaque, const sl__lease_t *l)
{
    loadctx_t *c = opaque;
    seen_put(c->s, l->shard, l->owner, l->counter, l->ckpt, l->parents ? l->parents : "", c->now);
    return seen_find(c->s, l->shard) ? 0 : SL_ENOMEM;
}

/* Open the lease store and read the stream's leases, retrying a locked or
 * failing store until kinesis.checkpoints.timeout.ms. Runs at start, before
 * the loop: nothing else is waiting on it yet. */
int sl__kinsrc_ckpt_load(kin_src_t *s)
{
    int64_t start = sl__kinsrc_now_ms(), end = start + s->ckpt_timeout_ms;
    char err[400] = "";
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = s->store.ops ? 0 : sl__lease_open(s->store_spec, &s->store, err, sizeof err);
        if (!rc) {
            sl__kinsrc_seen_clear(s);
            loadctx_t c = {s, sl__kinsrc_now_ms()};
            rc = s->store.ops->list(s->store.st, s->app, s->stream, seen_add_cb, &c);
            if (!rc) {
                if (attempt)
                    sl__log(s->proc, "info", "checkpoints of %s read after %lld ms", s->stream,
                            (long long)(sl__kinsrc_now_ms() - start));
                return 0;
            }
            snprintf(err, sizeof err, "leases at %s: %s", s->store_spec, sl_strerror(rc));
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
    sl__kinsrc_seen_clear(s);
    sl__log(s->proc, "error",
            "cannot read the checkpoints of stream %s (%s); not starting: reading from "
            "kinesis.iterator instead would skip or repeat records",
            s->stream, err);
    return rc;
}
