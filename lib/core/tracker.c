/* sluice — offset tracker. */
#include "core/tracker.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <string.h>

int sl__tracker_init(sl__tracker_t *t, size_t capacity)
{
    size_t cap = 16;
    while (cap < capacity)
        cap <<= 1;
    memset(t, 0, sizeof *t);
    t->offsets = sl_malloc(cap * sizeof *t->offsets);
    t->done = sl_malloc(cap);
    if (!t->offsets || !t->done) {
        sl__tracker_fini(t);
        return SL_ENOMEM;
    }
    t->mask = cap - 1;
    t->last_pushed = -1;
    t->watermark = -1;
    return 0;
}

void sl__tracker_fini(sl__tracker_t *t)
{
    sl_free(t->offsets);
    sl_free(t->done);
    t->offsets = NULL;
    t->done = NULL;
}

/* Double the ring, keeping sequence numbers valid (slot = seq & mask). */
static int grow(sl__tracker_t *t)
{
    size_t cap = (t->mask + 1) * 2;
    int64_t *o = sl_malloc(cap * sizeof *o);
    uint8_t *d = sl_malloc(cap);
    if (!o || !d) {
        sl_free(o);
        sl_free(d);
        return SL_ENOMEM;
    }
    for (uint64_t s = t->head; s != t->tail; s++) {
        o[s & (cap - 1)] = t->offsets[s & t->mask];
        d[s & (cap - 1)] = t->done[s & t->mask];
    }
    sl_free(t->offsets);
    sl_free(t->done);
    t->offsets = o;
    t->done = d;
    t->mask = cap - 1;
    return 0;
}

int sl__tracker_push(sl__tracker_t *t, int64_t offset, uint64_t *seq)
{
    if (offset < 0 || offset <= t->last_pushed)
        return SL_EINVAL;
    if (t->tail - t->head > t->mask) {
        int rc = grow(t);
        if (rc)
            return rc;
    }
    size_t i = t->tail & t->mask;
    t->offsets[i] = offset;
    t->done[i] = 0;
    t->last_pushed = offset;
    *seq = t->tail++;
    return 0;
}

int sl__tracker_done(sl__tracker_t *t, uint64_t seq)
{
    t->done[seq & t->mask] = 1;
    if (seq != t->head)
        return 0;
    int64_t last = -1;
    while (t->head != t->tail && t->done[t->head & t->mask]) {
        last = t->offsets[t->head & t->mask];
        t->head++;
    }
    t->watermark = last + 1;
    return 1;
}

int sl__tracker_push_done(sl__tracker_t *t, int64_t offset)
{
    if (offset < 0 || offset <= t->last_pushed)
        return SL_EINVAL;
    t->last_pushed = offset;
    if (t->head == t->tail) {
        t->watermark = offset + 1;
        return 0;
    }
    /* Records between two in-flight ones that are done on arrival need no
     * slot: the previous slot's range grows to cover them, and the watermark
     * passes them when that slot is done. */
    t->offsets[(t->tail - 1) & t->mask] = offset;
    return 0;
}
