/* SPDX-License-Identifier: MIT */
/* call_cmd.h -- the arguments of the call ops (issue 19): call_invite,
 * call_ring, call_answer, call_reject, call_cancel, call_hangup, call_join,
 * call_leave and call_signal. Pure: no session, no I/O; the command layer
 * (command.c) calls these from its op table, so they are unit-tested
 * (tests/unit/test_chat_calls.c) and fuzzed with it (fuzz_command). */
#ifndef PL_CHAT_CALL_CMD_H
#define PL_CHAT_CALL_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/command.h"

/** Parsers of the op table's type: true with c->u.call filled, or false
 * with *e set (bad_request, too_large). req, cfg borrowed. */
bool pl_call_cmd_invite(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e);
/** Ops whose only argument is "call". */
bool pl_call_cmd_id(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e);
/** call_signal: "call", "to"? (a user id), and "signal": {"type": "offer" |
 * "answer", "sdp": string <= call_max_sdp_bytes} or {"type": "candidate",
 * "candidate": {"candidate": string <= call_max_sdp_bytes, "sdpMid"?:
 * string <= 64 bytes, "sdpMLineIndex"?: 0..255, "usernameFragment"?:
 * string <= 256 bytes} or null (end of candidates)}. Unknown keys are
 * refused: the signal is relayed as parsed, nothing else rides along.
 * c->u.call.signal: its compact JSON (owned; pl_cmd_dispose frees it). */
bool pl_call_cmd_signal(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e);

/** Reads a call id "c" + 16 lowercase hex digits (not all zero) into *out. */
bool pl_call_id_parse(const char *s, uint64_t *out);
/** Writes the call id text (18 bytes with the NUL) into out. */
void pl_call_id_format(uint64_t id, char out[18]);

#endif
