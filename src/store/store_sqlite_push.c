/* SPDX-License-Identifier: MIT */
/* store_sqlite_push.c -- Web Push subscriptions and notification settings
 * on SQLite (store.h, "Web Push"; schema step 12). */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_COUNT_OTHERS,
    ST_PUT,
    ST_DELETE,
    ST_DELETE_ID,
    ST_SUBS,
    ST_PREF_PUT,
    ST_PREF_GET,
    ST_PREFS,
    ST_ROOM_ALL,
    ST_SUB_USERS,
    ST__COUNT
};

#define PREF_COLS "room_id, level, mute_until, content_free, dnd_start, dnd_end"

static const char *const sql[ST__COUNT] = {
    [ST_COUNT_OTHERS] = "SELECT count(*) FROM push_subs WHERE user_id = ?1 AND endpoint <> ?2",
    [ST_PUT] = "INSERT INTO push_subs(user_id, device_id, endpoint, p256dh, auth, created_ms) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(endpoint) DO UPDATE SET "
               "user_id = excluded.user_id, device_id = excluded.device_id, "
               "p256dh = excluded.p256dh, auth = excluded.auth, created_ms = excluded.created_ms "
               "RETURNING id",
    [ST_DELETE] = "DELETE FROM push_subs WHERE user_id = ?1 AND endpoint = ?2",
    [ST_DELETE_ID] = "DELETE FROM push_subs WHERE id = ?1",
    [ST_SUBS] = "SELECT id, user_id, device_id, endpoint, p256dh, auth FROM push_subs "
                "WHERE user_id = ?1 ORDER BY id",
    [ST_PREF_PUT] = "INSERT INTO push_prefs(user_id, " PREF_COLS ") "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(user_id, room_id) DO UPDATE "
                    "SET level = excluded.level, mute_until = excluded.mute_until, "
                    "content_free = excluded.content_free, dnd_start = excluded.dnd_start, "
                    "dnd_end = excluded.dnd_end",
    [ST_PREF_GET] = "SELECT " PREF_COLS " FROM push_prefs WHERE user_id = ?1 AND room_id = ?2",
    [ST_PREFS] = "SELECT " PREF_COLS " FROM push_prefs WHERE user_id = ?1 ORDER BY room_id",
    [ST_ROOM_ALL] = "SELECT user_id FROM push_prefs WHERE room_id = ?1 AND level = 1 "
                    "ORDER BY user_id",
    [ST_SUB_USERS] = "SELECT DISTINCT user_id FROM push_subs ORDER BY user_id",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

int pl_sq_push_sub_put(pl_db_t *db, int64_t user_id, int64_t device_id, const char *endpoint,
                       const char *p256dh, const char *auth, int64_t max, int64_t now_ms,
                       int64_t *id)
{
    sqlite3_stmt *s = STMT(db, ST_COUNT_OTHERS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_store__bind_text(s, 2, endpoint);
    int rc = sqlite3_step(s);
    int64_t others = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    pl_store__stmt_done(s);
    if (rc != SQLITE_ROW)
        return pl_store__fail(db, "push_sub_count");
    if (others >= max)
        return PL_ETOOBIG;
    if ((s = STMT(db, ST_PUT)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, device_id);
    pl_store__bind_text(s, 3, endpoint);
    pl_store__bind_text(s, 4, p256dh);
    pl_store__bind_text(s, 5, auth);
    sqlite3_bind_int64(s, 6, now_ms);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (id != NULL)
            *id = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        rc = pl_store__step_error(db, "push_sub_put");
        pl_store__stmt_done(s);
        return rc;
    }
    pl_store__stmt_done(s);
    return 0;
}

int pl_sq_push_sub_delete(pl_db_t *db, int64_t user_id, const char *endpoint)
{
    sqlite3_stmt *s = STMT(db, ST_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_store__bind_text(s, 2, endpoint);
    int rc = pl_store__step_done(db, s, "push_sub_delete");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_push_sub_delete_id(pl_db_t *db, int64_t id)
{
    sqlite3_stmt *s = STMT(db, ST_DELETE_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    return pl_store__step_done(db, s, "push_sub_delete_id");
}

static void sub_from_row(sqlite3_stmt *s, void *elem)
{
    pl_push_sub_row_t *r = elem;
    r->id = sqlite3_column_int64(s, 0);
    r->user_id = sqlite3_column_int64(s, 1);
    r->device_id = sqlite3_column_int64(s, 2);
    r->endpoint = pl_store__col_str(s, 3);
    r->p256dh = pl_store__col_str(s, 4);
    r->auth = pl_store__col_str(s, 5);
}

static void sub_dispose_elem(void *elem)
{
    pl_push_sub_row_dispose(elem);
}

int pl_sq_push_subs(pl_db_t *db, int64_t user_id, pl_push_sub_row_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_SUBS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_rows_t r = PL_ROWS(pl_push_sub_row_t, sub_from_row, sub_dispose_elem);
    int rc = pl_store__collect(db, s, "push_subs", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_push_pref_put(pl_db_t *db, int64_t user_id, const pl_push_pref_t *p)
{
    sqlite3_stmt *s = STMT(db, ST_PREF_PUT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, p->room_id);
    sqlite3_bind_int(s, 3, p->level);
    sqlite3_bind_int64(s, 4, p->mute_until);
    sqlite3_bind_int(s, 5, p->content_free);
    sqlite3_bind_int(s, 6, p->dnd_start);
    sqlite3_bind_int(s, 7, p->dnd_end);
    return pl_store__step_done(db, s, "push_pref_put");
}

static void pref_from_row(sqlite3_stmt *s, void *elem)
{
    pl_push_pref_t *p = elem;
    p->room_id = sqlite3_column_int64(s, 0);
    p->level = sqlite3_column_int(s, 1);
    p->mute_until = sqlite3_column_int64(s, 2);
    p->content_free = sqlite3_column_int(s, 3);
    p->dnd_start = sqlite3_column_int(s, 4);
    p->dnd_end = sqlite3_column_int(s, 5);
}

int pl_sq_push_pref_get(pl_db_t *db, int64_t user_id, int64_t room_id, pl_push_pref_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_PREF_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        pref_from_row(s, out);
    pl_store__stmt_done(s);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "push_pref_get");
}

int pl_sq_push_prefs(pl_db_t *db, int64_t user_id, pl_push_pref_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_PREFS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_rows_t r = PL_ROWS(pl_push_pref_t, pref_from_row, NULL);
    int rc = pl_store__collect(db, s, "push_prefs", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_push_room_all(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_ALL);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    pl_rows_t r = PL_ROWS(int64_t, pl_store__row_id, NULL);
    int rc = pl_store__collect(db, s, "push_room_all", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_push_sub_users(pl_db_t *db, int64_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_SUB_USERS);
    if (s == NULL)
        return PL_EIO;
    pl_rows_t r = PL_ROWS(int64_t, pl_store__row_id, NULL);
    int rc = pl_store__collect(db, s, "push_sub_users", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}
