/* SPDX-License-Identifier: MIT */
/* rooms.c -- rooms: create_room (a dm once per pair, a group with its
 * first members or invitations), the rooms list and room_settings. The
 * Room object itself is room_info.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/members.h"
#include "chat/mod_perm.h"
#include "chat/room_info.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

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
        if (rc == 0) /* the creator owns the group (issue 17) */
            rc = pl_db_member_role_set(db, room_id, c->creator, PL_ROLE_OWNER);
        if (rc == 0)
            rc = pl_ops__admit_run(db, &c->j, &c->adm);
    }
    if (rc == 0)
        rc = pl_room_info__load(db, room_id, &c->ri);
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
            /* Other nodes load the room and its members from the store. */
            pl_bus__room_changed(chat, r->id);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"room\":");
        pl_room_info__json(&b, &c->ri, false);
        pl_buf_printf(&b, ",\"created\":%s", c->created ? "true" : "false");
        if (group)
            pl_ops__admit_json(&b, &c->adm, false);
        pl_wire_reply_ok(s, c->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (c->created) {
            pl_room_info__announce(chat, r, &c->ri, -1); /* new */
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
    pl_room_info__dispose(&c->ri);
    pl_ops__admit_dispose(&c->adm);
    free(c->other);
    free(c->name);
    pl_ops__job_dispose(&c->j);
    free(c);
}

void pl_ops_create_room(session_t *s, pl_cmd_t *cmd)
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
    } else {
        pl_ops__admit_args(s, arg->members, &c->adm);
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
        if (pl_room_info__load(db, sum[i].room.id, &ri) == 0) {
            ri.unread = sum[i].unread;
            ri.read_seq = sum[i].read_seq;
            ri.mentions = sum[i].mentions;
            if (pl_db_messages_before(db, ri.room.id, 0, 1, &ri.last, &ri.nlast) < 0)
                ri.last = NULL, ri.nlast = 0;
            pl_room_info__json(pl_page_open(&q->page), &ri, true);
            if (pl_page_close(&q->page))
                q->next = ri.room.id;
            else
                q->more = true;
        }
        pl_room_info__dispose(&ri);
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

void pl_ops_rooms(session_t *s, pl_cmd_t *c)
{
    rooms_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->after = c->u.rooms.after;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, rooms_work, rooms_done, q);
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
        rc = pl_room_info__load(db, q->room_id, &q->ri);
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
        pl_bus__room_changed(s->chat, r->id);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"room\":");
        pl_room_info__json(&b, &q->ri, false);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_room_info__announce(s->chat, r, &q->ri, 0);
    }
    pl_room_info__dispose(&q->ri);
    free(q->name);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_room_settings(session_t *s, pl_cmd_t *c)
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
