/* SPDX-License-Identifier: MIT */
/* mod.c -- moderation (issue 17): the set_role, kick, ban, unban, mute,
 * bans and audit ops; the delete of someone else's message by a moderator;
 * the last-owner rule of leave; the mutes the send path checks.
 *
 * Every decision is taken on the store's writer, inside the job that makes
 * the change, from the roles stored there (never from the loop's view or
 * from anything the client says), through the one permission table
 * (mod_perm.h: pl_mod_allowed). Every change appends an audit entry in the
 * same transaction. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/mod_perm.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define NO_ROLE "your role in this room does not allow this"
#define NOT_IN_ROOM "that user is not a member of this room"

/* ---- mutes, kept in memory for the send path ---- */

/* A mute in force (or expired and not yet dropped), by (room, user). */
typedef struct mod_mute {
    struct {
        int64_t room, user;
    } key;
    int64_t until; /* ms since the epoch */
    UT_hash_handle hh;
} mod_mute_t;

void pl_mod__mute_set(pl_chat_t *chat, int64_t room, int64_t user, int64_t until)
{
    mod_mute_t probe = {.key = {room, user}}, *m = NULL;
    HASH_FIND(hh, chat->mod_mutes, &probe.key, sizeof probe.key, m);
    if (until <= 0) {
        if (m != NULL) {
            HASH_DEL(chat->mod_mutes, m);
            free(m);
        }
        return;
    }
    if (m == NULL) {
        m = pl_xcalloc(1, sizeof *m);
        m->key.room = room;
        m->key.user = user;
        HASH_ADD(hh, chat->mod_mutes, key, sizeof m->key, m);
    }
    m->until = until;
}

int pl_mod__load(pl_chat_t *chat, pl_db_t *db)
{
    pl_member_mod_t *v = NULL;
    size_t n = 0;
    int rc = pl_db_room_mods(db, 0, pl_now_ms(), &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        pl_mod__mute_set(chat, v[i].room_id, v[i].user_id, v[i].muted_until);
    free(v);
    return rc;
}

void pl_mod__free(pl_chat_t *chat)
{
    mod_mute_t *m, *tmp;
    HASH_ITER(hh, chat->mod_mutes, m, tmp)
    {
        HASH_DEL(chat->mod_mutes, m);
        free(m);
    }
}

bool pl_mod__muted(pl_chat_t *chat, int64_t room, int64_t user, int64_t now_ms, int64_t *until)
{
    mod_mute_t probe = {.key = {room, user}}, *m = NULL;
    HASH_FIND(hh, chat->mod_mutes, &probe.key, sizeof probe.key, m);
    if (m == NULL)
        return false;
    if (m->until <= now_ms) {
        HASH_DEL(chat->mod_mutes, m);
        free(m);
        return false;
    }
    *until = m->until;
    return true;
}

/* ---- helpers of the store side ---- */

/* The role of user in room_id, PL_ROLE_MEMBER when not a member (*member
 * false then). */
static int role_of(pl_db_t *db, int64_t room_id, int64_t user, pl_role_t *role, bool *member,
                   int64_t *muted_until)
{
    pl_member_mod_t mm = {0};
    int rc = pl_db_member_mod_get(db, room_id, user, &mm);
    if (rc < 0 && rc != PL_ENOTFOUND)
        return rc;
    *member = rc == 0;
    *role = rc == 0 ? (pl_role_t)mm.role : PL_ROLE_MEMBER;
    if (muted_until != NULL)
        *muted_until = rc == 0 ? mm.muted_until : 0;
    return 0;
}

static int audit(pl_db_t *db, int64_t room, int64_t actor, const char *action, int64_t target,
                 const char *reason, const char *detail)
{
    pl_audit_t e = {.ts = pl_now_ms(),
                    .room_id = room,
                    .actor = actor,
                    .target = target,
                    .action = (char *)action,
                    .reason = (char *)(reason ? reason : ""),
                    .detail = (char *)(detail ? detail : "")};
    return pl_db_audit_add(db, &e);
}

/* ---- set_role, kick, ban, unban, mute: one job ---- */

typedef struct {
    job_t j;
    pl_op_t op;
    int64_t room, actor, target;
    pl_role_t grant;
    int64_t until; /* mute: ms since the epoch, 0 = unmute */
    char *reason;  /* owned */
    /* result */
    bool was_member; /* the target was a member (kick, ban: and is not now) */
    pl_role_t old_role;
    char *username, *display_name; /* the target's, owned */
    int64_t *withdrawn;            /* kick, ban: invitations the target had sent */
    size_t nwithdrawn;
} mod_job_t;

static pl_mod_action_t action_of(pl_op_t op)
{
    switch (op) {
    case PL_OP_SET_ROLE:
        return PL_MOD_SET_ROLE;
    case PL_OP_KICK:
        return PL_MOD_KICK;
    case PL_OP_MUTE:
        return PL_MOD_MUTE;
    default:
        return PL_MOD_BAN; /* ban, unban */
    }
}

/* Store thread: the checks, in the order a client can learn from them:
 * the caller's membership, the target's existence, then the rank. */
static int mod_check(pl_db_t *db, mod_job_t *q, pl_role_t *target_role)
{
    pl_room_t room = {0};
    int rc = pl_db_room_get(db, q->room, &room);
    pl_room_kind_t kind = room.kind;
    pl_room_dispose(&room);
    if (rc < 0 && rc != PL_ENOTFOUND)
        return rc;
    pl_role_t actor_role;
    bool actor_member = false;
    if (rc == 0 && (rc = role_of(db, q->room, q->actor, &actor_role, &actor_member, NULL)) < 0)
        return rc;
    if (!actor_member) { /* a stranger learns nothing about the room */
        pl_ops__job_fail(&q->j, "forbidden", PL_OPS_NOT_MEMBER);
        return PL_EFORBIDDEN;
    }
    if (kind != PL_ROOM_GROUP) {
        pl_ops__job_fail(&q->j, "bad_request", "a dm has no roles and no moderation");
        return PL_EFORBIDDEN;
    }
    pl_user_t u = {0};
    if ((rc = pl_db_user_by_id(db, q->target, &u)) == PL_ENOTFOUND)
        pl_ops__job_fail(&q->j, "user_not_found", "no such user");
    if (rc < 0)
        return rc;
    q->username = u.username;
    q->display_name = u.display_name;
    u.username = u.display_name = NULL;
    pl_user_dispose(&u);
    if (q->target == q->actor && q->op != PL_OP_SET_ROLE) {
        pl_ops__job_fail(&q->j, "bad_request", "you cannot do this to yourself");
        return PL_EFORBIDDEN;
    }
    if ((rc = role_of(db, q->room, q->target, target_role, &q->was_member, NULL)) < 0)
        return rc;
    q->old_role = *target_role;
    bool needs_member = q->op == PL_OP_KICK || q->op == PL_OP_MUTE || q->op == PL_OP_SET_ROLE;
    if (needs_member && !q->was_member) {
        pl_ops__job_fail(&q->j, "not_found", NOT_IN_ROOM);
        return PL_ENOTFOUND;
    }
    if (q->target == q->actor) {
        /* set_role on oneself: only an owner stepping down, and only while
         * another owner remains (the last owner hands over first). */
        int64_t owners = 0;
        if (actor_role != PL_ROLE_OWNER || q->grant >= PL_ROLE_OWNER) {
            pl_ops__job_fail(&q->j, "forbidden", NO_ROLE);
            return PL_EFORBIDDEN;
        }
        if ((rc = pl_db_room_role_count(db, q->room, PL_ROLE_OWNER, &owners)) < 0)
            return rc;
        if (owners < 2) {
            pl_ops__job_fail(&q->j, "forbidden",
                             "you are the last owner: make someone else owner first");
            return PL_EFORBIDDEN;
        }
        return 0;
    }
    if (!pl_mod_allowed(actor_role, action_of(q->op), *target_role, q->grant)) {
        pl_ops__job_fail(&q->j, "forbidden", NO_ROLE);
        return PL_EFORBIDDEN;
    }
    return 0;
}

/* Store thread: removes the target (kick, ban) and withdraws the
 * invitations they had sent, as leaving does. */
static int remove_target(pl_db_t *db, mod_job_t *q)
{
    int rc = pl_db_member_remove(db, q->room, q->target);
    if (rc == PL_ENOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = pl_db_invites_withdraw(db, q->room, q->target, pl_now_ms(), &q->withdrawn,
                                    &q->nwithdrawn);
    return rc;
}

static int mod_apply(pl_db_t *db, mod_job_t *q)
{
    char detail[96] = "";
    int rc = 0;
    switch (q->op) {
    case PL_OP_SET_ROLE:
        rc = pl_db_member_role_set(db, q->room, q->target, (int)q->grant);
        snprintf(detail, sizeof detail, "{\"from\":\"%s\",\"to\":\"%s\"}",
                 pl_mod_role_name(q->old_role), pl_mod_role_name(q->grant));
        break;
    case PL_OP_KICK:
        rc = remove_target(db, q);
        break;
    case PL_OP_BAN: {
        pl_ban_t b = {.room_id = q->room,
                      .user_id = q->target,
                      .by = q->actor,
                      .reason = q->reason,
                      .created_ms = pl_now_ms()};
        rc = remove_target(db, q);
        /* A pending invitation of the banned goes too. */
        if (rc == 0 &&
            (rc = pl_db_invite_delete(db, q->room, q->target, pl_now_ms())) == PL_ENOTFOUND)
            rc = 0;
        if (rc == 0)
            rc = pl_db_ban_put(db, &b);
        break;
    }
    case PL_OP_UNBAN:
        if ((rc = pl_db_ban_delete(db, q->room, q->target)) == PL_ENOTFOUND)
            pl_ops__job_fail(&q->j, "not_found", "that user is not banned from this room");
        break;
    case PL_OP_MUTE:
        rc = pl_db_member_mute_set(db, q->room, q->target, q->until);
        snprintf(detail, sizeof detail, "{\"until\":%" PRId64 "}", q->until);
        break;
    default:
        rc = PL_EINVAL;
    }
    const char *action = q->op == PL_OP_UNBAN ? "unban"
                         : q->op == PL_OP_MUTE && q->until == 0
                             ? "unmute"
                             : pl_mod_action_name(action_of(q->op));
    if (rc == 0)
        rc = audit(db, q->room, q->actor, action, q->target, q->reason, detail);
    return rc;
}

static void mod_work(pl_db_t *db, void *arg)
{
    mod_job_t *q = arg;
    pl_role_t target_role = PL_ROLE_MEMBER;
    int rc = mod_check(db, q, &target_role);
    if (rc == 0)
        rc = mod_apply(db, q);
    pl_ops__job_write_end(&q->j, db, rc);
}

/* {"ev":"member","room","action","user","by"[,"reason"][,...]} to the room's
 * members, and to the target's own sessions when they are out now. */
static void mod_event(pl_chat_t *chat, room_t *r, const mod_job_t *q, const session_t *by)
{
    pl_buf_t b;
    pl_buf_init(&b);
    const char *action = q->op == PL_OP_SET_ROLE ? "role"
                         : q->op == PL_OP_KICK   ? "kick"
                         : q->op == PL_OP_BAN    ? "ban"
                         : q->op == PL_OP_UNBAN  ? "unban"
                         : q->until > 0          ? "mute"
                                                 : "unmute";
    pl_buf_printf(&b,
                  "{\"ev\":\"member\",\"room\":\"r%" PRId64 "\",\"action\":\"%s\",\"user\":", r->id,
                  action);
    pl_wire_user_json(&b, q->target, q->username, q->display_name ? q->display_name : q->username);
    pl_buf_lit(&b, ",\"by\":");
    pl_wire_user_json(&b, q->actor, by->username,
                      by->display_name ? by->display_name : by->username);
    if (q->op == PL_OP_SET_ROLE)
        pl_buf_printf(&b, ",\"role\":\"%s\"", pl_mod_role_name(q->grant));
    if (q->op == PL_OP_MUTE)
        pl_buf_printf(&b, ",\"until\":%" PRId64, q->until);
    if (q->reason[0] != '\0') {
        pl_buf_lit(&b, ",\"reason\":");
        pl_json_cstr(&b, q->reason);
    }
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__fanout(chat, r, 0, 0, f);
    if (!pl_chat__is_member(r, q->target))
        pl_chat__send_user(chat, q->target, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void mod_done(int status, void *arg)
{
    mod_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    room_t *r = pl_chat__room(chat, q->room);
    if (pl_ops__job_ok(&q->j, status) && r != NULL) {
        if ((q->op == PL_OP_KICK || q->op == PL_OP_BAN) && q->was_member) {
            pl_chat__member_remove(chat, r, q->target);
            pl_bus__member(chat, r->id, q->target, false);
        }
        if (q->op == PL_OP_MUTE) {
            pl_mod__mute_set(chat, r->id, q->target, q->until);
            pl_bus__mute(chat, r->id, q->target, q->until); /* the other nodes' tables */
        }
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_printf(&b, ",\"room\":\"r%" PRId64 "\",\"user\":", r->id);
        pl_wire_user_json(&b, q->target, q->username,
                          q->display_name ? q->display_name : q->username);
        if (q->op == PL_OP_MUTE)
            pl_buf_printf(&b, ",\"until\":%" PRId64, q->until);
        if (q->op == PL_OP_SET_ROLE)
            pl_buf_printf(&b, ",\"role\":\"%s\"", pl_mod_role_name(q->grant));
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        /* Kick and ban events go out even when the target was not in the
         * room (a ban ahead of time): the members see who is kept out. */
        mod_event(chat, r, q, s);
        for (size_t i = 0; i < q->nwithdrawn; i++) {
            char ev[128];
            int n = snprintf(ev, sizeof ev,
                             "{\"ev\":\"invite\",\"action\":\"remove\",\"room\":\"r%" PRId64
                             "\",\"reason\":\"withdrawn\"}",
                             r->id);
            pl_frame_t *f = pl_frame_new_text(ev, (size_t)n);
            pl_chat__send_user(chat, q->withdrawn[i], f);
            pl_frame_unref(f);
        }
        pl_log(PL_LOG_INFO, "mod", "user=u%" PRId64 " room=r%" PRId64 " op=%s target=u%" PRId64,
               q->actor, r->id, pl_cmd_op_name(q->op), q->target);
    } else if (q->j.code == NULL) {
        pl_wire_reply_err(s, q->j.id, "forbidden", PL_OPS_NOT_MEMBER); /* room gone */
    }
    free(q->withdrawn);
    free(q->username);
    free(q->display_name);
    free(q->reason);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void mod_submit(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_mod_t *a = &c->u.mod;
    mod_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->op = c->op;
    q->room = a->room;
    q->actor = s->user_id;
    q->target = a->user;
    q->grant = (pl_role_t)a->role;
    q->until = c->op == PL_OP_MUTE && a->duration_ms > 0 ? pl_now_ms() + a->duration_ms : 0;
    q->reason = pl_xstrdup(a->reason ? a->reason : "");
    pl_store_write(s->chat->st, mod_work, mod_done, q);
}

void pl_ops_set_role(session_t *s, pl_cmd_t *c)
{
    mod_submit(s, c);
}

void pl_ops_kick(session_t *s, pl_cmd_t *c)
{
    mod_submit(s, c);
}

void pl_ops_ban(session_t *s, pl_cmd_t *c)
{
    mod_submit(s, c);
}

void pl_ops_unban(session_t *s, pl_cmd_t *c)
{
    mod_submit(s, c);
}

void pl_ops_mute(session_t *s, pl_cmd_t *c)
{
    mod_submit(s, c);
}

/* ---- bans, audit: reads ---- */

typedef struct {
    job_t j;
    pl_op_t op;
    int64_t room, user, before, limit;
    pl_ban_t *bans;
    pl_audit_t *log;
    size_t n;
} read_job_t;

/* May user read the room's moderation state (bans: moderators; audit:
 * admins) or, room 0, the server-wide audit log (server admins)? A server
 * admin may read any room's audit log. */
static int read_allowed(pl_db_t *db, read_job_t *q, bool *ok)
{
    bool admin = false;
    int rc = pl_db_user_admin_get(db, q->user, &admin);
    if (rc < 0)
        return rc;
    if (admin && q->op == PL_OP_AUDIT) {
        *ok = true;
        return 0;
    }
    if (q->room == 0) {
        *ok = false;
        return 0;
    }
    pl_role_t role;
    bool member = false;
    if ((rc = role_of(db, q->room, q->user, &role, &member, NULL)) < 0)
        return rc;
    if (!member) {
        pl_ops__job_fail(&q->j, "forbidden", PL_OPS_NOT_MEMBER);
        *ok = false;
        return 0;
    }
    *ok = q->op == PL_OP_BANS ? pl_mod_allowed(role, PL_MOD_BAN, PL_ROLE_MEMBER, PL_ROLE_MEMBER)
                              : pl_mod_allowed(role, PL_MOD_AUDIT, PL_ROLE_MEMBER, PL_ROLE_MEMBER);
    return 0;
}

static void read_work(pl_db_t *db, void *arg)
{
    read_job_t *q = arg;
    bool ok = false;
    int rc = read_allowed(db, q, &ok);
    if (rc == 0 && !ok) {
        if (q->j.code == NULL)
            pl_ops__job_fail(&q->j, "forbidden",
                             q->room == 0 ? "only a server admin may read the server's audit log"
                                          : NO_ROLE);
        return;
    }
    if (rc == 0 && q->op == PL_OP_BANS)
        rc = pl_db_bans(db, q->room, q->limit, &q->bans, &q->n);
    else if (rc == 0)
        rc = pl_db_audit_list(db, q->room, q->before, q->limit, &q->log, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void audit_json(pl_buf_t *b, const pl_audit_t *e)
{
    pl_buf_printf(b, "{\"id\":%" PRId64 ",\"ts\":%" PRId64 ",\"room\":", e->id, e->ts);
    if (e->room_id > 0)
        pl_buf_printf(b, "\"r%" PRId64 "\"", e->room_id);
    else
        pl_buf_lit(b, "null");
    pl_buf_printf(b, ",\"actor\":\"u%" PRId64 "\",\"action\":", e->actor);
    pl_json_cstr(b, e->action);
    if (e->target > 0)
        pl_buf_printf(b, ",\"target\":\"u%" PRId64 "\"", e->target);
    else
        pl_buf_lit(b, ",\"target\":null");
    pl_buf_lit(b, ",\"reason\":");
    pl_json_cstr(b, e->reason);
    /* detail is JSON this file wrote; anything else is passed as a string. */
    json_t *d = e->detail[0] != '\0' ? json_loads(e->detail, 0, NULL) : NULL;
    pl_buf_lit(b, ",\"detail\":");
    if (json_is_object(d))
        pl_wire_json_value(b, d);
    else
        pl_buf_lit(b, "null");
    json_decref(d);
    pl_buf_lit(b, "}");
}

static void read_done(int status, void *arg)
{
    read_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->op == PL_OP_BANS) {
            pl_buf_printf(&b, ",\"room\":\"r%" PRId64 "\",\"bans\":[", q->room);
            for (size_t i = 0; i < q->n; i++) {
                const pl_ban_t *x = &q->bans[i];
                pl_buf_printf(&b,
                              "%s{\"user\":\"u%" PRId64 "\",\"by\":\"u%" PRId64 "\",\"ts\":%" PRId64
                              ",\"reason\":",
                              i ? "," : "", x->user_id, x->by, x->created_ms);
                pl_json_cstr(&b, x->reason);
                pl_buf_lit(&b, "}");
            }
            pl_buf_lit(&b, "]");
        } else {
            pl_buf_lit(&b, ",\"entries\":[");
            for (size_t i = 0; i < q->n; i++) {
                if (i)
                    pl_buf_lit(&b, ",");
                audit_json(&b, &q->log[i]);
            }
            pl_buf_printf(&b, "],\"more\":%s", (int64_t)q->n == q->limit ? "true" : "false");
        }
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    pl_bans_free(q->bans, q->op == PL_OP_BANS ? q->n : 0);
    pl_audit_free(q->log, q->op == PL_OP_AUDIT ? q->n : 0);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void read_submit(session_t *s, pl_cmd_t *c)
{
    read_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->op = c->op;
    q->room = c->u.mod.room;
    q->user = s->user_id;
    q->before = c->u.mod.before;
    q->limit = c->u.mod.limit;
    pl_store_read(s->chat->st, read_work, read_done, q);
}

void pl_ops_bans(session_t *s, pl_cmd_t *c)
{
    read_submit(s, c);
}

void pl_ops_audit(session_t *s, pl_cmd_t *c)
{
    read_submit(s, c);
}

/* ---- hooks of other ops (store thread) ---- */

int pl_mod__delete_others(pl_db_t *db, pl_change_t *c)
{
    int64_t actor = c->user;
    pl_role_t actor_role, author_role;
    bool member = false, author_member = false;
    int rc = role_of(db, c->room_id, actor, &actor_role, &member, NULL);
    if (rc < 0 || !member)
        return rc; /* refused stays NOT_AUTHOR */
    pl_message_t m = {0};
    if ((rc = pl_db_message_get(db, c->room_id, c->seq, &m)) < 0)
        return rc == PL_ENOTFOUND ? 0 : rc;
    int64_t author = m.sender;
    pl_message_dispose(&m);
    if ((rc = role_of(db, c->room_id, author, &author_role, &author_member, NULL)) < 0)
        return rc;
    if (!pl_mod_allowed(actor_role, PL_MOD_DELETE_OTHERS, author_role, PL_ROLE_MEMBER))
        return 0;
    /* Allowed: the store's author check passes as the author. */
    c->user = author;
    c->refused = PL_REFUSAL_NONE;
    rc = pl_db_message_change(db, c);
    c->user = actor;
    if (rc < 0 || c->refused != PL_REFUSAL_NONE || !c->changed)
        return rc;
    char tomb[96], detail[48];
    snprintf(tomb, sizeof tomb, "{\"type\":\"deleted\",\"by\":\"u%" PRId64 "\"}", actor);
    if ((rc = pl_db_tombstone_set(db, c->room_id, c->seq, tomb)) < 0)
        return rc;
    free(c->message.content);
    c->message.content = pl_xstrdup(tomb);
    snprintf(detail, sizeof detail, "{\"seq\":%" PRId64 "}", c->seq);
    return audit(db, c->room_id, actor, "delete", author, "", detail);
}

int pl_mod__leave_check(pl_db_t *db, job_t *j, int64_t room, int64_t user)
{
    pl_role_t role;
    bool member = false;
    int rc = role_of(db, room, user, &role, &member, NULL);
    if (rc < 0 || !member || role != PL_ROLE_OWNER)
        return rc;
    int64_t owners = 0, members = 0;
    if ((rc = pl_db_room_role_count(db, room, PL_ROLE_OWNER, &owners)) < 0 ||
        (rc = pl_db_room_member_count(db, room, &members)) < 0)
        return rc;
    /* The last owner of a group with others in it hands over first; alone,
     * they may leave (the group is then empty). */
    if (owners < 2 && members > 1) {
        pl_ops__job_fail(j, "forbidden", "you are the last owner: make someone else owner first");
        return PL_EFORBIDDEN;
    }
    return 0;
}

int pl_mod__banned_check(pl_db_t *db, job_t *j, int64_t room, int64_t user, const char *msg)
{
    bool banned = false;
    int rc = pl_db_ban_get(db, room, user, &banned);
    if (rc == 0 && banned) {
        pl_ops__job_fail(j, "forbidden", msg);
        return PL_EFORBIDDEN;
    }
    return rc;
}
