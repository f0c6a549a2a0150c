/* SPDX-License-Identifier: MIT */
/* app.h -- the terminal client's application: libparley's events into the
 * model, composer commands into requests, the screen and the keyboard, all
 * on one libuv loop. app.c talks to the server, app_cmd.c runs the
 * composer's commands, screen.c draws with ncursesw, keys.c reads the
 * keyboard, main.c starts it all. */
#ifndef PARLEY_TUI_APP_H
#define PARLEY_TUI_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <parley.h>
#include <uv.h>

#include "lineedit.h"
#include "model.h"
#include "view.h"

typedef struct tui_app {
    uv_loop_t *loop;
    parley_client_t *client;
    char *server;   /* server URL (owned) */
    char *token;    /* session token (owned) */
    char *username; /* our username (owned) */
    tui_model_t model;
    tui_line_t line;
    parley_state_t state;
    char notice[512]; /* the last notice or error, shown in the status bar */
    int scroll;       /* conversation rows scrolled up from the bottom */
    bool first_ready; /* the rooms have been listed once */
    bool loading_history;
    /* The overlay: a thread or search results instead of the open room. */
    char *view_title;      /* NULL: no overlay (owned) */
    json_t *view_msgs;     /* its messages (owned) */
    char *view_room;       /* thread: its room id (owned) */
    long long view_thread; /* thread: its root seq */
    /* Tab completion in progress: the line before it and the press count. */
    char *comp_line;
    size_t comp_cursor;
    unsigned comp_n;
    uint64_t typing_sent_ms; /* when we last sent typing:true */
    char *notify_cmd;        /* run on mentions (owned; NULL: bell only) */
    bool colors;             /* colours in use (not NO_COLOR, terminal has them) */
    bool quit;
    uv_poll_t stdin_poll;
    uv_signal_t sigwinch, sigterm, sighup, sigint;
    uv_timer_t tick; /* one-shot: typing indicators expire */
    int uploads;     /* uploads and downloads running in the thread pool */
} tui_app_t;

/* ---- app.c, app_cmd.c ---- */

/** Creates the client on a->loop and connects (a->server, a->token set).
 * Returns 0 or -1. */
int tui_app_start(tui_app_t *a);
/** Frees the client and the model (handles close as the loop runs on). */
void tui_app_stop(tui_app_t *a);
/** Runs one line from the composer (a message or a /command). */
void tui_app_submit(tui_app_t *a, const char *line);
/** Opens room index i: loads its first history page when needed and moves
 * the read marker. */
void tui_app_open(tui_app_t *a, size_t i);
/** PageUp reached the top: asks for older history of the open room. */
void tui_app_load_older(tui_app_t *a);
/** The composer changed: tells the room we are typing (throttled). */
void tui_app_typing(tui_app_t *a);
/** Closes the overlay (thread/search view). */
void tui_app_close_view(tui_app_t *a);
/** Sets the notice of the status bar (printf-style). */
void tui_app_notice(tui_app_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Milliseconds on the loop's clock. */
uint64_t tui_app_now(tui_app_t *a);

/* internals shared by app.c and app_cmd.c */

/** A reply's error as the notice (prefixed by what); returns true when the
 * reply is ok. reply is borrowed. */
bool tui_app__reply_ok(tui_app_t *a, const json_t *reply, const char *what);
/** Sends req (taken; NULL is reported as out of memory) with cb (may be
 * NULL, ud = a); "not connected" when the client refuses it. */
void tui_app__request(tui_app_t *a, json_t *req, parley_reply_cb cb);

/* ---- screen.c ---- */

/** Starts curses (locale, colours by NO_COLOR and the terminal). */
void tui_screen_init(tui_app_t *a);
/** Redraws everything. */
void tui_screen_draw(tui_app_t *a);
/** The terminal was resized: reads the size and redraws. */
void tui_screen_resize(tui_app_t *a);
/** Restores the terminal. */
void tui_screen_end(void);
/** Rows of the conversation pane. */
int tui_screen_conv_height(void);
/** Bell (and nothing else: the notify command is the app's). */
void tui_screen_bell(void);

/* ---- keys.c ---- */

/** Starts reading the keyboard (uv_poll on stdin), SIGWINCH and quit
 * signals. Returns 0 or a negative libuv code. */
int tui_keys_start(tui_app_t *a);
/** Stops them (closes the handles). */
void tui_keys_stop(tui_app_t *a);

#endif
