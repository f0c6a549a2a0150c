/* SPDX-License-Identifier: MIT */
/* ws_decode.c -- incremental RFC 6455 inbound frame decoder: parleyd's
 * (client->server frames) and libparley's (server->client). No I/O: bytes
 * in, messages and control frames out. */
#include "ws/ws.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

/* The reassembly buffer of a fragmented message. It exists only from the
 * first fragment until the message has been delivered, so a connection
 * that is not in the middle of a fragmented message owns nothing here. */
struct pl_ws_frag {
    size_t len, cap;
    size_t checked; /* text: bytes [0, checked) are valid, whole UTF-8 sequences */
    uint8_t op;     /* PL_WS_OP_TEXT or PL_WS_OP_BINARY */
    bool done;      /* delivered: freed on the next call */
    uint8_t data[];
};

void pl_ws_unmask(uint8_t *p, size_t n, const uint8_t key[4])
{
    /* Eight bytes at a time through memcpy (no alignment assumptions; the
     * compiler turns it into plain loads and stores), then the tail. */
    uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t k;
    memcpy(&k, k8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= key[i & 3];
}

bool pl_ws_decoder_busy(const pl_ws_decoder_t *d)
{
    return d->frag != NULL && !d->frag->done;
}

void pl_ws_decoder_dispose(pl_ws_decoder_t *d)
{
    free(d->frag);
    d->frag = NULL;
}

static int fail(pl_ws_msg_t *out, unsigned code, const char *reason)
{
    memset(out, 0, sizeof *out);
    out->close_code = code;
    out->reason = reason;
    return PL_EPROTO;
}

/* Length of a trailing UTF-8 sequence in s[0..len) that is cut off by the
 * end of the buffer (a lead byte whose continuation bytes have not arrived
 * yet), or 0. Only the lead byte's announced length is looked at; whether
 * the sequence is valid is decided once it is complete. */
static size_t utf8_incomplete_tail(const uint8_t *s, size_t len)
{
    for (size_t i = 1; i <= 3 && i <= len; i++) {
        uint8_t b = s[len - i];
        if ((b & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back */
        if (b < 0xC0)
            return 0; /* ASCII: everything before the end is whole */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        return need > i ? i : 0;
    }
    return 0;
}

/* Appends a (non-final or final) fragment's payload to the reassembly
 * buffer, growing it geometrically up to max_msg. The caller has checked
 * that len + n <= max_msg. */
static pl_ws_frag_t *frag_append(pl_ws_frag_t *f, const uint8_t *p, size_t n, size_t max_msg)
{
    size_t need = f->len + n;
    if (need > f->cap) {
        size_t cap = f->cap * 2;
        if (cap < 256)
            cap = 256;
        if (cap > max_msg)
            cap = max_msg;
        if (cap < need)
            cap = need;
        f = pl_xrealloc(f, sizeof *f + cap);
        f->cap = cap;
    }
    if (n)
        memcpy(f->data + f->len, p, n);
    f->len = need;
    return f;
}

/* RFC 6455 8.1: text must be UTF-8. A fragmented message is checked as
 * its fragments arrive (fail fast, as Autobahn's 6.4.x expects), up to the
 * last whole sequence; the final fragment checks everything left. */
static bool frag_utf8_ok(pl_ws_frag_t *f, bool fin)
{
    size_t end = f->len;
    if (!fin)
        end -= utf8_incomplete_tail(f->data + f->checked, f->len - f->checked);
    if (end > f->checked && !pl_utf8_valid((const char *)f->data + f->checked, end - f->checked))
        return false;
    f->checked = end;
    return true;
}

/* from_client: frames must be masked (a server decoding); otherwise they
 * must not be (a client decoding). */
static int decode(pl_ws_decoder_t *d, uint8_t *p, size_t len, size_t max_msg, bool from_client,
                  size_t *used, pl_ws_msg_t *out)
{
    if (d->frag && d->frag->done)
        pl_ws_decoder_dispose(d); /* the message returned last time */
    size_t off = 0;
    for (;;) {
        *used = off;
        uint8_t b0;
        bool masked;
        uint64_t plen;
        int hl = pl_ws_frame_parse_header(p + off, len - off, &b0, &masked, &plen);
        if (hl == PL_EAGAIN)
            return PL_EAGAIN;
        if (hl < 0)
            return fail(out, 1002, "64-bit length with the most significant bit set");
        unsigned op = b0 & 0x0F;
        bool fin = (b0 & 0x80) != 0;
        /* RFC 6455 5.2: RSV1-3 must be 0 without a negotiated extension
         * (parleyd negotiates none). */
        if (b0 & 0x70)
            return fail(out, 1002, "reserved bits set");
        /* RFC 6455 5.1: a client masks every frame it sends, a server none. */
        if (masked != from_client)
            return fail(out, 1002, masked ? "masked server frame" : "unmasked client frame");
        if (op & 0x08) {
            if (op != PL_WS_OP_CLOSE && op != PL_WS_OP_PING && op != PL_WS_OP_PONG)
                return fail(out, 1002, "reserved opcode");
            /* RFC 6455 5.5: control frames carry <= 125 bytes and are never
             * fragmented; they may arrive between a message's fragments. */
            if (!fin)
                return fail(out, 1002, "fragmented control frame");
            if (plen > 125)
                return fail(out, 1002, "control frame over 125 bytes");
        } else {
            if (op != PL_WS_OP_CONT && op != PL_WS_OP_TEXT && op != PL_WS_OP_BINARY)
                return fail(out, 1002, "reserved opcode");
            bool in_msg = pl_ws_decoder_busy(d);
            /* RFC 6455 5.4: a continuation needs a started message, and a new
             * message may not start before the previous one finished. */
            if (op == PL_WS_OP_CONT && !in_msg)
                return fail(out, 1002, "continuation without a message");
            if (op != PL_WS_OP_CONT && in_msg)
                return fail(out, 1002, "new message inside a fragmented message");
            /* The cap applies to the reassembled message, and it is checked
             * on the header, so an oversized frame is never buffered. */
            size_t have = in_msg ? d->frag->len : 0;
            if (plen > max_msg || have + plen > max_msg)
                return fail(out, 1009, "message too big");
        }
        if (plen > len - off - (size_t)hl)
            return PL_EAGAIN; /* the frame is not complete yet: keep it */
        uint8_t *payload = p + off + hl;
        size_t n = (size_t)plen;
        if (masked)
            pl_ws_unmask(payload, n, payload - 4);
        off += (size_t)hl + n;

        if (op & 0x08) {
            memset(out, 0, sizeof *out);
            out->opcode = op;
            out->data = payload;
            out->len = n;
            if (op == PL_WS_OP_CLOSE) {
                unsigned code = pl_ws_close_payload_check(payload, n);
                if (code)
                    return fail(out, code,
                                code == 1007 ? "invalid utf-8 in close reason" : "bad close frame");
                /* RFC 6455 7.1.5: no code in the frame reads as 1005. */
                out->close_code = n ? ((unsigned)payload[0] << 8) | payload[1] : 1005;
            }
            *used = off;
            return 1;
        }
        if (fin && op != PL_WS_OP_CONT) {
            /* The common case: a whole message in one frame, delivered from
             * the caller's buffer without a copy. */
            if (op == PL_WS_OP_TEXT && !pl_utf8_valid((const char *)payload, n))
                return fail(out, 1007, "invalid utf-8");
            memset(out, 0, sizeof *out);
            out->opcode = op;
            out->data = payload;
            out->len = n;
            *used = off;
            return 1;
        }
        if (op != PL_WS_OP_CONT) {
            d->frag = pl_xcalloc(1, sizeof *d->frag);
            d->frag->op = (uint8_t)op;
        }
        d->frag = frag_append(d->frag, payload, n, max_msg);
        if (d->frag->op == PL_WS_OP_TEXT && !frag_utf8_ok(d->frag, fin))
            return fail(out, 1007, "invalid utf-8");
        if (fin) {
            d->frag->done = true;
            memset(out, 0, sizeof *out);
            out->opcode = d->frag->op;
            out->data = d->frag->data;
            out->len = d->frag->len;
            *used = off;
            return 1;
        }
    }
}

int pl_ws_decode(pl_ws_decoder_t *d, uint8_t *p, size_t len, size_t max_msg, size_t *used,
                 pl_ws_msg_t *out)
{
    return decode(d, p, len, max_msg, true, used, out);
}

int pl_ws_decode_client(pl_ws_decoder_t *d, uint8_t *p, size_t len, size_t max_msg, size_t *used,
                        pl_ws_msg_t *out)
{
    return decode(d, p, len, max_msg, false, used, out);
}
