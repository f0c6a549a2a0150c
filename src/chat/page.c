/* SPDX-License-Identifier: MIT */
/* page.c -- list replies within a byte budget. A client chooses how many
 * items a list reply holds (history `limit`, a sync's `since`), the items'
 * sizes are another user's doing (a stranger can send 64 KiB messages), so
 * every list reply is cut at max_reply_bytes as well as at its count and
 * says `more` (docs/protocol.md, "Paging"). The text is built on the store
 * thread that read the rows; the loop only frames it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/util.h"

size_t pl_page_rows(size_t budget)
{
    return budget / PL_PAGE_MIN_ENTRY + 1;
}

void pl_page_init(pl_page_t *p, size_t budget)
{
    memset(p, 0, sizeof *p);
    pl_buf_init(&p->text);
    p->budget = budget;
}

void pl_page_dispose(pl_page_t *p)
{
    pl_buf_dispose(&p->text);
    free(p->end);
    memset(p, 0, sizeof *p);
}

pl_buf_t *pl_page_open(pl_page_t *p)
{
    p->start = p->text.len;
    return &p->text;
}

bool pl_page_close(pl_page_t *p)
{
    /* The first entry always stays: a page that can never hold one item
     * would stop paging for good. */
    if (p->n > 0 && p->text.len > p->budget) {
        p->text.len = p->start;
        p->full = true;
        return false;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->end = pl_xrealloc(p->end, p->cap * sizeof *p->end);
    }
    p->end[p->n++] = p->text.len;
    return true;
}

bool pl_page_add(pl_page_t *p, const pl_message_t *m, pl_page_wrap_t wrap)
{
    pl_buf_t *b = pl_page_open(p);
    switch (wrap) {
    case PL_PAGE_MESSAGE:
        pl_buf_lit(b, "{");
        break;
    case PL_PAGE_EV_MESSAGE:
        pl_buf_lit(b, "{\"ev\":\"message\",");
        break;
    case PL_PAGE_EV_UPDATE:
        pl_buf_printf(
            b, "{\"ev\":\"update\",\"room\":\"r%" PRId64 "\",\"version\":%" PRId64 ",\"message\":{",
            m->room_id, m->version);
        break;
    }
    pl_wire_message_fields(b, m);
    pl_buf_append(b, wrap == PL_PAGE_EV_UPDATE ? "}}" : "}", wrap == PL_PAGE_EV_UPDATE ? 2 : 1);
    return pl_page_close(p);
}

pl_str_t pl_page_entry(const pl_page_t *p, size_t i)
{
    size_t from = i ? p->end[i - 1] : 0;
    return (pl_str_t){pl_buf_head(&p->text) + from, p->end[i] - from};
}

void pl_page_join(const pl_page_t *p, pl_buf_t *out, bool reverse)
{
    pl_buf_reserve(out, p->text.len + p->n);
    for (size_t k = 0; k < p->n; k++) {
        pl_str_t e = pl_page_entry(p, reverse ? p->n - 1 - k : k);
        if (k)
            pl_buf_lit(out, ",");
        pl_buf_append(out, e.p, e.len);
    }
}
