/* SPDX-License-Identifier: MIT */
/* search.c -- full-text search over the caller's rooms. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- search ---- */

typedef struct {
    job_t j;
    int64_t user, room_id, before, limit;
    char *query;
    pl_page_t page; /* newest first, as ranked */
    bool more;
} search_job_t;

/* Results come newest first by message id; the next chunk continues below
 * the last id, so at most one chunk of rows is in memory. */
#define SEARCH_CHUNK 25

static void search_work(pl_db_t *db, void *arg)
{
    search_job_t *q = arg;
    int64_t before = q->before, limit = q->limit;
    int rc = 0;
    while (limit > 0) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(limit, (int64_t)SEARCH_CHUNK);
        /* One more than needed tells whether more results exist. */
        rc = pl_db_search(db, q->user, q->query, q->room_id, before, pl_now_ms(), k + 1, &m, &n);
        if (rc < 0)
            break;
        bool stop = (int64_t)n <= k;
        size_t take = PL_MIN(n, (size_t)k);
        for (size_t i = 0; i < take; i++) {
            if (!pl_page_add(&q->page, &m[i], PL_PAGE_MESSAGE)) {
                q->more = stop = true;
                break;
            }
            before = m[i].id;
            limit--;
        }
        if (limit == 0 && (int64_t)n > k)
            q->more = true;
        pl_messages_free(m, n);
        if (stop)
            break;
    }
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void search_done(int status, void *arg)
{
    search_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status))
        pl_ops__reply_page(q->j.s, q->j.id, NULL, "results", &q->page, false, q->more);
    pl_page_dispose(&q->page);
    free(q->query);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_search(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_search_t *arg = &c->u.search;
    room_t *r = NULL;
    if (arg->room != 0 && (r = pl_ops__member_room(s, c->id, arg->room)) == NULL)
        return;
    search_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->user = s->user_id;
    q->room_id = r ? r->id : 0;
    q->before = arg->before;
    q->limit = arg->limit;
    q->query = pl_xstrdup(arg->query);
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, search_work, search_done, q);
}
