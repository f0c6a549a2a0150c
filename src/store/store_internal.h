/* SPDX-License-Identifier: MIT */
/* store_internal.h -- shared between store_sqlite.c (connections, schema, job
 * threads) and store_sqlite_data.c (the pl_db_* data functions). Not for use
 * outside src/store/. */
#ifndef PL_STORE_STORE_INTERNAL_H
#define PL_STORE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store/store.h"

/* Every SQL statement the store runs more than once, prepared lazily per
 * connection (SQLITE_PREPARE_PERSISTENT) and reused. Order matches
 * pl_store__sql[]. */
typedef enum {
    PL_ST_BEGIN_IMMEDIATE,
    PL_ST_BEGIN,
    PL_ST_COMMIT,
    PL_ST_ROLLBACK,
    PL_ST_JOB_SAVEPOINT,
    PL_ST_JOB_RELEASE,
    PL_ST_JOB_ROLLBACK_TO,
    PL_ST_FN_SAVEPOINT,
    PL_ST_FN_RELEASE,
    PL_ST_FN_ROLLBACK_TO,
    PL_ST_USER_INSERT,
    PL_ST_USER_BY_NAME,
    PL_ST_USER_BY_ID,
    PL_ST_SESSION_INSERT,
    PL_ST_SESSION_GET,
    PL_ST_SESSION_TOUCH,
    PL_ST_SESSION_DELETE,
    PL_ST_SESSION_COUNT,
    PL_ST_ROOM_INSERT,
    PL_ST_ROOM_BY_DM_KEY,
    PL_ST_ROOM_GET,
    PL_ST_MEMBER_INSERT,
    PL_ST_MEMBER_INSERT_OR_IGNORE,
    PL_ST_MEMBER_DELETE,
    PL_ST_MEMBER_EXISTS,
    PL_ST_ROOM_MEMBERS,
    PL_ST_ROOM_MEMBER_COUNT,
    PL_ST_USER_ROOMS,
    PL_ST_MEMBER_SET_READ,
    PL_ST_EACH_ROOM,
    PL_ST_EACH_MEMBER,
    PL_ST_MENTION_MEMBER,
    PL_ST_MSG_BY_CLIENT_ID,
    PL_ST_ROOM_LAST_SEQ,
    PL_ST_MSG_INSERT,
    PL_ST_ROOM_SET_LAST_SEQ,
    PL_ST_MSG_BEFORE,
    PL_ST_MSG_AFTER,
    /* schema 2: conversation features (store_sqlite_conv.c) */
    PL_ST_MSG_GET,
    PL_ST_MENTION_INSERT,
    PL_ST_MENTION_DELETE,
    PL_ST_ROOM_BUMP_VERSION,
    PL_ST_MSG_SET_EDIT,
    PL_ST_MSG_SET_DELETED,
    PL_ST_MSG_THREAD_BUMP,
    PL_ST_MSG_SET_VERSION,
    PL_ST_REACTION_INSERT,
    PL_ST_REACTION_DELETE,
    PL_ST_REACTION_CLEAR,
    PL_ST_REACTION_COUNT_USER,
    PL_ST_MSG_UPDATED,
    PL_ST_MSG_THREAD,
    PL_ST_MSG_EXPIRED,
    PL_ST_SEARCH,
    PL_ST_ROOM_SET_DISAPPEARING,
    PL_ST_ROOM_SET_META,
    PL_ST_MEMBER_GET_RECEIPT,
    PL_ST_MEMBER_SET_RECEIPT,
    PL_ST_ROOM_RECEIPTS,
    PL_ST_PROFILE_BY_ID,
    PL_ST_PROFILE_BY_NAME,
    PL_ST_PROFILE_SET,
    PL_ST_SETTINGS_SET,
    PL_ST_USER_SET_LAST_SEEN,
    PL_ST_CONTACTS,
    PL_ST__COUNT
} pl_stmt_id_t;

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
    sqlite3 *h;                       /* owned; closed by pl_store__db_close */
    sqlite3_stmt *stmt[PL_ST__COUNT]; /* cache; NULL until first use */
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
    size_t fts_job_start; /* first op of the running job (dropped on rollback) */
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
 * background. Returns 0 or PL_EIO (logged). */
int pl_indexer_open(const char *dir, const char *main_path, pl_indexer_t **out);
/** Applies what was handed over, marks the index clean, stops. NULL is ok. */
void pl_indexer_close(pl_indexer_t *ix);
/** Takes n ops (their content strings; the array stays the caller's). */
void pl_indexer_submit(pl_indexer_t *ix, pl_fts_op_t *ops, size_t n);
/** Waits (at most timeout_ms) until everything submitted before the call is
 * applied. Returns false on timeout (a rebuild or a backlog is running). */
bool pl_indexer_sync(pl_indexer_t *ix, uint64_t timeout_ms);
/** Ops applied since open (tests, stats). */
uint64_t pl_indexer_ops_applied(pl_indexer_t *ix);

/** Returns the cached statement id, preparing it on first use; NULL after
 * logging (and marking the job failed) if SQLite refuses it. */
sqlite3_stmt *pl_store__stmt(pl_db_t *db, pl_stmt_id_t id);

/** Resets a statement and clears its bindings so it is ready for reuse and
 * holds no read snapshot or borrowed pointers. */
void pl_store__stmt_done(sqlite3_stmt *s);

/** Logs "op=<op> db=<name> err=<sqlite message>", marks the running job as
 * failed and returns PL_EIO. */
int pl_store__fail(pl_db_t *db, const char *op);

/** Prepares sql for a statement used rarely (not cached: finalize it).
 * NULL after pl_store__fail(op) when SQLite refuses it. */
sqlite3_stmt *pl_store__prep(pl_db_t *db, const char *sql, const char *op);

/** The answer to a failed step: a UNIQUE or PRIMARY KEY violation is
 * PL_EEXIST, a foreign-key miss PL_ENOTFOUND (answers, not failures),
 * anything else pl_store__fail(op). */
int pl_store__step_error(pl_db_t *db, const char *op);

/** Runs a cached statement that takes no parameters and returns no rows
 * (BEGIN, SAVEPOINT, ...). Returns 0 or PL_EIO (logged). */
int pl_store__exec(pl_db_t *db, pl_stmt_id_t id, const char *op);

/** Shared helpers of the data files (store_sqlite_data.c). */
extern const char *const pl_store__conv_sql[PL_ST__COUNT];
void pl_store__message_from_row(sqlite3_stmt *s, pl_message_t *m);
int pl_store__collect_messages(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_message_t **out,
                               size_t *n);
int pl_store__step_done(pl_db_t *db, sqlite3_stmt *s, const char *op);
int pl_store__fn_begin(pl_db_t *db);
int pl_store__fn_end(pl_db_t *db, int rc);
void pl_store__bind_text(sqlite3_stmt *s, int i, const char *v);
char *pl_store__col_str(sqlite3_stmt *s, int i);
/** Indexes a new message's text body for search (nothing for other types). */
int pl_store__index_message(pl_db_t *db, int64_t id, const char *content);
/** Stores the mention rows of message (room_id, seq). */
int pl_store__mentions_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                              const int64_t *users, size_t n, bool mention_room);
/** Bumps the thread root's counters (a mutation of the root: new version)
 * and loads its new state into *out. */
int pl_store__thread_bump(pl_db_t *db, int64_t room_id, int64_t root, int64_t ts,
                          pl_message_t *out);
/** Serializes user ids as a JSON array of "u<id>" strings; NULL when n is 0. */
char *pl_store__mentions_json(const int64_t *users, size_t n);

#endif
