/* SPDX-License-Identifier: MIT */
/* calls_history.c -- a call's history message (issue 19): when a call
 * ends, a message of content type "call" goes into its room as from the
 * caller, stored and fanned out like any message, so it syncs to devices
 * that were offline and counts as unread for the others. A missed call is
 * pushed like a message (push_ops.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "push/push.h"

typedef struct {
    pl_chat_t *chat;
    char *content, *client_id;
    pl_post_t p;
    struct pl_push_ctx *push; /* owned; NULL: not pushed */
} hist_job_t;

static void hist_done(int status, void *arg)
{
    hist_job_t *q = arg;
    pl_chat_t *chat = q->chat;
    if (status != 0 || q->p.refused != PL_REFUSAL_NONE) {
        /* The caller left the room meanwhile, or the store failed: the call
         * happened, only its record is lost. */
        pl_log(PL_LOG_WARN, "call",
               "room=r%" PRId64 " call history not written status=%d refused=%d", q->p.room_id,
               status, (int)q->p.refused);
        goto out;
    }
    const pl_message_t *m = &q->p.message;
    room_t *room = pl_chat__room(chat, m->room_id);
    if (!q->p.duplicate && room != NULL) {
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, "{\"ev\":\"message\",");
        pl_wire_message_fields(&b, m);
        pl_buf_lit(&b, "}");
        pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
        chat->stats.frames_built++;
        chat->stats.messages_stored++;
        pl_chat__fanout(chat, room, m->seq, 0, f);
        pl_chat__ring_push(chat, room, m->seq, f);
        pl_frame_unref(f);
        pl_buf_dispose(&b);
        pl_ops__push_sent(chat, q->push);
    }
out:
    pl_push_ctx_free(q->push);
    pl_post_dispose(&q->p);
    free(q->content);
    free(q->client_id);
    free(q);
}

void pl_calls__history(pl_chat_t *chat, int64_t room_id, int64_t caller, const char *caller_name,
                       const char *content, size_t content_len, const char *client_id, bool push)
{
    room_t *r = pl_chat__room(chat, room_id);
    if (r == NULL || chat->closing)
        return;
    hist_job_t *q = pl_xcalloc(1, sizeof *q);
    q->chat = chat;
    q->content = pl_xstrndup(content, content_len);
    q->client_id = pl_xstrdup(client_id);
    q->p = (pl_post_t){
        .room_id = room_id,
        .sender = caller,
        .client_id = q->client_id,
        .content = q->content,
        .expires_in = r->disappearing_ms,
    };
    if (push && (q->push = pl_ops__push_ctx_named(chat, caller_name, r)) != NULL) {
        q->p.after = pl_push_enqueue;
        q->p.after_arg = q->push;
    }
    pl_store_message_post(chat->st, &q->p, hist_done, q);
}
