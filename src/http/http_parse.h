/* SPDX-License-Identifier: MIT */
/* http_parse.h -- incremental HTTP/1.1 request reader on top of http-parser,
 * with parleyd's limits (header bytes, body bytes). Pure: bytes in, whole
 * requests out; no <uv.h>, so it is unit-tested and fuzzed directly.
 * Not thread-safe per object; use one per connection. */
#ifndef PL_HTTP_HTTP_PARSE_H
#define PL_HTTP_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "core/buf.h"

typedef struct {
    char *name;  /* NUL-terminated, as received */
    char *value; /* NUL-terminated, surrounding whitespace trimmed */
} pl_http_header_t;

/** One complete request. Owned by whoever took it from the parser; free with
 * pl_http_msg_free(). */
typedef struct {
    char method[24];           /* "GET", "POST", ... */
    char *path;                /* request target up to '?', NUL-terminated */
    char *query;               /* after '?', or "" */
    pl_http_header_t *headers; /* nheaders entries */
    size_t nheaders, cap;
    pl_buf_t body;   /* decoded body (chunked decoded); NUL-terminated */
    bool keep_alive; /* http_should_keep_alive() at completion */
    bool upgrade;    /* http-parser saw Upgrade + Connection: upgrade */
    unsigned short http_major, http_minor;
} pl_http_msg_t;

typedef struct {
    http_parser p;
    size_t max_header;   /* request line + headers, bytes */
    size_t max_body;     /* decoded body, bytes */
    size_t header_bytes; /* counted so far for the current message */
    pl_http_msg_t *msg;  /* in progress, or complete and not yet taken */
    pl_buf_t url, field, value;
    int last;              /* 0 none, 1 in a field name, 2 in a value */
    int error_status;      /* 400, 413, 417 or 431 after an error */
    const char *error_msg; /* static text for the error response */
    bool complete;         /* msg complete; parser paused until take */
    bool in_message;       /* between message begin and complete */
    /* Streaming hooks (optional; see pl_http_parse_set_hooks). */
    int (*on_headers)(void *ud, pl_http_msg_t *m);
    int (*on_body)(void *ud, const char *data, size_t len);
    void *hook_ud;
    bool streaming; /* the current message's body goes to on_body, not msg->body */
    /* The current message's headers carried Expect: 100-continue (HTTP/1.1),
     * were accepted (limits, hooks), announce a body, and no body byte has
     * arrived yet: the caller owes a 100 Continue (and clears this). */
    bool continue_due;
    void *stream; /* owned by the connection layer (http_conn.c), opaque here */
    /* The strict scan of the request head (http_parse.c, scan_head): where
     * it is in the current request's head, and whether the last byte was
     * CR. */
    unsigned char head;
    bool head_cr;
} pl_http_parse_t;

/* error_status value when a streaming hook refused the request: its owner
 * has answered already, so the caller sends nothing and just closes. */
#define PL_HTTP_REFUSED 1

/** Initializes hp for requests with the given limits. */
void pl_http_parse_init(pl_http_parse_t *hp, size_t max_header, size_t max_body);
/** Installs streaming hooks. on_headers runs when a request's headers are
 * complete (m borrowed): return 1 to stream its body to on_body (chunked
 * framing removed; max_body does not apply), 0 to buffer it as usual, or -1
 * to refuse (error_status becomes PL_HTTP_REFUSED). on_body returns 0, or -1
 * to refuse the rest of the body the same way. */
void pl_http_parse_set_hooks(pl_http_parse_t *hp, int (*on_headers)(void *ud, pl_http_msg_t *m),
                             int (*on_body)(void *ud, const char *data, size_t len), void *ud);

/** Returns an owned copy of m's request line and headers (no body). Free
 * with pl_http_msg_free. */
pl_http_msg_t *pl_http_msg_clone_head(const pl_http_msg_t *m);

/** Frees everything hp owns (including an untaken message). */
void pl_http_parse_dispose(pl_http_parse_t *hp);

/** Feeds len > 0 bytes. Returns:
 *   0  all bytes consumed, the request is not complete yet (*consumed = len);
 *   1  a request completed after *consumed bytes; take it with
 *      pl_http_parse_take() before feeding the rest;
 *   PL_EPROTO / PL_ETOOBIG  the request is unacceptable: answer
 *      hp->error_status (400, 413, 417 or 431) with hp->error_msg and close.
 *      400 also covers RFC 9112 3.2: an HTTP/1.1 request without a Host
 *      header, any request with more than one, or an invalid one; 417 an
 *      Expect other than 100-continue (RFC 9110 10.1.1).
 * After an error, further calls keep returning the error. */
int pl_http_parse_feed(pl_http_parse_t *hp, const char *data, size_t len, size_t *consumed);

/** Takes the completed request (returns owned; free with pl_http_msg_free)
 * and readies the parser for the next one. NULL if none is complete. */
pl_http_msg_t *pl_http_parse_take(pl_http_parse_t *hp);

/** True while a request has started but not completed (for slow-request
 * timeouts). */
bool pl_http_parse_busy(const pl_http_parse_t *hp);

/** Case-insensitive header lookup; borrowed value or NULL. */
const char *pl_http_msg_header(const pl_http_msg_t *m, const char *name);
/** Every value of a list header (case-insensitive name) in arrival order,
 * joined with ", " into out (RFC 9110 5.3: several lines of one field are
 * one comma-separated list). Returns false, leaving out untouched, when the
 * request has no such header. */
bool pl_http_msg_header_list(const pl_http_msg_t *m, const char *name, pl_buf_t *out);

/** True if the comma-separated header value list contains token
 * (case-insensitive), e.g. Connection: keep-alive, Upgrade. */
bool pl_http_token_list_has(const char *list, const char *token);

void pl_http_msg_free(pl_http_msg_t *m);

#endif
