/* sluice — pipeline builder and sinks. */
#include "core/core.h"
#include "core/describe.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const sl__stage_names[] = {"decode", "filter",     "filter-types", "map", "flat-map",
                                       "tap",    "rate-limit", "batch",        "sink"};

uint64_t sl__hash(const void *p, size_t n)
{
    /* FNV-1a 64: keys are short; good enough spread for power-of-two tables. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

sl_pipeline_t *sl_pipeline_new(const char *name)
{
    if (!name || !*name)
        return NULL;
    sl_pipeline_t *p = sl_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->name = sl_strdup(name);
    if (!p->name) {
        sl_free(p);
        return NULL;
    }
    return p;
}

int sl__pipeline_want_ptr(sl_pipeline_t *pl, const char *const *tok, size_t ntok)
{
    if (!pl || !ntok || ntok > SL__SCAN_PTR_TOKS || pl->nwant == SL__SCAN_PTRS)
        return -1;
    sl__scan_ptr_t *w = &pl->want[pl->nwant];
    for (size_t i = 0; i < ntok; i++) {
        /* an array index: the scan follows object members only */
        size_t n = strlen(tok[i]), d = strspn(tok[i], "0123456789");
        if (n && d == n)
            return -1;
        w->tok[i] = tok[i];
        w->len[i] = n;
    }
    w->ntok = ntok;
    pl->want_slot[pl->nwant] = -1; /* until the engine takes it */
    return (int)pl->nwant++;
}

static void stage_fini(stage_t *s)
{
    sl_free(s->name);
    s->name = NULL;
    if (s->kind == ST_TYPES) {
        for (size_t i = 0; i < s->u.types.count; i++)
            sl_free(s->u.types.names[i]);
        sl_free(s->u.types.names);
        sl_free(s->u.types.lens);
    }
}

void sl_pipeline_destroy(sl_pipeline_t *p)
{
    if (!p)
        return;
    while (p->nhooks--)
        p->hooks[p->nhooks].fn(p->hooks[p->nhooks].opaque);
    sl_free(p->hooks);
    sl__pipeline_decls_free(p);
    for (size_t i = 0; i < p->nstages; i++)
        stage_fini(&p->stages[i]);
    sl_free(p->stages);
    coll_t *c = &p->coll;
    sl_free(c->items);
    sl_free(c->out);
    sl_free(c->slot_gen);
    sl_free(c->slot_idx);
    sl_free(c->gid);
    sl_free(c->gcount);
    sl_free(c->sorted);
    sl_free(p->held);
    sl_free(p->name);
    sl_free(p);
}

int sl_pipeline_on_destroy(sl_pipeline_t *p, void (*fn)(void *), void *opaque)
{
    if (!p || !fn)
        return SL_EINVAL;
    struct sl__hook_s *h = sl_realloc(p->hooks, (p->nhooks + 1) * sizeof *h);
    if (!h)
        return sl__pipeline_fail(p, SL_ENOMEM, "out of memory registering an on_destroy hook");
    p->hooks = h;
    h[p->nhooks++] = (struct sl__hook_s){fn, opaque};
    return 0;
}

const char *sl_pipeline_name(const sl_pipeline_t *p)
{
    return p ? p->name : NULL;
}

int sl__pipeline_fail(sl_pipeline_t *p, int rc, const char *fmt, ...)
{
    if (!p)
        return rc;
    int n = snprintf(p->err, sizeof p->err, "pipeline \"%s\": ", p->name);
    if (n < 0 || (size_t)n >= sizeof p->err)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, sizeof p->err - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sl_pipeline_error(const sl_pipeline_t *p)
{
    if (!p)
        return "no pipeline (NULL)";
    return p->err;
}

/* The builder names of the per-uow stages, for messages. */
static const char *const kind_names[] = {[ST_FILTER] = "filter", [ST_TYPES] = "filter_types",
                                         [ST_MAP] = "map",       [ST_FLAT_MAP] = "flat_map",
                                         [ST_TAP] = "tap",       [ST_RATE_LIMIT] = "rate_limit"};

/* Why nothing more may be appended, or NULL. */
static const char *closed_reason(const sl_pipeline_t *p)
{
    if (p->eng)
        return "already added to an engine; build it before adding it";
    if (p->sink)
        return "the sink is set: it ends the pipeline, nothing may follow it";
    if (p->coll.configured)
        return "a collector (batch, compact or group) is set: it ends the per-uow stages, and "
               "only the sink may follow it";
    return NULL;
}

int sl_pipeline_stage_name(sl_pipeline_t *p, const char *name)
{
    if (!p)
        return SL_EINVAL;
    if (!name || !*name)
        return sl__pipeline_fail(p, SL_EINVAL, "stage_name: the name is NULL or empty");
    if (p->eng)
        return sl__pipeline_fail(p, SL_ESTATE, "stage_name: already added to an engine");
    if (!p->nstages)
        return sl__pipeline_fail(p, SL_ESTATE, "stage_name: no stage was appended yet");
    char *n = sl_strdup(name);
    if (!n)
        return sl__pipeline_fail(p, SL_ENOMEM, "stage_name: out of memory");
    stage_t *s = &p->stages[p->nstages - 1];
    sl_free(s->name);
    s->name = n;
    return 0;
}

/* Appends an uninitialised stage, or fails if the pipeline is closed. */
static stage_t *add_stage(sl_pipeline_t *p, stage_kind_t kind, int *rc)
{
    const char *closed = closed_reason(p);
    if (closed) {
        *rc =
            sl__pipeline_fail(p, SL_ESTATE, "cannot add a %s stage: %s", kind_names[kind], closed);
        return NULL;
    }
    if (sl__grow(&p->stages, &p->cap, p->nstages + 1, sizeof *p->stages, 4)) {
        *rc = sl__pipeline_fail(p, SL_ENOMEM, "out of memory adding a %s stage", kind_names[kind]);
        return NULL;
    }
    stage_t *s = &p->stages[p->nstages];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    *rc = 0;
    return s;
}

static int add_fn(sl_pipeline_t *p, stage_kind_t kind, sl_stage_fn fn, sl_flat_map_fn flat,
                  void *opaque)
{
    if (!p)
        return SL_EINVAL;
    if (!fn && !flat)
        return sl__pipeline_fail(p, SL_EINVAL, "the %s function is NULL", kind_names[kind]);
    int rc;
    stage_t *s = add_stage(p, kind, &rc);
    if (!s)
        return rc;
    s->u.f.fn = fn;
    s->u.f.flat = flat;
    s->u.f.opaque = opaque;
    s->u.f.check = NULL;
    p->nstages++;
    return 0;
}

int sl_pipeline_filter(sl_pipeline_t *p, sl_stage_fn fn, void *opaque)
{
    return add_fn(p, ST_FILTER, fn, NULL, opaque);
}

int sl_pipeline_map(sl_pipeline_t *p, sl_stage_fn fn, void *opaque)
{
    return add_fn(p, ST_MAP, fn, NULL, opaque);
}

int sl__pipeline_map_checked(sl_pipeline_t *p, sl_stage_fn fn, void *opaque,
                             sl__json_check_t *check)
{
    int rc = add_fn(p, ST_MAP, fn, NULL, opaque);
    if (!rc)
        p->stages[p->nstages - 1].u.f.check = check;
    return rc;
}

int sl_pipeline_tap(sl_pipeline_t *p, sl_stage_fn fn, void *opaque)
{
    return add_fn(p, ST_TAP, fn, NULL, opaque);
}

int sl_pipeline_flat_map(sl_pipeline_t *p, sl_flat_map_fn fn, void *opaque)
{
    return add_fn(p, ST_FLAT_MAP, NULL, fn, opaque);
}

int sl_pipeline_filter_types(sl_pipeline_t *p, sl_match_t match, const char *const *types,
                             size_t count)
{
    if (!p)
        return SL_EINVAL;
    if (!types || !count)
        return sl__pipeline_fail(p, SL_EINVAL, "filter_types needs at least one type name");
    if (match != SL_MATCH_EXACT && match != SL_MATCH_PREFIX)
        return sl__pipeline_fail(p, SL_EINVAL,
                                 "filter_types: match %d is neither SL_MATCH_EXACT nor "
                                 "SL_MATCH_PREFIX",
                                 (int)match);
    for (size_t i = 0; i < count; i++)
        if (!types[i])
            return sl__pipeline_fail(p, SL_EINVAL, "filter_types: type name %zu is NULL", i);
    int rc;
    stage_t *s = add_stage(p, ST_TYPES, &rc);
    if (!s)
        return rc;
    s->u.types.match = match;
    s->u.types.names = sl_calloc(count, sizeof *s->u.types.names);
    s->u.types.lens = sl_calloc(count, sizeof *s->u.types.lens);
    if (!s->u.types.names || !s->u.types.lens)
        goto oom;
    s->u.types.count = count;
    for (size_t i = 0; i < count; i++) {
        if (!(s->u.types.names[i] = sl_strdup(types[i])))
            goto oom;
        s->u.types.lens[i] = strlen(types[i]);
    }
    p->nstages++;
    return 0;
oom:
    stage_fini(s);
    return sl__pipeline_fail(p, SL_ENOMEM, "out of memory copying the filter_types names");
}

int sl_pipeline_rate_limit(sl_pipeline_t *p, double per_second, unsigned burst)
{
    if (!p)
        return SL_EINVAL;
    if (!(per_second > 0) || burst == 0)
        return sl__pipeline_fail(p, SL_ERANGE,
                                 "rate_limit needs per_second > 0 and burst > 0 (got %g and %u)",
                                 per_second, burst);
    int rc;
    stage_t *s = add_stage(p, ST_RATE_LIMIT, &rc);
    if (!s)
        return rc;
    s->u.rl.rate = per_second;
    s->u.rl.burst = burst;
    s->u.rl.tokens = burst;
    s->u.rl.last_ms = INT64_MIN;
    p->nstages++;
    return 0;
}

static const char *const coll_names[] = {
    [COLL_BATCH] = "batch", [COLL_COMPACT] = "compact", [COLL_GROUP] = "group"};

static int set_coll(sl_pipeline_t *p, coll_kind_t kind, const sl_batch_opts_t *opts)
{
    if (!p)
        return SL_EINVAL;
    const char *closed = closed_reason(p);
    if (closed)
        return sl__pipeline_fail(p, SL_ESTATE, "cannot set a %s collector: %s", coll_names[kind],
                                 closed);
    p->coll.kind = kind;
    p->coll.configured = 1;
    if (opts) {
        p->coll.opts = *opts;
    } else {
        p->coll.opts.max_events = 0;
        p->coll.opts.max_bytes = 0;
        p->coll.opts.linger_ms = -1;
    }
    if (p->coll.opts.linger_ms < -1) {
        p->coll.configured = 0;
        return sl__pipeline_fail(p, SL_ERANGE,
                                 "%s: linger_ms %lld is below -1 (-1 takes batch.linger.ms)",
                                 coll_names[kind], (long long)opts->linger_ms);
    }
    return 0;
}

int sl_pipeline_batch(sl_pipeline_t *p, const sl_batch_opts_t *opts)
{
    return set_coll(p, COLL_BATCH, opts);
}

int sl_pipeline_compact(sl_pipeline_t *p, const sl_batch_opts_t *opts)
{
    return set_coll(p, COLL_COMPACT, opts);
}

int sl_pipeline_group(sl_pipeline_t *p, const sl_batch_opts_t *opts)
{
    return set_coll(p, COLL_GROUP, opts);
}

int sl_pipeline_ordering(sl_pipeline_t *p, sl_order_t order)
{
    if (!p || (unsigned)order > SL_ORDER_UNORDERED)
        return SL_EINVAL;
    if (p->eng)
        return SL_ESTATE;
    p->order = (uint8_t)order;
    p->order_set = 1;
    return 0;
}

int sl_pipeline_sink(sl_pipeline_t *p, sl_sink_t *sink)
{
    if (!p)
        return SL_EINVAL;
    if (!sink)
        return sl__pipeline_fail(p, SL_EINVAL, "the sink is NULL (did making it fail?)");
    if (p->eng)
        return sl__pipeline_fail(p, SL_ESTATE, "cannot set the sink: already added to an engine");
    if (p->sink)
        return sl__pipeline_fail(p, SL_ESTATE, "cannot set the sink: it is already set");
    p->sink = sink;
    return 0;
}

sl_sink_t *sl_sink_new(const sl_sink_ops_t *ops, void *opaque)
{
    if (!ops || !ops->write)
        return NULL;
    sl_sink_t *s = sl_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ops = *ops;
    s->opaque = opaque;
    return s;
}

void sl_sink_destroy(sl_sink_t *s)
{
    if (!s)
        return;
    if (s->ops.destroy)
        s->ops.destroy(s->opaque);
    sl__sink_channel_free(s);
    sl_free(s);
}
