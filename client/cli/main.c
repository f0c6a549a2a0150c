/* SPDX-License-Identifier: MIT */
/* main.c -- the parley command-line client, built on libparley. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <parley.h>
#include <sodium.h>

#include "version.h"

#define DEFAULT_SERVER "http://127.0.0.1:8080"
#define CALL_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 15000

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *server; /* effective server URL */
    bool json;          /* --json: raw JSON output */
    cli_session_t sess;
    parley_client_t *client;
    json_t *names; /* user id -> username */
    const char *tail_room;
} cli_t;

static const char usage_text[] =
    "usage: parley [--server URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  register USER [--display NAME]  create an account and log in\n"
    "  login USER                      log in (password from $PARLEY_PASSWORD,\n"
    "                                  the terminal, or stdin)\n"
    "  logout                          revoke the stored token\n"
    "  whoami                          show the logged-in user\n"
    "  rooms                           list rooms: id, kind, name, unread\n"
    "  dm USER                         open the direct room with USER, print its id\n"
    "  group NAME USER...              create a group room, print its id; people\n"
    "                                  whose privacy setting asks for it are invited\n"
    "  invite ROOM USER...             add USERs to a group (or invite them: they\n"
    "                                  accept with 'parley join')\n"
    "  invites                         your pending invitations: room, name, inviter\n"
    "  join ROOM                       accept an invitation to a group\n"
    "  decline ROOM                    decline an invitation\n"
    "  leave ROOM                      leave a group (coming back needs an invitation)\n"
    "  send ROOM [--reply SEQ] [--thread SEQ] [TEXT...]\n"
    "                                  send TEXT (or stdin when no TEXT), optionally\n"
    "                                  as a reply to SEQ or in the thread of SEQ\n"
    "  history ROOM [--limit N] [--before SEQ] [--after SEQ]\n"
    "  tail ROOM                       print live messages and changes (edited,\n"
    "                                  deleted, reactions) until Ctrl-C; a later tail\n"
    "                                  first prints what happened in between\n"
    "  read ROOM SEQ                   set the read marker\n"
    "  react ROOM SEQ EMOJI [--remove] add (or remove) a reaction\n"
    "  edit ROOM SEQ TEXT...           replace the text of your message\n"
    "  delete ROOM SEQ                 delete your message\n"
    "  upload ROOM FILE [--caption TEXT]\n"
    "                                  upload FILE and send it: as a photo when the\n"
    "                                  server recognises an image, else as a file\n"
    "  download MEDIA_ID [-o FILE]     save a media file (default: its name, or the\n"
    "                                  id, in the current directory; never\n"
    "                                  overwrites unless -o is given)\n"
    "  search QUERY... [--room ROOM] [--limit N]\n"
    "                                  full-text search, newest first\n"
    "  profile [USER]                  show a profile (default: yours)\n"
    "  profile set [--display NAME] [--bio TEXT] [--status TEXT]\n"
    "                                  change your profile\n"
    "\n"
    "ROOM is a room id or @username for the direct room with that user.\n"
    "Messages print as '[SEQ] HH:MM USER: TEXT' with '(edited)', '[deleted]',\n"
    "reactions ('👍 2'), reply quotes ('(↪ USER: quote)'), '[thread SEQ]' on thread\n"
    "replies and '🧵 N replies' on thread roots. Media messages show as\n"
    "'[photo f5 640x480] caption', '[file f6 notes.txt 23 B]', '[voice f7 0:07]'.\n"
    "\n"
    "options:\n"
    "  --server URL   server (default: the stored one, else " DEFAULT_SERVER ")\n"
    "  --json         print raw JSON\n"
    "  --help, --version\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "parley: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fprintf(stderr, "\nTry 'parley --help'.\n");
    return EXIT_USAGE;
}

static int fail(const parley_error_t *err)
{
    fprintf(stderr, "parley: %s: %s\n", err->code[0] ? err->code : "error", err->message);
    return EXIT_ERR;
}

static int fail_msg(const char *code, const char *msg)
{
    fprintf(stderr, "parley: %s: %s\n", code, msg);
    return EXIT_ERR;
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
}

/* ---- name resolution ---- */

static void learn_members(cli_t *cli, const json_t *room)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(room, "members"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *un = json_string_value(json_object_get(m, "username"));
        if (id && un)
            json_object_set_new(cli->names, id, json_string(un));
    }
}

static void print_message(cli_t *cli, const json_t *m)
{
    if (cli->json) {
        print_json(m);
        fflush(stdout);
        return;
    }
    char *line = cli_format_message(m, cli->names);
    if (line)
        printf("%s\n", line);
    free(line);
    fflush(stdout);
}

/* ---- connection helpers ---- */

static int need_session(cli_t *cli)
{
    if (cli->sess.token == NULL)
        return fail_msg("unauthenticated", "not logged in (run 'parley login USER')");
    return EXIT_OK;
}

static int connect_ws(cli_t *cli)
{
    int rc = need_session(cli);
    if (rc != EXIT_OK)
        return rc;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_sync_connect(cli->server, cli->sess.token, false, CONNECT_TIMEOUT_MS, &cli->client,
                            &err) < 0)
        return fail(&err);
    const json_t *user = parley_client_user(cli->client);
    const char *id = json_string_value(json_object_get(user, "id"));
    const char *un = json_string_value(json_object_get(user, "username"));
    if (id && un)
        json_object_set_new(cli->names, id, json_string(un));
    return EXIT_OK;
}

/* Sends a request, returns the reply (owned) or NULL after printing the error. */
static json_t *call(cli_t *cli, json_t *req)
{
    json_t *reply = NULL;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_call(cli->client, req, &reply, CALL_TIMEOUT_MS, &err) < 0) {
        fail(&err);
        return NULL;
    }
    return reply;
}

/* Every room of the user: `rooms` pages by bytes (more/next), so ask until
 * the server has no more. A server that says more without a next, or
 * repeats the cursor just sent, is done too (asking again would loop).
 * Returns {"rooms": [...]} (owned) or NULL after printing the error. */
static json_t *call_rooms(cli_t *cli)
{
    json_t *all = json_pack("{s:[]}", "rooms");
    char *after = NULL;
    for (;;) {
        json_t *req = json_pack("{s:s}", "op", "rooms");
        if (after)
            json_object_set_new(req, "after", json_string(after));
        json_t *reply = call(cli, req);
        if (reply == NULL) {
            json_decref(all);
            free(after);
            return NULL;
        }
        json_array_extend(json_object_get(all, "rooms"), json_object_get(reply, "rooms"));
        const char *next = json_string_value(json_object_get(reply, "next"));
        bool more = json_is_true(json_object_get(reply, "more")) && next != NULL &&
                    (after == NULL || strcmp(next, after) != 0);
        free(after);
        after = more ? strdup(next) : NULL;
        json_decref(reply);
        if (after == NULL)
            break;
    }
    return all;
}

static json_t *room_by_id(json_t *rooms_reply, const char *id)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rooms_reply, "rooms"), i, r)
    {
        const char *rid = json_string_value(json_object_get(r, "id"));
        if (rid && strcmp(rid, id) == 0)
            return r;
    }
    return NULL;
}

/* Resolves ROOM ("r12" or "@alice") to a room id (owned) and learns member
 * names from the room. Returns NULL after printing an error. */
static char *resolve_room(cli_t *cli, const char *arg)
{
    if (arg[0] == '@') {
        json_t *reply = call(cli, json_pack("{s:s, s:s, s:[s]}", "op", "create_room", "kind", "dm",
                                            "members", arg + 1));
        if (reply == NULL)
            return NULL;
        json_t *room = json_object_get(reply, "room");
        learn_members(cli, room);
        const char *id = json_string_value(json_object_get(room, "id"));
        char *out = id ? strdup(id) : NULL;
        json_decref(reply);
        if (out == NULL)
            fail_msg("protocol", "create_room reply lacks room.id");
        return out;
    }
    json_t *reply = call_rooms(cli);
    if (reply == NULL)
        return NULL;
    json_t *r = room_by_id(reply, arg);
    if (r)
        learn_members(cli, r);
    json_decref(reply);
    return strdup(arg);
}

/* ---- commands ---- */

static int save_login(cli_t *cli, const char *user, char *token, char *uid)
{
    cli_session_t s = {strdup(cli->server), strdup(user), uid, token};
    int rc = cli_session_save(&s);
    cli_session_dispose(&s);
    return rc < 0 ? EXIT_ERR : EXIT_OK;
}

static int cmd_register(cli_t *cli, int argc, char **argv)
{
    const char *user = NULL, *display = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--display") == 0 && i + 1 < argc)
            display = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return usage_error("register: unknown option %s", argv[i]);
        else if (user == NULL)
            user = argv[i];
        else
            return usage_error("register: unexpected argument %s", argv[i]);
    }
    if (user == NULL)
        return usage_error("register: USER is required%s", NULL);
    char *pw = cli_read_password("Password: ");
    if (pw == NULL)
        return fail_msg("invalid_argument", "no password given");
    char *token = NULL, *uid = NULL;
    parley_error_t err = {{0}, {0}, 0};
    int rc = parley_register(cli->server, user, pw, display, &token, &uid, &err);
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (rc < 0)
        return fail(&err);
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "user_id", uid, "username", user);
        print_json(o);
        json_decref(o);
    } else {
        printf("registered %s (%s)\n", user, uid);
    }
    return save_login(cli, user, token, uid);
}

static int cmd_login(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("login: expected USER%s", NULL);
    char *pw = cli_read_password("Password: ");
    if (pw == NULL)
        return fail_msg("invalid_argument", "no password given");
    char *token = NULL, *uid = NULL;
    parley_error_t err = {{0}, {0}, 0};
    char host[256] = "parley-cli";
    gethostname(host, sizeof(host) - 1);
    int rc = parley_login(cli->server, argv[0], pw, host, &token, &uid, &err);
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (rc < 0)
        return fail(&err);
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "user_id", uid, "username", argv[0]);
        print_json(o);
        json_decref(o);
    } else {
        printf("logged in as %s (%s)\n", argv[0], uid);
    }
    return save_login(cli, argv[0], token, uid);
}

static int cmd_logout(cli_t *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage_error("logout: no arguments expected%s", NULL);
    int rc = need_session(cli);
    if (rc != EXIT_OK)
        return rc;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_logout(cli->server, cli->sess.token, &err) < 0 &&
        strcmp(err.code, "unauthenticated") != 0)
        return fail(&err);
    cli_session_remove();
    if (!cli->json)
        printf("logged out\n");
    return EXIT_OK;
}

static int cmd_whoami(cli_t *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage_error("whoami: no arguments expected%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    const json_t *u = parley_client_user(cli->client);
    if (cli->json) {
        print_json(u);
    } else {
        const char *dn = json_string_value(json_object_get(u, "display_name"));
        printf("%s (%s)%s%s\n", json_string_value(json_object_get(u, "username")),
               json_string_value(json_object_get(u, "id")), dn && *dn ? " " : "", dn ? dn : "");
    }
    return EXIT_OK;
}

static int cmd_rooms(cli_t *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage_error("rooms: no arguments expected%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    json_t *reply = call_rooms(cli);
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        print_json(json_object_get(reply, "rooms"));
        json_decref(reply);
        return EXIT_OK;
    }
    const char *me = json_string_value(json_object_get(parley_client_user(cli->client), "id"));
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "rooms"), i, r)
    {
        const char *name = json_string_value(json_object_get(r, "name"));
        char buf[512] = "";
        if (name == NULL || *name == '\0') {
            /* A dm has no name: show the other members. */
            size_t j;
            json_t *m;
            json_array_foreach(json_object_get(r, "members"), j, m)
            {
                const char *id = json_string_value(json_object_get(m, "id"));
                const char *un = json_string_value(json_object_get(m, "username"));
                if (un == NULL || (me && id && strcmp(id, me) == 0))
                    continue;
                size_t l = strlen(buf);
                snprintf(buf + l, sizeof(buf) - l, "%s@%s", l ? "," : "", un);
            }
            name = buf[0] ? buf : "-";
        }
        printf("%s\t%s\t%s\t%lld\n", json_string_value(json_object_get(r, "id")),
               json_string_value(json_object_get(r, "kind")), name,
               (long long)json_integer_value(json_object_get(r, "unread")));
    }
    json_decref(reply);
    return EXIT_OK;
}

static int print_room_id(cli_t *cli, json_t *reply)
{
    json_t *room = json_object_get(reply, "room");
    if (cli->json)
        print_json(room);
    else
        printf("%s\n", json_string_value(json_object_get(room, "id")));
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_dm(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("dm: expected USER%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    const char *user = argv[0][0] == '@' ? argv[0] + 1 : argv[0];
    json_t *reply = call(
        cli, json_pack("{s:s, s:s, s:[s]}", "op", "create_room", "kind", "dm", "members", user));
    return reply ? print_room_id(cli, reply) : EXIT_ERR;
}

/* USER arguments without their optional '@' (the array is malloc'ed, the
 * strings borrowed from argv). */
static const char **user_args(int argc, char **argv)
{
    const char **v = calloc((size_t)argc + 1, sizeof *v);
    for (int i = 0; v && i < argc; i++)
        v[i] = argv[i][0] == '@' ? argv[i] + 1 : argv[i];
    return v;
}

/* Prints, one per line on out, "<label>: @user[ (reason)]" for each User of
 * reply[key] ({"user", "reason"} entries for "skipped"). */
static void print_people(FILE *out, const json_t *reply, const char *key, const char *label)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(reply, key), i, e)
    {
        const json_t *u = json_object_get(e, "user") ? json_object_get(e, "user") : e;
        const char *reason = json_string_value(json_object_get(e, "reason"));
        fprintf(out, "%s: @%s%s%s%s\n", label, json_string_value(json_object_get(u, "username")),
                reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
    }
}

static int cmd_group(cli_t *cli, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("group: expected NAME USER...%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    const char **users = user_args(argc - 1, argv + 1);
    json_t *req = users ? parley_req_create_group(argv[0], users, (size_t)argc - 1) : NULL;
    free(users);
    if (req == NULL)
        return fail_msg("no_memory", "out of memory");
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    /* The room id goes to stdout (scripts read it); who was only invited,
     * or could not be added, to stderr. */
    if (!cli->json) {
        print_people(stderr, reply, "invited", "invited (they accept with 'parley join')");
        print_people(stderr, reply, "skipped", "not added");
    }
    return print_room_id(cli, reply);
}

static int cmd_invite(cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return usage_error("invite: expected ROOM USER...%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    const char **users = user_args(argc - 1, argv + 1);
    json_t *req = users ? parley_req_invite(argv[0], users, (size_t)argc - 1) : NULL;
    free(users);
    if (req == NULL)
        return fail_msg("no_memory", "out of memory");
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        print_json(reply);
    } else {
        print_people(stdout, reply, "added", "added");
        print_people(stdout, reply, "invited", "invited");
        print_people(stdout, reply, "skipped", "not added");
    }
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_invites(cli_t *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return usage_error("invites: no arguments expected%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    json_t *reply = call(cli, parley_req_invites());
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        print_json(json_object_get(reply, "invites"));
        json_decref(reply);
        return EXIT_OK;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(reply, "invites"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        printf("%s\t%s\t@%s\t%lld members\n", json_string_value(json_object_get(v, "room")),
               name && *name ? name : "-",
               json_string_value(json_object_get(json_object_get(v, "inviter"), "username")),
               (long long)json_integer_value(json_object_get(v, "member_count")));
    }
    json_decref(reply);
    return EXIT_OK;
}

/* join, leave, decline: one ROOM argument. */
static int room_cmd(cli_t *cli, int argc, char **argv, const char *what,
                    json_t *(*build)(const char *room))
{
    if (argc != 1) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: expected ROOM%%s", what);
        return usage_error(msg, NULL);
    }
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    json_t *req = build(argv[0]);
    if (req == NULL)
        return usage_error("%s: expected a room id", what);
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    if (json_object_get(reply, "room") != NULL)
        return print_room_id(cli, reply);
    if (cli->json)
        print_json(reply);
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_join(cli_t *cli, int argc, char **argv)
{
    return room_cmd(cli, argc, argv, "join", parley_req_join);
}

static int cmd_leave(cli_t *cli, int argc, char **argv)
{
    return room_cmd(cli, argc, argv, "leave", parley_req_leave);
}

static int cmd_decline(cli_t *cli, int argc, char **argv)
{
    return room_cmd(cli, argc, argv, "decline", parley_req_decline);
}

static int parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Joins argv[0..argc) with single spaces; malloc'ed, NULL on failure. */
static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *text = calloc(1, len);
    for (int i = 0; text && i < argc; i++) {
        if (i > 0)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    return text;
}

static char *read_all_stdin(void)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *n = realloc(buf, cap * 2);
            if (n == NULL) {
                free(buf);
                return NULL;
            }
            buf = n;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, stdin);
        len += r;
        if (r == 0)
            break;
    }
    if (buf == NULL)
        return NULL;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    return buf;
}

static int cmd_send(cli_t *cli, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("send: expected ROOM [TEXT...]%s", NULL);
    /* Options come right after ROOM, so text may contain "--" words. */
    long long reply_to = -1, thread = -1;
    int first = 1;
    while (first + 1 < argc &&
           (strcmp(argv[first], "--reply") == 0 || strcmp(argv[first], "--thread") == 0)) {
        long long *dst = strcmp(argv[first], "--reply") == 0 ? &reply_to : &thread;
        if (parse_int(argv[first + 1], dst) < 0 || *dst < 1)
            return usage_error("send: bad seq %s", argv[first + 1]);
        first += 2;
    }
    char *text = argc > first ? join_args(argc - first, argv + first) : read_all_stdin();
    if (text == NULL)
        return fail_msg("no_memory", "cannot read the message");
    if (*text == '\0') {
        free(text);
        return usage_error("send: empty message%s", NULL);
    }
    int rc = connect_ws(cli);
    char *room = rc == EXIT_OK ? resolve_room(cli, argv[0]) : NULL;
    if (room == NULL) {
        free(text);
        return rc != EXIT_OK ? rc : EXIT_ERR;
    }
    unsigned char rnd[12];
    char cid[40] = "cli-";
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(cid + 4, sizeof(cid) - 4, rnd, sizeof(rnd));
    json_t *req = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "op", "send", "room", room,
                            "client_id", cid, "content", "type", "text", "body", text);
    if (req && reply_to > 0)
        json_object_set_new(req, "reply_to", json_integer(reply_to));
    if (req && thread > 0)
        json_object_set_new(req, "thread", json_integer(thread));
    json_t *reply = call(cli, req);
    free(text);
    free(room);
    if (reply == NULL)
        return EXIT_ERR;
    print_message(cli, json_object_get(reply, "message"));
    json_decref(reply);
    return EXIT_OK;
}

static void new_client_id(char cid[40])
{
    unsigned char rnd[12];
    memcpy(cid, "cli-", 5);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(cid + 4, 40 - 4, rnd, sizeof(rnd));
}

static int cmd_upload(cli_t *cli, int argc, char **argv)
{
    const char *room_arg = NULL, *file = NULL, *caption = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--caption") == 0 && i + 1 < argc)
            caption = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return usage_error("upload: unknown option %s", argv[i]);
        else if (room_arg == NULL)
            room_arg = argv[i];
        else if (file == NULL)
            file = argv[i];
        else
            return usage_error("upload: unexpected argument %s", argv[i]);
    }
    if (file == NULL)
        return usage_error("upload: expected ROOM FILE%s", NULL);
    if (access(file, R_OK) < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s", file, strerror(errno));
        return fail_msg("invalid_argument", msg);
    }
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    char *room = resolve_room(cli, room_arg);
    if (room == NULL)
        return EXIT_ERR;
    json_t *media = NULL;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_upload(cli->server, cli->sess.token, file, NULL, &media, &err) < 0) {
        free(room);
        return fail(&err);
    }
    const char *id = json_string_value(json_object_get(media, "id"));
    const char *mime = json_string_value(json_object_get(media, "mime"));
    const char *name = json_string_value(json_object_get(media, "name"));
    json_int_t w = json_integer_value(json_object_get(media, "w"));
    json_int_t h = json_integer_value(json_object_get(media, "h"));
    json_t *content;
    if (mime && strncmp(mime, "image/", 6) == 0 && w > 0 && h > 0) {
        content = json_pack("{s:s, s:s, s:I, s:I}", "type", "image", "media", id, "w", w, "h", h);
        if (content && caption && *caption)
            json_object_set_new(content, "caption", json_string(caption));
    } else {
        if (name == NULL || *name == '\0') {
            const char *slash = strrchr(file, '/');
            name = slash ? slash + 1 : file;
        }
        content = json_pack("{s:s, s:s, s:s, s:I, s:s}", "type", "file", "media", id, "name", name,
                            "size", json_integer_value(json_object_get(media, "size")), "mime",
                            mime && *mime ? mime : "application/octet-stream");
        if (caption && *caption)
            fprintf(stderr, "parley: note: --caption applies to photos only; ignored\n");
    }
    char cid[40];
    new_client_id(cid);
    json_t *req = content ? json_pack("{s:s, s:s, s:s, s:o}", "op", "send", "room", room,
                                      "client_id", cid, "content", content)
                          : NULL;
    json_decref(media);
    free(room);
    if (req == NULL)
        return fail_msg("protocol", "unexpected upload answer");
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    print_message(cli, json_object_get(reply, "message"));
    json_decref(reply);
    return EXIT_OK;
}

/* A safe file name for the current directory: the last path segment of name,
 * not empty, not "." or "..", not hidden. NULL when name is unusable. */
static const char *safe_local_name(const char *name)
{
    if (name == NULL)
        return NULL;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (*base == '\0' || *base == '.')
        return NULL;
    return base;
}

static int cmd_download(cli_t *cli, int argc, char **argv)
{
    const char *id = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] == '-')
            return usage_error("download: unknown option %s", argv[i]);
        else if (id == NULL)
            id = argv[i];
        else
            return usage_error("download: unexpected argument %s", argv[i]);
    }
    if (id == NULL || *id == '\0')
        return usage_error("download: expected MEDIA_ID%s", NULL);
    if (out != NULL && *out == '\0')
        return usage_error("download: empty -o%s", NULL);
    int rc = need_session(cli);
    if (rc != EXIT_OK)
        return rc;
    parley_error_t err = {{0}, {0}, 0};
    if (out != NULL) {
        if (parley_download(cli->server, cli->sess.token, id, out, &err) < 0)
            return fail(&err);
    } else {
        /* Download under a temporary name, then link it to the final name,
         * which fails (EEXIST) instead of replacing an existing file. */
        if (safe_local_name(id) == NULL || strchr(id, '/'))
            return usage_error("download: bad MEDIA_ID %s", id);
        char tmp[300];
        snprintf(tmp, sizeof(tmp), ".parley-download-%s", id);
        char *server_name = NULL;
        if (parley_download_ex(cli->server, cli->sess.token, id, tmp, &server_name, &err) < 0)
            return fail(&err);
        const char *name = safe_local_name(server_name);
        out = name ? name : id;
        int lrc = link(tmp, out);
        int e = errno;
        unlink(tmp);
        if (lrc < 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%s: %s%s", out, strerror(e),
                     e == EEXIST ? " (use -o FILE to choose the name or overwrite)" : "");
            free(server_name);
            return fail_msg(e == EEXIST ? "file_exists" : "io_error", msg);
        }
        if (cli->json) {
            json_t *o = json_pack("{s:s, s:s}", "media", id, "path", out);
            print_json(o);
            json_decref(o);
        } else {
            printf("saved %s\n", out);
        }
        free(server_name);
        return EXIT_OK;
    }
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "media", id, "path", out);
        print_json(o);
        json_decref(o);
    } else {
        printf("saved %s\n", out);
    }
    return EXIT_OK;
}

/* The `limit` messages asked for (the server's default 50 when limit < 0),
 * oldest first: a page may hold fewer when messages are large (it is cut at
 * the server's byte budget and says more), so ask on, backwards from the
 * oldest received or, with after, forwards from the newest. Returns the
 * array (owned) or NULL after printing the error. */
static json_t *history_pages(cli_t *cli, const char *room, long long limit, long long before,
                             long long after)
{
    long long want = limit >= 0 ? limit : 50;
    json_t *all = json_array();
    for (;;) {
        json_t *req = json_pack("{s:s, s:s}", "op", "history", "room", room);
        json_object_set_new(req, "limit", json_integer(want - (long long)json_array_size(all)));
        if (before >= 0)
            json_object_set_new(req, "before", json_integer(before));
        if (after >= 0)
            json_object_set_new(req, "after", json_integer(after));
        json_t *reply = call(cli, req);
        if (reply == NULL) {
            json_decref(all);
            return NULL;
        }
        json_t *page = json_object_get(reply, "messages");
        size_t n = json_array_size(page);
        if (after >= 0) { /* forwards: append */
            json_array_extend(all, page);
            if (n)
                after = json_integer_value(json_object_get(json_array_get(page, n - 1), "seq"));
        } else { /* backwards: the page goes before what we have */
            json_array_extend(page, all);
            json_decref(all);
            all = json_incref(page);
            if (n)
                before = json_integer_value(json_object_get(json_array_get(page, 0), "seq"));
        }
        bool more = json_is_true(json_object_get(reply, "more"));
        json_decref(reply);
        if (!more || n == 0 || (long long)json_array_size(all) >= want)
            return all;
    }
}

static int cmd_history(cli_t *cli, int argc, char **argv)
{
    const char *room_arg = NULL;
    long long limit = -1, before = -1, after = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], &limit) < 0)
                return usage_error("history: bad --limit %s", argv[i]);
        } else if (strcmp(argv[i], "--before") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], &before) < 0)
                return usage_error("history: bad --before %s", argv[i]);
        } else if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], &after) < 0)
                return usage_error("history: bad --after %s", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return usage_error("history: unknown option %s", argv[i]);
        } else if (room_arg == NULL) {
            room_arg = argv[i];
        } else {
            return usage_error("history: unexpected argument %s", argv[i]);
        }
    }
    if (room_arg == NULL)
        return usage_error("history: expected ROOM%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    char *room = resolve_room(cli, room_arg);
    if (room == NULL)
        return EXIT_ERR;
    json_t *msgs = history_pages(cli, room, limit, before, after);
    free(room);
    if (msgs == NULL)
        return EXIT_ERR;
    size_t i;
    json_t *m;
    if (cli->json)
        print_json(msgs);
    else
        json_array_foreach(msgs, i, m)
        {
            print_message(cli, m);
        }
    json_decref(msgs);
    return EXIT_OK;
}

static int cmd_read(cli_t *cli, int argc, char **argv)
{
    long long seq;
    if (argc != 2 || parse_int(argv[1], &seq) < 0)
        return usage_error("read: expected ROOM SEQ%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    char *room = resolve_room(cli, argv[0]);
    if (room == NULL)
        return EXIT_ERR;
    json_t *reply =
        call(cli, json_pack("{s:s, s:s, s:I}", "op", "read", "room", room, "seq", (json_int_t)seq));
    free(room);
    if (reply == NULL)
        return EXIT_ERR;
    json_decref(reply);
    return EXIT_OK;
}

/* ---- conversation features: react, edit, delete, search, profile ---- */

/* Parses "ROOM SEQ" from argv[0..1]; returns 0 or -1. */
static int room_seq_args(int argc, char **argv, long long *seq)
{
    return argc >= 2 && parse_int(argv[1], seq) == 0 && *seq >= 1 ? 0 : -1;
}

/* Connects, resolves ROOM, adds "room" to req (taken) and calls it; prints
 * the reply's message. Returns the exit code. */
static int call_on_message(cli_t *cli, const char *room_arg, json_t *req)
{
    int rc = connect_ws(cli);
    char *room = rc == EXIT_OK ? resolve_room(cli, room_arg) : NULL;
    if (room == NULL) {
        json_decref(req);
        return rc != EXIT_OK ? rc : EXIT_ERR;
    }
    json_object_set_new(req, "room", json_string(room));
    free(room);
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    print_message(cli, json_object_get(reply, "message"));
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_react(cli_t *cli, int argc, char **argv)
{
    bool remove = false;
    char *pos[3];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--remove") == 0)
            remove = true;
        else if (n < 3)
            pos[n++] = argv[i];
        else
            return usage_error("react: unexpected argument %s", argv[i]);
    }
    long long seq;
    if (n != 3 || room_seq_args(n, pos, &seq) < 0)
        return usage_error("react: expected ROOM SEQ EMOJI [--remove]%s", NULL);
    json_t *req = json_pack("{s:s, s:I, s:s, s:b}", "op", "react", "seq", (json_int_t)seq, "emoji",
                            pos[2], "remove", remove);
    return call_on_message(cli, pos[0], req);
}

static int cmd_edit(cli_t *cli, int argc, char **argv)
{
    long long seq;
    if (argc < 3 || room_seq_args(argc, argv, &seq) < 0)
        return usage_error("edit: expected ROOM SEQ TEXT...%s", NULL);
    char *text = join_args(argc - 2, argv + 2);
    if (text == NULL)
        return fail_msg("no_memory", "cannot build the message");
    json_t *req = json_pack("{s:s, s:I, s:{s:s, s:s}}", "op", "edit", "seq", (json_int_t)seq,
                            "content", "type", "text", "body", text);
    free(text);
    return call_on_message(cli, argv[0], req);
}

static int cmd_delete(cli_t *cli, int argc, char **argv)
{
    long long seq;
    if (argc != 2 || room_seq_args(argc, argv, &seq) < 0)
        return usage_error("delete: expected ROOM SEQ%s", NULL);
    return call_on_message(cli, argv[0],
                           json_pack("{s:s, s:I}", "op", "delete", "seq", (json_int_t)seq));
}

/* Learns the member names of every room (for printing search results). */
static int learn_all_rooms(cli_t *cli)
{
    json_t *reply = call_rooms(cli);
    if (reply == NULL)
        return EXIT_ERR;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "rooms"), i, r)
    {
        learn_members(cli, r);
    }
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_search(cli_t *cli, int argc, char **argv)
{
    const char *room_arg = NULL;
    long long limit = -1;
    char **words = calloc((size_t)argc + 1, sizeof(char *));
    int nwords = 0;
    if (words == NULL)
        return fail_msg("no_memory", "out of memory");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--room") == 0 && i + 1 < argc) {
            room_arg = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], &limit) < 0) {
                free(words);
                return usage_error("search: bad --limit %s", argv[i]);
            }
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            free(words);
            return usage_error("search: unknown option %s", argv[i]);
        } else {
            words[nwords++] = argv[i];
        }
    }
    char *query = nwords ? join_args(nwords, words) : NULL;
    free(words);
    if (query == NULL)
        return usage_error("search: expected QUERY...%s", NULL);
    int rc = connect_ws(cli);
    char *room = NULL;
    if (rc == EXIT_OK && room_arg != NULL && (room = resolve_room(cli, room_arg)) == NULL)
        rc = EXIT_ERR;
    if (rc == EXIT_OK && !cli->json)
        rc = learn_all_rooms(cli);
    if (rc != EXIT_OK) {
        free(query);
        free(room);
        return rc;
    }
    /* Results are cut at the server's byte budget too (more): ask on below
     * the last id until the limit is reached. */
    long long want = limit >= 0 ? limit : 20;
    json_t *results = json_array();
    const char *before = NULL;
    json_t *reply = NULL;
    for (;;) {
        json_t *req = json_pack("{s:s, s:s}", "op", "search", "query", query);
        if (room)
            json_object_set_new(req, "room", json_string(room));
        json_object_set_new(req, "limit", json_integer(want - (long long)json_array_size(results)));
        if (before)
            json_object_set_new(req, "before", json_string(before));
        json_decref(reply);
        reply = call(cli, req);
        if (reply == NULL)
            break;
        json_t *page = json_object_get(reply, "results");
        json_array_extend(results, page);
        size_t n = json_array_size(page);
        if (!json_is_true(json_object_get(reply, "more")) || n == 0 ||
            (long long)json_array_size(results) >= want)
            break;
        before = json_string_value(json_object_get(json_array_get(page, n - 1), "id"));
    }
    free(query);
    free(room);
    if (reply == NULL) {
        json_decref(results);
        return EXIT_ERR;
    }
    if (cli->json) {
        print_json(results);
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(results, i, m)
        {
            char *line = cli_format_message(m, cli->names);
            printf("%s %s\n", json_string_value(json_object_get(m, "room")), line ? line : "");
            free(line);
        }
    }
    json_decref(results);
    json_decref(reply);
    return EXIT_OK;
}

static void print_profile(cli_t *cli, const json_t *u)
{
    if (cli->json) {
        print_json(u);
        return;
    }
    printf("%s (%s)\n", json_string_value(json_object_get(u, "username")),
           json_string_value(json_object_get(u, "id")));
    static const char *const fields[][2] = {
        {"display_name", "display name"}, {"bio", "bio"}, {"status_text", "status"}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = json_string_value(json_object_get(u, fields[i][0]));
        printf("%s: %s\n", fields[i][1], v ? v : "");
    }
}

static int cmd_profile_set(cli_t *cli, int argc, char **argv)
{
    json_t *req = json_pack("{s:s}", "op", "profile_set");
    static const char *const opts[][2] = {
        {"--display", "display_name"}, {"--bio", "bio"}, {"--status", "status_text"}};
    for (int i = 0; i < argc; i++) {
        size_t k = 0;
        while (k < 3 && strcmp(argv[i], opts[k][0]) != 0)
            k++;
        if (k == 3 || i + 1 >= argc) {
            json_decref(req);
            return usage_error(k == 3 ? "profile set: unexpected argument %s"
                                      : "profile set: %s needs a value",
                               argv[i]);
        }
        json_object_set_new(req, opts[k][1], json_string(argv[++i]));
    }
    if (json_object_size(req) == 1) {
        json_decref(req);
        return usage_error("profile set: give --display, --bio or --status%s", NULL);
    }
    int rc = connect_ws(cli);
    if (rc != EXIT_OK) {
        json_decref(req);
        return rc;
    }
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    print_profile(cli, json_object_get(reply, "user"));
    json_decref(reply);
    return EXIT_OK;
}

static int cmd_profile(cli_t *cli, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "set") == 0)
        return cmd_profile_set(cli, argc - 1, argv + 1);
    if (argc > 1)
        return usage_error("profile: expected [USER] or set ...%s", NULL);
    if (argc == 1 && argv[0][0] == '-')
        return usage_error("profile: unknown option %s", argv[0]);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    json_t *req;
    if (argc == 1) {
        req = json_pack("{s:s, s:s}", "op", "profile_get", "username",
                        argv[0][0] == '@' ? argv[0] + 1 : argv[0]);
    } else {
        const char *me = json_string_value(json_object_get(parley_client_user(cli->client), "id"));
        req = json_pack("{s:s, s:s}", "op", "profile_get", "user", me ? me : "");
    }
    json_t *reply = call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    print_profile(cli, json_object_get(reply, "user"));
    json_decref(reply);
    return EXIT_OK;
}

/* ---- tail: the async API on our own loop ---- */

typedef struct {
    cli_t *cli;
    parley_client_t *client;
    uv_signal_t sigint, sigterm;
    json_t *seen; /* {"seq": Message} as last printed, to describe updates */
    int exit_code;
    bool was_ready;
    bool announced;
} tail_t;

/* Saves where the tail got to (seq and version): a later tail resumes there. */
static void tail_save(tail_t *t, parley_client_t *c)
{
    const char *room = t->cli->tail_room;
    cli_position_save(t->cli->server, t->cli->sess.user_id, room,
                      (long long)parley_client_get_position(c, room),
                      (long long)parley_client_get_version(c, room));
}

/* Remembers m as printed; the cache is bounded (older states are dropped:
 * their updates are then described from the new state alone). */
static void tail_remember(tail_t *t, const json_t *m)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(m, "seq")));
    if (json_object_size(t->seen) >= 5000)
        json_object_clear(t->seen);
    json_object_set_new(t->seen, key, json_deep_copy(m));
}

static void tail_stop(tail_t *t, int code)
{
    t->exit_code = code;
    parley_client_free(t->client);
    t->client = NULL;
    if (!uv_is_closing((uv_handle_t *)&t->sigint)) {
        uv_close((uv_handle_t *)&t->sigint, NULL);
        uv_close((uv_handle_t *)&t->sigterm, NULL);
    }
}

static void on_tail_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    tail_stop(s->data, EXIT_OK);
}

static void on_tail_event(parley_client_t *c, json_t *ev, void *ud)
{
    tail_t *t = ud;
    const char *name = json_string_value(json_object_get(ev, "ev"));
    if (name && strcmp(name, "room") == 0) {
        learn_members(t->cli, json_object_get(ev, "room"));
        return;
    }
    bool is_update = name && strcmp(name, "update") == 0;
    if (name == NULL || (strcmp(name, "message") != 0 && !is_update))
        return;
    const char *room = json_string_value(json_object_get(ev, "room"));
    if (room == NULL || strcmp(room, t->cli->tail_room) != 0)
        return;
    if (!is_update) {
        print_message(t->cli, ev);
        tail_remember(t, ev);
    } else if (t->cli->json) {
        print_json(ev);
    } else {
        json_t *m = json_object_get(ev, "message");
        char key[32];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(m, "seq")));
        char *lines = cli_format_update(json_object_get(t->seen, key), m);
        if (lines)
            fputs(lines, stdout);
        free(lines);
        tail_remember(t, m);
    }
    fflush(stdout);
    /* Remember how far we got: a later `tail` resumes here, so messages
     * sent and changes made while it was stopped are shown once, in order. */
    tail_save(t, c);
}

static void on_tail_state(parley_client_t *c, parley_state_t st, const parley_error_t *err,
                          void *ud)
{
    tail_t *t = ud;
    if (st == PARLEY_STATE_WAITING && err && t->was_ready) {
        fprintf(stderr, "parley: connection lost (%s: %s), reconnecting\n", err->code,
                err->message);
        t->was_ready = false;
    } else if (st == PARLEY_STATE_READY) {
        if (!t->announced) {
            /* After the catch-up sync: everything missed is printed above. */
            fprintf(stderr, "parley: following %s (Ctrl-C to stop)\n", t->cli->tail_room);
            t->announced = true;
        }
        t->was_ready = true;
        /* Record the starting point too, so a tail stopped before any
         * message arrived still resumes from here next time. */
        tail_save(t, c);
    } else if (st == PARLEY_STATE_CLOSED && t->client) {
        if (err)
            fail(err);
        tail_stop(t, EXIT_ERR);
    }
}

static int cmd_tail(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("tail: expected ROOM%s", NULL);
    int rc = connect_ws(cli);
    if (rc != EXIT_OK)
        return rc;
    /* Resolve the room and member names on a short blocking connection. */
    char *room = resolve_room(cli, argv[0]);
    parley_client_free(cli->client);
    cli->client = NULL;
    if (room == NULL)
        return EXIT_ERR;
    cli->tail_room = room;

    uv_loop_t loop;
    uv_loop_init(&loop);
    tail_t t = {.cli = cli, .exit_code = EXIT_OK, .seen = json_object()};
    t.client = parley_client_new(&loop, cli->server);
    if (t.client == NULL) {
        json_decref(t.seen);
        free(room);
        uv_loop_close(&loop);
        return fail_msg("invalid_argument", "bad server URL");
    }
    parley_client_set_token(t.client, cli->sess.token);
    /* First tail of a room starts at "now"; later ones resume where the last
     * one stopped. */
    parley_client_set_initial_sync(t.client, false);
    long long saved, saved_version;
    if (cli_position_load(cli->server, cli->sess.user_id, room, &saved, &saved_version) == 0) {
        parley_client_set_position(t.client, room, saved);
        parley_client_set_version(t.client, room, saved_version);
    }
    parley_client_set_event_cb(t.client, on_tail_event, &t);
    parley_client_set_state_cb(t.client, on_tail_state, &t);
    uv_signal_init(&loop, &t.sigint);
    uv_signal_init(&loop, &t.sigterm);
    t.sigint.data = t.sigterm.data = &t;
    uv_signal_start(&t.sigint, on_tail_signal, SIGINT);
    uv_signal_start(&t.sigterm, on_tail_signal, SIGTERM);
    parley_client_connect(t.client);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    json_decref(t.seen);
    free(room);
    cli->tail_room = NULL;
    return t.exit_code;
}

/* ---- main ---- */

typedef struct {
    const char *name;
    int (*fn)(cli_t *, int, char **);
} command_t;

static const command_t commands[] = {
    {"register", cmd_register}, {"login", cmd_login},     {"logout", cmd_logout},
    {"whoami", cmd_whoami},     {"rooms", cmd_rooms},     {"dm", cmd_dm},
    {"group", cmd_group},       {"send", cmd_send},       {"history", cmd_history},
    {"tail", cmd_tail},         {"read", cmd_read},       {"react", cmd_react},
    {"edit", cmd_edit},         {"delete", cmd_delete},   {"search", cmd_search},
    {"profile", cmd_profile},   {"upload", cmd_upload},   {"download", cmd_download},
    {"invite", cmd_invite},     {"invites", cmd_invites}, {"join", cmd_join},
    {"leave", cmd_leave},       {"decline", cmd_decline},
};

int main(int argc, char **argv)
{
    cli_t cli = {0};
    const char *server = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("parley %s\n", PL_VERSION);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            cli.json = true;
        } else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            server = argv[++i];
        } else if (strncmp(argv[i], "--server=", 9) == 0) {
            server = argv[i] + 9;
        } else {
            return usage_error("unknown option %s", argv[i]);
        }
    }
    if (i >= argc)
        return usage_error("missing COMMAND%s", NULL);
    const command_t *cmd = NULL;
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            cmd = &commands[k];
    if (cmd == NULL)
        return usage_error("unknown command %s", argv[i]);
    /* Global flags are also accepted after the command. */
    int cargc = 0;
    char **cargv = calloc((size_t)argc, sizeof(char *));
    if (cargv == NULL)
        return EXIT_ERR;
    for (int k = i + 1; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            cli.json = true;
        else if (strcmp(argv[k], "--server") == 0 && k + 1 < argc)
            server = argv[++k];
        else if (strcmp(argv[k], "--help") == 0) {
            fputs(usage_text, stdout);
            free(cargv);
            return EXIT_OK;
        } else
            cargv[cargc++] = argv[k];
    }
    if (sodium_init() < 0) {
        free(cargv);
        return fail_msg("internal", "libsodium init failed");
    }
    signal(SIGPIPE, SIG_IGN);
    cli_session_load(&cli.sess);
    cli.server = server ? server : cli.sess.server ? cli.sess.server : DEFAULT_SERVER;
    cli.names = json_object();
    int rc = cmd->fn(&cli, cargc, cargv);
    parley_client_free(cli.client);
    json_decref(cli.names);
    cli_session_dispose(&cli.sess);
    free(cargv);
    return rc;
}
