/* sluice — the view store port (sluice/store.h): a handle over user ops. */
#include "sluice/store.h"
#include "sluice/error.h"
#include "sluice/mem.h"

struct sl_store_s {
    sl_store_ops_t ops;
    void *opaque;
};

sl_store_t *sl_store_new(const sl_store_ops_t *ops, void *opaque)
{
    if (!ops || !ops->apply)
        return NULL;
    sl_store_t *s = sl_malloc(sizeof *s);
    if (!s)
        return NULL;
    s->ops = *ops;
    s->opaque = opaque;
    return s;
}

void sl_store_destroy(sl_store_t *s)
{
    if (!s)
        return;
    if (s->ops.destroy)
        s->ops.destroy(s->opaque);
    sl_free(s);
}

int sl_store_apply(sl_store_t *s, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    if (applied)
        *applied = 0;
    if (!s || (n && !rows))
        return SL_EINVAL;
    if (!n)
        return 0;
    return s->ops.apply(s->opaque, rows, n, applied);
}

void sl_store_interrupt(sl_store_t *s)
{
    if (s && s->ops.interrupt)
        s->ops.interrupt(s->opaque);
}

const char *sl_store_name(const sl_store_t *s)
{
    return s && s->ops.name ? s->ops.name : "store";
}
