/* SPDX-License-Identifier: MIT */
/* peers.c -- what every loop of a server shares about client addresses: the
 * parsed trusted_proxies list and the count of open connections per address
 * (max_connections_per_ip). Connections are accepted on several loop threads
 * (SO_REUSEPORT), so the counts are one table behind a mutex, touched only
 * when a connection is accepted or closed, never per message. */
#include "net/net_internal.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/err.h"
#include "core/util.h"

struct pl_peer_ent {
    pl_addr_t key; /* IPv4 (v4-mapped) whole; IPv6 cut to its /64 */
    uint32_t n;    /* open connections counted here */
    UT_hash_handle hh;
};

struct pl_peers {
    uv_mutex_t mu;          /* guards tab and the counts in it */
    pl_peer_ent_t *tab;     /* uthash by key; an entry lives while n > 0 */
    pl_cidr_list_t trusted; /* read-only after creation */
    uint32_t max;           /* max_connections_per_ip; 0: no cap, nothing counted */
};

pl_peers_t *pl_net__peers_new(const pl_config_t *cfg)
{
    pl_peers_t *p = pl_xcalloc(1, sizeof *p);
    if (uv_mutex_init(&p->mu) != 0)
        abort(); /* only fails without resources at startup */
    p->max = (uint32_t)cfg->max_connections_per_ip;
    /* Validated at load; a failed parse leaves the list empty. */
    (void)pl_cidr_list_parse(cfg->trusted_proxies, &p->trusted, NULL, 0);
    return p;
}

void pl_net__peers_free(pl_peers_t *p)
{
    if (p == NULL)
        return;
    pl_peer_ent_t *e, *tmp;
    HASH_ITER(hh, p->tab, e, tmp)
    {
        HASH_DEL(p->tab, e);
        free(e);
    }
    pl_cidr_list_dispose(&p->trusted);
    uv_mutex_destroy(&p->mu);
    free(p);
}

const pl_cidr_list_t *pl_net__peers_trusted_list(const pl_peers_t *p)
{
    return &p->trusted;
}

int pl_net__peers_admit(pl_peers_t *p, const pl_addr_t *a, pl_peer_ent_t **out, uint32_t *count)
{
    *out = NULL;
    *count = 0;
    if (p->max == 0 || pl_addr_unknown(a) || pl_cidr_list_match(&p->trusted, a))
        return 0;
    pl_addr_t k = pl_addr_limit_key(a);
    int rc = 0;
    uv_mutex_lock(&p->mu);
    pl_peer_ent_t *e;
    HASH_FIND(hh, p->tab, &k, sizeof k, e);
    if (e && e->n >= p->max) {
        *count = e->n;
        rc = PL_ETOOBIG;
    } else {
        if (e == NULL) {
            e = pl_xcalloc(1, sizeof *e);
            e->key = k;
            HASH_ADD(hh, p->tab, key, sizeof e->key, e);
        }
        *count = ++e->n;
        *out = e;
    }
    uv_mutex_unlock(&p->mu);
    return rc;
}

void pl_net__peers_release(pl_peers_t *p, pl_peer_ent_t *e)
{
    if (e == NULL)
        return;
    uv_mutex_lock(&p->mu);
    if (--e->n == 0) {
        HASH_DEL(p->tab, e);
        free(e);
    }
    uv_mutex_unlock(&p->mu);
}
