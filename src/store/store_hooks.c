/* SPDX-License-Identifier: MIT */
/* store_hooks.c -- what both backends share about webhook rows (store.h,
 * "incoming webhooks"; issue 16). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void pl_webhook_dispose(pl_webhook_t *w)
{
    if (w == NULL)
        return;
    free(w->name);
    free(w->icon_url);
    w->name = w->icon_url = NULL;
}

void pl_outhook_dispose(pl_outhook_t *w)
{
    if (w == NULL)
        return;
    free(w->url);
    free(w->triggers);
    if (w->secret != NULL)
        memset(w->secret, 0, strlen(w->secret));
    free(w->secret);
    w->url = w->triggers = w->secret = NULL;
}

void pl_outhooks_free(pl_outhook_t *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pl_outhook_dispose(&v[i]);
    free(v);
}

void pl_webhooks_free(pl_webhook_t *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pl_webhook_dispose(&v[i]);
    free(v);
}
