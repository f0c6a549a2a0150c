/* SPDX-License-Identifier: MIT */
/* cli.h -- the parley CLI's internals: the command table, the connection
 * helpers the commands share, the session file, password input, output. */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <parley.h>

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

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

/** The body of message m (borrowed) alone, as cli_format_message shows it:
 * the text, "[deleted]", a media description ("[file f6 notes.txt 23 B]")
 * or "<type>". Returns a malloc'ed string (free with free()). The terminal
 * client (client/tui) shares it. */
char *cli_format_body(const json_t *m);

/** Describes an update of message m, compared with old (the state printed
 * before; NULL when unknown), as newline-terminated lines: "[seq] deleted",
 * "[seq] edited: text", "[seq] reactions: 👍 2" (or "none"), "[seq] thread:
 * N replies", else "[seq] updated". Returns a malloc'ed string, "" when
 * nothing visible changed (free with free()). */
char *cli_format_update(const json_t *old, const json_t *m);

/** Reads the password: $PARLEY_PASSWORD, else prompt without echo on the tty,
 * else one line from stdin. Returns malloc'ed text or NULL. */
char *cli_read_password(const char *prompt);

/* ---- the command table (commands.c) and its parser (main.c) ---- */

/** What an option or a leading positional argument holds. */
typedef enum {
    CLI_TEXT = 0, /* any string */
    CLI_FLAG,     /* an option without a value */
    CLI_COUNT,    /* an integer >= 0 */
    CLI_SEQ,      /* a message seq: an integer >= 1 */
} cli_kind_t;

/** One option of a command. */
typedef struct {
    const char *name;  /* "--limit" */
    const char *alias; /* a short spelling ("-o"), or NULL */
    cli_kind_t kind;
} cli_opt_t;

/* What a command needs before its handler runs, acquired in this order. */
enum {
    CLI_SESSION = 1 << 0,               /* a stored login (else exit 1) */
    CLI_CONNECT = 1 << 1 | CLI_SESSION, /* a ready connection in cli->client */
    CLI_ROOM = 1 << 2 | CLI_CONNECT,    /* argument 0 is ROOM, resolved into call->room */
};

#define CLI_MAX_OPTS 3
#define CLI_MAX_KINDS 3

typedef struct cli_command cli_command_t;

/** One parsed invocation: borrowed from argv except room. */
typedef struct {
    const cli_command_t *cmd; /* its table row */
    int argc;                 /* positional arguments, options removed */
    char **argv;
    const char *opt[CLI_MAX_OPTS];    /* value of each option of the command (in table
                                         order), "" for a given flag, NULL when absent */
    long long num[CLI_MAX_OPTS];      /* numeric value of CLI_COUNT/CLI_SEQ options, else -1 */
    long long arg_num[CLI_MAX_KINDS]; /* numeric value of leading positionals, else -1 */
    char *room;                       /* CLI_ROOM: the resolved room id (owned) */
    void *data; /* what prepare built for run (owned by the command: run frees it) */
} cli_call_t;

typedef struct cli cli_t;

/** One command: the table row that help, usage errors, argument parsing and
 * the connect/resolve steps are all driven from. */
struct cli_command {
    const char *name;                /* "history", or two words for a subcommand: "profile set" */
    const char *synopsis;            /* arguments after the name, for help and usage errors */
    const char *help;                /* help text, lines separated by '\n'; "" for none */
    int min_args, max_args;          /* positional arguments; max_args < 0: no limit */
    cli_kind_t kinds[CLI_MAX_KINDS]; /* kinds of the first positional arguments */
    int text_from;                   /* > 0: arguments from this position on are text,
                                        never options (edit's TEXT...) */
    bool lead_opts;                  /* with text_from: options may still stand right after the
                                        first text_from arguments, up to the first text word (send
                                        ROOM [--reply SEQ] TEXT...: the text may hold "--" words);
                                        an option there without its value starts the text */
    cli_opt_t opts[CLI_MAX_OPTS];
    unsigned needs; /* 0, CLI_SESSION, CLI_CONNECT or CLI_ROOM */
    /* Local checks before any network I/O (files, stdin, option combinations);
     * may set call->data. Returns an exit code; NULL when there is nothing to check. */
    int (*prepare)(cli_t *cli, cli_call_t *call);
    /* The command itself, once its needs are met. Returns the exit code; frees
     * call->data. */
    int (*run)(cli_t *cli, cli_call_t *call);
};

/** The table, in help order, and its length. */
extern const cli_command_t cli_commands[];
extern const size_t cli_ncommands;

/** The value of option name of call's command (see cli_call_t.opt / num). */
const char *cli_opt(const cli_call_t *call, const char *name);
long long cli_num(const cli_call_t *call, const char *name);

/* ---- shared state and helpers (connect.c) ---- */

struct cli {
    const char *server; /* effective server URL */
    bool json;          /* --json: raw JSON output */
    cli_session_t sess;
    parley_client_t *client;
    json_t *names; /* user id -> username */
};

/** Prints "parley: " and the printf-style message, then the --help hint, to
 * stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Prints "parley: <code>: <message>" to stderr; returns EXIT_ERR. */
int cli_fail(const parley_error_t *err);
int cli_fail_msg(const char *code, const char *msg);
/** Prints j as one line of compact JSON. */
void cli_print_json(const json_t *j);
/** Prints message m as a line (cli_format_message) or, with --json, as JSON. */
void cli_print_message(cli_t *cli, const json_t *m);
/** Prints {"media": id, "path": path} or "saved PATH". */
void cli_print_saved(cli_t *cli, const char *id, const char *path);

/** Exit 1 with a hint when there is no stored login. */
int cli_need_session(cli_t *cli);
/** Connects cli->client (blocking, with the stored token: after
 * cli_need_session). Returns an exit code. */
int cli_connect(cli_t *cli);
/** Sends req (taken) on cli->client; returns the reply (owned) or NULL after
 * printing the error. */
json_t *cli_call(cli_t *cli, json_t *req);
/** Every room of the user as {"rooms": [...]} (owned), or NULL after printing
 * the error. */
json_t *cli_call_rooms(cli_t *cli);
/** Learns the usernames of room's members (for printing). */
void cli_learn_members(cli_t *cli, const json_t *room);
/** Resolves ROOM ("r12" or "@alice") to a room id (owned) and learns member
 * names from the room. Returns NULL after printing an error. */
char *cli_resolve_room(cli_t *cli, const char *arg);
/** Sends content (taken; NULL is reported as out of memory) to room as a new
 * message, as a reply to reply_to and in the thread of thread when > 0, and
 * prints the message. Returns the exit code. (cmd_messages.c) */
int cli_send_message(cli_t *cli, const char *room, json_t *content, long long reply_to,
                     long long thread);
/** A fresh random client_id for a send ("cli-" + 24 hex digits). */
void cli_new_client_id(char cid[40]);
/** Parses a decimal integer >= 0; returns 0 or -1. */
int cli_parse_int(const char *s, long long *out);
/** Joins argv[0..argc) with single spaces; malloc'ed, NULL on failure. */
char *cli_join_args(int argc, char **argv);

/* ---- command handlers (cmd_*.c, tail.c), named in the table ---- */

int cli_cmd_register(cli_t *cli, cli_call_t *call);
int cli_cmd_login(cli_t *cli, cli_call_t *call);
int cli_cmd_logout(cli_t *cli, cli_call_t *call);
int cli_cmd_whoami(cli_t *cli, cli_call_t *call);
int cli_cmd_profile(cli_t *cli, cli_call_t *call);
int cli_cmd_profile_set_prepare(cli_t *cli, cli_call_t *call);
int cli_cmd_profile_set(cli_t *cli, cli_call_t *call);
int cli_cmd_rooms(cli_t *cli, cli_call_t *call);
int cli_cmd_dm(cli_t *cli, cli_call_t *call);
int cli_cmd_group(cli_t *cli, cli_call_t *call);
int cli_cmd_invite(cli_t *cli, cli_call_t *call);
int cli_cmd_invites(cli_t *cli, cli_call_t *call);
int cli_cmd_room_prepare(cli_t *cli, cli_call_t *call);
int cli_cmd_join(cli_t *cli, cli_call_t *call);
int cli_cmd_leave(cli_t *cli, cli_call_t *call);
int cli_cmd_decline(cli_t *cli, cli_call_t *call);
int cli_cmd_send_prepare(cli_t *cli, cli_call_t *call);
int cli_cmd_send(cli_t *cli, cli_call_t *call);
int cli_cmd_history(cli_t *cli, cli_call_t *call);
int cli_cmd_read(cli_t *cli, cli_call_t *call);
int cli_cmd_react(cli_t *cli, cli_call_t *call);
int cli_cmd_edit(cli_t *cli, cli_call_t *call);
int cli_cmd_delete(cli_t *cli, cli_call_t *call);
int cli_cmd_search(cli_t *cli, cli_call_t *call);
int cli_cmd_upload_prepare(cli_t *cli, cli_call_t *call);
int cli_cmd_upload(cli_t *cli, cli_call_t *call);
int cli_cmd_download_prepare(cli_t *cli, cli_call_t *call);
int cli_cmd_download(cli_t *cli, cli_call_t *call);
int cli_cmd_tail(cli_t *cli, cli_call_t *call);

/* cmd_hooks.c: incoming webhooks (issue 16) */
int cli_cmd_webhook_create(cli_t *cli, cli_call_t *call);
int cli_cmd_webhooks(cli_t *cli, cli_call_t *call);
int cli_cmd_webhook_revoke(cli_t *cli, cli_call_t *call);

#endif
