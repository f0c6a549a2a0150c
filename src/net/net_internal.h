/* SPDX-License-Identifier: MIT */
/* net_internal.h -- net/'s own internals (server, loops, peers, conn). The
 * protocols above use net/conn.h, the upper layer net/server.h. */
#ifndef PL_NET_NET_INTERNAL_H
#define PL_NET_NET_INTERNAL_H

#include "net/conn.h"

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "net/loops.h"

typedef struct pl_peers pl_peers_t;

#define PL_NET_LINGER_MS 2000   /* graceful close: wait this long for the peer's FIN */
#define PL_NET_SHUTDOWN_MS 2000 /* shutdown: connections left after this are closed */

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
    pl_peers_t *peers;            /* per-address counts, trusted proxies (all loops) */
    pl_log_gate_t refused_log;    /* refused connections: one line a second */
    pl_log_gate_t accept_err_log; /* accept errors: one line a second */
    /* several loops (net/loops.c); NULL / false with threads = 1 */
    pl_loops_t *loops; /* the group */
    pl_loop_t *xl;     /* this server's loop in the group */
    bool io;           /* an I/O loop: message events go to the core loop */
    /* built-in TLS (net/tls.c), on every loop's server; NULL / 0 off. Each
     * loop holds its own reference to the context: the core replaces its
     * own on SIGHUP and posts a new reference to each I/O loop. */
    uv_tcp_t *tls_listener;     /* accepts connections that speak TLS */
    struct ssl_ctx_st *tls_ctx; /* SSL_CTX of new connections (SIGHUP replaces it) */
    int tls_port;
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
/** Starts srv's TLS listener on fd (bound and listening already; owned), or
 * binds it to ss when fd < 0. srv->tls_ctx must be set. Returns 0 or a
 * UV_E* code (the handle is closed with the server's). srv's loop. */
int pl_server__tls_listen(pl_server_t *srv, int fd, const struct sockaddr_storage *ss);

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
/** I/O loop: hands c to the core loop (pl_net__hand_over). */
void pl_loops__hand_over(pl_conn_t *c);
/** Frees c now, or later when the core loop still holds it. */
void pl_loops__conn_free(pl_conn_t *c);
/** The core loop's side of pl_conn_send_frame / close on a
 * connection of an I/O loop. */
int pl_loops__send(pl_conn_t *c, pl_frame_t *f, bool reply);
void pl_loops__close(pl_conn_t *c, uint16_t code, const char *reason);
/** The core loop's side of pl_conn_set_authenticated. */
void pl_loops__authenticated(pl_conn_t *c);
/** Core loop, TLS start (srv->tls_ctx loaded): binds one SO_REUSEPORT
 * socket per loop on ss, listens on the core's and posts the others (with
 * a reference to the context) to their loops. Returns 0 or a UV_E* code. */
int pl_loops__tls_start(pl_server_t *srv, const struct sockaddr_storage *ss);
/** Core loop, SIGHUP: posts a new reference to ctx to every I/O loop, which
 * drops its old one (open sessions keep theirs). */
void pl_loops__tls_ctx(pl_server_t *srv, struct ssl_ctx_st *ctx);
/** Loop stats of loop k (0: the core), for pl_server_get_loop_stats. */
void pl_loops__loop_stats(const pl_server_t *srv, int k, pl_server_stats_t *out);

/* ---- net/frame.c ---- */
/** frames_encoded so far (pl_net__count_encoded; any thread). */
uint64_t pl_net__frames_encoded(void);

/* ---- net/conn.c ---- */
/** Core loop: takes over a connection an I/O loop accepted (fd, owned) with
 * the bytes it read already (copied); eof: the peer finished sending; ipe:
 * its per-address count (owned: released when the connection closes). */
void pl_net__adopt(pl_server_t *srv, int fd, const void *p, size_t n, bool eof, pl_peer_ent_t *ipe,
                   struct pl_tls_conn *tls);
/** I/O loop, handing c over: takes c's TLS session (NULL for plain) out of
 * c, so it moves with the socket. NULL with *ok false when it cannot move
 * now (ciphertext of an unfinished write would be lost): c must be closed. */
struct pl_tls_conn *pl_net__tls_take(pl_conn_t *c, bool *ok);
/** Accepts one connection from the listener (tls: from the TLS listener). */
void pl_net__accept(pl_server_t *srv, bool tls);
/** Runs scheduled resumes and flushes. */
void pl_net__flush_all(pl_server_t *srv);

#endif
