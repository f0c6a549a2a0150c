/* SPDX-License-Identifier: MIT */
/* ws_conn.h -- WebSocket connections on the server: the upgrade from HTTP
 * (http/http.h on_upgrade), the reader it installs on the connection, and
 * the text frames the upper layer builds once and sends to many (net's
 * pl_conn_* calls then carry them). The pure codec is ws/ws.h. */
#ifndef PL_WS_WS_CONN_H
#define PL_WS_WS_CONN_H

#include <stddef.h>

#include "http/http_parse.h"
#include "net/server.h"

/* Close codes parleyd uses besides RFC 6455's (1000 normal, 1001 going away,
 * 1002 protocol error, 1003 unsupported data, 1007 invalid payload, 1008 policy,
 * 1009 too big, 1011 internal error). */
#define PL_WS_CLOSE_SLOW_CONSUMER 4008 /* outbound queue over max_write_queue: resync */
#define PL_WS_CLOSE_IDLE 4000          /* nothing received for ws_idle_timeout_ms */
#define PL_WS_CLOSE_AUTH_TIMEOUT 4001  /* not authenticated ws_auth_timeout_ms after the upgrade */

/** Encodes one server->client text frame around data (copied) with refcount
 * 1, counted in frames_encoded. Free with pl_frame_unref(). Any thread. */
pl_frame_t *pl_frame_new_text(const char *data, size_t len);
/** The payload of a frame made here (pl_frame_new_text: unmasked, one
 * frame): a pointer into f (borrowed, valid while f is referenced), its
 * length in *len. The cluster bus publishes these bytes as they are. */
const char *pl_frame_payload(const pl_frame_t *f, size_t *len);

/** http/http.h on_upgrade: the opening handshake (RFC 6455 4.2) for GET
 * /v1/ws (a message connection for the upper layer) and /v1/echo
 * (conformance testing: echoes, no auth). Takes m; refuses with 400, 403
 * (ws_allowed_origins) or 503 (shutting down), or answers 101 and installs
 * the WebSocket reader on c. */
void pl_ws_upgrade(pl_conn_t *c, pl_http_msg_t *m);

#endif
