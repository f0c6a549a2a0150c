/* SPDX-License-Identifier: MIT */
/* addr.c -- IP addresses, CIDR lists and X-Forwarded-For. No I/O. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

bool pl_addr_parse(const char *text, size_t len, pl_addr_t *out)
{
    char buf[PL_ADDR_TEXT];
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf || memchr(text, '\0', len) != NULL)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    pl_addr_t a = {{0}};
    if (inet_pton(AF_INET, buf, a.b + 12) == 1) {
        memcpy(a.b, v4mapped, sizeof v4mapped);
    } else if (inet_pton(AF_INET6, buf, a.b) != 1) {
        return false;
    }
    *out = a;
    return true;
}

char *pl_addr_format(const pl_addr_t *a, char out[PL_ADDR_TEXT])
{
    if (pl_addr_unknown(a))
        snprintf(out, PL_ADDR_TEXT, "?");
    else if (memcmp(a->b, v4mapped, sizeof v4mapped) == 0)
        inet_ntop(AF_INET, a->b + 12, out, PL_ADDR_TEXT);
    else
        inet_ntop(AF_INET6, a->b, out, PL_ADDR_TEXT);
    return out;
}

bool pl_addr_unknown(const pl_addr_t *a)
{
    static const uint8_t zero[16];
    return memcmp(a->b, zero, sizeof zero) == 0;
}

pl_addr_t pl_addr_limit_key(const pl_addr_t *a)
{
    pl_addr_t k = *a;
    if (memcmp(k.b, v4mapped, sizeof v4mapped) != 0)
        memset(k.b + 8, 0, 8);
    return k;
}

bool pl_addr_is_loopback(const pl_addr_t *a)
{
    static const uint8_t one[16] = {[15] = 1};
    if (memcmp(a->b, v4mapped, sizeof v4mapped) == 0)
        return a->b[12] == 127;
    return memcmp(a->b, one, sizeof one) == 0;
}

/* Parses one "addr[/bits]" entry of len bytes. */
static bool cidr_parse(const char *s, size_t len, pl_cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    pl_cidr_t c;
    if (!pl_addr_parse(s, alen, &c.net))
        return false;
    bool v4 = memcmp(c.net.b, v4mapped, sizeof v4mapped) == 0;
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3)
            return false;
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return false;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max)
            return false;
    }
    c.bits = (uint8_t)(v4 ? bits + 96 : bits);
    /* Clear the host part so matching compares whole bytes. */
    for (unsigned i = c.bits; i < 128; i++)
        c.net.b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    *out = c;
    return true;
}

static bool is_sep(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t';
}

int pl_cidr_list_parse(const char *text, pl_cidr_list_t *out, char *err, size_t errlen)
{
    pl_cidr_list_t l = {NULL, 0};
    size_t cap = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p && is_sep(*p))
            p++;
        const char *start = p;
        while (*p && !is_sep(*p))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0)
            break;
        pl_cidr_t c;
        if (!cidr_parse(start, len, &c)) {
            if (err && errlen)
                snprintf(err, errlen, "'%.*s' is not an address or address/bits",
                         (int)PL_MIN(len, 64), start);
            free(l.v);
            out->v = NULL;
            out->n = 0;
            return PL_EINVAL;
        }
        if (l.n == cap) {
            cap = cap ? cap * 2 : 4;
            l.v = pl_xrealloc(l.v, cap * sizeof *l.v);
        }
        l.v[l.n++] = c;
    }
    *out = l;
    return 0;
}

static bool cidr_match(const pl_cidr_t *c, const pl_addr_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
    return (a->b[full] & mask) == c->net.b[full];
}

bool pl_cidr_list_match(const pl_cidr_list_t *l, const pl_addr_t *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (cidr_match(&l->v[i], a))
            return true;
    return false;
}

void pl_cidr_list_dispose(pl_cidr_list_t *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool pl_addr_client(const pl_addr_t *peer, const char *xff, const pl_cidr_list_t *trusted,
                    pl_addr_t *out)
{
    *out = *peer;
    if (!pl_cidr_list_match(trusted, peer))
        return true;
    if (xff == NULL)
        return false;
    pl_addr_t client = *peer;
    /* Walk the list from the right: each hop appended the address it saw.
     * The first one that is not our own proxy is the client; anything to
     * its left was written by the client and proves nothing. */
    size_t end = strlen(xff);
    bool any = false;
    while (end > 0) {
        size_t e = end;
        while (e > 0 && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
            e--;
        size_t b = e;
        while (b > 0 && xff[b - 1] != ',')
            b--;
        size_t s = b;
        while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
            s++;
        pl_addr_t a;
        if (s == e || !pl_addr_parse(xff + s, e - s, &a))
            return false; /* *out is still peer */
        client = a;
        any = true;
        if (!pl_cidr_list_match(trusted, &a))
            break;
        end = b > 0 ? b - 1 : 0;
    }
    if (any)
        *out = client;
    return any;
}
