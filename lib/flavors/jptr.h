/* sluice — JSON pointers (RFC 6901) over JSON text, as the materialize
 * flavor reads its key and entity (private; exposed for the fuzz target). */
#ifndef SL_FLAVORS_JPTR_H
#define SL_FLAVORS_JPTR_H

#include "sluice/record.h"

#include <stddef.h>

typedef struct sl__jptr_s {
    char **tok; /* unescaped reference tokens */
    size_t n;
} sl__jptr_t;

/* Parse pointer @p s. 0, SL_EINVAL (not a pointer, bad escape), SL_ENOMEM.
 * "" is the whole document. On failure *out holds nothing to free. */
int sl__jptr_parse(const char *s, sl__jptr_t *out);

/* Free the tokens (the struct itself is the caller's). */
void sl__jptr_free(sl__jptr_t *p);

/* The value at @p ptr in the JSON text [buf, buf + len), which must be valid
 * JSON (the engine's scanner checked it): its span, borrowed from @p buf.
 * Of duplicate members, the last one counts, as for the scanner and jansson.
 * 0 or SL_ENOENT. Allocates nothing. */
int sl__jptr_span(const sl__jptr_t *ptr, const char *buf, size_t len, sl_span_t *out);

/* The map stage's lookup: the value at @p key and, when @p key_in_entity
 * (@p entity's tokens are the first of @p key's), the value at @p entity,
 * found in one walk of the event. 0 with *@p k (and *@p ent, *@p ent_found
 * set when the entity was found on the way); SL_ENOENT when the key is not
 * there. Same text requirements and duplicate rule as sl__jptr_span(). */
int sl__jptr_key_entity(const sl__jptr_t *key, const sl__jptr_t *entity, int key_in_entity,
                        const char *buf, size_t len, sl_span_t *k, sl_span_t *ent, int *ent_found);

#endif
