/* SPDX-License-Identifier: MIT */
/* store_sqlite_users.c -- users, sessions (devices), profiles and
 * settings, presence and contacts. */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* The statements of this file (see pl_sql_table_t). */
enum {
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_ID,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_TOUCH,
    ST_SESSION_DELETE,
    ST_SESSION_COUNT,
    ST_PROFILE_BY_ID,
    ST_PROFILE_BY_NAME,
    ST_PROFILE_SET,
    ST_SETTINGS_SET,
    ST_USER_SET_LAST_SEEN,
    ST_CONTACTS,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_USER_INSERT] = "INSERT INTO users(username, display_name, pwhash, created_ms) "
                       "VALUES (?1, ?2, ?3, ?4)",
    [ST_USER_BY_NAME] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                        "WHERE username = ?1",
    [ST_USER_BY_ID] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                      "WHERE id = ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions(user_id, token_hash, device_name, created_ms, "
                          "last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    [ST_SESSION_GET] = "SELECT id, user_id, last_seen_ms FROM sessions WHERE token_hash = ?1",
    [ST_SESSION_TOUCH] = "UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1 RETURNING id",
    [ST_SESSION_COUNT] = "SELECT count(*) FROM sessions WHERE user_id = ?1",
    [ST_PROFILE_BY_ID] = "SELECT id, username, display_name, bio, status_text, settings, "
                         "last_seen_ms FROM users WHERE id = ?1",
    [ST_PROFILE_BY_NAME] = "SELECT id, username, display_name, bio, status_text, settings, "
                           "last_seen_ms FROM users WHERE username = ?1",
    [ST_PROFILE_SET] = "UPDATE users SET display_name = coalesce(?2, display_name), "
                       "bio = coalesce(?3, bio), status_text = coalesce(?4, status_text) "
                       "WHERE id = ?1",
    [ST_SETTINGS_SET] = "UPDATE users SET settings = ?2 WHERE id = ?1",
    [ST_USER_SET_LAST_SEEN] = "UPDATE users SET last_seen_ms = ?2 WHERE id = ?1",
    [ST_CONTACTS] = "SELECT DISTINCT u.id, u.last_seen_ms, "
                    "coalesce(json_extract(u.settings, '$.show_presence'), 1) "
                    "FROM members a JOIN members b ON b.room_id = a.room_id "
                    "JOIN users u ON u.id = b.user_id "
                    "WHERE a.user_id = ?1 AND b.user_id <> ?1 ORDER BY u.id LIMIT ?2",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_user_dispose(pl_user_t *u)
{
    if (u == NULL)
        return;
    free(u->username);
    free(u->display_name);
    free(u->pwhash);
    u->username = u->display_name = u->pwhash = NULL;
}

int pl_sq_user_create(pl_db_t *db, const char *username, const char *display_name,
                      const char *pwhash, int64_t now_ms, int64_t *user_id)
{
    sqlite3_stmt *s = STMT(db, ST_USER_INSERT);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, username);
    pl_store__bind_text(s, 2, display_name);
    pl_store__bind_text(s, 3, pwhash);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = pl_store__step_done(db, s, "user_create");
    if (rc == 0)
        *user_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static int user_get(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_user_t *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->username = pl_store__col_str(s, 1);
        out->display_name = pl_store__col_str(s, 2);
        out->pwhash = pl_store__col_str(s, 3);
        out->created_ms = sqlite3_column_int64(s, 4);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, op);
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_user_by_name(pl_db_t *db, const char *username, pl_user_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_USER_BY_NAME);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, username);
    return user_get(db, s, "user_by_name", out);
}

int pl_sq_user_by_id(pl_db_t *db, int64_t id, pl_user_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_USER_BY_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    return user_get(db, s, "user_by_id", out);
}

int pl_sq_session_create(pl_db_t *db, int64_t user_id, const unsigned char token_hash[32],
                         const char *device_name, int64_t now_ms, int64_t *device_id)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_blob(s, 2, token_hash, 32, SQLITE_STATIC);
    pl_store__bind_text(s, 3, device_name);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = pl_store__step_done(db, s, "session_create");
    if (rc == 0)
        *device_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

int pl_sq_session_lookup(pl_db_t *db, const unsigned char token_hash[32], int64_t now_ms,
                         int64_t *user_id, int64_t *device_id)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_GET);
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
        if ((s = STMT(db, ST_SESSION_TOUCH)) == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, did);
        sqlite3_bind_int64(s, 2, now_ms);
        if ((rc = pl_store__step_done(db, s, "session_touch")) != 0)
            return rc;
    }
    *user_id = uid;
    *device_id = did;
    return 0;
}

int pl_sq_session_delete(pl_db_t *db, const unsigned char token_hash[32], int64_t *device_id)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_DELETE);
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

int pl_sq_session_count(pl_db_t *db, int64_t user_id, int64_t *count)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, "session_count");
    if (rc == 0)
        *count = sqlite3_column_int64(s, 0);
    pl_store__stmt_done(s);
    return rc;
}

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

int pl_sq_profile_get(pl_db_t *db, int64_t id, const char *username, pl_profile_t *out)
{
    sqlite3_stmt *s = STMT(db, username ? ST_PROFILE_BY_NAME : ST_PROFILE_BY_ID);
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

int pl_sq_profile_set(pl_db_t *db, int64_t id, const char *display_name, const char *bio,
                      const char *status_text)
{
    sqlite3_stmt *s = STMT(db, ST_PROFILE_SET);
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

static int user_set(pl_db_t *db, int id, const char *op, int64_t user, const char *text,
                    int64_t num)
{
    sqlite3_stmt *s = STMT(db, id);
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

int pl_sq_settings_set(pl_db_t *db, int64_t id, const char *settings)
{
    return user_set(db, ST_SETTINGS_SET, "settings_set", id, settings ? settings : "{}", 0);
}

int pl_sq_user_set_last_seen(pl_db_t *db, int64_t id, int64_t ms)
{
    return user_set(db, ST_USER_SET_LAST_SEEN, "set_last_seen", id, NULL, ms);
}

static void contact_read(sqlite3_stmt *s, void *elem)
{
    pl_contact_t *v = elem;
    v->user_id = sqlite3_column_int64(s, 0);
    v->last_seen_ms = sqlite3_column_int64(s, 1);
    v->show_presence = sqlite3_column_int(s, 2) != 0;
}

int pl_sq_contacts(pl_db_t *db, int64_t user_id, int64_t limit, pl_contact_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_CONTACTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    pl_rows_t r = PL_ROWS(pl_contact_t, contact_read, NULL);
    int rc = pl_store__collect(db, s, "contacts", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}
