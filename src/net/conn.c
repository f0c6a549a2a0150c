/* SPDX-License-Identifier: MIT */
/* conn.c -- TCP connection lifecycle after accept (conn_accept.c): read
 * into the connection's buffer and hand it to the protocol's reader
 * (c->proto), one ordered write
 * queue per connection flushed once per loop turn (uv_try_write, then
 * uv_write with all pending buffers), graceful close with lingering, and
 * freeing in the uv_close callback only. */
#include "net/net_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"

#define READ_CHUNK 65536
#define MAX_IOV 128

/* ---- write queue ---- */

/* The core loop reads the queue size of an I/O loop's connections through
 * this mirror (loops.c); a relaxed store is a plain move. */
static inline void mirror_queued(pl_conn_t *c)
{
    if (c->srv->io)
        atomic_store_explicit(&c->x->queued, c->queued, memory_order_relaxed);
}

void pl_net__queue(pl_conn_t *c, pl_frame_t *f)
{
    if (c->wq_tail == c->wq_cap) {
        /* Compact before growing: the consumed prefix is dead space. */
        if (c->wq_head > 0) {
            memmove(c->wq, c->wq + c->wq_head, (c->wq_tail - c->wq_head) * sizeof *c->wq);
            c->wq_tail -= c->wq_head;
            c->wq_head = 0;
        }
        if (c->wq_tail == c->wq_cap) {
            /* Start small: an idle connection keeps its array, and most
             * see a handful of frames per turn; busy ones double fast. */
            c->wq_cap = c->wq_cap ? c->wq_cap * 2 : 4;
            c->wq = pl_xrealloc(c->wq, c->wq_cap * sizeof *c->wq);
        }
    }
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    c->wq[c->wq_tail++] = f;
    c->queued += f->len;
    mirror_queued(c);
    pl_net__schedule(c);
}

void pl_net__queue_bytes(pl_conn_t *c, const void *p, size_t n)
{
    pl_frame_t *f = pl_frame_new(NULL, 0, p, n);
    pl_net__queue(c, f);
    pl_frame_unref(f);
}

/* Marks n bytes from the front of the queue as written (waited: by a
 * uv_write that had to wait, not uv_try_write). */
static void advance(pl_conn_t *c, size_t n, bool waited)
{
    if (n > 0 && c->proto && c->proto->progress)
        c->proto->progress(c, n, waited);
    c->queued -= n;
    mirror_queued(c);
    while (n > 0 && c->wq_head < c->wq_tail) {
        pl_frame_t *f = c->wq[c->wq_head];
        size_t left = f->len - c->wq_off;
        if (n < left) {
            c->wq_off += n;
            return;
        }
        n -= left;
        c->wq_off = 0;
        c->wq_head++;
        pl_frame_unref(f);
    }
    /* Zero-length entries at the head are written trivially. */
    while (c->wq_head < c->wq_tail && c->wq[c->wq_head]->len == 0)
        pl_frame_unref(c->wq[c->wq_head++]);
    if (c->wq_head == c->wq_tail)
        c->wq_head = c->wq_tail = 0;
}

void pl_net__drop_unsent(pl_conn_t *c)
{
    /* Entries in the running uv_write (or partly written) must stay: their
     * bytes are committed to the stream. Everything after them goes. */
    size_t keep = c->wq_head + (c->writing ? c->inflight_items : (c->wq_off ? 1 : 0));
    for (size_t i = keep; i < c->wq_tail; i++) {
        c->queued -= c->wq[i]->len;
        pl_frame_unref(c->wq[i]);
    }
    c->wq_tail = keep;
    mirror_queued(c);
}

void pl_net__queue_trim(pl_conn_t *c)
{
    /* Only an empty queue with no write in flight: the array is then dead
     * weight (the next queued frame allocates a small one again). */
    if (c->wq == NULL || c->wq_head != c->wq_tail || c->writing)
        return;
    free(c->wq);
    c->wq = NULL;
    c->wq_head = c->wq_tail = c->wq_cap = 0;
}

static void free_queue(pl_conn_t *c)
{
    for (size_t i = c->wq_head; i < c->wq_tail; i++)
        pl_frame_unref(c->wq[i]);
    free(c->wq);
    c->wq = NULL;
    c->wq_head = c->wq_tail = c->wq_cap = c->queued = 0;
}

static size_t fill_bufs(pl_conn_t *c, uv_buf_t *bufs, size_t *bytes)
{
    size_t n = 0;
    *bytes = 0;
    for (size_t i = c->wq_head; i < c->wq_tail && n < MAX_IOV; i++) {
        pl_frame_t *f = c->wq[i];
        size_t off = i == c->wq_head ? c->wq_off : 0;
        bufs[n++] = uv_buf_init((char *)f->data + off, (unsigned)(f->len - off));
        *bytes += f->len - off;
    }
    return n;
}

static void start_shutdown(pl_conn_t *c);
static void flush_conn(pl_conn_t *c);
static void tls_flush(pl_conn_t *c, bool waited);

static void drained(pl_conn_t *c)
{
    if (c->closing)
        return;
    if (c->close_after_write) {
        start_shutdown(c);
        return;
    }
    if (c->proto->drained)
        c->proto->drained(c);
}

/* Write and shutdown requests are allocated per use rather than embedded in
 * pl_conn_t (272 bytes an idle connection never touches): most flushes
 * finish in uv_try_write and need no request at all. libuv runs a request's
 * callback (with UV_ECANCELED if the handle closes) before the handle's
 * close callback, so freeing it in its callback is always safe. */
typedef struct {
    uv_write_t req;
    size_t bytes; /* in this write */
} write_req_t;

static void on_write(uv_write_t *req, int status)
{
    pl_conn_t *c = req->data;
    size_t bytes = ((write_req_t *)req)->bytes;
    free(req);
    c->writing = false;
    c->inflight_items = 0;
    if (status < 0) {
        if (!c->closing)
            pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " write failed err=%s", c->id,
                   uv_strerror(status));
        pl_net__abort(c);
        return;
    }
    if (c->tls) {
        tls_flush(c, true); /* bytes: ciphertext, already taken off the queue */
        return;
    }
    advance(c, bytes, true);
    if (c->wq_head < c->wq_tail)
        flush_conn(c);
    else
        drained(c);
}

static void flush_conn(pl_conn_t *c)
{
    if (c->closing || c->writing)
        return;
    if (c->tls) {
        tls_flush(c, false);
        return;
    }
    if (c->wq_head == c->wq_tail) {
        drained(c);
        return;
    }
    uv_buf_t bufs[MAX_IOV];
    size_t bytes;
    size_t n = fill_bufs(c, bufs, &bytes);
    /* Try the fast path first: most of the time the socket buffer has room
     * and the whole batch leaves in one writev without a write request. */
    c->srv->stats.writes++;
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
    if (r < 0 && r != UV_EAGAIN) {
        pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " write failed err=%s", c->id, uv_strerror(r));
        pl_net__abort(c);
        return;
    }
    if (r > 0)
        advance(c, (size_t)r, false);
    if (c->wq_head == c->wq_tail) {
        drained(c);
        return;
    }
    n = fill_bufs(c, bufs, &bytes);
    c->srv->stats.writes++;
    write_req_t *wreq = pl_xmalloc(sizeof *wreq);
    wreq->req.data = c;
    wreq->bytes = bytes;
    r = uv_write(&wreq->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write);
    if (r < 0) {
        free(wreq);
        pl_net__abort(c);
        return;
    }
    c->writing = true;
    c->inflight_items = (uint32_t)n;
}

void pl_net__schedule(pl_conn_t *c)
{
    if (c->in_flush || c->closing)
        return;
    pl_server_t *srv = c->srv;
    c->in_flush = true;
    c->fprev = NULL;
    c->fnext = srv->flush_head;
    if (srv->flush_head)
        srv->flush_head->fprev = c;
    srv->flush_head = c;
}

static void unschedule(pl_conn_t *c)
{
    if (!c->in_flush)
        return;
    if (c->fprev)
        c->fprev->fnext = c->fnext;
    else
        c->srv->flush_head = c->fnext;
    if (c->fnext)
        c->fnext->fprev = c->fprev;
    c->in_flush = false;
    c->fprev = c->fnext = NULL;
}

static void tls_input(pl_conn_t *c);

void pl_net__flush_all(pl_server_t *srv)
{
    /* A resumed reader may schedule more work; loop until quiet. */
    while (srv->flush_head) {
        pl_conn_t *c = srv->flush_head;
        unschedule(c);
        if (c->closing)
            continue;
        if (c->need_resume) {
            c->need_resume = false;
            c->proto->read(c);
        }
        if (c->tls_resume && !c->closing) {
            c->tls_resume = false;
            tls_input(c);
        }
        flush_conn(c);
    }
}

/* ---- closing ---- */

static void on_close(uv_handle_t *h)
{
    pl_conn_t *c = (pl_conn_t *)h;
    pl_server_t *srv = c->srv;
    if (c->opened) {
        c->opened = false;
        if (srv->h.on_close)
            srv->h.on_close(srv->h.ud, c);
    }
    if (c->proto->closed)
        c->proto->closed(c);
    c->proto = NULL; /* the loops may still post to c: nothing reaches the protocol */
    c->proto_data = NULL;
    pl_tls_conn_free(c->tls);
    c->tls = NULL;
    unschedule(c);
    free_queue(c);
    pl_buf_dispose(&c->rbuf);
    pl_net__peers_release(srv->peers, c->ipe);
    c->ipe = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pl_loops__count_conn(srv, -1);
    pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " closed", c->id);
    pl_loops__conn_free(c);
    if (srv->shutting_down)
        pl_server__maybe_done(srv);
}

void pl_net__abort(pl_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    pl_conn_t *c = req->data;
    free(req);
    if (c->closing)
        return;
    /* The peer already finished: nothing left to wait for. */
    if (status < 0 || c->peer_eof)
        pl_net__abort(c);
}

static bool tls_send(pl_conn_t *c, bool waited);

static void start_shutdown(pl_conn_t *c)
{
    if (c->shut || c->closing)
        return;
    c->shut = true;
    c->deadline = uv_now(c->srv->loop) + PL_NET_LINGER_MS;
    if (c->tls) {
        /* close_notify first (RFC 8446 6.1); uv_shutdown waits for it. */
        pl_tls_close_notify(c->tls);
        tls_send(c, false);
        if (c->closing)
            return;
    }
    uv_shutdown_t *sreq = pl_xmalloc(sizeof *sreq);
    sreq->data = c;
    if (uv_shutdown(sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(sreq);
        pl_net__abort(c);
        return;
    }
    /* Keep reading (and discarding) until the peer's FIN: closing with
     * unread input would send a RST that can destroy our last response in
     * the peer's receive buffer. */
    if (!c->peer_eof)
        pl_net__read(c, true);
}

void pl_net__finish(pl_conn_t *c)
{
    if (c->closing || c->close_after_write)
        return;
    c->close_after_write = true;
    if (!c->writing && c->wq_head == c->wq_tail)
        start_shutdown(c);
    else
        pl_net__schedule(c);
}

/* ---- reading ---- */

/* Reads land in the loop's shared buffer whenever the connection has no
 * leftovers, so an idle connection owns no read buffer at all; only the tail
 * of a partial frame or request is copied into c->rbuf (and freed again once
 * it is consumed). libuv calls on_alloc and on_read back to back for one
 * handle, so one shared buffer per loop is enough. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    pl_conn_t *c = (pl_conn_t *)h;
    if (c->rbuf.len == 0 || c->tls) { /* TLS: the ciphertext is copied into its BIO at once */
        buf->base = c->srv->rbuf;
        buf->len = sizeof c->srv->rbuf;
        return;
    }
    buf->base = pl_buf_reserve(&c->rbuf, READ_CHUNK);
    buf->len = READ_CHUNK;
}

/* Parses nread bytes that are in the shared buffer through a borrowed view
 * of it as c->rbuf, then keeps only what was not consumed. The parsers only
 * consume from rbuf (nothing appends to it while they run). */
static void process_shared(pl_conn_t *c, size_t nread)
{
    pl_buf_t own = c->rbuf; /* empty; may still hold storage */
    c->rbuf.data = c->srv->rbuf;
    c->rbuf.off = 0;
    c->rbuf.len = nread;
    c->rbuf.cap = sizeof c->srv->rbuf;
    c->proto->read(c);
    pl_buf_t view = c->rbuf;
    c->rbuf = own;
    if (view.len > 0)
        pl_buf_append(&c->rbuf, view.data + view.off, view.len);
    else
        pl_buf_reset(&c->rbuf, 0);
}

static void tls_received(pl_conn_t *c, const char *p, size_t n, bool shared);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    pl_conn_t *c = (pl_conn_t *)s;
    bool shared = buf->base == c->srv->rbuf;
    if (nread == 0 || c->closing)
        return;
    c->last_rx = uv_now(c->srv->loop);
    if (nread < 0) {
        if (nread != UV_EOF)
            pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " read error err=%s", c->id,
                   uv_strerror((int)nread));
        c->peer_eof = true;
        pl_net__read(c, false);
        if (nread != UV_EOF || c->shut || !c->proto->eof) {
            pl_net__abort(c);
            return;
        }
        c->proto->eof(c); /* a half-close the protocol may still answer */
        return;
    }
    if (c->shut || c->close_after_write) {
        /* Lingering: the input is no longer interesting. */
        return;
    }
    if (c->tls) {
        tls_received(c, buf->base, (size_t)nread, shared);
        return;
    }
    if (shared) {
        process_shared(c, (size_t)nread);
        return;
    }
    pl_buf_commit(&c->rbuf, (size_t)nread);
    c->proto->read(c);
    if (c->rbuf.len == 0)
        pl_buf_reset(&c->rbuf, 0); /* idle again: give the storage back */
}

void pl_net__read(pl_conn_t *c, bool on)
{
    if (c->closing || on == c->reading)
        return;
    if (on && c->peer_eof)
        return;
    if (on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
        /* Input the session holds already would wait for the next packet
         * (which may never come): decrypt it at the end of this turn. */
        if (c->tls && pl_tls_in_pending(c->tls)) {
            c->tls_resume = true;
            pl_net__schedule(c);
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- TLS (net/tls.h over memory BIOs) ----
 *
 * A TLS connection reads ciphertext into the loop's shared buffer, feeds it
 * to its session and decrypts into c->rbuf the way a plain read fills it
 * (the shared buffer as a borrowed view when nothing is left over), so the
 * protocols above see plaintext and know nothing of TLS. Decryption stops
 * while the protocol does not read (backpressure: the rest stays in the
 * session) and resumes from pl_net__read. Flushing encrypts the queue's
 * plaintext, at most TLS_FLUSH_MAX at a time and only while no ciphertext is
 * being written, so the queue (and max_write_queue) still measures what the
 * peer has not taken; the ciphertext leaves in one try_write, the rest in a
 * uv_write that owns it. */

#define TLS_FLUSH_MAX 65536
#define TLS_READ_CHUNK 16384 /* one record's plaintext at most */

/* Ends c after a TLS failure: what the session still has to say (an alert)
 * goes out first, best effort. */
static void tls_fail(pl_conn_t *c, const char *what)
{
    char peer[PL_NET_PEER_LEN];
    pl_log(PL_LOG_DEBUG, "tls", "conn=%" PRIu64 " peer=%s %s", c->id, pl_net__peer_format(c, peer),
           what);
    if (c->tls_up)
        c->srv->stats.tls_errors++;
    else
        c->srv->stats.tls_handshake_failures++;
    tls_send(c, false);
    pl_net__abort(c);
}

/* Hands n decrypted bytes to the protocol; they are in the shared buffer
 * (shared) or were appended to c->rbuf. */
static void tls_deliver(pl_conn_t *c, size_t n, bool shared)
{
    if (shared) {
        process_shared(c, n);
        return;
    }
    pl_buf_commit(&c->rbuf, n);
    c->proto->read(c);
    if (c->rbuf.len == 0)
        pl_buf_reset(&c->rbuf, 0);
}

/* Decrypts what the session holds while the protocol reads. */
static void tls_input(pl_conn_t *c)
{
    pl_tls_conn_t *t = c->tls;
    while (!c->closing && !c->shut && !c->close_after_write && c->tls == t) {
        if (c->tls_up && !c->reading)
            return; /* the protocol paused: pl_net__read resumes */
        bool shared = c->rbuf.len == 0;
        char *out = shared ? c->srv->rbuf : pl_buf_reserve(&c->rbuf, TLS_READ_CHUNK);
        int n = pl_tls_read(t, out, shared ? sizeof c->srv->rbuf : TLS_READ_CHUNK);
        if (!c->tls_up && pl_tls_established(t)) {
            c->tls_up = true;
            c->srv->stats.tls_handshakes++;
            pl_log(PL_LOG_DEBUG, "tls", "conn=%" PRIu64 " handshake done version=%s cipher=%s",
                   c->id, pl_tls_version(t), pl_tls_cipher(t));
        }
        if (n > 0) {
            tls_deliver(c, (size_t)n, shared);
            continue;
        }
        if (n == PL_EAGAIN)
            break;
        if (n == 0) {
            /* close_notify: the peer finished sending, as a FIN would say. */
            c->peer_eof = true;
            pl_net__read(c, false);
            if (c->proto->eof)
                c->proto->eof(c);
            else
                pl_net__finish(c);
            return;
        }
        tls_fail(c, "bad record or handshake");
        return;
    }
    if (!c->closing && c->tls == t) {
        if (pl_tls_out_pending(t) > 0)
            pl_net__schedule(c); /* handshake messages, alerts */
        if (!pl_tls_in_pending(t))
            pl_tls_idle(t);
    }
}

/* A plain request on the TLS port: the protocol answers in clear. */
static void tls_plain_request(pl_conn_t *c)
{
    char peer[PL_NET_PEER_LEN];
    pl_log(PL_LOG_INFO, "tls", "conn=%" PRIu64 " peer=%s plain HTTP sent to the TLS port", c->id,
           pl_net__peer_format(c, peer));
    c->srv->stats.tls_handshake_failures++;
    pl_tls_conn_free(c->tls);
    c->tls = NULL;
    if (c->proto->plain_on_tls)
        c->proto->plain_on_tls(c);
    pl_net__finish(c);
}

static void tls_received(pl_conn_t *c, const char *p, size_t n, bool shared)
{
    PL_ASSERT(shared); /* on_alloc gives TLS connections the shared buffer */
    if (!c->tls_up && pl_tls_looks_like_http(p, n) && !pl_tls_in_pending(c->tls)) {
        tls_plain_request(c);
        return;
    }
    pl_tls_feed(c->tls, p, n);
    tls_input(c);
}

typedef struct {
    uv_write_t req;
    size_t bytes; /* unused for TLS (same layout as write_req_t) */
    char data[];
} tls_write_t;

/* Sends the ciphertext the session produced: uv_try_write, then a
 * uv_write that owns the rest. False when c was aborted. */
static bool tls_send(pl_conn_t *c, bool waited)
{
    (void)waited;
    size_t n = pl_tls_out_pending(c->tls);
    if (n == 0 || c->writing || c->closing)
        return !c->closing;
    tls_write_t *w = pl_xmalloc(sizeof *w + n);
    n = pl_tls_out_take(c->tls, w->data, n);
    c->srv->stats.writes++;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r < 0 && r != UV_EAGAIN) {
        free(w);
        pl_log(PL_LOG_DEBUG, "net", "conn=%" PRIu64 " write failed err=%s", c->id, uv_strerror(r));
        pl_net__abort(c);
        return false;
    }
    size_t done = r > 0 ? (size_t)r : 0;
    if (done == n) {
        free(w);
        return true;
    }
    b = uv_buf_init(w->data + done, (unsigned)(n - done));
    w->req.data = c;
    w->bytes = 0;
    c->srv->stats.writes++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(w);
        pl_net__abort(c);
        return false;
    }
    c->writing = true;
    c->inflight_items = 0; /* the queue's entries are encrypted and gone */
    return true;
}

/* flush_conn for TLS: encrypt, send; drained once everything left. */
static void tls_flush(pl_conn_t *c, bool waited)
{
    if (c->closing || c->writing)
        return;
    pl_tls_conn_t *t = c->tls;
    if (c->tls_up && c->wq_head < c->wq_tail) {
        size_t total = 0;
        for (uint32_t i = c->wq_head; i < c->wq_tail && total < TLS_FLUSH_MAX; i++) {
            pl_frame_t *f = c->wq[i];
            size_t off = i == c->wq_head ? c->wq_off : 0;
            if (f->len > off && pl_tls_write(t, f->data + off, f->len - off) < 0) {
                tls_fail(c, "encrypt failed");
                return;
            }
            total += f->len - off;
        }
        advance(c, total, waited);
        if (c->closing)
            return;
    }
    if (!tls_send(c, waited))
        return;
    if (c->writing)
        return; /* on_write continues */
    if (c->wq_head < c->wq_tail) {
        if (c->tls_up)
            pl_net__schedule(c); /* more than TLS_FLUSH_MAX: next turn */
        return;                  /* before the handshake: it waits */
    }
    pl_tls_idle(t);
    drained(c);
}

/* ---- what protocols use (net/conn.h) ---- */

bool pl_net__is_tls(const pl_conn_t *c)
{
    return c->tls != NULL || c->tls_up;
}

void pl_conn_set_proto(pl_conn_t *c, const pl_conn_proto_t *proto, void *data)
{
    c->proto = proto;
    c->proto_data = data;
    c->proto_bits = 0;
}

uint64_t pl_net__now(const pl_conn_t *c)
{
    return uv_now(c->srv->loop);
}

const pl_config_t *pl_net__cfg(const pl_conn_t *c)
{
    return c->srv->cfg;
}

bool pl_net__shutting_down(const pl_conn_t *c)
{
    return c->srv->shutting_down;
}

bool pl_net__io_loop(const pl_conn_t *c)
{
    return c->srv->io;
}

void pl_net__hand_over(pl_conn_t *c)
{
    PL_ASSERT(c->srv->io);
    pl_loops__hand_over(c);
}

const pl_cidr_list_t *pl_net__trusted(const pl_conn_t *c)
{
    return pl_net__peers_trusted_list(c->srv->peers);
}

pl_server_stats_t *pl_net__stats(pl_conn_t *c)
{
    return &c->srv->stats;
}

/* The message events go to the server's handlers; an I/O loop's server
 * has the loops' own (net/loops.c), which post them to the core loop. */
void pl_net__opened(pl_conn_t *c)
{
    pl_server_t *srv = c->srv;
    c->opened = true;
    if (srv->h.on_open)
        srv->h.on_open(srv->h.ud, c);
}

void pl_net__message(pl_conn_t *c, const char *data, size_t len)
{
    pl_server_t *srv = c->srv;
    if (srv->h.on_message)
        srv->h.on_message(srv->h.ud, c, data, len);
}

void pl_net__drain(pl_conn_t *c)
{
    pl_server_t *srv = c->srv;
    if (c->opened && srv->h.on_drain)
        srv->h.on_drain(srv->h.ud, c);
}

/* ---- the upper layer's calls (server.h) ---- */

uint64_t pl_conn_id(const pl_conn_t *c)
{
    return c->id;
}

void *pl_conn_data(const pl_conn_t *c)
{
    return c->tcp.data;
}

void pl_conn_set_data(pl_conn_t *c, void *data)
{
    c->tcp.data = data;
}

void pl_conn_client_addr(const pl_conn_t *c, pl_addr_t *out)
{
    *out = c->peer;
}

const char *pl_conn_peer(const pl_conn_t *c)
{
    /* The connection keeps the raw address only (see peer_store). */
    static _Thread_local char buf[PL_NET_PEER_LEN];
    return pl_net__peer_format(c, buf);
}

/* Each call goes to the protocol on the loop that owns c (through that
 * loop's queue when it is not the caller's: PL_NET_REMOTE). */
int pl_conn_send_frame(pl_conn_t *c, pl_frame_t *f)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__send(c, f, false);
    return c->proto && c->proto->send ? c->proto->send(c, f, false) : PL_ECLOSED;
}

int pl_conn_send_reply(pl_conn_t *c, pl_frame_t *f)
{
    if (PL_NET_REMOTE(c))
        return pl_loops__send(c, f, true);
    return c->proto && c->proto->send ? c->proto->send(c, f, true) : PL_ECLOSED;
}

void pl_conn_set_authenticated(pl_conn_t *c)
{
    if (PL_NET_REMOTE(c))
        pl_loops__authenticated(c);
    else if (c->proto && c->proto->authenticated)
        c->proto->authenticated(c);
}

void pl_conn_close(pl_conn_t *c, uint16_t code, const char *reason)
{
    if (PL_NET_REMOTE(c))
        pl_loops__close(c, code, reason);
    else if (c->proto && c->proto->close)
        c->proto->close(c, code, reason);
}
