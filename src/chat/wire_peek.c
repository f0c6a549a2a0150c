/* SPDX-License-Identifier: MIT */
/* wire_peek.c -- the id of a request, found without parsing it: answers the
 * server gives before its JSON parser runs (rate_limited, too_many_pending)
 * still name the request they refuse; and the markers of a receipt event
 * (the cluster relay's duplicate check). Pure: bounded work, no allocation, no
 * dependency (fuzzed on its own: tests/fuzz/fuzz_peek_id.c). */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "chat/wire_peek.h"

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A JSON string starting at p[i] == '"' (RFC 8259 7: no raw control
 * characters, only the defined escapes). Returns the index after the
 * closing quote, or 0 when it is malformed or unterminated. The bytes are
 * valid UTF-8 already (the WebSocket layer checked them). */
static size_t skip_string(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\')
            continue;
        if (++i >= n)
            return 0;
        switch (p[i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u':
            if (i + 4 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]) || !is_hex(p[i + 3]) ||
                !is_hex(p[i + 4]))
                return 0;
            i += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

/* Any JSON value at p[i]: strings and nested containers are skipped with
 * their brackets counted; scalars run to the next ',', '}' or ']'. Returns
 * the index after it, or 0 when it cannot be one. Not a validator: the real
 * parser judges the request if it gets that far. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') {
        size_t j = i;
        while (j < n && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' && p[j] != '\n' &&
               p[j] != '\r' && p[j] != '\t')
            j++;
        return j > i ? j : 0;
    }
    size_t depth = 0;
    while (i < n) {
        char c = p[i];
        if (c == '"') {
            if ((i = skip_string(p, n, i)) == 0)
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

/* An id as the protocol allows it: an integer that fits int64 (at most 18
 * digits, so it surely does) or a string of at most 128 bytes. */
static unsigned hex4(const char *h)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = h[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* A string id's \u escapes: no NUL, surrogates only in pairs, as the JSON
 * parser (jansson) requires; the text is well formed already. */
static bool escapes_ok(const char *v, size_t len)
{
    for (size_t i = 1; i + 1 < len; i++) {
        if (v[i] != '\\')
            continue;
        if (v[++i] != 'u')
            continue;
        unsigned u = hex4(v + i + 1);
        i += 4;
        if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return false;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 6 >= len || v[i + 1] != '\\' || v[i + 2] != 'u')
                return false;
            unsigned lo = hex4(v + i + 3);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
            i += 6;
        }
    }
    return true;
}

static bool id_ok(const char *v, size_t len)
{
    if (v[0] == '"') /* escaped: the decoded id is no longer than 128 either */
        return len - 2 <= 128 && escapes_ok(v, len);
    size_t k = v[0] == '-' ? 1 : 0;
    if (len <= k || len - k > 18 || (v[k] == '0' && len - k > 1))
        return false;
    for (size_t i = k; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

bool pl_wire_peek_id(const char *p, size_t n, const char **id, size_t *len)
{
    size_t i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '{')
        return false;
    i = skip_ws(p, n, i + 1);
    while (i < n && p[i] == '"') {
        size_t kend = skip_string(p, n, i);
        if (kend == 0)
            return false;
        bool is_id = kend - i == 4 && p[i + 1] == 'i' && p[i + 2] == 'd';
        i = skip_ws(p, n, kend);
        if (i >= n || p[i] != ':')
            return false;
        i = skip_ws(p, n, i + 1);
        size_t vend = skip_value(p, n, i);
        if (vend == 0)
            return false;
        if (is_id) {
            if (!id_ok(p + i, vend - i))
                return false;
            *id = p + i;
            *len = vend - i;
            return true;
        }
        i = skip_ws(p, n, vend);
        if (i >= n || p[i] != ',')
            return false;
        i = skip_ws(p, n, i + 1);
    }
    return false;
}

/* ---- receipt events (as receipts.c frames them) ---- */

/* Expects the literal lit at p[*i]; moves past it. */
static bool expect_lit(const char *p, size_t n, size_t *i, const char *lit)
{
    size_t l = strlen(lit);
    if (n - *i < l || memcmp(p + *i, lit, l) != 0)
        return false;
    *i += l;
    return true;
}

/* 1 to 18 decimal digits at p[*i] (no sign: ids and seqs are >= 0). */
static bool expect_num(const char *p, size_t n, size_t *i, int64_t *out)
{
    int64_t v = 0;
    size_t k = 0;
    while (*i + k < n && p[*i + k] >= '0' && p[*i + k] <= '9') {
        if (++k > 18)
            return false;
        v = v * 10 + (p[*i + k - 1] - '0');
    }
    if (k == 0)
        return false;
    *i += k;
    *out = v;
    return true;
}

bool pl_wire_peek_receipt(const char *p, size_t n, int64_t *room, int64_t *user, int64_t *read_seq,
                          int64_t *delivered_seq)
{
    size_t i = 0;
    int64_t r, u, rd = -1, dl;
    if (!expect_lit(p, n, &i, "{\"ev\":\"receipt\",\"room\":\"r") || !expect_num(p, n, &i, &r) ||
        !expect_lit(p, n, &i, "\",\"user\":\"u") || !expect_num(p, n, &i, &u) ||
        !expect_lit(p, n, &i, "\","))
        return false;
    if (expect_lit(p, n, &i, "\"read_seq\":")) {
        if (!expect_num(p, n, &i, &rd) || !expect_lit(p, n, &i, ","))
            return false;
    }
    if (!expect_lit(p, n, &i, "\"delivered_seq\":") || !expect_num(p, n, &i, &dl))
        return false;
    if (i >= n || (p[i] != ',' && p[i] != '}'))
        return false;
    *room = r;
    *user = u;
    *read_seq = rd;
    *delivered_seq = dl;
    return true;
}
