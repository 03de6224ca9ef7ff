/* A processor's description: declarations of consumed and produced types,
 * the type filter made from them, and the AsyncAPI 3.0 document
 * sl_processor_describe() builds from a processor's source, sinks and
 * pipelines (channels, operations, messages, embedded schemas), in JSON and
 * YAML. Kafka connectors in describe-only mode, and real ones on an
 * embedded broker. (The documents are also validated by @asyncapi/parser in
 * the contract suite: tests/contract/asyncapi.) */
#include "helpers.h"

#include <sluice/kafka.h>
#include <sluice/mem.h>
#include <sluice/processor.h>

#include <stdlib.h>
#include <string.h>

TestSuite(describe);

static sl_processor_t *proc(const char *bootstrap, int only)
{
    sl_conf_t *c = sl_conf_new();
    char err[256];
    cr_assert_eq(sl_conf_set(c, "processor.name", "svc", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "kafka.group.id", "g", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "kafka.bootstrap.servers", bootstrap, err, sizeof err), 0, "%s",
                 err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    if (only)
        cr_assert_eq(sl_processor_describe_only(p), 0);
    return p;
}

static json_t *describe(sl_processor_t *p)
{
    char *s = NULL;
    cr_assert_eq(sl_processor_describe(p, "json", &s), 0);
    cr_assert(s);
    json_error_t je;
    json_t *doc = json_loads(s, 0, &je);
    cr_assert(doc, "%s: %s", je.text, s);
    sl_free(s);
    return doc;
}

/* The string at a slash-separated path of object keys (no escaping). */
static const char *str_at(json_t *doc, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = doc;
    for (char *k = strtok(buf, "/"); k && v; k = strtok(NULL, "/"))
        v = json_object_get(v, k);
    return json_string_value(v);
}

static json_t *at(json_t *doc, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(doc, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return v;
}

/* Whether operation @p op lists message @p msg of its channel. */
static int op_has(json_t *doc, const char *op, const char *ch, const char *msg)
{
    char want[256];
    snprintf(want, sizeof want, "#/channels/%s/messages/%s", ch, msg);
    size_t i;
    json_t *m;
    json_array_foreach(
        at(doc, "operations", op, "messages"), i,
        m) if (!strcmp(json_string_value(json_object_get(m, "$ref")), want)) return 1;
    return 0;
}

static const char archived_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"$id\":\"https://example.com/archived.json\",\"type\":\"object\","
    "\"properties\":{\"thing\":{\"$ref\":\"#/$defs/thing\"},"
    "\"base\":{\"$ref\":\"https://sluice.dev/schemas/event.json\"}},"
    "\"$defs\":{\"thing\":{\"type\":\"object\"}}}";

Test(describe, channels_operations_and_messages_of_a_processor)
{
    sl_processor_t *p = proc("h1:9092,h2:9093", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "events, more", err, sizeof err), 0, "%s", err);
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    sl_sink_t *faults = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert(out && faults, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, faults), 0);
    sl_pipeline_t *pl = sl_pipeline_new("archive");
    cr_assert_eq(sl_pipeline_consumes(pl, "thing-created", sl_schema("thing-event")), 0);
    cr_assert_eq(sl_pipeline_produces(pl, "thing-archived", archived_schema), 0);
    cr_assert_eq(sl_pipeline_sink(pl, out), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);

    json_t *d = describe(p);
    cr_assert_str_eq(str_at(d, "asyncapi"), "3.0.0");
    cr_assert_str_eq(str_at(d, "info/title"), "svc");
    cr_assert_str_eq(str_at(d, "servers/kafka/host"), "h1:9092");
    cr_assert_str_eq(str_at(d, "servers/kafka/protocol"), "kafka");
    cr_assert_str_eq(str_at(d, "servers/kafka-2/host"), "h2:9093");
    /* A channel per source topic, per sink topic and the faults. */
    cr_assert_eq(json_object_size(json_object_get(d, "channels")), 4);
    cr_assert_str_eq(str_at(d, "channels/events/address"), "events");
    cr_assert_str_eq(str_at(d, "channels/more/address"), "more");
    cr_assert_str_eq(str_at(d, "channels/out/address"), "out");
    cr_assert_str_eq(str_at(d, "channels/faults/address"), "faults");
    cr_assert_eq(json_array_size(at(d, "channels", "out", "servers")), 2);
    cr_assert_str_eq(str_at(d, "channels/events/messages/thing-created/$ref"),
                     "#/components/messages/thing-created");
    cr_assert_str_eq(str_at(d, "channels/out/messages/thing-archived/$ref"),
                     "#/components/messages/thing-archived");
    cr_assert_str_eq(str_at(d, "channels/faults/messages/fault/$ref"),
                     "#/components/messages/fault");
    /* Receive on each source topic, send on the sink and the faults. */
    cr_assert_eq(json_object_size(json_object_get(d, "operations")), 4);
    cr_assert_str_eq(str_at(d, "operations/receive-events/action"), "receive");
    cr_assert_str_eq(str_at(d, "operations/receive-events/channel/$ref"), "#/channels/events");
    cr_assert(op_has(d, "receive-events", "events", "thing-created"));
    cr_assert(op_has(d, "receive-more", "more", "thing-created"));
    cr_assert_str_eq(str_at(d, "operations/send-out/action"), "send");
    cr_assert(op_has(d, "send-out", "out", "thing-archived"));
    cr_assert(op_has(d, "send-faults", "faults", "fault"));
    /* Messages carry their schemas, embedded and self-contained. */
    cr_assert_str_eq(str_at(d, "components/messages/thing-created/payload/$ref"),
                     "#/components/schemas/thing-event");
    cr_assert_str_eq(str_at(d, "components/messages/fault/payload/$ref"),
                     "#/components/schemas/fault");
    cr_assert_str_eq(str_at(d, "components/messages/thing-archived/payload/$ref"),
                     "#/components/schemas/archived");
    json_t *arch = at(d, "components", "schemas", "archived");
    cr_assert(arch);
    cr_assert_null(json_object_get(arch, "$id"));
    cr_assert_null(json_object_get(arch, "$schema"));
    cr_assert_str_eq(str_at(arch, "properties/thing/$ref"),
                     "#/components/schemas/archived/$defs/thing");
    cr_assert_str_eq(str_at(arch, "properties/base/$ref"), "#/components/schemas/event");
    cr_assert(at(d, "components", "schemas", "event"), "event.json is embedded once referred to");
    json_decref(d);
    sl_processor_destroy(p);
}

Test(describe, fault_schema_refs_point_into_the_document)
{
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    sl_sink_t *f = sl_kafka_sink_new(p, "faults", err, sizeof err);
    cr_assert_eq(sl_processor_set_fault_sink(p, f), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    char *s = NULL;
    cr_assert_eq(sl_processor_describe(p, NULL, &s), 0);
    /* Every $ref is local to the document: none left to a file or $defs root. */
    cr_assert_null(strstr(s, "\"#/$defs"), "%s", s);
    cr_assert_null(strstr(s, "\"event.json\""));
    cr_assert_null(strstr(s, "https://sluice.dev/schemas/event.json\""));
    cr_assert(strstr(s, "\"#/components/schemas/fault/$defs/base64\""));
    sl_free(s);
    sl_processor_destroy(p);
}

Test(describe, a_pipeline_without_declarations_has_the_generic_event)
{
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    json_t *d = describe(p);
    cr_assert_str_eq(str_at(d, "channels/in/messages/event/$ref"), "#/components/messages/event");
    cr_assert_str_eq(str_at(d, "channels/out/messages/event/$ref"), "#/components/messages/event");
    cr_assert_str_eq(str_at(d, "components/messages/event/payload/$ref"),
                     "#/components/schemas/event");
    json_decref(d);
    sl_processor_destroy(p);
}

static int never_write(void *o, sl_uow_t *const *u, size_t n)
{
    (void)o;
    (void)u;
    (void)n;
    return SL_ESINKDOWN;
}

Test(describe, a_sink_that_is_not_a_stream_is_not_a_channel)
{
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_sink_ops_t ops = {.name = "mine", .write = never_write};
    sl_sink_t *mine = sl_sink_new(&ops, NULL);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_consumes(pl, "a", NULL), 0);
    cr_assert_eq(sl_pipeline_sink(pl, mine), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    json_t *d = describe(p);
    cr_assert_eq(json_object_size(json_object_get(d, "channels")), 2);
    cr_assert(at(d, "channels", "in", NULL) && at(d, "channels", "f", NULL));
    cr_assert_eq(json_object_size(json_object_get(d, "operations")), 2);
    cr_assert(op_has(d, "receive-in", "in", "a"));
    json_decref(d);
    sl_processor_destroy(p);
    sl_sink_destroy(mine);
}

Test(describe, real_kafka_connectors_name_their_channels)
{
    /* Not describe-only: clients are made (an embedded broker), and the
     * description names the broker they use. */
    sl_processor_t *p = proc("embedded", 0);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    sl_sink_t *out = sl_kafka_sink_new(p, "out", err, sizeof err);
    cr_assert(out, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_sink(pl, out), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    json_t *d = describe(p);
    const char *bs = sl_kafka_bootstrap(p);
    cr_assert(bs && strcmp(bs, "embedded"));
    cr_assert_str_eq(str_at(d, "servers/kafka/host"), bs);
    cr_assert_str_eq(str_at(d, "channels/in/address"), "in");
    cr_assert_str_eq(str_at(d, "channels/out/address"), "out");
    cr_assert_str_eq(str_at(d, "channels/f/address"), "f");
    cr_assert(op_has(d, "send-out", "out", "event"));
    json_decref(d);
    sl_processor_destroy(p);
}

Test(describe, cdc_declares_its_change_records_and_entity_events)
{
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "changes", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    const char *fmts[] = {"ddb", "dbz"};
    for (int i = 0; i < 2; i++) {
        sl_pipeline_t *pl = sl_pipeline_new(fmts[i]);
        sl_cdc_opts_t o = {
            .format = i ? SL_CDC_DEBEZIUM : SL_CDC_DYNAMODB, .entity = "thing", .source = "things"};
        cr_assert_eq(sl_cdc(pl, &o), 0, "%s", sl_pipeline_error(pl));
        cr_assert_eq(
            sl_pipeline_sink(pl, sl_kafka_sink_new(p, i ? "out2" : "out1", err, sizeof err)), 0);
        cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    }
    json_t *d = describe(p);
    cr_assert(op_has(d, "receive-changes", "changes", "dynamodb-stream-record"));
    cr_assert(op_has(d, "receive-changes", "changes", "debezium-envelope"));
    const char *verbs[] = {"created", "updated", "deleted", "undeleted"};
    for (int i = 0; i < 4; i++) {
        char m[64];
        snprintf(m, sizeof m, "thing-%s", verbs[i]);
        cr_assert(op_has(d, "send-out1", "out1", m), "%s", m);
        cr_assert(op_has(d, "send-out2", "out2", m), "%s", m);
    }
    /* A TTL expiry is DynamoDB's only. */
    cr_assert(op_has(d, "send-out1", "out1", "thing-expired"));
    cr_assert(!op_has(d, "send-out2", "out2", "thing-expired"));
    cr_assert_str_eq(str_at(d, "components/messages/thing-created/payload/$ref"),
                     "#/components/schemas/thing-event");
    json_decref(d);
    sl_processor_destroy(p);
}

Test(describe, yaml_quotes_what_yaml_would_read_otherwise)
{
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    /* "on" and "no" are booleans to YAML 1.1 readers; a quote and a newline
     * must be escaped. */
    cr_assert_eq(sl_pipeline_consumes(pl, "on", NULL), 0);
    cr_assert_eq(sl_pipeline_consumes(pl, "No", NULL), 0);
    cr_assert_eq(sl_pipeline_consumes(pl, "say \"hi\"\nnow", NULL), 0);
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    char *y = NULL;
    cr_assert_eq(sl_processor_describe(p, "yaml", &y), 0);
    cr_assert(!strncmp(y, "asyncapi: \"3.0.0\"\ninfo:\n  title: \"svc\"\n", 38), "%s", y);
    cr_assert(strstr(y, "\n      \"on\":\n"), "%s", y);
    cr_assert(strstr(y, "\n      \"No\":\n"), "%s", y);
    cr_assert_null(strstr(y, " on:"));
    cr_assert(strstr(y, "title: \"say \\\"hi\\\"\\nnow\"\n"), "%s", y);
    cr_assert(strstr(y, "      - $ref: \"#/channels/in/messages/on\"\n"), "%s", y);
    cr_assert(strstr(y, "messages:\n      - $ref:"), "%s", y);
    sl_free(y);
    sl_processor_destroy(p);
}

Test(describe, a_bad_format_is_refused)
{
    sl_processor_t *p = proc("h:9092", 1);
    char *s = (char *)"x";
    cr_assert_eq(sl_processor_describe(p, "xml", &s), SL_EINVAL);
    cr_assert_null(s);
    cr_assert_eq(sl_processor_describe(NULL, "json", &s), SL_EINVAL);
    cr_assert_eq(sl_processor_describe(p, "json", NULL), SL_EINVAL);
    sl_processor_destroy(p);
}

Test(describe, describe_only_processor_does_not_run)
{
    /* Even an embedded broker is not started: the bootstrap stays the word. */
    sl_processor_t *p = proc("embedded", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(sl_kafka_bootstrap(p), "embedded");
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_run(p), SL_EINVAL);
    sl_processor_destroy(p);
}

Test(describe, declarations_are_checked)
{
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_consumes(p, "a", "not json"), SL_EINVAL);
    cr_assert(strstr(sl_pipeline_error(p), "not JSON"), "%s", sl_pipeline_error(p));
    cr_assert_eq(sl_pipeline_consumes(p, "a", "[1]"), SL_EINVAL);
    cr_assert(strstr(sl_pipeline_error(p), "object"), "%s", sl_pipeline_error(p));
    cr_assert_eq(sl_pipeline_produces(p, "", NULL), SL_EINVAL);
    cr_assert_eq(sl_pipeline_consumes(NULL, "a", NULL), SL_EINVAL);
    cr_assert_eq(sl_pipeline_filter_consumed(p), SL_EINVAL, "nothing declared yet");
    cr_assert(strstr(sl_pipeline_error(p), "no consumed type"), "%s", sl_pipeline_error(p));
    cr_assert_eq(sl_pipeline_consumes(p, NULL, NULL), 0);
    cr_assert_eq(sl_pipeline_filter_consumed(p), SL_EINVAL, "any type: nothing to filter");
    cr_assert_null(sl_schema("nope"));
    cr_assert(sl_schema("fault") && strstr(sl_schema("fault"), "sluice fault event"));
    sl_pipeline_destroy(p);

    sl_test_t *t = driver(NULL);
    sl_pipeline_t *q = sl_pipeline_new("q");
    cr_assert_eq(sl_pipeline_sink(q, sl_test_sink_handle(sl_test_sink_new(t, "o", 0, 0, 0))), 0);
    cr_assert_eq(sl_test_add_pipeline(t, q), 0);
    cr_assert_eq(sl_pipeline_consumes(q, "a", NULL), SL_ESTATE);
    sl_test_destroy(t);
}

Test(describe, filter_consumed_keeps_the_declared_types)
{
    sl_test_t *t = driver(NULL);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_consumes(p, "thing-created", sl_schema("thing-event")), 0);
    cr_assert_eq(sl_pipeline_consumes(p, "thing-deleted", sl_schema("thing-event")), 0);
    cr_assert_eq(sl_pipeline_produces(p, "other", NULL), 0);
    cr_assert_eq(sl_pipeline_filter_consumed(p), 0, "%s", sl_pipeline_error(p));
    cr_assert_eq(sl_pipeline_sink(p, sl_test_sink_handle(s)), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    char b[256];
    const char *types[] = {"thing-created", "thing-updated", "thing-deleted", "other"};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, NULL, ev(b, sizeof b, types[i], "k", i)), 0);
    cr_assert_eq(sl_test_sink_count(s), 2);
    cr_assert_eq(sl_test_sink_msg(s, 0)->offset, 0);
    cr_assert_eq(sl_test_sink_msg(s, 1)->offset, 2);
    sl_test_destroy(t);
}

/* A processor with every kind of declaration, for the allocation test. */
static sl_processor_t *full_proc(void)
{
    sl_processor_t *p = proc("h1:9092,h2:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_consumes(pl, "thing-created", sl_schema("thing-event")), 0);
    cr_assert_eq(sl_pipeline_consumes(pl, "on", NULL), 0);
    cr_assert_eq(sl_pipeline_produces(pl, "thing-archived", archived_schema), 0);
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    return p;
}

Test(describe, every_allocation_can_fail)
{
    /* jansson's allocations too: the document is whole or SL_ENOMEM,
     * never a partial one. */
    sl_mem_use_for_jansson();
    sl_processor_t *p = full_proc();
    const char *fmts[] = {"json", "yaml"};
    for (int f = 0; f < 2; f++) {
        char *want = NULL;
        sl_mem_stats_t a, b;
        sl_mem_stats(&a);
        cr_assert_eq(sl_processor_describe(p, fmts[f], &want), 0);
        sl_mem_stats(&b);
        uint64_t n = b.allocs - a.allocs + 1;
        cr_assert_gt(n, 50);
        size_t ok = 0, nomem = 0;
        for (uint64_t i = 1; i <= n; i++) {
            for (int sticky = 0; sticky < 2; sticky++) {
                char *got = NULL;
                sl_mem_fail_at(i, sticky);
                int rc = sl_processor_describe(p, fmts[f], &got);
                sl_mem_fail_at(0, 0);
                if (rc == 0) {
                    cr_assert_str_eq(got, want, "%s, allocation %llu failed", fmts[f],
                                     (unsigned long long)i);
                    ok++;
                } else {
                    cr_assert_eq(rc, SL_ENOMEM, "%s, allocation %llu: %d", fmts[f],
                                 (unsigned long long)i, rc);
                    cr_assert_null(got);
                    nomem++;
                }
                sl_free(got);
            }
        }
        cr_assert_gt(nomem, 0);
        sl_free(want);
    }
    sl_processor_destroy(p);
}

Test(describe, long_names_still_give_distinct_keys)
{
    /* Keys are cut to fit; two types alike in their first 200 bytes must
     * still be two messages (and not loop looking for a free key). */
    sl_processor_t *p = proc("h:9092", 1);
    char err[256];
    cr_assert_eq(sl_kafka_source_attach(p, "in", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_processor_set_fault_sink(p, sl_kafka_sink_new(p, "f", err, sizeof err)), 0);
    char a[301], b[301];
    memset(a, 'x', 300);
    a[300] = 0;
    memcpy(b, a, sizeof b);
    a[299] = 'a';
    b[299] = 'b';
    sl_pipeline_t *pl = sl_pipeline_new("p");
    cr_assert_eq(sl_pipeline_consumes(pl, a, NULL), 0);
    cr_assert_eq(sl_pipeline_consumes(pl, b, NULL), 0);
    cr_assert_eq(sl_pipeline_sink(pl, sl_kafka_sink_new(p, "out", err, sizeof err)), 0);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    json_t *d = describe(p);
    json_t *msgs = at(d, "channels", "in", "messages");
    cr_assert_eq(json_object_size(msgs), 2);
    cr_assert_eq(json_array_size(at(d, "operations", "receive-in", "messages")), 2);
    json_decref(d);
    sl_processor_destroy(p);
}
