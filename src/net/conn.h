/* SPDX-License-Identifier: MIT */
/* conn.h -- the connection as a protocol sees it: what net/ offers to the
 * protocols above it (http/, ws/), which install their reader on a
 * connection (pl_conn_set_proto) and are called back through it. Net knows
 * no protocol: it reads into c->rbuf and calls c->proto->read, keeps the
 * write queue, the timers' sweep and the loops, and reports the events of a
 * message connection (pl_net__opened and friends) to the upper layer.
 * Not for the upper layer, which uses server.h only. */
#ifndef PL_NET_CONN_H
#define PL_NET_CONN_H

#include "net/server.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/addr.h"
#include "core/buf.h"

/* A refcounted, immutable byte run on a write queue (a protocol's frame, a
 * response, raw bytes). */
struct pl_frame {
    atomic_uint refs; /* frames cross loops (threads > 1): relaxed ref, acq_rel unref */
    size_t len;
    uint8_t data[];
};

/** What a protocol does with a connection; one static table per protocol.
 * Every callback runs on the loop that owns c's socket. */
typedef struct pl_conn_proto {
    /** Input: bytes in c->rbuf (consume what was used; a partial unit stays
     * for the next read), or a resume the protocol asked for (need_resume +
     * pl_net__schedule). Required. */
    void (*read)(pl_conn_t *c);
    /** The peer finished sending (EOF; c no longer reads). NULL: net closes c
     * at once. Otherwise the protocol finishes c when it is done. */
    void (*eof)(pl_conn_t *c);
    /** The write queue emptied (not called while net closes c). Optional. */
    void (*drained)(pl_conn_t *c);
    /** n > 0 queued bytes were written; waited: by a write that had to wait
     * (its callback), not the immediate try. Optional. */
    void (*progress)(pl_conn_t *c, size_t n, bool waited);
    /** The server's periodic sweep (timeouts, pings); not called while net
     * lingers after a shutdown. Required. */
    void (*sweep)(pl_conn_t *c, uint64_t now);
    /** The server shuts down: end c the protocol's way. Required. */
    void (*shutdown)(pl_conn_t *c);
    /** c is refused before any input (max_connections_per_ip): queue the
     * protocol's refusal; net then finishes c. Optional. */
    void (*refuse)(pl_conn_t *c);
    /** The handle closed: release proto_data. Called once; net forgets the
     * protocol afterwards. Optional. */
    void (*closed)(pl_conn_t *c);
    /* Message connections (after pl_net__opened): the owner loop's side of
     * pl_conn_send_frame / _reply (reply), pl_conn_close,
     * pl_conn_set_authenticated, and of a slow-consumer close the core loop
     * decided (threads > 1). NULL: send fails with PL_ECLOSED, the others
     * do nothing. */
    int (*send)(pl_conn_t *c, pl_frame_t *f, bool reply);
    void (*close)(pl_conn_t *c, uint16_t code, const char *reason);
    void (*authenticated)(pl_conn_t *c);
    void (*slow)(pl_conn_t *c);
    /** A connection on the TLS listener began with what looks like a plain
     * request (http:// to the https port): queue the protocol's refusal
     * (sent in clear); net then finishes c. Optional (NULL: just closed). */
    void (*plain_on_tls)(pl_conn_t *c);
} pl_conn_proto_t;

/* Shared by every loop of a server (net/peers.c). */
typedef struct pl_peer_ent pl_peer_ent_t; /* one address's connection count */

/** Room for a formatted peer address (INET6_ADDRSTRLEN) and its NUL. */
#define PL_NET_PEER_LEN PL_ADDR_TEXT

/* What a queued frame costs beyond its bytes (the allocation's header and
 * rounding, the queue slot): charged by protocols for the frames they queue
 * by themselves, so a flood of empty ones meets max_write_queue too. */
#define PL_NET_ENTRY_COST 64

/* One TCP connection. Kept small on purpose: an authenticated idle
 * WebSocket should cost < 1 KiB of server memory in total (issue 5; see
 * docs/performance.md), and this struct is about half of that. Nothing here
 * is preallocated for a rare event: the protocol's state hangs off
 * proto_data, write and shutdown requests are allocated per use, and the
 * peer address is 16 raw bytes, formatted on demand. */
struct pl_conn {
    uv_tcp_t tcp; /* first member; tcp.data holds the upper layer's pointer (pl_conn_data) */
    pl_server_t *srv;
    uint64_t id;
    const pl_conn_proto_t *proto; /* the reader its protocol installed; NULL once closed */
    void *proto_data;             /* that protocol's state (its own; ws: its decoder) */
    pl_conn_t *prev, *next;       /* srv->conns */
    pl_conn_t *fprev, *fnext;     /* srv->flush list */
    pl_buf_t rbuf;                /* leftovers of a partial frame/request; no storage when idle */
    uint64_t last_rx;             /* uv_now() of the last read */
    /* write queue: frames [wq_head, wq_tail) of wq, wq_off bytes of the first
     * already written; `queued` unwritten bytes in total. */
    pl_frame_t **wq;
    uint32_t wq_head, wq_tail, wq_cap;
    uint32_t inflight_items; /* queue entries in the uv_write in progress (its
                              * byte count travels in the request: conn.c) */
    uint32_t wq_off;         /* within one frame (frames are far below 4 GiB) */
    /* The flags and the protocol's own bits share the word after wq_off, so
     * the struct is 440 bytes: a 448-byte malloc chunk (issue 14). */
    unsigned in_flush : 1;    /* on srv->flush list */
    unsigned need_resume : 1; /* the protocol wants read() again at the end of the turn */
    unsigned writing : 1;     /* a uv_write is in progress */
    unsigned reading : 1;
    unsigned closing : 1;           /* uv_close called */
    unsigned close_after_write : 1; /* shutdown + close once the queue drains */
    unsigned shut : 1;              /* uv_shutdown issued: lingering */
    unsigned peer_eof : 1;          /* the peer finished sending */
    unsigned opened : 1;            /* pl_net__opened ran: on_close is owed */
    unsigned tls_up : 1;            /* TLS: the handshake finished */
    unsigned tls_resume : 1;        /* TLS: decrypt buffered input at the end of the turn */
    unsigned proto_bits : 16;       /* the protocol's own flags (ws: 9 of them) */
    size_t queued;
    /* shut: the linger deadline (peer's FIN), net's; otherwise the
     * protocol's own (ws: close handshake, auth, write stall). */
    uint64_t deadline;
    pl_peer_ent_t *ipe; /* its count in srv->peers; NULL: not counted (trusted proxy, no cap) */
    pl_addr_t peer;     /* IPv6, or IPv4 as ::ffff:a.b.c.d; all zero: unknown */
    /* Several loops (net/loops.c): allocated for the connections of I/O
     * loops only, so a single loop (and the core loop) pays 8 bytes. */
    struct pl_conn_xloop *x;
    /* A connection accepted on the TLS listener (net/tls.h): input is
     * decrypted before proto->read sees it, the write queue's plaintext is
     * encrypted as it is flushed. NULL for plain TCP, which pays these 8
     * bytes and one branch per read and per flush, nothing more. */
    struct pl_tls_conn *tls;
};

/** Installs proto (static) with its state on c (proto_bits start at 0);
 * the previous protocol's state is the caller's to release (an upgrade). */
void pl_conn_set_proto(pl_conn_t *c, const pl_conn_proto_t *proto, void *data);

/** True when c came in on the TLS listener (https / wss). */
bool pl_net__is_tls(const pl_conn_t *c);

/** c's loop: its uv_now, config, shutdown state. */
uint64_t pl_net__now(const pl_conn_t *c);
const pl_config_t *pl_net__cfg(const pl_conn_t *c);
bool pl_net__shutting_down(const pl_conn_t *c);
/** True on an I/O loop (threads > 1), which keeps message connections only:
 * anything else goes to the core loop with pl_net__hand_over. */
bool pl_net__io_loop(const pl_conn_t *c);
/** I/O loop: gives c (its socket and the bytes in rbuf) to the core loop,
 * where it is accepted again (on_accept, then read). c closes here. */
void pl_net__hand_over(pl_conn_t *c);
/** The parsed trusted_proxies list (borrowed, read-only, any loop). */
const pl_cidr_list_t *pl_net__trusted(const pl_conn_t *c);
/** Server counters of c's loop (stats of net's own and of protocols). */
pl_server_stats_t *pl_net__stats(pl_conn_t *c);

/** A new frame of head then body (both copied; either may be empty),
 * refcount 1. */
pl_frame_t *pl_frame_new(const void *head, size_t hl, const void *body, size_t len);
/** Counts a frame the protocol encoded for the upper layer (frames_encoded;
 * any thread). */
void pl_net__count_encoded(void);

/** Appends a reference to f (the queue takes a new reference). */
void pl_net__queue(pl_conn_t *c, pl_frame_t *f);
/** Copies bytes into a new queue entry. */
void pl_net__queue_bytes(pl_conn_t *c, const void *p, size_t n);
/** Frees the queue's array if the queue is empty and no write is in flight
 * (idle connections keep none). */
void pl_net__queue_trim(pl_conn_t *c);
/** Drops queued frames that no write is using (slow consumer). */
void pl_net__drop_unsent(pl_conn_t *c);
/** Flushes c at the end of this loop turn (coalesced); with need_resume
 * set, calls read() first. */
void pl_net__schedule(pl_conn_t *c);
/** Graceful close: write what is queued, shut down, wait for the peer's FIN
 * (at most PL_NET_LINGER_MS), then close. Idempotent. */
void pl_net__finish(pl_conn_t *c);
/** Immediate close (uv_close). Idempotent; frees c later. */
void pl_net__abort(pl_conn_t *c);
/** Starts/stops reading. */
void pl_net__read(pl_conn_t *c, bool on);
/** Formats c's peer address into out (PL_NET_PEER_LEN bytes): "127.0.0.1",
 * "::1", or "?" when unknown. Returns out. */
char *pl_net__peer_format(const pl_conn_t *c, char out[PL_NET_PEER_LEN]);

/* ---- message connections: events for the upper layer ----
 * Each runs the server's handler on the core loop: directly, or for an I/O
 * loop's connection through its queue (data copied). */
/** c is a message connection now: on_open, and on_close once it closes. */
void pl_net__opened(pl_conn_t *c);
/** One whole message (data borrowed for the call). */
void pl_net__message(pl_conn_t *c, const char *data, size_t len);
/** The queue drained after a reply frame: on_drain. */
void pl_net__drain(pl_conn_t *c);

#endif
