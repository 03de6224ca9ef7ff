/* sluice — Kinesis JSON 1.1 calls over the loop's HTTP client, SigV4-signed. */
#include "kinesis/client.h"
#include "core/util.h"
#include "kinesis/sigv4.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/record.h"

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

/* ---- answers ---- */

int sl__kin_rec_parse(const json_t *r, sl__kin_rec_t *out)
{
    const json_t *data = json_object_get(r, "Data"), *seq = json_object_get(r, "SequenceNumber");
    const json_t *pk = json_object_get(r, "PartitionKey");
    const json_t *at = json_object_get(r, "ApproximateArrivalTimestamp");
    out->data = json_is_string(data) ? json_string_value(data) : NULL;
    out->data_len = json_is_string(data) ? json_string_length(data) : 0;
    out->seq = json_is_string(seq) ? json_string_value(seq) : NULL;
    out->seq_len = json_is_string(seq) ? json_string_length(seq) : 0;
    out->key = json_is_string(pk) ? json_string_value(pk) : "";
    out->key_len = json_is_string(pk) ? json_string_length(pk) : 0;
    /* A double beyond int64 would make the conversion undefined. */
    double ms = json_is_number(at) ? json_number_value(at) * 1000.0 : 0;
    out->arrival_ms = ms >= 0 && ms < 9.2e18 ? (int64_t)ms : 0;
    return out->data && out->seq ? 0 : SL_EFIELD;
}

size_t sl__kin_rec_value(const sl__kin_rec_t *r, unsigned char *out)
{
    if (!r->data)
        return 0;
    size_t n;
    if (!sl_base64_decode(r->data, r->data_len, out, &n))
        return n;
    memcpy(out, r->data, r->data_len);
    return r->data_len;
}

int sl__kin_put_results(const json_t *resp, size_t n, int *entry, char **emsg, char *msg,
                        size_t msg_size)
{
    json_t *recs = json_object_get(resp, "Records");
    if (!json_is_array(recs) || json_array_size(recs) != n) {
        snprintf(msg, msg_size, "kinesis PutRecords: %zu results for %zu records",
                 json_is_array(recs) ? json_array_size(recs) : 0, n);
        return SL_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i);
        const char *code = json_string_value(json_object_get(r, "ErrorCode"));
        if (!code)
            continue;
        const char *m = json_string_value(json_object_get(r, "ErrorMessage"));
        /* Both documented entry errors are transient. */
        entry[i] = SL_EAGAIN;
        char buf[300];
        snprintf(buf, sizeof buf, "kinesis PutRecords entry: %s: %.200s", code, m ? m : "");
        emsg[i] = sl_strdup(buf);
    }
    return 0;
}

/* ---- the client ---- */

static const char *region_of(const sl_conf_t *conf)
{
    const char *region = env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = sl__kin_conf_str(conf, "kinesis.region");
    return region ? region : "us-east-1";
}

const char *sl__kin_endpoint_url(const sl_processor_t *p, char *buf, size_t size)
{
    const sl_conf_t *conf = sl_processor_conf(p);
    const char *ep = env("AWS_ENDPOINT_URL_KINESIS");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL");
    if (!ep)
        ep = sl__kin_conf_str(conf, "kinesis.endpoint");
    if (ep)
        return ep;
    snprintf(buf, size, "https://kinesis.%s.amazonaws.com", region_of(conf));
    return buf;
}

sl__kin_t *sl__kin_new(sl_processor_t *p, char *errstr, size_t errstr_size)
{
    const sl_conf_t *conf = sl_processor_conf(p);
    const char *region = region_of(conf);
    char dflt[128];
    const char *ep = sl__kin_endpoint_url(p, dflt, sizeof dflt);
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk) {
        sl__errf(errstr, errstr_size,
                 "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return NULL;
    }
    const char *hs = strstr(ep, "://");
    if (!hs || strncmp(ep, "http", 4) || !hs[3]) {
        sl__errf(errstr, errstr_size, "bad Kinesis endpoint \"%s\": expected http(s)://host", ep);
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
    k->timeout_ms = (long)sl_conf_get_int(conf, "kinesis.request.timeout.ms");
    return k;
oom:
    sl__kin_destroy(k);
    sl__errf(errstr, errstr_size, "out of memory");
    return NULL;
}

/* Answers that say these credentials cannot use the service or the stream:
 * no retry makes them work. */
static const char *const denied[] = {"AccessDeniedException",
                                     "AccessDenied",
                                     "KMSAccessDeniedException",
                                     "UnrecognizedClientException",
                                     "InvalidSignatureException",
                                     "IncompleteSignatureException",
                                     "MissingAuthenticationTokenException",
                                     "MissingAuthenticationToken",
                                     "InvalidClientTokenId",
                                     "ExpiredTokenException",
                                     NULL};

static sl__kin_fail_t classify(long status, const char *type)
{
    if (status >= 500)
        return KIN_SERVER;
    if (!type)
        return status == 403 ? KIN_DENIED : KIN_INVALID;
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
    for (const char *const *d = denied; *d; d++)
        if (!strcmp(type, *d))
            return KIN_DENIED;
    if (!strcmp(type, "InternalFailure") || !strcmp(type, "ServiceUnavailable"))
        return KIN_SERVER;
    return KIN_INVALID;
}

int sl__kin_answer(long status, const char *body, size_t len, json_t **out, sl__kin_fail_t *why,
                   char *msg, size_t msg_size)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 200 && j) {
        *out = j;
        *why = KIN_OK;
        return 0;
    }
    const char *type = j ? json_string_value(json_object_get(j, "__type")) : NULL;
    const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
    if (!m && j)
        m = json_string_value(json_object_get(j, "Message"));
    *why = status == 200 ? KIN_SERVER : classify(status, type);
    snprintf(msg, msg_size, "kinesis: HTTP %ld %s: %.200s", status, type ? type : "",
             m ? m : (status == 200 ? "unreadable answer" : ""));
    json_decref(j);
    *out = NULL;
    return *why == KIN_THROTTLED   ? SL_EAGAIN
           : *why == KIN_SERVER    ? SL_EIO
           : *why == KIN_EXPIRED   ? SL_ESTATE
           : *why == KIN_NOT_FOUND ? SL_ENOENT
                                   : SL_EINVAL;
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
    json_t *j;
    sl__kin_fail_t why;
    int code = sl__kin_answer(status, body, len, &j, &why, msg, sizeof msg);
    c->cb(c->opaque, code, why, code ? msg : NULL, j);
    json_decref(j);
    sl_free(c);
}

/* The signed headers of a call, and its body (caller frees both). */
static int prepare(sl__kin_t *k, const char *op, json_t *req, char **body, size_t *len,
                   struct curl_slist **hdrs)
{
    *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    *hdrs = NULL;
    if (!*body)
        return SL_ENOMEM;
    *len = strlen(*body);
    char target[96], amz_date[SL__SIGV4_DATE_SIZE];
    snprintf(target, sizeof target, "Kinesis_20131202.%s", op);
    int rc = sl__sigv4_amz_date(time(NULL), amz_date, sizeof amz_date);
    if (!rc)
        rc = sl__sigv4_kinesis_headers(k->access_key, k->secret_key, k->token, k->region, k->host,
                                       amz_date, target, *body, *len, hdrs);
    if (rc) {
        free(*body);
        *body = NULL;
        curl_slist_free_all(*hdrs);
        *hdrs = NULL;
    }
    return rc;
}

int sl__kin_call_sync(sl__kin_t *k, const char *op, json_t *req, long timeout_ms, json_t **resp,
                      sl__kin_fail_t *why, char *msg, size_t msg_size)
{
    char *body;
    size_t len;
    struct curl_slist *hdrs;
    *resp = NULL;
    *why = KIN_INVALID;
    int rc = prepare(k, op, req, &body, &len, &hdrs);
    if (rc) {
        snprintf(msg, msg_size, "kinesis: cannot sign the call: %s", sl_strerror(rc));
        return rc;
    }
    CURL *e = curl_easy_init();
    if (!e) {
        free(body);
        curl_slist_free_all(hdrs);
        return SL_ENOMEM;
    }
    char url[1024], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof url, "%s/", k->endpoint);
    hdrs = curl_slist_append(hdrs, "Expect:");
    sl__http_body_t b = {NULL, 0, 0};
    sl__http_post_opts(e, url, hdrs, body, len, &b, timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    long status;
    CURLcode cc = sl__http_perform(e, &status);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    free(body);
    if (cc != CURLE_OK) {
        snprintf(msg, msg_size, "kinesis: %s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        sl_free(b.p);
        *why = KIN_TRANSPORT;
        return SL_EIO;
    }
    rc = sl__kin_answer(status, b.p ? b.p : "", b.n, resp, why, msg, msg_size);
    sl_free(b.p);
    return rc;
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
    call_t *c = sl_malloc(sizeof *c);
    if (!c) {
        json_decref(req);
        return SL_ENOMEM;
    }
    char *body;
    size_t len;
    struct curl_slist *hdrs;
    int rc = prepare(k, op, req, &body, &len, &hdrs);
    if (rc) {
        sl_free(c);
        return rc;
    }
    c->k = k;
    c->cb = cb;
    c->opaque = opaque;
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
