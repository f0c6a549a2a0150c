/* SPDX-License-Identifier: MIT */
/* store_pg_invite.c -- invitations and the contact check on PostgreSQL
 * (see store_sqlite_invite.c). */
#include "store/store_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_INVITE_GET,
    ST_INVITE_COUNTS,
    ST_INVITE_PUT,
    ST_INVITE_DELETE,
    ST_INVITES_WITHDRAW,
    ST_USER_INVITES,
    ST_INVITES_PURGE,
    ST_IS_CONTACT,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_INVITE_GET] = "SELECT inviter, created_ms, expires_ms FROM invites"
                      " WHERE room_id = $1 AND user_id = $2 AND expires_ms > $3",
    [ST_INVITE_COUNTS] =
        "SELECT (SELECT count(*) FROM invites WHERE room_id = $1 AND expires_ms > $3),"
        " (SELECT count(*) FROM invites WHERE user_id = $2 AND expires_ms > $3)",
    [ST_INVITE_PUT] = "INSERT INTO invites(room_id, user_id, inviter, created_ms, expires_ms)"
                      " VALUES ($1, $2, $3, $4, $5)"
                      " ON CONFLICT (room_id, user_id) DO UPDATE SET inviter = excluded.inviter,"
                      " created_ms = excluded.created_ms, expires_ms = excluded.expires_ms"
                      " WHERE invites.expires_ms <= excluded.created_ms",
    [ST_INVITE_DELETE] = "DELETE FROM invites WHERE room_id = $1 AND user_id = $2"
                         " RETURNING expires_ms > $3",
    [ST_INVITES_WITHDRAW] = "DELETE FROM invites WHERE inviter = $2 AND room_id = $1"
                            " RETURNING CASE WHEN expires_ms > $3 THEN user_id END",
    [ST_USER_INVITES] =
        "SELECT i.room_id, i.inviter, i.created_ms, i.expires_ms, r.name, r.avatar,"
        " (SELECT count(*) FROM members m WHERE m.room_id = i.room_id),"
        " u.username, u.display_name"
        " FROM invites i JOIN rooms r ON r.id = i.room_id JOIN users u ON u.id = i.inviter"
        " WHERE i.user_id = $1 AND i.expires_ms > $2"
        " ORDER BY i.created_ms DESC, i.room_id DESC LIMIT $3",
    [ST_INVITES_PURGE] = "DELETE FROM invites WHERE (room_id, user_id) IN"
                         " (SELECT room_id, user_id FROM invites WHERE expires_ms <= $1"
                         " ORDER BY expires_ms LIMIT $2)",
    [ST_IS_CONTACT] = "SELECT EXISTS (SELECT 1 FROM members a"
                      " JOIN members b ON b.room_id = a.room_id AND b.user_id = $2"
                      " JOIN rooms r ON r.id = a.room_id"
                      " WHERE a.user_id = $1 AND a.room_id <> $3 AND (r.kind = 2 OR EXISTS"
                      " (SELECT 1 FROM messages x WHERE x.room_id = r.id"
                      " AND x.seq > r.last_seq - $4 AND x.sender = $1)))",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, op, res) pl_pg__one((db), &stmts, (id), (a), false, (op), (res))

int pl_pg_invite_get(pl_db_t *d, int64_t room_id, int64_t user_id, int64_t now_ms, pl_invite_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_INVITE_GET, &a, "invite_get", &r);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->room_id = room_id;
    out->user_id = user_id;
    out->inviter = pl_pg__i64(r, 0, 0);
    out->created_ms = pl_pg__i64(r, 0, 1);
    out->expires_ms = pl_pg__i64(r, 0, 2);
    PQclear(r);
    return 0;
}

int pl_pg_invite_counts(pl_db_t *d, int64_t room_id, int64_t user_id, int64_t now_ms,
                        int64_t *for_room, int64_t *for_user)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_INVITE_COUNTS, &a, "invite_counts", &r);
    if (rc != 0)
        return rc == PL_ENOTFOUND ? pl_pg__fail(PG_DB(d), "invite_counts", NULL) : rc;
    *for_room = pl_pg__i64(r, 0, 0);
    *for_user = pl_pg__i64(r, 0, 1);
    PQclear(r);
    return 0;
}

int pl_pg_invite_put(pl_db_t *d, const pl_invite_t *inv)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, inv->room_id);
    pl_pg__int(&a, inv->user_id);
    pl_pg__int(&a, inv->inviter);
    pl_pg__int(&a, inv->created_ms);
    pl_pg__int(&a, inv->expires_ms);
    int rc = pl_pg__changed(PG_DB(d), &stmts, ST_INVITE_PUT, &a, true, "invite_put");
    /* No row changed: a live invitation exists. A foreign-key miss comes
     * back as PL_ENOTFOUND from the guard instead: tell the two apart. */
    if (rc == PL_ENOTFOUND) {
        pl_invite_t cur;
        int g = pl_pg_invite_get(d, inv->room_id, inv->user_id, inv->created_ms, &cur);
        return g == 0 ? PL_EEXIST : g == PL_ENOTFOUND ? PL_ENOTFOUND : g;
    }
    return rc;
}

int pl_pg_invite_delete(pl_db_t *d, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_INVITE_DELETE, &a, false, "invite_delete", &r);
    if (rc != 0)
        return rc;
    bool live = false;
    for (int i = 0; i < PQntuples(r); i++)
        live |= pl_pg__b(r, i, 0);
    PQclear(r);
    return live ? 0 : PL_ENOTFOUND;
}

int pl_pg_invites_withdraw(pl_db_t *d, int64_t room_id, int64_t inviter, int64_t now_ms,
                           int64_t **users, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, inviter);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_INVITES_WITHDRAW, &a, false, "invites_withdraw", &r);
    if (rc != 0)
        return rc;
    int64_t *ids = NULL;
    size_t len = 0;
    pl_pg__ids(r, &ids, &len);
    PQclear(r);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (ids[i] != 0)
            ids[k++] = ids[i];
    if (k == 0) {
        free(ids);
        ids = NULL;
    }
    *users = ids;
    *n = k;
    return 0;
}

int pl_pg_user_invites(pl_db_t *d, int64_t user_id, int64_t now_ms, int64_t limit,
                       pl_invite_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_USER_INVITES, &a, false, "user_invites", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_invite_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].room_id = pl_pg__i64(r, i, 0);
        v[i].user_id = user_id;
        v[i].inviter = pl_pg__i64(r, i, 1);
        v[i].created_ms = pl_pg__i64(r, i, 2);
        v[i].expires_ms = pl_pg__i64(r, i, 3);
        v[i].room_name = pl_pg__str(r, i, 4);
        v[i].room_avatar = pl_pg__i64(r, i, 5);
        v[i].member_count = pl_pg__i64(r, i, 6);
        v[i].inviter_username = pl_pg__str(r, i, 7);
        v[i].inviter_display_name = pl_pg__str(r, i, 8);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_invites_purge(pl_db_t *d, int64_t now_ms, int64_t limit, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_INVITES_PURGE, &a, false, "invites_purge", &r);
    if (rc != 0)
        return rc;
    if (n != NULL)
        *n = (size_t)atoll(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

int pl_pg_is_contact(pl_db_t *d, int64_t user, int64_t other, int64_t except_room, bool *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user);
    pl_pg__int(&a, other);
    pl_pg__int(&a, except_room);
    pl_pg__int(&a, PL_CONTACT_DM_WINDOW);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_IS_CONTACT, &a, "is_contact", &r);
    if (rc != 0)
        return rc == PL_ENOTFOUND ? pl_pg__fail(PG_DB(d), "is_contact", NULL) : rc;
    *out = pl_pg__b(r, 0, 0);
    PQclear(r);
    return 0;
}
