/* SPDX-License-Identifier: MIT */
/* store_pg_rooms.c -- rooms, membership, read markers and receipts on
 * PostgreSQL (see store_sqlite_rooms.c). */
#include "store/store_pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_ROOM_INSERT,
    ST_DM_INSERT,
    ST_ROOM_BY_DM_KEY,
    ST_ROOM_GET,
    ST_MEMBER_INSERT,
    ST_MEMBER_INSERT_OR_IGNORE,
    ST_MEMBER_DELETE,
    ST_MEMBER_EXISTS,
    ST_ROOM_MEMBERS,
    ST_ROOM_MEMBER_COUNT,
    ST_USER_ROOMS,
    ST_EACH_ROOM,
    ST_EACH_MEMBER,
    ST_ROOM_SET_DISAPPEARING,
    ST_ROOM_SET_META,
    ST_MEMBER_GET_RECEIPT,
    ST_MEMBER_SET_RECEIPT,
    ST_ROOM_RECEIPTS,
    ST__COUNT
};

#define ROOM_COLS "id, kind, name, last_seq, created_ms, last_version, disappearing_ms, avatar"
/* The read_receipts setting, on unless set to false (SQLite: coalesce(json_extract, 1)). */
#define READ_RECEIPTS_SETTING                                                                      \
    "CASE jsonb_typeof(u.settings::jsonb -> 'read_receipts') "                                     \
    "WHEN 'boolean' THEN (u.settings::jsonb -> 'read_receipts')::boolean "                         \
    "WHEN 'number' THEN (u.settings::jsonb ->> 'read_receipts')::numeric <> 0 ELSE true END"

static const char *const sql[ST__COUNT] = {
    [ST_ROOM_INSERT] = "INSERT INTO rooms(kind, name, created_ms) VALUES ($1, $2, $3) RETURNING id",
    /* Two nodes creating one dm at once: the second waits for the first's
     * COMMIT, inserts nothing and reads the first's row. */
    [ST_DM_INSERT] = "INSERT INTO rooms(kind, name, dm_key, created_ms) VALUES (1, '', $1, $2) "
                     "ON CONFLICT (dm_key) DO NOTHING RETURNING id",
    [ST_ROOM_BY_DM_KEY] = "SELECT id FROM rooms WHERE dm_key = $1",
    [ST_ROOM_GET] = "SELECT " ROOM_COLS " FROM rooms WHERE id = $1",
    [ST_MEMBER_INSERT] = "INSERT INTO members(room_id, user_id, joined_ms) VALUES ($1, $2, $3)",
    [ST_MEMBER_INSERT_OR_IGNORE] = "INSERT INTO members(room_id, user_id, joined_ms) "
                                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [ST_MEMBER_DELETE] = "DELETE FROM members WHERE room_id = $1 AND user_id = $2",
    [ST_MEMBER_EXISTS] = "SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2",
    [ST_ROOM_MEMBERS] = "SELECT user_id FROM members WHERE room_id = $1 ORDER BY user_id",
    [ST_ROOM_MEMBER_COUNT] = "SELECT count(*) FROM members WHERE room_id = $1",
    [ST_USER_ROOMS] = "SELECT r.id, r.kind, r.name, r.last_seq, r.created_ms, r.last_version, "
                      "r.disappearing_ms, r.avatar, m.read_seq, "
                      "(SELECT count(*) FROM messages g WHERE g.room_id = r.id "
                      "AND g.seq > m.read_seq AND g.sender <> m.user_id AND NOT g.deleted), "
                      "(SELECT count(DISTINCT x.seq) FROM mentions x WHERE x.room_id = r.id "
                      "AND x.user_id IN (0, m.user_id) AND x.seq > m.read_seq "
                      "AND x.sender <> m.user_id) "
                      "FROM members m JOIN rooms r ON r.id = m.room_id "
                      "WHERE m.user_id = $1 ORDER BY r.id",
    [ST_EACH_ROOM] = "SELECT " ROOM_COLS " FROM rooms ORDER BY id",
    [ST_EACH_MEMBER] = "SELECT room_id, user_id, read_seq FROM members ORDER BY room_id, user_id",
    [ST_ROOM_SET_DISAPPEARING] = "UPDATE rooms SET disappearing_ms = $2 WHERE id = $1",
    [ST_ROOM_SET_META] = "UPDATE rooms SET name = coalesce($2, name), "
                         "avatar = CASE WHEN $3::bigint < 0 THEN avatar ELSE $3::bigint END "
                         "WHERE id = $1",
    [ST_MEMBER_GET_RECEIPT] =
        "SELECT m.read_seq, m.read_ts, m.delivered_seq, m.delivered_ts, r.last_seq, "
        "" READ_RECEIPTS_SETTING " FROM members m "
        "JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = $1 AND m.user_id = $2",
    [ST_MEMBER_SET_RECEIPT] = "UPDATE members SET read_seq = $3, read_ts = $4, "
                              "delivered_seq = $5, delivered_ts = $6 "
                              "WHERE room_id = $1 AND user_id = $2",
    [ST_ROOM_RECEIPTS] = "SELECT m.user_id, m.read_seq, m.read_ts, m.delivered_seq, "
                         "m.delivered_ts, " READ_RECEIPTS_SETTING " FROM members m JOIN users u "
                         "ON u.id = m.user_id WHERE m.room_id = $1 AND m.user_id > $2 "
                         "ORDER BY m.user_id LIMIT $3",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, guard, op, res) pl_pg__one((db), &stmts, (id), (a), (guard), (op), (res))

static int member_insert(pl_pg_db_t *db, int id, int64_t room_id, int64_t user_id, int64_t now_ms,
                         bool guard)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    return RUN(db, id, &a, guard, "member_add", NULL);
}

int pl_pg_room_create_group(pl_db_t *d, const char *name, int64_t creator, const int64_t *members,
                            size_t n, int64_t now_ms, int64_t *room_id)
{
    pl_pg_db_t *db = PG_DB(d);
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    /* Inside the function's savepoint a failed statement needs no guard: the
     * savepoint's rollback undoes it. */
    pl_pg_args_t a = {0};
    pl_pg__int(&a, PL_ROOM_GROUP);
    pl_pg__text(&a, name);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int64_t rid = 0;
    if ((rc = ONE(db, ST_ROOM_INSERT, &a, false, "room_insert", &r)) == 0) {
        rid = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    if (rc == 0)
        rc = member_insert(db, ST_MEMBER_INSERT, rid, creator, now_ms, false);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, members[i], now_ms, false);
    rc = pl_pg__fn_end(db, rc);
    if (rc == 0)
        *room_id = rid;
    return rc;
}

static int dm_lookup(pl_pg_db_t *db, const char *key, int64_t *rid)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, key);
    PGresult *r = NULL;
    int rc = ONE(db, ST_ROOM_BY_DM_KEY, &a, false, "dm_lookup", &r);
    if (rc == 0) {
        *rid = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_room_get_or_create_dm(pl_db_t *d, int64_t a, int64_t b, int64_t now_ms, int64_t *room_id,
                                bool *created)
{
    pl_pg_db_t *db = PG_DB(d);
    char key[48];
    snprintf(key, sizeof key, "%" PRId64 ":%" PRId64, PL_MIN(a, b), PL_MAX(a, b));
    int64_t rid = 0;
    int rc = dm_lookup(db, key, &rid);
    if (rc == 0) {
        *room_id = rid;
        *created = false;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    if ((rc = pl_pg__fn_begin(db)) != 0)
        return rc;
    pl_pg_args_t args = {0};
    pl_pg__text(&args, key);
    pl_pg__int(&args, now_ms);
    PGresult *r = NULL;
    bool made = false;
    rc = ONE(db, ST_DM_INSERT, &args, false, "dm_insert", &r);
    if (rc == 0) {
        rid = pl_pg__i64(r, 0, 0);
        PQclear(r);
        made = true;
        rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, a, now_ms, false);
        if (rc == 0)
            rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, b, now_ms, false);
    } else if (rc == PL_ENOTFOUND) { /* another node made it meanwhile */
        rc = dm_lookup(db, key, &rid);
    }
    if ((rc = pl_pg__fn_end(db, rc)) != 0)
        return rc;
    *room_id = rid;
    *created = made;
    return 0;
}

static void room_from_row(const PGresult *r, int i, pl_room_t *out)
{
    out->id = pl_pg__i64(r, i, 0);
    out->kind = (pl_room_kind_t)pl_pg__i64(r, i, 1);
    out->name = pl_pg__str(r, i, 2);
    out->last_seq = pl_pg__i64(r, i, 3);
    out->created_ms = pl_pg__i64(r, i, 4);
    out->last_version = pl_pg__i64(r, i, 5);
    out->disappearing_ms = pl_pg__i64(r, i, 6);
    out->avatar = pl_pg__i64(r, i, 7);
}

int pl_pg_room_get(pl_db_t *d, int64_t room_id, pl_room_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_ROOM_GET, &a, false, "room_get", &r);
    if (rc == 0) {
        room_from_row(r, 0, out);
        PQclear(r);
    }
    return rc;
}

int pl_pg_member_add(pl_db_t *d, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    return member_insert(PG_DB(d), ST_MEMBER_INSERT, room_id, user_id, now_ms, true);
}

int pl_pg_member_remove(pl_db_t *d, int64_t room_id, int64_t user_id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    return pl_pg__changed(PG_DB(d), &stmts, ST_MEMBER_DELETE, &a, false, "member_remove");
}

int pl_pg_room_is_member(pl_db_t *d, int64_t room_id, int64_t user_id, bool *is_member)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_MEMBER_EXISTS, &a, false, "is_member", &r);
    if (rc == 0) {
        *is_member = PQntuples(r) > 0;
        PQclear(r);
    }
    return rc;
}

int pl_pg_room_member_count(pl_db_t *d, int64_t room_id, int64_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_ROOM_MEMBER_COUNT, &a, false, "room_member_count", &r);
    if (rc == 0) {
        *n = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_room_members(pl_db_t *d, int64_t room_id, int64_t **out, size_t *n)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = RUN(db, ST_ROOM_MEMBERS, &a, false, "room_members", &r);
    if (rc != 0)
        return rc;
    int64_t *v = NULL;
    size_t len = 0;
    pl_pg__ids(r, &v, &len);
    PQclear(r);
    if (len == 0) { /* tell an empty room from a missing one */
        pl_room_t room;
        if ((rc = pl_pg_room_get(d, room_id, &room)) != 0)
            return rc;
        pl_room_dispose(&room);
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_pg_user_rooms(pl_db_t *d, int64_t user_id, pl_room_summary_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_USER_ROOMS, &a, false, "user_rooms", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_room_summary_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        room_from_row(r, i, &v[i].room);
        v[i].read_seq = pl_pg__i64(r, i, 8);
        v[i].unread = pl_pg__i64(r, i, 9);
        v[i].mentions = pl_pg__i64(r, i, 10);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_each_room(pl_db_t *d, int (*cb)(void *arg, const pl_room_t *r), void *arg)
{
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_EACH_ROOM, NULL, false, "each_room", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    for (int i = 0; rc == 0 && i < rows; i++) {
        pl_room_t room;
        room_from_row(r, i, &room);
        rc = cb(arg, &room);
        pl_room_dispose(&room);
    }
    PQclear(r);
    return rc;
}

int pl_pg_each_member(pl_db_t *d, int (*cb)(void *arg, const pl_member_t *m), void *arg)
{
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_EACH_MEMBER, NULL, false, "each_member", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    for (int i = 0; rc == 0 && i < rows; i++) {
        pl_member_t m = {
            .room_id = pl_pg__i64(r, i, 0),
            .user_id = pl_pg__i64(r, i, 1),
            .read_seq = pl_pg__i64(r, i, 2),
        };
        rc = cb(arg, &m);
    }
    PQclear(r);
    return rc;
}

int pl_pg_room_set_disappearing(pl_db_t *d, int64_t room_id, int64_t ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, ms);
    return pl_pg__changed(PG_DB(d), &stmts, ST_ROOM_SET_DISAPPEARING, &a, false,
                          "room_set_disappearing");
}

int pl_pg_room_set_meta(pl_db_t *d, int64_t room_id, const char *name, int64_t avatar)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    if (name != NULL)
        pl_pg__text(&a, name);
    else
        pl_pg__null(&a);
    pl_pg__int(&a, avatar);
    return pl_pg__changed(PG_DB(d), &stmts, ST_ROOM_SET_META, &a, false, "room_set_meta");
}

int pl_pg_member_mark(pl_db_t *d, int64_t room_id, int64_t user_id, bool read, int64_t seq,
                      int64_t now_ms, bool *changed, pl_receipt_t *out)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, user_id);
    PGresult *res = NULL;
    int rc = ONE(db, ST_MEMBER_GET_RECEIPT, &a, false, "member_receipt", &res);
    if (rc != 0)
        return rc;
    pl_receipt_t r = {.user_id = user_id};
    r.read_seq = pl_pg__i64(res, 0, 0);
    r.read_ts = pl_pg__i64(res, 0, 1);
    r.delivered_seq = pl_pg__i64(res, 0, 2);
    r.delivered_ts = pl_pg__i64(res, 0, 3);
    int64_t last = pl_pg__i64(res, 0, 4);
    r.read_receipts = pl_pg__b(res, 0, 5);
    PQclear(res);
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
        pl_pg_args_t u = {0};
        pl_pg__int(&u, room_id);
        pl_pg__int(&u, user_id);
        pl_pg__int(&u, r.read_seq);
        pl_pg__int(&u, r.read_ts);
        pl_pg__int(&u, r.delivered_seq);
        pl_pg__int(&u, r.delivered_ts);
        if ((rc = RUN(db, ST_MEMBER_SET_RECEIPT, &u, false, "member_set_receipt", NULL)) != 0)
            return rc;
    }
    *changed = moved;
    *out = r;
    return 0;
}

int pl_pg_room_receipts(pl_db_t *d, int64_t room_id, int64_t after, size_t limit,
                        pl_receipt_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, after);
    pl_pg__int(&a, (int64_t)limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_ROOM_RECEIPTS, &a, false, "room_receipts", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_receipt_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].user_id = pl_pg__i64(r, i, 0);
        v[i].read_seq = pl_pg__i64(r, i, 1);
        v[i].read_ts = pl_pg__i64(r, i, 2);
        v[i].delivered_seq = pl_pg__i64(r, i, 3);
        v[i].delivered_ts = pl_pg__i64(r, i, 4);
        v[i].read_receipts = pl_pg__b(r, i, 5);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}
