/* What the Kinesis tests (kinesis_helpers.h) and bench/bench_kinesis.c share
 * to talk to kinesalite directly with libcurl: the response buffer and the
 * request headers (a fixed date and signature: kinesalite checks neither). */
#ifndef SL_TEST_KINESALITE_HTTP_H
#define SL_TEST_KINESALITE_HTTP_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A response body: n bytes at p (malloc'd, NUL-terminated once anything
 * arrived). Starts zeroed; free(p) when done. */
typedef struct kh_body_s {
    char *p;
    size_t n;
} kh_body_t;

/* CURLOPT_WRITEFUNCTION appending to the kh_body_t of CURLOPT_WRITEDATA;
 * 0 (curl fails the transfer) when out of memory. */
static inline size_t kh_body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    kh_body_t *b = ud;
    size_t n = size * nmemb;
    char *q = realloc(b->p, b->n + n + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, ptr, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

/* The headers of a Kinesis JSON call of @p op (none when NULL) signed for
 * the access key @p akid; the caller frees them (curl_slist_free_all). */
static inline struct curl_slist *kh_headers(const char *op, const char *akid)
{
    char auth[256];
    snprintf(auth, sizeof auth,
             "Authorization: AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/kinesis/"
             "aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
             akid);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
    h = curl_slist_append(h, "X-Amz-Date: 20260101T000000Z");
    h = curl_slist_append(h, auth);
    if (op) {
        char target[96];
        snprintf(target, sizeof target, "X-Amz-Target: Kinesis_20131202.%s", op);
        h = curl_slist_append(h, target);
    }
    return h;
}

#endif
