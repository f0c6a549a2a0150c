/* SPDX-License-Identifier: MIT */
/* store_sqlite_mod.c -- moderation (issue 17): roles and mutes on the
 * membership row, bans, the append-only audit log, server admins. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_internal.h"

enum {
    ST_MOD_GET,
    ST_ROLE_SET,
    ST_MUTE_SET,
    ST_ROLE_COUNT,
    ST_ROOM_MODS,
    ST_ALL_MUTES,
    ST_BAN_PUT,
    ST_BAN_DELETE,
    ST_BAN_GET,
    ST_BANS,
    ST_AUDIT_ADD,
    ST_AUDIT_ROOM,
    ST_AUDIT_ALL,
    ST_ADMIN_GET,
    ST_ADMIN_SET,
    ST_TOMBSTONE_SET,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MOD_GET] = "SELECT role, muted_until FROM members WHERE room_id = ?1 AND user_id = ?2",
    [ST_ROLE_SET] = "UPDATE members SET role = ?3 WHERE room_id = ?1 AND user_id = ?2",
    [ST_MUTE_SET] = "UPDATE members SET muted_until = ?3 WHERE room_id = ?1 AND user_id = ?2",
    [ST_ROLE_COUNT] = "SELECT count(*) FROM members WHERE room_id = ?1 AND role >= ?2",
    [ST_ROOM_MODS] = "SELECT room_id, user_id, role, muted_until FROM members"
                     " WHERE room_id = ?1 AND (role > 0 OR muted_until > ?2) ORDER BY user_id",
    [ST_ALL_MUTES] = "SELECT room_id, user_id, role, muted_until FROM members"
                     " WHERE muted_until > ?2 AND ?1 = 0 ORDER BY room_id, user_id",
    [ST_BAN_PUT] = "INSERT INTO room_bans(room_id, user_id, by_user, reason, created_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (room_id, user_id) DO UPDATE"
                   " SET by_user = excluded.by_user, reason = excluded.reason,"
                   " created_ms = excluded.created_ms",
    [ST_BAN_DELETE] = "DELETE FROM room_bans WHERE room_id = ?1 AND user_id = ?2",
    [ST_BAN_GET] = "SELECT 1 FROM room_bans WHERE room_id = ?1 AND user_id = ?2",
    [ST_BANS] = "SELECT room_id, user_id, by_user, reason, created_ms FROM room_bans"
                " WHERE room_id = ?1 ORDER BY created_ms, user_id LIMIT ?2",
    [ST_AUDIT_ADD] = "INSERT INTO audit_log(ts, room_id, actor, action, target, reason, detail)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_AUDIT_ROOM] = "SELECT id, ts, room_id, actor, action, target, reason, detail FROM audit_log"
                      " WHERE room_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    [ST_AUDIT_ALL] = "SELECT id, ts, room_id, actor, action, target, reason, detail FROM audit_log"
                     " WHERE id < ?2 AND ?1 = 0 ORDER BY id DESC LIMIT ?3",
    [ST_ADMIN_GET] = "SELECT server_admin FROM users WHERE id = ?1",
    [ST_ADMIN_SET] = "UPDATE users SET server_admin = ?2 WHERE id = ?1",
    [ST_TOMBSTONE_SET] = "UPDATE messages SET content = ?3"
                         " WHERE room_id = ?1 AND seq = ?2 AND deleted != 0",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_bans_free(pl_ban_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].reason);
    free(v);
}

void pl_audit_free(pl_audit_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].action);
        free(v[i].reason);
        free(v[i].detail);
    }
    free(v);
}

/* An UPDATE or DELETE keyed by (a, b) with an optional third integer:
 * PL_ENOTFOUND when it changed no row. */
static int change3(pl_db_t *db, int id, int64_t a, int64_t b, const int64_t *c, const char *op)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    if (c != NULL)
        sqlite3_bind_int64(s, 3, *c);
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_member_mod_get(pl_db_t *db, int64_t room_id, int64_t user_id, pl_member_mod_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_MOD_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->room_id = room_id;
        out->user_id = user_id;
        out->role = sqlite3_column_int(s, 0);
        out->muted_until = sqlite3_column_int64(s, 1);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "member_mod_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_member_role_set(pl_db_t *db, int64_t room_id, int64_t user_id, int role)
{
    int64_t r = role;
    return change3(db, ST_ROLE_SET, room_id, user_id, &r, "member_role_set");
}

int pl_sq_member_mute_set(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t until_ms)
{
    return change3(db, ST_MUTE_SET, room_id, user_id, &until_ms, "member_mute_set");
}

/* One integer from a one-row statement bound with (a, b). */
static int query_int(pl_db_t *db, int id, int64_t a, int64_t b, const char *op, int64_t *out)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, op);
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_room_role_count(pl_db_t *db, int64_t room_id, int role, int64_t *n)
{
    return query_int(db, ST_ROLE_COUNT, room_id, role, "room_role_count", n);
}

static void mod_read(sqlite3_stmt *s, void *elem)
{
    pl_member_mod_t *m = elem;
    m->room_id = sqlite3_column_int64(s, 0);
    m->user_id = sqlite3_column_int64(s, 1);
    m->role = sqlite3_column_int(s, 2);
    m->muted_until = sqlite3_column_int64(s, 3);
}

int pl_sq_room_mods(pl_db_t *db, int64_t room_id, int64_t now_ms, pl_member_mod_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, room_id > 0 ? ST_ROOM_MODS : ST_ALL_MUTES);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, now_ms);
    pl_rows_t r = PL_ROWS(pl_member_mod_t, mod_read, NULL);
    int rc = pl_store__collect(db, s, "room_mods", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_ban_put(pl_db_t *db, const pl_ban_t *b)
{
    sqlite3_stmt *s = STMT(db, ST_BAN_PUT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, b->room_id);
    sqlite3_bind_int64(s, 2, b->user_id);
    sqlite3_bind_int64(s, 3, b->by);
    pl_store__bind_text(s, 4, b->reason);
    sqlite3_bind_int64(s, 5, b->created_ms);
    return pl_store__step_done(db, s, "ban_put");
}

int pl_sq_ban_delete(pl_db_t *db, int64_t room_id, int64_t user_id)
{
    return change3(db, ST_BAN_DELETE, room_id, user_id, NULL, "ban_delete");
}

int pl_sq_ban_get(pl_db_t *db, int64_t room_id, int64_t user_id, bool *banned)
{
    int64_t one = 0;
    int rc = query_int(db, ST_BAN_GET, room_id, user_id, "ban_get", &one);
    if (rc == 0 || rc == PL_ENOTFOUND) {
        *banned = rc == 0;
        return 0;
    }
    return rc;
}

static void ban_read(sqlite3_stmt *s, void *elem)
{
    pl_ban_t *b = elem;
    b->room_id = sqlite3_column_int64(s, 0);
    b->user_id = sqlite3_column_int64(s, 1);
    b->by = sqlite3_column_int64(s, 2);
    b->reason = pl_store__col_str(s, 3);
    b->created_ms = sqlite3_column_int64(s, 4);
}

static void ban_dispose(void *elem)
{
    free(((pl_ban_t *)elem)->reason);
}

int pl_sq_bans(pl_db_t *db, int64_t room_id, int64_t limit, pl_ban_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_BANS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, limit);
    pl_rows_t r = PL_ROWS(pl_ban_t, ban_read, ban_dispose);
    int rc = pl_store__collect(db, s, "bans", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_audit_add(pl_db_t *db, const pl_audit_t *e)
{
    sqlite3_stmt *s = STMT(db, ST_AUDIT_ADD);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, e->ts);
    sqlite3_bind_int64(s, 2, e->room_id);
    sqlite3_bind_int64(s, 3, e->actor);
    pl_store__bind_text(s, 4, e->action);
    sqlite3_bind_int64(s, 5, e->target);
    pl_store__bind_text(s, 6, e->reason);
    pl_store__bind_text(s, 7, e->detail);
    return pl_store__step_done(db, s, "audit_add");
}

static void audit_read(sqlite3_stmt *s, void *elem)
{
    pl_audit_t *e = elem;
    e->id = sqlite3_column_int64(s, 0);
    e->ts = sqlite3_column_int64(s, 1);
    e->room_id = sqlite3_column_int64(s, 2);
    e->actor = sqlite3_column_int64(s, 3);
    e->action = pl_store__col_str(s, 4);
    e->target = sqlite3_column_int64(s, 5);
    e->reason = pl_store__col_str(s, 6);
    e->detail = pl_store__col_str(s, 7);
}

static void audit_dispose(void *elem)
{
    pl_audit_t *e = elem;
    free(e->action);
    free(e->reason);
    free(e->detail);
}

int pl_sq_audit_list(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit, pl_audit_t **out,
                     size_t *n)
{
    sqlite3_stmt *s = STMT(db, room_id > 0 ? ST_AUDIT_ROOM : ST_AUDIT_ALL);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int64(s, 3, limit);
    pl_rows_t r = PL_ROWS(pl_audit_t, audit_read, audit_dispose);
    int rc = pl_store__collect(db, s, "audit_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_user_admin_get(pl_db_t *db, int64_t user_id, bool *admin)
{
    int64_t v = 0;
    int rc = query_int(db, ST_ADMIN_GET, user_id, 0, "user_admin_get", &v);
    if (rc == 0 || rc == PL_ENOTFOUND) {
        *admin = rc == 0 && v != 0;
        return 0;
    }
    return rc;
}

int pl_sq_user_admin_set(pl_db_t *db, int64_t user_id, bool admin)
{
    return change3(db, ST_ADMIN_SET, user_id, admin ? 1 : 0, NULL, "user_admin_set");
}

int pl_sq_tombstone_set(pl_db_t *db, int64_t room_id, int64_t seq, const char *content)
{
    sqlite3_stmt *s = STMT(db, ST_TOMBSTONE_SET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    pl_store__bind_text(s, 3, content);
    int rc = pl_store__step_done(db, s, "tombstone_set");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}
