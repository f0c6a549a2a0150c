/* SPDX-License-Identifier: MIT */
/* client_internal.h -- the parley_client_t layout, shared by client.c (async
 * core) and blocking.c (blocking API). */
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
    bool upgraded; /* handshake done, bytes are frames */
    int close_code; /* from the server's close frame */
    char key[32];   /* Sec-WebSocket-Key */
    uint8_t *in;    /* received, not yet consumed bytes */
    size_t in_len, in_off, in_cap;
    pl_ws_decoder_t dec; /* server frames (src/ws, shared with parleyd) */
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
    bool auth_sync; /* the auth in flight carries `since` (a reconnect) */
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

/** Removes a pending request without calling its callback, and sends the
 * requests waiting for its place. */
void parley__pending_cancel(parley_client_t *c, int64_t id);

#endif
