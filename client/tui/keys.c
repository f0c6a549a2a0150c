/* SPDX-License-Identifier: MIT */
/* keys.c -- the keyboard and the terminal's signals on the libuv loop:
 * uv_poll on stdin (read every key curses has, then wait again: no busy
 * polling), SIGWINCH redraws at the new size, SIGTERM/SIGHUP/SIGINT quit,
 * Ctrl-Z suspends and fg restores the screen. */
#include "app.h"

#include <curses.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "complete.h"

/* Curses key codes to the editor's. */
static int map_key(int key)
{
    switch (key) {
    case KEY_LEFT:
        return TUI_K_LEFT;
    case KEY_RIGHT:
        return TUI_K_RIGHT;
    case KEY_UP:
        return TUI_K_UP;
    case KEY_DOWN:
        return TUI_K_DOWN;
    case KEY_HOME:
        return TUI_K_HOME;
    case KEY_END:
        return TUI_K_END;
    case KEY_DC:
        return TUI_K_DELETE;
    case KEY_BACKSPACE:
        return TUI_K_BACKSPACE;
    case KEY_ENTER:
        return TUI_K_ENTER;
    default:
        return -1;
    }
}

static void end_completion(tui_app_t *a)
{
    free(a->comp_line);
    a->comp_line = NULL;
    a->comp_n = 0;
}

static void complete(tui_app_t *a)
{
    if (a->comp_line == NULL) {
        a->comp_line = tui_line_text(&a->line);
        a->comp_cursor = tui_line_cursor_byte(&a->line);
        a->comp_n = 0;
        if (a->comp_line == NULL)
            return;
    }
    /* Candidates: every known username and room name. */
    tui_model_t *m = &a->model;
    size_t nn = json_object_size(m->names), nr = m->nrooms, k = 0;
    const char **nicks = calloc(nn + 1, sizeof(char *));
    const char **rooms = calloc(nr + 1, sizeof(char *));
    if (nicks && rooms) {
        const char *key;
        json_t *v;
        json_object_foreach(m->names, key, v)
        {
            if (!m->me || strcmp(key, m->me) != 0)
                nicks[k++] = json_string_value(v);
        }
        for (size_t i = 0; i < nr; i++)
            rooms[i] = m->rooms[i].name;
        tui_complete_src_t src = {nicks, k, rooms, nr};
        size_t cur;
        char *line = tui_complete(a->comp_line, a->comp_cursor, &src, a->comp_n++, &cur);
        if (line) {
            tui_line_set(&a->line, line, cur);
            free(line);
        } else {
            beep();
        }
    }
    free(nicks);
    free(rooms);
}

static void switch_room(tui_app_t *a, int delta)
{
    size_t n = a->model.nrooms;
    if (n == 0)
        return;
    size_t i = (a->model.cur + n + (size_t)(delta < 0 ? n - 1 : 1)) % n;
    tui_app_open(a, i);
}

static void suspend(tui_app_t *a)
{
    endwin();
    /* SIGSTOP cannot be caught: the shell sees a stopped job; fg sends
     * SIGCONT and we continue here. */
    kill(getpid(), SIGSTOP);
    tui_screen_resize(a);
}

static void submit(tui_app_t *a)
{
    char *text = tui_line_take(&a->line);
    if (text) {
        tui_app_submit(a, text);
        free(text);
    }
}

/* One key; returns false when the app should quit. */
static void on_key(tui_app_t *a, int rc, wint_t ch)
{
    int key = rc == KEY_CODE_YES ? map_key((int)ch) : (int)ch;
    if (key != '\t')
        end_completion(a);
    if (rc == KEY_CODE_YES) {
        if (ch == KEY_PPAGE) {
            int page = tui_screen_conv_height() - 2;
            a->scroll += page > 1 ? page : 1;
            tui_screen_draw(a); /* clamps scroll to the rows there are */
            /* At the top: ask for older messages. */
            tui_app_load_older(a);
        } else if (ch == KEY_NPAGE) {
            int page = tui_screen_conv_height() - 2;
            a->scroll -= page > 1 ? page : 1;
            if (a->scroll < 0)
                a->scroll = 0;
        } else if (ch == KEY_RESIZE) {
            /* curses has resized already (resizeterm queues this key):
             * resizing again here would queue another, forever. The redraw
             * follows the keys. */
        } else if (key >= 0) {
            tui_line_key(&a->line, key);
        }
        return;
    }
    switch (key) {
    case 3: /* Ctrl-C */
        a->quit = true;
        return;
    case 26: /* Ctrl-Z */
        suspend(a);
        return;
    case 14: /* Ctrl-N */
        switch_room(a, 1);
        return;
    case 16: /* Ctrl-P */
        switch_room(a, -1);
        return;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        return;
    case '\t':
        complete(a);
        return;
    case '\r':
    case '\n':
        submit(a);
        return;
    default:
        break;
    }
    if (tui_line_key(&a->line, key) == TUI_LINE_CHANGED && key >= 0x20)
        tui_app_typing(a);
}

/* ESC then a key: Alt-key (Alt-1..9 open rooms); ESC alone closes the
 * overlay. */
static void on_escape(tui_app_t *a)
{
    wint_t ch;
    int rc = get_wch(&ch);
    if (rc == OK && ch >= '1' && ch <= '9') {
        if ((size_t)(ch - '1') < a->model.nrooms)
            tui_app_open(a, (size_t)(ch - '1'));
        return;
    }
    if (rc == ERR) {
        tui_app_close_view(a);
        a->scroll = 0;
        return;
    }
    /* Alt+other: ignored. */
}

static void on_stdin(uv_poll_t *p, int status, int events)
{
    tui_app_t *a = p->data;
    (void)events;
    if (status < 0) {
        a->quit = true;
    } else {
        wint_t ch;
        int rc;
        while (!a->quit && (rc = get_wch(&ch)) != ERR) {
            if (rc == OK && ch == 27)
                on_escape(a);
            else
                on_key(a, rc, ch);
        }
    }
    if (a->quit) {
        uv_stop(a->loop);
        return;
    }
    tui_screen_draw(a);
}

static void on_winch(uv_signal_t *s, int sig)
{
    (void)sig;
    tui_screen_resize(s->data);
}

static void on_quit(uv_signal_t *s, int sig)
{
    (void)sig;
    tui_app_t *a = s->data;
    a->quit = true;
    uv_stop(a->loop);
}

int tui_keys_start(tui_app_t *a)
{
    int rc = uv_poll_init(a->loop, &a->stdin_poll, 0);
    if (rc < 0)
        return rc;
    a->stdin_poll.data = a;
    if ((rc = uv_poll_start(&a->stdin_poll, UV_READABLE, on_stdin)) < 0)
        return rc;
    uv_signal_t *sigs[] = {&a->sigwinch, &a->sigterm, &a->sighup, &a->sigint};
    int nums[] = {SIGWINCH, SIGTERM, SIGHUP, SIGINT};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(a->loop, sigs[i]);
        sigs[i]->data = a;
        uv_signal_start(sigs[i], i == 0 ? on_winch : on_quit, nums[i]);
    }
    return 0;
}

void tui_keys_stop(tui_app_t *a)
{
    uv_close((uv_handle_t *)&a->stdin_poll, NULL);
    uv_close((uv_handle_t *)&a->sigwinch, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sighup, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
}
