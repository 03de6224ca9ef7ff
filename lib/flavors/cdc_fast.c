/* sluice — the cdc flavor's fast path: a change record to its event straight
 * from the record's bytes with the core's JSON writer, no jansson tree
 * (issue 17). Used by sl_cdc_convert_text() and the sl_cdc stage when no
 * mapping hook is set (the hook takes jansson images).
 *
 * The record is held to jansson's verdict: by the engine's scanner
 * (CDC_VALIDATED), or, for a DynamoDB record in ASCII without control
 * bytes or escapes, by the walk itself, which checks every byte it passes
 * as the grammar wants (strings by the quote index, the scalars it skips
 * strictly, the end of the text) and leaves whatever it cannot prove (a
 * container it skips, a number with an exponent or of more than 18 digits,
 * nesting past PROVE_DEPTH) to the strict scanner (sl_json_validate) after
 * it; any other record is validated by that scanner first. For the engine
 * of a source.format=json processor the sl_cdc stage runs the proving walk
 * as the record's validation (CDC_CHECK, cdc_check() in cdc.c) and keeps
 * the event for its map. The walk
 * handles every change record the tree path publishes or skips; whatever
 * else it meets (an error, whose message the tree path writes, or a form it
 * leaves alone: an escaped key, a member repeated in an object that is
 * written, a JSON null where a container is expected, an escaped string
 * that a decision reads, a real Debezium key) is CDC_FALLBACK and the tree
 * path runs instead. So a fault and its reason are the tree path's, word
 * for word.
 *
 * The output equals the tree path's byte for byte, but for Debezium
 * numbers: they keep the producer's text (the tree writes an integer in
 * decimal and a real in its shortest round-trip form: 1.50 as 1.5, 1e2 as
 * 100.0). DynamoDB N texts are written as the tree path writes them
 * (sl__cdc_n_text). Strings without escapes are copied as they are (the
 * scanner checked them: what sl__jw_str() would write); escaped ones are
 * decoded and written with sl__jw_str(), as the tree path does. */
#include "core/jsonw.h"
#include "core/scan_int.h"
#include "flavors/cdc_int.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/record.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char u8_t;

enum { V_STR, V_NUM, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR };

/* A member of an image, as written to the scratch buffer. */
typedef struct mem_s {
    const u8_t *kb; /* the key (no escapes) */
    size_t kn;
    size_t ob, oe;  /* "key":value in the scratch */
    const u8_t *vb; /* string: between the quotes; number: its text (DynamoDB: the N text) */
    size_t vn;
    unsigned char kind, esc;
    char atype; /* DynamoDB: 'S', 'N', 'B', or 0 for another type */
} mem_t;

/* An image: members [first, first + n) of fx_t.m, its text [ob, oe). */
typedef struct img_s {
    size_t first, n, ob, oe;
    uint64_t heads; /* bit (b & 63) for each member's first key byte b */
    int present;
} img_t;

typedef struct key_s {
    const u8_t *b;
    size_t n;
} key_t_;

/* The record's text, and where its quotes are when it has no backslash:
 * then every quote delimits a string, and a string's end is the next bit
 * of qm (bit i of word w: byte 64 w + i), found without reading the
 * string. qm is NULL otherwise (or for a text over QW_MAX words). */
#define QW_MAX 64
typedef struct txt_s {
    const u8_t *base, *end;
    const uint64_t *qm;
    size_t qn;
    int plain; /* with qm: no byte below 0x20 or above 0x7F either */
} txt_t;

/* Keys of one object beyond this: the tree path (repeats are checked by pairs). */
#define KEYS_MAX 256
/* M and L attribute values nested deeper than this end a proof (fx_t). */
#define PROVE_DEPTH 64

typedef struct fx_s {
    const u8_t *end;
    txt_t t;
    sl__jw_t s; /* scratch: the images */
    mem_t *m;
    size_t nm, capm;
    key_t_ *k; /* keys of the open objects */
    size_t nk, capk;
    char *tmp; /* decoded strings */
    size_t tcap;
    int oom;
    int key_first; /* CDC_KEY_FIRST */
    /* The walk proves the text JSON (not validated before): every byte it
     * passes is checked as the grammar wants, or unproven is set and the
     * validator decides after the walk. covered: the walk reached the end
     * of the text; abort: it stopped for the proof's own limit (depth). */
    int prove, unproven, covered, abort, depth;
    cdc_keep_t *keep;
    mem_t m0[32];
    key_t_ k0[64];
} fx_t;

typedef struct fch_s {
    op_t op;
    int64_t ts;
    /* ts's text when it is the image's, in the digits sl__jw_int() would
     * write for it (no sign, no leading zero): copied, not converted back */
    const u8_t *ts_b;
    size_t ts_n;
    img_t nw, old, keys;
    const img_t *ent;
    const u8_t *region;
    size_t region_n;
    int by_ttl;
    char identity[IDENTITY_MAX]; /* last: zeroed up to its first byte */
} fch_t;
_Static_assert(sizeof(fch_t) - (offsetof(fch_t, identity) + IDENTITY_MAX) < _Alignof(fch_t),
               "fch_t's identity is its last member");

/* ---- walking validated JSON ------------------------------------------ */

static const u8_t *ws(const u8_t *p, const u8_t *end)
{
    /* every JSON space is at most ' ': most bytes are decided by one test */
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

#if defined(__GNUC__)
#define FX_INLINE static inline __attribute__((always_inline))
#else
#define FX_INLINE static inline
#endif

/* @p p just past an opening quote: the closing quote; *esc when the string
 * holds an escape. Inlined in its callers: a call per key and string cost
 * a third of the search itself (most strings of a change record are short). */
FX_INLINE const u8_t *str_end(const txt_t *t, const u8_t *p, unsigned char *esc)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    const u8_t *end = t->end;
    *esc = 0;
#if defined(__GNUC__)
    if (t->qm) {
        /* the next quote at or after p, from the index */
        size_t at = (size_t)(p - t->base), w = at >> 6;
        if (w >= t->qn)
            return NULL;
        uint64_t bits = t->qm[w] & (~(uint64_t)0 << (at & 63));
        while (!bits) {
            if (++w == t->qn)
                return NULL;
            bits = t->qm[w];
        }
        return t->base + (w << 6) + (size_t)__builtin_ctzll(bits);
    }
#endif
    while (p < end) {
        /* Eight bytes at a time to the first '"' or '\\' (the zero-byte
         * test on w ^ c: exact for the lowest flagged byte). */
        while (end - p >= 8) {
            uint64_t w, q, b, hit;
            memcpy(&w, p, 8);
            q = w ^ (ones * '"');
            b = w ^ (ones * '\\');
            hit = (((q - ones) & ~q) | ((b - ones) & ~b)) & high;
            if (hit) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* straight to the first flagged byte (the lowest: exact),
                 * not one byte and one word test at a time */
                p += __builtin_ctzll(hit) / 8;
#endif
                break;
            }
            p += 8;
        }
        if (*p == '"')
            return p;
        if (*p == '\\') {
            *esc = 1;
            p += 2;
        } else {
            p++;
        }
    }
    return NULL;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FX_SWAR 1
#else
#define FX_SWAR 0
#endif

#if FX_SWAR
/* Per byte of @p w (a byte of text each, the first lowest): nonzero bits
 * where the byte is no ASCII digit. The high nibble must be 3 and the low
 * one at most 9 (adding 6 keeps the high nibble 3). A carry out of a byte
 * of 0xFA or more reaches only later bytes: the lowest flagged byte is
 * exact. */
FX_INLINE uint64_t non_digits(uint64_t w)
{
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0u, three = 0x3030303030303030u;
    return ((w & hi) ^ three) | (((w + 0x0606060606060606u) & hi) ^ three);
}
#endif

/* Past the ASCII digits at @p q (eight at a time when the text has them). */
FX_INLINE const u8_t *digit_run(const u8_t *q, const u8_t *end)
{
#if FX_SWAR
    while (end - q >= 8) {
        uint64_t w, bad;
        memcpy(&w, q, 8);
        if ((bad = non_digits(w)))
            return q + __builtin_ctzll(bad) / 8;
        q += 8;
    }
#endif
    while (q < end && (unsigned)(*q - '0') < 10)
        q++;
    return q;
}

/* Past the fraction at @p p ('.' and at least one digit), or @p p when
 * none begins there; NULL for a '.' without digits. */
FX_INLINE const u8_t *fraction(const u8_t *p, const u8_t *end)
{
    if (p == end || *p != '.')
        return p;
    const u8_t *f = p + 1, *q = digit_run(f, end);
    return q == f ? NULL : q;
}

static int scalar_byte(u8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

/* Fills @p qm with the quote bits of the @p n bytes at @p s (see txt_t);
 * returns how many words, or 0 when the text holds a backslash, is longer
 * than QW_MAX words, or no index can be made (sl__quote_index): then
 * strings are searched. One pass over the record costs less than searching
 * its strings one by one. *plain (looked for only with @p want_plain, else
 * 0): an index was made and no byte is below 0x20 or above 0x7F (every
 * string of the text is then a valid JSON string, whatever its place). */
static size_t quote_index(const u8_t *s, size_t n, uint64_t *qm, int *plain, int want_plain)
{
    unsigned flags;
    *plain = 0;
    if (n > 64 * QW_MAX)
        return 0;
    size_t w = sl__quote_index(s, n, qm, &flags);
    if (!w || (flags & SL__QI_BSLASH))
        return 0;
    *plain = want_plain && !(flags & SL__QI_CTL);
    return w;
}

/* Past the value at @p p. */
static const u8_t *skip_value(const txt_t *t, const u8_t *p)
{
    const u8_t *end = t->end;
    unsigned char esc;
    if (p >= end)
        return NULL;
    if (*p == '"') {
        p = str_end(t, p + 1, &esc);
        return p ? p + 1 : NULL;
    }
    if (*p != '{' && *p != '[') {
        while (p < end && scalar_byte(*p))
            p++;
        return p;
    }
    size_t depth = 0;
    while (p < end) {
        u8_t c = *p;
        if (c == '"') {
            p = str_end(t, p + 1, &esc);
            if (!p)
                return NULL;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* skip_value() with a string (most skipped values) done in place. */
FX_INLINE const u8_t *skip_fast(const txt_t *t, const u8_t *p)
{
    if (p < t->end && *p == '"') {
        unsigned char esc;
        p = str_end(t, p + 1, &esc);
        return p ? p + 1 : NULL;
    }
    return skip_value(t, p);
}

/* A value the walk passes over, proven (see fx_t) when it proves: strictly
 * checked, or the proof left to the validator (skip_proving(), below). */
static const u8_t *skip_proving(struct fx_s *x, const u8_t *p);

FX_INLINE const u8_t *skip_member(struct fx_s *x, const txt_t *t, const u8_t *p)
{
    /* a string (most skipped values) in place: proven or not, the same */
    if (p < t->end && *p == '"') {
        unsigned char esc;
        p = str_end(t, p + 1, &esc);
        return p ? p + 1 : NULL;
    }
    return x && x->prove ? skip_proving(x, p) : skip_value(t, p);
}

/* A member name the walks look for, with its length: a key of another
 * length is passed over at one comparison (a byte-by-byte test of every
 * name against every key was a twentieth of the conversion). */
typedef struct name_s {
    const char *s;
    size_t n;
} name_t;
#define NM(lit)                                                                                    \
    {                                                                                              \
        lit, sizeof lit - 1                                                                        \
    }

/* Whether the @p n bytes at @p a and @p b are equal: eight at a time,
 * the last word overlapping (both have @p n bytes to read). */
FX_INLINE int same_bytes(const void *a, const void *b, size_t n)
{
    const char *x = a, *y = b;
    uint64_t u, v;
    if (n < 8) {
        for (size_t j = 0; j < n; j++)
            if (x[j] != y[j])
                return 0;
        return 1;
    }
    for (size_t j = 0; j + 8 < n; j += 8) {
        memcpy(&u, x + j, 8);
        memcpy(&v, y + j, 8);
        if (u != v)
            return 0;
    }
    memcpy(&u, x + n - 8, 8);
    memcpy(&v, y + n - 8, 8);
    return u == v;
}

/* Whether key @p kb of @p kn bytes is @p nm. */
static int same_name(const name_t *nm, const u8_t *kb, size_t kn)
{
    return nm->n == kn && same_bytes(nm->s, kb, kn);
}

/* The next member of an object: *pp is past its '{' (*first set) or past a
 * member's value. Returns 1 with the key and *pp at the value, 0 at the end
 * (*pp past the '}'), -1 for what the fast path leaves to the tree (an
 * escaped key, a byte it does not expect). */
/* The byte at @p p when it is not JSON space, else the first after the
 * space (or NULL at @p end): compact text is tested once, not skipped. */
FX_INLINE const u8_t *at_token(const u8_t *p, const u8_t *end)
{
    if (end > p && *p > ' ')
        return p;
    p = ws(p, end);
    return p < end ? p : NULL;
}

FX_INLINE int next_key(const u8_t **pp, const txt_t *t, int *first, const u8_t **kb, size_t *kn)
{
    const u8_t *end = t->end;
    const u8_t *p = *pp, *q;
    unsigned char esc;
    if (!*first && end - p > 1 && p[0] == ',' && p[1] == '"') {
        p++; /* ,"key" written compactly: nothing to skip */
    } else {
        p = at_token(p, end);
        if (!p)
            return -1;
        if (*p == '}') {
            *pp = p + 1;
            return 0;
        }
        if (!*first) {
            if (*p != ',')
                return -1;
            p = at_token(p + 1, end);
            if (!p)
                return -1;
        }
        if (*p != '"')
            return -1;
    }
    *first = 0;
    *kb = p + 1;
    q = str_end(t, p + 1, &esc);
    if (!q || esc)
        return -1;
    *kn = (size_t)(q - *kb);
    if (end - q > 2 && q[1] == ':' && q[2] > ' ') {
        *pp = q + 2; /* "key":value compactly */
        return 1;
    }
    p = at_token(q + 1, end);
    if (!p || *p != ':')
        return -1;
    p = at_token(p + 1, end);
    if (!p)
        return -1;
    *pp = p;
    return 1;
}

struct fx_s;
/* What a walk does with a wanted member's value at @p v: returns past it,
 * or NULL for the tree path. */
typedef const u8_t *(*act_fn)(struct fx_s *x, void *arg, size_t i, const u8_t *v);

/* The values of members @p names of the object at @p p, NULL when absent; a
 * wanted member that repeats is left to the tree path (-1). Each wanted
 * value goes through @p act (when set) instead of being skipped, so that an
 * image is walked once; *after (when set) is past the object. 0 or -1. */
static int members_act(struct fx_s *x, const u8_t *p, const txt_t *t, const name_t *names,
                       size_t nn, const u8_t **vals, act_fn act, void *arg, const u8_t **after)
{
    /* the names' lengths as bits: a key of no wanted length (most of those
     * skipped) is passed over without a comparison */
    uint64_t lens = 0;
    for (size_t i = 0; i < nn; i++) {
        vals[i] = NULL;
        lens |= (uint64_t)1 << (names[i].n & 63);
    }
    const u8_t *end = t->end;
    if (!p || p == end || *p != '{')
        return -1;
    p++;
    int first = 1;
    for (;;) {
        const u8_t *kb, *v;
        size_t kn, i;
        int r = next_key(&p, t, &first, &kb, &kn);
        if (r <= 0) {
            if (after)
                *after = p;
            return r;
        }
        i = nn;
        if (lens >> (kn & 63) & 1)
            for (i = 0; i < nn; i++)
                if (same_name(&names[i], kb, kn))
                    break;
        v = p;
        if (i < nn) {
            if (vals[i])
                return -1;
            vals[i] = v;
        }
        p = i < nn && act ? act(x, arg, i, v) : skip_member(x, t, v);
        if (!p)
            return -1;
    }
}

static int members(const u8_t *p, const txt_t *t, const name_t *names, size_t nn, const u8_t **vals)
{
    return members_act(NULL, p, t, names, nn, vals, NULL, NULL, NULL);
}

/* A value that is absent or JSON null (sl__cdc_member). */
static int absent(const u8_t *v)
{
    return !v || *v == 'n';
}

/* The string at @p v without escapes: 1 with its bytes, 0 not a string (or
 * the end of a text the walk proves: an array cut after a comma), -1 a
 * string with escapes. */
FX_INLINE int plain_str(const u8_t *v, const txt_t *t, const u8_t **b, size_t *n)
{
    unsigned char esc;
    if (!v || v >= t->end || *v != '"')
        return 0;
    const u8_t *q = str_end(t, v + 1, &esc);
    if (!q || esc)
        return -1;
    *b = v + 1;
    *n = (size_t)(q - *b);
    return 1;
}

/* ---- writing ----------------------------------------------------------- */

/* Whether sl__jw_str() writes @p n bytes at @p s as they are: printable
 * ASCII without '"' or '\\' (eight bytes at a time: a high bit, a byte below
 * 0x20, a quote or a backslash in the word). */
static int plain_text(const void *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    const u8_t *p = s;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, p + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        if ((w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high)
            return 0;
    }
    if (i < n && n >= 8) {
        /* the tail as the last eight bytes (some tested twice) */
        uint64_t w, q, b;
        memcpy(&w, p + n - 8, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        return !((w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high);
    }
    for (; i < n; i++)
        if (p[i] < 0x20 || p[i] >= 0x80 || p[i] == '"' || p[i] == '\\')
            return 0;
    return 1;
}

/* Copies the @p n bytes at @p s to @p o; sixteen at once when the text
 * has them (up to @p send) and the buffer room for them (@p oroom), in
 * place of a memcpy() call of a size not known here: most keys and short
 * strings. The bytes past @p n land beyond what the writer counts. */
FX_INLINE void copy_short(char *o, const u8_t *s, size_t n, const u8_t *send, size_t oroom)
{
    if (n <= 16 && send - s >= 16 && oroom >= 16)
        memcpy(o, s, 16);
    else
        memcpy(o, s, n);
}

/* A JSON string of @p n bytes, exactly as sl__jw_str() writes it: copied
 * between quotes when nothing in it needs an escape (ids, types, keys,
 * tags), else by sl__jw_str(). */
static void put_text(sl__jw_t *jw, const void *s, size_t n)
{
    if (!plain_text(s, n) || sl__jw_room(jw, n + 2)) {
        sl__jw_str(jw, s, n);
        return;
    }
    char *o = jw->buf + jw->len;
    o[0] = '"';
    memcpy(o + 1, s, n);
    o[n + 1] = '"';
    jw->len += n + 2;
}

/* A string as the tree path writes it: verbatim when it has no escape,
 * else decoded and written by sl__jw_str(). 0 or -1. */
static int put_str(fx_t *x, sl__jw_t *jw, const u8_t *b, size_t n, int esc)
{
    if (!esc) {
        if (sl__jw_room(jw, n + 2))
            return -1;
        char *o = jw->buf + jw->len;
        o[0] = '"';
        copy_short(o + 1, b, n, x->end, jw->cap - jw->len - 1);
        o[n + 1] = '"';
        jw->len += n + 2;
        return 0;
    }
    if (n > x->tcap) {
        char *t = sl_realloc(x->tmp, n);
        if (!t) {
            x->oom = 1;
            return -1;
        }
        x->tmp = t;
        x->tcap = n;
    }
    size_t len;
    if (sl_span_unescape((sl_span_t){.ptr = (const char *)b, .len = n}, x->tmp, x->tcap, &len))
        return -1;
    sl__jw_str(jw, x->tmp, len);
    return 0;
}

/* A bit per (length, first and last byte) among an object's keys: a key
 * whose bit is clear repeats none, without comparing it to each. */
FX_INLINE uint64_t key_bit(const u8_t *kb, size_t kn)
{
    return (uint64_t)1 << ((kn * 7 + (kn ? kb[0] * 3u + kb[kn - 1] : 0)) & 63);
}

/* Whether key @p kb is new among those of the object opened at @p base. */
static int key_new(fx_t *x, size_t base, uint64_t *seen, const u8_t *kb, size_t kn)
{
    if (x->nk - base >= KEYS_MAX)
        return 0;
    uint64_t bit = key_bit(kb, kn);
    if (*seen & bit) {
        for (size_t i = base; i < x->nk; i++)
            if (x->k[i].n == kn && !memcmp(x->k[i].b, kb, kn))
                return 0;
    }
    *seen |= bit;
    if (x->nk == x->capk) {
        size_t cap = x->capk * 2;
        /* the first block lives in the frame (no allocation for most records) */
        key_t_ *k = x->k == x->k0 ? sl_malloc(cap * sizeof *k) : sl_realloc(x->k, cap * sizeof *k);
        if (k && x->k == x->k0)
            memcpy(k, x->k0, sizeof x->k0);
        if (!k) {
            x->oom = 1;
            return 0;
        }
        x->k = k;
        x->capk = cap;
    }
    x->k[x->nk++] = (key_t_){kb, kn};
    return 1;
}

/* key_new() for an image's object, whose keys are its members'
 * (x->m[img->first..]): the same verdict, with nothing stored. */
FX_INLINE int img_key_new(const fx_t *x, const img_t *img, uint64_t *seen, const u8_t *kb,
                          size_t kn)
{
    if (x->nm - img->first >= KEYS_MAX)
        return 0;
    uint64_t bit = key_bit(kb, kn);
    if (*seen & bit) {
        for (size_t i = img->first; i < x->nm; i++)
            if (x->m[i].kn == kn && !memcmp(x->m[i].kb, kb, kn))
                return 0;
    }
    *seen |= bit;
    return 1;
}

FX_INLINE mem_t *new_mem(fx_t *x)
{
    if (x->nm == x->capm) {
        size_t cap = x->capm * 2;
        mem_t *m = x->m == x->m0 ? sl_malloc(cap * sizeof *m) : sl_realloc(x->m, cap * sizeof *m);
        if (m && x->m == x->m0)
            memcpy(m, x->m0, sizeof x->m0);
        if (!m) {
            x->oom = 1;
            return NULL;
        }
        x->m = m;
        x->capm = cap;
    }
    mem_t *m = &x->m[x->nm++];
    memset(m, 0, sizeof *m);
    return m;
}

typedef const u8_t *(*val_fn)(fx_t *x, const u8_t *p, mem_t *m);

static const u8_t *ddb_val(fx_t *x, const u8_t *p, mem_t *m);
FX_INLINE const u8_t *ddb_attr_fast(fx_t *x, const txt_t *t, const u8_t *p, mem_t *m);

/* The object at @p p with each member's value by @p val, into the scratch;
 * with @p img, its members recorded. Past the object, or NULL. */
FX_INLINE const u8_t *put_obj(fx_t *x, const u8_t *p, val_fn val, img_t *img)
{
    const u8_t *end = x->end;
    /* the text's bounds and index in a local: the writes below (bytes,
     * which may alias anything) do not make them be read again */
    const txt_t tl = x->t, *t = &tl;
    if (p == end || *p != '{')
        return NULL;
    p++;
    size_t base = x->nk;
    uint64_t seen = 0, heads = 0;
    if (img)
        *img = (img_t){.first = x->nm, .ob = x->s.len, .present = 1};
    int first = 1;
    size_t count = 0;
    sl__jw_raw(&x->s, "{", 1);
    for (;;) {
        const u8_t *kb;
        size_t kn;
        int r = next_key(&p, t, &first, &kb, &kn);
        if (r < 0 ||
            (r && !(img ? img_key_new(x, img, &seen, kb, kn) : key_new(x, base, &seen, kb, kn))))
            return NULL;
        if (!r)
            break;
        /* ["," ] "key": in one reservation (the key has no escape) */
        if (sl__jw_room(&x->s, kn + 4))
            return NULL;
        char *o = x->s.buf + x->s.len;
        if (count++)
            *o++ = ',';
        size_t ob = (size_t)(o - x->s.buf);
        *o++ = '"';
        copy_short(o, kb, kn, end, x->s.cap - (size_t)(o - x->s.buf));
        o += kn;
        *o++ = '"';
        *o++ = ':';
        x->s.len = (size_t)(o - x->s.buf);
        mem_t *m = NULL;
        size_t mi = x->nm;
        if (img && !new_mem(x))
            return NULL;
        heads |= (uint64_t)1 << ((kn ? kb[0] : 0) & 63);
        if (img)
            m = &x->m[mi];
        /* an image's {"S":..} or {"N":..} member in the loop, not a call */
        const u8_t *f = img && val == ddb_val ? ddb_attr_fast(x, t, p, m) : NULL;
        if (!(p = f ? f : val(x, p, m)))
            return NULL;
        if (img) {
            m = &x->m[mi];
            m->kb = kb;
            m->kn = kn;
            m->ob = ob;
            m->oe = x->s.len;
        }
    }
    x->nk = base;
    sl__jw_raw(&x->s, "}", 1);
    if (img) {
        img->n = x->nm - img->first;
        img->oe = x->s.len;
        img->heads = heads;
    }
    return p;
}

/* The array at @p p with each element by @p val. */
static const u8_t *put_arr(fx_t *x, const u8_t *p, val_fn val)
{
    const u8_t *end = x->end;
    if (p == end || *p != '[')
        return NULL;
    sl__jw_raw(&x->s, "[", 1);
    p = ws(p + 1, end);
    if (p < end && *p == ']') {
        sl__jw_raw(&x->s, "]", 1);
        return p + 1;
    }
    for (;;) {
        if (!(p = val(x, p, NULL)))
            return NULL;
        p = ws(p, end);
        if (p == end)
            return NULL;
        if (*p == ']') {
            sl__jw_raw(&x->s, "]", 1);
            return p + 1;
        }
        if (*p != ',')
            return NULL;
        sl__jw_raw(&x->s, ",", 1);
        p = ws(p + 1, end);
    }
}

/* A literal at @p p: 4 true, 5 false, 6 null (its V_* kind + 3), else 0. */
static int literal(const u8_t *p, const u8_t *end)
{
    size_t n = (size_t)(end - p);
    if (n >= 4 && !memcmp(p, "true", 4))
        return V_TRUE + 3;
    if (n >= 5 && !memcmp(p, "false", 5))
        return V_FALSE + 3;
    if (n >= 4 && !memcmp(p, "null", 4))
        return V_NULL + 3;
    return 0;
}

static size_t literal_len(int kind)
{
    return kind == V_FALSE ? 5 : 4;
}

/* Past a JSON number at @p p that jansson reads without a doubt: an
 * integer of at most 18 digits (it fits json_int_t), or such an integer
 * part with a fraction and no exponent (strtod cannot overflow on it).
 * NULL for any other text, JSON or not: that one is left to the validator.
 * What follows the number is checked by the caller's next step. */
static const u8_t *proven_number(const u8_t *p, const u8_t *end)
{
    if (p < end && *p == '-')
        p++;
    const u8_t *d = p;
    if (p == end || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0')
        p++;
    else
        p = digit_run(p, end);
    if (p - d > 18)
        return NULL;
    if (!(p = fraction(p, end)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E'))
        return NULL;
    return p;
}

static const u8_t *skip_proving(struct fx_s *x, const u8_t *p)
{
    const u8_t *end = x->end, *q;
    if (p >= end)
        return NULL;
    if (*p == '"') /* a plain text: every string is valid JSON */
        return skip_fast(&x->t, p);
    if ((*p == '-' || (*p >= '0' && *p <= '9')) && (q = proven_number(p, end)))
        return q;
    int lit = (*p == 't' || *p == 'f' || *p == 'n') ? literal(p, end) : 0;
    if (lit)
        return p + literal_len(lit - 3);
    /* A container, another number form, or no JSON: passed over as the
     * trusting walk does, and the validator decides. */
    x->unproven = 1;
    return skip_value(&x->t, p);
}

/* ---- DynamoDB attribute values ----------------------------------------- */

/* Whether the N text @p b is already as sl__cdc_n_text() writes it: an
 * optional '-', digits without a leading zero (or a lone 0), and optionally
 * '.' and digits, at most 18 digits in all (an integer fits int64). Most N
 * texts are; they are copied without parsing. */
static int n_plain(const u8_t *b, size_t n)
{
    size_t i = n && b[0] == '-', d0 = i;
    if (n - i > 18 || i == n)
        return 0;
    while (i < n && b[i] >= '0' && b[i] <= '9')
        i++;
    if (i == d0 || (b[d0] == '0' && i > d0 + 1))
        return 0;
    if (i == n)
        return 1;
    if (b[i] != '.' || i + 1 == n)
        return 0;
    for (i++; i < n; i++)
        if (b[i] < '0' || b[i] > '9')
            return 0;
    return 1;
}

/* The closing quote of the N text at @p b (past its opening quote) when
 * the text is n_plain() up to a '"': found and checked in one pass, without
 * searching the string first. NULL for any other text (then the caller
 * searches the string and looks again). Digits, '-' and '.' are no quotes
 * or backslashes: the quote is the string's end, escapes or not. */
FX_INLINE const u8_t *n_closed(const u8_t *b, const u8_t *end)
{
    const u8_t *q = b < end && *b == '-' ? b + 1 : b, *d = q;
    q = digit_run(q, end);
    if (q == d || (*d == '0' && q > d + 1))
        return NULL;
    if (!(q = fraction(q, end)))
        return NULL;
    return q < end && *q == '"' && q - d <= 18 ? q : NULL;
}

/* The attribute value at @p p when it is {"S":"..."} without escapes or
 * {"N":"..."} as n_plain() holds it, written compactly (most members of an
 * image): written to the scratch and *m filled as ddb_val() does, in one
 * pass; past it. NULL, with nothing written, for any other value: then
 * ddb_val() takes it. */
FX_INLINE const u8_t *ddb_attr_fast(fx_t *x, const txt_t *t, const u8_t *p, mem_t *m)
{
    const u8_t *end = t->end, *q;
    unsigned char esc;
    if (end - p < 8)
        return NULL;
#if FX_SWAR
    /* {"?":" in one compare of the first eight bytes: the type letter
     * (byte 2) and the value's first two bytes (6 and 7) masked out */
    uint64_t w;
    memcpy(&w, p, 8);
    if ((w & 0x0000FFFFFF00FFFFu) != 0x0000223A2200227Bu)
        return NULL;
#else
    if (p[0] != '{' || p[1] != '"' || p[3] != '"' || p[4] != ':' || p[5] != '"')
        return NULL;
#endif
    int str = p[2] == 'S';
    if (str) {
        q = str_end(t, p + 6, &esc);
        if (!q || esc)
            return NULL;
    } else if (p[2] == 'N') {
        if (!(q = n_closed(p + 6, end)))
            return NULL;
    } else {
        return NULL;
    }
    if (end - q < 2 || q[1] != '}')
        return NULL;
    size_t n = (size_t)(q - p - 6);
    if (sl__jw_room(&x->s, n + 2))
        return NULL;
    char *o = x->s.buf + x->s.len;
    if (str)
        *o++ = '"';
    copy_short(o, p + 6, n, end, x->s.cap - (size_t)(o - x->s.buf));
    o += n;
    if (str)
        *o++ = '"';
    x->s.len = (size_t)(o - x->s.buf);
    m->kind = str ? V_STR : V_NUM;
    m->vb = p + 6;
    m->vn = n;
    m->atype = (char)p[2];
    return q + 2;
}

static const u8_t *ddb_n(fx_t *x, const u8_t *p, mem_t *m)
{
    const u8_t *b, *q;
    size_t n;
    int plain;
    if (p < x->end && *p == '"' && (q = n_closed(p + 1, x->end))) {
        b = p + 1;
        n = (size_t)(q - b);
        plain = 1;
    } else {
        if (plain_str(p, &x->t, &b, &n) != 1)
            return NULL;
        plain = n_plain(b, n);
    }
    if (plain) {
        sl__jw_raw(&x->s, b, n);
        if (x->s.oom)
            return NULL;
    } else {
        int is_int;
        int64_t iv;
        int rc = sl__cdc_number_parse((const char *)b, n, &is_int, &iv, NULL);
        if (rc) {
            x->oom |= rc == SL_ENOMEM;
            return NULL;
        }
        if (sl__jw_room(&x->s, n + 40))
            return NULL;
        x->s.len += sl__cdc_n_text((const char *)b, n, !is_int, x->s.buf + x->s.len);
    }
    if (m) {
        m->kind = V_NUM;
        m->vb = b;
        m->vn = n;
    }
    return b + n + 1;
}

static const u8_t *ddb_str(fx_t *x, const u8_t *p, mem_t *m)
{
    unsigned char esc;
    if (p == x->end || *p != '"') /* (an element after a comma may be the end) */
        return NULL;
    const u8_t *q = str_end(&x->t, p + 1, &esc);
    if (!q || put_str(x, &x->s, p + 1, (size_t)(q - p - 1), esc))
        return NULL;
    if (m) {
        m->kind = V_STR;
        m->vb = p + 1;
        m->vn = (size_t)(q - p - 1);
        m->esc = esc;
    }
    return q + 1;
}

static const u8_t *ddb_map(fx_t *x, const u8_t *p, mem_t *m)
{
    if (m)
        m->kind = V_OBJ;
    return put_obj(x, p, ddb_val, NULL);
}

/* One typed attribute value ({"S": "x"}) unmarshalled into the scratch. */
static const u8_t *ddb_val(fx_t *x, const u8_t *p, mem_t *m)
{
    const u8_t *end = x->end, *kb;
    size_t kn;
    int first = 1;
    if (p == end || *p != '{')
        return NULL;
    if (end - p >= 6 && p[1] == '"' && p[2] > '"' && p[2] != '\\' && p[3] == '"' && p[4] == ':' &&
        p[5] > ' ') {
        /* {"S":, {"N":, {"M":... written compactly (most producers): the
         * one-letter type without next_key()'s general walk. The scanner
         * validated the text, so p[5] starts the value. */
        kb = p + 2;
        kn = 1;
        p += 5;
    } else {
        p++;
        if (next_key(&p, &x->t, &first, &kb, &kn) != 1)
            return NULL;
    }
    char t0 = (char)kb[0], t1 = kn > 1 ? (char)kb[1] : 0;
    mem_t dummy;
    mem_t *d = m ? m : &dummy;
    if (kn == 1 && (t0 == 'S' || t0 == 'B')) {
        p = ddb_str(x, p, d);
        d->atype = t0;
    } else if (kn == 1 && t0 == 'N') {
        p = ddb_n(x, p, d);
        d->atype = 'N';
    } else if (kn == 4 && (!memcmp(kb, "BOOL", 4) || !memcmp(kb, "NULL", 4))) {
        int lit = literal(p, end) - 3;
        if (t0 == 'B' ? lit != V_TRUE && lit != V_FALSE : lit != V_TRUE)
            return NULL;
        p += literal_len(lit);
        d->kind = t0 == 'B' ? (unsigned char)lit : V_NULL;
        sl__jw_raw(&x->s,
                   t0 == 'N'       ? "null"
                   : lit == V_TRUE ? "true"
                                   : "false",
                   t0 == 'N' || lit == V_TRUE ? 4 : 5);
    } else if (kn == 1 && (t0 == 'M' || t0 == 'L')) {
        /* Nesting unbounded by a validator: the proof stops at its depth
         * (the validator bounds it, and the trusting walk runs then). */
        if (x->prove && ++x->depth > PROVE_DEPTH) {
            x->abort = 1;
            return NULL;
        }
        if (t0 == 'M') {
            p = ddb_map(x, p, d);
        } else {
            d->kind = V_ARR;
            p = put_arr(x, p, ddb_val);
        }
        x->depth -= x->prove;
    } else if (kn == 2 && (t0 == 'S' || t0 == 'B') && t1 == 'S') {
        d->kind = V_ARR;
        p = put_arr(x, p, ddb_str);
    } else if (kn == 2 && t0 == 'N' && t1 == 'S') {
        d->kind = V_ARR;
        p = put_arr(x, p, ddb_n);
    } else {
        return NULL;
    }
    if (!p)
        return NULL;
    /* exactly one type member */
    p = ws(p, end);
    return p < end && *p == '}' ? p + 1 : NULL;
}

/* ---- Debezium values ---------------------------------------------------- */

static const u8_t *dbz_val(fx_t *x, const u8_t *p, mem_t *m)
{
    const u8_t *end = x->end;
    mem_t dummy;
    mem_t *d = m ? m : &dummy;
    if (*p == '{') {
        d->kind = V_OBJ;
        return put_obj(x, p, dbz_val, NULL);
    }
    if (*p == '[') {
        d->kind = V_ARR;
        return put_arr(x, p, dbz_val);
    }
    if (*p == '"')
        return ddb_str(x, p, d);
    int lit = literal(p, end);
    if (lit) {
        d->kind = (unsigned char)(lit - 3);
        sl__jw_raw(&x->s, p, literal_len(lit - 3));
        return p + literal_len(lit - 3);
    }
    const u8_t *q = p;
    while (q < end && scalar_byte(*q))
        q++;
    if (q == p)
        return NULL;
    sl__jw_raw(&x->s, p, (size_t)(q - p));
    d->kind = V_NUM;
    d->vb = p;
    d->vn = (size_t)(q - p);
    return q;
}

/* ---- the event ---------------------------------------------------------- */

static const mem_t *find(const fx_t *x, const img_t *img, const char *name)
{
    if (!img || !img->present || !(img->heads >> ((u8_t)name[0] & 63) & 1))
        return NULL; /* no member starts as the name does (most lookups) */
    /* the length and the first byte decide most members */
    size_t nl = strlen(name);
    for (size_t i = img->first; i < img->first + img->n; i++) {
        const mem_t *m = &x->m[i];
        if (m->kn == nl && (!nl || ((char)m->kb[0] == name[0] && !memcmp(m->kb, name, nl))))
            return m;
    }
    return NULL;
}

static int is_true(const fx_t *x, const img_t *img, const char *name)
{
    const mem_t *m = find(x, img, name);
    return m && m->kind == V_TRUE;
}

/* A number's value as the tree holds it: 0, or -1 not a number. */
static int num_value(const u8_t *s, size_t n, int *is_int, int64_t *iv, double *dv)
{
    return sl__cdc_number_parse((const char *)s, n, is_int, iv, dv) ? -1 : 0;
}

/* Most numbers of a change record are plain digits (epochs): 0 with the
 * value sl__cdc_number_parse() would give them, without it; -1 for any
 * other text. At most 18 digits always fit an int64_t. */
static int plain_int(const u8_t *s, size_t n, int64_t *v)
{
    uint64_t acc = 0;
    size_t i = 0;
    if (!n || n > 18)
        return -1;
#if FX_SWAR
    for (; n - i >= 8; i += 8) {
        /* eight digits at once: pairs, then fours, then the eight */
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (non_digits(w))
            return -1;
        w -= 0x3030303030303030u;
        w = w * 10 + (w >> 8); /* byte 2k: digit 2k * 10 + digit 2k+1 */
        w = ((w & 0x000000FF000000FFu) * (100 + (1000000ull << 32)) +
             ((w >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32))) >>
            32;
        acc = acc * 100000000u + (uint32_t)w;
    }
#endif
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        acc = acc * 10 + (unsigned)(s[i] - '0');
    }
    *v = (int64_t)acc;
    return 0;
}

/* sl__cdc_ms_of() of a number text. */
static int ms_of(const u8_t *s, size_t n, int64_t *ms)
{
    if (!plain_int(s, n, ms))
        return 0;
    int is_int;
    int64_t iv;
    double dv;
    if (num_value(s, n, &is_int, &iv, &dv))
        return -1;
    if (is_int) {
        if (iv < 0)
            return -1;
        *ms = iv;
        return 0;
    }
    if (!(dv >= 0 && dv < MS_LIMIT))
        return -1;
    *ms = (int64_t)dv;
    return 0;
}

/* The number token at @p v (a JSON number), or 0. */
static size_t num_token(const u8_t *v, const u8_t *end)
{
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
        return 0;
    const u8_t *q = digit_run(v + 1, end); /* most are digits alone */
    while (q < end && scalar_byte(*q))
        q++;
    return (size_t)(q - v);
}

static int image_ts(const fx_t *x, const img_t *img, fch_t *ch)
{
    const mem_t *m = find(x, img, "timestamp");
    if (!m || m->kind != V_NUM)
        return 0;
    if (plain_int(m->vb, m->vn, &ch->ts))
        return !ms_of(m->vb, m->vn, &ch->ts);
    if (m->vb[0] != '0' || m->vn == 1) {
        ch->ts_b = m->vb;
        ch->ts_n = m->vn;
    }
    return 1;
}

static int change_or_record(int have, int64_t change, const sl_record_t *r, int64_t *ms)
{
    return sl__cdc_change_or_record(have, change, r, ms);
}

/* A string member as text: 1 with its bytes, 0 not a string, -1 escaped. */
static int mem_str(const mem_t *m, const u8_t **b, size_t *n)
{
    if (!m || m->kind != V_STR)
        return 0;
    if (m->esc)
        return -1;
    *b = m->vb;
    *n = m->vn;
    return 1;
}

static void tag(sl__jw_t *jw, int *first, const char *name, const void *v, size_t n)
{
    if (!v)
        return;
    if (!*first)
        sl__jw_raw(jw, ",", 1);
    *first = 0;
    put_text(jw, name, strlen(name));
    sl__jw_raw(jw, ":", 1);
    put_text(jw, v, n);
}

/* The tags before "region" (the first, "source", always there). */
static void tags_head(sl__jw_t *jw, const sl_cdc_opts_t *o)
{
    int first = 1;
    const char *src = o->source ? o->source : "sluice";
    sl__jw_raw(jw, ",\"tags\":{", 9);
    tag(jw, &first, "source", src, strlen(src));
    tag(jw, &first, "account", o->account, o->account ? strlen(o->account) : 0);
    tag(jw, &first, "stage", o->stage, o->stage ? strlen(o->stage) : 0);
}

/* The tags after "region" up to "format". */
static void tags_tail(sl__jw_t *jw, const sl_cdc_opts_t *o, const char *fmt)
{
    int first = 0;
    tag(jw, &first, "functionname", o->function_name,
        o->function_name ? strlen(o->function_name) : 0);
    tag(jw, &first, "pipeline", o->pipeline, o->pipeline ? strlen(o->pipeline) : 0);
    tag(jw, &first, "format", fmt, strlen(fmt));
}

/* The "entity" tag, the end of the tags and the entity's member name; none
 * when @p entity is NULL (derived per record). */
static void tags_entity(sl__jw_t *jw, const char *entity)
{
    if (!entity)
        return;
    int first = 0;
    tag(jw, &first, "entity", entity, strlen(entity));
    sl__jw_raw(jw, "},", 2);
    sl__jw_str(jw, entity, strlen(entity));
    sl__jw_raw(jw, ":", 1);
}

/* Writes the tags the options fix into @p k once. 0 or SL_ENOMEM. */
static int keep_tags(cdc_keep_t *k, const sl_cdc_opts_t *o, const char *fmt)
{
    sl__jw_t w;
    sl__jw_init(&w, NULL, 0);
    tags_head(&w, o);
    size_t head = w.len;
    tags_tail(&w, o, fmt);
    tags_entity(&w, o->entity);
    if (w.oom) {
        sl_free(w.buf);
        return SL_ENOMEM;
    }
    k->tags = w.buf;
    k->head_n = head;
    k->tail_n = w.len - head;
    return 0;
}

static void put_img(fx_t *x, sl__jw_t *jw, const img_t *img)
{
    if (img && img->present)
        sl__jw_raw(jw, x->s.buf + img->ob, img->oe - img->ob);
    else
        sl__jw_raw(jw, "null", 4);
}

#define ATTR(o, field, dflt) ((o)->field ? (o)->field : (dflt))

static int build(fx_t *x, cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const fch_t *ch,
                 const fast_pk_t *pk, sl__jw_t *jw)
{
    if (x->oom || x->s.oom)
        return SL_ENOMEM;
    const img_t *img = ch->nw.present ? &ch->nw : ch->old.present ? &ch->old : NULL;
    const char *la = ATTR(o, latched_attr, "latched"), *ra = ATTR(o, region_attr, "awsregion");
    if (!o->keep_latched && is_true(x, img, la))
        return sl__cdc_fail(c, CDC_SKIPPED, "skipped: latched (\"%s\" is true)", la);
    const u8_t *rb;
    size_t rn;
    int rs = mem_str(find(x, img, ra), &rb, &rn);
    if (!o->keep_replicas && o->region && rs) {
        if (rs < 0)
            return CDC_FALLBACK;
        if (rn != strlen(o->region) || memcmp(rb, o->region, rn)) {
            char q[QUOTE_MAX + 4];
            return sl__cdc_fail(c, CDC_SKIPPED, "skipped: a replica (\"%s\" is \"%s\", not \"%s\")",
                                ra, sl__cdc_clip(q, (const char *)rb, rn), o->region);
        }
    }
    const char *verb;
    if (ch->op == OP_CREATE) {
        verb = "created";
    } else if (ch->op == OP_DELETE) {
        verb = "deleted";
        if (ch->by_ttl && o->expired != SL_CDC_EXPIRED_DELETE) {
            if (o->expired == SL_CDC_EXPIRED_SKIP)
                return sl__cdc_fail(c, CDC_SKIPPED, "skipped: expired by TTL");
            verb = "expired";
        }
    } else {
        const char *da = ATTR(o, deleted_attr, "deleted");
        int now = is_true(x, &ch->nw, da), before = is_true(x, &ch->old, da);
        verb = now && !before ? "deleted" : !now && before ? "undeleted" : "updated";
    }
    char derived[128];
    const char *entity = o->entity;
    if (!entity) {
        const img_t *di = ch->nw.present     ? &ch->nw
                          : ch->old.present  ? &ch->old
                          : ch->keys.present ? &ch->keys
                                             : NULL;
        const u8_t *s;
        size_t n;
        int k = mem_str(find(x, di, ATTR(o, discriminator_attr, "discriminator")), &s, &n);
        if (!k)
            k = mem_str(find(x, di, ATTR(o, sk_attr, "sk")), &s, &n);
        if (k != 1 || n >= sizeof derived)
            return CDC_FALLBACK;
        for (size_t i = 0; i < n; i++)
            derived[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : (char)s[i];
        derived[n] = 0;
        if (sl__cdc_bad_entity(derived))
            return CDC_FALLBACK;
        entity = derived;
    }
    char id[37], type[200];
    if (entity == o->entity)
        sl__cdc_event_id_kept(x->keep, entity, r, ch->identity, id);
    else
        sl__cdc_event_id(entity, r, ch->identity, id);
    size_t en = strlen(entity), vn = strlen(verb), tn = en + 1 + vn;
    if (tn >= sizeof type) /* a long entity option: the tree path */
        return CDC_FALLBACK;
    memcpy(type, entity, en);
    type[en] = '-';
    memcpy(type + en + 1, verb, vn + 1);

    const img_t *ent = ch->ent;
    /* One reservation for most of the event; it holds the head up to the
     * time (at most pk->n + 285 bytes: tn < 200, tsn <= 18), written
     * without further checks: the id is hex digits and dashes, the type an
     * entity name (letters, digits, '-' and '_': checked with the options,
     * or when derived) and a verb, the time's text digits (image_ts()):
     * nothing to escape. */
    size_t tsn = ch->ts_b ? ch->ts_n : 0;
    if (!sl__jw_room(jw, 512 + pk->n * 7 + 2 * (x->s.len + 16))) {
        char *w = jw->buf + jw->len;
        if (x->key_first && pk->n) {
            memcpy(w, pk->p, pk->n);
            w += pk->n;
        }
        memcpy(w, "{\"id\":\"", 7);
        memcpy(w + 7, id, 36);
        memcpy(w + 43, "\",\"type\":\"", 10);
        w += 53;
        memcpy(w, type, tn);
        w += tn;
        memcpy(w, "\",\"timestamp\":", 14);
        w += 14;
        memcpy(w, ch->ts_b ? (const char *)ch->ts_b : "", tsn);
        jw->len = (size_t)(w + tsn - jw->buf);
        if (!ch->ts_b)
            sl__jw_int(jw, ch->ts);
    }
    sl__jw_raw(jw, ",\"partitionKey\":", 16);
    put_text(jw, pk->p, pk->n);
    int first = 0; /* "source" always comes first */
    const cdc_keep_t *kp = x->keep && x->keep->tags ? x->keep : NULL;
    if (kp)
        sl__jw_raw(jw, kp->tags, kp->head_n);
    else
        tags_head(jw, o);
    if (ch->region) {
        /* tag() without its checks: "source" came first, the name is plain */
        sl__jw_raw(jw, ",\"region\":", 10);
        if (x->t.plain) { /* a string of a plain text: written as it is */
            sl__jw_raw(jw, "\"", 1);
            sl__jw_raw(jw, ch->region, ch->region_n);
            sl__jw_raw(jw, "\"", 1);
        } else {
            put_text(jw, ch->region, ch->region_n);
        }
    } else
        tag(jw, &first, "region", o->region, o->region ? strlen(o->region) : 0);
    if (kp) {
        sl__jw_raw(jw, kp->tags + kp->head_n, kp->tail_n);
    } else {
        tags_tail(jw, o, c->fmt);
        tags_entity(jw, o->entity);
    }
    if (!o->entity)
        tags_entity(jw, entity);
    if (!o->drop_count) {
        put_img(x, jw, ent);
    } else {
        sl__jw_raw(jw, "{", 1);
        int any = 0;
        for (size_t i = ent->first; i < ent->first + ent->n; i++) {
            const mem_t *m = &x->m[i];
            int drop = 0;
            for (size_t k = 0; k < o->drop_count && !drop; k++)
                drop = strlen(o->drop[k]) == m->kn && !memcmp(o->drop[k], m->kb, m->kn);
            if (drop)
                continue;
            if (any)
                sl__jw_raw(jw, ",", 1);
            any = 1;
            sl__jw_raw(jw, x->s.buf + m->ob, m->oe - m->ob);
        }
        sl__jw_raw(jw, "}", 1);
    }
    sl__jw_raw(jw, ",\"raw\":{\"new\":", 14);
    put_img(x, jw, &ch->nw);
    sl__jw_raw(jw, ",\"old\":", 7);
    put_img(x, jw, &ch->old);
    sl__jw_raw(jw, "}}", 2);
    return jw->oom ? SL_ENOMEM : 0;
}

/* ---- DynamoDB ----------------------------------------------------------- */

static int cmp_keys(const void *a, const void *b)
{
    const mem_t *x = *(const mem_t *const *)a, *y = *(const mem_t *const *)b;
    size_t n = x->kn < y->kn ? x->kn : y->kn;
    int d = memcmp(x->kb, y->kb, n);
    return d ? d : x->kn < y->kn ? -1 : x->kn > y->kn;
}

/* partitionKey from Keys, as keys_pkey() in cdc_dynamodb.c. */
static int keys_pkey(fx_t *x, const img_t *keys, fast_pk_t *pk)
{
    size_t n = keys->n, len = 0;
    if (!n)
        return CDC_FALLBACK;
    const mem_t **v = sl_malloc(n * sizeof *v);
    if (!v)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const mem_t *m = &x->m[keys->first + i];
        if (!m->atype || m->esc) {
            sl_free(v);
            return CDC_FALLBACK;
        }
        v[i] = m;
        len += m->vn + 1;
    }
    qsort(v, n, sizeof *v, cmp_keys);
    char *buf = sl_malloc(len);
    if (!buf) {
        sl_free(v);
        return SL_ENOMEM;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[at++] = '|';
        memcpy(buf + at, v[i]->vb, v[i]->vn);
        at += v[i]->vn;
    }
    sl_free(v);
    if (!at) {
        sl_free(buf);
        return CDC_FALLBACK;
    }
    *pk = (fast_pk_t){.p = buf, .n = at, .own = buf};
    return 0;
}

static int record_key(const sl_record_t *r, fast_pk_t *pk)
{
    if (!r->key || !r->key_len || !sl__cdc_utf8_text(r->key, r->key_len))
        return 0;
    *pk = (fast_pk_t){.p = r->key, .n = r->key_len};
    return 1;
}

/* A string member of an object equal to @p s: 1, 0, or -1 (escaped). */
static int str_eq(const u8_t *v, const txt_t *tx, const char *s)
{
    const u8_t *b;
    size_t n;
    int k = plain_str(v, tx, &b, &n);
    if (k != 1)
        return k;
    return n == strlen(s) && !memcmp(b, s, n);
}

static const name_t DYN[] = {NM("ApproximateCreationDateTime"), NM("Keys"), NM("NewImage"),
                             NM("OldImage")};

typedef struct ddb_arg_s {
    fch_t *ch;
    const u8_t **dv;
    int seen; /* "dynamodb" was an object */
    /* a top member that is a string: its closing quote (found by the walk,
     * not searched again), and whether it holds an escape */
    const u8_t *q[5];
    unsigned char esc[5];
} ddb_arg_t;

/* dynamodb.Keys, NewImage and OldImage are unmarshalled where they are met. */
static const u8_t *ddb_dyn_act(fx_t *x, void *arg, size_t i, const u8_t *v)
{
    fch_t *ch = arg;
    img_t *img = i == 1 ? &ch->keys : i == 2 ? &ch->nw : i == 3 ? &ch->old : NULL;
    if (!img || absent(v))
        return skip_member(x, &x->t, v);
    return put_obj(x, v, ddb_val, img);
}

static const u8_t *ddb_top_act(fx_t *x, void *arg, size_t i, const u8_t *v)
{
    ddb_arg_t *a = arg;
    const u8_t *after;
    if (i != 1 && v < x->end && *v == '"') {
        const u8_t *q = str_end(&x->t, v + 1, &a->esc[i]);
        a->q[i] = q;
        return q ? q + 1 : NULL;
    }
    if (i != 1 || *v != '{')
        return skip_member(x, &x->t, v);
    if (members_act(x, v, &x->t, DYN, 4, a->dv, ddb_dyn_act, a->ch, &after))
        return NULL;
    a->seen = 1;
    return after;
}

/* plain_str() of top member @p i at @p v, from its end as the walk found it. */
static int top_str(const ddb_arg_t *a, size_t i, const u8_t *v, const txt_t *t, const u8_t **b,
                   size_t *n)
{
    if (!v || !a->q[i])
        return plain_str(v, t, b, n);
    if (a->esc[i])
        return -1;
    *b = v + 1;
    *n = (size_t)(a->q[i] - *b);
    return 1;
}

static int from_ddb(fx_t *x, cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const u8_t *p,
                    sl__jw_t *jw, fast_pk_t *pk)
{
    static const name_t top[] = {NM("eventName"), NM("dynamodb"), NM("awsRegion"),
                                 NM("userIdentity"), NM("eventID")};
    const u8_t *tv[5], *dv[4] = {NULL, NULL, NULL, NULL}, *end = x->end, *b;
    size_t n;
    fch_t ch;
    /* all but the identity's bytes (a string: its first byte says) */
    memset(&ch, 0, offsetof(fch_t, identity) + 1);
    ddb_arg_t a = {&ch, dv, 0, {NULL}, {0}};
    const u8_t *after = NULL;
    if (members_act(x, p, &x->t, top, 5, tv, ddb_top_act, &a, &after) || !a.seen)
        return x->oom || x->s.oom ? SL_ENOMEM : CDC_FALLBACK;
    /* The whole text was walked: what follows the object is space only. */
    x->covered = ws(after, end) == end;
    if (top_str(&a, 0, tv[0], &x->t, &b, &n) != 1)
        return CDC_FALLBACK;
    if (n == 6 && !memcmp(b, "INSERT", 6))
        ch.op = OP_CREATE;
    else if (n == 6 && !memcmp(b, "MODIFY", 6))
        ch.op = OP_UPDATE;
    else if (n == 6 && !memcmp(b, "REMOVE", 6))
        ch.op = OP_DELETE;
    else
        return CDC_FALLBACK;
    int64_t change = 0;
    int have_change = 0;
    if (!absent(dv[0])) {
        size_t tn = num_token(dv[0], end);
        int is_int;
        int64_t iv;
        double d;
        if (!tn)
            return CDC_FALLBACK;
        if (!plain_int(dv[0], tn, &iv))
            is_int = 1;
        else if (num_value(dv[0], tn, &is_int, &iv, &d))
            return CDC_FALLBACK;
        if (is_int) {
            if (iv < 0 || iv > INT64_MAX / 1000)
                return CDC_FALLBACK;
            change = iv * 1000;
        } else {
            double ms = d * 1000.0 + 0.5;
            if (!(ms >= 0.5 && ms < MS_LIMIT))
                return CDC_FALLBACK;
            change = (int64_t)ms;
        }
        have_change = 1;
    }
    if (ch.op != OP_DELETE && !ch.nw.present)
        return CDC_FALLBACK;
    if (ch.op == OP_DELETE && !ch.old.present && !ch.keys.present)
        return CDC_FALLBACK;
    ch.ent = ch.op == OP_DELETE ? (ch.old.present ? &ch.old : &ch.keys) : &ch.nw;
    if (ch.op == OP_DELETE || !image_ts(x, &ch.nw, &ch))
        if (!change_or_record(have_change, change, r, &ch.ts))
            return CDC_FALLBACK;
    const mem_t *named = o->pk_attr ? find(x, &ch.keys, o->pk_attr) : NULL;
    if (named && named->atype && named->vn) {
        if (named->esc)
            return CDC_FALLBACK;
        *pk = (fast_pk_t){.p = (const char *)named->vb, .n = named->vn};
    } else if (!record_key(r, pk)) {
        if (!ch.keys.present)
            return CDC_FALLBACK;
        int rc = keys_pkey(x, &ch.keys, pk);
        if (rc)
            return rc;
    }
    int k = top_str(&a, 2, tv[2], &x->t, &ch.region, &ch.region_n);
    if (k < 0)
        return CDC_FALLBACK;
    if (k == 0 || ch.region_n == 0)
        ch.region = NULL;
    if (ch.op == OP_DELETE && tv[3] && *tv[3] == '{') {
        static const name_t who[] = {NM("type"), NM("principalId")};
        const u8_t *wv[2];
        if (members(tv[3], &x->t, who, 2, wv))
            return CDC_FALLBACK;
        int t = str_eq(wv[0], &x->t, "Service"),
            pi = str_eq(wv[1], &x->t, "dynamodb.amazonaws.com");
        if (t < 0 || pi < 0)
            return CDC_FALLBACK;
        ch.by_ttl = t && pi;
    }
    k = top_str(&a, 4, tv[4], &x->t, &b, &n);
    if (k < 0)
        return CDC_FALLBACK;
    if (k && n && n < sizeof ch.identity - 16) {
        memcpy(ch.identity, "dynamodb:", 9);
        memcpy(ch.identity + 9, b, n);
        ch.identity[9 + n] = 0;
    }
    return build(x, c, o, r, &ch, pk, jw);
}

/* ---- Debezium ----------------------------------------------------------- */

/* src_text() of cdc_debezium.c: 1 with the text, 0 absent, -1 escaped. */
static int src_text(const u8_t *v, const txt_t *tx, char *out, size_t size)
{
    const u8_t *b;
    size_t n;
    const u8_t *end = tx->end;
    int k = plain_str(v, tx, &b, &n), w;
    if (k < 0)
        return -1;
    if (k) {
        if (!n)
            return 0;
        w = snprintf(out, size, "%.*s", (int)n, (const char *)b);
    } else {
        size_t tn = num_token(v, end);
        int is_int;
        int64_t iv;
        double d;
        if (!tn || num_value(v, tn, &is_int, &iv, &d) || !is_int)
            return 0;
        w = snprintf(out, size, "%" PRId64, iv);
    }
    return w > 0 && (size_t)w < size;
}

static int source_identity(const u8_t *src, const txt_t *tx, char *out, size_t size)
{
    enum { CONN, NAME, LSN, TX, FILE_, POS, ROW, CLSN, COMMIT, SERIAL, SCN, RS, SSN, ORD, TS, NF };
    static const name_t names[NF] = {
        NM("connector"), NM("name"),  NM("lsn"),        NM("txId"),       NM("file"),
        NM("pos"),       NM("row"),   NM("change_lsn"), NM("commit_lsn"), NM("event_serial_no"),
        NM("scn"),       NM("rs_id"), NM("ssn"),        NM("ord"),        NM("ts_ms")};
    const u8_t *v[NF];
    char t[NF][96];
    int have[NF];
    out[0] = 0;
    for (int i = 0; i < NF; i++)
        t[i][0] = 0;
    if (!src || *src != '{')
        return 0;
    if (members(src, tx, names, NF, v))
        return -1;
    for (int i = 0; i < NF; i++) {
        /* conn and name as src_text() with buffers of 64 and 96 bytes;
         * like the tree path, a connector or name too long for its buffer
         * stays cut there, the other texts count as absent. */
        size_t sz = i == NAME ? 96 : 64;
        have[i] = src_text(v[i], tx, t[i], sz);
        if (have[i] < 0)
            return -1;
        if (!have[i] && i != CONN && i != NAME)
            t[i][0] = 0;
    }
    int n = -1;
    if (have[LSN])
        n = snprintf(out, size, "debezium:%s/%s/lsn:%s/tx:%s", t[CONN], t[NAME], t[LSN], t[TX]);
    else if (have[FILE_] && have[POS])
        n = snprintf(out, size, "debezium:%s/%s/binlog:%s:%s:%s", t[CONN], t[NAME], t[FILE_],
                     t[POS], t[ROW]);
    else if (have[CLSN])
        n = snprintf(out, size, "debezium:%s/%s/change_lsn:%s:%s:%s", t[CONN], t[NAME], t[CLSN],
                     t[COMMIT], t[SERIAL]);
    else if (have[SCN])
        n = snprintf(out, size, "debezium:%s/%s/scn:%s:%s:%s", t[CONN], t[NAME], t[SCN], t[RS],
                     t[SSN]);
    else if (have[ORD] && have[TS])
        n = snprintf(out, size, "debezium:%s/%s/ord:%s:%s", t[CONN], t[NAME], t[TS], t[ORD]);
    if (n < 0 || (size_t)n >= size)
        out[0] = 0;
    return 0;
}

/* key_text() of cdc_debezium.c: 1 usable, 0 not, CDC_FALLBACK (a real or
 * an escaped string). The decimal goes to @p buf. */
static int key_text(const mem_t *m, char *buf, size_t size, fast_pk_t *pk)
{
    if (!m)
        return 0;
    if (m->kind == V_STR && m->vn) {
        if (m->esc)
            return -1;
        *pk = (fast_pk_t){.p = (const char *)m->vb, .n = m->vn};
        return 1;
    }
    if (m->kind != V_NUM)
        return 0;
    int is_int;
    int64_t iv;
    double d;
    if (num_value(m->vb, m->vn, &is_int, &iv, &d) || !is_int)
        return -1;
    int w = snprintf(buf, size, "%" PRId64, iv);
    *pk = (fast_pk_t){.p = buf, .n = (size_t)w};
    return 1;
}

static const name_t DBZ[] = {NM("op"),    NM("before"), NM("after"),
                             NM("ts_ms"), NM("source"), NM("payload")};

/* One level of a Debezium record: the envelope itself, or its payload. */
typedef struct dbz_lvl_s {
    const u8_t *v[6];
    img_t old, nw;
    struct dbz_lvl_s *payload; /* the level below, or NULL */
    int seen;
} dbz_lvl_t;

/* before and after are written where they are met; a payload is walked. */
static const u8_t *dbz_act(fx_t *x, void *arg, size_t i, const u8_t *v)
{
    dbz_lvl_t *l = arg;
    const u8_t *after;
    if ((i == 1 || i == 2) && !absent(v))
        return put_obj(x, v, dbz_val, i == 1 ? &l->old : &l->nw);
    if (i != 5 || !l->payload || *v != '{')
        return skip_value(&x->t, v);
    if (members_act(x, v, &x->t, DBZ, 5, l->payload->v, dbz_act, l->payload, &after))
        return NULL;
    l->payload->seen = 1;
    return after;
}

static int from_dbz(fx_t *x, cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, const u8_t *p,
                    sl__jw_t *jw, fast_pk_t *pk, char *pkbuf, size_t pksize)
{
    const u8_t *end = x->end, *b;
    size_t n;
    dbz_lvl_t top, pay;
    memset(&top, 0, sizeof top);
    memset(&pay, 0, sizeof pay);
    top.payload = &pay;
    if (members_act(x, p, &x->t, DBZ, 6, top.v, dbz_act, &top, NULL))
        return x->oom || x->s.oom ? SL_ENOMEM : CDC_FALLBACK;
    dbz_lvl_t *l = &top;
    if (!top.v[0] && top.v[5]) {
        if (!pay.seen)
            return CDC_FALLBACK;
        l = &pay;
    }
    const u8_t **v = l->v;
    fch_t ch;
    /* all but the identity's bytes (a string: its first byte says) */
    memset(&ch, 0, offsetof(fch_t, identity) + 1);
    if (plain_str(v[0], &x->t, &b, &n) != 1 || n != 1)
        return CDC_FALLBACK;
    char op = (char)b[0];
    if (op == 'c' || op == 'r')
        ch.op = OP_CREATE;
    else if (op == 'u')
        ch.op = OP_UPDATE;
    else if (op == 'd')
        ch.op = OP_DELETE;
    else
        return CDC_FALLBACK;
    if ((!absent(v[1]) && *v[1] != '{') || (!absent(v[2]) && *v[2] != '{'))
        return CDC_FALLBACK;
    if ((ch.op != OP_DELETE && absent(v[2])) || (ch.op == OP_DELETE && absent(v[1])))
        return CDC_FALLBACK;
    int64_t change = 0;
    int have_change = 0;
    if (!absent(v[3])) {
        size_t tn = num_token(v[3], end);
        if (!tn || ms_of(v[3], tn, &change))
            return CDC_FALLBACK;
        have_change = 1;
    } else if (v[4] && *v[4] == '{') {
        static const name_t ts[] = {NM("ts_ms")};
        const u8_t *tv;
        if (members(v[4], &x->t, ts, 1, &tv))
            return CDC_FALLBACK;
        size_t tn = num_token(tv, end);
        have_change = tn && !ms_of(tv, tn, &change);
    }
    ch.old = l->old;
    ch.nw = l->nw;
    if (ch.op == OP_DELETE || !image_ts(x, &ch.nw, &ch))
        if (!change_or_record(have_change, change, r, &ch.ts))
            return CDC_FALLBACK;
    ch.ent = ch.op == OP_DELETE ? &ch.old : &ch.nw;
    if (op != 'r' && source_identity(v[4], &x->t, ch.identity, sizeof ch.identity))
        return CDC_FALLBACK;
    if (!record_key(r, pk)) {
        int k = key_text(find(x, ch.ent, "id"), pkbuf, pksize, pk);
        if (!k && ch.ent->n)
            k = key_text(&x->m[ch.ent->first], pkbuf, pksize, pk);
        if (k != 1)
            return CDC_FALLBACK;
    }
    return build(x, c, o, r, &ch, pk, jw);
}

void sl__cdc_keep_free(cdc_keep_t *k)
{
    sl_free(k->s);
    sl_free(k->tmp);
    sl_free(k->tags);
    *k = (cdc_keep_t){0};
}

/* The strict scanner's verdict on the record (jansson's), noted in @p c. */
static int validate_here(cvt_t *c, const sl_record_t *r, size_t len)
{
    c->validated = 1;
    c->invalid = sl_json_validate(r->value, len, NULL) != 0;
    return c->invalid;
}

int sl__cdc_fast(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, sl__jw_t *jw,
                 fast_pk_t *pk, cdc_keep_t *keep, unsigned flags)
{
    *pk = (fast_pk_t){0};
    size_t len = r->value ? r->value_len : 0;
    if (!len)
        return CDC_FALLBACK;
    /* The walk trusts the text's syntax when the engine's scanner validated
     * these bytes. Otherwise a DynamoDB record is proven JSON by the walk
     * itself when its text allows (fx_t), else validated first. */
    int prove = !(flags & CDC_VALIDATED) && o->format == SL_CDC_DYNAMODB;
    if (!(flags & CDC_VALIDATED) && !prove && validate_here(c, r, len))
        return CDC_FALLBACK;
    const u8_t *p = r->value, *end = p + len;
    p = ws(p, end);
    if (p == end || *p != '{')
        return CDC_FALLBACK;
    fx_t x;
    x.end = end;
    uint64_t qm[QW_MAX];
    x.t = (txt_t){.base = r->value, .end = end};
    x.t.qn = quote_index(r->value, len, qm, &x.t.plain, prove);
    x.t.qm = x.t.qn ? qm : NULL;
    /* Escapes, control bytes or UTF-8 in the text (or no index): the
     * validator first, as for a Debezium envelope. */
    if (prove && !x.t.plain) {
        if (flags & CDC_CHECK)
            return CDC_UNCHECKED;
        prove = 0;
        if (validate_here(c, r, len))
            return CDC_FALLBACK;
    }
    x.prove = prove;
    x.unproven = x.covered = x.abort = x.depth = 0;
    x.m = x.m0;
    x.nm = 0;
    x.capm = sizeof x.m0 / sizeof *x.m0;
    x.k = x.k0;
    x.nk = 0;
    x.capk = sizeof x.k0 / sizeof *x.k0;
    x.tmp = keep ? keep->tmp : NULL;
    x.tcap = keep ? keep->tcap : 0;
    x.oom = 0;
    x.key_first = (flags & CDC_KEY_FIRST) != 0;
    x.keep = keep;
    if (keep && !keep->tags && keep_tags(keep, o, c->fmt))
        return sl__cdc_oom(c);
    sl__jw_init(&x.s, keep ? keep->s : NULL, keep ? keep->scap : 0);
    sl__jw_reserve(&x.s, 2 * len + 64);
    char pkbuf[32];
    int rc = o->format == SL_CDC_DYNAMODB ? from_ddb(&x, c, o, r, p, jw, pk)
                                          : from_dbz(&x, c, o, r, p, jw, pk, pkbuf, sizeof pkbuf);
    int again = 0;
    c->proven = prove && rc != SL_ENOMEM && x.covered && !x.unproven;
    if (prove && rc != SL_ENOMEM && !(x.covered && !x.unproven)) {
        /* Not proven: the validator's verdict on the whole text. */
        if (validate_here(c, r, len))
            rc = CDC_FALLBACK; /* not JSON: the tree path's fault */
        else if (x.abort)
            again = 1; /* JSON nested past the proof's depth: the trusting walk */
    }
    if (!rc && pk->p == pkbuf) {
        /* the decimal key outlives this frame */
        char *own = sl_malloc(pk->n + 1);
        if (own) {
            memcpy(own, pkbuf, pk->n);
            *pk = (fast_pk_t){.p = own, .n = pk->n, .own = own};
        } else {
            rc = SL_ENOMEM;
        }
    }
    if (x.oom || x.s.oom)
        rc = SL_ENOMEM;
    if (rc) {
        sl_free(pk->own);
        *pk = (fast_pk_t){0};
    }
    if (keep) {
        /* a failed growth leaves the old buffer in place: still the keep's */
        keep->s = x.s.buf;
        keep->scap = x.s.cap;
        keep->tmp = x.tmp;
        keep->tcap = x.tcap;
    } else {
        sl_free(x.s.buf);
        sl_free(x.tmp);
    }
    if (x.m != x.m0)
        sl_free(x.m);
    if (x.k != x.k0)
        sl_free(x.k);
    if (again && rc != SL_ENOMEM)
        return sl__cdc_fast(c, o, r, jw, pk, keep, flags | CDC_VALIDATED);
    return rc == SL_ENOMEM ? sl__cdc_oom(c) : rc;
}
