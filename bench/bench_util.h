/* Helpers shared by the benchmark programs: errors, clocks, RSS, a fixed
 * random sequence, option parsing and the median/spread summary. Define
 * BENCH_NAME before including it. Not part of the library. */
#ifndef SLUICE_BENCH_UTIL_H
#define SLUICE_BENCH_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rng.h"
#include "sluice/sluice.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

PRINTF_LIKE(1, 2) static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs(BENCH_NAME ": error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static inline void check(int rc, const char *what)
{
    if (rc)
        die("%s failed: %s (%s)", what, sl_err_name(rc), sl_strerror(rc));
}

static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak RSS in kB of RUSAGE_SELF or RUSAGE_CHILDREN, -1 if unknown. */
static inline long peak_rss_kb(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru))
        return -1;
    return ru.ru_maxrss;
}

static inline size_t parse_size(const char *opt, const char *s, size_t min, size_t max)
{
    char *end;
    if (!s)
        die("%s needs a value", opt);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        die("%s: '%s' is not an integer in %zu..%zu", opt, s, min, max);
    return (size_t)v;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct summary_s {
    double med, min, max;
} summary_t;

/* Median and range of @p n samples. */
static inline summary_t summarize(const double *v, size_t n)
{
    double *s = xcalloc(n, sizeof *s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    summary_t r = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
    free(s);
    return r;
}

static inline const char *fmt_rate(char *buf, size_t size, double r)
{
    if (r >= 1e6)
        snprintf(buf, size, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, size, "%.1fk", r / 1e3);
    else
        snprintf(buf, size, "%.0f", r);
    return buf;
}

/* ---- options ---- */

/* The value of option argv[*i] (advancing *i to it); dies saying that the
 * option needs @p what when there is none. */
static inline const char *opt_arg(int argc, char **argv, int *i, const char *what)
{
    if (*i + 1 >= argc)
        die("%s needs %s", argv[*i], what);
    return argv[++*i];
}

/* The integer value in [min, max] of option argv[*i] (advancing *i to it),
 * or dies. */
static inline size_t opt_size(int argc, char **argv, int *i, size_t min, size_t max)
{
    const char *opt = argv[*i];
    return parse_size(opt, *i + 1 < argc ? argv[++*i] : NULL, min, max);
}

/* A repeatable key=value option (argv[*i]'s value, advancing *i): appended
 * to @p list (room for @p cap), or dies. */
static inline void opt_kv(int argc, char **argv, int *i, const char **list, size_t *n, size_t cap)
{
    const char *opt = argv[*i];
    if (*i + 1 >= argc || !strchr(argv[*i + 1], '='))
        die("%s needs key=value", opt);
    if (*n == cap)
        die("too many %s options", opt);
    list[(*n)++] = argv[++*i];
}

/* The pipeline of bench_batch and bench_kafka_e2e: events of type @p type
 * (compared as @p match), mapped by @p map, in batches of @p max_events,
 * written to @p sink. Dies on any error. */
static inline sl_pipeline_t *bench_pipeline(const char *name, sl_match_t match, const char *type,
                                            sl_stage_fn map, void *opaque, size_t max_events,
                                            sl_sink_t *sink)
{
    sl_pipeline_t *p = sl_pipeline_new(name);
    if (!p)
        die("sl_pipeline_new failed: out of memory");
    const char *const types[] = {type};
    check(sl_pipeline_filter_types(p, match, types, 1), "sl_pipeline_filter_types");
    check(sl_pipeline_map(p, map, opaque), "sl_pipeline_map");
    sl_batch_opts_t bo = {.max_events = max_events, .max_bytes = 0, .linger_ms = -1};
    check(sl_pipeline_batch(p, &bo), "sl_pipeline_batch");
    check(sl_pipeline_sink(p, sink), "sl_pipeline_sink");
    return p;
}

/* The options bench_batch and bench_kafka_e2e share: --quick, --events N
 * (in [ev_min, ev_max]) and --reps R (in [1, reps_max]). Takes argv[*i]
 * when it is one of them (advancing *i past its value) and returns 1;
 * else returns 0. Each given --events/--reps sets its bit (1, 2) in
 * *@p given, for opt_quick(). */
static inline int opt_common(int argc, char **argv, int *i, int *quick, size_t *events,
                             size_t ev_min, size_t ev_max, size_t *reps, size_t reps_max,
                             unsigned *given)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--quick")) {
        *quick = 1;
    } else if (!strcmp(a, "--events")) {
        *events = opt_size(argc, argv, i, ev_min, ev_max);
        *given |= 1;
    } else if (!strcmp(a, "--reps")) {
        *reps = opt_size(argc, argv, i, 1, reps_max);
        *given |= 2;
    } else {
        return 0;
    }
    return 1;
}

/* With --quick: @p quick_events events and 1 rep, unless given. */
static inline void opt_quick(int quick, unsigned given, size_t *events, size_t quick_events,
                             size_t *reps)
{
    if (quick && !(given & 1))
        *events = quick_events;
    if (quick && !(given & 2))
        *reps = 1;
}

/* An option no case of the program took: --help/-h prints the usage and
 * exits 0; anything else prints it to stderr and dies. */
static inline void opt_other(const char *a, void (*usage)(FILE *))
{
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
        usage(stdout);
        exit(0);
    }
    usage(stderr);
    die("unknown option '%s'", a);
}

/* ---- a processor on a thread, and what its stage saw ---- */

typedef struct bench_run_s {
    sl_processor_t *p;
    int rc;
} bench_run_t;

/* pthread_create() body: runs the processor of a bench_run_t to its end. */
static inline void *bench_runner(void *a)
{
    bench_run_t *r = a;
    r->rc = sl_processor_run(r->p);
    return NULL;
}

/* Records a stage saw, and when it saw the first (now_s()). */
typedef struct bench_seen_s {
    atomic_size_t n;
    _Atomic double first;
} bench_seen_t;

static inline void bench_seen_reset(bench_seen_t *s)
{
    atomic_store(&s->n, 0);
    atomic_store(&s->first, 0.0);
}

static inline void bench_seen_note(bench_seen_t *s)
{
    /* the clock read once, not per record: it ran in the measured thread */
    double zero = 0;
    if (atomic_load_explicit(&s->first, memory_order_relaxed) == 0)
        atomic_compare_exchange_strong(&s->first, &zero, now_s());
    atomic_fetch_add(&s->n, 1);
}

/* The JSON of benchmark event @p i into @p out (@p cap bytes): of type
 * @p type, with partition key @p key and fields drawn from @p r1, @p r2,
 * @p r3, its description padded so that the event is @p size bytes when the
 * fields allow. bench_batch and bench_kafka_e2e make the same events with it.
 * Returns the length; dies when the event does not fit. */
static inline size_t bench_event(char *out, size_t cap, size_t size, size_t i, const char *type,
                                 const char *key, uint64_t r1, uint64_t r2, uint64_t r3)
{
    static const char lorem[] = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
                                "eiusmod tempor incididunt ut labore et dolore magna aliqua ut "
                                "enim ad minim veniam quis nostrud exercitation ullamco laboris ";
    static const char *const accounts[] = {"dev", "stg", "prod"};
    static const char *const regions[] = {"us-east-1", "us-west-2", "eu-west-1"};
    static const char *const statuses[] = {"active", "pending", "retired"};
    static const char *const tagsets[] = {"\"red\",\"blue\"", "\"green\"",
                                          "\"new\",\"sale\",\"eu\"", ""};
    const int64_t t0 = 1767225600000ll; /* 2026-01-01T00:00:00Z */
    char desc[1024];
    if (size >= sizeof desc)
        die("an event of %zu bytes is larger than bench_event makes", size);
    int n = 0;
    desc[0] = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        n = snprintf(out, cap,
                     "{\"id\":\"%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-a%03" PRIx32
                     "-%012" PRIx64 "\",\"type\":\"%s\",\"timestamp\":%" PRId64
                     ",\"partitionKey\":\"%s\",\"tags\":{\"account\":\"%s\",\"region\":\"%s\","
                     "\"source\":\"sluice-bench\"},\"thing\":{\"id\":\"thing-%06zu\","
                     "\"name\":\"Thing %zu\",\"description\":\"%s\",\"status\":\"%s\","
                     "\"count\":%u,\"price\":%u.%02u,\"tags\":[%s]}}",
                     (uint32_t)r1, (uint32_t)(r1 >> 32) & 0xffff, (uint32_t)(r1 >> 48) & 0xfff,
                     (uint32_t)r2 & 0xfff, (uint64_t)((r2 >> 16) & 0xffffffffffffull), type,
                     t0 + (int64_t)i * 37, key, accounts[r3 % 3], regions[(r3 >> 8) % 3], i, i,
                     desc, statuses[(r3 >> 16) % 3], (unsigned)((r3 >> 24) % 1000),
                     (unsigned)((r3 >> 34) % 500), (unsigned)((r3 >> 44) % 100),
                     tagsets[(r3 >> 52) % 4]);
        if (n < 0 || (size_t)n >= cap)
            die("event %zu does not fit", i);
        if (attempt == 0 && (size_t)n < size) {
            /* pad the description so the event is size bytes */
            size_t pad = size - (size_t)n, off = (r2 >> 8) % (sizeof lorem - 1);
            for (size_t j = 0; j < pad; j++)
                desc[j] = lorem[(off + j) % (sizeof lorem - 1)];
            desc[pad] = 0;
        } else {
            break;
        }
    }
    return (size_t)n;
}

/* The program named by the environment variable @p env, or else @p rel
 * taken from the folder of @p argv0 (written into @p path, @p size bytes). */
static inline const char *bench_bin(const char *env, const char *argv0, const char *rel, char *path,
                                    size_t size)
{
    const char *bin = getenv(env);
    if (bin)
        return bin;
    snprintf(path, size, "%s", argv0);
    char *slash = strrchr(path, '/');
    if (slash)
        snprintf(slash + 1, size - (size_t)(slash + 1 - path), "%s", rel);
    return path;
}

/* Sleeps @p ms milliseconds. */
static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Removes the folder @p dir and what it holds (rm -rf); a failure is said
 * on stderr, not fatal. */
static inline void bench_rmtree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
