/* SPDX-License-Identifier: MIT */
/* push_ops.c -- Web Push in the chat core (issue 15): the VAPID key op,
 * subscribing and unsubscribing a device's PushSubscription, the
 * notification settings (get, set, and the `push_settings` event to every
 * device of the user), and the push context a send hands to its write job
 * (who is connected right now). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "push/push.h"

/* ---- who may be pushed at all (the send path's cheap check) ---- */

/* A user with at least one subscription, as far as this node knows (an
 * entry is never removed before a restart: a stale one costs only the
 * context build it saves otherwise). */
typedef struct push_user {
    int64_t user_id;
    UT_hash_handle hh;
} push_user_t;

static void push_user_add(pl_chat_t *chat, int64_t user)
{
    push_user_t *u = NULL;
    HASH_FIND(hh, chat->push_users, &user, sizeof user, u);
    if (u != NULL)
        return;
    u = pl_xcalloc(1, sizeof *u);
    u->user_id = user;
    HASH_ADD(hh, chat->push_users, user_id, sizeof u->user_id, u);
    chat->push_gen++;
}

void pl_ops__push_users_free(pl_chat_t *chat)
{
    push_user_t *u, *tmp;
    HASH_ITER(hh, chat->push_users, u, tmp)
    {
        HASH_DEL(chat->push_users, u);
        free(u);
    }
    chat->push_users_loaded = false;
}

typedef struct {
    pl_chat_t *chat;
    int64_t *ids;
    size_t n;
    int rc;
} users_job_t;

static void users_work(pl_db_t *db, void *arg)
{
    users_job_t *q = arg;
    q->rc = pl_db_push_sub_users(db, &q->ids, &q->n);
}

static void users_done(int status, void *arg)
{
    users_job_t *q = arg;
    pl_chat_t *chat = q->chat;
    if (status == 0 && q->rc == 0 && chat->push != NULL) {
        for (size_t i = 0; i < q->n; i++)
            push_user_add(chat, q->ids[i]);
        chat->push_users_loaded = true;
        chat->push_gen++;
    } else if (chat->push != NULL) {
        pl_log(PL_LOG_WARN, "push",
               "could not load the users with subscriptions; every send builds its push context");
    }
    free(q->ids);
    free(q);
}

/* Whether a send by sender in r may push anyone: false only when this node
 * knows that no member but (at most) the sender has a subscription. The
 * answer is cached in the room until a member joins or leaves or a user
 * subscribes. */
static bool room_push_targets(pl_chat_t *chat, room_t *r, int64_t sender)
{
    if (chat->cluster != NULL || !chat->push_users_loaded)
        return true;
    if (chat->push_users == NULL)
        return false;
    if (r->push_gen != chat->push_gen || r->push_mtouch != r->cl_mtouch) {
        uint8_t count = 0;
        int64_t first = 0;
        for (size_t i = 0; i < r->nmembers && count < 2; i++) {
            push_user_t *u = NULL;
            HASH_FIND(hh, chat->push_users, &r->members[i], sizeof r->members[i], u);
            if (u != NULL && count++ == 0)
                first = u->user_id;
        }
        r->push_count = count;
        r->push_first = first;
        r->push_gen = chat->push_gen;
        r->push_mtouch = r->cl_mtouch;
    }
    return r->push_count > 1 || (r->push_count == 1 && r->push_first != sender);
}

void pl_chat_set_push(pl_chat_t *chat, struct pl_push *push, void (*wake)(void *ud), void *ud)
{
    chat->push = push;
    chat->push_wake = wake;
    chat->push_wake_ud = ud;
    if (push == NULL) {
        pl_ops__push_users_free(chat);
        return;
    }
    users_job_t *q = pl_xcalloc(1, sizeof *q);
    q->chat = chat;
    pl_store_read(chat->st, users_work, users_done, q);
}

static bool push_on(session_t *s, json_t *id)
{
    if (s->chat->push != NULL && s->chat->cfg->push_enabled)
        return true;
    pl_wire_reply_err(s, id, "push_disabled", "this server sends no push notifications");
    return false;
}

void pl_ops_push_key(session_t *s, pl_cmd_t *c)
{
    if (!push_on(s, c->id))
        return;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, ",\"key\":");
    pl_json_cstr(&b, pl_push_public_key(s->chat->push));
    pl_wire_reply_ok(s, c->id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

/* ---- subscribe / unsubscribe ---- */

typedef struct {
    job_t j;
    int64_t user, device, max;
    char *endpoint, *p256dh, *auth;
    bool sub;
} sub_job_t;

static void sub_work(pl_db_t *db, void *arg)
{
    sub_job_t *q = arg;
    int rc;
    if (q->sub)
        rc = pl_db_push_sub_put(db, q->user, q->device, q->endpoint, q->p256dh, q->auth, q->max,
                                pl_now_ms(), NULL);
    else
        rc = pl_db_push_sub_delete(db, q->user, q->endpoint);
    if (rc == PL_ETOOBIG)
        pl_ops__job_fail(&q->j, "too_many_subscriptions",
                         "this account has push_max_subscriptions subscriptions; remove one");
    else if (rc == PL_ENOTFOUND && q->sub)
        pl_ops__job_fail(&q->j, "unauthenticated", "this device's session is gone");
    else if (rc == PL_ENOTFOUND)
        pl_ops__job_fail(&q->j, "not_found", "no such subscription of yours");
    else
        pl_ops__job_write_end(&q->j, db, rc);
}

static void sub_done(int status, void *arg)
{
    sub_job_t *q = arg;
    bool ok = pl_ops__job_ok(&q->j, status);
    if (ok && q->sub)
        push_user_add(q->j.s->chat, q->user);
    if (ok)
        pl_wire_reply_ok(q->j.s, q->j.id, "", 0);
    free(q->endpoint);
    free(q->p256dh);
    free(q->auth);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void sub_start(session_t *s, pl_cmd_t *c, bool sub)
{
    if (!push_on(s, c->id))
        return;
    const pl_cmd_push_sub_t *a = &c->u.push_sub;
    sub_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->device = s->device_id;
    q->max = s->chat->cfg->push_max_subscriptions;
    q->sub = sub;
    q->endpoint = pl_xstrdup(a->endpoint);
    if (sub) {
        q->p256dh = pl_xstrdup(a->p256dh);
        q->auth = pl_xstrdup(a->auth);
    }
    pl_store_write(s->chat->st, sub_work, sub_done, q);
}

void pl_ops_push_subscribe(session_t *s, pl_cmd_t *c)
{
    sub_start(s, c, true);
}

void pl_ops_push_unsubscribe(session_t *s, pl_cmd_t *c)
{
    sub_start(s, c, false);
}

/* ---- the user's subscriptions ---- */

typedef struct {
    job_t j;
    int64_t user, device;
    pl_push_sub_row_t *v;
    size_t n;
} list_job_t;

static void list_work(pl_db_t *db, void *arg)
{
    list_job_t *q = arg;
    int rc = pl_db_push_subs(db, q->user, &q->v, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void list_done(int status, void *arg)
{
    list_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"subscriptions\":[");
        for (size_t i = 0; i < q->n; i++) {
            if (i > 0)
                pl_buf_lit(&b, ",");
            pl_buf_lit(&b, "{\"endpoint\":");
            pl_json_cstr(&b, q->v[i].endpoint);
            pl_buf_printf(&b, ",\"this_device\":%s}",
                          q->v[i].device_id == q->device ? "true" : "false");
        }
        pl_buf_lit(&b, "]");
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    for (size_t i = 0; i < q->n; i++)
        pl_push_sub_row_dispose(&q->v[i]);
    free(q->v);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_push_subscriptions(session_t *s, pl_cmd_t *c)
{
    if (!push_on(s, c->id))
        return;
    list_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->device = s->device_id;
    pl_store_read(s->chat->st, list_work, list_done, q);
}

/* ---- settings ---- */

typedef struct {
    job_t j;
    int64_t user;
    bool set;
    pl_cmd_push_set_t a;
    pl_push_pref_t *rows; /* result: every row of the user */
    size_t n;
} set_job_t;

static void set_work(pl_db_t *db, void *arg)
{
    set_job_t *q = arg;
    int rc = 0;
    if (q->set) {
        pl_push_pref_t p = {q->a.room, 0, 0, -1, -1, -1};
        rc = pl_db_push_pref_get(db, q->user, q->a.room, &p);
        if (rc == PL_ENOTFOUND)
            rc = 0;
        if (q->a.level >= 0)
            p.level = q->a.level;
        if (q->a.mute_until >= 0)
            p.mute_until = q->a.mute_until;
        if (q->a.content_free >= -1)
            p.content_free = q->a.content_free;
        if (q->a.set_dnd) {
            p.dnd_start = q->a.dnd_start;
            p.dnd_end = q->a.dnd_end;
        }
        if (rc == 0)
            rc = pl_db_push_pref_put(db, q->user, &p);
    }
    if (rc == 0)
        rc = pl_db_push_prefs(db, q->user, &q->rows, &q->n);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void hhmm(pl_buf_t *b, int min)
{
    pl_buf_printf(b, "\"%02d:%02d\"", min / 60 % 24, min % 60);
}

/* {"content_free", "mute_until", "dnd", "rooms": {"r1": {"level", "mute_until"}}} */
static void settings_json(pl_buf_t *b, const pl_config_t *cfg, const pl_push_pref_t *v, size_t n)
{
    static const char *const levels[] = {"default", "all", "mentions", "nothing"};
    const pl_push_pref_t *acct = n > 0 && v[0].room_id == 0 ? &v[0] : NULL;
    bool cf =
        acct != NULL && acct->content_free >= 0 ? acct->content_free > 0 : cfg->push_content_free;
    pl_buf_printf(b,
                  "{\"content_free\":%s,\"mute_until\":%" PRId64 ",\"dnd\":", cf ? "true" : "false",
                  acct != NULL ? acct->mute_until : 0);
    if (acct != NULL && acct->dnd_start >= 0 && acct->dnd_end >= 0) {
        pl_buf_lit(b, "{\"start\":");
        hhmm(b, acct->dnd_start);
        pl_buf_lit(b, ",\"end\":");
        hhmm(b, acct->dnd_end);
        pl_buf_lit(b, "}");
    } else {
        pl_buf_lit(b, "null");
    }
    pl_buf_lit(b, ",\"rooms\":{");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (v[i].room_id == 0)
            continue;
        int lv = v[i].level >= 0 && v[i].level <= 3 ? v[i].level : 0;
        pl_buf_printf(b, "%s\"r%" PRId64 "\":{\"level\":\"%s\",\"mute_until\":%" PRId64 "}",
                      first ? "" : ",", v[i].room_id, levels[lv], v[i].mute_until);
        first = false;
    }
    pl_buf_lit(b, "}}");
}

static void set_done(int status, void *arg)
{
    set_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"settings\":");
        size_t at = b.len;
        settings_json(&b, s->chat->cfg, q->rows, q->n);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        if (q->set) {
            /* Every device of the user converges (the sender's own too). */
            pl_buf_t e;
            pl_buf_init(&e);
            pl_buf_lit(&e, "{\"ev\":\"push_settings\",\"settings\":");
            pl_buf_append(&e, pl_buf_head(&b) + at, b.len - at);
            pl_buf_lit(&e, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&e), e.len);
            pl_chat__send_user(s->chat, q->user, f);
            pl_frame_unref(f);
            pl_buf_dispose(&e);
        }
        pl_buf_dispose(&b);
    }
    free(q->rows);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void settings_start(session_t *s, pl_cmd_t *c, bool set)
{
    if (!push_on(s, c->id))
        return;
    if (set && c->u.push_set.room != 0 && pl_ops__member_room(s, c->id, c->u.push_set.room) == NULL)
        return;
    set_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->set = set;
    if (set) {
        q->a = c->u.push_set;
        pl_store_write(s->chat->st, set_work, set_done, q);
    } else {
        pl_store_read(s->chat->st, set_work, set_done, q);
    }
}

void pl_ops_push_settings_get(session_t *s, pl_cmd_t *c)
{
    settings_start(s, c, false);
}

void pl_ops_push_settings_set(session_t *s, pl_cmd_t *c)
{
    settings_start(s, c, true);
}

/* ---- the send path ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct pl_push_ctx *pl_ops__push_ctx(pl_chat_t *chat, session_t *s, room_t *r)
{
    if (chat->push != NULL && !room_push_targets(chat, r, s->user_id))
        return NULL; /* nobody here but the sender may be pushed */
    return pl_ops__push_ctx_named(chat,
                                  s->display_name != NULL && s->display_name[0] != '\0'
                                      ? s->display_name
                                      : (s->username != NULL ? s->username : "someone"),
                                  r);
}

/* Without the cheap check (a missed call: the caller's session may be gone;
 * calls are rare). */
struct pl_push_ctx *pl_ops__push_ctx_named(pl_chat_t *chat, const char *sender_name, room_t *r)
{
    if (chat->push == NULL || !chat->cfg->push_enabled)
        return NULL;
    pl_push_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cfg = chat->cfg;
    c->dm = r->kind == PL_ROOM_DM;
    c->room_name = pl_xstrdup(r->name != NULL ? r->name : "");
    c->sender_name = pl_xstrdup(sender_name != NULL ? sender_name : "someone");
    c->nmembers = r->nmembers;
    c->members = pl_xmalloc((r->nmembers ? r->nmembers : 1) * sizeof *c->members);
    if (r->nmembers > 0)
        memcpy(c->members, r->members, r->nmembers * sizeof *c->members);
    /* Devices connected here and active (not away) hear the message live:
     * no push for them. Other nodes' sessions are not known here (see
     * docs/architecture.md, "Web Push"). */
    c->connected = pl_xmalloc((r->nlive ? r->nlive : 1) * sizeof *c->connected);
    for (uint32_t i = 0; i < r->nlive; i++) {
        session_t *x = r->live[i].s;
        if (x != NULL && x->conn != NULL && !x->away && x->device_id > 0)
            c->connected[c->nconnected++] = x->device_id;
    }
    qsort(c->connected, c->nconnected, sizeof *c->connected, cmp_i64);
    return c;
}

void pl_ops__push_sent(pl_chat_t *chat, struct pl_push_ctx *c)
{
    if (c != NULL && c->enqueued > 0 && chat->push_wake != NULL)
        chat->push_wake(chat->push_wake_ud);
}
