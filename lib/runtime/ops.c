/* sluice — the operations endpoint: /metrics (Prometheus text format),
 * /health (liveness) and /ready (readiness) of a processor.
 *
 * Everything runs on the processor's loop thread, inside the HTTP server's
 * request callback (lib/runtime/http.c): it reads the engine's counters and
 * the connectors' state directly, with no lock and no copy on the hot path.
 * The engine and connectors only count (plain increments where things
 * happen); rendering is here, once per scrape. Labels are bounded: topic
 * and partition, pipeline, sink, outcome, reason, error name; never a key. */
#include "runtime/ops.h"
#include "core/conf_int.h"
#include "core/core.h"
#include "core/util.h"
#include "runtime/http.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* When records arrived: the engine numbers them (its arrival sequence) and
 * this keeps (sequence, time) samples, one a second for the last minute and
 * one a minute for the last hour. A record's arrival is at or before the
 * first sample whose sequence reached its own: the age of the oldest
 * record in flight, to the sample's resolution, costs nothing per record. */
#define AGE_SLOTS 64
typedef struct {
    uint64_t seq[AGE_SLOTS];
    uint64_t ns[AGE_SLOTS];
    unsigned n, next;
} age_ring_t;

struct sl__ops_s {
    sl_processor_t *p;
    sl__httpd_t *http;
    uv_timer_t age_timer;
    int age_timer_on;
    unsigned ticks;
    age_ring_t secs, mins;
    int64_t stall_ms;
    uint64_t prog_done; /* records done when progress was last seen */
    uint64_t prog_ns;   /* ... and when */
};

/* ---- the body buffer and the metric writers ---- */

void sl__buf_printf(sl__buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        if (sl__grow(&b->p, &b->cap, b->len + (size_t)n + 1, 1, 4096)) {
            b->oom = 1;
            return;
        }
    }
}

void sl__buf_free(sl__buf_t *b)
{
    sl_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void sl__metric_help(sl__metrics_t *m, const char *name, const char *type, const char *help)
{
    sl__buf_printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escaped as the text format asks (backslash, quote, newline). */
static void labels(sl__buf_t *b, va_list ap)
{
    const char *k = va_arg(ap, const char *);
    if (!k)
        return;
    sl__buf_printf(b, "{");
    for (int first = 1; k; k = va_arg(ap, const char *), first = 0) {
        const char *v = va_arg(ap, const char *);
        sl__buf_printf(b, "%s%s=\"", first ? "" : ",", k);
        for (const char *c = v ? v : ""; *c; c++) {
            if (*c == '\\' || *c == '"')
                sl__buf_printf(b, "\\%c", *c);
            else if (*c == '\n')
                sl__buf_printf(b, "\\n");
            else
                sl__buf_printf(b, "%c", *c);
        }
        sl__buf_printf(b, "\"");
    }
    sl__buf_printf(b, "}");
}

/* One sample line: the name, its labels (the NULL-ended pairs in @p ap), the
 * value already formatted. */
static void metric_line(sl__metrics_t *m, const char *name, const char *val, va_list ap)
{
    sl__buf_printf(m, "%s", name);
    labels(m, ap);
    sl__buf_printf(m, " %s\n", val);
}

void sl__metric_u(sl__metrics_t *m, const char *name, uint64_t v, ...)
{
    char val[40];
    snprintf(val, sizeof val, "%llu", (unsigned long long)v);
    va_list ap;
    va_start(ap, v);
    metric_line(m, name, val, ap);
    va_end(ap);
}

void sl__metric_i(sl__metrics_t *m, const char *name, int64_t v, ...)
{
    char val[40];
    snprintf(val, sizeof val, "%lld", (long long)v);
    va_list ap;
    va_start(ap, v);
    metric_line(m, name, val, ap);
    va_end(ap);
}

void sl__metric_d(sl__metrics_t *m, const char *name, double v, ...)
{
    char val[40];
    snprintf(val, sizeof val, "%.15g", v);
    va_list ap;
    va_start(ap, v);
    metric_line(m, name, val, ap);
    va_end(ap);
}

/* ---- /metrics ---- */

static void ring_put(age_ring_t *r, uint64_t seq, uint64_t ns)
{
    r->seq[r->next] = seq;
    r->ns[r->next] = ns;
    r->next = (r->next + 1) % AGE_SLOTS;
    if (r->n < AGE_SLOTS)
        r->n++;
}

/* The earliest sample time whose sequence reached @p seq, or 0. */
static uint64_t ring_first(const age_ring_t *r, uint64_t seq, uint64_t best)
{
    for (unsigned i = 0; i < r->n; i++)
        if (r->seq[i] >= seq && (!best || r->ns[i] < best))
            best = r->ns[i];
    return best;
}

static uint64_t mono_ns(void);

static void age_tick(uv_timer_t *t)
{
    sl__ops_t *o = t->data;
    uint64_t seq = sl__engine_seq(sl__proc_engine(o->p)), now = mono_ns();
    ring_put(&o->secs, seq, now);
    if (o->ticks++ % 60 == 0)
        ring_put(&o->mins, seq, now);
}

static double oldest_age_s(const sl__ops_t *o, const sl_engine_t *e)
{
    uint64_t s = sl__engine_oldest_seq(e);
    if (!s)
        return 0;
    uint64_t t = ring_first(&o->mins, s, ring_first(&o->secs, s, 0));
    uint64_t now = mono_ns();
    return t && now > t ? (double)(now - t) / 1e9 : 0;
}

typedef struct {
    sl__metrics_t *m;
    int what;
    size_t paused;
} part_walk_t;

static void part_metric(void *arg, const sl__part_view_t *v)
{
    part_walk_t *w = arg;
    char pn[16];
    snprintf(pn, sizeof pn, "%d", (int)v->partition);
    switch (w->what) {
    case 0:
        sl__metric_u(w->m, "sluice_records_in_total", v->in, "topic", v->topic, "partition", pn,
                     NULL);
        break;
    case 1:
        sl__metric_i(w->m, "sluice_partition_watermark_offset", v->watermark, "topic", v->topic,
                     "partition", pn, NULL);
        break;
    case 2:
        sl__metric_u(w->m, "sluice_partition_in_flight_records", v->inflight, "topic", v->topic,
                     "partition", pn, NULL);
        break;
    default:
        w->paused += v->paused != 0;
    }
}

static const char *const close_names[SL__CLOSE_N] = {"flush", "count", "bytes", "linger"};

static void metrics_engine(sl__metrics_t *m, const sl_engine_t *e)
{
    part_walk_t w = {m, 0, 0};
    sl__metric_help(m, "sluice_records_in_total", "counter",
                    "Records read from the source, by topic (stream) and partition (shard).");
    sl__engine_each_part(e, part_metric, &w);
    sl__metric_help(m, "sluice_records_done_total", "counter",
                    "Records every pipeline finished with (their offsets may be committed).");
    sl__metric_u(m, "sluice_records_done_total", e->stats.records_done, NULL);
    sl__metric_help(m, "sluice_decode_faults_total", "counter",
                    "Records that could not be decoded (each became a fault event).");
    sl__metric_u(m, "sluice_decode_faults_total", e->stats.decode_faults, NULL);
    sl__metric_help(m, "sluice_in_flight_records", "gauge",
                    "Records read and not yet done (with flat-map children not yet done).");
    sl__metric_u(m, "sluice_in_flight_records", e->inflight, NULL);
    sl__metric_help(
        m, "sluice_in_flight_bytes", "gauge",
        "Bytes in flight: record values and the output buffers of their units of work.");
    sl__metric_u(m, "sluice_in_flight_bytes", e->inflight_bytes, NULL);
    w.what = 3;
    sl__engine_each_part(e, part_metric, &w);
    sl__metric_help(m, "sluice_paused_partitions", "gauge",
                    "Partitions (shards) the engine holds paused for backpressure.");
    sl__metric_u(m, "sluice_paused_partitions", w.paused, NULL);
    sl__metric_help(m, "sluice_partition_watermark_offset", "gauge",
                    "Next offset to commit of each partition: every record before it is done "
                    "(-1: none done yet in this run).");
    w.what = 1;
    sl__engine_each_part(e, part_metric, &w);
    sl__metric_help(m, "sluice_partition_in_flight_records", "gauge",
                    "Records in flight per partition.");
    w.what = 2;
    sl__engine_each_part(e, part_metric, &w);

    static const struct {
        const char *name;
        size_t off;
    } outcomes[] = {{"sunk", offsetof(sl_stats_t, sunk)},
                    {"skipped", offsetof(sl_stats_t, skipped)},
                    {"faulted", offsetof(sl_stats_t, faults)},
                    {"compacted", offsetof(sl_stats_t, compacted)}};
    sl__metric_help(m, "sluice_uows_total", "counter",
                    "Units of work (a record in one pipeline) finished, by pipeline and outcome.");
    for (size_t i = 0; i < e->npl; i++)
        for (size_t k = 0; k < sizeof outcomes / sizeof *outcomes; k++)
            sl__metric_u(m, "sluice_uows_total",
                         *(const uint64_t *)((const char *)&e->pls[i]->stats + outcomes[k].off),
                         "pipeline", e->pls[i]->name, "outcome", outcomes[k].name, NULL);
    sl__metric_help(m, "sluice_pipeline_in_flight_uows", "gauge",
                    "Units of work in flight, by pipeline.");
    for (size_t i = 0; i < e->npl; i++)
        sl__metric_u(m, "sluice_pipeline_in_flight_uows", e->pls[i]->stats.inflight, "pipeline",
                     e->pls[i]->name, NULL);
    sl__metric_help(m, "sluice_retries_total", "counter",
                    "Retries scheduled (a stage or a sink write), by pipeline.");
    for (size_t i = 0; i < e->npl; i++)
        sl__metric_u(m, "sluice_retries_total", e->pls[i]->stats.retries, "pipeline",
                     e->pls[i]->name, NULL);

    /* Faults by pipeline and error; those of no pipeline (a record that
     * could not be decoded) under pipeline="". Only errors seen. */
    sl__metric_help(m, "sluice_faults_total", "counter",
                    "Fault events acknowledged by the fault sink, by pipeline and error "
                    "(pipeline=\"\": records that could not be decoded).");
    for (unsigned k = 0; k < SL__ERR_SLOTS; k++) {
        uint64_t rest = e->faults_by_err[k];
        for (size_t i = 0; i < e->npl; i++) {
            uint64_t n = e->pls[i]->ops.faults_by_err[k];
            rest -= n;
            if (n)
                sl__metric_u(m, "sluice_faults_total", n, "pipeline", e->pls[i]->name, "error",
                             sl_err_name(-(int)k), NULL);
        }
        if (rest)
            sl__metric_u(m, "sluice_faults_total", rest, "pipeline", "", "error",
                         sl_err_name(-(int)k), NULL);
    }

    sl__metric_help(m, "sluice_batches_total", "counter",
                    "Batches closed, by pipeline and why: count or bytes (the batch bound, the "
                    "sink's limit if lower), linger, flush (a drain or a revoke).");
    for (size_t i = 0; i < e->npl; i++)
        for (int r = 0; r < SL__CLOSE_N; r++)
            sl__metric_u(m, "sluice_batches_total", e->pls[i]->ops.closed[r], "pipeline",
                         e->pls[i]->name, "reason", close_names[r], NULL);
    sl__metric_help(m, "sluice_batch_size", "histogram",
                    "Units of work per sink write, by pipeline.");
    for (size_t i = 0; i < e->npl; i++) {
        const sl__pl_ops_t *o = &e->pls[i]->ops;
        uint64_t cum = 0;
        char le[32];
        for (int b = 0; b < SL__BATCH_BUCKETS; b++) {
            cum += o->batch_hist[b];
            if (b < SL__BATCH_BUCKETS - 1)
                snprintf(le, sizeof le, "%llu", (unsigned long long)sl__batch_bounds[b]);
            else
                snprintf(le, sizeof le, "+Inf");
            sl__metric_u(m, "sluice_batch_size_bucket", cum, "pipeline", e->pls[i]->name, "le", le,
                         NULL);
        }
        sl__metric_u(m, "sluice_batch_size_sum", o->batch_sum, "pipeline", e->pls[i]->name, NULL);
        sl__metric_u(m, "sluice_batch_size_count", cum, "pipeline", e->pls[i]->name, NULL);
    }
    sl__metric_help(m, "sluice_sink_write_duration_seconds", "histogram",
                    "From a batch's write to its sink to the acknowledgement of its first unit of "
                    "work, for batches acknowledged as written; by pipeline and sink.");
    for (size_t i = 0; i < e->npl; i++) {
        const sl_pipeline_t *pl = e->pls[i];
        const sl__pl_ops_t *o = &pl->ops;
        const char *sink = pl->sink && pl->sink->ops.name ? pl->sink->ops.name : "";
        uint64_t cum = 0;
        char le[32];
        for (int b = 0; b < SL__LAT_BUCKETS; b++) {
            cum += o->lat_hist[b];
            if (b < SL__LAT_BUCKETS - 1)
                snprintf(le, sizeof le, "%g", (double)sl__lat_bounds_ms[b] / 1000.0);
            else
                snprintf(le, sizeof le, "+Inf");
            sl__metric_u(m, "sluice_sink_write_duration_seconds_bucket", cum, "pipeline", pl->name,
                         "sink", sink, "le", le, NULL);
        }
        sl__metric_d(m, "sluice_sink_write_duration_seconds_sum", (double)o->lat_sum_ms / 1000.0,
                     "pipeline", pl->name, "sink", sink, NULL);
        sl__metric_u(m, "sluice_sink_write_duration_seconds_count", o->lat_count, "pipeline",
                     pl->name, "sink", sink, NULL);
    }
}

/* The standard process metrics, from /proc (Linux). */
static void metrics_process(sl__metrics_t *m)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    /* Fields after the command name (which may hold spaces): state is 3rd. */
    const char *rp = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (rp && tick > 0 &&
        sscanf(rp + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) == 5) {
        unsigned long long btime = 0;
        FILE *s = fopen("/proc/stat", "r");
        char line[256];
        while (s && fgets(line, sizeof line, s))
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        if (s)
            fclose(s);
        sl__metric_help(m, "process_cpu_seconds_total", "counter",
                        "Total user and system CPU time spent in seconds.");
        sl__metric_d(m, "process_cpu_seconds_total", (double)(utime + stime) / (double)tick, NULL);
        sl__metric_help(m, "process_resident_memory_bytes", "gauge",
                        "Resident memory size in bytes.");
        sl__metric_u(m, "process_resident_memory_bytes", (uint64_t)rss * (uint64_t)page, NULL);
        sl__metric_help(m, "process_virtual_memory_bytes", "gauge",
                        "Virtual memory size in bytes.");
        sl__metric_u(m, "process_virtual_memory_bytes", vsize, NULL);
        sl__metric_help(m, "process_start_time_seconds", "gauge",
                        "Start time of the process since unix epoch in seconds.");
        sl__metric_d(m, "process_start_time_seconds", (double)btime + (double)start / (double)tick,
                     NULL);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        uint64_t fds = 0;
        struct dirent *de;
        while ((de = readdir(d)))
            fds += de->d_name[0] != '.';
        closedir(d);
        sl__metric_help(m, "process_open_fds", "gauge", "Number of open file descriptors.");
        sl__metric_u(m, "process_open_fds", fds - 1, NULL); /* less the directory's own */
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd > 0) {
        sl__metric_help(m, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        sl__metric_u(m, "process_max_fds", (uint64_t)maxfd, NULL);
    }
}

static void render_metrics(sl__ops_t *o, sl__metrics_t *m)
{
    sl_processor_t *p = o->p;
    sl__metric_help(m, "sluice_info", "gauge", "The processor and the library's version.");
    sl__metric_u(m, "sluice_info", 1, "processor", sl__proc_name(p), "version", sl_version(), NULL);
    const char *phase = sl__proc_phase(p);
    sl__metric_help(m, "sluice_up", "gauge",
                    "1 while the processor runs (not starting, draining or stopped).");
    sl__metric_u(m, "sluice_up", phase ? 0 : 1, NULL);
    metrics_engine(m, sl__proc_engine(p));
    sl__metric_help(m, "sluice_oldest_in_flight_age_seconds", "gauge",
                    "Time since the oldest record in flight arrived (0: none in flight), to the "
                    "second in the last minute and to the minute in the last hour (a lower "
                    "bound).");
    sl__metric_d(m, "sluice_oldest_in_flight_age_seconds", oldest_age_s(o, sl__proc_engine(p)),
                 NULL);
    void *so;
    const sl__source_if_t *src = sl__proc_src(p, &so);
    if (src && src->metrics)
        src->metrics(so, m);
    metrics_process(m);
}

/* ---- /health and /ready ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void json_str(sl__buf_t *b, const char *s)
{
    sl__buf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sl__buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            sl__buf_printf(b, "\\u%04x", c);
        else
            sl__buf_printf(b, "%c", c);
    }
    sl__buf_printf(b, "\"");
}

/* Live while the loop turns (this answer is proof) and records get done:
 * wedged once records are in flight and none was done for health.stall.ms
 * (measured between the answers: progress is seen when the count moved). */
static int health(sl__ops_t *o, sl__buf_t *b)
{
    sl_processor_t *p = o->p;
    int failed = sl__proc_failed(p);
    if (failed) {
        sl__buf_printf(b, "{\"status\":\"failed\",\"error\":\"%s\"}\n", sl_err_name(failed));
        return 503;
    }
    sl_stats_t st;
    sl_engine_stats(sl__proc_engine(p), &st);
    uint64_t now = mono_ns();
    if (st.inflight == 0 || st.records_done != o->prog_done) {
        o->prog_done = st.records_done;
        o->prog_ns = now;
    }
    uint64_t idle_ms = (now - o->prog_ns) / 1000000u;
    if (idle_ms >= (uint64_t)o->stall_ms) {
        sl__buf_printf(b, "{\"status\":\"stalled\",\"in_flight\":%llu,\"no_progress_ms\":%llu}\n",
                       (unsigned long long)st.inflight, (unsigned long long)idle_ms);
        return 503;
    }
    sl__buf_printf(b, "{\"status\":\"ok\"}\n");
    return 200;
}

static int not_ready(sl__buf_t *b, const char *part, const char *reason)
{
    sl__buf_printf(b, "{\"ready\":false,\"part\":");
    json_str(b, part);
    sl__buf_printf(b, ",\"reason\":");
    json_str(b, reason);
    sl__buf_printf(b, "}\n");
    return 503;
}

static int ready(sl__ops_t *o, sl__buf_t *b)
{
    sl_processor_t *p = o->p;
    const char *phase = sl__proc_phase(p);
    if (sl__proc_failed(p))
        return not_ready(b, "processor", sl_strerror(sl__proc_failed(p)));
    if (phase)
        return not_ready(b, "processor", phase);
    char why[256];
    void *so;
    const sl__source_if_t *src = sl__proc_src(p, &so);
    why[0] = 0;
    if (src && src->ready && !src->ready(so, why, sizeof why))
        return not_ready(b, "source", why);
    size_t n;
    const sl__service_t *svcs = sl__proc_services(p, &n);
    for (size_t i = 0; i < n; i++) {
        why[0] = 0;
        if (svcs[i].ready && !svcs[i].ready(svcs[i].opaque, why, sizeof why))
            return not_ready(b, "sink", why);
    }
    sl__buf_printf(b, "{\"ready\":true}\n");
    return 200;
}

static int serve(void *opaque, const char *method, size_t mlen, const char *path, size_t plen,
                 sl__buf_t *body, const char **ctype)
{
    sl__ops_t *o = opaque;
    static const struct {
        const char *path;
        int kind;
    } routes[] = {{"/metrics", 0}, {"/health", 1}, {"/ready", 2}};
    int kind = -1;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (plen == strlen(routes[i].path) && !memcmp(path, routes[i].path, plen))
            kind = routes[i].kind;
    if (kind < 0) {
        sl__buf_printf(body, "not found: /metrics, /health and /ready are served here\n");
        return 404;
    }
    if (mlen != 3 || memcmp(method, "GET", 3)) {
        sl__buf_printf(body, "method not allowed: GET only\n");
        return 405;
    }
    if (kind == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        render_metrics(o, body);
        return 200;
    }
    *ctype = "application/json";
    return kind == 1 ? health(o, body) : ready(o, body);
}

/* ---- lifecycle ---- */

int sl__ops_start(sl_processor_t *p, sl__ops_t **out)
{
    *out = NULL;
    const char *listen = sl_conf_get_str(sl_processor_conf(p), "http.listen");
    if (!listen || !*listen)
        return 0;
    sl__ops_t *o = sl_calloc(1, sizeof *o);
    if (!o) {
        sl__log(p, "error", "cannot start the HTTP endpoint: out of memory");
        return SL_ENOMEM;
    }
    o->p = p;
    o->stall_ms = sl_conf_get_int(sl_processor_conf(p), "health.stall.ms");
    o->prog_ns = mono_ns();
    char err[256];
    int rc = sl__httpd_start(sl__proc_loop(p), listen, serve, o, &o->http, err, sizeof err);
    if (rc) {
        sl__log(p, "error", "cannot start: %s", err);
        sl_free(o);
        return rc;
    }
    /* Routes of sl_processor_add_route(), answered off the loop. */
    sl__httpd_set_routes(o->http, sl__proc_routes(p));
    /* The arrival samples (see age_ring_t): not a reason to keep the loop. */
    uv_timer_init(sl__proc_loop(p), &o->age_timer);
    o->age_timer.data = o;
    o->age_timer_on = 1;
    age_tick(&o->age_timer);
    uv_timer_start(&o->age_timer, age_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&o->age_timer);
    char routes[SL__MAX_ROUTES * 66];
    sl__routes_names(sl__proc_routes(p), routes, sizeof routes);
    sl__log(p, "info", "serving /metrics, /health and /ready%s%s%s on http://%s",
            routes[0] ? ", and " : "", routes, routes[0] ? " (answered off the loop)" : "",
            sl__httpd_address(o->http));
    *out = o;
    return 0;
}

void sl__ops_close(sl__ops_t *o)
{
    if (!o)
        return;
    sl__httpd_close(o->http);
    if (o->age_timer_on) {
        o->age_timer_on = 0;
        uv_close((uv_handle_t *)&o->age_timer, NULL);
    }
}

void sl__ops_free(sl__ops_t *o)
{
    if (!o)
        return;
    sl__httpd_free(o->http);
    sl_free(o);
}

int sl__ops_port(const sl__ops_t *o)
{
    return o && o->http ? sl__httpd_port(o->http) : 0;
}
