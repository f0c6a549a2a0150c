/* SPDX-License-Identifier: MIT */
/* view.h -- the conversation as screen rows: day separators, messages
 * wrapped to the pane's width (wcwidth), reply quotes, edits, deletions,
 * reactions, thread counts and receipts (✓ stored, ✓✓ read by another
 * member). Pure: the model in, rows of text with a style out; screen.c
 * draws them. */
#ifndef PARLEY_TUI_VIEW_H
#define PARLEY_TUI_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "model.h"

typedef enum {
    TUI_ROW_TEXT = 0, /* a message line */
    TUI_ROW_DAY,      /* "── Monday 7 December 2026 ──" */
    TUI_ROW_QUOTE,    /* "  ↪ bob: the quoted text" */
    TUI_ROW_META,     /* "  👍 2  ❤️ 1  🧵 3 replies" */
    TUI_ROW_DELETED,  /* a tombstone */
    TUI_ROW_INFO,     /* a notice of the client ("-- more history: PageUp --") */
} tui_row_style_t;

typedef struct {
    char *text; /* UTF-8, at most the pane's width in columns */
    tui_row_style_t style;
    size_t name_off, name_len; /* the sender's name within text (name_len 0: none) */
    unsigned name_hash;        /* picks the sender's colour */
    bool mention;              /* the message mentions us */
    bool mine;                 /* our own message */
} tui_row_t;

typedef struct {
    tui_row_t *rows;
    size_t n, cap;
} tui_rows_t;

/** Appends the rows of msgs (a JSON array of Messages, by seq ascending;
 * borrowed) for a pane width columns wide (>= 8 is sensible; smaller
 * values still work). thread_root 0: the main timeline (thread replies
 * left out, their roots show the count); > 0: every message given (the
 * thread view). peer_read: the seq up to which another member has read
 * (our own messages up to it get ✓✓). Times are shown in local time.
 * Returns 0, or -1 when out of memory (out holds what fitted). */
int tui_view_build(tui_rows_t *out, const tui_model_t *m, const json_t *msgs, int width,
                   long long thread_root, long long peer_read);

/** Appends one row of text (borrowed, copied; cut to width columns) with
 * style. Returns 0 or -1. */
int tui_view_add(tui_rows_t *out, const char *text, tui_row_style_t style, int width);

/** Frees the rows' texts and empties out (the array is kept for reuse). */
void tui_rows_clear(tui_rows_t *out);
/** Frees everything. */
void tui_rows_free(tui_rows_t *out);

#endif
