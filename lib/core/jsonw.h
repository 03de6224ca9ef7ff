/* sluice — a small JSON writer into a growable buffer, for fault events and
 * other output built without a jansson tree. Errors are sticky: after a
 * failed growth every call is a no-op and 'oom' stays set. Not thread-safe. */
#ifndef SL_CORE_JSONW_H
#define SL_CORE_JSONW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sl__jw_s {
    char *buf; /* owned through sl_malloc; may be handed over by the caller */
    size_t len, cap;
    int oom;
} sl__jw_t;

/* Start writing into @p buf of @p cap bytes (may be NULL/0); the writer may
 * reallocate it, so the caller takes back jw->buf and jw->cap afterwards. */
void sl__jw_init(sl__jw_t *jw, char *buf, size_t cap);
int sl__jw_reserve(sl__jw_t *jw, size_t extra);
/* sl__jw_reserve() with its common case inline: room enough already (a
 * call per small write was a tenth of the cdc fast path's writing). */
static inline int sl__jw_room(sl__jw_t *jw, size_t extra)
{
    return !jw->oom && jw->cap - jw->len >= extra ? 0 : sl__jw_reserve(jw, extra);
}
/* Appends @p n bytes as they are. Inline: when the buffer has room (the
 * usual case, writers reserve ahead) it is a copy, not a call (a call per
 * punctuation byte was a tenth of the cdc fast path's conversion). */
static inline void sl__jw_raw(sl__jw_t *jw, const void *s, size_t n)
{
    if (!n || sl__jw_room(jw, n))
        return;
    memcpy(jw->buf + jw->len, s, n);
    jw->len += n;
}
void sl__jw_lit(sl__jw_t *jw, const char *s);
/* A quoted JSON string; control characters escaped; invalid UTF-8 becomes U+FFFD. */
void sl__jw_str(sl__jw_t *jw, const void *s, size_t n);
/* Decimal, without snprintf (the writer's hot path). */
void sl__jw_int(sl__jw_t *jw, int64_t v);
/* Length of the valid UTF-8 sequence at @p p (1..4; shortest form, no
 * surrogates, at most U+10FFFF), or 0 when invalid or cut short by @p n. */
size_t sl__utf8_len(const unsigned char *p, size_t n);

/* Longest text sl__fmt_double() writes, without the NUL. */
#define SL__DBL_MAX_LEN 25

/* @p v in the shortest decimal form that strtod() reads back to the same
 * double, bit for bit (80.22 is "80.22", not jansson's 17 digits
 * "80.219999999999999"), always with a '.' or an exponent so a JSON reader
 * keeps it a real ("1.0", "-0.0", "1e21", "5e-324"); exponents without '+'
 * or leading zeros, as jansson writes them. '.' whatever the locale.
 * JSON has no NaN or infinity: those write "null". Writes a NUL-terminated
 * string of at most SL__DBL_MAX_LEN characters to @p out; returns its length. */
size_t sl__fmt_double(double v, char out[SL__DBL_MAX_LEN + 1]);
/* A JSON number for @p v (see sl__fmt_double()). */
void sl__jw_double(sl__jw_t *jw, double v);

/* @p v compactly, as json_dumpb(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it
 * (same separators, escapes and member order), except that reals are in
 * their shortest form (sl__fmt_double()). Returns 0, SL_ENOMEM, or SL_EINVAL
 * for what jansson cannot encode either: a string that is not UTF-8, or a
 * tree nested deeper than SL__JW_MAX_DEPTH (a cycle). */
#define SL__JW_MAX_DEPTH 2048
int sl__jw_json(sl__jw_t *jw, const json_t *v);

/* A quoted standard base64 string with padding. */
void sl__jw_b64(sl__jw_t *jw, const void *s, size_t n);

#endif
