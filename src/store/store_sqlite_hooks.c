/* SPDX-License-Identifier: MIT */
/* store_sqlite_hooks.c -- incoming webhooks on SQLite (store.h, "incoming
 * webhooks"; schema step 13, issue 16). */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum { ST_COUNT, ST_INSERT, ST_GET, ST_LIST, ST_REVOKE, ST__COUNT };

#define HOOK_COLS "id, room_id, creator, name, icon_url, secret_hash, created_ms, revoked_ms"

static const char *const sql[ST__COUNT] = {
    [ST_COUNT] = "SELECT count(*) FROM webhooks WHERE room_id = ?1 AND revoked_ms = 0",
    [ST_INSERT] = "INSERT INTO webhooks(room_id, creator, name, icon_url, secret_hash, created_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    [ST_GET] = "SELECT " HOOK_COLS " FROM webhooks WHERE id = ?1",
    [ST_LIST] = "SELECT " HOOK_COLS " FROM webhooks WHERE room_id = ?1 AND revoked_ms = 0"
                " ORDER BY id",
    [ST_REVOKE] = "UPDATE webhooks SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

static void hook_from_row(sqlite3_stmt *s, void *elem)
{
    pl_webhook_t *w = elem;
    w->id = sqlite3_column_int64(s, 0);
    w->room_id = sqlite3_column_int64(s, 1);
    w->creator = sqlite3_column_int64(s, 2);
    w->name = pl_store__col_str(s, 3);
    w->icon_url = pl_store__col_str(s, 4);
    const unsigned char *h = sqlite3_column_text(s, 5);
    snprintf(w->secret_hash, sizeof w->secret_hash, "%s", h ? (const char *)h : "");
    w->created_ms = sqlite3_column_int64(s, 6);
    w->revoked_ms = sqlite3_column_int64(s, 7);
}

static void hook_dispose_elem(void *elem)
{
    pl_webhook_dispose(elem);
}

int pl_sq_webhook_create(pl_db_t *db, const pl_webhook_t *w, int64_t max_per_room, int64_t *id)
{
    sqlite3_stmt *s = STMT(db, ST_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, w->room_id);
    int rc = sqlite3_step(s);
    int64_t live = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    pl_store__stmt_done(s);
    if (rc != SQLITE_ROW)
        return pl_store__fail(db, "webhook_count");
    if (live >= max_per_room)
        return PL_ETOOBIG;
    if ((s = STMT(db, ST_INSERT)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, w->room_id);
    sqlite3_bind_int64(s, 2, w->creator);
    pl_store__bind_text(s, 3, w->name);
    pl_store__bind_text(s, 4, w->icon_url ? w->icon_url : "");
    pl_store__bind_text(s, 5, w->secret_hash);
    sqlite3_bind_int64(s, 6, w->created_ms);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (id != NULL)
            *id = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        rc = pl_store__step_error(db, "webhook_create");
        pl_store__stmt_done(s);
        return rc;
    }
    pl_store__stmt_done(s);
    return 0;
}

int pl_sq_webhook_get(pl_db_t *db, int64_t id, pl_webhook_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        hook_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "webhook_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_webhook_list(pl_db_t *db, int64_t room_id, pl_webhook_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_LIST);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    pl_rows_t r = PL_ROWS(pl_webhook_t, hook_from_row, hook_dispose_elem);
    int rc = pl_store__collect(db, s, "webhook_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_webhook_revoke(pl_db_t *db, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_REVOKE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = pl_store__step_done(db, s, "webhook_revoke");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

/* ---- outgoing webhooks (issue 16, step 2) ---- */

enum { OT_COUNT, OT_INSERT, OT_GET, OT_LIST, OT_REVOKE, OT__COUNT };

#define OUT_COLS "id, room_id, creator, url, triggers, secret, created_ms, revoked_ms"

static const char *const osql[OT__COUNT] = {
    [OT_COUNT] = "SELECT count(*) FROM outhooks WHERE room_id = ?1 AND revoked_ms = 0",
    [OT_INSERT] = "INSERT INTO outhooks(room_id, creator, url, triggers, secret, created_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    [OT_GET] = "SELECT " OUT_COLS " FROM outhooks WHERE id = ?1",
    [OT_LIST] = "SELECT " OUT_COLS " FROM outhooks WHERE room_id = ?1 AND revoked_ms = 0"
                " ORDER BY id",
    [OT_REVOKE] = "UPDATE outhooks SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0",
};
static pl_sql_table_t ostmts = PL_SQL_TABLE(osql);
#define OSTMT(db, id) pl_store__stmt((db), &ostmts, (id))

static void out_from_row(sqlite3_stmt *s, void *elem)
{
    pl_outhook_t *w = elem;
    w->id = sqlite3_column_int64(s, 0);
    w->room_id = sqlite3_column_int64(s, 1);
    w->creator = sqlite3_column_int64(s, 2);
    w->url = pl_store__col_str(s, 3);
    w->triggers = pl_store__col_str(s, 4);
    w->secret = pl_store__col_str(s, 5);
    w->created_ms = sqlite3_column_int64(s, 6);
    w->revoked_ms = sqlite3_column_int64(s, 7);
}

static void out_dispose_elem(void *elem)
{
    pl_outhook_dispose(elem);
}

int pl_sq_outhook_create(pl_db_t *db, const pl_outhook_t *w, int64_t max_per_room, int64_t *id)
{
    sqlite3_stmt *s = OSTMT(db, OT_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, w->room_id);
    int rc = sqlite3_step(s);
    int64_t live = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    pl_store__stmt_done(s);
    if (rc != SQLITE_ROW)
        return pl_store__fail(db, "outhook_count");
    if (live >= max_per_room)
        return PL_ETOOBIG;
    if ((s = OSTMT(db, OT_INSERT)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, w->room_id);
    sqlite3_bind_int64(s, 2, w->creator);
    pl_store__bind_text(s, 3, w->url);
    pl_store__bind_text(s, 4, w->triggers ? w->triggers : "");
    pl_store__bind_text(s, 5, w->secret);
    sqlite3_bind_int64(s, 6, w->created_ms);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (id != NULL)
            *id = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
    }
    if (rc != SQLITE_DONE) {
        rc = pl_store__step_error(db, "outhook_create");
        pl_store__stmt_done(s);
        return rc;
    }
    pl_store__stmt_done(s);
    return 0;
}

int pl_sq_outhook_get(pl_db_t *db, int64_t id, pl_outhook_t *out)
{
    sqlite3_stmt *s = OSTMT(db, OT_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "outhook_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_outhook_list(pl_db_t *db, int64_t room_id, pl_outhook_t **out, size_t *n)
{
    sqlite3_stmt *s = OSTMT(db, OT_LIST);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    pl_rows_t r = PL_ROWS(pl_outhook_t, out_from_row, out_dispose_elem);
    int rc = pl_store__collect(db, s, "outhook_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_outhook_revoke(pl_db_t *db, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *s = OSTMT(db, OT_REVOKE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = pl_store__step_done(db, s, "outhook_revoke");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}
