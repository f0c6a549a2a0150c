/* SPDX-License-Identifier: MIT */
/* store_pg_mod.c -- moderation (issue 17) on PostgreSQL (see
 * store_sqlite_mod.c). */
#include "store/store_pg_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

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
    [ST_MOD_GET] = "SELECT role, muted_until FROM members WHERE room_id = $1 AND user_id = $2",
    [ST_ROLE_SET] = "UPDATE members SET role = $3 WHERE room_id = $1 AND user_id = $2",
    [ST_MUTE_SET] = "UPDATE members SET muted_until = $3 WHERE room_id = $1 AND user_id = $2",
    [ST_ROLE_COUNT] = "SELECT count(*) FROM members WHERE room_id = $1 AND role >= $2",
    [ST_ROOM_MODS] = "SELECT room_id, user_id, role, muted_until FROM members"
                     " WHERE room_id = $1 AND (role > 0 OR muted_until > $2) ORDER BY user_id",
    [ST_ALL_MUTES] = "SELECT room_id, user_id, role, muted_until FROM members"
                     " WHERE muted_until > $1 ORDER BY room_id, user_id",
    [ST_BAN_PUT] = "INSERT INTO room_bans(room_id, user_id, by_user, reason, created_ms)"
                   " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, user_id) DO UPDATE"
                   " SET by_user = excluded.by_user, reason = excluded.reason,"
                   " created_ms = excluded.created_ms",
    [ST_BAN_DELETE] = "DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2",
    [ST_BAN_GET] = "SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2",
    [ST_BANS] = "SELECT room_id, user_id, by_user, reason, created_ms FROM room_bans"
                " WHERE room_id = $1 ORDER BY created_ms, user_id LIMIT $2",
    [ST_AUDIT_ADD] = "INSERT INTO audit_log(ts, room_id, actor, action, target, reason, detail)"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [ST_AUDIT_ROOM] = "SELECT id, ts, room_id, actor, action, target, reason, detail FROM audit_log"
                      " WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    [ST_AUDIT_ALL] = "SELECT id, ts, room_id, actor, action, target, reason, detail FROM audit_log"
                     " WHERE id < $1 ORDER BY id DESC LIMIT $2",
    [ST_ADMIN_GET] = "SELECT server_admin FROM users WHERE id = $1",
    [ST_ADMIN_SET] = "UPDATE users SET server_admin = $2 WHERE id = $1",
    [ST_TOMBSTONE_SET] = "UPDATE messages SET content = $3"
                         " WHERE room_id = $1 AND seq = $2 AND deleted",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, op, res) pl_pg__one((db), &stmts, (id), (a), false, (op), (res))
#define CHANGED(db, id, a, guard, op) pl_pg__changed((db), &stmts, (id), (a), (guard), (op))

int pl_pg_member_mod_get(pl_db_t *d, int64_t room_id, int64_t user_id, pl_member_mod_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_MOD_GET, &a, "member_mod_get", &r);
    if (rc != 0)
        return rc;
    out->room_id = room_id;
    out->user_id = user_id;
    out->role = (int)pl_pg__i64(r, 0, 0);
    out->muted_until = pl_pg__i64(r, 0, 1);
    PQclear(r);
    return 0;
}

int pl_pg_member_role_set(pl_db_t *d, int64_t room_id, int64_t user_id, int role)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, role);
    return CHANGED(PG_DB(d), ST_ROLE_SET, &a, true, "member_role_set");
}

int pl_pg_member_mute_set(pl_db_t *d, int64_t room_id, int64_t user_id, int64_t until_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, until_ms);
    return CHANGED(PG_DB(d), ST_MUTE_SET, &a, false, "member_mute_set");
}

int pl_pg_room_role_count(pl_db_t *d, int64_t room_id, int role, int64_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, role);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_ROLE_COUNT, &a, "room_role_count", &r);
    if (rc != 0)
        return rc == PL_ENOTFOUND ? pl_pg__fail(PG_DB(d), "room_role_count", NULL) : rc;
    *n = pl_pg__i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int pl_pg_room_mods(pl_db_t *d, int64_t room_id, int64_t now_ms, pl_member_mod_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    if (room_id > 0)
        pl_pg__int(&a, room_id);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), room_id > 0 ? ST_ROOM_MODS : ST_ALL_MUTES, &a, false, "room_mods", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_member_mod_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].room_id = pl_pg__i64(r, i, 0);
        v[i].user_id = pl_pg__i64(r, i, 1);
        v[i].role = (int)pl_pg__i64(r, i, 2);
        v[i].muted_until = pl_pg__i64(r, i, 3);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_ban_put(pl_db_t *d, const pl_ban_t *b)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, b->room_id);
    pl_pg__int(&a, b->user_id);
    pl_pg__int(&a, b->by);
    pl_pg__text(&a, b->reason);
    pl_pg__int(&a, b->created_ms);
    return RUN(PG_DB(d), ST_BAN_PUT, &a, true, "ban_put", NULL);
}

int pl_pg_ban_delete(pl_db_t *d, int64_t room_id, int64_t user_id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    return CHANGED(PG_DB(d), ST_BAN_DELETE, &a, false, "ban_delete");
}

int pl_pg_ban_get(pl_db_t *d, int64_t room_id, int64_t user_id, bool *banned)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_BAN_GET, &a, "ban_get", &r);
    if (rc == 0 || rc == PL_ENOTFOUND) {
        *banned = rc == 0;
        PQclear(r);
        return 0;
    }
    return rc;
}

int pl_pg_bans(pl_db_t *d, int64_t room_id, int64_t limit, pl_ban_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_BANS, &a, false, "bans", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_ban_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].room_id = pl_pg__i64(r, i, 0);
        v[i].user_id = pl_pg__i64(r, i, 1);
        v[i].by = pl_pg__i64(r, i, 2);
        v[i].reason = pl_pg__str(r, i, 3);
        v[i].created_ms = pl_pg__i64(r, i, 4);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_audit_add(pl_db_t *d, const pl_audit_t *e)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, e->ts);
    pl_pg__int(&a, e->room_id);
    pl_pg__int(&a, e->actor);
    pl_pg__text(&a, e->action);
    pl_pg__int(&a, e->target);
    pl_pg__text(&a, e->reason);
    pl_pg__text(&a, e->detail);
    return RUN(PG_DB(d), ST_AUDIT_ADD, &a, false, "audit_add", NULL);
}

int pl_pg_audit_list(pl_db_t *d, int64_t room_id, int64_t before, int64_t limit, pl_audit_t **out,
                     size_t *n)
{
    pl_pg_args_t a = {0};
    if (room_id > 0)
        pl_pg__int(&a, room_id);
    pl_pg__int(&a, before > 0 ? before : INT64_MAX);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), room_id > 0 ? ST_AUDIT_ROOM : ST_AUDIT_ALL, &a, false, "audit_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_audit_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].id = pl_pg__i64(r, i, 0);
        v[i].ts = pl_pg__i64(r, i, 1);
        v[i].room_id = pl_pg__i64(r, i, 2);
        v[i].actor = pl_pg__i64(r, i, 3);
        v[i].action = pl_pg__str(r, i, 4);
        v[i].target = pl_pg__i64(r, i, 5);
        v[i].reason = pl_pg__str(r, i, 6);
        v[i].detail = pl_pg__str(r, i, 7);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_user_admin_get(pl_db_t *d, int64_t user_id, bool *admin)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_ADMIN_GET, &a, "user_admin_get", &r);
    if (rc == 0 || rc == PL_ENOTFOUND) {
        *admin = rc == 0 && pl_pg__b(r, 0, 0);
        PQclear(r);
        return 0;
    }
    return rc;
}

int pl_pg_user_admin_set(pl_db_t *d, int64_t user_id, bool admin)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__bool(&a, admin);
    return CHANGED(PG_DB(d), ST_ADMIN_SET, &a, false, "user_admin_set");
}

int pl_pg_tombstone_set(pl_db_t *d, int64_t room_id, int64_t seq, const char *content)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, seq);
    pl_pg__text(&a, content);
    return CHANGED(PG_DB(d), ST_TOMBSTONE_SET, &a, false, "tombstone_set");
}
