/* SPDX-License-Identifier: MIT */
/* envelope.c -- the cluster bus's message format (envelope.h). No I/O. */
#include "cluster/envelope.h"

#include <inttypes.h>
#include <string.h>

#include "core/err.h"

#define NUM_MAX 1000000000000000000LL /* 10^18: 19 digits would overflow int64 */

int pl_env_node_ok(const char *s, size_t len)
{
    if (len == 0 || len > PL_ENV_NODE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == ':' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int kind_ok(char k)
{
    return k == PL_ENV_ROOM || k == PL_ENV_USER || k == PL_ENV_CONTACTS || k == PL_ENV_MEMBER ||
           k == PL_ENV_NEWROOM || k == PL_ENV_CLOSE || k == PL_ENV_HEARTBEAT || k == PL_ENV_LOST ||
           k == PL_ENV_MUTE;
}

/* Reads one space-separated field starting at *pos (exactly one space must
 * precede it); the field ends at a space or at the newline. */
static int field(const char *p, size_t len, size_t *pos, const char **f, size_t *flen)
{
    if (*pos >= len || p[*pos] != ' ')
        return PL_EPROTO;
    size_t i = ++*pos;
    while (i < len && p[i] != ' ' && p[i] != '\n')
        i++;
    if (i == *pos || i >= len)
        return PL_EPROTO;
    *f = p + *pos;
    *flen = i - *pos;
    *pos = i;
    return 0;
}

static int number(const char *f, size_t n, int64_t *out)
{
    if (n == 0 || n > 19)
        return PL_EPROTO;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9')
            return PL_EPROTO;
        if (v > (NUM_MAX - (f[i] - '0')) / 10)
            return PL_EPROTO;
        v = v * 10 + (f[i] - '0');
    }
    *out = v;
    return 0;
}

int pl_env_parse(const char *p, size_t len, pl_env_t *out)
{
    if (len < 4 || memcmp(p, "PL1", 3) != 0)
        return PL_EPROTO;
    size_t pos = 3;
    pl_env_t e = {0};
    const char *f;
    size_t n;
    if (field(p, len, &pos, &e.node, &e.node_len) < 0 || !pl_env_node_ok(e.node, e.node_len))
        return PL_EPROTO;
    if (field(p, len, &pos, &f, &n) < 0 || n != 1 || !kind_ok(f[0]))
        return PL_EPROTO;
    e.kind = f[0];
    int64_t *nums[4] = {&e.a, &e.b, &e.c, &e.d};
    for (int k = 0; k < 4; k++)
        if (field(p, len, &pos, &f, &n) < 0 || number(f, n, nums[k]) < 0)
            return PL_EPROTO;
    if (pos >= len || p[pos] != '\n')
        return PL_EPROTO;
    e.payload = p + pos + 1;
    e.payload_len = len - pos - 1;
    *out = e;
    return 0;
}

void pl_env_format(pl_buf_t *b, const char *node, char kind, int64_t a, int64_t b_, int64_t c,
                   int64_t d, const char *payload, size_t payload_len)
{
    pl_buf_printf(b, "PL1 %s %c %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", node, kind, a,
                  b_, c, d);
    if (payload_len > 0)
        pl_buf_append(b, payload, payload_len);
}
