/* SPDX-License-Identifier: MIT */
/* receipts.c -- read and delivered markers (read, delivered) and
 * the receipts list; a moved marker is a `receipt` event. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- read / delivered markers and receipts ---- */

typedef struct {
    job_t j;
    int64_t room_id, user, seq;
    bool read, changed;
    pl_receipt_t r;
} mark_job_t;

static void mark_work(pl_db_t *db, void *arg)
{
    mark_job_t *q = arg;
    int rc = pl_db_member_mark(db, q->room_id, q->user, q->read, q->seq, pl_now_ms(), &q->changed,
                               &q->r);
    pl_ops__job_write_end(&q->j, db, rc);
}

/* {"ev":"receipt",...}: the user's own devices always see read_seq; others
 * only when the user allows read receipts. Two frames, each shared.
 * cluster/relay: pl_wire_peek_receipt reads this exact layout back. */
void pl_ops__receipt_frames(int64_t room, const pl_receipt_t *r, pl_frame_t **full,
                            pl_frame_t **nored)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "{\"ev\":\"receipt\",\"room\":\"r%" PRId64 "\",\"user\":\"u%" PRId64
                  "\",\"read_seq\":%" PRId64 ",\"delivered_seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                  room, r->user_id, r->read_seq, r->delivered_seq, pl_now_ms());
    *full = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_reset(&b, 0);
    pl_buf_printf(&b,
                  "{\"ev\":\"receipt\",\"room\":\"r%" PRId64 "\",\"user\":\"u%" PRId64
                  "\",\"delivered_seq\":%" PRId64 ",\"ts\":%" PRId64 "}",
                  room, r->user_id, r->delivered_seq, pl_now_ms());
    *nored = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}

static void emit_receipt(pl_chat_t *chat, room_t *room, const pl_receipt_t *r)
{
    pl_frame_t *full, *nored;
    pl_ops__receipt_frames(room->id, r, &full, &nored);
    /* In a cluster: what this node's sessions were given (a catch-up from
     * the store sends only what is news; catchup.c). */
    if (chat->cluster != NULL)
        pl_chat__rcpt_seen(room, r->user_id, r->read_seq, r->delivered_seq);
    pl_chat__send_user(chat, r->user_id, full);
    /* The other members' sessions: one walk of the room's online list (and
     * in a cluster one publish on the room's channel, not one per member). */
    pl_chat__fanout_except(chat, room, r->user_id, r->read_receipts ? full : nored);
    pl_frame_unref(full);
    pl_frame_unref(nored);
}

static void mark_done(int status, void *arg)
{
    mark_job_t *q = arg;
    session_t *s = q->j.s;
    if (pl_ops__job_ok(&q->j, status)) {
        pl_wire_reply_ok(s, q->j.id, "", 0);
        room_t *room = pl_chat__room(s->chat, q->room_id);
        if (q->changed && room != NULL)
            emit_receipt(s->chat, room, &q->r);
    }
    pl_ops__job_dispose(&q->j);
    free(q);
}

static void op_mark(session_t *s, pl_cmd_t *c, bool read)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.mark.room);
    if (r == NULL)
        return;
    mark_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->seq = c->u.mark.seq;
    q->read = read;
    pl_store_write(s->chat->st, mark_work, mark_done, q);
}

void pl_ops_read(session_t *s, pl_cmd_t *c)
{
    op_mark(s, c, true);
}

void pl_ops_delivered(session_t *s, pl_cmd_t *c)
{
    op_mark(s, c, false);
}

typedef struct {
    job_t j;
    int64_t room_id, user;
    int64_t after; /* cursor: members with a larger user id */
    size_t budget; /* max_reply_bytes */
    pl_receipt_t *r;
    size_t n;
} receipts_job_t;

static void receipts_work(pl_db_t *db, void *arg)
{
    receipts_job_t *q = arg;
    int rc = pl_db_room_receipts(db, q->room_id, q->after, pl_page_rows(q->budget), &q->r, &q->n);
    if (rc < 0)
        pl_ops__job_store_error(&q->j, rc);
}

static void receipts_done(int status, void *arg)
{
    receipts_job_t *q = arg;
    if (pl_ops__job_ok(&q->j, status)) {
        /* One per member, by user id, from the cursor: a big group's list
         * is paged like any other (about 100 bytes a member). */
        pl_page_t pg;
        pl_page_init(&pg, q->budget);
        int64_t last = 0;
        for (size_t i = 0; i < q->n && !pg.full; i++) {
            const pl_receipt_t *r = &q->r[i];
            pl_buf_t *b = pl_page_open(&pg);
            pl_buf_printf(b, "{\"user\":\"u%" PRId64 "\"", r->user_id);
            if (r->read_receipts || r->user_id == q->user)
                pl_buf_printf(b, ",\"read_seq\":%" PRId64 ",\"read_ts\":%" PRId64, r->read_seq,
                              r->read_ts);
            pl_buf_printf(b, ",\"delivered_seq\":%" PRId64 ",\"delivered_ts\":%" PRId64 "}",
                          r->delivered_seq, r->delivered_ts);
            if (pl_page_close(&pg))
                last = r->user_id;
        }
        bool more = pg.full; /* pl_page_rows: the rows fetched never all fit */
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"receipts\":[");
        pl_page_join(&pg, &b, false);
        pl_buf_printf(&b, "],\"more\":%s", more ? "true" : "false");
        if (more)
            pl_buf_printf(&b, ",\"next\":\"u%" PRId64 "\"", last);
        pl_wire_reply_ok(q->j.s, q->j.id, pl_buf_head(&b), b.len);
        pl_buf_dispose(&b);
        pl_page_dispose(&pg);
    }
    free(q->r);
    pl_ops__job_dispose(&q->j);
    free(q);
}

void pl_ops_receipts(session_t *s, pl_cmd_t *c)
{
    room_t *r = pl_ops__member_room(s, c->id, c->u.receipts.room);
    if (r == NULL)
        return;
    receipts_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, c->id);
    q->room_id = r->id;
    q->user = s->user_id;
    q->after = c->u.receipts.after;
    q->budget = (size_t)s->chat->cfg->max_reply_bytes;
    pl_store_read(s->chat->st, receipts_work, receipts_done, q);
}
