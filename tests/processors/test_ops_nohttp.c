/* A build without the HTTP endpoint (-Dhttp disabled, or no libh2o): a
 * processor asked for http.listen does not run, and says why. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>

#include "../test_util.h"
#include "runtime/runtime.h"

static int no_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    return 0;
}

static int started;

static int src_start(void *opaque)
{
    (void)opaque;
    started = 1;
    return 0;
}

Test(ops_nohttp, http_listen_is_a_start_error, .init = cr_redirect_stderr)
{
    const char *kv[] = {"http.listen", "127.0.0.1:0", "processor.signals", "false", NULL};
    sl_processor_t *p = tu_processor(kv, NULL);
    sl_sink_ops_t ops = {.name = "none", .write = no_write};
    sl_sink_t *s = sl_sink_new(&ops, NULL);
    sl_pipeline_t *pl = sl_pipeline_new("pass");
    sl_pipeline_sink(pl, s);
    cr_assert_eq(sl_processor_add_pipeline(p, pl), 0);
    cr_assert_eq(sl_processor_set_fault_sink(p, s), 0);
    static const sl__source_if_t src = {.name = "test", .start = src_start};
    cr_assert_eq(sl__proc_set_source(p, &src, NULL), 0);
    cr_assert_eq(sl_processor_run(p), SL_EINVAL);
    cr_assert_eq(started, 0, "the source never started");
    sl_processor_destroy(p);
    sl_sink_destroy(s);
    fflush(stderr);
    char buf[4096] = "";
    FILE *f = cr_get_redirected_stderr();
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    cr_assert(strstr(buf, "built without HTTP"), "%s", buf);
}
