/* SPDX-License-Identifier: MIT */
/* chat.c -- chat core state: sessions, the room routing table, fan-out. */
#include "chat/chat.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- rooms ---- */

room_t *pl_chat__room(pl_chat_t *chat, int64_t id)
{
    room_t *r = NULL;
    HASH_FIND(hh, chat->rooms, &id, sizeof id, r);
    return r;
}

room_t *pl_chat__room_add(pl_chat_t *chat, const pl_room_t *pr)
{
    room_t *r = pl_chat__room(chat, pr->id);
    if (r != NULL)
        return r;
    r = pl_xcalloc(1, sizeof *r);
    r->id = pr->id;
    r->kind = pr->kind;
    r->name = pl_xstrdup(pr->name ? pr->name : "");
    r->last_seq = pr->last_seq;
    r->last_version = pr->last_version;
    r->disappearing_ms = pr->disappearing_ms;
    HASH_ADD(hh, chat->rooms, id, sizeof r->id, r);
    return r;
}

/* Index of the first member >= user (binary search over the sorted ids). */
static size_t member_pos(const room_t *r, int64_t user)
{
    size_t lo = 0, hi = r->nmembers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->members[mid] < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool pl_chat__is_member(const room_t *r, int64_t user)
{
    size_t i = member_pos(r, user);
    return i < r->nmembers && r->members[i] == user;
}

void pl_chat__member_add(room_t *r, int64_t user)
{
    size_t i = member_pos(r, user);
    if (i < r->nmembers && r->members[i] == user)
        return;
    if (r->nmembers == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->members = pl_xrealloc(r->members, r->cap * sizeof *r->members);
    }
    memmove(r->members + i + 1, r->members + i, (r->nmembers - i) * sizeof *r->members);
    r->members[i] = user;
    r->nmembers++;
}

void pl_chat__member_remove(room_t *r, int64_t user)
{
    size_t i = member_pos(r, user);
    if (i >= r->nmembers || r->members[i] != user)
        return;
    memmove(r->members + i, r->members + i + 1, (r->nmembers - i - 1) * sizeof *r->members);
    r->nmembers--;
}

/* ---- sessions ---- */

session_t *pl_chat__session_ref(session_t *s)
{
    s->refs++;
    return s;
}

static void held_clear(session_t *s)
{
    held_t *h = s->held;
    while (h != NULL) {
        held_t *next = h->next;
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
    s->held = NULL;
    s->held_tail = &s->held;
    s->held_bytes = 0;
}

void pl_chat__session_unref(session_t *s)
{
    if (--s->refs > 0)
        return;
    held_clear(s);
    free(s->username);
    free(s->display_name);
    free(s);
}

online_t *pl_chat__online(pl_chat_t *chat, int64_t user)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user, sizeof user, u);
    return u;
}

static void online_remove(pl_chat_t *chat, session_t *s)
{
    if (s->user_id == 0)
        return;
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &s->user_id, sizeof s->user_id, u);
    if (u == NULL)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        u->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    if (u->head == NULL) {
        HASH_DEL(chat->users, u);
        free(u);
    }
}

/* ---- fan-out ---- */

static void session_deliver(session_t *s, int64_t room, int64_t seq, int64_t version,
                            pl_frame_t *f)
{
    if (s->conn == NULL)
        return;
    if (s->syncing && (seq > 0 || version > 0)) {
        size_t size = pl_frame_size(f);
        if (s->held_bytes + size > (size_t)s->chat->cfg->max_write_queue) {
            pl_log(PL_LOG_WARN, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64
                   " too many events held during sync: closing slow consumer",
                   pl_conn_id(s->conn), s->user_id);
            held_clear(s);
            pl_conn_close(s->conn, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer: resync");
            return;
        }
        held_t *h = pl_xmalloc(sizeof *h);
        h->room = room;
        h->seq = seq;
        h->version = version;
        h->frame = pl_frame_ref(f);
        h->next = NULL;
        *s->held_tail = h;
        s->held_tail = &h->next;
        s->held_bytes += size;
        return;
    }
    if (pl_conn_send_frame(s->conn, f) == 0)
        s->chat->stats.events_fanned_out++;
}

void pl_chat__send_user(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user, sizeof user, u);
    if (u == NULL)
        return;
    for (session_t *s = u->head, *next; s != NULL; s = next) {
        next = s->next; /* a send may close the session */
        session_deliver(s, 0, 0, 0, f);
    }
}

void pl_chat__fanout_except(pl_chat_t *chat, room_t *room, int64_t except_user, pl_frame_t *f)
{
    for (size_t i = 0; i < room->nmembers; i++) {
        if (room->members[i] == except_user)
            continue;
        online_t *u = pl_chat__online(chat, room->members[i]);
        for (session_t *s = u ? u->head : NULL, *next; s != NULL; s = next) {
            next = s->next;
            session_deliver(s, 0, 0, 0, f);
        }
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Walks every room: there is no user -> rooms index in memory, and presence
 * and profile events are rare (coalesced) next to messages. */
void pl_chat__send_contacts(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    int64_t *to = NULL;
    size_t n = 0, cap = 0;
    room_t *r, *tmp;
    HASH_ITER(hh, chat->rooms, r, tmp)
    {
        if (!pl_chat__is_member(r, user))
            continue;
        for (size_t i = 0; i < r->nmembers; i++) {
            if (r->members[i] == user || pl_chat__online(chat, r->members[i]) == NULL)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                to = pl_xrealloc(to, cap * sizeof *to);
            }
            to[n++] = r->members[i];
        }
    }
    if (n > 0)
        qsort(to, n, sizeof *to, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || to[i] != to[i - 1])
            pl_chat__send_user(chat, to[i], f);
    free(to);
}

void pl_chat__emit_update(pl_chat_t *chat, const pl_message_t *m)
{
    room_t *room = pl_chat__room(chat, m->room_id);
    if (room == NULL)
        return;
    if (m->version > room->last_version)
        room->last_version = m->version;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, "{\"ev\":\"update\",\"room\":\"r%" PRId64 "\",\"version\":%" PRId64
                  ",\"message\":{", m->room_id, m->version);
    pl_wire_message_fields(&b, m);
    pl_buf_append(&b, "}}", 2);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    chat->stats.frames_built++;
    pl_chat__fanout(chat, room, 0, m->version, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

void pl_chat__fanout(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version, pl_frame_t *f)
{
    for (size_t i = 0; i < room->nmembers; i++) {
        online_t *u = NULL;
        HASH_FIND(hh, chat->users, &room->members[i], sizeof room->members[i], u);
        if (u == NULL)
            continue;
        for (session_t *s = u->head, *next; s != NULL; s = next) {
            next = s->next;
            session_deliver(s, room->id, seq, version, f);
        }
    }
}

void pl_chat__release_held(session_t *s, const pl_sync_pos_t *pos, size_t n)
{
    held_t *h = s->held;
    s->held = NULL;
    s->held_tail = &s->held;
    s->held_bytes = 0;
    s->syncing = false;
    while (h != NULL) {
        held_t *next = h->next;
        bool skip = false;
        for (size_t i = 0; i < n; i++) {
            if (pos[i].room == h->room) {
                /* An update the sync covered (its version is in the
                 * snapshot) is skipped like a message it delivered. */
                skip = pos[i].truncated ||
                       (h->seq > 0 ? h->seq <= pos[i].upto : h->version <= pos[i].vupto);
                break;
            }
        }
        if (!skip && s->conn != NULL && pl_conn_send_frame(s->conn, h->frame) == 0)
            s->chat->stats.events_fanned_out++;
        pl_frame_unref(h->frame);
        free(h);
        h = next;
    }
}

/* ---- WebSocket handlers ---- */

void pl_chat_on_ws_open(void *ud, pl_conn_t *c)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_xcalloc(1, sizeof *s);
    s->chat = chat;
    s->conn = c;
    s->refs = 1;
    s->held_tail = &s->held;
    s->tokens = (double)chat->cfg->rate_limit_per_sec * 2;
    s->refill_ns = pl_mono_ns();
    pl_conn_set_data(c, s);
    chat->stats.sessions++;
    pl_log(PL_LOG_DEBUG, "chat", "conn=%" PRIu64 " session open", pl_conn_id(c));
}

void pl_chat_on_ws_close(void *ud, pl_conn_t *c)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_conn_data(c);
    if (s == NULL)
        return;
    pl_conn_set_data(c, NULL);
    online_remove(chat, s);
    if (s->user_id != 0)
        pl_presence__update(chat, s->user_id);
    s->conn = NULL;
    chat->stats.sessions--;
    pl_log(PL_LOG_DEBUG, "chat", "conn=%" PRIu64 " user=u%" PRId64 " session closed", pl_conn_id(c),
           s->user_id);
    pl_chat__session_unref(s);
}

/* Token bucket: rate_limit_per_sec tokens per second, burst of twice that. */
static bool rate_ok(session_t *s)
{
    double rate = (double)s->chat->cfg->rate_limit_per_sec;
    uint64_t now = pl_mono_ns();
    s->tokens += (double)(now - s->refill_ns) * rate / 1e9;
    s->refill_ns = now;
    if (s->tokens > rate * 2)
        s->tokens = rate * 2;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

void pl_chat_on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    (void)ud;
    session_t *s = pl_conn_data(c);
    if (s == NULL)
        return;
    json_error_t jerr;
    json_t *req = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (req == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON at position %d: %s", jerr.position, jerr.text);
        pl_wire_reply_err(s, NULL, "bad_json", msg);
        return;
    }
    json_t *id = NULL;
    if (!json_is_object(req)) {
        pl_wire_reply_err(s, NULL, "bad_request", "a request must be a JSON object");
        goto out;
    }
    id = json_object_get(req, "id");
    if (id != NULL && !json_is_integer(id) && !json_is_string(id)) {
        pl_wire_reply_err(s, NULL, "bad_request", "\"id\" must be an integer or a string");
        goto out;
    }
    if (id != NULL && json_is_string(id) && json_string_length(id) > 128) {
        pl_wire_reply_err(s, NULL, "bad_request", "\"id\" is longer than 128 bytes");
        goto out;
    }
    if (!rate_ok(s)) {
        pl_wire_reply_err(s, id, "rate_limited", "too many requests; slow down");
        goto out;
    }
    pl_ops_dispatch(s, id, req);
out:
    json_decref(req);
}

void pl_chat_close_device(pl_chat_t *chat, int64_t user_id, int64_t device_id, uint16_t code,
                          const char *reason)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user_id, sizeof user_id, u);
    if (u == NULL)
        return;
    for (session_t *s = u->head; s != NULL; s = s->next)
        if (s->device_id == device_id && s->conn != NULL)
            pl_conn_close(s->conn, code, reason);
}

/* Called by ops.c once a session authenticated. */
void pl_chat__online_add(pl_chat_t *chat, session_t *s);
void pl_chat__online_add(pl_chat_t *chat, session_t *s)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &s->user_id, sizeof s->user_id, u);
    if (u == NULL) {
        u = pl_xcalloc(1, sizeof *u);
        u->user_id = s->user_id;
        HASH_ADD(hh, chat->users, user_id, sizeof u->user_id, u);
    }
    s->prev = NULL;
    s->next = u->head;
    if (u->head)
        u->head->prev = s;
    u->head = s;
    pl_presence__update(chat, s->user_id);
}

/* ---- lifecycle ---- */

static int load_room(void *arg, const pl_room_t *r)
{
    pl_chat__room_add(arg, r);
    return 0;
}

static int load_member(void *arg, const pl_member_t *m)
{
    room_t *r = pl_chat__room(arg, m->room_id);
    if (r != NULL)
        pl_chat__member_add(r, m->user_id);
    return 0;
}

/* The tick: expire disappearing messages (one write job at a time) and end
 * presence grace periods. It runs once right away, so messages that expired
 * while the server was down go at startup. The timer is unref'd: it never
 * keeps the loop alive on shutdown. */
static void on_tick(uv_timer_t *t)
{
    pl_chat_t *chat = t->data;
    if (chat->closing) {
        uv_timer_stop(t);
        return;
    }
    pl_presence__tick(chat);
    if (!chat->sweeping)
        pl_ops_sweep(chat);
}

int pl_chat_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_chat_t **out)
{
    pl_chat_t *chat = pl_xcalloc(1, sizeof *chat);
    chat->loop = loop;
    chat->cfg = cfg;
    chat->st = st;
    pl_db_t *db = pl_store_direct(st);
    int rc = pl_db_each_room(db, load_room, chat);
    if (rc == 0)
        rc = pl_db_each_member(db, load_member, chat);
    if (rc < 0) {
        pl_chat_free(chat);
        return rc;
    }
    pl_log(PL_LOG_INFO, "chat", "loaded rooms=%u", HASH_COUNT(chat->rooms));
    uv_timer_init(loop, &chat->tick);
    chat->tick.data = chat;
    uv_timer_start(&chat->tick, on_tick, 0, (uint64_t)cfg->sweep_interval_ms);
    uv_unref((uv_handle_t *)&chat->tick);
    *out = chat;
    return 0;
}

void pl_chat_set_server(pl_chat_t *chat, pl_server_t *srv)
{
    chat->srv = srv;
}

void pl_chat_free(pl_chat_t *chat)
{
    if (chat == NULL)
        return;
    if (chat->tick.data != NULL) {
        /* Called after uv_run returned: close the timer and let the loop run
         * its close callback, so uv_loop_close finds no open handle. */
        uv_close((uv_handle_t *)&chat->tick, NULL);
        uv_run(chat->loop, UV_RUN_NOWAIT);
    }
    pl_presence__free_all(chat);
    room_t *r, *rtmp;
    HASH_ITER(hh, chat->rooms, r, rtmp)
    {
        HASH_DEL(chat->rooms, r);
        free(r->members);
        free(r->name);
        free(r);
    }
    online_t *u, *utmp;
    HASH_ITER(hh, chat->users, u, utmp)
    {
        HASH_DEL(chat->users, u);
        free(u);
    }
    free(chat);
}

void pl_chat_get_stats(const pl_chat_t *chat, pl_chat_stats_t *out)
{
    *out = chat->stats;
}
