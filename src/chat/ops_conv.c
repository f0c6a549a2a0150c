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

/* Optional int argument that is required. */
static bool arg_seq(session_t *s, json_t *id, json_t *req, const char *key, int64_t *out)
{
    if (!pl_ops__arg_int(s, id, req, key, 1, INT64_MAX, -1, out))
        return false;
    if (*out < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "\"%s\" (a seq >= 1) is required", key);
        pl_wire_reply_err(s, id, "bad_request", msg);
        return false;
    }
    return true;
}

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
    /* The store checks and writes (pl_db_message_change); chat parses the
     * new body's mentions and the custom emoji's shortcode (pure) and maps a
     * refusal to its wire error. */
    static const struct {
        const char *code, *msg;
    } refusals[] = {
        [PL_REFUSAL_NO_MESSAGE] = {"not_found", "no such message"},
        [PL_REFUSAL_NOT_AUTHOR] = {"forbidden", "you can only change your own messages"},
        [PL_REFUSAL_DELETED] = {"bad_request", "a deleted message cannot be edited"},
        [PL_REFUSAL_NO_EMOJI] = {"bad_request", "no such custom emoji"},
        [PL_REFUSAL_TOO_MANY] = {"bad_request", "too many different reactions on this message"},
    };
    static const pl_change_kind_t kinds[] = {[MUT_EDIT] = PL_CHANGE_EDIT,
                                             [MUT_DELETE] = PL_CHANGE_DELETE,
                                             [MUT_REACT] = PL_CHANGE_REACT};
    pl_mentions_t pm = {0};
    const char *names[PL_MENTIONS_MAX];
    if (q->kind == MUT_EDIT) {
        json_t *c = json_loads(q->content, 0, NULL);
        json_t *body = json_object_get(c, "body");
        if (json_is_string(body))
            pl_mentions_parse(json_string_value(body), json_string_length(body), &pm);
        json_decref(c);
    }
    for (size_t i = 0; i < pm.n; i++)
        names[i] = pm.names[i];
    char shortcode[PL_SHORTCODE_MAX + 1];
    bool custom = q->custom && pl_emoji_custom_ref(q->emoji, strlen(q->emoji), shortcode);
    pl_change_t c = {
        .kind = kinds[q->kind],
        .room_id = q->room_id,
        .seq = q->seq,
        .user = q->user,
        .content = q->content,
        .mention_names = names,
        .nmention_names = pm.n,
        .mention_room = pm.room && q->room_kind == PL_ROOM_GROUP, /* @room: groups only */
        .emoji = q->emoji,
        .custom_shortcode = custom ? shortcode : NULL,
        .remove = q->remove,
        .max_reactions = q->max_reactions,
    };
    int rc = pl_db_message_change(db, &c);
    q->m = c.message; /* mut_done disposes it */
    q->changed = c.changed;
    if (rc == 0 && c.refused != PL_REFUSAL_NONE)
        pl_ops__job_fail(&q->j, refusals[c.refused].code, refusals[c.refused].msg);
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

void pl_ops_edit(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t seq;
    if (!pl_ops__arg_member_room(s, id, req, &r) || !arg_seq(s, id, req, "seq", &seq))
        return;
    json_t *content = json_object_get(req, "content");
    if (!pl_ops__content_valid(s, id, content))
        return;
    if (json_object_get(content, "media") != NULL) {
        /* An edit would bypass the media access check of send. */
        pl_wire_reply_err(s, id, "bad_request", "only text content can be edited");
        return;
    }
    char *text = json_dumps(content, JSON_COMPACT);
    if (text == NULL) {
        pl_wire_reply_err(s, id, "internal", "cannot encode content");
        return;
    }
    if (strlen(text) > (size_t)s->chat->cfg->max_content_bytes) {
        free(text);
        pl_wire_reply_err(s, id, "too_large", "message content exceeds max_content_bytes");
        return;
    }
    mut_job_t *q = mut_new(s, id, r, seq, MUT_EDIT);
    q->content = text;
    pl_store_write(s->chat->st, mut_work, mut_done, q);
}

void pl_ops_delete(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t seq;
    if (!pl_ops__arg_member_room(s, id, req, &r) || !arg_seq(s, id, req, "seq", &seq))
        return;
    pl_store_write(s->chat->st, mut_work, mut_done, mut_new(s, id, r, seq, MUT_DELETE));
}

void pl_ops_react(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t seq;
    if (!pl_ops__arg_member_room(s, id, req, &r) || !arg_seq(s, id, req, "seq", &seq))
        return;
    json_t *emoji = json_object_get(req, "emoji");
    char name[PL_SHORTCODE_MAX + 1];
    bool custom = json_is_string(emoji) &&
                  pl_emoji_custom_ref(json_string_value(emoji), json_string_length(emoji), name);
    if (!json_is_string(emoji) ||
        (!custom && !pl_emoji_is_single(json_string_value(emoji), json_string_length(emoji)))) {
        pl_wire_reply_err(s, id, "bad_request",
                          "\"emoji\" must be exactly one emoji (at most 32 bytes) or a custom "
                          "emoji \":shortcode:\"");
        return;
    }
    json_t *rm = json_object_get(req, "remove");
    if (rm != NULL && !json_is_boolean(rm)) {
        pl_wire_reply_err(s, id, "bad_request", "\"remove\" must be a boolean");
        return;
    }
    mut_job_t *q = mut_new(s, id, r, seq, MUT_REACT);
    q->emoji = pl_xstrdup(json_string_value(emoji));
    q->custom = custom;
    q->remove = json_is_true(rm);
    pl_store_write(s->chat->st, mut_work, mut_done, q);
}

/* ---- typing: never stored ---- */

void pl_ops_typing(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    if (!pl_ops__arg_member_room(s, id, req, &r))
        return;
    json_t *t = json_object_get(req, "typing");
    if (!json_is_boolean(t)) {
        pl_wire_reply_err(s, id, "bad_request", "\"typing\" must be a boolean");
        return;
    }
    bool typing = json_is_true(t);
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

static void op_mark(session_t *s, json_t *id, json_t *req, bool read)
{
    room_t *r;
    int64_t seq;
    if (!pl_ops__arg_member_room(s, id, req, &r) ||
        !pl_ops__arg_int(s, id, req, "seq", 0, INT64_MAX, -1, &seq))
        return;
    if (seq < 0) {
        pl_wire_reply_err(s, id, "bad_request", "\"seq\" is required");
        return;
    }
    mark_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->seq = seq;
    q->read = read;
    pl_store_write(s->chat->st, mark_work, mark_done, q);
}

void pl_ops_read(session_t *s, json_t *id, json_t *req)
{
    op_mark(s, id, req, true);
}

void pl_ops_delivered(session_t *s, json_t *id, json_t *req)
{
    op_mark(s, id, req, false);
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

void pl_ops_receipts(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    if (!pl_ops__arg_member_room(s, id, req, &r))
        return;
    json_t *after = json_object_get(req, "after");
    int64_t from = 0;
    if (after != NULL && !json_is_null(after) &&
        (!json_is_string(after) || !pl_id_parse(json_string_value(after), 'u', &from))) {
        pl_wire_reply_err(s, id, "bad_request", "\"after\" must be a user id like \"u1\"");
        return;
    }
    receipts_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->after = from;
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

void pl_ops_thread(session_t *s, json_t *id, json_t *req)
{
    room_t *r;
    int64_t root, before, limit;
    if (!pl_ops__arg_member_room(s, id, req, &r) || !arg_seq(s, id, req, "root", &root) ||
        !pl_ops__arg_int(s, id, req, "before", 1, INT64_MAX, 0, &before) ||
        !pl_ops__arg_int(s, id, req, "limit", 1, s->chat->cfg->history_max_limit, 50, &limit))
        return;
    thread_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->room_id = r->id;
    q->root = root;
    q->before = before;
    q->limit = limit;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, thread_work, thread_done, q);
}

/* ---- presence ---- */

void pl_ops_presence(session_t *s, json_t *id, json_t *req)
{
    json_t *st = json_object_get(req, "status");
    const char *v = json_string_value(st);
    if (v == NULL || (strcmp(v, "online") != 0 && strcmp(v, "away") != 0)) {
        pl_wire_reply_err(s, id, "bad_request", "\"status\" must be \"online\" or \"away\"");
        return;
    }
    s->away = strcmp(v, "away") == 0;
    pl_presence__update(s->chat, s->user_id);
    pl_wire_reply_ok(s, id, "", 0);
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

void pl_ops_presence_query(session_t *s, json_t *id, json_t *req)
{
    (void)req;
    pq_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
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

void pl_ops_profile_get(session_t *s, json_t *id, json_t *req)
{
    json_t *u = json_object_get(req, "user"), *n = json_object_get(req, "username");
    int64_t uid = 0;
    if ((u == NULL) == (n == NULL)) {
        pl_wire_reply_err(s, id, "bad_request", "give exactly one of \"user\" and \"username\"");
        return;
    }
    if (u != NULL && (!json_is_string(u) || !pl_id_parse(json_string_value(u), 'u', &uid))) {
        pl_wire_reply_err(s, id, "bad_request", "\"user\" must be a user id like \"u1\"");
        return;
    }
    if (n != NULL && (!json_is_string(n) || json_string_length(n) == 0 ||
                      json_string_length(n) > 32 ||
                      strlen(json_string_value(n)) != json_string_length(n))) {
        pl_wire_reply_err(s, id, "bad_request", "\"username\" must be a username");
        return;
    }
    prof_job_t *q = prof_new(s, id, PROF_GET);
    q->user = uid;
    if (n != NULL) {
        q->username = pl_xstrdup(json_string_value(n));
        for (char *p = q->username; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    }
    pl_store_read(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_profile_set(session_t *s, json_t *id, json_t *req)
{
    static const struct {
        const char *key;
        size_t min, max;
    } f[3] = {{"display_name", 1, 64}, {"bio", 0, 500}, {"status_text", 0, 100}};
    const char *v[3] = {NULL, NULL, NULL};
    size_t given = 0;
    for (int i = 0; i < 3; i++) {
        json_t *j = json_object_get(req, f[i].key);
        if (j == NULL)
            continue;
        char msg[96];
        if (!json_is_string(j) || strlen(json_string_value(j)) != json_string_length(j)) {
            snprintf(msg, sizeof msg, "\"%s\" must be a string", f[i].key);
            pl_wire_reply_err(s, id, "bad_request", msg);
            return;
        }
        if (json_string_length(j) > f[i].max) {
            snprintf(msg, sizeof msg, "\"%s\" is longer than %zu bytes", f[i].key, f[i].max);
            pl_wire_reply_err(s, id, "too_large", msg);
            return;
        }
        if (json_string_length(j) < f[i].min) {
            snprintf(msg, sizeof msg, "\"%s\" must not be empty", f[i].key);
            pl_wire_reply_err(s, id, "bad_request", msg);
            return;
        }
        v[i] = json_string_value(j);
        given++;
    }
    json_t *av = json_object_get(req, "avatar");
    int64_t avatar = 0;
    if (av != NULL) {
        if (!json_is_null(av) &&
            (!json_is_string(av) || !pl_id_parse(json_string_value(av), 'f', &avatar))) {
            pl_wire_reply_err(s, id, "bad_request",
                              "\"avatar\" must be a media id like \"f1\" or null");
            return;
        }
        given++;
    }
    if (given == 0) {
        pl_wire_reply_err(s, id, "bad_request",
                          "give at least one of \"display_name\", \"bio\", \"status_text\", "
                          "\"avatar\"");
        return;
    }
    prof_job_t *q = prof_new(s, id, PROF_SET);
    q->set_avatar = av != NULL;
    q->new_avatar = avatar;
    for (int i = 0; i < 3; i++)
        q->fields[i] = v[i] ? pl_xstrdup(v[i]) : NULL;
    pl_store_write(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_settings_get(session_t *s, json_t *id, json_t *req)
{
    (void)req;
    pl_store_read(s->chat->st, prof_work, prof_done, prof_new(s, id, SETTINGS_GET));
}

void pl_ops_settings_set(session_t *s, json_t *id, json_t *req)
{
    json_t *patch = json_object_get(req, "settings");
    if (!json_is_object(patch)) {
        pl_wire_reply_err(s, id, "bad_request", "\"settings\" must be an object");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(patch, key, v)
    {
        bool ok;
        if (!strcmp(key, "theme"))
            ok = json_is_string(v) && (!strcmp(json_string_value(v), "system") ||
                                       !strcmp(json_string_value(v), "light") ||
                                       !strcmp(json_string_value(v), "dark"));
        else if (!strcmp(key, "read_receipts") || !strcmp(key, "show_presence") ||
                 !strcmp(key, "notifications"))
            ok = json_is_boolean(v);
        else if (!strcmp(key, "group_add")) /* who may add me to a group (ops_members.c) */
            ok = json_is_string(v) && (!strcmp(json_string_value(v), "everyone") ||
                                       !strcmp(json_string_value(v), "contacts") ||
                                       !strcmp(json_string_value(v), "nobody"));
        else
            ok = false;
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown setting or wrong type: \"%.64s\"", key);
            pl_wire_reply_err(s, id, "bad_request", msg);
            return;
        }
    }
    prof_job_t *q = prof_new(s, id, SETTINGS_SET);
    q->patch = json_incref(patch);
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

void pl_ops_search(session_t *s, json_t *id, json_t *req)
{
    json_t *query = json_object_get(req, "query");
    if (!json_is_string(query) || json_string_length(query) == 0 ||
        json_string_length(query) > 200 ||
        strlen(json_string_value(query)) != json_string_length(query)) {
        pl_wire_reply_err(s, id, "bad_request", "\"query\" must be a string of 1 to 200 bytes");
        return;
    }
    room_t *r = NULL;
    if (json_object_get(req, "room") != NULL && !pl_ops__arg_member_room(s, id, req, &r))
        return;
    int64_t limit, before = 0;
    if (!pl_ops__arg_int(s, id, req, "limit", 1, 100, 20, &limit))
        return;
    json_t *b = json_object_get(req, "before");
    if (b != NULL && !json_is_null(b) &&
        (!json_is_string(b) || !pl_id_parse(json_string_value(b), 'm', &before))) {
        pl_wire_reply_err(s, id, "bad_request", "\"before\" must be a message id like \"m9\"");
        return;
    }
    search_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->user = s->user_id;
    q->room_id = r ? r->id : 0;
    q->before = before;
    q->limit = limit;
    q->query = pl_xstrdup(json_string_value(query));
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

static bool arg_shortcode(session_t *s, json_t *id, json_t *req, char out[PL_SHORTCODE_MAX + 1])
{
    json_t *sc = json_object_get(req, "shortcode");
    if (!json_is_string(sc) ||
        !pl_emoji_shortcode_valid(json_string_value(sc), json_string_length(sc))) {
        pl_wire_reply_err(s, id, "bad_request",
                          "\"shortcode\" must be 2 to 32 of a-z, 0-9 and _ (without colons)");
        return false;
    }
    snprintf(out, PL_SHORTCODE_MAX + 1, "%s", json_string_value(sc));
    return true;
}

void pl_ops_emoji_add(session_t *s, json_t *id, json_t *req)
{
    char sc[PL_SHORTCODE_MAX + 1];
    if (!arg_shortcode(s, id, req, sc))
        return;
    json_t *media = json_object_get(req, "media");
    int64_t mid = 0;
    if (!json_is_string(media) || !pl_id_parse(json_string_value(media), 'f', &mid)) {
        pl_wire_reply_err(s, id, "bad_request", "\"media\" must be a media id like \"f1\"");
        return;
    }
    if (strcmp(s->chat->cfg->emoji_add_policy, "anyone") != 0) {
        pl_wire_reply_err(s, id, "forbidden", "adding custom emoji is disabled on this server");
        return;
    }
    emoji_job_t *q = emoji_new(s, id, EMOJI_ADD);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", sc);
    q->e.media = mid;
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_remove(session_t *s, json_t *id, json_t *req)
{
    char sc[PL_SHORTCODE_MAX + 1];
    if (!arg_shortcode(s, id, req, sc))
        return;
    emoji_job_t *q = emoji_new(s, id, EMOJI_REMOVE);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", sc);
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_list(session_t *s, json_t *id, json_t *req)
{
    json_t *after = json_object_get(req, "after");
    if (after != NULL && !json_is_null(after) &&
        (!json_is_string(after) ||
         !pl_emoji_shortcode_valid(json_string_value(after), json_string_length(after)))) {
        pl_wire_reply_err(s, id, "bad_request", "\"after\" must be a shortcode");
        return;
    }
    emoji_job_t *q = emoji_new(s, id, EMOJI_LIST);
    if (json_is_string(after))
        snprintf(q->after, sizeof q->after, "%s", json_string_value(after));
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
