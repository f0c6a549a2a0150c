/* SPDX-License-Identifier: MIT */
/* chat.c -- the chat core's life and its WebSocket callbacks: sessions
 * opened and closed, each request rate-limited, counted and handed to the
 * dispatcher, the tick (sweeper, presence grace), startup loading of rooms
 * and memberships. The routing table is route.c. */
#include "chat/chat.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/wire_peek.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- WebSocket handlers ---- */

void pl_chat_on_ws_open(void *ud, pl_conn_t *c)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_xcalloc(1, sizeof *s);
    s->chat = chat;
    s->conn = c;
    s->refs = 1;
    s->held_tail = &s->held;
    pl_conn_set_data(c, s);
    chat->stats.sessions++;
    pl_log(PL_LOG_DEBUG, "chat", "conn=%" PRIu64 " session open", pl_conn_id(c));
}

void pl_chat_on_ws_close(void *ud, pl_conn_t *c)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_conn_data(c);
    if (s == NULL)
        return;
    pl_conn_set_data(c, NULL);
    pl_chat__online_remove(chat, s);
    pl_calls__session_closed(chat, s); /* calls (issue 19) */
    if (s->user_id != 0)
        pl_presence__update(chat, s->user_id);
    s->conn = NULL;
    pl_reply__clear(s);
    chat->stats.sessions--;
    pl_log(PL_LOG_DEBUG, "chat", "conn=%" PRIu64 " user=u%" PRId64 " session closed", pl_conn_id(c),
           s->user_id);
    pl_chat__session_unref(s);
}

void pl_chat_on_ws_drain(void *ud, pl_conn_t *c)
{
    (void)ud;
    session_t *s = pl_conn_data(c);
    if (s != NULL)
        pl_reply__drained(s);
}

/* Token buckets, taken before the frame is parsed so malformed frames count
 * too: one per user, shared by all the user's connections
 * (rate_limit_per_sec, burst twice that; kept in the online entry), and
 * before auth one per client address (rate_limit_ip_per_sec; IPv6 by /64,
 * pl_addr_limit_key). Returns 0 when the request may go on, else the ms
 * until it could. */
static uint64_t rate_wait(pl_chat_t *chat, session_t *s)
{
    uint64_t now = pl_mono_ns();
    if (s->user_id != 0) {
        online_t *u = pl_chat__online(chat, s->user_id);
        if (u == NULL) /* cannot happen: an authenticated session is online */
            return 0;
        double rate = (double)chat->cfg->rate_limit_per_sec;
        uint64_t wait = pl_bucket_take(&u->bucket, rate, rate * 2, 1, now);
        if (wait == 0 && chat->shared != NULL)
            pl_shared__count(chat, u); /* counted; reconciled in Redis later */
        return wait;
    }
    pl_addr_t a;
    pl_conn_client_addr(s->conn, &a);
    pl_addr_t key = pl_addr_limit_key(&a);
    return pl_ratelimit_take(chat->iprl, key.b, sizeof key.b, 1, now);
}

/* Answers a request refused before it was parsed or counted: rate_limited
 * or too_many_pending. The answer is small and fixed (it echoes the id when
 * one can be found cheaply), goes past waiting replies, and obeys the reply
 * rule, so a client that floods without reading ends as a slow consumer. */
static void refuse(session_t *s, const char *data, size_t len, const char *code, const char *msg,
                   uint64_t retry_after_ms, pl_log_gate_t *gate)
{
    const char *re = "null";
    size_t re_len = 4;
    if (!pl_wire_peek_id(data, len, &re, &re_len)) {
        re = "null";
        re_len = 4;
    }
    /* A flooding client hits this per frame: one info line a second over
     * all sessions, the rest at debug. */
    uint64_t quiet = 0;
    int level = pl_log_gate(gate, PL_LOG_INFO, pl_mono_ns(), PL_LOG_GATE_NS, &quiet);
    pl_log(level, "chat",
           "conn=%" PRIu64 " user=u%" PRId64 " peer=%s refused code=%s unlogged=%" PRIu64,
           pl_conn_id(s->conn), s->user_id, pl_conn_peer(s->conn), code, quiet);
    pl_reply__now(s, pl_wire_err_frame(re, re_len, code, msg, retry_after_ms));
}

void pl_chat_on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    pl_chat_t *chat = ud;
    session_t *s = pl_conn_data(c);
    if (s == NULL)
        return;
    uint64_t wait = rate_wait(chat, s);
    if (wait > 0) {
        refuse(s, data, len, "rate_limited", "too many requests; slow down", wait,
               &chat->refused_log[0]);
        return;
    }
    if (s->inflight >= (uint64_t)chat->cfg->max_inflight_requests) {
        refuse(s, data, len, "too_many_pending",
               "too many requests waiting for their replies; wait for some first", 0,
               &chat->refused_log[1]);
        return;
    }
    /* From here the request is counted until its reply is on the wire. */
    pl_reply__begin(s);
    pl_ops_dispatch(s, data, len);
}

void pl_chat_close_device(pl_chat_t *chat, int64_t user_id, int64_t device_id, uint16_t code,
                          const char *reason)
{
    pl_bus__close_device(chat, user_id, device_id, code, reason);
    pl_chat__close_device_local(chat, user_id, device_id, code, reason);
}

void pl_chat__close_device_local(pl_chat_t *chat, int64_t user_id, int64_t device_id, uint16_t code,
                                 const char *reason)
{
    online_t *u = NULL;
    HASH_FIND(hh, chat->users, &user_id, sizeof user_id, u);
    if (u == NULL)
        return;
    for (session_t *s = u->head; s != NULL; s = s->next)
        if (s->device_id == device_id && s->conn != NULL)
            pl_conn_close(s->conn, code, reason);
}

/* ---- lifecycle ---- */

static int load_room(void *arg, const pl_room_t *r)
{
    pl_chat__room_add(arg, r);
    return 0;
}

static int load_member(void *arg, const pl_member_t *m)
{
    room_t *r = pl_chat__room(arg, m->room_id);
    if (r != NULL)
        pl_chat__member_add(arg, r, m->user_id);
    return 0;
}

/* The tick: expire disappearing messages (one write job at a time) and end
 * presence grace periods. It runs once right away, so messages that expired
 * while the server was down go at startup. The timer is unref'd: it never
 * keeps the loop alive on shutdown. */
static void on_tick(uv_timer_t *t)
{
    pl_chat_t *chat = t->data;
    if (chat->closing) {
        uv_timer_stop(t);
        return;
    }
    pl_presence__tick(chat);
    pl_calls__tick(chat); /* calls (issue 19) */
    if (chat->cl_bf_retry > 0)
        pl_bus__retry_failed(chat);
    pl_catchup__retry_failed(chat);
    if (!chat->sweeping)
        pl_ops_sweep(chat);
}

int pl_chat_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_chat_t **out)
{
    pl_chat_t *chat = pl_xcalloc(1, sizeof *chat);
    chat->loop = loop;
    chat->cfg = cfg;
    chat->st = st;
    pl_db_t *db = pl_store_direct(st);
    int rc = pl_db_each_room(db, load_room, chat);
    if (rc == 0)
        rc = pl_db_each_member(db, load_member, chat);
    if (rc == 0)
        rc = pl_mod__load(chat, db); /* moderation (issue 17): mutes in force */
    if (rc < 0) {
        pl_chat_free(chat);
        return rc;
    }
    pl_log(PL_LOG_INFO, "chat", "loaded rooms=%u", HASH_COUNT(chat->rooms));
    double iprate = (double)cfg->rate_limit_ip_per_sec;
    chat->iprl = pl_ratelimit_new(iprate, iprate * 2, (size_t)cfg->rate_limit_ip_keys);
    uv_timer_init(loop, &chat->tick);
    chat->tick.data = chat;
    uv_timer_start(&chat->tick, on_tick, 0, (uint64_t)cfg->sweep_interval_ms);
    uv_unref((uv_handle_t *)&chat->tick);
    *out = chat;
    return 0;
}

void pl_chat_set_server(pl_chat_t *chat, pl_server_t *srv)
{
    chat->srv = srv;
}

void pl_chat_stop(pl_chat_t *chat)
{
    if (chat == NULL)
        return;
    chat->closing = true;
    uv_timer_stop(&chat->tick);
}

void pl_chat_free(pl_chat_t *chat)
{
    if (chat == NULL)
        return;
    if (chat->tick.data != NULL) {
        /* Called after uv_run returned: close the timer and let the loop run
         * its close callback, so uv_loop_close finds no open handle. */
        uv_close((uv_handle_t *)&chat->tick, NULL);
        uv_run(chat->loop, UV_RUN_NOWAIT);
    }
    pl_calls__free(chat); /* calls (issue 19) */
    pl_chat__routes_free(chat);
    pl_ops__push_users_free(chat);
    pl_mod__free(chat);
    /* Bus messages relay.c still held (linked through their first field). */
    while (chat->cl_q_head != NULL) {
        struct relay_msg **next = (struct relay_msg **)chat->cl_q_head;
        void *m = chat->cl_q_head;
        chat->cl_q_head = *next;
        free(m);
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(chat->limits); i++)
        pl_ratelimit_free(chat->limits[i]);
    pl_ratelimit_free(chat->iprl);
    free(chat);
}

void pl_chat_get_stats(const pl_chat_t *chat, pl_chat_stats_t *out)
{
    *out = chat->stats;
}
