/* SPDX-License-Identifier: MIT */
/* loops.h -- internals of net/loops.c: several event loops (threads > 1).
 * Not for the upper layer, which still sees one pl_server_t (server.h).
 *
 * Loop 0, the core loop, is the loop pl_server_new() was given: it runs the
 * upper layer (chat, api, media, store callbacks) and owns connections like a
 * single-loop server. Loops 1..N-1 are I/O loops, each in its own thread with
 * its own pl_server_t and listener (SO_REUSEPORT). An I/O loop keeps the
 * message connections (WebSockets) it accepted; their events (open, message,
 * drain, close) go to the core loop, and the core's sends and closes on them
 * come back, both through lock-free queues of batches (one wakeup per loop
 * per batch). Every other connection is handed to the core loop as a file
 * descriptor (pl_net__hand_over: http/ decides, before its first request is
 * parsed). */
#ifndef PL_NET_LOOPS_H
#define PL_NET_LOOPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_loops pl_loops_t; /* the group, shared by every loop */
typedef struct pl_loop pl_loop_t;   /* one loop's slot in the group */

/* Per-connection state of the multi-loop layer (pl_conn.x, allocated for I/O
 * loops' connections only).
 * Plain fields, never bitfields: the owner loop and the core loop write
 * different members concurrently, and C11 only makes that race-free for
 * separate memory locations. */
typedef struct pl_conn_xloop {
    /* written by the owning loop */
    bool reported;        /* on_open went to the core: free waits for its release */
    bool dead;            /* closed; freed when the core's release arrives */
    atomic_size_t taken;  /* bytes of core sends taken off the inbox (cumulative) */
    atomic_size_t queued; /* mirror of pl_conn.queued for the core */
    char pad_[64];        /* keeps the core's fields off the owner's cache line */
    /* written by the core loop only */
    size_t posted;      /* bytes of sends posted to the owner (cumulative) */
    size_t seen_taken;  /* taken and queued as last read: the queue estimate */
    size_t seen_queued; /* posted - seen_taken + seen_queued only overestimates */
    bool closing;       /* the core closed it or heard it closed: sends fail */
} pl_conn_xloop_t;

/** True in the threads of I/O loops (false in the core loop's thread). */
extern _Thread_local bool pl_net__on_io;

/** True when the calling thread is the core loop and c belongs to an I/O
 * loop: the public pl_conn_* calls then go through the queues. */
#define PL_NET_REMOTE(c) ((c)->srv->io && !pl_net__on_io)

#endif
