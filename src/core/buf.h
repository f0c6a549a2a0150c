/* SPDX-License-Identifier: MIT */
/* buf.h -- growable byte buffer with reserve/commit/consume, and string slices. */
#ifndef PL_CORE_BUF_H
#define PL_CORE_BUF_H

#include <stddef.h>
#include <stdarg.h>

/** A borrowed, not necessarily NUL-terminated byte range. */
typedef struct {
    const char *p;
    size_t len;
} pl_str_t;

#define PL_LIT(s) ((pl_str_t){(s), sizeof(s) - 1})

/** Growable buffer. Readable bytes are data[off .. off+len). Embed it and
 * pl_buf_init() it; pl_buf_dispose() frees the storage. */
typedef struct {
    char *data;
    size_t off; /* consumed prefix */
    size_t len; /* readable bytes after off */
    size_t cap; /* allocated bytes */
} pl_buf_t;

void pl_buf_init(pl_buf_t *b);
void pl_buf_dispose(pl_buf_t *b);
/** Ensures at least n writable bytes after the readable ones; returns a
 * pointer to them. Aborts on OOM. */
char *pl_buf_reserve(pl_buf_t *b, size_t n);
/** Marks n reserved bytes as written. */
void pl_buf_commit(pl_buf_t *b, size_t n);
/** Drops n readable bytes from the front. */
void pl_buf_consume(pl_buf_t *b, size_t n);
/** Appends bytes. */
void pl_buf_append(pl_buf_t *b, const void *p, size_t n);
/** Appends a string literal (its length known at compile time). */
#define pl_buf_lit(b, lit) pl_buf_append((b), "" lit, sizeof(lit) - 1)
/** Appends printf-formatted text. */
void pl_buf_printf(pl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Pointer to the first readable byte. */
static inline char *pl_buf_head(const pl_buf_t *b)
{
    return b->data + b->off;
}
/** Drops everything readable and releases storage larger than keep bytes. */
void pl_buf_reset(pl_buf_t *b, size_t keep);

#endif
