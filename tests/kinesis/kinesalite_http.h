/* What the Kinesis tests (kinesis_helpers.h) and the Kinesis benches share
 * to talk to kinesalite directly with libcurl: the response buffer and the
 * request headers (a fixed date and signature: kinesalite checks neither);
 * and the body of a forked worker process. */
#ifndef SL_TEST_KINESALITE_HTTP_H
#define SL_TEST_KINESALITE_HTTP_H

#include "sluice/kinesis.h"
#include "sluice/sluice.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Forks a worker process whose stderr appends to the file @p log (when it
 * can be opened). Returns as fork() does: the child's pid in the parent, 0
 * in the child, -1 when it failed. */
static inline pid_t kh_fork_logged(const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
    return 0;
}

/* The rest of a forked worker: a processor configured by @p kv (NULL-ended
 * key, value pairs) reading Kinesis stream "in", through the stage @p map
 * (unbatched), into "out", faults into "faults", until it stops. Exits the
 * process: 0 when it ran clean, 1 when sl_processor_run() failed, 3 when it
 * could not be built. Never returns. */
static inline _Noreturn void kh_worker_run(const char *const *kv, sl_stage_fn map)
{
    char err[512];
    sl_conf_t *c = sl_conf_new();
    for (size_t i = 0; c && kv[i]; i += 2)
        if (sl_conf_set(c, kv[i], kv[i + 1], err, sizeof err))
            _exit(3);
    sl_processor_t *p = c ? sl_processor_new(c, err, sizeof err) : NULL;
    sl_conf_destroy(c);
    if (!p || sl_kinesis_source_attach(p, "in", err, sizeof err))
        _exit(3);
    sl_sink_t *o = sl_kinesis_sink_new(p, "out", err, sizeof err);
    sl_sink_t *f = sl_kinesis_sink_new(p, "faults", err, sizeof err);
    sl_pipeline_t *pl = sl_pipeline_new("copy");
    sl_batch_opts_t b = {0, 0, -1};
    if (!o || !f || !pl || sl_pipeline_map(pl, map, NULL) || sl_pipeline_batch(pl, &b) ||
        sl_pipeline_sink(pl, o) || sl_processor_add_pipeline(p, pl) ||
        sl_processor_set_fault_sink(p, f))
        _exit(3);
    int rc = sl_processor_run(p);
    sl_processor_destroy(p);
    _exit(rc ? 1 : 0);
}

#endif
