/* SPDX-License-Identifier: MIT */
/* lineedit.c -- the composer line editor. No I/O. */
#include "lineedit.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

void tui_line_init(tui_line_t *l)
{
    memset(l, 0, sizeof(*l));
}

void tui_line_dispose(tui_line_t *l)
{
    free(l->buf);
    for (size_t i = 0; i < l->nhist; i++)
        free(l->hist[i]);
    free(l->hist);
    free(l->draft);
    memset(l, 0, sizeof(*l));
}

static int reserve(tui_line_t *l, size_t need)
{
    if (need > TUI_LINE_MAX)
        return -1;
    if (need <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    wchar_t *p = realloc(l->buf, cap * sizeof(wchar_t));
    if (p == NULL)
        return -1;
    l->buf = p;
    l->cap = cap;
    return 0;
}

static void erase(tui_line_t *l, size_t from, size_t to)
{
    /* Nothing to erase also covers the empty line, whose buf may be NULL. */
    if (to > from) {
        memmove(l->buf + from, l->buf + to, (l->len - to) * sizeof(wchar_t));
        l->len -= to - from;
    }
    l->cur = from;
}

static bool is_space(wchar_t c)
{
    return c == ' ' || c == '\t';
}

char *tui_line_text(const tui_line_t *l)
{
    char *out = malloc(l->len * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < l->len; i++)
        n += tui_utf8_encode(l->buf[i], out + n);
    out[n] = '\0';
    return out;
}

int tui_line_set(tui_line_t *l, const char *s, size_t cursor_byte)
{
    size_t slen = strlen(s);
    if (cursor_byte > slen)
        cursor_byte = slen;
    /* At most one character per byte. */
    if (reserve(l, slen) < 0)
        return -1;
    size_t n = 0, cur = 0, i = 0;
    while (i < slen) {
        if (i < cursor_byte)
            cur = n + 1;
        wchar_t wc;
        i += tui_utf8_decode(s + i, slen - i, &wc);
        l->buf[n++] = wc;
    }
    l->len = n;
    l->cur = cursor_byte == 0 ? 0 : cur;
    return 0;
}

size_t tui_line_cursor_byte(const tui_line_t *l)
{
    char tmp[4];
    size_t n = 0;
    for (size_t i = 0; i < l->cur; i++)
        n += tui_utf8_encode(l->buf[i], tmp);
    return n;
}

int tui_line_cursor_col(const tui_line_t *l)
{
    int cols = 0;
    for (size_t i = 0; i < l->cur; i++)
        cols += tui_wc_width(l->buf[i]);
    return cols;
}

/* Shows history entry hpos (or the draft at nhist). */
static void show_history(tui_line_t *l, size_t pos)
{
    if (l->hpos == l->nhist) {
        free(l->draft);
        l->draft = tui_line_text(l);
    }
    l->hpos = pos;
    const char *s = pos < l->nhist ? l->hist[pos] : l->draft ? l->draft : "";
    if (tui_line_set(l, s, strlen(s)) < 0)
        tui_line_set(l, "", 0);
}

static void add_history(tui_line_t *l, char *s)
{
    if (*s == '\0' || (l->nhist && strcmp(l->hist[l->nhist - 1], s) == 0)) {
        free(s);
        return;
    }
    if (l->nhist == TUI_HISTORY_MAX) {
        free(l->hist[0]);
        memmove(l->hist, l->hist + 1, (l->nhist - 1) * sizeof(char *));
        l->nhist--;
    }
    char **h = realloc(l->hist, (l->nhist + 1) * sizeof(char *));
    if (h == NULL) {
        free(s);
        return;
    }
    l->hist = h;
    l->hist[l->nhist++] = s;
}

char *tui_line_take(tui_line_t *l)
{
    char *text = tui_line_text(l);
    if (text) {
        char *copy = strdup(text);
        if (copy)
            add_history(l, copy);
    }
    l->len = l->cur = 0;
    l->hpos = l->nhist;
    free(l->draft);
    l->draft = NULL;
    return text;
}

static tui_line_rc_t insert(tui_line_t *l, wchar_t c)
{
    if (reserve(l, l->len + 1) < 0)
        return TUI_LINE_IGNORED;
    memmove(l->buf + l->cur + 1, l->buf + l->cur, (l->len - l->cur) * sizeof(wchar_t));
    l->buf[l->cur++] = c;
    l->len++;
    return TUI_LINE_CHANGED;
}

/* Ctrl-W: the word before the cursor and the spaces after it. */
static void erase_word(tui_line_t *l)
{
    size_t i = l->cur;
    while (i > 0 && is_space(l->buf[i - 1]))
        i--;
    while (i > 0 && !is_space(l->buf[i - 1]))
        i--;
    erase(l, i, l->cur);
}

tui_line_rc_t tui_line_key(tui_line_t *l, int key)
{
    switch (key) {
    case TUI_K_ENTER:
    case '\n':
        return TUI_LINE_SUBMIT;
    case TUI_K_CTRL_A:
    case TUI_K_HOME:
        l->cur = 0;
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_E:
    case TUI_K_END:
        l->cur = l->len;
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_B:
    case TUI_K_LEFT:
        if (l->cur > 0)
            l->cur--;
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_F:
    case TUI_K_RIGHT:
        if (l->cur < l->len)
            l->cur++;
        return TUI_LINE_CHANGED;
    case TUI_K_BACKSPACE:
    case TUI_K_BACKSPACE_H:
        if (l->cur > 0)
            erase(l, l->cur - 1, l->cur);
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_D:
    case TUI_K_DELETE:
        if (l->cur < l->len)
            erase(l, l->cur, l->cur + 1);
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_U:
        erase(l, 0, l->cur);
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_K:
        l->len = l->cur;
        return TUI_LINE_CHANGED;
    case TUI_K_CTRL_W:
        erase_word(l);
        return TUI_LINE_CHANGED;
    case TUI_K_UP:
        if (l->hpos > 0)
            show_history(l, l->hpos - 1);
        return TUI_LINE_CHANGED;
    case TUI_K_DOWN:
        if (l->hpos < l->nhist)
            show_history(l, l->hpos + 1);
        return TUI_LINE_CHANGED;
    default:
        break;
    }
    if (key >= 0x20 && key < 0x110000 && key != 0x7F && !(key >= 0xD800 && key <= 0xDFFF))
        return insert(l, (wchar_t)key);
    if (key == '\t')
        return TUI_LINE_IGNORED; /* completion is the caller's */
    return TUI_LINE_IGNORED;
}
