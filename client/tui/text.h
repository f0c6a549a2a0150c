/* SPDX-License-Identifier: MIT */
/* text.h -- the terminal client's text measuring: UTF-8 decoding and
 * encoding, display width by wcwidth (wide characters, emoji, combining
 * marks) and line wrapping. Pure: no I/O, no curses; wcwidth needs a UTF-8
 * LC_CTYPE (the client sets it at start, the tests set C.UTF-8). */
#ifndef PARLEY_TUI_TEXT_H
#define PARLEY_TUI_TEXT_H

#include <stddef.h>
#include <wchar.h>

/** Decodes one UTF-8 character from s[0..len) (len >= 1) into *wc and
 * returns the bytes it took (1..4). An invalid or truncated sequence takes 1
 * byte and decodes to U+FFFD, so every input makes progress. */
size_t tui_utf8_decode(const char *s, size_t len, wchar_t *wc);

/** Encodes wc as UTF-8 into out (at least 4 bytes); returns the length (0 for
 * a surrogate or a value past U+10FFFF, which are not encoded). */
size_t tui_utf8_encode(wchar_t wc, char *out);

/** Columns wc takes on a terminal: wcwidth (the table ncursesw places
 * cells by, so layout and drawing agree), with control and unprintable
 * characters counted as 1 (the client draws them as '?'); combining marks,
 * the zero-width joiner and variation selectors (U+FE0F) are 0. */
int tui_wc_width(wchar_t wc);

/** Display columns of the UTF-8 text s[0..len). */
int tui_str_width(const char *s, size_t len);

/** One wrapped line: bytes [off, off+len) of the text, cols columns wide. */
typedef struct {
    size_t off, len;
    int cols;
} tui_span_t;

/** Wraps s[0..len) to lines of at most width columns (width < 1 counts as
 * 1; a character wider than width gets a line of its own). Breaks after the
 * last space that fits, else inside the word; the space at a break is
 * dropped; '\n' ends a line; combining marks stay with their base
 * character. Writes up to max spans to out (out may be NULL when max is 0)
 * and returns the number of lines the text needs (>= 1, also for ""), which
 * may exceed max. */
size_t tui_wrap(const char *s, size_t len, int width, tui_span_t *out, size_t max);

#endif
