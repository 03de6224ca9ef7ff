/* sluice — pairing heap of timers. */
#include "core/timer.h"

#include <stddef.h>

static int less(const sl__timer_t *a, const sl__timer_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

/* Meld two detached heaps; returns the new root. */
static sl__timer_t *meld(sl__timer_t *a, sl__timer_t *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (less(b, a)) {
        sl__timer_t *t = a;
        a = b;
        b = t;
    }
    /* b becomes a's first child. */
    b->next = a->child;
    if (a->child)
        a->child->prev = b;
    b->prev = a;
    a->child = b;
    a->next = a->prev = NULL;
    return a;
}

/* Two-pass pairing of a sibling list; iterative so deep heaps cannot overflow the stack. */
static sl__timer_t *merge_pairs(sl__timer_t *first)
{
    if (!first)
        return NULL;
    /* Pass 1: meld pairs left to right, chaining results through 'prev' in reverse. */
    sl__timer_t *acc = NULL;
    while (first) {
        sl__timer_t *a = first, *b = first->next;
        first = b ? b->next : NULL;
        a->next = a->prev = NULL;
        if (b)
            b->next = b->prev = NULL;
        sl__timer_t *m = meld(a, b);
        m->prev = acc; /* temporary back-link */
        acc = m;
    }
    /* Pass 2: meld right to left. */
    sl__timer_t *root = NULL;
    while (acc) {
        sl__timer_t *p = acc->prev;
        acc->prev = NULL;
        root = meld(acc, root);
        acc = p;
    }
    return root;
}

void sl__timers_init(sl__timers_t *h)
{
    h->root = NULL;
    h->seq = 0;
    h->count = 0;
}

void sl__timer_stop(sl__timers_t *h, sl__timer_t *t)
{
    if (!t->active)
        return;
    t->active = 0;
    h->count--;
    if (t == h->root) {
        h->root = merge_pairs(t->child);
        t->child = NULL;
        return;
    }
    /* Cut t (with its subtree) out of its sibling list. */
    if (t->prev->child == t)
        t->prev->child = t->next;
    else
        t->prev->next = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
    sl__timer_t *sub = merge_pairs(t->child);
    t->child = NULL;
    h->root = meld(h->root, sub);
}

void sl__timer_start(sl__timers_t *h, sl__timer_t *t, int64_t due, sl__timer_cb cb)
{
    sl__timer_stop(h, t);
    t->due = due;
    t->seq = h->seq++;
    t->cb = cb;
    t->child = t->next = t->prev = NULL;
    t->active = 1;
    h->count++;
    h->root = meld(h->root, t);
}

sl__timer_t *sl__timers_pop_due(sl__timers_t *h, int64_t now)
{
    sl__timer_t *t = h->root;
    if (!t || t->due > now)
        return NULL;
    sl__timer_stop(h, t);
    return t;
}
