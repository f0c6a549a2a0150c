/* SPDX-License-Identifier: MIT */
/* server.h -- parleyd's network floor: TCP listener, connections and their
 * bounded write queues, timers, the loop threads, graceful shutdown. It
 * knows no protocol: the server's on_accept installs one on each new
 * connection (net/conn.h; http/http.h pl_http_accept), and a protocol that
 * turns a connection into a message connection (ws/) reports its events
 * through the handlers below.
 *
 * Threading: everything here runs on the loop thread that owns the server.
 * With cfg->threads > 1 (0: one per online CPU), pl_server_new also starts
 * I/O loops in their own threads (net/loops.c); nothing changes for the
 * caller: every message handler still runs on the loop given to
 * pl_server_new, and the pl_conn_* calls below work there on any
 * connection, whichever loop owns its socket.
 * The upper layer (chat/) sees two kinds of things:
 *   - pl_conn_t: an open message connection; whole messages arrive through
 *     on_message.
 *   - pl_frame_t: immutable, refcounted, already framed bytes, written to
 *     many connections without copying. */
#ifndef PL_NET_SERVER_H
#define PL_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/addr.h"
#include "core/config.h"

typedef struct pl_server pl_server_t;
typedef struct pl_conn pl_conn_t;
typedef struct pl_frame pl_frame_t;

typedef struct {
    /** A connection was accepted (or handed over from an I/O loop): install
     * its protocol with pl_conn_set_proto (net/conn.h). Required. Runs on
     * the loop that owns the connection, any loop thread: accept_ud is
     * shared by every loop and must stay read-only while the server runs. */
    void (*on_accept)(void *accept_ud, pl_conn_t *c);
    void *accept_ud;
    /** A message connection opened (its protocol's handshake completed). */
    void (*on_open)(void *ud, pl_conn_t *c);
    /** One whole message (for WebSocket: fragments reassembled, UTF-8
     * validated, <= max_ws_message). data is borrowed for the call. */
    void (*on_message)(void *ud, pl_conn_t *c, const char *data, size_t len);
    /** The connection is gone (closed by either side or the server). Called
     * exactly once per on_open; c must not be used after it returns. */
    void (*on_close)(void *ud, pl_conn_t *c);
    /** Optional. c's write queue emptied after a pl_conn_send_reply() frame
     * was queued on it: once per such drain (not for queues that held event
     * frames only), never after on_close. The handler may queue more. */
    void (*on_drain)(void *ud, pl_conn_t *c);
    void *ud;
} pl_server_handlers_t;

/** Creates a server on loop with cfg (borrowed; must outlive the server) and
 * binds/listens on cfg->listen (with cfg->threads > 1: one SO_REUSEPORT
 * listener per loop, after checking that nobody else listens there). Returns 0 or a negative UV_E*
 * code (e.g. UV_EADDRINUSE); *out is set only on success. */
int pl_server_new(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h,
                  pl_server_t **out);

/** The port actually bound (useful with port 0). */
int pl_server_port(const pl_server_t *srv);

/** Graceful stop: stop accepting, let each connection's protocol end it
 * (ws: 1001 "server shutting down"; http: after the in-flight response),
 * let queued bytes flush (at most ~2 s), then call cb (on the loop). */
void pl_server_shutdown(pl_server_t *srv, void (*cb)(void *arg), void *arg);

/** Frees the server after pl_server_shutdown's cb ran (all handles closed);
 * joins the I/O loops' threads. */
void pl_server_free(pl_server_t *srv);

/* ---- connections ---- */

/** Server-wide unique id of a connection (for logs). */
uint64_t pl_conn_id(const pl_conn_t *c);
/** Upper-layer pointer; NULL until set. */
void *pl_conn_data(const pl_conn_t *c);
void pl_conn_set_data(pl_conn_t *c, void *data);
/** The client's raw address: the TCP peer, or what the protocol set (ws:
 * behind a trusted proxy, the client named in the upgrade request). */
void pl_conn_client_addr(const pl_conn_t *c, pl_addr_t *out);
/** Client address (as pl_conn_client_addr) as text ("127.0.0.1", "::1"; "?" if unknown). The
 * connection keeps only the raw address, so the text is formatted on each
 * call into a per-thread buffer: it stays valid until the next
 * pl_conn_peer call on the same thread (copy it to keep it). */
const char *pl_conn_peer(const pl_conn_t *c);

/* Frames are made by a protocol (ws/ws_conn.h pl_frame_new_text). */
/** Takes one more reference; returns f. Any thread. */
pl_frame_t *pl_frame_ref(pl_frame_t *f);
/** Drops a reference (NULL is fine); the last one frees f. Any thread. */
void pl_frame_unref(pl_frame_t *f);
/** Encoded size (header + payload). */
size_t pl_frame_size(const pl_frame_t *f);

/** Queues a shared frame (takes a new reference; the caller keeps its own):
 * for events (fan-out). If the connection's queued bytes would exceed max_write_queue, the frame is
 * dropped, the connection is closed as a slow consumer (ws: 4008; unsent
 * frames are discarded so the close goes out promptly) and PL_ETOOBIG is
 * returned. Returns PL_ECLOSED if the connection is closing (or is not a
 * message connection). Writes are coalesced: frames queued during one loop
 * turn go out in one writev. */
int pl_conn_send_frame(pl_conn_t *c, pl_frame_t *f);
/** Tells the connection's protocol that its client authenticated (ws: from
 * now on its messages may be max_ws_message long; before:
 * max_ws_preauth_message, and the connection is closed with 4001 when
 * ws_auth_timeout_ms pass without this call). Call it before queuing the auth reply: the owner loop
 * then applies it before the client can read the reply. Idempotent; works on any connection from
 * the core loop, whichever loop owns its socket. */
void pl_conn_set_authenticated(pl_conn_t *c);
/** Queues a frame the server built in answer to the client (a reply, or the
 * events of a sync the client asked for). Unlike pl_conn_send_frame it is
 * never refused for its own size: only when the queue already holds more than
 * max_write_queue (the client stopped reading) is the connection a slow
 * consumer (closed as above, PL_ETOOBIG). Once the queue has drained after
 * such a frame, the server's on_drain handler runs. Takes a new
 * reference; PL_ECLOSED if the connection is closing. */
int pl_conn_send_reply(pl_conn_t *c, pl_frame_t *f);
/** Closes the message connection the protocol's way with code and reason
 * (<= 123 bytes; ws: the close handshake, then TCP closes after the peer's
 * close frame or a short timeout). Idempotent. on_close fires later. */
void pl_conn_close(pl_conn_t *c, uint16_t code, const char *reason);

/** Counters for tests and stats. */
typedef struct {
    uint64_t connections_accepted;
    uint64_t opened;         /* message connections opened (ws: upgrades, echo too) */
    uint64_t frames_encoded; /* frames a protocol encoded for the upper layer */
    uint64_t frames_queued;  /* frame references queued on connections */
    uint64_t writes;         /* write syscalls (uv_write / uv_try_write) */
    uint64_t slow_consumers; /* closes with 4008 */
    /* built-in TLS (every loop's listener) */
    uint64_t tls_handshakes;         /* TLS handshakes completed */
    uint64_t tls_handshake_failures; /* bad or plain-text handshakes, handshake timeouts */
    uint64_t tls_errors;             /* sessions that failed after the handshake */
} pl_server_stats_t;

/** Built-in TLS: when cfg->tls_listen is set, loads tls_cert / tls_key and
 * listens there on every loop (one SO_REUSEPORT socket per loop, like the
 * plain listener: TLS connections are spread over the loops the same way,
 * and an I/O loop hands a TLS connection that is not a WebSocket to the
 * core loop with its session). One context is shared read-only by the
 * loops, each holding its own reference. Returns 0 (also when TLS is off),
 * or a negative code with the reason (file, OpenSSL's message, bind error)
 * in err. Call once, after pl_server_new, on the core loop. */
int pl_server_tls_start(pl_server_t *srv, char *err, size_t errlen);
/** Reloads tls_cert / tls_key (SIGHUP): new connections get the new
 * certificate, open ones keep theirs. The core loop switches at once, each
 * I/O loop when it takes the new context off its queue (its next wakeup,
 * which the call triggers). On failure the old one stays and the reason is
 * in err. 0 when TLS is off. Core loop. */
int pl_server_tls_reload(pl_server_t *srv, char *err, size_t errlen);
/** The TLS listener's port (0: off). */
int pl_server_tls_port(const pl_server_t *srv);

void pl_server_get_stats(const pl_server_t *srv, pl_server_stats_t *out);
/** Number of loops (1 with threads = 1). */
int pl_server_loop_count(const pl_server_t *srv);
/** The counters of loop k alone (0: the core loop; an I/O loop's as it last
 * published them, at the end of its latest turn): connections_accepted,
 * opened, writes, slow_consumers and the tls_* ones. frames_queued and
 * frames_encoded are the core's (all loops). Core loop. */
void pl_server_get_loop_stats(const pl_server_t *srv, int k, pl_server_stats_t *out);

#endif
