/* SPDX-License-Identifier: MIT */
/* ops.c -- the WebSocket op table: validation, authorization, store jobs and
 * replies. Each op validates every argument before touching the store, checks
 * membership against the in-memory routing table, and answers exactly once. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/chat_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

void pl_chat__online_add(pl_chat_t *chat, session_t *s);

/* Every async op carries this header: the session (referenced) and the
 * request id, plus an error to report if the job failed. */
typedef struct {
    session_t *s;
    json_t *id;
    const char *code; /* NULL: success */
    char msg[160];
} job_t;

static void job_init(job_t *j, session_t *s, json_t *id)
{
    j->s = pl_chat__session_ref(s);
    j->id = json_incref(id);
    j->code = NULL;
    j->msg[0] = '\0';
}

static void job_dispose(job_t *j)
{
    json_decref(j->id);
    pl_chat__session_unref(j->s);
}

static void job_fail(job_t *j, const char *code, const char *msg)
{
    j->code = code;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
}

/* Maps a store error to a reply when the job has not set one. */
static void job_store_error(job_t *j, int rc)
{
    if (j->code == NULL)
        job_fail(j, rc == PL_ENOTFOUND ? "not_found" : "internal",
                 rc == PL_ENOTFOUND ? "no such object" : "storage error; try again");
}

/* Called first in every done callback: a job whose transaction did not commit
 * (storage error) or never ran (shutting down) must not be acknowledged. */
static void job_check(job_t *j)
{
    int st = pl_store_done_status(j->s->chat->st);
    if (st == PL_ECLOSED)
        job_fail(j, "unavailable", "the server is shutting down; retry shortly");
    else if (st < 0)
        job_fail(j, "internal", "storage error; nothing was stored; try again");
}

/* ---- argument helpers: they reply with bad_request and return false ---- */

static bool arg_room(session_t *s, json_t *id, json_t *req, room_t **out)
{
    json_t *v = json_object_get(req, "room");
    int64_t rid;
    if (!json_is_string(v) || !pl_id_parse(json_string_value(v), 'r', &rid)) {
        pl_wire_reply_err(s, id, "bad_request", "\"room\" must be a room id like \"r1\"");
        return false;
    }
    room_t *r = pl_chat__room(s->chat, rid);
    if (r == NULL) {
        pl_wire_reply_err(s, id, "not_found", "no such room");
        return false;
    }
    *out = r;
    return true;
}

static bool arg_member_room(session_t *s, json_t *id, json_t *req, room_t **out)
{
    if (!arg_room(s, id, req, out))
        return false;
    if (!pl_chat__is_member(*out, s->user_id)) {
        pl_wire_reply_err(s, id, "forbidden", "you are not a member of this room");
        return false;
    }
    return true;
}

/* Optional non-negative integer argument. */
static bool arg_int(session_t *s, json_t *id, json_t *req, const char *key, int64_t min,
                    int64_t max, int64_t def, int64_t *out)
{
    json_t *v = json_object_get(req, key);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "\"%s\" must be an integer in [%" PRId64 ", %" PRId64 "]", key,
                 min, max);
        pl_wire_reply_err(s, id, "bad_request", msg);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* ---- auth ---- */

typedef struct {
    job_t j;
    unsigned char hash[32];
    int64_t user_id, device_id;
    pl_user_t user;
} auth_job_t;

static void auth_work(pl_db_t *db, void *arg)
{
    auth_job_t *a = arg;
    int rc = pl_db_session_lookup(db, a->hash, pl_now_ms(), &a->user_id, &a->device_id);
    if (rc == PL_ENOTFOUND) {
        job_fail(&a->j, "unauthenticated", "invalid or revoked token");
        return;
    }
    if (rc == 0)
        rc = pl_db_user_by_id(db, a->user_id, &a->user);
    if (rc < 0)
        job_store_error(&a->j, rc);
}

static void auth_done(void *arg)
{
    auth_job_t *a = arg;
    job_check(&a->j);
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
        pl_chat__online_add(s->chat, s);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_printf(&b, ",\"user\":{\"id\":\"u%" PRId64 "\",\"username\":", s->user_id);
        pl_wire_json_string(&b, s->username);
        pl_buf_append(&b, ",\"display_name\":", 16);
        pl_wire_json_string(&b, s->display_name);
        pl_buf_printf(&b, "},\"device_id\":\"d%" PRId64 "\"", s->device_id);
        pl_wire_reply_ok(s, a->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_log(PL_LOG_INFO, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " device=d%" PRId64 " authenticated",
               pl_conn_id(s->conn), s->user_id, s->device_id);
    }
    pl_user_dispose(&a->user);
    job_dispose(&a->j);
    free(a);
}

static void op_auth(session_t *s, json_t *id, json_t *req)
{
    if (s->user_id != 0) {
        pl_wire_reply_err(s, id, "bad_request", "already authenticated");
        return;
    }
    if (s->authing) {
        pl_wire_reply_err(s, id, "bad_request", "an auth request is already in progress");
        return;
    }
    json_t *tok = json_object_get(req, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0 || json_string_length(tok) > 256) {
        pl_wire_reply_err(s, id, "bad_request", "\"token\" must be a non-empty string");
        return;
    }
    auth_job_t *a = pl_xcalloc(1, sizeof *a);
    job_init(&a->j, s, id);
    pl_auth_token_hash(json_string_value(tok), json_string_length(tok), a->hash);
    s->authing = true;
    pl_store_read(s->chat->st, auth_work, auth_done, a);
}

/* ---- room descriptions ---- */

typedef struct {
    int64_t id;
    char *username;
    char *display_name;
} member_info_t;

typedef struct {
    pl_room_t room;
    member_info_t *members; /* NULL when more than ROOM_MEMBERS_LISTED */
    size_t nmembers;
    int64_t unread;
    int64_t read_seq;
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
    free(ids);
    return 0;
}

static void room_info_json(pl_buf_t *b, const room_info_t *ri, bool with_unread)
{
    pl_buf_printf(b, "{\"id\":\"r%" PRId64 "\",\"kind\":\"%s\",\"name\":", ri->room.id,
                  ri->room.kind == PL_ROOM_DM ? "dm" : "group");
    pl_wire_json_string(b, ri->room.name ? ri->room.name : "");
    pl_buf_printf(b, ",\"last_seq\":%" PRId64 ",\"member_count\":%zu", ri->room.last_seq,
                  ri->nmembers);
    if (with_unread) {
        pl_buf_printf(b, ",\"unread\":%" PRId64 ",\"read_seq\":%" PRId64 ",\"last_message\":",
                      ri->unread, ri->read_seq);
        if (ri->nlast > 0) {
            pl_buf_append(b, "{", 1);
            pl_wire_message_fields(b, &ri->last[0]);
            pl_buf_append(b, "}", 1);
        } else {
            pl_buf_append(b, "null", 4);
        }
    }
    if (ri->members != NULL) {
        pl_buf_append(b, ",\"members\":[", 12);
        for (size_t i = 0; i < ri->nmembers; i++) {
            const member_info_t *m = &ri->members[i];
            pl_buf_printf(b, "%s{\"id\":\"u%" PRId64 "\",\"username\":", i ? "," : "", m->id);
            pl_wire_json_string(b, m->username ? m->username : "");
            pl_buf_append(b, ",\"display_name\":", 16);
            pl_wire_json_string(b, m->display_name ? m->display_name : "");
            pl_buf_append(b, "}", 1);
        }
        pl_buf_append(b, "]", 1);
    }
    pl_buf_append(b, "}", 1);
}

/* Sends {"ev":"room","room":{...}} to every member's sessions. */
static void announce_room(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_append(&b, "{\"ev\":\"room\",\"room\":", 20);
    room_info_json(&b, ri, false);
    pl_buf_append(&b, "}", 1);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    if (only_user)
        pl_chat__send_user(chat, only_user, f);
    else
        pl_chat__fanout(chat, r, 0, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* ---- create_room ---- */

typedef struct {
    job_t j;
    pl_room_kind_t kind;
    char *name;
    char **usernames;
    size_t n;
    int64_t creator;
    bool created;
    room_info_t ri;
} create_job_t;

static void create_work(pl_db_t *db, void *arg)
{
    create_job_t *c = arg;
    int64_t *ids = pl_xcalloc(c->n, sizeof *ids);
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        pl_user_t u = {0};
        rc = pl_db_user_by_name(db, c->usernames[i], &u);
        if (rc == PL_ENOTFOUND) {
            char msg[80];
            snprintf(msg, sizeof msg, "no user named '%s'", c->usernames[i]);
            job_fail(&c->j, "user_not_found", msg);
            goto out;
        }
        if (rc < 0)
            goto out;
        if (u.id != c->creator) {
            bool dup = false;
            for (size_t x = 0; x < k; x++)
                dup |= ids[x] == u.id;
            if (!dup)
                ids[k++] = u.id;
        }
        pl_user_dispose(&u);
    }
    int64_t now = pl_now_ms(), room_id = 0;
    if (c->kind == PL_ROOM_DM) {
        if (k != 1) {
            job_fail(&c->j, "bad_request", "a dm needs exactly one other user");
            goto out;
        }
        rc = pl_db_room_get_or_create_dm(db, c->creator, ids[0], now, &room_id, &c->created);
    } else {
        rc = pl_db_room_create_group(db, c->name, c->creator, ids, k, now, &room_id);
        c->created = true;
    }
    if (rc == 0)
        rc = room_info_load(db, room_id, &c->ri);
out:
    if (rc < 0) {
        job_store_error(&c->j, rc);
        pl_db_rollback_job(db);
    }
    free(ids);
}

static void create_done(void *arg)
{
    create_job_t *c = arg;
    job_check(&c->j);
    session_t *s = c->j.s;
    pl_chat_t *chat = s->chat;
    if (c->j.code != NULL) {
        pl_wire_reply_err(s, c->j.id, c->j.code, c->j.msg);
    } else {
        room_t *r = pl_chat__room_add(chat, &c->ri.room);
        if (c->created) {
            pl_chat__member_add(r, c->creator);
            for (size_t i = 0; i < c->ri.nmembers && c->ri.members; i++)
                pl_chat__member_add(r, c->ri.members[i].id);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_append(&b, ",\"room\":", 8);
        room_info_json(&b, &c->ri, false);
        pl_buf_printf(&b, ",\"created\":%s", c->created ? "true" : "false");
        pl_wire_reply_ok(s, c->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (c->created) {
            announce_room(chat, r, &c->ri, 0);
            pl_log(PL_LOG_INFO, "chat",
                   "user=u%" PRId64 " created room=r%" PRId64 " kind=%s"
                   " members=%zu",
                   c->creator, r->id, r->kind == PL_ROOM_DM ? "dm" : "group", r->nmembers);
        }
    }
    room_info_dispose(&c->ri);
    for (size_t i = 0; i < c->n; i++)
        free(c->usernames[i]);
    free(c->usernames);
    free(c->name);
    job_dispose(&c->j);
    free(c);
}

static void op_create_room(session_t *s, json_t *id, json_t *req)
{
    const pl_config_t *cfg = s->chat->cfg;
    json_t *kind = json_object_get(req, "kind");
    json_t *members = json_object_get(req, "members");
    json_t *name = json_object_get(req, "name");
    pl_room_kind_t k;
    if (json_is_string(kind) && !strcmp(json_string_value(kind), "dm"))
        k = PL_ROOM_DM;
    else if (json_is_string(kind) && !strcmp(json_string_value(kind), "group"))
        k = PL_ROOM_GROUP;
    else {
        pl_wire_reply_err(s, id, "bad_request", "\"kind\" must be \"dm\" or \"group\"");
        return;
    }
    if (!json_is_array(members)) {
        pl_wire_reply_err(s, id, "bad_request", "\"members\" must be an array of usernames");
        return;
    }
    size_t n = json_array_size(members);
    if (k == PL_ROOM_DM && n != 1) {
        pl_wire_reply_err(s, id, "bad_request", "a dm needs exactly one other user");
        return;
    }
    if (n + 1 > (size_t)cfg->max_group_members) {
        pl_wire_reply_err(s, id, "too_large", "too many members for one group");
        return;
    }
    if (name != NULL && !json_is_null(name) && !json_is_string(name)) {
        pl_wire_reply_err(s, id, "bad_request", "\"name\" must be a string");
        return;
    }
    const char *nm = json_is_string(name) ? json_string_value(name) : "";
    if (strlen(nm) > (size_t)cfg->max_room_name) {
        pl_wire_reply_err(s, id, "too_large", "\"name\" is too long");
        return;
    }
    if (k == PL_ROOM_DM)
        nm = "";
    char **names = pl_xcalloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_array_get(members, i);
        char norm[PL_USERNAME_MAX + 1];
        if (!json_is_string(u) || !pl_auth_username_normalize(json_string_value(u), norm)) {
            for (size_t x = 0; x < i; x++)
                free(names[x]);
            free(names);
            {
                pl_wire_reply_err(s, id, "bad_request", "\"members\" must hold valid usernames");
                return;
            }
        }
        names[i] = pl_xstrdup(norm);
    }
    if (k == PL_ROOM_DM && !strcmp(names[0], s->username)) {
        free(names[0]);
        free(names);
        {
            pl_wire_reply_err(s, id, "bad_request", "a dm needs another user than yourself");
            return;
        }
    }
    create_job_t *c = pl_xcalloc(1, sizeof *c);
    job_init(&c->j, s, id);
    c->kind = k;
    c->name = pl_xstrdup(nm);
    c->usernames = names;
    c->n = n;
    c->creator = s->user_id;
    pl_store_write(s->chat->st, create_work, create_done, c);
}

/* ---- join / leave ---- */

typedef struct {
    job_t j;
    int64_t room_id, user;
    bool join;
    bool changed;
    room_info_t ri;
} member_job_t;

static void member_work(pl_db_t *db, void *arg)
{
    member_job_t *m = arg;
    int rc;
    if (m->join) {
        rc = pl_db_member_add(db, m->room_id, m->user, pl_now_ms());
        m->changed = rc == 0;
        if (rc == PL_EEXIST)
            rc = 0;
        if (rc == 0)
            rc = room_info_load(db, m->room_id, &m->ri);
    } else {
        rc = pl_db_member_remove(db, m->room_id, m->user);
        m->changed = rc == 0;
        if (rc == PL_ENOTFOUND)
            rc = 0;
    }
    if (rc < 0) {
        job_store_error(&m->j, rc);
        pl_db_rollback_job(db);
    }
}

static void member_event(pl_chat_t *chat, room_t *r, session_t *s, const char *action)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "{\"ev\":\"member\",\"room\":\"r%" PRId64 "\",\"action\":\"%s\","
                  "\"user\":{\"id\":\"u%" PRId64 "\",\"username\":",
                  r->id, action, s->user_id);
    pl_wire_json_string(&b, s->username);
    pl_buf_append(&b, ",\"display_name\":", 16);
    pl_wire_json_string(&b, s->display_name);
    pl_buf_append(&b, "}}", 2);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__fanout(chat, r, 0, f);
    if (!pl_chat__is_member(r, s->user_id))
        pl_chat__send_user(chat, s->user_id, f); /* the leaver's other devices */
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void member_done(void *arg)
{
    member_job_t *m = arg;
    job_check(&m->j);
    session_t *s = m->j.s;
    pl_chat_t *chat = s->chat;
    room_t *r = pl_chat__room(chat, m->room_id);
    if (m->j.code != NULL || r == NULL) {
        pl_wire_reply_err(s, m->j.id, m->j.code ? m->j.code : "not_found", m->j.msg);
    } else if (m->join) {
        pl_chat__member_add(r, m->user);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_append(&b, ",\"room\":", 8);
        room_info_json(&b, &m->ri, false);
        pl_wire_reply_ok(s, m->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (m->changed) {
            member_event(chat, r, s, "join");
            announce_room(chat, r, &m->ri, m->user);
        }
    } else {
        pl_chat__member_remove(r, m->user);
        pl_wire_reply_ok(s, m->j.id, "", 0);
        if (m->changed)
            member_event(chat, r, s, "leave");
    }
    room_info_dispose(&m->ri);
    job_dispose(&m->j);
    free(m);
}

static void op_member(session_t *s, json_t *id, json_t *req, bool join)
{
    room_t *r;
    if (!arg_room(s, id, req, &r))
        return;
    if (r->kind == PL_ROOM_DM) {
        pl_wire_reply_err(s, id, "forbidden",
                          join ? "a dm cannot be joined" : "a dm cannot be left");
        return;
    }
    if (join && r->nmembers >= (size_t)s->chat->cfg->max_group_members &&
        !pl_chat__is_member(r, s->user_id)) {
        pl_wire_reply_err(s, id, "too_large", "this group is full");
        return;
    }
    if (!join && !pl_chat__is_member(r, s->user_id)) {
        pl_wire_reply_err(s, id, "forbidden", "you are not a member of this room");
        return;
    }
    member_job_t *m = pl_xcalloc(1, sizeof *m);
    job_init(&m->j, s, id);
    m->room_id = r->id;
    m->user = s->user_id;
    m->join = join;
    pl_store_write(s->chat->st, member_work, member_done, m);
}

static void op_join(session_t *s, json_t *id, json_t *req)
{
    op_member(s, id, req, true);
}

static void op_leave(session_t *s, json_t *id, json_t *req)
{
    op_member(s, id, req, false);
}

/* ---- rooms ---- */

typedef struct {
    job_t j;
    int64_t user;
    room_info_t *rooms;
    size_t n;
} rooms_job_t;

static void rooms_work(pl_db_t *db, void *arg)
{
    rooms_job_t *q = arg;
    pl_room_summary_t *sum = NULL;
    size_t n = 0;
    int rc = pl_db_user_rooms(db, q->user, &sum, &n);
    if (rc < 0) {
        job_store_error(&q->j, rc);
        return;
    }
    q->rooms = pl_xcalloc(n ? n : 1, sizeof *q->rooms);
    for (size_t i = 0; i < n; i++) {
        room_info_t *ri = &q->rooms[q->n];
        if (room_info_load(db, sum[i].room.id, ri) == 0) {
            ri->unread = sum[i].unread;
            ri->read_seq = sum[i].read_seq;
            if (pl_db_messages_before(db, ri->room.id, 0, 1, &ri->last, &ri->nlast) < 0)
                ri->last = NULL, ri->nlast = 0;
            q->n++;
        }
        pl_room_dispose(&sum[i].room);
    }
    free(sum);
}

static void rooms_done(void *arg)
{
    rooms_job_t *q = arg;
    job_check(&q->j);
    if (q->j.code != NULL) {
        pl_wire_reply_err(q->j.s, q->j.id, q->j.code, q->j.msg);
    } else {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_append(&b, ",\"rooms\":[", 10);
        for (size_t i = 0; i < q->n; i++) {
            if (i)
                pl_buf_append(&b, ",", 1);
            room_info_json(&b, &q->rooms[i], true);
        }
        pl_buf_append(&b, "]", 1);
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    for (size_t i = 0; i < q->n; i++)
        room_info_dispose(&q->rooms[i]);
    free(q->rooms);
    job_dispose(&q->j);
    free(q);
}

static void op_rooms(session_t *s, json_t *id, json_t *req)
{
    (void)req;
    rooms_job_t *q = pl_xcalloc(1, sizeof *q);
    job_init(&q->j, s, id);
    q->user = s->user_id;
    pl_store_read(s->chat->st, rooms_work, rooms_done, q);
}

/* ---- send ---- */

typedef struct {
    job_t j;
    int64_t room_id, sender;
    char *client_id;
    char *content;
    pl_message_t m;
    bool duplicate;
} send_job_t;

static void send_work(pl_db_t *db, void *arg)
{
    send_job_t *q = arg;
    int rc = pl_db_message_append(db, q->room_id, q->sender, q->client_id, q->content, pl_now_ms(),
                                  &q->m, &q->duplicate);
    if (rc < 0) {
        job_store_error(&q->j, rc);
        pl_db_rollback_job(db);
    }
}

static void send_done(void *arg)
{
    send_job_t *q = arg;
    job_check(&q->j);
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    if (q->j.code != NULL) {
        pl_wire_reply_err(s, q->j.id, q->j.code, q->j.msg);
        goto out;
    }
    pl_buf_t b;
    pl_buf_init(&b);
    /* Build the event once: `{"ev":"message",<fields>}`; the reply reuses the
     * same field text. */
    pl_buf_append(&b, "{\"ev\":\"message\",", 16);
    size_t fields_at = b.len;
    pl_wire_message_fields(&b, &q->m);
    pl_buf_append(&b, "}", 1);
    pl_buf_t r;
    pl_buf_init(&r);
    pl_buf_append(&r, ",\"message\":{", 12);
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
        pl_chat__fanout(chat, room, q->m.seq, f);
        pl_frame_unref(f);
    }
    pl_buf_dispose(&b);
out:
    pl_message_dispose(&q->m);
    free(q->client_id);
    free(q->content);
    job_dispose(&q->j);
    free(q);
}

/* Validates message content: an object with a known "type". Today: text. */
static bool content_valid(session_t *s, json_t *id, json_t *content)
{
    if (!json_is_object(content)) {
        pl_wire_reply_err(s, id, "bad_request", "\"content\" must be an object");
        return false;
    }
    json_t *type = json_object_get(content, "type");
    if (!json_is_string(type)) {
        pl_wire_reply_err(s, id, "bad_request", "\"content.type\" must be a string");
        return false;
    }
    if (!strcmp(json_string_value(type), "text")) {
        json_t *body = json_object_get(content, "body");
        if (!json_is_string(body) || json_string_length(body) == 0) {
            pl_wire_reply_err(s, id, "bad_request", "\"content.body\" must be a non-empty string");
            return false;
        }
        return true;
    }
    pl_wire_reply_err(s, id, "bad_request", "unsupported \"content.type\"");
    return false;
}

static void op_send(session_t *s, json_t *id, json_t *req)
{
    const pl_config_t *cfg = s->chat->cfg;
    room_t *r;
    if (!arg_member_room(s, id, req, &r))
        return;
    json_t *cid = json_object_get(req, "client_id");
    if (!json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > (size_t)cfg->max_client_id_len) {
        pl_wire_reply_err(s, id, "bad_request",
                          "\"client_id\" must be a non-empty string (at most "
                          "max_client_id_len bytes)");
        return;
    }
    if (strlen(json_string_value(cid)) != json_string_length(cid)) {
        pl_wire_reply_err(s, id, "bad_request", "\"client_id\" must not contain NUL");
        return;
    }
    json_t *content = json_object_get(req, "content");
    if (!content_valid(s, id, content))
        return;
    char *text = json_dumps(content, JSON_COMPACT);
    if (text == NULL) {
        pl_wire_reply_err(s, id, "internal", "cannot encode content");
        return;
    }
    if (strlen(text) > (size_t)cfg->max_content_bytes) {
        free(text);
        {
            pl_wire_reply_err(s, id, "too_large", "message content exceeds max_content_bytes");
            return;
        }
    }
    send_job_t *q = pl_xcalloc(1, sizeof *q);
    job_init(&q->j, s, id);
    q->room_id = r->id;
    q->sender = s->user_id;
    q->client_id = pl_xstrdup(json_string_value(cid));
    q->content = text;
    pl_store_write(s->chat->st, send_work, send_done, q);
}

/* ---- history ---- */

typedef struct {
    job_t j;
    int64_t room_id, before, limit;
    pl_message_t *msgs;
    size_t n;
} history_job_t;

static void history_work(pl_db_t *db, void *arg)
{
    history_job_t *h = arg;
    int rc = pl_db_messages_before(db, h->room_id, h->before, h->limit, &h->msgs, &h->n);
    if (rc < 0)
        job_store_error(&h->j, rc);
}

static void history_done(void *arg)
{
    history_job_t *h = arg;
    job_check(&h->j);
    if (h->j.code != NULL) {
        pl_wire_reply_err(h->j.s, h->j.id, h->j.code, h->j.msg);
    } else {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_append(&b, ",\"messages\":[", 13);
        for (size_t i = 0; i < h->n; i++) {
            pl_buf_append(&b, i ? ",{" : "{", i ? 2 : 1);
            pl_wire_message_fields(&b, &h->msgs[i]);
            pl_buf_append(&b, "}", 1);
        }
        pl_buf_append(&b, "]", 1);
        pl_wire_reply_ok(h->j.s, h->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    pl_messages_free(h->msgs, h->n);
    job_dispose(&h->j);
    free(h);
}

static void op_history(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t before, limit;
    if (!arg_member_room(s, id, req, &r) ||
        !arg_int(s, id, req, "before", 1, INT64_MAX, 0, &before) ||
        !arg_int(s, id, req, "limit", 1, s->chat->cfg->history_max_limit, 50, &limit))
        return;
    history_job_t *h = pl_xcalloc(1, sizeof *h);
    job_init(&h->j, s, id);
    h->room_id = r->id;
    h->before = before;
    h->limit = limit;
    pl_store_read(s->chat->st, history_work, history_done, h);
}

/* ---- sync ---- */

typedef struct {
    job_t j;
    int64_t user;
    int64_t budget;
    pl_sync_pos_t *since; /* request positions, sorted by room */
    size_t nsince;
    pl_sync_pos_t *pos; /* per room of the user: delivered up to / truncated */
    size_t npos;
    pl_message_t *msgs; /* all rooms, each room's run in seq order */
    size_t nmsgs, capmsgs;
    bool more;
} sync_job_t;

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = ((const pl_sync_pos_t *)a)->room, y = ((const pl_sync_pos_t *)b)->room;
    return x < y ? -1 : x > y;
}

static void sync_work(pl_db_t *db, void *arg)
{
    sync_job_t *q = arg;
    pl_room_summary_t *sum = NULL;
    size_t n = 0;
    int rc = pl_db_user_rooms(db, q->user, &sum, &n);
    if (rc < 0) {
        job_store_error(&q->j, rc);
        return;
    }
    q->pos = pl_xcalloc(n ? n : 1, sizeof *q->pos);
    for (size_t i = 0; i < n; i++) {
        pl_sync_pos_t key = {.room = sum[i].room.id};
        pl_sync_pos_t *have = bsearch(&key, q->since, q->nsince, sizeof key, cmp_pos);
        int64_t after = have ? have->upto : 0, last = sum[i].room.last_seq;
        pl_sync_pos_t *p = &q->pos[q->npos++];
        p->room = key.room;
        p->upto = after > last ? after : last;
        if (last > after) {
            if (q->budget <= 0) {
                p->truncated = q->more = true;
                continue;
            }
            pl_message_t *m = NULL;
            size_t k = 0;
            if (pl_db_messages_after(db, key.room, after, q->budget, &m, &k) < 0) {
                p->truncated = q->more = true;
                continue;
            }
            if (q->nmsgs + k > q->capmsgs) {
                q->capmsgs = (q->nmsgs + k) * 2;
                q->msgs = pl_xrealloc(q->msgs, q->capmsgs * sizeof *q->msgs);
            }
            memcpy(q->msgs + q->nmsgs, m, k * sizeof *m);
            q->nmsgs += k;
            free(m);
            q->budget -= (int64_t)k;
            if (k == 0 || q->msgs[q->nmsgs - 1].seq < last) {
                p->truncated = q->more = true;
                p->upto = k ? q->msgs[q->nmsgs - 1].seq : after;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&sum[i].room);
    free(sum);
}

static void sync_done(void *arg)
{
    sync_job_t *q = arg;
    job_check(&q->j);
    session_t *s = q->j.s;
    if (q->j.code != NULL) {
        pl_wire_reply_err(s, q->j.id, q->j.code, q->j.msg);
        pl_chat__release_held(s, NULL, 0);
    } else {
        pl_buf_t b;
        pl_buf_init(&b);
        for (size_t i = 0; i < q->nmsgs; i++) {
            pl_buf_reset(&b, 1 << 16);
            pl_buf_append(&b, "{\"ev\":\"message\",", 16);
            pl_wire_message_fields(&b, &q->msgs[i]);
            pl_buf_append(&b, "}", 1);
            pl_wire_send(s, pl_buf_head(&b), b.len);
        }
        pl_buf_reset(&b, 0);
        pl_buf_printf(&b, ",\"more\":%s,\"count\":%zu", q->more ? "true" : "false", q->nmsgs);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_chat__release_held(s, q->pos, q->npos);
    }
    pl_messages_free(q->msgs, q->nmsgs);
    free(q->since);
    free(q->pos);
    job_dispose(&q->j);
    free(q);
}

static void op_sync(session_t *s, json_t *id, json_t *req)
{
    json_t *since = json_object_get(req, "since");
    if (since != NULL && !json_is_null(since) && !json_is_object(since)) {
        pl_wire_reply_err(s, id, "bad_request", "\"since\" must be an object of room id -> seq");
        return;
    }
    if (s->syncing) {
        pl_wire_reply_err(s, id, "busy", "a sync is already in progress");
        return;
    }
    size_t n = json_is_object(since) ? json_object_size(since) : 0;
    pl_sync_pos_t *pos = pl_xcalloc(n ? n : 1, sizeof *pos);
    size_t k = 0;
    const char *key;
    json_t *v;
    if (json_is_object(since)) {
        json_object_foreach(since, key, v)
        {
            int64_t rid;
            if (!pl_id_parse(key, 'r', &rid) || !json_is_integer(v) || json_integer_value(v) < 0) {
                free(pos);
                {
                    pl_wire_reply_err(s, id, "bad_request",
                                      "\"since\" maps room ids (\"r1\") to seqs >= 0");
                    return;
                }
            }
            pos[k].room = rid;
            pos[k++].upto = json_integer_value(v);
        }
    }
    qsort(pos, k, sizeof *pos, cmp_pos);
    sync_job_t *q = pl_xcalloc(1, sizeof *q);
    job_init(&q->j, s, id);
    q->user = s->user_id;
    q->budget = s->chat->cfg->sync_max_messages;
    q->since = pos;
    q->nsince = k;
    s->syncing = true;
    pl_store_read(s->chat->st, sync_work, sync_done, q);
}

/* ---- read marker ---- */

typedef struct {
    job_t j;
    int64_t room_id, user, seq;
} read_job_t;

static void read_work(pl_db_t *db, void *arg)
{
    read_job_t *q = arg;
    int rc = pl_db_member_set_read(db, q->room_id, q->user, q->seq);
    if (rc < 0) {
        job_store_error(&q->j, rc);
        pl_db_rollback_job(db);
    }
}

static void read_done(void *arg)
{
    read_job_t *q = arg;
    job_check(&q->j);
    if (q->j.code != NULL)
        pl_wire_reply_err(q->j.s, q->j.id, q->j.code, q->j.msg);
    else
        pl_wire_reply_ok(q->j.s, q->j.id, "", 0);
    job_dispose(&q->j);
    free(q);
}

static void op_read(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t seq;
    if (!arg_member_room(s, id, req, &r) || !arg_int(s, id, req, "seq", 0, INT64_MAX, -1, &seq))
        return;
    if (seq < 0) {
        pl_wire_reply_err(s, id, "bad_request", "\"seq\" is required");
        return;
    }
    read_job_t *q = pl_xcalloc(1, sizeof *q);
    job_init(&q->j, s, id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->seq = seq;
    pl_store_write(s->chat->st, read_work, read_done, q);
}

/* ---- ping (application-level, for clients that cannot send WS pings) ---- */

static void op_ping(session_t *s, json_t *id, json_t *req)
{
    (void)req;
    char f[48];
    int n = snprintf(f, sizeof f, ",\"ts\":%" PRId64, pl_now_ms());
    pl_wire_reply_ok(s, id, f, (size_t)n);
}

/* ---- the table ---- */

typedef struct {
    const char *name;
    void (*fn)(session_t *s, json_t *id, json_t *req);
    bool need_auth;
} op_t;

static const op_t ops[] = {
    {"auth", op_auth, false}, {"ping", op_ping, false},      {"create_room", op_create_room, true},
    {"join", op_join, true},  {"leave", op_leave, true},     {"rooms", op_rooms, true},
    {"send", op_send, true},  {"history", op_history, true}, {"sync", op_sync, true},
    {"read", op_read, true},
};

void pl_ops_dispatch(session_t *s, json_t *id, json_t *req)
{
    json_t *op = json_object_get(req, "op");
    if (!json_is_string(op)) {
        pl_wire_reply_err(s, id, "bad_request", "\"op\" must be a string");
        return;
    }
    const char *name = json_string_value(op);
    for (size_t i = 0; i < PL_ARRAY_LEN(ops); i++) {
        if (strcmp(ops[i].name, name) != 0)
            continue;
        if (ops[i].need_auth && s->user_id == 0) {
            pl_wire_reply_err(s, id, "unauthenticated",
                              "send {\"op\":\"auth\",\"token\":...} first");
            return;
        }
        ops[i].fn(s, id, req);
        return;
    }
    pl_wire_reply_err(s, id, "unknown_op", "unknown op");
}
