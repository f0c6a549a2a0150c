/* SPDX-License-Identifier: MIT */
/* store_pg_conv.c -- changes to posted messages on PostgreSQL (see
 * store_sqlite_conv.c): edits, deletes (tombstones), reactions, expiry and
 * the domain operation `change`. The search index is the generated tsv
 * column, so an edit re-indexes and a tombstone un-indexes by itself. */
#include "store/store_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define DELETED_CONTENT "{\"type\":\"deleted\"}"

enum {
    ST_MSG_SET_EDIT,
    ST_MSG_SET_DELETED,
    ST_MSG_SET_VERSION,
    ST_REACTION_INSERT,
    ST_REACTION_DELETE,
    ST_REACTION_CLEAR,
    ST_REACTION_COUNT_USER,
    ST_MSG_EXPIRED,
    ST_MSG_RETIRE_SCAN,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MSG_SET_EDIT] = "UPDATE messages SET content = $3, edited_ts = $4, version = $5, "
                        "mentions = $6, mention_room = $7 WHERE room_id = $1 AND seq = $2",
    [ST_MSG_SET_DELETED] = "UPDATE messages SET content = '" DELETED_CONTENT "', deleted = true, "
                           "version = $3, mentions = NULL, mention_room = false, expires_ts = 0 "
                           "WHERE room_id = $1 AND seq = $2",
    [ST_MSG_SET_VERSION] = "UPDATE messages SET version = $3 WHERE room_id = $1 AND seq = $2",
    [ST_REACTION_INSERT] = "INSERT INTO reactions(message_id, emoji, user_id, ts) "
                           "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [ST_REACTION_DELETE] = "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 "
                           "AND user_id = $3",
    [ST_REACTION_CLEAR] = "DELETE FROM reactions WHERE message_id = $1",
    [ST_REACTION_COUNT_USER] = "SELECT count(*) FROM reactions WHERE message_id = $1 "
                               "AND user_id = $2",
    [ST_MSG_EXPIRED] = "SELECT room_id, seq FROM messages WHERE expires_ts > 0 AND "
                       "expires_ts <= $1 AND NOT deleted ORDER BY expires_ts LIMIT $2",
    [ST_MSG_RETIRE_SCAN] = "SELECT id, room_id, seq, ts, deleted::int FROM messages WHERE id > $1 "
                           "ORDER BY id LIMIT $2",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, op, res) pl_pg__run((db), &stmts, (id), (a), false, (op), (res))
#define CHANGED(db, id, a, op) pl_pg__changed((db), &stmts, (id), (a), false, (op))

static int msg_update(pl_pg_db_t *db, int id, const char *op, int64_t room_id, int64_t seq,
                      int64_t version)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, seq);
    pl_pg__int(&a, version);
    return CHANGED(db, id, &a, op);
}

int pl_pg_message_edit(pl_db_t *d, int64_t room_id, int64_t seq, const char *content,
                       const int64_t *mentions, size_t nmentions, bool mention_room, int64_t now_ms,
                       pl_message_t *out)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_message_t cur = {0};
    int rc = pl_pg_message_get(d, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    char *mjson = pl_pg__mentions_json(mentions, nmentions);
    if ((rc = pl_pg__fn_begin(db)) == 0) {
        int64_t version = 0;
        rc = pl_pg__bump_version(db, room_id, &version);
        if (rc == 0) {
            pl_pg_args_t a = {0};
            pl_pg__int(&a, room_id);
            pl_pg__int(&a, seq);
            pl_pg__text(&a, content);
            pl_pg__int(&a, now_ms);
            pl_pg__int(&a, version);
            if (mjson != NULL)
                pl_pg__text(&a, mjson);
            else
                pl_pg__null(&a);
            pl_pg__bool(&a, mention_room);
            rc = CHANGED(db, ST_MSG_SET_EDIT, &a, "message_edit");
        }
        if (rc == 0)
            rc = pl_pg__mentions_delete(db, room_id, seq);
        if (rc == 0)
            rc = pl_pg__mentions_insert(db, room_id, seq, cur.sender, mentions, nmentions,
                                        mention_room);
        rc = pl_pg__fn_end(db, rc);
    }
    free(mjson);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_pg_message_get(d, room_id, seq, out);
    return rc;
}

static int tombstone(pl_pg_db_t *db, int64_t room_id, int64_t seq, int64_t id)
{
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    int64_t version = 0;
    rc = pl_pg__bump_version(db, room_id, &version);
    if (rc == 0)
        rc = msg_update(db, ST_MSG_SET_DELETED, "message_delete", room_id, seq, version);
    if (rc == 0)
        rc = pl_pg__mentions_delete(db, room_id, seq);
    if (rc == 0) {
        pl_pg_args_t a = {0};
        pl_pg__int(&a, id);
        rc = RUN(db, ST_REACTION_CLEAR, &a, "reaction_clear", NULL);
    }
    return pl_pg__fn_end(db, rc);
}

int pl_pg_message_delete(pl_db_t *d, int64_t room_id, int64_t seq, pl_message_t *out)
{
    pl_message_t cur = {0};
    int rc = pl_pg_message_get(d, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    if (cur.deleted) {
        *out = cur;
        return 0;
    }
    rc = tombstone(PG_DB(d), room_id, seq, cur.id);
    pl_message_dispose(&cur);
    if (rc == 0)
        rc = pl_pg_message_get(d, room_id, seq, out);
    return rc;
}

int pl_pg_reaction_set(pl_db_t *d, int64_t room_id, int64_t seq, int64_t user_id, const char *emoji,
                       bool add, int64_t max_per_user, int64_t now_ms, bool *changed,
                       pl_message_t *out)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_message_t cur = {0};
    int rc = pl_pg_message_get(d, room_id, seq, &cur);
    if (rc != 0)
        return rc;
    int64_t id = cur.id;
    pl_message_dispose(&cur);
    int64_t have = 0;
    if (add) {
        pl_pg_args_t a = {0};
        pl_pg__int(&a, id);
        pl_pg__int(&a, user_id);
        PGresult *r = NULL;
        if ((rc = pl_pg__one(db, &stmts, ST_REACTION_COUNT_USER, &a, false, "reaction_count",
                             &r)) != 0)
            return rc == PL_ENOTFOUND ? pl_pg__fail(db, "reaction_count", NULL) : rc;
        have = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    if ((rc = pl_pg__fn_begin(db)) != 0)
        return rc;
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__text(&a, emoji);
    pl_pg__int(&a, user_id);
    if (add)
        pl_pg__int(&a, now_ms);
    rc = CHANGED(db, add ? ST_REACTION_INSERT : ST_REACTION_DELETE, &a,
                 add ? "reaction_insert" : "reaction_delete");
    bool did = rc == 0;
    if (rc == PL_ENOTFOUND)
        rc = 0;
    if (did && add && have >= max_per_user)
        rc = PL_ETOOBIG; /* rolled back by pl_pg__fn_end */
    int64_t version = 0;
    if (rc == 0 && did && (rc = pl_pg__bump_version(db, room_id, &version)) == 0)
        rc = msg_update(db, ST_MSG_SET_VERSION, "reaction_version", room_id, seq, version);
    *changed = did;
    rc = pl_pg__fn_end(db, rc);
    if (rc == 0)
        rc = pl_pg_message_get(d, room_id, seq, out);
    return rc;
}

int pl_pg_messages_expire(pl_db_t *d, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_MSG_EXPIRED, &a, "messages_expired", &r);
    if (rc != 0)
        return rc;
    size_t len = (size_t)PQntuples(r);
    pl_message_t *v = len ? pl_xcalloc(len, sizeof *v) : NULL;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        if ((rc = pl_pg_message_delete(d, pl_pg__i64(r, (int)i, 0), pl_pg__i64(r, (int)i, 1),
                                       &v[k])) == 0)
            k++;
    }
    PQclear(r);
    if (rc != 0) {
        pl_messages_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

int pl_pg_messages_retire(pl_db_t *d, int64_t before_ms, int64_t after_id, int64_t limit,
                          pl_message_t **out, size_t *n, int64_t *next_id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, after_id);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_MSG_RETIRE_SCAN, &a, "messages_retire", &r);
    if (rc != 0)
        return rc;
    int len = PQntuples(r);
    pl_message_t *v = len ? pl_xcalloc((size_t)len, sizeof *v) : NULL;
    size_t k = 0;
    int64_t next = after_id;
    for (int i = 0; rc == 0 && i < len && pl_pg__i64(r, i, 3) <= before_ms; i++) {
        if (pl_pg__i64(r, i, 4) == 0) {
            rc = pl_pg_message_delete(d, pl_pg__i64(r, i, 1), pl_pg__i64(r, i, 2), &v[k]);
            if (rc != 0)
                break;
            k++;
        }
        next = pl_pg__i64(r, i, 0);
    }
    PQclear(r);
    if (rc != 0) {
        pl_messages_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    *next_id = next;
    return 0;
}

static int change_check(pl_db_t *d, pl_change_t *c, pl_message_t *cur)
{
    int rc = pl_pg_message_get(d, c->room_id, c->seq, cur);
    if (rc == PL_ENOTFOUND || (rc == 0 && cur->deleted && c->kind == PL_CHANGE_REACT)) {
        c->refused = PL_REFUSAL_NO_MESSAGE;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (c->kind != PL_CHANGE_REACT && cur->sender != c->user)
        c->refused = PL_REFUSAL_NOT_AUTHOR;
    else if (c->kind == PL_CHANGE_EDIT && cur->deleted)
        c->refused = PL_REFUSAL_DELETED;
    return 0;
}

static int change_react(pl_db_t *d, pl_change_t *c)
{
    if (c->custom_shortcode != NULL && !c->remove) {
        pl_emoji_rec_t e;
        int rc = pl_pg_emoji_get(d, c->custom_shortcode, &e);
        if (rc == PL_ENOTFOUND)
            c->refused = PL_REFUSAL_NO_EMOJI;
        if (rc != 0)
            return rc == PL_ENOTFOUND ? 0 : rc;
    }
    int rc = pl_pg_reaction_set(d, c->room_id, c->seq, c->user, c->emoji, !c->remove,
                                c->max_reactions, pl_now_ms(), &c->changed, &c->message);
    if (rc == PL_ETOOBIG) {
        c->refused = PL_REFUSAL_TOO_MANY;
        rc = 0;
    }
    return rc;
}

int pl_pg_message_change(pl_db_t *d, pl_change_t *c)
{
    c->refused = PL_REFUSAL_NONE;
    c->changed = false;
    pl_message_t cur = {0};
    int rc = change_check(d, c, &cur);
    if (rc != 0 || c->refused != PL_REFUSAL_NONE) {
        pl_message_dispose(&cur);
        return rc;
    }
    if (c->kind == PL_CHANGE_DELETE && cur.deleted) {
        c->message = cur;
        return 0;
    }
    pl_message_dispose(&cur);
    if (c->kind == PL_CHANGE_EDIT) {
        int64_t *ids = NULL;
        size_t n = 0;
        rc =
            pl_pg__mention_ids(PG_DB(d), c->room_id, c->mention_names, c->nmention_names, &ids, &n);
        if (rc == 0)
            rc = pl_pg_message_edit(d, c->room_id, c->seq, c->content, ids, n, c->mention_room,
                                    pl_now_ms(), &c->message);
        free(ids);
        c->changed = rc == 0;
    } else if (c->kind == PL_CHANGE_DELETE) {
        rc = pl_pg_message_delete(d, c->room_id, c->seq, &c->message);
        c->changed = rc == 0;
    } else {
        rc = change_react(d, c);
    }
    return rc;
}
