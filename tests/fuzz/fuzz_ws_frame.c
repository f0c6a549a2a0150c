/* SPDX-License-Identifier: MIT */
/* fuzz_ws_frame.c -- libFuzzer target for inbound WebSocket frames: the
 * bytes go through the decoder (ws_decode.c) twice, whole and in chunks of
 * input-chosen sizes fed the way ws_conn.c feeds it (the unconsumed tail is
 * kept and the next read appended), and both runs must agree unit for unit;
 * in parleyd's direction or libparley's.
 * Plus the pure header decoder/encoder round trip and the handshake key
 * helpers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096
#define MAX_UNITS 256

typedef struct {
    unsigned op[MAX_UNITS];
    size_t len[MAX_UNITS];
    uint64_t sum[MAX_UNITS]; /* cheap digest of the payload */
    int n;
    unsigned error;
} trace_t;

static uint64_t digest(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Decodes p[0..len) arriving in chunks whose sizes cycle through steps[]
 * (nsteps >= 1, each >= 1). */
static void run(const uint8_t *p, size_t len, const size_t *steps, size_t nsteps, bool client,
                trace_t *t)
{
    memset(t, 0, sizeof *t);
    pl_ws_decoder_t d = {0};
    uint8_t *pend = malloc(len + 1); /* the decoder unmasks in place: own copy */
    size_t plen = 0, pos = 0, k = 0;
    while (pos < len && !t->error && t->n < MAX_UNITS) {
        size_t step = steps[k++ % nsteps];
        if (step > len - pos)
            step = len - pos;
        memcpy(pend + plen, p + pos, step);
        plen += step;
        pos += step;
        while (plen > 0 && t->n < MAX_UNITS) {
            size_t used = 0;
            pl_ws_msg_t m;
            int rc = client ? pl_ws_decode_client(&d, pend, plen, MAX_MSG, &used, &m)
                            : pl_ws_decode(&d, pend, plen, MAX_MSG, &used, &m);
            if (rc == PL_EAGAIN) {
                if (used > plen)
                    abort();
                memmove(pend, pend + used, plen - used);
                plen -= used;
                /* A partial frame can never hold more than a header and a
                 * payload the cap allows. */
                if (plen > 14 + MAX_MSG)
                    abort();
                break;
            }
            if (rc < 0) {
                if (m.close_code != 1002 && m.close_code != 1007 && m.close_code != 1009)
                    abort();
                t->error = m.close_code;
                break;
            }
            if (rc != 1 || used == 0 || used > plen)
                abort();
            if (m.opcode == PL_WS_OP_TEXT && !pl_utf8_valid((const char *)m.data, m.len))
                abort();
            if (m.opcode & 0x08 ? m.len > 125 : m.len > MAX_MSG)
                abort();
            t->op[t->n] = m.opcode;
            t->len[t->n] = m.len;
            t->sum[t->n] = digest(m.data, m.len);
            t->n++;
            memmove(pend, pend + used, plen - used);
            plen -= used;
        }
    }
    pl_ws_decoder_dispose(&d);
    free(pend);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* First byte: how many chunk-size bytes follow (0-7); bit 3: decode as
     * libparley does (server frames, unmasked). */
    size_t nsteps = data[0] & 7;
    bool client = (data[0] & 8) != 0;
    if (size < 1 + nsteps)
        return 0;
    size_t steps[8];
    for (size_t i = 0; i < nsteps; i++)
        steps[i] = data[1 + i] % 64 + 1u;
    const uint8_t *p = data + 1 + nsteps;
    size_t len = size - 1 - nsteps;

    /* Pure header codec: decode, and re-encode what decodes. */
    uint8_t b0;
    bool masked;
    uint64_t plen;
    int hl = pl_ws_frame_parse_header(p, len, &b0, &masked, &plen);
    if (hl > 0) {
        uint8_t hdr[PL_WS_MAX_HEADER], b0b;
        size_t n = pl_ws_frame_header(hdr, b0 & 0x0F, (b0 & 0x80) != 0, plen);
        uint64_t plen2;
        if (pl_ws_frame_parse_header(hdr, n, &b0b, &masked, &plen2) != (int)n || plen2 != plen)
            abort();
    }
    if (len >= 24) {
        char accept[PL_WS_ACCEPT_LEN + 1];
        if (pl_ws_key_valid((const char *)p, 24))
            pl_ws_accept_key((const char *)p, 24, accept);
    }

    /* The decoder, whole and chunked: same units, same verdict. */
    static trace_t whole, chunked;
    size_t all = len ? len : 1;
    run(p, len, &all, 1, client, &whole);
    if (nsteps == 0) {
        steps[0] = 1;
        nsteps = 1;
    }
    run(p, len, steps, nsteps, client, &chunked);
    if (whole.n >= MAX_UNITS || chunked.n >= MAX_UNITS)
        return 0; /* truncated runs are not comparable */
    if (whole.n != chunked.n || whole.error != chunked.error)
        abort();
    for (int i = 0; i < whole.n; i++)
        if (whole.op[i] != chunked.op[i] || whole.len[i] != chunked.len[i] ||
            whole.sum[i] != chunked.sum[i])
            abort();
    return 0;
}
