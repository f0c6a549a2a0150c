/* SPDX-License-Identifier: MIT */
/* state.h -- ephemeral state shared by the nodes in Redis (issue 13):
 * presence with a per-node TTL, and per-user rate-limit buckets. Redis is
 * never the system of record for any of it: everything here can be lost
 * (a Redis restart, a node reaped by mistake) and is rebuilt from the
 * nodes' own sessions and counters.
 *
 * Keys (one Redis, ordinary keys; the Lua scripts touch keys they compute,
 * so this is not Redis Cluster ready, like the bus's ordinary channels):
 *
 *   pl:live         sorted set: node -> the Redis time (ms) its presence
 *                   expires at, pushed forward by every heartbeat
 *   pl:pn:<node>    hash: user id -> that node's status of the user
 *                   (1 online, 2 away; absent: offline or hidden)
 *   pl:ps:<user>    the user's status over all live nodes (1 or 2; absent:
 *                   offline): what contacts were last told
 *   pl:rl:<user>    hash {t: tokens, a: ms}: the user's request bucket over
 *                   all nodes; expires once it would be full again
 *
 * Every write of presence recomputes the status of the users it touched
 * over the live nodes (score >= now) and compares it with pl:ps:<user>, in
 * one Lua script (atomic): a change is returned to exactly one caller, the
 * node that then tells the contacts. A heartbeat also reaps the nodes whose
 * time is past (a node killed with -9): their hashes go, and the users that
 * become offline by it are returned to the reaping node. Times are Redis'
 * own clock (TIME), so node clocks do not matter.
 *
 * Every call answers once, through its callback: rc 0 with the results, or
 * rc < 0 (PL_ECLOSED: Redis unreachable or the connection went away before
 * the reply; PL_EPROTO: an unexpected reply) with none. A call made while
 * the publishing connection is down fails at once (returns PL_ECLOSED, no
 * callback). Threading: the loop of the cluster it was made for. */
#ifndef PL_CLUSTER_STATE_H
#define PL_CLUSTER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

#define PL_CSTATE_BATCH 4096 /* users per script call; more are split */

typedef struct pl_cstate pl_cstate_t;

/** One user's presence status (0 offline, 1 online, 2 away). */
typedef struct {
    int64_t user;
    int status;
} pl_cstate_pres_t;

/** changes: the users whose status over all nodes changed (borrowed). */
typedef void (*pl_cstate_pres_cb)(void *arg, int rc, const pl_cstate_pres_t *changes, size_t n);
/** rejoined: this node was not in pl:live (first heartbeat, reaped after a
 * stall, or Redis restarted empty): its users must be registered again. */
typedef void (*pl_cstate_hb_cb)(void *arg, int rc, bool rejoined, const pl_cstate_pres_t *changes,
                                size_t n);
/** status[i] for the i-th user asked (0 offline). */
typedef void (*pl_cstate_get_cb)(void *arg, int rc, const int *status, size_t n);
/** tokens[i]: the i-th user's shared bucket after the counts were taken. */
typedef void (*pl_cstate_rate_cb)(void *arg, int rc, const double *tokens, size_t n);

/** Shared state over cl's publishing connection; a node's presence expires
 * ttl_ms after its last heartbeat. Borrows cl (free this first). */
pl_cstate_t *pl_cstate_new(pl_cluster_t *cl, int64_t ttl_ms);
/** Frees st once its calls have answered (they answer PL_ECLOSED when the
 * cluster is freed). NULL ok. */
void pl_cstate_free(pl_cstate_t *st);

/** The publishing connection is up (calls can be made). */
bool pl_cstate_up(pl_cstate_t *st);
/** Changes after every reconnect of the publishing connection. */
uint64_t pl_cstate_epoch(pl_cstate_t *st);

/** Sets this node's status of n users (0: this node has them no longer).
 * replace: these are all of the node's users (the others it had go), and
 * the node joins pl:live; otherwise a node that is not in pl:live (not
 * yet registered, or reaped) does not count until its next replace. */
int pl_cstate_presence_set(pl_cstate_t *st, bool replace, const pl_cstate_pres_t *mine, size_t n,
                           pl_cstate_pres_cb cb, void *arg);
/** Heartbeat: pushes this node's expiry forward and reaps expired nodes. */
int pl_cstate_heartbeat(pl_cstate_t *st, pl_cstate_hb_cb cb, void *arg);
/** Status of n users (at most PL_CSTATE_BATCH) over all nodes. */
int pl_cstate_presence_get(pl_cstate_t *st, const int64_t *users, size_t n, pl_cstate_get_cb cb,
                           void *arg);
/** Takes counts[i] tokens from users[i]'s shared bucket (rate per second,
 * burst; it may go down to -burst: a debt paid back before the next token)
 * for n users (at most PL_CSTATE_BATCH). */
int pl_cstate_rate_take(pl_cstate_t *st, double rate, double burst, const int64_t *users,
                        const uint32_t *counts, size_t n, pl_cstate_rate_cb cb, void *arg);

/* Reply decoders (pure; exposed for the unit tests). r is a redisReply. */
/** Pairs (user string, status integer 0..2) from element `first` on.
 * Returns the count (malloc'd array in *out, NULL when 0) or PL_EPROTO. */
int pl_cstate__decode_changes(const void *r, size_t first, pl_cstate_pres_t **out);
/** n statuses: nil -> 0, "1" / "2" -> 1 / 2; anything else PL_EPROTO. */
int pl_cstate__decode_status(const void *r, size_t n, int *out);
/** n finite numbers as strings. Returns 0 or PL_EPROTO. */
int pl_cstate__decode_tokens(const void *r, size_t n, double *out);

#endif
