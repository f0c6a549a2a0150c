/* SPDX-License-Identifier: MIT */
/* wire.c -- JSON serialization of replies and message events. Messages are
 * written by hand around their stored content (already compact JSON produced
 * by jansson from validated input) so content is never re-parsed. */
#include <inttypes.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/log.h"
#include "core/util.h"

static int buf_dump_cb(const char *p, size_t n, void *data)
{
    pl_buf_append(data, p, n);
    return 0;
}

void pl_wire_json_value(pl_buf_t *b, json_t *v)
{
    if (v == NULL) {
        pl_buf_lit(b, "null");
        return;
    }
    json_dump_callback(v, buf_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

void pl_wire_message_fields(pl_buf_t *b, const pl_message_t *m)
{
    pl_buf_printf(b,
                  "\"room\":\"r%" PRId64 "\",\"seq\":%" PRId64 ",\"id\":\"m%" PRId64
                  "\",\"sender\":\"u%" PRId64 "\",\"ts\":%" PRId64 ",\"client_id\":",
                  m->room_id, m->seq, m->id, m->sender, m->ts);
    pl_json_cstr(b, m->client_id);
    pl_buf_lit(b, ",\"content\":");
    pl_buf_append(b, m->content, strlen(m->content));
    /* Conversation fields: version always, the rest only when set. */
    pl_buf_printf(b, ",\"version\":%" PRId64, m->version);
    if (m->edited_ts > 0)
        pl_buf_printf(b, ",\"edited_ts\":%" PRId64, m->edited_ts);
    if (m->deleted)
        pl_buf_lit(b, ",\"deleted\":true");
    if (m->reactions != NULL) {
        pl_buf_lit(b, ",\"reactions\":");
        pl_buf_append(b, m->reactions, strlen(m->reactions));
    }
    if (m->mentions != NULL) {
        pl_buf_lit(b, ",\"mentions\":");
        pl_buf_append(b, m->mentions, strlen(m->mentions));
    }
    if (m->mention_room)
        pl_buf_lit(b, ",\"mention_room\":true");
    if (m->reply_to > 0) {
        pl_buf_printf(b, ",\"reply_to\":{\"seq\":%" PRId64 ",\"sender\":", m->reply_to);
        if (m->reply_sender > 0)
            pl_buf_printf(b, "\"u%" PRId64 "\"", m->reply_sender);
        else
            pl_buf_lit(b, "null");
        pl_buf_lit(b, ",\"preview\":");
        pl_json_cstr(b, m->reply_preview ? m->reply_preview : "");
        pl_buf_lit(b, "}");
    }
    if (m->thread_root > 0)
        pl_buf_printf(b, ",\"thread_root\":%" PRId64, m->thread_root);
    if (m->thread_count > 0)
        pl_buf_printf(b, ",\"thread_count\":%" PRId64 ",\"thread_last_ts\":%" PRId64,
                      m->thread_count, m->thread_last_ts);
    if (m->expires_ts > 0)
        pl_buf_printf(b, ",\"expires_ts\":%" PRId64, m->expires_ts);
}

void pl_wire_user_json(pl_buf_t *b, int64_t id, const char *username, const char *display_name)
{
    pl_buf_printf(b, "{\"id\":\"u%" PRId64 "\",\"username\":", id);
    pl_json_cstr(b, username ? username : "");
    pl_buf_lit(b, ",\"display_name\":");
    pl_json_cstr(b, display_name ? display_name : "");
    pl_buf_lit(b, "}");
}

pl_frame_t *pl_wire_ok_frame(json_t *id, const char *fields, size_t len)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_reserve(&b, len + 48);
    pl_buf_lit(&b, "{\"re\":");
    pl_wire_json_value(&b, id);
    pl_buf_lit(&b, ",\"ok\":true");
    pl_buf_append(&b, fields, len);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    return f;
}

pl_frame_t *pl_wire_err_frame(const char *re, size_t re_len, const char *code, const char *msg,
                              uint64_t retry_after_ms)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{\"re\":");
    pl_buf_append(&b, re, re_len);
    pl_buf_lit(&b, ",\"ok\":false,\"error\":{\"code\":");
    pl_json_cstr(&b, code);
    pl_buf_lit(&b, ",\"message\":");
    pl_json_cstr(&b, msg);
    if (retry_after_ms > 0)
        pl_buf_printf(&b, ",\"retry_after_ms\":%" PRIu64, retry_after_ms);
    pl_buf_lit(&b, "}}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    return f;
}

void pl_wire_reply_ok(session_t *s, json_t *id, const char *fields, size_t len)
{
    pl_reply__frame(s, pl_wire_ok_frame(id, fields, len), PL_OUT_REPLY, NULL);
}

pl_frame_t *pl_wire_err_frame_id(json_t *id, const char *code, const char *msg,
                                 uint64_t retry_after_ms)
{
    pl_buf_t re;
    pl_buf_init(&re);
    pl_wire_json_value(&re, id);
    pl_frame_t *f = pl_wire_err_frame(pl_buf_head(&re), re.len, code, msg, retry_after_ms);
    pl_buf_dispose(&re);
    return f;
}

/* Queues the error reply to a counted request. */
/* Counts an error reply by code (issue 17: parley_errors_total{code}). */
static void count_error(pl_chat_t *chat, const char *code)
{
    pl_chat_stats_t *st = &chat->stats;
    for (uint32_t i = 0; i < st->nerrors; i++)
        if (!strcmp(st->errors[i].code, code)) {
            st->errors[i].n++;
            return;
        }
    if (st->nerrors + 1 < PL_CHAT_ERR_CODES) {
        st->errors[st->nerrors].code = code;
        st->errors[st->nerrors++].n = 1;
        return;
    }
    /* the last slot: everything past the table */
    st->errors[PL_CHAT_ERR_CODES - 1].code = "other";
    st->errors[PL_CHAT_ERR_CODES - 1].n++;
}

static void reply_err(session_t *s, json_t *id, const char *code, const char *msg,
                      uint64_t retry_after_ms)
{
    count_error(s->chat, code);
    pl_reply__frame(s, pl_wire_err_frame_id(id, code, msg, retry_after_ms), PL_OUT_REPLY, NULL);
    pl_log(PL_LOG_DEBUG, "chat", "user=u%" PRId64 " reply error code=%s", s->user_id, code);
}

void pl_wire_reply_err(session_t *s, json_t *id, const char *code, const char *msg)
{
    reply_err(s, id, code, msg, 0);
}

void pl_wire_reply_err_retry(session_t *s, json_t *id, const char *code, const char *msg,
                             uint64_t retry_after_ms)
{
    reply_err(s, id, code, msg, retry_after_ms ? retry_after_ms : 1);
}

void pl_wire_reply_message(session_t *s, json_t *id, const pl_message_t *m)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, ",\"message\":{");
    pl_wire_message_fields(&b, m);
    pl_buf_lit(&b, "}");
    pl_wire_reply_ok(s, id, pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
}
