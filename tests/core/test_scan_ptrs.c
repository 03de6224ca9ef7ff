/* The envelope scan's pointers (sl__envelope_scan_ptrs): the values a stage
 * registered (the materialize flavor's key, entity and source) found on
 * the scan's way, equal to what a walk of the text finds (sl__jptr_span),
 * and the pipeline's and engine's registry of them. */
#include "core/core.h"
#include "flavors/jptr.h"
#include "sluice/engine.h"
#include "sluice/error.h"
#include "sluice/pipeline.h"

#include "../../bench/rng.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

TestSuite(scan_ptrs);

/* Scans @p doc for the pointers @p ptrs (RFC 6901 strings); returns what
 * the scan returned. */
static int scan_n(const char *doc, size_t len, const char *const *ptrs, size_t n,
                  sl__jptr_t *parsed, sl__scan_hits_t *hits)
{
    sl__scan_ptrs_t want;
    int slot[SL__SCAN_PTRS];
    memset(&want, 0, sizeof want);
    for (size_t i = 0; i < n; i++) {
        sl__scan_ptr_t w = {.ntok = 0};
        cr_assert_eq(sl__jptr_parse(ptrs[i], &parsed[i]), 0, "%s", ptrs[i]);
        cr_assert(parsed[i].n >= 1 && parsed[i].n <= SL__SCAN_PTR_TOKS);
        w.ntok = parsed[i].n;
        for (size_t t = 0; t < parsed[i].n; t++) {
            w.tok[t] = parsed[i].tok[t];
            w.len[t] = strlen(parsed[i].tok[t]);
        }
        slot[i] = sl__scan_ptrs_add(&want, &w);
        cr_assert_geq(slot[i], 0);
    }
    /* equal pointers share a slot: the answer by pointer, not by slot */
    sl_envelope_t env;
    sl__scan_hits_t raw;
    int rc = sl__envelope_scan_ptrs(doc, len, &env, NULL, &want, &raw);
    memset(hits, 0, sizeof *hits);
    hits->known = raw.known;
    for (size_t i = 0; i < n; i++) {
        hits->at[i] = raw.at[slot[i]];
        if (raw.found & (1u << slot[i]))
            hits->found |= (uint8_t)(1u << i);
    }
    return rc;
}

static int scan(const char *doc, const char *const *ptrs, size_t n, sl__jptr_t *parsed,
                sl__scan_hits_t *hits)
{
    return scan_n(doc, strlen(doc), ptrs, n, parsed, hits);
}

static void expect_n(const sl__scan_hits_t *h, size_t i, const char *text, size_t len)
{
    cr_assert(h->known);
    cr_assert(h->found & (1u << i), "pointer %zu not found", i);
    cr_assert_eq(h->at[i].len, len, "pointer %zu: %zu bytes, want %zu", i, h->at[i].len, len);
    cr_assert(!memcmp(h->at[i].ptr, text, len));
}

static void expect(const sl__scan_hits_t *h, size_t i, const char *text)
{
    cr_assert(h->known);
    if (!text) {
        cr_assert(!(h->found & (1u << i)), "pointer %zu found: %.*s", i, (int)h->at[i].len,
                  h->at[i].ptr);
        return;
    }
    cr_assert(h->found & (1u << i), "pointer %zu not found, want %s", i, text);
    cr_assert_eq(h->at[i].len, strlen(text), "pointer %zu: %.*s, want %s", i, (int)h->at[i].len,
                 h->at[i].ptr, text);
    cr_assert(!memcmp(h->at[i].ptr, text, h->at[i].len));
}

static void free_all(sl__jptr_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl__jptr_free(&p[i]);
}

Test(scan_ptrs, values_of_every_kind_with_their_exact_spans)
{
    const char *doc = "{\"type\":\"t\", \"thing\" : {\"id\" : \"a\\\"b\" , \"n\":-1.5e3,"
                      "\"o\":{ \"x\":[1,{\"y\":2}] } ,\"l\":[ ],\"z\":null,\"e\":{}} }";
    const char *ptrs[] = {"/thing/id", "/thing", "/thing/n", "/thing/o"};
    sl__jptr_t p[4];
    sl__scan_hits_t h;
    cr_assert_eq(scan(doc, ptrs, 4, p, &h), 0);
    expect(&h, 0, "\"a\\\"b\"");
    expect(&h, 1,
           "{\"id\" : \"a\\\"b\" , \"n\":-1.5e3,\"o\":{ \"x\":[1,{\"y\":2}] } ,\"l\":[ ],"
           "\"z\":null,\"e\":{}}");
    expect(&h, 2, "-1.5e3");
    expect(&h, 3, "{ \"x\":[1,{\"y\":2}] }");
    free_all(p, 4);

    const char *more[] = {"/thing/l", "/thing/z", "/thing/e", "/thing/o/x"};
    cr_assert_eq(scan(doc, more, 4, p, &h), 0);
    expect(&h, 0, "[ ]");
    expect(&h, 1, "null");
    expect(&h, 2, "{}");
    expect(&h, 3, "[1,{\"y\":2}]");
    free_all(p, 4);
}

Test(scan_ptrs, the_last_duplicate_counts_at_every_level)
{
    /* the later "thing" has no id: /thing/id does not resolve */
    const char *a = "{\"type\":\"t\",\"thing\":{\"id\":1},\"thing\":{\"name\":2}}";
    /* the later "thing" is no object */
    const char *b = "{\"type\":\"t\",\"thing\":{\"id\":1},\"thing\":5}";
    /* the later "id" in the later "thing" */
    const char *c = "{\"type\":\"t\",\"thing\":{\"id\":1},\"thing\":{\"id\":2,\"id\":3}}";
    const char *ptrs[] = {"/thing/id", "/thing"};
    sl__jptr_t p[2];
    sl__scan_hits_t h;
    cr_assert_eq(scan(a, ptrs, 2, p, &h), 0);
    expect(&h, 0, NULL);
    expect(&h, 1, "{\"name\":2}");
    free_all(p, 2);
    cr_assert_eq(scan(b, ptrs, 2, p, &h), 0);
    expect(&h, 0, NULL);
    expect(&h, 1, "5");
    free_all(p, 2);
    cr_assert_eq(scan(c, ptrs, 2, p, &h), 0);
    expect(&h, 0, "3");
    expect(&h, 1, "{\"id\":2,\"id\":3}");
    free_all(p, 2);
}

/* jansson drops a NUL right after a number or a literal; the walk of the
 * text (sl__jptr_span) keeps it in the value's span, and so does the scan
 * (found by fuzz_materialize). */
Test(scan_ptrs, a_nul_after_a_number_stays_in_the_span_as_the_walk_keeps_it)
{
    static const char doc[] = "{\"type\":\"t\",\"n\": 0.5e3\0 ,\"b\":true\0}";
    const char *ptrs[] = {"/n", "/b"};
    sl__jptr_t p[2];
    sl__scan_hits_t h;
    cr_assert_eq(scan_n(doc, sizeof doc - 1, ptrs, 2, p, &h), 0);
    expect_n(&h, 0, "0.5e3", 6);
    expect_n(&h, 1, "true", 5);
    for (size_t i = 0; i < 2; i++) {
        sl_span_t w;
        cr_assert_eq(sl__jptr_span(&p[i], doc, sizeof doc - 1, &w), 0);
        cr_assert(w.ptr == h.at[i].ptr && w.len == h.at[i].len);
    }
    free_all(p, 2);
}

Test(scan_ptrs, members_inside_arrays_and_at_other_depths_do_not_match)
{
    const char *doc = "{\"type\":\"t\",\"list\":[{\"id\":1},{\"thing\":{\"id\":9}}],"
                      "\"a\":{\"b\":{\"id\":7}},\"thing\":[{\"id\":4}],\"id\":\"2\"}";
    const char *ptrs[] = {"/id", "/thing/id", "/b/id", "/a/b/id"};
    sl__jptr_t p[4];
    sl__scan_hits_t h;
    cr_assert_eq(scan(doc, ptrs, 4, p, &h), 0);
    expect(&h, 0, "\"2\"");
    expect(&h, 1, NULL); /* /thing is an array, "id" no index */
    expect(&h, 2, NULL);
    expect(&h, 3, "7");
    free_all(p, 4);
}

Test(scan_ptrs, an_escaped_name_on_a_path_leaves_the_text_to_the_reader)
{
    const char *ptrs[] = {"/thing/id"};
    sl__jptr_t p[1];
    sl__scan_hits_t h;
    /* on the path: "th\u0069ng" is "thing", which the scan does not decode */
    cr_assert_eq(scan("{\"type\":\"t\",\"th\\u0069ng\":{\"id\":1}}", ptrs, 1, p, &h), 0);
    cr_assert(!h.known);
    free_all(p, 1);
    /* beside it (a value, a member of an object off the path): known */
    cr_assert_eq(scan("{\"type\":\"t\\n\",\"x\":{\"q\\u0069\":1},\"thing\":{\"id\":\"\\u0041\"}}",
                      ptrs, 1, p, &h),
                 0);
    expect(&h, 0, "\"\\u0041\"");
    free_all(p, 1);
}

Test(scan_ptrs, known_whatever_the_envelope_says_but_not_for_invalid_json)
{
    const char *ptrs[] = {"/thing/id"};
    sl__jptr_t p[1];
    sl__scan_hits_t h;
    /* no type: the envelope fails, the text is valid */
    cr_assert_eq(scan("{\"thing\":{\"id\":1}}", ptrs, 1, p, &h), SL_ENOTYPE);
    expect(&h, 0, "1");
    free_all(p, 1);
    cr_assert_eq(scan("{\"type\":\"t\",\"thing\":{\"id\":1}", ptrs, 1, p, &h), SL_EJSON);
    cr_assert(!h.known);
    free_all(p, 1);
    cr_assert_eq(scan("[{\"thing\":{\"id\":1}}]", ptrs, 1, p, &h), SL_ENOTEVENT);
    expect(&h, 0, NULL);
    free_all(p, 1);
}

/* Random objects of a few names (duplicates, nesting, arrays, spaces, now
 * and then an escape), every pointer of one to three of those names: the
 * scan finds a value exactly when the walk of sl__jptr_span() does, at the
 * same bytes, or leaves the text to the walk because of an escape. */
static const char *const names[] = {"a", "b", "id", "thing"};

static void gen_value(char *out, size_t cap, size_t *n, int depth);

static void put(char *out, size_t cap, size_t *n, const char *s)
{
    size_t l = strlen(s);
    cr_assert(*n + l < cap);
    memcpy(out + *n, s, l + 1);
    *n += l;
}

static void ws(char *out, size_t cap, size_t *n)
{
    if (rng() % 4 == 0)
        put(out, cap, n, rng() % 2 ? " " : "\n\t ");
}

static void gen_object(char *out, size_t cap, size_t *n, int depth, int top)
{
    size_t members = rng() % (top ? 5 : 4);
    put(out, cap, n, "{");
    ws(out, cap, n);
    if (top)
        put(out, cap, n, "\"type\":\"t\"");
    for (size_t i = 0; i < members; i++) {
        if (i || top)
            put(out, cap, n, ",");
        ws(out, cap, n);
        const char *nm = names[rng() % 4];
        put(out, cap, n, "\"");
        if (rng() % 23 == 0 && nm[1]) { /* an escaped first letter */
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", (unsigned)nm[0]);
            put(out, cap, n, e);
            put(out, cap, n, nm + 1);
        } else {
            put(out, cap, n, nm);
        }
        put(out, cap, n, "\"");
        ws(out, cap, n);
        put(out, cap, n, ":");
        ws(out, cap, n);
        gen_value(out, cap, n, depth + 1);
        ws(out, cap, n);
    }
    put(out, cap, n, "}");
}

static void gen_value(char *out, size_t cap, size_t *n, int depth)
{
    unsigned k = (unsigned)(rng() % (depth > 4 ? 5 : 8));
    char b[32];
    switch (k) {
    case 0:
        snprintf(b, sizeof b, "%d", (int)(rng() % 2000) - 1000);
        put(out, cap, n, b);
        break;
    case 1:
        put(out, cap, n, rng() % 2 ? "\"s\"" : "\"q\\\"x\"");
        break;
    case 2:
        put(out, cap, n, rng() % 2 ? "true" : "null");
        break;
    case 3:
        put(out, cap, n, "1.5e2");
        break;
    case 4:
        put(out, cap, n, "\"\"");
        break;
    case 5:
    case 6:
        gen_object(out, cap, n, depth, 0);
        break;
    default: {
        size_t items = rng() % 3;
        put(out, cap, n, "[");
        for (size_t i = 0; i < items; i++) {
            if (i)
                put(out, cap, n, ",");
            gen_value(out, cap, n, depth + 1);
        }
        put(out, cap, n, "]");
    }
    }
}

Test(scan_ptrs, finds_what_the_walk_finds_on_random_objects)
{
    size_t known = 0, found = 0, unsure = 0, docs = 20000;
    for (size_t d = 0; d < docs; d++) {
        char doc[8192];
        size_t n = 0;
        doc[0] = 0;
        gen_object(doc, sizeof doc, &n, 1, 1);
        cr_assert_eq(sl_json_validate(doc, n, NULL), 0, "%s", doc);
        /* four pointers of one to three names */
        char pstr[4][64];
        const char *ptrs[4];
        for (size_t i = 0; i < 4; i++) {
            size_t toks = 1 + rng() % 3, l = 0;
            for (size_t t = 0; t < toks; t++)
                l += (size_t)snprintf(pstr[i] + l, sizeof pstr[i] - l, "/%s", names[rng() % 4]);
            ptrs[i] = pstr[i];
        }
        sl__jptr_t p[4];
        sl__scan_hits_t h;
        /* valid JSON; the envelope may fail (an "id" that is no string) */
        scan(doc, ptrs, 4, p, &h);
        if (!h.known) {
            cr_assert(strstr(doc, "\\u"), "unsure without an escaped name: %s", doc);
            unsure++;
        } else {
            known++;
            for (size_t i = 0; i < 4; i++) {
                sl_span_t w;
                int rc = sl__jptr_span(&p[i], doc, n, &w);
                if (rc) {
                    cr_assert(!(h.found & (1u << i)), "%s in %s: found, the walk says not", ptrs[i],
                              doc);
                    continue;
                }
                found++;
                cr_assert(h.found & (1u << i), "%s in %s: not found", ptrs[i], doc);
                cr_assert(h.at[i].ptr == w.ptr && h.at[i].len == w.len,
                          "%s in %s: %.*s, the walk %.*s", ptrs[i], doc, (int)h.at[i].len,
                          h.at[i].ptr, (int)w.len, w.ptr);
            }
        }
        free_all(p, 4);
    }
    /* the corpus reaches both answers and the escape */
    cr_assert_gt(found, docs / 4);
    cr_assert_gt(known * 4 - found, docs / 4);
    cr_assert_gt(unsure, 10);
}

static sl_result_t nop(sl_uow_t *u, void *o)
{
    (void)u;
    (void)o;
    return SL_OK;
}

static int drop(void *o, sl_uow_t *const *u, size_t n)
{
    (void)o;
    (void)u;
    (void)n;
    return 0;
}

Test(scan_ptrs, pipelines_register_what_the_scan_can_find_and_share_slots)
{
    static const char *const thing_id[] = {"thing", "id"}, *const idx[] = {"list", "0"},
                             *const deep[] = {"a", "b", "c", "d", "e"}, *const one[] = {"x"},
                             *const two[] = {"y"}, *const three[] = {"z"};
    sl_pipeline_t *a = sl_pipeline_new("a"), *b = sl_pipeline_new("b");
    cr_assert(a && b);
    cr_assert_eq(sl__pipeline_want_ptr(a, thing_id, 0), -1);
    cr_assert_eq(sl__pipeline_want_ptr(a, idx, 2), -1, "an array index");
    cr_assert_eq(sl__pipeline_want_ptr(a, deep, 5), -1, "more than SL__SCAN_PTR_TOKS");
    cr_assert_eq(sl__pipeline_want_ptr(a, thing_id, 2), 0);
    cr_assert_eq(sl__pipeline_want_ptr(a, one, 1), 1);
    cr_assert_eq(sl__pipeline_want_ptr(a, two, 1), 2);
    cr_assert_eq(sl__pipeline_want_ptr(a, three, 1), 3);
    cr_assert_eq(sl__pipeline_want_ptr(a, thing_id, 1), -1, "a pipeline's SL__SCAN_PTRS");
    /* b shares /thing/id; its /a/b/c/d finds the registry full */
    cr_assert_eq(sl__pipeline_want_ptr(b, deep, 4), 0);
    cr_assert_eq(sl__pipeline_want_ptr(b, thing_id, 2), 1);

    char err[256];
    sl_engine_t *e = sl_engine_new(NULL, err, sizeof err);
    cr_assert(e, "%s", err);
    sl_sink_t *s1 = sl_sink_new(&(sl_sink_ops_t){.name = "n", .write = drop}, NULL),
              *s2 = sl_sink_new(&(sl_sink_ops_t){.name = "n", .write = drop}, NULL);
    cr_assert(s1 && s2);
    cr_assert_eq(sl_pipeline_map(a, nop, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(a, s1), 0);
    cr_assert_eq(sl_pipeline_sink(b, s2), 0);
    cr_assert_eq(sl_engine_add_pipeline(e, a), 0);
    cr_assert_eq(sl_engine_add_pipeline(e, b), 0);
    cr_assert_eq(e->ptrs.n, 4);
    cr_assert_eq(a->want_slot[0], 0);
    cr_assert_eq(b->want_slot[0], -1, "the registry is full");
    cr_assert_eq(b->want_slot[1], 0, "shared with a");
    sl_engine_destroy(e);
    sl_sink_destroy(s1);
    sl_sink_destroy(s2);
}
