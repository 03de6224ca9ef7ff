/* examples/orders.c, the README's whole service, run as a user would: a
 * separate process against an embedded broker in this process. Its input
 * holds good orders, other event types, orders missing a field and a record
 * that is not JSON; its output, its faults, its commits and its exit codes
 * are checked. */
#include "../kafka/kafka_helpers.h"

#include <jansson.h>

TestSuite(orders, .timeout = 240);

#define GOOD 60
#define OTHER 20

/* What the reads saw. */
typedef struct seen_s {
    unsigned summary[GOOD]; /* summaries per order oN */
    size_t summaries, bad_summaries;
    char faults[8][128]; /* "NAME pipeline message" per fault */
    size_t nfaults;
} seen_t;

static void on_summary(const rd_kafka_message_t *m, void *opaque)
{
    seen_t *s = opaque;
    s->summaries++;
    json_error_t je;
    json_t *v = json_loadb(m->payload, m->len, 0, &je);
    int n = -1, ok = 0;
    const char *order = json_string_value(json_object_get(v, "order"));
    if (order && sscanf(order, "o%d", &n) == 1 && n >= 0 && n < GOOD) {
        char want[160];
        /* The map's exact output, keyed like the event. */
        snprintf(want, sizeof want,
                 "{\"order\":\"o%d\",\"customer\":\"c%d\",\"items\":%d,\"total\":%d}", n, n % 7,
                 n % 3 + 1, n * 10);
        char key[16];
        snprintf(key, sizeof key, "o%d", n);
        ok = m->len == strlen(want) && !memcmp(m->payload, want, m->len) &&
             m->key_len == strlen(key) && !memcmp(m->key, key, m->key_len);
        if (!ok)
            fprintf(stderr, "summary %.*s (key %.*s), expected %s (key %s)\n", (int)m->len,
                    (const char *)m->payload, (int)m->key_len, (const char *)m->key, want, key);
    }
    if (ok)
        s->summary[n]++;
    else
        s->bad_summaries++;
    json_decref(v);
}

static void on_fault(const rd_kafka_message_t *m, void *opaque)
{
    seen_t *s = opaque;
    json_error_t je;
    json_t *v = json_loadb(m->payload, m->len, 0, &je);
    cr_assert_not_null(v, "a fault event is JSON: %s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(v, "type")), "fault");
    json_t *err = json_object_get(v, "err");
    json_t *tags = json_object_get(v, "tags");
    if (s->nfaults < 8)
        snprintf(s->faults[s->nfaults], sizeof s->faults[0], "%s %s %s",
                 json_string_value(json_object_get(err, "name")),
                 json_string_value(json_object_get(tags, "pipeline")),
                 json_string_value(json_object_get(err, "message")));
    s->nfaults++;
    json_decref(v);
}

static int has_fault(const seen_t *s, const char *want)
{
    for (size_t i = 0; i < s->nfaults && i < 8; i++)
        if (!strcmp(s->faults[i], want))
            return 1;
    return 0;
}

static pid_t spawn_orders(char *const *argv, const char *errpath)
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0, "spawn %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static const char *orders_bin(void)
{
    const char *bin = getenv("SLUICE_ORDERS_BIN");
    cr_assert_not_null(bin, "SLUICE_ORDERS_BIN is not set");
    return bin;
}

static void print_file(const char *path)
{
    char *text = tu_slurp(path);
    fprintf(stderr, "---- %s\n%s----\n", path, text ? text : "(unreadable)\n");
    free(text);
}

Test(orders, summaries_faults_and_a_clean_drain)
{
    const char *topics[] = {"orders", "order-summaries", "faults", NULL};
    const int parts[] = {4, 4, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);

    rd_kafka_t *prod = kt_producer(bs);
    char v[512], k[16];
    for (int i = 0; i < GOOD; i++) {
        snprintf(k, sizeof k, "o%d", i);
        snprintf(v, sizeof v,
                 "{\"type\":\"order-placed\",\"partitionKey\":\"o%d\",\"order\":{\"id\":\"o%d\","
                 "\"customer\":\"c%d\",\"items\":[%s],\"total\":%d}}",
                 i, i, i % 7,
                 i % 3 == 0   ? "1"
                 : i % 3 == 1 ? "1,2"
                              : "1,2,3",
                 i * 10);
        kt_produce(prod, "orders", k, v, strlen(v));
        if (i < OTHER) {
            /* Another type: filtered out, done, never summarized. */
            snprintf(v, sizeof v, "{\"type\":\"order-shipped\",\"partitionKey\":\"o%d\"}", i);
            kt_produce(prod, "orders", k, v, strlen(v));
        }
    }
    const char *bad[] = {
        "{\"type\":\"order-placed\",\"partitionKey\":\"x1\",\"order\":{\"id\":\"x1\",\"items\":[],"
        "\"total\":1}}",
        "{\"type\":\"order-placed\",\"partitionKey\":\"x2\",\"order\":{\"id\":\"x2\","
        "\"customer\":\"c\",\"items\":3,\"total\":1}}",
        "{\"type\":\"order-placed\",\"partitionKey\":\"x3\"}",
        "{not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        kt_produce(prod, "orders", "x", bad[i], strlen(bad[i]));
    kt_flush(prod);
    rd_kafka_destroy(prod);
    const int64_t records = GOOD + OTHER + (int64_t)(sizeof bad / sizeof *bad);

    char errpath[] = "/tmp/sluice-orders-XXXXXX";
    int fd = mkstemp(errpath);
    cr_assert_geq(fd, 0);
    close(fd);
    char *argv[] = {(char *)orders_bin(), (char *)bs, "orders-test", NULL};
    pid_t pid = spawn_orders(argv, errpath);

    seen_t seen = {0};
    size_t n = kt_read(bs, "order-summaries", 4, GOOD, 120000, 1000, on_summary, &seen);
    size_t nf = kt_read(bs, "faults", 1, 4, 60000, 500, on_fault, &seen);
    kill(pid, SIGTERM);
    int rc = kt_wait(pid, 60000);
    if (rc != 0 || n != GOOD || nf != 4)
        print_file(errpath);
    cr_assert_eq(rc, 0, "drained and committed: exit 0 (got %d)", rc);
    cr_assert_eq(n, GOOD, "one summary per order-placed event (got %zu)", n);
    cr_assert_eq(seen.bad_summaries, 0);
    for (int i = 0; i < GOOD; i++)
        cr_assert_eq(seen.summary[i], 1, "order o%d summarized %u times", i, seen.summary[i]);

    cr_assert_eq(nf, 4, "one fault per broken record (got %zu)", nf);
    cr_assert(has_fault(&seen, "SL_EFIELD order-summaries order-placed without order.customer"));
    cr_assert(has_fault(&seen, "SL_EFIELD order-summaries order-placed without order.items"));
    cr_assert(has_fault(&seen, "SL_EFIELD order-summaries order-placed without order"));
    int json_fault = 0;
    for (size_t i = 0; i < nf; i++)
        json_fault += !strncmp(seen.faults[i], "SL_EJSON ", 9);
    cr_assert_eq(json_fault, 1, "the record that is not JSON is a decode fault");

    /* Every record accounted for: summarized, filtered out, or a fault. */
    cr_assert_eq(kt_committed(bs, "orders-test", "orders", 4), records);
    unlink(errpath);
    sl_broker_destroy(b);
}

Test(orders, bad_usage_exits_2)
{
    char errpath[] = "/tmp/sluice-orders-XXXXXX";
    int fd = mkstemp(errpath);
    cr_assert_geq(fd, 0);
    close(fd);
    char *argv[] = {(char *)orders_bin(), NULL};
    cr_assert_eq(kt_wait(spawn_orders(argv, errpath), 30000), 2);
    char *text = tu_slurp(errpath);
    cr_assert(text && strstr(text, "usage:"), "%s", text ? text : "");
    free(text);
    unlink(errpath);
}
