/* sluice — the processor: an engine driven by one libuv loop.
 *
 * Timers: one uv timer follows the engine's next deadline (linger, retries,
 * rate limits), one commits watermarks. Signals and sl_processor_stop()
 * start a drain; the loop keeps running until nothing is in flight or the
 * drain bound passes, then the source commits and closes. */
#include "core/core.h"
#include "core/util.h"
#include "runtime/ops.h"
#include "runtime/runtime.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { PROC_NEW, PROC_RUNNING, PROC_DRAINING, PROC_CLOSING, PROC_DONE };

/* A job of the engine's executor on libuv's thread pool. */
typedef struct pjob_s {
    uv_work_t req;
    sl_job_t job;
    sl_processor_t *p;
    struct pjob_s *prev, *next;
    atomic_int finished; /* work returned (set on the pool's thread) */
    int delivered;       /* done was called (by a pump, before the loop's turn) */
} pjob_t;

struct sl_processor_s {
    sl_conf_t *conf;
    sl_engine_t *e;
    uv_loop_t loop;
    int loop_ok;
    uv_timer_t engine_timer, commit_timer, drain_timer, stats_timer;
    int64_t stats_ms;
    uint64_t started_ns;              /* when sl_processor_run() started */
    uint64_t last_done_ns, last_done; /* when records_done last grew, and to what */
    uint64_t last_in, last_ns;        /* at the previous stats line */
    uv_signal_t sigint, sigterm;
    uv_async_t stop_async;
    int state;
    int drain_timed_out;
    int failed; /* sl__proc_fail(): the error sl_processor_run() returns */
    int signals;
    int log_level;
    const char *name;
    const sl__source_if_t *src;
    void *src_opaque;
    sl__service_t *svcs;
    size_t nsvcs;
    sl_sink_t **sinks;
    size_t nsinks;
    sl_sink_t *fault_sink;
    int64_t drain_ms, commit_ms;
    int64_t close_ms;        /* close.timeout.ms */
    uint64_t close_until_ns; /* end of the close after a drain, 0 = not closing */
    pjob_t *jobs;            /* in flight on the thread pool */
    size_t njobs;
    int jobs_closed; /* a drain ran out of time: no new jobs */
    struct attached_s {
        const char *key;
        void *obj;
        void (*destroy)(void *);
    } attached[8];
    size_t nattached;
    sl__ops_t *ops;       /* the operations endpoint (http.listen), NULL when off */
    atomic_int http_port; /* its port once listening (read from any thread) */
};

void sl__log(const sl_processor_t *p, const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl__vlog(p ? p->name : NULL, p ? p->log_level : 0, level, fmt, ap);
    va_end(ap);
}

/* ---- engine glue ---- */

static void src_release(void *opaque, const sl_record_t *rec, int done)
{
    sl_processor_t *p = opaque;
    if (p->src && p->src->release)
        p->src->release(p->src_opaque, rec, done);
}

static void src_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    sl_processor_t *p = opaque;
    if (p->src && p->src->flow)
        p->src->flow(p->src_opaque, topic, partition, pause);
}

/* ---- the executor: blocking work on libuv's thread pool ---- */

static void job_work(uv_work_t *w)
{
    pjob_t *j = w->data;
    j->job.work(j->job.arg);
    atomic_store(&j->finished, 1);
}

static void job_after(uv_work_t *w, int status)
{
    pjob_t *j = w->data;
    sl_processor_t *p = j->p;
    if (j->prev)
        j->prev->next = j->next;
    else
        p->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    p->njobs--;
    if (!j->delivered)
        j->job.done(j->job.arg, status == UV_ECANCELED ? SL_ESHUTDOWN : 0);
    sl_free(j);
    sl__proc_after(p);
}

/* A synchronous wait inside a loop callback (a Kafka revoke) cannot run
 * the loop: hand it the jobs whose work is over, so their records can be
 * done meanwhile. The loop's own turn later only frees them. */
static void deliver_finished(sl_processor_t *p)
{
    for (pjob_t *j = p->jobs; j; j = j->next)
        if (!j->delivered && atomic_load(&j->finished)) {
            j->delivered = 1;
            j->job.done(j->job.arg, 0);
        }
}

static int job_submit(void *opaque, const sl_job_t *job)
{
    sl_processor_t *p = opaque;
    if (p->jobs_closed)
        return SL_ESHUTDOWN;
    pjob_t *j = sl_malloc(sizeof *j);
    if (!j)
        return SL_ENOMEM;
    j->job = *job;
    j->p = p;
    j->req.data = j;
    atomic_init(&j->finished, 0);
    j->delivered = 0;
    if (uv_queue_work(&p->loop, &j->req, job_work, job_after)) {
        sl_free(j);
        return SL_EIO;
    }
    j->prev = NULL;
    j->next = p->jobs;
    if (p->jobs)
        p->jobs->prev = j;
    p->jobs = j;
    p->njobs++;
    return 0;
}

/* Out of time: take no new job, drop the queued ones (their done gets
 * SL_ESHUTDOWN), interrupt the running ones, so the loop can close. */
static void interrupt_jobs(sl_processor_t *p)
{
    p->jobs_closed = 1;
    if (p->njobs)
        sl__log(p, "warn", "interrupting %zu blocking job(s) (store writes)", p->njobs);
    for (pjob_t *j = p->jobs; j; j = j->next)
        if (!j->delivered && !atomic_load(&j->finished) && uv_cancel((uv_req_t *)&j->req) &&
            j->job.interrupt)
            j->job.interrupt(j->job.arg);
}

sl_processor_t *sl_processor_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
    sl_processor_t *p = sl_calloc(1, sizeof *p);
    if (!p)
        goto oom;
    atomic_init(&p->http_port, 0);
    p->conf = conf ? sl_conf_dup(conf) : sl_conf_new();
    if (!p->conf)
        goto oom;
    p->name = sl_conf_get_str(p->conf, "processor.name");
    p->log_level = sl__log_level(sl_conf_get_str(p->conf, "log.level"));
    p->signals = (int)sl_conf_get_int(p->conf, "processor.signals");
    p->drain_ms = sl_conf_get_int(p->conf, "drain.timeout.ms");
    p->commit_ms = sl_conf_get_int(p->conf, "commit.interval.ms");
    p->close_ms = sl_conf_get_int(p->conf, "close.timeout.ms");
    p->stats_ms = sl_conf_get_int(p->conf, "log.stats.interval.ms");
    p->e = sl_engine_new(p->conf, errstr, errstr_size);
    if (!p->e)
        goto fail;
    sl_source_ops_t ops = {src_release, src_flow};
    sl_engine_set_source(p->e, &ops, p);
    if (uv_loop_init(&p->loop)) {
        sl__errf(errstr, errstr_size, "cannot create the event loop");
        goto fail;
    }
    p->loop_ok = 1;
    p->loop.data = p;
    sl_executor_t ex = {job_submit, p};
    sl_engine_set_executor(p->e, &ex);
    return p;
oom:
    sl__errf(errstr, errstr_size, "out of memory");
fail:
    sl_processor_destroy(p);
    return NULL;
}

static void close_open(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void sl_processor_destroy(sl_processor_t *p)
{
    if (!p)
        return;
    /* A job still on the thread pool borrows the engine's uows: end it
     * first (only after a run that did not finish its loop). */
    if (p->njobs) {
        interrupt_jobs(p);
        while (p->njobs)
            uv_run(&p->loop, UV_RUN_ONCE);
    }
    /* Services first (producers give back what they hold, with errors),
     * then the engine (it releases in-flight records to the source), then
     * the source and the sinks. */
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i].shutdown)
            p->svcs[i].shutdown(p->svcs[i].opaque);
    sl_engine_destroy(p->e);
    p->e = NULL;
    if (p->src && p->src->destroy)
        p->src->destroy(p->src_opaque);
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i].destroy)
            p->svcs[i].destroy(p->svcs[i].opaque);
    for (size_t i = 0; i < p->nsinks; i++)
        sl_sink_destroy(p->sinks[i]);
    for (size_t i = p->nattached; i-- > 0;)
        if (p->attached[i].destroy)
            p->attached[i].destroy(p->attached[i].obj);
    if (p->ops) {
        /* A run that did not finish its loop: stop listening first. */
        sl__ops_close(p->ops);
        uv_run(&p->loop, UV_RUN_NOWAIT);
        sl__ops_free(p->ops);
        p->ops = NULL;
    }
    if (p->loop_ok) {
        uv_walk(&p->loop, close_open, NULL);
        uv_run(&p->loop, UV_RUN_DEFAULT);
        uv_loop_close(&p->loop);
    }
    sl_free(p->svcs);
    sl_free(p->sinks);
    sl_conf_destroy(p->conf);
    sl_free(p);
}

int sl_processor_add_pipeline(sl_processor_t *p, sl_pipeline_t *pl)
{
    if (!p)
        return sl__pipeline_fail(pl, SL_EINVAL, "cannot add it: no processor (NULL)");
    if (p->state != PROC_NEW)
        return sl__pipeline_fail(pl, SL_ESTATE,
                                 "cannot add it: the processor has run (add pipelines before "
                                 "sl_processor_run())");
    return sl_engine_add_pipeline(p->e, pl);
}

int sl_processor_set_fault_sink(sl_processor_t *p, sl_sink_t *sink)
{
    if (!p || !sink)
        return SL_EINVAL;
    if (p->state != PROC_NEW)
        return SL_ESTATE;
    p->fault_sink = sink;
    return sl_engine_set_fault_sink(p->e, sink);
}

sl_engine_t *sl_processor_engine(sl_processor_t *p)
{
    return p ? p->e : NULL;
}

const sl_conf_t *sl_processor_conf(const sl_processor_t *p)
{
    return p ? p->conf : NULL;
}

/* ---- connector hooks ---- */

int sl__proc_set_source(sl_processor_t *p, const sl__source_if_t *ifc, void *opaque)
{
    if (p->src)
        return SL_EEXIST;
    if (p->state != PROC_NEW)
        return SL_ESTATE;
    p->src = ifc;
    p->src_opaque = opaque;
    return 0;
}

void *sl__proc_source(const sl_processor_t *p, const char *name)
{
    return p && p->src && !strcmp(p->src->name, name) ? p->src_opaque : NULL;
}

const sl_sink_ops_t *sl__sink_ops(const sl_sink_t *sink, void **opaque)
{
    if (opaque)
        *opaque = sink ? sink->opaque : NULL;
    return sink ? &sink->ops : NULL;
}

int sl__proc_add_service(sl_processor_t *p, const sl__service_t *svc)
{
    sl__service_t *n = sl_realloc(p->svcs, (p->nsvcs + 1) * sizeof *n);
    if (!n)
        return SL_ENOMEM;
    p->svcs = n;
    p->svcs[p->nsvcs++] = *svc;
    return 0;
}

int sl__proc_own_sink(sl_processor_t *p, sl_sink_t *sink)
{
    sl_sink_t **n = sl_realloc(p->sinks, (p->nsinks + 1) * sizeof *n);
    if (!n)
        return SL_ENOMEM;
    p->sinks = n;
    p->sinks[p->nsinks++] = sink;
    return 0;
}

int sl__proc_attach(sl_processor_t *p, const char *key, void *obj, void (*destroy)(void *))
{
    if (p->nattached == sizeof p->attached / sizeof p->attached[0])
        return SL_ERANGE;
    p->attached[p->nattached++] = (struct attached_s){key, obj, destroy};
    return 0;
}

void *sl__proc_attached(const sl_processor_t *p, const char *key)
{
    for (size_t i = 0; i < p->nattached; i++)
        if (!strcmp(p->attached[i].key, key))
            return p->attached[i].obj;
    return NULL;
}

uv_loop_t *sl__proc_loop(sl_processor_t *p)
{
    return &p->loop;
}

sl_engine_t *sl__proc_engine(sl_processor_t *p)
{
    return p->e;
}

int sl__proc_close_left_ms(const sl_processor_t *p)
{
    if (!p->close_until_ns)
        return (int)p->close_ms;
    uint64_t now = uv_hrtime();
    return now >= p->close_until_ns ? 0 : (int)((p->close_until_ns - now + 999999u) / 1000000u);
}

int sl__proc_draining(const sl_processor_t *p)
{
    return p->state >= PROC_DRAINING;
}

int sl__proc_http_on(const sl_processor_t *p)
{
    const char *l = sl_conf_get_str(p->conf, "http.listen");
    return l && *l;
}

int sl__proc_http_port(const sl_processor_t *p)
{
    return atomic_load(&((sl_processor_t *)p)->http_port);
}

const sl__source_if_t *sl__proc_src(const sl_processor_t *p, void **opaque)
{
    *opaque = p->src_opaque;
    return p->src;
}

const sl__service_t *sl__proc_services(const sl_processor_t *p, size_t *n)
{
    *n = p->nsvcs;
    return p->svcs;
}

const char *sl__proc_phase(const sl_processor_t *p)
{
    static const char *const names[] = {"starting", NULL, "draining", "stopping", "stopped"};
    return names[p->state];
}

int sl__proc_failed(const sl_processor_t *p)
{
    return p->failed;
}

const char *sl__proc_name(const sl_processor_t *p)
{
    return p->name;
}

/* ---- drain and close ---- */

static void close_all(sl_processor_t *p);

static void finish_drain(sl_processor_t *p)
{
    if (p->state >= PROC_CLOSING)
        return;
    p->state = PROC_CLOSING;
    size_t left = sl_engine_inflight(p->e);
    if (p->failed)
        sl__log(p, "error",
                "stopped by a failure (%s) with %zu records in flight: they are not committed "
                "and will be read again",
                sl_strerror(p->failed), left);
    else if (left)
        sl__log(p, "warn", "drain timed out with %zu records in flight; they will be read again",
                left);
    else
        sl__log(p, "info", "drain complete");
    p->drain_timed_out = left != 0;
    /* The final commit and the source's close share close.timeout.ms, so a
     * shutdown lasts at most drain.timeout.ms + close.timeout.ms even when
     * the brokers answer nothing. */
    p->close_until_ns = uv_hrtime() + (uint64_t)p->close_ms * 1000000u;
    if (p->src && p->src->commit)
        p->src->commit(p->src_opaque, 1);
    if (p->src && p->src->close)
        p->src->close(p->src_opaque);
    /* A job blocked past the drain bound (a locked store) would keep the
     * loop from closing: what it did not finish is not committed. */
    if (left)
        interrupt_jobs(p);
    close_all(p);
}

static void engine_timer_cb(uv_timer_t *t)
{
    sl__proc_after(t->data);
}

void sl__proc_after(sl_processor_t *p)
{
    if (p->state == PROC_NEW || p->state == PROC_DONE)
        return;
    sl_engine_tick(p->e);
    sl_stats_t st;
    sl_engine_stats(p->e, &st);
    if (st.records_done != p->last_done) {
        p->last_done = st.records_done;
        p->last_done_ns = uv_hrtime();
    }
    /* A failing processor also ends its drain once only records that can
     * never be done are left. */
    size_t left = sl_engine_inflight(p->e);
    if (p->state == PROC_DRAINING && (left == 0 || (p->failed && left == sl__engine_stuck(p->e)))) {
        finish_drain(p);
        return;
    }
    if (p->state >= PROC_CLOSING)
        return;
    int64_t next = sl_engine_next_timeout(p->e);
    if (next < 0)
        uv_timer_stop(&p->engine_timer);
    else
        uv_timer_start(&p->engine_timer, engine_timer_cb, (uint64_t)next, 0);
}

void sl__proc_pump(sl_processor_t *p, int timeout_ms)
{
    deliver_finished(p);
    int each = p->nsvcs ? timeout_ms / (int)p->nsvcs : timeout_ms;
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i].poll)
            p->svcs[i].poll(p->svcs[i].opaque, each > 0 ? each : 0);
    if (!p->nsvcs && timeout_ms > 0) {
        struct timespec ts = {0, (long)timeout_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    deliver_finished(p);
    sl_engine_tick(p->e);
}

static void drain_timer_cb(uv_timer_t *t)
{
    finish_drain(t->data);
}

static void begin_drain(sl_processor_t *p, const char *why)
{
    if (p->state != PROC_RUNNING)
        return;
    p->state = PROC_DRAINING;
    sl__log(p, "info", "draining (%s): %zu records in flight", why, sl_engine_inflight(p->e));
    if (p->src && p->src->stop)
        p->src->stop(p->src_opaque);
    sl_engine_flush(p->e);
    uv_timer_start(&p->drain_timer, drain_timer_cb, (uint64_t)p->drain_ms, 0);
    sl__proc_after(p);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    begin_drain(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void stop_cb(uv_async_t *a)
{
    sl_processor_t *p = a->data;
    begin_drain(p, p->failed ? "failure" : "stop requested");
}

void sl__proc_fail(sl_processor_t *p, int err, const char *fmt, ...)
{
    if (!p || p->failed || p->state >= PROC_CLOSING)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->failed = err ? err : SL_EIO;
    sl__log(p, "error", "%s; stopping: what is not done is not committed and is read again", msg);
    /* The drain starts from the loop, not inside the caller's callback (a
     * delivery report, librdkafka's error callback). */
    if (p->state == PROC_RUNNING)
        uv_async_send(&p->stop_async);
}

void sl_processor_stop(sl_processor_t *p)
{
    if (p && p->state >= PROC_RUNNING && p->state < PROC_DONE)
        uv_async_send(&p->stop_async);
}

static void commit_cb(uv_timer_t *t)
{
    sl_processor_t *p = t->data;
    if (p->src && p->src->commit && p->state <= PROC_DRAINING)
        p->src->commit(p->src_opaque, 0);
}

/* One "stats" line: totals so far and the rate since the previous line. */
static void log_stats(sl_processor_t *p, const char *what)
{
    sl_stats_t st;
    sl_engine_stats(p->e, &st);
    uint64_t now = uv_hrtime();
    uint64_t since = p->last_ns ? p->last_ns : p->started_ns;
    double dt = (double)(now - since) / 1e9;
    double rate = dt > 0 ? (double)(st.records_in - p->last_in) / dt : 0;
    sl__log(p, "info",
            "%s: %llu records in, %llu done, %llu sunk, %llu skipped, %llu faults, %llu retries, "
            "%llu in flight, %.0f records/s",
            what, (unsigned long long)st.records_in, (unsigned long long)st.records_done,
            (unsigned long long)st.sunk, (unsigned long long)st.skipped,
            (unsigned long long)st.faults, (unsigned long long)st.retries,
            (unsigned long long)st.inflight, rate);
    p->last_in = st.records_in;
    p->last_ns = now;
}

static void stats_cb(uv_timer_t *t)
{
    log_stats(t->data, "stats");
}

static void close_all(sl_processor_t *p)
{
    uv_timer_stop(&p->engine_timer);
    uv_timer_stop(&p->commit_timer);
    uv_timer_stop(&p->drain_timer);
    uv_timer_stop(&p->stats_timer);
    for (size_t i = 0; i < p->nsvcs; i++)
        if (p->svcs[i].close)
            p->svcs[i].close(p->svcs[i].opaque);
    uv_close((uv_handle_t *)&p->engine_timer, NULL);
    uv_close((uv_handle_t *)&p->commit_timer, NULL);
    uv_close((uv_handle_t *)&p->drain_timer, NULL);
    uv_close((uv_handle_t *)&p->stats_timer, NULL);
    uv_close((uv_handle_t *)&p->stop_async, NULL);
    sl__ops_close(p->ops);
    if (p->signals) {
        uv_close((uv_handle_t *)&p->sigint, NULL);
        uv_close((uv_handle_t *)&p->sigterm, NULL);
    }
    p->state = PROC_DONE;
}

int sl_processor_run(sl_processor_t *p)
{
    if (!p)
        return SL_EINVAL;
    if (p->state != PROC_NEW) {
        sl__log(p, "error", "a processor runs once");
        return SL_ESTATE;
    }
    if (!p->src) {
        sl__log(p, "error", "no source attached");
        return SL_EINVAL;
    }
    char err[256];
    int rc = sl_engine_start(p->e, err, sizeof err);
    if (rc) {
        sl__log(p, "error", "cannot start: %s", err);
        return rc;
    }
    uv_timer_init(&p->loop, &p->engine_timer);
    uv_timer_init(&p->loop, &p->commit_timer);
    uv_timer_init(&p->loop, &p->drain_timer);
    uv_timer_init(&p->loop, &p->stats_timer);
    uv_async_init(&p->loop, &p->stop_async, stop_cb);
    p->engine_timer.data = p->commit_timer.data = p->drain_timer.data = p->stats_timer.data = p;
    p->started_ns = uv_hrtime();
    p->stop_async.data = p;
    if (p->signals) {
        uv_signal_init(&p->loop, &p->sigint);
        uv_signal_init(&p->loop, &p->sigterm);
        p->sigint.data = p->sigterm.data = p;
        uv_signal_start(&p->sigint, signal_cb, SIGINT);
        uv_signal_start(&p->sigterm, signal_cb, SIGTERM);
    }
    /* The endpoint first: a port in use stops the run before the source
     * joins its group. */
    rc = sl__ops_start(p, &p->ops);
    atomic_store(&p->http_port, sl__ops_port(p->ops));
    if (rc) {
        p->state = PROC_CLOSING;
        close_all(p);
        uv_run(&p->loop, UV_RUN_DEFAULT);
        return rc;
    }
    p->state = PROC_RUNNING;
    rc = p->src->start ? p->src->start(p->src_opaque) : 0;
    if (rc) {
        sl__log(p, "error", "source %s failed to start: %s", p->src->name, sl_strerror(rc));
        p->state = PROC_CLOSING;
        if (p->src->close)
            p->src->close(p->src_opaque);
        close_all(p);
        uv_run(&p->loop, UV_RUN_DEFAULT);
        sl__ops_free(p->ops);
        p->ops = NULL;
        return rc;
    }
    uv_timer_start(&p->commit_timer, commit_cb, (uint64_t)p->commit_ms, (uint64_t)p->commit_ms);
    if (p->stats_ms > 0)
        uv_timer_start(&p->stats_timer, stats_cb, (uint64_t)p->stats_ms, (uint64_t)p->stats_ms);
    sl__log(p, "info", "running");
    uv_run(&p->loop, UV_RUN_DEFAULT);
    /* Its connections are gone with the loop's last turn. */
    sl__ops_free(p->ops);
    p->ops = NULL;
    sl_stats_t st;
    sl_engine_stats(p->e, &st);
    double secs = (double)(uv_hrtime() - p->started_ns) / 1e9;
    /* The rate over the busy window: first record in to the last one done
     * (not the group join before, nor the idle time after). The first
     * record's time is the engine's, taken as it came in (the engine runs
     * on CLOCK_MONOTONIC, as uv_hrtime() does): the processor itself first
     * looks after the source's first read, which may have taken every
     * record and made the window nothing. */
    int64_t first_ms = sl__engine_first_in_ms(p->e);
    uint64_t first_ns = first_ms > 0 ? (uint64_t)first_ms * 1000000u : 0;
    double busy =
        first_ns && p->last_done_ns > first_ns ? (double)(p->last_done_ns - first_ns) / 1e9 : 0;
    sl__log(p, "info",
            "stopped after %.2f s: %llu records in, %llu done, %llu sunk, %llu skipped, "
            "%llu faults; %.0f records/s over the %.3f s from the first record in to the last "
            "done",
            secs, (unsigned long long)st.records_in, (unsigned long long)st.records_done,
            (unsigned long long)st.sunk, (unsigned long long)st.skipped,
            (unsigned long long)st.faults, busy > 0 ? (double)st.records_done / busy : 0, busy);
    if (p->failed)
        return p->failed;
    return p->drain_timed_out ? SL_ETIMEDOUT : 0;
}
