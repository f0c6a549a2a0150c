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
    int64_t room_id, seq, user;
    char *emoji; /* one emoji, or a `:shortcode:` reference (custom) */
    bool custom;
    bool remove;
    int64_t max_reactions; /* max_reactions_per_user */
    bool changed;
    pl_message_t m;
} react_job_t;

static void react_work(pl_db_t *db, void *arg)
{
    react_job_t *q = arg;
    pl_message_t cur = {0};
    int rc = pl_db_message_get(db, q->room_id, q->seq, &cur);
    if (rc == PL_ENOTFOUND || (rc == 0 && cur.deleted)) {
        pl_ops__job_fail(&q->j, "not_found", "no such message");
        pl_message_dispose(&cur);
        return;
    }
    if (rc < 0)
        goto out;
    if (q->custom && !q->remove) {
        /* A custom emoji must exist when it is put on; removing a reaction
         * of one deleted since is always allowed. */
        char name[PL_SHORTCODE_MAX + 1];
        pl_emoji_rec_t e;
        (void)pl_emoji_custom_ref(q->emoji, strlen(q->emoji), name);
        rc = pl_db_emoji_get(db, name, &e);
        if (rc == PL_ENOTFOUND) {
            pl_ops__job_fail(&q->j, "bad_request", "no such custom emoji");
            rc = 0;
            goto out;
        }
        if (rc < 0)
            goto out;
    }
    rc = pl_db_reaction_set(db, q->room_id, q->seq, q->user, q->emoji, !q->remove, q->max_reactions,
                            pl_now_ms(), &q->changed, &q->m);
    if (rc == PL_ETOOBIG) {
        pl_ops__job_fail(&q->j, "bad_request", "too many different reactions on this message");
        rc = 0;
    }
out:
    pl_message_dispose(&cur);
    pl_ops__job_write_end(&q->j, db, rc);
}

static void react_done(int status, void *arg)
{
    react_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_message(s, q->j.id, &q->m);
        if (q->changed)
            pl_chat__emit_update(s->chat, &q->m);
    }
    pl_message_dispose(&q->m);
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
    q->room_id = r->id;
    q->seq = arg->seq;
    q->user = s->user_id;
    q->emoji = pl_xstrdup(arg->emoji);
    q->custom = arg->custom;
    q->remove = arg->remove;
    q->max_reactions = s->chat->cfg->max_reactions_per_user;
    pl_store_write(s->chat->st, react_work, react_done, q);
}
