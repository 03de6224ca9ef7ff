/* sluice — SHA-256 (FIPS 180-4) for the core, which may use only libc and
 * jansson: fault events name the bytes they leave out by this digest. */
#ifndef SL_CORE_SHA256_H
#define SL_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SL__SHA256_LEN 32

typedef struct sl__sha256_s {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    unsigned char block[64];
    size_t fill; /* bytes waiting in block */
} sl__sha256_t;

void sl__sha256_init(sl__sha256_t *s);
void sl__sha256_update(sl__sha256_t *s, const void *data, size_t n);
void sl__sha256_final(sl__sha256_t *s, unsigned char out[SL__SHA256_LEN]);
/* One call: the digest of @p n bytes at @p data (NULL allowed when n is 0). */
void sl__sha256(const void *data, size_t n, unsigned char out[SL__SHA256_LEN]);
/* The digest as 64 lowercase hex digits and a NUL. */
void sl__sha256_hex(const void *data, size_t n, char out[2 * SL__SHA256_LEN + 1]);

#endif
