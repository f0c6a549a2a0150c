/* SPDX-License-Identifier: MIT */
/* wire_peek.h -- finding a request's id without parsing the request. */
#ifndef PL_CHAT_WIRE_PEEK_H
#define PL_CHAT_WIRE_PEEK_H

#include <stdbool.h>
#include <stddef.h>

/** Finds the top-level "id" of a request (n bytes at p, valid UTF-8, not
 * NUL-terminated) without parsing it, for answers given before the JSON
 * parser runs (rate_limited, too_many_pending). Sets *id and *len (borrowed:
 * a range of p) to its JSON text when it is an integer of at most 18 digits
 * or a well-formed string of at most 128 bytes; returns false otherwise
 * (answer with null). Bounded work, no allocation. */
bool pl_wire_peek_id(const char *p, size_t n, const char **id, size_t *len);

#endif
