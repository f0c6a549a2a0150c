/* SPDX-License-Identifier: MIT */
/* client_events.c -- what libparley receives: frames split into replies and
 * events; message and update events deduplicated by per-room positions and
 * versions (a gap asks for a sync), so each reaches the application once. */
#include "client_internal.h"

#include <stdio.h>
#include <string.h>

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

void parley__position_seed(parley_client_t *c, const json_t *room)
{
    const char *id = json_string_value(json_object_get(room, "id"));
    if (id == NULL || json_object_get(c->positions, id) != NULL)
        return;
    parley_client_set_position(c, id, json_integer_value(json_object_get(room, "last_seq")));
    if (json_object_get(c->versions, id) == NULL)
        parley_client_set_version(c, id, json_integer_value(json_object_get(room, "last_version")));
}

/* Raises the room's version to v (never lowers it). */
static void version_advance(parley_client_t *c, const char *room, int64_t v)
{
    if (v > parley_client_get_version(c, room))
        parley_client_set_version(c, room, v);
}

/* ------------------------------------------------------------------ */
/* Delivery and dedupe */

static void deliver(parley_client_t *c, json_t *ev)
{
    parley__wake_blocking(c);
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
        parley__start_sync(c);
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

void parley__handle_event(parley_client_t *c, json_t *ev)
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
        parley__position_seed(c, json_object_get(ev, "room"));
    }
    /* Everything else (typing, receipt, presence, profile, settings, room,
     * member, and kinds added later) goes to the application unchanged. */
    deliver(c, ev);
}

void parley__handle_frame(parley_client_t *c, const uint8_t *data, size_t len)
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
        parley__pending_answer(c, re, msg);
    } else if (json_object_get(msg, "ev") != NULL) {
        parley__handle_event(c, msg);
    }
    json_decref(msg);
}
