/* SPDX-License-Identifier: MIT */
/* command.h -- the composer's slash commands (/join, /dm, /react, ...):
 * one line of text in, a typed command or a usage error out. Pure: no I/O;
 * the app (app.c) turns a command into requests. */
#ifndef PARLEY_TUI_COMMAND_H
#define PARLEY_TUI_COMMAND_H

#include <stddef.h>

typedef enum {
    TUI_CMD_NONE = 0, /* an empty line: nothing to do */
    TUI_CMD_SAY,      /* plain text (a leading "//" sends one "/") */
    TUI_CMD_JOIN,     /* /join ROOM           arg = room name, id or @user */
    TUI_CMD_DM,       /* /dm USER             arg = username */
    TUI_CMD_GROUP,    /* /group NAME USER...  arg = name, text = usernames */
    TUI_CMD_ME,       /* /me TEXT             text */
    TUI_CMD_REACT,    /* /react SEQ EMOJI     seq, arg = emoji or :shortcode: */
    TUI_CMD_EDIT,     /* /edit SEQ TEXT       seq, text */
    TUI_CMD_DELETE,   /* /delete SEQ          seq */
    TUI_CMD_REPLY,    /* /reply SEQ TEXT      seq, text */
    TUI_CMD_THREAD,   /* /thread SEQ [TEXT]   seq, text (may be empty: show it) */
    TUI_CMD_SEARCH,   /* /search WORDS        text */
    TUI_CMD_UPLOAD,   /* /upload PATH         text = path (may hold spaces) */
    TUI_CMD_DOWNLOAD, /* /download ID [PATH]  arg = media id, text = path or "" */
    TUI_CMD_QUIT,     /* /quit */
    TUI_CMD_HELP,     /* /help */
} tui_cmd_kind_t;

/** A slice of the parsed line (not NUL-terminated). */
typedef struct {
    const char *p;
    size_t len;
} tui_slice_t;

/** A parsed command; slices borrow from the line given to tui_cmd_parse. */
typedef struct {
    tui_cmd_kind_t kind;
    long long seq;    /* commands with SEQ: >= 1, else 0 */
    tui_slice_t arg;  /* the first word argument, or empty */
    tui_slice_t text; /* the rest (trimmed), or empty */
} tui_cmd_t;

/* Parse errors. */
#define TUI_CMD_EUNKNOWN (-1) /* "/foo": no such command */
#define TUI_CMD_EUSAGE (-2)   /* missing or bad argument */

/** Parses line[0..len) (UTF-8, need not be NUL-terminated). On success fills
 * *out and returns 0; on failure returns TUI_CMD_EUNKNOWN or TUI_CMD_EUSAGE
 * and, when usage is not NULL, points *usage at a static usage text ("usage:
 * /react SEQ EMOJI"). */
int tui_cmd_parse(const char *line, size_t len, tui_cmd_t *out, const char **usage);

/** The command names ("/join", ...), in help order, NULL-terminated: for
 * completion and /help. */
extern const char *const tui_cmd_names[];

/** The usage line of every command, NULL-terminated, in the same order. */
extern const char *const tui_cmd_usages[];

#endif
