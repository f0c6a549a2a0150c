/* SPDX-License-Identifier: MIT */
/* ws_conn.c -- WebSocket connections: inbound frames through wslay's event
 * API (fed from the connection's read buffer), outbound through the shared
 * write queue (wslay's own control frames included), pre-encoded shared
 * frames, the close handshake, pings and idle timeouts. */
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
    return c->data;
}

void pl_conn_set_data(pl_conn_t *c, void *data)
{
    c->data = data;
}

const char *pl_conn_peer(const pl_conn_t *c)
{
    return c->peer;
}

size_t pl_conn_queued(const pl_conn_t *c)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__queued(c);
    return c->queued;
}

/* ---- wslay plumbing ---- */

/* Moves whatever wslay has to send (pongs, close frames) into the write
 * queue, behind everything queued before. Safe inside wslay's receive
 * callbacks: wslay_event_send only touches the send side of the context. */
static void pump(pl_conn_t *c)
{
    if (c->ws_failed || c->closing || !c->ws)
        return;
    if (wslay_event_want_write(c->ws)) {
        int r = wslay_event_send(c->ws);
        if (r != 0)
            pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " wslay send err=%d", c->id, r);
        /* wslay writes only from here, so this is the one place a close can
         * go out; remember it so pl_ws__drained need not ask wslay after
         * every flush (a cache miss on its context per delivery). */
        if (wslay_event_get_close_sent(c->ws))
            c->ws_close_sent = true;
    }
    if (c->wsout.len > 0) {
        pl_net__queue_bytes(c, pl_buf_head(&c->wsout), c->wsout.len);
        pl_buf_reset(&c->wsout, 0); /* idle connections keep no storage */
    }
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    pl_conn_t *c = ud;
    if (c->rbuf.len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = PL_MIN(len, c->rbuf.len);
    memcpy(buf, pl_buf_head(&c->rbuf), n);
    pl_buf_consume(&c->rbuf, n);
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)ctx, (void)flags;
    pl_conn_t *c = ud;
    pl_buf_append(&c->wsout, data, len);
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx, (void)ud;
    memset(buf, 0, len); /* servers never mask; wslay does not call this */
    return 0;
}

/* Fails the connection from inside a wslay callback: queue our close code
 * (wslay then neither echoes the peer's close nor reads further). */
static void fail_in_wslay(pl_conn_t *c, unsigned code, const char *reason)
{
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " protocol close code=%u reason=%s", c->id, code,
           reason);
    if (!c->ws_closing) {
        c->ws_closing = true;
        c->ws_close_deadline = uv_now(c->srv->loop) + PL_WS_CLOSE_WAIT_MS;
    }
    wslay_event_queue_close(c->ws, (uint16_t)code, (const uint8_t *)reason, strlen(reason));
    wslay_event_shutdown_read(c->ws);
}

static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)ctx;
    pl_conn_t *c = ud;
    c->cur_op = arg->opcode;
    if (arg->opcode == PL_WS_OP_CLOSE)
        c->cf_len = 0;
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    (void)ctx;
    pl_conn_t *c = ud;
    if (c->cur_op != PL_WS_OP_CLOSE)
        return;
    /* Control frames are <= 125 bytes (wslay enforces it); clamp anyway. */
    size_t n = PL_MIN(arg->data_length, sizeof c->cf - c->cf_len);
    memcpy(c->cf + c->cf_len, arg->data, n);
    c->cf_len += n;
}

static void on_frame_end(wslay_event_context_ptr ctx, void *ud)
{
    (void)ctx;
    pl_conn_t *c = ud;
    if (c->cur_op != PL_WS_OP_CLOSE)
        return;
    /* wslay 1.1.1 accepts a 1-byte close body and never checks the reason's
     * UTF-8 (RFC 6455 5.5.1, 7.1.6); this runs before wslay echoes the close,
     * so our code wins. */
    unsigned code = pl_ws_close_payload_check(c->cf, c->cf_len);
    if (code)
        fail_in_wslay(c, code, code == 1007 ? "invalid utf-8 in close reason" : "bad close frame");
}

static void echo_msg(pl_conn_t *c, unsigned opcode, const uint8_t *msg, size_t len)
{
    pl_frame_t *f = pl_ws__frame_new(opcode, msg, len);
    pl_net__queue(c, f);
    pl_frame_unref(f);
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    (void)ctx;
    pl_conn_t *c = ud;
    /* A pong (or close) wslay queued for an earlier frame goes out before
     * anything this message produces: replies keep the order of requests. */
    pump(c);
    switch (arg->opcode) {
    case PL_WS_OP_TEXT:
        if (c->ws_closing)
            return;
        /* wslay 1.1.1 does not validate UTF-8 (RFC 6455 8.1). */
        if (arg->msg_length > 0 && !pl_utf8_valid((const char *)arg->msg, arg->msg_length)) {
            fail_in_wslay(c, 1007, "invalid utf-8");
            return;
        }
        if (c->echo)
            echo_msg(c, PL_WS_OP_TEXT, arg->msg, arg->msg_length);
        else if (c->srv->h.on_ws_message)
            c->srv->h.on_ws_message(c->srv->h.ud, c, arg->msg ? (const char *)arg->msg : "",
                                    arg->msg_length);
        return;
    case PL_WS_OP_BINARY:
        if (c->ws_closing)
            return;
        if (c->echo)
            echo_msg(c, PL_WS_OP_BINARY, arg->msg, arg->msg_length);
        else
            fail_in_wslay(c, 1003, "binary messages not supported");
        return;
    case PL_WS_OP_CLOSE:
        pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " peer close code=%u", c->id,
               (unsigned)arg->status_code);
        if (!c->ws_closing) {
            c->ws_closing = true;
            c->ws_close_deadline = uv_now(c->srv->loop) + PL_WS_CLOSE_WAIT_MS;
        }
        return;
    default:
        return; /* ping (wslay queued the pong) and pong */
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .genmask_callback = genmask_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_frame_recv_end_callback = on_frame_end,
    .on_msg_recv_callback = on_msg,
};

void pl_ws__start(pl_conn_t *c, bool echo)
{
    pl_server_t *srv = c->srv;
    c->mode = PL_CONN_WS;
    c->echo = echo;
    c->last_rx = c->last_ping = uv_now(srv->loop);
    if (wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        pl_net__abort(c);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, (uint64_t)srv->cfg->max_ws_message);
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
    if (c->closing || c->in_wslay || !c->ws)
        return;
    if (c->rbuf.len > 0 && !c->ws_failed && wslay_event_want_read(c->ws)) {
        c->in_wslay = true;
        int r = wslay_event_recv(c->ws);
        c->in_wslay = false;
        if (c->closing)
            return;
        if (r != 0) {
            /* Frame-level violations (oversized or fragmented control frame,
             * 64-bit length with the MSB set, ...) end here. wslay's own close
             * frame for them carries no code; send ours instead, unless a
             * close already left. */
            pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " protocol error err=%d", c->id, r);
            bool sent = wslay_event_get_close_sent(c->ws);
            c->ws_failed = true;
            c->ws_closing = true;
            if (!sent) {
                uint8_t body[2] = {1002 >> 8, 1002 & 0xFF};
                pl_frame_t *f = pl_ws__frame_new(PL_WS_OP_CLOSE, body, 2);
                pl_net__queue(c, f);
                pl_frame_unref(f);
            }
            pl_net__finish(c);
            return;
        }
    }
    if (!wslay_event_want_read(c->ws)) {
        /* Nothing more will be parsed: drop input (lingering reads discard). */
        pl_buf_consume(&c->rbuf, c->rbuf.len);
    }
    pump(c);
    pl_net__schedule(c);
}

void pl_ws__drained(pl_conn_t *c)
{
    if (c->closing || c->close_after_write || !c->ws)
        return;
    if (c->ws_failed) {
        pl_net__finish(c);
        return;
    }
    /* wslay may send a close on its own (protocol errors it detects), which
     * pump() records: ws_closing alone would miss those. */
    if (!c->ws_close_sent)
        return;
    /* RFC 6455 7.1.1: after both closes, the server closes TCP first. If the
     * peer's close has not come yet, the sweep enforces the deadline. */
    if (wslay_event_get_close_received(c->ws) || !wslay_event_get_read_enabled(c->ws))
        pl_net__finish(c);
}

void pl_ws__sweep(pl_conn_t *c, uint64_t now)
{
    const pl_config_t *cfg = c->srv->cfg;
    if (c->ws_closing || c->close_after_write) {
        if (now >= c->ws_close_deadline && !c->shut) {
            pl_log(PL_LOG_DEBUG, "ws", "conn=%" PRIu64 " close handshake timeout", c->id);
            pl_net__abort(c);
        }
        return;
    }
    if (now - c->last_rx >= (uint64_t)cfg->ws_idle_timeout_ms) {
        pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " idle timeout", c->id);
        pl_conn_close(c, PL_WS_CLOSE_IDLE, "idle timeout");
        return;
    }
    if (now - c->last_rx >= (uint64_t)cfg->ws_ping_interval_ms &&
        now - c->last_ping >= (uint64_t)cfg->ws_ping_interval_ms) {
        struct wslay_event_msg m = {PL_WS_OP_PING, (const uint8_t *)"", 0};
        c->last_ping = now;
        if (wslay_event_queue_msg(c->ws, &m) == 0)
            pump(c);
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
    wslay_event_context_free(c->ws);
    c->ws = NULL;
}

/* ---- public sending / closing ---- */

int pl_conn_send_frame(pl_conn_t *c, pl_frame_t *f)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__send(c, f);
    if (c->closing || c->ws_closing || c->close_after_write || c->mode != PL_CONN_WS)
        return PL_ECLOSED;
    pl_server_t *srv = c->srv;
    if (c->queued + f->len > (size_t)srv->cfg->max_write_queue) {
        pl_log(PL_LOG_WARN, "ws", "conn=%" PRIu64 " slow consumer queued=%zu max=%" PRId64, c->id,
               c->queued, srv->cfg->max_write_queue);
        srv->stats.slow_consumers++;
        pl_net__drop_unsent(c);
        pl_conn_close(c, PL_WS_CLOSE_SLOW_CONSUMER, "slow consumer");
        return PL_ETOOBIG;
    }
    pl_net__queue(c, f);
    srv->stats.frames_queued++;
    return 0;
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

void pl_conn_close(pl_conn_t *c, uint16_t code, const char *reason)
{
    if (PL_NET_REMOTE(c)) {
        pl_loops__close(c, code, reason);
        return;
    }
    if (c->closing || c->ws_closing || c->close_after_write || c->mode != PL_CONN_WS)
        return;
    c->ws_closing = true;
    c->ws_close_deadline = uv_now(c->srv->loop) + PL_WS_CLOSE_WAIT_MS;
    size_t rl = reason ? PL_MIN(strlen(reason), 123) : 0;
    pl_log(PL_LOG_INFO, "ws", "conn=%" PRIu64 " closing code=%u", c->id, (unsigned)code);
    wslay_event_queue_close(c->ws, code, (const uint8_t *)(reason ? reason : ""), rl);
    pump(c);
}
