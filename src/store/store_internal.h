/* SPDX-License-Identifier: MIT */
/* store_internal.h -- shared by the SQLite backend's files: store_sqlite.c
 * (connections, schema, job threads), store_sqlite_stmt.c (statement tables,
 * the row collector) and the concept files (users, rooms, messages, conv,
 * search, index, media, invite). Not for use outside src/store/. */
#ifndef PL_STORE_STORE_INTERNAL_H
#define PL_STORE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/util.h"

#include "store/store.h"
#include "store/store_sqlite.h"

/* ---- statement tables ----
 * Each concept file (users, rooms, messages, ...) declares the statements it
 * runs in its own table, next to the code that uses them:
 *
 *     enum { ST_USER_INSERT, ..., ST__COUNT };
 *     static const char *const sql[ST__COUNT] = {[ST_USER_INSERT] = "INSERT ...", ...};
 *     static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
 *     #define STMT(db, id) pl_store__stmt((db), &stmts, (id))
 *
 * Every connection prepares a statement on its first use
 * (SQLITE_PREPARE_PERSISTENT) and keeps it until it closes; a statement is
 * reset (pl_store__stmt_done) after each use, never finalized. A table gets
 * its slot in the connections' caches on its first use (slot, assigned once
 * under a lock). */
typedef struct {
    const char *const *sql; /* indexed by the file's ST_* ids */
    int n;
    _Atomic int slot; /* 1-based slot in pl_db.stmts; 0 until first use */
} pl_sql_table_t;
#define PL_SQL_TABLE(arr)                                                                          \
    {                                                                                              \
        (arr), (int)PL_ARRAY_LEN(arr), 0                                                           \
    }
#define PL_SQL_TABLES_MAX 32 /* tables (one per concept file), with room to spare */

/* The transaction statements the job threads run (store_sqlite_stmt.c). */
typedef enum {
    PL_TX_BEGIN_IMMEDIATE,
    PL_TX_BEGIN,
    PL_TX_COMMIT,
    PL_TX_ROLLBACK,
    PL_TX_JOB_SAVEPOINT,
    PL_TX_JOB_RELEASE,
    PL_TX_JOB_ROLLBACK_TO,
    PL_TX_FN_SAVEPOINT,
    PL_TX_FN_RELEASE,
    PL_TX_FN_ROLLBACK_TO,
    PL_TX__COUNT
} pl_tx_stmt_t;

/* Every query that returns messages selects these columns (see
 * pl_store__message_from_row): the row, the quoted message's sender and
 * preview, and the aggregated reactions as JSON (NULL when none). */
#define PL_STORE_MSG_SELECT                                                                        \
    "SELECT m.id, m.room_id, m.seq, m.sender, m.ts, m.client_id, m.content, m.version, "           \
    "m.edited_ts, m.deleted, m.reply_to, m.thread_root, m.thread_count, m.thread_last_ts, "        \
    "m.expires_ts, m.mentions, m.mention_room, o.sender, "                                         \
    "CASE WHEN o.id IS NULL THEN NULL WHEN o.deleted THEN '' ELSE "                                \
    "substr(coalesce(o.content ->> '$.body', o.content ->> '$.caption', "                          \
    "CASE o.content ->> '$.type' WHEN 'image' THEN 'Photo' WHEN 'video' THEN 'Video' "             \
    "WHEN 'voice' THEN 'Voice message' WHEN 'sticker' THEN 'Sticker' "                             \
    "WHEN 'file' THEN 'File: ' || coalesce(o.content ->> '$.name', '') END, ''), 1, 100) END, "    \
    "CASE WHEN EXISTS (SELECT 1 FROM reactions x WHERE x.message_id = m.id) THEN "                 \
    "(SELECT json_group_array(json_object('emoji', g.emoji, 'count', g.n, 'users', "               \
    "json(g.users))) FROM (SELECT r.emoji AS emoji, count(*) AS n, min(r.id) AS first, "           \
    "(SELECT json_group_array('u' || y.user_id) FROM (SELECT y2.user_id AS user_id "               \
    "FROM reactions y2 WHERE y2.message_id = m.id AND y2.emoji = r.emoji "                         \
    "ORDER BY y2.id LIMIT 50) y) AS users "                                                        \
    "FROM reactions r WHERE r.message_id = m.id GROUP BY r.emoji ORDER BY first) g) "              \
    "END "                                                                                         \
    "FROM messages m LEFT JOIN messages o ON m.reply_to > 0 AND o.room_id = m.room_id "            \
    "AND o.seq = m.reply_to "

/* The connection's role decides what pl_db_rollback_job and the job flags
 * mean. */
typedef enum { PL_DB_WRITER, PL_DB_READER, PL_DB_DIRECT } pl_db_role_t;

struct pl_db {
    const pl_store_backend_t *be;            /* first member: &pl_store_sqlite_backend */
    sqlite3 *h;                              /* owned; closed by pl_store__db_close */
    sqlite3_stmt **stmts[PL_SQL_TABLES_MAX]; /* per table slot: cache (calloc'd on first use) */
    int nstmts[PL_SQL_TABLES_MAX];           /* entries of each cache */
    pl_db_role_t role;
    const char *name;  /* static, for log lines: "writer", ... */
    bool job_rollback; /* work asked for ROLLBACK TO its savepoint */
    bool job_failed;   /* a data call hit a storage error */
    /* Search-index changes of the open batch (writer only). They go to the
     * indexer (store_sqlite_index.c) after the batch's COMMIT; a job that
     * rolls back drops its own. Other connections hand each change over at
     * once. */
    struct pl_fts_op *fts;
    size_t nfts, capfts;
    size_t fts_job_start;  /* first op of the running job (dropped on rollback) */
    struct pl_indexer *ix; /* the store's indexer (search.db is attached as "s") */
};

/** One search-index change: content NULL removes the message's entry,
 * otherwise (re)indexes it. fresh: the message is new (nothing to delete). */
typedef struct pl_fts_op {
    int64_t id;
    char *content; /* owned */
    bool fresh;
    size_t pos; /* indexer scratch: order of arrival */
} pl_fts_op_t;

/** Drops the pending FTS ops from index `from` on (job rollback: from the job's
 * start; whole-batch failure: 0). */
void pl_store__fts_truncate(pl_db_t *db, size_t from);
/** Hands the pending FTS ops to the indexer (writer, after COMMIT). */
void pl_store__fts_handoff(pl_db_t *db);

/* ---- the indexer: search.db and its thread (store_sqlite_index.c) ---- */
typedef struct pl_indexer pl_indexer_t;
/** Opens (creating) dir/search.db and starts the indexer thread; a missing,
 * outdated or uncleanly closed index is rebuilt from main_path in the
 * background. Removed entries are purged from the file purge_delay_ms after
 * the first removal (config purge_delay_ms). Returns 0 or PL_EIO (logged). */
int pl_indexer_open(const char *dir, const char *main_path, int64_t purge_delay_ms,
                    pl_indexer_t **out);
/** Applies what was handed over, marks the index clean, stops. NULL is ok. */
void pl_indexer_close(pl_indexer_t *ix);
/** Takes n ops (their content strings; the array stays the caller's). */
void pl_indexer_submit(pl_indexer_t *ix, pl_fts_op_t *ops, size_t n);
/** Waits (at most timeout_ms) until everything submitted before the call is
 * applied. Returns false on timeout (a rebuild or a backlog is running). */
bool pl_indexer_sync(pl_indexer_t *ix, uint64_t timeout_ms);
/** Ops applied since open (tests, stats). */
uint64_t pl_indexer_ops_applied(pl_indexer_t *ix);

/** Returns statement id of table t, preparing it on first use on this
 * connection; NULL after logging (and marking the job failed) if SQLite
 * refuses it. */
sqlite3_stmt *pl_store__stmt(pl_db_t *db, pl_sql_table_t *t, int id);
/** Finalizes every cached statement of the connection (before close). */
void pl_store__stmts_finalize(pl_db_t *db);

/** Resets a statement and clears its bindings so it is ready for reuse and
 * holds no read snapshot or borrowed pointers. */
void pl_store__stmt_done(sqlite3_stmt *s);

/** Logs "op=<op> db=<name> err=<sqlite message>", marks the running job as
 * failed and returns PL_EIO. */
int pl_store__fail(pl_db_t *db, const char *op);

/** The answer to a failed step: a UNIQUE or PRIMARY KEY violation is
 * PL_EEXIST, a foreign-key miss PL_ENOTFOUND (answers, not failures),
 * anything else pl_store__fail(op). */
int pl_store__step_error(pl_db_t *db, const char *op);

/** Runs a transaction statement (BEGIN, SAVEPOINT, ...). Returns 0 or
 * PL_EIO (logged). */
int pl_store__exec(pl_db_t *db, pl_tx_stmt_t id, const char *op);
/** Steps a bound statement that returns no rows and resets it: 0 or
 * pl_store__step_error(op). */
int pl_store__step_done(pl_db_t *db, sqlite3_stmt *s, const char *op);

/** Multi-statement functions run inside their own nested savepoint, so a
 * failure half way never leaves a partial write, whether they run in a job's
 * savepoint or on the autocommit direct connection. fn_end releases it (rc
 * 0) or rolls it back, and returns rc. */
int pl_store__fn_begin(pl_db_t *db);
int pl_store__fn_end(pl_db_t *db, int rc);
/* Runs the statements in __VA_ARGS__ (which set rc) inside such a savepoint. */
#define WITH_FN(db, rc, ...)                                                                       \
    do {                                                                                           \
        if (((rc) = pl_store__fn_begin(db)) != 0)                                                  \
            break;                                                                                 \
        __VA_ARGS__;                                                                               \
        (rc) = pl_store__fn_end((db), (rc));                                                       \
    } while (0)

/** Binds text (NULL as "") without copying: the statement is stepped and
 * reset before the caller returns. */
void pl_store__bind_text(sqlite3_stmt *s, int i, const char *v);
/** Column i as an owned string ("" for NULL), or NULL for NULL (_or_null). */
char *pl_store__col_str(sqlite3_stmt *s, int i);
char *pl_store__col_str_or_null(sqlite3_stmt *s, int i);

/* ---- the row collector ---- */
/** Fills one element (elem: size bytes, zeroed) from the current row. */
typedef void (*pl_row_read_cb)(sqlite3_stmt *s, void *elem);
/** Frees what pl_row_read_cb put in one element (NULL: nothing owned). */
typedef void (*pl_row_dispose_cb)(void *elem);
typedef struct {
    size_t size; /* bytes per element */
    pl_row_read_cb read;
    pl_row_dispose_cb dispose;
    void *v;  /* out: malloc'd array (NULL when no rows); free() */
    size_t n; /* out: elements */
} pl_rows_t;
#define PL_ROWS(type, read, dispose) ((pl_rows_t){sizeof(type), (read), (dispose), NULL, 0})
/** Steps s to the end, reading each row into a new element of r->v (grown
 * by doubling), then resets s. Returns 0 with r->v and r->n set, or PL_EIO
 * after pl_store__fail(op) with every element disposed and r->v NULL. */
int pl_store__collect(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_rows_t *r);
/** A pl_row_read_cb for an int64_t array: column 0 (NULL reads as 0). */
void pl_store__row_id(sqlite3_stmt *s, void *elem);

/* ---- shared between the concept files ---- */
/** Reads a message row (PL_STORE_MSG_SELECT) into *m (store_sqlite_messages.c). */
void pl_store__message_from_row(sqlite3_stmt *s, pl_message_t *m);
/** pl_store__collect of message rows. */
int pl_store__collect_messages(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_message_t **out,
                               size_t *n);
/** Increments the room's last_version; *version receives the new value. */
int pl_store__bump_version(pl_db_t *db, int64_t room_id, int64_t *version);
/** Runs s (NULL: PL_EIO), bound to the message (?1 room_id, ?2 seq) and nextra
 * int64 parameters from ?3; PL_ENOTFOUND when no row changed. */
int pl_store__msg_update(pl_db_t *db, sqlite3_stmt *s, const char *op, int64_t room_id, int64_t seq,
                         int nextra, const int64_t *extra);
/** The mention rows of message (room_id, seq): delete all, insert. */
int pl_store__mentions_delete(pl_db_t *db, int64_t room_id, int64_t seq);
int pl_store__mentions_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                              const int64_t *users, size_t n, bool mention_room);
/** The ids of the names (usernames) that are members of the room, one
 * indexed query per name; *ids malloc'd (free()). */
int pl_store__mention_ids(pl_db_t *db, int64_t room_id, const char *const *names, size_t nnames,
                          int64_t **ids, size_t *n);
/** Serializes user ids as a JSON array of "u<id>" strings; NULL when n is 0. */
char *pl_store__mentions_json(const int64_t *users, size_t n);
/** Search-index changes of a message (store_sqlite_index.c): a new text
 * body, a changed one, a removed one. */
int pl_store__index_message(pl_db_t *db, int64_t id, const char *content);
int pl_store__reindex_message(pl_db_t *db, int64_t id, const char *content);
int pl_store__unindex_message(pl_db_t *db, int64_t id);

#endif
