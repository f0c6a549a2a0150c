/* SPDX-License-Identifier: MIT */
/* job.c -- what every op shares: the async job header
 * (session reference, request id, error), its status in the done callback,
 * paging a list by bytes, and the membership check of room ops. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

void pl_ops__job_init(job_t *j, session_t *s, json_t *id)
{
    j->s = pl_chat__session_ref(s);
    j->id = json_incref(id);
    j->code = NULL;
    j->msg[0] = '\0';
}

void pl_ops__job_dispose(job_t *j)
{
    json_decref(j->id);
    pl_chat__session_unref(j->s);
}

void pl_ops__job_fail(job_t *j, const char *code, const char *msg)
{
    j->code = code;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
}

/* Maps a store error to a reply when the job has not set one. */
void pl_ops__job_store_error(job_t *j, int rc)
{
    if (j->code == NULL)
        pl_ops__job_fail(j, rc == PL_ENOTFOUND ? "not_found" : "internal",
                         rc == PL_ENOTFOUND ? "no such object" : "storage error; try again");
}

/* End of a write job's work: on failure, report it and roll the job's
 * savepoint back so nothing it wrote is committed. */
void pl_ops__job_write_end(job_t *j, pl_db_t *db, int rc)
{
    if (rc >= 0)
        return;
    pl_ops__job_store_error(j, rc);
    pl_db_rollback_job(db);
}

/* Called first in every done callback: a job whose transaction did not commit
 * (storage error) or never ran (shutting down) must not be acknowledged. */
void pl_ops__job_check(job_t *j, int status)
{
    if (status == PL_ECLOSED)
        pl_ops__job_fail(j, "unavailable", "the server is shutting down; retry shortly");
    else if (status < 0)
        pl_ops__job_fail(j, "internal", "storage error; nothing was stored; try again");
}

int pl_ops__page_before(pl_db_t *db, pl_fetch_before_fn fetch, void *arg, int64_t before,
                        int64_t limit, pl_page_t *pg, bool *more)
{
    int64_t cur = before; /* 0: no bound */
    *more = false;
    while (limit > 0) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(limit, (int64_t)PL_PAGE_CHUNK);
        int rc = fetch(db, arg, cur, k, &m, &n);
        if (rc < 0)
            return rc;
        bool stop = false;
        for (size_t i = n; i-- > 0 && !stop;) { /* newest first */
            if (!pl_page_add(pg, &m[i], PL_PAGE_MESSAGE)) {
                *more = stop = true;
                break;
            }
            cur = m[i].seq;
            limit--;
        }
        pl_messages_free(m, n);
        if (stop)
            return 0;
        if ((int64_t)n < k)
            return 0; /* nothing older */
    }
    /* The limit stopped it: is there anything older? */
    pl_message_t *m = NULL;
    size_t n = 0;
    int rc = fetch(db, arg, cur, 1, &m, &n);
    if (rc < 0)
        return rc;
    *more = n > 0;
    pl_messages_free(m, n);
    return 0;
}

void pl_ops__reply_page(session_t *s, json_t *id, const char *prefix, const char *key,
                        const pl_page_t *pg, bool reverse, bool more)
{
    pl_buf_t b;
    pl_buf_init(&b);
    if (prefix != NULL)
        pl_buf_append(&b, prefix, strlen(prefix));
    pl_buf_printf(&b, ",\"%s\":[", key);
    pl_page_join(pg, &b, reverse);
    pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
    pl_wire_reply_ok(s, id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

/* The start of every done callback: the store's status for the job, and
 * if the job failed its error reply. Returns true when the job succeeded
 * and the callback should answer. */
bool pl_ops__job_ok(job_t *j, int status)
{
    pl_ops__job_check(j, status);
    if (j->code == NULL)
        return true;
    pl_wire_reply_err(j->s, j->id, j->code, j->msg);
    return false;
}

/* A room the caller is not in answers exactly like a room that does not
 * exist: ids are sequential, so a different reply would tell a stranger
 * which rooms exist and which are dms (protocol-core: a stranger learns
 * nothing about a room). */
room_t *pl_ops__member_room(session_t *s, json_t *id, int64_t room_id)
{
    room_t *r = pl_chat__room(s->chat, room_id);
    if (r == NULL || !pl_chat__is_member(r, s->user_id)) {
        pl_wire_reply_err(s, id, "forbidden", PL_OPS_NOT_MEMBER);
        return NULL;
    }
    return r;
}
