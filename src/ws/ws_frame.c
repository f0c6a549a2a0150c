/* SPDX-License-Identifier: MIT */
/* ws_frame.c -- RFC 6455 frame header codec and close-frame checks. No I/O. */
#include "ws/ws.h"

#include "core/err.h"
#include "core/util.h"

size_t pl_ws_frame_header(uint8_t out[PL_WS_MAX_HEADER], unsigned opcode, bool fin,
                          uint64_t payload_len)
{
    out[0] = (uint8_t)((fin ? 0x80u : 0u) | (opcode & 0x0Fu));
    /* RFC 6455 5.2: 7-bit length up to 125, 126 + 16-bit, 127 + 64-bit.
     * Server frames are never masked (5.1), so bit 7 of byte 1 stays 0. */
    if (payload_len <= 125) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

int pl_ws_frame_parse_header(const uint8_t *p, size_t len, uint8_t *b0, bool *masked,
                             uint64_t *payload_len)
{
    if (len < 2)
        return PL_EAGAIN;
    bool m = (p[1] & 0x80) != 0;
    uint64_t n = p[1] & 0x7F;
    size_t hlen = 2;
    if (n == 126) {
        if (len < 4)
            return PL_EAGAIN;
        n = ((uint64_t)p[2] << 8) | p[3];
        hlen = 4;
    } else if (n == 127) {
        if (len < 10)
            return PL_EAGAIN;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | p[2 + i];
        /* RFC 6455 5.2: the most significant bit MUST be 0. */
        if (n >> 63)
            return PL_EPROTO;
        hlen = 10;
    }
    if (m)
        hlen += 4;
    if (len < hlen)
        return PL_EAGAIN;
    *b0 = p[0];
    *masked = m;
    *payload_len = n;
    return (int)hlen;
}

bool pl_ws_close_code_valid(unsigned code)
{
    /* RFC 6455 7.4.1 + the IANA registry: 1004 is reserved, 1005/1006/1015
     * must never be sent, 1016-2999 are unassigned, 3000-4999 are for
     * libraries and applications. */
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

unsigned pl_ws_close_payload_check(const uint8_t *p, size_t len)
{
    if (len == 0)
        return 0;
    /* RFC 6455 5.5.1: a body starts with a 2-byte code; 1 byte is malformed. */
    if (len == 1)
        return 1002;
    unsigned code = ((unsigned)p[0] << 8) | p[1];
    if (!pl_ws_close_code_valid(code))
        return 1002;
    if (!pl_utf8_valid((const char *)p + 2, len - 2))
        return 1007;
    return 0;
}
