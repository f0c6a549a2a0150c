/* SPDX-License-Identifier: MIT */
/* ws_conn.c -- WebSocket connections: the opening handshake (an upgrade
 * from http/), then the reader net/ calls (ws_proto): inbound frames
 * through the pure decoder (ws_decode.c, fed from the connection's read
 * buffer), outbound through the shared write queue, pre-encoded shared
 * frames, the close handshake, pings and idle timeouts. */
#include "ws/ws_conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "net/conn.h"
#include "ws/ws.h"

/* A WebSocket's state costs no allocation: its flags are c->proto_bits,
 * and the decoder's state, one pointer (NULL unless mid-fragmented
 * message), is kept in c->proto_data between calls (dec_get/dec_put). */
enum {
    WS_ECHO = 1 << 0,       /* /v1/echo */
    WS_CLOSING = 1 << 1,    /* a close frame is queued or was received */
    WS_CLOSE_SENT = 1 << 2, /* our close frame is queued */
    WS_CLOSE_RCVD = 1 << 3, /* the peer's close frame arrived */
    WS_FAILED = 1 << 4,     /* protocol error: our close is queued, input ignored */
    WS_IN_PROCESS = 1 << 5, /* inside process(): no re-entry */
    WS_PING_OUT = 1 << 6,   /* pinged since the last input: no second ping */
    WS_AUTHED = 1 << 7,     /* the upper layer authenticated it (or echo); before:
                             * max_ws_preauth_message, and c->deadline is the
                             * ws_auth_timeout_ms deadline */
    WS_REPLY_WAIT = 1 << 8, /* a reply frame was queued: on_drain when empty */
};

/* c->proto_bits is a 16-bit field (net/conn.h) */
_Static_assert(WS_REPLY_WAIT < (1 << 16), "WebSocket flags must fit in proto_bits");

#define WS_CLOSE_WAIT_MS 2000 /* close handshake: wait this long for the peer's close */

static inline bool has(const pl_conn_t *c, uint32_t flag)
{
    return (c->proto_bits & flag) != 0;
}

static inline void set(pl_conn_t *c, uint32_t flag)
{
    c->proto_bits |= flag;
}

static inline void clr(pl_conn_t *c, uint32_t flag)
{
    c->proto_bits &= ~flag;
}

static inline pl_ws_decoder_t dec_get(const pl_conn_t *c)
{
    return (pl_ws_decoder_t){.frag = c->proto_data};
}

static inline void dec_put(pl_conn_t *c, pl_ws_decoder_t d)
{
    c->proto_data = d.frag;
}

/* Frees the decoder's reassembly buffer (a message in progress). */
static void dec_dispose(pl_conn_t *c)
{
    pl_ws_decoder_t d = dec_get(c);
    pl_ws_decoder_dispose(&d);
    dec_put(c, d);
}

/* ---- frames ---- */

static pl_frame_t *frame_new(unsigned opcode, const void *data, size_t len)
{
    uint8_t hdr[PL_WS_MAX_HEADER];
    size_t hl = pl_ws_frame_header(hdr, opcode, true, len);
    return pl_frame_new(hdr, hl, data, len);
}

pl_frame_t *pl_frame_new_text(const char *data, size_t len)
{
    pl_net__count_encoded();
    return frame_new(PL_WS_OP_TEXT, data, len);
}

const char *pl_frame_payload(const pl_frame_t *f, size_t *len)
{
    /* RFC 6455 5.2: a 7-bit length, or 126 + 16 bits, or 127 + 64 bits. */
    size_t head = 2;
    uint8_t l7 = f->data[1] & 0x7f;
    if (l7 == 126)
        head = 4;
    else if (l7 == 127)
        head = 10;
    *len = f->len - head;
    return (const char *)f->data + head;
}

/* ---- inbound ---- */

static void queue_frame(pl_conn_t *c, unsigned opcode, const void *p, size_t n)
{
    pl_frame_t *f = frame_new(opcode, p, n);
    pl_net__queue(c, f);
    pl_frame_unref(f);
}

static void ws_close(pl_conn_t *c, uint16_t code, const char *reason);

static void slow_consumer(pl_conn_t *c, size_t want)
{
    pl_log(PL_LOG_WARN, "ws",
           "conn=%" PRIu64 " peer=%s slow consumer queued=%zu entries=%u want=%zu max=%" PRId64,
           c->id, pl_conn_peer(c), c->queued, (unsigned)(c->wq_tail - c->wq_head), want,
           pl_net__cfg(c)->max_write_queue);
    pl_net__stats(c)->slow_consumers++;
    pl_net__drop_unsent(c);
    ws_close(c, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer");
}

/* Queues a frame net makes by itself in answer to input (a pong, an echo)
 * under the same bound as the upper layer's frames, max_write_queue, with
 * each entry's own cost counted: a client that sends pings and reads
 * nothing makes the queue grow by 2 bytes of frame but about 50 of memory
 * per ping. Past the bound it is a slow consumer (4008), like any other. */
static void queue_reply(pl_conn_t *c, unsigned opcode, const void *p, size_t n)
{
    size_t entries = (size_t)(c->wq_tail - c->wq_head) + 1;
    size_t want = c->queued + entries * PL_NET_ENTRY_COST + n + PL_WS_MAX_HEADER;
    if (want > (size_t)pl_net__cfg(c)->max_write_queue) {
        slow_consumer(c, want);
        return;
    }
    queue_frame(c, opcode, p, n);
}

/* Queues our close frame (code 0: an empty body) once per connection. From
 * then on nothing but the TCP close follows it (RFC 6455 5.5.1). */
static void send_close(pl_conn_t *c, unsigned code, const char *reason)
{
    if (has(c, WS_CLOSE_SENT))
        return;
    uint8_t body[125];
    size_t n = 0;
    if (code) {
        size_t rl = reason ? PL_MIN(strlen(reason), sizeof body - 2) : 0;
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        if (rl)
            memcpy(body + 2, reason, rl);
        n = 2 + rl;
    }
    queue_frame(c, PL_WS_OP_CLOSE, body, n);
    set(c, WS_CLOSE_SENT);
}

static void closing_starts(pl_conn_t *c)
{
    if (!has(c, WS_CLOSING)) {
        set(c, WS_CLOSING);
        c->deadline = pl_net__now(c) + WS_CLOSE_WAIT_MS;
    }
}

/* RFC 6455 7.1.7: fail the connection. Our close goes out, the rest of the
 * input is ignored, and the TCP connection closes once the frame is
 * written (the sweep enforces the deadline if it never is). */
static void fail(pl_conn_t *c, unsigned code, const char *reason)
{
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " protocol close code=%u reason=%s", c->id, code,
           reason);
    set(c, WS_FAILED);
    dec_dispose(c);
    closing_starts(c);
    send_close(c, code, reason);
    pl_net__finish(c);
}

static void on_message(pl_conn_t *c, const pl_ws_msg_t *m)
{
    switch (m->opcode) {
    case PL_WS_OP_TEXT:
        if (has(c, WS_CLOSING))
            return; /* RFC 6455 1.4: data after our close is discarded */
        if (has(c, WS_ECHO))
            queue_reply(c, PL_WS_OP_TEXT, m->data, m->len);
        else
            pl_net__message(c, m->len ? (const char *)m->data : "", m->len);
        return;
    case PL_WS_OP_BINARY:
        if (has(c, WS_CLOSING))
            return;
        if (has(c, WS_ECHO))
            queue_reply(c, PL_WS_OP_BINARY, m->data, m->len);
        else
            fail(c, 1003, "binary messages not supported");
        return;
    case PL_WS_OP_PING:
        /* RFC 6455 5.5.2: answer with the same payload, unless our close is
         * out (nothing may follow it). */
        if (!has(c, WS_CLOSE_SENT))
            queue_reply(c, PL_WS_OP_PONG, m->data, m->len);
        return;
    case PL_WS_OP_CLOSE:
        pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " peer close code=%u", c->id, m->close_code);
        set(c, WS_CLOSE_RCVD);
        dec_dispose(c); /* a message in progress never completes */
        closing_starts(c);
        /* RFC 6455 5.5.1: echo the status code (an empty close gets an
         * empty one), then, as the server, close TCP first (7.1.1). */
        send_close(c, m->close_code == 1005 ? 0 : m->close_code, NULL);
        pl_net__finish(c);
        return;
    default:
        return; /* unsolicited pong (RFC 6455 5.5.3): ignored */
    }
}

/* proto.read: decodes what c->rbuf holds. */
static void process(pl_conn_t *c)
{
    if (c->closing || has(c, WS_IN_PROCESS))
        return;
    /* Before auth a client gets a much smaller message: an unauthenticated
     * socket can make the server hold at most this much in its reassembly
     * buffer (the auth request, `since` included, fits easily). */
    const pl_config_t *cfg = pl_net__cfg(c);
    size_t max = (size_t)cfg->max_ws_message;
    if (!has(c, WS_AUTHED))
        max = PL_MIN(max, (size_t)cfg->max_ws_preauth_message);
    clr(c, WS_PING_OUT); /* called for every read: the peer is alive */
    set(c, WS_IN_PROCESS);
    while (c->rbuf.len > 0 && !c->closing && !has(c, WS_FAILED) && !has(c, WS_CLOSE_RCVD)) {
        size_t used = 0;
        pl_ws_msg_t m;
        pl_ws_decoder_t d = dec_get(c);
        int rc = pl_ws_decode(&d, (uint8_t *)pl_buf_head(&c->rbuf), c->rbuf.len, max, &used, &m);
        dec_put(c, d); /* before on_message, which may dispose it */
        if (rc == PL_EAGAIN) {
            pl_buf_consume(&c->rbuf, used); /* complete fragments; a partial frame stays */
            break;
        }
        if (rc < 0) {
            fail(c, m.close_code, m.reason);
            break;
        }
        /* m may point into rbuf: consume only after handling it. */
        on_message(c, &m);
        pl_buf_consume(&c->rbuf, used);
    }
    clr(c, WS_IN_PROCESS);
    if (has(c, WS_FAILED) || has(c, WS_CLOSE_RCVD)) {
        /* Nothing more will be parsed: drop input (lingering reads discard). */
        pl_buf_consume(&c->rbuf, c->rbuf.len);
    }
    pl_net__schedule(c);
}

static void drained(pl_conn_t *c)
{
    if (c->closing || c->close_after_write)
        return;
    /* Both closes are out (or the connection failed): fail() and the close
     * receipt call pl_net__finish themselves; this only backs them up. */
    if (has(c, WS_FAILED) || (has(c, WS_CLOSE_SENT) && has(c, WS_CLOSE_RCVD))) {
        pl_net__finish(c);
        return;
    }
    /* The upper layer streams long answers: the next part once the previous
     * one is out. Only after reply frames, so fan-out costs nothing here. */
    if (has(c, WS_REPLY_WAIT) && !has(c, WS_CLOSING)) {
        clr(c, WS_REPLY_WAIT);
        pl_net__drain(c);
    }
}

/* An authenticated WebSocket's queue moved: its write-stall deadline
 * (sweep) starts again when it next stands still. */
static void progress(pl_conn_t *c, size_t n, bool waited)
{
    (void)n;
    (void)waited;
    if (has(c, WS_AUTHED) && !has(c, WS_CLOSING) && !c->close_after_write && !c->shut)
        c->deadline = 0;
}

static void sweep(pl_conn_t *c, uint64_t now)
{
    const pl_config_t *cfg = pl_net__cfg(c);
    if (has(c, WS_CLOSING) || c->close_after_write) {
        if (now >= c->deadline && !c->shut) {
            pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " close handshake timeout", c->id);
            pl_net__abort(c);
        }
        return;
    }
    if (!has(c, WS_AUTHED) && now >= c->deadline) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " peer=%s auth timeout after_ms=%" PRId64, c->id,
               pl_conn_peer(c), cfg->ws_auth_timeout_ms);
        ws_close(c, PL_WS_CLOSE_AUTH_TIMEOUT, "authentication timeout");
        return;
    }
    if (now - c->last_rx >= (uint64_t)cfg->ws_idle_timeout_ms) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " idle timeout", c->id);
        ws_close(c, PL_WS_CLOSE_IDLE, "idle timeout");
        return;
    }
    /* A client that reads nothing: answers and events stay queued (and more
     * answers wait on the session behind them). Once the queue has made no
     * progress for ws_idle_timeout_ms it is a slow consumer, whatever
     * input (a blind pong) the client still sends. deadline is 0 while the
     * queue moves (progress()) and armed here when it does not. */
    if (has(c, WS_AUTHED) && c->queued > 0) {
        if (c->deadline == 0) {
            c->deadline = now + (uint64_t)cfg->ws_idle_timeout_ms;
        } else if (now >= c->deadline) {
            slow_consumer(c, c->queued);
            return;
        }
    } else if (has(c, WS_AUTHED)) {
        c->deadline = 0;
    }
    /* A burst (presence events at auth, a sync) may have grown the queue's
     * array; a quiet connection need not keep it. */
    if (now - c->last_rx >= 1000)
        pl_net__queue_trim(c);
    /* One ping per quiet period: any input (a pong included) re-arms it. */
    if (!has(c, WS_PING_OUT) && now - c->last_rx >= (uint64_t)cfg->ws_ping_interval_ms) {
        set(c, WS_PING_OUT);
        queue_frame(c, PL_WS_OP_PING, NULL, 0);
    }
}

static void shutdown_conn(pl_conn_t *c)
{
    ws_close(c, 1001, "server shutting down");
}

static void closed(pl_conn_t *c)
{
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " closed", c->id);
    dec_dispose(c);
}

/* ---- sending / closing (on the loop that owns c) ---- */

/* The slow-consumer rule. An event (fan-out) must fit: queued + its size
 * within max_write_queue. A reply is the server's own answer to a request
 * the client made, and its size is the server's doing (the chat core pages
 * list replies by bytes and streams them, docs/protocol.md): it is refused
 * only when the queue already holds more than max_write_queue, i.e. the
 * client stopped reading. */
static int ws_send(pl_conn_t *c, pl_frame_t *f, bool reply)
{
    if (c->closing || c->close_after_write || has(c, WS_CLOSING))
        return PL_ECLOSED;
    size_t max = (size_t)pl_net__cfg(c)->max_write_queue;
    if (reply ? c->queued > max : c->queued + f->len > max) {
        slow_consumer(c, c->queued + f->len);
        return PL_ETOOBIG;
    }
    pl_net__queue(c, f);
    if (reply)
        set(c, WS_REPLY_WAIT);
    pl_net__stats(c)->frames_queued++;
    return 0;
}

static void ws_authenticated(pl_conn_t *c)
{
    if (c->closing)
        return;
    set(c, WS_AUTHED);
    if (!has(c, WS_CLOSING) && !c->close_after_write)
        c->deadline = 0; /* from now on: the write-stall deadline (sweep) */
}

static void ws_close(pl_conn_t *c, uint16_t code, const char *reason)
{
    if (c->closing || c->close_after_write || has(c, WS_CLOSING))
        return;
    closing_starts(c);
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " closing code=%u", c->id, (unsigned)code);
    send_close(c, code, reason); /* the reason is cut to 123 bytes */
}

/* The core loop found c a slow consumer (threads > 1; it logged). */
static void ws_slow(pl_conn_t *c)
{
    if (c->closing || c->close_after_write || has(c, WS_CLOSING))
        return;
    pl_net__stats(c)->slow_consumers++;
    pl_net__drop_unsent(c);
    ws_close(c, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer");
}

static const pl_conn_proto_t ws_proto = {
    .read = process,
    .drained = drained,
    .progress = progress,
    .sweep = sweep,
    .shutdown = shutdown_conn,
    .closed = closed,
    .send = ws_send,
    .close = ws_close,
    .authenticated = ws_authenticated,
    .slow = ws_slow,
};

/* ---- the opening handshake (RFC 6455 4.2) ---- */

/* ws_allowed_origins (empty: any). Tokens are not cookies, so a page on
 * another site that opens a WebSocket here gains nothing it could not do
 * from anywhere (docs/protocol.md); the list is for operators who want
 * browsers on other origins turned away all the same. A request without
 * Origin is not from a browser page and is let through. */
static bool origin_allowed(const pl_config_t *cfg, const char *origin)
{
    const char *list = cfg->ws_allowed_origins;
    if (origin == NULL || list == NULL || list[0] == '\0')
        return true;
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, " \t,");
        if (n && n == olen && strncasecmp(p, origin, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Installs the WebSocket reader on c, whose 101 is queued. */
static void start(pl_conn_t *c, bool echo)
{
    pl_conn_set_proto(c, &ws_proto, NULL);
    c->last_rx = pl_net__now(c);
    /* /v1/echo (conformance testing, off by default) has no auth: it gets
     * the full message size and no deadline. */
    if (echo)
        set(c, WS_ECHO | WS_AUTHED);
    else
        c->deadline = c->last_rx + (uint64_t)pl_net__cfg(c)->ws_auth_timeout_ms;
    pl_net__stats(c)->opened++;
    pl_net__read(c, true);
    if (!echo)
        pl_net__opened(c);
}

void pl_ws_upgrade(pl_conn_t *c, pl_http_msg_t *m)
{
    bool echo = strcmp(m->path, "/v1/echo") == 0;
    const char *upgrade = pl_http_msg_header(m, "Upgrade");
    const char *connection = pl_http_msg_header(m, "Connection");
    const char *version = pl_http_msg_header(m, "Sec-WebSocket-Version");
    const char *key = pl_http_msg_header(m, "Sec-WebSocket-Key");
    const char *why = NULL, *extra = NULL;
    if (strcmp(m->method, "GET") != 0)
        why = "websocket upgrade requires GET";
    else if (m->http_major != 1 || m->http_minor < 1)
        why = "websocket upgrade requires HTTP/1.1";
    else if (!upgrade || !pl_http_token_list_has(upgrade, "websocket"))
        why = "missing Upgrade: websocket";
    else if (!connection || !pl_http_token_list_has(connection, "upgrade"))
        why = "missing Connection: Upgrade";
    else if (!version || strcmp(version, "13") != 0) {
        why = "unsupported Sec-WebSocket-Version (13 required)";
        extra = "Sec-WebSocket-Version: 13\r\n";
    } else if (!key || !pl_ws_key_valid(key, strlen(key)))
        why = "missing or invalid Sec-WebSocket-Key";
    if (why) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " bad handshake: %s", c->id, why);
        pl_http_upgrade_refuse(c, m, 400, "bad_request", why, extra);
        return;
    }
    const char *origin = pl_http_msg_header(m, "Origin");
    if (!origin_allowed(pl_net__cfg(c), origin)) {
        pl_addr_t client;
        char peer[PL_NET_PEER_LEN];
        pl_http_msg_client(c, m, &client);
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " peer=%s upgrade refused origin=%.100s", c->id,
               pl_addr_format(&client, peer), origin);
        pl_http_upgrade_refuse(c, m, 403, "forbidden", "origin not allowed", NULL);
        return;
    }
    if (pl_net__shutting_down(c)) {
        pl_http_upgrade_refuse(c, m, 503, "shutting_down", "server shutting down", NULL);
        return;
    }
    /* From here on the connection's peer is the client (behind a trusted
     * proxy: the one it forwarded), for pl_conn_peer and the upper layer. */
    pl_http_msg_client(c, m, &c->peer);
    char accept[PL_WS_ACCEPT_LEN + 1];
    pl_ws_accept_key(key, strlen(key), accept);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    pl_net__queue_bytes(c, resp, (size_t)n);
    char peer[PL_NET_PEER_LEN];
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " open path=%s peer=%s", c->id, m->path,
           pl_net__peer_format(c, peer));
    pl_http_msg_free(m);
    start(c, echo);
}
