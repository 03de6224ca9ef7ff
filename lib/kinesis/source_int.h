/* sluice — the Kinesis source's private interface between its files:
 *   source.c         the source interface, reading shards (GetRecords) and
 *                    pushing records, the timer
 *   source_ckpt.c    checkpoints: loaded at start, written from the done
 *                    watermark on the executor
 *   source_shards.c  shard discovery (ListShards, every page; reshards) */
#ifndef SL_KINESIS_SOURCE_INT_H
#define SL_KINESIS_SOURCE_INT_H

#include "core/util.h"
#include "kinesis/checkpoint.h"
#include "kinesis/client.h"
#include "runtime/runtime.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"

#include <stdint.h>

enum {
    SH_WAIT_PARENT, /* a parent is not finished yet */
    SH_NEED_ITER,   /* ask for an iterator */
    SH_READY,       /* has an iterator: GetRecords when due */
    SH_BUSY,        /* a call is in flight */
    SH_ENDED,       /* closed shard read to its end: waiting for its records to be done */
    SH_FINISHED     /* done to its end and checkpointed (SHARD_END) */
};

typedef struct seqent_s {
    int64_t off;
    char *seq; /* NULL for a record that came without one */
} seqent_t;

typedef struct shard_s {
    char *id, *parent, *adjacent;
    int32_t part; /* partition index for the engine */
    int state;
    int closed_range; /* the listing says the shard is closed (has an ending sequence number) */
    char *iterator;
    char *last_seq; /* sequence number of the last record pushed */
    char *ckpt;     /* checkpoint stored (or read at start) */
    char *want;     /* checkpoint to store next (a write is pending), or NULL */
    int64_t next_off;
    int64_t due; /* when the next call may go (ms, monotonic) */
    unsigned backoff;
    int paused;
    seqent_t *fifo; /* pushed, not yet below the watermark */
    size_t fhead, fn, fcap;
} shard_t;

typedef struct kin_rec_s {
    sl_record_t rec; /* first: the engine hands this pointer back */
    /* key, position and data follow in the same allocation */
} kin_rec_t;

/* A checkpoint read at start. */
typedef struct known_s {
    char *shard, *seq;
} known_t;

typedef struct kin_src_s {
    sl_processor_t *proc;
    sl_engine_t *e;
    sl__kin_t *kin;
    sl__ckpt_t *ckpt;
    char *ckpt_path;
    int64_t ckpt_timeout_ms;
    known_t *known;
    size_t nknown, kcap;
    int ck_busy; /* a checkpoint write is in flight */
    char *stream, *app;
    int latest;                /* kinesis.iterator LATEST */
    int limit;                 /* kinesis.records.limit */
    int limit_set;             /* set explicitly: memory.max.bytes does not lower it */
    int64_t mem_share;         /* the source's share of memory.max.bytes */
    uint64_t rec_bytes, rec_n; /* record values read so far: their mean size */
    int64_t poll_ms, refresh_ms;
    shard_t *shards;
    size_t nshards, scap;
    uv_timer_t tick;
    int timer_on;
    int listing;      /* a ListShards walk is in flight */
    char *list_token; /* its NextToken */
    int64_t next_list;
    int paused_all;
    int stopping, closed;
    int started_ok; /* the first listing succeeded */
    size_t inflight_calls;
} kin_src_t;

void sl__kinsrc_ck_flush(kin_src_t *s);
int sl__kinsrc_ckpt_load(kin_src_t *s);
void sl__kinsrc_known_clear(kin_src_t *s);
void sl__kinsrc_commit(void *opaque, int sync);
void sl__kinsrc_shard_checkpoint(kin_src_t *s, shard_t *sh);
void sl__kinsrc_list_next(kin_src_t *s);
int sl__kinsrc_parent_done(kin_src_t *s, const char *id);
int64_t sl__kinsrc_now_ms(void);
void sl__kinsrc_schedule(kin_src_t *s);
void sl__kinsrc_set_str(char **dst, const char *v);
shard_t *sl__kinsrc_shard_find(kin_src_t *s, const char *id);

#endif
