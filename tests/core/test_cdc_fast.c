/* The cdc flavor's fast path (lib/flavors/cdc_fast.c) against the jansson
 * tree path as the oracle: a corpus of every DynamoDB attribute type (S, N,
 * B, BOOL, NULL, M, L, SS, NS, BS, nested, empty, escaped) and Debezium
 * value, in INSERT/MODIFY/REMOVE and c/r/u/d records, under the options of
 * issue 16 (skips, entity naming, soft deletes, TTL expiry, ids, drop list,
 * tags, partition keys), plus seeded random records and malformed ones.
 *
 * DynamoDB: the fast text is byte for byte the tree path's. Debezium: equal
 * as JSON (numbers keep the producer's text on the fast path; the tree
 * writes 1.50 as 1.5), and byte for byte when no number is written
 * differently. A record the fast path gives way on gives the tree path's
 * answer, reason included. */
#include "flavors/cdc_int.h"
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

TestSuite(cdc_fast);

/* Single-quoted JSON to JSON in a fresh buffer (the caller frees). */
static char *sqd(const char *s)
{
    char *b = strdup(s);
    cr_assert_not_null(b);
    for (char *p = b; *p; p++)
        if (*p == '\'')
            *p = '"';
    return b;
}

typedef struct outcome_s {
    int rc;
    char *text;
    size_t len;
    char err[256];
} outcome_t;

static outcome_t run(const sl_cdc_opts_t *o, const sl_record_t *r, int mode)
{
    outcome_t x = {0};
    x.rc = sl__cdc_convert_text_mode(o, r, mode, &x.text, &x.len, x.err, sizeof x.err);
    return x;
}

static void release(outcome_t *x)
{
    sl_free(x->text);
    x->text = NULL;
}

static int g_fast, g_gave_way;

/* Compares the three ways on one record; @p must_fast: the fast path must
 * not give way. */
static void diff(const sl_cdc_opts_t *o, const sl_record_t *r, int must_fast, const char *what)
{
    outcome_t tree = run(o, r, 0), fast = run(o, r, 2), both = run(o, r, 1);
    const char *v = r->value ? (const char *)r->value : "";
    if (fast.rc == CDC_FALLBACK) {
        g_gave_way++;
        cr_assert(!must_fast, "%s: the fast path gave way on %s", what, v);
        cr_assert_null(fast.text);
    } else {
        g_fast++;
        cr_assert_eq(fast.rc, tree.rc, "%s: rc %d, tree %d (%s) on %s", what, fast.rc, tree.rc,
                     tree.err, v);
        cr_assert_eq(!fast.text, !tree.text, "%s: event / no event differ on %s", what, v);
        if (!tree.text && !tree.rc) /* skipped: the same reason */
            cr_assert_str_eq(fast.err, tree.err, "%s", what);
        if (tree.text) {
            int dbz = o->format == SL_CDC_DEBEZIUM;
            cr_assert_eq(fast.len, strlen(fast.text), "%s", what);
            if (strcmp(fast.text, tree.text)) {
                cr_assert(dbz, "%s: not byte-identical\n fast %s\n tree %s", what, fast.text,
                          tree.text);
                json_t *a = json_loads(fast.text, 0, NULL), *b = json_loads(tree.text, 0, NULL);
                cr_assert(a && b && json_equal(a, b), "%s: not equal as JSON\n fast %s\n tree %s",
                          what, fast.text, tree.text);
                json_decref(a);
                json_decref(b);
            }
        }
    }
    /* sl_cdc_convert_text (fast, then tree when it gives way) is the tree's answer. */
    cr_assert_eq(both.rc, tree.rc, "%s: %s", what, both.err);
    cr_assert_eq(!both.text, !tree.text, "%s", what);
    if (fast.rc == CDC_FALLBACK || tree.rc) {
        cr_assert_str_eq(both.err, tree.err, "%s", what);
        if (tree.text)
            cr_assert_str_eq(both.text, tree.text, "%s", what);
    }
    release(&tree);
    release(&fast);
    release(&both);
}

static sl_record_t rec(const char *value, const char *key, const char *position)
{
    return (sl_record_t){.topic = "things-cdc",
                         .partition = 2,
                         .offset = 77,
                         .timestamp_ms = 1767225999000ll,
                         .key = key,
                         .key_len = key ? strlen(key) : 0,
                         .value = value,
                         .value_len = value ? strlen(value) : 0,
                         .position = position};
}

/* Every attribute value form, single-quoted. */
static const char *const AV[] = {
    "{'S':'plain'}",
    "{'S':''}",
    "{'S':'caf\\u00e9 \\\"q\\\" \\\\ \\/ \\n\\t \\ud83d\\ude00'}",
    "{'S':'h\xc3\xa9llo \xe2\x82\xac'}",
    "{'N':'42'}",
    "{'N':'-7'}",
    "{'N':'+0012'}",
    "{'N':'-0'}",
    "{'N':'4.14'}",
    "{'N':'3.14159'}",
    "{'N':'.5'}",
    "{'N':'5.'}",
    "{'N':'1.50'}",
    "{'N':'1E+3'}",
    "{'N':'-2.5e-7'}",
    "{'N':'9223372036854775807'}",
    "{'N':'-9223372036854775808'}",
    "{'N':'9223372036854775808'}",
    "{'N':'123456789012345678901234567890'}",
    "{'N':'0.000000000000000000000000000001'}",
    /* about the bounds of the texts copied without parsing (n_plain) */
    "{'N':'0'}",
    "{'N':'00'}",
    "{'N':'0.0'}",
    "{'N':'-0.50'}",
    "{'N':'999999999999999999'}",
    "{'N':'-999999999999999999'}",
    "{'N':'9999999999999999999'}",
    "{'N':'1234567890123456.5'}",
    "{'N':'12345678901234567.5'}",
    "{'B':'AAECAwQ='}",
    "{'B':''}",
    "{'BOOL':true}",
    "{'BOOL':false}",
    "{'NULL':true}",
    "{'M':{}}",
    "{'M':{'a':{'S':'x'},'b':{'N':'1.0'},'c':{'M':{'d':{'L':[{'N':'2'},{'NULL':true}]}}}}}",
    "{'L':[]}",
    "{'L':[{'S':'a'},{'N':'1'},{'BOOL':false},{'L':[{'M':{'z':{'SS':['q']}}}]},{'B':'AA=='}]}",
    "{'SS':[]}",
    "{'SS':['x','y\\\"z']}",
    "{'NS':['1','2.50','-3e2','+4']}",
    "{'NS':[]}",
    "{'BS':['AA==','AQI=']}",
    " { 'S' : 'spaced' } ",
};

/* A DynamoDB record with @p img as NewImage (and OldImage when set). */
static char *ddb_record(const char *event, const char *new_img, const char *old_img,
                        const char *keys, const char *extra)
{
    char *buf = malloc(65536);
    cr_assert_not_null(buf);
    int n = snprintf(buf, 65536,
                     "{'eventID':'ev-1','eventName':'%s','awsRegion':'eu-west-1'%s,'dynamodb':{"
                     "'ApproximateCreationDateTime':1767225600.5,'Keys':%s%s%s%s%s}}",
                     event, extra ? extra : "", keys ? keys : "null", new_img ? ",'NewImage':" : "",
                     new_img ? new_img : "", old_img ? ",'OldImage':" : "", old_img ? old_img : "");
    cr_assert_lt(n, 65536);
    char *out = sqd(buf);
    free(buf);
    return out;
}

Test(cdc_fast, every_attribute_type_in_every_operation)
{
    static const char *const events[] = {"INSERT", "MODIFY", "REMOVE"};
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    for (size_t i = 0; i < sizeof AV / sizeof *AV; i++) {
        for (size_t e = 0; e < 3; e++) {
            char img[4096], old[4096];
            snprintf(
                img, sizeof img,
                "{'pk':{'S':'p1'},'sk':{'S':'Thing'},'v':%s,'timestamp':{'N':'1767225600123'}}",
                AV[i]);
            snprintf(old, sizeof old, "{'pk':{'S':'p1'},'w':%s,'v':{'N':'1'}}", AV[i]);
            char *v = ddb_record(events[e], img, e ? old : NULL, "{'pk':{'S':'p1'}}", NULL);
            sl_record_t r = rec(v, NULL, NULL);
            diff(&o, &r, 1, AV[i]);
            r = rec(v, "the-key", "seq-9");
            diff(&o, &r, 1, AV[i]);
            free(v);
        }
    }
    /* Every pair of types side by side, in a map and in a list. */
    for (size_t i = 0; i < sizeof AV / sizeof *AV; i++)
        for (size_t j = 0; j < sizeof AV / sizeof *AV; j++) {
            char img[8192];
            snprintf(img, sizeof img,
                     "{'pk':{'S':'p'},'m':{'M':{'a':%s,'b':%s}},'l':{'L':[%s,%s]}}", AV[i], AV[j],
                     AV[i], AV[j]);
            char *v = ddb_record("MODIFY", img, img, "{'pk':{'S':'p'}}", NULL);
            sl_record_t r = rec(v, NULL, NULL);
            diff(&o, &r, 1, "pair");
            free(v);
        }
    cr_assert_gt(g_fast, 1000);
}

Test(cdc_fast, the_issue_16_options)
{
    const char *drop[] = {"secret", "sk"};
    sl_cdc_opts_t variants[] = {
        {.format = SL_CDC_DYNAMODB, .entity = "thing"},
        {.format = SL_CDC_DYNAMODB},
        {.format = SL_CDC_DYNAMODB, .discriminator_attr = "kind", .sk_attr = "type"},
        {.format = SL_CDC_DYNAMODB, .keep_latched = 1, .region = "eu-west-1"},
        {.format = SL_CDC_DYNAMODB, .region = "us-east-1"},
        {.format = SL_CDC_DYNAMODB, .region = "us-east-1", .keep_replicas = 1},
        {.format = SL_CDC_DYNAMODB, .expired = SL_CDC_EXPIRED_SKIP},
        {.format = SL_CDC_DYNAMODB, .expired = SL_CDC_EXPIRED_DELETE},
        {.format = SL_CDC_DYNAMODB, .deleted_attr = "gone", .latched_attr = "mine"},
        {.format = SL_CDC_DYNAMODB, .pk_attr = "pk"},
        {.format = SL_CDC_DYNAMODB, .pk_attr = "nope"},
        {.format = SL_CDC_DYNAMODB, .drop = drop, .drop_count = 2},
        {.format = SL_CDC_DYNAMODB,
         .source = "svc",
         .account = "acct",
         .stage = "prd",
         .region = "eu-west-1",
         .function_name = "fn",
         .pipeline = "p1"},
    };
    static const char *const images[] = {
        "{'pk':{'S':'1'},'sk':{'S':'Thing'},'secret':{'S':'s'},'n':{'N':'4.14'}}",
        ("{'pk':{'N':'17'},'sk':{'S':'thing'},'discriminator':{'S':'Order'},'kind':{'S':'Kind'},"
         "'type':{'S':'Typ'}}"),
        "{'pk':{'S':'1'},'sk':{'S':'thing'},'latched':{'BOOL':true},'mine':{'BOOL':true}}",
        "{'pk':{'S':'1'},'sk':{'S':'thing'},'awsregion':{'S':'eu-west-1'}}",
        "{'pk':{'S':'1'},'sk':{'S':'thing'},'awsregion':{'S':'us-east-1'}}",
        "{'pk':{'S':'1'},'sk':{'S':'thing'},'deleted':{'BOOL':true},'gone':{'BOOL':true}}",
        "{'pk':{'S':'1'},'sk':{'S':'thing'},'deleted':{'BOOL':false},'timestamp':{'N':'12.9'}}",
        "{'pk':{'B':'AQ=='},'sk':{'S':'thing'},'timestamp':{'S':'no'}}",
    };
    static const char *const keys[] = {"{'pk':{'S':'1'},'sk':{'S':'thing'}}",
                                       "{'sk':{'S':'b'},'pk':{'N':'007'},'a':{'B':'QQ=='}}",
                                       "{'pk':{'S':''}}", NULL};
    static const char *const extras[] = {
        NULL, ",'userIdentity':{'type':'Service','principalId':'dynamodb.amazonaws.com'}",
        ",'userIdentity':{'type':'User','principalId':'dynamodb.amazonaws.com'}"};
    static const char *const events[] = {"INSERT", "MODIFY", "REMOVE"};
    for (size_t vi = 0; vi < sizeof variants / sizeof *variants; vi++)
        for (size_t a = 0; a < sizeof images / sizeof *images; a++)
            for (size_t b = 0; b < sizeof images / sizeof *images; b++)
                for (size_t e = 0; e < 3; e++)
                    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
                        for (size_t x = 0; x < 3; x++) {
                            if (x && e != 2)
                                continue;
                            const char *nw = e == 2 && b % 2 ? NULL : images[a];
                            const char *od = e == 0 ? NULL : images[b];
                            char *v = ddb_record(events[e], nw, od, keys[k], extras[x]);
                            sl_record_t r = rec(v, k == 3 ? "rk" : NULL, NULL);
                            /* the fast path gives way only on an error */
                            diff(&variants[vi], &r, 0, "options");
                            free(v);
                        }
    cr_assert_gt(g_fast, 5000);
}

static char *dbz_record(const char *op, const char *before, const char *after, const char *src,
                        int wrapped)
{
    char buf[16384];
    int n = snprintf(buf, sizeof buf,
                     "%s'before':%s,'after':%s,'source':%s,'op':'%s','ts_ms':1767225600000%s",
                     wrapped ? "{'schema':{},'payload':{" : "{", before ? before : "null",
                     after ? after : "null", src, op, wrapped ? "}}" : "}");
    cr_assert_lt(n, (int)sizeof buf);
    return sqd(buf);
}

Test(cdc_fast, debezium_values_and_identities)
{
    static const char *const vals[] = {
        "1",
        "-0",
        "1.50",
        "1e5",
        "-2.5E-3",
        "9223372036854775807",
        "'s'",
        "'\\u00e9'",
        "''",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "[1,[2,{'a':null}],'x']",
        "{'n':{'m':[1.0,2.25]}}",
        " [ 1 , 2 ] ",
    };
    static const char *const sources[] = {
        "{'connector':'postgresql','name':'db','lsn':123,'txId':7,'ts_ms':5}",
        "{'connector':'mysql','name':'db','file':'bin.1','pos':4,'row':0}",
        ("{'connector':'sqlserver','name':'db','change_lsn':'0:1','commit_lsn':'0:2','event_serial_"
         "no':1}"),
        "{'connector':'oracle','name':'db','scn':'99','rs_id':'r','ssn':2}",
        "{'connector':'mongodb','name':'db','ord':3,'ts_ms':1767225600}",
        "{}",
        "null",
    };
    static const char *const ops[] = {"c", "r", "u", "d"};
    sl_cdc_opts_t o = {.format = SL_CDC_DEBEZIUM, .entity = "thing"};
    sl_cdc_opts_t d2 = {.format = SL_CDC_DEBEZIUM, .drop = (const char *[]){"v"}, .drop_count = 1};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        for (size_t s = 0; s < sizeof sources / sizeof *sources; s++)
            for (size_t op = 0; op < 4; op++)
                for (int w = 0; w < 2; w++) {
                    char img[2048], img2[2048];
                    snprintf(img, sizeof img, "{'id':%s,'v':%s,'discriminator':'Order'}",
                             i % 3 ? "42" : "'k-1'", vals[i]);
                    snprintf(img2, sizeof img2, "{'id':'k-2','v':%s,'deleted':true,'sk':'thing'}",
                             vals[i]);
                    char *v = dbz_record(ops[op], op >= 2 ? img2 : NULL, op == 3 ? NULL : img,
                                         sources[s], w);
                    sl_record_t r = rec(v, NULL, NULL);
                    diff(&o, &r, 1, vals[i]);
                    diff(&d2, &r, 0, vals[i]);
                    r = rec(v, "key-1", NULL);
                    diff(&o, &r, 1, vals[i]);
                    free(v);
                }
}

Test(cdc_fast, malformed_records_are_the_tree_paths_faults)
{
    static const char *const bad[] = {
        "",
        "not json",
        "{'eventName':'INSERT'",
        "[1,2]",
        "null",
        "42",
        "{}",
        "{'eventName':'UPSERT','dynamodb':{}}",
        "{'eventName':5,'dynamodb':{}}",
        "{'eventName':'INSERT','dynamodb':[]}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'S':1}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'abc'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'1.2.3'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'-'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'1-'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'1.'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'N':'1e999'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'S':'x','N':'1'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'X':'1'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'NULL':false}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'BOOL':'yes'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'SS':['a',1]}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'NS':['1','x']}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'L':[{'S':'a'},3]}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'M':[]}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{}}}",
        "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':-1,'NewImage':{}}}",
        "{'eventName':'REMOVE','dynamodb':{}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'a':{'S':'x'},'a':{'S':'y'}}}}",
        "{'eventName':'INSERT','dynamodb':{'NewImage':{'\\u0061':{'S':'x'}}}}",
        ("{'eventName':'INSERT','dynamodb':{'Keys':{'pk':{'BOOL':true}},'NewImage':{'a':{'S':'x'}}}"
         "}"),
        "{'op':'x','after':{}}",
        "{'op':'c','after':[]}",
        "{'op':'c'}",
        "{'op':'d','after':{'id':1}}",
        "{'payload':null}",
        "{'payload':5}",
        "{'op':'c','after':{'id':1.5},'ts_ms':'soon'}",
        "{'op':'c','after':{'b':true}}",
        "{'op':'c','after':{'id':1.5}}",
        "{'op':'c','after':{'id':1,'id':2}}",
    };
    sl_cdc_opts_t o[] = {{.format = SL_CDC_DYNAMODB, .entity = "thing"},
                         {.format = SL_CDC_DEBEZIUM, .entity = "thing"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        for (int f = 0; f < 2; f++) {
            char *v = sqd(bad[i]);
            sl_record_t r = rec(v, NULL, NULL);
            diff(&o[f], &r, 0, bad[i]);
            r.timestamp_ms = 0;
            diff(&o[f], &r, 0, bad[i]);
            free(v);
        }
}

/* jansson drops a NUL right after a number or a literal (so does the
 * scanner): the fast path gives way, the answer is the tree's. */
Test(cdc_fast, a_nul_after_a_number)
{
    static const char v[] = "{\"op\":\"c\",\"after\":{\"id\":1\0,\"b\":true\0},\"ts_ms\":5}";
    static const char d[] =
        "{\"eventName\":\"INSERT\",\"dynamodb\":{\"ApproximateCreationDateTime\":1\0,"
        "\"NewImage\":{\"a\":{\"BOOL\":true\0}}}}";
    sl_cdc_opts_t o = {.format = SL_CDC_DEBEZIUM, .entity = "thing"};
    sl_record_t r = rec(v, NULL, NULL);
    r.value_len = sizeof v - 1;
    diff(&o, &r, 0, "nul");
    o.format = SL_CDC_DYNAMODB;
    r = rec(d, "k", NULL);
    r.value_len = sizeof d - 1;
    diff(&o, &r, 0, "nul");
}

/* ---- seeded random DynamoDB images ---------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng % n);
}

static void put_av(char *b, size_t *at, size_t cap, int depth)
{
    unsigned k = rnd(depth > 3 ? 6 : 9);
    int n = 0;
    switch (k) {
    case 0:
        n = snprintf(b + *at, cap - *at, "{'S':'s%u\\n\\u00e9'}", rnd(100));
        break;
    case 1:
        n = snprintf(b + *at, cap - *at, "{'N':'%s%u.%u%s'}", rnd(2) ? "-" : "", rnd(1000),
                     rnd(100), rnd(3) ? "" : "e2");
        break;
    case 2:
        n = snprintf(b + *at, cap - *at, "{'B':'QUJD'}");
        break;
    case 3:
        n = snprintf(b + *at, cap - *at, "{'BOOL':%s}", rnd(2) ? "true" : "false");
        break;
    case 4:
        n = snprintf(b + *at, cap - *at, "{'NULL':true}");
        break;
    case 5:
        n = snprintf(b + *at, cap - *at, "{'%s':['1','2','%u']}", rnd(2) ? "NS" : "SS", rnd(9));
        break;
    default: {
        int map = k == 6 || k == 8;
        unsigned m = rnd(4);
        n = snprintf(b + *at, cap - *at, "{'%s':%s", map ? "M" : "L", map ? "{" : "[");
        *at += (size_t)n;
        for (unsigned i = 0; i < m; i++) {
            if (i)
                b[(*at)++] = ',';
            if (map)
                *at += (size_t)snprintf(b + *at, cap - *at, "'k%u':", i);
            put_av(b, at, cap, depth + 1);
        }
        n = snprintf(b + *at, cap - *at, "%s}", map ? "}" : "]");
    }
    }
    *at += (size_t)n;
    cr_assert_lt(*at, cap - 64);
}

Test(cdc_fast, seeded_random_images)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    for (int i = 0; i < 1500; i++) {
        char img[32768];
        size_t at = 0;
        at += (size_t)snprintf(img, sizeof img, "{'pk':{'S':'p%d'}", i);
        unsigned m = 1 + rnd(6);
        for (unsigned k = 0; k < m; k++) {
            at += (size_t)snprintf(img + at, sizeof img - at, ",'a%u':", k);
            put_av(img, &at, sizeof img, 0);
        }
        img[at++] = '}';
        img[at] = 0;
        char *v = ddb_record(rnd(2) ? "INSERT" : "MODIFY", img, rnd(2) ? img : NULL,
                             "{'pk':{'S':'p'}}", NULL);
        sl_record_t r = rec(v, NULL, NULL);
        diff(&o, &r, 1, "random");
        free(v);
    }
}

/* Digit texts of every length up to 24, read eight bytes at a time by the
 * fast path (an image's N, its "timestamp", the change's time), with or
 * without leading zeros, and with a byte next to the digits ('/' and ':'
 * around them in ASCII, '.', '-', 'e') at every place: the tree's answer. */
Test(cdc_fast, digit_texts_of_every_length_are_the_tree_paths_answer)
{
    static const char bad[] = {'/', ':', '.', '-', 'e'};
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    int fast_before = g_fast;
    for (size_t len = 1; len <= 24; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t b = 0; b < (at < len ? sizeof bad : 1); b++) {
                char g[32], d[32], change[32], v[1024];
                for (size_t i = 0; i < len; i++)
                    g[i] = (char)('0' + (i == 0 && rnd(3) ? 1 + rnd(9) : rnd(10)));
                g[len] = 0;
                memcpy(d, g, len + 1);
                if (at < len)
                    d[at] = bad[b];
                /* the odd text in one place of four, the digits in the others */
                size_t f = (at + b) % 4;
                const char *ts = f == 1 ? d : g, *n = f == 2 ? d : g, *w = f == 3 ? d : g;
                /* the change's time is a JSON number (and its milliseconds
                 * fit): only such a one, else a usual one */
                int json_int = (d[0] != '0' || len == 1) && len <= 12;
                for (size_t i = 0; i < len; i++)
                    json_int &= d[i] >= '0' && d[i] <= '9';
                snprintf(change, sizeof change, "%s", f == 0 && json_int ? d : "1767225600");
                snprintf(v, sizeof v,
                         "{\"eventID\":\"ev-1\",\"eventName\":\"INSERT\",\"dynamodb\":{"
                         "\"ApproximateCreationDateTime\":%s,\"Keys\":{\"pk\":{\"S\":\"p\"}},"
                         "\"NewImage\":{\"pk\":{\"S\":\"p\"},\"timestamp\":{\"N\":\"%s\"},"
                         "\"v\":{\"N\":\"%s\"},\"w\":{\"N\":\"-%s.%s\"}}}}",
                         change, ts, n, w, g);
                sl_record_t r = rec(v, NULL, NULL);
                /* digits alone (any length: a timestamp past int64 is not
                 * the event's time) always go the fast way */
                diff(&o, &r, at == len, d);
            }
        }
    }
    cr_assert_gt(g_fast - fast_before, 400, "fast %d", g_fast - fast_before);
}

/* Images past the walk's first blocks (32 members, 64 open keys) and past
 * its bound on one object's keys (256: the tree path takes those). */
Test(cdc_fast, wide_images)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    const size_t widths[] = {31, 33, 65, 130, 256, 257, 300};
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        static char img[65536], nested[32768];
        size_t at = 0, nat = 0;
        nat += (size_t)snprintf(nested, sizeof nested, "{'M':{");
        for (size_t i = 0; i < widths[w]; i++)
            nat += (size_t)snprintf(nested + nat, sizeof nested - nat, "%s'n%zu':{'N':'%zu.5'}",
                                    i ? "," : "", i, i);
        snprintf(nested + nat, sizeof nested - nat, "}}");
        at += (size_t)snprintf(img, sizeof img, "{'pk':{'S':'p'},'deep':%s", nested);
        for (size_t i = 0; i < widths[w]; i++)
            at += (size_t)snprintf(img + at, sizeof img - at, ",'a%zu':{'S':'v%zu'}", i, i);
        snprintf(img + at, sizeof img - at, "}");
        char *v = ddb_record("MODIFY", img, img, "{'pk':{'S':'p'}}", NULL);
        sl_record_t r = rec(v, NULL, NULL);
        /* 256 keys and fewer: the fast path; beyond, the tree's answer */
        diff(&o, &r, widths[w] < 256, "wide");
        free(v);
    }
}

/* CDC_VALIDATED is honoured: the walk then trusts the caller's verdict and
 * does not validate again (a record bad only where the walk skips comes out
 * as an event), while without it the same record gives way to the tree
 * path, which refuses it. CDC_KEY_FIRST puts the partitionKey before the
 * event; a kept scratch is reused and freed once. */
Test(cdc_fast, the_validated_flag_skips_the_validation)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    char *good = sqd("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                     "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}");
    char *bad = sqd("{'eventName':'INSERT','x':[1,,2],'dynamodb':{'ApproximateCreationDateTime':1,"
                    "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}");
    cdc_keep_t keep = {0};
    char err[256];
    cvt_t c = {.fmt = "dynamodb", .err = err, .err_size = sizeof err};
    sl__jw_t jw;
    fast_pk_t pk;
    sl_record_t r = rec(bad, NULL, NULL);
    sl__jw_init(&jw, NULL, 0);
    cr_assert_eq(sl__cdc_fast(&c, &o, &r, &jw, &pk, &keep, 0), CDC_FALLBACK,
                 "validated by the fast path itself");
    cr_assert_eq(sl__cdc_fast(&c, &o, &r, &jw, &pk, &keep, CDC_VALIDATED), 0,
                 "the caller's verdict is trusted");
    sl_free(pk.own);
    sl_free(jw.buf);
    outcome_t tree = run(&o, &r, 0);
    cr_assert_eq(tree.rc, SL_EJSON, "the tree path refuses it");

    r = rec(good, NULL, NULL);
    outcome_t want = run(&o, &r, 0);
    cr_assert_eq(want.rc, 0);
    for (unsigned flags = 0; flags < 4; flags++) {
        sl__jw_init(&jw, NULL, 0);
        cr_assert_eq(sl__cdc_fast(&c, &o, &r, &jw, &pk, flags & 1 ? &keep : NULL,
                                  flags & 2 ? CDC_KEY_FIRST | CDC_VALIDATED : 0),
                     0);
        size_t k = flags & 2 ? pk.n : 0;
        cr_assert_eq(pk.n, 2);
        cr_assert(!(flags & 2) || !memcmp(jw.buf, "t1", 2), "the key first");
        cr_assert_eq(jw.len - k, want.len, "flags %u", flags);
        cr_assert(!memcmp(jw.buf + k, want.text, want.len), "flags %u", flags);
        sl_free(pk.own);
        sl_free(jw.buf);
    }
    cr_assert_not_null(keep.s, "the scratch is kept");
    sl__cdc_keep_free(&keep);
    cr_assert_null(keep.s);
    release(&want);
    free(good);
    free(bad);
}

/* The strings the event writes from a record or the options (the
 * partitionKey from the record's key, the tags, the region) are copied
 * verbatim when nothing in them needs an escape, and written by the JSON
 * writer otherwise: each byte that needs care, at every place in and
 * around the eight-byte words the copy tests, comes out as the tree path
 * writes it. */
Test(cdc_fast, strings_that_need_escapes_at_every_place)
{
    static const char *const hazards[] = {
        "\"", "\\", "\x01",     "\x1f",         "\x7f",
        " ",  "~",  "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    char *v = ddb_record("MODIFY", "{'pk':{'S':'p'},'n':{'N':'1'}}", "{'pk':{'S':'p'}}",
                         "{'pk':{'S':'p'}}", NULL);
    for (size_t h = 0; h < sizeof hazards / sizeof *hazards; h++)
        for (size_t len = 1; len <= 24; len++)
            for (size_t at = 0; at < len; at++) {
                char key[64], src[64];
                size_t k = 0;
                for (size_t i = 0; i < len; i++) {
                    const char *s = i == at ? hazards[h] : "k";
                    memcpy(key + k, s, strlen(s));
                    k += strlen(s);
                }
                key[k] = 0;
                sl_record_t r = rec(v, key, NULL);
                o.source = NULL;
                o.account = NULL;
                diff(&o, &r, 1, key);
                /* the same bytes as option tags, with the record's key plain */
                snprintf(src, sizeof src, "%s", key);
                o.source = src;
                o.account = key;
                r = rec(v, "plain-key", NULL);
                diff(&o, &r, 1, key);
            }
    free(v);
    /* an image's key and value read into the partitionKey (Keys, no record key) */
    char *w = sqd("{'eventName':'INSERT','awsRegion':'eu-w\xc3\xa9st-1','dynamodb':{"
                  "'ApproximateCreationDateTime':17,'Keys':{'pk':{'S':'caf\xc3\xa9 \xe2\x82\xac "
                  "twelve+ bytes'},'sk':{'N':'12345678901234567'}},'NewImage':{'pk':{'S':'x'}}}}");
    sl_record_t r = rec(w, NULL, NULL);
    o.source = NULL;
    o.account = NULL;
    diff(&o, &r, 1, "keys");
    free(w);
}

/* sl__cdc_number_parse() reads integers exactly as strtoll() does, within
 * int64_t and at its bounds (texts of up to 18 digits take a shorter way),
 * and calls those beyond no integer: seeded texts of 1 to 21 digits with
 * and without signs and leading zeros, and the bounds themselves. */
Test(cdc_fast, integers_as_strtoll_reads_them)
{
    static const char *const fixed[] = {"0",
                                        "-0",
                                        "+0",
                                        "7",
                                        "+7",
                                        "-7",
                                        "007",
                                        "-000000000000000000001",
                                        "999999999999999999",
                                        "-999999999999999999",
                                        "1000000000000000000",
                                        "9223372036854775807",
                                        "-9223372036854775808",
                                        "9223372036854775808",
                                        "-9223372036854775809",
                                        "18446744073709551616",
                                        "000000000000000000000000042"};
    char text[40];
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed + 20000; i++) {
        const char *s = text;
        if (i < sizeof fixed / sizeof *fixed) {
            s = fixed[i];
        } else {
            size_t n = 0, digits = 1 + rnd(21);
            unsigned sign = rnd(3);
            if (sign)
                text[n++] = sign == 1 ? '-' : '+';
            for (size_t d = 0; d < digits; d++)
                text[n++] = (char)('0' + (d == 0 && rnd(4) ? 1 + rnd(9) : rnd(10)));
            text[n] = 0;
        }
        int is_int = -1;
        int64_t iv = 0;
        cr_assert_eq(sl__cdc_number_parse(s, strlen(s), &is_int, &iv, NULL), 0, "%s", s);
        errno = 0;
        char *endp;
        long long want = strtoll(s, &endp, 10);
        int fits = errno != ERANGE && *endp == 0;
        cr_assert_eq(is_int, fits, "%s: is_int %d", s, is_int);
        if (fits)
            cr_assert_eq(iv, (int64_t)want, "%s: %" PRId64 ", strtoll %lld", s, iv, want);
    }
}

/* sl__cdc_fast() on @p v without a verdict from the caller; *validated:
 * whether it ran the strict scanner itself. Returns its code; frees all. */
static int fast_alone(const sl_cdc_opts_t *o, const char *v, int *validated)
{
    char err[256];
    cvt_t c = {.fmt = "dynamodb", .err = err, .err_size = sizeof err};
    sl__jw_t jw;
    fast_pk_t pk;
    sl_record_t r = rec(v, NULL, NULL);
    sl__jw_init(&jw, NULL, 0);
    int rc = sl__cdc_fast(&c, o, &r, &jw, &pk, NULL, 0);
    sl_free(pk.own);
    sl_free(jw.buf);
    *validated = c.validated;
    return rc;
}

/* A DynamoDB record written compactly in printable ASCII is proven JSON by
 * the walk itself: the strict scanner does not run on it. Whatever the
 * walk cannot prove (a container it passes over, a number with an
 * exponent, an escape, a control byte, UTF-8, nesting past the proof's
 * depth) is left to the scanner, and the answer is the tree path's. */
Test(cdc_fast, a_compact_record_is_proven_json_by_its_walk)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    static const char *const proven[] = {
        "{'pk':{'S':'p'},'a':{'N':'42'},'b':{'BOOL':true},'c':{'NULL':true}}",
        "{'pk':{'S':'p'},'m':{'M':{'x':{'L':[{'S':'a'},{'N':'-1.5'},{'SS':['q','r']}]}}}}",
        "{'pk':{'S':'p'},'n':{'NS':['1','2']},'b':{'B':'AAEC'},'e':{'M':{}},'l':{'L':[]}}",
    };
    int validated;
    for (size_t i = 0; i < sizeof proven / sizeof *proven; i++) {
        char *v = ddb_record("MODIFY", proven[i], proven[i], "{'pk':{'S':'p'}}",
                             ",'eventVersion':'1.1','n':-12,'f':0.25,'t':false,'z':null");
        cr_assert_eq(fast_alone(&o, v, &validated), 0, "%s", v);
        cr_assert_eq(validated, 0, "proven by the walk: %s", v);
        sl_record_t r = rec(v, NULL, NULL);
        diff(&o, &r, 1, "proven");
        free(v);
    }
    /* Left to the scanner, and still converted by the fast path. */
    char deep[4096];
    size_t at = (size_t)snprintf(deep, sizeof deep, "{'pk':{'S':'p'},'d':");
    for (int k = 0; k < 70; k++)
        at += (size_t)snprintf(deep + at, sizeof deep - at, "{'L':[");
    at += (size_t)snprintf(deep + at, sizeof deep - at, "{'S':'x'}");
    for (int k = 0; k < 70; k++)
        at += (size_t)snprintf(deep + at, sizeof deep - at, "]}");
    snprintf(deep + at, sizeof deep - at, "}");
    const char *img = "{'pk':{'S':'p'}}";
    struct {
        const char *img, *extra;
    } left[] = {
        {img, ",'userIdentity':{'type':'Service'}"},
        {img, ",'x':1e3"},
        {img, ",'x':1234567890123456789"},
        {"{'pk':{'S':'caf\\u00e9'}}", NULL},
        {"{'pk':{'S':'h\xc3\xa9llo'}}", NULL},
        {img, ",\n'x':1"},
        {deep, NULL},
    };
    for (size_t i = 0; i < sizeof left / sizeof *left; i++) {
        char *v = ddb_record("INSERT", left[i].img, NULL, "{'pk':{'S':'p'}}", left[i].extra);
        cr_assert_eq(fast_alone(&o, v, &validated), 0, "%s", v);
        cr_assert_eq(validated, 1, "left to the scanner: %s", v);
        sl_record_t r = rec(v, NULL, NULL);
        diff(&o, &r, 1, "left to the scanner");
        free(v);
    }
    /* Not JSON, though the walk alone could read a change in each: the
     * fast path gives way and the answer is the tree path's (SL_EJSON). */
    static const char *const extras[] = {",'x':tru",     ",'x':01", ",'x':1.",   ",'x':-",
                                         ",'x':1e",      ",'x':.5", ",'x':+1",   ",'x':[1,,2]",
                                         ",'x':{'a' 1}", ",'x'",    ",'x':'a'b'"};
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
        char *v = ddb_record("INSERT", img, NULL, "{'pk':{'S':'p'}}", extras[i]);
        cr_assert_eq(fast_alone(&o, v, &validated), CDC_FALLBACK, "%s", v);
        sl_record_t r = rec(v, NULL, NULL);
        outcome_t tree = run(&o, &r, 0);
        cr_assert_eq(tree.rc, SL_EJSON, "%s", v);
        release(&tree);
        diff(&o, &r, 0, "not JSON");
        free(v);
    }
    /* After the record's object: space only. */
    static const char *const tails[] = {" ", " \n", "}", " x", ",", "{}", "\"", "0"};
    char *base = ddb_record("INSERT", img, NULL, "{'pk':{'S':'p'}}", NULL);
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        char v[1024];
        snprintf(v, sizeof v, "%s%s", base, tails[i]);
        int space = tails[i][strspn(tails[i], " \n")] == 0;
        cr_assert_eq(fast_alone(&o, v, &validated), space ? 0 : CDC_FALLBACK, "[%s]", tails[i]);
        sl_record_t r = rec(v, NULL, NULL);
        diff(&o, &r, 0, "tail");
    }
    free(base);
}

/* The proof against the tree path over every single-byte change of
 * compact records: each byte deleted, replaced by a byte that matters to
 * the grammar, and doubled, and each cut. The fast path may give way; when
 * it answers, it is the tree path's answer (so it never takes text that is
 * not JSON for JSON). */
Test(cdc_fast, every_one_byte_change_of_a_compact_record_is_the_tree_paths_answer)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing"};
    static const char subs[] = "\",:{}[]0-.1eEtfnx\\ ";
    char *bases[] = {
        ddb_record(
            "MODIFY",
            "{'pk':{'S':'p1'},'n':{'N':'1.5'},'b':{'BOOL':false},'m':{'M':{'l':{'L':[{'NULL':"
            "true},{'NS':['2']}]}}}}",
            "{'pk':{'S':'p1'}}", "{'pk':{'S':'p1'}}", ",'eventVersion':'1.1','s':12"),
        ddb_record("REMOVE", NULL, "{'pk':{'S':'p2'},'x':{'SS':['a','b']},'y':{'NS':['1','2']}}",
                   "{'pk':{'S':'p2'}}", ",'z':null,'t':true,'f':-0.5"),
    };
    size_t answered = 0, mutants = 0;
    for (size_t b = 0; b < sizeof bases / sizeof *bases; b++) {
        const char *s = bases[b];
        size_t n = strlen(s);
        char *v = malloc(n + 2);
        cr_assert_not_null(v);
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < sizeof subs + 2; k++) {
                size_t m;
                if (k < sizeof subs - 1) { /* replaced */
                    if (s[i] == subs[k])
                        continue;
                    memcpy(v, s, n);
                    v[i] = subs[k];
                    m = n;
                } else if (k == sizeof subs - 1) { /* deleted */
                    memcpy(v, s, i);
                    memcpy(v + i, s + i + 1, n - i - 1);
                    m = n - 1;
                } else if (k == sizeof subs) { /* doubled */
                    memcpy(v, s, i + 1);
                    memcpy(v + i + 1, s + i, n - i);
                    m = n + 1;
                } else { /* cut */
                    memcpy(v, s, i);
                    m = i;
                }
                /* in a block of its exact size: a read past the text is
                 * out of bounds (ASan) */
                char *exact = malloc(m + !m);
                cr_assert_not_null(exact);
                memcpy(exact, v, m);
                sl_record_t r = rec(NULL, NULL, NULL);
                r.value = exact;
                r.value_len = m;
                int before = g_fast;
                diff(&o, &r, 0, "one byte changed");
                answered += (size_t)(g_fast - before);
                mutants++;
                free(exact);
            }
        }
        free(v);
        free(bases[b]);
    }
    /* most changes break the text or the change: still, many are answered */
    cr_assert_gt(answered, mutants / 20, "%zu of %zu answered by the fast path", answered, mutants);
}
