/* SPDX-License-Identifier: MIT */
/* store_sqlite_invite.c -- pending invitations to groups and the
 * contact test of the `group_add` privacy setting. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_internal.h"

/* The statements of this file (see pl_sql_table_t). */
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
                      " WHERE room_id = ?1 AND user_id = ?2 AND expires_ms > ?3",
    [ST_INVITE_COUNTS] =
        "SELECT (SELECT count(*) FROM invites WHERE room_id = ?1 AND expires_ms > ?3),"
        " (SELECT count(*) FROM invites WHERE user_id = ?2 AND expires_ms > ?3)",
    [ST_INVITE_PUT] = "INSERT INTO invites(room_id, user_id, inviter, created_ms, expires_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)"
                      " ON CONFLICT (room_id, user_id) DO UPDATE SET inviter = excluded.inviter,"
                      " created_ms = excluded.created_ms, expires_ms = excluded.expires_ms"
                      " WHERE invites.expires_ms <= excluded.created_ms",
    [ST_INVITE_DELETE] = "DELETE FROM invites WHERE room_id = ?1 AND user_id = ?2"
                         " RETURNING expires_ms > ?3",
    [ST_INVITES_WITHDRAW] = "DELETE FROM invites WHERE inviter = ?2 AND room_id = ?1"
                            " RETURNING CASE WHEN expires_ms > ?3 THEN user_id END",
    [ST_USER_INVITES] =
        "SELECT i.room_id, i.inviter, i.created_ms, i.expires_ms, r.name, r.avatar,"
        " (SELECT count(*) FROM members m WHERE m.room_id = i.room_id),"
        " u.username, u.display_name"
        " FROM invites i JOIN rooms r ON r.id = i.room_id JOIN users u ON u.id = i.inviter"
        " WHERE i.user_id = ?1 AND i.expires_ms > ?2"
        " ORDER BY i.created_ms DESC, i.room_id DESC LIMIT ?3",
    [ST_INVITES_PURGE] = "DELETE FROM invites WHERE (room_id, user_id) IN"
                         " (SELECT room_id, user_id FROM invites WHERE expires_ms <= ?1"
                         " ORDER BY expires_ms LIMIT ?2)",
    [ST_IS_CONTACT] = "SELECT EXISTS (SELECT 1 FROM members a"
                      " JOIN members b ON b.room_id = a.room_id AND b.user_id = ?2"
                      " JOIN rooms r ON r.id = a.room_id"
                      " WHERE a.user_id = ?1 AND a.room_id <> ?3 AND (r.kind = 2 OR EXISTS"
                      " (SELECT 1 FROM messages x WHERE x.room_id = r.id"
                      " AND x.seq > r.last_seq - ?4 AND x.sender = ?1)))",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_invites_free(pl_invite_t *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].room_name);
        free(v[i].inviter_username);
        free(v[i].inviter_display_name);
    }
    free(v);
}

/* Finalizes a statement that returned no row (pl_store__step_error's
 * answers for a failed step). */
static int finish(pl_db_t *db, sqlite3_stmt *s, int step, const char *op)
{
    int rc = step == SQLITE_DONE ? 0 : pl_store__step_error(db, op);
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_invite_get(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms,
                     pl_invite_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_INVITE_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->room_id = room_id;
        out->user_id = user_id;
        out->inviter = sqlite3_column_int64(s, 0);
        out->created_ms = sqlite3_column_int64(s, 1);
        out->expires_ms = sqlite3_column_int64(s, 2);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "invite_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_invite_counts(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms,
                        int64_t *for_room, int64_t *for_user)
{
    /* The first count scans the room's primary-key range, the second the
     * invitee's invites_user range; both stay small (they are capped). */
    sqlite3_stmt *s = STMT(db, ST_INVITE_COUNTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *for_room = sqlite3_column_int64(s, 0);
        *for_user = sqlite3_column_int64(s, 1);
        rc = 0;
    } else {
        rc = pl_store__fail(db, "invite_counts");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_invite_put(pl_db_t *db, const pl_invite_t *inv)
{
    /* The upsert replaces an expired row only: a live invitation keeps its
     * inviter and expiry, so inviting again cannot extend it. */
    sqlite3_stmt *s = STMT(db, ST_INVITE_PUT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, inv->room_id);
    sqlite3_bind_int64(s, 2, inv->user_id);
    sqlite3_bind_int64(s, 3, inv->inviter);
    sqlite3_bind_int64(s, 4, inv->created_ms);
    sqlite3_bind_int64(s, 5, inv->expires_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE && sqlite3_changes(db->h) == 0) {
        pl_store__stmt_done(s);
        return PL_EEXIST;
    }
    return finish(db, s, rc, "invite_put");
}

int pl_sq_invite_delete(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_INVITE_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    bool live = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        live |= sqlite3_column_int(s, 0) != 0;
    if ((rc = finish(db, s, rc, "invite_delete")) < 0)
        return rc;
    return live ? 0 : PL_ENOTFOUND;
}

int pl_sq_invites_withdraw(pl_db_t *db, int64_t room_id, int64_t inviter, int64_t now_ms,
                           int64_t **users, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_INVITES_WITHDRAW);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, inviter);
    sqlite3_bind_int64(s, 3, now_ms);
    /* A row is a deleted invitation; its user_id is NULL when it had
     * expired already (reads as 0 and is dropped). */
    pl_rows_t r = PL_ROWS(int64_t, pl_store__row_id, NULL);
    int rc = pl_store__collect(db, s, "invites_withdraw", &r);
    if (rc != 0)
        return rc;
    int64_t *ids = r.v;
    size_t k = 0;
    for (size_t i = 0; i < r.n; i++)
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

/* A row of ST_USER_INVITES (user_id is the caller's). */
static void invite_read(sqlite3_stmt *s, void *elem)
{
    pl_invite_t *e = elem;
    e->room_id = sqlite3_column_int64(s, 0);
    e->inviter = sqlite3_column_int64(s, 1);
    e->created_ms = sqlite3_column_int64(s, 2);
    e->expires_ms = sqlite3_column_int64(s, 3);
    e->room_name = pl_store__col_str(s, 4);
    e->room_avatar = sqlite3_column_int64(s, 5);
    e->member_count = sqlite3_column_int64(s, 6);
    e->inviter_username = pl_store__col_str(s, 7);
    e->inviter_display_name = pl_store__col_str(s, 8);
}

static void invite_dispose(void *elem)
{
    pl_invite_t *e = elem;
    free(e->room_name);
    free(e->inviter_username);
    free(e->inviter_display_name);
}

int pl_sq_user_invites(pl_db_t *db, int64_t user_id, int64_t now_ms, int64_t limit,
                       pl_invite_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_USER_INVITES);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, limit < 0 ? 0 : limit);
    pl_rows_t r = PL_ROWS(pl_invite_t, invite_read, invite_dispose);
    int rc = pl_store__collect(db, s, "user_invites", &r);
    if (rc != 0)
        return rc;
    pl_invite_t *v = r.v;
    for (size_t i = 0; i < r.n; i++)
        v[i].user_id = user_id;
    *out = v;
    *n = r.n;
    return 0;
}

int pl_sq_invites_purge(pl_db_t *db, int64_t now_ms, int64_t limit, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_INVITES_PURGE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int64(s, 2, limit < 0 ? 0 : limit);
    int rc = finish(db, s, sqlite3_step(s), "invites_purge");
    if (rc == 0 && n != NULL)
        *n = (size_t)sqlite3_changes(db->h);
    return rc;
}

int pl_sq_is_contact(pl_db_t *db, int64_t user, int64_t other, int64_t except_room, bool *out)
{
    /* From user's memberships (members_user), each a primary-key probe for
     * other. A dm counts only once user has written in it: opening a dm
     * needs no consent, so it must not make a stranger a contact. The window
     * bounds the probe to the dm's newest messages, whatever its length (an
     * old answer pushed out of it makes the check stricter, never looser). */
    sqlite3_stmt *s = STMT(db, ST_IS_CONTACT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user);
    sqlite3_bind_int64(s, 2, other);
    sqlite3_bind_int64(s, 3, except_room);
    sqlite3_bind_int64(s, 4, PL_CONTACT_DM_WINDOW);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0) != 0;
        rc = 0;
    } else {
        rc = pl_store__fail(db, "is_contact");
    }
    pl_store__stmt_done(s);
    return rc;
}
