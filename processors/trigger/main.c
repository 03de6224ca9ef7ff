/* sluice-trigger — consume change records of a service's own store, publish
 * domain events.
 *
 * The cdc flavor over a Kafka source: DynamoDB Streams records or Debezium
 * envelopes → <entity>-created|updated|deleted events with raw.new/raw.old,
 * a partitionKey from the record's key and an id derived from the record's
 * position → batches → a Kafka topic. A malformed change record becomes a
 * fault; the rest flows. See --help. */
#include <stdio.h>
#include <string.h>

#include <sluice/sluice.h>

#include "common/cli.h"

#define PROG "sluice-trigger"

int main(int argc, char **argv)
{
    cli_t c;
    int rc = cli_parse(&c, PROG, CLI_TRIGGER, argc, argv);
    if (rc) {
        cli_free(&c);
        return rc < 0 ? 0 : rc;
    }
    for (const char *e = c.entity; *e; e++)
        if (!((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
              *e == '-' || *e == '_')) {
            cli_error(&c, "--entity %s: letters, digits, '-' and '_' only", c.entity);
            cli_free(&c);
            return EXIT_USAGE;
        }
    sl_processor_t *p = cli_processor(&c);
    if (!p) {
        cli_free(&c);
        return EXIT_USAGE;
    }
    sl_sink_t *out = cli_sink(&c, p, c.sink, "--sink");
    if (!out) {
        sl_processor_destroy(p);
        cli_free(&c);
        return EXIT_USAGE;
    }
    sl_cdc_opts_t o = {.format = strcmp(c.format, "dynamodb") ? SL_CDC_DEBEZIUM : SL_CDC_DYNAMODB,
                       .entity = c.entity,
                       .source = c.name};
    sl_pipeline_t *pl = sl_pipeline_new("cdc");
    sl_batch_opts_t b = {0, 0, -1};
    int prc = pl ? sl_cdc(pl, &o) : SL_ENOMEM;
    if (!prc)
        prc = sl_pipeline_batch(pl, &b);
    if (!prc)
        prc = sl_pipeline_sink(pl, out);
    if (!prc)
        prc = sl_processor_add_pipeline(p, pl);
    if (prc) {
        cli_error(&c, "cannot build the pipeline: %s", sl_strerror(prc));
        sl_pipeline_destroy(pl);
        sl_processor_destroy(p);
        cli_free(&c);
        return EXIT_RUNTIME;
    }
    rc = cli_run(p);
    sl_processor_destroy(p);
    cli_free(&c);
    return rc;
}
