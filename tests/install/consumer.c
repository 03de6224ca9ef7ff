/* A user's program, built only from the installed headers and pkg-config. */
#include <sluice/sluice.h>
#include <stdio.h>
#include <string.h>

static sl_result_t upper(sl_uow_t *u, void *opaque)
{
    (void)opaque;
    sl_span_t t = sl_uow_type(u);
    char buf[64];
    snprintf(buf, sizeof buf, "{\"seen\":\"%.*s\"}", (int)t.len, t.ptr);
    return sl_uow_set_output(u, NULL, 0, buf, strlen(buf)) ? SL_RETRY : SL_OK;
}

int main(void)
{
    /* The installed sluice/version.h and the installed library agree. */
    if (strcmp(sl_version(), SL_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: sl_version() %s, sluice/version.h %s\n", sl_version(),
                SL_VERSION_STRING);
        return 1;
    }
    sl_test_t *t = sl_test_new(NULL, NULL, 0);
    sl_test_sink_t *s = sl_test_sink_new(t, "out", 0, 0, 0);
    sl_pipeline_t *p = sl_pipeline_new("p");
    sl_pipeline_map(p, upper, NULL);
    sl_pipeline_sink(p, sl_test_sink_handle(s));
    if (sl_test_add_pipeline(t, p) || sl_test_push_str(t, "in", 0, "k", "{\"type\":\"hello\"}")) {
        fprintf(stderr, "consumer: %s\n", SL_VERSION_STRING);
        return 1;
    }
    const sl_test_msg_t *m = sl_test_sink_msg(s, 0);
    int ok = m && !strcmp(m->value, "{\"seen\":\"hello\"}");
    printf("sluice %s: %s\n", SL_VERSION_STRING, ok ? m->value : "MISSING");
    sl_test_destroy(t);
    return ok ? 0 : 1;
}
