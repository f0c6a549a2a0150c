/* SPDX-License-Identifier: MIT */
/* ratelimit.c -- token buckets and a bounded LRU table of them. */
#include "core/ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/util.h"

#define KEY_MAX 64

void pl_bucket_init(pl_bucket_t *b, double burst, uint64_t now_ns)
{
    b->tokens = burst;
    b->at_ns = now_ns;
}

uint64_t pl_bucket_take(pl_bucket_t *b, double rate, double burst, double cost, uint64_t now_ns)
{
    if (now_ns > b->at_ns) {
        b->tokens += (double)(now_ns - b->at_ns) * rate / 1e9;
        b->at_ns = now_ns;
    }
    if (b->tokens > burst)
        b->tokens = burst;
    if (b->tokens >= cost) {
        b->tokens -= cost;
        return 0;
    }
    if (cost > burst)
        return UINT64_MAX;
    double ms = ceil((cost - b->tokens) * 1000.0 / rate);
    return ms < 1 ? 1 : (uint64_t)ms;
}

typedef struct entry {
    uint8_t key[KEY_MAX];
    size_t klen;
    pl_bucket_t b;
    UT_hash_handle hh;
} entry_t;

struct pl_ratelimit {
    double rate, burst;
    size_t max;
    entry_t *table; /* uthash keeps insertion order: the head is the LRU */
};

pl_ratelimit_t *pl_ratelimit_new(double rate, double burst, size_t max_keys)
{
    pl_ratelimit_t *rl = pl_xcalloc(1, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst;
    rl->max = max_keys ? max_keys : 1;
    return rl;
}

void pl_ratelimit_free(pl_ratelimit_t *rl)
{
    if (!rl)
        return;
    entry_t *e, *tmp;
    HASH_ITER(hh, rl->table, e, tmp)
    {
        HASH_DEL(rl->table, e);
        free(e);
    }
    free(rl);
}

static entry_t *find(pl_ratelimit_t *rl, const void *key, size_t klen)
{
    entry_t *e = NULL;
    HASH_FIND(hh, rl->table, key, klen, e);
    return e;
}

uint64_t pl_ratelimit_take(pl_ratelimit_t *rl, const void *key, size_t klen, double cost,
                           uint64_t now_ns)
{
    klen = PL_MIN(klen, (size_t)KEY_MAX);
    entry_t *e = find(rl, key, klen);
    if (e && e->hh.next == NULL) {
        /* Already the most recently used (the usual case for a client
         * sending many requests in a row): no move. */
        return pl_bucket_take(&e->b, rl->rate, rl->burst, cost, now_ns);
    }
    if (e) {
        /* Move to the back: most recently used. */
        HASH_DEL(rl->table, e);
    } else {
        if (HASH_COUNT(rl->table) >= rl->max) {
            entry_t *old = rl->table;
            HASH_DEL(rl->table, old);
            free(old);
        }
        e = pl_xcalloc(1, sizeof *e);
        memcpy(e->key, key, klen);
        e->klen = klen;
        pl_bucket_init(&e->b, rl->burst, now_ns);
    }
    HASH_ADD(hh, rl->table, key, klen, e);
    return pl_bucket_take(&e->b, rl->rate, rl->burst, cost, now_ns);
}

uint64_t pl_ratelimit_peek(const pl_ratelimit_t *rl, const void *key, size_t klen, double cost,
                           uint64_t now_ns)
{
    entry_t *e = NULL;
    klen = PL_MIN(klen, (size_t)KEY_MAX);
    HASH_FIND(hh, rl->table, key, klen, e);
    if (e == NULL)
        return cost > rl->burst ? UINT64_MAX : 0;
    pl_bucket_t b = e->b; /* a copy: the table is not touched */
    return pl_bucket_take(&b, rl->rate, rl->burst, cost, now_ns);
}

void pl_ratelimit_refund(pl_ratelimit_t *rl, const void *key, size_t klen, double cost)
{
    entry_t *e = find(rl, key, PL_MIN(klen, (size_t)KEY_MAX));
    if (e) {
        e->b.tokens += cost;
        if (e->b.tokens > rl->burst)
            e->b.tokens = rl->burst;
    }
}

size_t pl_ratelimit_size(const pl_ratelimit_t *rl)
{
    return HASH_COUNT(rl->table);
}
