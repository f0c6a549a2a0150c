/* SPDX-License-Identifier: MIT */
/* store_push.c -- what both backends share about Web Push rows (store.h,
 * "Web Push"). */
#include "store/store.h"

#include <stdlib.h>

void pl_push_sub_row_dispose(pl_push_sub_row_t *s)
{
    if (s == NULL)
        return;
    free(s->endpoint);
    free(s->p256dh);
    free(s->auth);
    s->endpoint = s->p256dh = s->auth = NULL;
}
