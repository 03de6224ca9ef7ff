/* sluice — intrusive timer heap (pairing heap): no allocation, O(1) insert,
 * O(log n) amortized pop and removal. Timers live inside the objects they
 * time (uows, collectors, rate limiters). Not thread-safe. */
#ifndef SL_CORE_TIMER_H
#define SL_CORE_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl__timer_s sl__timer_t;
typedef void (*sl__timer_cb)(sl__timer_t *t, void *ctx);

struct sl__timer_s {
    sl__timer_t *child, *next, *prev; /* prev: previous sibling, or parent for a first child */
    int64_t due;
    uint64_t seq; /* ties break in start order */
    sl__timer_cb cb;
    int active;
};

typedef struct sl__timers_s {
    sl__timer_t *root;
    uint64_t seq;
    size_t count;
} sl__timers_t;

void sl__timers_init(sl__timers_t *h);
/* (Re)start @p t to fire at @p due; stops it first if active. */
void sl__timer_start(sl__timers_t *h, sl__timer_t *t, int64_t due, sl__timer_cb cb);
void sl__timer_stop(sl__timers_t *h, sl__timer_t *t);
/* The earliest timer, or NULL. */
static inline sl__timer_t *sl__timers_peek(const sl__timers_t *h)
{
    return h->root;
}
/* Remove and return the earliest timer if due at @p now, else NULL. */
sl__timer_t *sl__timers_pop_due(sl__timers_t *h, int64_t now);

#endif
