/* libFuzzer target: sl_conf_set() on arbitrary names and values.
 *
 * Input: byte 0 > 0xf0 makes the allocation numbered by byte 1 fail; then
 * NUL-separated strings taken as name, value, name, value, ...
 *
 * Properties: sl_conf_set() returns a documented code, SL_ENOENT exactly for
 * names that are neither properties nor pass-through names (kafka.*, and
 * kinesis.* only in a build without the Kinesis connector, whose typed rows
 * make any other kinesis.* name unknown), with a terminated message on
 * failure and the property unchanged; after a success the value reads back
 * (pass-through and strings exactly), and setting what was read back is
 * accepted and reads back the same (a fixed point); a copy reads the same as
 * the original; sl_conf_unset() refuses exactly the names sl_conf_set()
 * refuses as unknown, and after it a property reads as in a new
 * configuration (a pass-through one not at all); nothing leaks. */
#include "fuzz_common.h"
#include "sluice/conf.h"
#include "sluice/error.h"

#if FUZZ_HAVE_KINESIS
#include "kinesis/client.h"

/* The Kinesis rows of the property table are registered by a constructor in
 * lib/kinesis/conf.c, which the linker takes from the static library only
 * when something refers to that file. libsluice always has them, so this
 * target must too: without this reference it checked a table the library
 * never has (every kinesis.* name passed through). */
__attribute__((used)) static const char *(*const volatile keep_kinesis_rows)(
    const sl_conf_t *, const char *) = sl__kin_conf_str;
#endif

#define T "fuzz_conf"
#define MAXPAIRS 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* The property as text, into a caller buffer; NULL when unknown. */
static char *get(const sl_conf_t *c, const char *name)
{
    size_t n = 0;
    if (sl_conf_get(c, name, NULL, &n))
        return NULL;
    char *b = malloc(n);
    if (!b)
        abort();
    if (sl_conf_get(c, name, b, &n))
        fuzz_fail(T, "sl_conf_get failed with the size it asked for");
    return b;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Names kept verbatim for a connector: kafka.* always; kinesis.* only when
 * the Kinesis connector is left out (it registers typed rows for its
 * prefix, and then a kinesis.* name that is not one of them is unknown). */
static int passthrough(const char *name)
{
    return (!strncmp(name, "kafka.", 6) && name[6]) ||
           (!FUZZ_HAVE_KINESIS && !strncmp(name, "kinesis.", 8) && name[8]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int inject = data[0] > 0xf0;
    uint64_t fail_at = (uint64_t)data[1] + 1;
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = 0;
    const char *names[MAXPAIRS], *values[MAXPAIRS];
    size_t n = 0;
    for (char *p = copy + 2; p < copy + size && n < MAXPAIRS;) {
        names[n] = p;
        p += strlen(p) + 1;
        if (p >= copy + size) {
            values[n++] = "";
            break;
        }
        values[n++] = p;
        p += strlen(p) + 1;
    }
    int64_t live = fuzz_live_blocks();
    sl_conf_t *c = sl_conf_new();
    if (!c)
        fuzz_fail(T, "sl_conf_new failed");
    for (size_t i = 0; i < n; i++) {
        char err[128];
        memset(err, 'x', sizeof err);
        char *before = get(c, names[i]);
        if (inject)
            sl_mem_fail_at(fail_at, 0);
        int rc = sl_conf_set(c, names[i], values[i], err, sizeof err);
        sl_mem_fail_at(0, 0);
        char *after = get(c, names[i]);
        if (rc != 0 && rc != SL_ENOENT && rc != SL_EINVAL && rc != SL_ERANGE &&
            !(inject && rc == SL_ENOMEM))
            fuzz_fail(T, "sl_conf_set returned an unexpected code");
        if ((rc == SL_ENOENT) != (!before && !passthrough(names[i])))
            fuzz_fail(T, "SL_ENOENT for a known name, or not for an unknown one");
        if (rc) {
            if (!memchr(err, 0, sizeof err) || !err[0])
                fuzz_fail(T, "a failure without a terminated message");
            if (!same(before, after))
                fuzz_fail(T, "a failed set changed the property");
        } else {
            if (!after)
                fuzz_fail(T, "a property set does not read back");
            const char *s = sl_conf_get_str(c, names[i]), *pt = sl_conf_get_str_pt(c, names[i]);
            if ((s || pt) && strcmp(after, values[i]))
                fuzz_fail(T, "a string property does not read back as set");
            if (sl_conf_set(c, names[i], after, NULL, 0))
                fuzz_fail(T, "the value read back is refused");
            char *again = get(c, names[i]);
            if (!same(after, again))
                fuzz_fail(T, "the value read back reads back otherwise");
            free(again);
        }
        free(before);
        free(after);
    }
    sl_conf_t *d = sl_conf_dup(c);
    if (!d)
        fuzz_fail(T, "sl_conf_dup failed");
    for (size_t i = 0; i < n; i++) {
        char *a = get(c, names[i]), *b = get(d, names[i]);
        if (!same(a, b))
            fuzz_fail(T, "a copy reads otherwise");
        free(a);
        free(b);
    }
    sl_conf_destroy(d);
    /* Unset: back to what a new configuration reads. */
    sl_conf_t *fresh = sl_conf_new();
    if (!fresh)
        fuzz_fail(T, "sl_conf_new failed");
    for (size_t i = 0; i < n; i++) {
        char err[128];
        memset(err, 'x', sizeof err);
        char *was = get(c, names[i]);
        int rc = sl_conf_unset(c, names[i], err, sizeof err);
        char *now = get(c, names[i]), *want = get(fresh, names[i]);
        if (rc != 0 && rc != SL_ENOENT)
            fuzz_fail(T, "sl_conf_unset returned an unexpected code");
        if ((rc == SL_ENOENT) != (!want && !passthrough(names[i])))
            fuzz_fail(T, "sl_conf_unset: SL_ENOENT for a known name, or not for an unknown one");
        if (rc && (!memchr(err, 0, sizeof err) || !err[0] || !same(was, now)))
            fuzz_fail(T, "a failed unset without a message, or it changed the property");
        if (!rc && !same(now, want))
            fuzz_fail(T, "an unset property does not read as in a new configuration");
        free(was);
        free(now);
        free(want);
    }
    sl_conf_destroy(fresh);
    sl_conf_destroy(c);
    free(copy);
    if (fuzz_live_blocks() != live)
        fuzz_fail(T, "leaked memory");
    return 0;
}
