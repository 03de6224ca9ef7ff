/* sluice — the cdc flavor: change records of a service's own store (DynamoDB
 * Streams records, Debezium envelopes) become domain events
 * <entity>-created|updated|deleted. Plain jansson work: no I/O, no shared state.
 *
 * Decisions the header leaves open:
 *   - id: a UUID-shaped string (RFC 9562 layout, version 8 "custom", variant
 *     10) made of two 64-bit FNV-1a hashes (two offset bases, each finished
 *     with the murmur3 fmix64 mixer) of "<entity>\n<topic>/<partition>/<pos>",
 *     where <pos> is record->position when set, else the decimal offset. The
 *     entity is part of it so that two cdc pipelines over one record publish
 *     distinct ids. Not cryptographic; stable across runs and platforms.
 *   - timestamp: the image's "timestamp" when it is a number of ms in
 *     [0, 2^63) (a real is truncated), except for a delete; else the change
 *     time (DynamoDB ApproximateCreationDateTime seconds, rounded to the
 *     nearest ms; Debezium ts_ms, else source.ts_ms); else the record's own
 *     timestamp when positive; else SL_EFIELD.
 *   - partitionKey: the record key when it is non-empty UTF-8 text without
 *     NUL; else derived from the change (see keys_pkey() and image_pkey()).
 *   - DynamoDB N: a JSON integer when the text is an integer (no point, no
 *     exponent) within int64, else a real (precision beyond a double is lost).
 *   - the <entity> member is a deep copy of the image, so changing it does not
 *     change raw.new / raw.old.
 *   - a member that is JSON null (Keys, NewImage, before, ts_ms, ...) counts
 *     as absent. */
#include "core/jsonw.h"
#include "flavors/cdc_int.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text ----------------------------------------------------------- */

/* Whether @p buf is valid UTF-8 without NUL (what a JSON string may carry
 * through jansson's decoder). */
static int utf8_text(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? sl__utf8_len(p + i, n - i) : 0;
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* Drops a UTF-8 sequence cut by a truncating snprintf at the end of @p s. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xc0 &&
        sl__utf8_len((const unsigned char *)s + i - 1, n - i + 1) == 0)
        s[i - 1] = 0;
}

/* Replaces with '?' what is not printable UTF-8 in @p s (control bytes,
 * invalid sequences): jansson quotes the bytes near a syntax error as they
 * are, and a reason must stay text. */
static void scrub(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = sl__utf8_len((const unsigned char *)s + i, n - i);
        if (!k || (k == 1 && (c < 0x20 || c == 0x7f)))
            s[i++] = '?';
        else
            i += k;
    }
}

/* Copies at most QUOTE_MAX bytes of @p s into @p out (whole characters,
 * control characters as '?', "..." when cut): the record's text in a message. */
const char *sl__cdc_clip(char out[QUOTE_MAX + 4], const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = sl__utf8_len(p + i, n - i);
        if (!k)
            k = 1;
        if (o + k > QUOTE_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] >= 0x80))
            out[o++] = '?';
        else {
            memcpy(out + o, p + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = 0;
    return out;
}

/* ---- conversion context and errors ----------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static int
vfail(cvt_t *c, int rc, int at, const char *fmt, va_list ap)
{
    if (!c->err || !c->err_size)
        return rc;
    int n = at ? snprintf(c->err, c->err_size, "%s: %s%s: ", c->fmt, c->path, c->cut ? "..." : "")
               : snprintf(c->err, c->err_size, "%s: ", c->fmt);
    if (n >= 0 && (size_t)n < c->err_size)
        vsnprintf(c->err + n, c->err_size - (size_t)n, fmt, ap);
    utf8_trim(c->err);
    return rc;
}

/* Writes "<format>: <message>" to the caller's buffer; returns @p rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int
sl__cdc_fail(cvt_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, rc, 0, fmt, ap);
    va_end(ap);
    return rc;
}

/* Writes "<format>: <path>: <message>"; returns @p rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int
sl__cdc_fail_at(cvt_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, rc, 1, fmt, ap);
    va_end(ap);
    return rc;
}

int sl__cdc_oom(cvt_t *c)
{
    return sl__cdc_fail(c, SL_ENOMEM, "out of memory");
}

void sl__cdc_path_set(cvt_t *c, const char *name)
{
    c->cut = 0;
    c->plen = (size_t)snprintf(c->path, sizeof c->path, "%s", name);
}

/* Appends ".name" or "[i]" (@p name NULL) to the path; returns the mark to
 * restore with sl__cdc_path_pop(). A part that does not fit is left out ("..."). */
size_t sl__cdc_path_push(cvt_t *c, const char *name, size_t i)
{
    size_t room = sizeof c->path - c->plen;
    int n = name ? snprintf(c->path + c->plen, room, ".%s", name)
                 : snprintf(c->path + c->plen, room, "[%zu]", i);
    if (n < 0 || (size_t)n >= room) {
        c->path[c->plen] = 0;
        c->cut++;
        return NO_MARK;
    }
    size_t mark = c->plen;
    c->plen += (size_t)n;
    return mark;
}

void sl__cdc_path_pop(cvt_t *c, size_t mark)
{
    if (mark == NO_MARK) {
        c->cut--;
        return;
    }
    c->plen = mark;
    c->path[mark] = 0;
}

/* ---- numbers and times ------------------------------------------------ */

/* DynamoDB number text to a JSON number: [+-] digits [. digits] [(e|E)
 * [+-] digits], with a digit before or after the point. Returns 0, 1 (not a
 * number), 2 (out of the range of a double) or SL_ENOMEM. */
int sl__cdc_number_of(const char *s, size_t n, json_t **out)
{
    size_t i = 0, digits = 0;
    int neg = 0, integral = 1;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        integral = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    }
    if (!digits)
        return 1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0;
        if (++i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return 1;
    }
    if (i != n)
        return 1;
    if (integral) {
        uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (size_t k = d0; k < n && fits; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (acc > (lim - d) / 10)
                fits = 0;
            else
                acc = acc * 10 + d;
        }
        if (fits) {
            int64_t v = !neg                             ? (int64_t)acc
                        : acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                         : -(int64_t)acc;
            *out = json_integer(v);
            return *out ? 0 : SL_ENOMEM;
        }
    }
    /* strtod follows LC_NUMERIC: use the locale's decimal point, as jansson does. */
    char small[64];
    char *buf = n < sizeof small ? small : sl_malloc(n + 1);
    if (!buf)
        return SL_ENOMEM;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *point = localeconv()->decimal_point;
    if (point && point[0] && point[0] != '.' && !point[1]) {
        char *dot = strchr(buf, '.');
        if (dot)
            *dot = point[0];
    }
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    int rc = end != buf + n ? 1 : !isfinite(x) ? 2 : 0;
    if (buf != small)
        sl_free(buf);
    if (rc)
        return rc;
    *out = json_real(x);
    return *out ? 0 : SL_ENOMEM;
}

/* A JSON number of milliseconds as int64 (a real truncated). Returns 0, or -1
 * when it is not a number, negative, or out of range. */
int sl__cdc_ms_of(const json_t *v, int64_t *ms)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x >= 0 && x < MS_LIMIT))
            return -1;
        *ms = (int64_t)x;
        return 0;
    }
    return -1;
}

/* A JSON number of seconds (DynamoDB ApproximateCreationDateTime) as ms,
 * rounded to the nearest ms. Returns 0 or -1 as sl__cdc_ms_of(). */
int sl__cdc_secs_to_ms(const json_t *v, int64_t *ms)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 0 || s > INT64_MAX / 1000)
            return -1;
        *ms = s * 1000;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v) * 1000.0 + 0.5;
        if (!(x >= 0.5 && x < MS_LIMIT))
            return -1;
        *ms = (int64_t)x;
        return 0;
    }
    return -1;
}

/* The image's own "timestamp" when it is a usable number of ms. */
int sl__cdc_image_ts(const json_t *img, int64_t *ms)
{
    return img && !sl__cdc_ms_of(json_object_get(img, "timestamp"), ms);
}

/* A member that is absent or JSON null: NULL. */
json_t *sl__cdc_member(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_null(v) ? NULL : v;
}

/* ---- ids ------------------------------------------------------------- */

typedef struct idhash_s {
    uint64_t a, b;
} idhash_t;

static void id_feed(idhash_t *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * 1099511628211ull;
        h->b = (h->b ^ s[i]) * 1099511628211ull;
    }
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* The event id, described at the top of this file. */
static void event_id(const char *entity, const sl_record_t *r, char id[37])
{
    idhash_t h = {1469598103934665603ull, 1469598103934665603ull ^ 0x9e3779b97f4a7c15ull};
    const char *topic = r->topic ? r->topic : "";
    char tail[48];
    int n = r->position
                ? snprintf(tail, sizeof tail, "/%" PRId32 "/", r->partition)
                : snprintf(tail, sizeof tail, "/%" PRId32 "/%" PRId64, r->partition, r->offset);
    id_feed(&h, entity, strlen(entity));
    id_feed(&h, "\n", 1);
    id_feed(&h, topic, strlen(topic));
    id_feed(&h, tail, (size_t)n);
    if (r->position)
        id_feed(&h, r->position, strlen(r->position));
    uint64_t a = fmix64(h.a), b = fmix64(h.b ^ 0x5851f42d4c957f2dull);
    snprintf(id, 37, "%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
             (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, ((uint32_t)a & 0x0fff) | 0x8000,
             ((uint32_t)(b >> 48) & 0x3fff) | 0x8000, (uint64_t)(b & 0xffffffffffffull));
}

/* ---- the event -------------------------------------------------------- */

static const char *const verbs[] = {"created", "updated", "deleted"};

int sl__cdc_build_event(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const change_t *ch,
                        json_t **out)
{
    char id[37];
    event_id(o->entity, r, id);
    json_t *ev = json_object(), *tags = json_object(), *raw = json_object();
    int bad = !ev;
    bad |= json_object_set_new(tags, "source", json_string(o->source ? o->source : "sluice"));
    bad |= json_object_set_new(tags, "format", json_string(c->fmt));
    bad |= json_object_set_new(tags, "entity", json_string(o->entity));
    if (ch->region)
        bad |= json_object_set_new(tags, "region", json_string(ch->region));
    bad |= json_object_set_new(raw, "new", ch->img_new ? json_incref(ch->img_new) : json_null());
    bad |= json_object_set_new(raw, "old", ch->img_old ? json_incref(ch->img_old) : json_null());
    bad |= json_object_set_new(ev, "id", json_string(id));
    bad |= json_object_set_new(ev, "type", json_sprintf("%s-%s", o->entity, verbs[ch->op]));
    bad |= json_object_set_new(ev, "timestamp", json_integer(ch->ts));
    bad |= json_object_set(ev, "partitionKey", ch->pkey);
    bad |= json_object_set_new(ev, "tags", tags);
    bad |= json_object_set_new(ev, o->entity, json_deep_copy(ch->entity));
    bad |= json_object_set_new(ev, "raw", raw);
    if (bad) {
        json_decref(ev);
        return sl__cdc_oom(c);
    }
    *out = ev;
    return 0;
}

/* The record key as partitionKey: 1 when usable (non-empty UTF-8 text
 * without NUL), 0 when not, SL_ENOMEM. */
int sl__cdc_record_pkey(const sl_record_t *r, json_t **pk)
{
    if (!r->key || !r->key_len || !utf8_text(r->key, r->key_len))
        return 0;
    *pk = json_stringn(r->key, r->key_len);
    return *pk ? 1 : SL_ENOMEM;
}

/* The change time, else the record's own timestamp: 1 found, 0 none. */
int sl__cdc_change_or_record(int have, int64_t change, const sl_record_t *r, int64_t *ms)
{
    if (have)
        *ms = change;
    else if (r->timestamp_ms > 0)
        *ms = r->timestamp_ms;
    return have || r->timestamp_ms > 0;
}

/* ---- public ----------------------------------------------------------- */

static int check_opts(cvt_t *c, const sl_cdc_opts_t *o)
{
    static const char *const reserved[] = {"id",           "type", "timestamp",
                                           "partitionKey", "tags", "raw"};
    if (!o)
        return sl__cdc_fail(c, SL_EINVAL, "no options");
    if (o->format != SL_CDC_DYNAMODB && o->format != SL_CDC_DEBEZIUM)
        return sl__cdc_fail(c, SL_EINVAL, "format is neither SL_CDC_DYNAMODB nor SL_CDC_DEBEZIUM");
    if (!o->entity || !*o->entity)
        return sl__cdc_fail(c, SL_EINVAL, "entity is required");
    for (const char *p = o->entity; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return sl__cdc_fail(c, SL_EINVAL,
                                "entity holds a character other than letters, digits, "
                                "'-' and '_'");
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(o->entity, reserved[i]))
            return sl__cdc_fail(c, SL_EINVAL, "entity \"%s\" is a member of the event envelope",
                                o->entity);
    if (o->source && (!*o->source || !utf8_text(o->source, strlen(o->source))))
        return sl__cdc_fail(c, SL_EINVAL, "source is empty or not UTF-8");
    return 0;
}

int sl_cdc_convert(const sl_cdc_opts_t *opts, const sl_record_t *record, json_t **out, char *err,
                   size_t err_size)
{
    cvt_t c = {.fmt = "cdc", .err = err, .err_size = err_size};
    if (err && err_size)
        err[0] = 0;
    if (out)
        *out = NULL;
    int rc = check_opts(&c, opts);
    if (rc)
        return rc;
    if (!record || !out)
        return sl__cdc_fail(&c, SL_EINVAL, "record and out are required");
    c.fmt = opts->format == SL_CDC_DYNAMODB ? "dynamodb" : "debezium";
    size_t n = record->value ? record->value_len : 0;
    if (!n)
        return opts->format == SL_CDC_DEBEZIUM
                   ? sl__cdc_fail(&c, SL_EFIELD, "tombstone (empty value) is not a change record")
                   : sl__cdc_fail(&c, SL_EJSON, "empty value is not JSON");
    json_error_t je;
    json_t *root = json_loadb(record->value, n, JSON_DECODE_ANY, &je);
    if (!root) {
        /* jansson does not always tell out of memory from bad text: when the
         * strict scanner (same verdict as jansson, no allocation) accepts the
         * text, it was memory. */
        if (json_error_code(&je) == json_error_out_of_memory ||
            !sl_json_validate(record->value, n, NULL))
            return sl__cdc_oom(&c);
        scrub(je.text);
        return sl__cdc_fail(&c, SL_EJSON, "not JSON: %s at byte %d", je.text, je.position);
    }
    rc = opts->format == SL_CDC_DYNAMODB ? sl__cdc_from_dynamodb(&c, opts, record, root, out)
                                         : sl__cdc_from_debezium(&c, opts, record, root, out);
    json_decref(root);
    return rc;
}

typedef struct cdc_stage_s {
    sl_cdc_opts_t opts; /* entity and source point at the copies below */
    char *entity, *source;
} cdc_stage_t;

static void cdc_stage_free(void *opaque)
{
    cdc_stage_t *s = opaque;
    sl_free(s->entity);
    sl_free(s->source);
    sl_free(s);
}

static sl_result_t cdc_map(sl_uow_t *u, void *opaque)
{
    const cdc_stage_t *s = opaque;
    char err[STAGE_ERR];
    json_t *ev;
    int rc = sl_cdc_convert(&s->opts, sl_uow_record(u), &ev, err, sizeof err);
    if (!rc) {
        json_t *pk = json_object_get(ev, "partitionKey");
        rc = sl_uow_set_output_json(u, json_string_value(pk), json_string_length(pk), ev);
        json_decref(ev);
        if (rc)
            snprintf(err, sizeof err, "cdc: %s writing the event", sl_strerror(rc));
    }
    if (!rc)
        return SL_OK;
    sl_uow_fail(u, rc, err);
    return rc == SL_ENOMEM ? SL_RETRY : SL_FAULT;
}

int sl_cdc(sl_pipeline_t *p, const sl_cdc_opts_t *opts)
{
    cvt_t c = {.fmt = "cdc"};
    if (!p || check_opts(&c, opts))
        return SL_EINVAL;
    cdc_stage_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        return SL_ENOMEM;
    s->entity = sl_strdup(opts->entity);
    s->source = opts->source ? sl_strdup(opts->source) : NULL;
    if (!s->entity || (opts->source && !s->source)) {
        cdc_stage_free(s);
        return SL_ENOMEM;
    }
    s->opts = (sl_cdc_opts_t){.format = opts->format, .entity = s->entity, .source = s->source};
    /* The hook first: once it is registered the pipeline frees the copy, even
     * when appending the map fails below. */
    int rc = sl_pipeline_on_destroy(p, cdc_stage_free, s);
    if (rc) {
        cdc_stage_free(s);
        return rc;
    }
    return sl_pipeline_map(p, cdc_map, s);
}
