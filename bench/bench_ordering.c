/* sluice — ordering modes with an asynchronous sink.
 *
 * One partition of N events (10,000 by default) over 1, 2, 10, 20 and
 * 10,000 keys, into a sink that acknowledges each uow 0-5 ms after it was
 * written (uniformly at random: the sink stands for an HTTP call or a
 * database write per event), on this thread: a timer heap drives the
 * acknowledgements, the engine runs as in a processor. Each key count runs
 * in partition, key and unordered mode (sl_pipeline_ordering()) side by
 * side; inflight.partition.max.records bounds what a partition has in
 * flight (1000 here). The anchor is Confluent's parallel-consumer: 10,000
 * records of 0-5 ms each take about 22 s ordered by partition and about 2 s
 * ordered by key once there are 20 keys or more; the goal is key mode with
 * 20 keys or more at least 10x partition mode.
 *
 * Never run by `meson test`; nothing is asserted about the figures, but an
 * event lost or faulted, or a key whose events complete out of order in
 * partition or key mode, exits non-zero. */
#define BENCH_NAME "bench_ordering"
#include "bench_util.h"

#include <time.h>

#define MAX_DELAY_US 5000
#define BOUND "1000" /* inflight.partition.max.records */

typedef struct due_s {
    int64_t at_ns;
    sl_uow_t *u;
} due_t;

typedef struct run_s {
    due_t *heap;
    size_t nheap;
    size_t done, faults;
    int paused;
    int64_t *last_done; /* per key: the offset of its last completed event */
    int inversions;
    size_t keys;
} run_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void heap_push(run_t *r, int64_t at, sl_uow_t *u)
{
    size_t i = r->nheap++;
    while (i && r->heap[(i - 1) / 2].at_ns > at) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = (due_t){at, u};
}

static due_t heap_pop(run_t *r)
{
    due_t top = r->heap[0], last = r->heap[--r->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && r->heap[c + 1].at_ns < r->heap[c].at_ns)
            c++;
        if (r->heap[c].at_ns >= last.at_ns)
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->nheap)
        r->heap[i] = last;
    return top;
}

/* The asynchronous sink: each uow is acknowledged 0-5 ms from now. */
static int async_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    run_t *r = opaque;
    int64_t now = mono_ns();
    for (size_t i = 0; i < n; i++)
        heap_push(r, now + (int64_t)(rng() % (MAX_DELAY_US + 1)) * 1000, uows[i]);
    return 0;
}

static int fault_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    run_t *r = opaque;
    for (size_t i = 0; i < n; i++) {
        r->faults++;
        sl_uow_ack(uows[i], 0);
    }
    return 0;
}

static void on_release(void *opaque, const sl_record_t *rec, int done)
{
    run_t *r = opaque;
    (void)rec;
    if (done)
        r->done++;
}

static void on_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    run_t *r = opaque;
    (void)topic;
    (void)partition;
    r->paused = pause;
}

typedef struct input_s {
    sl_record_t *recs;
    char (*vals)[160];
    char (*keys)[16];
    int *key_of;
} input_t;

static void make_input(input_t *in, size_t n, size_t keys)
{
    in->recs = xcalloc(n, sizeof *in->recs);
    in->vals = xcalloc(n, sizeof *in->vals);
    in->keys = xcalloc(n, sizeof *in->keys);
    in->key_of = xcalloc(n, sizeof *in->key_of);
    for (size_t i = 0; i < n; i++) {
        int k = (int)(rng() % keys);
        in->key_of[i] = k;
        snprintf(in->keys[i], sizeof in->keys[i], "k%d", k);
        int len = snprintf(in->vals[i], sizeof in->vals[i],
                           "{\"id\":\"e-%zu\",\"type\":\"thing-updated\",\"timestamp\":%zu,"
                           "\"partitionKey\":\"k%d\",\"thing\":{\"id\":\"k%d\",\"n\":%zu}}",
                           i, 1767225600000 + i, k, k, i);
        in->recs[i] = (sl_record_t){.topic = "in",
                                    .partition = 0,
                                    .offset = (int64_t)i,
                                    .key = in->keys[i],
                                    .key_len = strlen(in->keys[i]),
                                    .value = in->vals[i],
                                    .value_len = (size_t)len};
    }
}

static void free_input(input_t *in)
{
    free(in->recs);
    free(in->vals);
    free(in->keys);
    free(in->key_of);
}

/* Per-key completion order, seen from the sink's side: a tap cannot see
 * completions, so the check runs on each acknowledgement. */
static void note_done(run_t *r, const input_t *in, sl_uow_t *u)
{
    int64_t off = sl_uow_record(u)->offset;
    int k = in->key_of[off];
    if (off < r->last_done[k])
        r->inversions++;
    else
        r->last_done[k] = off;
}

/* One run: seconds to complete all @p n events in @p mode. */
static double run_mode(const input_t *in, size_t n, size_t keys, sl_order_t mode)
{
    run_t r = {0};
    r.heap = xcalloc(n, sizeof *r.heap);
    r.keys = keys;
    r.last_done = xcalloc(keys, sizeof *r.last_done);
    for (size_t k = 0; k < keys; k++)
        r.last_done[k] = -1;
    sl_conf_t *c = sl_conf_new();
    char err[256];
    if (!c || sl_conf_set(c, "inflight.partition.max.records", BOUND, err, sizeof err) ||
        sl_conf_set(c, "processor.name", "bench", err, sizeof err))
        die("conf: %s", err);
    sl_engine_t *e = sl_engine_new(c, err, sizeof err);
    sl_conf_destroy(c);
    if (!e)
        die("engine: %s", err);
    sl_source_ops_t so = {on_release, on_flow};
    check(sl_engine_set_source(e, &so, &r), "set_source");
    sl_sink_ops_t ao = {.name = "async", .write = async_write};
    sl_sink_ops_t fo = {.name = "faults", .write = fault_write};
    sl_sink_t *sink = sl_sink_new(&ao, &r), *fsink = sl_sink_new(&fo, &r);
    sl_pipeline_t *p = sl_pipeline_new("ordered");
    if (!sink || !fsink || !p)
        die("out of memory");
    check(sl_pipeline_ordering(p, mode), "ordering");
    check(sl_pipeline_sink(p, sink), "sink");
    check(sl_engine_add_pipeline(e, p), "add_pipeline");
    check(sl_engine_set_fault_sink(e, fsink), "fault sink");
    if (sl_engine_start(e, err, sizeof err))
        die("start: %s", err);
    int64_t t0 = mono_ns();
    size_t fed = 0;
    while (r.done < n) {
        while (!r.paused && fed < n)
            check(sl_engine_push(e, &in->recs[fed++]), "push");
        if (!r.nheap) {
            if (sl_engine_next_timeout(e) < 0 && r.paused == 0 && fed == n)
                die("%zu of %zu events done and nothing pending", r.done, n);
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            sl_engine_tick(e);
            continue;
        }
        int64_t now = mono_ns(), at = r.heap[0].at_ns;
        if (at > now) {
            struct timespec ts = {(at - now) / 1000000000, (long)((at - now) % 1000000000)};
            nanosleep(&ts, NULL);
            now = mono_ns();
        }
        while (r.nheap && r.heap[0].at_ns <= now) {
            due_t d = heap_pop(&r);
            note_done(&r, in, d.u);
            sl_uow_ack(d.u, 0);
        }
        sl_engine_tick(e);
    }
    double s = (double)(mono_ns() - t0) / 1e9;
    if (r.faults)
        die("%zu fault(s)", r.faults);
    if (sl_engine_watermark(e, "in", 0) != (int64_t)n)
        die("watermark %lld, want %zu", (long long)sl_engine_watermark(e, "in", 0), n);
    if (mode != SL_ORDER_UNORDERED && r.inversions)
        die("%d event(s) of a key completed before an earlier one", r.inversions);
    sl_engine_destroy(e);
    sl_sink_destroy(sink);
    sl_sink_destroy(fsink);
    free(r.heap);
    free(r.last_done);
    return s;
}

int main(int argc, char **argv)
{
    size_t n = 10000;
    const char *csvpath = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            n = 400;
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            n = parse_size("--events", argv[++i], 10, 1000000);
        } else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
            csvpath = argv[++i];
        } else {
            printf("usage: bench_ordering [--quick] [--events N] [--csv FILE]\n"
                   "  --quick   400 events (a smoke run, not a measurement)\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    static const size_t keycounts[] = {1, 2, 10, 20, 10000};
    static const struct {
        sl_order_t mode;
        const char *name;
    } modes[] = {{SL_ORDER_PARTITION, "partition"},
                 {SL_ORDER_KEY, "key"},
                 {SL_ORDER_UNORDERED, "unordered"}};
    printf("sluice %s bench_ordering: %zu events on one partition, a sink acknowledging each "
           "0-%d ms later, inflight.partition.max.records %s%s\n",
           sl_version(), n, MAX_DELAY_US / 1000, BOUND,
           quick ? " (--quick: a smoke run, not a measurement)" : "");
    FILE *csv = csvpath ? fopen(csvpath, "w") : NULL;
    if (csvpath && !csv)
        die("cannot open %s", csvpath);
    if (csv)
        fprintf(csv, "case,events_per_s,ratio\n");
    printf("%-8s %14s %14s %14s %12s\n", "keys", "partition ev/s", "key ev/s", "unordered ev/s",
           "key/part");
    for (size_t k = 0; k < sizeof keycounts / sizeof *keycounts; k++) {
        input_t in;
        make_input(&in, n, keycounts[k]);
        double rate[3];
        for (size_t m = 0; m < 3; m++)
            rate[m] = (double)n / run_mode(&in, n, keycounts[k], modes[m].mode);
        double ratio = rate[1] / rate[0];
        printf("%-8zu %14.0f %14.0f %14.0f %11.1fx%s\n", keycounts[k], rate[0], rate[1], rate[2],
               ratio,
               keycounts[k] >= 20 && !quick
                   ? (ratio >= 10 ? "  goal >= 10x: met" : "  goal >= 10x: NOT met")
                   : "");
        fflush(stdout);
        if (csv)
            for (size_t m = 0; m < 3; m++) {
                char rt[32] = "";
                if (m == 1)
                    snprintf(rt, sizeof rt, "%.1fx", ratio);
                fprintf(csv, "\"%s mode, %zu key(s)\",%.0f,%s\n", modes[m].name, keycounts[k],
                        rate[m], rt);
            }
        free_input(&in);
    }
    if (csv && fclose(csv))
        die("cannot write %s", csvpath);
    return 0;
}
