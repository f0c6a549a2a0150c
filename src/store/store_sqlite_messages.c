/* SPDX-License-Identifier: MIT */
/* store_sqlite_messages.c -- messages: the row and how it is read,
 * posting (the domain operation behind `send`), history, sync, threads, and
 * the versions, mention rows and thread counters every change of a message
 * keeps consistent. */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* The statements of this file (see pl_sql_table_t). */
enum {
    ST_MSG_GET,
    ST_MSG_BY_CLIENT_ID,
    ST_MENTION_MEMBER,
    ST_MENTION_INSERT,
    ST_MENTION_DELETE,
    ST_ROOM_BUMP_VERSION,
    ST_MSG_THREAD_BUMP,
    ST_ROOM_LAST_SEQ,
    ST_MSG_INSERT,
    ST_ROOM_SET_LAST_SEQ,
    ST_MSG_BEFORE,
    ST_MSG_AFTER,
    ST_MSG_UPDATED,
    ST_MSG_THREAD,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MSG_GET] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq = ?2",
    [ST_MSG_BY_CLIENT_ID] = PL_STORE_MSG_SELECT "WHERE m.sender = ?1 AND m.client_id = ?2",
    /* A mentioned name counts when it is a member of the room. */
    [ST_MENTION_MEMBER] = "SELECT u.id FROM users u JOIN members m ON m.room_id = ?1 "
                          "AND m.user_id = u.id WHERE u.username = ?2",
    [ST_MENTION_INSERT] = "INSERT OR IGNORE INTO mentions(room_id, seq, user_id, sender) "
                          "VALUES (?1, ?2, ?3, ?4)",
    [ST_MENTION_DELETE] = "DELETE FROM mentions WHERE room_id = ?1 AND seq = ?2",
    [ST_ROOM_BUMP_VERSION] = "UPDATE rooms SET last_version = last_version + 1 WHERE id = ?1 "
                             "RETURNING last_version",
    [ST_MSG_THREAD_BUMP] = "UPDATE messages SET thread_count = thread_count + 1, "
                           "thread_last_ts = ?3, version = ?4 WHERE room_id = ?1 AND seq = ?2",
    /* No RETURNING on the hot path: SQLite buffers RETURNING rows in an
     * ephemeral table, which costs more than a separate indexed read. */
    [ST_ROOM_LAST_SEQ] = "SELECT last_seq FROM rooms WHERE id = ?1",
    [ST_MSG_INSERT] = "INSERT INTO messages(room_id, seq, sender, client_id, ts, content, "
                      "reply_to, thread_root, expires_ts, mentions, mention_room, media) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_ROOM_SET_LAST_SEQ] = "UPDATE rooms SET last_seq = ?2 WHERE id = ?1",
    [ST_MSG_BEFORE] =
        PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3",
    [ST_MSG_AFTER] =
        PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3",
    [ST_MSG_UPDATED] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.version > ?3 "
                                           "AND m.seq <= ?2 ORDER BY m.version LIMIT ?4",
    [ST_MSG_THREAD] = PL_STORE_MSG_SELECT "WHERE m.room_id = ?1 AND m.thread_root = ?2 "
                                          "AND m.seq < ?3 ORDER BY m.seq DESC LIMIT ?4",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_message_dispose(pl_message_t *m)
{
    if (m == NULL)
        return;
    free(m->client_id);
    free(m->content);
    free(m->reply_preview);
    free(m->mentions);
    free(m->reactions);
    m->client_id = m->content = m->reply_preview = m->mentions = m->reactions = NULL;
}

void pl_messages_free(pl_message_t *m, size_t n)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pl_message_dispose(&m[i]);
    free(m);
}

void pl_store__message_from_row(sqlite3_stmt *s, pl_message_t *m)
{
    m->id = sqlite3_column_int64(s, 0);
    m->room_id = sqlite3_column_int64(s, 1);
    m->seq = sqlite3_column_int64(s, 2);
    m->sender = sqlite3_column_int64(s, 3);
    m->ts = sqlite3_column_int64(s, 4);
    m->client_id = pl_store__col_str(s, 5);
    m->content = pl_store__col_str(s, 6);
    m->version = sqlite3_column_int64(s, 7);
    m->edited_ts = sqlite3_column_int64(s, 8);
    m->deleted = sqlite3_column_int(s, 9) != 0;
    m->reply_to = sqlite3_column_int64(s, 10);
    m->thread_root = sqlite3_column_int64(s, 11);
    m->thread_count = sqlite3_column_int64(s, 12);
    m->thread_last_ts = sqlite3_column_int64(s, 13);
    m->expires_ts = sqlite3_column_int64(s, 14);
    m->mentions = pl_store__col_str_or_null(s, 15);
    m->mention_room = sqlite3_column_int(s, 16) != 0;
    m->reply_sender = sqlite3_column_int64(s, 17);
    m->reply_preview = m->reply_to > 0 ? pl_store__col_str(s, 18) : NULL;
    m->reactions = pl_store__col_str_or_null(s, 19);
}

static void message_read(sqlite3_stmt *s, void *elem)
{
    pl_store__message_from_row(s, elem);
}

static void message_dispose(void *elem)
{
    pl_message_dispose(elem);
}

int pl_store__collect_messages(pl_db_t *db, sqlite3_stmt *s, const char *op, pl_message_t **out,
                               size_t *n)
{
    pl_rows_t r = PL_ROWS(pl_message_t, message_read, message_dispose);
    int rc = pl_store__collect(db, s, op, &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_message_get(pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pl_store__message_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "message_get");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_message_by_client_id(pl_db_t *db, int64_t sender, const char *client_id,
                               pl_message_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_BY_CLIENT_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, sender);
    pl_store__bind_text(s, 2, client_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pl_store__message_from_row(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "pl_db_message_by_client_id");
    }
    pl_store__stmt_done(s);
    return rc;
}

char *pl_store__mentions_json(const int64_t *users, size_t n)
{
    if (n == 0)
        return NULL;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "[");
    for (size_t i = 0; i < n; i++)
        pl_buf_printf(&b, "%s\"u%" PRId64 "\"", i ? "," : "", users[i]);
    pl_buf_lit(&b, "]");
    char *out = pl_xmalloc(b.len + 1);
    memcpy(out, pl_buf_head(&b), b.len);
    out[b.len] = '\0';
    pl_buf_dispose(&b);
    return out;
}

int pl_store__mentions_delete(pl_db_t *db, int64_t room_id, int64_t seq)
{
    sqlite3_stmt *s = STMT(db, ST_MENTION_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    return pl_store__step_done(db, s, "mention_delete");
}

static int mention_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t user, int64_t sender)
{
    sqlite3_stmt *s = STMT(db, ST_MENTION_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, user);
    sqlite3_bind_int64(s, 4, sender);
    return pl_store__step_done(db, s, "mention_insert");
}

int pl_store__mentions_insert(pl_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                              const int64_t *users, size_t n, bool mention_room)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = mention_insert(db, room_id, seq, users[i], sender);
    if (rc == 0 && mention_room)
        rc = mention_insert(db, room_id, seq, 0, sender);
    return rc;
}

/* Increments the room's last_version and returns the new value. */
int pl_store__bump_version(pl_db_t *db, int64_t room_id, int64_t *version)
{
    sqlite3_stmt *s = STMT(db, ST_ROOM_BUMP_VERSION);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    int64_t v = 0;
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "pl_store__bump_version");
    }
    pl_store__stmt_done(s);
    if (rc == 0)
        *version = v;
    return rc;
}

/* Runs a statement that must change exactly the message (room ?1, seq ?2)
 * with the given extra int64 parameters. */
int pl_store__msg_update(pl_db_t *db, sqlite3_stmt *s, const char *op, int64_t room_id, int64_t seq,
                         int nextra, const int64_t *extra)
{
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    for (int i = 0; i < nextra; i++)
        sqlite3_bind_int64(s, 3 + i, extra[i]);
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

static int thread_bump(pl_db_t *db, int64_t room_id, int64_t root, int64_t ts, pl_message_t *out)
{
    int64_t v[2] = {ts, 0};
    int rc = pl_store__bump_version(db, room_id, &v[1]);
    if (rc == 0)
        rc = pl_store__msg_update(db, STMT(db, ST_MSG_THREAD_BUMP), "thread_bump", room_id, root, 2,
                                  v);
    if (rc == 0)
        rc = pl_sq_message_get(db, room_id, root, out);
    return rc;
}

/* Reads the room's last_seq, inserts the row with the next seq, then stores
 * it as last_seq. An unknown room or sender fails before anything is written;
 * only a storage error can stop between the insert and the update, and that
 * rolls the job back (or the direct connection's fn savepoint), so seq stays
 * gap-free. The writer is the only writer, so nothing races the read. */
static int message_insert(pl_db_t *db, const pl_message_new_t *in, pl_message_t *m)
{
    int64_t room_id = in->room_id, sender = in->sender, now_ms = in->now_ms;
    const char *client_id = in->client_id, *content = in->content;
    sqlite3_stmt *s = STMT(db, ST_ROOM_LAST_SEQ);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    int rc = sqlite3_step(s);
    int64_t seq = 0;
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(s, 0) + 1;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "room_last_seq");
    }
    pl_store__stmt_done(s);
    if (rc != 0)
        return rc;

    if ((s = STMT(db, ST_MSG_INSERT)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, sender);
    pl_store__bind_text(s, 4, client_id);
    sqlite3_bind_int64(s, 5, now_ms);
    pl_store__bind_text(s, 6, content);
    sqlite3_bind_int64(s, 7, in->reply_to);
    sqlite3_bind_int64(s, 8, in->thread_root);
    sqlite3_bind_int64(s, 9, in->expires_ts);
    char *mentions = pl_store__mentions_json(in->mentions, in->nmentions);
    if (mentions != NULL)
        pl_store__bind_text(s, 10, mentions);
    else
        sqlite3_bind_null(s, 10);
    sqlite3_bind_int(s, 11, in->mention_room ? 1 : 0);
    sqlite3_bind_int64(s, 12, in->media);
    rc = pl_store__step_done(db, s, "message_insert");
    if (rc != 0) {
        free(mentions);
        return rc;
    }
    m->id = sqlite3_last_insert_rowid(db->h);
    m->mentions = mentions;
    if ((rc = pl_store__index_message(db, m->id, content)) != 0)
        return rc;
    if ((rc = pl_store__mentions_insert(db, room_id, seq, sender, in->mentions, in->nmentions,
                                        in->mention_room)) != 0)
        return rc;

    if ((s = STMT(db, ST_ROOM_SET_LAST_SEQ)) == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, seq);
    if ((rc = pl_store__step_done(db, s, "room_set_last_seq")) != 0)
        return rc == PL_EIO ? rc : pl_store__fail(db, "room_set_last_seq");
    m->room_id = room_id;
    m->seq = seq;
    m->sender = sender;
    m->ts = now_ms;
    m->reply_to = in->reply_to;
    m->thread_root = in->thread_root;
    m->expires_ts = in->expires_ts;
    m->mention_room = in->mention_room;
    return 0;
}

/* Stores a new message (no dedupe lookup: the caller did it). */
static int message_post_new(pl_db_t *db, const pl_message_new_t *in, pl_message_t *out,
                            pl_message_t *root)
{
    /* Inside a job the job's savepoint already covers a storage error between
     * the statements (row, search index, mentions, last_seq, thread root); the
     * savepoint is only needed in autocommit mode (direct connection), where
     * each statement would commit alone. Skipping it keeps the hot path short. */
    bool own_tx = sqlite3_get_autocommit(db->h);
    int rc;
    if (own_tx && (rc = pl_store__fn_begin(db)) != 0)
        return rc;
    pl_message_t m = {0};
    rc = message_insert(db, in, &m);
    pl_message_t r = {0};
    if (rc == 0 && in->thread_root > 0)
        rc = thread_bump(db, in->room_id, in->thread_root, in->now_ms, &r);
    if (own_tx)
        rc = pl_store__fn_end(db, rc);
    if (rc != 0) {
        pl_message_dispose(&m);
        pl_message_dispose(&r);
        return rc;
    }
    if (root != NULL)
        *root = r;
    else
        pl_message_dispose(&r);
    m.client_id = pl_xstrdup(in->client_id);
    m.content = pl_xstrdup(in->content);
    if (in->reply_to > 0) {
        /* The quote (sender, preview) comes from the original's row. */
        pl_message_t full = {0};
        if ((rc = pl_sq_message_get(db, in->room_id, m.seq, &full)) != 0) {
            pl_message_dispose(&m);
            if (root != NULL)
                pl_message_dispose(root);
            return rc;
        }
        pl_message_dispose(&m);
        m = full;
    }
    *out = m;
    return 0;
}

int pl_sq_message_post(pl_db_t *db, const pl_message_new_t *in, pl_message_t *out, bool *duplicate,
                       pl_message_t *root)
{
    /* Idempotency first: a retried client_id gets the original back. */
    pl_message_t m = {0};
    int rc = pl_sq_message_by_client_id(db, in->sender, in->client_id, &m);
    if (rc == 0) {
        *out = m;
        *duplicate = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    if ((rc = message_post_new(db, in, out, root)) == 0)
        *duplicate = false;
    return rc;
}

/* Checks that reply_to and thread_root name live messages of the room and
 * that a thread root is not itself a thread reply. */
static int post_check_refs(pl_db_t *db, pl_post_t *p)
{
    int64_t refs[2] = {p->reply_to, p->thread_root};
    for (int i = 0; i < 2; i++) {
        if (refs[i] <= 0)
            continue;
        pl_message_t t = {0};
        int rc = pl_sq_message_get(db, p->room_id, refs[i], &t);
        bool dead = rc == 0 && t.deleted, nested = rc == 0 && i == 1 && t.thread_root > 0;
        pl_message_dispose(&t);
        if (rc == PL_ENOTFOUND || dead)
            p->refused = i ? PL_REFUSAL_NO_THREAD : PL_REFUSAL_NO_REPLY;
        else if (rc < 0)
            return rc;
        else if (nested)
            p->refused = PL_REFUSAL_NESTED_THREAD;
        if (p->refused != PL_REFUSAL_NONE)
            return 0;
    }
    return 0;
}

/* The sender must be able to see the media (their upload, or shared in one
 * of their rooms); otherwise it does not exist for them. A sticker must be
 * an image with a thumbnail. */
static int post_check_media(pl_db_t *db, pl_post_t *p, int64_t now_ms)
{
    if (p->media <= 0)
        return 0;
    bool visible = false;
    int rc = pl_sq_media_visible(db, p->media, p->sender, now_ms, &visible);
    if (rc == PL_ENOTFOUND || (rc == 0 && !visible)) {
        p->refused = PL_REFUSAL_NO_MEDIA;
        return 0;
    }
    if (rc < 0 || !p->sticker)
        return rc;
    pl_media_rec_t mr = {0};
    if ((rc = pl_sq_media_get(db, p->media, &mr)) < 0)
        return rc;
    bool image = mr.mime != NULL && !strncmp(mr.mime, "image/", 6) && mr.thumb_w > 0;
    pl_media_rec_dispose(&mr);
    if (!image)
        p->refused = PL_REFUSAL_NOT_STICKER;
    return 0;
}

/* The ids of the mentioned names that are members of the room: one
 * indexed lookup per name. Mentions of non-members (or of nobody) do
 * nothing. *ids is malloc'd (free()). */
int pl_store__mention_ids(pl_db_t *db, int64_t room_id, const char *const *names, size_t nnames,
                          int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (nnames == 0)
        return 0;
    sqlite3_stmt *s = STMT(db, ST_MENTION_MEMBER);
    if (s == NULL)
        return PL_EIO;
    *ids = pl_xcalloc(nnames, sizeof **ids);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nnames; i++) {
        sqlite3_bind_int64(s, 1, room_id);
        pl_store__bind_text(s, 2, names[i]);
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW)
            (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
        else if (step != SQLITE_DONE)
            rc = pl_store__fail(db, "mention_member");
        pl_store__stmt_done(s);
    }
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int pl_sq_message_send(pl_db_t *db, pl_post_t *p)
{
    p->refused = PL_REFUSAL_NONE;
    p->duplicate = false;
    int rc = pl_sq_message_by_client_id(db, p->sender, p->client_id, &p->message);
    if (rc == 0) { /* a retry: the original, whatever happened since */
        p->duplicate = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    int64_t now = pl_now_ms();
    if ((rc = post_check_refs(db, p)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    if ((rc = post_check_media(db, p, now)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    int64_t *ids = NULL;
    size_t nids = 0;
    if ((rc = pl_store__mention_ids(db, p->room_id, p->mention_names, p->nmention_names, &ids,
                                    &nids)) != 0)
        return rc;
    pl_message_new_t in = {
        .room_id = p->room_id,
        .sender = p->sender,
        .client_id = p->client_id,
        .content = p->content,
        .now_ms = now,
        .reply_to = p->reply_to,
        .thread_root = p->thread_root,
        .expires_ts = p->expires_in > 0 ? now + p->expires_in : 0,
        .mentions = ids,
        .nmentions = nids,
        .mention_room = p->mention_room,
        .media = p->media, /* grants the room access and keeps the media alive */
    };
    rc = message_post_new(db, &in, &p->message, &p->root);
    free(ids);
    if (rc == PL_ENOTFOUND) { /* a foreign key: the room or the sender is gone */
        p->refused = PL_REFUSAL_NOT_FOUND;
        rc = 0;
    }
    return rc;
}

void pl_post_dispose(pl_post_t *p)
{
    if (p == NULL)
        return;
    pl_message_dispose(&p->message);
    pl_message_dispose(&p->root);
}

/* Queries that walk newest first (so LIMIT keeps the newest) hand their rows
 * back oldest first. */
static void reverse(pl_message_t *v, size_t len)
{
    for (size_t i = 0; i < len / 2; i++) {
        pl_message_t t = v[i];
        v[i] = v[len - 1 - i];
        v[len - 1 - i] = t;
    }
}

int pl_sq_messages_before(pl_db_t *db, int64_t room_id, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_BEFORE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, before <= 0 ? INT64_MAX : before);
    sqlite3_bind_int64(s, 3, limit < 0 ? 0 : limit);
    pl_message_t *v;
    size_t len;
    int rc = pl_store__collect_messages(db, s, "messages_before", &v, &len);
    if (rc != 0)
        return rc;
    reverse(v, len);
    *out = v;
    *n = len;
    return 0;
}

int pl_sq_messages_after(pl_db_t *db, int64_t room_id, int64_t after, int64_t limit,
                         pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_AFTER);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, limit < 0 ? 0 : limit);
    return pl_store__collect_messages(db, s, "messages_after", out, n);
}

int pl_sq_messages_updated(pl_db_t *db, int64_t room_id, int64_t max_seq, int64_t after_version,
                           int64_t limit, pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_UPDATED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, max_seq);
    sqlite3_bind_int64(s, 3, after_version);
    sqlite3_bind_int64(s, 4, limit < 0 ? 0 : limit);
    return pl_store__collect_messages(db, s, "messages_updated", out, n);
}

int pl_sq_thread_messages(pl_db_t *db, int64_t room_id, int64_t root, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_MSG_THREAD);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, room_id);
    sqlite3_bind_int64(s, 2, root);
    sqlite3_bind_int64(s, 3, before <= 0 ? INT64_MAX : before);
    sqlite3_bind_int64(s, 4, limit < 0 ? 0 : limit);
    pl_message_t *v;
    size_t len;
    int rc = pl_store__collect_messages(db, s, "thread_messages", &v, &len);
    if (rc != 0)
        return rc;
    reverse(v, len);
    *out = v;
    *n = len;
    return 0;
}
