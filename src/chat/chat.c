/* SPDX-License-Identifier: MIT */
/* chat.c -- chat core state: sessions, the room routing table, fan-out. */
#include "chat/chat.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/wire_peek.h"
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

/* ---- online lists: room -> live sessions, user -> rooms ---- */

static umember_t *umember(pl_chat_t *chat, int64_t user)
{
    umember_t *m = NULL;
    HASH_FIND(hh, chat->members, &user, sizeof user, m);
    return m;
}

static void live_add(room_t *r, session_t *s)
{
    if (r->nlive == r->livecap) {
        r->livecap = r->livecap ? r->livecap * 2 : 4;
        r->live = pl_xrealloc(r->live, r->livecap * sizeof *r->live);
    }
    if (s->nrooms == s->roomcap) {
        s->roomcap = s->roomcap ? s->roomcap * 2 : 2;
        s->rooms = pl_xrealloc(s->rooms, s->roomcap * sizeof *s->rooms);
    }
    r->live[r->nlive] = (live_t){.s = s, .slot = s->nrooms};
    s->rooms[s->nrooms++] = (rslot_t){.room = r, .idx = r->nlive++};
}

/* Removes the session's k-th room slot and its entry in that room's list.
 * During a walk over the room the entry becomes a hole (compacted when the
 * last walk ends), so a walker never skips or repeats anyone. */
static void live_remove_slot(session_t *s, uint32_t k)
{
    room_t *r = s->rooms[k].room;
    uint32_t idx = s->rooms[k].idx;
    if (r->walking > 0) {
        r->live[idx].s = NULL;
        r->holes = true;
    } else {
        live_t last = r->live[--r->nlive];
        if (idx != r->nlive) {
            r->live[idx] = last;
            last.s->rooms[last.slot].idx = idx;
        }
    }
    rslot_t moved = s->rooms[--s->nrooms];
    if (k != s->nrooms) {
        s->rooms[k] = moved;
        moved.room->live[moved.idx].slot = k;
    }
}

static void live_compact(room_t *r)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < r->nlive; i++) {
        live_t e = r->live[i];
        if (e.s == NULL)
            continue;
        r->live[j] = e;
        e.s->rooms[e.slot].idx = j;
        j++;
    }
    r->nlive = j;
    r->holes = false;
}

static void walk_end(room_t *r)
{
    if (--r->walking == 0 && r->holes)
        live_compact(r);
}

void pl_chat__member_add(pl_chat_t *chat, room_t *r, int64_t user)
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
    umember_t *m = umember(chat, user);
    if (m == NULL) {
        m = pl_xcalloc(1, sizeof *m);
        m->user_id = user;
        HASH_ADD(hh, chat->members, user_id, sizeof m->user_id, m);
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 2;
        m->rooms = pl_xrealloc(m->rooms, m->cap * sizeof *m->rooms);
    }
    m->rooms[m->n++] = r;
    online_t *u = pl_chat__online(chat, user);
    for (session_t *s = u ? u->head : NULL; s != NULL; s = s->next)
        live_add(r, s);
}

void pl_chat__member_remove(pl_chat_t *chat, room_t *r, int64_t user)
{
    size_t i = member_pos(r, user);
    if (i >= r->nmembers || r->members[i] != user)
        return;
    memmove(r->members + i, r->members + i + 1, (r->nmembers - i - 1) * sizeof *r->members);
    r->nmembers--;
    umember_t *m = umember(chat, user);
    for (uint32_t k = 0; m != NULL && k < m->n; k++) {
        if (m->rooms[k] == r) {
            m->rooms[k] = m->rooms[--m->n];
            break;
        }
    }
    if (m != NULL && m->n == 0) {
        HASH_DEL(chat->members, m);
        free(m->rooms);
        free(m);
    }
    online_t *u = pl_chat__online(chat, user);
    for (session_t *s = u ? u->head : NULL; s != NULL; s = s->next) {
        for (uint32_t k = 0; k < s->nrooms; k++) {
            if (s->rooms[k].room == r) {
                live_remove_slot(s, k);
                break;
            }
        }
    }
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
    pl_reply__clear(s);
    free(s->rooms);
    free(s->username);
    free(s->typing);
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
    while (s->nrooms > 0)
        live_remove_slot(s, s->nrooms - 1);
    if (s->prev)
        s->prev->next = s->next;
    else
        u->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    if (u->head == NULL && !u->pres) {
        HASH_DEL(chat->users, u);
        free(u);
    } /* else presence.c removes it when the grace period ends */
}

/* ---- fan-out ---- */

/* Puts an event on the session's connection, or behind the replies still
 * waiting on the session (reply.c): an event never overtakes an answer the
 * client is owed (a send's reply before its own message event). */
static void event_out(session_t *s, pl_frame_t *f)
{
    if (s->ob != NULL) {
        if (pl_reply__event(s, f) == 0)
            s->chat->stats.events_fanned_out++;
        return;
    }
    if (pl_conn_send_frame(s->conn, f) == 0)
        s->chat->stats.events_fanned_out++;
}

static void session_deliver(session_t *s, int64_t room, int64_t seq, int64_t version,
                            pl_frame_t *f)
{
    if (s->conn == NULL)
        return;
    if (s->syncing && (seq > 0 || version > 0 || s->hold_all)) {
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
    event_out(s, f);
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
    (void)chat;
    uint32_t n = room->nlive;
    room->walking++;
    for (uint32_t i = 0; i < n; i++) {
        session_t *s = room->live[i].s;
        if (s != NULL && s->user_id != except_user)
            session_deliver(s, 0, 0, 0, f);
    }
    walk_end(room);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(session_t *const *)a, y = (uintptr_t)*(session_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Every online session sharing a room with user, once each (the rooms come
 * from the user -> rooms index). */
void pl_chat__send_contacts(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    umember_t *m = umember(chat, user);
    if (m == NULL)
        return;
    session_t **to = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t k = 0; k < m->n; k++) {
        room_t *r = m->rooms[k];
        for (uint32_t i = 0; i < r->nlive; i++) {
            session_t *s = r->live[i].s;
            if (s == NULL || s->user_id == user)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                to = pl_xrealloc(to, cap * sizeof *to);
            }
            to[n++] = s;
        }
    }
    if (n > 1)
        qsort(to, n, sizeof *to, cmp_ptr);
    /* Sessions stay allocated until on_ws_close, which never runs inside a
     * send: the collected pointers stay valid. */
    for (size_t i = 0; i < n; i++)
        if (i == 0 || to[i] != to[i - 1])
            session_deliver(to[i], 0, 0, 0, f);
    free(to);
}

/* ---- the per-room ring of recent message events ---- */

static void ring_drop_oldest(pl_chat_t *chat, room_t *room)
{
    ring_ent_t *e = &room->ring[room->ring_head];
    chat->stats.ring_bytes -= pl_frame_size(e->frame);
    pl_frame_unref(e->frame);
    e->frame = NULL;
    room->ring_head = (room->ring_head + 1) % room->ring_cap;
    room->ring_n--;
}

static void ring_free(pl_chat_t *chat, room_t *room)
{
    while (room->ring_n > 0)
        ring_drop_oldest(chat, room);
    free(room->ring);
    room->ring = NULL;
}

const ring_ent_t *pl_chat__ring_get(const room_t *room, int64_t seq)
{
    if (room->ring_n == 0)
        return NULL;
    int64_t first = room->ring[room->ring_head].seq;
    if (seq < first || seq >= first + room->ring_n)
        return NULL;
    return &room->ring[(room->ring_head + (uint32_t)(seq - first)) % room->ring_cap];
}

void pl_chat__ring_push(pl_chat_t *chat, room_t *room, int64_t seq, pl_frame_t *f)
{
    uint32_t cap = (uint32_t)chat->cfg->sync_ring_size;
    if (cap == 0)
        return;
    if (room->ring == NULL) {
        room->ring = pl_xcalloc(cap, sizeof *room->ring);
        room->ring_cap = cap;
    }
    cap = room->ring_cap;
    if (room->ring_n > 0 &&
        room->ring[(room->ring_head + room->ring_n - 1) % cap].seq + 1 != seq) {
        while (room->ring_n > 0) /* a gap: the ring restarts at seq */
            ring_drop_oldest(chat, room);
    }
    if (room->ring_n == cap)
        ring_drop_oldest(chat, room);
    ring_ent_t *e = &room->ring[(room->ring_head + room->ring_n) % cap];
    e->seq = seq;
    e->frame = pl_frame_ref(f);
    room->ring_n++;
    chat->stats.ring_bytes += pl_frame_size(f);
}

void pl_chat__ring_trim(pl_chat_t *chat, room_t *room, int64_t upto)
{
    while (room->ring_n > 0 && room->ring[room->ring_head].seq <= upto)
        ring_drop_oldest(chat, room);
}

void pl_chat__emit_update(pl_chat_t *chat, const pl_message_t *m)
{
    room_t *room = pl_chat__room(chat, m->room_id);
    if (room == NULL)
        return;
    if (m->version > room->last_version)
        room->last_version = m->version;
    /* The ring's frame of this message (and older ones) is no longer its
     * current state. Newer entries stay valid. */
    pl_chat__ring_trim(chat, room, m->seq);
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, "{\"ev\":\"update\",\"room\":\"r%" PRId64 "\",\"version\":%" PRId64
                  ",\"message\":{", m->room_id, m->version);
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    chat->stats.frames_built++;
    pl_chat__fanout(chat, room, 0, m->version, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* Walks the room's online sessions: no lookup per member. A send never
 * closes a session synchronously (on_ws_close runs from the handle's close
 * callback), but removals during the walk are safe anyway: they leave holes
 * that walk_end compacts, and sessions added meanwhile are not visited. */
void pl_chat__fanout(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version, pl_frame_t *f)
{
    (void)chat;
    uint32_t n = room->nlive;
    room->walking++;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 8 < n)
            __builtin_prefetch(room->live[i + 8].s);
        session_t *s = room->live[i].s;
        if (s != NULL)
            session_deliver(s, room->id, seq, version, f);
    }
    walk_end(room);
}

void pl_chat__release_held(session_t *s, const pl_sync_pos_t *pos, size_t n, bool drop_timeline)
{
    held_t *h = s->held;
    s->held = NULL;
    s->held_tail = &s->held;
    s->held_bytes = 0;
    s->syncing = false;
    s->hold_all = false;
    while (h != NULL) {
        held_t *next = h->next;
        bool timeline = h->seq > 0 || h->version > 0;
        bool skip = timeline && drop_timeline;
        for (size_t i = 0; timeline && !skip && i < n; i++) {
            if (pos[i].room == h->room) {
                /* An update the sync covered (its version is in the
                 * snapshot) is skipped like a message it delivered. */
                skip = pos[i].truncated ||
                       (h->seq > 0 ? h->seq <= pos[i].upto : h->version <= pos[i].vupto);
                break;
            }
        }
        if (!skip && s->conn != NULL)
            event_out(s, h->frame);
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
    pl_reply__clear(s);
    chat->stats.sessions--;
    pl_log(PL_LOG_DEBUG, "chat", "conn=%" PRIu64 " user=u%" PRId64 " session closed", pl_conn_id(c),
           s->user_id);
    pl_chat__session_unref(s);
}

void pl_chat_on_ws_drain(void *ud, pl_conn_t *c)
{
    (void)ud;
    session_t *s = pl_conn_data(c);
    if (s != NULL)
        pl_reply__drained(s);
}

/* Token buckets, taken before the frame is parsed so malformed frames count
 * too: one per user, shared by all the user's connections
 * (rate_limit_per_sec, burst twice that; kept in the online entry), and
 * before auth one per client address (rate_limit_ip_per_sec; IPv6 by /64,
 * pl_addr_limit_key). Returns 0 when the request may go on, else the ms
 * until it could. */
static uint64_t rate_wait(pl_chat_t *chat, session_t *s)
{
    uint64_t now = pl_mono_ns();
    if (s->user_id != 0) {
        online_t *u = pl_chat__online(chat, s->user_id);
        if (u == NULL) /* cannot happen: an authenticated session is online */
            return 0;
        double rate = (double)chat->cfg->rate_limit_per_sec;
        return pl_bucket_take(&u->bucket, rate, rate * 2, 1, now);
    }
    pl_addr_t a;
    pl_conn_client_addr(s->conn, &a);
    pl_addr_t key = pl_addr_limit_key(&a);
    return pl_ratelimit_take(chat->iprl, key.b, sizeof key.b, 1, now);
}

/* Answers a request refused before it was parsed or counted: rate_limited
 * or too_many_pending. The answer is small and fixed (it echoes the id when
 * one can be found cheaply), goes past waiting replies, and obeys the reply
 * rule, so a client that floods without reading ends as a slow consumer. */
static void refuse(session_t *s, const char *data, size_t len, const char *code, const char *msg,
                   uint64_t retry_after_ms, pl_log_gate_t *gate)
{
    const char *re = "null";
    size_t re_len = 4;
    if (!pl_wire_peek_id(data, len, &re, &re_len)) {
        re = "null";
        re_len = 4;
    }
    /* A flooding client hits this per frame: one info line a second over
     * all sessions, the rest at debug. */
    uint64_t quiet = 0;
    int level = pl_log_gate(gate, PL_LOG_INFO, pl_mono_ns(), PL_LOG_GATE_NS, &quiet);
    pl_log(level, "chat",
           "conn=%" PRIu64 " user=u%" PRId64 " peer=%s refused code=%s unlogged=%" PRIu64,
           pl_conn_id(s->conn), s->user_id, pl_conn_peer(s->conn), code, quiet);
    pl_reply__now(s, pl_wire_err_frame(re, re_len, code, msg, retry_after_ms));
}

void pl_chat_on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_conn_data(c);
    if (s == NULL)
        return;
    uint64_t wait = rate_wait(chat, s);
    if (wait > 0) {
        refuse(s, data, len, "rate_limited", "too many requests; slow down", wait,
               &chat->refused_log[0]);
        return;
    }
    if (s->inflight >= (uint64_t)chat->cfg->max_inflight_requests) {
        refuse(s, data, len, "too_many_pending",
               "too many requests waiting for their replies; wait for some first", 0,
               &chat->refused_log[1]);
        return;
    }
    /* From here the request is counted until its reply is on the wire. */
    pl_reply__begin(s);
    pl_ops_dispatch(s, data, len);
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
        double rate = (double)chat->cfg->rate_limit_per_sec;
        pl_bucket_init(&u->bucket, rate * 2, pl_mono_ns());
        HASH_ADD(hh, chat->users, user_id, sizeof u->user_id, u);
    }
    s->prev = NULL;
    s->next = u->head;
    if (u->head)
        u->head->prev = s;
    u->head = s;
    umember_t *m = umember(chat, s->user_id);
    for (uint32_t k = 0; m != NULL && k < m->n; k++)
        live_add(m->rooms[k], s);
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
        pl_chat__member_add(arg, r, m->user_id);
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
    double iprate = (double)cfg->rate_limit_ip_per_sec;
    chat->iprl = pl_ratelimit_new(iprate, iprate * 2, (size_t)cfg->rate_limit_ip_keys);
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

void pl_chat_stop(pl_chat_t *chat)
{
    if (chat == NULL)
        return;
    chat->closing = true;
    uv_timer_stop(&chat->tick);
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
    room_t *r, *rtmp;
    HASH_ITER(hh, chat->rooms, r, rtmp)
    {
        HASH_DEL(chat->rooms, r);
        ring_free(chat, r);
        free(r->live);
        free(r->members);
        free(r->name);
        free(r);
    }
    online_t *u, *utmp;
    HASH_ITER(hh, chat->users, u, utmp)
    {
        /* Sessions still referenced by jobs must not point into freed rooms. */
        for (session_t *s = u->head; s != NULL; s = s->next)
            s->nrooms = 0;
        HASH_DEL(chat->users, u);
        free(u);
    }
    umember_t *m, *mtmp;
    HASH_ITER(hh, chat->members, m, mtmp)
    {
        HASH_DEL(chat->members, m);
        free(m->rooms);
        free(m);
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(chat->limits); i++)
        pl_ratelimit_free(chat->limits[i]);
    pl_ratelimit_free(chat->iprl);
    free(chat);
}

void pl_chat_get_stats(const pl_chat_t *chat, pl_chat_stats_t *out)
{
    *out = chat->stats;
}
