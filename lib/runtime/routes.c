/* sluice — the routes of a processor's HTTP endpoint (sl_processor_add_route()).
 *
 * The list is kept as an object attached to the processor (so the
 * processor's own structure does not change) and shared by reference with
 * the jobs in flight: a route's function may still run on a worker thread
 * when the processor lets go of the list, and its opaque is destroyed only
 * after the last of them. Built in every build (the API is the same); the
 * HTTP server (http.c) is what calls the routes. */
#include "runtime/http.h"
#include "runtime/ops.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define ROUTES_KEY "http.routes"

struct sl__routes_s {
    atomic_int refs;
    size_t n;
    sl__route_t r[SL__MAX_ROUTES];
};

static void routes_destroy(void *obj)
{
    sl__routes_unref(obj);
}

sl__routes_t *sl__routes_ref(sl__routes_t *rs)
{
    if (rs)
        atomic_fetch_add(&rs->refs, 1);
    return rs;
}

void sl__routes_unref(sl__routes_t *rs)
{
    if (!rs || atomic_fetch_sub(&rs->refs, 1) != 1)
        return;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].destroy)
            rs->r[i].destroy(rs->r[i].opaque);
    sl_free(rs);
}

const sl__route_t *sl__routes_match(const sl__routes_t *rs, const char *path, size_t len)
{
    const sl__route_t *best = NULL;
    for (size_t i = 0; rs && i < rs->n; i++) {
        const sl__route_t *r = &rs->r[i];
        if (len >= r->prefix_len && !memcmp(path, r->prefix, r->prefix_len) &&
            (len == r->prefix_len || path[r->prefix_len] == '/') &&
            (!best || r->prefix_len > best->prefix_len))
            best = r;
    }
    return best;
}

void sl__routes_names(const sl__routes_t *rs, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; rs && i < rs->n && len < cap; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", rs->r[i].prefix);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

sl__routes_t *sl__proc_routes(const sl_processor_t *p)
{
    return sl__proc_attached(p, ROUTES_KEY);
}

int sl_processor_add_route(sl_processor_t *p, const char *prefix, sl_http_route_fn fn, void *opaque,
                           void (*destroy)(void *opaque))
{
    if (!p || !fn || !prefix || prefix[0] != '/')
        return SL_EINVAL;
    size_t len = strlen(prefix);
    if (len < 2 || len >= sizeof((sl__route_t *)0)->prefix || prefix[len - 1] == '/' ||
        strchr(prefix, '?'))
        return SL_EINVAL;
    /* The operations paths stay the processor's. */
    static const char *const own[] = {"/metrics", "/health", "/ready"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (!strcmp(prefix, own[i]))
            return SL_EEXIST;
    const char *phase = sl__proc_phase(p);
    if (!phase || strcmp(phase, "starting"))
        return SL_ESTATE;
    sl__routes_t *rs = sl__proc_routes(p);
    if (!rs) {
        rs = sl_calloc(1, sizeof *rs);
        if (!rs)
            return SL_ENOMEM;
        atomic_init(&rs->refs, 1);
        int rc = sl__proc_attach(p, ROUTES_KEY, rs, routes_destroy);
        if (rc) {
            sl_free(rs);
            return rc;
        }
    }
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].prefix, prefix))
            return SL_EEXIST;
    if (rs->n == SL__MAX_ROUTES)
        return SL_ERANGE;
    sl__route_t *r = &rs->r[rs->n++];
    memcpy(r->prefix, prefix, len + 1);
    r->prefix_len = len;
    r->fn = fn;
    r->opaque = opaque;
    r->destroy = destroy;
    return 0;
}
