/* sluice — the Kinesis lease table in DynamoDB, what KCL users already run,
 * for workers on many hosts. Plain synchronous calls (libcurl easy, SigV4):
 * the store runs on the executor's thread, one call at a time.
 *
 * One item per lease, hash key leaseKey = "STREAM/SHARD/APPLICATION" (stream
 * names and shard ids hold no '/'), with application, stream, shard,
 * leaseOwner (absent: nobody), leaseCounter, checkpoint (absent: none) and
 * parentShardIds. Every change but the creation is an UpdateItem whose
 * ConditionExpression is leaseCounter = the counter the worker knows; a
 * ConditionalCheckFailedException is the lost write. The table is created
 * (on demand capacity) when absent.
 *
 * Endpoint: AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else
 * https://dynamodb.REGION.amazonaws.com (AWS_REGION, AWS_DEFAULT_REGION,
 * else us-east-1); credentials from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read at each call (never
 * copied, never logged). */
#include "core/util.h"
#include "kinesis/http.h"
#include "kinesis/lease.h"
#include "kinesis/sigv4.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_TIMEOUT_MS 10000L

typedef struct ldy_s {
    CURL *curl;
    char *endpoint, *host, *region, *table;
    atomic_int stop;
    char err[256];
} ldy_t;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    ldy_t *y = ud;
    return atomic_load(&y->stop) ? 1 : 0; /* interrupt(): abort the transfer */
}

/* One call: 0 with *out the answer (caller decrefs); SL__LEASE_LOST for a
 * ConditionalCheckFailedException; SL_ENOENT for ResourceNotFoundException;
 * SL_EEXIST for ResourceInUseException; retriable SL_EIO (transport, 5xx),
 * SL_EBUSY (throttling), SL_EAGAIN (interrupted); SL_ESTORE otherwise. */
static int call(ldy_t *y, const char *op, json_t *req, json_t **out)
{
    *out = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return SL_ENOMEM;
    if (atomic_exchange(&y->stop, 0)) {
        free(body);
        return SL_EAGAIN;
    }
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk) {
        free(body);
        snprintf(y->err, sizeof y->err, "dynamodb: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset");
        return SL_ESTORE;
    }
    sl__sigv4_creds_t cr = {ak, sk, env("AWS_SESSION_TOKEN")};
    char date[SL__SIGV4_DATE_SIZE], target[96];
    sl__sigv4_amz_date(time(NULL), date, sizeof date);
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", op);
    sl__sigv4_header_t hd[5] = {{"Host", y->host},
                                {"X-Amz-Date", date},
                                {"X-Amz-Target", target},
                                {"Content-Type", "application/x-amz-json-1.0"},
                                {"X-Amz-Security-Token", cr.session_token}};
    size_t nh = cr.session_token ? 5 : 4;
    sl__sigv4_req_t sreq = {"POST", "/", "", hd, nh, body, strlen(body)};
    sl__sigv4_out_t sig;
    int rc = sl__sigv4_sign(&cr, y->region, "dynamodb", date, &sreq, &sig);
    if (rc) {
        free(body);
        snprintf(y->err, sizeof y->err, "dynamodb: cannot sign the request: %s", sl_strerror(rc));
        return rc == SL_ENOMEM ? rc : SL_ESTORE;
    }
    struct curl_slist *h = NULL;
    char line[4096];
    int oom = 0;
    for (size_t i = 1; i < nh && !oom; i++) { /* curl sends Host itself */
        snprintf(line, sizeof line, "%s: %s", hd[i].name, hd[i].value);
        struct curl_slist *n = curl_slist_append(h, line);
        oom = !n;
        h = n ? n : h;
    }
    snprintf(line, sizeof line, "Authorization: %s", sig.authorization);
    struct curl_slist *n = oom ? NULL : curl_slist_append(h, line);
    h = n ? n : h;
    sl__sigv4_out_fini(&sig);
    if (!n) {
        curl_slist_free_all(h);
        free(body);
        return SL_ENOMEM;
    }
    sl__http_body_t b = {NULL, 0, 0};
    CURL *c = y->curl;
    curl_easy_reset(c);
    sl__http_post_opts(c, y->endpoint, h, body, strlen(body), &b, CALL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, y);
    long status;
    CURLcode cc = sl__http_perform(c, &status);
    curl_slist_free_all(h);
    free(body);
    if (cc != CURLE_OK) {
        sl_free(b.p);
        if (cc == CURLE_ABORTED_BY_CALLBACK) {
            atomic_store(&y->stop, 0);
            return SL_EAGAIN;
        }
        snprintf(y->err, sizeof y->err, "dynamodb at %s: %s", y->endpoint, curl_easy_strerror(cc));
        return SL_EIO;
    }
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    sl_free(b.p);
    if (status == 200 && j) {
        *out = j;
        return 0;
    }
    const char *type = json_string_value(json_object_get(j, "__type"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "Message"));
    const char *t = type && strchr(type, '#') ? strchr(type, '#') + 1 : type ? type : "";
    snprintf(y->err, sizeof y->err, "dynamodb %s: HTTP %ld %s: %s", op, status, t, msg ? msg : "");
    if (!strcmp(t, "ConditionalCheckFailedException"))
        rc = SL__LEASE_LOST;
    else if (!strcmp(t, "ResourceNotFoundException"))
        rc = SL_ENOENT;
    else if (!strcmp(t, "ResourceInUseException"))
        rc = SL_EEXIST;
    else if (strstr(t, "Throughput") || strstr(t, "Throttling") || strstr(t, "LimitExceeded") ||
             strstr(t, "RequestLimit"))
        rc = SL_EBUSY;
    else if (status >= 500 || status == 0)
        rc = SL_EIO;
    else
        rc = SL_ESTORE;
    json_decref(j);
    return rc;
}

static const char *attr_s(const json_t *item, const char *name)
{
    return json_string_value(json_object_get(json_object_get(item, name), "S"));
}

static char *lease_key(const char *app, const char *stream, const char *shard)
{
    size_t n = strlen(app) + strlen(stream) + strlen(shard) + 3;
    char *k = sl_malloc(n);
    if (k)
        snprintf(k, n, "%s/%s/%s", stream, shard, app);
    return k;
}

static int ldy_list(void *st, const char *app, const char *stream, sl__lease_each_fn each,
                    void *opaque)
{
    ldy_t *y = st;
    json_t *start = NULL;
    for (;;) {
        json_t *req =
            json_pack("{s:s,s:s,s:b,s:{s:s,s:s},s:{s:{s:s},s:{s:s}}}", "TableName", y->table,
                      "FilterExpression", "#a = :a AND #s = :s", "ConsistentRead", 1,
                      "ExpressionAttributeNames", "#a", "application", "#s", "stream",
                      "ExpressionAttributeValues", ":a", "S", app, ":s", "S", stream);
        if (!req) {
            json_decref(start);
            return SL_ENOMEM;
        }
        if (start)
            json_object_set_new(req, "ExclusiveStartKey", start);
        json_t *resp;
        int rc = call(y, "Scan", req, &resp);
        if (rc)
            return rc;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(resp, "Items"), i, it)
        {
            const char *cnt =
                json_string_value(json_object_get(json_object_get(it, "leaseCounter"), "N"));
            sl__lease_t l = {.shard = attr_s(it, "shard"),
                             .owner = attr_s(it, "leaseOwner"),
                             .counter = cnt ? strtoll(cnt, NULL, 10) : 0,
                             .ckpt = attr_s(it, "checkpoint"),
                             .parents = attr_s(it, "parentShardIds")};
            if (l.shard && (rc = each(opaque, &l))) {
                json_decref(resp);
                return rc;
            }
        }
        start = json_incref(json_object_get(resp, "LastEvaluatedKey"));
        json_decref(resp);
        if (!start)
            return 0;
    }
}

static int ldy_create(void *st, const char *app, const char *stream, const char *shard,
                      const char *parents)
{
    ldy_t *y = st;
    char *key = lease_key(app, stream, shard);
    if (!key)
        return SL_ENOMEM;
    json_t *item =
        json_pack("{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s}}", "leaseKey", "S", key, "application",
                  "S", app, "stream", "S", stream, "shard", "S", shard, "leaseCounter", "N", "0");
    sl_free(key);
    if (item && parents && *parents)
        json_object_set_new(item, "parentShardIds", json_pack("{s:s}", "S", parents));
    json_t *req = item ? json_pack("{s:s,s:o,s:s}", "TableName", y->table, "Item", item,
                                   "ConditionExpression", "attribute_not_exists(leaseKey)")
                       : NULL;
    if (!req)
        return SL_ENOMEM;
    json_t *resp;
    int rc = call(y, "PutItem", req, &resp);
    json_decref(resp);
    return rc == SL__LEASE_LOST ? 0 : rc; /* there already */
}

static int ldy_update(void *st, const char *app, const char *stream, const char *shard,
                      int64_t expect, const char *owner, const char *ckpt)
{
    ldy_t *y = st;
    char *key = lease_key(app, stream, shard);
    if (!key)
        return SL_ENOMEM;
    char e[24], n[24], expr[160];
    snprintf(e, sizeof e, "%lld", (long long)expect);
    snprintf(n, sizeof n, "%lld", (long long)expect + 1);
    int own = owner && *owner;
    snprintf(expr, sizeof expr, "SET leaseCounter = :n%s%s%s", own ? ", leaseOwner = :o" : "",
             ckpt ? ", checkpoint = :c" : "", own ? "" : " REMOVE leaseOwner");
    json_t *vals = json_pack("{s:{s:s},s:{s:s}}", ":e", "N", e, ":n", "N", n);
    if (vals && own)
        json_object_set_new(vals, ":o", json_pack("{s:s}", "S", owner));
    if (vals && ckpt)
        json_object_set_new(vals, ":c", json_pack("{s:s}", "S", ckpt));
    json_t *req =
        vals ? json_pack("{s:s,s:{s:{s:s}},s:s,s:s,s:o}", "TableName", y->table, "Key", "leaseKey",
                         "S", key, "UpdateExpression", expr, "ConditionExpression",
                         "leaseCounter = :e", "ExpressionAttributeValues", vals)
             : NULL;
    sl_free(key);
    if (!req)
        return SL_ENOMEM;
    json_t *resp;
    int rc = call(y, "UpdateItem", req, &resp);
    json_decref(resp);
    return rc;
}

static void ldy_interrupt(void *st)
{
    ldy_t *y = st;
    if (y)
        atomic_store(&y->stop, 1);
}

static void ldy_close(void *st)
{
    ldy_t *y = st;
    if (!y)
        return;
    if (y->curl)
        curl_easy_cleanup(y->curl);
    sl_free(y->endpoint);
    sl_free(y->host);
    sl_free(y->region);
    sl_free(y->table);
    sl_free(y);
}

static const sl__lease_ops_t ldy_ops = {
    .kind = "dynamodb",
    .list = ldy_list,
    .create = ldy_create,
    .update = ldy_update,
    .interrupt = ldy_interrupt,
    .close = ldy_close,
};

/* The table exists and is ACTIVE, created when absent. */
static int ensure_table(ldy_t *y)
{
    for (int attempt = 0; attempt < 300; attempt++) {
        json_t *resp;
        int rc = call(y, "DescribeTable", json_pack("{s:s}", "TableName", y->table), &resp);
        if (!rc) {
            const char *st =
                json_string_value(json_object_get(json_object_get(resp, "Table"), "TableStatus"));
            int active = st && !strcmp(st, "ACTIVE");
            json_decref(resp);
            if (active)
                return 0;
        } else if (rc == SL_ENOENT) {
            rc = call(y, "CreateTable",
                      json_pack("{s:s,s:[{s:s,s:s}],s:[{s:s,s:s}],s:s}", "TableName", y->table,
                                "AttributeDefinitions", "AttributeName", "leaseKey",
                                "AttributeType", "S", "KeySchema", "AttributeName", "leaseKey",
                                "KeyType", "HASH", "BillingMode", "PAY_PER_REQUEST"),
                      &resp);
            json_decref(resp);
            if (rc && rc != SL_EEXIST) /* another worker created it meanwhile: fine */
                return rc;
        } else {
            return rc;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    snprintf(y->err, sizeof y->err, "dynamodb table %s did not become ACTIVE in 30 s", y->table);
    return SL_ETIMEDOUT;
}

int sl__lease_dynamodb_open(const char *table, sl__lease_store_t *out, char *errstr,
                            size_t errstr_size)
{
    *out = (sl__lease_store_t){NULL, NULL};
    ldy_t *y = sl_calloc(1, sizeof *y);
    if (!y) {
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    const char *region = env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    const char *ep = env("AWS_ENDPOINT_URL_DYNAMODB");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL");
    char def[256];
    if (!ep) {
        snprintf(def, sizeof def, "https://dynamodb.%s.amazonaws.com", region);
        ep = def;
    }
    const char *h = strstr(ep, "://");
    h = h ? h + 3 : ep;
    size_t hl = strcspn(h, "/?#");
    y->endpoint = sl_strdup(ep);
    y->host = sl_malloc(hl + 1);
    y->region = sl_strdup(region);
    y->table = sl_strdup(table);
    y->curl = curl_easy_init();
    if (!y->endpoint || !y->host || !y->region || !y->table || !y->curl) {
        ldy_close(y);
        sl__errf(errstr, errstr_size, "out of memory");
        return SL_ENOMEM;
    }
    memcpy(y->host, h, hl);
    y->host[hl] = 0;
    int rc = ensure_table(y);
    if (rc) {
        sl__errf(errstr, errstr_size, "lease table %s: %s", table, y->err);
        ldy_close(y);
        return rc == SL_ENOENT || rc == SL_EEXIST ? SL_ESTORE : rc;
    }
    *out = (sl__lease_store_t){&ldy_ops, y};
    return 0;
}
