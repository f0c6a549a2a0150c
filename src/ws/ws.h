/* SPDX-License-Identifier: MIT */
/* ws.h -- pure RFC 6455 helpers: server frame headers, close-frame checks and
 * the opening-handshake key computation. No I/O, no <uv.h>: unit-tested and
 * fuzzed directly. Thread-safe (no state). */
#ifndef PL_WS_WS_H
#define PL_WS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest header of an unmasked (server->client) frame: 2 + 8 bytes. */
#define PL_WS_MAX_HEADER 10
/** Length of a Sec-WebSocket-Accept value (base64 of 20 bytes), without NUL. */
#define PL_WS_ACCEPT_LEN 28

enum {
    PL_WS_OP_CONT = 0x0,
    PL_WS_OP_TEXT = 0x1,
    PL_WS_OP_BINARY = 0x2,
    PL_WS_OP_CLOSE = 0x8,
    PL_WS_OP_PING = 0x9,
    PL_WS_OP_PONG = 0xA,
};

/** Writes the header of an unmasked frame (FIN set when fin) with opcode
 * (0..15) and payload_len (< 2^63) into out. Returns the header size (2, 4
 * or 10). RFC 6455 5.2: minimal length encoding is always used. */
size_t pl_ws_frame_header(uint8_t out[PL_WS_MAX_HEADER], unsigned opcode, bool fin,
                          uint64_t payload_len);

/** Decodes a frame header (either direction) from p[0..len). Returns the
 * header size (including the 4-byte mask key when masked), PL_EAGAIN when
 * more bytes are needed, or PL_EPROTO for a 64-bit length with the MSB set.
 * Out-parameters are written only on success. Used by tests and fuzzers. */
int pl_ws_frame_parse_header(const uint8_t *p, size_t len, uint8_t *b0, bool *masked,
                             uint64_t *payload_len);

/** RFC 6455 7.4: true if code may appear in a close frame on the wire
 * (1000-1003, 1007-1014, 3000-4999). 1004-1006, 1015 and the rest are not. */
bool pl_ws_close_code_valid(unsigned code);

/** Checks the payload of a received close frame. Returns 0 if acceptable,
 * 1002 (1-byte payload or invalid code) or 1007 (reason not UTF-8): the code
 * the server must fail the connection with. */
unsigned pl_ws_close_payload_check(const uint8_t *p, size_t len);

/** True if key (len bytes, not NUL-terminated) is a valid
 * Sec-WebSocket-Key: base64 of exactly 16 bytes (RFC 6455 4.2.1). */
bool pl_ws_key_valid(const char *key, size_t len);

/** Computes Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)).
 * out receives PL_WS_ACCEPT_LEN characters and a NUL. Returns 0, or
 * PL_EINVAL if key is longer than 256 bytes. */
int pl_ws_accept_key(const char *key, size_t len, char out[PL_WS_ACCEPT_LEN + 1]);

#endif
