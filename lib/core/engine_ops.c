/* sluice — the engine's operations counters: the histograms it keeps per
 * batch, and what the runtime's /metrics reads (on the engine's thread;
 * the counters themselves are plain fields, incremented where they happen). */
#include "core/engine_int.h"

const uint64_t sl__batch_bounds[SL__BATCH_BUCKETS - 1] = {1,   5,    10,   50,   100,
                                                          500, 1000, 5000, 10000};
const int64_t sl__lat_bounds_ms[SL__LAT_BUCKETS - 1] = {1,   5,   10,   25,   50,   100,
                                                        250, 500, 1000, 2500, 10000};

void sl__batch_size(sl_pipeline_t *p, size_t n)
{
    size_t b = 0;
    while (b < SL__BATCH_BUCKETS - 1 && n > sl__batch_bounds[b])
        b++;
    p->ops.batch_hist[b]++;
    p->ops.batch_sum += n;
}

void sl__sink_latency(sl_engine_t *e, sl_pipeline_t *p, sl_uow_t *u)
{
    /* The stamp keeps the clock's low 32 bits: the difference modulo 2^32
     * is the latency below 2^31 ms (24 days); above, the clock went back. */
    uint32_t d = (uint32_t)now(e) - u->sink_at;
    int64_t ms = d > INT32_MAX ? 0 : (int64_t)d;
    u->sink_first = 0;
    size_t b = 0;
    while (b < SL__LAT_BUCKETS - 1 && ms > sl__lat_bounds_ms[b])
        b++;
    p->ops.lat_hist[b]++;
    p->ops.lat_sum_ms += (uint64_t)ms;
    p->ops.lat_count++;
}

void sl__engine_each_part(const sl_engine_t *e, void (*fn)(void *arg, const sl__part_view_t *v),
                          void *arg)
{
    if (!e || !e->parts)
        return;
    for (uint32_t i = 0; i <= e->pmask; i++)
        for (const part_t *p = e->parts[i]; p; p = p->next) {
            sl__part_view_t v = {p->topic,        p->partition, p->tr.tail + p->in_skipped,
                                 p->tr.watermark, p->inflight,  p->paused || e->paused_all};
            fn(arg, &v);
        }
}

uint64_t sl__engine_oldest_seq(const sl_engine_t *e)
{
    uint64_t min = 0;
    for (size_t c = 0; c < e->nchunks; c++) {
        const char *mem = e->chunks[c];
        for (size_t i = 0; i < ENTRY_CHUNK; i++) {
            const entry_t *en = (const entry_t *)(mem + i * e->entry_size);
            if (en->in_use && (!min || en->seq < min))
                min = en->seq;
        }
    }
    return min;
}

uint64_t sl__engine_seq(const sl_engine_t *e)
{
    return e->seq;
}
