/* sluice — Kinesis sink: PutRecords calls of at most 500 records and 5 MiB,
 * completed in the order they were made, only failed entries written again. */
#include "core/describe.h"
#include "core/util.h"
#include "kinesis/client.h"
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

typedef struct put_s {
    struct kin_sink_s *s;
    sl_uow_t **uows;
    size_t n;
    int done;      /* the answer arrived */
    int err;       /* whole-call failure */
    char msg[300]; /* its reason */
    int *entry;    /* per entry: 0, or a retriable error */
    char **emsg;   /* per failed entry: its reason (owned) */
    struct put_s *next;
} put_t;

typedef struct kin_sink_s {
    sl_processor_t *proc;
    sl__kin_t *kin;
    char *stream;
    put_t *head, *tail; /* calls in the order made */
    int closed;
    int down;        /* the stream cannot be written at all: every write is SL_ESINKDOWN */
    int unreachable; /* the last PutRecords got no usable answer: its sl__kin_fail_t, else 0 */
} kin_sink_t;

static void put_free(put_t *c)
{
    for (size_t i = 0; c->emsg && i < c->n; i++)
        sl_free(c->emsg[i]);
    sl_free(c->emsg);
    sl_free(c->entry);
    sl_free(c->uows);
    sl_free(c);
}

/* Acknowledge finished calls from the oldest on: a later call's successes
 * never reach the engine before an earlier call's failures. */
static void drain_done(kin_sink_t *s)
{
    while (s->head && s->head->done) {
        put_t *c = s->head;
        s->head = c->next;
        if (!s->head)
            s->tail = NULL;
        for (size_t i = 0; i < c->n; i++) {
            int err = c->err ? c->err : c->entry[i];
            if (err)
                sl_uow_fail(c->uows[i], err, c->err ? c->msg : c->emsg[i]);
            sl_uow_ack(c->uows[i], err);
        }
        put_free(c);
    }
    sl__proc_after(s->proc);
}

static void on_put(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    put_t *c = opaque;
    kin_sink_t *s = c->s;
    c->done = 1;
    if (why != KIN_SHUTDOWN)
        s->unreachable = why == KIN_TRANSPORT || why == KIN_SERVER ? (int)why : 0;
    if (err && (why == KIN_DENIED || why == KIN_NOT_FOUND)) {
        /* No access, bad credentials, no such stream: the sink itself is
         * broken, not the records. Retrying or faulting them would drain the
         * whole stream into faults; they stay undone and the processor
         * fails, to read them again once it is fixed. */
        c->err = SL_ESINKDOWN;
        snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : sl_strerror(err));
        if (!s->down) {
            s->down = 1;
            sl__proc_fail(s->proc, SL_ESINKDOWN, "kinesis sink %s is unusable: %s", s->stream,
                          c->msg);
        }
    } else if (err) {
        /* Validation errors are permanent: faults. */
        c->err = why == KIN_INVALID ? SL_ESINK : why == KIN_SHUTDOWN ? SL_ESHUTDOWN : SL_EAGAIN;
        snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : sl_strerror(err));
    } else {
        c->err = sl__kin_put_results(resp, c->n, c->entry, c->emsg, c->msg, sizeof c->msg);
    }
    drain_done(s);
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
    put_t *c = sl_calloc(1, sizeof *c);
    if (!c)
        return SL_ENOMEM;
    c->s = s;
    c->uows = sl_malloc(n * sizeof *c->uows);
    c->entry = sl_calloc(n, sizeof *c->entry);
    c->emsg = sl_calloc(n, sizeof *c->emsg);
    json_t *req = json_object(), *recs = json_array();
    char *b64 = NULL;
    size_t b64cap = 0;
    if (!c->uows || !c->entry || !c->emsg || !req || !recs)
        goto oom;
    json_object_set_new(req, "StreamName", json_string(s->stream));
    json_object_set_new(req, "Records", recs);
    /* Entries the service cannot take are faults now; the rest go in the call. */
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
        c->uows[c->n++] = uows[i];
    }
    for (size_t i = 0; i < c->n; i++) {
        sl_span_t k, v;
        sl_uow_output(c->uows[i], &k, &v);
        if (!k.len)
            k = sl_uow_key(c->uows[i]);
        size_t need = 4 * ((v.len + 2) / 3) + 1;
        if (need > b64cap) {
            char *nb = sl_realloc(b64, need);
            if (!nb)
                goto oom_taken;
            b64 = nb;
            b64cap = need;
        }
        size_t bl = sl_base64_encode(v.ptr, v.len, b64);
        json_t *e = json_pack("{s:s%,s:s%}", "Data", b64, bl, "PartitionKey", k.ptr, k.len);
        if (!e || json_array_append_new(recs, e))
            goto oom_taken;
    }
    sl_free(b64);
    if (!c->n) {
        json_decref(req);
        put_free(c);
        return 0;
    }
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    int rc = sl__kin_call(s->kin, "PutRecords", req, on_put, c);
    if (rc) { /* not sent: every entry of the call comes back retriable */
        c->done = 1;
        c->err = rc == SL_ESHUTDOWN ? SL_ESHUTDOWN : SL_EAGAIN;
        snprintf(c->msg, sizeof c->msg, "kinesis PutRecords not sent: %s", sl_strerror(rc));
        drain_done(s);
    }
    return 0;
oom_taken:
    /* Faults may already be acknowledged: the others come back retriable. */
    for (size_t i = 0; i < c->n; i++)
        sl_uow_ack(c->uows[i], SL_ENOMEM);
    sl_free(b64);
    json_decref(req);
    put_free(c);
    return 0;
oom:
    json_decref(req);
    json_decref(recs);
    put_free(c);
    return SL_ENOMEM;
}

static void svc_poll(void *opaque, int timeout_ms)
{
    (void)opaque;
    (void)timeout_ms; /* curl progresses on the loop; nothing to pump */
}

static void svc_shutdown(void *opaque)
{
    kin_sink_t *s = opaque;
    if (s->closed)
        return;
    s->closed = 1;
    /* In-flight calls come back with SL_ESHUTDOWN, in order. */
    sl__kin_close(s->kin);
}

static void svc_close(void *opaque)
{
    svc_shutdown(opaque);
}

static void svc_destroy(void *opaque)
{
    kin_sink_t *s = opaque;
    while (s->head) {
        put_t *c = s->head;
        s->head = c->next;
        put_free(c);
    }
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
    s->kin = sl__kin_new(p, errstr, errstr_size);
    if (!s->kin) {
        sl_free(s->stream);
        sl_free(s);
        return NULL;
    }
    sl__service_t svc = {svc_poll, svc_shutdown, svc_close, svc_destroy, s, svc_ready};
    if (sl__proc_add_service(p, &svc)) {
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
