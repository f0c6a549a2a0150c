/* SPDX-License-Identifier: MIT */
/* store_sqlite.c -- SQLite backend lifecycle: connections, versioned schema,
 * the group-committing writer thread, reader threads and the hand-back of done
 * callbacks to the loop thread. The data functions live in one file per
 * concept (store_sqlite_users.c, _rooms.c, _messages.c, ...; see
 * docs/architecture.md "Storage"). */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_internal.h"

/* ---- schema ----
 * Migration i (0-based) takes the database from user_version i to i + 1. The
 * array is append-only: never edit a step that has shipped, add a new one. All
 * pending steps run in one transaction at open, so a crash mid-upgrade leaves
 * the old version intact. */
static const char *const migrations[] = {
    /* 1: initial schema. */
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " username TEXT NOT NULL UNIQUE,"
    " display_name TEXT NOT NULL DEFAULT '',"
    " pwhash TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL);"
    /* AUTOINCREMENT: a device id is never reused after its session is
     * deleted, so a stale device id cannot alias a new login. */
    "CREATE TABLE sessions("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " token_hash BLOB NOT NULL UNIQUE,"
    " device_name TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE rooms("
    " id INTEGER PRIMARY KEY,"
    " kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"
    " name TEXT NOT NULL DEFAULT '',"
    " dm_key TEXT UNIQUE," /* "minuid:maxuid" for a dm, NULL for a group */
    " last_seq INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE members("
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " read_seq INTEGER NOT NULL DEFAULT 0,"
    " joined_ms INTEGER NOT NULL,"
    " PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX members_user ON members(user_id, room_id);"
    /* (room_id, seq) orders history; (sender, client_id) deduplicates retries.
     * Both unique indexes also cover the foreign keys. */
    "CREATE TABLE messages("
    " id INTEGER PRIMARY KEY,"
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " sender INTEGER NOT NULL REFERENCES users(id),"
    " client_id TEXT NOT NULL,"
    " ts INTEGER NOT NULL,"
    " content TEXT NOT NULL,"
    " UNIQUE (room_id, seq),"
    " UNIQUE (sender, client_id));",
    /* 2: conversation features (issue 4). Mutations of a message take a new
     * per-room `version` (rooms.last_version) instead of a seq; reactions,
     * mentions, receipts, profiles, settings, disappearing messages and the
     * FTS5 search index. */
    "ALTER TABLE rooms ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rooms ADD COLUMN disappearing_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN edited_ts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;"    /* seq */
    "ALTER TABLE messages ADD COLUMN thread_root INTEGER NOT NULL DEFAULT 0;" /* seq */
    "ALTER TABLE messages ADD COLUMN thread_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN thread_last_ts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN expires_ts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN mentions TEXT;" /* JSON array of user ids, NULL: none */
    "ALTER TABLE messages ADD COLUMN mention_room INTEGER NOT NULL DEFAULT 0;"
    /* sync: the updates of one room after a version. */
    "CREATE INDEX messages_version ON messages(room_id, version) WHERE version > 0;"
    /* the sweeper: live messages with a timer, soonest first. */
    "CREATE INDEX messages_expiry ON messages(expires_ts) WHERE expires_ts > 0 AND deleted = 0;"
    "CREATE INDEX messages_thread ON messages(room_id, thread_root, seq) WHERE thread_root > 0;"
    "CREATE TABLE reactions("
    " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " emoji TEXT NOT NULL,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " PRIMARY KEY (message_id, emoji, user_id)) WITHOUT ROWID;"
    /* One row per mentioned user of a live message; user_id 0 is @room. The
     * unread mention count of `rooms` reads it by (room_id, seq). */
    "CREATE TABLE mentions("
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " user_id INTEGER NOT NULL,"
    " sender INTEGER NOT NULL,"
    " PRIMARY KEY (room_id, user_id, seq)) WITHOUT ROWID;"
    "ALTER TABLE members ADD COLUMN read_ts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE members ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE members ADD COLUMN delivered_ts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';" /* only keys set */
    "ALTER TABLE users ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;"
    /* Text bodies of live messages, rowid = messages.id. Deleting a message
     * deletes its row here, so a deleted body is gone from the index too. */
    "CREATE VIRTUAL TABLE messages_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics "
    "2');"
    "INSERT INTO messages_fts(rowid, body) SELECT id, json_extract(content, '$.body') FROM messages"
    " WHERE json_valid(content) AND json_extract(content, '$.type') = 'text'"
    " AND json_type(content, '$.body') = 'text';",
    /* 3: media. One row per (owner, content): the same bytes uploaded twice
     * by one user are one media id; the file on disk is shared by sha256.
     * media_refs says in which rooms a message referenced it (access). */
    "CREATE TABLE media("
    " id INTEGER PRIMARY KEY,"
    " sha256 TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " mime TEXT NOT NULL,"
    " owner INTEGER NOT NULL REFERENCES users(id),"
    " name TEXT NOT NULL DEFAULT '',"
    " width INTEGER NOT NULL DEFAULT 0,"
    " height INTEGER NOT NULL DEFAULT 0,"
    " thumb_w INTEGER NOT NULL DEFAULT 0," /* 0 = no thumbnail */
    " thumb_h INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " UNIQUE (owner, sha256));"
    "CREATE INDEX media_by_sha ON media(sha256);"
    "CREATE TABLE media_refs("
    " media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,"
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " PRIMARY KEY (media_id, room_id)) WITHOUT ROWID;"
    "ALTER TABLE users ADD COLUMN avatar INTEGER NOT NULL DEFAULT 0;" /* media id, 0 = none */
    "CREATE INDEX users_by_avatar ON users(avatar) WHERE avatar != 0;"
    "CREATE TABLE emoji("
    " shortcode TEXT PRIMARY KEY,"
    " media_id INTEGER NOT NULL REFERENCES media(id),"
    " owner INTEGER NOT NULL,"
    " created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX emoji_by_media ON emoji(media_id);",
    /* 4: the search index moved to its own file, search.db, written off the
     * write path (store_sqlite_index.c); it is rebuilt from messages there. */
    "DROP TABLE IF EXISTS messages_fts;",
    /* 5: group avatars. rooms.avatar is a media id (0 = none); the index
     * serves the media visibility check (members of a room whose avatar it
     * is may read it). */
    "ALTER TABLE rooms ADD COLUMN avatar INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX rooms_by_avatar ON rooms(avatar) WHERE avatar != 0;",
    /* 6: media references per message
     * instead of per room, so deleting or expiring a message releases its
     * media (garbage collection, access). messages.media is the media id the
     * content names (0 = none); it stays on the tombstone, which is how the
     * collector tells a released upload from a fresh one. media_refs is
     * replaced by it. */
    "ALTER TABLE messages ADD COLUMN media INTEGER NOT NULL DEFAULT 0;"
    "UPDATE messages SET media = CAST(substr(json_extract(content, '$.media'), 2) AS INTEGER)"
    " WHERE json_valid(content) AND json_type(content, '$.media') = 'text'"
    " AND json_extract(content, '$.media') GLOB 'f[1-9]*';"
    "CREATE INDEX messages_media ON messages(media) WHERE media > 0;"
    "DROP TABLE media_refs;",
    /* 7: invitations. Joining a group needs one: a pending invitation of
     * user_id to room_id by inviter, alive until expires_ms, until the
     * invitee joins or declines, or until the inviter leaves the room
     * (store_sqlite_invite.c). invites_user lists and counts a user's
     * invitations, invites_inviter finds those a leaver made, invites_expiry
     * serves the purge of expired ones. */
    "CREATE TABLE invites("
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " inviter INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX invites_user ON invites(user_id, expires_ms);"
    "CREATE INDEX invites_inviter ON invites(inviter, room_id);"
    "CREATE INDEX invites_expiry ON invites(expires_ms);",
    /* 8: reactions keep their insertion order. docs/protocol.md lists them
     * "in order of first use", but ts is in milliseconds, so two reactions of
     * one millisecond were ordered by the emoji's bytes. The table gets a
     * rowid (insertion order; the old rows are copied in their old order) and
     * the unique key the primary key was. */
    "CREATE TABLE reactions_new("
    " id INTEGER PRIMARY KEY,"
    " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " emoji TEXT NOT NULL,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " ts INTEGER NOT NULL,"
    " UNIQUE (message_id, emoji, user_id));"
    "INSERT INTO reactions_new(message_id, emoji, user_id, ts)"
    " SELECT message_id, emoji, user_id, ts FROM reactions ORDER BY message_id, ts, emoji, user_id;"
    "DROP TABLE reactions;"
    "ALTER TABLE reactions_new RENAME TO reactions;",
    /* 9: accounts (store_sqlite_account.c). user_mfa holds an enabled TOTP
     * second factor (its secret, the last step that verified: codes are
     * single use) and the salt of the user's recovery codes, which are
     * stored keyed-hashed, one row each until used. password_resets and
     * invite_codes hold SHA-256 of operator-issued one-time tokens.
     * sessions.ip is the coarse client address of the login (a /24 or /48),
     * shown in the devices list. */
    "CREATE TABLE user_mfa("
    " user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " totp_secret BLOB NOT NULL,"
    " totp_last_step INTEGER NOT NULL DEFAULT 0,"
    " recovery_salt BLOB NOT NULL,"
    " enabled_ms INTEGER NOT NULL);"
    "CREATE TABLE recovery_codes("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " code_hash BLOB NOT NULL,"
    " used_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, code_hash));"
    "CREATE TABLE password_resets("
    " token_hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL);"
    "CREATE INDEX password_resets_user ON password_resets(user_id);"
    "CREATE TABLE invite_codes("
    " code_hash BLOB PRIMARY KEY,"
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " used_by INTEGER,"
    " used_ms INTEGER NOT NULL DEFAULT 0);"
    "ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';",
    /* 10:
     * passkeys (store_sqlite_passkey.c). credential_id is the authenticator's
     * id (unique over all users: an assertion names only it), public_key the
     * COSE_Key bytes as registered, sign_count the last counter seen.
     * passkey_users holds each user's WebAuthn user handle: 16 random bytes,
     * so the numeric id never reaches an authenticator. */
    "CREATE TABLE passkeys("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " credential_id BLOB NOT NULL UNIQUE,"
    " public_key BLOB NOT NULL,"
    " alg INTEGER NOT NULL,"
    " sign_count INTEGER NOT NULL DEFAULT 0,"
    " name TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " last_used_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX passkeys_user ON passkeys(user_id);"
    "CREATE TABLE passkey_users("
    " user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " handle BLOB NOT NULL UNIQUE);",
    /* 11: durable background jobs (issue 13; store_sqlite_jobs.c, the runner
     * in src/jobs/). state: 0 queued, 1 running, 2 done, 3 dead. okey is the
     * ordering key ('' = none): only the oldest unfinished job of a key is
     * claimable. jobs_due serves the claim, jobs_key the ordering check,
     * jobs_done the retention purge. */
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL,"
    " okey TEXT NOT NULL DEFAULT '',"
    " payload TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2, 3)),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " run_at INTEGER NOT NULL,"
    " claimed_by TEXT,"
    " lease_until INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " created_ms INTEGER NOT NULL,"
    " finished_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_due ON jobs(run_at, id) WHERE state IN (0, 1);"
    "CREATE INDEX jobs_key ON jobs(okey, id) WHERE state IN (0, 1) AND okey <> '';"
    "CREATE INDEX jobs_done ON jobs(finished_ms) WHERE state = 2;",
    /* 12: Web Push (issue 15; store_sqlite_push.c). A subscription dies
     * with its session (logout, revoke). push_prefs: notification settings
     * per (user, room); room_id 0 is the account row. level: 0 default, 1
     * all, 2 mentions, 3 nothing; content_free -1 = the server default;
     * dnd_* minutes after 00:00 UTC, -1 = off. */
    "CREATE TABLE push_subs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " device_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " endpoint TEXT NOT NULL UNIQUE,"
    " p256dh TEXT NOT NULL,"
    " auth TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX push_subs_user ON push_subs(user_id);"
    "CREATE INDEX push_subs_device ON push_subs(device_id);"
    "CREATE TABLE push_prefs("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " room_id INTEGER NOT NULL,"
    " level INTEGER NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 3),"
    " mute_until INTEGER NOT NULL DEFAULT 0,"
    " content_free INTEGER NOT NULL DEFAULT -1,"
    " dnd_start INTEGER NOT NULL DEFAULT -1,"
    " dnd_end INTEGER NOT NULL DEFAULT -1,"
    " PRIMARY KEY (user_id, room_id));"
    "CREATE INDEX push_prefs_all ON push_prefs(room_id) WHERE level = 1;",
    /* 13: webhooks (issue 16; store_sqlite_hooks.c). An incoming webhook's
     * secret is kept as the hex SHA-256 of the token; revoked_ms 0 = live. */
    "CREATE TABLE webhooks("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " creator INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " icon_url TEXT NOT NULL DEFAULT '',"
    " secret_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX webhooks_room ON webhooks(room_id) WHERE revoked_ms = 0;"
    /* outgoing webhooks (issue 16, step 2): the secret is the HMAC key */
    "CREATE TABLE outhooks("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " creator INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL,"
    " triggers TEXT NOT NULL DEFAULT '',"
    " secret TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX outhooks_room ON outhooks(room_id) WHERE revoked_ms = 0;",
    /* 14: moderation (issue 17; store_sqlite_mod.c). members.role is
     * pl_role_t (0 member .. 3 owner); existing groups get their earliest
     * member as owner (the creator was not stored; a group created with its
     * members at once has them all at one joined_ms, and then the lowest
     * user id wins). muted_until: ms since the epoch, 0 = not muted.
     * room_bans keeps the banned out (join, invite) until unbanned.
     * audit_log is append-only (triggers refuse UPDATE and DELETE); room_id
     * 0 is a server-wide entry. */
    "ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0"
    " CHECK (role BETWEEN 0 AND 3);"
    "ALTER TABLE members ADD COLUMN muted_until INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX members_muted ON members(muted_until) WHERE muted_until > 0;"
    "ALTER TABLE users ADD COLUMN server_admin INTEGER NOT NULL DEFAULT 0;"
    "UPDATE members SET role = 3 WHERE"
    " (SELECT kind FROM rooms r WHERE r.id = members.room_id) = 2 AND user_id ="
    " (SELECT m2.user_id FROM members m2 WHERE m2.room_id = members.room_id"
    " ORDER BY m2.joined_ms, m2.user_id LIMIT 1);"
    "CREATE TABLE room_bans("
    " room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " by_user INTEGER NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;"
    "CREATE TABLE audit_log("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ts INTEGER NOT NULL,"
    " room_id INTEGER NOT NULL DEFAULT 0,"
    " actor INTEGER NOT NULL,"
    " action TEXT NOT NULL,"
    " target INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX audit_room ON audit_log(room_id, id);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
};
#define SCHEMA_VERSION ((int)PL_ARRAY_LEN(migrations))

#define BUSY_TIMEOUT_MS 5000

/* ---- jobs ---- */

typedef struct job {
    struct job *next;
    pl_store_work_cb work;
    pl_store_done_cb done;
    void *arg;
    int status; /* passed to done (pl_store_done_cb) */
} job_t;

typedef struct {
    job_t *head, *tail;
} job_list_t;

struct pl_store {
    const pl_store_backend_t *be; /* first member: &pl_store_sqlite_backend */
    uv_loop_t *loop;
    uv_async_t async; /* wakes the loop to run done callbacks */
    int64_t batch_max;
    uint64_t wait_ns; /* commit_wait_us: how long a batch may wait to fill */

    uv_mutex_t mu; /* guards the two queues and closing */
    uv_cond_t write_cv, read_cv;
    job_list_t writes, reads;
    int64_t nwrites; /* jobs on `writes` */
    bool closing;

    uv_mutex_t done_mu; /* guards done */
    job_list_t done;

    uv_thread_t writer_thread;
    uv_thread_t *reader_threads;
    pl_db_t writer, direct;
    pl_db_t *readers;
    pl_indexer_t *ix; /* search.db and its thread */
    /* Writer thread only: when the WAL must be truncated because a commit
     * removed text (uv_hrtime ns, 0: not due), and purge_delay_ms. */
    uint64_t purge_at, purge_delay_ns;
    int64_t nreaders;
    int64_t threads_started; /* writer + readers running, for cleanup */

    _Atomic uint64_t commits, write_jobs, read_jobs;
    pl_store_hist_t commit_hist, batch_hist; /* issue 17: /metrics */
};

static void list_push(job_list_t *l, job_t *first, job_t *last)
{
    last->next = NULL;
    if (l->tail != NULL)
        l->tail->next = first;
    else
        l->head = first;
    l->tail = last;
}

/* ---- connections ---- */

static void db_close(pl_db_t *db)
{
    pl_store__fts_truncate(db, 0);
    pl_store__stmts_finalize(db);
    if (db->h != NULL && sqlite3_close(db->h) != SQLITE_OK)
        pl_log(PL_LOG_ERROR, "store", "op=close db=%s err=%s", db->name, sqlite3_errmsg(db->h));
    db->h = NULL;
}

static int db_exec(pl_db_t *db, const char *sql, const char *op)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    pl_log(PL_LOG_ERROR, "store", "op=%s db=%s err=%s", op, db->name,
           msg != NULL ? msg : sqlite3_errmsg(db->h));
    sqlite3_free(msg);
    return PL_EIO;
}

/* Runs a one-row, one-integer statement (PRAGMA user_version). */
static int db_query_int(pl_db_t *db, const char *sql, const char *op, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = PL_EIO;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        pl_store__fail(db, op);
    }
    sqlite3_finalize(s);
    return rc;
}

static int db_open(pl_db_t *db, const char *path, pl_db_role_t role, const char *name)
{
    memset(db, 0, sizeof *db);
    db->be = &pl_store_sqlite_backend;
    db->role = role;
    db->name = name;
    /* NOMUTEX: each connection is used by one thread at a time, so SQLite's
     * per-connection mutex would only cost. */
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    flags |= role == PL_DB_READER ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (role == PL_DB_WRITER)
        flags |= SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        pl_log(PL_LOG_ERROR, "store", "op=open db=%s err=%s", name,
               db->h != NULL ? sqlite3_errmsg(db->h) : "out of memory");
        db_close(db);
        return PL_EIO;
    }
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    if (role != PL_DB_READER) {
        /* synchronous=FULL: a COMMIT is on disk before its done callbacks run
         * (NORMAL in WAL mode could lose the last commits on power loss).
         * secure_delete: freed cells and pages are zeroed, so an overwritten
         * or deleted message text does not stay in the file's free space
         * (Debian's default, made explicit; docs/security.md). */
        if (db_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON",
                    "pragma") != 0) {
            db_close(db);
            return PL_EIO;
        }
    }
    return 0;
}

/* Makes search.db readable as schema "s" (search queries join it) and
 * routes the connection's index changes to the indexer. */
static int db_attach_search(pl_db_t *db, const char *dir, pl_indexer_t *ix)
{
    char *sql = sqlite3_mprintf("ATTACH DATABASE '%q/search.db' AS s", dir);
    int rc = db_exec(db, sql, "attach_search");
    sqlite3_free(sql);
    db->ix = ix;
    return rc;
}

/* Caps a reader's page cache (main and search.db) at bytes (0: SQLite's
 * default, 2 MiB each). The readers all cache the same hot pages, which the
 * kernel's page cache holds as well; at SQLite's default the `auth` reads of
 * 10,000 users fill 2 x 2 MiB, about 420 B per idle connection
 * (docs/performance.md, "Idle connections, round 2"). */
static int reader_cache_size(pl_db_t *db, int64_t bytes)
{
    if (bytes == 0)
        return 0;
    char sql[96];
    long long kib = bytes / 1024 > 0 ? bytes / 1024 : 1;
    snprintf(sql, sizeof sql, "PRAGMA main.cache_size=-%lld; PRAGMA s.cache_size=-%lld", kib, kib);
    return db_exec(db, sql, "cache_size");
}

/* Switches to WAL (persistent in the file) and brings the schema up to date.
 * Runs on the writer connection before any other connection opens. */
static int db_migrate(pl_db_t *db)
{
    sqlite3_stmt *s = NULL;
    bool wal = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode=WAL", -1, &s, NULL) == SQLITE_OK &&
               sqlite3_step(s) == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    if (!wal)
        pl_store__fail(db, "journal_mode_wal");
    sqlite3_finalize(s);
    if (!wal)
        return PL_EIO;

    /* Read the version inside the write transaction, so two processes opening
     * one fresh directory cannot both run the same step. */
    if (db_exec(db, "BEGIN IMMEDIATE", "migrate_begin") != 0)
        return PL_EIO;
    int64_t version = 0;
    int rc = db_query_int(db, "PRAGMA user_version", "user_version", &version);
    if (rc == 0 && version > SCHEMA_VERSION) {
        pl_log(PL_LOG_ERROR, "store",
               "op=migrate err=database schema version %" PRId64
               " is newer than this build (%d); refusing to open",
               version, SCHEMA_VERSION);
        rc = PL_EIO;
    }
    for (int64_t v = version; rc == 0 && v < SCHEMA_VERSION; v++) {
        pl_log(PL_LOG_INFO, "store", "op=migrate from=%" PRId64 " to=%" PRId64, v, v + 1);
        rc = db_exec(db, migrations[v], "migrate");
    }
    if (rc == 0 && version < SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
        rc = db_exec(db, sql, "set_user_version");
    }
    if (rc == 0)
        return db_exec(db, "COMMIT", "migrate_commit");
    db_exec(db, "ROLLBACK", "migrate_rollback");
    return rc;
}

/* mkdir -p with mode 0700 for the components it creates. */
static int make_dirs(const char *dir)
{
    char *p = pl_xstrdup(dir);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            pl_log(PL_LOG_ERROR, "store", "op=mkdir path=%s err=%s", p, strerror(errno));
            rc = PL_EIO;
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return rc;
}

/* ---- writer ---- */

/* PRAGMA wal_checkpoint(TRUNCATE) on the writer: the WAL keeps the page
 * images of old commits (the text of a since deleted, expired or edited
 * message among them) until they are overwritten; truncated, it holds
 * nothing. Readers hold a snapshot for one job at most; if one still blocks
 * the checkpoint after the busy timeout, it is tried again in a second. */
static void writer_checkpoint(pl_store_t *st)
{
    int nlog = 0, nckpt = 0;
    uint64_t t0 = uv_hrtime();
    int rc =
        sqlite3_wal_checkpoint_v2(st->writer.h, "main", SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    st->purge_at = 0;
    if (rc != SQLITE_OK) {
        pl_log(PL_LOG_WARN, "store", "op=wal_truncate db=main err=%s",
               sqlite3_errmsg(st->writer.h));
        st->purge_at = uv_hrtime() + 1000000000u;
        return;
    }
    pl_log(PL_LOG_DEBUG, "store", "op=wal_truncate db=main frames=%d ms=%" PRIu64, nlog,
           (uv_hrtime() - t0) / 1000000u);
}

/* After a COMMIT: a batch that deleted or changed indexed text (an FTS op
 * that is not a fresh insert) schedules the WAL truncation. */
static void schedule_purge(pl_store_t *st)
{
    const pl_db_t *db = &st->writer;
    for (size_t i = 0; st->purge_at == 0 && i < db->nfts; i++)
        if (!db->fts[i].fresh)
            st->purge_at = uv_hrtime() + st->purge_delay_ns;
}

static void complete(pl_store_t *st, job_t *first, job_t *last)
{
    uv_mutex_lock(&st->done_mu);
    list_push(&st->done, first, last);
    uv_mutex_unlock(&st->done_mu);
    /* Coalesces: the async callback drains the whole list. */
    uv_async_send(&st->async);
}

/* Marks every job from first up to and including last as failed. */
static void fail_range(job_t *first, job_t *last)
{
    for (job_t *j = first;; j = j->next) {
        j->status = PL_EIO;
        if (j == last)
            break;
    }
}

/* One group commit: BEGIN IMMEDIATE, each job in its own savepoint, one
 * COMMIT (one fsync) for all of them. */
static void run_batch(pl_store_t *st, job_t *first, job_t *last)
{
    pl_db_t *db = &st->writer;
    bool in_tx = false;
    job_t *seg = first; /* first job of the open transaction */
    uint64_t njobs = 0;
    for (job_t *j = first;; j = j->next) {
        njobs++;
        if (!in_tx) {
            seg = j;
            in_tx = pl_store__exec(db, PL_TX_BEGIN_IMMEDIATE, "begin") == 0;
        }
        db->job_rollback = db->job_failed = false;
        db->fts_job_start = db->nfts;
        if (!in_tx || pl_store__exec(db, PL_TX_JOB_SAVEPOINT, "savepoint") != 0) {
            j->status = PL_EIO;
        } else {
            j->work(db, j->arg);
            atomic_fetch_add_explicit(&st->write_jobs, 1, memory_order_relaxed);
            if (sqlite3_get_autocommit(db->h)) {
                /* SQLite rolled the whole transaction back on a hard error
                 * (I/O, disk full): every job since BEGIN is lost, including
                 * ones whose work succeeded. Start over for the rest. */
                pl_log(PL_LOG_ERROR, "store", "op=job err=transaction aborted by sqlite");
                fail_range(seg, j);
                pl_store__fts_truncate(db, 0);
                in_tx = false;
            } else {
                if (db->job_rollback || db->job_failed) {
                    if (db->job_failed)
                        j->status = PL_EIO;
                    pl_store__exec(db, PL_TX_JOB_ROLLBACK_TO, "rollback_to");
                    pl_store__fts_truncate(db, db->fts_job_start);
                }
                if (pl_store__exec(db, PL_TX_JOB_RELEASE, "release") != 0 &&
                    sqlite3_get_autocommit(db->h)) {
                    fail_range(seg, j);
                    pl_store__fts_truncate(db, 0);
                    in_tx = false;
                }
            }
        }
        if (j == last)
            break;
    }
    if (!in_tx) {
        pl_store__fts_truncate(db, 0);
        return;
    }
    uint64_t t0 = uv_hrtime();
    if (pl_store__exec(db, PL_TX_COMMIT, "commit") == 0) {
        atomic_fetch_add_explicit(&st->commits, 1, memory_order_relaxed);
        pl_store__observe_commit(&st->commit_hist, &st->batch_hist, uv_hrtime() - t0, njobs);
        schedule_purge(st);
        /* Before the acks are posted (complete()), so a search that follows
         * an ack waits for this batch's index changes. */
        pl_store__fts_handoff(db);
        return;
    }
    /* Nothing of this transaction is durable: report it to every job. */
    if (!sqlite3_get_autocommit(db->h))
        pl_store__exec(db, PL_TX_ROLLBACK, "rollback");
    pl_store__fts_truncate(db, 0);
    fail_range(seg, last);
}

static void writer_main(void *arg)
{
    pl_store_t *st = arg;
    for (;;) {
        if (st->purge_at != 0 && uv_hrtime() >= st->purge_at)
            writer_checkpoint(st);
        uv_mutex_lock(&st->mu);
        while (st->writes.head == NULL && !st->closing) {
            uint64_t now = uv_hrtime();
            if (st->purge_at == 0)
                uv_cond_wait(&st->write_cv, &st->mu);
            else if (now < st->purge_at)
                (void)uv_cond_timedwait(&st->write_cv, &st->mu, st->purge_at - now);
            else
                break; /* the WAL truncation is due */
        }
        if (st->writes.head == NULL && !st->closing) {
            uv_mutex_unlock(&st->mu);
            continue;
        }
        if (st->writes.head == NULL) { /* closing and drained */
            uv_mutex_unlock(&st->mu);
            return;
        }
        /* Flush at batch_max jobs or after wait_ns, whichever comes first.
         * With no wait (the default) the batch is whatever queued while the
         * previous COMMIT was syncing: no added latency when idle, large
         * batches under load. */
        if (st->wait_ns > 0 && st->nwrites < st->batch_max) {
            uint64_t deadline = uv_hrtime() + st->wait_ns;
            while (st->nwrites < st->batch_max && !st->closing) {
                uint64_t now = uv_hrtime();
                if (now >= deadline ||
                    uv_cond_timedwait(&st->write_cv, &st->mu, deadline - now) != 0)
                    break;
            }
        }
        /* Take up to batch_max jobs: everything that queued while the last
         * COMMIT was syncing shares the next one. */
        job_t *first = st->writes.head, *last = first;
        for (int64_t n = 1; n < st->batch_max && last->next != NULL; n++)
            last = last->next;
        st->writes.head = last->next;
        if (st->writes.head == NULL)
            st->writes.tail = NULL;
        last->next = NULL;
        for (job_t *j = first; j != NULL; j = j->next)
            st->nwrites--;
        uv_mutex_unlock(&st->mu);

        run_batch(st, first, last);
        complete(st, first, last);
    }
}

/* ---- readers ---- */

typedef struct {
    pl_store_t *st;
    pl_db_t *db;
} reader_arg_t;

static void run_read(pl_store_t *st, pl_db_t *db, job_t *j)
{
    db->job_rollback = db->job_failed = false;
    /* One read transaction per job: every query of the job sees the same
     * snapshot. */
    if (pl_store__exec(db, PL_TX_BEGIN, "begin_read") != 0) {
        j->status = PL_EIO;
        return;
    }
    j->work(db, j->arg);
    atomic_fetch_add_explicit(&st->read_jobs, 1, memory_order_relaxed);
    if (!sqlite3_get_autocommit(db->h) && pl_store__exec(db, PL_TX_COMMIT, "commit_read") != 0 &&
        !sqlite3_get_autocommit(db->h))
        pl_store__exec(db, PL_TX_ROLLBACK, "rollback_read");
    if (db->job_failed)
        j->status = PL_EIO;
}

static void reader_main(void *arg)
{
    pl_store_t *st = ((reader_arg_t *)arg)->st;
    pl_db_t *db = ((reader_arg_t *)arg)->db;
    free(arg);
    for (;;) {
        uv_mutex_lock(&st->mu);
        while (st->reads.head == NULL && !st->closing)
            uv_cond_wait(&st->read_cv, &st->mu);
        job_t *j = st->reads.head;
        if (j == NULL) {
            uv_mutex_unlock(&st->mu);
            return;
        }
        st->reads.head = j->next;
        if (st->reads.head == NULL)
            st->reads.tail = NULL;
        uv_mutex_unlock(&st->mu);

        run_read(st, db, j);
        complete(st, j, j);
    }
}

/* ---- loop side ---- */

/* Runs the done callbacks of every job on the list now. */
static void run_done(pl_store_t *st)
{
    uv_mutex_lock(&st->done_mu);
    job_t *j = st->done.head;
    st->done.head = st->done.tail = NULL;
    uv_mutex_unlock(&st->done_mu);
    while (j != NULL) {
        job_t *next = j->next;
        if (j->done != NULL)
            j->done(j->status, j->arg);
        free(j);
        j = next;
    }
}

static void on_async(uv_async_t *h)
{
    run_done(h->data);
}

static void free_store(pl_store_t *st)
{
    uv_mutex_destroy(&st->mu);
    uv_mutex_destroy(&st->done_mu);
    uv_cond_destroy(&st->write_cv);
    uv_cond_destroy(&st->read_cv);
    free(st->readers);
    free(st->reader_threads);
    free(st);
}

static void on_close(uv_handle_t *h)
{
    pl_store_t *st = h->data;
    /* Callbacks may submit more jobs; those complete with PL_ECLOSED straight
     * onto the list, so keep draining until it stays empty. */
    for (;;) {
        uv_mutex_lock(&st->done_mu);
        bool empty = st->done.head == NULL;
        uv_mutex_unlock(&st->done_mu);
        if (empty)
            break;
        run_done(st);
    }
    free_store(st);
}

/* Stops the threads after their queues drain and closes every connection. */
static void stop_threads(pl_store_t *st)
{
    uv_mutex_lock(&st->mu);
    st->closing = true;
    uv_cond_broadcast(&st->write_cv);
    uv_cond_broadcast(&st->read_cv);
    uv_mutex_unlock(&st->mu);
    if (st->threads_started > 0)
        uv_thread_join(&st->writer_thread);
    for (int64_t i = 0; i + 1 < st->threads_started; i++)
        uv_thread_join(&st->reader_threads[i]);
    st->threads_started = 0;
    /* Nothing hands index changes over any more: apply them and stop. */
    pl_indexer_close(st->ix);
    st->ix = NULL;
    for (int64_t i = 0; i < st->nreaders; i++)
        db_close(&st->readers[i]);
    db_close(&st->direct);
    /* The writer closes last: the last connection checkpoints the WAL. */
    db_close(&st->writer);
}

/* SQLite's default memory statistics take a process-wide mutex on every
 * allocation; the writer allocates per statement, so turn them off. It only
 * works before SQLite initializes, and SQLITE_MISUSE after that is harmless. */
static uv_once_t sqlite_once = UV_ONCE_INIT;
static void sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int pl_sq_store_open(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out)
{
    uv_once(&sqlite_once, sqlite_setup);
    if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0' ||
        strcmp(cfg->data_dir, ":memory:") == 0) {
        pl_log(PL_LOG_ERROR, "store", "op=open err=data_dir must be a directory");
        return PL_EIO;
    }
    if (make_dirs(cfg->data_dir) != 0)
        return PL_EIO;

    pl_store_t *st = pl_xcalloc(1, sizeof *st);
    st->be = &pl_store_sqlite_backend;
    st->loop = loop;
    st->batch_max = cfg->commit_batch_max > 0 ? cfg->commit_batch_max : 1;
    st->wait_ns = cfg->commit_wait_us > 0 ? (uint64_t)cfg->commit_wait_us * 1000u : 0;
    st->nreaders = cfg->store_read_threads > 0 ? cfg->store_read_threads : 1;
    st->readers = pl_xcalloc((size_t)st->nreaders, sizeof *st->readers);
    st->reader_threads = pl_xcalloc((size_t)st->nreaders, sizeof *st->reader_threads);
    uv_mutex_init(&st->mu);
    uv_mutex_init(&st->done_mu);
    uv_cond_init(&st->write_cv);
    uv_cond_init(&st->read_cv);

    size_t plen = strlen(cfg->data_dir) + sizeof "/parley.db";
    char *path = pl_xmalloc(plen);
    snprintf(path, plen, "%s/parley.db", cfg->data_dir);
    st->purge_delay_ns = (uint64_t)(cfg->purge_delay_ms > 0 ? cfg->purge_delay_ms : 0) * 1000000u;
    int rc = db_open(&st->writer, path, PL_DB_WRITER, "writer");
    if (rc == 0 && (rc = db_migrate(&st->writer)) != 0)
        db_close(&st->writer);
    /* A process that died left its WAL (old page images included): fold it
     * into the file and truncate it before anyone else opens the database. */
    if (rc == 0)
        writer_checkpoint(st);
    if (rc == 0)
        rc = pl_indexer_open(cfg->data_dir, path, cfg->purge_delay_ms, &st->ix);
    st->writer.ix = st->ix;
    if (rc == 0)
        rc = db_open(&st->direct, path, PL_DB_DIRECT, "direct");
    if (rc == 0)
        rc = db_attach_search(&st->direct, cfg->data_dir, st->ix);
    for (int64_t i = 0; rc == 0 && i < st->nreaders; i++) {
        rc = db_open(&st->readers[i], path, PL_DB_READER, "reader");
        if (rc == 0)
            rc = db_attach_search(&st->readers[i], cfg->data_dir, st->ix);
        if (rc == 0)
            rc = reader_cache_size(&st->readers[i], cfg->store_reader_cache_bytes);
    }
    free(path);
    if (rc != 0) {
        stop_threads(st); /* no threads yet: just closes what opened */
        free_store(st);
        return PL_EIO;
    }

    uv_async_init(loop, &st->async, on_async);
    st->async.data = st;
    if (uv_thread_create(&st->writer_thread, writer_main, st) == 0) {
        st->threads_started = 1;
        for (int64_t i = 0; i < st->nreaders; i++) {
            reader_arg_t *ra = pl_xmalloc(sizeof *ra);
            *ra = (reader_arg_t){st, &st->readers[i]};
            if (uv_thread_create(&st->reader_threads[i], reader_main, ra) != 0) {
                free(ra);
                break;
            }
            st->threads_started++;
        }
    }
    if (st->threads_started != st->nreaders + 1) {
        pl_log(PL_LOG_ERROR, "store", "op=open err=cannot start store threads");
        stop_threads(st);
        uv_close((uv_handle_t *)&st->async, on_close);
        return PL_EIO;
    }
    pl_log(PL_LOG_INFO, "store", "op=open dir=%s schema=%d readers=%" PRId64 " batch_max=%" PRId64,
           cfg->data_dir, SCHEMA_VERSION, st->nreaders, st->batch_max);
    *out = st;
    return 0;
}

void pl_sq_store_close(pl_store_t *st)
{
    if (st == NULL)
        return;
    stop_threads(st);
    uv_close((uv_handle_t *)&st->async, on_close);
}

pl_db_t *pl_sq_store_direct(pl_store_t *st)
{
    return &st->direct;
}

static void submit(pl_store_t *st, job_list_t *q, uv_cond_t *cv, pl_store_work_cb work,
                   pl_store_done_cb done, void *arg)
{
    job_t *j = pl_xmalloc(sizeof *j);
    *j = (job_t){.work = work, .done = done, .arg = arg};
    uv_mutex_lock(&st->mu);
    bool closing = st->closing;
    if (!closing) {
        list_push(q, j, j);
        if (q == &st->writes)
            st->nwrites++;
        uv_cond_signal(cv);
    }
    uv_mutex_unlock(&st->mu);
    if (closing) {
        /* The async handle is closing, so no uv_async_send: on_close drains
         * the list. */
        j->status = PL_ECLOSED;
        uv_mutex_lock(&st->done_mu);
        list_push(&st->done, j, j);
        uv_mutex_unlock(&st->done_mu);
    }
}

void pl_sq_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg)
{
    submit(st, &st->writes, &st->write_cv, work, done, arg);
}

void pl_sq_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg)
{
    submit(st, &st->reads, &st->read_cv, work, done, arg);
}

void pl_sq_store_get_stats(pl_store_t *st, pl_store_stats_t *out)
{
    pl_store__hist_read(&st->commit_hist, &st->batch_hist, out);
    out->commits = atomic_load_explicit(&st->commits, memory_order_relaxed);
    out->write_jobs = atomic_load_explicit(&st->write_jobs, memory_order_relaxed);
    out->read_jobs = atomic_load_explicit(&st->read_jobs, memory_order_relaxed);
    out->batched_posts = 0; /* one statement per post (SQLite's are in-process) */
}

/* The backend table (store_backend.h). */
const pl_store_backend_t pl_store_sqlite_backend = {.name = "sqlite",
                                                    .open = pl_sq_store_open,
                                                    .close = pl_sq_store_close,
                                                    .direct = pl_sq_store_direct,
                                                    .write = pl_sq_store_write,
                                                    .read = pl_sq_store_read,
                                                    .get_stats = pl_sq_store_get_stats,
                                                    .rollback_job = pl_sq_rollback_job,
#define PL_SQ_SLOT(name, params, args) .name = pl_sq_##name,
                                                    PL_STORE_ALL_FNS(PL_SQ_SLOT)
#undef PL_SQ_SLOT
};
