/* SPDX-License-Identifier: MIT */
/* store_pg_stmt.c -- the PostgreSQL backend's statement layer: prepared
 * statements per connection, text parameters, error mapping, savepoints and
 * column readers. */
#include "store/store_pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

static uv_mutex_t slot_mu;
static uv_once_t slot_once = UV_ONCE_INIT;
static int slots_used;

static void slot_init(void)
{
    uv_mutex_init(&slot_mu);
}

static int table_slot(pl_pg_table_t *t)
{
    int s = atomic_load_explicit(&t->slot, memory_order_acquire);
    if (s != 0)
        return s;
    uv_once(&slot_once, slot_init);
    uv_mutex_lock(&slot_mu);
    if ((s = atomic_load_explicit(&t->slot, memory_order_relaxed)) == 0) {
        s = ++slots_used;
        PL_ASSERT(s <= PL_PG_TABLES_MAX);
        atomic_store_explicit(&t->slot, s, memory_order_release);
    }
    uv_mutex_unlock(&slot_mu);
    return s;
}

void pl_pg__int(pl_pg_args_t *a, int64_t x)
{
    PL_ASSERT(a->n < PL_PG_MAXP);
    snprintf(a->num[a->n], sizeof a->num[a->n], "%" PRId64, x);
    a->v[a->n] = a->num[a->n];
    a->n++;
}

void pl_pg__text(pl_pg_args_t *a, const char *s)
{
    PL_ASSERT(a->n < PL_PG_MAXP);
    a->v[a->n++] = s != NULL ? s : "";
}

void pl_pg__null(pl_pg_args_t *a)
{
    PL_ASSERT(a->n < PL_PG_MAXP);
    a->v[a->n++] = NULL;
}

void pl_pg__bool(pl_pg_args_t *a, bool b)
{
    pl_pg__text(a, b ? "t" : "f");
}

int pl_pg__fail(pl_pg_db_t *db, const char *op, const PGresult *r)
{
    const char *msg = r != NULL ? PQresultErrorMessage(r) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(db->c);
    char line[512];
    snprintf(line, sizeof line, "%s", msg);
    line[strcspn(line, "\n")] = '\0';
    pl_log(PL_LOG_ERROR, "store", "op=%s db=%s err=%s", op, db->name, line);
    db->job_failed = true;
    return PL_EIO;
}

static PGresult *exec_raw(pl_pg_db_t *db, const char *sql)
{
    return PQexec(db->c, sql);
}

int pl_pg__switch_flush(pl_pg_db_t *db)
{
    if (!db->switch_pending)
        return 0;
    db->switch_pending = false;
    PGresult *r = exec_raw(db, "RELEASE SAVEPOINT job; SAVEPOINT job");
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pl_pg__fail(db, "savepoint", r);
    PQclear(r);
    if (rc != 0)
        db->switch_failed = true;
    return rc;
}

int pl_pg__exec(pl_pg_db_t *db, const char *sql, const char *op)
{
    if (pl_pg__switch_flush(db) != 0)
        return PL_EIO;
    PGresult *r = exec_raw(db, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pl_pg__fail(db, op, r);
    PQclear(r);
    return rc;
}

static bool ensure_prepared(pl_pg_db_t *db, pl_pg_table_t *t, int id, char *name, size_t namelen)
{
    int slot = table_slot(t);
    snprintf(name, namelen, "t%d_%d", slot, id);
    if (db->prepared[slot - 1] == NULL)
        db->prepared[slot - 1] = pl_xcalloc((size_t)t->n, sizeof(bool));
    if (db->prepared[slot - 1][id])
        return true;
    if (pl_pg__switch_flush(db) != 0)
        return false;
    PGresult *r = PQprepare(db->c, name, t->sql[id], 0, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        pl_pg__fail(db, "prepare", r);
    PQclear(r);
    db->prepared[slot - 1][id] = ok;
    return ok;
}

/* The answer to a failed statement: a constraint violation is an answer
 * (PL_EEXIST / PL_ENOTFOUND), anything else a storage error. */
static int error_of(pl_pg_db_t *db, const PGresult *r, const char *op)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "23505") == 0)
        return PL_EEXIST;
    if (state != NULL && strcmp(state, "23503") == 0)
        return PL_ENOTFOUND;
    return pl_pg__fail(db, op, r);
}

/* Reads one statement's results in pipeline mode: the last result (owned)
 * up to the NULL that ends it. */
static PGresult *pipe_result(PGconn *c)
{
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(c)) != NULL) {
        PQclear(last);
        last = r;
    }
    return last;
}

/* The owed savepoint switch and the statement in one pipeline: one round
 * trip where they would take two (libpq pipeline mode, libpq >= 14). The
 * statement's result is returned; if the switch failed, the statement was
 * not run (PGRES_PIPELINE_ABORTED) and switch_failed is set. */
static PGresult *exec_switch_and(pl_pg_db_t *db, const char *name, const pl_pg_args_t *a)
{
    PGconn *c = db->c;
    db->switch_pending = false;
    if (PQenterPipelineMode(c) != 1) {
        db->switch_pending = true;
        if (pl_pg__switch_flush(db) != 0)
            return NULL;
        return PQexecPrepared(c, name, a != NULL ? a->n : 0, a != NULL ? a->v : NULL, NULL, NULL,
                              0);
    }
    PGresult *rel = NULL, *sp = NULL, *r = NULL;
    bool sent = PQsendQueryParams(c, "RELEASE SAVEPOINT job", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
                PQsendQueryParams(c, "SAVEPOINT job", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
                PQsendQueryPrepared(c, name, a != NULL ? a->n : 0, a != NULL ? a->v : NULL, NULL,
                                    NULL, 0) == 1 &&
                PQpipelineSync(c) == 1;
    if (sent) {
        rel = pipe_result(c);
        sp = pipe_result(c);
        r = pipe_result(c);
        PGresult *sync = PQgetResult(c); /* PGRES_PIPELINE_SYNC */
        PQclear(sync);
    }
    if (PQexitPipelineMode(c) != 1) {
        /* Results left unread (a broken connection): drop them. */
        PGresult *x;
        while ((x = PQgetResult(c)) != NULL)
            PQclear(x);
        PQexitPipelineMode(c);
    }
    if (!sent || PQresultStatus(rel) != PGRES_COMMAND_OK ||
        PQresultStatus(sp) != PGRES_COMMAND_OK) {
        pl_pg__fail(db, "savepoint", PQresultStatus(rel) != PGRES_COMMAND_OK ? rel : sp);
        db->switch_failed = true;
    }
    PQclear(rel);
    PQclear(sp);
    return r;
}

int pl_pg__run(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
               const char *op, PGresult **res)
{
    char name[32];
    /* A statement other than the append's own may read rooms.last_seq:
     * the batch's cached seqs go to the table first. */
    if (db->seq_dirty && !db->seq_quiet && pl_pg__seq_flush(db) != 0)
        return PL_EIO;
    if (!ensure_prepared(db, t, id, name, sizeof name))
        return PL_EIO;
    /* Autocommit (direct connection, no fn savepoint): a failed statement
     * aborts nothing, so no guard is needed. */
    guard = guard && PQtransactionStatus(db->c) != PQTRANS_IDLE;
    if (guard && pl_pg__exec(db, "SAVEPOINT g", "savepoint_guard") != 0)
        return PL_EIO;
    PGresult *r = db->switch_pending ? exec_switch_and(db, name, a)
                                     : PQexecPrepared(db->c, name, a != NULL ? a->n : 0,
                                                      a != NULL ? a->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        rc = error_of(db, r, op);
    if (guard) {
        if (rc == 0 || rc == PL_EIO)
            rc = pl_pg__exec(db, "RELEASE SAVEPOINT g", "release_guard") != 0 ? PL_EIO : rc;
        else if (pl_pg__exec(db, "ROLLBACK TO SAVEPOINT g", "rollback_guard") != 0 ||
                 pl_pg__exec(db, "RELEASE SAVEPOINT g", "release_guard") != 0)
            rc = PL_EIO;
    }
    if (rc == 0 && res != NULL)
        *res = r;
    else
        PQclear(r);
    return rc;
}

int pl_pg__one(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
               const char *op, PGresult **res)
{
    PGresult *r = NULL;
    int rc = pl_pg__run(db, t, id, a, guard, op, &r);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return PL_ENOTFOUND;
    }
    *res = r;
    return 0;
}

int pl_pg__changed(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
                   const char *op)
{
    PGresult *r = NULL;
    int rc = pl_pg__run(db, t, id, a, guard, op, &r);
    if (rc != 0)
        return rc;
    rc = atoi(PQcmdTuples(r)) > 0 ? 0 : PL_ENOTFOUND;
    PQclear(r);
    return rc;
}

/* Outside a transaction (the direct connection) the function's savepoint is
 * a transaction of its own: PostgreSQL has no SAVEPOINT in autocommit. */
int pl_pg__fn_begin(pl_pg_db_t *db)
{
    bool own = PQtransactionStatus(db->c) == PQTRANS_IDLE;
    if (pl_pg__exec(db, own ? "BEGIN" : "SAVEPOINT fn", "savepoint") != 0)
        return PL_EIO;
    db->fn_own_tx[db->fn_depth < 8 ? db->fn_depth : 7] = own;
    db->fn_mark[db->fn_depth < 8 ? db->fn_depth : 7] = pl_pg__seq_mark(db);
    db->fn_depth++;
    return 0;
}

int pl_pg__fn_end(pl_pg_db_t *db, int rc)
{
    db->fn_depth--;
    if (db->fn_own_tx[db->fn_depth < 8 ? db->fn_depth : 7]) {
        if (rc == 0)
            return pl_pg__exec(db, "COMMIT", "commit");
        bool was_failed = db->job_failed;
        if (pl_pg__exec(db, "ROLLBACK", "rollback") == 0)
            db->job_failed = was_failed;
        return rc;
    }
    if (rc == 0) {
        if ((rc = pl_pg__exec(db, "RELEASE SAVEPOINT fn", "release")) == 0)
            return 0;
    }
    /* Roll back (also after a failed RELEASE): nothing of the function stays,
     * its seqs included. */
    pl_pg__seq_undo(db, db->fn_mark[db->fn_depth < 8 ? db->fn_depth : 7]);
    bool was_failed = db->job_failed;
    if (pl_pg__exec(db, "ROLLBACK TO SAVEPOINT fn", "rollback_to") == 0 &&
        pl_pg__exec(db, "RELEASE SAVEPOINT fn", "release") == 0)
        db->job_failed = was_failed;
    return rc;
}

int64_t pl_pg__i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pl_pg__b(const PGresult *r, int row, int col)
{
    const char *v = PQgetvalue(r, row, col);
    return v[0] == 't' || (v[0] >= '1' && v[0] <= '9');
}

char *pl_pg__str(const PGresult *r, int row, int col)
{
    return pl_xstrdup(PQgetvalue(r, row, col)); /* "" for NULL */
}

char *pl_pg__str_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : pl_xstrdup(PQgetvalue(r, row, col));
}

void pl_pg__ids(const PGresult *r, int64_t **out, size_t *n)
{
    int rows = PQntuples(r);
    *out = NULL;
    *n = (size_t)rows;
    if (rows == 0)
        return;
    *out = pl_xcalloc((size_t)rows, sizeof **out);
    for (int i = 0; i < rows; i++)
        (*out)[i] = pl_pg__i64(r, i, 0);
}

char *pl_pg__hex(const void *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    char *out = pl_xmalloc(2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

unsigned char *pl_pg__bytes(const PGresult *r, int row, int col, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (raw == NULL)
        return NULL;
    unsigned char *out = pl_xmalloc(n ? n : 1);
    if (n)
        memcpy(out, raw, n);
    PQfreemem(raw);
    *len = n;
    return out;
}

/* ---- the seq cache (the append is in store_pg_messages.c) ----
 * Inside the writer's batch, a room's row is locked (FOR UPDATE) by its
 * first append and stays locked until COMMIT, so nobody else can append to
 * it meanwhile: its next seqs are known without asking. Later appends insert
 * with the seq from here (ST_MSG_INSERT_AT), and rooms.last_seq is written
 * once per room per batch (ST_SEQ_FLUSH) instead of once per message: a row
 * updated hundreds of times in one transaction leaves as many versions,
 * which every later lock and update in the batch walks. The flush runs
 * before COMMIT and before any other statement of the batch (pl_pg__run),
 * so whatever reads rooms.last_seq sees the true value. Savepoints (job,
 * pl_pg__fn_begin) keep an undo mark: rolled back, they take back their
 * seqs, their flushes and the rooms they locked (PostgreSQL releases a row
 * lock taken after a savepoint rolled back to), so seqs stay gap-free. */
/* $1, $2: room ids and their last seqs, as array literals. */
static const char *const seq_sql[] = {
    "UPDATE rooms SET last_seq = u.seq FROM unnest($1::bigint[], $2::bigint[]) "
    "AS u(id, seq) WHERE rooms.id = u.id",
};
static pl_pg_table_t seq_stmts = PL_PG_TABLE(seq_sql);

/* One change: entry idx was created (created) or had seq/flushed. */
typedef struct pl_pg_undo {
    size_t idx;
    int64_t seq, flushed;
    bool created;
} pl_pg_undo_t;

static void undo_push(pl_pg_db_t *db, size_t idx, bool created)
{
    if (db->nundo == db->capundo) {
        db->capundo = db->capundo ? 2 * db->capundo : 64;
        db->undo = pl_xrealloc(db->undo, db->capundo * sizeof *db->undo);
    }
    pl_pg_undo_t *u = &db->undo[db->nundo++];
    *u = (pl_pg_undo_t){.idx = idx, .created = created};
    if (!created) {
        u->seq = db->seqs[idx].seq;
        u->flushed = db->seqs[idx].flushed;
    }
}

static void seq_update_dirty(pl_pg_db_t *db)
{
    db->seq_dirty = false;
    for (size_t i = 0; i < db->nseqs && !db->seq_dirty; i++)
        db->seq_dirty = db->seqs[i].seq != db->seqs[i].flushed;
}

size_t pl_pg__seq_mark(const pl_pg_db_t *db)
{
    return db->nundo;
}

void pl_pg__seq_undo(pl_pg_db_t *db, size_t mark)
{
    if (db->nundo <= mark)
        return;
    while (db->nundo > mark) {
        pl_pg_undo_t *u = &db->undo[--db->nundo];
        if (u->created) {
            db->nseqs = u->idx;
        } else {
            db->seqs[u->idx].seq = u->seq;
            db->seqs[u->idx].flushed = u->flushed;
        }
    }
    seq_update_dirty(db);
}

void pl_pg__seq_reset(pl_pg_db_t *db)
{
    db->nseqs = db->nundo = 0;
    db->seq_dirty = false;
}

void pl_pg__seq_free(pl_pg_db_t *db)
{
    free(db->seqs);
    free(db->undo);
    db->seqs = NULL;
    db->undo = NULL;
    db->capseqs = db->capundo = 0;
    pl_pg__seq_reset(db);
}

pl_pg_seq_t *pl_pg__seq_find(pl_pg_db_t *db, int64_t room, size_t *idx)
{
    for (size_t i = db->nseqs; i-- > 0;)
        if (db->seqs[i].room == room) {
            *idx = i;
            return &db->seqs[i];
        }
    return NULL;
}

size_t pl_pg__seq_add(pl_pg_db_t *db, int64_t room, int64_t last)
{
    if (db->nseqs == db->capseqs) {
        db->capseqs = db->capseqs ? 2 * db->capseqs : 64;
        db->seqs = pl_xrealloc(db->seqs, db->capseqs * sizeof *db->seqs);
    }
    size_t idx = db->nseqs++;
    db->seqs[idx] = (pl_pg_seq_t){.room = room, .seq = last, .flushed = last};
    undo_push(db, idx, true);
    return idx;
}

void pl_pg__seq_set(pl_pg_db_t *db, size_t idx, int64_t seq)
{
    undo_push(db, idx, false);
    db->seqs[idx].seq = seq;
    db->seq_dirty = true;
}

int pl_pg__seq_flush(pl_pg_db_t *db)
{
    if (!db->seq_dirty)
        return 0;
    pl_buf_t ids, seqs;
    pl_buf_init(&ids);
    pl_buf_init(&seqs);
    pl_buf_lit(&ids, "{");
    pl_buf_lit(&seqs, "{");
    bool first = true;
    for (size_t i = 0; i < db->nseqs; i++) {
        if (db->seqs[i].seq == db->seqs[i].flushed)
            continue;
        pl_buf_printf(&ids, "%s%" PRId64, first ? "" : ",", db->seqs[i].room);
        pl_buf_printf(&seqs, "%s%" PRId64, first ? "" : ",", db->seqs[i].seq);
        first = false;
    }
    pl_buf_lit(&ids, "}");
    pl_buf_lit(&seqs, "}");
    pl_buf_lit(&ids, "\0");
    pl_buf_lit(&seqs, "\0");
    pl_pg_args_t a = {0};
    pl_pg__text(&a, pl_buf_head(&ids));
    pl_pg__text(&a, pl_buf_head(&seqs));
    db->seq_quiet = true;
    int rc = pl_pg__run(db, &seq_stmts, 0, &a, false, "seq_flush", NULL);
    db->seq_quiet = false;
    pl_buf_dispose(&ids);
    pl_buf_dispose(&seqs);
    if (rc != 0)
        return PL_EIO;
    for (size_t i = 0; i < db->nseqs; i++)
        if (db->seqs[i].seq != db->seqs[i].flushed) {
            undo_push(db, i, false);
            db->seqs[i].flushed = db->seqs[i].seq;
        }
    db->seq_dirty = false;
    return 0;
}
