/* Embedded broker: plain librdkafka clients against sl_broker_*, and the
 * sluice-broker binary (SLUICE_BROKER_BIN) as a child process. Every wait is
 * bounded; everything listens on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice/broker.h"
#include "sluice/sluice.h"

/* ---- helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct dr_state_s {
    int ok, failed;
    rd_kafka_resp_err_t last_err;
} dr_state_t;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dr_state_t *st = opaque;
    if (m->err) {
        st->failed++;
        st->last_err = m->err;
    } else {
        st->ok++;
    }
}

/* librdkafka's connection-refused chatter during the down tests is expected. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

/* A client on @p bootstrap with extra NULL-terminated key/value pairs. */
static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *const *kv,
                          dr_state_t *dr)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet_log);
    cr_assert_eq(rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err),
                 RD_KAFKA_CONF_OK, "%s", err);
    if (type == RD_KAFKA_CONSUMER) {
        /* group.id only because assign() wants one; nothing joins or commits. */
        static const char *const cons[] = {"group.id", "sluice-test-broker",   "enable.auto.commit",
                                           "false",    "enable.partition.eof", "false",
                                           NULL};
        for (const char *const *p = cons; *p; p += 2)
            cr_assert_eq(rd_kafka_conf_set(c, p[0], p[1], err, sizeof err), RD_KAFKA_CONF_OK, "%s",
                         err);
    } else {
        rd_kafka_conf_set_dr_msg_cb(c, on_dr);
        rd_kafka_conf_set_opaque(c, dr);
    }
    for (; kv && kv[0]; kv += 2)
        cr_assert_eq(rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err), RD_KAFKA_CONF_OK,
                     "%s=%s: %s", kv[0], kv[1], err);
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    cr_assert(rk, "%s", err);
    return rk;
}

/* rd_kafka_produceva() rather than the RD_KAFKA_V_* macros, which use GNU
 * statement expressions that -Wpedantic rejects under clang. */
static void produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value)
{
    rd_kafka_vu_t vu[4] = {
        {.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = topic},
        {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {.ptr = (void *)key, .size = strlen(key)}},
        {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {.ptr = (void *)value, .size = strlen(value)}},
        {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY},
    };
    rd_kafka_error_t *e = rd_kafka_produceva(rk, vu, 4);
    if (e) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        cr_assert_fail("produce: %s", msg);
    }
}

/* Serves delivery reports until @p total are in or @p timeout_ms passes. */
static void wait_dr(rd_kafka_t *rk, const dr_state_t *st, int total, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (st->ok + st->failed < total && now_ms() < end)
        rd_kafka_poll(rk, 50);
    cr_assert_eq(st->ok + st->failed, total, "%d of %d delivery reports within %d ms",
                 st->ok + st->failed, total, timeout_ms);
}

static int partition_count(rd_kafka_t *rk, const char *topic, int *brokers)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 5000);
    rd_kafka_topic_destroy(t);
    cr_assert_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR, "metadata: %s", rd_kafka_err2str(e));
    cr_assert_eq(md->topic_cnt, 1);
    int n = md->topics[0].err ? -1 : md->topics[0].partition_cnt;
    if (brokers)
        *brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

typedef void (*on_msg_fn)(const rd_kafka_message_t *m, void *opaque);

/* Reads @p topic's @p partitions from the beginning until @p want messages
 * arrived or @p timeout_ms passed, then lingers @p extra_ms to catch
 * surplus ones. Returns the count. */
static int consume(const char *bootstrap, const char *topic, int partitions, int want,
                   int timeout_ms, int extra_ms, on_msg_fn fn, void *opaque)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, bootstrap, NULL, NULL);
    /* Leaders known before assign(), or the first offset query waits for
     * librdkafka's 500 ms retry timer. */
    cr_assert_eq(partition_count(rk, topic, NULL), partitions);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);

    int n = 0;
    int64_t end = now_ms() + timeout_ms, linger_end = -1;
    for (;;) {
        int64_t t = now_ms();
        if (t >= end || (linger_end >= 0 && t >= linger_end))
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m)
            continue;
        if (m->err) {
            /* Transient fetch errors are retried by the client itself. */
            rd_kafka_message_destroy(m);
            continue;
        }
        n++;
        if (fn)
            fn(m, opaque);
        rd_kafka_message_destroy(m);
        if (n == want && linger_end < 0)
            linger_end = now_ms() + extra_ms;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static sl_broker_t *start(int brokers)
{
    char err[256] = "";
    sl_broker_t *b = sl_broker_new(brokers, err, sizeof err);
    cr_assert(b, "sl_broker_new: %s", err);
    return b;
}

/* ---- the suite --------------------------------------------------------- */

static pid_t g_child = -1; /* a sluice-broker still to reap if a test fails */

static void reap_child(void)
{
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = -1;
    }
}

TestSuite(broker, .fini = reap_child, .timeout = 30);

#define N_MSGS 1000

typedef struct seen_s {
    unsigned char seen[N_MSGS];
    int dups, bad, partitions_hit[4];
} seen_t;

static void check_msg(const rd_kafka_message_t *m, void *opaque)
{
    seen_t *s = opaque;
    char val[64], key[64];
    int i = -1, k = -2;
    if (m->len >= sizeof val || !m->key || m->key_len >= sizeof key) {
        s->bad++;
        return;
    }
    memcpy(val, m->payload, m->len);
    val[m->len] = '\0';
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (sscanf(val, "message-%d", &i) != 1 || sscanf(key, "key-%d", &k) != 1 || i != k || i < 0 ||
        i >= N_MSGS) {
        s->bad++;
        return;
    }
    char want[64];
    snprintf(want, sizeof want, "message-%d", i);
    if (strcmp(want, val)) {
        s->bad++;
        return;
    }
    if (s->seen[i]++)
        s->dups++;
    if (m->partition >= 0 && m->partition < 4)
        s->partitions_hit[m->partition]++;
}

Test(broker, produce_and_consume_1000)
{
    sl_broker_t *b = start(1);
    const char *boot = sl_broker_bootstrap(b);
    cr_assert(boot && !strncmp(boot, "127.0.0.1:", 10), "bootstrap %s", boot ? boot : "(null)");
    cr_assert_eq(sl_broker_create_topic(b, "things", 4, 1), 0);

    dr_state_t dr = {0};
    static const char *const pconf[] = {"acks", "all", NULL};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, pconf, &dr);
    int brokers = 0;
    cr_assert_eq(partition_count(p, "things", &brokers), 4);
    cr_assert_eq(brokers, 1);
    for (int i = 0; i < N_MSGS; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key-%d", i);
        snprintf(v, sizeof v, "message-%d", i);
        produce(p, "things", k, v);
    }
    cr_assert_eq(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    wait_dr(p, &dr, N_MSGS, 1000);
    cr_assert_eq(dr.failed, 0, "last error %s", rd_kafka_err2name(dr.last_err));
    rd_kafka_destroy(p);

    static seen_t s;
    memset(&s, 0, sizeof s);
    int n = consume(boot, "things", 4, N_MSGS, 10000, 300, check_msg, &s);
    cr_assert_eq(n, N_MSGS);
    cr_assert_eq(s.bad, 0);
    cr_assert_eq(s.dups, 0);
    for (int i = 0; i < N_MSGS; i++)
        cr_assert(s.seen[i], "message %d missing", i);
    for (int i = 0; i < 4; i++)
        cr_assert_gt(s.partitions_hit[i], 0, "keys never hashed to partition %d", i);
    sl_broker_destroy(b);
}

Test(broker, set_down_fails_produce_then_recovers)
{
    sl_broker_t *b = start(1);
    const char *boot = sl_broker_bootstrap(b);
    cr_assert_eq(sl_broker_create_topic(b, "down", 1, 1), 0);

    dr_state_t dr = {0};
    static const char *const pconf[] = {"acks",
                                        "all",
                                        "message.timeout.ms",
                                        "2000",
                                        "reconnect.backoff.ms",
                                        "50",
                                        "reconnect.backoff.max.ms",
                                        "200",
                                        NULL};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, pconf, &dr);
    produce(p, "down", "k", "before");
    wait_dr(p, &dr, 1, 5000);
    cr_assert_eq(dr.ok, 1, "%s", rd_kafka_err2name(dr.last_err));

    cr_assert_eq(sl_broker_set_down(b, 1, 1), 0);
    produce(p, "down", "k", "while-down");
    wait_dr(p, &dr, 2, 6000);
    cr_assert_eq(dr.failed, 1, "a produce to a down broker must fail");
    cr_assert_neq(dr.last_err, RD_KAFKA_RESP_ERR_NO_ERROR);

    cr_assert_eq(sl_broker_set_down(b, 1, 0), 0);
    produce(p, "down", "k", "after");
    wait_dr(p, &dr, 3, 8000);
    cr_assert_eq(dr.ok, 2, "produce after the broker is back: %s", rd_kafka_err2name(dr.last_err));
    rd_kafka_destroy(p);

    cr_assert_eq(consume(boot, "down", 1, 2, 8000, 300, NULL, NULL), 2);
    sl_broker_destroy(b);
}

typedef struct inject_case_s {
    const char *name;
    const char *retries;
    size_t count;
    int kafka_error;
    int want_ok;                  /* 1: delivered despite the errors */
    rd_kafka_resp_err_t want_err; /* when not delivered */
} inject_case_t;

static const inject_case_t inject_cases[] = {
    {.name = "retried once",
     .retries = "5",
     .count = 1,
     .kafka_error = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
     .want_ok = 1},
    /* Exactly count requests fail: three retries are enough, two are not. */
    {.name = "3 errors, 3 retries",
     .retries = "3",
     .count = 3,
     .kafka_error = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
     .want_ok = 1},
    {.name = "3 errors, 2 retries",
     .retries = "2",
     .count = 3,
     .kafka_error = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
     .want_err = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT},
    /* retries=0 with NOT_LEADER_FOR_PARTITION would still deliver: librdkafka
     * does not count a leader change against message.send.max.retries. */
    {.name = "no retries",
     .retries = "0",
     .count = 1,
     .kafka_error = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
     .want_err = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS},
    {.name = "permanent",
     .retries = "5",
     .count = 1,
     .kafka_error = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
     .want_err = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE},
};

Test(broker, inject_produce_errors)
{
    for (size_t c = 0; c < sizeof inject_cases / sizeof inject_cases[0]; c++) {
        const inject_case_t *tc = &inject_cases[c];
        sl_broker_t *b = start(1);
        const char *boot = sl_broker_bootstrap(b);
        cr_assert_eq(sl_broker_create_topic(b, "inj", 1, 1), 0);

        dr_state_t dr = {0};
        const char *const pconf[] = {
            "acks",  "all", "retries", tc->retries, "retry.backoff.ms", "20", "enable.idempotence",
            "false", NULL};
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, pconf, &dr);
        /* Warm up first, so the injected errors meet the produce request. */
        cr_assert_eq(partition_count(p, "inj", NULL), 1);
        cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_PRODUCE, tc->count, tc->kafka_error),
                     0, "%s", tc->name);
        produce(p, "inj", "k", "injected");
        wait_dr(p, &dr, 1, 8000);
        if (tc->want_ok) {
            cr_assert_eq(dr.ok, 1, "%s: %s", tc->name, rd_kafka_err2name(dr.last_err));
        } else {
            cr_assert_eq(dr.failed, 1, "%s: delivered despite the error", tc->name);
            cr_assert_eq(dr.last_err, tc->want_err, "%s: got %s", tc->name,
                         rd_kafka_err2name(dr.last_err));
        }
        /* The errors are used up: the next one goes through. */
        produce(p, "inj", "k", "after");
        wait_dr(p, &dr, 2, 8000);
        cr_assert_eq(dr.ok, tc->want_ok + 1, "%s: %s", tc->name, rd_kafka_err2name(dr.last_err));
        rd_kafka_destroy(p);

        /* A failed produce request stored nothing: no duplicates either way. */
        int want = tc->want_ok + 1;
        cr_assert_eq(consume(boot, "inj", 1, want, 8000, 200, NULL, NULL), want, "%s", tc->name);
        sl_broker_destroy(b);
    }
}

Test(broker, inject_fetch_error_is_retried)
{
    sl_broker_t *b = start(1);
    const char *boot = sl_broker_bootstrap(b);
    cr_assert_eq(sl_broker_create_topic(b, "fetch", 2, 1), 0);
    dr_state_t dr = {0};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, NULL, &dr);
    produce(p, "fetch", "a", "one");
    produce(p, "fetch", "b", "two");
    wait_dr(p, &dr, 2, 5000);
    cr_assert_eq(dr.ok, 2);
    rd_kafka_destroy(p);
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_FETCH, 2,
                                         RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
                 0);
    cr_assert_eq(consume(boot, "fetch", 2, 2, 8000, 200, NULL, NULL), 2);
    sl_broker_destroy(b);
}

Test(broker, topic_exists)
{
    sl_broker_t *b = start(1);
    cr_assert_eq(sl_broker_create_topic(b, "t", 2, 1), 0);
    cr_assert_eq(sl_broker_create_topic(b, "t", 2, 1), SL_EEXIST);
    cr_assert_eq(sl_broker_create_topic(b, "t", 5, 1), SL_EEXIST);

    /* A topic a client auto-created exists as well. */
    dr_state_t dr = {0};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, sl_broker_bootstrap(b), NULL, &dr);
    produce(p, "auto-created", "k", "v");
    wait_dr(p, &dr, 1, 5000);
    cr_assert_eq(dr.ok, 1, "%s", rd_kafka_err2name(dr.last_err));
    rd_kafka_destroy(p);
    cr_assert_eq(sl_broker_create_topic(b, "auto-created", 1, 1), SL_EEXIST);
    sl_broker_destroy(b);
}

Test(broker, three_brokers)
{
    sl_broker_t *b = start(3);
    const char *boot = sl_broker_bootstrap(b);
    char copy[256];
    cr_assert_lt(strlen(boot), sizeof copy);
    strcpy(copy, boot);
    int n = 0;
    char *ports[3] = {0};
    for (char *s = strtok(copy, ","); s; s = strtok(NULL, ",")) {
        cr_assert_lt(n, 3, "more than 3 entries in %s", boot);
        cr_assert(!strncmp(s, "127.0.0.1:", 10), "%s", s);
        ports[n++] = s + 10;
    }
    cr_assert_eq(n, 3, "%s", boot);
    cr_assert(strcmp(ports[0], ports[1]) && strcmp(ports[1], ports[2]) &&
              strcmp(ports[0], ports[2]));

    cr_assert_eq(sl_broker_create_topic(b, "r3", 6, 3), 0);
    cr_assert_eq(sl_broker_create_topic(b, "r4", 6, 4), SL_EINVAL);
    dr_state_t dr = {0};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, NULL, &dr);
    int brokers = 0;
    cr_assert_eq(partition_count(p, "r3", &brokers), 6);
    cr_assert_eq(brokers, 3);
    rd_kafka_destroy(p);

    cr_assert_eq(sl_broker_set_down(b, 2, 1), 0);
    cr_assert_eq(sl_broker_set_down(b, 2, 1), 0, "down twice is fine");
    cr_assert_eq(sl_broker_set_down(b, 2, 0), 0);
    cr_assert_eq(sl_broker_set_down(b, SL_BROKER_ALL, 0), 0);
    cr_assert_eq(sl_broker_set_rtt(b, 3, 5), 0);
    cr_assert_eq(sl_broker_set_rtt(b, SL_BROKER_ALL, 0), 0);
    sl_broker_destroy(b);
}

Test(broker, rtt_keeps_working)
{
    sl_broker_t *b = start(1);
    const char *boot = sl_broker_bootstrap(b);
    cr_assert_eq(sl_broker_create_topic(b, "slow", 1, 1), 0);
    cr_assert_eq(sl_broker_set_rtt(b, 1, 50), 0);
    dr_state_t dr = {0};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, boot, NULL, &dr);
    produce(p, "slow", "k", "v");
    wait_dr(p, &dr, 1, 8000);
    cr_assert_eq(dr.ok, 1, "%s", rd_kafka_err2name(dr.last_err));
    rd_kafka_destroy(p);
    cr_assert_eq(sl_broker_set_rtt(b, 1, 0), 0);
    sl_broker_destroy(b);
}

/* The descriptor in this process of the connection whose local end is
 * 127.0.0.1:@p local and remote end port @p peer (the broker's side of a
 * client's connection), or -1. */
static int accepted_fd(int local, int peer)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d);
    struct dirent *e;
    int found = -1;
    while (found < 0 && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        struct sockaddr_in a, b;
        socklen_t la = sizeof a, lb = sizeof b;
        if (getsockname(fd, (struct sockaddr *)&a, &la) ||
            getpeername(fd, (struct sockaddr *)&b, &lb) || a.sin_family != AF_INET)
            continue;
        if (ntohs(a.sin_port) == local && ntohs(b.sin_port) == peer)
            found = fd;
    }
    closedir(d);
    return found;
}

/* The embedded broker answers without Nagle's algorithm: with it, a small
 * answer written while the one before was not yet acknowledged waited for
 * the client's delayed acknowledgement, about 40 ms (a producer's last
 * ProduceResponse of a burst, in half the trigger's benchmark runs). Every
 * connection each of its brokers accepts has TCP_NODELAY. */
Test(broker, connections_are_answered_without_nagle_delay)
{
    sl_broker_t *b = start(2);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", sl_broker_bootstrap(b));
    int n = 0;
    for (char *t = strtok(copy, ","); t; t = strtok(NULL, ","), n++) {
        int port = atoi(strchr(t, ':') + 1);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(c, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        cr_assert_eq(getsockname(c, (struct sockaddr *)&me, &ml), 0);
        /* the broker's thread accepts it soon after */
        int fd = -1;
        for (int64_t until = now_ms() + 5000; fd < 0 && now_ms() < until;) {
            fd = accepted_fd(port, ntohs(me.sin_port));
            if (fd < 0)
                poll(NULL, 0, 5);
        }
        cr_assert_geq(fd, 0, "broker %s never accepted the connection", t);
        int nodelay = 0;
        socklen_t nl = sizeof nodelay;
        cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nl), 0);
        cr_assert_eq(nodelay, 1, "broker %s answers with Nagle's algorithm on", t);
        close(c);
    }
    cr_assert_eq(n, 2);
    sl_broker_destroy(b);
}

Test(broker, new_rejects_bad_counts)
{
    static const int bad[] = {0, -1, SL_BROKER_MAX_BROKERS + 1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        cr_assert_null(sl_broker_new(bad[i], err, sizeof err), "%d brokers", bad[i]);
        cr_assert(strstr(err, "brokers"), "message for %d: '%s'", bad[i], err);
        cr_assert_null(sl_broker_new(bad[i], NULL, 0));
    }
    char small[8];
    cr_assert_null(sl_broker_new(0, small, sizeof small));
    cr_assert_eq(small[sizeof small - 1], '\0');

    sl_broker_t *b = start(SL_BROKER_MAX_BROKERS);
    sl_broker_destroy(b);
}

Test(broker, new_out_of_memory)
{
    char err[128] = "";
    sl_mem_fail_at(1, 0);
    sl_broker_t *b = sl_broker_new(1, err, sizeof err);
    sl_mem_fail_at(0, 0);
    cr_assert_null(b);
    cr_assert(strstr(err, "memory"), "'%s'", err);

    b = start(1);
    sl_mem_fail_at(1, 0);
    int rc = sl_broker_inject_errors(b, SL_KAFKA_API_PRODUCE, 1000,
                                     RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    sl_mem_fail_at(0, 0);
    cr_assert_eq(rc, SL_ENOMEM);
    sl_mem_fail_at(1, 0);
    rc = sl_broker_inject_errors(b, SL_KAFKA_API_PRODUCE, 64,
                                 RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    sl_mem_fail_at(0, 0);
    cr_assert_eq(rc, 0, "small counts need no allocation");
    sl_broker_destroy(b);
}

typedef struct topic_case_s {
    const char *topic;
    int partitions, rf;
} topic_case_t;

Test(broker, invalid_arguments)
{
    sl_broker_t *b = start(1);
    char long_name[251];
    memset(long_name, 'a', 250);
    long_name[250] = '\0';
    const topic_case_t bad_topics[] = {
        {.topic = NULL, .partitions = 1, .rf = 1},
        {.topic = "", .partitions = 1, .rf = 1},
        {.topic = "a/b", .partitions = 1, .rf = 1},
        {.topic = "sp ace", .partitions = 1, .rf = 1},
        {.topic = ".", .partitions = 1, .rf = 1},
        {.topic = "..", .partitions = 1, .rf = 1},
        {.topic = long_name, .partitions = 1, .rf = 1},
        {.topic = "ok", .partitions = 0, .rf = 1},
        {.topic = "ok", .partitions = -3, .rf = 1},
        {.topic = "ok", .partitions = 10001, .rf = 1},
        {.topic = "ok", .partitions = 1, .rf = 0},
        {.topic = "ok", .partitions = 1, .rf = 2},
    };
    for (size_t i = 0; i < sizeof bad_topics / sizeof bad_topics[0]; i++) {
        const topic_case_t *tc = &bad_topics[i];
        cr_assert_eq(sl_broker_create_topic(b, tc->topic, tc->partitions, tc->rf), SL_EINVAL,
                     "case %zu", i);
    }
    long_name[249] = '\0';
    cr_assert_eq(sl_broker_create_topic(b, long_name, 1, 1), 0, "249 characters are fine");
    cr_assert_eq(sl_broker_create_topic(b, "Ok.name_with-all.chars9", 1, 1), 0);
    cr_assert_eq(sl_broker_create_topic(NULL, "ok", 1, 1), SL_EINVAL);

    static const int32_t bad_ids[] = {0, 2, -2, 17, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        cr_assert_eq(sl_broker_set_down(b, bad_ids[i], 1), SL_EINVAL, "id %d", bad_ids[i]);
        cr_assert_eq(sl_broker_set_down(b, bad_ids[i], 0), SL_EINVAL, "id %d", bad_ids[i]);
        cr_assert_eq(sl_broker_set_rtt(b, bad_ids[i], 10), SL_EINVAL, "id %d", bad_ids[i]);
    }
    cr_assert_eq(sl_broker_set_down(NULL, 1, 1), SL_EINVAL);
    cr_assert_eq(sl_broker_set_rtt(NULL, 1, 1), SL_EINVAL);
    cr_assert_eq(sl_broker_set_rtt(b, 1, -1), SL_EINVAL);
    cr_assert_eq(sl_broker_set_rtt(b, 1, 3600001), SL_EINVAL);

    static const struct {
        int16_t api;
        size_t count;
        int err;
    } bad_inject[] = {
        {.api = -1, .count = 1, .err = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
        {.api = 0, .count = 0, .err = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
        {.api = 0, .count = 100001, .err = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
        {.api = 0, .count = 1, .err = RD_KAFKA_RESP_ERR_NO_ERROR},
        {.api = 0, .count = 1, .err = RD_KAFKA_RESP_ERR__FAIL},
        {.api = 0, .count = 1, .err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT},
        {.api = 0, .count = 1, .err = 99999},
        {.api = 0, .count = 1, .err = -100000},
    };
    for (size_t i = 0; i < sizeof bad_inject / sizeof bad_inject[0]; i++)
        cr_assert_eq(
            sl_broker_inject_errors(b, bad_inject[i].api, bad_inject[i].count, bad_inject[i].err),
            SL_EINVAL, "inject case %zu", i);
    cr_assert_eq(sl_broker_inject_errors(NULL, 0, 1, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
                 SL_EINVAL);
    /* Valid shapes, including a disconnect and a count over one chunk. */
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_OFFSET_COMMIT, 200,
                                         RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS),
                 0);
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_METADATA, 100000,
                                         RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
                 0, "the largest count");
    cr_assert_eq(sl_broker_inject_errors(b, SL_KAFKA_API_FETCH, 1, RD_KAFKA_RESP_ERR__TRANSPORT),
                 0);

    cr_assert_null(sl_broker_bootstrap(NULL));
    sl_broker_destroy(NULL);
    sl_broker_destroy(b);
}

/* ---- the sluice-broker binary ----------------------------------------- */

static const char *broker_bin(void)
{
    const char *bin = getenv("SLUICE_BROKER_BIN");
    if (!bin || !*bin)
        cr_skip_test("SLUICE_BROKER_BIN is not set");
    cr_assert_eq(access(bin, X_OK), 0, "SLUICE_BROKER_BIN=%s: %s", bin, strerror(errno));
    return bin;
}

/* Starts @p argv[0] with stdout and stderr on pipes; sets g_child. */
static void spawn(char *const argv[], int *out_fd, int *err_fd)
{
    int o[2], e[2];
    cr_assert_eq(pipe(o), 0);
    cr_assert_eq(pipe(e), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Dies with the test, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(o[1], STDOUT_FILENO);
        dup2(e[1], STDERR_FILENO);
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    g_child = pid;
    *out_fd = o[0];
    *err_fd = e[0];
}

/* Reads from @p fd until a newline or EOF, within @p timeout_ms. Returns the length. */
static size_t read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    int64_t end = now_ms() + timeout_ms;
    while (n + 1 < size) {
        int64_t left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t got = read(fd, buf + n, 1);
        if (got <= 0)
            break;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return n;
}

/* Everything left on @p fd (the child has exited, so EOF comes). */
static size_t read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    return n;
}

/* Waits up to @p timeout_ms for the child; returns its wait status. */
static int wait_child(int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(g_child, &status, WNOHANG);
        cr_assert_neq(r, -1, "waitpid: %s", strerror(errno));
        if (r == g_child) {
            g_child = -1;
            return status;
        }
        cr_assert_lt(now_ms(), end, "sluice-broker did not exit within %d ms", timeout_ms);
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}

Test(broker, binary_serves_until_sigterm)
{
    const char *bin = broker_bin();
    char dir[] = "/tmp/sluice-broker-test-XXXXXX";
    cr_assert(mkdtemp(dir));
    char ready[64];
    snprintf(ready, sizeof ready, "%s/ready", dir);

    char *argv[] = {(char *)bin, "--topics", "t:3", "--ready-file", ready, NULL};
    int out, err;
    spawn(argv, &out, &err);

    char line[512];
    size_t n = read_line(out, line, sizeof line, 10000);
    cr_assert_gt(n, 0, "no bootstrap line on stdout");
    cr_assert(!strncmp(line, "127.0.0.1:", 10), "bootstrap line '%s'", line);

    char file[512] = "";
    FILE *f = fopen(ready, "r");
    cr_assert(f, "ready file %s: %s", ready, strerror(errno));
    cr_assert(fgets(file, sizeof file, f));
    fclose(f);
    file[strcspn(file, "\n")] = '\0';
    cr_assert_str_eq(file, line);

    dr_state_t dr = {0};
    static const char *const pconf[] = {"acks", "all", NULL};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, line, pconf, &dr);
    cr_assert_eq(partition_count(p, "t", NULL), 3);
    produce(p, "t", "key", "through the binary");
    wait_dr(p, &dr, 1, 8000);
    cr_assert_eq(dr.ok, 1, "%s", rd_kafka_err2name(dr.last_err));
    rd_kafka_destroy(p);
    cr_assert_eq(consume(line, "t", 3, 1, 8000, 200, NULL, NULL), 1);

    cr_assert_eq(kill(g_child, SIGTERM), 0);
    int status = wait_child(10000);
    cr_assert(WIFEXITED(status), "status 0x%x", status);
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_eq(access(ready, F_OK), -1, "ready file removed on exit");

    static char logs[8192];
    read_all(err, logs, sizeof logs);
    cr_assert(strstr(logs, "\"level\":\"info\""), "logs: %s", logs);
    /* Every stderr line is one JSON object. */
    for (char *l = strtok(logs, "\n"); l; l = strtok(NULL, "\n"))
        cr_assert(l[0] == '{' && l[strlen(l) - 1] == '}', "not a JSON line: %s", l);
    close(out);
    close(err);
    rmdir(dir);
}

Test(broker, binary_sigint_also_stops)
{
    const char *bin = broker_bin();
    char *argv[] = {(char *)bin, "--brokers", "2", NULL};
    int out, err;
    spawn(argv, &out, &err);
    char line[512];
    cr_assert_gt(read_line(out, line, sizeof line, 10000), 0);
    cr_assert(strchr(line, ','), "two brokers: '%s'", line);
    cr_assert_eq(kill(g_child, SIGINT), 0);
    int status = wait_child(10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
    close(out);
    close(err);
}

typedef struct flag_case_s {
    const char *a1, *a2;
    const char *says; /* expected in the stderr message */
} flag_case_t;

Test(broker, binary_bad_flags_exit_2)
{
    const char *bin = broker_bin();
    static const flag_case_t cases[] = {
        {.a1 = "--bogus", .says = "unknown option '--bogus'"},
        {.a1 = "--brokers", .a2 = "0", .says = "broker count"},
        {.a1 = "--brokers", .a2 = "x", .says = "broker count"},
        {.a1 = "--brokers", .says = "needs a value"},
        {.a1 = "--topics", .a2 = "t:0", .says = "partition count"},
        {.a1 = "--topics", .a2 = "t:3,t:2", .says = "given twice"},
        {.a1 = "--topics", .a2 = "bad/name", .says = "topic name"},
        {.a1 = "--topics", .a2 = "t:1:2", .says = "replication"},
        {.a1 = "stray", .says = "unexpected argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const flag_case_t *tc = &cases[i];
        char *argv[] = {(char *)bin, (char *)tc->a1, (char *)tc->a2, NULL};
        int out, err;
        spawn(argv, &out, &err);
        int status = wait_child(5000);
        char msg[2048];
        read_all(err, msg, sizeof msg);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s %s: status 0x%x", tc->a1,
                  tc->a2 ? tc->a2 : "", status);
        cr_assert(strstr(msg, tc->says), "%s %s: stderr '%s'", tc->a1, tc->a2 ? tc->a2 : "", msg);
        char o[64];
        cr_assert_eq(read_all(out, o, sizeof o), 0, "nothing on stdout: '%s'", o);
        close(out);
        close(err);
    }
}

Test(broker, binary_ready_file_failure_exits_1)
{
    const char *bin = broker_bin();
    char *argv[] = {(char *)bin, "--ready-file", "/nonexistent-sluice-dir/ready", NULL};
    int out, err;
    spawn(argv, &out, &err);
    int status = wait_child(10000);
    char msg[2048], o[64];
    read_all(err, msg, sizeof msg);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
    cr_assert(strstr(msg, "\"level\":\"error\"") && strstr(msg, "ready file"), "stderr '%s'", msg);
    cr_assert_eq(read_all(out, o, sizeof o), 0, "no bootstrap line: '%s'", o);
    close(out);
    close(err);
}

Test(broker, binary_help_and_version)
{
    const char *bin = broker_bin();
    static const char *const flags[][2] = {{"--help", "Usage:"}, {"--version", SL_VERSION_STRING}};
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {(char *)bin, (char *)flags[i][0], NULL};
        int out, err;
        spawn(argv, &out, &err);
        int status = wait_child(5000);
        char text[4096];
        read_all(out, text, sizeof text);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: 0x%x", flags[i][0], status);
        cr_assert(strstr(text, flags[i][1]), "%s: '%s'", flags[i][0], text);
        close(out);
        close(err);
    }
}
