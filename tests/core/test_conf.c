/* Configuration: defaults, parsing, ranges, unknown keys, pass-through. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/conf_int.h"
#include "sluice/conf.h"
#include "sluice/error.h"

TestSuite(conf);

static int collect(const char *k, const char *v, void *opaque)
{
    char *out = opaque;
    size_t n = strlen(out);
    snprintf(out + n, 128 - n, "%s=%s;", k, v);
    return 0;
}

struct set_case {
    const char *name, *value;
    int rc;
    const char *readback;
};

Test(conf, set_table)
{
    static const struct set_case cases[] = {
        {.name = "batch.max.events", .value = "1000", .rc = 0, .readback = "1000"},
        {.name = "batch.max.events", .value = "0", .rc = SL_ERANGE},
        {.name = "batch.max.events", .value = "abc", .rc = SL_EINVAL},
        {.name = "batch.max.events", .value = "12x", .rc = SL_EINVAL},
        {.name = "batch.max.events", .value = "", .rc = SL_EINVAL},
        {.name = "batch.max.bytes", .value = "64k", .rc = 0, .readback = "65536"},
        {.name = "batch.max.bytes", .value = "5M", .rc = 0, .readback = "5242880"},
        {.name = "batch.linger.ms", .value = "-1", .rc = SL_ERANGE},
        {.name = "record.max.bytes", .value = "99999999999999999999999", .rc = SL_EINVAL},
        {.name = "processor.name",
         .value = "things-listener",
         .rc = 0,
         .readback = "things-listener"},
        {.name = "no.such.key", .value = "1", .rc = SL_ENOENT},
        {.name = "kafka.bootstrap.servers",
         .value = "127.0.0.1:9092",
         .rc = 0,
         .readback = "127.0.0.1:9092"},
        {.name = "kafka.", .value = "x", .rc = SL_ENOENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sl_conf_t *c = sl_conf_new();
        char err[256] = "";
        int rc = sl_conf_set(c, cases[i].name, cases[i].value, err, sizeof err);
        cr_assert_eq(rc, cases[i].rc, "case %zu %s=%s: %s", i, cases[i].name, cases[i].value, err);
        if (rc)
            cr_assert_neq(err[0], 0, "a failure explains itself");
        if (cases[i].readback) {
            char buf[64];
            size_t n = sizeof buf;
            cr_assert_eq(sl_conf_get(c, cases[i].name, buf, &n), 0);
            cr_assert_str_eq(buf, cases[i].readback);
        }
        sl_conf_destroy(c);
    }
}

Test(conf, defaults_failed_set_keeps_value_and_dup)
{
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_get_int(c, "batch.max.events"), 500);
    cr_assert_str_eq(sl_conf_get_str(c, "processor.name"), "sluice");
    cr_assert_neq(sl_conf_set(c, "batch.max.events", "-5", NULL, 0), 0);
    cr_assert_eq(sl_conf_get_int(c, "batch.max.events"), 500);
    char buf[4];
    size_t n = sizeof buf;
    cr_assert_eq(sl_conf_get(c, "batch.max.bytes", buf, &n), SL_ERANGE);
    cr_assert_eq(n, strlen("5242880") + 1);
    cr_assert_eq(sl_conf_get(c, "nope", buf, &n), SL_ENOENT);
    sl_conf_set(c, "kafka.acks", "all", NULL, 0);
    sl_conf_set(c, "kafka.linger.ms", "5", NULL, 0);
    sl_conf_set(c, "kafka.acks", "1", NULL, 0);
    sl_conf_t *d = sl_conf_dup(c);
    sl_conf_destroy(c);
    char seen[128] = "";
    cr_assert_eq(sl_conf_foreach(d, "kafka.", collect, seen), 0);
    cr_assert_str_eq(seen, "acks=1;linger.ms=5;", "prefix stripped, set order, last value wins");
    sl_conf_destroy(d);
}

Test(conf, unset_restores_the_default_or_removes)
{
    sl_conf_t *c = sl_conf_new();
    char err[256];
    cr_assert_eq(sl_conf_set(c, "batch.max.events", "7", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "processor.name", "orders", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "processor.signals", "false", err, sizeof err), 0, "%s", err);
    sl_conf_set(c, "kafka.acks", "all", NULL, 0);
    sl_conf_set(c, "kafka.linger.ms", "5", NULL, 0);
    sl_conf_set(c, "kafka.client.id", "x", NULL, 0);

    cr_assert_eq(sl_conf_unset(c, "batch.max.events", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_get_int(c, "batch.max.events"), 500, "the table's default again");
    cr_assert_eq(sl_conf_unset(c, "processor.name", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(sl_conf_get_str(c, "processor.name"), "sluice");
    cr_assert_eq(sl_conf_unset(c, "processor.signals", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_get_int(c, "processor.signals"), 1);

    cr_assert_eq(sl_conf_unset(c, "kafka.linger.ms", err, sizeof err), 0, "%s", err);
    cr_assert_null(sl_conf_get_str_pt(c, "kafka.linger.ms"), "a pass-through is removed");
    char seen[128] = "";
    cr_assert_eq(sl_conf_foreach(c, "kafka.", collect, seen), 0);
    cr_assert_str_eq(seen, "acks=all;client.id=x;", "the others keep their order");
    cr_assert_eq(sl_conf_unset(c, "kafka.linger.ms", err, sizeof err), 0,
                 "unsetting twice is fine");
    cr_assert_eq(sl_conf_set(c, "kafka.linger.ms", "9", NULL, 0), 0);
    seen[0] = 0;
    sl_conf_foreach(c, "kafka.", collect, seen);
    cr_assert_str_eq(seen, "acks=all;client.id=x;linger.ms=9;", "set again: last");

    err[0] = 0;
    cr_assert_eq(sl_conf_unset(c, "no.such.property", err, sizeof err), SL_ENOENT);
    cr_assert_str_eq(err, "unknown configuration property \"no.such.property\"");
    cr_assert_eq(sl_conf_unset(c, "kafka.", err, sizeof err), SL_ENOENT,
                 "a prefix alone is no name");
    cr_assert_eq(sl_conf_unset(c, NULL, err, sizeof err), SL_EINVAL);
    cr_assert_eq(sl_conf_unset(NULL, "batch.max.events", NULL, 0), SL_EINVAL);
    sl_conf_destroy(c);
}

/* memory.max.bytes: parsed and range-checked like any byte property (a bad
 * value is refused, so a processor given it does not start), and the
 * engine's in-flight bounds follow from it unless set themselves. */
Test(conf, memory_budget_parses_and_derives_the_engine_bounds)
{
    static const struct set_case bad[] = {
        {.name = "memory.max.bytes", .value = "abc", .rc = SL_EINVAL},
        {.name = "memory.max.bytes", .value = "64q", .rc = SL_EINVAL},
        {.name = "memory.max.bytes", .value = "", .rc = SL_EINVAL},
        {.name = "memory.max.bytes", .value = "-1", .rc = SL_ERANGE},
        {.name = "memory.max.bytes", .value = "1048575", .rc = SL_ERANGE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sl_conf_t *c = sl_conf_new();
        char err[256] = "";
        cr_assert_eq(sl_conf_set(c, bad[i].name, bad[i].value, err, sizeof err), bad[i].rc,
                     "\"%s\"", bad[i].value);
        cr_assert(strstr(err, "memory.max.bytes"), "the error names the property: %s", err);
        cr_assert_eq(sl_conf_get_int(c, "memory.max.bytes"), 0, "the default stays");
        cr_assert_eq(sl__conf_is_set(c, "memory.max.bytes"), 0, "a refused value is no setting");
        sl_conf_destroy(c);
    }

    sl_conf_t *c = sl_conf_new();
    char err[256];
    /* no budget by default (0): every bound keeps its own default */
    cr_assert_eq(sl_conf_get_int(c, "memory.max.bytes"), 0);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 67108864);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.records"), 50000);
    cr_assert_eq(sl__mem_derived(c, "inflight.partition.max.records"),
                 sl_conf_get_int(c, "inflight.partition.max.records"));
    cr_assert_eq(sl_conf_set(c, "memory.max.bytes", "0", err, sizeof err), 0, "0 is no budget: %s",
                 err);

    /* a 32 MiB budget: 16 MiB for the engine, 8 for the source */
    cr_assert_eq(sl_conf_set(c, "memory.max.bytes", "32m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl__mem_share(c, SL__MEM_ENGINE), 16 << 20);
    cr_assert_eq(sl__mem_share(c, SL__MEM_SOURCE), 8 << 20);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 16 << 20);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.records"), (16 << 20) / SL__MEM_RECORD_BYTES);

    cr_assert_eq(sl_conf_set(c, "memory.max.bytes", "4m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl__conf_is_set(c, "memory.max.bytes"), 1);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 2 << 20);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.records"), (2 << 20) / SL__MEM_RECORD_BYTES);
    cr_assert_eq(sl__mem_derived(c, "inflight.partition.max.records"),
                 (2 << 20) / SL__MEM_RECORD_BYTES);
    cr_assert_eq(sl__mem_share(c, SL__MEM_SOURCE), 1 << 20);

    /* a large budget never raises a bound above its default */
    cr_assert_eq(sl_conf_set(c, "memory.max.bytes", "4096m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 67108864);

    /* explicit per-part properties win, whatever the budget */
    cr_assert_eq(sl_conf_set(c, "memory.max.bytes", "1m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "inflight.max.bytes", "100m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_set(c, "inflight.max.records", "7", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 100 << 20);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.records"), 7);
    cr_assert_eq(sl__mem_derived(c, "inflight.partition.max.records"),
                 (512 << 10) / SL__MEM_RECORD_BYTES);
    sl_conf_t *d = sl_conf_dup(c);
    cr_assert_eq(sl__mem_derived(d, "inflight.max.bytes"), 100 << 20, "a copy keeps what was set");
    sl_conf_destroy(d);
    /* unset: derived again */
    cr_assert_eq(sl_conf_unset(c, "inflight.max.bytes", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl__conf_is_set(c, "inflight.max.bytes"), 0);
    cr_assert_eq(sl__mem_derived(c, "inflight.max.bytes"), 512 << 10);
    /* pass-through properties count as set when present */
    cr_assert_eq(sl__conf_is_set(c, "kafka.fetch.max.bytes"), 0);
    cr_assert_eq(sl_conf_set(c, "kafka.fetch.max.bytes", "2000000", err, sizeof err), 0);
    cr_assert_eq(sl__conf_is_set(c, "kafka.fetch.max.bytes"), 1);
    sl_conf_destroy(c);
}

Test(conf, property_table_is_documented)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&doc, &len);
    sl_conf_properties_print(fp);
    fclose(fp);
    cr_assert(strstr(doc, "| `batch.max.events` | integer | 500 |"));
    cr_assert(strstr(doc, "`kafka.*`"));
    free(doc);
}

/* view.synchronous (the listener's view store): normal, the default, or
 * full; anything else is refused with the choices named, the value kept. */
Test(conf, view_synchronous_is_normal_or_full)
{
    sl_conf_t *c = sl_conf_new();
    cr_assert_str_eq(sl_conf_get_str(c, "view.synchronous"), "normal");
    char err[256] = "";
    cr_assert_eq(sl_conf_set(c, "view.synchronous", "full", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(sl_conf_get_str(c, "view.synchronous"), "full");
    static const char *const bad[] = {"off", "extra", "FULL", "2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        cr_assert_eq(sl_conf_set(c, "view.synchronous", bad[i], err, sizeof err), SL_EINVAL,
                     "\"%s\"", bad[i]);
        char want[128];
        snprintf(want, sizeof want, "view.synchronous: expected normal or full, got \"%s\"",
                 bad[i]);
        cr_assert_str_eq(err, want);
        cr_assert_str_eq(sl_conf_get_str(c, "view.synchronous"), "full", "the value is kept");
    }
    cr_assert_eq(sl_conf_set(c, "view.synchronous", "normal", NULL, 0), 0);
    cr_assert_str_eq(sl_conf_get_str(c, "view.synchronous"), "normal");
    sl_conf_destroy(c);
}
