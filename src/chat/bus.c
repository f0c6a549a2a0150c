/* SPDX-License-Identifier: MIT */
/* bus.c -- the chat core's outbound side of the cluster bus: every event
 * fanned out here is also published once (after its COMMIT, with the frame
 * text already encoded) for the other nodes; and the per-room order gate
 * with its backfill from the store, which keeps each session's view of a
 * room gap-free and duplicate-free when events come from several nodes.
 * Without a bus (single node) the wrappers only deliver locally and the gate
 * only moves the room's position. relay.c is the inbound side.
 *
 * The gate. A room's last_seq / last_version on this node are the newest
 * message / update delivered to its sessions. An event one past them goes
 * out; an older one is a duplicate and is dropped; a newer one means a
 * publish was lost or overtaken (two nodes commit seq 7 and 8, 8's publish
 * arrives first): the node reads the missing range from the store and
 * delivers it in order (backfill), reading again if more events arrived
 * meanwhile. A room this node just started watching has no trustworthy
 * position: until its subscription is confirmed and the store told it
 * (cl_fresh), events go out as they come (the new sessions' own sync covers
 * what came before). After a Redis reconnect every watched room is
 * backfilled: messages published while the bus was down are lost, the
 * store has them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "cluster/cluster.h"
#include "cluster/envelope.h"
#include "core/log.h"
#include "core/util.h"

#define BACKFILL_BATCH 500 /* messages per read; more: read again */

/* ---- publishing ---- */

static void publish(pl_chat_t *chat, const char *channel, char kind, int64_t a, int64_t b,
                    int64_t c, int64_t d, const char *payload, size_t len)
{
    pl_buf_t e;
    pl_buf_init(&e);
    pl_env_format(&e, pl_cluster_node(chat->cluster), kind, a, b, c, d, payload, len);
    pl_cluster_publish(chat->cluster, channel, pl_buf_head(&e), e.len);
    pl_buf_dispose(&e);
}

static void publish_frame(pl_chat_t *chat, const char *channel, char kind, int64_t a, int64_t b,
                          int64_t c, int64_t d, const pl_frame_t *f)
{
    size_t len;
    const char *p = pl_frame_payload(f, &len);
    publish(chat, channel, kind, a, b, c, d, p, len);
}

void pl_bus__room(pl_chat_t *chat, int64_t room, int64_t seq, int64_t version, int64_t except,
                  const pl_frame_t *f)
{
    char ch[48];
    snprintf(ch, sizeof ch, "pl:room:%" PRId64, room);
    publish_frame(chat, ch, PL_ENV_ROOM, room, seq, version, except, f);
}

void pl_bus__user(pl_chat_t *chat, int64_t user, const pl_frame_t *f)
{
    char ch[48];
    snprintf(ch, sizeof ch, "pl:user:%" PRId64, user);
    publish_frame(chat, ch, PL_ENV_USER, user, 0, 0, 0, f);
}

void pl_bus__contacts(pl_chat_t *chat, int64_t user, const pl_frame_t *f)
{
    publish_frame(chat, "pl:all", PL_ENV_CONTACTS, user, 0, 0, 0, f);
}

void pl_bus__member(pl_chat_t *chat, int64_t room, int64_t user, bool added)
{
    if (chat->cluster != NULL)
        publish(chat, "pl:all", PL_ENV_MEMBER, room, user, added ? 1 : 0, 0, "", 0);
}

void pl_bus__mute(pl_chat_t *chat, int64_t room, int64_t user, int64_t until)
{
    if (chat->cluster != NULL)
        publish(chat, "pl:all", PL_ENV_MUTE, room, user, until, 0, "", 0);
}

void pl_bus__room_changed(pl_chat_t *chat, int64_t room)
{
    if (chat->cluster != NULL)
        publish(chat, "pl:all", PL_ENV_NEWROOM, room, 0, 0, 0, "", 0);
}

void pl_bus__close_device(pl_chat_t *chat, int64_t user, int64_t device, uint16_t code,
                          const char *reason)
{
    if (chat->cluster == NULL)
        return;
    char ch[48];
    snprintf(ch, sizeof ch, "pl:user:%" PRId64, user);
    publish(chat, ch, PL_ENV_CLOSE, user, device, code, 0, reason, strlen(reason));
}

/* ---- backfill: the store's messages and updates after the room's position ---- */

typedef struct {
    pl_chat_t *chat;
    int64_t room;
    int64_t after_seq, after_version; /* the room's position when the read started */
    bool refresh;                     /* only learn the position (a new watch) */
    pl_room_t pos;                    /* refresh: the room's row */
    pl_message_t *msgs, *upd;
    size_t nmsgs, nupd;
    int rc;
} backfill_t;

static void backfill_work(pl_db_t *db, void *arg)
{
    backfill_t *b = arg;
    if (b->refresh) {
        b->rc = pl_db_room_get(db, b->room, &b->pos);
        return;
    }
    b->rc = pl_db_messages_after(db, b->room, b->after_seq, BACKFILL_BATCH, &b->msgs, &b->nmsgs);
    if (b->rc == 0)
        b->rc = pl_db_messages_updated(db, b->room, b->after_seq, b->after_version, BACKFILL_BATCH,
                                       &b->upd, &b->nupd);
}

static void deliver_message(pl_chat_t *chat, room_t *r, const pl_message_t *m)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{\"ev\":\"message\",");
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    chat->stats.frames_built++;
    r->last_seq = m->seq;
    pl_chat__fanout_local(chat, r, m->seq, 0, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void deliver_update(pl_chat_t *chat, room_t *r, const pl_message_t *m)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(
        &b, "{\"ev\":\"update\",\"room\":\"r%" PRId64 "\",\"version\":%" PRId64 ",\"message\":{",
        m->room_id, m->version);
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    chat->stats.frames_built++;
    pl_chat__fanout_local(chat, r, 0, m->version, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void backfill_done(int status, void *arg)
{
    backfill_t *b = arg;
    pl_chat_t *chat = b->chat;
    room_t *r = pl_chat__room(chat, b->room);
    if (r != NULL)
        r->bf_running = false;
    if (r == NULL || status != 0 || b->rc < 0) {
        if (r != NULL) {
            /* Never given up: the events it was to read may have no
             * successor that would reveal them (the next tick retries). */
            pl_log(PL_LOG_WARN, "cluster",
                   "room=r%" PRId64 " backfill failed rc=%d status=%d; retrying", b->room, b->rc,
                   status);
            if (!r->bf_retry && !chat->closing) {
                r->bf_retry = true;
                chat->cl_bf_retry++;
            }
        }
        goto out;
    }
    if (b->refresh) {
        if (b->pos.last_seq > r->last_seq)
            r->last_seq = b->pos.last_seq;
        if (b->pos.last_version > r->last_version)
            r->last_version = b->pos.last_version;
        r->cl_fresh = true;
        pl_room_dispose(&b->pos);
    } else {
        chat->stats.cluster_backfills++;
        int64_t vmax = r->last_version;
        for (size_t i = 0; i < b->nmsgs; i++) {
            const pl_message_t *m = &b->msgs[i];
            if (m->version > vmax)
                vmax = m->version;
            if (m->seq > r->last_seq) {
                deliver_message(chat, r, m);
                chat->stats.cluster_backfilled++;
            }
        }
        for (size_t i = 0; i < b->nupd; i++) {
            const pl_message_t *m = &b->upd[i];
            if (m->version > r->last_version) {
                deliver_update(chat, r, m);
                if (m->version > vmax)
                    vmax = m->version;
            }
        }
        r->last_version = vmax;
        /* A full batch: there is more; events dropped meanwhile: read again. */
        if (b->nmsgs == BACKFILL_BATCH || b->nupd == BACKFILL_BATCH)
            r->bf_again = true;
    }
    if (r->bf_again && !chat->closing) {
        r->bf_again = false;
        pl_bus__backfill(chat, r, !r->cl_fresh);
    }
out:
    pl_messages_free(b->msgs, b->nmsgs);
    pl_messages_free(b->upd, b->nupd);
    free(b);
}

void pl_bus__backfill(pl_chat_t *chat, room_t *r, bool refresh)
{
    if (r->bf_running) {
        r->bf_again = true;
        return;
    }
    if (chat->closing)
        return;
    backfill_t *b = pl_xcalloc(1, sizeof *b);
    b->chat = chat;
    b->room = r->id;
    b->after_seq = r->last_seq;
    b->after_version = r->last_version;
    b->refresh = refresh;
    r->bf_running = true;
    pl_store_read(chat->st, backfill_work, backfill_done, b);
}

void pl_bus__session_online(pl_chat_t *chat, session_t *s)
{
    if (chat->cluster == NULL || pl_cluster_ready(chat->cluster))
        return;
    /* The bus is down: a room this node starts watching now would learn its
     * position only when its subscription is confirmed after the reconnect,
     * and what was committed before that would never reach the new session
     * live. Read the position now; the resync then backfills from it (a
     * message the session's own sync also gave is dropped per session:
     * reply.c's synced positions). */
    for (uint32_t k = 0; k < s->nrooms; k++) {
        room_t *r = s->rooms[k].room;
        if (!r->cl_fresh && !r->bf_running)
            pl_bus__backfill(chat, r, true);
    }
}

void pl_bus__retry_failed(pl_chat_t *chat)
{
    room_t *r, *tmp;
    HASH_ITER(hh, chat->rooms, r, tmp)
    {
        if (!r->bf_retry)
            continue;
        r->bf_retry = false;
        chat->cl_bf_retry--;
        if (r->nsess > 0)
            pl_bus__backfill(chat, r, !r->cl_fresh);
        if (chat->cl_bf_retry == 0)
            return;
    }
    chat->cl_bf_retry = 0; /* the rest went away with their rooms */
}

/* ---- the order gate ---- */

bool pl_bus__gate(pl_chat_t *chat, room_t *r, int64_t seq, int64_t version)
{
    int64_t *last = seq > 0 ? &r->last_seq : &r->last_version;
    int64_t v = seq > 0 ? seq : version;
    if (chat->cluster == NULL || !r->cl_fresh) {
        /* One node: commits come back in order, so this is only the
         * position. A room not yet fresh: deliver as it comes. */
        if (v > *last)
            *last = v;
        return true;
    }
    if (v <= *last) {
        chat->stats.cluster_duplicates++;
        return false;
    }
    if (v == *last + 1) {
        /* Next in line; a backfill in flight skips it (it filters on the
         * position when it is back). */
        *last = v;
        return true;
    }
    /* A gap: read what is missing (this event included: it is committed).
     * A backfill in flight may have read before this commit: it reads
     * again when back (backfill_start sets bf_again). */
    chat->stats.cluster_gaps++;
    pl_bus__backfill(chat, r, false);
    return false;
}

/* ---- fan-out that also publishes ---- */

void pl_chat__send_user(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    if (chat->cluster != NULL)
        pl_bus__user(chat, user, f);
    pl_chat__send_user_local(chat, user, f);
}

void pl_chat__fanout_except(pl_chat_t *chat, room_t *room, int64_t except_user, pl_frame_t *f)
{
    if (chat->cluster != NULL)
        pl_bus__room(chat, room->id, 0, 0, except_user, f);
    pl_chat__fanout_except_local(chat, room, except_user, f);
}

void pl_chat__send_contacts(pl_chat_t *chat, int64_t user, pl_frame_t *f)
{
    if (chat->cluster != NULL)
        pl_bus__contacts(chat, user, f);
    pl_chat__send_contacts_local(chat, user, f);
}

void pl_chat__emit_update(pl_chat_t *chat, const pl_message_t *m)
{
    room_t *room = pl_chat__room(chat, m->room_id);
    if (room == NULL)
        return;
    /* The room's last_version moves in pl_chat__fanout (the order gate). */
    /* The ring's frame of this message (and older ones) is no longer its
     * current state. Newer entries stay valid. */
    pl_chat__ring_trim(chat, room, m->seq);
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(
        &b, "{\"ev\":\"update\",\"room\":\"r%" PRId64 "\",\"version\":%" PRId64 ",\"message\":{",
        m->room_id, m->version);
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    chat->stats.frames_built++;
    pl_chat__fanout(chat, room, 0, m->version, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

void pl_chat__fanout(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version, pl_frame_t *f)
{
    if (chat->cluster != NULL)
        pl_bus__room(chat, room->id, seq, version, 0, f);
    if ((seq > 0 || version > 0) && !pl_bus__gate(chat, room, seq, version))
        return;
    pl_chat__fanout_local(chat, room, seq, version, f);
}
