/* Shared checks of the libFuzzer targets (header-only: each target is one
 * program). A finding aborts with a line saying what property broke, so the
 * fuzzer keeps the input and CI fails. */
#ifndef SL_FUZZ_COMMON_H
#define SL_FUZZ_COMMON_H

#include "sluice/mem.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_fail(const char *target, const char *what)
{
    /* fd 2, not stderr: a target may have pointed stderr elsewhere */
    dprintf(2, "%s: %s\n", target, what);
    abort();
}

/* Blocks the library holds: its allocations (and jansson's, once routed
 * through sl_malloc) minus its frees. Equal before and after one input
 * means that input leaked nothing, which LeakSanitizer only checks at exit. */
static inline int64_t fuzz_live_blocks(void)
{
    sl_mem_stats_t s;
    sl_mem_stats(&s);
    return (int64_t)s.allocs - (int64_t)s.frees;
}

/* Whether [p, p + n) is valid UTF-8 (no overlong forms, no surrogates, at
 * most U+10FFFF). Written here, apart from the library's own check, so the
 * two cannot share a mistake. */
static inline int fuzz_utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            k = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            k = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            k = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i < k)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k;
    }
    return 1;
}

/* A NUL-terminated message in a buffer of @p size bytes: terminated inside
 * the buffer and valid UTF-8. */
static inline int fuzz_msg_ok(const char *buf, size_t size)
{
    const char *nul = memchr(buf, 0, size);
    return nul && fuzz_utf8_ok(buf, (size_t)(nul - buf));
}

#endif
