/* SPDX-License-Identifier: MIT */
/* cli.h -- the parley CLI's internal helpers (session file, password input). */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stddef.h>

/** The stored session: all fields malloc'ed or NULL. */
typedef struct {
    char *server;
    char *username;
    char *user_id;
    char *token;
} cli_session_t;

/** Path of session.json ($XDG_CONFIG_HOME/parley or ~/.config/parley) into out.
 * Returns 0, or -1 when no home directory is known. */
int cli_session_path(char *out, size_t cap, char *dir, size_t dir_cap);
/** Loads the session; returns 0 when found, -1 otherwise (s zeroed). */
int cli_session_load(cli_session_t *s);
/** Writes the session atomically with mode 0600 in a 0700 directory. Returns 0
 * or -1 (errno set, message printed). */
int cli_session_save(const cli_session_t *s);
/** Deletes the session file. */
void cli_session_remove(void);
/** Frees the fields. */
void cli_session_dispose(cli_session_t *s);

/** Saved per-room positions of `tail` (positions.json next to session.json),
 * keyed by "<server> <user_id>": returns the last seq seen in room, or -1 when
 * none was saved. */
long long cli_position_load(const char *server, const char *user_id, const char *room);
/** Saves the position (best effort, mode 0600). */
void cli_position_save(const char *server, const char *user_id, const char *room, long long seq);

/** Reads the password: $PARLEY_PASSWORD, else prompt without echo on the tty,
 * else one line from stdin. Returns malloc'ed text or NULL. */
char *cli_read_password(const char *prompt);

#endif
