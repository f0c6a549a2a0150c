/* SPDX-License-Identifier: MIT */
/* threads.c -- the thread op: a root message and its replies,
 * paged by bytes. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- thread ---- */

typedef struct {
    job_t j;
    int64_t room_id, root, before, limit;
    pl_message_t rootm;
    pl_page_t page; /* newest first */
    bool more;
} thread_job_t;

static int fetch_thread_before(pl_db_t *db, void *arg, int64_t before, int64_t limit,
                               pl_message_t **out, size_t *n)
{
    const thread_job_t *q = arg;
    return pl_db_thread_messages(db, q->room_id, q->root, before, limit, out, n);
}

static void thread_work(pl_db_t *db, void *arg)
{
    thread_job_t *q = arg;
    int rc = pl_db_message_get(db, q->room_id, q->root, &q->rootm);
    if (rc == 0 && q->rootm.thread_root > 0) {
        pl_ops__job_fail(&q->j, "not_found", "that message is a thread reply, not a root");
        return;
    }
    if (rc == 0)
        rc = pl_ops__page_before(db, fetch_thread_before, q, q->before, q->limit, &q->page,
                                 &q->more);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void thread_done(int status, void *arg)
{
    thread_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"root\":{");
        pl_wire_message_fields(&b, &q->rootm);
        pl_buf_lit(&b, "}");
        pl_buf_append(&b, "", 1); /* NUL for the prefix string */
        pl_ops__reply_page(q->j.s, q->j.id, pl_buf_head(&b), "messages", &q->page, true, q->more);
        pl_buf_dispose(&b);
    }
    pl_message_dispose(&q->rootm);
    pl_page_dispose(&q->page);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_thread(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_thread_t *arg = &c->u.thread;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    thread_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->root = arg->root;
    q->before = arg->before;
    q->limit = arg->limit;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    pl_store_read(s->chat->st, thread_work, thread_done, q);
}
