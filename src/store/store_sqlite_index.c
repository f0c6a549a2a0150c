/* SPDX-License-Identifier: MIT */
/* store_sqlite_index.c -- the search index, kept off the write path.
 *
 * The FTS5 index lives in its own database file (search.db) next to
 * parley.db and is written by one indexer thread. The writer hands over the
 * index changes of a batch right after that batch's COMMIT, so an ack never
 * waits for tokenizing and segment writes, and the index is written in
 * batches as large as the backlog (fewer, larger FTS5 segments).
 *
 * The index is derived data: search.db runs with synchronous=OFF, and a
 * `clean` flag is set only when the indexer stops after applying everything.
 * On open, a missing file, another layout version or a flag left at 0 (the
 * process died) means the index may miss changes: it is rebuilt from
 * parley.db in the background, in chunks, before queued changes are applied.
 *
 * Read-your-writes: pl_indexer_sync() waits until everything handed over
 * before the call is applied. A search runs it first; the hand-over of a
 * batch happens before its acks are posted, so a client that saw its
 * message acknowledged finds it.
 *
 * Forgetting removed text: an FTS5 delete (a deleted, expired or edited
 * message) only appends a delete marker; the words stay in the older
 * segment's leaf pages until a merge brings the marker and the entry
 * together. SQLite 3.40 has no FTS5 secure-delete, so the indexer runs an
 * incremental optimize (`merge` with a negative page count: every segment
 * into one, a bounded number of pages per transaction) purge_delay_ms after
 * the first removal, then checkpoints search.db's WAL with TRUNCATE. Pages
 * the merge frees are zeroed (PRAGMA secure_delete) and the content row of a
 * deleted message is removed with its row. The same purge runs after a
 * rebuild and, when one is due, before a clean stop. docs/security.md
 * "Data at rest" has the whole picture. */
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_internal.h"

#define INDEX_LAYOUT 1     /* bump to force a rebuild after a layout change */
#define REBUILD_CHUNK 5000 /* messages per rebuild transaction */
/* Pages one purge step may write (one transaction); the queue is applied
 * between steps, so index latency stays near one step (~0.1 s). */
#define PURGE_STEP_PAGES "1000"

struct pl_indexer {
    sqlite3 *h;
    char *main_path;
    uv_thread_t thread;
    bool started;
    uv_mutex_t mu;
    uv_cond_t work_cv, done_cv;
    pl_fts_op_t *q; /* handed over, not applied yet */
    size_t nq, capq;
    uint64_t enqueued, applied; /* hand-over serials; guarded by mu */
    bool closing;
    bool rebuild; /* set at open: rebuild before applying the queue */
    _Atomic uint64_t ops_applied;
    /* Indexer thread only: when removed text must be purged (uv_hrtime ns,
     * 0: nothing to purge) and the delay that schedules it. */
    uint64_t purge_at, purge_delay_ns;
};

static int ix_exec(pl_indexer_t *ix, const char *sql, const char *op)
{
    char *msg = NULL;
    if (sqlite3_exec(ix->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    pl_log(PL_LOG_ERROR, "store", "op=%s db=search err=%s", op,
           msg != NULL ? msg : sqlite3_errmsg(ix->h));
    sqlite3_free(msg);
    return PL_EIO;
}

static int64_t ix_state(pl_indexer_t *ix, const char *key)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(ix->h, "SELECT v FROM state WHERE k = ?1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

static int ix_set_state(pl_indexer_t *ix, const char *key, int64_t v)
{
    sqlite3_stmt *s = NULL;
    int rc = PL_EIO;
    if (sqlite3_prepare_v2(ix->h, "INSERT OR REPLACE INTO state(k, v) VALUES (?1, ?2)", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, v);
        if (sqlite3_step(s) == SQLITE_DONE)
            rc = 0;
    }
    if (rc != 0)
        pl_log(PL_LOG_ERROR, "store", "op=index_state db=search err=%s", sqlite3_errmsg(ix->h));
    sqlite3_finalize(s);
    return rc;
}

/* Runs sql with ?1 bound to a JSON array (owned text). */
static int ix_many(pl_indexer_t *ix, const char *sql, char *json, const char *op)
{
    sqlite3_stmt *s = NULL;
    int rc = PL_EIO;
    if (sqlite3_prepare_v2(ix->h, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, json, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_DONE)
            rc = 0;
    }
    if (rc != 0)
        pl_log(PL_LOG_ERROR, "store", "op=%s db=search err=%s", op, sqlite3_errmsg(ix->h));
    sqlite3_finalize(s);
    return rc;
}

/* Only text bodies are searchable; json_type guards against a non-string
 * body of a future content type. */
static const char INSERT_MANY[] =
    "INSERT INTO messages_fts(rowid, body) SELECT j.value ->> 0, (j.value ->> 1) ->> '$.body' "
    "FROM json_each(?1) AS j WHERE json_valid(j.value ->> 1) "
    "AND (j.value ->> 1) ->> '$.type' = 'text' AND json_type(j.value ->> 1, '$.body') = 'text'";
static const char DELETE_MANY[] =
    "DELETE FROM messages_fts WHERE rowid IN (SELECT value FROM json_each(?1))";

/* By message id, then queue position, so the last change of an id is last. */
static int op_cmp(const void *a, const void *b)
{
    const pl_fts_op_t *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Applies ops (sorted here) in one transaction. Only each message's last
 * change counts; a message that was new in this run is inserted without a
 * delete first. */
static int apply(pl_indexer_t *ix, pl_fts_op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ops[i].pos = i;
    qsort(ops, n, sizeof *ops, op_cmp);
    json_t *del = json_array(), *ins = json_array();
    bool fresh = true;
    for (size_t i = 0; i < n; i++) {
        const pl_fts_op_t *op = &ops[i];
        fresh = (i == 0 || ops[i - 1].id != op->id ? true : fresh) && op->fresh;
        if (i + 1 < n && ops[i + 1].id == op->id)
            continue;
        if (!fresh)
            json_array_append_new(del, json_integer(op->id));
        if (op->content != NULL)
            json_array_append_new(ins, json_pack("[Is]", (json_int_t)op->id, op->content));
    }
    /* A delete leaves the old words in the index until the purge. */
    if (json_array_size(del) > 0 && ix->purge_at == 0)
        ix->purge_at = uv_hrtime() + ix->purge_delay_ns;
    int rc = ix_exec(ix, "BEGIN", "index_begin");
    if (rc == 0 && json_array_size(del) > 0) {
        char *t = json_dumps(del, JSON_COMPACT);
        rc = ix_many(ix, DELETE_MANY, t, "index_delete");
        free(t);
    }
    if (rc == 0 && json_array_size(ins) > 0) {
        char *t = json_dumps(ins, JSON_COMPACT);
        rc = ix_many(ix, INSERT_MANY, t, "index_insert");
        free(t);
    }
    if (rc == 0)
        rc = ix_exec(ix, "COMMIT", "index_commit");
    else
        ix_exec(ix, "ROLLBACK", "index_rollback");
    json_decref(del);
    json_decref(ins);
    return rc;
}

/* Re-reads every text message of parley.db into an empty index, in chunks.
 * Returns false if it stopped early (closing or an error): the index stays
 * marked unclean and is rebuilt again next time. */
static bool rebuild(pl_indexer_t *ix)
{
    pl_log(PL_LOG_INFO, "store", "op=index_rebuild state=start");
    char *sql = sqlite3_mprintf("ATTACH DATABASE %Q AS m", ix->main_path);
    int rc = ix_exec(ix, sql, "index_attach");
    sqlite3_free(sql);
    if (rc != 0)
        return false;
    rc = ix_exec(ix, "DELETE FROM messages_fts", "index_clear");
    sqlite3_stmt *next = NULL, *ins = NULL;
    if (rc == 0 &&
        (sqlite3_prepare_v2(ix->h,
                            "SELECT max(id) FROM (SELECT id FROM m.messages WHERE id > ?1 "
                            "ORDER BY id LIMIT ?2)",
                            -1, &next, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(ix->h,
                            "INSERT INTO messages_fts(rowid, body) SELECT id, content ->> '$.body' "
                            "FROM m.messages WHERE id > ?1 AND id <= ?2 AND deleted = 0 "
                            "AND json_valid(content) AND content ->> '$.type' = 'text' "
                            "AND json_type(content, '$.body') = 'text'",
                            -1, &ins, NULL) != SQLITE_OK)) {
        pl_log(PL_LOG_ERROR, "store", "op=index_rebuild err=%s", sqlite3_errmsg(ix->h));
        rc = PL_EIO;
    }
    int64_t from = 0, chunks = 0;
    while (rc == 0) {
        uv_mutex_lock(&ix->mu);
        bool closing = ix->closing;
        uv_mutex_unlock(&ix->mu);
        if (closing) {
            rc = PL_ECLOSED;
            break;
        }
        if ((rc = ix_exec(ix, "BEGIN", "index_begin")) != 0)
            break;
        sqlite3_bind_int64(next, 1, from);
        sqlite3_bind_int64(next, 2, REBUILD_CHUNK);
        int64_t upto =
            sqlite3_step(next) == SQLITE_ROW && sqlite3_column_type(next, 0) != SQLITE_NULL
                ? sqlite3_column_int64(next, 0)
                : 0;
        sqlite3_reset(next);
        if (upto == 0) {
            rc = ix_exec(ix, "COMMIT", "index_commit");
            break;
        }
        sqlite3_bind_int64(ins, 1, from);
        sqlite3_bind_int64(ins, 2, upto);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            pl_log(PL_LOG_ERROR, "store", "op=index_rebuild err=%s", sqlite3_errmsg(ix->h));
            rc = PL_EIO;
        }
        sqlite3_reset(ins);
        if (rc == 0)
            rc = ix_exec(ix, "COMMIT", "index_commit");
        else
            ix_exec(ix, "ROLLBACK", "index_rollback");
        from = upto;
        chunks++;
    }
    sqlite3_finalize(next);
    sqlite3_finalize(ins);
    ix_exec(ix, "DETACH DATABASE m", "index_detach");
    pl_log(rc == 0 ? PL_LOG_INFO : PL_LOG_WARN, "store",
           "op=index_rebuild state=%s chunks=%" PRId64 " last_id=%" PRId64,
           rc == 0 ? "done" : "stopped", chunks, from);
    return rc == 0;
}

static void free_ops(pl_fts_op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ops[i].content);
    free(ops);
}

/* Takes everything queued and applies it; returns how many ops there were.
 * Clears *clean when the index misses some of them. */
static size_t drain(pl_indexer_t *ix, bool *clean)
{
    uv_mutex_lock(&ix->mu);
    pl_fts_op_t *ops = ix->q;
    size_t n = ix->nq;
    uint64_t serial = ix->enqueued;
    ix->q = NULL;
    ix->nq = ix->capq = 0;
    uv_mutex_unlock(&ix->mu);

    if (n > 0) {
        if (apply(ix, ops, n) != 0)
            *clean = false; /* the index misses these: rebuild next start */
        atomic_fetch_add_explicit(&ix->ops_applied, n, memory_order_relaxed);
        free_ops(ops, n);
    }
    uv_mutex_lock(&ix->mu);
    ix->applied = serial;
    uv_cond_broadcast(&ix->done_cv);
    uv_mutex_unlock(&ix->mu);
    return n;
}

/* PRAGMA wal_checkpoint(TRUNCATE): the WAL keeps old page images (removed
 * words included) until it is overwritten; truncated, it holds nothing. */
static void ix_checkpoint(pl_indexer_t *ix)
{
    int nlog = 0, nckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(ix->h, "main", SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    if (rc != SQLITE_OK) {
        pl_log(PL_LOG_WARN, "store", "op=index_checkpoint db=search err=%s", sqlite3_errmsg(ix->h));
        ix->purge_at = uv_hrtime() + 1000000000u; /* a reader held it: again in 1 s */
    }
}

/* Merges every segment into one, a step (PURGE_STEP_PAGES) per transaction,
 * applying queued changes between steps, until a step finds nothing to do
 * (FTS5: fewer than 2 changes). Entries of deleted rows are dropped by the
 * merge; the freed pages are zeroed (secure_delete). */
static void purge(pl_indexer_t *ix, bool *clean)
{
    uint64_t t0 = uv_hrtime();
    ix->purge_at = 0; /* removals from now on schedule the next purge */
    int64_t steps = 0;
    int rc = 0;
    for (;;) {
        int before = sqlite3_total_changes(ix->h);
        rc = ix_exec(ix,
                     "INSERT INTO messages_fts(messages_fts, rank) "
                     "VALUES ('merge', -" PURGE_STEP_PAGES ")",
                     "index_purge");
        if (rc != 0 || sqlite3_total_changes(ix->h) - before < 2)
            break;
        steps++;
        drain(ix, clean);
    }
    if (rc != 0 && ix->purge_at == 0)
        ix->purge_at = uv_hrtime() + ix->purge_delay_ns; /* try again later */
    ix_checkpoint(ix);
    pl_log(PL_LOG_INFO, "store", "op=index_purge steps=%" PRId64 " ms=%" PRIu64 " ok=%d", steps,
           (uv_hrtime() - t0) / 1000000u, rc == 0);
}

/* Waits for work or for the purge time, whichever comes first. Returns
 * closing. */
static bool wait_work(pl_indexer_t *ix)
{
    uv_mutex_lock(&ix->mu);
    while (ix->nq == 0 && !ix->closing) {
        if (ix->purge_at == 0) {
            uv_cond_wait(&ix->work_cv, &ix->mu);
            continue;
        }
        uint64_t now = uv_hrtime();
        if (now >= ix->purge_at)
            break;
        (void)uv_cond_timedwait(&ix->work_cv, &ix->mu, ix->purge_at - now);
    }
    bool closing = ix->closing;
    uv_mutex_unlock(&ix->mu);
    return closing;
}

static void indexer_main(void *arg)
{
    pl_indexer_t *ix = arg;
    bool clean = true;
    if (ix->rebuild) {
        clean = rebuild(ix);
        /* The clear left delete markers, and a crash may have left old
         * pages in the WAL: purge now. */
        ix->purge_at = uv_hrtime();
    }
    for (;;) {
        bool closing = wait_work(ix);
        size_t n = drain(ix, &clean);
        /* A clean stop does not leave removed text behind for the next
         * start: the pending purge runs now. */
        if (ix->purge_at != 0 && (uv_hrtime() >= ix->purge_at || (closing && n == 0)))
            purge(ix, &clean);
        if (closing && n == 0)
            break;
    }
    if (clean)
        ix_set_state(ix, "clean", 1);
    ix_checkpoint(ix);
}

int pl_indexer_open(const char *dir, const char *main_path, int64_t purge_delay_ms,
                    pl_indexer_t **out)
{
    pl_indexer_t *ix = pl_xcalloc(1, sizeof *ix);
    ix->purge_delay_ns = (uint64_t)(purge_delay_ms > 0 ? purge_delay_ms : 0) * 1000000u;
    size_t plen = strlen(dir) + sizeof "/search.db";
    char *path = pl_xmalloc(plen);
    snprintf(path, plen, "%s/search.db", dir);
    ix->main_path = pl_xstrdup(main_path);
    uv_mutex_init(&ix->mu);
    uv_cond_init(&ix->work_cv);
    uv_cond_init(&ix->done_cv);
    int rc = sqlite3_open_v2(path, &ix->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL) == SQLITE_OK
                 ? 0
                 : PL_EIO;
    if (rc != 0)
        pl_log(PL_LOG_ERROR, "store", "op=open db=search path=%s err=%s", path,
               ix->h ? sqlite3_errmsg(ix->h) : "out of memory");
    free(path);
    if (rc == 0) {
        sqlite3_busy_timeout(ix->h, 5000);
        /* Derived data: no fsync; a crash is detected by the clean flag.
         * secure_delete: freed pages and cells are zeroed (Debian's default,
         * made explicit so another build cannot silently drop it). */
        rc = ix_exec(ix,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA secure_delete=ON;"
                     "CREATE TABLE IF NOT EXISTS state(k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
                     "index_open");
    }
    if (rc == 0 && ix_state(ix, "layout") != INDEX_LAYOUT) {
        rc = ix_exec(ix,
                     "DROP TABLE IF EXISTS messages_fts;"
                     "CREATE VIRTUAL TABLE messages_fts USING fts5(body, "
                     "tokenize = 'unicode61 remove_diacritics 2');"
                     "DELETE FROM state;",
                     "index_create");
        if (rc == 0)
            rc = ix_set_state(ix, "layout", INDEX_LAYOUT);
    }
    if (rc == 0) {
        ix->rebuild = ix_state(ix, "clean") != 1;
        /* Unclean from now until a clean stop. */
        rc = ix_set_state(ix, "clean", 0);
    }
    if (rc == 0 && uv_thread_create(&ix->thread, indexer_main, ix) != 0) {
        pl_log(PL_LOG_ERROR, "store", "op=open db=search err=cannot start the indexer thread");
        rc = PL_EIO;
    }
    if (rc != 0) {
        sqlite3_close(ix->h);
        ix->h = NULL;
        pl_indexer_close(ix);
        return PL_EIO;
    }
    ix->started = true;
    *out = ix;
    return 0;
}

void pl_indexer_close(pl_indexer_t *ix)
{
    if (ix == NULL)
        return;
    if (ix->started) {
        uv_mutex_lock(&ix->mu);
        ix->closing = true;
        uv_cond_signal(&ix->work_cv);
        uv_mutex_unlock(&ix->mu);
        uv_thread_join(&ix->thread);
    }
    if (ix->h != NULL && sqlite3_close(ix->h) != SQLITE_OK)
        pl_log(PL_LOG_ERROR, "store", "op=close db=search err=%s", sqlite3_errmsg(ix->h));
    free_ops(ix->q, ix->nq);
    uv_mutex_destroy(&ix->mu);
    uv_cond_destroy(&ix->work_cv);
    uv_cond_destroy(&ix->done_cv);
    free(ix->main_path);
    free(ix);
}

void pl_indexer_submit(pl_indexer_t *ix, pl_fts_op_t *ops, size_t n)
{
    if (n == 0)
        return;
    uv_mutex_lock(&ix->mu);
    if (ix->nq + n > ix->capq) {
        ix->capq = (ix->nq + n) * 2;
        ix->q = pl_xrealloc(ix->q, ix->capq * sizeof *ix->q);
    }
    memcpy(ix->q + ix->nq, ops, n * sizeof *ops);
    ix->nq += n;
    ix->enqueued++;
    uv_cond_signal(&ix->work_cv);
    uv_mutex_unlock(&ix->mu);
}

bool pl_indexer_sync(pl_indexer_t *ix, uint64_t timeout_ms)
{
    uv_mutex_lock(&ix->mu);
    uint64_t target = ix->enqueued;
    uint64_t deadline = uv_hrtime() + timeout_ms * 1000000u;
    bool ok = true;
    while (ix->applied < target) {
        uint64_t now = uv_hrtime();
        if (now >= deadline || uv_cond_timedwait(&ix->done_cv, &ix->mu, deadline - now) != 0) {
            ok = ix->applied >= target;
            break;
        }
    }
    uv_mutex_unlock(&ix->mu);
    return ok;
}

uint64_t pl_indexer_ops_applied(pl_indexer_t *ix)
{
    return atomic_load_explicit(&ix->ops_applied, memory_order_relaxed);
}

/* ---- the writer side: index changes of a batch ---- */

/* On the writer, index changes wait for the batch's COMMIT (see
 * store_internal.h); other connections (startup, tests) hand them over now. */
static int fts_queue(pl_db_t *db, int64_t id, const char *content, bool fresh)
{
    pl_fts_op_t op = {.id = id, .content = content ? pl_xstrdup(content) : NULL, .fresh = fresh};
    if (db->role != PL_DB_WRITER) {
        if (db->ix != NULL)
            pl_indexer_submit(db->ix, &op, 1);
        else
            free(op.content);
        return 0;
    }
    if (db->nfts == db->capfts) {
        db->capfts = db->capfts ? db->capfts * 2 : 64;
        db->fts = pl_xrealloc(db->fts, db->capfts * sizeof *db->fts);
    }
    db->fts[db->nfts++] = op;
    return 0;
}

void pl_store__fts_truncate(pl_db_t *db, size_t from)
{
    for (size_t i = from; i < db->nfts; i++)
        free(db->fts[i].content);
    if (from < db->nfts)
        db->nfts = from;
    if (db->nfts == 0) {
        free(db->fts);
        db->fts = NULL;
        db->capfts = 0;
    }
}

void pl_store__fts_handoff(pl_db_t *db)
{
    if (db->ix != NULL && db->nfts > 0) {
        pl_indexer_submit(db->ix, db->fts, db->nfts); /* takes the strings */
        db->nfts = 0;
    }
    pl_store__fts_truncate(db, 0);
}

int pl_store__index_message(pl_db_t *db, int64_t id, const char *content)
{
    return fts_queue(db, id, content, true);
}

int pl_store__reindex_message(pl_db_t *db, int64_t id, const char *content)
{
    return fts_queue(db, id, content, false);
}

int pl_store__unindex_message(pl_db_t *db, int64_t id)
{
    return fts_queue(db, id, NULL, false);
}
