/* SPDX-License-Identifier: MIT */
/* json.h -- the one JSON string writer for hand-built JSON (HTTP error
 * bodies, chat replies and events). Pure: no I/O, no allocation but the
 * buffer's. */
#ifndef PL_CORE_JSON_H
#define PL_CORE_JSON_H

#include <stddef.h>

#include "core/buf.h"

/** Appends s[0..n) as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \b \f \n \r \t or \u00XX, everything else (UTF-8 included)
 * as is (NUL as \u0000) -- byte for byte what jansson's compact dump writes.
 * Text that is not valid UTF-8 is written as "" (jansson refuses to make such
 * a string; peer input is validated before it gets here). */
void pl_json_str(pl_buf_t *b, const char *s, size_t n);

/** The same for a NUL-terminated string; NULL is written as "". */
void pl_json_cstr(pl_buf_t *b, const char *s);

#endif
