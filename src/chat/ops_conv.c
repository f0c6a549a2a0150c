/* SPDX-License-Identifier: MIT */
/* ops_conv.c -- the conversation-feature ops (docs/design/conversation-
 * features.md): edit, delete, react, typing, receipts, threads, presence,
 * profiles, settings, search, and the disappearing-message sweeper. Same
 * rules as ops.c: validate everything, check membership in memory, answer
 * exactly once; mutations go to the writer and fan out after COMMIT. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/emoji.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define TYPING_THROTTLE_NS (2000ULL * 1000 * 1000)
#define TYPING_EXPIRES_MS 6000
#define SWEEP_BATCH 500
#define PRESENCE_QUERY_MAX 1000

static void reply_message(session_t *s, json_t *id, const pl_message_t *m)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, ",\"message\":{");
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}");
    pl_wire_reply_ok(s, id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

/* ---- edit / delete / react: one job type ---- */

typedef enum { MUT_EDIT, MUT_DELETE, MUT_REACT } mut_kind_t;

typedef struct {
    job_t j;
    mut_kind_t kind;
    int64_t room_id, seq, user;
    pl_room_kind_t room_kind;
    char *content; /* edit */
    char *emoji;   /* react */
    bool custom;   /* emoji is a `:shortcode:` reference */
    bool remove;
    int64_t max_reactions;
    bool changed;
    pl_message_t m;
} mut_job_t;

static void mut_work(pl_db_t *db, void *arg)
{
    mut_job_t *q = arg;
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, q->room_id, q->seq, &cur);
    if (rc == PL_ENOTFOUND || (rc == 0 && cur.deleted && q->kind == MUT_REACT)) {
        pl_ops__job_fail(&q->j, "not_found", "no such message");
        pl_message_dispose(&cur);
        return;
    }
    if (rc < 0)
        goto out;
    if (q->kind != MUT_REACT && cur.sender != q->user) {
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
    } else if (q->kind == MUT_DELETE) {
        rc = pl_db_message_delete(db, q->room_id, q->seq, &q->m);
        q->changed = rc == 0;
    } else {
        if (q->custom && !q->remove) {
            /* A custom emoji must exist when it is put on; removing a reaction
             * of one deleted since is always allowed. */
            char name[PL_SHORTCODE_MAX + 1];
            pl_emoji_rec_t e;
            (void)pl_emoji_custom_ref(q->emoji, strlen(q->emoji), name);
            rc = pl_db_emoji_get(db, name, &e);
            if (rc == PL_ENOTFOUND) {
                pl_ops__job_fail(&q->j, "bad_request", "no such custom emoji");
                rc = 0;
                goto out;
            }
            if (rc < 0)
                goto out;
        }
        rc = pl_db_reaction_set(db, q->room_id, q->seq, q->user, q->emoji, !q->remove,
                                q->max_reactions, pl_now_ms(), &q->changed, &q->m);
        if (rc == PL_ETOOBIG) {
            pl_ops__job_fail(&q->j, "bad_request", "too many different reactions on this message");
            rc = 0;
        }
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
        reply_message(s, q->j.id, &q->m);
        if (q->changed)
            pl_chat__emit_update(s->chat, &q->m);
    }
    pl_message_dispose(&q->m);
    free(q->content);
    free(q->emoji);
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
    q->max_reactions = s->chat->cfg->max_reactions_per_user;
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

void pl_ops_react(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_react_t *arg = &c->u.react;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    mut_job_t *q = mut_new(s, c->id, r, arg->seq, MUT_REACT);
    q->emoji = pl_xstrdup(arg->emoji);
    q->custom = arg->custom;
    q->remove = arg->remove;
    pl_store_write(s->chat->st, mut_work, mut_done, q);
}

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

/* ---- read / delivered markers and receipts ---- */

typedef struct {
    job_t j;
    int64_t room_id, user, seq;
    bool read, changed;
    pl_receipt_t r;
} mark_job_t;

static void mark_work(pl_db_t *db, void *arg)
{
    mark_job_t *q = arg;
    int rc = pl_db_member_mark(db, q->room_id, q->user, q->read, q->seq, pl_now_ms(), &q->changed,
                               &q->r);
    pl_ops__job_write_end(&q->j, db, rc);
}

/* {"ev":"receipt",...}: the user's own devices always see read_seq; others
 * only when the user allows read receipts. Two frames at most, each shared. */
static void emit_receipt(pl_chat_t *chat, room_t *room, const pl_receipt_t *r)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_frame_t *full, *nored;
    pl_buf_printf(&b,
                  "{\"ev\":\"receipt\",\"room\":\"r%" PRId64 "\",\"user\":\"u%" PRId64
                  "\",\"read_seq\":%" PRId64 ",\"delivered_seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                  room->id, r->user_id, r->read_seq, r->delivered_seq, pl_now_ms());
    full = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_reset(&b, 0);
    pl_buf_printf(&b,
                  "{\"ev\":\"receipt\",\"room\":\"r%" PRId64 "\",\"user\":\"u%" PRId64
                  "\",\"delivered_seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                  room->id, r->user_id, r->delivered_seq, pl_now_ms());
    nored = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    pl_chat__send_user(chat, r->user_id, full);
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i] != r->user_id)
            pl_chat__send_user(chat, room->members[i], r->read_receipts ? full : nored);
    pl_frame_unref(full);
    pl_frame_unref(nored);
}

static void mark_done(int status, void *arg)
{
    mark_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_ok(s, q->j.id, "", 0);
        room_t *room = pl_chat__room(s->chat, q->room_id);
        if (q->changed && room != NULL)
            emit_receipt(s->chat, room, &q->r);
    }
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void op_mark(session_t *s, pl_cmd_t *c, bool read)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.mark.room);
    if (r == NULL)
        return;
    mark_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->seq = c->u.mark.seq;
    q->read = read;
    pl_store_write(s->chat->st, mark_work, mark_done, q);
}

void pl_ops_read(session_t *s, pl_cmd_t *c)
{
    op_mark(s, c, true);
}

void pl_ops_delivered(session_t *s, pl_cmd_t *c)
{
    op_mark(s, c, false);
}

typedef struct {
    job_t j;
    int64_t room_id, user;
    int64_t after; /* cursor: members with a larger user id */
    size_t budget; /* max_reply_bytes */
    pl_receipt_t *r;
    size_t n;
} receipts_job_t;

static void receipts_work(pl_db_t *db, void *arg)
{
    receipts_job_t *q = arg;
    int rc = pl_db_room_receipts(db, q->room_id, q->after, pl_page_rows(q->budget), &q->r, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void receipts_done(int status, void *arg)
{
    receipts_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        /* One per member, by user id, from the cursor: a big group's list
         * is paged like any other (about 100 bytes a member). */
        pl_page_t pg;
        pl_page_init(&pg, q->budget);
        int64_t last = 0;
        for (size_t i = 0; i < q->n && !pg.full; i++) {
            const pl_receipt_t *r = &q->r[i];
            pl_buf_t *b = pl_page_open(&pg);
            pl_buf_printf(b, "{\"user\":\"u%" PRId64 "\"", r->user_id);
            if (r->read_receipts || r->user_id == q->user)
                pl_buf_printf(b, ",\"read_seq\":%" PRId64 ",\"read_ts\":%" PRId64, r->read_seq,
                              r->read_ts);
            pl_buf_printf(b, ",\"delivered_seq\":%" PRId64 ",\"delivered_ts\":%" PRId64 "}",
                          r->delivered_seq, r->delivered_ts);
            if (pl_page_close(&pg))
                last = r->user_id;
        }
        bool more = pg.full; /* pl_page_rows: the rows fetched never all fit */
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"receipts\":[");
        pl_page_join(&pg, &b, false);
        pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
        if (more)
            pl_buf_printf(&b, ",\"next\":\"u%" PRId64 "\"", last);
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_page_dispose(&pg);
    }
    free(q->r);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_receipts(session_t *s, pl_cmd_t *c)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.receipts.room);
    if (r == NULL)
        return;
    receipts_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->after = c->u.receipts.after;
    q->budget = (size_t)s->chat->cfg->max_reply_bytes;
    pl_store_read(s->chat->st, receipts_work, receipts_done, q);
}

/* ---- thread ---- */

typedef struct {
    job_t j;
    int64_t room_id, root, before, limit;
    pl_message_t rootm;
    pl_page_t page; /* newest first */
    bool more;
} thread_job_t;

static int fetch_thread_before(pl_db_t *db, void *arg, int64_t before, int64_t limit,
                               pl_message_t **out, size_t *n)
{
    const thread_job_t *q = arg;
    return pl_db_thread_messages(db, q->room_id, q->root, before, limit, out, n);
}

static void thread_work(pl_db_t *db, void *arg)
{
    thread_job_t *q = arg;
    int rc = pl_db_message_get(db, q->room_id, q->root, &q->rootm);
    if (rc == 0 && q->rootm.thread_root > 0) {
        pl_ops__job_fail(&q->j, "not_found", "that message is a thread reply, not a root");
        return;
    }
    if (rc == 0)
        rc = pl_ops__page_before(db, fetch_thread_before, q, q->before, q->limit, &q->page,
                                 &q->more);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void thread_done(int status, void *arg)
{
    thread_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"root\":{");
        pl_wire_message_fields(&b, &q->rootm);
        pl_buf_lit(&b, "}");
        pl_buf_append(&b, "", 1); /* NUL for the prefix string */
        pl_ops__reply_page(q->j.s, q->j.id, pl_buf_head(&b), "messages", &q->page, true, q->more);
        pl_buf_dispose(&b);
    }
    pl_message_dispose(&q->rootm);
    pl_page_dispose(&q->page);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_thread(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_thread_t *arg = &c->u.thread;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    thread_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->root = arg->root;
    q->before = arg->before;
    q->limit = arg->limit;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, thread_work, thread_done, q);
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

static void pq_done(int status, void *arg)
{
    pq_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"presence\":[");
        for (size_t i = 0; i < q->n; i++) {
            bool visible = q->c[i].show_presence;
            int st = pl_presence__status(q->j.s->chat, q->c[i].user_id, &visible);
            pl_buf_printf(&b, "%s{\"user\":\"u%" PRId64 "\",\"status\":\"%s\"", i ? "," : "",
                          q->c[i].user_id, pl_presence__name(st));
            if (visible && q->c[i].last_seen_ms > 0)
                pl_buf_printf(&b, ",\"last_seen\":%" PRId64, q->c[i].last_seen_ms);
            pl_buf_lit(&b, "}");
        }
        pl_buf_lit(&b, "]");
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
    }
    free(q->c);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_presence_query(session_t *s, pl_cmd_t *c)
{
    pq_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    pl_store_read(s->chat->st, pq_work, pq_done, q);
}

/* ---- profiles and settings ---- */

static void profile_json(pl_buf_t *b, const pl_profile_t *p, int64_t avatar)
{
    pl_buf_printf(b, "{\"id\":\"u%" PRId64 "\",\"username\":", p->id);
    pl_json_cstr(b, p->username);
    pl_buf_lit(b, ",\"display_name\":");
    pl_json_cstr(b, p->display_name);
    pl_buf_lit(b, ",\"bio\":");
    pl_json_cstr(b, p->bio);
    pl_buf_lit(b, ",\"status_text\":");
    pl_json_cstr(b, p->status_text);
    if (avatar > 0)
        pl_buf_printf(b, ",\"avatar\":\"f%" PRId64 "\"}", avatar);
    else
        pl_buf_lit(b, ",\"avatar\":null}");
}

/* The stored settings merged over the defaults. Returns a new object. */
static json_t *settings_merged(const char *stored)
{
    json_t *out = json_pack("{s:s,s:b,s:b,s:b,s:s}", "theme", "system", "read_receipts", 1,
                            "show_presence", 1, "notifications", 1, "group_add", "everyone");
    json_t *st = stored ? json_loads(stored, 0, NULL) : NULL;
    if (json_is_object(st))
        json_object_update_existing(out, st);
    json_decref(st);
    return out;
}

void pl_ops__apply_settings(pl_chat_t *chat, int64_t user, const char *settings)
{
    json_t *m = settings_merged(settings);
    bool rr = json_is_true(json_object_get(m, "read_receipts"));
    bool sp = json_is_true(json_object_get(m, "show_presence"));
    json_decref(m);
    online_t *u = pl_chat__online(chat, user);
    for (session_t *s = u ? u->head : NULL; s != NULL; s = s->next) {
        s->read_receipts = rr;
        s->show_presence = sp;
    }
    pl_presence__set_visible(chat, user, sp);
}

typedef enum { PROF_GET, PROF_SET, SETTINGS_GET, SETTINGS_SET } prof_kind_t;

typedef struct {
    job_t j;
    prof_kind_t kind;
    int64_t user;    /* target (get by id) or the requester */
    char *username;  /* get by name */
    char *fields[3]; /* set: display_name, bio, status_text (NULL = unchanged) */
    json_t *patch;   /* settings_set */
    bool set_avatar; /* set: avatar given (new_avatar 0 = remove) */
    int64_t new_avatar;
    int64_t avatar; /* result: the user's avatar media id, 0 = none */
    pl_profile_t p;
} prof_job_t;

int pl_ops__own_image(pl_db_t *db, job_t *j, int64_t user, int64_t media)
{
    pl_media_rec_t m = {0};
    int rc = pl_db_media_get(db, media, &m);
    if (rc == PL_ENOTFOUND || (rc == 0 && m.owner != user)) {
        pl_ops__job_fail(j, "not_found", "no such media");
        rc = 1;
    } else if (rc == 0 && (m.mime == NULL || strncmp(m.mime, "image/", 6) != 0 ||
                           m.thumb_w <= 0)) {
        pl_ops__job_fail(j, "bad_request", "the media is not an image");
        rc = 1;
    }
    pl_media_rec_dispose(&m);
    return rc;
}

static void prof_work(pl_db_t *db, void *arg)
{
    prof_job_t *q = arg;
    int rc = 0;
    if (q->kind == PROF_SET && q->set_avatar && q->new_avatar > 0) {
        rc = pl_ops__own_image(db, &q->j, q->user, q->new_avatar);
        if (rc == 1)
            return;
    }
    if (q->kind == PROF_SET && rc == 0 && (q->fields[0] || q->fields[1] || q->fields[2]))
        rc = pl_db_profile_set(db, q->user, q->fields[0], q->fields[1], q->fields[2]);
    if (q->kind == PROF_SET && rc == 0 && q->set_avatar)
        rc = pl_db_avatar_set(db, q->user, q->new_avatar);
    if (rc == 0)
        rc = pl_db_profile_get(db, q->user, q->username, &q->p);
    if (rc == 0 && (q->kind == PROF_GET || q->kind == PROF_SET))
        rc = pl_db_avatar_get(db, q->p.id, &q->avatar);
    if (rc == PL_ENOTFOUND && q->kind == PROF_GET) {
        pl_ops__job_fail(&q->j, "user_not_found", "no such user");
        return;
    }
    if (rc == 0 && q->kind == SETTINGS_SET) {
        json_t *m = settings_merged(q->p.settings);
        json_object_update(m, q->patch);
        char *text = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        rc = pl_db_settings_set(db, q->user, text);
        if (rc == 0) {
            free(q->p.settings);
            q->p.settings = text;
        } else {
            free(text);
        }
    }
    pl_ops__job_write_end(&q->j, db, rc);
}

static void prof_done(int status, void *arg)
{
    prof_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    if (!pl_ops__job_ok(&q->j, status))
        goto out;
    pl_buf_t b;
    pl_buf_init(&b);
    if (q->kind == PROF_GET || q->kind == PROF_SET) {
        pl_buf_lit(&b, ",\"user\":");
        profile_json(&b, &q->p, q->avatar);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        if (q->kind == PROF_SET) {
            online_t *u = pl_chat__online(chat, q->user);
            for (session_t *x = u ? u->head : NULL; x != NULL; x = x->next) {
                free(x->display_name);
                x->display_name = pl_xstrdup(q->p.display_name);
            }
            pl_buf_reset(&b, 0);
            pl_buf_lit(&b, "{\"ev\":\"profile\",\"user\":");
            profile_json(&b, &q->p, q->avatar);
            pl_buf_lit(&b, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
            pl_chat__send_contacts(chat, q->user, f);
            pl_chat__send_user(chat, q->user, f);
            pl_frame_unref(f);
        }
    } else {
        json_t *m = settings_merged(q->p.settings);
        pl_buf_lit(&b, ",\"settings\":");
        pl_wire_json_value(&b, m);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        if (q->kind == SETTINGS_SET) {
            pl_buf_reset(&b, 0);
            pl_buf_lit(&b, "{\"ev\":\"settings\",\"settings\":");
            pl_wire_json_value(&b, m);
            pl_buf_lit(&b, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
            pl_chat__send_user(chat, q->user, f);
            pl_frame_unref(f);
            pl_ops__apply_settings(chat, q->user, q->p.settings);
        }
        json_decref(m);
    }
    pl_buf_dispose(&b);
out:
    pl_profile_dispose(&q->p);
    free(q->username);
    for (int i = 0; i < 3; i++)
        free(q->fields[i]);
    json_decref(q->patch);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static prof_job_t *prof_new(session_t *s, json_t *id, prof_kind_t kind)
{
    prof_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->kind = kind;
    q->user = s->user_id;
    return q;
}

void pl_ops_profile_get(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_profile_get_t *arg = &c->u.profile_get;
    prof_job_t *q = prof_new(s, c->id, PROF_GET);
    q->user = arg->user;
    if (arg->username[0] != '\0')
        q->username = pl_xstrdup(arg->username);
    pl_store_read(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_profile_set(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_profile_set_t *arg = &c->u.profile_set;
    prof_job_t *q = prof_new(s, c->id, PROF_SET);
    q->set_avatar = arg->set_avatar;
    q->new_avatar = arg->avatar;
    for (int i = 0; i < 3; i++)
        q->fields[i] = arg->fields[i] ? pl_xstrdup(arg->fields[i]) : NULL;
    pl_store_write(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_settings_get(session_t *s, pl_cmd_t *c)
{
    pl_store_read(s->chat->st, prof_work, prof_done, prof_new(s, c->id, SETTINGS_GET));
}

void pl_ops_settings_set(session_t *s, pl_cmd_t *c)
{
    prof_job_t *q = prof_new(s, c->id, SETTINGS_SET);
    q->patch = json_incref(c->u.settings_set.patch);
    pl_store_write(s->chat->st, prof_work, prof_done, q);
}

/* ---- search ---- */

typedef struct {
    job_t j;
    int64_t user, room_id, before, limit;
    char *query;
    pl_page_t page; /* newest first, as ranked */
    bool more;
} search_job_t;

/* Results come newest first by message id; the next chunk continues below
 * the last id, so at most one chunk of rows is in memory. */
#define SEARCH_CHUNK 25

static void search_work(pl_db_t *db, void *arg)
{
    search_job_t *q = arg;
    int64_t before = q->before, limit = q->limit;
    int rc = 0;
    while (limit > 0) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(limit, (int64_t)SEARCH_CHUNK);
        /* One more than needed tells whether more results exist. */
        rc = pl_db_search(db, q->user, q->query, q->room_id, before, pl_now_ms(), k + 1, &m, &n);
        if (rc < 0)
            break;
        bool stop = (int64_t)n <= k;
        size_t take = PL_MIN(n, (size_t)k);
        for (size_t i = 0; i < take; i++) {
            if (!pl_page_add(&q->page, &m[i], PL_PAGE_MESSAGE)) {
                q->more = stop = true;
                break;
            }
            before = m[i].id;
            limit--;
        }
        if (limit == 0 && (int64_t)n > k)
            q->more = true;
        pl_messages_free(m, n);
        if (stop)
            break;
    }
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void search_done(int status, void *arg)
{
    search_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status))
        pl_ops__reply_page(q->j.s, q->j.id, NULL, "results", &q->page, false, q->more);
    pl_page_dispose(&q->page);
    free(q->query);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_search(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_search_t *arg = &c->u.search;
    room_t *r = NULL;
    if (arg->room != 0 && (r = pl_ops__member_room(s, c->id, arg->room)) == NULL)
        return;
    search_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->room_id = r ? r->id : 0;
    q->before = arg->before;
    q->limit = arg->limit;
    q->query = pl_xstrdup(arg->query);
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, search_work, search_done, q);
}

/* ---- custom emoji ---- */

typedef enum { EMOJI_ADD, EMOJI_REMOVE, EMOJI_LIST } emoji_kind_t;

typedef struct {
    job_t j;
    emoji_kind_t kind;
    int64_t user;
    pl_emoji_rec_t e; /* add / remove: the emoji */
    pl_emoji_rec_t *list;
    size_t n;
    char after[PL_SHORTCODE_MAX + 1]; /* list: the cursor ("" = from the start) */
} emoji_job_t;

static void emoji_json(pl_buf_t *b, const pl_emoji_rec_t *e)
{
    pl_buf_printf(b,
                  "{\"shortcode\":\"%s\",\"media\":\"f%" PRId64 "\",\"owner\":\"u%" PRId64 "\"}",
                  e->shortcode, e->media, e->owner);
}

static void emoji_work(pl_db_t *db, void *arg)
{
    emoji_job_t *q = arg;
    int rc = 0;
    if (q->kind == EMOJI_LIST) {
        rc =
            pl_db_emoji_list(db, q->after, pl_page_rows((size_t)q->j.s->chat->cfg->max_reply_bytes),
                             &q->list, &q->n);
    } else if (q->kind == EMOJI_ADD) {
        rc = pl_ops__own_image(db, &q->j, q->user, q->e.media);
        if (rc == 1)
            return;
        if (rc == 0)
            rc = pl_db_emoji_add(db, q->e.shortcode, q->e.media, q->user, pl_now_ms());
        if (rc == PL_EEXIST) {
            pl_ops__job_fail(&q->j, "emoji_taken", "that shortcode is already taken");
            return;
        }
    } else {
        rc = pl_db_emoji_get(db, q->e.shortcode, &q->e);
        if (rc == PL_ENOTFOUND) {
            pl_ops__job_fail(&q->j, "not_found", "no such custom emoji");
            return;
        }
        if (rc == 0 && q->e.owner != q->user) {
            pl_ops__job_fail(&q->j, "forbidden", "only its owner can remove a custom emoji");
            return;
        }
        if (rc == 0)
            rc = pl_db_emoji_remove(db, q->e.shortcode);
    }
    if (rc < 0) {
        pl_ops__job_store_error(&q->j, rc);
        if (q->kind != EMOJI_LIST)
            pl_db_rollback_job(db);
    }
}

/* {"ev":"emoji","action":"added"|"removed","emoji":{...}} to every session:
 * custom emoji are server-wide. */
static void emit_emoji(pl_chat_t *chat, const char *action, const pl_emoji_rec_t *e)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, "{\"ev\":\"emoji\",\"action\":\"%s\",\"emoji\":", action);
    emoji_json(&b, e);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    online_t *u, *tmp;
    HASH_ITER(hh, chat->users, u, tmp)
    {
        pl_chat__send_user(chat, u->user_id, f);
    }
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void emoji_done(int status, void *arg)
{
    emoji_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->kind == EMOJI_LIST) {
            /* Server-wide and anyone may add: paged by shortcode. */
            pl_page_t pg;
            pl_page_init(&pg, (size_t)s->chat->cfg->max_reply_bytes);
            const char *last = NULL;
            for (size_t i = 0; i < q->n && !pg.full; i++) {
                emoji_json(pl_page_open(&pg), &q->list[i]);
                if (pl_page_close(&pg))
                    last = q->list[i].shortcode;
            }
            bool more = pg.full; /* pl_page_rows: the rows fetched never all fit */
            pl_buf_lit(&b, ",\"emoji\":[");
            pl_page_join(&pg, &b, false);
            pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
            if (more && last != NULL)
                pl_buf_printf(&b, ",\"next\":\"%s\"", last);
            pl_page_dispose(&pg);
        } else {
            pl_buf_lit(&b, ",\"emoji\":");
            emoji_json(&b, &q->e);
        }
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (q->kind != EMOJI_LIST) {
            pl_log(PL_LOG_INFO, "chat", "emoji %s shortcode=%s user=u%" PRId64,
                   q->kind == EMOJI_ADD ? "added" : "removed", q->e.shortcode, q->user);
            emit_emoji(s->chat, q->kind == EMOJI_ADD ? "added" : "removed", &q->e);
        }
    }
    pl_emoji_recs_free(q->list, q->n);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static emoji_job_t *emoji_new(session_t *s, json_t *id, emoji_kind_t kind)
{
    emoji_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->kind = kind;
    q->user = s->user_id;
    q->e.owner = s->user_id;
    return q;
}

void pl_ops_emoji_add(session_t *s, pl_cmd_t *c)
{
    if (strcmp(s->chat->cfg->emoji_add_policy, "anyone") != 0) {
        pl_wire_reply_err(s, c->id, "forbidden", "adding custom emoji is disabled on this server");
        return;
    }
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_ADD);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", c->u.emoji.shortcode);
    q->e.media = c->u.emoji.media;
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_remove(session_t *s, pl_cmd_t *c)
{
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_REMOVE);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", c->u.emoji.shortcode);
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_list(session_t *s, pl_cmd_t *c)
{
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_LIST);
    snprintf(q->after, sizeof q->after, "%s", c->u.emoji.shortcode);
    pl_store_read(s->chat->st, emoji_work, emoji_done, q);
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
