/* libFuzzer target: the service binaries' command line and environment
 * (processors/common/cli.c, compiled in) and the configuration they build
 * with sl_conf_set().
 *
 * Input: byte 0 picks the binary (bit 0: listener or trigger), then strings
 * separated by NUL: one starting with byte 0x01 is an environment entry
 * (NAME=value), any other an argument.
 *
 * Properties: cli_parse() returns 0, -1 (--help or --version, printed on
 * stdout) or EXIT_USAGE (a message on stderr naming the program); a parse
 * that succeeds has every required option, pointers starting with '/', a
 * sqlite: view or a known format, KEY=VALUE pairs with a key, a --describe
 * of json or yaml, and no --instance-id with a kinesis: source; the
 * configuration built from it holds, for every key it sets (the flags',
 * --instance-id, --http and --log-level included, and the listener's memory
 * bound), what setting the last value given for that key alone gives, or its
 * refusal says why on stderr. Nothing leaks (LeakSanitizer, per input). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "common/cli.h"
#include "fuzz_common.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define T "fuzz_cli"
#define MAXARGS 64

extern char **environ;

/* The property @p key as text; NULL when unknown (caller frees). */
static char *get(const sl_conf_t *conf, const char *key)
{
    size_t n = 0;
    if (sl_conf_get(conf, key, NULL, &n))
        return NULL;
    char *b = malloc(n);
    if (!b)
        abort();
    if (sl_conf_get(conf, key, b, &n))
        fuzz_fail(T, "sl_conf_get failed with the size it asked for");
    return b;
}

/* Where the value of @p key must end up after cli_conf(): as if that value
 * alone were set on a new configuration (any type: a size suffix, a bool's
 * spelling, a pass-through string). */
static void check_key(const sl_conf_t *conf, const char *key, const char *value)
{
    sl_conf_t *alone = sl_conf_new();
    if (!alone)
        abort();
    if (sl_conf_set(alone, key, value, NULL, 0))
        fuzz_fail(T, "a value the built configuration took is refused alone");
    char *want = get(alone, key), *got = get(conf, key);
    if (!got)
        fuzz_fail(T, "a property given on the command line is missing");
    if (!want || strcmp(got, want))
        fuzz_fail(T, "a property does not hold the value given last");
    free(want);
    free(got);
    sl_conf_destroy(alone);
}

static void check_conf(const cli_t *c, const sl_conf_t *conf, int kinesis)
{
    /* Each key once, checked at its last assignment, in cli_conf's order. */
    const char *keys[2 * MAXARGS + 12], *vals[2 * MAXARGS + 12];
    char *owned[2 * MAXARGS + 12];
    size_t n = 0, no = 0;
    keys[n] = "processor.name", vals[n++] = c->name;
    keys[n] = "log.stats.interval.ms", vals[n++] = "10000";
    /* the listener's bound on its buffers, unless -c says otherwise */
    if (c->kind == CLI_LISTENER)
        keys[n] = "memory.max.bytes", vals[n++] = "33554432";
    keys[n] = kinesis ? "kinesis.application" : "kafka.group.id";
    vals[n++] = c->group ? c->group : c->name;
    if (c->instance_id)
        keys[n] = "kafka.group.instance.id", vals[n++] = c->instance_id;
    if (c->kind == CLI_TRIGGER)
        keys[n] = "source.format", vals[n++] = "json";
    if (c->http)
        keys[n] = "http.listen", vals[n++] = c->http;
    if (c->log_level)
        keys[n] = "log.level", vals[n++] = c->log_level;
    for (size_t pass = 0; pass < 2; pass++) {
        const char **kv = pass ? c->xkv : c->ckv;
        for (size_t i = 0; i < (pass ? c->nx : c->nc); i++) {
            const char *eq = strchr(kv[i], '=');
            size_t kl = (size_t)(eq - kv[i]);
            char *k = malloc(kl + 7);
            if (!k)
                abort();
            snprintf(k, kl + 7, "%s%.*s", pass ? "kafka." : "", (int)kl, kv[i]);
            owned[no++] = k;
            keys[n] = k, vals[n++] = eq + 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int later = 0;
        for (size_t k = i + 1; k < n && !later; k++)
            later = !strcmp(keys[i], keys[k]);
        if (!later)
            check_key(conf, keys[i], vals[i]);
    }
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
}

static void check_parsed(const cli_t *c)
{
    if (!c->source || !c->faults || !c->name)
        fuzz_fail(T, "a parse without source, faults or name");
    if (c->kind == CLI_LISTENER) {
        if (!c->key || c->key[0] != '/' || (c->entity_at && c->entity_at[0] != '/'))
            fuzz_fail(T, "a listener without a JSON pointer key");
        if (!c->view || strncmp(c->view, "sqlite:", 7) || !c->view[7] || c->view[7] == '#')
            fuzz_fail(T, "a listener without a sqlite view");
    } else if (!c->sink || !c->format ||
               (strcmp(c->format, "dynamodb") && strcmp(c->format, "debezium"))) {
        fuzz_fail(T, "a trigger without sink or a known format");
    }
    if (c->describe && strcmp(c->describe, "json") && strcmp(c->describe, "yaml"))
        fuzz_fail(T, "a --describe other than json or yaml");
    /* static membership is a Kafka group's: a Kinesis source has none */
    if (c->instance_id && !strncmp(c->source, "kinesis:", 8))
        fuzz_fail(T, "--instance-id with a kinesis: source");
    for (size_t i = 0; i < c->nc + c->nx; i++) {
        const char *kv = i < c->nc ? c->ckv[i] : c->xkv[i - c->nc];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            fuzz_fail(T, "a KEY=VALUE pair without a key");
    }
}

/* @p n bytes that end where a page that cannot be read begins: a read past
 * the last (by the parser, or by libc, which ASan does not instrument: its
 * redzones would not catch it there) faults at once, whatever the heap's
 * layout. *map and *len: what to munmap(). NULL when the system refuses. */
static char *guarded(size_t n, void **map, size_t *len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *len = (n + page - 1) / page * page + page;
    char *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m + *len - page, page, PROT_NONE)) {
        munmap(m, *len);
        return NULL;
    }
    *map = m;
    return m + *len - page - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = (data[0] & 1) ? CLI_TRIGGER : CLI_LISTENER;
    const char *prog = kind == CLI_LISTENER ? "sluice-listener" : "sluice-trigger";
    /* Two NULs after the input: the last string ends at the first, and the
     * second is there for getenv(), which reads the first two bytes of every
     * entry, even of an empty one (an input ending in 0x01 makes the last
     * entry empty; with one NUL the read went past the copy, and it crashed
     * when the copy ended a page: corpus/cli/env_entry_empty_at_end). */
    void *map;
    size_t maplen;
    char *copy = guarded(size + 2, &map, &maplen);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = 0;
    char *argv[MAXARGS + 2], *envp[MAXARGS + 1];
    int argc = 0, envc = 0;
    argv[argc++] = (char *)prog;
    for (char *p = copy + 1; p < copy + size && argc <= MAXARGS && envc < MAXARGS;
         p += strlen(p) + 1) {
        if (*p == 1)
            envp[envc++] = p + 1;
        else
            argv[argc++] = p;
    }
    argv[argc] = NULL;
    envp[envc] = NULL;

    char *out = NULL, *err = NULL;
    size_t outn = 0, errn = 0;
    FILE *fo = open_memstream(&out, &outn), *fe = open_memstream(&err, &errn);
    if (!fo || !fe)
        abort();
    FILE *so = stdout, *se = stderr;
    char **saved_env = environ;
    stdout = fo;
    stderr = fe;
    environ = envp;

    cli_t c;
    int rc = cli_parse(&c, prog, kind, argc, argv);
    sl_conf_t *conf = NULL;
    int kinesis = c.source && !strncmp(c.source, "kinesis:", 8);
    if (rc == 0) {
        check_parsed(&c);
        conf = cli_conf(&c, kinesis);
    }
    environ = saved_env;
    fflush(fe);
    size_t err_before_conf = errn;
    if (rc == 0 && conf)
        check_conf(&c, conf, kinesis);
    stdout = so;
    stderr = se;
    fclose(fo);
    fclose(fe);

    char head[40];
    snprintf(head, sizeof head, "%s: ", prog);
    if (rc != 0 && rc != -1 && rc != EXIT_USAGE)
        fuzz_fail(T, "cli_parse returned an unexpected code");
    if (rc == -1 && !outn)
        fuzz_fail(T, "--help or --version printed nothing");
    if ((rc == EXIT_USAGE || (rc == 0 && !conf)) &&
        (!err_before_conf || strncmp(err, head, strlen(head))))
        fuzz_fail(T, "a refusal without a message naming the program");
    if (rc == 0 && conf && err_before_conf)
        fuzz_fail(T, "a message on stderr for a configuration that was built");
    sl_conf_destroy(conf);
    cli_free(&c);
    free(out);
    free(err);
    munmap(map, maplen);
    return 0;
}
