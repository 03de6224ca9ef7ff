/* The Kinesis lease table's port (lib/kinesis/lease.h) on both
 * implementations: every change is a conditional write on the counter, so a
 * worker whose lease was taken can never write its checkpoint. SQLite on
 * real files (a file of the layout before leases is upgraded in place);
 * DynamoDB on dynalite (npm, started with kinesalite by
 * tests/kinesis/server). */
#include "kinesis_helpers.h"

#include <sqlite3.h>

#include "kinesis/lease.h"

TestSuite(kin_lease, .timeout = 60);

static char g_dir[64];

static void setup(void)
{
    tu_mkdtemp(g_dir, sizeof g_dir, "sluice-lease");
}

static void teardown(void)
{
    cr_assert_eq(tu_rmtree(g_dir), 0);
}

typedef struct got_s {
    char shard[8][32], owner[8][32], ckpt[8][64], parents[8][64];
    int64_t counter[8];
    int n;
} got_t;

static int collect(void *opaque, const sl__lease_t *l)
{
    got_t *g = opaque;
    cr_assert_lt(g->n, 8);
    snprintf(g->shard[g->n], 32, "%s", l->shard);
    snprintf(g->owner[g->n], 32, "%s", l->owner ? l->owner : "");
    snprintf(g->ckpt[g->n], 64, "%s", l->ckpt ? l->ckpt : "");
    snprintf(g->parents[g->n], 64, "%s", l->parents ? l->parents : "");
    g->counter[g->n] = l->counter;
    g->n++;
    return 0;
}

static got_t list(sl__lease_store_t *s)
{
    got_t g;
    memset(&g, 0, sizeof g);
    cr_assert_eq(s->ops->list(s->st, "app", "st", collect, &g), 0);
    return g;
}

static void open_store(const char *file, sl__lease_store_t *s)
{
    char spec[128], err[256];
    snprintf(spec, sizeof spec, "sqlite:%s/%s", g_dir, file);
    int rc = sl__lease_open(spec, s, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(s->ops->kind, "sqlite");
}

/* The fencing at the heart of leases: w1 holds the lease, w2 steals it (a
 * write on the counter it saw); w1's checkpoint, written on the counter it
 * knew, is refused (SL__LEASE_LOST) and the stored checkpoint is w2's
 * history, never w1's. Two handles on one store, as two processes. */
static void fencing(sl__lease_store_t a, sl__lease_store_t b)
{
    cr_assert_eq(a.ops->create(a.st, "app", "st", "shard-0", NULL), 0);
    cr_assert_eq(b.ops->create(b.st, "app", "st", "shard-0", NULL), 0, "creating twice is fine");
    got_t g = list(&a);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.counter[0], 0);
    cr_assert_str_eq(g.owner[0], "");
    cr_assert_str_eq(g.ckpt[0], "");

    /* w1 takes it (counter 0 -> 1) and checkpoints (1 -> 2). */
    cr_assert_eq(a.ops->update(a.st, "app", "st", "shard-0", 0, "w1", NULL), 0);
    cr_assert_eq(a.ops->update(a.st, "app", "st", "shard-0", 1, "w1", "100"), 0);
    /* w2 with a stale counter loses; with the counter it saw it steals. */
    cr_assert_eq(b.ops->update(b.st, "app", "st", "shard-0", 0, "w2", NULL), SL__LEASE_LOST);
    g = list(&b);
    cr_assert_eq(g.counter[0], 2);
    cr_assert_str_eq(g.owner[0], "w1");
    cr_assert_eq(b.ops->update(b.st, "app", "st", "shard-0", g.counter[0], "w2", NULL), 0);

    /* w1 still thinks it holds counter 2: its checkpoint and its renewal are refused. */
    cr_assert_eq(a.ops->update(a.st, "app", "st", "shard-0", 2, "w1", "200"), SL__LEASE_LOST);
    cr_assert_eq(a.ops->update(a.st, "app", "st", "shard-0", 2, "w1", NULL), SL__LEASE_LOST);
    g = list(&a);
    cr_assert_str_eq(g.owner[0], "w2");
    cr_assert_str_eq(g.ckpt[0], "100", "w1's refused checkpoint was not stored");
    cr_assert_eq(g.counter[0], 3);

    /* w2 checkpoints and releases (owner cleared, checkpoint kept). */
    cr_assert_eq(b.ops->update(b.st, "app", "st", "shard-0", 3, "w2", "300"), 0);
    cr_assert_eq(b.ops->update(b.st, "app", "st", "shard-0", 4, NULL, NULL), 0);
    g = list(&a);
    cr_assert_str_eq(g.owner[0], "");
    cr_assert_str_eq(g.ckpt[0], "300");
    cr_assert_eq(g.counter[0], 5);
    /* A lease that does not exist cannot be written either. */
    cr_assert_eq(a.ops->update(a.st, "app", "st", "nope", 0, "w1", NULL), SL__LEASE_LOST);
    /* Creating again keeps the lease as it is. */
    cr_assert_eq(a.ops->create(a.st, "app", "st", "shard-0", NULL), 0);
    g = list(&a);
    cr_assert_eq(g.counter[0], 5);
    cr_assert_str_eq(g.ckpt[0], "300");
    /* Parents are kept; another application's leases are apart. */
    cr_assert_eq(a.ops->create(a.st, "app", "st", "shard-9", "shard-0,shard-1"), 0);
    cr_assert_eq(b.ops->create(b.st, "other", "st", "shard-0", NULL), 0);
    g = list(&b);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.parents[1], "shard-0,shard-1");
    sl__lease_close(&a);
    sl__lease_close(&b);
}

Test(kin_lease, a_worker_whose_lease_was_stolen_cannot_checkpoint_sqlite, .init = setup,
     .fini = teardown)
{
    sl__lease_store_t a, b;
    open_store("l.db", &a);
    open_store("l.db", &b);
    fencing(a, b);
}

/* The same on DynamoDB (dynalite): the table is created by the first
 * opening; the conditional writes are ConditionExpressions on leaseCounter. */
Test(kin_lease, a_worker_whose_lease_was_stolen_cannot_checkpoint_dynamodb, .init = setup,
     .fini = teardown)
{
    kk_server_t srv;
    kk_start(&srv, NULL);
    cr_assert(srv.dynalite[0], "the test server runs dynalite");
    setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.dynalite, 1);
    kk_env(NULL);
    sl__lease_store_t a, b;
    char err[256] = "";
    cr_assert_eq(sl__lease_open("dynamodb:leases", &a, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.ops->kind, "dynamodb");
    cr_assert_eq(sl__lease_open("dynamodb:leases", &b, err, sizeof err), 0, "%s", err);
    fencing(a, b);
    /* Unreachable: a clear error at open. */
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9", 1);
    err[0] = 0;
    cr_assert_eq(sl__lease_open("dynamodb:leases", &a, err, sizeof err), SL_EIO);
    cr_assert(strstr(err, "127.0.0.1:9"), "%s", err);
    kk_stop(&srv);
}

/* Two workers race for the same lease on the counter both saw: exactly one wins. */
Test(kin_lease, of_two_takes_on_one_counter_exactly_one_wins, .init = setup, .fini = teardown)
{
    sl__lease_store_t a, b;
    open_store("l.db", &a);
    open_store("l.db", &b);
    for (int i = 0; i < 50; i++) {
        char shard[16];
        snprintf(shard, sizeof shard, "s%d", i);
        cr_assert_eq(a.ops->create(a.st, "app", "race", shard, "p0,p1"), 0);
        int ra = a.ops->update(a.st, "app", "race", shard, 0, "w1", NULL);
        int rb = b.ops->update(b.st, "app", "race", shard, 0, "w2", NULL);
        cr_assert((ra == 0) != (rb == 0), "one winner (%d, %d)", ra, rb);
        cr_assert(ra == SL__LEASE_LOST || rb == SL__LEASE_LOST);
    }
    got_t g;
    memset(&g, 0, sizeof g);
    cr_assert_eq(a.ops->list(a.st, "app", "st", collect, &g), 0);
    cr_assert_eq(g.n, 0, "another stream's leases are apart");
    sl__lease_close(&a);
    sl__lease_close(&b);
}

/* A checkpoint file of the layout before leases (sluice <= this change):
 * opened, it is upgraded in place; its checkpoints become leases owned by
 * nobody, counter 0, taken at once by the first worker. */
Test(kin_lease, a_checkpoint_file_of_the_old_layout_is_upgraded, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof path, "%s/old.db", g_dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "PRAGMA journal_mode=WAL;"
                              "CREATE TABLE checkpoints (application TEXT NOT NULL, stream TEXT "
                              "NOT NULL, shard TEXT NOT NULL, sequence TEXT NOT NULL, updated_at "
                              "INTEGER NOT NULL, PRIMARY KEY (application, stream, shard));"
                              "INSERT INTO checkpoints VALUES ('app', 'st', 'shard-1', '4242', 1),"
                              " ('app', 'st', 'shard-0', 'SHARD_END', 1);",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
    sl__lease_store_t a, b;
    open_store("old.db", &a);
    open_store("old.db", &b); /* a second opening finds it upgraded */
    got_t g = list(&a);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.shard[0], "shard-0");
    cr_assert_str_eq(g.ckpt[0], SL__CKPT_SHARD_END);
    cr_assert_str_eq(g.shard[1], "shard-1");
    cr_assert_str_eq(g.ckpt[1], "4242");
    cr_assert_str_eq(g.owner[1], "");
    cr_assert_eq(g.counter[1], 0);
    cr_assert_eq(b.ops->update(b.st, "app", "st", "shard-1", 0, "w1", NULL), 0);
    g = list(&a);
    cr_assert_str_eq(g.owner[1], "w1");
    cr_assert_str_eq(g.ckpt[1], "4242");
    sl__lease_close(&a);
    sl__lease_close(&b);
}

/* A store that cannot be opened is a clear error, not a wait. */
Test(kin_lease, a_bad_spec_or_file_is_a_clear_error, .init = setup, .fini = teardown)
{
    sl__lease_store_t s;
    char err[256] = "";
    cr_assert_eq(sl__lease_open("redis:x", &s, err, sizeof err), SL_EINVAL);
    cr_assert(strstr(err, "sqlite:PATH or dynamodb:TABLE"), "%s", err);
    char spec[160], path[128];
    snprintf(path, sizeof path, "%s/junk.db", g_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("this is not a database, not at all, and it is long enough to be read as one\n", f);
    fclose(f);
    snprintf(spec, sizeof spec, "sqlite:%s", path);
    err[0] = 0;
    cr_assert_eq(sl__lease_open(spec, &s, err, sizeof err), SL_ESTORE);
    cr_assert(strstr(err, "junk.db"), "%s", err);
    snprintf(spec, sizeof spec, "sqlite:%s/no/such/dir/l.db", g_dir);
    cr_assert_eq(sl__lease_open(spec, &s, err, sizeof err), SL_ESTORE);
}
