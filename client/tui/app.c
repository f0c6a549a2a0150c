/* SPDX-License-Identifier: MIT */
/* app.c -- the terminal client's conversation with the server: libparley
 * events into the model, rooms and history paged in, read markers, the
 * mention hook. The composer's commands are app_cmd.c's. */
#include "app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/cli.h"

#define HISTORY_PAGE 50

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void tui_app_notice(tui_app_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->notice, sizeof(a->notice), fmt, ap);
    va_end(ap);
}

uint64_t tui_app_now(tui_app_t *a)
{
    return uv_now(a->loop);
}

bool tui_app__reply_ok(tui_app_t *a, const json_t *reply, const char *what)
{
    if (json_is_true(json_object_get(reply, "ok")))
        return true;
    const json_t *e = json_object_get(reply, "error");
    tui_app_notice(a, "%s: %s: %s", what, str_of(e, "code") ? str_of(e, "code") : "error",
                   str_of(e, "message") ? str_of(e, "message") : "");
    return false;
}

void tui_app__request(tui_app_t *a, json_t *req, parley_reply_cb cb)
{
    if (req == NULL) {
        tui_app_notice(a, "out of memory");
        return;
    }
    if (parley_client_request(a->client, req, cb, a) < 0)
        tui_app_notice(a, "not connected");
}

/* ---- the mention hook ---- */

static void on_notify_exit(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    (void)sig;
    uv_close((uv_handle_t *)p, (uv_close_cb)free);
}

/* Runs the notify command through /bin/sh with the mention in the
 * environment (PARLEY_NOTIFY_ROOM, _FROM, _TEXT): never in the command line,
 * so no text from the network is ever parsed by the shell. */
static void run_notify(tui_app_t *a, const tui_room_t *r, const json_t *msg)
{
    if (a->notify_cmd == NULL || *a->notify_cmd == '\0')
        return;
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof(char *));
    uv_process_t *p = calloc(1, sizeof(*p));
    char *body = cli_format_body(msg);
    if (env == NULL || p == NULL || body == NULL) {
        free(env);
        free(p);
        free(body);
        return;
    }
    memcpy(env, environ, n * sizeof(char *));
    char *room = NULL, *from = NULL, *text = NULL;
    if (asprintf(&room, "PARLEY_NOTIFY_ROOM=%s", r->name ? r->name : r->id) < 0)
        room = NULL;
    if (asprintf(&from, "PARLEY_NOTIFY_FROM=%s", tui_model_name(&a->model, str_of(msg, "sender"))) <
        0)
        from = NULL;
    if (asprintf(&text, "PARLEY_NOTIFY_TEXT=%s", body) < 0)
        text = NULL;
    env[n] = room;
    env[n + 1] = room ? from : NULL;
    env[n + 2] = room && from ? text : NULL;
    char *args[] = {"/bin/sh", "-c", a->notify_cmd, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t o = {.exit_cb = on_notify_exit,
                              .file = args[0],
                              .args = args,
                              .env = env,
                              .stdio_count = 3,
                              .stdio = stdio};
    if (uv_spawn(a->loop, p, &o) != 0) {
        tui_app_notice(a, "notify command failed to start");
        free(p);
    }
    free(room);
    free(from);
    free(text);
    free(body);
    free(env);
}

/* ---- events ---- */

static void send_read(tui_app_t *a, tui_room_t *r, long long seq)
{
    if (seq <= 0 || seq <= r->read_seq)
        return;
    r->read_seq = seq;
    tui_app__request(
        a, json_pack("{s:s, s:s, s:I}", "op", "read", "room", r->id, "seq", (json_int_t)seq), NULL);
}

static void on_tick(uv_timer_t *t);

static void arm_tick(tui_app_t *a)
{
    uint64_t now = tui_app_now(a), next = 0;
    for (size_t i = 0; i < a->model.nrooms; i++) {
        tui_room_t *r = &a->model.rooms[i];
        if (r->typing_user && (next == 0 || r->typing_until < next))
            next = r->typing_until;
    }
    if (next)
        uv_timer_start(&a->tick, on_tick, next > now ? next - now : 0, 0);
}

/* A changed message shown in the overlay (a thread root's count, an
 * edited search result) is replaced there too. */
static void view_update(tui_app_t *a, json_t *m)
{
    size_t i;
    json_t *v;
    json_array_foreach(a->view_msgs, i, v)
    {
        if (int_of(v, "seq") == int_of(m, "seq") && str_of(v, "room") && str_of(m, "room") &&
            strcmp(str_of(v, "room"), str_of(m, "room")) == 0) {
            json_array_set(a->view_msgs, i, m);
            tui_screen_draw(a);
            return;
        }
    }
}

static void on_event(parley_client_t *c, json_t *ev, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    int res = tui_model_apply(&a->model, ev, tui_app_now(a));
    const char *kind = str_of(ev, "ev");
    if (kind && strcmp(kind, "message") == 0) {
        tui_room_t *r = tui_model_room(&a->model, str_of(ev, "room"));
        if (r && (res & TUI_EV_NEW) && a->view_title == NULL)
            send_read(a, r, int_of(ev, "seq"));
        if (r && (res & TUI_EV_MENTION)) {
            tui_screen_bell();
            run_notify(a, r, ev);
        }
        /* A live thread reply of the thread on screen joins it. */
        if (r && a->view_room && strcmp(a->view_room, r->id) == 0 &&
            int_of(ev, "thread_root") == a->view_thread)
            json_array_append(a->view_msgs, ev);
    }
    if (kind && strcmp(kind, "update") == 0 && a->view_msgs)
        view_update(a, json_object_get(ev, "message"));
    if (kind && strcmp(kind, "typing") == 0)
        arm_tick(a);
    if (res)
        tui_screen_draw(a);
}

static void on_rooms(parley_client_t *c, json_t *reply, void *ud);

static void list_rooms(tui_app_t *a, const char *after)
{
    json_t *req = json_pack("{s:s}", "op", "rooms");
    if (req && after)
        json_object_set_new(req, "after", json_string(after));
    tui_app__request(a, req, on_rooms);
}

static void on_presence(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(reply, "presence"), i, p)
    {
        if (str_of(p, "user") && str_of(p, "status"))
            json_object_set_new(a->model.presence, str_of(p, "user"),
                                json_string(str_of(p, "status")));
    }
    tui_screen_draw(a);
}

static void on_rooms(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (!tui_app__reply_ok(a, reply, "rooms")) {
        tui_screen_draw(a);
        return;
    }
    size_t i;
    json_t *room;
    tui_room_t *cur = tui_model_current(&a->model);
    json_array_foreach(json_object_get(reply, "rooms"), i, room)
    {
        tui_room_t *r = tui_model_room_upsert(&a->model, room);
        /* The open room is read as it arrives. */
        if (r && r == cur && a->first_ready)
            r->unread = r->mentions = 0;
    }
    if (json_is_true(json_object_get(reply, "more")) && str_of(reply, "next")) {
        list_rooms(a, str_of(reply, "next"));
        return;
    }
    if (!a->first_ready) {
        a->first_ready = true;
        tui_app__request(a, json_pack("{s:s}", "op", "presence_query"), on_presence);
        if (a->model.nrooms)
            tui_app_open(a, 0);
    } else if (cur) {
        /* After a reconnect: the messages missed came by sync. */
        send_read(a, cur, cur->last_seq);
    }
    tui_screen_draw(a);
}

static void on_state(parley_client_t *c, parley_state_t state, const parley_error_t *err, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    a->state = state;
    if (err && err->code[0] && state != PARLEY_STATE_READY)
        tui_app_notice(a, "%s: %s", err->code, err->message);
    if (state == PARLEY_STATE_READY) {
        if (a->first_ready)
            tui_app_notice(a, "reconnected");
        list_rooms(a, NULL);
    }
    if (state == PARLEY_STATE_CLOSED && err && strcmp(err->code, "unauthenticated") == 0)
        tui_app_notice(a, "the session was refused: log in again (parley-tui --login USER)");
    tui_screen_draw(a);
}

/* ---- history ---- */

/* A request about one room: its reply may name none (an empty history
 * page, receipts), so the room travels with the request. */
typedef struct {
    tui_app_t *a;
    char room[72];
} room_req_t;

static room_req_t *room_req(tui_app_t *a, const tui_room_t *r)
{
    room_req_t *q = calloc(1, sizeof(*q));
    if (q) {
        q->a = a;
        snprintf(q->room, sizeof(q->room), "%s", r->id);
    }
    return q;
}

static void on_history(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    room_req_t *q = ud;
    tui_app_t *a = q->a;
    tui_room_t *r = tui_model_room(&a->model, q->room);
    free(q);
    a->loading_history = false;
    if (!tui_app__reply_ok(a, reply, "history")) {
        tui_screen_draw(a);
        return;
    }
    if (strncmp(a->notice, "loading", 7) == 0)
        a->notice[0] = '\0';
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(reply, "messages"), i, m)
    {
        if (r && json_is_string(json_object_get(m, "room")) &&
            strcmp(json_string_value(json_object_get(m, "room")), r->id) == 0)
            tui_model_insert(r, m);
    }
    if (r) {
        r->more_before = json_is_true(json_object_get(reply, "more"));
        if (r == tui_model_current(&a->model))
            send_read(a, r, r->last_seq);
    }
    tui_screen_draw(a);
}

static void load_history(tui_app_t *a, tui_room_t *r, long long before)
{
    json_t *req =
        json_pack("{s:s, s:s, s:i}", "op", "history", "room", r->id, "limit", HISTORY_PAGE);
    if (req && before > 0)
        json_object_set_new(req, "before", json_integer(before));
    room_req_t *q = room_req(a, r);
    if (q == NULL) {
        json_decref(req);
        return;
    }
    a->loading_history = true;
    r->history_loaded = true;
    if (req == NULL || parley_client_request(a->client, req, on_history, q) < 0) {
        /* The reply callback runs for every accepted request; this one
         * was not accepted. */
        free(q);
        a->loading_history = false;
        r->history_loaded = false;
        tui_app_notice(a, "not connected");
    }
}

void tui_app_load_older(tui_app_t *a)
{
    tui_room_t *r = tui_model_current(&a->model);
    if (r == NULL || a->loading_history || !r->more_before || a->view_title)
        return;
    long long oldest = tui_model_oldest(r);
    if (oldest == 1) {
        r->more_before = false;
        return;
    }
    tui_app_notice(a, "loading older messages...");
    load_history(a, r, oldest);
}

static void on_receipts(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    room_req_t *q = ud;
    tui_app_t *a = q->a;
    tui_room_t *r = tui_model_room(&a->model, q->room);
    free(q);
    if (r == NULL || !json_is_true(json_object_get(reply, "ok")))
        return;
    size_t i;
    json_t *rc;
    json_array_foreach(json_object_get(reply, "receipts"), i, rc)
    {
        const char *user = str_of(rc, "user");
        if (user && a->model.me && strcmp(user, a->model.me) != 0 &&
            int_of(rc, "read_seq") > r->peer_read)
            r->peer_read = int_of(rc, "read_seq");
    }
    tui_screen_draw(a);
}

void tui_app_open(tui_app_t *a, size_t i)
{
    if (a->model.nrooms == 0)
        return;
    tui_app_close_view(a);
    tui_model_open(&a->model, i);
    tui_room_t *r = tui_model_current(&a->model);
    a->scroll = 0;
    if (!r->history_loaded)
        load_history(a, r, 0);
    else
        send_read(a, r, r->last_seq);
    room_req_t *q = room_req(a, r);
    json_t *req = json_pack("{s:s, s:s}", "op", "receipts", "room", r->id);
    if (q == NULL || req == NULL || parley_client_request(a->client, req, on_receipts, q) < 0)
        free(q);
    tui_screen_draw(a);
}

void tui_app_close_view(tui_app_t *a)
{
    free(a->view_title);
    free(a->view_room);
    json_decref(a->view_msgs);
    a->view_title = NULL;
    a->view_room = NULL;
    a->view_msgs = NULL;
    a->view_thread = 0;
}

/* ---- start and stop ---- */

static void on_tick(uv_timer_t *t)
{
    tui_app_t *a = t->data;
    uint64_t now = tui_app_now(a);
    for (size_t i = 0; i < a->model.nrooms; i++) {
        tui_room_t *r = &a->model.rooms[i];
        if (r->typing_user && r->typing_until <= now) {
            free(r->typing_user);
            r->typing_user = NULL;
        }
    }
    arm_tick(a);
    tui_screen_draw(a);
}

int tui_app_start(tui_app_t *a)
{
    uv_timer_init(a->loop, &a->tick);
    a->tick.data = a;
    a->client = parley_client_new(a->loop, a->server);
    if (a->client == NULL || parley_client_set_token(a->client, a->token) != PARLEY_OK)
        return -1;
    /* History comes by page when a room opens, not replayed by sync. */
    parley_client_set_initial_sync(a->client, false);
    parley_client_set_event_cb(a->client, on_event, a);
    parley_client_set_state_cb(a->client, on_state, a);
    parley_client_set_timing(a->client, 200, 5000, 20000);
    return parley_client_connect(a->client) == PARLEY_OK ? 0 : -1;
}

void tui_app_stop(tui_app_t *a)
{
    parley_client_free(a->client);
    a->client = NULL;
    uv_close((uv_handle_t *)&a->tick, NULL);
    tui_app_close_view(a);
    free(a->comp_line);
    a->comp_line = NULL;
}
