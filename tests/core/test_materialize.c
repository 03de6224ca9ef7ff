/* The materialize flavor through the test driver. The store here is a small
 * in-memory implementation of the store port (it keeps the port's "only if
 * newer" rule) so each test can see exactly which rows arrive in which apply
 * call and inject store failures; the SQLite store has its own suite and the
 * listener binary's end-to-end tests use it for real. */
#include "core/helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

TestSuite(materialize);

enum { MAXK = 160 };

typedef struct mrow_s {
    char key[64];
    int64_t ts;
    int deleted;
    char type[64];
    char id[64];
    char entity[512];
} mrow_t;

typedef struct mstore_s {
    mrow_t rows[MAXK];
    size_t n;
    size_t calls, rows_seen, last_call_rows;
    size_t fail_calls; /* fail this many apply calls with fail_err */
    int fail_err;
    const char *poison; /* a key whose row fails permanently */
    size_t busy_from;   /* from this call on (1-based), fail with SL_EBUSY; 0 = never */
    int destroyed;
} mstore_t;

static mrow_t *mfind(mstore_t *s, const char *k, size_t kl)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->rows[i].key) == kl && !memcmp(s->rows[i].key, k, kl))
            return &s->rows[i];
    return NULL;
}

static int mapply(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    mstore_t *s = opaque;
    s->calls++;
    s->last_call_rows = n;
    if (s->busy_from && s->calls >= s->busy_from)
        return SL_EBUSY;
    if (s->fail_calls) {
        s->fail_calls--;
        return s->fail_err;
    }
    for (size_t i = 0; i < n; i++)
        if (s->poison && rows[i].key_len == strlen(s->poison) &&
            !memcmp(rows[i].key, s->poison, rows[i].key_len))
            return SL_ESTORE; /* all or none */
    size_t a = 0;
    for (size_t i = 0; i < n; i++) {
        const sl_view_row_t *r = &rows[i];
        s->rows_seen++;
        mrow_t *m = mfind(s, r->key, r->key_len);
        if (m && r->timestamp_ms <= m->ts)
            continue;
        if (!m) {
            cr_assert_lt(s->n, MAXK);
            m = &s->rows[s->n++];
            memset(m, 0, sizeof *m);
            memcpy(m->key, r->key, r->key_len);
        }
        m->ts = r->timestamp_ms;
        m->deleted = r->deleted;
        snprintf(m->type, sizeof m->type, "%.*s", (int)r->type_len, r->type);
        snprintf(m->id, sizeof m->id, "%.*s", (int)r->event_id_len, r->event_id ? r->event_id : "");
        snprintf(m->entity, sizeof m->entity, "%.*s", (int)r->entity_len,
                 r->entity ? r->entity : "");
        cr_assert(r->deleted ? r->entity == NULL : r->entity != NULL);
        a++;
    }
    if (applied)
        *applied = a;
    return 0;
}

static void mdestroy(void *opaque)
{
    ((mstore_t *)opaque)->destroyed = 1;
}

static const sl_store_ops_t mops = {.name = "memory", .apply = mapply, .destroy = mdestroy};

static const char *const thing_types[] = {"thing-created", "thing-updated", "thing-deleted"};

/* A driver with one materialize pipeline over @p s; linger 1000 ms, 500 per batch. */
static sl_test_t *listener(mstore_t *s, const char *key_ptr, const char *entity_ptr)
{
    const char *kv[] = {"source.format", "event", NULL};
    sl_test_t *t = driver(kv);
    sl_pipeline_t *p = sl_pipeline_new("view");
    sl_store_t *st = sl_store_new(&mops, s);
    cr_assert(p && st);
    sl_materialize_opts_t o = {.types = thing_types,
                               .type_count = 3,
                               .match = SL_MATCH_EXACT,
                               .key_pointer = key_ptr,
                               .entity_pointer = entity_ptr,
                               .store = st,
                               .batch = {500, 0, 1000}};
    cr_assert_eq(sl_materialize(p, &o), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    return t;
}

static void push_thing(sl_test_t *t, const char *type, const char *id, int64_t ts, int n)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"id\":\"e-%s-%lld\",\"type\":\"%s\",\"timestamp\":%lld,\"partitionKey\":\"%s\","
             "\"thing\":{\"id\":\"%s\",\"name\":\"Thing %d\",\"n\":%d}}",
             id, (long long)ts, type, (long long)ts, id, id, n, n);
    cr_assert_eq(sl_test_push_str(t, "in", 0, id, buf), 0);
}

Test(materialize, newest_event_per_key_wins_whatever_the_order)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-created", "a", 100, 1);
    push_thing(t, "thing-updated", "a", 300, 3);
    push_thing(t, "thing-updated", "a", 200, 2); /* late: older than 300 */
    sl_test_advance(t, 1000);
    cr_assert_eq(s.calls, 1, "one transaction for the batch");
    cr_assert_eq(s.last_call_rows, 1, "compacted to one row per key");
    mrow_t *a = mfind(&s, "a", 1);
    cr_assert(a);
    cr_assert_eq(a->ts, 300);
    cr_assert_str_eq(a->entity, "{\"id\":\"a\",\"name\":\"Thing 3\",\"n\":3}");
    cr_assert_str_eq(a->type, "thing-updated");
    cr_assert_str_eq(a->id, "e-a-300");
    /* A replay of older events in a later batch changes nothing. */
    push_thing(t, "thing-updated", "a", 200, 2);
    push_thing(t, "thing-created", "a", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_eq(a->ts, 300);
    cr_assert_str_eq(a->entity, "{\"id\":\"a\",\"name\":\"Thing 3\",\"n\":3}");
    cr_assert_eq(sl_test_committed(t, "in", 0), 5, "every event done");
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t);
    cr_assert(s.destroyed, "the pipeline owns the store");
}

Test(materialize, equal_timestamps_keep_the_later_event_within_a_batch)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-updated", "k", 500, 1);
    push_thing(t, "thing-updated", "k", 500, 2);
    sl_test_advance(t, 1000);
    cr_assert_str_eq(mfind(&s, "k", 1)->entity, "{\"id\":\"k\",\"name\":\"Thing 2\",\"n\":2}");
    sl_test_destroy(t);
}

Test(materialize, deleted_type_removes_and_older_upsert_stays_out)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-created", "d", 100, 1);
    sl_test_advance(t, 1000);
    push_thing(t, "thing-deleted", "d", 200, 1);
    sl_test_advance(t, 1000);
    mrow_t *d = mfind(&s, "d", 1);
    cr_assert(d->deleted);
    cr_assert_eq(d->ts, 200);
    push_thing(t, "thing-updated", "d", 150, 9); /* older than the delete */
    sl_test_advance(t, 1000);
    cr_assert(d->deleted, "an update older than the delete is a no-op");
    push_thing(t, "thing-created", "d", 250, 7);
    sl_test_advance(t, 1000);
    cr_assert_not(d->deleted, "a newer event brings it back");
    sl_test_destroy(t);
}

Test(materialize, many_keys_one_row_each_in_first_appearance_order)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    char id[16];
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 40; k++) {
            snprintf(id, sizeof id, "k%02d", k);
            push_thing(t, "thing-updated", id, 1000 + round * 100 + k, round);
        }
    sl_test_advance(t, 1000);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.last_call_rows, 40);
    cr_assert_eq(s.n, 40);
    for (int k = 0; k < 40; k++) {
        cr_assert_eq(s.rows[k].key[1] - '0', k / 10, "first-appearance order");
        cr_assert_eq(s.rows[k].ts, 1200 + k, "newest round");
    }
    sl_test_destroy(t);
}

Test(materialize, other_types_are_skipped)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "other-created", "x", 100, 1);
    push_thing(t, "thing-created", "y", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_null(mfind(&s, "x", 1));
    cr_assert(mfind(&s, "y", 1));
    cr_assert_eq(sl_test_committed(t, "in", 0), 2);
    sl_test_destroy(t);
}

Test(materialize, unusable_events_become_faults_and_the_rest_lands)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    const char *bad[] = {
        "{\"type\":\"thing-created\",\"timestamp\":1,\"thing\":{\"name\":\"no id\"}}",
        "{\"type\":\"thing-created\",\"timestamp\":1,\"thing\":{\"id\":{\"a\":1}}}",
        "{\"type\":\"thing-created\",\"timestamp\":1,\"thing\":{\"id\":\"\"}}",
        "{\"type\":\"thing-created\",\"thing\":{\"id\":\"no-ts\"}}",
    };
    const char *why[] = {"no value at the key pointer", "neither a string nor an integer",
                         "key is empty", "no timestamp"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", bad[i]), 0);
        push_thing(t, "thing-created", "good", 100 + (int64_t)i, (int)i);
    }
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k",
                                  "{\"type\":\"thing-created\",\"timestamp\":5,"
                                  "\"thing\":{\"id\":42,\"v\":true}}"),
                 0);
    sl_test_advance(t, 1000);
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), 4);
    for (size_t i = 0; i < 4; i++) {
        const sl_test_msg_t *m = sl_test_sink_msg(f, i);
        cr_assert(strstr(m->value, why[i]), "fault %zu says why: %s", i, m->value);
    }
    cr_assert_eq(mfind(&s, "good", 4)->ts, 103);
    mrow_t *n = mfind(&s, "42", 2);
    cr_assert(n, "an integer key is stored as its text");
    cr_assert_str_eq(n->entity, "{\"id\":42,\"v\":true}");
    cr_assert_eq(sl_test_committed(t, "in", 0), 9);
    sl_test_destroy(t);
}

Test(materialize, entity_pointer_choices)
{
    mstore_t s1 = {0}, s2 = {0};
    sl_test_t *t = listener(&s1, "/thing/id", "/thing/name");
    push_thing(t, "thing-created", "a", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_str_eq(mfind(&s1, "a", 1)->entity, "\"Thing 1\"");
    sl_test_destroy(t);
    /* A one-token key pointer stores the whole event. */
    t = listener(&s2, "/partitionKey", NULL);
    push_thing(t, "thing-created", "b", 100, 1);
    sl_test_advance(t, 1000);
    mrow_t *b = mfind(&s2, "b", 1);
    cr_assert(b);
    cr_assert(strstr(b->entity, "\"type\":\"thing-created\""), "%s", b->entity);
    sl_test_destroy(t);
}

Test(materialize, pointer_escapes_and_array_indexes)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/x~1y/0/k~0", "/x~1y/0");
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k",
                                  "{\"type\":\"thing-created\",\"timestamp\":7,"
                                  "\"x/y\":[{\"k~\":\"deep\",\"v\":1}]}"),
                 0);
    sl_test_advance(t, 1000);
    mrow_t *r = mfind(&s, "deep", 4);
    cr_assert(r);
    cr_assert_str_eq(r->entity, "{\"k~\":\"deep\",\"v\":1}");
    sl_test_destroy(t);
}

Test(materialize, retriable_store_errors_are_retried_then_land)
{
    mstore_t s = {.fail_calls = 2, .fail_err = SL_EBUSY};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-created", "r", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_null(mfind(&s, "r", 1));
    cr_assert_eq(sl_test_committed(t, "in", 0), -1, "not done while the store is busy");
    for (int i = 0; i < 20 && !mfind(&s, "r", 1); i++)
        sl_test_advance(t, 1000);
    cr_assert(mfind(&s, "r", 1), "landed after the retries");
    cr_assert_eq(s.calls, 3);
    cr_assert_eq(sl_test_committed(t, "in", 0), 1);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t);
}

/* The end of a test with a failing row: key "bad" is not in the view, the
 * first of @p nfaults faults (@p why) names SL_ESTORE, and "in"/0 is
 * committed to @p committed all the same. Destroys @p t. */
static void bad_key_faulted(sl_test_t *t, mstore_t *s, size_t nfaults, int64_t committed,
                            const char *why)
{
    cr_assert_null(mfind(s, "bad", 3));
    sl_test_sink_t *f = sl_test_faults(t);
    cr_assert_eq(sl_test_sink_count(f), nfaults, "%s", why);
    cr_assert(strstr(sl_test_sink_msg(f, 0)->value, "SL_ESTORE"));
    cr_assert_eq(sl_test_committed(t, "in", 0), committed);
    sl_test_destroy(t);
}

Test(materialize, a_permanently_failing_row_faults_alone)
{
    mstore_t s = {.poison = "bad"};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-created", "ok1", 100, 1);
    push_thing(t, "thing-created", "bad", 100, 1);
    push_thing(t, "thing-updated", "bad", 110, 2);
    push_thing(t, "thing-created", "ok2", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert(mfind(&s, "ok1", 3));
    cr_assert(mfind(&s, "ok2", 3));
    bad_key_faulted(t, &s, 2, 4, "both events of the bad key fault");
}

Test(materialize, bad_options_are_rejected_and_the_store_stays_with_the_caller)
{
    mstore_t s = {0};
    sl_store_t *st = sl_store_new(&mops, &s);
    sl_pipeline_t *p = sl_pipeline_new("v");
    sl_materialize_opts_t o = {.key_pointer = "thing/id", .store = st};
    cr_assert_eq(sl_materialize(p, &o), SL_EINVAL, "a pointer starts with '/'");
    o.key_pointer = "/a~2b";
    cr_assert_eq(sl_materialize(p, &o), SL_EINVAL, "~2 is not an escape");
    o.key_pointer = NULL;
    cr_assert_eq(sl_materialize(p, &o), SL_EINVAL);
    o.key_pointer = "/id";
    o.store = NULL;
    cr_assert_eq(sl_materialize(p, &o), SL_EINVAL);
    cr_assert_eq(s.destroyed, 0);
    sl_pipeline_destroy(p);
    sl_store_destroy(st);
    cr_assert_eq(s.destroyed, 1);
}

/* Regression: the sink's key table is sized per write; a smaller write after
 * a larger one once probed stale slots of the larger one and lost rows. */
Test(materialize, a_smaller_batch_after_a_larger_one_applies_every_row)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    char id[16];
    for (int k = 0; k < 60; k++) {
        snprintf(id, sizeof id, "k%02d", k);
        push_thing(t, "thing-created", id, 1000 + k, 1);
    }
    sl_test_advance(t, 1000);
    cr_assert_eq(s.n, 60);
    for (int round = 2; round < 6; round++) {
        for (int k = 0; k < 60; k += 7) {
            snprintf(id, sizeof id, "k%02d", k);
            push_thing(t, "thing-updated", id, 1000 * round + k, round);
        }
        sl_test_advance(t, 1000);
        for (int k = 0; k < 60; k += 7) {
            snprintf(id, sizeof id, "k%02d", k);
            cr_assert_eq(mfind(&s, id, 3)->ts, 1000 * round + k, "%s in round %d", id, round);
        }
    }
    sl_test_destroy(t);
}

/* A listener on @p s whose executor holds jobs, after one record: its
 * write is a job, pending. */
static sl_test_t *first_write_held(mstore_t *s)
{
    sl_test_t *t = listener(s, "/thing/id", NULL);
    sl_test_hold_jobs(t, 1);
    push_thing(t, "thing-created", "a", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_jobs_pending(t), 1, "the first write is a job");
    return t;
}

/* A turn of the store takes the writes queued when it runs: while one
 * has not yet run, no other is submitted for the writes behind it, and
 * they apply with it, in write order. The driver's executor holds jobs
 * here so the test can look (it runs a job's work and done together; the
 * threaded executor below runs them apart). */
Test(materialize, writes_queued_before_a_turn_runs_go_with_it_in_order)
{
    mstore_t s = {0};
    sl_test_t *t = first_write_held(&s);
    cr_assert_eq(s.calls, 0, "not applied inside the sink write");
    push_thing(t, "thing-updated", "a", 200, 2);
    push_thing(t, "thing-created", "b", 150, 1);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_jobs_pending(t), 1, "the turn not yet run takes the second write too");
    cr_assert_eq(sl_test_committed(t, "in", 0), -1, "nothing done before its apply");
    cr_assert_eq(sl_test_run_jobs(t), 1, "one turn");
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.last_call_rows, 3, "a, then a and b, in one apply");
    cr_assert_eq(mfind(&s, "a", 1)->ts, 200, "applied in write order");
    cr_assert_eq(sl_test_committed(t, "in", 0), 3);
    sl_test_destroy(t);
}

/* Group commit: the writes queued when a turn runs go to the store
 * together, in one apply, in write order (so the newest-wins rule holds
 * across them: an older event of a later write stays out). */
Test(materialize, writes_queued_when_a_turn_runs_apply_together_in_order)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    sl_test_hold_jobs(t, 1);
    push_thing(t, "thing-created", "a", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_jobs_pending(t), 1, "the first write is a job");
    push_thing(t, "thing-updated", "a", 200, 2); /* write 2 */
    sl_test_advance(t, 1000);
    push_thing(t, "thing-updated", "a", 150, 3); /* write 3: older than write 2 */
    push_thing(t, "thing-created", "b", 150, 1);
    sl_test_advance(t, 1000);
    push_thing(t, "thing-created", "c", 150, 1); /* write 4 */
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_jobs_pending(t), 1, "writes 2 to 4 wait with the first");
    cr_assert_eq(sl_test_run_jobs(t), 1, "one turn for the four writes");
    cr_assert_eq(s.calls, 1, "one apply for four writes");
    cr_assert_eq(s.last_call_rows, 5, "a, a, a and b, c: each write's rows, in order");
    cr_assert_eq(mfind(&s, "a", 1)->ts, 200, "the older event of a later write stays out");
    cr_assert_str_eq(mfind(&s, "a", 1)->entity, "{\"id\":\"a\",\"name\":\"Thing 2\",\"n\":2}");
    cr_assert(mfind(&s, "b", 1) && mfind(&s, "c", 1));
    cr_assert_eq(sl_test_committed(t, "in", 0), 5);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    sl_test_destroy(t);
}

/* A group that fails for good is applied again write by write: only the
 * bad row's events fault, the other writes of the group land. */
Test(materialize, a_failing_group_costs_only_the_bad_rows)
{
    mstore_t s = {.poison = "bad"};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    sl_test_hold_jobs(t, 1);
    push_thing(t, "thing-created", "first", 100, 1);
    sl_test_advance(t, 1000);
    push_thing(t, "thing-created", "x", 100, 1); /* write 2 */
    sl_test_advance(t, 1000);
    push_thing(t, "thing-created", "bad", 100, 1); /* write 3 */
    push_thing(t, "thing-created", "y", 100, 1);
    sl_test_advance(t, 1000);
    push_thing(t, "thing-created", "z", 100, 1); /* write 4 */
    sl_test_advance(t, 1000);
    sl_test_run_jobs(t);
    cr_assert(mfind(&s, "first", 5) && mfind(&s, "x", 1) && mfind(&s, "y", 1) && mfind(&s, "z", 1));
    bad_key_faulted(t, &s, 1, 5, "only the bad row's event faults");
}

/* A write still queued when the driver goes is cancelled, never applied. */
Test(materialize, queued_writes_are_cancelled_at_destroy)
{
    mstore_t s = {0};
    sl_test_t *t = first_write_held(&s);
    sl_test_destroy(t);
    cr_assert_eq(s.calls, 0);
    cr_assert_eq(s.destroyed, 1);
}

/* The per-row search for a permanently failing row stops at the first
 * retriable error: with the database busy, one row waits out the busy
 * timeout, not every row of the batch in turn (500 rows x 5 s). Those rows
 * are retried as they are, and land once the store is free. */
Test(materialize, a_busy_store_ends_the_per_row_search_at_once)
{
    mstore_t s = {.poison = "bad", .busy_from = 2};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    push_thing(t, "thing-created", "ok1", 100, 1);
    push_thing(t, "thing-created", "bad", 100, 1);
    push_thing(t, "thing-created", "ok2", 100, 1);
    push_thing(t, "thing-created", "ok3", 100, 1);
    sl_test_advance(t, 1000);
    cr_assert_eq(s.calls, 2, "the batch, then one row: %zu calls", s.calls);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0, "busy is not a fault");
    cr_assert_eq(sl_test_committed(t, "in", 0), -1);
    s.busy_from = 0;
    for (int i = 0; i < 20 && sl_test_committed(t, "in", 0) < 4; i++)
        sl_test_advance(t, 1000);
    cr_assert(mfind(&s, "ok1", 3) && mfind(&s, "ok2", 3) && mfind(&s, "ok3", 3));
    cr_assert_null(mfind(&s, "bad", 3));
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1, "the bad row faults alone");
    cr_assert_eq(sl_test_committed(t, "in", 0), 4);
    sl_test_destroy(t);
}

/* Found by fuzz_materialize: of duplicate members the pointer took the first,
 * while the envelope scanner and jansson (the event body stages see) take
 * the last; one event then had two readings. */
/* Strings with escaped quotes and backslash runs before the key and around
 * the entity are skipped whole: a quote after an odd run of backslashes
 * does not close its string, one after an even run does. */
Test(materialize, escaped_quotes_and_backslashes_are_skipped_exactly)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    const char *ev = "{\"type\":\"thing-created\",\"timestamp\":7,"
                     "\"note\":\"a \\\"thing\\\": {\\\"id\\\":1} \\\\\","
                     "\"thing\":{\"q\":\"\\\\\\\"id\\\":\\\"no\\\\\",\"id\":\"yes\"},"
                     "\"after\":\"\\\\\\\\\"}";
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", ev), 0, "%s", ev);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    mrow_t *r = mfind(&s, "yes", 3);
    cr_assert(r, "the key inside \"thing\" was not found");
    cr_assert_str_eq(r->entity, "{\"q\":\"\\\\\\\"id\\\":\\\"no\\\\\",\"id\":\"yes\"}");
    sl_test_destroy(t);
}

Test(materialize, duplicate_members_read_as_the_scanner_reads_them)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k",
                                  "{\"type\":\"thing-created\",\"timestamp\":7,"
                                  "\"thing\":{\"id\":\"first\",\"v\":1},"
                                  "\"thing\":{\"id\":\"x\",\"id\":\"last\",\"v\":2}}"),
                 0);
    sl_test_advance(t, 1000);
    cr_assert_null(mfind(&s, "first", 5));
    mrow_t *r = mfind(&s, "last", 4);
    cr_assert(r, "the key of the last member was not used");
    cr_assert_str_eq(r->entity, "{\"id\":\"x\",\"id\":\"last\",\"v\":2}");
    sl_test_destroy(t);
}

/* The entity and its key come from one walk of the event: only the last
 * member of the entity's name counts, whatever an earlier one held. */
Test(materialize, an_earlier_entity_never_lends_its_key)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    const char *bad[] = {
        /* the last "thing" has no id; the first one had */
        "{\"type\":\"thing-created\",\"timestamp\":7,\"thing\":{\"id\":\"early\"},"
        "\"thing\":{\"v\":1}}",
        /* the last "thing" is no object */
        "{\"type\":\"thing-created\",\"timestamp\":7,\"thing\":{\"id\":\"early\"},"
        "\"thing\":[\"id\"]}",
        "{\"type\":\"thing-created\",\"timestamp\":7,\"thing\":{\"id\":\"early\"},"
        "\"thing\":\"early\"}",
        /* "id" is the entity's member, not a member of its members */
        "{\"type\":\"thing-created\",\"timestamp\":7,\"thing\":{\"in\":{\"id\":\"deep\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, "k", bad[i]), 0, "%s", bad[i]);
    /* an id that is an object ends the walk of the entity at its end */
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k",
                                  "{\"type\":\"thing-created\",\"timestamp\":8,\"thing\":"
                                  "{\"id\":\"ok\",\"in\":{\"id\":\"no\",\"x\":[{}]},\"z\":2},"
                                  "\"after\":{\"id\":\"no\"}}"),
                 0);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 4);
    cr_assert_null(mfind(&s, "early", 5));
    cr_assert_null(mfind(&s, "deep", 4));
    cr_assert_null(mfind(&s, "no", 2));
    mrow_t *r = mfind(&s, "ok", 2);
    cr_assert(r, "the key of the entity was not found");
    cr_assert_str_eq(r->entity, "{\"id\":\"ok\",\"in\":{\"id\":\"no\",\"x\":[{}]},\"z\":2}");
    sl_test_destroy(t);
}

/* Strings are skipped sixteen bytes at a time, then eight, then byte by
 * byte: an escaped quote or backslash on either side of a step's boundary,
 * or straddling it, never ends a string early or late (a fake member inside
 * the string would then be read). */
Test(materialize, escapes_around_word_boundaries_are_skipped_exactly)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/thing/id", NULL);
    const char *esc[] = {"\\\"", "\\\\", "\\\\\\\"", "\\u0041"};
    int pushed = 0;
    for (int at = 9; at <= 40; at++)
        for (size_t x = 0; x < sizeof esc / sizeof esc[0]; x++) {
            char note[128], ev[512], key[32];
            memset(note, 'a', (size_t)at);
            snprintf(note + at, sizeof note - (size_t)at, "%s\\\",\\\"thing\\\":{\\\"id\\\":1}",
                     esc[x]);
            snprintf(key, sizeof key, "k-%d-%zu", at, x);
            snprintf(ev, sizeof ev,
                     "{\"type\":\"thing-created\",\"timestamp\":7,\"note\":\"%s\","
                     "\"thing\":{\"d\":\"%s\",\"id\":\"%s\"}}",
                     note, note, key);
            cr_assert_eq(sl_test_push_str(t, "in", 0, key, ev), 0, "%s", ev);
            pushed++;
        }
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 0);
    for (int at = 9; at <= 40; at++)
        for (size_t x = 0; x < 4; x++) {
            char key[32];
            snprintf(key, sizeof key, "k-%d-%zu", at, x);
            cr_assert(mfind(&s, key, strlen(key)), "%s was not found", key);
        }
    cr_assert_eq(pushed, 32 * 4);
    sl_test_destroy(t);
}

/* A member name as long as the pointer's token matches only when it has no
 * escape: "k\n" (a newline) is not the token k\n (a backslash and an n);
 * "k\\n" is. */
Test(materialize, a_name_as_long_as_the_token_matches_only_without_escapes)
{
    mstore_t s = {0};
    sl_test_t *t = listener(&s, "/k\\n", NULL);
    cr_assert_eq(sl_test_push_str(t, "in", 0, "a",
                                  "{\"type\":\"thing-created\",\"timestamp\":7,\"k\\n\":\"no\"}"),
                 0);
    cr_assert_eq(
        sl_test_push_str(t, "in", 0, "b",
                         "{\"type\":\"thing-created\",\"timestamp\":8,\"k\\\\n\":\"yes\"}"),
        0);
    sl_test_advance(t, 1000);
    cr_assert_eq(sl_test_sink_count(sl_test_faults(t)), 1);
    cr_assert_null(mfind(&s, "no", 2));
    cr_assert(mfind(&s, "yes", 3), "the escaped name did not match");
    sl_test_destroy(t);
}

/* Found by fuzz_materialize: a member name whose escaped text is longer than
 * 256 bytes never matched a pointer token, even when it decodes to one. */
Test(materialize, long_escaped_member_names_match)
{
    mstore_t s = {0};
    char tok[101], ev[1024];
    memset(tok, 'a', 100);
    tok[100] = 0;
    char ptr[128];
    snprintf(ptr, sizeof ptr, "/%s", tok);
    sl_test_t *t = listener(&s, ptr, NULL);
    int n = snprintf(ev, sizeof ev, "{\"type\":\"thing-created\",\"timestamp\":7,\"");
    for (int i = 0; i < 100; i++)
        n += snprintf(ev + n, sizeof ev - (size_t)n, "\\u0061");
    snprintf(ev + n, sizeof ev - (size_t)n, "\":\"key-1\"}");
    cr_assert_eq(sl_test_push_str(t, "in", 0, "k", ev), 0);
    sl_test_advance(t, 1000);
    cr_assert(mfind(&s, "key-1", 5), "the escaped member name did not match");
    sl_test_destroy(t);
}

Test(materialize, events_of_its_own_source_are_skipped)
{
    mstore_t s = {0};
    const char *kv[] = {"source.format", "event", NULL};
    sl_test_t *t = driver(kv);
    sl_pipeline_t *p = sl_pipeline_new("view");
    sl_store_t *st = sl_store_new(&mops, &s);
    sl_materialize_opts_t o = {.key_pointer = "/thing/id",
                               .store = st,
                               .batch = {500, 0, 1000},
                               .skip_source = "my-service"};
    cr_assert_eq(sl_materialize(p, &o), 0);
    cr_assert_eq(sl_test_add_pipeline(t, p), 0);
    const char *in[][2] = {
        {"own", "{\"id\":\"e1\",\"type\":\"thing-updated\",\"timestamp\":1,\"tags\":{\"source\":"
                "\"my-service\"},\"thing\":{\"id\":\"own\"}}"},
        {"esc", "{\"id\":\"e2\",\"type\":\"thing-updated\",\"timestamp\":1,\"tags\":{\"source\":"
                "\"my\\u002dservice\"},\"thing\":{\"id\":\"esc\"}}"},
        {"other", "{\"id\":\"e3\",\"type\":\"thing-updated\",\"timestamp\":1,\"tags\":{\"source\":"
                  "\"my-service-2\"},\"thing\":{\"id\":\"other\"}}"},
        {"none", "{\"id\":\"e4\",\"type\":\"thing-updated\",\"timestamp\":1,"
                 "\"thing\":{\"id\":\"none\"}}"},
        {"num", "{\"id\":\"e5\",\"type\":\"thing-updated\",\"timestamp\":1,\"tags\":{\"source\":7},"
                "\"thing\":{\"id\":\"num\"}}"},
    };
    for (size_t i = 0; i < sizeof in / sizeof *in; i++)
        cr_assert_eq(sl_test_push_str(t, "in", 0, in[i][0], in[i][1]), 0);
    sl_test_advance(t, 1000);
    cr_assert_null(mfind(&s, "own", 3), "its own event is skipped");
    cr_assert_null(mfind(&s, "esc", 3), "escapes are undone before comparing");
    cr_assert(mfind(&s, "other", 5));
    cr_assert(mfind(&s, "none", 4), "no tags: kept");
    cr_assert(mfind(&s, "num", 3), "not a string: kept");
    cr_assert_eq(sl_test_committed(t, "in", 0), 5, "every record done");
    sl_stats_t stats;
    cr_assert_eq(sl_engine_pipeline_stats(sl_test_engine(t), "view", &stats), 0);
    cr_assert_eq(stats.skipped, 2);
    sl_test_destroy(t);

    /* An empty name is refused; the store stays with the caller. */
    mstore_t s2 = {0};
    p = sl_pipeline_new("view");
    st = sl_store_new(&mops, &s2);
    o.store = st;
    o.skip_source = "";
    cr_assert_eq(sl_materialize(p, &o), SL_EINVAL);
    sl_pipeline_destroy(p);
    sl_store_destroy(st);
}

/* ---- turns on real threads ----
 * An executor that runs each job's work on a thread of its own, at once,
 * and leaves its done to the test (an engine thread busy elsewhere), and a
 * store whose first apply waits at a gate: the store's next turn must not
 * wait for the engine to take the first one's done. */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sl_job_t jobs[8];
    pthread_t th[8];
    int worked[8];
    size_t n;
    /* the store */
    int gate_open;
    int in_apply, max_in_apply;
    size_t calls;
    char seen[32][8]; /* row keys, in apply order */
    size_t nseen;
} tx_t;

typedef struct {
    tx_t *x;
    size_t i;
} tx_arg_t;

static void *tx_thread(void *arg)
{
    tx_arg_t *a = arg;
    tx_t *x = a->x;
    size_t i = a->i;
    free(a);
    x->jobs[i].work(x->jobs[i].arg);
    pthread_mutex_lock(&x->mu);
    x->worked[i] = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static int tx_submit(void *opaque, const sl_job_t *job)
{
    tx_t *x = opaque;
    pthread_mutex_lock(&x->mu);
    size_t i = x->n;
    cr_assert_lt(i, 8);
    x->jobs[i] = *job;
    x->n++;
    pthread_mutex_unlock(&x->mu);
    tx_arg_t *a = malloc(sizeof *a);
    cr_assert(a);
    a->x = x;
    a->i = i;
    cr_assert_eq(pthread_create(&x->th[i], NULL, tx_thread, a), 0);
    return 0;
}

static int tx_apply(void *opaque, const sl_view_row_t *rows, size_t n, size_t *applied)
{
    tx_t *x = opaque;
    pthread_mutex_lock(&x->mu);
    x->in_apply++;
    if (x->in_apply > x->max_in_apply)
        x->max_in_apply = x->in_apply;
    size_t call = ++x->calls;
    pthread_cond_broadcast(&x->cv);
    while (call == 1 && !x->gate_open)
        pthread_cond_wait(&x->cv, &x->mu);
    for (size_t i = 0; i < n && x->nseen < 32; i++)
        snprintf(x->seen[x->nseen++], sizeof x->seen[0], "%.*s", (int)rows[i].key_len, rows[i].key);
    x->in_apply--;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (applied)
        *applied = n;
    return 0;
}

/* Waits (10 s at most) until @p cond holds, under x->mu. */
#define TX_WAIT(x, cond, what)                                                                     \
    do {                                                                                           \
        struct timespec dl_;                                                                       \
        clock_gettime(CLOCK_REALTIME, &dl_);                                                       \
        dl_.tv_sec += 10;                                                                          \
        pthread_mutex_lock(&(x)->mu);                                                              \
        int rc_ = 0;                                                                               \
        while (!(cond) && rc_ == 0)                                                                \
            rc_ = pthread_cond_timedwait(&(x)->cv, &(x)->mu, &dl_);                                \
        int ok_ = (cond);                                                                          \
        pthread_mutex_unlock(&(x)->mu);                                                            \
        cr_assert(ok_, "waited 10 s for %s", what);                                                \
    } while (0)

static int tx_fault_write(void *opaque, sl_uow_t *const *uows, size_t n)
{
    (void)opaque;
    cr_assert_fail("a fault was written (%zu)", n);
    for (size_t i = 0; i < n; i++)
        sl_uow_ack(uows[i], 0);
    return 0;
}

static void tx_push(sl_engine_t *e, int64_t off, const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\"id\":\"e-%s\",\"type\":\"thing-created\",\"timestamp\":%lld,"
             "\"thing\":{\"id\":\"%s\"}}",
             id, (long long)(100 + off), id);
    sl_record_t r = {
        .topic = "in", .partition = 0, .offset = off, .value = buf, .value_len = strlen(buf)};
    cr_assert_eq(sl_engine_push(e, &r), 0);
}

static void tx_release(void *opaque, const sl_record_t *rec, int done)
{
    (void)opaque;
    (void)rec;
    (void)done;
}

Test(materialize, the_next_turn_applies_while_the_engine_has_not_taken_the_last_ones_done)
{
    tx_t x = {0};
    pthread_mutex_init(&x.mu, NULL);
    pthread_cond_init(&x.cv, NULL);
    char err[256];
    sl_conf_t *c = sl_conf_new();
    cr_assert_eq(sl_conf_set(c, "source.format", "event", err, sizeof err), 0);
    sl_engine_t *e = sl_engine_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(e, "%s", err);
    static const sl_store_ops_t ops = {.name = "gated", .apply = tx_apply};
    static const sl_sink_ops_t fops = {.name = "faults", .write = tx_fault_write};
    sl_sink_t *faults = sl_sink_new(&fops, NULL);
    sl_source_ops_t src = {tx_release, NULL};
    sl_executor_t ex = {tx_submit, &x};
    sl_pipeline_t *p = sl_pipeline_new("view");
    sl_store_t *st = sl_store_new(&ops, &x);
    cr_assert(faults && p && st);
    /* one uow per write: each push is a write */
    sl_materialize_opts_t o = {.key_pointer = "/thing/id", .store = st, .batch = {1, 0, 1000}};
    cr_assert_eq(sl_materialize(p, &o), 0);
    cr_assert_eq(sl_engine_add_pipeline(e, p), 0);
    cr_assert_eq(sl_engine_set_source(e, &src, NULL), 0);
    cr_assert_eq(sl_engine_set_executor(e, &ex), 0);
    cr_assert_eq(sl_engine_set_fault_sink(e, faults), 0);
    cr_assert_eq(sl_engine_start(e, err, sizeof err), 0, "%s", err);

    char b[4][256];
    tx_push(e, 0, "a", b[0], sizeof b[0]);
    TX_WAIT(&x, x.calls == 1, "the first turn in its apply");
    tx_push(e, 1, "b", b[1], sizeof b[1]);
    tx_push(e, 2, "c", b[2], sizeof b[2]);
    pthread_mutex_lock(&x.mu);
    size_t submitted = x.n;
    pthread_mutex_unlock(&x.mu);
    cr_assert_eq(submitted, 2, "a second turn is out while the first applies (%zu)", submitted);
    pthread_mutex_lock(&x.mu);
    x.gate_open = 1;
    pthread_cond_broadcast(&x.cv);
    pthread_mutex_unlock(&x.mu);
    /* the engine's thread (this one) has not run the first turn's done */
    TX_WAIT(&x, x.worked[0] && x.worked[1], "both turns' work");
    cr_assert_eq(x.calls, 2, "the second turn applied b and c before the first's done");
    cr_assert_eq(x.max_in_apply, 1, "applies never overlap");
    cr_assert_eq(x.nseen, 3);
    cr_assert_str_eq(x.seen[0], "a");
    cr_assert_str_eq(x.seen[1], "b", "in write order");
    cr_assert_str_eq(x.seen[2], "c", "in write order");
    cr_assert_eq(sl_engine_watermark(e, "in", 0), -1, "nothing done before a done ran");
    for (size_t i = 0; i < 2; i++) {
        pthread_join(x.th[i], NULL);
        x.jobs[i].done(x.jobs[i].arg, 0);
    }
    cr_assert_eq(x.n, 2, "nothing left to take: no third turn");
    cr_assert_eq(sl_engine_watermark(e, "in", 0), 3, "all three done");
    sl_stats_t stt;
    sl_engine_stats(e, &stt);
    cr_assert_eq(stt.records_done, 3);
    cr_assert_eq(stt.faults, 0);
    sl_engine_destroy(e);
    sl_sink_destroy(faults);
    pthread_cond_destroy(&x.cv);
    pthread_mutex_destroy(&x.mu);
}
