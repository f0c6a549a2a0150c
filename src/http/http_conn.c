/* SPDX-License-Identifier: MIT */
/* http_conn.c -- HTTP/1.1 on a connection: the reader net/ calls
 * (http_proto), one request at a time (the parser pauses while a response
 * is pending, so pipelined requests are answered in order), keep-alive,
 * limits, JSON errors, streamed bodies, and the hand-off of upgrade
 * requests. Static files: http_static.c. */
#include "http/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"

/* State a connection needs only while it speaks HTTP: allocated at accept,
 * freed at an upgrade, so an open WebSocket carries none of it. */
typedef struct {
    pl_http_parse_t hp;
    const pl_http_handlers_t *hh; /* the server's (borrowed) */
    pl_http_req_t *req;           /* handed to on_http, not answered yet */
    uint64_t since;               /* start of the current wait: accept, the last response
                                   * fully written, a response queued on an empty queue,
                                   * or write progress (see sweep) */
    uint64_t born;                /* accept: http_keepalive_time_ms counts from here */
    uint32_t nreq;                /* requests taken off the parser (http_keepalive_requests) */
    bool in_process;              /* inside process(): no re-entry */
    bool blocked;                 /* unsent responses over max_http_unsent_bytes: parsing
                                   * and reading wait for the queue to drain */
    bool expect_pending;          /* a 100 Continue is owed once the paused stream resumes */
    bool routed;                  /* I/O loop: the request line was looked at */
} pl_http_state_t;

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

static const pl_conn_proto_t http_proto;

/* c's HTTP state; NULL once c was upgraded (or closed). */
static inline pl_http_state_t *http_of(const pl_conn_t *c)
{
    return c->proto == &http_proto ? c->proto_data : NULL;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* The address of the client behind c: the TCP peer, or, when the peer is
 * one of trusted_proxies, the client it names in X-Forwarded-For (m may be
 * NULL: a parse error has no headers). Every X-Forwarded-For line counts, in
 * order: a proxy that adds its own line instead of appending to the
 * client's must not leave the client's line to be read as the truth.
 * Returns whether the peer is a trusted proxy. */
static bool client_addr(const pl_conn_t *c, const pl_http_msg_t *m, pl_addr_t *out)
{
    *out = c->peer;
    const pl_cidr_list_t *l = pl_net__trusted(c);
    if (l->n == 0 || !pl_cidr_list_match(l, out))
        return false;
    pl_addr_t peer = *out;
    pl_buf_t xff;
    pl_buf_init(&xff);
    bool have = m && pl_http_msg_header_list(m, "X-Forwarded-For", &xff);
    if (!pl_addr_client(&peer, have ? pl_buf_head(&xff) : NULL, l, out))
        pl_log(PL_LOG_DEBUG, "http",
               "conn=%" PRIu64 " trusted proxy sent no usable X-Forwarded-For", c->id);
    pl_buf_dispose(&xff);
    return true;
}

static pl_http_req_t *req_new(pl_conn_t *c, pl_http_msg_t *m)
{
    pl_http_req_t *req = pl_xcalloc(1, sizeof *req);
    req->conn = c;
    req->msg = m;
    req->conn_id = c->id;
    req->via_proxy = client_addr(c, m, &req->addr);
    pl_addr_format(&req->addr, req->peer);
    return req;
}

static void req_free(pl_http_req_t *req)
{
    pl_http_msg_free(req->msg);
    free(req);
}

/* ---- streamed request bodies ----
 * A claimed request owns a copy of the request head (req->msg); the parser
 * keeps its own message, whose body stays empty. The stream state hangs off
 * the connection's parser (hp.stream) until the body completes, the handler
 * answers, or the connection goes. */

typedef struct {
    pl_http_req_t *req; /* owned by the handler from the claim on */
    pl_http_stream_t cb;
    bool paused; /* the handler asked us to stop reading */
} stream_t;

static stream_t *stream_of(pl_conn_t *c)
{
    pl_http_state_t *h = c ? http_of(c) : NULL;
    return h ? (stream_t *)h->hp.stream : NULL;
}

/* Ends the stream state without telling the handler (it answered, or is
 * about to be told through on_abort). */
static void stream_end(pl_conn_t *c)
{
    stream_t *st = stream_of(c);
    if (!st)
        return;
    http_of(c)->hp.stream = NULL;
    free(st);
}

static int hook_headers(void *ud, pl_http_msg_t *m)
{
    pl_conn_t *c = ud;
    const pl_http_handlers_t *hh = http_of(c)->hh;
    if (hh->on_headers == NULL || !strcmp(m->path, "/v1/ws") || !strcmp(m->path, "/v1/echo") ||
        pl_net__shutting_down(c))
        return 0;
    pl_http_req_t *req = req_new(c, pl_http_msg_clone_head(m));
    /* The stream exists while the hook runs, so a claimant may already
     * pause it (it will refuse the request: no 100 Continue is sent then)
     * or answer it. */
    stream_t *st = pl_xcalloc(1, sizeof *st);
    st->req = req;
    http_of(c)->hp.stream = st;
    pl_http_stream_t cb = {0};
    if (!hh->on_headers(hh->ud, req, &cb)) {
        stream_end(c);
        req_free(req);
        return 0;
    }
    if (!cb.on_body || !cb.on_complete || !cb.on_abort) {
        /* A programmer error in the claimant: fail loudly, never stream. */
        pl_log(PL_LOG_ERROR, "http", "conn=%" PRIu64 " headers hook claimed without callbacks",
               c->id);
        abort();
    }
    if (stream_of(c) != st)
        return -1; /* answered inside the hook (req is gone): refuse the body */
    st->cb = cb;
    pl_log(PL_LOG_DEBUG, "http", "conn=%" PRIu64 " streaming %s %s", c->id, m->method, m->path);
    return 1;
}

static int hook_body(void *ud, const char *data, size_t len)
{
    pl_conn_t *c = ud;
    stream_t *st = stream_of(c);
    if (!st)
        return -1; /* the handler answered already: discard the rest */
    http_of(c)->since = pl_net__now(c);
    if (st->cb.on_body(st->cb.ud, st->req, data, len) < 0 || stream_of(c) != st)
        return -1;
    return 0;
}

/* The connection is going or the body was malformed: the handler hears
 * on_abort with a detached req. */
static void stream_abort(pl_conn_t *c)
{
    stream_t *st = stream_of(c);
    if (!st)
        return;
    http_of(c)->hp.stream = NULL;
    st->req->conn = NULL;
    st->cb.on_abort(st->cb.ud, st->req);
    free(st);
}

/* RFC 9110 10.1.1: the client waits (curl: 1 s) for this before it sends
 * the body of a request with Expect: 100-continue. Sent when the body will
 * be read; a final response sent first replaces it (respond clears
 * expect_pending), and a 100 never follows a final response. */
static void send_continue(pl_conn_t *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    http_of(c)->expect_pending = false;
    pl_net__queue_bytes(c, cont, sizeof cont - 1);
    pl_log(PL_LOG_DEBUG, "http", "conn=%" PRIu64 " 100 continue", c->id);
}

/* The parser accepted headers that expect 100-continue and more body is
 * wanted: send it now, or once a paused stream resumes. A claimed request
 * that was already answered gets none. */
static void continue_due(pl_conn_t *c)
{
    pl_http_state_t *h = http_of(c);
    stream_t *st = stream_of(c);
    if (h->hp.streaming && st == NULL)
        return; /* answered: the final response went instead */
    if (st && st->paused) {
        h->expect_pending = true;
        return;
    }
    send_continue(c);
}

void pl_http_stream_pause(pl_http_req_t *req, bool paused)
{
    pl_conn_t *c = req->conn;
    stream_t *st = stream_of(c);
    if (!st || st->req != req || c->closing || st->paused == paused)
        return;
    st->paused = paused;
    if (paused) {
        pl_net__read(c, false);
    } else {
        if (http_of(c)->expect_pending)
            send_continue(c);
        http_of(c)->since = pl_net__now(c);
        c->need_resume = true;
        pl_net__schedule(c);
        if (!http_of(c)->in_process)
            pl_net__read(c, !http_of(c)->req && !c->close_after_write);
    }
}

/* ---- accessors ---- */

const char *pl_http_method(const pl_http_req_t *req)
{
    return req->msg ? req->msg->method : "";
}

const char *pl_http_path(const pl_http_req_t *req)
{
    return req->msg && req->msg->path ? req->msg->path : "";
}

const char *pl_http_query(const pl_http_req_t *req)
{
    return req->msg && req->msg->query ? req->msg->query : "";
}

const char *pl_http_header(const pl_http_req_t *req, const char *name)
{
    return req->msg ? pl_http_msg_header(req->msg, name) : NULL;
}

const char *pl_http_body(const pl_http_req_t *req, size_t *len)
{
    if (!req->msg) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = req->msg->body.len;
    return pl_buf_head(&req->msg->body);
}

const char *pl_http_peer(const pl_http_req_t *req)
{
    return req->peer;
}

void pl_http_client_addr(const pl_http_req_t *req, pl_addr_t *out)
{
    *out = req->addr;
}

bool pl_http_via_trusted_proxy(const pl_http_req_t *req)
{
    return req->via_proxy;
}

uint64_t pl_http_conn_id(const pl_http_req_t *req)
{
    return req->conn_id;
}

/* ---- responses ---- */

static void http_date(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Writes the status line and headers (through the blank line) into b. */
static void put_head(pl_conn_t *c, pl_buf_t *b, int status, const char *content_type, bool bodyless,
                     uint64_t len, bool keep, const char *extra_headers)
{
    char date[64];
    http_date(date, sizeof date);
    pl_buf_printf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, reason_phrase(status), date);
    if (!bodyless) {
        if (content_type)
            pl_buf_printf(b, "Content-Type: %s\r\n", content_type);
        pl_buf_printf(b, "Content-Length: %" PRIu64 "\r\n", len);
    }
    pl_buf_printf(b, "Connection: %s\r\n", keep ? "keep-alive" : "close");
    /* Every response carries the security headers: the web client is served
     * from this origin, so a strict policy here is its first defence (no
     * inline script, no framing, no foreign origins). */
    static const char security[] =
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\n"
        "Referrer-Policy: no-referrer\r\n";
    pl_buf_append(b, security, sizeof security - 1);
    /* RFC 6797 7.2: HSTS only over a secure transport (never on the plain
     * listener, where an active attacker could strip or forge it). */
    int64_t hsts = pl_net__cfg(c)->hsts_max_age;
    if (hsts > 0 && pl_net__is_tls(c))
        pl_buf_printf(b, "Strict-Transport-Security: max-age=%" PRId64 "\r\n", hsts);
    if (extra_headers && *extra_headers)
        pl_buf_append(b, extra_headers, strlen(extra_headers));
    pl_buf_lit(b, "\r\n");
}

/* After a response went out (queued): release req, then close or go on
 * with the next request on the connection. fresh: the queue was empty
 * before it, so the wait for the peer to take it starts now; queued behind
 * unsent bytes, it does not move the clock (a peer that sends requests and
 * reads nothing must not keep its connection alive that way). */
static void after_response(pl_conn_t *c, pl_http_req_t *req, bool keep, bool fresh)
{
    if (http_of(c)->req == req)
        http_of(c)->req = NULL;
    req_free(req);
    http_of(c)->expect_pending = false;
    if (fresh)
        http_of(c)->since = pl_net__now(c);
    if (!keep) {
        pl_net__finish(c);
    } else if (!http_of(c)->in_process) {
        /* Answered from a later callback: parse what is buffered (pipelined
         * requests) and read again, at the end of this loop turn. */
        c->need_resume = true;
        pl_net__schedule(c);
    }
}

void pl_http_respond(pl_http_req_t *req, int status, const char *content_type, const char *body,
                     size_t len, const char *extra_headers)
{
    pl_conn_t *c = req->conn;
    if (!c || c->closing) {
        if (c && http_of(c) && http_of(c)->req == req)
            http_of(c)->req = NULL;
        req_free(req);
        return;
    }
    stream_t *st = stream_of(c);
    if (st && st->req == req) {
        /* Answered before the body completed: the rest is not read. */
        stream_end(c);
        if (req->msg)
            req->msg->keep_alive = false;
    }
    bool keep = req->msg && req->msg->keep_alive && !pl_net__shutting_down(c) && !c->peer_eof;
    bool head = req->msg && strcmp(req->msg->method, "HEAD") == 0;
    bool fresh = c->queued == 0;
    http_of(c)->expect_pending = false; /* the final answer replaces a 100 not sent yet */
    /* RFC 9110 8.6: 1xx, 204 and 304 carry no body and no Content-Length. */
    bool bodyless = status < 200 || status == 204 || status == 304;
    pl_buf_t b;
    pl_buf_init(&b);
    put_head(c, &b, status, content_type, bodyless, len, keep, extra_headers);
    if (!bodyless && !head && len)
        pl_buf_append(&b, body, len);
    pl_net__queue_bytes(c, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    pl_log(PL_LOG_INFO, "http", "conn=%" PRIu64 " %s %s status=%d bytes=%zu", c->id,
           pl_http_method(req), pl_http_path(req), status, len);
    after_response(c, req, keep, fresh);
}

/* ---- streamed responses ----
 * The request stays in the state's req while its body is being sent, so the parser
 * reads no further request; drained() asks the handler for more each
 * time the write queue empties. */

int pl_http_respond_start(pl_http_req_t *req, int status, const char *content_type, uint64_t len,
                          const char *extra_headers, const pl_http_resp_stream_t *cb)
{
    if (req->resp_started) {
        pl_log(PL_LOG_ERROR, "http", "conn=%" PRIu64 " response started twice", req->conn_id);
        abort();
    }
    req->rs = *cb;
    req->resp_started = true;
    req->resp_status = status;
    req->resp_len = len;
    pl_conn_t *c = req->conn;
    if (!c || c->closing)
        return PL_ECLOSED;
    stream_t *st = stream_of(c);
    if (st && st->req == req) {
        stream_end(c);
        if (req->msg)
            req->msg->keep_alive = false;
    }
    bool head = req->msg && strcmp(req->msg->method, "HEAD") == 0;
    req->resp_keep = req->msg && req->msg->keep_alive && !pl_net__shutting_down(c) && !c->peer_eof;
    req->resp_left = head ? 0 : len;
    http_of(c)->expect_pending = false;
    /* The handler's own time (opening a file) is not the peer's: the send
     * clock starts with the head. */
    http_of(c)->since = pl_net__now(c);
    pl_buf_t b;
    pl_buf_init(&b);
    put_head(c, &b, status, content_type, false, len, req->resp_keep, extra_headers);
    pl_net__queue_bytes(c, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    http_of(c)->req = req;
    pl_net__schedule(c);
    return req->resp_left > 0 ? 1 : 0;
}

int pl_http_respond_write(pl_http_req_t *req, const char *data, size_t len)
{
    if (!req->resp_started || len > req->resp_left) {
        /* A programmer error in the handler: never send a wrong body. */
        pl_log(PL_LOG_ERROR, "http", "conn=%" PRIu64 " streamed body over its length",
               req->conn_id);
        abort();
    }
    pl_conn_t *c = req->conn;
    if (!c || c->closing)
        return PL_ECLOSED;
    if (len == 0)
        return 0;
    pl_net__queue_bytes(c, data, len);
    req->resp_left -= len;
    /* Progress: a handler writes only after the queue drained, so a peer
     * that stops reading stops this too, and the idle timeout ends it.
     * (on_write only sees writes that had to wait, not uv_try_write's.) */
    http_of(c)->since = pl_net__now(c);
    pl_net__schedule(c);
    return 0;
}

size_t pl_http_respond_queued(const pl_http_req_t *req)
{
    return req->conn ? req->conn->queued : 0;
}

void pl_http_respond_end(pl_http_req_t *req)
{
    pl_conn_t *c = req->conn;
    if (!c || c->closing) {
        if (c && http_of(c) && http_of(c)->req == req)
            http_of(c)->req = NULL;
        req_free(req);
        return;
    }
    bool complete = req->resp_left == 0;
    pl_log(PL_LOG_INFO, "http", "conn=%" PRIu64 " %s %s status=%d bytes=%" PRIu64 "%s", c->id,
           pl_http_method(req), pl_http_path(req), req->resp_status, req->resp_len,
           complete ? "" : " truncated");
    after_response(c, req, req->resp_keep && complete, false);
}

static void drained(pl_conn_t *c)
{
    pl_http_state_t *h = http_of(c);
    if (!h || c->closing)
        return;
    pl_http_req_t *req = h->req;
    if (req) {
        if (req->resp_started && req->rs.on_drain)
            req->rs.on_drain(req->rs.ud, req);
        return;
    }
    /* Everything answered is written: the wait for the next request starts
     * now, and pipelined requests held back by max_http_unsent_bytes go on. */
    h->since = pl_net__now(c);
    if (h->blocked) {
        h->blocked = false;
        c->need_resume = true;
        pl_net__schedule(c);
    }
}

/* {"error":{"code":code,"message":msg}}, both escaped. */
static void error_body(pl_buf_t *b, const char *code, const char *msg)
{
    pl_buf_lit(b, "{\"error\":{\"code\":");
    pl_json_cstr(b, code);
    pl_buf_lit(b, ",\"message\":");
    pl_json_cstr(b, msg);
    pl_buf_lit(b, "}}");
}

/* A whole response (status line, default and security headers, Connection:
 * close, a JSON error body) for refusals written before any request is read. */
static void canned_error(pl_conn_t *c, pl_buf_t *out, int status, const char *code, const char *msg)
{
    pl_buf_t body;
    pl_buf_init(&body);
    error_body(&body, code, msg);
    put_head(c, out, status, "application/json", false, body.len, false, NULL);
    pl_buf_append(out, pl_buf_head(&body), body.len);
    pl_buf_dispose(&body);
}

void pl_http_respond_error(pl_http_req_t *req, int status, const char *code, const char *message,
                           const char *extra_headers)
{
    pl_buf_t b;
    pl_buf_init(&b);
    error_body(&b, code, message);
    pl_http_respond(req, status, "application/json", pl_buf_head(&b), b.len, extra_headers);
    pl_buf_dispose(&b);
}

/* Answers a JSON error on c without a handler, then closes c. */
static void error_close(pl_conn_t *c, pl_http_msg_t *m, int status, const char *code,
                        const char *msg)
{
    if (m)
        m->keep_alive = false;
    pl_http_req_t *req = req_new(c, m);
    pl_http_respond_error(req, status, code, msg, NULL);
    pl_net__finish(c);
}

/* ---- request loop ---- */

void pl_http_accept(void *accept_ud, pl_conn_t *c)
{
    pl_http_state_t *h = pl_xcalloc(1, sizeof *h);
    pl_http_parse_init(&h->hp, (size_t)pl_net__cfg(c)->max_http_header_bytes,
                       (size_t)pl_net__cfg(c)->max_http_body_bytes);
    h->hh = accept_ud;
    h->since = h->born = pl_net__now(c);
    pl_conn_set_proto(c, &http_proto, h);
}

static void http_state_free(pl_http_state_t *h)
{
    pl_http_parse_dispose(&h->hp);
    free(h);
}

/* http_keepalive_requests / http_keepalive_time_ms (nginx keepalive_requests,
 * keepalive_time): the request that reaches either limit is answered with
 * Connection: close, so no connection is kept forever by a client that
 * sends a request every now and then, whether it reads the answers or not. */
static void keepalive_limits(pl_conn_t *c, pl_http_msg_t *m)
{
    const pl_config_t *cfg = pl_net__cfg(c);
    pl_http_state_t *h = http_of(c);
    uint64_t age = pl_net__now(c) - h->born;
    if (!m->keep_alive || (h->nreq < (uint64_t)cfg->http_keepalive_requests &&
                           age < (uint64_t)cfg->http_keepalive_time_ms))
        return;
    m->keep_alive = false;
    char peer[PL_NET_PEER_LEN];
    pl_log(PL_LOG_DEBUG, "http",
           "conn=%" PRIu64 " peer=%s keep-alive ends requests=%" PRIu32 " age_ms=%" PRIu64, c->id,
           pl_net__peer_format(c, peer), h->nreq, age);
}

/* tls_redirect: a plain request (except /healthz and /readyz, for load balancers and
 * probes) gets 301 to the same host, path and query on tls_listen's port.
 * True when it was answered. */
static bool redirect_to_tls(pl_conn_t *c, pl_http_msg_t *m)
{
    const pl_config_t *cfg = pl_net__cfg(c);
    if (!cfg->tls_redirect || pl_net__is_tls(c) || strcmp(m->path, "/healthz") == 0 ||
        strcmp(m->path, "/readyz") == 0)
        return false;
    char host[256], lhost[64];
    int port = 443;
    pl_config_split_listen(cfg->tls_listen, lhost, &port);
    const char *h = pl_http_msg_header(m, "Host");
    size_t hl = 0;
    if (h) {
        /* The name without its port ("[::1]:8080" keeps its brackets). */
        const char *end = h[0] == '[' ? strchr(h, ']') : strchr(h, ':');
        hl = end ? (size_t)(end - h) + (h[0] == '[') : strlen(h);
    }
    bool sane = hl > 0 && hl < sizeof host;
    for (size_t i = 0; sane && i < hl; i++)
        sane = h[i] > ' ' && h[i] < 0x7F && h[i] != '/' && h[i] != '\\' && h[i] != '@';
    if (sane)
        memcpy(host, h, hl);
    else
        hl = (size_t)snprintf(host, sizeof host, "%s", lhost);
    host[hl] = '\0';
    pl_buf_t loc;
    pl_buf_init(&loc);
    pl_buf_printf(&loc, "Location: https://%s", host);
    if (port != 443)
        pl_buf_printf(&loc, ":%d", port);
    /* The request target as sent (validated by the parser: no CR/LF). */
    pl_buf_printf(&loc, "%s%s%s\r\n", m->path, m->query && *m->query ? "?" : "",
                  m->query ? m->query : "");
    pl_buf_append(&loc, "", 1); /* NUL */
    pl_http_respond_error(req_new(c, m), 301, "use_https", "this server is served over https://",
                          pl_buf_head(&loc));
    pl_buf_dispose(&loc);
    return true;
}

static void dispatch(pl_conn_t *c, pl_http_msg_t *m)
{
    const pl_config_t *cfg = pl_net__cfg(c);
    if (redirect_to_tls(c, m))
        return;
    bool is_ws = strcmp(m->path, "/v1/ws") == 0;
    bool is_echo = strcmp(m->path, "/v1/echo") == 0;
    if (is_echo && !cfg->ws_echo) {
        pl_http_respond_error(req_new(c, m), 404, "not_found", "no such endpoint", NULL);
        return;
    }
    const pl_http_handlers_t *hh = http_of(c)->hh;
    if ((is_ws || is_echo) && !hh->on_upgrade) {
        pl_http_respond_error(req_new(c, m), 404, "not_found", "no such endpoint", NULL);
        return;
    }
    if (is_ws || is_echo) {
        hh->on_upgrade(c, m); /* refuses, or installs its reader on c */
        return;
    }
    pl_http_req_t *req = req_new(c, m);
    if (!hh->on_http) {
        pl_http_respond_error(req, 404, "not_found", "no such endpoint", NULL);
        return;
    }
    if (pl_net__io_loop(c)) {
        /* Unreachable: route() hands every plain request to the core. */
        pl_log(PL_LOG_ERROR, "http", "conn=%" PRIu64 " plain request on an I/O loop", c->id);
        pl_http_respond_error(req, 500, "internal", "request on the wrong loop", NULL);
        return;
    }
    http_of(c)->req = req;
    pl_log(PL_LOG_DEBUG, "http", "conn=%" PRIu64 " request %s %s", c->id, m->method, m->path);
    hh->on_http(hh->ud, req);
}

/* Looks at the start of the request line: 1 when it is "GET /v1/ws" (or
 * "GET /v1/echo" when enabled) followed by ' ' or '?', 0 when it cannot be,
 * -1 when the bytes so far are a prefix of one of those. Deciding as soon as
 * the bytes diverge matters: a peer that sends a few bytes of garbage and
 * waits must get the core's 400 now, not an idle timeout. */
static int stays_here(const char *p, size_t n, const pl_config_t *cfg)
{
    static const char *const local[] = {"GET /v1/ws", "GET /v1/echo"};
    int verdict = 0;
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && !cfg->ws_echo)
            break;
        size_t len = strlen(local[i]);
        if (memcmp(p, local[i], PL_MIN(n, len)) != 0)
            continue;
        if (n <= len) {
            verdict = -1;
            continue;
        }
        if (p[len] == ' ' || p[len] == '?')
            return 1;
    }
    return verdict;
}

/* I/O loop, before c's first request is parsed: I/O loops keep upgrade
 * requests only; anything else goes to the core loop. Returns false while
 * the request line is incomplete or after c was handed over (c is
 * closing), true when c stays here. */
static bool route(pl_conn_t *c, pl_http_state_t *h)
{
    size_t n = c->rbuf.len;
    if (n == 0)
        return c->peer_eof; /* nothing to look at: wait, or let the close run */
    int v = stays_here(pl_buf_head(&c->rbuf), n, pl_net__cfg(c));
    if (v < 0 && !c->peer_eof)
        return false; /* wait for a few more bytes of the request line */
    h->routed = true;
    if (v > 0)
        return true;
    pl_net__hand_over(c);
    return false;
}

/* http_proto.read: parses what c->rbuf holds and dispatches it. */
static void process(pl_conn_t *c)
{
    pl_http_state_t *h = http_of(c);
    if (c->closing || h == NULL || h->in_process)
        return;
    if (pl_net__io_loop(c) && !h->routed && !route(c, h))
        return;
    if (!h->hp.hook_ud)
        pl_http_parse_set_hooks(&h->hp, hook_headers, hook_body, c);
    /* Pipelined requests are answered in order, one at a time; the next is
     * parsed only while the answers not yet written stay within
     * max_http_unsent_bytes. Past it, parsing and reading stop until the
     * queue drains (drained()), so a client that sends requests and
     * reads nothing holds at most that much plus one answer. */
    size_t max_unsent = (size_t)pl_net__cfg(c)->max_http_unsent_bytes;
    h->in_process = true;
    while (!c->closing && !c->close_after_write && c->proto == &http_proto && !h->req &&
           c->rbuf.len > 0) {
        if (c->queued > max_unsent && !pl_http_parse_busy(&h->hp)) {
            if (!h->blocked)
                pl_log(PL_LOG_DEBUG, "http", "conn=%" PRIu64 " pipelining paused unsent=%zu", c->id,
                       c->queued);
            h->blocked = true;
            break;
        }
        size_t used = 0;
        int rc = pl_http_parse_feed(&h->hp, pl_buf_head(&c->rbuf), c->rbuf.len, &used);
        if (h->hp.continue_due) {
            /* Headers with Expect: 100-continue were accepted and no body
             * byte has come yet (the parser clears it on the first one). */
            h->hp.continue_due = false;
            if (rc == 0)
                continue_due(c);
        }
        if (rc == 0) {
            pl_buf_consume(&c->rbuf, c->rbuf.len);
            break;
        }
        if (rc < 0 && h->hp.error_status == PL_HTTP_REFUSED) {
            /* A stream handler answered and refused the rest of the body. */
            pl_buf_consume(&c->rbuf, c->rbuf.len);
            stream_end(c);
            if (!c->close_after_write && !c->closing)
                pl_net__finish(c);
            break;
        }
        if (rc < 0) {
            stream_abort(c); /* malformed framing in the middle of a stream */
            int st = h->hp.error_status;
            char peer[PL_NET_PEER_LEN];
            pl_log(PL_LOG_INFO, "http", "conn=%" PRIu64 " peer=%s bad request status=%d err=%s",
                   c->id, pl_net__peer_format(c, peer), st, h->hp.error_msg);
            pl_buf_consume(&c->rbuf, c->rbuf.len);
            error_close(c, NULL, st,
                        st == 413   ? "too_large"
                        : st == 431 ? "headers_too_large"
                        : st == 417 ? "expectation_failed"
                                    : "bad_request",
                        h->hp.error_msg ? h->hp.error_msg : "malformed request");
            break;
        }
        pl_buf_consume(&c->rbuf, used);
        stream_t *sst = stream_of(c);
        pl_http_msg_t *m = pl_http_parse_take(&h->hp);
        h->nreq++;
        keepalive_limits(c, m);
        if (sst) {
            /* A streamed body completed: the handler now answers req. */
            pl_http_req_t *req = sst->req;
            req->msg->keep_alive = m->keep_alive;
            pl_http_msg_free(m);
            pl_http_stream_t cb = sst->cb;
            stream_end(c);
            h->req = req;
            cb.on_complete(cb.ud, req);
            continue;
        }
        dispatch(c, m);
    }
    h->in_process = false;
    if (c->proto != &http_proto) {
        /* Upgraded: the HTTP state is not needed again (no request can be
         * pending, the loop above only dispatches without one). */
        http_state_free(h);
        /* Bytes after the handshake already belong to the new protocol. */
        if (!c->closing && c->rbuf.len > 0)
            c->proto->read(c);
        return;
    }
    if (c->closing)
        return;
    if (c->close_after_write)
        return;
    if (c->peer_eof && !h->req && !h->blocked) {
        stream_abort(c); /* half-closed in the middle of a streamed body */
        pl_net__finish(c);
        return;
    }
    /* Backpressure: no reading while a response is pending, while a
     * stream handler is catching up or while answers wait to be written. */
    stream_t *st = stream_of(c);
    pl_net__read(c, h->req == NULL && !(st && st->paused) && !h->blocked);
}

static void sweep(pl_conn_t *c, uint64_t now)
{
    /* One clock, http_idle_timeout_ms, for every wait on the peer:
     *  - for a request (idle, or slow to send one): since the connection
     *    was accepted or its last answer was completely written; bytes of
     *    the request do not move it (slowloris);
     *  - for the peer to take what is queued (answers, a streamed response):
     *    since the queue was last empty or a write made progress; queuing
     *    more answers behind unsent ones does not move it.
     * Nothing runs while a handler works on a request (it answers). */
    pl_http_state_t *h = http_of(c);
    bool sending = h->req && h->req->resp_started;
    if ((h->req && !sending) || c->shut)
        return; /* the handler is working / already lingering */
    uint64_t limit = (uint64_t)pl_net__cfg(c)->http_idle_timeout_ms;
    if (now - h->since >= limit) {
        char peer[PL_NET_PEER_LEN];
        pl_log(PL_LOG_DEBUG, "http",
               "conn=%" PRIu64 " peer=%s idle timeout busy=%d unsent=%zu requests=%" PRIu32, c->id,
               pl_net__peer_format(c, peer), (int)pl_http_parse_busy(&h->hp), c->queued, h->nreq);
        pl_net__abort(c);
    }
}

static void closed(pl_conn_t *c)
{
    pl_http_state_t *h = http_of(c);
    stream_abort(c);
    if (h->req) {
        /* The handler still owns req: detach it, pl_http_respond frees it. */
        pl_http_req_t *req = h->req;
        req->conn = NULL;
        h->req = NULL;
        if (req->resp_started && req->rs.on_abort)
            req->rs.on_abort(req->rs.ud, req); /* it ends (frees) req now or later */
    }
    http_state_free(h);
}

/* Half-close: answer what was already received, then close (requests held
 * back by max_http_unsent_bytes are answered first: the drain resumes them,
 * and the last one finishes). */
static void eof(pl_conn_t *c)
{
    process(c);
    pl_http_state_t *h = http_of(c); /* NULL: upgraded meanwhile */
    if (h == NULL || (!h->req && !h->blocked))
        pl_net__finish(c);
}

static void shutdown_conn(pl_conn_t *c)
{
    pl_http_state_t *h = http_of(c);
    if (!h->req)
        pl_net__finish(c);
    /* else: the pending response carries Connection: close. */
}

/* Too many connections from one address: 429 before any request is read. */
static void refuse(pl_conn_t *c)
{
    pl_buf_t b;
    pl_buf_init(&b);
    canned_error(c, &b, 429, "too_many_connections", "too many connections from your address");
    pl_net__queue_bytes(c, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

/* http:// spoken to the https port: a 400 in clear (net has dropped the
 * session already, so this is not encrypted and carries no HSTS). */
static void plain_on_tls(pl_conn_t *c)
{
    pl_buf_t b;
    pl_buf_init(&b);
    canned_error(c, &b, 400, "plain_http_on_tls_port",
                 "plain HTTP sent to the TLS port: use https://");
    pl_net__queue_bytes(c, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

static void progress(pl_conn_t *c, size_t n, bool waited)
{
    (void)n;
    /* A write that had to wait completed: the peer takes what we send. */
    if (waited)
        http_of(c)->since = pl_net__now(c);
}

static const pl_conn_proto_t http_proto = {
    .read = process,
    .eof = eof,
    .drained = drained,
    .progress = progress,
    .sweep = sweep,
    .shutdown = shutdown_conn,
    .refuse = refuse,
    .closed = closed,
    .plain_on_tls = plain_on_tls,
};

/* ---- upgrades ---- */

void pl_http_upgrade_refuse(pl_conn_t *c, pl_http_msg_t *m, int status, const char *code,
                            const char *msg, const char *extra_headers)
{
    m->keep_alive = false;
    pl_http_respond_error(req_new(c, m), status, code, msg, extra_headers);
}

void pl_http_msg_client(const pl_conn_t *c, const pl_http_msg_t *m, pl_addr_t *out)
{
    client_addr(c, m, out);
}
