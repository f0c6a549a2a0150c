/* SPDX-License-Identifier: MIT */
/* store_sqlite_conv.c -- changes to a posted message: edits,
 * deletes (tombstones), reactions and disappearing messages. Each takes a new
 * room version (store_sqlite_messages.c). */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define DELETED_CONTENT "{\"type\":\"deleted\"}"

/* The statements of this file (see pl_sql_table_t). */
enum {
    ST_MSG_SET_EDIT,
    ST_MSG_SET_DELETED,
    ST_MSG_SET_VERSION,
    ST_REACTION_INSERT,
    ST_REACTION_DELETE,
    ST_REACTION_CLEAR,
    ST_REACTION_COUNT_USER,
    ST_MSG_EXPIRED,
    ST_MSG_RETIRE_SCAN,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MSG_SET_EDIT] = "UPDATE messages SET content = ?3, edited_ts = ?4, version = ?5, "
                        "mentions = ?6, mention_room = ?7 WHERE room_id = ?1 AND seq = ?2",
    [ST_MSG_SET_DELETED] = "UPDATE messages SET content = '" DELETED_CONTENT "', deleted = 1, "
                           "version = ?3, mentions = NULL, mention_room = 0, expires_ts = 0 "
                           "WHERE room_id = ?1 AND seq = ?2",
    [ST_MSG_SET_VERSION] = "UPDATE messages SET version = ?3 WHERE room_id = ?1 AND seq = ?2",
    [ST_REACTION_INSERT] = "INSERT OR IGNORE INTO reactions(message_id, emoji, user_id, ts) "
                           "VALUES (?1, ?2, ?3, ?4)",
    [ST_REACTION_DELETE] = "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 "
                           "AND user_id = ?3",
    [ST_REACTION_CLEAR] = "DELETE FROM reactions WHERE message_id = ?1",
    [ST_REACTION_COUNT_USER] = "SELECT count(*) FROM reactions WHERE message_id = ?1 "
                               "AND user_id = ?2",
    [ST_MSG_EXPIRED] = "SELECT room_id, seq FROM messages WHERE expires_ts > 0 AND "
                       "expires_ts <= ?1 AND deleted = 0 ORDER BY expires_ts LIMIT ?2",
    [ST_MSG_RETIRE_SCAN] = "SELECT id, room_id, seq, ts, deleted FROM messages WHERE id > ?1 "
                           "ORDER BY id LIMIT ?2",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

int pl_sq_message_edit(pl_db_t *db, int64_t room_id, int64_t seq, const char *content,
                       const int64_t *mentions, size_t nmentions, bool mention_room, int64_t now_ms,
                       pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_sq_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    char *mjson = pl_store__mentions_json(mentions, nmentions);
    WITH_FN(db, rc, {
        int64_t version = 0;
        rc = pl_store__bump_version(db, room_id, &version);
        sqlite3_stmt *s = rc == 0 ? STMT(db, ST_MSG_SET_EDIT) : NULL;
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
            rc = pl_store__reindex_message(db, cur.id, content);
        if (rc == 0)
            rc = pl_store__mentions_delete(db, room_id, seq);
        if (rc == 0)
            rc = pl_store__mentions_insert(db, room_id, seq, cur.sender, mentions, nmentions,
                                           mention_room);
    });
    free(mjson);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_sq_message_get(db, room_id, seq, out);
    return rc;
}

/* Tombstones a live message (id known). */
static int tombstone(pl_db_t *db, int64_t room_id, int64_t seq, int64_t id)
{
    int rc;
    WITH_FN(db, rc, {
        int64_t version = 0;
        rc = pl_store__bump_version(db, room_id, &version);
        if (rc == 0)
            rc = pl_store__msg_update(db, STMT(db, ST_MSG_SET_DELETED), "message_delete", room_id,
                                      seq, 1, &version);
        if (rc == 0)
            rc = pl_store__unindex_message(db, id);
        if (rc == 0)
            rc = pl_store__mentions_delete(db, room_id, seq);
        if (rc == 0) {
            sqlite3_stmt *s = STMT(db, ST_REACTION_CLEAR);
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

int pl_sq_message_delete(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_sq_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    if (cur.deleted) {
        *out = cur;
        return 0;
    }
    rc = tombstone(db, room_id, seq, cur.id);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_sq_message_get(db, room_id, seq, out);
    return rc;
}

int pl_sq_reaction_set(pl_db_t *db, int64_t room_id, int64_t seq, int64_t user_id,
                       const char *emoji, bool add, int64_t max_per_user, int64_t now_ms,
                       bool *changed, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_sq_message_get(db, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    int64_t id = cur.id;
    pl_message_dispose(&cur);
    if (add) {
        sqlite3_stmt *s = STMT(db, ST_REACTION_COUNT_USER);
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
            s = STMT(db, ST_REACTION_INSERT);
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
                rc = PL_ETOOBIG; /* rolled back by pl_store__fn_end */
            int64_t version = 0;
            if (rc == 0 && did && (rc = pl_store__bump_version(db, room_id, &version)) == 0)
                rc = pl_store__msg_update(db, STMT(db, ST_MSG_SET_VERSION), "reaction_version",
                                          room_id, seq, 1, &version);
            *changed = did;
        });
    } else {
        WITH_FN(db, rc, {
            sqlite3_stmt *s = STMT(db, ST_REACTION_DELETE);
            rc = s == NULL ? PL_EIO : 0;
            if (rc == 0) {
                sqlite3_bind_int64(s, 1, id);
                pl_store__bind_text(s, 2, emoji);
                sqlite3_bind_int64(s, 3, user_id);
                rc = pl_store__step_done(db, s, "reaction_delete");
            }
            bool did = rc == 0 && sqlite3_changes(db->h) > 0;
            int64_t version = 0;
            if (rc == 0 && did && (rc = pl_store__bump_version(db, room_id, &version)) == 0)
                rc = pl_store__msg_update(db, STMT(db, ST_MSG_SET_VERSION), "reaction_version",
                                          room_id, seq, 1, &version);
            *changed = did;
        });
    }
    if (rc == 0)
        rc = pl_sq_message_get(db, room_id, seq, out);
    return rc;
}

/* (room, seq) of a message due to expire. */
typedef struct {
    int64_t room_id, seq;
} msg_key_t;

static void key_read(sqlite3_stmt *s, void *elem)
{
    msg_key_t *k = elem;
    k->room_id = sqlite3_column_int64(s, 0);
    k->seq = sqlite3_column_int64(s, 1);
}

int pl_sq_messages_expire(pl_db_t *db, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_EXPIRED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    pl_rows_t r = PL_ROWS(msg_key_t, key_read, NULL);
    int rc = pl_store__collect(db, s, "messages_expired", &r);
    msg_key_t *keys = r.v;
    size_t len = r.n;
    pl_message_t *v = len ? pl_xcalloc(len, sizeof *v) : NULL;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        if ((rc = pl_sq_message_delete(db, keys[i].room_id, keys[i].seq, &v[k])) == 0)
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

/* A row of the retention scan. */
typedef struct {
    int64_t id, room_id, seq, ts;
    bool deleted;
} retire_row_t;

static void retire_read(sqlite3_stmt *s, void *elem)
{
    retire_row_t *k = elem;
    k->id = sqlite3_column_int64(s, 0);
    k->room_id = sqlite3_column_int64(s, 1);
    k->seq = sqlite3_column_int64(s, 2);
    k->ts = sqlite3_column_int64(s, 3);
    k->deleted = sqlite3_column_int(s, 4) != 0;
}

int pl_sq_messages_retire(pl_db_t *db, int64_t before_ms, int64_t after_id, int64_t limit,
                          pl_message_t **out, size_t *n, int64_t *next_id)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_RETIRE_SCAN);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    pl_rows_t r = PL_ROWS(retire_row_t, retire_read, NULL);
    int rc = pl_store__collect(db, s, "messages_retire", &r);
    retire_row_t *rows = r.v;
    size_t len = r.n;
    pl_message_t *v = len ? pl_xcalloc(len, sizeof *v) : NULL;
    size_t k = 0;
    int64_t next = after_id;
    for (size_t i = 0; rc == 0 && i < len && rows[i].ts <= before_ms; i++) {
        if (!rows[i].deleted) {
            if ((rc = pl_sq_message_delete(db, rows[i].room_id, rows[i].seq, &v[k])) != 0)
                break;
            k++;
        }
        next = rows[i].id;
    }
    free(rows);
    if (rc != 0) {
        pl_messages_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    *next_id = next;
    return 0;
}

/* ---- the domain operation: change a message ---- */

/* The checks that need the current state; sets c->refused. */
static int change_check(pl_db_t *db, pl_change_t *c, pl_message_t *cur)
{
    int rc = pl_sq_message_get(db, c->room_id, c->seq, cur);
    if (rc == PL_ENOTFOUND || (rc == 0 && cur->deleted && c->kind == PL_CHANGE_REACT)) {
        c->refused = PL_REFUSAL_NO_MESSAGE;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (c->kind != PL_CHANGE_REACT && cur->sender != c->user)
        c->refused = PL_REFUSAL_NOT_AUTHOR;
    else if (c->kind == PL_CHANGE_EDIT && cur->deleted)
        c->refused = PL_REFUSAL_DELETED;
    return 0;
}

static int change_react(pl_db_t *db, pl_change_t *c)
{
    if (c->custom_shortcode != NULL && !c->remove) {
        /* A custom emoji must exist when it is put on; removing a reaction
         * of one deleted since is always allowed. */
        pl_emoji_rec_t e;
        int rc = pl_sq_emoji_get(db, c->custom_shortcode, &e);
        if (rc == PL_ENOTFOUND)
            c->refused = PL_REFUSAL_NO_EMOJI;
        if (rc != 0)
            return rc == PL_ENOTFOUND ? 0 : rc;
    }
    int rc = pl_sq_reaction_set(db, c->room_id, c->seq, c->user, c->emoji, !c->remove,
                                c->max_reactions, pl_now_ms(), &c->changed, &c->message);
    if (rc == PL_ETOOBIG) {
        c->refused = PL_REFUSAL_TOO_MANY;
        rc = 0;
    }
    return rc;
}

int pl_sq_message_change(pl_db_t *db, pl_change_t *c)
{
    c->refused = PL_REFUSAL_NONE;
    c->changed = false;
    pl_message_t cur = {0};
    int rc = change_check(db, c, &cur);
    if (rc != 0 || c->refused != PL_REFUSAL_NONE) {
        pl_message_dispose(&cur);
        return rc;
    }
    if (c->kind == PL_CHANGE_DELETE && cur.deleted) { /* idempotent: no new version */
        c->message = cur;
        return 0;
    }
    pl_message_dispose(&cur);
    if (c->kind == PL_CHANGE_EDIT) {
        int64_t *ids = NULL;
        size_t n = 0;
        rc = pl_store__mention_ids(db, c->room_id, c->mention_names, c->nmention_names, &ids, &n);
        if (rc == 0)
            rc = pl_sq_message_edit(db, c->room_id, c->seq, c->content, ids, n, c->mention_room,
                                    pl_now_ms(), &c->message);
        free(ids);
        c->changed = rc == 0;
    } else if (c->kind == PL_CHANGE_DELETE) {
        rc = pl_sq_message_delete(db, c->room_id, c->seq, &c->message);
        c->changed = rc == 0;
    } else {
        rc = change_react(db, c);
    }
    return rc;
}

void pl_change_dispose(pl_change_t *c)
{
    if (c != NULL)
        pl_message_dispose(&c->message);
}
