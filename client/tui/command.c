/* SPDX-License-Identifier: MIT */
/* command.c -- the slash-command parser. No I/O. */
#include "command.h"

#include <stdbool.h>
#include <string.h>

/* What a command takes after its name. */
typedef enum {
    A_NONE,      /* nothing */
    A_WORD,      /* one word */
    A_WORD_TEXT, /* a word and at least one more word of text */
    A_WORD_OPT,  /* a word and optional text */
    A_TEXT,      /* some text */
    A_SEQ,       /* a seq */
    A_SEQ_WORD,  /* a seq and one word */
    A_SEQ_TEXT,  /* a seq and some text */
    A_SEQ_OPT,   /* a seq and optional text */
} args_t;

typedef struct {
    const char *name;
    tui_cmd_kind_t kind;
    args_t args;
    const char *usage;
} row_t;

static const row_t rows[] = {
    {"/join", TUI_CMD_JOIN, A_WORD, "usage: /join ROOM (a room name, id or @user)"},
    {"/dm", TUI_CMD_DM, A_WORD, "usage: /dm USER"},
    {"/group", TUI_CMD_GROUP, A_WORD_TEXT, "usage: /group NAME USER..."},
    {"/me", TUI_CMD_ME, A_TEXT, "usage: /me TEXT"},
    {"/react", TUI_CMD_REACT, A_SEQ_WORD, "usage: /react SEQ EMOJI"},
    {"/edit", TUI_CMD_EDIT, A_SEQ_TEXT, "usage: /edit SEQ TEXT"},
    {"/delete", TUI_CMD_DELETE, A_SEQ, "usage: /delete SEQ"},
    {"/reply", TUI_CMD_REPLY, A_SEQ_TEXT, "usage: /reply SEQ TEXT"},
    {"/thread", TUI_CMD_THREAD, A_SEQ_OPT, "usage: /thread SEQ [TEXT]"},
    {"/search", TUI_CMD_SEARCH, A_TEXT, "usage: /search WORDS"},
    {"/upload", TUI_CMD_UPLOAD, A_TEXT, "usage: /upload PATH"},
    {"/download", TUI_CMD_DOWNLOAD, A_WORD_OPT, "usage: /download MEDIA_ID [PATH]"},
    {"/quit", TUI_CMD_QUIT, A_NONE, "usage: /quit"},
    {"/help", TUI_CMD_HELP, A_NONE, "usage: /help"},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

const char *const tui_cmd_names[] = {
    "/join",   "/dm",     "/group",  "/me",       "/react", "/edit", "/delete", "/reply",
    "/thread", "/search", "/upload", "/download", "/quit",  "/help", NULL,
};

const char *const tui_cmd_usages[] = {
    "/join ROOM",
    "/dm USER",
    "/group NAME USER...",
    "/me TEXT",
    "/react SEQ EMOJI",
    "/edit SEQ TEXT",
    "/delete SEQ",
    "/reply SEQ TEXT",
    "/thread SEQ [TEXT]",
    "/search WORDS",
    "/upload PATH",
    "/download ID [PATH]",
    "/quit",
    "/help",
    NULL,
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Skips spaces from *i. */
static void skip(const char *s, size_t len, size_t *i)
{
    while (*i < len && is_space(s[*i]))
        (*i)++;
}

/* The next word from *i (after spaces), advancing *i past it. */
static tui_slice_t word(const char *s, size_t len, size_t *i)
{
    skip(s, len, i);
    size_t b = *i;
    while (*i < len && !is_space(s[*i]))
        (*i)++;
    return (tui_slice_t){s + b, *i - b};
}

/* The rest from *i, trimmed on both sides. */
static tui_slice_t rest(const char *s, size_t len, size_t i)
{
    skip(s, len, &i);
    size_t e = len;
    while (e > i && (is_space(s[e - 1]) || s[e - 1] == '\n' || s[e - 1] == '\r'))
        e--;
    return (tui_slice_t){s + i, e - i};
}

/* A seq: 1..10^15 in decimal, no sign. */
static int parse_seq(tui_slice_t w, long long *out)
{
    if (w.len == 0 || w.len > 15)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < w.len; i++) {
        if (w.p[i] < '0' || w.p[i] > '9')
            return -1;
        v = v * 10 + (w.p[i] - '0');
    }
    if (v < 1)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(const row_t *r, const char *s, size_t len, size_t i, tui_cmd_t *out)
{
    tui_slice_t w;
    switch (r->args) {
    case A_NONE:
        return rest(s, len, i).len == 0 ? 0 : -1;
    case A_TEXT:
        out->text = rest(s, len, i);
        return out->text.len ? 0 : -1;
    case A_WORD:
    case A_WORD_TEXT:
    case A_WORD_OPT:
        out->arg = word(s, len, &i);
        out->text = rest(s, len, i);
        if (out->arg.len == 0 || (r->args == A_WORD && out->text.len))
            return -1;
        return r->args == A_WORD_TEXT && out->text.len == 0 ? -1 : 0;
    case A_SEQ:
    case A_SEQ_WORD:
    case A_SEQ_TEXT:
    case A_SEQ_OPT:
        w = word(s, len, &i);
        if (parse_seq(w, &out->seq) < 0)
            return -1;
        if (r->args == A_SEQ)
            return rest(s, len, i).len == 0 ? 0 : -1;
        if (r->args == A_SEQ_WORD) {
            out->arg = word(s, len, &i);
            return out->arg.len && rest(s, len, i).len == 0 ? 0 : -1;
        }
        out->text = rest(s, len, i);
        return r->args == A_SEQ_TEXT && out->text.len == 0 ? -1 : 0;
    }
    return -1;
}

int tui_cmd_parse(const char *line, size_t len, tui_cmd_t *out, const char **usage)
{
    memset(out, 0, sizeof(*out));
    /* A line is taken up to its first NUL: the composer never makes one. */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        len = (size_t)(nul - line);
    tui_slice_t all = rest(line, len, 0);
    if (all.len == 0) {
        out->kind = TUI_CMD_NONE;
        return 0;
    }
    if (line[0] != '/' || (len > 1 && line[1] == '/')) {
        out->kind = TUI_CMD_SAY;
        /* "//x" sends "/x"; otherwise the text as typed (leading spaces
         * kept out, as in irssi). */
        out->text = line[0] == '/' ? (tui_slice_t){line + 1, len - 1} : all;
        out->text = rest(out->text.p, out->text.len, 0);
        return 0;
    }
    size_t i = 0;
    tui_slice_t name = word(line, len, &i);
    for (size_t k = 0; k < NROWS; k++) {
        if (strlen(rows[k].name) != name.len || memcmp(rows[k].name, name.p, name.len) != 0)
            continue;
        out->kind = rows[k].kind;
        if (parse_args(&rows[k], line, len, i, out) < 0) {
            tui_cmd_kind_t kind = out->kind;
            memset(out, 0, sizeof(*out));
            out->kind = kind;
            if (usage)
                *usage = rows[k].usage;
            return TUI_CMD_EUSAGE;
        }
        return 0;
    }
    if (usage)
        *usage = "unknown command (try /help)";
    return TUI_CMD_EUNKNOWN;
}
