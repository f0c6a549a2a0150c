/* SPDX-License-Identifier: MIT */
/* format.c -- how the parley CLI prints messages and message updates: one
 * line per message with its edit, delete, reaction, reply and thread markers.
 * Pure: JSON in, text out. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growable string; on allocation failure it stays as it was (truncated). */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return;
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static char *sb_take(sbuf_t *b)
{
    if (b->p == NULL)
        return strdup("");
    return b->p;
}

static const char *name_of(const json_t *names, const char *id)
{
    if (id == NULL)
        return "?";
    const char *n = json_string_value(json_object_get(names, id));
    return n ? n : id;
}

static json_int_t int_field(const json_t *m, const char *key)
{
    return json_integer_value(json_object_get(m, key));
}

/* "23 B", "1.5 KB", "3.2 MB", "1.1 GB". */
static void human_size(sbuf_t *b, json_int_t n)
{
    if (n < 1024) {
        sb_printf(b, "%lld B", (long long)n);
        return;
    }
    static const char *units[] = {"KB", "MB", "GB", "TB"};
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    sb_printf(b, "%.1f %s", v, units[u]);
}

/* "0:07", "12:34", "1:02:03". */
static void duration(sbuf_t *b, json_int_t ms)
{
    long long s = (long long)((ms + 500) / 1000);
    if (s >= 3600)
        sb_printf(b, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        sb_printf(b, "%lld:%02lld", s / 60, s % 60);
}

/* Media content: "[photo f5 640x480] caption", "[file f6 notes.txt 23 B]",
 * "[voice f7 0:07]", "[video f8 0:12 640x480]", "[sticker f9 :party:]". Returns
 * false for other types. */
static bool media_body(sbuf_t *b, const char *type, const json_t *c)
{
    const char *media = json_string_value(json_object_get(c, "media"));
    if (media == NULL)
        media = "?";
    if (strcmp(type, "image") == 0) {
        sb_printf(b, "[photo %s %lldx%lld]", media, (long long)int_field(c, "w"),
                  (long long)int_field(c, "h"));
        const char *caption = json_string_value(json_object_get(c, "caption"));
        if (caption && *caption)
            sb_printf(b, " %s", caption);
    } else if (strcmp(type, "file") == 0) {
        const char *name = json_string_value(json_object_get(c, "name"));
        sb_printf(b, "[file %s %s ", media, name ? name : "?");
        human_size(b, int_field(c, "size"));
        sb_printf(b, "]");
    } else if (strcmp(type, "voice") == 0) {
        sb_printf(b, "[voice %s ", media);
        duration(b, int_field(c, "duration_ms"));
        sb_printf(b, "]");
    } else if (strcmp(type, "sticker") == 0) {
        const char *sc = json_string_value(json_object_get(c, "emoji"));
        sb_printf(b, "[sticker %s", media);
        if (sc && *sc)
            sb_printf(b, " :%s:", sc);
        sb_printf(b, "]");
    } else if (strcmp(type, "video") == 0) {
        sb_printf(b, "[video %s", media);
        if (json_is_integer(json_object_get(c, "duration_ms"))) {
            sb_printf(b, " ");
            duration(b, int_field(c, "duration_ms"));
        }
        if (int_field(c, "w") > 0 && int_field(c, "h") > 0)
            sb_printf(b, " %lldx%lld", (long long)int_field(c, "w"), (long long)int_field(c, "h"));
        sb_printf(b, "]");
    } else {
        return false;
    }
    return true;
}

/* The message body: text, "[deleted]", or "<type>" for other content. */
static void body(sbuf_t *b, const json_t *m)
{
    json_t *content = json_object_get(m, "content");
    const char *type = json_string_value(json_object_get(content, "type"));
    const char *text = json_string_value(json_object_get(content, "body"));
    if (json_is_true(json_object_get(m, "deleted")) || (type && strcmp(type, "deleted") == 0))
        sb_printf(b, "[deleted]");
    else if (type && strcmp(type, "text") == 0 && text)
        sb_printf(b, "%s", text);
    else if (type && media_body(b, type, content))
        ;
    else
        sb_printf(b, "<%s>", type ? type : "unknown");
}

/* "👍 2  ❤️ 1", or "" without reactions. */
static void reactions(sbuf_t *b, const json_t *m)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m, "reactions"), i, r)
    {
        sb_printf(b, "%s%s %lld", i ? "  " : "", json_string_value(json_object_get(r, "emoji")),
                  (long long)int_field(r, "count"));
    }
}

static bool has_reactions(const json_t *m)
{
    return json_array_size(json_object_get(m, "reactions")) > 0;
}

static void thread_count(sbuf_t *b, const json_t *m)
{
    json_int_t n = int_field(m, "thread_count");
    sb_printf(b, "%lld %s", (long long)n, n == 1 ? "reply" : "replies");
}

char *cli_format_body(const json_t *m)
{
    sbuf_t b = {0};
    body(&b, m);
    return sb_take(&b);
}

char *cli_format_message(const json_t *m, const json_t *names)
{
    sbuf_t b = {0};
    json_int_t ts = int_field(m, "ts");
    time_t t = (time_t)(ts / 1000);
    struct tm tm;
    char hm[16] = "--:--";
    if (localtime_r(&t, &tm))
        strftime(hm, sizeof(hm), "%H:%M", &tm);
    sb_printf(&b, "[%lld] %s %s: ", (long long)int_field(m, "seq"), hm,
              name_of(names, json_string_value(json_object_get(m, "sender"))));
    if (int_field(m, "thread_root") > 0)
        sb_printf(&b, "[thread %lld] ", (long long)int_field(m, "thread_root"));
    json_t *reply = json_object_get(m, "reply_to");
    if (json_is_object(reply)) {
        const char *sender = json_string_value(json_object_get(reply, "sender"));
        const char *preview = json_string_value(json_object_get(reply, "preview"));
        sb_printf(&b, "(↪ %s: %s) ", name_of(names, sender),
                  preview && *preview ? preview : "[deleted]");
    }
    body(&b, m);
    bool deleted = json_is_true(json_object_get(m, "deleted"));
    if (!deleted && int_field(m, "edited_ts") > 0)
        sb_printf(&b, " (edited)");
    if (has_reactions(m)) {
        sb_printf(&b, "  ");
        reactions(&b, m);
    }
    if (int_field(m, "thread_count") > 0) {
        sb_printf(&b, "  🧵 ");
        thread_count(&b, m);
    }
    return sb_take(&b);
}

char *cli_format_update(const json_t *old, const json_t *m)
{
    sbuf_t b = {0};
    long long seq = (long long)int_field(m, "seq");
    bool deleted = json_is_true(json_object_get(m, "deleted"));
    if (deleted) {
        if (old == NULL || !json_is_true(json_object_get(old, "deleted")))
            sb_printf(&b, "[%lld] deleted\n", seq);
        return sb_take(&b);
    }
    json_int_t edited = int_field(m, "edited_ts");
    if (edited > 0 && (old == NULL || int_field(old, "edited_ts") != edited)) {
        sb_printf(&b, "[%lld] edited: ", seq);
        body(&b, m);
        sb_printf(&b, "\n");
    }
    json_t *nr = json_object_get(m, "reactions");
    bool react_changed =
        old ? !json_equal(json_object_get((json_t *)old, "reactions"), nr) : has_reactions(m);
    if (old != NULL && json_object_get((json_t *)old, "reactions") == NULL && nr == NULL)
        react_changed = false;
    if (react_changed) {
        sb_printf(&b, "[%lld] reactions: ", seq);
        if (has_reactions(m))
            reactions(&b, m);
        else
            sb_printf(&b, "none");
        sb_printf(&b, "\n");
    }
    json_int_t tc = int_field(m, "thread_count");
    if (tc > 0 && (old == NULL || int_field(old, "thread_count") != tc)) {
        sb_printf(&b, "[%lld] thread: ", seq);
        thread_count(&b, m);
        sb_printf(&b, "\n");
    }
    if (b.len == 0)
        sb_printf(&b, "[%lld] updated\n", seq);
    return sb_take(&b);
}
