/* The Kinesis sink as the fault sink: a fault event over Kinesis's 1 MiB
 * record limit is trimmed to fit (the same rule as for Kafka, through the
 * sink's declared limits), lands exactly once on the fault stream of
 * kinesalite (which enforces that limit), and the stream goes on. Before, it
 * was refused by the service and retried forever. */
#include "kinesis_helpers.h"

TestSuite(kinesis_bigfault, .timeout = 240);

static char g_dir[64];

/* Events up to 4 KiB are copied; a larger one is faulted by this stage. */
static sl_result_t small_only(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    const sl_record_t *r = sl_uow_record(u);
    if (r->value_len > 4096) {
        sl_uow_fail(u, SL_ETOOBIG, "event too large for this stage");
        return SL_FAULT;
    }
    return sl_uow_set_output(u, NULL, 0, r->value, r->value_len) ? SL_RETRY : SL_OK;
}

static sl_processor_t *proc(void)
{
    /* The whole record is wanted in a fault: only the sink's bound can cut it. */
    const char *kv[] = {"fault.value.max.bytes", "1048576", "drain.timeout.ms", "5000", NULL};
    return kk_processor("big", g_dir, "in", "out", "small", small_only, 0, kv, NULL);
}

Test(kinesis_bigfault, a_900kb_fault_fits_the_kinesis_fault_sink_and_the_stream_goes_on)
{
    enum { BIG = 900000, GOOD = 10 };
    tu_mkdtemp(g_dir, sizeof g_dir, "sluice-kbig");
    kk_server_t s;
    const char *streams[] = {"in:1", "out:1", "faults:1", NULL};
    kk_start(&s, streams);
    kk_env(s.kinesalite);
    char *big = malloc(BIG + 1);
    int h = snprintf(big, BIG + 1, "{\"type\":\"thing-updated\",\"pad\":\"");
    memset(big + h, 'p', BIG - (size_t)h);
    memcpy(big + BIG - 2, "\"}", 3);
    char *keys[GOOD + 1], *vals[GOOD + 1];
    for (int i = 0; i <= GOOD; i++) {
        keys[i] = malloc(16);
        vals[i] = malloc(64);
        snprintf(keys[i], 16, "k%d", i);
        snprintf(vals[i], 64, "{\"type\":\"thing-updated\",\"n\":%d}", i);
    }
    /* good x5, the big one (key big), good x5 */
    const char *k2[GOOD + 1], *v2[GOOD + 1];
    for (int i = 0, g = 0; i <= GOOD; i++) {
        if (i == GOOD / 2) {
            k2[i] = "big";
            v2[i] = big;
            continue;
        }
        k2[i] = keys[g];
        v2[i] = vals[g++];
    }
    kk_put(s.kinesalite, "in", k2, v2, GOOD + 1);
    kk_run_t r;
    kk_run(&r, proc());
    json_t *faults = kk_wait_records(s.kinesalite, "faults", 1);
    json_t *out = kk_wait_records(s.kinesalite, "out", GOOD);
    cr_assert_eq(json_array_size(faults), 1, "exactly one fault (got %zu)",
                 json_array_size(faults));
    cr_assert_eq(json_array_size(out), GOOD, "every other record goes on (got %zu)",
                 json_array_size(out));
    cr_assert_eq(kk_stop_run(&r), 0, "the drain completed");
    json_t *fr = json_array_get(faults, 0);
    const char *fv = json_string_value(json_object_get(fr, "value"));
    const char *fk = json_string_value(json_object_get(fr, "key"));
    cr_assert_leq(strlen(fv) + strlen(fk), 1024 * 1024, "within Kinesis's record limit");
    cr_assert_str_eq(fk, "big", "keyed like its record");
    json_t *f = json_loads(fv, 0, NULL);
    cr_assert(f);
    json_t *uow = json_object_get(f, "uow");
    json_t *rec = json_object_get(uow, "record");
    json_t *tr = json_object_get(uow, "truncated");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "topic")), "in");
    cr_assert(json_string_length(json_object_get(rec, "position")) > 20,
              "the sequence number to read the original back");
    cr_assert_eq(json_integer_value(json_object_get(rec, "valueSize")), BIG);
    cr_assert(json_is_true(json_object_get(tr, "event")) &&
              json_is_true(json_object_get(tr, "value")));
    cr_assert_eq(json_integer_value(json_object_get(tr, "originalSize")), BIG);
    json_int_t kept = json_integer_value(json_object_get(tr, "keptSize"));
    cr_assert(kept > 500000 && kept < BIG, "what fits of the value is kept: %lld", (long long)kept);
    cr_assert_eq(strlen(json_string_value(json_object_get(tr, "sha256"))), 64);
    json_decref(f);
    json_decref(faults);
    json_decref(out);
    for (int i = 0; i <= GOOD; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(big);
    kk_stop(&s);
    cr_assert_eq(tu_rmtree(g_dir), 0);
}
