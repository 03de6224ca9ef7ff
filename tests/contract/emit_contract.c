/* Writes every kind of fault event and output event the library emits, as
 * JSON Lines, for the ajv contract test: DIR/faults.jsonl, DIR/events.jsonl,
 * and DIR/thing-events.jsonl (what the trigger's cdc flavor publishes for
 * DynamoDB Streams and Debezium change records). The listener's
 * materialize flavor publishes only faults: they go to faults.jsonl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/sluice.h"

static sl_result_t fault_odd(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    if (sl_uow_record(u)->offset % 5 == 1) {
        sl_uow_fail(u, SL_ESTAGE, "rejected by the map");
        return SL_FAULT;
    }
    if (sl_uow_record(u)->offset % 5 == 2) {
        sl_uow_fail(u, SL_EIO, "always busy");
        return SL_RETRY;
    }
    return SL_OK;
}

/* Re-emits the event as a new domain event built with jansson. */
static sl_result_t to_event(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    json_t *body = sl_uow_body(u);
    if (!body)
        return SL_RETRY;
    sl_span_t key = sl_uow_key(u);
    json_t *out =
        json_pack("{s:s,s:s,s:I,s:s%,s:{s:s},s:O?}", "id", "derived-1", "type", "thing-seen",
                  "timestamp", (json_int_t)1767225600000, "partitionKey", key.ptr, key.len, "tags",
                  "source", "contract", "thing", json_object_get(body, "thing"));
    if (!out)
        return SL_RETRY;
    int rc = sl_uow_set_output_json(u, NULL, 0, out);
    json_decref(out);
    return rc ? SL_RETRY : SL_OK;
}

static sl_result_t fault_all(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_uow_fail(u, SL_ESTAGE, "rejected");
    return SL_FAULT;
}

/* A record value of @p n bytes: an event with padding (n >= 40). */
static char *padded_event(size_t n)
{
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    int h = snprintf(v, n + 1, "{\"type\":\"thing-big\",\"pad\":\"");
    memset(v + h, 'p', n - (size_t)h - 2);
    memcpy(v + n - 2, "\"}", 3);
    return v;
}

/* Faults trimmed to fit a 2 KiB bound, one per step of the order in
 * schemas/fault.json (uow.truncated). Returns the driver, or NULL. */
static sl_test_t *trimmed_faults(void)
{
    sl_conf_t *c = sl_conf_new();
    sl_conf_set(c, "processor.name", "contract", NULL, 0);
    sl_conf_set(c, "fault.max.bytes", "2048", NULL, 0);
    sl_test_t *t = sl_test_new(c, NULL, 0);
    sl_conf_destroy(c);
    sl_test_sink_t *out = t ? sl_test_sink_new(t, "out", 0, 0, 0) : NULL;
    sl_pipeline_t *p = sl_pipeline_new("reject");
    if (!out || !p || sl_pipeline_map(p, fault_all, NULL) ||
        sl_pipeline_sink(p, sl_test_sink_handle(out)) || sl_test_add_pipeline(t, p))
        return NULL;
    char *mid = padded_event(800), *big = padded_event(1500), *huge = padded_event(4000);
    char *longkey = malloc(3000);
    if (!mid || !big || !huge || !longkey)
        return NULL;
    memset(longkey, 'k', 3000);
    sl_header_t h[] = {{.name = "blob", .value = huge, .value_len = 4000}};
    sl_record_t r[] = {
        /* 1: the decoded copy left out */
        {.topic = "big", .key = "k", .key_len = 1, .value = mid, .value_len = 800},
        /* 2: and the value cut */
        {.topic = "big", .key = "k", .key_len = 1, .value = big, .value_len = 1500},
        /* 3: a key that cannot fit: minimal, key cut to 256 bytes */
        {.topic = "big", .key = longkey, .key_len = 3000, .value = big, .value_len = 1500},
        /* 3: headers that cannot fit and no key: minimal, keyed by the fault id */
        {.topic = "big", .value = "{bad", .value_len = 4, .headers = h, .header_count = 1},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        r[i].offset = -1;
        if (sl_test_push_record(t, &r[i]))
            return NULL;
    }
    free(mid);
    free(big);
    free(huge);
    free(longkey);
    return t;
}

static sl_result_t two_children(sl_uow_t *u, sl_emitter_t *em, void *opaque)
{
    (void)opaque;
    (void)u;
    static const char big[] = "{\"id\":\"c\",\"type\":\"child\",\"timestamp\":1,\"pad\":\""
                              "0123456789012345678901234567890123456789\"}";
    return sl_emit(em, "ck", 2, big, sizeof big - 1) ? SL_RETRY : SL_OK;
}

static int accept_rows(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    (void)opaque;
    (void)rows;
    if (applied)
        *applied = n;
    return 0;
}

static void dump(const sl_test_sink_t *s, FILE *fp)
{
    for (size_t i = 0; i < sl_test_sink_count(s); i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(s, i);
        fwrite(m->value, 1, m->value_len, fp);
        fputc('\n', fp);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    sl_conf_t *c = sl_conf_new();
    sl_conf_set(c, "processor.name", "contract", NULL, 0);
    sl_conf_set(c, "retry.max", "1", NULL, 0);
    sl_conf_set(c, "kafka.group.id", "contract-group", NULL, 0);
    sl_conf_set(c, "record.max.bytes", "2048", NULL, 0);
    sl_conf_set(c, "fault.value.max.bytes", "1024", NULL, 0);
    sl_test_t *t = sl_test_new(c, NULL, 0);
    sl_conf_destroy(c);
    sl_test_sink_t *events = sl_test_sink_new(t, "events", 0, 0, 0);
    sl_test_sink_t *small = sl_test_sink_new(t, "small", 0, 0, 64);
    sl_test_sink_t *flaky = sl_test_sink_new(t, "flaky", 0, 0, 0);
    sl_pipeline_t *a = sl_pipeline_new("derive"), *b = sl_pipeline_new("children"),
                  *d = sl_pipeline_new("flaky-sink");
    const char *types[] = {"thing-"};
    if (!t || !events || !small || !flaky || !a || !b || !d ||
        sl_pipeline_filter_types(a, SL_MATCH_PREFIX, types, 1) ||
        sl_pipeline_map(a, fault_odd, NULL) || sl_pipeline_stage_name(a, "odd-check") ||
        sl_pipeline_map(a, to_event, NULL) || sl_pipeline_batch(a, NULL) ||
        sl_pipeline_sink(a, sl_test_sink_handle(events)) ||
        sl_pipeline_filter_types(b, SL_MATCH_PREFIX, types, 1) ||
        sl_pipeline_flat_map(b, two_children, NULL) ||
        sl_pipeline_sink(b, sl_test_sink_handle(small)) ||
        sl_pipeline_filter_types(d, SL_MATCH_PREFIX, types, 1) ||
        sl_pipeline_sink(d, sl_test_sink_handle(flaky)) || sl_test_add_pipeline(t, a) ||
        sl_test_add_pipeline(t, b) || sl_test_add_pipeline(t, d)) {
        fprintf(stderr, "emit_contract: setup failed\n");
        return 1;
    }
    sl_test_sink_fail_next(flaky, 1, SL_ESINK);
    char big[4096];
    memset(big, 'x', sizeof big);
    big[0] = '{';
    const char *inputs[] = {
        ("{\"id\":\"e0\",\"type\":\"thing-created\",\"timestamp\":1767225600000,\"partitionKey\":"
         "\"t1\","
         "\"tags\":{\"source\":\"test\"},\"thing\":{\"id\":\"t1\",\"name\":\"One\"}}"),
        ("{\"id\":\"e1\",\"type\":\"thing-updated\",\"timestamp\":1767225600001,\"partitionKey\":"
         "\"t1\","
         "\"thing\":{\"id\":\"t1\"}}"),
        ("{\"id\":\"e2\",\"type\":\"thing-updated\",\"timestamp\":1767225600002,\"partitionKey\":"
         "\"t\\\"2\","
         "\"thing\":{\"id\":\"t2\"}}"),
        "{\"type\":\"thing-deleted\",", /* invalid JSON */
        "{\"id\":\"e4\"}",              /* no type */
        "[1]",                          /* not an event */
        "{\"type\":\"thing-x\",\"timestamp\":\"yesterday\"}",
        "\xff\xfe binary",
        ("{\"id\":\"e8\",\"type\":\"thing-updated\",\"timestamp\":1767225600008,\"partitionKey\":"
         "\"t3\","
         "\"thing\":{\"id\":\"t3\",\"n\":[1,2.5,null]}}"),
        ("{\"specversion\":\"1.0\",\"id\":\"e9\",\"type\":\"thing-created\",\"source\":\"/x\","
         "\"time\":\"2026-01-01T00:00:00Z\",\"partitionkey\":\"t4\",\"thing\":{\"id\":\"t4\"}}"),
    };
    sl_header_t h[] = {{.name = "traceparent", .value = "00-abc-01", .value_len = 9}};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        sl_record_t r = {
            .topic = "things",
            .partition = 2,
            .offset = -1,
            .key = "rk",
            .key_len = 2,
            .value = inputs[i],
            .value_len = strlen(inputs[i]),
            .headers = h,
            .header_count = i % 2,
            .position = i == 6 ? "49590338271490256608559692538361571095921575989136588898" : NULL};
        if (sl_test_push_record(t, &r)) {
            fprintf(stderr, "emit_contract: push failed\n");
            return 1;
        }
    }
    sl_record_t r = {.topic = "things",
                     .partition = 2,
                     .offset = -1,
                     .value = big,
                     .value_len = sizeof big}; /* too big: truncated copy in the fault */
    sl_test_push_record(t, &r);
    sl_test_advance(t, 60000);

    /* The flavors: cdc over both change formats (and a malformed record of
     * each), materialize over events it cannot place in a view. */
    const char *changes[][2] = {
        {"ddb", "{\"eventID\":\"1\",\"eventName\":\"INSERT\",\"eventSource\":\"aws:dynamodb\","
                "\"awsRegion\":\"eu-west-1\",\"dynamodb\":{\"ApproximateCreationDateTime\":"
                "1767225600.5,\"Keys\":{\"id\":{\"S\":\"t1\"}},\"NewImage\":{\"id\":{\"S\":"
                "\"t1\"},\"n\":{\"N\":\"3\"},\"tags\":{\"SS\":[\"a\"]},\"m\":{\"M\":{\"ok\":"
                "{\"BOOL\":true},\"l\":{\"L\":[{\"NULL\":true},{\"N\":\"1.5\"}]}}}},"
                "\"SequenceNumber\":\"1\",\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}"},
        {"ddb", "{\"eventID\":\"2\",\"eventName\":\"MODIFY\",\"eventSource\":\"aws:dynamodb\","
                "\"dynamodb\":{\"ApproximateCreationDateTime\":1767225601,\"Keys\":{\"id\":"
                "{\"S\":\"t1\"}},\"NewImage\":{\"id\":{\"S\":\"t1\"},\"timestamp\":{\"N\":"
                "\"1767225601234\"}},\"OldImage\":{\"id\":{\"S\":\"t1\"}},"
                "\"SequenceNumber\":\"2\",\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}"},
        {"ddb", "{\"eventID\":\"3\",\"eventName\":\"REMOVE\",\"eventSource\":\"aws:dynamodb\","
                "\"dynamodb\":{\"ApproximateCreationDateTime\":1767225602,\"Keys\":{\"id\":"
                "{\"S\":\"t1\"}},\"OldImage\":{\"id\":{\"S\":\"t1\"}},"
                "\"SequenceNumber\":\"3\",\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}"},
        {"ddb", "{\"eventName\":\"INSERT\",\"dynamodb\":{\"NewImage\":{\"n\":{\"N\":\"x\"}}}}"},
        /* a soft delete, an undelete and a TTL expiry */
        {"ddb", "{\"eventID\":\"4\",\"eventName\":\"MODIFY\",\"dynamodb\":{"
                "\"ApproximateCreationDateTime\":1767225603,\"Keys\":{\"id\":{\"S\":\"t2\"}},"
                "\"NewImage\":{\"id\":{\"S\":\"t2\"},\"deleted\":{\"BOOL\":true}},"
                "\"OldImage\":{\"id\":{\"S\":\"t2\"}}}}"},
        {"ddb", "{\"eventID\":\"5\",\"eventName\":\"MODIFY\",\"dynamodb\":{"
                "\"ApproximateCreationDateTime\":1767225604,\"Keys\":{\"id\":{\"S\":\"t2\"}},"
                "\"NewImage\":{\"id\":{\"S\":\"t2\"}},"
                "\"OldImage\":{\"id\":{\"S\":\"t2\"},\"deleted\":{\"BOOL\":true}}}}"},
        {"ddb", "{\"eventID\":\"6\",\"eventName\":\"REMOVE\",\"userIdentity\":{\"type\":"
                "\"Service\",\"principalId\":\"dynamodb.amazonaws.com\"},\"dynamodb\":{"
                "\"ApproximateCreationDateTime\":1767225605,\"Keys\":{\"id\":{\"S\":\"t3\"}},"
                "\"OldImage\":{\"id\":{\"S\":\"t3\"},\"ttl\":{\"N\":\"1767225000\"}}}}"},
        {"dbz", "{\"before\":null,\"after\":{\"id\":7,\"name\":\"a\"},\"op\":\"c\","
                "\"ts_ms\":1767225600000,\"source\":{\"table\":\"things\"}}"},
        {"dbz", "{\"schema\":{},\"payload\":{\"before\":{\"id\":7},\"after\":{\"id\":7,"
                "\"name\":\"b\"},\"op\":\"u\",\"ts_ms\":1767225601000,\"source\":{}}}"},
        {"dbz", "{\"before\":{\"id\":7},\"after\":null,\"op\":\"d\",\"ts_ms\":1767225602000,"
                "\"source\":{}}"},
        {"dbz", "{\"before\":null,\"after\":{\"id\":8},\"op\":\"r\",\"ts_ms\":1767225603000,"
                "\"source\":{}}"},
        {"dbz", "{\"op\":\"q\"}"},
    };
    /* One driver per format: with source.format=json every pipeline sees
     * every record (no type to route on). */
    sl_test_t *tj[2] = {NULL, NULL};
    sl_test_sink_t *things[2] = {NULL, NULL};
    for (int f = 0; f < 2; f++) {
        sl_conf_t *cj = sl_conf_new();
        sl_conf_set(cj, "processor.name", "trigger", NULL, 0);
        sl_conf_set(cj, "source.format", "json", NULL, 0);
        tj[f] = sl_test_new(cj, NULL, 0);
        sl_conf_destroy(cj);
        things[f] = tj[f] ? sl_test_sink_new(tj[f], "things", 0, 0, 0) : NULL;
        sl_pipeline_t *pl = sl_pipeline_new(f ? "cdc-debezium" : "cdc-dynamodb");
        sl_cdc_opts_t o = {.format = f ? SL_CDC_DEBEZIUM : SL_CDC_DYNAMODB,
                           .entity = "thing",
                           .source = "contract"};
        if (!things[f] || !pl || sl_cdc(pl, &o) ||
            sl_pipeline_sink(pl, sl_test_sink_handle(things[f])) ||
            sl_test_add_pipeline(tj[f], pl)) {
            fprintf(stderr, "emit_contract: cdc setup failed\n");
            return 1;
        }
        for (size_t i = 0; i < sizeof changes / sizeof *changes; i++)
            if (!strcmp(changes[i][0], f ? "dbz" : "ddb"))
                sl_test_push_str(tj[f], "changes", 0, i % 2 ? "k" : NULL, changes[i][1]);
        sl_test_advance(tj[f], 60000);
    }

    sl_test_t *tm = sl_test_new(NULL, NULL, 0);
    sl_pipeline_t *mat = sl_pipeline_new("materialize");
    static const sl_store_ops_t accept = {.name = "accept", .apply = accept_rows};
    sl_materialize_opts_t mo = {
        .key_pointer = "/thing/id", .store = sl_store_new(&accept, NULL), .batch = {0, 0, -1}};
    if (!tm || !mat || sl_materialize(mat, &mo) || sl_test_add_pipeline(tm, mat)) {
        fprintf(stderr, "emit_contract: materialize setup failed\n");
        return 1;
    }
    sl_test_push_str(tm, "events", 0, "k",
                     "{\"type\":\"thing-created\",\"timestamp\":1,\"thing\":{\"name\":\"no id\"}}");
    sl_test_push_str(tm, "events", 0, "k", "{\"type\":\"thing-created\",\"thing\":{\"id\":\"t\"}}");
    sl_test_advance(tm, 60000);

    sl_test_t *tt = trimmed_faults();
    if (!tt) {
        fprintf(stderr, "emit_contract: trimmed faults setup failed\n");
        return 1;
    }
    size_t ntf = sl_test_sink_count(sl_test_faults(tt));
    for (size_t i = 0; i < ntf; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(sl_test_faults(tt), i);
        if (m->key_len + m->value_len > 2048 || !strstr(m->value, "\"truncated\":{")) {
            fprintf(stderr,
                    "emit_contract: trimmed fault %zu does not fit or is not marked: %zu+%zu %s\n",
                    i, m->key_len, m->value_len, m->value);
            return 1;
        }
    }
    if (ntf != 4) {
        fprintf(stderr, "emit_contract: expected 4 trimmed faults, got %zu\n", ntf);
        return 1;
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/faults.jsonl", argv[1]);
    FILE *ff = fopen(path, "w");
    snprintf(path, sizeof path, "%s/events.jsonl", argv[1]);
    FILE *fe = fopen(path, "w");
    if (!ff || !fe) {
        perror("emit_contract");
        return 1;
    }
    snprintf(path, sizeof path, "%s/thing-events.jsonl", argv[1]);
    FILE *ft = fopen(path, "w");
    if (!ft) {
        perror("emit_contract");
        return 1;
    }
    dump(sl_test_faults(t), ff);
    dump(sl_test_faults(tj[0]), ff);
    dump(sl_test_faults(tj[1]), ff);
    dump(sl_test_faults(tm), ff);
    dump(sl_test_faults(tt), ff);
    dump(events, fe);
    dump(things[0], ft);
    dump(things[1], ft);
    size_t nf = sl_test_sink_count(sl_test_faults(t)), ne = sl_test_sink_count(events);
    size_t nt = sl_test_sink_count(things[0]) + sl_test_sink_count(things[1]);
    size_t ncf =
        sl_test_sink_count(sl_test_faults(tj[0])) + sl_test_sink_count(sl_test_faults(tj[1]));
    size_t nmf = sl_test_sink_count(sl_test_faults(tm));
    fclose(ff);
    fclose(fe);
    fclose(ft);
    sl_test_destroy(t);
    sl_test_destroy(tj[0]);
    sl_test_destroy(tj[1]);
    sl_test_destroy(tm);
    sl_test_destroy(tt);
    fprintf(stderr, "emit_contract: %zu thing events, %zu cdc faults, %zu materialize faults\n", nt,
            ncf, nmf);
    if (nt != 10 || ncf != 2 || nmf != 2) {
        fprintf(stderr,
                "emit_contract: expected 10 thing events, 2 cdc and 2 materialize faults\n");
        return 1;
    }
    /* decode x5, too big x1, map fault, retry limit, batch oversize (children), sink permanent */
    fprintf(stderr, "emit_contract: %zu faults, %zu events\n", nf, ne);
    if (nf < 10 || ne < 3) {
        fprintf(stderr, "emit_contract: expected every kind of fault and some events\n");
        return 1;
    }
    return 0;
}
