/* SPDX-License-Identifier: MIT */
/* cmd_account.c -- the parley CLI's account commands: register, login,
 * logout, whoami, profile and profile set. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Stores the new login (token and uid are taken) and prints who it is. */
static int save_login(cli_t *cli, const char *what, const char *user, char *token, char *uid)
{
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "user_id", uid, "username", user);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%s %s (%s)\n", what, user, uid);
    }
    cli_session_t s = {strdup(cli->server), strdup(user), uid, token};
    int rc = cli_session_save(&s);
    cli_session_dispose(&s);
    return rc < 0 ? EXIT_ERR : EXIT_OK;
}

/* register and login: ask the password, then call the account endpoint. */
static int account(cli_t *cli, cli_call_t *call, bool is_register)
{
    const char *user = call->argv[0];
    char *pw = cli_read_password("Password: ");
    if (pw == NULL)
        return cli_fail_msg("invalid_argument", "no password given");
    char *token = NULL, *uid = NULL;
    parley_error_t err = {{0}, {0}, 0};
    int rc;
    if (is_register) {
        rc = parley_register(cli->server, user, pw, cli_opt(call, "--display"), &token, &uid, &err);
    } else {
        char host[256] = "parley-cli";
        gethostname(host, sizeof(host) - 1);
        rc = parley_login(cli->server, user, pw, host, &token, &uid, &err);
    }
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (rc < 0)
        return cli_fail(&err);
    return save_login(cli, is_register ? "registered" : "logged in as", user, token, uid);
}

int cli_cmd_register(cli_t *cli, cli_call_t *call)
{
    return account(cli, call, true);
}

int cli_cmd_login(cli_t *cli, cli_call_t *call)
{
    return account(cli, call, false);
}

int cli_cmd_logout(cli_t *cli, cli_call_t *call)
{
    (void)call;
    parley_error_t err = {{0}, {0}, 0};
    if (parley_logout(cli->server, cli->sess.token, &err) < 0 &&
        strcmp(err.code, "unauthenticated") != 0)
        return cli_fail(&err);
    cli_session_remove();
    if (!cli->json)
        printf("logged out\n");
    return EXIT_OK;
}

int cli_cmd_whoami(cli_t *cli, cli_call_t *call)
{
    (void)call;
    const json_t *u = parley_client_user(cli->client);
    if (cli->json) {
        cli_print_json(u);
    } else {
        const char *dn = json_string_value(json_object_get(u, "display_name"));
        printf("%s (%s)%s%s\n", json_string_value(json_object_get(u, "username")),
               json_string_value(json_object_get(u, "id")), dn && *dn ? " " : "", dn ? dn : "");
    }
    return EXIT_OK;
}

/* Prints the User of reply (taken) and frees reply. */
static int print_profile(cli_t *cli, json_t *reply)
{
    if (reply == NULL)
        return EXIT_ERR;
    const json_t *u = json_object_get(reply, "user");
    if (cli->json) {
        cli_print_json(u);
    } else {
        printf("%s (%s)\n", json_string_value(json_object_get(u, "username")),
               json_string_value(json_object_get(u, "id")));
        static const char *const fields[][2] = {
            {"display_name", "display name"}, {"bio", "bio"}, {"status_text", "status"}};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            const char *v = json_string_value(json_object_get(u, fields[i][0]));
            printf("%s: %s\n", fields[i][1], v ? v : "");
        }
    }
    json_decref(reply);
    return EXIT_OK;
}

int cli_cmd_profile(cli_t *cli, cli_call_t *call)
{
    json_t *req;
    if (call->argc == 1) {
        const char *user = call->argv[0];
        req = json_pack("{s:s, s:s}", "op", "profile_get", "username",
                        user[0] == '@' ? user + 1 : user);
    } else {
        const char *me = json_string_value(json_object_get(parley_client_user(cli->client), "id"));
        req = json_pack("{s:s, s:s}", "op", "profile_get", "user", me ? me : "");
    }
    return print_profile(cli, cli_call(cli, req));
}

/* The profile fields, by option. */
static const char *const profile_opts[][2] = {
    {"--display", "display_name"}, {"--bio", "bio"}, {"--status", "status_text"}};

int cli_cmd_profile_set_prepare(cli_t *cli, cli_call_t *call)
{
    (void)cli;
    for (size_t k = 0; k < sizeof(profile_opts) / sizeof(profile_opts[0]); k++)
        if (cli_opt(call, profile_opts[k][0]) != NULL)
            return EXIT_OK;
    return cli_usage_error("profile set: give --display, --bio or --status");
}

int cli_cmd_profile_set(cli_t *cli, cli_call_t *call)
{
    json_t *req = json_pack("{s:s}", "op", "profile_set");
    for (size_t k = 0; k < sizeof(profile_opts) / sizeof(profile_opts[0]); k++) {
        const char *v = cli_opt(call, profile_opts[k][0]);
        if (v != NULL)
            json_object_set_new(req, profile_opts[k][1], json_string(v));
    }
    return print_profile(cli, cli_call(cli, req));
}
