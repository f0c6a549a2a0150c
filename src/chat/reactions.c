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

void pl_ops_react(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_react_t *arg = &c->u.react;
    room_t *r = pl_ops__member_room(s, c->id, arg->room);
    if (r == NULL)
        return;
    change_job_t *q = pl_ops__change_new(s, c->id, r, arg->seq, PL_CHANGE_REACT);
    q->text = pl_xstrdup(arg->emoji);
    q->c.emoji = q->text;
    if (arg->custom && pl_emoji_custom_ref(q->text, strlen(q->text), q->shortcode))
        q->c.custom_shortcode = q->shortcode;
    q->c.remove = arg->remove;
    q->c.max_reactions = s->chat->cfg->max_reactions_per_user;
    pl_ops__change_submit(s, q);
}
