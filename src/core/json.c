/* SPDX-License-Identifier: MIT */
/* json.c -- JSON string escaping (json.h). */
#include "core/json.h"

#include <string.h>

#include "core/util.h"

void pl_json_str(pl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!pl_utf8_valid(s, n)) {
        pl_buf_lit(b, "\"\"");
        return;
    }
    /* Worst case: every byte becomes \u00XX (6 bytes), plus the quotes. */
    char *o = pl_buf_reserve(b, n * 6 + 2), *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        switch (ch) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o++ = '"';
    pl_buf_commit(b, (size_t)(o - start));
}

void pl_json_cstr(pl_buf_t *b, const char *s)
{
    if (s == NULL)
        s = "";
    pl_json_str(b, s, strlen(s));
}
