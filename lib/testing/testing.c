/* sluice — the public test driver: in-memory source and sinks, virtual clock. */
#include "sluice/testing.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>

#define T0_MS 1767225600000ll /* 2026-01-01T00:00:00Z */

typedef struct trec_s {
    sl_record_t rec;
    sl_header_t *hdrs;
    char *buf;
} trec_t;

typedef struct tpart_s {
    char *topic;
    int32_t partition;
    int64_t next_offset;
    int paused;
} tpart_t;

struct sl_test_sink_s {
    sl_test_t *t;
    char *name;
    sl_sink_t *sink;
    sl_test_msg_t *msgs;
    size_t n, cap;
    size_t *wsizes;
    size_t nw, wcap;
    sl_test_ack_t mode;
    size_t fail_next, fail_writes;
    int fail_err, fail_writes_err;
    sl_uow_t **pending;
    size_t npend, pcap;
    sl_test_sink_t *next;
};

/* A job of the driver's executor: queued, run later on the test's thread. */
typedef struct tjob_s {
    sl_job_t job;
    struct tjob_s *next;
} tjob_t;

struct sl_test_s {
    tjob_t *jhead, *jtail;
    size_t njobs;
    int hold_jobs, running_jobs, closing;
    sl_engine_t *e;
    int64_t now;
    sl_test_sink_t *sinks;
    sl_test_sink_t *faults;
    size_t inflight;
    int started;
    int paused_all;
    tpart_t *parts;
    size_t nparts, pcap;
};

static int64_t vclock(void *opaque)
{
    return ((sl_test_t *)opaque)->now;
}

static void src_release(void *opaque, const sl_record_t *rec, int done)
{
    sl_test_t *t = opaque;
    trec_t *r = (trec_t *)rec; /* rec is the first member */
    (void)done;
    t->inflight--;
    sl_free(r->hdrs);
    sl_free(r->buf);
    sl_free(r);
}

static tpart_t *tpart(sl_test_t *t, const char *topic, int32_t partition, int create)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && !strcmp(t->parts[i].topic, topic))
            return &t->parts[i];
    if (!create || sl__grow(&t->parts, &t->pcap, t->nparts + 1, sizeof *t->parts, 16))
        return NULL;
    char *name = sl_strdup(topic);
    if (!name)
        return NULL;
    tpart_t *p = &t->parts[t->nparts++];
    p->topic = name;
    p->partition = partition;
    p->next_offset = 0;
    p->paused = 0;
    return p;
}

static void src_flow(void *opaque, const char *topic, int32_t partition, int pause)
{
    sl_test_t *t = opaque;
    if (partition == SL_PARTITION_ALL) {
        t->paused_all = pause;
        return;
    }
    tpart_t *p = tpart(t, topic, partition, 0);
    if (p)
        p->paused = pause;
}

static void settle(sl_test_t *t);

/* ---- sinks ---- */

static int store_msg(sl_test_sink_t *s, sl_uow_t *u)
{
    if (sl__grow(&s->msgs, &s->cap, s->n + 1, sizeof *s->msgs, 16))
        return SL_ENOMEM;
    sl_span_t k, v;
    sl_uow_output(u, &k, &v);
    const sl_record_t *r = sl_uow_record(u);
    size_t tl = strlen(r->topic);
    size_t nh;
    const sl_header_t *h = sl_uow_output_headers(u, &nh);
    size_t hl = nh * sizeof *h;
    for (size_t i = 0; i < nh; i++)
        hl += strlen(h[i].name) + 1 + h[i].value_len + 1;
    /* key, value, topic, then the headers (array first, for alignment it
     * goes in a buffer of its own) */
    char *b = sl_malloc(k.len + v.len + tl + 3);
    sl_header_t *hb = nh ? sl_malloc(hl) : NULL;
    if (!b || (nh && !hb)) {
        sl_free(b);
        sl_free(hb);
        return SL_ENOMEM;
    }
    char *hp = (char *)(hb + nh);
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(h[i].name) + 1;
        memcpy(hp, h[i].name, nl);
        hb[i].name = hp;
        hp += nl;
        if (h[i].value_len)
            memcpy(hp, h[i].value, h[i].value_len);
        hp[h[i].value_len] = 0;
        hb[i].value = hp;
        hb[i].value_len = h[i].value_len;
        hp += h[i].value_len + 1;
    }
    if (k.len)
        memcpy(b, k.ptr, k.len);
    b[k.len] = 0;
    if (v.len)
        memcpy(b + k.len + 1, v.ptr, v.len);
    b[k.len + 1 + v.len] = 0;
    memcpy(b + k.len + v.len + 2, r->topic, tl + 1);
    sl_test_msg_t *m = &s->msgs[s->n++];
    m->pipeline = sl_uow_pipeline(u);
    m->key = b;
    m->key_len = k.len;
    m->value = b + k.len + 1;
    m->value_len = v.len;
    m->topic = b + k.len + v.len + 2;
    m->partition = r->partition;
    m->offset = r->offset;
    m->batch = s->nw ? s->nw - 1 : 0;
    m->headers = hb;
    m->header_count = nh;
    return 0;
}

static int sink_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    sl_test_sink_t *s = opaque;
    if (sl__grow(&s->wsizes, &s->wcap, s->nw + 1, sizeof *s->wsizes, 16))
        return SL_ENOMEM;
    s->wsizes[s->nw++] = n;
    if (s->fail_writes) {
        s->fail_writes--;
        return s->fail_writes_err;
    }
    for (size_t i = 0; i < n; i++) {
        sl_uow_t *u = uows[i];
        if (s->mode == SL_TEST_ACK_MANUAL) {
            if (sl__grow(&s->pending, &s->pcap, s->npend + 1, sizeof *s->pending, 16)) {
                sl_uow_ack(u, SL_ENOMEM);
                continue;
            }
            s->pending[s->npend++] = u;
        } else if (s->fail_next) {
            s->fail_next--;
            sl_uow_ack(u, s->fail_err);
        } else {
            sl_uow_ack(u, store_msg(s, u));
        }
    }
    return 0;
}

sl_test_sink_t *sl_test_sink_new(sl_test_t *t, const char *name, size_t max_events,
                                 size_t max_bytes, size_t max_record_bytes)
{
    if (!t || !name)
        return NULL;
    sl_test_sink_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->t = t;
    s->name = sl_strdup(name);
    sl_sink_ops_t ops = {.name = s->name,
                         .write = sink_write,
                         .destroy = NULL,
                         .max_events = max_events,
                         .max_bytes = max_bytes,
                         .max_record_bytes = max_record_bytes};
    if (!s->name || !(s->sink = sl_sink_new(&ops, s))) {
        sl_free(s->name);
        sl_free(s);
        return NULL;
    }
    s->next = t->sinks;
    t->sinks = s;
    return s;
}

static void sink_free(sl_test_sink_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        sl_free((void *)s->msgs[i].key);
        sl_free((void *)s->msgs[i].headers);
    }
    sl_free(s->msgs);
    sl_free(s->wsizes);
    sl_free(s->pending);
    sl_sink_destroy(s->sink);
    sl_free(s->name);
    sl_free(s);
}

const char *sl_test_sink_name(const sl_test_sink_t *s)
{
    return s ? s->name : NULL;
}

sl_sink_t *sl_test_sink_handle(sl_test_sink_t *s)
{
    return s ? s->sink : NULL;
}

sl_test_sink_t *sl_test_faults(sl_test_t *t)
{
    return t->faults;
}

size_t sl_test_sink_count(const sl_test_sink_t *s)
{
    return s->n;
}

const sl_test_msg_t *sl_test_sink_msg(const sl_test_sink_t *s, size_t i)
{
    return i < s->n ? &s->msgs[i] : NULL;
}

size_t sl_test_sink_writes(const sl_test_sink_t *s)
{
    return s->nw;
}

size_t sl_test_sink_write_size(const sl_test_sink_t *s, size_t i)
{
    return i < s->nw ? s->wsizes[i] : 0;
}

void sl_test_sink_set_ack(sl_test_sink_t *s, sl_test_ack_t mode)
{
    s->mode = mode;
}

void sl_test_sink_fail_next(sl_test_sink_t *s, size_t count, int err)
{
    s->fail_next = count;
    s->fail_err = err;
}

void sl_test_sink_fail_writes(sl_test_sink_t *s, size_t count, int err)
{
    s->fail_writes = count;
    s->fail_writes_err = err;
}

size_t sl_test_sink_pending(const sl_test_sink_t *s)
{
    return s->npend;
}

const char *sl_test_sink_pending_value(const sl_test_sink_t *s, size_t i, size_t *len)
{
    if (i >= s->npend)
        return NULL;
    sl_span_t v;
    sl_uow_output(s->pending[i], NULL, &v);
    if (len)
        *len = v.len;
    return v.ptr;
}

int sl_test_sink_ack(sl_test_sink_t *s, size_t i, int err)
{
    if (i >= s->npend)
        return SL_ERANGE;
    sl_uow_t *u = s->pending[i];
    memmove(&s->pending[i], &s->pending[i + 1], (s->npend - i - 1) * sizeof *s->pending);
    s->npend--;
    if (!err)
        err = store_msg(s, u);
    sl_uow_ack(u, err);
    settle(s->t);
    return 0;
}

void sl_test_sink_clear(sl_test_sink_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        sl_free((void *)s->msgs[i].key);
        sl_free((void *)s->msgs[i].headers);
    }
    s->n = 0;
    s->nw = 0;
}

/* ---- executor ---- */

/* Deferred rather than on a thread: a job runs (work, then done) when the
 * driver call that submitted it is about to return, so every run is the
 * same run, and sl_test_hold_jobs() lets a test look in between. */
static int job_submit(void *opaque, const sl_job_t *job)
{
    sl_test_t *t = opaque;
    if (t->closing)
        return SL_ESHUTDOWN;
    tjob_t *j = sl_malloc(sizeof *j);
    if (!j)
        return SL_ENOMEM;
    j->job = *job;
    j->next = NULL;
    if (t->jtail)
        t->jtail->next = j;
    else
        t->jhead = j;
    t->jtail = j;
    t->njobs++;
    return 0;
}

static size_t run_jobs(sl_test_t *t, int status)
{
    size_t n = 0;
    t->running_jobs = 1;
    while (t->jhead) {
        tjob_t *j = t->jhead;
        t->jhead = j->next;
        if (!t->jhead)
            t->jtail = NULL;
        t->njobs--;
        if (!status)
            j->job.work(j->job.arg);
        j->job.done(j->job.arg, status);
        sl_free(j);
        n++;
    }
    t->running_jobs = 0;
    return n;
}

size_t sl_test_run_jobs(sl_test_t *t)
{
    return t && !t->running_jobs ? run_jobs(t, 0) : 0;
}

void sl_test_hold_jobs(sl_test_t *t, int hold)
{
    if (t)
        t->hold_jobs = hold;
}

size_t sl_test_jobs_pending(const sl_test_t *t)
{
    return t ? t->njobs : 0;
}

/* At the end of a driver call: run what it submitted, unless held. */
static void settle(sl_test_t *t)
{
    if (!t->hold_jobs && !t->running_jobs)
        run_jobs(t, 0);
}

/* ---- driver ---- */

sl_test_t *sl_test_new(const sl_conf_t *conf, char *errstr, size_t errstr_size)
{
    sl_test_t *t = sl_calloc(1, sizeof *t);
    sl_conf_t *c = conf ? sl_conf_dup(conf) : sl_conf_new();
    if (!t || !c)
        goto oom;
    if (sl_conf_get_int(c, "random.seed") == 0 && sl_conf_set(c, "random.seed", "1", NULL, 0))
        goto oom;
    t->now = T0_MS;
    t->e = sl_engine_new(c, errstr, errstr_size);
    sl_conf_destroy(c);
    c = NULL;
    if (!t->e)
        goto fail;
    sl_clock_t clk = {vclock, t};
    sl_source_ops_t src = {src_release, src_flow};
    sl_executor_t ex = {job_submit, t};
    sl_engine_set_clock(t->e, &clk);
    sl_engine_set_source(t->e, &src, t);
    sl_engine_set_executor(t->e, &ex);
    t->faults = sl_test_sink_new(t, "faults", 0, 0, 0);
    if (!t->faults)
        goto oom;
    sl_engine_set_fault_sink(t->e, t->faults->sink);
    return t;
oom:
    sl__errf(errstr, errstr_size, "out of memory");
fail:
    sl_conf_destroy(c);
    sl_test_destroy(t);
    return NULL;
}

void sl_test_destroy(sl_test_t *t)
{
    if (!t)
        return;
    /* Jobs borrow the engine's uows: cancel what is queued first (done
     * with SL_ESHUTDOWN, work never runs), and take no new one. */
    t->closing = 1;
    run_jobs(t, SL_ESHUTDOWN);
    sl_engine_destroy(t->e);
    while (t->sinks) {
        sl_test_sink_t *s = t->sinks;
        t->sinks = s->next;
        sink_free(s);
    }
    for (size_t i = 0; i < t->nparts; i++)
        sl_free(t->parts[i].topic);
    sl_free(t->parts);
    sl_free(t);
}

int sl_test_add_pipeline(sl_test_t *t, sl_pipeline_t *p)
{
    /* No driver: the engine's own check leaves the message on @p p. */
    return sl_engine_add_pipeline(t ? t->e : NULL, p);
}

int sl_test_start(sl_test_t *t)
{
    if (!t)
        return SL_EINVAL;
    if (t->started)
        return 0;
    int rc = sl_engine_start(t->e, NULL, 0);
    if (!rc)
        t->started = 1;
    return rc;
}

int sl_test_push_record(sl_test_t *t, const sl_record_t *in)
{
    if (!t || !in || !in->topic)
        return SL_EINVAL;
    int rc = sl_test_start(t);
    if (rc)
        return rc;
    tpart_t *p = tpart(t, in->topic, in->partition, 1);
    if (!p)
        return SL_ENOMEM;
    /* One block for topic, key, value, position and header bytes. */
    size_t tl = strlen(in->topic) + 1, pl = in->position ? strlen(in->position) + 1 : 0;
    size_t need = tl + in->key_len + in->value_len + pl + 1;
    for (size_t i = 0; i < in->header_count; i++)
        need += strlen(in->headers[i].name) + 1 + in->headers[i].value_len;
    trec_t *r = sl_calloc(1, sizeof *r);
    char *b = sl_malloc(need);
    sl_header_t *h = in->header_count ? sl_calloc(in->header_count, sizeof *h) : NULL;
    if (!r || !b || (in->header_count && !h)) {
        sl_free(r);
        sl_free(b);
        sl_free(h);
        return SL_ENOMEM;
    }
    char *o = b;
    memcpy(o, in->topic, tl);
    r->rec.topic = o;
    o += tl;
    if (in->key) {
        memcpy(o, in->key, in->key_len);
        r->rec.key = o;
        r->rec.key_len = in->key_len;
        o += in->key_len;
    }
    if (in->value) {
        memcpy(o, in->value, in->value_len);
        r->rec.value = o;
        r->rec.value_len = in->value_len;
        o += in->value_len;
    }
    if (in->position) {
        memcpy(o, in->position, pl);
        r->rec.position = o;
        o += pl;
    }
    for (size_t i = 0; i < in->header_count; i++) {
        size_t nl = strlen(in->headers[i].name) + 1;
        memcpy(o, in->headers[i].name, nl);
        h[i].name = o;
        o += nl;
        if (in->headers[i].value_len)
            memcpy(o, in->headers[i].value, in->headers[i].value_len);
        h[i].value = o;
        h[i].value_len = in->headers[i].value_len;
        o += in->headers[i].value_len;
    }
    r->buf = b;
    r->hdrs = h;
    r->rec.headers = h;
    r->rec.header_count = in->header_count;
    r->rec.partition = in->partition;
    r->rec.offset = in->offset < 0 ? p->next_offset : in->offset;
    r->rec.timestamp_ms = in->timestamp_ms ? in->timestamp_ms : t->now;
    /* The engine may release the record before push returns: count it first. */
    int64_t next = r->rec.offset + 1;
    t->inflight++;
    rc = sl_engine_push(t->e, &r->rec);
    if (rc) {
        t->inflight--;
        sl_free(r->hdrs);
        sl_free(r->buf);
        sl_free(r);
        return rc;
    }
    p->next_offset = next;
    settle(t);
    return 0;
}

int sl_test_push(sl_test_t *t, const char *topic, int32_t partition, int64_t offset,
                 const void *key, size_t key_len, const void *value, size_t value_len)
{
    sl_record_t rec = {.topic = topic,
                       .partition = partition,
                       .offset = offset,
                       .key = key,
                       .key_len = key ? key_len : 0,
                       .value = value,
                       .value_len = value ? value_len : 0};
    return sl_test_push_record(t, &rec);
}

int sl_test_push_str(sl_test_t *t, const char *topic, int32_t partition, const char *key,
                     const char *value)
{
    return sl_test_push(t, topic, partition, -1, key, key ? strlen(key) : 0, value,
                        value ? strlen(value) : 0);
}

void sl_test_tick(sl_test_t *t)
{
    if (t && t->started) {
        sl_engine_tick(t->e);
        settle(t);
    }
}

void sl_test_advance(sl_test_t *t, int64_t ms)
{
    if (!t || ms < 0)
        return;
    int64_t target = t->now + ms;
    for (;;) {
        int64_t next = t->started ? sl_engine_next_timeout(t->e) : -1;
        if (next < 0 || t->now + next > target)
            break;
        t->now += next;
        sl_engine_tick(t->e);
        settle(t);
    }
    t->now = target;
    sl_test_tick(t);
}

int64_t sl_test_now(const sl_test_t *t)
{
    return t->now;
}

int64_t sl_test_committed(sl_test_t *t, const char *topic, int32_t partition)
{
    return sl_engine_watermark(t->e, topic, partition);
}

int sl_test_paused(const sl_test_t *t, const char *topic, int32_t partition)
{
    if (t->paused_all)
        return 1;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && !strcmp(t->parts[i].topic, topic))
            return t->parts[i].paused;
    return 0;
}

size_t sl_test_inflight(const sl_test_t *t)
{
    return t->inflight;
}

sl_engine_t *sl_test_engine(sl_test_t *t)
{
    return t->e;
}
