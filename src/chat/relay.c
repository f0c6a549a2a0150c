/* SPDX-License-Identifier: MIT */
/* relay.c -- the chat core's inbound side of the cluster bus
 * (cluster/cluster.h): what this node does with what other nodes publish,
 * and with subscriptions confirmed and reconnects. bus.c is the outbound
 * side (publishing, the order gate, backfill).
 *
 * Channels: pl:room:<id> (subscribed while this node holds a session of a
 * member: room_t.nsess > 0), pl:user:<id> (while it holds a session of the
 * user), pl:all (always: membership, new and changed rooms, presence).
 * A node skips its own publishes (the envelope names the node). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "cluster/cluster.h"
#include "chat/wire_peek.h"
#include "cluster/envelope.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- receiving ---- */

/* A bus message held back while rooms load (chat->cl_q_*). */
typedef struct relay_msg {
    struct relay_msg *next; /* first: chat.c frees what is left (pl_chat_free) */
    size_t len;
    char data[];
} relay_msg_t;

/* Held messages past this many are handled at once (the old order), with a
 * warning: a flood of room creations must not grow memory without bound. */
#define RELAY_QUEUE_MAX 65536

static void dispatch(pl_chat_t *chat, const char *data, size_t len);
static void relay_drain(pl_chat_t *chat);

typedef struct {
    pl_chat_t *chat;
    int64_t room;
    pl_room_t row;
    int64_t *members;
    size_t nmembers;
    int rc;
} room_load_t;

static void room_load_work(pl_db_t *db, void *arg)
{
    room_load_t *q = arg;
    q->rc = pl_db_room_get(db, q->room, &q->row);
    if (q->rc == 0)
        q->rc = pl_db_room_members(db, q->room, &q->members, &q->nmembers);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* A room created or changed on another node: take its row and member list
 * from the store. */
static void room_load_done(int status, void *arg)
{
    room_load_t *q = arg;
    pl_chat_t *chat = q->chat;
    if (status != 0 || q->rc < 0)
        goto out;
    room_t *r = pl_chat__room(chat, q->room);
    if (r == NULL) {
        r = pl_chat__room_add(chat, &q->row);
        /* New: every message of it is news to this node's sessions. */
        r->last_seq = 0;
        r->last_version = 0;
        r->cl_fresh = true;
    } else {
        free(r->name);
        r->name = pl_xstrdup(q->row.name ? q->row.name : "");
        r->disappearing_ms = q->row.disappearing_ms;
    }
    qsort(q->members, q->nmembers, sizeof *q->members, cmp_i64);
    for (size_t i = 0; i < q->nmembers; i++)
        pl_chat__member_add(chat, r, q->members[i]);
    for (size_t i = r->nmembers; i-- > 0;) {
        int64_t u = r->members[i];
        if (!bsearch(&u, q->members, q->nmembers, sizeof u, cmp_i64))
            pl_chat__member_remove(chat, r, u);
    }
    pl_room_dispose(&q->row);
    chat->stats.cluster_room_loads++;
out:
    free(q->members);
    free(q);
    chat->cl_loading--;
    relay_drain(chat);
}

/* Replays the held messages in order until a replayed one starts a room
 * load again (the rest waits for it). */
static void relay_drain(pl_chat_t *chat)
{
    while (chat->cl_loading == 0 && chat->cl_q_head != NULL) {
        relay_msg_t *m = chat->cl_q_head;
        chat->cl_q_head = m->next;
        if (chat->cl_q_head == NULL)
            chat->cl_q_tail = NULL;
        chat->cl_q_len--;
        dispatch(chat, m->data, m->len);
        free(m);
    }
}

static void on_room_event(pl_chat_t *chat, const pl_env_t *e)
{
    room_t *r = pl_chat__room(chat, e->a);
    if (r == NULL)
        return;
    if ((e->b > 0 || e->c > 0) && !pl_bus__gate(chat, r, e->b, e->c))
        return;
    /* A receipt this node's sessions already had (a catch-up from the
     * store gave it before the publish arrived) is dropped; one it has not
     * had is recorded, so a later catch-up does not send it again. */
    int64_t rroom, ruser, rread, rdeliv;
    if (e->b == 0 && e->c == 0 &&
        pl_wire_peek_receipt(e->payload, e->payload_len, &rroom, &ruser, &rread, &rdeliv) &&
        rroom == r->id && !pl_chat__rcpt_seen(r, ruser, rread, rdeliv) &&
        pl_chat__is_member(r, ruser)) {
        chat->stats.cluster_duplicates++;
        return;
    }
    pl_frame_t *f = pl_frame_new_text(e->payload, e->payload_len);
    if (e->d > 0)
        pl_chat__fanout_except_local(chat, r, e->d, f);
    else
        pl_chat__fanout_local(chat, r, e->b, e->c, f);
    pl_frame_unref(f);
}

static void dispatch(pl_chat_t *chat, const char *data, size_t len)
{
    pl_env_t e;
    if (pl_env_parse(data, len, &e) < 0) {
        chat->stats.cluster_bad++;
        pl_log(PL_LOG_WARN, "cluster", "malformed bus message len=%zu dropped", len);
        return;
    }
    const char *self = pl_cluster_node(chat->cluster);
    if (e.node_len == strlen(self) && memcmp(e.node, self, e.node_len) == 0)
        return; /* our own publish, already delivered here */
    chat->stats.cluster_received++;
    pl_frame_t *f;
    switch (e.kind) {
    case PL_ENV_ROOM:
        on_room_event(chat, &e);
        break;
    case PL_ENV_USER:
        f = pl_frame_new_text(e.payload, e.payload_len);
        pl_chat__send_user_local(chat, e.a, f);
        pl_frame_unref(f);
        break;
    case PL_ENV_CONTACTS:
        f = pl_frame_new_text(e.payload, e.payload_len);
        pl_chat__send_contacts_local(chat, e.a, f);
        pl_frame_unref(f);
        break;
    case PL_ENV_MEMBER: {
        room_t *r = pl_chat__room(chat, e.a);
        if (r != NULL && e.c)
            pl_chat__member_add(chat, r, e.b);
        else if (r != NULL)
            pl_chat__member_remove(chat, r, e.b);
        break;
    }
    case PL_ENV_NEWROOM: {
        room_load_t *q = pl_xcalloc(1, sizeof *q);
        q->chat = chat;
        q->room = e.a;
        chat->cl_loading++;
        pl_store_read(chat->st, room_load_work, room_load_done, q);
        break;
    }
    case PL_ENV_MUTE: /* moderation (issue 17) */
        pl_mod__mute_set(chat, e.a, e.b, e.c);
        break;
    case PL_ENV_CLOSE: {
        char reason[124];
        size_t n = e.payload_len < sizeof reason - 1 ? e.payload_len : sizeof reason - 1;
        memcpy(reason, e.payload, n);
        reason[n] = '\0';
        uint16_t code = e.c >= 1000 && e.c < 5000 ? (uint16_t)e.c : 1008;
        pl_chat__close_device_local(chat, e.a, e.b, code, reason);
        break;
    }
    }
}

static void on_message(void *ud, const char *channel, size_t chlen, const char *data, size_t len)
{
    (void)channel, (void)chlen;
    pl_chat_t *chat = ud;
    if (chat->cl_loading == 0 || chat->cl_q_len >= RELAY_QUEUE_MAX) {
        if (chat->cl_loading > 0)
            pl_log(PL_LOG_WARN, "cluster",
                   "bus queue full (%zu held while rooms load): "
                   "handled out of order",
                   chat->cl_q_len);
        dispatch(chat, data, len);
        return;
    }
    relay_msg_t *m = pl_xmalloc(sizeof *m + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data, data, len);
    if (chat->cl_q_tail)
        chat->cl_q_tail->next = m;
    else
        chat->cl_q_head = m;
    chat->cl_q_tail = m;
    chat->cl_q_len++;
}

static void on_subscribed(void *ud, const char *channel)
{
    pl_chat_t *chat = ud;
    int64_t id;
    if (sscanf(channel, "pl:room:%" SCNd64, &id) != 1)
        return;
    room_t *r = pl_chat__room(chat, id);
    /* A room watched again learns its position; a room this node loaded
     * as new (fresh from 0) reads what was sent before the subscription. */
    if (r != NULL && r->nsess > 0)
        pl_bus__backfill(chat, r, !r->cl_fresh);
}

/* Every room this node holds sessions in reads what follows its position
 * (a room not fresh yet learns its position when its subscription is
 * confirmed, see on_subscribed). */
static void backfill_watched(pl_chat_t *chat)
{
    room_t *r, *tmp;
    HASH_ITER(hh, chat->rooms, r, tmp)
    {
        if (r->nsess > 0 && r->cl_fresh)
            pl_bus__backfill(chat, r, false);
    }
}

static void on_resync(void *ud, int64_t since_ms)
{
    pl_chat_t *chat = ud;
    chat->stats.cluster_resyncs++;
    backfill_watched(chat);
    pl_catchup__start(chat, since_ms);
}

/* A peer lost publishes or died: what it committed may never have been
 * published, and no later event may ever show the gap. */
static void on_peer_gap(void *ud, const char *node, int64_t since_ms)
{
    (void)node;
    pl_chat_t *chat = ud;
    chat->stats.cluster_peer_catchups++;
    backfill_watched(chat);
    pl_catchup__start(chat, since_ms);
}

void pl_chat_cluster_handlers(pl_chat_t *chat, pl_cluster_handlers_t *h)
{
    h->on_message = on_message;
    h->on_subscribed = on_subscribed;
    h->on_resync = on_resync;
    h->on_peer_gap = on_peer_gap;
    h->ud = chat;
}

void pl_chat_set_cluster(pl_chat_t *chat, pl_cluster_t *cl)
{
    pl_presence__cluster(chat, false);
    chat->cluster = cl;
    if (cl != NULL)
        pl_cluster_watch(cl, "pl:all", true);
    pl_presence__cluster(chat, cl != NULL); /* presence, rate limits in Redis */
}
