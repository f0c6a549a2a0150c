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
    PL_ST_USER_ROOMS,
    PL_ST_MEMBER_SET_READ,
    PL_ST_EACH_ROOM,
    PL_ST_EACH_MEMBER,
    PL_ST_MSG_BY_CLIENT_ID,
    PL_ST_ROOM_LAST_SEQ,
    PL_ST_MSG_INSERT,
    PL_ST_ROOM_SET_LAST_SEQ,
    PL_ST_MSG_BEFORE,
    PL_ST_MSG_AFTER,
    PL_ST__COUNT
} pl_stmt_id_t;

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
};

/** Returns the cached statement id, preparing it on first use; NULL after
 * logging (and marking the job failed) if SQLite refuses it. */
sqlite3_stmt *pl_store__stmt(pl_db_t *db, pl_stmt_id_t id);

/** Resets a statement and clears its bindings so it is ready for reuse and
 * holds no read snapshot or borrowed pointers. */
void pl_store__stmt_done(sqlite3_stmt *s);

/** Logs "op=<op> db=<name> err=<sqlite message>", marks the running job as
 * failed and returns PL_EIO. */
int pl_store__fail(pl_db_t *db, const char *op);

/** Runs a cached statement that takes no parameters and returns no rows
 * (BEGIN, SAVEPOINT, ...). Returns 0 or PL_EIO (logged). */
int pl_store__exec(pl_db_t *db, pl_stmt_id_t id, const char *op);

#endif
