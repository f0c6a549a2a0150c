/* SPDX-License-Identifier: MIT */
/* ws.h -- pure RFC 6455 helpers: server frame headers, the incremental
 * inbound frame decoder, close-frame checks and the opening-handshake key
 * computation. No I/O, no <uv.h>: unit-tested and fuzzed directly. The
 * helpers are thread-safe (no state); a decoder belongs to one connection. */
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

/* ---- inbound decoder ---- */

/** A message being reassembled from fragments (opaque; ws_decode.c). */
typedef struct pl_ws_frag pl_ws_frag_t;

/** Per-connection inbound state. Zero-initialize it; it owns memory only
 * while a fragmented message is incomplete (the reassembly buffer is never
 * preallocated), so an idle connection's decoder is one NULL pointer.
 * Release with pl_ws_decoder_dispose(). */
typedef struct {
    pl_ws_frag_t *frag; /* NULL, or the message in progress / just delivered */
} pl_ws_decoder_t;

/** One decoded unit: a whole data message, or a control frame. */
typedef struct {
    unsigned opcode;     /* PL_WS_OP_TEXT / _BINARY (whole message), _CLOSE, _PING, _PONG;
                          * 0 after an error */
    const uint8_t *data; /* payload, unmasked; borrowed (see pl_ws_decode) */
    size_t len;
    unsigned close_code; /* _CLOSE: the code in the payload, 1005 when empty. After an
                          * error: the code to fail the connection with */
    const char *reason;  /* after an error: static text for logs and the close frame */
} pl_ws_msg_t;

/** Decodes client->server frames from p[0..len). The bytes are unmasked in
 * place, so p must be writable. Whole frames only: a partial frame at the
 * end is left unconsumed, and the caller presents it again, followed by
 * more input, on the next call.
 *
 * Returns 1 when *out holds a message or control frame; *used bytes were
 * consumed. out->data points into p (single-frame messages and control
 * frames) or into the decoder (reassembled messages) and stays valid until
 * the next call on d or pl_ws_decoder_dispose; the caller must not move or
 * reuse p[0..*used) before it is done with out.
 * Returns PL_EAGAIN when more input is needed; *used bytes (complete
 * non-final fragments, now inside the decoder) were consumed, and the rest
 * is a partial frame to keep.
 * Returns PL_EPROTO when the peer violated RFC 6455: out->close_code is
 * 1002 (framing: unmasked frame, RSV bits, unknown opcode, bad control
 * frame, unexpected continuation or start, 64-bit length with the MSB set,
 * bad close payload), 1007 (text or close reason not UTF-8) or 1009 (the
 * message would exceed max_msg bytes; detected from the header, before any
 * payload is buffered). out->reason says why; *used is unspecified. Stop
 * decoding after an error. max_msg caps a whole (reassembled) message. */
int pl_ws_decode(pl_ws_decoder_t *d, uint8_t *p, size_t len, size_t max_msg, size_t *used,
                 pl_ws_msg_t *out);

/** The same for a client (libparley) decoding server->client frames, which
 * must not be masked (a masked one is a 1002 error). */
int pl_ws_decode_client(pl_ws_decoder_t *d, uint8_t *p, size_t len, size_t max_msg, size_t *used,
                        pl_ws_msg_t *out);

/** True while a fragmented message is incomplete. */
bool pl_ws_decoder_busy(const pl_ws_decoder_t *d);

/** Frees whatever d holds (accepts a zeroed decoder) and zeroes it. */
void pl_ws_decoder_dispose(pl_ws_decoder_t *d);

/** XORs n bytes at p with the 4-byte mask key, starting at key offset 0. */
void pl_ws_unmask(uint8_t *p, size_t n, const uint8_t key[4]);

#endif
