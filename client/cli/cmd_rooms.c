/* SPDX-License-Identifier: MIT */
/* cmd_rooms.c -- the parley CLI's room commands: rooms, dm, group, invite,
 * invites, join, leave and decline. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The name a room is listed under: its name, or for a dm (no name) the other
 * members as "@bob,@carol" (into buf), or "-". */
static const char *room_label(const json_t *r, const char *me, char *buf, size_t cap)
{
    const char *name = json_string_value(json_object_get(r, "name"));
    if (name != NULL && *name != '\0')
        return name;
    buf[0] = '\0';
    size_t j;
    json_t *m;
    json_array_foreach(json_object_get(r, "members"), j, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *un = json_string_value(json_object_get(m, "username"));
        if (un == NULL || (me && id && strcmp(id, me) == 0))
            continue;
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s@%s", l ? "," : "", un);
    }
    return buf[0] ? buf : "-";
}

int cli_cmd_rooms(cli_t *cli, cli_call_t *call)
{
    (void)call;
    json_t *reply = cli_call_rooms(cli);
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(json_object_get(reply, "rooms"));
        json_decref(reply);
        return EXIT_OK;
    }
    const char *me = json_string_value(json_object_get(parley_client_user(cli->client), "id"));
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "rooms"), i, r)
    {
        char buf[512];
        printf("%s\t%s\t%s\t%lld\n", json_string_value(json_object_get(r, "id")),
               json_string_value(json_object_get(r, "kind")), room_label(r, me, buf, sizeof(buf)),
               (long long)json_integer_value(json_object_get(r, "unread")));
    }
    json_decref(reply);
    return EXIT_OK;
}

/* Prints reply's room: its id, or with --json the Room. Frees reply. */
static int print_room_id(cli_t *cli, json_t *reply)
{
    json_t *room = json_object_get(reply, "room");
    if (cli->json)
        cli_print_json(room);
    else
        printf("%s\n", json_string_value(json_object_get(room, "id")));
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_dm(cli_t *cli, cli_call_t *call)
{
    const char *user = call->argv[0][0] == '@' ? call->argv[0] + 1 : call->argv[0];
    json_t *reply = cli_call(
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

/* group and invite: argv[0] (NAME or ROOM) and USERs, through build. */
static json_t *people_call(cli_t *cli, cli_call_t *call,
                           json_t *(*build)(const char *, const char *const *, size_t))
{
    const char **users = user_args(call->argc - 1, call->argv + 1);
    json_t *req = users ? build(call->argv[0], users, (size_t)call->argc - 1) : NULL;
    free(users);
    if (req == NULL) {
        cli_fail_msg("no_memory", "out of memory");
        return NULL;
    }
    return cli_call(cli, req);
}

int cli_cmd_group(cli_t *cli, cli_call_t *call)
{
    json_t *reply = people_call(cli, call, parley_req_create_group);
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

int cli_cmd_invite(cli_t *cli, cli_call_t *call)
{
    json_t *reply = people_call(cli, call, parley_req_invite);
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(reply);
    } else {
        print_people(stdout, reply, "added", "added");
        print_people(stdout, reply, "invited", "invited");
        print_people(stdout, reply, "skipped", "not added");
    }
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_invites(cli_t *cli, cli_call_t *call)
{
    (void)call;
    json_t *reply = cli_call(cli, parley_req_invites());
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(json_object_get(reply, "invites"));
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

/* join, leave, decline take a room id as it is (there is no dm to join). */
int cli_cmd_room_prepare(cli_t *cli, cli_call_t *call)
{
    (void)cli;
    if (call->argv[0][0] == '\0')
        return cli_usage_error("%s: expected a room id", call->cmd->name);
    return EXIT_OK;
}

static int room_call(cli_t *cli, json_t *req)
{
    json_t *reply = cli_call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    if (json_object_get(reply, "room") != NULL)
        return print_room_id(cli, reply);
    if (cli->json)
        cli_print_json(reply);
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_join(cli_t *cli, cli_call_t *call)
{
    return room_call(cli, parley_req_join(call->argv[0]));
}

int cli_cmd_leave(cli_t *cli, cli_call_t *call)
{
    return room_call(cli, parley_req_leave(call->argv[0]));
}

int cli_cmd_decline(cli_t *cli, cli_call_t *call)
{
    return room_call(cli, parley_req_decline(call->argv[0]));
}
