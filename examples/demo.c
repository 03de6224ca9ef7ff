/* sluice-demo — the Command → Publish → Consume → Query flow on one machine.
 *
 * 1. Starts an embedded Kafka broker (sl_broker: librdkafka's mock cluster,
 *    real Kafka protocol on 127.0.0.1).
 * 2. Writes N DynamoDB Streams change records of "thing" entities to
 *    thing-changes (INSERT, MODIFY, some REMOVE; a few malformed on purpose),
 *    as a service's table would emit them.
 * 3. Runs the real service binaries as child processes: sluice-trigger
 *    (change records → thing-created|updated|deleted domain events on
 *    thing-events) and sluice-listener (domain events → the newest state of
 *    each thing in an SQLite view).
 * 4. Shows progress, stops both with SIGTERM (a graceful drain), checks the
 *    view against the newest change of every key, and prints a summary.
 *
 * The view database and the processors' logs stay in the output directory.
 * It uses librdkafka directly to produce the input and to observe progress
 * (committed offsets, high watermarks), and SQLite to read the view, as a
 * user would; the processing itself is only the two binaries. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sqlite3.h>

#include <sluice/sluice.h>

#include "view_count.h"

extern char **environ;

#define IN_TOPIC "thing-changes"
#define OUT_TOPIC "thing-events"
#define FAULT_TOPIC "faults"
/* The 2.0.2 mock broker keeps only 5 MiB per partition: enough partitions
 * that the demo's default input (about 30 MB) is all kept. */
#define PARTS 16

static int tty;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%ssluice-demo: ", tty ? "\n" : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the input: change records and the state they leave ---- */

typedef struct thing_s {
    int version; /* last change applied, 0 = never created */
    int deleted;
    int64_t ts; /* the image's timestamp attribute (ms) of the last change */
} thing_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One DynamoDB Streams record for @p id. Returns its length. */
static int change_record(char *buf, size_t cap, const char *op, int id, int version, int64_t ts,
                         size_t seq)
{
    const char *status[] = {"active", "pending", "retired"};
    char image[512], old[512];
    snprintf(image, sizeof image,
             "{\"id\":{\"S\":\"thing-%05d\"},\"name\":{\"S\":\"Thing %d v%d\"},"
             "\"status\":{\"S\":\"%s\"},\"count\":{\"N\":\"%d\"},\"price\":{\"N\":\"%d.%02d\"},"
             "\"tags\":{\"SS\":[\"demo\",\"v%d\"]},\"timestamp\":{\"N\":\"%" PRId64 "\"}}",
             id, id, version, status[(id + version) % 3], version * 7, id % 100, version % 100,
             version, ts);
    snprintf(old, sizeof old,
             "{\"id\":{\"S\":\"thing-%05d\"},\"name\":{\"S\":\"Thing %d v%d\"},"
             "\"timestamp\":{\"N\":\"%" PRId64 "\"}}",
             id, id, version - 1, ts - 1000);
    int del = !strcmp(op, "REMOVE");
    char imgs[1200];
    size_t n = 0;
    imgs[0] = 0;
    if (!del)
        n += (size_t)snprintf(imgs + n, sizeof imgs - n, "\"NewImage\":%s,", image);
    if (version > 1 || del)
        n += (size_t)snprintf(imgs + n, sizeof imgs - n, "\"OldImage\":%s,", del ? image : old);
    return snprintf(buf, cap,
                    "{\"eventID\":\"%zu\",\"eventName\":\"%s\",\"eventVersion\":\"1.1\","
                    "\"eventSource\":\"aws:dynamodb\",\"awsRegion\":\"us-east-1\","
                    "\"dynamodb\":{\"ApproximateCreationDateTime\":%" PRId64 ".%03d,"
                    "\"Keys\":{\"id\":{\"S\":\"thing-%05d\"}},%s"
                    "\"SequenceNumber\":\"%020zu\",\"SizeBytes\":300,"
                    "\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
                    seq, op, ts / 1000, (int)(ts % 1000), id, imgs, seq);
}

/* ---- Kafka helpers ---- */

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *group)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err);
        rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof err);
    } else {
        rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
        rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk)
        die("kafka client: %s", err);
    return rk;
}

static int64_t end_of(rd_kafka_t *rk, const char *topic)
{
    int64_t sum = 0;
    for (int p = 0; p < PARTS; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            return -1;
        sum += hi;
    }
    return sum;
}

/* Offsets committed by @p group (its own handle) on @p topic, summed. */
static int64_t committed(rd_kafka_t *grk, const char *topic, int parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    int64_t sum = 0;
    if (rd_kafka_committed(grk, l, 5000))
        sum = -1;
    for (int i = 0; sum >= 0 && i < l->cnt; i++)
        if (l->elems[i].offset > 0)
            sum += l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return sum;
}

/* ---- child processes ---- */

static pid_t spawn(const char *bin, char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        die("cannot start %s: %s", bin, strerror(rc));
    return pid;
}

/* Starts a service of the demo: @p own (its argv[0] and own options, up to
 * a NULL) and the options both share, its consumer group @p group and the
 * Kafka setting @p xb (-X). */
static pid_t spawn_service(char *const own[], char *group, char *xb, const char *log)
{
    char *argv[32];
    size_t n = 0;
    while (own[n] && n < 20) {
        argv[n] = own[n];
        n++;
    }
    char *const shared[] = {"--group", group,
                            "-X",      xb,
                            "-c",      "log.stats.interval.ms=1000",
                            "-c",      "commit.interval.ms=200",
#ifdef SL_DEMO_HTTP
                            "--http",  "127.0.0.1:0", /* the port is logged, and printed below */
#endif
                            NULL};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        argv[n++] = shared[i];
    return spawn(argv[0], argv, log);
}

/* The binary next to this one in a build tree (../processors/NAME), or on PATH. */
static void find_bin(const char *self, const char *name, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    const char *env = getenv("SLUICE_BIN_DIR");
    if (env) {
        snprintf(out, cap, "%s/%s", env, name);
        if (!access(out, X_OK))
            return;
    }
    if (realpath(self, tmp)) {
        char *dir = dirname(tmp);
        snprintf(out, cap, "%s/../processors/%s", dir, name);
        if (!access(out, X_OK))
            return;
        snprintf(out, cap, "%s/%s", dir, name);
        if (!access(out, X_OK))
            return;
    }
    const char *path = getenv("PATH");
    char *pc = strdup(path ? path : "");
    for (char *d = strtok(pc, ":"); d; d = strtok(NULL, ":")) {
        snprintf(out, cap, "%s/%s", d, name);
        if (!access(out, X_OK)) {
            free(pc);
            return;
        }
    }
    free(pc);
    die("cannot find %s (build it, or set SLUICE_BIN_DIR)", name);
}

/* The address a service logged for its endpoint ("... on http://ADDR"),
 * waited for a few seconds; empty when it did not say. */
static void endpoint_of(const char *log, char *out, size_t cap)
{
    out[0] = 0;
    for (int tries = 0; tries < 100 && !out[0]; tries++) {
        FILE *f = fopen(log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            const char *at = strstr(line, "on http://");
            if (at && strstr(line, "/metrics")) {
                snprintf(out, cap, "%.*s", (int)strcspn(at + 3, "\""), at + 3);
                break;
            }
        }
        if (f)
            fclose(f);
        if (!out[0])
            usleep(50000);
    }
}

/* Runs the trigger with @p targs, -X @p xb and --describe=json (it connects to
 * nothing), keeps the AsyncAPI document in @p path and prints a summary of
 * it: each operation, its channel and its messages. Returns 1 when the
 * document was printed and has a receive and a send, else 0 after saying
 * why. */
static int describe_trigger(const char *trig, char *const targs[], char *xb, const char *path)
{
    char *args[64];
    size_t n = 0;
    while (targs[n] && n < 60) {
        args[n] = targs[n];
        n++;
    }
    args[n++] = "-X"; /* the brokers it would read from, named in the document */
    args[n++] = xb;
    args[n++] = "--describe=json";
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int st = -1;
    int rc = posix_spawn(&pid, trig, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "sluice-trigger --describe failed (status %d)\n", st);
        return 0;
    }
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        fprintf(stderr, "%s: not JSON: %s\n", path, je.text);
        return 0;
    }
    json_t *ops = json_object_get(doc, "operations");
    printf("  the trigger says (sluice-trigger ... --describe: AsyncAPI %s, in %s):\n",
           json_string_value(json_object_get(doc, "asyncapi")), path);
    const char *name;
    json_t *op;
    int recv = 0, send = 0;
    json_object_foreach(ops, name, op)
    {
        const char *action = json_string_value(json_object_get(op, "action"));
        /* "#/channels/NAME" → the channel's address */
        const char *cref =
            json_string_value(json_object_get(json_object_get(op, "channel"), "$ref"));
        const char *cname = cref && strrchr(cref, '/') ? strrchr(cref, '/') + 1 : "?";
        json_t *ch = json_object_get(json_object_get(doc, "channels"), cname);
        printf("    %-8s %-14s", action ? action : "?",
               json_string_value(json_object_get(ch, "address")));
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(op, "messages"), i, m)
        {
            const char *mref = json_string_value(json_object_get(m, "$ref"));
            printf("%s%s", i ? ", " : " ",
                   mref && strrchr(mref, '/') ? strrchr(mref, '/') + 1 : "?");
        }
        printf("\n");
        recv += action && !strcmp(action, "receive");
        send += action && !strcmp(action, "send");
    }
    json_decref(doc);
    if (!recv || !send)
        fprintf(stderr, "%s: the trigger's description has no receive or no send\n", path);
    return recv && send;
}

static int exited(pid_t pid, int *status)
{
    pid_t r = waitpid(pid, status, WNOHANG);
    return r == pid;
}

#ifdef SL_DEMO_HTTP
/* GET http://@p addr@p path with a plain HTTP/1.0 request (what curl would
 * send): the status, the body in @p body. -1 when it cannot connect. */
static int http_get(const char *addr, const char *path, char *body, size_t cap)
{
    char host[64];
    if (!strncmp(addr, "http://", 7))
        addr += 7;
    const char *colon = strrchr(addr, ':');
    body[0] = 0;
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512], resp[8192];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = 0;
    int status = 0;
    if (sscanf(resp, "HTTP/%*s %d", &status) != 1)
        return -1;
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, cap, "%s", b ? b + 4 : "");
    body[strcspn(body, "\n")] = 0;
    return status;
}
#endif

/* ---- the view ---- */

/* Every live thing has its newest version's row; deleted and never-created
 * ones have none. Returns the number of mismatches. */
static size_t check_view(const char *db, const thing_t *things, int n)
{
    sqlite3 *h;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return (size_t)n;
    sqlite3_stmt *st;
    size_t bad = 0;
    if (sqlite3_prepare_v2(h,
                           "SELECT timestamp, json_extract(entity, '$.name') FROM things "
                           "WHERE key = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return (size_t)n;
    }
    for (int i = 0; i < n; i++) {
        char key[32], name[64];
        snprintf(key, sizeof key, "thing-%05d", i);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int row = sqlite3_step(st) == SQLITE_ROW;
        int live = things[i].version > 0 && !things[i].deleted;
        if (row != live) {
            if (bad++ < 3)
                fprintf(stderr, "  view: %s %s\n", key, live ? "is missing" : "should be gone");
        } else if (row) {
            snprintf(name, sizeof name, "Thing %d v%d", i, things[i].version);
            const unsigned char *got = sqlite3_column_text(st, 1);
            if (sqlite3_column_int64(st, 0) != things[i].ts || !got ||
                strcmp((const char *)got, name)) {
                if (bad++ < 3)
                    fprintf(stderr, "  view: %s holds %s at %lld, expected %s at %lld\n", key,
                            got ? (const char *)got : "(null)",
                            (long long)sqlite3_column_int64(st, 0), name, (long long)things[i].ts);
            }
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return bad;
}

static void dump_faults(const char *bootstrap, const char *path, int64_t expect)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, bootstrap, "sluice-demo-faults-reader");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, FAULT_TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t got = 0;
    double until = now_s() + 10;
    while (got < expect && now_s() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            fwrite(m->payload, 1, m->len, f);
            fputc('\n', f);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fclose(f);
}

/* The processor's own figure from its last log line: records/s over the
 * window from its first record in to its last one done. */
static int busy_rate(const char *log, double *rate, double *secs)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return -1;
    char line[2048];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "faults; ");
        if (strstr(line, "stopped after") && p &&
            sscanf(p, "faults; %lf records/s over the %lf s", rate, secs) == 2)
            found = 0;
    }
    fclose(f);
    return found;
}

static void usage(void)
{
    printf("usage: sluice-demo [--records N] [--things K] [--out DIR]\n"
           "  --records N  change records to write (default 50000)\n"
           "  --things K   distinct things they change (default 2000)\n"
           "  --out DIR    where the view database and logs stay (default demo-out)\n");
}

int main(int argc, char **argv)
{
    size_t nrec = 50000;
    int nthings = 2000;
    const char *out = "demo-out";
    tty = isatty(1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            nrec = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--things") && i + 1 < argc)
            nthings = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (nrec < 100 || nthings < 1 || (size_t)nthings > nrec || nthings > 99999)
        die("need --records >= 100 and 1 <= --things <= min(records, 99999)");
    char trig[PATH_MAX], list[PATH_MAX], fbin[PATH_MAX];
    find_bin(argv[0], "sluice-trigger", trig, sizeof trig);
    find_bin(argv[0], "sluice-listener", list, sizeof list);
    find_bin(argv[0], "sluice-faults", fbin, sizeof fbin);
    if (mkdir(out, 0755) && errno != EEXIST)
        die("cannot create %s: %s", out, strerror(errno));
    char db[PATH_MAX], tlog[PATH_MAX], llog[PATH_MAX], flog[PATH_MAX];
    snprintf(db, sizeof db, "%s/view.db", out);
    snprintf(tlog, sizeof tlog, "%s/trigger.log", out);
    snprintf(llog, sizeof llog, "%s/listener.log", out);
    snprintf(flog, sizeof flog, "%s/faults.jsonl", out);
    unlink(db);
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", db);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db);
    unlink(wal);
    /* The fault store of an earlier run holds that run's faults. */
    for (const char *const *x = (const char *const[]){"", "-wal", "-shm", NULL}; *x; x++) {
        snprintf(wal, sizeof wal, "%s/faults.db%s", out, *x);
        unlink(wal);
    }

    printf("sluice %s demo: %zu change records of %d things, trigger -> listener -> SQLite view\n",
           sl_version(), nrec, nthings);
    char err[512];
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    if (!b)
        die("embedded broker: %s", err);
    const char *bs = sl_broker_bootstrap(b);
    if (sl_broker_create_topic(b, IN_TOPIC, PARTS, 1) ||
        sl_broker_create_topic(b, OUT_TOPIC, PARTS, 1) ||
        sl_broker_create_topic(b, FAULT_TOPIC, 1, 1))
        die("cannot create the topics");
    printf("  embedded broker  %s (topics %s, %s, %s)\n", bs, IN_TOPIC, OUT_TOPIC, FAULT_TOPIC);

    /* Write the change records: each thing is created, then modified, and
     * about one in ten is removed at its end; records of a thing keep their
     * order (same key, same partition). A few are malformed on purpose. */
    thing_t *things = calloc((size_t)nthings, sizeof *things);
    rd_kafka_t *prod = client(RD_KAFKA_PRODUCER, bs, NULL);
    size_t malformed = 0;
    int64_t t0 = 1767225600000ll; /* 2026-01-01T00:00:00Z */
    char rec[4096], key[32];
    double tp = now_s();
    for (size_t i = 0; i < nrec; i++) {
        int id = i < (size_t)nthings ? (int)i : (int)(rnd() % (uint64_t)nthings);
        thing_t *t = &things[id];
        int64_t ts = t0 + (int64_t)i * 10;
        int len;
        snprintf(key, sizeof key, "thing-%05d", id);
        if (i % 5000 == 4999) {
            /* poison: an unknown operation, a bad number, broken JSON, by turns */
            static const char *bad[] = {
                "{\"eventName\":\"UPSERT\",\"eventSource\":\"aws:dynamodb\",\"dynamodb\":{"
                "\"Keys\":{\"id\":{\"S\":\"x\"}},\"NewImage\":{\"id\":{\"S\":\"x\"}}}}",
                "{\"eventName\":\"INSERT\",\"eventSource\":\"aws:dynamodb\",\"dynamodb\":{"
                "\"ApproximateCreationDateTime\":1767225600,\"Keys\":{\"id\":{\"S\":\"x\"}},"
                "\"NewImage\":{\"id\":{\"S\":\"x\"},\"count\":{\"N\":\"twelve\"}}}}",
                "{\"eventName\":\"MODIFY\",\"dynamodb\":{\"Keys\":"};
            len = snprintf(rec, sizeof rec, "%s", bad[malformed % 3]);
            snprintf(key, sizeof key, "bad-%zu", malformed);
            malformed++;
        } else if (t->deleted || t->version == 0) {
            t->version++;
            t->deleted = 0;
            t->ts = ts;
            len = change_record(rec, sizeof rec, "INSERT", id, t->version, ts, i);
        } else if (rnd() % 10 == 0) {
            t->deleted = 1;
            t->ts = ts;
            len = change_record(rec, sizeof rec, "REMOVE", id, t->version, ts, i);
        } else {
            t->version++;
            t->ts = ts;
            len = change_record(rec, sizeof rec, "MODIFY", id, t->version, ts, i);
        }
        if (len < 0 || (size_t)len >= sizeof rec)
            die("change record %zu does not fit", i);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                prod, RD_KAFKA_V_TOPIC(IN_TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(rec, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(prod, 10);
                continue;
            }
            if (e)
                die("produce: %s", rd_kafka_err2str(e));
            break;
        }
        rd_kafka_poll(prod, 0);
    }
    if (rd_kafka_flush(prod, 30000))
        die("the change records were not all delivered");
    for (int p = 0; p < PARTS; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(prod, IN_TOPIC, p, &lo, &hi, 5000) || lo != 0)
            die("the embedded broker did not keep all the input of partition %d (it keeps 5 MiB "
                "per partition): use fewer --records",
                p);
    }
    size_t live = 0, deleted = 0;
    for (int i = 0; i < nthings; i++) {
        live += things[i].version > 0 && !things[i].deleted;
        deleted += things[i].deleted;
    }
    printf("  wrote            %zu change records (%zu malformed on purpose) in %.2f s\n", nrec,
           malformed, now_s() - tp);

    /* The two services, as a user would run them. */
    char xb[600], view[PATH_MAX + 16];
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", bs);
    snprintf(view, sizeof view, "sqlite:%s#things", db);
    char *targs[] = {trig,
                     "--source",
                     "kafka:" IN_TOPIC,
                     "--sink",
                     "kafka:" OUT_TOPIC,
                     "--faults",
                     "kafka:" FAULT_TOPIC,
                     "--format",
                     "dynamodb",
                     "--entity",
                     "thing",
                     NULL};
    char *largs[] = {list,
                     "--source",
                     "kafka:" OUT_TOPIC,
                     "--faults",
                     "kafka:" FAULT_TOPIC,
                     "--types",
                     "thing-created,thing-updated,thing-deleted",
                     "--key",
                     "/thing/id",
                     "--view",
                     view,
                     NULL};
    char dpath[PATH_MAX];
    snprintf(dpath, sizeof dpath, "%s/trigger-asyncapi.json", out);
    int described = describe_trigger(trig, targs, xb, dpath);
    double start = now_s();
    pid_t tpid = spawn_service(targs, "demo-trigger", xb, tlog);
    pid_t lpid = spawn_service(largs, "demo-listener", xb, llog);
    printf("  started          sluice-trigger (pid %d), sluice-listener (pid %d); logs in %s/\n",
           (int)tpid, (int)lpid, out);
#ifdef SL_DEMO_HTTP
    char tep[128], lep[128];
    endpoint_of(tlog, tep, sizeof tep);
    endpoint_of(llog, lep, sizeof lep);
    if (tep[0] && lep[0])
        printf("  metrics          %s/metrics (trigger), %s/metrics (listener); /health, /ready\n",
               tep, lep);
#endif
    fflush(stdout);

    rd_kafka_t *tg = client(RD_KAFKA_CONSUMER, bs, "demo-trigger");
    rd_kafka_t *lg = client(RD_KAFKA_CONSUMER, bs, "demo-listener");
    double t_first = 0, t_done = 0, l_first = 0, l_done = 0, last_print = 0;
    int64_t tc = 0, pub = 0, lc = 0, rows = 0;
    int status = 0;
    for (;;) {
        double now = now_s();
        if (now - start > 120)
            die("no completion after 120 s; see %s and %s", tlog, llog);
        if (exited(tpid, &status) || exited(lpid, &status))
            die("a processor exited early (status %d); see %s and %s", status, tlog, llog);
        tc = committed(tg, IN_TOPIC, PARTS);
        pub = end_of(prod, OUT_TOPIC);
        lc = committed(lg, OUT_TOPIC, PARTS);
        rows = view_count(db, "SELECT count(*) FROM things");
        if (tc > 0 && !t_first)
            t_first = now;
        if (tc >= (int64_t)nrec && !t_done)
            t_done = now;
        if (lc > 0 && !l_first)
            l_first = now;
        if (t_done && pub >= 0 && lc >= pub && !l_done)
            l_done = now;
        if (now - last_print >= (tty ? 0.2 : 1.0) || l_done) {
            printf("%s  progress  %5.1f s  trigger %7" PRId64 "/%zu committed, %7" PRId64
                   " events published; listener %7" PRId64 " committed, %6" PRId64 " view rows%s",
                   tty ? "\r" : "", now - start, tc < 0 ? 0 : tc, nrec, pub < 0 ? 0 : pub,
                   lc < 0 ? 0 : lc, rows < 0 ? 0 : rows, tty ? "   " : "\n");
            fflush(stdout);
            last_print = now;
        }
        if (l_done)
            break;
        usleep(100000);
    }
    if (tty)
        printf("\n");
#ifdef SL_DEMO_HTTP
    /* One live thing through the listener's query API, while it runs. */
    char api_path[64] = "", api_body[8192] = "";
    int api_status = 0;
    for (int i = 0; i < nthings && !api_path[0]; i++)
        if (things[i].version > 0 && !things[i].deleted)
            snprintf(api_path, sizeof api_path, "/views/things/thing-%05d", i);
    if (lep[0] && api_path[0])
        api_status = http_get(lep, api_path, api_body, sizeof api_body);
#endif
    kill(tpid, SIGTERM);
    kill(lpid, SIGTERM);
    int ts_, ls_;
    waitpid(tpid, &ts_, 0);
    waitpid(lpid, &ls_, 0);
    rd_kafka_destroy(tg);
    rd_kafka_destroy(lg);

    int64_t faults = 0, lo, hi;
    if (!rd_kafka_query_watermark_offsets(prod, FAULT_TOPIC, 0, &lo, &hi, 5000))
        faults = hi;
    dump_faults(bs, flog, faults);

    /* The faults kept where they can be listed, shown and resubmitted:
     * sluice-faults store over the fault topic, until it committed them all. */
    char fstore[PATH_MAX + 8], slog[PATH_MAX];
    snprintf(fstore, sizeof fstore, "sqlite:%s/faults.db", out);
    snprintf(slog, sizeof slog, "%s/faults-store.log", out);
    char *sargs[] = {fbin,      "store", "--source", "kafka:" FAULT_TOPIC,
                     "--store", fstore,  "--group",  "demo-faults-store",
                     "-X",      xb,      "-c",       "commit.interval.ms=200",
                     NULL};
    pid_t spid = spawn(fbin, sargs, slog);
    rd_kafka_t *sg = client(RD_KAFKA_CONSUMER, bs, "demo-faults-store");
    double sstart = now_s();
    while (committed(sg, FAULT_TOPIC, 1) < faults) {
        if (now_s() - sstart > 60 || exited(spid, &status))
            die("sluice-faults store did not keep the %" PRId64 " faults; see %s", faults, slog);
        usleep(100000);
    }
    rd_kafka_destroy(sg);
    kill(spid, SIGTERM);
    int ss_;
    waitpid(spid, &ss_, 0);
    rd_kafka_destroy(prod);
    rows = view_count(db, "SELECT count(*) FROM things");
    int64_t tomb = view_count(db, "SELECT count(*) FROM things_deleted");
    size_t bad = check_view(db, things, nthings);
    double trate = 0, tsec = 0, lrate = 0, lsec = 0;
    busy_rate(tlog, &trate, &tsec);
    busy_rate(llog, &lrate, &lsec);

    printf("\nsummary\n");
    printf("  change records in   %zu (%zu malformed on purpose)\n", nrec, malformed);
    printf("  events published    %" PRId64 " on %s (thing-created/updated/deleted)\n", pub,
           OUT_TOPIC);
    printf("  faults              %" PRId64 " on %s, one per malformed record -> %s\n", faults,
           FAULT_TOPIC, flog);
    printf("  view rows           %" PRId64 " live things, %" PRId64
           " deleted (tombstones) in %s, table things\n",
           rows, tomb, db);
    printf("  view check          %s (expected %zu live, %zu deleted)\n",
           bad ? "MISMATCH" : "every key holds its newest change", live, deleted);
    printf("  trigger             %.0f records/s (%zu in %.2f s, first in to last done)\n", trate,
           nrec, tsec);
    printf("  listener            %.0f events/s (%" PRId64 " in %.2f s, first in to last done)\n",
           lrate, pub, lsec);
    printf("  seen by the demo    trigger committed everything %.1f s after its first commit, "
           "listener %.1f s after its first\n",
           t_done - t_first, l_done - l_first);
    printf("  processors exited   trigger %d, listener %d (0 = drained and committed)\n",
           WIFEXITED(ts_) ? WEXITSTATUS(ts_) : -1, WIFEXITED(ls_) ? WEXITSTATUS(ls_) : -1);
    printf("  total               %.1f s\n", now_s() - start);
    printf("\nquery it:  sqlite3 %s \"SELECT key, json_extract(entity, '$.name') FROM things "
           "LIMIT 5\"\n",
           db);
#ifdef SL_DEMO_HTTP
    if (api_path[0])
        printf("or through the listener's query API (sluice-listener --http), as the demo did "
               "before stopping it:\n  curl %s%s\n  -> %d %s\n",
               lep, api_path, api_status, api_body);
#endif
    printf("\nthe malformed records, kept by sluice-faults store:  %s list --store %s\n\n", fbin,
           fstore);
    fflush(stdout);
    char *largv[] = {fbin, "list", "--store", fstore, NULL};
    pid_t lspid;
    int lst = -1;
    if (posix_spawn(&lspid, fbin, NULL, NULL, largv, environ) == 0)
        waitpid(lspid, &lst, 0);
    printf("\nshow one; once the cause is fixed, send them back to the pipeline that faulted\n"
           "(only it processes them again) against a running broker:\n"
           "  %s show --store %s FAULT-ID\n"
           "  %s resubmit --store %s --pipeline cdc --execute -X bootstrap.servers=HOST:PORT\n",
           fbin, fstore, fbin, fstore);
    sl_broker_destroy(b);
    free(things);
    int ok = described && !bad && faults == (int64_t)malformed &&
             pub == (int64_t)(nrec - malformed) && WIFEXITED(ts_) && !WEXITSTATUS(ts_) &&
             WIFEXITED(ls_) && !WEXITSTATUS(ls_) && WIFEXITED(ss_) && !WEXITSTATUS(ss_) &&
             WIFEXITED(lst) && !WEXITSTATUS(lst);
#ifdef SL_DEMO_HTTP
    /* The API answered the row the view holds. */
    ok = ok && (!api_path[0] || (api_status == 200 && strstr(api_body, api_path + 14)));
#endif
    return ok ? 0 : 1;
}
