/* sluice — Kinesis shard leases (private): the port of the lease table and
 * its implementations (lease_sqlite.c, lease_dynamodb.c).
 *
 * One lease per (application, stream, shard): the worker that owns it, a
 * counter, the checkpoint (the sequence number up to which every record is
 * done, or SL__CKPT_SHARD_END once a closed shard was read and done to its
 * end) and the shard's parents. Every change but the creation is one
 * conditional write on the counter (update: "if the counter is still N, set
 * owner and checkpoint and make it N+1"): a worker whose lease was taken
 * meanwhile sees SL__LEASE_LOST and can never write its checkpoint. Time is
 * never stored: a lease is expired when its counter has not moved for the
 * failover time as seen by the reader's own clock.
 *
 * A store is used by one thread at a time (any thread), except interrupt(),
 * which any thread may call at any time. A busy store is waited on for a
 * bounded time per call, then reported as a retriable error. */
#ifndef SL_KINESIS_LEASE_H
#define SL_KINESIS_LEASE_H

#include "sluice/error.h"

#include <stddef.h>
#include <stdint.h>

#define SL__CKPT_SHARD_END "SHARD_END"
#define SL__CKPT_SEQ_MAX 128
/* The conditional write lost: someone else changed the lease (not retriable). */
#define SL__LEASE_LOST SL_ESTATE

/* A lease as read. The strings belong to the store and are valid during
 * the callback only. */
typedef struct sl__lease_s {
    const char *shard;
    const char *owner; /* NULL or "": nobody */
    int64_t counter;
    const char *ckpt;    /* NULL or "": no checkpoint yet */
    const char *parents; /* "parent[,adjacent]" or NULL */
} sl__lease_t;

typedef int (*sl__lease_each_fn)(void *opaque, const sl__lease_t *l);

typedef struct sl__lease_ops_s {
    const char *kind; /* "sqlite", "dynamodb" */
    /* Call @p each for every lease of (@p app, @p stream). Returns 0, a
     * retriable error (SL_EBUSY, SL_EIO, SL_ETIMEDOUT), SL_ESTORE, or what
     * @p each returned (it stops the walk). */
    int (*list)(void *st, const char *app, const char *stream, sl__lease_each_fn each,
                void *opaque);
    /* Create the lease of a shard unless it exists (owner none, counter 0,
     * no checkpoint). Returns 0 either way, or an error as list(). */
    int (*create)(void *st, const char *app, const char *stream, const char *shard,
                  const char *parents);
    /* If the lease's counter is @p expect: set its owner (NULL clears it),
     * its checkpoint unless @p ckpt is NULL, and its counter to @p expect + 1.
     * Returns 0, SL__LEASE_LOST (the counter moved or the lease is gone), or
     * an error as list(); SL_EAGAIN after interrupt(). */
    int (*update)(void *st, const char *app, const char *stream, const char *shard, int64_t expect,
                  const char *owner, const char *ckpt);
    /* From any thread: end the current (or else the next) call's wait at
     * once with a retriable error. */
    void (*interrupt)(void *st);
    void (*close)(void *st);
} sl__lease_ops_t;

typedef struct sl__lease_store_s {
    const sl__lease_ops_t *ops;
    void *st;
} sl__lease_store_t;

/* Open the store named by @p spec: "sqlite:PATH" (created if absent; a
 * checkpoint file of the layout before leases is upgraded in place) or
 * "dynamodb:TABLE" (created if absent). Returns 0; SL_EINVAL for a bad
 * spec; a retriable error or SL_ESTORE with a message in @p errstr. */
int sl__lease_open(const char *spec, sl__lease_store_t *out, char *errstr, size_t errstr_size);

/* Close (NULL-safe for a store never opened). */
void sl__lease_close(sl__lease_store_t *s);

int sl__lease_sqlite_open(const char *path, sl__lease_store_t *out, char *errstr,
                          size_t errstr_size);
int sl__lease_dynamodb_open(const char *table, sl__lease_store_t *out, char *errstr,
                            size_t errstr_size);

#endif
