/* SPDX-License-Identifier: MIT */
/* client.c -- the asynchronous WebSocket client: upgrade handshake, framing
 * (parleyd's own decoder from src/ws, masked frames out), request/reply matching, reconnect with
 * backoff, and sync with per-room positions so each message reaches the application exactly once.
 */
#include "client_internal.h"

#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* Largest `since` sent inside auth (see ws_open). */
#define AUTH_SINCE_MAX (48 * 1024)
/* Largest WebSocket message accepted from the server (sync pages can be big). */
#define WS_MAX_MSG ((size_t)64 << 20)
/* Largest HTTP upgrade response header block. */
#define HS_MAX 16384
/* How many gap-triggered resyncs may deliver nothing before we give up. */
#define MAX_EMPTY_RESYNCS 2
/* Application requests sent and not answered at once; the rest wait here,
 * in order. The server refuses requests past its max_inflight_requests
 * (default 32) with too_many_pending; the library's own requests (auth,
 * sync, rooms) are not counted and always fit beside these. */
#define MAX_INFLIGHT 16
/* Longest wait before asking again for a sync or rooms page the server refused for now
 * (rate_limited says how long; too_many_pending does not). */
#define RETRY_MAX_MS 60000

static void conn_close(conn_t *k);
static void conn_drop(parley_client_t *c, int close_code, const char *code, const char *msg);
static void start_attempt(parley_client_t *c);
static void start_sync(parley_client_t *c);
static void send_rooms_page(parley_client_t *c);
static void teardown(parley_client_t *c);
static void on_reconnect_timer(uv_timer_t *t);
static void on_ping_timer(uv_timer_t *t);
static void on_retry_timer(uv_timer_t *t);
static void flush_unsent(parley_client_t *c);

/* ------------------------------------------------------------------ */
/* Re-entrancy: the application may call parley_client_free from any
 * callback. Every libuv entry point brackets its work with enter/leave, and
 * the real teardown runs when the outermost one returns. */

static void enter(parley_client_t *c)
{
    c->depth++;
}

static void leave(parley_client_t *c)
{
    if (--c->depth == 0 && c->free_requested && !c->torn_down)
        teardown(c);
}

/* Something a blocking call may be waiting for happened: make its
 * uv_run(UV_RUN_ONCE) return even if this ran outside the poll phase. */
static void wake_blocking(parley_client_t *c)
{
    if (c->blocking)
        uv_stop(c->loop);
}

static void set_state(parley_client_t *c, parley_state_t st, const parley_error_t *err)
{
    wake_blocking(c);
    if (c->state == st && err == NULL)
        return;
    c->state = st;
    if (c->state_cb && !c->torn_down)
        c->state_cb(c, st, err, c->state_ud);
}

/* ------------------------------------------------------------------ */
/* Pending requests */

static pending_t *pending_take(parley_client_t *c, int64_t id)
{
    for (pending_t **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            pending_t *p = *pp;
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void pending_drop(parley_client_t *c, int64_t id)
{
    pending_t *p = pending_take(c, id);
    if (p) {
        json_decref(p->req);
        free(p);
    }
}

void parley__pending_cancel(parley_client_t *c, int64_t id)
{
    pending_drop(c, id);
    /* A request given up on (parley_call timed out) frees its place among
     * the MAX_INFLIGHT: the next waiting one may go. */
    if (c->authed && !c->torn_down && !c->free_requested)
        flush_unsent(c);
}

static void pending_append(parley_client_t *c, pending_t *p)
{
    pending_t **pp = &c->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
}

static json_t *local_reply(int64_t id, const char *code, const char *msg)
{
    return json_pack("{s:I, s:b, s:{s:s, s:s}, s:b}", "re", (json_int_t)id, "ok", 0, "error",
                     "code", code, "message", msg, "local", 1);
}

static void pending_complete(parley_client_t *c, pending_t *p, json_t *reply, bool local)
{
    wake_blocking(c);
    if (p->icb)
        p->icb(c, reply, local);
    else if (p->cb)
        p->cb(c, reply, p->ud);
    json_decref(p->req);
    free(p);
}

/* Fails pending requests: those sent on connection gen (gen != 0), or all. */
static void pending_fail(parley_client_t *c, uint64_t gen, const char *code, const char *msg)
{
    for (;;) {
        pending_t **pp = &c->pending;
        while (*pp && gen != 0 && (*pp)->sent_gen != gen)
            pp = &(*pp)->next;
        pending_t *p = *pp;
        if (p == NULL)
            break;
        *pp = p->next;
        json_t *r = local_reply(p->id, code, msg);
        pending_complete(c, p, r, true);
        json_decref(r);
    }
}

/* ------------------------------------------------------------------ */
/* Positions */

int64_t parley_client_get_position(const parley_client_t *c, const char *room)
{
    if (c == NULL || room == NULL)
        return 0;
    return json_integer_value(json_object_get(c->positions, room));
}

int parley_client_set_position(parley_client_t *c, const char *room, int64_t seq)
{
    if (c == NULL || room == NULL || seq < 0)
        return PARLEY_EINVAL;
    if (json_object_set_new(c->positions, room, json_integer(seq)) < 0)
        return PARLEY_ENOMEM;
    return PARLEY_OK;
}

json_t *parley_client_positions(const parley_client_t *c)
{
    return json_deep_copy(c->positions);
}

int64_t parley_client_get_version(const parley_client_t *c, const char *room)
{
    if (c == NULL || room == NULL)
        return 0;
    return json_integer_value(json_object_get(c->versions, room));
}

int parley_client_set_version(parley_client_t *c, const char *room, int64_t version)
{
    if (c == NULL || room == NULL || version < 0)
        return PARLEY_EINVAL;
    if (json_object_set_new(c->versions, room, json_integer(version)) < 0)
        return PARLEY_ENOMEM;
    return PARLEY_OK;
}

json_t *parley_client_versions(const parley_client_t *c)
{
    return json_deep_copy(c->versions);
}

/* Raises the room's version to v (never lowers it). */
static void version_advance(parley_client_t *c, const char *room, int64_t v)
{
    if (v > parley_client_get_version(c, room))
        parley_client_set_version(c, room, v);
}

/* ------------------------------------------------------------------ */
/* Sending */

static void on_write_done(uv_write_t *w, int status)
{
    (void)status; /* errors surface as read errors / EOF on the same socket */
    free(w);
}

/* Frames payload as one masked client frame (RFC 6455 5.3: a fresh random
 * key per frame) and writes it. uv_write keeps the order of frames. Returns
 * 0, or -1 when the write could not start. */
static int write_frame(conn_t *k, unsigned opcode, const void *payload, size_t len)
{
    if (k->closing)
        return -1;
    /* One allocation holds the request and its bytes, freed in on_write_done. */
    uv_write_t *w = malloc(sizeof(*w) + PL_WS_MAX_HEADER + 4 + len);
    if (w == NULL)
        return -1;
    uint8_t *out = (uint8_t *)(w + 1);
    size_t hl = pl_ws_frame_header(out, opcode, true, len);
    out[1] |= 0x80; /* MASK */
    uint8_t *key = out + hl;
    randombytes_buf(key, 4);
    if (len)
        memcpy(key + 4, payload, len);
    pl_ws_unmask(key + 4, len, key); /* masking is the same XOR */
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)(hl + 4 + len));
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, on_write_done) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Encodes and queues one JSON text frame on the current connection. */
static int send_json(parley_client_t *c, const json_t *msg)
{
    conn_t *k = c->conn;
    if (k == NULL || !k->upgraded || k->closing)
        return PARLEY_EDISCONNECTED;
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL)
        return PARLEY_ENOMEM;
    if (c->trace)
        fprintf(stderr, "parley: >> %s\n", s);
    int rc = write_frame(k, PL_WS_OP_TEXT, s, strlen(s)); /* copies the bytes */
    free(s);
    if (rc < 0) {
        conn_drop(c, 1006, "network", "write failed");
        return PARLEY_EDISCONNECTED;
    }
    return PARLEY_OK;
}

/* Sends a pending request now (the connection is authenticated, or it is the
 * auth request itself). On failure the request stays unsent. */
static void pending_send(parley_client_t *c, pending_t *p)
{
    if (json_object_set_new(p->req, "id", json_integer(p->id)) < 0)
        return;
    uint64_t gen = c->conn ? c->conn->gen : 0;
    if (send_json(c, p->req) == PARLEY_OK && c->conn && c->conn->gen == gen) {
        p->sent_gen = gen;
        json_decref(p->req);
        p->req = NULL;
    }
}

/* Internal request: sent immediately on the current connection. */
static int send_internal(parley_client_t *c, json_t *req, internal_cb icb)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(req);
        return PARLEY_ENOMEM;
    }
    p->id = c->next_id++;
    p->req = req;
    p->icb = icb;
    pending_append(c, p);
    pending_send(c, p);
    if (p->req != NULL) {
        /* Could not send: the connection is gone; drop it silently, the
         * reconnect path starts over. */
        pending_drop(c, p->id);
        return PARLEY_EDISCONNECTED;
    }
    return PARLEY_OK;
}

/* Application requests sent on the current connection, unanswered. */
static int app_inflight(const parley_client_t *c)
{
    int n = 0;
    uint64_t gen = c->conn ? c->conn->gen : 0;
    for (const pending_t *p = c->pending; p; p = p->next)
        n += p->icb == NULL && p->req == NULL && gen != 0 && p->sent_gen == gen;
    return n;
}

/* Sends waiting application requests, in order, while fewer than
 * MAX_INFLIGHT are unanswered. */
static void flush_unsent(parley_client_t *c)
{
    int n = app_inflight(c);
    for (pending_t *p = c->pending; p && c->authed && n < MAX_INFLIGHT; p = p->next) {
        if (p->req != NULL && p->icb == NULL) {
            pending_send(c, p);
            if (p->req != NULL)
                return; /* not sent: the connection is gone */
            n++;
        }
    }
}

int64_t parley_client_request(parley_client_t *c, json_t *req, parley_reply_cb cb, void *ud)
{
    if (c == NULL || !json_is_object(req)) {
        json_decref(req);
        return PARLEY_EINVAL;
    }
    if (c->torn_down || c->free_requested || c->state == PARLEY_STATE_CLOSED) {
        json_decref(req);
        return PARLEY_ECLOSED;
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(req);
        return PARLEY_ENOMEM;
    }
    p->id = c->next_id++;
    p->req = req;
    p->cb = cb;
    p->ud = ud;
    pending_append(c, p);
    if (c->authed)
        flush_unsent(c); /* sends it unless MAX_INFLIGHT are out (order kept) */
    return p->id;
}

/* ------------------------------------------------------------------ */
/* Delivery, dedupe and sync */

static void deliver(parley_client_t *c, json_t *ev)
{
    wake_blocking(c);
    if (c->event_cb)
        c->event_cb(c, ev, c->event_ud);
    else
        json_array_append(c->evq, ev);
}

/* A gap in what the server sent (a missing seq, a missing version): fetch
 * the missing range with a sync rather than deliver out of order. */
static void need_resync(parley_client_t *c)
{
    if (c->sync_inflight)
        c->resync_needed = true;
    else
        start_sync(c);
}

/* Marks (room, version) delivered during the sync in flight; returns false
 * when it already was. */
static bool sync_mark_seen(parley_client_t *c, const char *room, int64_t v)
{
    char key[300];
    snprintf(key, sizeof(key), "%s %lld", room, (long long)v);
    if (json_object_get(c->sync_seen, key) != NULL)
        return false;
    json_object_set_new(c->sync_seen, key, json_true());
    return true;
}

static void message_as_update(parley_client_t *c, const char *room, int64_t seq, json_t *ev)
{
    json_t *base = json_object_get(c->sync_base, room);
    int64_t bseq = json_integer_value(json_object_get(base, "seq"));
    int64_t bv = json_integer_value(json_object_get(base, "version"));
    int64_t v = json_integer_value(json_object_get(ev, "version"));
    if (seq <= bseq || v <= bv || !sync_mark_seen(c, room, v))
        return;
    json_t *msg = json_deep_copy(ev);
    json_object_del(msg, "ev");
    json_t *up = json_pack("{s:s, s:s, s:I, s:o}", "ev", "update", "room", room, "version",
                           (json_int_t)v, "message", msg);
    if (up == NULL)
        return;
    version_advance(c, room, v);
    c->sync_delivered++;
    deliver(c, up);
    json_decref(up);
}

static void handle_message(parley_client_t *c, json_t *ev)
{
    const char *room = json_string_value(json_object_get(ev, "room"));
    json_t *jseq = json_object_get(ev, "seq");
    if (room == NULL || !json_is_integer(jseq))
        return; /* malformed: nothing sensible to do with it */
    if (c->seeding) {
        json_array_append(c->held, ev);
        return;
    }
    int64_t seq = json_integer_value(jseq);
    int64_t pos = parley_client_get_position(c, room);
    if (seq <= pos) {
        /* Already delivered (sync overlap or duplicate). One case carries
         * news: during our sync, a message after since.seq that we already
         * got live just before the sync started comes again in its current
         * state; a version above since.version that was not delivered yet
         * is a change we would otherwise never see (its live update was
         * held back by the server as covered by the sync). */
        if (c->sync_inflight)
            message_as_update(c, room, seq, ev);
        return;
    }
    if (seq > pos + 1) {
        need_resync(c);
        return;
    }
    if (parley_client_set_position(c, room, seq) < 0)
        return;
    /* A message arrives in its current state: a version > 0 means it was
     * changed before we got it, and that change needs no update event. */
    json_t *jv = json_object_get(ev, "version");
    if (json_is_integer(jv)) {
        version_advance(c, room, json_integer_value(jv));
        if (c->sync_inflight && json_integer_value(jv) > 0)
            sync_mark_seen(c, room, json_integer_value(jv));
    }
    if (c->sync_inflight)
        c->sync_delivered++;
    deliver(c, ev);
}

/* Update events ({"ev":"update","room","version","message"}): each change of
 * a message reaches the application once.
 *
 * Live, a room's versions arrive dense and in order on one connection, so an
 * update is a duplicate when its version is <= the room's version, and a gap
 * (version > known + 1, or a message we have not been given yet) means we
 * missed something: resync instead of delivering it.
 *
 * While our sync is in flight that rule does not hold. The sync's updates
 * skip versions (a message changed twice is sent once, in its latest state;
 * changes of messages newer than since.seq come inside those messages), and
 * live updates sent just before the server took the sync may arrive first
 * with higher versions. Every one of those live updates is also in the
 * sync's snapshot, so during a sync an update is new when its version is
 * above the version we sent in `since` and was not already delivered during
 * this sync; updates of messages after our seq position are dropped, since
 * the sync brings those messages in their current state. */
static void handle_update(parley_client_t *c, json_t *ev)
{
    const char *room = json_string_value(json_object_get(ev, "room"));
    json_t *msg = json_object_get(ev, "message");
    json_t *jv = json_object_get(ev, "version");
    if (!json_is_integer(jv))
        jv = json_object_get(msg, "version");
    json_t *jseq = json_object_get(msg, "seq");
    if (room == NULL || !json_is_integer(jv) || !json_is_integer(jseq))
        return; /* malformed */
    if (c->seeding) {
        json_array_append(c->held, ev);
        return;
    }
    int64_t v = json_integer_value(jv), seq = json_integer_value(jseq);
    int64_t known = parley_client_get_version(c, room);
    int64_t pos = parley_client_get_position(c, room);
    if (c->sync_inflight) {
        json_t *base = json_object_get(c->sync_base, room);
        int64_t bv = json_integer_value(json_object_get(base, "version"));
        if (v <= bv || seq > pos || !sync_mark_seen(c, room, v))
            return;
        c->sync_delivered++;
    } else {
        if (v <= known)
            return; /* already delivered */
        if (seq > pos || v > known + 1) {
            need_resync(c);
            return;
        }
    }
    version_advance(c, room, v);
    deliver(c, ev);
}

static void handle_event(parley_client_t *c, json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "ev"));
    if (name && strcmp(name, "message") == 0) {
        handle_message(c, ev);
        return;
    }
    if (name && strcmp(name, "update") == 0) {
        handle_update(c, ev);
        return;
    }
    if (name && strcmp(name, "room") == 0 && !c->replay_history) {
        /* In "from now" mode a newly joined room starts at its current end. */
        json_t *room = json_object_get(ev, "room");
        const char *id = json_string_value(json_object_get(room, "id"));
        if (id && json_object_get(c->positions, id) == NULL) {
            parley_client_set_position(c, id,
                                       json_integer_value(json_object_get(room, "last_seq")));
            if (json_object_get(c->versions, id) == NULL)
                parley_client_set_version(
                    c, id, json_integer_value(json_object_get(room, "last_version")));
        }
    }
    /* Everything else (typing, receipt, presence, profile, settings, room,
     * member, and kinds added later) goes to the application unchanged. */
    deliver(c, ev);
}

static void become_ready(parley_client_t *c)
{
    c->initial_done = true;
    c->backoff_cur = c->backoff_min;
    set_state(c, PARLEY_STATE_READY, NULL);
}

/* The wait in ms before asking again when reply refuses a request for now
 * (rate_limited: its retry_after_ms; too_many_pending: the minimum backoff),
 * or -1 when the reply is no such refusal. */
static int64_t refusal_wait(const parley_client_t *c, const json_t *reply)
{
    const json_t *e = json_object_get(reply, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    if (code == NULL || (strcmp(code, "rate_limited") && strcmp(code, "too_many_pending")))
        return -1;
    json_int_t ms = json_integer_value(json_object_get(e, "retry_after_ms"));
    if (ms <= 0)
        ms = c->backoff_min;
    return ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
}

/* Asks again after wait_ms, on the same connection: for the rooms page at
 * seed_after when rooms is true, else with a sync. */
static void retry_later(parley_client_t *c, bool rooms, int64_t wait_ms)
{
    c->retry_rooms = rooms;
    uv_timer_start(&c->retry_timer, on_retry_timer, (uint64_t)wait_ms, 0);
}

static void on_retry_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    enter(c);
    if (c->conn != NULL && c->authed) {
        if (c->retry_rooms)
            send_rooms_page(c);
        else
            start_sync(c);
    }
    leave(c);
}

static void on_sync_reply(parley_client_t *c, json_t *reply, bool local)
{
    c->sync_inflight = false;
    json_object_clear(c->sync_base);
    json_object_clear(c->sync_seen);
    if (local)
        return; /* connection lost; the reconnect path syncs again */
    if (!json_is_true(json_object_get(reply, "ok"))) {
        int64_t wait = refusal_wait(c, reply);
        if (wait >= 0) {
            /* Refused for now, not for good: going live would skip what we
             * missed. Ask again when the server says, on this connection;
             * that sync starts from the positions reached by then, so it
             * also covers any gap seen meanwhile. */
            c->resync_needed = false;
            retry_later(c, false, wait);
            return;
        }
        /* The server refused sync: nothing to catch up with, go live. */
        c->resync_needed = false;
        become_ready(c);
        return;
    }
    if (c->sync_delivered > 0)
        c->empty_resyncs = 0;
    if (json_is_true(json_object_get(reply, "more"))) {
        start_sync(c);
        return;
    }
    if (c->resync_needed) {
        c->resync_needed = false;
        if (c->sync_delivered == 0 && ++c->empty_resyncs > MAX_EMPTY_RESYNCS) {
            become_ready(c);
            return;
        }
        start_sync(c);
        return;
    }
    c->empty_resyncs = 0;
    become_ready(c);
}

/* since: {room: {"seq": n, "version": v}} for every room we know. */
static json_t *build_since(parley_client_t *c)
{
    json_t *since = json_object();
    const char *room;
    json_t *v;
    json_object_foreach(c->positions, room, v)
    {
        json_object_set_new(since, room,
                            json_pack("{s:I, s:I}", "seq", json_integer_value(v), "version",
                                      (json_int_t)parley_client_get_version(c, room)));
    }
    json_object_foreach(c->versions, room, v)
    {
        if (json_object_get(since, room) == NULL)
            json_object_set_new(
                since, room,
                json_pack("{s:I, s:I}", "seq", (json_int_t)0, "version", json_integer_value(v)));
    }
    return since;
}

/* The sync that `since` starts (a sync op, or an auth carrying it) is in
 * flight from now: events before its reply follow the sync rules. */
static void sync_begin(parley_client_t *c, json_t *since)
{
    json_decref(c->sync_base);
    c->sync_base = json_incref(since);
    json_object_clear(c->sync_seen);
    c->sync_inflight = true;
    c->sync_delivered = 0;
}

static void start_sync(parley_client_t *c)
{
    if (c->sync_inflight) {
        c->resync_needed = true;
        return;
    }
    if (uv_is_active((uv_handle_t *)&c->retry_timer))
        return; /* a refused sync is asked again soon, from the positions then */
    if (c->conn == NULL || !c->authed)
        return;
    json_t *since = build_since(c);
    json_t *req = json_pack("{s:s, s:O}", "op", "sync", "since", since);
    if (req == NULL) {
        json_decref(since);
        return;
    }
    sync_begin(c, since);
    json_decref(since);
    if (c->state != PARLEY_STATE_SYNCING)
        set_state(c, PARLEY_STATE_SYNCING, NULL);
    if (send_internal(c, req, on_sync_reply) < 0)
        c->sync_inflight = false;
}

static void on_rooms_seed(parley_client_t *c, json_t *reply, bool local);

/* Asks for the rooms page after seed_after (the first page when NULL). */
static void send_rooms_page(parley_client_t *c)
{
    json_t *req = json_pack("{s:s}", "op", "rooms");
    if (req != NULL && c->seed_after != NULL &&
        json_object_set_new(req, "after", json_string(c->seed_after)) < 0) {
        json_decref(req);
        req = NULL;
    }
    if (req == NULL || send_internal(c, req, on_rooms_seed) < 0) {
        /* Not sent. When the connection is gone the next one seeds again;
         * otherwise memory ran out: start over on a new connection. */
        if (c->conn != NULL)
            conn_drop(c, 1011, "no_memory", "cannot ask for the rooms");
    }
}

/* Seeding ("from now") must see every room before it ends: a room it missed
 * would have no position, and the sync that follows would replay its whole
 * history. So a page refused for now is asked again, any other failure or a
 * cursor that does not advance starts over on a new connection, and only
 * the last page ends the seeding. */
static void on_rooms_seed(parley_client_t *c, json_t *reply, bool local)
{
    if (local)
        return; /* connection lost: the next one seeds again */
    if (!json_is_true(json_object_get(reply, "ok"))) {
        int64_t wait = refusal_wait(c, reply);
        if (wait >= 0) {
            retry_later(c, true, wait);
            return;
        }
        json_t *e = json_object_get(reply, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        conn_drop(c, 1011, code ? code : "error", msg ? msg : "rooms refused");
        return;
    }
    /* `rooms` is paged by bytes: seed this page, then ask for the next. */
    const char *next = json_string_value(json_object_get(reply, "next"));
    bool more = json_is_true(json_object_get(reply, "more"));
    json_t *rooms = json_object_get(reply, "rooms");
    size_t i;
    json_t *r;
    json_array_foreach(rooms, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (id && json_object_get(c->positions, id) == NULL) {
            parley_client_set_position(c, id, json_integer_value(json_object_get(r, "last_seq")));
            if (json_object_get(c->versions, id) == NULL)
                parley_client_set_version(c, id,
                                          json_integer_value(json_object_get(r, "last_version")));
        }
    }
    if (more) {
        if (next == NULL || (c->seed_after != NULL && strcmp(next, c->seed_after) == 0)) {
            conn_drop(c, 1011, "protocol", "rooms paging does not advance");
            return;
        }
        char *after = strdup(next);
        if (after == NULL) {
            conn_drop(c, 1011, "no_memory", "cannot ask for the rooms");
            return;
        }
        free(c->seed_after);
        c->seed_after = after;
        send_rooms_page(c);
        return;
    }
    free(c->seed_after);
    c->seed_after = NULL;
    c->seeding = false;
    c->initial_done = true;
    json_t *held = c->held;
    c->held = json_array();
    json_array_foreach(held, i, r)
    {
        handle_event(c, r);
    }
    json_decref(held);
    /* Positions the application seeded (e.g. saved by a previous run) may be
     * behind: one sync catches them up before going live. Rooms seeded from
     * `rooms` are at their end, so the sync costs nothing for them. */
    if (!c->sync_inflight)
        start_sync(c);
}

static void on_auth_reply(parley_client_t *c, json_t *reply, bool local)
{
    if (local)
        return;
    if (!json_is_true(json_object_get(reply, "ok"))) {
        json_t *e = json_object_get(reply, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        parley__set_error_json(&c->last_err, e);
        if (code && strcmp(code, "unauthenticated") == 0) {
            /* Retrying with the same token cannot help: stop for good. */
            c->auth_refused = true;
            conn_drop(c, 1000, c->last_err.code, c->last_err.message);
        } else {
            conn_drop(c, 1011, c->last_err.code, c->last_err.message);
        }
        return;
    }
    json_decref(c->user);
    c->user = json_incref(json_object_get(reply, "user"));
    c->authed = true;
    set_state(c, PARLEY_STATE_SYNCING, NULL);
    if (c->auth_sync) {
        /* The auth carried `since`: the server sent the missed events
         * before this reply, which is also the sync's (more, count). */
        c->auth_sync = false;
        on_sync_reply(c, reply, false);
        flush_unsent(c);
        return;
    }
    if (!c->initial_done && !c->replay_history) {
        c->seeding = true;
        free(c->seed_after);
        c->seed_after = NULL;
        send_rooms_page(c);
    } else {
        start_sync(c);
    }
    flush_unsent(c);
}

static void handle_frame(parley_client_t *c, const uint8_t *data, size_t len)
{
    if (c->trace)
        fprintf(stderr, "parley: << %.*s\n", (int)len, (const char *)data);
    json_t *msg = json_loadb((const char *)data, len, 0, NULL);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return;
    }
    json_t *re = json_object_get(msg, "re");
    if (re != NULL) {
        pending_t *p = json_is_integer(re) ? pending_take(c, json_integer_value(re)) : NULL;
        if (p != NULL) {
            bool app = p->icb == NULL;
            pending_complete(c, p, msg, false);
            if (app && c->authed && !c->torn_down && !c->free_requested)
                flush_unsent(c); /* one answered: the next may go */
        }
    } else if (json_object_get(msg, "ev") != NULL) {
        handle_event(c, msg);
    }
    json_decref(msg);
}

/* ------------------------------------------------------------------ */
/* Connection */

static void conn_unref(conn_t *k)
{
    if (--k->refs > 0)
        return;
    pl_ws_decoder_dispose(&k->dec);
    free(k->in);
    free(k);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void conn_close(conn_t *k)
{
    if (k->closing)
        return;
    k->closing = true;
    if (k->gai_pending)
        uv_cancel((uv_req_t *)&k->gai);
    uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
}

/* Detaches and closes the current connection, fails its in-flight requests
 * and schedules a reconnect (unless the client is closing or auth failed). */
static void conn_drop(parley_client_t *c, int close_code, const char *code, const char *msg)
{
    conn_t *k = c->conn;
    if (k == NULL)
        return;
    c->conn = NULL;
    k->c = NULL;
    conn_close(k);
    uv_timer_stop(&c->ping_timer);
    uv_timer_stop(&c->retry_timer);
    c->authed = false;
    c->sync_inflight = false;
    c->resync_needed = false;
    c->seeding = false;
    free(c->seed_after);
    c->seed_after = NULL;
    json_array_clear(c->held);
    json_object_clear(c->sync_base);
    json_object_clear(c->sync_seen);
    c->last_close_code = close_code;
    if (!c->auth_refused)
        parley__set_error(&c->last_err, code, "%s (close %d)", msg, close_code);
    pending_fail(c, k->gen, "disconnected", "connection lost before the reply");
    if (c->torn_down || c->free_requested)
        return;
    if (c->auth_refused) {
        pending_fail(c, 0, c->last_err.code, c->last_err.message);
        set_state(c, PARLEY_STATE_CLOSED, &c->last_err);
        return;
    }
    /* Exponential backoff with +-25 % jitter. */
    uint64_t base = c->backoff_cur ? c->backoff_cur : c->backoff_min;
    uint64_t delay = base * (750 + randombytes_uniform(501)) / 1000;
    c->backoff_cur = base * 2 > c->backoff_max ? c->backoff_max : (unsigned)(base * 2);
    set_state(c, PARLEY_STATE_WAITING, &c->last_err);
    if (c->conn == NULL && !c->torn_down && !c->free_requested && c->state == PARLEY_STATE_WAITING)
        uv_timer_start(&c->reconnect_timer, on_reconnect_timer, delay, 0);
}

/* Decodes buffered bytes and reacts to what arrived. */
static void ws_process(parley_client_t *c, conn_t *k)
{
    bool closed = false;
    while (k->in_off < k->in_len && !closed) {
        size_t used = 0;
        pl_ws_msg_t m;
        int rc = pl_ws_decode_client(&k->dec, k->in + k->in_off, k->in_len - k->in_off, WS_MAX_MSG,
                                     &used, &m);
        if (rc == PL_EAGAIN) {
            k->in_off += used;
            break;
        }
        if (rc < 0) {
            conn_drop(c, 1002, "protocol", "WebSocket protocol error");
            return;
        }
        /* m may point into k->in: handle it before moving the buffer. */
        if (m.opcode == PL_WS_OP_TEXT) {
            handle_frame(c, m.data, m.len);
        } else if (m.opcode == PL_WS_OP_PING) {
            write_frame(k, PL_WS_OP_PONG, m.data, m.len); /* RFC 6455 5.5.2 */
        } else if (m.opcode == PL_WS_OP_CLOSE) {
            /* RFC 6455 5.5.1: echo the code; the server closes TCP. */
            k->close_code = (int)m.close_code;
            uint8_t body[2] = {(uint8_t)(m.close_code >> 8), (uint8_t)m.close_code};
            write_frame(k, PL_WS_OP_CLOSE, body, m.close_code == 1005 ? 0 : 2);
            closed = true;
        }
        k->in_off += used;
        if (k->closing || c->conn != k)
            return;
    }
    /* Compact the input buffer. */
    if (k->in_off > 0) {
        memmove(k->in, k->in + k->in_off, k->in_len - k->in_off);
        k->in_len -= k->in_off;
        k->in_off = 0;
    }
    if (closed) {
        int code = k->close_code ? k->close_code : 1005;
        const char *why = code == 4008   ? "server closed a slow consumer"
                          : code == 4000 ? "server closed an idle connection"
                          : code == 1001 ? "server shutting down"
                                         : "server closed the connection";
        conn_drop(c, code, "disconnected", why);
    }
}

/* Validates the 101 response and switches to WebSocket framing. Returns the
 * header length consumed, 0 when incomplete, -1 on failure. */
static long handshake_check(conn_t *k)
{
    char *end = memmem(k->in, k->in_len, "\r\n\r\n", 4);
    if (end == NULL)
        return k->in_len > HS_MAX ? -1 : 0;
    *end = '\0';
    long used = (long)(end - (char *)k->in) + 4;
    char *save = NULL;
    char *line = strtok_r((char *)k->in, "\r\n", &save);
    int major, minor, status;
    if (line == NULL || sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 ||
        status != 101)
        return -1;
    bool upgrade = false, connection = false, accept_ok = false;
    char expect[64];
    if (parley__ws_accept(k->key, expect, sizeof(expect)) < 0)
        return -1;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (strcasecmp(line, "upgrade") == 0 && strcasestr(v, "websocket"))
            upgrade = true;
        else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "upgrade"))
            connection = true;
        else if (strcasecmp(line, "sec-websocket-accept") == 0 && strcmp(v, expect) == 0)
            accept_ok = true;
    }
    return (upgrade && connection && accept_ok) ? used : -1;
}

static void ws_open(parley_client_t *c, conn_t *k)
{
    k->upgraded = true;
    set_state(c, PARLEY_STATE_AUTHENTICATING, NULL);
    if (c->ping_interval > 0)
        uv_timer_start(&c->ping_timer, on_ping_timer, c->ping_interval, c->ping_interval);
    json_t *req = json_pack("{s:s, s:s}", "op", "auth", "token", c->token);
    /* A reconnect catches up inside auth (`since`): one round trip, and the
     * server holds live events until the missed ones are out. The first
     * connect seeds positions from `rooms` instead. */
    c->auth_sync = false;
    if (req != NULL && c->initial_done) {
        json_t *since = build_since(c);
        /* The server takes at most max_ws_preauth_message (64 KiB by
         * default) before auth: a user in thousands of rooms sends a bare
         * auth and catches up with a sync once authenticated instead. */
        if (json_dumpb(since, NULL, 0, JSON_COMPACT) <= AUTH_SINCE_MAX) {
            json_object_set(req, "since", since);
            sync_begin(c, since);
            c->auth_sync = true;
        }
        json_decref(since);
    }
    if (req == NULL || send_internal(c, req, on_auth_reply) < 0) {
        if (c->conn == k)
            conn_drop(c, 1006, "network", "cannot send auth");
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *k = h->data;
    if (k->in_cap - k->in_len < 16384) {
        size_t ncap = k->in_cap ? k->in_cap * 2 : 65536;
        uint8_t *n = realloc(k->in, ncap);
        if (n == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        k->in = n;
        k->in_cap = ncap;
    }
    *buf = uv_buf_init((char *)k->in + k->in_len, (unsigned)(k->in_cap - k->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *k = s->data;
    parley_client_t *c = k->c;
    if (c == NULL || k->closing)
        return;
    if (nread == 0)
        return;
    enter(c);
    if (nread < 0) {
        int code = k->close_code ? k->close_code : 1006;
        conn_drop(c, code, "disconnected",
                  nread == UV_EOF ? "connection closed by server" : uv_strerror((int)nread));
        goto out;
    }
    c->last_rx = parley__now_ms();
    k->in_len += (size_t)nread;
    if (!k->upgraded) {
        long used = handshake_check(k);
        if (used < 0) {
            conn_drop(c, 1002, "protocol", "WebSocket upgrade refused");
            goto out;
        }
        if (used == 0)
            goto out;
        memmove(k->in, k->in + used, k->in_len - (size_t)used);
        k->in_len -= (size_t)used;
        ws_open(c, k);
        if (c->conn != k || k->in_len == 0)
            goto out;
    }
    ws_process(c, k);
out:
    leave(c);
}

static void on_hs_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *k = req->data;
    parley_client_t *c = k->c;
    if (c == NULL || k->closing)
        return;
    enter(c);
    if (status < 0) {
        conn_drop(c, 1006, "network", uv_strerror(status));
        goto out;
    }
    /* Frames go out as header + payload writes; don't let Nagle hold them. */
    uv_tcp_nodelay(&k->tcp, 1);
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(k->key, sizeof(k->key), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    const char *v6 = strchr(c->url.host, ':') ? "[" : "";
    size_t cap = 1024 + strlen(c->url.ws_path) + strlen(c->url.host);
    uv_write_t *w = malloc(sizeof(*w) + cap);
    if (w == NULL) {
        conn_drop(c, 1006, "no_memory", "out of memory");
        goto out;
    }
    char *p = (char *)(w + 1);
    int n = snprintf(p, cap,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nUser-Agent: libparley\r\n\r\n",
                     c->url.ws_path, v6, c->url.host, *v6 ? "]" : "", c->url.port, k->key);
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    int rc = uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, on_hs_written);
    if (rc < 0)
        free(w);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (rc < 0)
        conn_drop(c, 1006, "network", uv_strerror(rc));
out:
    leave(c);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    conn_t *k = g->data;
    k->gai_pending = false;
    parley_client_t *c = k->c;
    if (c != NULL && !k->closing) {
        enter(c);
        int rc = status;
        if (rc == 0 && res == NULL)
            rc = UV_EAI_NONAME;
        if (rc == 0) {
            k->creq.data = k;
            rc = uv_tcp_connect(&k->creq, &k->tcp, res->ai_addr, on_connect);
        }
        if (rc < 0)
            conn_drop(c, 1006, "network", uv_strerror(rc));
        leave(c);
    }
    uv_freeaddrinfo(res);
    conn_unref(k);
}

static void start_attempt(parley_client_t *c)
{
    conn_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto fail;
    if (uv_tcp_init(c->loop, &k->tcp) < 0) {
        free(k);
        goto fail;
    }
    k->tcp.data = k;
    k->refs = 1;
    k->c = c;
    k->gen = ++c->gen;
    c->conn = k;
    c->last_rx = parley__now_ms();
    set_state(c, PARLEY_STATE_CONNECTING, NULL);
    if (c->conn != k)
        return;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = strchr(c->url.host, ':') ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    k->gai.data = k;
    int rc = uv_getaddrinfo(c->loop, &k->gai, on_resolved, c->url.host, port, &hints);
    if (rc < 0) {
        conn_drop(c, 1006, "network", uv_strerror(rc));
        return;
    }
    k->gai_pending = true;
    k->refs++;
    return;
fail:
    /* Out of memory: retry later like any failed attempt. */
    uv_timer_start(&c->reconnect_timer, on_reconnect_timer, c->backoff_max, 0);
}

static void on_reconnect_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    enter(c);
    if (c->conn == NULL && !c->auth_refused)
        start_attempt(c);
    leave(c);
}

static void on_ping_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    conn_t *k = c->conn;
    if (k == NULL || !k->upgraded)
        return;
    enter(c);
    if (parley__now_ms() - c->last_rx > 2ull * c->ping_interval + 1000)
        conn_drop(c, 1006, "timeout", "no traffic from the server");
    else if (write_frame(k, PL_WS_OP_PING, "p", 1) < 0)
        conn_drop(c, 1006, "network", "write failed");
    leave(c);
}

/* ------------------------------------------------------------------ */
/* Lifecycle */

parley_client_t *parley_client_new(uv_loop_t *loop, const char *url)
{
    if (loop == NULL || url == NULL)
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    /* libuv writes with write(2): a peer that vanished would kill the process
     * with SIGPIPE. Ignore it unless the application installed a handler. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    parley_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (parley__url_parse(url, &c->url) < 0) {
        free(c);
        return NULL;
    }
    c->positions = json_object();
    c->versions = json_object();
    c->sync_base = json_object();
    c->sync_seen = json_object();
    c->evq = json_array();
    c->held = json_array();
    if (c->positions == NULL || c->versions == NULL || c->sync_base == NULL ||
        c->sync_seen == NULL || c->evq == NULL || c->held == NULL) {
        json_decref(c->positions);
        json_decref(c->versions);
        json_decref(c->sync_base);
        json_decref(c->sync_seen);
        json_decref(c->evq);
        json_decref(c->held);
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->next_id = 1;
    c->backoff_min = 100;
    c->backoff_max = 10000;
    c->ping_interval = 20000;
    c->replay_history = true;
    c->trace = getenv("PARLEY_TRACE") != NULL && *getenv("PARLEY_TRACE") != '\0';
    uv_timer_init(loop, &c->reconnect_timer);
    uv_timer_init(loop, &c->ping_timer);
    uv_timer_init(loop, &c->wait_timer);
    uv_timer_init(loop, &c->retry_timer);
    c->reconnect_timer.data = c;
    c->ping_timer.data = c;
    c->wait_timer.data = c;
    c->retry_timer.data = c;
    c->open_handles = 4;
    return c;
}

static void on_client_handle_closed(uv_handle_t *h)
{
    parley_client_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    json_decref(c->positions);
    json_decref(c->versions);
    json_decref(c->sync_base);
    json_decref(c->sync_seen);
    json_decref(c->evq);
    json_decref(c->held);
    json_decref(c->user);
    free(c->seed_after);
    free(c->token);
    free(c);
}

static void teardown(parley_client_t *c)
{
    c->torn_down = true;
    c->state = PARLEY_STATE_CLOSED;
    if (c->conn) {
        conn_t *k = c->conn;
        c->conn = NULL;
        k->c = NULL;
        conn_close(k);
    }
    pending_fail(c, 0, "closed", "client closed");
    uv_close((uv_handle_t *)&c->reconnect_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->ping_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->wait_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->retry_timer, on_client_handle_closed);
}

void parley_client_free(parley_client_t *c)
{
    if (c == NULL || c->torn_down)
        return;
    if (c->depth > 0) {
        c->free_requested = true;
        return;
    }
    uv_loop_t *loop = c->loop;
    bool owns = c->owns_loop;
    teardown(c);
    if (owns) {
        uv_run(loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(loop);
        free(loop);
    }
}

int parley_client_set_token(parley_client_t *c, const char *token)
{
    if (c == NULL || token == NULL)
        return PARLEY_EINVAL;
    char *t = strdup(token);
    if (t == NULL)
        return PARLEY_ENOMEM;
    free(c->token);
    c->token = t;
    c->auth_refused = false;
    return PARLEY_OK;
}

void parley_client_set_event_cb(parley_client_t *c, parley_event_cb cb, void *ud)
{
    c->event_cb = cb;
    c->event_ud = ud;
}

void parley_client_set_state_cb(parley_client_t *c, parley_state_cb cb, void *ud)
{
    c->state_cb = cb;
    c->state_ud = ud;
}

void parley_client_set_timing(parley_client_t *c, unsigned backoff_min_ms, unsigned backoff_max_ms,
                              unsigned ping_interval_ms)
{
    c->backoff_min = backoff_min_ms ? backoff_min_ms : 1;
    c->backoff_max = backoff_max_ms < c->backoff_min ? c->backoff_min : backoff_max_ms;
    c->backoff_cur = c->backoff_min;
    c->ping_interval = ping_interval_ms;
}

void parley_client_set_initial_sync(parley_client_t *c, bool replay_history)
{
    c->replay_history = replay_history;
}

int parley_client_connect(parley_client_t *c)
{
    if (c == NULL || c->token == NULL)
        return PARLEY_EINVAL;
    if (c->torn_down || c->free_requested)
        return PARLEY_ECLOSED;
    if (c->conn != NULL || uv_is_active((uv_handle_t *)&c->reconnect_timer))
        return PARLEY_OK;
    c->auth_refused = false;
    c->backoff_cur = c->backoff_min;
    enter(c);
    start_attempt(c);
    leave(c);
    return PARLEY_OK;
}

parley_state_t parley_client_state(const parley_client_t *c)
{
    return c->state;
}

const json_t *parley_client_user(const parley_client_t *c)
{
    return c->user;
}

uv_loop_t *parley_client_loop(const parley_client_t *c)
{
    return c->loop;
}
