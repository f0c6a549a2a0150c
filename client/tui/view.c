/* SPDX-License-Identifier: MIT */
/* view.c -- the conversation laid out as rows. No I/O. */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "text.h"

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void tui_rows_clear(tui_rows_t *out)
{
    for (size_t i = 0; i < out->n; i++)
        free(out->rows[i].text);
    out->n = 0;
}

void tui_rows_free(tui_rows_t *out)
{
    tui_rows_clear(out);
    free(out->rows);
    memset(out, 0, sizeof(*out));
}

/* Appends a row taking text (owned). */
static tui_row_t *push(tui_rows_t *out, char *text, tui_row_style_t style)
{
    if (text == NULL)
        return NULL;
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        tui_row_t *rows = realloc(out->rows, cap * sizeof(*rows));
        if (rows == NULL) {
            free(text);
            return NULL;
        }
        out->rows = rows;
        out->cap = cap;
    }
    tui_row_t *r = &out->rows[out->n++];
    memset(r, 0, sizeof(*r));
    r->text = text;
    r->style = style;
    return r;
}

/* indent spaces + s[0..len), malloc'ed. */
static char *indented(int indent, const char *s, size_t len)
{
    char *t = malloc((size_t)indent + len + 1);
    if (t == NULL)
        return NULL;
    memset(t, ' ', (size_t)indent);
    memcpy(t + indent, s, len);
    t[(size_t)indent + len] = '\0';
    return t;
}

int tui_view_add(tui_rows_t *out, const char *text, tui_row_style_t style, int width)
{
    tui_span_t sp;
    tui_wrap(text, strlen(text), width, &sp, 1);
    return push(out, indented(0, text + sp.off, sp.len), style) ? 0 : -1;
}

static unsigned hash(const char *s)
{
    unsigned h = 5381;
    while (s && *s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* Marks the sender's name in row, when the row still holds it whole. */
static void set_name(tui_row_t *row, size_t off, const char *name)
{
    if (strlen(row->text) >= off + strlen(name)) {
        row->name_off = off;
        row->name_len = strlen(name);
        row->name_hash = hash(name);
    }
}

/* "── Monday 7 December 2026 ──" */
static int day_row(tui_rows_t *out, const struct tm *tm, int width)
{
    char day[64], line[256];
    strftime(day, sizeof(day), "%A %-d %B %Y", tm);
    snprintf(line, sizeof(line), "── %s ──", day);
    return tui_view_add(out, line, TUI_ROW_DAY, width);
}

/* Wraps text: the first row at full width, the rest indented by indent.
 * Returns the number of rows pushed or -1. */
static int wrap_rows(tui_rows_t *out, const char *text, int width, int indent,
                     tui_row_style_t style)
{
    size_t len = strlen(text), pos = 0;
    int rows = 0;
    int w = width;
    do {
        tui_span_t sp;
        tui_wrap(text + pos, len - pos, w, &sp, 1);
        if (!push(out, indented(rows ? indent : 0, text + pos + sp.off, sp.len), style))
            return -1;
        rows++;
        pos += sp.off + sp.len;
        if (pos < len && (text[pos] == ' ' || text[pos] == '\n'))
            pos++;
        w = width - indent;
    } while (pos < len);
    return rows;
}

/* The reactions and thread count: "👍 2  ❤️ 1  🧵 3 replies", "" when none. */
static void meta_text(const json_t *msg, char *buf, size_t cap)
{
    size_t n = 0;
    size_t i;
    json_t *r;
    buf[0] = '\0';
    json_array_foreach(json_object_get(msg, "reactions"), i, r)
    {
        const char *e = str_of(r, "emoji");
        int k =
            snprintf(buf + n, cap - n, "%s%s %lld", n ? "  " : "", e ? e : "?", int_of(r, "count"));
        if (k < 0 || (size_t)k >= cap - n)
            return;
        n += (size_t)k;
    }
    long long tc = int_of(msg, "thread_count");
    if (tc > 0)
        snprintf(buf + n, cap - n, "%s🧵 %lld %s", n ? "  " : "", tc,
                 tc == 1 ? "reply" : "replies");
}

static int message_rows(tui_rows_t *out, const tui_model_t *m, const json_t *msg, int width,
                        long long peer_read)
{
    const char *sender = str_of(msg, "sender");
    const char *name = tui_model_name(m, sender);
    bool mine = sender && m->me && strcmp(sender, m->me) == 0;
    bool deleted = json_is_true(json_object_get(msg, "deleted"));
    bool mention = tui_model_mentions_me(m, msg);
    long long seq = int_of(msg, "seq");
    time_t t = (time_t)(int_of(msg, "ts") / 1000);
    struct tm tm;
    char hm[16] = "--:--";
    if (localtime_r(&t, &tm))
        strftime(hm, sizeof(hm), "%H:%M", &tm);
    char prefix[160];
    int plen = snprintf(prefix, sizeof(prefix), "[%lld] %s ", seq, hm);
    size_t name_off = (size_t)plen;
    snprintf(prefix + plen, sizeof(prefix) - (size_t)plen, "%s: ", name);
    int indent = tui_str_width(prefix, strlen(prefix));
    if (indent > width / 3)
        indent = width / 3 > 2 ? 2 : 0;
    /* A reply: the header row holds the quote ("↪ bob: the original"),
     * the body starts on the next row, indented under it, so the quote
     * cannot be taken for the end of the message above. */
    const json_t *reply = json_object_get(msg, "reply_to");
    bool quoted = json_is_object(reply) && !deleted;
    if (quoted) {
        const char *preview = str_of(reply, "preview");
        char *q = NULL;
        if (asprintf(&q, "%s↪ %s: %s", prefix, tui_model_name(m, str_of(reply, "sender")),
                     preview && *preview ? preview : "[deleted]") < 0)
            return -1;
        int rc = tui_view_add(out, q, TUI_ROW_QUOTE, width);
        free(q);
        if (rc < 0)
            return -1;
        set_name(&out->rows[out->n - 1], name_off, name);
        /* The body rows: all indented. */
        memset(prefix, ' ', (size_t)indent);
        prefix[indent] = '\0';
    }
    char *body = cli_format_body(msg);
    char *line = NULL;
    const char *mark = !mine || deleted ? "" : peer_read >= seq ? " ✓✓" : " ✓";
    int k = asprintf(&line, "%s%s%s%s", prefix, body ? body : "",
                     !deleted && int_of(msg, "edited_ts") > 0 ? " (edited)" : "", mark);
    free(body);
    if (k < 0)
        return -1;
    size_t first = out->n;
    int rows = wrap_rows(out, line, width, indent, deleted ? TUI_ROW_DELETED : TUI_ROW_TEXT);
    free(line);
    if (rows < 0)
        return -1;
    for (size_t i = first; i < out->n; i++) {
        out->rows[i].mention = mention;
        out->rows[i].mine = mine;
    }
    if (!quoted)
        set_name(&out->rows[first], name_off, name);
    char meta[1024];
    meta_text(msg, meta, sizeof(meta));
    if (meta[0] && !deleted) {
        char *r = indented(indent, meta, strlen(meta));
        if (r == NULL)
            return -1;
        int rc = wrap_rows(out, r, width, indent, TUI_ROW_META);
        free(r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int tui_view_build(tui_rows_t *out, const tui_model_t *m, const json_t *msgs, int width,
                   long long thread_root, long long peer_read)
{
    if (width < 1)
        width = 1;
    int last_day = -1, last_year = -1;
    size_t i;
    json_t *msg;
    json_array_foreach(msgs, i, msg)
    {
        if (thread_root == 0 && int_of(msg, "thread_root") > 0)
            continue;
        time_t t = (time_t)(int_of(msg, "ts") / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm) && (tm.tm_yday != last_day || tm.tm_year != last_year)) {
            if (day_row(out, &tm, width) < 0)
                return -1;
            last_day = tm.tm_yday;
            last_year = tm.tm_year;
        }
        if (message_rows(out, m, msg, width, peer_read) < 0)
            return -1;
    }
    return 0;
}
