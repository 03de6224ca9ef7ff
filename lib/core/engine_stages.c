/* sluice — the engine's rate-limit and flat-map stages (sl_emit). */
#include "core/engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
        sl__run(e, u);
    }
    if (s->u.rl.head)
        rl_arm(e, s);
}

/* Returns 1 if @p u may pass now, else queues it. */
int sl__rl_admit(sl_engine_t *e, stage_t *s, sl_uow_t *u)
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
    sl_uow_t *c = sl__child_get(em->e);
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
        if (sl__kbuf_reserve(c, k.len)) {
            sl__child_put(em->e, c);
            return SL_ENOMEM;
        }
        if (k.len)
            memcpy(c->kbuf, k.ptr, k.len);
        k.ptr = c->kbuf ? c->kbuf : "";
    }
    c->key = k;
    if (sl_uow_set_output(c, key, key_len, value, value_len)) {
        sl__child_put(em->e, c);
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

void sl__flat_map(sl_engine_t *e, stage_t *s, sl_uow_t *u)
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
            sl__run(e, c);
            c = nx;
        }
        sl__finish(e, u, OUT_EXPANDED);
        return;
    }
    for (sl_uow_t *c = em.head; c;) {
        sl_uow_t *nx = c->next;
        sl__child_put(e, c);
        c = nx;
    }
    if (r == SL_OK || r == SL_SKIP)
        sl__finish(e, u, OUT_SKIP);
    else if (r == SL_RETRY)
        sl__retry(e, u, u->err ? u->err : SL_EAGAIN, FS_FLAT_MAP);
    else
        sl__fault(e, u, u->err ? u->err : SL_ESTAGE, FS_FLAT_MAP);
}
