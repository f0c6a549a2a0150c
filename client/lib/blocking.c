/* SPDX-License-Identifier: MIT */
/* blocking.c -- the blocking API: run the client's loop until an operation
 * completes or a timeout expires. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

static void on_wait_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    c->wait_expired = true;
    /* In UV_RUN_ONCE mode a timer that fires before the poll phase does not
     * end uv_run; uv_stop makes the poll non-blocking. */
    uv_stop(c->loop);
}

typedef bool (*pred_fn)(parley_client_t *c, void *arg);

/* Runs the loop until pred holds (returns true) or timeout_ms passes. */
static bool run_until(parley_client_t *c, pred_fn pred, void *arg, int timeout_ms)
{
    if (pred(c, arg))
        return true;
    c->wait_expired = false;
    c->blocking = true;
    /* A private loop's cached time is stale when other loops ran meanwhile. */
    uv_update_time(c->loop);
    if (timeout_ms >= 0)
        uv_timer_start(&c->wait_timer, on_wait_timer, (uint64_t)timeout_ms, 0);
    bool ok = false;
    for (;;) {
        if (pred(c, arg)) {
            ok = true;
            break;
        }
        if (c->wait_expired)
            break;
        if (uv_run(c->loop, timeout_ms == 0 ? UV_RUN_NOWAIT : UV_RUN_ONCE) == 0 && !pred(c, arg))
            break; /* nothing left that could make progress */
        if (timeout_ms == 0) {
            ok = pred(c, arg);
            break;
        }
    }
    uv_timer_stop(&c->wait_timer);
    c->blocking = false;
    return ok;
}

typedef struct {
    bool done;
    json_t *reply;
} call_t;

static void on_call_reply(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    call_t *st = ud;
    st->done = true;
    st->reply = json_incref(reply);
}

static bool call_done(parley_client_t *c, void *arg)
{
    (void)c;
    return ((call_t *)arg)->done;
}

int parley_call(parley_client_t *c, json_t *req, json_t **reply, int timeout_ms,
                parley_error_t *err)
{
    if (c == NULL) {
        json_decref(req);
        parley__set_error(err, "invalid_argument", "no client");
        return PARLEY_EINVAL;
    }
    call_t st = {false, NULL};
    int64_t id = parley_client_request(c, req, on_call_reply, &st);
    if (id < 0) {
        parley__set_error_rc(err, (int)id);
        return (int)id;
    }
    if (!run_until(c, call_done, &st, timeout_ms)) {
        /* The stack frame that st lives in is about to go away. */
        parley__pending_cancel(c, id);
        parley__set_error(err, "timeout", "no reply within %d ms", timeout_ms);
        return PARLEY_ETIMEDOUT;
    }
    int rc = PARLEY_OK;
    if (!json_is_true(json_object_get(st.reply, "ok"))) {
        json_t *e = json_object_get(st.reply, "error");
        parley__set_error_json(err, e);
        if (json_is_true(json_object_get(st.reply, "local"))) {
            const char *code = json_string_value(json_object_get(e, "code"));
            rc = code && strcmp(code, "disconnected") == 0 ? PARLEY_EDISCONNECTED
                 : code && strcmp(code, "closed") == 0     ? PARLEY_ECLOSED
                                                           : PARLEY_ESERVER;
        } else {
            rc = PARLEY_ESERVER;
        }
        json_decref(st.reply);
        return rc;
    }
    if (reply)
        *reply = st.reply;
    else
        json_decref(st.reply);
    return rc;
}

static bool have_event(parley_client_t *c, void *arg)
{
    (void)arg;
    return json_array_size(c->evq) > 0;
}

json_t *parley_wait_event(parley_client_t *c, int timeout_ms)
{
    if (c == NULL || !run_until(c, have_event, NULL, timeout_ms))
        return NULL;
    json_t *ev = json_incref(json_array_get(c->evq, 0));
    json_array_remove(c->evq, 0);
    return ev;
}

static bool is_ready(parley_client_t *c, void *arg)
{
    (void)arg;
    return c->state == PARLEY_STATE_READY || c->state == PARLEY_STATE_CLOSED;
}

/* parley_sync_connect fails fast: the first failed attempt ends the wait. */
static bool is_ready_or_failed(parley_client_t *c, void *arg)
{
    (void)arg;
    return is_ready(c, arg) || c->state == PARLEY_STATE_WAITING;
}

int parley_wait_ready(parley_client_t *c, int timeout_ms, parley_error_t *err)
{
    if (c == NULL)
        return PARLEY_EINVAL;
    if (!run_until(c, is_ready, NULL, timeout_ms)) {
        if (c->last_err.code[0])
            parley__set_error(err, "timeout", "not connected within %d ms (last error: %s: %s)",
                              timeout_ms, c->last_err.code, c->last_err.message);
        else
            parley__set_error(err, "timeout", "not connected within %d ms", timeout_ms);
        return PARLEY_ETIMEDOUT;
    }
    if (c->state == PARLEY_STATE_CLOSED) {
        if (err)
            *err = c->last_err;
        return PARLEY_ECLOSED;
    }
    return PARLEY_OK;
}

int parley_sync_connect(const char *url, const char *token, bool replay_history, int timeout_ms,
                        parley_client_t **out, parley_error_t *err)
{
    if (url == NULL || token == NULL || out == NULL) {
        parley__set_error(err, "invalid_argument", "url, token and out are required");
        return PARLEY_EINVAL;
    }
    uv_loop_t *loop = malloc(sizeof(*loop));
    if (loop == NULL || uv_loop_init(loop) < 0) {
        free(loop);
        parley__set_error(err, "no_memory", "cannot create a loop");
        return PARLEY_ENOMEM;
    }
    parley_client_t *c = parley_client_new(loop, url);
    if (c == NULL) {
        (void)uv_loop_close(loop);
        free(loop);
        parley__set_error(err, "invalid_argument", "bad server URL");
        return PARLEY_EINVAL;
    }
    c->owns_loop = true;
    parley_client_set_initial_sync(c, replay_history);
    int rc = parley_client_set_token(c, token);
    if (rc == PARLEY_OK)
        rc = parley_client_connect(c);
    if (rc == PARLEY_OK) {
        if (!run_until(c, is_ready_or_failed, NULL, timeout_ms)) {
            parley__set_error(err, "timeout", "not connected within %d ms", timeout_ms);
            rc = PARLEY_ETIMEDOUT;
        } else if (c->state == PARLEY_STATE_CLOSED) {
            if (err)
                *err = c->last_err;
            rc = PARLEY_ESERVER; /* auth refused: err has the server's code */
        } else if (c->state == PARLEY_STATE_WAITING) {
            if (err)
                *err = c->last_err;
            rc = PARLEY_EIO;
        }
    } else {
        parley__set_error_rc(err, rc);
    }
    if (rc < 0) {
        parley_client_free(c);
        return rc;
    }
    *out = c;
    return PARLEY_OK;
}
