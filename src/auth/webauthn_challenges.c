/* SPDX-License-Identifier: MIT */
/* webauthn_challenges.c -- issued passkey challenges: a hash by challenge,
 * a hash of per-address counts, and a list in issue order (every entry lives
 * equally long, so the oldest expire first). */
#include "auth/webauthn_challenges.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/err.h"
#include "core/util.h"

typedef struct addr_count {
    pl_addr_t key; /* pl_addr_limit_key */
    size_t n;
    UT_hash_handle hh;
} addr_count_t;

typedef struct entry {
    unsigned char ch[PL_WA_CHALLENGE_LEN];
    pl_wa_purpose_t purpose;
    int64_t user_id;
    uint64_t expires_ns;
    addr_count_t *addr;
    struct entry *prev, *next; /* issue order */
    UT_hash_handle hh;
} entry_t;

struct pl_wa_challenges {
    size_t max, per_addr, n;
    uint64_t ttl_ns;
    entry_t *by_ch;        /* uthash head */
    addr_count_t *by_addr; /* uthash head */
    entry_t *oldest, *newest;
};

pl_wa_challenges_t *pl_wa_challenges_new(size_t max, size_t per_addr, uint64_t ttl_ns)
{
    pl_wa_challenges_t *t = pl_xcalloc(1, sizeof *t);
    t->max = max;
    t->per_addr = per_addr;
    t->ttl_ns = ttl_ns;
    return t;
}

static void entry_remove(pl_wa_challenges_t *t, entry_t *e)
{
    HASH_DEL(t->by_ch, e);
    if (e->prev)
        e->prev->next = e->next;
    else
        t->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->newest = e->prev;
    if (--e->addr->n == 0) {
        HASH_DEL(t->by_addr, e->addr);
        free(e->addr);
    }
    t->n--;
    sodium_memzero(e->ch, sizeof e->ch);
    free(e);
}

void pl_wa_challenges_free(pl_wa_challenges_t *t)
{
    if (t == NULL)
        return;
    while (t->oldest)
        entry_remove(t, t->oldest);
    free(t);
}

static void purge(pl_wa_challenges_t *t, uint64_t now_ns)
{
    while (t->oldest && t->oldest->expires_ns <= now_ns)
        entry_remove(t, t->oldest);
}

int pl_wa_challenge_issue(pl_wa_challenges_t *t, const pl_addr_t *addr, pl_wa_purpose_t purpose,
                          int64_t user_id, uint64_t now_ns, unsigned char out[PL_WA_CHALLENGE_LEN])
{
    purge(t, now_ns);
    pl_addr_t key = pl_addr_limit_key(addr);
    addr_count_t *ac;
    HASH_FIND(hh, t->by_addr, &key, sizeof key, ac);
    if ((ac && ac->n >= t->per_addr) || t->n >= t->max)
        return PL_ETOOBIG;
    if (ac == NULL) {
        ac = pl_xcalloc(1, sizeof *ac);
        ac->key = key;
        HASH_ADD(hh, t->by_addr, key, sizeof ac->key, ac);
    }
    entry_t *e = pl_xcalloc(1, sizeof *e), *dup = NULL;
    /* 256 random bits do not collide; the loop only keeps the hash sound. */
    do {
        randombytes_buf(e->ch, sizeof e->ch);
        HASH_FIND(hh, t->by_ch, e->ch, sizeof e->ch, dup);
    } while (dup != NULL);
    e->purpose = purpose;
    e->user_id = user_id;
    e->expires_ns = now_ns + t->ttl_ns;
    e->addr = ac;
    ac->n++;
    HASH_ADD(hh, t->by_ch, ch, sizeof e->ch, e);
    e->prev = t->newest;
    if (t->newest)
        t->newest->next = e;
    else
        t->oldest = e;
    t->newest = e;
    t->n++;
    memcpy(out, e->ch, sizeof e->ch);
    return 0;
}

int pl_wa_challenge_take(pl_wa_challenges_t *t, const unsigned char ch[PL_WA_CHALLENGE_LEN],
                         pl_wa_purpose_t purpose, uint64_t now_ns, int64_t *user_id)
{
    purge(t, now_ns);
    entry_t *e;
    HASH_FIND(hh, t->by_ch, ch, PL_WA_CHALLENGE_LEN, e);
    if (e == NULL || e->purpose != purpose)
        return PL_ENOTFOUND;
    *user_id = e->user_id;
    entry_remove(t, e);
    return 0;
}

size_t pl_wa_challenges_count(const pl_wa_challenges_t *t)
{
    return t->n;
}
