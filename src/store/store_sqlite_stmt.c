/* SPDX-License-Identifier: MIT */
/* store_sqlite_stmt.c -- what every concept file of the SQLite backend uses:
 * statement tables cached per connection, the transaction statements, step
 * and savepoint helpers, and the one row collector. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static const char *const tx_sql[PL_TX__COUNT] = {
    [PL_TX_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [PL_TX_BEGIN] = "BEGIN",
    [PL_TX_COMMIT] = "COMMIT",
    [PL_TX_ROLLBACK] = "ROLLBACK",
    [PL_TX_JOB_SAVEPOINT] = "SAVEPOINT job",
    [PL_TX_JOB_RELEASE] = "RELEASE job",
    [PL_TX_JOB_ROLLBACK_TO] = "ROLLBACK TO job",
    [PL_TX_FN_SAVEPOINT] = "SAVEPOINT fn",
    [PL_TX_FN_RELEASE] = "RELEASE fn",
    [PL_TX_FN_ROLLBACK_TO] = "ROLLBACK TO fn",
};
static pl_sql_table_t tx_stmts = PL_SQL_TABLE(tx_sql);

/* Slots handed out so far (process-wide: every store uses the same tables). */
static _Atomic int slots_used;

int pl_store__fail(pl_db_t *db, const char *op)
{
    pl_log(PL_LOG_ERROR, "store", "op=%s db=%s err=%s", op, db->name, sqlite3_errmsg(db->h));
    db->job_failed = true;
    return PL_EIO;
}

/* The table's slot, taken on its first use by any connection. Two threads
 * may race for it: one wins the compare-exchange, the other's number stays
 * unused. */
static int table_slot(pl_sql_table_t *t)
{
    int slot = atomic_load_explicit(&t->slot, memory_order_acquire);
    if (slot != 0)
        return slot;
    int mine = atomic_fetch_add(&slots_used, 1) + 1;
    PL_ASSERT(mine <= PL_SQL_TABLES_MAX);
    int expected = 0;
    if (atomic_compare_exchange_strong(&t->slot, &expected, mine))
        return mine;
    return expected;
}

sqlite3_stmt *pl_store__stmt(pl_db_t *db, pl_sql_table_t *t, int id)
{
    int slot = table_slot(t) - 1;
    sqlite3_stmt **cache = db->stmts[slot];
    if (cache == NULL) {
        cache = db->stmts[slot] = pl_xcalloc((size_t)t->n, sizeof *cache);
        db->nstmts[slot] = t->n;
    }
    if (cache[id] == NULL && sqlite3_prepare_v3(db->h, t->sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                                &cache[id], NULL) != SQLITE_OK) {
        pl_store__fail(db, "prepare");
        cache[id] = NULL;
    }
    return cache[id];
}

void pl_store__stmts_finalize(pl_db_t *db)
{
    /* Only ours: FTS5 keeps statements of its own on the connection and
     * finalizes them when the connection closes. */
    for (int i = 0; i < PL_SQL_TABLES_MAX; i++) {
        for (int k = 0; k < db->nstmts[i]; k++)
            sqlite3_finalize(db->stmts[i][k]);
        free(db->stmts[i]);
        db->stmts[i] = NULL;
        db->nstmts[i] = 0;
    }
}

void pl_store__stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

int pl_store__exec(pl_db_t *db, pl_tx_stmt_t id, const char *op)
{
    sqlite3_stmt *s = pl_store__stmt(db, &tx_stmts, (int)id);
    if (s == NULL)
        return PL_EIO;
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : pl_store__fail(db, op);
    pl_store__stmt_done(s);
    return rc;
}

/* Unique/primary-key conflicts and foreign-key misses are answers, not
 * storage errors (SQLite already undid the statement). */
int pl_store__step_error(pl_db_t *db, const char *op)
{
    int ext = sqlite3_extended_errcode(db->h);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return PL_EEXIST;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return PL_ENOTFOUND;
    return pl_store__fail(db, op);
}

int pl_store__step_done(pl_db_t *db, sqlite3_stmt *s, const char *op)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : pl_store__step_error(db, op);
    pl_store__stmt_done(s);
    return rc;
}

int pl_store__fn_begin(pl_db_t *db)
{
    return pl_store__exec(db, PL_TX_FN_SAVEPOINT, "savepoint");
}

int pl_store__fn_end(pl_db_t *db, int rc)
{
    if (rc == 0) {
        rc = pl_store__exec(db, PL_TX_FN_RELEASE, "release");
        if (rc == 0)
            return 0;
    }
    /* If SQLite already rolled the whole transaction back (I/O error, disk
     * full) the savepoint is gone and there is nothing left to undo. */
    if (!sqlite3_get_autocommit(db->h)) {
        pl_store__exec(db, PL_TX_FN_ROLLBACK_TO, "rollback_to");
        pl_store__exec(db, PL_TX_FN_RELEASE, "release");
    }
    return rc;
}

void pl_store__bind_text(sqlite3_stmt *s, int i, const char *v)
{
    /* SQLITE_STATIC: the statement is stepped and reset before we return. */
    sqlite3_bind_text(s, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

char *pl_store__col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return pl_xstrdup(t != NULL ? (const char *)t : "");
}

char *pl_store__col_str_or_null(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t != NULL ? pl_xstrdup((const char *)t) : NULL;
}

int pl_store__collect(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_rows_t *r)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            v = pl_xrealloc(v, cap * r->size);
        }
        memset(v + len * r->size, 0, r->size);
        r->read(s, v + len * r->size);
        len++;
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, op);
    pl_store__stmt_done(s);
    if (rc != 0) {
        for (size_t i = 0; r->dispose != NULL && i < len; i++)
            r->dispose(v + i * r->size);
        free(v);
        return rc;
    }
    r->v = v;
    r->n = len;
    return 0;
}

void pl_store__row_id(sqlite3_stmt *s, void *elem)
{
    *(int64_t *)elem = sqlite3_column_int64(s, 0);
}

void pl_sq_rollback_job(pl_db_t *db)
{
    if (db->role == PL_DB_WRITER)
        db->job_rollback = true;
}
