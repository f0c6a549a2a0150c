/* SPDX-License-Identifier: MIT */
/* ssrf.c -- the outgoing-request guard shared by push and webhooks: URL
 * shape, public addresses, a checked and pinned resolve (moved from
 * src/push/push_sub.c and push.c). */
#include "core/ssrf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return PL_EINVAL;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

int pl_ssrf_url_parse(const char *url, size_t len, bool allow_http, pl_ssrf_url_t *out, char *err,
                      size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > PL_SSRF_URL_MAX)
        return fail(err, errcap, "endpoint must be 1..%d bytes", PL_SSRF_URL_MAX);
    for (size_t i = 0; i < len; i++)
        if (url[i] < 0x21 || url[i] > 0x7e)
            return fail(err, errcap, "endpoint holds a space, control or non-ASCII byte");
    size_t at;
    if (len > 8 && strncasecmp(url, "https://", 8) == 0) {
        out->https = true;
        at = 8;
        out->port = 443;
    } else if (allow_http && len > 7 && strncasecmp(url, "http://", 7) == 0) {
        at = 7;
        out->port = 80;
    } else {
        return fail(err, errcap, "endpoint must be an https:// URL");
    }
    size_t end = at;
    while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
        end++;
    if (memchr(url + at, '@', end - at) != NULL)
        return fail(err, errcap, "endpoint must not hold user info");
    if (memchr(url, '#', len) != NULL)
        return fail(err, errcap, "endpoint must not hold a fragment");
    /* host[:port] in url[at..end) */
    size_t hs = at, he, ps;
    if (hs < end && url[hs] == '[') {
        const char *rb = memchr(url + hs, ']', end - hs);
        if (rb == NULL)
            return fail(err, errcap, "endpoint: unclosed IPv6 literal");
        he = (size_t)(rb - url);
        hs++;
        ps = he + 1;
        out->ipv6 = true;
    } else {
        he = hs;
        while (he < end && url[he] != ':')
            he++;
        ps = he;
    }
    size_t hl = he - hs;
    if (hl == 0 || hl > PL_SSRF_HOST_MAX)
        return fail(err, errcap, "endpoint: bad host length");
    for (size_t i = 0; i < hl; i++) {
        char c = url[hs + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (out->ipv6 ? !(host_char(c) || c == ':') || c == '-' : !host_char(c))
            return fail(err, errcap, "endpoint: bad character in host");
        out->host[i] = c;
    }
    out->host[hl] = '\0';
    if (out->ipv6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, out->host, &a6) != 1)
            return fail(err, errcap, "endpoint: bad IPv6 literal");
    } else if (out->host[0] == '.' || out->host[0] == '-' || strstr(out->host, "..") != NULL) {
        return fail(err, errcap, "endpoint: bad host name");
    }
    if (ps < end) {
        if (url[ps] != ':' || ps + 1 == end || end - ps - 1 > 5)
            return fail(err, errcap, "endpoint: bad port");
        unsigned long p = 0;
        for (size_t i = ps + 1; i < end; i++) {
            if (url[i] < '0' || url[i] > '9')
                return fail(err, errcap, "endpoint: bad port");
            p = p * 10 + (unsigned long)(url[i] - '0');
        }
        if (p == 0 || p > 65535)
            return fail(err, errcap, "endpoint: bad port");
        out->port = (uint16_t)p;
    }
    const char *scheme = out->https ? "https" : "http";
    bool dflt = out->port == (out->https ? 443 : 80);
    if (dflt)
        snprintf(out->origin, sizeof out->origin, "%s://%s%s%s", scheme, out->ipv6 ? "[" : "",
                 out->host, out->ipv6 ? "]" : "");
    else
        snprintf(out->origin, sizeof out->origin, "%s://%s%s%s:%u", scheme, out->ipv6 ? "[" : "",
                 out->host, out->ipv6 ? "]" : "", (unsigned)out->port);
    return 0;
}

static bool v4_public(uint32_t a)
{
    uint8_t b0 = a >> 24, b1 = a >> 16 & 0xff;
    if (b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224) /* this net, private, loopback, mcast+ */
        return false;
    if (b0 == 100 && (b1 & 0xc0) == 64) /* 100.64/10 CGNAT */
        return false;
    if (b0 == 169 && b1 == 254) /* link-local (cloud metadata) */
        return false;
    if (b0 == 172 && (b1 & 0xf0) == 16)
        return false;
    if (b0 == 192 && b1 == 168)
        return false;
    if (b0 == 192 && b1 == 0 && (a >> 8 & 0xff) == 0) /* 192.0.0/24 IETF */
        return false;
    if (b0 == 198 && (b1 & 0xfe) == 18) /* 198.18/15 benchmarking */
        return false;
    return true;
}

bool pl_ssrf_addr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return v4_public(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t zero[12] = {0};
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, zero, 12) == 0) /* mapped, compatible, ::, ::1 */
        return memcmp(b, mapped, 12) == 0 &&
               v4_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
                         b[15]);
    if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
        return false;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
        return false;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 site-local */
        return false;
    if (b[0] == 0xff) /* multicast */
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return false;
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) /* NAT64 to anything */
        return false;
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 embeds any IPv4 */
        return false;
    return true;
}

/* Resolves the endpoint's host and checks every address (SSRF: no
 * loopback, private, link-local...); the connection is then pinned to the
 * address checked (CURLOPT_RESOLVE), so a second DNS answer cannot swap it. */
int pl_ssrf_resolve(const pl_ssrf_url_t *u, bool allow_local, char *pin, size_t pincap, char *err,
                    size_t errcap)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)u->port);
    int g = getaddrinfo(u->host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errcap, "resolve %s: %s", u->host, gai_strerror(g));
        return PL_EIO;
    }
    int rc = 0;
    char addr[INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        if (!allow_local && !pl_ssrf_addr_public(a->ai_addr)) {
            snprintf(err, errcap, "host %s resolves to a non-public address", u->host);
            rc = PL_EINVAL;
            break;
        }
        if (addr[0] == '\0') {
            const void *src =
                a->ai_family == AF_INET6
                    ? (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr
                    : (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr;
            inet_ntop(a->ai_family, src, addr, sizeof addr);
            snprintf(pin, pincap, "%s:%u:%s%s%s", u->host, (unsigned)u->port,
                     a->ai_family == AF_INET6 ? "[" : "", addr,
                     a->ai_family == AF_INET6 ? "]" : "");
        }
    }
    freeaddrinfo(res);
    if (rc == 0 && addr[0] == '\0') {
        snprintf(err, errcap, "resolve %s: no address", u->host);
        rc = PL_EIO;
    }
    return rc;
}
