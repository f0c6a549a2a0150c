/* SPDX-License-Identifier: MIT */
/* tail.c -- `parley tail ROOM`: follows a room live on the async API until
 * Ctrl-C, describing edits, deletions and reactions, and resumes where the
 * last tail stopped. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cli_t *cli;
    const char *room; /* the room followed (borrowed) */
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
    cli_position_save(t->cli->server, t->cli->sess.user_id, t->room,
                      (long long)parley_client_get_position(c, t->room),
                      (long long)parley_client_get_version(c, t->room));
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
        cli_learn_members(t->cli, json_object_get(ev, "room"));
        return;
    }
    bool is_update = name && strcmp(name, "update") == 0;
    if (name == NULL || (strcmp(name, "message") != 0 && !is_update))
        return;
    const char *room = json_string_value(json_object_get(ev, "room"));
    if (room == NULL || strcmp(room, t->room) != 0)
        return;
    if (!is_update) {
        cli_print_message(t->cli, ev);
        tail_remember(t, ev);
    } else if (t->cli->json) {
        cli_print_json(ev);
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
            fprintf(stderr, "parley: following %s (Ctrl-C to stop)\n", t->room);
            t->announced = true;
        }
        t->was_ready = true;
        /* Record the starting point too, so a tail stopped before any
         * message arrived still resumes from here next time. */
        tail_save(t, c);
    } else if (st == PARLEY_STATE_CLOSED && t->client) {
        if (err)
            cli_fail(err);
        tail_stop(t, EXIT_ERR);
    }
}

/* The room was resolved (and member names learnt) on the short blocking
 * connection the table made; following it runs the async API on our own
 * loop, which reconnects and catches up by itself. */
int cli_cmd_tail(cli_t *cli, cli_call_t *call)
{
    parley_client_free(cli->client);
    cli->client = NULL;
    const char *room = call->room;

    uv_loop_t loop;
    uv_loop_init(&loop);
    tail_t t = {.cli = cli, .room = room, .exit_code = EXIT_OK, .seen = json_object()};
    t.client = parley_client_new(&loop, cli->server);
    if (t.client == NULL) {
        json_decref(t.seen);
        uv_loop_close(&loop);
        return cli_fail_msg("invalid_argument", "bad server URL");
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
    return t.exit_code;
}
