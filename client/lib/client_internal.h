/* SPDX-License-Identifier: MIT */
/* client_internal.h -- the parley_client_t layout and the internals its
 * files share: client.c (lifecycle), client_conn.c (connection and framing),
 * client_pending.c (requests and replies), client_events.c (incoming events),
 * client_sync.c (auth and sync) and blocking.c (blocking API). All run on the
 * client's loop thread. */
#ifndef PARLEY_CLIENT_INTERNAL_H
#define PARLEY_CLIENT_INTERNAL_H

#include "lib_internal.h"

#include "core/err.h"
#include "ws/ws.h"

/* Internal reply handler; local is true for synthesized failures. */
typedef void (*internal_cb)(parley_client_t *c, json_t *reply, bool local);

/** One request awaiting its reply (or still waiting to be sent). */
typedef struct pending {
    struct pending *next;
    int64_t id;
    json_t *req;        /* owned until sent, then NULL */
    uint64_t sent_gen;  /* connection generation it was sent on, 0 = unsent */
    parley_reply_cb cb; /* application callback (may be NULL) */
    void *ud;
    internal_cb icb; /* set for the library's own requests */
} pending_t;

/** One connection attempt: TCP handle, handshake and WebSocket state. Freed when
 * its handle has closed and its getaddrinfo (if any) has completed. */
typedef struct conn {
    parley_client_t *c; /* owner, NULL once detached */
    uv_tcp_t tcp;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    int refs;     /* tcp handle + pending getaddrinfo */
    uint64_t gen; /* attempt number */
    bool gai_pending;
    bool closing;
    bool upgraded;  /* handshake done, bytes are frames */
    int close_code; /* from the server's close frame */
    char key[32];   /* Sec-WebSocket-Key */
    uint8_t *in;    /* received, not yet consumed bytes */
    size_t in_len, in_off, in_cap;
    pl_ws_decoder_t dec;     /* server frames (src/ws, shared with parleyd) */
    struct parley__tls *tls; /* wss://: the session (NULL: plain) */
    bool tls_oom;            /* tls_deliver could not grow in */
} conn_t;

struct parley_client {
    uv_loop_t *loop;
    bool owns_loop; /* created by parley_sync_connect */
    parley__url_t url;
    char *token;
    parley_state_t state;
    conn_t *conn; /* current connection, NULL while waiting */
    uint64_t gen;
    uv_timer_t reconnect_timer;
    uv_timer_t ping_timer;
    uv_timer_t wait_timer;  /* blocking API timeouts */
    uv_timer_t retry_timer; /* asks again for a sync or rooms page refused for now */
    int open_handles;       /* timers not yet closed */
    unsigned backoff_min, backoff_max, backoff_cur, ping_interval;
    uint64_t last_rx; /* ms, last bytes from the server */
    bool replay_history;
    bool initial_done; /* first sync (or seeding) completed once */
    bool authed;       /* current connection authenticated */
    bool auth_refused; /* token rejected: no more reconnects */
    bool sync_inflight, resync_needed, seeding;
    bool retry_rooms; /* retry_timer asks for the rooms page at seed_after, not a sync */
    char *seed_after; /* `after` of the rooms page being seeded (NULL: the first) */
    bool auth_sync;   /* the auth in flight carries `since` (a reconnect) */
    int sync_delivered, empty_resyncs;
    int last_close_code;
    int64_t next_id;
    pending_t *pending; /* in request order */
    json_t *positions;  /* {room: seq} delivered to the app */
    json_t *versions;   /* {room: version} of the updates and messages delivered */
    json_t *sync_base;  /* the `since` of the sync in flight: {room: {"seq","version"}} */
    json_t *sync_seen;  /* {"room version": true} updates delivered during that sync */
    json_t *user;       /* auth result */
    json_t *evq;        /* queued events for parley_wait_event */
    json_t *held;       /* message and update events held while seeding */
    parley_event_cb event_cb;
    void *event_ud;
    parley_state_cb state_cb;
    void *state_ud;
    parley_error_t last_err;
    int depth; /* callback nesting, for deferred free */
    bool free_requested, torn_down;
    bool wait_expired;
    bool blocking; /* a blocking call is running the loop */
    bool trace;    /* $PARLEY_TRACE: log frames to stderr */
};

/* ---- client.c: lifecycle ---- */

/** Brackets every libuv entry point: parley_client_free inside a callback is
 * deferred until the outermost leave, which tears the client down. */
void parley__enter(parley_client_t *c);
void parley__leave(parley_client_t *c);
/** Makes a blocking call's uv_run(UV_RUN_ONCE) return: something it may wait
 * for happened. */
void parley__wake_blocking(parley_client_t *c);
/** Sets the state and tells the application (always when err is given). */
void parley__set_state(parley_client_t *c, parley_state_t st, const parley_error_t *err);

/* ---- client_conn.c: connection and framing ---- */

/** Starts a connection attempt (resolve, connect, upgrade); on failure a
 * reconnect is scheduled. */
void parley__start_attempt(parley_client_t *c);
/** Closes k's handle (idempotent); k is freed when nothing refers to it. */
void parley__conn_close(conn_t *k);
/** Detaches and closes the current connection, fails its in-flight requests
 * and schedules a reconnect (unless the client is closing or auth failed).
 * code and msg (borrowed) describe why for the application. */
void parley__conn_drop(parley_client_t *c, int close_code, const char *code, const char *msg);
/** Encodes msg (borrowed) as one text frame on the current connection.
 * Returns PARLEY_OK, PARLEY_ENOMEM or PARLEY_EDISCONNECTED (a failed write
 * drops the connection). */
int parley__send_json(parley_client_t *c, const json_t *msg);

/* ---- client_pending.c: requests and replies ---- */

/** Sends the library's own request req (taken) now, answered to icb.
 * Returns PARLEY_OK, or an error when it could not be sent (dropped). */
int parley__send_internal(parley_client_t *c, json_t *req, internal_cb icb);
/** Sends waiting application requests, in order, while fewer than the
 * in-flight limit are unanswered. */
void parley__flush_unsent(parley_client_t *c);
/** Completes the request that reply (borrowed, its "re" is re) answers. */
void parley__pending_answer(parley_client_t *c, const json_t *re, json_t *reply);
/** Fails pending requests with a local error reply: those sent on
 * connection gen, or all when gen is 0. */
void parley__pending_fail(parley_client_t *c, uint64_t gen, const char *code, const char *msg);
/** Removes a pending request without calling its callback, and sends the
 * requests waiting for its place. */
void parley__pending_cancel(parley_client_t *c, int64_t id);

/* ---- client_events.c: incoming frames and events ---- */

/** Starts an unknown room (a Room, borrowed) at its end: position last_seq,
 * and version last_version unless a version is known ("from now" mode). */
void parley__position_seed(parley_client_t *c, const json_t *room);
/** Handles one text frame (len bytes, borrowed): a reply or an event. */
void parley__handle_frame(parley_client_t *c, const uint8_t *data, size_t len);
/** Handles one event (borrowed): dedupes messages and updates, delivers. */
void parley__handle_event(parley_client_t *c, json_t *ev);

/* ---- client_sync.c: auth and sync ---- */

/** Sends auth on a fresh connection (with `since` on a reconnect). Returns
 * PARLEY_OK or an error when it could not be sent. */
int parley__auth_start(parley_client_t *c);
/** Catches up with a sync from the current positions (or marks one as
 * needed when a sync is in flight). */
void parley__start_sync(parley_client_t *c);

#endif
