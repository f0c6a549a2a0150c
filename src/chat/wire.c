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
        pl_buf_append(b, "null", 4);
        return;
    }
    json_dump_callback(v, buf_dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

void pl_wire_json_string(pl_buf_t *b, const char *s)
{
    json_t *j = json_string(s);
    if (j == NULL) { /* not UTF-8: cannot happen for validated input */
        pl_buf_append(b, "\"\"", 2);
        return;
    }
    pl_wire_json_value(b, j);
    json_decref(j);
}

void pl_wire_message_fields(pl_buf_t *b, const pl_message_t *m)
{
    pl_buf_printf(b,
                  "\"room\":\"r%" PRId64 "\",\"seq\":%" PRId64 ",\"id\":\"m%" PRId64
                  "\",\"sender\":\"u%" PRId64 "\",\"ts\":%" PRId64 ",\"client_id\":",
                  m->room_id, m->seq, m->id, m->sender, m->ts);
    pl_wire_json_string(b, m->client_id);
    pl_buf_append(b, ",\"content\":", 11);
    pl_buf_append(b, m->content, strlen(m->content));
    /* Conversation fields: version always, the rest only when set. */
    pl_buf_printf(b, ",\"version\":%" PRId64, m->version);
    if (m->edited_ts > 0)
        pl_buf_printf(b, ",\"edited_ts\":%" PRId64, m->edited_ts);
    if (m->deleted)
        pl_buf_append(b, ",\"deleted\":true", 15);
    if (m->reactions != NULL) {
        pl_buf_append(b, ",\"reactions\":", 13);
        pl_buf_append(b, m->reactions, strlen(m->reactions));
    }
    if (m->mentions != NULL) {
        pl_buf_append(b, ",\"mentions\":", 12);
        pl_buf_append(b, m->mentions, strlen(m->mentions));
    }
    if (m->mention_room)
        pl_buf_append(b, ",\"mention_room\":true", 20);
    if (m->reply_to > 0) {
        pl_buf_printf(b, ",\"reply_to\":{\"seq\":%" PRId64 ",\"sender\":", m->reply_to);
        if (m->reply_sender > 0)
            pl_buf_printf(b, "\"u%" PRId64 "\"", m->reply_sender);
        else
            pl_buf_append(b, "null", 4);
        pl_buf_append(b, ",\"preview\":", 11);
        pl_wire_json_string(b, m->reply_preview ? m->reply_preview : "");
        pl_buf_append(b, "}", 1);
    }
    if (m->thread_root > 0)
        pl_buf_printf(b, ",\"thread_root\":%" PRId64, m->thread_root);
    if (m->thread_count > 0)
        pl_buf_printf(b, ",\"thread_count\":%" PRId64 ",\"thread_last_ts\":%" PRId64,
                      m->thread_count, m->thread_last_ts);
    if (m->expires_ts > 0)
        pl_buf_printf(b, ",\"expires_ts\":%" PRId64, m->expires_ts);
}

pl_frame_t *pl_wire_ok_frame(json_t *id, const char *fields, size_t len)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_reserve(&b, len + 48);
    pl_buf_append(&b, "{\"re\":", 6);
    pl_wire_json_value(&b, id);
    pl_buf_append(&b, ",\"ok\":true", 10);
    pl_buf_append(&b, fields, len);
    pl_buf_append(&b, "}", 1);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    return f;
}

pl_frame_t *pl_wire_err_frame(const char *re, size_t re_len, const char *code, const char *msg)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_append(&b, "{\"re\":", 6);
    pl_buf_append(&b, re, re_len);
    pl_buf_append(&b, ",\"ok\":false,\"error\":{\"code\":", 28);
    pl_wire_json_string(&b, code);
    pl_buf_append(&b, ",\"message\":", 11);
    pl_wire_json_string(&b, msg);
    pl_buf_append(&b, "}}", 2);
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    return f;
}

void pl_wire_reply_ok(session_t *s, json_t *id, const char *fields, size_t len)
{
    pl_reply__frame(s, pl_wire_ok_frame(id, fields, len), PL_OUT_REPLY, NULL);
}

void pl_wire_reply_err(session_t *s, json_t *id, const char *code, const char *msg)
{
    pl_buf_t re;
    pl_buf_init(&re);
    pl_wire_json_value(&re, id);
    pl_reply__frame(s, pl_wire_err_frame(pl_buf_head(&re), re.len, code, msg), PL_OUT_REPLY, NULL);
    pl_buf_dispose(&re);
    pl_log(PL_LOG_DEBUG, "chat", "user=u%" PRId64 " reply error code=%s", s->user_id, code);
}

/* ---- the id of a request, before parsing it ---- */

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A JSON string starting at p[i] == '"' (RFC 8259 7: no raw control
 * characters, only the defined escapes). Returns the index after the
 * closing quote, or 0 when it is malformed or unterminated. The bytes are
 * valid UTF-8 already (the WebSocket layer checked them). */
static size_t skip_string(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\')
            continue;
        if (++i >= n)
            return 0;
        switch (p[i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u':
            if (i + 4 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]) || !is_hex(p[i + 3]) ||
                !is_hex(p[i + 4]))
                return 0;
            i += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

/* Any JSON value at p[i]: strings and nested containers are skipped with
 * their brackets counted; scalars run to the next ',', '}' or ']'. Returns
 * the index after it, or 0 when it cannot be one. Not a validator: the real
 * parser judges the request if it gets that far. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') {
        size_t j = i;
        while (j < n && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' && p[j] != '\n' &&
               p[j] != '\r' && p[j] != '\t')
            j++;
        return j > i ? j : 0;
    }
    size_t depth = 0;
    while (i < n) {
        char c = p[i];
        if (c == '"') {
            if ((i = skip_string(p, n, i)) == 0)
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

/* An id as the protocol allows it: an integer that fits int64 (at most 18
 * digits, so it surely does) or a string of at most 128 bytes. */
static bool id_ok(const char *v, size_t len)
{
    if (v[0] == '"')
        return len - 2 <= 128; /* escaped: the decoded id is no longer */
    size_t k = v[0] == '-' ? 1 : 0;
    if (len <= k || len - k > 18 || (v[k] == '0' && len - k > 1))
        return false;
    for (size_t i = k; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

bool pl_wire_peek_id(const char *p, size_t n, const char **id, size_t *len)
{
    size_t i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '{')
        return false;
    i = skip_ws(p, n, i + 1);
    while (i < n && p[i] == '"') {
        size_t kend = skip_string(p, n, i);
        if (kend == 0)
            return false;
        bool is_id = kend - i == 4 && p[i + 1] == 'i' && p[i + 2] == 'd';
        i = skip_ws(p, n, kend);
        if (i >= n || p[i] != ':')
            return false;
        i = skip_ws(p, n, i + 1);
        size_t vend = skip_value(p, n, i);
        if (vend == 0)
            return false;
        if (is_id) {
            if (!id_ok(p + i, vend - i))
                return false;
            *id = p + i;
            *len = vend - i;
            return true;
        }
        i = skip_ws(p, n, vend);
        if (i >= n || p[i] != ',')
            return false;
        i = skip_ws(p, n, i + 1);
    }
    return false;
}
