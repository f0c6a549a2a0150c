/* SPDX-License-Identifier: MIT */
/* store_pg_messages.c -- messages on PostgreSQL (see
 * store_sqlite_messages.c): the row and how it is read, posting with
 * gap-free per-room seq under several writer nodes, history, sync, threads,
 * versions and mention rows. */
#include "store/store_pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

/* Every message query selects these columns (pl_pg__message_from_row), as
 * PL_STORE_MSG_SELECT does for SQLite: the row, the quoted message's sender
 * and preview, the reactions as a JSON array (NULL when none). */
#define J(col, key) "(" col "::jsonb ->> '" key "')"
#define MSG_SELECT                                                                                 \
    "SELECT m.id, m.room_id, m.seq, m.sender, m.ts, m.client_id, m.content, m.version, "           \
    "m.edited_ts, m.deleted, m.reply_to, m.thread_root, m.thread_count, m.thread_last_ts, "        \
    "m.expires_ts, m.mentions, m.mention_room, o.sender, "                                         \
    "CASE WHEN o.id IS NULL THEN NULL WHEN o.deleted THEN '' ELSE "                                \
    "substr(coalesce(" J("o.content", "body") ", " J(                                              \
        "o.content",                                                                               \
        "caption") ", "                                                                            \
                   "CASE " J(                                                                      \
                       "o.content",                                                                \
                       "type") " WHEN 'image' THEN 'Photo' WHEN 'video' THEN 'Video' "             \
                               "WHEN 'voice' THEN 'Voice message' WHEN 'sticker' THEN 'Sticker' "  \
                               "WHEN 'file' THEN 'File: ' || coalesce(" J(                         \
                                   "o.content",                                                    \
                                   "name") ", '') END, ''), 1, 100) END, " /* compact JSON, byte   \
                                                                              for byte what        \
                                                                              SQLite's             \
                                                                              json_group_array     \
                                                                              builds */            \
                                           "(SELECT '[' || string_agg('{\"emoji\":' || "           \
                                           "to_json(g.emoji)::text || ',\"count\":' || g.n "       \
                                           "|| ',\"users\":' || g.users || '}', ',' ORDER BY "     \
                                           "g.first) || ']' "                                      \
                                           "FROM (SELECT r.emoji AS emoji, count(*) AS n, "        \
                                           "min(r.id) AS first, "                                  \
                                           "(SELECT '[' || string_agg('\"u' || y.user_id || "      \
                                           "'\"', ',' ORDER BY y.id) || ']' "                      \
                                           "FROM (SELECT y2.user_id, y2.id FROM reactions y2 "     \
                                           "WHERE y2.message_id = m.id "                           \
                                           "AND y2.emoji = r.emoji ORDER BY y2.id LIMIT 50) y) "   \
                                           "AS users "                                             \
                                           "FROM reactions r WHERE r.message_id = m.id GROUP BY "  \
                                           "r.emoji) g) "                                          \
                                           "FROM messages m LEFT JOIN messages o ON m.reply_to > " \
                                           "0 AND o.room_id = m.room_id "                          \
                                           "AND o.seq = m.reply_to "
const char pl_pg__msg_select[] = MSG_SELECT;

enum {
    ST_MSG_GET,
    ST_MSG_BY_CLIENT_ID,
    ST_MENTION_MEMBER,
    ST_MENTION_INSERT,
    ST_MENTION_DELETE,
    ST_ROOM_BUMP_VERSION,
    ST_MSG_THREAD_BUMP,
    ST_MSG_INSERT,
    ST_MSG_BEFORE,
    ST_MSG_AFTER,
    ST_MSG_UPDATED,
    ST_MSG_THREAD,
    ST_MSG_INSERT_LOCK,
    ST_MSG_INSERT_AT,
    ST_BATCH_PREP,
    ST_BATCH_INSERT,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MSG_GET] = MSG_SELECT "WHERE m.room_id = $1 AND m.seq = $2",
    [ST_MSG_BY_CLIENT_ID] = MSG_SELECT "WHERE m.sender = $1 AND m.client_id = $2",
    [ST_MENTION_MEMBER] = "SELECT u.id FROM users u JOIN members m ON m.room_id = $1 "
                          "AND m.user_id = u.id WHERE u.username = $2",
    /* $3: the user ids as an array literal ("{1,2}"; 0 is @room). */
    [ST_MENTION_INSERT] = "INSERT INTO mentions(room_id, seq, user_id, sender) "
                          "SELECT $1, $2, unnest($3::bigint[]), $4 ON CONFLICT DO NOTHING",
    [ST_MENTION_DELETE] = "DELETE FROM mentions WHERE room_id = $1 AND seq = $2",
    [ST_ROOM_BUMP_VERSION] = "UPDATE rooms SET last_version = last_version + 1 WHERE id = $1 "
                             "RETURNING last_version",
    [ST_MSG_THREAD_BUMP] = "UPDATE messages SET thread_count = thread_count + 1, "
                           "thread_last_ts = $3, version = $4 WHERE room_id = $1 AND seq = $2",
    /* The append, in one statement (see pl_pg_message_post): lock the room
     * row (FOR UPDATE waits for another node's batch holding it and then
     * reads its committed last_seq), insert with the next seq unless the
     * (sender, client_id) exists, and move last_seq only if a row went in. */
    [ST_MSG_INSERT] =
        "WITH r AS (SELECT last_seq FROM rooms WHERE id = $1 FOR UPDATE), "
        "ins AS (INSERT INTO messages(room_id, seq, sender, client_id, ts, content, reply_to, "
        "thread_root, expires_ts, mentions, mention_room, media) "
        "SELECT $1, r.last_seq + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM r "
        "ON CONFLICT (sender, client_id) DO NOTHING RETURNING id, seq), "
        "upd AS (UPDATE rooms SET last_seq = ins.seq FROM ins WHERE rooms.id = $1) "
        "SELECT ins.id, ins.seq, (SELECT count(*) FROM r) FROM ins",
    /* The writer's appends inside a batch (the seq cache below). The first
     * in a room takes the room row's lock and reads last_seq, with
     * ST_MSG_INSERT's parameters; the row (last_seq, id, seq) comes back even
     * when the insert found the client_id (ins empty), and no row at all
     * when the room does not exist. */
    [ST_MSG_INSERT_LOCK] =
        "WITH r AS (SELECT last_seq FROM rooms WHERE id = $1 FOR UPDATE), "
        "ins AS (INSERT INTO messages(room_id, seq, sender, client_id, ts, content, reply_to, "
        "thread_root, expires_ts, mentions, mention_room, media) "
        "SELECT $1, r.last_seq + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM r "
        "ON CONFLICT (sender, client_id) DO NOTHING RETURNING id, seq) "
        "SELECT r.last_seq, ins.id, ins.seq FROM r LEFT JOIN ins ON true",
    /* Later appends to a locked room: the seq is known ($12). */
    [ST_MSG_INSERT_AT] =
        "INSERT INTO messages(room_id, seq, sender, client_id, ts, content, reply_to, "
        "thread_root, expires_ts, mentions, mention_room, media) "
        "VALUES ($1, $12, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (sender, client_id) DO NOTHING RETURNING id, seq",
    /* Batched appends (pl_pg__post_batch), arrays as literals. First, one
     * round trip: lock the rooms $1 not yet locked by this batch (in id
     * order, so two nodes' batches take them in the same order) with their
     * last_seq (kind 0), and the (sender, client_id) pairs of $2, $3 already
     * stored (kind 1, with their seq). */
    [ST_BATCH_PREP] =
        "WITH l AS (SELECT id, last_seq FROM rooms WHERE id = ANY($1::bigint[]) ORDER BY id "
        "FOR UPDATE) SELECT 0, id, last_seq, NULL FROM l UNION ALL "
        "SELECT 1, m.sender, m.seq, m.client_id FROM unnest($2::bigint[], $3::text[]) "
        "AS u(sender, cid) JOIN messages m ON m.sender = u.sender AND m.client_id = u.cid",
    /* Then the rows, seqs known: one statement (one executor start, one
     * setup of the generated column and the foreign-key triggers) for the
     * run. A client_id that another node inserted meanwhile is skipped by
     * ON CONFLICT: fewer rows come back and the caller undoes the run. */
    [ST_BATCH_INSERT] =
        "INSERT INTO messages(room_id, seq, sender, client_id, ts, content, expires_ts) "
        "SELECT u.r, u.s, u.snd, u.cid, $5, u.body, u.exp FROM unnest($1::bigint[], "
        "$2::bigint[], $3::bigint[], $4::text[], $6::text[], $7::bigint[]) "
        "AS u(r, s, snd, cid, body, exp) "
        "ON CONFLICT (sender, client_id) DO NOTHING RETURNING room_id, seq, id",
    [ST_MSG_BEFORE] = MSG_SELECT "WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3",
    [ST_MSG_AFTER] = MSG_SELECT "WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3",
    [ST_MSG_UPDATED] = MSG_SELECT "WHERE m.room_id = $1 AND m.version > $3 "
                                  "AND m.seq <= $2 ORDER BY m.version LIMIT $4",
    [ST_MSG_THREAD] = MSG_SELECT "WHERE m.room_id = $1 AND m.thread_root = $2 "
                                 "AND m.seq < $3 ORDER BY m.seq DESC LIMIT $4",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, guard, op, res) pl_pg__one((db), &stmts, (id), (a), (guard), (op), (res))

void pl_pg__message_from_row(const PGresult *r, int i, pl_message_t *m)
{
    m->id = pl_pg__i64(r, i, 0);
    m->room_id = pl_pg__i64(r, i, 1);
    m->seq = pl_pg__i64(r, i, 2);
    m->sender = pl_pg__i64(r, i, 3);
    m->ts = pl_pg__i64(r, i, 4);
    m->client_id = pl_pg__str(r, i, 5);
    m->content = pl_pg__str(r, i, 6);
    m->version = pl_pg__i64(r, i, 7);
    m->edited_ts = pl_pg__i64(r, i, 8);
    m->deleted = pl_pg__b(r, i, 9);
    m->reply_to = pl_pg__i64(r, i, 10);
    m->thread_root = pl_pg__i64(r, i, 11);
    m->thread_count = pl_pg__i64(r, i, 12);
    m->thread_last_ts = pl_pg__i64(r, i, 13);
    m->expires_ts = pl_pg__i64(r, i, 14);
    m->mentions = pl_pg__str_or_null(r, i, 15);
    m->mention_room = pl_pg__b(r, i, 16);
    m->reply_sender = pl_pg__i64(r, i, 17);
    m->reply_preview = m->reply_to > 0 ? pl_pg__str(r, i, 18) : NULL;
    m->reactions = pl_pg__str_or_null(r, i, 19);
}

void pl_pg__messages_from(const PGresult *r, pl_message_t **out, size_t *n)
{
    int rows = PQntuples(r);
    pl_message_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++)
        pl_pg__message_from_row(r, i, &v[i]);
    *out = v;
    *n = (size_t)rows;
}

static int message_one(pl_pg_db_t *db, int id, const pl_pg_args_t *a, const char *op,
                       pl_message_t *out)
{
    PGresult *r = NULL;
    int rc = ONE(db, id, a, false, op, &r);
    if (rc == 0) {
        pl_pg__message_from_row(r, 0, out);
        PQclear(r);
    }
    return rc;
}

int pl_pg_message_get(pl_db_t *d, int64_t room_id, int64_t seq, pl_message_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, seq);
    return message_one(PG_DB(d), ST_MSG_GET, &a, "message_get", out);
}

int pl_pg_message_by_client_id(pl_db_t *d, int64_t sender, const char *client_id, pl_message_t *out)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, sender);
    pl_pg__text(&a, client_id);
    return message_one(PG_DB(d), ST_MSG_BY_CLIENT_ID, &a, "message_by_client_id", out);
}

/* The user ids as a PostgreSQL array literal: owned, "{1,2,0}". */
static char *id_array(const int64_t *users, size_t n, bool mention_room)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{");
    for (size_t i = 0; i < n; i++)
        pl_buf_printf(&b, "%s%" PRId64, i ? "," : "", users[i]);
    if (mention_room)
        pl_buf_printf(&b, "%s0", n ? "," : "");
    pl_buf_lit(&b, "}");
    char *out = pl_xmalloc(b.len + 1);
    memcpy(out, pl_buf_head(&b), b.len);
    out[b.len] = '\0';
    pl_buf_dispose(&b);
    return out;
}

char *pl_pg__mentions_json(const int64_t *users, size_t n)
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

int pl_pg__mentions_delete(pl_pg_db_t *db, int64_t room_id, int64_t seq)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, seq);
    return RUN(db, ST_MENTION_DELETE, &a, false, "mention_delete", NULL);
}

int pl_pg__mentions_insert(pl_pg_db_t *db, int64_t room_id, int64_t seq, int64_t sender,
                           const int64_t *users, size_t n, bool mention_room)
{
    if (n == 0 && !mention_room)
        return 0;
    char *arr = id_array(users, n, mention_room);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, seq);
    pl_pg__text(&a, arr);
    pl_pg__int(&a, sender);
    int rc = RUN(db, ST_MENTION_INSERT, &a, false, "mention_insert", NULL);
    free(arr);
    return rc;
}

int pl_pg__bump_version(pl_pg_db_t *db, int64_t room_id, int64_t *version)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    PGresult *r = NULL;
    int rc = ONE(db, ST_ROOM_BUMP_VERSION, &a, false, "bump_version", &r);
    if (rc == 0) {
        *version = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

static int thread_bump(pl_pg_db_t *db, int64_t room_id, int64_t root, int64_t ts, pl_message_t *out)
{
    int64_t v = 0;
    int rc = pl_pg__bump_version(db, room_id, &v);
    if (rc == 0) {
        pl_pg_args_t a = {0};
        pl_pg__int(&a, room_id);
        pl_pg__int(&a, root);
        pl_pg__int(&a, ts);
        pl_pg__int(&a, v);
        rc = pl_pg__changed(db, &stmts, ST_MSG_THREAD_BUMP, &a, false, "thread_bump");
    }
    if (rc == 0)
        rc = pl_pg_message_get((pl_db_t *)db, room_id, root, out);
    return rc;
}

static bool seq_cached(const pl_pg_db_t *db)
{
    return db->role == PL_PG_WRITER && db->in_job && PQtransactionStatus(db->c) != PQTRANS_IDLE;
}

/* The append inside a batch (the seq cache): returns 0 with *out holding
 * (last_seq, id, seq) or (id, seq), id NULL or no row when the client_id
 * exists, *out NULL when the room does not exist; or an error. */
static int insert_cached(pl_pg_db_t *db, pl_pg_args_t *a, int64_t room, PGresult **out)
{
    size_t idx = 0;
    const pl_pg_seq_t *e = pl_pg__seq_find(db, room, &idx);
    PGresult *r = NULL;
    int rc;
    db->seq_quiet = true;
    if (e == NULL) {
        rc = RUN(db, ST_MSG_INSERT_LOCK, a, false, "message_insert", &r);
        if (rc == 0 && PQntuples(r) == 0) {
            PQclear(r);
            r = NULL;
        } else if (rc == 0) {
            idx = pl_pg__seq_add(db, room, pl_pg__i64(r, 0, 0));
            if (!PQgetisnull(r, 0, 1))
                pl_pg__seq_set(db, idx, pl_pg__i64(r, 0, 2));
        }
    } else {
        pl_pg__int(a, e->seq + 1);
        rc = RUN(db, ST_MSG_INSERT_AT, a, false, "message_insert", &r);
        if (rc == 0 && PQntuples(r) > 0)
            pl_pg__seq_set(db, idx, pl_pg__i64(r, 0, 1));
    }
    db->seq_quiet = false;
    if (rc == 0)
        *out = r;
    return rc;
}

/* Posts a new message. Returns 0 with *out, PL_EEXIST when (sender,
 * client_id) exists (nothing written: the caller reads the original),
 * PL_ENOTFOUND for an unknown room or sender, or PL_EIO.
 *
 * Several writer nodes: ST_MSG_INSERT locks the room row first (FOR
 * UPDATE), so the seq is read and written under a lock held until this
 * node's group COMMIT; another node's insert into the same room waits for
 * that COMMIT, then reads the committed last_seq (READ COMMITTED re-reads
 * the newest row version after the wait). last_seq moves only when the row
 * went in, in the same statement, so a job that is rolled back later (its
 * savepoint) takes its seq back before anyone else can see or take it: seqs
 * stay 1..N without gaps or duplicates (and UNIQUE (room_id, seq) would
 * refuse a duplicate anyway). A retried client_id that raced the original
 * from another node waits on the unique index, finds the conflict and
 * inserts nothing (ON CONFLICT DO NOTHING). */
static int message_insert(pl_pg_db_t *db, const pl_message_new_t *in, pl_message_t *m)
{
    char *mentions = pl_pg__mentions_json(in->mentions, in->nmentions);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, in->room_id);
    pl_pg__int(&a, in->sender);
    pl_pg__text(&a, in->client_id);
    pl_pg__int(&a, in->now_ms);
    pl_pg__text(&a, in->content);
    pl_pg__int(&a, in->reply_to);
    pl_pg__int(&a, in->thread_root);
    pl_pg__int(&a, in->expires_ts);
    if (mentions != NULL)
        pl_pg__text(&a, mentions);
    else
        pl_pg__null(&a);
    pl_pg__bool(&a, in->mention_room);
    pl_pg__int(&a, in->media);
    PGresult *r = NULL;
    int col = 0; /* of (id, seq) in r */
    int rc;
    if (seq_cached(db)) {
        rc = insert_cached(db, &a, in->room_id, &r);
        if (rc == 0 && r != NULL && PQnfields(r) == 3) {
            col = 1;
            if (PQgetisnull(r, 0, 1)) { /* the room is there, the client_id too */
                PQclear(r);
                r = NULL;
            }
        }
    } else {
        rc = RUN(db, ST_MSG_INSERT, &a, false, "message_insert", &r);
    }
    if (rc != 0) {
        free(mentions);
        return rc;
    }
    if (r == NULL || PQntuples(r) == 0) {
        PQclear(r);
        free(mentions);
        /* No row: the room is missing, or the client_id exists. */
        pl_message_t orig = {0};
        rc = pl_pg_message_by_client_id((pl_db_t *)db, in->sender, in->client_id, &orig);
        pl_message_dispose(&orig);
        return rc == 0 ? PL_EEXIST : rc;
    }
    m->id = pl_pg__i64(r, 0, col);
    m->seq = pl_pg__i64(r, 0, col + 1);
    PQclear(r);
    m->mentions = mentions;
    if ((rc = pl_pg__mentions_insert(db, in->room_id, m->seq, in->sender, in->mentions,
                                     in->nmentions, in->mention_room)) != 0)
        return rc;
    m->room_id = in->room_id;
    m->sender = in->sender;
    m->ts = in->now_ms;
    m->reply_to = in->reply_to;
    m->thread_root = in->thread_root;
    m->expires_ts = in->expires_ts;
    m->mention_room = in->mention_room;
    return 0;
}

/* Stores a new message; PL_EEXIST when the client_id was taken meanwhile.
 * The statements after the insert (mentions, thread root) run in a
 * savepoint only when there are any, or in autocommit (the direct
 * connection): a plain text message is one statement. */
static int message_post_new(pl_pg_db_t *db, const pl_message_new_t *in, pl_message_t *out,
                            pl_message_t *root)
{
    bool multi = in->nmentions > 0 || in->mention_room || in->thread_root > 0;
    bool own = multi || PQtransactionStatus(db->c) == PQTRANS_IDLE;
    int rc;
    if (own && (rc = pl_pg__fn_begin(db)) != 0)
        return rc;
    pl_message_t m = {0};
    rc = message_insert(db, in, &m);
    pl_message_t r = {0};
    if (rc == 0 && in->thread_root > 0)
        rc = thread_bump(db, in->room_id, in->thread_root, in->now_ms, &r);
    if (own)
        rc = pl_pg__fn_end(db, rc);
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
        pl_message_t full = {0};
        if ((rc = pl_pg_message_get((pl_db_t *)db, in->room_id, m.seq, &full)) != 0) {
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

int pl_pg_message_post(pl_db_t *d, const pl_message_new_t *in, pl_message_t *out, bool *duplicate,
                       pl_message_t *root)
{
    pl_pg_db_t *db = PG_DB(d);
    int rc = message_post_new(db, in, out, root);
    if (rc == PL_EEXIST) { /* a retry: the original */
        if ((rc = pl_pg_message_by_client_id(d, in->sender, in->client_id, out)) == 0)
            *duplicate = true;
        return rc;
    }
    if (rc == 0)
        *duplicate = false;
    return rc;
}

static int post_check_refs(pl_pg_db_t *db, pl_post_t *p)
{
    int64_t refs[2] = {p->reply_to, p->thread_root};
    for (int i = 0; i < 2; i++) {
        if (refs[i] <= 0)
            continue;
        pl_message_t t = {0};
        int rc = pl_pg_message_get((pl_db_t *)db, p->room_id, refs[i], &t);
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

static int post_check_media(pl_pg_db_t *db, pl_post_t *p, int64_t now_ms)
{
    if (p->media <= 0)
        return 0;
    bool visible = false;
    int rc = pl_pg_media_visible((pl_db_t *)db, p->media, p->sender, now_ms, &visible);
    if (rc == PL_ENOTFOUND || (rc == 0 && !visible)) {
        p->refused = PL_REFUSAL_NO_MEDIA;
        return 0;
    }
    if (rc < 0 || !p->sticker)
        return rc;
    pl_media_rec_t mr = {0};
    if ((rc = pl_pg_media_get((pl_db_t *)db, p->media, &mr)) < 0)
        return rc;
    bool image = mr.mime != NULL && !strncmp(mr.mime, "image/", 6) && mr.thumb_w > 0;
    pl_media_rec_dispose(&mr);
    if (!image)
        p->refused = PL_REFUSAL_NOT_STICKER;
    return 0;
}

int pl_pg__mention_ids(pl_pg_db_t *db, int64_t room_id, const char *const *names, size_t nnames,
                       int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (nnames == 0)
        return 0;
    *ids = pl_xcalloc(nnames, sizeof **ids);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nnames; i++) {
        pl_pg_args_t a = {0};
        pl_pg__int(&a, room_id);
        pl_pg__text(&a, names[i]);
        PGresult *r = NULL;
        if ((rc = RUN(db, ST_MENTION_MEMBER, &a, false, "mention_member", &r)) == 0) {
            if (PQntuples(r) > 0)
                (*ids)[(*n)++] = pl_pg__i64(r, 0, 0);
            PQclear(r);
        }
    }
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int pl_pg_message_send(pl_db_t *d, pl_post_t *p)
{
    pl_pg_db_t *db = PG_DB(d);
    p->refused = PL_REFUSAL_NONE;
    p->duplicate = false;
    /* A retry gets the original whatever happened since, so when checks
     * could refuse it (reply, thread, media) the dedupe lookup comes first.
     * A plain message skips it: the insert's ON CONFLICT finds a retry. */
    bool checks = p->reply_to > 0 || p->thread_root > 0 || p->media > 0;
    int rc;
    if (checks) {
        rc = pl_pg_message_by_client_id(d, p->sender, p->client_id, &p->message);
        if (rc == 0) {
            p->duplicate = true;
            return 0;
        }
        if (rc != PL_ENOTFOUND)
            return rc;
    }
    int64_t now = pl_now_ms();
    if ((rc = post_check_refs(db, p)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    if ((rc = post_check_media(db, p, now)) != 0 || p->refused != PL_REFUSAL_NONE)
        return rc;
    int64_t *ids = NULL;
    size_t nids = 0;
    if ((rc = pl_pg__mention_ids(db, p->room_id, p->mention_names, p->nmention_names, &ids,
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
        .media = p->media,
    };
    rc = message_post_new(db, &in, &p->message, &p->root);
    free(ids);
    if (rc == PL_EEXIST) {
        rc = pl_pg_message_by_client_id(d, p->sender, p->client_id, &p->message);
        if (rc == 0)
            p->duplicate = true;
    } else if (rc == PL_ENOTFOUND) {
        p->refused = PL_REFUSAL_NOT_FOUND;
        rc = 0;
    }
    return rc;
}

/* ---- batched appends (the writer's runs of plain posts, store_pg.c) ----
 * One post per row, as pl_pg_message_send would store it, with the same
 * contract: the rooms are locked FOR UPDATE in this transaction before
 * their seqs are taken (the seq cache then continues them), a client_id
 * already stored or repeated within the run is left to its own job (which
 * finds the original), and a row that ON CONFLICT skipped (another node's
 * insert of the same client_id, committed while this one waited) makes the
 * whole run fail so that no seq is skipped: the caller rolls back and runs
 * the posts one by one. */

bool pl_pg__post_plain(const pl_post_t *p)
{
    return p->reply_to <= 0 && p->thread_root <= 0 && p->media <= 0 && p->nmention_names == 0 &&
           !p->mention_room && p->client_id != NULL && p->content != NULL;
}

/* An array literal element: "..." with " and \ escaped. */
static void arr_text(pl_buf_t *b, const char *s, bool first)
{
    if (first)
        pl_buf_lit(b, "\"");
    else
        pl_buf_lit(b, ",\"");
    for (const char *q = s;; q++) {
        size_t run = strcspn(q, "\"\\");
        pl_buf_append(b, q, run);
        q += run;
        if (*q == '\0')
            break;
        char esc[2] = {'\\', *q};
        pl_buf_append(b, esc, 2);
    }
    pl_buf_lit(b, "\"");
}

static void arr_int(pl_buf_t *b, int64_t x, bool first)
{
    pl_buf_printf(b, "%s%" PRId64, first ? "" : ",", x);
}

/* Terminates the array literal in b (NUL included) for a text parameter. */
static const char *arr_end(pl_buf_t *b)
{
    pl_buf_append(b, "}", 2);
    return pl_buf_head(b);
}

typedef struct {
    int64_t sender;
    const char *cid;
    size_t i; /* index in the run */
} cid_key_t;

static int cid_cmp(const void *x, const void *y)
{
    const cid_key_t *a = x, *b = y;
    if (a->sender != b->sender)
        return a->sender < b->sender ? -1 : 1;
    int c = strcmp(a->cid, b->cid);
    if (c != 0)
        return c;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* skip[i] for every post whose (sender, client_id) repeats an earlier one
 * of the run or is among the stored pairs of r (kind 1 rows). */
static void batch_dedupe(const PGresult *r, pl_post_t *const *p, size_t n, bool *skip)
{
    cid_key_t *k = pl_xmalloc(n * sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (cid_key_t){p[i]->sender, p[i]->client_id, i};
    qsort(k, n, sizeof *k, cid_cmp);
    for (size_t i = 1; i < n; i++)
        if (k[i].sender == k[i - 1].sender && strcmp(k[i].cid, k[i - 1].cid) == 0)
            skip[k[i].i] = true;
    for (int row = 0; row < PQntuples(r); row++) {
        if (pl_pg__i64(r, row, 0) != 1)
            continue;
        cid_key_t key = {pl_pg__i64(r, row, 1), PQgetvalue(r, row, 3), 0};
        /* the first of the equal keys (lowest i): i 0 sorts before it */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cid_cmp(&k[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < n && k[i].sender == key.sender && strcmp(k[i].cid, key.cid) == 0;
             i++)
            skip[k[i].i] = true;
    }
    free(k);
}

static int id_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* ST_BATCH_PREP: locks the rooms of p not locked yet, reads what is stored
 * already; 0 with *out, or an error. */
static int batch_prep(pl_pg_db_t *db, pl_post_t *const *p, size_t n, PGresult **out)
{
    pl_buf_t rooms, senders, cids;
    pl_buf_init(&rooms);
    pl_buf_init(&senders);
    pl_buf_init(&cids);
    pl_buf_lit(&rooms, "{");
    pl_buf_lit(&senders, "{");
    pl_buf_lit(&cids, "{");
    /* The run's rooms, each once (sorted), that the batch has not locked. */
    int64_t *ids = pl_xmalloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = p[i]->room_id;
    qsort(ids, n, sizeof *ids, id_cmp);
    bool first_room = true;
    for (size_t i = 0; i < n; i++) {
        size_t idx;
        if ((i > 0 && ids[i] == ids[i - 1]) || pl_pg__seq_find(db, ids[i], &idx) != NULL)
            continue;
        arr_int(&rooms, ids[i], first_room);
        first_room = false;
    }
    free(ids);
    for (size_t i = 0; i < n; i++) {
        arr_int(&senders, p[i]->sender, i == 0);
        arr_text(&cids, p[i]->client_id, i == 0);
    }
    pl_pg_args_t a = {0};
    pl_pg__text(&a, arr_end(&rooms));
    pl_pg__text(&a, arr_end(&senders));
    pl_pg__text(&a, arr_end(&cids));
    db->seq_quiet = true;
    int rc = RUN(db, ST_BATCH_PREP, &a, false, "batch_prep", out);
    db->seq_quiet = false;
    pl_buf_dispose(&rooms);
    pl_buf_dispose(&senders);
    pl_buf_dispose(&cids);
    return rc;
}

int pl_pg__post_batch(pl_pg_db_t *db, pl_post_t *const *p, size_t n, bool *in)
{
    PGresult *r = NULL;
    int rc = batch_prep(db, p, n, &r);
    if (rc != 0)
        return rc;
    for (int row = 0; row < PQntuples(r); row++)
        if (pl_pg__i64(r, row, 0) == 0)
            pl_pg__seq_add(db, pl_pg__i64(r, row, 1), pl_pg__i64(r, row, 2));
    bool *skip = pl_xcalloc(n, sizeof *skip);
    batch_dedupe(r, p, n, skip);
    PQclear(r);

    /* The seqs, in the run's order, after the cached ones. */
    int64_t now = pl_now_ms();
    int64_t *seq = pl_xcalloc(n, sizeof *seq);
    pl_buf_t rooms, seqs, senders, cids, bodies, exps;
    pl_buf_t *bufs[] = {&rooms, &seqs, &senders, &cids, &bodies, &exps};
    for (size_t b = 0; b < PL_ARRAY_LEN(bufs); b++) {
        pl_buf_init(bufs[b]);
        pl_buf_lit(bufs[b], "{");
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t idx;
        const pl_pg_seq_t *e = skip[i] ? NULL : pl_pg__seq_find(db, p[i]->room_id, &idx);
        if (e == NULL) { /* stored already, repeated, or no such room */
            skip[i] = true;
            continue;
        }
        seq[i] = e->seq + 1;
        pl_pg__seq_set(db, idx, seq[i]);
        bool first = count++ == 0;
        arr_int(&rooms, p[i]->room_id, first);
        arr_int(&seqs, seq[i], first);
        arr_int(&senders, p[i]->sender, first);
        arr_text(&cids, p[i]->client_id, first);
        arr_text(&bodies, p[i]->content, first);
        arr_int(&exps, p[i]->expires_in > 0 ? now + p[i]->expires_in : 0, first);
    }
    rc = 0;
    if (count > 0) {
        pl_pg_args_t a = {0};
        pl_pg__text(&a, arr_end(&rooms));
        pl_pg__text(&a, arr_end(&seqs));
        pl_pg__text(&a, arr_end(&senders));
        pl_pg__text(&a, arr_end(&cids));
        pl_pg__int(&a, now);
        pl_pg__text(&a, arr_end(&bodies));
        pl_pg__text(&a, arr_end(&exps));
        db->seq_quiet = true;
        rc = RUN(db, ST_BATCH_INSERT, &a, false, "batch_insert", &r);
        db->seq_quiet = false;
    }
    for (size_t b = 0; b < PL_ARRAY_LEN(bufs); b++)
        pl_buf_dispose(bufs[b]);
    if (rc == 0 && count > 0 && (size_t)PQntuples(r) != count) {
        /* ON CONFLICT skipped a row: a seq would be missing. */
        pl_log(PL_LOG_DEBUG, "store", "op=batch_insert rows=%d of=%zu: run one by one",
               PQntuples(r), count);
        PQclear(r);
        rc = PL_EEXIST;
    }
    if (rc == 0 && count > 0) {
        /* RETURNING comes in the order of the rows; matched by (room, seq). */
        int row = 0, rows = PQntuples(r);
        for (size_t i = 0; i < n; i++) {
            if (skip[i])
                continue;
            int at = row;
            for (int tries = 0; tries < rows; tries++, at = (at + 1) % rows)
                if (pl_pg__i64(r, at, 0) == p[i]->room_id && pl_pg__i64(r, at, 1) == seq[i])
                    break;
            row = (at + 1) % rows;
            pl_post_t *q = p[i];
            q->refused = PL_REFUSAL_NONE;
            q->duplicate = false;
            q->root = (pl_message_t){0};
            q->message = (pl_message_t){
                .id = pl_pg__i64(r, at, 2),
                .room_id = q->room_id,
                .seq = seq[i],
                .sender = q->sender,
                .ts = now,
                .client_id = pl_xstrdup(q->client_id),
                .content = pl_xstrdup(q->content),
                .expires_ts = q->expires_in > 0 ? now + q->expires_in : 0,
            };
            in[i] = true;
        }
        PQclear(r);
    }
    free(seq);
    free(skip);
    return rc;
}

static int messages_query(pl_pg_db_t *db, int id, const pl_pg_args_t *a, const char *op,
                          bool reverse, pl_message_t **out, size_t *n)
{
    PGresult *r = NULL;
    int rc = RUN(db, id, a, false, op, &r);
    if (rc != 0)
        return rc;
    pl_message_t *v = NULL;
    size_t len = 0;
    pl_pg__messages_from(r, &v, &len);
    PQclear(r);
    for (size_t i = 0; reverse && i < len / 2; i++) {
        pl_message_t t = v[i];
        v[i] = v[len - 1 - i];
        v[len - 1 - i] = t;
    }
    *out = v;
    *n = len;
    return 0;
}

int pl_pg_messages_before(pl_db_t *d, int64_t room_id, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, before > 0 ? before : INT64_MAX);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    return messages_query(PG_DB(d), ST_MSG_BEFORE, &a, "messages_before", true, out, n);
}

int pl_pg_messages_after(pl_db_t *d, int64_t room_id, int64_t after, int64_t limit,
                         pl_message_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, after);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    return messages_query(PG_DB(d), ST_MSG_AFTER, &a, "messages_after", false, out, n);
}

int pl_pg_messages_updated(pl_db_t *d, int64_t room_id, int64_t max_seq, int64_t after_version,
                           int64_t limit, pl_message_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, max_seq);
    pl_pg__int(&a, after_version);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    return messages_query(PG_DB(d), ST_MSG_UPDATED, &a, "messages_updated", false, out, n);
}

int pl_pg_thread_messages(pl_db_t *d, int64_t room_id, int64_t root, int64_t before, int64_t limit,
                          pl_message_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, root);
    pl_pg__int(&a, before > 0 ? before : INT64_MAX);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    return messages_query(PG_DB(d), ST_MSG_THREAD, &a, "thread_messages", true, out, n);
}
