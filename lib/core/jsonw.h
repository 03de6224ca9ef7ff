/* sluice — a small JSON writer into a growable buffer, for fault events and
 * other output built without a jansson tree. Errors are sticky: after a
 * failed growth every call is a no-op and 'oom' stays set. Not thread-safe. */
#ifndef SL_CORE_JSONW_H
#define SL_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl__jw_s {
    char *buf; /* owned through sl_malloc; may be handed over by the caller */
    size_t len, cap;
    int oom;
} sl__jw_t;

/* Start writing into @p buf of @p cap bytes (may be NULL/0); the writer may
 * reallocate it, so the caller takes back jw->buf and jw->cap afterwards. */
void sl__jw_init(sl__jw_t *jw, char *buf, size_t cap);
int sl__jw_reserve(sl__jw_t *jw, size_t extra);
void sl__jw_raw(sl__jw_t *jw, const void *s, size_t n);
void sl__jw_lit(sl__jw_t *jw, const char *s);
/* A quoted JSON string; control characters escaped; invalid UTF-8 becomes U+FFFD. */
void sl__jw_str(sl__jw_t *jw, const void *s, size_t n);
void sl__jw_int(sl__jw_t *jw, int64_t v);
/* Length of the valid UTF-8 sequence at @p p (1..4; shortest form, no
 * surrogates, at most U+10FFFF), or 0 when invalid or cut short by @p n. */
size_t sl__utf8_len(const unsigned char *p, size_t n);

/* A quoted standard base64 string with padding. */
void sl__jw_b64(sl__jw_t *jw, const void *s, size_t n);

#endif
