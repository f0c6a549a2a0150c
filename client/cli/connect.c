/* SPDX-License-Identifier: MIT */
/* connect.c -- the parley CLI's blocking connection: log-in check, connect,
 * one request, the paged room list, ROOM resolution and member names. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 15000

void cli_learn_members(cli_t *cli, const json_t *room)
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

int cli_need_session(cli_t *cli)
{
    if (cli->sess.token == NULL)
        return cli_fail_msg("unauthenticated", "not logged in (run 'parley login USER')");
    return EXIT_OK;
}

int cli_connect(cli_t *cli)
{
    parley_error_t err = {{0}, {0}, 0};
    if (parley_sync_connect(cli->server, cli->sess.token, false, CONNECT_TIMEOUT_MS, &cli->client,
                            &err) < 0)
        return cli_fail(&err);
    const json_t *user = parley_client_user(cli->client);
    const char *id = json_string_value(json_object_get(user, "id"));
    const char *un = json_string_value(json_object_get(user, "username"));
    if (id && un)
        json_object_set_new(cli->names, id, json_string(un));
    return EXIT_OK;
}

json_t *cli_call(cli_t *cli, json_t *req)
{
    json_t *reply = NULL;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_call(cli->client, req, &reply, CALL_TIMEOUT_MS, &err) < 0) {
        cli_fail(&err);
        return NULL;
    }
    return reply;
}

/* `rooms` pages by bytes (more/next), so ask until the server has no more. A
 * server that says more without a next, or repeats the cursor just sent, is
 * done too (asking again would loop). */
json_t *cli_call_rooms(cli_t *cli)
{
    json_t *all = json_pack("{s:[]}", "rooms");
    char *after = NULL;
    for (;;) {
        json_t *req = json_pack("{s:s}", "op", "rooms");
        if (after)
            json_object_set_new(req, "after", json_string(after));
        json_t *reply = cli_call(cli, req);
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

char *cli_resolve_room(cli_t *cli, const char *arg)
{
    if (arg[0] == '@') {
        json_t *reply = cli_call(cli, json_pack("{s:s, s:s, s:[s]}", "op", "create_room", "kind",
                                                "dm", "members", arg + 1));
        if (reply == NULL)
            return NULL;
        json_t *room = json_object_get(reply, "room");
        cli_learn_members(cli, room);
        const char *id = json_string_value(json_object_get(room, "id"));
        char *out = id ? strdup(id) : NULL;
        json_decref(reply);
        if (out == NULL)
            cli_fail_msg("protocol", "create_room reply lacks room.id");
        return out;
    }
    json_t *reply = cli_call_rooms(cli);
    if (reply == NULL)
        return NULL;
    json_t *r = room_by_id(reply, arg);
    if (r)
        cli_learn_members(cli, r);
    json_decref(reply);
    return strdup(arg);
}
