/* SPDX-License-Identifier: MIT */
/* cmd_messages.c -- the parley CLI's message commands: send, history, read,
 * react, edit, delete and search. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The text is read before connecting: an empty message is a usage error. */
int cli_cmd_send_prepare(cli_t *cli, cli_call_t *call)
{
    (void)cli;
    char *text = call->argc > 1 ? cli_join_args(call->argc - 1, call->argv + 1) : read_all_stdin();
    if (text == NULL)
        return cli_fail_msg("no_memory", "cannot read the message");
    if (*text == '\0') {
        free(text);
        return cli_usage_error("send: empty message");
    }
    call->data = text;
    return EXIT_OK;
}

/* Sends req (taken) and prints the message of its reply. */
static int call_print_message(cli_t *cli, json_t *req)
{
    json_t *reply = cli_call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    cli_print_message(cli, json_object_get(reply, "message"));
    json_decref(reply);
    return EXIT_OK;
}

int cli_send_message(cli_t *cli, const char *room, json_t *content, long long reply_to,
                     long long thread)
{
    char cid[40];
    cli_new_client_id(cid);
    json_t *req = content ? json_pack("{s:s, s:s, s:s, s:o}", "op", "send", "room", room,
                                      "client_id", cid, "content", content)
                          : NULL;
    if (req == NULL)
        return cli_fail_msg("no_memory", "cannot build the message");
    if (reply_to > 0)
        json_object_set_new(req, "reply_to", json_integer(reply_to));
    if (thread > 0)
        json_object_set_new(req, "thread", json_integer(thread));
    return call_print_message(cli, req);
}

int cli_cmd_send(cli_t *cli, cli_call_t *call)
{
    char *text = call->data;
    json_t *content = json_pack("{s:s, s:s}", "type", "text", "body", text);
    free(text);
    return cli_send_message(cli, call->room, content, cli_num(call, "--reply"),
                            cli_num(call, "--thread"));
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
        json_t *reply = cli_call(cli, req);
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

int cli_cmd_history(cli_t *cli, cli_call_t *call)
{
    json_t *msgs = history_pages(cli, call->room, cli_num(call, "--limit"),
                                 cli_num(call, "--before"), cli_num(call, "--after"));
    if (msgs == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(msgs);
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m)
        {
            cli_print_message(cli, m);
        }
    }
    json_decref(msgs);
    return EXIT_OK;
}

int cli_cmd_read(cli_t *cli, cli_call_t *call)
{
    json_t *reply = cli_call(cli, json_pack("{s:s, s:s, s:I}", "op", "read", "room", call->room,
                                            "seq", (json_int_t)call->arg_num[1]));
    if (reply == NULL)
        return EXIT_ERR;
    json_decref(reply);
    return EXIT_OK;
}

/* react, edit, delete: req (taken) on call's room and SEQ; prints the reply's
 * message. */
static int call_on_message(cli_t *cli, cli_call_t *call, json_t *req)
{
    if (req == NULL)
        return cli_fail_msg("no_memory", "cannot build the request");
    json_object_set_new(req, "room", json_string(call->room));
    json_object_set_new(req, "seq", json_integer(call->arg_num[1]));
    return call_print_message(cli, req);
}

int cli_cmd_react(cli_t *cli, cli_call_t *call)
{
    bool remove = cli_opt(call, "--remove") != NULL;
    return call_on_message(
        cli, call,
        json_pack("{s:s, s:s, s:b}", "op", "react", "emoji", call->argv[2], "remove", remove));
}

int cli_cmd_edit(cli_t *cli, cli_call_t *call)
{
    char *text = cli_join_args(call->argc - 2, call->argv + 2);
    json_t *req = text ? json_pack("{s:s, s:{s:s, s:s}}", "op", "edit", "content", "type", "text",
                                   "body", text)
                       : NULL;
    free(text);
    return call_on_message(cli, call, req);
}

int cli_cmd_delete(cli_t *cli, cli_call_t *call)
{
    return call_on_message(cli, call, json_pack("{s:s}", "op", "delete"));
}

/* Learns the member names of every room (for printing search results). */
static int learn_all_rooms(cli_t *cli)
{
    json_t *reply = cli_call_rooms(cli);
    if (reply == NULL)
        return EXIT_ERR;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "rooms"), i, r)
    {
        cli_learn_members(cli, r);
    }
    json_decref(reply);
    return EXIT_OK;
}

/* Up to want results of query (in room when not NULL), newest first: results
 * are cut at the server's byte budget too (more), so ask on below the last id
 * until want is reached. Returns the array (owned) or NULL after printing the
 * error. */
static json_t *search_pages(cli_t *cli, const char *query, const char *room, long long want)
{
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
        json_decref(reply); /* before pointed into it: copied into req above */
        reply = cli_call(cli, req);
        if (reply == NULL) {
            json_decref(results);
            return NULL;
        }
        json_t *page = json_object_get(reply, "results");
        json_array_extend(results, page);
        size_t n = json_array_size(page);
        if (!json_is_true(json_object_get(reply, "more")) || n == 0 ||
            (long long)json_array_size(results) >= want)
            break;
        before = json_string_value(json_object_get(json_array_get(page, n - 1), "id"));
    }
    json_decref(reply);
    return results;
}

int cli_cmd_search(cli_t *cli, cli_call_t *call)
{
    const char *room_arg = cli_opt(call, "--room");
    long long limit = cli_num(call, "--limit");
    char *room = NULL;
    if (room_arg != NULL && (room = cli_resolve_room(cli, room_arg)) == NULL)
        return EXIT_ERR;
    if (!cli->json && learn_all_rooms(cli) != EXIT_OK) {
        free(room);
        return EXIT_ERR;
    }
    char *query = cli_join_args(call->argc, call->argv);
    json_t *results = query ? search_pages(cli, query, room, limit >= 0 ? limit : 20) : NULL;
    free(query);
    free(room);
    if (results == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(results);
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
    return EXIT_OK;
}
