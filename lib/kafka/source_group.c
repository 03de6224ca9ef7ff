/* sluice — Kafka source: the consumer group, commits and rebalances (see
 * source.c). */
#include "core/util.h"
#include "kafka/source_int.h"
#include "sluice/error.h"
#include "sluice/kafka.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- commits ---- */

void sl__kafsrc_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    kafka_src_t *s = opaque;
    if (!err) {
        s->last_commit_ms = sl__kafsrc_now_ms();
        s->all_down = 0; /* a broker answered (statistics may be off) */
    }
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    sl__log(s->proc, "warn", "offset commit failed: %s; will retry", rd_kafka_err2str(err));
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        kpart_t *kp =
            sl__kafsrc_part_find(s, offsets->elems[i].topic, offsets->elems[i].partition, 0);
        if (kp)
            kp->committed = -1;
    }
}

/* Commit the watermark of @p only (or every assigned partition when NULL). */
static void commit_parts(kafka_src_t *s, const rd_kafka_topic_partition_list_t *only, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->nparts; i++) {
        kpart_t *kp = &s->parts[i];
        if (!kp->assigned)
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, kp->topic, kp->partition))
            continue;
        int64_t wm = sl_engine_watermark(s->e, kp->topic, kp->partition);
        /* Below the floor, the watermark is a stale one: the partition came
         * back while records of its earlier assignment were in flight, and
         * another member committed further meanwhile. */
        if (wm < 0 || wm <= kp->committed || wm < kp->floor)
            continue;
        rd_kafka_topic_partition_list_add(l, kp->topic, kp->partition)->offset = wm;
        kp->committed = wm;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, !sync);
        if (sync && err) {
            sl__log(s->proc, "warn", "offset commit failed: %s", rd_kafka_err2str(err));
            for (int i = 0; i < l->cnt; i++) {
                kpart_t *kp = sl__kafsrc_part_find(s, l->elems[i].topic, l->elems[i].partition, 0);
                if (kp)
                    kp->committed = -1;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void sl__kafsrc_commit(void *opaque, int sync)
{
    kafka_src_t *s = opaque;
    if (!s->consumer_closed)
        commit_parts(s, NULL, sync);
}

/* ---- rebalances ---- */

static size_t inflight_of(kafka_src_t *s, const rd_kafka_topic_partition_list_t *l)
{
    size_t n = 0;
    for (int i = 0; i < l->cnt; i++)
        n += sl_engine_partition_inflight(s->e, l->elems[i].topic, l->elems[i].partition);
    return n;
}

void sl__kafsrc_revoke(kafka_src_t *s, rd_kafka_topic_partition_list_t *l, int lost)
{
    sl__log(s->proc, "info", "%s %d partition(s)", lost ? "lost" : "revoking", l->cnt);
    /* Finish what was read from them, within the drain bound, so the next
     * owner starts where this one stopped. */
    sl_engine_flush(s->e);
    int64_t deadline =
        sl__kafsrc_now_ms() + (s->revoke_ms < s->drain_ms ? s->revoke_ms : s->drain_ms);
    while (inflight_of(s, l) && sl__kafsrc_now_ms() < deadline)
        sl__proc_pump(s->proc, 10);
    /* The commit does not wait for the broker (it would block the loop
     * for a round trip inside the sl__kafsrc_revoke). It goes out before the unassign
     * that follows, on the coordinator's connection, so it lands before the
     * rejoin that gives the partitions to another member. At least once
     * still holds either way: only done watermarks are committed, and a
     * commit that fails or comes late leaves the group's offset lower, so
     * the next owner reads some records again, never skips one. */
    if (!lost)
        commit_parts(s, l, 0);
    for (int i = 0; i < l->cnt; i++) {
        const char *t = l->elems[i].topic;
        int32_t part = l->elems[i].partition;
        size_t left = sl_engine_partition_inflight(s->e, t, part);
        if (left)
            sl__log(s->proc, "warn", "%s/%d left with %zu records in flight", t, (int)part, left);
        else
            sl_engine_forget_partition(s->e, t, part);
        kpart_t *kp = sl__kafsrc_part_find(s, t, part, 0);
        if (kp) {
            kp->assigned = 0;
            kp->paused_applied = 0;
            kp->paused_self = 0;
        }
    }
}

void sl__kafsrc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *l, void *opaque)
{
    kafka_src_t *s = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    s->rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sl__log(s->proc, "info", "assigned %d partition(s)", l->cnt);
        s->ever_assigned = 1;
        /* What the group has committed: never commit below it (see
         * commit_parts). Asked here, before fetching starts from it. */
        rd_kafka_topic_partition_list_t *cl = rd_kafka_topic_partition_list_copy(l);
        rd_kafka_resp_err_t cerr =
            rd_kafka_committed(rk, cl, (int)(s->revoke_ms < 10000 ? s->revoke_ms : 10000));
        if (cerr)
            sl__log(s->proc, "warn", "cannot read the committed offsets: %s",
                    rd_kafka_err2str(cerr));
        for (int i = 0; i < l->cnt; i++) {
            kpart_t *kp = sl__kafsrc_part_find(s, l->elems[i].topic, l->elems[i].partition, 1);
            if (kp) {
                kp->assigned = 1;
                kp->committed = -1;
                kp->floor = -1;
                kp->paused_applied = 0;
                const rd_kafka_topic_partition_t *c =
                    cerr ? NULL : rd_kafka_topic_partition_list_find(cl, kp->topic, kp->partition);
                if (c && !c->err && c->offset >= 0)
                    kp->floor = kp->committed = c->offset;
            }
        }
        rd_kafka_topic_partition_list_destroy(cl);
        rd_kafka_error_t *e2 = NULL;
        rd_kafka_resp_err_t e1 = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (coop)
            e2 = rd_kafka_incremental_assign(rk, l);
        else
            e1 = rd_kafka_assign(rk, l);
        if (e2) {
            sl__log(s->proc, "error", "assign: %s", rd_kafka_error_string(e2));
            rd_kafka_error_destroy(e2);
        } else if (e1) {
            sl__log(s->proc, "error", "assign: %s", rd_kafka_err2str(e1));
        }
        sl__kafsrc_apply_pauses(s);
    } else {
        sl__kafsrc_revoke(
            s, l, err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk));
        if (coop) {
            rd_kafka_error_t *e2 = rd_kafka_incremental_unassign(rk, l);
            if (e2)
                rd_kafka_error_destroy(e2);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}
