/* sluice — small helpers every layer shares (private). */
#ifndef SL_CORE_UTIL_H
#define SL_CORE_UTIL_H

#include <stddef.h>

/* Writes a printf-formatted message into the caller's error buffer; does
 * nothing when @p errstr is NULL or @p errstr_size is 0 (truncates to fit). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void sl__errf(char *errstr, size_t errstr_size, const char *fmt, ...);

int sl__grow_slow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);

/* Makes the array *@p arrp (a pointer to any object pointer, e.g.
 * &s->parts) hold at least @p need elements of @p elem bytes: when *@p cap
 * is short, reallocates (sl_realloc) to @p first elements, or twice *@p cap,
 * doubled until @p need fits, and updates *@p arrp and *@p cap. Returns 0, or
 * SL_ENOMEM with the array and *@p cap untouched. Inline, so the common case
 * (room left) costs one compare on the hot paths. */
static inline int sl__grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    return need <= *cap ? 0 : sl__grow_slow(arrp, cap, need, elem, first);
}

#endif
