/* sluice — fault events (schemas/fault.json), written without a JSON tree.
 *
 * A fault event must fit its sink, or it would be refused forever and hold
 * its record's partition for good. Its bound is the smaller of the fault
 * sink's hard record limit and fault.max.bytes (key, value and its
 * sluice.fault.* headers together, a header counted as its name, its value
 * and HDR_FRAMING bytes), or
 * a smaller one after the sink refused a larger event as too large; a fault
 * the sink refused for another permanent reason is built minimal. What does not fit is left out in
 * this order, each step only when the previous one was not enough:
 *
 *   1. the decoded copy of the event (uow.event);
 *   2. the original value bytes beyond what fits (they are already cut at
 *      fault.value.max.bytes): record.value keeps the first bytes;
 *   3. last resort, a minimal fault: the record's key and headers are left
 *      out, the fault's key (partitionKey) is cut to 256 bytes and the
 *      value keeps what then fits; the coordinates, tags and error always
 *      stay.
 *
 * Whenever anything is left out, uow.truncated says what, with the size and
 * the SHA-256 of the whole original value, so that the record can be read
 * back from its source by its coordinates (while retained) and checked. */
#include "core/core.h"
#include "core/jsonw.h"
#include "core/sha256.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The key a minimal fault keeps: Kinesis's partition key bound, and plenty
 * for a Kafka key. */
#define MIN_KEY_MAX 256
/* Digits a size may take in uow.truncated. */
#define SIZE_DIGITS 20

/* Deterministic id: the same record failing in the same place gets the same id on replay. */
static uint64_t fault_id(const sl_engine_t *e, const sl_uow_t *u)
{
    const sl_record_t *r = u->entry->rec;
    char tmp[64];
    uint64_t h = sl__hash(e->name, strlen(e->name));
    const char *pl = u->pl ? u->pl->name : "-";
    h ^= sl__hash(pl, strlen(pl)) * 31;
    h ^= sl__hash(r->topic, strlen(r->topic)) * 131;
    int n = snprintf(tmp, sizeof tmp, "%" PRId32 "/%" PRId64 "/%u", r->partition, r->offset,
                     (unsigned)(u->ord & 0xffff));
    h ^= sl__hash(tmp, (size_t)n) * 1313;
    return h * 0x9e3779b97f4a7c15ull ^ (h >> 31);
}

/* What one attempt at the event holds. */
typedef struct {
    int event;   /* the decoded copy */
    size_t take; /* bytes of the value copied */
    int minimal; /* no record key, no headers, the fault's key cut */
} shape_t;

/* What stays the same across attempts. */
typedef struct {
    sl_engine_t *e;
    sl_uow_t *u;
    const sl_record_t *r;
    size_t vlen;
    int has_event; /* a decoded copy could be included */
    char id[24];   /* fault-<16 hex> */
    int64_t ts;
    char sha[2 * SL__SHA256_LEN + 1];
    int sha_done;
    int64_t first, last;    /* failure times, epoch ms */
    const char *group;      /* consumer group or Kinesis application, or NULL */
    const char *stage_name; /* given with sl_pipeline_stage_name(), or NULL */
    int retriable;
} ctx_t;

/* Bytes of @p p (at most @p n) that fit in @p max without splitting a UTF-8
 * sequence; an invalid byte counts as one. */
static size_t utf8_cut(const char *p, size_t n, size_t max)
{
    size_t i = 0;
    while (i < n) {
        size_t l = sl__utf8_len((const unsigned char *)p + i, n - i);
        if (!l)
            l = 1;
        if (i + l > max)
            break;
        i += l;
    }
    return i;
}

/* The fault's key: the uow's ordering key, or the fault id when it has none
 * (a Kinesis record needs a partition key; on Kafka it spreads keyless
 * faults deterministically); in a minimal fault at most MIN_KEY_MAX bytes. */
static sl_span_t fault_key(const ctx_t *c, const shape_t *s)
{
    sl_span_t k = c->u->key;
    if (!k.len)
        return (sl_span_t){c->id, strlen(c->id)};
    if (s->minimal)
        k.len = utf8_cut(k.ptr, k.len, MIN_KEY_MAX);
    return k;
}

static void jw_bool(sl__jw_t *jw, const char *name, int v)
{
    sl__jw_lit(jw, name);
    sl__jw_lit(jw, v ? "true" : "false");
}

/* Writes the fault's key bytes then its JSON into @p jw (from its start). */
static void write_fault(ctx_t *c, sl__jw_t *jw, const shape_t *s)
{
    sl_engine_t *e = c->e;
    sl_uow_t *u = c->u;
    const sl_record_t *r = c->r;
    sl_span_t key = fault_key(c, s);
    int key_cut = s->minimal && key.len < u->key.len;
    int rkey_cut = s->minimal && r->key;
    int headers_cut = s->minimal && r->header_count;
    int event_cut = c->has_event && !s->event;
    int value_cut = s->take < c->vlen;
    int marks = key_cut || rkey_cut || headers_cut || event_cut || value_cut;

    jw->len = 0;
    sl__jw_raw(jw, key.ptr, key.len);
    sl__jw_lit(jw, "{\"id\":\"");
    sl__jw_lit(jw, c->id);
    sl__jw_lit(jw, "\",\"type\":\"fault\",\"version\":" SL__FAULT_VERSION_S ",\"timestamp\":");
    sl__jw_int(jw, c->ts);
    sl__jw_lit(jw, ",\"partitionKey\":");
    sl__jw_str(jw, key.ptr, key.len);
    sl__jw_lit(jw, ",\"tags\":{\"processor\":");
    sl__jw_str(jw, e->name, strlen(e->name));
    if (c->group) {
        sl__jw_lit(jw, ",\"group\":");
        sl__jw_str(jw, c->group, strlen(c->group));
    }
    sl__jw_lit(jw, ",\"pipeline\":");
    const char *pl = u->pl ? u->pl->name : "-";
    sl__jw_str(jw, pl, strlen(pl));
    sl__jw_lit(jw, ",\"source\":");
    sl__jw_str(jw, r->topic, strlen(r->topic));
    sl__jw_lit(jw, ",\"stage\":\"");
    sl__jw_lit(jw, sl__stage_names[u->fault_stage & 0x7f]);
    sl__jw_lit(jw, "\",\"stageIndex\":");
    sl__jw_int(jw, u->fault_index);
    if (c->stage_name) {
        sl__jw_lit(jw, ",\"stageName\":");
        sl__jw_str(jw, c->stage_name, strlen(c->stage_name));
    }
    sl__jw_lit(jw, "},\"err\":{\"name\":\"");
    sl__jw_lit(jw, sl_err_name(u->err));
    sl__jw_lit(jw, "\",\"code\":");
    sl__jw_int(jw, u->err < 0 ? u->err : SL_ESTAGE);
    sl__jw_lit(jw, ",\"message\":");
    const char *msg = u->errmsg[0] ? u->errmsg : sl_strerror(u->err);
    sl__jw_str(jw, msg, strlen(msg));
    jw_bool(jw, ",\"retriable\":", c->retriable);
    sl__jw_lit(jw, "},\"uow\":{\"record\":{\"topic\":");
    sl__jw_str(jw, r->topic, strlen(r->topic));
    sl__jw_lit(jw, ",\"partition\":");
    sl__jw_int(jw, r->partition < 0 ? 0 : r->partition);
    sl__jw_lit(jw, ",\"offset\":");
    sl__jw_int(jw, r->offset);
    sl__jw_lit(jw, ",\"timestamp\":");
    sl__jw_int(jw, r->timestamp_ms < 0 ? 0 : r->timestamp_ms);
    if (r->position) {
        sl__jw_lit(jw, ",\"position\":");
        sl__jw_str(jw, r->position, strlen(r->position));
    }
    sl__jw_lit(jw, ",\"key\":");
    if (r->key && !s->minimal)
        sl__jw_b64(jw, r->key, r->key_len);
    else
        sl__jw_lit(jw, "null");
    sl__jw_lit(jw, ",\"value\":");
    sl__jw_b64(jw, r->value, s->take);
    sl__jw_lit(jw, ",\"valueSize\":");
    sl__jw_int(jw, (int64_t)c->vlen);
    jw_bool(jw, ",\"truncated\":", value_cut);
    sl__jw_lit(jw, ",\"headers\":[");
    for (size_t i = 0; !s->minimal && i < r->header_count; i++) {
        const sl_header_t *h = &r->headers[i];
        if (i)
            sl__jw_raw(jw, ",", 1);
        sl__jw_lit(jw, "{\"name\":");
        sl__jw_str(jw, h->name, strlen(h->name));
        sl__jw_lit(jw, ",\"value\":");
        sl__jw_b64(jw, h->value, h->value ? h->value_len : 0);
        sl__jw_raw(jw, "}", 1);
    }
    sl__jw_lit(jw, "]}");
    /* The decoded event, verbatim: a scanned value is a valid JSON object. */
    if (s->event) {
        sl__jw_lit(jw, ",\"event\":");
        sl__jw_raw(jw, r->value, c->vlen);
    }
    if (marks) {
        if (!c->sha_done) {
            sl__sha256_hex(r->value, c->vlen, c->sha);
            c->sha_done = 1;
        }
        jw_bool(jw, ",\"truncated\":{\"event\":", event_cut);
        jw_bool(jw, ",\"value\":", value_cut);
        jw_bool(jw, ",\"key\":", rkey_cut);
        jw_bool(jw, ",\"headers\":", headers_cut);
        jw_bool(jw, ",\"partitionKey\":", key_cut);
        sl__jw_lit(jw, ",\"originalSize\":");
        sl__jw_int(jw, (int64_t)c->vlen);
        sl__jw_lit(jw, ",\"keptSize\":");
        sl__jw_int(jw, (int64_t)s->take);
        sl__jw_lit(jw, ",\"sha256\":\"");
        sl__jw_lit(jw, c->sha);
        sl__jw_lit(jw, "\"}");
    }
    sl__jw_lit(jw, ",\"attempts\":");
    sl__jw_int(jw, u->attempts);
    sl__jw_lit(jw, ",\"firstFailure\":");
    sl__jw_int(jw, c->first);
    sl__jw_lit(jw, ",\"lastFailure\":");
    sl__jw_int(jw, c->last);
    sl__jw_lit(jw, "}}");
}

/* Writes the event with as much of the value (up to @p take bytes) as fits
 * in @p limit. Returns whether it fits. */
static int fill_value(ctx_t *c, sl__jw_t *jw, shape_t *s, size_t take, size_t limit)
{
    s->take = 0;
    write_fault(c, jw, s);
    if (jw->oom || jw->len > limit)
        return 0;
    /* Base64 of 3n bytes is 4n characters; keptSize was written as "0". */
    size_t room = limit - jw->len;
    size_t fit = room > SIZE_DIGITS ? (room - SIZE_DIGITS) / 4 * 3 : 0;
    if (!fit)
        return 1;
    s->take = fit < take ? fit : take;
    write_fault(c, jw, s);
    return jw->len <= limit;
}

/* Appends a header named @p name with the text @p v to @p h (at most
 * HDR_MAX), its value copied into @p tb at *@p tl. */
#define HDR_MAX 16
#define HDR_TEXT 512
/* What a header costs a Kafka record beyond its name and value (its
 * varint lengths), rounded up. */
#define HDR_FRAMING 8
static void hdr_add(sl_header_t *h, size_t *n, char *tb, size_t *tl, const char *name,
                    const char *v)
{
    size_t l = strlen(v);
    if (*n >= HDR_MAX || *tl + l > HDR_TEXT)
        return;
    memcpy(tb + *tl, v, l);
    h[(*n)++] = (sl_header_t){name, tb + *tl, l};
    *tl += l;
}

static void hdr_int(sl_header_t *h, size_t *n, char *tb, size_t *tl, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    hdr_add(h, n, tb, tl, name, num);
}

/* The sluice.fault.* headers (as Kafka Connect and Spring Kafka set on dead
 * letters): tools route faults on them without parsing the event. Returns 0
 * or SL_ENOMEM. */
static int fault_headers(const ctx_t *c, size_t *bytes)
{
    const sl_uow_t *u = c->u;
    const sl_record_t *r = c->r;
    sl_header_t h[HDR_MAX];
    char tb[HDR_TEXT];
    size_t n = 0, tl = 0;
    const char *pl = u->pl ? u->pl->name : "-";
    const char *msg = u->errmsg[0] ? u->errmsg : sl_strerror(u->err);
    hdr_add(h, &n, tb, &tl, "sluice.fault.id", c->id);
    hdr_add(h, &n, tb, &tl, "sluice.fault.version", SL__FAULT_VERSION_S);
    hdr_add(h, &n, tb, &tl, "sluice.fault.processor", c->e->name);
    if (c->group)
        hdr_add(h, &n, tb, &tl, "sluice.fault.group", c->group);
    hdr_add(h, &n, tb, &tl, "sluice.fault.pipeline", pl);
    hdr_add(h, &n, tb, &tl, "sluice.fault.stage", sl__stage_names[u->fault_stage & 0x7f]);
    hdr_int(h, &n, tb, &tl, "sluice.fault.stage.index", u->fault_index);
    if (c->stage_name)
        hdr_add(h, &n, tb, &tl, "sluice.fault.stage.name", c->stage_name);
    hdr_add(h, &n, tb, &tl, "sluice.fault.error", sl_err_name(u->err));
    hdr_add(h, &n, tb, &tl, "sluice.fault.retriable", c->retriable ? "true" : "false");
    hdr_add(h, &n, tb, &tl, "sluice.fault.source.topic", r->topic);
    hdr_int(h, &n, tb, &tl, "sluice.fault.source.partition", r->partition < 0 ? 0 : r->partition);
    hdr_int(h, &n, tb, &tl, "sluice.fault.source.offset", r->offset);
    if (r->position)
        hdr_add(h, &n, tb, &tl, "sluice.fault.source.position", r->position);
    /* Last: a long message is what gives way when the text is full. */
    hdr_add(h, &n, tb, &tl, "sluice.fault.message", msg);
    *bytes = 0;
    for (size_t i = 0; i < n; i++)
        *bytes += strlen(h[i].name) + h[i].value_len + HDR_FRAMING;
    return sl__uow_headers_set(c->u, h, n);
}

int sl__fault_build(sl_engine_t *e, sl_uow_t *u)
{
    const entry_t *en = u->entry;
    ctx_t c = {.e = e, .u = u, .r = en->rec};
    c.vlen = c.r->value ? c.r->value_len : 0;
    c.has_event = en->decoded && !(en->env.flags & SL_ENV_BINARY);
    snprintf(c.id, sizeof c.id, "fault-%016" PRIx64, fault_id(e, u));
    c.ts = e->clock.now_ms(e->clock.opaque);
    int64_t shift = 0;
    if (c.ts < 1000000000000ll) {
        /* A monotonic or virtual clock is not wall time; the schema wants
         * epoch ms. The failure times move by the same amount, so that the
         * time between them stays as the engine saw it. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        shift = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - c.ts;
        c.ts += shift;
    }
    c.last = u->last_fail_ms + shift;
    c.first = u->first_fail_ms == INT64_MIN ? c.last : u->first_fail_ms + shift;
    if (c.first < 0)
        c.first = 0;
    if (c.last < c.first)
        c.last = c.first;
    c.group = e->group;
    if (u->pl && u->fault_index < u->pl->nstages)
        c.stage_name = u->pl->stages[u->fault_index].name;
    /* Would the same record go through later? A transient cause that ran
     * out of retries would; a permanent one needs a fix first. */
    c.retriable = sl_err_is_retriable(u->err) || u->err == SL_ERETRIES;
    size_t hbytes;
    if (fault_headers(&c, &hbytes))
        return SL_ENOMEM;
    size_t limit = e->fault_max;
    if (u->fault_cap && (!limit || u->fault_cap < limit))
        limit = u->fault_cap;
    /* The headers travel in the same record: the bound holds key, value and
     * headers together (each header counted as its name, its value and
     * HDR_FRAMING bytes), so that a fault always fits its sink. */
    if (limit)
        limit = limit > hbytes ? limit - hbytes : 1;

    sl__jw_t jw;
    /* The key may live in the uow's own buffer (a flat-map child, or a
     * fault built before): build into a fresh buffer then, and swap it in
     * at the end. */
    int alias = u->key.len && u->buf && u->key.ptr >= u->buf && u->key.ptr < u->buf + u->buf_cap;
    sl__jw_init(&jw, alias ? NULL : u->buf, alias ? 0 : u->buf_cap);

    shape_t s = {0};
    s.take = c.vlen < e->fault_value_max ? c.vlen : e->fault_value_max;
    size_t take = s.take;
    /* A value cut at fault.value.max.bytes leaves no room for a copy of it. */
    s.event = c.has_event && s.take == c.vlen;
    int done = 0;
    if (!u->fault_min) {
        /* An attempt that cannot fit is not written: the value's base64
         * alone (4 characters per 3 bytes) already exceeds the bound. */
        size_t floor = (take + 2) / 3 * 4;
        if (s.event && (!limit || floor + c.vlen <= limit)) {
            write_fault(&c, &jw, &s);
            done = !limit || jw.len <= limit;
        }
        if (!done) { /* 1: the decoded copy */
            s.event = 0;
            if (!limit || floor <= limit) {
                write_fault(&c, &jw, &s);
                done = !limit || jw.len <= limit;
            }
        }
        if (!done) /* 2: the value beyond what fits */
            done = fill_value(&c, &jw, &s, take, limit);
    }
    if (!done) { /* 3: coordinates, and what fits of the value */
        s = (shape_t){.minimal = 1, .take = take};
        if (!limit)
            write_fault(&c, &jw, &s); /* refused for its key or headers, not its size */
        else if (!fill_value(&c, &jw, &s, take, limit)) {
            s.take = 0;
            write_fault(&c, &jw, &s);
        }
        if (!jw.oom)
            u->fault_min = s.take ? 1 : 2;
    }
    sl_span_t key = fault_key(&c, &s);
    size_t out_len = jw.len;
    /* The uow keeps its ordering key (its gate slot is found by it): a
     * minimal fault's key may differ, so a copy follows the event. */
    if (s.minimal)
        sl__jw_raw(&jw, u->key.ptr, u->key.len);

    if (jw.oom) {
        if (alias)
            sl_free(jw.buf);
        else {
            u->buf = jw.buf;
            u->buf_cap = jw.cap;
        }
        u->has_output = 0;
        return SL_ENOMEM;
    }
    if (alias)
        sl_free(u->buf);
    u->buf = jw.buf;
    u->buf_cap = jw.cap;
    u->key.ptr = s.minimal ? u->buf + out_len : u->buf;
    u->out_key_len = key.len;
    u->out_val_len = out_len - key.len;
    u->out_key_set = 1;
    u->has_output = 1;
    return 0;
}
