/* SPDX-License-Identifier: MIT */
/* store_sqlite_media.c -- media rows, references, avatars, custom emoji and
 * garbage collection. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_internal.h"

#define MEDIA_COLS "id, sha256, size, mime, owner, name, width, height, thumb_w, thumb_h, created"

/* The one definition of "still referenced", for the media row m.id, with the
 * current time as ?3: a live message (not deleted, not expired), a user's
 * avatar, a custom emoji. A new kind of reference is one more line here
 * (group avatars: " OR EXISTS (SELECT 1 FROM rooms g WHERE g.avatar = m.id)"). */
#define MEDIA_REFERENCED                                                                           \
    "(EXISTS (SELECT 1 FROM messages x WHERE x.media = m.id AND x.deleted = 0"                     \
    "   AND (x.expires_ts = 0 OR x.expires_ts > ?3))"                                              \
    " OR EXISTS (SELECT 1 FROM users u WHERE u.avatar = m.id AND u.avatar != 0)"                   \
    " OR EXISTS (SELECT 1 FROM rooms g WHERE g.avatar = m.id AND g.avatar != 0)"                   \
    " OR EXISTS (SELECT 1 FROM emoji e WHERE e.media_id = m.id))"

/* The statements of this file (see pl_sql_table_t). */
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
    [ST_MEDIA_FIND] = "SELECT " MEDIA_COLS " FROM media WHERE owner = ?1 AND sha256 = ?2",
    [ST_MEDIA_INSERT] =
        "INSERT INTO media(sha256, size, mime, owner, name, width, height, thumb_w, thumb_h,"
        " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING " MEDIA_COLS,
    [ST_MEDIA_GET] = "SELECT " MEDIA_COLS " FROM media WHERE id = ?1",
    [ST_MEDIA_VISIBLE] =
        "SELECT m.owner = ?2"
        " OR EXISTS (SELECT 1 FROM messages x JOIN members b ON b.room_id = x.room_id"
        "   WHERE x.media = m.id AND x.deleted = 0 AND (x.expires_ts = 0 OR x.expires_ts > ?3)"
        "   AND b.user_id = ?2)"
        /* "avatar != 0" lets SQLite use the partial indexes (users_by_avatar,
         * rooms_by_avatar) instead of scanning every user: 2.9 ms -> 13 us
         * per check with 20000 users (docs/performance.md). */
        " OR EXISTS (SELECT 1 FROM users u WHERE u.avatar = m.id AND u.avatar != 0)"
        /* a group's avatar: its members only, and the users with a live
         * invitation to it (the pending invitation shows the group's photo) */
        " OR EXISTS (SELECT 1 FROM rooms g JOIN members b ON b.room_id = g.id"
        "   WHERE g.avatar = m.id AND g.avatar != 0 AND b.user_id = ?2)"
        " OR EXISTS (SELECT 1 FROM rooms g JOIN invites i ON i.room_id = g.id"
        "   WHERE g.avatar = m.id AND g.avatar != 0 AND i.user_id = ?2 AND i.expires_ms > ?3)"
        " OR EXISTS (SELECT 1 FROM emoji e WHERE e.media_id = m.id)"
        " FROM media m WHERE m.id = ?1",
    [ST_MEDIA_SHA_USED] = "SELECT 1 FROM media WHERE sha256 = ?1 LIMIT 1",
    [ST_MEDIA_GC_FIND] = "SELECT m.id, m.sha256 FROM media m WHERE NOT " MEDIA_REFERENCED
                         " AND (m.created <= ?1 OR EXISTS (SELECT 1 FROM messages y"
                         "   WHERE y.media = m.id AND y.ts >= m.created)) LIMIT ?2",
    [ST_MEDIA_GC_DELETE] = "DELETE FROM media WHERE id = ?1",
    [ST_AVATAR_GET] = "SELECT avatar FROM users WHERE id = ?1",
    [ST_EMOJI_ADD] = "INSERT OR IGNORE INTO emoji(shortcode, media_id, owner, created)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [ST_EMOJI_GET] = "SELECT shortcode, media_id, owner FROM emoji WHERE shortcode = ?1",
    [ST_EMOJI_REMOVE] = "DELETE FROM emoji WHERE shortcode = ?1",
    [ST_EMOJI_LIST] = "SELECT shortcode, media_id, owner FROM emoji"
                      " WHERE shortcode > ?1 ORDER BY shortcode LIMIT ?2",
    [ST_MEDIA_TOUCH] = "UPDATE media SET created = ?2 WHERE id = ?1",
    [ST_AVATAR_SET] = "UPDATE users SET avatar = ?2 WHERE id = ?1",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_media_rec_dispose(pl_media_rec_t *m)
{
    if (!m)
        return;
    free(m->mime);
    free(m->name);
    m->mime = m->name = NULL;
}

static void rec_from_row(sqlite3_stmt *s, pl_media_rec_t *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(s, 0);
    const unsigned char *sha = sqlite3_column_text(s, 1);
    snprintf(m->sha256, sizeof m->sha256, "%s", sha ? (const char *)sha : "");
    m->size = sqlite3_column_int64(s, 2);
    m->mime = pl_store__col_str(s, 3);
    m->owner = sqlite3_column_int64(s, 4);
    m->name = pl_store__col_str(s, 5);
    m->width = sqlite3_column_int64(s, 6);
    m->height = sqlite3_column_int64(s, 7);
    m->thumb_w = sqlite3_column_int64(s, 8);
    m->thumb_h = sqlite3_column_int64(s, 9);
    m->created_ms = sqlite3_column_int64(s, 10);
}

/* Runs s (one row expected) into out; PL_ENOTFOUND when there is none. */
static int one_row(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_media_rec_t *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rec_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, op);
    }
    pl_store__stmt_done(s);
    return rc;
}

static int exec2(pl_db_t *db, int id, const char *op, int64_t a, int64_t b)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    pl_store__stmt_done(s);
    if (rc != SQLITE_DONE)
        return pl_store__fail(db, op);
    return 0;
}

int pl_sq_media_put(pl_db_t *db, const pl_media_rec_t *rec, pl_media_rec_t *out, bool *existed)
{
    sqlite3_stmt *s = STMT(db, ST_MEDIA_FIND);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, rec->owner);
    pl_store__bind_text(s, 2, rec->sha256);
    int rc = one_row(db, s, "media_find", out);
    if (rc == 0) {
        /* Uploaded again: the grace period before collection restarts. */
        rc = exec2(db, ST_MEDIA_TOUCH, "media_touch", out->id, rec->created_ms);
        if (rc < 0) {
            pl_media_rec_dispose(out);
            return rc;
        }
        out->created_ms = rec->created_ms;
        *existed = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    s = STMT(db, ST_MEDIA_INSERT);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, rec->sha256);
    sqlite3_bind_int64(s, 2, rec->size);
    pl_store__bind_text(s, 3, rec->mime ? rec->mime : "application/octet-stream");
    sqlite3_bind_int64(s, 4, rec->owner);
    pl_store__bind_text(s, 5, rec->name ? rec->name : "");
    sqlite3_bind_int64(s, 6, rec->width);
    sqlite3_bind_int64(s, 7, rec->height);
    sqlite3_bind_int64(s, 8, rec->thumb_w);
    sqlite3_bind_int64(s, 9, rec->thumb_h);
    sqlite3_bind_int64(s, 10, rec->created_ms);
    rc = one_row(db, s, "media_insert", out);
    if (rc == PL_ENOTFOUND)
        rc = pl_store__fail(db, "media_insert");
    if (rc == 0)
        *existed = false;
    return rc;
}

int pl_sq_media_get(pl_db_t *db, int64_t id, pl_media_rec_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_MEDIA_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    return one_row(db, s, "media_get", out);
}

int pl_sq_media_visible(pl_db_t *db, int64_t id, int64_t user, int64_t now_ms, bool *visible)
{
    /* Room access follows live messages only: once a message is deleted or
     * expired, its media is no longer readable through that message. */
    sqlite3_stmt *s = STMT(db, ST_MEDIA_VISIBLE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, user);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *visible = sqlite3_column_int64(s, 0) != 0;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "media_visible");
    }
    pl_store__stmt_done(s);
    return rc;
}

/* Whether some media row has this sha256 (the blob is in use). */
static int media_sha_used(pl_db_t *db, const char *sha256, bool *used)
{
    sqlite3_stmt *s = STMT(db, ST_MEDIA_SHA_USED);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, sha256);
    int rc = sqlite3_step(s);
    pl_store__stmt_done(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return pl_store__fail(db, "media_sha_used");
    *used = rc == SQLITE_ROW;
    return 0;
}

/* A media row the collector may delete. */
typedef struct {
    int64_t id;
    char sha256[65];
} gc_row_t;

static void gc_row_read(sqlite3_stmt *s, void *elem)
{
    gc_row_t *g = elem;
    g->id = sqlite3_column_int64(s, 0);
    const unsigned char *sha = sqlite3_column_text(s, 1);
    snprintf(g->sha256, sizeof g->sha256, "%s", sha ? (const char *)sha : "");
}

int pl_sq_media_gc(pl_db_t *db, int64_t now_ms, int64_t cutoff_ms, int64_t limit,
                   pl_media_gc_t *out)
{
    /* A released row (only dead messages name it) goes at once, whatever its
     * age: disappearing media must not outlive its message by a day. Only
     * messages sent since the last upload of the bytes count, so uploading
     * them again (to send them again) gets a fresh grace period. */
    sqlite3_stmt *s = STMT(db, ST_MEDIA_GC_FIND);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, cutoff_ms);
    sqlite3_bind_int64(s, 2, limit);
    sqlite3_bind_int64(s, 3, now_ms);
    pl_rows_t r = PL_ROWS(gc_row_t, gc_row_read, NULL);
    int rc = pl_store__collect(db, s, "media_gc_find", &r);
    gc_row_t *rows = r.v;
    size_t n = r.n;
    pl_media_gc_t res = {0};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        s = STMT(db, ST_MEDIA_GC_DELETE);
        if (s == NULL) {
            rc = PL_EIO;
            break;
        }
        sqlite3_bind_int64(s, 1, rows[i].id);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : pl_store__fail(db, "media_gc_delete");
        pl_store__stmt_done(s);
        if (rc == 0)
            res.rows++;
    }
    /* Blobs are shared by sha256 between users' rows: one goes only with its
     * last row. The same sha may appear twice in the batch. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool used = false, dup = false;
        for (size_t k = 0; k < res.nblobs && !dup; k++)
            dup = !strcmp(res.blobs[k], rows[i].sha256);
        if (dup || (rc = media_sha_used(db, rows[i].sha256, &used)) < 0 || used)
            continue;
        if (res.blobs == NULL)
            res.blobs = pl_xcalloc(n, sizeof *res.blobs);
        memcpy(res.blobs[res.nblobs++], rows[i].sha256, 65);
    }
    free(rows);
    if (rc < 0) {
        free(res.blobs);
        return rc;
    }
    *out = res;
    return 0;
}

int pl_sq_avatar_set(pl_db_t *db, int64_t user, int64_t media)
{
    int rc = exec2(db, ST_AVATAR_SET, "avatar_set", user, media);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_avatar_get(pl_db_t *db, int64_t user, int64_t *media)
{
    sqlite3_stmt *s = STMT(db, ST_AVATAR_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *media = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "avatar_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

/* ---- custom emoji ---- */

void pl_emoji_recs_free(pl_emoji_rec_t *e, size_t n)
{
    (void)n;
    free(e);
}

int pl_sq_emoji_add(pl_db_t *db, const char *shortcode, int64_t media, int64_t owner,
                    int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_EMOJI_ADD);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, shortcode);
    sqlite3_bind_int64(s, 2, media);
    sqlite3_bind_int64(s, 3, owner);
    sqlite3_bind_int64(s, 4, now_ms);
    int rc = sqlite3_step(s);
    pl_store__stmt_done(s);
    if (rc != SQLITE_DONE)
        return pl_store__fail(db, "emoji_add");
    return sqlite3_changes(db->h) == 0 ? PL_EEXIST : 0;
}

static void emoji_read(sqlite3_stmt *s, void *elem)
{
    pl_emoji_rec_t *e = elem;
    const unsigned char *sc = sqlite3_column_text(s, 0);
    snprintf(e->shortcode, sizeof e->shortcode, "%s", sc ? (const char *)sc : "");
    e->media = sqlite3_column_int64(s, 1);
    e->owner = sqlite3_column_int64(s, 2);
}

int pl_sq_emoji_get(pl_db_t *db, const char *shortcode, pl_emoji_rec_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_EMOJI_GET);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, shortcode);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        emoji_read(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "emoji_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_emoji_remove(pl_db_t *db, const char *shortcode)
{
    sqlite3_stmt *s = STMT(db, ST_EMOJI_REMOVE);
    if (s == NULL)
        return PL_EIO;
    pl_store__bind_text(s, 1, shortcode);
    int rc = sqlite3_step(s);
    pl_store__stmt_done(s);
    if (rc != SQLITE_DONE)
        return pl_store__fail(db, "emoji_remove");
    return sqlite3_changes(db->h) == 0 ? PL_ENOTFOUND : 0;
}

int pl_sq_emoji_list(pl_db_t *db, const char *after, size_t limit, pl_emoji_rec_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = STMT(db, ST_EMOJI_LIST);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_text(s, 1, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)limit);
    pl_rows_t r = PL_ROWS(pl_emoji_rec_t, emoji_read, NULL);
    int rc = pl_store__collect(db, s, "emoji_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}
