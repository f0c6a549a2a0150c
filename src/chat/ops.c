/* SPDX-License-Identifier: MIT */
/* ops.c -- the WebSocket op table: validation, authorization, store jobs and
 * replies. Each op validates every argument before touching the store, checks
 * membership against the in-memory routing table, and answers exactly once. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/chat_internal.h"
#include "chat/emoji.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

void pl_chat__online_add(pl_chat_t *chat, session_t *s);

void pl_ops__job_init(job_t *j, session_t *s, json_t *id)
{
    j->s = pl_chat__session_ref(s);
    j->id = json_incref(id);
    j->code = NULL;
    j->msg[0] = '\0';
}

void pl_ops__job_dispose(job_t *j)
{
    json_decref(j->id);
    pl_chat__session_unref(j->s);
}

void pl_ops__job_fail(job_t *j, const char *code, const char *msg)
{
    j->code = code;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
}

/* Maps a store error to a reply when the job has not set one. */
void pl_ops__job_store_error(job_t *j, int rc)
{
    if (j->code == NULL)
        pl_ops__job_fail(j, rc == PL_ENOTFOUND ? "not_found" : "internal",
                 rc == PL_ENOTFOUND ? "no such object" : "storage error; try again");
}

/* End of a write job's work: on failure, report it and roll the job's
 * savepoint back so nothing it wrote is committed. */
void pl_ops__job_write_end(job_t *j, pl_db_t *db, int rc)
{
    if (rc >= 0)
        return;
    pl_ops__job_store_error(j, rc);
    pl_db_rollback_job(db);
}

/* Called first in every done callback: a job whose transaction did not commit
 * (storage error) or never ran (shutting down) must not be acknowledged. */
void pl_ops__job_check(job_t *j, int status)
{
    if (status == PL_ECLOSED)
        pl_ops__job_fail(j, "unavailable", "the server is shutting down; retry shortly");
    else if (status < 0)
        pl_ops__job_fail(j, "internal", "storage error; nothing was stored; try again");
}

/* Rows per read while paging: a page holds at most one chunk more than its
 * budget in rows (64 KiB messages: 1 MiB), whatever the request's limit. */
#define PAGE_CHUNK 16

int pl_ops__page_before(pl_db_t *db, pl_fetch_before_fn fetch, void *arg, int64_t before,
                        int64_t limit, pl_page_t *pg, bool *more)
{
    int64_t cur = before; /* 0: no bound */
    *more = false;
    while (limit > 0) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(limit, (int64_t)PAGE_CHUNK);
        int rc = fetch(db, arg, cur, k, &m, &n);
        if (rc < 0)
            return rc;
        bool stop = false;
        for (size_t i = n; i-- > 0 && !stop;) { /* newest first */
            if (!pl_page_add(pg, &m[i], PL_PAGE_MESSAGE)) {
                *more = stop = true;
                break;
            }
            cur = m[i].seq;
            limit--;
        }
        pl_messages_free(m, n);
        if (stop)
            return 0;
        if ((int64_t)n < k)
            return 0; /* nothing older */
    }
    /* The limit stopped it: is there anything older? */
    pl_message_t *m = NULL;
    size_t n = 0;
    int rc = fetch(db, arg, cur, 1, &m, &n);
    if (rc < 0)
        return rc;
    *more = n > 0;
    pl_messages_free(m, n);
    return 0;
}

void pl_ops__reply_page(session_t *s, json_t *id, const char *prefix, const char *key,
                        const pl_page_t *pg, bool reverse, bool more)
{
    pl_buf_t b;
    pl_buf_init(&b);
    if (prefix != NULL)
        pl_buf_append(&b, prefix, strlen(prefix));
    pl_buf_printf(&b, ",\"%s\":[", key);
    pl_page_join(pg, &b, reverse);
    pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
    pl_wire_reply_ok(s, id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

/* The start of every done callback: the store's status for the job, and
 * if the job failed its error reply. Returns true when the job succeeded
 * and the callback should answer. */
bool pl_ops__job_ok(job_t *j, int status)
{
    pl_ops__job_check(j, status);
    if (j->code == NULL)
        return true;
    pl_wire_reply_err(j->s, j->id, j->code, j->msg);
    return false;
}

/* A room the caller is not in answers exactly like a room that does not
 * exist: ids are sequential, so a different reply would tell a stranger
 * which rooms exist and which are dms (protocol-core: a stranger learns
 * nothing about a room). */
room_t *pl_ops__member_room(session_t *s, json_t *id, int64_t room_id)
{
    room_t *r = pl_chat__room(s->chat, room_id);
    if (r == NULL || !pl_chat__is_member(r, s->user_id)) {
        pl_wire_reply_err(s, id, "forbidden", PL_OPS_NOT_MEMBER);
        return NULL;
    }
    return r;
}

/* ---- auth ---- */

/* sync section, below */
static void sync_start(session_t *s, json_t *id, pl_sync_pos_t *pos, size_t n, pl_buf_t *auth);

typedef struct {
    job_t j;
    unsigned char hash[32];
    int64_t user_id, device_id;
    pl_user_t user;
    pl_profile_t prof;
    bool with_since;      /* auth runs a sync before its reply */
    pl_sync_pos_t *since; /* sorted by room */
    size_t nsince;
} auth_job_t;

static void auth_work(pl_db_t *db, void *arg)
{
    auth_job_t *a = arg;
    int rc = pl_db_session_lookup(db, a->hash, pl_now_ms(), &a->user_id, &a->device_id);
    if (rc == PL_ENOTFOUND) {
        pl_ops__job_fail(&a->j, "unauthenticated", "invalid or revoked token");
        return;
    }
    if (rc == 0)
        rc = pl_db_user_by_id(db, a->user_id, &a->user);
    if (rc == 0)
        rc = pl_db_profile_get(db, a->user_id, NULL, &a->prof);
    if (rc < 0)
        pl_ops__job_store_error(&a->j, rc);
}

static void auth_done(int status, void *arg)
{
    auth_job_t *a = arg;
    pl_ops__job_check(&a->j, status);
    session_t *s = a->j.s;
    s->authing = false;
    if (a->j.code != NULL) {
        pl_wire_reply_err(s, a->j.id, a->j.code, a->j.msg);
    } else if (s->conn != NULL) {
        s->user_id = a->user_id;
        s->device_id = a->device_id;
        s->username = a->user.username;
        s->display_name = a->user.display_name;
        a->user.username = a->user.display_name = NULL;
        s->read_receipts = s->show_presence = true;
        if (a->with_since) {
            /* Hold everything from the moment the session is online: the
             * sync reads the store after this point, so each message is
             * either in its result or held (and skipped if both). */
            s->syncing = true;
            s->hold_all = true;
        }
        pl_conn_set_authenticated(s->conn); /* net: full message size, no auth deadline */
        pl_chat__online_add(s->chat, s);
        pl_ops__apply_settings(s->chat, s->user_id, a->prof.settings);
        pl_log(PL_LOG_INFO, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " device=d%" PRId64 " authenticated",
               pl_conn_id(s->conn), s->user_id, s->device_id);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"user\":");
        pl_wire_user_json(&b, s->user_id, s->username, s->display_name);
        pl_buf_printf(&b, ",\"device_id\":\"d%" PRId64 "\"", s->device_id);
        if (a->with_since) {
            sync_start(s, a->j.id, a->since, a->nsince, &b); /* takes since and b */
            a->since = NULL;
        } else {
            pl_wire_reply_ok(s, a->j.id, pl_buf_head(&b), b.len);
            pl_buf_dispose(&b);
        }
    }
    free(a->since);
    pl_user_dispose(&a->user);
    pl_profile_dispose(&a->prof);
    pl_ops__job_dispose(&a->j);
    free(a);
}

static void op_auth(session_t *s, pl_cmd_t *c)
{
    if (s->user_id != 0) {
        pl_wire_reply_err(s, c->id, "bad_request", "already authenticated");
        return;
    }
    if (s->authing) {
        pl_wire_reply_err(s, c->id, "bad_request", "an auth request is already in progress");
        return;
    }
    pl_cmd_auth_t *arg = &c->u.auth;
    auth_job_t *a = pl_xcalloc(1, sizeof *a);
    pl_ops__job_init(&a->j, s, c->id);
    a->with_since = arg->since != NULL;
    a->since = arg->since; /* taken */
    a->nsince = arg->nsince;
    arg->since = NULL;
    pl_auth_token_hash(arg->token, arg->token_len, a->hash);
    s->authing = true;
    pl_store_read(s->chat->st, auth_work, auth_done, a);
}

/* ---- room descriptions ---- */

typedef struct {
    int64_t id;
    char *username;
    char *display_name;
} member_info_t;

typedef struct room_info {
    pl_room_t room;
    member_info_t *members; /* NULL when more than ROOM_MEMBERS_LISTED */
    size_t nmembers;
    int64_t *ids; /* every member's id, sorted (nmembers of them) */
    int64_t unread;
    int64_t read_seq;
    int64_t mentions;
    pl_message_t *last; /* newest message (rooms op only), or NULL */
    size_t nlast;
} room_info_t;

#define ROOM_MEMBERS_LISTED 100

static void room_info_dispose(room_info_t *ri)
{
    pl_room_dispose(&ri->room);
    for (size_t i = 0; i < ri->nmembers && ri->members; i++) {
        free(ri->members[i].username);
        free(ri->members[i].display_name);
    }
    free(ri->members);
    free(ri->ids);
    pl_messages_free(ri->last, ri->nlast);
    memset(ri, 0, sizeof *ri);
}

/* Store thread: loads a room and, if small enough, its members' names. */
static int room_info_load(pl_db_t *db, int64_t room_id, room_info_t *ri)
{
    int rc = pl_db_room_get(db, room_id, &ri->room);
    if (rc < 0)
        return rc;
    int64_t *ids = NULL;
    size_t n = 0;
    if ((rc = pl_db_room_members(db, room_id, &ids, &n)) < 0)
        return rc;
    ri->nmembers = n;
    if (n <= ROOM_MEMBERS_LISTED) {
        ri->members = pl_xcalloc(n, sizeof *ri->members);
        for (size_t i = 0; i < n; i++) {
            pl_user_t u = {0};
            ri->members[i].id = ids[i];
            if (pl_db_user_by_id(db, ids[i], &u) == 0) {
                ri->members[i].username = u.username;
                ri->members[i].display_name = u.display_name;
                u.username = u.display_name = NULL;
            }
            pl_user_dispose(&u);
        }
    }
    ri->ids = ids; /* kept: the routing table needs all of them */
    return 0;
}

static void room_info_json(pl_buf_t *b, const room_info_t *ri, bool with_unread)
{
    pl_buf_printf(b, "{\"id\":\"r%" PRId64 "\",\"kind\":\"%s\",\"name\":", ri->room.id,
                  ri->room.kind == PL_ROOM_DM ? "dm" : "group");
    pl_json_cstr(b, ri->room.name ? ri->room.name : "");
    pl_buf_printf(b,
                  ",\"last_seq\":%" PRId64 ",\"last_version\":%" PRId64
                  ",\"disappearing_ms\":%" PRId64 ",\"member_count\":%zu",
                  ri->room.last_seq, ri->room.last_version, ri->room.disappearing_ms, ri->nmembers);
    if (ri->room.avatar > 0)
        pl_buf_printf(b, ",\"avatar\":\"f%" PRId64 "\"", ri->room.avatar);
    else
        pl_buf_lit(b, ",\"avatar\":null");
    if (with_unread) {
        pl_buf_printf(b,
                      ",\"unread\":%" PRId64 ",\"mentions\":%" PRId64 ",\"read_seq\":%" PRId64
                      ",\"last_message\":",
                      ri->unread, ri->mentions, ri->read_seq);
        if (ri->nlast > 0) {
            pl_buf_lit(b, "{");
            pl_wire_message_fields(b, &ri->last[0]);
            pl_buf_lit(b, "}");
        } else {
            pl_buf_lit(b, "null");
        }
    }
    if (ri->members != NULL) {
        pl_buf_lit(b, ",\"members\":[");
        for (size_t i = 0; i < ri->nmembers; i++) {
            const member_info_t *m = &ri->members[i];
            if (i)
                pl_buf_lit(b, ",");
            pl_wire_user_json(b, m->id, m->username, m->display_name);
        }
        pl_buf_lit(b, "]");
    }
    pl_buf_lit(b, "}");
}

/* Sends {"ev":"room","room":{...}} to every member's sessions. */
static void announce_room(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{\"ev\":\"room\",\"room\":");
    room_info_json(&b, ri, false);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    if (only_user)
        pl_chat__send_user(chat, only_user, f);
    else
        pl_chat__fanout(chat, r, 0, 0, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* For the other op files (chat_internal.h): room descriptions by pointer. */
int pl_ops__room_info_load(pl_db_t *db, int64_t room_id, room_info_t **out)
{
    room_info_t *ri = pl_xcalloc(1, sizeof *ri);
    int rc = room_info_load(db, room_id, ri);
    if (rc < 0) {
        room_info_dispose(ri);
        free(ri);
        return rc;
    }
    *out = ri;
    return 0;
}

void pl_ops__room_info_free(room_info_t *ri)
{
    if (ri == NULL)
        return;
    room_info_dispose(ri);
    free(ri);
}

void pl_ops__room_json(pl_buf_t *b, const room_info_t *ri)
{
    room_info_json(b, ri, false);
}

const pl_room_t *pl_ops__room_info_room(const room_info_t *ri, size_t *nmembers)
{
    *nmembers = ri->nmembers;
    return &ri->room;
}

void pl_ops__announce_room(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user)
{
    announce_room(chat, r, ri, only_user);
}

/* ---- create_room ---- */

typedef struct {
    job_t j;
    pl_room_kind_t kind;
    char *name;
    char *other;          /* dm: the other user's name */
    pl_admit_batch_t adm; /* group: the people asked for */
    int64_t creator;
    bool created;
    room_info_t ri;
} create_job_t;

static int create_dm(pl_db_t *db, create_job_t *c, int64_t *room_id)
{
    pl_user_t u = {0};
    int rc = pl_db_user_by_name(db, c->other, &u);
    if (rc == PL_ENOTFOUND) {
        char msg[80];
        snprintf(msg, sizeof msg, "no user named '%s'", c->other);
        pl_ops__job_fail(&c->j, "user_not_found", msg);
    } else if (rc == 0 && u.id == c->creator) {
        pl_ops__job_fail(&c->j, "bad_request", "a dm needs another user than yourself");
        rc = PL_EINVAL;
    } else if (rc == 0) {
        rc = pl_db_room_get_or_create_dm(db, c->creator, u.id, pl_now_ms(), room_id, &c->created);
    }
    pl_user_dispose(&u);
    return rc;
}

static void create_work(pl_db_t *db, void *arg)
{
    create_job_t *c = arg;
    int64_t room_id = 0;
    int rc;
    if (c->kind == PL_ROOM_DM) {
        rc = create_dm(db, c, &room_id);
    } else {
        /* The creator first, then everyone asked for under the rules of
         * `invite`: added when their group_add setting allows the creator,
         * otherwise invited. */
        c->adm.now_ms = pl_now_ms();
        rc = pl_db_room_create_group(db, c->name, c->creator, NULL, 0, c->adm.now_ms, &room_id);
        c->created = rc == 0;
        c->adm.room_id = room_id;
        if (rc == 0)
            rc = pl_ops__admit_run(db, &c->j, &c->adm);
    }
    if (rc == 0)
        rc = room_info_load(db, room_id, &c->ri);
    pl_ops__job_write_end(&c->j, db, rc);
}

static void create_done(int status, void *arg)
{
    create_job_t *c = arg;
    pl_ops__job_check(&c->j, status);
    session_t *s = c->j.s;
    pl_chat_t *chat = s->chat;
    bool group = c->kind == PL_ROOM_GROUP;
    if (c->j.code != NULL) {
        pl_wire_reply_err(s, c->j.id, c->j.code, c->j.msg);
        c->created = false;
    } else {
        room_t *r = pl_chat__room_add(chat, &c->ri.room);
        if (c->created) {
            /* All members, not just the listed ones: a group of more than
             * ROOM_MEMBERS_LISTED must route to everyone. */
            pl_chat__member_add(chat, r, c->creator);
            for (size_t i = 0; i < c->ri.nmembers; i++)
                pl_chat__member_add(chat, r, c->ri.ids[i]);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"room\":");
        room_info_json(&b, &c->ri, false);
        pl_buf_printf(&b, ",\"created\":%s", c->created ? "true" : "false");
        if (group)
            pl_ops__admit_json(&b, &c->adm, false);
        pl_wire_reply_ok(s, c->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (c->created) {
            announce_room(chat, r, &c->ri, 0);
            if (group)
                pl_ops__admit_apply(chat, r, &c->ri, &c->adm, true);
            pl_log(PL_LOG_INFO, "chat",
                   "user=u%" PRId64 " created room=r%" PRId64 " kind=%s"
                   " members=%zu",
                   c->creator, r->id, r->kind == PL_ROOM_DM ? "dm" : "group", r->nmembers);
        }
    }
    /* The limits keep only what changed something: an existing dm, a
     * failed request, people already there or refused cost nothing. */
    if (!c->created)
        pl_ops__limit_refund(chat, c->creator, PL_LIMIT_CREATE, 1);
    if (group)
        pl_ops__limit_refund(chat, c->creator, PL_LIMIT_ADD,
                             (double)(c->adm.n - (c->j.code ? 0 : pl_ops__admit_changed(&c->adm))));
    room_info_dispose(&c->ri);
    pl_ops__admit_dispose(&c->adm);
    free(c->other);
    free(c->name);
    pl_ops__job_dispose(&c->j);
    free(c);
}

static void op_create_room(session_t *s, pl_cmd_t *cmd)
{
    const pl_config_t *cfg = s->chat->cfg;
    json_t *id = cmd->id;
    const pl_cmd_create_room_t *arg = &cmd->u.create_room;
    pl_room_kind_t k = arg->group ? PL_ROOM_GROUP : PL_ROOM_DM;
    create_job_t *c = pl_xcalloc(1, sizeof *c);
    c->kind = k;
    c->creator = s->user_id;
    if (k == PL_ROOM_DM) {
        if (!strcmp(arg->other, s->username)) {
            pl_wire_reply_err(s, id, "bad_request", "a dm needs another user than yourself");
            goto fail;
        }
        c->other = pl_xstrdup(arg->other);
    } else if (!pl_ops__admit_args(s, id, arg->members, "members", &c->adm)) {
        goto fail;
    }
    /* Per-user limits: one room, and (for a group) everyone asked for. */
    if (!pl_ops__limit_take(s, id, PL_LIMIT_CREATE, 1))
        goto fail;
    if (k == PL_ROOM_GROUP && c->adm.n > 0 &&
        !pl_ops__limit_take(s, id, PL_LIMIT_ADD, (double)c->adm.n)) {
        pl_ops__limit_refund(s->chat, s->user_id, PL_LIMIT_CREATE, 1);
        goto fail;
    }
    pl_ops__job_init(&c->j, s, id);
    c->name = pl_xstrdup(arg->name);
    c->adm.max_members = cfg->max_group_members;
    pl_store_write(s->chat->st, create_work, create_done, c);
    return;
fail:
    pl_ops__admit_dispose(&c->adm);
    free(c->other);
    free(c);
}

/* ---- rooms ---- */

typedef struct {
    job_t j;
    int64_t user;
    int64_t after; /* cursor: rooms with a larger id (0: from the start) */
    pl_page_t page;
    int64_t next; /* id of the last room in the page */
    bool more;
} rooms_job_t;

/* Rooms in id order from the cursor, loaded one at a time (members, last
 * message) and only while the page has room: a user in thousands of rooms
 * costs one page of that work per request. (The summaries with unread
 * counts, pl_db_user_rooms, are still read for all of the user's rooms on
 * every page; a cursor in that query would make it one page too.) */
static void rooms_work(pl_db_t *db, void *arg)
{
    rooms_job_t *q = arg;
    pl_room_summary_t *sum = NULL;
    size_t n = 0;
    int rc = pl_db_user_rooms(db, q->user, &sum, &n);
    if (rc < 0) {
        pl_ops__job_store_error(&q->j, rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (sum[i].room.id <= q->after)
            continue;
        if (q->page.full) {
            q->more = true;
            break;
        }
        room_info_t ri = {0};
        if (room_info_load(db, sum[i].room.id, &ri) == 0) {
            ri.unread = sum[i].unread;
            ri.read_seq = sum[i].read_seq;
            ri.mentions = sum[i].mentions;
            if (pl_db_messages_before(db, ri.room.id, 0, 1, &ri.last, &ri.nlast) < 0)
                ri.last = NULL, ri.nlast = 0;
            room_info_json(pl_page_open(&q->page), &ri, true);
            if (pl_page_close(&q->page))
                q->next = ri.room.id;
            else
                q->more = true;
        }
        room_info_dispose(&ri);
    }
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&sum[i].room);
    free(sum);
}

static void rooms_done(int status, void *arg)
{
    rooms_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"rooms\":[");
        pl_page_join(&q->page, &b, false);
        pl_buf_printf(&b, "],\"more\":%s", q->more ? "true" : "false");
        if (q->more)
            pl_buf_printf(&b, ",\"next\":\"r%" PRId64 "\"", q->next);
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    pl_page_dispose(&q->page);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void op_rooms(session_t *s, pl_cmd_t *c)
{
    rooms_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->after = c->u.rooms.after;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, rooms_work, rooms_done, q);
}

/* ---- send ---- */

typedef struct {
    job_t j;
    int64_t room_id, sender;
    pl_room_kind_t kind;
    char *client_id;
    char *content;
    int64_t reply_to, thread, expires_in;
    int64_t media;     /* media id the content references, 0 = none */
    bool sticker;      /* the media must be an image with a thumbnail */
    pl_message_t m;
    pl_message_t root; /* thread root's new state (id 0 if none) */
    bool duplicate;
} send_job_t;

void pl_ops__resolve_mentions(pl_db_t *db, int64_t room_id, pl_room_kind_t kind,
                              const char *content, int64_t **ids, size_t *n, bool *room)
{
    *ids = NULL;
    *n = 0;
    *room = false;
    json_t *c = json_loads(content, 0, NULL);
    json_t *body = json_object_get(c, "body");
    if (!json_is_string(body)) {
        json_decref(c);
        return;
    }
    pl_mentions_t pm;
    pl_mentions_parse(json_string_value(body), json_string_length(body), &pm);
    json_decref(c);
    /* @room only means something in a group. */
    *room = pm.room && kind == PL_ROOM_GROUP;
    if (pm.n == 0)
        return;
    *ids = pl_xcalloc(pm.n, sizeof **ids);
    for (size_t i = 0; i < pm.n; i++) {
        pl_user_t u = {0};
        bool member = false;
        /* Mentions of non-members (or of nobody) do nothing. */
        if (pl_db_user_by_name(db, pm.names[i], &u) == 0 &&
            pl_db_room_is_member(db, room_id, u.id, &member) == 0 && member)
            (*ids)[(*n)++] = u.id;
        pl_user_dispose(&u);
    }
}

static void send_work(pl_db_t *db, void *arg)
{
    send_job_t *q = arg;
    int rc = pl_db_message_by_client_id(db, q->sender, q->client_id, &q->m);
    if (rc == 0) { /* a retry: the original, whatever happened since */
        q->duplicate = true;
        return;
    }
    if (rc != PL_ENOTFOUND)
        goto out;
    /* reply_to and thread must name a live message of this room; a thread
     * root must not itself be a thread reply. */
    int64_t refs[2] = {q->reply_to, q->thread};
    for (int i = 0; i < 2; i++) {
        if (refs[i] <= 0)
            continue;
        pl_message_t t = {0};
        rc = pl_db_message_get(db, q->room_id, refs[i], &t);
        bool dead = rc == 0 && t.deleted, nested = rc == 0 && i == 1 && t.thread_root > 0;
        pl_message_dispose(&t);
        if (rc == PL_ENOTFOUND || dead) {
            pl_ops__job_fail(&q->j, "not_found",
                             i ? "no such thread root" : "the message replied to does not exist");
            return;
        }
        if (rc < 0)
            goto out;
        if (nested) {
            pl_ops__job_fail(&q->j, "bad_request",
                             "a thread reply cannot start a thread; reply in the root's thread");
            return;
        }
    }
    if (q->media > 0) {
        /* The sender must be able to see the media (their upload, or shared
         * in one of their rooms); otherwise it does not exist for them. */
        bool visible = false;
        rc = pl_db_media_visible(db, q->media, q->sender, pl_now_ms(), &visible);
        if (rc == PL_ENOTFOUND || (rc == 0 && !visible)) {
            pl_ops__job_fail(&q->j, "not_found", "no such media");
            return;
        }
        if (rc < 0)
            goto out;
        if (q->sticker) {
            pl_media_rec_t mr = {0};
            if ((rc = pl_db_media_get(db, q->media, &mr)) < 0)
                goto out;
            bool image = mr.mime != NULL && !strncmp(mr.mime, "image/", 6) && mr.thumb_w > 0;
            pl_media_rec_dispose(&mr);
            if (!image) {
                pl_ops__job_fail(&q->j, "bad_request",
                                 "a sticker must be an image with a thumbnail");
                return;
            }
        }
    }
    int64_t *ids = NULL;
    size_t nids = 0;
    bool mroom = false;
    pl_ops__resolve_mentions(db, q->room_id, q->kind, q->content, &ids, &nids, &mroom);
    int64_t now = pl_now_ms();
    pl_message_new_t in = {
        .room_id = q->room_id,
        .sender = q->sender,
        .client_id = q->client_id,
        .content = q->content,
        .now_ms = now,
        .reply_to = q->reply_to,
        .thread_root = q->thread,
        .expires_ts = q->expires_in > 0 ? now + q->expires_in : 0,
        .mentions = ids,
        .nmentions = nids,
        .mention_room = mroom,
        .media = q->media, /* grants the room access and keeps the media alive */
    };
    rc = pl_db_message_post(db, &in, &q->m, &q->duplicate, &q->root);
    free(ids);
out:
    pl_ops__job_write_end(&q->j, db, rc);
}

static void send_done(int status, void *arg)
{
    send_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    if (!pl_ops__job_ok(&q->j, status))
        goto out;
    pl_buf_t b;
    pl_buf_init(&b);
    /* Build the event once: `{"ev":"message",<fields>}`; the reply reuses the
     * same field text. */
    pl_buf_lit(&b, "{\"ev\":\"message\",");
    size_t fields_at = b.len;
    pl_wire_message_fields(&b, &q->m);
    pl_buf_lit(&b, "}");
    pl_buf_t r;
    pl_buf_init(&r);
    pl_buf_lit(&r, ",\"message\":{");
    pl_buf_append(&r, pl_buf_head(&b) + fields_at, b.len - fields_at);
    pl_buf_printf(&r, ",\"duplicate\":%s", q->duplicate ? "true" : "false");
    pl_wire_reply_ok(s, q->j.id, pl_buf_head(&r), r.len);
    pl_buf_dispose(&r);
    room_t *room = pl_chat__room(chat, q->m.room_id);
    if (!q->duplicate && room != NULL) {
        if (q->m.seq > room->last_seq)
            room->last_seq = q->m.seq;
        pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
        chat->stats.frames_built++;
        chat->stats.messages_stored++;
        pl_chat__fanout(chat, room, q->m.seq, 0, f);
        pl_chat__ring_push(chat, room, q->m.seq, f);
        pl_frame_unref(f);
        /* The thread root changed (count, last ts): members replace it. */
        if (q->root.id != 0)
            pl_chat__emit_update(chat, &q->root);
    }
    pl_buf_dispose(&b);
out:
    pl_message_dispose(&q->m);
    pl_message_dispose(&q->root);
    free(q->client_id);
    free(q->content);
    pl_ops__job_dispose(&q->j);
    free(q);
}

/* Validates message content: an object with a known "type". Today: text. */
/* ---- media content types (docs/design/media.md) ---- */

#define MAX_DISAPPEARING_MS 2419200000LL /* four weeks */

static void op_send(session_t *s, pl_cmd_t *c)
{
    pl_cmd_send_t *arg = &c->u.send;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    send_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->kind = r->kind;
    q->sender = s->user_id;
    q->client_id = pl_xstrdup(arg->client_id);
    q->content = arg->content; /* taken: encoded once, by the command layer */
    arg->content = NULL;
    q->reply_to = arg->reply_to;
    q->thread = arg->thread;
    q->media = arg->media;
    q->sticker = arg->sticker;
    /* A per-message ttl overrides the room's timer. */
    q->expires_in = arg->ttl_ms > 0 ? arg->ttl_ms : r->disappearing_ms;
    pl_store_write(s->chat->st, send_work, send_done, q);
}

/* ---- history ---- */

typedef struct {
    job_t j;
    int64_t room_id, before, after, limit;
    pl_page_t page; /* newest first (backwards) or oldest first (after) */
    bool more;
} history_job_t;

static int fetch_room_before(pl_db_t *db, void *arg, int64_t before, int64_t limit,
                             pl_message_t **out, size_t *n)
{
    return pl_db_messages_before(db, *(const int64_t *)arg, before, limit, out, n);
}

/* Forwards from h->after (and below h->before when set), chunk by chunk. */
static int history_forward(pl_db_t *db, history_job_t *h)
{
    int64_t cur = h->after, limit = h->limit;
    bool end = false;
    while (limit > 0 && !end) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(limit, (int64_t)PAGE_CHUNK);
        int rc = pl_db_messages_after(db, h->room_id, cur, k, &m, &n);
        if (rc < 0)
            return rc;
        end = (int64_t)n < k;
        for (size_t i = 0; i < n && limit > 0; i++) {
            if (h->before > 0 && m[i].seq >= h->before) {
                end = true;
                break;
            }
            if (!pl_page_add(&h->page, &m[i], PL_PAGE_MESSAGE)) {
                h->more = true;
                end = true;
                break;
            }
            cur = m[i].seq;
            limit--;
        }
        pl_messages_free(m, n);
    }
    if (limit == 0 && !h->more) { /* the limit stopped it: anything newer in the window? */
        pl_message_t *m = NULL;
        size_t n = 0;
        int rc = pl_db_messages_after(db, h->room_id, cur, 1, &m, &n);
        if (rc < 0)
            return rc;
        h->more = n > 0 && (h->before <= 0 || m[0].seq < h->before);
        pl_messages_free(m, n);
    }
    return 0;
}

static void history_work(pl_db_t *db, void *arg)
{
    history_job_t *h = arg;
    int rc;
    if (h->after >= 0)
        rc = history_forward(db, h);
    else
        rc = pl_ops__page_before(db, fetch_room_before, &h->room_id, h->before, h->limit, &h->page,
                                 &h->more);
    if (rc < 0)
        pl_ops__job_store_error(&h->j, rc);
}

static void history_done(int status, void *arg)
{
    history_job_t *h = arg;
    if (pl_ops__job_ok(&h->j, status))
        pl_ops__reply_page(h->j.s, h->j.id, NULL, "messages", &h->page, h->after < 0, h->more);
    pl_page_dispose(&h->page);
    pl_ops__job_dispose(&h->j);
    free(h);
}

static void op_history(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_history_t *arg = &c->u.history;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    history_job_t *h = pl_xcalloc(1, sizeof *h);
    pl_ops__job_init(&h->j, s, c->id);
    h->room_id = r->id;
    h->before = arg->before;
    h->after = arg->after;
    h->limit = arg->limit;
    pl_page_init(&h->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, history_work, history_done, h);
}

/* ---- sync ---- */

typedef struct {
    job_t j;
    int64_t user;
    int64_t budget;       /* events left (sync_max_messages) */
    pl_sync_pos_t *since; /* request positions (upto = seq, vupto = version), by room */
    size_t nsince;
    pl_sync_pos_t *pos; /* per room of the user: delivered up to / truncated */
    size_t npos;
    /* The events, all rooms: each room's updates (version order), then its
     * messages; at most max_reply_bytes of them (page.c). */
    pl_page_t page;
    bool more;
    bool auth;      /* run by auth with since: the reply is auth's */
    pl_buf_t reply; /* auth: its reply fields (user, device_id) */
} sync_job_t;

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = ((const pl_sync_pos_t *)a)->room, y = ((const pl_sync_pos_t *)b)->room;
    return x < y ? -1 : x > y;
}

/* A room's updates after version v of messages up to seq `after`, chunk by
 * chunk. False when the budget or the page cut them short. */
static bool sync_updates(pl_db_t *db, sync_job_t *q, int64_t room, int64_t after, int64_t v)
{
    for (;;) {
        if (q->budget <= 0 || q->page.full)
            return false;
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(q->budget, (int64_t)PAGE_CHUNK);
        if (pl_db_messages_updated(db, room, after, v, k, &m, &n) < 0)
            return false;
        bool cut = false;
        for (size_t i = 0; i < n && !cut; i++) {
            if (!pl_page_add(&q->page, &m[i], PL_PAGE_EV_UPDATE)) {
                cut = true;
                break;
            }
            v = m[i].version;
            q->budget--;
        }
        pl_messages_free(m, n);
        if (cut)
            return false;
        if ((int64_t)n < k)
            return true;
    }
}

/* A room's messages after seq `after` up to `last` (the snapshot's), chunk
 * by chunk. Returns the last seq delivered. */
static int64_t sync_messages(pl_db_t *db, sync_job_t *q, int64_t room, int64_t after, int64_t last)
{
    int64_t cur = after;
    while (cur < last && q->budget > 0 && !q->page.full) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(q->budget, (int64_t)PAGE_CHUNK);
        if (pl_db_messages_after(db, room, cur, k, &m, &n) < 0)
            break;
        bool stop = (int64_t)n < k; /* nothing after these */
        for (size_t i = 0; i < n; i++) {
            if (m[i].seq > last || !pl_page_add(&q->page, &m[i], PL_PAGE_EV_MESSAGE)) {
                stop = true;
                break;
            }
            cur = m[i].seq;
            q->budget--;
        }
        pl_messages_free(m, n);
        if (stop)
            break;
    }
    return cur;
}

/* Why updates come before the room's new messages: a client advances its
 * room version from every event it sees, and new messages carry their
 * current version, which may be newer than an update of an older message.
 * Sending the updates first (in version order) keeps "ignore an update whose
 * version is <= mine" correct. Rooms are read PAGE_CHUNK rows at a time, so
 * a page holds at most max_reply_bytes of events (plus one) and the rows in
 * memory at most one chunk more. */
static void sync_work(pl_db_t *db, void *arg)
{
    sync_job_t *q = arg;
    pl_room_summary_t *sum = NULL;
    size_t n = 0;
    int rc = pl_db_user_rooms(db, q->user, &sum, &n);
    if (rc < 0) {
        pl_ops__job_store_error(&q->j, rc);
        return;
    }
    q->pos = pl_xcalloc(n ? n : 1, sizeof *q->pos);
    for (size_t i = 0; i < n; i++) {
        pl_sync_pos_t key = {.room = sum[i].room.id};
        pl_sync_pos_t *have = bsearch(&key, q->since, q->nsince, sizeof key, cmp_pos);
        int64_t after = have ? have->upto : 0, vafter = have ? have->vupto : 0;
        int64_t last = sum[i].room.last_seq, lastv = sum[i].room.last_version;
        pl_sync_pos_t *p = &q->pos[q->npos++];
        p->room = key.room;
        p->upto = after > last ? after : last;
        p->vupto = vafter > lastv ? vafter : lastv;
        if (lastv > vafter && after > 0 && !sync_updates(db, q, key.room, after, vafter)) {
            /* Cut short: the messages wait for the next sync. */
            p->truncated = q->more = true;
            continue;
        }
        if (last > after) {
            int64_t got = sync_messages(db, q, key.room, after, last);
            if (got < last) {
                p->truncated = q->more = true;
                p->upto = got;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&sum[i].room);
    free(sum);
}

/* The end of a sync's answer: its reply, after which the live events held
 * during the sync go out (reply.c). pos is taken (may be NULL). */
static void sync_reply(session_t *s, pl_frame_t *f, pl_sync_pos_t *pos, size_t n, bool drop)
{
    pl_sync_end_t *end = pl_xcalloc(1, sizeof *end);
    end->pos = pos;
    end->n = n;
    end->drop_timeline = drop;
    pl_reply__frame(s, f, PL_OUT_SYNC_END, end);
}

static void sync_done(int status, void *arg)
{
    sync_job_t *q = arg;
    pl_ops__job_check(&q->j, status);
    session_t *s = q->j.s;
    if (q->j.code != NULL && q->auth) {
        /* The session is authenticated already: answer auth, and tell the
         * client to sync everything itself (its held timeline events go,
         * since the sync it makes will deliver them). */
        pl_buf_lit(&q->reply, ",\"more\":true,\"count\":0");
        sync_reply(s, pl_wire_ok_frame(q->j.id, pl_buf_head(&q->reply), q->reply.len), NULL, 0,
                   true);
    } else if (q->j.code != NULL) {
        sync_reply(s, pl_wire_err_frame_id(q->j.id, q->j.code, q->j.msg, 0), NULL, 0, false);
    } else {
        for (size_t i = 0; i < q->page.n; i++) {
            pl_str_t e = pl_page_entry(&q->page, i);
            pl_reply__frame(s, pl_frame_new_text(e.p, e.len), PL_OUT_PART, NULL);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->auth)
            pl_buf_append(&b, pl_buf_head(&q->reply), q->reply.len);
        pl_buf_printf(&b, ",\"more\":%s,\"count\":%zu", q->more ? "true" : "false", q->page.n);
        sync_reply(s, pl_wire_ok_frame(q->j.id, pl_buf_head(&b), b.len), q->pos, q->npos, false);
        q->pos = NULL;
        pl_buf_dispose(&b);
        if (q->more)
            pl_log(PL_LOG_DEBUG, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64 " sync paged events=%zu "
                   "bytes=%zu",
                   s->conn ? pl_conn_id(s->conn) : 0, s->user_id, q->page.n, q->page.text.len);
    }
    pl_buf_dispose(&q->reply);
    pl_page_dispose(&q->page);
    free(q->since);
    free(q->pos);
    pl_ops__job_dispose(&q->j);
    free(q);
}

/* Answers a sync from the rooms' rings when every gap lies inside them:
 * no database read. Live events are held (syncing) until the answer's
 * reply is on the connection, as for a store sync, since a long answer may
 * stream out over several drains. Returns false, having sent
 * nothing and taken nothing, when any room needs the store: updates of
 * messages the client has (version moved past its `since`), a gap older than
 * the ring, or more than a sync's budget. Same arguments as sync_start. */
static bool sync_from_ring(session_t *s, json_t *id, pl_sync_pos_t *since, size_t n,
                           pl_buf_t *auth)
{
    pl_chat_t *chat = s->chat;
    if (chat->cfg->sync_ring_size == 0 || s->conn == NULL)
        return false;
    umember_t *um = NULL;
    HASH_FIND(hh, chat->members, &s->user_id, sizeof s->user_id, um);
    uint32_t nrooms = um ? um->n : 0;
    pl_sync_pos_t *pos = pl_xcalloc(nrooms ? nrooms : 1, sizeof *pos);
    int64_t total = 0;
    size_t bytes = 0, max_bytes = (size_t)chat->cfg->max_reply_bytes;
    for (uint32_t i = 0; i < nrooms; i++) {
        const room_t *r = um->rooms[i];
        pl_sync_pos_t key = {.room = r->id};
        const pl_sync_pos_t *have = bsearch(&key, since, n, sizeof key, cmp_pos);
        int64_t after = have ? have->upto : 0, vafter = have ? have->vupto : 0;
        bool ok = !(r->last_version > vafter && after > 0);
        if (ok && r->last_seq > after) {
            total += r->last_seq - after;
            ok = total <= chat->cfg->sync_max_messages && pl_chat__ring_get(r, after + 1) &&
                 pl_chat__ring_get(r, r->last_seq);
            /* The store pages by bytes too: a gap over the budget goes there. */
            for (int64_t seq = after + 1; ok && seq <= r->last_seq; seq++) {
                bytes += pl_frame_size(pl_chat__ring_get(r, seq)->frame);
                ok = bytes <= max_bytes || total == 1;
            }
        }
        if (!ok) {
            free(pos);
            return false;
        }
        pos[i].room = r->id;
        pos[i].upto = after > r->last_seq ? after : r->last_seq;
        pos[i].vupto = vafter > r->last_version ? vafter : r->last_version;
    }
    /* Live events are held until the answer (the very frames fan-out sent,
     * one reference each) is on the connection; then those held since auth
     * (hold_all) or during the stream follow (reply.c). */
    s->syncing = true;
    for (uint32_t i = 0; i < nrooms; i++) {
        const room_t *r = um->rooms[i];
        pl_sync_pos_t key = {.room = r->id};
        const pl_sync_pos_t *have = bsearch(&key, since, n, sizeof key, cmp_pos);
        for (int64_t seq = (have ? have->upto : 0) + 1; seq <= r->last_seq; seq++)
            pl_reply__frame(s, pl_frame_ref(pl_chat__ring_get(r, seq)->frame), PL_OUT_PART, NULL);
    }
    pl_buf_t b;
    pl_buf_init(&b);
    if (auth != NULL)
        pl_buf_append(&b, pl_buf_head(auth), auth->len);
    pl_buf_printf(&b, ",\"more\":false,\"count\":%" PRId64, total);
    sync_reply(s, pl_wire_ok_frame(id, pl_buf_head(&b), b.len), pos, nrooms, false);
    pl_buf_dispose(&b);
    if (auth != NULL)
        pl_buf_dispose(auth);
    chat->stats.syncs_from_ring++;
    free(since);
    return true;
}

/* Starts a sync job from pos (taken). auth: NULL for the sync op, else the
 * auth reply's fields (taken; the reply then answers auth). The session
 * holds live events from now until the sync's reply is on the connection
 * (reply.c, PL_OUT_SYNC_END). Answered from the rings
 * instead when they hold everything the client misses. */
static void sync_start(session_t *s, json_t *id, pl_sync_pos_t *pos, size_t n, pl_buf_t *auth)
{
    if (sync_from_ring(s, id, pos, n, auth))
        return;
    s->chat->stats.syncs_from_store++;
    sync_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->user = s->user_id;
    q->budget = s->chat->cfg->sync_max_messages;
    q->since = pos;
    q->nsince = n;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    if (auth != NULL) {
        q->auth = true;
        q->reply = *auth;
    } else {
        pl_buf_init(&q->reply);
    }
    s->syncing = true;
    pl_store_read(s->chat->st, sync_work, sync_done, q);
}

static void op_sync(session_t *s, pl_cmd_t *c)
{
    if (s->syncing) {
        pl_wire_reply_err(s, c->id, "busy", "a sync is already in progress");
        return;
    }
    pl_cmd_sync_t *arg = &c->u.sync;
    sync_start(s, c->id, arg->since, arg->nsince, NULL); /* takes since */
    arg->since = NULL;
}

/* ---- room_settings ---- */

typedef struct {
    job_t j;
    int64_t room_id, user;
    int64_t ms;     /* disappearing timer, -1 = unchanged */
    char *name;     /* new group name, NULL = unchanged */
    int64_t avatar; /* new group avatar media id, 0 = remove, -1 = unchanged */
    room_info_t ri;
} rset_job_t;

static void rset_work(pl_db_t *db, void *arg)
{
    rset_job_t *q = arg;
    int rc = 0;
    /* A group avatar follows the profile avatar's rules: an image the caller
     * uploaded, with a thumbnail (the square variant is made from it). */
    if (q->avatar > 0 && (rc = pl_ops__own_image(db, &q->j, q->user, q->avatar)) == 1)
        return;
    if (rc == 0 && q->ms >= 0)
        rc = pl_db_room_set_disappearing(db, q->room_id, q->ms);
    if (rc == 0 && (q->name != NULL || q->avatar >= 0))
        rc = pl_db_room_set_meta(db, q->room_id, q->name, q->avatar);
    if (rc == 0)
        rc = room_info_load(db, q->room_id, &q->ri);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void rset_done(int status, void *arg)
{
    rset_job_t *q = arg;
    pl_ops__job_check(&q->j, status);
    session_t *s = q->j.s;
    room_t *r = pl_chat__room(s->chat, q->room_id);
    if (q->j.code != NULL || r == NULL) {
        pl_wire_reply_err(s, q->j.id, q->j.code ? q->j.code : "not_found", q->j.msg);
    } else {
        r->disappearing_ms = q->ri.room.disappearing_ms;
        if (q->name != NULL) {
            free(r->name);
            r->name = pl_xstrdup(q->name);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"room\":");
        room_info_json(&b, &q->ri, false);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        announce_room(s->chat, r, &q->ri, 0);
    }
    room_info_dispose(&q->ri);
    free(q->name);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void op_room_settings(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_room_settings_t *arg = &c->u.room_settings;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    if ((arg->name != NULL || arg->avatar >= 0) && r->kind != PL_ROOM_GROUP) {
        pl_wire_reply_err(s, c->id, "bad_request", "only a group has a name and an avatar");
        return;
    }
    rset_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->ms = arg->ms;
    q->name = arg->name != NULL ? pl_xstrdup(arg->name) : NULL;
    q->avatar = arg->avatar;
    pl_store_write(s->chat->st, rset_work, rset_done, q);
}

/* ---- ping (application-level, for clients that cannot send WS pings) ---- */

static void op_ping(session_t *s, pl_cmd_t *c)
{
    char f[48];
    int n = snprintf(f, sizeof f, ",\"ts\":%" PRId64, pl_now_ms());
    pl_wire_reply_ok(s, c->id, f, (size_t)n);
}

/* ---- the table ---- */

/* Indexed by pl_op_t: the command layer has parsed and validated the
 * request; what is left needs the session and the store. */
static void (*const handlers[PL_OP__COUNT])(session_t *s, pl_cmd_t *c) = {
    [PL_OP_AUTH] = op_auth,
    [PL_OP_PING] = op_ping,
    [PL_OP_CREATE_ROOM] = op_create_room,
    [PL_OP_JOIN] = pl_ops_join,
    [PL_OP_LEAVE] = pl_ops_leave,
    [PL_OP_INVITE] = pl_ops_invite,
    [PL_OP_INVITES] = pl_ops_invites,
    [PL_OP_DECLINE] = pl_ops_decline,
    [PL_OP_ROOMS] = op_rooms,
    [PL_OP_SEND] = op_send,
    [PL_OP_HISTORY] = op_history,
    [PL_OP_SYNC] = op_sync,
    [PL_OP_READ] = pl_ops_read,
    [PL_OP_EDIT] = pl_ops_edit,
    [PL_OP_DELETE] = pl_ops_delete,
    [PL_OP_REACT] = pl_ops_react,
    [PL_OP_TYPING] = pl_ops_typing,
    [PL_OP_DELIVERED] = pl_ops_delivered,
    [PL_OP_RECEIPTS] = pl_ops_receipts,
    [PL_OP_THREAD] = pl_ops_thread,
    [PL_OP_ROOM_SETTINGS] = op_room_settings,
    [PL_OP_PRESENCE] = pl_ops_presence,
    [PL_OP_PRESENCE_QUERY] = pl_ops_presence_query,
    [PL_OP_PROFILE_GET] = pl_ops_profile_get,
    [PL_OP_PROFILE_SET] = pl_ops_profile_set,
    [PL_OP_SETTINGS_GET] = pl_ops_settings_get,
    [PL_OP_SETTINGS_SET] = pl_ops_settings_set,
    [PL_OP_SEARCH] = pl_ops_search,
    [PL_OP_EMOJI_ADD] = pl_ops_emoji_add,
    [PL_OP_EMOJI_REMOVE] = pl_ops_emoji_remove,
    [PL_OP_EMOJI_LIST] = pl_ops_emoji_list,
};

void pl_ops_dispatch(session_t *s, const char *data, size_t len)
{
    pl_cmd_t c;
    pl_cmd_err_t err;
    int rc = pl_cmd_parse(data, len, s->chat->cfg, &c, &err);
    /* A known op before auth is refused as such whatever its arguments,
     * as it was before arguments were parsed ahead of the handlers. */
    if (c.op != PL_OP__COUNT && pl_cmd_needs_auth(c.op) && s->user_id == 0)
        pl_wire_reply_err(s, c.id, "unauthenticated", "send {\"op\":\"auth\",\"token\":...} first");
    else if (rc < 0 && c.root != NULL)
        pl_wire_reply_err(s, c.id, err.code, err.msg);
    else if (rc < 0) /* not parsed: the id as found in the text */
        pl_reply__frame(s, pl_wire_err_frame(c.re, c.re_len, err.code, err.msg, 0), PL_OUT_REPLY,
                        NULL);
    else
        handlers[c.op](s, &c);
    pl_cmd_dispose(&c);
}
