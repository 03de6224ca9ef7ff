/* sluice — the strict envelope scanner (see include/sluice/record.h).
 *
 * No recursion, no allocation (the quote index below is 2 KiB of stack).
 * Its verdict must equal jansson 2.14's json_loadb(buf, len, 0):
 * tests/core/test_scan.c and tests/fuzz/fuzz_scan.c hold the two together,
 * so every rule below that looks odd is there because jansson does it that
 * way. */
#include "core/scan_int.h"
#include "sluice/error.h"
#include "sluice/record.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Byte classes. */
enum {
    C_WS = 1,    /* JSON whitespace */
    C_STR = 2,   /* ends a run of plain string bytes: " \ controls, non-ASCII */
    C_DIGIT = 4, /* 0-9 */
    C_HEX = 8    /* 0-9 a-f A-F */
};

static const unsigned char s_cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 3, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,  2,  2,  2,  2,
};

#define S_IS(c, k) (s_cls[(unsigned char)(c)] & (k))

/* Finding the first special byte of a word with ctz needs little-endian. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define S_CTZ 1
#else
#define S_CTZ 0
#endif

/* The per-token helpers must inline into the scan loop: a call per string
 * costs more than the string on short keys. */
#if defined(__GNUC__)
#define S_INLINE static inline __attribute__((always_inline))
#else
#define S_INLINE static inline
#endif

/* SSE2 (every x86-64) finds the end of a run of plain string bytes 16 at a
 * time: strings are most of an event's bytes. */
#if defined(__GNUC__) && defined(__SSE2__)
#define S_SSE2 1
#include <emmintrin.h>
#else
#define S_SSE2 0
#endif

/* Wider compares for the quote index, chosen when the scan first runs from
 * what the CPU says it has (GCC and Clang on x86-64). */
#if S_SSE2 && defined(__x86_64__)
#define S_X86 1
#include <immintrin.h>
#else
#define S_X86 0
#endif

/* Envelope members, and what kind of value each last held. */
enum { F_NONE, F_TYPE, F_ID, F_PKEY, F_TS, F_SPEC, F_TIME, F_PKEY_CE, F_COUNT };
enum { K_ABSENT, K_STR, K_INT, K_REAL, K_OTHER };

typedef struct s_field_s {
    const unsigned char *b, *e; /* string: between the quotes; number: the token */
    unsigned char kind;
    unsigned char esc;
} s_field_t;

typedef struct s_scan_s {
    const unsigned char *at; /* where the scan failed */
    const char *reason;
    int top_obj;
    s_field_t f[F_COUNT];
} s_scan_t;

/* Exponent digits saturate here: far past any exponent that changes a
 * verdict, far from int64 overflow when digit counts are added. */
#define S_EXP_SAT ((int64_t)1 << 59)

/* Significant digits kept for strtod: more than the 768 a double's halfway
 * points can need, so a sticky digit for the rest rounds as the whole would. */
#define S_MAXDIG 800

static void *s_fail(s_scan_t *sc, const unsigned char *at, const char *reason)
{
    sc->at = at;
    sc->reason = reason;
    return NULL;
}

static int s_bad(s_scan_t *sc, const unsigned char *at, const char *reason)
{
    s_fail(sc, at, reason);
    return SL_EJSON;
}

S_INLINE const unsigned char *s_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && S_IS(*p, C_WS))
        p++;
    return p;
}

/* The byte at p, or -1 at the end: lets a caller test for the byte it
 * expects first and skip whitespace only when that test fails (compact
 * JSON, the usual event, has none). */
#define S_AT(p, end) ((p) < (end) ? (int)*(p) : -1)

/* One UTF-8 sequence starting at a byte >= 0x80, by the same rules as
 * jansson's utf8_check_first/utf8_check_full: shortest form, no surrogates,
 * nothing above U+10FFFF. */
static const unsigned char *s_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t n = (size_t)(end - p);

    if (c < 0xC2 || c > 0xF4)
        return NULL;
    if (c < 0xE0)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? p + 2 : NULL;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (n < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
            return NULL;
        return p + 3;
    }
    if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
        return NULL;
    return p + 4;
}

static int s_hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    int i;

    if (end - p < 4)
        return 0;
    for (i = 0; i < 4; i++) {
        unsigned c = p[i];
        if (!S_IS(c, C_HEX))
            return 0;
        v = v << 4 | (S_IS(c, C_DIGIT) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *out = v;
    return 1;
}

/* A \u escape at p (pointing at the backslash), with jansson's rules: no
 * U+0000, a high surrogate only directly followed by a \u low surrogate.
 * Returns the code point and sets *next, or returns -1 with a reason. */
long sl__scan_uescape(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                      const char **reason)
{
    unsigned u, u2;

    if (!s_hex4(p + 2, end, &u)) {
        *reason = "invalid \\u escape";
        return -1;
    }
    if (u == 0) {
        *reason = "\\u0000 in string";
        return -1;
    }
    if (u >= 0xDC00 && u <= 0xDFFF) {
        *reason = "lone low surrogate escape";
        return -1;
    }
    if (u < 0xD800 || u > 0xDBFF) {
        *next = p + 6;
        return (long)u;
    }
    if (end - p < 8 || p[6] != '\\' || p[7] != 'u') {
        *reason = "lone high surrogate escape";
        return -1;
    }
    if (!s_hex4(p + 8, end, &u2)) {
        *reason = "invalid \\u escape";
        return -1;
    }
    if (u2 < 0xDC00 || u2 > 0xDFFF) {
        *reason = "bad low surrogate escape";
        return -1;
    }
    *next = p + 12;
    return 0x10000 + ((long)(u - 0xD800) << 10) + (long)(u2 - 0xDC00);
}

/* A string body: p is just past the opening quote. Returns the closing
 * quote; *esc is set if the string holds an escape. */
S_INLINE const unsigned char *s_string(s_scan_t *sc, const unsigned char *p,
                                       const unsigned char *end, unsigned char *esc)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    const char *reason;

    for (;;) {
#if S_SSE2
        /* 16 bytes at a time: '"', '\\', and (a signed compare) every byte
         * below 0x20 or above 0x7F. Fewer than 16 left: the word loop. */
        if (end - p >= 16) {
            const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                          space = _mm_set1_epi8(0x20);
            unsigned mask;
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            mask = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space)));
            if (!mask) {
                p += 16;
                continue;
            }
            p += (unsigned)__builtin_ctz(mask);
        } else
#endif
            /* Skip plain bytes a word at a time: flag bytes that are '"', '\\',
             * below 0x20 or above 0x7F; borrows only run upward, so the lowest
             * flag is exact. The byte loop only finishes the last word. */
            if (end - p >= 8) {
                uint64_t w, q, b, m;
                memcpy(&w, p, 8);
                q = w ^ (ones * '"');
                b = w ^ (ones * '\\');
                m = (((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w) & high;
                if (!m) {
                    p += 8;
                    continue;
                }
#if S_CTZ
                p += (unsigned)__builtin_ctzll(m) >> 3;
#else
            while (!S_IS(*p, C_STR))
                p++;
#endif
            } else {
                while (p < end && !S_IS(*p, C_STR))
                    p++;
                if (p == end)
                    return s_fail(sc, p, "unterminated string");
            }
        if (*p == '"')
            return p;
        if (*p == '\\') {
            const unsigned char *q;
            *esc = 1;
            if (end - p < 2)
                return s_fail(sc, p, "unterminated string");
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                break;
            case 'u':
                if (sl__scan_uescape(p, end, &q, &reason) < 0)
                    return s_fail(sc, p, reason);
                p = q;
                break;
            default:
                return s_fail(sc, p, "invalid escape");
            }
        } else if (*p < 0x20) {
            return s_fail(sc, p, "control character in string");
        } else {
            const unsigned char *q = s_utf8(p, end);
            if (!q)
                return s_fail(sc, p, "invalid UTF-8");
            p = q;
        }
    }
}

/* The end of a run of digits at p: eight bytes at a time where there are
 * eight (a byte is a digit when its high nibble is 3 and its low nibble
 * plus 6 stays below 16; no carry crosses a byte). */
S_INLINE const unsigned char *s_digits(const unsigned char *p, const unsigned char *end)
{
#if S_CTZ
    while (end - p >= 8) {
        uint64_t w, nd;
        memcpy(&w, p, 8);
        nd = ((w & 0xF0F0F0F0F0F0F0F0u) ^ 0x3030303030303030u) |
             (((w & 0x0F0F0F0F0F0F0F0Fu) + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u);
        if (nd)
            return p + ((unsigned)__builtin_ctzll(nd) >> 3);
        p += 8;
    }
#endif
    while (p < end && S_IS(*p, C_DIGIT))
        p++;
    return p;
}

/* The exact value of a validated JSON number, as strtod (so jansson) rounds
 * it, from a bounded copy with no decimal point (so no locale dependence). */
static double s_number_value(const unsigned char *p, const unsigned char *end, int *overflow)
{
    char buf[S_MAXDIG + 32];
    size_t n = 0, lead, dropped = 0;
    int64_t nfrac = 0, x = 0, e;
    int in_frac = 0, sticky = 0, saved = errno;
    double v;

    if (*p == '-')
        buf[n++] = *p++;
    lead = n;
    for (; p < end && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') {
            in_frac = 1;
            continue;
        }
        nfrac += in_frac;
        if (n == lead && *p == '0')
            continue;
        if (n - lead < S_MAXDIG) {
            buf[n++] = (char)*p;
        } else {
            dropped++;
            sticky |= *p != '0';
        }
    }
    if (p < end) {
        int neg = 0;
        p++;
        if (*p == '+' || *p == '-')
            neg = *p++ == '-';
        for (; p < end; p++)
            if (x < S_EXP_SAT)
                x = x * 10 + (*p - '0');
        if (neg)
            x = -x;
    }
    *overflow = 0;
    if (n == lead)
        return lead ? -0.0 : 0.0;
    e = x - nfrac + (int64_t)dropped;
    if (sticky) {
        buf[n++] = '1';
        e--;
    }
    /* Past +-100000 strtod saturates to inf or zero either way. */
    if (e > 100000)
        e = 100000;
    else if (e < -100000)
        e = -100000;
    snprintf(buf + n, sizeof buf - n, "e%ld", (long)e);
    errno = 0;
    v = strtod(buf, NULL);
    *overflow = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
    errno = saved;
    return v;
}

/* A number token at p. Integers must fit int64 (strtoll) and reals must
 * not overflow to inf (strtod): both are decided from digit positions, and
 * only when the leading digit sits exactly at 10^308 by calling strtod. */
S_INLINE const unsigned char *s_number(s_scan_t *sc, const unsigned char *p,
                                       const unsigned char *end, unsigned char *kind)
{
    const unsigned char *s = p, *ib, *fb = NULL, *fe = NULL;
    int64_t x = 0, e10;
    size_t ni;
    int has_exp = 0, ovf;

    if (*p == '-')
        p++;
    ib = p;
    if (p == end || !S_IS(*p, C_DIGIT))
        return s_fail(sc, p, "invalid number");
    if (*p == '0') {
        p++;
        if (p < end && S_IS(*p, C_DIGIT))
            return s_fail(sc, p, "leading zero in number");
    } else {
        p = s_digits(p + 1, end);
    }
    ni = (size_t)(p - ib);
    if (p < end && *p == '.') {
        fb = ++p;
        if (p == end || !S_IS(*p, C_DIGIT))
            return s_fail(sc, p, "invalid number");
        p = s_digits(p + 1, end);
        fe = p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int neg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            neg = *p++ == '-';
        if (p == end || !S_IS(*p, C_DIGIT))
            return s_fail(sc, p, "invalid number");
        do {
            if (x < S_EXP_SAT)
                x = x * 10 + (*p - '0');
            p++;
        } while (p < end && S_IS(*p, C_DIGIT));
        if (neg)
            x = -x;
        has_exp = 1;
    }
    if (!fb && !has_exp) {
        *kind = K_INT;
        if (ni >= 19 &&
            (ni > 19 ||
             memcmp(ib, *s == '-' ? "9223372036854775808" : "9223372036854775807", 19) > 0))
            return s_fail(sc, s, "integer out of range");
        return p;
    }
    *kind = K_REAL;
    if (*ib != '0') {
        e10 = (int64_t)ni - 1 + x;
    } else {
        /* 0.000ddd: the leading digit is the first non-zero fraction digit. */
        const unsigned char *q = fb;
        if (!fb || x <= 308)
            return p;
        while (q < fe && *q == '0')
            q++;
        if (q == fe)
            return p;
        e10 = x - (int64_t)(q - fb) - 1;
    }
    if (e10 < 308)
        return p;
    ovf = 1;
    if (e10 == 308)
        s_number_value(s, p, &ovf);
    if (ovf)
        return s_fail(sc, s, "number overflows double");
    return p;
}

/* Eight bytes as a word, to compare names of 9 to 12 bytes in two steps
 * (memcmp of those lengths is a call). */
S_INLINE uint64_t s_ld8(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

S_INLINE int s_field_id(const char *k, size_t n)
{
    switch (n) {
    case 2:
        return memcmp(k, "id", 2) ? F_NONE : F_ID;
    case 4:
        if (!memcmp(k, "type", 4))
            return F_TYPE;
        return memcmp(k, "time", 4) ? F_NONE : F_TIME;
    case 9:
        return s_ld8(k) == s_ld8("timestam") && k[8] == 'p' ? F_TS : F_NONE;
    case 11:
        return s_ld8(k) == s_ld8("specvers") && !memcmp(k + 8, "ion", 3) ? F_SPEC : F_NONE;
    case 12:
        if (s_ld8(k) != s_ld8("partitio"))
            return F_NONE;
        if (!memcmp(k + 8, "nKey", 4))
            return F_PKEY;
        return memcmp(k + 8, "nkey", 4) ? F_NONE : F_PKEY_CE;
    default:
        return F_NONE;
    }
}

/* A top-level key, which may be written with escapes ("ty\u0070e"). */
S_INLINE int s_match_key(const unsigned char *b, const unsigned char *e, int esc)
{
    char tmp[16];
    size_t n;
    sl_span_t sp;

    if (!esc)
        return s_field_id((const char *)b, (size_t)(e - b));
    sp.ptr = (const char *)b;
    sp.len = (size_t)(e - b);
    if (sl_span_unescape(sp, tmp, sizeof tmp, &n))
        return F_NONE;
    return s_field_id(tmp, n);
}

/* ---- the quote index ----
 *
 * The string scan above follows a chain: where one string ends decides
 * where the next load starts, so a text of short strings waits on that
 * chain more than it computes. Most events hold no escape, no control byte
 * and no byte above 0x7F, and in such a text every '"' opens or closes a
 * string, and every string is valid. One pass over the text (no chain:
 * the 16-byte blocks are independent) then sets a bit per quote, and the
 * walk below takes each string's end from those bits, in order, instead of
 * scanning for it. The walk still reads every byte outside strings, so it
 * meets each opening quote exactly where the bits say it is; it checks
 * that anyway. Any other text, and any failure in this mode, goes to the
 * byte scanner, which alone reports errors (so reasons and offsets are
 * the byte scanner's, always). Measured on bench_batch's events: about
 * 1.4x the byte scanner's speed. The index takes the widest compares the
 * CPU has: with AVX-512BW rather than SSE2 the whole scan took 127-129 ns
 * an event against 134-139 (bench_batch --case scan, three alternations). */

/* Bytes one index covers (64 per word): a bigger text takes the byte
 * scanner. */
#define S_QWORDS 256

typedef struct s_quotes_s {
    const uint64_t *m;       /* bit k of word w: byte 64w+k is a '"' */
    size_t nw, w;            /* words; the one being taken from */
    uint64_t cur;            /* its quotes not taken yet */
    const unsigned char *at; /* the byte of its bit 0 */
} s_quotes_t;

/* The next quote of the text, or NULL when there is none. The bits are
 * taken in order, so no step waits on where the last string ended. */
S_INLINE const unsigned char *s_qtake(s_quotes_t *qs)
{
#if S_SSE2
    const unsigned char *q;

    while (!qs->cur) {
        if (qs->w + 1 >= qs->nw)
            return NULL;
        qs->cur = qs->m[++qs->w];
        qs->at += 64;
    }
    q = qs->at + __builtin_ctzll(qs->cur);
    qs->cur &= qs->cur - 1;
    return q;
#else
    (void)qs; /* no index is ever built (s_index) */
    return NULL;
#endif
}

/* The closing quote of the string that opens at p, from the index; NULL
 * when p is not the next quote or the string has no end. */
S_INLINE const unsigned char *s_quoted(s_quotes_t *qs, const unsigned char *p)
{
    if (s_qtake(qs) != p)
        return NULL;
    return s_qtake(qs);
}

#if S_SSE2
/* The bits of the quotes in 16 bytes; *bs collects those of '\\' and *ctl
 * those of bytes below 0x20 or above 0x7F (a signed compare). */
S_INLINE uint64_t s_block16(const unsigned char *p, unsigned *bs, unsigned *ctl)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

    *bs |= (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash));
    *ctl |= (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, space));
    return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
}

S_INLINE uint64_t s_block64(const unsigned char *p, unsigned *bs, unsigned *ctl)
{
    return s_block16(p, bs, ctl) | s_block16(p + 16, bs, ctl) << 16 |
           s_block16(p + 32, bs, ctl) << 32 | s_block16(p + 48, bs, ctl) << 48;
}

static size_t s_index_sse2(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags)
{
    unsigned char tail[64];
    unsigned bs = 0, ctl = 0;
    size_t i, w = 0;

    for (i = 0; len - i >= 64; i += 64)
        m[w++] = s_block64(p + i, &bs, &ctl);
    if (i < len) {
        /* The last bytes, padded with spaces: neither quotes nor special. */
        memset(tail, ' ', sizeof tail);
        memcpy(tail, p + i, len - i);
        m[w++] = s_block64(tail, &bs, &ctl);
    }
    *flags = (bs ? SL__QI_BSLASH : 0) | (ctl ? SL__QI_CTL : 0);
    return w;
}
#endif

#if S_X86
/* The same with 32-byte compares: half the loads and masks of SSE2. */
__attribute__((target("avx2"))) static size_t s_index_avx2(const unsigned char *p, size_t len,
                                                           uint64_t *m, unsigned *flags)
{
    const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\'),
                  space = _mm256_set1_epi8(0x20);
    unsigned char tail[64];
    __m256i bs = _mm256_setzero_si256(), ctl = _mm256_setzero_si256();
    size_t i, w = 0;

    for (i = 0;; i += 64) {
        const unsigned char *b = p + i;
        if (len - i < 64) {
            if (i == len)
                break;
            memset(tail, ' ', sizeof tail);
            memcpy(tail, b, len - i);
            b = tail;
        }
        __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)b);
        __m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32));
        bs = _mm256_or_si256(
            bs, _mm256_or_si256(_mm256_cmpeq_epi8(lo, bslash), _mm256_cmpeq_epi8(hi, bslash)));
        ctl = _mm256_or_si256(
            ctl, _mm256_or_si256(_mm256_cmpgt_epi8(space, lo), _mm256_cmpgt_epi8(space, hi)));
        m[w++] = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, quote)) |
                 (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, quote)) << 32;
        if (b == tail)
            break;
    }
    *flags = (_mm256_movemask_epi8(bs) ? SL__QI_BSLASH : 0) |
             (_mm256_movemask_epi8(ctl) ? SL__QI_CTL : 0);
    return w;
}

/* And with 64-byte compares into mask registers: one load and three
 * compares a word; the last bytes by a masked load, which reads nothing
 * past the text. */
__attribute__((target("avx512bw"))) static size_t s_index_avx512(const unsigned char *p, size_t len,
                                                                 uint64_t *m, unsigned *flags)
{
    const __m512i quote = _mm512_set1_epi8('"'), bslash = _mm512_set1_epi8('\\'),
                  space = _mm512_set1_epi8(0x20);
    uint64_t bs = 0, ctl = 0;
    size_t i, w = 0;

    for (i = 0; len - i >= 64; i += 64) {
        __m512i v = _mm512_loadu_si512((const void *)(p + i));
        bs |= _mm512_cmpeq_epi8_mask(v, bslash);
        ctl |= _mm512_cmplt_epi8_mask(v, space);
        m[w++] = _mm512_cmpeq_epi8_mask(v, quote);
    }
    if (i < len) {
        __mmask64 k = (1ull << (len - i)) - 1;
        __m512i v = _mm512_maskz_loadu_epi8(k, (const void *)(p + i));
        bs |= _mm512_mask_cmpeq_epi8_mask(k, v, bslash);
        ctl |= _mm512_mask_cmplt_epi8_mask(k, v, space);
        m[w++] = _mm512_mask_cmpeq_epi8_mask(k, v, quote);
    }
    *flags = (bs ? SL__QI_BSLASH : 0) | (ctl ? SL__QI_CTL : 0);
    return w;
}
#endif

/* The widest index this CPU runs (SL__ISA_*), asked of it once. */
static _Atomic int s_isa_best = -1;

static int s_isa_detect(void)
{
#if S_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bw"))
        return SL__ISA_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return SL__ISA_AVX2;
#endif
    return S_SSE2 ? SL__ISA_SSE2 : SL__ISA_NONE;
}

int sl__scan_isa(void)
{
    int isa = atomic_load_explicit(&s_isa_best, memory_order_relaxed);
    if (isa < 0) {
        isa = s_isa_detect();
        atomic_store_explicit(&s_isa_best, isa, memory_order_relaxed);
    }
    return isa;
}

size_t sl__quote_index_isa(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags,
                           int isa)
{
    *flags = SL__QI_BSLASH | SL__QI_CTL;
    switch (isa) {
#if S_X86
    case SL__ISA_AVX512:
        return s_index_avx512(p, len, m, flags);
    case SL__ISA_AVX2:
        return s_index_avx2(p, len, m, flags);
#endif
#if S_SSE2
    case SL__ISA_SSE2:
        return s_index_sse2(p, len, m, flags);
#endif
    default:
        return 0;
    }
}

size_t sl__quote_index(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags)
{
    return sl__quote_index_isa(p, len, m, flags, sl__scan_isa());
}

/* Fills m with the quote bits of the text; returns how many words, or 0
 * when the text holds '\\', a byte below 0x20 or above 0x7F, or is longer
 * than S_QWORDS words (or when no index can be made): then the byte
 * scanner runs instead. */
static size_t s_index(const unsigned char *p, size_t len, uint64_t *m)
{
    unsigned flags;
    if (len > 64 * S_QWORDS)
        return 0;
    size_t w = sl__quote_index(p, len, m, &flags);
    return flags ? 0 : w;
}

/* ---- pointers found on the way (sl__envelope_scan_ptrs) ----
 *
 * The walk knows, for each open object down to SL__SCAN_PTR_TOKS, which
 * registered pointers its path still matches (live); a member whose name is
 * the next token of such a pointer either is the pointer's value (full) or
 * opens the rest of its path (pref). Every new occurrence of a prefix
 * forgets what an earlier one found: of duplicate members the last counts.
 * A container value's end is taken when it closes (close, by depth). */
typedef struct s_cap_s {
    const sl__scan_ptrs_t *want;
    sl__scan_hits_t *hits;
    uint64_t lens[SL__SCAN_PTR_TOKS + 1]; /* by depth: want->lens of the names there */
    uint8_t live[SL__SCAN_PTR_TOKS + 2];  /* by depth */
    uint8_t close[SL__SCAN_PTR_TOKS + 2]; /* by depth: pointers whose value that container is */
    uint8_t full, pref; /* of the member whose value comes next; 0 once it is read */
    uint8_t unsure;     /* an escaped name on a live path */
} s_cap_t;

static void s_cap_reset(s_cap_t *c)
{
    memset(c->hits, 0, sizeof *c->hits);
    memset(c->live, 0, sizeof c->live);
    memset(c->close, 0, sizeof c->close);
    c->full = 0;
    c->pref = (uint8_t)((1u << c->want->n) - 1); /* the document is every path's start */
    c->unsure = 0;
    c->lens[0] = 0;
    memcpy(c->lens + 1, c->want->lens, sizeof c->want->lens);
}

int sl__scan_ptrs_add(sl__scan_ptrs_t *set, const sl__scan_ptr_t *w)
{
    size_t i, t;

    if (!w->ntok || w->ntok > SL__SCAN_PTR_TOKS)
        return -1;
    for (i = 0; i < set->n; i++) {
        const sl__scan_ptr_t *h = &set->p[i];
        if (h->ntok != w->ntok)
            continue;
        for (t = 0; t < w->ntok; t++)
            if (h->len[t] != w->len[t] || memcmp(h->tok[t], w->tok[t], w->len[t]))
                break;
        if (t == w->ntok)
            return (int)i;
    }
    if (set->n == SL__SCAN_PTRS)
        return -1;
    set->p[set->n] = *w;
    for (t = 0; t < w->ntok; t++)
        set->lens[t] |= 1ull << (w->len[t] & 63);
    return (int)set->n++;
}

/* The member named [kb, ke) in the object at @p depth. */
S_INLINE void s_cap_key(s_cap_t *c, size_t depth, const unsigned char *kb, const unsigned char *ke,
                        unsigned char esc)
{
    unsigned live, full = 0, pref = 0;
    size_t n = (size_t)(ke - kb);

    /* full and pref are 0 here: the value before, or the object's opening,
     * took them */
    if (depth > SL__SCAN_PTR_TOKS || !(live = c->live[depth]))
        return;
    if (esc) {
        c->unsure = 1; /* names are compared raw: leave this text to the reader */
        return;
    }
    if (!(c->lens[depth] >> (n & 63) & 1))
        return;
    for (size_t i = 0; live; i++, live >>= 1) {
        const sl__scan_ptr_t *pt = &c->want->p[i];
        const char *tok = pt->tok[depth - 1];
        size_t k = 0;
        if (!(live & 1) || pt->len[depth - 1] != n)
            continue;
        while (k < n && tok[k] == (char)kb[k]) /* names are short: no call */
            k++;
        if (k < n)
            continue;
        if (pt->ntok == depth)
            full |= 1u << i;
        else
            pref |= 1u << i;
    }
    if (full | pref) {
        c->full = (uint8_t)full;
        c->pref = (uint8_t)pref;
        c->hits->found &= (uint8_t) ~(full | pref);
    }
}

/* A scalar value [v, e) of the member just named. */
S_INLINE void s_cap_scalar(s_cap_t *c, const unsigned char *v, const unsigned char *e)
{
    unsigned f = c->full;
    c->full = c->pref = 0;
    c->hits->found |= (uint8_t)f;
    for (size_t i = 0; f; i++, f >>= 1)
        if (f & 1)
            c->hits->at[i] = (sl_span_t){(const char *)v, (size_t)(e - v)};
}

/* A container opening at @p v as the value at @p depth (its own depth,
 * after the push); @p obj when it is an object. */
S_INLINE void s_cap_open(s_cap_t *c, size_t depth, const unsigned char *v, int obj)
{
    unsigned f = c->full;
    if (depth <= SL__SCAN_PTR_TOKS + 1) {
        c->close[depth] = (uint8_t)f;
        c->live[depth] = obj && depth <= SL__SCAN_PTR_TOKS ? c->pref : 0;
    }
    for (size_t i = 0; f; i++, f >>= 1)
        if (f & 1)
            c->hits->at[i].ptr = (const char *)v;
    c->full = c->pref = 0;
}

/* The container at @p depth closed; @p e is just past it. */
S_INLINE void s_cap_close(s_cap_t *c, size_t depth, const unsigned char *e)
{
    unsigned f;
    if (depth > SL__SCAN_PTR_TOKS + 1 || !(f = c->close[depth]))
        return;
    c->hits->found |= (uint8_t)f;
    for (size_t i = 0; f; i++, f >>= 1)
        if (f & 1)
            c->hits->at[i].len = (size_t)((const char *)e - c->hits->at[i].ptr);
}

/* An object member's key and colon: p is where the key's opening quote
 * should be, maybe after whitespace. With match set (a top-level member),
 * *rec becomes the envelope slot the value goes to, or NULL. With @p cap,
 * the member is matched against the pointers live at @p depth. */
S_INLINE const unsigned char *s_key(s_scan_t *sc, s_quotes_t *qs, const unsigned char *p,
                                    const unsigned char *end, int match, s_field_t **rec,
                                    s_cap_t *cap, size_t depth)
{
    const unsigned char *kb;
    unsigned char esc = 0;

    if (S_AT(p, end) != '"') {
        p = s_ws(p, end);
        if (p == end || *p != '"')
            return s_fail(sc, p, "expected string key");
    }
    kb = p + 1;
    p = qs ? s_quoted(qs, p) : s_string(sc, kb, end, &esc);
    if (!p)
        return NULL;
    if (match) {
        int field = s_match_key(kb, p, esc);
        *rec = field ? &sc->f[field] : NULL;
    }
    if (cap)
        s_cap_key(cap, depth, kb, p, esc);
    p++;
    if (S_AT(p, end) != ':') {
        p = s_ws(p, end);
        if (p == end || *p != ':')
            return s_fail(sc, p, "expected ':'");
    }
    return p + 1;
}

/* The validator. With want set, the last value of each top-level envelope
 * member is kept in sc->f. Open containers live on a stack that the depth
 * limit bounds: nothing here recurses. Whitespace is skipped only where the
 * byte that should come next is not there. */
S_INLINE int s_walk(s_scan_t *sc, s_quotes_t *qs, const unsigned char *p, const unsigned char *end,
                    int want, s_cap_t *cap)
{
    unsigned char objs[SL_JSON_MAX_DEPTH]; /* 1 for an object; written on push */
    size_t depth = 0;
    int in_obj = 0;
    s_field_t *rec = NULL; /* where the value about to be read goes, if anywhere */

    p = s_ws(p, end);
    if (p == end || (*p != '{' && *p != '['))
        return s_bad(sc, p, "expected '{' or '['");
    sc->top_obj = *p == '{';

    for (;;) {
        const unsigned char *v;
        unsigned char kind, esc = 0;

        /* A value starts here; jansson counts scalars in the depth too. */
        if (S_AT(p, end) <= ' ') {
            p = s_ws(p, end);
            if (p == end)
                return s_bad(sc, p, "unexpected end of input");
        }
        if (depth >= SL_JSON_MAX_DEPTH) {
            s_bad(sc, p, "nesting too deep");
            return SL_EDEPTH;
        }
        v = p;
        if (*p == '"') {
            /* Most values are strings: before the switch's jump table. */
            p = qs ? s_quoted(qs, p) : s_string(sc, p + 1, end, &esc);
            if (!p)
                return SL_EJSON;
            if (rec) {
                rec->b = v + 1;
                rec->e = p;
                rec->kind = K_STR;
                rec->esc = esc;
            }
            p++;
            if (cap && (cap->full | cap->pref))
                s_cap_scalar(cap, v, p);
        } else
            switch (*p) {
            case '{':
            case '[':
                if (rec) {
                    rec->b = p;
                    rec->e = p + 1;
                    rec->kind = K_OTHER;
                }
                in_obj = *p == '{';
                objs[depth++] = (unsigned char)in_obj;
                if (cap)
                    s_cap_open(cap, depth, p, in_obj);
                p++;
                if (p < end && S_IS(*p, C_WS))
                    p = s_ws(p, end);
                if (p < end && *p == (in_obj ? '}' : ']')) {
                    p++;
                    if (cap)
                        s_cap_close(cap, depth, p);
                    depth--;
                    if (depth)
                        in_obj = objs[depth - 1];
                    rec = NULL;
                    break;
                }
                rec = NULL;
                if (in_obj && !(p = s_key(sc, qs, p, end, want && depth == 1, &rec, cap, depth)))
                    return SL_EJSON;
                continue;
            case '-':
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                p = s_number(sc, p, end, &kind);
                if (!p)
                    return SL_EJSON;
                if (rec) {
                    rec->b = v;
                    rec->e = p;
                    rec->kind = kind;
                }
                /* jansson quirk: the byte after a number is "ungot" into its
                 * lookahead buffer, where a NUL reads as empty: it is dropped
                 * (a pointer's span keeps it, as a walk of the text does). */
                if (p < end && *p == 0)
                    p++;
                if (cap && (cap->full | cap->pref))
                    s_cap_scalar(cap, v, p);
                break;
            case 't':
            case 'f':
            case 'n': {
                const char *w = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
                size_t n = *p == 'f' ? 5 : 4;
                if ((size_t)(end - p) < n || memcmp(p, w, n))
                    return s_bad(sc, p, "invalid literal");
                p += n;
                if (rec) {
                    rec->b = v;
                    rec->e = p;
                    rec->kind = K_OTHER;
                }
                if (p < end && *p == 0) /* the same NUL quirk as for numbers */
                    p++;
                if (cap && (cap->full | cap->pref))
                    s_cap_scalar(cap, v, p);
                break;
            }
            default:
                return s_bad(sc, p, "unexpected character");
            }

        /* A value ended: close containers until one goes on with a ','. */
        for (;;) {
            int c = S_AT(p, end);
            if (depth == 0) {
                p = s_ws(p, end);
                if (p != end)
                    return s_bad(sc, p, "trailing characters after JSON text");
                return 0;
            }
            if (c == ',') {
                rec = NULL;
                if (in_obj &&
                    !(p = s_key(sc, qs, p + 1, end, want && depth == 1, &rec, cap, depth)))
                    return SL_EJSON;
                if (!in_obj)
                    p++;
                break;
            }
            if (c == (in_obj ? '}' : ']')) {
                p++;
                if (cap)
                    s_cap_close(cap, depth, p);
                depth--;
                if (depth)
                    in_obj = objs[depth - 1];
                continue;
            }
            if (c >= 0 && S_IS(c, C_WS)) {
                p = s_ws(p + 1, end);
                continue;
            }
            if (c < 0)
                return s_bad(sc, p, "unexpected end of input");
            return s_bad(sc, p, in_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

/* The walk over the quote index when the text allows it, else (or when
 * that walk fails, to find the error) over the bytes. */
S_INLINE int s_scan(s_scan_t *sc, const unsigned char *p, const unsigned char *end, int want,
                    s_cap_t *cap)
{
    uint64_t m[S_QWORDS];
    s_quotes_t qs;

    qs.nw = s_index(p, (size_t)(end - p), m);
    if (qs.nw) {
        qs.m = m;
        qs.w = 0;
        qs.cur = m[0];
        qs.at = p;
        if (cap)
            s_cap_reset(cap);
        if (s_walk(sc, &qs, p, end, want, cap) == 0)
            return 0;
        if (want)
            memset(sc->f, 0, sizeof sc->f);
    }
    if (cap)
        s_cap_reset(cap);
    return s_walk(sc, NULL, p, end, want, cap);
}

static void s_err_out(sl_scan_error_t *err, const s_scan_t *sc, const unsigned char *base)
{
    if (err) {
        err->offset = (size_t)(sc->at - base);
        err->reason = sc->reason;
    }
}

int sl_json_validate(const void *buf, size_t len, sl_scan_error_t *err)
{
    s_scan_t sc;
    const unsigned char *p = buf;
    int rc;

    if (!p) {
        if (err) {
            err->offset = 0;
            err->reason = "no input";
        }
        return SL_EJSON;
    }
    /* Every failure sets both; set here too, for compilers that cannot see it. */
    sc.at = p;
    sc.reason = "invalid JSON";
    rc = s_scan(&sc, p, p + len, 0, NULL);
    if (rc)
        s_err_out(err, &sc, p);
    return rc;
}

static int64_t s_int_value(const unsigned char *p, const unsigned char *end)
{
    uint64_t u = 0;
    int neg = *p == '-';

    p += neg;
#if S_CTZ
    /* Eight digits at a time (a 13-digit epoch in ms takes one step and
     * five single ones): pairs, then fours, then the eight. */
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w -= 0x3030303030303030u;
        w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFu;
        w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFu;
        w = (w * 10000 + (w >> 32)) & 0xFFFFFFFFu;
        u = u * 100000000u + w;
        p += 8;
    }
#endif
    for (; p < end; p++)
        u = u * 10 + (uint64_t)(*p - '0');
    if (!neg)
        return (int64_t)u;
    return u ? -(int64_t)(u - 1) - 1 : 0;
}

/* An RFC 3339 string member (possibly written with escapes). A time with
 * escapes is unescaped one character at a time into a small buffer; a
 * fraction has no length limit, so its digits past the twelfth are checked
 * to be digits but not kept (they add nothing to the milliseconds): a valid
 * time then always fits, as it does without escapes (a 64-byte copy of the
 * whole text refused a long fraction only when it was escaped). */
static int s_time_value(const s_field_t *f, int64_t *ms)
{
    char tmp[64];
    size_t n = 0, frac = 0; /* frac: the fraction's digits so far */
    int in_frac = 0;
    const unsigned char *p = f->b;

    if (f->kind != K_STR)
        return SL_EFIELD;
    if (!f->esc)
        return sl_rfc3339_parse((const char *)f->b, (size_t)(f->e - f->b), ms);
    while (p < f->e) {
        char c[4];
        size_t k = 1, cl;
        if (*p == '\\')
            k = f->e - p >= 6 && p[1] == 'u' ? 6 : 2;
        /* RFC 3339 is ASCII: an escape of anything else (a surrogate half
         * too) fails here or in the parse, as it should. */
        if ((size_t)(f->e - p) < k ||
            sl_span_unescape((sl_span_t){(const char *)p, k}, c, sizeof c, &cl) || cl != 1)
            return SL_EFIELD;
        p += k;
        if (n == 20 && tmp[19] == '.')
            in_frac = 1; /* "YYYY-MM-DDTHH:MM:SS." read: the fraction's digits follow */
        if (in_frac && !(c[0] >= '0' && c[0] <= '9'))
            in_frac = 0;
        else if (in_frac && ++frac > 12)
            continue; /* a fraction digit past the twelfth */
        if (n == sizeof tmp)
            return SL_EFIELD; /* longer than any valid time once its fraction is cut */
        tmp[n++] = c[0];
    }
    return sl_rfc3339_parse(tmp, n, ms);
}

static int s_timestamp(const s_field_t *f, int64_t *ms)
{
    double v;
    int ovf;

    switch (f->kind) {
    case K_INT:
        *ms = s_int_value(f->b, f->e);
        return 0;
    case K_REAL:
        v = s_number_value(f->b, f->e, &ovf);
        if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
            return SL_EFIELD;
        *ms = (int64_t)v;
        return 0;
    default:
        return s_time_value(f, ms);
    }
}

static sl_span_t s_span(const s_field_t *f)
{
    sl_span_t sp;
    sp.ptr = (const char *)f->b;
    sp.len = (size_t)(f->e - f->b);
    return sp;
}

static int s_field_fail(sl_scan_error_t *err, const unsigned char *base, const s_field_t *f,
                        int code, const char *reason)
{
    if (err) {
        err->offset = f && f->b ? (size_t)(f->b - base) : 0;
        err->reason = reason;
    }
    return code;
}

/* sl_envelope_scan(), and with @p cap the pointers found on the way. */
S_INLINE int s_envelope(const void *buf, size_t len, sl_envelope_t *env, sl_scan_error_t *err,
                        s_cap_t *cap)
{
    s_scan_t sc;
    const unsigned char *base = buf;
    const s_field_t *f;
    sl_envelope_t tmp;
    int rc;

    if (!env)
        env = &tmp;
    memset(env, 0, sizeof *env);
    if (!base) {
        if (err) {
            err->offset = 0;
            err->reason = "no input";
        }
        return SL_EJSON;
    }
    memset(sc.f, 0, sizeof sc.f);
    sc.at = base;
    sc.reason = "invalid JSON";
    rc = s_scan(&sc, base, base + len, 1, cap);
    if (cap)
        cap->hits->known = rc == 0 && !cap->unsure;
    if (rc) {
        s_err_out(err, &sc, base);
        return rc;
    }
    if (!sc.top_obj)
        return s_field_fail(err, base, NULL, SL_ENOTEVENT, "not a JSON object");

    f = &sc.f[F_TYPE];
    if (f->kind == K_ABSENT)
        return s_field_fail(err, base, NULL, SL_ENOTYPE, "missing type");
    if (f->kind != K_STR)
        return s_field_fail(err, base, f, SL_ENOTYPE, "type is not a string");
    if (f->e == f->b)
        return s_field_fail(err, base, f, SL_ENOTYPE, "empty type");
    env->type = s_span(f);
    env->flags = SL_ENV_TYPE | (f->esc ? SL_ENV_TYPE_ESC : 0u);

    f = &sc.f[F_ID];
    if (f->kind != K_ABSENT) {
        if (f->kind != K_STR)
            goto bad_id;
        env->id = s_span(f);
        env->flags |= SL_ENV_ID | (f->esc ? SL_ENV_ID_ESC : 0u);
    }

    f = sc.f[F_PKEY].kind != K_ABSENT ? &sc.f[F_PKEY] : &sc.f[F_PKEY_CE];
    if (f->kind != K_ABSENT) {
        if (f->kind != K_STR)
            goto bad_pkey;
        env->partition_key = s_span(f);
        env->flags |= SL_ENV_PKEY | (f->esc ? SL_ENV_PKEY_ESC : 0u);
    }

    f = &sc.f[F_TS];
    if (f->kind != K_ABSENT) {
        if (s_timestamp(f, &env->timestamp))
            goto bad_ts;
        env->flags |= SL_ENV_TIMESTAMP;
    } else if ((f = &sc.f[F_TIME])->kind != K_ABSENT) {
        if (s_time_value(f, &env->timestamp))
            goto bad_ts;
        env->flags |= SL_ENV_TIMESTAMP;
    }

    if (sc.f[F_SPEC].kind != K_ABSENT)
        env->flags |= SL_ENV_CLOUDEVENTS;
    return 0;

bad_id:
    rc = s_field_fail(err, base, f, SL_EFIELD, "id is not a string");
    goto fail;
bad_pkey:
    rc = s_field_fail(err, base, f, SL_EFIELD, "partition key is not a string");
    goto fail;
bad_ts:
    rc = s_field_fail(err, base, f, SL_EFIELD, "timestamp is not a number or RFC 3339 time");
fail:
    memset(env, 0, sizeof *env);
    return rc;
}

int sl_envelope_scan(const void *buf, size_t len, sl_envelope_t *env, sl_scan_error_t *err)
{
    return s_envelope(buf, len, env, err, NULL);
}

int sl__envelope_scan_ptrs(const void *buf, size_t len, sl_envelope_t *env, sl_scan_error_t *err,
                           const sl__scan_ptrs_t *want, sl__scan_hits_t *hits)
{
    s_cap_t cap;

    memset(hits, 0, sizeof *hits);
    if (!want->n)
        return s_envelope(buf, len, env, err, NULL);
    cap.want = want;
    cap.hits = hits;
    return s_envelope(buf, len, env, err, &cap);
}

int sl_envelope_from_headers(const sl_header_t *headers, size_t count, sl_envelope_t *env)
{
    const sl_header_t *h[F_COUNT] = {NULL};
    sl_envelope_t tmp;
    size_t i;
    int64_t ms = 0;

    if (!env)
        env = &tmp;
    memset(env, 0, sizeof *env);
    for (i = 0; headers && i < count; i++) {
        const char *n = headers[i].name;
        int id = F_NONE;
        if (!n || strncmp(n, "ce_", 3) != 0)
            continue;
        n += 3;
        if (!strcmp(n, "type"))
            id = F_TYPE;
        else if (!strcmp(n, "id"))
            id = F_ID;
        else if (!strcmp(n, "partitionkey"))
            id = F_PKEY;
        else if (!strcmp(n, "time"))
            id = F_TIME;
        else if (!strcmp(n, "specversion"))
            id = F_SPEC;
        if (id != F_NONE)
            h[id] = &headers[i]; /* last wins, like rd_kafka_header_get_last() */
    }
    if (!h[F_TYPE])
        return 0;
    if (!h[F_TYPE]->value_len || !h[F_TYPE]->value)
        return SL_EFIELD;
    if (h[F_TIME] &&
        (!h[F_TIME]->value || sl_rfc3339_parse(h[F_TIME]->value, h[F_TIME]->value_len, &ms) != 0))
        return SL_EFIELD;

    env->type.ptr = h[F_TYPE]->value;
    env->type.len = h[F_TYPE]->value_len;
    env->flags = SL_ENV_TYPE | SL_ENV_BINARY | SL_ENV_CLOUDEVENTS;
    if (h[F_ID]) {
        env->id.ptr = h[F_ID]->value ? (const char *)h[F_ID]->value : "";
        env->id.len = h[F_ID]->value ? h[F_ID]->value_len : 0;
        env->flags |= SL_ENV_ID;
    }
    if (h[F_PKEY]) {
        env->partition_key.ptr = h[F_PKEY]->value ? (const char *)h[F_PKEY]->value : "";
        env->partition_key.len = h[F_PKEY]->value ? h[F_PKEY]->value_len : 0;
        env->flags |= SL_ENV_PKEY;
    }
    if (h[F_TIME]) {
        env->timestamp = ms;
        env->flags |= SL_ENV_TIMESTAMP;
    }
    return 1;
}
