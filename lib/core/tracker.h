/* sluice — offset tracker: per partition, the contiguous watermark of done
 * records under out-of-order completion. A ring of (offset, done) in push
 * order; the head advances over done slots. Not thread-safe. */
#ifndef SL_CORE_TRACKER_H
#define SL_CORE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl__tracker_s {
    int64_t *offsets; /* per slot: the last offset its range covers */
    uint8_t *done;
    size_t mask;         /* capacity - 1, capacity a power of two */
    uint64_t head, tail; /* monotonic sequence numbers: [head, tail) in flight */
    int64_t last_pushed; /* -1 before the first push */
    int64_t watermark;   /* next offset to commit, -1 when nothing is done */
} sl__tracker_t;

int sl__tracker_init(sl__tracker_t *t, size_t capacity);
void sl__tracker_fini(sl__tracker_t *t);
/* Track @p offset; on success *seq identifies it. SL_EINVAL if not increasing, SL_ENOMEM. */
int sl__tracker_push(sl__tracker_t *t, int64_t offset, uint64_t *seq);
/* Track @p offset as done at once (filtered out on arrival): no slot is used
 * when nothing of the partition is in flight. Errors as sl__tracker_push(). */
int sl__tracker_push_done(sl__tracker_t *t, int64_t offset);
/* Mark @p seq done; returns 1 if the watermark advanced. */
int sl__tracker_done(sl__tracker_t *t, uint64_t seq);
static inline size_t sl__tracker_inflight(const sl__tracker_t *t)
{
    return (size_t)(t->tail - t->head);
}

#endif
