/* A small processor for the Kafka integration tests, on the public API only:
 * consume IN, tag each event, batch, produce to OUT; faults to FAULTS.
 *
 *   kproc BOOTSTRAP IN OUT FAULTS GROUP [key=value ...]
 *
 * Extra key=value pairs are sluice configuration (kafka.* included);
 * rate=N adds a rate-limit stage of N events/s.
 * Exits 0 after a complete drain, 3 after a drain that timed out, 1 on error. */
#include <sluice/sluice.h>

#include <signal.h>
#include <sys/prctl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output: the input value with the record's coordinates appended as a
 * suffix, so tests can check content and provenance. */
static sl_result_t tag(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%.*s|%s/%d@%lld", (int)r->value_len, (const char *)r->value,
                     r->topic, (int)r->partition, (long long)r->offset);
    if (n < 0 || (size_t)n >= sizeof buf) {
        sl_uow_fail(u, SL_ETOOBIG, "event too large for the test processor");
        return SL_FAULT;
    }
    return sl_uow_set_output(u, r->key, r->key_len, buf, (size_t)n) ? SL_RETRY : SL_OK;
}

int main(int argc, char **argv)
{
    /* A test that fails mid-way must not leave its processor running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (argc < 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP IN OUT FAULTS GROUP [key=value ...]\n", argv[0]);
        return 2;
    }
    char err[512];
    sl_conf_t *c = sl_conf_new();
    int bad = !c || sl_conf_set(c, "kafka.bootstrap.servers", argv[1], err, sizeof err) ||
              sl_conf_set(c, "kafka.group.id", argv[5], err, sizeof err) ||
              sl_conf_set(c, "processor.name", "kproc", err, sizeof err);
    double rate = 0;
    for (int i = 6; !bad && i < argc; i++) {
        if (!strncmp(argv[i], "rate=", 5)) { /* a rate-limit stage, events/s */
            rate = atof(argv[i] + 5);
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "kproc: expected key=value, got %s\n", argv[i]);
            return 2;
        }
        *eq = 0;
        bad = sl_conf_set(c, argv[i], eq + 1, err, sizeof err) != 0;
    }
    if (bad) {
        fprintf(stderr, "kproc: %s\n", err);
        return 2;
    }
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    if (!p) {
        fprintf(stderr, "kproc: %s\n", err);
        return 1;
    }
    sl_sink_t *out = sl_kafka_sink_new(p, argv[3], err, sizeof err);
    sl_sink_t *faults = out ? sl_kafka_sink_new(p, argv[4], err, sizeof err) : NULL;
    sl_pipeline_t *pl = sl_pipeline_new("tag");
    if (pl && rate > 0 && sl_pipeline_rate_limit(pl, rate, 100)) {
        fprintf(stderr, "kproc: bad rate\n");
        return 2;
    }
    if (!faults || !pl || sl_pipeline_map(pl, tag, NULL) || sl_pipeline_batch(pl, NULL) ||
        sl_pipeline_sink(pl, out) || sl_processor_add_pipeline(p, pl) ||
        sl_processor_set_fault_sink(p, faults) ||
        sl_kafka_source_attach(p, argv[2], err, sizeof err)) {
        fprintf(stderr, "kproc: setup failed: %s\n", err);
        sl_processor_destroy(p);
        return 1;
    }
    int rc = sl_processor_run(p);
    sl_processor_destroy(p);
    return rc == 0 ? 0 : rc == SL_ETIMEDOUT ? 3 : 1;
}
