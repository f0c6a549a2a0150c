/* SPDX-License-Identifier: MIT */
/* client_pending.c -- libparley's requests and replies: ids, the queue of
 * requests waiting to be sent (at most MAX_INFLIGHT out at once, in order),
 * matching replies to them, and failing them when the connection goes. */
#include "client_internal.h"

#include <stdlib.h>

/* Application requests sent and not answered at once; the rest wait here,
 * in order. The server refuses requests past its max_inflight_requests
 * (default 32) with too_many_pending; the library's own requests (auth,
 * sync, rooms) are not counted and always fit beside these. */
#define MAX_INFLIGHT 16

static pending_t *pending_take(parley_client_t *c, int64_t id)
{
    for (pending_t **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            pending_t *p = *pp;
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void pending_drop(parley_client_t *c, int64_t id)
{
    pending_t *p = pending_take(c, id);
    if (p) {
        json_decref(p->req);
        free(p);
    }
}

void parley__pending_cancel(parley_client_t *c, int64_t id)
{
    pending_drop(c, id);
    /* A request given up on (parley_call timed out) frees its place among
     * the MAX_INFLIGHT: the next waiting one may go. */
    if (c->authed && !c->torn_down && !c->free_requested)
        parley__flush_unsent(c);
}

static void pending_append(parley_client_t *c, pending_t *p)
{
    pending_t **pp = &c->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
}

/* A new request for req (taken: freed on failure) with the next id, queued
 * last and not sent yet. NULL when memory ran out. */
static pending_t *pending_new(parley_client_t *c, json_t *req)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(req);
        return NULL;
    }
    p->id = c->next_id++;
    p->req = req;
    pending_append(c, p);
    return p;
}

static json_t *local_reply(int64_t id, const char *code, const char *msg)
{
    return json_pack("{s:I, s:b, s:{s:s, s:s}, s:b}", "re", (json_int_t)id, "ok", 0, "error",
                     "code", code, "message", msg, "local", 1);
}

static void pending_complete(parley_client_t *c, pending_t *p, json_t *reply, bool local)
{
    parley__wake_blocking(c);
    if (p->icb)
        p->icb(c, reply, local);
    else if (p->cb)
        p->cb(c, reply, p->ud);
    json_decref(p->req);
    free(p);
}

/* Fails pending requests: those sent on connection gen (gen != 0), or all. */
void parley__pending_fail(parley_client_t *c, uint64_t gen, const char *code, const char *msg)
{
    for (;;) {
        pending_t **pp = &c->pending;
        while (*pp && gen != 0 && (*pp)->sent_gen != gen)
            pp = &(*pp)->next;
        pending_t *p = *pp;
        if (p == NULL)
            break;
        *pp = p->next;
        json_t *r = local_reply(p->id, code, msg);
        pending_complete(c, p, r, true);
        json_decref(r);
    }
}

/* Sends a pending request now (the connection is authenticated, or it is the
 * auth request itself). On failure the request stays unsent. */
static void pending_send(parley_client_t *c, pending_t *p)
{
    if (json_object_set_new(p->req, "id", json_integer(p->id)) < 0)
        return;
    uint64_t gen = c->conn ? c->conn->gen : 0;
    if (parley__send_json(c, p->req) == PARLEY_OK && c->conn && c->conn->gen == gen) {
        p->sent_gen = gen;
        json_decref(p->req);
        p->req = NULL;
    }
}

/* Internal request: sent immediately on the current connection. */
int parley__send_internal(parley_client_t *c, json_t *req, internal_cb icb)
{
    pending_t *p = pending_new(c, req);
    if (p == NULL)
        return PARLEY_ENOMEM;
    p->icb = icb;
    pending_send(c, p);
    if (p->req != NULL) {
        /* Could not send: the connection is gone; drop it silently, the
         * reconnect path starts over. */
        pending_drop(c, p->id);
        return PARLEY_EDISCONNECTED;
    }
    return PARLEY_OK;
}

/* Application requests sent on the current connection, unanswered. */
static int app_inflight(const parley_client_t *c)
{
    int n = 0;
    uint64_t gen = c->conn ? c->conn->gen : 0;
    for (const pending_t *p = c->pending; p; p = p->next)
        n += p->icb == NULL && p->req == NULL && gen != 0 && p->sent_gen == gen;
    return n;
}

/* Sends waiting application requests, in order, while fewer than
 * MAX_INFLIGHT are unanswered. */
void parley__flush_unsent(parley_client_t *c)
{
    int n = app_inflight(c);
    for (pending_t *p = c->pending; p && c->authed && n < MAX_INFLIGHT; p = p->next) {
        if (p->req != NULL && p->icb == NULL) {
            pending_send(c, p);
            if (p->req != NULL)
                return; /* not sent: the connection is gone */
            n++;
        }
    }
}

int64_t parley_client_request(parley_client_t *c, json_t *req, parley_reply_cb cb, void *ud)
{
    if (c == NULL || !json_is_object(req)) {
        json_decref(req);
        return PARLEY_EINVAL;
    }
    if (c->torn_down || c->free_requested || c->state == PARLEY_STATE_CLOSED) {
        json_decref(req);
        return PARLEY_ECLOSED;
    }
    pending_t *p = pending_new(c, req);
    if (p == NULL)
        return PARLEY_ENOMEM;
    p->cb = cb;
    p->ud = ud;
    if (c->authed)
        parley__flush_unsent(c); /* sends it unless MAX_INFLIGHT are out (order kept) */
    return p->id;
}

void parley__pending_answer(parley_client_t *c, const json_t *re, json_t *reply)
{
    pending_t *p = json_is_integer(re) ? pending_take(c, json_integer_value(re)) : NULL;
    if (p == NULL)
        return; /* not ours, or given up on (parley_call timed out) */
    bool app = p->icb == NULL;
    pending_complete(c, p, reply, false);
    if (app && c->authed && !c->torn_down && !c->free_requested)
        parley__flush_unsent(c); /* one answered: the next may go */
}
