/* Helpers for the Kinesis integration suites: kinesalite and its
 * fault-injecting proxy (tests/kinesis/server/server.js, started with node
 * on 127.0.0.1), plain synchronous Kinesis calls with libcurl (kinesalite
 * checks no signature), and a processor run on its own thread. */
#ifndef SL_TEST_KINESIS_HELPERS_H
#define SL_TEST_KINESIS_HELPERS_H

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test_util.h"
#include "kinesalite_http.h"
#include "sluice/sluice.h"

extern char **environ;

typedef struct kk_server_s {
    pid_t pid;
    int stdin_fd; /* the server exits when this closes */
    char kinesalite[128], proxy[128], dynalite[128];
    char dir[64];
} kk_server_t;

/* The credentials and region every test signs with; with @p endpoint,
 * also the Kinesis endpoint (kinesalite or its proxy). */
static inline void kk_env(const char *endpoint)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    if (endpoint)
        setenv("AWS_ENDPOINT_URL_KINESIS", endpoint, 1);
}

/* Start the server with @p streams ("name:shards", NULL-terminated). */
static inline void kk_start(kk_server_t *s, const char *const *streams)
{
    const char *js = getenv("SLUICE_KINESIS_SERVER");
    if (!js)
        cr_skip_test("SLUICE_KINESIS_SERVER is not set");
    memset(s, 0, sizeof *s);
    tu_mkdtemp(s->dir, sizeof s->dir, "sluice-kin");
    char pf[128];
    snprintf(pf, sizeof pf, "%s/ports.json", s->dir);
    char *argv[40] = {"node", (char *)js, "--port-file", pf, "--exit-on-stdin-eof"};
    int n = 5;
    for (; streams && *streams && n < 36; streams++) {
        argv[n++] = "--stream";
        argv[n++] = (char *)*streams;
    }
    argv[n] = NULL;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char log[128];
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    cr_assert_eq(posix_spawnp(&s->pid, "node", &fa, NULL, argv, environ), 0, "spawn node");
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    s->stdin_fd = fds[1];
    fcntl(s->stdin_fd, F_SETFD, FD_CLOEXEC);
    json_t *j = NULL;
    for (int64_t end = tu_now_ms() + 30000; !j && tu_now_ms() < end;) {
        j = json_load_file(pf, 0, NULL);
        if (!j)
            tu_sleep_ms(50);
    }
    cr_assert(j, "the Kinesis test server did not start (see %s)", log);
    snprintf(s->kinesalite, sizeof s->kinesalite, "%s",
             json_string_value(json_object_get(j, "kinesalite")));
    snprintf(s->proxy, sizeof s->proxy, "%s", json_string_value(json_object_get(j, "proxy")));
    const char *dy = json_string_value(json_object_get(j, "dynalite"));
    snprintf(s->dynalite, sizeof s->dynalite, "%s", dy ? dy : "");
    json_decref(j);
}

static inline void kk_stop(kk_server_t *s)
{
    close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    int st;
    waitpid(s->pid, &st, 0);
    if (tu_rmtree(s->dir))
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* A synchronous call; returns the answer (caller decrefs) and its status. */
static inline json_t *kk_call_status(const char *url, const char *path, const char *op, json_t *req,
                                     long *status)
{
    CURL *c = curl_easy_init();
    cr_assert(c);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char full[256];
    snprintf(full, sizeof full, "%s%s", url, path);
    struct curl_slist *h = kh_headers(op, "AKIDTEST");
    kh_body_t b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else if (!op && strcmp(path, "/__stats")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kh_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", full, op ? op : "", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return j;
}

static inline json_t *kk_call(const char *url, const char *op, json_t *req)
{
    long st = 0;
    json_t *j = kk_call_status(url, "/", op, req, &st);
    cr_assert_eq(st, 200, "%s: HTTP %ld %s", op, st,
                 j ? json_string_value(json_object_get(j, "__type")) : "");
    return j;
}

/* POST /__faults (JSON text) to the proxy. */
static inline void kk_faults(const kk_server_t *s, const char *json)
{
    json_t *req = json_loads(json, 0, NULL);
    cr_assert(req, "bad faults JSON");
    long st = 0;
    json_t *r = kk_call_status(s->proxy, "/__faults", NULL, req, &st);
    cr_assert_eq(st, 200, "faults: HTTP %ld", st);
    json_decref(r);
}

static inline json_t *kk_stats(const kk_server_t *s)
{
    long st = 0;
    json_t *r = kk_call_status(s->proxy, "/__stats", NULL, NULL, &st);
    cr_assert_eq(st, 200);
    return r;
}

/* PutRecords of @p n values with their keys, in calls of up to 500; asserts
 * that nothing failed. */
static inline void kk_put(const char *url, const char *stream, const char *const *keys,
                          const char *const *values, size_t n)
{
    for (size_t i = 0; i < n;) {
        json_t *recs = json_array();
        for (size_t k = 0; k < 500 && i < n; k++, i++) {
            size_t vl = strlen(values[i]);
            char *b = malloc(4 * ((vl + 2) / 3) + 1);
            static const char t[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            size_t o = 0, j = 0;
            const unsigned char *v = (const unsigned char *)values[i];
            for (; j + 3 <= vl; j += 3) {
                unsigned x = (unsigned)v[j] << 16 | (unsigned)v[j + 1] << 8 | v[j + 2];
                b[o++] = t[x >> 18], b[o++] = t[(x >> 12) & 63], b[o++] = t[(x >> 6) & 63],
                b[o++] = t[x & 63];
            }
            if (j < vl) {
                unsigned x = (unsigned)v[j] << 16 | (j + 1 < vl ? (unsigned)v[j + 1] << 8 : 0);
                b[o++] = t[x >> 18], b[o++] = t[(x >> 12) & 63];
                b[o++] = j + 1 < vl ? t[(x >> 6) & 63] : '=';
                b[o++] = '=';
            }
            b[o] = 0;
            json_array_append_new(recs, json_pack("{s:s,s:s}", "Data", b, "PartitionKey", keys[i]));
            free(b);
        }
        json_t *r = kk_call(url, "PutRecords",
                            json_pack("{s:s,s:o}", "StreamName", stream, "Records", recs));
        cr_assert_eq(json_integer_value(json_object_get(r, "FailedRecordCount")), 0);
        json_decref(r);
    }
}

/* Every record of @p stream, shard by shard from the start, decoded: an
 * array of {"shard", "key", "value"} in shard order then read order. */
static inline json_t *kk_read_all(const char *url, const char *stream)
{
    json_t *out = json_array();
    json_t *ls = kk_call(url, "ListShards", json_pack("{s:s}", "StreamName", stream));
    size_t i;
    json_t *sh;
    json_array_foreach(json_object_get(ls, "Shards"), i, sh)
    {
        const char *id = json_string_value(json_object_get(sh, "ShardId"));
        json_t *it = kk_call(url, "GetShardIterator",
                             json_pack("{s:s,s:s,s:s}", "StreamName", stream, "ShardId", id,
                                       "ShardIteratorType", "TRIM_HORIZON"));
        char *iter = strdup(json_string_value(json_object_get(it, "ShardIterator")));
        json_decref(it);
        for (int guard = 0; iter && guard < 1000; guard++) {
            json_t *r = kk_call(url, "GetRecords", json_pack("{s:s}", "ShardIterator", iter));
            free(iter);
            iter = NULL;
            size_t k;
            json_t *rec;
            json_array_foreach(json_object_get(r, "Records"), k, rec)
            {
                const char *d = json_string_value(json_object_get(rec, "Data"));
                size_t dl = strlen(d);
                unsigned char *v = calloc(1, dl + 1);
                size_t o = 0;
                unsigned acc = 0;
                int bits = 0;
                for (size_t q = 0; q < dl && d[q] != '='; q++) {
                    const char *t =
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                    acc = acc << 6 | (unsigned)(strchr(t, d[q]) - t);
                    bits += 6;
                    if (bits >= 8) {
                        bits -= 8;
                        v[o++] = (unsigned char)(acc >> bits);
                    }
                }
                json_array_append_new(
                    out, json_pack("{s:s,s:s,s:s%}", "shard", id, "key",
                                   json_string_value(json_object_get(rec, "PartitionKey")), "value",
                                   (const char *)v, o));
                free(v);
            }
            const char *next = json_string_value(json_object_get(r, "NextShardIterator"));
            int more = json_array_size(json_object_get(r, "Records")) > 0 ||
                       json_integer_value(json_object_get(r, "MillisBehindLatest")) > 0;
            if (next && more)
                iter = strdup(next);
            json_decref(r);
        }
        free(iter);
    }
    json_decref(ls);
    return out;
}

/* ---- a processor on its own thread ---- */

typedef struct kk_run_s {
    sl_processor_t *p;
    pthread_t th;
    int rc;
} kk_run_t;

static void *kk_thread(void *a)
{
    kk_run_t *r = a;
    r->rc = sl_processor_run(r->p);
    return NULL;
}

static inline void kk_run(kk_run_t *r, sl_processor_t *p)
{
    r->p = p;
    r->rc = -999;
    cr_assert_eq(pthread_create(&r->th, NULL, kk_thread, r), 0);
}

static inline int kk_stop_run(kk_run_t *r)
{
    sl_processor_stop(r->p);
    pthread_join(r->th, NULL);
    sl_processor_destroy(r->p);
    return r->rc;
}

/* Waits up to 60 s for @p want records on @p stream; returns what is there
 * then (the caller decrefs). */
static inline json_t *kk_wait_records(const char *url, const char *stream, size_t want)
{
    json_t *all = NULL;
    for (int64_t end = tu_now_ms() + 60000; tu_now_ms() < end;) {
        json_decref(all);
        all = kk_read_all(url, stream);
        if (json_array_size(all) >= want)
            break;
        tu_sleep_ms(200);
    }
    return all;
}

/* A processor @p app (processor.name and kinesis.application, its
 * checkpoints in @p dir/checkpoints.db) reading Kinesis stream @p in and
 * writing what @p map makes to stream @p out, its faults to "faults", in a
 * pipeline @p pipeline (with a batch stage of the defaults when @p batch);
 * polling every 50 ms, committing every 100 ms, lingering 20 ms; then the
 * settings @p kv and @p extra (key, value, ..., NULL; or NULL). */
static inline sl_processor_t *kk_processor(const char *app, const char *dir, const char *in,
                                           const char *out, const char *pipeline, sl_stage_fn map,
                                           int batch, const char *const *kv_more,
                                           const char *const *extra)
{
    char err[512], ck[300];
    snprintf(ck, sizeof ck, "sqlite:%s/checkpoints.db", dir);
    /* Polls, commits and batches paced for tests. */
    const char *kv[64] = {"processor.name",           app,  "processor.signals",   "false",
                          "kinesis.application",      app,  "kinesis.checkpoints", ck,
                          "kinesis.poll.interval.ms", "50", "commit.interval.ms",  "100",
                          "batch.linger.ms",          "20"};
    size_t n = 14;
    for (size_t i = 0; kv_more && kv_more[i]; i++) {
        cr_assert(n < sizeof kv / sizeof kv[0] - 1, "kk_processor: too many settings");
        kv[n++] = kv_more[i];
    }
    kv[n] = NULL;
    sl_processor_t *p = tu_processor(kv, extra);
    cr_assert_eq(sl_kinesis_source_attach(p, in, err, sizeof err), 0, "%s", err);
    sl_sink_t *o = sl_kinesis_sink_new(p, out, err, sizeof err);
    sl_sink_t *f = sl_kinesis_sink_new(p, "faults", err, sizeof err);
    cr_assert(o && f, "%s", err);
    sl_pipeline_t *pl = sl_pipeline_new(pipeline);
    cr_assert_eq(sl_pipeline_map(pl, map, NULL), 0);
    if (batch) {
        sl_batch_opts_t b = {0, 0, -1};
        cr_assert_eq(sl_pipeline_batch(pl, &b), 0);
    }
    cr_assert_eq(sl_pipeline_sink(pl, o), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, f), 0);
    return p;
}

#endif
