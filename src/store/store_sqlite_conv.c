/* SPDX-License-Identifier: MIT */
/* store_sqlite_conv.c -- the conversation-feature data functions on SQLite
 * (schema 2): versioned message mutations, reactions, mentions, threads,
 * receipts, profiles and settings, disappearing messages, FTS5 search. */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#include <jansson.h>

#define DELETED_CONTENT "{\"type\":\"deleted\"}"

/* Indexed by pl_stmt_id_t; the statements of store_sqlite_data.c are NULL
 * here. */
const char *const pl_store__conv_sql[PL_ST__COUNT] = {
    [PL_ST_MSG_GET] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq = ?2",
    [PL_ST_MENTION_INSERT] = "INSERT OR IGNORE INTO mentions(room_id, seq, user_id, sender) "
                             "VALUES (?1, ?2, ?3, ?4)",
    [PL_ST_MENTION_DELETE] = "DELETE FROM mentions WHERE room_id = ?1 AND seq = ?2",
    [PL_ST_ROOM_BUMP_VERSION] = "UPDATE rooms SET last_version = last_version + 1 WHERE id = ?1 "
                                "RETURNING last_version",
    [PL_ST_MSG_SET_EDIT] = "UPDATE messages SET content = ?3, edited_ts = ?4, version = ?5, "
                           "mentions = ?6, mention_room = ?7 WHERE room_id = ?1 AND seq = ?2",
    [PL_ST_MSG_SET_DELETED] = "UPDATE messages SET content = '" DELETED_CONTENT "', deleted = 1, "
                              "version = ?3, mentions = NULL, mention_room = 0, expires_ts = 0 "
                              "WHERE room_id = ?1 AND seq = ?2",
    [PL_ST_MSG_THREAD_BUMP] = "UPDATE messages SET thread_count = thread_count + 1, "
                              "thread_last_ts = ?3, version = ?4 WHERE room_id = ?1 AND seq = ?2",
    [PL_ST_MSG_SET_VERSION] = "UPDATE messages SET version = ?3 WHERE room_id = ?1 AND seq = ?2",
    [PL_ST_REACTION_INSERT] = "INSERT OR IGNORE INTO reactions(message_id, emoji, user_id, ts) "
                              "VALUES (?1, ?2, ?3, ?4)",
    [PL_ST_REACTION_DELETE] = "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 "
                              "AND user_id = ?3",
    [PL_ST_REACTION_CLEAR] = "DELETE FROM reactions WHERE message_id = ?1",
    [PL_ST_REACTION_COUNT_USER] = "SELECT count(*) FROM reactions WHERE message_id = ?1 "
                                  "AND user_id = ?2",
    [PL_ST_MSG_UPDATED] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.version > ?3 "
                                              "AND m.seq <= ?2 ORDER BY m.version LIMIT ?4",
    [PL_ST_MSG_THREAD] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.thread_root = ?2 "
                                             "AND m.seq < ?3 ORDER BY m.seq DESC LIMIT ?4",
    [PL_ST_MSG_EXPIRED] = "SELECT room_id, seq FROM messages WHERE expires_ts > 0 AND "
                          "expires_ts <= ?1 AND deleted = 0 ORDER BY expires_ts LIMIT ?2",
    /* The membership join keeps results to rooms the user may read. */
    [PL_ST_SEARCH] = PL_STORE_MSG_SELECT
    "JOIN s.messages_fts f ON f.rowid = m.id "
    "JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?1 "
    "WHERE f.messages_fts MATCH ?2 AND m.deleted = 0 AND (?3 = 0 OR m.room_id = ?3) "
    "AND (?4 = 0 OR m.id < ?4) AND (m.expires_ts = 0 OR m.expires_ts > ?5) "
    "ORDER BY m.id DESC LIMIT ?6",
    [PL_ST_ROOM_SET_DISAPPEARING] = "UPDATE rooms SET disappearing_ms = ?2 WHERE id = ?1",
    [PL_ST_ROOM_SET_META] = "UPDATE rooms SET name = coalesce(?2, name), "
                            "avatar = CASE WHEN ?3 < 0 THEN avatar ELSE ?3 END WHERE id = ?1",
    [PL_ST_MEMBER_GET_RECEIPT] =
        "SELECT m.read_seq, m.read_ts, m.delivered_seq, m.delivered_ts, r.last_seq, "
        "coalesce(json_extract(u.settings, '$.read_receipts'), 1) FROM members m "
        "JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = ?1 AND m.user_id = ?2",
    [PL_ST_MEMBER_SET_RECEIPT] = "UPDATE members SET read_seq = ?3, read_ts = ?4, "
                                 "delivered_seq = ?5, delivered_ts = ?6 "
                                 "WHERE room_id = ?1 AND user_id = ?2",
    [PL_ST_ROOM_RECEIPTS] =
        "SELECT m.user_id, m.read_seq, m.read_ts, m.delivered_seq, "
        "m.delivered_ts, coalesce(json_extract(u.settings, "
        "'$.read_receipts'), 1) FROM members m JOIN users u ON u.id = "
        "m.user_id WHERE m.room_id = ?1 AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3",
    [PL_ST_PROFILE_BY_ID] = "SELECT id, username, display_name, bio, status_text, settings, "
                            "last_seen_ms FROM users WHERE id = ?1",
    [PL_ST_PROFILE_BY_NAME] = "SELECT id, username, display_name, bio, status_text, settings, "
                              "last_seen_ms FROM users WHERE username = ?1",
    [PL_ST_PROFILE_SET] = "UPDATE users SET display_name = coalesce(?2, display_name), "
                          "bio = coalesce(?3, bio), status_text = coalesce(?4, status_text) "
                          "WHERE id = ?1",
    [PL_ST_SETTINGS_SET] = "UPDATE users SET settings = ?2 WHERE id = ?1",
    [PL_ST_USER_SET_LAST_SEEN] = "UPDATE users SET last_seen_ms = ?2 WHERE id = ?1",
    [PL_ST_CONTACTS] = "SELECT DISTINCT u.id, u.last_seen_ms, "
                       "coalesce(json_extract(u.settings, '$.show_presence'), 1) "
                       "FROM members a JOIN members b ON b.room_id = a.room_id "
                       "JOIN users u ON u.id = b.user_id "
                       "WHERE a.user_id = ?1 AND b.user_id <> ?1 ORDER BY u.id LIMIT ?2",
};

/* ---- helpers ---- */

char *pl_store__mentions_json(const int64_t *users, size_t n)
{
    if (n == 0)
        return NULL;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "[");
    for (size_t i = 0; i < n; i++)
        pl_buf_printf(&b, "%s\"u%" PRId64 "\"", i ? "," : "", users[i]);
    pl_buf_lit(&b, "]");
    char *out = pl_xmalloc(b.len + 1);
    memcpy(out, pl_buf_head(&b), b.len);
    out[b.len] = '\0';
    pl_buf_dispose(&b);
    return out;
}

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

static int reindex_message(pl_db_t *db, int64_t id, const char *content)
{
    return fts_queue(db, id, content, false);
}

static int unindex_message(pl_db_t *db, int64_t id)
{
    return fts_queue(db, id, NULL, false);
}

static int mentions_delete(pl_db_t *db, int64_t room_id, int64_t seq)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MENTION_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    return pl_store__step_done(db, s, "mention_delete");
}

static int mention_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t user,
                          int64_t sender)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MENTION_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, user);
    sqlite3_bind_int64(s, 4, sender);
    return pl_store__step_done(db, s, "mention_insert");
}

int pl_store__mentions_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                              const int64_t *users, size_t n, bool mention_room)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = mention_insert(db, room_id, seq, users[i], sender);
    if (rc == 0 && mention_room)
        rc = mention_insert(db, room_id, seq, 0, sender);
    return rc;
}

/* Increments the room's last_version and returns the new value. */
static int bump_version(pl_db_t *db, int64_t room_id, int64_t *version)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_BUMP_VERSION);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    int64_t v = 0;
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "bump_version");
    }
    pl_store__stmt_done(s);
    if (rc == 0)
        *version = v;
    return rc;
}

/* Runs a statement that must change exactly the message (room ?1, seq ?2)
 * with the given extra int64 parameters. */
static int msg_update(pl_db_t *db, pl_stmt_id_t id, const char *op, int64_t room_id, int64_t seq,
                      int nextra, const int64_t *extra)
{
    sqlite3_stmt *s = pl_store__stmt(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    for (int i = 0; i < nextra; i++)
        sqlite3_bind_int64(s, 3 + i, extra[i]);
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

/* Runs fn inside a nested savepoint (see fn_begin in store_sqlite_data.c):
 * a mutation is several statements and must never be half applied. */
#define WITH_FN(db, rc, ...)                                                                      \
    do {                                                                                          \
        if (((rc) = pl_store__fn_begin(db)) != 0)                                                 \
            break;                                                                                \
        __VA_ARGS__;                                                                              \
        (rc) = pl_store__fn_end((db), (rc));                                                      \
    } while (0)

/* ---- messages ---- */

int pl_db_message_get(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pl_store__message_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "message_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_db_message_by_client_id(pl_db_t *db, int64_t sender, const char *client_id,
                               pl_message_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_BY_CLIENT_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, sender);
    pl_store__bind_text(s, 2, client_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pl_store__message_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "message_by_client_id");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_store__thread_bump(pl_db_t *db, int64_t room_id, int64_t root, int64_t ts,
                          pl_message_t *out)
{
    int64_t v[2] = {ts, 0};
    int rc = bump_version(db, room_id, &v[1]);
    if (rc == 0)
        rc = msg_update(db, PL_ST_MSG_THREAD_BUMP, "thread_bump", room_id, root, 2, v);
    if (rc == 0)
        rc = pl_db_message_get(db, room_id, root, out);
    return rc;
}

int pl_db_message_edit(pl_db_t *db, int64_t room_id, int64_t seq, const char *content,
                       const int64_t *mentions, size_t nmentions, bool mention_room,
                       int64_t now_ms, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    char *mjson = pl_store__mentions_json(mentions, nmentions);
    WITH_FN(db, rc, {
        int64_t version = 0;
        rc = bump_version(db, room_id, &version);
        sqlite3_stmt *s = rc == 0 ? pl_store__stmt(db, PL_ST_MSG_SET_EDIT) : NULL;
        if (rc == 0 && s == NULL)
            rc = PL_EIO;
        if (rc == 0) {
            sqlite3_bind_int64(s, 1, room_id);
            sqlite3_bind_int64(s, 2, seq);
            pl_store__bind_text(s, 3, content);
            sqlite3_bind_int64(s, 4, now_ms);
            sqlite3_bind_int64(s, 5, version);
            if (mjson != NULL)
                pl_store__bind_text(s, 6, mjson);
            else
                sqlite3_bind_null(s, 6);
            sqlite3_bind_int(s, 7, mention_room ? 1 : 0);
            rc = pl_store__step_done(db, s, "message_edit");
        }
        if (rc == 0)
            rc = reindex_message(db, cur.id, content);
        if (rc == 0)
            rc = mentions_delete(db, room_id, seq);
        if (rc == 0)
            rc = pl_store__mentions_insert(db, room_id, seq, cur.sender, mentions, nmentions,
                                           mention_room);
    });
    free(mjson);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_db_message_get(db, room_id, seq, out);
    return rc;
}

/* Tombstones a live message (id known). */
static int tombstone(pl_db_t *db, int64_t room_id, int64_t seq, int64_t id)
{
    int rc;
    WITH_FN(db, rc, {
        int64_t version = 0;
        rc = bump_version(db, room_id, &version);
        if (rc == 0)
            rc = msg_update(db, PL_ST_MSG_SET_DELETED, "message_delete", room_id, seq, 1,
                            &version);
        if (rc == 0)
            rc = unindex_message(db, id);
        if (rc == 0)
            rc = mentions_delete(db, room_id, seq);
        if (rc == 0) {
            sqlite3_stmt *s = pl_store__stmt(db, PL_ST_REACTION_CLEAR);
            if (s == NULL) {
                rc = PL_EIO;
            } else {
                sqlite3_bind_int64(s, 1, id);
                rc = pl_store__step_done(db, s, "reaction_clear");
            }
        }
    });
    return rc;
}

int pl_db_message_delete(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    if (cur.deleted) {
        *out = cur;
        return 0;
    }
    rc = tombstone(db, room_id, seq, cur.id);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_db_message_get(db, room_id, seq, out);
    return rc;
}

int pl_db_reaction_set(pl_db_t *db, int64_t room_id, int64_t seq, int64_t user_id,
                       const char *emoji, bool add, int64_t max_per_user, int64_t now_ms,
                       bool *changed, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    int64_t id = cur.id;
    pl_message_dispose(&cur);
    if (add) {
        sqlite3_stmt *s = pl_store__stmt(db, PL_ST_REACTION_COUNT_USER);
        if (s == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, user_id);
        int64_t have = 0;
        rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, "reaction_count");
        if (rc == 0)
            have = sqlite3_column_int64(s, 0);
        pl_store__stmt_done(s);
        if (rc != 0)
            return rc;
        /* At the cap, only re-adding an existing reaction (a no-op) passes. */
        WITH_FN(db, rc, {
            s = pl_store__stmt(db, PL_ST_REACTION_INSERT);
            rc = s == NULL ? PL_EIO : 0;
            if (rc == 0) {
                sqlite3_bind_int64(s, 1, id);
                pl_store__bind_text(s, 2, emoji);
                sqlite3_bind_int64(s, 3, user_id);
                sqlite3_bind_int64(s, 4, now_ms);
                rc = pl_store__step_done(db, s, "reaction_insert");
            }
            bool did = rc == 0 && sqlite3_changes(db->h) > 0;
            if (did && have >= max_per_user)
                rc = PL_ETOOBIG; /* rolled back by fn_end */
            int64_t version = 0;
            if (rc == 0 && did && (rc = bump_version(db, room_id, &version)) == 0)
                rc = msg_update(db, PL_ST_MSG_SET_VERSION, "reaction_version", room_id, seq, 1,
                                &version);
            *changed = did;
        });
    } else {
        WITH_FN(db, rc, {
            sqlite3_stmt *s = pl_store__stmt(db, PL_ST_REACTION_DELETE);
            rc = s == NULL ? PL_EIO : 0;
            if (rc == 0) {
                sqlite3_bind_int64(s, 1, id);
                pl_store__bind_text(s, 2, emoji);
                sqlite3_bind_int64(s, 3, user_id);
                rc = pl_store__step_done(db, s, "reaction_delete");
            }
            bool did = rc == 0 && sqlite3_changes(db->h) > 0;
            int64_t version = 0;
            if (rc == 0 && did && (rc = bump_version(db, room_id, &version)) == 0)
                rc = msg_update(db, PL_ST_MSG_SET_VERSION, "reaction_version", room_id, seq, 1,
                                &version);
            *changed = did;
        });
    }
    if (rc == 0)
        rc = pl_db_message_get(db, room_id, seq, out);
    return rc;
}

int pl_db_messages_updated(pl_db_t *db, int64_t room_id, int64_t max_seq, int64_t after_version,
                           int64_t limit, pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_UPDATED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, max_seq);
    sqlite3_bind_int64(s, 3, after_version);
    sqlite3_bind_int64(s, 4, limit < 0 ? 0 : limit);
    return pl_store__collect_messages(db, s, "messages_updated", out, n);
}

int pl_db_thread_messages(pl_db_t *db, int64_t room_id, int64_t root, int64_t before,
                          int64_t limit, pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_THREAD);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, root);
    sqlite3_bind_int64(s, 3, before <= 0 ? INT64_MAX : before);
    sqlite3_bind_int64(s, 4, limit < 0 ? 0 : limit);
    pl_message_t *v;
    size_t len;
    int rc = pl_store__collect_messages(db, s, "thread_messages", &v, &len);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < len / 2; i++) {
        pl_message_t t = v[i];
        v[i] = v[len - 1 - i];
        v[len - 1 - i] = t;
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_db_messages_expire(pl_db_t *db, int64_t now_ms, int64_t limit, pl_message_t **out,
                          size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MSG_EXPIRED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    int64_t(*keys)[2] = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            keys = pl_xrealloc(keys, cap * sizeof *keys);
        }
        keys[len][0] = sqlite3_column_int64(s, 0);
        keys[len][1] = sqlite3_column_int64(s, 1);
        len++;
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "messages_expired");
    pl_store__stmt_done(s);
    pl_message_t *v = len ? pl_xcalloc(len, sizeof *v) : NULL;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        if ((rc = pl_db_message_delete(db, keys[i][0], keys[i][1], &v[k])) == 0)
            k++;
    }
    free(keys);
    if (rc != 0) {
        pl_messages_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Turns user text into an FTS5 query: every whitespace-separated word becomes
 * a quoted prefix term ("word"*), so operators and quotes in the text are
 * literal and the query can never be a syntax error. Returns NULL when the
 * text holds no word. */
static char *fts_query(const char *text)
{
    pl_buf_t b;
    pl_buf_init(&b);
    const char *p = text;
    size_t words = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        if (words++ > 0)
            pl_buf_lit(&b, " ");
        pl_buf_lit(&b, "\"");
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '"')
                pl_buf_lit(&b, "\"");
            pl_buf_append(&b, p, 1);
            p++;
        }
        pl_buf_lit(&b, "\"*");
    }
    char *out = NULL;
    if (words > 0) {
        out = pl_xmalloc(b.len + 1);
        memcpy(out, pl_buf_head(&b), b.len);
        out[b.len] = '\0';
    }
    pl_buf_dispose(&b);
    return out;
}

int pl_db_search(pl_db_t *db, int64_t user_id, const char *query, int64_t room_id,
                 int64_t before_id, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n)
{
    char *q = fts_query(query);
    if (q == NULL) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    /* Read-your-writes: everything committed before now is in the index. */
    if (db->ix != NULL && !pl_indexer_sync(db->ix, 2000))
        pl_log(PL_LOG_WARN, "store", "op=search msg=index behind (rebuild or backlog)");
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_SEARCH);
    if (s == NULL) {
        free(q);
        return PL_EIO;
    }
    sqlite3_bind_int64(s, 1, user_id);
    pl_store__bind_text(s, 2, q);
    sqlite3_bind_int64(s, 3, room_id);
    sqlite3_bind_int64(s, 4, before_id);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_int64(s, 6, limit < 0 ? 0 : limit);
    int rc = pl_store__collect_messages(db, s, "search", out, n);
    free(q);
    return rc;
}

int pl_db_room_set_disappearing(pl_db_t *db, int64_t room_id, int64_t ms)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_SET_DISAPPEARING);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, ms);
    int rc = pl_store__step_done(db, s, "room_set_disappearing");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_db_room_set_meta(pl_db_t *db, int64_t room_id, const char *name, int64_t avatar)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_SET_META);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    if (name != NULL)
        pl_store__bind_text(s, 2, name);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_int64(s, 3, avatar);
    int rc = pl_store__step_done(db, s, "room_set_meta");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

/* ---- receipts ---- */

int pl_db_member_mark(pl_db_t *db, int64_t room_id, int64_t user_id, bool read, int64_t seq,
                      int64_t now_ms, bool *changed, pl_receipt_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_MEMBER_GET_RECEIPT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    pl_receipt_t r = {.user_id = user_id};
    int64_t last = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r.read_seq = sqlite3_column_int64(s, 0);
        r.read_ts = sqlite3_column_int64(s, 1);
        r.delivered_seq = sqlite3_column_int64(s, 2);
        r.delivered_ts = sqlite3_column_int64(s, 3);
        last = sqlite3_column_int64(s, 4);
        r.read_receipts = sqlite3_column_int(s, 5) != 0;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "member_receipt");
    }
    pl_store__stmt_done(s);
    if (rc != 0)
        return rc;
    /* Markers only move forward and never past the room's last message. */
    int64_t to = PL_MIN(seq, last);
    bool moved = false;
    if (read && to > r.read_seq) {
        r.read_seq = to;
        r.read_ts = now_ms;
        moved = true;
    }
    if (to > r.delivered_seq) {
        r.delivered_seq = to;
        r.delivered_ts = now_ms;
        moved = true;
    }
    if (moved) {
        if ((s = pl_store__stmt(db, PL_ST_MEMBER_SET_RECEIPT)) == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, room_id);
        sqlite3_bind_int64(s, 2, user_id);
        sqlite3_bind_int64(s, 3, r.read_seq);
        sqlite3_bind_int64(s, 4, r.read_ts);
        sqlite3_bind_int64(s, 5, r.delivered_seq);
        sqlite3_bind_int64(s, 6, r.delivered_ts);
        if ((rc = pl_store__step_done(db, s, "member_set_receipt")) != 0)
            return rc;
    }
    *changed = moved;
    *out = r;
    return 0;
}

int pl_db_room_receipts(pl_db_t *db, int64_t room_id, int64_t after, size_t limit,
                        pl_receipt_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_ROOM_RECEIPTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)limit);
    pl_receipt_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = pl_xrealloc(v, cap * sizeof *v);
        }
        v[len].user_id = sqlite3_column_int64(s, 0);
        v[len].read_seq = sqlite3_column_int64(s, 1);
        v[len].read_ts = sqlite3_column_int64(s, 2);
        v[len].delivered_seq = sqlite3_column_int64(s, 3);
        v[len].delivered_ts = sqlite3_column_int64(s, 4);
        v[len].read_receipts = sqlite3_column_int(s, 5) != 0;
        len++;
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "room_receipts");
    pl_store__stmt_done(s);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- profiles, settings, presence ---- */

void pl_profile_dispose(pl_profile_t *p)
{
    if (p == NULL)
        return;
    free(p->username);
    free(p->display_name);
    free(p->bio);
    free(p->status_text);
    free(p->settings);
    p->username = p->display_name = p->bio = p->status_text = p->settings = NULL;
}

int pl_db_profile_get(pl_db_t *db, int64_t id, const char *username, pl_profile_t *out)
{
    sqlite3_stmt *s = pl_store__stmt(db, username ? PL_ST_PROFILE_BY_NAME : PL_ST_PROFILE_BY_ID);
    if (s == NULL)
        return PL_EIO;
    if (username != NULL)
        pl_store__bind_text(s, 1, username);
    else
        sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->username = pl_store__col_str(s, 1);
        out->display_name = pl_store__col_str(s, 2);
        out->bio = pl_store__col_str(s, 3);
        out->status_text = pl_store__col_str(s, 4);
        out->settings = pl_store__col_str(s, 5);
        out->last_seen_ms = sqlite3_column_int64(s, 6);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "profile_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v != NULL)
        pl_store__bind_text(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

int pl_db_profile_set(pl_db_t *db, int64_t id, const char *display_name, const char *bio,
                      const char *status_text)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_PROFILE_SET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    bind_opt_text(s, 2, display_name);
    bind_opt_text(s, 3, bio);
    bind_opt_text(s, 4, status_text);
    int rc = pl_store__step_done(db, s, "profile_set");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

static int user_set(pl_db_t *db, pl_stmt_id_t id, const char *op, int64_t user, const char *text,
                    int64_t num)
{
    sqlite3_stmt *s = pl_store__stmt(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user);
    if (text != NULL)
        pl_store__bind_text(s, 2, text);
    else
        sqlite3_bind_int64(s, 2, num);
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_db_settings_set(pl_db_t *db, int64_t id, const char *settings)
{
    return user_set(db, PL_ST_SETTINGS_SET, "settings_set", id, settings ? settings : "{}", 0);
}

int pl_db_user_set_last_seen(pl_db_t *db, int64_t id, int64_t ms)
{
    return user_set(db, PL_ST_USER_SET_LAST_SEEN, "set_last_seen", id, NULL, ms);
}

int pl_db_contacts(pl_db_t *db, int64_t user_id, int64_t limit, pl_contact_t **out, size_t *n)
{
    sqlite3_stmt *s = pl_store__stmt(db, PL_ST_CONTACTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    pl_contact_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            v = pl_xrealloc(v, cap * sizeof *v);
        }
        v[len].user_id = sqlite3_column_int64(s, 0);
        v[len].last_seen_ms = sqlite3_column_int64(s, 1);
        v[len].show_presence = sqlite3_column_int(s, 2) != 0;
        len++;
    }
    rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "contacts");
    pl_store__stmt_done(s);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}
