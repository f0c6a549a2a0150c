/* SPDX-License-Identifier: MIT */
/* reply.c -- the reply stream of a session.
 *
 * A reply is the server's own answer to a request the client made, so its
 * size must never make the client a "slow consumer" (issue: a stranger who
 * filled a dm with 60 KB messages got its victim's every catch-up closed
 * with 4008). Three rules keep replies bounded instead:
 *
 * - Every list reply is cut at max_reply_bytes (page.c) and says `more`.
 * - A request counts as in flight from dispatch until its reply is on the
 *   connection; past max_inflight_requests the next one is refused at once
 *   (too_many_pending), so one connection cannot make the server prepare
 *   or hold hundreds of replies.
 * - Replies go to the connection (pl_conn_send_reply: refused only when the
 *   queue already holds more than max_write_queue, i.e. the client stopped
 *   reading) while less than max_reply_bytes of them went out since the
 *   connection last drained; the rest wait here, in order, and follow on
 *   each drain (on_ws_drain). A long catch-up thus streams as the client
 *   reads it, and fan-out events find room in the queue meanwhile.
 *
 * A sync's events and its reply are one answer: they leave in order, and
 * the live events held during the sync are released only once its reply is
 * on the connection (PL_OUT_SYNC_END), so nothing overtakes them. Live
 * events that come while replies wait here queue behind them
 * (PL_OUT_EVENT; event_out below), so a send's reply still precedes its
 * own message event; those waiting events are bounded like events on the
 * connection (max_write_queue, else 4008). */
#include <inttypes.h>
#include <stdlib.h>

#include "chat/chat_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

typedef struct out_ent {
    struct out_ent *next;
    pl_frame_t *frame;
    pl_out_kind_t kind;
    pl_sync_end_t *end; /* PL_OUT_SYNC_END */
} out_ent_t;

/* Allocated while replies wait: an idle session keeps one pointer. */
struct outbox {
    out_ent_t *head, **tail;
    size_t bytes;  /* everything waiting */
    size_t events; /* of which live events (PL_OUT_EVENT): bounded by max_write_queue */
};

void pl_reply__begin(session_t *s)
{
    s->inflight++;
}

static void sync_end_free(pl_sync_end_t *e)
{
    if (e == NULL)
        return;
    free(e->pos);
    free(e);
}

/* A counted request is answered: its reply is on the connection (or the
 * connection is gone). */
static void request_done(session_t *s, pl_out_kind_t kind, pl_sync_end_t *end)
{
    if (kind == PL_OUT_PART || kind == PL_OUT_EVENT)
        return;
    if (s->inflight > 0)
        s->inflight--;
    if (kind == PL_OUT_SYNC_END) {
        /* Live events held during the sync follow its reply. */
        if (end != NULL)
            pl_reply__release_held(s, end->pos, end->n, end->drop_timeline);
        else
            pl_reply__release_held(s, NULL, 0, false);
    }
}

/* Puts f on the connection. Returns false when the connection refused it
 * (closing, or a slow consumer: closed with 4008). */
static bool put(session_t *s, pl_frame_t *f)
{
    if (s->conn == NULL)
        return false;
    size_t len = pl_frame_size(f);
    s->reply_out = (uint32_t)PL_MIN((uint64_t)s->reply_out + len, UINT32_MAX);
    return pl_conn_send_reply(s->conn, f) == 0;
}

/* Whether a reply of len bytes may go to the connection now. */
static bool room_for(const session_t *s, size_t len)
{
    size_t low = (size_t)s->chat->cfg->max_reply_bytes;
    return s->reply_out == 0 || (size_t)s->reply_out + len <= low;
}

void pl_reply__clear(session_t *s)
{
    struct outbox *ob = s->ob;
    if (ob == NULL)
        return;
    s->ob = NULL;
    for (out_ent_t *e = ob->head, *next; e != NULL; e = next) {
        next = e->next;
        pl_frame_unref(e->frame);
        if (s->inflight > 0 && e->kind != PL_OUT_PART && e->kind != PL_OUT_EVENT)
            s->inflight--;
        sync_end_free(e->end);
        free(e);
    }
    free(ob);
}

/* Moves waiting replies to the connection while there is room. */
static void pump(session_t *s)
{
    struct outbox *ob;
    while ((ob = s->ob) != NULL && ob->head != NULL) {
        out_ent_t *e = ob->head;
        size_t len = pl_frame_size(e->frame);
        if (s->conn == NULL || !room_for(s, len))
            break;
        ob->head = e->next;
        if (ob->head == NULL)
            ob->tail = &ob->head;
        ob->bytes -= len;
        if (e->kind == PL_OUT_EVENT)
            ob->events -= len;
        bool ok = put(s, e->frame);
        pl_frame_unref(e->frame);
        request_done(s, e->kind, e->end);
        sync_end_free(e->end);
        free(e);
        if (!ok) {
            pl_reply__clear(s); /* closing: nothing more will be read */
            return;
        }
    }
    if (s->ob != NULL && s->ob->head == NULL) {
        free(s->ob);
        s->ob = NULL;
    }
}

/* Appends f (taken) to the session's waiting list. */
static void enqueue(session_t *s, pl_frame_t *f, pl_out_kind_t kind, pl_sync_end_t *end)
{
    if (s->ob == NULL) {
        s->ob = pl_xcalloc(1, sizeof *s->ob);
        s->ob->tail = &s->ob->head;
    }
    out_ent_t *e = pl_xcalloc(1, sizeof *e);
    e->frame = f;
    e->kind = kind;
    e->end = end;
    *s->ob->tail = e;
    s->ob->tail = &e->next;
    s->ob->bytes += pl_frame_size(f);
    if (kind == PL_OUT_EVENT)
        s->ob->events += pl_frame_size(f);
}

void pl_reply__frame(session_t *s, pl_frame_t *f, pl_out_kind_t kind, pl_sync_end_t *end)
{
    size_t len = pl_frame_size(f);
    if (s->conn == NULL) {
        /* The answer of a request whose connection is gone: account and drop. */
        pl_frame_unref(f);
        request_done(s, kind, end);
        sync_end_free(end);
        return;
    }
    if (s->ob == NULL && room_for(s, len)) {
        bool ok = put(s, f);
        pl_frame_unref(f);
        request_done(s, kind, end);
        sync_end_free(end);
        if (!ok)
            pl_reply__clear(s);
        return;
    }
    enqueue(s, f, kind, end);
    pl_log(PL_LOG_TRACE, "chat",
           "conn=%" PRIu64 " user=u%" PRId64 " reply waits for the client bytes=%zu waiting=%zu",
           pl_conn_id(s->conn), s->user_id, len, s->ob->bytes);
}

int pl_reply__event(session_t *s, pl_frame_t *f)
{
    size_t len = pl_frame_size(f);
    if (s->ob->events + len > (size_t)s->chat->cfg->max_write_queue) {
        /* The event rule, for events waiting here: replies the client asked
         * for do not count (they are bounded by max_inflight_requests). */
        pl_log(PL_LOG_WARN, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " slow consumer waiting events=%zu event=%zu",
               pl_conn_id(s->conn), s->user_id, s->ob->events, len);
        pl_reply__clear(s);
        pl_conn_close(s->conn, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer");
        return PL_ETOOBIG;
    }
    enqueue(s, pl_frame_ref(f), PL_OUT_EVENT, NULL);
    return 0;
}

void pl_reply__now(session_t *s, pl_frame_t *f)
{
    (void)put(s, f);
    pl_frame_unref(f);
}

void pl_reply__drained(session_t *s)
{
    s->reply_out = 0;
    pump(s);
}

/* ---- events, and those held during a sync ---- */

void pl_reply__held_clear(session_t *s)
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

/* Whether a timeline event repeats what the session's last sync delivered
 * (cluster only, s->synced). An entry stops filtering once live events
 * pass it, and goes when neither its seq nor its version filters. */
static bool synced_repeat(session_t *s, int64_t room, int64_t seq, int64_t version)
{
    for (uint32_t i = 0; i < s->nsynced; i++) {
        pl_sync_pos_t *p = &s->synced[i];
        if (p->room != room)
            continue;
        bool repeat = false;
        if (seq > 0) {
            repeat = seq <= p->upto;
            if (!repeat)
                p->upto = 0;
        } else {
            repeat = version <= p->vupto;
            if (!repeat)
                p->vupto = 0;
        }
        if (p->upto == 0 && p->vupto == 0)
            s->synced[i] = s->synced[--s->nsynced];
        return repeat;
    }
    return false;
}

void pl_reply__deliver(session_t *s, int64_t room, int64_t seq, int64_t version, pl_frame_t *f)
{
    if (s->conn == NULL)
        return;
    if (s->nsynced > 0 && !s->syncing && (seq > 0 || version > 0) &&
        synced_repeat(s, room, seq, version))
        return;
    if (s->syncing && (seq > 0 || version > 0 || s->hold_all)) {
        size_t size = pl_frame_size(f);
        if (s->held_bytes + size > (size_t)s->chat->cfg->max_write_queue) {
            pl_log(PL_LOG_WARN, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64
                   " too many events held during sync: closing slow consumer",
                   pl_conn_id(s->conn), s->user_id);
            pl_reply__held_clear(s);
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

void pl_reply__release_held(session_t *s, const pl_sync_pos_t *pos, size_t n, bool drop_timeline)
{
    if (s->chat->cluster != NULL) {
        /* Remember where the sync left each room (see s->synced). */
        free(s->synced);
        s->synced = NULL;
        s->nsynced = 0;
        for (size_t i = 0; i < n; i++) {
            if (pos[i].truncated || (pos[i].upto <= 0 && pos[i].vupto <= 0))
                continue;
            if (s->synced == NULL)
                s->synced = pl_xmalloc(n * sizeof *s->synced);
            s->synced[s->nsynced++] = pos[i];
        }
    }
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
