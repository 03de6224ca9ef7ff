/* sluice — the engine's key gate (per-key order under retries), retries and
 * faults (see engine.c for the hot path). */
#include "core/engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- the key gate: per-key order under retries ------------------------ */

sl_uow_t **sl__gate_slot(sl_pipeline_t *p, sl_span_t key)
{
    sl_uow_t **pp = &p->held[sl__hash(key.ptr, key.len) & p->hmask];
    while (*pp && !key_eq(sl__gate_key(p, *pp), key))
        pp = &(*pp)->hnext;
    return pp;
}

/* Insert @p w into holder @p h's wait list, keeping arrival order. */
void sl__wait_insert(sl_uow_t *h, sl_uow_t *w, uow_state_t st)
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
int sl__gate_blocks(sl_pipeline_t *p, sl_uow_t *u)
{
    sl_uow_t *h = *sl__gate_slot(p, sl__gate_key(p, u));
    if (!h || h == u)
        return 0;
    sl__wait_insert(h, u, U_HELD);
    return 1;
}

/* Make @p u hold its key. Returns 0 if it holds it, 1 if it was queued
 * behind an earlier holder instead. */
int sl__gate_hold(sl_pipeline_t *p, sl_uow_t *u)
{
    if (u->holding)
        return 0;
    sl_uow_t **pp = sl__gate_slot(p, sl__gate_key(p, u));
    sl_uow_t *h = *pp;
    /* In partition and key order the holder is the uow whose turn it is: a
     * uow never takes over (only a flat-map child can arrive with an
     * earlier position; it waits, its key's turn is first come). */
    if (h && (h->ord < u->ord || p->order == SL_ORDER_PARTITION || p->order == SL_ORDER_KEY)) {
        sl__wait_insert(h, u, U_HELD);
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
            sl__wait_insert(u, h, U_HELD);
        }
        while (w) {
            sl_uow_t *nx = w->next;
            sl__wait_insert(u, w, (uow_state_t)w->state);
            w = nx;
        }
    } else {
        *pp = u;
        p->nheld++;
    }
    return 0;
}

void sl__gate_release(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *h)
{
    sl_uow_t **pp = sl__gate_slot(p, sl__gate_key(p, h));
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
        sl_uow_t *nh = *sl__gate_slot(p, sl__gate_key(p, w));
        if (nh) {
            /* A released waiter retried and holds the key again: the rest
             * (w and every one after it) wait for it. */
            w->next = nx;
            while (w) {
                nx = w->next;
                sl__wait_insert(nh, w, U_HELD);
                w = nx;
            }
            break;
        }
        sl__run(e, w);
        w = nx;
    }
}

/* ---- retries ---------------------------------------------------------- */

static void retry_fire(sl__timer_t *t, void *ctx)
{
    sl_engine_t *e = ctx;
    sl_uow_t *u = container_of(t, sl_uow_t, timer);
    sl__run(e, u);
}

void sl__retry(sl_engine_t *e, sl_uow_t *u, int err, int stage)
{
    sl_pipeline_t *p = u->pl;
    if (u->first_fail_ms == INT64_MIN)
        u->first_fail_ms = now(e);
    u->attempts++;
    p->stats.retries++;
    e->stats.retries++;
    if (u->attempts > e->retry_max) {
        char msg[SL__ERRMSG_MAX + 1];
        snprintf(msg, sizeof msg, "retry limit (%u) reached; last error %s: %.150s", e->retry_max,
                 sl_err_name(err), u->errmsg[0] ? u->errmsg : sl_strerror(err));
        memcpy(u->errmsg, msg, sizeof msg);
        sl__fault(e, u, SL_ERETRIES, stage);
        return;
    }
    u->err = err;
    /* Unordered: a retry holds back no other uow of its key. */
    if (p->order != SL_ORDER_UNORDERED) {
        if (sl__gate_hold(p, u))
            return; /* re-runs when the earlier holder of its key is done */
        /* Partition and key order have no other uow of its key in a batch. */
        if (u->stage == p->nstages && p->order == SL_ORDER_SINK)
            sl__coll_extract_key(p, u);
    }
    u->state = U_RETRY_WAIT;
    sl__timer_start(&e->timers, &u->timer, now(e) + sl__backoff(e, u->attempts), retry_fire);
}

void sl__uow_sink_retry(sl_uow_t *u)
{
    if (!u || u->state != U_AT_SINK || !u->pl)
        return;
    sl_engine_t *e = u->entry->eng;
    if (u->first_fail_ms == INT64_MIN)
        u->first_fail_ms = now(e);
    u->attempts++;
    u->pl->stats.retries++;
    e->stats.retries++;
}

/* ---- faults ----------------------------------------------------------- */

static void fault_write(sl_engine_t *e, sl_uow_t *u);

static void fault_fire(sl__timer_t *t, void *ctx)
{
    sl_engine_t *e = ctx;
    sl_uow_t *u = container_of(t, sl_uow_t, timer);
    if (!u->has_output && sl__fault_build(e, u)) {
        sl__timer_start(&e->timers, &u->timer, now(e) + sl__backoff(e, 3), fault_fire);
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
        sl__enqueue(e, u, rc);
}

void sl__fault(sl_engine_t *e, sl_uow_t *u, int err, int stage)
{
    u->err = err;
    u->fault_stage = (uint8_t)stage;
    /* Where it faulted: the per-uow stage it was at, or past them all (the
     * collector or the sink); 0 at decode. */
    u->fault_index = u->stage;
    u->last_fail_ms = now(e);
    if (u->first_fail_ms == INT64_MIN)
        u->first_fail_ms = u->last_fail_ms;
    if (sl__fault_build(e, u)) {
        /* Out of memory building the event: try again later, never drop. */
        u->state = U_FAULT_WAIT;
        sl__timer_start(&e->timers, &u->timer, now(e) + sl__backoff(e, 3), fault_fire);
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
void sl__fault_sink_failed(sl_engine_t *e, sl_uow_t *u, int err)
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
            sl__flow(e, NULL, SL_PARTITION_ALL, 1);
        }
    }
    e->stats.retries++;
    sl__timer_start(&e->timers, &u->timer, now(e) + sl__backoff(e, 4), fault_fire);
}
