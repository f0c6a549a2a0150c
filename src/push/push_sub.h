/* SPDX-License-Identifier: MIT */
/* push_sub.h -- what a user hands us for Web Push: a browser's
 * PushSubscription (endpoint URL and keys) and the checks on its endpoint,
 * and the `push` job's payload. Pure: no I/O (the address check takes an
 * address the caller resolved), so it is unit-tested and fuzzed
 * (fuzz_push). */
#ifndef PL_PUSH_PUSH_SUB_H
#define PL_PUSH_PUSH_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/ssrf.h"
#include "push/push_crypto.h"

#define PL_PUSH_ENDPOINT_MAX PL_SSRF_URL_MAX /* real services use < 600 */
#define PL_PUSH_HOST_MAX PL_SSRF_HOST_MAX
#define PL_PUSH_ORIGIN_MAX PL_SSRF_ORIGIN_MAX

/** An endpoint URL split up (the shared guard's, core/ssrf.h; origin is
 * the VAPID aud). */
typedef pl_ssrf_url_t pl_push_url_t;

/** pl_ssrf_url_parse (core/ssrf.h) for an endpoint: https://host[:port][/path][?query], no
 * userinfo, no fragment, printable ASCII only, at most PL_PUSH_ENDPOINT_MAX bytes. allow_http also
 * accepts http:// (push_allow_local, tests only). Returns 0 or PL_EINVAL with a reason in err. */
int pl_push_url_parse(const char *url, size_t len, bool allow_http, pl_push_url_t *out, char *err,
                      size_t errcap);

/** pl_ssrf_addr_public (core/ssrf.h): whether an address is one pushes may go to at all:
 * false for loopback, private (RFC 1918, fc00::/7), link-local, CGNAT,
 * unspecified, multicast, broadcast, documentation and IPv4-mapped forms of
 * those. sa is AF_INET or AF_INET6. */
bool pl_push_addr_public(const struct sockaddr *sa);

/** A subscription as the browser's PushSubscription.toJSON() gives it. */
typedef struct {
    char endpoint[PL_PUSH_ENDPOINT_MAX + 1];
    uint8_t p256dh[PL_PUSH_PUBKEY_LEN];
    uint8_t auth[PL_PUSH_AUTH_LEN];
    pl_push_url_t url;
} pl_push_sub_t;

/** Checks the arguments of `push_subscribe`: endpoint (a string the URL
 * parser accepts), keys.p256dh (base64url of a P-256 point on the curve),
 * keys.auth (base64url of exactly 16 bytes). The JSON text is one object
 * {"endpoint", "keys": {"p256dh", "auth"}, "expirationTime"?}. Returns 0 or
 * PL_EINVAL naming the problem in err. */
int pl_push_sub_parse(const char *json, size_t len, bool allow_http, pl_push_sub_t *out, char *err,
                      size_t errcap);

/** The payload of a `push` job (enqueued with the message; one per
 * subscription): where to send, how, and what (a JSON object shown by the
 * service worker). */
typedef struct {
    int64_t sub_id;
    pl_push_sub_t sub;
    char topic[33];   /* RFC 8030 5.4: <= 32 base64url characters; "" = none */
    char urgency[12]; /* very-low | low | normal | high */
    int64_t ttl_s;    /* RFC 8030 5.2, >= 0 */
    char *data;       /* owned: the JSON text to encrypt */
} pl_push_job_t;
void pl_push_job_dispose(pl_push_job_t *j);

/** Builds a job payload (malloc'd JSON text; free()). data is a JSON
 * object text. */
char *pl_push_job_build(int64_t sub_id, const char *endpoint, const char *p256dh, const char *auth,
                        const char *topic, const char *urgency, int64_t ttl_s, const char *data);
/** Parses a job payload, with every check of pl_push_sub_parse (a payload
 * is stored data, but a row written by an older or broken version must not
 * reach libcurl unchecked). 0 or PL_EINVAL with err. */
int pl_push_job_parse(const char *payload, size_t len, bool allow_http, pl_push_job_t *out,
                      char *err, size_t errcap);

#endif
