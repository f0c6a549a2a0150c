/* SPDX-License-Identifier: MIT */
/* hook_send.h -- one signed POST of an outgoing webhook event (issue 16,
 * step 2): the target checked (hook_out.h), every address of its host
 * checked and pinned (core/ssrf.h), the body signed (hook_sign.h), a
 * timeout and a cap on the answer, no redirects, no proxy. Blocking
 * (libcurl easy): for a pool thread, as the push handler. curl_global_init
 * must have run. The job handler that calls it is not built yet. */
#ifndef PL_HOOKS_HOOK_SEND_H
#define PL_HOOKS_HOOK_SEND_H

#include <stddef.h>
#include <stdint.h>

/** Bytes of a receiver's answer read at most; a longer one is cut off. */
#define PL_HOOK_ANSWER_MAX 16384

typedef struct {
    const char *url;         /* the webhook's target */
    const char *allow_hosts; /* the operator's allow list (hook_out.h); NULL = none */
    const uint8_t *key;      /* the signing secret */
    size_t klen;
    const char *body; /* the event (JSON text) */
    int64_t now_s;    /* X-Parley-Timestamp */
    int64_t timeout_ms;
} pl_hook_send_t;

/** POSTs the event. Returns 0 when the receiver answered 2xx (*reply: the
 * text of a {"text"} answer, owned, or NULL); PL_EIO when worth a retry
 * (DNS, connection, timeout, 429, 5xx); PL_EINVAL when it never will be
 * (a refused URL or address, another status). *status receives the HTTP
 * status (0 when none). err gets the reason (no secrets). */
int pl_hook_send(const pl_hook_send_t *a, long *status, char **reply, char *err, size_t errcap);

#endif
