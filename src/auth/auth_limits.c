/* SPDX-License-Identifier: MIT */
/* auth_limits.c -- registration and login limits (see auth_limits.h). */
#include "auth/auth_limits.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/ratelimit.h"
#include "core/util.h"

#define HOUR_S 3600.0
#define KNOWN_S (30 * 86400.0) /* an address stays "known" to an account this long */

struct pl_auth_limits {
    pl_ratelimit_t *reg_ip;       /* registrations per address */
    pl_ratelimit_t *login_ip;     /* login attempts per address */
    pl_ratelimit_t *fail_ip;      /* failed logins per address */
    pl_ratelimit_t *fail_acct_ip; /* failed logins per (account, address) */
    pl_ratelimit_t *fail_acct;    /* failed logins per account */
    pl_ratelimit_t *known;        /* (account, address) pairs that logged in: empty bucket */
    /* Exponential backoff per (account, address): a direct-mapped table of
     * consecutive failures, indexed by a keyed hash (an attacker cannot aim
     * at a slot). A collision forgets the older pair's count, which only
     * shortens a wait; the buckets above still count every failure. */
    struct backoff {
        uint64_t tag; /* keyed hash of the pair; 0 = empty */
        uint32_t fails;
        uint64_t until_ns; /* no attempt before this */
    } * backoff;
    size_t backoff_mask;
    uint8_t backoff_key[crypto_shorthash_KEYBYTES];
    int64_t free_failures;
    uint64_t backoff_max_ns;
};

/* A table whose buckets hold n tokens, refilled at n per period_s. */
static pl_ratelimit_t *per(int64_t n, double period_s, int64_t keys)
{
    return pl_ratelimit_new((double)n / period_s, (double)n, (size_t)keys);
}

pl_auth_limits_t *pl_auth_limits_new(const pl_config_t *cfg)
{
    pl_auth_limits_t *l = pl_xcalloc(1, sizeof *l);
    int64_t keys = cfg->auth_limit_max_keys;
    l->reg_ip = per(cfg->register_per_ip_hour, HOUR_S, keys);
    l->login_ip = per(cfg->login_per_ip_min, 60.0, keys);
    l->fail_ip = per(cfg->login_failures_per_ip_hour, HOUR_S, keys);
    l->fail_acct_ip = per(cfg->login_failures_per_account_ip_hour, HOUR_S, keys);
    l->fail_acct = per(cfg->login_failures_per_account_hour, HOUR_S, keys);
    l->known = per(1, KNOWN_S, keys);
    size_t slots = 16;
    while (slots < (size_t)keys && slots < (1u << 20))
        slots <<= 1;
    l->backoff = pl_xcalloc(slots, sizeof *l->backoff);
    l->backoff_mask = slots - 1;
    randombytes_buf(l->backoff_key, sizeof l->backoff_key);
    l->free_failures = cfg->login_backoff_free_failures;
    l->backoff_max_ns = (uint64_t)cfg->login_backoff_max_ms * 1000000u;
    return l;
}

void pl_auth_limits_free(pl_auth_limits_t *l)
{
    if (!l)
        return;
    pl_ratelimit_free(l->reg_ip);
    pl_ratelimit_free(l->login_ip);
    pl_ratelimit_free(l->fail_ip);
    pl_ratelimit_free(l->fail_acct_ip);
    pl_ratelimit_free(l->fail_acct);
    pl_ratelimit_free(l->known);
    free(l->backoff);
    free(l);
}

static void addr_key(const pl_addr_t *a, uint8_t out[16])
{
    pl_addr_t k = pl_addr_limit_key(a);
    memcpy(out, k.b, 16);
}

/* The key of (account, address): the username, a NUL, the address key
 * (at most 32 + 1 + 16 bytes, within the table's 64). */
static size_t pair_key(const char *username, const pl_addr_t *a, uint8_t out[64])
{
    size_t n = strnlen(username, PL_USERNAME_MAX);
    memcpy(out, username, n);
    out[n++] = '\0';
    addr_key(a, out + n);
    return n + 16;
}

/* The backoff slot of a pair and its tag (never 0). */
static struct backoff *backoff_slot(pl_auth_limits_t *l, const uint8_t *pk, size_t pklen,
                                    uint64_t *tag)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, pk, pklen, l->backoff_key);
    uint64_t t;
    memcpy(&t, h, sizeof t);
    *tag = t | 1;
    return &l->backoff[(t >> 1) & l->backoff_mask];
}

/* Milliseconds the pair must still wait (0: none). */
static uint64_t backoff_wait(pl_auth_limits_t *l, const uint8_t *pk, size_t pklen, uint64_t now_ns)
{
    uint64_t tag;
    struct backoff *b = backoff_slot(l, pk, pklen, &tag);
    if (b->tag != tag || b->until_ns <= now_ns)
        return 0;
    return (b->until_ns - now_ns + 999999) / 1000000;
}

/* A failure: past free_failures in a row, each one doubles the wait (1 s,
 * 2 s, 4 s, ... up to login_backoff_max_ms). A success clears it. */
static void backoff_note(pl_auth_limits_t *l, const uint8_t *pk, size_t pklen, bool failed,
                         uint64_t now_ns)
{
    uint64_t tag;
    struct backoff *b = backoff_slot(l, pk, pklen, &tag);
    if (!failed) {
        if (b->tag == tag)
            *b = (struct backoff){0};
        return;
    }
    if (b->tag != tag)
        *b = (struct backoff){.tag = tag};
    if (b->fails < UINT32_MAX)
        b->fails++;
    if ((int64_t)b->fails <= l->free_failures) {
        b->until_ns = 0;
        return;
    }
    uint64_t n = b->fails - (uint64_t)l->free_failures - 1;
    uint64_t wait = n >= 40 ? l->backoff_max_ns : PL_MIN(1000000000ull << n, l->backoff_max_ns);
    b->until_ns = now_ns + wait;
}

uint64_t pl_auth_limits_backoff(pl_auth_limits_t *l, const char *username, const pl_addr_t *addr,
                                uint64_t now_ns)
{
    uint8_t pk[64];
    size_t pklen = pair_key(username, addr, pk);
    return backoff_wait(l, pk, pklen, now_ns);
}

uint64_t pl_auth_limits_register(pl_auth_limits_t *l, const pl_addr_t *addr, uint64_t now_ns)
{
    uint8_t ip[16];
    addr_key(addr, ip);
    return pl_ratelimit_take(l->reg_ip, ip, sizeof ip, 1, now_ns);
}

/* Whether the account logged in from this address within KNOWN_S. A success
 * empties the pair's one-token bucket, which takes KNOWN_S to refill, so an
 * empty bucket means "known". The probe only peeks: an attacker trying from
 * many addresses adds nothing to this table, so cannot push the owner's own
 * entry out of it (only other accounts' successful logins can). */
static bool is_known(pl_auth_limits_t *l, const uint8_t *pk, size_t pklen, uint64_t now_ns)
{
    return pl_ratelimit_peek(l->known, pk, pklen, 1, now_ns) > 0;
}

uint64_t pl_auth_limits_login_begin(pl_auth_limits_t *l, const char *username,
                                    const pl_addr_t *addr, uint64_t now_ns, pl_login_ticket_t *t,
                                    const char **why)
{
    uint8_t ip[16], pk[64];
    size_t pklen = pair_key(username, addr, pk), ulen = strnlen(username, PL_USERNAME_MAX);
    addr_key(addr, ip);
    *t = (pl_login_ticket_t){0};
    uint64_t w = pl_ratelimit_take(l->login_ip, ip, sizeof ip, 1, now_ns);
    if (w > 0) {
        *why = "login_per_ip_min";
        return w;
    }
    if ((w = backoff_wait(l, pk, pklen, now_ns)) > 0) {
        *why = "login_backoff";
        return w;
    }
    /* Reserve one failure in each bucket; a refusal gives back the others. */
    uint64_t w_ip = pl_ratelimit_take(l->fail_ip, ip, sizeof ip, 1, now_ns);
    uint64_t w_pair = pl_ratelimit_take(l->fail_acct_ip, pk, pklen, 1, now_ns);
    uint64_t w_acct = pl_ratelimit_take(l->fail_acct, username, ulen, 1, now_ns);
    bool account = w_acct == 0;
    /* The account-wide bucket guards against guessing from many addresses;
     * it must not lock the user out of addresses they use. */
    if (w_acct > 0 && is_known(l, pk, pklen, now_ns))
        w_acct = 0;
    if (w_ip == 0 && w_pair == 0 && w_acct == 0) {
        t->active = true;
        t->account = account;
        return 0;
    }
    if (w_ip == 0)
        pl_ratelimit_refund(l->fail_ip, ip, sizeof ip, 1);
    if (w_pair == 0)
        pl_ratelimit_refund(l->fail_acct_ip, pk, pklen, 1);
    if (account)
        pl_ratelimit_refund(l->fail_acct, username, ulen, 1);
    *why = w_pair > 0 ? "login_failures_per_account_ip_hour"
           : w_ip > 0 ? "login_failures_per_ip_hour"
                      : "login_failures_per_account_hour";
    return PL_MAX(w_ip, PL_MAX(w_pair, w_acct));
}

void pl_auth_limits_login_end(pl_auth_limits_t *l, const char *username, const pl_addr_t *addr,
                              pl_login_ticket_t *t, pl_login_outcome_t outcome, uint64_t now_ns)
{
    if (!t->active)
        return;
    t->active = false;
    uint8_t ip[16], pk[64];
    size_t pklen = pair_key(username, addr, pk);
    if (outcome != PL_LOGIN_ABORTED)
        backoff_note(l, pk, pklen, outcome == PL_LOGIN_FAILED, now_ns);
    if (outcome == PL_LOGIN_FAILED)
        return; /* the reservations become the counted failure */
    addr_key(addr, ip);
    pl_ratelimit_refund(l->fail_ip, ip, sizeof ip, 1);
    pl_ratelimit_refund(l->fail_acct_ip, pk, pklen, 1);
    if (t->account)
        pl_ratelimit_refund(l->fail_acct, username, strnlen(username, PL_USERNAME_MAX), 1);
    if (outcome == PL_LOGIN_OK)
        (void)pl_ratelimit_take(l->known, pk, pklen, 1, now_ns);
}
