/* SPDX-License-Identifier: MIT */
/* frame.c -- refcounted, immutable byte runs for write queues: one
 * allocation per frame, shared by reference between connections and loops. */
#include "net/net_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Process-wide: a protocol's frame constructor has no server argument.
 * Atomic because with several loops it may be bumped from any thread. */
static atomic_uint_fast64_t frames_encoded;

void pl_net__count_encoded(void)
{
    atomic_fetch_add_explicit(&frames_encoded, 1, memory_order_relaxed);
}

uint64_t pl_net__frames_encoded(void)
{
    return atomic_load_explicit(&frames_encoded, memory_order_relaxed);
}

pl_frame_t *pl_frame_new(const void *head, size_t hl, const void *body, size_t len)
{
    pl_frame_t *f = pl_xmalloc(sizeof *f + hl + len);
    atomic_init(&f->refs, 1);
    f->len = hl + len;
    if (hl)
        memcpy(f->data, head, hl);
    if (len)
        memcpy(f->data + hl, body, len);
    return f;
}

pl_frame_t *pl_frame_ref(pl_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void pl_frame_unref(pl_frame_t *f)
{
    /* acq_rel: whichever loop drops the last reference sees every other
     * loop's use of the bytes finished before it frees them. */
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

size_t pl_frame_size(const pl_frame_t *f)
{
    return f->len;
}
