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

/* A commit refused because the group is rebalancing (REBALANCE_IN_PROGRESS,
 * or ILLEGAL_GENERATION once the group has moved to a generation this
 * member has not joined yet). */
static int refused_by_rebalance(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
}

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
    if (!refused_by_rebalance(err)) {
        sl__log(s->proc, "warn", "offset commit failed: %s; will retry", rd_kafka_err2str(err));
    } else if (!s->commit_hold) {
        /* See commit_parts: no more periodic commits until this member's
         * rebalance has ended. */
        s->commit_hold = 1;
        sl__log(s->proc, "info",
                "offset commit refused: %s; committing again once consumer group %s has "
                "rebalanced",
                rd_kafka_err2str(err), sl__kafsrc_group(s));
    }
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        kpart_t *kp =
            sl__kafsrc_part_find(s, offsets->elems[i].topic, offsets->elems[i].partition, 0);
        if (kp)
            kp->committed = -1;
    }
}

static void commit_within_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    kafka_src_t *s = opaque;
    s->sync_commit_err = err;
    s->sync_commit_done = 1;
}

/* A synchronous commit that waits for the broker's answer at most @p ms:
 * rd_kafka_commit() would wait for as long as the request may take (a
 * frozen broker: a minute), past what close.timeout.ms promises. */
static rd_kafka_resp_err_t commit_within(kafka_src_t *s, rd_kafka_topic_partition_list_t *l, int ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
    if (!q)
        return RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;
    s->sync_commit_done = 0;
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(s->rk, l, q, commit_within_cb, s);
    int64_t deadline = sl__kafsrc_now_ms() + ms;
    while (!err && !s->sync_commit_done) {
        int64_t left = deadline - sl__kafsrc_now_ms();
        if (left <= 0)
            break;
        rd_kafka_queue_poll_callback(q, (int)(left < 100 ? left : 100));
    }
    if (!err)
        err = s->sync_commit_done ? s->sync_commit_err : RD_KAFKA_RESP_ERR__TIMED_OUT;
    /* An answer that comes later goes to a queue nobody serves any more:
     * dropped, its callback never called. */
    rd_kafka_queue_destroy(q);
    return err;
}

/* The done watermarks of @p only (or of every assigned partition when
 * NULL), each marked committed: those not committed yet, or with @p all
 * also those whose commit went out. A commit still on its way can be
 * refused, and its callback, which makes the next periodic commit send the
 * offsets again, may come after the last one (the final commit, a revoke):
 * those send everything. */
static rd_kafka_topic_partition_list_t *
uncommitted(kafka_src_t *s, const rd_kafka_topic_partition_list_t *only, int all)
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
        if (wm < 0 || (!all && wm <= kp->committed) || wm < kp->floor)
            continue;
        rd_kafka_topic_partition_list_add(l, kp->topic, kp->partition)->offset = wm;
        kp->committed = wm;
    }
    return l;
}

/* Commits the watermark of @p only (or every assigned partition when NULL)
 * without waiting: the answer goes to sl__kafsrc_commit_cb.
 *
 * The periodic commit (@p only NULL) holds back while this member
 * rebalances, from a commit refused that way to the assignment that ends
 * the rebalance. librdkafka 2.0.2 sends a commit made while this member
 * rejoins after its JoinGroup, which the coordinator answers only when the
 * group has moved on; the commit then carries the old generation, is
 * refused with ILLEGAL_GENERATION, and librdkafka drops the whole
 * assignment as lost (its bug #4059, fixed in 2.6): the records in flight
 * are read again. Its own auto-commit skips a rebalance the same way. The
 * commit of a revoke is sent in the new generation and goes out. */
static void commit_parts(kafka_src_t *s, const rd_kafka_topic_partition_list_t *only)
{
    if (!only && s->commit_hold)
        return;
    /* (At the close, the final commit has just sent everything.) */
    rd_kafka_topic_partition_list_t *l = uncommitted(s, only, only && !s->closed);
    if (l->cnt)
        rd_kafka_commit(s->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Serves the consumer until the group hands this member the assignment that
 * ends its rebalance or @p deadline (ms) passes; returns
 * whether the assignment came. Called while stopping: what is read
 * meanwhile is not taken (every partition is paused, only what was fetched
 * before can come), so the next owner reads it. */
static int await_assignment(kafka_src_t *s, int64_t deadline)
{
    uint64_t seen = s->settled;
    while (s->settled == seen) {
        int64_t left = deadline - sl__kafsrc_now_ms();
        if (left <= 0)
            return 0;
        /* Rebalances reach sl__kafsrc_rebalance_cb from inside this call. */
        ssize_t n = rd_kafka_consume_batch_queue(s->q, (int)(left < 100 ? left : 100), s->batch,
                                                 s->batch_size);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(s->batch[i]);
    }
    return 1;
}

/* The final commit, waiting for the answer within close.timeout.ms.
 *
 * A group that is rebalancing (another member joined or left, as when
 * several stop at once) refuses commits until its members have rejoined.
 * Giving up would make the next owner read again all that was finished
 * since the last commit. This member keeps its partitions through a
 * cooperative rebalance, so it waits for the assignment that ends the
 * rebalance and commits again, in the new generation. It waits for the
 * assignment, not a timer: a commit sent between the group's new generation
 * and this member's sync would be refused again. The offsets are kept
 * aside: a refusal with ILLEGAL_GENERATION makes librdkafka drop the
 * assignment (see commit_parts), and the engine forgets a revoked
 * partition. They are committed for the partitions the group gives back,
 * unless the group committed further meanwhile. */
static void commit_final(kafka_src_t *s)
{
    int64_t deadline = sl__kafsrc_now_ms() + sl__proc_close_left_ms(s->proc);
    rd_kafka_topic_partition_list_t *l = uncommitted(s, NULL, 1);
    int waited = 0;
    while (l->cnt) {
        rd_kafka_resp_err_t err = commit_within(s, l, sl__proc_close_left_ms(s->proc));
        if (!err) {
            s->last_commit_ms = sl__kafsrc_now_ms();
            break;
        }
        for (int i = 0; i < l->cnt; i++) {
            kpart_t *kp = sl__kafsrc_part_find(s, l->elems[i].topic, l->elems[i].partition, 0);
            if (kp)
                kp->committed = -1;
        }
        if (!refused_by_rebalance(err)) {
            sl__log(s->proc, "warn", "offset commit failed: %s", rd_kafka_err2str(err));
            break;
        }
        if (!waited++)
            sl__log(s->proc, "info",
                    "offset commit refused: %s; committing again once consumer group %s has "
                    "assigned this member its partitions",
                    rd_kafka_err2str(err), sl__kafsrc_group(s));
        if (!await_assignment(s, deadline)) {
            sl__log(s->proc, "warn",
                    "consumer group %s was still rebalancing at close.timeout.ms: offsets not "
                    "committed, the next owner reads again what was finished since the last "
                    "commit",
                    sl__kafsrc_group(s));
            break;
        }
        /* Only what this member owns again, above what the group has. */
        rd_kafka_topic_partition_list_t *again = rd_kafka_topic_partition_list_new(l->cnt);
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *e = &l->elems[i];
            kpart_t *kp = sl__kafsrc_part_find(s, e->topic, e->partition, 0);
            if (kp && kp->assigned && e->offset > kp->floor) {
                rd_kafka_topic_partition_list_add(again, e->topic, e->partition)->offset =
                    e->offset;
                kp->committed = e->offset;
            }
        }
        rd_kafka_topic_partition_list_destroy(l);
        l = again;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void sl__kafsrc_commit(void *opaque, int sync)
{
    kafka_src_t *s = opaque;
    if (s->consumer_closed)
        return;
    if (sync)
        commit_final(s);
    else
        commit_parts(s, NULL);
}

/* ---- rebalances ---- */

/* How often a member without partitions says it is still waiting: every few
 * seconds, then less often once it has waited a minute (a member of a group
 * with more members than partitions waits for good). */
#define WAIT_LOG_MS 5000
#define WAIT_LOG_LATER_MS 30000

const char *sl__kafsrc_group(const kafka_src_t *s)
{
    const char *g = sl_conf_get_str_pt(sl_processor_conf(s->proc), "kafka.group.id");
    return g ? g : "?";
}

static int assigned_count(const kafka_src_t *s)
{
    int n = 0;
    for (size_t i = 0; i < s->nparts; i++)
        n += s->parts[i].assigned != 0;
    return n;
}

void sl__kafsrc_log_wait(kafka_src_t *s)
{
    if (s->wait_since < 0 || s->stopping)
        return;
    int64_t now = sl__kafsrc_now_ms();
    if (now - s->wait_logged < (now - s->wait_since < 60000 ? WAIT_LOG_MS : WAIT_LOG_LATER_MS))
        return;
    s->wait_logged = now;
    /* librdkafka's own view of the join, which is what an operator needs
     * to tell a slow coordinator from a rebalance that does not end */
    const char *proto = rd_kafka_rebalance_protocol(s->rk);
    sl__log(s->proc, "info",
            "waiting for a partition assignment from consumer group %s: %.1f s so far (%s)",
            sl__kafsrc_group(s), (double)(now - s->wait_since) / 1000.0,
            proto && strcmp(proto, "NONE") ? "joined, the group has not assigned partitions yet"
                                           : "the group has not answered the join yet");
}

/* "in[0,1,2], other[0]" of @p l (sorted in place) into @p buf, cut with
 * "..." when it does not fit. */
static void parts_text(rd_kafka_topic_partition_list_t *l, char *buf, size_t size)
{
    rd_kafka_topic_partition_list_sort(l, NULL, NULL);
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < l->cnt && o + 8 < size; i++) {
        int first = i == 0 || strcmp(l->elems[i - 1].topic, l->elems[i].topic);
        int last = i + 1 == l->cnt || strcmp(l->elems[i + 1].topic, l->elems[i].topic);
        int n = snprintf(buf + o, size - o, "%s%s%s%d%s", first && i ? ", " : "",
                         first ? l->elems[i].topic : "", first ? "[" : ",",
                         (int)l->elems[i].partition, last ? "]" : "");
        if (n < 0 || (size_t)n >= size - o) {
            snprintf(buf + (o < size - 4 ? o : size - 4), 4, "...");
            return;
        }
        o += (size_t)n;
    }
}

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
        commit_parts(s, l);
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
    /* Without partitions the member waits for the group again: say so. */
    if (!assigned_count(s) && s->wait_since < 0)
        s->wait_since = s->wait_logged = sl__kafsrc_now_ms();
}

void sl__kafsrc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *l, void *opaque)
{
    kafka_src_t *s = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    s->rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* The end of this member's rebalance, unless it gave partitions up
         * in it: a cooperative member then rejoins right after this
         * assignment, for a second rebalance that hands them to others. */
        if (!(coop && s->gave_up)) {
            s->settled++;
            s->commit_hold = 0;
        }
        s->gave_up = 0;
        char what[512], waited[64] = "";
        rd_kafka_topic_partition_list_t *sorted = rd_kafka_topic_partition_list_copy(l);
        parts_text(sorted, what, sizeof what);
        rd_kafka_topic_partition_list_destroy(sorted);
        if (s->wait_since >= 0 && l->cnt)
            snprintf(waited, sizeof waited, " after waiting %.1f s",
                     (double)(sl__kafsrc_now_ms() - s->wait_since) / 1000.0);
        sl__log(s->proc, "info", "assigned %d partition(s) by consumer group %s: %s%s", l->cnt,
                sl__kafsrc_group(s), l->cnt ? what : "none", waited);
        if (l->cnt)
            s->wait_since = -1;
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
        int lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
        if (!lost)
            s->gave_up = 1;
        sl__kafsrc_revoke(s, l, lost);
        if (coop) {
            rd_kafka_error_t *e2 = rd_kafka_incremental_unassign(rk, l);
            if (e2)
                rd_kafka_error_destroy(e2);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}
