/* SPDX-License-Identifier: MIT */
/* server.h -- parleyd's network front: TCP listener, HTTP/1.1 (http-parser),
 * WebSocket (own inbound decoder, shared pre-encoded outbound frames),
 * per-connection bounded write queues, timers, graceful shutdown.
 *
 * Threading: everything here runs on the loop thread that owns the server.
 * With cfg->threads > 1 (0: one per online CPU), pl_server_new also starts
 * I/O loops in their own threads (net/loops.c); nothing changes for the
 * caller: every handler still runs on the loop given to pl_server_new, and
 * the pl_conn_* calls below work there on any connection, whichever loop
 * owns its socket.
 * The upper layer (api/, chat/) sees three kinds of things:
 *   - pl_http_req_t: one complete HTTP request (headers + body) that is not a
 *     WebSocket upgrade; it is answered once with pl_http_respond*().
 *   - pl_conn_t: an open WebSocket on /v1/ws; whole, UTF-8-valid text
 *     messages arrive through on_ws_message.
 *   - pl_frame_t: an immutable, refcounted, already framed server->client
 *     WebSocket text message, written to many connections without copying. */
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
typedef struct pl_http_req pl_http_req_t;
typedef struct pl_frame pl_frame_t;

/* Close codes parleyd uses besides RFC 6455's (1000 normal, 1001 going away,
 * 1002 protocol error, 1003 unsupported data, 1007 invalid payload, 1008 policy,
 * 1009 too big, 1011 internal error). */
#define PL_WS_CLOSE_SLOW_CONSUMER 4008 /* outbound queue over max_write_queue: resync */
#define PL_WS_CLOSE_IDLE 4000          /* nothing received for ws_idle_timeout_ms */
#define PL_WS_CLOSE_AUTH_TIMEOUT 4001  /* not authenticated ws_auth_timeout_ms after the upgrade */

typedef struct {
    /** A complete HTTP request arrived (any path except WebSocket upgrades to
     * /v1/ws and /v1/echo). The handler borrows req and must eventually call
     * pl_http_respond() exactly once, possibly later from another callback on
     * the same loop; req stays valid until then even if the peer disconnects. */
    void (*on_http)(void *ud, pl_http_req_t *req);
    /** A WebSocket on /v1/ws completed its handshake. */
    void (*on_ws_open)(void *ud, pl_conn_t *c);
    /** One whole text message (fragments reassembled, UTF-8 validated,
     * <= max_ws_message). data is borrowed for the duration of the call. */
    void (*on_ws_message)(void *ud, pl_conn_t *c, const char *data, size_t len);
    /** The WebSocket is gone (closed by either side or the server). Called
     * exactly once per on_ws_open; c must not be used after it returns. */
    void (*on_ws_close)(void *ud, pl_conn_t *c);
    /** Optional. c's write queue emptied after a pl_conn_send_reply() frame
     * was queued on it: once per such drain (not for queues that held event
     * frames only), never after on_ws_close. The handler may queue more. */
    void (*on_ws_drain)(void *ud, pl_conn_t *c);
    void *ud;
} pl_server_handlers_t;

/** Creates a server on loop with cfg (borrowed; must outlive the server) and
 * binds/listens on cfg->listen (with cfg->threads > 1: one SO_REUSEPORT
 * listener per loop, after checking that nobody else listens there). Returns 0 or a negative UV_E* code (e.g.
 * UV_EADDRINUSE); *out is set only on success. */
int pl_server_new(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h,
                  pl_server_t **out);

/** The port actually bound (useful with port 0). */
int pl_server_port(const pl_server_t *srv);

/** Graceful stop: stop accepting, close every WebSocket with 1001 "server
 * shutting down", let queued bytes flush (at most ~2 s), close HTTP
 * connections after their in-flight response, then call cb (on the loop).
 * Requests still unanswered are answered 503 by their handler later or dropped. */
void pl_server_shutdown(pl_server_t *srv, void (*cb)(void *arg), void *arg);

/** Frees the server after pl_server_shutdown's cb ran (all handles closed);
 * joins the I/O loops' threads. */
void pl_server_free(pl_server_t *srv);

/* ---- HTTP requests ---- */

/** Method as text ("GET", "POST", ...). */
const char *pl_http_method(const pl_http_req_t *req);
/** Path without the query string, percent-decoding NOT applied. NUL-terminated. */
const char *pl_http_path(const pl_http_req_t *req);
/** Query string without '?', or "" . */
const char *pl_http_query(const pl_http_req_t *req);
/** Value of a header (case-insensitive name), NUL-terminated, or NULL. */
const char *pl_http_header(const pl_http_req_t *req, const char *name);
/** Body bytes (NUL-terminated for convenience; may contain NULs). */
const char *pl_http_body(const pl_http_req_t *req, size_t *len);
/** The client's address as text ("127.0.0.1"): the TCP peer, or, when the
 * peer is one of the trusted_proxies, the client it names in
 * X-Forwarded-For (core/addr.h pl_addr_client). */
const char *pl_http_peer(const pl_http_req_t *req);
/** The same address as raw bytes (a key for per-address limits). */
void pl_http_client_addr(const pl_http_req_t *req, pl_addr_t *out);
/** True when the request's TCP peer is one of trusted_proxies (then the
 * client address came from its X-Forwarded-For). */
bool pl_http_via_trusted_proxy(const pl_http_req_t *req);

/** Sends the response and releases req. body is copied. extra_headers is NULL
 * or "Name: value\r\n..." lines. Adds Content-Length, Date, Connection and
 * the security headers every response carries (X-Content-Type-Options:
 * nosniff). If the connection is gone, this only frees req. */
void pl_http_respond(pl_http_req_t *req, int status, const char *content_type, const char *body,
                     size_t len, const char *extra_headers);

/** Answers a JSON error {"error":{"code":code,"message":message}} (both
 * JSON-escaped here) with status, then releases req like pl_http_respond.
 * extra_headers as in pl_http_respond. */
void pl_http_respond_error(pl_http_req_t *req, int status, const char *code, const char *message,
                           const char *extra_headers);

/** Server-wide id of the connection the request came on (for logs). */
uint64_t pl_http_conn_id(const pl_http_req_t *req);

/** Serves a file below root for req's path (GET/HEAD only): "/" maps to
 * index.html, ".." and NUL are refused (404), Content-Type from the
 * extension, ETag from size+mtime with 304 on If-None-Match. Releases req. */
void pl_http_serve_file(pl_http_req_t *req, const char *root, const char *path);

/* ---- streamed request bodies (uploads) ----
 *
 * By default a request reaches on_http only once its whole body is buffered
 * (at most max_http_body_bytes). An upper layer that wants a body as it
 * arrives claims the request from on_http_headers, which runs as soon as the
 * headers are complete and before any body byte is read. A claimed request
 * never reaches on_http, and max_http_body_bytes does not apply to it: the
 * claimant enforces its own limit. */

typedef struct pl_http_stream {
    /** One piece of the decoded body (chunked framing removed), in order.
     * data is borrowed for the call. Return 0 to go on; return -1 after
     * answering req with pl_http_respond*() to refuse the rest (it is not
     * read, and the connection closes after the response). */
    int (*on_body)(void *ud, pl_http_req_t *req, const char *data, size_t len);
    /** The body is complete. Answer req (now or later) with pl_http_respond*(). */
    void (*on_complete)(void *ud, pl_http_req_t *req);
    /** The request died before its body completed (peer gone or half-closed,
     * malformed chunked framing, idle timeout, server shutdown). Called at
     * most once, instead of on_complete, and never after the handler answered.
     * req is already detached from its connection: the handler still
     * releases it with pl_http_respond*(), which then only frees it. */
    void (*on_abort)(void *ud, pl_http_req_t *req);
    void *ud;
} pl_http_stream_t;

/** Hook type: a request's headers are complete (WebSocket upgrades to /v1/ws
 * and /v1/echo never get here). req is borrowed for the call. Return false to
 * leave it to the buffered path (req is then freed by the server and the
 * request later reaches on_http as usual); return true and fill *out to claim
 * it: from now on the handler owns req, answers it exactly once with
 * pl_http_respond*() (possibly while the body is still arriving: the rest is
 * then discarded and the connection closed), and gets out's callbacks. */
typedef bool (*pl_http_headers_cb)(void *ud, pl_http_req_t *req, pl_http_stream_t *out);

/** Sets (or clears, cb NULL) the headers hook of srv (none by default: every
 * request is buffered). Call on the loop thread before requests arrive. */
void pl_server_set_headers_hook(pl_server_t *srv, pl_http_headers_cb cb, void *ud);

/** Flow control for a claimed request: paused = true stops reading from the
 * socket (bytes already read may still arrive through on_body, at most one
 * read buffer: 64 KiB); false resumes. Use it while a disk write is pending
 * so memory stays bounded. No-op once the body completed or the peer left. */
void pl_http_stream_pause(pl_http_req_t *req, bool paused);

/* ---- streamed responses (large downloads) ----
 *
 * pl_http_respond() copies a whole body. For bodies of any size with bounded
 * memory, a handler starts the response with a known length, then queues the
 * body piece by piece, each time the connection's write queue has drained,
 * and ends it. The request stays with the handler (and the connection reads
 * nothing more) until pl_http_respond_end(). */

typedef struct pl_http_resp_stream {
    /** The connection's write queue is empty: queue more (now or later) with
     * pl_http_respond_write(), or end. Not called after the handler ended the
     * response or after on_abort. */
    void (*on_drain)(void *ud, pl_http_req_t *req);
    /** The connection is gone (peer closed, write error, idle timeout, server
     * shutdown) before the response ended. req is detached: the handler still
     * releases it with pl_http_respond_end(), which then only frees it.
     * Called at most once. */
    void (*on_abort)(void *ud, pl_http_req_t *req);
    void *ud;
} pl_http_resp_stream_t;

/** Queues the status line and headers of a response whose body is len bytes
 * (Content-Length), with the same default and security headers as
 * pl_http_respond(), and remembers cb (copied) for the rest. Returns 1 when
 * body bytes are expected, 0 when none are (HEAD, or len 0: end it now), or
 * PL_ECLOSED when the connection is already gone (end it now). */
int pl_http_respond_start(pl_http_req_t *req, int status, const char *content_type, uint64_t len,
                          const char *extra_headers, const pl_http_resp_stream_t *cb);

/** Queues body bytes (copied) of a started response. More than the announced
 * length is a programmer error (aborts). Returns 0, or PL_ECLOSED when the
 * connection is gone (on_abort follows or already ran). */
int pl_http_respond_write(pl_http_req_t *req, const char *data, size_t len);

/** Bytes queued on req's connection and not yet written (0 when detached). */
size_t pl_http_respond_queued(const pl_http_req_t *req);

/** Ends a started response and releases req. If fewer body bytes than
 * announced were written (a read error), the connection is closed so the
 * peer sees a truncated body rather than a wrong one. */
void pl_http_respond_end(pl_http_req_t *req);

/* ---- WebSocket connections ---- */

/** Server-wide unique id of a connection (for logs). */
uint64_t pl_conn_id(const pl_conn_t *c);
/** Upper-layer pointer; NULL until set. */
void *pl_conn_data(const pl_conn_t *c);
void pl_conn_set_data(pl_conn_t *c, void *data);
/** The client's raw address: the TCP peer, or behind a trusted proxy the
 * client named in the upgrade request's X-Forwarded-For. */
void pl_conn_client_addr(const pl_conn_t *c, pl_addr_t *out);
/** Client address (as pl_conn_client_addr) as text ("127.0.0.1", "::1"; "?" if unknown). The
 * connection keeps only the raw address, so the text is formatted on each
 * call into a per-thread buffer: it stays valid until the next
 * pl_conn_peer call on the same thread (copy it to keep it). */
const char *pl_conn_peer(const pl_conn_t *c);

/** Encodes one server->client text frame around data (copied) with refcount 1.
 * Free with pl_frame_unref(). */
pl_frame_t *pl_frame_new_text(const char *data, size_t len);
pl_frame_t *pl_frame_ref(pl_frame_t *f);
void pl_frame_unref(pl_frame_t *f);
/** Encoded size (header + payload). */
size_t pl_frame_size(const pl_frame_t *f);

/** Queues a shared frame (takes a new reference; the caller keeps its own):
 * for events (fan-out). If the connection's queued bytes would exceed max_write_queue, the frame is
 * dropped, the connection is closed with 4008 "slow consumer" (unsent frames
 * are discarded so the close frame goes out promptly) and PL_ETOOBIG is
 * returned. Returns PL_ECLOSED if the connection is closing. Writes are
 * coalesced: frames queued during one loop turn go out in one writev. */
int pl_conn_send_frame(pl_conn_t *c, pl_frame_t *f);
/** Convenience: frames data (copied) and queues it. Same returns. */
int pl_conn_send_text(pl_conn_t *c, const char *data, size_t len);
/** Tells the network layer that c's client authenticated: from now on its
 * messages may be max_ws_message long (before: max_ws_preauth_message, and
 * the connection is closed with 4001 when ws_auth_timeout_ms pass without
 * this call). Call it before queuing the auth reply: the owner loop then
 * applies it before the client can read the reply. Idempotent; works on any
 * connection from the core loop, whichever loop owns its socket. */
void pl_conn_set_authenticated(pl_conn_t *c);
/** Queues a frame the server built in answer to the client (a reply, or the
 * events of a sync the client asked for). Unlike pl_conn_send_frame it is
 * never refused for its own size: only when the queue already holds more than
 * max_write_queue (the client stopped reading) is the connection a slow
 * consumer (closed with 4008, PL_ETOOBIG). Once the queue has drained after
 * such a frame, the server's on_ws_drain handler runs. Takes a new
 * reference; PL_ECLOSED if the connection is closing. */
int pl_conn_send_reply(pl_conn_t *c, pl_frame_t *f);
/** Bytes queued and not yet written (for a connection of an I/O loop: an
 * estimate that may lag a loop turn behind). */
size_t pl_conn_queued(const pl_conn_t *c);
/** Starts the close handshake with code and reason (<= 123 bytes); the TCP
 * connection closes after the peer's close frame or a short timeout.
 * Idempotent. on_ws_close fires later. */
void pl_conn_close(pl_conn_t *c, uint16_t code, const char *reason);

/** Counters for tests and stats. */
typedef struct {
    uint64_t connections_accepted;
    uint64_t ws_opened;
    uint64_t frames_encoded;   /* pl_frame_new_text calls */
    uint64_t frames_queued;    /* frame references queued on connections */
    uint64_t writes;           /* write syscalls (uv_write / uv_try_write) */
    uint64_t slow_consumers;   /* closes with 4008 */
} pl_server_stats_t;

void pl_server_get_stats(const pl_server_t *srv, pl_server_stats_t *out);

#endif
