/* libFuzzer target: the materialize flavor's JSON pointers (RFC 6901), which
 * find the view key and the entity in an event's bytes without a tree.
 *
 * Input: the pointer up to the first newline (up to a NUL, as it comes from
 * a C string), then the event's JSON text.
 *
 * Properties: the pointer parses exactly when RFC 6901 says it is one, into
 * the tokens an independent decoder reads; on text the engine's validator
 * accepts, the lookup finds a value exactly when the pointer resolves in
 * jansson's tree, its span lies inside the text and holds JSON equal to
 * jansson's value (duplicate members: the last one, as the scanner and
 * jansson read them). The map stage's own lookup (the key and the entity in
 * one walk: sl__jptr_key_entity), with the entity the key's first token (the
 * default) and its tokens but the last, finds the key exactly when jansson
 * does, with the same value, and the entity, when it says it found it, as
 * jansson's value at the entity pointer. The engine's envelope scan, asked
 * for the pointer and its prefixes (sl__envelope_scan_ptrs), either leaves
 * the text to the walk (an escaped name on the way) or finds exactly the
 * spans the walk finds; nothing leaks. */
#include "core/scan_int.h"
#include "flavors/jptr.h"
#include "fuzz_common.h"
#include "sluice/error.h"

#include <jansson.h>

#define T "fuzz_materialize"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_mem_use_for_jansson();
    return 0;
}

/* Token @p i of pointer @p s decoded here: its length, -1 when the
 * pointer is not one (a bad '~' escape or no leading '/'). */
static long token(const char *s, size_t i, char *out, size_t cap)
{
    if (*s != '/')
        return -1;
    for (const char *p = s + 1;; i--) {
        size_t len = strcspn(p, "/"), k = 0;
        for (size_t j = 0; j < len; j++) {
            char c = p[j];
            if (c == '~') {
                if (j + 1 == len || (p[j + 1] != '0' && p[j + 1] != '1'))
                    return -1;
                c = p[++j] == '0' ? '~' : '/';
            }
            if (i == 0 && k < cap)
                out[k] = c;
            k++;
        }
        if (i == 0)
            return (long)k;
        if (!p[len])
            return -1;
        p += len + 1;
    }
}

/* Every token of @p s checked against the parser's; also a bad escape in
 * any token must have made the parse fail. */
static void check_parse(const char *s, int rc, const sl__jptr_t *ptr)
{
    size_t slashes = 0;
    for (const char *c = s; *c; c++)
        slashes += *c == '/';
    int valid = !*s || *s == '/';
    for (size_t i = 0; valid && *s && i < slashes; i++)
        valid = token(s, i, NULL, 0) >= 0;
    if (rc != 0 && rc != SL_EINVAL)
        fuzz_fail(T, "sl__jptr_parse returned an unexpected code");
    if ((rc == 0) != valid)
        fuzz_fail(T, "sl__jptr_parse disagrees with RFC 6901");
    if (rc)
        return;
    if (ptr->n != (*s ? slashes : 0))
        fuzz_fail(T, "wrong number of tokens");
    for (size_t i = 0; i < ptr->n; i++) {
        char buf[4096];
        long n = token(s, i, buf, sizeof buf);
        if (n < 0 || strlen(ptr->tok[i]) != (size_t)n ||
            ((size_t)n <= sizeof buf && memcmp(buf, ptr->tok[i], (size_t)n)))
            fuzz_fail(T, "a token differs from RFC 6901's decoding");
    }
}

/* RFC 6901 over jansson's tree; NULL when the pointer does not resolve. */
static json_t *resolve(json_t *v, const sl__jptr_t *ptr)
{
    for (size_t i = 0; v && i < ptr->n; i++) {
        const char *t = ptr->tok[i];
        if (json_is_object(v)) {
            v = json_object_get(v, t);
        } else if (json_is_array(v)) {
            size_t ix = 0, n = strlen(t);
            if (!n || n > 19 || (t[0] == '0' && n > 1))
                return NULL;
            for (size_t k = 0; k < n; k++) {
                if (t[k] < '0' || t[k] > '9')
                    return NULL;
                ix = ix * 10 + (size_t)(t[k] - '0');
            }
            v = json_array_get(v, ix);
        } else {
            return NULL;
        }
    }
    return v;
}

static int in_text(sl_span_t s, const char *doc, size_t dlen)
{
    return s.ptr && s.ptr >= doc && s.len <= dlen && (size_t)(s.ptr - doc) <= dlen - s.len;
}

/* The map stage's lookup with the first @p n tokens of @p key as the entity. */
static void check_key_entity(const sl__jptr_t *key, size_t n, json_t *root, const char *doc,
                             size_t dlen)
{
    json_error_t je;
    sl__jptr_t ent = {key->tok, n};
    sl_span_t k = {NULL, 0}, e = {NULL, 0};
    int found = -1;
    int rc = sl__jptr_key_entity(key, &ent, 1, doc, dlen, &k, &e, &found);
    json_t *want = resolve(root, key), *want_ent = resolve(root, &ent);
    if (rc != 0 && rc != SL_ENOENT)
        fuzz_fail(T, "sl__jptr_key_entity returned an unexpected code");
    if (!want != (rc != 0))
        fuzz_fail(T, want ? "the map stage misses a key jansson finds"
                          : "the map stage finds a key jansson does not");
    if (rc)
        return;
    if (!in_text(k, doc, dlen))
        fuzz_fail(T, "the map stage's key span is outside the text");
    json_t *v = json_loadb(k.ptr, k.len, JSON_DECODE_ANY, &je);
    if (!v || !json_equal(v, want))
        fuzz_fail(T, "the map stage's key holds another value than jansson's");
    json_decref(v);
    if (found != 0 && found != 1)
        fuzz_fail(T, "the map stage does not say whether it found the entity");
    if (!found)
        return;
    if (!in_text(e, doc, dlen))
        fuzz_fail(T, "the map stage's entity span is outside the text");
    v = json_loadb(e.ptr, e.len, JSON_DECODE_ANY, &je);
    if (!v || !want_ent || !json_equal(v, want_ent))
        fuzz_fail(T, "the map stage's entity holds another value than jansson's");
    json_decref(v);
}

/* The scan's pointers: @p ptr and each of its prefixes, when the scan can
 * take them (member names only), against sl__jptr_span(). */
static void check_scan_ptrs(const sl__jptr_t *ptr, const char *doc, size_t dlen)
{
    sl__scan_ptrs_t set;
    int slot[SL__SCAN_PTR_TOKS];
    if (!ptr->n || ptr->n > SL__SCAN_PTR_TOKS)
        return;
    memset(&set, 0, sizeof set);
    for (size_t t = 0; t < ptr->n; t++) {
        size_t n = strlen(ptr->tok[t]);
        if (n && strspn(ptr->tok[t], "0123456789") == n)
            return; /* an array index: never registered (sl__pipeline_want_ptr) */
    }
    for (size_t k = 1; k <= ptr->n; k++) {
        sl__scan_ptr_t w = {.ntok = k};
        for (size_t t = 0; t < k; t++) {
            w.tok[t] = ptr->tok[t];
            w.len[t] = strlen(ptr->tok[t]);
        }
        if ((slot[k - 1] = sl__scan_ptrs_add(&set, &w)) < 0)
            fuzz_fail(T, "sl__scan_ptrs_add refused a pointer it can take");
    }
    sl_envelope_t env;
    sl__scan_hits_t h;
    sl__envelope_scan_ptrs(doc, dlen, &env, NULL, &set, &h);
    if (!h.known) {
        if (!memchr(doc, '\\', dlen))
            fuzz_fail(T, "the scan leaves a text without escapes to the walk");
        return;
    }
    for (size_t k = 1; k <= ptr->n; k++) {
        sl__jptr_t pre = {ptr->tok, k};
        sl_span_t w;
        int walk = sl__jptr_span(&pre, doc, dlen, &w) == 0, sc = slot[k - 1];
        if (walk != !!(h.found & (1u << sc)))
            fuzz_fail(T, walk ? "the scan misses a value the walk finds"
                              : "the scan finds a value the walk does not");
        if (walk && (h.at[sc].ptr != w.ptr || h.at[sc].len != w.len))
            fuzz_fail(T, "the scan's span differs from the walk's");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pstr = malloc(plen + 1);
    if (!pstr)
        return 0;
    memcpy(pstr, data, plen);
    pstr[plen] = 0;
    const char *doc = nl ? (const char *)nl + 1 : "";
    size_t dlen = nl ? size - plen - 1 : 0;
    int64_t live = fuzz_live_blocks();

    sl__jptr_t ptr;
    int rc = sl__jptr_parse(pstr, &ptr);
    check_parse(pstr, rc, &ptr);
    if (rc == 0 && sl_json_validate(doc, dlen, NULL) == 0) {
        json_error_t je;
        json_t *root = json_loadb(doc, dlen, JSON_DECODE_ANY, &je);
        if (!root)
            fuzz_fail(T, "jansson rejects what the validator accepts");
        json_t *want = resolve(root, &ptr);
        sl_span_t got = {NULL, 0};
        int src = sl__jptr_span(&ptr, doc, dlen, &got);
        if (src != 0 && src != SL_ENOENT)
            fuzz_fail(T, "sl__jptr_span returned an unexpected code");
        if (!want != (src != 0))
            fuzz_fail(T, want ? "the pointer resolves in jansson's tree but not in the text"
                              : "the pointer resolves in the text but not in jansson's tree");
        if (want) {
            if (!got.ptr || got.ptr < doc || got.len > dlen ||
                (size_t)(got.ptr - doc) > dlen - got.len)
                fuzz_fail(T, "the span is outside the text");
            json_t *v = json_loadb(got.ptr, got.len, JSON_DECODE_ANY, &je);
            if (!v || !json_equal(v, want))
                fuzz_fail(T, "the span holds another value than jansson's");
            json_decref(v);
        }
        check_scan_ptrs(&ptr, doc, dlen);
        if (ptr.n > 1) {
            check_key_entity(&ptr, 1, root, doc, dlen);
            if (ptr.n > 2)
                check_key_entity(&ptr, ptr.n - 1, root, doc, dlen);
        }
        json_decref(root);
    }
    if (rc == 0)
        sl__jptr_free(&ptr);
    if (fuzz_live_blocks() != live)
        fuzz_fail(T, "leaked memory");
    free(pstr);
    return 0;
}
