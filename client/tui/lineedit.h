/* SPDX-License-Identifier: MIT */
/* lineedit.h -- the composer line: a readline-like editor over wide
 * characters with input history. Pure: keys in, buffer out; no curses (the
 * screen maps curses keys to TUI_K_*). */
#ifndef PARLEY_TUI_LINEEDIT_H
#define PARLEY_TUI_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

/* Keys the editor knows besides printable characters (which are their own
 * code points, >= 0x20). Control keys are their ASCII codes. */
enum {
    TUI_K_CTRL_A = 1,
    TUI_K_CTRL_B = 2,
    TUI_K_CTRL_D = 4,
    TUI_K_CTRL_E = 5,
    TUI_K_CTRL_F = 6,
    TUI_K_BACKSPACE_H = 8,
    TUI_K_CTRL_K = 11,
    TUI_K_ENTER = 13,
    TUI_K_CTRL_U = 21,
    TUI_K_CTRL_W = 23,
    TUI_K_BACKSPACE = 127,
    TUI_K_LEFT = 0x110000, /* past Unicode: never a character */
    TUI_K_RIGHT,
    TUI_K_UP,
    TUI_K_DOWN,
    TUI_K_HOME,
    TUI_K_END,
    TUI_K_DELETE,
};

/** What a key did. */
typedef enum {
    TUI_LINE_IGNORED = 0, /* not an editing key: the caller may use it */
    TUI_LINE_CHANGED,     /* buffer or cursor changed: redraw */
    TUI_LINE_SUBMIT,      /* Enter: take the text with tui_line_take */
} tui_line_rc_t;

#define TUI_LINE_MAX 16384  /* characters in the line; more are refused */
#define TUI_HISTORY_MAX 200 /* entries kept, oldest dropped */

typedef struct {
    wchar_t *buf; /* the text, not NUL-terminated */
    size_t len, cap;
    size_t cur;   /* cursor: 0..len */
    char **hist;  /* submitted lines (UTF-8), oldest first */
    size_t nhist; /* entries in hist */
    size_t hpos;  /* browsing position: nhist when editing a new line */
    char *draft;  /* the new line kept while browsing history */
} tui_line_t;

/** Initialises an empty editor (l is caller storage). */
void tui_line_init(tui_line_t *l);
/** Frees the buffer and history. */
void tui_line_dispose(tui_line_t *l);

/** Applies key (a code point >= 0x20, a control code or TUI_K_*). */
tui_line_rc_t tui_line_key(tui_line_t *l, int key);

/** Returns the text as malloc'ed UTF-8 (free()), or NULL on allocation
 * failure. */
char *tui_line_text(const tui_line_t *l);

/** After TUI_LINE_SUBMIT: returns the text (as tui_line_text), adds it to
 * the history unless empty or equal to the last entry, and clears the line. */
char *tui_line_take(tui_line_t *l);

/** Replaces the whole text with the UTF-8 s (borrowed) and puts the cursor
 * at byte offset cursor_byte of s (clamped). Returns 0 or -1 (too long or no
 * memory; the line is unchanged). */
int tui_line_set(tui_line_t *l, const char *s, size_t cursor_byte);

/** The cursor as a byte offset into tui_line_text's string. */
size_t tui_line_cursor_byte(const tui_line_t *l);

/** Display columns of the text before the cursor (wcwidth). */
int tui_line_cursor_col(const tui_line_t *l);

#endif
