/* SPDX-License-Identifier: MIT */
/* net_internal.h -- shared internals of net/, http/ and ws/ (the connection
 * state machine). Not for the upper layer: it uses server.h only. */
#ifndef PL_NET_NET_INTERNAL_H
#define PL_NET_NET_INTERNAL_H

#include "net/server.h"

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/http_parse.h"
#include "net/loops.h"
#include "ws/ws.h"

/* A refcounted, immutable byte run on a write queue: a pre-encoded WebSocket
 * frame (data or control), or an HTTP response. */
struct pl_frame {
    atomic_uint refs; /* frames cross loops (threads > 1): relaxed ref, acq_rel unref */
    size_t len;
    uint8_t data[];
};

enum { PL_CONN_HTTP, PL_CONN_WS };

/* Shared by every loop of a server (net/peers.c). */
typedef struct pl_peers pl_peers_t;
typedef struct pl_peer_ent pl_peer_ent_t; /* one address's connection count */

/* What a queued frame costs beyond its bytes (the allocation's header and
 * rounding, the queue slot): charged for the frames net queues by itself
 * (pongs, echoes), so a flood of empty ones meets max_write_queue too. */
#define PL_NET_ENTRY_COST 64

/** Room for a formatted peer address (INET6_ADDRSTRLEN) and its NUL. */
#define PL_NET_PEER_LEN PL_ADDR_TEXT

#define PL_NET_LINGER_MS 2000    /* graceful close: wait this long for the peer's FIN */
#define PL_WS_CLOSE_WAIT_MS 2000 /* close handshake: wait this long for the peer's close */

/* State a connection needs only while it speaks HTTP: allocated at accept,
 * freed at the WebSocket upgrade (pl_http__process), so an open WebSocket
 * carries none of it. */
typedef struct {
    pl_http_parse_t hp;
    pl_http_req_t *req;  /* handed to on_http, not answered yet */
    uint64_t since;      /* start of the current wait: accept, the last response
                          * fully written, a response queued on an empty queue,
                          * or write progress (see pl_http__sweep) */
    uint64_t born;       /* accept: http_keepalive_time_ms counts from here */
    uint32_t nreq;       /* requests taken off the parser (http_keepalive_requests) */
    bool in_process;     /* inside pl_http__process: no re-entry */
    bool blocked;        /* unsent responses over max_http_unsent_bytes: parsing
                          * and reading wait for the queue to drain */
    bool expect_pending; /* a 100 Continue is owed once the paused stream resumes */
} pl_http_state_t;

/* One TCP connection. Kept small on purpose: an authenticated idle
 * WebSocket should cost < 1 KiB of server memory in total (issue 5; see
 * docs/performance.md), and this struct is about half of that. Nothing here
 * is preallocated for a rare event: HTTP state lives in `http` (HTTP only),
 * write and shutdown requests are allocated per use, the WebSocket decoder
 * owns memory only while a fragmented message is incomplete, and the peer
 * address is 16 raw bytes, formatted on demand. */
struct pl_conn {
    uv_tcp_t tcp; /* first member; tcp.data holds the upper layer's pointer (pl_conn_data) */
    pl_server_t *srv;
    uint64_t id;
    pl_conn_t *prev, *next;   /* srv->conns */
    pl_conn_t *fprev, *fnext; /* srv->flush list */
    pl_buf_t rbuf;            /* leftovers of a partial frame/request; no storage when idle */
    uint64_t last_rx;         /* uv_now() of the last read */
    /* write queue: frames [wq_head, wq_tail) of wq, wq_off bytes of the first
     * already written; `queued` unwritten bytes in total. */
    pl_frame_t **wq;
    uint32_t wq_head, wq_tail, wq_cap;
    uint32_t inflight_items; /* queue entries in the uv_write in progress (its
                              * byte count travels in the request: conn.c) */
    size_t wq_off, queued;
    /* shut: the linger deadline (peer's FIN); WebSocket closing: the close
     * handshake deadline (peer's close frame); WebSocket before auth: the
     * auth deadline; after: when a queue that stopped moving makes the
     * client a slow consumer (0: moving or empty). */
    uint64_t deadline;
    pl_http_state_t *http; /* NULL once upgraded to WebSocket */
    pl_peer_ent_t *ipe;    /* its count in srv->peers; NULL: not counted (trusted proxy, no cap) */
    /* WebSocket */
    pl_ws_decoder_t dec;      /* inbound frames; NULL pointer unless mid-fragmented-message */
    pl_addr_t peer;           /* IPv6, or IPv4 as ::ffff:a.b.c.d; all zero: unknown */
    unsigned mode : 1;        /* PL_CONN_HTTP or PL_CONN_WS */
    unsigned in_flush : 1;    /* on srv->flush list */
    unsigned need_resume : 1; /* answered asynchronously: continue parsing */
    unsigned writing : 1;     /* a uv_write is in progress */
    unsigned reading : 1;
    unsigned closing : 1;           /* uv_close called */
    unsigned close_after_write : 1; /* shutdown + close once the queue drains */
    unsigned shut : 1;              /* uv_shutdown issued: lingering */
    unsigned peer_eof : 1;          /* the peer finished sending */
    unsigned echo : 1;              /* /v1/echo */
    unsigned opened : 1;            /* on_ws_open ran: on_ws_close is owed */
    unsigned ws_closing : 1;        /* a close frame is queued or was received */
    unsigned ws_close_sent : 1;     /* our close frame is queued */
    unsigned ws_close_rcvd : 1;     /* the peer's close frame arrived */
    unsigned ws_failed : 1;         /* protocol error: our close is queued, input ignored */
    unsigned in_ws : 1;             /* inside pl_ws__process: no re-entry */
    unsigned ping_out : 1;          /* pinged since the last input: no second ping */
    unsigned authed : 1;            /* WebSocket: the upper layer authenticated it (or echo);
                                     * before: max_ws_preauth_message, and `deadline` is the
                                     * ws_auth_timeout_ms deadline */
    unsigned reply_wait : 1;        /* a reply frame was queued: on_ws_drain when empty */
    /* Several loops (net/loops.c): allocated for the connections of I/O
     * loops only, so a single loop (and the core loop) pays 8 bytes. */
    pl_conn_xloop_t *x;
};

struct pl_http_req {
    pl_conn_t *conn;    /* NULL once the connection is gone */
    pl_http_msg_t *msg; /* NULL for parse errors */
    uint64_t conn_id;
    pl_addr_t addr;             /* the client (behind a trusted proxy: the one it names) */
    char peer[PL_NET_PEER_LEN]; /* addr formatted at creation: outlives the connection */
    bool via_proxy;             /* the TCP peer is one of trusted_proxies */
    /* a streamed response (pl_http_respond_start) */
    bool resp_started;
    bool resp_keep;     /* keep-alive after the body */
    uint64_t resp_left; /* body bytes announced and not queued yet */
    int resp_status;
    uint64_t resp_len;
    pl_http_resp_stream_t rs;
};

struct pl_server {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_server_handlers_t h;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_prepare_t prep;
    uv_check_t check;
    int port;
    uint64_t next_id;
    pl_conn_t *conns;
    size_t nconns;
    size_t nrejects; /* over-limit handles still closing */
    pl_conn_t *flush_head;
    pl_server_stats_t stats;
    char rbuf[65536]; /* the loop's read buffer (see conn.c on_alloc) */
    bool shutting_down;
    bool closing_handles;
    int open_handles; /* listener, sweep, prep, check still open */
    uint64_t shutdown_deadline;
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
    pl_peers_t *peers;               /* per-address counts, trusted proxies (all loops) */
    pl_log_gate_t refused_log;       /* refused connections: one line a second */
    pl_log_gate_t accept_err_log;    /* accept errors: one line a second */
    pl_http_headers_cb headers_hook; /* may claim a request for streaming; NULL: none */
    void *headers_hook_ud;
    /* several loops (net/loops.c); NULL / false with threads = 1 */
    pl_loops_t *loops; /* the group */
    pl_loop_t *xl;     /* this server's loop in the group */
    bool io;           /* an I/O loop: WebSocket events go to the core loop */
};

/* ---- net/server.c ---- */
/** During shutdown: closes the server's own handles once no connection is
 * left, and runs the shutdown callback after the last one. */
void pl_server__maybe_done(pl_server_t *srv);

/** Creates a server like pl_server_new but listens on fd (bound already)
 * when fd >= 0. On failure fd is closed and srv freed asynchronously. */
int pl_server__new_fd(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h,
                      int fd, pl_server_t **out);
/** Closes a server that never ran (no connections); freed asynchronously. */
void pl_server__discard(pl_server_t *srv);
/** Resolves cfg->listen into ss. */
int pl_server__addr(const pl_config_t *cfg, struct sockaddr_storage *ss);

/* ---- net/peers.c ---- */
/** The shared state for cfg (borrowed; it must outlive the result). */
pl_peers_t *pl_net__peers_new(const pl_config_t *cfg);
/** Frees p (NULL is fine); no connection may still hold an entry. */
void pl_net__peers_free(pl_peers_t *p);
/** The parsed trusted_proxies list (borrowed, read-only). */
const pl_cidr_list_t *pl_net__peers_trusted_list(const pl_peers_t *p);
/** Counts one more connection from a, unless it is trusted, unknown or the
 * cap is 0 (*out = NULL then). Returns 0 with *out the entry to release
 * later, or PL_ETOOBIG when a already has max_connections_per_ip open
 * (nothing counted). *count: a's connections now (or when refused). Any
 * thread (takes the table's mutex). */
int pl_net__peers_admit(pl_peers_t *p, const pl_addr_t *a, pl_peer_ent_t **out, uint32_t *count);
/** Uncounts a connection admitted with e (NULL: nothing). Any thread. */
void pl_net__peers_release(pl_peers_t *p, pl_peer_ent_t *e);

/* ---- net/loops.c ---- */
/** Loop threads for cfg: threads, or the number of online CPUs for 0. */
int pl_loops__count(const pl_config_t *cfg);
/** Creates n > 1 loops: the core server on loop (returned) and n - 1 I/O
 * loops in their own threads. Same contract as pl_server_new. */
int pl_loops__new(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h, int n,
                  pl_server_t **out);
/** End of a loop turn: publishes this loop's batches and stats. */
void pl_loops__turn(pl_server_t *srv);
/** Core loop, shutting down: asks every I/O loop to shut down. */
void pl_loops__shutdown(pl_server_t *srv);
/** Core loop: true once every I/O loop has finished. */
bool pl_loops__finished(const pl_server_t *srv);
/** Core loop: the handle pl_server__maybe_done closes last (the inbox). */
uv_handle_t *pl_loops__handle(pl_server_t *srv);
/** Core loop, after the shutdown callback: joins the threads, frees the group. */
void pl_loops__free(pl_server_t *srv);
/** Adds the I/O loops' published counters to out (core loop). */
void pl_loops__stats(const pl_server_t *srv, pl_server_stats_t *out);
/** Connections open on all loops (srv->nconns with one loop). */
size_t pl_loops__nconns(const pl_server_t *srv);
/** A connection id unique across all loops. */
uint64_t pl_loops__next_id(pl_server_t *srv);
/** Counts a connection opened (+1) or closed (-1) on srv. */
void pl_loops__count_conn(pl_server_t *srv, int delta);
/** I/O loop, before c's first request is parsed: false while the request
 * line is incomplete or after c was handed to the core loop (c is closing),
 * true when c stays here (a WebSocket upgrade). */
bool pl_loops__route(pl_conn_t *c);
/** Frees c now, or later when the core loop still holds it. */
void pl_loops__conn_free(pl_conn_t *c);
/** The core loop's side of pl_conn_send_frame / close / queued on a
 * connection of an I/O loop. */
int pl_loops__send(pl_conn_t *c, pl_frame_t *f, bool reply);
void pl_loops__close(pl_conn_t *c, uint16_t code, const char *reason);
size_t pl_loops__queued(const pl_conn_t *c);
/** The core loop's side of pl_conn_set_authenticated. */
void pl_loops__authenticated(pl_conn_t *c);

/* ---- net/conn.c ---- */
/** Core loop: takes over a connection an I/O loop accepted (fd, owned) with
 * the bytes it read already (copied); eof: the peer finished sending; ipe:
 * its per-address count (owned: released when the connection closes). */
void pl_net__adopt(pl_server_t *srv, int fd, const void *p, size_t n, bool eof, pl_peer_ent_t *ipe);
/** Appends a reference to f (the queue takes a new reference). */
void pl_net__queue(pl_conn_t *c, pl_frame_t *f);
/** Copies bytes into a new queue entry. */
void pl_net__queue_bytes(pl_conn_t *c, const void *p, size_t n);
/** Frees the queue's array if the queue is empty and no write is in flight
 * (idle connections keep none; called from the periodic sweep). */
void pl_net__queue_trim(pl_conn_t *c);
/** Drops queued frames that no write is using (slow consumer). */
void pl_net__drop_unsent(pl_conn_t *c);
/** Flushes c at the end of this loop turn (coalesced). */
void pl_net__schedule(pl_conn_t *c);
/** Graceful close: write what is queued, shut down, wait for the peer's FIN
 * (at most PL_NET_LINGER_MS), then close. Idempotent. */
void pl_net__finish(pl_conn_t *c);
/** Immediate close (uv_close). Idempotent; frees c later. */
void pl_net__abort(pl_conn_t *c);
/** Starts/stops reading. */
void pl_net__read(pl_conn_t *c, bool on);
/** Accepts one connection from the listener. */
void pl_net__accept(pl_server_t *srv);
/** Runs scheduled resumes and flushes. */
void pl_net__flush_all(pl_server_t *srv);
/** Formats c's peer address into out (PL_NET_PEER_LEN bytes): "127.0.0.1",
 * "::1", or "?" when unknown. Returns out. */
char *pl_net__peer_format(const pl_conn_t *c, char out[PL_NET_PEER_LEN]);

/* ---- http/http_conn.c ---- */
/** Allocates c->http for a new connection. */
void pl_http__init(pl_conn_t *c);
/** True while an HTTP request on c waits for its handler's answer. */
static inline bool pl_http__pending(const pl_conn_t *c)
{
    return c->http != NULL && c->http->req != NULL;
}
/** True while pipelined requests wait for c's unsent answers to drain. */
static inline bool pl_http__blocked(const pl_conn_t *c)
{
    return c->http != NULL && c->http->blocked;
}
void pl_http__process(pl_conn_t *c);
void pl_http__sweep(pl_conn_t *c, uint64_t now);
void pl_http__on_close(pl_conn_t *c);
/** The write queue drained (HTTP mode): feeds a streamed response. */
void pl_http__drained(pl_conn_t *c);
/** Appends a whole response (status line, default and security headers,
 * Connection: close, a JSON error body) to out: for refusals written before
 * any request is read. */
void pl_http__canned_error(pl_buf_t *out, int status, const char *code, const char *msg);
/** Answers an internal JSON error on c without a handler (parse errors). */
void pl_http__error_close(pl_conn_t *c, pl_http_msg_t *m, int status, const char *code,
                          const char *msg);

/* ---- ws/ws_conn.c ---- */
void pl_ws__start(pl_conn_t *c, bool echo);
void pl_ws__process(pl_conn_t *c);
void pl_ws__sweep(pl_conn_t *c, uint64_t now);
/** The owner loop's side of pl_conn_set_authenticated. */
void pl_ws__authenticated(pl_conn_t *c);
/** The write queue drained: see whether the close handshake is done. */
void pl_ws__drained(pl_conn_t *c);
/** pl_conn_send_frame (reply false: events) and pl_conn_send_reply on a
 * connection of the calling thread's loop. */
int pl_ws__send(pl_conn_t *c, pl_frame_t *f, bool reply);
/** Releases the WebSocket side (runs on_ws_close if owed). Called once from
 * the handle's close callback. */
void pl_ws__on_close(pl_conn_t *c);
/** Frames a payload with any opcode (not counted in frames_encoded). */
pl_frame_t *pl_ws__frame_new(unsigned opcode, const void *data, size_t len);
uint64_t pl_ws__frames_encoded(void);
/** Frees a frame that is being made from raw bytes (no WebSocket header). */
pl_frame_t *pl_net__raw_new(const void *p, size_t n);

#endif
