/* SPDX-License-Identifier: MIT */
/* ssrf.h -- the guard of every request parleyd makes to a URL a user gave
 * it (Web Push endpoints, outgoing webhooks; issue 15 and 16): the URL's
 * shape, whether an address is public, and a resolver that checks every
 * address of a host and pins the connection to the one checked (libcurl's
 * CURLOPT_RESOLVE form), so a second DNS answer cannot swap it for a
 * private one. Moved here from src/push/push_sub.c and push.c so the push
 * and webhook senders share one guard. Parsing and the address check are
 * pure (unit-tested, fuzzed through fuzz_push); pl_ssrf_resolve does DNS
 * (blocking: pool threads only). */
#ifndef PL_CORE_SSRF_H
#define PL_CORE_SSRF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PL_SSRF_URL_MAX 1024 /* bytes of URL */
#define PL_SSRF_HOST_MAX 253
#define PL_SSRF_ORIGIN_MAX (8 + PL_SSRF_HOST_MAX + 2 + 6 + 1)
/* "host:port:address" for CURLOPT_RESOLVE. */
#define PL_SSRF_PIN_MAX (PL_SSRF_HOST_MAX + 80)

/** A URL split up. */
typedef struct {
    bool https;                      /* false: http:// (only when allowed) */
    char host[PL_SSRF_HOST_MAX + 1]; /* lowercase; an IPv6 literal without brackets */
    bool ipv6;                       /* host is an IPv6 literal */
    uint16_t port;                   /* 443 / 80 when the URL names none */
    char origin[PL_SSRF_ORIGIN_MAX]; /* scheme://host[:port] (RFC 6454) */
} pl_ssrf_url_t;

/** Parses https://host[:port][/path][?query], no userinfo, no fragment,
 * printable ASCII only, at most PL_SSRF_URL_MAX bytes. allow_http also
 * accepts http://. Returns 0 or PL_EINVAL with a reason in err. */
int pl_ssrf_url_parse(const char *url, size_t len, bool allow_http, pl_ssrf_url_t *out, char *err,
                      size_t errcap);

/** Whether an address is one parleyd may send to at all: false for
 * loopback, private (RFC 1918, fc00::/7), link-local, CGNAT, unspecified,
 * multicast, broadcast, documentation and IPv4-mapped forms of those. sa is
 * AF_INET or AF_INET6. */
bool pl_ssrf_addr_public(const struct sockaddr *sa);

/** Resolves u's host and checks every address (unless allow_local); writes
 * the first one as "host:port:address" into pin (for CURLOPT_RESOLVE).
 * Returns 0; PL_EINVAL when an address is not public (permanent); PL_EIO
 * when the name does not resolve (worth a retry). err gets the reason.
 * Blocks on DNS. */
int pl_ssrf_resolve(const pl_ssrf_url_t *u, bool allow_local, char *pin, size_t pincap, char *err,
                    size_t errcap);

#endif
