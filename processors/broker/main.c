/* sluice-broker — an embedded Kafka cluster (librdkafka's mock) as a process.
 *
 * Prints its bootstrap servers on one stdout line once the topics exist, and
 * serves until SIGTERM or SIGINT. Logs are JSON lines on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/broker.h"
#include <sluice/sluice.h>

#define PROG "sluice-broker"
#define EXIT_USAGE 2
#define MAX_PARTITIONS 10000

typedef struct topic_s {
    const char *name; /* points into argv */
    int partitions;
    int replication;
} topic_t;

typedef struct opts_s {
    int brokers;
    const char *ready_file;
    topic_t *topics;
    size_t ntopics;
} opts_t;

/* Writes @p s as the body of a JSON string. */
static void json_str(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
}

/* One JSON log line on stderr; @p key/@p val add a string field when key is set. */
static void log_line(const char *level, const char *key, const char *val, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void log_line(const char *level, const char *key, const char *val, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    flockfile(stderr);
    fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"", level);
    json_str(stderr, msg);
    fputc('"', stderr);
    if (key) {
        fprintf(stderr, ",\"%s\":\"", key);
        json_str(stderr, val);
        fputc('"', stderr);
    }
    fputs("}\n", stderr);
    funlockfile(stderr);
    fflush(stderr);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " [--brokers N] [--topics NAME[:PARTITIONS[:REPLICATION]][,...]]\n"
            "                     [--ready-file PATH] [--help] [--version]\n"
            "\n"
            "Run an embedded Kafka cluster (librdkafka's mock cluster) on 127.0.0.1.\n"
            "Once the topics exist, print the bootstrap servers as one line on stdout,\n"
            "then serve until SIGTERM or SIGINT. Logs are JSON lines on stderr.\n"
            "\n"
            "  --brokers N         brokers in the cluster, 1..%d (default 1)\n"
            "  --topics LIST       topics to create, comma-separated; PARTITIONS 1..%d\n"
            "                      (default 1), REPLICATION 1..N (default 1);\n"
            "                      may be repeated\n"
            "  --ready-file PATH   also write the bootstrap line to PATH, atomically\n"
            "                      (temporary file + rename); removed on a clean exit\n"
            "  --help              print this help and exit\n"
            "  --version           print the version and exit\n"
            "\n"
            "Exit status: 0 after a signal, 1 if the cluster could not start, 2 for\n"
            "bad arguments.\n",
            SL_BROKER_MAX_BROKERS, MAX_PARTITIONS);
}

static int bad_usage(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" PROG " --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* Parses a decimal int in [lo, hi]; 0 on success. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Kafka's rule for topic names, checked here so a bad one is a usage error. */
static int topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
        return 0;
    return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Splits @p list in place (it is an argv string) and appends its topics. */
static int add_topics(opts_t *o, char *list)
{
    for (char *item = list; item;) {
        char *next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        topic_t t = {.name = item, .partitions = 1, .replication = 1};
        char *colon = strchr(item, ':');
        if (colon) {
            *colon++ = '\0';
            char *rf = strchr(colon, ':');
            if (rf) {
                *rf++ = '\0';
                if (parse_int(rf, 1, SL_BROKER_MAX_BROKERS, &t.replication))
                    return bad_usage("bad replication factor '%s' for topic '%s'", rf, item);
            }
            if (parse_int(colon, 1, MAX_PARTITIONS, &t.partitions))
                return bad_usage("bad partition count '%s' for topic '%s' (1..%d)", colon, item,
                                 MAX_PARTITIONS);
        }
        if (!topic_name_ok(item))
            return bad_usage("bad topic name '%s' (1..249 characters of [A-Za-z0-9._-])", item);
        for (size_t i = 0; i < o->ntopics; i++)
            if (!strcmp(o->topics[i].name, item))
                return bad_usage("topic '%s' given twice", item);
        topic_t *grown = sl_realloc(o->topics, (o->ntopics + 1) * sizeof *grown);
        if (!grown) {
            fputs(PROG ": out of memory\n", stderr);
            return 1;
        }
        o->topics = grown;
        o->topics[o->ntopics++] = t;
        item = next;
    }
    return 0;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used.
 * Returns 1 on a match (with *val set), 0 for no match, -1 if VALUE is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return 0;
    if (a[n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, opts_t *o)
{
    o->brokers = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *val = NULL;
        int m;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf(PROG " %s\n", SL_VERSION_STRING);
            return 0;
        }
        if ((m = opt_value(argc, argv, &i, "--brokers", &val)) != 0) {
            if (m < 0)
                return bad_usage("option '--brokers' needs a value");
            if (parse_int(val, 1, SL_BROKER_MAX_BROKERS, &o->brokers))
                return bad_usage("bad broker count '%s' (1..%d)", val, SL_BROKER_MAX_BROKERS);
        } else if ((m = opt_value(argc, argv, &i, "--topics", &val)) != 0) {
            if (m < 0)
                return bad_usage("option '--topics' needs a value");
            int rc = add_topics(o, val);
            if (rc)
                return rc;
        } else if ((m = opt_value(argc, argv, &i, "--ready-file", &val)) != 0) {
            if (m < 0)
                return bad_usage("option '--ready-file' needs a value");
            if (!*val)
                return bad_usage("option '--ready-file' needs a non-empty path");
            o->ready_file = val;
        } else if (a[0] == '-') {
            return bad_usage("unknown option '%s'", a);
        } else {
            return bad_usage("unexpected argument '%s'", a);
        }
    }
    for (size_t i = 0; i < o->ntopics; i++)
        if (o->topics[i].replication > o->brokers)
            return bad_usage("topic '%s': replication factor %d exceeds %d broker(s)",
                             o->topics[i].name, o->topics[i].replication, o->brokers);
    return -1;
}

/* Writes @p line to @p path through a temporary file and rename(), so a reader
 * sees either no file or the whole line. On failure errno tells why. */
static int write_ready_file(const char *path, const char *line)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t len = strlen(line), off = 0;
    int ok = 1;
    while (ok && off < len) {
        ssize_t w = write(fd, line + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w == 0 || errno != EINTR)
            ok = 0;
    }
    int e = ok ? 0 : errno;
    if (close(fd) && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path)) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        sl_free(o.topics);
        return rc;
    }

    /* Block the stop signals before librdkafka starts threads, so every
     * thread inherits the mask and sigwait() below is their only receiver. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);

    rc = 1;
    char errstr[512];
    char *line = NULL;
    int ready_written = 0;
    sl_broker_t *b = sl_broker_new(o.brokers, errstr, sizeof errstr);
    if (!b) {
        log_line("error", NULL, NULL, "could not start the cluster: %s", errstr);
        goto out;
    }
    for (size_t i = 0; i < o.ntopics; i++) {
        const topic_t *t = &o.topics[i];
        int err = sl_broker_create_topic(b, t->name, t->partitions, t->replication);
        if (err) {
            log_line("error", "topic", t->name, "could not create topic: %s", sl_strerror(err));
            goto out;
        }
        log_line("info", "topic", t->name, "topic created: %d partition(s), replication %d",
                 t->partitions, t->replication);
    }

    const char *boot = sl_broker_bootstrap(b);
    size_t len = strlen(boot);
    line = sl_malloc(len + 2);
    if (!line) {
        log_line("error", NULL, NULL, "out of memory");
        goto out;
    }
    memcpy(line, boot, len);
    memcpy(line + len, "\n", 2);
    if (o.ready_file) {
        if (write_ready_file(o.ready_file, line)) {
            log_line("error", "path", o.ready_file, "could not write the ready file: %s",
                     strerror(errno));
            goto out;
        }
        ready_written = 1;
    }
    if (fputs(line, stdout) == EOF || fflush(stdout) == EOF) {
        log_line("error", NULL, NULL, "could not write to stdout: %s", strerror(errno));
        goto out;
    }
    log_line("info", "bootstrap", boot, "ready: %d broker(s), %zu topic(s)", o.brokers, o.ntopics);

    int sig = 0;
    int werr = sigwait(&stop, &sig);
    if (werr) {
        log_line("error", NULL, NULL, "sigwait: %s", strerror(werr));
        goto out;
    }
    log_line("info", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "stopping");
    rc = 0;

out:
    sl_broker_destroy(b);
    if (ready_written)
        unlink(o.ready_file);
    if (rc == 0)
        log_line("info", NULL, NULL, "stopped");
    sl_free(line);
    sl_free(o.topics);
    return rc;
}
