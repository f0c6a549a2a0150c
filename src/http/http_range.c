/* SPDX-License-Identifier: MIT */
/* http_range.c -- single byte-range parsing for media downloads. No I/O. */
#include "http/http_range.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* Reads 1..19 decimal digits (no sign, no overflow) and advances *s. */
static bool read_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    size_t n = 0;
    while (*p >= '0' && *p <= '9') {
        if (++n > 19)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (n == 0)
        return false;
    *s = p;
    *out = v;
    return true;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

int pl_http_range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len)
{
    if (value == NULL)
        return 0;
    const char *s = skip_ws(value);
    if (strncasecmp(s, "bytes", 5) != 0)
        return 0;
    s = skip_ws(s + 5);
    if (*s != '=')
        return 0;
    s = skip_ws(s + 1);
    uint64_t first = 0, last = 0;
    bool suffix = *s == '-', has_last = false;
    if (suffix) {
        s++;
        if (!read_u64(&s, &last))
            return 0;
    } else {
        if (!read_u64(&s, &first) || *s != '-')
            return 0;
        s++;
        if (*s >= '0' && *s <= '9') {
            if (!read_u64(&s, &last) || last < first)
                return 0;
            has_last = true;
        }
    }
    s = skip_ws(s);
    if (*s != '\0')
        return 0; /* several ranges (or junk): serve the whole thing */
    if (suffix) {
        /* RFC 9110 14.1.2: a suffix of 0 bytes is unsatisfiable. */
        if (last == 0 || size == 0)
            return -1;
        uint64_t n = last > size ? size : last;
        *start = size - n;
        *len = n;
        return 1;
    }
    if (first >= size)
        return -1;
    if (!has_last || last >= size)
        last = size - 1;
    *start = first;
    *len = last - first + 1;
    return 1;
}
