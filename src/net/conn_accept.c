/* SPDX-License-Identifier: MIT */
/* conn_accept.c -- a connection's arrival: accepting on a listener (the
 * per-address cap, the refusal of one too many), adopting a socket handed
 * over from another loop with its buffered bytes and TLS session, and
 * taking the TLS session off a connection that moves (conn.c holds the
 * rest of the lifecycle). */
#include "net/net_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"

static void on_reject_close(uv_handle_t *h)
{
    pl_server_t *srv = h->data;
    free(h);
    srv->nrejects--;
    if (srv->shutting_down)
        pl_server__maybe_done(srv);
}

static void free_on_close(uv_handle_t *h)
{
    free(h);
}

/* The peer address is kept as 16 raw bytes (IPv4 as v4-mapped IPv6) and
 * formatted only when a log line or a request needs it: 64 bytes of text
 * per connection were more than a tenth of an idle WebSocket's cost. */
static void peer_store(pl_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        c->peer.b[10] = c->peer.b[11] = 0xFF;
        memcpy(c->peer.b + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        memcpy(c->peer.b, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
}

char *pl_net__peer_format(const pl_conn_t *c, char out[PL_NET_PEER_LEN])
{
    return pl_addr_format(&c->peer, out);
}

/* Registers a new connection on srv (accepted or adopted); its peer
 * address is stored already. The owner's on_accept installs its protocol. */
static void conn_setup(pl_server_t *srv, pl_conn_t *c)
{
    c->srv = srv;
    c->id = srv->loops ? pl_loops__next_id(srv) : ++srv->next_id;
    if (srv->io) /* only an I/O loop's connections are seen by another loop */
        c->x = pl_xcalloc(1, sizeof *c->x);
    pl_buf_init(&c->rbuf);
    srv->h.on_accept(srv->h.accept_ud, c);
    PL_ASSERT(c->proto != NULL);
    c->last_rx = uv_now(srv->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    pl_loops__count_conn(srv, +1);
}

/* Closes an accepted handle that was never set up as a connection; the
 * server waits for it during shutdown (nrejects). */
static void reject_close(pl_server_t *srv, uv_tcp_t *t)
{
    t->data = srv;
    srv->nrejects++;
    uv_close((uv_handle_t *)t, on_reject_close);
}

/* A client address over max_connections_per_ip: the protocol answers at
 * once (http: 429), before any request is read (the request line would cost a connection slot
 * to wait for), then close gracefully: the connection lingers (reading and
 * dropping input) until the client's FIN or PL_NET_LINGER_MS, so the answer
 * is not destroyed by a RST when the client's request arrives after it. It
 * is not counted for its address, only against max_connections, which bounds
 * how many such lingering refusals there can be. */
static void refuse_per_ip(pl_server_t *srv, pl_conn_t *c, uint32_t open)
{
    conn_setup(srv, c);
    /* A TLS client gets no answer it could read (no session yet): it sees
     * the connection close during its handshake. */
    if (c->proto->refuse && !c->tls)
        c->proto->refuse(c);
    uint64_t quiet = 0;
    int level = pl_log_gate(&srv->refused_log, PL_LOG_INFO, uv_hrtime(), PL_LOG_GATE_NS, &quiet);
    char peer[PL_NET_PEER_LEN];
    pl_log(level, "net",
           "connection refused: too many from one address peer=%s open=%u "
           "max_connections_per_ip=%" PRId64 " unlogged=%" PRIu64,
           pl_net__peer_format(c, peer), open, srv->cfg->max_connections_per_ip, quiet);
    pl_net__finish(c);
}

void pl_net__accept(pl_server_t *srv, bool tls)
{
    uv_stream_t *listener = (uv_stream_t *)(tls ? srv->tls_listener : &srv->listener);
    if (pl_loops__nconns(srv) >= (size_t)srv->cfg->max_connections || srv->shutting_down) {
        /* Accept and drop, so the backlog does not fill with dead peers. */
        uv_tcp_t *t = pl_xmalloc(sizeof *t);
        uv_tcp_init(srv->loop, t);
        uint64_t quiet = 0;
        if (uv_accept(listener, (uv_stream_t *)t) == 0 && !srv->shutting_down) {
            int level =
                pl_log_gate(&srv->refused_log, PL_LOG_WARN, uv_hrtime(), PL_LOG_GATE_NS, &quiet);
            pl_log(level, "net",
                   "connection refused: max_connections=%" PRId64 " reached unlogged=%" PRIu64,
                   srv->cfg->max_connections, quiet);
        }
        reject_close(srv, t);
        return;
    }
    pl_conn_t *c = pl_xcalloc(1, sizeof *c);
    uv_tcp_init(srv->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        /* An initialized handle must be closed even if accept failed. */
        uv_close((uv_handle_t *)&c->tcp, free_on_close);
        return;
    }
    if (tls && (c->tls = pl_tls_conn_new(srv->tls_ctx, uv_now(srv->loop))) == NULL) {
        pl_log(PL_LOG_WARN, "tls", "cannot create a session: out of memory");
        uv_close((uv_handle_t *)&c->tcp, free_on_close);
        return;
    }
    /* Counted by the address accepted here, kept in c->ipe: the WebSocket
     * handshake may later replace c->peer with a forwarded address. */
    peer_store(c);
    uint32_t open;
    if (pl_net__peers_admit(srv->peers, &c->peer, &c->ipe, &open) < 0) {
        refuse_per_ip(srv, c, open); /* a connection of its own, closing */
        return;
    }
    conn_setup(srv, c);
    srv->stats.connections_accepted++;
    char peer[PL_NET_PEER_LEN]; /* formatted only if the line is logged */
    pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " accepted peer=%s tls=%d", c->id,
           pl_net__peer_format(c, peer), c->tls != NULL);
    pl_net__read(c, true);
}

void pl_net__adopt(pl_server_t *srv, int fd, const void *p, size_t n, bool eof, pl_peer_ent_t *ipe,
                   pl_tls_conn_t *tls)
{
    /* Admitted against max_connections (and counted per address: ipe) when
     * its loop accepted it; it only moves here (counted on both loops until
     * the old handle's close). */
    if (srv->shutting_down) {
        pl_net__peers_release(srv->peers, ipe);
        pl_tls_conn_free(tls);
        close(fd);
        return;
    }
    pl_conn_t *c = pl_xcalloc(1, sizeof *c);
    uv_tcp_init(srv->loop, &c->tcp);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
        pl_log(PL_LOG_WARN, "net", "cannot adopt a connection err=%s", uv_strerror(rc));
        pl_net__peers_release(srv->peers, ipe);
        pl_tls_conn_free(tls);
        close(fd);
        uv_close((uv_handle_t *)&c->tcp, free_on_close);
        return;
    }
    peer_store(c);
    c->ipe = ipe;
    /* A TLS connection moves with its session (handshake done on the I/O
     * loop; p is plaintext already decrypted): the records it still holds
     * either way are handled here from now on. */
    c->tls = tls;
    c->tls_up = tls && pl_tls_established(tls);
    conn_setup(srv, c);
    c->peer_eof = eof;
    char peer[PL_NET_PEER_LEN]; /* formatted only if the line is logged */
    pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " adopted peer=%s bytes=%zu", c->id,
           pl_net__peer_format(c, peer), n);
    pl_buf_append(&c->rbuf, p, n);
    /* As if just read: parse, then read on (the protocol decides). */
    c->proto->read(c);
    if (!c->closing && c->rbuf.len == 0)
        pl_buf_reset(&c->rbuf, 0);
    if (!c->closing && c->tls) {
        /* Records the session holds (pipelined requests) and what it has to
         * send (session tickets, the end of a TLS 1.2 handshake): at the
         * end of this turn, as after a read. */
        c->tls_resume = pl_tls_in_pending(c->tls);
        pl_net__schedule(c);
    }
}

pl_tls_conn_t *pl_net__tls_take(pl_conn_t *c, bool *ok)
{
    *ok = true;
    pl_tls_conn_t *t = c->tls;
    if (t == NULL)
        return NULL;
    /* A ciphertext write libuv has not finished would leave a hole in the
     * record stream once the socket moves. It cannot happen for a request
     * the peer sent after the handshake (it had to read the server's whole
     * flight first, so libuv's queue is empty even when the write's
     * callback has not run yet): this is the defensive branch. */
    if (c->writing && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) {
        *ok = false;
        return NULL;
    }
    c->tls = NULL;
    return t;
}
