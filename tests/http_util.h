/* One HTTP request from a test to a server on 127.0.0.1 (the operations
 * endpoint, the query API, added routes), with libcurl: the tests of
 * tests/processors and tests/kinesis share it. */
#ifndef SL_TEST_HTTP_UTIL_H
#define SL_TEST_HTTP_UTIL_H

#include "kinesis/kinesalite_http.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A request: @p method NULL is GET, @p header one extra request header line
 * or NULL, @p timeout_ms 0 is 20 s. With @p lenient a transfer that fails
 * (refused, timed out) returns 0; without, it fails the test. */
typedef struct {
    int port;
    const char *method;
    const char *path;
    const char *header;
    long timeout_ms;
    int lenient;
} th_req_t;

/* Sends @p q to http://127.0.0.1:port/path (the path sent as written, no
 * normalisation of ".." or "%"). Returns the status; the body and the raw
 * response headers (malloc'ed, NUL-terminated) in *@p body and *@p hdrs when
 * not NULL, freed otherwise. */
static inline long th_http(const th_req_t *q, char **body, char **hdrs)
{
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", q->port, q->path);
    CURL *c = curl_easy_init();
    cr_assert(c);
    kh_body_t b = {calloc(1, 1), 0}, h = {calloc(1, 1), 0};
    struct curl_slist *hl = q->header ? curl_slist_append(NULL, q->header) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (q->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kh_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, kh_body_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms ? q->timeout_ms : 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    CURLcode rc = curl_easy_perform(c);
    cr_assert(q->lenient || rc == CURLE_OK, "%s %s: %s", q->method ? q->method : "GET", url,
              curl_easy_strerror(rc));
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (body)
        *body = b.p;
    else
        free(b.p);
    if (hdrs)
        *hdrs = h.p;
    else
        free(h.p);
    return status;
}

/* promtool check metrics (SLUICE_PROMTOOL) over @p text: the exposition
 * format and its naming conventions; a failure fails the test with
 * promtool's words. Without SLUICE_PROMTOOL the test fails when @p required,
 * is skipped otherwise. */
static inline void th_promtool(const char *text, int required)
{
    const char *tool = getenv("SLUICE_PROMTOOL");
    if (!tool && !required)
        cr_skip_test("SLUICE_PROMTOOL is not set");
    cr_assert(tool, "SLUICE_PROMTOOL is not set");
    char path[] = "/tmp/sluice-prom-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[512], outp[64];
    snprintf(outp, sizeof outp, "%s.out", path);
    snprintf(cmd, sizeof cmd, "'%s' check metrics < %s > %s 2>&1", tool, path, outp);
    int rc = system(cmd);
    char msg[2048] = "";
    FILE *f = fopen(outp, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = 0;
        fclose(f);
    }
    unlink(path);
    unlink(outp);
    cr_assert_eq(rc, 0, "promtool check metrics failed:\n%s\non:\n%s", msg, text);
}

/* The value of the sample @p s (name with its labels, exactly as rendered,
 * e.g. name{a="b"}) in the exposition @p text; -1e300 when absent. */
static inline double th_sample(const char *text, const char *s)
{
    size_t n = strlen(s);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, s, n) && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1e300;
}

#endif
