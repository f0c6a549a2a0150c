/* SPDX-License-Identifier: MIT */
/* http.h -- HTTP/1.1 on net/'s connections (http-parser underneath): one
 * request at a time (pipelined requests answered in order), keep-alive and
 * its caps, unsent-bytes backpressure, streamed request and response
 * bodies, JSON errors, static files, and the upgrade hand-off to a protocol
 * above (ws/). The server's on_accept is pl_http_accept.
 *
 * Threading: everything runs on the loop that owns the connection; with
 * several loops the I/O loops keep upgrade requests only and hand every
 * other connection to the core loop before its first request is parsed, so
 * on_http and the headers hook always run on the core loop. */
#ifndef PL_HTTP_HTTP_H
#define PL_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "http/http_parse.h"
#include "net/server.h"

/** One complete HTTP request (headers + body) that is not an upgrade; it is
 * answered once with pl_http_respond*(). */
typedef struct pl_http_req pl_http_req_t;
typedef struct pl_http_stream pl_http_stream_t;
/** The headers hook (pl_http_handlers_t.on_headers; streamed request bodies
 * below): a request's headers are complete (upgrade requests to /v1/ws and
 * /v1/echo never get here). req is borrowed for the call. Return false to
 * leave it to the buffered path (req is then freed by the server and the
 * request later reaches on_http as usual); return true and fill *out to claim
 * it: from now on the handler owns req, answers it exactly once with
 * pl_http_respond*() (possibly while the body is still arriving: the rest is
 * then discarded and the connection closed), and gets out's callbacks. */
typedef bool (*pl_http_headers_cb)(void *ud, pl_http_req_t *req, pl_http_stream_t *out);

/** What the HTTP side of a server calls. Borrowed by the server (it must
 * outlive it) and read-only while it runs: every loop reads it. */
typedef struct {
    /** A complete HTTP request arrived (any path except upgrades to /v1/ws
     * and /v1/echo). The handler borrows req and must eventually call
     * pl_http_respond() exactly once, possibly later from another callback on
     * the same loop; req stays valid until then even if the peer disconnects. */
    void (*on_http)(void *ud, pl_http_req_t *req);
    /** Optional: claims requests whose bodies it wants streamed (below). */
    pl_http_headers_cb on_headers;
    void *ud; /* of on_http and on_headers */
    /** An upgrade request arrived (GET /v1/ws, or /v1/echo with ws_echo):
     * takes m (owned) and either answers it with pl_http_upgrade_refuse or
     * installs its own protocol on c (pl_conn_set_proto), after which the
     * bytes left in c's read buffer go to that protocol. NULL: 404. Runs on
     * any loop (I/O loops keep these connections). */
    void (*on_upgrade)(pl_conn_t *c, pl_http_msg_t *m);
} pl_http_handlers_t;

/** pl_server_handlers_t.on_accept for HTTP/1.1; accept_ud is a
 * pl_http_handlers_t. */
void pl_http_accept(void *accept_ud, pl_conn_t *c);

/* ---- upgrades (for the protocol that takes a connection over) ---- */

/** Answers the upgrade request m (owned) on c with a JSON error (status,
 * code, msg; extra_headers as in pl_http_respond) and closes c after it. */
void pl_http_upgrade_refuse(pl_conn_t *c, pl_http_msg_t *m, int status, const char *code,
                            const char *msg, const char *extra_headers);
/** The client behind c for request m: the TCP peer, or, when the peer is
 * one of trusted_proxies, the client m's X-Forwarded-For names. */
void pl_http_msg_client(const pl_conn_t *c, const pl_http_msg_t *m, pl_addr_t *out);

/* ---- requests ---- */

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
 * arrives claims the request from on_headers, which runs as soon as the
 * headers are complete and before any body byte is read. A claimed request
 * never reaches on_http, and max_http_body_bytes does not apply to it: the
 * claimant enforces its own limit. */

struct pl_http_stream {
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
};

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

#endif
