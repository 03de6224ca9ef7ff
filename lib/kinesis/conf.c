/* sluice — the Kinesis connector's rows of the property table: typed,
 * range-checked and documented like the core's (sl_conf_set() refuses a bad
 * value; sl_conf_properties_print() lists them). Registered when the library
 * is loaded; any other kinesis.* key is an unknown property. */
#include "sluice/conf.h"
#include "core/conf_int.h"
#include "kinesis/client.h"

#include <stdint.h>

static const sl__prop_t kin_props[] = {
    {"kinesis.region", SL__P_STR, "", 0, 0,
     "Region of the Kinesis endpoint and of the request signatures when AWS_REGION and "
     "AWS_DEFAULT_REGION are unset; empty = us-east-1."},
    {"kinesis.endpoint", SL__P_STR, "", 0, 0,
     "Kinesis endpoint URL when AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL are unset; "
     "empty = https://kinesis.<region>.amazonaws.com."},
    {"kinesis.request.timeout.ms", SL__P_INT, "10000", 100, 600000,
     "Bound of one Kinesis API call."},
    {"kinesis.application", SL__P_STR, "", 0, 0,
     "Application whose checkpoints the source keeps; empty = kafka.group.id, else "
     "processor.name."},
    {"kinesis.iterator", SL__P_STR, "TRIM_HORIZON", 0, 0,
     "Where a shard without a checkpoint starts: TRIM_HORIZON or LATEST."},
    {"kinesis.records.limit", SL__P_INT, "10000", 1, 10000,
     "Records asked per GetRecords call. Unless set: as many as a quarter of memory.max.bytes "
     "holds when every shard's answer arrives at once (from the mean record size so far), at "
     "most this default."},
    {"kinesis.poll.interval.ms", SL__P_INT, "200", 0, 3600000,
     "Least time between two GetRecords calls on one shard (5 calls/s per shard is the "
     "service's limit)."},
    {"kinesis.shards.refresh.ms", SL__P_INT, "10000", 100, 3600000,
     "How often the source lists the stream's shards again (reshards)."},
    {"kinesis.checkpoints", SL__P_STR, "sqlite:checkpoints.db", 0, 0,
     "Older name of kinesis.lease.store (used when that is empty)."},
    {"kinesis.lease.store", SL__P_STR, "", 0, 0,
     "The lease table, where the workers of an application share the shards and keep their "
     "checkpoints: sqlite:PATH (a file shared by the workers of one host) or dynamodb:TABLE "
     "(created if absent; AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else the region's "
     "endpoint); empty = kinesis.checkpoints."},
    {"kinesis.lease.failover.ms", SL__P_INT, "10000", 300, 3600000,
     "A lease whose counter has not moved for this long (on this worker's clock) is expired and "
     "taken over; leases are renewed every third of it."},
    {"kinesis.worker.id", SL__P_STR, "", 0, 0,
     "This worker's name in the lease table, unique among the application's workers; empty = "
     "host name and process id."},
    {"kinesis.checkpoints.timeout.ms", SL__P_INT, "30000", 0, 3600000,
     "At start, how long a checkpoint store that cannot be read (locked, corrupt) is retried "
     "before the start fails."},
};

__attribute__((constructor)) static void kin_conf_register(void)
{
    /* Cannot fail: the table has room for every connector's rows. */
    (void)sl__conf_register("kinesis.", kin_props, sizeof kin_props / sizeof kin_props[0]);
}

const char *sl__kin_conf_str(const sl_conf_t *conf, const char *name)
{
    const char *v = sl_conf_get_str(conf, name);
    return v && *v ? v : NULL;
}
