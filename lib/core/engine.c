/* sluice — the engine's hot path: decode and push, fork, stages, run,
 * collecting, completion, acks, watermarks and flow control (the rest is in
 * engine_*.c: see engine_int.h). No I/O; one thread.
 *
 * Re-entrancy: every public entry point runs between enter() and leave().
 * Acknowledgements (from sinks, synchronous or not) and compacted uows go to
 * a completion queue that leave() drains at the outermost level, so a sink
 * write never nests inside another flush of the same collector. */
#include "core/engine_int.h"
#include "core/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void coll_add(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *u);

/* ---- clock, random ------------------------------------------------- */

int64_t sl__mono_ms(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
int64_t sl__backoff(sl_engine_t *e, unsigned attempt)
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

void sl__leave(sl_engine_t *e)
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

void sl__enqueue(sl_engine_t *e, sl_uow_t *u, int err)
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

int sl__entry_chunk(sl_engine_t *e)
{
    if (sl__grow(&e->chunks, &e->chunks_cap, e->nchunks + 1, sizeof *e->chunks, 16))
        return SL_ENOMEM;
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
    if (!e->free_entries && sl__entry_chunk(e))
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

sl_uow_t *sl__child_get(sl_engine_t *e)
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
    /* Output headers are rare (faults, resubmits): never kept. Their bytes
     * leave with the entry's. */
    if (u->out_hdrs) {
        sl_free(u->out_hdrs);
        u->out_hdrs = NULL;
        u->hbuf_cap = u->out_nhdrs = 0;
    }
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

void sl__child_put(sl_engine_t *e, sl_uow_t *u)
{
    buf_park(e, u);
    u->state = U_FREE;
    u->next = e->free_children;
    e->free_children = u;
}

/* ---- partitions and flow control ------------------------------------- */

uint32_t sl__part_hash(const char *topic, int32_t partition)
{
    return (uint32_t)(sl__hash(topic, strlen(topic)) + (uint32_t)partition * 2654435761u);
}

part_t *sl__part_find(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t **slot = &e->pcache[(uint32_t)partition & 63];
    part_t *p = *slot;
    if (p && p->partition == partition && !strcmp(p->topic, topic))
        return p;
    for (p = e->parts[sl__part_hash(topic, partition) & e->pmask]; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return *slot = p;
    return NULL;
}

static part_t *part_get(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t *p = sl__part_find(e, topic, partition);
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
    p->self = p;
    uint32_t h = sl__part_hash(topic, partition);
    p->next = e->parts[h & e->pmask];
    e->parts[h & e->pmask] = p;
    return e->pcache[(uint32_t)partition & 63] = p;
}

void sl__flow(sl_engine_t *e, const char *topic, int32_t partition, int pause)
{
    if (e->src.flow)
        e->src.flow(e->src_opaque, topic, partition, pause);
}

static void flow_check_resume(sl_engine_t *e, part_t *p)
{
    if (p && p->paused && p->inflight * 100 <= e->part_inflight_max * e->part_resume_pct) {
        p->paused = 0;
        sl__flow(e, p->topic, p->partition, 0);
    }
    if (e->paused_all && !e->fault_blocked &&
        e->inflight * 100 <= e->inflight_max * e->resume_pct &&
        e->inflight_bytes * 100 <= e->inflight_bytes_max * e->resume_pct) {
        e->paused_all = 0;
        sl__flow(e, NULL, SL_PARTITION_ALL, 0);
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

static const uint8_t kind_fs[] = {
    [ST_FILTER] = FS_FILTER,     [ST_TYPES] = FS_TYPES, [ST_MAP] = FS_MAP,
    [ST_FLAT_MAP] = FS_FLAT_MAP, [ST_TAP] = FS_TAP,     [ST_RATE_LIMIT] = FS_RATE_LIMIT,
};

/* Runs @p u from its current stage until it waits, is done, or reaches the collector. */
void sl__run(sl_engine_t *e, sl_uow_t *u)
{
    sl_pipeline_t *p = u->pl;
    /* Partition and key order: a uow holds its partition or key from its
     * first stage to its acknowledgement; the next one waits here. */
    if ((p->order == SL_ORDER_PARTITION || p->order == SL_ORDER_KEY) && !u->holding &&
        sl__gate_hold(p, u))
        return;
    u->state = U_RUNNING;
    while (u->stage < p->nstages) {
        if (p->nheld && sl__gate_blocks(p, u))
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
            sl__flat_map(e, s, u);
            return;
        case ST_RATE_LIMIT:
            if (!sl__rl_admit(e, s, u))
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
            sl__finish(e, u, OUT_SKIP);
            return;
        case SL_RETRY:
            sl__retry(e, u, u->err ? u->err : SL_EAGAIN, kind_fs[s->kind]);
            return;
        case SL_FAULT:
            sl__fault(e, u, u->err ? u->err : SL_ESTAGE, kind_fs[s->kind]);
            return;
        default:
            sl_uow_fail(u, SL_EINVAL, "stage returned an unknown result");
            sl__fault(e, u, SL_EINVAL, kind_fs[s->kind]);
            return;
        }
    }
    if (p->nheld && sl__gate_blocks(p, u))
        return;
    coll_add(e, p, u);
}

/* ---- collecting (the rest is in engine_collect.c) ---------------------------- */

/* Adds a done uow to its pipeline's open batch (on the hot path: kept here). */
static void coll_add(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *u)
{
    coll_t *c = &p->coll;
    size_t size = out_size(u);
    if (size > c->max_record) {
        char msg[SL__ERRMSG_MAX + 1];
        snprintf(msg, sizeof msg, "event of %zu bytes exceeds the limit of %zu for sink %s", size,
                 c->max_record, p->sink->ops.name ? p->sink->ops.name : "-");
        sl_uow_fail(u, SL_ETOOBIG, msg);
        sl__fault(e, u, SL_ETOOBIG, FS_BATCH);
        return;
    }
    if (c->n && c->bytes + size > c->max_bytes) {
        c->why = SL__CLOSE_BYTES;
        sl__coll_flush(e, p);
    }
    c->items[c->n++] = u;
    c->bytes += size;
    u->state = U_IN_BATCH;
    if (c->n >= c->max_events) {
        c->why = SL__CLOSE_COUNT;
        sl__coll_flush(e, p);
        return;
    }
    if (c->n == 1)
        sl__timer_start(&e->timers, &c->timer, now(e) + c->linger, sl__linger_fire);
}

/* ---- completion ----------------------------------------------------------- */

void sl__finish(sl_engine_t *e, sl_uow_t *u, outcome_t how)
{
    sl_pipeline_t *p = u->pl;
    if (p) {
        switch (how) {
        case OUT_SUNK:
            p->stats.sunk++;
            e->stats.sunk++;
            if (u->sink_first)
                sl__sink_latency(e, p, u);
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
            p->ops.faults_by_err[sl__err_slot(u->err)]++;
            break;
        case OUT_EXPANDED:
            break;
        }
        p->stats.inflight--;
        if (u->holding)
            sl__gate_release(e, p, u);
    }
    if (how == OUT_FAULT) {
        e->stats.faults++;
        e->faults_by_err[sl__err_slot(u->err)]++;
    }
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
    sl__child_put(e, u);
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
    if (!p->nheld || u->holding || p->order == SL_ORDER_UNORDERED)
        return 0;
    sl_uow_t *h = *sl__gate_slot(p, sl__gate_key(p, u));
    if (!h || h->ord > u->ord)
        return 0;
    snprintf(u->errmsg, sizeof u->errmsg,
             "written again after an earlier event of its key that failed");
    u->err = SL_EAGAIN;
    u->stage = (uint32_t)p->nstages;
    p->stats.retries++;
    e->stats.retries++;
    if (!sl__gate_hold(p, u))
        sl__run(e, u); /* not reached: h is earlier, so u waits behind it */
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
        sl__flow(e, NULL, SL_PARTITION_ALL, 1);
    }
}

size_t sl__engine_stuck(const sl_engine_t *e)
{
    return e ? e->stuck : 0;
}

int64_t sl__engine_first_in_ms(const sl_engine_t *e)
{
    return e ? e->first_in_ms : 0;
}

static void process_ack(sl_engine_t *e, sl_uow_t *u, int err)
{
    if (err == SL_ESINKDOWN) {
        sink_down(e, u);
        return;
    }
    if (err == ACK_COMPACTED) {
        sl__finish(e, u, OUT_COMPACTED);
        return;
    }
    if (u->state == U_AT_SINK) {
        if (!err && overtakes(e, u))
            return;
        if (!err)
            sl__finish(e, u, OUT_SUNK);
        else if (sl_err_is_retriable(err)) {
            u->stage = (uint32_t)u->pl->nstages;
            sl__retry(e, u, err, FS_SINK);
        } else
            sl__fault(e, u, err, FS_SINK);
    } else if (u->state == U_AT_FAULT_SINK) {
        if (!err) {
            if (u->fault_stage & 0x80) {
                u->fault_stage &= 0x7f;
                e->fault_blocked--;
            }
            sl__finish(e, u, OUT_FAULT);
            flow_check_resume(e, NULL);
        } else {
            sl__fault_sink_failed(e, u, err);
        }
    }
}

void sl__uow_prefetch(const sl_uow_t *u, int depth)
{
#if defined(__GNUC__)
    if (!u)
        return;
    if (depth == 0)
        __builtin_prefetch(u, 1, 3);
    else if (depth == 1)
        __builtin_prefetch(u->entry, 1, 3);
    else if (u->entry)
        __builtin_prefetch(u->entry->rec, 0, 3);
#else
    (void)u;
    (void)depth;
#endif
}

void sl_uow_ack(sl_uow_t *u, int err)
{
    if (!u || (u->state != U_AT_SINK && u->state != U_AT_FAULT_SINK))
        return;
    sl_engine_t *e = u->entry->eng;
    if (!err && u->state == U_AT_SINK && !u->holding && !u->queued && !u->pl->nheld) {
        /* The common case needs no deferral: finishing it starts no other
         * work (no key waiters), so it cannot re-enter a collector. */
        sl__finish(e, u, OUT_SUNK);
        return;
    }
    sl__enqueue(e, u, err > 0 ? SL_ESINK : err);
    if (e->depth == 0) {
        enter(e);
        sl__leave(e);
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

int sl__content_is_json(const sl_record_t *r)
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
 * message in @p msg; @p *json set when the whole value was validated as JSON
 * (jansson's verdict), so that a stage need not do it again. */
static int scan_record(const sl_engine_t *e, const sl_record_t *r, sl_envelope_t *env, char *msg,
                       int *json, sl__scan_hits_t *hits)
{
    *json = 0;
    hits->known = 0;
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
        if (r->value_len) { /* an empty value is a tombstone, skipped by push() */
            rc = e->json_check ? e->json_check->fn(e->json_check->opaque, r, &se)
                               : sl_json_validate(r->value, r->value_len, &se);
            *json = !rc;
        }
    } else if (r->header_count) {
        rc = sl_envelope_from_headers(r->headers, r->header_count, env);
    }
    if (e->json_only) {
        /* validated above */
    } else if (rc == 1) {
        rc = 0;
        if (r->value_len && sl__content_is_json(r)) {
            rc = sl_json_validate(r->value, r->value_len, &se);
            *json = !rc;
        }
    } else if (rc == 0) {
        rc = e->ptrs.n ? sl__envelope_scan_ptrs(r->value ? r->value : "", r->value_len, env, &se,
                                                &e->ptrs, hits)
                       : sl_envelope_scan(r->value ? r->value : "", r->value_len, env, &se);
        *json = !rc; /* the scan validates the whole value */
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

/* A resubmitted record (sluice-faults resubmit) names the one pipeline that
 * is to process it again: the others handled it the first time. Returns the
 * index of that pipeline, ROUTE_NONE when no pipeline has the name (every
 * pipeline skips it), ROUTE_ALL without the header. The last such header
 * wins. */
#define ROUTE_ALL ((size_t)-1)
#define ROUTE_NONE ((size_t)-2)
static size_t resubmit_route(const sl_engine_t *e, const sl_record_t *rec)
{
    for (size_t i = rec->header_count; i-- > 0;) {
        const sl_header_t *h = &rec->headers[i];
        if (!h->name || strcmp(h->name, SL__RESUBMIT_PIPELINE))
            continue;
        size_t n = h->value ? h->value_len : 0;
        for (size_t j = 0; j < e->npl; j++) {
            const char *pn = e->pls[j]->name;
            if (strlen(pn) == n && !memcmp(pn, h->value, n))
                return j;
        }
        return ROUTE_NONE;
    }
    return ROUTE_ALL;
}

/* Whether pipeline @p i takes the record: its bit of the type mask (with
 * more than 64 pipelines there is no type mask, only all or none) and the
 * resubmit route. */
static inline int wants(uint64_t mask, size_t route, size_t i)
{
    int typed = i < 64 ? (int)((mask >> i) & 1) : mask != 0;
    return typed && (route == ROUTE_ALL || route == i);
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
    sl__scan_hits_t hits;
    const sl_envelope_t *env = given;
    int derr = 0, json = 0;
    hits.known = 0;
    if (ferr) {
        derr = ferr;
        snprintf(msg, sizeof msg, "%s", fmsg ? fmsg : sl_strerror(ferr));
        env = &local;
    } else if (!given) {
        derr = scan_record(e, rec, &local, msg, &json, &hits);
        env = &local;
    } else if (rec->value_len > e->record_max) {
        derr = scan_record(e, rec, &local, msg, &json, &hits);
    }
    /* When every pipeline starts with a type filter, route on the envelope
     * before building anything: a record no pipeline wants is done on arrival.
     * With source.format=json, an empty value is a Kafka tombstone (Debezium
     * writes one after each delete): no change, skipped and counted. */
    uint64_t mask = ~0ull;
    int masked = !derr && e->skip_fast && !(env->flags & SL_ENV_TYPE_ESC);
    int tombstone = !derr && e->json_only && rec->value_len == 0;
    size_t route = !derr && rec->header_count ? resubmit_route(e, rec) : ROUTE_ALL;
    if (!e->stats.records_in)
        e->first_in_ms = now(e);
    if (masked || tombstone || route == ROUTE_NONE) {
        mask = tombstone || route == ROUTE_NONE ? 0 : pass_mask(e, env->type);
        if (!mask) {
            if (sl__tracker_push_done(&part->tr, rec->offset))
                return SL_ENOMEM;
            part->in_skipped++;
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
    en->value_json = !derr && json;
    en->hits.known = 0;
    if (hits.known && !derr)
        en->hits = hits;
    en->key_u = (sl_span_t){rec->key, rec->key ? rec->key_len : 0};
    en->type_u = (sl_span_t){"", 0};
    if (!derr) {
        en->env = *env;
        derr = entry_keys(en, msg);
        if (derr == SL_ENOMEM)
            goto oom;
        if (derr)
            en->decoded = en->value_json = 0;
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
        sl__fault(e, u, derr, FS_DECODE);
    } else {
        en->pending = 1; /* keeps the entry alive during the fork */
        for (size_t i = 0; i < e->npl; i++)
            en->pending += (uint32_t)(wants(mask, route, i));
        for (size_t i = 0; i < e->npl; i++) {
            sl_pipeline_t *p = e->pls[i];
            p->stats.records_in++;
            if (!wants(mask, route, i)) {
                p->stats.skipped++;
                e->stats.skipped++;
                continue;
            }
            sl_uow_t *u = &en->uows[i];
            uow_init(e, u, en, p, ord);
            u->stage = masked ? 1 : 0; /* its type filter already passed */
            p->stats.inflight++;
            sl__run(e, u);
        }
        entry_unref(e, en);
    }
    flow_check_pause(e, part);
    sl__leave(e);
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
