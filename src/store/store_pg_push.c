/* SPDX-License-Identifier: MIT */
/* store_pg_push.c -- Web Push subscriptions and notification settings on
 * PostgreSQL (store.h, "Web Push"; schema step 4). The per-user bound is a
 * count then an upsert: two nodes subscribing for one user at the same
 * instant may pass it by one each, which the bound tolerates (it guards
 * against a flood, not a count). */
#include "store/store_pg_internal.h"

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
    [ST_COUNT_OTHERS] = "SELECT count(*) FROM push_subs WHERE user_id = $1 AND endpoint <> $2",
    [ST_PUT] = "INSERT INTO push_subs(user_id, device_id, endpoint, p256dh, auth, created_ms) "
               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(endpoint) DO UPDATE SET "
               "user_id = excluded.user_id, device_id = excluded.device_id, "
               "p256dh = excluded.p256dh, auth = excluded.auth, created_ms = excluded.created_ms "
               "RETURNING id",
    [ST_DELETE] = "DELETE FROM push_subs WHERE user_id = $1 AND endpoint = $2",
    [ST_DELETE_ID] = "DELETE FROM push_subs WHERE id = $1",
    [ST_SUBS] = "SELECT id, user_id, device_id, endpoint, p256dh, auth FROM push_subs "
                "WHERE user_id = $1 ORDER BY id",
    [ST_PREF_PUT] = "INSERT INTO push_prefs(user_id, " PREF_COLS ") "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(user_id, room_id) DO UPDATE "
                    "SET level = excluded.level, mute_until = excluded.mute_until, "
                    "content_free = excluded.content_free, dnd_start = excluded.dnd_start, "
                    "dnd_end = excluded.dnd_end",
    [ST_PREF_GET] = "SELECT " PREF_COLS " FROM push_prefs WHERE user_id = $1 AND room_id = $2",
    [ST_PREFS] = "SELECT " PREF_COLS " FROM push_prefs WHERE user_id = $1 ORDER BY room_id",
    [ST_ROOM_ALL] = "SELECT user_id FROM push_prefs WHERE room_id = $1 AND level = 1 "
                    "ORDER BY user_id",
    [ST_SUB_USERS] = "SELECT DISTINCT user_id FROM push_subs ORDER BY user_id",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))

int pl_pg_push_sub_put(pl_db_t *d, int64_t user_id, int64_t device_id, const char *endpoint,
                       const char *p256dh, const char *auth, int64_t max, int64_t now_ms,
                       int64_t *id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, endpoint);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_COUNT_OTHERS, &a, false, "push_sub_count", &r);
    if (rc != 0)
        return rc;
    int64_t others = pl_pg__i64(r, 0, 0);
    PQclear(r);
    if (others >= max)
        return PL_ETOOBIG;
    pl_pg_args_t b = {0};
    pl_pg__int(&b, user_id);
    pl_pg__int(&b, device_id);
    pl_pg__text(&b, endpoint);
    pl_pg__text(&b, p256dh);
    pl_pg__text(&b, auth);
    pl_pg__int(&b, now_ms);
    r = NULL;
    /* guard: the device's session may be gone (a foreign-key violation). */
    rc = RUN(PG_DB(d), ST_PUT, &b, true, "push_sub_put", &r);
    if (rc == 0 && id != NULL)
        *id = pl_pg__i64(r, 0, 0);
    PQclear(r);
    return rc;
}

int pl_pg_push_sub_delete(pl_db_t *d, int64_t user_id, const char *endpoint)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, endpoint);
    return pl_pg__changed(PG_DB(d), &stmts, ST_DELETE, &a, false, "push_sub_delete");
}

int pl_pg_push_sub_delete_id(pl_db_t *d, int64_t id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    return RUN(PG_DB(d), ST_DELETE_ID, &a, false, "push_sub_delete_id", NULL);
}

int pl_pg_push_subs(pl_db_t *d, int64_t user_id, pl_push_sub_row_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_SUBS, &a, false, "push_subs", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_push_sub_row_t *v = rows > 0 ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rows > 0 && v == NULL) {
        PQclear(r);
        return PL_ENOMEM;
    }
    for (int i = 0; i < rows; i++) {
        v[i].id = pl_pg__i64(r, i, 0);
        v[i].user_id = pl_pg__i64(r, i, 1);
        v[i].device_id = pl_pg__i64(r, i, 2);
        v[i].endpoint = pl_pg__str(r, i, 3);
        v[i].p256dh = pl_pg__str(r, i, 4);
        v[i].auth = pl_pg__str(r, i, 5);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_push_pref_put(pl_db_t *d, int64_t user_id, const pl_push_pref_t *p)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, p->room_id);
    pl_pg__int(&a, p->level);
    pl_pg__int(&a, p->mute_until);
    pl_pg__int(&a, p->content_free);
    pl_pg__int(&a, p->dnd_start);
    pl_pg__int(&a, p->dnd_end);
    return RUN(PG_DB(d), ST_PREF_PUT, &a, false, "push_pref_put", NULL);
}

static void pref_from_row(const PGresult *r, int i, pl_push_pref_t *p)
{
    p->room_id = pl_pg__i64(r, i, 0);
    p->level = (int)pl_pg__i64(r, i, 1);
    p->mute_until = pl_pg__i64(r, i, 2);
    p->content_free = (int)pl_pg__i64(r, i, 3);
    p->dnd_start = (int)pl_pg__i64(r, i, 4);
    p->dnd_end = (int)pl_pg__i64(r, i, 5);
}

int pl_pg_push_pref_get(pl_db_t *d, int64_t user_id, int64_t room_id, pl_push_pref_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = pl_pg__one(PG_DB(d), &stmts, ST_PREF_GET, &a, false, "push_pref_get", &r);
    if (rc == 0)
        pref_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

int pl_pg_push_prefs(pl_db_t *d, int64_t user_id, pl_push_pref_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_PREFS, &a, false, "push_prefs", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_push_pref_t *v = rows > 0 ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rows > 0 && v == NULL) {
        PQclear(r);
        return PL_ENOMEM;
    }
    for (int i = 0; i < rows; i++)
        pref_from_row(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_push_room_all(pl_db_t *d, int64_t room_id, int64_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_ROOM_ALL, &a, false, "push_room_all", &r);
    if (rc != 0)
        return rc;
    pl_pg__ids(r, out, n);
    PQclear(r);
    return 0;
}

int pl_pg_push_sub_users(pl_db_t *d, int64_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_SUB_USERS, &a, false, "push_sub_users", &r);
    if (rc != 0)
        return rc;
    pl_pg__ids(r, out, n);
    PQclear(r);
    return 0;
}
