/* SPDX-License-Identifier: MIT */
/* wire_peek.h -- finding a request's id without parsing the request. */
#ifndef PL_CHAT_WIRE_PEEK_H
#define PL_CHAT_WIRE_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Finds the top-level "id" of a request (n bytes at p, valid UTF-8, not
 * NUL-terminated) without parsing it, for answers given before the JSON
 * parser runs (rate_limited, too_many_pending). Sets *id and *len (borrowed:
 * a range of p) to its JSON text when it is an integer of at most 18 digits
 * or a well-formed string of at most 128 bytes; returns false otherwise
 * (answer with null). Bounded work, no allocation. */
bool pl_wire_peek_id(const char *p, size_t n, const char **id, size_t *len);

/** Reads the markers of a `receipt` event exactly as receipts.c frames it
 * ({"ev":"receipt","room":"r<id>","user":"u<id>"[,"read_seq":<n>],
 * "delivered_seq":<n>,...}), for the cluster relay's duplicate check of
 * receipts other nodes publish. Sets *room, *user, *read_seq (-1 when the
 * event has none) and *delivered_seq and returns true; false for any other
 * text (another event, another layout, a number of more than 18 digits).
 * n bytes at p, not NUL-terminated. Bounded work, no allocation. */
bool pl_wire_peek_receipt(const char *p, size_t n, int64_t *room, int64_t *user, int64_t *read_seq,
                          int64_t *delivered_seq);

#endif
