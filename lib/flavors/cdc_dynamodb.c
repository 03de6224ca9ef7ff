/* sluice — the cdc flavor: DynamoDB Streams records (see cdc.c). */
#include "core/jsonw.h"
#include "flavors/cdc_int.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- DynamoDB --------------------------------------------------------- */

static int ddb_value(cvt_t *c, json_t *av, json_t **out);

/* A map of attribute values ({"name": {"S": "x"}, ...}) to a plain object. */
static int ddb_map(cvt_t *c, json_t *m, json_t **out)
{
    if (!json_is_object(m))
        return sl__cdc_fail_at(c, SL_EFIELD, "is not a map of attribute values");
    json_t *o = json_object();
    if (!o)
        return sl__cdc_oom(c);
    const char *name;
    json_t *av;
    json_object_foreach(m, name, av)
    {
        size_t mark = sl__cdc_path_push(c, name, 0);
        json_t *v;
        int rc = ddb_value(c, av, &v);
        if (rc) {
            json_decref(o);
            return rc;
        }
        sl__cdc_path_pop(c, mark);
        if (json_object_set_new(o, name, v)) {
            json_decref(o);
            return sl__cdc_oom(c);
        }
    }
    *out = o;
    return 0;
}

typedef enum { LIST_L, LIST_STRINGS, LIST_NUMBERS } list_t;

static int ddb_number(cvt_t *c, const char *tname, json_t *v, json_t **out)
{
    if (!json_is_string(v))
        return sl__cdc_fail_at(c, SL_EFIELD, "%s is not a string", tname);
    int rc = sl__cdc_number_of(json_string_value(v), json_string_length(v), out);
    if (rc == SL_ENOMEM)
        return sl__cdc_oom(c);
    char q[QUOTE_MAX + 4];
    if (rc)
        return sl__cdc_fail_at(c, SL_EFIELD, "%s \"%s\" %s", tname,
                               sl__cdc_clip(q, json_string_value(v), json_string_length(v)),
                               rc == 1 ? "is not a number" : "is out of range");
    if (sl__cdc_keep_text(c, *out, json_string_value(v), json_string_length(v))) {
        json_decref(*out);
        *out = NULL;
        return sl__cdc_oom(c);
    }
    return 0;
}

/* L (attribute values), SS and BS (strings), NS (number texts) to an array. */
static int ddb_list(cvt_t *c, const char *tname, list_t kind, json_t *v, json_t **out)
{
    if (!json_is_array(v))
        return sl__cdc_fail_at(c, SL_EFIELD, "%s is not an array", tname);
    json_t *a = json_array();
    if (!a)
        return sl__cdc_oom(c);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        size_t mark = sl__cdc_path_push(c, NULL, i);
        json_t *x = NULL;
        int rc = 0;
        if (kind == LIST_L)
            rc = ddb_value(c, item, &x);
        else if (kind == LIST_NUMBERS)
            rc = ddb_number(c, "N", item, &x);
        else if (!json_is_string(item))
            rc = sl__cdc_fail_at(c, SL_EFIELD, "a member of %s is not a string", tname);
        else
            x = json_incref(item);
        if (rc) {
            json_decref(a);
            return rc;
        }
        sl__cdc_path_pop(c, mark);
        if (json_array_append_new(a, x)) {
            json_decref(a);
            return sl__cdc_oom(c);
        }
    }
    *out = a;
    return 0;
}

/* One typed attribute value to plain JSON. */
static int ddb_value(cvt_t *c, json_t *av, json_t **out)
{
    if (!json_is_object(av) || json_object_size(av) == 0)
        return sl__cdc_fail_at(c, SL_EFIELD,
                               "is not an attribute value (an object with one type member)");
    if (json_object_size(av) > 1)
        return sl__cdc_fail_at(c, SL_EFIELD, "has %zu type members, an attribute value has one",
                               json_object_size(av));
    void *it = json_object_iter(av);
    const char *t = json_object_iter_key(it);
    json_t *v = json_object_iter_value(it);
    if (!strcmp(t, "S") || !strcmp(t, "B")) {
        if (!json_is_string(v))
            return sl__cdc_fail_at(c, SL_EFIELD, "%s is not a string", t);
        *out = json_incref(v);
        return 0;
    }
    if (!strcmp(t, "N"))
        return ddb_number(c, "N", v, out);
    if (!strcmp(t, "BOOL")) {
        if (!json_is_boolean(v))
            return sl__cdc_fail_at(c, SL_EFIELD, "BOOL is not true or false");
        *out = json_incref(v);
        return 0;
    }
    if (!strcmp(t, "NULL")) {
        if (!json_is_true(v))
            return sl__cdc_fail_at(c, SL_EFIELD, "NULL is not true");
        *out = json_null();
        return 0;
    }
    if (!strcmp(t, "M"))
        return ddb_map(c, v, out);
    if (!strcmp(t, "L"))
        return ddb_list(c, t, LIST_L, v, out);
    if (!strcmp(t, "SS") || !strcmp(t, "BS"))
        return ddb_list(c, t, LIST_STRINGS, v, out);
    if (!strcmp(t, "NS"))
        return ddb_list(c, t, LIST_NUMBERS, v, out);
    char q[QUOTE_MAX + 4];
    return sl__cdc_fail_at(c, SL_EFIELD, "unknown attribute type \"%s\"",
                           sl__cdc_clip(q, t, strlen(t)));
}

/* dynamodb.<name> (Keys, NewImage, OldImage) unmarshalled, or NULL when absent. */
static int ddb_image(cvt_t *c, const json_t *d, const char *name, json_t **out)
{
    *out = NULL;
    json_t *m = sl__cdc_member(d, name);
    if (!m)
        return 0;
    sl__cdc_path_set(c, name);
    return ddb_map(c, m, out);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* partitionKey from Keys: the key values (S and B as they are, N as its text)
 * joined with '|' in byte order of the attribute names. */
static int keys_pkey(cvt_t *c, json_t *keys, json_t **pk)
{
    size_t n = json_object_size(keys), len = 0, k = 0;
    if (!n)
        return sl__cdc_fail(c, SL_EFIELD,
                            "no partition key: the record has no key and Keys is empty");
    const char **names = sl_malloc(n * sizeof *names);
    if (!names)
        return sl__cdc_oom(c);
    const char *name;
    json_t *av;
    json_object_foreach(keys, name, av)
    {
        names[k++] = name;
        /* Keys was unmarshalled already: av is an object with one member. */
        const char *t = json_object_iter_key(json_object_iter(av));
        if (strcmp(t, "S") && strcmp(t, "N") && strcmp(t, "B")) {
            sl_free(names);
            sl__cdc_path_set(c, "Keys");
            sl__cdc_path_push(c, name, 0);
            return sl__cdc_fail_at(c, SL_EFIELD, "a key attribute is S, N or B, not %s", t);
        }
        len += json_string_length(json_object_iter_value(json_object_iter(av))) + 1;
    }
    qsort(names, n, sizeof *names, cmp_names);
    char *buf = sl_malloc(len);
    if (!buf) {
        sl_free(names);
        return sl__cdc_oom(c);
    }
    size_t at = 0;
    for (k = 0; k < n; k++) {
        json_t *s = json_object_iter_value(json_object_iter(json_object_get(keys, names[k])));
        if (k)
            buf[at++] = '|';
        memcpy(buf + at, json_string_value(s), json_string_length(s));
        at += json_string_length(s);
    }
    sl_free(names);
    if (at == 0) {
        sl_free(buf);
        return sl__cdc_fail(c, SL_EFIELD,
                            "no partition key: the record has no key and the Keys are empty");
    }
    *pk = json_stringn(buf, at);
    sl_free(buf);
    return *pk ? 0 : sl__cdc_oom(c);
}

/* Whether @p v is the string @p s. */
static int str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           !strcmp(json_string_value(v), s);
}

int sl__cdc_from_dynamodb(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r,
                          const json_t *root, json_t **out)
{
    if (!json_is_object(root))
        return sl__cdc_fail(c, SL_EFIELD, "the record is not a JSON object");
    json_t *name = json_object_get(root, "eventName");
    if (!name)
        return sl__cdc_fail(c, SL_EFIELD, "eventName missing");
    if (!json_is_string(name))
        return sl__cdc_fail(c, SL_EFIELD, "eventName is not a string");
    change_t ch = {0};
    const char *en = json_string_value(name);
    char q[QUOTE_MAX + 4];
    if (!strcmp(en, "INSERT"))
        ch.op = OP_CREATE;
    else if (!strcmp(en, "MODIFY"))
        ch.op = OP_UPDATE;
    else if (!strcmp(en, "REMOVE"))
        ch.op = OP_DELETE;
    else
        return sl__cdc_fail(c, SL_EFIELD, "eventName \"%s\" is not INSERT, MODIFY or REMOVE",
                            sl__cdc_clip(q, en, json_string_length(name)));
    json_t *d = json_object_get(root, "dynamodb");
    if (!d)
        return sl__cdc_fail(c, SL_EFIELD, "\"dynamodb\" missing");
    if (!json_is_object(d))
        return sl__cdc_fail(c, SL_EFIELD, "\"dynamodb\" is not an object");

    /* Everything is checked, whether it is used or not. */
    int64_t change = 0;
    int have_change = 0;
    json_t *act = sl__cdc_member(d, "ApproximateCreationDateTime");
    if (act) {
        if (sl__cdc_secs_to_ms(act, &change))
            return sl__cdc_fail(
                c, SL_EFIELD,
                "ApproximateCreationDateTime is not a non-negative number of seconds");
        have_change = 1;
    }
    json_t *keys_in = sl__cdc_member(d, "Keys"), *keys = NULL, *img_new = NULL, *img_old = NULL;
    int rc = ddb_image(c, d, "Keys", &keys);
    if (!rc)
        rc = ddb_image(c, d, "NewImage", &img_new);
    if (!rc)
        rc = ddb_image(c, d, "OldImage", &img_old);
    if (rc)
        goto done;
    if (ch.op != OP_DELETE && !img_new) {
        rc = sl__cdc_fail(c, SL_EFIELD,
                          "%s without NewImage (the stream view type must include new "
                          "images)",
                          en);
        goto done;
    }
    if (ch.op == OP_DELETE && !img_old && !keys) {
        rc = sl__cdc_fail(c, SL_EFIELD, "REMOVE without OldImage or Keys");
        goto done;
    }
    ch.img_new = img_new;
    ch.img_old = img_old;
    ch.entity = ch.op == OP_DELETE ? (img_old ? img_old : keys) : img_new;
    if (ch.op == OP_DELETE || !sl__cdc_image_ts(img_new, &ch.ts)) {
        if (!sl__cdc_change_or_record(have_change, change, r, &ch.ts)) {
            rc = sl__cdc_fail(c, SL_EFIELD,
                              "no timestamp: no ApproximateCreationDateTime, no record "
                              "timestamp");
            goto done;
        }
    }
    /* The named key attribute first (aws-lambda-stream's Keys.pk): its
     * value as text when it is a non-empty S, N or B. */
    json_t *named = o->pk_attr ? json_object_get(keys_in, o->pk_attr) : NULL;
    json_t *named_v =
        json_object_size(named) == 1 ? json_object_iter_value(json_object_iter(named)) : NULL;
    const char *named_t = named_v ? json_object_iter_key(json_object_iter(named)) : "";
    if (json_is_string(named_v) && json_string_length(named_v) &&
        (!strcmp(named_t, "S") || !strcmp(named_t, "N") || !strcmp(named_t, "B"))) {
        ch.pkey = json_incref(named_v);
        rc = 1;
    } else {
        rc = sl__cdc_record_pkey(r, &ch.pkey);
    }
    if (rc == SL_ENOMEM) {
        rc = sl__cdc_oom(c);
        goto done;
    }
    if (!rc) {
        if (!keys) {
            rc = sl__cdc_fail(c, SL_EFIELD, "no partition key: the record has no key and no Keys");
            goto done;
        }
        rc = keys_pkey(c, keys_in, &ch.pkey);
        if (rc)
            goto done;
    }
    const char *region = json_string_value(json_object_get(root, "awsRegion"));
    ch.region = region && *region ? region : NULL;
    ch.keys = keys;
    ch.root = root;
    /* DynamoDB's TTL process deletes as the service principal. */
    json_t *who = json_object_get(root, "userIdentity");
    ch.by_ttl = ch.op == OP_DELETE && str_is(json_object_get(who, "type"), "Service") &&
                str_is(json_object_get(who, "principalId"), "dynamodb.amazonaws.com");
    json_t *eid = json_object_get(root, "eventID");
    if (json_is_string(eid) && json_string_length(eid) &&
        json_string_length(eid) < sizeof ch.identity - 16)
        snprintf(ch.identity, sizeof ch.identity, "dynamodb:%s", json_string_value(eid));
    rc = sl__cdc_build_event(c, o, r, &ch, out);
done:
    json_decref(ch.pkey);
    json_decref(keys);
    json_decref(img_new);
    json_decref(img_old);
    return rc;
}
