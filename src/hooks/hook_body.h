/* SPDX-License-Identifier: MIT */
/* hook_body.h -- incoming webhooks (issue 16): the secret URL's path and
 * the Slack-compatible request body, turned into a message content. Pure:
 * no I/O, no libuv; unit-tested and fuzzed (tests/fuzz/fuzz_hook_body.c). */
#ifndef PL_HOOKS_HOOK_BODY_H
#define PL_HOOKS_HOOK_BODY_H

#include <stddef.h>
#include <stdint.h>

/** The secret's length: 32 random bytes in base64url without padding (as
 * auth.h PL_TOKEN_LEN). */
#define PL_HOOK_SECRET_LEN 43
/** Longest webhook name and `username` override, in bytes. */
#define PL_HOOK_NAME_MAX 64
/** Longest icon URL, in bytes. */
#define PL_HOOK_ICON_MAX 512

/** Why a path or body was refused. */
typedef enum {
    PL_HOOK_OK = 0,
    PL_HOOK_NOT_HOOK,  /* the path is not /v1/hooks/w<id>/<secret> */
    PL_HOOK_BAD_JSON,  /* the body is not JSON */
    PL_HOOK_BAD_BODY,  /* JSON, but not a valid payload (the message says why) */
    PL_HOOK_TOO_LARGE, /* the content would exceed max_content */
} pl_hook_err_t;

/** Splits "/v1/hooks/w<id>/<secret>" (NUL-terminated, not percent-decoded)
 * into the webhook id (> 0) and the secret (exactly PL_HOOK_SECRET_LEN
 * characters of [A-Za-z0-9_-], copied with its NUL into secret). Returns
 * PL_HOOK_OK, or PL_HOOK_NOT_HOOK for anything else (trailing slash, query
 * text, leading zeros, an id beyond INT64_MAX). out-params are written only
 * on success. */
pl_hook_err_t pl_hook_path_parse(const char *path, int64_t *id,
                                 char secret[PL_HOOK_SECRET_LEN + 1]);

/** True when s (NUL-terminated) is a usable name: 1..PL_HOOK_NAME_MAX bytes,
 * no control characters, not only spaces. */
int pl_hook_name_ok(const char *s);
/** True when s is "" or an http(s) URL of at most PL_HOOK_ICON_MAX bytes
 * without spaces, quotes, angle brackets or control characters. */
int pl_hook_icon_ok(const char *s);

/** The webhook a body posts as (borrowed). */
typedef struct {
    int64_t id;
    const char *name;     /* the webhook's name */
    const char *icon_url; /* its icon, "" when none */
} pl_hook_ident_t;

/** Parses a body (len bytes, any bytes) of {"text", "username"?,
 * "icon_url"?} (Slack's incoming-webhook fields; other Slack fields such as
 * "channel" are ignored: a webhook posts only to its own room) into the
 * compact JSON text of a message content, written to *content (owned,
 * free()):
 *   {"type":"text","body":<text>,"via":{"webhook":"w<id>","name":<name>,
 *    "username":<username, when given>,"icon_url":<icon, when any>}}
 * Markdown in text passes through unchanged. A content longer than
 * max_content bytes is refused. On error a message for humans goes to err
 * (cap bytes, NUL-terminated) and *content is untouched. */
pl_hook_err_t pl_hook_body_parse(const char *body, size_t len, const pl_hook_ident_t *who,
                                 size_t max_content, char **content, char *err, size_t cap);

#endif
