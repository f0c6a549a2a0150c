/* SPDX-License-Identifier: MIT */
/* webhooks.c -- incoming webhooks (issue 16): the ops webhook_create,
 * webhooks and webhook_revoke, and pl_chat_post, through which a webhook's
 * request posts into its room on the same path as `send` (dedupe by
 * client_id, group commit, fan-out after COMMIT, the sync ring, cluster
 * publish, push, the search index). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/chat_internal.h"
#include "chat/emoji.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "hooks/hook_body.h"
#include "push/push.h"

bool pl_chat_may_manage_integrations(pl_chat_t *chat, int64_t room, int64_t user)
{
    /* Today every member may; the room roles of the moderation work (issue
     * 17) turn this into a role check in this one place. */
    const room_t *r = pl_chat__room(chat, room);
    return r != NULL && pl_chat__is_member(r, user);
}

/* ---- the ops ---- */

typedef enum { HOOK_CREATE, HOOK_LIST, HOOK_REVOKE } hook_kind_t;

typedef struct {
    job_t j;
    hook_kind_t kind;
    int64_t user;
    pl_webhook_t w;     /* create: the new one; revoke: the one revoked */
    pl_webhook_t *list; /* list */
    size_t n;
    char secret[PL_TOKEN_LEN + 1]; /* create: shown once, in the reply */
} hook_job_t;

static void hook_json(pl_buf_t *b, const pl_webhook_t *w)
{
    pl_buf_printf(b, "{\"id\":\"w%" PRId64 "\",\"room\":\"r%" PRId64 "\",\"name\":", w->id,
                  w->room_id);
    pl_json_str(b, w->name, strlen(w->name));
    pl_buf_lit(b, ",\"icon_url\":");
    pl_json_str(b, w->icon_url ? w->icon_url : "", w->icon_url ? strlen(w->icon_url) : 0);
    pl_buf_printf(b, ",\"created_by\":\"u%" PRId64 "\",\"created_ts\":%" PRId64 "}", w->creator,
                  w->created_ms);
}

static void hex32(const unsigned char h[32], char out[PL_WEBHOOK_HASH_HEX + 1])
{
    sodium_bin2hex(out, PL_WEBHOOK_HASH_HEX + 1, h, 32);
}

static void hook_work(pl_db_t *db, void *arg)
{
    hook_job_t *q = arg;
    int rc;
    if (q->kind == HOOK_CREATE) {
        rc = pl_db_webhook_create(db, &q->w, q->j.s->chat->cfg->webhooks_per_room, &q->w.id);
        if (rc == PL_ETOOBIG) {
            pl_ops__job_fail(&q->j, "limit_reached", "this room has webhooks_per_room webhooks");
            return;
        }
    } else if (q->kind == HOOK_LIST) {
        rc = pl_db_webhook_list(db, q->w.room_id, &q->list, &q->n);
    } else {
        pl_webhook_t cur = {0};
        rc = pl_db_webhook_get(db, q->w.id, &cur);
        /* A stranger learns nothing: another room's webhook is not_found. */
        if (rc == 0 && (cur.revoked_ms != 0 || cur.room_id != q->w.room_id)) {
            pl_webhook_dispose(&cur);
            rc = PL_ENOTFOUND;
        }
        if (rc == 0) {
            pl_webhook_dispose(&q->w);
            q->w = cur;
            rc = pl_db_webhook_revoke(db, q->w.id, pl_now_ms());
        }
        if (rc == PL_ENOTFOUND) {
            pl_ops__job_fail(&q->j, "not_found", "no such webhook in this room");
            return;
        }
    }
    if (rc < 0 && q->kind == HOOK_LIST)
        pl_ops__job_store_error(&q->j, rc); /* a read job: nothing to roll back */
    else if (rc < 0)
        pl_ops__job_write_end(&q->j, db, rc);
}

static void hook_done(int status, void *arg)
{
    hook_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->kind == HOOK_LIST) {
            pl_buf_lit(&b, ",\"webhooks\":[");
            for (size_t i = 0; i < q->n; i++) {
                if (i)
                    pl_buf_lit(&b, ",");
                hook_json(&b, &q->list[i]);
            }
            pl_buf_lit(&b, "]");
        } else {
            pl_buf_lit(&b, ",\"webhook\":");
            hook_json(&b, &q->w);
        }
        if (q->kind == HOOK_CREATE) {
            /* The secret is shown once; only its hash is kept. */
            pl_buf_printf(&b, ",\"path\":\"/v1/hooks/w%" PRId64 "/%s\"", q->w.id, q->secret);
            pl_buf_lit(&b, ",\"url\":");
            char url[1024];
            int n = snprintf(url, sizeof url, "%s/v1/hooks/w%" PRId64 "/%s",
                             s->chat->cfg->public_url, q->w.id, q->secret);
            pl_json_str(&b, url, n > 0 && (size_t)n < sizeof url ? (size_t)n : 0);
            pl_log(PL_LOG_INFO, "hooks",
                   "webhook created hook=w%" PRId64 " room=r%" PRId64 " user=u%" PRId64, q->w.id,
                   q->w.room_id, q->user);
        } else if (q->kind == HOOK_REVOKE) {
            pl_log(PL_LOG_INFO, "hooks", "webhook revoked hook=w%" PRId64 " user=u%" PRId64,
                   q->w.id, q->user);
        }
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    sodium_memzero(q->secret, sizeof q->secret);
    pl_webhook_dispose(&q->w);
    pl_webhooks_free(q->list, q->n);
    pl_ops__job_dispose(&q->j);
    free(q);
}

/* The room, when the caller may manage its integrations; otherwise the
 * answer (a stranger gets not_found from pl_ops__member_room). */
static room_t *manage_room(session_t *s, pl_cmd_t *c)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.webhook.room);
    if (r != NULL && !pl_chat_may_manage_integrations(s->chat, r->id, s->user_id)) {
        pl_wire_reply_err(s, c->id, "forbidden", "you may not manage this room's integrations");
        return NULL;
    }
    return r;
}

static hook_job_t *hook_job(session_t *s, pl_cmd_t *c, hook_kind_t kind, const room_t *r)
{
    hook_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->kind = kind;
    q->user = s->user_id;
    q->w.room_id = r->id;
    return q;
}

void pl_ops_webhook_create(session_t *s, pl_cmd_t *c)
{
    room_t *r = manage_room(s, c);
    if (r == NULL)
        return;
    hook_job_t *q = hook_job(s, c, HOOK_CREATE, r);
    q->w.creator = s->user_id;
    q->w.name = pl_xstrdup(c->u.webhook.name);
    q->w.icon_url = pl_xstrdup(c->u.webhook.icon_url);
    q->w.created_ms = pl_now_ms();
    pl_auth_token_new(q->secret);
    unsigned char h[32];
    pl_auth_token_hash(q->secret, strlen(q->secret), h);
    hex32(h, q->w.secret_hash);
    pl_store_write(s->chat->st, hook_work, hook_done, q);
}

void pl_ops_webhooks(session_t *s, pl_cmd_t *c)
{
    room_t *r = manage_room(s, c);
    if (r == NULL)
        return;
    pl_store_read(s->chat->st, hook_work, hook_done, hook_job(s, c, HOOK_LIST, r));
}

void pl_ops_webhook_revoke(session_t *s, pl_cmd_t *c)
{
    room_t *r = manage_room(s, c);
    if (r == NULL)
        return;
    hook_job_t *q = hook_job(s, c, HOOK_REVOKE, r);
    q->w.id = c->u.webhook.id;
    pl_store_write(s->chat->st, hook_work, hook_done, q);
}

/* ---- posting on behalf of an integration ---- */

typedef struct {
    pl_chat_t *chat;
    pl_chat_post_cb cb;
    void *ud;
    char *client_id, *content;
    pl_mentions_t pm;
    const char *names[PL_MENTIONS_MAX];
    pl_post_t p;
    struct pl_push_ctx *push;
} post_job_t;

static void post_done(int status, void *arg)
{
    post_job_t *q = arg;
    pl_chat_t *chat = q->chat;
    const pl_message_t *m = &q->p.message;
    if (status < 0) {
        q->cb(q->ud, status, NULL, false);
    } else if (q->p.refused != PL_REFUSAL_NONE) {
        q->cb(q->ud, PL_ENOTFOUND, NULL, false);
    } else {
        room_t *room = pl_chat__room(chat, m->room_id);
        if (!q->p.duplicate && room != NULL) {
            /* As send_done (messages.c): one event frame for every member. */
            pl_buf_t b;
            pl_buf_init(&b);
            pl_buf_lit(&b, "{\"ev\":\"message\",");
            pl_wire_message_fields(&b, m);
            pl_buf_lit(&b, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
            chat->stats.frames_built++;
            chat->stats.messages_stored++;
            pl_chat__fanout(chat, room, m->seq, 0, f);
            pl_chat__ring_push(chat, room, m->seq, f);
            pl_frame_unref(f);
            pl_buf_dispose(&b);
            pl_ops__push_sent(chat, q->push);
        } else if (room != NULL && chat->cluster != NULL && room->cl_fresh &&
                   m->seq > room->last_seq) {
            pl_bus__backfill(chat, room, false);
        }
        q->cb(q->ud, 0, m, q->p.duplicate);
    }
    pl_push_ctx_free(q->push);
    pl_post_dispose(&q->p);
    free(q->client_id);
    free(q->content);
    free(q);
}

int pl_chat_post(pl_chat_t *chat, int64_t room_id, int64_t sender, const char *sender_name,
                 const char *client_id, char *content, pl_chat_post_cb cb, void *ud)
{
    room_t *r = pl_chat__room(chat, room_id);
    if (r == NULL || !pl_chat__is_member(r, sender)) {
        free(content);
        return PL_EFORBIDDEN;
    }
    post_job_t *q = pl_xcalloc(1, sizeof *q);
    q->chat = chat;
    q->cb = cb;
    q->ud = ud;
    q->client_id = pl_xstrdup(client_id);
    q->content = content;
    json_t *c = json_loads(content, 0, NULL);
    json_t *body = json_object_get(c, "body");
    if (json_is_string(body))
        pl_mentions_parse(json_string_value(body), json_string_length(body), &q->pm);
    json_decref(c);
    for (size_t i = 0; i < q->pm.n; i++)
        q->names[i] = q->pm.names[i];
    q->p = (pl_post_t){
        .room_id = r->id,
        .sender = sender,
        .client_id = q->client_id,
        .content = q->content,
        .expires_in = r->disappearing_ms,
        .mention_names = q->names,
        .nmention_names = q->pm.n,
        .mention_room = q->pm.room && r->kind == PL_ROOM_GROUP,
    };
    /* pl_ops__push_ctx reads only the sender's names from the session: a
     * view with the integration's name stands in for one. */
    session_t view;
    memset(&view, 0, sizeof view);
    view.chat = chat;
    view.user_id = sender;
    view.username = view.display_name = (char *)sender_name;
    if ((q->push = pl_ops__push_ctx(chat, &view, r)) != NULL) {
        q->p.after = pl_push_enqueue;
        q->p.after_arg = q->push;
    }
    pl_store_message_post(chat->st, &q->p, post_done, q);
    return 0;
}
