/* sluice — the engine's private interface between its files (lib/core/engine*.c).
 *
 *   engine.c          the hot path: clock, re-entrancy, pools, partitions and
 *                     flow control, stages, run, completion, acks, decode and push
 *   engine_gate.c     the key gate (per-key order under retries), retries, faults
 *   engine_collect.c  collectors: batch, compact, group
 *   engine_stages.c   the rate limiter and flat-map stages (sl_emit)
 *   engine_uow.c      sl_uow_* accessors and the output buffers
 *   engine_life.c     lifecycle (new/start/destroy), executor, stats, conf
 *
 * What one file calls in another is declared here with the sl__ prefix; the
 * few small functions the hot path inlines stay static inline here. */
#ifndef SL_CORE_ENGINE_INT_H
#define SL_CORE_ENGINE_INT_H

#include "core/core.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ENTRY_CHUNK 256
/* Output buffers of a done uow are kept for its next life (no allocation in
 * steady state) unless larger than this, or unless the idle buffers already
 * kept add up to buf_pool_max (inflight.max.bytes). */
#define BUF_KEEP_MAX (64 * 1024)
#define ACK_COMPACTED 1 /* pseudo ack: superseded in a compacting batch */

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum { OUT_SUNK, OUT_SKIP, OUT_COMPACTED, OUT_FAULT, OUT_EXPANDED } outcome_t;

sl_uow_t *sl__child_get(sl_engine_t *e);
void sl__child_put(sl_engine_t *e, sl_uow_t *u);
void sl__linger_fire(sl__timer_t *t, void *ctx);
void sl__coll_extract_key(sl_pipeline_t *p, sl_uow_t *h);
void sl__coll_flush(sl_engine_t *e, sl_pipeline_t *p);
int sl__content_is_json(const sl_record_t *r);
void sl__enqueue(sl_engine_t *e, sl_uow_t *u, int err);
int sl__entry_chunk(sl_engine_t *e);
void sl__fault(sl_engine_t *e, sl_uow_t *u, int err, int stage);
void sl__fault_sink_failed(sl_engine_t *e, sl_uow_t *u, int err);
void sl__finish(sl_engine_t *e, sl_uow_t *u, outcome_t how);
void sl__flat_map(sl_engine_t *e, stage_t *s, sl_uow_t *u);
void sl__flow(sl_engine_t *e, const char *topic, int32_t partition, int pause);
int sl__gate_blocks(sl_pipeline_t *p, sl_uow_t *u);
int sl__gate_hold(sl_pipeline_t *p, sl_uow_t *u);
void sl__gate_release(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *h);
sl_uow_t **sl__gate_slot(sl_pipeline_t *p, sl_span_t key);
int sl__kbuf_reserve(sl_uow_t *u, size_t need);
void sl__leave(sl_engine_t *e);
int64_t sl__mono_ms(void *opaque);
part_t *sl__part_find(sl_engine_t *e, const char *topic, int32_t partition);
uint32_t sl__part_hash(const char *topic, int32_t partition);
void sl__retry(sl_engine_t *e, sl_uow_t *u, int err, int stage);
int sl__rl_admit(sl_engine_t *e, stage_t *s, sl_uow_t *u);
void sl__run(sl_engine_t *e, sl_uow_t *u);
void sl__wait_insert(sl_uow_t *h, sl_uow_t *w, uow_state_t st);
/* engine_ops.c: the operations counters that histograms keep (per batch). */
void sl__batch_size(sl_pipeline_t *p, size_t n);
void sl__sink_latency(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *u);

static inline int64_t now(const sl_engine_t *e)
{
    return e->clock.now_ms(e->clock.opaque);
}

static inline void enter(sl_engine_t *e)
{
    e->depth++;
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
    u->sink_first = 0;
    u->fault_index = 0;
    u->first_fail_ms = INT64_MIN; /* none yet: a virtual clock may read 0 */
    u->last_fail_ms = 0;
    u->out_nhdrs = 0;
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

static inline void flow_check_pause(sl_engine_t *e, part_t *p)
{
    if (!e->paused_all &&
        (e->inflight >= e->inflight_max || e->inflight_bytes >= e->inflight_bytes_max)) {
        e->paused_all = 1;
        sl__flow(e, NULL, SL_PARTITION_ALL, 1);
    }
    if (p && !p->paused && p->inflight >= e->part_inflight_max) {
        p->paused = 1;
        sl__flow(e, p->topic, p->partition, 1);
    }
}

/* What the key gate holds for @p u: its partition in a partition-ordered
 * pipeline (the part_t's address, compared as bytes), else its key. */
static inline sl_span_t sl__gate_key(const sl_pipeline_t *p, const sl_uow_t *u)
{
    if (p->order == SL_ORDER_PARTITION)
        return (sl_span_t){(const char *)&u->entry->part->self, sizeof u->entry->part->self};
    return u->key;
}

static inline int key_eq(sl_span_t a, sl_span_t b)
{
    return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

/* Bytes a uow adds to a batch: its output, else its record. */
static inline size_t out_size(const sl_uow_t *u)
{
    if (u->has_output)
        return u->out_key_len + u->out_val_len;
    const sl_record_t *r = u->entry->rec;
    return r->key_len + r->value_len;
}

#endif
