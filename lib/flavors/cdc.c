/* sluice — the cdc flavor: change records of a service's own store (DynamoDB
 * Streams records, Debezium envelopes) become domain events
 * <entity>-created|updated|deleted|undeleted|expired. Plain jansson work: no
 * I/O, no shared state (but the caller's mapping hook).
 *
 * Decisions the header leaves open:
 *   - id: a UUID-shaped string (RFC 9562 layout, version 8 "custom", variant
 *     10) made of two 64-bit FNV-1a hashes (two offset bases, each finished
 *     with the murmur3 fmix64 mixer) of "<entity>\nchange\n<identity>" when
 *     the change has an identity (see change_t), else of
 *     "<entity>\n<topic>/<partition>/<pos>", where <pos> is record->position
 *     when set, else the decimal offset. The entity is part of it so that two
 *     cdc pipelines over one record publish distinct ids. Not cryptographic;
 *     stable across runs and platforms.
 *   - timestamp: the image's "timestamp" when it is a number of ms in
 *     [0, 2^63) (a real is truncated), except for a delete; else the change
 *     time (DynamoDB ApproximateCreationDateTime seconds, rounded to the
 *     nearest ms; Debezium ts_ms, else source.ts_ms); else the record's own
 *     timestamp when positive; else SL_EFIELD.
 *   - partitionKey: Keys.<pk_attr>; else the record key when it is non-empty
 *     UTF-8 text without NUL; else derived from the change (see keys_pkey()
 *     and image_pkey()).
 *   - DynamoDB N: in the tree, a JSON integer when the text is an integer (no
 *     point, no exponent) within int64, else a real (rounded to a double).
 *     jansson cannot hold a number's text, so the text form (the stage's
 *     output) is written here by write_json() over the tree, with a table
 *     from each N's node to its text (sl__cdc_keep_text()): the entity and
 *     raw share those nodes, a hook that takes them by reference keeps them,
 *     and other numbers are written by value (reals in their shortest
 *     round-trip form). Not sl_uow_set_output_json(): jansson writes
 *     3.14159 as 3.1415899999999999.
 *   - the default <entity> is a new object sharing the image's member values
 *     (the text table needs the same nodes); sl_cdc_convert() deep-copies it
 *     so that changing it does not change raw.new / raw.old.
 *   - a member that is JSON null (Keys, NewImage, before, ts_ms, ...) counts
 *     as absent. */
#include "core/core.h"
#include "core/jsonw.h"
#include "core/util.h"
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
int sl__cdc_utf8_text(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    size_t i = 0;
    /* ASCII without NUL (most keys) eight bytes at a time: no high bit, no
     * zero byte; the first word that has either goes byte by byte. */
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((w | ((w - ones) & ~w)) & high)
            break;
    }
    while (i < n) {
        if (p[i] - 1u < 0x7fu) { /* ASCII but NUL */
            i++;
            continue;
        }
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

int sl__cdc_failx(cvt_t *c, int rc, int at, const char *fmt, ...)
{
    if (!c->err || !c->err_size)
        return rc;
    int n = at ? snprintf(c->err, c->err_size, "%s: %s%s: ", c->fmt, c->path, c->cut ? "..." : "")
               : snprintf(c->err, c->err_size, "%s: ", c->fmt);
    if (n >= 0 && (size_t)n < c->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    utf8_trim(c->err);
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
int sl__cdc_number_parse(const char *s, size_t n, int *is_int, int64_t *iv, double *dv)
{
    size_t i = 0, digits = 0;
    int neg = 0, integral = 1, has_exp = 0;
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
        has_exp = 1;
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
    if (integral && n - d0 <= 18) {
        /* At most 18 digits always fit an int64_t: no overflow test, whose
         * division per digit cost more than the rest of the parse. */
        uint64_t acc = 0;
        for (size_t k = d0; k < n; k++)
            acc = acc * 10 + (unsigned)(s[k] - '0');
        *is_int = 1;
        *iv = neg ? -(int64_t)acc : (int64_t)acc;
        return 0;
    }
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
            *is_int = 1;
            *iv = !neg ? (int64_t)acc : acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
            return 0;
        }
    }
    *is_int = 0;
    /* Without an exponent and with fewer than 300 digits a real is finite:
     * its value is computed only when the caller wants it. */
    if (!dv && !has_exp && digits < 300)
        return 0;
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
    if (!rc && dv)
        *dv = x;
    return rc;
}

int sl__cdc_number_of(const char *s, size_t n, json_t **out)
{
    int is_int;
    int64_t iv;
    double dv;
    int rc = sl__cdc_number_parse(s, n, &is_int, &iv, &dv);
    if (rc)
        return rc;
    *out = is_int ? json_integer(iv) : json_real(dv);
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

/* ---- number texts ----------------------------------------------------- */

/* Writes the JSON form of DynamoDB number text @p s (already checked by
 * sl__cdc_number_of): no '+', no leading zeros, a digit on each side of a
 * point or no point. The digits and the exponent are kept as they are. */
static size_t json_number_text(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    if (s[i] == '+' || s[i] == '-') {
        if (s[i] == '-')
            out[o++] = '-';
        i++;
    }
    size_t int0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t a = int0;
    while (a + 1 < i && s[a] == '0')
        a++;
    if (a == i)
        out[o++] = '0';
    else {
        memcpy(out + o, s + a, i - a);
        o += i - a;
    }
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i > f0) {
            out[o++] = '.';
            memcpy(out + o, s + f0, i - f0);
            o += i - f0;
        }
    }
    memcpy(out + o, s + i, n - i); /* the exponent, if any */
    o += n - i;
    out[o] = 0;
    return o;
}

size_t sl__cdc_n_text(const char *s, size_t n, int real, char *text)
{
    size_t len = json_number_text(s, n, text);
    if (real && !strpbrk(text, ".eE")) {
        /* An integer beyond int64: jansson (sluice's own decoder, hence a
         * sluice listener) refuses such an integer token, so write the same
         * exact value in exponent form, which it reads as a real:
         * 123456789012345678901234567890 is 1.23456789012345678901234567890E29. */
        size_t d0 = text[0] == '-', nd = len - d0;
        memmove(text + d0 + 2, text + d0 + 1, nd - 1);
        text[d0 + 1] = '.';
        len = d0 + 1 + nd + (size_t)snprintf(text + d0 + 1 + nd, 32, "E%zu", nd - 1);
    }
    return len;
}

int sl__cdc_keep_text(cvt_t *c, json_t *node, const char *s, size_t n)
{
    numtab_t *t = c->nums;
    if (!t)
        return 0;
    if (sl__grow(&t->v, &t->cap, t->n + 1, sizeof *t->v, 16))
        return SL_ENOMEM;
    /* "0" may be added before a point; ".", "E" and an exponent after the
     * first digit of a long integer. */
    char *text = sl_malloc(n + 32);
    if (!text)
        return SL_ENOMEM;
    sl__cdc_n_text(s, n, json_is_real(node), text);
    t->v[t->n++] = (numtext_t){json_incref(node), text};
    t->sorted = 0;
    return 0;
}

static void numtab_free(numtab_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        json_decref(t->v[i].node);
        sl_free(t->v[i].text);
    }
    sl_free(t->v);
    *t = (numtab_t){0};
}

static int cmp_node(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const numtext_t *)a)->node;
    uintptr_t y = (uintptr_t)((const numtext_t *)b)->node;
    return x < y ? -1 : x > y;
}

static const char *numtab_find(numtab_t *t, const json_t *node)
{
    if (!t || !t->n)
        return NULL;
    if (!t->sorted) {
        qsort(t->v, t->n, sizeof *t->v, cmp_node);
        t->sorted = 1;
    }
    numtext_t key = {(json_t *)node, NULL};
    const numtext_t *hit = bsearch(&key, t->v, t->n, sizeof *t->v, cmp_node);
    return hit ? hit->text : NULL;
}

/* ---- writing the event ------------------------------------------------ */

/* A double as sluice writes every real (sl__jw_double: the shortest form
 * that reads back as the same double, still a real). */
static void jw_real(sl__jw_t *jw, double x)
{
    sl__jw_double(jw, x);
}

/* Compact JSON of @p v, member order kept, numbers with a kept text written
 * as that text. */
static void write_json(sl__jw_t *jw, const json_t *v, numtab_t *nums)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        int first = 1;
        sl__jw_raw(jw, "{", 1);
        json_object_foreach((json_t *)v, k, m)
        {
            if (!first)
                sl__jw_raw(jw, ",", 1);
            first = 0;
            sl__jw_str(jw, k, strlen(k));
            sl__jw_raw(jw, ":", 1);
            write_json(jw, m, nums);
        }
        sl__jw_raw(jw, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        sl__jw_raw(jw, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                sl__jw_raw(jw, ",", 1);
            write_json(jw, json_array_get(v, i), nums);
        }
        sl__jw_raw(jw, "]", 1);
        return;
    }
    case JSON_STRING:
        sl__jw_str(jw, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
    case JSON_REAL: {
        const char *t = numtab_find(nums, v);
        if (t)
            sl__jw_lit(jw, t);
        else if (json_is_integer(v))
            sl__jw_int(jw, json_integer_value(v));
        else
            jw_real(jw, json_real_value(v));
        return;
    }
    case JSON_TRUE:
        sl__jw_lit(jw, "true");
        return;
    case JSON_FALSE:
        sl__jw_lit(jw, "false");
        return;
    case JSON_NULL:
        sl__jw_lit(jw, "null");
        return;
    }
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

/* @p v as 8 lowercase hex digits at @p out (no NUL). */
static void hex8(char *out, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Each nibble to a byte of its own, the most significant first in
     * memory, then '0'-'9' or 'a'-'f' for all eight at once: a digit at a
     * time was half the id's cost. */
    uint64_t x = (uint64_t)(v >> 16) | (uint64_t)(v & 0xffff) << 32;
    x = (x & 0x0000ff000000ff00ull) >> 8 | (x & 0x000000ff000000ffull) << 16;
    x = (x & 0x00f000f000f000f0ull) >> 4 | (x & 0x000f000f000f000full) << 8;
    uint64_t ten = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    x += 0x3030303030303030ull + ten * ('a' - '0' - 10);
    memcpy(out, &x, 8);
#else
    static const char hex[] = "0123456789abcdef";
    for (int d = 7; d >= 0; d--, v >>= 4)
        out[d] = hex[v & 15];
#endif
}

/* @p v as two groups of 4 hex digits with a '-' between (9 bytes). */
static void hex8_split(char *out, uint32_t v)
{
    char t[8];
    hex8(t, v);
    memcpy(out, t, 4);
    out[4] = '-';
    memcpy(out + 5, t + 4, 4);
}

/* The id from the hash of its text. */
static void id_finish(const idhash_t *h, char id[37])
{
    uint64_t a = fmix64(h->a), b = fmix64(h->b ^ 0x5851f42d4c957f2dull);
    uint64_t p5 = b & 0xffffffffffffull;
    /* %08x-%04x-%04x-%04x-%012x by hand: snprintf costs more than the hash. */
    hex8(id, (uint32_t)(a >> 32));
    id[8] = '-';
    hex8_split(id + 9, (uint32_t)(((a >> 16) & 0xffff) << 16 | ((a & 0x0fff) | 0x8000)));
    id[18] = '-';
    hex8_split(id + 19, (uint32_t)((((b >> 48) & 0x3fff) | 0x8000) << 16 | (p5 >> 32)));
    hex8(id + 28, (uint32_t)p5);
    id[36] = 0;
}

static void id_start(idhash_t *h, const char *entity)
{
    *h = (idhash_t){1469598103934665603ull, 1469598103934665603ull ^ 0x9e3779b97f4a7c15ull};
    id_feed(h, entity, strlen(entity));
    id_feed(h, "\n", 1);
}

/* The event id, described at the top of this file. */
void sl__cdc_event_id(const char *entity, const sl_record_t *r, const char *identity, char id[37])
{
    idhash_t h;
    id_start(&h, entity);
    if (identity && *identity) {
        /* No topic or offset: the same change read from anywhere is one id. */
        id_feed(&h, "change\n", 7);
        id_feed(&h, identity, strlen(identity));
    } else {
        const char *topic = r->topic ? r->topic : "";
        char tail[48];
        int n = r->position
                    ? snprintf(tail, sizeof tail, "/%" PRId32 "/", r->partition)
                    : snprintf(tail, sizeof tail, "/%" PRId32 "/%" PRId64, r->partition, r->offset);
        id_feed(&h, topic, strlen(topic));
        id_feed(&h, tail, (size_t)n);
        if (r->position)
            id_feed(&h, r->position, strlen(r->position));
    }
    id_finish(&h, id);
}

void sl__cdc_event_id_kept(cdc_keep_t *k, const char *entity, const sl_record_t *r,
                           const char *identity, char id[37])
{
    static const char head[] = "dynamodb:";
    if (!k || !identity || strncmp(identity, head, sizeof head - 1)) {
        sl__cdc_event_id(entity, r, identity, id);
        return;
    }
    idhash_t h;
    if (!k->id_ready) {
        id_start(&h, entity);
        id_feed(&h, "change\n", 7);
        id_feed(&h, head, sizeof head - 1);
        k->id_a = h.a;
        k->id_b = h.b;
        k->id_ready = 1;
    }
    h = (idhash_t){k->id_a, k->id_b};
    identity += sizeof head - 1;
    id_feed(&h, identity, strlen(identity));
    id_finish(&h, id);
}

/* ---- the event -------------------------------------------------------- */

static const char *const reserved[] = {"id", "type", "timestamp", "partitionKey", "tags", "raw"};

/* An entity name: letters, digits, '-' and '_', not a member of the envelope. */
const char *sl__cdc_bad_entity(const char *e)
{
    if (!*e)
        return "is empty";
    for (const char *p = e; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return "holds a character other than letters, digits, '-' and '_'";
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(e, reserved[i]))
            return "is a member of the event envelope";
    return NULL;
}

#define ATTR(o, field, dflt) ((o)->field ? (o)->field : (dflt))

/* The entity name from the image: its discriminator, else its sort key,
 * lowercased (aws-lambda-stream's calculateEventTypePrefix). */
static int derive_entity(cvt_t *c, const sl_cdc_opts_t *o, const change_t *ch, char *name,
                         size_t size)
{
    const json_t *img = ch->img_new ? ch->img_new : ch->img_old ? ch->img_old : ch->keys;
    const char *dn = ATTR(o, discriminator_attr, "discriminator"), *sn = ATTR(o, sk_attr, "sk");
    const json_t *v = json_object_get(img, dn);
    const char *which = dn;
    if (!json_is_string(v)) {
        v = json_object_get(img, sn);
        which = sn;
    }
    if (!json_is_string(v))
        return sl__cdc_fail(c, SL_EFIELD,
                            "no entity name: the image has no string \"%s\" or \"%s\" (or set "
                            "the entity option)",
                            dn, sn);
    char q[QUOTE_MAX + 4];
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= size)
        return sl__cdc_fail(c, SL_EFIELD, "\"%s\" \"%s\" is too long for an entity name", which,
                            sl__cdc_clip(q, s, n));
    for (size_t i = 0; i < n; i++)
        name[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    name[n] = 0;
    const char *why = strlen(name) == n ? sl__cdc_bad_entity(name) : "holds a NUL";
    if (why)
        return sl__cdc_fail(c, SL_EFIELD, "\"%s\" \"%s\" is not an entity name: it %s", which,
                            sl__cdc_clip(q, s, n), why);
    return 0;
}

/* The verb of the event type; NULL when an expiry is skipped. */
static const char *verb_of(const sl_cdc_opts_t *o, const change_t *ch)
{
    if (ch->op == OP_CREATE)
        return "created";
    if (ch->op == OP_DELETE) {
        if (ch->by_ttl && o->expired != SL_CDC_EXPIRED_DELETE)
            return o->expired == SL_CDC_EXPIRED_SKIP ? NULL : "expired";
        return "deleted";
    }
    const char *da = ATTR(o, deleted_attr, "deleted");
    int now = json_is_true(json_object_get(ch->img_new, da));
    int before = json_is_true(json_object_get(ch->img_old, da));
    return now && !before ? "deleted" : !now && before ? "undeleted" : "updated";
}

/* The default entity: a new object sharing the image's members but the dropped ones. */
static json_t *entity_of(const sl_cdc_opts_t *o, json_t *img)
{
    json_t *e = json_object();
    const char *k;
    json_t *m;
    json_object_foreach(img, k, m)
    {
        int drop = 0;
        for (size_t i = 0; i < o->drop_count && !drop; i++)
            drop = !strcmp(k, o->drop[i]);
        if (!drop && e && json_object_set(e, k, m)) {
            json_decref(e);
            return NULL;
        }
    }
    return e;
}

static int set_tag(json_t *tags, const char *name, const char *v)
{
    return v ? json_object_set_new(tags, name, json_string(v)) : 0;
}

int sl__cdc_build_event(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const change_t *ch,
                        json_t **out)
{
    *out = NULL;
    /* Loops and duplicates first: a skipped record needs no name. */
    const json_t *img = ch->img_new ? ch->img_new : ch->img_old;
    const char *la = ATTR(o, latched_attr, "latched"), *ra = ATTR(o, region_attr, "awsregion");
    if (!o->keep_latched && json_is_true(json_object_get(img, la)))
        return sl__cdc_fail(c, CDC_SKIPPED, "skipped: latched (\"%s\" is true)", la);
    const json_t *reg = json_object_get(img, ra);
    if (!o->keep_replicas && o->region && json_is_string(reg) &&
        strcmp(json_string_value(reg), o->region)) {
        char q[QUOTE_MAX + 4];
        return sl__cdc_fail(c, CDC_SKIPPED, "skipped: a replica (\"%s\" is \"%s\", not \"%s\")", ra,
                            sl__cdc_clip(q, json_string_value(reg), json_string_length(reg)),
                            o->region);
    }
    const char *verb = verb_of(o, ch);
    if (!verb)
        return sl__cdc_fail(c, CDC_SKIPPED, "skipped: expired by TTL");
    char derived[128];
    const char *entity = o->entity;
    if (!entity) {
        int rc = derive_entity(c, o, ch, derived, sizeof derived);
        if (rc)
            return rc;
        entity = derived;
    }
    char id[37];
    sl__cdc_event_id(entity, r, ch->identity, id);
    json_t *type = json_sprintf("%s-%s", entity, verb);
    json_t *ent = NULL;
    if (o->to_entity) {
        sl_cdc_change_t pub = {.type = json_string_value(type),
                               .entity = entity,
                               .new_image = ch->img_new,
                               .old_image = ch->img_old,
                               .record = ch->root};
        int rc = type ? o->to_entity(&pub, &ent, o->to_entity_arg) : SL_ENOMEM;
        if (rc > 0) /* not an error code: positive values are the flavor's own */
            rc = SL_EFIELD;
        if (rc) {
            json_decref(type);
            json_decref(ent);
            return rc == SL_ENOMEM
                       ? sl__cdc_oom(c)
                       : sl__cdc_fail(c, rc, "the mapping hook failed: %s", sl_strerror(rc));
        }
    } else {
        ent = entity_of(o, ch->entity);
    }
    json_t *ev = json_object(), *tags = json_object(), *raw = json_object();
    int bad = !ev || !type || (!o->to_entity && !ent);
    bad |= set_tag(tags, "source", o->source ? o->source : "sluice");
    bad |= set_tag(tags, "account", o->account);
    bad |= set_tag(tags, "stage", o->stage);
    bad |= set_tag(tags, "region", ch->region ? ch->region : o->region);
    bad |= set_tag(tags, "functionname", o->function_name);
    bad |= set_tag(tags, "pipeline", o->pipeline);
    bad |= set_tag(tags, "format", c->fmt);
    bad |= set_tag(tags, "entity", entity);
    bad |= json_object_set_new(raw, "new", ch->img_new ? json_incref(ch->img_new) : json_null());
    bad |= json_object_set_new(raw, "old", ch->img_old ? json_incref(ch->img_old) : json_null());
    bad |= json_object_set_new(ev, "id", json_string(id));
    bad |= json_object_set_new(ev, "type", type);
    bad |= json_object_set_new(ev, "timestamp", json_integer(ch->ts));
    bad |= json_object_set(ev, "partitionKey", ch->pkey);
    bad |= json_object_set_new(ev, "tags", tags);
    if (ent)
        bad |= json_object_set_new(ev, entity, ent);
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
    if (!r->key || !r->key_len || !sl__cdc_utf8_text(r->key, r->key_len))
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

static int opt_text(cvt_t *c, const char *what, const char *v)
{
    if (v && (!*v || !sl__cdc_utf8_text(v, strlen(v))))
        return sl__cdc_fail(c, SL_EINVAL, "%s is empty or not UTF-8", what);
    return 0;
}

static int check_opts(cvt_t *c, const sl_cdc_opts_t *o)
{
    if (!o)
        return sl__cdc_fail(c, SL_EINVAL, "no options");
    if (o->format != SL_CDC_DYNAMODB && o->format != SL_CDC_DEBEZIUM)
        return sl__cdc_fail(c, SL_EINVAL, "format is neither SL_CDC_DYNAMODB nor SL_CDC_DEBEZIUM");
    const char *why = o->entity ? sl__cdc_bad_entity(o->entity) : NULL;
    if (why)
        return sl__cdc_fail(c, SL_EINVAL, "entity \"%s\" %s", o->entity, why);
    if ((unsigned)o->expired > SL_CDC_EXPIRED_DELETE)
        return sl__cdc_fail(c, SL_EINVAL, "expired is not an sl_cdc_expired_t");
    if (o->drop_count && !o->drop)
        return sl__cdc_fail(c, SL_EINVAL, "drop_count without drop");
    for (size_t i = 0; i < o->drop_count; i++)
        if (!o->drop[i])
            return sl__cdc_fail(c, SL_EINVAL, "drop[%zu] is NULL", i);
    const struct {
        const char *what, *v;
    } texts[] = {{"source", o->source},
                 {"region", o->region},
                 {"latched_attr", o->latched_attr},
                 {"region_attr", o->region_attr},
                 {"discriminator_attr", o->discriminator_attr},
                 {"sk_attr", o->sk_attr},
                 {"pk_attr", o->pk_attr},
                 {"deleted_attr", o->deleted_attr},
                 {"account", o->account},
                 {"stage", o->stage},
                 {"function_name", o->function_name},
                 {"pipeline", o->pipeline}};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int rc = opt_text(c, texts[i].what, texts[i].v);
        if (rc)
            return rc;
    }
    return 0;
}

/* The common part of the three entry points: the event tree, with number
 * texts in @p nums when it is set. */
static int convert(const sl_cdc_opts_t *opts, const sl_record_t *record, numtab_t *nums,
                   json_t **out, char *err, size_t err_size)
{
    cvt_t c = {.nums = nums, .fmt = "cdc", .err = err, .err_size = err_size};
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
    return rc == CDC_SKIPPED ? 0 : rc;
}

int sl_cdc_convert(const sl_cdc_opts_t *opts, const sl_record_t *record, json_t **out, char *err,
                   size_t err_size)
{
    int rc = convert(opts, record, NULL, out, err, err_size);
    if (rc || !*out)
        return rc;
    /* The entity shares nodes with raw: make it the caller's own copy. */
    const char *k;
    json_t *m;
    json_object_foreach(*out, k, m)
    {
        if ((json_is_object(m) || json_is_array(m)) && strcmp(k, "tags") && strcmp(k, "raw")) {
            json_t *copy = json_deep_copy(m);
            if (!copy || json_object_set_new(*out, k, copy)) {
                json_decref(*out);
                *out = NULL;
                cvt_t c = {.fmt = "cdc", .err = err, .err_size = err_size};
                return sl__cdc_oom(&c);
            }
        }
    }
    return 0;
}

/* The event as text into @p jw (the caller frees jw->buf); its partitionKey
 * in @p pk (the caller frees pk->own). @p mode as sl__cdc_convert_text_mode(). */
static int convert_jw(const sl_cdc_opts_t *opts, const sl_record_t *record, int mode, sl__jw_t *jw,
                      int *skipped, fast_pk_t *pk, char *err, size_t err_size)
{
    *skipped = 0;
    *pk = (fast_pk_t){0};
    if (mode && opts && record && !opts->to_entity) {
        /* The fast path (cdc_fast.c); the tree below when it gives way. */
        cvt_t c = {.fmt = "cdc", .err = err, .err_size = err_size};
        if (err && err_size)
            err[0] = 0;
        int rc = check_opts(&c, opts);
        if (rc)
            return rc;
        c.fmt = opts->format == SL_CDC_DYNAMODB ? "dynamodb" : "debezium";
        rc = sl__cdc_fast(&c, opts, record, jw, pk, NULL, 0);
        if (rc == CDC_SKIPPED) {
            *skipped = 1;
            return 0;
        }
        if (!rc) {
            sl__jw_raw(jw, "", 1); /* the NUL, not counted */
            if (jw->oom) {
                sl_free(pk->own);
                *pk = (fast_pk_t){0};
                return sl__cdc_oom(&c);
            }
            jw->len--;
            return 0;
        }
        if (rc != CDC_FALLBACK || mode == 2)
            return rc;
        jw->len = 0;
        jw->oom = 0;
        if (err && err_size)
            err[0] = 0;
    } else if (mode == 2) {
        return CDC_FALLBACK;
    }
    numtab_t nums = {0};
    json_t *ev = NULL;
    int rc = convert(opts, record, &nums, &ev, err, err_size);
    if (!rc && !ev)
        *skipped = 1;
    if (!rc && ev) {
        write_json(jw, ev, &nums);
        sl__jw_raw(jw, "", 1); /* the NUL, not counted below */
        json_t *k = json_object_get(ev, "partitionKey");
        char *own = jw->oom ? NULL : sl_malloc(json_string_length(k) + 1);
        if (!own) {
            cvt_t c = {.fmt = "cdc", .err = err, .err_size = err_size};
            rc = sl__cdc_oom(&c);
        } else {
            jw->len--;
            memcpy(own, json_string_value(k), json_string_length(k) + 1);
            *pk = (fast_pk_t){.p = own, .n = json_string_length(k), .own = own};
        }
    }
    json_decref(ev);
    numtab_free(&nums);
    return rc;
}

int sl__cdc_convert_text_mode(const sl_cdc_opts_t *opts, const sl_record_t *record, int mode,
                              char **text, size_t *len, char *err, size_t err_size)
{
    if (text)
        *text = NULL;
    if (len)
        *len = 0;
    if (!text) {
        cvt_t c = {.fmt = "cdc", .err = err, .err_size = err_size};
        return sl__cdc_fail(&c, SL_EINVAL, "text is required");
    }
    sl__jw_t jw;
    sl__jw_init(&jw, NULL, 0);
    int skipped;
    fast_pk_t pk;
    int rc = convert_jw(opts, record, mode, &jw, &skipped, &pk, err, err_size);
    sl_free(pk.own);
    if (rc || skipped) {
        sl_free(jw.buf);
        return rc;
    }
    *text = jw.buf;
    if (len)
        *len = jw.len;
    return 0;
}

int sl_cdc_convert_text(const sl_cdc_opts_t *opts, const sl_record_t *record, char **text,
                        size_t *len, char *err, size_t err_size)
{
    return sl__cdc_convert_text_mode(opts, record, 1, text, len, err, err_size);
}

/* The stage's own copy of the options: every string and the drop list. */
typedef struct cdc_stage_s {
    sl_cdc_opts_t opts;
    char **strs; /* every copied string, freed with the stage */
    size_t nstrs;
    const char **drop;
    cdc_keep_t keep; /* the fast path's scratch, kept between records */
    /* The event the walk wrote while it proved the record JSON in the
     * engine's stead (cdc_check()), for cdc_map() on the same record. */
    struct {
        const sl_record_t *rec; /* NULL: nothing kept */
        const void *value;
        size_t value_len;
        const char *topic;
        int32_t partition;
        int64_t offset;
        int rc;         /* the walk's verdict: 0, CDC_SKIPPED or CDC_FALLBACK */
        size_t key_len; /* with rc 0: the partitionKey's bytes first in buf */
        char *buf;      /* the output (key, then event), or a spare buffer */
        size_t len, cap;
        char err[STAGE_ERR];
    } kept;
    sl__json_check_t check;
} cdc_stage_t;

static void cdc_stage_free(void *opaque)
{
    cdc_stage_t *s = opaque;
    sl__cdc_keep_free(&s->keep);
    sl_free(s->kept.buf);
    for (size_t i = 0; i < s->nstrs; i++)
        sl_free(s->strs[i]);
    sl_free(s->strs);
    sl_free(s->drop);
    sl_free(s);
}

static int stage_dup(cdc_stage_t *s, const char **dst)
{
    if (!*dst)
        return 0;
    char *d = sl_strdup(*dst);
    if (!d)
        return SL_ENOMEM;
    s->strs[s->nstrs++] = d;
    *dst = d;
    return 0;
}

/* The engine's validation of a record's value (source.format=json), done by
 * the walk that converts it (sl__json_check_t): a compact DynamoDB record in
 * printable ASCII is proven JSON while its event is written, and the event
 * is kept for cdc_map(). Any other record, or one the walk cannot decide,
 * gets the strict scanner's verdict and message, as without the stage. */
static int cdc_check(void *opaque, const sl_record_t *r, sl_scan_error_t *se)
{
    cdc_stage_t *s = opaque;
    s->kept.rec = NULL;
    cvt_t c = {.fmt = "dynamodb", .err = s->kept.err, .err_size = sizeof s->kept.err};
    s->kept.err[0] = 0;
    sl__jw_t jw;
    sl__jw_init(&jw, s->kept.buf, s->kept.cap);
    fast_pk_t pk;
    int rc = sl__cdc_fast(&c, &s->opts, r, &jw, &pk, &s->keep, CDC_KEY_FIRST | CDC_CHECK);
    sl_free(pk.own);
    s->kept.buf = jw.buf;
    s->kept.cap = jw.cap;
    int known = c.proven || (c.validated && !c.invalid);
    if (!known || jw.oom || (rc && rc != CDC_SKIPPED && rc != CDC_FALLBACK))
        return sl_json_validate(r->value, r->value_len, se);
    s->kept.rec = r;
    s->kept.value = r->value;
    s->kept.value_len = r->value_len;
    s->kept.topic = r->topic;
    s->kept.partition = r->partition;
    s->kept.offset = r->offset;
    s->kept.rc = rc;
    s->kept.key_len = pk.n;
    s->kept.len = jw.len;
    return 0;
}

/* Whether cdc_check() kept the event of @p r: the same record, at the same
 * place, with the same bytes. Forgets it either way: it serves once. */
static int kept_for(cdc_stage_t *s, const sl_record_t *r)
{
    int same = s->kept.rec == r && s->kept.value == r->value && s->kept.value_len == r->value_len &&
               s->kept.topic == r->topic && s->kept.partition == r->partition &&
               s->kept.offset == r->offset;
    s->kept.rec = NULL;
    return same;
}

/* The fast path straight into the uow's output buffer, lent as @p jw: the
 * partitionKey, then the event (the output's layout), no copy, and no
 * allocation once the uow's pooled buffer and the stage's scratch are large
 * enough. The options were checked by sl_cdc(). The event cdc_check() kept
 * for this record is taken as it is; a record the engine's scanner
 * validated is not validated again. Returns as sl__cdc_fast(). */
static int cdc_in_place(cdc_stage_t *s, sl_uow_t *u, sl__jw_t *jw, char *err, size_t err_size)
{
    if (kept_for(s, sl_uow_record(u))) {
        /* The event is written: the kept buffer becomes the uow's, the
         * uow's the next spare (no copy). */
        int rc = s->kept.rc;
        if (rc) { /* the reason, for a skip or the tree path (no printf per event) */
            size_t n = strnlen(s->kept.err, err_size - 1);
            memcpy(err, s->kept.err, n);
            err[n] = 0;
        }
        char *spare = jw->buf;
        size_t spare_cap = jw->cap;
        sl__jw_init(jw, s->kept.buf, s->kept.cap);
        jw->len = s->kept.len;
        s->kept.buf = spare;
        s->kept.cap = spare_cap;
        sl__uow_output_take(u, jw, rc ? SIZE_MAX : s->kept.key_len);
        return rc;
    }
    cvt_t c = {.fmt = s->opts.format == SL_CDC_DYNAMODB ? "dynamodb" : "debezium",
               .err = err,
               .err_size = err_size};
    err[0] = 0;
    fast_pk_t pk;
    unsigned flags = CDC_KEY_FIRST | (sl__uow_value_is_json(u) ? CDC_VALIDATED : 0);
    int rc = sl__cdc_fast(&c, &s->opts, sl_uow_record(u), jw, &pk, &s->keep, flags);
    sl__uow_output_take(u, jw, rc ? SIZE_MAX : pk.n);
    sl_free(pk.own);
    return rc;
}

static sl_result_t cdc_map(sl_uow_t *u, void *opaque)
{
    cdc_stage_t *s = opaque;
    char err[STAGE_ERR];
    sl__jw_t jw;
    /* In place unless a hook makes the entity (the tree path) or an earlier
     * stage set an output (kept whole until this one succeeds). */
    int tried = !s->opts.to_entity && sl__uow_output_lend(u, &jw);
    int rc = tried ? cdc_in_place(s, u, &jw, err, sizeof err) : CDC_FALLBACK;
    if (rc == CDC_SKIPPED)
        return SL_SKIP;
    if (!rc)
        return SL_OK;
    if (rc != CDC_FALLBACK) {
        sl_uow_fail(u, rc, err);
        return rc == SL_ENOMEM ? SL_RETRY : SL_FAULT;
    }
    /* The tree path when the fast one gave way, else both as before. */
    sl__jw_init(&jw, NULL, 0);
    int skipped;
    fast_pk_t pk;
    rc = convert_jw(&s->opts, sl_uow_record(u), tried ? 0 : 1, &jw, &skipped, &pk, err, sizeof err);
    if (!rc && skipped) {
        sl_free(pk.own);
        sl_free(jw.buf);
        return SL_SKIP;
    }
    if (!rc) {
        rc = sl_uow_set_output(u, pk.p, pk.n, jw.buf, jw.len);
        if (rc)
            snprintf(err, sizeof err, "cdc: %s writing the event", sl_strerror(rc));
    }
    sl_free(pk.own);
    sl_free(jw.buf);
    if (!rc)
        return SL_OK;
    sl_uow_fail(u, rc, err);
    return rc == SL_ENOMEM ? SL_RETRY : SL_FAULT;
}

/* What the pipeline consumes (change records of its format) and produces
 * (the entity's events, or any event when each record names its entity),
 * for the processor's description. */
static int cdc_declare(sl_pipeline_t *p, const sl_cdc_opts_t *o)
{
    int rc = sl_pipeline_consumes(
        p, NULL,
        sl_schema(o->format == SL_CDC_DYNAMODB ? "dynamodb-stream-record" : "debezium-envelope"));
    if (rc || !o->entity)
        return rc ? rc : sl_pipeline_produces(p, NULL, NULL);
    /* The things service's events have a schema of their own. */
    const char *schema = sl_schema(!strcmp(o->entity, "thing") ? "thing-event" : "event");
    static const char *const verbs[] = {"created", "updated", "deleted", "undeleted", "expired"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs && !rc; i++) {
        /* An expiry is a DynamoDB TTL removal, published as such by default. */
        if (i == 4 && (o->format != SL_CDC_DYNAMODB || o->expired != SL_CDC_EXPIRED_EVENT))
            continue;
        char type[256];
        snprintf(type, sizeof type, "%s-%s", o->entity, verbs[i]);
        rc = sl_pipeline_produces(p, type, schema);
    }
    return rc;
}

int sl_cdc(sl_pipeline_t *p, const sl_cdc_opts_t *opts)
{
    cvt_t c = {.fmt = "cdc"};
    if (!p || check_opts(&c, opts))
        return SL_EINVAL;
    cdc_stage_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        return SL_ENOMEM;
    s->opts = *opts;
    sl_cdc_opts_t *o = &s->opts;
    const char **strs[] = {&o->entity,       &o->source,      &o->region,
                           &o->latched_attr, &o->region_attr, &o->discriminator_attr,
                           &o->sk_attr,      &o->pk_attr,     &o->deleted_attr,
                           &o->account,      &o->stage,       &o->function_name,
                           &o->pipeline};
    size_t nslots = sizeof strs / sizeof *strs + opts->drop_count;
    s->strs = sl_calloc(nslots, sizeof *s->strs);
    s->drop = opts->drop_count ? sl_calloc(opts->drop_count, sizeof *s->drop) : NULL;
    int rc = !s->strs || (opts->drop_count && !s->drop) ? SL_ENOMEM : 0;
    for (size_t i = 0; !rc && i < sizeof strs / sizeof *strs; i++)
        rc = stage_dup(s, strs[i]);
    for (size_t i = 0; !rc && i < opts->drop_count; i++) {
        s->drop[i] = opts->drop[i];
        rc = stage_dup(s, &s->drop[i]);
    }
    o->drop = s->drop;
    if (rc) {
        cdc_stage_free(s);
        return rc;
    }
    /* The hook first: once it is registered the pipeline frees the copy, even
     * when appending the map fails below. */
    rc = sl_pipeline_on_destroy(p, cdc_stage_free, s);
    if (rc) {
        cdc_stage_free(s);
        return rc;
    }
    if ((rc = cdc_declare(p, o)))
        return rc;
    /* DynamoDB records are proven JSON by the walk (Debezium envelopes are
     * validated first, which the engine does anyway). */
    if (o->format != SL_CDC_DYNAMODB || o->to_entity)
        return sl_pipeline_map(p, cdc_map, s);
    s->check = (sl__json_check_t){cdc_check, s};
    return sl__pipeline_map_checked(p, cdc_map, s, &s->check);
}
