/* SPDX-License-Identifier: MIT */
/* chat.h -- the chat core: WebSocket sessions, the op table, rooms and
 * membership routing, fan-out of committed messages, history and sync.
 *
 * Threading: everything runs on the loop thread. State that must survive a
 * round trip to the store (a session waiting for a reply) is refcounted; the
 * store's done callbacks run on this same thread, so there are no locks.
 *
 * In memory: every room with its member list (loaded at startup, updated by
 * the done callbacks of membership writes — all membership changes go through
 * this process), and the online users with their sessions. */
#ifndef PL_CHAT_CHAT_H
#define PL_CHAT_CHAT_H

#include <stdint.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "core/config.h"
#include "net/server.h"
#include "store/store.h"
#include "ws/ws_conn.h"

typedef struct pl_chat pl_chat_t;

/** Creates the chat core and loads rooms and memberships with
 * pl_store_direct() (startup only). Returns 0 or PL_EIO. Borrows everything. */
int pl_chat_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_chat_t **out);
void pl_chat_free(pl_chat_t *chat);
/** The server is down and the store about to close: the tick (sweeper,
 * presence grace) stops, so no job reaches a closed store even when a later
 * uv_run fires due timers. Idempotent; loop thread. */
void pl_chat_stop(pl_chat_t *chat);

/** Attaches the server whose WebSocket callbacks are pl_chat_on_ws_*. */
void pl_chat_set_server(pl_chat_t *chat, pl_server_t *srv);

/* WebSocket handlers (pl_server_handlers_t), ud = chat. */
void pl_chat_on_ws_open(void *ud, pl_conn_t *c);
void pl_chat_on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len);
void pl_chat_on_ws_close(void *ud, pl_conn_t *c);
/** The connection's queue drained after a reply: streams the next part of
 * the session's pending replies (pl_server_handlers_t.on_drain). */
void pl_chat_on_ws_drain(void *ud, pl_conn_t *c);

/** Closes every WebSocket of the given device (after logout). */
void pl_chat_close_device(pl_chat_t *chat, int64_t user_id, int64_t device_id, uint16_t code,
                          const char *reason);

/** Fills h with the chat core's bus callbacks (relay.c), for
 * pl_cluster_new. */
void pl_chat_cluster_handlers(pl_chat_t *chat, pl_cluster_handlers_t *h);
/** Attaches the bus (borrowed; NULL: single node). Call before the server
 * starts; detach (NULL) before freeing the bus. */
void pl_chat_set_cluster(pl_chat_t *chat, pl_cluster_t *cl);
struct pl_push;
/** Attaches Web Push (issue 15; borrowed, NULL: off): sends then enqueue
 * push jobs in their write job and call wake(ud) after the commit (the
 * job runner's pl_jobs_wake). Before the server starts. */
void pl_chat_set_push(pl_chat_t *chat, struct pl_push *push, void (*wake)(void *ud), void *ud);

/* ---- integrations (issue 16: webhooks.c) ---- */

/** Whether user may create, list and revoke room's integrations (webhooks).
 * The one place that decides it: today every member may; with room roles
 * it becomes a role check. Loop thread. */
bool pl_chat_may_manage_integrations(pl_chat_t *chat, int64_t room, int64_t user);

/** The outcome of pl_chat_post: status 0 with the stored message (borrowed
 * for the call; duplicate: client_id was used before and m is the
 * original), PL_ENOTFOUND when the store refused (the room or the sender is
 * gone), or another negative store code. */
typedef void (*pl_chat_post_cb)(void *ud, int status, const pl_message_t *m, bool duplicate);

/** Posts content (serialized JSON of a checked content object; taken) into
 * room_id as sender, on the path of `send`: deduplicated by (sender,
 * client_id), stored with the group commit, then fanned out to every
 * member's connections (and the other nodes), pushed to offline members
 * (sender_name names the sender in notifications) and indexed for search.
 * Returns PL_EFORBIDDEN at once (cb not called) when sender is not a member
 * of room_id; otherwise 0 and cb(ud, ...) runs once later. Loop thread. */
int pl_chat_post(pl_chat_t *chat, int64_t room_id, int64_t sender, const char *sender_name,
                 const char *client_id, char *content, pl_chat_post_cb cb, void *ud);

/** Counters for tests (exposed over GET /v1/stats for loopback peers). */
#define PL_CHAT_ERR_CODES 64 /* distinct error codes counted (issue 17) */
typedef struct {
    uint64_t sessions;          /* open WebSockets */
    uint64_t messages_stored;   /* committed sends */
    uint64_t events_fanned_out; /* frame references queued to connections */
    uint64_t frames_built;      /* message events serialized (one per message) */
    uint64_t syncs_from_ring;   /* syncs answered from the rooms' in-memory rings */
    uint64_t syncs_from_store;  /* syncs that read the database */
    uint64_t ring_bytes;        /* bytes of frames the rings hold */
    /* cluster (relay.c) */
    uint64_t cluster_received;   /* bus messages from other nodes */
    uint64_t cluster_bad;        /* malformed bus messages dropped */
    uint64_t cluster_duplicates; /* message/update events already delivered */
    uint64_t cluster_gaps;       /* events past a gap (a backfill started) */
    uint64_t cluster_backfills;  /* store reads that filled gaps */
    uint64_t cluster_backfilled; /* messages those delivered */
    uint64_t cluster_resyncs;    /* Redis reconnects caught up */
    /* state shared in Redis (shared.c) */
    uint64_t presence_shared_sets;   /* this node's presence changes written */
    uint64_t presence_shared_events; /* status changes over all nodes told from here */
    uint64_t presence_registers;     /* whole entries written (start, reconnect, reaped) */
    uint64_t presence_reaped;        /* users of dead nodes whose status changed, here */
    uint64_t rate_shared_syncs;      /* request counts reconciled */
    uint64_t rate_shared_cuts;       /* local buckets cut down to the shared one */
    /* cluster failure detection (relay.c) */
    uint64_t cluster_peer_catchups; /* catch-ups after a peer lost publishes or died */
    uint64_t cluster_room_loads;    /* rooms read after another node created or changed them */
    /* membership catch-up (catchup.c) */
    uint64_t cluster_catchups;  /* membership / invitation / receipt catch-ups done */
    uint64_t cluster_caught_up; /* events those delivered (room, member, invite, receipt) */
    /* error replies by code (issue 17, /metrics): codes are static strings;
     * past PL_CHAT_ERR_CODES distinct ones the rest count as "other" */
    struct {
        const char *code;
        uint64_t n;
    } errors[PL_CHAT_ERR_CODES];
    uint32_t nerrors;
} pl_chat_stats_t;
void pl_chat_get_stats(const pl_chat_t *chat, pl_chat_stats_t *out);

#endif
