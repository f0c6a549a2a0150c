/* SPDX-License-Identifier: MIT */
/* screen.c -- the terminal client's screen with ncursesw: room list,
 * conversation, status bar and composer. Colours from the terminal's
 * palette: 16 colours as the baseline, 256 when the terminal has them, none
 * with NO_COLOR (https://no-color.org: bold, reverse and underline only). */
#include "app.h"

#include <curses.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "command.h"
#include "text.h"

enum {
    P_NAME = 1, /* 1..6: sender names */
    P_DIM = 7,
    P_BAR = 8,
    P_MENTION = 9,
    P_QUOTE = 10,
    P_ERROR = 11,
    P_TITLE = 12,
};

static bool g_colors;
static tui_rows_t g_rows;

static attr_t pair(int p)
{
    return g_colors ? COLOR_PAIR(p) : 0;
}

void tui_screen_init(tui_app_t *a)
{
    setlocale(LC_ALL, "");
    /* Alt-N arrives as ESC N: a short wait for the second byte is enough. */
    set_escdelay(25);
    initscr();
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    const char *nc = getenv("NO_COLOR");
    g_colors = (nc == NULL || *nc == '\0') && has_colors();
    a->colors = g_colors;
    if (!g_colors)
        return;
    start_color();
    use_default_colors();
    if (COLORS >= 256) {
        static const short names[6] = {167, 71, 179, 68, 133, 73};
        for (int i = 0; i < 6; i++)
            init_pair((short)(P_NAME + i), names[i], -1);
        init_pair(P_DIM, 244, -1);
        init_pair(P_BAR, 252, 24);
        init_pair(P_MENTION, 222, -1);
        init_pair(P_QUOTE, 109, -1);
        init_pair(P_ERROR, 203, -1);
        init_pair(P_TITLE, 252, 237);
    } else {
        static const short names[6] = {COLOR_RED,  COLOR_GREEN,   COLOR_YELLOW,
                                       COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN};
        for (int i = 0; i < 6; i++)
            init_pair((short)(P_NAME + i), names[i], -1);
        init_pair(P_DIM, -1, -1); /* with A_DIM */
        init_pair(P_BAR, COLOR_WHITE, COLOR_BLUE);
        init_pair(P_MENTION, COLOR_YELLOW, -1);
        init_pair(P_QUOTE, COLOR_CYAN, -1);
        init_pair(P_ERROR, COLOR_RED, -1);
        init_pair(P_TITLE, COLOR_BLACK, COLOR_WHITE);
    }
}

void tui_screen_end(void)
{
    tui_rows_free(&g_rows);
    endwin();
}

void tui_screen_bell(void)
{
    beep();
}

int tui_screen_conv_height(void)
{
    return LINES > 4 ? LINES - 3 : 1;
}

/* Draws UTF-8 s at (y, x), at most maxcols columns; control characters and
 * bad UTF-8 show as '?'/U+FFFD. Returns the columns drawn. */
static int draw(int y, int x, const char *s, size_t len, int maxcols)
{
    wchar_t buf[512];
    size_t n = 0, i = 0;
    int cols = 0;
    while (i < len && n + 1 < sizeof(buf) / sizeof(buf[0])) {
        wchar_t wc;
        i += tui_utf8_decode(s + i, len - i, &wc);
        int w = wcwidth(wc);
        if (w < 0) {
            wc = '?';
            w = 1;
        }
        if (cols + w > maxcols)
            break;
        /* A combining mark cannot open the line: curses would drop it. */
        if (w == 0 && n == 0)
            continue;
        buf[n++] = wc;
        cols += w;
    }
    if (n)
        mvaddnwstr(y, x, buf, (int)n);
    return cols;
}

static void fill(int y, int x, int cols)
{
    for (int i = 0; i < cols; i++)
        mvaddch(y, x + i, ' ');
}

static int list_width(void)
{
    return COLS >= 120 ? 24 : COLS >= 60 ? 18 : 0;
}

static const char *presence_mark(tui_app_t *a, const tui_room_t *r)
{
    if (r->kind != 'd' || r->peer_id == NULL)
        return "";
    const char *st = json_string_value(json_object_get(a->model.presence, r->peer_id));
    return st && strcmp(st, "online") == 0 ? " ●" : st && strcmp(st, "away") == 0 ? " ◐" : "";
}

static void draw_rooms(tui_app_t *a, int w)
{
    int h = LINES - 2;
    attron(A_BOLD);
    mvaddstr(0, 0, "Rooms");
    attroff(A_BOLD);
    for (size_t i = 0; i < a->model.nrooms && (int)i + 1 < h; i++) {
        tui_room_t *r = &a->model.rooms[i];
        int y = (int)i + 1;
        char count[32] = "";
        if (r->mentions > 0)
            snprintf(count, sizeof(count), " %lld@%lld", r->unread, r->mentions);
        else if (r->unread > 0)
            snprintf(count, sizeof(count), " %lld", r->unread);
        char head[24];
        snprintf(head, sizeof(head), "%zu ", i + 1);
        attr_t at = i == a->model.cur ? A_REVERSE : 0;
        if (r->unread > 0)
            at |= A_BOLD;
        if (r->mentions > 0)
            at |= A_BOLD | pair(P_MENTION) | (g_colors ? 0 : A_UNDERLINE);
        attron(at);
        fill(y, 0, w);
        int c = draw(y, 0, i < 9 ? head : "  ", 2, w);
        char name[256];
        snprintf(name, sizeof(name), "%s%s", r->name ? r->name : r->id, presence_mark(a, r));
        int cw = tui_str_width(count, strlen(count));
        draw(y, c, name, strlen(name), w - c - cw);
        draw(y, w - cw, count, strlen(count), cw);
        attroff(at);
    }
    /* The line-drawing character works in any locale (a UTF-8 "│" shows
     * as bytes in the C locale). */
    mvvline(0, w, ACS_VLINE, h);
}

static attr_t row_attr(const tui_row_t *row)
{
    switch (row->style) {
    case TUI_ROW_DAY:
    case TUI_ROW_META:
    case TUI_ROW_INFO:
        return pair(P_DIM) | (g_colors && COLORS >= 256 ? 0 : A_DIM);
    case TUI_ROW_QUOTE:
        return pair(P_QUOTE) | (g_colors ? 0 : A_DIM);
    case TUI_ROW_DELETED:
        return pair(P_DIM) | A_DIM;
    case TUI_ROW_TEXT:
        break;
    }
    return row->mention ? pair(P_MENTION) | A_BOLD : 0;
}

static void draw_row(const tui_row_t *row, int y, int x, int w)
{
    attr_t at = row_attr(row);
    attron(at);
    if (row->name_len == 0) {
        draw(y, x, row->text, strlen(row->text), w);
        attroff(at);
        return;
    }
    int c = draw(y, x, row->text, row->name_off, w);
    attroff(at);
    attr_t nat = A_BOLD | pair(P_NAME + (int)(row->name_hash % 6));
    attron(nat);
    c += draw(y, x + c, row->text + row->name_off, row->name_len, w - c);
    attroff(nat);
    attron(at);
    const char *rest = row->text + row->name_off + row->name_len;
    draw(y, x + c, rest, strlen(rest), w - c);
    attroff(at);
}

static void draw_title(tui_app_t *a, tui_room_t *r, int x, int w)
{
    char title[512];
    if (a->view_title)
        snprintf(title, sizeof(title), " %s", a->view_title);
    else if (r == NULL)
        snprintf(title, sizeof(title), " no rooms yet: /dm USER or /group NAME USER...");
    else
        snprintf(title, sizeof(title), " %s%s%s%s", r->kind == 'd' ? "@" : "#",
                 r->name ? r->name : r->id, presence_mark(a, r),
                 a->scroll > 0 ? "   (scrolled back: PageDown)" : "");
    attr_t at = g_colors ? pair(P_TITLE) : A_REVERSE;
    attron(at);
    fill(0, x, w);
    draw(0, x, title, strlen(title), w);
    attroff(at);
}

static void draw_conv(tui_app_t *a, int x, int w)
{
    tui_room_t *r = tui_model_current(&a->model);
    int h = tui_screen_conv_height() - 1;
    draw_title(a, r, x, w);
    tui_rows_clear(&g_rows);
    if (a->view_title) {
        tui_view_build(&g_rows, &a->model, a->view_msgs, w, a->view_thread ? a->view_thread : 1, 0);
        if (strncmp(a->view_title, "help", 4) == 0)
            for (const char *const *u = tui_cmd_usages; *u; u++)
                tui_view_add(&g_rows, *u, TUI_ROW_INFO, w);
    } else if (r) {
        if (r->history_loaded && !r->more_before)
            tui_view_add(&g_rows, "── start of the conversation ──", TUI_ROW_INFO, w);
        else if (r->history_loaded)
            tui_view_add(&g_rows, "── older messages: PageUp ──", TUI_ROW_INFO, w);
        tui_view_build(&g_rows, &a->model, r->msgs, w, 0, r->peer_read);
    }
    int n = (int)g_rows.n;
    int max_scroll = n > h ? n - h : 0;
    if (a->scroll > max_scroll)
        a->scroll = max_scroll;
    int end = n - a->scroll;
    int start = end - h > 0 ? end - h : 0;
    /* Rows stick to the bottom, as in every chat. */
    int y = 1 + h - (end - start);
    for (int i = start; i < end; i++, y++)
        draw_row(&g_rows.rows[i], y, x, w);
}

static const char *state_name(parley_state_t s)
{
    switch (s) {
    case PARLEY_STATE_IDLE:
    case PARLEY_STATE_CONNECTING:
        return "connecting";
    case PARLEY_STATE_AUTHENTICATING:
        return "logging in";
    case PARLEY_STATE_SYNCING:
        return "catching up";
    case PARLEY_STATE_READY:
        return "connected";
    case PARLEY_STATE_WAITING:
        return "reconnecting";
    case PARLEY_STATE_CLOSED:
        return "offline";
    }
    return "?";
}

static void draw_status(tui_app_t *a)
{
    int y = LINES - 2;
    tui_room_t *r = tui_model_current(&a->model);
    char bar[1024];
    int n = snprintf(bar, sizeof(bar), " [%s] %s", state_name(a->state),
                     a->username ? a->username : "");
    if (r && n >= 0 && (size_t)n < sizeof(bar))
        n += snprintf(bar + n, sizeof(bar) - (size_t)n, " │ %zu:%s", a->model.cur + 1,
                      r->name ? r->name : r->id);
    if (r && r->typing_user && n >= 0 && (size_t)n < sizeof(bar))
        n += snprintf(bar + n, sizeof(bar) - (size_t)n, " │ %s is typing…",
                      tui_model_name(&a->model, r->typing_user));
    if (a->notice[0] && n >= 0 && (size_t)n < sizeof(bar))
        snprintf(bar + n, sizeof(bar) - (size_t)n, " │ %s", a->notice);
    attr_t at = g_colors ? pair(P_BAR) : A_REVERSE;
    attron(at);
    fill(y, 0, COLS);
    draw(y, 0, bar, strlen(bar), COLS);
    attroff(at);
}

/* The composer: "> " and the line, scrolled sideways to keep the cursor in
 * view. */
static void draw_input(tui_app_t *a)
{
    int y = LINES - 1, w = COLS - 2;
    move(y, 0);
    clrtoeol();
    mvaddstr(y, 0, "> ");
    tui_line_t *l = &a->line;
    size_t start = 0;
    int before = tui_line_cursor_col(l);
    while (before > w - 1 && start < l->cur) {
        before -= tui_wc_width(l->buf[start]);
        start++;
    }
    int cols = 0, cur_x = 2;
    for (size_t i = start; i < l->len; i++) {
        if (i == l->cur)
            cur_x = 2 + cols;
        wchar_t wc = l->buf[i];
        int cw = wcwidth(wc);
        if (cw < 0)
            wc = '?', cw = 1;
        if (cols + cw > w)
            break;
        mvaddnwstr(y, 2 + cols, &wc, 1);
        cols += cw;
    }
    if (l->cur >= l->len)
        cur_x = 2 + cols;
    move(y, cur_x < COLS ? cur_x : COLS - 1);
}

void tui_screen_draw(tui_app_t *a)
{
    if (a->quit)
        return;
    erase();
    int lw = list_width();
    if (lw)
        draw_rooms(a, lw);
    int x = lw ? lw + 1 : 0;
    draw_conv(a, x, COLS - x);
    draw_status(a);
    draw_input(a);
    refresh();
}

void tui_screen_resize(tui_app_t *a)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
    tui_screen_draw(a);
}
