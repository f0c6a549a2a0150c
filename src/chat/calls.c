/* SPDX-License-Identifier: MIT */
/* calls.c -- voice and video call signalling (issue 19): the call ops, the
 * call state (in memory, bounded), ring timeouts and disconnects. Media
 * never passes through parleyd: browsers talk WebRTC peer to peer (or
 * through TURN); this file relays their SDP and ICE candidates and keeps
 * who is in which call. A call's history message is written when it ends
 * (calls_history.c).
 *
 * A 1:1 call (a dm) rings every device of the other member; the device
 * that answers wins and signalling then runs between the caller's device
 * and that one. A group call is a mesh of at most call_max_participants:
 * everyone who joins offers a connection to everyone already in it.
 *
 * Bounds: one call per user (busy / in_call), one per room, at most
 * call_max_calls per node, call_max_signals relayed per call, and a token
 * bucket per user (call_signal_rate_per_sec, burst 4x) charged by every call
 * op. Signals are relayed at once and never kept. */
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chat/call_cmd.h"
#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/turn.h"
#include "core/log.h"
#include "core/util.h"

#define CALL_MAX_PARTS 8 /* the ceiling of call_max_participants */
#define RATE_KEYS 65536  /* users with a call bucket; the oldest is evicted */

typedef struct {
    int64_t user, device;
} part_t;

typedef enum { CALL_RINGING, CALL_ACTIVE } call_state_t;

typedef struct call {
    uint64_t id;
    int64_t room;
    bool video, group;
    call_state_t state;
    int64_t caller, callee; /* callee: the other member of a dm (0 in a group) */
    char *caller_name;      /* owned: for the missed-call push */
    part_t p[CALL_MAX_PARTS];
    uint8_t np;
    bool joined; /* someone besides the caller answered or joined */
    int64_t created_ms, answered_ms, alone_since_ms;
    uint32_t signals;
    UT_hash_handle hh;
} call_t;

/* user -> call, room -> call */
typedef struct bind {
    int64_t key;
    uint64_t call;
    UT_hash_handle hh;
} bind_t;

struct pl_calls {
    call_t *calls;
    bind_t *users, *rooms;
    size_t n;
    pl_ratelimit_t *rl;
    pl_log_gate_t rl_log;
};

static struct pl_calls *calls_of(pl_chat_t *chat)
{
    if (chat->calls == NULL) {
        chat->calls = pl_xcalloc(1, sizeof *chat->calls);
        double rate = (double)chat->cfg->call_signal_rate_per_sec;
        chat->calls->rl = pl_ratelimit_new(rate, rate * 4, RATE_KEYS);
    }
    return chat->calls;
}

/* ---- bindings ---- */

static bind_t *bind_get(bind_t *h, int64_t key)
{
    bind_t *b = NULL;
    HASH_FIND(hh, h, &key, sizeof key, b);
    return b;
}

static void bind_set(bind_t **h, int64_t key, uint64_t call)
{
    bind_t *b = pl_xcalloc(1, sizeof *b);
    b->key = key;
    b->call = call;
    HASH_ADD(hh, *h, key, sizeof b->key, b);
}

static void bind_del(bind_t **h, int64_t key, uint64_t call)
{
    bind_t *b = bind_get(*h, key);
    if (b != NULL && b->call == call) {
        HASH_DEL(*h, b);
        free(b);
    }
}

static call_t *call_get(struct pl_calls *cs, uint64_t id)
{
    call_t *c = NULL;
    HASH_FIND(hh, cs->calls, &id, sizeof id, c);
    return c;
}

static int part_find(const call_t *c, int64_t user)
{
    for (int i = 0; i < c->np; i++)
        if (c->p[i].user == user)
            return i;
    return -1;
}

/* ---- events ---- */

static void call_head(pl_buf_t *b, const char *ev, const call_t *c)
{
    char cid[18];
    pl_call_id_format(c->id, cid);
    pl_buf_printf(b, "{\"ev\":\"%s\",\"call\":\"%s\",\"room\":\"r%" PRId64 "\"", ev, cid, c->room);
}

static void send_user(pl_chat_t *chat, int64_t user, pl_buf_t *b)
{
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(b), b->len);
    pl_chat__send_user(chat, user, f);
    pl_frame_unref(f);
}

/* The call's people: both ends of a dm, every member of a group's room. */
static void send_involved(pl_chat_t *chat, const call_t *c, pl_buf_t *b)
{
    if (!c->group) {
        send_user(chat, c->caller, b);
        send_user(chat, c->callee, b);
        return;
    }
    room_t *r = pl_chat__room(chat, c->room);
    if (r == NULL)
        return;
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(b), b->len);
    pl_chat__fanout(chat, r, 0, 0, f);
    pl_frame_unref(f);
}

/* The sessions of one device on this node. A device on another node is not
 * reached (docs/architecture.md, "Calls": call state is per node). */
static bool send_device(pl_chat_t *chat, int64_t user, int64_t device, pl_buf_t *b)
{
    online_t *u = pl_chat__online(chat, user);
    bool sent = false;
    if (u == NULL)
        return false;
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(b), b->len);
    for (session_t *x = u->head, *next; x != NULL; x = next) {
        next = x->next;
        if (x->device_id == device && x->conn != NULL) {
            pl_reply__deliver(x, 0, 0, 0, f);
            sent = true;
        }
    }
    pl_frame_unref(f);
    return sent;
}

static void participants_json(pl_buf_t *b, const call_t *c, int64_t except)
{
    pl_buf_lit(b, "[");
    bool first = true;
    for (int i = 0; i < c->np; i++) {
        if (c->p[i].user == except)
            continue;
        pl_buf_printf(b, "%s\"u%" PRId64 "\"", first ? "" : ",", c->p[i].user);
        first = false;
    }
    pl_buf_lit(b, "]");
}

/* Group calls: {"ev":"call",...,"participants":[...],"active":bool} to the
 * room, whenever someone joins or leaves (the room header shows it). */
static void emit_roster(pl_chat_t *chat, const call_t *c, bool active)
{
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call", c);
    pl_buf_printf(&b, ",\"kind\":\"%s\",\"from\":\"u%" PRId64 "\",\"participants\":",
                  c->video ? "video" : "audio", c->caller);
    participants_json(&b, c, 0);
    pl_buf_printf(&b, ",\"active\":%s}", active ? "true" : "false");
    send_involved(chat, c, &b);
    pl_buf_dispose(&b);
}

/* ---- ending ---- */

/* Ends c: tells everyone involved, writes the history message, frees c.
 * reason: hangup, declined, cancelled, timeout, disconnected, ended. */
static void call_end(pl_chat_t *chat, call_t *c, const char *reason, int64_t by)
{
    struct pl_calls *cs = chat->calls;
    int64_t now = pl_now_ms();
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call_end", c);
    pl_buf_printf(&b, ",\"reason\":\"%s\"", reason);
    if (by != 0)
        pl_buf_printf(&b, ",\"by\":\"u%" PRId64 "\"", by);
    pl_buf_lit(&b, "}");
    send_involved(chat, c, &b);
    if (c->group)
        emit_roster(chat, c, false);
    /* The history: ended (with its duration) once anyone answered,
     * declined when the callee said no, missed otherwise. */
    const char *outcome = c->joined                         ? "ended"
                          : strcmp(reason, "declined") == 0 ? "declined"
                                                            : "missed";
    char cid[18];
    pl_call_id_format(c->id, cid);
    pl_buf_reset(&b, 0);
    pl_buf_printf(&b, "{\"type\":\"call\",\"call\":\"%s\",\"kind\":\"%s\",\"outcome\":\"%s\"", cid,
                  c->video ? "video" : "audio", outcome);
    if (c->joined)
        pl_buf_printf(&b, ",\"duration_ms\":%" PRId64, now - c->answered_ms);
    else
        pl_buf_printf(&b, ",\"reason\":\"%s\"", reason);
    if (c->group)
        pl_buf_lit(&b, ",\"group\":true");
    pl_buf_lit(&b, "}");
    char client_id[32];
    snprintf(client_id, sizeof client_id, "call:%s", cid);
    pl_calls__history(chat, c->room, c->caller, c->caller_name, pl_buf_head(&b), b.len, client_id,
                      strcmp(outcome, "missed") == 0);
    pl_buf_dispose(&b);
    pl_log(PL_LOG_DEBUG, "call", "call=%s room=r%" PRId64 " ended reason=%s outcome=%s", cid,
           c->room, reason, outcome);
    for (int i = 0; i < c->np; i++)
        bind_del(&cs->users, c->p[i].user, c->id);
    if (c->callee != 0)
        bind_del(&cs->users, c->callee, c->id);
    bind_del(&cs->rooms, c->room, c->id);
    HASH_DEL(cs->calls, c);
    cs->n--;
    free(c->caller_name);
    free(c);
}

/* A participant leaves a group call (or its device went away). */
static void group_leave(pl_chat_t *chat, call_t *c, int idx, const char *reason)
{
    int64_t user = c->p[idx].user;
    c->p[idx] = c->p[--c->np];
    bind_del(&chat->calls->users, user, c->id);
    if (c->np == 0) {
        call_end(chat, c, c->joined ? "ended" : reason, user);
        return;
    }
    if (c->np == 1)
        c->alone_since_ms = pl_now_ms();
    emit_roster(chat, c, true);
}

/* ---- op helpers ---- */

/* The per-user bucket of call ops; false after answering rate_limited. */
static bool rate_ok(session_t *s, pl_cmd_t *cmd)
{
    struct pl_calls *cs = calls_of(s->chat);
    uint64_t wait = pl_ratelimit_take(cs->rl, &s->user_id, sizeof s->user_id, 1, pl_mono_ns());
    if (wait == 0)
        return true;
    uint64_t quiet;
    if (pl_log_gate(&cs->rl_log, PL_LOG_INFO, pl_mono_ns(), 1000000000ULL, &quiet))
        pl_log(PL_LOG_INFO, "call", "user=u%" PRId64 " call ops rate-limited (quiet=%" PRIu64 ")",
               s->user_id, quiet);
    pl_wire_reply_err_retry(s, cmd->id, "rate_limited", "too many call requests; slow down", wait);
    return false;
}

/* The call the request names, when the caller may know of it (a party of
 * the dm, a member of the group's room); otherwise call_not_found, the same
 * as for a call that does not exist. */
static call_t *my_call(session_t *s, pl_cmd_t *cmd)
{
    if (!rate_ok(s, cmd))
        return NULL;
    call_t *c = call_get(calls_of(s->chat), cmd->u.call.call);
    bool mine = false;
    if (c != NULL && !c->group)
        mine = s->user_id == c->caller || s->user_id == c->callee;
    else if (c != NULL) {
        room_t *r = pl_chat__room(s->chat, c->room);
        mine = r != NULL && pl_chat__is_member(r, s->user_id);
    }
    if (!mine) {
        pl_wire_reply_err(s, cmd->id, "call_not_found", "no such call of yours");
        return NULL;
    }
    return c;
}

static void reply_call(session_t *s, pl_cmd_t *cmd, const call_t *c)
{
    char cid[18];
    pl_call_id_format(c->id, cid);
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, ",\"call\":\"%s\",\"participants\":", cid);
    participants_json(&b, c, s->user_id);
    pl_wire_reply_ok(s, cmd->id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

static void state_err(session_t *s, pl_cmd_t *cmd, const char *msg)
{
    pl_wire_reply_err(s, cmd->id, "bad_call_state", msg);
}

/* ---- the ops ---- */

void pl_ops_call_invite(session_t *s, pl_cmd_t *cmd)
{
    pl_chat_t *chat = s->chat;
    struct pl_calls *cs = calls_of(chat);
    if (!rate_ok(s, cmd))
        return;
    room_t *r = pl_ops__member_room(s, cmd->id, cmd->u.call.room);
    if (r == NULL)
        return;
    int64_t callee = 0;
    if (r->kind == PL_ROOM_DM) {
        for (size_t i = 0; i < r->nmembers; i++)
            if (r->members[i] != s->user_id)
                callee = r->members[i];
        if (callee == 0) {
            pl_wire_reply_err(s, cmd->id, "bad_request", "nobody else is in this conversation");
            return;
        }
    }
    if (bind_get(cs->users, s->user_id) != NULL) {
        pl_wire_reply_err(s, cmd->id, "in_call", "you are in a call already; hang up first");
        return;
    }
    if (bind_get(cs->rooms, r->id) != NULL) {
        if (r->kind == PL_ROOM_DM)
            pl_wire_reply_err(s, cmd->id, "callee_busy", "the other person is in a call");
        else
            pl_wire_reply_err(s, cmd->id, "call_exists",
                              "this group has a call going on: call_join it");
        return;
    }
    if (callee != 0 && bind_get(cs->users, callee) != NULL) {
        pl_wire_reply_err(s, cmd->id, "callee_busy", "the other person is in a call");
        return;
    }
    if (cs->n >= (size_t)chat->cfg->call_max_calls) {
        pl_wire_reply_err(s, cmd->id, "too_many_calls", "the server has too many calls; try later");
        return;
    }
    call_t *c = pl_xcalloc(1, sizeof *c);
    do
        randombytes_buf(&c->id, sizeof c->id);
    while (c->id == 0 || call_get(cs, c->id) != NULL);
    c->room = r->id;
    c->video = cmd->u.call.video;
    c->group = r->kind != PL_ROOM_DM;
    c->state = CALL_RINGING;
    c->caller = s->user_id;
    c->callee = callee;
    c->caller_name = pl_xstrdup(s->display_name != NULL && s->display_name[0] != '\0'
                                    ? s->display_name
                                    : (s->username != NULL ? s->username : "someone"));
    c->p[0] = (part_t){s->user_id, s->device_id};
    c->np = 1;
    c->created_ms = pl_now_ms();
    HASH_ADD(hh, cs->calls, id, sizeof c->id, c);
    cs->n++;
    bind_set(&cs->users, s->user_id, c->id);
    if (callee != 0)
        bind_set(&cs->users, callee, c->id);
    bind_set(&cs->rooms, r->id, c->id);
    reply_call(s, cmd, c);
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call_invite", c);
    pl_buf_printf(&b, ",\"from\":\"u%" PRId64 "\",\"kind\":\"%s\",\"group\":%s}", c->caller,
                  c->video ? "video" : "audio", c->group ? "true" : "false");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    if (c->group)
        pl_chat__fanout_except(chat, r, s->user_id, f);
    else
        pl_chat__send_user(chat, callee, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
    if (c->group)
        emit_roster(chat, c, true);
}

void pl_ops_call_ring(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    if (s->user_id == c->caller || part_find(c, s->user_id) >= 0 ||
        (!c->group && c->state != CALL_RINGING)) {
        state_err(s, cmd, "this call is not ringing for you");
        return;
    }
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call_ringing", c);
    pl_buf_printf(&b, ",\"user\":\"u%" PRId64 "\"}", s->user_id);
    send_device(s->chat, c->caller, c->p[0].device, &b);
    pl_buf_dispose(&b);
    pl_wire_reply_ok(s, cmd->id, "", 0);
}

static void group_join(session_t *s, pl_cmd_t *cmd, call_t *c)
{
    struct pl_calls *cs = s->chat->calls;
    if (part_find(c, s->user_id) >= 0) {
        state_err(s, cmd, "you are in this call already");
        return;
    }
    if (bind_get(cs->users, s->user_id) != NULL) {
        pl_wire_reply_err(s, cmd->id, "in_call", "you are in another call; hang up first");
        return;
    }
    if (c->np >= s->chat->cfg->call_max_participants || c->np >= CALL_MAX_PARTS) {
        pl_wire_reply_err(s, cmd->id, "call_full",
                          "this call has call_max_participants people already");
        return;
    }
    c->p[c->np++] = (part_t){s->user_id, s->device_id};
    bind_set(&cs->users, s->user_id, c->id);
    if (!c->joined)
        c->answered_ms = pl_now_ms();
    c->joined = true;
    c->state = CALL_ACTIVE;
    c->alone_since_ms = 0;
    reply_call(s, cmd, c);
    emit_roster(s->chat, c, true);
}

void pl_ops_call_answer(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    if (c->group) {
        group_join(s, cmd, c);
        return;
    }
    if (s->user_id != c->callee) {
        state_err(s, cmd, "only the person called can answer");
        return;
    }
    if (c->state != CALL_RINGING) {
        state_err(s, cmd, "this call was answered already (on another device?)");
        return;
    }
    c->p[c->np++] = (part_t){s->user_id, s->device_id};
    c->state = CALL_ACTIVE;
    c->joined = true;
    c->answered_ms = pl_now_ms();
    reply_call(s, cmd, c);
    /* Both users' devices: the caller starts its offer, the callee's other
     * devices stop ringing. */
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call_answered", c);
    pl_buf_printf(&b, ",\"user\":\"u%" PRId64 "\",\"device\":\"d%" PRId64 "\"}", s->user_id,
                  s->device_id);
    send_involved(s->chat, c, &b);
    pl_buf_dispose(&b);
}

void pl_ops_call_join(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    if (!c->group) {
        state_err(s, cmd, "a 1:1 call is answered (call_answer), not joined");
        return;
    }
    group_join(s, cmd, c);
}

void pl_ops_call_reject(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    if (c->group) {
        /* Declining a group call only silences this user's devices. */
        if (part_find(c, s->user_id) >= 0) {
            state_err(s, cmd, "you are in this call: call_leave it");
            return;
        }
        pl_buf_t b;
        pl_buf_init(&b);
        call_head(&b, "call_dismissed", c);
        pl_buf_lit(&b, ",\"reason\":\"declined\"}");
        pl_wire_reply_ok(s, cmd->id, "", 0);
        send_user(s->chat, s->user_id, &b);
        pl_buf_dispose(&b);
        return;
    }
    if (s->user_id != c->callee || c->state != CALL_RINGING) {
        state_err(s, cmd, "only a ringing call made to you can be declined");
        return;
    }
    pl_wire_reply_ok(s, cmd->id, "", 0);
    call_end(s->chat, c, "declined", s->user_id);
}

void pl_ops_call_cancel(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    if (s->user_id != c->caller || c->joined) {
        state_err(s, cmd, "only the caller can cancel, before anyone answers");
        return;
    }
    pl_wire_reply_ok(s, cmd->id, "", 0);
    call_end(s->chat, c, "cancelled", s->user_id);
}

void pl_ops_call_leave(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    int idx = part_find(c, s->user_id);
    if (idx < 0) {
        state_err(s, cmd, "you are not in this call");
        return;
    }
    pl_wire_reply_ok(s, cmd->id, "", 0);
    if (c->group)
        group_leave(s->chat, c, idx, "cancelled");
    else
        call_end(s->chat, c, c->state == CALL_RINGING ? "cancelled" : "hangup", s->user_id);
}

void pl_ops_call_hangup(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    /* The callee of a ringing 1:1 call hanging up declines it. */
    if (!c->group && c->state == CALL_RINGING && s->user_id == c->callee) {
        pl_wire_reply_ok(s, cmd->id, "", 0);
        call_end(s->chat, c, "declined", s->user_id);
        return;
    }
    int idx = part_find(c, s->user_id);
    if (idx < 0) {
        state_err(s, cmd, "you are not in this call");
        return;
    }
    pl_wire_reply_ok(s, cmd->id, "", 0);
    if (c->group)
        group_leave(s->chat, c, idx, "cancelled");
    else
        call_end(s->chat, c, c->state == CALL_RINGING ? "cancelled" : "hangup", s->user_id);
}

void pl_ops_call_signal(session_t *s, pl_cmd_t *cmd)
{
    call_t *c = my_call(s, cmd);
    if (c == NULL)
        return;
    int me = part_find(c, s->user_id);
    if (me < 0 || c->p[me].device != s->device_id) {
        pl_wire_reply_err(s, cmd->id, "call_not_found",
                          "you are not in this call (on this device)");
        return;
    }
    int64_t to = cmd->u.call.to;
    if (to == 0 && c->group) {
        pl_wire_reply_err(s, cmd->id, "bad_request", "\"to\" is required in a group call");
        return;
    }
    if (to == 0)
        to = c->p[me == 0 ? 1 : 0].user;
    int target = c->state == CALL_ACTIVE && to != s->user_id ? part_find(c, to) : -1;
    if (target < 0) {
        pl_wire_reply_err(s, cmd->id, "not_in_call", "the recipient is not in this call");
        return;
    }
    if (c->signals >= (uint64_t)s->chat->cfg->call_max_signals) {
        pl_wire_reply_err(s, cmd->id, "signal_limit",
                          "this call has relayed call_max_signals signals");
        return;
    }
    c->signals++;
    pl_buf_t b;
    pl_buf_init(&b);
    call_head(&b, "call_signal", c);
    pl_buf_printf(&b, ",\"from\":\"u%" PRId64 "\",\"signal\":", s->user_id);
    pl_buf_append(&b, cmd->u.call.signal, strlen(cmd->u.call.signal));
    pl_buf_lit(&b, "}");
    bool sent = send_device(s->chat, c->p[target].user, c->p[target].device, &b);
    pl_buf_dispose(&b);
    pl_wire_reply_ok(s, cmd->id, sent ? ",\"delivered\":true" : ",\"delivered\":false",
                     sent ? 17 : 18);
}

void pl_ops_turn_credentials(session_t *s, pl_cmd_t *cmd)
{
    if (!rate_ok(s, cmd))
        return;
    const pl_config_t *cfg = s->chat->cfg;
    pl_buf_t b;
    pl_buf_init(&b);
    json_t *turn = json_array(), *stun = json_array();
    pl_calls__split_urls(cfg->turn_urls, turn);
    pl_calls__split_urls(cfg->stun_urls, stun);
    char user[PL_TURN_USERNAME_MAX], cred[PL_TURN_CREDENTIAL_MAX];
    int64_t expiry = pl_now_ms() / 1000 + cfg->turn_ttl_s;
    bool have = cfg->turn_secret[0] != '\0' && json_array_size(turn) > 0 &&
                pl_turn_credentials(cfg->turn_secret, s->user_id, expiry, user, cred) == 0;
    pl_buf_lit(&b, ",\"urls\":");
    pl_wire_json_value(&b, have ? turn : NULL);
    if (have) {
        pl_buf_lit(&b, ",\"username\":");
        pl_json_cstr(&b, user);
        pl_buf_lit(&b, ",\"credential\":");
        pl_json_cstr(&b, cred);
    }
    pl_buf_printf(&b, ",\"ttl\":%" PRId64 ",\"stun_urls\":", cfg->turn_ttl_s);
    pl_wire_json_value(&b, stun);
    json_decref(turn);
    json_decref(stun);
    pl_wire_reply_ok(s, cmd->id, pl_buf_head(&b), b.len);
    sodium_memzero(cred, sizeof cred);
    pl_buf_dispose(&b);
}

void pl_calls__split_urls(const char *list, json_t *out)
{
    const char *p = list;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0)
            json_array_append_new(out, json_stringn(p, n));
        p = end ? end + 1 : NULL;
    }
}

/* ---- timers, disconnects, teardown ---- */

void pl_calls__tick(pl_chat_t *chat)
{
    struct pl_calls *cs = chat->calls;
    if (cs == NULL)
        return;
    int64_t now = pl_now_ms(), ring = chat->cfg->call_ring_timeout_ms;
    call_t *c, *tmp;
    HASH_ITER(hh, cs->calls, c, tmp)
    {
        if (!c->joined && now - c->created_ms >= ring)
            call_end(chat, c, "timeout", 0); /* nobody answered: missed */
        else if (c->group && c->np == 1 && c->alone_since_ms > 0 && now - c->alone_since_ms >= ring)
            call_end(chat, c, "ended", 0); /* the last one waited alone */
    }
}

void pl_calls__session_closed(pl_chat_t *chat, session_t *s)
{
    struct pl_calls *cs = chat->calls;
    if (cs == NULL || s->user_id == 0)
        return;
    bind_t *b = bind_get(cs->users, s->user_id);
    call_t *c = b != NULL ? call_get(cs, b->call) : NULL;
    int idx = c != NULL ? part_find(c, s->user_id) : -1;
    if (idx < 0 || c->p[idx].device != s->device_id)
        return;
    /* Another connection of the same device (a reload racing the close)
     * keeps the call. */
    online_t *u = pl_chat__online(chat, s->user_id);
    for (session_t *x = u != NULL ? u->head : NULL; x != NULL; x = x->next)
        if (x != s && x->device_id == s->device_id && x->conn != NULL)
            return;
    if (c->group)
        group_leave(chat, c, idx, "cancelled");
    else
        call_end(chat, c, c->state == CALL_RINGING ? "cancelled" : "disconnected", s->user_id);
}

void pl_calls__free(pl_chat_t *chat)
{
    struct pl_calls *cs = chat->calls;
    if (cs == NULL)
        return;
    call_t *c, *tmp;
    HASH_ITER(hh, cs->calls, c, tmp)
    {
        HASH_DEL(cs->calls, c);
        free(c->caller_name);
        free(c);
    }
    bind_t *b, *bt;
    HASH_ITER(hh, cs->users, b, bt)
    {
        HASH_DEL(cs->users, b);
        free(b);
    }
    HASH_ITER(hh, cs->rooms, b, bt)
    {
        HASH_DEL(cs->rooms, b);
        free(b);
    }
    pl_ratelimit_free(cs->rl);
    free(cs);
    chat->calls = NULL;
}
