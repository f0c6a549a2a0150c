/* SPDX-License-Identifier: MIT */
/* custom_emoji.c -- the server's custom emoji: emoji_add,
 * emoji_remove, emoji_list and the `emoji` event to every session. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "chat/emoji.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- custom emoji ---- */

typedef enum { EMOJI_ADD, EMOJI_REMOVE, EMOJI_LIST } emoji_kind_t;

typedef struct {
    job_t j;
    emoji_kind_t kind;
    int64_t user;
    pl_emoji_rec_t e; /* add / remove: the emoji */
    pl_emoji_rec_t *list;
    size_t n;
    char after[PL_SHORTCODE_MAX + 1]; /* list: the cursor ("" = from the start) */
} emoji_job_t;

static void emoji_json(pl_buf_t *b, const pl_emoji_rec_t *e)
{
    pl_buf_printf(b, "{\"shortcode\":\"%s\",\"media\":\"f%" PRId64 "\",\"owner\":\"u%" PRId64 "\"}",
                  e->shortcode, e->media, e->owner);
}

static void emoji_work(pl_db_t *db, void *arg)
{
    emoji_job_t *q = arg;
    int rc = 0;
    if (q->kind == EMOJI_LIST) {
        rc =
            pl_db_emoji_list(db, q->after, pl_page_rows((size_t)q->j.s->chat->cfg->max_reply_bytes),
                             &q->list, &q->n);
    } else if (q->kind == EMOJI_ADD) {
        rc = pl_ops__own_image(db, &q->j, q->user, q->e.media);
        if (rc == 1)
            return;
        if (rc == 0)
            rc = pl_db_emoji_add(db, q->e.shortcode, q->e.media, q->user, pl_now_ms());
        if (rc == PL_EEXIST) {
            pl_ops__job_fail(&q->j, "emoji_taken", "that shortcode is already taken");
            return;
        }
    } else {
        rc = pl_db_emoji_get(db, q->e.shortcode, &q->e);
        if (rc == PL_ENOTFOUND) {
            pl_ops__job_fail(&q->j, "not_found", "no such custom emoji");
            return;
        }
        if (rc == 0 && q->e.owner != q->user) {
            pl_ops__job_fail(&q->j, "forbidden", "only its owner can remove a custom emoji");
            return;
        }
        if (rc == 0)
            rc = pl_db_emoji_remove(db, q->e.shortcode);
    }
    if (rc < 0) {
        pl_ops__job_store_error(&q->j, rc);
        if (q->kind != EMOJI_LIST)
            pl_db_rollback_job(db);
    }
}

/* {"ev":"emoji","action":"added"|"removed","emoji":{...}} to every session:
 * custom emoji are server-wide. */
static void emit_emoji(pl_chat_t *chat, const char *action, const pl_emoji_rec_t *e)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b, "{\"ev\":\"emoji\",\"action\":\"%s\",\"emoji\":", action);
    emoji_json(&b, e);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    online_t *u, *tmp;
    HASH_ITER(hh, chat->users, u, tmp)
    {
        pl_chat__send_user(chat, u->user_id, f);
    }
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

static void emoji_done(int status, void *arg)
{
    emoji_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->kind == EMOJI_LIST) {
            /* Server-wide and anyone may add: paged by shortcode. */
            pl_page_t pg;
            pl_page_init(&pg, (size_t)s->chat->cfg->max_reply_bytes);
            const char *last = NULL;
            for (size_t i = 0; i < q->n && !pg.full; i++) {
                emoji_json(pl_page_open(&pg), &q->list[i]);
                if (pl_page_close(&pg))
                    last = q->list[i].shortcode;
            }
            bool more = pg.full; /* pl_page_rows: the rows fetched never all fit */
            pl_buf_lit(&b, ",\"emoji\":[");
            pl_page_join(&pg, &b, false);
            pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
            if (more && last != NULL)
                pl_buf_printf(&b, ",\"next\":\"%s\"", last);
            pl_page_dispose(&pg);
        } else {
            pl_buf_lit(&b, ",\"emoji\":");
            emoji_json(&b, &q->e);
        }
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        if (q->kind != EMOJI_LIST) {
            pl_log(PL_LOG_INFO, "chat", "emoji %s shortcode=%s user=u%" PRId64,
                   q->kind == EMOJI_ADD ? "added" : "removed", q->e.shortcode, q->user);
            emit_emoji(s->chat, q->kind == EMOJI_ADD ? "added" : "removed", &q->e);
        }
    }
    pl_emoji_recs_free(q->list, q->n);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static emoji_job_t *emoji_new(session_t *s, json_t *id, emoji_kind_t kind)
{
    emoji_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->kind = kind;
    q->user = s->user_id;
    q->e.owner = s->user_id;
    return q;
}

void pl_ops_emoji_add(session_t *s, pl_cmd_t *c)
{
    if (strcmp(s->chat->cfg->emoji_add_policy, "anyone") != 0) {
        pl_wire_reply_err(s, c->id, "forbidden", "adding custom emoji is disabled on this server");
        return;
    }
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_ADD);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", c->u.emoji.shortcode);
    q->e.media = c->u.emoji.media;
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_remove(session_t *s, pl_cmd_t *c)
{
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_REMOVE);
    snprintf(q->e.shortcode, sizeof q->e.shortcode, "%s", c->u.emoji.shortcode);
    pl_store_write(s->chat->st, emoji_work, emoji_done, q);
}

void pl_ops_emoji_list(session_t *s, pl_cmd_t *c)
{
    emoji_job_t *q = emoji_new(s, c->id, EMOJI_LIST);
    snprintf(q->after, sizeof q->after, "%s", c->u.emoji.shortcode);
    pl_store_read(s->chat->st, emoji_work, emoji_done, q);
}
