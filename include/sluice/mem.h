/* sluice — memory wrappers.
 *
 * Every allocation of the library goes through these, so tests can count
 * allocations and make the n-th one fail. Out of memory is reported as
 * SL_ENOMEM by the caller; the library never aborts on it. */
#ifndef SLUICE_MEM_H
#define SLUICE_MEM_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief malloc() through the sluice hook.
 * @returns Memory owned by the caller (free with sl_free()), or NULL on
 *          failure, including an injected failure.
 * @remark Thread-safe.
 */
SL_EXPORT void *sl_malloc(size_t size);

/** @brief calloc() through the hook; see sl_malloc(). @remark Thread-safe. */
SL_EXPORT void *sl_calloc(size_t n, size_t size);

/**
 * @brief realloc() through the hook.
 * @returns The new block, or NULL on failure, in which case @p ptr is left
 *          untouched and still owned by the caller.
 * @remark Thread-safe.
 */
SL_EXPORT void *sl_realloc(void *ptr, size_t size);

/** @brief free() a block from sl_malloc()/sl_calloc()/sl_realloc(); NULL is fine. @remark
 * Thread-safe. */
SL_EXPORT void sl_free(void *ptr);

/**
 * @brief strdup() through the hook.
 * @returns A copy owned by the caller, or NULL if @p s is NULL or on failure.
 * @remark Thread-safe.
 */
SL_EXPORT char *sl_strdup(const char *s);

/** Allocation counters, for tests and benchmarks. */
typedef struct sl_mem_stats_s {
    uint64_t allocs;   /**< successful allocations (malloc, calloc, realloc of NULL) */
    uint64_t reallocs; /**< successful reallocs of an existing block */
    uint64_t frees;    /**< frees of non-NULL blocks */
    uint64_t failed;   /**< allocations that failed, injected or real */
    /** Bytes allocated through these wrappers and not freed, by the
     *  allocator's usable size; stays 0 where the platform cannot tell
     *  (no malloc_usable_size()). Blocks freed by another allocator than
     *  the one that made them skew it. */
    int64_t bytes;
    int64_t peak_bytes; /**< highest @c bytes since start or sl_mem_reset_peak() */
} sl_mem_stats_t;

/**
 * @brief Read the process-wide allocation counters.
 * @param out filled with the counters; must not be NULL.
 * @remark Thread-safe (relaxed atomic reads).
 */
SL_EXPORT void sl_mem_stats(sl_mem_stats_t *out);

/**
 * @brief Restart the high-water mark: peak_bytes becomes the current bytes.
 * @remark Thread-safe (a concurrent allocation may be missed by the reset).
 */
SL_EXPORT void sl_mem_reset_peak(void);

/**
 * @brief Make the @p n-th allocation from now fail (1 = the next one).
 * @param n 0 disables injection.
 * @param sticky if non-zero, every allocation after the n-th fails too.
 * @remark Thread-safe, but meant for single-threaded tests.
 */
SL_EXPORT void sl_mem_fail_at(uint64_t n, int sticky);

/**
 * @brief Route jansson's allocations through sl_malloc()/sl_free(), so they
 *        are counted and can be failed as well.
 * @remark Not thread-safe: call before any jansson use, as jansson requires.
 *         It changes jansson's allocator for the whole process.
 */
SL_EXPORT void sl_mem_use_for_jansson(void);

#ifdef __cplusplus
}
#endif
#endif
