/* SPDX-License-Identifier: MIT */
/* store_pg_internal.h -- shared by the PostgreSQL backend's files: store_pg.c
 * (connections, migrations, job threads, the backend table),
 * store_pg_stmt.c (prepared statements, parameters, errors) and the concept
 * files (store_pg_users.c, _rooms.c, _messages.c, ...). Not for use outside
 * src/store/. */
#ifndef PL_STORE_STORE_PG_INTERNAL_H
#define PL_STORE_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/util.h"

#include "store/store_backend.h"
#include "store/store_pg.h"

/* ---- statement tables ----
 * As in the SQLite backend: each concept file lists its statements,
 *
 *     enum { ST_USER_INSERT, ..., ST__COUNT };
 *     static const char *const sql[ST__COUNT] = {[ST_USER_INSERT] = "INSERT ...", ...};
 *     static pl_pg_table_t stmts = PL_PG_TABLE(sql);
 *
 * and every connection PQprepare()s a statement on its first use under the
 * name "t<slot>_<id>", keeping it until it closes. Parameters are text
 * ($1, $2, ...; pl_pg_args_t). */
typedef struct {
    const char *const *sql;
    int n;
    _Atomic int slot; /* 1-based; 0 until first use */
} pl_pg_table_t;
#define PL_PG_TABLE(arr)                                                                           \
    {                                                                                              \
        (arr), (int)PL_ARRAY_LEN(arr), 0                                                           \
    }
#define PL_PG_TABLES_MAX 32

typedef enum { PL_PG_WRITER, PL_PG_READER, PL_PG_DIRECT } pl_pg_role_t;

typedef struct pl_pg_db {
    const pl_store_backend_t *be;     /* first member: &pl_store_pg_backend */
    PGconn *c;                        /* owned */
    bool *prepared[PL_PG_TABLES_MAX]; /* per table slot: which ids are prepared */
    pl_pg_role_t role;
    const char *name;  /* static, for log lines */
    bool job_rollback; /* work asked for ROLLBACK TO its savepoint */
    bool job_failed;   /* a data call hit a storage error */
    bool in_job;       /* a write job's savepoint is open (writer) or a read job runs */
    int fn_depth;      /* nested pl_pg__fn_begin savepoints */
    bool fn_own_tx[8]; /* per depth: fn_begin started a transaction (autocommit) */
    size_t fn_mark[8]; /* per depth: the seq undo mark at fn_begin */
    /* Writer only, inside a batch (see "seq cache" in store_pg_messages.c):
     * the rooms this batch has locked and appended to, their next seq, and
     * an undo log so a savepoint rolled back takes its seqs back. */
    struct pl_pg_seq *seqs;
    size_t nseqs, capseqs;
    struct pl_pg_undo *undo;
    size_t nundo, capundo;
    bool seq_dirty; /* some room's seq is ahead of rooms.last_seq */
    bool seq_quiet; /* the append's own statements run: no flush before them */
    /* Writer: "RELEASE SAVEPOINT job; SAVEPOINT job" is owed and goes out in
     * one pipeline with the next statement (pl_pg__run); switch_failed when
     * it did not succeed (the batch's savepoint state is unknown). */
    bool switch_pending, switch_failed;
    /* Reconnecting (pl_pg__revive): the store's conninfo (borrowed), and
     * when the next attempt may run after failed ones (backoff). */
    const char *conninfo;
    uint64_t retry_at_ns, backoff_ms;
} pl_pg_db_t;

#define PG_DB(db) ((pl_pg_db_t *)(db))

/* Text parameters of one statement. */
#define PL_PG_MAXP 16
typedef struct {
    const char *v[PL_PG_MAXP];
    char num[PL_PG_MAXP][24];
    int n;
} pl_pg_args_t;
void pl_pg__int(pl_pg_args_t *a, int64_t x);
void pl_pg__text(pl_pg_args_t *a, const char *s); /* NULL binds "" */
void pl_pg__null(pl_pg_args_t *a);
void pl_pg__bool(pl_pg_args_t *a, bool b);

/** Runs statement id of table t (prepared on first use) with args a.
 * Returns 0 with *res (PQclear it; may be NULL to drop it), PL_EEXIST for a
 * unique violation, PL_ENOTFOUND for a foreign-key violation, otherwise
 * PL_EIO after pl_pg__fail(op). A constraint error inside a transaction
 * would abort it, so a statement that can raise one runs with guard=true:
 * inside a savepoint of its own, rolled back on error. */
int pl_pg__run(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
               const char *op, PGresult **res);
/** pl_pg__run expecting at most one row: PL_ENOTFOUND when there is none. */
int pl_pg__one(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
               const char *op, PGresult **res);
/** pl_pg__run of a command: PL_ENOTFOUND when it changed no row. */
int pl_pg__changed(pl_pg_db_t *db, pl_pg_table_t *t, int id, const pl_pg_args_t *a, bool guard,
                   const char *op);
/** Runs a command without parameters (BEGIN, SAVEPOINT ...): 0 or PL_EIO. */
int pl_pg__exec(pl_pg_db_t *db, const char *sql, const char *op);
/** Logs "op=<op> db=<name> err=<message>", marks the job failed, PL_EIO. */
int pl_pg__fail(pl_pg_db_t *db, const char *op, const PGresult *r);
/** Nested savepoint around a multi-statement function (see WITH_FN in
 * store_internal.h); fn_end releases (rc 0) or rolls back, returns rc. */
int pl_pg__fn_begin(pl_pg_db_t *db);
int pl_pg__fn_end(pl_pg_db_t *db, int rc);

/* Column readers: int64 (NULL reads 0), bool ('t'), owned string ("" for
 * NULL) and owned string or NULL. */
int64_t pl_pg__i64(const PGresult *r, int row, int col);
bool pl_pg__b(const PGresult *r, int row, int col);
char *pl_pg__str(const PGresult *r, int row, int col);
char *pl_pg__str_or_null(const PGresult *r, int row, int col);
/** len bytes as lowercase hex (owned), for a decode($n, 'hex') parameter. */
char *pl_pg__hex(const void *p, size_t len);
/** A BYTEA column as owned bytes (*len of them; never NULL), or NULL (and
 * *len 0) when it is SQL NULL or undecodable. */
unsigned char *pl_pg__bytes(const PGresult *r, int row, int col, size_t *len);
/** Rows of r as an int64 array of column 0 (malloc'd, NULL when none). */
void pl_pg__ids(const PGresult *r, int64_t **out, size_t *n);

/** Makes a broken connection usable again (store_pg.c): closes it and connects anew
 * (session settings included; prepared statements are prepared again on
 * first use). Returns true when the connection is up. While the server is
 * unreachable, attempts back off (50 ms doubling to 2 s); force skips the
 * wait (the connection was fine until now: the server restarted). */
bool pl_pg__revive(pl_pg_db_t *db, bool force);

/* ---- the seq cache (writer, inside a batch; store_pg_stmt.c, used by the
 * append in store_pg_messages.c) ---- */
typedef struct pl_pg_seq {
    int64_t room, seq, flushed;
} pl_pg_seq_t;
/** The batch's entry of room (its index in *idx), or NULL. */
pl_pg_seq_t *pl_pg__seq_find(pl_pg_db_t *db, int64_t room, size_t *idx);
/** A room just locked, last_seq read: a new entry's index. */
size_t pl_pg__seq_add(pl_pg_db_t *db, int64_t room, int64_t last);
/** Entry idx took seq (a message went in). */
void pl_pg__seq_set(pl_pg_db_t *db, size_t idx, int64_t seq);
/** The undo log's current length: a savepoint's mark. */
size_t pl_pg__seq_mark(const pl_pg_db_t *db);
/** Takes back every seq change after mark (the savepoint was rolled back). */
void pl_pg__seq_undo(pl_pg_db_t *db, size_t mark);
/** Writes the cached seqs to rooms.last_seq (one UPDATE); 0 or PL_EIO. */
int pl_pg__seq_flush(pl_pg_db_t *db);
/** Forgets the cache (the batch ended: committed or rolled back). */
void pl_pg__seq_reset(pl_pg_db_t *db);
/** Frees the cache's memory (connection closed). */
void pl_pg__seq_free(pl_pg_db_t *db);
/** Sends an owed savepoint switch on its own (a round trip); 0 or PL_EIO. */
int pl_pg__switch_flush(pl_pg_db_t *db);

/* ---- shared between the concept files ---- */
/* Columns of every message query (pl_pg__message_from_row). */
extern const char pl_pg__msg_select[];
void pl_pg__message_from_row(const PGresult *r, int row, pl_message_t *m);
/** All rows of r as messages (malloc'd array, NULL when none). */
void pl_pg__messages_from(const PGresult *r, pl_message_t **out, size_t *n);
/** User ids as a JSON array of "u<id>" (owned; NULL when n is 0). */
char *pl_pg__mentions_json(const int64_t *users, size_t n);
int pl_pg__bump_version(pl_pg_db_t *db, int64_t room_id, int64_t *version);
int pl_pg__mentions_delete(pl_pg_db_t *db, int64_t room_id, int64_t seq);
int pl_pg__mentions_insert(pl_pg_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                           const int64_t *users, size_t n, bool mention_room);
/** A post that is one messages row and needs no check first (no reply,
 * thread, media or mention): pl_pg__post_batch can take it. */
bool pl_pg__post_plain(const pl_post_t *p);
/** Batched appends (writer, inside a batch, in the job savepoint of the
 * first post): inserts the plain posts p[0..n) that are new with one
 * multi-row INSERT and writes their results (in[i] set); the others (a
 * client_id already stored or repeated in p, a room that does not exist)
 * are left for their own job. Returns 0, or an error after which the
 * caller rolls the savepoint back (nothing of p is in) and runs every post
 * alone. */
int pl_pg__post_batch(pl_pg_db_t *db, pl_post_t *const *p, size_t n, bool *in);
int pl_pg__mention_ids(pl_pg_db_t *db, int64_t room_id, const char *const *names, size_t nnames,
                       int64_t **ids, size_t *n);

#endif
