/* libFuzzer target: sl_cdc_convert() on DynamoDB Streams records and Debezium
 * envelopes.
 *
 * Input: byte 0 flags (bit 0 Debezium, bit 1 a record position, bit 2 a
 * record timestamp, bit 3 a small error buffer, bit 4 inject out of memory,
 * bit 5 a tags.source), byte 1 which allocation fails (with bit 4), byte 2
 * the key's length, then the key, then the record's value.
 *
 * Properties: the return code is one the header documents, and SL_EJSON
 * exactly when jansson rejects the value; every failure leaves a terminated
 * UTF-8 message naming the format; a skipped (latched) record gives 0, no
 * event and a reason; on success the event is an envelope (UUID id,
 * <entity>-<verb> type matching the change's operation, soft deletes and TTL
 * expiry included,
 * non-negative integer timestamp, non-empty partitionKey that is the record
 * key when that is usable text, tags) whose text jansson reads back equal,
 * and whose entity is the change's image: for DynamoDB, each typed
 * attribute value unmarshalled (checked here independently); for Debezium,
 * the image itself. Converting twice gives the same event; an injected
 * allocation failure (in the converter's own allocations) gives SL_ENOMEM
 * or the same answer; nothing leaks. The text form's fast path (no jansson
 * tree) gives the tree path's answer: the same code and reason, the same
 * event (DynamoDB byte for byte, Debezium equal as JSON). The engine's
 * check (CDC_CHECK) names the strict scanner's verdict when it names one,
 * and keeps the text form's event for a record it proves. */
#include "flavors/cdc_int.h"
#include "fuzz_common.h"
#include "sluice/error.h"
#include "sluice/flavors.h"

#include <errno.h>
#include <jansson.h>

#define T "fuzz_cdc"
#define ENTITY "thing"

/* jansson's blocks, counted here. They do not go through sl_malloc: an
 * injected failure there would reach jansson's lexer, which ignores a failed
 * append to its token buffer and then asserts (load.c, lex_scan_string) -
 * jansson's own limit, not the converter's. Injection covers the
 * converter's allocations. */
static int64_t jansson_live;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    jansson_live += p != NULL;
    return p;
}

static void count_free(void *p)
{
    jansson_live -= p != NULL;
    free(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_set_alloc_funcs(count_malloc, count_free);
    return 0;
}

static int64_t live_blocks(void)
{
    return fuzz_live_blocks() + jansson_live;
}

/* A DynamoDB number text against what the converter made of it. */
static int number_same(const json_t *text, const json_t *v)
{
    if (!json_is_string(text))
        return 0;
    const char *s = json_string_value(text);
    size_t n = json_string_length(text);
    int integral = !memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n);
    char *end;
    if (json_is_integer(v)) {
        errno = 0;
        long long x = strtoll(s, &end, 10);
        return integral && errno == 0 && end == s + n && x == json_integer_value(v);
    }
    if (!json_is_real(v))
        return 0;
    if (integral) {
        /* a real only when the integer does not fit int64 */
        errno = 0;
        (void)strtoll(s, &end, 10);
        if (errno != ERANGE)
            return 0;
    }
    double d = strtod(s, &end);
    return end == s + n && d == json_real_value(v);
}

static int ddb_same(json_t *av, json_t *v);

static int ddb_map_same(json_t *m, json_t *o)
{
    const char *name;
    json_t *av;
    if (!json_is_object(m) || !json_is_object(o) || json_object_size(m) != json_object_size(o))
        return 0;
    json_object_foreach(m, name, av) if (!ddb_same(av, json_object_get(o, name))) return 0;
    return 1;
}

/* Whether plain @p v is typed attribute value @p av unmarshalled. */
static int ddb_same(json_t *av, json_t *v)
{
    if (!v || !json_is_object(av) || json_object_size(av) != 1)
        return 0;
    void *it = json_object_iter(av);
    const char *t = json_object_iter_key(it);
    json_t *x = json_object_iter_value(it), *item;
    size_t i;
    if (!strcmp(t, "S") || !strcmp(t, "B") || !strcmp(t, "SS") || !strcmp(t, "BS") ||
        !strcmp(t, "BOOL"))
        return json_equal(x, v);
    if (!strcmp(t, "NULL"))
        return json_is_true(x) && json_is_null(v);
    if (!strcmp(t, "N"))
        return number_same(x, v);
    if (!strcmp(t, "M"))
        return ddb_map_same(x, v);
    if (!strcmp(t, "L") || !strcmp(t, "NS")) {
        if (!json_is_array(x) || !json_is_array(v) || json_array_size(x) != json_array_size(v))
            return 0;
        json_array_foreach(x, i, item)
        {
            json_t *w = json_array_get(v, i);
            if (t[0] == 'L' ? !ddb_same(item, w) : !number_same(item, w))
                return 0;
        }
        return 1;
    }
    return 0;
}

static int uuid_shaped(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[14] == '8' && strchr("89ab", s[19]) != NULL;
}

/* The change's operation as the converter must read it: 0 created,
 * 1 updated, 2 deleted, -1 none. */
static int op_of(json_t *root, int debezium)
{
    if (!debezium) {
        const char *n = json_string_value(json_object_get(root, "eventName"));
        return !n                     ? -1
               : !strcmp(n, "INSERT") ? 0
               : !strcmp(n, "MODIFY") ? 1
               : !strcmp(n, "REMOVE") ? 2
                                      : -1;
    }
    json_t *env = root;
    if (!json_object_get(root, "op") && json_object_get(root, "payload"))
        env = json_object_get(root, "payload");
    const char *op = json_string_value(json_object_get(env, "op"));
    return !op                                    ? -1
           : !strcmp(op, "c") || !strcmp(op, "r") ? 0
           : !strcmp(op, "u")                     ? 1
           : !strcmp(op, "d")                     ? 2
                                                  : -1;
}

static json_t *nonnull(json_t *v)
{
    return json_is_null(v) ? NULL : v;
}

/* Whether image @p img (DynamoDB typed, or plain for Debezium) has
 * attribute @p name true. */
static int flag_of(json_t *img, const char *name, int debezium)
{
    json_t *v = json_object_get(img, name);
    return debezium ? json_is_true(v) : json_is_true(json_object_get(v, "BOOL"));
}

/* The verb the converter must choose: soft deletes for an update, expiry
 * for a DynamoDB REMOVE by the TTL service. */
static const char *verb_of(json_t *root, int op, int debezium)
{
    if (op == 0)
        return "created";
    json_t *env = root, *img_new, *img_old;
    if (debezium) {
        if (!json_object_get(root, "op") && json_object_get(root, "payload"))
            env = json_object_get(root, "payload");
        img_new = nonnull(json_object_get(env, "after"));
        img_old = nonnull(json_object_get(env, "before"));
    } else {
        json_t *d = json_object_get(root, "dynamodb");
        img_new = nonnull(json_object_get(d, "NewImage"));
        img_old = nonnull(json_object_get(d, "OldImage"));
    }
    if (op == 2) {
        json_t *who = json_object_get(root, "userIdentity");
        const char *t = json_string_value(json_object_get(who, "type")),
                   *p = json_string_value(json_object_get(who, "principalId"));
        return !debezium && t && p && !strcmp(t, "Service") &&
                       !strcmp(p, "dynamodb.amazonaws.com") &&
                       json_string_length(json_object_get(who, "type")) == 7 &&
                       json_string_length(json_object_get(who, "principalId")) == 22
                   ? "expired"
                   : "deleted";
    }
    int now = flag_of(img_new, "deleted", debezium), before = flag_of(img_old, "deleted", debezium);
    return now && !before ? "deleted" : !now && before ? "undeleted" : "updated";
}

static void check_event(json_t *ev, json_t *root, const sl_record_t *r, int debezium)
{
    char type[64];
    if (!json_is_object(ev))
        fuzz_fail(T, "the event is not an object");
    if (!uuid_shaped(json_string_value(json_object_get(ev, "id"))))
        fuzz_fail(T, "id is not a version 8 UUID");
    int op = op_of(root, debezium);
    if (op < 0)
        fuzz_fail(T, "converted a record without a known operation");
    snprintf(type, sizeof type, "%s-%s", ENTITY, verb_of(root, op, debezium));
    const char *ty = json_string_value(json_object_get(ev, "type"));
    if (!ty || strcmp(ty, type))
        fuzz_fail(T, "type does not match the operation");
    json_t *ts = json_object_get(ev, "timestamp");
    if (!json_is_integer(ts) || json_integer_value(ts) < 0)
        fuzz_fail(T, "timestamp is not a non-negative integer");
    json_t *pk = json_object_get(ev, "partitionKey");
    if (!json_is_string(pk) || !json_string_length(pk))
        fuzz_fail(T, "partitionKey is not a non-empty string");
    if (r->key_len && !memchr(r->key, 0, r->key_len) && fuzz_utf8_ok(r->key, r->key_len) &&
        (json_string_length(pk) != r->key_len || memcmp(json_string_value(pk), r->key, r->key_len)))
        fuzz_fail(T, "partitionKey is not the record key");
    json_t *tags = json_object_get(ev, "tags");
    const char *fmt = json_string_value(json_object_get(tags, "format"));
    if (!fmt || strcmp(fmt, debezium ? "debezium" : "dynamodb") ||
        !json_is_string(json_object_get(tags, "source")) ||
        !json_is_string(json_object_get(tags, "entity")) ||
        strcmp(json_string_value(json_object_get(tags, "entity")), ENTITY))
        fuzz_fail(T, "tags are wrong");
    json_t *raw = json_object_get(ev, "raw"), *ent = json_object_get(ev, ENTITY);
    if (!json_is_object(raw) || !json_object_get(raw, "new") || !json_object_get(raw, "old") ||
        !ent)
        fuzz_fail(T, "raw or the entity is missing");

    if (debezium) {
        json_t *env = json_object_get(root, "op") ? root : json_object_get(root, "payload");
        if (!env)
            env = root;
        json_t *before = nonnull(json_object_get(env, "before")),
               *after = nonnull(json_object_get(env, "after"));
        if (!json_equal(ent, op == 2 ? before : after))
            fuzz_fail(T, "the entity is not the Debezium image");
        if (!json_equal(json_object_get(raw, "new"), after ? after : json_null()) ||
            !json_equal(json_object_get(raw, "old"), before ? before : json_null()))
            fuzz_fail(T, "raw is not the Debezium images");
    } else {
        json_t *d = json_object_get(root, "dynamodb");
        json_t *img_new = nonnull(json_object_get(d, "NewImage")),
               *img_old = nonnull(json_object_get(d, "OldImage")),
               *keys = nonnull(json_object_get(d, "Keys"));
        json_t *src = op != 2 ? img_new : img_old ? img_old : keys;
        if (!ddb_map_same(src, ent))
            fuzz_fail(T, "the entity is not the DynamoDB image unmarshalled");
        json_t *rn = json_object_get(raw, "new"), *ro = json_object_get(raw, "old");
        if (img_new ? !ddb_map_same(img_new, rn) : !json_is_null(rn))
            fuzz_fail(T, "raw.new is not NewImage unmarshalled");
        if (img_old ? !ddb_map_same(img_old, ro) : !json_is_null(ro))
            fuzz_fail(T, "raw.old is not OldImage unmarshalled");
    }

    char *text = json_dumps(ev, JSON_COMPACT);
    if (!text)
        fuzz_fail(T, "jansson cannot write the event");
    json_error_t je;
    json_t *back = json_loads(text, 0, &je);
    if (!back || !json_equal(back, ev))
        fuzz_fail(T, "the event's text does not read back equal");
    json_decref(back);
    count_free(text);
}

/* The text form's fast path (no jansson tree) against its tree path, and
 * the stage's in-place way against the text form, for options @p opts. */
static void check_fast(const sl_cdc_opts_t *opts, const sl_record_t *recp, int debezium)
{
    json_error_t je;
    sl_record_t rec = *recp;
    /* the fast text path against the tree's */
    char *ft = NULL, *tt = NULL, fe[256] = "", te[256] = "";
    size_t fl = 0, tl = 0;
    int frc = sl__cdc_convert_text_mode(opts, &rec, 1, &ft, &fl, fe, sizeof fe);
    int trc = sl__cdc_convert_text_mode(opts, &rec, 0, &tt, &tl, te, sizeof te);
    if (frc != trc || !ft != !tt)
        fuzz_fail(T, "the fast path's answer is not the tree path's");
    if ((frc || !tt) && strcmp(fe, te))
        fuzz_fail(T, "the fast path's reason is not the tree path's");
    if (tt && !debezium && (fl != tl || memcmp(ft, tt, tl)))
        fuzz_fail(T, "the fast path's DynamoDB event differs from the tree path's");
    if (tt && debezium) {
        json_t *a = json_loadb(ft, fl, 0, &je), *b = json_loadb(tt, tl, 0, &je);
        if (!a || !b || !json_equal(a, b))
            fuzz_fail(T, "the fast path's Debezium event is not the tree path's as JSON");
        json_decref(a);
        json_decref(b);
    }
    /* The stage's way (cdc_map): a scratch kept from one record to the next
     * (here twice over the same record), the partitionKey first, and the
     * validation skipped when the engine's scanner validated the value. */
    cdc_keep_t keep = {0};
    unsigned how = CDC_KEY_FIRST;
    if (rec.value_len && !sl_json_validate(rec.value, rec.value_len, NULL))
        how |= CDC_VALIDATED;
    for (int k = 0; k < 2; k++) {
        char se[256] = "";
        cvt_t c = {.fmt = debezium ? "debezium" : "dynamodb", .err = se, .err_size = sizeof se};
        sl__jw_t jw;
        sl__jw_init(&jw, NULL, 0);
        fast_pk_t pk;
        int src = sl__cdc_fast(&c, opts, &rec, &jw, &pk, &keep, how);
        if (src == 0 && (!ft || jw.len != pk.n + fl || memcmp(jw.buf + pk.n, ft, fl)))
            fuzz_fail(T, "the stage's in-place event is not the text form's");
        if (src == CDC_SKIPPED && (ft || frc))
            fuzz_fail(T, "the stage skips a record the text form does not");
        if (src != 0 && src != CDC_SKIPPED && src != CDC_FALLBACK)
            fuzz_fail(T, "the stage's fast path failed otherwise");
        sl_free(pk.own);
        sl_free(jw.buf);
    }
    /* The engine's check (cdc_check() in the stage): when it names a
     * verdict (proven, or validated) it is the strict scanner's, and a
     * record it proves gets the text form's event. */
    if (!debezium) {
        char ce[256] = "";
        cvt_t c = {.fmt = "dynamodb", .err = ce, .err_size = sizeof ce};
        sl__jw_t jw;
        sl__jw_init(&jw, NULL, 0);
        fast_pk_t pk;
        int crc = sl__cdc_fast(&c, opts, &rec, &jw, &pk, &keep, CDC_KEY_FIRST | CDC_CHECK);
        int json = rec.value_len && !sl_json_validate(rec.value, rec.value_len, NULL);
        if (c.proven && !json)
            fuzz_fail(T, "the check's walk proved JSON what the scanner rejects");
        if (c.validated && c.invalid == json)
            fuzz_fail(T, "the check's verdict is not the scanner's");
        if (crc == CDC_UNCHECKED && (c.proven || c.validated || jw.len))
            fuzz_fail(T, "an unchecked record was walked");
        if (crc == 0 && (!ft || jw.len != pk.n + fl || memcmp(jw.buf + pk.n, ft, fl)))
            fuzz_fail(T, "the check's kept event is not the text form's");
        if (crc != 0 && crc != CDC_SKIPPED && crc != CDC_FALLBACK && crc != CDC_UNCHECKED)
            fuzz_fail(T, "the check failed otherwise");
        sl_free(pk.own);
        sl_free(jw.buf);
    }
    sl__cdc_keep_free(&keep);
    sl_free(ft);
    sl_free(tt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0], fail_at = data[1];
    size_t klen = data[2];
    if (klen > size - 3)
        klen = size - 3;
    int debezium = flags & 1;
    sl_cdc_opts_t opts = {.format = debezium ? SL_CDC_DEBEZIUM : SL_CDC_DYNAMODB,
                          .entity = ENTITY,
                          .source = (flags & 32) ? "orders-db" : NULL};
    sl_record_t rec = {.topic = "changes",
                       .partition = 3,
                       .offset = 42,
                       .timestamp_ms = (flags & 4) ? 1700000000123 : 0,
                       .key = klen ? data + 3 : NULL,
                       .key_len = klen,
                       .value = data + 3 + klen,
                       .value_len = size - 3 - klen,
                       .position = (flags & 2)
                                       ? "49590338271490256608559692538361571095921575989136588898"
                                       : NULL};
    char err[256];
    size_t esize = (flags & 8) ? 1 + (fail_at % 24) : sizeof err;
    json_t *ev = NULL, *again = NULL;
    int64_t live = live_blocks();

    int rc = sl_cdc_convert(&opts, &rec, &ev, err, esize);
    if (rc != 0 && rc != SL_EJSON && rc != SL_EFIELD)
        fuzz_fail(T, "unexpected return code");
    if (rc != 0 && ev)
        fuzz_fail(T, "an event with an error");
    /* A latched record is skipped (the default): 0, no event, a reason. */
    if (rc == 0 && !ev && esize == sizeof err && !strstr(err, "skipped: latched"))
        fuzz_fail(T, "no event, no error and no reason to skip");
    json_error_t je;
    json_t *root =
        rec.value_len ? json_loadb(rec.value, rec.value_len, JSON_DECODE_ANY, &je) : NULL;
    if (rec.value_len && (rc == SL_EJSON) != !root)
        fuzz_fail(T, "SL_EJSON disagrees with jansson");
    if (rc) {
        if (!fuzz_msg_ok(err, esize))
            fuzz_fail(T, "the message is not terminated UTF-8");
        const char *pre = debezium ? "debezium: " : "dynamodb: ";
        if (esize > strlen(pre) && strncmp(err, pre, strlen(pre)))
            fuzz_fail(T, "the message does not name the format");
    } else if (ev) {
        check_event(ev, root, &rec, debezium);
    }

    /* the same record again: the same answer (ids are deterministic) */
    int rc2 = sl_cdc_convert(&opts, &rec, &again, NULL, 0);
    if (rc2 != rc || (ev && !json_equal(ev, again)))
        fuzz_fail(T, "a second conversion differs");
    json_decref(again);
    again = NULL;

    if (flags & 16) {
        sl_mem_fail_at(1 + fail_at, 0);
        rc2 = sl_cdc_convert(&opts, &rec, &again, err, sizeof err);
        sl_mem_fail_at(0, 0);
        if (rc2 != SL_ENOMEM && (rc2 != rc || (ev && !json_equal(ev, again))))
            fuzz_fail(T, "an allocation failure changed the answer");
        if (rc2 == SL_ENOMEM && again)
            fuzz_fail(T, "an event with SL_ENOMEM");
        if (rc2 && !fuzz_msg_ok(err, sizeof err))
            fuzz_fail(T, "the out-of-memory message is not terminated UTF-8");
        json_decref(again);
    }
    /* The fast paths against the tree's, with the default options and,
     * with bit 6, with every option that changes what a record gives (the
     * entity from the discriminator or sort key, a pk attribute, latched and
     * replica records kept or skipped, dropped attributes, soft deletes and
     * expiry by other names, tags): they must agree whatever is set. */
    check_fast(&opts, &rec, debezium);
    if (flags & 64) {
        static const char *const drop[] = {"secret", "sk"};
        sl_cdc_opts_t o2 = {.format = opts.format,
                            .entity = (flags & 128) ? NULL : ENTITY,
                            .source = opts.source,
                            .keep_latched = fail_at & 1,
                            .keep_replicas = fail_at & 2,
                            .region = (fail_at & 4) ? "eu-west-1" : NULL,
                            .latched_attr = (fail_at & 8) ? "loop" : NULL,
                            .pk_attr = (fail_at & 16) ? "pk" : NULL,
                            .deleted_attr = (fail_at & 32) ? "gone" : NULL,
                            .expired = (sl_cdc_expired_t)((fail_at >> 6) % 3),
                            .drop = drop,
                            .drop_count = (fail_at & 128) ? 2 : 0,
                            .account = "acct",
                            .stage = "dev",
                            .function_name = "fn",
                            .pipeline = "pl"};
        check_fast(&o2, &rec, debezium);
    }
    json_decref(ev);
    json_decref(root);
    if (live_blocks() != live)
        fuzz_fail(T, "a conversion leaked memory");
    return 0;
}
