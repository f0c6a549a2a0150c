/* SPDX-License-Identifier: MIT */
/* presence.c -- per-user presence computed from the user's sessions.
 *
 * A user is online while one session last reported "online", away when every
 * session reported "away", and offline presence_grace_ms after the last
 * session closed (a reconnect inside the grace period changes nothing). An
 * event goes out only when the computed status changes, so connection churn
 * and repeated reports cost nothing on the wire. Users with show_presence
 * false never produce events and always look offline.
 *
 * Also the ops of being there: typing (never stored, throttled), presence
 * (a session's online/away) and presence_query. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/log.h"
#include "core/util.h"

const char *pl_presence__name(int status)
{
    return status == PL_PRES_ONLINE ? "online" : status == PL_PRES_AWAY ? "away" : "offline";
}

/* The user's entry if presence was computed for it (online, away, or in
 * the offline grace period), else NULL. Users offline for good have none. */
static online_t *pres_find(pl_chat_t *chat, int64_t user)
{
    online_t *p = pl_chat__online(chat, user);
    return p != NULL && p->pres ? p : NULL;
}

/* {"ev":"presence","user":"u1","status":"...","last_seen":n} to contacts. */
static void emit_now(pl_chat_t *chat, int64_t user, int status, int64_t last_seen)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, "{\"ev\":\"presence\",\"user\":\"u%" PRId64 "\",\"status\":\"%s\"", user,
                  pl_presence__name(status));
    if (last_seen > 0)
        pl_buf_printf(&b, ",\"last_seen\":%" PRId64, last_seen);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__send_contacts(chat, user, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* This node's status of the user changed: over all nodes through Redis
 * (shared.c), or, single node or Redis down, straight to the contacts. */
static void emit(pl_chat_t *chat, int64_t user, int status, int64_t last_seen)
{
    if (!pl_shared__presence(chat, user, status, last_seen))
        emit_now(chat, user, status, last_seen);
}

void pl_presence__update(pl_chat_t *chat, int64_t user)
{
    online_t *p = pl_chat__online(chat, user);
    if (p == NULL)
        return;
    if (p->head == NULL) {
        /* Last session gone: start the grace period (once). */
        if (p->pres && p->offline_at_ms == 0)
            p->offline_at_ms = pl_now_ms() + chat->cfg->presence_grace_ms;
        return;
    }
    int status = PL_PRES_AWAY;
    bool visible = true;
    for (session_t *s = p->head; s != NULL; s = s->next) {
        if (!s->away)
            status = PL_PRES_ONLINE;
        visible = s->show_presence;
    }
    if (!p->pres) {
        p->pres = true;
        p->status = PL_PRES_OFFLINE;
        p->visible = visible;
    }
    p->offline_at_ms = 0;
    if (p->status == status)
        return;
    p->status = status;
    if (p->visible)
        emit(chat, user, status, 0);
}

typedef struct {
    int64_t user, ms;
} seen_job_t;

static void seen_work(pl_db_t *db, void *arg)
{
    seen_job_t *j = arg;
    if (pl_db_user_set_last_seen(db, j->user, j->ms) < 0)
        pl_db_rollback_job(db);
}

static void seen_done(int status, void *arg)
{
    (void)status; /* last_seen is best effort */
    free(arg);
}

static void seen(pl_chat_t *chat, int64_t user, int64_t ms)
{
    seen_job_t *j = pl_xmalloc(sizeof *j);
    j->user = user;
    j->ms = ms;
    pl_store_write(chat->st, seen_work, seen_done, j);
}

void pl_presence__tick(pl_chat_t *chat)
{
    int64_t now = pl_now_ms();
    online_t *p, *tmp;
    HASH_ITER(hh, chat->users, p, tmp)
    {
        if (p->head != NULL || p->offline_at_ms == 0 || p->offline_at_ms > now)
            continue;
        if (p->visible)
            emit(chat, p->user_id, PL_PRES_OFFLINE, now);
        seen(chat, p->user_id, now);
        HASH_DEL(chat->users, p);
        free(p);
    }
}

void pl_presence__cluster(pl_chat_t *chat, bool on)
{
    pl_shared__stop(chat);
    if (on)
        pl_shared__start(chat, emit_now, seen);
}

void pl_presence__set_visible(pl_chat_t *chat, int64_t user, bool visible)
{
    online_t *p = pres_find(chat, user);
    if (p == NULL || p->visible == visible)
        return;
    p->visible = visible;
    /* Hiding looks like going offline (without last_seen); showing again
     * tells contacts the current status. */
    emit(chat, user, visible ? p->status : PL_PRES_OFFLINE, 0);
}

int pl_presence__status(pl_chat_t *chat, int64_t user, bool *visible)
{
    online_t *p = pres_find(chat, user);
    if (p == NULL)
        return PL_PRES_OFFLINE;
    *visible = p->visible;
    return p->visible ? p->status : PL_PRES_OFFLINE;
}

/* ---- ops ---- */

#define TYPING_THROTTLE_NS (2000ULL * 1000 * 1000)
#define TYPING_EXPIRES_MS 6000
#define PRESENCE_QUERY_MAX 1000

/* ---- typing: never stored ---- */

void pl_ops_typing(session_t *s, pl_cmd_t *c)
{
    json_t *id = c->id;
    room_t *r = pl_ops__member_room(s, id, c->u.typing.room);
    if (r == NULL)
        return;
    bool typing = c->u.typing.typing;
    uint64_t now = pl_mono_ns();
    size_t slot = 0;
    if (!s->typing)
        s->typing = pl_xcalloc(PL_TYPING_SLOTS, sizeof *s->typing);
    for (size_t i = 0; i < PL_TYPING_SLOTS; i++) {
        if (s->typing[i].room == r->id) {
            slot = i;
            break;
        }
        if (s->typing[i].at_ns < s->typing[slot].at_ns)
            slot = i; /* the oldest entry is reused */
    }
    if (typing && s->typing[slot].room == r->id && s->typing[slot].at_ns != 0 &&
        now - s->typing[slot].at_ns < TYPING_THROTTLE_NS) {
        pl_wire_reply_ok(s, id, ",\"dropped\":true", 15);
        return;
    }
    s->typing[slot].room = r->id;
    s->typing[slot].at_ns = typing ? now : 0; /* typing:false re-arms the throttle */
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "{\"ev\":\"typing\",\"room\":\"r%" PRId64 "\",\"user\":\"u%" PRId64
                  "\",\"typing\":%s,\"expires_in_ms\":%d}",
                  r->id, s->user_id, typing ? "true" : "false", TYPING_EXPIRES_MS);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__fanout_except(s->chat, r, s->user_id, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
    pl_wire_reply_ok(s, id, ",\"dropped\":false", 16);
}

/* ---- presence ---- */

void pl_ops_presence(session_t *s, pl_cmd_t *c)
{
    s->away = c->u.presence.away;
    pl_presence__update(s->chat, s->user_id);
    pl_wire_reply_ok(s, c->id, "", 0);
}

typedef struct {
    job_t j;
    int64_t user;
    pl_contact_t *c;
    size_t n;
} pq_job_t;

static void pq_work(pl_db_t *db, void *arg)
{
    pq_job_t *q = arg;
    int rc = pl_db_contacts(db, q->user, PRESENCE_QUERY_MAX, &q->c, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

/* The reply; st: the statuses over all nodes (shared.c), or NULL: this
 * node's own view. */
static void pq_reply(pq_job_t *q, const int *st)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, ",\"presence\":[");
    for (size_t i = 0; i < q->n; i++) {
        bool visible = q->c[i].show_presence;
        int status = st != NULL ? (visible ? st[i] : PL_PRES_OFFLINE)
                                : pl_presence__status(q->j.s->chat, q->c[i].user_id, &visible);
        pl_buf_printf(&b, "%s{\"user\":\"u%" PRId64 "\",\"status\":\"%s\"", i ? "," : "",
                      q->c[i].user_id, pl_presence__name(status));
        if (visible && q->c[i].last_seen_ms > 0)
            pl_buf_printf(&b, ",\"last_seen\":%" PRId64, q->c[i].last_seen_ms);
        pl_buf_lit(&b, "}");
    }
    pl_buf_lit(&b, "]");
    pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

static void pq_free(pq_job_t *q)
{
    free(q->c);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void pq_shared_done(void *arg, const int *st)
{
    pq_job_t *q = arg;
    pq_reply(q, st);
    pq_free(q);
}

static void pq_done(int status, void *arg)
{
    pq_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        /* With Redis: the statuses over all nodes. */
        int64_t *ids = pl_xcalloc(q->n + 1, sizeof *ids);
        for (size_t i = 0; i < q->n; i++)
            ids[i] = q->c[i].user_id;
        bool async = pl_shared__query(q->j.s->chat, ids, q->n, pq_shared_done, q);
        free(ids);
        if (async)
            return;
        pq_reply(q, NULL);
    }
    pq_free(q);
}

void pl_ops_presence_query(session_t *s, pl_cmd_t *c)
{
    pq_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    pl_store_read(s->chat->st, pq_work, pq_done, q);
}
