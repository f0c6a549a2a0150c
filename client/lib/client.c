/* SPDX-License-Identifier: MIT */
/* client.c -- the asynchronous WebSocket client's lifecycle: create, settings,
 * connect, free (deferred while a callback runs), state changes. The
 * connection lives in client_conn.c, requests in client_pending.c, incoming
 * events in client_events.c and sync in client_sync.c. */
#include "client_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static void teardown(parley_client_t *c);

/* ------------------------------------------------------------------ */
/* Re-entrancy: the application may call parley_client_free from any
 * callback. Every libuv entry point brackets its work with enter/leave, and
 * the real teardown runs when the outermost one returns. */

void parley__enter(parley_client_t *c)
{
    c->depth++;
}

void parley__leave(parley_client_t *c)
{
    if (--c->depth == 0 && c->free_requested && !c->torn_down)
        teardown(c);
}

/* Something a blocking call may be waiting for happened: make its
 * uv_run(UV_RUN_ONCE) return even if this ran outside the poll phase. */
void parley__wake_blocking(parley_client_t *c)
{
    if (c->blocking)
        uv_stop(c->loop);
}

void parley__set_state(parley_client_t *c, parley_state_t st, const parley_error_t *err)
{
    parley__wake_blocking(c);
    if (c->state == st && err == NULL)
        return;
    c->state = st;
    if (c->state_cb && !c->torn_down)
        c->state_cb(c, st, err, c->state_ud);
}

/* ------------------------------------------------------------------ */
/* Lifecycle */

/* Frees c and what it owns (its handles are closed or were never opened). */
static void client_dispose(parley_client_t *c)
{
    json_decref(c->positions);
    json_decref(c->versions);
    json_decref(c->sync_base);
    json_decref(c->sync_seen);
    json_decref(c->evq);
    json_decref(c->held);
    json_decref(c->user);
    free(c->seed_after);
    free(c->token);
    free(c);
}

parley_client_t *parley_client_new(uv_loop_t *loop, const char *url)
{
    if (loop == NULL || url == NULL)
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    /* libuv writes with write(2): a peer that vanished would kill the process
     * with SIGPIPE. Ignore it unless the application installed a handler. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    parley_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (parley__url_parse(url, &c->url) < 0) {
        free(c);
        return NULL;
    }
    c->positions = json_object();
    c->versions = json_object();
    c->sync_base = json_object();
    c->sync_seen = json_object();
    c->evq = json_array();
    c->held = json_array();
    if (c->positions == NULL || c->versions == NULL || c->sync_base == NULL ||
        c->sync_seen == NULL || c->evq == NULL || c->held == NULL) {
        client_dispose(c);
        return NULL;
    }
    c->loop = loop;
    c->next_id = 1;
    c->backoff_min = 100;
    c->backoff_max = 10000;
    c->ping_interval = 20000;
    c->replay_history = true;
    c->trace = getenv("PARLEY_TRACE") != NULL && *getenv("PARLEY_TRACE") != '\0';
    uv_timer_init(loop, &c->reconnect_timer);
    uv_timer_init(loop, &c->ping_timer);
    uv_timer_init(loop, &c->wait_timer);
    uv_timer_init(loop, &c->retry_timer);
    c->reconnect_timer.data = c;
    c->ping_timer.data = c;
    c->wait_timer.data = c;
    c->retry_timer.data = c;
    c->open_handles = 4;
    return c;
}

static void on_client_handle_closed(uv_handle_t *h)
{
    parley_client_t *c = h->data;
    if (--c->open_handles > 0)
        return;
    client_dispose(c);
}

static void teardown(parley_client_t *c)
{
    c->torn_down = true;
    c->state = PARLEY_STATE_CLOSED;
    if (c->conn) {
        conn_t *k = c->conn;
        c->conn = NULL;
        k->c = NULL;
        parley__conn_close(k);
    }
    parley__pending_fail(c, 0, "closed", "client closed");
    uv_close((uv_handle_t *)&c->reconnect_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->ping_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->wait_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->retry_timer, on_client_handle_closed);
}

void parley_client_free(parley_client_t *c)
{
    if (c == NULL || c->torn_down)
        return;
    if (c->depth > 0) {
        c->free_requested = true;
        return;
    }
    uv_loop_t *loop = c->loop;
    bool owns = c->owns_loop;
    teardown(c);
    if (owns) {
        uv_run(loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(loop);
        free(loop);
    }
}

int parley_client_set_token(parley_client_t *c, const char *token)
{
    if (c == NULL || token == NULL)
        return PARLEY_EINVAL;
    char *t = strdup(token);
    if (t == NULL)
        return PARLEY_ENOMEM;
    free(c->token);
    c->token = t;
    c->auth_refused = false;
    return PARLEY_OK;
}

void parley_client_set_event_cb(parley_client_t *c, parley_event_cb cb, void *ud)
{
    c->event_cb = cb;
    c->event_ud = ud;
}

void parley_client_set_state_cb(parley_client_t *c, parley_state_cb cb, void *ud)
{
    c->state_cb = cb;
    c->state_ud = ud;
}

void parley_client_set_timing(parley_client_t *c, unsigned backoff_min_ms, unsigned backoff_max_ms,
                              unsigned ping_interval_ms)
{
    c->backoff_min = backoff_min_ms ? backoff_min_ms : 1;
    c->backoff_max = backoff_max_ms < c->backoff_min ? c->backoff_min : backoff_max_ms;
    c->backoff_cur = c->backoff_min;
    c->ping_interval = ping_interval_ms;
}

void parley_client_set_initial_sync(parley_client_t *c, bool replay_history)
{
    c->replay_history = replay_history;
}

int parley_client_connect(parley_client_t *c)
{
    if (c == NULL || c->token == NULL)
        return PARLEY_EINVAL;
    if (c->torn_down || c->free_requested)
        return PARLEY_ECLOSED;
    if (c->conn != NULL || uv_is_active((uv_handle_t *)&c->reconnect_timer))
        return PARLEY_OK;
    c->auth_refused = false;
    c->backoff_cur = c->backoff_min;
    parley__enter(c);
    parley__start_attempt(c);
    parley__leave(c);
    return PARLEY_OK;
}

parley_state_t parley_client_state(const parley_client_t *c)
{
    return c->state;
}

const json_t *parley_client_user(const parley_client_t *c)
{
    return c->user;
}

uv_loop_t *parley_client_loop(const parley_client_t *c)
{
    return c->loop;
}
