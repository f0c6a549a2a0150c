/* SPDX-License-Identifier: MIT */
/* ws_conn.c -- WebSocket connections: inbound frames through the pure
 * decoder (ws_decode.c, fed from the connection's read buffer), outbound
 * through the shared write queue, pre-encoded shared frames, the close
 * handshake, pings and idle timeouts. */
#include "net/net_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ws/ws.h"

/* Process-wide: pl_frame_new_text has no server argument. Atomic because
 * with several loops it may be read and bumped from different threads. */
static atomic_uint_fast64_t frames_encoded;

uint64_t pl_ws__frames_encoded(void)
{
    return atomic_load_explicit(&frames_encoded, memory_order_relaxed);
}

/* ---- frames ---- */

pl_frame_t *pl_ws__frame_new(unsigned opcode, const void *data, size_t len)
{
    uint8_t hdr[PL_WS_MAX_HEADER];
    size_t hl = pl_ws_frame_header(hdr, opcode, true, len);
    pl_frame_t *f = pl_xmalloc(sizeof *f + hl + len);
    atomic_init(&f->refs, 1);
    f->len = hl + len;
    memcpy(f->data, hdr, hl);
    if (len)
        memcpy(f->data + hl, data, len);
    return f;
}

pl_frame_t *pl_frame_new_text(const char *data, size_t len)
{
    atomic_fetch_add_explicit(&frames_encoded, 1, memory_order_relaxed);
    return pl_ws__frame_new(PL_WS_OP_TEXT, data, len);
}

pl_frame_t *pl_frame_ref(pl_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void pl_frame_unref(pl_frame_t *f)
{
    /* acq_rel: whichever loop drops the last reference sees every other
     * loop's use of the bytes finished before it frees them. */
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

size_t pl_frame_size(const pl_frame_t *f)
{
    return f->len;
}

/* ---- accessors ---- */

uint64_t pl_conn_id(const pl_conn_t *c)
{
    return c->id;
}

void *pl_conn_data(const pl_conn_t *c)
{
    return c->tcp.data;
}

void pl_conn_set_data(pl_conn_t *c, void *data)
{
    c->tcp.data = data;
}

void pl_conn_client_addr(const pl_conn_t *c, pl_addr_t *out)
{
    *out = c->peer;
}

const char *pl_conn_peer(const pl_conn_t *c)
{
    /* The connection keeps the raw address only (see conn.c). */
    static _Thread_local char buf[PL_NET_PEER_LEN];
    return pl_net__peer_format(c, buf);
}

size_t pl_conn_queued(const pl_conn_t *c)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__queued(c);
    return c->queued;
}

/* ---- inbound ---- */

static void queue_frame(pl_conn_t *c, unsigned opcode, const void *p, size_t n)
{
    pl_frame_t *f = pl_ws__frame_new(opcode, p, n);
    pl_net__queue(c, f);
    pl_frame_unref(f);
}

static void slow_consumer(pl_conn_t *c, size_t want)
{
    pl_server_t *srv = c->srv;
    pl_log(PL_LOG_WARN, "ws",
           "conn=%" PRIu64 " peer=%s slow consumer queued=%zu entries=%u want=%zu max=%" PRId64,
           c->id, pl_conn_peer(c), c->queued, (unsigned)(c->wq_tail - c->wq_head), want,
           srv->cfg->max_write_queue);
    srv->stats.slow_consumers++;
    pl_net__drop_unsent(c);
    pl_conn_close(c, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer");
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
    if (want > (size_t)c->srv->cfg->max_write_queue) {
        slow_consumer(c, want);
        return;
    }
    queue_frame(c, opcode, p, n);
}

/* Queues our close frame (code 0: an empty body) once per connection. From
 * then on nothing but the TCP close follows it (RFC 6455 5.5.1). */
static void send_close(pl_conn_t *c, unsigned code, const char *reason)
{
    if (c->ws_close_sent)
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
    c->ws_close_sent = true;
}

static void closing_starts(pl_conn_t *c)
{
    if (!c->ws_closing) {
        c->ws_closing = true;
        c->deadline = uv_now(c->srv->loop) + PL_WS_CLOSE_WAIT_MS;
    }
}

/* RFC 6455 7.1.7: fail the connection. Our close goes out, the rest of the
 * input is ignored, and the TCP connection closes once the frame is
 * written (the sweep enforces the deadline if it never is). */
static void fail(pl_conn_t *c, unsigned code, const char *reason)
{
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " protocol close code=%u reason=%s", c->id, code,
           reason);
    c->ws_failed = true;
    pl_ws_decoder_dispose(&c->dec);
    closing_starts(c);
    send_close(c, code, reason);
    pl_net__finish(c);
}

static void on_message(pl_conn_t *c, const pl_ws_msg_t *m)
{
    switch (m->opcode) {
    case PL_WS_OP_TEXT:
        if (c->ws_closing)
            return; /* RFC 6455 1.4: data after our close is discarded */
        if (c->echo)
            queue_reply(c, PL_WS_OP_TEXT, m->data, m->len);
        else if (c->srv->h.on_ws_message)
            c->srv->h.on_ws_message(c->srv->h.ud, c, m->len ? (const char *)m->data : "", m->len);
        return;
    case PL_WS_OP_BINARY:
        if (c->ws_closing)
            return;
        if (c->echo)
            queue_reply(c, PL_WS_OP_BINARY, m->data, m->len);
        else
            fail(c, 1003, "binary messages not supported");
        return;
    case PL_WS_OP_PING:
        /* RFC 6455 5.5.2: answer with the same payload, unless our close is
         * out (nothing may follow it). */
        if (!c->ws_close_sent)
            queue_reply(c, PL_WS_OP_PONG, m->data, m->len);
        return;
    case PL_WS_OP_CLOSE:
        pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " peer close code=%u", c->id, m->close_code);
        c->ws_close_rcvd = true;
        pl_ws_decoder_dispose(&c->dec); /* a message in progress never completes */
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

void pl_ws__start(pl_conn_t *c, bool echo)
{
    pl_server_t *srv = c->srv;
    c->mode = PL_CONN_WS;
    c->echo = echo;
    c->last_rx = uv_now(srv->loop);
    /* /v1/echo (conformance testing, off by default) has no auth: it gets
     * the full message size and no deadline. */
    c->authed = echo;
    if (!echo)
        c->deadline = c->last_rx + (uint64_t)srv->cfg->ws_auth_timeout_ms;
    srv->stats.ws_opened++;
    pl_net__read(c, true);
    if (!echo) {
        c->opened = true;
        if (srv->h.on_ws_open)
            srv->h.on_ws_open(srv->h.ud, c);
    }
}

void pl_ws__process(pl_conn_t *c)
{
    if (c->closing || c->in_ws)
        return;
    /* Before auth a client gets a much smaller message: an unauthenticated
     * socket can make the server hold at most this much in its reassembly
     * buffer (the auth request, `since` included, fits easily). */
    const pl_config_t *cfg = c->srv->cfg;
    size_t max = (size_t)cfg->max_ws_message;
    if (!c->authed)
        max = PL_MIN(max, (size_t)cfg->max_ws_preauth_message);
    c->ping_out = false; /* called for every read: the peer is alive */
    c->in_ws = true;
    while (c->rbuf.len > 0 && !c->closing && !c->ws_failed && !c->ws_close_rcvd) {
        size_t used = 0;
        pl_ws_msg_t m;
        int rc =
            pl_ws_decode(&c->dec, (uint8_t *)pl_buf_head(&c->rbuf), c->rbuf.len, max, &used, &m);
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
    c->in_ws = false;
    if (c->ws_failed || c->ws_close_rcvd) {
        /* Nothing more will be parsed: drop input (lingering reads discard). */
        pl_buf_consume(&c->rbuf, c->rbuf.len);
    }
    pl_net__schedule(c);
}

void pl_ws__drained(pl_conn_t *c)
{
    if (c->closing || c->close_after_write)
        return;
    /* Both closes are out (or the connection failed): fail() and the close
     * receipt call pl_net__finish themselves; this only backs them up. */
    if (c->ws_failed || (c->ws_close_sent && c->ws_close_rcvd)) {
        pl_net__finish(c);
        return;
    }
    /* The upper layer streams long answers: the next part once the previous
     * one is out. Only after reply frames, so fan-out costs nothing here. */
    if (c->reply_wait && !c->ws_closing) {
        c->reply_wait = false;
        if (c->opened && c->srv->h.on_ws_drain)
            c->srv->h.on_ws_drain(c->srv->h.ud, c);
    }
}

void pl_ws__sweep(pl_conn_t *c, uint64_t now)
{
    const pl_config_t *cfg = c->srv->cfg;
    if (c->ws_closing || c->close_after_write) {
        if (now >= c->deadline && !c->shut) {
            pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " close handshake timeout", c->id);
            pl_net__abort(c);
        }
        return;
    }
    if (!c->authed && now >= c->deadline) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " peer=%s auth timeout after_ms=%" PRId64, c->id,
               pl_conn_peer(c), cfg->ws_auth_timeout_ms);
        pl_conn_close(c, PL_WS_CLOSE_AUTH_TIMEOUT, "authentication timeout");
        return;
    }
    if (now - c->last_rx >= (uint64_t)cfg->ws_idle_timeout_ms) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " idle timeout", c->id);
        pl_conn_close(c, PL_WS_CLOSE_IDLE, "idle timeout");
        return;
    }
    /* A client that reads nothing: answers and events stay queued (and more
     * answers wait on the session behind them). Once the queue has made no
     * progress for ws_idle_timeout_ms it is a slow consumer, whatever
     * input (a blind pong) the client still sends. deadline is 0 while the
     * queue moves (conn.c advance) and armed here when it does not. */
    if (c->authed && c->queued > 0) {
        if (c->deadline == 0) {
            c->deadline = now + (uint64_t)cfg->ws_idle_timeout_ms;
        } else if (now >= c->deadline) {
            slow_consumer(c, c->queued);
            return;
        }
    } else if (c->authed) {
        c->deadline = 0;
    }
    /* A burst (presence events at auth, a sync) may have grown the queue's
     * array; a quiet connection need not keep it. */
    if (now - c->last_rx >= 1000)
        pl_net__queue_trim(c);
    /* One ping per quiet period: any input (a pong included) re-arms it. */
    if (!c->ping_out && now - c->last_rx >= (uint64_t)cfg->ws_ping_interval_ms) {
        c->ping_out = true;
        queue_frame(c, PL_WS_OP_PING, NULL, 0);
    }
}

void pl_ws__on_close(pl_conn_t *c)
{
    if (c->opened) {
        c->opened = false;
        if (c->srv->h.on_ws_close)
            c->srv->h.on_ws_close(c->srv->h.ud, c);
    }
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " closed", c->id);
    pl_ws_decoder_dispose(&c->dec);
}

/* ---- public sending / closing ---- */

/* The slow-consumer rule. An event (fan-out) must fit: queued + its size
 * within max_write_queue. A reply is the server's own answer to a request
 * the client made, and its size is the server's doing (the chat core pages
 * list replies by bytes and streams them, docs/protocol.md): it is refused
 * only when the queue already holds more than max_write_queue, i.e. the
 * client stopped reading. */
int pl_ws__send(pl_conn_t *c, pl_frame_t *f, bool reply)
{
    if (c->closing || c->ws_closing || c->close_after_write || c->mode != PL_CONN_WS)
        return PL_ECLOSED;
    pl_server_t *srv = c->srv;
    size_t max = (size_t)srv->cfg->max_write_queue;
    if (reply ? c->queued > max : c->queued + f->len > max) {
        slow_consumer(c, c->queued + f->len);
        return PL_ETOOBIG;
    }
    pl_net__queue(c, f);
    if (reply)
        c->reply_wait = true;
    srv->stats.frames_queued++;
    return 0;
}

int pl_conn_send_frame(pl_conn_t *c, pl_frame_t *f)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__send(c, f, false);
    return pl_ws__send(c, f, false);
}

int pl_conn_send_reply(pl_conn_t *c, pl_frame_t *f)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__send(c, f, true);
    return pl_ws__send(c, f, true);
}

int pl_conn_send_text(pl_conn_t *c, const char *data, size_t len)
{
    if (!PL_NET_REMOTE(c) &&
        (c->closing || c->ws_closing || c->close_after_write || c->mode != PL_CONN_WS))
        return PL_ECLOSED;
    pl_frame_t *f = pl_frame_new_text(data, len);
    int rc = pl_conn_send_frame(c, f);
    pl_frame_unref(f);
    return rc;
}

void pl_conn_set_authenticated(pl_conn_t *c)
{
    if (PL_NET_REMOTE(c)) {
        pl_loops__authenticated(c);
        return;
    }
    pl_ws__authenticated(c);
}

void pl_ws__authenticated(pl_conn_t *c)
{
    c->authed = true;
    if (!c->ws_closing && !c->close_after_write)
        c->deadline = 0; /* from now on: the write-stall deadline (sweep) */
}

void pl_conn_close(pl_conn_t *c, uint16_t code, const char *reason)
{
    if (PL_NET_REMOTE(c)) {
        pl_loops__close(c, code, reason);
        return;
    }
    if (c->closing || c->ws_closing || c->close_after_write || c->mode != PL_CONN_WS)
        return;
    closing_starts(c);
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " closing code=%u", c->id, (unsigned)code);
    send_close(c, code, reason); /* the reason is cut to 123 bytes */
}
