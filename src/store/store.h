/* SPDX-License-Identifier: MIT */
/* store.h -- durable storage behind one interface. Chat and auth logic hold no
 * SQL: they call the pl_db_* functions below from store threads.
 *
 * Model: the loop thread never blocks on the database. It submits jobs:
 *   - pl_store_write(): the job's work function runs on the single writer
 *     thread inside a transaction shared with every other queued write job
 *     (group commit: many jobs, one COMMIT, one fsync). Each job runs inside
 *     its own SAVEPOINT, so a failing job rolls back alone. done() runs on the
 *     loop thread after the COMMIT is durable (synchronous=FULL).
 *   - pl_store_read(): work runs on one of store_read_threads reader threads,
 *     each with its own read-only connection (WAL: readers never wait for the
 *     writer); done() runs on the loop thread.
 * Jobs complete in submission order per queue (writes in order; reads in any
 * order relative to each other).
 *
 * The SQLite backend (store_sqlite.c) is the only implementation today; a
 * PostgreSQL backend implements the same functions. Schema is versioned with
 * migrations applied at pl_store_open(). */
#ifndef PL_STORE_STORE_H
#define PL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"

typedef struct pl_store pl_store_t;
typedef struct pl_db pl_db_t; /* one database connection, used by one thread at a time */

typedef enum { PL_ROOM_DM = 1, PL_ROOM_GROUP = 2 } pl_room_kind_t;

typedef struct {
    int64_t id;
    char *username;     /* owned; lowercase */
    char *display_name; /* owned */
    char *pwhash;       /* owned; Argon2id string from crypto_pwhash_str */
    int64_t created_ms;
} pl_user_t;

typedef struct {
    int64_t id;       /* global message id */
    int64_t room_id;
    int64_t seq;      /* per-room, 1.., gap-free */
    int64_t sender;   /* user id */
    int64_t ts;       /* ms since epoch, set by the server */
    char *client_id;  /* owned */
    char *content;    /* owned; serialized JSON object */
} pl_message_t;

typedef struct {
    int64_t id;
    pl_room_kind_t kind;
    char *name;       /* owned; "" for a dm */
    int64_t last_seq;
    int64_t created_ms;
} pl_room_t;

typedef struct {
    int64_t room_id;
    int64_t user_id;
    int64_t read_seq; /* read marker */
} pl_member_t;

/** Frees the owned fields (not the struct). NULL-safe. */
void pl_user_dispose(pl_user_t *u);
void pl_message_dispose(pl_message_t *m);
void pl_room_dispose(pl_room_t *r);

/* ---- lifecycle and job queues (loop thread) ---- */

/** Opens (creating if needed) data_dir/parley.db, applies migrations, starts the
 * writer and reader threads. data_dir ":memory:" is not supported (readers need
 * a shared file). Returns 0 or PL_EIO with a log line naming the error. */
int pl_store_open(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out);

/** Stops accepting jobs, runs and commits everything queued, calls the pending
 * done callbacks (by running the loop's async handles: call this from the loop
 * thread, then uv_run the loop until it drains), joins the threads and closes
 * the database. */
void pl_store_close(pl_store_t *st);

/** A connection for use on the calling thread outside the job queues: only for
 * startup (loading state before the loop runs) and tests. Never on a loop
 * callback. Valid until pl_store_close. */
pl_db_t *pl_store_direct(pl_store_t *st);

typedef void (*pl_store_work_cb)(pl_db_t *db, void *arg); /* store thread */
typedef void (*pl_store_done_cb)(void *arg);              /* loop thread */

/** Queues a write job (see top of file). arg is owned by the caller and
 * passed to both callbacks. Thread: loop. */
void pl_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
/** Queues a read job. Thread: loop. */
void pl_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);

/** Statistics for tests and benchmarks. */
typedef struct {
    uint64_t commits;    /* transactions committed by the writer */
    uint64_t write_jobs; /* write jobs run */
    uint64_t read_jobs;
} pl_store_stats_t;
void pl_store_get_stats(pl_store_t *st, pl_store_stats_t *out);

/* ---- data functions: store threads only (inside work callbacks) ----
 * Return 0, PL_ENOTFOUND, PL_EEXIST or PL_EIO. Out-parameters are written only
 * on success and their owned fields must be disposed by the caller. */

/* users */
int pl_db_user_create(pl_db_t *db, const char *username, const char *display_name,
                      const char *pwhash, int64_t now_ms, int64_t *user_id);
int pl_db_user_by_name(pl_db_t *db, const char *username, pl_user_t *out);
int pl_db_user_by_id(pl_db_t *db, int64_t id, pl_user_t *out);

/* sessions (devices). token_hash is 32 raw bytes. */
int pl_db_session_create(pl_db_t *db, int64_t user_id, const unsigned char token_hash[32],
                         const char *device_name, int64_t now_ms, int64_t *device_id);
/** Finds a live session; sets *user_id and *device_id. Updates last_seen. */
int pl_db_session_lookup(pl_db_t *db, const unsigned char token_hash[32], int64_t now_ms,
                         int64_t *user_id, int64_t *device_id);
int pl_db_session_delete(pl_db_t *db, const unsigned char token_hash[32], int64_t *device_id);
int pl_db_session_count(pl_db_t *db, int64_t user_id, int64_t *count);

/* rooms and membership */
/** Creates a group with the creator and members (user ids, deduplicated by the
 * caller, creator not included). Sets *room_id. */
int pl_db_room_create_group(pl_db_t *db, const char *name, int64_t creator,
                            const int64_t *members, size_t n, int64_t now_ms, int64_t *room_id);
/** Returns the dm between a and b, creating it if needed. *created tells which. */
int pl_db_room_get_or_create_dm(pl_db_t *db, int64_t a, int64_t b, int64_t now_ms,
                                int64_t *room_id, bool *created);
int pl_db_room_get(pl_db_t *db, int64_t room_id, pl_room_t *out);
/** Adds a member (PL_EEXIST if already one). */
int pl_db_member_add(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms);
/** Removes a member (PL_ENOTFOUND if not one). */
int pl_db_member_remove(pl_db_t *db, int64_t room_id, int64_t user_id);
/** Members of a room: *out is a malloc'd array of user ids (free()). */
int pl_db_room_members(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n);
/** Rooms of a user with unread counts (messages after the read marker not sent
 * by the user). *out: malloc'd array; dispose each and free(). */
typedef struct {
    pl_room_t room;
    int64_t unread;
    int64_t read_seq;
} pl_room_summary_t;
int pl_db_user_rooms(pl_db_t *db, int64_t user_id, pl_room_summary_t **out, size_t *n);
/** Moves the read marker forward (never back; clamps to last_seq). */
int pl_db_member_set_read(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t seq);

/** Iterates every (room, user) membership and every room, for loading the
 * in-memory routing tables at startup. Callbacks return 0 to go on. */
int pl_db_each_room(pl_db_t *db, int (*cb)(void *arg, const pl_room_t *r), void *arg);
int pl_db_each_member(pl_db_t *db, int (*cb)(void *arg, const pl_member_t *m), void *arg);

/* messages */
/** Appends a message: assigns the next seq of the room and a message id, in
 * the same transaction as the room's last_seq update. If (sender, client_id)
 * exists already, *out is that original message, *duplicate = true, and nothing
 * is written. content is serialized JSON. */
int pl_db_message_append(pl_db_t *db, int64_t room_id, int64_t sender, const char *client_id,
                         const char *content, int64_t now_ms, pl_message_t *out,
                         bool *duplicate);
/** Messages with seq < before (before <= 0: no bound), newest `limit` of them,
 * returned oldest first. *out: malloc'd array; dispose each and free(). */
int pl_db_messages_before(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n);
/** Messages with seq > after, oldest first, at most limit. */
int pl_db_messages_after(pl_db_t *db, int64_t room_id, int64_t after, int64_t limit,
                         pl_message_t **out, size_t *n);
/** Frees an array returned above. */
void pl_messages_free(pl_message_t *m, size_t n);

#endif
