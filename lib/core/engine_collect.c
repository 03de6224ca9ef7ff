/* sluice — the engine's collectors: batch, compact and group the done uows
 * of a pipeline before its sink (see engine.c for the hot path). */
#include "core/engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- collectors -------------------------------------------------------- */

static void sink_write(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t **arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        arr[i]->state = U_AT_SINK;
    /* The first uow of the batch times the write (sink latency, when it is
     * acknowledged): one clock read per batch. A uow written again after a
     * failed write keeps the time of its first write. */
    int64_t t = now(e);
    arr[0]->sink_first = 1;
    arr[0]->sink_at = (uint32_t)(t > 0 ? t : 1);
    sl__batch_size(p, n);
    p->stats.batches++;
    e->stats.batches++;
    int rc = p->sink->ops.write(p->sink->opaque, arr, n);
    if (rc) {
        if (rc > 0)
            rc = SL_ESINK;
        for (size_t i = 0; i < n; i++)
            sl__enqueue(e, arr[i], rc);
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

void sl__coll_flush(sl_engine_t *e, sl_pipeline_t *p)
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
    p->ops.closed[c->why]++;
    c->why = SL__CLOSE_FLUSH;

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
                sl__enqueue(e, arr[i], ACK_COMPACTED);
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

void sl__linger_fire(sl__timer_t *t, void *ctx)
{
    coll_t *c = container_of(t, coll_t, timer);
    c->why = SL__CLOSE_LINGER;
    sl__coll_flush(ctx, c->pl);
}

/* Pull later uows of @p h's key out of the open batch so they wait behind it. */
void sl__coll_extract_key(sl_pipeline_t *p, sl_uow_t *h)
{
    coll_t *c = &p->coll;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        sl_uow_t *w = c->items[i];
        if (w != h && key_eq(w->key, h->key)) {
            c->bytes -= out_size(w);
            sl__wait_insert(h, w, U_HELD);
        } else {
            c->items[k++] = w;
        }
    }
    c->n = k;
    if (!k)
        sl__timer_stop(&p->eng->timers, &c->timer);
}
