/* The strict envelope scanner: same verdicts as jansson, envelope fields,
 * malformed input, CloudEvents headers, unescaping and RFC 3339. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "core/scan_int.h"
#include "sluice/error.h"
#include "sluice/record.h"

#include "../../bench/rng.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TestSuite(scan);

/* The halfway point between DBL_MAX and 2^1024, (2^54 - 1) * 2^970: a real at
 * or above it overflows strtod, anything below rounds to DBL_MAX. */
#define DBL_HALF_HEAD                                                                              \
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901"    \
    "79775872070963302864166928879109465555478519404026306574886715058206819089020007083836762"    \
    "73854845817711531764475730270069855571366959622842914819860834936475292719074168444365510"    \
    "70434271155969950809304288017790417449779"
#define DBL_HALF DBL_HALF_HEAD "2"
#define DBL_HALF_MINUS_1 DBL_HALF_HEAD "1"

static int jansson_accepts(const void *buf, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(buf, len, 0, &e);
    int ok = j != NULL;

    json_decref(j);
    return ok;
}

static void hexdump(const char *what, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i;

    fprintf(stderr, "%s (%zu bytes):", what, len);
    for (i = 0; i < len; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

/* ---- scanner and jansson agree on validity ---- */

typedef struct diff_case_s {
    const char *name;
    const char *text;
    size_t len;
    int rc; /* sl_json_validate's expected code; jansson accepts iff 0 */
} diff_case_t;

#define D(n, s, r)                                                                                 \
    {                                                                                              \
        .name = n, .text = s, .len = sizeof(s) - 1, .rc = r                                        \
    }

static const diff_case_t diff_cases[] = {
    /* top level */
    D("empty input", "", SL_EJSON),
    D("only whitespace", " \n\t\r", SL_EJSON),
    D("top-level integer", "1", SL_EJSON),
    D("top-level string", "\"type\"", SL_EJSON),
    D("top-level true", "true", SL_EJSON),
    D("top-level null", "null", SL_EJSON),
    D("empty object", "{}", 0),
    D("empty array", "[]", 0),
    D("padded array", " \n[ ] \r\n", 0),
    D("BOM", "\xef\xbb\xbf{}", SL_EJSON),
    D("trailing garbage", "{} x", SL_EJSON),
    D("two texts", "{}{}", SL_EJSON),
    D("trailing whitespace", "{\"a\":1} \t\r\n", 0),
    D("trailing vertical tab", "{}\v", SL_EJSON),
    D("trailing form feed", "{}\f", SL_EJSON),
    D("leading NBSP", "\xc2\xa0{}", SL_EJSON),
    D("unclosed array", "[", SL_EJSON),
    D("unclosed object", "{", SL_EJSON),
    D("lone close", "]", SL_EJSON),
    D("unclosed nested", "[[]", SL_EJSON),
    D("extra close", "[]]", SL_EJSON),
    D("mismatched close", "[}", SL_EJSON),
    /* structure */
    D("key without value", "{\"a\"}", SL_EJSON),
    D("missing value", "{\"a\":}", SL_EJSON),
    D("trailing comma object", "{\"a\":1,}", SL_EJSON),
    D("trailing comma array", "[1,]", SL_EJSON),
    D("leading comma", "[,1]", SL_EJSON),
    D("empty member", "{,}", SL_EJSON),
    D("number key", "{1:2}", SL_EJSON),
    D("single-quoted key", "{'a':1}", SL_EJSON),
    D("missing comma", "[1 2]", SL_EJSON),
    D("missing member comma", "{\"a\":1 \"b\":2}", SL_EJSON),
    D("spaced members", "{ \"a\" : 1 , \"b\" : [ ] }", 0),
    D("duplicate keys", "{\"a\":1,\"a\":2}", 0),
    D("empty key", "{\"\":0}", 0),
    /* literals */
    D("literals", "[true,false,null]", 0),
    D("short true", "[tru]", SL_EJSON),
    D("long null", "[nulll]", SL_EJSON),
    D("short null", "[nul]", SL_EJSON),
    D("capital True", "[True]", SL_EJSON),
    D("joined literals", "[truefalse]", SL_EJSON),
    D("lone f", "[f]", SL_EJSON),
    D("NaN", "[NaN]", SL_EJSON),
    D("Infinity", "[Infinity]", SL_EJSON),
    /* numbers */
    D("zero", "[0]", 0),
    D("minus zero", "[-0]", 0),
    D("minus zero real", "[-0.0]", 0),
    D("leading zero", "[01]", SL_EJSON),
    D("minus leading zero", "[-01]", SL_EJSON),
    D("dot without digits", "[1.]", SL_EJSON),
    D("dot then exponent", "[1.e5]", SL_EJSON),
    D("no integer part", "[.5]", SL_EJSON),
    D("plus sign", "[+1]", SL_EJSON),
    D("lone minus", "[-]", SL_EJSON),
    D("double minus", "[--1]", SL_EJSON),
    D("empty exponent", "[1e]", SL_EJSON),
    D("signed empty exponent", "[1e+]", SL_EJSON),
    D("exponent then fraction", "[1e5.5]", SL_EJSON),
    D("hex", "[0x10]", SL_EJSON),
    D("exponent forms", "[1e0,1E+2,1e-2,-1.5E-3,0e0,0.0]", 0),
    D("int64 max", "[9223372036854775807]", 0),
    D("int64 min", "[-9223372036854775808]", 0),
    D("int64 max + 1", "[9223372036854775808]", SL_EJSON),
    D("int64 min - 1", "[-9223372036854775809]", SL_EJSON),
    D("20-digit integer", "[10000000000000000000]", SL_EJSON),
    D("19 nines", "[9999999999999999999]", SL_EJSON),
    D("18 nines", "[999999999999999999]", 0),
    D("big integer as real", "[9223372036854775808.0]", 0),
    D("1e308", "[1e308]", 0),
    D("DBL_MAX", "[1.7976931348623157e308]", 0),
    D("rounds to DBL_MAX", "[1.7976931348623158e308]", 0),
    D("rounds to inf", "[1.7976931348623159e308]", SL_EJSON),
    D("1.8e308", "[1.8e308]", SL_EJSON),
    D("1e309", "[1e309]", SL_EJSON),
    D("-1e309", "[-1e309]", SL_EJSON),
    D("10e307", "[10e307]", 0),
    D("100e307", "[100e307]", SL_EJSON),
    D("halfway point", "[" DBL_HALF ".0]", SL_EJSON),
    D("below halfway", "[" DBL_HALF_MINUS_1 ".999999999999999999999]", 0),
    D("above halfway", "[" DBL_HALF ".000000000000000000001]", SL_EJSON),
    D("halfway with exponent", "[0." DBL_HALF "e309]", SL_EJSON),
    D("below halfway with exponent", "[0.0" DBL_HALF_MINUS_1 "9e310]", 0),
    D("1e-400 underflow", "[1e-400]", 0),
    D("-1e-400 underflow", "[-1e-400]", 0),
    D("denormal", "[4.9e-324]", 0),
    D("0.0...1e318 ok", "[0.00000000001e318]", 0),
    D("0.0...1e319 overflow", "[0.0000000001e319]", SL_EJSON),
    D("0.001e312 overflow", "[0.001e312]", SL_EJSON),
    D("0.001e311 ok", "[0.001e311]", 0),
    D("zero with huge exponent", "[0e99999999999999999999]", 0),
    D("zero fraction huge exponent", "[0.000e400]", 0),
    D("huge negative exponent", "[1e-99999999999999999999]", 0),
    D("huge positive exponent", "[1e99999999999999999999]", SL_EJSON),
    D("long mantissa", "[1234567890123456789012345678901234567890.5]", 0),
    /* escapes */
    D("simple escapes", "[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"]", 0),
    D("unicode escape", "[\"\\u0041\\u00e9\\u20AC\\uffff\\u0001\"]", 0),
    D("bad escape a", "[\"\\a\"]", SL_EJSON),
    D("bad escape x", "[\"\\x41\"]", SL_EJSON),
    D("capital U escape", "[\"\\U0041\"]", SL_EJSON),
    D("short unicode escape", "[\"\\u00\"]", SL_EJSON),
    D("non-hex unicode escape", "[\"\\uZZZZ\"]", SL_EJSON),
    D("escape at end", "[\"\\", SL_EJSON),
    D("u0000 in value", "[\"\\u0000\"]", SL_EJSON),
    D("u0000 in key", "{\"\\u0000\":1}", SL_EJSON),
    D("surrogate pair", "[\"\\ud834\\udd1e\"]", 0),
    D("last surrogate pair", "[\"\\uDBFF\\uDFFF\"]", 0),
    D("lone high surrogate", "[\"\\ud834\"]", SL_EJSON),
    D("high surrogate then text", "[\"\\ud834x\"]", SL_EJSON),
    D("lone low surrogate", "[\"\\udd1e\"]", SL_EJSON),
    D("reversed pair", "[\"\\udd1e\\ud834\"]", SL_EJSON),
    D("two high surrogates", "[\"\\ud834\\ud834\"]", SL_EJSON),
    D("high surrogate then n", "[\"\\ud834\\n\"]", SL_EJSON),
    D("high surrogate then A", "[\"\\ud800\\u0041\"]", SL_EJSON),
    D("high surrogate short second", "[\"\\ud800\\udc\"]", SL_EJSON),
    /* raw bytes in strings */
    D("raw 0x01", "[\"a\x01\"]", SL_EJSON),
    D("raw tab", "[\"a\tb\"]", SL_EJSON),
    D("raw newline", "[\"a\nb\"]", SL_EJSON),
    D("raw 0x1f", "[\"\x1f\"]", SL_EJSON),
    D("raw NUL", "[\"a\0b\"]", SL_EJSON),
    D("raw DEL", "[\"\x7f\"]", 0),
    D("DEL outside string", "[\x7f]", SL_EJSON),
    D("unterminated string", "[\"abc", SL_EJSON),
    /* UTF-8 */
    D("valid 2-byte", "[\"\xc2\x80\xdf\xbf\"]", 0),
    D("valid 3-byte", "[\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\"]", 0),
    D("valid 4-byte", "[\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]", 0),
    D("overlong C0", "[\"\xc0\xaf\"]", SL_EJSON),
    D("overlong C1", "[\"\xc1\xbf\"]", SL_EJSON),
    D("overlong E0 80", "[\"\xe0\x80\x80\"]", SL_EJSON),
    D("overlong E0 9F", "[\"\xe0\x9f\xbf\"]", SL_EJSON),
    D("surrogate ED A0", "[\"\xed\xa0\x80\"]", SL_EJSON),
    D("surrogate ED BF", "[\"\xed\xbf\xbf\"]", SL_EJSON),
    D("overlong F0 8F", "[\"\xf0\x8f\xbf\xbf\"]", SL_EJSON),
    D("above U+10FFFF", "[\"\xf4\x90\x80\x80\"]", SL_EJSON),
    D("F5 lead", "[\"\xf5\x80\x80\x80\"]", SL_EJSON),
    D("FE byte", "[\"\xfe\"]", SL_EJSON),
    D("FF byte", "[\"\xff\"]", SL_EJSON),
    D("lone continuation", "[\"\x80\"]", SL_EJSON),
    D("truncated 2-byte", "[\"\xc3\"]", SL_EJSON),
    D("bad continuation", "[\"\xc3\x28\"]", SL_EJSON),
    D("truncated 3-byte", "[\"\xe2\x82\"]", SL_EJSON),
    D("bad 3-byte continuation", "[\"\xe2\x28\xa1\"]", SL_EJSON),
    D("truncated 4-byte", "[\"\xf0\x9f\x98\"]", SL_EJSON),
    D("4-byte bad last", "[\"\xf0\x9f\x98\x28\"]", SL_EJSON),
    D("UTF-8 at end of input", "[\"\xe2\x82", SL_EJSON),
    D("non-ASCII outside string", "[\xc3\xa9]", SL_EJSON),
    /* jansson drops one NUL right after a number or literal */
    D("NUL after integer", "[1\0]", 0),
    D("NUL after real", "[1.5\0]", 0),
    D("NUL after exponent", "[1e5\0]", 0),
    D("NUL after literal", "[true\0,null\0]", 0),
    D("NUL after member value", "{\"a\":1\0}", 0),
    D("NUL then space", "[1\0 ]", 0),
    D("two NULs", "[1\0\0]", SL_EJSON),
    D("NUL after string", "[\"a\"\0]", SL_EJSON),
    D("NUL after array", "[]\0", SL_EJSON),
    D("NUL after inner array", "[[]\0]", SL_EJSON),
    D("NUL before text", "\0[]", SL_EJSON),
    D("NUL as value", "[\0]", SL_EJSON),
    D("NUL after minus", "[-\0 1]", SL_EJSON),
    D("NUL after dot", "[1.\0]", SL_EJSON),
    D("NUL then fraction", "[1\0.5]", SL_EJSON),
};

Test(scan, differential_table)
{
    size_t i;

    cr_assert_geq(sizeof diff_cases / sizeof diff_cases[0], 80);
    for (i = 0; i < sizeof diff_cases / sizeof diff_cases[0]; i++) {
        const diff_case_t *c = &diff_cases[i];
        sl_scan_error_t err = {0, NULL};
        sl_envelope_t env;
        int rc = sl_json_validate(c->text, c->len, &err);
        int erc = sl_envelope_scan(c->text, c->len, &env, NULL);
        int scan_ok = erc == 0 || erc == SL_ENOTEVENT || erc == SL_ENOTYPE || erc == SL_EFIELD;

        cr_expect_eq(jansson_accepts(c->text, c->len), c->rc == 0, "%s: jansson verdict", c->name);
        cr_expect_eq(rc, c->rc, "%s: sl_json_validate %s (%s at %zu)", c->name, sl_err_name(rc),
                     err.reason ? err.reason : "-", err.offset);
        cr_expect_eq(scan_ok, rc == 0, "%s: sl_envelope_scan %s", c->name, sl_err_name(erc));
        if (rc == 0)
            continue;
        cr_expect_not_null(err.reason, "%s: no reason", c->name);
        cr_expect_leq(err.offset, c->len, "%s: offset", c->name);
    }
}

/* ---- depth, at and past jansson's limit ---- */

typedef struct depth_case_s {
    size_t depth; /* nested arrays (or objects) around the inner text */
    int objects;
    const char *inner;
    int rc;
} depth_case_t;

static char *nest(size_t depth, int objects, const char *inner, size_t *len)
{
    size_t il = strlen(inner), open = objects ? 5 : 1, i;
    char *b = malloc(depth * (open + 1) + il + 1), *p = b;

    cr_assert_not_null(b);
    for (i = 0; i < depth; i++) {
        memcpy(p, objects ? "{\"a\":" : "[", open);
        p += open;
    }
    memcpy(p, inner, il);
    p += il;
    for (i = 0; i < depth; i++)
        *p++ = objects ? '}' : ']';
    *len = (size_t)(p - b);
    return b;
}

Test(scan, depth_boundary)
{
    static const depth_case_t cases[] = {
        {.depth = 2048, .inner = "", .rc = 0},
        {.depth = 2049, .inner = "", .rc = SL_EDEPTH},
        {.depth = 2047, .inner = "[]", .rc = 0},
        {.depth = 2048, .inner = "[]", .rc = SL_EDEPTH},
        {.depth = 2047, .inner = "1", .rc = 0},
        {.depth = 2048, .inner = "1", .rc = SL_EDEPTH},
        {.depth = 2048, .inner = "\"s\"", .rc = SL_EDEPTH},
        {.depth = 2047, .inner = "{}", .rc = 0},
        {.depth = 2048, .inner = "{}", .rc = SL_EDEPTH},
        {.depth = 2046, .inner = "{\"a\":1}", .rc = 0},
        {.depth = 2047, .inner = "{\"a\":1}", .rc = SL_EDEPTH},
        {.depth = 2047, .objects = 1, .inner = "1", .rc = 0},
        {.depth = 2048, .objects = 1, .inner = "1", .rc = SL_EDEPTH},
        {.depth = 2048, .objects = 1, .inner = "{}", .rc = SL_EDEPTH},
        {.depth = 2047, .objects = 1, .inner = "{}", .rc = 0},
        {.depth = 10000, .inner = "", .rc = SL_EDEPTH},
        {.depth = 10000, .objects = 1, .inner = "null", .rc = SL_EDEPTH},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char *b = nest(cases[i].depth, cases[i].objects, cases[i].inner, &len);
        sl_scan_error_t err = {0, NULL};
        int rc = sl_json_validate(b, len, &err);
        int erc = sl_envelope_scan(b, len, NULL, NULL);

        cr_expect_eq(rc, cases[i].rc, "depth %zu %s '%s': %s", cases[i].depth,
                     cases[i].objects ? "objects" : "arrays", cases[i].inner, sl_err_name(rc));
        if (rc)
            cr_expect_eq(erc, rc, "depth %zu '%s': sl_envelope_scan", cases[i].depth,
                         cases[i].inner);
        cr_expect_eq(jansson_accepts(b, len), cases[i].rc == 0, "depth %zu '%s': jansson",
                     cases[i].depth, cases[i].inner);
        if (rc == SL_EDEPTH)
            cr_expect_str_eq(err.reason, "nesting too deep");
        free(b);
    }
}

/* ---- error reasons and offsets ---- */

typedef struct reason_case_s {
    const char *text;
    size_t len;
    size_t offset;
    const char *reason;
} reason_case_t;

#define R(s, o, r)                                                                                 \
    {                                                                                              \
        .text = s, .len = sizeof(s) - 1, .offset = o, .reason = r                                  \
    }

Test(scan, error_reasons)
{
    static const reason_case_t cases[] = {
        R("{\"type\":\"a\x01\"}", 10, "control character in string"),
        R("{\"type\":\"a\xc0\xaf\"}", 10, "invalid UTF-8"),
        R("[9223372036854775808]", 1, "integer out of range"),
        R("[1,-1e309]", 3, "number overflows double"),
        R("[\"\\q\"]", 2, "invalid escape"),
        R("[\"\\u0000\"]", 2, "\\u0000 in string"),
        R("{} x", 3, "trailing characters after JSON text"),
        R("", 0, "expected '{' or '['"),
        R("[1", 2, "unexpected end of input"),
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_scan_error_t err = {0, NULL};
        cr_expect_eq(sl_json_validate(cases[i].text, cases[i].len, &err), SL_EJSON);
        cr_expect_eq(err.offset, cases[i].offset, "'%s': offset %zu", cases[i].reason, err.offset);
        cr_expect_str_eq(err.reason, cases[i].reason);
    }
}

/* ---- envelope extraction ---- */

typedef struct env_case_s {
    const char *name;
    const char *text;
    size_t len;
    int rc;
    unsigned flags;
    const char *type, *id, *pkey; /* raw span text, NULL when not set */
    int64_t ts;
} env_case_t;

#define E(n, s, ...)                                                                               \
    {                                                                                              \
        .name = n, .text = s, .len = sizeof(s) - 1, __VA_ARGS__                                    \
    }

enum { F_T = SL_ENV_TYPE, F_I = SL_ENV_ID, F_P = SL_ENV_PKEY, F_S = SL_ENV_TIMESTAMP };

static const env_case_t env_cases[] = {
    E("all fields",
      "{\"id\":\"e1\",\"type\":\"thing-updated\",\"timestamp\":1700000000000,"
      "\"partitionKey\":\"thing-42\",\"thing\":{\"id\":\"x\"}}",
      .rc = 0, .flags = F_T | F_I | F_P | F_S, .type = "thing-updated", .id = "e1",
      .pkey = "thing-42", .ts = 1700000000000),
    E("type only", "{\"type\":\"t\"}", .rc = 0, .flags = F_T, .type = "t"),
    E("whitespace", " {\n \"type\" : \"t\" ,\r\n\t\"id\":\"i\" } ", .rc = 0, .flags = F_T | F_I,
      .type = "t", .id = "i"),
    E("escaped type", "{\"type\":\"a\\nb\"}", .rc = 0, .flags = F_T | SL_ENV_TYPE_ESC,
      .type = "a\\nb"),
    E("escaped id", "{\"type\":\"t\",\"id\":\"\\u00e9\"}", .rc = 0,
      .flags = F_T | F_I | SL_ENV_ID_ESC, .type = "t", .id = "\\u00e9"),
    E("escaped pkey", "{\"type\":\"t\",\"partitionKey\":\"a\\/b\"}", .rc = 0,
      .flags = F_T | F_P | SL_ENV_PKEY_ESC, .type = "t", .pkey = "a\\/b"),
    E("non-ASCII unescaped", "{\"type\":\"caf\xc3\xa9\"}", .rc = 0, .flags = F_T,
      .type = "caf\xc3\xa9"),
    E("last type wins", "{\"type\":\"first\",\"type\":\"second\"}", .rc = 0, .flags = F_T,
      .type = "second"),
    E("last good type wins", "{\"type\":5,\"type\":\"ok\"}", .rc = 0, .flags = F_T, .type = "ok"),
    E("last bad type wins", "{\"type\":\"ok\",\"type\":5}", .rc = SL_ENOTYPE),
    E("last timestamp wins", "{\"type\":\"t\",\"timestamp\":true,\"timestamp\":5}", .rc = 0,
      .flags = F_T | F_S, .type = "t", .ts = 5),
    E("last bad timestamp wins", "{\"type\":\"t\",\"timestamp\":5,\"timestamp\":true}",
      .rc = SL_EFIELD),
    E("escaped key", "{\"ty\\u0070e\":\"x\"}", .rc = 0, .flags = F_T, .type = "x"),
    E("fully escaped key", "{\"\\u0074\\u0079\\u0070\\u0065\":\"x\"}", .rc = 0, .flags = F_T,
      .type = "x"),
    E("escaped partitionKey key", "{\"type\":\"t\",\"partition\\u004bey\":\"k\"}", .rc = 0,
      .flags = F_T | F_P, .type = "t", .pkey = "k"),
    E("key with escaped slash", "{\"type\\/\":\"x\"}", .rc = SL_ENOTYPE),
    E("nested type ignored", "{\"data\":{\"type\":\"inner\"}}", .rc = SL_ENOTYPE),
    E("nested type then top type", "{\"data\":{\"type\":\"inner\"},\"type\":\"outer\"}", .rc = 0,
      .flags = F_T, .type = "outer"),
    E("type in array ignored", "{\"list\":[{\"type\":\"x\"}],\"id\":\"i\"}", .rc = SL_ENOTYPE),
    E("type as value not key", "{\"kind\":\"type\"}", .rc = SL_ENOTYPE),
    E("missing type", "{\"id\":\"i\"}", .rc = SL_ENOTYPE),
    E("empty object", "{}", .rc = SL_ENOTYPE),
    E("empty type", "{\"type\":\"\"}", .rc = SL_ENOTYPE),
    E("numeric type", "{\"type\":5}", .rc = SL_ENOTYPE),
    E("null type", "{\"type\":null}", .rc = SL_ENOTYPE),
    E("object type", "{\"type\":{}}", .rc = SL_ENOTYPE),
    E("array type", "{\"type\":[\"x\"]}", .rc = SL_ENOTYPE),
    E("numeric id", "{\"type\":\"t\",\"id\":5}", .rc = SL_EFIELD),
    E("null id", "{\"type\":\"t\",\"id\":null}", .rc = SL_EFIELD),
    E("empty id is fine", "{\"type\":\"t\",\"id\":\"\"}", .rc = 0, .flags = F_T | F_I, .type = "t",
      .id = ""),
    E("object pkey", "{\"type\":\"t\",\"partitionKey\":{}}", .rc = SL_EFIELD),
    E("boolean timestamp", "{\"type\":\"t\",\"timestamp\":true}", .rc = SL_EFIELD),
    E("null timestamp", "{\"type\":\"t\",\"timestamp\":null}", .rc = SL_EFIELD),
    E("object timestamp", "{\"type\":\"t\",\"timestamp\":{}}", .rc = SL_EFIELD),
    E("array timestamp", "{\"type\":\"t\",\"timestamp\":[1]}", .rc = SL_EFIELD),
    E("bad string timestamp", "{\"type\":\"t\",\"timestamp\":\"yesterday\"}", .rc = SL_EFIELD),
    E("bad date timestamp", "{\"type\":\"t\",\"timestamp\":\"2023-02-29T00:00:00Z\"}",
      .rc = SL_EFIELD),
    E("huge real timestamp", "{\"type\":\"t\",\"timestamp\":1e300}", .rc = SL_EFIELD),
    E("negative timestamp", "{\"type\":\"t\",\"timestamp\":-5}", .rc = 0, .flags = F_T | F_S,
      .type = "t", .ts = -5),
    E("int64 min timestamp", "{\"type\":\"t\",\"timestamp\":-9223372036854775808}", .rc = 0,
      .flags = F_T | F_S, .type = "t", .ts = INT64_MIN),
    E("real timestamp truncated", "{\"type\":\"t\",\"timestamp\":1700000000000.9}", .rc = 0,
      .flags = F_T | F_S, .type = "t", .ts = 1700000000000),
    E("negative real truncated", "{\"type\":\"t\",\"timestamp\":-1.9}", .rc = 0, .flags = F_T | F_S,
      .type = "t", .ts = -1),
    E("exponent timestamp", "{\"type\":\"t\",\"timestamp\":1.7e12}", .rc = 0, .flags = F_T | F_S,
      .type = "t", .ts = 1700000000000),
    E("RFC 3339 timestamp", "{\"type\":\"t\",\"timestamp\":\"2026-11-27T05:06:31.123Z\"}", .rc = 0,
      .flags = F_T | F_S, .type = "t", .ts = 1795755991123),
    E("RFC 3339 with offset", "{\"type\":\"t\",\"timestamp\":\"2026-11-27T05:06:31+01:30\"}",
      .rc = 0, .flags = F_T | F_S, .type = "t", .ts = 1795750591000),
    E("escaped RFC 3339", "{\"type\":\"t\",\"timestamp\":\"2026-11-27\\u005405:06:31.123Z\"}",
      .rc = 0, .flags = F_T | F_S, .type = "t", .ts = 1795755991123),
    /* A fraction has no length limit, escaped or not (an escaped time was
     * copied whole into 64 bytes, refusing a long fraction: fuzz_scan). */
    E("escaped RFC 3339, long fraction",
      "{\"type\":\"t\",\"time\":\"\\u0032018-04-05T17:31:00."
      "1111111111111111111111111111111111111111111111111111111111111111111111Z\"}",
      .rc = 0, .flags = F_T | F_S, .type = "t", .ts = 1522949460111),
    E("escaped RFC 3339, long fraction then offset",
      "{\"type\":\"t\",\"timestamp\":\"2018-04-05T17:31:00."
      "1111111111111111111111111111111111111111111111111111111111111111111111\\u002b01:00\"}",
      .rc = 0, .flags = F_T | F_S, .type = "t", .ts = 1522945860111),
    E("escaped RFC 3339, long fraction then junk",
      "{\"type\":\"t\",\"time\":\"2018-04-05T17:31:00."
      "\\u00311111111111111111111111111111111111111111111111111111111111111111111111xZ\"}",
      .rc = SL_EFIELD),
    E("escaped RFC 3339, not ASCII", "{\"type\":\"t\",\"time\":\"2018-04-05T17:31:00\\u00e9Z\"}",
      .rc = SL_EFIELD),
    E("CloudEvents structured",
      "{\"specversion\":\"1.0\",\"type\":\"com.example.created\",\"source\":\"/x\","
      "\"id\":\"A1\",\"time\":\"2018-04-05T17:31:00Z\",\"partitionkey\":\"k1\"}",
      .rc = 0, .flags = F_T | F_I | F_P | F_S | SL_ENV_CLOUDEVENTS, .type = "com.example.created",
      .id = "A1", .pkey = "k1", .ts = 1522949460000),
    E("timestamp beats time",
      "{\"type\":\"t\",\"time\":\"2018-04-05T17:31:00Z\",\"timestamp\":5,\"specversion\":1}",
      .rc = 0, .flags = F_T | F_S | SL_ENV_CLOUDEVENTS, .type = "t", .ts = 5),
    E("bad time ignored under timestamp", "{\"type\":\"t\",\"time\":\"soon\",\"timestamp\":5}",
      .rc = 0, .flags = F_T | F_S, .type = "t", .ts = 5),
    E("bad time used", "{\"type\":\"t\",\"time\":\"soon\"}", .rc = SL_EFIELD),
    E("numeric time", "{\"type\":\"t\",\"time\":5}", .rc = SL_EFIELD),
    E("partitionKey beats partitionkey",
      "{\"type\":\"t\",\"partitionKey\":\"big\",\"partitionkey\":\"small\"}", .rc = 0,
      .flags = F_T | F_P, .type = "t", .pkey = "big"),
    E("partitionkey used", "{\"type\":\"t\",\"partitionkey\":\"small\"}", .rc = 0,
      .flags = F_T | F_P, .type = "t", .pkey = "small"),
    E("bad partitionkey used", "{\"type\":\"t\",\"partitionkey\":1}", .rc = SL_EFIELD),
    E("bad partitionkey ignored", "{\"type\":\"t\",\"partitionKey\":\"k\",\"partitionkey\":1}",
      .rc = 0, .flags = F_T | F_P, .type = "t", .pkey = "k"),
    E("array is not an event", "[{\"type\":\"t\"}]", .rc = SL_ENOTEVENT),
    E("empty array is not an event", "[]", .rc = SL_ENOTEVENT),
    E("invalid JSON beats good type", "{\"type\":\"t\",}", .rc = SL_EJSON),
    E("invalid JSON beats not-an-event", "[1,", .rc = SL_EJSON),
    E("invalid UTF-8 after type", "{\"type\":\"t\",\"x\":\"\xff\"}", .rc = SL_EJSON),
    E("scalar is invalid JSON", "\"t\"", .rc = SL_EJSON),
};

Test(scan, envelope)
{
    size_t i;

    for (i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++) {
        const env_case_t *c = &env_cases[i];
        sl_envelope_t env;
        sl_scan_error_t err = {0, NULL};
        int rc;

        memset(&env, 0xa5, sizeof env);
        rc = sl_envelope_scan(c->text, c->len, &env, &err);
        cr_expect_eq(rc, c->rc, "%s: %s (%s)", c->name, sl_err_name(rc),
                     err.reason ? err.reason : "-");
        cr_expect_eq(jansson_accepts(c->text, c->len), rc != SL_EJSON && rc != SL_EDEPTH,
                     "%s: jansson", c->name);
        if (rc != 0) {
            cr_expect_not_null(err.reason, "%s: reason", c->name);
            cr_expect_eq(env.flags, 0u, "%s: flags on failure", c->name);
            continue;
        }
        cr_expect_eq(env.flags, c->flags, "%s: flags %#x", c->name, env.flags);
        cr_expect_eq(env.timestamp, c->ts, "%s: timestamp %lld", c->name, (long long)env.timestamp);
        if (c->type) {
            cr_expect_eq(env.type.len, strlen(c->type), "%s: type length", c->name);
            cr_expect(env.type.ptr >= c->text && env.type.ptr + env.type.len <= c->text + c->len,
                      "%s: type span", c->name);
            cr_expect_arr_eq(env.type.ptr, c->type, strlen(c->type), "%s: type", c->name);
        }
        if (c->id) {
            cr_expect_eq(env.id.len, strlen(c->id), "%s: id length", c->name);
            cr_expect_arr_eq(env.id.ptr, c->id, strlen(c->id), "%s: id", c->name);
        } else {
            cr_expect_eq(env.id.len, 0, "%s: id", c->name);
        }
        if (c->pkey) {
            cr_expect_eq(env.partition_key.len, strlen(c->pkey), "%s: pkey length", c->name);
            cr_expect_arr_eq(env.partition_key.ptr, c->pkey, strlen(c->pkey), "%s: pkey", c->name);
        } else {
            cr_expect_eq(env.partition_key.len, 0, "%s: pkey", c->name);
        }
    }
}

Test(scan, envelope_null_arguments)
{
    sl_envelope_t env;

    cr_expect_eq(sl_envelope_scan(NULL, 0, &env, NULL), SL_EJSON);
    cr_expect_eq(sl_json_validate(NULL, 0, NULL), SL_EJSON);
    cr_expect_eq(sl_envelope_scan("{\"type\":\"t\"}", 12, NULL, NULL), 0);
}

/* ---- the malformed inputs the issue names ---- */

#define TEN_MB ((size_t)10 * 1024 * 1024)

static char *big_event(const char *head, char fill, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *b = malloc(hl + TEN_MB + tl);

    cr_assert_not_null(b);
    memcpy(b, head, hl);
    memset(b + hl, fill, TEN_MB);
    memcpy(b + hl + TEN_MB, tail, tl);
    *len = hl + TEN_MB + tl;
    return b;
}

Test(scan, ten_mb_string_value_scans, .timeout = 60)
{
    size_t len;
    char *b = big_event("{\"type\":\"big\",\"data\":\"", 'a', "\"}", &len);
    sl_envelope_t env;

    cr_expect_eq(sl_envelope_scan(b, len, &env, NULL), 0);
    cr_expect_eq(env.type.len, 3);
    cr_expect(jansson_accepts(b, len));
    free(b);
}

Test(scan, ten_mb_garbage_rejected, .timeout = 60)
{
    static const char head[] = "{\"type\":\"big\",\"data\":\"";
    uint64_t s = 42;
    size_t len, i, hl = sizeof head - 1;
    char *b = big_event(head, 'x', "\"}", &len);
    sl_scan_error_t err;

    /* printable garbage with one bad byte at its end: scanned to the end */
    for (i = hl; i < len - 2; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        b[i] = (char)(0x20 + s % 0x5f);
        if (b[i] == '"' || b[i] == '\\')
            b[i] = '.';
    }
    b[len - 3] = '\xff';
    cr_expect_eq(sl_envelope_scan(b, len, NULL, &err), SL_EJSON);
    cr_expect_eq(err.offset, len - 3);
    cr_expect_str_eq(err.reason, "invalid UTF-8");
    cr_expect(!jansson_accepts(b, len));

    /* arbitrary bytes */
    for (i = hl; i < len; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        b[i] = (char)(s >> 24);
    }
    cr_expect_eq(sl_envelope_scan(b, len, NULL, NULL), SL_EJSON);
    cr_expect(!jansson_accepts(b, len));
    free(b);
}

Test(scan, ten_mb_string_with_late_control_char, .timeout = 60)
{
    size_t len;
    char *b = big_event("{\"type\":\"big\",\"data\":\"", 'a', "\"}", &len);
    sl_scan_error_t err;

    b[len - 3] = '\x01';
    cr_expect_eq(sl_envelope_scan(b, len, NULL, &err), SL_EJSON);
    cr_expect_eq(err.offset, len - 3);
    cr_expect_str_eq(err.reason, "control character in string");
    free(b);
}

Test(scan, ten_mb_of_brackets, .timeout = 60)
{
    size_t len;
    char *b = big_event("", '[', "", &len);

    cr_expect_eq(sl_envelope_scan(b, len, NULL, NULL), SL_EDEPTH);
    free(b);
}

Test(scan, binary_bytes_rejected)
{
    static const struct {
        const char *b;
        size_t len;
    } blobs[] = {
        {"\x1f\x8b\x08\x00\x00\x00\x00\x00", 8},
        {"\x0a\x05hello\x10\x96\x01", 10},
        {"{\x00\x01\x02\x03}", 6},
        {"[\xff\xfe\xfd]", 5},
        {"\x00\x00\x00\x00", 4},
    };
    unsigned char all[256];
    size_t i;

    for (i = 0; i < sizeof blobs / sizeof blobs[0]; i++) {
        cr_expect_eq(sl_envelope_scan(blobs[i].b, blobs[i].len, NULL, NULL), SL_EJSON, "blob %zu",
                     i);
        cr_expect(!jansson_accepts(blobs[i].b, blobs[i].len));
    }
    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    cr_expect_eq(sl_envelope_scan(all, sizeof all, NULL, NULL), SL_EJSON);
}

/* ---- randomized differential: mutated events ---- */

Test(scan, randomized_differential)
{
    static const char *const seeds[] = {
        "{\"id\":\"e1\",\"type\":\"thing-updated\",\"timestamp\":1700000000000,"
        "\"partitionKey\":\"thing-42\",\"tags\":{\"region\":\"us-east-1\"},"
        "\"thing\":{\"name\":\"caf\xc3\xa9\",\"count\":42,\"price\":19.99,\"t\":[true,false,null]}"
        "}",
        "{\"specversion\":\"1.0\",\"type\":\"x\\u0041\\ud83d\\ude00\",\"time\":"
        "\"2018-04-05T17:31:00Z\",\"partitionkey\":\"k\",\"data\":[1e308,-0.5e-3,0]}",
        "[{\"a\":[[],{}]},\"\\\"\\\\\\/"
        "\\b\\f\\n\\r\\t\",9223372036854775807,1.7976931348623157e308]",
        "{\"type\":\"\xe2\x82\xac\xf0\x9f\x98\x80\",\"id\":\"\\u20ac\",\"timestamp\":\"2024-02-"
        "29T23:59:"
        "60.5-01:00\"}",
    };
    static const unsigned char interesting[] = {
        '"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  '0',  '1',  '9',  '-',
        '+',  '.',  'e',  'E',  'u',  'n',  't',  'f',  ' ',  '\n', 0x00, 0x01,
        0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
    };
    unsigned char buf[1024];
    size_t iter, disagreements = 0;

    for (iter = 0; iter < 5000; iter++) {
        const char *seed = seeds[rng() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed), nmut = 1 + rng() % 4, m;
        int vrc, erc, j, scan_ok;

        memcpy(buf, seed, len);
        for (m = 0; m < nmut; m++) {
            size_t at = len ? (size_t)(rng() % len) : 0;
            unsigned char byte =
                rng() % 2 ? interesting[rng() % sizeof interesting] : (unsigned char)rng();
            switch (rng() % 4) {
            case 0: /* overwrite */
                if (len)
                    buf[at] = byte;
                break;
            case 1: /* insert */
                if (len < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = byte;
                    len++;
                }
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* truncate */
                len = at;
                break;
            }
        }
        vrc = sl_json_validate(buf, len, NULL);
        erc = sl_envelope_scan(buf, len, NULL, NULL);
        j = jansson_accepts(buf, len);
        scan_ok = erc == 0 || erc == SL_ENOTEVENT || erc == SL_ENOTYPE || erc == SL_EFIELD;
        if ((vrc == 0) != j || scan_ok != j) {
            hexdump(j ? "jansson accepts, scanner rejects" : "jansson rejects, scanner accepts",
                    buf, len);
            disagreements++;
        }
    }
    cr_expect_eq(disagreements, 0, "%zu disagreements (inputs on stderr)", disagreements);
}

/* ---- the quote index: compact ASCII texts ----
 *
 * A text with no '\\', no byte below 0x20 and none above 0x7F, of at most
 * 16 KiB, is walked over an index of its quotes (scan.c); any other text,
 * and any failure there, goes to the byte scanner. These tests feed both
 * paths the same texts: a leading tab (whitespace before the value) sends
 * a text to the byte scanner without changing its meaning, so the two
 * verdicts, reasons and offsets (shifted by one, or both 0 for a missing
 * type) must match, and jansson must agree with both. */

/* Writes a compact ASCII event shaped like the benchmark's, string lengths
 * from rng() so that quotes fall on every position of the 64-byte blocks. */
static size_t ascii_event(char *buf, size_t cap)
{
    static const char alnum[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./";
    char s[4][80];
    size_t i, k;
    int n;

    for (k = 0; k < 4; k++) {
        size_t len = rng() % (sizeof s[k] - 1);
        for (i = 0; i < len; i++)
            s[k][i] = alnum[rng() % (sizeof alnum - 1)];
        s[k][len] = '\0';
    }
    n = snprintf(buf, cap,
                 "{\"id\":\"%s\",\"type\":\"thing-%s\",\"timestamp\":%llu,\"partitionKey\":\"%s\","
                 "\"tags\":{\"a\":\"x\",\"b\":[]},\"thing\":{\"name\":\"%s\",\"count\":%d,"
                 "\"price\":%d.%02d,\"ok\":true,\"no\":false,\"nil\":null,\"list\":[[],{},[1,[2]],"
                 "\"\",-0.5e-3,{\"k\":{}}]}}",
                 s[0], s[1], (unsigned long long)(rng() % 2000000000000ull), s[2], s[3],
                 (int)(rng() % 100000), (int)(rng() % 1000), (int)(rng() % 100));
    cr_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* The same text through both paths and jansson. */
/* The offset of a span in its text, shifted for the slow copy's tab. */
static long span_at(sl_span_t s, const void *text, long shift)
{
    return s.ptr ? (long)(s.ptr - (const char *)text) + shift : -1;
}

static int same_span(sl_span_t f, const void *ftext, sl_span_t s, const void *stext)
{
    return f.len == s.len && span_at(f, ftext, 1) == span_at(s, stext, 0);
}

/* The same text through both paths and jansson. */
static void both_paths_agree(const unsigned char *text, size_t len, size_t *fails)
{
    static unsigned char slow[4096];
    sl_scan_error_t ef = {0, NULL}, es = {0, NULL};
    sl_envelope_t vf, vs;
    int rf, rs, j;

    cr_assert_lt(len, sizeof slow);
    slow[0] = '\t';
    memcpy(slow + 1, text, len);
    rf = sl_envelope_scan(text, len, &vf, &ef);
    rs = sl_envelope_scan(slow, len + 1, &vs, &es);
    j = jansson_accepts(text, len);
    if (rf != rs || (rf == SL_EJSON || rf == SL_EDEPTH) == j ||
        (rf &&
         (ef.reason != es.reason || (ef.offset + 1 != es.offset && (ef.offset || es.offset)))) ||
        (!rf && (vf.flags != vs.flags || vf.timestamp != vs.timestamp ||
                 !same_span(vf.type, text, vs.type, slow) || !same_span(vf.id, text, vs.id, slow) ||
                 !same_span(vf.partition_key, text, vs.partition_key, slow)))) {
        fprintf(stderr, "index %s (%s at %zu), bytes %s (%s at %zu), jansson %s\n", sl_err_name(rf),
                ef.reason ? ef.reason : "-", ef.offset, sl_err_name(rs),
                es.reason ? es.reason : "-", es.offset, j ? "accepts" : "rejects");
        hexdump("text", text, len);
        (*fails)++;
    }
}

Test(scan, index_reads_the_envelope)
{
    static const char text[] =
        "{\"tags\":{\"type\":\"inner\",\"id\":[\"x\"]},\"id\":\"e-1\",\"list\":[{\"type\":\"no\"}],"
        "\"type\":\"thing-updated\",\"partitionKey\":\"k 1\",\"timestamp\":1700000000123,"
        "\"pad\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}";
    sl_envelope_t env;

    cr_assert_eq(sl_envelope_scan(text, sizeof text - 1, &env, NULL), 0);
    cr_expect_eq(env.type.len, 13);
    cr_expect_arr_eq(env.type.ptr, "thing-updated", 13);
    cr_expect_eq(env.id.len, 3);
    cr_expect_arr_eq(env.id.ptr, "e-1", 3);
    cr_expect_eq(env.partition_key.len, 3);
    cr_expect_arr_eq(env.partition_key.ptr, "k 1", 3);
    cr_expect_eq(env.timestamp, 1700000000123);
    cr_expect_eq(env.flags, SL_ENV_TYPE | SL_ENV_ID | SL_ENV_PKEY | SL_ENV_TIMESTAMP);
}

Test(scan, index_and_bytes_agree_on_every_truncation)
{
    char buf[1024];
    size_t k, cut, fails = 0;

    for (k = 0; k < 40; k++) {
        size_t len = ascii_event(buf, sizeof buf);
        both_paths_agree((const unsigned char *)buf, len, &fails);
        cr_assert_eq(sl_envelope_scan(buf, len, NULL, NULL), 0, "%.*s", (int)len, buf);
        for (cut = 0; cut < len; cut++)
            both_paths_agree((const unsigned char *)buf, cut, &fails);
    }
    cr_expect_eq(fails, 0, "%zu disagreements (inputs on stderr)", fails);
}

Test(scan, index_and_bytes_agree_on_mutations)
{
    /* Mostly ASCII bytes, so the mutants stay on the index path; a few that
     * send them to the byte scanner (escape, controls, UTF-8). */
    static const unsigned char bytes[] = {
        '"', '{', '}', '[', ']', ',', ':', '0', '1',  '9',  '-',  '+',  '.',  'e',  'E',
        'a', 'n', 't', 'f', 'l', 'u', 'r', ' ', 0x7f, '\\', '\t', '\n', 0x00, 0xc3, 0xa9,
    };
    char buf[1100];
    size_t iter, fails = 0;

    for (iter = 0; iter < 20000; iter++) {
        size_t len = ascii_event(buf, 1000), nmut = 1 + rng() % 3, m;

        for (m = 0; m < nmut; m++) {
            size_t at = (size_t)(rng() % len);
            unsigned char b = bytes[rng() % (rng() % 8 ? 24 : sizeof bytes)];
            switch (rng() % 3) {
            case 0:
                buf[at] = (char)b;
                break;
            case 1:
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (char)b;
                len++;
                break;
            default:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            }
        }
        both_paths_agree((const unsigned char *)buf, len, &fails);
    }
    cr_expect_eq(fails, 0, "%zu disagreements (inputs on stderr)", fails);
}

Test(scan, index_whitespace_escapes_and_limits)
{
    /* Spaces stay on the index path; a tab, an escape or a UTF-8 byte
     * anywhere sends the whole text to the byte scanner. */
    static const char *const texts[] = {
        "{ \"type\" : \"t\" , \"id\" : \"i\" , \"a\" : [ 1 , { } , [ ] ] }",
        "{\"type\":\"t\",\"a\":\"\\\"quoted\\\" \\\\ \"}",
        "{\"type\":\"t\",\"a\":\"caf\xc3\xa9\"}",
        "{\"type\":\"t\",\"a\":\"\\u00e9\",\"id\":\"x\"}",
        "{\"type\":\"t\",\"a\":\"\"}",
        "{\"type\":\"t\",\"\":\"\"}",
        "{\"type\":\"t\"} ",
        "{\"type\":\"t\"}}",
        "{\"type\":\"t\" \"id\":\"x\"}",
        "{\"type\":\"t\",\"a\":\"unterminated}",
        "{\"type\":\"t\",\"a\":\"x\"\"}",
        "{\"type\":\"t\",\"a\":tru}",
        "{\"type\":\"t\",\"a\":[1,]}",
        "[\"a\",\"b\"]",
    };
    size_t i, fails = 0, len;
    char *big;

    for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
        both_paths_agree((const unsigned char *)texts[i], strlen(texts[i]), &fails);
    cr_expect_eq(fails, 0, "%zu disagreements (inputs on stderr)", fails);

    /* 16 KiB is the index's limit: just under it and just over, one answer. */
    for (len = 16384 - 2; len <= 16384 + 2; len++) {
        static const char head[] = "{\"type\":\"big\",\"pad\":\"";
        sl_envelope_t env;

        big = malloc(len);
        cr_assert_not_null(big);
        memcpy(big, head, sizeof head - 1);
        memset(big + sizeof head - 1, 'x', len - (sizeof head - 1) - 2);
        memcpy(big + len - 2, "\"}", 2);
        cr_expect_eq(sl_envelope_scan(big, len, &env, NULL), 0, "%zu bytes", len);
        cr_expect_eq(env.type.len, 3);
        big[len - 1] = ']';
        cr_expect_eq(sl_json_validate(big, len, NULL), SL_EJSON, "%zu bytes", len);
        free(big);
    }
}

/* The quote index the scalar way: the words and flags sl__quote_index()
 * must write. */
static size_t index_reference(const unsigned char *p, size_t len, uint64_t *m, unsigned *flags)
{
    size_t w = (len + 63) / 64, i;
    memset(m, 0, w * sizeof *m);
    *flags = 0;
    for (i = 0; i < len; i++) {
        if (p[i] == '\\')
            *flags |= SL__QI_BSLASH;
        if (p[i] < 0x20 || p[i] > 0x7f)
            *flags |= SL__QI_CTL;
        if (p[i] == '"')
            m[i / 64] |= 1ull << (i % 64);
    }
    return w;
}

static const char *const isa_names[] = {"none", "SSE2", "AVX2", "AVX-512BW"};

/* Every instruction set this CPU runs writes the reference's index and
 * flags, on texts of every length around the word edges with quotes and
 * special bytes at random places, each placed so that it ends where a page
 * no one may read begins: no set reads past the text. */
Test(scan, quote_index_agrees_on_every_instruction_set)
{
    static const unsigned char bytes[] = {'"',  '"',  '"',  'a',  ' ',  '{',  ':',
                                          '\\', 0x1f, 0x7f, 0x80, 0xff, 0x00, '\t'};
    long pg = sysconf(_SC_PAGESIZE);
    size_t region = 5 * (size_t)pg;
    unsigned char *map =
        mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(map != MAP_FAILED);
    /* the last page unreadable: a text ends right before it */
    cr_assert_eq(mprotect(map + 4 * (size_t)pg, (size_t)pg, PROT_NONE), 0);
    unsigned char *limit = map + 4 * (size_t)pg;
    uint64_t want[64], got[64];
    unsigned wflags, gflags;
    int best = sl__scan_isa();
    size_t checked = 0;

    cr_log_info("quote index: this CPU's widest is %s", isa_names[best]);
    for (size_t len = 0; len <= 3 * 64 + 1; len++) {
        for (int round = 0; round < 40; round++) {
            unsigned char *p = limit - len;
            for (size_t i = 0; i < len; i++)
                p[i] = 'x';
            /* quotes mostly, and now and then a special byte or two */
            size_t nq = len ? (size_t)(rng() % (len / 4 + 2)) : 0;
            for (size_t k = 0; k < nq; k++)
                p[rng() % len] = '"';
            for (int k = 0; len && k < round % 3; k++)
                p[rng() % len] = bytes[rng() % sizeof bytes];
            size_t nw = index_reference(p, len, want, &wflags);
            for (int isa = SL__ISA_SSE2; isa <= best; isa++) {
                memset(got, 0xa5, sizeof got);
                size_t gw = sl__quote_index_isa(p, len, got, &gflags, isa);
                cr_assert_eq(gw, nw, "%s, %zu bytes: %zu words, want %zu", isa_names[isa], len, gw,
                             nw);
                cr_assert_eq(gflags, wflags, "%s, %zu bytes: flags %u, want %u", isa_names[isa],
                             len, gflags, wflags);
                for (size_t w = 0; w < nw; w++)
                    cr_assert_eq(got[w], want[w], "%s, %zu bytes, word %zu: %016llx, want %016llx",
                                 isa_names[isa], len, w, (unsigned long long)got[w],
                                 (unsigned long long)want[w]);
                checked++;
            }
        }
    }
    munmap(map, region);
    cr_expect_gt(checked, 0, "no instruction set was checked");
}

Test(scan, integer_timestamps_of_every_length)
{
    /* The scanner reads digit runs and integer values eight digits at a
     * time: every length from 1 to 19 digits, both signs, against jansson. */
    size_t digits, k;

    for (digits = 1; digits <= 19; digits++) {
        for (k = 0; k < 20; k++) {
            char num[24], text[96];
            size_t i;
            int neg = (int)(k & 1), n;
            json_t *root;
            sl_envelope_t env;

            num[0] = (char)('1' + rng() % 9);
            for (i = 1; i < digits; i++)
                num[i] = (char)('0' + rng() % 10);
            if (digits == 19)
                num[0] = k < 10 ? '9' : (char)('1' + rng() % 8); /* near and at int64's edge */
            if (digits == 19 && k < 10)
                memcpy(num, neg ? "9223372036854775808" : "9223372036854775807", 19);
            num[digits] = '\0';
            n = snprintf(text, sizeof text, "{\"type\":\"t\",\"timestamp\":%s%s,\"x\":[%s%s.%s]}",
                         neg ? "-" : "", num, neg ? "-" : "", num, num);
            cr_assert(n > 0 && (size_t)n < sizeof text);
            root = json_loadb(text, (size_t)n, 0, NULL);
            cr_assert_not_null(root, "%s", text);
            cr_expect_eq(sl_envelope_scan(text, (size_t)n, &env, NULL), 0, "%s", text);
            cr_expect_eq(env.timestamp, json_integer_value(json_object_get(root, "timestamp")),
                         "%s: %lld", text, (long long)env.timestamp);
            json_decref(root);
        }
    }
}

/* ---- CloudEvents binary mode ---- */

#define HDR(n, v)                                                                                  \
    {                                                                                              \
        .name = n, .value = v, .value_len = sizeof(v) - 1                                          \
    }

Test(scan, headers_binary_mode)
{
    static const sl_header_t hs[] = {
        HDR("content-type", "application/json"),
        HDR("ce_specversion", "1.0"),
        HDR("ce_type", "com.example.created"),
        HDR("ce_id", "A1"),
        HDR("ce_source", "/x"),
        HDR("ce_partitionkey", "k1"),
        HDR("ce_time", "2018-04-05T17:31:00Z"),
    };
    sl_envelope_t env;

    cr_assert_eq(sl_envelope_from_headers(hs, 7, &env), 1);
    cr_expect_eq(env.flags, SL_ENV_TYPE | SL_ENV_ID | SL_ENV_PKEY | SL_ENV_TIMESTAMP |
                                SL_ENV_CLOUDEVENTS | SL_ENV_BINARY);
    cr_expect_eq(env.type.ptr, hs[2].value);
    cr_expect_eq(env.type.len, strlen("com.example.created"));
    cr_expect_eq(env.id.ptr, hs[3].value);
    cr_expect_eq(env.partition_key.len, 2);
    cr_expect_eq(env.timestamp, 1522949460000);
}

Test(scan, headers_cases)
{
    static const struct {
        const char *name;
        sl_header_t h[3];
        size_t n;
        int rc;
        unsigned flags;
        const char *type;
    } cases[] = {
        {.name = "no headers", .n = 0, .rc = 0},
        {.name = "not CloudEvents", .h = {HDR("content-type", "x")}, .n = 1, .rc = 0},
        {.name = "ce_id without ce_type", .h = {HDR("ce_id", "1")}, .n = 1, .rc = 0},
        {.name = "upper-case name", .h = {HDR("CE_TYPE", "t")}, .n = 1, .rc = 0},
        {.name = "prefix only", .h = {HDR("ce_", "t"), HDR("ce", "t")}, .n = 2, .rc = 0},
        {.name = "type only",
         .h = {HDR("ce_type", "t")},
         .n = 1,
         .rc = 1,
         .flags = SL_ENV_TYPE | SL_ENV_CLOUDEVENTS | SL_ENV_BINARY,
         .type = "t"},
        {.name = "last type wins",
         .h = {HDR("ce_type", "a"), HDR("ce_type", "b")},
         .n = 2,
         .rc = 1,
         .flags = SL_ENV_TYPE | SL_ENV_CLOUDEVENTS | SL_ENV_BINARY,
         .type = "b"},
        {.name = "empty type", .h = {HDR("ce_type", "")}, .n = 1, .rc = SL_EFIELD},
        {.name = "bad time",
         .h = {HDR("ce_type", "t"), HDR("ce_time", "yesterday")},
         .n = 2,
         .rc = SL_EFIELD},
        {.name = "empty id",
         .h = {HDR("ce_type", "t"), HDR("ce_id", "")},
         .n = 2,
         .rc = 1,
         .flags = SL_ENV_TYPE | SL_ENV_ID | SL_ENV_CLOUDEVENTS | SL_ENV_BINARY,
         .type = "t"},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_envelope_t env;
        int rc = sl_envelope_from_headers(cases[i].h, cases[i].n, &env);

        cr_expect_eq(rc, cases[i].rc, "%s: %d", cases[i].name, rc);
        cr_expect_eq(env.flags, cases[i].flags, "%s: flags %#x", cases[i].name, env.flags);
        if (cases[i].type) {
            cr_expect_eq(env.type.len, strlen(cases[i].type), "%s", cases[i].name);
            cr_expect_arr_eq(env.type.ptr, cases[i].type, env.type.len, "%s", cases[i].name);
        }
    }
    cr_expect_eq(sl_envelope_from_headers(NULL, 0, NULL), 0);
}

/* ---- unescaping ---- */

typedef struct unesc_case_s {
    const char *in;
    size_t in_len;
    const char *out;
    size_t out_len;
    int rc;
} unesc_case_t;

#define U(i, o, r)                                                                                 \
    {                                                                                              \
        .in = i, .in_len = sizeof(i) - 1, .out = o, .out_len = sizeof(o) - 1, .rc = r              \
    }

Test(scan, span_unescape)
{
    static const unesc_case_t cases[] = {
        U("", "", 0),
        U("plain", "plain", 0),
        U("a\\nb", "a\nb", 0),
        U("\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 0),
        U("\\u0041", "A", 0),
        U("\\u00e9", "\xc3\xa9", 0),
        U("\\u20AC", "\xe2\x82\xac", 0),
        U("\\uffff", "\xef\xbf\xbf", 0),
        U("\\ud83d\\ude00", "\xf0\x9f\x98\x80", 0),
        U("\\uDBFF\\uDFFF", "\xf4\x8f\xbf\xbf", 0),
        U("x\\u0041y\\u00e9z", "xAy\xc3\xa9z", 0),
        U("caf\xc3\xa9", "caf\xc3\xa9", 0),
        U("\\x", "", SL_EJSON),
        U("ends\\", "", SL_EJSON),
        U("\\u12", "", SL_EJSON),
        U("\\u12g4", "", SL_EJSON),
        U("\\ud800", "", SL_EJSON),
        U("\\udc00", "", SL_EJSON),
        U("\\ud800\\u0041", "", SL_EJSON),
        U("\\u0000", "", SL_EJSON),
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t n = 999;
        sl_span_t s = {cases[i].in, cases[i].in_len};
        int rc = sl_span_unescape(s, out, sizeof out, &n);

        cr_expect_eq(rc, cases[i].rc, "'%s': %s", cases[i].in, sl_err_name(rc));
        if (rc)
            continue;
        cr_expect_eq(n, cases[i].out_len, "'%s': length %zu", cases[i].in, n);
        cr_expect_leq(n, s.len);
        cr_expect_arr_eq(out, cases[i].out, n, "'%s'", cases[i].in);
    }
}

Test(scan, span_unescape_range)
{
    char out[8];
    size_t n;
    sl_span_t plain = {"abcdef", 6}, esc = {"ab\\u20ac", 8}, pair = {"\\ud83d\\ude00", 12};

    cr_expect_eq(sl_span_unescape(plain, out, 6, &n), 0);
    cr_expect_eq(n, 6);
    cr_expect_eq(sl_span_unescape(plain, out, 5, &n), SL_ERANGE);
    cr_expect_eq(sl_span_unescape(esc, out, 5, &n), 0);
    cr_expect_eq(n, 5);
    cr_expect_eq(sl_span_unescape(esc, out, 4, &n), SL_ERANGE);
    cr_expect_eq(sl_span_unescape(pair, out, 4, &n), 0);
    cr_expect_eq(sl_span_unescape(pair, out, 3, &n), SL_ERANGE);
    cr_expect_eq(sl_span_unescape(plain, NULL, 0, &n), SL_ERANGE);
}

/* ---- RFC 3339 ---- */

typedef struct time_case_s {
    const char *s;
    int rc;
    int64_t ms;
} time_case_t;

Test(scan, rfc3339)
{
    static const time_case_t cases[] = {
        {.s = "1970-01-01T00:00:00Z", .ms = 0},
        {.s = "2026-11-27T05:06:31.123Z", .ms = 1795755991123},
        {.s = "2026-11-27t05:06:31.123z", .ms = 1795755991123},
        {.s = "2026-11-27 05:06:31.123Z", .ms = 1795755991123},
        {.s = "2026-11-27T05:06:31.123456789Z", .ms = 1795755991123},
        {.s = "2026-11-27T05:06:31.1Z", .ms = 1795755991100},
        {.s = "2026-11-27T05:06:31+01:30", .ms = 1795750591000},
        {.s = "2026-11-27T03:36:31-00:00", .ms = 1795750591000},
        {.s = "2026-11-26T22:06:31-07:00", .ms = 1795755991000},
        {.s = "2024-02-29T00:00:00Z", .ms = 1709164800000},
        {.s = "2000-02-29T12:00:00Z", .ms = 951825600000},
        {.s = "2016-12-31T23:59:60Z", .ms = 1483228800000},
        {.s = "1969-12-31T23:59:59.5Z", .ms = -500},
        {.s = "0001-01-01T00:00:00Z", .ms = -62135596800000},
        {.s = "9999-12-31T23:59:59.999Z", .ms = 253402300799999},
        {.s = "", .rc = SL_EFIELD},
        {.s = "2026-11-27", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31", .rc = SL_EFIELD},
        {.s = "2026-13-01T00:00:00Z", .rc = SL_EFIELD},
        {.s = "2026-00-10T00:00:00Z", .rc = SL_EFIELD},
        {.s = "2026-04-31T00:00:00Z", .rc = SL_EFIELD},
        {.s = "2026-04-00T00:00:00Z", .rc = SL_EFIELD},
        {.s = "2023-02-29T00:00:00Z", .rc = SL_EFIELD},
        {.s = "1900-02-29T00:00:00Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T24:00:00Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T23:60:00Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T23:59:61Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31.Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31+24:00", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31+01:60", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31+0130", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31+01:3", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:31Zjunk", .rc = SL_EFIELD},
        {.s = "2026-1-27T05:06:31Z", .rc = SL_EFIELD},
        {.s = "2026/11/27T05:06:31Z", .rc = SL_EFIELD},
        {.s = "2026-11-27X05:06:31Z", .rc = SL_EFIELD},
        {.s = "2026-11-27T05:06:3aZ", .rc = SL_EFIELD},
        {.s = "+026-11-27T05:06:31Z", .rc = SL_EFIELD},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = sl_rfc3339_parse(cases[i].s, strlen(cases[i].s), &ms);

        cr_expect_eq(rc, cases[i].rc, "'%s': %s", cases[i].s, sl_err_name(rc));
        if (rc == 0)
            cr_expect_eq(ms, cases[i].ms, "'%s': %lld", cases[i].s, (long long)ms);
    }
    cr_expect_eq(sl_rfc3339_parse(NULL, 0, NULL), SL_EFIELD);
}

/* The RFC 4648 test vectors both ways, every byte value and every tail
 * length round trip, and what is not standard padded base64 is refused. */
Test(scan, base64)
{
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char text[SL_BASE64_ENCODED_SIZE(258)];
    unsigned char bytes[258], back[258];
    size_t n;

    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t len = strlen(vec[i][0]);
        cr_expect_eq(sl_base64_encode(vec[i][0], len, text), strlen(vec[i][1]));
        cr_expect_str_eq(text, vec[i][1]);
        n = 99;
        cr_expect_eq(sl_base64_decode(vec[i][1], strlen(vec[i][1]), back, &n), 0, "%s", vec[i][1]);
        cr_expect_eq(n, len);
        cr_expect(!memcmp(back, vec[i][0], len), "%s", vec[i][1]);
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(255 - i);
    for (size_t len = 256; len <= 258; len++) {
        size_t tl = sl_base64_encode(bytes, len, text);
        cr_expect_eq(tl + 1, SL_BASE64_ENCODED_SIZE(len));
        cr_expect_eq(sl_base64_decode(text, tl, back, &n), 0);
        cr_expect_eq(n, len);
        cr_expect(!memcmp(back, bytes, len), "%zu bytes", len);
    }
    static const char *const bad[] = {"Zg=",      "Zg",     "Z===", "=Zg=", "Zg=a",
                                      "Zg==Zg==", "Zm9v\n", "Zm-_", "Zm9 ", "Zm\x80v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 99;
        cr_expect_eq(sl_base64_decode(bad[i], strlen(bad[i]), back, &n), SL_EFIELD, "'%s'", bad[i]);
        cr_expect_eq(n, 99, "'%s'", bad[i]);
    }
}
