/* SPDX-License-Identifier: MIT */
/* cli.h -- the parley CLI's internal helpers (session file, password input). */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

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
 * keyed by "<server> <user_id>": the last seq and version seen in room.
 * Returns 0 and fills *seq and *version when saved (an old file holding only
 * a seq gives version 0), -1 otherwise. */
int cli_position_load(const char *server, const char *user_id, const char *room, long long *seq,
                      long long *version);
/** Saves the position (best effort, mode 0600). */
void cli_position_save(const char *server, const char *user_id, const char *room, long long seq,
                       long long version);

/** Renders message m (borrowed) as one line without a newline:
 * "[seq] HH:MM sender: body" where the body is "[deleted]" for tombstones
 * and "<type>" for other non-text content; media shows as "[photo f5 640x480]
 * caption", "[file f6 notes.txt 23 B]", "[voice f7 0:07]" or
 * "[video f8 0:12 640x480]". It is preceded by "[thread N] " on thread
 * replies and "(↪ name: preview) " on replies, followed by " (edited)",
 * reactions ("👍 2  ❤️ 1") and "🧵 N replies" on thread roots. names maps
 * user ids to usernames (borrowed, may be NULL: ids are shown). Returns a
 * malloc'ed string (free with free()). */
char *cli_format_message(const json_t *m, const json_t *names);

/** Describes an update of message m, compared with old (the state printed
 * before; NULL when unknown), as newline-terminated lines: "[seq] deleted",
 * "[seq] edited: text", "[seq] reactions: 👍 2" (or "none"), "[seq] thread:
 * N replies", else "[seq] updated". Returns a malloc'ed string, "" when
 * nothing visible changed (free with free()). */
char *cli_format_update(const json_t *old, const json_t *m);

/** Reads the password: $PARLEY_PASSWORD, else prompt without echo on the tty,
 * else one line from stdin. Returns malloc'ed text or NULL. */
char *cli_read_password(const char *prompt);

#endif
