/* sluice — a processor describes itself: where its source reads (recorded
 * by the source connector), the rest from its engine (core/describe.c), as
 * AsyncAPI 3.0 in JSON or YAML. And the describe-only mode, in which the
 * connectors record their channels and create no client. */
#include "core/describe.h"
#include "core/util.h"
#include "runtime/runtime.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <string.h>

#define DESCRIBE_KEY "describe"

typedef struct dstate_s {
    int only;
    char *protocol, *addresses, *servers;
} dstate_t;

static void dstate_free(void *o)
{
    dstate_t *d = o;
    if (!d)
        return;
    sl_free(d->protocol);
    sl_free(d->addresses);
    sl_free(d->servers);
    sl_free(d);
}

static dstate_t *dstate(sl_processor_t *p)
{
    dstate_t *d = sl__proc_attached(p, DESCRIBE_KEY);
    if (d)
        return d;
    d = sl_calloc(1, sizeof *d);
    if (d && sl__proc_attach(p, DESCRIBE_KEY, d, dstate_free)) {
        sl_free(d);
        d = NULL;
    }
    return d;
}

int sl_processor_describe_only(sl_processor_t *p)
{
    if (!p)
        return SL_EINVAL;
    dstate_t *d = dstate(p);
    if (!d)
        return SL_ENOMEM;
    d->only = 1;
    return 0;
}

int sl__proc_describe_only(const sl_processor_t *p)
{
    const dstate_t *d = p ? sl__proc_attached(p, DESCRIBE_KEY) : NULL;
    return d && d->only;
}

int sl__proc_describe_source(sl_processor_t *p, const char *protocol, const char *addresses,
                             const char *servers)
{
    dstate_t *d = dstate(p);
    if (!d)
        return SL_ENOMEM;
    sl_free(d->protocol);
    sl_free(d->addresses);
    sl_free(d->servers);
    d->protocol = sl_strdup(protocol);
    d->addresses = sl_strdup(addresses);
    d->servers = sl_strdup(servers ? servers : "");
    return d->protocol && d->addresses && d->servers ? 0 : SL_ENOMEM;
}

int sl_processor_describe(sl_processor_t *p, const char *format, char **out)
{
    if (out)
        *out = NULL;
    if (!p || !out)
        return SL_EINVAL;
    if (!format)
        format = "json";
    int yaml = !strcmp(format, "yaml");
    if (!yaml && strcmp(format, "json"))
        return SL_EINVAL;
    const dstate_t *d = sl__proc_attached(p, DESCRIBE_KEY);
    sl__face_t face = {0};
    if (d && d->protocol)
        face = (sl__face_t){d->protocol, d->addresses, d->servers};
    json_t *doc = sl__describe(sl_processor_engine(p),
                               sl_conf_get_str(sl_processor_conf(p), "processor.name"),
                               face.protocol ? &face : NULL, NULL, 0);
    if (!doc)
        return SL_ENOMEM;
    char *s = NULL;
    if (yaml) {
        s = sl__yaml(doc);
    } else {
        size_t n = json_dumpb(doc, NULL, 0, JSON_INDENT(2));
        s = n ? sl_malloc(n + 2) : NULL;
        /* The dump itself may allocate (jansson's loop check): it can fail. */
        if (s && json_dumpb(doc, s, n, JSON_INDENT(2)) != n) {
            sl_free(s);
            s = NULL;
        }
        if (s) {
            s[n] = '\n';
            s[n + 1] = 0;
        }
    }
    json_decref(doc);
    if (!s)
        return SL_ENOMEM;
    *out = s;
    return 0;
}

/* A sink of a describe-only processor: it names its channel and can never
 * write (the processor cannot run). */
static int channel_only_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    (void)uows;
    (void)n;
    return SL_ESINKDOWN;
}

sl_sink_t *sl__proc_channel_sink(sl_processor_t *p, const char *protocol, const char *address,
                                 const char *servers, char *errstr, size_t errstr_size)
{
    sl_sink_ops_t ops = {.name = "describe-only", .write = channel_only_write};
    sl_sink_t *s = sl_sink_new(&ops, NULL);
    if (!s || sl__sink_set_channel(s, protocol, address, servers) || sl__proc_own_sink(p, s)) {
        sl_sink_destroy(s);
        sl__errf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return s;
}
