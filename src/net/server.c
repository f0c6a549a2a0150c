/* SPDX-License-Identifier: MIT */
/* server.c -- the listener, the per-server sweep timer (the protocols' timeouts), the
 * end-of-turn flush handles, graceful shutdown and stats. */
#include "net/net_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"

static void on_connection(uv_stream_t *l, int status)
{
    pl_server_t *srv = l->data;
    if (status < 0) {
        /* Out of file descriptors (EMFILE) repeats for every pending
         * connection (libuv accepts and closes each one): one line a second. */
        int level =
            pl_log_gate(&srv->accept_err_log, PL_LOG_WARN, uv_hrtime(), PL_LOG_GATE_NS, NULL);
        pl_log(level, "net", "accept failed err=%s", uv_strerror(status));
        return;
    }
    pl_net__accept(srv, (uv_tcp_t *)l == srv->tls_listener);
}

/* Prepare runs before the loop blocks for I/O (catching frames queued by
 * timers and other callbacks), check right after I/O callbacks (catching
 * frames queued while handling reads). Both coalesce: one writev per
 * connection per turn. */
static void on_prepare(uv_prepare_t *h)
{
    pl_server_t *srv = h->data;
    pl_net__flush_all(srv);
    if (srv->loops)
        pl_loops__turn(srv);
}

static void on_check(uv_check_t *h)
{
    pl_server_t *srv = h->data;
    pl_net__flush_all(srv);
    if (srv->loops)
        pl_loops__turn(srv);
}

static void on_sweep(uv_timer_t *t)
{
    pl_server_t *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    bool past_deadline = srv->shutting_down && now >= srv->shutdown_deadline;
    for (pl_conn_t *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (past_deadline || (c->shut && now >= c->deadline)) {
            pl_net__abort(c);
            continue;
        }
        if (c->tls && !c->tls_up &&
            now - pl_tls_born(c->tls) >= (uint64_t)srv->cfg->tls_handshake_timeout_ms) {
            /* Slowloris on the handshake: no protocol has seen a byte yet. */
            char peer[PL_NET_PEER_LEN];
            pl_log(PL_LOG_DEBUG, "tls", "conn=%" PRIu64 " peer=%s handshake timeout", c->id,
                   pl_net__peer_format(c, peer));
            srv->stats.tls_handshake_failures++;
            pl_net__abort(c);
            continue;
        }
        c->proto->sweep(c, now);
    }
}

/* Fine enough for the protocols' timers (their config keys; net only
 * reads them). */
static uint64_t sweep_period(const pl_config_t *cfg)
{
    int64_t p = cfg->http_idle_timeout_ms;
    p = PL_MIN(p, cfg->ws_ping_interval_ms);
    p = PL_MIN(p, cfg->ws_idle_timeout_ms);
    if (cfg->tls_listen[0])
        p = PL_MIN(p, cfg->tls_handshake_timeout_ms);
    p /= 4;
    return (uint64_t)PL_MAX(PL_MIN(p, 1000), 25);
}

static void free_srv(uv_handle_t *h)
{
    free(h->data);
}

int pl_server__addr(const pl_config_t *cfg, struct sockaddr_storage *ss)
{
    char host[64];
    int port;
    if (pl_config_split_listen(cfg->listen, host, &port) != 0)
        return UV_EINVAL;
    if (strchr(host, ':'))
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

int pl_server_new(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h,
                  pl_server_t **out)
{
    int n = pl_loops__count(cfg);
    if (n > 1)
        return pl_loops__new(loop, cfg, h, n, out);
    int rc = pl_server__new_fd(loop, cfg, h, -1, out);
    if (rc == 0)
        (*out)->peers = pl_net__peers_new(cfg);
    return rc;
}

int pl_server__new_fd(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h,
                      int fd, pl_server_t **out)
{
    int rc;
    struct sockaddr_storage ss;
    if (fd < 0 && (rc = pl_server__addr(cfg, &ss)) != 0)
        return rc;

    pl_server_t *srv = pl_xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = cfg;
    srv->h = *h;
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->open_handles = 1;
    if (fd >= 0 && (rc = uv_tcp_open(&srv->listener, fd)) != 0)
        close(fd);
    else if (fd < 0)
        rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc != 0 || (rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection)) != 0) {
        /* The handle is closed asynchronously; free srv from its callback. */
        uv_close((uv_handle_t *)&srv->listener, free_srv);
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);

    uv_timer_init(loop, &srv->sweep);
    srv->sweep.data = srv;
    uint64_t period = sweep_period(cfg);
    uv_timer_start(&srv->sweep, on_sweep, period, period);
    uv_unref((uv_handle_t *)&srv->sweep);
    uv_prepare_init(loop, &srv->prep);
    srv->prep.data = srv;
    uv_prepare_start(&srv->prep, on_prepare);
    uv_unref((uv_handle_t *)&srv->prep);
    uv_check_init(loop, &srv->check);
    srv->check.data = srv;
    uv_check_start(&srv->check, on_check);
    uv_unref((uv_handle_t *)&srv->check);
    srv->open_handles = 4;
    if (fd < 0)
        pl_log(PL_LOG_INFO, "net", "listening on %s port=%d", cfg->listen, srv->port);
    *out = srv;
    return 0;
}

int pl_server_port(const pl_server_t *srv)
{
    return srv->port;
}

static void on_handle_closed(uv_handle_t *h)
{
    pl_server_t *srv = h->data;
    if (--srv->open_handles == 0 && srv->shutdown_cb) {
        pl_log(PL_LOG_INFO, "net", "server stopped");
        void (*cb)(void *) = srv->shutdown_cb;
        srv->shutdown_cb = NULL;
        cb(srv->shutdown_arg);
    }
}

void pl_server__maybe_done(pl_server_t *srv)
{
    if (srv->closing_handles || srv->nconns > 0 || srv->nrejects > 0)
        return;
    /* The core loop stays up until every I/O loop has finished: their
     * connections' close events still reach the upper layer here. */
    if (srv->loops && !srv->io && !pl_loops__finished(srv))
        return;
    srv->closing_handles = true;
    if (srv->loops) {
        pl_loops__turn(srv); /* the last close events: prepare will not run again */
        if (!srv->io) {
            srv->open_handles++;
            uv_close(pl_loops__handle(srv), on_handle_closed);
        }
    }
    uv_close((uv_handle_t *)&srv->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&srv->prep, on_handle_closed);
    uv_close((uv_handle_t *)&srv->check, on_handle_closed);
}

void pl_server_shutdown(pl_server_t *srv, void (*cb)(void *arg), void *arg)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = true;
    srv->shutdown_cb = cb;
    srv->shutdown_arg = arg;
    srv->shutdown_deadline = uv_now(srv->loop) + PL_NET_SHUTDOWN_MS;
    pl_log(PL_LOG_INFO, "net", "shutting down conns=%zu", srv->nconns);
    if (srv->loops && !srv->io)
        pl_loops__shutdown(srv);
    uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    if (srv->tls_listener)
        uv_close((uv_handle_t *)srv->tls_listener, on_handle_closed);
    /* The sweep timer now enforces the deadline: keep the loop alive. */
    uv_ref((uv_handle_t *)&srv->sweep);
    for (pl_conn_t *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        c->proto->shutdown(c);
    }
    pl_server__maybe_done(srv);
}

static void on_discard_closed(uv_handle_t *h)
{
    pl_server_t *srv = h->data;
    if (--srv->open_handles == 0)
        free(srv);
}

void pl_server__discard(pl_server_t *srv)
{
    srv->open_handles = 4;
    uv_close((uv_handle_t *)&srv->listener, on_discard_closed);
    uv_close((uv_handle_t *)&srv->sweep, on_discard_closed);
    uv_close((uv_handle_t *)&srv->prep, on_discard_closed);
    uv_close((uv_handle_t *)&srv->check, on_discard_closed);
}

void pl_server_free(pl_server_t *srv)
{
    if (srv) {
        free(srv->tls_listener);
        SSL_CTX_free(srv->tls_ctx);
    }
    if (srv && srv->loops && !srv->io)
        pl_loops__free(srv);
    if (srv && !srv->io)
        pl_net__peers_free(srv->peers);
    free(srv);
}

void pl_server_get_stats(const pl_server_t *srv, pl_server_stats_t *out)
{
    *out = srv->stats;
    if (srv->loops)
        pl_loops__stats(srv, out);
    out->frames_encoded = pl_net__frames_encoded();
}

int pl_server_loop_count(const pl_server_t *srv)
{
    return srv->loops ? pl_loops__count(srv->cfg) : 1;
}

void pl_server_get_loop_stats(const pl_server_t *srv, int k, pl_server_stats_t *out)
{
    pl_loops__loop_stats(srv, k, out);
    out->frames_encoded = pl_net__frames_encoded();
}

/* ---- built-in TLS ---- */

/* Resolves a "HOST:PORT" listen string into ss. */
static int tls_addr(const char *listen, struct sockaddr_storage *ss)
{
    char host[64];
    int port;
    if (pl_config_split_listen(listen, host, &port) != 0)
        return UV_EINVAL;
    return strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

int pl_server__tls_listen(pl_server_t *srv, int fd, const struct sockaddr_storage *ss)
{
    /* Closed with the server's handles (open_handles) at shutdown; freed
     * with the server. */
    srv->tls_listener = pl_xcalloc(1, sizeof *srv->tls_listener);
    uv_tcp_init(srv->loop, srv->tls_listener);
    srv->tls_listener->data = srv;
    srv->open_handles++;
    int rc;
    if (fd >= 0) {
        if ((rc = uv_tcp_open(srv->tls_listener, fd)) != 0)
            close(fd);
    } else {
        rc = uv_tcp_bind(srv->tls_listener, (const struct sockaddr *)ss, 0);
    }
    if (rc != 0 || (rc = uv_listen((uv_stream_t *)srv->tls_listener, 511, on_connection)) != 0)
        return rc; /* the caller shuts the server down, which closes the handle */
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(srv->tls_listener, (struct sockaddr *)&bound, &blen);
    srv->tls_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int pl_server_tls_start(pl_server_t *srv, char *err, size_t errlen)
{
    const pl_config_t *cfg = srv->cfg;
    if (cfg->tls_listen[0] == '\0')
        return 0;
    PL_ASSERT(srv->tls_listener == NULL && !srv->io);
    int rc = pl_tls_ctx_load(cfg->tls_cert, cfg->tls_key, &srv->tls_ctx, err, errlen);
    if (rc != 0)
        return rc;
    struct sockaddr_storage ss;
    if ((rc = tls_addr(cfg->tls_listen, &ss)) != 0) {
        snprintf(err, errlen, "tls_listen '%s' is not HOST:PORT (%s)", cfg->tls_listen,
                 uv_strerror(rc));
        return rc;
    }
    /* Several loops: one SO_REUSEPORT socket per loop, like the plain
     * listener, so TLS connections are spread over the loops too. */
    if (srv->loops)
        rc = pl_loops__tls_start(srv, &ss);
    else
        rc = pl_server__tls_listen(srv, -1, &ss);
    if (rc != 0) {
        snprintf(err, errlen, "tls_listen '%s': %s", cfg->tls_listen, uv_strerror(rc));
        return rc;
    }
    pl_log(PL_LOG_INFO, "tls", "listening on %s port=%d cert=%s", cfg->tls_listen, srv->tls_port,
           cfg->tls_cert);
    return 0;
}

int pl_server_tls_reload(pl_server_t *srv, char *err, size_t errlen)
{
    if (srv->tls_ctx == NULL)
        return 0;
    SSL_CTX *ctx;
    int rc = pl_tls_ctx_load(srv->cfg->tls_cert, srv->cfg->tls_key, &ctx, err, errlen);
    if (rc != 0)
        return rc;
    /* Open sessions hold a reference to the old context (SSL_new): it lives
     * until the last of them closes. */
    SSL_CTX_free(srv->tls_ctx);
    srv->tls_ctx = ctx;
    /* The I/O loops get their own reference through their queues (no
     * shared pointer is ever written while another loop reads it). */
    if (srv->loops)
        pl_loops__tls_ctx(srv, ctx);
    pl_log(PL_LOG_INFO, "tls", "certificate reloaded cert=%s", srv->cfg->tls_cert);
    return 0;
}

int pl_server_tls_port(const pl_server_t *srv)
{
    return srv->tls_port;
}
