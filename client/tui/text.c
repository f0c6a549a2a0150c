/* SPDX-License-Identifier: MIT */
/* text.c -- UTF-8 and display width for the terminal client. No I/O. */
#include "text.h"

#include <stdbool.h>
#include <stdint.h>

size_t tui_utf8_decode(const char *s, size_t len, wchar_t *wc)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[0];
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        *wc = (wchar_t)c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, c &= 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        *wc = 0xFFFD;
        return 1;
    }
    if (len < n) {
        *wc = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *wc = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3F);
    }
    /* RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF. */
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        *wc = 0xFFFD;
        return 1;
    }
    *wc = (wchar_t)c;
    return n;
}

size_t tui_utf8_encode(wchar_t wc, char *out)
{
    uint32_t c = (uint32_t)wc;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        return 0;
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int tui_wc_width(wchar_t wc)
{
    /* Variation selectors and the zero-width joiner: glibc already says 0
     * for most; make it so for every libc. */
    if (wc == 0x200D || (wc >= 0xFE00 && wc <= 0xFE0F) || (wc >= 0xE0100 && wc <= 0xE01EF))
        return 0;
    int w = wcwidth(wc);
    if (w < 0)
        return 1; /* control or unassigned: drawn as one replacement cell */
    return w;
}

int tui_str_width(const char *s, size_t len)
{
    int cols = 0;
    size_t i = 0;
    while (i < len) {
        wchar_t wc;
        i += tui_utf8_decode(s + i, len - i, &wc);
        cols += tui_wc_width(wc);
    }
    return cols;
}

static void put_span(tui_span_t *out, size_t max, size_t n, size_t off, size_t len, int cols)
{
    if (n < max) {
        out[n].off = off;
        out[n].len = len;
        out[n].cols = cols;
    }
}

size_t tui_wrap(const char *s, size_t len, int width, tui_span_t *out, size_t max)
{
    if (width < 1)
        width = 1;
    size_t n = 0;
    size_t start = 0, i = 0;
    int cols = 0;
    /* The last space seen on this line: where to break, and the columns up
     * to it. */
    size_t sp = (size_t)-1;
    int sp_cols = 0;
    while (i < len) {
        if (s[i] == '\n') {
            put_span(out, max, n++, start, i - start, cols);
            start = i = i + 1;
            cols = 0;
            sp = (size_t)-1;
            continue;
        }
        wchar_t wc;
        size_t k = tui_utf8_decode(s + i, len - i, &wc);
        int w = tui_wc_width(wc);
        if (cols + w > width && cols > 0) {
            if (sp != (size_t)-1 && sp > start) {
                /* Break at the space: it is dropped, the rest of the word
                 * moves to the next line. */
                put_span(out, max, n++, start, sp - start, sp_cols);
                start = sp + 1;
                cols = tui_str_width(s + start, i - start);
            } else {
                put_span(out, max, n++, start, i - start, cols);
                start = i;
                cols = 0;
            }
            sp = (size_t)-1;
            continue; /* measure this character again on the new line */
        }
        if (wc == ' ') {
            sp = i;
            sp_cols = cols;
        }
        cols += w;
        i += k;
    }
    if (start < len || n == 0)
        put_span(out, max, n++, start, len - start, cols);
    return n;
}
