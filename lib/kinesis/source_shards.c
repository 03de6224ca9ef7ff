/* sluice — Kinesis source: shard discovery (see source.c). */
#include "kinesis/source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void shard_add(kin_src_t *s, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "ShardId"));
    if (!id || sl__kinsrc_shard_find(s, id))
        return;
    if (sl__grow(&s->shards, &s->scap, s->nshards + 1, sizeof *s->shards, 8))
        return; /* the next listing adds it */
    shard_t *sh = &s->shards[s->nshards];
    memset(sh, 0, sizeof *sh);
    sh->id = sl_strdup(id);
    if (!sh->id)
        return;
    sl__kinsrc_set_str(&sh->parent, json_string_value(json_object_get(j, "ParentShardId")));
    sl__kinsrc_set_str(&sh->adjacent,
                       json_string_value(json_object_get(j, "AdjacentParentShardId")));
    json_t *range = json_object_get(j, "SequenceNumberRange");
    sh->closed_range = json_string_value(json_object_get(range, "EndingSequenceNumber")) != NULL;
    sh->part = (int32_t)s->nshards;
    sh->state = SH_UNLEASED; /* read once its lease is taken (source_lease.c) */
    s->nshards++;
    sl__log(s->proc, "info", "shard %s%s%s%s", id, sh->parent ? " (child of " : "",
            sh->parent ? sh->parent : "", sh->parent ? ")" : "");
}

static void on_list(void *opaque, int err, sl__kin_fail_t why, const char *msg, json_t *resp)
{
    kin_src_t *s = opaque;
    s->inflight_calls--;
    s->listing = 0;
    if (why == KIN_SHUTDOWN)
        return;
    if (err) {
        sl__log(s->proc, "warn", "ListShards %s: %s", s->stream, msg);
        sl__kinsrc_set_str(&s->list_token, NULL);
        s->next_list = sl__kinsrc_now_ms() + (why == KIN_THROTTLED ? 1000 : 2000);
        sl__kinsrc_schedule(s);
        return;
    }
    json_t *arr = json_object_get(resp, "Shards");
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j) shard_add(s, j);
    const char *tok = json_string_value(json_object_get(resp, "NextToken"));
    sl__kinsrc_set_str(&s->list_token, tok);
    if (tok) {
        sl__kinsrc_list_next(s); /* the next page now */
        return;
    }
    if (!s->started_ok) {
        sl__log(s->proc, "info", "reading %s: %zu shard(s)", s->stream, s->nshards);
        s->next_cycle = 0; /* their leases: create and take them now */
    }
    s->started_ok = 1;
    s->next_list = sl__kinsrc_now_ms() + s->refresh_ms;
    sl__kinsrc_schedule(s);
}

void sl__kinsrc_list_next(kin_src_t *s)
{
    json_t *req = s->list_token ? json_pack("{s:s}", "NextToken", s->list_token)
                                : json_pack("{s:s}", "StreamName", s->stream);
    if (!req)
        return;
    if (!sl__kin_call(s->kin, "ListShards", req, on_list, s)) {
        s->listing = 1;
        s->inflight_calls++;
    }
}
