/* sluice — embedded Kafka broker over librdkafka's mock cluster. */
#include "sluice/broker.h"
#include "core/util.h"

#include "kafka/kafka_int.h"

#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/error.h"
#include "sluice/mem.h"

#define SL__TOPIC_MAX_LEN 249
#define SL__PARTITIONS_MAX 10000
#define SL__INJECT_MAX 100000
#define SL__RTT_MAX_MS 3600000

struct sl_broker_s {
    rd_kafka_t *rk; /* owns the cluster; never connects anywhere */
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

/* The owner handle has no bootstrap servers, so it would warn about that at
 * once; and the mock's own chatter is not ours to print on a service's stderr. */
static void drop_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

/* Whether @p port is one of the ports in @p bootstraps ("host:port,..."). */
static int is_broker_port(const char *bootstraps, int port)
{
    for (const char *c = bootstraps; c && *c;) {
        const char *colon = strchr(c, ':');
        if (!colon)
            break;
        if (atoi(colon + 1) == port)
            return 1;
        c = strchr(colon, ',');
        c = c ? c + 1 : NULL;
    }
    return 0;
}

/* The mock cluster answers on sockets with Nagle's algorithm on: a small
 * answer written while the one before is not yet acknowledged waits for the
 * client's delayed acknowledgement, about 40 ms. A producer's last
 * ProduceResponse of a burst often did (bench_flavors: the trigger's drain
 * took 47 ms instead of 5 in half the runs, rtt 47 ms in librdkafka's
 * protocol log). TCP_NODELAY on the mock's listening sockets, which Linux
 * passes on to the connections they accept; found among this process's
 * descriptors (/proc/self/fd) as listening sockets on the cluster's ports.
 * Best effort: without /proc nothing changes but the delay. Returns how
 * many listeners it set. */
static int nodelay_listeners(const char *bootstraps)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int set = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || !listening)
            continue;
        struct sockaddr_in sa;
        len = sizeof sa;
        if (getsockname(fd, (struct sockaddr *)&sa, &len) || sa.sin_family != AF_INET ||
            !is_broker_port(bootstraps, ntohs(sa.sin_port)))
            continue;
        int one = 1;
        if (!setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
            set++;
    }
    closedir(d);
    return set;
}

sl_broker_t *sl_broker_new(int brokers, char *errstr, size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_t *conf = NULL;

    if (brokers < 1 || brokers > SL_BROKER_MAX_BROKERS) {
        sl__errf(errstr, errstr_size, "brokers must be 1..%d, not %d", SL_BROKER_MAX_BROKERS,
                 brokers);
        return NULL;
    }
    sl_broker_t *b = sl_calloc(1, sizeof *b);
    if (!b) {
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    b->brokers = brokers;

    conf = rd_kafka_conf_new();
    if (!conf) {
        sl__errf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, drop_log);
    if (rd_kafka_conf_set(conf, "client.id", "sluice-broker", rderr, sizeof rderr) !=
        RD_KAFKA_CONF_OK) {
        sl__errf(errstr, errstr_size, "librdkafka configuration: %s", rderr);
        goto fail;
    }
    /* librdkafka blocks signals in its own threads, but the mock cluster's
     * thread inherits the caller's mask: block everything while the threads
     * are made, so no signal meant for the application lands on them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* rd_kafka_new() takes conf only on success. */
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof rderr);
    if (b->rk) {
        conf = NULL;
        b->mc = rd_kafka_mock_cluster_new(b->rk, brokers);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!b->rk) {
        sl__errf(errstr, errstr_size, "librdkafka handle: %s", rderr);
        goto fail;
    }
    if (!b->mc) {
        sl__errf(errstr, errstr_size,
                 "librdkafka could not start a mock cluster of %d broker(s) on 127.0.0.1", brokers);
        goto fail;
    }
    nodelay_listeners(rd_kafka_mock_cluster_bootstraps(b->mc));
    return b;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    sl_free(b);
    return NULL;
}

const char *sl_broker_bootstrap(const sl_broker_t *b)
{
    return b ? rd_kafka_mock_cluster_bootstraps(b->mc) : NULL;
}

/* Kafka's rule for topic names. */
static int topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > SL__TOPIC_MAX_LEN || !strcmp(t, ".") || !strcmp(t, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int map_err(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return SL_EEXIST;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
        return SL_EINVAL;
    default:
        return SL_EIO;
    }
}

int sl_broker_create_topic(sl_broker_t *b, const char *topic, int partitions,
                           int replication_factor)
{
    if (!b || !topic || !topic_name_ok(topic) || partitions < 1 ||
        partitions > SL__PARTITIONS_MAX || replication_factor < 1 ||
        replication_factor > b->brokers)
        return SL_EINVAL;
    return map_err(rd_kafka_mock_topic_create(b->mc, topic, partitions, replication_factor));
}

static int broker_id_ok(const sl_broker_t *b, int32_t id)
{
    return id == SL_BROKER_ALL || (id >= 1 && id <= b->brokers);
}

int sl_broker_set_down(sl_broker_t *b, int32_t broker_id, int down)
{
    if (!b || !broker_id_ok(b, broker_id))
        return SL_EINVAL;
    return map_err(down ? rd_kafka_mock_broker_set_down(b->mc, broker_id)
                        : rd_kafka_mock_broker_set_up(b->mc, broker_id));
}

/* A code the mock can answer with: a known broker error, or a disconnect. */
static int kafka_error_ok(int code)
{
    if (code == RD_KAFKA_RESP_ERR__TRANSPORT)
        return 1;
    if (code <= 0)
        return 0;
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    size_t i = (size_t)(code - RD_KAFKA_RESP_ERR__BEGIN);
    return i < n && descs[i].code == code && descs[i].name != NULL;
}

int sl_broker_inject_errors(sl_broker_t *b, int16_t api_key, size_t count, int kafka_error)
{
    if (!b || api_key < 0 || count < 1 || count > SL__INJECT_MAX || !kafka_error_ok(kafka_error))
        return SL_EINVAL;
    /* One push for the whole count: the mock grows its error stack by exactly
     * what each push adds, so pushing in pieces would copy it quadratically. */
    rd_kafka_resp_err_t small[64], *errs = small;
    if (count > sizeof small / sizeof small[0]) {
        errs = sl_malloc(count * sizeof *errs);
        if (!errs)
            return SL_ENOMEM;
    }
    for (size_t i = 0; i < count; i++)
        errs[i] = (rd_kafka_resp_err_t)kafka_error;
    rd_kafka_mock_push_request_errors_array(b->mc, api_key, count, errs);
    if (errs != small)
        sl_free(errs);
    return 0;
}

int sl_broker_set_rtt(sl_broker_t *b, int32_t broker_id, int rtt_ms)
{
    if (!b || !broker_id_ok(b, broker_id) || rtt_ms < 0 || rtt_ms > SL__RTT_MAX_MS)
        return SL_EINVAL;
    return map_err(rd_kafka_mock_broker_set_rtt(b->mc, broker_id, rtt_ms));
}

void sl_broker_destroy(sl_broker_t *b)
{
    if (!b)
        return;
    rd_kafka_mock_cluster_destroy(b->mc);
    rd_kafka_destroy(b->rk);
    sl_free(b);
}

rd_kafka_mock_cluster_t *sl__broker_mock(sl_broker_t *b)
{
    return b ? b->mc : NULL;
}
