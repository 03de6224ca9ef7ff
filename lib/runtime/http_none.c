/* sluice — the operations endpoint in a build without libh2o (-Dhttp
 * disabled or libh2o missing): http.listen is a start error that says so. */
#include "core/util.h"
#include "runtime/http.h"
#include "sluice/error.h"

int sl__httpd_start(uv_loop_t *loop, const char *listen, sl__httpd_fn fn, void *opaque,
                    sl__httpd_t **out, char *err, size_t err_size)
{
    (void)loop;
    (void)fn;
    (void)opaque;
    *out = NULL;
    sl__errf(err, err_size,
             "http.listen=%s: this sluice was built without HTTP (-Dhttp, libh2o-dev): no "
             "/metrics, /health or /ready",
             listen);
    return SL_EINVAL;
}

const char *sl__httpd_address(const sl__httpd_t *h)
{
    (void)h;
    return "";
}

int sl__httpd_port(const sl__httpd_t *h)
{
    (void)h;
    return 0;
}

void sl__httpd_close(sl__httpd_t *h)
{
    (void)h;
}

void sl__httpd_free(sl__httpd_t *h)
{
    (void)h;
}

void sl__httpd_set_routes(sl__httpd_t *h, sl__routes_t *rs)
{
    (void)h;
    (void)rs;
}
