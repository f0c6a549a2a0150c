/* SPDX-License-Identifier: MIT */
/* store_pg_jobs.c -- durable background jobs on PostgreSQL (store.h,
 * "durable background jobs"; schema step 3). Every node claims from the same
 * table at once: the claim's inner SELECT takes row locks with FOR UPDATE
 * SKIP LOCKED, so two claimers never wait on each other and never get the
 * same row (a row another claimer locked is skipped; one it already claimed
 * and committed fails the state/lease condition when PostgreSQL re-checks
 * the locked row). Per-key ordering holds because a keyed job is claimable
 * only when no older unfinished job of its key exists in the claimer's
 * snapshot: a concurrent claim can only make that older job look more
 * unfinished, never less. */
#include "store/store_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_ENQUEUE,
    ST_CLAIM,
    ST_COMPLETE,
    ST_FAIL,
    ST_RELEASE,
    ST_PURGE,
    ST_COUNTS,
    ST_GET,
    ST_CANCEL,
    ST_CANCEL_RUNNING,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_ENQUEUE] = "INSERT INTO jobs(kind, okey, payload, run_at, created_ms) "
                   "VALUES ($1, $2, $3, $4, $5) RETURNING id",
    /* The locking SELECT is a MATERIALIZED CTE: as a plain IN (subquery)
     * the planner may run it more than once and claim more than LIMIT. */
    [ST_CLAIM] = "WITH c AS MATERIALIZED (SELECT j.id FROM jobs j "
                 "WHERE j.state IN (0, 1) AND j.run_at <= $2 "
                 "AND (j.state = 0 OR j.lease_until <= $2) "
                 "AND (j.okey = '' OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.okey = j.okey "
                 "AND o.state IN (0, 1) AND o.id < j.id)) "
                 "ORDER BY j.run_at, j.id LIMIT $4 FOR UPDATE OF j SKIP LOCKED) "
                 "UPDATE jobs SET state = 1, claimed_by = $1, lease_until = $2::bigint + $3, "
                 "attempts = attempts + 1 FROM c WHERE jobs.id = c.id "
                 "RETURNING jobs.id, kind, okey, payload, attempts, run_at, created_ms",
    [ST_COMPLETE] = "UPDATE jobs SET state = 2, payload = '{}', claimed_by = NULL, "
                    "lease_until = 0, last_error = NULL, finished_ms = $3 "
                    "WHERE id = $1 AND state = 1 AND claimed_by = $2",
    [ST_FAIL] = "UPDATE jobs SET state = CASE WHEN $5::boolean THEN 3 ELSE 0 END, run_at = $4, "
                "claimed_by = NULL, lease_until = 0, last_error = $3, "
                "finished_ms = CASE WHEN $5::boolean THEN $6::bigint ELSE 0 END "
                "WHERE id = $1 AND state = 1 AND claimed_by = $2",
    [ST_RELEASE] = "UPDATE jobs SET state = 0, claimed_by = NULL, lease_until = 0 "
                   "WHERE state = 1 AND claimed_by = $1",
    [ST_PURGE] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 2 "
                 "AND finished_ms < $1 ORDER BY finished_ms LIMIT $2)",
    [ST_COUNTS] = "SELECT "
                  "count(*) FILTER (WHERE state = 0 OR (state = 1 AND lease_until <= $1)), "
                  "count(*) FILTER (WHERE (state = 0 OR (state = 1 AND lease_until <= $1)) "
                  "AND attempts > 0), "
                  "count(*) FILTER (WHERE state = 1 AND lease_until > $1), "
                  "count(*) FILTER (WHERE state = 2), "
                  "count(*) FILTER (WHERE state = 3) FROM jobs",
    [ST_GET] = "SELECT id, kind, okey, payload, attempts, run_at, created_ms, state, last_error "
               "FROM jobs WHERE id = $1",
    /* Two statements (READ COMMITTED): the DELETE waits for a claim that
     * locked a queued row of the key and then leaves it (running now); the
     * count, a new snapshot, sees that claim committed. */
    [ST_CANCEL] = "DELETE FROM jobs WHERE okey = $2 AND state IN (0, 1) "
                  "AND okey <> '' AND kind = $1 AND state = 0",
    [ST_CANCEL_RUNNING] = "SELECT count(*) FROM jobs WHERE okey = $2 AND state IN (0, 1) "
                          "AND okey <> '' AND kind = $1 AND state = 1",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, op, res) pl_pg__run((db), &stmts, (id), (a), false, (op), (res))
#define CHANGED(db, id, a, op) pl_pg__changed((db), &stmts, (id), (a), false, (op))

static const char *const state_names[] = {"queued", "running", "done", "dead"};

int pl_pg_job_enqueue(pl_db_t *d, const char *kind, const char *key, const char *payload,
                      int64_t run_at_ms, int64_t now_ms, int64_t *id)
{
    int rc = pl_job_check(kind, key, payload);
    if (rc != 0)
        return rc;
    pl_pg_args_t a = {0};
    pl_pg__text(&a, kind);
    pl_pg__text(&a, key);
    pl_pg__text(&a, payload);
    pl_pg__int(&a, run_at_ms);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    rc = RUN(PG_DB(d), ST_ENQUEUE, &a, "job_enqueue", &r);
    if (rc == 0 && id != NULL)
        *id = pl_pg__i64(r, 0, 0);
    PQclear(r);
    return rc;
}

static void job_from_row(const PGresult *r, int row, pl_job_t *j)
{
    j->id = pl_pg__i64(r, row, 0);
    j->kind = pl_pg__str(r, row, 1);
    j->key = pl_pg__str(r, row, 2);
    j->payload = pl_pg__str(r, row, 3);
    j->attempts = pl_pg__i64(r, row, 4);
    j->run_at_ms = pl_pg__i64(r, row, 5);
    j->created_ms = pl_pg__i64(r, row, 6);
}

static int by_run_at(const void *a, const void *b)
{
    const pl_job_t *x = a, *y = b;
    if (x->run_at_ms != y->run_at_ms)
        return x->run_at_ms < y->run_at_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int pl_pg_job_claim(pl_db_t *d, const char *worker, int64_t now_ms, int64_t lease_ms, size_t limit,
                    pl_job_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, worker);
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, lease_ms);
    pl_pg__int(&a, (int64_t)limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_CLAIM, &a, "job_claim", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_job_t *v = rows > 0 ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++)
        job_from_row(r, i, &v[i]);
    PQclear(r);
    if (rows > 1)
        qsort(v, (size_t)rows, sizeof *v, by_run_at);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_job_complete(pl_db_t *d, int64_t id, const char *worker, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__text(&a, worker);
    pl_pg__int(&a, now_ms);
    return CHANGED(PG_DB(d), ST_COMPLETE, &a, "job_complete");
}

int pl_pg_job_fail(pl_db_t *d, int64_t id, const char *worker, const char *error,
                   int64_t retry_at_ms, bool dead, int64_t now_ms)
{
    const char *e = error != NULL ? error : "";
    char *cut = pl_xmalloc(PL_JOB_ERROR_MAX + 1);
    size_t len = pl_job_error_len(e);
    memcpy(cut, e, len);
    cut[len] = '\0';
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__text(&a, worker);
    pl_pg__text(&a, cut);
    pl_pg__int(&a, retry_at_ms);
    pl_pg__bool(&a, dead);
    pl_pg__int(&a, now_ms);
    int rc = CHANGED(PG_DB(d), ST_FAIL, &a, "job_fail");
    free(cut);
    return rc;
}

static int count_changed(pl_pg_db_t *db, int id, const pl_pg_args_t *a, const char *op, size_t *n)
{
    PGresult *r = NULL;
    int rc = RUN(db, id, a, op, &r);
    if (rc == 0)
        *n = (size_t)atol(PQcmdTuples(r));
    PQclear(r);
    return rc;
}

int pl_pg_job_release(pl_db_t *d, const char *worker, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, worker);
    return count_changed(PG_DB(d), ST_RELEASE, &a, "job_release", n);
}

int pl_pg_job_purge(pl_db_t *d, int64_t done_before_ms, int64_t limit, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, done_before_ms);
    pl_pg__int(&a, limit);
    return count_changed(PG_DB(d), ST_PURGE, &a, "job_purge", n);
}

int pl_pg_job_counts(pl_db_t *d, int64_t now_ms, pl_job_counts_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_COUNTS, &a, "job_counts", &r);
    if (rc == 0 && PQntuples(r) == 1)
        *out = (pl_job_counts_t){
            .queued = pl_pg__i64(r, 0, 0),
            .retrying = pl_pg__i64(r, 0, 1),
            .running = pl_pg__i64(r, 0, 2),
            .done = pl_pg__i64(r, 0, 3),
            .dead = pl_pg__i64(r, 0, 4),
        };
    else if (rc == 0)
        rc = PL_EIO;
    PQclear(r);
    return rc;
}

int pl_pg_job_get(pl_db_t *d, int64_t id, pl_job_t *out, const char **state, char **error)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    PGresult *r = NULL;
    int rc = pl_pg__one(PG_DB(d), &stmts, ST_GET, &a, false, "job_get", &r);
    if (rc != 0)
        return rc;
    job_from_row(r, 0, out);
    int64_t st = pl_pg__i64(r, 0, 7);
    *state = st >= 0 && st <= 3 ? state_names[st] : "queued";
    *error = pl_pg__str_or_null(r, 0, 8);
    PQclear(r);
    return 0;
}

int pl_pg_job_cancel(pl_db_t *d, const char *kind, const char *key, int64_t *running)
{
    if (key == NULL || key[0] == '\0')
        return PL_EINVAL;
    pl_pg_args_t a = {0};
    pl_pg__text(&a, kind);
    pl_pg__text(&a, key);
    size_t n;
    int rc = count_changed(PG_DB(d), ST_CANCEL, &a, "job_cancel", &n);
    if (rc < 0)
        return rc;
    PGresult *r = NULL;
    rc = RUN(PG_DB(d), ST_CANCEL_RUNNING, &a, "job_cancel", &r);
    if (rc == 0 && PQntuples(r) == 1)
        *running = pl_pg__i64(r, 0, 0);
    else if (rc == 0)
        rc = PL_EIO;
    PQclear(r);
    return rc;
}
