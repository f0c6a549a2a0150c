/* SPDX-License-Identifier: MIT */
/* http_range.h -- the Range request header (RFC 9110 14.2). Pure: no I/O. */
#ifndef PL_HTTP_HTTP_RANGE_H
#define PL_HTTP_HTTP_RANGE_H

#include <stdint.h>

/** Parses a Range header value (borrowed, NUL-terminated; NULL allowed) for a
 * representation of size bytes. Only one byte range is honoured:
 * "bytes=first-last", "bytes=first-" and "bytes=-suffix".
 * Returns:
 *   1  a satisfiable range: *start and *len (> 0) are set (last is clamped
 *      to size - 1, a suffix longer than size means the whole thing);
 *   0  ignore the header and send the whole representation (absent, another
 *      unit, several ranges, or bad syntax: RFC 9110 14.2 lets a server
 *      ignore those);
 *  -1  unsatisfiable: answer 416 with "Content-Range: bytes * /size"
 *      (first >= size, or a zero-length suffix).
 * Out-parameters are written only when 1 is returned. */
int pl_http_range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len);

#endif
