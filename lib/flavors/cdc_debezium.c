/* sluice — the cdc flavor: Debezium envelopes (see cdc.c). */
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

/* ---- Debezium --------------------------------------------------------- */

/* A scalar as partitionKey text: a non-empty string as it is, an integer
 * in decimal, a real in its shortest form (sl__fmt_double()). NULL when not usable. */
static json_t *key_text(json_t *v, int *nomem)
{
    char buf[64];
    json_t *s = NULL;
    if (json_is_string(v) && json_string_length(v))
        return json_incref(v);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = json_string(buf);
    } else if (json_is_real(v)) {
        /* as sluice writes every real: the shortest form that reads back */
        s = json_stringn(buf, sl__fmt_double(json_real_value(v), buf));
    } else {
        return NULL;
    }
    *nomem = !s;
    return s;
}

/* partitionKey from a Debezium image: its "id", else its first member. */
static int image_pkey(cvt_t *c, json_t *img, json_t **pk)
{
    int nomem = 0;
    *pk = key_text(json_object_get(img, "id"), &nomem);
    if (!*pk && !nomem)
        *pk = key_text(json_object_iter_value(json_object_iter(img)), &nomem);
    if (nomem)
        return sl__cdc_oom(c);
    if (!*pk)
        return sl__cdc_fail(c, SL_EFIELD,
                            "no partition key: the record has no key and the image has "
                            "no usable \"id\" or first member (a string or a number)");
    return 0;
}

int sl__cdc_from_debezium(cvt_t *c, const sl_cdc_opts_t *o, const sl_record_t *r, json_t *root,
                          json_t **out)
{
    if (json_is_null(root))
        return sl__cdc_fail(c, SL_EFIELD, "tombstone (null value) is not a change record");
    if (!json_is_object(root))
        return sl__cdc_fail(c, SL_EFIELD, "the record is not a JSON object");
    json_t *env = root;
    if (!json_object_get(root, "op") && json_object_get(root, "payload")) {
        env = json_object_get(root, "payload");
        if (json_is_null(env))
            return sl__cdc_fail(c, SL_EFIELD, "tombstone (null payload) is not a change record");
        if (!json_is_object(env))
            return sl__cdc_fail(c, SL_EFIELD, "payload is not an object");
    }
    json_t *opv = json_object_get(env, "op");
    if (!opv)
        return sl__cdc_fail(c, SL_EFIELD, "op missing");
    if (!json_is_string(opv))
        return sl__cdc_fail(c, SL_EFIELD, "op is not a string");
    change_t ch = {0};
    const char *op = json_string_value(opv);
    char q[QUOTE_MAX + 4];
    if (!strcmp(op, "c") || !strcmp(op, "r"))
        ch.op = OP_CREATE;
    else if (!strcmp(op, "u"))
        ch.op = OP_UPDATE;
    else if (!strcmp(op, "d"))
        ch.op = OP_DELETE;
    else
        return sl__cdc_fail(c, SL_EFIELD, "op \"%s\" is not c, r, u or d",
                            sl__cdc_clip(q, op, json_string_length(opv)));
    json_t *before = sl__cdc_member(env, "before"), *after = sl__cdc_member(env, "after");
    if (before && !json_is_object(before))
        return sl__cdc_fail(c, SL_EFIELD, "before is not an object or null");
    if (after && !json_is_object(after))
        return sl__cdc_fail(c, SL_EFIELD, "after is not an object or null");
    if (ch.op != OP_DELETE && !after)
        return sl__cdc_fail(c, SL_EFIELD, "op \"%s\" without after", op);
    if (ch.op == OP_DELETE && !before)
        return sl__cdc_fail(c, SL_EFIELD, "op \"d\" without before");

    int64_t change = 0;
    int have_change = 0;
    json_t *ts = sl__cdc_member(env, "ts_ms");
    if (ts) {
        if (sl__cdc_ms_of(ts, &change))
            return sl__cdc_fail(c, SL_EFIELD, "ts_ms is not a non-negative number");
        have_change = 1;
    } else if (!sl__cdc_ms_of(json_object_get(json_object_get(env, "source"), "ts_ms"), &change)) {
        have_change = 1;
    }
    if (ch.op == OP_DELETE || !sl__cdc_image_ts(after, &ch.ts)) {
        if (!sl__cdc_change_or_record(have_change, change, r, &ch.ts))
            return sl__cdc_fail(c, SL_EFIELD,
                                "no timestamp: no ts_ms, no source.ts_ms, no record "
                                "timestamp");
    }
    ch.img_new = after;
    ch.img_old = before;
    ch.entity = ch.op == OP_DELETE ? before : after;
    int rc = sl__cdc_record_pkey(r, &ch.pkey);
    if (rc == SL_ENOMEM)
        return sl__cdc_oom(c);
    if (!rc && (rc = image_pkey(c, ch.entity, &ch.pkey)))
        return rc;
    rc = sl__cdc_build_event(c, o, r, &ch, out);
    json_decref(ch.pkey);
    return rc;
}
