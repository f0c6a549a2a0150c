/* SPDX-License-Identifier: MIT */
/* store_pg_media.c -- media rows, avatars, custom emoji and garbage
 * collection on PostgreSQL (see store_sqlite_media.c). */
#include "store/store_pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MEDIA_COLS "id, sha256, size, mime, owner, name, width, height, thumb_w, thumb_h, created"

/* "Still referenced" for media row m.id at time $3 (as MEDIA_REFERENCED in
 * store_sqlite_media.c). */
#define MEDIA_REFERENCED                                                                           \
    "(EXISTS (SELECT 1 FROM messages x WHERE x.media = m.id AND NOT x.deleted"                     \
    "   AND (x.expires_ts = 0 OR x.expires_ts > $3))"                                              \
    " OR EXISTS (SELECT 1 FROM users u WHERE u.avatar = m.id AND u.avatar != 0)"                   \
    " OR EXISTS (SELECT 1 FROM rooms g WHERE g.avatar = m.id AND g.avatar != 0)"                   \
    " OR EXISTS (SELECT 1 FROM emoji e WHERE e.media_id = m.id))"

enum {
    ST_MEDIA_FIND,
    ST_MEDIA_INSERT,
    ST_MEDIA_GET,
    ST_MEDIA_VISIBLE,
    ST_MEDIA_SHA_USED,
    ST_MEDIA_GC_FIND,
    ST_MEDIA_GC_DELETE,
    ST_AVATAR_GET,
    ST_EMOJI_ADD,
    ST_EMOJI_GET,
    ST_EMOJI_REMOVE,
    ST_EMOJI_LIST,
    ST_MEDIA_TOUCH,
    ST_AVATAR_SET,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MEDIA_FIND] = "SELECT " MEDIA_COLS " FROM media WHERE owner = $1 AND sha256 = $2",
    /* Two nodes storing one upload at once: the second inserts nothing and
     * the caller reads the first's row. */
    [ST_MEDIA_INSERT] =
        "INSERT INTO media(sha256, size, mime, owner, name, width, height, thumb_w, thumb_h,"
        " created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (owner, sha256) DO NOTHING RETURNING " MEDIA_COLS,
    [ST_MEDIA_GET] = "SELECT " MEDIA_COLS " FROM media WHERE id = $1",
    [ST_MEDIA_VISIBLE] =
        "SELECT m.owner = $2"
        " OR EXISTS (SELECT 1 FROM messages x JOIN members b ON b.room_id = x.room_id"
        "   WHERE x.media = m.id AND NOT x.deleted AND (x.expires_ts = 0 OR x.expires_ts > $3)"
        "   AND b.user_id = $2)"
        " OR EXISTS (SELECT 1 FROM users u WHERE u.avatar = m.id AND u.avatar != 0)"
        " OR EXISTS (SELECT 1 FROM rooms g JOIN members b ON b.room_id = g.id"
        "   WHERE g.avatar = m.id AND g.avatar != 0 AND b.user_id = $2)"
        " OR EXISTS (SELECT 1 FROM rooms g JOIN invites i ON i.room_id = g.id"
        "   WHERE g.avatar = m.id AND g.avatar != 0 AND i.user_id = $2 AND i.expires_ms > $3)"
        " OR EXISTS (SELECT 1 FROM emoji e WHERE e.media_id = m.id)"
        " FROM media m WHERE m.id = $1",
    [ST_MEDIA_SHA_USED] = "SELECT 1 FROM media WHERE sha256 = $1 LIMIT 1",
    [ST_MEDIA_GC_FIND] = "SELECT m.id, m.sha256 FROM media m WHERE NOT " MEDIA_REFERENCED
                         " AND (m.created <= $1 OR EXISTS (SELECT 1 FROM messages y"
                         "   WHERE y.media = m.id AND y.ts >= m.created)) LIMIT $2",
    [ST_MEDIA_GC_DELETE] = "DELETE FROM media WHERE id = $1",
    [ST_AVATAR_GET] = "SELECT avatar FROM users WHERE id = $1",
    [ST_EMOJI_ADD] = "INSERT INTO emoji(shortcode, media_id, owner, created)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [ST_EMOJI_GET] = "SELECT shortcode, media_id, owner FROM emoji WHERE shortcode = $1",
    [ST_EMOJI_REMOVE] = "DELETE FROM emoji WHERE shortcode = $1",
    [ST_EMOJI_LIST] = "SELECT shortcode, media_id, owner FROM emoji"
                      " WHERE shortcode > $1 ORDER BY shortcode LIMIT $2",
    [ST_MEDIA_TOUCH] = "UPDATE media SET created = $2 WHERE id = $1",
    [ST_AVATAR_SET] = "UPDATE users SET avatar = $2 WHERE id = $1",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, guard, op, res) pl_pg__one((db), &stmts, (id), (a), (guard), (op), (res))

static void rec_from_row(const PGresult *r, int i, pl_media_rec_t *m)
{
    memset(m, 0, sizeof *m);
    m->id = pl_pg__i64(r, i, 0);
    snprintf(m->sha256, sizeof m->sha256, "%s", PQgetvalue(r, i, 1));
    m->size = pl_pg__i64(r, i, 2);
    m->mime = pl_pg__str(r, i, 3);
    m->owner = pl_pg__i64(r, i, 4);
    m->name = pl_pg__str(r, i, 5);
    m->width = pl_pg__i64(r, i, 6);
    m->height = pl_pg__i64(r, i, 7);
    m->thumb_w = pl_pg__i64(r, i, 8);
    m->thumb_h = pl_pg__i64(r, i, 9);
    m->created_ms = pl_pg__i64(r, i, 10);
}

static int rec_one(pl_pg_db_t *db, int id, const pl_pg_args_t *a, bool guard, const char *op,
                   pl_media_rec_t *out)
{
    PGresult *r = NULL;
    int rc = ONE(db, id, a, guard, op, &r);
    if (rc == 0) {
        rec_from_row(r, 0, out);
        PQclear(r);
    }
    return rc;
}

static int media_find(pl_pg_db_t *db, const pl_media_rec_t *rec, pl_media_rec_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, rec->owner);
    pl_pg__text(&a, rec->sha256);
    return rec_one(db, ST_MEDIA_FIND, &a, false, "media_find", out);
}

int pl_pg_media_put(pl_db_t *d, const pl_media_rec_t *rec, pl_media_rec_t *out, bool *existed)
{
    pl_pg_db_t *db = PG_DB(d);
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = media_find(db, rec, out);
        if (rc == 0) {
            pl_pg_args_t t = {0};
            pl_pg__int(&t, out->id);
            pl_pg__int(&t, rec->created_ms);
            if ((rc = RUN(db, ST_MEDIA_TOUCH, &t, false, "media_touch", NULL)) < 0) {
                pl_media_rec_dispose(out);
                return rc;
            }
            out->created_ms = rec->created_ms;
            *existed = true;
            return 0;
        }
        if (rc != PL_ENOTFOUND)
            return rc;
        pl_pg_args_t a = {0};
        pl_pg__text(&a, rec->sha256);
        pl_pg__int(&a, rec->size);
        pl_pg__text(&a, rec->mime ? rec->mime : "application/octet-stream");
        pl_pg__int(&a, rec->owner);
        pl_pg__text(&a, rec->name ? rec->name : "");
        pl_pg__int(&a, rec->width);
        pl_pg__int(&a, rec->height);
        pl_pg__int(&a, rec->thumb_w);
        pl_pg__int(&a, rec->thumb_h);
        pl_pg__int(&a, rec->created_ms);
        rc = rec_one(db, ST_MEDIA_INSERT, &a, true, "media_insert", out);
        if (rc == 0)
            *existed = false;
        if (rc != PL_ENOTFOUND) /* ENOTFOUND: another node inserted it; find it */
            return rc;
    }
    return pl_pg__fail(db, "media_put", NULL);
}

int pl_pg_media_get(pl_db_t *d, int64_t id, pl_media_rec_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    return rec_one(PG_DB(d), ST_MEDIA_GET, &a, false, "media_get", out);
}

int pl_pg_media_visible(pl_db_t *d, int64_t id, int64_t user, int64_t now_ms, bool *visible)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__int(&a, user);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_MEDIA_VISIBLE, &a, false, "media_visible", &r);
    if (rc == 0) {
        *visible = pl_pg__b(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_media_gc(pl_db_t *d, int64_t now_ms, int64_t cutoff_ms, int64_t limit, pl_media_gc_t *out)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, cutoff_ms);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = RUN(db, ST_MEDIA_GC_FIND, &a, false, "media_gc_find", &r);
    if (rc != 0)
        return rc;
    int n = PQntuples(r);
    pl_media_gc_t res = {0};
    for (int i = 0; rc == 0 && i < n; i++) {
        pl_pg_args_t g = {0};
        pl_pg__int(&g, pl_pg__i64(r, i, 0));
        if ((rc = RUN(db, ST_MEDIA_GC_DELETE, &g, false, "media_gc_delete", NULL)) == 0)
            res.rows++;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *sha = PQgetvalue(r, i, 1);
        bool dup = false;
        for (size_t k = 0; k < res.nblobs && !dup; k++)
            dup = !strcmp(res.blobs[k], sha);
        if (dup)
            continue;
        pl_pg_args_t u = {0};
        pl_pg__text(&u, sha);
        PGresult *ur = NULL;
        if ((rc = RUN(db, ST_MEDIA_SHA_USED, &u, false, "media_sha_used", &ur)) != 0)
            break;
        bool used = PQntuples(ur) > 0;
        PQclear(ur);
        if (used)
            continue;
        if (res.blobs == NULL)
            res.blobs = pl_xcalloc((size_t)n, sizeof *res.blobs);
        snprintf(res.blobs[res.nblobs++], 65, "%s", sha);
    }
    PQclear(r);
    if (rc < 0) {
        free(res.blobs);
        return rc;
    }
    *out = res;
    return 0;
}

int pl_pg_avatar_set(pl_db_t *d, int64_t user, int64_t media)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user);
    pl_pg__int(&a, media);
    return pl_pg__changed(PG_DB(d), &stmts, ST_AVATAR_SET, &a, false, "avatar_set");
}

int pl_pg_avatar_get(pl_db_t *d, int64_t user, int64_t *media)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_AVATAR_GET, &a, false, "avatar_get", &r);
    if (rc == 0) {
        *media = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_emoji_add(pl_db_t *d, const char *shortcode, int64_t media, int64_t owner, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, shortcode);
    pl_pg__int(&a, media);
    pl_pg__int(&a, owner);
    pl_pg__int(&a, now_ms);
    int rc = pl_pg__changed(PG_DB(d), &stmts, ST_EMOJI_ADD, &a, true, "emoji_add");
    return rc == PL_ENOTFOUND ? PL_EEXIST : rc;
}

static void emoji_from_row(const PGresult *r, int i, pl_emoji_rec_t *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->shortcode, sizeof e->shortcode, "%s", PQgetvalue(r, i, 0));
    e->media = pl_pg__i64(r, i, 1);
    e->owner = pl_pg__i64(r, i, 2);
}

int pl_pg_emoji_get(pl_db_t *d, const char *shortcode, pl_emoji_rec_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, shortcode);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_EMOJI_GET, &a, false, "emoji_get", &r);
    if (rc == 0) {
        emoji_from_row(r, 0, out);
        PQclear(r);
    }
    return rc;
}

int pl_pg_emoji_remove(pl_db_t *d, const char *shortcode)
{
    pl_pg_args_t a = {0};
    pl_pg__text(&a, shortcode);
    return pl_pg__changed(PG_DB(d), &stmts, ST_EMOJI_REMOVE, &a, false, "emoji_remove");
}

int pl_pg_emoji_list(pl_db_t *d, const char *after, size_t limit, pl_emoji_rec_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pl_pg_args_t a = {0};
    pl_pg__text(&a, after);
    pl_pg__int(&a, (int64_t)limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_EMOJI_LIST, &a, false, "emoji_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_emoji_rec_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++)
        emoji_from_row(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}
