/* SPDX-License-Identifier: MIT */
/* store_pg_users.c -- users, sessions (devices), profiles, settings,
 * presence and contacts on PostgreSQL (see store_sqlite_users.c). */
#include "store/store_pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id",
    [ST_USER_BY_NAME] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                        "WHERE username = $1",
    [ST_USER_BY_ID] = "SELECT id, username, display_name, pwhash, created_ms FROM users "
                      "WHERE id = $1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions(user_id, token_hash, device_name, created_ms, "
                          "last_seen_ms) VALUES ($1, decode($2, 'hex'), $3, $4, $4) RETURNING id",
    [ST_SESSION_GET] = "SELECT id, user_id, last_seen_ms FROM sessions "
                       "WHERE token_hash = decode($1, 'hex')",
    [ST_SESSION_TOUCH] = "UPDATE sessions SET last_seen_ms = $2 WHERE id = $1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = decode($1, 'hex') RETURNING id",
    [ST_SESSION_COUNT] = "SELECT count(*) FROM sessions WHERE user_id = $1",
    [ST_PROFILE_BY_ID] = "SELECT id, username, display_name, bio, status_text, settings, "
                         "last_seen_ms FROM users WHERE id = $1",
    [ST_PROFILE_BY_NAME] = "SELECT id, username, display_name, bio, status_text, settings, "
                           "last_seen_ms FROM users WHERE username = $1",
    [ST_PROFILE_SET] = "UPDATE users SET display_name = coalesce($2, display_name), "
                       "bio = coalesce($3, bio), status_text = coalesce($4, status_text) "
                       "WHERE id = $1",
    [ST_SETTINGS_SET] = "UPDATE users SET settings = $2 WHERE id = $1",
    [ST_USER_SET_LAST_SEEN] = "UPDATE users SET last_seen_ms = $2 WHERE id = $1",
    /* show_presence: the setting when it is a boolean, else on (as SQLite's
     * coalesce(json_extract(...), 1)). */
    [ST_CONTACTS] = "SELECT DISTINCT u.id, u.last_seen_ms, "
                    "CASE jsonb_typeof(u.settings::jsonb -> 'show_presence') "
                    "WHEN 'boolean' THEN (u.settings::jsonb -> 'show_presence')::boolean "
                    "WHEN 'number' THEN (u.settings::jsonb ->> 'show_presence')::numeric <> 0 "
                    "ELSE true END "
                    "FROM members a JOIN members b ON b.room_id = a.room_id "
                    "JOIN users u ON u.id = b.user_id "
                    "WHERE a.user_id = $1 AND b.user_id <> $1 ORDER BY u.id LIMIT $2",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))

static void hex32(const unsigned char h[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[64] = '\0';
}

#define one_row(db, id, a, guard, op, res) pl_pg__one((db), &stmts, (id), (a), (guard), (op), (res))
#define changed(db, id, a, op) pl_pg__changed((db), &stmts, (id), (a), false, (op))

int pl_pg_user_create(pl_db_t *d, const char *username, const char *display_name,
                      const char *pwhash, int64_t now_ms, int64_t *user_id)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, username);
    pl_pg__text(&a, display_name);
    pl_pg__text(&a, pwhash);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = one_row(db, ST_USER_INSERT, &a, false, "user_create", &r);
    if (rc == PL_ENOTFOUND)
        return PL_EEXIST; /* ON CONFLICT: the name is taken */
    if (rc == 0) {
        *user_id = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

static int user_get(pl_pg_db_t *db, int id, const pl_pg_args_t *a, const char *op, pl_user_t *out)
{
    PGresult *r = NULL;
    int rc = one_row(db, id, a, false, op, &r);
    if (rc != 0)
        return rc;
    out->id = pl_pg__i64(r, 0, 0);
    out->username = pl_pg__str(r, 0, 1);
    out->display_name = pl_pg__str(r, 0, 2);
    out->pwhash = pl_pg__str(r, 0, 3);
    out->created_ms = pl_pg__i64(r, 0, 4);
    PQclear(r);
    return 0;
}

int pl_pg_user_by_name(pl_db_t *d, const char *username, pl_user_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, username);
    return user_get(PG_DB(d), ST_USER_BY_NAME, &a, "user_by_name", out);
}

int pl_pg_user_by_id(pl_db_t *d, int64_t id, pl_user_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    return user_get(PG_DB(d), ST_USER_BY_ID, &a, "user_by_id", out);
}

int pl_pg_session_create(pl_db_t *d, int64_t user_id, const unsigned char token_hash[32],
                         const char *device_name, int64_t now_ms, int64_t *device_id)
{
    pl_pg_db_t *db = PG_DB(d);
    char hex[65];
    hex32(token_hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, hex);
    pl_pg__text(&a, device_name);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = one_row(db, ST_SESSION_INSERT, &a, true, "session_create", &r);
    if (rc == 0) {
        *device_id = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_session_lookup(pl_db_t *d, const unsigned char token_hash[32], int64_t now_ms,
                         int64_t *user_id, int64_t *device_id)
{
    pl_pg_db_t *db = PG_DB(d);
    char hex[65];
    hex32(token_hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    PGresult *r = NULL;
    int rc = one_row(db, ST_SESSION_GET, &a, false, "session_lookup", &r);
    if (rc != 0)
        return rc;
    int64_t did = pl_pg__i64(r, 0, 0), uid = pl_pg__i64(r, 0, 1), seen = pl_pg__i64(r, 0, 2);
    PQclear(r);
    /* A reader's transaction is read-only; last_seen is advisory, so the
     * touch is skipped there (as on SQLite's read-only connections). */
    if (now_ms > seen && db->role != PL_PG_READER) {
        pl_pg_args_t t = {0};
        pl_pg__int(&t, did);
        pl_pg__int(&t, now_ms);
        if ((rc = RUN(db, ST_SESSION_TOUCH, &t, false, "session_touch", NULL)) != 0)
            return rc;
    }
    *user_id = uid;
    *device_id = did;
    return 0;
}

int pl_pg_session_delete(pl_db_t *d, const unsigned char token_hash[32], int64_t *device_id)
{
    pl_pg_db_t *db = PG_DB(d);
    char hex[65];
    hex32(token_hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    PGresult *r = NULL;
    int rc = one_row(db, ST_SESSION_DELETE, &a, false, "session_delete", &r);
    if (rc == 0) {
        *device_id = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_session_count(pl_db_t *d, int64_t user_id, int64_t *count)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = one_row(PG_DB(d), ST_SESSION_COUNT, &a, false, "session_count", &r);
    if (rc == 0) {
        *count = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc == PL_ENOTFOUND ? pl_pg__fail(PG_DB(d), "session_count", NULL) : rc;
}

int pl_pg_profile_get(pl_db_t *d, int64_t id, const char *username, pl_profile_t *out)
{
    pl_pg_args_t a = {0};
    if (username != NULL)
        pl_pg__text(&a, username);
    else
        pl_pg__int(&a, id);
    PGresult *r = NULL;
    int rc = one_row(PG_DB(d), username ? ST_PROFILE_BY_NAME : ST_PROFILE_BY_ID, &a, false,
                     "profile_get", &r);
    if (rc != 0)
        return rc;
    out->id = pl_pg__i64(r, 0, 0);
    out->username = pl_pg__str(r, 0, 1);
    out->display_name = pl_pg__str(r, 0, 2);
    out->bio = pl_pg__str(r, 0, 3);
    out->status_text = pl_pg__str(r, 0, 4);
    out->settings = pl_pg__str(r, 0, 5);
    out->last_seen_ms = pl_pg__i64(r, 0, 6);
    PQclear(r);
    return 0;
}

static void opt_text(pl_pg_args_t *a, const char *v)
{
    if (v != NULL)
        pl_pg__text(a, v);
    else
        pl_pg__null(a);
}

int pl_pg_profile_set(pl_db_t *d, int64_t id, const char *display_name, const char *bio,
                      const char *status_text)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    opt_text(&a, display_name);
    opt_text(&a, bio);
    opt_text(&a, status_text);
    return changed(PG_DB(d), ST_PROFILE_SET, &a, "profile_set");
}

int pl_pg_settings_set(pl_db_t *d, int64_t id, const char *settings)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__text(&a, settings ? settings : "{}");
    return changed(PG_DB(d), ST_SETTINGS_SET, &a, "settings_set");
}

int pl_pg_user_set_last_seen(pl_db_t *d, int64_t id, int64_t ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__int(&a, ms);
    return changed(PG_DB(d), ST_USER_SET_LAST_SEEN, &a, "set_last_seen");
}

int pl_pg_contacts(pl_db_t *d, int64_t user_id, int64_t limit, pl_contact_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_CONTACTS, &a, false, "contacts", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_contact_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].user_id = pl_pg__i64(r, i, 0);
        v[i].last_seen_ms = pl_pg__i64(r, i, 1);
        v[i].show_presence = pl_pg__b(r, i, 2);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}
