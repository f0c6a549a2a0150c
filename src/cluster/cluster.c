/* SPDX-License-Identifier: MIT */
/* cluster.c -- the cross-node bus on Redis (cluster.h): two async hiredis
 * connections on the core loop, batched subscriptions, reconnects with
 * backoff and jitter. */
#include "cluster/cluster.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <unistd.h>

#include "cluster/envelope.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define BACKOFF_MIN_MS 50
#define CONNECT_TIMEOUT_MS 2000
#define NODES_CHANNEL "pl:nodes" /* heartbeats and lost-publish notices */

/* ---- the libuv event adapter ----
 * hiredis' own <hiredis/adapters/libuv.h> (0.14) returns without telling
 * hiredis when libuv reports a poll error, and libuv reports a refused
 * connect (POLLERR) exactly so: the connect callback never runs and the
 * node never reconnects while Redis is down. This is the same small
 * adapter, except that a poll error is handed to hiredis as readiness, so
 * hiredis reads the socket error and fails the connect or the connection. */

typedef struct {
    redisAsyncContext *ac;
    uv_poll_t handle;
    int events;
} uvev_t;

static void uvev_poll(uv_poll_t *h, int status, int events)
{
    uvev_t *p = h->data;
    if (status < 0)
        events = p->events; /* let hiredis see the error on its next I/O */
    if (p->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    if (p->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
}

static void uvev_update(uvev_t *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, uvev_poll);
    else
        uv_poll_stop(&p->handle);
}

static void uvev_add_read(void *d)
{
    uvev_t *p = d;
    p->events |= UV_READABLE;
    uvev_update(p);
}

static void uvev_del_read(void *d)
{
    uvev_t *p = d;
    p->events &= ~UV_READABLE;
    uvev_update(p);
}

static void uvev_add_write(void *d)
{
    uvev_t *p = d;
    p->events |= UV_WRITABLE;
    uvev_update(p);
}

static void uvev_del_write(void *d)
{
    uvev_t *p = d;
    p->events &= ~UV_WRITABLE;
    uvev_update(p);
}

static void uvev_closed(uv_handle_t *h)
{
    free(h->data);
}

static void uvev_cleanup(void *d)
{
    uvev_t *p = d;
    p->ac = NULL; /* hiredis frees the context after this */
    uv_close((uv_handle_t *)&p->handle, uvev_closed);
}

static int uvev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL)
        return REDIS_ERR;
    uvev_t *p = pl_xcalloc(1, sizeof *p);
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.addRead = uvev_add_read;
    ac->ev.delRead = uvev_del_read;
    ac->ev.addWrite = uvev_add_write;
    ac->ev.delWrite = uvev_del_write;
    ac->ev.cleanup = uvev_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

typedef struct chan {
    char *name;      /* hash key */
    bool want;       /* the chat core wants it */
    bool subscribed; /* Redis confirmed it */
    bool inflight;   /* a SUBSCRIBE or UNSUBSCRIBE for it awaits its reply */
    UT_hash_handle hh;
} chan_t;

/* Another node, as heard on NODES_CHANNEL. */
typedef struct peer {
    char *name;                 /* hash key */
    uint64_t seen_ms;           /* uv_now of its last message */
    int64_t seen_wall_ms;       /* the same in wall-clock ms (the since of a catch-up) */
    bool dead;                  /* silent past cluster_peer_timeout_ms */
    uint64_t check_ms, step_ms; /* dead: next catch-up, and the wait after it */
    UT_hash_handle hh;
} peer_t;

/* A dead peer is caught up on again after timeout, 2 x timeout, ... up to
 * this many timeouts, then forgotten: a node cut off from Redis may commit
 * for a while after the others took it for dead (its clients still talk
 * to it) and die without ever publishing. */
#define DEAD_CHECK_MAX 64
/* Peers tracked at most: names come from the bus, so a flood of made-up
 * ones must not grow memory without bound. */
#define PEERS_MAX 4096

/* One of the two connections. */
typedef struct {
    pl_cluster_t *cl;
    redisAsyncContext *ac; /* NULL while down */
    bool up;               /* connect callback said OK */
    bool sub;              /* the subscribing one */
    uint64_t backoff_ms;   /* next reconnect's upper bound */
    uv_timer_t retry;
    uint64_t connects; /* successful connects */
} link_t;

struct pl_cluster {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_cluster_handlers_t h;
    char node[PL_ENV_NODE_MAX + 1];
    char host[256]; /* host, or the unix socket path when port == 0 */
    int port;
    link_t pub, sub;
    chan_t *chans;     /* uthash by name */
    uv_idle_t flusher; /* runs flush once at the end of a turn with changes */
    bool flush_armed;
    bool resync_pending;   /* after a reconnect: on_resync once all are confirmed */
    bool pub_lost;         /* a publish was dropped or failed: tell the others (PL_ENV_LOST) */
    int64_t lost_since_ms; /* wall clock of the first lost publish (told in the L), 0: none */
    int64_t sub_down_ms;   /* wall clock the subscribing connection was lost (on_resync) */
    peer_t *peers;         /* uthash by name */
    uv_timer_t beat;       /* heartbeat and peer check */
    bool closing;
    int open_handles;
    pl_cluster_stats_t stats;
};

static void link_connect(link_t *l);
static void flush(pl_cluster_t *cl);
static void on_nodes_message(pl_cluster_t *cl, const char *data, size_t len);

/* ---- channels ---- */

static void arm_flush(pl_cluster_t *cl);

static void on_flush(uv_idle_t *h)
{
    pl_cluster_t *cl = h->data;
    uv_idle_stop(h);
    cl->flush_armed = false;
    flush(cl);
}

static void arm_flush(pl_cluster_t *cl)
{
    if (cl->flush_armed || cl->closing)
        return;
    cl->flush_armed = true;
    uv_idle_start(&cl->flusher, on_flush);
}

/* The reply to SUBSCRIBE / UNSUBSCRIBE (one per channel) and every message
 * of a subscribed channel come here: hiredis keeps this callback per
 * channel. reply NULL: the connection is going away. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    pl_cluster_t *cl = priv;
    redisReply *reply = r;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    redisReply *type = reply->element[0], *ch = reply->element[1];
    if (type->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(type->str, "message") == 0) {
        redisReply *data = reply->element[2];
        if (data->type != REDIS_REPLY_STRING)
            return;
        if (ch->len == sizeof NODES_CHANNEL - 1 && memcmp(ch->str, NODES_CHANNEL, ch->len) == 0) {
            on_nodes_message(cl, data->str, data->len);
            return;
        }
        cl->stats.received++;
        cl->h.on_message(cl->h.ud, ch->str, ch->len, data->str, data->len);
        return;
    }
    chan_t *c = NULL;
    HASH_FIND(hh, cl->chans, ch->str, ch->len, c);
    if (c == NULL)
        return;
    bool subscribed = strcmp(type->str, "subscribe") == 0;
    if (!subscribed && strcmp(type->str, "unsubscribe") != 0)
        return;
    c->inflight = false;
    c->subscribed = subscribed;
    if (subscribed) {
        cl->stats.subscriptions++;
        if (c->want && cl->h.on_subscribed)
            cl->h.on_subscribed(cl->h.ud, c->name);
    } else if (cl->stats.subscriptions > 0) {
        cl->stats.subscriptions--;
    }
    if (c->want != c->subscribed) {
        arm_flush(cl);
    } else if (!c->want) {
        HASH_DEL(cl->chans, c);
        free(c->name);
        free(c);
    }
    /* After a reconnect: once nothing is in flight, resync. */
    if (cl->resync_pending) {
        chan_t *x, *tmp;
        HASH_ITER(hh, cl->chans, x, tmp)
        {
            if (x->inflight || x->want != x->subscribed)
                return;
        }
        cl->resync_pending = false;
        pl_log(PL_LOG_INFO, "cluster", "resubscribed channels=%" PRIu64 "; resync",
               cl->stats.subscriptions);
        if (cl->h.on_resync)
            cl->h.on_resync(cl->h.ud, cl->sub_down_ms);
    }
}

/* Sends one command for up to PL_CLUSTER_BATCH channels. */
static void send_batch(pl_cluster_t *cl, const char *verb, chan_t **list, size_t n)
{
    const char *argv[PL_CLUSTER_BATCH + 1];
    size_t argl[PL_CLUSTER_BATCH + 1];
    argv[0] = verb;
    argl[0] = strlen(verb);
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = list[i]->name;
        argl[i + 1] = strlen(list[i]->name);
        list[i]->inflight = true;
    }
    redisAsyncCommandArgv(cl->sub.ac, on_sub_reply, cl, (int)n + 1, argv, argl);
    cl->stats.sub_commands++;
}

/* Sends what differs between the wanted and the subscribed sets, batched. */
static void flush(pl_cluster_t *cl)
{
    if (cl->closing || !cl->sub.up)
        return;
    chan_t *subs[PL_CLUSTER_BATCH], *unsubs[PL_CLUSTER_BATCH];
    size_t ns = 0, nu = 0;
    chan_t *c, *tmp;
    HASH_ITER(hh, cl->chans, c, tmp)
    {
        if (c->inflight || c->want == c->subscribed) {
            if (!c->inflight && !c->want) { /* never subscribed, no longer wanted */
                HASH_DEL(cl->chans, c);
                free(c->name);
                free(c);
            }
            continue;
        }
        if (c->want) {
            subs[ns++] = c;
            if (ns == PL_CLUSTER_BATCH) {
                send_batch(cl, "SUBSCRIBE", subs, ns);
                ns = 0;
            }
        } else {
            unsubs[nu++] = c;
            if (nu == PL_CLUSTER_BATCH) {
                send_batch(cl, "UNSUBSCRIBE", unsubs, nu);
                nu = 0;
            }
        }
    }
    if (ns > 0)
        send_batch(cl, "SUBSCRIBE", subs, ns);
    if (nu > 0)
        send_batch(cl, "UNSUBSCRIBE", unsubs, nu);
}

void pl_cluster_watch(pl_cluster_t *cl, const char *channel, bool on)
{
    chan_t *c = NULL;
    HASH_FIND_STR(cl->chans, channel, c);
    if (c == NULL) {
        if (!on)
            return;
        c = pl_xcalloc(1, sizeof *c);
        c->name = pl_xstrdup(channel);
        HASH_ADD_KEYPTR(hh, cl->chans, c->name, strlen(c->name), c);
        cl->stats.wanted++;
    } else if (c->want != on) {
        if (on)
            cl->stats.wanted++;
        else
            cl->stats.wanted--;
    }
    c->want = on;
    if (c->want != c->subscribed)
        arm_flush(cl);
}

/* ---- publishing ---- */

/* A publish was lost: the others are told when the connection is back,
 * with the time from which to catch up. A failed publish was sent a little
 * before its failure shows; the receivers' margin covers that. */
static void mark_lost(pl_cluster_t *cl)
{
    /* Kept until a publish after the L is answered: an L that is lost
     * itself is sent again with the first time. */
    if (cl->lost_since_ms == 0)
        cl->lost_since_ms = pl_now_ms();
    cl->pub_lost = true;
}

/* The reply to a PUBLISH. NULL: the connection went away with the command
 * unanswered, so Redis may never have had it; an error reply: refused. */
static void on_pub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    pl_cluster_t *cl = priv;
    redisReply *reply = r;
    if (cl->closing)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cl->stats.publish_failed++;
        mark_lost(cl);
    } else if (!cl->pub_lost) {
        cl->lost_since_ms = 0; /* the L before it went through (same connection) */
    }
}

/* PUBLISH; a lost one (tracked) is told to the others when the connection
 * is back. */
static void publish(pl_cluster_t *cl, const char *channel, const char *data, size_t len,
                    bool tracked)
{
    if (!cl->pub.up) {
        if (tracked) {
            cl->stats.publish_dropped++;
            mark_lost(cl);
        }
        return;
    }
    const char *argv[3] = {"PUBLISH", channel, data};
    size_t argl[3] = {7, strlen(channel), len};
    redisAsyncCommandArgv(cl->pub.ac, tracked ? on_pub_reply : NULL, cl, 3, argv, argl);
    if (tracked)
        cl->stats.published++;
    else
        cl->stats.heartbeats++;
}

void pl_cluster_publish(pl_cluster_t *cl, const char *channel, const char *data, size_t len)
{
    publish(cl, channel, data, len, true);
}

/* ---- failure detection: heartbeats and lost-publish notices ---- */

/* since: an L's a, the wall clock of its first lost publish. */
static void publish_node_event(pl_cluster_t *cl, char kind, int64_t since)
{
    pl_buf_t e;
    pl_buf_init(&e);
    pl_env_format(&e, cl->node, kind, since, 0, 0, 0, "", 0);
    /* A lost heartbeat is no lost event (and not counted as a publish); a
     * lost notice is told again. */
    publish(cl, NODES_CHANNEL, pl_buf_head(&e), e.len, kind == PL_ENV_LOST);
    pl_buf_dispose(&e);
}

static void peer_gap(pl_cluster_t *cl, const char *node, int64_t since_ms)
{
    cl->stats.peer_gaps++;
    if (cl->h.on_peer_gap)
        cl->h.on_peer_gap(cl->h.ud, node, since_ms);
}

static void on_nodes_message(pl_cluster_t *cl, const char *data, size_t len)
{
    pl_env_t e;
    if (pl_env_parse(data, len, &e) < 0 || (e.kind != PL_ENV_HEARTBEAT && e.kind != PL_ENV_LOST)) {
        pl_log(PL_LOG_WARN, "cluster", "malformed message on " NODES_CHANNEL " len=%zu dropped",
               len);
        return;
    }
    if (e.node_len == strlen(cl->node) && memcmp(e.node, cl->node, e.node_len) == 0)
        return; /* our own */
    peer_t *p = NULL;
    HASH_FIND(hh, cl->peers, e.node, e.node_len, p);
    if (p == NULL) {
        if (HASH_COUNT(cl->peers) >= PEERS_MAX) {
            pl_log(PL_LOG_WARN, "cluster", "too many peers (%d); node=%.*s ignored", PEERS_MAX,
                   (int)e.node_len, e.node);
            return;
        }
        p = pl_xcalloc(1, sizeof *p);
        p->name = pl_xstrndup(e.node, e.node_len);
        HASH_ADD_KEYPTR(hh, cl->peers, p->name, e.node_len, p);
        cl->stats.peers++;
        pl_log(PL_LOG_INFO, "cluster", "peer node=%s joined", p->name);
    } else if (p->dead) {
        p->dead = false;
        cl->stats.peers++;
        pl_log(PL_LOG_INFO, "cluster", "peer node=%s heard again", p->name);
    }
    p->seen_ms = uv_now(cl->loop);
    p->seen_wall_ms = pl_now_ms();
    if (e.kind == PL_ENV_LOST) {
        /* a: when its first publish was lost (0 from a node that does not
         * say: about a peer timeout before now). */
        int64_t since = e.a > 0 && e.a <= p->seen_wall_ms
                            ? e.a
                            : p->seen_wall_ms - (int64_t)cl->cfg->cluster_peer_timeout_ms;
        pl_log(PL_LOG_WARN, "cluster", "peer node=%s lost publishes; catching up from the store",
               p->name);
        peer_gap(cl, p->name, since);
    }
}

/* Every heartbeat interval: say we are alive; bury the peers gone silent.
 * Only while our own subscription is whole: a node that cannot hear does
 * not judge (its reconnect resyncs anyway). */
static void on_beat(uv_timer_t *t)
{
    pl_cluster_t *cl = t->data;
    if (cl->closing)
        return;
    if (cl->pub.up)
        publish_node_event(cl, PL_ENV_HEARTBEAT, 0);
    if (!cl->sub.up || cl->resync_pending)
        return;
    uint64_t now = uv_now(cl->loop);
    uint64_t timeout = (uint64_t)cl->cfg->cluster_peer_timeout_ms;
    peer_t *p, *tmp;
    HASH_ITER(hh, cl->peers, p, tmp)
    {
        if (p->dead) {
            if (now < p->check_ms)
                continue;
            /* A recheck covers what followed the previous one. */
            int64_t since = p->seen_wall_ms;
            p->seen_wall_ms = pl_now_ms();
            peer_gap(cl, p->name, since);
            p->step_ms *= 2;
            p->check_ms = now + p->step_ms;
            if (p->step_ms > DEAD_CHECK_MAX * timeout) {
                HASH_DEL(cl->peers, p);
                free(p->name);
                free(p);
            }
            continue;
        }
        if (now - p->seen_ms < timeout)
            continue;
        pl_log(PL_LOG_WARN, "cluster",
               "peer node=%s silent for %" PRIu64 " ms; taken for dead, catching up from the store",
               p->name, now - p->seen_ms);
        p->dead = true;
        p->step_ms = timeout;
        p->check_ms = now + timeout;
        cl->stats.peers--;
        cl->stats.peers_lost++;
        int64_t since = p->seen_wall_ms;
        p->seen_wall_ms = pl_now_ms(); /* the rechecks' since */
        peer_gap(cl, p->name, since);
    }
}

/* Our subscription was down: the peers' silence meanwhile says nothing. */
static void peers_heard_now(pl_cluster_t *cl)
{
    uint64_t now = uv_now(cl->loop);
    peer_t *p, *tmp;
    HASH_ITER(hh, cl->peers, p, tmp)
    {
        p->seen_ms = now;
        p->seen_wall_ms = pl_now_ms();
    }
}

/* ---- connections ---- */

static void on_retry(uv_timer_t *t)
{
    link_connect(t->data);
}

/* Full jitter: a random wait in [backoff/2, backoff], then the bound
 * doubles up to redis_reconnect_max_ms. */
static void schedule_retry(link_t *l)
{
    pl_cluster_t *cl = l->cl;
    if (cl->closing)
        return;
    uint64_t max = (uint64_t)cl->cfg->redis_reconnect_max_ms;
    if (l->backoff_ms < BACKOFF_MIN_MS)
        l->backoff_ms = BACKOFF_MIN_MS;
    uint64_t wait = l->backoff_ms / 2 + randombytes_uniform((uint32_t)(l->backoff_ms / 2 + 1));
    l->backoff_ms = l->backoff_ms * 2 > max ? max : l->backoff_ms * 2;
    uv_timer_start(&l->retry, on_retry, wait, 0);
}

static void link_down(link_t *l)
{
    pl_cluster_t *cl = l->cl;
    bool was_up = l->up;
    l->ac = NULL; /* hiredis frees the context after this callback */
    l->up = false;
    cl->stats.connected = false;
    if (l->sub && was_up)
        cl->sub_down_ms = pl_now_ms();
    if (l->sub) {
        /* Nothing is subscribed any more; everything wanted goes out again
         * after the reconnect. */
        chan_t *c, *tmp;
        HASH_ITER(hh, cl->chans, c, tmp)
        {
            c->subscribed = false;
            c->inflight = false;
            if (!c->want) {
                HASH_DEL(cl->chans, c);
                free(c->name);
                free(c);
            }
        }
        cl->stats.subscriptions = 0;
    }
    if (was_up && !cl->closing)
        pl_log(PL_LOG_WARN, "cluster", "redis connection lost link=%s; reconnecting",
               l->sub ? "sub" : "pub");
    schedule_retry(l);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    link_t *l = ac->data;
    pl_cluster_t *cl = l->cl;
    if (status != REDIS_OK) {
        pl_log(PL_LOG_DEBUG, "cluster", "redis connect failed link=%s err=\"%s\"",
               l->sub ? "sub" : "pub", ac->errstr);
        link_down(l);
        return;
    }
    l->up = true;
    l->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_stop(&l->retry); /* the connect timeout */
    if (l->connects++ > 0)
        cl->stats.reconnects++;
    cl->stats.connected = cl->pub.up && cl->sub.up;
    pl_log(PL_LOG_INFO, "cluster", "redis connected link=%s node=%s", l->sub ? "sub" : "pub",
           cl->node);
    if (!l->sub)
        publish_node_event(cl, PL_ENV_HEARTBEAT, 0); /* the others know us at once */
    if (!l->sub && cl->pub_lost) {
        /* Publishes were lost while the connection was down: the other
         * nodes may have caught up before we committed them. */
        cl->pub_lost = false;
        publish_node_event(cl, PL_ENV_LOST, cl->lost_since_ms);
    }
    if (l->sub) {
        peers_heard_now(cl);
        if (l->connects > 1)
            cl->resync_pending = true;
        flush(cl);
        if (cl->resync_pending && HASH_COUNT(cl->chans) == 0) {
            cl->resync_pending = false;
            if (cl->h.on_resync)
                cl->h.on_resync(cl->h.ud, cl->sub_down_ms);
        }
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    link_down(ac->data);
}

static void on_connect_timeout(uv_timer_t *t)
{
    link_t *l = t->data;
    if (l->up || l->ac == NULL)
        return;
    pl_log(PL_LOG_DEBUG, "cluster", "redis connect timed out link=%s", l->sub ? "sub" : "pub");
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    redisAsyncFree(ac); /* not connected: no disconnect callback */
    schedule_retry(l);
}

static void link_connect(link_t *l)
{
    pl_cluster_t *cl = l->cl;
    if (cl->closing || l->ac != NULL)
        return;
    redisAsyncContext *ac =
        cl->port == 0 ? redisAsyncConnectUnix(cl->host) : redisAsyncConnect(cl->host, cl->port);
    if (ac == NULL || ac->err) {
        pl_log(PL_LOG_DEBUG, "cluster", "redis connect err=\"%s\"", ac ? ac->errstr : "oom");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    if (uvev_attach(ac, cl->loop) != REDIS_OK) {
        pl_log(PL_LOG_DEBUG, "cluster", "redis attach failed fd=%d", ac->c.fd);
        redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    if (cl->port != 0)
        redisEnableKeepAlive(&ac->c); /* a dead peer is noticed without traffic */
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    /* A connect that neither succeeds nor fails (a silent host) is given
     * up after CONNECT_TIMEOUT_MS. */
    uv_timer_start(&l->retry, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

/* ---- life ---- */

static int parse_addr(pl_cluster_t *cl, const char *addr)
{
    if (strchr(addr, '/') != NULL) {
        if (strlen(addr) >= sizeof cl->host)
            return PL_EINVAL;
        snprintf(cl->host, sizeof cl->host, "%s", addr);
        cl->port = 0;
        return 0;
    }
    char host[64];
    int port;
    if (pl_config_split_listen(addr, host, &port) < 0 || port <= 0)
        return PL_EINVAL;
    snprintf(cl->host, sizeof cl->host, "%s", host);
    cl->port = port;
    return 0;
}

static void link_init(pl_cluster_t *cl, link_t *l, bool sub)
{
    l->cl = cl;
    l->sub = sub;
    l->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(cl->loop, &l->retry);
    l->retry.data = l;
    cl->open_handles++;
}

int pl_cluster_new(uv_loop_t *loop, const pl_config_t *cfg, const pl_cluster_handlers_t *h,
                   pl_cluster_t **out)
{
    pl_cluster_t *cl = pl_xcalloc(1, sizeof *cl);
    cl->loop = loop;
    cl->cfg = cfg;
    cl->h = *h;
    if (cfg->node_id && cfg->node_id[0]) {
        snprintf(cl->node, sizeof cl->node, "%s", cfg->node_id);
    } else {
        char host[48] = "node";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(cl->node, sizeof cl->node, "%s-%ld", host, (long)getpid());
    }
    if (!pl_env_node_ok(cl->node, strlen(cl->node))) {
        pl_log(PL_LOG_ERROR, "cluster", "bad node_id \"%s\" (1-64 of [A-Za-z0-9._:-])", cl->node);
        free(cl);
        return PL_EINVAL;
    }
    if (parse_addr(cl, cfg->redis) < 0) {
        pl_log(PL_LOG_ERROR, "cluster", "bad redis address \"%s\" (HOST:PORT or a path)",
               cfg->redis);
        free(cl);
        return PL_EINVAL;
    }
    uv_idle_init(loop, &cl->flusher);
    cl->flusher.data = cl;
    cl->open_handles++;
    uv_timer_init(loop, &cl->beat);
    cl->beat.data = cl;
    cl->open_handles++;
    uint64_t beat = (uint64_t)cfg->cluster_heartbeat_ms;
    uv_timer_start(&cl->beat, on_beat, beat, beat);
    pl_cluster_watch(cl, NODES_CHANNEL, true);
    link_init(cl, &cl->pub, false);
    link_init(cl, &cl->sub, true);
    link_connect(&cl->pub);
    link_connect(&cl->sub);
    pl_log(PL_LOG_INFO, "cluster", "node=%s redis=%s", cl->node, cfg->redis);
    *out = cl;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    pl_cluster_t *cl = h->data; /* every handle's data is cl once closing */
    if (--cl->open_handles > 0)
        return;
    chan_t *c, *tmp;
    HASH_ITER(hh, cl->chans, c, tmp)
    {
        HASH_DEL(cl->chans, c);
        free(c->name);
        free(c);
    }
    peer_t *p, *ptmp;
    HASH_ITER(hh, cl->peers, p, ptmp)
    {
        HASH_DEL(cl->peers, p);
        free(p->name);
        free(p);
    }
    free(cl);
}

void pl_cluster_free(pl_cluster_t *cl)
{
    if (cl == NULL)
        return;
    cl->closing = true;
    link_t *links[2] = {&cl->pub, &cl->sub};
    for (int i = 0; i < 2; i++) {
        redisAsyncContext *ac = links[i]->ac;
        links[i]->ac = NULL;
        links[i]->up = false;
        if (ac != NULL)
            redisAsyncFree(ac); /* runs on_disconnect: closing, so no retry */
    }
    cl->pub.retry.data = cl->sub.retry.data = cl;
    uv_close((uv_handle_t *)&cl->flusher, on_handle_closed);
    uv_close((uv_handle_t *)&cl->beat, on_handle_closed);
    uv_close((uv_handle_t *)&cl->pub.retry, on_handle_closed);
    uv_close((uv_handle_t *)&cl->sub.retry, on_handle_closed);
}

const char *pl_cluster_node(const pl_cluster_t *cl)
{
    return cl->node;
}

bool pl_cluster_ready(const pl_cluster_t *cl)
{
    return cl->pub.up && cl->sub.up && !cl->resync_pending;
}

void pl_cluster_get_stats(const pl_cluster_t *cl, pl_cluster_stats_t *out)
{
    *out = cl->stats;
    out->connected = cl->pub.up && cl->sub.up;
}

void *pl_cluster__pub(pl_cluster_t *cl)
{
    return cl->pub.up && !cl->closing ? cl->pub.ac : NULL;
}

uint64_t pl_cluster__pub_epoch(const pl_cluster_t *cl)
{
    return cl->pub.connects;
}
