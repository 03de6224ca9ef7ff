/* sluice — Kinesis sink: PutRecords calls of at most 500 records and 5 MiB,
 * one entry per partition key in flight, only failed entries written again
 * (by the sink, with backoff, its key held until it is stored). */
#include "core/core.h"
#include "core/describe.h"
#include "core/util.h"
#include "kinesis/client.h"
#include "kinesis/envelope.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"
#include "sluice/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUT_MAX_RECORDS 500
#define PUT_MAX_BYTES (5 * 1024 * 1024)
#define RECORD_MAX_BYTES (1024 * 1024)
#define PKEY_MAX 256

/* One event at the sink, from its write to its acknowledgement. */
typedef struct ent_s {
    sl_uow_t *u;
    sl_span_t key;     /* its partition key (borrowed from the uow) */
    size_t bytes;      /* data and key, against the 5 MiB of a call */
    unsigned attempts; /* times written again so far */
    int64_t due;       /* loop time of its next write, once failed */
    struct ent_s *next;
} ent_t;

typedef struct put_s {
    struct kin_sink_s *s;
    ent_t **ents;
    size_t n;
    struct put_s *next;
} put_t;

typedef struct kin_sink_s {
    sl_processor_t *proc;
    sl__kin_t *kin;
    char *stream;
    /* Per key, one event at a time is written: a later event of a key is
     * sent only once the earlier ones are stored (or given up as faults).
     * Kinesis stores the other entries of a call when some fail, so two
     * entries of one key in flight together could be stored out of order;
     * re-sending the later one behind the earlier would duplicate it. */
    ent_t *pend, **pend_tail; /* not written yet, in write order */
    ent_t *retry;             /* failed, waiting for their backoff (one per key) */
    put_t *calls;             /* in flight */
    ent_t *spare;             /* free entries, reused */
    struct {                  /* the keys taken while a call is made */
        const char **p;
        size_t *len;
        uint32_t *gen;
        size_t cap;
        uint32_t cur;
    } keys;
    uv_timer_t *timer; /* the next due retry; closed with the sink */
    unsigned retry_max;
    int busy;  /* a pump or an answer is being handled */
    int again; /* ... and more was written meanwhile */
    int closed;
    int down;        /* the stream cannot be written at all: every write is SL_ESINKDOWN */
    int unreachable; /* the last PutRecords got no usable answer: its sl__kin_fail_t, else 0 */
} kin_sink_t;

static void pump(kin_sink_t *s);

static void put_free(put_t *c)
{
    sl_free(c->ents);
    sl_free(c);
}

static void ent_put(kin_sink_t *s, ent_t *e)
{
    e->next = s->spare;
    s->spare = e;
}

/* Acknowledge @p e with @p err (0: stored) and recycle it. */
static void ent_ack(kin_sink_t *s, ent_t *e, int err, const char *msg)
{
    sl_uow_t *u = e->u;
    ent_put(s, e);
    if (err)
        sl_uow_fail(u, err, msg);
    sl_uow_ack(u, err);
}

/* ---- the keys of a call in the making ---- */

static uint64_t key_hash(sl_span_t k)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < k.len; i++)
        h = (h ^ (unsigned char)k.ptr[i]) * 1099511628211ULL;
    return h;
}

/* Room for @p n keys at most half full, all slots empty. */
static int keys_reset(kin_sink_t *s, size_t n)
{
    size_t want = 64;
    while (want < 2 * n)
        want *= 2;
    if (want > s->keys.cap) {
        const char **p = sl_malloc(want * sizeof *p);
        size_t *len = sl_malloc(want * sizeof *len);
        uint32_t *gen = sl_calloc(want, sizeof *gen);
        if (!p || !len || !gen) {
            sl_free(p);
            sl_free(len);
            sl_free(gen);
            return SL_ENOMEM;
        }
        sl_free(s->keys.p);
        sl_free(s->keys.len);
        sl_free(s->keys.gen);
        s->keys.p = p;
        s->keys.len = len;
        s->keys.gen = gen;
        s->keys.cap = want;
        s->keys.cur = 0;
    }
    /* A new generation empties every slot. */
    if (++s->keys.cur == 0) {
        memset(s->keys.gen, 0, s->keys.cap * sizeof *s->keys.gen);
        s->keys.cur = 1;
    }
    return 0;
}

/* Take key @p k: 1 when it was free, 0 when already taken. */
static int key_take(kin_sink_t *s, sl_span_t k)
{
    size_t mask = s->keys.cap - 1, i = (size_t)key_hash(k) & mask;
    while (s->keys.gen[i] == s->keys.cur) {
        if (s->keys.len[i] == k.len && !memcmp(s->keys.p[i], k.ptr, k.len))
            return 0;
        i = (i + 1) & mask;
    }
    s->keys.gen[i] = s->keys.cur;
    s->keys.p[i] = k.ptr;
    s->keys.len[i] = k.len;
    return 1;
}

/* ---- retries ---- */

/* The engine's own backoff (retry.backoff.ms, retry.backoff.max.ms, its
 * random.seed): a retry here waits as one made by the engine would. */
static int64_t backoff(kin_sink_t *s, unsigned attempt)
{
    return sl__backoff(sl__proc_engine(s->proc), attempt);
}

static int64_t loop_now(kin_sink_t *s)
{
    return (int64_t)uv_now(sl__proc_loop(s->proc));
}

/* The write of @p e failed with a transient error (@p msg): written again
 * at loop time @p due, its key held meanwhile. Past retry.max it goes back
 * to the engine as SL_EAGAIN, which counts that last failure as it counts
 * its own: a fault (SL_ERETRIES) from a pipeline's sink, from the fault sink
 * a retry with intake held (a fault is never dropped nor cut for it). */
static void ent_retry(kin_sink_t *s, ent_t *e, const char *msg, int64_t due)
{
    if (s->down) {
        ent_ack(s, e, SL_ESINKDOWN, "kinesis sink unusable");
        return;
    }
    if (s->closed) {
        ent_ack(s, e, SL_ESHUTDOWN, msg);
        return;
    }
    if (e->attempts >= s->retry_max) {
        ent_ack(s, e, SL_EAGAIN, msg);
        return;
    }
    e->attempts++;
    sl__uow_sink_retry(e->u);
    e->due = due;
    e->next = s->retry;
    s->retry = e;
}

/* The due time of the failed entries of one call: one backoff for them all
 * (for the most tried), so that they go again together, in one call. */
static int64_t retry_due(kin_sink_t *s, ent_t *const *ents, size_t n, const int *failed)
{
    unsigned most = 0;
    for (size_t i = 0; i < n; i++)
        if ((!failed || failed[i]) && ents[i]->attempts > most)
            most = ents[i]->attempts;
    return loop_now(s) + backoff(s, most + 1);
}

static void on_timer(uv_timer_t *t)
{
    kin_sink_t *s = t->data;
    pump(s);
    sl__proc_after(s->proc);
}

/* ---- calls ---- */

static void on_put(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    put_t *c = opaque;
    kin_sink_t *s = c->s;
    for (put_t **pp = &s->calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    s->busy++;
    if (why != KIN_SHUTDOWN)
        s->unreachable = why == KIN_TRANSPORT || why == KIN_SERVER ? (int)why : 0;
    char cmsg[300];
    snprintf(cmsg, sizeof cmsg, "%s", msg ? msg : err ? sl_strerror(err) : "");
    if (err && (why == KIN_DENIED || why == KIN_NOT_FOUND)) {
        /* No access, bad credentials, no such stream: the sink itself is
         * broken, not the records. Retrying or faulting them would drain the
         * whole stream into faults; they stay undone and the processor
         * fails, to read them again once it is fixed. */
        if (!s->down) {
            s->down = 1;
            sl__proc_fail(s->proc, SL_ESINKDOWN, "kinesis sink %s is unusable: %s", s->stream,
                          cmsg);
        }
        for (size_t i = 0; i < c->n; i++)
            ent_ack(s, c->ents[i], SL_ESINKDOWN, cmsg);
        /* Nothing queued can be written either. */
        while (s->retry) {
            ent_t *e = s->retry;
            s->retry = e->next;
            ent_ack(s, e, SL_ESINKDOWN, cmsg);
        }
        while (s->pend) {
            ent_t *e = s->pend;
            s->pend = e->next;
            ent_ack(s, e, SL_ESINKDOWN, cmsg);
        }
        s->pend_tail = &s->pend;
    } else if (err && why == KIN_INVALID) {
        /* Validation errors are permanent: faults. */
        for (size_t i = 0; i < c->n; i++)
            ent_ack(s, c->ents[i], SL_ESINK, cmsg);
    } else if (err && why == KIN_SHUTDOWN) {
        for (size_t i = 0; i < c->n; i++)
            ent_ack(s, c->ents[i], SL_ESHUTDOWN, cmsg);
    } else if (err) {
        /* Throttled, a server error, no answer: the whole call again. */
        int64_t due = retry_due(s, c->ents, c->n, NULL);
        for (size_t i = 0; i < c->n; i++)
            ent_retry(s, c->ents[i], cmsg, due);
    } else {
        int *entry = sl_calloc(c->n, sizeof *entry);
        char **emsg = sl_calloc(c->n, sizeof *emsg);
        int rc = entry && emsg ? sl__kin_put_results(resp, c->n, entry, emsg, cmsg, sizeof cmsg)
                               : SL_ENOMEM;
        if (rc == SL_ENOMEM)
            snprintf(cmsg, sizeof cmsg, "kinesis PutRecords: out of memory reading the answer");
        /* The failed entries go back first (their keys held), then the
         * stored ones are acknowledged. */
        int64_t due = retry_due(s, c->ents, c->n, rc ? NULL : entry);
        for (size_t i = 0; i < c->n; i++)
            if (rc || entry[i])
                ent_retry(s, c->ents[i],
                          rc        ? cmsg
                          : emsg[i] ? emsg[i]
                                    : "kinesis PutRecords entry failed",
                          due);
        for (size_t i = 0; !rc && i < c->n; i++)
            if (!entry[i])
                ent_ack(s, c->ents[i], 0, NULL);
        for (size_t i = 0; emsg && i < c->n; i++)
            sl_free(emsg[i]);
        sl_free(emsg);
        sl_free(entry);
    }
    put_free(c);
    s->busy--;
    pump(s);
    sl__proc_after(s->proc);
}

/* A PutRecords call of the entries @p ents[0, n) (taken off the queues):
 * 0, or an error with nothing sent. */
static int send_call(kin_sink_t *s, ent_t **ents, size_t n, char *msg, size_t msg_size)
{
    put_t *c = sl_calloc(1, sizeof *c);
    json_t *req = json_object(), *recs = json_array();
    char *b64 = NULL;
    size_t b64cap = 0;
    int rc = SL_ENOMEM;
    snprintf(msg, msg_size, "kinesis PutRecords not sent: out of memory");
    if (!c || !req || !recs || json_object_set_new(req, "StreamName", json_string(s->stream)) ||
        json_object_set(req, "Records", recs))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sl_span_t k, v;
        sl_uow_output(ents[i]->u, &k, &v);
        /* A value that starts with the envelope's magic goes in an envelope
         * of its own (key mode 0, no headers): a Kinesis source unwraps
         * what starts with the magic, and would otherwise take these bytes
         * for an envelope (another value, headers) or fault them. */
        unsigned char *env = NULL;
        const void *data = v.ptr;
        size_t dl = v.len;
        if (sl__kenv_is(v.ptr, v.len)) {
            if (sl__kenv_wrap(SL__KENV_KEY_PK, NULL, 0, NULL, 0, v.ptr, v.len, &env, &dl))
                goto fail;
            data = env;
        }
        size_t need = 4 * ((dl + 2) / 3) + 1;
        if (need > b64cap) {
            char *nb = sl_realloc(b64, need);
            if (!nb) {
                sl_free(env);
                goto fail;
            }
            b64 = nb;
            b64cap = need;
        }
        size_t bl = sl_base64_encode(data, dl, b64);
        sl_free(env);
        json_t *e = json_pack("{s:s%,s:s%}", "Data", b64, bl, "PartitionKey", ents[i]->key.ptr,
                              ents[i]->key.len);
        if (!e || json_array_append_new(recs, e))
            goto fail;
    }
    sl_free(b64);
    b64 = NULL;
    json_decref(recs);
    recs = NULL;
    c->s = s;
    c->ents = ents;
    c->n = n;
    c->next = s->calls;
    s->calls = c;
    rc = sl__kin_call(s->kin, "PutRecords", req, on_put, c);
    req = NULL; /* stolen */
    if (!rc)
        return 0;
    s->calls = c->next;
    c->ents = NULL;
    snprintf(msg, msg_size, "kinesis PutRecords not sent: %s", sl_strerror(rc));
fail:
    sl_free(b64);
    json_decref(recs);
    json_decref(req);
    if (c)
        put_free(c);
    return rc;
}

/* Write what may be written: per call, the due failed entries and the
 * earliest pending entry of each key that has none in flight or waiting. */
static void pump(kin_sink_t *s)
{
    if (s->busy) {
        s->again = 1;
        return;
    }
    s->busy++;
    int64_t next_due = INT64_MAX; /* set when out of memory: try again then */
    do {
        s->again = 0;
        if (s->closed || s->down || (!s->pend && !s->retry))
            break;
        int64_t now = loop_now(s);
        size_t nkeys = 0;
        for (put_t *c = s->calls; c; c = c->next)
            nkeys += c->n;
        for (ent_t *e = s->retry; e; e = e->next)
            nkeys++;
        for (ent_t *e = s->pend; e; e = e->next)
            nkeys++;
        ent_t **ents = sl_malloc(PUT_MAX_RECORDS * sizeof *ents);
        if (!ents || keys_reset(s, nkeys)) {
            sl_free(ents);
            next_due = now + backoff(s, 3);
            break;
        }
        for (put_t *c = s->calls; c; c = c->next)
            for (size_t i = 0; i < c->n; i++)
                key_take(s, c->ents[i]->key);
        size_t n = 0, bytes = 0;
        int full = 0;
        for (ent_t **pp = &s->retry; *pp;) {
            ent_t *e = *pp;
            key_take(s, e->key);
            if (e->due > now || n == PUT_MAX_RECORDS || bytes + e->bytes > PUT_MAX_BYTES) {
                full |= e->due <= now;
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            ents[n++] = e;
            bytes += e->bytes;
        }
        for (ent_t **pp = &s->pend; *pp && n < PUT_MAX_RECORDS;) {
            ent_t *e = *pp;
            if (!key_take(s, e->key)) {
                pp = &e->next;
                continue;
            }
            if (bytes + e->bytes > PUT_MAX_BYTES) {
                full = 1;
                break;
            }
            *pp = e->next;
            if (s->pend_tail == &e->next)
                s->pend_tail = pp;
            ents[n++] = e;
            bytes += e->bytes;
        }
        if (!n) {
            sl_free(ents);
            break;
        }
        /* A full call may leave more to write: go round again. */
        s->again = full || n == PUT_MAX_RECORDS;
        char msg[300];
        int rc = send_call(s, ents, n, msg, sizeof msg);
        if (rc) {
            int64_t due = retry_due(s, ents, n, NULL);
            for (size_t i = 0; i < n; i++)
                ent_retry(s, ents[i], msg, due);
            sl_free(ents);
            if (rc == SL_ESHUTDOWN)
                break;
            s->again = 1;
        }
    } while (s->again);
    s->again = 0;
    if (s->timer && !s->closed) {
        /* The earliest waiting retry (whatever added it) wakes the sink. */
        for (ent_t *e = s->retry; e; e = e->next)
            if (e->due < next_due)
                next_due = e->due;
        uv_timer_stop(s->timer);
        if (next_due != INT64_MAX) {
            int64_t wait = next_due - loop_now(s);
            uv_timer_start(s->timer, on_timer, (uint64_t)(wait > 0 ? wait : 0), 0);
        }
    }
    s->busy--;
}

/* For /ready: the stream is usable and the endpoint answered the last write. */
static int svc_ready(void *opaque, char *why, size_t why_size)
{
    kin_sink_t *s = opaque;
    if (s->down) {
        snprintf(why, why_size, "kinesis sink %s: unusable", s->stream);
        return 0;
    }
    if (s->unreachable) {
        snprintf(why, why_size, "kinesis sink %s: the endpoint %s", s->stream,
                 s->unreachable == KIN_TRANSPORT ? "does not answer"
                                                 : "answers with server errors");
        return 0;
    }
    return 1;
}

static int ks_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    kin_sink_t *s = opaque;
    int refused = sl__sink_refusal(s->closed, s->down);
    if (refused)
        return refused;
    /* Every entry first, so that nothing is queued when one is missing. */
    size_t have = 0;
    for (ent_t *e = s->spare; e && have < n; e = e->next)
        have++;
    for (; have < n; have++) {
        ent_t *e = sl_malloc(sizeof *e);
        if (!e)
            return SL_ENOMEM;
        ent_put(s, e);
    }
    /* Entries the service cannot take are faults now; the rest are queued. */
    for (size_t i = 0; i < n; i++) {
        sl_span_t k, v;
        sl_uow_output(uows[i], &k, &v);
        if (!k.len)
            k = sl_uow_key(uows[i]);
        if (!k.len || k.len > PKEY_MAX) {
            sl_uow_fail(uows[i], SL_ESINK,
                        k.len ? "kinesis: partition key longer than 256 characters"
                              : "kinesis: the event has no partition key");
            sl_uow_ack(uows[i], SL_ESINK);
            continue;
        }
        /* What Kinesis counts against its 1 MiB: the data (in its envelope
         * when the value starts with the magic, see send_call) and the
         * partition key. Over it, the service would refuse the whole call. */
        size_t bytes = k.len + v.len + (sl__kenv_is(v.ptr, v.len) ? SL__KENV_MAGIC_LEN + 3 : 0);
        if (bytes > RECORD_MAX_BYTES) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "kinesis: %zu bytes with the partition key (and envelope), over the 1 MiB "
                     "of a record",
                     bytes);
            sl_uow_fail(uows[i], SL_ETOOBIG, msg);
            sl_uow_ack(uows[i], SL_ETOOBIG);
            continue;
        }
        ent_t *e = s->spare;
        s->spare = e->next;
        e->u = uows[i];
        e->key = k;
        e->bytes = bytes;
        e->attempts = 0;
        e->due = 0;
        e->next = NULL;
        *s->pend_tail = e;
        s->pend_tail = &e->next;
    }
    pump(s);
    return 0;
}

static void svc_poll(void *opaque, int timeout_ms)
{
    (void)opaque;
    (void)timeout_ms; /* curl progresses on the loop; nothing to pump */
}

static void timer_closed(uv_handle_t *h)
{
    sl_free(h);
}

static void svc_shutdown(void *opaque)
{
    kin_sink_t *s = opaque;
    if (s->closed)
        return;
    s->closed = 1;
    /* In-flight calls come back with SL_ESHUTDOWN; then what waits here,
     * each key's earlier entries first (a waiting retry is earlier than any
     * pending entry of its key). */
    sl__kin_close(s->kin);
    s->busy++;
    while (s->retry) {
        ent_t *e = s->retry;
        s->retry = e->next;
        ent_ack(s, e, SL_ESHUTDOWN, "kinesis sink closed before the retry");
    }
    while (s->pend) {
        ent_t *e = s->pend;
        s->pend = e->next;
        ent_ack(s, e, SL_ESHUTDOWN, "kinesis sink closed before the write");
    }
    s->pend_tail = &s->pend;
    s->busy--;
    if (s->timer) {
        uv_timer_stop(s->timer);
        uv_close((uv_handle_t *)s->timer, timer_closed);
        s->timer = NULL;
    }
}

static void svc_close(void *opaque)
{
    svc_shutdown(opaque);
}

static void svc_destroy(void *opaque)
{
    kin_sink_t *s = opaque;
    while (s->calls) {
        put_t *c = s->calls;
        s->calls = c->next;
        for (size_t i = 0; i < c->n; i++)
            ent_put(s, c->ents[i]);
        put_free(c);
    }
    while (s->spare) {
        ent_t *e = s->spare;
        s->spare = e->next;
        sl_free(e);
    }
    sl_free(s->keys.p);
    sl_free(s->keys.len);
    sl_free(s->keys.gen);
    sl__kin_destroy(s->kin);
    sl_free(s->stream);
    sl_free(s);
}

static void sink_destroy(void *opaque)
{
    (void)opaque; /* the processor's service owns the state */
}

sl_sink_t *sl_kinesis_sink_new(sl_processor_t *p, const char *stream, char *errstr,
                               size_t errstr_size)
{
    if (!p || !stream || !*stream) {
        sl__errf(errstr, errstr_size, "a processor and a stream are required");
        return NULL;
    }
    char epb[160];
    const char *ep = sl__kin_endpoint_url(p, epb, sizeof epb);
    /* Describe-only: name the stream and endpoint, create no client. */
    if (sl__proc_describe_only(p))
        return sl__proc_channel_sink(p, "kinesis", stream, ep, errstr, errstr_size);
    kin_sink_t *s = sl_calloc(1, sizeof *s);
    if (!s || !(s->stream = sl_strdup(stream))) {
        sl_free(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->proc = p;
    s->pend_tail = &s->pend;
    const sl_conf_t *conf = sl_processor_conf(p);
    s->retry_max = (unsigned)sl_conf_get_int(conf, "retry.max");
    s->kin = sl__kin_new(p, errstr, errstr_size);
    s->timer = s->kin ? sl_malloc(sizeof *s->timer) : NULL;
    if (!s->timer) {
        if (s->kin)
            sl__errf(errstr, errstr_size, "out of memory");
        sl__kin_destroy(s->kin);
        sl_free(s->stream);
        sl_free(s);
        return NULL;
    }
    uv_timer_init(sl__proc_loop(p), s->timer);
    s->timer->data = s;
    sl__service_t svc = {svc_poll, svc_shutdown, svc_close, svc_destroy, s, svc_ready};
    if (sl__proc_add_service(p, &svc)) {
        uv_close((uv_handle_t *)s->timer, timer_closed);
        svc_destroy(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sl_sink_ops_t ops = {.name = s->stream,
                         .write = ks_write,
                         .destroy = sink_destroy,
                         .max_events = PUT_MAX_RECORDS,
                         .max_bytes = PUT_MAX_BYTES,
                         .max_record_bytes = RECORD_MAX_BYTES};
    sl_sink_t *sink = sl__proc_sink_new(p, &ops, s, errstr, errstr_size);
    /* Its channel in the processor's description (owned by it already). */
    if (sink && sl__sink_set_channel(sink, "kinesis", stream, ep)) {
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return sink;
}
