/* sluice — configuration property table. */
#include "sluice/conf.h"
#include "core/conf_int.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef sl__prop_t prop_t;
#define P_INT SL__P_INT
#define P_BOOL SL__P_BOOL
#define P_STR SL__P_STR

#define KIB 1024
#define MIB (1024 * 1024)

static const prop_t props[] = {
    {"processor.name", P_STR, "sluice", 0, 0,
     "Name of the processor, in fault tags, logs and metrics."},
    {"batch.max.events", P_INT, "500", 1, 1000000,
     "Default batch size: a batch closes when it holds this many units of work."},
    {"batch.max.bytes", P_INT, "5242880", 1, INT32_MAX,
     "Default batch byte bound (sum of output key and value sizes)."},
    {"batch.linger.ms", P_INT, "50", 0, 3600000,
     "Default linger: a batch closes this long after its first unit of work arrived."},
    {"record.max.bytes", P_INT, "1048576", 1, INT32_MAX,
     "A record value larger than this becomes a fault (SL_ETOOBIG) before decoding."},
    {"retry.max", P_INT, "5", 0, 1000,
     "Retries of a stage or sink for one unit of work before it becomes a fault."},
    {"retry.backoff.ms", P_INT, "100", 1, 3600000,
     "Base of the capped full-jitter exponential backoff between retries."},
    {"retry.backoff.max.ms", P_INT, "10000", 1, 3600000, "Cap of the retry backoff."},
    {"memory.max.bytes", P_INT, "0", 0, INT64_MAX / 2,
     "0 (the default) or at least 1048576: what the processor may buffer, in bytes (0: no "
     "budget, each part keeps its own default; sluice-listener sets 33554432 unless told "
     "otherwise): the engine's in-flight records and outputs "
     "(half: inflight.max.bytes, and inflight.max.records at 4 KiB a record), the Kafka "
     "source's consumer queue and fetches (a quarter: kafka.queued.max.messages.kbytes, "
     "kafka.queued.min.messages, kafka.fetch.max.bytes, kafka.max.partition.fetch.bytes) and "
     "the Kinesis source's GetRecords answers (a quarter: kinesis.records.limit per call). A "
     "property set explicitly wins over the share derived from this budget. One record is "
     "always admitted, however large."},
    {"inflight.max.records", P_INT, "50000", 1, 100000000,
     "Records in flight (read, not yet done) above which the source pauses; each flat-map "
     "child not yet done counts as one more. Unless set: the engine's half of memory.max.bytes "
     "at 4 KiB a record, at most this default."},
    {"inflight.max.bytes", P_INT, "67108864", 1, INT64_MAX / 2,
     "Bytes in flight above which the source pauses: record values plus the output buffers "
     "their units of work hold. Idle units of work keep at most as many buffer bytes for "
     "reuse. Unless set: half of memory.max.bytes, at most this default."},
    {"inflight.partition.max.records", P_INT, "20000", 1, 100000000,
     "Records in flight in one partition above which that partition pauses; flat-map "
     "children count as for inflight.max.records. Unless set: as inflight.max.records, at most "
     "this default."},
    {"inflight.resume.pct", P_INT, "85", 1, 99,
     "Input paused at inflight.max.records or inflight.max.bytes resumes when the records and "
     "bytes in flight fall to this percentage of those bounds. High by default: such a pause "
     "only stops reading (Kafka: the consumer's queue, for its first 500 ms; Kinesis: GetRecords), "
     "so resuming early costs little and keeps a sink that takes all that is queued fed."},
    {"inflight.partition.resume.pct", P_INT, "50", 1, 99,
     "A partition paused at inflight.partition.max.records resumes when its records in flight "
     "fall to this percentage of that bound (a Kafka partition's pause drops what librdkafka "
     "prefetched for it, so it resumes lower)."},
    {"fault.value.max.bytes", P_INT, "524288", 0, INT32_MAX,
     "Bytes of the original value copied into a fault event; longer values are truncated "
     "(the record's coordinates still identify it)."},
    {"fault.max.bytes", P_INT, "0", 0, INT32_MAX,
     "Bound of a whole fault event (key, value and its sluice.fault.* headers) below the fault "
     "sink's own record limit; "
     "0 = that limit only. A fault event is trimmed to fit (decoded copy first, then the "
     "original value, then key and headers: see schemas/fault.json)."},
    {"random.seed", P_INT, "0", 0, INT64_MAX,
     "Seed of the retry jitter; 0 seeds from the clock. Tests set it for repeatability."},
    {"commit.interval.ms", P_INT, "1000", 10, 3600000,
     "How often the source commits the done watermark of each partition."},
    {"processor.signals", P_BOOL, "true", 0, 1,
     "Whether sl_processor_run() drains on SIGINT and SIGTERM."},
    {"log.level", P_STR, "info", 0, 0, "Lowest level of JSON log lines: debug, info, warn, error."},
    {"source.batch.size", P_INT, "1000", 1, 100000,
     "Records taken from the source per read (rd_kafka_consume_batch_queue)."},
    {"log.stats.interval.ms", P_INT, "0", 0, 86400000,
     "Log a \"stats\" line (totals and records/s) this often while running; 0 = never."},
    {"source.connect.timeout.ms", P_INT, "30000", 0, 3600000,
     "At start, how long the source waits to reach its brokers or endpoint before the "
     "processor gives up with an error; 0 = do not check."},
    {"source.format", P_STR, "event", 0, 0,
     "What a record holds: \"event\" (an event envelope with a type, the default) or \"json\" "
     "(any JSON text, e.g. change records for a cdc pipeline: validated, no envelope read; the "
     "record key is the key, type filters match nothing; an empty value, a Kafka tombstone, is "
     "skipped)."},
    {"source.headers", P_BOOL, "true", 0, 1,
     "Whether the Kafka source reads each record's headers. false is for topics known to "
     "carry none: it saves librdkafka's header parse, which allocates and frees a buffer for "
     "every record, even one without headers. A record then has no headers, so ce_* headers "
     "(CloudEvents binary mode) are not read, a record resubmitted by sluice-faults goes to "
     "every pipeline instead of the one that failed it, and faults carry none of the "
     "original's. Kinesis records have no headers."},
    {"pipeline.ordering", P_STR, "sink", 0, 0,
     "Order of the units of work of one partition in a pipeline that does not set its own "
     "(sl_pipeline_ordering()): \"sink\" (the sink acknowledges each key's in write order), "
     "\"partition\" (one at a time), \"key\" (one per key at a time, keys concurrent, "
     "acknowledged in any order) or \"unordered\"."},
    {"drain.timeout.ms", P_INT, "30000", 0, 3600000,
     "On shutdown or revoke, how long to wait for in-flight work before giving up."},
    {"close.timeout.ms", P_INT, "5000", 0, 3600000,
     "On shutdown, after the drain: how long a Kafka source's final commit and leaving its "
     "consumer group may take in all, so that a Kafka processor's shutdown lasts at most "
     "drain.timeout.ms + close.timeout.ms; a consumer that could not leave in time is left to "
     "the process exit, and the group gives its partitions to others after its session "
     "timeout. A final commit that finds the group rebalancing (members stopping or starting "
     "at the same time) waits within this bound for the rebalance to end and commits again."},
    {"http.listen", P_STR, "", 0, 0,
     "Serve /metrics (Prometheus), /health and /ready on this ADDR:PORT, on the processor's "
     "loop: an IPv4 address, [IPv6], localhost or * (every interface); port 0 picks a free "
     "one (logged). Empty = off."},
    {"health.stall.ms", P_INT, "60000", 100, 86400000,
     "/health answers 503 once records are in flight and none was done for this long."},
    {"view.synchronous", P_STR, "normal", 0, 0,
     "Durability of sluice-listener's SQLite view (PRAGMA synchronous on its WAL; "
     "sl_store_sqlite_open_opts()): \"normal\" (a commit is fsynced at the next checkpoint: "
     "a power loss or OS crash may lose the last commits, whose offsets may be committed "
     "already; a crash of the process loses nothing) or \"full\" (each commit, one per batch "
     "or group of batches, fsyncs the WAL before its events are done)."},
};
#define NPROPS (sizeof props / sizeof props[0])

/* Rows connectors registered (sl__conf_register()), after the core's. */
#define EXTRA_MAX 32
#define REGS_MAX 4
static struct {
    const char *prefix;
    const prop_t *rows;
    size_t n;
} regs[REGS_MAX];
static size_t nregs, nextra;
#define NALL (NPROPS + nextra)

/* Prefixes kept verbatim for the connector that owns them, unless that
 * connector registered typed rows for its prefix. */
static const char *const passthrough_prefixes[] = {"kafka.", "kinesis."};

int sl__conf_register(const char *prefix, const sl__prop_t *rows, size_t n)
{
    if (nregs == REGS_MAX || n > EXTRA_MAX - nextra)
        return SL_ERANGE;
    regs[nregs].prefix = prefix;
    regs[nregs].rows = rows;
    regs[nregs].n = n;
    nregs++;
    nextra += n;
    return 0;
}

static const prop_t *prop_at(size_t i)
{
    if (i < NPROPS)
        return &props[i];
    i -= NPROPS;
    for (size_t r = 0; r < nregs; r++) {
        if (i < regs[r].n)
            return &regs[r].rows[i];
        i -= regs[r].n;
    }
    return NULL;
}

static int registered_prefix(const char *name)
{
    for (size_t r = 0; r < nregs; r++)
        if (!strncmp(name, regs[r].prefix, strlen(regs[r].prefix)))
            return 1;
    return 0;
}

typedef struct pt_s {
    char *name;
    char *value;
} pt_t;

struct sl_conf_s {
    int64_t ival[NPROPS + EXTRA_MAX];
    unsigned char set[NPROPS + EXTRA_MAX]; /* set explicitly (sl__conf_is_set()) */
    char *sval[NPROPS + EXTRA_MAX];
    pt_t *pt;
    size_t npt, ptcap;
};

static int find_prop(const char *name)
{
    for (size_t i = 0; i < NALL; i++)
        if (!strcmp(prop_at(i)->name, name))
            return (int)i;
    return -1;
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno == ERANGE)
        return SL_EINVAL;
    /* Allow size suffixes for byte properties: 64k, 5m (binary units). */
    if (*end == 'k' || *end == 'K') {
        if (n > INT64_MAX / KIB || n < INT64_MIN / KIB)
            return SL_EINVAL;
        n *= KIB, end++;
    } else if (*end == 'm' || *end == 'M') {
        if (n > INT64_MAX / MIB || n < INT64_MIN / MIB)
            return SL_EINVAL;
        n *= MIB, end++;
    }
    if (*end)
        return SL_EINVAL;
    *out = n;
    return 0;
}

static int parse_bool(const char *v, int64_t *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i]))
            return *out = 1, 0;
        if (!strcmp(v, no[i]))
            return *out = 0, 0;
    }
    return SL_EINVAL;
}

int sl__listen_parse(const char *s, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || host_size < 46)
        return SL_EINVAL;
    const char *pp = colon + 1;
    if (!*pp || strlen(pp) > 5 || strspn(pp, "0123456789") != strlen(pp))
        return SL_EINVAL;
    long v = strtol(pp, NULL, 10);
    if (v > 65535)
        return SL_EINVAL;
    size_t hl = (size_t)(colon - s);
    char h[64];
    if (hl >= sizeof h)
        return SL_EINVAL;
    memcpy(h, s, hl);
    h[hl] = 0;
    unsigned char bin[16];
    if (!strcmp(h, "*") || !hl)
        strcpy(host, "0.0.0.0");
    else if (!strcmp(h, "localhost"))
        strcpy(host, "127.0.0.1");
    else if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = 0;
        if (inet_pton(AF_INET6, h + 1, bin) != 1)
            return SL_EINVAL;
        strcpy(host, h + 1);
    } else if (inet_pton(AF_INET, h, bin) == 1)
        strcpy(host, h);
    else
        return SL_EINVAL;
    *port = (int)v;
    return 0;
}

/* String properties with a syntax of their own. */
static int check_str(const prop_t *p, const char *value, char *errstr, size_t errstr_size)
{
    if (!strcmp(p->name, "http.listen") && *value) {
        char host[64];
        int port;
        if (sl__listen_parse(value, host, sizeof host, &port)) {
            sl__errf(errstr, errstr_size,
                     "http.listen: expected ADDR:PORT (an IPv4 address, [IPv6], localhost or *; "
                     "port 0..65535), got \"%s\"",
                     value);
            return SL_EINVAL;
        }
    }
    if (!strcmp(p->name, "view.synchronous") && strcmp(value, "normal") && strcmp(value, "full")) {
        sl__errf(errstr, errstr_size, "view.synchronous: expected normal or full, got \"%s\"",
                 value);
        return SL_EINVAL;
    }
    if (!strcmp(p->name, "log.level") && strcmp(value, "debug") && strcmp(value, "info") &&
        strcmp(value, "warn") && strcmp(value, "error")) {
        sl__errf(errstr, errstr_size, "log.level: expected debug, info, warn or error, got \"%s\"",
                 value);
        return SL_EINVAL;
    }
    return 0;
}

static int set_prop(sl_conf_t *c, int i, const char *value, char *errstr, size_t errstr_size)
{
    const prop_t *p = prop_at((size_t)i);
    int64_t n;
    switch (p->type) {
    case P_STR: {
        if (check_str(p, value, errstr, errstr_size))
            return SL_EINVAL;
        char *s = sl_strdup(value);
        if (!s) {
            sl__errf(errstr, errstr_size, "out of memory");
            return SL_ENOMEM;
        }
        sl_free(c->sval[i]);
        c->sval[i] = s;
        return 0;
    }
    case P_BOOL:
        if (parse_bool(value, &n)) {
            sl__errf(errstr, errstr_size, "%s: expected true or false, got \"%s\"", p->name, value);
            return SL_EINVAL;
        }
        c->ival[i] = n;
        return 0;
    case P_INT:
        if (parse_int(value, &n)) {
            sl__errf(errstr, errstr_size, "%s: expected an integer, got \"%s\"", p->name, value);
            return SL_EINVAL;
        }
        if (n < p->min || n > p->max) {
            sl__errf(errstr, errstr_size,
                     "%s: %" PRId64 " is out of range [%" PRId64 "..%" PRId64 "]", p->name, n,
                     p->min, p->max);
            return SL_ERANGE;
        }
        if (!strcmp(p->name, "memory.max.bytes") && n > 0 && n < 1048576) {
            sl__errf(errstr, errstr_size,
                     "memory.max.bytes: %" PRId64 " is too small: 0 (no budget) or at least "
                     "1048576",
                     n);
            return SL_ERANGE;
        }
        c->ival[i] = n;
        return 0;
    }
    return SL_EINVAL;
}

sl_conf_t *sl_conf_new(void)
{
    sl_conf_t *c = sl_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < NALL; i++) {
        if (set_prop(c, (int)i, prop_at(i)->def, NULL, 0)) {
            sl_conf_destroy(c);
            return NULL;
        }
    }
    return c;
}

void sl_conf_destroy(sl_conf_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NALL; i++)
        sl_free(c->sval[i]);
    for (size_t i = 0; i < c->npt; i++) {
        sl_free(c->pt[i].name);
        sl_free(c->pt[i].value);
    }
    sl_free(c->pt);
    sl_free(c);
}

static int pt_set(sl_conf_t *c, const char *name, const char *value)
{
    char *v = sl_strdup(value);
    if (!v)
        return SL_ENOMEM;
    for (size_t i = 0; i < c->npt; i++) {
        if (!strcmp(c->pt[i].name, name)) {
            sl_free(c->pt[i].value);
            c->pt[i].value = v;
            return 0;
        }
    }
    if (sl__grow(&c->pt, &c->ptcap, c->npt + 1, sizeof *c->pt, 8)) {
        sl_free(v);
        return SL_ENOMEM;
    }
    char *n = sl_strdup(name);
    if (!n) {
        sl_free(v);
        return SL_ENOMEM;
    }
    c->pt[c->npt].name = n;
    c->pt[c->npt].value = v;
    c->npt++;
    return 0;
}

sl_conf_t *sl_conf_dup(const sl_conf_t *src)
{
    sl_conf_t *c = sl_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    memcpy(c->ival, src->ival, sizeof c->ival);
    memcpy(c->set, src->set, sizeof c->set);
    for (size_t i = 0; i < NALL; i++) {
        if (src->sval[i] && !(c->sval[i] = sl_strdup(src->sval[i])))
            goto fail;
    }
    for (size_t i = 0; i < src->npt; i++)
        if (pt_set(c, src->pt[i].name, src->pt[i].value))
            goto fail;
    return c;
fail:
    sl_conf_destroy(c);
    return NULL;
}

int sl_conf_set(sl_conf_t *c, const char *name, const char *value, char *errstr, size_t errstr_size)
{
    if (!c || !name || !value) {
        sl__errf(errstr, errstr_size, "name and value are required");
        return SL_EINVAL;
    }
    int i = find_prop(name);
    if (i >= 0) {
        int rc = set_prop(c, i, value, errstr, errstr_size);
        if (!rc)
            c->set[i] = 1;
        return rc;
    }
    for (size_t k = 0;
         k < sizeof passthrough_prefixes / sizeof *passthrough_prefixes && !registered_prefix(name);
         k++) {
        size_t n = strlen(passthrough_prefixes[k]);
        if (!strncmp(name, passthrough_prefixes[k], n) && name[n]) {
            int rc = pt_set(c, name, value);
            if (rc)
                sl__errf(errstr, errstr_size, "out of memory");
            return rc;
        }
    }
    sl__errf(errstr, errstr_size, "unknown configuration property \"%s\"", name);
    return SL_ENOENT;
}

int sl_conf_unset(sl_conf_t *c, const char *name, char *errstr, size_t errstr_size)
{
    if (!c || !name) {
        sl__errf(errstr, errstr_size, "name is required");
        return SL_EINVAL;
    }
    int i = find_prop(name);
    if (i >= 0) {
        /* Back to the table's default: the same parse as sl_conf_new(). */
        int rc = set_prop(c, i, prop_at((size_t)i)->def, errstr, errstr_size);
        if (!rc)
            c->set[i] = 0;
        return rc;
    }
    for (size_t k = 0;
         k < sizeof passthrough_prefixes / sizeof *passthrough_prefixes && !registered_prefix(name);
         k++) {
        size_t n = strlen(passthrough_prefixes[k]);
        if (strncmp(name, passthrough_prefixes[k], n) || !name[n])
            continue;
        /* Removed, keeping the others in the order they were set (the order
         * sl_conf_foreach() hands them to the connector). */
        for (size_t j = 0; j < c->npt; j++) {
            if (strcmp(c->pt[j].name, name))
                continue;
            sl_free(c->pt[j].name);
            sl_free(c->pt[j].value);
            memmove(&c->pt[j], &c->pt[j + 1], (c->npt - j - 1) * sizeof *c->pt);
            c->npt--;
            break;
        }
        return 0;
    }
    sl__errf(errstr, errstr_size, "unknown configuration property \"%s\"", name);
    return SL_ENOENT;
}

int sl_conf_get(const sl_conf_t *c, const char *name, char *buf, size_t *size)
{
    char tmp[32];
    const char *v = NULL;
    int i = find_prop(name);
    if (i >= 0) {
        if (prop_at((size_t)i)->type == P_STR) {
            v = c->sval[i];
        } else if (prop_at((size_t)i)->type == P_BOOL) {
            v = c->ival[i] ? "true" : "false";
        } else {
            snprintf(tmp, sizeof tmp, "%" PRId64, c->ival[i]);
            v = tmp;
        }
    } else {
        for (size_t k = 0; k < c->npt && !v; k++)
            if (!strcmp(c->pt[k].name, name))
                v = c->pt[k].value;
        if (!v)
            return SL_ENOENT;
    }
    size_t need = strlen(v) + 1;
    if (!buf || *size < need) {
        *size = need;
        return buf ? SL_ERANGE : 0;
    }
    memcpy(buf, v, need);
    *size = need;
    return 0;
}

int64_t sl_conf_get_int(const sl_conf_t *c, const char *name)
{
    int i = find_prop(name);
    if (i < 0 || prop_at((size_t)i)->type == P_STR)
        return 0;
    return c->ival[i];
}

const char *sl_conf_get_str(const sl_conf_t *c, const char *name)
{
    int i = find_prop(name);
    if (i < 0 || prop_at((size_t)i)->type != P_STR)
        return NULL;
    return c->sval[i];
}

const char *sl_conf_get_str_pt(const sl_conf_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->npt; i++)
        if (!strcmp(c->pt[i].name, name))
            return c->pt[i].value;
    return NULL;
}

int sl__conf_is_set(const sl_conf_t *c, const char *name)
{
    if (!c || !name)
        return 0;
    int i = find_prop(name);
    if (i >= 0)
        return c->set[i];
    return sl_conf_get_str_pt(c, name) != NULL;
}

/* The budget's shares (see memory.max.bytes): half for the engine, a quarter
 * for each source kind (a processor has one source, so at most three
 * quarters are ever used; the slack covers what no bound counts, such as
 * per-record bookkeeping and the sinks' own buffers). */
int64_t sl__mem_share(const sl_conf_t *c, sl__mem_part_t part)
{
    int64_t b = sl_conf_get_int(c, "memory.max.bytes");
    /* No budget: a share larger than any part's own default, so that every
     * derived bound stays at that default (today's behaviour). A 32 MiB
     * default cost the Kafka processor about 45% of its throughput in
     * bench_kafka_e2e (its consumer's queue and fetches at 4 MiB). */
    if (b == 0)
        b = INT64_MAX / 8;
    switch (part) {
    case SL__MEM_ENGINE:
        return b / 2;
    case SL__MEM_SOURCE:
        return b / 4;
    }
    return b;
}

int64_t sl__mem_derived(const sl_conf_t *c, const char *name)
{
    if (sl__conf_is_set(c, name))
        return sl_conf_get_int(c, name);
    int64_t eng = sl__mem_share(c, SL__MEM_ENGINE);
    int64_t def = sl_conf_get_int(c, name);
    int64_t v = def;
    if (!strcmp(name, "inflight.max.bytes"))
        v = eng;
    else if (!strcmp(name, "inflight.max.records") ||
             !strcmp(name, "inflight.partition.max.records"))
        v = eng / SL__MEM_RECORD_BYTES;
    /* Never above the table's default (the budget only lowers what a
     * processor holds), never below one record. */
    if (v > def)
        v = def;
    return v < 1 ? 1 : v;
}

int sl_conf_foreach(const sl_conf_t *c, const char *prefix,
                    int (*cb)(const char *name, const char *value, void *opaque), void *opaque)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < c->npt; i++) {
        if (strncmp(c->pt[i].name, prefix, n))
            continue;
        int rc = cb(c->pt[i].name + n, c->pt[i].value, opaque);
        if (rc)
            return rc;
    }
    return 0;
}

void sl_conf_properties_print(FILE *fp)
{
    static const char *const tnames[] = {"integer", "boolean", "string"};
    fprintf(fp, "| property | type | default | range | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NALL; i++) {
        const prop_t *p = prop_at(i);
        if (p->type == P_INT)
            fprintf(fp, "| `%s` | %s | %s | %" PRId64 "..%" PRId64 " | %s |\n", p->name,
                    tnames[p->type], p->def, p->min, p->max, p->desc);
        else
            fprintf(fp, "| `%s` | %s | %s | | %s |\n", p->name, tnames[p->type], p->def, p->desc);
    }
    fprintf(fp, "| `kafka.*` | string | | | Passed unchanged to librdkafka (prefix removed). |\n");
    if (!registered_prefix("kinesis."))
        fprintf(
            fp,
            "| `kinesis.*` | string | | | Passed to the Kinesis connector (prefix removed). |\n");
}
