/* Command line and environment of the sluice service binaries (listener,
 * trigger): one parser, so both read flags and environment the same way. */
#ifndef SLUICE_PROCESSORS_CLI_H
#define SLUICE_PROCESSORS_CLI_H

#include <stddef.h>

#include <sluice/sluice.h>

enum { CLI_LISTENER = 1, CLI_TRIGGER = 2 };

/* Exit codes of the service binaries. */
enum {
    EXIT_DRAINED = 0,   /* stopped and drained: every record read was done and committed */
    EXIT_RUNTIME = 1,   /* could not start or run (brokers unreachable, store cannot open, ...) */
    EXIT_USAGE = 2,     /* bad flags or environment */
    EXIT_INCOMPLETE = 3 /* stopped, but the drain timed out: some records will be read again */
};

typedef struct cli_s {
    const char *prog;
    int kind;
    const char *source, *sink, *faults, *group, *name;
    const char *instance_id;                    /* group.instance.id (Kafka static membership) */
    const char *types, *key, *entity_at, *view; /* listener */
    const char *format, *entity;                /* trigger */
    const char *http, *log_level;               /* --http ADDR:PORT, --log-level */
    const char *describe; /* --describe[=json|yaml]: print the AsyncAPI document, run nothing */
    const char **xkv;     /* -X key=value (librdkafka) */
    size_t nx;
    const char **ckv; /* -c key=value (sluice properties) */
    size_t nc;
    char **owned; /* strings built from the environment */
    size_t nowned;
} cli_t;

/* Parse the environment (SLUICE_*), then @p argv (flags win).
 * Returns 0 to run, -1 when --help or --version was printed (exit 0), or
 * EXIT_USAGE after printing what is wrong on stderr. */
int cli_parse(cli_t *c, const char *prog, int kind, int argc, char **argv);

/* Free what cli_parse() allocated. */
void cli_free(cli_t *c);

/* The configuration cli_processor() gives the processor: processor.name,
 * every -c and -X property, the group (kinesis.application when
 * @p src_kinesis). NULL after printing why. */
sl_conf_t *cli_conf(const cli_t *c, int src_kinesis);

/* A processor configured from @p c: processor.name, every -c and -X
 * property, kafka.group.id, the source attached and the fault sink set.
 * Returns NULL after printing why. */
sl_processor_t *cli_processor(const cli_t *c);

/* A Kafka sink for a "kafka:TOPIC" destination. NULL after printing why. */
sl_sink_t *cli_sink(const cli_t *c, sl_processor_t *p, const char *dest, const char *what);

/* --describe: print @p p's AsyncAPI document on stdout in the format
 * asked; returns the exit code (0, or EXIT_RUNTIME after saying why). */
int cli_describe(const cli_t *c, sl_processor_t *p);

/* Run @p p until stopped; returns the exit code. */
int cli_run(sl_processor_t *p);

/* What the binary was asked for: --describe (cli_describe()) or a run
 * (cli_run()). Returns the exit code. */
int cli_start(const cli_t *c, sl_processor_t *p);

/* sl_processor_add_pipeline(): 0, or EXIT_RUNTIME after printing why and
 * destroying @p pl (the processor took it only on success). */
int cli_add_pipeline(const cli_t *c, sl_processor_t *p, sl_pipeline_t *pl);

/* Print a one-line error prefixed with the program name on stderr. */
void cli_error(const cli_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
