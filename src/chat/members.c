/* SPDX-License-Identifier: MIT */
/* members.c -- group membership and invitations: the join, leave, invite,
 * invites and decline ops; the rule that decides whether a person asked for
 * (by create_room or invite) is added at once or invited (their `group_add`
 * privacy setting); and the per-user limits on creating rooms and adding
 * people. Groups are private: joining needs an invitation, and for a stranger
 * a group they were not invited to and a room that does not exist answer
 * byte for byte alike. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/members.h"
#include "chat/mod_perm.h"
#include "chat/room_info.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Per-user buckets are kept for at most this many users (least recently used
 * go first). An evicted user starts again with a full allowance, so evicting
 * someone takes this many other active users; about 150 bytes each. */
#define LIMIT_USERS 65536

/* Expired invitations deleted by each create_room/invite job: the table
 * holds the live invitations plus what expired since the last ones. */
#define PURGE_BATCH 100

/* The one answer to a join that is not allowed: the same for a group the
 * caller was not invited to, a dm and a room that does not exist. */
#define NOT_INVITED "you have no invitation to this room"

/* Who may invite people to a group, and add them: the permission table
 * (mod_perm.h) lets every rank invite, so membership is the whole check and
 * the loop's view answers it. Were PL_MOD_INVITE raised above member, this
 * check would have to move to the writer, which knows the roles. */
static bool may_invite(const room_t *r, int64_t user)
{
    return r->kind == PL_ROOM_GROUP && pl_chat__is_member(r, user) &&
           pl_mod_allowed(PL_ROLE_MEMBER, PL_MOD_INVITE, PL_ROLE_MEMBER, PL_ROLE_MEMBER);
}

static const char *peer_of(const session_t *s)
{
    return s->conn != NULL ? pl_conn_peer(s->conn) : "?";
}

static uint64_t conn_of(const session_t *s)
{
    return s->conn != NULL ? pl_conn_id(s->conn) : 0;
}

/* ---- per-user limits ---- */

static int64_t per_hour(const pl_chat_t *chat, pl_limit_t which)
{
    return which == PL_LIMIT_CREATE ? chat->cfg->room_create_per_hour
                                    : chat->cfg->member_adds_per_hour;
}

static pl_ratelimit_t *limit_table(pl_chat_t *chat, pl_limit_t which)
{
    if (chat->limits[which] == NULL) {
        double n = (double)per_hour(chat, which);
        chat->limits[which] = pl_ratelimit_new(n / 3600.0, n, LIMIT_USERS);
    }
    return chat->limits[which];
}

bool pl_ops__limit_take(session_t *s, json_t *id, pl_limit_t which, double cost)
{
    pl_chat_t *chat = s->chat;
    uint64_t now = uv_hrtime();
    uint64_t wait =
        pl_ratelimit_take(limit_table(chat, which), &s->user_id, sizeof s->user_id, cost, now);
    if (wait == 0)
        return true;
    const char *what = which == PL_LIMIT_CREATE ? "room_create_per_hour" : "member_adds_per_hour";
    /* Refusals are what an operator wants to see, but a client can ask for
     * hundreds a second: info at most once a second, debug otherwise. */
    int level = pl_log_gate(&chat->limits_log[which], PL_LOG_INFO, now, PL_LOG_GATE_NS, NULL);
    pl_log(level, "chat",
           "conn=%" PRIu64 " user=u%" PRId64 " peer=%s limit=%s cost=%.0f retry_ms=%" PRIu64
           " refused",
           conn_of(s), s->user_id, peer_of(s), what, cost, wait == UINT64_MAX ? 0 : wait);
    char msg[128];
    if (wait == UINT64_MAX) {
        /* More than a whole hour's allowance: waiting would not help. */
        snprintf(msg, sizeof msg, "at most %" PRId64 " %s per hour", per_hour(chat, which),
                 which == PL_LIMIT_CREATE ? "new rooms" : "people added or invited");
        pl_wire_reply_err(s, id, "too_large", msg);
    } else {
        snprintf(msg, sizeof msg, "too many %s; try again in %" PRIu64 " s",
                 which == PL_LIMIT_CREATE ? "new rooms" : "people added or invited",
                 (wait + 999) / 1000);
        pl_wire_reply_err_retry(s, id, "rate_limited", msg, wait);
    }
    return false;
}

void pl_ops__limit_refund(pl_chat_t *chat, int64_t user, pl_limit_t which, double cost)
{
    if (cost > 0 && chat->limits[which] != NULL)
        pl_ratelimit_refund(chat->limits[which], &user, sizeof user, cost);
}

/* ---- JSON pieces ---- */

/* A User object whose display name falls back to the username. */
static void user_json(pl_buf_t *b, int64_t id, const char *username, const char *display_name)
{
    pl_wire_user_json(b, id, username, display_name ? display_name : username);
}

void pl_ops__invite_json(pl_buf_t *b, const pl_invite_t *v, const char *inviter_username,
                         const char *inviter_display_name)
{
    pl_buf_printf(b, "{\"room\":\"r%" PRId64 "\",\"name\":", v->room_id);
    pl_json_cstr(b, v->room_name ? v->room_name : "");
    if (v->room_avatar > 0)
        pl_buf_printf(b, ",\"avatar\":\"f%" PRId64 "\"", v->room_avatar);
    else
        pl_buf_lit(b, ",\"avatar\":null");
    pl_buf_printf(b, ",\"member_count\":%" PRId64 ",\"inviter\":", v->member_count);
    user_json(b, v->inviter, inviter_username, inviter_display_name);
    pl_buf_printf(b, ",\"ts\":%" PRId64 ",\"expires_ts\":%" PRId64 "}", v->created_ms,
                  v->expires_ms);
}

/* {"ev":"member","room","action","user"[,"by"]} to the room's members; a
 * leaver's own sessions get it too (they are no longer in the room). */
static void member_event(pl_chat_t *chat, room_t *r, const char *action, int64_t uid,
                         const char *username, const char *display_name, const pl_admit_batch_t *by)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "{\"ev\":\"member\",\"room\":\"r%" PRId64 "\",\"action\":\"%s\",\"user\":", r->id,
                  action);
    user_json(&b, uid, username, display_name);
    if (by != NULL) {
        pl_buf_lit(&b, ",\"by\":");
        user_json(&b, by->inviter, by->inviter_username, by->inviter_display_name);
    }
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__fanout(chat, r, 0, 0, f);
    if (!strcmp(action, "leave") && !pl_chat__is_member(r, uid))
        pl_chat__send_user(chat, uid, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* {"ev":"invite","action":"remove","room","reason"} to the invitee's
 * sessions: the invitation is gone (accepted, declined, withdrawn). */
static void invite_removed(pl_chat_t *chat, int64_t user, int64_t room, const char *reason)
{
    char ev[128];
    int n = snprintf(ev, sizeof ev,
                     "{\"ev\":\"invite\",\"action\":\"remove\",\"room\":\"r%" PRId64
                     "\",\"reason\":\"%s\"}",
                     room, reason);
    pl_frame_t *f = pl_frame_new_text(ev, (size_t)n);
    pl_chat__send_user(chat, user, f);
    pl_frame_unref(f);
}

/* ---- adding or inviting people (create_room and invite) ---- */

typedef enum { GA_EVERYONE, GA_CONTACTS, GA_NOBODY } group_add_t;

/* The invitee's `group_add` setting (stored settings JSON; absent:
 * everyone, as before the setting existed). */
static group_add_t group_add_of(const char *settings)
{
    json_t *o = settings != NULL ? json_loads(settings, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(o, "group_add"));
    group_add_t ga = GA_EVERYONE;
    if (v != NULL && !strcmp(v, "contacts"))
        ga = GA_CONTACTS;
    else if (v != NULL && !strcmp(v, "nobody"))
        ga = GA_NOBODY;
    json_decref(o);
    return ga;
}

static int cmp_admit(const void *a, const void *b)
{
    return strcmp(((const pl_admit_t *)a)->username, ((const pl_admit_t *)b)->username);
}

void pl_ops__admit_args(session_t *s, json_t *arr, pl_admit_batch_t *b)
{
    const pl_config_t *cfg = s->chat->cfg;
    /* The command layer checked the array: its size and every name. */
    PL_ASSERT(json_is_array(arr));
    size_t n = json_array_size(arr);
    b->v = pl_xcalloc(n ? n : 1, sizeof *b->v);
    for (size_t i = 0; i < n; i++) {
        char norm[PL_USERNAME_MAX + 1];
        bool valid = pl_auth_username_normalize(json_string_value(json_array_get(arr, i)), norm);
        PL_ASSERT(valid);
        if (!strcmp(norm, s->username))
            continue; /* the asker's own name is ignored */
        b->v[b->n++].username = pl_xstrdup(norm);
    }
    /* Sorted and deduplicated: a name given twice is asked for once (and
     * costs once against the add limit). */
    qsort(b->v, b->n, sizeof *b->v, cmp_admit);
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (k > 0 && !strcmp(b->v[k - 1].username, b->v[i].username)) {
            free(b->v[i].username);
            continue;
        }
        b->v[k++] = b->v[i];
    }
    b->n = k;
    b->inviter = s->user_id;
    b->inviter_username = pl_xstrdup(s->username);
    b->inviter_display_name = pl_xstrdup(s->display_name ? s->display_name : s->username);
    b->cap_user = cfg->max_pending_invites_per_user;
    b->cap_room = cfg->max_pending_invites_per_room;
    b->ttl_ms = cfg->invite_ttl_ms;
}

/* Store thread: adds or invites one person. */
static int admit_one(pl_db_t *db, job_t *j, pl_admit_batch_t *b, pl_admit_t *a)
{
    pl_profile_t p = {0};
    int rc = pl_db_profile_get(db, 0, a->username, &p);
    if (rc == PL_ENOTFOUND) {
        char msg[80];
        snprintf(msg, sizeof msg, "no user named '%s'", a->username);
        pl_ops__job_fail(j, "user_not_found", msg);
    }
    if (rc < 0)
        return rc;
    a->id = p.id;
    a->display_name = p.display_name;
    p.display_name = NULL;
    group_add_t ga = group_add_of(p.settings);
    pl_profile_dispose(&p);
    /* The asker is never in the list (pl_ops__admit_args drops their name);
     * were they, they would count as a member below. */
    bool member = false;
    if ((rc = pl_db_room_is_member(db, b->room_id, a->id, &member)) < 0)
        return rc;
    if (member) {
        a->outcome = PL_ADMIT_MEMBER;
        return 0;
    }
    bool banned = false; /* moderation (issue 17): not until unbanned */
    if ((rc = pl_db_ban_get(db, b->room_id, a->id, &banned)) < 0)
        return rc;
    if (banned) {
        a->outcome = PL_ADMIT_BANNED;
        return 0;
    }
    bool allowed = ga == GA_EVERYONE;
    if (ga == GA_CONTACTS &&
        (rc = pl_db_is_contact(db, a->id, b->inviter, b->room_id, &allowed)) < 0)
        return rc;
    if (allowed) {
        if (b->space <= 0) {
            a->outcome = PL_ADMIT_GROUP_FULL;
            return 0;
        }
        if ((rc = pl_db_member_add(db, b->room_id, a->id, b->now_ms)) < 0)
            return rc;
        b->space--;
        a->outcome = PL_ADMIT_ADDED;
        rc = pl_db_invite_delete(db, b->room_id, a->id, b->now_ms);
        a->had_invite = rc == 0;
        return rc == PL_ENOTFOUND ? 0 : rc;
    }
    pl_invite_t cur;
    rc = pl_db_invite_get(db, b->room_id, a->id, b->now_ms, &cur);
    if (rc == 0) {
        a->outcome = PL_ADMIT_PENDING;
        return 0;
    }
    if (rc != PL_ENOTFOUND)
        return rc;
    int64_t for_room = 0, for_user = 0;
    if ((rc = pl_db_invite_counts(db, b->room_id, a->id, b->now_ms, &for_room, &for_user)) < 0)
        return rc;
    if (for_user >= b->cap_user) {
        a->outcome = PL_ADMIT_INVITES_FULL;
        return 0;
    }
    if (for_room >= b->cap_room) {
        a->outcome = PL_ADMIT_ROOM_INVITES_FULL;
        return 0;
    }
    pl_invite_t inv = {.room_id = b->room_id,
                       .user_id = a->id,
                       .inviter = b->inviter,
                       .created_ms = b->now_ms,
                       .expires_ms = b->now_ms + b->ttl_ms};
    rc = pl_db_invite_put(db, &inv);
    a->outcome = rc == PL_EEXIST ? PL_ADMIT_PENDING : PL_ADMIT_INVITED;
    return rc == PL_EEXIST ? 0 : rc;
}

int pl_ops__admit_run(pl_db_t *db, job_t *j, pl_admit_batch_t *b)
{
    /* The asker must still be a member when the job runs (they may have
     * left since the loop checked): an invitation by a non-member would
     * never be withdrawn. */
    bool member = false;
    int rc = pl_db_room_is_member(db, b->room_id, b->inviter, &member);
    if (rc == 0 && !member) {
        pl_ops__job_fail(j, "forbidden", PL_OPS_NOT_MEMBER);
        return PL_EFORBIDDEN;
    }
    /* Places left, counted here: the loop's view may be stale when several
     * joins and adds are queued at once. */
    int64_t count = 0;
    if (rc == 0 && (rc = pl_db_room_member_count(db, b->room_id, &count)) == 0)
        b->space = b->max_members - count;
    if (rc == 0)
        rc = pl_db_invites_purge(db, b->now_ms, PURGE_BATCH, NULL);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = admit_one(db, j, b, &b->v[i]);
    return rc;
}

void pl_ops__admit_apply(pl_chat_t *chat, room_t *r, const room_info_t *ri,
                         const pl_admit_batch_t *b, bool at_create)
{
    size_t nmembers;
    const pl_room_t *room = pl_ops__room_info_room(ri, &nmembers);
    for (size_t i = 0; i < b->n; i++) {
        const pl_admit_t *a = &b->v[i];
        if (a->outcome == PL_ADMIT_ADDED) {
            pl_chat__member_add(chat, r, a->id);
            if (!at_create)
                pl_bus__member(chat, r->id, a->id, true);
            if (!at_create) {
                member_event(chat, r, "join", a->id, a->username, a->display_name, b);
                pl_ops__announce_room(chat, r, ri, a->id);
            }
            if (a->had_invite)
                invite_removed(chat, a->id, r->id, "accepted");
        } else if (a->outcome == PL_ADMIT_INVITED) {
            member_event(chat, r, "invite", a->id, a->username, a->display_name, b);
            pl_invite_t v = {.room_id = r->id,
                             .user_id = a->id,
                             .inviter = b->inviter,
                             .created_ms = b->now_ms,
                             .expires_ms = b->now_ms + b->ttl_ms,
                             .room_name = room->name,
                             .room_avatar = room->avatar,
                             .member_count = (int64_t)nmembers};
            pl_buf_t e;
            pl_buf_init(&e);
            pl_buf_lit(&e, "{\"ev\":\"invite\",\"action\":\"add\",\"invite\":");
            pl_ops__invite_json(&e, &v, b->inviter_username, b->inviter_display_name);
            pl_buf_lit(&e, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&e), e.len);
            pl_chat__send_user(chat, a->id, f);
            pl_frame_unref(f);
            pl_buf_dispose(&e);
        }
    }
}

static const char *skip_reason(pl_admit_outcome_t o)
{
    switch (o) {
    case PL_ADMIT_MEMBER:
        return "member";
    case PL_ADMIT_INVITES_FULL:
        return "invites_full";
    case PL_ADMIT_ROOM_INVITES_FULL:
        return "room_invites_full";
    case PL_ADMIT_GROUP_FULL:
        return "group_full";
    case PL_ADMIT_BANNED:
        return "banned";
    default:
        return NULL;
    }
}

void pl_ops__admit_json(pl_buf_t *buf, const pl_admit_batch_t *b, bool with_added)
{
    for (int list = with_added ? 0 : 1; list < 3; list++) {
        static const char *const names[3] = {",\"added\":[", ",\"invited\":[", ",\"skipped\":["};
        pl_buf_append(buf, names[list], strlen(names[list]));
        bool first = true;
        for (size_t i = 0; i < b->n; i++) {
            const pl_admit_t *a = &b->v[i];
            bool in = list == 0   ? a->outcome == PL_ADMIT_ADDED
                      : list == 1 ? a->outcome == PL_ADMIT_INVITED || a->outcome == PL_ADMIT_PENDING
                                  : skip_reason(a->outcome) != NULL;
            if (!in)
                continue;
            if (!first)
                pl_buf_lit(buf, ",");
            first = false;
            if (list == 2)
                pl_buf_lit(buf, "{\"user\":");
            user_json(buf, a->id, a->username, a->display_name);
            if (list == 2)
                pl_buf_printf(buf, ",\"reason\":\"%s\"}", skip_reason(a->outcome));
        }
        pl_buf_lit(buf, "]");
    }
}

size_t pl_ops__admit_changed(const pl_admit_batch_t *b)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        k += b->v[i].outcome == PL_ADMIT_ADDED || b->v[i].outcome == PL_ADMIT_INVITED;
    return k;
}

void pl_ops__admit_dispose(pl_admit_batch_t *b)
{
    for (size_t i = 0; b->v != NULL && i < b->n; i++) {
        free(b->v[i].username);
        free(b->v[i].display_name);
    }
    free(b->v);
    free(b->inviter_username);
    free(b->inviter_display_name);
    memset(b, 0, sizeof *b);
}

/* ---- invite ---- */

typedef struct {
    job_t j;
    pl_admit_batch_t adm;
    room_info_t *ri;
} invite_job_t;

static void invite_work(pl_db_t *db, void *arg)
{
    invite_job_t *q = arg;
    q->adm.now_ms = pl_now_ms();
    int rc = pl_ops__admit_run(db, &q->j, &q->adm);
    if (rc == 0)
        rc = pl_ops__room_info_load(db, q->adm.room_id, &q->ri);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void invite_done(int status, void *arg)
{
    invite_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    room_t *r = pl_chat__room(chat, q->adm.room_id);
    size_t changed = 0;
    if (pl_ops__job_ok(&q->j, status) && r != NULL) {
        changed = pl_ops__admit_changed(&q->adm);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_printf(&b, ",\"room\":\"r%" PRId64 "\"", r->id);
        pl_ops__admit_json(&b, &q->adm, true);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_ops__admit_apply(chat, r, q->ri, &q->adm, false);
        size_t added = 0, invited = 0;
        for (size_t i = 0; i < q->adm.n; i++) {
            added += q->adm.v[i].outcome == PL_ADMIT_ADDED;
            invited += q->adm.v[i].outcome == PL_ADMIT_INVITED;
        }
        pl_log(PL_LOG_INFO, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " room=r%" PRId64
               " invite asked=%zu added=%zu invited=%zu",
               conn_of(s), q->adm.inviter, r->id, q->adm.n, added, invited);
    }
    pl_ops__limit_refund(chat, q->adm.inviter, PL_LIMIT_ADD, (double)(q->adm.n - changed));
    pl_ops__room_info_free(q->ri);
    pl_ops__admit_dispose(&q->adm);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_invite(session_t *s, pl_cmd_t *c)
{
    const pl_config_t *cfg = s->chat->cfg;
    json_t *id = c->id;
    room_t *r = pl_ops__member_room(s, id, c->u.invite.room);
    if (r == NULL)
        return;
    if (r->kind != PL_ROOM_GROUP) {
        pl_wire_reply_err(s, id, "bad_request",
                          "only a group takes invitations; a dm is opened by either side");
        return;
    }
    if (!may_invite(r, s->user_id)) {
        pl_wire_reply_err(s, id, "forbidden", "you may not invite people to this group");
        return;
    }
    invite_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__admit_args(s, c->u.invite.users, &q->adm);
    if (q->adm.n == 0) {
        pl_wire_reply_err(s, id, "bad_request", "\"users\" must name someone besides you");
        goto fail;
    }
    if (r->nmembers >= (size_t)cfg->max_group_members) {
        pl_wire_reply_err(s, id, "too_large", "this group is full");
        goto fail;
    }
    if (!pl_ops__limit_take(s, id, PL_LIMIT_ADD, (double)q->adm.n))
        goto fail;
    q->adm.room_id = r->id;
    q->adm.max_members = cfg->max_group_members;
    pl_ops__job_init(&q->j, s, id);
    pl_store_write(s->chat->st, invite_work, invite_done, q);
    return;
fail:
    pl_ops__admit_dispose(&q->adm);
    free(q);
}

/* ---- invites ---- */

typedef struct {
    job_t j;
    int64_t user, limit;
    pl_invite_t *v;
    size_t n;
} invites_job_t;

static void invites_work(pl_db_t *db, void *arg)
{
    invites_job_t *q = arg;
    int rc = pl_db_user_invites(db, q->user, pl_now_ms(), q->limit, &q->v, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void invites_done(int status, void *arg)
{
    invites_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"invites\":[");
        for (size_t i = 0; i < q->n; i++) {
            if (i)
                pl_buf_lit(&b, ",");
            pl_ops__invite_json(&b, &q->v[i], q->v[i].inviter_username,
                                q->v[i].inviter_display_name);
        }
        pl_buf_lit(&b, "]");
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    pl_invites_free(q->v, q->n);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_invites(session_t *s, pl_cmd_t *c)
{
    invites_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    /* Never more than a user can hold, so the reply stays small. */
    q->limit = s->chat->cfg->max_pending_invites_per_user;
    pl_store_read(s->chat->st, invites_work, invites_done, q);
}

/* ---- join, leave, decline ---- */

typedef enum { MJ_JOIN, MJ_LEAVE, MJ_DECLINE } mj_kind_t;

typedef struct {
    job_t j;
    mj_kind_t kind;
    int64_t room_id, user;
    int64_t max_members; /* join: max_group_members */
    bool via_leave;      /* decline asked for by `leave`: its errors are leave's */
    bool changed;        /* joined / left / declined something */
    int64_t *withdrawn;  /* leave: invitees of the leaver's withdrawn invitations */
    size_t nwithdrawn;
    room_info_t *ri;
} mem_job_t;

/* Store thread. A member's join is a no-op; anyone else needs a live
 * invitation, checked here on the writer (never against the loop's view, so
 * a leave racing a join cannot turn into a rejoin without one). A room that
 * does not exist takes the same path and gets the same answer. */
static int join_work(pl_db_t *db, mem_job_t *m)
{
    bool member = false;
    int rc = pl_db_room_is_member(db, m->room_id, m->user, &member);
    if (rc == 0 && !member)
        rc = pl_mod__banned_check(db, &m->j, m->room_id, m->user, NOT_INVITED);
    if (rc == 0 && !member) {
        pl_invite_t inv;
        rc = pl_db_invite_get(db, m->room_id, m->user, pl_now_ms(), &inv);
        if (rc == PL_ENOTFOUND) {
            pl_ops__job_fail(&m->j, "forbidden", NOT_INVITED);
            return rc;
        }
        int64_t count = 0;
        if (rc == 0)
            rc = pl_db_room_member_count(db, m->room_id, &count);
        if (rc == 0 && count >= m->max_members) {
            /* Counted here, not from the loop's view: joins and adds
             * queued together cannot overfill the group. */
            pl_ops__job_fail(&m->j, "too_large", "this group is full");
            return PL_ETOOBIG;
        }
        if (rc == 0)
            rc = pl_db_member_add(db, m->room_id, m->user, pl_now_ms());
        if (rc == 0)
            rc = pl_db_invite_delete(db, m->room_id, m->user, pl_now_ms());
        m->changed = rc == 0;
    }
    if (rc == 0)
        rc = pl_ops__room_info_load(db, m->room_id, &m->ri);
    return rc;
}

static void mem_work(pl_db_t *db, void *arg)
{
    mem_job_t *m = arg;
    int rc = 0;
    if (m->kind == MJ_JOIN) {
        rc = join_work(db, m);
    } else if (m->kind == MJ_LEAVE) {
        rc = pl_mod__leave_check(db, &m->j, m->room_id, m->user); /* the last owner stays */
        if (rc == 0)
            rc = pl_db_member_remove(db, m->room_id, m->user);
        m->changed = rc == 0;
        if (rc == PL_ENOTFOUND)
            rc = 0;
        /* Leaving ends what the leaver started: their pending invitations
         * to this group are withdrawn. */
        if (rc == 0)
            rc = pl_db_invites_withdraw(db, m->room_id, m->user, pl_now_ms(), &m->withdrawn,
                                        &m->nwithdrawn);
    } else {
        rc = pl_db_invite_delete(db, m->room_id, m->user, pl_now_ms());
        if (rc == PL_ENOTFOUND) {
            if (m->via_leave)
                pl_ops__job_fail(&m->j, "forbidden", PL_OPS_NOT_MEMBER);
            else
                pl_ops__job_fail(&m->j, "not_found", "no pending invitation to this room");
        }
        m->changed = rc == 0;
    }
    pl_ops__job_write_end(&m->j, db, rc);
}

static void mem_done(int status, void *arg)
{
    mem_job_t *m = arg;
    session_t *s = m->j.s;
    pl_chat_t *chat = s->chat;
    pl_ops__job_check(&m->j, status);
    room_t *r = pl_chat__room(chat, m->room_id);
    if (m->j.code == NULL && r == NULL && m->kind != MJ_DECLINE)
        pl_ops__job_fail(&m->j, "forbidden", PL_OPS_NOT_MEMBER); /* cannot happen */
    if (m->j.code != NULL) {
        if (m->kind == MJ_JOIN && !strcmp(m->j.code, "forbidden"))
            pl_log(PL_LOG_DEBUG, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64 " peer=%s room=r%" PRId64
                   " join refused: no invitation",
                   conn_of(s), m->user, peer_of(s), m->room_id);
        pl_wire_reply_err(s, m->j.id, m->j.code, m->j.msg);
    } else if (m->kind == MJ_JOIN) {
        pl_chat__member_add(chat, r, m->user);
        pl_bus__member(chat, r->id, m->user, true);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"room\":");
        pl_ops__room_json(&b, m->ri);
        pl_wire_reply_ok(s, m->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (m->changed) {
            member_event(chat, r, "join", m->user, s->username, s->display_name, NULL);
            pl_ops__announce_room(chat, r, m->ri, m->user);
            invite_removed(chat, m->user, r->id, "accepted");
            pl_log(PL_LOG_INFO, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64 " room=r%" PRId64 " joined (invitation)",
                   conn_of(s), m->user, r->id);
        }
    } else if (m->kind == MJ_LEAVE) {
        pl_chat__member_remove(chat, r, m->user);
        pl_bus__member(chat, r->id, m->user, false);
        pl_wire_reply_ok(s, m->j.id, "", 0);
        if (m->changed)
            member_event(chat, r, "leave", m->user, s->username, s->display_name, NULL);
        for (size_t i = 0; i < m->nwithdrawn; i++)
            invite_removed(chat, m->withdrawn[i], m->room_id, "withdrawn");
        if (m->changed)
            pl_log(PL_LOG_INFO, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64 " room=r%" PRId64
                   " left withdrawn_invites=%zu",
                   conn_of(s), m->user, m->room_id, m->nwithdrawn);
    } else {
        pl_wire_reply_ok(s, m->j.id, "", 0);
        invite_removed(chat, m->user, m->room_id, "declined");
        pl_log(PL_LOG_INFO, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " room=r%" PRId64 " declined invitation",
               conn_of(s), m->user, m->room_id);
    }
    free(m->withdrawn);
    pl_ops__room_info_free(m->ri);
    pl_ops__job_dispose(&m->j);
    free(m);
}

static void mem_submit(session_t *s, json_t *id, mj_kind_t kind, int64_t room_id, bool via_leave)
{
    mem_job_t *m = pl_xcalloc(1, sizeof *m);
    pl_ops__job_init(&m->j, s, id);
    m->kind = kind;
    m->room_id = room_id;
    m->user = s->user_id;
    m->max_members = s->chat->cfg->max_group_members;
    m->via_leave = via_leave;
    pl_store_write(s->chat->st, mem_work, mem_done, m);
}

void pl_ops_join(session_t *s, pl_cmd_t *c)
{
    int64_t rid = c->u.room.room;
    room_t *r = pl_chat__room(s->chat, rid);
    bool member = r != NULL && pl_chat__is_member(r, s->user_id);
    if (member && r->kind == PL_ROOM_DM) {
        pl_wire_reply_err(s, c->id, "forbidden", "a dm cannot be joined");
        return;
    }
    mem_submit(s, c->id, MJ_JOIN, rid, false);
}

void pl_ops_leave(session_t *s, pl_cmd_t *c)
{
    int64_t rid = c->u.room.room;
    room_t *r = pl_chat__room(s->chat, rid);
    if (r != NULL && pl_chat__is_member(r, s->user_id)) {
        if (r->kind == PL_ROOM_DM) {
            pl_wire_reply_err(s, c->id, "forbidden", "a dm cannot be left");
            return;
        }
        mem_submit(s, c->id, MJ_LEAVE, rid, false);
        return;
    }
    /* Not a member: leaving drops a pending invitation, as decline does;
     * without one the answer is that of any room one is not in. */
    mem_submit(s, c->id, MJ_DECLINE, rid, true);
}

void pl_ops_decline(session_t *s, pl_cmd_t *c)
{
    mem_submit(s, c->id, MJ_DECLINE, c->u.room.room, false);
}
