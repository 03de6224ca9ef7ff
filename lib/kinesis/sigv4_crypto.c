/* sluice — SigV4's cryptography: SHA-256, HMAC-SHA256 (OpenSSL 3 EVP_MAC)
 * and the signing key derived from the secret, cached per day, region and
 * service. Every derived key is wiped with OPENSSL_cleanse (see sigv4.c). */
#include "kinesis/sigv4_int.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <string.h>

/* libcrypto fails these only when it cannot allocate: the default provider
 * always has SHA-256 and HMAC. */
int sl__sigv4_sha256(const void *data, size_t n, unsigned char out[SHA256_LEN])
{
    unsigned int len = 0;
    if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) || len != SHA256_LEN)
        return SL_ENOMEM;
    return 0;
}

int sl__sigv4_hmac_open(hmac_t *h)
{
    static char digest[] = "SHA256"; /* OSSL_PARAM wants a char *; it is only read */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    h->ctx = NULL;
    h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!h->mac)
        return SL_ENOMEM;
    h->ctx = EVP_MAC_CTX_new(h->mac);
    if (!h->ctx || !EVP_MAC_CTX_set_params(h->ctx, params)) {
        EVP_MAC_CTX_free(h->ctx);
        EVP_MAC_free(h->mac);
        h->ctx = NULL;
        h->mac = NULL;
        return SL_ENOMEM;
    }
    return 0;
}

void sl__sigv4_hmac_close(hmac_t *h)
{
    EVP_MAC_CTX_free(h->ctx); /* OpenSSL wipes the keyed state it frees */
    EVP_MAC_free(h->mac);
}

int sl__sigv4_hmac(hmac_t *h, const void *key, size_t klen, const void *msg, size_t n,
                   unsigned char out[SHA256_LEN])
{
    size_t len = 0;
    if (!EVP_MAC_init(h->ctx, key, klen, NULL) || !EVP_MAC_update(h->ctx, msg, n) ||
        !EVP_MAC_final(h->ctx, out, &len, SHA256_LEN) || len != SHA256_LEN)
        return SL_ENOMEM;
    return 0;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static int derive_key(hmac_t *h, const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[SHA256_LEN])
{
    size_t slen = strlen(secret);
    if (slen > SIZE_MAX - 5)
        return SL_EINVAL;
    char *k0 = sl_malloc(slen + 4);
    if (!k0)
        return SL_ENOMEM;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    unsigned char a[SHA256_LEN], b[SHA256_LEN];
    int rc = sl__sigv4_hmac(h, k0, slen + 4, date8, 8, a);
    if (!rc)
        rc = sl__sigv4_hmac(h, a, sizeof a, region, strlen(region), b);
    if (!rc)
        rc = sl__sigv4_hmac(h, b, sizeof b, service, strlen(service), a);
    if (!rc)
        rc = sl__sigv4_hmac(h, a, sizeof a, TERMINATOR, strlen(TERMINATOR), key);
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    sl_free(k0);
    return rc;
}

static int cache_hit(const sl__sigv4_key_cache_t *c, const char *date8, const char *region,
                     const char *service, const unsigned char digest[SHA256_LEN])
{
    return c->valid && !memcmp(c->date, date8, 8) && !strcmp(c->region, region) &&
           !strcmp(c->service, service) && !memcmp(c->secret_digest, digest, SHA256_LEN);
}

int sl__sigv4_signing_key(sl__sigv4_key_cache_t *cache, hmac_t *h, const char *secret,
                          const char *date8, const char *region, const char *service,
                          unsigned char key[SHA256_LEN])
{
    if (!cache)
        return derive_key(h, secret, date8, region, service, key);
    unsigned char digest[SHA256_LEN];
    int rc = sl__sigv4_sha256(secret, strlen(secret), digest);
    if (rc)
        return rc;
    if (cache_hit(cache, date8, region, service, digest)) {
        memcpy(key, cache->key, SHA256_LEN);
        return 0;
    }
    sl__sigv4_key_cache_fini(cache);
    rc = derive_key(h, secret, date8, region, service, key);
    /* Scope parts too long for the fixed fields are simply not cached. */
    if (!rc && strlen(region) < sizeof cache->region && strlen(service) < sizeof cache->service) {
        memcpy(cache->key, key, SHA256_LEN);
        memcpy(cache->secret_digest, digest, SHA256_LEN);
        memcpy(cache->date, date8, 8);
        cache->date[8] = '\0';
        strcpy(cache->region, region);
        strcpy(cache->service, service);
        cache->valid = 1;
    }
    OPENSSL_cleanse(digest, sizeof digest);
    return rc;
}
