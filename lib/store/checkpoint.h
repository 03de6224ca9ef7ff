/* sluice — checkpoints of stream readers (Kinesis shards) in SQLite
 * (private). One row per (application, stream, shard): the sequence number
 * up to which every record is done, or SL__CKPT_SHARD_END once a closed
 * shard was read and done to its end (its children may then be read). */
#ifndef SL_STORE_CHECKPOINT_H
#define SL_STORE_CHECKPOINT_H

#include <stddef.h>

#define SL__CKPT_SHARD_END "SHARD_END"
#define SL__CKPT_SEQ_MAX 128

typedef struct sl__ckpt_s sl__ckpt_t;

/* Open or create the checkpoint database at @p path (WAL). NULL with a
 * message in @p errstr. One thread at a time. */
sl__ckpt_t *sl__ckpt_open(const char *path, char *errstr, size_t errstr_size);

/* The checkpoint of a shard into @p seq (NUL-terminated). Returns 0,
 * SL_ENOENT when there is none, SL_ERANGE when @p cap is too small,
 * SL_EBUSY or SL_EIO (retriable), SL_ESTORE. */
int sl__ckpt_get(sl__ckpt_t *c, const char *app, const char *stream, const char *shard, char *seq,
                 size_t cap);

/* Store the checkpoint of a shard (replacing the previous one). Returns 0 or
 * an error as sl__ckpt_get(). */
int sl__ckpt_put(sl__ckpt_t *c, const char *app, const char *stream, const char *shard,
                 const char *seq);

void sl__ckpt_close(sl__ckpt_t *c);

#endif
