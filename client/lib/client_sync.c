/* SPDX-License-Identifier: MIT */
/* client_sync.c -- how libparley catches up: auth (carrying `since` on a
 * reconnect), seeding positions from `rooms` on a first "from now" connect,
 * sync pages, and asking again when the server refuses for now. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

/* Largest `since` sent inside auth (see parley__auth_start). */
#define AUTH_SINCE_MAX (48 * 1024)
/* How many gap-triggered resyncs may deliver nothing before we give up. */
#define MAX_EMPTY_RESYNCS 2
/* Longest wait before asking again for a sync or rooms page the server refused for now
 * (rate_limited says how long; too_many_pending does not). */
#define RETRY_MAX_MS 60000

static void on_retry_timer(uv_timer_t *t);
static void send_rooms_page(parley_client_t *c);
static void on_rooms_seed(parley_client_t *c, json_t *reply, bool local);

static void become_ready(parley_client_t *c)
{
    c->initial_done = true;
    c->backoff_cur = c->backoff_min;
    parley__set_state(c, PARLEY_STATE_READY, NULL);
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
    parley__enter(c);
    if (c->conn != NULL && c->authed) {
        if (c->retry_rooms)
            send_rooms_page(c);
        else
            parley__start_sync(c);
    }
    parley__leave(c);
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
        parley__start_sync(c);
        return;
    }
    if (c->resync_needed) {
        c->resync_needed = false;
        if (c->sync_delivered == 0 && ++c->empty_resyncs > MAX_EMPTY_RESYNCS) {
            become_ready(c);
            return;
        }
        parley__start_sync(c);
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

void parley__start_sync(parley_client_t *c)
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
        parley__set_state(c, PARLEY_STATE_SYNCING, NULL);
    if (parley__send_internal(c, req, on_sync_reply) < 0)
        c->sync_inflight = false;
}

/* Asks for the rooms page after seed_after (the first page when NULL). */
static void send_rooms_page(parley_client_t *c)
{
    json_t *req = json_pack("{s:s}", "op", "rooms");
    if (req != NULL && c->seed_after != NULL &&
        json_object_set_new(req, "after", json_string(c->seed_after)) < 0) {
        json_decref(req);
        req = NULL;
    }
    if (req == NULL || parley__send_internal(c, req, on_rooms_seed) < 0) {
        /* Not sent. When the connection is gone the next one seeds again;
         * otherwise memory ran out: start over on a new connection. */
        if (c->conn != NULL)
            parley__conn_drop(c, 1011, "no_memory", "cannot ask for the rooms");
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
        parley__conn_drop(c, 1011, code ? code : "error", msg ? msg : "rooms refused");
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
        parley__position_seed(c, r);
    }
    if (more) {
        if (next == NULL || (c->seed_after != NULL && strcmp(next, c->seed_after) == 0)) {
            parley__conn_drop(c, 1011, "protocol", "rooms paging does not advance");
            return;
        }
        char *after = strdup(next);
        if (after == NULL) {
            parley__conn_drop(c, 1011, "no_memory", "cannot ask for the rooms");
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
        parley__handle_event(c, r);
    }
    json_decref(held);
    /* Positions the application seeded (e.g. saved by a previous run) may be
     * behind: one sync catches them up before going live. Rooms seeded from
     * `rooms` are at their end, so the sync costs nothing for them. */
    if (!c->sync_inflight)
        parley__start_sync(c);
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
            parley__conn_drop(c, 1000, c->last_err.code, c->last_err.message);
        } else {
            parley__conn_drop(c, 1011, c->last_err.code, c->last_err.message);
        }
        return;
    }
    json_decref(c->user);
    c->user = json_incref(json_object_get(reply, "user"));
    c->authed = true;
    parley__set_state(c, PARLEY_STATE_SYNCING, NULL);
    if (c->auth_sync) {
        /* The auth carried `since`: the server sent the missed events
         * before this reply, which is also the sync's (more, count). */
        c->auth_sync = false;
        on_sync_reply(c, reply, false);
        parley__flush_unsent(c);
        return;
    }
    if (!c->initial_done && !c->replay_history) {
        c->seeding = true;
        free(c->seed_after);
        c->seed_after = NULL;
        send_rooms_page(c);
    } else {
        parley__start_sync(c);
    }
    parley__flush_unsent(c);
}

int parley__auth_start(parley_client_t *c)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "auth", "token", c->token);
    if (req == NULL)
        return PARLEY_ENOMEM;
    /* A reconnect catches up inside auth (`since`): one round trip, and the
     * server holds live events until the missed ones are out. The first
     * connect seeds positions from `rooms` instead. */
    c->auth_sync = false;
    if (c->initial_done) {
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
    return parley__send_internal(c, req, on_auth_reply);
}
