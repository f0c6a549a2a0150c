/* SPDX-License-Identifier: MIT */
/* buf.c -- growable byte buffer. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void pl_buf_init(pl_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void pl_buf_dispose(pl_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

char *pl_buf_reserve(pl_buf_t *b, size_t n)
{
    if (b->off + b->len + n <= b->cap)
        return b->data + b->off + b->len;
    /* Compact first: moving the unread tail is cheaper than growing. */
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        if (b->len + n <= b->cap)
            return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->data = pl_xrealloc(b->data, cap);
    b->cap = cap;
    return b->data + b->len;
}

void pl_buf_commit(pl_buf_t *b, size_t n)
{
    b->len += n;
}

void pl_buf_consume(pl_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void pl_buf_append(pl_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(pl_buf_reserve(b, n), p, n);
    b->len += n;
}

void pl_buf_printf(pl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        pl_buf_append(b, tmp, (size_t)n);
        return;
    }
    char *dst = pl_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pl_buf_reset(pl_buf_t *b, size_t keep)
{
    b->off = b->len = 0;
    if (b->cap > keep) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}
