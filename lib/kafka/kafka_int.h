/* sluice — shared bits of the Kafka connector (private). */
#ifndef SL_KAFKA_INT_H
#define SL_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "runtime/runtime.h"
#include "sluice/broker.h"

/* A librdkafka configuration for a client of @p kind from the processor's
 * kafka.* properties (those of the other kind skipped), on top of @p defaults (NULL-terminated
 * name/value pairs) and client.id = processor.name. NULL with a message in @p errstr on a bad
 * property. The caller must set as the configuration's opaque a struct whose first member
 * is the sl_processor_t pointer (the log callback reads it). */
rd_kafka_conf_t *sl__kafka_conf(sl_processor_t *p, rd_kafka_type_t kind,
                                const char *const *defaults, char *errstr, size_t errstr_size);

/* Map a librdkafka error to a sluice error code (retriable ones to
 * retriable codes). */
int sl__kafka_err(rd_kafka_resp_err_t err);

/* How many brokers a client is connected to ("UP"), from the statistics
 * JSON of its stats callback (borrowed); -1 if it cannot be read. */
int sl__kafka_brokers_up(const char *stats);

/* Counters of a processor's Kafka source, for logs and tests. */
typedef struct sl__ksrc_counters_s {
    uint64_t rewound;       /* partitions sent back to a message the engine could not take */
    uint64_t skipped_taken; /* messages at or below an offset already taken, skipped */
    uint64_t batch_len;     /* messages in the consume batch being taken (or the last one) */
} sl__ksrc_counters_t;

/* Reads the counters of @p p's Kafka source. SL_ENOENT if it has none.
 * Loop thread, or after sl_processor_run() returned. */
int sl__kafka_source_counters(const sl_processor_t *p, sl__ksrc_counters_t *out);

/* The consumer of @p p's Kafka source (NULL if it has none), for tests that
 * look at its group state. The source keeps ownership. */
rd_kafka_t *sl__kafka_source_rk(const sl_processor_t *p);

/* The producer of a Kafka sink (NULL if @p sink is not one), for tests that
 * inject its errors. The sink keeps ownership. */
rd_kafka_t *sl__kafka_sink_rk(const sl_sink_t *sink);

/* The mock cluster behind an embedded broker, for tests that need what
 * sl_broker_t does not offer (e.g. a topic's metadata error). */
rd_kafka_mock_cluster_t *sl__broker_mock(sl_broker_t *b);

/* Wake the loop when a librdkafka queue becomes non-empty: a pipe whose read
 * end a uv_poll watches. */
typedef struct sl__kqwake_s {
    int fds[2];
    uv_poll_t poll;
    int active;
} sl__kqwake_t;

int sl__kqwake_init(sl__kqwake_t *w, uv_loop_t *loop, rd_kafka_queue_t *q, uv_poll_cb cb,
                    void *data);
void sl__kqwake_drain(sl__kqwake_t *w);
void sl__kqwake_close(sl__kqwake_t *w, rd_kafka_queue_t *q);

/* When to kick librdkafka 2.0's fetcher (see kick_fetcher in source.c):
 * when the consumer queue ran dry from a backlog near one of librdkafka's
 * thresholds, in messages or in bytes. Loop thread; no librdkafka call. */
typedef struct sl__kick_s {
    size_t at_msgs;     /* queue length at which librdkafka may have stopped fetching */
    size_t at_bytes;    /* queue bytes at which it may have */
    size_t peak;        /* longest queue seen since it last ran dry */
    size_t msgs, bytes; /* messages and their payload bytes read since */
} sl__kick_t;
/* @p n messages of @p bytes read, the queue holding @p queued before. */
void sl__kick_read(sl__kick_t *k, size_t queued, size_t n, size_t bytes);
/* The queue is empty: 1 when the fetcher is to be kicked, 0 when not. */
int sl__kick_dry(sl__kick_t *k);
/* A consume batch came back short and @p left messages are queued now.
 * None left: the queue ran dry, decided as sl__kick_dry() (the source must
 * not wait for a read that finds it empty: a fetcher stopped by the backlog
 * brings nothing that would wake the loop for one). Some left: the fetcher
 * is fetching; 0, and the backlog still counts. */
int sl__kick_short(sl__kick_t *k, size_t left);

#endif
