/* SPDX-License-Identifier: MIT */
/* complete.h -- Tab completion in the composer: commands, nicknames, room
 * names and :shortcodes:. Pure: a line, a cursor and word lists in, the new
 * line out. */
#ifndef PARLEY_TUI_COMPLETE_H
#define PARLEY_TUI_COMPLETE_H

#include <stddef.h>

/** The words completion may offer (all borrowed; arrays of n strings). */
typedef struct {
    const char *const *nicks; /* usernames of the room's members */
    size_t nnicks;
    const char *const *rooms; /* room names */
    size_t nrooms;
} tui_complete_src_t;

/** Completes the word that ends at byte cursor of line (NUL-terminated
 * UTF-8): "/jo" at the start of the line to "/join ", "/join ge" to a room
 * name, ":thu" to "👍", "@al" or "al" to "alice" (with ": " after it when it
 * is the first word, else " "). nth picks the nth match (cycling: repeated
 * Tab presses pass the original line with nth = 0, 1, 2, ...). Matching is
 * by prefix, ignoring ASCII case. Returns the new line, malloc'ed (free()),
 * and its cursor in *new_cursor; NULL when nothing matches. */
char *tui_complete(const char *line, size_t cursor, const tui_complete_src_t *src, unsigned nth,
                   size_t *new_cursor);

/** The emoji for shortcode name (without colons, e.g. "thumbsup"), or NULL. */
const char *tui_shortcode(const char *name, size_t len);

/** Replaces every known :shortcode: in s (borrowed) by its emoji; returns a
 * malloc'ed string (free()), NULL on allocation failure. */
char *tui_expand_shortcodes(const char *s);

#endif
