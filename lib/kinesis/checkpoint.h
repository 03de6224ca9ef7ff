/* sluice — checkpoints of stream readers (Kinesis shards) in SQLite
 * (private). One row per (application, stream, shard): the sequence number
 * up to which every record is done, or SL__CKPT_SHARD_END once a closed
 * shard was read and done to its end (its children may then be read).
 *
 * A handle is used by one thread at a time (any thread), except
 * sl__ckpt_interrupt(), which any thread may call at any time. A busy
 * database is waited on for up to 5 s per call, then reported as SL_EBUSY. */
#ifndef SL_KINESIS_CHECKPOINT_H
#define SL_KINESIS_CHECKPOINT_H

#include <stddef.h>

#define SL__CKPT_SHARD_END "SHARD_END"
#define SL__CKPT_SEQ_MAX 128

typedef struct sl__ckpt_s sl__ckpt_t;

/* Open or create the checkpoint database at @p path (WAL) into @p out.
 * Returns 0; a retriable error (SL_EBUSY: another connection holds a lock;
 * SL_EIO) or SL_ESTORE (not a database, corrupt, read-only, no such
 * directory), with a message in @p errstr. */
int sl__ckpt_open(const char *path, sl__ckpt_t **out, char *errstr, size_t errstr_size);

/* Call @p each for every checkpoint of (@p app, @p stream). Returns 0,
 * SL_EBUSY or SL_EIO (retriable), SL_ESTORE, SL_ENOMEM (@p each returned it). */
int sl__ckpt_list(sl__ckpt_t *c, const char *app, const char *stream,
                  int (*each)(void *opaque, const char *shard, const char *seq), void *opaque);

/* The checkpoint of a shard into @p seq (NUL-terminated). Returns 0,
 * SL_ENOENT when there is none, SL_ERANGE when @p cap is too small,
 * SL_EBUSY or SL_EIO (retriable), SL_ESTORE. */
int sl__ckpt_get(sl__ckpt_t *c, const char *app, const char *stream, const char *shard, char *seq,
                 size_t cap);

/* Store the checkpoint of a shard (replacing the previous one). Returns 0 or
 * an error as sl__ckpt_get(); SL_EAGAIN after sl__ckpt_interrupt(). */
int sl__ckpt_put(sl__ckpt_t *c, const char *app, const char *stream, const char *shard,
                 const char *seq);

/* From any thread: end the current (or else the next) call's wait for a
 * lock at once, with a retriable error. */
void sl__ckpt_interrupt(sl__ckpt_t *c);

void sl__ckpt_close(sl__ckpt_t *c);

#endif
