/* The property table as the library holds it (with the rows connectors
 * register when it loads: linked against the shared library, as a program
 * is) is the one README.md documents, and the Kinesis rows are typed like
 * the core's. */
#include "../test_util.h"
#include "sluice/conf.h"
#include "sluice/error.h"
#include "sluice/version.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SL_README_PATH
#error "SL_README_PATH: tests/meson.build passes README.md's path"
#endif

/* The lines of the first Markdown table after "## Configuration". */
static char *readme_table(const char *readme)
{
    const char *sec = strstr(readme, "\n## Configuration\n");
    cr_assert(sec, "README.md has no \"## Configuration\" section");
    const char *t = strstr(sec, "\n|");
    cr_assert(t, "README.md's Configuration section has no table");
    t++;
    const char *end = t;
    while (*end == '|') {
        const char *nl = strchr(end, '\n');
        end = nl ? nl + 1 : end + strlen(end);
    }
    return strndup(t, (size_t)(end - t));
}

/* Appends to @p out every line of @p a that is not a line of @p b. */
static void lines_not_in(const char *a, const char *b, char *out, size_t size)
{
    for (const char *l = a; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        int found = 0;
        for (const char *m = b; *m && !found;) {
            const char *ml = strchr(m, '\n');
            size_t k = ml ? (size_t)(ml - m) : strlen(m);
            found = k == n && !memcmp(l, m, n);
            m += k + (ml ? 1 : 0);
        }
        if (!found && n)
            snprintf(out + strlen(out), size - strlen(out), "  %.*s\n", (int)n, l);
        l += n + (nl ? 1 : 0);
    }
}

Test(conf_doc, readme_table_is_the_property_table)
{
#if !SL_HAVE_KINESIS
    /* The README documents the whole library; without the Kinesis part its
     * rows are not in the table (a build with every part checks them). */
    cr_skip_test("built without Kinesis: README.md documents the full build");
#endif
    char *doc = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&doc, &len);
    sl_conf_properties_print(fp);
    fclose(fp);
    char *readme = tu_slurp(SL_README_PATH);
    char *table = readme_table(readme);
    static char missing[16384], extra[16384];
    missing[0] = extra[0] = 0;
    lines_not_in(doc, table, missing, sizeof missing);
    lines_not_in(table, doc, extra, sizeof extra);
    cr_expect(!missing[0] && !extra[0],
              "README.md's property table differs from sl_conf_properties_print() "
              "(paste its output):\nmissing from README.md:\n%sin README.md but not in the "
              "table:\n%s",
              missing, extra);
    free(table);
    free(readme);
    free(doc);
}

#if SL_HAVE_KINESIS
static int set(sl_conf_t *c, const char *name, const char *value, char *err, size_t size)
{
    err[0] = 0;
    return sl_conf_set(c, name, value, err, size);
}

Test(conf_doc, kinesis_rows_are_typed)
{
    sl_conf_t *c = sl_conf_new();
    cr_assert(c);
    char err[256];
    cr_assert_eq(sl_conf_get_int(c, "kinesis.poll.interval.ms"), 200, "the default");
    cr_assert_str_eq(sl_conf_get_str(c, "kinesis.checkpoints"), "sqlite:checkpoints.db");

    cr_assert_eq(set(c, "kinesis.poll.interval.ms", "abc", err, sizeof err), SL_EINVAL);
    cr_assert(strstr(err, "kinesis.poll.interval.ms"), "%s", err);
    cr_assert_eq(set(c, "kinesis.poll.interval.ms", "-5", err, sizeof err), SL_ERANGE);
    cr_assert(strstr(err, "out of range"), "%s", err);
    cr_assert_eq(set(c, "kinesis.records.limit", "10001", err, sizeof err), SL_ERANGE);
    cr_assert_eq(sl_conf_get_int(c, "kinesis.poll.interval.ms"), 200, "kept after a refusal");

    cr_assert_eq(set(c, "kinesis.poll.interval.ms", "50", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_conf_get_int(c, "kinesis.poll.interval.ms"), 50);
    cr_assert_eq(set(c, "kinesis.region", "eu-west-1", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(sl_conf_get_str(c, "kinesis.region"), "eu-west-1");

    /* A typo is an error, as for the core's properties ... */
    cr_assert_eq(set(c, "kinesis.pol.interval.ms", "50", err, sizeof err), SL_ENOENT);
    cr_assert(strstr(err, "kinesis.pol.interval.ms"), "%s", err);
    /* ... while librdkafka's properties still pass through. */
    cr_assert_eq(set(c, "kafka.fetch.wait.max.ms", "10", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(sl_conf_get_str_pt(c, "kafka.fetch.wait.max.ms"), "10");

    sl_conf_t *d = sl_conf_dup(c);
    cr_assert(d);
    cr_assert_eq(sl_conf_get_int(d, "kinesis.poll.interval.ms"), 50, "dup copies the rows");
    cr_assert_str_eq(sl_conf_get_str(d, "kinesis.region"), "eu-west-1");
    sl_conf_destroy(d);
    sl_conf_destroy(c);
}
#endif
