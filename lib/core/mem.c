/* sluice — memory wrappers with counters and failure injection. */
#include "sluice/mem.h"

#include <jansson.h>
#include <stdatomic.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#define HAVE_USABLE_SIZE 1
#endif
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t g_allocs, g_reallocs, g_frees, g_failed;
/* Bytes live and their high-water mark, by the allocator's usable size. */
static atomic_int_fast64_t g_bytes, g_peak;
/* Countdown to the injected failure: 0 = off. */
static atomic_uint_fast64_t g_fail_in;
static atomic_int g_fail_sticky, g_failing;

/* Decides whether this allocation is the injected failure. */
static int inject(void)
{
    if (atomic_load_explicit(&g_failing, memory_order_relaxed))
        return 1;
    uint_fast64_t n = atomic_load_explicit(&g_fail_in, memory_order_relaxed);
    if (n == 0)
        return 0;
    if (atomic_fetch_sub_explicit(&g_fail_in, 1, memory_order_relaxed) == 1) {
        if (atomic_load_explicit(&g_fail_sticky, memory_order_relaxed))
            atomic_store_explicit(&g_failing, 1, memory_order_relaxed);
        return 1;
    }
    return 0;
}

static size_t usable(void *p)
{
#ifdef HAVE_USABLE_SIZE
    return p ? malloc_usable_size(p) : 0;
#else
    (void)p;
    return 0;
#endif
}

static void bytes_add(int64_t d)
{
    int_fast64_t now = atomic_fetch_add_explicit(&g_bytes, d, memory_order_relaxed) + d;
    int_fast64_t peak = atomic_load_explicit(&g_peak, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak_explicit(
                             &g_peak, &peak, now, memory_order_relaxed, memory_order_relaxed))
        ;
}

static void *counted(void *p)
{
    atomic_fetch_add_explicit(p ? &g_allocs : &g_failed, 1, memory_order_relaxed);
    if (p)
        bytes_add((int64_t)usable(p));
    return p;
}

void *sl_malloc(size_t size)
{
    if (inject())
        return counted(NULL);
    return counted(malloc(size ? size : 1));
}

void *sl_calloc(size_t n, size_t size)
{
    if (inject())
        return counted(NULL);
    return counted(calloc(n ? n : 1, size ? size : 1));
}

void *sl_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return sl_malloc(size);
    if (inject()) {
        atomic_fetch_add_explicit(&g_failed, 1, memory_order_relaxed);
        return NULL;
    }
    size_t old = usable(ptr);
    void *p = realloc(ptr, size ? size : 1);
    atomic_fetch_add_explicit(p ? &g_reallocs : &g_failed, 1, memory_order_relaxed);
    if (p)
        bytes_add((int64_t)usable(p) - (int64_t)old);
    return p;
}

void sl_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_add_explicit(&g_frees, 1, memory_order_relaxed);
    bytes_add(-(int64_t)usable(ptr));
    free(ptr);
}

char *sl_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = sl_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void sl_mem_stats(sl_mem_stats_t *out)
{
    out->allocs = atomic_load_explicit(&g_allocs, memory_order_relaxed);
    out->reallocs = atomic_load_explicit(&g_reallocs, memory_order_relaxed);
    out->frees = atomic_load_explicit(&g_frees, memory_order_relaxed);
    out->failed = atomic_load_explicit(&g_failed, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&g_bytes, memory_order_relaxed);
    out->peak_bytes = atomic_load_explicit(&g_peak, memory_order_relaxed);
}

void sl_mem_reset_peak(void)
{
    atomic_store(&g_peak, atomic_load(&g_bytes));
}

void sl_mem_fail_at(uint64_t n, int sticky)
{
    atomic_store(&g_failing, 0);
    atomic_store(&g_fail_sticky, sticky ? 1 : 0);
    atomic_store(&g_fail_in, n);
}

void sl_mem_use_for_jansson(void)
{
    json_set_alloc_funcs(sl_malloc, sl_free);
}
