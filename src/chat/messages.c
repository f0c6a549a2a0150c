/* SPDX-License-Identifier: MIT */
/* messages.c -- the timeline: send (dedupe by client_id, then
 * fan-out after COMMIT), history, edit and delete (a new version and an
 * `update` event), and the sweeper of disappearing messages. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/emoji.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define SWEEP_BATCH 500

/* ---- send ---- */

typedef struct {
    job_t j;
    int64_t room_id, sender;
    pl_room_kind_t kind;
    char *client_id;
    char *content;
    int64_t reply_to, thread, expires_in;
    int64_t media; /* media id the content references, 0 = none */
    bool sticker;  /* the media must be an image with a thumbnail */
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

void pl_ops_send(session_t *s, pl_cmd_t *c)
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
        int64_t k = PL_MIN(limit, (int64_t)PL_PAGE_CHUNK);
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

void pl_ops_history(session_t *s, pl_cmd_t *c)
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

/* ---- edit / delete: one job type ---- */

typedef enum { MUT_EDIT, MUT_DELETE } mut_kind_t;

typedef struct {
    job_t j;
    mut_kind_t kind;
    int64_t room_id, seq, user;
    pl_room_kind_t room_kind;
    char *content; /* edit */
    bool changed;
    pl_message_t m;
} mut_job_t;

static void mut_work(pl_db_t *db, void *arg)
{
    mut_job_t *q = arg;
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, q->room_id, q->seq, &cur);
    if (rc == PL_ENOTFOUND) {
        pl_ops__job_fail(&q->j, "not_found", "no such message");
        pl_message_dispose(&cur);
        return;
    }
    if (rc < 0)
        goto out;
    if (cur.sender != q->user) {
        pl_ops__job_fail(&q->j, "forbidden", "you can only change your own messages");
        goto out;
    }
    if (q->kind == MUT_EDIT && cur.deleted) {
        pl_ops__job_fail(&q->j, "bad_request", "a deleted message cannot be edited");
        goto out;
    }
    if (q->kind == MUT_DELETE && cur.deleted) { /* idempotent: no new version */
        q->m = cur;
        memset(&cur, 0, sizeof cur);
        goto out;
    }
    if (q->kind == MUT_EDIT) {
        int64_t *ids = NULL;
        size_t n = 0;
        bool mroom = false;
        pl_ops__resolve_mentions(db, q->room_id, q->room_kind, q->content, &ids, &n, &mroom);
        rc = pl_db_message_edit(db, q->room_id, q->seq, q->content, ids, n, mroom, pl_now_ms(),
                                &q->m);
        free(ids);
        q->changed = rc == 0;
    } else {
        rc = pl_db_message_delete(db, q->room_id, q->seq, &q->m);
        q->changed = rc == 0;
    }
out:
    pl_message_dispose(&cur);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void mut_done(int status, void *arg)
{
    mut_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_message(s, q->j.id, &q->m);
        if (q->changed)
            pl_chat__emit_update(s->chat, &q->m);
    }
    pl_message_dispose(&q->m);
    free(q->content);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static mut_job_t *mut_new(session_t *s, json_t *id, room_t *r, int64_t seq, mut_kind_t kind)
{
    mut_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->kind = kind;
    q->room_id = r->id;
    q->room_kind = r->kind;
    q->seq = seq;
    q->user = s->user_id;
    return q;
}

void pl_ops_edit(session_t *s, pl_cmd_t *c)
{
    pl_cmd_edit_t *arg = &c->u.edit;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    mut_job_t *q = mut_new(s, c->id, r, arg->seq, MUT_EDIT);
    q->content = arg->content; /* taken */
    arg->content = NULL;
    pl_store_write(s->chat->st, mut_work, mut_done, q);
}

void pl_ops_delete(session_t *s, pl_cmd_t *c)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.mark.room);
    if (r == NULL)
        return;
    pl_store_write(s->chat->st, mut_work, mut_done,
                   mut_new(s, c->id, r, c->u.mark.seq, MUT_DELETE));
}

/* ---- the disappearing-message sweeper ---- */

typedef struct {
    pl_chat_t *chat;
    pl_message_t *msgs;
    size_t n;
} sweep_job_t;

static void sweep_work(pl_db_t *db, void *arg)
{
    sweep_job_t *q = arg;
    if (pl_db_messages_expire(db, pl_now_ms(), SWEEP_BATCH, &q->msgs, &q->n) < 0)
        pl_db_rollback_job(db);
}

static void sweep_done(int status, void *arg)
{
    sweep_job_t *q = arg;
    pl_chat_t *chat = q->chat;
    int st = status;
    chat->sweeping = false;
    if (st == PL_ECLOSED)
        chat->closing = true; /* shutting down: the timer stops at its next run */
    if (st == 0) {
        for (size_t i = 0; i < q->n; i++)
            pl_chat__emit_update(chat, &q->msgs[i]);
        if (q->n > 0)
            pl_log(PL_LOG_DEBUG, "chat", "sweeper expired=%zu", q->n);
    }
    pl_messages_free(q->msgs, q->n);
    free(q);
}

void pl_ops_sweep(pl_chat_t *chat)
{
    sweep_job_t *q = pl_xcalloc(1, sizeof *q);
    q->chat = chat;
    chat->sweeping = true;
    pl_store_write(chat->st, sweep_work, sweep_done, q);
}
