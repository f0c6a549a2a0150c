/* SPDX-License-Identifier: MIT */
/* cmd_hooks.c -- incoming webhooks (issue 16): `parley webhook create`,
 * `parley webhooks`, `parley webhook revoke`. */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The URL the server gave, or the server's address + the path when the
 * server has no public_url. */
static void print_url(cli_t *cli, json_t *reply)
{
    const char *url = json_string_value(json_object_get(reply, "url"));
    const char *path = json_string_value(json_object_get(reply, "path"));
    if (url != NULL && strncmp(url, "http", 4) == 0) {
        printf("%s\n", url);
        return;
    }
    const char *s = cli->server ? cli->server : "";
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    printf("%.*s%s\n", (int)n, s, path ? path : "");
}

int cli_cmd_webhook_create(cli_t *cli, cli_call_t *call)
{
    json_t *req = json_pack("{s:s,s:s,s:s}", "op", "webhook_create", "room", call->room, "name",
                            call->argv[1]);
    const char *icon = cli_opt(call, "--icon");
    if (icon != NULL)
        json_object_set_new(req, "icon_url", json_string(icon));
    json_t *reply = cli_call(cli, req);
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json)
        cli_print_json(reply);
    else
        print_url(cli, reply);
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_webhooks(cli_t *cli, cli_call_t *call)
{
    json_t *reply = cli_call(cli, json_pack("{s:s,s:s}", "op", "webhooks", "room", call->room));
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json) {
        cli_print_json(json_object_get(reply, "webhooks"));
    } else {
        size_t i;
        json_t *w;
        json_array_foreach(json_object_get(reply, "webhooks"), i, w)
        {
            printf("%s\t%s\t%s\n", json_string_value(json_object_get(w, "id")),
                   json_string_value(json_object_get(w, "name")),
                   json_string_value(json_object_get(w, "created_by")));
        }
    }
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_webhook_revoke(cli_t *cli, cli_call_t *call)
{
    json_t *reply = cli_call(cli, json_pack("{s:s,s:s,s:s}", "op", "webhook_revoke", "room",
                                            call->room, "webhook", call->argv[1]));
    if (reply == NULL)
        return EXIT_ERR;
    if (cli->json)
        cli_print_json(reply);
    json_decref(reply);
    return EXIT_OK;
}
