/* The service binaries end to end: sluice-trigger and sluice-listener run as
 * child processes against an embedded broker in this process (real Kafka
 * protocol on 127.0.0.1), fed by librdkafka's producer; the view is read
 * back with SQLite. Paths come from SLUICE_LISTENER_BIN / SLUICE_TRIGGER_BIN. */
#include "../kafka/kafka_helpers.h"
#include "../kinesis/kinesis_helpers.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <sys/stat.h>

TestSuite(processors, .timeout = 240);

/* ---- helpers ---- */

static char tmpdir[256];

static void mktmp(void)
{
    tu_mkdtemp(tmpdir, sizeof tmpdir, "sluice-proc");
}

static void rmtmp(void)
{
    cr_assert_eq(tu_rmtree(tmpdir), 0);
}

static const char *bin(const char *env)
{
    const char *b = getenv(env);
    if (!b)
        cr_skip_test("%s is not set", env);
    return b;
}

/* Spawn @p argv (NULL-terminated) with stdout+stderr to @p log and extra
 * environment entries @p envs (NULL-terminated, may be NULL). */
static pid_t run(char *const argv[], const char *log, char *const *envs)
{
    char *envp[256];
    size_t n = 0;
    /* The child sees only what the test gives it of sluice's and AWS's settings. */
    for (char **e = environ; *e && n < 200; e++)
        if ((strncmp(*e, "SLUICE_", 7) && strncmp(*e, "AWS_", 4)) ||
            !strncmp(*e, "SLUICE_LISTENER_BIN", 19) || !strncmp(*e, "SLUICE_TRIGGER_BIN", 18))
            envp[n++] = *e;
    for (; envs && *envs && n < 254; envs++)
        envp[n++] = *envs;
    envp[n] = NULL;
    return tu_spawn(argv, log, envp);
}

/* Wait until @p group committed @p want offsets on @p topic, bounded; any
 * of the @p n processors @p pids (logging to @p logs) exiting first fails
 * the test. */
static void wait_members_committed(const char *bs, const char *group, const char *topic, int parts,
                                   int64_t want, const pid_t *pids, const char *const *logs, int n)
{
    int64_t end = tu_now_ms() + 60000, got = -1;
    while (tu_now_ms() < end) {
        got = kt_committed(bs, group, topic, parts);
        if (got >= want)
            return;
        for (int i = 0; i < n; i++) {
            int st;
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                char *l = tu_slurp(logs[i]);
                cr_assert_fail("member %d of %d exited early; its log:\n%s", i, n, l);
            }
        }
        tu_sleep_ms(100);
    }
    char *l = tu_slurp(logs[0]);
    cr_assert_fail("%s committed %lld of %lld on %s; member 0's log:\n%s", group, (long long)got,
                   (long long)want, topic, l);
}

/* Wait until @p group committed @p want offsets on @p topic, bounded. */
static void wait_committed(const char *bs, const char *group, const char *topic, int parts,
                           int64_t want, pid_t pid, const char *log)
{
    wait_members_committed(bs, group, topic, parts, want, &pid, &log, 1);
}

static int stop(pid_t pid)
{
    kill(pid, SIGTERM);
    return kt_wait(pid, 30000);
}

/* A thing-* domain event. */
static int thing_event(char *buf, size_t cap, const char *type, int id, int version, int64_t ts)
{
    return snprintf(buf, cap,
                    "{\"id\":\"ev-%d-%d-%s\",\"type\":\"%s\",\"timestamp\":%lld,"
                    "\"partitionKey\":\"thing-%d\",\"tags\":{\"source\":\"test\"},"
                    "\"thing\":{\"id\":\"thing-%d\",\"name\":\"Thing %d\",\"version\":%d,"
                    "\"price\":%d.25}}",
                    id, version, type, type, (long long)ts, id, id, id, version, version);
}

/* mktmp() and an embedded broker for a listener test: "events" (@p events
 * partitions) and "faults" (1); its bootstrap in *@p bs and, unless @p p is
 * NULL, a producer to it in *@p p. */
static sl_broker_t *listener_broker(int events, const char **bs, rd_kafka_t **p)
{
    mktmp();
    const char *topics[] = {"events", "faults", NULL};
    const int parts[] = {events, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    *bs = sl_broker_bootstrap(b);
    if (p)
        *p = kt_producer(*bs);
    return b;
}

/* Version 1 of things [from, to) (thing-created at t0 + i) into "events". */
static void produce_created(rd_kafka_t *p, int from, int to, int64_t t0)
{
    char buf[512], key[32];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof key, "thing-%d", i);
        thing_event(buf, sizeof buf, "thing-created", i, 1, t0 + i);
        kt_produce(p, "events", key, buf, strlen(buf));
    }
    kt_flush(p);
}

typedef struct expect_s {
    int version; /* newest version; 0 = none */
    int deleted;
    int64_t ts;
} expect_t;

/* Checks the view against @p ex; returns the number of live rows. */
static int check_view(const char *db, const char *table, const expect_t *ex, int n)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT timestamp, type, json_extract(entity, '$.version'), entity FROM %s WHERE "
             "key = ?",
             table);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    int live = 0;
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "thing-%d", i);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int row = sqlite3_step(st) == SQLITE_ROW;
        int want = ex[i].version && !ex[i].deleted;
        cr_assert_eq(row, want, "%s: row %s", key, want ? "missing" : "should be gone");
        if (row) {
            live++;
            cr_assert_eq(sqlite3_column_int64(st, 0), ex[i].ts, "%s timestamp", key);
            cr_assert_eq(sqlite3_column_int(st, 2), ex[i].version, "%s version", key);
            const char *ent = (const char *)sqlite3_column_text(st, 3);
            cr_assert(strstr(ent, ".25"), "%s: the entity keeps the producer's number text: %s",
                      key, ent);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return live;
}

/* ---- listener ---- */

Test(processors, listener_keeps_the_newest_state_through_replays_reordering_and_deletes)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *bs;
    rd_kafka_t *p;
    sl_broker_t *b = listener_broker(4, &bs, &p);
    enum { N = 300 };
    expect_t ex[N] = {{0}};
    char buf[512], key[32];
    int64_t produced = 0, t0 = 1767225600000ll;
    for (int round = 1; round <= 4; round++)
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "thing-%d", i);
            int64_t ts = t0 + round * 100000 + i;
            const char *type = round == 1 ? "thing-created" : "thing-updated";
            if (round == 4 && i % 7 == 0)
                type = "thing-deleted";
            thing_event(buf, sizeof buf, type, i, round, ts);
            kt_produce(p, "events", key, buf, strlen(buf));
            produced++;
            if (!strcmp(type, "thing-deleted")) {
                ex[i].deleted = 1;
            } else {
                ex[i].version = round;
                ex[i].deleted = 0;
            }
            ex[i].ts = ts;
            if (round == 3 && i % 5 == 0) { /* a replay of an older event, after a newer one */
                thing_event(buf, sizeof buf, "thing-updated", i, 2, t0 + 2 * 100000 + i);
                kt_produce(p, "events", key, buf, strlen(buf));
                produced++;
            }
            if (round == 3 && i % 11 == 0) { /* the same event twice (at-least-once) */
                thing_event(buf, sizeof buf, type, i, round, ts);
                kt_produce(p, "events", key, buf, strlen(buf));
                produced++;
            }
        }
    /* After the deletes: an older update of a deleted key stays out. */
    for (int i = 0; i < N; i += 7) {
        snprintf(key, sizeof key, "thing-%d", i);
        thing_event(buf, sizeof buf, "thing-updated", i, 3, t0 + 3 * 100000 + i);
        kt_produce(p, "events", key, buf, strlen(buf));
        produced++;
    }
    /* Other types pass by; a malformed event and one without the key fault. */
    thing_event(buf, sizeof buf, "other-created", 1, 9, t0 + 999999999);
    kt_produce(p, "events", "x", buf, strlen(buf));
    kt_produce(p, "events", "bad", "{\"type\":\"thing-created\",", 24);
    const char *nokey = "{\"type\":\"thing-created\",\"timestamp\":5,\"thing\":{\"name\":\"x\"}}";
    kt_produce(p, "events", "nokey", nokey, strlen(nokey));
    produced += 3;
    kt_flush(p);

    tu_files_t fl;
    tu_files(&fl, tmpdir, "things");
    const char *db = fl.db, *view = fl.view, *log = fl.llog;
    char xb[300];
    snprintf(xb, sizeof xb, "SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s", bs);
    /* Half of the settings from the environment, half from flags. */
    char *envs[] = {xb, "SLUICE_SOURCE=kafka:events", "SLUICE_KEY=/thing/id",
                    "SLUICE_CONF_COMMIT_INTERVAL_MS=100", NULL};
    tu_cmd_t argv_c;
    char **argv = tu_cmd(&argv_c, lbin,
                         "--types thing-created,thing-updated,thing-deleted --view %s --faults "
                         "kafka:faults --group g-listener -c batch.linger.ms=20",
                         view);
    pid_t pid = run(argv, log, envs);
    wait_committed(bs, "g-listener", "events", 4, produced, pid, log);
    cr_assert_eq(stop(pid), 0, "SIGTERM drains: exit 0");

    int live = check_view(db, "things", ex, N);
    cr_assert_eq(live, N - (N + 6) / 7);
    /* Tombstones of the deleted keys, so older updates stayed out. */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT count(*) FROM things_deleted", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), (N + 6) / 7);
    sqlite3_finalize(st);
    sqlite3_close(h);
    /* Two faults, with their reasons. */
    size_t nf = kt_read(bs, "faults", 1, 2, 20000, 500, NULL, NULL);
    cr_assert_eq(nf, 2, "one fault per bad event");
    char *l = tu_slurp(log);
    cr_assert(strstr(l, "\"level\":\"info\""), "JSON log lines");
    cr_assert(strstr(l, "drain complete"), "%s", l);
    free(l);
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

/* ---- trigger → listener ---- */

typedef struct seen_s {
    size_t n, created, updated, deleted;
    json_t *first_deleted;
} seen_t;

static void on_event(const rd_kafka_message_t *m, void *opaque)
{
    seen_t *s = opaque;
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    cr_assert(j, "event is JSON: %s", je.text);
    const char *type = json_string_value(json_object_get(j, "type"));
    cr_assert(type);
    cr_assert(json_is_string(json_object_get(j, "id")));
    cr_assert(json_is_integer(json_object_get(j, "timestamp")));
    const char *pk = json_string_value(json_object_get(j, "partitionKey"));
    cr_assert(pk && m->key_len == strlen(pk) && !memcmp(m->key, pk, m->key_len),
              "the Kafka key is the partitionKey");
    cr_assert(json_is_object(json_object_get(j, "thing")), "payload under the entity name");
    cr_assert(json_is_object(json_object_get(j, "raw")));
    s->n++;
    if (!strcmp(type, "thing-created"))
        s->created++;
    else if (!strcmp(type, "thing-updated"))
        s->updated++;
    else if (!strcmp(type, "thing-deleted")) {
        s->deleted++;
        if (!s->first_deleted)
            s->first_deleted = json_incref(j);
    } else
        cr_assert_fail("unexpected type %s", type);
    json_decref(j);
}

static int ddb(char *buf, size_t cap, const char *op, int id, int version, int64_t ts)
{
    char img[300];
    snprintf(
        img, sizeof img,
        "{\"id\":{\"S\":\"thing-%d\"},\"name\":{\"S\":\"Thing %d\"},"
        "\"version\":{\"N\":\"%d\"},\"price\":{\"N\":\"%d.25\"},\"timestamp\":{\"N\":\"%lld\"}}",
        id, id, version, version, (long long)ts);
    int del = !strcmp(op, "REMOVE");
    return snprintf(
        buf, cap,
        "{\"eventID\":\"e%d-%d\",\"eventName\":\"%s\",\"eventSource\":\"aws:dynamodb\","
        "\"awsRegion\":\"eu-west-1\",\"dynamodb\":{\"ApproximateCreationDateTime\":%lld,"
        "\"Keys\":{\"id\":{\"S\":\"thing-%d\"}},\"%s\":%s,\"SequenceNumber\":\"%d%d\","
        "\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
        id, version, op, (long long)(ts / 1000), id, del ? "OldImage" : "NewImage", img, id,
        version);
}

Test(processors, trigger_publishes_domain_events_and_the_listener_materializes_them)
{
    const char *tbin = bin("SLUICE_TRIGGER_BIN"), *lbin = bin("SLUICE_LISTENER_BIN");
    mktmp();
    const char *topics[] = {"changes", "events", "faults", NULL};
    const int parts[] = {4, 4, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *p = kt_producer(bs);
    enum { N = 200 };
    expect_t ex[N] = {{0}};
    char buf[1024], key[32];
    int64_t produced = 0, t0 = 1767225600000ll;
    size_t good = 0;
    for (int v = 1; v <= 3; v++)
        for (int i = 0; i < N; i++) {
            const char *op = v == 1 ? "INSERT" : (v == 3 && i % 4 == 0) ? "REMOVE" : "MODIFY";
            int64_t ts = t0 + v * 10000 + i;
            int ver = !strcmp(op, "REMOVE") ? 2 : v;
            ddb(buf, sizeof buf, op, i, ver, ts);
            snprintf(key, sizeof key, "thing-%d", i);
            kt_produce(p, "changes", key, buf, strlen(buf));
            produced++;
            good++;
            if (!strcmp(op, "REMOVE")) {
                ex[i].deleted = 1;
                /* a delete takes the change time: seconds, so the ms part is lost */
                ex[i].ts = ts / 1000 * 1000;
            } else {
                ex[i].version = v;
                ex[i].ts = ts;
            }
            if (i % 50 == 49) { /* malformed change records, the stream goes on */
                const char *bad[] = {"{\"eventName\":\"INSERT\"", "{\"eventName\":\"DROP\","
                                                                  "\"dynamodb\":{}}"};
                kt_produce(p, "changes", "bad", bad[i % 2], strlen(bad[i % 2]));
                produced++;
            }
        }
    kt_flush(p);
    size_t nbad = (size_t)(produced - (int64_t)good);

    tu_files_t fl;
    tu_files(&fl, tmpdir, NULL);
    const char *tlog = fl.tlog, *llog = fl.llog, *db = fl.db, *view = fl.view;
    char xb[300];
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", bs);
    tu_cmd_t targv_c;
    char **targv =
        tu_cmd(&targv_c, tbin,
               "--source kafka:changes --sink kafka:events --faults kafka:faults --format dynamodb "
               "--entity thing --group g-trigger -X %s -c commit.interval.ms=100",
               xb);
    tu_cmd_t largv_c;
    /* This listener's view fsyncs every commit (the other listener tests keep
     * the default, normal). */
    char **largv = tu_cmd(&largv_c, lbin,
                          "--source kafka:events --key /thing/id --view %s --group g-listener2 -X "
                          "%s -c commit.interval.ms=100 -c view.synchronous=full",
                          view, xb);
    pid_t tp = run(targv, tlog, NULL);
    pid_t lp = run(largv, llog, NULL);
    wait_committed(bs, "g-trigger", "changes", 4, produced, tp, tlog);
    wait_committed(bs, "g-listener2", "events", 4, (int64_t)good, lp, llog);
    cr_assert_eq(stop(tp), 0);
    cr_assert_eq(stop(lp), 0);

    seen_t s = {0};
    cr_assert_eq(kt_read(bs, "events", 4, good, 20000, 300, on_event, &s), good,
                 "one event per good change record");
    cr_assert_eq(s.created, N);
    cr_assert_eq(s.deleted, N / 4);
    cr_assert_eq(s.updated, good - N - N / 4);
    json_t *d = s.first_deleted;
    cr_assert(d);
    cr_assert(json_is_null(json_object_get(json_object_get(d, "raw"), "new")));
    cr_assert(json_is_object(json_object_get(json_object_get(d, "raw"), "old")));
    json_t *thing = json_object_get(d, "thing");
    cr_assert(json_is_integer(json_object_get(thing, "version")), "{\"N\":\"2\"} became 2");
    json_decref(d);
    cr_assert_eq(kt_read(bs, "faults", 1, nbad, 20000, 300, NULL, NULL), nbad,
                 "one fault per malformed change record");
    check_view(db, "view", ex, N);
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

Test(processors, trigger_reads_debezium_envelopes)
{
    const char *tbin = bin("SLUICE_TRIGGER_BIN");
    mktmp();
    const char *topics[] = {"dbz", "events", "faults", NULL};
    const int parts[] = {2, 2, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *p = kt_producer(bs);
    const char *recs[] = {
        "{\"before\":null,\"after\":{\"id\":7,\"name\":\"a\"},\"op\":\"c\",\"ts_ms\":1767225600000,"
        "\"source\":{\"table\":\"things\"}}",
        "{\"schema\":{},\"payload\":{\"before\":{\"id\":7,\"name\":\"a\"},\"after\":{\"id\":7,"
        "\"name\":\"b\"},\"op\":\"u\",\"ts_ms\":1767225601000,\"source\":{}}}",
        "{\"before\":{\"id\":7,\"name\":\"b\"},\"after\":null,\"op\":\"d\",\"ts_ms\":1767225602000,"
        "\"source\":{}}",
        "{\"before\":null,\"after\":null,\"op\":\"z\",\"ts_ms\":1,\"source\":{}}",
    };
    for (int i = 0; i < 4; i++) {
        kt_produce(p, "dbz", "7", recs[i], strlen(recs[i]));
        if (i == 2) /* the tombstone Debezium writes after a delete: skipped, not a fault */
            kt_produce(p, "dbz", "7", "", 0);
    }
    kt_flush(p);
    char log[300];
    snprintf(log, sizeof log, "%s/trigger.log", tmpdir);
    tu_cmd_t argv_c;
    char **argv = tu_cmd(&argv_c, tbin,
                         "--source=kafka:dbz --sink=kafka:events --format=debezium --entity=thing "
                         "-X bootstrap.servers=%s -c commit.interval.ms=100",
                         bs);
    pid_t pid = run(argv, log, NULL);
    wait_committed(bs, "trigger", "dbz", 2, 5, pid, log);
    cr_assert_eq(stop(pid), 0);
    seen_t s = {0};
    cr_assert_eq(kt_read(bs, "events", 2, 3, 20000, 300, on_event, &s), 3);
    cr_assert_eq(s.created, 1);
    cr_assert_eq(s.updated, 1);
    cr_assert_eq(s.deleted, 1);
    json_decref(s.first_deleted);
    cr_assert_eq(kt_read(bs, "faults", 1, 1, 20000, 300, NULL, NULL), 1, "op z is a fault");
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

typedef struct texts_s {
    size_t n;
    char *v[16];
} texts_t;

static void keep_text(const rd_kafka_message_t *m, void *opaque)
{
    texts_t *t = opaque;
    cr_assert_lt(t->n, 16);
    t->v[t->n] = malloc(m->len + 1);
    memcpy(t->v[t->n], m->payload, m->len);
    t->v[t->n++][m->len] = 0;
}

Test(processors, trigger_migrating_from_aws_lambda_stream)
{
    const char *tbin = bin("SLUICE_TRIGGER_BIN");
    mktmp();
    const char *topics[] = {"ddb", "events", "faults", NULL};
    const int parts[] = {1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *p = kt_producer(bs);
#define IMG(extra)                                                                                 \
    "{\"pk\":{\"S\":\"1\"},\"sk\":{\"S\":\"Thing\"},\"discriminator\":{\"S\":\"Thing\"},"          \
    "\"price\":{\"N\":\"3.14159\"}" extra "}"
    const char *recs[] = {
        /* published: thing-created, type from the discriminator */
        "{\"eventID\":\"a1\",\"eventName\":\"INSERT\",\"awsRegion\":\"eu-west-1\",\"dynamodb\":{"
        "\"ApproximateCreationDateTime\":1767225600,\"Keys\":{\"pk\":{\"S\":\"1\"},\"sk\":{\"S\":"
        "\"Thing\"}},\"NewImage\":" IMG(",\"awsregion\":{\"S\":\"eu-west-1\"}") "}}",
        /* skipped: latched */
        "{\"eventID\":\"a2\",\"eventName\":\"MODIFY\",\"dynamodb\":{"
        "\"ApproximateCreationDateTime\":"
        "1767225601,\"Keys\":{\"pk\":{\"S\":\"1\"}},\"NewImage\":" IMG(
            ",\"latched\":{\"BOOL\":true}") "}}",
        /* skipped: a replica written in us-east-1 */
        "{\"eventID\":\"a3\",\"eventName\":\"MODIFY\",\"dynamodb\":{"
        "\"ApproximateCreationDateTime\":"
        "1767225602,\"Keys\":{\"pk\":{\"S\":\"1\"}},\"NewImage\":" IMG(
            ",\"awsregion\":{\"S\":\"us-east-1\"}") "}}",
        /* published: thing-expired */
        "{\"eventID\":\"a4\",\"eventName\":\"REMOVE\",\"userIdentity\":{\"type\":\"Service\","
        "\"principalId\":\"dynamodb.amazonaws.com\"},\"dynamodb\":{\"ApproximateCreationDateTime\":"
        "1767225603,\"Keys\":{\"pk\":{\"S\":\"1\"}},\"OldImage\":" IMG(
            ",\"ttl\":{\"N\":\"5\"}") "}}",
    };
#undef IMG
    for (int i = 0; i < 4; i++)
        kt_produce(p, "ddb", NULL, recs[i], strlen(recs[i]));
    kt_flush(p);
    char log[300], xb[300];
    snprintf(log, sizeof log, "%s/trigger.log", tmpdir);
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", bs);
    char *argv[] = {(char *)tbin,
                    "--source=kafka:ddb",
                    "--sink=kafka:events",
                    "--format",
                    "dynamodb",
                    "--region",
                    "eu-west-1",
                    "--service",
                    "things",
                    "--stage=prod",
                    "--account",
                    "acme",
                    "--name",
                    "things-trigger",
                    "-X",
                    xb,
                    "-c",
                    "commit.interval.ms=100",
                    NULL};
    pid_t pid = run(argv, log, NULL);
    wait_committed(bs, "things-trigger", "ddb", 1, 4, pid, log);
    cr_assert_eq(stop(pid), 0);
    texts_t t = {0};
    cr_assert_eq(kt_read(bs, "events", 1, 2, 20000, 300, keep_text, &t), 2,
                 "the latched record and the replica are not published");
    cr_assert(strstr(t.v[0], "\"type\":\"thing-created\""), "%s", t.v[0]);
    cr_assert(strstr(t.v[1], "\"type\":\"thing-expired\""), "%s", t.v[1]);
    for (size_t i = 0; i < t.n; i++) {
        cr_assert(strstr(t.v[i], "\"thing\":{\"price\":3.14159}"),
                  "storage attributes dropped, the number as written: %s", t.v[i]);
        cr_assert(strstr(t.v[i], "\"tags\":{\"source\":\"things\",\"account\":\"acme\",\"stage\":"
                                 "\"prod\",\"region\":\"eu-west-1\",\"functionname\":"
                                 "\"things-trigger\",\"pipeline\":\"cdc\""),
                  "%s", t.v[i]);
        cr_assert(strstr(t.v[i], "\"partitionKey\":\"1\""), "Keys.pk: %s", t.v[i]);
        free(t.v[i]);
    }
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 5000, 2000, NULL, NULL), 0, "no faults");
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

/* ---- usage ---- */

typedef struct usage_case_s {
    const char *what;
    const char *args[12];
    int code;
    const char *says;
} usage_case_t;

static void check_usage(const char *binary, const usage_case_t *c)
{
    char log[300];
    snprintf(log, sizeof log, "%s/usage.log", tmpdir);
    char *argv[16] = {(char *)binary};
    int n = 1;
    for (; c->args[n - 1]; n++)
        argv[n] = (char *)c->args[n - 1];
    argv[n] = NULL;
    pid_t pid = run(argv, log, NULL);
    int code = kt_wait(pid, 30000);
    char *out = tu_slurp(log);
    cr_assert_eq(code, c->code, "%s: exit %d, want %d; output:\n%s", c->what, code, c->code, out);
    cr_assert(strstr(out, c->says), "%s: output should say \"%s\":\n%s", c->what, c->says, out);
    free(out);
}

Test(processors, bad_flags_give_a_clear_error_and_exit_code)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *tbin = bin("SLUICE_TRIGGER_BIN");
    mktmp();
    /* Found by fuzz_cli: a key longer than the binary's buffer was cut and
     * the cut name set, silently. */
    char longkey[700];
    snprintf(longkey, sizeof longkey, "kafka.%0600d=1", 0);
    const usage_case_t lcases[] = {
        {"key too long",
         {"--source", "kafka:e", "--key", "/id", "-X", "bootstrap.servers=x:1", "-c", longkey},
         2,
         "the key is longer than 511 bytes"},
        {"help", {"--help"}, 0, "--key /JSON/POINTER"},
        {"version", {"--version"}, 0, "sluice-listener (sluice) "},
        {"no source", {"--key", "/id", "-X", "bootstrap.servers=x:1"}, 2, "--source is required"},
        {"no key", {"--source", "kafka:e"}, 2, "--key is required"},
        {"key not a pointer", {"--source", "kafka:e", "--key", "id"}, 2, "starts with '/'"},
        {"unknown flag",
         {"--source", "kafka:e", "--key", "/id", "--frobnicate"},
         2,
         "unknown argument \"--frobnicate\""},
        {"missing value", {"--source"}, 2, "--source needs a value"},
        {"trigger flag",
         {"--source", "kafka:e", "--key", "/id", "--format", "dynamodb"},
         2,
         "--format is not an option of sluice-listener"},
        {"bad view",
         {"--source", "kafka:e", "--key", "/id", "--view", "mysql:x"},
         2,
         "expected sqlite:PATH"},
        {"bad -X",
         {"--source", "kafka:e", "--key", "/id", "-X", "novalue"},
         2,
         "expected KEY=VALUE"},
        {"bad kafka property",
         {"--source", "kafka:e", "--key", "/id", "-X", "bootstrap.servers=x:1", "-X", "no.such=1"},
         2,
         "no.such"},
        {"bad sluice property",
         {"--source", "kafka:e", "--key", "/id", "-X", "bootstrap.servers=x:1", "-c", "nope=1"},
         2,
         "nope"},
        {"no brokers", {"--source", "kafka:e", "--key", "/id"}, 2, "no Kafka brokers"},
        {"kinesis without credentials",
         {"--source", "kinesis:s", "--key", "/id", "--faults", "kinesis:f"},
         2,
         "no AWS credentials"},
        {"bad scheme",
         {"--source", "pulsar:s", "--key", "/id"},
         2,
         "expected kafka:TOPIC or kinesis:STREAM"},
        {"instance id on kinesis",
         {"--source", "kinesis:s", "--key", "/id", "--instance-id", "m1"},
         2,
         "only a kafka: source has a consumer group"},
        {"instance id in help", {"--help"}, 0, "--instance-id ID"},
        {"mixed types",
         {"--source", "kafka:e", "--key", "/id", "--types", "a,b*"},
         2,
         "either exact names or prefixes"},
        {"bad view.synchronous",
         {"--source", "kafka:e", "--key", "/id", "-X", "bootstrap.servers=x:1", "-c",
          "view.synchronous=off"},
         2,
         "view.synchronous: expected normal or full, got \"off\""},
    };
    for (size_t i = 0; i < sizeof lcases / sizeof *lcases; i++)
        check_usage(lbin, &lcases[i]);
    const usage_case_t tcases[] = {
        {"help", {"--help"}, 0, "--format dynamodb|debezium"},
        {"instance id in help", {"--help"}, 0, "--instance-id ID"},
        {"instance id on kinesis",
         {"--source", "kinesis:c", "--sink", "kafka:e", "--format", "debezium", "--entity", "t",
          "--instance-id", "m1"},
         2,
         "only a kafka: source has a consumer group"},
        {"no sink",
         {"--source", "kafka:c", "--format", "dynamodb", "--entity", "t"},
         2,
         "--sink is required"},
        {"bad format",
         {"--source", "kafka:c", "--sink", "kafka:e", "--format", "csv", "--entity", "t"},
         2,
         "expected dynamodb or debezium"},
        {"help lists the cdc options", {"--help"}, 0, "--keep-latched"},
        {"bad expired",
         {"--source", "kafka:c", "--sink", "kafka:e", "--format", "dynamodb", "--expired", "later"},
         2,
         "--expired later: expected event, skip or delete"},
        {"empty drop",
         {"--source", "kafka:c", "--sink", "kafka:e", "--format", "dynamodb", "--drop="},
         2,
         "--drop needs a non-empty value"},
        {"bad entity",
         {"--source", "kafka:c", "--sink", "kafka:e", "--format", "debezium", "--entity", "a b",
          "-X", "bootstrap.servers=x:1"},
         2,
         "letters, digits"},
        {"listener flag",
         {"--source", "kafka:c", "--sink", "kafka:e", "--format", "debezium", "--entity", "t",
          "--key", "/id"},
         2,
         "--key is not an option of sluice-trigger"},
    };
    for (size_t i = 0; i < sizeof tcases / sizeof *tcases; i++)
        check_usage(tbin, &tcases[i]);
    rmtmp();
}

Test(processors, unreachable_brokers_exit_with_a_clear_message)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN");
    mktmp();
    char view[320];
    snprintf(view, sizeof view, "sqlite:%s/v.db", tmpdir);
    const usage_case_t c = {"unreachable",
                            {"--source", "kafka:e", "--key", "/id", "--view", view, "-X",
                             "bootstrap.servers=127.0.0.1:1", "-c",
                             "source.connect.timeout.ms=1500", NULL},
                            1,
                            "cannot reach the Kafka brokers at 127.0.0.1:1"};
    check_usage(lbin, &c);
    rmtmp();
}

/* ---- a locked view ---- */

/* Stats lines in @p log from byte @p from on. */
static int count_stats(const char *log, size_t from)
{
    char *l = tu_slurp(log);
    int n = 0;
    if (strlen(l) > from)
        for (const char *s = l + from; (s = strstr(s, "\"msg\":\"stats:")); s++)
            n++;
    free(l);
    return n;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (size_t)st.st_size;
}

/* The "ts" of the first log line holding @p what, or -1. */
static int64_t line_ts(const char *log, const char *what)
{
    char *l = tu_slurp(log);
    char *hit = strstr(l, what);
    int64_t ts = -1;
    if (hit) {
        while (hit > l && hit[-1] != '\n')
            hit--;
        const char *t = strstr(hit, "\"ts\":");
        if (t)
            ts = strtoll(t + 5, NULL, 10);
    }
    free(l);
    return ts;
}

/* The view database held by another writer (BEGIN EXCLUSIVE) while records
 * flow: the store's busy wait runs off the loop, so the loop keeps logging
 * stats; a SIGTERM during the lock drains within drain.timeout.ms (the
 * blocked apply is interrupted) and commits nothing that was not applied;
 * a restart after the lock is gone puts every key in the view. */
Test(processors, a_locked_view_blocks_neither_the_loop_nor_the_drain_and_loses_nothing)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *bs;
    rd_kafka_t *p;
    sl_broker_t *b = listener_broker(4, &bs, &p);
    enum { N1 = 200, N2 = 200, DRAIN_MS = 1000 };
    int64_t t0 = 1767225600000ll;
    produce_created(p, 0, N1, t0);

    tu_files_t fl;
    tu_files(&fl, tmpdir, "things");
    const char *db = fl.db, *view = fl.view, *log = fl.llog;
    char log2[300], xb[300], drain[64];
    snprintf(log2, sizeof log2, "%s/listener2.log", tmpdir);
    snprintf(xb, sizeof xb, "SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s", bs);
    snprintf(drain, sizeof drain, "drain.timeout.ms=%d", DRAIN_MS);
    char *envs[] = {xb, NULL};
    tu_cmd_t argv_c;
    char **argv =
        tu_cmd(&argv_c, lbin,
               "--source kafka:events --key /thing/id --view %s --group g-locked -c "
               "batch.linger.ms=20 -c commit.interval.ms=100 -c log.stats.interval.ms=200 -c %s",
               view, drain);
    pid_t pid = run(argv, log, envs);
    wait_committed(bs, "g-locked", "events", 4, N1, pid, log);

    /* Another writer takes the view; records keep coming. */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(h));
    size_t mark = file_size(log);
    produce_created(p, N1, N1 + N2, t0);
    tu_sleep_ms(3000);
    int stats = count_stats(log, mark);
    /* Every 200 ms for 3 s is 15; a blocked loop logs none. */
    cr_assert_geq(stats, 5, "the loop kept logging stats during the lock: %d lines", stats);

    /* SIGTERM with the lock still held. */
    mark = file_size(log);
    kill(pid, SIGTERM);
    int rc = kt_wait(pid, 60000);
    char *l = tu_slurp(log);
    cr_assert_eq(rc, 3, "a drain that timed out exits 3; log:\n%s", l);
    free(l);
    int64_t began = line_ts(log, "draining (SIGTERM)"), ended = line_ts(log, "drain timed out");
    cr_assert(began > 0 && ended > 0, "drain lines in the log");
    /* The drain bound holds, with room for a slow machine (a loop blocked
     * in the store's 5 s busy wait overruns it by seconds). */
    cr_assert_leq(ended - began, DRAIN_MS + 1500, "the drain took %lld ms, bound %d ms",
                  (long long)(ended - began), DRAIN_MS);
    cr_assert_eq(kt_committed(bs, "g-locked", "events", 4), N1,
                 "nothing applied during the lock, nothing committed");
    cr_assert_eq(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);

    /* The lock is gone: a restart applies the rest. */
    pid = run(argv, log2, envs);
    wait_committed(bs, "g-locked", "events", 4, N1 + N2, pid, log2);
    cr_assert_eq(stop(pid), 0, "a clean drain exits 0");
    expect_t ex[N1 + N2];
    for (int i = 0; i < N1 + N2; i++)
        ex[i] = (expect_t){.version = 1, .deleted = 0, .ts = t0 + i};
    cr_assert_eq(check_view(db, "things", ex, N1 + N2), N1 + N2, "every key in the view");
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

/* Whether the view of things in @p db holds @p key; 0 as well when the file
 * cannot be read (a member that never wrote). */
static int in_view(const char *db, const char *key)
{
    sqlite3 *q;
    int found = 0;
    if (sqlite3_open_v2(db, &q, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(q);
        return 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q, "SELECT 1 FROM things WHERE key = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    sqlite3_close(q);
    return found;
}

/* A Kafka revoke waits for the revoked partitions' records without running
 * the loop; their view writes, on the thread pool, must still complete
 * during that wait. The view is locked while a second listener joins, and
 * released the moment the first one starts revoking: its blocked write then
 * lands within the revoke bound and the partitions go with nothing left in
 * flight. */
Test(processors, a_revoke_completes_view_writes_that_finish_during_it)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *bs;
    rd_kafka_t *p;
    sl_broker_t *b = listener_broker(4, &bs, &p);
    enum { N1 = 100, N2 = 100 };
    char key[32];
    int64_t t0 = 1767225600000ll;
    produce_created(p, 0, N1, t0);

    char dba[300], dbb[300], va[320], vb[320], loga[300], logb[300], xb[300];
    snprintf(dba, sizeof dba, "%s/a.db", tmpdir);
    snprintf(dbb, sizeof dbb, "%s/b.db", tmpdir);
    snprintf(va, sizeof va, "sqlite:%s#things", dba);
    snprintf(vb, sizeof vb, "sqlite:%s#things", dbb);
    snprintf(loga, sizeof loga, "%s/a.log", tmpdir);
    snprintf(logb, sizeof logb, "%s/b.log", tmpdir);
    snprintf(xb, sizeof xb, "SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s", bs);
    char *envs[] = {xb, NULL};
    /* The 2.0.2 mock rebalances when the rebalance timeout expires; the
     * revoke bound is half of max.poll.interval.ms. */
    tu_cmd_t argv_a_c;
    char **argv_a =
        tu_cmd(&argv_a_c, lbin,
               "--source kafka:events --key /thing/id --view %s --group g-rb -X "
               "max.poll.interval.ms=6000 -X session.timeout.ms=6000 -c batch.linger.ms=20 -c "
               "commit.interval.ms=100 -c retry.backoff.max.ms=200 -c retry.max=1000",
               va);
    pid_t a = run(argv_a, loga, envs);
    wait_committed(bs, "g-rb", "events", 4, N1, a, loga);

    sqlite3 *h;
    cr_assert_eq(sqlite3_open(dba, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    produce_created(p, N1, N1 + N2, t0);
    tu_sleep_ms(500);
    tu_cmd_t argv_b_c;
    char **argv_b = tu_cmd(
        &argv_b_c, lbin,
        "--source kafka:events --key /thing/id --view %s --group g-rb -X max.poll.interval.ms=6000 "
        "-X session.timeout.ms=6000 -c batch.linger.ms=20 -c commit.interval.ms=100",
        vb);
    pid_t bp = run(argv_b, logb, envs);
    int revoking = 0;
    for (int64_t end = tu_now_ms() + 60000; !revoking && tu_now_ms() < end;) {
        char *l = tu_slurp(loga);
        revoking = strstr(l, "revoking") != NULL;
        free(l);
        if (!revoking)
            tu_sleep_ms(10);
    }
    cr_assert_eq(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    cr_assert(revoking, "the first listener revoked partitions");
    wait_committed(bs, "g-rb", "events", 4, N1 + N2, a, loga);
    cr_assert_eq(stop(a), 0);
    cr_assert_eq(stop(bp), 0);
    char *l = tu_slurp(loga);
    cr_assert_null(strstr(l, "left with"),
                   "the revoked partitions went with nothing in flight:\n%s", l);
    free(l);
    /* Every key is in one of the two views. */
    for (int i = 0; i < N1 + N2; i++) {
        int found = 0;
        const char *dbs[] = {dba, dbb};
        snprintf(key, sizeof key, "thing-%d", i);
        for (int k = 0; k < 2 && !found; k++)
            found = in_view(dbs[k], key);
        cr_assert(found, "thing-%d is in a view", i);
    }
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

/* ---- a consumer group of three, one killed ---- */

/* wait_members_committed() for @p n members logging to @p logs. */
static void wait_group_committed(const char *bs, const char *group, const char *topic, int parts,
                                 int64_t want, const pid_t *pids, char logs[][300], int n)
{
    const char *lp[8];
    cr_assert_leq(n, 8);
    for (int i = 0; i < n; i++)
        lp[i] = logs[i];
    wait_members_committed(bs, group, topic, parts, want, pids, lp, n);
}

/* Partitions a member holds now, from its "assigned N" / "revoking N" /
 * "lost N" log lines (incremental: each adds or removes). */
static int held_partitions(const char *log)
{
    char *l = tu_slurp(log);
    int held = 0;
    for (const char *s = l; (s = strstr(s, "\"msg\":\"")); s++) {
        int k;
        if (sscanf(s, "\"msg\":\"assigned %d partition", &k) == 1)
            held += k;
        else if (sscanf(s, "\"msg\":\"revoking %d partition", &k) == 1 ||
                 sscanf(s, "\"msg\":\"lost %d partition", &k) == 1)
            held -= k;
    }
    free(l);
    return held;
}

/* --instance-id reaches the consumer as group.instance.id (librdkafka's
 * own configuration dump says so), and not the producers, which would only
 * warn about a consumer property; SLUICE_INSTANCE_ID does the same. */
Test(processors, instance_id_sets_group_instance_id_on_the_consumer)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *bs;
    sl_broker_t *b = listener_broker(2, &bs, NULL);
    char view[320], log[300], xb[300];
    snprintf(view, sizeof view, "sqlite:%s/v.db", tmpdir);
    snprintf(log, sizeof log, "%s/l.log", tmpdir);
    snprintf(xb, sizeof xb, "SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s", bs);
    for (int viaenv = 0; viaenv < 2; viaenv++) {
        char *envs[] = {xb, viaenv ? "SLUICE_INSTANCE_ID=member-env" : NULL, NULL};
        char *argv[] = {(char *)lbin,
                        "--source",
                        "kafka:events",
                        "--key",
                        "/thing/id",
                        "--view",
                        view,
                        "-X",
                        "debug=conf",
                        "-c",
                        "log.level=debug",
                        viaenv ? NULL : "--instance-id",
                        "member-flag",
                        NULL};
        pid_t pid = run(argv, log, envs);
        const char *want =
            viaenv ? "group.instance.id = member-env" : "group.instance.id = member-flag";
        char *l = NULL;
        for (int64_t end = tu_now_ms() + 30000; tu_now_ms() < end; tu_sleep_ms(50)) {
            free(l);
            l = tu_slurp(log);
            /* "running": the signal handlers are installed; a SIGTERM before
             * them kills the listener (seen under load: stop() != 0). */
            if (strstr(l, want) && strstr(l, "producer-") && strstr(l, "\"msg\":\"running\""))
                break;
        }
        cr_assert(strstr(l, want), "the consumer's configuration holds %s:\n%s", want, l);
        const char *hit = strstr(l, want);
        while (hit > l && hit[-1] != '\n')
            hit--;
        cr_assert(strstr(hit, "#consumer-") && strstr(hit, "#consumer-") < strstr(hit, want),
                  "set on the consumer");
        cr_assert_null(strstr(strstr(hit, want) + 1, "group.instance.id"),
                       "no other client (the producers) is given group.instance.id:\n%s", l);
        free(l);
        cr_assert_eq(stop(pid), 0);
    }
    sl_broker_destroy(b);
    rmtmp();
}

/* Three listeners in one group over 6 partitions, each a static member
 * (--instance-id). One is SIGKILLed mid-stream: after its session times out
 * the other two take its partitions, and the group converges with nothing
 * lost: every key is in one of the views and the commits reach the end.
 * (The embedded broker reads group.instance.id but does not implement
 * static membership: the kill is handled like a dynamic member's.) */
Test(processors, a_group_of_three_survives_a_member_killed_mid_stream)
{
    const char *lbin = bin("SLUICE_LISTENER_BIN"), *bs;
    rd_kafka_t *p;
    sl_broker_t *b = listener_broker(6, &bs, &p);
    enum { N1 = 300, N2 = 300, N3 = 300, M = 3 };
    char buf[512], key[32];
    int64_t t0 = 1767225600000ll;
    int next = 0;
#define PRODUCE(n)                                                                                 \
    do {                                                                                           \
        for (int e_ = next + (n); next < e_; next++) {                                             \
            snprintf(key, sizeof key, "thing-%d", next);                                           \
            thing_event(buf, sizeof buf, "thing-created", next, 1, t0 + next);                     \
            kt_produce(p, "events", key, buf, strlen(buf));                                        \
        }                                                                                          \
        kt_flush(p);                                                                               \
    } while (0)
    PRODUCE(N1);

    char dbs[M][280], views[M][300], logs[M][300], ids[M][32], xb[300];
    snprintf(xb, sizeof xb, "SLUICE_KAFKA_BOOTSTRAP_SERVERS=%s", bs);
    char *envs[] = {xb, NULL};
    pid_t pids[M];
    for (int i = 0; i < M; i++) {
        snprintf(dbs[i], sizeof dbs[i], "%s/m%d.db", tmpdir, i);
        snprintf(views[i], sizeof views[i], "sqlite:%s/m%d.db#things", tmpdir, i);
        snprintf(logs[i], sizeof logs[i], "%s/m%d.log", tmpdir, i);
        snprintf(ids[i], sizeof ids[i], "member-%d", i);
        /* The embedded broker lets a member join a running group only when
         * the rebalance timeout (max.poll.interval.ms) expires, and notices
         * a dead one after session.timeout.ms. */
        char *argv[] = {(char *)lbin,
                        "--source",
                        "kafka:events",
                        "--key",
                        "/thing/id",
                        "--view",
                        views[i],
                        "--group",
                        "g-three",
                        "--instance-id",
                        ids[i],
                        "-X",
                        "max.poll.interval.ms=6000",
                        "-X",
                        "session.timeout.ms=6000",
                        "-c",
                        "batch.linger.ms=20",
                        "-c",
                        "commit.interval.ms=100",
                        NULL};
        pids[i] = run(argv, logs[i], envs);
    }
    /* Every member holds partitions and the first records are done. */
    int spread = 0;
    for (int64_t end = tu_now_ms() + 60000; !spread && tu_now_ms() < end;) {
        spread = 1;
        for (int i = 0; i < M; i++)
            spread = spread && held_partitions(logs[i]) > 0;
        if (!spread)
            tu_sleep_ms(100);
    }
    cr_assert(spread, "the three members share the 6 partitions");
    wait_group_committed(bs, "g-three", "events", 6, N1, pids, logs, M);

    /* Mid-stream: records are flowing to every partition when the member
     * holding some of them dies without a word. */
    PRODUCE(N2);
    int victim = M - 1;
    cr_assert_gt(held_partitions(logs[victim]), 0);
    kill(pids[victim], SIGKILL);
    cr_assert_eq(kt_wait(pids[victim], 10000), 128 + SIGKILL);
    pids[victim] = -1;
    PRODUCE(N3);
#undef PRODUCE

    wait_group_committed(bs, "g-three", "events", 6, N1 + N2 + N3, pids, logs, M);
    int held = 0;
    for (int i = 0; i < M - 1; i++)
        held += held_partitions(logs[i]);
    cr_assert_eq(held, 6, "the survivors hold all 6 partitions");
    for (int i = 0; i < M - 1; i++)
        cr_assert_eq(stop(pids[i]), 0, "member %d drains and exits 0", i);
    /* Every key is in one of the views (at least once: the dead member's
     * uncommitted records were read again by its successors). */
    for (int i = 0; i < N1 + N2 + N3; i++) {
        int found = 0;
        snprintf(key, sizeof key, "thing-%d", i);
        for (int k = 0; k < M && !found; k++)
            found = in_view(dbs[k], key);
        cr_assert(found, "%s is in a view", key);
    }
    rd_kafka_destroy(p);
    sl_broker_destroy(b);
    rmtmp();
}

/* ---- a Kinesis sink that cannot work ---- */

Test(processors, a_missing_kinesis_stream_fails_the_trigger_and_the_next_run_delivers)
{
    const char *tbin = bin("SLUICE_TRIGGER_BIN");
    mktmp();
    kk_server_t ks;
    kk_start(&ks, NULL); /* no stream yet */
    const char *topics[] = {"dbz", "faults", NULL};
    const int parts[] = {2, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    rd_kafka_t *p = kt_producer(bs);
    enum { N = 40 };
    char rec[256], key[16];
    for (int i = 0; i < N; i++) {
        snprintf(rec, sizeof rec,
                 "{\"before\":null,\"after\":{\"id\":%d,\"name\":\"a\"},\"op\":\"c\","
                 "\"ts_ms\":1767225600000,\"source\":{\"table\":\"things\"}}",
                 i);
        snprintf(key, sizeof key, "%d", i);
        kt_produce(p, "dbz", key, rec, strlen(rec));
    }
    kt_flush(p);
    rd_kafka_destroy(p);
    char log[300], ep[200];
    snprintf(ep, sizeof ep, "AWS_ENDPOINT_URL_KINESIS=%s", ks.kinesalite);
    char *envs[] = {ep, "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret",
                    "AWS_REGION=us-east-1", NULL};
    tu_cmd_t argv_c;
    char **argv = tu_cmd(&argv_c, tbin,
                         "--source=kafka:dbz --sink=kinesis:things --faults=kafka:faults "
                         "--format=debezium --entity=thing -X bootstrap.servers=%s -X "
                         "session.timeout.ms=6000 -c commit.interval.ms=100",
                         bs);
    snprintf(log, sizeof log, "%s/trigger1.log", tmpdir);
    pid_t pid = run(argv, log, envs);
    int code = kt_wait(pid, 90000);
    char *out = tu_slurp(log);
    cr_assert_eq(code, 1, "exit 1 (got %d); output:\n%s", code, out);
    cr_assert(strstr(out, "kinesis sink things is unusable"), "a clear line:\n%s", out);
    cr_assert(strstr(out, "ResourceNotFoundException"), "with the reason:\n%s", out);
    free(out);
    cr_assert_leq(kt_committed(bs, "trigger", "dbz", 2), 0, "nothing committed");
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 300, NULL, NULL), 0, "nothing faulted");
    /* Fixed: the stream exists. */
    json_decref(kk_call(ks.kinesalite, "CreateStream",
                        json_pack("{s:s,s:i}", "StreamName", "things", "ShardCount", 1)));
    int64_t end = tu_now_ms() + 30000;
    int active = 0;
    while (!active && tu_now_ms() < end) {
        json_t *d = kk_call(ks.kinesalite, "DescribeStreamSummary",
                            json_pack("{s:s}", "StreamName", "things"));
        const char *st = json_string_value(
            json_object_get(json_object_get(d, "StreamDescriptionSummary"), "StreamStatus"));
        active = st && !strcmp(st, "ACTIVE");
        json_decref(d);
        if (!active)
            tu_sleep_ms(100);
    }
    cr_assert(active, "the stream became active");
    snprintf(log, sizeof log, "%s/trigger2.log", tmpdir);
    pid = run(argv, log, envs);
    wait_committed(bs, "trigger", "dbz", 2, N, pid, log);
    cr_assert_eq(stop(pid), 0);
    json_t *all = kk_read_all(ks.kinesalite, "things");
    cr_assert_eq(json_array_size(all), N, "every change published once");
    json_decref(all);
    cr_assert_eq(kt_read(bs, "faults", 1, 0, 2000, 300, NULL, NULL), 0);
    sl_broker_destroy(b);
    kk_stop(&ks);
    rmtmp();
}
