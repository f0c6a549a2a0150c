/* SPDX-License-Identifier: MIT */
/* store_sqlite_jobs.c -- durable background jobs on SQLite (store.h,
 * "durable background jobs"; schema step 11). One process owns the database
 * and every claim runs as a write job on the single writer thread, so claims
 * are serialised by construction: the same semantics as PostgreSQL's FOR
 * UPDATE SKIP LOCKED (store_pg_jobs.c) without needing it. */
#include "store/store_internal.h"

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

/* state: 0 queued, 1 running, 2 done, 3 dead (schema step 11). */
static const char *const sql[ST__COUNT] = {
    [ST_ENQUEUE] = "INSERT INTO jobs(kind, okey, payload, run_at, created_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
    /* Claimable: queued and due, or running with an expired lease (its
     * worker died); and, for a keyed job, no older unfinished job of its key.
     * attempts counts claims, so a job that kills its worker still dies
     * after max attempts. */
    [ST_CLAIM] = "UPDATE jobs SET state = 1, claimed_by = ?1, lease_until = ?2 + ?3, "
                 "attempts = attempts + 1 WHERE id IN (SELECT j.id FROM jobs j "
                 "WHERE j.state IN (0, 1) AND j.run_at <= ?2 "
                 "AND (j.state = 0 OR j.lease_until <= ?2) "
                 "AND (j.okey = '' OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.okey = j.okey "
                 "AND o.state IN (0, 1) AND o.id < j.id)) "
                 "ORDER BY j.run_at, j.id LIMIT ?4) "
                 "RETURNING id, kind, okey, payload, attempts, run_at, created_ms",
    /* The payload may hold a secret (a reset link): a done job keeps none. */
    [ST_COMPLETE] = "UPDATE jobs SET state = 2, payload = '{}', claimed_by = NULL, "
                    "lease_until = 0, last_error = NULL, finished_ms = ?3 "
                    "WHERE id = ?1 AND state = 1 AND claimed_by = ?2",
    [ST_FAIL] = "UPDATE jobs SET state = CASE WHEN ?5 THEN 3 ELSE 0 END, run_at = ?4, "
                "claimed_by = NULL, lease_until = 0, last_error = ?3, "
                "finished_ms = CASE WHEN ?5 THEN ?6 ELSE 0 END "
                "WHERE id = ?1 AND state = 1 AND claimed_by = ?2",
    [ST_RELEASE] = "UPDATE jobs SET state = 0, claimed_by = NULL, lease_until = 0 "
                   "WHERE state = 1 AND claimed_by = ?1",
    [ST_PURGE] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 2 "
                 "AND finished_ms < ?1 ORDER BY finished_ms LIMIT ?2)",
    [ST_COUNTS] = "SELECT "
                  "coalesce(sum(CASE WHEN state = 0 OR (state = 1 AND lease_until <= ?1) "
                  "THEN 1 ELSE 0 END), 0), "
                  "coalesce(sum(CASE WHEN (state = 0 OR (state = 1 AND lease_until <= ?1)) "
                  "AND attempts > 0 THEN 1 ELSE 0 END), 0), "
                  "coalesce(sum(CASE WHEN state = 1 AND lease_until > ?1 THEN 1 ELSE 0 END), 0), "
                  "coalesce(sum(CASE WHEN state = 2 THEN 1 ELSE 0 END), 0), "
                  "coalesce(sum(CASE WHEN state = 3 THEN 1 ELSE 0 END), 0) FROM jobs",
    [ST_GET] = "SELECT id, kind, okey, payload, attempts, run_at, created_ms, state, last_error "
               "FROM jobs WHERE id = ?1",
    /* The partial index jobs_key's terms are repeated word for word: SQLite
     * uses a partial index only for a query that states its condition. */
    [ST_CANCEL] = "DELETE FROM jobs WHERE okey = ?2 AND state IN (0, 1) AND okey <> '' "
                  "AND kind = ?1 AND state = 0",
    [ST_CANCEL_RUNNING] = "SELECT count(*) FROM jobs WHERE okey = ?2 AND state IN (0, 1) "
                          "AND okey <> '' AND kind = ?1 AND state = 1",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

static const char *const state_names[] = {"queued", "running", "done", "dead"};

int pl_sq_job_enqueue(pl_db_t *db, const char *kind, const char *key, const char *payload,
                      int64_t run_at_ms, int64_t now_ms, int64_t *id)
{
    int rc = pl_job_check(kind, key, payload);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = STMT(db, ST_ENQUEUE);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, kind);
    pl_store__bind_text(s, 2, key);
    pl_store__bind_text(s, 3, payload);
    sqlite3_bind_int64(s, 4, run_at_ms);
    sqlite3_bind_int64(s, 5, now_ms);
    rc = pl_store__step_done(db, s, "job_enqueue");
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static void job_from_row(sqlite3_stmt *s, void *elem)
{
    pl_job_t *j = elem;
    j->id = sqlite3_column_int64(s, 0);
    j->kind = pl_store__col_str(s, 1);
    j->key = pl_store__col_str(s, 2);
    j->payload = pl_store__col_str(s, 3);
    j->attempts = sqlite3_column_int64(s, 4);
    j->run_at_ms = sqlite3_column_int64(s, 5);
    j->created_ms = sqlite3_column_int64(s, 6);
}

static void job_dispose_elem(void *elem)
{
    pl_job_dispose(elem);
}

static int by_run_at(const void *a, const void *b)
{
    const pl_job_t *x = a, *y = b;
    if (x->run_at_ms != y->run_at_ms)
        return x->run_at_ms < y->run_at_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int pl_sq_job_claim(pl_db_t *db, const char *worker, int64_t now_ms, int64_t lease_ms, size_t limit,
                    pl_job_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_CLAIM);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, worker);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, lease_ms);
    sqlite3_bind_int64(s, 4, (int64_t)limit);
    pl_rows_t r = PL_ROWS(pl_job_t, job_from_row, job_dispose_elem);
    int rc = pl_store__collect(db, s, "job_claim", &r);
    if (rc != 0)
        return rc;
    /* RETURNING gives rows in no promised order. */
    if (r.n > 1)
        qsort(r.v, r.n, sizeof(pl_job_t), by_run_at);
    *out = r.v;
    *n = r.n;
    return 0;
}

static int changed(pl_db_t *db, sqlite3_stmt *s, const char *op)
{
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_job_complete(pl_db_t *db, int64_t id, const char *worker, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_COMPLETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    pl_store__bind_text(s, 2, worker);
    sqlite3_bind_int64(s, 3, now_ms);
    return changed(db, s, "job_complete");
}

int pl_sq_job_fail(pl_db_t *db, int64_t id, const char *worker, const char *error,
                   int64_t retry_at_ms, bool dead, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_FAIL);
    if (s == NULL)
        return PL_EIO;
    const char *e = error != NULL ? error : "";
    sqlite3_bind_int64(s, 1, id);
    pl_store__bind_text(s, 2, worker);
    sqlite3_bind_text(s, 3, e, (int)pl_job_error_len(e), SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, retry_at_ms);
    sqlite3_bind_int(s, 5, dead ? 1 : 0);
    sqlite3_bind_int64(s, 6, now_ms);
    return changed(db, s, "job_fail");
}

int pl_sq_job_release(pl_db_t *db, const char *worker, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_RELEASE);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, worker);
    int rc = pl_store__step_done(db, s, "job_release");
    if (rc == 0)
        *n = (size_t)sqlite3_changes(db->h);
    return rc;
}

int pl_sq_job_purge(pl_db_t *db, int64_t done_before_ms, int64_t limit, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_PURGE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, done_before_ms);
    sqlite3_bind_int64(s, 2, limit);
    int rc = pl_store__step_done(db, s, "job_purge");
    if (rc == 0)
        *n = (size_t)sqlite3_changes(db->h);
    return rc;
}

int pl_sq_job_counts(pl_db_t *db, int64_t now_ms, pl_job_counts_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_COUNTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, now_ms);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, "job_counts");
    if (rc == 0)
        *out = (pl_job_counts_t){
            .queued = sqlite3_column_int64(s, 0),
            .retrying = sqlite3_column_int64(s, 1),
            .running = sqlite3_column_int64(s, 2),
            .done = sqlite3_column_int64(s, 3),
            .dead = sqlite3_column_int64(s, 4),
        };
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_job_get(pl_db_t *db, int64_t id, pl_job_t *out, const char **state, char **error)
{
    sqlite3_stmt *s = STMT(db, ST_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        job_from_row(s, out);
        int st = sqlite3_column_int(s, 7);
        *state = st >= 0 && st <= 3 ? state_names[st] : "queued";
        *error = pl_store__col_str_or_null(s, 8);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "job_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_job_cancel(pl_db_t *db, const char *kind, const char *key, int64_t *running)
{
    if (key == NULL || key[0] == '\0')
        return PL_EINVAL;
    sqlite3_stmt *s = STMT(db, ST_CANCEL);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, kind);
    pl_store__bind_text(s, 2, key);
    int rc = pl_store__step_done(db, s, "job_cancel");
    if (rc < 0)
        return rc;
    if ((s = STMT(db, ST_CANCEL_RUNNING)) == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, kind);
    pl_store__bind_text(s, 2, key);
    rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, "job_cancel");
    if (rc == 0)
        *running = sqlite3_column_int64(s, 0);
    pl_store__stmt_done(s);
    return rc;
}
