/* sluice — what sigv4.c uses of sigv4_crypto.c (SHA-256, HMAC-SHA256 and
 * the derived signing key with its cache), private to lib/kinesis. */
#ifndef SL_KINESIS_SIGV4_INT_H
#define SL_KINESIS_SIGV4_INT_H

#include "kinesis/sigv4.h"

#include <openssl/evp.h>
#include <stddef.h>

#define SHA256_LEN 32
#define TERMINATOR "aws4_request" /* the last part of a credential scope */

typedef struct hmac_s {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
} hmac_t;

int sl__sigv4_hmac(hmac_t *h, const void *key, size_t klen, const void *msg, size_t n,
                   unsigned char out[SHA256_LEN]);
void sl__sigv4_hmac_close(hmac_t *h);
int sl__sigv4_hmac_open(hmac_t *h);
int sl__sigv4_sha256(const void *data, size_t n, unsigned char out[SHA256_LEN]);
int sl__sigv4_signing_key(sl__sigv4_key_cache_t *cache, hmac_t *h, const char *secret,
                          const char *date8, const char *region, const char *service,
                          unsigned char key[SHA256_LEN]);

#endif
