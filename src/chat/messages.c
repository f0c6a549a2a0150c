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
#include "push/push.h"

#define SWEEP_BATCH 500

/* ---- send ---- */

/* What the store refuses, as wire errors (docs/protocol.md). */
static const struct {
    const char *code, *msg;
} refusals[] = {
    [PL_REFUSAL_NOT_FOUND] = {"not_found", "no such object"},
    [PL_REFUSAL_NO_REPLY] = {"not_found", "the message replied to does not exist"},
    [PL_REFUSAL_NO_THREAD] = {"not_found", "no such thread root"},
    [PL_REFUSAL_NESTED_THREAD] =
        {"bad_request", "a thread reply cannot start a thread; reply in the root's thread"},
    [PL_REFUSAL_NO_MEDIA] = {"not_found", "no such media"},
    [PL_REFUSAL_NOT_STICKER] = {"bad_request", "a sticker must be an image with a thumbnail"},
    [PL_REFUSAL_NO_MESSAGE] = {"not_found", "no such message"},
    [PL_REFUSAL_NOT_AUTHOR] = {"forbidden", "you can only change your own messages"},
    [PL_REFUSAL_DELETED] = {"bad_request", "a deleted message cannot be edited"},
    [PL_REFUSAL_NO_EMOJI] = {"bad_request", "no such custom emoji"},
    [PL_REFUSAL_TOO_MANY] = {"bad_request", "too many different reactions on this message"},
};

void pl_ops__job_refused(job_t *j, pl_refusal_t r)
{
    if (r != PL_REFUSAL_NONE && (size_t)r < PL_ARRAY_LEN(refusals) && refusals[r].code != NULL)
        pl_ops__job_fail(j, refusals[r].code, refusals[r].msg);
}

void pl_ops__mentions(const pl_cmd_t *c, pl_room_kind_t kind, pl_mentions_t *pm,
                      const char *names[PL_MENTIONS_MAX], bool *room)
{
    pm->n = 0;
    pm->room = false;
    json_t *body = json_object_get(json_object_get(c->root, "content"), "body");
    if (json_is_string(body))
        pl_mentions_parse(json_string_value(body), json_string_length(body), pm);
    for (size_t i = 0; i < pm->n; i++)
        names[i] = pm->names[i];
    *room = pm->room && kind == PL_ROOM_GROUP; /* @room only means something in a group */
}

typedef struct {
    job_t j;
    char *client_id;
    char *content;
    pl_mentions_t pm; /* the body's mentions (parsed on the loop) */
    const char *names[PL_MENTIONS_MAX];
    pl_post_t p;              /* the store's request (borrowing the fields above) and result */
    struct pl_push_ctx *push; /* owned; NULL: nothing to push (push_ops.c) */
} send_job_t;

static void send_done(int status, void *arg)
{
    send_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    if (status == 0)
        pl_ops__job_refused(&q->j, q->p.refused);
    if (!pl_ops__job_ok(&q->j, status))
        goto out;
    const pl_message_t *m = &q->p.message;
    pl_buf_t b;
    pl_buf_init(&b);
    /* Build the event once: `{"ev":"message",<fields>}`; the reply reuses the
     * same field text. */
    pl_buf_lit(&b, "{\"ev\":\"message\",");
    size_t fields_at = b.len;
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}");
    pl_buf_t r;
    pl_buf_init(&r);
    pl_buf_lit(&r, ",\"message\":{");
    pl_buf_append(&r, pl_buf_head(&b) + fields_at, b.len - fields_at);
    pl_buf_printf(&r, ",\"duplicate\":%s", q->p.duplicate ? "true" : "false");
    pl_wire_reply_ok(s, q->j.id, pl_buf_head(&r), r.len);
    pl_buf_dispose(&r);
    room_t *room = pl_chat__room(chat, m->room_id);
    if (!q->p.duplicate && room != NULL) {
        /* room->last_seq moves in pl_chat__fanout (the order gate). */
        pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
        chat->stats.frames_built++;
        chat->stats.messages_stored++;
        pl_chat__fanout(chat, room, m->seq, 0, f);
        pl_chat__ring_push(chat, room, m->seq, f);
        pl_frame_unref(f);
        /* The thread root changed (count, last ts): members replace it. */
        if (q->p.root.id != 0)
            pl_chat__emit_update(chat, &q->p.root);
    } else if (room != NULL && chat->cluster != NULL && room->cl_fresh && m->seq > room->last_seq) {
        /* A retry of a send that another node committed but may never
         * have published (it died before the PUBLISH): this node's
         * sessions have not had it yet; read it (and whatever else they
         * lack) from the store. */
        pl_bus__backfill(chat, room, false);
    }
    pl_buf_dispose(&b);
    if (!q->p.duplicate)
        pl_ops__push_sent(chat, q->push);
out:
    pl_push_ctx_free(q->push);
    pl_post_dispose(&q->p);
    free(q->client_id);
    free(q->content);
    pl_ops__job_dispose(&q->j);
    free(q);
}

/* The store checks and writes the message in one call
 * (pl_store_message_post: dedupe, reply and thread checks, media visibility,
 * mentions); chat parses the mentions here, on the loop, from the request it
 * already holds. */
void pl_ops_send(session_t *s, pl_cmd_t *c)
{
    pl_cmd_send_t *arg = &c->u.send;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    int64_t muted_until = 0; /* moderation (issue 17): a timed mute */
    if (pl_mod__muted(s->chat, r->id, s->user_id, pl_now_ms(), &muted_until)) {
        char msg[96];
        snprintf(msg, sizeof msg, "you are muted in this room until %" PRId64, muted_until);
        pl_wire_reply_err(s, c->id, "muted", msg);
        return;
    }
    send_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->client_id = pl_xstrdup(arg->client_id);
    q->content = arg->content; /* taken: encoded once, by the command layer */
    arg->content = NULL;
    bool mroom;
    pl_ops__mentions(c, r->kind, &q->pm, q->names, &mroom);
    q->p = (pl_post_t){
        .room_id = r->id,
        .sender = s->user_id,
        .client_id = q->client_id,
        .content = q->content,
        .reply_to = arg->reply_to,
        .thread_root = arg->thread,
        /* A per-message ttl overrides the room's timer. */
        .expires_in = arg->ttl_ms > 0 ? arg->ttl_ms : r->disappearing_ms,
        .media = arg->media,
        .sticker = arg->sticker,
        .mention_names = q->names,
        .nmention_names = q->pm.n,
        .mention_room = mroom,
    };
    if ((q->push = pl_ops__push_ctx(s->chat, s, r)) != NULL) {
        q->p.after = pl_push_enqueue;
        q->p.after_arg = q->push;
    }
    pl_store_message_post(s->chat->st, &q->p, send_done, q);
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

/* ---- changes of a posted message: edit, delete (here) and react
 * (reactions.c) share one job ---- */

/* The store checks and writes (pl_db_message_change: the message exists (and
 * is live to react to), only its author edits or deletes it, no edit of a
 * tombstone, delete idempotent, the custom emoji exists, the reaction cap). */
static void change_work(pl_db_t *db, void *arg)
{
    change_job_t *q = arg;
    int rc = pl_db_message_change(db, &q->c);
    /* Someone else's message: a moderator may delete it (issue 17). */
    if (rc == 0 && q->c.kind == PL_CHANGE_DELETE && q->c.refused == PL_REFUSAL_NOT_AUTHOR)
        rc = pl_mod__delete_others(db, &q->c);
    if (rc == 0)
        pl_ops__job_refused(&q->j, q->c.refused);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void change_done(int status, void *arg)
{
    change_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_message(s, q->j.id, &q->c.message);
        if (q->c.changed)
            pl_chat__emit_update(s->chat, &q->c.message);
    }
    pl_change_dispose(&q->c);
    free(q->text);
    pl_ops__job_dispose(&q->j);
    free(q);
}

change_job_t *pl_ops__change_new(session_t *s, json_t *id, const room_t *r, int64_t seq,
                                 pl_change_kind_t kind)
{
    change_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->c = (pl_change_t){.kind = kind, .room_id = r->id, .seq = seq, .user = s->user_id};
    return q;
}

void pl_ops__change_submit(session_t *s, change_job_t *q)
{
    pl_store_write(s->chat->st, change_work, change_done, q);
}

void pl_ops_edit(session_t *s, pl_cmd_t *c)
{
    pl_cmd_edit_t *arg = &c->u.edit;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    change_job_t *q = pl_ops__change_new(s, c->id, r, arg->seq, PL_CHANGE_EDIT);
    q->text = arg->content; /* taken */
    arg->content = NULL;
    q->c.content = q->text;
    pl_ops__mentions(c, r->kind, &q->pm, q->names, &q->c.mention_room);
    q->c.mention_names = q->names;
    q->c.nmention_names = q->pm.n;
    pl_ops__change_submit(s, q);
}

void pl_ops_delete(session_t *s, pl_cmd_t *c)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.mark.room);
    if (r == NULL)
        return;
    pl_ops__change_submit(s, pl_ops__change_new(s, c->id, r, c->u.mark.seq, PL_CHANGE_DELETE));
}

/* ---- the disappearing-message sweeper ---- */

typedef struct {
    pl_chat_t *chat;
    pl_message_t *msgs; /* tombstones: expired, then retired */
    size_t n;
    int64_t retention_ms; /* 0: no retention sweep */
    int64_t retire_after; /* in: where the retention scan starts; out: where it stopped */
} sweep_job_t;

/* Appends src[0..n) to q->msgs and frees src's array (the messages move). */
static void sweep_take(sweep_job_t *q, pl_message_t *src, size_t n)
{
    if (n == 0) {
        free(src);
        return;
    }
    q->msgs = pl_xrealloc(q->msgs, (q->n + n) * sizeof *q->msgs);
    memcpy(q->msgs + q->n, src, n * sizeof *src);
    q->n += n;
    free(src);
}

static void sweep_work(pl_db_t *db, void *arg)
{
    sweep_job_t *q = arg;
    int64_t now = pl_now_ms();
    if (pl_db_messages_expire(db, now, SWEEP_BATCH, &q->msgs, &q->n) < 0) {
        pl_db_rollback_job(db);
        return;
    }
    if (q->retention_ms <= 0)
        return;
    pl_message_t *old = NULL;
    size_t nold = 0;
    if (pl_db_messages_retire(db, now - q->retention_ms, q->retire_after, SWEEP_BATCH, &old, &nold,
                              &q->retire_after) < 0) {
        pl_db_rollback_job(db);
        pl_messages_free(q->msgs, q->n);
        q->msgs = NULL;
        q->n = 0;
        return;
    }
    sweep_take(q, old, nold);
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
        chat->retire_after = q->retire_after;
        for (size_t i = 0; i < q->n; i++)
            pl_chat__emit_update(chat, &q->msgs[i]);
        if (q->n > 0)
            pl_log(PL_LOG_DEBUG, "chat", "sweeper deleted=%zu (expired or past retention)", q->n);
    }
    pl_messages_free(q->msgs, q->n);
    free(q);
}

void pl_ops_sweep(pl_chat_t *chat)
{
    sweep_job_t *q = pl_xcalloc(1, sizeof *q);
    q->chat = chat;
    q->retention_ms = chat->cfg->message_retention_ms;
    q->retire_after = chat->retire_after;
    chat->sweeping = true;
    pl_store_write(chat->st, sweep_work, sweep_done, q);
}
