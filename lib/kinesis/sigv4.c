/* sluice — AWS Signature Version 4 for the Kinesis client.
 *
 * One call builds the canonical request, the string to sign, the signature
 * and the Authorization value in a single growable block, so a signed request
 * costs one output allocation plus scratch for sorting the query and headers.
 * OpenSSL 3 EVP interfaces only (EVP_MAC for HMAC, EVP_Digest for SHA-256):
 * nothing deprecated, nothing global. Secret material (the "AWS4"+secret key
 * and every derived key) is wiped with OPENSSL_cleanse before its memory is
 * released or goes out of scope. This file never logs. */
#include "kinesis/sigv4_int.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KINESIS_SERVICE "kinesis"
#define KINESIS_CONTENT_TYPE "application/x-amz-json-1.1"

/* ---- growable text ---------------------------------------------------- */

typedef struct sig_buf_s {
    char *p;
    size_t len, cap;
    int err; /* sticky: once an append fails, later ones do nothing */
} sig_buf_t;

static void sb_reserve(sig_buf_t *b, size_t n)
{
    if (b->err)
        return;
    if (n > SIZE_MAX - b->len - 1) {
        b->err = SL_ENOMEM;
        return;
    }
    size_t need = b->len + n + 1; /* always room for a NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = sl_realloc(b->p, cap);
    if (!p) {
        b->err = SL_ENOMEM;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void sb_put(sig_buf_t *b, const void *s, size_t n)
{
    sb_reserve(b, n);
    if (b->err)
        return;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sig_buf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_putc(sig_buf_t *b, char c)
{
    sb_put(b, &c, 1);
}

/* ---- character classes and encoding ------------------------------------ */

/* RFC 3986 unreserved: the only bytes SigV4 leaves unencoded. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* RFC 7230 tchar: what a method or a header name may be made of. */
static int tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Region, service and access key id go verbatim into "a/b/c" scopes and the
 * comma-separated Authorization value, so none of those separators, and no
 * whitespace or control byte. */
static int is_scope_part(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == ',')
            return 0;
    }
    return 1;
}

/* A value sent as a header line by the Kinesis helper: no CR, LF or other
 * control byte, which would let it smuggle a header of its own. */
static int is_header_text(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int is_amz_date(const char *s)
{
    if (!s || strlen(s) != SL__SIGV4_DATE_SIZE - 1)
        return 0;
    for (int i = 0; i < SL__SIGV4_DATE_SIZE - 1; i++) {
        int c = (unsigned char)s[i];
        if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : !(c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

static void sb_pct(sig_buf_t *b, unsigned char c)
{
    char e[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
    sb_put(b, e, 3);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Query component: decode %XX (a '%' not followed by two hex digits stays a
 * literal '%'), then encode strictly, so "a b" and "a%20b" sign alike, as the
 * service computes it from the decoded parameters. */
static void sb_query_part(sig_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && n - i >= 3 && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (unreserved(c))
            sb_putc(b, (char)c);
        else
            sb_pct(b, c);
    }
}

static void hex_lower_of(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[d[i] >> 4];
        out[2 * i + 1] = hex_lower[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- canonical URI ------------------------------------------------------ */

/* Appends the normalized, encoded path. Works on the output directly: a ".."
 * cuts the output back to its previous '/', so no segment stack is needed.
 * Encoded segments hold no '/', which keeps that cut exact. */
static void canonical_uri(sig_buf_t *b, const char *path)
{
    size_t base = b->len;
    size_t n = strlen(path);
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/')
            i++;
        size_t start = i;
        while (i < n && path[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 || (len == 1 && path[start] == '.'))
            continue;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (b->err)
                return;
            while (b->len > base && b->p[b->len - 1] != '/')
                b->len--;
            if (b->len > base)
                b->len--; /* the '/' that opened the dropped segment */
            b->p[b->len] = '\0';
            continue;
        }
        sb_putc(b, '/');
        for (size_t k = start; k < i; k++) {
            unsigned char c = (unsigned char)path[k];
            if (unreserved(c))
                sb_putc(b, (char)c);
            else
                sb_pct(b, c);
        }
    }
    /* A trailing '/' is kept, as the SDKs do; "/a/b/.." gives "/a". */
    if (b->len == base || (n > 0 && path[n - 1] == '/'))
        sb_putc(b, '/');
}

/* ---- canonical query ---------------------------------------------------- */

typedef struct pair_s {
    size_t koff, klen, voff, vlen; /* into the scratch text */
    const char *k, *v;             /* set once the scratch text no longer moves */
} pair_t;

static int span_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int pair_cmp(const void *pa, const void *pb)
{
    const pair_t *a = pa, *b = pb;
    int c = span_cmp(a->k, a->klen, b->k, b->klen);
    return c ? c : span_cmp(a->v, a->vlen, b->v, b->vlen);
}

static int canonical_query(sig_buf_t *b, const char *query)
{
    if (!query || !*query)
        return 0;
    size_t n = 1;
    for (const char *q = query; *q; q++)
        n += *q == '&';
    pair_t *pairs = sl_malloc(n * sizeof *pairs);
    if (!pairs)
        return SL_ENOMEM;
    sig_buf_t s = {0};
    size_t np = 0;
    for (const char *q = query; *q;) {
        const char *end = strchr(q, '&');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        if (len) { /* "a&&b" and a trailing '&' carry no parameter */
            const char *eq = memchr(q, '=', len);
            size_t klen = eq ? (size_t)(eq - q) : len;
            pair_t *p = &pairs[np++];
            p->koff = s.len;
            sb_query_part(&s, q, klen);
            p->klen = s.len - p->koff;
            p->voff = s.len;
            if (eq)
                sb_query_part(&s, eq + 1, len - klen - 1);
            p->vlen = s.len - p->voff;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    int rc = s.err;
    if (!rc && np) {
        for (size_t i = 0; i < np; i++) {
            pairs[i].k = s.p + pairs[i].koff;
            pairs[i].v = s.p + pairs[i].voff;
        }
        qsort(pairs, np, sizeof *pairs, pair_cmp);
        for (size_t i = 0; i < np; i++) {
            if (i)
                sb_putc(b, '&');
            sb_put(b, pairs[i].k, pairs[i].klen);
            sb_putc(b, '=');
            sb_put(b, pairs[i].v, pairs[i].vlen);
        }
    }
    sl_free(s.p);
    sl_free(pairs);
    return rc;
}

/* ---- canonical headers -------------------------------------------------- */

typedef struct hdr_s {
    size_t noff, nlen, voff, vlen;
    size_t idx; /* request order: qsort is not stable, repeated names must keep it */
    const char *n, *v;
} hdr_t;

static int hdr_cmp(const void *pa, const void *pb)
{
    const hdr_t *a = pa, *b = pb;
    int c = span_cmp(a->n, a->nlen, b->n, b->nlen);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Trim, collapse runs of blanks to one space; lines of an obs-folded value
 * are joined with ',' like repeated headers (the AWS suite's multiline case). */
static void canonical_value(sig_buf_t *s, const char *v)
{
    int first_line = 1;
    while (*v) {
        size_t len = strcspn(v, "\r\n");
        int wrote = 0, blank = 0;
        for (size_t i = 0; i < len; i++) {
            char c = v[i];
            if (c == ' ' || c == '\t') {
                blank = 1;
                continue;
            }
            if (!wrote && !first_line)
                sb_putc(s, ',');
            else if (wrote && blank)
                sb_putc(s, ' ');
            sb_putc(s, c);
            wrote = 1;
            blank = 0;
        }
        if (wrote)
            first_line = 0;
        v += len;
        v += strspn(v, "\r\n");
    }
}

static int canonical_headers(sig_buf_t *b, const sl__sigv4_header_t *headers, size_t nheaders,
                             sig_buf_t *signed_headers)
{
    if (!nheaders)
        return 0;
    hdr_t *h = sl_malloc(nheaders * sizeof *h);
    if (!h)
        return SL_ENOMEM;
    sig_buf_t s = {0};
    for (size_t i = 0; i < nheaders; i++) {
        h[i].idx = i;
        h[i].noff = s.len;
        for (const char *c = headers[i].name; *c; c++) {
            char l = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
            sb_putc(&s, l);
        }
        h[i].nlen = s.len - h[i].noff;
        h[i].voff = s.len;
        canonical_value(&s, headers[i].value);
        h[i].vlen = s.len - h[i].voff;
    }
    int rc = s.err;
    if (!rc) {
        for (size_t i = 0; i < nheaders; i++) {
            h[i].n = s.p + h[i].noff;
            h[i].v = s.p + h[i].voff;
        }
        qsort(h, nheaders, sizeof *h, hdr_cmp);
        for (size_t i = 0; i < nheaders; i++) {
            int same = i && !span_cmp(h[i].n, h[i].nlen, h[i - 1].n, h[i - 1].nlen);
            if (same) {
                sb_putc(b, ',');
            } else {
                if (i) {
                    sb_putc(b, '\n');
                    sb_putc(signed_headers, ';');
                }
                sb_put(b, h[i].n, h[i].nlen);
                sb_putc(b, ':');
                sb_put(signed_headers, h[i].n, h[i].nlen);
            }
            sb_put(b, h[i].v, h[i].vlen);
        }
        sb_putc(b, '\n');
        rc = signed_headers->err;
    }
    sl_free(s.p);
    sl_free(h);
    return rc;
}

/* ---- signing ------------------------------------------------------------ */

static int check_req(const sl__sigv4_req_t *req)
{
    if (!is_token(req->method))
        return SL_EINVAL;
    if (req->path && *req->path && (req->path[0] != '/' || strpbrk(req->path, "?#")))
        return SL_EINVAL;
    if (req->nheaders && !req->headers)
        return SL_EINVAL;
    if (req->payload_len && !req->payload)
        return SL_EINVAL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!is_token(req->headers[i].name) || !req->headers[i].value)
            return SL_EINVAL;
    return 0;
}

/* "20150830/us-east-1/service/aws4_request" */
static void sb_scope(sig_buf_t *b, const char *amz_date, const char *region, const char *service)
{
    sb_put(b, amz_date, 8);
    sb_putc(b, '/');
    sb_puts(b, region);
    sb_putc(b, '/');
    sb_puts(b, service);
    sb_puts(b, "/" TERMINATOR);
}

int sl__sigv4_sign_cached(sl__sigv4_key_cache_t *cache, const sl__sigv4_creds_t *creds,
                          const char *region, const char *service, const char *amz_date,
                          const sl__sigv4_req_t *req, sl__sigv4_out_t *out)
{
    if (!out)
        return SL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!creds || !req || !is_scope_part(creds->access_key_id) || !creds->secret_access_key ||
        !*creds->secret_access_key || !is_scope_part(region) || !is_scope_part(service) ||
        !is_amz_date(amz_date))
        return SL_EINVAL;
    int rc = check_req(req);
    if (rc)
        return rc;

    /* One block: canonical request NUL string to sign NUL authorization NUL. */
    sig_buf_t b = {0}, sh = {0};
    hmac_t h = {0};
    unsigned char digest[SHA256_LEN], key[SHA256_LEN];
    char hexd[2 * SHA256_LEN + 1], date8[9];
    size_t sts_off = 0, sts_len = 0, auth_off = 0;

    sb_puts(&b, req->method);
    sb_putc(&b, '\n');
    canonical_uri(&b, req->path ? req->path : "");
    sb_putc(&b, '\n');
    if ((rc = canonical_query(&b, req->query)) != 0)
        goto done;
    sb_putc(&b, '\n');
    if ((rc = canonical_headers(&b, req->headers, req->nheaders, &sh)) != 0)
        goto done;
    sb_putc(&b, '\n');
    if (sh.len)
        sb_put(&b, sh.p, sh.len);
    sb_putc(&b, '\n');
    if ((rc = sl__sigv4_sha256(req->payload ? req->payload : "", req->payload_len, digest)) != 0)
        goto done;
    hex_lower_of(digest, SHA256_LEN, hexd);
    sb_puts(&b, hexd);
    if ((rc = b.err) != 0)
        goto done;

    if ((rc = sl__sigv4_sha256(b.p, b.len, digest)) != 0)
        goto done;
    hex_lower_of(digest, SHA256_LEN, hexd);
    sb_putc(&b, '\0');
    sts_off = b.len;
    sb_puts(&b, SL__SIGV4_ALGORITHM "\n");
    sb_puts(&b, amz_date);
    sb_putc(&b, '\n');
    sb_scope(&b, amz_date, region, service);
    sb_putc(&b, '\n');
    sb_puts(&b, hexd);
    if ((rc = b.err) != 0)
        goto done;
    sts_len = b.len - sts_off;

    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    if ((rc = sl__sigv4_hmac_open(&h)) != 0)
        goto done;
    if ((rc = sl__sigv4_signing_key(cache, &h, creds->secret_access_key, date8, region, service,
                                    key)) != 0)
        goto done;
    if ((rc = sl__sigv4_hmac(&h, key, sizeof key, b.p + sts_off, sts_len, digest)) != 0)
        goto done;
    hex_lower_of(digest, SHA256_LEN, out->signature);

    sb_putc(&b, '\0');
    auth_off = b.len;
    sb_puts(&b, SL__SIGV4_ALGORITHM " Credential=");
    sb_puts(&b, creds->access_key_id);
    sb_putc(&b, '/');
    sb_scope(&b, amz_date, region, service);
    sb_puts(&b, ", SignedHeaders=");
    if (sh.len)
        sb_put(&b, sh.p, sh.len);
    sb_puts(&b, ", Signature=");
    sb_puts(&b, out->signature);
    if ((rc = b.err) != 0)
        goto done;

    out->mem_ = b.p;
    out->canonical_request = b.p;
    out->string_to_sign = b.p + sts_off;
    out->authorization = b.p + auth_off;
    b.p = NULL;

done:
    if (rc)
        memset(out, 0, sizeof *out);
    if (h.ctx)
        sl__sigv4_hmac_close(&h);
    OPENSSL_cleanse(key, sizeof key);
    sl_free(b.p);
    sl_free(sh.p);
    return rc;
}

int sl__sigv4_sign(const sl__sigv4_creds_t *creds, const char *region, const char *service,
                   const char *amz_date, const sl__sigv4_req_t *req, sl__sigv4_out_t *out)
{
    return sl__sigv4_sign_cached(NULL, creds, region, service, amz_date, req, out);
}

void sl__sigv4_out_fini(sl__sigv4_out_t *out)
{
    if (!out)
        return;
    sl_free(out->mem_);
    memset(out, 0, sizeof *out);
}

void sl__sigv4_key_cache_init(sl__sigv4_key_cache_t *cache)
{
    memset(cache, 0, sizeof *cache);
}

void sl__sigv4_key_cache_fini(sl__sigv4_key_cache_t *cache)
{
    if (cache)
        OPENSSL_cleanse(cache, sizeof *cache); /* also leaves valid == 0 */
}

/* ---- Kinesis ------------------------------------------------------------ */

int sl__sigv4_kinesis_sign(sl__sigv4_key_cache_t *cache, const sl__sigv4_creds_t *creds,
                           const char *region, const char *host, const char *target,
                           const char *amz_date, const void *body, size_t body_len,
                           sl__sigv4_kinesis_t *out)
{
    if (!out)
        return SL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!creds || !host || !*host || !is_header_text(host) || !target || !*target ||
        !is_header_text(target) || !is_amz_date(amz_date))
        return SL_EINVAL;
    const char *token = creds->session_token && *creds->session_token ? creds->session_token : NULL;
    if (token && !is_header_text(token))
        return SL_EINVAL;

    /* Copies first, so the headers never point at the caller's strings. */
    size_t hl = strlen(host) + 1, dl = strlen(amz_date) + 1, tl = strlen(target) + 1;
    size_t kl = token ? strlen(token) + 1 : 0;
    char *mem = sl_malloc(hl + dl + tl + kl);
    if (!mem)
        return SL_ENOMEM;
    char *h = memcpy(mem, host, hl);
    char *d = memcpy(h + hl, amz_date, dl);
    char *t = memcpy(d + dl, target, tl);
    char *k = token ? memcpy(t + tl, token, kl) : NULL;

    sl__sigv4_header_t *hd = out->headers;
    size_t n = 0;
    hd[n++] = (sl__sigv4_header_t){"Host", h};
    hd[n++] = (sl__sigv4_header_t){"X-Amz-Date", d};
    hd[n++] = (sl__sigv4_header_t){"X-Amz-Target", t};
    hd[n++] = (sl__sigv4_header_t){"Content-Type", KINESIS_CONTENT_TYPE};
    if (k)
        hd[n++] = (sl__sigv4_header_t){"X-Amz-Security-Token", k};
    sl__sigv4_req_t req = {
        .method = "POST",
        .path = "/",
        .query = "",
        .headers = hd,
        .nheaders = n,
        .payload = body,
        .payload_len = body_len,
    };
    int rc =
        sl__sigv4_sign_cached(cache, creds, region, KINESIS_SERVICE, amz_date, &req, &out->sig);
    if (rc) {
        sl_free(mem);
        memset(out, 0, sizeof *out);
        return rc;
    }
    hd[n++] = (sl__sigv4_header_t){"Authorization", out->sig.authorization};
    out->nheaders = n;
    out->mem_ = mem;
    return 0;
}

void sl__sigv4_kinesis_fini(sl__sigv4_kinesis_t *out)
{
    if (!out)
        return;
    sl__sigv4_out_fini(&out->sig);
    sl_free(out->mem_);
    memset(out, 0, sizeof *out);
}

int sl__sigv4_kinesis_headers(const char *access_key_id, const char *secret_access_key,
                              const char *session_token, const char *region, const char *host,
                              const char *amz_date, const char *target, const void *body,
                              size_t body_len, struct curl_slist **headers)
{
    if (!headers)
        return SL_EINVAL;
    sl__sigv4_creds_t creds = {access_key_id, secret_access_key, session_token};
    sl__sigv4_kinesis_t k;
    int rc =
        sl__sigv4_kinesis_sign(NULL, &creds, region, host, target, amz_date, body, body_len, &k);
    if (rc)
        return rc;
    /* Built apart and linked at the end, so a failure leaves *headers as it was. */
    struct curl_slist *list = NULL;
    sig_buf_t line = {0};
    for (size_t i = 0; i < k.nheaders && !rc; i++) {
        line.len = 0;
        sb_puts(&line, k.headers[i].name);
        sb_puts(&line, ": ");
        sb_puts(&line, k.headers[i].value);
        struct curl_slist *l = line.err ? NULL : curl_slist_append(list, line.p);
        if (l)
            list = l;
        else
            rc = SL_ENOMEM;
    }
    if (line.p) /* it held the security token and the signature */
        OPENSSL_cleanse(line.p, line.cap);
    sl_free(line.p);
    sl__sigv4_kinesis_fini(&k);
    if (rc) {
        curl_slist_free_all(list);
        return rc;
    }
    if (!*headers) {
        *headers = list;
    } else {
        struct curl_slist *tail = *headers;
        while (tail->next)
            tail = tail->next;
        tail->next = list;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

int sl__sigv4_amz_date(time_t t, char *buf, size_t size)
{
    if (!buf)
        return SL_EINVAL;
    if (size < SL__SIGV4_DATE_SIZE) {
        if (size)
            buf[0] = '\0';
        return SL_ERANGE;
    }
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        buf[0] = '\0';
        return SL_EINVAL;
    }
    snprintf(buf, size, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 0;
}

int sl__sigv4_redact(const char *s, char *buf, size_t size)
{
    if (!buf)
        return SL_EINVAL;
    size_t len = s ? strlen(s) : 0;
    /* Short strings show nothing: 4 characters of a short secret are too many. */
    size_t tail = len >= 16 ? 4 : 0;
    if (size < 4 + tail + 1) {
        if (size)
            buf[0] = '\0';
        return SL_ERANGE;
    }
    memcpy(buf, "****", 4);
    if (tail)
        memcpy(buf + 4, s + len - tail, tail);
    buf[4 + tail] = '\0';
    return 0;
}
