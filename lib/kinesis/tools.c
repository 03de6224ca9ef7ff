/* sluice — Kinesis calls for tools that run once rather than as a processor
 * (sluice-faults resubmit): whether a stream exists, writing a set of
 * records (with keys and headers, in the envelope of envelope.h when they
 * need one) and waiting for every entry's answer, reading a stream from a
 * time. Blocking calls on the calling thread (sl__kin_call_sync); none needs
 * the processor to run. */
#include "core/conf_int.h"
#include "core/util.h"
#include "kinesis/client.h"
#include "kinesis/envelope.h"
#include "sluice/error.h"
#include "sluice/kinesis.h"
#include "sluice/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PUT_MAX_RECORDS 500
#define PUT_MAX_BYTES (5 * 1024 * 1024)
#define RECORD_MAX (1024 * 1024)
#define PUT_ATTEMPTS 10
#define PKEY_SLOTS 1024     /* a call's partition keys, at most half full */
#define SCAN_LIMIT 10000    /* records a GetRecords of a scan asks for */
#define SCAN_QUIET_TRIES 60 /* throttled or failed calls in a row before a scan gives up */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long timeout_of(sl_processor_t *p)
{
    return (long)sl_conf_get_int(sl_processor_conf(p), "kinesis.request.timeout.ms");
}

/* The shard ids of @p stream (every page of ListShards) in *@p ids (each and
 * the array sl_malloc'd), their number in *@p n. Returns 0; SL_ENOENT when
 * the stream does not exist; another error; a message in @p errstr. */
static int list_shards(sl__kin_t *k, long tmo, const char *stream, char ***ids, size_t *n,
                       char *errstr, size_t errstr_size)
{
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    char *token = NULL;
    int rc = 0;
    do {
        json_t *req = token ? json_pack("{s:s}", "NextToken", token)
                            : json_pack("{s:s}", "StreamName", stream);
        sl_free(token);
        token = NULL;
        json_t *resp = NULL;
        sl__kin_fail_t why;
        char msg[512];
        rc = req ? sl__kin_call_sync(k, "ListShards", req, tmo, &resp, &why, msg, sizeof msg)
                 : SL_ENOMEM;
        if (rc) {
            if (why == KIN_NOT_FOUND) {
                sl__errf(errstr, errstr_size, "stream %s does not exist", stream);
                rc = SL_ENOENT;
            } else {
                sl__errf(errstr, errstr_size, "ListShards %s: %s", stream, msg);
            }
            break;
        }
        json_t *shards = json_object_get(resp, "Shards"), *sh;
        size_t i;
        json_array_foreach(shards, i, sh)
        {
            const char *id = json_string_value(json_object_get(sh, "ShardId"));
            if (!id)
                continue;
            char *d = sl_strdup(id);
            if (!d || sl__grow(ids, &cap, *n + 1, sizeof **ids, 8)) {
                sl_free(d);
                rc = SL_ENOMEM;
                break;
            }
            (*ids)[(*n)++] = d;
        }
        const char *next = json_string_value(json_object_get(resp, "NextToken"));
        if (!rc && next && !(token = sl_strdup(next)))
            rc = SL_ENOMEM;
        json_decref(resp);
    } while (!rc && token);
    sl_free(token);
    if (rc == SL_ENOMEM)
        sl__errf(errstr, errstr_size, "out of memory");
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            sl_free((*ids)[i]);
        sl_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_free(ids[i]);
    sl_free(ids);
}

int sl_kinesis_stream_check(sl_processor_t *p, const char *stream, char *errstr, size_t errstr_size)
{
    if (!p || !stream || !*stream)
        return SL_EINVAL;
    sl__kin_t *k = sl__kin_new(p, errstr, errstr_size);
    if (!k)
        return SL_EINVAL;
    char **ids;
    size_t n;
    int rc = list_shards(k, timeout_of(p), stream, &ids, &n, errstr, errstr_size);
    if (!rc && !n) {
        sl__errf(errstr, errstr_size, "stream %s has no shards", stream);
        rc = SL_ENOENT;
    }
    free_ids(ids, n);
    sl__kin_destroy(k);
    return rc;
}

/* 64-bit FNV-1a: a partition key for a record whose key cannot be one, so
 * that records of one key still go to one shard. */
static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

typedef struct {
    char *data; /* base64 */
    char pk[257];
    size_t bytes; /* decoded data and partition key: what the limits count */
} entry_t;

/* The PutRecords entry of @p m: its data (the value, or an envelope when
 * the record has headers, a key that cannot be a partition key, or a value
 * that would read as an envelope) and its partition key. */
static int entry_make(const sl_kinesis_msg_t *m, entry_t *e)
{
    int pk_ok = sl__kenv_pk_ok(m->key, m->key_len);
    int wrap = m->header_count || !pk_ok || sl__kenv_is(m->value, m->value ? m->value_len : 0);
    const void *data = m->value;
    size_t dl = m->value ? m->value_len : 0;
    unsigned char *env = NULL;
    if (wrap) {
        int mode = pk_ok ? SL__KENV_KEY_PK : m->key ? SL__KENV_KEY_INLINE : SL__KENV_KEY_NONE;
        int rc = sl__kenv_wrap(mode, m->key, m->key ? m->key_len : 0, m->headers, m->header_count,
                               m->value, dl, &env, &dl);
        if (rc)
            return rc;
        data = env;
    }
    if (pk_ok) {
        memcpy(e->pk, m->key, m->key_len);
        e->pk[m->key_len] = 0;
    } else {
        snprintf(e->pk, sizeof e->pk, "sluice-%016" PRIx64,
                 m->key ? fnv(m->key, m->key_len) : fnv(m->value, m->value ? m->value_len : 0));
    }
    e->bytes = dl + strlen(e->pk);
    e->data = sl_malloc((dl + 2) / 3 * 4 + 1);
    if (e->data)
        sl_base64_encode(data, dl, e->data);
    sl_free(env);
    return e->data ? 0 : SL_ENOMEM;
}

int sl_kinesis_put_sync(sl_processor_t *p, const char *stream, sl_kinesis_msg_t *msgs, size_t n,
                        double rate,
                        void (*acked)(void *opaque, size_t i, const sl_kinesis_msg_t *m),
                        void *opaque, char *errstr, size_t errstr_size)
{
    if (!p || !stream || !*stream || (n && !msgs) || rate < 0)
        return SL_EINVAL;
    sl__kin_t *k = sl__kin_new(p, errstr, errstr_size);
    if (!k)
        return SL_EINVAL;
    long tmo = timeout_of(p);
    entry_t *ents = sl_calloc(n ? n : 1, sizeof *ents);
    size_t *queue = sl_calloc(n ? n : 1, sizeof *queue),
           *retry = sl_calloc(n ? n : 1, sizeof *retry), *kept = sl_calloc(n ? n : 1, sizeof *kept),
           *call = sl_calloc(n < PUT_MAX_RECORDS ? (n ? n : 1) : PUT_MAX_RECORDS, sizeof *call);
    unsigned *tries = sl_calloc(n ? n : 1, sizeof *tries);
    int rc = ents && queue && retry && kept && call && tries ? 0 : SL_ENOMEM;
    /* Every record is checked before anything is sent: nothing half-sent
     * for a record that could never go. */
    for (size_t i = 0; i < n && !rc; i++) {
        msgs[i].err = SL_EAGAIN;
        msgs[i].shard[0] = msgs[i].sequence[0] = 0;
        rc = entry_make(&msgs[i], &ents[i]);
        if (rc)
            sl__errf(errstr, errstr_size, "record %zu: %s", i, sl_strerror(rc));
        else if (ents[i].bytes > RECORD_MAX) {
            sl__errf(errstr, errstr_size,
                     "record %zu: %zu bytes with its envelope, over the 1 MiB of a Kinesis record",
                     i, ents[i].bytes);
            rc = SL_ETOOBIG;
        }
    }
    if (!rc) {
        char **ids;
        size_t ns;
        rc = list_shards(k, tmo, stream, &ids, &ns, errstr, errstr_size);
        free_ids(ids, ns);
    }
    /* The queue: records not yet answered, in order; failed entries go back
     * to its front, so a retry is not overtaken by what was never sent.
     * A call holds at most one entry of a partition key: PutRecords stores
     * the other entries of a call when some fail, so a key's later entry in
     * the same call would be stored before its failed earlier one. The
     * entries passed over for that stay in the queue, in order, behind the
     * call's failed ones. */
    size_t qh = 0, qn = 0, next = 0, started = 0;
    double t0 = now_s();
    unsigned backoff = 0;
    while (!rc && (qn || next < n)) {
        /* Paced: record i leaves no earlier than i / rate seconds in. */
        while (next < n) {
            if (rate > 0 && (double)started / rate > now_s() - t0)
                break;
            queue[qh + qn++] = next++;
            started++;
        }
        if (!qn) {
            double due = (double)started / rate - (now_s() - t0);
            sleep_ms(due > 0 ? (long)(due * 1000) + 1 : 1);
            continue;
        }
        json_t *recs = json_array();
        size_t take = 0, bytes = 0, scanned = 0, nkept = 0;
        size_t keys[PKEY_SLOTS] = {0}; /* the call's partition keys: entry index + 1 */
        while (recs && scanned < qn && take < PUT_MAX_RECORDS) {
            size_t qi = queue[qh + scanned];
            entry_t *e = &ents[qi];
            size_t slot = (size_t)fnv(e->pk, strlen(e->pk)) & (PKEY_SLOTS - 1);
            while (keys[slot] && strcmp(ents[keys[slot] - 1].pk, e->pk))
                slot = (slot + 1) & (PKEY_SLOTS - 1);
            if (keys[slot]) { /* its key is in the call already */
                kept[nkept++] = qi;
                scanned++;
                continue;
            }
            if (take && bytes + e->bytes > PUT_MAX_BYTES)
                break;
            json_t *rj = json_pack("{s:s,s:s}", "Data", e->data, "PartitionKey", e->pk);
            if (!rj || json_array_append_new(recs, rj)) {
                json_decref(recs); /* out of memory: the call is not made */
                recs = NULL;
                break;
            }
            keys[slot] = qi + 1;
            call[take++] = qi;
            bytes += e->bytes;
            scanned++;
        }
        json_t *req = recs ? json_pack("{s:s,s:o}", "StreamName", stream, "Records", recs) : NULL;
        json_t *resp = NULL;
        sl__kin_fail_t why = KIN_INVALID;
        char msg[512] = "out of memory";
        int crc = req ? sl__kin_call_sync(k, "PutRecords", req, tmo, &resp, &why, msg, sizeof msg)
                      : SL_ENOMEM;
        if (crc) {
            /* Refused as a whole (throttled): nothing was written, the call
             * goes again. Any other failure may have written some records
             * (a timeout, a server error): sending them again could write
             * them twice, so they stay unanswered and the caller finds out
             * later (sluice-faults looks at the destination). */
            if (why == KIN_THROTTLED && backoff < PUT_ATTEMPTS) {
                sleep_ms(100L << (backoff < 5 ? backoff : 5));
                backoff++;
                continue;
            }
            sl__errf(errstr, errstr_size, "PutRecords to %s: %s", stream, msg);
            rc = crc;
            break;
        }
        backoff = 0;
        json_t *res = json_object_get(resp, "Records");
        if (!json_is_array(res) || json_array_size(res) != take) {
            sl__errf(errstr, errstr_size, "PutRecords to %s: %zu results for %zu records", stream,
                     json_is_array(res) ? json_array_size(res) : 0, take);
            json_decref(resp);
            rc = SL_EIO;
            break;
        }
        size_t nretry = 0, failed = 0;
        for (size_t j = 0; j < take; j++) {
            size_t i = call[j];
            json_t *r = json_array_get(res, j);
            const char *sh = json_string_value(json_object_get(r, "ShardId"));
            const char *sq = json_string_value(json_object_get(r, "SequenceNumber"));
            if (!json_object_get(r, "ErrorCode") && sh && sq) {
                snprintf(msgs[i].shard, sizeof msgs[i].shard, "%s", sh);
                snprintf(msgs[i].sequence, sizeof msgs[i].sequence, "%s", sq);
                msgs[i].err = 0;
                if (acked)
                    acked(opaque, i, &msgs[i]);
            } else if (++tries[i] < PUT_ATTEMPTS) {
                /* A failed entry was not written (both documented entry
                 * errors): it goes again. */
                retry[nretry++] = i;
            } else {
                const char *code = json_string_value(json_object_get(r, "ErrorCode"));
                sl__errf(errstr, errstr_size, "PutRecords to %s: record %zu failed %d times (%s)",
                         stream, i, PUT_ATTEMPTS, code ? code : "no sequence number");
                if (acked)
                    acked(opaque, i, &msgs[i]);
                failed++;
            }
        }
        json_decref(resp);
        /* Retries before the rest: back to the front of the queue, then
         * the entries passed over (the answered entries left room there). */
        qh += scanned - nkept - nretry;
        qn -= scanned - nkept - nretry;
        memcpy(&queue[qh], retry, nretry * sizeof *retry);
        memcpy(&queue[qh + nretry], kept, nkept * sizeof *kept);
        if (failed) {
            rc = SL_EAGAIN;
            break;
        }
        if (nretry)
            sleep_ms(100L << (tries[retry[0]] < 5 ? tries[retry[0]] : 5));
    }
    for (size_t i = 0; ents && i < n; i++)
        sl_free(ents[i].data);
    sl_free(ents);
    sl_free(queue);
    sl_free(retry);
    sl_free(kept);
    sl_free(call);
    sl_free(tries);
    sl__kin_destroy(k);
    if (rc == SL_ENOMEM)
        sl__errf(errstr, errstr_size, "out of memory");
    return rc;
}

/* Reads shard @p id of @p stream from @p since_ms to its end now. */
static int scan_shard(sl__kin_t *k, long tmo, int64_t poll_ms, const char *stream, const char *id,
                      int32_t part, int64_t since_ms,
                      int (*cb)(void *opaque, const sl_record_t *rec), void *opaque, char *errstr,
                      size_t errstr_size)
{
    char *iter = NULL, *last = NULL;
    int64_t off = 0;
    int rc = 0, quiet = 0;
    unsigned char *buf = NULL;
    size_t bufcap = 0;
    for (;;) {
        sl__kin_fail_t why;
        char msg[512];
        json_t *resp = NULL;
        if (!iter) {
            json_t *req;
            if (last)
                req = json_pack("{s:s,s:s,s:s,s:s}", "StreamName", stream, "ShardId", id,
                                "ShardIteratorType", "AFTER_SEQUENCE_NUMBER",
                                "StartingSequenceNumber", last);
            else if (since_ms > 0)
                req = json_pack("{s:s,s:s,s:s,s:f}", "StreamName", stream, "ShardId", id,
                                "ShardIteratorType", "AT_TIMESTAMP", "Timestamp",
                                (double)since_ms / 1000.0);
            else
                req = json_pack("{s:s,s:s,s:s}", "StreamName", stream, "ShardId", id,
                                "ShardIteratorType", "TRIM_HORIZON");
            rc = req ? sl__kin_call_sync(k, "GetShardIterator", req, tmo, &resp, &why, msg,
                                         sizeof msg)
                     : SL_ENOMEM;
            if (rc && why == KIN_THROTTLED && ++quiet < SCAN_QUIET_TRIES) {
                sleep_ms(200);
                continue;
            }
            if (rc) {
                sl__errf(errstr, errstr_size, "GetShardIterator %s/%s: %s", stream, id, msg);
                break;
            }
            const char *it = json_string_value(json_object_get(resp, "ShardIterator"));
            iter = it ? sl_strdup(it) : NULL;
            json_decref(resp);
            if (!iter)
                break; /* nothing to read in it */
            continue;
        }
        json_t *req = json_pack("{s:s,s:i}", "ShardIterator", iter, "Limit", SCAN_LIMIT);
        rc = req ? sl__kin_call_sync(k, "GetRecords", req, tmo, &resp, &why, msg, sizeof msg)
                 : SL_ENOMEM;
        if (rc && why == KIN_EXPIRED) {
            sl_free(iter);
            iter = NULL;
            continue;
        }
        if (rc && (why == KIN_THROTTLED || why == KIN_SERVER || why == KIN_TRANSPORT) &&
            ++quiet < SCAN_QUIET_TRIES) {
            sleep_ms(poll_ms > 200 ? poll_ms : 200);
            continue; /* a read: asking again is harmless */
        }
        if (rc) {
            sl__errf(errstr, errstr_size, "GetRecords %s/%s: %s", stream, id, msg);
            break;
        }
        quiet = 0;
        json_t *recs = json_object_get(resp, "Records"), *r;
        size_t i;
        json_array_foreach(recs, i, r)
        {
            sl__kin_rec_t e;
            sl__kin_rec_parse(r, &e);
            if (e.seq) {
                sl_free(last);
                last = sl_strdup(e.seq);
                if (!last) {
                    rc = SL_ENOMEM;
                    break;
                }
            }
            /* What arrived before @p since_ms is not asked for (a service
             * that ignores AT_TIMESTAMP gives it all the same). */
            if (since_ms > 0 && e.arrival_ms && e.arrival_ms < since_ms)
                continue;
            if (e.data_len + 1 > bufcap) {
                sl_free(buf);
                bufcap = e.data_len + 1;
                if (!(buf = sl_malloc(bufcap))) {
                    bufcap = 0;
                    rc = SL_ENOMEM;
                    break;
                }
            }
            size_t vl = sl__kin_rec_value(&e, buf);
            sl_record_t rec = {.topic = stream,
                               .partition = part,
                               .offset = off++,
                               .timestamp_ms = e.arrival_ms,
                               .key = e.key_len ? e.key : NULL,
                               .key_len = e.key_len,
                               .value = vl ? buf : NULL,
                               .value_len = vl,
                               .position = e.seq,
                               .opaque = (void *)(uintptr_t)id};
            sl__kenv_t env = {0};
            char ewhy[160];
            /* A malformed envelope is passed on as it came: the reader
             * looks for envelopes and finds none in it. */
            if (e.data && sl__kenv_is_b64(e.data, e.data_len) &&
                !sl__kenv_unwrap(buf, vl, &env, ewhy, sizeof ewhy)) {
                rec.headers = env.headers;
                rec.header_count = env.header_count;
                if (env.key_mode == SL__KENV_KEY_NONE)
                    rec.key = NULL, rec.key_len = 0;
                else if (env.key_mode == SL__KENV_KEY_INLINE)
                    rec.key = env.key, rec.key_len = env.key_len;
                rec.value = env.value_len ? env.value : NULL;
                rec.value_len = env.value_len;
            }
            rc = cb(opaque, &rec);
            sl_free(env.headers);
            if (rc)
                break;
        }
        const char *next = json_string_value(json_object_get(resp, "NextShardIterator"));
        json_t *behind = json_object_get(resp, "MillisBehindLatest");
        size_t got = json_array_size(recs);
        /* The end of the shard at the time of the call: a page at the tip
         * (MillisBehindLatest 0) not cut by the Limit, or an empty page
         * from a service that does not say. Not only an empty page: on a
         * stream written to all along every page holds records, and the
         * scan would follow the writes for as long as they go on. */
        int at_tip = json_is_integer(behind) && json_integer_value(behind) == 0 && got < SCAN_LIMIT;
        int caught_up = at_tip || (!got && !json_is_integer(behind));
        sl_free(iter);
        iter = next && !rc ? sl_strdup(next) : NULL;
        json_decref(resp);
        if (rc || !next || caught_up)
            break; /* stopped, a closed shard's end, or the end now */
        if (!iter) {
            rc = SL_ENOMEM;
            break;
        }
        if (!got)
            sleep_ms(poll_ms);
    }
    if (rc == SL_ENOMEM)
        sl__errf(errstr, errstr_size, "out of memory");
    sl_free(iter);
    sl_free(last);
    sl_free(buf);
    return rc;
}

int sl_kinesis_scan(sl_processor_t *p, const char *stream, int64_t since_ms,
                    int (*cb)(void *opaque, const sl_record_t *rec), void *opaque, char *errstr,
                    size_t errstr_size)
{
    if (!p || !stream || !*stream || !cb)
        return SL_EINVAL;
    sl__kin_t *k = sl__kin_new(p, errstr, errstr_size);
    if (!k)
        return SL_EINVAL;
    long tmo = timeout_of(p);
    int64_t poll = sl_conf_get_int(sl_processor_conf(p), "kinesis.poll.interval.ms");
    /* AT_TIMESTAMP refuses a time in the future (another clock than ours). */
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t now = (int64_t)rt.tv_sec * 1000 - 1000;
    if (since_ms > now)
        since_ms = now;
    char **ids;
    size_t n;
    int rc = list_shards(k, tmo, stream, &ids, &n, errstr, errstr_size);
    for (size_t i = 0; !rc && i < n; i++)
        rc = scan_shard(k, tmo, poll, stream, ids[i], (int32_t)i, since_ms, cb, opaque, errstr,
                        errstr_size);
    free_ids(ids, n);
    sl__kin_destroy(k);
    return rc;
}
