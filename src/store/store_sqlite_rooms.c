/* SPDX-License-Identifier: MIT */
/* store_sqlite_rooms.c -- rooms (groups and dms), membership, read
 * and delivery markers (receipts), room settings. */
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
    ST_ROOM_INSERT,
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

static const char *const sql[ST__COUNT] = {
    [ST_ROOM_INSERT] = "INSERT INTO rooms(kind, name, dm_key, created_ms) VALUES (?1, ?2, ?3, ?4)",
    [ST_ROOM_BY_DM_KEY] = "SELECT id FROM rooms WHERE dm_key = ?1",
    [ST_ROOM_GET] = "SELECT id, kind, name, last_seq, created_ms, last_version, "
                    "disappearing_ms, avatar FROM rooms WHERE id = ?1",
    [ST_MEMBER_INSERT] = "INSERT INTO members(room_id, user_id, joined_ms) VALUES (?1, ?2, ?3)",
    [ST_MEMBER_INSERT_OR_IGNORE] = "INSERT OR IGNORE INTO members(room_id, user_id, joined_ms) "
                                   "VALUES (?1, ?2, ?3)",
    [ST_MEMBER_DELETE] = "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
    [ST_MEMBER_EXISTS] = "SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2",
    [ST_ROOM_MEMBERS] = "SELECT user_id FROM members WHERE room_id = ?1 ORDER BY user_id",
    [ST_ROOM_MEMBER_COUNT] = "SELECT count(*) FROM members WHERE room_id = ?1",
    /* Unread uses the (room_id, seq) index for the range and reads each row
     * only to skip the user's own messages. */
    [ST_USER_ROOMS] = "SELECT r.id, r.kind, r.name, r.last_seq, r.created_ms, r.last_version, "
                      "r.disappearing_ms, r.avatar, m.read_seq, "
                      "(SELECT count(*) FROM messages g WHERE g.room_id = r.id "
                      "AND g.seq > m.read_seq AND g.sender <> m.user_id AND g.deleted = 0), "
                      /* user_id 0 is @room; a message mentioning both counts once */
                      "(SELECT count(DISTINCT x.seq) FROM mentions x WHERE x.room_id = r.id "
                      "AND x.user_id IN (0, m.user_id) AND x.seq > m.read_seq "
                      "AND x.sender <> m.user_id) "
                      "FROM members m JOIN rooms r ON r.id = m.room_id "
                      "WHERE m.user_id = ?1 ORDER BY r.id",
    [ST_EACH_ROOM] = "SELECT id, kind, name, last_seq, created_ms, last_version, "
                     "disappearing_ms, avatar FROM rooms ORDER BY id",
    [ST_EACH_MEMBER] = "SELECT room_id, user_id, read_seq FROM members ORDER BY room_id, user_id",
    [ST_ROOM_SET_DISAPPEARING] = "UPDATE rooms SET disappearing_ms = ?2 WHERE id = ?1",
    [ST_ROOM_SET_META] = "UPDATE rooms SET name = coalesce(?2, name), "
                         "avatar = CASE WHEN ?3 < 0 THEN avatar ELSE ?3 END WHERE id = ?1",
    [ST_MEMBER_GET_RECEIPT] =
        "SELECT m.read_seq, m.read_ts, m.delivered_seq, m.delivered_ts, r.last_seq, "
        "coalesce(json_extract(u.settings, '$.read_receipts'), 1) FROM members m "
        "JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.user_id "
        "WHERE m.room_id = ?1 AND m.user_id = ?2",
    [ST_MEMBER_SET_RECEIPT] = "UPDATE members SET read_seq = ?3, read_ts = ?4, "
                              "delivered_seq = ?5, delivered_ts = ?6 "
                              "WHERE room_id = ?1 AND user_id = ?2",
    [ST_ROOM_RECEIPTS] =
        "SELECT m.user_id, m.read_seq, m.read_ts, m.delivered_seq, "
        "m.delivered_ts, coalesce(json_extract(u.settings, "
        "'$.read_receipts'), 1) FROM members m JOIN users u ON u.id = "
        "m.user_id WHERE m.room_id = ?1 AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_room_dispose(pl_room_t *r)
{
    if (r == NULL)
        return;
    free(r->name);
    r->name = NULL;
}

static int room_insert(pl_db_t *db, pl_room_kind_t kind, const char *name, const char *dm_key,
                       int64_t now_ms, int64_t *room_id)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int(s, 1, (int)kind);
    pl_store__bind_text(s, 2, name);
    if (dm_key != NULL)
        pl_store__bind_text(s, 3, dm_key);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = pl_store__step_done(db, s, "room_insert");
    if (rc == 0)
        *room_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static int member_insert(pl_db_t *db, int id, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    return pl_store__step_done(db, s, "member_add");
}

int pl_sq_room_create_group(pl_db_t *db, const char *name, int64_t creator, const int64_t *members,
                            size_t n, int64_t now_ms, int64_t *room_id)
{
    int rc = pl_store__fn_begin(db);
    if (rc != 0)
        return rc;
    int64_t rid = 0;
    rc = room_insert(db, PL_ROOM_GROUP, name, NULL, now_ms, &rid);
    if (rc == 0)
        rc = member_insert(db, ST_MEMBER_INSERT, rid, creator, now_ms);
    /* OR IGNORE: a repeated id or the creator in the list is harmless. Unknown
     * users still fail (foreign keys are not subject to OR IGNORE). */
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, members[i], now_ms);
    rc = pl_store__fn_end(db, rc);
    if (rc == 0)
        *room_id = rid;
    return rc;
}

int pl_sq_room_get_or_create_dm(pl_db_t *db, int64_t a, int64_t b, int64_t now_ms, int64_t *room_id,
                                bool *created)
{
    /* One key per unordered pair, so (a,b) and (b,a) meet in the same row and
     * the UNIQUE constraint makes a second creation impossible. */
    char key[48];
    snprintf(key, sizeof key, "%" PRId64 ":%" PRId64, PL_MIN(a, b), PL_MAX(a, b));
    sqlite3_stmt *s = STMT(db, ST_ROOM_BY_DM_KEY);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    int64_t rid = 0;
    if (rc == SQLITE_ROW) {
        rid = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "dm_lookup");
    }
    pl_store__stmt_done(s);
    if (rc == 0) {
        *room_id = rid;
        *created = false;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;

    if ((rc = pl_store__fn_begin(db)) != 0)
        return rc;
    rc = room_insert(db, PL_ROOM_DM, "", key, now_ms, &rid);
    if (rc == 0)
        rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, a, now_ms);
    if (rc == 0)
        rc = member_insert(db, ST_MEMBER_INSERT_OR_IGNORE, rid, b, now_ms);
    if ((rc = pl_store__fn_end(db, rc)) != 0)
        return rc;
    *room_id = rid;
    *created = true;
    return 0;
}

static void room_from_row(sqlite3_stmt *s, pl_room_t *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->kind = (pl_room_kind_t)sqlite3_column_int(s, 1);
    r->name = pl_store__col_str(s, 2);
    r->last_seq = sqlite3_column_int64(s, 3);
    r->created_ms = sqlite3_column_int64(s, 4);
    r->last_version = sqlite3_column_int64(s, 5);
    r->disappearing_ms = sqlite3_column_int64(s, 6);
    r->avatar = sqlite3_column_int64(s, 7);
}

int pl_sq_room_get(pl_db_t *db, int64_t room_id, pl_room_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        room_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "room_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_member_add(pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms)
{
    return member_insert(db, ST_MEMBER_INSERT, room_id, user_id, now_ms);
}

int pl_sq_member_remove(pl_db_t *db, int64_t room_id, int64_t user_id)
{
    sqlite3_stmt *s = STMT(db, ST_MEMBER_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = pl_store__step_done(db, s, "member_remove");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_room_is_member(pl_db_t *db, int64_t room_id, int64_t user_id, bool *is_member)
{
    sqlite3_stmt *s = STMT(db, ST_MEMBER_EXISTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = sqlite3_step(s);
    bool found = rc == SQLITE_ROW;
    rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : pl_store__fail(db, "is_member");
    pl_store__stmt_done(s);
    if (rc == 0)
        *is_member = found;
    return rc;
}

int pl_sq_room_member_count(pl_db_t *db, int64_t room_id, int64_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_MEMBER_COUNT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = pl_store__fail(db, "room_member_count");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_room_members(pl_db_t *db, int64_t room_id, int64_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_MEMBERS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    pl_rows_t r = PL_ROWS(int64_t, pl_store__row_id, NULL);
    int rc = pl_store__collect(db, s, "room_members", &r);
    if (rc == 0 && r.n == 0) {
        /* Tell an empty room from a missing one. */
        pl_room_t room;
        if ((rc = pl_sq_room_get(db, room_id, &room)) == 0)
            pl_room_dispose(&room);
    }
    if (rc != 0) {
        free(r.v);
        return rc;
    }
    *out = r.v;
    *n = r.n;
    return 0;
}

static void summary_read(sqlite3_stmt *s, void *elem)
{
    pl_room_summary_t *v = elem;
    room_from_row(s, &v->room);
    v->read_seq = sqlite3_column_int64(s, 8);
    v->unread = sqlite3_column_int64(s, 9);
    v->mentions = sqlite3_column_int64(s, 10);
}

static void summary_dispose(void *elem)
{
    pl_room_dispose(&((pl_room_summary_t *)elem)->room);
}

int pl_sq_user_rooms(pl_db_t *db, int64_t user_id, pl_room_summary_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_USER_ROOMS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_rows_t r = PL_ROWS(pl_room_summary_t, summary_read, summary_dispose);
    int rc = pl_store__collect(db, s, "user_rooms", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_each_room(pl_db_t *db, int (*cb)(void *arg, const pl_room_t *r), void *arg)
{
    sqlite3_stmt *s = STMT(db, ST_EACH_ROOM);
    if (s == NULL)
        return PL_EIO;
    int rc = SQLITE_DONE, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        pl_room_t r;
        room_from_row(s, &r);
        stop = cb(arg, &r);
        pl_room_dispose(&r);
    }
    rc = stop != 0 ? stop : rc == SQLITE_DONE ? 0 : pl_store__fail(db, "each_room");
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_each_member(pl_db_t *db, int (*cb)(void *arg, const pl_member_t *m), void *arg)
{
    sqlite3_stmt *s = STMT(db, ST_EACH_MEMBER);
    if (s == NULL)
        return PL_EIO;
    int rc = SQLITE_DONE, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        pl_member_t m = {
            .room_id = sqlite3_column_int64(s, 0),
            .user_id = sqlite3_column_int64(s, 1),
            .read_seq = sqlite3_column_int64(s, 2),
        };
        stop = cb(arg, &m);
    }
    rc = stop != 0 ? stop : rc == SQLITE_DONE ? 0 : pl_store__fail(db, "each_member");
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_room_set_disappearing(pl_db_t *db, int64_t room_id, int64_t ms)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_SET_DISAPPEARING);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, ms);
    int rc = pl_store__step_done(db, s, "room_set_disappearing");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_room_set_meta(pl_db_t *db, int64_t room_id, const char *name, int64_t avatar)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_SET_META);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    if (name != NULL)
        pl_store__bind_text(s, 2, name);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_int64(s, 3, avatar);
    int rc = pl_store__step_done(db, s, "room_set_meta");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_member_mark(pl_db_t *db, int64_t room_id, int64_t user_id, bool read, int64_t seq,
                      int64_t now_ms, bool *changed, pl_receipt_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_MEMBER_GET_RECEIPT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, user_id);
    pl_receipt_t r = {.user_id = user_id};
    int64_t last = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r.read_seq = sqlite3_column_int64(s, 0);
        r.read_ts = sqlite3_column_int64(s, 1);
        r.delivered_seq = sqlite3_column_int64(s, 2);
        r.delivered_ts = sqlite3_column_int64(s, 3);
        last = sqlite3_column_int64(s, 4);
        r.read_receipts = sqlite3_column_int(s, 5) != 0;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "member_receipt");
    }
    pl_store__stmt_done(s);
    if (rc != 0)
        return rc;
    /* Markers only move forward and never past the room's last message. */
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
        if ((s = STMT(db, ST_MEMBER_SET_RECEIPT)) == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, room_id);
        sqlite3_bind_int64(s, 2, user_id);
        sqlite3_bind_int64(s, 3, r.read_seq);
        sqlite3_bind_int64(s, 4, r.read_ts);
        sqlite3_bind_int64(s, 5, r.delivered_seq);
        sqlite3_bind_int64(s, 6, r.delivered_ts);
        if ((rc = pl_store__step_done(db, s, "member_set_receipt")) != 0)
            return rc;
    }
    *changed = moved;
    *out = r;
    return 0;
}

static void receipt_read(sqlite3_stmt *s, void *elem)
{
    pl_receipt_t *v = elem;
    v->user_id = sqlite3_column_int64(s, 0);
    v->read_seq = sqlite3_column_int64(s, 1);
    v->read_ts = sqlite3_column_int64(s, 2);
    v->delivered_seq = sqlite3_column_int64(s, 3);
    v->delivered_ts = sqlite3_column_int64(s, 4);
    v->read_receipts = sqlite3_column_int(s, 5) != 0;
}

int pl_sq_room_receipts(pl_db_t *db, int64_t room_id, int64_t after, size_t limit,
                        pl_receipt_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_RECEIPTS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)limit);
    pl_rows_t r = PL_ROWS(pl_receipt_t, receipt_read, NULL);
    int rc = pl_store__collect(db, s, "room_receipts", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}
