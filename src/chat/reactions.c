/* SPDX-License-Identifier: MIT */
/* reactions.c -- the react op: put an emoji (or a custom `:shortcode:`) on
 * a message or take it off; a change is a new version of the message and an
 * `update` event, as for edit and delete (messages.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/emoji.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

typedef struct {
    job_t j;
    char *emoji;                          /* one emoji, or a `:shortcode:` reference */
    char shortcode[PL_SHORTCODE_MAX + 1]; /* the custom emoji's name */
    pl_change_t c; /* the store's request (borrowing the fields above) and result */
} react_job_t;

/* The store checks and writes (pl_db_message_change: the message is live, a
 * custom emoji put on exists, at most max_reactions_per_user). */
static void react_work(pl_db_t *db, void *arg)
{
    react_job_t *q = arg;
    int rc = pl_db_message_change(db, &q->c);
    if (rc == 0)
        pl_ops__job_refused(&q->j, q->c.refused);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void react_done(int status, void *arg)
{
    react_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_message(s, q->j.id, &q->c.message);
        if (q->c.changed)
            pl_chat__emit_update(s->chat, &q->c.message);
    }
    pl_change_dispose(&q->c);
    free(q->emoji);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_react(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_react_t *arg = &c->u.react;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    react_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->emoji = pl_xstrdup(arg->emoji);
    bool custom = arg->custom && pl_emoji_custom_ref(q->emoji, strlen(q->emoji), q->shortcode);
    q->c = (pl_change_t){
        .kind = PL_CHANGE_REACT,
        .room_id = r->id,
        .seq = arg->seq,
        .user = s->user_id,
        .emoji = q->emoji,
        .custom_shortcode = custom ? q->shortcode : NULL,
        .remove = arg->remove,
        .max_reactions = s->chat->cfg->max_reactions_per_user,
    };
    pl_store_write(s->chat->st, react_work, react_done, q);
}
