/* The cdc flavor: DynamoDB Streams records and Debezium envelopes to domain
 * events (sl_cdc_convert), and the map stage over a json source (sl_cdc).
 * JSON in this file is written with single quotes; sq() turns them into
 * double quotes (no test text needs a real single quote). */
#include "core/core.h"
#include "helpers.h"

#include <stdlib.h>

TestSuite(cdc);

static const sl_cdc_opts_t DDB = {.format = SL_CDC_DYNAMODB, .entity = "thing", .source = NULL};
static const sl_cdc_opts_t DBZ = {
    .format = SL_CDC_DEBEZIUM, .entity = "thing", .source = "things-trigger"};

#define REC_TS 1767225999000ll /* the records' own timestamp */

/* Single-quoted JSON to JSON, in one of a ring of static buffers. */
static const char *sq(const char *s)
{
    static char ring[8][16384];
    static unsigned at;
    char *b = ring[at++ % 8];
    size_t n = strlen(s);
    cr_assert_lt(n, sizeof ring[0]);
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

static sl_record_t rec(const char *value, const char *key, int64_t offset)
{
    return (sl_record_t){.topic = "things-cdc",
                         .partition = 0,
                         .offset = offset,
                         .timestamp_ms = REC_TS,
                         .key = key,
                         .key_len = key ? strlen(key) : 0,
                         .value = value,
                         .value_len = value ? strlen(value) : 0};
}

static json_t *convert_ok(const sl_cdc_opts_t *o, const sl_record_t *r, const char *what)
{
    char err[256] = "untouched";
    json_t *ev = (json_t *)1;
    int rc = sl_cdc_convert(o, r, &ev, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: rc %d: %s", what, rc, err);
    cr_assert_not_null(ev, "%s", what);
    return ev;
}

/* Asserts @p got equals the single-quoted JSON @p want (integers and reals
 * differ, as in json_equal). */
static void expect_json(const json_t *got, const char *want, const char *what)
{
    json_error_t je;
    json_t *w = json_loads(sq(want), JSON_DECODE_ANY, &je);
    cr_assert_not_null(w, "%s: bad expectation: %s", what, je.text);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        char *x = json_dumps(w, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        cr_log_error("%s:\n got  %s\n want %s", what, g ? g : "(null)", x);
        free(g);
        free(x);
        json_decref(w);
        cr_assert_fail("%s: JSON differs", what);
    }
    json_decref(w);
}

static const char *str_of(const json_t *ev, const char *name)
{
    return json_string_value(json_object_get(ev, name));
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* 8-4-4-4-12 lowercase hex, version 8, RFC variant. */
static int uuid_shaped(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    return s[14] == '8' && strchr("89ab", s[19]);
}

/* What every event carries whatever its record. */
static void expect_envelope(const json_t *ev, const char *format, const char *source)
{
    cr_assert(uuid_shaped(str_of(ev, "id")), "id %s", str_of(ev, "id"));
    cr_assert(json_is_integer(json_object_get(ev, "timestamp")));
    cr_assert_gt(strlen(str_of(ev, "partitionKey")), 0);
    json_t *tags = json_object_get(ev, "tags");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "source")), source);
    cr_assert_str_eq(json_string_value(json_object_get(tags, "format")), format);
    cr_assert_str_eq(json_string_value(json_object_get(tags, "entity")), "thing");
    json_t *raw = json_object_get(ev, "raw");
    cr_assert(json_is_object(raw));
    cr_assert_eq(json_object_size(raw), 2);
    cr_assert_eq(json_object_size(ev), 7, "id type timestamp partitionKey tags thing raw");
}

/* ---- DynamoDB ---------------------------------------------------------- */

Test(cdc, dynamodb_every_attribute_type)
{
    const char *v =
        sq("{'eventID':'c81e728d','eventName':'INSERT','eventVersion':'1.1',"
           "'eventSource':'aws:dynamodb','awsRegion':'eu-west-1','dynamodb':{"
           "'ApproximateCreationDateTime':1767225600,"
           "'Keys':{'sk':{'S':'thing'},'pk':{'S':'thing-1'}},"
           "'NewImage':{'pk':{'S':'thing-1'},'sk':{'S':'thing'},'name':{'S':'Widget'},"
           "'count':{'N':'42'},'neg':{'N':'-7'},'zero':{'N':'-0'},'price':{'N':'12.5'},"
           "'big':{'N':'123456789012345678901234567890'},'max':{'N':'9223372036854775807'},"
           "'over':{'N':'9223372036854775808'},'min':{'N':'-9223372036854775808'},"
           "'under':{'N':'-9223372036854775809'},'exp':{'N':'1E+3'},'tiny':{'N':'1e-130'},"
           "'huge':{'N':'9.9999999999999999999999999999999999999E+125'},'half':{'N':'.5'},"
           "'plus':{'N':'+3'},'blob':{'B':'AAEC'},'yes':{'BOOL':true},'no':{'BOOL':false},"
           "'nothing':{'NULL':true},"
           "'dims':{'M':{'w':{'N':'2'},'h':{'N':'3.25'},'tags':{'L':[{'S':'a'},{'N':'1'},"
           "{'M':{'deep':{'L':[{'NULL':true},{'SS':['x']}]}}}]}}},"
           "'list':{'L':[{'S':'x'},{'BOOL':true},{'L':[]},{'M':{}}]},"
           "'colors':{'SS':['red','blue']},'sizes':{'NS':['1','2.5','-3','1e2']},"
           "'blobs':{'BS':['AA==','AQ==']},'empty':{'S':''},"
           "'uni':{'S':'h\\u00e9llo \\u2603 \\ud83d\\ude00'}},"
           "'SequenceNumber':'4421584500000000017450439091','SizeBytes':26,"
           "'StreamViewType':'NEW_AND_OLD_IMAGES'}}");
    sl_record_t r = rec(v, NULL, 7);
    json_t *ev = convert_ok(&DDB, &r, "every type");
    expect_envelope(ev, "dynamodb", "sluice");
    const char *thing =
        "{'pk':'thing-1','sk':'thing','name':'Widget','count':42,'neg':-7,'zero':0,'price':12.5,"
        "'big':1.2345678901234568e29,'max':9223372036854775807,'over':9.223372036854775808e18,"
        "'min':-9223372036854775808,'under':-9.223372036854775809e18,'exp':1000.0,"
        "'tiny':1e-130,'huge':1e126,'half':0.5,'plus':3,'blob':'AAEC','yes':true,'no':false,"
        "'nothing':null,'dims':{'w':2,'h':3.25,'tags':['a',1,{'deep':[null,['x']]}]},"
        "'list':['x',true,[],{}],'colors':['red','blue'],'sizes':[1,2.5,-3,100.0],"
        "'blobs':['AA==','AQ=='],'empty':'','uni':'h\\u00e9llo \\u2603 \\ud83d\\ude00'}";
    expect_json(json_object_get(ev, "thing"), thing, "thing");
    expect_json(json_object_get(json_object_get(ev, "raw"), "new"), thing, "raw.new");
    cr_assert(json_is_null(json_object_get(json_object_get(ev, "raw"), "old")));
    cr_assert_str_eq(str_of(ev, "type"), "thing-created");
    cr_assert_eq(json_integer_value(json_object_get(ev, "timestamp")), 1767225600000ll);
    cr_assert_str_eq(str_of(ev, "partitionKey"), "thing-1|thing", "Keys in name order");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "tags"), "region")),
                     "eu-west-1");
    json_decref(ev);
}

struct ddb_case {
    const char *name;
    const char *value; /* single-quoted */
    const char *key;
    const char *type;
    int64_t ts;
    const char *pkey;
    const char *entity, *raw_new, *raw_old; /* single-quoted */
    const char *region;
};

Test(cdc, dynamodb_table)
{
    static const struct ddb_case cases[] = {
        {"INSERT, the image timestamp wins",
         "{'eventName':'INSERT','awsRegion':'us-east-1','dynamodb':{"
         "'ApproximateCreationDateTime':1767225601,'Keys':{'pk':{'S':'t1'}},"
         "'NewImage':{'pk':{'S':'t1'},'timestamp':{'N':'1767225600500'}}}}",
         NULL, "thing-created", 1767225600500ll, "t1", "{'pk':'t1','timestamp':1767225600500}",
         "{'pk':'t1','timestamp':1767225600500}", "null", "us-east-1"},
        {"MODIFY, fractional seconds to ms",
         "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225600.123,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'2'}},"
         "'OldImage':{'pk':{'S':'t1'},'n':{'N':'1'}},'StreamViewType':'NEW_AND_OLD_IMAGES'}}",
         NULL, "thing-updated", 1767225600123ll, "t1", "{'pk':'t1','n':2}", "{'pk':'t1','n':2}",
         "{'pk':'t1','n':1}", NULL},
        {"MODIFY, NEW_IMAGE view: no old image",
         "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225600.9996,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}},'StreamViewType':'NEW_IMAGE'}}",
         NULL, "thing-updated", 1767225601000ll, "t1", "{'pk':'t1'}", "{'pk':'t1'}", "null", NULL},
        {"MODIFY, a real image timestamp is truncated",
         "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225609,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'timestamp':{'N':'1767225600700.9'}}"
         "}}",
         NULL, "thing-updated", 1767225600700ll, "t1", "{'pk':'t1','timestamp':1767225600700.9}",
         "{'pk':'t1','timestamp':1767225600700.9}", "null", NULL},
        {"REMOVE takes the change time, not the old image's timestamp",
         "{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1767225602.5,"
         "'Keys':{'pk':{'S':'t1'}},'OldImage':{'pk':{'S':'t1'},'timestamp':{'N':'5'}}}}",
         NULL, "thing-deleted", 1767225602500ll, "t1", "{'pk':'t1','timestamp':5}", "null",
         "{'pk':'t1','timestamp':5}", NULL},
        {"REMOVE, KEYS_ONLY: the entity is the keys",
         "{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1767225603,"
         "'Keys':{'pk':{'S':'t1'},'sk':{'N':'7'}},'StreamViewType':'KEYS_ONLY'}}",
         NULL, "thing-deleted", 1767225603000ll, "t1|7", "{'pk':'t1','sk':7}", "null", "null",
         NULL},
        {"the record key wins",
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}",
         "k-1", "thing-created", 1767225600000ll, "k-1", "{'pk':'t1'}", "{'pk':'t1'}", "null",
         NULL},
        {"a string timestamp is not a number: the change time",
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'timestamp':{'S':'1767225600999'}}}"
         "}",
         NULL, "thing-created", 1767225600000ll, "t1", "{'pk':'t1','timestamp':'1767225600999'}",
         "{'pk':'t1','timestamp':'1767225600999'}", "null", NULL},
        {"a negative timestamp is not usable: the change time",
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'timestamp':{'N':'-1'}}}}",
         NULL, "thing-created", 1767225600000ll, "t1", "{'pk':'t1','timestamp':-1}",
         "{'pk':'t1','timestamp':-1}", "null", NULL},
        {"no ApproximateCreationDateTime: the record's timestamp",
         "{'eventName':'INSERT','dynamodb':{'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}"
         "}",
         NULL, "thing-created", REC_TS, "t1", "{'pk':'t1'}", "{'pk':'t1'}", "null", NULL},
        {"composite keys: values joined in name order, N and B as their text",
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
         "'Keys':{'z':{'B':'AQ=='},'b':{'N':'1.50'},'a':{'S':'x|y'}},'NewImage':{'a':{'S':'x|y'}}}"
         "}",
         NULL, "thing-created", 1767225600000ll, "x|y|1.50|AQ==", "{'a':'x|y'}", "{'a':'x|y'}",
         "null", NULL},
        {"null members count as absent",
         "{'eventName':'INSERT','awsRegion':'','dynamodb':{'ApproximateCreationDateTime':null,"
         "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}},'OldImage':null}}",
         NULL, "thing-created", REC_TS, "t1", "{'pk':'t1'}", "{'pk':'t1'}", "null", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct ddb_case *c = &cases[i];
        sl_record_t r = rec(sq(c->value), c->key, (int64_t)i);
        json_t *ev = convert_ok(&DDB, &r, c->name);
        expect_envelope(ev, "dynamodb", "sluice");
        cr_assert_str_eq(str_of(ev, "type"), c->type, "%s", c->name);
        cr_assert_eq(json_integer_value(json_object_get(ev, "timestamp")), c->ts, "%s: %lld",
                     c->name, (long long)json_integer_value(json_object_get(ev, "timestamp")));
        cr_assert_str_eq(str_of(ev, "partitionKey"), c->pkey, "%s", c->name);
        expect_json(json_object_get(ev, "thing"), c->entity, c->name);
        json_t *raw = json_object_get(ev, "raw");
        expect_json(json_object_get(raw, "new"), c->raw_new, c->name);
        expect_json(json_object_get(raw, "old"), c->raw_old, c->name);
        json_t *region = json_object_get(json_object_get(ev, "tags"), "region");
        if (c->region)
            cr_assert_str_eq(json_string_value(region), c->region, "%s", c->name);
        else
            cr_assert_null(region, "%s: no region tag", c->name);
        json_decref(ev);
    }
}

/* ---- Debezium ---------------------------------------------------------- */

struct dbz_case {
    const char *name;
    const char *value; /* single-quoted */
    const char *key;
    const char *type;
    int64_t ts;
    const char *pkey;
    const char *entity, *raw_new, *raw_old; /* single-quoted */
};

#define SRC "'source':{'connector':'postgresql','db':'shop','table':'things','ts_ms':1767225000000}"
#define SCHEMA "'schema':{'type':'struct','name':'shop.public.things.Envelope','optional':false}"

Test(cdc, debezium_table)
{
    static const struct dbz_case cases[] = {
        {"c, bare",
         "{'before':null,'after':{'id':1,'name':'a'},'op':'c'," SRC ",'ts_ms':1767225600001}", NULL,
         "thing-created", 1767225600001ll, "1", "{'id':1,'name':'a'}", "{'id':1,'name':'a'}",
         "null"},
        {"r (snapshot read) is a create",
         "{'before':null,'after':{'id':2},'op':'r'," SRC ",'ts_ms':1767225600002}", NULL,
         "thing-created", 1767225600002ll, "2", "{'id':2}", "{'id':2}", "null"},
        {"u, under payload, the image timestamp wins",
         "{" SCHEMA ",'payload':{'before':{'id':3,'n':1},'after':{'id':3,'n':2,"
         "'timestamp':1767225600333},'op':'u'," SRC ",'ts_ms':1767225600999}}",
         NULL, "thing-updated", 1767225600333ll, "3", "{'id':3,'n':2,'timestamp':1767225600333}",
         "{'id':3,'n':2,'timestamp':1767225600333}", "{'id':3,'n':1}"},
        {"u without before (default replica identity)",
         "{'before':null,'after':{'id':4},'op':'u'," SRC ",'ts_ms':1767225600004}", NULL,
         "thing-updated", 1767225600004ll, "4", "{'id':4}", "{'id':4}", "null"},
        {"d: the old image, the change time",
         "{'before':{'id':5,'timestamp':7},'after':null,'op':'d'," SRC ",'ts_ms':1767225600005}",
         NULL, "thing-deleted", 1767225600005ll, "5", "{'id':5,'timestamp':7}", "null",
         "{'id':5,'timestamp':7}"},
        {"d under payload",
         "{" SCHEMA ",'payload':{'before':{'id':'x-6'},'after':null,'op':'d'," SRC
         ",'ts_ms':1767225600006}}",
         NULL, "thing-deleted", 1767225600006ll, "x-6", "{'id':'x-6'}", "null", "{'id':'x-6'}"},
        {"no ts_ms: source.ts_ms", "{'after':{'id':7},'op':'c'," SRC "}", NULL, "thing-created",
         1767225000000ll, "7", "{'id':7}", "{'id':7}", "null"},
        {"no ts_ms, no source: the record's timestamp", "{'after':{'id':8},'op':'c'}", NULL,
         "thing-created", REC_TS, "8", "{'id':8}", "{'id':8}", "null"},
        {"the record key wins", "{'after':{'id':9},'op':'c','ts_ms':1767225600009}", "{'id':9}",
         "thing-created", 1767225600009ll, "{'id':9}", "{'id':9}", "{'id':9}", "null"},
        {"no id: the first member",
         "{'after':{'sku':'A-1','qty':2},'op':'c','ts_ms':1767225600010}", NULL, "thing-created",
         1767225600010ll, "A-1", "{'sku':'A-1','qty':2}", "{'sku':'A-1','qty':2}", "null"},
        {"an id that is not a string or number: the first member",
         "{'after':{'code':-12,'id':null},'op':'c','ts_ms':1767225600011}", NULL, "thing-created",
         1767225600011ll, "-12", "{'code':-12,'id':null}", "{'code':-12,'id':null}", "null"},
        {"a real id as jansson writes it", "{'after':{'id':1.5},'op':'c','ts_ms':1767225600012.7}",
         NULL, "thing-created", 1767225600012ll, "1.5", "{'id':1.5}", "{'id':1.5}", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct dbz_case *c = &cases[i];
        sl_record_t r = rec(sq(c->value), c->key ? sq(c->key) : NULL, (int64_t)i);
        json_t *ev = convert_ok(&DBZ, &r, c->name);
        expect_envelope(ev, "debezium", "things-trigger");
        cr_assert_str_eq(str_of(ev, "type"), c->type, "%s", c->name);
        cr_assert_eq(json_integer_value(json_object_get(ev, "timestamp")), c->ts, "%s: %lld",
                     c->name, (long long)json_integer_value(json_object_get(ev, "timestamp")));
        cr_assert_str_eq(str_of(ev, "partitionKey"), c->key ? sq(c->pkey) : c->pkey, "%s", c->name);
        expect_json(json_object_get(ev, "thing"), c->entity, c->name);
        json_t *raw = json_object_get(ev, "raw");
        expect_json(json_object_get(raw, "new"), c->raw_new, c->name);
        expect_json(json_object_get(raw, "old"), c->raw_old, c->name);
        cr_assert_null(json_object_get(json_object_get(ev, "tags"), "region"));
        json_decref(ev);
    }
}

/* ---- ids, partition keys, copies -------------------------------------- */

static char *id_of(const sl_cdc_opts_t *o, const sl_record_t *r)
{
    json_t *ev = convert_ok(o, r, "id");
    char *id = strdup(str_of(ev, "id"));
    json_decref(ev);
    return id;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(cdc, ids_are_deterministic)
{
    const char *v = sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                       "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}");
    sl_record_t r = rec(v, NULL, 41);
    json_t *a = convert_ok(&DDB, &r, "a"), *b = convert_ok(&DDB, &r, "b");
    cr_assert(json_equal(a, b), "the same record, the same event");
    cr_assert_str_eq(str_of(a, "id"), "06c853bd-6381-8df5-9deb-97a281f90253",
                     "stable across builds and platforms (got %s)", str_of(a, "id"));
    json_decref(a);
    json_decref(b);

    char *base = id_of(&DDB, &r);
    sl_record_t r2 = r;
    r2.offset = 42;
    char *other_offset = id_of(&DDB, &r2);
    r2 = r;
    r2.partition = 1;
    char *other_partition = id_of(&DDB, &r2);
    r2 = r;
    r2.topic = "things-cdc-2";
    char *other_topic = id_of(&DDB, &r2);
    sl_cdc_opts_t o = DDB;
    o.entity = "gadget";
    char *other_entity = id_of(&o, &r);
    r2 = r;
    r2.key = "k";
    r2.key_len = 1;
    r2.timestamp_ms = 5;
    char *same_position = id_of(&DDB, &r2);
    cr_assert_str_neq(base, other_offset);
    cr_assert_str_neq(base, other_partition);
    cr_assert_str_neq(base, other_topic);
    cr_assert_str_neq(base, other_entity);
    cr_assert_str_eq(base, same_position, "key and record time are not part of the id");

    /* A textual position (Kinesis sequence number) replaces the offset. */
    r2 = r;
    r2.position = "49590338271490256608559692538361571095921575989136588898";
    char *pos_a = id_of(&DDB, &r2);
    r2.offset = 99;
    char *pos_b = id_of(&DDB, &r2);
    r2.position = "49590338271490256608559692538361571095921575989136588899";
    char *pos_c = id_of(&DDB, &r2);
    cr_assert_str_eq(pos_a, pos_b, "the position, not the offset");
    cr_assert_str_neq(pos_a, pos_c);
    cr_assert_str_neq(pos_a, base);

    /* Many offsets: no collisions, all UUID-shaped. */
    enum { N = 2000 };
    char **ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) {
        r2 = r;
        r2.offset = i;
        ids[i] = id_of(&DDB, &r2);
        cr_assert(uuid_shaped(ids[i]), "%s", ids[i]);
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++)
        cr_assert_str_neq(ids[i - 1], ids[i]);
    for (int i = 0; i < N; i++)
        free(ids[i]);
    free(ids);
    free(base);
    free(other_offset);
    free(other_partition);
    free(other_topic);
    free(other_entity);
    free(same_position);
    free(pos_a);
    free(pos_b);
    free(pos_c);
}

Test(cdc, partition_key_from_the_record_key_only_when_it_is_text)
{
    const char *v = sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                       "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}");
    static const struct {
        const char *key;
        size_t len;
        const char *want;
    } cases[] = {
        {"abc", 3, "abc"},
        {"", 0, "t1"},         /* empty: not a key */
        {"a\0b", 3, "t1"},     /* NUL: jansson would not read it back */
        {"\xff\xfe", 2, "t1"}, /* not UTF-8 */
        {"h\xc3\xa9", 3, "h\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_record_t r = rec(v, NULL, 0);
        r.key = cases[i].key;
        r.key_len = cases[i].len;
        json_t *ev = convert_ok(&DDB, &r, "key");
        cr_assert_str_eq(str_of(ev, "partitionKey"), cases[i].want, "case %zu", i);
        json_decref(ev);
    }
}

Test(cdc, the_entity_is_a_copy_of_the_image)
{
    const char *v = sq("{'after':{'id':1,'tags':['a']},'op':'c','ts_ms':1}");
    sl_record_t r = rec(v, NULL, 0);
    json_t *ev = convert_ok(&DBZ, &r, "copy");
    json_t *thing = json_object_get(ev, "thing");
    json_t *raw_new = json_object_get(json_object_get(ev, "raw"), "new");
    cr_assert_neq(thing, raw_new);
    json_object_set_new(thing, "secret", json_string("x"));
    json_array_clear(json_object_get(thing, "tags"));
    expect_json(raw_new, "{'id':1,'tags':['a']}", "raw.new unchanged");
    json_decref(ev);
}

Test(cdc, source_defaults_to_sluice)
{
    const char *v = sq("{'after':{'id':1},'op':'c','ts_ms':1}");
    sl_record_t r = rec(v, NULL, 0);
    sl_cdc_opts_t o = DBZ;
    o.source = NULL;
    json_t *ev = convert_ok(&o, &r, "source");
    expect_envelope(ev, "debezium", "sluice");
    json_decref(ev);
}

/* ---- malformed records ------------------------------------------------- */

struct bad_case {
    sl_cdc_format_t format;
    const char *value; /* single-quoted; NULL: no value */
    int rc;
    const char *reason; /* a substring of the message (after sq()) */
};

#define DDB_WITH(img)                                                                              \
    "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':'t'}},"   \
    "'NewImage':" img "}}"

Test(cdc, malformed_records_are_refused_with_a_reason)
{
    static const struct bad_case cases[] = {
        {SL_CDC_DYNAMODB, "{'eventName':", SL_EJSON, "dynamodb: not JSON"},
        {SL_CDC_DYNAMODB, "not json", SL_EJSON, "not JSON"},
        {SL_CDC_DYNAMODB, NULL, SL_EJSON, "empty value"},
        {SL_CDC_DYNAMODB, "[1]", SL_EFIELD, "not a JSON object"},
        {SL_CDC_DYNAMODB, "null", SL_EFIELD, "not a JSON object"},
        {SL_CDC_DYNAMODB, "{'dynamodb':{}}", SL_EFIELD, "eventName missing"},
        {SL_CDC_DYNAMODB, "{'eventName':5,'dynamodb':{}}", SL_EFIELD, "eventName is not a string"},
        {SL_CDC_DYNAMODB, "{'eventName':'FOO','dynamodb':{}}", SL_EFIELD,
         "dynamodb: eventName 'FOO' is not INSERT, MODIFY or REMOVE"},
        {SL_CDC_DYNAMODB, "{'eventName':'insert','dynamodb':{}}", SL_EFIELD, "'insert'"},
        {SL_CDC_DYNAMODB, "{'eventName':'INSERT'}", SL_EFIELD, "'dynamodb' missing"},
        {SL_CDC_DYNAMODB, "{'eventName':'INSERT','dynamodb':[]}", SL_EFIELD,
         "'dynamodb' is not an object"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'abc'}}"), SL_EFIELD,
         "dynamodb: NewImage.price: N 'abc' is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':''}}"), SL_EFIELD, "N '' is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':' 1'}}"), SL_EFIELD, "is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'1e'}}"), SL_EFIELD, "is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'0x10'}}"), SL_EFIELD, "is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'NaN'}}"), SL_EFIELD, "is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'.'}}"), SL_EFIELD, "is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':'1e999'}}"), SL_EFIELD,
         "NewImage.price: N '1e999' is out of range"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'price':{'N':5}}"), SL_EFIELD, "N is not a string"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'X':1}}"), SL_EFIELD,
         "NewImage.x: unknown attribute type 'X'"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{}}"), SL_EFIELD, "NewImage.x: is not an attribute value"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':'plain'}"), SL_EFIELD, "is not an attribute value"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'S':'a','N':'1'}}"), SL_EFIELD, "has 2 type members"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'S':1}}"), SL_EFIELD, "S is not a string"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'B':null}}"), SL_EFIELD, "B is not a string"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'BOOL':'true'}}"), SL_EFIELD,
         "BOOL is not true or false"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'NULL':false}}"), SL_EFIELD, "NULL is not true"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'M':[]}}"), SL_EFIELD, "NewImage.x: is not a map"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'L':{}}}"), SL_EFIELD, "L is not an array"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'SS':['a',1]}}"), SL_EFIELD,
         "NewImage.x[1]: a member of SS is not a string"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'NS':['1','x']}}"), SL_EFIELD,
         "NewImage.x[1]: N 'x' is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'x':{'BS':'AA=='}}"), SL_EFIELD, "BS is not an array"},
        {SL_CDC_DYNAMODB, DDB_WITH("{'a':{'M':{'b':{'L':[{'S':'ok'},{'N':'z'}]}}}}"), SL_EFIELD,
         "dynamodb: NewImage.a.b[1]: N 'z' is not a number"},
        {SL_CDC_DYNAMODB, DDB_WITH("[]"), SL_EFIELD, "NewImage: is not a map of attribute values"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'Keys':{'pk':{'N':'1.2.3'}},'NewImage':{}}}", SL_EFIELD,
         "Keys.pk: N '1.2.3' is not a number"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1,'OldImage':{'a':{'S':"
         "'x'}},'Keys':{'pk':{'BOOL':true}}}}",
         SL_EFIELD, "Keys.pk: a key attribute is S, N or B, not BOOL"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{},"
         "'NewImage':{}}}",
         SL_EFIELD, "no partition key"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':''}},"
         "'NewImage':{}}}",
         SL_EFIELD, "no partition key"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'NewImage':{}}}",
         SL_EFIELD, "no partition key: the record has no key and no Keys"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':'t'}}"
         ","
         "'StreamViewType':'KEYS_ONLY'}}",
         SL_EFIELD, "INSERT without NewImage"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':'t'}}"
         ","
         "'OldImage':{}}}",
         SL_EFIELD, "MODIFY without NewImage"},
        {SL_CDC_DYNAMODB, "{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1}}",
         SL_EFIELD, "REMOVE without OldImage or Keys"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':'1','Keys':{'pk':{'S':"
         "'t'}},'NewImage':{}}}",
         SL_EFIELD, "ApproximateCreationDateTime is not a non-negative number"},
        {SL_CDC_DYNAMODB,
         "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':-1,'Keys':{'pk':{'S':"
         "'t'}},'NewImage':{}}}",
         SL_EFIELD, "ApproximateCreationDateTime"},
        {SL_CDC_DEBEZIUM, NULL, SL_EFIELD, "debezium: tombstone"},
        {SL_CDC_DEBEZIUM, "null", SL_EFIELD, "tombstone"},
        {SL_CDC_DEBEZIUM, "{" SCHEMA ",'payload':null}", SL_EFIELD, "tombstone"},
        {SL_CDC_DEBEZIUM, "{" SCHEMA ",'payload':'x'}", SL_EFIELD, "payload is not an object"},
        {SL_CDC_DEBEZIUM, "{'before':null,", SL_EJSON, "debezium: not JSON"},
        {SL_CDC_DEBEZIUM, "[]", SL_EFIELD, "not a JSON object"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1}}", SL_EFIELD, "debezium: op missing"},
        {SL_CDC_DEBEZIUM, "{" SCHEMA ",'payload':{'after':{'id':1}}}", SL_EFIELD, "op missing"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1},'op':'z'}", SL_EFIELD,
         "debezium: op 'z' is not c, r, u or d"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1},'op':'t'}", SL_EFIELD, "op 't' is not"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1},'op':1}", SL_EFIELD, "op is not a string"},
        {SL_CDC_DEBEZIUM, "{'after':'x','op':'c'}", SL_EFIELD, "after is not an object or null"},
        {SL_CDC_DEBEZIUM, "{'before':[],'after':{'id':1},'op':'u'}", SL_EFIELD,
         "before is not an object or null"},
        {SL_CDC_DEBEZIUM, "{'before':null,'after':null,'op':'c'}", SL_EFIELD,
         "op 'c' without after"},
        {SL_CDC_DEBEZIUM, "{'before':{'id':1},'op':'u'}", SL_EFIELD, "op 'u' without after"},
        {SL_CDC_DEBEZIUM, "{'before':null,'after':null,'op':'d'}", SL_EFIELD,
         "op 'd' without before"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1},'op':'c','ts_ms':-5}", SL_EFIELD,
         "ts_ms is not a non-negative number"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':1},'op':'c','ts_ms':'5'}", SL_EFIELD, "ts_ms"},
        {SL_CDC_DEBEZIUM, "{'after':{},'op':'c','ts_ms':1}", SL_EFIELD, "no partition key"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':null,'x':{}},'op':'c','ts_ms':1}", SL_EFIELD,
         "no partition key"},
        {SL_CDC_DEBEZIUM, "{'after':{'id':''},'op':'c','ts_ms':1}", SL_EFIELD, "no partition key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct bad_case *c = &cases[i];
        sl_cdc_opts_t o = c->format == SL_CDC_DYNAMODB ? DDB : DBZ;
        sl_record_t r = rec(c->value ? sq(c->value) : NULL, NULL, 0);
        char err[256] = "";
        json_t *ev = (json_t *)1;
        int rc = sl_cdc_convert(&o, &r, &ev, err, sizeof err);
        cr_assert_eq(rc, c->rc, "case %zu (%s): rc %d, want %d: %s", i, c->value, rc, c->rc, err);
        cr_assert_null(ev, "case %zu: no event on failure", i);
        cr_assert_gt(strlen(err), 0, "case %zu: a reason", i);
        cr_assert(strstr(err, sq(c->reason)), "case %zu (%s): reason '%s' lacks '%s'", i, c->value,
                  err, sq(c->reason));
        /* Every message is valid UTF-8 text: jansson takes it as a string. */
        json_t *s = json_string(err);
        cr_assert_not_null(s, "case %zu: UTF-8", i);
        json_decref(s);
    }
}

Test(cdc, without_a_record_timestamp_a_change_time_is_required)
{
    const char *v = sq("{'eventName':'REMOVE','dynamodb':{'Keys':{'pk':{'S':'t'}}}}");
    sl_record_t r = rec(v, NULL, 0);
    r.timestamp_ms = 0;
    char err[256];
    json_t *ev;
    cr_assert_eq(sl_cdc_convert(&DDB, &r, &ev, err, sizeof err), SL_EFIELD);
    cr_assert(strstr(err, "no timestamp"), "%s", err);
    r.value = sq("{'after':{'id':1},'op':'c'}");
    r.value_len = strlen(r.value);
    cr_assert_eq(sl_cdc_convert(&DBZ, &r, &ev, err, sizeof err), SL_EFIELD);
    cr_assert(strstr(err, "no timestamp"), "%s", err);
    /* The image's timestamp is enough for a create. */
    r.value = sq("{'after':{'id':1,'timestamp':3},'op':'c'}");
    r.value_len = strlen(r.value);
    cr_assert_eq(sl_cdc_convert(&DBZ, &r, &ev, err, sizeof err), 0, "%s", err);
    cr_assert_eq(json_integer_value(json_object_get(ev, "timestamp")), 3);
    json_decref(ev);
}

Test(cdc, reasons_are_clipped_and_stay_utf8)
{
    /* A long eventName of two-byte characters, quoted in the reason. */
    char name[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(name, "\xc3\xa9");
    char v[600];
    snprintf(v, sizeof v, "{\"eventName\":\"%s\",\"dynamodb\":{}}", name);
    sl_record_t r = rec(v, NULL, 0);
    char err[256];
    json_t *ev;
    cr_assert_eq(sl_cdc_convert(&DDB, &r, &ev, err, sizeof err), SL_EFIELD);
    cr_assert(strstr(err, "...\" is not INSERT, MODIFY or REMOVE"), "%s", err);
    cr_assert_lt(strlen(err), 120);
    /* Any buffer size: NUL-terminated, never a cut character. */
    for (size_t size = 1; size < 90; size++) {
        char small[90];
        memset(small, 'x', sizeof small);
        cr_assert_eq(sl_cdc_convert(&DDB, &r, &ev, small, size), SL_EFIELD);
        cr_assert_lt(strlen(small), size);
        json_t *s = json_string(small);
        cr_assert_not_null(s, "size %zu: '%s' is UTF-8", size, small);
        json_decref(s);
    }
    /* No buffer at all is fine too. */
    cr_assert_eq(sl_cdc_convert(&DDB, &r, &ev, NULL, 0), SL_EFIELD);
}

/* Found by fuzz_cdc: jansson quotes the bytes near a syntax error as they
 * are, so "not JSON: ..." carried invalid UTF-8 and control bytes. */
Test(cdc, not_json_reasons_stay_utf8)
{
    const char *values[] = {"{\"a\":\"\\u0\xd1\x9a\xc6\"}", "{\"a\":\xff\xfe}",
                            "{\"a\":\"x\x1b\xe2\x82\"}", "[\"\xc3\"]"};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        sl_record_t r = rec(values[i], NULL, 0);
        char err[256];
        json_t *ev;
        cr_assert_eq(sl_cdc_convert(&DBZ, &r, &ev, err, sizeof err), SL_EJSON, "%zu", i);
        cr_assert(strstr(err, "not JSON: "), "%s", err);
        json_t *s = json_string(err);
        cr_assert_not_null(s, "%zu: the reason is not UTF-8: %s", i, err);
        json_decref(s);
        for (const char *p = err; *p; p++)
            cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "%zu: a control byte in %s", i, err);
    }
}

Test(cdc, bad_options)
{
    const char *v = sq("{'after':{'id':1},'op':'c','ts_ms':1}");
    sl_record_t r = rec(v, NULL, 0);
    json_t *ev;
    char err[256];
    static const sl_cdc_opts_t bad[] = {
        {.format = 0, .entity = "thing"},
        {.format = 3, .entity = "thing"},
        {.format = SL_CDC_DEBEZIUM, .entity = ""},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .expired = (sl_cdc_expired_t)3},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .drop_count = 1},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .region = ""},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .latched_attr = ""},
        {.format = SL_CDC_DEBEZIUM, .entity = "a thing"},
        {.format = SL_CDC_DEBEZIUM, .entity = "th/ing"},
        {.format = SL_CDC_DEBEZIUM, .entity = "raw"},
        {.format = SL_CDC_DEBEZIUM, .entity = "partitionKey"},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .source = ""},
        {.format = SL_CDC_DEBEZIUM, .entity = "thing", .source = "\xff"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        cr_assert_eq(sl_cdc_convert(&bad[i], &r, &ev, err, sizeof err), SL_EINVAL, "case %zu", i);
        cr_assert_gt(strlen(err), 0);
        sl_pipeline_t *p = sl_pipeline_new("p");
        cr_assert_eq(sl_cdc(p, &bad[i]), SL_EINVAL, "case %zu", i);
        sl_pipeline_destroy(p);
    }
    cr_assert_eq(sl_cdc_convert(NULL, &r, &ev, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_cdc_convert(&DBZ, NULL, &ev, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_cdc_convert(&DBZ, &r, NULL, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_cdc(NULL, &DBZ), SL_EINVAL);
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_cdc(p, NULL), SL_EINVAL);
    /* Good entity names. */
    sl_cdc_opts_t o = {.format = SL_CDC_DEBEZIUM, .entity = "Order_line-2"};
    cr_assert_eq(sl_cdc(p, &o), 0);
    cr_assert_eq(sl_cdc_convert(&o, &r, &ev, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(str_of(ev, "type"), "Order_line-2-created");
    cr_assert_not_null(json_object_get(ev, "Order_line-2"));
    json_decref(ev);
    sl_pipeline_destroy(p);
}

/* Every allocation failing in turn: never a leak, a crash or an event with an error. */
TestSuite(cdc_alloc, .init = sl_mem_use_for_jansson);

Test(cdc_alloc, every_allocation_may_fail)
{
    const char *values[] = {
        sq("{'eventName':'MODIFY','awsRegion':'eu-west-1','dynamodb':{"
           "'ApproximateCreationDateTime':1.5,'Keys':{'b':{'N':'2'},'a':{'S':'x'}},"
           "'NewImage':{'a':{'S':'x'},'n':{'N':'123456789012345678901234567890.5'},"
           "'m':{'M':{'l':{'L':[{'NS':['1','2']},{'SS':['a']},{'NULL':true}]}}}},"
           "'OldImage':{'a':{'S':'x'},'long':{'N':'"
           "1234567890123456789012345678901234567890123456789012345678901234567890.1'}}}}"),
        sq("{'schema':{},'payload':{'before':{'id':1.5},'after':{'id':1.5,'v':[1,{'x':2}]},"
           "'op':'u','ts_ms':1}}"),
    };
    const sl_cdc_opts_t *opts[] = {&DDB, &DBZ};
    for (int k = 0; k < 2; k++) {
        int done = 0, nomem = 0;
        for (uint64_t n = 1; n < 10000 && !done; n++) {
            sl_record_t r = rec(values[k], NULL, 0);
            sl_mem_stats_t before, after;
            sl_mem_stats(&before);
            sl_mem_fail_at(n, 0);
            char err[256] = "";
            json_t *ev = NULL;
            int rc = sl_cdc_convert(opts[k], &r, &ev, err, sizeof err);
            sl_mem_fail_at(0, 0);
            sl_mem_stats(&after);
            if (after.failed == before.failed) {
                cr_assert_eq(rc, 0, "%d/%llu: %s", k, (unsigned long long)n, err);
                done = 1;
            } else if (rc) {
                /* Mostly SL_ENOMEM; but jansson's lexer ignores a failed
                 * append to its token buffer (lex_save), so a record can also
                 * come out altered and be refused, or pass, for another reason. */
                nomem += rc == SL_ENOMEM;
                cr_assert_null(ev);
                cr_assert_gt(strlen(err), 0);
            } else {
                cr_assert_not_null(ev);
            }
            json_decref(ev);
        }
        cr_assert(done);
        cr_assert_gt(nomem, k ? 10 : 1);
    }
}

/* ---- the map stage through the test driver ---------------------------- */

static sl_test_t *cdc_driver(const sl_cdc_opts_t *o, sl_test_sink_t **out)
{
    const char *kv[] = {"source.format", "json", NULL};
    sl_test_t *t = driver(kv);
    *out = sl_test_sink_new(t, "events", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("cdc");
    cr_assert_eq(sl_cdc(p, o), 0);
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(*out)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

Test(cdc, pipeline_publishes_events_and_faults_bad_records)
{
    /* The options are copied: change the caller's strings afterwards. */
    char entity[16] = "thing", source[16] = "things-trigger";
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = entity, .source = source};
    sl_test_sink_t *out;
    sl_test_t *t = cdc_driver(&o, &out);
    strcpy(entity, "xxxxx");
    strcpy(source, "yyyyy");
    const char *in[] = {
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'1'}}}}",
        "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225601,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'abc'}}}}",
        "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225602,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'2'}},"
        "'OldImage':{'pk':{'S':'t1'},'n':{'N':'1'}}}}",
        "{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1767225603,"
        "'Keys':{'pk':{'S':'t2'}}}}",
    };
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(sl_test_push_str(t, "things-cdc", 2, i == 3 ? "rk" : NULL, sq(in[i])), 0);
    cr_assert_eq(sl_test_sink_count(out), 3);
    static const struct {
        const char *key, *type;
        int64_t offset, ts;
    } want[] = {{"t1", "thing-created", 0, 1767225600000ll},
                {"t1", "thing-updated", 2, 1767225602000ll},
                {"rk", "thing-deleted", 3, 1767225603000ll}};
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(out, i);
        cr_assert_str_eq(m->key, want[i].key, "output key = partitionKey");
        cr_assert_eq(m->offset, want[i].offset);
        json_error_t je;
        json_t *ev = json_loadb(m->value, m->value_len, 0, &je);
        cr_assert_not_null(ev, "%s", je.text);
        expect_envelope(ev, "dynamodb", "things-trigger");
        cr_assert_str_eq(str_of(ev, "type"), want[i].type);
        cr_assert_str_eq(str_of(ev, "partitionKey"), want[i].key);
        cr_assert_eq(json_integer_value(json_object_get(ev, "timestamp")), want[i].ts);
        /* The same id sl_cdc_convert gives for the same coordinates. */
        sl_record_t r = rec(sq(in[want[i].offset]), i == 2 ? "rk" : NULL, want[i].offset);
        r.partition = 2;
        json_t *direct = convert_ok(&DDB, &r, "direct");
        cr_assert_str_eq(str_of(ev, "id"), str_of(direct, "id"));
        json_decref(direct);
        json_decref(ev);
    }
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(f, 0);
    json_t *fault = json_loadb(m->value, m->value_len, 0, NULL);
    cr_assert_not_null(fault);
    json_t *err = json_object_get(fault, "err");
    cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_EFIELD");
    cr_assert_eq(json_integer_value(json_object_get(err, "code")), SL_EFIELD);
    const char *msg = json_string_value(json_object_get(err, "message"));
    cr_assert(strstr(msg, "dynamodb: NewImage.n: N \"abc\" is not a number"), "%s", msg);
    json_t *tags = json_object_get(fault, "tags");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "pipeline")), "cdc");
    cr_assert_str_eq(json_string_value(json_object_get(tags, "stage")), "map");
    json_t *rec1 = json_object_get(json_object_get(fault, "uow"), "record");
    cr_assert_eq(json_integer_value(json_object_get(rec1, "offset")), 1);
    json_decref(fault);
    cr_assert_eq(sl_test_committed(t, "things-cdc", 2), 4, "every record done");
    cr_assert_eq(sl_test_inflight(t), 0);
    sl_test_destroy(t);
}

Test(cdc, pipeline_over_debezium)
{
    sl_test_sink_t *out;
    sl_test_t *t = cdc_driver(&DBZ, &out);
    const char *in[] = {
        "{" SCHEMA ",'payload':{'before':null,'after':{'id':1},'op':'c','ts_ms':10}}",
        "{'before':{'id':1},'after':{'id':1,'n':2},'op':'u','ts_ms':11}",
        "{'before':{'id':1},'after':null,'op':'x','ts_ms':12}",
        "{'before':{'id':1},'after':null,'op':'d','ts_ms':13}",
    };
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(sl_test_push_str(t, "shop.public.things", 0, NULL, sq(in[i])), 0);
    cr_assert_eq(sl_test_sink_count(out), 3);
    const char *types[] = {"thing-created", "thing-updated", "thing-deleted"};
    for (size_t i = 0; i < 3; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(out, i);
        cr_assert_str_eq(m->key, "1");
        json_t *ev = json_loadb(m->value, m->value_len, 0, NULL);
        cr_assert_str_eq(str_of(ev, "type"), types[i]);
        json_decref(ev);
    }
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1);
    const sl_test_msg_t *m = sl_test_sink_msg(sl_test_faults(t), 0);
    cr_assert(strstr(m->value, "debezium: op \\\"x\\\" is not c, r, u or d"), "%s", m->value);
    sl_test_destroy(t);
}

/* Pushes @p v with the @p n-th allocation failing, for n = 1..120, and
 * checks that each record is published or faulted exactly once and
 * committed. Returns the retries the pipeline counted over all of them;
 * *runs how many pushes were taken (not refused for memory), *published
 * how many of them published the event. */
static uint64_t push_failing(const char *v, unsigned *runs, unsigned *published)
{
    uint64_t retried = 0;
    *runs = *published = 0;
    for (uint64_t n = 1; n <= 120; n++) {
        const char *kv[] = {
            "source.format",        "json", "retry.max", "100", "retry.backoff.ms", "1",
            "retry.backoff.max.ms", "2",    NULL};
        sl_test_t *t = driver(kv);
        sl_test_sink_t *out = sl_test_sink_new(t, "events", 0, 0, 0);
        sl_pipeline_t *p = sl_pipeline_new("cdc");
        cr_assert_eq(sl_cdc(p, &DDB), 0);
        add_with_sink(t, p, out);
        cr_assert_eq(sl_test_start(t), 0);
        sl_mem_fail_at(n, 0);
        int rc = sl_test_push_str(t, "in", 0, NULL, v);
        sl_mem_fail_at(0, 0);
        if (rc == SL_ENOMEM) {
            sl_test_destroy(t);
            continue;
        }
        cr_assert_eq(rc, 0);
        ++*runs;
        for (int i = 0; i < 10; i++)
            sl_test_advance(t, 10);
        cr_assert_eq(sl_test_sink_count(out) + sl_test_sink_count(sl_test_faults(t)), 1,
                     "n=%llu: published or faulted, once", (unsigned long long)n);
        *published += (unsigned)sl_test_sink_count(out);
        cr_assert_eq(sl_test_committed(t, "in", 0), 1);
        sl_stats_t st;
        cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "cdc", &st), 0);
        retried += st.retries;
        sl_test_destroy(t);
    }
    return retried;
}

/* Out of memory inside the map is transient: the stage asks for a retry and
 * the record goes through once memory is back. The record is not in plain
 * ASCII, so the engine validates it and the map walks it. */
Test(cdc_alloc, out_of_memory_in_the_stage_is_retried)
{
    unsigned runs, published;
    const char *v = sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                       "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'1.5'},"
                       "'city':{'S':'Z\xc3\xbcrich'}}}}");
    uint64_t retried = push_failing(v, &runs, &published);
    cr_assert_gt(retried, 5, "failures inside the stage were retried (%llu)",
                 (unsigned long long)retried);
    cr_assert_eq(published, runs, "every run published the event (%u of %u)", published, runs);
}

/* A compact record in plain ASCII is proven JSON by the stage's walk in the
 * engine's stead, which keeps the event for the map. Out of memory in that
 * walk is no verdict on the record: the engine validates it, the map writes
 * the event; never a decode fault. */
Test(cdc_alloc, out_of_memory_while_proving_a_record_is_no_fault)
{
    unsigned runs, published;
    const char *v = sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                       "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'1.5'}}}}");
    push_failing(v, &runs, &published);
    cr_assert_eq(published, runs, "every run published the event (%u of %u)", published, runs);
}

/* ---- migrating from aws-lambda-stream (issue 16) ----------------------- */

/* A DynamoDB record: @p name INSERT|MODIFY|REMOVE, @p extra members of the
 * record (e.g. eventID), @p d the members of "dynamodb" after the time. */
static const char *ddb_rec(const char *name, const char *extra, const char *d)
{
    static char ring[8][4096];
    static unsigned at;
    char *b = ring[at++ % 8];
    snprintf(b, sizeof ring[0],
             "{'eventName':'%s'%s%s,'dynamodb':{'ApproximateCreationDateTime':1767225600,%s}}",
             name, *extra ? "," : "", extra, d);
    return sq(b);
}

/* sl_cdc_convert() that must skip: out NULL, a reason naming @p why. */
static void expect_skip(const sl_cdc_opts_t *o, const char *v, const char *why)
{
    sl_record_t r = rec(v, NULL, 1);
    char err[256] = "";
    json_t *ev = (json_t *)1;
    cr_assert_eq(sl_cdc_convert(o, &r, &ev, err, sizeof err), 0, "%s: %s", why, err);
    cr_assert_null(ev, "%s: skipped", why);
    cr_assert(strstr(err, why), "reason \"%s\" names %s", err, why);
}

static json_t *convert_v(const sl_cdc_opts_t *o, const char *v, const char *what)
{
    sl_record_t r = rec(v, NULL, 1);
    return convert_ok(o, &r, what);
}

Test(cdc, latched_records_and_replicas_are_skipped_by_default)
{
    sl_cdc_opts_t o = DDB;
    o.region = "eu-west-1";
    const char *latched = ddb_rec("MODIFY", "",
                                  "'Keys':{'pk':{'S':'t1'}},"
                                  "'NewImage':{'pk':{'S':'t1'},'latched':{'BOOL':true}},"
                                  "'OldImage':{'pk':{'S':'t1'}}");
    const char *removed_latched = ddb_rec("REMOVE", "",
                                          "'Keys':{'pk':{'S':'t1'}},"
                                          "'OldImage':{'pk':{'S':'t1'},'latched':{'BOOL':true}}");
    const char *not_latched = ddb_rec("MODIFY", "",
                                      "'Keys':{'pk':{'S':'t1'}},"
                                      "'NewImage':{'pk':{'S':'t1'},'latched':{'BOOL':false}}");
    const char *replica = ddb_rec("INSERT", "'awsRegion':'us-east-1'",
                                  "'Keys':{'pk':{'S':'t1'}},"
                                  "'NewImage':{'pk':{'S':'t1'},'awsregion':{'S':'us-east-1'}}");
    const char *local = ddb_rec("INSERT", "'awsRegion':'eu-west-1'",
                                "'Keys':{'pk':{'S':'t1'}},"
                                "'NewImage':{'pk':{'S':'t1'},'awsregion':{'S':'eu-west-1'}}");
    expect_skip(&o, latched, "latched");
    expect_skip(&o, removed_latched, "latched");
    expect_skip(&o, replica, "replica");
    json_decref(convert_v(&o, not_latched, "latched false"));
    json_t *ev = convert_v(&o, local, "this region");
    cr_assert_str_eq(str_of(ev, "type"), "thing-created");
    json_decref(ev);

    /* Each check can be turned off. */
    sl_cdc_opts_t keep = o;
    keep.keep_latched = 1;
    keep.keep_replicas = 1;
    json_decref(convert_v(&keep, latched, "keep latched"));
    json_decref(convert_v(&keep, replica, "keep replicas"));
    /* No region: no replica check. */
    sl_cdc_opts_t noregion = DDB;
    json_decref(convert_v(&noregion, replica, "no region"));

    /* Attribute names are options. */
    sl_cdc_opts_t named = o;
    named.latched_attr = "echo";
    named.region_attr = "home";
    json_decref(convert_v(&named, latched, "latched is an ordinary attribute now"));
    json_decref(convert_v(&named, replica, "awsregion is an ordinary attribute now"));
    expect_skip(&named,
                ddb_rec("INSERT", "",
                        "'Keys':{'pk':{'S':'t1'}},"
                        "'NewImage':{'pk':{'S':'t1'},'echo':{'BOOL':true}}"),
                "latched");
    expect_skip(&named,
                ddb_rec("INSERT", "",
                        "'Keys':{'pk':{'S':'t1'}},"
                        "'NewImage':{'pk':{'S':'t1'},'home':{'S':'ap-south-1'}}"),
                "replica");

    /* Debezium: the latched attribute of the after image. */
    sl_cdc_opts_t dz = DBZ;
    expect_skip(&dz, sq("{'op':'u','ts_ms':1,'after':{'id':1,'latched':true}}"), "latched");
}

Test(cdc, the_pipeline_counts_skipped_records_as_done)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB, .entity = "thing", .region = "eu-west-1"};
    sl_test_sink_t *out;
    sl_test_t *t = cdc_driver(&o, &out);
    const char *in[] = {
        ddb_rec("INSERT", "", "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}"),
        ddb_rec("MODIFY", "",
                "'Keys':{'pk':{'S':'t1'}},"
                "'NewImage':{'pk':{'S':'t1'},'latched':{'BOOL':true}}"),
        ddb_rec("INSERT", "",
                "'Keys':{'pk':{'S':'t2'}},"
                "'NewImage':{'pk':{'S':'t2'},'awsregion':{'S':'us-east-1'}}"),
    };
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(sl_test_push_str(t, "things-cdc", 0, NULL, in[i]), 0);
    cr_assert_eq(sl_test_sink_count(out), 1, "only the first is published");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0, "skips are not faults");
    cr_assert_eq(sl_test_committed(t, "things-cdc", 0), 3, "every record done");
    sl_stats_t st;
    cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "cdc", &st), 0);
    cr_assert_eq(st.skipped, 2, "counted as skipped");
    sl_test_destroy(t);
}

Test(cdc, entity_from_the_discriminator_else_the_sort_key)
{
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB};
    json_t *ev = convert_v(&o,
                           ddb_rec("INSERT", "",
                                   "'Keys':{'pk':{'S':'1'},'sk':{'S':'EDGE'}},"
                                   "'NewImage':{'pk':{'S':'1'},'sk':{'S':'EDGE'},"
                                   "'discriminator':{'S':'Order-Line'}}"),
                           "discriminator");
    cr_assert_str_eq(str_of(ev, "type"), "order-line-created");
    cr_assert(json_is_object(json_object_get(ev, "order-line")), "entity under its name");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "tags"), "entity")),
                     "order-line");
    json_decref(ev);
    ev = convert_v(&o,
                   ddb_rec("MODIFY", "",
                           "'Keys':{'pk':{'S':'1'},'sk':{'S':'THING'}},"
                           "'NewImage':{'pk':{'S':'1'},'sk':{'S':'THING'}}"),
                   "sk");
    cr_assert_str_eq(str_of(ev, "type"), "thing-updated");
    json_decref(ev);
    /* A keys-only REMOVE: the sort key from Keys. */
    ev = convert_v(&o, ddb_rec("REMOVE", "", "'Keys':{'pk':{'S':'1'},'sk':{'S':'Thing'}}"),
                   "keys only");
    cr_assert_str_eq(str_of(ev, "type"), "thing-deleted");
    json_decref(ev);
    /* The option wins. */
    o.entity = "gadget";
    ev = convert_v(&o,
                   ddb_rec("INSERT", "",
                           "'Keys':{'pk':{'S':'1'}},"
                           "'NewImage':{'pk':{'S':'1'},'discriminator':{'S':'thing'}}"),
                   "fixed");
    cr_assert_str_eq(str_of(ev, "type"), "gadget-created");
    json_decref(ev);
    /* Named attributes. */
    sl_cdc_opts_t named = {
        .format = SL_CDC_DYNAMODB, .discriminator_attr = "kind", .sk_attr = "rk"};
    ev = convert_v(&named,
                   ddb_rec("INSERT", "",
                           "'Keys':{'pk':{'S':'1'}},"
                           "'NewImage':{'pk':{'S':'1'},'rk':{'S':'Widget'}}"),
                   "named sk");
    cr_assert_str_eq(str_of(ev, "type"), "widget-created");
    json_decref(ev);

    /* No usable name: a fault with the reason. */
    const struct {
        const char *v, *why;
    } bad[] = {
        {ddb_rec("INSERT", "", "'Keys':{'pk':{'S':'1'}},'NewImage':{'pk':{'S':'1'}}"),
         "no entity name"},
        {ddb_rec("INSERT", "",
                 "'Keys':{'pk':{'S':'1'}},"
                 "'NewImage':{'pk':{'S':'1'},'sk':{'S':'THING#2'}}"),
         "is not an entity name"},
        {ddb_rec("INSERT", "",
                 "'Keys':{'pk':{'S':'1'}},"
                 "'NewImage':{'pk':{'S':'1'},'discriminator':{'S':'Raw'}}"),
         "member of the event envelope"},
        {ddb_rec("INSERT", "",
                 "'Keys':{'pk':{'S':'1'}},"
                 "'NewImage':{'pk':{'S':'1'},'discriminator':{'N':'7'}}"),
         "no entity name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sl_cdc_opts_t d = {.format = SL_CDC_DYNAMODB};
        sl_record_t r = rec(bad[i].v, NULL, 1);
        char err[256] = "";
        json_t *e = NULL;
        cr_assert_eq(sl_cdc_convert(&d, &r, &e, err, sizeof err), SL_EFIELD, "case %zu", i);
        cr_assert_null(e);
        cr_assert(strstr(err, bad[i].why), "case %zu: %s", i, err);
    }
}

Test(cdc, soft_deletes_and_undeletes)
{
    struct {
        const char *newd, *oldd, *type;
    } cases[] = {
        {"'deleted':{'BOOL':true}", "'deleted':{'BOOL':false}", "thing-deleted"},
        {"'deleted':{'BOOL':true}", "'x':{'S':'y'}", "thing-deleted"},
        {"'x':{'S':'y'}", "'deleted':{'BOOL':true}", "thing-undeleted"},
        {"'deleted':{'BOOL':false}", "'deleted':{'BOOL':true}", "thing-undeleted"},
        {"'deleted':{'BOOL':true}", "'deleted':{'BOOL':true}", "thing-updated"},
        {"'deleted':{'S':'true'}", "'x':{'S':'y'}", "thing-updated"},
    };
    char d[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(d, sizeof d,
                 "'Keys':{'pk':{'S':'1'}},'NewImage':{'pk':{'S':'1'},%s},"
                 "'OldImage':{'pk':{'S':'1'},%s}",
                 cases[i].newd, cases[i].oldd);
        json_t *ev = convert_v(&DDB, ddb_rec("MODIFY", "", d), cases[i].type);
        cr_assert_str_eq(str_of(ev, "type"), cases[i].type, "case %zu", i);
        json_decref(ev);
    }
    sl_cdc_opts_t named = DDB;
    named.deleted_attr = "gone";
    json_t *ev = convert_v(&named,
                           ddb_rec("MODIFY", "",
                                   "'Keys':{'pk':{'S':'1'}},"
                                   "'NewImage':{'pk':{'S':'1'},'gone':{'BOOL':true}},"
                                   "'OldImage':{'pk':{'S':'1'}}"),
                           "named");
    cr_assert_str_eq(str_of(ev, "type"), "thing-deleted");
    json_decref(ev);
    ev = convert_v(&DBZ,
                   sq("{'op':'u','ts_ms':1,'after':{'id':1,'deleted':true},"
                      "'before':{'id':1,'deleted':false}}"),
                   "debezium");
    cr_assert_str_eq(str_of(ev, "type"), "thing-deleted");
    json_decref(ev);
}

Test(cdc, a_ttl_removal_is_an_expiry)
{
    const char *ttl = ddb_rec(
        "REMOVE", "'userIdentity':{'type':'Service','principalId':'dynamodb.amazonaws.com'}",
        "'Keys':{'pk':{'S':'1'}},'OldImage':{'pk':{'S':'1'},'ttl':{'N':'1767225000'}}");
    const char *user =
        ddb_rec("REMOVE", "'userIdentity':{'type':'Service','principalId':'other.amazonaws.com'}",
                "'Keys':{'pk':{'S':'1'}},'OldImage':{'pk':{'S':'1'}}");
    json_t *ev = convert_v(&DDB, ttl, "ttl");
    cr_assert_str_eq(str_of(ev, "type"), "thing-expired");
    json_decref(ev);
    ev = convert_v(&DDB, user, "user");
    cr_assert_str_eq(str_of(ev, "type"), "thing-deleted");
    json_decref(ev);
    sl_cdc_opts_t o = DDB;
    o.expired = SL_CDC_EXPIRED_SKIP;
    expect_skip(&o, ttl, "expired");
    o.expired = SL_CDC_EXPIRED_DELETE;
    ev = convert_v(&o, ttl, "as a delete");
    cr_assert_str_eq(str_of(ev, "type"), "thing-deleted");
    json_decref(ev);
}

Test(cdc, ids_come_from_the_change_identity)
{
    const char *a = ddb_rec("INSERT", "'eventID':'c0ffee01'",
                            "'Keys':{'pk':{'S':'1'}},'NewImage':{'pk':{'S':'1'}}");
    const char *b = ddb_rec("INSERT", "'eventID':'c0ffee02'",
                            "'Keys':{'pk':{'S':'1'}},'NewImage':{'pk':{'S':'1'}}");
    sl_record_t r1 = rec(a, NULL, 1), r2 = rec(a, NULL, 9), r3 = rec(b, NULL, 1);
    r2.topic = "elsewhere";
    char *i1 = id_of(&DDB, &r1), *i2 = id_of(&DDB, &r2), *i3 = id_of(&DDB, &r3);
    cr_assert_str_eq(i1, i2, "the same change written twice: one id");
    cr_assert_str_neq(i1, i3);
    cr_assert(uuid_shaped(i1));
    free(i1);
    free(i2);
    free(i3);

    /* Debezium: the source position; a snapshot read has none. */
    const char *pg = sq("{'op':'u','ts_ms':1,'after':{'id':1},'source':{'connector':'postgresql',"
                        "'name':'db','lsn':24023128,'txId':555}}");
    const char *pg2 = sq("{'op':'u','ts_ms':1,'after':{'id':1},'source':{'connector':"
                         "'postgresql','name':'db','lsn':24023129,'txId':555}}");
    char my0[512], my1[512];
    snprintf(my0, sizeof my0, "%s",
             sq("{'op':'c','ts_ms':1,'after':{'id':1},'source':{'connector':'mysql',"
                "'name':'db','file':'binlog.000003','pos':154,'row':0}}"));
    snprintf(my1, sizeof my1, "%s",
             sq("{'op':'c','ts_ms':1,'after':{'id':1},'source':{'connector':'mysql',"
                "'name':'db','file':'binlog.000003','pos':154,'row':1}}"));
    const char *snap = sq("{'op':'r','ts_ms':1,'after':{'id':1},'source':{'connector':"
                          "'postgresql','name':'db','lsn':24023128}}");
    sl_record_t p1 = rec(pg, NULL, 1), p2 = rec(pg, NULL, 2), p3 = rec(pg2, NULL, 1);
    sl_record_t m0 = rec(my0, NULL, 1), m0b = rec(my0, NULL, 5), m1 = rec(my1, NULL, 1);
    sl_record_t s1 = rec(snap, NULL, 1), s2 = rec(snap, NULL, 2);
    char *ids[] = {id_of(&DBZ, &p1),  id_of(&DBZ, &p2), id_of(&DBZ, &p3), id_of(&DBZ, &m0),
                   id_of(&DBZ, &m0b), id_of(&DBZ, &m1), id_of(&DBZ, &s1), id_of(&DBZ, &s2)};
    cr_assert_str_eq(ids[0], ids[1], "same lsn, one id");
    cr_assert_str_neq(ids[0], ids[2]);
    cr_assert_str_eq(ids[3], ids[4], "same binlog position and row, one id");
    cr_assert_str_neq(ids[3], ids[5], "rows of one binlog event differ");
    cr_assert_str_neq(ids[6], ids[7], "snapshot rows: the record position");
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        free(ids[i]);
}

/* The hook: the entity is {"id": <new or old pk>, "was": <old name>, "n": <new n>}. */
static int to_thing(const sl_cdc_change_t *ch, json_t **entity, void *arg)
{
    int *calls = arg;
    (*calls)++;
    cr_assert_str_eq(ch->entity, "thing");
    cr_assert(ch->type && !strncmp(ch->type, "thing-", 6));
    cr_assert(json_is_object(ch->record));
    const json_t *img = ch->new_image ? ch->new_image : ch->old_image;
    if (json_is_true(json_object_get(img, "refuse")))
        return SL_EFIELD;
    json_t *e = json_object();
    json_object_set(e, "id", json_object_get(img, "pk"));
    json_object_set(e, "was", ch->old_image ? json_object_get(ch->old_image, "name") : json_null());
    if (ch->new_image)
        json_object_set(e, "n", json_object_get(ch->new_image, "n"));
    *entity = e;
    return 0;
}

Test(cdc, the_mapping_hook_makes_the_entity)
{
    int calls = 0;
    sl_cdc_opts_t o = DDB;
    o.to_entity = to_thing;
    o.to_entity_arg = &calls;
    o.drop = (const char *const[]){"pk"}; /* ignored with a hook */
    o.drop_count = 1;
    const char *v = ddb_rec("MODIFY", "",
                            "'Keys':{'pk':{'S':'1'}},"
                            "'NewImage':{'pk':{'S':'1'},'name':{'S':'b'},'n':{'N':'3.14159'}},"
                            "'OldImage':{'pk':{'S':'1'},'name':{'S':'a'}}");
    json_t *ev = convert_v(&o, v, "hook");
    expect_json(json_object_get(ev, "thing"), "{'id':'1','was':'a','n':3.14159}", "entity");
    expect_json(json_object_get(json_object_get(ev, "raw"), "new"),
                "{'pk':'1','name':'b','n':3.14159}", "raw.new keeps everything");
    json_decref(ev);
    cr_assert_eq(calls, 1);
    /* The text form keeps the N's text through the hook. */
    sl_record_t r = rec(v, NULL, 1);
    char *text = NULL, err[256];
    cr_assert_eq(sl_cdc_convert_text(&o, &r, &text, NULL, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(text, "\"thing\":{\"id\":\"1\",\"was\":\"a\",\"n\":3.14159}"), "%s", text);
    sl_free(text);
    /* A hook error is a fault naming it. */
    const char *refused = ddb_rec("INSERT", "",
                                  "'Keys':{'pk':{'S':'1'}},"
                                  "'NewImage':{'pk':{'S':'1'},'refuse':{'BOOL':true}}");
    sl_record_t rr = rec(refused, NULL, 1);
    json_t *e = NULL;
    cr_assert_eq(sl_cdc_convert(&o, &rr, &e, err, sizeof err), SL_EFIELD);
    cr_assert_null(e);
    cr_assert(strstr(err, "mapping hook"), "%s", err);
}

Test(cdc, dropped_attributes_leave_the_entity_not_raw)
{
    static const char *const drop[] = {"pk", "sk", "discriminator", "ttl", "latched", "awsregion"};
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB,
                       .drop = drop,
                       .drop_count = 6,
                       .keep_latched = 1,
                       .source = "things-service",
                       .account = "prod",
                       .stage = "green",
                       .region = "eu-west-1",
                       .function_name = "things-trigger",
                       .pipeline = "cdc"};
    json_t *ev = convert_v(&o,
                           ddb_rec("INSERT", "'awsRegion':'eu-west-1'",
                                   "'Keys':{'pk':{'S':'1'},'sk':{'S':'thing'}},"
                                   "'NewImage':{'pk':{'S':'1'},'sk':{'S':'thing'},"
                                   "'discriminator':{'S':'thing'},'ttl':{'N':'9'},"
                                   "'latched':{'BOOL':true},'awsregion':{'S':'eu-west-1'},"
                                   "'name':{'S':'n'}}"),
                           "drop");
    expect_json(json_object_get(ev, "thing"), "{'name':'n'}", "storage attributes dropped");
    cr_assert_eq(json_object_size(json_object_get(json_object_get(ev, "raw"), "new")), 7);
    expect_json(json_object_get(ev, "tags"),
                "{'source':'things-service','account':'prod','stage':'green',"
                "'region':'eu-west-1','functionname':'things-trigger','pipeline':'cdc',"
                "'format':'dynamodb','entity':'thing'}",
                "tags");
    json_decref(ev);
}

/* The published text of one DynamoDB record through the stage. */
static char *published(const sl_cdc_opts_t *o, const char *v)
{
    sl_test_sink_t *out;
    sl_test_t *t = cdc_driver(o, &out);
    cr_assert_eq(sl_test_push_str(t, "things-cdc", 0, NULL, v), 0);
    cr_assert_eq(sl_test_sink_count(out), 1);
    char *s = strdup(sl_test_sink_msg(out, 0)->value);
    sl_test_destroy(t);
    return s;
}

Test(cdc, numbers_keep_their_decimal_text)
{
    const char *v = ddb_rec(
        "INSERT", "",
        "'Keys':{'pk':{'S':'1'}},'NewImage':{'pk':{'S':'1'},'pi':{'N':'3.14159'},"
        "'k':{'N':'1000'},'big':{'N':'9007199254740993'},"
        "'huge':{'N':'123456789012345678901234567890'},'tiny':{'N':'0.1000000000000000000000001'},"
        "'exp':{'N':'1E3'},'neg':{'N':'-0.50'},'half':{'N':'.5'},'plus':{'N':'+7'},"
        "'lead':{'N':'007.10'},'ns':{'NS':['1.10','98765432109876543210']},"
        "'max':{'N':'9223372036854775807'},'min':{'N':'-9223372036854775808'},"
        "'over':{'N':'-9223372036854775809'},"
        "'deep':{'M':{'l':{'L':[{'N':'2.50'}]}}}}");
    char *s = published(&DDB, v);
    static const char *const want[] = {
        "\"pi\":3.14159",
        "\"k\":1000,",
        "\"big\":9007199254740993",
        /* beyond int64: the same digits in exponent form, which jansson reads */
        "\"huge\":1.23456789012345678901234567890E29",
        "\"tiny\":0.1000000000000000000000001",
        "\"exp\":1E3",
        "\"neg\":-0.50",
        "\"half\":0.5",
        "\"plus\":7",
        "\"lead\":7.10",
        "\"ns\":[1.10,9.8765432109876543210E19]",
        "\"max\":9223372036854775807",
        "\"min\":-9223372036854775808",
        "\"over\":-9.223372036854775809E18",
        "\"deep\":{\"l\":[2.50]}",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        /* In the entity and in raw.new: twice. */
        const char *first = strstr(s, want[i]);
        cr_assert(first, "%s in %s", want[i], s);
        cr_assert(strstr(first + 1, want[i]), "%s twice in %s", want[i], s);
    }
    json_error_t je;
    json_t *ev = json_loads(s, 0, &je);
    cr_assert_not_null(ev, "valid JSON: %s", je.text);
    json_decref(ev);
    free(s);
}

Test(cdc, partition_key_from_a_named_key_attribute)
{
    sl_cdc_opts_t o = DDB;
    o.pk_attr = "pk";
    const char *v = ddb_rec("INSERT", "",
                            "'Keys':{'pk':{'S':'p1'},'sk':{'S':'thing'}},"
                            "'NewImage':{'pk':{'S':'p1'},'sk':{'S':'thing'}}");
    sl_record_t r = rec(v, "record-key", 1);
    json_t *ev = convert_ok(&o, &r, "named");
    cr_assert_str_eq(str_of(ev, "partitionKey"), "p1", "Keys.pk before the record key");
    json_decref(ev);
    ev = convert_ok(&DDB, &r, "unnamed");
    cr_assert_str_eq(str_of(ev, "partitionKey"), "record-key");
    json_decref(ev);
    /* Absent: the joined Keys, as without the option. */
    o.pk_attr = "id";
    r = rec(v, NULL, 1);
    ev = convert_ok(&o, &r, "absent");
    cr_assert_str_eq(str_of(ev, "partitionKey"), "p1|thing");
    json_decref(ev);
}

/* The text form and the new options, every allocation failing in turn. */
Test(cdc_alloc, the_text_form_survives_every_allocation_failure)
{
    static const char *const drop[] = {"pk", "sk"};
    int calls = 0;
    sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB,
                       .drop = drop,
                       .drop_count = 2,
                       .region = "eu-west-1",
                       .account = "a",
                       .stage = "s",
                       .pk_attr = "pk"};
    sl_cdc_opts_t hooked = o;
    hooked.to_entity = to_thing;
    hooked.to_entity_arg = &calls;
    const char *v = sq("{'eventID':'e1','eventName':'MODIFY','awsRegion':'eu-west-1','dynamodb':{"
                       "'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':'1'},'sk':{'S':'thing'}},"
                       "'NewImage':{'pk':{'S':'1'},'sk':{'S':'Thing'},'n':{'N':'3.14159'},"
                       "'big':{'N':'123456789012345678901234567890'},'deleted':{'BOOL':true},"
                       "'ns':{'NS':['1.50','+2']}},'OldImage':{'pk':{'S':'1'},'name':{'S':'a'}}}}");
    const sl_cdc_opts_t *opts[] = {&o, &hooked};
    /* Failures start after jansson's parse: its lexer can crash on a failed
     * allocation of this record's tokens (a jansson 2.14 defect; the test
     * above covers the parse's failures on a record that does not hit it). */
    sl_mem_stats_t p0, p1;
    sl_mem_stats(&p0);
    json_t *parsed = json_loads(v, 0, NULL);
    sl_mem_stats(&p1);
    cr_assert_not_null(parsed);
    json_decref(parsed);
    uint64_t first = p1.allocs + p1.reallocs - p0.allocs - p0.reallocs + 1;
    for (int k = 0; k < 2; k++) {
        int done = 0, nomem = 0;
        /* Without the hook the text comes from the fast path (no jansson
         * parse, a handful of allocations): its failures start at the first. */
        for (uint64_t n = k ? first : 1; n < 10000 && !done; n++) {
            sl_record_t r = rec(v, NULL, 0);
            sl_mem_stats_t before, after;
            sl_mem_stats(&before);
            sl_mem_fail_at(n, 0);
            char err[256] = "", *text = (char *)1;
            int rc = sl_cdc_convert_text(opts[k], &r, &text, NULL, err, sizeof err);
            sl_mem_fail_at(0, 0);
            sl_mem_stats(&after);
            if (after.failed == before.failed) {
                cr_assert_eq(rc, 0, "%d/%llu: %s", k, (unsigned long long)n, err);
                cr_assert(strstr(text, "\"type\":\"thing-deleted\""), "%s", text);
                cr_assert(strstr(text, "3.14159"), "%s", text);
                done = 1;
            } else if (rc) {
                nomem += rc == SL_ENOMEM;
                cr_assert_null(text);
                cr_assert_gt(strlen(err), 0);
            } else {
                cr_assert_not_null(text);
            }
            sl_free(text == (char *)1 ? NULL : text);
        }
        cr_assert(done);
        cr_assert_gt(nomem, k ? 10 : 1);
    }
}

/* Issue 17: the text form keeps a Debezium number as the producer wrote it
 * (the tree path wrote 1.50 as 1.5 and 1e5 as 100000.0). */
Test(cdc, debezium_numbers_keep_their_text)
{
    const char *v = sq("{'op':'c','after':{'id':7,'price':1.50,'big':1e5,'neg':-0.0},"
                       "'ts_ms':1767225600000}");
    sl_record_t r = rec(v, NULL, 0);
    char err[256] = "", *text = NULL;
    int rc = sl_cdc_convert_text(&DBZ, &r, &text, NULL, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(text, sq("'thing':{'id':7,'price':1.50,'big':1e5,'neg':-0.0}")), "%s", text);
    sl_free(text);
}

/* ---- the stage writes in place (issue 17) ------------------------------- */

/* What a stage saw of the engine's verdict on each record's value. */
static int g_json_seen[8];
static size_t g_json_n;

static sl_result_t note_json(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    if (g_json_n < 8)
        g_json_seen[g_json_n++] = sl__uow_value_is_json(u);
    return SL_OK;
}

static int push_binary(sl_test_t *t, const char *content_type, const char *value)
{
    sl_header_t h[] = {
        {.name = "ce_type", .value = "thing-seen", .value_len = 10},
        {.name = "ce_id", .value = "e-1", .value_len = 3},
        {.name = "content-type", .value = content_type, .value_len = strlen(content_type)}};
    sl_record_t r = {.topic = "bin",
                     .partition = 0,
                     .offset = -1,
                     .timestamp_ms = REC_TS,
                     .value = value,
                     .value_len = strlen(value),
                     .headers = h,
                     .header_count = 3};
    return sl_test_push_record(t, &r);
}

/* The flag a stage reads to skip its own validation is set exactly when the
 * engine's scanner held that value to jansson's verdict. */
Test(cdc_stage, the_engine_says_which_values_it_validated)
{
    g_json_n = 0;
    sl_test_sink_t *out;
    const char *json[] = {"source.format", "json", NULL};
    sl_test_t *t = driver_out(json, "seen", note_json, NULL, 0, &out);
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"a\":[1,2]}"), 0);
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"a\":"), 0); /* a decode fault */
    sl_test_destroy(t);
    cr_assert_eq(g_json_n, 1, "the bad record never reached the stage");
    cr_assert_eq(g_json_seen[0], 1, "source.format=json validated it");

    g_json_n = 0;
    t = driver_out(NULL, "seen", note_json, NULL, 0, &out);
    cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, "{\"type\":\"thing-seen\",\"n\":1}"), 0);
    cr_assert_eq(push_binary(t, "application/octet-stream", "{not json"), 0);
    cr_assert_eq(push_binary(t, "application/cloudevents+json", "{\"n\":1}"), 0);
    sl_test_destroy(t);
    cr_assert_eq(g_json_n, 3);
    cr_assert_eq(g_json_seen[0], 1, "the envelope scan validates the whole value");
    cr_assert_eq(g_json_seen[1], 0, "a binary value of another content type is not scanned");
    cr_assert_eq(g_json_seen[2], 1, "a binary value of a JSON content type is validated");
}

/* A DynamoDB change record the engine did not validate: the stage validates
 * it itself, so bad JSON is a fault with the tree path's reason, never an
 * event; the same record as valid JSON is published. */
Test(cdc_stage, a_value_the_engine_did_not_validate_is_validated_by_the_stage)
{
    const char *good = sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
                          "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}");
    /* what the walk alone would read as a record: bad only in the parts it skips */
    const char *bad[] = {
        sq("{'eventName':'INSERT','x':[1,,2],'dynamodb':{'ApproximateCreationDateTime':1,"
           "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}"),
        sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
           "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}} trailing"),
        sq("{'eventName':'INSERT','x':tru,'dynamodb':{'ApproximateCreationDateTime':1,"
           "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}"),
    };
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *out = sl_test_sink_new(t, "events", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("cdc");
    cr_assert_eq(sl_cdc(p, &DDB), 0);
    add_with_sink(t, p, out);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(push_binary(t, "application/octet-stream", bad[i]), 0);
    cr_assert_eq(push_binary(t, "application/octet-stream", good), 0);
    cr_assert_eq(sl_test_sink_count(out), 1, "only the valid record is published");
    const sl_test_msg_t *m = sl_test_sink_msg(out, 0);
    cr_assert_eq(m->offset, 3);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 3);
    for (size_t i = 0; i < 3; i++) {
        m = sl_test_sink_msg(f, i);
        json_t *fault = json_loadb(m->value, m->value_len, 0, NULL);
        cr_assert_not_null(fault);
        json_t *err = json_object_get(fault, "err");
        cr_assert_str_eq(json_string_value(json_object_get(err, "name")), "SL_EJSON", "record %zu",
                         i);
        /* the reason the tree path gives for the same record */
        sl_record_t r = rec(bad[i], NULL, (int64_t)i);
        char want[256] = "";
        json_t *ev = NULL;
        cr_assert_eq(sl_cdc_convert(&DDB, &r, &ev, want, sizeof want), SL_EJSON);
        cr_assert(strstr(json_string_value(json_object_get(err, "message")), want), "%s vs %s",
                  json_string_value(json_object_get(err, "message")), want);
        json_decref(fault);
    }
    cr_assert_eq(sl_test_committed(t, "bin", 0), 4, "every record done");
    sl_test_destroy(t);
}

static sl_result_t set_other_output(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    return sl_uow_set_output(u, "k", 1, "{\"earlier\":true}", 16) ? SL_FAULT : SL_OK;
}

/* The stage's output, written in place into the uow (its key the
 * partitionKey), is what sl_cdc_convert_text() writes for the same record,
 * byte for byte: over records of growing and shrinking sizes (the uows'
 * pooled buffers and the stage's scratch are reused), with and without an
 * earlier stage's output (then it is written apart and copied), for records
 * the fast path takes and ones it gives way on. */
Test(cdc_stage, in_place_output_is_the_text_forms)
{
    char big[8192];
    int at = snprintf(big, sizeof big,
                      "{'eventName':'MODIFY','eventID':'e-big','dynamodb':{"
                      "'ApproximateCreationDateTime':1767225600,'Keys':{'pk':{'S':'t9'}},"
                      "'NewImage':{'discriminator':{'S':'Widget'},'pk':{'S':'t9'},'l':{'L':[");
    for (int i = 0; i < 150; i++)
        at += snprintf(big + at, sizeof big - (size_t)at, "%s{'N':'%d.5'}", i ? "," : "", i);
    snprintf(big + at, sizeof big - (size_t)at,
             "]},'s':{'S':'caf\\u00e9 \\\"q\\\"'}},'OldImage':{'pk':{'S':'t9'}}}}");
    char bigv[8192];
    snprintf(bigv, sizeof bigv, "%s", sq(big));
    const char *in[] = {
        sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
           "'Keys':{'pk':{'S':'t1'}},'NewImage':{'discriminator':{'S':'Widget'},'pk':{'S':'t1'},'n'"
           ":{'N':'0012.50'},"
           "'m':{'N':'-7'},'b':{'B':'AAEC'},'ss':{'SS':['a','b']}}}}"),
        bigv,
        sq("{'eventName':'REMOVE','dynamodb':{'ApproximateCreationDateTime':1767225601,"
           "'Keys':{'pk':{'S':'t2'},'sk':{'N':'3'},'discriminator':{'S':'Widget'}}}}"),
        /* an escaped key: the fast path gives way to the tree path */
        sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225602,"
           "'Keys':{'pk':{'S':'t3'}},'NewImage':{'discriminator':{'S':'Widget'},'p\\u006b':{'S':'"
           "t3'}}}}"),
        sq("{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225603,"
           "'Keys':{'pk':{'S':'t4'}},'NewImage':{'discriminator':{'S':'Widget'},'pk':{'S':'t4'},'n'"
           ":{'N':'1E3'},"
           "'i':{'N':'123456789012345678901'}},'OldImage':{'pk':{'S':'t4'}}}}"),
        bigv,
        sq("{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225604,"
           "'Keys':{'pk':{'S':'t5'}},'NewImage':{'discriminator':{'S':'Widget'},'pk':{'S':'t5'}}}"
           "}"),
    };
    size_t n = sizeof in / sizeof *in;
    /* every tag, and the entity named per record */
    const sl_cdc_opts_t all = {.format = SL_CDC_DYNAMODB,
                               .source = "src \"q\"",
                               .account = "acct",
                               .stage = "dev",
                               .region = "eu-west-1",
                               .function_name = "fn",
                               .pipeline = "pl"};
    for (int run = 0; run < 4; run++) {
        int earlier = run & 1;
        const sl_cdc_opts_t *o = run & 2 ? &all : &DDB;
        const char *kv[] = {"source.format", "json", NULL};
        sl_test_t *t = driver(kv);
        sl_test_sink_t *out = sl_test_sink_new(t, "events", 0, 0, 0);
        sl_pipeline_t *p = sl_pipeline_new("cdc");
        if (earlier)
            cr_assert_eq(sl_pipeline_map(p, set_other_output, NULL), 0);
        cr_assert_eq(sl_cdc(p, o), 0);
        add_with_sink(t, p, out);
        for (int round = 0; round < 3; round++)
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(sl_test_push_str(t, "things-cdc", 0, NULL, in[i]), 0);
        cr_assert_eq(sl_test_sink_count(out), 3 * n, "earlier %d", earlier);
        cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
        for (size_t k = 0; k < 3 * n; k++) {
            const sl_test_msg_t *m = sl_test_sink_msg(out, k);
            sl_record_t r = rec(in[k % n], NULL, m->offset);
            char *text = NULL, err[256] = "";
            size_t len = 0;
            cr_assert_eq(sl_cdc_convert_text(o, &r, &text, &len, err, sizeof err), 0, "%s", err);
            cr_assert_eq(m->value_len, len, "earlier %d, record %zu", earlier, k);
            cr_assert(!memcmp(m->value, text, len), "earlier %d, record %zu:\n %s\n %s", earlier, k,
                      m->value, text);
            json_t *ev = json_loadb(text, len, 0, NULL);
            const char *pk = str_of(ev, "partitionKey");
            cr_assert_eq(m->key_len, strlen(pk));
            cr_assert(!memcmp(m->key, pk, m->key_len), "the key is the partitionKey");
            json_decref(ev);
            sl_free(text);
        }
        sl_test_destroy(t);
    }
}

/* ---- the stage proving records in the engine's stead ------------------- */

/* The message sink @p s took for source offset @p offset, or NULL. */
static const sl_test_msg_t *msg_at(const sl_test_sink_t *s, int64_t offset)
{
    for (size_t i = 0; i < sl_test_sink_count(s); i++)
        if (sl_test_sink_msg(s, i)->offset == offset)
            return sl_test_sink_msg(s, i);
    return NULL;
}

/* The err.message of a fault event. */
static char *fault_message(const sl_test_msg_t *m)
{
    json_t *fault = json_loadb(m->value, m->value_len, 0, NULL);
    cr_assert_not_null(fault);
    const char *s = json_string_value(json_object_get(json_object_get(fault, "err"), "message"));
    cr_assert_not_null(s);
    char *out = strdup(s);
    json_decref(fault);
    return out;
}

/* Checks what the driver did with record @p off of value @p v: a decode fault
 * with the strict scanner's message when it is not JSON, else exactly what
 * sl_cdc_convert_text() gives for it (the event, or the stage's fault with
 * that reason). Returns 1 for a published event. */
static int as_without_the_stage(sl_test_t *t, const sl_test_sink_t *out, const char *v, int64_t off)
{
    size_t n = strlen(v);
    const sl_test_msg_t *ev = msg_at(out, off), *f = msg_at(sl_test_faults(t), off);
    sl_scan_error_t se = {0, NULL};
    int vrc = sl_json_validate(v, n, &se);
    if (vrc) {
        cr_assert_null(ev, "offset %lld: not JSON, not published", (long long)off);
        cr_assert_not_null(f, "offset %lld: not JSON, a fault", (long long)off);
        cr_assert_str_eq(f->pipeline, "-", "offset %lld: a decode fault", (long long)off);
        char want[256];
        snprintf(want, sizeof want, "%s at byte %zu: %s", sl_strerror(vrc), se.offset, se.reason);
        char *got = fault_message(f);
        cr_assert(strstr(got, want), "offset %lld: \"%s\" names \"%s\"", (long long)off, got, want);
        free(got);
        return 0;
    }
    sl_record_t r = rec(v, NULL, off);
    char *text = NULL, err[256] = "";
    size_t len = 0;
    int rc = sl_cdc_convert_text(&DDB, &r, &text, &len, err, sizeof err);
    if (rc) {
        cr_assert_null(ev, "offset %lld: not published (%s)", (long long)off, err);
        cr_assert_not_null(f, "offset %lld: the stage's fault", (long long)off);
        cr_assert_str_eq(f->pipeline, "cdc");
        char *got = fault_message(f);
        cr_assert(strstr(got, err), "offset %lld: \"%s\" names \"%s\"", (long long)off, got, err);
        free(got);
        return 0;
    }
    cr_assert_null(f, "offset %lld: no fault", (long long)off);
    cr_assert_not_null(ev, "offset %lld: published", (long long)off);
    cr_assert_eq(ev->value_len, len, "offset %lld: %.*s\nvs\n%s", (long long)off,
                 (int)ev->value_len, ev->value, text);
    cr_assert_eq(memcmp(ev->value, text, len), 0, "offset %lld: %s\nvs\n%s", (long long)off,
                 ev->value, text);
    sl_free(text);
    return 1;
}

/* With source.format=json the stage proves compact DynamoDB records JSON in
 * the engine's stead, and the walk that proves one keeps its event for the
 * map. Whatever the record, what comes out is what comes out without that:
 * sl_cdc_convert_text()'s event or fault, or a decode fault with the strict
 * scanner's message for text that is not JSON, proven or not. */
Test(cdc_stage, records_proven_for_the_engine_come_out_as_without_it)
{
    const char *in[] = {
        /* proven by the walk */
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225600,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'1.50'},"
        "'m':{'M':{'l':{'L':[{'S':'a'},{'BOOL':true},{'NULL':true}]}}}}}}",
        "{'eventName':'REMOVE','eventID':'e1','dynamodb':{'ApproximateCreationDateTime':1767225601,"
        "'Keys':{'pk':{'S':'t2'}},'OldImage':{'pk':{'S':'t2'},'s':{'SS':['x','y']}}}}",
        /* plain, the walk cannot prove it (a number with an exponent) */
        "{'eventName':'INSERT','x':1e3,'dynamodb':{'ApproximateCreationDateTime':1767225602,"
        "'Keys':{'pk':{'S':'t3'}},'NewImage':{'pk':{'S':'t3'}}}}",
        /* not plain: UTF-8, an escape, a line break */
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225603,"
        "'Keys':{'pk':{'S':'t4'}},'NewImage':{'pk':{'S':'t4'},'c':{'S':'Z\xc3\xbcrich'}}}}",
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1767225604,"
        "'Keys':{'pk':{'S':'t5'}},'NewImage':{'pk':{'S':'t\\u0035'}}}}",
        "{'eventName':'INSERT',\n'dynamodb':{'ApproximateCreationDateTime':1767225605,"
        "'Keys':{'pk':{'S':'t6'}},'NewImage':{'pk':{'S':'t6'}}}}",
        /* JSON, not a change the stage can publish */
        "{'a':1}",
        "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225606,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'abc'}}}}",
        /* not JSON, plain and not */
        "{'eventName':'INSERT','x':tru,'dynamodb':{'ApproximateCreationDateTime':1,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}}",
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'}}}} x",
        "{'eventName':'INSERT','dynamodb':{'ApproximateCreationDateTime':1,'Keys':{'pk':{'S':'t1'}",
        "{'eventName':'INS\xc3',\n'x':}",
        /* proven again after all that */
        "{'eventName':'MODIFY','dynamodb':{'ApproximateCreationDateTime':1767225607,"
        "'Keys':{'pk':{'S':'t1'}},'NewImage':{'pk':{'S':'t1'},'n':{'N':'-0.25'}},"
        "'OldImage':{'pk':{'S':'t1'}}}}",
    };
    size_t count = sizeof in / sizeof *in;
    char *v[sizeof in / sizeof *in];
    sl_test_sink_t *out;
    sl_test_t *t = cdc_driver(&DDB, &out);
    for (size_t i = 0; i < count; i++) {
        v[i] = strdup(sq(in[i]));
        cr_assert_eq(sl_test_push(t, "things-cdc", 0, (int64_t)i, NULL, 0, v[i], strlen(v[i])), 0);
    }
    unsigned published = 0;
    for (size_t i = 0; i < count; i++)
        published += (unsigned)as_without_the_stage(t, out, v[i], (int64_t)i);
    cr_assert_eq(published, 7, "the seven changes published");
    cr_assert_eq(sl_test_sink_count(out) + sl_test_sink_count(sl_test_faults(t)), count,
                 "every record accounted for once");
    sl_stats_t st;
    sl_engine_stats(sl_test_engine(t), &st);
    cr_assert_eq(st.decode_faults, 4, "the four texts that are not JSON");
    cr_assert_eq(sl_test_committed(t, "things-cdc", 0), (int64_t)count);
    sl_test_destroy(t);
    for (size_t i = 0; i < count; i++)
        free(v[i]);
}

/* The event kept while proving a record is that record's alone: a record
 * held before the stage (here by a rate limit) reaches the map after later
 * records were proven, and gets its own event. */
Test(cdc_stage, a_record_held_before_the_stage_gets_its_own_event)
{
    const char *kv[] = {"source.format", "json", NULL};
    sl_test_t *t = driver(kv);
    sl_test_sink_t *out = sl_test_sink_new(t, "events", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("cdc");
    cr_assert_eq(sl_pipeline_rate_limit(p, 10, 1), 0);
    cr_assert_eq(sl_cdc(p, &DDB), 0);
    add_with_sink(t, p, out);
    cr_assert_eq(sl_test_start(t), 0);
    char v[4][256];
    for (int i = 0; i < 4; i++) {
        snprintf(v[i], sizeof v[i],
                 "{\"eventName\":\"INSERT\",\"dynamodb\":{\"ApproximateCreationDateTime\":%d,"
                 "\"Keys\":{\"pk\":{\"S\":\"k%d\"}},\"NewImage\":{\"pk\":{\"S\":\"k%d\"}}}}",
                 1767225600 + i, i, i);
        cr_assert_eq(sl_test_push(t, "things-cdc", 0, i, NULL, 0, v[i], strlen(v[i])), 0);
    }
    cr_assert_lt(sl_test_sink_count(out), 4, "the rate limit holds records");
    for (int i = 0; i < 100 && sl_test_sink_count(out) < 4; i++)
        sl_test_advance(t, 100);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(as_without_the_stage(t, out, v[i], i), 1);
    cr_assert_eq(sl_test_committed(t, "things-cdc", 0), 4);
    sl_test_destroy(t);
}
