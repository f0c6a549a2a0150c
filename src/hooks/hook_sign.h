/* SPDX-License-Identifier: MIT */
/* hook_sign.h -- the signature of outgoing webhook requests (issue 16):
 * HMAC-SHA256 with the webhook's signing secret over "<timestamp>.<body>",
 * sent as
 *
 *   X-Parley-Timestamp: 1732730000            (seconds since the epoch)
 *   X-Parley-Signature: v1=<64 lowercase hex digits>
 *
 * and how a receiver checks it (the same code serves parleyd's tests and
 * the example bots): the timestamp must be within a tolerance of the
 * receiver's clock (a replayed request older than that is refused), and
 * one of the comma-separated v1= signatures must match, compared in
 * constant time. Pure: no I/O, no libuv; fuzzed (fuzz_hook_body, its
 * signature half).
 *
 * Status: the primitive only. The delivery of outgoing webhooks (the job
 * queue, libcurl, the SSRF guard) is not built yet. */
#ifndef PL_HOOKS_HOOK_SIGN_H
#define PL_HOOKS_HOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

/** "v1=" + 64 hex digits. */
#define PL_HOOK_SIG_LEN 67
/** Longest signature header a receiver reads (several v1= entries, e.g.
 * during a secret rotation). */
#define PL_HOOK_SIG_HEADER_MAX 1024

typedef enum {
    PL_HOOK_SIG_OK = 0,
    PL_HOOK_SIG_BAD_HEADER, /* a header is missing or malformed */
    PL_HOOK_SIG_STALE,      /* the timestamp is outside the tolerance (replay) */
    PL_HOOK_SIG_MISMATCH,   /* well-formed, but no signature matches */
} pl_hook_sig_err_t;

/** Writes the X-Parley-Signature value for body signed at ts (seconds)
 * with key (klen bytes) into out (NUL-terminated). */
void pl_hook_sign(const uint8_t *key, size_t klen, int64_t ts, const char *body, size_t len,
                  char out[PL_HOOK_SIG_LEN + 1]);

/** Checks a request: ts_header and sig_header are the header values
 * (NUL-terminated; NULL when absent), body the raw body, now_s the
 * receiver's clock, tolerance_s how far ts may lie from it either way. */
pl_hook_sig_err_t pl_hook_verify(const uint8_t *key, size_t klen, const char *ts_header,
                                 const char *sig_header, const char *body, size_t len,
                                 int64_t now_s, int64_t tolerance_s);

#endif
