/* sluice — the engine's lifecycle (new, start, destroy), executor, stats and
 * configuration. */
#include "core/conf_int.h"
#include "core/engine_int.h"
#include "core/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    e->clock.now_ms = sl__mono_ms;
    sl__timers_init(&e->timers);
    return e;
oom:
    sl__errf(errstr, errstr_size, "out of memory");
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
    if (!p)
        return SL_EINVAL;
    if (!e)
        return sl__pipeline_fail(p, SL_EINVAL, "cannot add it: no engine (NULL)");
    if (!p->sink)
        return sl__pipeline_fail(p, SL_EINVAL,
                                 "has no sink: call sl_pipeline_sink() before adding it");
    if (p->eng)
        return sl__pipeline_fail(p, SL_ESTATE, "is already added to an engine");
    if (e->started)
        return sl__pipeline_fail(p, SL_ESTATE,
                                 "cannot add it: the engine has started (add pipelines before "
                                 "running)");
    for (size_t i = 0; i < e->npl; i++)
        if (!strcmp(e->pls[i]->name, p->name))
            return sl__pipeline_fail(p, SL_EEXIST,
                                     "cannot add it: a pipeline of that name is already added "
                                     "(names must be unique: they tag faults and stats)");
    sl_pipeline_t **np = sl_realloc(e->pls, (e->npl + 1) * sizeof *np);
    if (!np)
        return sl__pipeline_fail(p, SL_ENOMEM, "out of memory adding it");
    e->pls = np;
    p->index = e->npl;
    p->eng = e;
    e->pls[e->npl++] = p;
    for (size_t i = 0; i < p->nwant; i++)
        p->want_slot[i] = (int8_t)sl__scan_ptrs_add(&e->ptrs, &p->want[i]);
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
    /* Who consumed, for fault tags: the Kinesis application when one is
     * set (its property exists only in a build with Kinesis), else the
     * Kafka consumer group. */
    e->group = sl_conf_get_str(c, "kinesis.application");
    if (!e->group || !*e->group)
        e->group = sl_conf_get_str_pt(c, "kafka.group.id");
    if (e->group && !*e->group)
        e->group = NULL;
    e->record_max = (size_t)sl_conf_get_int(c, "record.max.bytes");
    const char *fmt = sl_conf_get_str(c, "source.format");
    if (!strcmp(fmt, "json")) {
        e->json_only = 1;
    } else if (strcmp(fmt, "event")) {
        rc = SL_EINVAL;
        why = "source.format must be \"event\" or \"json\"";
        goto fail;
    }
    static const char *const orders[] = {"sink", "partition", "key", "unordered"};
    const char *ord = sl_conf_get_str(c, "pipeline.ordering");
    size_t oi = 0;
    while (oi < 4 && strcmp(ord, orders[oi]))
        oi++;
    if (oi == 4) {
        rc = SL_EINVAL;
        why = "pipeline.ordering must be \"sink\", \"partition\", \"key\" or \"unordered\"";
        goto fail;
    }
    for (size_t i = 0; i < e->npl; i++)
        if (!e->pls[i]->order_set)
            e->pls[i]->order = (uint8_t)oi;
    e->fault_value_max = (size_t)sl_conf_get_int(c, "fault.value.max.bytes");
    /* A fault event is one record of the fault sink: it must fit its hard
     * limits, and fault.max.bytes when set. */
    e->fault_max =
        min_nz((size_t)sl_conf_get_int(c, "fault.max.bytes"),
               min_nz(e->fault_sink->ops.max_record_bytes, e->fault_sink->ops.max_bytes));
    e->retry_max = (unsigned)sl_conf_get_int(c, "retry.max");
    e->backoff_base = sl_conf_get_int(c, "retry.backoff.ms");
    e->backoff_max = sl_conf_get_int(c, "retry.backoff.max.ms");
    /* Set explicitly, else derived from memory.max.bytes. */
    e->inflight_max = (size_t)sl__mem_derived(c, "inflight.max.records");
    e->inflight_bytes_max = (size_t)sl__mem_derived(c, "inflight.max.bytes");
    /* Idle uows keep at most as many buffer bytes as may be in flight: the
     * most a steady state at the bound can reuse without allocating. */
    e->buf_pool_max = e->inflight_bytes_max;
    e->part_inflight_max = (size_t)sl__mem_derived(c, "inflight.partition.max.records");
    e->resume_pct = (unsigned)sl_conf_get_int(c, "inflight.resume.pct");
    e->part_resume_pct = (unsigned)sl_conf_get_int(c, "inflight.partition.resume.pct");
    int64_t seed = sl_conf_get_int(c, "random.seed");
    e->rng = seed ? (uint64_t)seed : (uint64_t)sl__mono_ms(NULL) ^ (uint64_t)(uintptr_t)e;
    if (!e->rng)
        e->rng = 88172645463325252ull;
    e->entry_size = (sizeof(entry_t) + e->npl * sizeof(sl_uow_t) + 15) & ~(size_t)15;
    e->skip_fast = e->npl <= 64 && !e->json_only;
    /* A map that proves the records JSON while doing its work validates
     * them in the engine's stead (the first one offered). */
    e->json_check = NULL;
    for (size_t i = 0; e->json_only && !e->json_check && i < e->npl; i++)
        for (size_t j = 0; !e->json_check && j < e->pls[i]->nstages; j++)
            if (e->pls[i]->stages[j].kind == ST_MAP)
                e->json_check = e->pls[i]->stages[j].u.f.check;
    for (size_t i = 0; i < e->npl; i++)
        if (!e->pls[i]->nstages || e->pls[i]->stages[0].kind != ST_TYPES)
            e->skip_fast = 0;
    rc = SL_ENOMEM;
    why = "out of memory";
    for (size_t i = 0; i < e->npl; i++)
        if (prepare_pipeline(e, e->pls[i]))
            goto fail;
    if (sl__entry_chunk(e))
        goto fail;
    e->started = 1;
    return 0;
fail:
    sl__errf(errstr, errstr_size, "%s", why);
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
            for (size_t j = 0; j < e->npl; j++) {
                sl_free(en->uows[j].buf);
                sl_free(en->uows[j].out_hdrs);
            }
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
        sl_free(u->out_hdrs);
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
    sl__leave(e);
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
        sl__coll_flush(e, e->pls[i]);
    sl__leave(e);
    return 0;
}

int64_t sl_engine_watermark(sl_engine_t *e, const char *topic, int32_t partition)
{
    part_t *p = e && topic ? sl__part_find(e, topic, partition) : NULL;
    return p ? p->tr.watermark : -1;
}

int sl_engine_forget_partition(sl_engine_t *e, const char *topic, int32_t partition)
{
    if (!e || !topic)
        return SL_EINVAL;
    part_t *p = sl__part_find(e, topic, partition);
    if (!p)
        return SL_ENOENT;
    if (p->inflight)
        return SL_EAGAIN;
    part_t **pp = &e->parts[sl__part_hash(topic, partition) & e->pmask];
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
    part_t *p = e && topic ? sl__part_find(e, topic, partition) : NULL;
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
