/* sluice-trigger — consume change records of a service's own store, publish
 * domain events.
 *
 * The cdc flavor over a Kafka source: DynamoDB Streams records or Debezium
 * envelopes → <entity>-created|updated|deleted|undeleted|expired events with
 * raw.new/raw.old, a partitionKey from the record's key and an id derived
 * from the change's identity (else the record's position) → batches → a
 * Kafka topic. Latched records and global-table replicas are skipped. A
 * malformed change record becomes a fault; the rest flows. See --help.
 *
 * The cdc options are parsed here and taken out of argv before the common
 * parser (processors/common/cli.c) sees the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "common/cli.h"

#define PROG "sluice-trigger"
#define MAX_DROP 64
#define DEFAULT_DROP "pk,sk,discriminator,ttl,latched,awsregion"

typedef struct topts_s {
    const char *service, *account, *stage, *region, *drop, *expired;
    const char *latched_attr, *region_attr, *discriminator_attr, *sk_attr, *deleted_attr, *pk_attr;
    int keep_latched, keep_replicas;
} topts_t;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void help(void)
{
    printf("\nTrigger options (the cdc flavor; also SLUICE_DROP, SLUICE_EXPIRED):\n"
           "  --service NAME                tags.source: the service's name          "
           "SLUICE_SERVICE\n"
           "                                (default: --name)\n"
           "  --account NAME, --stage NAME  tags.account, tags.stage                  "
           "SLUICE_ACCOUNT, SLUICE_STAGE\n"
           "  --region NAME                 this processor's region: replicas from    "
           "SLUICE_REGION\n"
           "                                other regions are skipped (default\n"
           "                                AWS_REGION; none: no replica check)\n"
           "  --keep-latched                publish records whose image has latched true\n"
           "  --keep-replicas               publish global-table replicas\n"
           "  --expired event|skip|delete   a DynamoDB TTL removal: NAME-expired (default),\n"
           "                                not published, or NAME-deleted\n"
           "  --drop A,B,...|none           attributes left out of the entity (raw keeps\n"
           "                                all; default " DEFAULT_DROP ")\n"
           "  --latched-attr, --region-attr, --discriminator-attr, --sk-attr,\n"
           "  --deleted-attr NAME           attribute names (default latched, awsregion,\n"
           "                                discriminator, sk, deleted)\n"
           "  --pk-attr NAME                DynamoDB: partitionKey from Keys.NAME when\n"
           "                                present (default pk), else the record key,\n"
           "                                else the Keys joined\n");
}

/* Takes the trigger's own flags out of argv. Returns 0, or EXIT_USAGE after
 * printing why. */
static int trigger_flags(topts_t *t, int *argc, char **argv)
{
    struct {
        const char *flag;
        const char **dst;
    } vals[] = {{"--service", &t->service},
                {"--account", &t->account},
                {"--stage", &t->stage},
                {"--region", &t->region},
                {"--drop", &t->drop},
                {"--expired", &t->expired},
                {"--latched-attr", &t->latched_attr},
                {"--region-attr", &t->region_attr},
                {"--discriminator-attr", &t->discriminator_attr},
                {"--sk-attr", &t->sk_attr},
                {"--pk-attr", &t->pk_attr},
                {"--deleted-attr", &t->deleted_attr}};
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        if (!strcmp(a, "--keep-latched"))
            t->keep_latched = matched = 1;
        else if (!strcmp(a, "--keep-replicas"))
            t->keep_replicas = matched = 1;
        for (size_t k = 0; k < sizeof vals / sizeof *vals && !matched; k++) {
            size_t fl = strlen(vals[k].flag);
            if (strncmp(a, vals[k].flag, fl) || (a[fl] && a[fl] != '='))
                continue;
            const char *v = a[fl] == '=' ? a + fl + 1 : i + 1 < *argc ? argv[++i] : NULL;
            if (!v || !*v) {
                fprintf(stderr, "%s: %s needs a non-empty value (see --help)\n", PROG,
                        vals[k].flag);
                return EXIT_USAGE;
            }
            *vals[k].dst = v;
            matched = 1;
        }
        if (!matched)
            argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

int main(int argc, char **argv)
{
    topts_t t = {.service = env("SLUICE_SERVICE"),
                 .account = env("SLUICE_ACCOUNT"),
                 .stage = env("SLUICE_STAGE"),
                 .region = env("SLUICE_REGION") ? env("SLUICE_REGION") : env("AWS_REGION"),
                 .drop = env("SLUICE_DROP"),
                 .expired = env("SLUICE_EXPIRED")};
    int want_help = 0;
    for (int i = 1; i < argc; i++)
        want_help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    cli_t c;
    int rc = trigger_flags(&t, &argc, argv);
    if (rc)
        return rc;
    rc = cli_parse(&c, PROG, CLI_TRIGGER, argc, argv);
    if (rc) {
        if (rc < 0 && want_help)
            help();
        cli_free(&c);
        return rc < 0 ? 0 : rc;
    }
    for (const char *e = c.entity; e && *e; e++)
        if (!((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
              *e == '-' || *e == '_')) {
            cli_error(&c, "--entity %s: letters, digits, '-' and '_' only", c.entity);
            cli_free(&c);
            return EXIT_USAGE;
        }
    sl_cdc_expired_t expired = SL_CDC_EXPIRED_EVENT;
    if (t.expired && !strcmp(t.expired, "skip"))
        expired = SL_CDC_EXPIRED_SKIP;
    else if (t.expired && !strcmp(t.expired, "delete"))
        expired = SL_CDC_EXPIRED_DELETE;
    else if (t.expired && strcmp(t.expired, "event")) {
        cli_error(&c, "--expired %s: expected event, skip or delete", t.expired);
        cli_free(&c);
        return EXIT_USAGE;
    }
    /* --drop: a comma list, "none" for an empty one. */
    char *drop_buf = strdup(t.drop ? t.drop : DEFAULT_DROP);
    const char *drop[MAX_DROP];
    size_t ndrop = 0;
    if (!drop_buf) {
        cli_error(&c, "out of memory");
        cli_free(&c);
        return EXIT_RUNTIME;
    }
    if (strcmp(drop_buf, "none"))
        for (char *a = strtok(drop_buf, ","); a; a = strtok(NULL, ",")) {
            if (ndrop == MAX_DROP) {
                cli_error(&c, "--drop: at most %d attributes", MAX_DROP);
                free(drop_buf);
                cli_free(&c);
                return EXIT_USAGE;
            }
            drop[ndrop++] = a;
        }
    sl_processor_t *p = cli_processor(&c);
    if (!p) {
        free(drop_buf);
        cli_free(&c);
        return EXIT_USAGE;
    }
    sl_sink_t *out = cli_sink(&c, p, c.sink, "--sink");
    if (!out) {
        sl_processor_destroy(p);
        free(drop_buf);
        cli_free(&c);
        return EXIT_USAGE;
    }
    sl_cdc_opts_t o = {.format = strcmp(c.format, "dynamodb") ? SL_CDC_DEBEZIUM : SL_CDC_DYNAMODB,
                       .entity = c.entity,
                       .source = t.service ? t.service : c.name,
                       .keep_latched = t.keep_latched,
                       .keep_replicas = t.keep_replicas,
                       .region = t.region,
                       .latched_attr = t.latched_attr,
                       .region_attr = t.region_attr,
                       .discriminator_attr = t.discriminator_attr,
                       .sk_attr = t.sk_attr,
                       .pk_attr = t.pk_attr ? t.pk_attr : "pk",
                       .deleted_attr = t.deleted_attr,
                       .expired = expired,
                       .drop = ndrop ? drop : NULL,
                       .drop_count = ndrop,
                       .account = t.account,
                       .stage = t.stage,
                       .function_name = c.name,
                       .pipeline = "cdc"};
    sl_pipeline_t *pl = sl_pipeline_new("cdc");
    sl_batch_opts_t b = {0, 0, -1};
    int prc = pl ? sl_cdc(pl, &o) : SL_ENOMEM; /* copies the options */
    free(drop_buf);
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
    rc = cli_start(&c, p);
    sl_processor_destroy(p);
    cli_free(&c);
    return rc;
}
