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

/* A scalar of source as text into @p out: 1 when present (string or number). */
static int src_text(const json_t *src, const char *name, char *out, size_t size)
{
    const json_t *v = json_object_get(src, name);
    int n;
    if (json_is_string(v) && json_string_length(v) &&
        json_string_length(v) == strlen(json_string_value(v)))
        n = snprintf(out, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        return 0;
    return n > 0 && (size_t)n < size;
}

/* An optional field: its text, or empty when it is missing or unusable. */
static void src_opt(const json_t *src, const char *name, char *out, size_t size)
{
    if (!src_text(src, name, out, size))
        out[0] = 0;
}

/* The change's position in the source database's log, per connector:
 * PostgreSQL lsn (with txId), MySQL binlog file/pos/row, SQL Server
 * change_lsn/commit_lsn/event_serial_no, Oracle scn/rs_id/ssn, MongoDB ord (with
 * ts_ms). Empty when there is none usable (the id then comes from the
 * record's position). A snapshot read is left out by the caller: its rows
 * share one position. */
static void source_identity(const json_t *src, char *out, size_t size)
{
    char conn[64] = "", name[96] = "", a[64], b[64], d[64];
    out[0] = 0;
    if (!json_is_object(src))
        return;
    src_text(src, "connector", conn, sizeof conn);
    src_text(src, "name", name, sizeof name);
    int n = -1;
    if (src_text(src, "lsn", a, sizeof a)) {
        src_opt(src, "txId", b, sizeof b);
        n = snprintf(out, size, "debezium:%s/%s/lsn:%s/tx:%s", conn, name, a, b);
    } else if (src_text(src, "file", a, sizeof a) && src_text(src, "pos", b, sizeof b)) {
        src_opt(src, "row", d, sizeof d);
        n = snprintf(out, size, "debezium:%s/%s/binlog:%s:%s:%s", conn, name, a, b, d);
    } else if (src_text(src, "change_lsn", a, sizeof a)) {
        src_opt(src, "commit_lsn", b, sizeof b);
        src_opt(src, "event_serial_no", d, sizeof d);
        n = snprintf(out, size, "debezium:%s/%s/change_lsn:%s:%s:%s", conn, name, a, b, d);
    } else if (src_text(src, "scn", a, sizeof a)) {
        /* Rows of one Oracle transaction may share an SCN: rs_id and ssn
         * (LogMiner's redo record and statement) tell them apart. */
        src_opt(src, "rs_id", b, sizeof b);
        src_opt(src, "ssn", d, sizeof d);
        n = snprintf(out, size, "debezium:%s/%s/scn:%s:%s:%s", conn, name, a, b, d);
    } else if (src_text(src, "ord", a, sizeof a) && src_text(src, "ts_ms", b, sizeof b)) {
        n = snprintf(out, size, "debezium:%s/%s/ord:%s:%s", conn, name, b, a);
    }
    if (n < 0 || (size_t)n >= size)
        out[0] = 0;
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
    ch.root = root;
    if (strcmp(op, "r"))
        source_identity(json_object_get(env, "source"), ch.identity, sizeof ch.identity);
    int rc = sl__cdc_record_pkey(r, &ch.pkey);
    if (rc == SL_ENOMEM)
        return sl__cdc_oom(c);
    if (!rc && (rc = image_pkey(c, ch.entity, &ch.pkey)))
        return rc;
    rc = sl__cdc_build_event(c, o, r, &ch, out);
    json_decref(ch.pkey);
    return rc;
}
