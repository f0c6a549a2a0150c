/* SPDX-License-Identifier: MIT */
/* lib_internal.h -- libparley internals shared between its .c files. */
#ifndef PARLEY_LIB_INTERNAL_H
#define PARLEY_LIB_INTERNAL_H

#include "parley.h"

#include <stddef.h>

/** A parsed server URL. */
typedef struct {
    char host[256];    /* host name or address, without brackets */
    int port;          /* TCP port */
    char prefix[256];  /* http base path without trailing '/', "" for none */
    char ws_path[512]; /* path for the WebSocket upgrade */
    bool tls;          /* https:// or wss:// (client/lib/tls.h) */
} parley__url_t;

/** Parses "http[s]://host[:port][/prefix]" or "ws[s]://host[:port][/path]"
 * (https and wss: TLS, port 443 by default).
 * Returns PARLEY_OK or PARLEY_EINVAL. */
int parley__url_parse(const char *url, parley__url_t *out);

/** Fills err (may be NULL) with code and a printf-style message. */
void parley__set_error(parley_error_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Fills err (may be NULL) for the local error rc: its code string and
 * parley_strerror text. */
void parley__set_error_rc(parley_error_t *err, int rc);

/** Fills err from a server error object {"code","message"} (borrowed, may be
 * NULL or malformed). */
void parley__set_error_json(parley_error_t *err, const json_t *error);

/** Local error code string for a PARLEY_E* rc. */
const char *parley__rc_code(int rc);

/** Appends n bytes at `at` to the malloc'ed, NUL-terminated *buf of *len
 * bytes, keeping it NUL-terminated. Returns 0, or -1 (buf unchanged) when
 * the result would exceed max bytes or memory runs out. */
int parley__buf_append(char **buf, size_t *len, const char *at, size_t n, size_t max);

/** Milliseconds from a monotonic clock. */
uint64_t parley__now_ms(void);

/** One HTTP request on loop; calls cb once with the status (or a negative
 * PARLEY_E* code) and the parsed JSON body (borrowed, may be NULL). body may be
 * NULL (no body); token may be NULL. Resolves with AF_INET6 when host contains
 * ':' and AF_INET otherwise. Returns PARLEY_OK when started (cb then runs
 * later, exactly once), else an error and cb is never called. */
typedef void (*parley__http_cb)(int status_or_rc, json_t *body, const char *errmsg, void *ud);
int parley__http_start(uv_loop_t *loop, const parley__url_t *url, const char *method,
                       const char *path, const char *token, const json_t *body, int timeout_ms,
                       parley__http_cb cb, void *ud);

/** Computes base64(SHA-1(key || RFC 6455 GUID)) into out (>= 29 bytes). */
int parley__ws_accept(const char *key, char *out, size_t cap);

#endif
