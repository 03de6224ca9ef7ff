/* sluice — the materialize flavor (sluice/flavors.h): events → view rows →
 * newest per key → one store transaction per batch.
 *
 * The map stage finds the key and the entity in the event's body (the lazy
 * jansson tree) and writes the entity's JSON as the uow's output, keyed by
 * the view key, so the batcher sizes batches by what the store will hold.
 * The sink compacts each batch by view key (newest timestamp wins, the later
 * one on a tie) and applies the survivors atomically; the store's own
 * "only if newer" rule makes replays and reordering harmless.
 *
 * The apply blocks (a disk, another writer's lock), so it runs as a job on
 * the engine's executor, away from the loop, and the uows are acknowledged
 * when it completes. A store is used by one thread at a time: one job is in
 * flight per store and later writes wait in order behind it, which also
 * keeps each key's acknowledgements in write order. The rows borrow the
 * uows' output buffers, which stay put until the uows are acknowledged.
 *
 * Group commit: the writes that queued up while one was in flight go
 * together, as one transaction (in order, so the newest-wins rule holds
 * across them), rather than one transaction and two thread hand-overs each.
 * When that transaction fails for good, each write is applied on its own
 * again, so a bad row costs only its own batch, as without grouping.
 *
 * Turns: the store's thread must not wait for the engine's. A job is a
 * turn of the store: when it runs it takes the writes queued at that
 * moment (a group, under the queue's lock) and applies them, holding the
 * store's lock, so applies never overlap and groups are taken, and
 * applied, in write order. Two turns are submitted at a time: while one
 * applies, the next waits on the store's lock with its thread already
 * running, and starts the moment the first ends, while the engine's thread
 * acknowledges the first group whenever its loop gets there. With one turn
 * at a time, as before, the store stood idle from each commit until the
 * engine's thread, busy reading the next records, had run the job's done
 * and submitted the next (bench_flavors: a fifth of the listener's time). */
#include "core/core.h"
#include "core/describe.h"
#include "flavors/jptr.h"
#include "sluice/error.h"
#include "sluice/flavors.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

typedef sl__jptr_t ptr_t;

/* One write: its uows, its compacted rows, and what the store said. */
typedef struct mjob_s {
    struct mat_s *m;
    struct mjob_s *next;
    sl_uow_t **uows;
    size_t n;
    sl_view_row_t *rows;
    size_t nrows;
    size_t *uow_row; /* the row of each uow (superseded ones: their key's row) */
    char **ids;      /* unescaped event ids, owned, one per row */
    int *row_rc;     /* per-row results when the batch failed for good */
    size_t cap;      /* of every array above */
    int rc;          /* the batch's result */
    int per_row;     /* row_rc holds the results */
    /* a group of writes applied together (set by kick on the group's first:
     * the links stay put while later writes are queued behind the group) */
    struct mjob_s *link; /* the next write of the group */
    size_t group;        /* writes in the group (its first only) */
    size_t group_rows;   /* rows in the group (its first only) */
} mjob_t;

/* The most writes and rows one group takes. */
#define GROUP_MAX_WRITES 16
#define GROUP_MAX_ROWS 8192

/* A turn of the store (a submitted job): the group it took when it ran. */
typedef struct {
    struct mat_s *m;
    mjob_t *first; /* the group's first write (its writes linked by ->link), or NULL */
    int in_use;
    int started; /* it has taken its group (qlock) */
} mturn_t;

/* Turns submitted at a time: the one applying and the one waiting to. */
#define TURNS 2

typedef struct mat_s {
    ptr_t key, entity;
    int entity_whole;  /* store the whole event */
    int key_in_entity; /* the entity pointer is a prefix of the key's (the
                          default): one walk finds the entity, the key is
                          looked up inside it */
    ptr_t src;         /* /tags/source, when skip_source is set */
    /* the three pointers as the engine's envelope scan finds them
     * (sl__uow_ptr()); -1: not registered, walked here */
    int want_key, want_ent, want_src;
    char *skip_source;
    char *del_suffix;
    size_t del_len;
    char **types;
    size_t ntypes;
    sl_store_t *store;
    sl_sink_t *sink;
    sl_engine_t *eng;
    /* writes not yet taken by a turn, in order (qlock: appended by the
     * engine's thread, taken by a turn on the executor's) */
    mjob_t *head, *tail;
    pthread_mutex_t qlock;
    /* held by a turn while it takes and applies a group: one at a time */
    pthread_mutex_t slock;
    int locks; /* both mutexes initialized */
    mturn_t turns[TURNS];
    size_t turns_out; /* submitted, done not yet run (engine's thread) */
    mjob_t *spare;    /* engine's thread only */
    int kicking;
    /* per-write scratch, reused */
    uint32_t *slot; /* open addressing: 1 + row index, 0 empty */
    size_t slot_cap, slot_mask;
    /* the rows of the group being applied, in order (its writes' rows
     * copied; slock) */
    sl_view_row_t *grows;
    size_t grows_cap;
} mat_t;

/* ---- JSON pointers (RFC 6901) ---- */

void sl__jptr_free(ptr_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        sl_free(p->tok[i]);
    sl_free(p->tok);
    p->tok = NULL;
    p->n = 0;
}

/* 0, SL_EINVAL (not a pointer, bad escape), SL_ENOMEM. "" is the whole document. */
int sl__jptr_parse(const char *s, ptr_t *out)
{
    out->tok = NULL;
    out->n = 0;
    if (!*s)
        return 0;
    if (*s != '/')
        return SL_EINVAL;
    size_t n = 0;
    for (const char *c = s; *c; c++)
        n += *c == '/';
    out->tok = sl_calloc(n, sizeof *out->tok);
    if (!out->tok)
        return SL_ENOMEM;
    const char *c = s + 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(c, "/");
        char *t = sl_malloc(len + 1);
        if (!t) {
            out->n = i;
            sl__jptr_free(out);
            return SL_ENOMEM;
        }
        size_t k = 0;
        for (size_t j = 0; j < len; j++) {
            if (c[j] != '~') {
                t[k++] = c[j];
            } else if (j + 1 < len && (c[j + 1] == '0' || c[j + 1] == '1')) {
                t[k++] = c[j + 1] == '0' ? '~' : '/';
                j++;
            } else {
                sl_free(t);
                out->n = i;
                sl__jptr_free(out);
                return SL_EINVAL;
            }
        }
        t[k] = 0;
        out->tok[i] = t;
        out->n = i + 1;
        c += len + (c[len] == '/');
    }
    return 0;
}

/* Pointer lookups walk the record's bytes, which the engine's scanner has
 * already validated, so the walk only skips: no tree, no copy, and the
 * entity is stored as the producer wrote it (numbers keep their text). */

/* Most events have no whitespace between tokens: one compare says so (every
 * JSON whitespace byte is at most ' '). */
static inline const char *skip_ws(const char *p, const char *e)
{
    if (p < e && (unsigned char)*p > ' ')
        return p;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The bytes that end a number or a literal in valid JSON: ',', '}', ']'
 * and whitespace. */
static const unsigned char scalar_end[256] = {
    [','] = 1, ['}'] = 1, [']'] = 1, [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* The bytes of @p w equal to the byte repeated in @p c, as their high bits;
 * exact up to the first match (a borrow can only flag bytes above it). */
static inline uint64_t bytes_eq(uint64_t w, uint64_t c)
{
    uint64_t x = w ^ c;
    return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/* p at an opening quote; returns just past the closing one. The string is
 * looked at eight bytes at a time for a quote or a backslash (SWAR: no
 * call, no per-byte branch: most strings of an event are a few bytes, and
 * memchr's call cost more than its search); an escape is stepped over
 * with the byte it escapes, so a quote found is the closing one. */
static const char *skip_string(const char *p, const char *e)
{
    const uint64_t q = 0x2222222222222222ull, bs = 0x5c5c5c5c5c5c5c5cull; /* '"', '\\' */
    p++;
    for (;;) {
#if defined(__SSE2__) && defined(__GNUC__)
        /* Sixteen bytes a step for the long strings (descriptions, text). */
        const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\');
        while (e - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_cmpeq_epi8(v, vb)));
            if (m) {
                p += __builtin_ctz(m);
                goto found;
            }
            p += 16;
        }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
        while (e - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t m = bytes_eq(w, q) | bytes_eq(w, bs);
            if (m) {
                p += __builtin_ctzll(m) >> 3; /* the lowest flagged byte: a real match */
                break;
            }
            p += 8;
        }
#endif
        while (p < e && *p != '"' && *p != '\\')
            p++;
#if defined(__SSE2__) && defined(__GNUC__)
    found:
#endif
        if (p >= e)
            return e;
        if (*p == '"')
            return p + 1;
        if (e - p < 2)
            return e;
        p += 2; /* the backslash and the byte it escapes */
    }
}

static const char *skip_value(const char *p, const char *e)
{
    if (p >= e)
        return e;
    if (*p == '"')
        return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, e);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return e;
    }
    while (p < e && !scalar_end[(unsigned char)*p])
        p++;
    return p;
}

/* Whether the @p n bytes at @p b hold a backslash (names are short: no call). */
static int has_bslash(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\\')
            return 1;
    return 0;
}

/* Whether the raw key between quotes [b, e) equals @p tok once unescaped;
 * @p tl is strlen(@p tok). An escape makes a raw name longer than the name
 * it stands for, so the lengths decide most names without reading them: a
 * raw name as long as the token equals it exactly when its bytes do and it
 * holds no escape (one with an escape stands for a shorter name); a shorter
 * one never does; a longer one only through escapes, compared piecewise:
 * plain runs as they are and each escape decoded on its own, so a key of any
 * length needs no buffer. */
static int key_is(const char *b, const char *e, const char *tok, size_t tl)
{
    size_t n = (size_t)(e - b), t = 0;
    if (n == tl)
        return !memcmp(b, tok, n) && !has_bslash(b, n);
    if (n < tl || !has_bslash(b, n))
        return 0;
    while (b < e) {
        const char *bs = memchr(b, '\\', (size_t)(e - b));
        size_t run = (size_t)((bs ? bs : e) - b);
        if (run > tl - t || memcmp(b, tok + t, run))
            return 0;
        t += run;
        b += run;
        if (!bs)
            break;
        /* \X, \uXXXX, or a surrogate pair \uD8xx\uDCxx (the text is valid JSON) */
        size_t el = 2;
        if (e - b >= 6 && b[1] == 'u') {
            el = 6;
            if (e - b >= 12 && (b[2] == 'd' || b[2] == 'D') && b[3] && strchr("89abAB", b[3]) &&
                b[6] == '\\' && b[7] == 'u')
                el = 12;
        }
        char ch[8];
        size_t ul;
        if ((size_t)(e - b) < el || sl_span_unescape((sl_span_t){b, el}, ch, sizeof ch, &ul) ||
            ul > tl - t || memcmp(ch, tok + t, ul))
            return 0;
        t += ul;
        b += el;
    }
    return t == tl;
}

/* The object at @p p (its '{'), member by member: the value of the last
 * member named @p tok (*v, NULL when none; *vend, its end). Every member is
 * read: of duplicates the last one counts, as for the envelope scanner and
 * jansson. When @p sub is not NULL and that last member's value is an
 * object, its own last member named @p sub as well (*sv, NULL when none;
 * *svend): walking that object's members finds its end too, so the entity
 * and the key inside it cost one walk of the event, not three (past the
 * entity, again for its length, and through it for the key). Returns the
 * end of the object (past its '}'). */
static const char *members(const char *p, const char *e, const char *tok, const char *sub,
                           const char **v, const char **vend, const char **sv, const char **svend)
{
    *v = *vend = NULL;
    if (sub)
        *sv = *svend = NULL;
    size_t tl = strlen(tok);
    p = skip_ws(p + 1, e);
    while (p < e && *p == '"') {
        const char *kb = p + 1;
        p = skip_string(p, e);
        int hit = key_is(kb, p - 1, tok, tl);
        p = skip_ws(p, e);
        p = skip_ws(p + 1, e); /* past ':' */
        const char *val = p;
        if (hit && sub && p < e && *p == '{') {
            p = members(p, e, sub, NULL, sv, svend, NULL, NULL);
        } else {
            p = skip_value(p, e);
            if (hit && sub)
                *sv = *svend = NULL; /* this later one is no object */
        }
        if (hit) {
            *v = val;
            *vend = p;
        }
        p = skip_ws(p, e);
        if (p >= e || *p != ',')
            break;
        p = skip_ws(p + 1, e);
    }
    return p < e && *p == '}' ? p + 1 : e;
}

/* The value at the tokens of @p ptr from @p from on in the JSON text
 * [buf, buf + len). */
static int span_from(const ptr_t *ptr, size_t from, const char *buf, size_t len, sl_span_t *out)
{
    const char *e = buf + len, *p = skip_ws(buf, e);
    /* The end of the value at p when the walk of its object found it (NULL:
     * not known): the last token's value is not walked again for its
     * length. */
    const char *vend = NULL;
    for (size_t t = from; t < ptr->n; t++) {
        const char *tok = ptr->tok[t];
        vend = NULL;
        if (p < e && *p == '{') {
            const char *found;
            members(p, e, tok, NULL, &found, &vend, NULL, NULL);
            if (!found)
                return SL_ENOENT;
            p = found;
        } else if (p < e && *p == '[') {
            char *end;
            if (!*tok || (tok[0] == '0' && tok[1]) || tok[0] < '0' || tok[0] > '9')
                return SL_ENOENT;
            unsigned long long ix = strtoull(tok, &end, 10);
            if (*end)
                return SL_ENOENT;
            p = skip_ws(p + 1, e);
            if (p < e && *p == ']')
                return SL_ENOENT;
            for (unsigned long long i = 0; i < ix; i++) {
                p = skip_ws(skip_value(p, e), e);
                if (p >= e || *p != ',')
                    return SL_ENOENT;
                p = skip_ws(p + 1, e);
            }
        } else {
            return SL_ENOENT;
        }
    }
    if (p >= e)
        return SL_ENOENT;
    out->ptr = p;
    out->len = (size_t)((vend ? vend : skip_value(p, e)) - p);
    return 0;
}

/* The value at pointer @p ptr in the JSON text [buf, buf + len). */
int sl__jptr_span(const ptr_t *ptr, const char *buf, size_t len, sl_span_t *out)
{
    return span_from(ptr, 0, buf, len, out);
}

int sl__jptr_key_entity(const ptr_t *key, const ptr_t *entity, int key_in_entity, const char *buf,
                        size_t len, sl_span_t *k, sl_span_t *ent, int *ent_found)
{
    const char *bend = buf + len, *top = skip_ws(buf, bend), *v = NULL, *vend, *kv, *kvend;
    *ent_found = 0;
    if (key_in_entity && entity->n == 1 && key->n == 2 && top < bend && *top == '{' &&
        (members(top, bend, entity->tok[0], key->tok[1], &v, &vend, &kv, &kvend), v) && *v == '{') {
        /* The default, /entity/key: one walk finds both (below: the same
         * spans, for any other entity). */
        if (!kv)
            return SL_ENOENT;
        *ent = (sl_span_t){v, (size_t)(vend - v)};
        *k = (sl_span_t){kv, (size_t)(kvend - kv)};
        *ent_found = 1;
        return 0;
    }
    if (key_in_entity) {
        /* The same spans as two walks from the top (of duplicate members
         * the last one counts either way), for one walk of the event. */
        if (sl__jptr_span(entity, buf, len, ent) ||
            span_from(key, entity->n, ent->ptr, ent->len, k))
            return SL_ENOENT;
        *ent_found = 1;
        return 0;
    }
    return sl__jptr_span(key, buf, len, k);
}

/* ---- the map stage ---- */

static sl_result_t fail(sl_uow_t *u, int err, const char *msg)
{
    sl_uow_fail(u, err, msg);
    return err == SL_ENOMEM ? SL_RETRY : SL_FAULT;
}

/* Whether the event's tags.source is the string @p name (escapes undone). */
static int source_is(const mat_t *m, const sl_uow_t *u, const sl_record_t *rec, const char *name)
{
    sl_span_t v;
    char buf[256];
    int found = sl__uow_ptr(u, m->want_src, &v);
    if (found < 0)
        found = rec->value_len && !sl__jptr_span(&m->src, rec->value, rec->value_len, &v);
    if (!found || v.len < 2 || v.ptr[0] != '"')
        return 0;
    v.ptr++;
    v.len -= 2;
    if (memchr(v.ptr, '\\', v.len)) {
        size_t n;
        if (sl_span_unescape(v, buf, sizeof buf, &n))
            return 0;
        v = (sl_span_t){buf, n};
    }
    return v.len == strlen(name) && !memcmp(v.ptr, name, v.len);
}

static sl_result_t mat_map(sl_uow_t *u, void *opaque)
{
    mat_t *m = opaque;
    const sl_envelope_t *env = sl_uow_envelope(u);
    const sl_record_t *rec = sl_uow_record(u);
    /* The service's own events (its trigger's) are not for its listener:
     * done, not written (aws-lambda-stream's outSourceIsSelf). */
    if (m->skip_source && !(env->flags & SL_ENV_BINARY) && source_is(m, u, rec, m->skip_source))
        return SL_SKIP;
    if (!(env->flags & SL_ENV_TIMESTAMP))
        return fail(u, SL_EFIELD, "materialize: the event has no timestamp");
    if ((env->flags & SL_ENV_BINARY) || !rec->value_len)
        return fail(u, SL_EFIELD, "materialize: the event has no JSON body");
    const char *buf = rec->value;
    sl_span_t k, ent;
    char kbuf[256];
    /* The key and the entity as the engine's scan found them; else (an
     * escaped name on the way, ...) one walk of the text here. ent_found:
     * 1 found, 0 not there, -1 not looked for yet. */
    int kr = sl__uow_ptr(u, m->want_key, &k);
    int ent_found = m->entity_whole ? -1 : sl__uow_ptr(u, m->want_ent, &ent);
    if (kr < 0 || (!m->entity_whole && ent_found < 0)) {
        if (sl__jptr_key_entity(&m->key, &m->entity, m->key_in_entity, buf, rec->value_len, &k,
                                &ent, &ent_found))
            return fail(u, SL_EFIELD, "materialize: the event has no value at the key pointer");
        if (!ent_found)
            ent_found = -1;
    } else if (!kr) {
        return fail(u, SL_EFIELD, "materialize: the event has no value at the key pointer");
    }
    if (k.len >= 2 && k.ptr[0] == '"') {
        k.ptr++;
        k.len -= 2;
        if (memchr(k.ptr, '\\', k.len)) {
            size_t n;
            if (sl_span_unescape(k, kbuf, sizeof kbuf, &n))
                return fail(u, SL_EFIELD, "materialize: the key is too long or holds \\u0000");
            k = (sl_span_t){kbuf, n};
        }
    } else {
        size_t i = k.len && k.ptr[0] == '-';
        if (i == k.len)
            return fail(u, SL_EFIELD, "materialize: the key is neither a string nor an integer");
        for (; i < k.len; i++)
            if (k.ptr[i] < '0' || k.ptr[i] > '9')
                return fail(u, SL_EFIELD,
                            "materialize: the key is neither a string nor an integer");
    }
    if (!k.len)
        return fail(u, SL_EFIELD, "materialize: the key is empty");
    sl_span_t type = sl_uow_type(u);
    int del = type.len >= m->del_len &&
              !memcmp(type.ptr + type.len - m->del_len, m->del_suffix, m->del_len);
    if (m->entity_whole) {
        const char *e = buf + rec->value_len, *p = skip_ws(buf, e);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
            e--;
        ent = (sl_span_t){p, (size_t)(e - p)};
    } else if (!ent_found ||
               (ent_found < 0 && sl__jptr_span(&m->entity, buf, rec->value_len, &ent))) {
        if (!del)
            return fail(u, SL_EFIELD, "materialize: the event has no entity");
        ent = (sl_span_t){"null", 4};
    }
    int rc = sl_uow_set_output(u, k.ptr, k.len, ent.ptr, ent.len);
    if (rc)
        return fail(u, rc, "materialize: cannot set the row");
    return SL_OK;
}

/* ---- the store sink ---- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void job_free(mjob_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->cap; i++)
        sl_free(j->ids[i]);
    sl_free(j->ids);
    sl_free(j->uows);
    sl_free(j->rows);
    sl_free(j->uow_row);
    sl_free(j->row_rc);
    sl_free(j);
}

/* Frees the list of jobs from @p j on. */
static void jobs_free(mjob_t *j)
{
    while (j) {
        mjob_t *next = j->next;
        job_free(j);
        j = next;
    }
}

/* A job for a write of @p n uows (a spare one when there is). */
static mjob_t *job_get(mat_t *m, size_t n)
{
    mjob_t *j = m->spare;
    if (j)
        m->spare = j->next;
    else if (!(j = sl_calloc(1, sizeof *j)))
        return NULL;
    j->m = m;
    j->next = NULL;
    if (n > j->cap) {
        size_t cap = j->cap ? j->cap : 64;
        while (cap < n)
            cap *= 2;
        sl_uow_t **u = sl_realloc(j->uows, cap * sizeof *u);
        if (u)
            j->uows = u;
        sl_view_row_t *r = u ? sl_realloc(j->rows, cap * sizeof *r) : NULL;
        if (r)
            j->rows = r;
        size_t *ur = r ? sl_realloc(j->uow_row, cap * sizeof *ur) : NULL;
        if (ur)
            j->uow_row = ur;
        int *rc = ur ? sl_realloc(j->row_rc, cap * sizeof *rc) : NULL;
        if (rc)
            j->row_rc = rc;
        char **ids = rc ? sl_realloc(j->ids, cap * sizeof *ids) : NULL;
        if (!ids) {
            j->next = m->spare;
            m->spare = j;
            return NULL;
        }
        memset(ids + j->cap, 0, (cap - j->cap) * sizeof *ids);
        j->ids = ids;
        j->cap = cap;
    }
    return j;
}

static void job_put(mat_t *m, mjob_t *j)
{
    j->next = m->spare;
    m->spare = j;
}

/* Size this write's key table. */
static int reserve_slots(mat_t *m, size_t n)
{
    /* The table in use is sized for this write (the rest of a larger
     * allocation is stale and never probed). */
    size_t sc = 16;
    while (sc < 2 * n)
        sc *= 2;
    if (sc > m->slot_cap) {
        uint32_t *s = sl_realloc(m->slot, sc * sizeof *s);
        if (!s)
            return SL_ENOMEM;
        m->slot = s;
        m->slot_cap = sc;
    }
    m->slot_mask = sc - 1;
    memset(m->slot, 0, sc * sizeof *m->slot);
    return 0;
}

/* The event id, unescaped when the envelope holds escapes; NULL when absent. */
static int row_id(mjob_t *j, size_t i, sl_uow_t *u, sl_view_row_t *row)
{
    const sl_envelope_t *env = sl_uow_envelope(u);
    row->event_id = NULL;
    row->event_id_len = 0;
    if (!(env->flags & SL_ENV_ID))
        return 0;
    if (!(env->flags & SL_ENV_ID_ESC)) {
        row->event_id = env->id.ptr;
        row->event_id_len = env->id.len;
        return 0;
    }
    sl_free(j->ids[i]);
    j->ids[i] = sl_malloc(env->id.len + 1);
    if (!j->ids[i])
        return SL_ENOMEM;
    size_t n;
    if (sl_span_unescape(env->id, j->ids[i], env->id.len + 1, &n))
        return 0; /* not representable: store none rather than fail the row */
    row->event_id = j->ids[i];
    row->event_id_len = n;
    return 0;
}

static void ack_one(const mat_t *m, sl_uow_t *u, int err)
{
    if (err && !sl_err_is_retriable(err)) {
        char msg[160];
        snprintf(msg, sizeof msg, "view store %s: %s", sl_store_name(m->store), sl_strerror(err));
        sl_uow_fail(u, err, msg);
    }
    sl_uow_ack(u, err);
}

static void row_fill(sl_view_row_t *row, sl_span_t key, sl_span_t val, sl_span_t type, int64_t ts,
                     int del)
{
    row->key = key.ptr;
    row->key_len = key.len;
    row->timestamp_ms = ts;
    row->type = type.ptr;
    row->type_len = type.len;
    row->entity = del ? NULL : val.ptr;
    row->entity_len = del ? 0 : val.len;
    row->deleted = del;
}

/* The slot of @p key in this write's table (empty slot when absent). */
static size_t slot_of(const mat_t *m, const sl_view_row_t *rows, sl_span_t key)
{
    size_t mask = m->slot_mask;
    size_t s = (size_t)hash_bytes(key.ptr, key.len) & mask;
    while (m->slot[s]) {
        const sl_view_row_t *o = &rows[m->slot[s] - 1];
        if (o->key_len == key.len && !memcmp(o->key, key.ptr, key.len))
            break;
        s = (s + 1) & mask;
    }
    return s;
}

/* On the executor's thread: the store and the job only. */
static void job_one(mjob_t *j)
{
    sl_store_t *store = j->m->store;
    j->per_row = 0;
    j->rc = sl_store_apply(store, j->rows, j->nrows, NULL);
    if (!j->rc || sl_err_is_retriable(j->rc) || j->nrows == 1)
        return;
    /* A permanent error: find the rows at fault, one transaction each, so
     * the rest of the batch still lands. A retriable error on the way (the
     * database became busy) ends the search: that row and the ones after it
     * are retried as they are, rather than each waiting out the busy
     * timeout in turn. */
    j->per_row = 1;
    int stop = 0;
    for (size_t r = 0; r < j->nrows; r++) {
        if (stop) {
            j->row_rc[r] = stop;
            continue;
        }
        j->row_rc[r] = sl_store_apply(store, &j->rows[r], 1, NULL);
        if (j->row_rc[r] && sl_err_is_retriable(j->row_rc[r]))
            stop = j->row_rc[r];
    }
}

/* Take the writes queued now, up to a group's bounds, off the queue: the
 * first (its writes linked by ->link, its group and group_rows set), or
 * NULL when none is queued. Under slock; takes qlock. */
static mjob_t *take_group(mturn_t *t)
{
    mat_t *m = t->m;
    pthread_mutex_lock(&m->qlock);
    t->started = 1;
    mjob_t *j = m->head;
    if (!j) {
        pthread_mutex_unlock(&m->qlock);
        return NULL;
    }
    size_t k = 1, rows = j->nrows;
    mjob_t *last = j;
    while (last->next && k < GROUP_MAX_WRITES && rows + last->next->nrows <= GROUP_MAX_ROWS) {
        last = last->next;
        k++;
        rows += last->nrows;
    }
    m->head = last->next;
    if (!m->head)
        m->tail = NULL;
    pthread_mutex_unlock(&m->qlock);
    for (mjob_t *x = j; x != last; x = x->next)
        x->link = x->next;
    last->link = NULL;
    j->group = k;
    j->group_rows = rows;
    return j;
}

/* The group's rows in one array, in order: 0, or SL_ENOMEM (then each
 * write is applied on its own). Under slock. */
static int group_rows(mat_t *m, mjob_t *j)
{
    if (j->group_rows > m->grows_cap) {
        size_t cap = m->grows_cap ? m->grows_cap : 1024;
        while (cap < j->group_rows)
            cap *= 2;
        sl_view_row_t *g = sl_realloc(m->grows, cap * sizeof *g);
        if (!g)
            return SL_ENOMEM;
        m->grows = g;
        m->grows_cap = cap;
    }
    size_t at = 0;
    for (mjob_t *x = j; x; x = x->link) {
        memcpy(m->grows + at, x->rows, x->nrows * sizeof *x->rows);
        at += x->nrows;
    }
    return 0;
}

/* On the executor's thread: a turn takes the writes queued now and applies
 * them in one transaction, or each on its own when that fails for good.
 * Touches the store, the queue (under its lock), the group's writes and
 * m->grows only. */
static void job_work(void *arg)
{
    mturn_t *t = arg;
    mat_t *m = t->m;
    pthread_mutex_lock(&m->slock);
    mjob_t *j = t->first = take_group(t);
    if (j && j->group > 1 && !group_rows(m, j)) {
        int rc = sl_store_apply(m->store, m->grows, j->group_rows, NULL);
        if (!rc || sl_err_is_retriable(rc)) {
            for (mjob_t *x = j; x; x = x->link) {
                x->rc = rc;
                x->per_row = 0;
            }
            j = NULL;
        }
    }
    for (mjob_t *x = j; x; x = x->link)
        job_one(x);
    pthread_mutex_unlock(&m->slock);
}

static void job_interrupt(void *arg)
{
    mturn_t *t = arg;
    sl_store_interrupt(t->m->store);
}

/* Acknowledge every uow of the writes from @p j on (linked by ->link), with
 * @p status when not 0, else with what the store said; the writes go back
 * to the spares. */
static void ack_writes(mat_t *m, mjob_t *j, int status)
{
    while (j) {
        mjob_t *next = j->link;
        for (size_t i = 0; i < j->n; i++) {
            int err;
            if (status)
                err = status;
            else if (j->per_row)
                err = j->row_rc[j->uow_row[i]];
            else
                err = j->rc;
            ack_one(m, j->uows[i], err);
        }
        job_put(m, j);
        j = next;
    }
}

static void kick(mat_t *m);

/* On the engine's thread: acknowledge the group the turn applied (none
 * when it never ran: its writes, if any, are still queued), submit more. */
static void job_done(void *arg, int status)
{
    mturn_t *t = arg;
    mat_t *m = t->m;
    mjob_t *j = t->first;
    t->first = NULL;
    pthread_mutex_lock(&m->qlock);
    t->in_use = 0;
    pthread_mutex_unlock(&m->qlock);
    m->turns_out--;
    /* status: never ran (shutting down), so it took nothing */
    ack_writes(m, status ? NULL : j, 0);
    if (!m->kicking)
        kick(m);
}

/* Writes are queued that no submitted turn will take: every turn out has
 * taken its group already. */
static int untaken(mat_t *m)
{
    pthread_mutex_lock(&m->qlock);
    int any = m->head != NULL;
    for (size_t i = 0; any && i < TURNS; i++)
        if (m->turns[i].in_use && !m->turns[i].started)
            any = 0;
    pthread_mutex_unlock(&m->qlock);
    return any;
}

/* Submit a turn for the writes no turn will take, up to TURNS at a time.
 * Without an executor a turn completes inside sl_engine_submit(). */
static void kick(mat_t *m)
{
    m->kicking = 1;
    while (m->turns_out < TURNS && untaken(m)) {
        mturn_t *t = &m->turns[0];
        while (t->in_use)
            t++;
        pthread_mutex_lock(&m->qlock);
        t->in_use = 1;
        t->started = 0;
        pthread_mutex_unlock(&m->qlock);
        t->m = m;
        t->first = NULL;
        m->turns_out++;
        sl_job_t job = {job_work, job_done, job_interrupt, t};
        int rc = sl_engine_submit(m->eng, &job);
        if (!rc)
            continue;
        pthread_mutex_lock(&m->qlock);
        t->in_use = 0;
        pthread_mutex_unlock(&m->qlock);
        m->turns_out--;
        if (m->turns_out)
            break; /* the turn out takes them, or fails them when done */
        /* Not taken (the executor is shutting down) and no turn left to
         * take them: nothing applied, the uows are retried or read again
         * after a restart. */
        pthread_mutex_lock(&m->qlock);
        mjob_t *q = m->head;
        m->head = m->tail = NULL;
        pthread_mutex_unlock(&m->qlock);
        for (mjob_t *x = q; x; x = x->next)
            x->link = x->next;
        ack_writes(m, q, sl_err_is_retriable(rc) ? rc : SL_EAGAIN);
    }
    m->kicking = 0;
}

static int mat_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    mat_t *m = opaque;
    if (!n)
        return 0;
    mjob_t *j = job_get(m, n);
    if (!j || reserve_slots(m, n)) {
        if (j)
            job_put(m, j);
        return SL_ENOMEM; /* nothing accepted: retried */
    }
    /* Compact: one row per key, the newest event (the later one on a tie),
     * rows in the order their keys first appear. */
    size_t nrows = 0;
    for (size_t i = 0; i < n; i++) {
        sl_uow_t *u = uows[i];
        j->uows[i] = u;
        sl_span_t key, val, type = sl_uow_type(u);
        sl_uow_output(u, &key, &val);
        int64_t ts = sl_uow_envelope(u)->timestamp;
        int del = type.len >= m->del_len &&
                  !memcmp(type.ptr + type.len - m->del_len, m->del_suffix, m->del_len);
        size_t s = slot_of(m, j->rows, key);
        size_t r;
        if (!m->slot[s]) {
            r = nrows++;
            m->slot[s] = (uint32_t)(r + 1);
        } else {
            r = m->slot[s] - 1;
            j->uow_row[i] = r;
            if (ts < j->rows[r].timestamp_ms)
                continue; /* superseded by a newer event of the key */
        }
        j->uow_row[i] = r;
        row_fill(&j->rows[r], key, val, type, ts, del);
        if (row_id(j, r, u, &j->rows[r])) {
            job_put(m, j);
            return SL_ENOMEM;
        }
    }
    j->n = n;
    j->nrows = nrows;
    if (!m->eng)
        m->eng = uows[0]->entry->eng;
    pthread_mutex_lock(&m->qlock);
    if (m->tail)
        m->tail->next = j;
    else
        m->head = j;
    m->tail = j;
    pthread_mutex_unlock(&m->qlock);
    if (!m->kicking)
        kick(m);
    return 0;
}

static void mat_free(void *opaque)
{
    mat_t *m = opaque;
    if (!m)
        return;
    sl__jptr_free(&m->key);
    sl__jptr_free(&m->entity);
    sl__jptr_free(&m->src);
    sl_free(m->skip_source);
    sl_free(m->del_suffix);
    for (size_t i = 0; i < m->ntypes; i++)
        sl_free(m->types[i]);
    sl_free(m->types);
    sl_sink_destroy(m->sink);
    /* Drivers finish every job before they destroy the engine (the runtime
     * interrupts and waits, the test driver runs or cancels its queue):
     * what is left here was never submitted. */
    jobs_free(m->head);
    jobs_free(m->spare);
    if (m->locks) {
        pthread_mutex_destroy(&m->qlock);
        pthread_mutex_destroy(&m->slock);
    }
    sl_store_destroy(m->store);
    sl_free(m->grows);
    sl_free(m->slot);
    sl_free(m);
}

int sl_materialize(sl_pipeline_t *p, const sl_materialize_opts_t *o)
{
    if (!p || !o || !o->store || !o->key_pointer || !*o->key_pointer ||
        (o->type_count && !o->types))
        return SL_EINVAL;
    mat_t *m = sl_calloc(1, sizeof *m);
    if (!m)
        return SL_ENOMEM;
    if (pthread_mutex_init(&m->qlock, NULL)) {
        sl_free(m);
        return SL_ENOMEM;
    }
    if (pthread_mutex_init(&m->slock, NULL)) {
        pthread_mutex_destroy(&m->qlock);
        sl_free(m);
        return SL_ENOMEM;
    }
    m->locks = 1;
    int rc = sl__jptr_parse(o->key_pointer, &m->key);
    if (rc)
        goto fail;
    if (o->entity_pointer) {
        rc = sl__jptr_parse(o->entity_pointer, &m->entity);
        if (rc)
            goto fail;
        m->entity_whole = m->entity.n == 0;
    } else if (m->key.n > 1) {
        m->entity.tok = sl_calloc(1, sizeof *m->entity.tok);
        if (!m->entity.tok || !(m->entity.tok[0] = sl_strdup(m->key.tok[0]))) {
            rc = SL_ENOMEM;
            goto fail;
        }
        m->entity.n = 1;
    } else {
        m->entity_whole = 1;
    }
    if (o->skip_source) {
        if (!*o->skip_source) {
            rc = SL_EINVAL;
            goto fail;
        }
        if ((rc = sl__jptr_parse("/tags/source", &m->src)))
            goto fail;
        if (!(m->skip_source = sl_strdup(o->skip_source))) {
            rc = SL_ENOMEM;
            goto fail;
        }
    }
    m->del_suffix = sl_strdup(o->delete_suffix ? o->delete_suffix : "-deleted");
    if (!m->del_suffix) {
        rc = SL_ENOMEM;
        goto fail;
    }
    m->del_len = strlen(m->del_suffix);
    if (o->type_count) {
        m->types = sl_calloc(o->type_count, sizeof *m->types);
        if (!m->types) {
            rc = SL_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < o->type_count; i++, m->ntypes++) {
            if (!o->types[i] || !*o->types[i]) {
                rc = SL_EINVAL;
                goto fail;
            }
            if (!(m->types[i] = sl_strdup(o->types[i]))) {
                rc = SL_ENOMEM;
                goto fail;
            }
        }
    }
    if (!m->entity_whole && m->entity.n < m->key.n) {
        m->key_in_entity = 1;
        for (size_t i = 0; i < m->entity.n; i++)
            if (strcmp(m->entity.tok[i], m->key.tok[i]))
                m->key_in_entity = 0;
    }
    static const sl_sink_ops_t ops = {.name = "view", .write = mat_write};
    m->sink = sl_sink_new(&ops, m);
    if (!m->sink) {
        rc = SL_ENOMEM;
        goto fail;
    }
    /* From here on the pipeline frees m, whatever happens next. */
    if ((rc = sl_pipeline_on_destroy(p, mat_free, m)))
        goto fail;
    /* The engine's scan finds the key, the entity and the source on its
     * way (the tokens are m's, freed with the pipeline). */
    m->want_key = sl__pipeline_want_ptr(p, (const char *const *)m->key.tok, m->key.n);
    m->want_ent = m->entity_whole
                      ? -1
                      : sl__pipeline_want_ptr(p, (const char *const *)m->entity.tok, m->entity.n);
    m->want_src =
        m->skip_source ? sl__pipeline_want_ptr(p, (const char *const *)m->src.tok, m->src.n) : -1;
    /* What it consumes, for the processor's description: the kept types
     * (prefixes when they match by prefix), else any event. A fault event
     * (sluice-faults store) has its own schema. */
    for (size_t i = 0; i < m->ntypes; i++)
        if ((rc = sl__pipeline_declare(
                 p, 0, m->types[i], o->match == SL_MATCH_PREFIX,
                 sl_schema(!strcmp(m->types[i], "fault") && o->match == SL_MATCH_EXACT ? "fault"
                                                                                       : "event"))))
            return rc;
    if (!m->ntypes && (rc = sl_pipeline_consumes(p, NULL, NULL)))
        return rc;
    /* The filter from the same list (not sl_pipeline_filter_consumed(): a
     * caller may have declared more on this pipeline before). */
    if (m->ntypes &&
        (rc = sl_pipeline_filter_types(p, o->match, (const char *const *)m->types, m->ntypes)))
        return rc;
    if ((rc = sl_pipeline_map(p, mat_map, m)) || (rc = sl_pipeline_batch(p, &o->batch)) ||
        (rc = sl_pipeline_sink(p, m->sink)))
        return rc;
    m->store = o->store; /* owned from here on */
    return 0;
fail:
    mat_free(m);
    return rc;
}
