/* sluice — fault events (schemas/fault.json), written without a JSON tree. */
#include "core/core.h"
#include "core/jsonw.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

int sl__fault_build(sl_engine_t *e, sl_uow_t *u)
{
    const entry_t *en = u->entry;
    const sl_record_t *r = en->rec;
    sl__jw_t jw;
    /* The key may live in the uow's own buffer (a flat-map child): build
     * into a fresh buffer then, and swap it in at the end. */
    int alias = u->key.len && u->buf && u->key.ptr >= u->buf && u->key.ptr < u->buf + u->buf_cap;
    sl__jw_init(&jw, alias ? NULL : u->buf, alias ? 0 : u->buf_cap);
    sl__jw_raw(&jw, u->key.ptr, u->key.len);
    size_t klen = u->key.len;

    char idbuf[40];
    snprintf(idbuf, sizeof idbuf, "\"fault-%016" PRIx64 "\"", fault_id(e, u));
    sl__jw_lit(&jw, "{\"id\":");
    sl__jw_lit(&jw, idbuf);
    sl__jw_lit(&jw, ",\"type\":\"fault\",\"timestamp\":");
    int64_t t = e->clock.now_ms(e->clock.opaque);
    if (t < 1000000000000ll) {
        /* A monotonic or virtual clock is not wall time; the schema wants epoch ms. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    sl__jw_int(&jw, t);
    sl__jw_lit(&jw, ",\"partitionKey\":");
    sl__jw_str(&jw, u->key.ptr, u->key.len);
    sl__jw_lit(&jw, ",\"tags\":{\"processor\":");
    sl__jw_str(&jw, e->name, strlen(e->name));
    sl__jw_lit(&jw, ",\"pipeline\":");
    const char *pl = u->pl ? u->pl->name : "-";
    sl__jw_str(&jw, pl, strlen(pl));
    sl__jw_lit(&jw, ",\"source\":");
    sl__jw_str(&jw, r->topic, strlen(r->topic));
    sl__jw_lit(&jw, ",\"stage\":\"");
    sl__jw_lit(&jw, sl__stage_names[u->fault_stage & 0x7f]);
    sl__jw_lit(&jw, "\"},\"err\":{\"name\":\"");
    sl__jw_lit(&jw, sl_err_name(u->err));
    sl__jw_lit(&jw, "\",\"code\":");
    sl__jw_int(&jw, u->err < 0 ? u->err : SL_ESTAGE);
    sl__jw_lit(&jw, ",\"message\":");
    const char *msg = u->errmsg[0] ? u->errmsg : sl_strerror(u->err);
    sl__jw_str(&jw, msg, strlen(msg));
    sl__jw_lit(&jw, "},\"uow\":{\"record\":{\"topic\":");
    sl__jw_str(&jw, r->topic, strlen(r->topic));
    sl__jw_lit(&jw, ",\"partition\":");
    sl__jw_int(&jw, r->partition < 0 ? 0 : r->partition);
    sl__jw_lit(&jw, ",\"offset\":");
    sl__jw_int(&jw, r->offset);
    sl__jw_lit(&jw, ",\"timestamp\":");
    sl__jw_int(&jw, r->timestamp_ms < 0 ? 0 : r->timestamp_ms);
    if (r->position) {
        sl__jw_lit(&jw, ",\"position\":");
        sl__jw_str(&jw, r->position, strlen(r->position));
    }
    sl__jw_lit(&jw, ",\"key\":");
    if (r->key)
        sl__jw_b64(&jw, r->key, r->key_len);
    else
        sl__jw_lit(&jw, "null");
    size_t vlen = r->value ? r->value_len : 0;
    int truncated = vlen > e->fault_value_max;
    sl__jw_lit(&jw, ",\"value\":");
    sl__jw_b64(&jw, r->value, truncated ? e->fault_value_max : vlen);
    sl__jw_lit(&jw, ",\"valueSize\":");
    sl__jw_int(&jw, (int64_t)vlen);
    sl__jw_lit(&jw, truncated ? ",\"truncated\":true" : ",\"truncated\":false");
    sl__jw_lit(&jw, ",\"headers\":[");
    for (size_t i = 0; i < r->header_count; i++) {
        const sl_header_t *h = &r->headers[i];
        if (i)
            sl__jw_raw(&jw, ",", 1);
        sl__jw_lit(&jw, "{\"name\":");
        sl__jw_str(&jw, h->name, strlen(h->name));
        sl__jw_lit(&jw, ",\"value\":");
        sl__jw_b64(&jw, h->value, h->value ? h->value_len : 0);
        sl__jw_raw(&jw, "}", 1);
    }
    sl__jw_lit(&jw, "]}");
    /* The decoded event, verbatim: a scanned value is a valid JSON object. */
    if (en->decoded && !(en->env.flags & SL_ENV_BINARY) && !truncated) {
        sl__jw_lit(&jw, ",\"event\":");
        sl__jw_raw(&jw, r->value, vlen);
    }
    sl__jw_lit(&jw, ",\"attempts\":");
    sl__jw_int(&jw, u->attempts);
    sl__jw_lit(&jw, "}}");

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
    u->key.ptr = u->buf;
    u->out_key_len = klen;
    u->out_val_len = jw.len - klen;
    u->out_key_set = 1;
    u->has_output = 1;
    return 0;
}
