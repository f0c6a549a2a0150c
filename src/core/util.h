/* SPDX-License-Identifier: MIT */
/* util.h -- allocation that aborts on OOM, clocks, ids, small string helpers. */
#ifndef PL_CORE_UTIL_H
#define PL_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/** malloc/calloc/realloc/strdup that abort the process on OOM (like redis
 * zmalloc): callers never check for NULL. Free with free(). */
void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t n, size_t size);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);
char *pl_xstrndup(const char *s, size_t n);

/** Wall clock, milliseconds since the Unix epoch. */
int64_t pl_now_ms(void);
/** Monotonic clock, nanoseconds. */
uint64_t pl_mono_ns(void);

/** Formats an id as prefix + decimal ("u12", "r5", "m99", "d3") into out
 * (at least 24 bytes). Returns out. */
char *pl_id_fmt(char *out, char prefix, int64_t id);
/** Parses an id written by pl_id_fmt with the given prefix. Returns true and
 * sets *id (> 0) on success; false for anything else. */
bool pl_id_parse(const char *s, char prefix, int64_t *id);

/** Returns true if buf[0..len) is well-formed UTF-8 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
bool pl_utf8_valid(const char *buf, size_t len);

/** The value of a hexadecimal digit (either case), or -1. */
int pl_hexval(char ch);

#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PL_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
