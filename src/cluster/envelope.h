/* SPDX-License-Identifier: MIT */
/* envelope.h -- the cluster bus's message format. Pure: no I/O, no libuv.
 *
 * One Redis PUBLISH carries one envelope: a text header line, then the
 * payload bytes as they are (for an event, the JSON text the publishing node
 * already encoded for its own connections: the receiving node frames those
 * bytes once and shares the frame, it never re-encodes):
 *
 *     PL1 <node> <kind> <a> <b> <c> <d>\n<payload>
 *
 * node is the publisher's node_id (1..PL_ENV_NODE_MAX bytes of
 * [A-Za-z0-9._:-]); kind one letter (PL_ENV_*); a..d decimal integers
 * 0..10^18 whose meaning depends on the kind (below). */
#ifndef PL_CLUSTER_ENVELOPE_H
#define PL_CLUSTER_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define PL_ENV_NODE_MAX 64

/* Kinds, with the meaning of a, b, c, d and the payload. */
enum {
    PL_ENV_ROOM = 'R',     /* a room event: a room, b seq (message), c version
                            * (update), d a user whose sessions skip it (0:
                            * none); payload: the event JSON */
    PL_ENV_USER = 'U',     /* an event for one user's sessions: a user; payload JSON */
    PL_ENV_CONTACTS = 'C', /* an event for everyone sharing a room with a
                            * user (presence, profile): a user; payload JSON */
    PL_ENV_MEMBER = 'M',   /* membership: a room, b user, c 1 added / 0 removed */
    PL_ENV_NEWROOM = 'N',  /* a room was created: a room, b kind; payload its name */
    PL_ENV_CLOSE = 'D',    /* close a device's sockets: a user, b device, c close
                            * code; payload the reason */
    PL_ENV_MUTE = 'Q',     /* moderation (issue 17): a room, b user muted until
                            * c (ms since the epoch; 0 = unmuted) */
    /* On pl:nodes, between the bus modules themselves (cluster.c): */
    PL_ENV_HEARTBEAT = 'H', /* the node is alive (every cluster_heartbeat_ms) */
    PL_ENV_LOST = 'L',      /* the node lost publishes (dropped or failed while
                             * Redis was away): the others catch up from the store;
                             * a: the wall-clock ms of the first lost one (0:
                             * not said, by a node of an older version) */
};

typedef struct {
    const char *node; /* borrowed from the parsed text */
    size_t node_len;
    char kind;
    int64_t a, b, c, d;
    const char *payload; /* borrowed; may be empty */
    size_t payload_len;
} pl_env_t;

/** Parses one envelope. Returns 0 and fills *out (pointing into p), or
 * PL_EPROTO for anything malformed (unknown version, bad node, unknown kind,
 * a number out of range, no header end). Never reads past p + len. */
int pl_env_parse(const char *p, size_t len, pl_env_t *out);

/** Appends one envelope to b. node must be valid (pl_env_node_ok); numbers
 * must be in 0..10^18. */
void pl_env_format(pl_buf_t *b, const char *node, char kind, int64_t a, int64_t b_, int64_t c,
                   int64_t d, const char *payload, size_t payload_len);

/** True if s (len bytes) may be a node name. */
int pl_env_node_ok(const char *s, size_t len);

#endif
