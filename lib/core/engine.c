/* sluice — the engine: decode, fork, stages, collectors, sinks, retries,
 * faults, watermarks and flow control. No I/O; one thread.
 *
 * Re-entrancy: every public entry point runs between enter() and leave().
 * Acknowledgements (from sinks, synchronous or not) and compacted uows go to
 * a completion queue that leave() drains at the outermost level, so a sink
 * write never nests inside another flush of the same collector. */
#include "core/core.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ENTRY_CHUNK 256
/* Output buffers of a done uow are kept for its next life (no allocation in
 * steady state) unless larger than this, or unless the idle buffers already
 * kept add up to buf_pool_max (inflight.max.bytes). */
#define BUF_KEEP_MAX (64 * 1024)
#define ACK_COMPACTED 1 /* pseudo ack: superseded in a compacting batch */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum { OUT_SUNK, OUT_SKIP, OUT_COMPACTED, OUT_FAULT, OUT_EXPANDED } outcome_t;

static void run(sl_engine_t *e, sl_uow_t *u);
static void fault(sl_engine_t *e, sl_uow_t *u, int err, int stage);
static void finish(sl_engine_t *e, sl_uow_t *u, outcome_t how);

/* ---- clock, random ------------------------------------------------- */

static int64_t mono_ms(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t now(const sl_engine_t *e)
{
    return e->clock.now_ms(e->clock.opaque);
}

static uint64_t rnd(sl_engine_t *e)
{
    /* xorshift64* */
    uint64_t x = e->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rng = x;
    return x * 2685821657736338717ull;
}

/* Capped full-jitter backoff, at least 1 ms so a tick never loops on itself. */
static int64_t backoff(sl_engine_t *e, unsigned attempt)
{
    int64_t cap = e->backoff_base;
    for (unsigned i = 1; i < attempt && cap < e->backoff_max; i++)
        cap *= 2;
    if (cap > e->backoff_max)
        cap = e->backoff_max;
    return 1 + (int64_t)(rnd(e) % (uint64_t)cap);
}

/* ---- re-entrancy ----------------------------------------------------- */

static void process_ack(sl_engine_t *e, sl_uow_t *u, int err);

static inline void enter(sl_engine_t *e)
{
    e->depth++;
}

static void leave(sl_engine_t *e)
{
    if (e->depth == 1) {
        while (e->cq_head) {
            sl_uow_t *u = e->cq_head;
            e->cq_head = u->next;
            if (!e->cq_head)
                e->cq_tail = NULL;
            u->next = NULL;
            u->queued = 0;
            process_ack(e, u, u->pending_err);
        }
    }
    e->depth--;
}

static void enqueue(sl_engine_t *e, sl_uow_t *u, int err)
{
    if (u->queued)
        return; /* a second ack of the same write is a sink bug: ignore it */
    u->queued = 1;
    u->pending_err = err;
    u->next = NULL;
    if (e->cq_tail)
        e->cq_tail->next = u;
    else
        e->cq_head = u;
    e->cq_tail = u;
}

/* ---- pools ----------------------------------------------------------- */

static int entry_chunk(sl_engine_t *e)
{
    if (e->nchunks == e->chunks_cap) {
        size_t cap = e->chunks_cap ? e->chunks_cap * 2 : 16;
        void **nc = sl_realloc(e->chunks, cap * sizeof *nc);
        if (!nc)
            return SL_ENOMEM;
        e->chunks = nc;
        e->chunks_cap = cap;
    }
    char *mem = sl_calloc(ENTRY_CHUNK, e->entry_size);
    if (!mem)
        return SL_ENOMEM;
    e->chunks[e->nchunks++] = mem;
    for (size_t i = ENTRY_CHUNK; i-- > 0;) {
        entry_t *en = (entry_t *)(mem + i * e->entry_size);
        en->eng = e;
        en->next_free = e->free_entries;
        e->free_entries = en;
    }
    return 0;
}

static entry_t *entry_get(sl_engine_t *e)
{
    if (!e->free_entries && entry_chunk(e))
        return NULL;
    entry_t *en = e->free_entries;
    e->free_entries = en->next_free;
    return en;
}

static void entry_put(sl_engine_t *e, entry_t *en)
{
    en->in_use = 0;
    en->next_free = e->free_entries;
    e->free_entries = en;
}

/* Resets a uow for a new life, keeping its buffers and pool links. The
 * buffers it kept from its last life leave the pool and count against the
 * in-flight bytes of its entry until the entry is done.
 * Field by field: a memset of the whole struct costs more on the hot path. */
static inline void uow_init(sl_engine_t *e, sl_uow_t *u, entry_t *en, sl_pipeline_t *p,
                            uint64_t ord)
{
    size_t held = u->buf_cap + u->kbuf_cap;
    e->buf_pooled -= held;
    en->bytes += held;
    e->inflight_bytes += held;
    u->entry = en;
    u->pl = p;
    u->next = NULL;
    u->timer.active = 0;
    u->ord = ord;
    u->stage = 0;
    u->attempts = 0;
    u->state = U_FREE;
    u->has_output = 0;
    u->holding = 0;
    u->fault_stage = 0;
    u->queued = 0;
    u->pending_err = 0;
    u->fault_cap = 0;
    u->fault_min = 0;
    u->key = en->key_u;
    u->out_key_len = u->out_val_len = 0;
    u->out_key_set = 0;
    u->err = 0;
    u->errmsg[0] = 0;
    u->data = NULL;
    u->data_free = NULL;
    u->wait_head = u->wait_tail = NULL;
    u->hnext = NULL;
}

static sl_uow_t *child_get(sl_engine_t *e)
{
    sl_uow_t *u = e->free_children;
    if (u) {
        e->free_children = u->next;
        return u;
    }
    u = sl_calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->is_child = 1;
    u->all_next = e->all_children;
    e->all_children = u;
    return u;
}

/* A uow's life is over: keep its buffers for the next one while they are
 * small and the pool has room, else give them back. */
static inline void buf_park(sl_engine_t *e, sl_uow_t *u)
{
    size_t held = u->buf_cap + u->kbuf_cap;
    if (held > BUF_KEEP_MAX || e->buf_pooled + held > e->buf_pool_max) {
        sl_free(u->buf);
        sl_free(u->kbuf);
        u->buf = u->kbuf = NULL;
        u->buf_cap = u->kbuf_cap = 0;
        return;
    }
    e->buf_pooled += held;
}

static void child_put(sl_engine_t *e, sl_uow_t *u)
{
    buf_park(e, u);
    u->state = U_FREE;
    u->next = e->free_children;
    e->free_children = u;
}

/* ---- partitions and flow control ------------------------------------- */

static uint32_t part_hash(const char *topic, int32_t partition)
{
    return (uint32_t)(sl__hash(topic, strlen(topic)) + (uint32_t)partition * 2654435761u);
}

static part_t *part_find(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t **slot = &e->pcache[(uint32_t)partition & 63];
    part_t *p = *slot;
    if (p && p->partition == partition && !strcmp(p->topic, topic))
        return p;
    for (p = e->parts[part_hash(topic, partition) & e->pmask]; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return *slot = p;
    return NULL;
}

static part_t *part_get(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t *p = part_find(e, topic, partition);
    if (p)
        return p;
    p = sl_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->topic = sl_strdup(topic);
    if (!p->topic || sl__tracker_init(&p->tr, 1024)) {
        sl_free(p->topic);
        sl_free(p);
        return NULL;
    }
    p->partition = partition;
    uint32_t h = part_hash(topic, partition);
    p->next = e->parts[h & e->pmask];
    e->parts[h & e->pmask] = p;
    return e->pcache[(uint32_t)partition & 63] = p;
}

static void flow(sl_engine_t *e, const char *topic, int32_t partition, int pause)
{
    if (e->src.flow)
        e->src.flow(e->src_opaque, topic, partition, pause);
}

static inline void flow_check_pause(sl_engine_t *e, part_t *p)
{
    if (!e->paused_all &&
        (e->inflight >= e->inflight_max || e->inflight_bytes >= e->inflight_bytes_max)) {
        e->paused_all = 1;
        flow(e, NULL, SL_PARTITION_ALL, 1);
    }
    if (p && !p->paused && p->inflight >= e->part_inflight_max) {
        p->paused = 1;
        flow(e, p->topic, p->partition, 1);
    }
}

static void flow_check_resume(sl_engine_t *e, part_t *p)
{
    if (p && p->paused && p->inflight * 100 <= e->part_inflight_max * e->resume_pct) {
        p->paused = 0;
        flow(e, p->topic, p->partition, 0);
    }
    if (e->paused_all && !e->fault_blocked &&
        e->inflight * 100 <= e->inflight_max * e->resume_pct &&
        e->inflight_bytes * 100 <= e->inflight_bytes_max * e->resume_pct) {
        e->paused_all = 0;
        flow(e, NULL, SL_PARTITION_ALL, 0);
    }
}

/* ---- record completion ------------------------------------------------ */

static void entry_done(sl_engine_t *e, entry_t *en)
{
    part_t *p = en->part;
    sl__tracker_done(&p->tr, en->tseq);
    p->inflight--;
    e->inflight--;
    e->inflight_bytes -= en->bytes;
    e->stats.records_done++;
    if (en->body) {
        json_decref(en->body);
        en->body = NULL;
    }
    const sl_record_t *rec = en->rec;
    en->rec = NULL;
    entry_put(e, en);
    if (e->src.release)
        e->src.release(e->src_opaque, rec, 1);
    flow_check_resume(e, p);
}

static inline void entry_unref(sl_engine_t *e, entry_t *en)
{
    if (--en->pending == 0)
        entry_done(e, en);
}

/* ---- the key gate: per-key order under retries ------------------------ */

static inline int key_eq(sl_span_t a, sl_span_t b)
{
    return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

static sl_uow_t **gate_slot(sl_pipeline_t *p, sl_span_t key)
{
    sl_uow_t **pp = &p->held[sl__hash(key.ptr, key.len) & p->hmask];
    while (*pp && !key_eq((*pp)->key, key))
        pp = &(*pp)->hnext;
    return pp;
}

/* Insert @p w into holder @p h's wait list, keeping arrival order. */
static void wait_insert(sl_uow_t *h, sl_uow_t *w, uow_state_t st)
{
    w->state = (uint8_t)st;
    sl_uow_t **pp = &h->wait_head;
    if (h->wait_tail && h->wait_tail->ord <= w->ord) {
        pp = &h->wait_tail->next;
    } else {
        while (*pp && (*pp)->ord <= w->ord)
            pp = &(*pp)->next;
    }
    w->next = *pp;
    *pp = w;
    if (!w->next)
        h->wait_tail = w;
}

/* Returns 1 when @p u must wait behind the holder of its key. */
static int gate_blocks(sl_pipeline_t *p, sl_uow_t *u)
{
    sl_uow_t *h = *gate_slot(p, u->key);
    if (!h || h == u)
        return 0;
    wait_insert(h, u, U_HELD);
    return 1;
}

/* Make @p u hold its key. Returns 0 if it holds it, 1 if it was queued
 * behind an earlier holder instead. */
static int gate_hold(sl_pipeline_t *p, sl_uow_t *u)
{
    if (u->holding)
        return 0;
    sl_uow_t **pp = gate_slot(p, u->key);
    sl_uow_t *h = *pp;
    if (h && h->ord < u->ord) {
        wait_insert(h, u, U_HELD);
        return 1;
    }
    u->holding = 1;
    u->hnext = NULL;
    if (h) {
        /* u arrived first but retried after a later uow of its key: take over
         * the key; the later holder waits behind u if it is only waiting. */
        u->hnext = h->hnext;
        *pp = u;
        h->holding = 0;
        h->hnext = NULL;
        sl_uow_t *w = h->wait_head;
        h->wait_head = h->wait_tail = NULL;
        if (h->state == U_RETRY_WAIT) {
            sl__timer_stop(&p->eng->timers, &h->timer);
            wait_insert(u, h, U_HELD);
        }
        while (w) {
            sl_uow_t *nx = w->next;
            wait_insert(u, w, (uow_state_t)w->state);
            w = nx;
        }
    } else {
        *pp = u;
        p->nheld++;
    }
    return 0;
}

static void gate_release(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *h)
{
    sl_uow_t **pp = gate_slot(p, h->key);
    if (*pp == h) {
        *pp = h->hnext;
        p->nheld--;
    }
    h->holding = 0;
    h->hnext = NULL;
    sl_uow_t *w = h->wait_head;
    h->wait_head = h->wait_tail = NULL;
    while (w) {
        sl_uow_t *nx = w->next;
        w->next = NULL;
        sl_uow_t *nh = *gate_slot(p, w->key);
        if (nh) {
            /* A released waiter retried and holds the key again: the rest wait for it. */
            while (w) {
                nx = w->next;
                wait_insert(nh, w, U_HELD);
                w = nx;
            }
            break;
        }
        run(e, w);
        w = nx;
    }
}

/* ---- retries ---------------------------------------------------------- */

static void retry_fire(sl__timer_t *t, void *ctx)
{
    sl_engine_t *e = ctx;
    sl_uow_t *u = container_of(t, sl_uow_t, timer);
    run(e, u);
}

static void coll_extract_key(sl_pipeline_t *p, sl_uow_t *h);

static void retry(sl_engine_t *e, sl_uow_t *u, int err, int stage)
{
    sl_pipeline_t *p = u->pl;
    u->attempts++;
    p->stats.retries++;
    e->stats.retries++;
    if (u->attempts > e->retry_max) {
        char msg[SL__ERRMSG_MAX + 1];
        snprintf(msg, sizeof msg, "retry limit (%u) reached; last error %s: %.150s", e->retry_max,
                 sl_err_name(err), u->errmsg[0] ? u->errmsg : sl_strerror(err));
        memcpy(u->errmsg, msg, sizeof msg);
        fault(e, u, SL_ERETRIES, stage);
        return;
    }
    u->err = err;
    if (gate_hold(p, u))
        return; /* re-runs when the earlier holder of its key is done */
    if (u->stage == p->nstages)
        coll_extract_key(p, u);
    u->state = U_RETRY_WAIT;
    sl__timer_start(&e->timers, &u->timer, now(e) + backoff(e, u->attempts), retry_fire);
}

/* ---- faults ----------------------------------------------------------- */

static void fault_write(sl_engine_t *e, sl_uow_t *u);

static void fault_fire(sl__timer_t *t, void *ctx)
{
    sl_engine_t *e = ctx;
    sl_uow_t *u = container_of(t, sl_uow_t, timer);
    if (!u->has_output && sl__fault_build(e, u)) {
        sl__timer_start(&e->timers, &u->timer, now(e) + backoff(e, 3), fault_fire);
        return;
    }
    fault_write(e, u);
}

static void fault_write(sl_engine_t *e, sl_uow_t *u)
{
    u->state = U_AT_FAULT_SINK;
    sl_uow_t *one[1] = {u};
    int rc = e->fault_sink->ops.write(e->fault_sink->opaque, one, 1);
    if (rc)
        enqueue(e, u, rc);
}

static void fault(sl_engine_t *e, sl_uow_t *u, int err, int stage)
{
    u->err = err;
    u->fault_stage = (uint8_t)stage;
    if (sl__fault_build(e, u)) {
        /* Out of memory building the event: try again later, never drop. */
        u->state = U_FAULT_WAIT;
        sl__timer_start(&e->timers, &u->timer, now(e) + backoff(e, 3), fault_fire);
        return;
    }
    fault_write(e, u);
}

/* The fault sink failed. A permanent refusal is not retried as is while
 * the event can still be made smaller: refused as too large, it is built
 * again within half the refused size; refused otherwise (e.g. a key the sink
 * cannot take), as the minimal fault (see fault.c). Each step shrinks it, so
 * the number of attempts is bounded. Any other failure, or a refusal of a
 * fault that cannot shrink further, keeps retrying with backoff and holds
 * intake while it lasts: a fault is never dropped. */
static void fault_sink_failed(sl_engine_t *e, sl_uow_t *u, int err)
{
    if (!sl_err_is_retriable(err) && err != SL_ESHUTDOWN && u->fault_min != 2 &&
        (err == SL_ETOOBIG || !u->fault_min)) {
        if (err == SL_ETOOBIG) {
            size_t refused = u->has_output ? u->out_key_len + u->out_val_len : 0;
            u->fault_cap = refused / 2 ? refused / 2 : 1;
        } else {
            u->fault_min = 1;
        }
        u->has_output = 0;
        u->state = U_FAULT_WAIT;
        fault_fire(&u->timer, e);
        return;
    }
    u->state = U_FAULT_WAIT;
    if (!(u->fault_stage & 0x80)) {
        u->fault_stage |= 0x80; /* counted in fault_blocked */
        if (e->fault_blocked++ == 0 && !e->paused_all) {
            e->paused_all = 1;
            flow(e, NULL, SL_PARTITION_ALL, 1);
        }
    }
    e->stats.retries++;
    sl__timer_start(&e->timers, &u->timer, now(e) + backoff(e, 4), fault_fire);
}

/* ---- collectors -------------------------------------------------------- */

static inline size_t out_size(const sl_uow_t *u)
{
    if (u->has_output)
        return u->out_key_len + u->out_val_len;
    const sl_record_t *r = u->entry->rec;
    return r->key_len + r->value_len;
}

static void sink_write(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t **arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        arr[i]->state = U_AT_SINK;
    p->stats.batches++;
    e->stats.batches++;
    int rc = p->sink->ops.write(p->sink->opaque, arr, n);
    if (rc) {
        if (rc > 0)
            rc = SL_ESINK;
        for (size_t i = 0; i < n; i++)
            enqueue(e, arr[i], rc);
    }
}

/* Slot of @p key in the collector's table for this generation. */
static uint32_t coll_slot(coll_t *c, sl_uow_t **items, sl_span_t key, int *found)
{
    uint32_t h = (uint32_t)sl__hash(key.ptr, key.len) & c->tmask;
    while (c->slot_gen[h] == c->gen) {
        if (key_eq(items[c->slot_idx[h]]->key, key)) {
            *found = 1;
            return h;
        }
        h = (h + 1) & c->tmask;
    }
    *found = 0;
    return h;
}

static void coll_flush(sl_engine_t *e, sl_pipeline_t *p)
{
    coll_t *c = &p->coll;
    size_t n = c->n;
    if (!n)
        return;
    sl__timer_stop(&e->timers, &c->timer);
    sl_uow_t **arr = c->items;
    c->items = c->out;
    c->out = arr;
    c->n = 0;
    c->bytes = 0;

    if (c->kind == COLL_BATCH || n == 1) {
        sink_write(e, p, arr, n);
        return;
    }
    if (++c->gen == 0) {
        memset(c->slot_gen, 0, (c->tmask + 1) * sizeof *c->slot_gen);
        c->gen = 1;
    }
    if (c->kind == COLL_COMPACT) {
        /* Last uow of each key survives; order of survivors is kept. */
        for (size_t i = 0; i < n; i++) {
            int found;
            uint32_t s = coll_slot(c, arr, arr[i]->key, &found);
            c->slot_gen[s] = c->gen;
            c->slot_idx[s] = (uint32_t)i;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            int found;
            uint32_t s = coll_slot(c, arr, arr[i]->key, &found);
            if (c->slot_idx[s] == i)
                c->sorted[k++] = arr[i];
            else
                enqueue(e, arr[i], ACK_COMPACTED);
        }
        sink_write(e, p, c->sorted, k);
        return;
    }
    /* COLL_GROUP: stable counting sort by first appearance of each key. */
    uint32_t ngroups = 0;
    for (size_t i = 0; i < n; i++) {
        int found;
        uint32_t s = coll_slot(c, arr, arr[i]->key, &found);
        if (!found) {
            c->slot_gen[s] = c->gen;
            c->slot_idx[s] = (uint32_t)i;
            c->gcount[ngroups] = 0;
            c->gid[i] = ngroups++;
        } else {
            c->gid[i] = c->gid[c->slot_idx[s]];
        }
        c->gcount[c->gid[i]]++;
    }
    uint32_t start = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        uint32_t cnt = c->gcount[g];
        c->gcount[g] = start;
        start += cnt;
    }
    for (size_t i = 0; i < n; i++)
        c->sorted[c->gcount[c->gid[i]]++] = arr[i];
    size_t b = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || !key_eq(c->sorted[i]->key, c->sorted[b]->key)) {
            sink_write(e, p, c->sorted + b, i - b);
            b = i;
        }
    }
}

static void linger_fire(sl__timer_t *t, void *ctx)
{
    coll_t *c = container_of(t, coll_t, timer);
    coll_flush(ctx, c->pl);
}

static void coll_add(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *u)
{
    coll_t *c = &p->coll;
    size_t size = out_size(u);
    if (size > c->max_record) {
        char msg[SL__ERRMSG_MAX + 1];
        snprintf(msg, sizeof msg, "event of %zu bytes exceeds the limit of %zu for sink %s", size,
                 c->max_record, p->sink->ops.name ? p->sink->ops.name : "-");
        sl_uow_fail(u, SL_ETOOBIG, msg);
        fault(e, u, SL_ETOOBIG, FS_BATCH);
        return;
    }
    if (c->n && c->bytes + size > c->max_bytes)
        coll_flush(e, p);
    c->items[c->n++] = u;
    c->bytes += size;
    u->state = U_IN_BATCH;
    if (c->n >= c->max_events) {
        coll_flush(e, p);
        return;
    }
    if (c->n == 1)
        sl__timer_start(&e->timers, &c->timer, now(e) + c->linger, linger_fire);
}

/* Pull later uows of @p h's key out of the open batch so they wait behind it. */
static void coll_extract_key(sl_pipeline_t *p, sl_uow_t *h)
{
    coll_t *c = &p->coll;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        sl_uow_t *w = c->items[i];
        if (w != h && key_eq(w->key, h->key)) {
            c->bytes -= out_size(w);
            wait_insert(h, w, U_HELD);
        } else {
            c->items[k++] = w;
        }
    }
    c->n = k;
    if (!k)
        sl__timer_stop(&p->eng->timers, &c->timer);
}

/* ---- stages ------------------------------------------------------------ */

/* Type names are short: an inline loop beats a call to memcmp. */
static inline int bytes_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static int types_match(const stage_t *s, sl_span_t t)
{
    for (size_t i = 0; i < s->u.types.count; i++) {
        size_t n = s->u.types.lens[i];
        if (s->u.types.match == SL_MATCH_EXACT ? t.len == n : t.len >= n)
            if (bytes_eq(t.ptr, s->u.types.names[i], n))
                return 1;
    }
    return 0;
}

static void rl_refill(stage_t *s, int64_t t)
{
    if (s->u.rl.last_ms == INT64_MIN)
        s->u.rl.last_ms = t;
    if (t > s->u.rl.last_ms) {
        s->u.rl.tokens += (double)(t - s->u.rl.last_ms) * s->u.rl.rate / 1000.0;
        if (s->u.rl.tokens > s->u.rl.burst)
            s->u.rl.tokens = s->u.rl.burst;
        s->u.rl.last_ms = t;
    }
}

static void rl_fire(sl__timer_t *t, void *ctx);

static void rl_arm(sl_engine_t *e, stage_t *s)
{
    double need = 1.0 - s->u.rl.tokens;
    double wait = need * 1000.0 / s->u.rl.rate;
    int64_t ms = (int64_t)wait;
    if ((double)ms < wait)
        ms++;
    sl__timer_start(&e->timers, &s->u.rl.timer, now(e) + (ms > 0 ? ms : 1), rl_fire);
}

static void rl_fire(sl__timer_t *t, void *ctx)
{
    sl_engine_t *e = ctx;
    stage_t *s = container_of(t, stage_t, u.rl.timer);
    rl_refill(s, now(e));
    while (s->u.rl.head && s->u.rl.tokens >= 1.0) {
        sl_uow_t *u = s->u.rl.head;
        s->u.rl.head = u->next;
        if (!s->u.rl.head)
            s->u.rl.tail = NULL;
        u->next = NULL;
        s->u.rl.tokens -= 1.0;
        u->stage++;
        run(e, u);
    }
    if (s->u.rl.head)
        rl_arm(e, s);
}

/* Returns 1 if @p u may pass now, else queues it. */
static int rl_admit(sl_engine_t *e, stage_t *s, sl_uow_t *u)
{
    rl_refill(s, now(e));
    if (!s->u.rl.head && s->u.rl.tokens >= 1.0) {
        s->u.rl.tokens -= 1.0;
        return 1;
    }
    u->state = U_RATE_WAIT;
    u->next = NULL;
    if (s->u.rl.tail)
        s->u.rl.tail->next = u;
    else
        s->u.rl.head = u;
    s->u.rl.tail = u;
    if (!s->u.rl.timer.active)
        rl_arm(e, s);
    return 0;
}

static int kbuf_reserve(sl_uow_t *u, size_t need);

struct sl_emitter_s {
    sl_engine_t *e;
    sl_uow_t *parent;
    sl_uow_t *head, *tail;
    uint32_t count;
};

int sl_emit(sl_emitter_t *em, const void *key, size_t key_len, const void *value, size_t value_len)
{
    if (!em || (!value && value_len) || (!key && key_len))
        return SL_EINVAL;
    if (em->count >= 0xffff)
        return SL_ERANGE;
    sl_uow_t *par = em->parent;
    sl_uow_t *c = child_get(em->e);
    if (!c)
        return SL_ENOMEM;
    uow_init(em->e, c, par->entry, par->pl, par->ord | (em->count + 1));
    c->stage = par->stage + 1;
    /* The ordering key must outlive the parent and stay put whatever output
     * later stages set: an emitted key, or a key the parent holds in its own
     * buffers (a child's), is copied into the child's key buffer. A record's
     * key lives as long as its entry and is shared. */
    sl_span_t k = key ? (sl_span_t){key, key_len} : par->key;
    if (key || par->is_child) {
        if (kbuf_reserve(c, k.len)) {
            child_put(em->e, c);
            return SL_ENOMEM;
        }
        if (k.len)
            memcpy(c->kbuf, k.ptr, k.len);
        k.ptr = c->kbuf ? c->kbuf : "";
    }
    c->key = k;
    if (sl_uow_set_output(c, key, key_len, value, value_len)) {
        child_put(em->e, c);
        return SL_ENOMEM;
    }
    c->next = NULL;
    if (em->tail)
        em->tail->next = c;
    else
        em->head = c;
    em->tail = c;
    em->count++;
    return 0;
}

static void flat_map(sl_engine_t *e, stage_t *s, sl_uow_t *u)
{
    sl_emitter_t em = {e, u, NULL, NULL, 0};
    sl_result_t r = s->u.f.flat(u, &em, s->u.f.opaque);
    if (r == SL_OK && em.count) {
        /* Children hold memory as records do: they count against the
         * engine's and the partition's record bounds until each is done. */
        part_t *pt = u->entry->part;
        u->entry->pending += em.count;
        pt->inflight += em.count;
        e->inflight += em.count;
        flow_check_pause(e, pt);
        u->pl->stats.records_in += em.count;
        u->pl->stats.inflight += em.count;
        for (sl_uow_t *c = em.head; c;) {
            sl_uow_t *nx = c->next;
            c->next = NULL;
            run(e, c);
            c = nx;
        }
        finish(e, u, OUT_EXPANDED);
        return;
    }
    for (sl_uow_t *c = em.head; c;) {
        sl_uow_t *nx = c->next;
        child_put(e, c);
        c = nx;
    }
    if (r == SL_OK || r == SL_SKIP)
        finish(e, u, OUT_SKIP);
    else if (r == SL_RETRY)
        retry(e, u, u->err ? u->err : SL_EAGAIN, FS_FLAT_MAP);
    else
        fault(e, u, u->err ? u->err : SL_ESTAGE, FS_FLAT_MAP);
}

static const uint8_t kind_fs[] = {
    [ST_FILTER] = FS_FILTER,     [ST_TYPES] = FS_TYPES, [ST_MAP] = FS_MAP,
    [ST_FLAT_MAP] = FS_FLAT_MAP, [ST_TAP] = FS_TAP,     [ST_RATE_LIMIT] = FS_RATE_LIMIT,
};

/* Runs @p u from its current stage until it waits, is done, or reaches the collector. */
static void run(sl_engine_t *e, sl_uow_t *u)
{
    sl_pipeline_t *p = u->pl;
    u->state = U_RUNNING;
    while (u->stage < p->nstages) {
        if (p->nheld && gate_blocks(p, u))
            return;
        stage_t *s = &p->stages[u->stage];
        sl_result_t r;
        u->err = 0;
        u->errmsg[0] = 0;
        switch (s->kind) {
        case ST_TYPES:
            r = types_match(s, u->entry->type_u) ? SL_OK : SL_SKIP;
            break;
        case ST_FILTER:
        case ST_MAP:
            r = s->u.f.fn(u, s->u.f.opaque);
            break;
        case ST_TAP:
            r = s->u.f.fn(u, s->u.f.opaque);
            if (r == SL_SKIP)
                r = SL_OK;
            break;
        case ST_FLAT_MAP:
            flat_map(e, s, u);
            return;
        case ST_RATE_LIMIT:
            if (!rl_admit(e, s, u))
                return;
            r = SL_OK;
            break;
        default:
            r = SL_FAULT;
        }
        switch (r) {
        case SL_OK:
            u->stage++;
            break;
        case SL_SKIP:
            finish(e, u, OUT_SKIP);
            return;
        case SL_RETRY:
            retry(e, u, u->err ? u->err : SL_EAGAIN, kind_fs[s->kind]);
            return;
        case SL_FAULT:
            fault(e, u, u->err ? u->err : SL_ESTAGE, kind_fs[s->kind]);
            return;
        default:
            sl_uow_fail(u, SL_EINVAL, "stage returned an unknown result");
            fault(e, u, SL_EINVAL, kind_fs[s->kind]);
            return;
        }
    }
    if (p->nheld && gate_blocks(p, u))
        return;
    coll_add(e, p, u);
}

/* ---- completion ----------------------------------------------------------- */

static void finish(sl_engine_t *e, sl_uow_t *u, outcome_t how)
{
    sl_pipeline_t *p = u->pl;
    if (p) {
        switch (how) {
        case OUT_SUNK:
            p->stats.sunk++;
            e->stats.sunk++;
            break;
        case OUT_SKIP:
            p->stats.skipped++;
            e->stats.skipped++;
            break;
        case OUT_COMPACTED:
            p->stats.compacted++;
            e->stats.compacted++;
            break;
        case OUT_FAULT:
            p->stats.faults++;
            break;
        case OUT_EXPANDED:
            break;
        }
        p->stats.inflight--;
        if (u->holding)
            gate_release(e, p, u);
    }
    if (how == OUT_FAULT)
        e->stats.faults++;
    if (u->data_free)
        u->data_free(u->data);
    u->data = NULL;
    u->data_free = NULL;
    u->state = U_FREE;
    entry_t *en = u->entry;
    if (!u->is_child) {
        buf_park(e, u);
        entry_unref(e, en);
        return;
    }
    part_t *pt = en->part;
    pt->inflight--;
    e->inflight--;
    child_put(e, u);
    entry_unref(e, en);
    flow_check_resume(e, pt);
}

/* Per-key order across sink failures: a uow written after an earlier uow
 * of its key, acknowledged after that one failed and went to retry, has
 * overtaken it. Its success is turned into a re-send behind the earlier one
 * (a duplicate, never a reordering), without counting as a retry of its own.
 * Sinks acknowledge a key's uows in write order (Kafka delivery reports come
 * in partition order; a batch call reports in array order). */
static int overtakes(sl_engine_t *e, sl_uow_t *u)
{
    sl_pipeline_t *p = u->pl;
    if (!p->nheld || u->holding)
        return 0;
    sl_uow_t *h = *gate_slot(p, u->key);
    if (!h || h->ord > u->ord)
        return 0;
    snprintf(u->errmsg, sizeof u->errmsg,
             "written again after an earlier event of its key that failed");
    u->err = SL_EAGAIN;
    u->stage = (uint32_t)p->nstages;
    p->stats.retries++;
    e->stats.retries++;
    if (!gate_hold(p, u))
        run(e, u); /* not reached: h is earlier, so u waits behind it */
    return 1;
}

/* The sink (or the fault sink) says it cannot work at all: writing it again
 * or turning its events into faults would drain the whole stream into
 * faults. The uow stays where it is, never done, so the watermark of its
 * partition never passes it and it is read again by the next run; intake
 * stops for good (the runtime fails the processor). */
static void sink_down(sl_engine_t *e, sl_uow_t *u)
{
    entry_t *en = u->entry;
    if (!en->stuck) {
        en->stuck = 1;
        e->stuck++;
    }
    if (e->fault_blocked++ == 0 && !e->paused_all) {
        e->paused_all = 1;
        flow(e, NULL, SL_PARTITION_ALL, 1);
    }
}

size_t sl__engine_stuck(const sl_engine_t *e)
{
    return e ? e->stuck : 0;
}

static void process_ack(sl_engine_t *e, sl_uow_t *u, int err)
{
    if (err == SL_ESINKDOWN) {
        sink_down(e, u);
        return;
    }
    if (err == ACK_COMPACTED) {
        finish(e, u, OUT_COMPACTED);
        return;
    }
    if (u->state == U_AT_SINK) {
        if (!err && overtakes(e, u))
            return;
        if (!err)
            finish(e, u, OUT_SUNK);
        else if (sl_err_is_retriable(err)) {
            u->stage = (uint32_t)u->pl->nstages;
            retry(e, u, err, FS_SINK);
        } else
            fault(e, u, err, FS_SINK);
    } else if (u->state == U_AT_FAULT_SINK) {
        if (!err) {
            if (u->fault_stage & 0x80) {
                u->fault_stage &= 0x7f;
                e->fault_blocked--;
            }
            finish(e, u, OUT_FAULT);
            flow_check_resume(e, NULL);
        } else {
            fault_sink_failed(e, u, err);
        }
    }
}

void sl_uow_ack(sl_uow_t *u, int err)
{
    if (!u || (u->state != U_AT_SINK && u->state != U_AT_FAULT_SINK))
        return;
    sl_engine_t *e = u->entry->eng;
    if (!err && u->state == U_AT_SINK && !u->holding && !u->queued && !u->pl->nheld) {
        /* The common case needs no deferral: finishing it starts no other
         * work (no key waiters), so it cannot re-enter a collector. */
        finish(e, u, OUT_SUNK);
        return;
    }
    enqueue(e, u, err > 0 ? SL_ESINK : err);
    if (e->depth == 0) {
        enter(e);
        leave(e);
    }
}

/* ---- decode and push ------------------------------------------------------ */

static int scratch_reserve(entry_t *en, size_t need)
{
    if (en->scratch_cap >= need)
        return 0;
    char *s = sl_realloc(en->scratch, need);
    if (!s)
        return SL_ENOMEM;
    en->scratch = s;
    en->scratch_cap = need;
    return 0;
}

static int content_is_json(const sl_record_t *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        const sl_header_t *h = &r->headers[i];
        if (!strcmp(h->name, "content-type") || !strcmp(h->name, "ce_datacontenttype")) {
            const char *v = h->value;
            for (size_t k = 0; k + 4 <= h->value_len; k++)
                if (!memcmp(v + k, "json", 4))
                    return 1;
            return 0;
        }
    }
    return 1;
}

/* Reads the envelope of @p r into @p env. Returns 0 or a decode error, with a
 * message in @p msg. */
static int scan_record(const sl_engine_t *e, const sl_record_t *r, sl_envelope_t *env, char *msg)
{
    if (r->value_len > e->record_max) {
        snprintf(msg, SL__ERRMSG_MAX + 1,
                 "record value of %zu bytes exceeds record.max.bytes (%zu)", r->value_len,
                 e->record_max);
        return SL_ETOOBIG;
    }
    sl_scan_error_t se = {0, NULL};
    int rc = 0;
    if (e->json_only) {
        memset(env, 0, sizeof *env);
        env->type = (sl_span_t){"", 0};
        if (r->value_len) /* an empty value is a tombstone, skipped by push() */
            rc = sl_json_validate(r->value, r->value_len, &se);
    } else if (r->header_count) {
        rc = sl_envelope_from_headers(r->headers, r->header_count, env);
    }
    if (e->json_only) {
        /* validated above */
    } else if (rc == 1) {
        rc = 0;
        if (r->value_len && content_is_json(r))
            rc = sl_json_validate(r->value, r->value_len, &se);
    } else if (rc == 0) {
        rc = sl_envelope_scan(r->value ? r->value : "", r->value_len, env, &se);
    } else {
        se.reason = "bad CloudEvents header";
    }
    if (rc) {
        if (se.reason)
            snprintf(msg, SL__ERRMSG_MAX + 1, "%s at byte %zu: %s", sl_strerror(rc), se.offset,
                     se.reason);
        else
            snprintf(msg, SL__ERRMSG_MAX + 1, "%s", sl_strerror(rc));
    }
    return rc;
}

/* Sets the entry's type and key from its envelope, unescaping into the
 * entry's scratch buffer when needed. Returns 0, SL_ENOMEM, or a decode
 * error with a message. */
static int entry_keys(entry_t *en, char *msg)
{
    const sl_record_t *r = en->rec;
    en->type_u = en->env.type;
    if (en->env.flags & SL_ENV_PKEY)
        en->key_u = en->env.partition_key;
    else
        en->key_u = (sl_span_t){r->key, r->key ? r->key_len : 0};
    if (!(en->env.flags & (SL_ENV_TYPE_ESC | SL_ENV_PKEY_ESC)))
        return 0;
    size_t need = en->env.type.len + en->env.partition_key.len;
    if (scratch_reserve(en, need ? need : 1))
        return SL_ENOMEM;
    size_t off = 0, n;
    if (en->env.flags & SL_ENV_TYPE_ESC) {
        if (sl_span_unescape(en->env.type, en->scratch, en->scratch_cap, &n)) {
            snprintf(msg, SL__ERRMSG_MAX + 1, "type holds a bad escape");
            return SL_ENOTYPE;
        }
        en->type_u = (sl_span_t){en->scratch, n};
        off = n;
    }
    if ((en->env.flags & SL_ENV_PKEY_ESC) && (en->env.flags & SL_ENV_PKEY)) {
        if (sl_span_unescape(en->env.partition_key, en->scratch + off, en->scratch_cap - off, &n)) {
            snprintf(msg, SL__ERRMSG_MAX + 1, "partitionKey holds a bad escape");
            return SL_EFIELD;
        }
        en->key_u = (sl_span_t){en->scratch + off, n};
    }
    return 0;
}

/* Bit i set when pipeline i's leading type filter lets @p type through. */
static uint64_t pass_mask(const sl_engine_t *e, sl_span_t type)
{
    uint64_t m = 0;
    for (size_t i = 0; i < e->npl; i++)
        if (types_match(&e->pls[i]->stages[0], type))
            m |= 1ull << i;
    return m;
}

/* @p ferr: the source's own verdict (a fault without decoding), or 0. */
static int push(sl_engine_t *e, const sl_record_t *rec, const sl_envelope_t *given, int ferr,
                const char *fmsg)
{
    if (!e || !rec || !rec->topic)
        return SL_EINVAL;
    if (!e->started)
        return SL_ESTATE;
    part_t *part = part_get(e, rec->topic, rec->partition);
    if (!part)
        return SL_ENOMEM;
    if (rec->offset < 0 || rec->offset <= part->tr.last_pushed)
        return SL_EINVAL;
    char msg[SL__ERRMSG_MAX + 1];
    msg[0] = 0;
    sl_envelope_t local;
    const sl_envelope_t *env = given;
    int derr = 0;
    if (ferr) {
        derr = ferr;
        snprintf(msg, sizeof msg, "%s", fmsg ? fmsg : sl_strerror(ferr));
        env = &local;
    } else if (!given) {
        derr = scan_record(e, rec, &local, msg);
        env = &local;
    } else if (rec->value_len > e->record_max) {
        derr = scan_record(e, rec, &local, msg);
    }
    /* When every pipeline starts with a type filter, route on the envelope
     * before building anything: a record no pipeline wants is done on arrival.
     * With source.format=json, an empty value is a Kafka tombstone (Debezium
     * writes one after each delete): no change, skipped and counted. */
    uint64_t mask = ~0ull;
    int masked = !derr && e->skip_fast && !(env->flags & SL_ENV_TYPE_ESC);
    int tombstone = !derr && e->json_only && rec->value_len == 0;
    if (masked || tombstone) {
        mask = tombstone ? 0 : pass_mask(e, env->type);
        if (!mask) {
            if (sl__tracker_push_done(&part->tr, rec->offset))
                return SL_ENOMEM;
            e->stats.records_in++;
            e->stats.records_done++;
            e->stats.skipped += e->npl;
            for (size_t i = 0; i < e->npl; i++) {
                e->pls[i]->stats.records_in++;
                e->pls[i]->stats.skipped++;
            }
            if (e->src.release)
                e->src.release(e->src_opaque, rec, 1);
            return 0;
        }
    }
    entry_t *en = entry_get(e);
    if (!en)
        return SL_ENOMEM;
    en->rec = rec;
    en->decoded = !derr;
    en->key_u = (sl_span_t){rec->key, rec->key ? rec->key_len : 0};
    en->type_u = (sl_span_t){"", 0};
    if (!derr) {
        en->env = *env;
        derr = entry_keys(en, msg);
        if (derr == SL_ENOMEM)
            goto oom;
        if (derr)
            en->decoded = 0;
    }
    if (sl__tracker_push(&part->tr, rec->offset, &en->tseq))
        goto oom;
    enter(e);
    en->in_use = 1;
    en->stuck = 0;
    en->part = part;
    en->seq = ++e->seq;
    en->body = NULL;
    en->body_tried = 0;
    en->children = 0;
    part->inflight++;
    e->inflight++;
    en->bytes = rec->value_len;
    e->inflight_bytes += rec->value_len;
    e->stats.records_in++;
    uint64_t ord = en->seq << 16;
    if (derr) {
        en->pending = 1;
        sl_uow_t *u = &en->uows[0];
        uow_init(e, u, en, NULL, ord);
        e->stats.decode_faults++;
        memcpy(u->errmsg, msg, sizeof msg);
        fault(e, u, derr, FS_DECODE);
    } else {
        en->pending = 1; /* keeps the entry alive during the fork */
        for (size_t i = 0; i < e->npl; i++)
            en->pending += (uint32_t)((mask >> i) & 1);
        for (size_t i = 0; i < e->npl; i++) {
            sl_pipeline_t *p = e->pls[i];
            p->stats.records_in++;
            if (!((mask >> i) & 1)) {
                p->stats.skipped++;
                e->stats.skipped++;
                continue;
            }
            sl_uow_t *u = &en->uows[i];
            uow_init(e, u, en, p, ord);
            u->stage = masked ? 1 : 0; /* its type filter already passed */
            p->stats.inflight++;
            run(e, u);
        }
        entry_unref(e, en);
    }
    flow_check_pause(e, part);
    leave(e);
    return 0;
oom:
    en->rec = NULL;
    entry_put(e, en);
    return SL_ENOMEM;
}

int sl_engine_push(sl_engine_t *e, const sl_record_t *rec)
{
    return push(e, rec, NULL, 0, NULL);
}

int sl_engine_push_decoded(sl_engine_t *e, const sl_record_t *rec, const sl_envelope_t *env)
{
    if (!env || !env->type.len)
        return SL_EINVAL;
    return push(e, rec, env, 0, NULL);
}

int sl_engine_push_fault(sl_engine_t *e, const sl_record_t *rec, int err, const char *message)
{
    return push(e, rec, NULL, err < 0 ? err : SL_EFIELD, message);
}

int sl_engine_set_executor(sl_engine_t *e, const sl_executor_t *ex)
{
    if (!e || !ex || !ex->submit)
        return SL_EINVAL;
    if (e->started)
        return SL_ESTATE;
    e->exec = *ex;
    return 0;
}

int sl_engine_submit(sl_engine_t *e, const sl_job_t *job)
{
    if (!e || !job || !job->work || !job->done)
        return SL_EINVAL;
    if (e->exec.submit)
        return e->exec.submit(e->exec.opaque, job);
    job->work(job->arg);
    job->done(job->arg, 0);
    return 0;
}

/* ---- uow accessors ------------------------------------------------------------ */

const sl_record_t *sl_uow_record(const sl_uow_t *u)
{
    return u->entry->rec;
}

const sl_envelope_t *sl_uow_envelope(const sl_uow_t *u)
{
    return &u->entry->env;
}

sl_span_t sl_uow_type(const sl_uow_t *u)
{
    return u->entry->type_u;
}

sl_span_t sl_uow_key(const sl_uow_t *u)
{
    return u->key;
}

const char *sl_uow_pipeline(const sl_uow_t *u)
{
    return u->pl ? u->pl->name : "-";
}

unsigned sl_uow_attempts(const sl_uow_t *u)
{
    return u->attempts;
}

json_t *sl_uow_body(sl_uow_t *u)
{
    entry_t *en = u->entry;
    if (en->body)
        return en->body;
    if (!en->decoded || (en->env.flags & SL_ENV_BINARY && !content_is_json(en->rec)))
        return NULL;
    const sl_record_t *r = en->rec;
    en->body = json_loadb(r->value ? r->value : "", r->value_len, 0, NULL);
    return en->body;
}

static size_t cap_for(size_t have, size_t need)
{
    size_t cap = have ? have : 256;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* Grows @p u's output buffer to @p need bytes, keeping its content. The
 * growth counts against the in-flight bytes of the uow's entry. */
static int buf_reserve(sl_uow_t *u, size_t need)
{
    if (u->buf_cap >= need)
        return 0;
    size_t cap = cap_for(u->buf_cap, need);
    char *b = sl_realloc(u->buf, cap);
    if (!b)
        return SL_ENOMEM;
    u->entry->bytes += cap - u->buf_cap;
    u->entry->eng->inflight_bytes += cap - u->buf_cap;
    u->buf = b;
    u->buf_cap = cap;
    return 0;
}

/* The same for a child's key buffer. */
static int kbuf_reserve(sl_uow_t *u, size_t need)
{
    if (u->kbuf_cap >= need)
        return 0;
    size_t cap = 32;
    while (cap < need)
        cap *= 2;
    char *b = sl_realloc(u->kbuf, cap);
    if (!b)
        return SL_ENOMEM;
    u->entry->bytes += cap - u->kbuf_cap;
    u->entry->eng->inflight_bytes += cap - u->kbuf_cap;
    u->kbuf = b;
    u->kbuf_cap = cap;
    return 0;
}

/* Whether [p, p+n) lies in @p u's output buffer: a stage may pass what
 * sl_uow_output() gave it back to sl_uow_set_output*(). */
static inline int in_buf(const sl_uow_t *u, const void *p, size_t n)
{
    return n && (uintptr_t)p - (uintptr_t)u->buf < u->buf_cap;
}

/* sl_uow_set_output() when the buffer must grow or a source lies in it;
 * kept out of line so the common case stays a short leaf. */
__attribute__((noinline)) static int set_output_slow(sl_uow_t *u, const void *key, size_t key_len,
                                                     const void *value, size_t value_len, int ka,
                                                     int va)
{
    size_t need = key_len + value_len;
    if (ka && va) {
        /* Both from the buffer, in any order or overlap: build a new one. */
        size_t cap = cap_for(u->buf_cap, need);
        char *b = sl_malloc(cap);
        if (!b)
            return SL_ENOMEM;
        memcpy(b, key, key_len);
        memcpy(b + key_len, value, value_len);
        /* the running uow's whole buffer counts for its entry: swap it */
        u->entry->bytes = u->entry->bytes - u->buf_cap + cap;
        u->entry->eng->inflight_bytes = u->entry->eng->inflight_bytes - u->buf_cap + cap;
        sl_free(u->buf);
        u->buf = b;
        u->buf_cap = cap;
    } else {
        /* One source at most lies in the buffer: remember where, since
         * growing it may move it; move that one into place first, with
         * memmove, then copy the other, which cannot overlap. */
        size_t off = ka   ? (size_t)((const char *)key - u->buf)
                     : va ? (size_t)((const char *)value - u->buf)
                          : 0;
        if (buf_reserve(u, need))
            return SL_ENOMEM;
        if (va) {
            memmove(u->buf + key_len, u->buf + off, value_len);
            if (key_len)
                memcpy(u->buf, key, key_len);
        } else {
            if (key_len)
                memmove(u->buf, ka ? u->buf + off : key, key_len);
            if (value_len)
                memcpy(u->buf + key_len, value, value_len);
        }
    }
    return 0;
}

int sl_uow_set_output(sl_uow_t *u, const void *key, size_t key_len, const void *value,
                      size_t value_len)
{
    if (!u || (!value && value_len) || (!key && key_len))
        return SL_EINVAL;
    if (!key)
        key_len = 0;
    int ka = in_buf(u, key, key_len), va = in_buf(u, value, value_len);
    if (ka | va | (key_len + value_len > u->buf_cap)) {
        int rc = set_output_slow(u, key, key_len, value, value_len, ka, va);
        if (rc)
            return rc;
    } else {
        if (key_len)
            memcpy(u->buf, key, key_len);
        if (value_len)
            memcpy(u->buf + key_len, value, value_len);
    }
    u->out_key_len = key_len;
    u->out_val_len = value_len;
    u->out_key_set = key != NULL;
    u->has_output = 1;
    return 0;
}

int sl_uow_set_output_json(sl_uow_t *u, const void *key, size_t key_len, const json_t *value)
{
    if (!u || !value || (!key && key_len))
        return SL_EINVAL;
    if (!key)
        key_len = 0;
    /* A key in the buffer is moved to its start before the value is written
     * after it; growing the buffer may move it, so keep its offset. */
    int ka = in_buf(u, key, key_len);
    size_t koff = ka ? (size_t)((const char *)key - u->buf) : 0;
    if (buf_reserve(u, key_len + 64))
        return SL_ENOMEM;
    if (key_len)
        memmove(u->buf, ka ? u->buf + koff : key, key_len);
    size_t n =
        json_dumpb(value, u->buf + key_len, u->buf_cap - key_len, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0)
        return SL_EINVAL;
    if (n > u->buf_cap - key_len) {
        if (buf_reserve(u, key_len + n))
            return SL_ENOMEM;
        n = json_dumpb(value, u->buf + key_len, u->buf_cap - key_len,
                       JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0)
            return SL_EINVAL;
    }
    u->out_key_len = key_len;
    u->out_val_len = n;
    u->out_key_set = key != NULL;
    u->has_output = 1;
    return 0;
}

void sl_uow_output(const sl_uow_t *u, sl_span_t *key, sl_span_t *value)
{
    const sl_record_t *r = u->entry->rec;
    if (u->has_output) {
        if (key)
            *key = u->out_key_set ? (sl_span_t){u->buf, u->out_key_len}
                                  : (sl_span_t){r->key, r->key ? r->key_len : 0};
        if (value)
            *value = (sl_span_t){u->buf + u->out_key_len, u->out_val_len};
    } else {
        if (key)
            *key = (sl_span_t){r->key, r->key ? r->key_len : 0};
        if (value)
            *value = (sl_span_t){r->value, r->value ? r->value_len : 0};
    }
}

void sl_uow_fail(sl_uow_t *u, int err, const char *message)
{
    /* A fault event's uow keeps the error it reports: the fault sink's own
     * reason would otherwise replace it when the event is built again. */
    if (!u || u->state == U_AT_FAULT_SINK)
        return;
    u->err = err < 0 ? err : SL_ESTAGE;
    if (message) {
        size_t n = strlen(message);
        if (n > SL__ERRMSG_MAX)
            n = SL__ERRMSG_MAX;
        memcpy(u->errmsg, message, n);
        u->errmsg[n] = 0;
    }
}

void sl_uow_set_data(sl_uow_t *u, void *data, void (*free_fn)(void *))
{
    if (u->data_free && u->data != data)
        u->data_free(u->data);
    u->data = data;
    u->data_free = free_fn;
}

void *sl_uow_data(const sl_uow_t *u)
{
    return u->data;
}

/* ---- engine lifecycle ----------------------------------------------------------- */

sl_engine_t *sl_engine_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
    sl_engine_t *e = sl_calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->conf = conf ? sl_conf_dup(conf) : sl_conf_new();
    if (!e->conf)
        goto oom;
    e->pmask = 63;
    e->parts = sl_calloc(e->pmask + 1, sizeof *e->parts);
    if (!e->parts)
        goto oom;
    e->clock.now_ms = mono_ms;
    sl__timers_init(&e->timers);
    return e;
oom:
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory");
    sl_engine_destroy(e);
    return NULL;
}

int sl_engine_set_clock(sl_engine_t *e, const sl_clock_t *clock)
{
    if (!e || !clock || !clock->now_ms)
        return SL_EINVAL;
    if (e->started)
        return SL_ESTATE;
    e->clock = *clock;
    return 0;
}

int sl_engine_set_source(sl_engine_t *e, const sl_source_ops_t *ops, void *opaque)
{
    if (!e || !ops)
        return SL_EINVAL;
    if (e->started)
        return SL_ESTATE;
    e->src = *ops;
    e->src_opaque = opaque;
    return 0;
}

int sl_engine_add_pipeline(sl_engine_t *e, sl_pipeline_t *p)
{
    if (!e || !p || !p->sink)
        return SL_EINVAL;
    if (e->started || p->eng)
        return SL_ESTATE;
    for (size_t i = 0; i < e->npl; i++)
        if (!strcmp(e->pls[i]->name, p->name))
            return SL_EEXIST;
    sl_pipeline_t **np = sl_realloc(e->pls, (e->npl + 1) * sizeof *np);
    if (!np)
        return SL_ENOMEM;
    e->pls = np;
    p->index = e->npl;
    p->eng = e;
    e->pls[e->npl++] = p;
    return 0;
}

int sl_engine_set_fault_sink(sl_engine_t *e, sl_sink_t *sink)
{
    if (!e || !sink)
        return SL_EINVAL;
    if (e->started)
        return SL_ESTATE;
    e->fault_sink = sink;
    return 0;
}

static size_t min_nz(size_t a, size_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

static uint32_t pow2_at_least(size_t n)
{
    uint32_t v = 16;
    while (v < n && v < (1u << 30))
        v <<= 1;
    return v;
}

static int prepare_pipeline(sl_engine_t *e, sl_pipeline_t *p)
{
    coll_t *c = &p->coll;
    const sl_sink_ops_t *so = &p->sink->ops;
    c->pl = p;
    if (c->configured) {
        c->max_events = c->opts.max_events ? c->opts.max_events
                                           : (size_t)sl_conf_get_int(e->conf, "batch.max.events");
        c->max_bytes = c->opts.max_bytes ? c->opts.max_bytes
                                         : (size_t)sl_conf_get_int(e->conf, "batch.max.bytes");
        c->linger = c->opts.linger_ms >= 0 ? c->opts.linger_ms
                                           : sl_conf_get_int(e->conf, "batch.linger.ms");
    } else {
        c->kind = COLL_BATCH;
        c->max_events = 1;
        c->max_bytes = SIZE_MAX;
        c->linger = 0;
    }
    c->max_events = min_nz(c->max_events, so->max_events);
    c->max_bytes = min_nz(c->max_bytes, so->max_bytes);
    c->max_record = min_nz(so->max_record_bytes, c->max_bytes);
    c->items = sl_calloc(c->max_events, sizeof *c->items);
    c->out = sl_calloc(c->max_events, sizeof *c->out);
    if (!c->items || !c->out)
        return SL_ENOMEM;
    if (c->kind != COLL_BATCH) {
        uint32_t ts = pow2_at_least(c->max_events * 2);
        c->tmask = ts - 1;
        c->slot_gen = sl_calloc(ts, sizeof *c->slot_gen);
        c->slot_idx = sl_calloc(ts, sizeof *c->slot_idx);
        c->gid = sl_calloc(c->max_events, sizeof *c->gid);
        c->gcount = sl_calloc(c->max_events, sizeof *c->gcount);
        c->sorted = sl_calloc(c->max_events, sizeof *c->sorted);
        if (!c->slot_gen || !c->slot_idx || !c->gid || !c->gcount || !c->sorted)
            return SL_ENOMEM;
    }
    uint32_t hs = pow2_at_least(e->inflight_max < 65536 ? e->inflight_max : 65536);
    p->hmask = hs - 1;
    p->held = sl_calloc(hs, sizeof *p->held);
    if (!p->held)
        return SL_ENOMEM;
    for (size_t i = 0; i < p->nstages; i++)
        if (p->stages[i].kind == ST_RATE_LIMIT)
            p->stages[i].u.rl.pl = p;
    return 0;
}

int sl_engine_start(sl_engine_t *e, char *errstr, size_t errstr_size)
{
    const char *why = NULL;
    int rc = SL_EINVAL;
    if (!e)
        return SL_EINVAL;
    if (e->started) {
        why = "engine already started";
        rc = SL_ESTATE;
        goto fail;
    }
    if (!e->npl) {
        why = "no pipeline added";
        goto fail;
    }
    if (!e->fault_sink) {
        why = "no fault sink set";
        goto fail;
    }
    const sl_conf_t *c = e->conf;
    e->name = sl_conf_get_str(c, "processor.name");
    e->record_max = (size_t)sl_conf_get_int(c, "record.max.bytes");
    const char *fmt = sl_conf_get_str(c, "source.format");
    if (!strcmp(fmt, "json")) {
        e->json_only = 1;
    } else if (strcmp(fmt, "event")) {
        rc = SL_EINVAL;
        why = "source.format must be \"event\" or \"json\"";
        goto fail;
    }
    e->fault_value_max = (size_t)sl_conf_get_int(c, "fault.value.max.bytes");
    /* A fault event is one record of the fault sink: it must fit its hard
     * limits, and fault.max.bytes when set. */
    e->fault_max =
        min_nz((size_t)sl_conf_get_int(c, "fault.max.bytes"),
               min_nz(e->fault_sink->ops.max_record_bytes, e->fault_sink->ops.max_bytes));
    e->retry_max = (unsigned)sl_conf_get_int(c, "retry.max");
    e->backoff_base = sl_conf_get_int(c, "retry.backoff.ms");
    e->backoff_max = sl_conf_get_int(c, "retry.backoff.max.ms");
    e->inflight_max = (size_t)sl_conf_get_int(c, "inflight.max.records");
    e->inflight_bytes_max = (size_t)sl_conf_get_int(c, "inflight.max.bytes");
    /* Idle uows keep at most as many buffer bytes as may be in flight: the
     * most a steady state at the bound can reuse without allocating. */
    e->buf_pool_max = e->inflight_bytes_max;
    e->part_inflight_max = (size_t)sl_conf_get_int(c, "inflight.partition.max.records");
    e->resume_pct = (unsigned)sl_conf_get_int(c, "inflight.resume.pct");
    int64_t seed = sl_conf_get_int(c, "random.seed");
    e->rng = seed ? (uint64_t)seed : (uint64_t)mono_ms(NULL) ^ (uint64_t)(uintptr_t)e;
    if (!e->rng)
        e->rng = 88172645463325252ull;
    e->entry_size = (sizeof(entry_t) + e->npl * sizeof(sl_uow_t) + 15) & ~(size_t)15;
    e->skip_fast = e->npl <= 64 && !e->json_only;
    for (size_t i = 0; i < e->npl; i++)
        if (!e->pls[i]->nstages || e->pls[i]->stages[0].kind != ST_TYPES)
            e->skip_fast = 0;
    rc = SL_ENOMEM;
    why = "out of memory";
    for (size_t i = 0; i < e->npl; i++)
        if (prepare_pipeline(e, e->pls[i]))
            goto fail;
    if (entry_chunk(e))
        goto fail;
    e->started = 1;
    return 0;
fail:
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", why);
    return rc;
}

void sl_engine_destroy(sl_engine_t *e)
{
    if (!e)
        return;
    /* Release what is still in flight; its records go back to the source undone. */
    for (size_t k = 0; k < e->nchunks; k++) {
        char *mem = e->chunks[k];
        for (size_t i = 0; i < ENTRY_CHUNK; i++) {
            entry_t *en = (entry_t *)(mem + i * e->entry_size);
            if (en->in_use) {
                for (size_t j = 0; j < e->npl; j++)
                    if (en->uows[j].state != U_FREE && en->uows[j].data_free)
                        en->uows[j].data_free(en->uows[j].data);
                if (en->body)
                    json_decref(en->body);
                if (e->src.release)
                    e->src.release(e->src_opaque, en->rec, 0);
            }
            for (size_t j = 0; j < e->npl; j++)
                sl_free(en->uows[j].buf);
            sl_free(en->scratch);
        }
        sl_free(mem);
    }
    sl_free(e->chunks);
    for (sl_uow_t *u = e->all_children; u;) {
        sl_uow_t *nx = u->all_next;
        if (u->state != U_FREE && u->data_free)
            u->data_free(u->data);
        sl_free(u->buf);
        sl_free(u->kbuf);
        sl_free(u);
        u = nx;
    }
    for (size_t i = 0; i < e->npl; i++)
        sl_pipeline_destroy(e->pls[i]);
    sl_free(e->pls);
    if (e->parts) {
        for (uint32_t i = 0; i <= e->pmask; i++) {
            for (part_t *p = e->parts[i]; p;) {
                part_t *nx = p->next;
                sl__tracker_fini(&p->tr);
                sl_free(p->topic);
                sl_free(p);
                p = nx;
            }
        }
        sl_free(e->parts);
    }
    sl_conf_destroy(e->conf);
    sl_free(e);
}

void sl_engine_tick(sl_engine_t *e)
{
    if (!e || !e->started)
        return;
    enter(e);
    int64_t t = now(e);
    sl__timer_t *tm;
    while ((tm = sl__timers_pop_due(&e->timers, t)))
        tm->cb(tm, e);
    leave(e);
}

int64_t sl_engine_next_timeout(sl_engine_t *e)
{
    sl__timer_t *t = e ? sl__timers_peek(&e->timers) : NULL;
    if (!t)
        return -1;
    int64_t d = t->due - now(e);
    return d > 0 ? d : 0;
}

int sl_engine_flush(sl_engine_t *e)
{
    if (!e || !e->started)
        return SL_ESTATE;
    enter(e);
    for (size_t i = 0; i < e->npl; i++)
        coll_flush(e, e->pls[i]);
    leave(e);
    return 0;
}

int64_t sl_engine_watermark(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t *p = e && topic ? part_find(e, topic, partition) : NULL;
    return p ? p->tr.watermark : -1;
}

int sl_engine_forget_partition(sl_engine_t *e, const char *topic, int32_t partition)
{
    if (!e || !topic)
        return SL_EINVAL;
    part_t *p = part_find(e, topic, partition);
    if (!p)
        return SL_ENOENT;
    if (p->inflight)
        return SL_EAGAIN;
    part_t **pp = &e->parts[part_hash(topic, partition) & e->pmask];
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    if (e->pcache[(uint32_t)partition & 63] == p)
        e->pcache[(uint32_t)partition & 63] = NULL;
    sl__tracker_fini(&p->tr);
    sl_free(p->topic);
    sl_free(p);
    return 0;
}

size_t sl_engine_inflight(const sl_engine_t *e)
{
    return e ? e->inflight : 0;
}

size_t sl_engine_partition_inflight(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t *p = e && topic ? part_find(e, topic, partition) : NULL;
    return p ? p->inflight : 0;
}

void sl_engine_stats(const sl_engine_t *e, sl_stats_t *out)
{
    *out = e->stats;
    out->inflight = e->inflight;
    out->inflight_bytes = e->inflight_bytes;
}

int sl_engine_pipeline_stats(const sl_engine_t *e, const char *name, sl_stats_t *out)
{
    for (size_t i = 0; e && name && i < e->npl; i++) {
        if (!strcmp(e->pls[i]->name, name)) {
            *out = e->pls[i]->stats;
            return 0;
        }
    }
    return SL_ENOENT;
}

const sl_conf_t *sl_engine_conf(const sl_engine_t *e)
{
    return e->conf;
}

int64_t sl_engine_now(const sl_engine_t *e)
{
    return now(e);
}
