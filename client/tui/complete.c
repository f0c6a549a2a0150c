/* SPDX-License-Identifier: MIT */
/* complete.c -- Tab completion and :shortcodes:. No I/O. */
#include "complete.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command.h"

/* The common shortcodes (the names Slack and GitHub use). The server's own
 * custom emoji are :shortcode: text the server understands, not these. */
static const struct {
    const char *name, *emoji;
} shortcodes[] = {
    {"+1", "👍"},          {"-1", "👎"},
    {"100", "💯"},         {"angry", "😠"},
    {"clap", "👏"},        {"cry", "😢"},
    {"eyes", "👀"},        {"fire", "🔥"},
    {"grin", "😁"},        {"heart", "❤️"},
    {"joy", "😂"},         {"laughing", "😆"},
    {"ok_hand", "👌"},     {"party", "🥳"},
    {"pray", "🙏"},        {"rocket", "🚀"},
    {"smile", "😄"},       {"sob", "😭"},
    {"sunglasses", "😎"},  {"tada", "🎉"},
    {"thinking", "🤔"}, {"thumbsdown", "👎"},
    {"thumbsup", "👍"},    {"wave", "👋"},
    {"wink", "😉"},        {"white_check_mark", "✅"},
    {"x", "❌"},           {"zap", "⚡"},
};
#define NSHORT (sizeof(shortcodes) / sizeof(shortcodes[0]))

const char *tui_shortcode(const char *name, size_t len)
{
    for (size_t i = 0; i < NSHORT; i++)
        if (strlen(shortcodes[i].name) == len && memcmp(shortcodes[i].name, name, len) == 0)
            return shortcodes[i].emoji;
    return NULL;
}

char *tui_expand_shortcodes(const char *s)
{
    size_t len = strlen(s);
    /* An emoji (<= 7 bytes here) is never longer than ":x:" plus 4. */
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == ':') {
            const char *end = strchr(s + i + 1, ':');
            const char *e = end ? tui_shortcode(s + i + 1, (size_t)(end - s - i - 1)) : NULL;
            if (e) {
                memcpy(out + n, e, strlen(e));
                n += strlen(e);
                i = (size_t)(end - s) + 1;
                continue;
            }
        }
        out[n++] = s[i++];
    }
    out[n] = '\0';
    return out;
}

static bool prefix(const char *cand, const char *w, size_t wlen)
{
    return strlen(cand) >= wlen && strncasecmp(cand, w, wlen) == 0;
}

/* The nth candidate of list matching w[0..wlen), or NULL. Cycles when nth
 * is past the number of matches. */
static const char *nth_match(const char *const *list, size_t n, const char *w, size_t wlen,
                             unsigned nth)
{
    size_t matches = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i] && prefix(list[i], w, wlen))
            matches++;
    if (matches == 0)
        return NULL;
    size_t want = nth % matches;
    for (size_t i = 0; i < n; i++)
        if (list[i] && prefix(list[i], w, wlen) && want-- == 0)
            return list[i];
    return NULL;
}

static const char *nth_shortcode(const char *w, size_t wlen, unsigned nth, const char **name)
{
    const char *names[NSHORT];
    for (size_t i = 0; i < NSHORT; i++)
        names[i] = shortcodes[i].name;
    const char *m = nth_match(names, NSHORT, w, wlen, nth);
    if (m == NULL)
        return NULL;
    *name = m;
    return tui_shortcode(m, strlen(m));
}

/* Builds line[0..wstart) + ins + suffix + line[cursor..]. */
static char *splice(const char *line, size_t wstart, size_t cursor, const char *ins,
                    const char *suffix, size_t *new_cursor)
{
    size_t tail = strlen(line + cursor), a = strlen(ins), b = strlen(suffix);
    char *out = malloc(wstart + a + b + tail + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, line, wstart);
    memcpy(out + wstart, ins, a);
    memcpy(out + wstart + a, suffix, b);
    memcpy(out + wstart + a + b, line + cursor, tail + 1);
    *new_cursor = wstart + a + b;
    return out;
}

char *tui_complete(const char *line, size_t cursor, const tui_complete_src_t *src, unsigned nth,
                   size_t *new_cursor)
{
    size_t len = strlen(line);
    if (cursor > len)
        cursor = len;
    size_t ws = cursor;
    while (ws > 0 && line[ws - 1] != ' ' && line[ws - 1] != '\t')
        ws--;
    const char *w = line + ws;
    size_t wlen = cursor - ws;
    if (wlen == 0)
        return NULL;
    if (ws == 0 && w[0] == '/') {
        size_t ncmd = 0;
        while (tui_cmd_names[ncmd])
            ncmd++;
        const char *m = nth_match(tui_cmd_names, ncmd, w, wlen, nth);
        return m ? splice(line, ws, cursor, m, " ", new_cursor) : NULL;
    }
    if (w[0] == ':') {
        const char *name;
        const char *e = nth_shortcode(w + 1, wlen - 1, nth, &name);
        return e ? splice(line, ws, cursor, e, " ", new_cursor) : NULL;
    }
    bool at = w[0] == '@';
    bool room_word = w[0] == '#' || strncmp(line, "/join ", 6) == 0;
    if (room_word) {
        size_t skip = w[0] == '#' ? 1 : 0;
        const char *m = nth_match(src->rooms, src->nrooms, w + skip, wlen - skip, nth);
        return m ? splice(line, ws + skip, cursor, m, " ", new_cursor) : NULL;
    }
    size_t skip = at ? 1 : 0;
    const char *m = nth_match(src->nicks, src->nnicks, w + skip, wlen - skip, nth);
    if (m == NULL)
        return NULL;
    return splice(line, ws + skip, cursor, m, ws == 0 && !at ? ": " : " ", new_cursor);
}
