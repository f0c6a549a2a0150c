/* SPDX-License-Identifier: MIT */
/* mfa_ticket.c -- pending second login steps (see mfa_ticket.h). */
#include "auth/mfa_ticket.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/util.h"

typedef struct {
    uint8_t key[32]; /* SHA-256 of the ticket text */
    pl_mfa_ticket_info_t info;
    uint64_t expires_ns;
    int failures;
    bool claimed; /* a check of a second factor is under way */
    UT_hash_handle hh;
} entry_t;

struct pl_mfa_tickets {
    entry_t *table; /* insertion order = expiry order (one TTL): the head expires first */
    size_t max;
};

pl_mfa_tickets_t *pl_mfa_tickets_new(size_t max)
{
    pl_mfa_tickets_t *t = pl_xcalloc(1, sizeof *t);
    t->max = max < 1 ? 1 : max;
    return t;
}

static void drop(pl_mfa_tickets_t *t, entry_t *e)
{
    HASH_DEL(t->table, e);
    sodium_memzero(e, sizeof *e);
    free(e);
}

void pl_mfa_tickets_free(pl_mfa_tickets_t *t)
{
    if (!t)
        return;
    entry_t *e, *tmp;
    HASH_ITER(hh, t->table, e, tmp)
    {
        drop(t, e);
    }
    free(t);
}

/* Drops expired tickets from the head (the oldest). */
static void prune(pl_mfa_tickets_t *t, uint64_t now_ns)
{
    while (t->table != NULL && t->table->expires_ns <= now_ns)
        drop(t, t->table);
}

void pl_mfa_ticket_issue(pl_mfa_tickets_t *t, const pl_mfa_ticket_info_t *info, uint64_t now_ns,
                         char out[PL_TOKEN_LEN + 1])
{
    prune(t, now_ns);
    while (HASH_COUNT(t->table) >= t->max)
        drop(t, t->table);
    entry_t *e = pl_xcalloc(1, sizeof *e);
    pl_auth_token_new(out);
    pl_auth_token_hash(out, strlen(out), e->key);
    e->info = *info;
    e->expires_ns = now_ns + PL_MFA_TICKET_TTL_NS;
    HASH_ADD(hh, t->table, key, sizeof e->key, e);
}

static entry_t *find(pl_mfa_tickets_t *t, const char *ticket, uint64_t now_ns)
{
    size_t n = strnlen(ticket, 257);
    if (n == 0 || n > 256)
        return NULL;
    prune(t, now_ns);
    uint8_t key[32];
    pl_auth_token_hash(ticket, n, key);
    entry_t *e = NULL;
    HASH_FIND(hh, t->table, key, sizeof key, e);
    return e;
}

bool pl_mfa_ticket_peek(pl_mfa_tickets_t *t, const char *ticket, uint64_t now_ns,
                        pl_mfa_ticket_info_t *out)
{
    entry_t *e = find(t, ticket, now_ns);
    if (e == NULL)
        return false;
    *out = e->info;
    return true;
}

bool pl_mfa_ticket_claim(pl_mfa_tickets_t *t, const char *ticket, uint64_t now_ns,
                         pl_mfa_ticket_info_t *out)
{
    entry_t *e = find(t, ticket, now_ns);
    if (e == NULL || e->claimed)
        return false;
    e->claimed = true;
    *out = e->info;
    return true;
}

void pl_mfa_ticket_finish(pl_mfa_tickets_t *t, const char *ticket, bool ok, uint64_t now_ns)
{
    entry_t *e = find(t, ticket, now_ns);
    if (e == NULL)
        return;
    e->claimed = false;
    if (ok || ++e->failures >= PL_MFA_TICKET_TRIES)
        drop(t, e);
}

size_t pl_mfa_tickets_count(pl_mfa_tickets_t *t, uint64_t now_ns)
{
    prune(t, now_ns);
    return HASH_COUNT(t->table);
}

/* ---- the record in a shared store ---- */

size_t pl_mfa_ticket_info_encode(const pl_mfa_ticket_info_t *info,
                                 char out[PL_MFA_TICKET_INFO_TEXT + 1])
{
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, info->addr.b, sizeof info->addr.b);
    int n = snprintf(out, PL_MFA_TICKET_INFO_TEXT + 1, "%" PRId64 "\n%s\n%.*s\n%.*s", info->user_id,
                     hex, PL_USERNAME_MAX, info->username, 64, info->device_name);
    return n < 0 ? 0 : PL_MIN((size_t)n, (size_t)PL_MFA_TICKET_INFO_TEXT);
}

/* The next field up to '\n' (or the end when last): [*p, *p + *n). */
static bool field(const char **cur, const char *end, bool last, const char **p, size_t *n)
{
    const char *nl = last ? end : memchr(*cur, '\n', (size_t)(end - *cur));
    if (nl == NULL)
        return false;
    *p = *cur;
    *n = (size_t)(nl - *cur);
    *cur = last ? end : nl + 1;
    return true;
}

bool pl_mfa_ticket_info_decode(const char *s, size_t len, pl_mfa_ticket_info_t *out)
{
    if (s == NULL || len > PL_MFA_TICKET_INFO_TEXT || memchr(s, '\0', len) != NULL)
        return false;
    const char *cur = s, *end = s + len, *f[4];
    size_t n[4];
    for (int i = 0; i < 4; i++)
        if (!field(&cur, end, i == 3, &f[i], &n[i]))
            return false;
    pl_mfa_ticket_info_t info = {0};
    if (n[0] == 0 || n[0] > 18)
        return false;
    for (size_t i = 0; i < n[0]; i++) {
        if (f[0][i] < '0' || f[0][i] > '9')
            return false;
        info.user_id = info.user_id * 10 + (f[0][i] - '0');
    }
    size_t bin = 0;
    if (info.user_id <= 0 || n[1] != 32 ||
        sodium_hex2bin(info.addr.b, sizeof info.addr.b, f[1], n[1], NULL, &bin, NULL) != 0 ||
        bin != sizeof info.addr.b)
        return false;
    if (n[2] == 0 || n[2] > PL_USERNAME_MAX || n[3] > 64)
        return false;
    memcpy(info.username, f[2], n[2]);
    memcpy(info.device_name, f[3], n[3]);
    *out = info;
    return true;
}

bool pl_mfa_ticket_key_hex(const char *ticket, char out[65])
{
    size_t n = strnlen(ticket, 257);
    if (n == 0 || n > 256)
        return false;
    uint8_t key[32];
    pl_auth_token_hash(ticket, n, key);
    sodium_bin2hex(out, 65, key, sizeof key);
    return true;
}
