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
 * The SQLite backend (store_sqlite*.c, one file per concept: users, rooms,
 * messages, conv, search, index, media, invite) is the only implementation
 * today; a PostgreSQL backend implements the same functions. Schema is versioned with
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
    int64_t id; /* global message id */
    int64_t room_id;
    int64_t seq;     /* per-room, 1.., gap-free */
    int64_t sender;  /* user id */
    int64_t ts;      /* ms since epoch, set by the server */
    char *client_id; /* owned */
    char *content;   /* owned; serialized JSON object ({"type":"deleted"} once deleted) */
    /* Conversation features: versions, edits, replies, threads, mentions, reactions. */
    int64_t version;        /* room version of the last mutation; 0 = never changed */
    int64_t edited_ts;      /* 0 = never edited */
    bool deleted;           /* deleted or expired: a tombstone */
    int64_t reply_to;       /* seq of the quoted message in the same room, 0 = none */
    int64_t reply_sender;   /* sender of the quoted message (0 if unknown) */
    char *reply_preview;    /* owned; first 100 characters of its body ("" when deleted) */
    int64_t thread_root;    /* seq of the thread root, 0 = not a thread reply */
    int64_t thread_count;   /* replies in this message's thread */
    int64_t thread_last_ts; /* ts of the newest thread reply */
    int64_t expires_ts;     /* disappears at this time; 0 = never */
    char *mentions;         /* owned; JSON array of user ids ("u2"), NULL when none */
    bool mention_room;      /* the body mentions @room */
    char *reactions;        /* owned; JSON array [{emoji,count,users}], NULL when none */
} pl_message_t;

typedef struct {
    int64_t id;
    pl_room_kind_t kind;
    char *name; /* owned; "" for a dm */
    int64_t last_seq;
    int64_t created_ms;
    int64_t last_version;    /* counter of message mutations (edit, delete, react, ...) */
    int64_t disappearing_ms; /* timer for new messages, 0 = off */
    int64_t avatar;          /* media id of a group's avatar, 0 = none */
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

/** Stops accepting jobs, runs and commits everything queued, joins the
 * threads, closes the database and uv_close()s the store's async handle.
 * Thread: loop; it blocks until the queued jobs are committed.
 * The done callbacks still pending (and PL_ECLOSED ones for jobs submitted
 * after this call, e.g. from those callbacks) run from the handle's close
 * callback, which also frees st: after pl_store_close the caller runs the loop
 * (uv_run(loop, UV_RUN_DEFAULT) or NOWAIT until it returns 0), after which
 * uv_loop_close(loop) returns 0. st must not be used once that close callback
 * has run; pl_store_direct connections die with this call. */
void pl_store_close(pl_store_t *st);

/** A connection for use on the calling thread outside the job queues: only for
 * startup (loading state before the loop runs) and tests. Never on a loop
 * callback. Valid until pl_store_close. */
pl_db_t *pl_store_direct(pl_store_t *st);

typedef void (*pl_store_work_cb)(pl_db_t *db, void *arg); /* store thread */
/** Runs on the loop thread when the job is over. status is:
 *   0           work ran; everything it wrote (unless it called
 *               pl_db_rollback_job) is committed and durable.
 *   PL_EIO      a storage error: a pl_db_* call inside work failed with
 *               PL_EIO (the job's savepoint was then rolled back), SQLite
 *               aborted the group transaction, or the group COMMIT failed.
 *               Nothing the job wrote is in the database. The job is not
 *               retried: work runs at most once, so a client retries with the
 *               same client_id and deduplication makes that safe.
 *   PL_ECLOSED  the job was submitted after pl_store_close began; work never
 *               ran.
 * Why not a batch-level retry: with WAL and BEGIN IMMEDIATE a COMMIT only fails
 * on I/O errors (disk full, EIO) that a per-job retry would hit again, and a
 * retry would force every work function to be re-runnable against its arg. */
typedef void (*pl_store_done_cb)(int status, void *arg);

/** Queues a write job (see top of file). arg is owned by the caller and
 * passed to both callbacks; done may be NULL. work must not run BEGIN, COMMIT
 * or ROLLBACK itself (use pl_db_rollback_job) and runs at most once. A pl_db_*
 * call that fails with PL_EIO rolls the job back and makes its status PL_EIO
 * (the status its done callback gets); PL_EEXIST / PL_ENOTFOUND leave nothing half-written
 * and do not affect the status. Thread: loop. */
void pl_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
/** Queues a read job. work runs inside one read transaction, so it sees one
 * consistent snapshot including every write whose done callback has run;
 * write functions fail there with PL_EIO (read-only connection). Thread: loop. */
void pl_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);

/** Buckets of the writer's histograms (the last is +Inf). */
#define PL_STORE_HIST_N 12
extern const double pl_store_commit_le[PL_STORE_HIST_N - 1]; /* seconds */
extern const double pl_store_batch_le[PL_STORE_HIST_N - 1];  /* jobs */

/** Statistics for tests and benchmarks. */
typedef struct {
    uint64_t commits;    /* transactions committed by the writer */
    uint64_t write_jobs; /* write jobs run */
    uint64_t read_jobs;
    uint64_t batched_posts; /* posts inserted by a multi-row append (PostgreSQL) */
    /* Histograms of the writer (issue 17, /metrics): the COMMIT's latency
     * (bounds pl_store_commit_le, seconds) and the jobs per group commit
     * (bounds pl_store_batch_le). counts[i]: observations <= bound i (not
     * cumulative); counts[PL_STORE_HIST_N - 1] is +Inf. */
    uint64_t commit_counts[PL_STORE_HIST_N];
    double commit_sum; /* seconds */
    uint64_t batch_counts[PL_STORE_HIST_N];
    uint64_t batch_sum;
} pl_store_stats_t;
void pl_store_get_stats(pl_store_t *st, pl_store_stats_t *out);

/* ---- data functions: store threads only (inside work callbacks) ----
 * Return 0, PL_ENOTFOUND, PL_EEXIST or PL_EIO. Out-parameters are written only
 * on success and their owned fields must be disposed by the caller. */

/** Marks the running write job for rollback: when work returns, the writer
 * runs ROLLBACK TO the job's savepoint, so nothing the job wrote is committed,
 * while its neighbours in the same group commit are unaffected. The job's
 * status stays 0 (the rollback was asked for). Call only from a write job's
 * work callback; on a reader or direct connection it does nothing. */
void pl_db_rollback_job(pl_db_t *db);

/* users */
int pl_db_user_create(pl_db_t *db, const char *username, const char *display_name,
                      const char *pwhash, int64_t now_ms, int64_t *user_id);
int pl_db_user_by_name(pl_db_t *db, const char *username, pl_user_t *out);
int pl_db_user_by_id(pl_db_t *db, int64_t id, pl_user_t *out);

/* sessions (devices). token_hash is 32 raw bytes. */
int pl_db_session_create(pl_db_t *db, int64_t user_id, const unsigned char token_hash[32],
                         const char *device_name, int64_t now_ms, int64_t *device_id);
/** Finds a live session; sets *user_id and *device_id. Updates last_seen
 * (only when now_ms is later, and not on a read-only reader connection). */
int pl_db_session_lookup(pl_db_t *db, const unsigned char token_hash[32], int64_t now_ms,
                         int64_t *user_id, int64_t *device_id);
int pl_db_session_delete(pl_db_t *db, const unsigned char token_hash[32], int64_t *device_id);
int pl_db_session_count(pl_db_t *db, int64_t user_id, int64_t *count);

/* ---- passkeys (store_sqlite_passkey.c) ----
 * WebAuthn credentials; verification is auth/webauthn.c's, this only keeps
 * them. Byte fields are raw (not base64). */
#define PL_PASSKEY_HANDLE_LEN 16 /* WebAuthn user handle: random, per user */
typedef struct {
    int64_t id; /* "k<id>" on the wire */
    int64_t user_id;
    unsigned char *cred_id; /* owned */
    size_t cred_id_len;
    unsigned char *public_key; /* owned; COSE_Key */
    size_t public_key_len;
    int alg; /* COSE algorithm */
    int64_t sign_count;
    char *name; /* owned */
    int64_t created_ms, last_used_ms;
} pl_passkey_t;
/** Frees the owned fields (not the struct). NULL-safe. */
void pl_passkey_dispose(pl_passkey_t *k);
/** Frees an array of n passkeys (NULL-safe). */
void pl_passkeys_free(pl_passkey_t *k, size_t n);
/** The user's WebAuthn user handle; when create is set and there is none
 * yet, one is made from handle_new (random bytes from the caller) and
 * stored (writer only). PL_ENOTFOUND when there is none and create is false. */
int pl_db_passkey_handle(pl_db_t *db, int64_t user_id, bool create,
                         const unsigned char handle_new[PL_PASSKEY_HANDLE_LEN],
                         unsigned char out[PL_PASSKEY_HANDLE_LEN]);
/** Stores a verified credential; *id receives its row id. PL_EEXIST when
 * the credential id is registered already (to anyone). */
int pl_db_passkey_add(pl_db_t *db, const pl_passkey_t *k, int64_t *id);
/** The user's passkeys, oldest first: *out malloc'd (pl_passkeys_free). */
int pl_db_passkey_list(pl_db_t *db, int64_t user_id, pl_passkey_t **out, size_t *n);
/** The passkey with this credential id, or PL_ENOTFOUND. */
int pl_db_passkey_by_credential(pl_db_t *db, const unsigned char *cred_id, size_t len,
                                pl_passkey_t *out);
/** Deletes the user's passkey id; PL_ENOTFOUND if the user has none such. */
int pl_db_passkey_delete(pl_db_t *db, int64_t user_id, int64_t id);
/** Renames the user's passkey id; PL_ENOTFOUND if the user has none such. */
int pl_db_passkey_rename(pl_db_t *db, int64_t user_id, int64_t id, const char *name);
/** Records a verified assertion: sign_count becomes count and last_used
 * now_ms, only if the counter grew (or both are 0), checked in the same
 * statement so two racing assertions cannot both pass with one counter.
 * PL_ENOTFOUND when the passkey is gone or the counter did not grow. */
int pl_db_passkey_used(pl_db_t *db, int64_t id, int64_t count, int64_t now_ms);

/* rooms and membership */
/** Creates a group with the creator and members (user ids, deduplicated by the
 * caller, creator not included). Sets *room_id. */
int pl_db_room_create_group(pl_db_t *db, const char *name, int64_t creator, const int64_t *members,
                            size_t n, int64_t now_ms, int64_t *room_id);
/** Returns the dm between a and b, creating it if needed. *created tells which. */
int pl_db_room_get_or_create_dm(pl_db_t *db, int64_t a, int64_t b, int64_t now_ms, int64_t *room_id,
                                bool *created);
int pl_db_room_get(pl_db_t *db, int64_t room_id, pl_room_t *out);
/** Adds a member (PL_EEXIST if already one). */
int pl_db_member_add(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms);
/** Removes a member (PL_ENOTFOUND if not one). */
int pl_db_member_remove(pl_db_t *db, int64_t room_id, int64_t user_id);
/** Sets *is_member to whether user_id is a member of room_id (false for an
 * unknown room). Returns 0 or PL_EIO. */
int pl_db_room_is_member(pl_db_t *db, int64_t room_id, int64_t user_id, bool *is_member);
/** How many members the room has now (0 for a room that does not exist).
 * Thread: writer or reader. */
int pl_db_room_member_count(pl_db_t *db, int64_t room_id, int64_t *n);
/** Members of a room, ordered by user id: *out is a malloc'd array of user ids
 * (free(); NULL when *n is 0). PL_ENOTFOUND if the room does not exist. */
int pl_db_room_members(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n);
/** Rooms of a user with unread counts (messages after the read marker not sent
 * by the user). *out: malloc'd array; dispose each and free(). */
typedef struct {
    pl_room_t room;
    int64_t unread;
    int64_t read_seq;
    int64_t mentions; /* unread messages mentioning the user or @room */
} pl_room_summary_t;
int pl_db_user_rooms(pl_db_t *db, int64_t user_id, pl_room_summary_t **out, size_t *n);

/** Iterates every (room, user) membership and every room, for loading the
 * in-memory routing tables at startup. Callbacks return 0 to go on. */
int pl_db_each_room(pl_db_t *db, int (*cb)(void *arg, const pl_room_t *r), void *arg);
int pl_db_each_member(pl_db_t *db, int (*cb)(void *arg, const pl_member_t *m), void *arg);

/* messages */
/** Messages with seq < before (before <= 0: no bound), newest `limit` of them,
 * returned oldest first. *out: malloc'd array; dispose each and free(). */
int pl_db_messages_before(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n);
/** Messages with seq > after, oldest first, at most limit. */
int pl_db_messages_after(pl_db_t *db, int64_t room_id, int64_t after, int64_t limit,
                         pl_message_t **out, size_t *n);
/** Frees an array returned above. */
void pl_messages_free(pl_message_t *m, size_t n);

/* ---- changes to messages: edits, deletes, reactions, threads, sync ----
 * Mutations (edit, delete, reaction, thread counter, expiry) do not take a
 * seq: each increments the room's last_version and stamps the message with
 * it, so a client that knows version v of a room can ask for everything
 * changed after v. The store keeps the search index, the mention rows and the
 * reactions consistent with every mutation; policy (who may edit, limits)
 * belongs to the caller. */

/** Arguments of pl_db_message_post; everything borrowed. */
typedef struct {
    int64_t room_id, sender;
    const char *client_id;
    const char *content; /* serialized JSON object */
    int64_t now_ms;
    int64_t reply_to;        /* seq or 0; the caller checked it exists */
    int64_t thread_root;     /* seq or 0; the caller checked it is a live root */
    int64_t expires_ts;      /* 0 = never */
    const int64_t *mentions; /* member ids mentioned in the body */
    size_t nmentions;
    bool mention_room;
    int64_t media; /* media id the content names (0 = none); the caller checked it */
} pl_message_new_t;

/** Appends a message without the checks of pl_db_message_send: assigns the
 * next seq of the room and a message id, in the same transaction as the
 * room's last_seq update. If (sender, client_id) exists already, *out is that
 * original message, *duplicate = true, and nothing is written. When
 * thread_root is set and the message is new, the root's
 * thread_count/thread_last_ts change (a mutation: the room's version moves)
 * and *root (if non-NULL) receives the root's new state; otherwise root->id
 * is left 0. A text body is added to the search index. */
int pl_db_message_post(pl_db_t *db, const pl_message_new_t *in, pl_message_t *out, bool *duplicate,
                       pl_message_t *root);
/* ---- domain operation: post a message ----
 * One call does everything a `send` needs from the database, in one write
 * job: deduplication by client_id, the reply and thread checks, the media
 * check, mention lookup, the insert and the thread root's counters. What
 * is refused is an answer (nothing written, job status 0), named by
 * pl_refusal_t; the caller maps it to its wire error. */

/** Why a domain operation refused a request. */
typedef enum {
    PL_REFUSAL_NONE = 0,
    PL_REFUSAL_NOT_FOUND,     /* the room or the sender does not exist (any more) */
    PL_REFUSAL_NO_REPLY,      /* reply_to names no live message of the room */
    PL_REFUSAL_NO_THREAD,     /* thread_root names no live message of the room */
    PL_REFUSAL_NESTED_THREAD, /* thread_root is itself a thread reply */
    PL_REFUSAL_NO_MEDIA,      /* the media does not exist, or the sender may not read it */
    PL_REFUSAL_NOT_STICKER,   /* a sticker's media is not an image with a thumbnail */
    PL_REFUSAL_NO_MESSAGE,    /* change: no such message (or reacting to a deleted one) */
    PL_REFUSAL_NOT_AUTHOR,    /* change: only the sender may edit or delete a message */
    PL_REFUSAL_DELETED,       /* change: a deleted message cannot be edited */
    PL_REFUSAL_NO_EMOJI,      /* change: the custom emoji reacted with does not exist */
    PL_REFUSAL_TOO_MANY,      /* change: the user has max_reactions different reactions */
} pl_refusal_t;

/** A post: the request (filled by the caller, borrowed until the result is
 * read) and its result (written by the store). Like uv_work_t, the caller
 * owns the struct; pl_post_dispose frees the result. */
typedef struct {
    /* request */
    int64_t room_id, sender;
    const char *client_id;
    const char *content;              /* serialized JSON object */
    int64_t reply_to;                 /* seq or 0 */
    int64_t thread_root;              /* seq or 0 */
    int64_t expires_in;               /* ms after the post's ts; 0 = never */
    int64_t media;                    /* media id the content names, 0 = none */
    bool sticker;                     /* the media must be an image with a thumbnail */
    const char *const *mention_names; /* lowercase usernames parsed from the body */
    size_t nmention_names;            /* names that are not members of the room count for nothing */
    bool mention_room; /* the body mentions @room (the caller applies the room's kind) */
    /* Optional: runs inside the write job right after a new message was
     * stored (not for a duplicate or a refusal), with the stored message
     * (issue 15: the push jobs commit with the message). A pl_db_* call in
     * it that fails with PL_EIO fails the whole job (nothing committed). */
    int (*after)(pl_db_t *db, const pl_message_t *m, void *arg);
    void *after_arg;
    /* result */
    pl_refusal_t refused; /* PL_REFUSAL_NONE: message holds the stored message */
    bool duplicate;       /* client_id was used already: message is the original */
    pl_message_t message; /* owned */
    pl_message_t root;    /* owned; the thread root's new state, id 0 if unchanged */
    /* private */
    pl_store_done_cb _done;
    void *_arg;
} pl_post_t;

/** Posts p inside the running write job (store thread). The ts is the
 * writer's clock. Returns 0 with p's result written (a refusal included),
 * or PL_EIO; on PL_EIO the caller rolls the job back (pl_db_rollback_job).
 * Queries: a new message costs the dedupe lookup, one lookup per reply or
 * thread reference, the media checks, two per mentioned name, then the
 * insert (pl_db_message_post without its own dedupe lookup). */
int pl_db_message_send(pl_db_t *db, pl_post_t *p);
/** Queues a write job that runs pl_db_message_send(p) (rolling the job back
 * on failure); done(status, arg) runs on the loop thread with p's result
 * written when status is 0. p must stay valid until then. Thread: loop. */
void pl_store_message_post(pl_store_t *st, pl_post_t *p, pl_store_done_cb done, void *arg);
/** Frees p's result (message, root). NULL-safe. */
void pl_post_dispose(pl_post_t *p);

/* ---- domain operation: change a posted message (edit, delete, react) ---- */

typedef enum { PL_CHANGE_EDIT, PL_CHANGE_DELETE, PL_CHANGE_REACT } pl_change_kind_t;

/** A change: request (borrowed until the result is read) and result. */
typedef struct {
    /* request */
    pl_change_kind_t kind;
    int64_t room_id, seq, user;
    const char *content;              /* edit: the new content (serialized JSON) */
    const char *const *mention_names; /* edit: usernames parsed from the new body */
    size_t nmention_names;
    bool mention_room;            /* edit: @room (the caller applies the room's kind) */
    const char *emoji;            /* react */
    const char *custom_shortcode; /* react: the custom emoji `emoji` names, NULL if none */
    bool remove;                  /* react: take the reaction off */
    int64_t max_reactions;        /* react: different reactions per user and message */
    /* result */
    pl_refusal_t refused;
    bool changed;         /* a new version was written (false: it was so already) */
    pl_message_t message; /* owned; the message's state afterwards */
} pl_change_t;

/** Applies c inside the running write job, with the checks: the message
 * exists (and, to react, is live), only its sender edits or deletes it, a
 * tombstone is not edited (deleting it again changes nothing), a custom
 * emoji exists when it is put on, the per-user reaction cap. Returns 0 with
 * c's result written (a refusal included) or PL_EIO (the caller rolls the
 * job back). */
int pl_db_message_change(pl_db_t *db, pl_change_t *c);
/** Frees c's result. NULL-safe. */
void pl_change_dispose(pl_change_t *c);

/** The message a sender stored under client_id (PL_ENOTFOUND if none). */
int pl_db_message_by_client_id(pl_db_t *db, int64_t sender, const char *client_id,
                               pl_message_t *out);
/** The current state of one message (PL_ENOTFOUND if the seq does not exist). */
int pl_db_message_get(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out);
/** Replaces the content (edit): sets edited_ts, the mention rows and the
 * search entry; *out is the new state. */
int pl_db_message_edit(pl_db_t *db, int64_t room_id, int64_t seq, const char *content,
                       const int64_t *mentions, size_t nmentions, bool mention_room, int64_t now_ms,
                       pl_message_t *out);
/** Turns the message into a tombstone: content {"type":"deleted"}, deleted,
 * reactions, mentions, timer and search entry removed. *out is the new state.
 * Deleting a tombstone again changes nothing (no new version). */
int pl_db_message_delete(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out);
/** Adds (add=true) or removes the user's reaction emoji. *changed is false
 * when it was already so (no new version). Adding fails with PL_ETOOBIG when
 * the user already has max_per_user different reactions on the message. */
int pl_db_reaction_set(pl_db_t *db, int64_t room_id, int64_t seq, int64_t user_id,
                       const char *emoji, bool add, int64_t max_per_user, int64_t now_ms,
                       bool *changed, pl_message_t *out);
/** Messages with seq <= max_seq and version > after_version, in version
 * order, at most limit (sync). */
int pl_db_messages_updated(pl_db_t *db, int64_t room_id, int64_t max_seq, int64_t after_version,
                           int64_t limit, pl_message_t **out, size_t *n);
/** Replies of a thread with seq < before (before <= 0: no bound), the newest
 * limit of them, oldest first. */
int pl_db_thread_messages(pl_db_t *db, int64_t room_id, int64_t root, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n);
/** Deletes (as pl_db_message_delete) up to limit messages whose expires_ts
 * <= now_ms; *out holds their tombstones. */
int pl_db_messages_expire(pl_db_t *db, int64_t now_ms, int64_t limit, pl_message_t **out,
                          size_t *n);
/** The retention sweep (config retention_ms): reads at most limit messages
 * with id > after_id in id order and deletes (as pl_db_message_delete) the
 * live ones posted at or before before_ms, stopping at the first one posted
 * later. *next_id receives the after_id of the next call: the last message
 * passed (ids grow with time, so nothing older is left behind it; after a
 * restart the scan starts again at 0 and passes tombstones). *out holds the
 * new tombstones. */
int pl_db_messages_retire(pl_db_t *db, int64_t before_ms, int64_t after_id, int64_t limit,
                          pl_message_t **out, size_t *n, int64_t *next_id);
/** Full-text search over live text bodies in rooms user_id is a member of
 * (room_id 0: all of them), newest first, message id < before_id (0: no
 * bound). query is the user's text: the store turns it into its own query
 * syntax (every word must match, as a prefix), so any text is safe. */
int pl_db_search(pl_db_t *db, int64_t user_id, const char *query, int64_t room_id,
                 int64_t before_id, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n);
/** Sets the room's disappearing timer for new messages. */
int pl_db_room_set_disappearing(pl_db_t *db, int64_t room_id, int64_t ms);
/** Renames a room (name borrowed; NULL: unchanged) and sets its avatar media
 * id (avatar 0: none; negative: unchanged). PL_ENOTFOUND for no such room. */
int pl_db_room_set_meta(pl_db_t *db, int64_t room_id, const char *name, int64_t avatar);

/* receipts */
typedef struct {
    int64_t user_id;
    int64_t read_seq, read_ts;
    int64_t delivered_seq, delivered_ts;
    bool read_receipts; /* the user's setting: others may see read_seq */
} pl_receipt_t;
/** Moves the user's read (read=true) or delivered marker forward, clamped to
 * the room's last_seq; reading also counts as delivered. *changed tells
 * whether a marker moved; *out is the member's receipt afterwards.
 * PL_ENOTFOUND if the user is not a member. */
int pl_db_member_mark(pl_db_t *db, int64_t room_id, int64_t user_id, bool read, int64_t seq,
                      int64_t now_ms, bool *changed, pl_receipt_t *out);
/** Receipts of the members with a user id above after, by user id, at most
 * limit of them (a page). *out: malloc'd; free(). */
int pl_db_room_receipts(pl_db_t *db, int64_t room_id, int64_t after, size_t limit,
                        pl_receipt_t **out, size_t *n);

/* profiles, settings, presence */
typedef struct {
    int64_t id;
    char *username, *display_name, *bio, *status_text; /* owned */
    char *settings;       /* owned; JSON object of the keys the user set */
    int64_t last_seen_ms; /* when the user last went offline; 0 = unknown */
} pl_profile_t;
void pl_profile_dispose(pl_profile_t *p);
/** By id, or by username when username is non-NULL. */
int pl_db_profile_get(pl_db_t *db, int64_t id, const char *username, pl_profile_t *out);
/** Sets the fields that are non-NULL. */
int pl_db_profile_set(pl_db_t *db, int64_t id, const char *display_name, const char *bio,
                      const char *status_text);
/** Stores the user's settings object (serialized JSON). */
int pl_db_settings_set(pl_db_t *db, int64_t id, const char *settings);
int pl_db_user_set_last_seen(pl_db_t *db, int64_t id, int64_t ms);
/** Users sharing at least one room with user_id, by id, at most limit. */
typedef struct {
    int64_t user_id;
    int64_t last_seen_ms;
    bool show_presence;
} pl_contact_t;
int pl_db_contacts(pl_db_t *db, int64_t user_id, int64_t limit, pl_contact_t **out, size_t *n);

/* ---- media, avatars and custom emoji ---- */

typedef struct {
    int64_t id;
    char sha256[65]; /* lowercase hex */
    int64_t size;
    char *mime; /* owned; sniffed type */
    int64_t owner;
    char *name;               /* owned; client-supplied file name ("" if none) */
    int64_t width, height;    /* 0 when not an image (or unreadable) */
    int64_t thumb_w, thumb_h; /* 0 when there is no thumbnail */
    int64_t created_ms;
} pl_media_rec_t;
void pl_media_rec_dispose(pl_media_rec_t *m);

/** Records an upload: returns the existing row of (owner, sha256) when the
 * user uploaded the same bytes before (*existed = true, in *out; its created
 * time moves to rec->created_ms, so the garbage collector's grace period
 * starts again), otherwise inserts rec (borrowed; id ignored) and returns the
 * new row. */
int pl_db_media_put(pl_db_t *db, const pl_media_rec_t *rec, pl_media_rec_t *out, bool *existed);
/** One media row by id (PL_ENOTFOUND). */
int pl_db_media_get(pl_db_t *db, int64_t id, pl_media_rec_t *out);
/** Whether user may read media id: the uploader, a member of a room where a
 * live message (not deleted, not expired at now_ms) references it, anyone
 * for user avatars and custom emoji, and for a group's avatar its members and
 * the users with a live invitation to the group. Sets *visible; PL_ENOTFOUND
 * when the id does not exist. */
int pl_db_media_visible(pl_db_t *db, int64_t id, int64_t user, int64_t now_ms, bool *visible);

/** What one garbage-collection pass removed. */
typedef struct {
    size_t rows;       /* media rows deleted */
    char (*blobs)[65]; /* owned (free()): sha256 of blobs no row uses any more */
    size_t nblobs;
} pl_media_gc_t;
/** Deletes at most limit media rows that nothing references at now_ms (no
 * live message, avatar or custom emoji) and that either were created (last
 * uploaded) at or before cutoff_ms, or were released: a message referenced
 * them and every such message is deleted or expired. Writer thread. Fills
 * *out (dispose blobs with free()) only on success. */
int pl_db_media_gc(pl_db_t *db, int64_t now_ms, int64_t cutoff_ms, int64_t limit,
                   pl_media_gc_t *out);
/** Sets (media 0: clears) the user's avatar. */
int pl_db_avatar_set(pl_db_t *db, int64_t user, int64_t media);
/** The user's avatar media id (0 = none). */
int pl_db_avatar_get(pl_db_t *db, int64_t user, int64_t *media);

/* Custom emoji: server-wide `:shortcode:` -> an image the owner uploaded. */
typedef struct {
    char shortcode[33]; /* [a-z0-9_]{2,32} */
    int64_t media, owner;
} pl_emoji_rec_t;
void pl_emoji_recs_free(pl_emoji_rec_t *e, size_t n);
/** Adds one; PL_EEXIST when the shortcode is taken. */
int pl_db_emoji_add(pl_db_t *db, const char *shortcode, int64_t media, int64_t owner,
                    int64_t now_ms);
/** One by shortcode (PL_ENOTFOUND). */
int pl_db_emoji_get(pl_db_t *db, const char *shortcode, pl_emoji_rec_t *out);
/** Removes one (PL_ENOTFOUND). */
int pl_db_emoji_remove(pl_db_t *db, const char *shortcode);
/** Those with a shortcode above after ("" for the first), by shortcode, at
 * most limit of them (a page); *out is malloc'd (pl_emoji_recs_free). */
int pl_db_emoji_list(pl_db_t *db, const char *after, size_t limit, pl_emoji_rec_t **out, size_t *n);

/* ---- invitations ----
 * A pending invitation of a user to a group. It is live while expires_ms >
 * now_ms; an expired row counts for nothing and is deleted by the next
 * pl_db_invites_purge (or replaced by a new invitation of the same pair).
 * Who may invite, the caps and the expiry are the caller's policy. */

typedef struct {
    int64_t room_id, user_id, inviter;
    int64_t created_ms, expires_ms;
    /* Filled by pl_db_user_invites only (owned; NULL / 0 otherwise). */
    char *room_name;
    int64_t room_avatar; /* media id, 0 = none */
    int64_t member_count;
    char *inviter_username, *inviter_display_name;
} pl_invite_t;
/** Frees the owned fields of n invitations and the array. NULL-safe. */
void pl_invites_free(pl_invite_t *v, size_t n);

/** The live invitation of user_id to room_id (ids and times only);
 * PL_ENOTFOUND if there is none. */
int pl_db_invite_get(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms,
                     pl_invite_t *out);
/** Live invitations to room_id (any user) and of user_id (any room). */
int pl_db_invite_counts(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms,
                        int64_t *for_room, int64_t *for_user);
/** Stores inv (borrowed; its room_id, user_id, inviter, created_ms and
 * expires_ms). An expired invitation of the same pair is replaced; a live one
 * stays as it is and the call returns PL_EEXIST. PL_ENOTFOUND for an
 * unknown room or user. */
int pl_db_invite_put(pl_db_t *db, const pl_invite_t *inv);
/** Deletes the invitation of user_id to room_id (live or expired). Returns
 * PL_ENOTFOUND when there was no live one (an expired row is deleted all
 * the same). */
int pl_db_invite_delete(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms);
/** Deletes every invitation inviter made to room_id (the inviter left the
 * room). *users (malloc'd, free(); NULL when *n is 0) receives the invitees
 * whose invitation was still live. */
int pl_db_invites_withdraw(pl_db_t *db, int64_t room_id, int64_t inviter, int64_t now_ms,
                           int64_t **users, size_t *n);
/** The live invitations of user_id, newest first, at most limit, with the
 * room's name, avatar and member count and the inviter's names. *out:
 * malloc'd (pl_invites_free). */
int pl_db_user_invites(pl_db_t *db, int64_t user_id, int64_t now_ms, int64_t limit,
                       pl_invite_t **out, size_t *n);
/** Deletes at most limit expired invitations (expires_ms <= now_ms); *n (may
 * be NULL) receives how many. Writer thread. */
int pl_db_invites_purge(pl_db_t *db, int64_t now_ms, int64_t limit, size_t *n);
/** Whether other is one of user's contacts, as the `group_add` privacy
 * setting counts them: the two share a group other than except_room, or a
 * dm in which user sent one of its newest PL_CONTACT_DM_WINDOW messages (a
 * stranger who opens a dm with user is not a contact until user answers).
 * Sets *out. */
#define PL_CONTACT_DM_WINDOW 1000
int pl_db_is_contact(pl_db_t *db, int64_t user, int64_t other, int64_t except_room, bool *out);

/* ---- accounts: second factors, devices, password resets, invite codes
 * (store_sqlite_account.c). Hashes are 32 raw bytes; secrets never leave
 * these functions except into the caller's struct. ---- */

/** A user's second factors. */
typedef struct {
    bool totp;               /* TOTP enabled (the rest of the TOTP fields are valid) */
    uint8_t totp_secret[64]; /* stored form (pl_totp_seal), totp_secret_len bytes */
    size_t totp_secret_len;
    int64_t totp_last_step;    /* the last step that verified (codes are single use) */
    uint8_t recovery_salt[16]; /* key of the recovery code hashes */
    int64_t recovery_left;     /* unused recovery codes */
    int64_t passkeys;          /* passkeys registered (see pl_db_passkey_count) */
} pl_mfa_state_t;

/** Fills *out (zeroed when the user has no second factor). Returns 0 or PL_EIO. */
int pl_db_mfa_get(pl_db_t *db, int64_t user_id, pl_mfa_state_t *out);
/** Hook for the passkeys feature: how many passkeys user_id has. Counts the
 * rows of a table `passkeys` (column user_id) when one exists, else 0. */
int pl_db_passkey_count(pl_db_t *db, int64_t user_id, int64_t *n);
/** Enables TOTP with secret (its stored form, len <= 64), replacing any earlier one, and sets
 * the recovery codes (n hashes, keyed with salt). last_step: the step of the
 * code that confirmed it (single use). */
int pl_db_totp_enable(pl_db_t *db, int64_t user_id, const uint8_t *secret, size_t len,
                      const uint8_t salt[16], int64_t last_step, const uint8_t (*hashes)[32],
                      size_t n, int64_t now_ms);
/** Removes TOTP and the recovery codes. PL_ENOTFOUND if TOTP was off. */
int pl_db_totp_disable(pl_db_t *db, int64_t user_id);
/** Records that step verified; PL_EEXIST when a step >= it was already used
 * (a replayed code), PL_ENOTFOUND when TOTP is off. */
int pl_db_totp_use_step(pl_db_t *db, int64_t user_id, int64_t step);
/** Replaces the user's recovery codes with n hashes. */
int pl_db_recovery_codes_set(pl_db_t *db, int64_t user_id, const uint8_t (*hashes)[32], size_t n);
/** Marks an unused recovery code as used; PL_ENOTFOUND if there is none. */
int pl_db_recovery_code_use(pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms);

/** One device (session) of a user. */
typedef struct {
    int64_t device_id;
    char *name; /* owned */
    char *ip;   /* owned; coarse address of the login ("" unknown) */
    int64_t created_ms, last_seen_ms;
} pl_session_info_t;
void pl_session_info_dispose(pl_session_info_t *s);
/** The user's sessions, oldest first. *out: malloc'd; dispose each, free(). */
int pl_db_sessions_list(pl_db_t *db, int64_t user_id, pl_session_info_t **out, size_t *n);
/** Sets the coarse address shown for a session. */
int pl_db_session_set_ip(pl_db_t *db, int64_t device_id, const char *ip);
/** Deletes the user's session device_id; PL_ENOTFOUND if it is not theirs. */
int pl_db_session_delete_id(pl_db_t *db, int64_t user_id, int64_t device_id);
/** Deletes every session of the user except keep (0: all). *ids (malloc'd,
 * free(); NULL when *n is 0) receives the deleted device ids. */
int pl_db_sessions_delete_others(pl_db_t *db, int64_t user_id, int64_t keep, int64_t **ids,
                                 size_t *n);
/** Replaces the user's password hash. */
int pl_db_user_set_pwhash(pl_db_t *db, int64_t user_id, const char *pwhash);

/** Stores a password reset token (its SHA-256) for user_id, valid until
 * expires_ms. Earlier tokens of the user stay valid until used or expired. */
int pl_db_reset_token_create(pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms,
                             int64_t expires_ms);
/** The user of a live reset token (not spent); PL_ENOTFOUND otherwise. */
int pl_db_reset_token_user(pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id);
/** Spends a live reset token: deletes it (and every token of its user) and
 * sets *user_id. PL_ENOTFOUND for an unknown, expired or used token. */
int pl_db_reset_token_take(pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id);
/** Stores an invite code (its SHA-256), valid until expires_ms. */
int pl_db_invite_code_create(pl_db_t *db, const uint8_t hash[32], int64_t now_ms,
                             int64_t expires_ms);
/** Spends a live, unused invite code for user_id; PL_ENOTFOUND otherwise. */
int pl_db_invite_code_take(pl_db_t *db, const uint8_t hash[32], int64_t user_id, int64_t now_ms);

/* ---- Web Push (issue 15; store_sqlite_push.c, store_pg_push.c; SQLite
 * schema step 12, PostgreSQL step 4) ----
 * A subscription belongs to one session (device): deleting the session
 * (logout, revoke) deletes it (foreign key, ON DELETE CASCADE). An endpoint
 * is unique: subscribing it again (the browser renewed it, or another
 * account logged in on the same browser) moves it. */
typedef struct {
    int64_t id, user_id, device_id;
    char *endpoint; /* owned */
    char *p256dh;   /* owned; base64url, as the browser gave it */
    char *auth;     /* owned; base64url */
} pl_push_sub_row_t;
void pl_push_sub_row_dispose(pl_push_sub_row_t *s);

/* Notification levels of a room (pl_push_pref_t.level). */
enum {
    PL_PUSH_LEVEL_DEFAULT = 0, /* dm: all; group: mentions */
    PL_PUSH_LEVEL_ALL = 1,
    PL_PUSH_LEVEL_MENTIONS = 2, /* mentions and replies to the user */
    PL_PUSH_LEVEL_NOTHING = 3,
};

/** A user's notification settings: one row per room, room_id 0 for the
 * account (mute_until mutes everything; content_free and do-not-disturb
 * hours live only there). */
typedef struct {
    int64_t room_id;
    int level;          /* PL_PUSH_LEVEL_*; the account row keeps 0 */
    int64_t mute_until; /* ms since the epoch; 0 = not muted */
    int content_free;   /* account row: -1 = the server default, 0 no, 1 yes */
    int dnd_start;      /* account row: minutes after 00:00 UTC, -1 = off */
    int dnd_end;        /* minutes after 00:00 UTC (may be < dnd_start: over midnight) */
} pl_push_pref_t;

/** Adds a subscription, or moves an existing endpoint to this user and
 * device with the new keys. *id (may be NULL) receives its id. PL_ETOOBIG
 * when the user holds max already (the endpoint itself not counted);
 * PL_ENOTFOUND when the device (session) is gone. */
int pl_db_push_sub_put(pl_db_t *db, int64_t user_id, int64_t device_id, const char *endpoint,
                       const char *p256dh, const char *auth, int64_t max, int64_t now_ms,
                       int64_t *id);
/** Deletes the user's subscription of endpoint; PL_ENOTFOUND if none. */
int pl_db_push_sub_delete(pl_db_t *db, int64_t user_id, const char *endpoint);
/** Deletes a subscription by id (the push service said 404/410). Deleting
 * one that is gone already is not an error. */
int pl_db_push_sub_delete_id(pl_db_t *db, int64_t id);
/** The user's subscriptions, oldest first. *out malloc'd (NULL when none);
 * dispose each, free(). */
int pl_db_push_subs(pl_db_t *db, int64_t user_id, pl_push_sub_row_t **out, size_t *n);
/** Writes one settings row (p->room_id 0: the account row). */
int pl_db_push_pref_put(pl_db_t *db, int64_t user_id, const pl_push_pref_t *p);
/** One settings row; PL_ENOTFOUND when the user never set it (the caller
 * uses the defaults). */
int pl_db_push_pref_get(pl_db_t *db, int64_t user_id, int64_t room_id, pl_push_pref_t *out);
/** Every settings row of the user, account row first. *out malloc'd. */
int pl_db_push_prefs(pl_db_t *db, int64_t user_id, pl_push_pref_t **out, size_t *n);
/** Users who set level `all` on room (group rooms push them every
 * message). *out malloc'd. */
int pl_db_push_room_all(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n);
/** Users with at least one subscription, ascending (the send path's
 * "nobody to push" check, chat/push_ops.c, loads them at start). */
int pl_db_push_sub_users(pl_db_t *db, int64_t **out, size_t *n);

/* ---- durable background jobs (issue 13; store_jobs.c, store_sqlite_jobs.c,
 * store_pg_jobs.c; the runner is src/jobs/) ----
 * A job is a row of `jobs`. pl_db_job_enqueue inside a write job commits it
 * with the change that caused it (transactional outbox). States: queued
 * (waiting for run_at; attempts > 0 means a retry), running (claimed by a
 * worker until lease_until; an expired lease makes it claimable again),
 * done (kept for a retention, payload cleared), dead (gave up after its
 * attempts; kept with its payload and last error for an operator).
 * Ordering key: of the unfinished (queued or running) jobs of one non-empty
 * key only the oldest (lowest id) is claimable, so a key's jobs run one at a
 * time in enqueue order. */
#define PL_JOB_KIND_MAX 32       /* [a-z0-9_.-], 1..32 bytes */
#define PL_JOB_KEY_MAX 200       /* ordering key bytes ("" = none) */
#define PL_JOB_PAYLOAD_MAX 65536 /* payload bytes (a JSON text) */
#define PL_JOB_ERROR_MAX 500     /* last_error is cut to this many bytes */
#define PL_JOB_WORKER_MAX 100    /* claimed_by bytes */
typedef struct {
    int64_t id;
    char *kind;       /* owned */
    char *key;        /* owned; "" = none */
    char *payload;    /* owned; JSON text */
    int64_t attempts; /* including this claim */
    int64_t run_at_ms;
    int64_t created_ms;
} pl_job_t;
void pl_job_dispose(pl_job_t *j);
/** Checks what pl_db_job_enqueue stores: 0, PL_EINVAL (kind not 1..32 bytes
 * of [a-z0-9_.-], key with a control byte, payload not a JSON object or array)
 * or PL_ETOOBIG (key or payload over its limit). Pure. */
int pl_job_check(const char *kind, const char *key, const char *payload);
/** Bytes of error kept as last_error: at most PL_JOB_ERROR_MAX, cut on a
 * UTF-8 character boundary. */
size_t pl_job_error_len(const char *error);
/** Job counts by state, for stats. retrying: queued with attempts > 0. */
typedef struct {
    int64_t queued, retrying, running, done, dead;
} pl_job_counts_t;

/** Adds a queued job (key NULL or "": no ordering) first claimable at
 * run_at_ms; *id (may be NULL) receives its id. pl_job_check's errors. */
int pl_db_job_enqueue(pl_db_t *db, const char *kind, const char *key, const char *payload,
                      int64_t run_at_ms, int64_t now_ms, int64_t *id);
/** Claims up to limit due jobs for worker (state running, lease until
 * now_ms + lease_ms, attempts + 1), oldest run_at first, honouring ordering
 * keys. On PostgreSQL several nodes claim at once (FOR UPDATE SKIP LOCKED)
 * without ever claiming one job twice. *out: malloc'd (NULL when *n is 0);
 * dispose each, free(). Must run in a write job: the claim is durable when
 * the job's done callback runs. */
int pl_db_job_claim(pl_db_t *db, const char *worker, int64_t now_ms, int64_t lease_ms, size_t limit,
                    pl_job_t **out, size_t *n);
/** Marks a job this worker holds done (payload cleared). PL_ENOTFOUND when the
 * worker no longer holds it (its lease expired and another claimed it). */
int pl_db_job_complete(pl_db_t *db, int64_t id, const char *worker, int64_t now_ms);
/** Gives a held job back after a failure: queued again at retry_at_ms, or
 * dead when dead is true; error (cut to PL_JOB_ERROR_MAX) is kept.
 * PL_ENOTFOUND as for complete. */
int pl_db_job_fail(pl_db_t *db, int64_t id, const char *worker, const char *error,
                   int64_t retry_at_ms, bool dead, int64_t now_ms);
/** Releases every claim of worker (a clean stop or a restart of the same
 * worker name): its running jobs are queued again at once, attempts kept. */
int pl_db_job_release(pl_db_t *db, const char *worker, size_t *n);
/** Deletes at most limit done jobs finished before done_before_ms. */
int pl_db_job_purge(pl_db_t *db, int64_t done_before_ms, int64_t limit, size_t *n);
/** Counts jobs by state (running: claimed with a live lease at now_ms; an
 * expired claim counts as queued). */
int pl_db_job_counts(pl_db_t *db, int64_t now_ms, pl_job_counts_t *out);
/** One job by id, whatever its state (tests, operators): *state receives
 * "queued", "running", "done" or "dead" (static), *error its last error
 * (owned, NULL when none). PL_ENOTFOUND. */
int pl_db_job_get(pl_db_t *db, int64_t id, pl_job_t *out, const char **state, char **error);
/** Deletes the queued jobs of kind with the (non-empty) ordering key key:
 * what they were to do is no longer wanted (media GC: the blob they were to
 * delete is in use again). *running receives how many of them are claimed
 * now (running, whatever their lease): those may be doing it right now.
 * Write job (in the transaction of the change that makes them unwanted). */
int pl_db_job_cancel(pl_db_t *db, const char *kind, const char *key, int64_t *running);

/* ---- moderation (issue 17): store_sqlite_mod.c, store_pg_mod.c ----
 * Roles and mutes live on the membership row; bans and the audit log in
 * tables of their own. Policy (who may do what: chat/mod_perm.h) is the
 * caller's; these only read and write. */

/** A member's moderation state. */
typedef struct {
    int64_t room_id, user_id;
    int role;            /* pl_role_t (chat/mod_perm.h): 0 member .. 3 owner */
    int64_t muted_until; /* ms since the epoch; 0 (or past) = not muted */
} pl_member_mod_t;

/** A ban. */
typedef struct {
    int64_t room_id, user_id, by;
    char *reason; /* owned */
    int64_t created_ms;
} pl_ban_t;
void pl_bans_free(pl_ban_t *v, size_t n);

/** One audit log entry (append-only). room_id 0: server-wide. */
typedef struct {
    int64_t id, ts, room_id, actor, target;
    char *action; /* owned: "kick", "ban", ... */
    char *reason; /* owned; "" when none */
    char *detail; /* owned; a JSON object text, "" when none */
} pl_audit_t;
void pl_audit_free(pl_audit_t *v, size_t n);

/** user's role and mute in room_id; PL_ENOTFOUND when not a member. */
int pl_db_member_mod_get(pl_db_t *db, int64_t room_id, int64_t user_id, pl_member_mod_t *out);
/** Sets the role; PL_ENOTFOUND when not a member. Writer. */
int pl_db_member_role_set(pl_db_t *db, int64_t room_id, int64_t user_id, int role);
/** Sets muted_until (0 = unmute); PL_ENOTFOUND when not a member. Writer. */
int pl_db_member_mute_set(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t until_ms);
/** Members of the room with role >= role. */
int pl_db_room_role_count(pl_db_t *db, int64_t room_id, int role, int64_t *n);
/** Members of room_id with a role above member or a mute after now_ms,
 * ordered by user id; room_id 0: the members muted after now_ms in every
 * room (loading the mutes at startup). *out malloc'd (free()). */
int pl_db_room_mods(pl_db_t *db, int64_t room_id, int64_t now_ms, pl_member_mod_t **out, size_t *n);
/** Bans user_id from room_id (replacing an older ban's reason). Writer. */
int pl_db_ban_put(pl_db_t *db, const pl_ban_t *b);
/** Lifts a ban; PL_ENOTFOUND when there is none. Writer. */
int pl_db_ban_delete(pl_db_t *db, int64_t room_id, int64_t user_id);
/** *banned: whether user_id is banned from room_id. */
int pl_db_ban_get(pl_db_t *db, int64_t room_id, int64_t user_id, bool *banned);
/** The room's bans, oldest first, at most limit. *out: pl_bans_free. */
int pl_db_bans(pl_db_t *db, int64_t room_id, int64_t limit, pl_ban_t **out, size_t *n);
/** Appends an entry (its id and ts as given are ignored: the id is new,
 * ts is e->ts). Writer. */
int pl_db_audit_add(pl_db_t *db, const pl_audit_t *e);
/** Entries with id < before (0: no bound), newest first, at most limit;
 * room_id > 0: that room's, 0: every entry. *out: pl_audit_free. */
int pl_db_audit_list(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit, pl_audit_t **out,
                     size_t *n);
/** Whether the user is a server admin (false for an unknown user). */
int pl_db_user_admin_get(pl_db_t *db, int64_t user_id, bool *admin);
/** Makes the user a server admin or not; PL_ENOTFOUND: no such user. */
int pl_db_user_admin_set(pl_db_t *db, int64_t user_id, bool admin);
/** Rewrites a tombstone's content (the delete by a moderator names them).
 * PL_ENOTFOUND unless (room_id, seq) is a deleted message. Writer. */
int pl_db_tombstone_set(pl_db_t *db, int64_t room_id, int64_t seq, const char *content);
/* ---- incoming webhooks (issue 16; SQLite schema step 13, PostgreSQL step 5:
 * store_sqlite_hooks.c, store_pg_hooks.c) ----
 * A webhook belongs to one room and is made by one of its members; its
 * secret is stored only as the hex SHA-256 of the token (PL_WEBHOOK_HASH_HEX
 * characters). Revoking keeps the row (revoked_ms > 0) so a late request
 * with its URL is answered "revoked" rather than "unknown". */
#define PL_WEBHOOK_HASH_HEX 64
typedef struct {
    int64_t id, room_id, creator;
    char *name;     /* owned (borrowed in pl_db_webhook_create's argument) */
    char *icon_url; /* owned; "" when none */
    char secret_hash[PL_WEBHOOK_HASH_HEX + 1];
    int64_t created_ms;
    int64_t revoked_ms; /* 0: live */
} pl_webhook_t;
/** Frees what w owns. NULL-safe. */
void pl_webhook_dispose(pl_webhook_t *w);
/** Frees an array of n webhooks. NULL-safe. */
void pl_webhooks_free(pl_webhook_t *v, size_t n);
/** Stores w (room_id, creator, name, icon_url, secret_hash, created_ms;
 * id and revoked_ms are ignored) and writes its id. PL_ETOOBIG when the
 * room has max_per_room live webhooks already. */
int pl_db_webhook_create(pl_db_t *db, const pl_webhook_t *w, int64_t max_per_room, int64_t *id);
/** One webhook, live or revoked. PL_ENOTFOUND. */
int pl_db_webhook_get(pl_db_t *db, int64_t id, pl_webhook_t *out);
/** The room's live webhooks, oldest first. *out malloc'd (NULL when none);
 * free with pl_webhooks_free. */
int pl_db_webhook_list(pl_db_t *db, int64_t room_id, pl_webhook_t **out, size_t *n);
/** Revokes a live webhook. PL_ENOTFOUND when there is no live one. */
int pl_db_webhook_revoke(pl_db_t *db, int64_t id, int64_t now_ms);

/* ---- outgoing webhooks (issue 16, step 2; the same schema steps 15 / 7,
 * table outhooks) ----
 * An outgoing webhook belongs to one room: messages there (those starting
 * with one of its trigger words, or all when it has none) are POSTed to its
 * URL, signed with its secret. The secret is the HMAC key, so it is stored
 * as given (base64url text), unlike an incoming webhook's hash. Revoking
 * keeps the row (revoked_ms > 0). */
typedef struct {
    int64_t id, room_id, creator;
    char *url;      /* owned (borrowed in pl_db_outhook_create's argument) */
    char *triggers; /* owned; words separated by one space, "" = every message */
    char *secret;   /* owned; the signing key's text */
    int64_t created_ms;
    int64_t revoked_ms; /* 0: live */
} pl_outhook_t;
/** Frees what w owns. NULL-safe. */
void pl_outhook_dispose(pl_outhook_t *w);
/** Frees an array of n outgoing webhooks. NULL-safe. */
void pl_outhooks_free(pl_outhook_t *v, size_t n);
/** Stores w (room_id, creator, url, triggers, secret, created_ms) and
 * writes its id. PL_ETOOBIG when the room has max_per_room live ones. */
int pl_db_outhook_create(pl_db_t *db, const pl_outhook_t *w, int64_t max_per_room, int64_t *id);
/** One outgoing webhook, live or revoked. PL_ENOTFOUND. */
int pl_db_outhook_get(pl_db_t *db, int64_t id, pl_outhook_t *out);
/** The room's live outgoing webhooks, oldest first. *out malloc'd (NULL
 * when none); free with pl_outhooks_free. */
int pl_db_outhook_list(pl_db_t *db, int64_t room_id, pl_outhook_t **out, size_t *n);
/** Revokes a live one. PL_ENOTFOUND when there is no live one. */
int pl_db_outhook_revoke(pl_db_t *db, int64_t id, int64_t now_ms);

#endif
