/* SPDX-License-Identifier: MIT */
/* test_store_jobs.c -- the durable job queue of the store (SQLite, and
 * PostgreSQL under the ctest label `pg`): claim order, per-key ordering,
 * lease expiry, retries and dead jobs, the retention purge, enqueue atomic
 * with the write job that causes it, hostile input (kinds, keys, payload
 * size), two claimers at once never getting the same job, and cancelling
 * the queued jobs of a key (media GC: a blob in use again). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"

#include "test_store_fx.h"

static int64_t enq(pl_db_t *db, const char *kind, const char *key, int64_t run_at)
{
    int64_t id = 0;
    assert_int_equal(0, pl_db_job_enqueue(db, kind, key, "{\"x\":1}", run_at, 1000, &id));
    assert_true(id > 0);
    return id;
}

/* Claims up to limit jobs; returns how many and stores their ids. */
static size_t claim(pl_db_t *db, const char *worker, int64_t now, size_t limit, int64_t *ids)
{
    pl_job_t *v = NULL;
    size_t n = 99;
    assert_int_equal(0, pl_db_job_claim(db, worker, now, 10000, limit, &v, &n));
    for (size_t i = 0; i < n; i++) {
        if (ids != NULL)
            ids[i] = v[i].id;
        pl_job_dispose(&v[i]);
    }
    free(v);
    return n;
}

static const char *state_of(pl_db_t *db, int64_t id, int64_t *attempts, char **error)
{
    pl_job_t j = {0};
    const char *st = NULL;
    char *e = NULL;
    assert_int_equal(0, pl_db_job_get(db, id, &j, &st, &e));
    if (attempts != NULL)
        *attempts = j.attempts;
    if (error != NULL)
        *error = e;
    else
        free(e);
    pl_job_dispose(&j);
    return st;
}

static void test_claim_order(void **state)
{
    fx_t *f = *state;
    int64_t late = enq(f->db, "email", NULL, 3000);
    int64_t a = enq(f->db, "email", NULL, 1000);
    int64_t b = enq(f->db, "email", "", 1000);
    int64_t future = enq(f->db, "email", NULL, 99000);
    int64_t ids[8];
    pl_job_t *v = NULL;
    size_t n = 0;
    /* Oldest run_at first, then id; a job not due is not claimed. */
    assert_int_equal(0, pl_db_job_claim(f->db, "w1", 5000, 10000, 8, &v, &n));
    assert_int_equal(3, n);
    assert_int_equal(a, v[0].id);
    assert_int_equal(b, v[1].id);
    assert_int_equal(late, v[2].id);
    assert_string_equal("email", v[0].kind);
    assert_string_equal("{\"x\":1}", v[0].payload);
    assert_string_equal("", v[1].key);
    assert_int_equal(1, v[0].attempts);
    for (size_t i = 0; i < n; i++)
        pl_job_dispose(&v[i]);
    free(v);
    /* Running jobs with a live lease are not claimed again. */
    assert_int_equal(0, claim(f->db, "w2", 6000, 8, ids));
    assert_string_equal("running", state_of(f->db, a, NULL, NULL));
    assert_string_equal("queued", state_of(f->db, future, NULL, NULL));
    /* limit (the three running jobs done first: their leases would expire) */
    assert_int_equal(0, pl_db_job_complete(f->db, a, "w1", 7000));
    assert_int_equal(0, pl_db_job_complete(f->db, b, "w1", 7000));
    assert_int_equal(0, pl_db_job_complete(f->db, late, "w1", 7000));
    int64_t future2 = enq(f->db, "email", NULL, 99000);
    assert_int_equal(1, claim(f->db, "w2", 100000, 1, ids));
    assert_int_equal(future, ids[0]);
    assert_int_equal(1, claim(f->db, "w2", 100000, 1, ids));
    assert_int_equal(future2, ids[0]);
}

static void test_key_order(void **state)
{
    fx_t *f = *state;
    int64_t r1 = enq(f->db, "webhook", "room:1", 1000);
    int64_t r2 = enq(f->db, "webhook", "room:1", 1000);
    int64_t s1 = enq(f->db, "webhook", "room:2", 1000);
    int64_t r3 = enq(f->db, "webhook", "room:1", 1000);
    int64_t ids[8];
    /* Only the oldest unfinished job of each key. */
    assert_int_equal(2, claim(f->db, "w", 2000, 8, ids));
    assert_int_equal(r1, ids[0]);
    assert_int_equal(s1, ids[1]);
    assert_int_equal(0, claim(f->db, "w", 2000, 8, ids));
    /* A retry of r1 keeps r2 waiting behind it, even when r2 is due. */
    assert_int_equal(0, pl_db_job_fail(f->db, r1, "w", "boom", 5000, false, 2000));
    assert_int_equal(0, claim(f->db, "w", 3000, 8, ids));
    assert_int_equal(1, claim(f->db, "w", 5000, 8, ids));
    assert_int_equal(r1, ids[0]);
    assert_int_equal(0, pl_db_job_complete(f->db, r1, "w", 5000));
    assert_int_equal(1, claim(f->db, "w", 5000, 8, ids));
    assert_int_equal(r2, ids[0]);
    /* A dead job no longer holds its key back. */
    assert_int_equal(0, pl_db_job_fail(f->db, r2, "w", "gave up", 0, true, 5000));
    assert_int_equal(1, claim(f->db, "w", 5000, 8, ids));
    assert_int_equal(r3, ids[0]);
}

static void test_lease_expiry(void **state)
{
    fx_t *f = *state;
    int64_t id = enq(f->db, "email", NULL, 1000), ids[4], attempts = 0;
    assert_int_equal(1, claim(f->db, "dead-node", 1000, 4, ids)); /* lease until 11000 */
    assert_int_equal(0, claim(f->db, "other", 10999, 4, ids));
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 5000, &c));
    assert_int_equal(1, c.running);
    assert_int_equal(0, c.queued);
    assert_int_equal(0, pl_db_job_counts(f->db, 11000, &c));
    assert_int_equal(0, c.running);
    assert_int_equal(1, c.queued);
    /* The lease expired: another worker takes it over ... */
    assert_int_equal(1, claim(f->db, "other", 11000, 4, ids));
    assert_int_equal(id, ids[0]);
    assert_string_equal("running", state_of(f->db, id, &attempts, NULL));
    assert_int_equal(2, attempts);
    /* ... and the first worker, back from the dead, can neither complete
     * nor fail it. */
    assert_int_equal(PL_ENOTFOUND, pl_db_job_complete(f->db, id, "dead-node", 12000));
    assert_int_equal(PL_ENOTFOUND, pl_db_job_fail(f->db, id, "dead-node", "x", 0, false, 12000));
    assert_int_equal(0, pl_db_job_complete(f->db, id, "other", 12000));
    assert_int_equal(PL_ENOTFOUND, pl_db_job_complete(f->db, id, "other", 12000));
    assert_string_equal("done", state_of(f->db, id, NULL, NULL));
    /* release: a worker's claims go back to the queue at once. */
    int64_t id2 = enq(f->db, "email", NULL, 1000);
    assert_int_equal(1, claim(f->db, "me", 13000, 4, ids));
    size_t n = 0;
    assert_int_equal(0, pl_db_job_release(f->db, "someone-else", &n));
    assert_int_equal(0, n);
    assert_int_equal(0, pl_db_job_release(f->db, "me", &n));
    assert_int_equal(1, n);
    assert_int_equal(1, claim(f->db, "me", 13000, 4, ids));
    assert_int_equal(id2, ids[0]);
}

static void test_retry_and_dead(void **state)
{
    fx_t *f = *state;
    int64_t id = enq(f->db, "email", NULL, 1000), ids[4], attempts = 0;
    char *err = NULL;
    assert_int_equal(1, claim(f->db, "w", 1000, 4, ids));
    assert_int_equal(0,
                     pl_db_job_fail(f->db, id, "w", "smtp: connection refused", 4000, false, 1000));
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 1000, &c));
    assert_int_equal(1, c.queued);
    assert_int_equal(1, c.retrying);
    assert_string_equal("queued", state_of(f->db, id, &attempts, &err));
    assert_int_equal(1, attempts);
    assert_string_equal("smtp: connection refused", err);
    free(err);
    assert_int_equal(0, claim(f->db, "w", 3999, 4, ids)); /* backing off */
    assert_int_equal(1, claim(f->db, "w", 4000, 4, ids));
    /* A long error is cut, on a character boundary. */
    char big[2000];
    memset(big, 'e', sizeof big);
    memcpy(big + PL_JOB_ERROR_MAX - 1, "\xc3\xa9", 2); /* é across the limit */
    big[sizeof big - 1] = '\0';
    assert_int_equal(0, pl_db_job_fail(f->db, id, "w", big, 0, true, 5000));
    assert_string_equal("dead", state_of(f->db, id, &attempts, &err));
    assert_int_equal(2, attempts);
    assert_int_equal(PL_JOB_ERROR_MAX - 1, strlen(err));
    free(err);
    /* Dead jobs stay, visible and counted, and are never claimed again. */
    assert_int_equal(0, claim(f->db, "w", 1000000, 4, ids));
    assert_int_equal(0, pl_db_job_counts(f->db, 5000, &c));
    assert_int_equal(1, c.dead);
    assert_int_equal(0, c.queued + c.running + c.done);
    size_t n = 0;
    assert_int_equal(0, pl_db_job_purge(f->db, 1000000, 100, &n));
    assert_int_equal(0, n);
}

static void test_retention(void **state)
{
    fx_t *f = *state;
    int64_t ids[8];
    for (int i = 0; i < 5; i++)
        enq(f->db, "email", NULL, 1000);
    assert_int_equal(5, claim(f->db, "w", 1000, 8, ids));
    for (int i = 0; i < 5; i++)
        assert_int_equal(0, pl_db_job_complete(f->db, ids[i], "w", 2000 + i));
    /* The payload of a done job is gone (it may have held a secret). */
    pl_job_t j = {0};
    const char *st = NULL;
    char *e = NULL;
    assert_int_equal(0, pl_db_job_get(f->db, ids[0], &j, &st, &e));
    assert_string_equal("{}", j.payload);
    assert_null(e);
    pl_job_dispose(&j);
    size_t n = 0;
    assert_int_equal(0, pl_db_job_purge(f->db, 2002, 100, &n)); /* finished before 2002 */
    assert_int_equal(2, n);
    assert_int_equal(0, pl_db_job_purge(f->db, 9999, 2, &n)); /* limit */
    assert_int_equal(2, n);
    assert_int_equal(0, pl_db_job_purge(f->db, 9999, 100, &n));
    assert_int_equal(1, n);
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 9999, &c));
    assert_int_equal(0, c.done);
    assert_int_equal(PL_ENOTFOUND, pl_db_job_get(f->db, ids[0], &j, &st, &e));
}

static void test_hostile_input(void **state)
{
    fx_t *f = *state;
    int64_t id = 0;
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "", NULL, "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "Email", NULL, "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "a b", NULL, "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL,
                     pl_db_job_enqueue(f->db, "x'; DROP TABLE jobs; --", NULL, "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "abcdefghijklmnopqrstuvwxyz0123456", NULL,
                                                  "{}", 1, 1, &id)); /* 33 bytes */
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "email", "a\nb", "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "email", "\xff\xfe", "{}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "email", NULL, "not json", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "email", NULL, "\"str\"", 1, 1, &id));
    assert_int_equal(PL_EINVAL,
                     pl_db_job_enqueue(f->db, "email", NULL, "{\"a\":1,\"a\":2}", 1, 1, &id));
    assert_int_equal(PL_EINVAL, pl_db_job_enqueue(f->db, "email", NULL, NULL, 1, 1, &id));
    char key[PL_JOB_KEY_MAX + 2];
    memset(key, 'k', sizeof key);
    key[sizeof key - 1] = '\0';
    assert_int_equal(PL_ETOOBIG, pl_db_job_enqueue(f->db, "email", key, "{}", 1, 1, &id));
    key[sizeof key - 2] = '\0';
    assert_int_equal(0, pl_db_job_enqueue(f->db, "email", key, "{}", 1, 1, &id));
    /* payload: exactly the limit passes, one byte more does not */
    size_t cap = PL_JOB_PAYLOAD_MAX + 2;
    char *p = malloc(cap);
    memset(p, ' ', cap);
    memcpy(p, "{\"s\":1}", 7);
    p[PL_JOB_PAYLOAD_MAX] = '\0';
    assert_int_equal(0, pl_db_job_enqueue(f->db, "a.b-c_9", NULL, p, 1, 1, &id));
    p[PL_JOB_PAYLOAD_MAX] = ' ';
    p[PL_JOB_PAYLOAD_MAX + 1] = '\0';
    assert_int_equal(PL_ETOOBIG, pl_db_job_enqueue(f->db, "email", NULL, p, 1, 1, &id));
    free(p);
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 1, &c));
    assert_int_equal(2, c.queued);
}

/* ---- enqueue in the transaction of a write job ---- */
typedef struct {
    bool rollback;
    int64_t user;
    int rc;
    int status;
} txjob_t;

/* The change (a password hash) and the job it causes, in one write job. */
static void tx_work(pl_db_t *db, void *arg)
{
    txjob_t *t = arg;
    t->rc = pl_db_user_set_pwhash(db, t->user, t->rollback ? "dropped" : "kept");
    if (t->rc == 0)
        t->rc = pl_db_job_enqueue(db, "email", NULL, "{\"to\":\"a@b\"}", 1, 1, NULL);
    if (t->rollback)
        pl_db_rollback_job(db);
}

static void tx_done(int status, void *arg)
{
    ((txjob_t *)arg)->status = status;
}

static void test_enqueue_in_transaction(void **state)
{
    fx_t *f = *state;
    int64_t uid = mkuser(f->db, "alice");
    txjob_t keep = {false, uid, -1, -1}, drop = {true, uid, -1, -1};
    pl_store_write(f->st, tx_work, tx_done, &drop);
    pl_store_write(f->st, tx_work, tx_done, &keep);
    while (keep.status == -1 || drop.status == -1)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(0, keep.rc);
    assert_int_equal(0, drop.rc);
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 1, &c));
    assert_int_equal(1, c.queued); /* the rolled-back job's row went with its change */
    pl_user_t u = {0};
    assert_int_equal(0, pl_db_user_by_id(f->db, uid, &u));
    assert_string_equal("kept", u.pwhash);
    pl_user_dispose(&u);
}

/* ---- two claimers at once ---- */
#define RACE_JOBS 300
typedef struct {
    pl_db_t *db;
    const char *name;
    int64_t ids[RACE_JOBS];
    size_t n;
    int rc;
} claimer_t;

static void claimer_main(void *arg)
{
    claimer_t *c = arg;
    for (;;) {
        pl_job_t *v = NULL;
        size_t n = 0;
        int rc = pl_db_job_claim(c->db, c->name, 5000, 60000, 3, &v, &n);
        if (rc != 0) {
            c->rc = rc;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            if (c->n < RACE_JOBS)
                c->ids[c->n] = v[i].id;
            c->n++;
            if (pl_db_job_complete(c->db, v[i].id, c->name, 5001) != 0)
                c->rc = -1;
            pl_job_dispose(&v[i]);
        }
        free(v);
        if (n == 0)
            return;
    }
}

static void test_two_claimers(void **state)
{
    fx_t *f = *state;
    /* A second store on the same database: its own connections, as another
     * node has (PostgreSQL) or another thread of one process (SQLite). */
    pl_store_t *st2 = NULL;
    uv_loop_t loop2;
    assert_int_equal(0, uv_loop_init(&loop2));
    assert_int_equal(0, pl_store_open(&loop2, &f->cfg, &st2));
    for (int i = 0; i < RACE_JOBS; i++) {
        char key[16] = "";
        if (i % 3 == 0)
            snprintf(key, sizeof key, "k%d", i % 7); /* some keyed, ordered */
        enq(f->db, "email", key, 1000);
    }
    static claimer_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a = (claimer_t){.db = f->db, .name = "node-a"};
    b = (claimer_t){.db = pl_store_direct(st2), .name = "node-b"};
    uv_thread_t ta, tb;
    assert_int_equal(0, uv_thread_create(&ta, claimer_main, &a));
    assert_int_equal(0, uv_thread_create(&tb, claimer_main, &b));
    uv_thread_join(&ta);
    uv_thread_join(&tb);
    assert_int_equal(0, a.rc);
    assert_int_equal(0, b.rc);
    /* Every job ran exactly once: no id claimed twice, none left. */
    assert_int_equal(RACE_JOBS, a.n + b.n);
    static char seen[RACE_JOBS * 2 + 2];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < a.n + b.n; i++) {
        int64_t id = i < a.n ? a.ids[i] : b.ids[i - a.n];
        assert_true(id > 0 && id < (int64_t)sizeof seen);
        assert_int_equal(0, seen[id]);
        seen[id] = 1;
    }
    pl_job_counts_t c;
    assert_int_equal(0, pl_db_job_counts(f->db, 5001, &c));
    assert_int_equal(RACE_JOBS, c.done);
    assert_int_equal(0, c.queued + c.running);
    pl_store_close(st2);
    assert_int_equal(0, uv_run(&loop2, UV_RUN_DEFAULT));
    assert_int_equal(0, uv_loop_close(&loop2));
}

/* pl_db_job_cancel: the queued jobs of one kind and key go; a running one
 * stays and is counted; other kinds and keys are untouched. */
static void test_cancel(void **state)
{
    fx_t *f = *state;
    int64_t a1 = enq(f->db, "media_delete", "aa", 1000);
    int64_t a2 = enq(f->db, "media_delete", "aa", 9000); /* not due yet: still queued */
    int64_t b1 = enq(f->db, "media_delete", "bb", 1000);
    int64_t o1 = enq(f->db, "webhook", "aa", 1000);
    int64_t running = -1;
    assert_int_equal(0, pl_db_job_cancel(f->db, "media_delete", "aa", &running));
    assert_int_equal(0, running);
    pl_job_t j = {0};
    const char *st;
    char *e;
    assert_int_equal(PL_ENOTFOUND, pl_db_job_get(f->db, a1, &j, &st, &e));
    assert_int_equal(PL_ENOTFOUND, pl_db_job_get(f->db, a2, &j, &st, &e));
    assert_string_equal("queued", state_of(f->db, b1, NULL, NULL));
    assert_string_equal("queued", state_of(f->db, o1, NULL, NULL));
    /* b1 claimed: cancelling its key leaves it and says it is running. */
    int64_t ids[8];
    assert_int_equal(2, claim(f->db, "w", 2000, 8, ids)); /* b1 and o1 */
    int64_t b2 = enq(f->db, "media_delete", "bb", 1000);
    assert_int_equal(0, pl_db_job_cancel(f->db, "media_delete", "bb", &running));
    assert_int_equal(1, running);
    assert_string_equal("running", state_of(f->db, b1, NULL, NULL));
    assert_int_equal(PL_ENOTFOUND, pl_db_job_get(f->db, b2, &j, &st, &e));
    /* Done: no longer running. A key is required. */
    assert_int_equal(0, pl_db_job_complete(f->db, b1, "w", 3000));
    assert_int_equal(0, pl_db_job_cancel(f->db, "media_delete", "bb", &running));
    assert_int_equal(0, running);
    assert_int_equal(PL_EINVAL, pl_db_job_cancel(f->db, "media_delete", "", &running));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_claim_order),
        T(test_key_order),
        T(test_lease_expiry),
        T(test_retry_and_dead),
        T(test_retention),
        T(test_hostile_input),
        T(test_enqueue_in_transaction),
        T(test_two_claimers),
        T(test_cancel),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
