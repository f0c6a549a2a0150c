/* SPDX-License-Identifier: MIT */
/* main.c -- the parley command-line client: global options, and the one path
 * every command takes through its table row (parse, prepare, session,
 * connect, resolve ROOM, run). */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "version.h"

/* Help: "  NAME SYNOPSIS" padded to this column, then the help lines. */
#define HELP_COL 32

static const char usage_head[] =
    "usage: parley [--server URL] [--json] [--ca-file PEM] [--insecure] "
    "COMMAND [ARGS]\n"
    "\n"
    "commands:\n";

static const char usage_tail[] =
    "\n"
    "ROOM is a room id or @username for the direct room with that user.\n"
    "Messages print as '[SEQ] HH:MM USER: TEXT' with '(edited)', '[deleted]',\n"
    "reactions ('👍 2'), reply quotes ('(↪ USER: quote)'), '[thread SEQ]' on thread\n"
    "replies and '🧵 N replies' on thread roots. Media messages show as\n"
    "'[photo f5 640x480] caption', '[file f6 notes.txt 23 B]', '[voice f7 0:07]'.\n"
    "\n"
    "options:\n"
    "  --server URL   server (default: the stored one, else " CLI_DEFAULT_SERVER ")\n"
    "  --json         print raw JSON\n"
    "  --ca-file PEM  https:// and wss:// servers: trust the CA certificate(s) in PEM\n"
    "                 (default: $PARLEY_CA_FILE, else the system's CAs)\n"
    "  --insecure     https:// and wss:// servers: do not verify the certificate\n"
    "                 (a test server with a self-signed one)\n"
    "  --help, --version\n";

/* Prints the help: one entry per table row, its help lines aligned at
 * HELP_COL (an entry too long for that starts its help on the next line). */
static void print_usage(void)
{
    fputs(usage_head, stdout);
    for (size_t i = 0; i < cli_ncommands; i++) {
        const cli_command_t *c = &cli_commands[i];
        char head[128];
        snprintf(head, sizeof(head), "%s%s%s", c->name, *c->synopsis ? " " : "", c->synopsis);
        int col = printf("  %s", head);
        const char *line = c->help;
        if (*line == '\0') {
            putchar('\n');
            continue;
        }
        if (col > HELP_COL + 1) {
            putchar('\n');
            col = 0;
        }
        while (*line) {
            const char *nl = strchr(line, '\n');
            int len = nl ? (int)(nl - line) : (int)strlen(line);
            printf("%*s%.*s\n", HELP_COL + 2 - col, "", len, line);
            col = 0;
            line += len + (nl ? 1 : 0);
        }
    }
    fputs(usage_tail, stdout);
}

/* ---- arguments, by the table ---- */

static int opt_index(const cli_command_t *cmd, const char *arg)
{
    for (int k = 0; k < CLI_MAX_OPTS && cmd->opts[k].name; k++)
        if (strcmp(arg, cmd->opts[k].name) == 0 ||
            (cmd->opts[k].alias && strcmp(arg, cmd->opts[k].alias) == 0))
            return k;
    return -1;
}

/* Checks value s against kind; the number goes to *num (-1 for text). */
static int parse_kind(cli_kind_t kind, const char *s, long long *num)
{
    *num = -1;
    if (kind != CLI_COUNT && kind != CLI_SEQ)
        return 0;
    if (cli_parse_int(s, num) < 0 || (kind == CLI_SEQ && *num < 1)) {
        *num = -1;
        return -1;
    }
    return 0;
}

/* With lead_opts, is argv[i] (option index k, or -1) still an option: a
 * flag, or an option followed by its value? */
static bool lead_option(const cli_command_t *cmd, int k, int i, int argc)
{
    return k >= 0 && (cmd->opts[k].kind == CLI_FLAG || i + 1 < argc);
}

/* Parses argv (the command's arguments, global options removed) by the
 * command's row into call: options and their values, positional arguments
 * and their kinds. Returns EXIT_OK or a usage error. */
static int parse_args(const cli_command_t *cmd, int argc, char **argv, cli_call_t *call)
{
    for (int k = 0; k < CLI_MAX_OPTS; k++)
        call->num[k] = -1;
    for (int k = 0; k < CLI_MAX_KINDS; k++)
        call->arg_num[k] = -1;
    bool leading = true; /* lead_opts: no text argument seen yet */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int k = opt_index(cmd, a);
        bool text = cmd->text_from > 0 && call->argc >= cmd->text_from;
        if (text && cmd->lead_opts && leading) {
            /* send: options stand right after ROOM; the first word that is
             * not one (or an option without its value) starts the text. */
            leading = lead_option(cmd, k, i, argc);
            text = !leading;
        }
        if (text || (k < 0 && strncmp(a, "--", 2) != 0)) {
            call->argv[call->argc++] = argv[i];
            continue;
        }
        if (k < 0)
            return cli_usage_error("%s: unknown option %s", cmd->name, a);
        if (cmd->opts[k].kind == CLI_FLAG) {
            call->opt[k] = "";
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error("%s: %s needs a value", cmd->name, a);
        call->opt[k] = argv[++i];
        if (parse_kind(cmd->opts[k].kind, call->opt[k], &call->num[k]) < 0)
            return cli_usage_error("%s: bad %s %s", cmd->name, a, call->opt[k]);
    }
    if (cmd->max_args >= 0 && call->argc > cmd->max_args)
        return cli_usage_error("%s: unexpected argument %s", cmd->name, call->argv[cmd->max_args]);
    if (call->argc < cmd->min_args)
        return cli_usage_error("%s: expected %s", cmd->name, cmd->synopsis);
    for (int k = 0; k < CLI_MAX_KINDS && k < call->argc; k++)
        if (parse_kind(cmd->kinds[k], call->argv[k], &call->arg_num[k]) < 0)
            return cli_usage_error("%s: expected %s", cmd->name, cmd->synopsis);
    return EXIT_OK;
}

const char *cli_opt(const cli_call_t *call, const char *name)
{
    int k = opt_index(call->cmd, name);
    return k >= 0 ? call->opt[k] : NULL;
}

long long cli_num(const cli_call_t *call, const char *name)
{
    int k = opt_index(call->cmd, name);
    return k >= 0 ? call->num[k] : -1;
}

/* The row for the command in argv[0] (and argv[1] for two-word commands):
 * the longest match. *words is set to the number of words it took. */
static const cli_command_t *find_command(int argc, char **argv, int *words)
{
    const cli_command_t *found = NULL;
    for (size_t i = 0; i < cli_ncommands; i++) {
        const char *name = cli_commands[i].name;
        const char *sp = strchr(name, ' ');
        size_t len = sp ? (size_t)(sp - name) : strlen(name);
        if (strncmp(argv[0], name, len) != 0 || argv[0][len] != '\0')
            continue;
        if (sp == NULL && found == NULL) {
            found = &cli_commands[i];
            *words = 1;
        } else if (sp && argc > 1 && strcmp(argv[1], sp + 1) == 0) {
            *words = 2;
            return &cli_commands[i];
        }
    }
    return found;
}

/* Runs cmd's row: prepare, session, connection, ROOM, then the handler. */
static int run_command(cli_t *cli, const cli_command_t *cmd, int argc, char **argv)
{
    cli_call_t call = {.cmd = cmd, .argv = calloc((size_t)argc + 1, sizeof(char *))};
    if (call.argv == NULL)
        return cli_fail_msg("no_memory", "out of memory");
    int rc = parse_args(cmd, argc, argv, &call);
    if (rc == EXIT_OK && cmd->prepare)
        rc = cmd->prepare(cli, &call);
    /* From here on call.data may be set: run frees it, so every failure
     * before run goes through the same path. */
    if (rc == EXIT_OK && (cmd->needs & CLI_SESSION))
        rc = cli_need_session(cli);
    if (rc == EXIT_OK && (cmd->needs & CLI_CONNECT) == CLI_CONNECT)
        rc = cli_connect(cli);
    if (rc == EXIT_OK && (cmd->needs & CLI_ROOM) == CLI_ROOM &&
        (call.room = cli_resolve_room(cli, call.argv[0])) == NULL)
        rc = EXIT_ERR;
    if (rc == EXIT_OK)
        rc = cmd->run(cli, &call);
    else
        free(call.data);
    free(call.room);
    free(call.argv);
    return rc;
}

int main(int argc, char **argv)
{
    cli_t cli = {0};
    const char *server = NULL;
    const char *ca_file = NULL;
    bool insecure = false;
    bool help = false;
    /* Global options stand before the command and anywhere after it. */
    int cargc = 0;
    char **cargv = calloc((size_t)argc + 1, sizeof(char *));
    if (cargv == NULL)
        return EXIT_ERR;
    for (int i = 1; i < argc; i++) {
        if (cargc > 0 && strcmp(argv[i], "--help") == 0) {
            help = true; /* once the command is known to exist */
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage();
            free(cargv);
            return EXIT_OK;
        } else if (cargc == 0 && strcmp(argv[i], "--version") == 0) {
            printf("parley %s\n", PL_VERSION);
            free(cargv);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            cli.json = true;
        } else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            server = argv[++i];
        } else if (strncmp(argv[i], "--server=", 9) == 0) {
            server = argv[i] + 9;
        } else if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc) {
            ca_file = argv[++i];
        } else if (strcmp(argv[i], "--insecure") == 0) {
            insecure = true;
        } else if (cargc == 0 && argv[i][0] == '-') {
            free(cargv);
            return cli_usage_error("unknown option %s", argv[i]);
        } else {
            cargv[cargc++] = argv[i];
        }
    }
    if (cargc == 0) {
        free(cargv);
        return cli_usage_error("missing COMMAND");
    }
    int words = 0;
    const cli_command_t *cmd = find_command(cargc, cargv, &words);
    if (cmd == NULL) {
        int rc = cli_usage_error("unknown command %s", cargv[0]);
        free(cargv);
        return rc;
    }
    if (help) {
        print_usage();
        free(cargv);
        return EXIT_OK;
    }
    if (sodium_init() < 0) {
        free(cargv);
        return cli_fail_msg("internal", "libsodium init failed");
    }
    signal(SIGPIPE, SIG_IGN);
    /* PARLEY_CA_FILE: the default of --ca-file (scripts, tests). */
    if (!ca_file && getenv("PARLEY_CA_FILE") && *getenv("PARLEY_CA_FILE"))
        ca_file = getenv("PARLEY_CA_FILE");
    if (ca_file || insecure)
        parley_tls_config(ca_file, insecure);
    cli_session_load(&cli.sess);
    cli.server = server ? server : cli.sess.server ? cli.sess.server : CLI_DEFAULT_SERVER;
    cli.names = json_object();
    int rc = run_command(&cli, cmd, cargc - words, cargv + words);
    parley_client_free(cli.client);
    json_decref(cli.names);
    cli_session_dispose(&cli.sess);
    free(cargv);
    return rc;
}
