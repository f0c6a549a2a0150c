/* SPDX-License-Identifier: MIT */
/* addr.h -- IP addresses as 16 raw bytes, CIDR allow lists, and the client
 * address of a request that may have come through trusted proxies
 * (X-Forwarded-For). Pure: no I/O, no libuv; unit-tested and fuzzable. */
#ifndef PL_CORE_ADDR_H
#define PL_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** An IPv6 address, or an IPv4 one as v4-mapped IPv6 (::ffff:a.b.c.d). All
 * zero: unknown. */
typedef struct {
    uint8_t b[16];
} pl_addr_t;

/** Room for a formatted address (INET6_ADDRSTRLEN) and its NUL. */
#define PL_ADDR_TEXT 46

/** Parses "1.2.3.4", "::1", "2001:db8::1" or "[::1]" (len bytes, need not be
 * NUL-terminated; surrounding blanks are not allowed). Returns true and
 * writes *out on success. */
bool pl_addr_parse(const char *text, size_t len, pl_addr_t *out);

/** Formats a as "1.2.3.4" (v4-mapped), "::1", or "?" when unknown (zero).
 * Returns out. */
char *pl_addr_format(const pl_addr_t *a, char out[PL_ADDR_TEXT]);

/** True for the all-zero (unknown) address. */
bool pl_addr_unknown(const pl_addr_t *a);

/** The key under which per-address limits count a: IPv4 whole, IPv6 cut to
 * its /64. One IPv6 host usually owns a whole /64 (SLAAC, privacy
 * addresses), so counting per address would let it rotate through 2^64
 * fresh buckets; a /64 counts like one IPv4 address behind NAT. */
pl_addr_t pl_addr_limit_key(const pl_addr_t *a);

/** True for 127.0.0.0/8 and ::1. */
bool pl_addr_is_loopback(const pl_addr_t *a);

/** One network: the first `bits` bits of net (IPv4 prefixes are stored as
 * v4-mapped, i.e. bits + 96). */
typedef struct {
    pl_addr_t net;
    uint8_t bits; /* 0..128 */
} pl_cidr_t;

/** A list of networks, parsed from text such as
 * "127.0.0.0/8, ::1, 10.0.0.0/8 192.168.1.7" (comma- or blank-separated; an
 * address without /N is one host). The empty string is the empty list. */
typedef struct {
    pl_cidr_t *v;
    size_t n;
} pl_cidr_list_t;

/** Parses text into out (owned: pl_cidr_list_dispose). On error returns
 * PL_EINVAL, leaves out empty and writes a message naming the bad entry
 * into err (errlen bytes, may be NULL). */
int pl_cidr_list_parse(const char *text, pl_cidr_list_t *out, char *err, size_t errlen);

/** True if a lies in one of l's networks. */
bool pl_cidr_list_match(const pl_cidr_list_t *l, const pl_addr_t *a);

/** Frees the list's entries (the list itself may be embedded). */
void pl_cidr_list_dispose(pl_cidr_list_t *l);

/** The address of the client behind a request.
 *
 * peer is the TCP peer. When peer is in trusted (a proxy we run), the client
 * is the right-most address in xff (the X-Forwarded-For header value, may be
 * NULL) that is not itself in trusted; when every entry is trusted, the
 * left-most. When peer is not trusted, xff is ignored and the client is peer.
 *
 * Returns true and writes *out; returns false (and writes peer to *out) when
 * peer is trusted but xff is missing or holds something that is not an
 * address: the caller may then refuse the request, since a trusted proxy
 * always sets the header. */
bool pl_addr_client(const pl_addr_t *peer, const char *xff, const pl_cidr_list_t *trusted,
                    pl_addr_t *out);

#endif
