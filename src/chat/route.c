/* SPDX-License-Identifier: MIT */
/* route.c -- the routing table of the chat core: rooms with their members
 * and online sessions, each user's rooms and sessions, the rooms' rings of
 * recent message frames, and fan-out of a frame to the sessions it is for.
 * Everything above (ops, presence, the WebSocket callbacks) uses it; it
 * uses only the session's outbound stream (reply.c) and the encoders. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "cluster/cluster.h"
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

/* In a cluster the node subscribes to a room's channel while it holds a
 * session of one of its members, and to a user's while it holds one of the
 * user's sessions (one subscription per node, not per connection). */
static void watch_room(pl_chat_t *chat, room_t *r, bool on)
{
    char ch[48];
    snprintf(ch, sizeof ch, "pl:room:%" PRId64, r->id);
    if (!on) {
        r->cl_fresh = false; /* no longer told about it: its position goes stale */
        free(r->rcpt);       /* nor about its receipts */
        r->rcpt = NULL;
        r->nrcpt = r->rcptcap = 0;
    }
    pl_cluster_watch(chat->cluster, ch, on);
}

static void watch_user(pl_chat_t *chat, int64_t user, bool on)
{
    char ch[48];
    snprintf(ch, sizeof ch, "pl:user:%" PRId64, user);
    pl_cluster_watch(chat->cluster, ch, on);
}

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
        /* most sessions are in one room or few: start at one slot (an idle
         * connection's memory counts; docs/performance.md) */
        s->roomcap = s->roomcap ? s->roomcap * 2 : 1;
        s->rooms = pl_xrealloc(s->rooms, s->roomcap * sizeof *s->rooms);
    }
    r->live[r->nlive] = (live_t){.s = s, .slot = s->nrooms};
    s->rooms[s->nrooms++] = (rslot_t){.room = r, .idx = r->nlive++};
    if (r->nsess++ == 0 && s->chat->cluster != NULL)
        watch_room(s->chat, r, true);
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
    if (--r->nsess == 0 && s->chat->cluster != NULL)
        watch_room(s->chat, r, false);
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
    r->cl_mtouch = ++chat->cl_mepoch;
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
    r->cl_mtouch = ++chat->cl_mepoch;
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

/* ---- receipts heard (catchup.c compares the store with them) ---- */

static size_t rcpt_pos(const room_t *r, int64_t user)
{
    size_t lo = 0, hi = r->nrcpt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->rcpt[mid].user < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool pl_chat__rcpt_known(const room_t *r, int64_t user)
{
    size_t i = rcpt_pos(r, user);
    return i < r->nrcpt && r->rcpt[i].user == user;
}

bool pl_chat__rcpt_seen(room_t *r, int64_t user, int64_t read_seq, int64_t delivered_seq)
{
    if (!pl_chat__is_member(r, user))
        return false; /* bounded by the member list, whatever the bus says */
    size_t i = rcpt_pos(r, user);
    if (i < r->nrcpt && r->rcpt[i].user == user) {
        rcpt_mark_t *m = &r->rcpt[i];
        bool news = delivered_seq > m->delivered_seq || read_seq > m->read_seq;
        if (delivered_seq > m->delivered_seq)
            m->delivered_seq = delivered_seq;
        if (read_seq > m->read_seq)
            m->read_seq = read_seq;
        return news;
    }
    if (r->nrcpt == r->rcptcap) {
        r->rcptcap = r->rcptcap ? r->rcptcap * 2 : 4;
        r->rcpt = pl_xrealloc(r->rcpt, r->rcptcap * sizeof *r->rcpt);
    }
    memmove(r->rcpt + i + 1, r->rcpt + i, (r->nrcpt - i) * sizeof *r->rcpt);
    r->rcpt[i] = (rcpt_mark_t){.user = user, .read_seq = read_seq, .delivered_seq = delivered_seq};
    r->nrcpt++;
    return true;
}

/* ---- sessions ---- */

session_t *pl_chat__session_ref(session_t *s)
{
    s->refs++;
    return s;
}

void pl_chat__session_unref(session_t *s)
{
    if (--s->refs > 0)
        return;
    pl_reply__clear(s);
    free(s->rooms);
    free(s->synced);
    free(s->username); /* display_name shares its block */
    free(s->typing);
    free(s);
}

void pl_chat__session_names(session_t *s, const char *username, const char *display_name)
{
    if (username == NULL)
        username = "";
    size_t ul = strlen(username) + 1, dl = display_name != NULL ? strlen(display_name) + 1 : 0;
    char *b = pl_xmalloc(ul + dl);
    memcpy(b, username, ul);
    if (display_name != NULL)
        memcpy(b + ul, display_name, dl);
    free(s->username); /* after the copy: the arguments may point into it */
    s->username = b;
    s->display_name = display_name != NULL ? b + ul : NULL;
}

online_t *pl_chat__online(pl_chat_t *chat, int64_t user)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user, sizeof user, u);
    return u;
}

void pl_chat__online_remove(pl_chat_t *chat, session_t *s)
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
    if (u->head == NULL && chat->cluster != NULL)
        watch_user(chat, s->user_id, false);
    if (u->head == NULL && !u->pres) {
        HASH_DEL(chat->users, u);
        free(u);
    } /* else presence.c removes it when the grace period ends */
}

/* ---- fan-out ---- */

void pl_chat__send_user_local(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user, sizeof user, u);
    if (u == NULL)
        return;
    for (session_t *s = u->head, *next; s != NULL; s = next) {
        next = s->next; /* a send may close the session */
        pl_reply__deliver(s, 0, 0, 0, f);
    }
}

void pl_chat__fanout_except_local(pl_chat_t *chat, room_t *room, int64_t except_user, pl_frame_t *f)
{
    (void)chat;
    uint32_t n = room->nlive;
    room->walking++;
    for (uint32_t i = 0; i < n; i++) {
        session_t *s = room->live[i].s;
        if (s != NULL && s->user_id != except_user)
            pl_reply__deliver(s, 0, 0, 0, f);
    }
    walk_end(room);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (session_t *const *)a, y = (uintptr_t) * (session_t *const *)b;
    return x < y ? -1 : x > y;
}

/* Every online session sharing a room with user, once each (the rooms come
 * from the user -> rooms index). */

void pl_chat__send_contacts_local(pl_chat_t *chat, int64_t user, pl_frame_t *f)
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
            pl_reply__deliver(to[i], 0, 0, 0, f);
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
    /* In a cluster a room's position here can lag the store (a lost or
     * overtaken publish), so syncs always read the store: no ring. */
    if (cap == 0 || chat->cluster != NULL)
        return;
    if (room->ring == NULL) {
        room->ring = pl_xcalloc(cap, sizeof *room->ring);
        room->ring_cap = cap;
    }
    cap = room->ring_cap;
    if (room->ring_n > 0 && room->ring[(room->ring_head + room->ring_n - 1) % cap].seq + 1 != seq) {
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

/* Walks the room's online sessions: no lookup per member. A send never
 * closes a session synchronously (on_ws_close runs from the handle's close
 * callback), but removals during the walk are safe anyway: they leave holes
 * that walk_end compacts, and sessions added meanwhile are not visited. */

void pl_chat__fanout_local(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version,
                           pl_frame_t *f)
{
    (void)chat;
    uint32_t n = room->nlive;
    room->walking++;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 8 < n)
            __builtin_prefetch(room->live[i + 8].s);
        session_t *s = room->live[i].s;
        if (s != NULL)
            pl_reply__deliver(s, room->id, seq, version, f);
    }
    walk_end(room);
}

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
    if (u->head == NULL && chat->cluster != NULL)
        watch_user(chat, s->user_id, true);
    s->prev = NULL;
    s->next = u->head;
    if (u->head)
        u->head->prev = s;
    u->head = s;
    umember_t *m = umember(chat, s->user_id);
    for (uint32_t k = 0; m != NULL && k < m->n; k++)
        live_add(m->rooms[k], s);
}

void pl_chat__routes_free(pl_chat_t *chat)
{
    room_t *r, *rtmp;
    HASH_ITER(hh, chat->rooms, r, rtmp)
    {
        HASH_DEL(chat->rooms, r);
        ring_free(chat, r);
        free(r->live);
        free(r->members);
        free(r->rcpt);
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
}
