/* SPDX-License-Identifier: MIT */
/* cluster.h -- the cross-node bus: Redis pub/sub through hiredis' async API
 * on the core libuv loop (<hiredis/adapters/libuv.h>).
 *
 * One connection publishes (and runs other commands), one subscribes. The
 * module knows channels and bytes, not chat: the chat core says which
 * channels it wants (pl_cluster_watch) and gets each message and each
 * reconnect through callbacks. Channel changes are batched: the wanted set
 * is compared with the subscribed set at the end of the loop turn and the
 * differences go out as SUBSCRIBE / UNSUBSCRIBE commands of up to
 * PL_CLUSTER_BATCH channels each, never two commands for one channel at a
 * time (hiredis 0.14 keeps one callback per channel, and an UNSUBSCRIBE
 * reply arriving after a new SUBSCRIBE would drop the new one). Ordinary
 * channels only: Debian's hiredis 0.14 aborts on an async SSUBSCRIBE.
 *
 * A lost connection is retried with exponential backoff and full jitter (so
 * the nodes of a cluster do not all come back at the same millisecond) up
 * to redis_reconnect_max_ms; after it, every wanted channel is subscribed
 * again in batches and, once all are confirmed, on_resync runs: messages
 * published meanwhile are lost, and the chat core backfills from the store
 * (Redis is never the system of record).
 *
 * Failure detection between nodes, on the channel pl:nodes (always
 * subscribed): every node publishes a heartbeat each cluster_heartbeat_ms;
 * a peer not heard from for cluster_peer_timeout_ms (while this node's own
 * subscribing connection was up) is taken for dead, and a node whose
 * publishes were dropped or failed says so once its publishing connection
 * is back. Both call on_peer_gap: a node killed between a COMMIT and its
 * PUBLISH, or one that could not publish, leaves events in the store that
 * no later event may ever reveal as a gap.
 *
 * Threading: everything on the loop given to pl_cluster_new. */
#ifndef PL_CLUSTER_CLUSTER_H
#define PL_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"

#define PL_CLUSTER_BATCH 512 /* channels per SUBSCRIBE / UNSUBSCRIBE command */

typedef struct pl_cluster pl_cluster_t;

typedef struct {
    /** A message on a subscribed channel (both borrowed for the call). */
    void (*on_message)(void *ud, const char *channel, size_t chlen, const char *data, size_t len);
    /** A channel's subscription was confirmed (after pl_cluster_watch or a
     * reconnect); channel borrowed. May be NULL. */
    void (*on_subscribed)(void *ud, const char *channel);
    /** After a reconnect, every wanted channel is subscribed again: events
     * published while the bus was down are lost, catch up from the store.
     * since_ms: the wall-clock time (ms) the subscribing connection was
     * lost; events committed from then on may be missing. */
    void (*on_resync)(void *ud, int64_t since_ms);
    /** Another node may have committed events this node never heard of: it
     * said that publishes of its own were lost (dropped or failed while its
     * Redis connection was down), or it went silent for
     * cluster_peer_timeout_ms (killed, or cut off from Redis). Catch up from
     * the store. node borrowed for the call. since_ms: the wall-clock time
     * (ms, the peer's own clock for a lost publish) from which its events
     * may be missing: its first lost publish, or when it was last heard
     * (for a recheck of a dead peer: the previous check). May be NULL. */
    void (*on_peer_gap)(void *ud, const char *node, int64_t since_ms);
    void *ud;
} pl_cluster_handlers_t;

typedef struct {
    bool connected;           /* both connections up */
    uint64_t subscriptions;   /* channels subscribed now (confirmed) */
    uint64_t wanted;          /* channels wanted */
    uint64_t sub_commands;    /* SUBSCRIBE + UNSUBSCRIBE commands sent */
    uint64_t published;       /* PUBLISH commands sent */
    uint64_t publish_dropped; /* not sent: no connection */
    uint64_t publish_failed;  /* sent, but the connection went away before Redis answered */
    uint64_t heartbeats;      /* heartbeats sent (not in published) */
    uint64_t peers;           /* other nodes heard from within cluster_peer_timeout_ms */
    uint64_t peers_lost;      /* other nodes that went silent */
    uint64_t peer_gaps;       /* on_peer_gap calls (a peer's lost publishes or silence) */
    uint64_t received;        /* messages received */
    uint64_t reconnects;      /* connections (re)established after the first */
} pl_cluster_stats_t;

/** Creates the bus for cfg->redis (must be non-empty) and starts connecting;
 * the node's name is cfg->node_id, or hostname-pid. Returns 0, or PL_EINVAL
 * for a bad address or node name. Borrows loop and cfg (they outlive it);
 * handlers is copied. */
int pl_cluster_new(uv_loop_t *loop, const pl_config_t *cfg, const pl_cluster_handlers_t *h,
                   pl_cluster_t **out);
/** Disconnects and frees (its handles close on the next loop turns). NULL ok. */
void pl_cluster_free(pl_cluster_t *cl);

/** This node's name (valid while cl lives). */
const char *pl_cluster_node(const pl_cluster_t *cl);

/** Wants channel (on) or no longer (off). Idempotent; the command goes out
 * batched at the end of the loop turn. channel is copied. */
void pl_cluster_watch(pl_cluster_t *cl, const char *channel, bool on);

/** PUBLISH channel data (copied into hiredis' output buffer). Dropped (and
 * counted) while the publishing connection is down. */
void pl_cluster_publish(pl_cluster_t *cl, const char *channel, const char *data, size_t len);

/** Both connections are up and the node's first subscriptions confirmed. */
bool pl_cluster_ready(const pl_cluster_t *cl);

void pl_cluster_get_stats(const pl_cluster_t *cl, pl_cluster_stats_t *out);

/* For other cluster/ modules (state.c: presence and rate limits shared in
 * Redis). */
/** The publishing connection's hiredis context (a redisAsyncContext *)
 * while it is up, else NULL. Commands sent on it keep their order with the
 * node's publishes. */
void *pl_cluster__pub(pl_cluster_t *cl);
/** Successful connects of the publishing connection so far (changes after a
 * reconnect: state kept in Redis may be gone). */
uint64_t pl_cluster__pub_epoch(const pl_cluster_t *cl);

#endif
