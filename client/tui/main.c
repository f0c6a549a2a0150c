/* SPDX-License-Identifier: MIT */
/* main.c -- parley-tui, the full-screen terminal client: options, the
 * stored login shared with the parley CLI, and the one libuv loop that
 * carries libparley, the keyboard and the signals. */
#include "app.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../cli/cli.h"
#include "version.h"

static const char usage[] =
    "usage: parley-tui [--server URL] [--login USER] [--notify CMD] [--ca-file PEM] [--insecure]\n"
    "\n"
    "The full-screen Parley client. It uses the login stored by `parley login`\n"
    "(or logs in with --login USER, reading the password from $PARLEY_PASSWORD\n"
    "or the terminal, and stores it the same way).\n"
    "\n"
    "  --server URL   server (default: the stored one, else " CLI_DEFAULT_SERVER ")\n"
    "  --notify CMD   run CMD (with /bin/sh) on a mention; it gets PARLEY_NOTIFY_ROOM,\n"
    "                 PARLEY_NOTIFY_FROM and PARLEY_NOTIFY_TEXT in its environment\n"
    "                 (default: $PARLEY_TUI_NOTIFY; without it: the terminal bell only)\n"
    "  --ca-file PEM, --insecure   as for parley\n"
    "\n"
    "Keys: Alt-1..9 or Ctrl-N/Ctrl-P switch rooms, PageUp/PageDown scroll (older\n"
    "history loads at the top), Tab completes, Ctrl-A/E/W/U/K and arrows edit,\n"
    "Up/Down recall input, Esc closes a thread or search view, Ctrl-Z suspends,\n"
    "Ctrl-C or /quit exits. Type /help for the commands.\n";

/* --login USER: logs in before the screen starts and stores the session. */
static int login(cli_session_t *s, const char *server, const char *user)
{
    char *pw = cli_read_password("password: ");
    if (pw == NULL)
        return -1;
    char *token = NULL, *uid = NULL;
    parley_error_t err;
    int rc = parley_login(server, user, pw, "parley-tui", &token, &uid, &err);
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (rc != PARLEY_OK) {
        fprintf(stderr, "parley-tui: login failed: %s: %s\n", err.code, err.message);
        return -1;
    }
    cli_session_dispose(s);
    s->server = strdup(server);
    s->username = strdup(user);
    s->user_id = uid;
    s->token = token;
    cli_session_save(s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *server = NULL, *login_user = NULL, *ca_file = NULL;
    const char *notify = getenv("PARLEY_TUI_NOTIFY");
    bool insecure = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--login") == 0 && i + 1 < argc)
            login_user = argv[++i];
        else if (strcmp(argv[i], "--notify") == 0 && i + 1 < argc)
            notify = argv[++i];
        else if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
            ca_file = argv[++i];
        else if (strcmp(argv[i], "--insecure") == 0)
            insecure = true;
        else if (strcmp(argv[i], "--version") == 0) {
            printf("parley-tui %s\n", PL_VERSION);
            return 0;
        } else {
            fputs(usage, strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    if (!ca_file && getenv("PARLEY_CA_FILE") && *getenv("PARLEY_CA_FILE"))
        ca_file = getenv("PARLEY_CA_FILE");
    if (ca_file || insecure)
        parley_tls_config(ca_file, insecure);
    cli_session_t sess;
    cli_session_load(&sess);
    const char *url = server ? server : sess.server ? sess.server : CLI_DEFAULT_SERVER;
    if (login_user && login(&sess, url, login_user) < 0) {
        cli_session_dispose(&sess);
        return 1;
    }
    if (sess.token == NULL) {
        fprintf(stderr, "parley-tui: not logged in: run `parley-tui --login USER` or "
                        "`parley login USER` first\n");
        cli_session_dispose(&sess);
        return 1;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "parley-tui: needs a terminal\n");
        cli_session_dispose(&sess);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    tui_app_t a = {.loop = &loop};
    a.server = strdup(url);
    a.token = strdup(sess.token);
    a.username = sess.username ? strdup(sess.username) : NULL;
    a.notify_cmd = notify && *notify ? strdup(notify) : NULL;
    tui_model_init(&a.model, sess.user_id);
    tui_line_init(&a.line);
    cli_session_dispose(&sess);

    tui_screen_init(&a);
    int rc = 0;
    if (tui_keys_start(&a) < 0 || tui_app_start(&a) < 0) {
        rc = 1;
    } else {
        tui_screen_draw(&a);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    a.quit = true;
    tui_screen_end();
    tui_keys_stop(&a);
    tui_app_stop(&a);
    /* Let the handles close; a transfer still in the pool finishes first. */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    tui_model_dispose(&a.model);
    tui_line_dispose(&a.line);
    free(a.server);
    free(a.token);
    free(a.username);
    free(a.notify_cmd);
    return rc;
}
