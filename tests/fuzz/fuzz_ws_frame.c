/* SPDX-License-Identifier: MIT */
/* fuzz_ws_frame.c -- libFuzzer target for inbound WebSocket frames: the
 * bytes go through a wslay server context configured like ws_conn.c (same
 * close-frame and UTF-8 checks, max message cap), plus the pure header
 * decoder/encoder round trip and the handshake key helpers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "core/err.h"
#include "core/util.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t len, off, step;
    uint8_t op;
    uint8_t cf[125];
    size_t cf_len;
    size_t out;
    int failed;
} fz_t;

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    fz_t *f = ud;
    if (f->off >= f->len) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = f->len - f->off;
    if (n > len)
        n = len;
    if (n > f->step)
        n = f->step;
    memcpy(buf, f->p + f->off, n);
    f->off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *d, size_t len, int flags,
                       void *ud)
{
    (void)ctx, (void)d, (void)flags;
    ((fz_t *)ud)->out += len;
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx, (void)ud;
    memset(buf, 0, len);
    return 0;
}

static void on_start(wslay_event_context_ptr ctx,
                     const struct wslay_event_on_frame_recv_start_arg *a, void *ud)
{
    (void)ctx;
    fz_t *f = ud;
    f->op = a->opcode;
    if (a->opcode == 0x8)
        f->cf_len = 0;
}

static void on_chunk(wslay_event_context_ptr ctx,
                     const struct wslay_event_on_frame_recv_chunk_arg *a, void *ud)
{
    (void)ctx;
    fz_t *f = ud;
    if (f->op != 0x8)
        return;
    size_t n = a->data_length;
    if (n > sizeof f->cf - f->cf_len)
        n = sizeof f->cf - f->cf_len;
    memcpy(f->cf + f->cf_len, a->data, n);
    f->cf_len += n;
}

static void on_end(wslay_event_context_ptr ctx, void *ud)
{
    fz_t *f = ud;
    if (f->op == 0x8 && pl_ws_close_payload_check(f->cf, f->cf_len)) {
        wslay_event_queue_close(ctx, 1002, NULL, 0);
        wslay_event_shutdown_read(ctx);
    }
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *ud)
{
    fz_t *f = ud;
    if (a->opcode == 0x1 && a->msg_length > 0 &&
        !pl_utf8_valid((const char *)a->msg, a->msg_length)) {
        f->failed = 1007;
        wslay_event_queue_close(ctx, 1007, NULL, 0);
        wslay_event_shutdown_read(ctx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_t f = {.p = data + 1, .len = size - 1, .step = (size_t)data[0] % 32 + 1};

    /* Pure header codec: decode, and re-encode what decodes. */
    uint8_t b0;
    bool masked;
    uint64_t plen;
    int hl = pl_ws_frame_parse_header(f.p, f.len, &b0, &masked, &plen);
    if (hl > 0) {
        uint8_t hdr[PL_WS_MAX_HEADER], b0b;
        size_t n = pl_ws_frame_header(hdr, b0 & 0x0F, (b0 & 0x80) != 0, plen);
        uint64_t plen2;
        if (pl_ws_frame_parse_header(hdr, n, &b0b, &masked, &plen2) != (int)n || plen2 != plen)
            abort();
    }
    if (f.len >= 24) {
        char accept[PL_WS_ACCEPT_LEN + 1];
        if (pl_ws_key_valid((const char *)f.p, 24))
            pl_ws_accept_key((const char *)f.p, 24, accept);
    }

    /* wslay event API, as ws_conn.c drives it. */
    struct wslay_event_callbacks cb = {recv_cb,  send_cb, genmask_cb, on_start,
                                       on_chunk, on_end,  on_msg};
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &cb, &f) != 0)
        return 0;
    wslay_event_config_set_max_recv_msg_length(ctx, 4096);
    for (int i = 0; i < 1024 && f.off < f.len && wslay_event_want_read(ctx); i++) {
        if (wslay_event_recv(ctx) != 0)
            break;
        if (wslay_event_want_write(ctx))
            wslay_event_send(ctx);
    }
    wslay_event_context_free(ctx);
    return 0;
}
