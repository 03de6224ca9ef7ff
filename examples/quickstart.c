/* sluice quick start: a listener-style pipeline run in memory with the
 * public test driver. It keeps a lean view of "things" (newest state per
 * id), turns malformed records into fault events and reports what happened.
 *
 *   ./build/examples/sluice-quickstart [EVENTS]
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NKEYS 200

/* The "view": newest timestamp per thing id, as the materialize flavor keeps. */
typedef struct view_s {
    int64_t ts[NKEYS];
    int present[NKEYS];
    size_t upserts, stale, deletes;
} view_t;

/* map: the event becomes a small view row keyed by its partition key. It
 * reads only the envelope (type, partitionKey, timestamp), which the scanner
 * took from the bytes without building a JSON tree; a stage that needs the
 * whole body calls sl_uow_body() and pays for the parse once. */
static sl_result_t to_row(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t key = sl_uow_key(u), type = sl_uow_type(u);
    if (key.len < 7 || memcmp(key.ptr, "thing-", 6)) {
        sl_uow_fail(u, SL_ESTAGE, "partitionKey is not a thing id");
        return SL_FAULT;
    }
    char row[256];
    int n = snprintf(row, sizeof row, "{\"id\":\"%.*s\",\"type\":\"%.*s\",\"timestamp\":%lld}",
                     (int)key.len, key.ptr, (int)type.len, type.ptr,
                     (long long)sl_uow_envelope(u)->timestamp);
    if (n < 0 || (size_t)n >= sizeof row) {
        sl_uow_fail(u, SL_ETOOBIG, "row does not fit");
        return SL_FAULT;
    }
    return sl_uow_set_output(u, key.ptr, key.len, row, (size_t)n) ? SL_RETRY : SL_OK;
}

/* sink: apply a batch of compacted rows to the view, newest timestamp wins. */
static int view_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    view_t *v = opaque;
    for (size_t i = 0; i < n; i++) {
        const sl_envelope_t *env = sl_uow_envelope(uows[i]);
        sl_span_t key, type = sl_uow_type(uows[i]);
        sl_uow_output(uows[i], &key, NULL);
        int k = atoi(key.ptr + 6); /* "thing-123" */
        if (k < 0 || k >= NKEYS) {
            sl_uow_ack(uows[i], SL_ESINK);
            continue;
        }
        if (env->timestamp <= v->ts[k] && v->present[k]) {
            v->stale++;
        } else if (type.len >= 8 && !memcmp(type.ptr + type.len - 8, "-deleted", 8)) {
            v->present[k] = 0;
            v->ts[k] = env->timestamp;
            v->deletes++;
        } else {
            v->present[k] = 1;
            v->ts[k] = env->timestamp;
            v->upserts++;
        }
        sl_uow_ack(uows[i], 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [EVENTS]\n", argv[0]);
        return 2;
    }
    char err[256];
    sl_conf_t *conf = sl_conf_new();
    if (!conf || sl_conf_set(conf, "processor.name", "quickstart", err, sizeof err) ||
        sl_conf_set(conf, "batch.max.events", "500", err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    sl_test_t *t = sl_test_new(conf, err, sizeof err);
    sl_conf_destroy(conf);
    if (!t) {
        fprintf(stderr, "driver: %s\n", err);
        return 1;
    }
    static view_t view;
    sl_sink_ops_t ops = {.name = "view", .write = view_write};
    sl_sink_t *sink = sl_sink_new(&ops, &view);
    sl_pipeline_t *p = sl_pipeline_new("materialize-things");
    const char *types[] = {"thing-"};
    if (!sink || !p || sl_pipeline_filter_types(p, SL_MATCH_PREFIX, types, 1) ||
        sl_pipeline_map(p, to_row, NULL) || sl_pipeline_compact(p, NULL) ||
        sl_pipeline_sink(p, sink) || sl_test_add_pipeline(t, p)) {
        fprintf(stderr, "pipeline setup failed\n");
        return 1;
    }

    static const char *const kinds[] = {"thing-created", "thing-updated", "thing-updated",
                                        "thing-deleted", "other-event"};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long malformed = 0;
    for (long i = 0; i < n; i++) {
        char ev[512];
        int len;
        if (i % 10007 == 5) {
            len = snprintf(ev, sizeof ev, "{\"type\":\"thing-updated\",\"id\":"); /* cut short */
            malformed++;
        } else {
            len = snprintf(ev, sizeof ev,
                           "{\"id\":\"e%ld\",\"type\":\"%s\",\"timestamp\":%ld,"
                           "\"partitionKey\":\"thing-%ld\",\"tags\":{\"source\":\"quickstart\"},"
                           "\"thing\":{\"id\":\"thing-%ld\",\"status\":\"s%ld\"}}",
                           i, kinds[i % 5], 1767225600000L + i, i % NKEYS, i % NKEYS, i % 7);
        }
        char key[32];
        snprintf(key, sizeof key, "thing-%ld", i % NKEYS);
        int rc = sl_test_push(t, "things", (int32_t)(i % 4), -1, key, strlen(key), ev, (size_t)len);
        if (rc) {
            fprintf(stderr, "push: %s\n", sl_strerror(rc));
            return 1;
        }
        if (i % 5000 == 4999)
            sl_test_advance(t, 60); /* linger timers fire as time passes */
        if (i % 50000 == 49999)
            fprintf(stderr, "  ... %ld events in\n", i + 1);
    }
    sl_test_advance(t, 1000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    sl_stats_t st;
    sl_engine_pipeline_stats(sl_test_engine(t), "materialize-things", &st);
    size_t rows = 0;
    for (int k = 0; k < NKEYS; k++)
        rows += (size_t)view.present[k];
    size_t faults = sl_test_sink_count(sl_test_faults(t));
    printf("sluice quickstart (in memory, virtual clock)\n");
    printf("  records in        %ld (%ld malformed on purpose)\n", n, malformed);
    printf("  filtered out      %llu (not thing-*)\n", (unsigned long long)st.skipped);
    printf("  compacted away    %llu (older state of the same thing in a batch)\n",
           (unsigned long long)st.compacted);
    printf("  view writes       %zu upserts, %zu deletes, %zu stale ignored\n", view.upserts,
           view.deletes, view.stale);
    printf("  view rows         %zu things present\n", rows);
    printf("  fault events      %zu\n", faults);
    if (faults) {
        const sl_test_msg_t *f = sl_test_sink_msg(sl_test_faults(t), 0);
        printf("  first fault       %.*s...\n", 160, f->value);
    }
    for (int part = 0; part < 4; part++)
        printf("  committed         things/%d -> offset %lld\n", part,
               (long long)sl_test_committed(t, "things", part));
    printf("  throughput        %.0f events/s (%.3f s)\n", (double)n / secs, secs);
    int ok = sl_test_inflight(t) == 0 && faults == (size_t)malformed;
    sl_test_destroy(t);
    sl_sink_destroy(sink);
    if (!ok) {
        fprintf(stderr, "quickstart: records unaccounted for\n");
        return 1;
    }
    return 0;
}
