/* sluice — Kinesis JSON 1.1 calls over the loop's HTTP client, SigV4-signed. */
#include "kinesis/client.h"
#include "kinesis/sigv4.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sl__kin_s {
    sl_processor_t *proc;
    sl__http_t *http;
    char *endpoint; /* scheme://host[:port] */
    char *host;     /* host[:port], for the Host header and the signature */
    char *region;
    char *access_key, *secret_key, *token;
    long timeout_ms;
};

typedef struct call_s {
    sl__kin_t *k;
    sl__kin_cb cb;
    void *opaque;
} call_t;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

long long sl__kin_conf_int(sl_processor_t *p, const char *name, long long def, long long lo,
                           long long hi)
{
    const char *v = sl_conf_get_str_pt(sl_processor_conf(p), name);
    if (!v)
        return def;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v || x < lo || x > hi)
        return def;
    return x;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sl__b64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *s = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long sl__b64_decode(const char *in, size_t n, unsigned char *out)
{
    if (n % 4)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64v(in[i]), b = b64v(in[i + 1]);
        int pad2 = in[i + 2] == '=', pad3 = in[i + 3] == '=';
        int c = pad2 ? 0 : b64v(in[i + 2]), d = pad3 ? 0 : b64v(in[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0 || (pad2 && !pad3) || ((pad2 || pad3) && i + 4 != n))
            return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[o++] = (unsigned char)(v >> 16);
        if (!pad2)
            out[o++] = (unsigned char)(v >> 8);
        if (!pad3)
            out[o++] = (unsigned char)v;
    }
    return o;
}

/* ---- the client ---- */

sl__kin_t *sl__kin_new(sl_processor_t *p, char *errstr, size_t errstr_size)
{
    const sl_conf_t *conf = sl_processor_conf(p);
    const char *region = env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = sl_conf_get_str_pt(conf, "kinesis.region");
    if (!region)
        region = "us-east-1";
    const char *ep = env("AWS_ENDPOINT_URL_KINESIS");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL");
    if (!ep)
        ep = sl_conf_get_str_pt(conf, "kinesis.endpoint");
    char dflt[128];
    if (!ep) {
        snprintf(dflt, sizeof dflt, "https://kinesis.%s.amazonaws.com", region);
        ep = dflt;
    }
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size,
                     "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return NULL;
    }
    const char *hs = strstr(ep, "://");
    if (!hs || strncmp(ep, "http", 4) || !hs[3]) {
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "bad Kinesis endpoint \"%s\": expected http(s)://host",
                     ep);
        return NULL;
    }
    sl__kin_t *k = sl_calloc(1, sizeof *k);
    if (!k)
        goto oom;
    k->proc = p;
    k->endpoint = sl_strdup(ep);
    k->region = sl_strdup(region);
    k->access_key = sl_strdup(ak);
    k->secret_key = sl_strdup(sk);
    k->token = env("AWS_SESSION_TOKEN") ? sl_strdup(env("AWS_SESSION_TOKEN")) : NULL;
    size_t hl = strcspn(hs + 3, "/");
    k->host = sl_malloc(hl + 1);
    if (!k->endpoint || !k->region || !k->access_key || !k->secret_key || !k->host ||
        (env("AWS_SESSION_TOKEN") && !k->token))
        goto oom;
    memcpy(k->host, hs + 3, hl);
    k->host[hl] = 0;
    /* a trailing slash would change the signed path */
    size_t el = strlen(k->endpoint);
    while (el && k->endpoint[el - 1] == '/')
        k->endpoint[--el] = 0;
    k->timeout_ms = (long)sl__kin_conf_int(p, "kinesis.request.timeout.ms", 10000, 100, 600000);
    return k;
oom:
    sl__kin_destroy(k);
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory");
    return NULL;
}

static sl__kin_fail_t classify(long status, const char *type)
{
    if (status >= 500)
        return KIN_SERVER;
    if (!type)
        return KIN_INVALID;
    const char *h = strrchr(type, '#'); /* "com.amazonaws.kinesis#Name" */
    if (h)
        type = h + 1;
    if (!strcmp(type, "ProvisionedThroughputExceededException") ||
        !strcmp(type, "LimitExceededException") || !strcmp(type, "ThrottlingException") ||
        !strcmp(type, "KMSThrottlingException"))
        return KIN_THROTTLED;
    if (!strcmp(type, "ExpiredIteratorException"))
        return KIN_EXPIRED;
    if (!strcmp(type, "ResourceNotFoundException"))
        return KIN_NOT_FOUND;
    if (!strcmp(type, "InternalFailure") || !strcmp(type, "ServiceUnavailable"))
        return KIN_SERVER;
    return KIN_INVALID;
}

static void on_http(void *opaque, int err, long status, const char *body, size_t len,
                    const char *errmsg)
{
    call_t *c = opaque;
    char msg[300];
    if (err) {
        snprintf(msg, sizeof msg, "kinesis: %s", errmsg ? errmsg : sl_strerror(err));
        c->cb(c->opaque, err == SL_ESHUTDOWN ? SL_ESHUTDOWN : SL_EIO,
              err == SL_ESHUTDOWN ? KIN_SHUTDOWN : KIN_TRANSPORT, msg, NULL);
        sl_free(c);
        return;
    }
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 200 && j) {
        c->cb(c->opaque, 0, KIN_OK, NULL, j);
    } else {
        const char *type = j ? json_string_value(json_object_get(j, "__type")) : NULL;
        const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
        if (!m && j)
            m = json_string_value(json_object_get(j, "Message"));
        sl__kin_fail_t why = status == 200 ? KIN_SERVER : classify(status, type);
        snprintf(msg, sizeof msg, "kinesis: HTTP %ld %s: %.200s", status, type ? type : "",
                 m ? m : (status == 200 ? "unreadable answer" : ""));
        int code = why == KIN_THROTTLED   ? SL_EAGAIN
                   : why == KIN_SERVER    ? SL_EIO
                   : why == KIN_EXPIRED   ? SL_ESTATE
                   : why == KIN_NOT_FOUND ? SL_ENOENT
                                          : SL_EINVAL;
        c->cb(c->opaque, code, why, msg, NULL);
    }
    json_decref(j);
    sl_free(c);
}

int sl__kin_call(sl__kin_t *k, const char *op, json_t *req, sl__kin_cb cb, void *opaque)
{
    if (!k->http) {
        k->http = sl__http_new(sl__proc_loop(k->proc));
        if (!k->http) {
            json_decref(req);
            return SL_ENOMEM;
        }
    }
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    call_t *c = sl_malloc(sizeof *c);
    if (!body || !c) {
        free(body);
        sl_free(c);
        return SL_ENOMEM;
    }
    c->k = k;
    c->cb = cb;
    c->opaque = opaque;
    size_t len = strlen(body);
    char target[96], amz_date[20];
    snprintf(target, sizeof target, "Kinesis_20131202.%s", op);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    struct curl_slist *hdrs = NULL;
    int rc = sl__sigv4_kinesis_headers(k->access_key, k->secret_key, k->token, k->region, k->host,
                                       amz_date, target, body, len, &hdrs);
    if (rc) {
        free(body);
        sl_free(c);
        curl_slist_free_all(hdrs);
        return rc;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s/", k->endpoint);
    rc = sl__http_post(k->http, url, hdrs, body, len, k->timeout_ms, on_http, c);
    if (rc)
        sl_free(c);
    return rc;
}

void sl__kin_close(sl__kin_t *k)
{
    if (k && k->http)
        sl__http_close(k->http);
}

void sl__kin_destroy(sl__kin_t *k)
{
    if (!k)
        return;
    sl__http_destroy(k->http);
    sl_free(k->endpoint);
    sl_free(k->host);
    sl_free(k->region);
    if (k->secret_key) /* not left in freed memory */
        memset(k->secret_key, 0, strlen(k->secret_key));
    sl_free(k->access_key);
    sl_free(k->secret_key);
    sl_free(k->token);
    sl_free(k);
}

const char *sl__kin_endpoint(const sl__kin_t *k)
{
    return k ? k->endpoint : NULL;
}
