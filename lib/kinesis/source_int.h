/* sluice — the Kinesis source's private interface between its files:
 *   source.c         the source interface, reading shards (GetRecords) and
 *                    pushing records, the timer
 *   source_lease.c   leases (lease.h): taken, renewed, stolen, released,
 *                    and the checkpoints in them, written from the done
 *                    watermark; every store call runs on the executor
 *   source_shards.c  shard discovery (ListShards, every page; reshards) */
#ifndef SL_KINESIS_SOURCE_INT_H
#define SL_KINESIS_SOURCE_INT_H

#include "core/util.h"
#include "kinesis/client.h"
#include "kinesis/envelope.h"
#include "kinesis/lease.h"
#include "runtime/runtime.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"

#include <stdint.h>

enum {
    SH_UNLEASED,  /* another worker holds its lease, or nobody does yet */
    SH_NEED_ITER, /* ask for an iterator */
    SH_READY,     /* has an iterator: GetRecords when due */
    SH_BUSY,      /* a call is in flight */
    SH_ENDED,     /* closed shard read to its end: waiting for its records to be done */
    SH_FINISHED   /* done to its end and checkpointed (SHARD_END) */
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
    int behind_known;  /* a GetRecords answer said how far behind it is */
    int64_t behind_ms; /* ... its MillisBehindLatest */
    int held;          /* this worker holds the shard's lease */
    int64_t counter;   /* the lease's counter after this worker's last write */
    unsigned gen;      /* moves when the lease is taken or lost: older calls' answers are dropped */
    seqent_t *fifo;    /* pushed, not yet below the watermark */
    size_t fhead, fn, fcap;
} shard_t;

typedef struct kin_rec_s {
    sl_record_t rec;   /* first: the engine hands this pointer back */
    sl_header_t *hdrs; /* an envelope's headers (envelope.h), or NULL */
    /* key, position and data follow in the same allocation */
} kin_rec_t;

/* A lease as last read from the store, and when this worker saw its counter
 * move (monotonic ms: expiry is judged on this worker's clock only). */
typedef struct seen_s {
    char *shard, *owner, *ckpt, *parents;
    int64_t counter, changed_ms;
    int mark; /* in the latest listing */
} seen_t;

typedef struct kin_src_s {
    sl_processor_t *proc;
    sl_engine_t *e;
    sl__kin_t *kin;
    sl__lease_store_t store;
    char *store_spec;
    char *worker;
    int64_t ckpt_timeout_ms;
    int64_t failover_ms, renew_ms;
    int64_t next_cycle; /* renewals and a listing of the leases are due */
    seen_t *seen;
    size_t nseen, secap;
    int ck_busy;   /* a lease job is in flight */
    int releasing; /* closing: every held lease is released */
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
    int unreachable; /* the last shard call got no usable answer: its sl__kin_fail_t, else 0 */
    int64_t last_commit_ms; /* when a checkpoint was last stored (sl__kinsrc_now_ms), 0 never */
} kin_src_t;

void sl__kinsrc_ck_flush(kin_src_t *s);
int sl__kinsrc_ckpt_load(kin_src_t *s);
void sl__kinsrc_seen_clear(kin_src_t *s);
void sl__kinsrc_drop(kin_src_t *s, shard_t *sh);
void sl__kinsrc_lease_tick(kin_src_t *s, int64_t now);
void sl__kinsrc_commit(void *opaque, int sync);
void sl__kinsrc_shard_checkpoint(kin_src_t *s, shard_t *sh);
void sl__kinsrc_list_next(kin_src_t *s);
int64_t sl__kinsrc_now_ms(void);
void sl__kinsrc_schedule(kin_src_t *s);
void sl__kinsrc_set_str(char **dst, const char *v);
shard_t *sl__kinsrc_shard_find(kin_src_t *s, const char *id);

#endif
