/* sluice — the sl_uow_* accessors and a uow's output buffers. */
#include "core/engine_int.h"
#include "core/jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- uow accessors ------------------------------------------------------------ */

const sl_record_t *sl_uow_record(const sl_uow_t *u)
{
    return u->entry->rec;
}

const sl_envelope_t *sl_uow_envelope(const sl_uow_t *u)
{
    return &u->entry->env;
}

sl_span_t sl_uow_type(const sl_uow_t *u)
{
    return u->entry->type_u;
}

sl_span_t sl_uow_key(const sl_uow_t *u)
{
    return u->key;
}

const char *sl_uow_pipeline(const sl_uow_t *u)
{
    return u->pl ? u->pl->name : "-";
}

unsigned sl_uow_attempts(const sl_uow_t *u)
{
    return u->attempts;
}

int sl_uow_body_get(sl_uow_t *u, json_t **body)
{
    if (!body)
        return SL_EINVAL;
    *body = NULL;
    if (!u)
        return SL_EINVAL;
    entry_t *en = u->entry;
    if (en->body) {
        *body = en->body;
        return 0;
    }
    /* A value already found not to be JSON stays so: no parse per pipeline. */
    if (en->body_tried || !en->decoded ||
        (en->env.flags & SL_ENV_BINARY && !sl__content_is_json(en->rec)))
        return SL_EJSON;
    const sl_record_t *r = en->rec;
    const char *v = r->value ? r->value : "";
    json_error_t je;
    en->body = json_loadb(v, r->value_len, 0, &je);
    if (en->body) {
        *body = en->body;
        return 0;
    }
    /* jansson does not always report its own allocation failures as such:
     * when the strict scanner (the same verdict as jansson, no allocation)
     * accepts the text, the parse failed for memory. Values pushed with
     * sl_engine_push_decoded() were never scanned, so the check matters. */
    if (json_error_code(&je) == json_error_out_of_memory ||
        !sl_json_validate(v, r->value_len, NULL))
        return SL_ENOMEM;
    en->body_tried = 1;
    return SL_EJSON;
}

int sl__uow_value_is_json(const sl_uow_t *u)
{
    return u && u->entry->value_json;
}

int sl__uow_ptr(const sl_uow_t *u, int want, sl_span_t *out)
{
    const sl__scan_hits_t *h = &u->entry->hits;
    int slot;
    if (want < 0 || (size_t)want >= u->pl->nwant || !h->known ||
        (slot = u->pl->want_slot[want]) < 0)
        return -1;
    if (!(h->found & (1u << slot)))
        return 0;
    *out = h->at[slot];
    return 1;
}

json_t *sl_uow_body(sl_uow_t *u)
{
    json_t *body;
    return sl_uow_body_get(u, &body) ? NULL : body;
}

static size_t cap_for(size_t have, size_t need)
{
    size_t cap = have ? have : 256;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* Grows @p u's output buffer to @p need bytes, keeping its content. The
 * growth counts against the in-flight bytes of the uow's entry. */
static int buf_reserve(sl_uow_t *u, size_t need)
{
    if (u->buf_cap >= need)
        return 0;
    size_t cap = cap_for(u->buf_cap, need);
    char *b = sl_realloc(u->buf, cap);
    if (!b)
        return SL_ENOMEM;
    u->entry->bytes += cap - u->buf_cap;
    u->entry->eng->inflight_bytes += cap - u->buf_cap;
    u->buf = b;
    u->buf_cap = cap;
    return 0;
}

/* The same for a child's key buffer. */
int sl__kbuf_reserve(sl_uow_t *u, size_t need)
{
    if (u->kbuf_cap >= need)
        return 0;
    size_t cap = 32;
    while (cap < need)
        cap *= 2;
    char *b = sl_realloc(u->kbuf, cap);
    if (!b)
        return SL_ENOMEM;
    u->entry->bytes += cap - u->kbuf_cap;
    u->entry->eng->inflight_bytes += cap - u->kbuf_cap;
    u->kbuf = b;
    u->kbuf_cap = cap;
    return 0;
}

/* Whether [p, p+n) lies in @p u's output buffer: a stage may pass what
 * sl_uow_output() gave it back to sl_uow_set_output*(). */
static inline int in_buf(const sl_uow_t *u, const void *p, size_t n)
{
    return n && (uintptr_t)p - (uintptr_t)u->buf < u->buf_cap;
}

/* sl_uow_set_output() when the buffer must grow or a source lies in it;
 * kept out of line so the common case stays a short leaf. */
__attribute__((noinline)) static int set_output_slow(sl_uow_t *u, const void *key, size_t key_len,
                                                     const void *value, size_t value_len, int ka,
                                                     int va)
{
    size_t need = key_len + value_len;
    if (ka && va) {
        /* Both from the buffer, in any order or overlap: build a new one. */
        size_t cap = cap_for(u->buf_cap, need);
        char *b = sl_malloc(cap);
        if (!b)
            return SL_ENOMEM;
        memcpy(b, key, key_len);
        memcpy(b + key_len, value, value_len);
        /* the running uow's whole buffer counts for its entry: swap it */
        u->entry->bytes = u->entry->bytes - u->buf_cap + cap;
        u->entry->eng->inflight_bytes = u->entry->eng->inflight_bytes - u->buf_cap + cap;
        sl_free(u->buf);
        u->buf = b;
        u->buf_cap = cap;
    } else {
        /* One source at most lies in the buffer: remember where, since
         * growing it may move it; move that one into place first, with
         * memmove, then copy the other, which cannot overlap. */
        size_t off = ka   ? (size_t)((const char *)key - u->buf)
                     : va ? (size_t)((const char *)value - u->buf)
                          : 0;
        if (buf_reserve(u, need))
            return SL_ENOMEM;
        if (va) {
            memmove(u->buf + key_len, u->buf + off, value_len);
            if (key_len)
                memcpy(u->buf, key, key_len);
        } else {
            if (key_len)
                memmove(u->buf, ka ? u->buf + off : key, key_len);
            if (value_len)
                memcpy(u->buf + key_len, value, value_len);
        }
    }
    return 0;
}

int sl_uow_set_output(sl_uow_t *u, const void *key, size_t key_len, const void *value,
                      size_t value_len)
{
    if (!u || (!value && value_len) || (!key && key_len))
        return SL_EINVAL;
    if (!key)
        key_len = 0;
    int ka = in_buf(u, key, key_len), va = in_buf(u, value, value_len);
    if (ka | va | (key_len + value_len > u->buf_cap)) {
        int rc = set_output_slow(u, key, key_len, value, value_len, ka, va);
        if (rc)
            return rc;
    } else {
        if (key_len)
            memcpy(u->buf, key, key_len);
        if (value_len)
            memcpy(u->buf + key_len, value, value_len);
    }
    u->out_key_len = key_len;
    u->out_val_len = value_len;
    u->out_key_set = key != NULL;
    u->has_output = 1;
    return 0;
}

int sl_uow_set_output_json(sl_uow_t *u, const void *key, size_t key_len, const json_t *value)
{
    if (!u || !value || (!key && key_len))
        return SL_EINVAL;
    if (!key)
        key_len = 0;
    /* A key in the buffer is moved to its start before the value is written
     * after it; growing the buffer may move it, so keep its offset. */
    int ka = in_buf(u, key, key_len);
    size_t koff = ka ? (size_t)((const char *)key - u->buf) : 0;
    if (buf_reserve(u, key_len + 64))
        return SL_ENOMEM;
    if (key_len)
        memmove(u->buf, ka ? u->buf + koff : key, key_len);
    /* sluice's own writer rather than json_dumpb(): the same bytes, except
     * that reals are in their shortest form (80.22, not 80.219999999999999). */
    sl__jw_t jw;
    sl__jw_init(&jw, u->buf, u->buf_cap);
    jw.len = key_len;
    int rc = sl__jw_json(&jw, value);
    /* The writer may have grown the buffer, even on failure: it is the
     * uow's, counted for its entry. */
    u->entry->bytes += jw.cap - u->buf_cap;
    u->entry->eng->inflight_bytes += jw.cap - u->buf_cap;
    u->buf = jw.buf;
    u->buf_cap = jw.cap;
    if (rc)
        return rc;
    u->out_key_len = key_len;
    u->out_val_len = jw.len - key_len;
    u->out_key_set = key != NULL;
    u->has_output = 1;
    return 0;
}

int sl__uow_output_lend(sl_uow_t *u, sl__jw_t *jw)
{
    if (u->has_output)
        return 0;
    sl__jw_init(jw, u->buf, u->buf_cap);
    return 1;
}

void sl__uow_output_take(sl_uow_t *u, sl__jw_t *jw, size_t key_len)
{
    /* The writer may have grown the buffer, even on failure: it is the
     * uow's, counted for its entry. */
    u->entry->bytes += jw->cap - u->buf_cap;
    u->entry->eng->inflight_bytes += jw->cap - u->buf_cap;
    u->buf = jw->buf;
    u->buf_cap = jw->cap;
    if (jw->oom || key_len > jw->len)
        return;
    u->out_key_len = key_len;
    u->out_val_len = jw->len - key_len;
    u->out_key_set = 1;
    u->has_output = 1;
}

void sl_uow_output(const sl_uow_t *u, sl_span_t *key, sl_span_t *value)
{
    const sl_record_t *r = u->entry->rec;
    if (u->has_output) {
        if (key)
            *key = u->out_key_set ? (sl_span_t){u->buf, u->out_key_len}
                                  : (sl_span_t){r->key, r->key ? r->key_len : 0};
        if (value)
            *value = (sl_span_t){u->buf + u->out_key_len, u->out_val_len};
    } else {
        if (key)
            *key = (sl_span_t){r->key, r->key ? r->key_len : 0};
        if (value)
            *value = (sl_span_t){r->value, r->value ? r->value_len : 0};
    }
}

int sl__uow_headers_set(sl_uow_t *u, const sl_header_t *h, size_t n)
{
    size_t need = n * sizeof *h;
    for (size_t i = 0; i < n; i++)
        need += strlen(h[i].name) + 1 + (h[i].value ? h[i].value_len : 0);
    if (need > u->hbuf_cap) {
        /* One buffer: the array, then each name and value it points to. */
        char *b = sl_malloc(need);
        if (!b)
            return SL_ENOMEM;
        u->entry->bytes += need - u->hbuf_cap;
        u->entry->eng->inflight_bytes += need - u->hbuf_cap;
        sl_free(u->out_hdrs);
        u->out_hdrs = (sl_header_t *)(void *)b;
        u->hbuf_cap = need;
    }
    char *p = (char *)(u->out_hdrs + n);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(h[i].name) + 1, vl = h[i].value ? h[i].value_len : 0;
        memcpy(p, h[i].name, nl);
        u->out_hdrs[i].name = p;
        p += nl;
        if (vl)
            memcpy(p, h[i].value, vl);
        u->out_hdrs[i].value = h[i].value ? p : NULL;
        u->out_hdrs[i].value_len = vl;
        p += vl;
    }
    u->out_nhdrs = n;
    return 0;
}

int sl_uow_set_output_headers(sl_uow_t *u, const sl_header_t *headers, size_t count)
{
    if (!u || (count && !headers))
        return SL_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (!headers[i].name || (!headers[i].value && headers[i].value_len))
            return SL_EINVAL;
    return sl__uow_headers_set(u, headers, count);
}

const sl_header_t *sl_uow_output_headers(const sl_uow_t *u, size_t *count)
{
    *count = u->out_nhdrs;
    return u->out_nhdrs ? u->out_hdrs : NULL;
}

void sl_uow_fail(sl_uow_t *u, int err, const char *message)
{
    /* A fault event's uow keeps the error it reports: the fault sink's own
     * reason would otherwise replace it when the event is built again. */
    if (!u || u->state == U_AT_FAULT_SINK)
        return;
    u->err = err < 0 ? err : SL_ESTAGE;
    if (message) {
        size_t n = strlen(message);
        if (n > SL__ERRMSG_MAX)
            n = SL__ERRMSG_MAX;
        memcpy(u->errmsg, message, n);
        u->errmsg[n] = 0;
    }
}

void sl_uow_set_data(sl_uow_t *u, void *data, void (*free_fn)(void *))
{
    if (u->data_free && u->data != data)
        u->data_free(u->data);
    u->data = data;
    u->data_free = free_fn;
}

void *sl_uow_data(const sl_uow_t *u)
{
    return u->data;
}
