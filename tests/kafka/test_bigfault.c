/* A fault event larger than its sink would take must still land: trimmed to
 * fit the Kafka fault sink (the producer's default message.max.bytes,
 * 1,000,000), marked in uow.truncated, exactly once, and the stream goes on.
 * Before, such a fault was retried forever: no fault, the watermark stuck at
 * its offset, intake paused, and no clean drain on SIGTERM. Every wait here
 * is bounded, so that a stall is a test failure, not a hang. */
#include "kafka_helpers.h"

#include <openssl/sha.h>

TestSuite(bigfault, .timeout = 300);

/* The Kafka sink's record bound: message.max.bytes less 512 (lib/kafka/sink.c). */
#define FAULT_LIMIT (1000000 - 512)

enum { MAXF = 8 };

struct faults {
    int n;
    json_t *f[MAXF];
    size_t size[MAXF]; /* key + value bytes as the fault topic holds them */
};

static void keep_fault(const rd_kafka_message_t *m, void *opaque)
{
    struct faults *s = opaque;
    if (s->n >= MAXF) {
        s->n++;
        return;
    }
    s->size[s->n] = m->key_len + m->len;
    s->f[s->n++] = json_loadb(m->payload, m->len, 0, NULL);
}

static void faults_free(struct faults *s)
{
    for (int i = 0; i < s->n && i < MAXF; i++)
        json_decref(s->f[i]);
}

/* The fault for input @p offset, or NULL. */
static json_t *fault_at(const struct faults *s, int64_t offset)
{
    for (int i = 0; i < s->n && i < MAXF; i++) {
        json_t *rec = json_object_get(json_object_get(s->f[i], "uow"), "record");
        if (json_integer_value(json_object_get(rec, "offset")) == offset)
            return s->f[i];
    }
    return NULL;
}

/* The bytes of base64 @p in (malloc'd), their count in @p n. */
static unsigned char *b64dec(const char *in, size_t *n)
{
    unsigned char *out = malloc(strlen(in) / 4 * 3 + 3);
    cr_assert(out);
    *n = tu_b64dec(in, out);
    return out;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(p, n, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Checks a trimmed fault against the original record it stands for. */
static void check_fault(json_t *f, const char *topic, int64_t offset, const char *key,
                        const unsigned char *orig, size_t len, const char *err, int had_event,
                        int value_cut)
{
    cr_assert(f, "a fault for %s@%lld", topic, (long long)offset);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "fault");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "err"), "name")), err);
    json_t *uow = json_object_get(f, "uow");
    json_t *rec = json_object_get(uow, "record");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), topic);
    cr_assert_eq(json_integer_value(json_object_get(rec, "partition")), 0);
    cr_assert_eq(json_integer_value(json_object_get(rec, "offset")), offset,
                 "the coordinates to read the original back");
    cr_assert_eq(json_integer_value(json_object_get(rec, "valueSize")), (json_int_t)len);
    size_t kl;
    unsigned char *k = b64dec(json_string_value(json_object_get(rec, "key")), &kl);
    cr_assert(kl == strlen(key) && !memcmp(k, key, kl), "the record key is kept");
    free(k);
    cr_assert_null(json_object_get(uow, "event"), "the decoded copy went first");
    json_t *tr = json_object_get(uow, "truncated");
    cr_assert(json_is_object(tr), "what was left out is marked");
    cr_assert_eq(json_is_true(json_object_get(tr, "event")), had_event);
    cr_assert_eq(json_is_true(json_object_get(tr, "value")), value_cut);
    cr_assert_eq(json_is_true(json_object_get(rec, "truncated")), value_cut);
    cr_assert(json_is_false(json_object_get(tr, "key")));
    cr_assert(json_is_false(json_object_get(tr, "headers")));
    cr_assert(json_is_false(json_object_get(tr, "partitionKey")));
    cr_assert_eq(json_integer_value(json_object_get(tr, "originalSize")), (json_int_t)len);
    size_t vl;
    unsigned char *v = b64dec(json_string_value(json_object_get(rec, "value")), &vl);
    cr_assert_eq(json_integer_value(json_object_get(tr, "keptSize")), (json_int_t)vl);
    if (value_cut)
        cr_assert(vl > 0 && vl < len, "a prefix of the value: %zu of %zu", vl, len);
    else
        cr_assert_eq(vl, len);
    cr_assert_eq(memcmp(v, orig, vl), 0, "the first bytes of the original value");
    free(v);
    char want[65];
    sha256_hex(orig, len, want);
    cr_assert_str_eq(json_string_value(json_object_get(tr, "sha256")), want,
                     "the SHA-256 of the whole original value");
}

/* Good record @p g: an event keyed k<g>. */
static void good_event(int g, char *key, size_t kn, char *v, size_t vn)
{
    snprintf(key, kn, "k%d", g);
    snprintf(v, vn,
             "{\"id\":\"e%d\",\"type\":\"thing-updated\",\"timestamp\":%d,"
             "\"partitionKey\":\"k%d\",\"thing\":{\"id\":\"k%d\",\"n\":%d}}",
             g, 1700000000 + g, g, g, g);
}

/* Good record @p g: a DynamoDB INSERT of thing t<g>, keyed t<g>. */
static void good_change(int g, char *key, size_t kn, char *v, size_t vn)
{
    snprintf(key, kn, "t%d", g);
    snprintf(v, vn,
             "{\"eventID\":\"%d\",\"eventName\":\"INSERT\",\"eventSource\":\"aws:dynamodb\","
             "\"dynamodb\":{\"ApproximateCreationDateTime\":1767225600,\"Keys\":{\"id\":"
             "{\"S\":\"%s\"}},\"NewImage\":{\"id\":{\"S\":\"%s\"}},\"SequenceNumber\":\"%d\","
             "\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
             g, key, key, g + 1);
}

/* A large record and the offset it goes to. */
typedef struct big_s {
    int at; /* -1 ends a list */
    const char *key;
    const void *value;
} big_t;

/* Produces @p good good records (made by @p make) to @p topic and, at their
 * offsets, the @p size-byte records @p bigs, then flushes. */
static void produce_around(const char *bs, const char *topic, int good, const big_t *bigs,
                           size_t size, void (*make)(int, char *, size_t, char *, size_t))
{
    int nbig = 0;
    while (bigs[nbig].at >= 0)
        nbig++;
    rd_kafka_t *rk = kt_producer(bs);
    char v[512], k[16];
    for (int i = 0, g = 0, j = 0; i < good + nbig; i++) {
        if (j < nbig && i == bigs[j].at) {
            kt_produce(rk, topic, bigs[j].key, bigs[j].value, size);
            j++;
            continue;
        }
        make(g++, k, sizeof k, v, sizeof v);
        kt_produce(rk, topic, k, v, strlen(v));
    }
    kt_flush(rk);
    rd_kafka_destroy(rk);
}

typedef struct outcome_s {
    size_t out, nf;    /* records read from the output topic, fault events */
    int64_t committed; /* the group's commit on the input */
    int rc;            /* the processor's exit status */
} outcome_t;

/* What the processor @p pid did: up to @p want_out records of
 * @p out_topic (60 s), @p want_faults fault events into @p f (30 s), the
 * commit of @p group on partition 0 of @p in_topic waited for up to
 * @p want_commit (30 s); then it is stopped (SIGTERM) and waited for. */
static outcome_t outcome_of(const char *bs, pid_t pid, const char *out_topic, size_t want_out,
                            size_t want_faults, struct faults *f, const char *group,
                            const char *in_topic, int64_t want_commit)
{
    outcome_t o = {0};
    o.out = kt_read(bs, out_topic, 1, want_out, 60000, 500, NULL, NULL);
    o.nf = kt_read(bs, "faults", 1, want_faults, 30000, 1000, keep_fault, f);
    o.committed = -1;
    int64_t end = tu_now_ms() + 30000;
    while (o.committed < want_commit && tu_now_ms() < end) {
        o.committed = kt_committed(bs, group, in_topic, 1);
        if (o.committed < want_commit)
            tu_sleep_ms(200);
    }
    kill(pid, SIGTERM);
    o.rc = kt_wait(pid, 60000);
    return o;
}

/* A @p n-byte event; without its last byte (invalid JSON) when @p broken. */
static unsigned char *big_event(size_t n, int broken)
{
    unsigned char *v = malloc(n);
    int h = snprintf((char *)v, n, "{\"id\":\"big\",\"type\":\"thing-updated\",\"pad\":\"");
    memset(v + h, 'p', n - (size_t)h);
    memcpy(v + n - 2, broken ? "pp" : "\"}", 2);
    return v;
}

Test(bigfault, kproc_900kb_faults_fit_the_kafka_fault_sink_and_the_stream_goes_on)
{
    enum { BIG = 900000, GOOD = 30 };
    const char *topics[] = {"in", "out", "faults", NULL};
    const int parts[] = {1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    unsigned char *valid = big_event(BIG, 0), *broken = big_event(BIG, 1);
    /* Offsets: 0-9 good, 10 the valid event kproc's stage faults (too large
     * for it), 11-20 good, 21 the malformed one, 22-31 good. */
    const big_t bigs[] = {{10, "big-ok", valid}, {21, "big-bad", broken}, {-1, NULL, NULL}};
    produce_around(bs, "in", GOOD, bigs, BIG, good_event);
    /* The whole record is wanted in a fault (fault.value.max.bytes above
     * the value): only the fault sink's own bound can make it fit. */
    const char *extra[] = {"batch.linger.ms=10", "fault.value.max.bytes=1048576",
                           "commit.interval.ms=100", "drain.timeout.ms=5000", NULL};
    pid_t pid = kt_spawn_kproc_v(bs, "in", "out", "faults", "g-big", extra);
    struct faults f = {0};
    outcome_t o = outcome_of(bs, pid, "out", GOOD, 2, &f, "g-big", "in", GOOD + 2);
    cr_assert_eq(o.nf, 2, "exactly one fault each for the two 900 KB records (got %zu)", o.nf);
    cr_assert_eq(o.out, GOOD, "every record around them is processed (got %zu)", o.out);
    cr_assert_eq(o.committed, GOOD + 2, "and committed past them");
    cr_assert_eq(o.rc, 0, "SIGTERM drains completely");
    for (int i = 0; i < f.n; i++)
        cr_assert_leq(f.size[i], FAULT_LIMIT, "fault %d is %zu bytes", i, f.size[i]);
    json_t *fv = fault_at(&f, 10), *fb = fault_at(&f, 21);
    check_fault(fv, "in", 10, "big-ok", valid, BIG, "SL_ETOOBIG", 1, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fv, "tags"), "stage")),
                     "map", "the stage that faulted it");
    check_fault(fb, "in", 21, "big-bad", broken, BIG, "SL_EJSON", 0, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fb, "tags"), "pipeline")),
                     "-", "a decode fault");
    faults_free(&f);
    free(valid);
    free(broken);
    sl_broker_destroy(b);
}

/* The case: sluice-trigger with its defaults, a 450 KB DynamoDB
 * change record that is valid JSON but not a valid change. Its fault with
 * the decoded copy is about 1.05 MB; without the copy it fits whole. */
Test(bigfault, trigger_450kb_bad_change_record_faults_once_and_the_stream_goes_on)
{
    const char *tbin = getenv("SLUICE_TRIGGER_BIN");
    if (!tbin)
        cr_skip_test("SLUICE_TRIGGER_BIN is not set");
    enum { BIG = 450000, GOOD = 20 };
    const char *topics[] = {"changes", "events", "faults", NULL};
    const int parts[] = {1, 1, 1};
    sl_broker_t *b = kt_broker(topics, parts);
    const char *bs = sl_broker_bootstrap(b);
    unsigned char *bad = malloc(BIG);
    int h = snprintf((char *)bad, BIG,
                     "{\"eventID\":\"x\",\"eventName\":\"DROP\",\"eventSource\":\"aws:dynamodb\","
                     "\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"t-big\"}},\"NewImage\":{\"id\":"
                     "{\"S\":\"t-big\"},\"blob\":{\"S\":\"");
    memset(bad + h, 'b', BIG - (size_t)h);
    memcpy(bad + BIG - 5, "\"}}}}", 5);
    const big_t bigs[] = {{7, "t-big", bad}, {-1, NULL, NULL}};
    produce_around(bs, "changes", GOOD, bigs, BIG, good_change);
    char xb[300];
    snprintf(xb, sizeof xb, "bootstrap.servers=%s", bs);
    tu_cmd_t argv_c;
    char **argv = tu_cmd(
        &argv_c, tbin,
        "--source kafka:changes --sink kafka:events --faults kafka:faults --format dynamodb "
        "--entity thing --group g-trig -X %s -c commit.interval.ms=100 -c drain.timeout.ms=5000",
        xb);
    pid_t pid = tu_spawn(argv, "/dev/null", environ);
    struct faults f = {0};
    outcome_t o = outcome_of(bs, pid, "events", GOOD, 1, &f, "g-trig", "changes", GOOD + 1);
    cr_assert_eq(o.nf, 1, "exactly one fault for the bad change record (got %zu)", o.nf);
    cr_assert_eq(o.out, GOOD, "every good change record is published (got %zu)", o.out);
    cr_assert_eq(o.committed, GOOD + 1, "and committed past the bad one");
    cr_assert_eq(o.rc, 0, "SIGTERM drains completely");
    cr_assert_leq(f.size[0], FAULT_LIMIT);
    /* Only the decoded copy had to go: the value is whole. */
    check_fault(fault_at(&f, 7), "changes", 7, "t-big", bad, BIG, "SL_EFIELD", 1, 0);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(f.f[0], "tags"), "pipeline")), "cdc");
    faults_free(&f);
    free(bad);
    sl_broker_destroy(b);
}
