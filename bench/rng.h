/* sluice — the deterministic random numbers of the benchmarks (bench_util.h)
 * and of the scanner's randomized differential test (tests/core/test_scan.c):
 * the same sequence, run after run. */
#ifndef SLUICE_BENCH_RNG_H
#define SLUICE_BENCH_RNG_H

#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64* */
static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 2685821657736338717ull;
}

/* A fresh random permutation of @p perm[0..n) (Fisher-Yates, from rng()). */
static inline void rng_shuffle(int *perm, int n)
{
    for (int j = n - 1; j > 0; j--) {
        int r = (int)(rng() % (uint64_t)(j + 1));
        int t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
    }
}

#endif
