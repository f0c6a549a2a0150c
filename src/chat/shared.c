/* SPDX-License-Identifier: MIT */
/* shared.c -- the chat core's state shared by the nodes in Redis
 * (cluster/state.h): presence over all nodes and per-user request buckets.
 *
 * Presence. Each node still computes a user's status from the sessions it
 * holds (presence.c); what it used to emit it now writes to Redis as its
 * own status of the user, and the status over all live nodes is compared
 * there, atomically, with what contacts were last told: only a change goes
 * out, from the one node whose write made it. A user connected to two nodes
 * who closes one stays online; a node killed with -9 stops renewing its
 * entry (presence_heartbeat_ms) and, presence_ttl_ms later, the first node
 * whose heartbeat finds it expired takes its users and tells their contacts
 * of those now offline. A node registers all its users (replacing its
 * entry) when it first reaches Redis, after every reconnect and when it
 * finds itself reaped (a stall, or Redis restarted empty). While Redis is
 * down each node emits its own view, as a single node does.
 *
 * Rate limits. The per-user bucket checked before each frame stays local
 * (no Redis round trip per frame). Each granted request is counted; every
 * rate_sync_ms the counts go to Redis in one script call, which takes them
 * from the user's shared bucket (same rate and burst; it may owe up to one
 * burst) and answers its tokens; a local bucket holding more is cut down to
 * that. So over all nodes a user gets one bucket's rate, within what the
 * other nodes grant before their next sync (docs/scaling.md). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "cluster/cluster.h"
#include "cluster/state.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

struct pl_shared {
    pl_chat_t *chat;
    pl_shared_emit_fn emit; /* presence.c's, given to pl_shared__start */
    pl_shared_seen_fn seen;
    pl_cstate_t *cs;
    uv_timer_t timer; /* every rate_sync_ms: counts, heartbeat, registration */
    uint64_t epoch;   /* the publishing connection's epoch of the last register */
    bool registered;
    bool hb_inflight, rate_inflight;
    uint64_t last_hb_ns;
    int64_t *dirty; /* users with rl_pending > 0 */
    size_t ndirty, dirtycap;
};

typedef struct pl_shared shared_t;

static shared_t *live(pl_chat_t *chat)
{
    shared_t *sh = chat->shared;
    return sh != NULL && pl_cstate_up(sh->cs) ? sh : NULL;
}

/* ---- presence ---- */

/* A write's caller-side data: what to say if the write fails. */
typedef struct {
    pl_chat_t *chat;
    int64_t user;
    int status;
    int64_t last_seen;
} pset_t;

static void tell(pl_chat_t *chat, const pl_cstate_pres_t *ch, size_t n, int64_t last_seen)
{
    for (size_t i = 0; i < n; i++) {
        chat->stats.presence_shared_events++;
        chat->shared->emit(chat, ch[i].user, ch[i].status, ch[i].status == 0 ? last_seen : 0);
    }
}

static void on_set(void *arg, int rc, const pl_cstate_pres_t *ch, size_t n)
{
    pset_t *p = arg;
    pl_chat_t *chat = p->chat;
    if (chat->shared != NULL) {
        if (rc == 0) {
            chat->stats.presence_shared_sets++;
            tell(chat, ch, n, p->last_seen);
        } else {
            /* Unknown whether it was applied: this node's own view. */
            chat->shared->emit(chat, p->user, p->status, p->last_seen);
        }
    }
    free(p);
}

static void on_register(void *arg, int rc, const pl_cstate_pres_t *ch, size_t n)
{
    pl_chat_t *chat = arg;
    shared_t *sh = chat->shared;
    if (sh == NULL)
        return;
    if (rc < 0) {
        sh->registered = false; /* again on the next tick */
        return;
    }
    chat->stats.presence_registers++;
    tell(chat, ch, n, pl_now_ms());
}

/* Replaces this node's entry with every user it holds. */
static void register_all(shared_t *sh)
{
    pl_chat_t *chat = sh->chat;
    size_t n = 0, cap = HASH_COUNT(chat->users);
    pl_cstate_pres_t *mine = pl_xcalloc(cap + 1, sizeof *mine);
    online_t *p, *tmp;
    HASH_ITER(hh, chat->users, p, tmp)
    {
        if (p->pres && p->visible && p->status != PL_PRES_OFFLINE)
            mine[n++] = (pl_cstate_pres_t){p->user_id, p->status};
    }
    int rc = pl_cstate_presence_set(sh->cs, true, mine, n, on_register, chat);
    free(mine);
    if (rc < 0)
        return;
    sh->registered = true;
    sh->epoch = pl_cstate_epoch(sh->cs);
}

bool pl_shared__presence(pl_chat_t *chat, int64_t user, int status, int64_t last_seen)
{
    shared_t *sh = live(chat);
    if (sh == NULL)
        return false;
    /* Not registered on this connection yet: the whole entry first (the
     * same connection keeps the order), then this change. */
    if (!sh->registered || sh->epoch != pl_cstate_epoch(sh->cs))
        register_all(sh);
    if (!sh->registered)
        return false;
    pset_t *p = pl_xmalloc(sizeof *p);
    *p = (pset_t){chat, user, status, last_seen};
    pl_cstate_pres_t one = {user, status};
    if (pl_cstate_presence_set(sh->cs, false, &one, 1, on_set, p) < 0) {
        free(p);
        return false;
    }
    return true;
}

static void on_heartbeat(void *arg, int rc, bool rejoined, const pl_cstate_pres_t *ch, size_t n)
{
    pl_chat_t *chat = arg;
    shared_t *sh = chat->shared;
    if (sh == NULL)
        return;
    sh->hb_inflight = false;
    if (rc < 0)
        return;
    int64_t now = pl_now_ms();
    for (size_t i = 0; i < n; i++) {
        chat->stats.presence_reaped++;
        if (ch[i].status == 0)
            sh->seen(chat, ch[i].user, now);
    }
    tell(chat, ch, n, now);
    if (rejoined) {
        pl_log(PL_LOG_INFO, "cluster", "presence: node not registered in redis; registering");
        register_all(sh);
    }
}

typedef struct {
    void (*cb)(void *arg, const int *status);
    void *arg;
} pquery_t;

static void on_query(void *arg, int rc, const int *status, size_t n)
{
    (void)n;
    pquery_t *q = arg;
    q->cb(q->arg, rc == 0 ? status : NULL);
    free(q);
}

bool pl_shared__query(pl_chat_t *chat, const int64_t *users, size_t n,
                      void (*cb)(void *arg, const int *status), void *arg)
{
    shared_t *sh = live(chat);
    if (sh == NULL || !sh->registered || n == 0 || n > PL_CSTATE_BATCH)
        return false;
    pquery_t *q = pl_xmalloc(sizeof *q);
    q->cb = cb;
    q->arg = arg;
    if (pl_cstate_presence_get(sh->cs, users, n, on_query, q) < 0) {
        free(q);
        return false;
    }
    return true;
}

/* ---- rate limits ---- */

void pl_shared__count(pl_chat_t *chat, online_t *u)
{
    shared_t *sh = chat->shared;
    if (sh == NULL)
        return;
    if (u->rl_pending == 0) {
        if (sh->ndirty == sh->dirtycap) {
            sh->dirtycap = sh->dirtycap ? sh->dirtycap * 2 : 64;
            sh->dirty = pl_xrealloc(sh->dirty, sh->dirtycap * sizeof *sh->dirty);
        }
        sh->dirty[sh->ndirty++] = u->user_id;
    }
    if (u->rl_pending < UINT16_MAX)
        u->rl_pending++;
}

typedef struct {
    pl_chat_t *chat;
    int64_t *users;
    size_t n;
} rsync_t;

static void on_rate(void *arg, int rc, const double *tokens, size_t n)
{
    rsync_t *r = arg;
    pl_chat_t *chat = r->chat;
    shared_t *sh = chat->shared;
    if (sh != NULL) {
        sh->rate_inflight = false;
        if (rc == 0) {
            chat->stats.rate_shared_syncs++;
            double rate = (double)chat->cfg->rate_limit_per_sec;
            uint64_t now = pl_mono_ns();
            for (size_t i = 0; i < n && i < r->n; i++) {
                online_t *u = pl_chat__online(chat, r->users[i]);
                if (u == NULL)
                    continue;
                /* Refill to now, then hold no more than the shared bucket. */
                pl_bucket_take(&u->bucket, rate, rate * 2, 0, now);
                if (tokens[i] < u->bucket.tokens) {
                    u->bucket.tokens = tokens[i];
                    chat->stats.rate_shared_cuts++;
                }
            }
        }
    }
    free(r->users);
    free(r);
}

/* Sends the counts since the last sync (one batch per tick; what is left
 * goes on the next one). */
static void rate_sync(shared_t *sh)
{
    pl_chat_t *chat = sh->chat;
    if (sh->rate_inflight || sh->ndirty == 0)
        return;
    size_t n = sh->ndirty < PL_CSTATE_BATCH ? sh->ndirty : PL_CSTATE_BATCH;
    rsync_t *r = pl_xcalloc(1, sizeof *r);
    r->chat = chat;
    r->users = pl_xcalloc(n, sizeof *r->users);
    uint32_t *counts = pl_xcalloc(n, sizeof *counts);
    size_t k = 0;
    for (size_t i = sh->ndirty - n; i < sh->ndirty; i++) {
        online_t *u = pl_chat__online(chat, sh->dirty[i]);
        if (u == NULL || u->rl_pending == 0)
            continue; /* gone: its counts go with it */
        r->users[k] = u->user_id;
        counts[k++] = u->rl_pending;
        u->rl_pending = 0;
    }
    sh->ndirty -= n;
    r->n = k;
    double rate = (double)chat->cfg->rate_limit_per_sec;
    if (k == 0 ||
        pl_cstate_rate_take(sh->cs, rate, rate * 2, r->users, counts, k, on_rate, r) < 0) {
        free(r->users);
        free(r);
    } else {
        sh->rate_inflight = true;
    }
    free(counts);
}

/* Redis is down: counts are not kept for later (the local buckets limit
 * each node meanwhile). */
static void rate_forget(shared_t *sh)
{
    for (size_t i = 0; i < sh->ndirty; i++) {
        online_t *u = pl_chat__online(sh->chat, sh->dirty[i]);
        if (u != NULL)
            u->rl_pending = 0;
    }
    sh->ndirty = 0;
}

/* ---- the timer ---- */

static void on_tick(uv_timer_t *t)
{
    shared_t *sh = t->data;
    pl_chat_t *chat = sh->chat;
    if (chat->closing)
        return;
    if (!pl_cstate_up(sh->cs)) {
        sh->registered = false;
        rate_forget(sh);
        return;
    }
    if (!sh->registered || sh->epoch != pl_cstate_epoch(sh->cs))
        register_all(sh);
    uint64_t now = pl_mono_ns();
    int64_t hb = chat->cfg->presence_heartbeat_ms;
    if (hb > chat->cfg->presence_ttl_ms / 3)
        hb = chat->cfg->presence_ttl_ms / 3;
    if (!sh->hb_inflight && now - sh->last_hb_ns >= (uint64_t)hb * 1000000) {
        if (pl_cstate_heartbeat(sh->cs, on_heartbeat, chat) == 0) {
            sh->hb_inflight = true;
            sh->last_hb_ns = now;
        }
    }
    rate_sync(sh);
}

void pl_shared__start(pl_chat_t *chat, pl_shared_emit_fn emit, pl_shared_seen_fn seen)
{
    if (chat->cluster == NULL || chat->shared != NULL)
        return;
    shared_t *sh = pl_xcalloc(1, sizeof *sh);
    sh->chat = chat;
    sh->emit = emit;
    sh->seen = seen;
    sh->cs = pl_cstate_new(chat->cluster, chat->cfg->presence_ttl_ms);
    uv_timer_init(chat->loop, &sh->timer);
    sh->timer.data = sh;
    uint64_t every = (uint64_t)chat->cfg->rate_sync_ms;
    uv_timer_start(&sh->timer, on_tick, every, every);
    uv_unref((uv_handle_t *)&sh->timer);
    chat->shared = sh;
}

static void on_timer_closed(uv_handle_t *h)
{
    shared_t *sh = h->data;
    free(sh->dirty);
    free(sh);
}

void pl_shared__stop(pl_chat_t *chat)
{
    shared_t *sh = chat->shared;
    if (sh == NULL)
        return;
    chat->shared = NULL;
    for (size_t i = 0; i < sh->ndirty; i++) {
        online_t *u = pl_chat__online(chat, sh->dirty[i]);
        if (u != NULL)
            u->rl_pending = 0;
    }
    pl_cstate_free(sh->cs); /* its calls still answer, into a chat without shared state */
    uv_close((uv_handle_t *)&sh->timer, on_timer_closed);
}
