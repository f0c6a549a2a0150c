/* SPDX-License-Identifier: MIT */
/* store_sqlite_data.c -- the pl_db_* data functions on SQLite: cached
 * statements, users, sessions, rooms, membership, messages. */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Indexed by pl_stmt_id_t. */
static const char *const sql_text[PL_ST__COUNT] = {
    [PL_ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [PL_ST_BEGIN] = "BEGIN",
    [PL_ST_COMMIT] = "COMMIT",
    [PL_ST_ROLLBACK] = "ROLLBACK",
    [PL_ST_JOB_SAVEPOINT] = "SAVEPOINT job",
    [PL_ST_JOB_RELEASE] = "RELEASE job",
    [PL_ST_JOB_ROLLBACK_TO] = "ROLLBACK TO job",
    [PL_ST_FN_SAVEPOINT] = "SAVEPOINT fn",
    [PL_ST_FN_RELEASE] = "RELEASE fn",
    [PL_ST_FN_ROLLBACK_TO] = "ROLLBACK TO fn",
    [PL_ST_USER_INSERT] = "INSERT INTO users(username, display_name, pwhash, created_ms) "
                          "VALUES (?1, ?2, ?3, ?4)",
    [PL_ST_USER_BY_NAME] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                           "WHERE username = ?1",
    [PL_ST_USER_BY_ID] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                         "WHERE id = ?1",
    [PL_ST_SESSION_INSERT] = "INSERT INTO sessions(user_id, token_hash, device_name, created_ms, "
                             "last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    [PL_ST_SESSION_GET] = "SELECT id, user_id, last_seen_ms FROM sessions WHERE token_hash = ?1",
    [PL_ST_SESSION_TOUCH] = "UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1",
    [PL_ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1 RETURNING id",
    [PL_ST_SESSION_COUNT] = "SELECT count(*) FROM sessions WHERE user_id = ?1",
    [PL_ST_ROOM_INSERT] =
        "INSERT INTO rooms(kind, name, dm_key, created_ms) VALUES (?1, ?2, ?3, ?4)",
    [PL_ST_ROOM_BY_DM_KEY] = "SELECT id FROM rooms WHERE dm_key = ?1",
    [PL_ST_ROOM_GET] = "SELECT id, kind, name, last_seq, created_ms, last_version, "
                       "disappearing_ms, avatar FROM rooms WHERE id = ?1",
    [PL_ST_MEMBER_INSERT] = "INSERT INTO members(room_id, user_id, joined_ms) VALUES (?1, ?2, ?3)",
    [PL_ST_MEMBER_INSERT_OR_IGNORE] = "INSERT OR IGNORE INTO members(room_id, user_id, joined_ms) "
                                      "VALUES (?1, ?2, ?3)",
    [PL_ST_MEMBER_DELETE] = "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
    [PL_ST_MEMBER_EXISTS] = "SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2",
    [PL_ST_ROOM_MEMBERS] = "SELECT user_id FROM members WHERE room_id = ?1 ORDER BY user_id",
    [PL_ST_ROOM_MEMBER_COUNT] = "SELECT count(*) FROM members WHERE room_id = ?1",
    /* Unread uses the (room_id, seq) index for the range and reads each row
     * only to skip the user's own messages. */
    [PL_ST_USER_ROOMS] = "SELECT r.id, r.kind, r.name, r.last_seq, r.created_ms, r.last_version, "
                         "r.disappearing_ms, r.avatar, m.read_seq, "
                         "(SELECT count(*) FROM messages g WHERE g.room_id = r.id "
                         "AND g.seq > m.read_seq AND g.sender <> m.user_id AND g.deleted = 0), "
                         /* user_id 0 is @room; a message mentioning both counts once */
                         "(SELECT count(DISTINCT x.seq) FROM mentions x WHERE x.room_id = r.id "
                         "AND x.user_id IN (0, m.user_id) AND x.seq > m.read_seq "
                         "AND x.sender <> m.user_id) "
                         "FROM members m JOIN rooms r ON r.id = m.room_id "
                         "WHERE m.user_id = ?1 ORDER BY r.id",
    /* Never backwards, never past the room's last_seq. */
    [PL_ST_MEMBER_SET_READ] = "UPDATE members SET read_seq = max(read_seq, min(?3, "
                              "(SELECT last_seq FROM rooms WHERE id = ?1))) "
                              "WHERE room_id = ?1 AND user_id = ?2",
    [PL_ST_EACH_ROOM] = "SELECT id, kind, name, last_seq, created_ms, last_version, "
                        "disappearing_ms, avatar FROM rooms ORDER BY id",
    [PL_ST_EACH_MEMBER] =
        "SELECT room_id, user_id, read_seq FROM members ORDER BY room_id, user_id",
    /* A mentioned name counts when it is a member of the room. */
    [PL_ST_MENTION_MEMBER] = "SELECT u.id FROM users u JOIN members m ON m.room_id = ?1 "
                             "AND m.user_id = u.id WHERE u.username = ?2",
    [PL_ST_MSG_BY_CLIENT_ID] = PL_STORE_MSG_SELECT "WHERE m.sender = ?1 AND m.client_id = ?2",
    /* No RETURNING on the hot path: SQLite buffers RETURNING rows in an
     * ephemeral table, which costs more than a separate indexed read. */
    [PL_ST_ROOM_LAST_SEQ] = "SELECT last_seq FROM rooms WHERE id = ?1",
    [PL_ST_MSG_INSERT] = "INSERT INTO messages(room_id, seq, sender, client_id, ts, content, "
                         "reply_to, thread_root, expires_ts, mentions, mention_room, media) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [PL_ST_ROOM_SET_LAST_SEQ] = "UPDATE rooms SET last_seq = ?2 WHERE id = ?1",
    [PL_ST_MSG_BEFORE] =
        PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3",
    [PL_ST_MSG_AFTER] =
        PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3",
};

/* ---- statement helpers ---- */

int pl_store__fail(pl_db_t *db, const char *op)
{
    pl_log(PL_LOG_ERROR, "store", "op=%s db=%s err=%s", op, db->name, sqlite3_errmsg(db->h));
    db->job_failed = true;
    return PL_EIO;
}

sqlite3_stmt *pl_store__stmt(pl_db_t *db, pl_stmt_id_t id)
{
    if (db->stmt[id] == NULL &&
        sqlite3_prepare_v3(db->h, sql_text[id] != NULL ? sql_text[id] : pl_store__conv_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->stmt[id],
                           NULL) != SQLITE_OK) {
        pl_store__fail(db, "prepare");
        db->stmt[id] = NULL;
    }
    return db->stmt[id];
}

void pl_store__stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

int pl_store__exec(pl_db_t *db, pl_stmt_id_t id, const char *op)
{
    sqlite3_stmt *s = pl_store__stmt(db, id);
    if (s == NULL)
        return PL_EIO;
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : pl_store__fail(db, op);
    pl_store__stmt_done(s);
    return rc;
}

/* Maps a failed step: unique/primary-key conflicts and foreign-key misses are
 * answers, not storage errors (SQLite already undid the statement). */
sqlite3_stmt *pl_store__prep(pl_db_t *db, const char *sql, const char *op)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        pl_store__fail(db, op);
        return NULL;
    }
    return s;
}

int pl_store__step_error(pl_db_t *db, const char *op)
{
    int ext = sqlite3_extended_errcode(db->h);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return PL_EEXIST;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return PL_ENOTFOUND;
    return pl_store__fail(db, op);
}

/* Runs a bound statement that returns no rows. */
static int step_done(pl_db_t *db, sqlite3_stmt *s, const char *op)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : pl_store__step_error(db, op);
    pl_store__stmt_done(s);
    return rc;
}

/* Multi-statement functions run inside their own nested savepoint, so a
 * failure half way (a foreign-key miss on the third member, an I/O error after
 * last_seq was bumped) never leaves a partial write, whether they run in a
 * job's savepoint or on the autocommit direct connection. */
static int fn_begin(pl_db_t *db)
{
    return pl_store__exec(db, PL_ST_FN_SAVEPOINT, "savepoint");
}

static int fn_end(pl_db_t *db, int rc)
{
    if (rc == 0) {
        rc = pl_store__exec(db, PL_ST_FN_RELEASE, "release");
        if (rc == 0)
            return 0;
    }
    /* If SQLite already rolled the whole transaction back (I/O error, disk
     * full) the savepoint is gone and there is nothing left to undo. */
    if (!sqlite3_get_autocommit(db->h)) {
        pl_store__exec(db, PL_ST_FN_ROLLBACK_TO, "rollback_to");
        pl_store__exec(db, PL_ST_FN_RELEASE, "release");
    }
    return rc;
}

static char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return pl_xstrdup(t != NULL ? (const char *)t : "");
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    /* SQLITE_STATIC: the statement is stepped and reset before we return. */
    sqlite3_bind_text(s, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

/* ---- owned-field disposal ---- */

void pl_user_dispose(pl_user_t *u)
{
    if (u == NULL)
        return;
    free(u->username);
    free(u->display_name);
    free(u->pwhash);
    u->username = u->display_name = u->pwhash = NULL;
}

void pl_message_dispose(pl_message_t *m)
{
    if (m == NULL)
        return;
    free(m->client_id);
    free(m->content);
    free(m->reply_preview);
    free(m->mentions);
    free(m->reactions);
    m->client_id = m->content = m->reply_preview = m->mentions = m->reactions = NULL;
}

void pl_room_dispose(pl_room_t *r)
{
    if (r == NULL)
        return;
    free(r->name);
    r->name = NULL;
}

void pl_messages_free(pl_message_t *m, size_t n)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pl_message_dispose(&m[i]);
    free(m);
}

void pl_db_rollback_job(pl_db_t *db)
{
    if (db->role == PL_DB_WRITER)
        db->job_rollback = true;
}

/* ---- users ---- */

int pl_db_user_create(pl_db_t *db, const char *username, const char *display_name,
                      const char *pwhash, int64_t now_ms, int64_t *user_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_USER_INSERT);
    if (s == NULL)
        return PL_EIO;
    bind_text(s, 1, username);
    bind_text(s, 2, display_name);
    bind_text(s, 3, pwhash);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = step_done(db, s, "user_create");
    if (rc == 0)
        *user_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static int user_get(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_user_t *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->username = col_str(s, 1);
        out->display_name = col_str(s, 2);
        out->pwhash = col_str(s, 3);
        out->created_ms = sqlite3_column_int64(s, 4);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, op);
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_db_user_by_name(pl_db_t *db, const char *username, pl_user_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_USER_BY_NAME);
    if (s == NULL)
        return PL_EIO;
    bind_text(s, 1, username);
    return user_get(db, s, "user_by_name", out);
}

int pl_db_user_by_id(pl_db_t *db, int64_t id, pl_user_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_USER_BY_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    return user_get(db, s, "user_by_id", out);
}

/* ---- sessions ---- */

int pl_db_session_create(pl_db_t *db, int64_t user_id, const unsigned char token_hash[32],
                         const char *device_name, int64_t now_ms, int64_t *device_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_SESSION_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_blob(s, 2, token_hash, 32, SQLITE_STATIC);
    bind_text(s, 3, device_name);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = step_done(db, s, "session_create");
    if (rc == 0)
        *device_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

int pl_db_session_lookup(pl_db_t *db, const unsigned char token_hash[32], int64_t now_ms,
                         int64_t *user_id, int64_t *device_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_SESSION_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_blob(s, 1, token_hash, 32, SQLITE_STATIC);
    int64_t did = 0, uid = 0, seen = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        did = sqlite3_column_int64(s, 0);
        uid = sqlite3_column_int64(s, 1);
        seen = sqlite3_column_int64(s, 2);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "session_lookup");
    }
    pl_store__stmt_done(s);
    if (rc != 0)
        return rc;
    /* A reader connection cannot write; last_seen is advisory, so lookups
     * there simply skip the touch instead of failing. */
    if (now_ms > seen && !sqlite3_db_readonly(db->h, "main")) {
        if ((s = pl_store__stmt(db, PL_ST_SESSION_TOUCH)) == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, did);
        sqlite3_bind_int64(s, 2, now_ms);
        if ((rc = step_done(db, s, "session_touch")) != 0)
            return rc;
    }
    *user_id = uid;
    *device_id = did;
    return 0;
}

int pl_db_session_delete(pl_db_t *db, const unsigned char token_hash[32], int64_t *device_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_SESSION_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_blob(s, 1, token_hash, 32, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t did = 0;
    if (rc == SQLITE_ROW) {
        did = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "session_delete");
    }
    pl_store__stmt_done(s);
    if (rc == 0)
        *device_id = did;
    return rc;
}

int pl_db_session_count(pl_db_t *db, int64_t user_id, int64_t *count)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_SESSION_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, "session_count");
    if (rc == 0)
        *count = sqlite3_column_int64(s, 0);
    pl_store__stmt_done(s);
    return rc;
}

/* ---- rooms and membership ---- */

static int room_insert(pl_db_t *db, pl_room_kind_t kind, const char *name, const char *dm_key,
                       int64_t now_ms, int64_t *room_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int(s, 1, (int)kind);
    bind_text(s, 2, name);
    if (dm_key != NULL)
        bind_text(s, 3, dm_key);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = step_done(db, s, "room_insert");
    if (rc == 0)
        *room_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static int member_insert(pl_db_t *db, pl_stmt_id_t id, int64_t room_id, int64_t user_id,
                         int64_t now_ms)
{
    sqlite3_stmt *s = pl_store__stmt(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    return step_done(db, s, "member_add");
}

int pl_db_room_create_group(pl_db_t *db, const char *name, int64_t creator, const int64_t *members,
                            size_t n, int64_t now_ms, int64_t *room_id)
{
    int rc = fn_begin(db);
    if (rc != 0)
        return rc;
    int64_t rid = 0;
    rc = room_insert(db, PL_ROOM_GROUP, name, NULL, now_ms, &rid);
    if (rc == 0)
        rc = member_insert(db, PL_ST_MEMBER_INSERT, rid, creator, now_ms);
    /* OR IGNORE: a repeated id or the creator in the list is harmless. Unknown
     * users still fail (foreign keys are not subject to OR IGNORE). */
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = member_insert(db, PL_ST_MEMBER_INSERT_OR_IGNORE, rid, members[i], now_ms);
    rc = fn_end(db, rc);
    if (rc == 0)
        *room_id = rid;
    return rc;
}

int pl_db_room_get_or_create_dm(pl_db_t *db, int64_t a, int64_t b, int64_t now_ms, int64_t *room_id,
                                bool *created)
{
    /* One key per unordered pair, so (a,b) and (b,a) meet in the same row and
     * the UNIQUE constraint makes a second creation impossible. */
    char key[48];
    snprintf(key, sizeof key, "%" PRId64 ":%" PRId64, PL_MIN(a, b), PL_MAX(a, b));
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_BY_DM_KEY);
    if (s == NULL)
        return PL_EIO;
    bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    int64_t rid = 0;
    if (rc == SQLITE_ROW) {
        rid = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "dm_lookup");
    }
    pl_store__stmt_done(s);
    if (rc == 0) {
        *room_id = rid;
        *created = false;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;

    if ((rc = fn_begin(db)) != 0)
        return rc;
    rc = room_insert(db, PL_ROOM_DM, "", key, now_ms, &rid);
    if (rc == 0)
        rc = member_insert(db, PL_ST_MEMBER_INSERT_OR_IGNORE, rid, a, now_ms);
    if (rc == 0)
        rc = member_insert(db, PL_ST_MEMBER_INSERT_OR_IGNORE, rid, b, now_ms);
    if ((rc = fn_end(db, rc)) != 0)
        return rc;
    *room_id = rid;
    *created = true;
    return 0;
}

static void room_from_row(sqlite3_stmt *s, pl_room_t *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->kind = (pl_room_kind_t)sqlite3_column_int(s, 1);
    r->name = col_str(s, 2);
    r->last_seq = sqlite3_column_int64(s, 3);
    r->created_ms = sqlite3_column_int64(s, 4);
    r->last_version = sqlite3_column_int64(s, 5);
    r->disappearing_ms = sqlite3_column_int64(s, 6);
    r->avatar = sqlite3_column_int64(s, 7);
}

int pl_db_room_get(pl_db_t *db, int64_t room_id, pl_room_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        room_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "room_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_db_member_add(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    return member_insert(db, PL_ST_MEMBER_INSERT, room_id, user_id, now_ms);
}

int pl_db_member_remove(pl_db_t *db, int64_t room_id, int64_t user_id)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MEMBER_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = step_done(db, s, "member_remove");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_db_room_is_member(pl_db_t *db, int64_t room_id, int64_t user_id, bool *is_member)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MEMBER_EXISTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = sqlite3_step(s);
    bool found = rc == SQLITE_ROW;
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : pl_store__fail(db, "is_member");
    pl_store__stmt_done(s);
    if (rc == 0)
        *is_member = found;
    return rc;
}

int pl_db_room_member_count(pl_db_t *db, int64_t room_id, int64_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_MEMBER_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = pl_store__fail(db, "room_member_count");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_db_room_members(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_MEMBERS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int64_t *ids = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            ids = pl_xrealloc(ids, cap * sizeof *ids);
        }
        ids[len++] = sqlite3_column_int64(s, 0);
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "room_members");
    pl_store__stmt_done(s);
    if (rc == 0 && len == 0) {
        /* Tell an empty room from a missing one. */
        pl_room_t r;
        if ((rc = pl_db_room_get(db, room_id, &r)) == 0)
            pl_room_dispose(&r);
    }
    if (rc != 0) {
        free(ids);
        return rc;
    }
    *out = ids;
    *n = len;
    return 0;
}

int pl_db_user_rooms(pl_db_t *db, int64_t user_id, pl_room_summary_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_USER_ROOMS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_room_summary_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = pl_xrealloc(v, cap * sizeof *v);
        }
        room_from_row(s, &v[len].room);
        v[len].read_seq = sqlite3_column_int64(s, 8);
        v[len].unread = sqlite3_column_int64(s, 9);
        v[len].mentions = sqlite3_column_int64(s, 10);
        len++;
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "user_rooms");
    pl_store__stmt_done(s);
    if (rc != 0) {
        for (size_t i = 0; i < len; i++)
            pl_room_dispose(&v[i].room);
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_db_member_set_read(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t seq)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MEMBER_SET_READ);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, seq);
    int rc = step_done(db, s, "member_set_read");
    /* changes() counts matched rows even when the value stays the same. */
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_db_each_room(pl_db_t *db, int (*cb)(void *arg, const pl_room_t *r), void *arg)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_EACH_ROOM);
    if (s == NULL)
        return PL_EIO;
    int rc = SQLITE_DONE, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        pl_room_t r;
        room_from_row(s, &r);
        stop = cb(arg, &r);
        pl_room_dispose(&r);
    }
    rc = stop != 0 ? stop : rc == SQLITE_DONE ? 0 : pl_store__fail(db, "each_room");
    pl_store__stmt_done(s);
    return rc;
}

int pl_db_each_member(pl_db_t *db, int (*cb)(void *arg, const pl_member_t *m), void *arg)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_EACH_MEMBER);
    if (s == NULL)
        return PL_EIO;
    int rc = SQLITE_DONE, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        pl_member_t m = {
            .room_id = sqlite3_column_int64(s, 0),
            .user_id = sqlite3_column_int64(s, 1),
            .read_seq = sqlite3_column_int64(s, 2),
        };
        stop = cb(arg, &m);
    }
    rc = stop != 0 ? stop : rc == SQLITE_DONE ? 0 : pl_store__fail(db, "each_member");
    pl_store__stmt_done(s);
    return rc;
}

/* ---- messages ---- */

static char *col_str_or_null(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t != NULL ? pl_xstrdup((const char *)t) : NULL;
}

void pl_store__message_from_row(sqlite3_stmt *s, pl_message_t *m)
{
    m->id = sqlite3_column_int64(s, 0);
    m->room_id = sqlite3_column_int64(s, 1);
    m->seq = sqlite3_column_int64(s, 2);
    m->sender = sqlite3_column_int64(s, 3);
    m->ts = sqlite3_column_int64(s, 4);
    m->client_id = col_str(s, 5);
    m->content = col_str(s, 6);
    m->version = sqlite3_column_int64(s, 7);
    m->edited_ts = sqlite3_column_int64(s, 8);
    m->deleted = sqlite3_column_int(s, 9) != 0;
    m->reply_to = sqlite3_column_int64(s, 10);
    m->thread_root = sqlite3_column_int64(s, 11);
    m->thread_count = sqlite3_column_int64(s, 12);
    m->thread_last_ts = sqlite3_column_int64(s, 13);
    m->expires_ts = sqlite3_column_int64(s, 14);
    m->mentions = col_str_or_null(s, 15);
    m->mention_room = sqlite3_column_int(s, 16) != 0;
    m->reply_sender = sqlite3_column_int64(s, 17);
    m->reply_preview = m->reply_to > 0 ? col_str(s, 18) : NULL;
    m->reactions = col_str_or_null(s, 19);
}

#define message_from_row pl_store__message_from_row

/* Reads the room's last_seq, inserts the row with the next seq, then stores
 * it as last_seq. An unknown room or sender fails before anything is written;
 * only a storage error can stop between the insert and the update, and that
 * rolls the job back (or the direct connection's fn savepoint), so seq stays
 * gap-free. The writer is the only writer, so nothing races the read. */
static int message_insert(pl_db_t *db, const pl_message_new_t *in, pl_message_t *m)
{
    int64_t room_id = in->room_id, sender = in->sender, now_ms = in->now_ms;
    const char *client_id = in->client_id, *content = in->content;
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_LAST_SEQ);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    int64_t seq = 0;
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(s, 0) + 1;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "room_last_seq");
    }
    pl_store__stmt_done(s);
    if (rc != 0)
        return rc;

    if ((s = pl_store__stmt(db, PL_ST_MSG_INSERT)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, sender);
    bind_text(s, 4, client_id);
    sqlite3_bind_int64(s, 5, now_ms);
    bind_text(s, 6, content);
    sqlite3_bind_int64(s, 7, in->reply_to);
    sqlite3_bind_int64(s, 8, in->thread_root);
    sqlite3_bind_int64(s, 9, in->expires_ts);
    char *mentions = pl_store__mentions_json(in->mentions, in->nmentions);
    if (mentions != NULL)
        bind_text(s, 10, mentions);
    else
        sqlite3_bind_null(s, 10);
    sqlite3_bind_int(s, 11, in->mention_room ? 1 : 0);
    sqlite3_bind_int64(s, 12, in->media);
    rc = step_done(db, s, "message_insert");
    if (rc != 0) {
        free(mentions);
        return rc;
    }
    m->id = sqlite3_last_insert_rowid(db->h);
    m->mentions = mentions;
    if ((rc = pl_store__index_message(db, m->id, content)) != 0)
        return rc;
    if ((rc = pl_store__mentions_insert(db, room_id, seq, sender, in->mentions, in->nmentions,
                                        in->mention_room)) != 0)
        return rc;

    if ((s = pl_store__stmt(db, PL_ST_ROOM_SET_LAST_SEQ)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    if ((rc = step_done(db, s, "room_set_last_seq")) != 0)
        return rc == PL_EIO ? rc : pl_store__fail(db, "room_set_last_seq");
    m->room_id = room_id;
    m->seq = seq;
    m->sender = sender;
    m->ts = now_ms;
    m->reply_to = in->reply_to;
    m->thread_root = in->thread_root;
    m->expires_ts = in->expires_ts;
    m->mention_room = in->mention_room;
    return 0;
}

int pl_db_message_append(pl_db_t *db, int64_t room_id, int64_t sender, const char *client_id,
                         const char *content, int64_t now_ms, pl_message_t *out, bool *duplicate)
{
    pl_message_new_t in = {.room_id = room_id,
                           .sender = sender,
                           .client_id = client_id,
                           .content = content,
                           .now_ms = now_ms};
    return pl_db_message_post(db, &in, out, duplicate, NULL);
}

/* Reads the message a sender stored under client_id: 0 (found, *out set),
 * PL_ENOTFOUND or PL_EIO. */
static int message_by_client_id(pl_db_t *db, int64_t sender, const char *client_id,
                                pl_message_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_BY_CLIENT_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, sender);
    bind_text(s, 2, client_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        message_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "message_by_client_id");
    }
    pl_store__stmt_done(s);
    return rc;
}

/* Stores a new message (no dedupe lookup: the caller did it). */
static int message_post_new(pl_db_t *db, const pl_message_new_t *in, pl_message_t *out,
                            pl_message_t *root)
{
    /* Inside a job the job's savepoint already covers a storage error between
     * the statements (row, search index, mentions, last_seq, thread root); the
     * savepoint is only needed in autocommit mode (direct connection), where
     * each statement would commit alone. Skipping it keeps the hot path short. */
    bool own_tx = sqlite3_get_autocommit(db->h);
    int rc;
    if (own_tx && (rc = fn_begin(db)) != 0)
        return rc;
    pl_message_t m = {0};
    rc = message_insert(db, in, &m);
    pl_message_t r = {0};
    if (rc == 0 && in->thread_root > 0)
        rc = pl_store__thread_bump(db, in->room_id, in->thread_root, in->now_ms, &r);
    if (own_tx)
        rc = fn_end(db, rc);
    if (rc != 0) {
        pl_message_dispose(&m);
        pl_message_dispose(&r);
        return rc;
    }
    if (root != NULL)
        *root = r;
    else
        pl_message_dispose(&r);
    m.client_id = pl_xstrdup(in->client_id);
    m.content = pl_xstrdup(in->content);
    if (in->reply_to > 0) {
        /* The quote (sender, preview) comes from the original's row. */
        pl_message_t full = {0};
        if ((rc = pl_db_message_get(db, in->room_id, m.seq, &full)) != 0) {
            pl_message_dispose(&m);
            if (root != NULL)
                pl_message_dispose(root);
            return rc;
        }
        pl_message_dispose(&m);
        m = full;
    }
    *out = m;
    return 0;
}

int pl_db_message_post(pl_db_t *db, const pl_message_new_t *in, pl_message_t *out, bool *duplicate,
                       pl_message_t *root)
{
    /* Idempotency first: a retried client_id gets the original back. */
    pl_message_t m = {0};
    int rc = message_by_client_id(db, in->sender, in->client_id, &m);
    if (rc == 0) {
        *out = m;
        *duplicate = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    if ((rc = message_post_new(db, in, out, root)) == 0)
        *duplicate = false;
    return rc;
}

/* ---- posting: the domain operation ---- */

/* Checks that reply_to and thread_root name live messages of the room and
 * that a thread root is not itself a thread reply. */
static int post_check_refs(pl_db_t *db, pl_post_t *p)
{
    int64_t refs[2] = {p->reply_to, p->thread_root};
    for (int i = 0; i < 2; i++) {
        if (refs[i] <= 0)
            continue;
        pl_message_t t = {0};
        int rc = pl_db_message_get(db, p->room_id, refs[i], &t);
        bool dead = rc == 0 && t.deleted, nested = rc == 0 && i == 1 && t.thread_root > 0;
        pl_message_dispose(&t);
        if (rc == PL_ENOTFOUND || dead)
            p->refused = i ? PL_REFUSAL_NO_THREAD : PL_REFUSAL_NO_REPLY;
        else if (rc < 0)
            return rc;
        else if (nested)
            p->refused = PL_REFUSAL_NESTED_THREAD;
        if (p->refused != PL_REFUSAL_NONE)
            return 0;
    }
    return 0;
}

/* The sender must be able to see the media (their upload, or shared in one
 * of their rooms); otherwise it does not exist for them. A sticker must be
 * an image with a thumbnail. */
static int post_check_media(pl_db_t *db, pl_post_t *p, int64_t now_ms)
{
    if (p->media <= 0)
        return 0;
    bool visible = false;
    int rc = pl_db_media_visible(db, p->media, p->sender, now_ms, &visible);
    if (rc == PL_ENOTFOUND || (rc == 0 && !visible)) {
        p->refused = PL_REFUSAL_NO_MEDIA;
        return 0;
    }
    if (rc < 0 || !p->sticker)
        return rc;
    pl_media_rec_t mr = {0};
    if ((rc = pl_db_media_get(db, p->media, &mr)) < 0)
        return rc;
    bool image = mr.mime != NULL && !strncmp(mr.mime, "image/", 6) && mr.thumb_w > 0;
    pl_media_rec_dispose(&mr);
    if (!image)
        p->refused = PL_REFUSAL_NOT_STICKER;
    return 0;
}

/* The ids of the mentioned names that are members of the room: one
 * indexed lookup per name. Mentions of non-members (or of nobody) do
 * nothing. *ids is malloc'd (free()). */
static int post_mentions(pl_db_t *db, const pl_post_t *p, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (p->nmention_names == 0)
        return 0;
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MENTION_MEMBER);
    if (s == NULL)
        return PL_EIO;
    *ids = pl_xcalloc(p->nmention_names, sizeof **ids);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->nmention_names; i++) {
        sqlite3_bind_int64(s, 1, p->room_id);
        bind_text(s, 2, p->mention_names[i]);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW)
            (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
        else if (step != SQLITE_DONE)
            rc = pl_store__fail(db, "mention_member");
        pl_store__stmt_done(s);
    }
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int pl_db_message_send(pl_db_t *db, pl_post_t *p)
{
    p->refused = PL_REFUSAL_NONE;
    p->duplicate = false;
    int rc = message_by_client_id(db, p->sender, p->client_id, &p->message);
    if (rc == 0) { /* a retry: the original, whatever happened since */
        p->duplicate = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    int64_t now = pl_now_ms();
    if ((rc = post_check_refs(db, p)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    if ((rc = post_check_media(db, p, now)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    int64_t *ids = NULL;
    size_t nids = 0;
    if ((rc = post_mentions(db, p, &ids, &nids)) != 0)
        return rc;
    pl_message_new_t in = {
        .room_id = p->room_id,
        .sender = p->sender,
        .client_id = p->client_id,
        .content = p->content,
        .now_ms = now,
        .reply_to = p->reply_to,
        .thread_root = p->thread_root,
        .expires_ts = p->expires_in > 0 ? now + p->expires_in : 0,
        .mentions = ids,
        .nmentions = nids,
        .mention_room = p->mention_room,
        .media = p->media, /* grants the room access and keeps the media alive */
    };
    rc = message_post_new(db, &in, &p->message, &p->root);
    free(ids);
    if (rc == PL_ENOTFOUND) { /* a foreign key: the room or the sender is gone */
        p->refused = PL_REFUSAL_NOT_FOUND;
        rc = 0;
    }
    return rc;
}

static void post_work(pl_db_t *db, void *arg)
{
    if (pl_db_message_send(db, arg) < 0)
        pl_db_rollback_job(db);
}

static void post_done(int status, void *arg)
{
    pl_post_t *p = arg;
    p->_done(status, p->_arg);
}

void pl_store_message_post(pl_store_t *st, pl_post_t *p, pl_store_done_cb done, void *arg)
{
    p->_done = done;
    p->_arg = arg;
    pl_store_write(st, post_work, post_done, p);
}

void pl_post_dispose(pl_post_t *p)
{
    if (p == NULL)
        return;
    pl_message_dispose(&p->message);
    pl_message_dispose(&p->root);
}

int pl_store__collect_messages(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_message_t **out,
                            size_t *n)
{
    pl_message_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            v = pl_xrealloc(v, cap * sizeof *v);
        }
        message_from_row(s, &v[len++]);
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, op);
    pl_store__stmt_done(s);
    if (rc != 0) {
        pl_messages_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_db_messages_before(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_BEFORE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, before <= 0 ? INT64_MAX : before);
    sqlite3_bind_int64(s, 3, limit < 0 ? 0 : limit);
    pl_message_t *v;
    size_t len;
    int rc = pl_store__collect_messages(db, s, "messages_before", &v, &len);
    if (rc != 0)
        return rc;
    /* The query walks newest first so LIMIT keeps the newest; callers want
     * them oldest first. */
    for (size_t i = 0; i < len / 2; i++) {
        pl_message_t t = v[i];
        v[i] = v[len - 1 - i];
        v[len - 1 - i] = t;
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_db_messages_after(pl_db_t *db, int64_t room_id, int64_t after, int64_t limit,
                         pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_AFTER);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, limit < 0 ? 0 : limit);
    return pl_store__collect_messages(db, s, "messages_after", out, n);
}

/* ---- helpers shared with store_sqlite_conv.c ---- */

int pl_store__step_done(pl_db_t *db, sqlite3_stmt *s, const char *op)
{
    return step_done(db, s, op);
}

int pl_store__fn_begin(pl_db_t *db)
{
    return fn_begin(db);
}

int pl_store__fn_end(pl_db_t *db, int rc)
{
    return fn_end(db, rc);
}

void pl_store__bind_text(sqlite3_stmt *s, int i, const char *v)
{
    bind_text(s, i, v);
}

char *pl_store__col_str(sqlite3_stmt *s, int i)
{
    return col_str(s, i);
}
