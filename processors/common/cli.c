/* Command line and environment of the sluice service binaries. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

void cli_error(const cli_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(const cli_t *c, FILE *f)
{
    fprintf(f, "usage: %s [options]\n\n", c->prog);
    if (c->kind == CLI_LISTENER)
        fprintf(f, "Consume domain events and keep a materialized view of the newest state per "
                   "key\n(upsert only if newer, delete on *-deleted).\n\n");
    else
        fprintf(f, "Consume change records of a store (DynamoDB Streams or Debezium) and publish\n"
                   "domain events <entity>-created|updated|deleted.\n\n");
    fprintf(f, "  --source kafka:TOPIC[,TOPIC]  where records come from (required)       "
               "SLUICE_SOURCE\n"
               "        or kinesis:STREAM\n");
    if (c->kind == CLI_TRIGGER)
        fprintf(f, "  --sink kafka:TOPIC|kinesis:STREAM  where domain events go (required)   "
                   "SLUICE_SINK\n");
    fprintf(f,
            "  --faults kafka:TOPIC          fault events (default kafka:faults)        "
            "SLUICE_FAULTS\n"
            "  --group ID                    consumer group (default: the name)         "
            "SLUICE_GROUP\n"
            "  --instance-id ID              static member of the Kafka group           "
            "SLUICE_INSTANCE_ID\n"
            "                                (group.instance.id: a restart within\n"
            "                                session.timeout.ms gets its partitions back\n"
            "                                without a rebalance; unique per member)\n"
            "  --name NAME                   processor name in logs, tags, faults       "
            "SLUICE_NAME\n"
            "                                (default %s)\n",
            c->kind == CLI_LISTENER ? "listener" : "trigger");
    if (c->kind == CLI_LISTENER)
        fprintf(f, "  --types T1,T2,...             event types to keep (default: all;       "
                   "SLUICE_TYPES\n"
                   "                                a trailing * matches a prefix)\n"
                   "  --key /JSON/POINTER           the entity key in the event (required)   "
                   "SLUICE_KEY\n"
                   "  --entity-at /JSON/POINTER     what to store (default: the key's first  "
                   "SLUICE_ENTITY_AT\n"
                   "                                token, e.g. /thing for /thing/id)\n"
                   "  --view sqlite:PATH[#TABLE]    the view store (default sqlite:view.db)  "
                   "SLUICE_VIEW\n");
    else
        fprintf(f, "  --format dynamodb|debezium    change record format (required)          "
                   "SLUICE_FORMAT\n"
                   "  --entity NAME                 entity name: types NAME-created|updated|  "
                   "SLUICE_ENTITY\n"
                   "                                deleted, payload under NAME (default:\n"
                   "                                each image's discriminator, else sk)\n"
                   "  (more trigger options below)\n");
    fprintf(f, "  --http ADDR:PORT              serve /metrics, /health, /ready (off;     "
               "SLUICE_HTTP\n"
               "                                e.g. 0.0.0.0:9464, [::1]:9464)\n"
               "  --log-level LEVEL             debug, info (default), warn or error     "
               "SLUICE_LOG_LEVEL\n");
    fprintf(f,
            "  -X KEY=VALUE                  librdkafka property, e.g.                  "
            "SLUICE_KAFKA_KEY\n"
            "                                -X bootstrap.servers=host:9092 or =embedded\n"
            "  -c KEY=VALUE                  sluice property, e.g. -c batch.max.events=100  "
            "SLUICE_CONF_KEY\n"
            "  --describe[=json|yaml]        print this processor's AsyncAPI 3.0 document\n"
            "                                (servers, channels, operations, messages with\n"
            "                                their JSON Schemas) and exit, connecting to\n"
            "                                nothing (default json)\n"
            "  --help, --version\n\n"
            "Environment: SLUICE_KAFKA_BOOTSTRAP_SERVERS=h:9092 is -X bootstrap.servers=h:9092\n"
            "(after the prefix: lower case, '_' becomes '.'); likewise SLUICE_CONF_*. Flags win\n"
            "over the environment. Logs are JSON lines on stderr. SIGTERM or SIGINT drains:\n"
            "exit 0 when every record read was done and committed, 3 when the drain timed\n"
            "out (those records are read again), 1 when it could not run, 2 for bad usage.\n");
}

static int push(const char ***arr, size_t *n, const char *v)
{
    const char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return -1;
    a[(*n)++] = v;
    *arr = a;
    return 0;
}

/* "SLUICE_KAFKA_BOOTSTRAP_SERVERS=x" → "bootstrap.servers=x" (owned by c). */
static const char *env_prop(cli_t *c, const char *rest)
{
    const char *eq = strchr(rest, '=');
    if (!eq || eq == rest)
        return NULL;
    char *s = strdup(rest);
    if (!s)
        return NULL;
    for (char *p = s; *p && p < s + (eq - rest); p++)
        *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    char **o = realloc(c->owned, (c->nowned + 1) * sizeof *o);
    if (!o) {
        free(s);
        return NULL;
    }
    c->owned = o;
    c->owned[c->nowned++] = s;
    return s;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int kv_ok(const char *s)
{
    const char *eq = strchr(s, '=');
    return eq && eq != s;
}

int cli_parse(cli_t *c, const char *prog, int kind, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->kind = kind;
    c->source = env("SLUICE_SOURCE");
    c->sink = env("SLUICE_SINK");
    c->faults = env("SLUICE_FAULTS");
    c->group = env("SLUICE_GROUP");
    c->instance_id = env("SLUICE_INSTANCE_ID");
    c->name = env("SLUICE_NAME");
    c->types = env("SLUICE_TYPES");
    c->key = env("SLUICE_KEY");
    c->entity_at = env("SLUICE_ENTITY_AT");
    c->view = env("SLUICE_VIEW");
    c->format = env("SLUICE_FORMAT");
    c->entity = env("SLUICE_ENTITY");
    c->http = env("SLUICE_HTTP");
    c->log_level = env("SLUICE_LOG_LEVEL");
    for (char **e = environ; e && *e; e++) {
        const char *p = NULL;
        if (!strncmp(*e, "SLUICE_KAFKA_", 13) && (p = env_prop(c, *e + 13)))
            push(&c->xkv, &c->nx, p);
        else if (!strncmp(*e, "SLUICE_CONF_", 12) && (p = env_prop(c, *e + 12)))
            push(&c->ckv, &c->nc, p);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(c, stdout);
            return -1;
        }
        if (!strcmp(a, "--version")) {
            printf("%s (sluice) %s\n", prog, sl_version());
            return -1;
        }
        if (!strncmp(a, "--describe", 10) && (!a[10] || a[10] == '=')) {
            c->describe = a[10] ? a + 11 : "json";
            if (strcmp(c->describe, "json") && strcmp(c->describe, "yaml")) {
                cli_error(c,
                          "--describe=%s: expected --describe, --describe=json or "
                          "--describe=yaml",
                          c->describe);
                return EXIT_USAGE;
            }
            continue;
        }
        struct {
            const char *flag;
            const char **dst;
            int kinds;
        } opts[] = {
            {"--source", &c->source, CLI_LISTENER | CLI_TRIGGER},
            {"--sink", &c->sink, CLI_TRIGGER},
            {"--faults", &c->faults, CLI_LISTENER | CLI_TRIGGER},
            {"--group", &c->group, CLI_LISTENER | CLI_TRIGGER},
            {"--instance-id", &c->instance_id, CLI_LISTENER | CLI_TRIGGER},
            {"--name", &c->name, CLI_LISTENER | CLI_TRIGGER},
            {"--types", &c->types, CLI_LISTENER},
            {"--key", &c->key, CLI_LISTENER},
            {"--entity-at", &c->entity_at, CLI_LISTENER},
            {"--view", &c->view, CLI_LISTENER},
            {"--format", &c->format, CLI_TRIGGER},
            {"--entity", &c->entity, CLI_TRIGGER},
            {"--http", &c->http, CLI_LISTENER | CLI_TRIGGER},
            {"--log-level", &c->log_level, CLI_LISTENER | CLI_TRIGGER},
        };
        const char *val = NULL;
        int matched = 0;
        for (size_t k = 0; k < sizeof opts / sizeof *opts && !matched; k++) {
            size_t fl = strlen(opts[k].flag);
            if (strncmp(a, opts[k].flag, fl) || (a[fl] && a[fl] != '='))
                continue;
            if (!(opts[k].kinds & kind)) {
                cli_error(c, "%s is not an option of %s (see --help)", opts[k].flag, prog);
                return EXIT_USAGE;
            }
            if (a[fl] == '=') {
                val = a + fl + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                cli_error(c, "%s needs a value (see --help)", opts[k].flag);
                return EXIT_USAGE;
            }
            if (!*val) {
                cli_error(c, "%s needs a non-empty value", opts[k].flag);
                return EXIT_USAGE;
            }
            *opts[k].dst = val;
            matched = 1;
        }
        if (matched)
            continue;
        if (!strcmp(a, "-X") || !strcmp(a, "-c") || !strncmp(a, "-X", 2) || !strncmp(a, "-c", 2)) {
            int is_x = a[1] == 'X';
            if (a[2])
                val = a + 2;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                cli_error(c, "%s needs KEY=VALUE", is_x ? "-X" : "-c");
                return EXIT_USAGE;
            }
            if (!kv_ok(val)) {
                cli_error(c, "%s %s: expected KEY=VALUE", is_x ? "-X" : "-c", val);
                return EXIT_USAGE;
            }
            if (push(is_x ? &c->xkv : &c->ckv, is_x ? &c->nx : &c->nc, val)) {
                cli_error(c, "out of memory");
                return EXIT_RUNTIME;
            }
            continue;
        }
        cli_error(c, "unknown argument \"%s\" (see --help)", a);
        return EXIT_USAGE;
    }
    if (!c->source) {
        cli_error(c, "--source is required, e.g. --source kafka:events (see --help)");
        return EXIT_USAGE;
    }
    /* Static membership is a Kafka group's notion: a Kinesis source has no
     * consumer group, and the flag would do nothing. */
    if (c->instance_id && !strncmp(c->source, "kinesis:", 8)) {
        cli_error(c, "--instance-id %s: only a kafka: source has a consumer group", c->instance_id);
        return EXIT_USAGE;
    }
    if (!c->name)
        c->name = kind == CLI_LISTENER ? "listener" : "trigger";
    if (!c->faults)
        c->faults = "kafka:faults";
    if (kind == CLI_LISTENER) {
        if (!c->key) {
            cli_error(c, "--key is required: a JSON pointer to the entity key, e.g. /thing/id");
            return EXIT_USAGE;
        }
        if (c->key[0] != '/') {
            cli_error(c, "--key %s: a JSON pointer starts with '/', e.g. /thing/id", c->key);
            return EXIT_USAGE;
        }
        if (c->entity_at && c->entity_at[0] != '/') {
            cli_error(c, "--entity-at %s: a JSON pointer starts with '/'", c->entity_at);
            return EXIT_USAGE;
        }
        if (!c->view)
            c->view = "sqlite:view.db";
        if (strncmp(c->view, "sqlite:", 7) || !c->view[7] || c->view[7] == '#') {
            cli_error(c, "--view %s: expected sqlite:PATH or sqlite:PATH#TABLE", c->view);
            return EXIT_USAGE;
        }
    } else {
        if (!c->sink) {
            cli_error(c, "--sink is required, e.g. --sink kafka:domain-events (see --help)");
            return EXIT_USAGE;
        }
        if (!c->format) {
            cli_error(c, "--format is required: dynamodb or debezium");
            return EXIT_USAGE;
        }
        if (strcmp(c->format, "dynamodb") && strcmp(c->format, "debezium")) {
            cli_error(c, "--format %s: expected dynamodb or debezium", c->format);
            return EXIT_USAGE;
        }
        /* No --entity: the trigger takes each record's from its
         * discriminator or sort key (single-table design). */
    }
    return 0;
}

void cli_free(cli_t *c)
{
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->xkv);
    free(c->ckv);
    memset(c, 0, sizeof *c);
}

/* "kafka:NAME" or "kinesis:NAME" → NAME, with *kinesis set; NULL after an
 * error for anything else. */
static const char *dest_name(const cli_t *c, const char *dest, const char *what, int *kinesis)
{
    *kinesis = 0;
    if (!strncmp(dest, "kafka:", 6) && dest[6])
        return dest + 6;
    if (!strncmp(dest, "kinesis:", 8) && dest[8] && !strchr(dest + 8, ',')) {
        *kinesis = 1;
        return dest + 8;
    }
    cli_error(c, "%s %s: expected kafka:TOPIC or kinesis:STREAM", what, dest);
    return NULL;
}

static int uses_kafka(const cli_t *c)
{
    return !strncmp(c->source, "kafka:", 6) || !strncmp(c->faults, "kafka:", 6) ||
           (c->sink && !strncmp(c->sink, "kafka:", 6));
}

static int set(const cli_t *c, sl_conf_t *conf, const char *k, const char *v, const char *flag)
{
    char err[256];
    if (sl_conf_set(conf, k, v, err, sizeof err)) {
        cli_error(c, "%s %s=%s: %s", flag, k, v, err);
        return -1;
    }
    return 0;
}

sl_sink_t *cli_sink(const cli_t *c, sl_processor_t *p, const char *dest, const char *what)
{
    int kin;
    const char *name = dest_name(c, dest, what, &kin);
    if (!name)
        return NULL;
    char err[512];
    sl_sink_t *s = kin ? sl_kinesis_sink_new(p, name, err, sizeof err)
                       : sl_kafka_sink_new(p, name, err, sizeof err);
    if (!s)
        cli_error(c, "%s %s: %s", what, dest, err);
    return s;
}

sl_conf_t *cli_conf(const cli_t *c, int src_kinesis)
{
    sl_conf_t *conf = sl_conf_new();
    if (!conf) {
        cli_error(c, "out of memory");
        return NULL;
    }
    char kbuf[512];
    int bad = set(c, conf, "processor.name", c->name, "--name") ||
              set(c, conf, "log.stats.interval.ms", "10000", "-c") ||
              /* The listener keeps a lean view: 32 MiB of buffers bound its
               * peak RSS (about 40 MB at any input, bench_flavors' memory
               * case); -c memory.max.bytes=0 lifts the bound. */
              (c->kind == CLI_LISTENER && set(c, conf, "memory.max.bytes", "33554432", "-c")) ||
              set(c, conf, src_kinesis ? "kinesis.application" : "kafka.group.id",
                  c->group ? c->group : c->name, "--group");
    bad = bad || (c->instance_id &&
                  set(c, conf, "kafka.group.instance.id", c->instance_id, "--instance-id"));
    if (c->kind == CLI_TRIGGER)
        bad = bad || set(c, conf, "source.format", "json", "-c");
    if (c->http)
        bad = bad || set(c, conf, "http.listen", c->http, "--http");
    if (c->log_level)
        bad = bad || set(c, conf, "log.level", c->log_level, "--log-level");
    for (size_t i = 0; !bad && i < c->nc + c->nx; i++) {
        int is_x = i >= c->nc;
        const char *kv = is_x ? c->xkv[i - c->nc] : c->ckv[i], *eq = strchr(kv, '=');
        /* A key cut to fit would set another property than the one named. */
        int n = snprintf(kbuf, sizeof kbuf, "%s%.*s", is_x ? "kafka." : "", (int)(eq - kv), kv);
        if (n < 0 || (size_t)n >= sizeof kbuf) {
            cli_error(c, "%s %.40s...: the key is longer than %zu bytes", is_x ? "-X" : "-c", kv,
                      sizeof kbuf - 1);
            bad = 1;
        } else {
            bad = set(c, conf, kbuf, eq + 1, is_x ? "-X" : "-c");
        }
    }
    if (!bad && uses_kafka(c) && sl_conf_get_str_pt(conf, "kafka.bootstrap.servers") == NULL) {
        cli_error(c, "no Kafka brokers: set -X bootstrap.servers=HOST:PORT (or =embedded), or "
                     "SLUICE_KAFKA_BOOTSTRAP_SERVERS");
        bad = 1;
    }
    if (bad) {
        sl_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

sl_processor_t *cli_processor(const cli_t *c)
{
    int src_kinesis, k2;
    const char *topics = dest_name(c, c->source, "--source", &src_kinesis);
    if (!topics || !dest_name(c, c->faults, "--faults", &k2) ||
        (c->sink && !dest_name(c, c->sink, "--sink", &k2)))
        return NULL;
    sl_conf_t *conf = cli_conf(c, src_kinesis);
    if (!conf)
        return NULL;
    char err[512];
    sl_processor_t *p = sl_processor_new(conf, err, sizeof err);
    sl_conf_destroy(conf);
    if (!p) {
        cli_error(c, "%s", err);
        return NULL;
    }
    /* --describe: the connectors below name their topics and servers but
     * create no client: nothing connects. */
    if (c->describe && sl_processor_describe_only(p)) {
        cli_error(c, "out of memory");
        sl_processor_destroy(p);
        return NULL;
    }
    if (src_kinesis ? sl_kinesis_source_attach(p, topics, err, sizeof err)
                    : sl_kafka_source_attach(p, topics, err, sizeof err)) {
        cli_error(c, "--source %s: %s", c->source, err);
        sl_processor_destroy(p);
        return NULL;
    }
    sl_sink_t *f = cli_sink(c, p, c->faults, "--faults");
    if (!f || sl_processor_set_fault_sink(p, f)) {
        sl_processor_destroy(p);
        return NULL;
    }
    return p;
}

int cli_run(sl_processor_t *p)
{
    int rc = sl_processor_run(p);
    if (!rc)
        return EXIT_DRAINED;
    return rc == SL_ETIMEDOUT ? EXIT_INCOMPLETE : EXIT_RUNTIME;
}

int cli_describe(const cli_t *c, sl_processor_t *p)
{
    char *doc = NULL;
    int rc = sl_processor_describe(p, c->describe, &doc);
    if (rc) {
        cli_error(c, "--describe: %s", sl_strerror(rc));
        return EXIT_RUNTIME;
    }
    int bad = fputs(doc, stdout) == EOF || fflush(stdout) == EOF;
    sl_free(doc);
    if (bad) {
        cli_error(c, "--describe: cannot write the document");
        return EXIT_RUNTIME;
    }
    return EXIT_DRAINED;
}

int cli_start(const cli_t *c, sl_processor_t *p)
{
    return c->describe ? cli_describe(c, p) : cli_run(p);
}

int cli_add_pipeline(const cli_t *c, sl_processor_t *p, sl_pipeline_t *pl)
{
    int rc = sl_processor_add_pipeline(p, pl);
    if (!rc)
        return 0;
    cli_error(c, "cannot add the pipeline: %s", sl_strerror(rc));
    sl_pipeline_destroy(pl);
    return EXIT_RUNTIME;
}
