/* orders: a whole service over Kafka.
 *
 * Reads order events from the topic "orders", keeps the "order-placed" ones,
 * turns each into a small summary read from the event body, batches the
 * summaries and produces them to "order-summaries". An order without a field
 * the summary needs becomes a fault event on "faults", saying which field,
 * and the stream goes on.
 *
 *   orders [--describe[=json|yaml]] BOOTSTRAP_SERVERS [GROUP]
 *
 * --describe prints the service's AsyncAPI 3.0 document (what it consumes
 * and produces, with their schemas) and exits 0, connecting to nothing.
 * Exit codes: 0 drained and committed; 1 could not run, or stopped because
 * a sink is unusable; 2 bad usage; 3 the drain timed out (what was in flight
 * is read again by the next run: nothing is lost). */
#include <sluice/sluice.h>

#include <stdio.h>
#include <string.h>

/* map: an order-placed event
 *   {"type":"order-placed","partitionKey":"o1",
 *    "order":{"id":"o1","customer":"c7","items":[...],"total":120}}
 * becomes {"order":"o1","customer":"c7","items":2,"total":120}, keyed like
 * the event (its partitionKey), so one order's events stay in order. */
static sl_result_t summarize(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    /* The whole event, parsed once for every pipeline; borrowed: never
     * modify or decref it. */
    json_t *body = sl_uow_body(u);
    if (!body) {
        sl_uow_fail(u, SL_ENOMEM, "cannot parse the event body");
        return SL_RETRY; /* out of memory: retried with backoff, then a fault */
    }
    json_t *order = json_object_get(body, "order");
    const char *id = json_string_value(json_object_get(order, "id"));
    const char *customer = json_string_value(json_object_get(order, "customer"));
    json_t *items = json_object_get(order, "items");
    json_t *total = json_object_get(order, "total");
    const char *missing = !json_is_object(order)   ? "order"
                          : !id                    ? "order.id"
                          : !customer              ? "order.customer"
                          : !json_is_array(items)  ? "order.items"
                          : !json_is_number(total) ? "order.total"
                                                   : NULL;
    if (missing) {
        char why[64];
        snprintf(why, sizeof why, "order-placed without %s", missing);
        sl_uow_fail(u, SL_EFIELD, why); /* the fault event's err.message */
        return SL_FAULT;
    }
    json_t *summary = json_pack("{s:s, s:s, s:I, s:O}", "order", id, "customer", customer, "items",
                                (json_int_t)json_array_size(items), "total", total);
    /* NULL key: the output keeps the event's key. The output is copied. */
    int rc = summary ? sl_uow_set_output_json(u, NULL, 0, summary) : SL_ENOMEM;
    json_decref(summary);
    return rc ? SL_RETRY : SL_OK;
}

/* The summary's JSON Schema: declared with the pipeline, it is part of the
 * service's description. */
static const char summary_schema[] =
    "{\"title\":\"order summary\",\"type\":\"object\","
    "\"required\":[\"order\",\"customer\",\"items\",\"total\"],"
    "\"properties\":{\"order\":{\"type\":\"string\"},\"customer\":{\"type\":\"string\"},"
    "\"items\":{\"type\":\"integer\"},\"total\":{\"type\":\"number\"}}}";

int main(int argc, char **argv)
{
    const char *prog = argv[0], *describe = NULL; /* --describe[=json|yaml] */
    if (argc > 1 && !strncmp(argv[1], "--describe", 10) && (!argv[1][10] || argv[1][10] == '=')) {
        describe = argv[1][10] ? argv[1] + 11 : "json";
        argv++;
        argc--;
    }
    if (argc < 2 || argc > 3 ||
        (describe && strcmp(describe, "json") && strcmp(describe, "yaml"))) {
        fprintf(stderr, "usage: %s [--describe[=json|yaml]] BOOTSTRAP_SERVERS [GROUP]\n", prog);
        return 2;
    }
    char err[512];

    /* The processor copies the configuration: ours is freed right away. */
    sl_conf_t *conf = sl_conf_new();
    if (!conf) {
        fputs("orders: out of memory\n", stderr);
        return 1;
    }
    if (sl_conf_set(conf, "processor.name", "orders", err, sizeof err) ||
        sl_conf_set(conf, "kafka.bootstrap.servers", argv[1], err, sizeof err) ||
        sl_conf_set(conf, "kafka.group.id", argc > 2 ? argv[2] : "orders", err, sizeof err)) {
        fprintf(stderr, "orders: %s\n", err);
        sl_conf_destroy(conf);
        return 2;
    }
    sl_processor_t *proc = sl_processor_new(conf, err, sizeof err);
    sl_conf_destroy(conf);
    if (!proc) {
        fprintf(stderr, "orders: %s\n", err);
        return 1;
    }
    /* To describe it, the connectors below make no client: nothing connects. */
    if (describe && sl_processor_describe_only(proc)) {
        fputs("orders: out of memory\n", stderr);
        sl_processor_destroy(proc);
        return 1;
    }

    /* Kafka sinks belong to the processor (destroyed with it): never
     * sl_sink_destroy() them. */
    sl_sink_t *summaries = sl_kafka_sink_new(proc, "order-summaries", err, sizeof err);
    sl_sink_t *faults = summaries ? sl_kafka_sink_new(proc, "faults", err, sizeof err) : NULL;
    if (!faults || sl_kafka_source_attach(proc, "orders", err, sizeof err)) {
        fprintf(stderr, "orders: %s\n", err);
        sl_processor_destroy(proc);
        return 1;
    }
    if (sl_processor_set_fault_sink(proc, faults)) {
        fputs("orders: cannot set the fault sink\n", stderr);
        sl_processor_destroy(proc);
        return 1;
    }

    /* The pipeline is ours until sl_processor_add_pipeline() succeeds, then
     * the processor's. A failed builder leaves the pipeline unchanged and
     * says why in sl_pipeline_error(), so one check at the end will do. */
    sl_pipeline_t *p = sl_pipeline_new("order-summaries");
    sl_batch_opts_t batch = {.max_events = 100, .max_bytes = 0, .linger_ms = 20};
    /* What it consumes and produces, declared once: the consumed type is
     * also its type filter (sl_pipeline_filter_consumed()). */
    if (!p || sl_pipeline_consumes(p, "order-placed", sl_schema("event")) ||
        sl_pipeline_produces(p, "order-summary", summary_schema) ||
        sl_pipeline_filter_consumed(p) || sl_pipeline_map(p, summarize, NULL) ||
        sl_pipeline_batch(p, &batch) || sl_pipeline_sink(p, summaries) ||
        sl_processor_add_pipeline(proc, p)) {
        fprintf(stderr, "orders: %s\n", p ? sl_pipeline_error(p) : "out of memory");
        sl_pipeline_destroy(p); /* not added: still ours */
        sl_processor_destroy(proc);
        return 1;
    }

    if (describe) {
        char *doc = NULL;
        int drc = sl_processor_describe(proc, describe, &doc);
        if (!drc)
            fputs(doc, stdout);
        sl_free(doc);
        sl_processor_destroy(proc);
        return drc ? 1 : 0;
    }

    /* Runs until SIGTERM or SIGINT, then drains: stops reading, flushes the
     * batch, waits for the delivery reports (drain.timeout.ms), commits. */
    int rc = sl_processor_run(proc);
    sl_processor_destroy(proc); /* with it the pipeline and the Kafka sinks */
    if (rc == 0)
        return 0; /* every record read is done and committed */
    fprintf(stderr, "orders: %s: %s\n", sl_err_name(rc), sl_strerror(rc));
    /* SL_ETIMEDOUT: records still in flight will be read again. Anything
     * else (SL_EIO: brokers unreachable; SL_ESINKDOWN: a sink cannot work;
     * SL_EINVAL: cannot start) is logged with its reason. */
    return rc == SL_ETIMEDOUT ? 3 : 1;
}
