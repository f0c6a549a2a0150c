/* SPDX-License-Identifier: MIT */
/* store_pg_hooks.c -- incoming webhooks on PostgreSQL (store.h, "incoming
 * webhooks"; schema step 5, issue 16). The per-room bound is a count then
 * an insert: two nodes creating at the same instant may pass it by one
 * each, which the bound tolerates (it guards against a flood). */
#include "store/store_pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum { ST_COUNT, ST_INSERT, ST_GET, ST_LIST, ST_REVOKE, ST__COUNT };

#define HOOK_COLS "id, room_id, creator, name, icon_url, secret_hash, created_ms, revoked_ms"

static const char *const sql[ST__COUNT] = {
    [ST_COUNT] = "SELECT count(*) FROM webhooks WHERE room_id = $1 AND revoked_ms = 0",
    [ST_INSERT] = "INSERT INTO webhooks(room_id, creator, name, icon_url, secret_hash, created_ms)"
                  " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [ST_GET] = "SELECT " HOOK_COLS " FROM webhooks WHERE id = $1",
    [ST_LIST] = "SELECT " HOOK_COLS " FROM webhooks WHERE room_id = $1 AND revoked_ms = 0"
                " ORDER BY id",
    [ST_REVOKE] = "UPDATE webhooks SET revoked_ms = $2 WHERE id = $1 AND revoked_ms = 0",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))

static void hook_from_row(const PGresult *r, int i, pl_webhook_t *w)
{
    memset(w, 0, sizeof *w);
    w->id = pl_pg__i64(r, i, 0);
    w->room_id = pl_pg__i64(r, i, 1);
    w->creator = pl_pg__i64(r, i, 2);
    w->name = pl_pg__str(r, i, 3);
    w->icon_url = pl_pg__str(r, i, 4);
    snprintf(w->secret_hash, sizeof w->secret_hash, "%s", PQgetvalue(r, i, 5));
    w->created_ms = pl_pg__i64(r, i, 6);
    w->revoked_ms = pl_pg__i64(r, i, 7);
}

int pl_pg_webhook_create(pl_db_t *d, const pl_webhook_t *w, int64_t max_per_room, int64_t *id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, w->room_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_COUNT, &a, false, "webhook_count", &r);
    if (rc != 0)
        return rc;
    int64_t live = pl_pg__i64(r, 0, 0);
    PQclear(r);
    if (live >= max_per_room)
        return PL_ETOOBIG;
    pl_pg_args_t b = {0};
    pl_pg__int(&b, w->room_id);
    pl_pg__int(&b, w->creator);
    pl_pg__text(&b, w->name);
    pl_pg__text(&b, w->icon_url);
    pl_pg__text(&b, w->secret_hash);
    pl_pg__int(&b, w->created_ms);
    r = NULL;
    rc = RUN(PG_DB(d), ST_INSERT, &b, false, "webhook_create", &r);
    if (rc == 0 && id != NULL)
        *id = pl_pg__i64(r, 0, 0);
    PQclear(r);
    return rc;
}

int pl_pg_webhook_get(pl_db_t *d, int64_t id, pl_webhook_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    PGresult *r = NULL;
    int rc = pl_pg__one(PG_DB(d), &stmts, ST_GET, &a, false, "webhook_get", &r);
    if (rc == 0)
        hook_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

int pl_pg_webhook_list(pl_db_t *d, int64_t room_id, pl_webhook_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_LIST, &a, false, "webhook_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_webhook_t *v = rows > 0 ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rows > 0 && v == NULL) {
        PQclear(r);
        return PL_ENOMEM;
    }
    for (int i = 0; i < rows; i++)
        hook_from_row(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_webhook_revoke(pl_db_t *d, int64_t id, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__int(&a, now_ms);
    return pl_pg__changed(PG_DB(d), &stmts, ST_REVOKE, &a, false, "webhook_revoke");
}

/* ---- outgoing webhooks (issue 16, step 2) ---- */

enum { OT_COUNT, OT_INSERT, OT_GET, OT_LIST, OT_REVOKE, OT__COUNT };

#define OUT_COLS "id, room_id, creator, url, triggers, secret, created_ms, revoked_ms"

static const char *const osql[OT__COUNT] = {
    [OT_COUNT] = "SELECT count(*) FROM outhooks WHERE room_id = $1 AND revoked_ms = 0",
    [OT_INSERT] = "INSERT INTO outhooks(room_id, creator, url, triggers, secret, created_ms)"
                  " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [OT_GET] = "SELECT " OUT_COLS " FROM outhooks WHERE id = $1",
    [OT_LIST] = "SELECT " OUT_COLS " FROM outhooks WHERE room_id = $1 AND revoked_ms = 0"
                " ORDER BY id",
    [OT_REVOKE] = "UPDATE outhooks SET revoked_ms = $2 WHERE id = $1 AND revoked_ms = 0",
};
static pl_pg_table_t ostmts = PL_PG_TABLE(osql);
#define ORUN(db, id, a, guard, op, res) pl_pg__run((db), &ostmts, (id), (a), (guard), (op), (res))

static void out_from_row(const PGresult *r, int i, pl_outhook_t *w)
{
    memset(w, 0, sizeof *w);
    w->id = pl_pg__i64(r, i, 0);
    w->room_id = pl_pg__i64(r, i, 1);
    w->creator = pl_pg__i64(r, i, 2);
    w->url = pl_pg__str(r, i, 3);
    w->triggers = pl_pg__str(r, i, 4);
    w->secret = pl_pg__str(r, i, 5);
    w->created_ms = pl_pg__i64(r, i, 6);
    w->revoked_ms = pl_pg__i64(r, i, 7);
}

int pl_pg_outhook_create(pl_db_t *d, const pl_outhook_t *w, int64_t max_per_room, int64_t *id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, w->room_id);
    PGresult *r = NULL;
    int rc = ORUN(PG_DB(d), OT_COUNT, &a, false, "outhook_count", &r);
    if (rc != 0)
        return rc;
    int64_t live = pl_pg__i64(r, 0, 0);
    PQclear(r);
    if (live >= max_per_room)
        return PL_ETOOBIG;
    pl_pg_args_t b = {0};
    pl_pg__int(&b, w->room_id);
    pl_pg__int(&b, w->creator);
    pl_pg__text(&b, w->url);
    pl_pg__text(&b, w->triggers ? w->triggers : "");
    pl_pg__text(&b, w->secret);
    pl_pg__int(&b, w->created_ms);
    r = NULL;
    rc = ORUN(PG_DB(d), OT_INSERT, &b, false, "outhook_create", &r);
    if (rc == 0 && id != NULL)
        *id = pl_pg__i64(r, 0, 0);
    PQclear(r);
    return rc;
}

int pl_pg_outhook_get(pl_db_t *d, int64_t id, pl_outhook_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    PGresult *r = NULL;
    int rc = pl_pg__one(PG_DB(d), &ostmts, OT_GET, &a, false, "outhook_get", &r);
    if (rc == 0)
        out_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

int pl_pg_outhook_list(pl_db_t *d, int64_t room_id, pl_outhook_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = ORUN(PG_DB(d), OT_LIST, &a, false, "outhook_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_outhook_t *v = rows > 0 ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rows > 0 && v == NULL) {
        PQclear(r);
        return PL_ENOMEM;
    }
    for (int i = 0; i < rows; i++)
        out_from_row(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_outhook_revoke(pl_db_t *d, int64_t id, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__int(&a, now_ms);
    return pl_pg__changed(PG_DB(d), &ostmts, OT_REVOKE, &a, false, "outhook_revoke");
}
