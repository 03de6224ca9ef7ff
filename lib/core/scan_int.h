/* sluice — what the rest of the core uses of the scanner in scan.c beyond
 * include/sluice/record.h (private). */
#ifndef SL_CORE_SCAN_INT_H
#define SL_CORE_SCAN_INT_H

#include "sluice/record.h"

#include <stddef.h>
#include <stdint.h>

/* A \u escape at @p p (pointing at the backslash), with jansson's rules:
 * no U+0000, a high surrogate only directly followed by a \u low surrogate.
 * Returns the code point and sets *next, or returns -1 with a reason. */
long sl__scan_uescape(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                      const char **reason);

/* JSON pointers the envelope scan finds on its way (the engine's registry:
 * sl__pipeline_want_ptr()). Only pointers through object members: at most
 * SL__SCAN_PTR_TOKS tokens, none of them an array index (digits), at least
 * one. */
#define SL__SCAN_PTRS 4
#define SL__SCAN_PTR_TOKS 4
typedef struct sl__scan_ptr_s {
    const char *tok[SL__SCAN_PTR_TOKS]; /* unescaped member names */
    size_t len[SL__SCAN_PTR_TOKS];
    size_t ntok;
} sl__scan_ptr_t;

typedef struct sl__scan_ptrs_s {
    sl__scan_ptr_t p[SL__SCAN_PTRS];
    size_t n;
    /* bit (length & 63) of lens[d]: some pointer's token d has that length
     * (a member name of no such length is passed over at one test) */
    uint64_t lens[SL__SCAN_PTR_TOKS];
} sl__scan_ptrs_t;

/* Adds pointer @p w (tokens borrowed) to @p set unless an equal one is
 * there: its index, or -1 when @p set is full or @p w has no token or more
 * than SL__SCAN_PTR_TOKS. Start from a zeroed set. Not thread-safe. */
int sl__scan_ptrs_add(sl__scan_ptrs_t *set, const sl__scan_ptr_t *w);

/* What one scan found. With @c known 0 nothing below holds: the text was
 * not walked (binary mode, pushed decoded, another format), failed, or
 * holds an escaped member name on a pointer's path; the reader then walks
 * the text itself. With @c known 1, bit i of @c found says whether pointer
 * i resolves (RFC 6901 over the text, of duplicate members the last one, as
 * the scanner and jansson read them), and @c at[i] is its value's span in
 * the text (a string with its quotes; no whitespace around it). */
typedef struct sl__scan_hits_s {
    sl_span_t at[SL__SCAN_PTRS];
    uint8_t found;
    uint8_t known;
} sl__scan_hits_t;

/* sl_envelope_scan() that also finds the pointers of @p want (not NULL,
 * borrowed for the call) and writes what it found to @p hits (not NULL, the
 * caller's). Same return values and envelope as sl_envelope_scan(). @p hits
 * is known whenever the text is valid JSON and no escaped name lies on a
 * pointer's path, also when the envelope's fields fail (a missing type, a
 * top level that is no object: then nothing is found); not known when
 * @p want holds no pointer. Thread-safe; allocates nothing. */
int sl__envelope_scan_ptrs(const void *buf, size_t len, sl_envelope_t *env, sl_scan_error_t *err,
                           const sl__scan_ptrs_t *want, sl__scan_hits_t *hits);

/* The quote index's instruction sets (see scan.c). */
enum { SL__ISA_NONE, SL__ISA_SSE2, SL__ISA_AVX2, SL__ISA_AVX512 };

/* The widest quote index this CPU runs: SL__ISA_AVX512 (AVX-512BW),
 * SL__ISA_AVX2, SL__ISA_SSE2, or SL__ISA_NONE (no index can be made). Asked of the
 * CPU once. Thread-safe. */
int sl__scan_isa(void);

/* What a quote index saw besides the quotes. */
#define SL__QI_BSLASH 1u /* a '\\' */
#define SL__QI_CTL 2u    /* a byte below 0x20 or above 0x7F */

/* The quote index of the @p len bytes at @p p, with the widest instruction
 * set this CPU runs: into @p m ((len + 63) / 64 words, the caller's), bit k
 * of word w set when byte 64w+k is a '"'; *flags gets SL__QI_* of what else
 * the text holds. Returns the words written; 0 when no index can be made
 * (no SSE2: *flags then has every bit) or @p len is 0. Reads no byte past
 * the text. Thread-safe. */
size_t sl__quote_index(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags);

/* The same with instruction set @p isa (at most sl__scan_isa()): for the
 * tests, which hold every set to the same answer. */
size_t sl__quote_index_isa(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags,
                           int isa);

#endif
