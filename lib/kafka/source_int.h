/* sluice — the Kafka source's private interface between its files:
 *   source.c        partitions, records, fetching on the loop, the source
 *                   interface
 *   source_group.c  the consumer group: commits from the done watermark,
 *                   rebalances (assign, revoke, lost) */
#ifndef SL_KAFKA_SOURCE_INT_H
#define SL_KAFKA_SOURCE_INT_H

#include "kafka/kafka_int.h"

#include <stdint.h>

typedef struct kafka_rec_s {
    sl_record_t rec; /* first: the engine hands this pointer back */
    char *buf;       /* key, value and headers, copied from librdkafka's message */
    size_t bcap;
    sl_header_t *hdrs;
    size_t hcap;
    struct kafka_rec_s *next_free;
    struct kafka_rec_s *all_next;
} kafka_rec_t;

typedef struct kpart_s {
    char *topic;
    int32_t partition;
    int assigned;
    int paused_self;    /* the engine asked to pause this partition */
    int paused_applied; /* what librdkafka was last told */
    int64_t committed;  /* last offset committed, -1 none */
    int64_t floor;      /* the group's committed offset when it was assigned, -1 none */
} kpart_t;

typedef struct kafka_src_s {
    sl_processor_t *proc; /* first: log_cb reads it through the opaque */
    sl_engine_t *e;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    sl__kqwake_t wake;
    uv_timer_t timer, kick;
    int timer_on;
    rd_kafka_topic_partition_list_t *subscription;
    rd_kafka_message_t **batch;
    size_t batch_size;
    int headers; /* source.headers: read each record's headers */
    kafka_rec_t *free_recs, *all_recs;
    kpart_t *parts;
    size_t nparts, pcap;
    char **topics; /* the records' topic names, kept while the source lives */
    size_t ntopics, tcap;
    const char *last_topic;
    int paused_all;     /* the engine asked to pause everything */
    int hard_all;       /* ... and it lasted: librdkafka was told to pause */
    int64_t soft_since; /* when the engine-wide pause began */
    int stopping;
    int closed;
    int consumer_closed;
    int ever_assigned;    /* the group gave this member an assignment once */
    int keep_rk;          /* do not destroy the consumer: see ks_close */
    int64_t wait_since;   /* no partition assigned since (ms), or -1 while some are */
    int64_t wait_logged;  /* when the wait was last logged */
    int sync_commit_done; /* commit_within(): its answer came, with this error */
    rd_kafka_resp_err_t sync_commit_err;
    int64_t drain_ms;
    int64_t revoke_ms;     /* bound of a revoke's drain: it blocks the consumer */
    sl__kick_t kick_state; /* when to kick the fetcher */
    uint64_t kicks;
    sl__ksrc_counters_t counters;
    rd_kafka_topic_partition_list_t *rewind; /* this batch's partitions to read again */
    /* For the operations endpoint (/ready, /metrics); loop thread. */
    int brokers_up;         /* brokers connected, from the last statistics; -1 not yet known */
    int all_down;           /* librdkafka said all brokers are down, and none came up since */
    uint64_t rebalances;    /* assignments and revocations */
    uint64_t settled;       /* rebalances of this member that ended (an assignment, no rejoin) */
    int gave_up;            /* partitions revoked since the last assignment */
    int commit_hold;        /* a commit was refused by a rebalance: none until it has settled */
    int64_t last_commit_ms; /* when a commit last succeeded (sl__kafsrc_now_ms), 0 never */
} kafka_src_t;

void sl__kafsrc_apply_pauses(kafka_src_t *s);
void sl__kafsrc_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *offsets, void *opaque);
kpart_t *sl__kafsrc_part_find(kafka_src_t *s, const char *topic, int32_t partition, int create);
void sl__kafsrc_commit(void *opaque, int sync);
int64_t sl__kafsrc_now_ms(void);
void sl__kafsrc_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *l, void *opaque);
void sl__kafsrc_revoke(kafka_src_t *s, rd_kafka_topic_partition_list_t *l, int lost);
/* A wait is never silent: logs the wait for an assignment every few
 * seconds while this member has none (called from the fetch timer). */
void sl__kafsrc_log_wait(kafka_src_t *s);
/* The group id, for log lines. */
const char *sl__kafsrc_group(const kafka_src_t *s);

#endif
