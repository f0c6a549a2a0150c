/* SPDX-License-Identifier: MIT */
/* presence.c -- per-user presence computed from the user's sessions.
 *
 * A user is online while one session last reported "online", away when every
 * session reported "away", and offline presence_grace_ms after the last
 * session closed (a reconnect inside the grace period changes nothing). An
 * event goes out only when the computed status changes, so connection churn
 * and repeated reports cost nothing on the wire. Users with show_presence
 * false never produce events and always look offline. */
#include <inttypes.h>
#include <stdlib.h>

#include "chat/chat_internal.h"
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
static void emit(pl_chat_t *chat, int64_t user, int status, int64_t last_seen)
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
        seen_job_t *j = pl_xmalloc(sizeof *j);
        j->user = p->user_id;
        j->ms = now;
        pl_store_write(chat->st, seen_work, seen_done, j);
        HASH_DEL(chat->users, p);
        free(p);
    }
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
