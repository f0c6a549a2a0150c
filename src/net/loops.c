/* SPDX-License-Identifier: MIT */
/* loops.c -- several event loops (threads > 1): the core loop and the I/O
 * loops, their listeners (SO_REUSEPORT), the lock-free queues between them,
 * the hand-over of other connections to the core loop, and the
 * shutdown and lifetime rules that keep a connection alive while another
 * loop may still hold it. See loops.h for the shape.
 *
 * Queues. Each loop has one inbox: a Treiber stack of batches. A producer
 * fills a batch during its loop turn and publishes it at the end of the turn
 * (prepare/check) with one compare-and-swap; it wakes the consumer with
 * uv_async_send only when the stack was empty, so there is at most one wakeup
 * per loop per batch. The consumer takes the whole stack with one atomic
 * exchange and reverses it, so batches (and the entries in them) are handled
 * in the order each producer published them. The core loop keeps one batch
 * per I/O loop; an I/O loop keeps one batch for the core. Nothing on the hot
 * path takes a lock, and a broadcast frame is queued by reference (its
 * refcount is atomic), never copied per recipient.
 *
 * Lifetime of an I/O loop's message connection c, which the upper layer on
 * the core loop knows by pointer: the I/O loop reports open, each whole
 * message (a copy) and close; when the core has run on_close it posts a
 * release back,
 * and only then does the I/O loop free c (its uv_close callback ran long
 * before; c->x->dead marks the wait). Everything the core posted for c before
 * the release is handled first and finds c closing. */
#include "net/net_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"

_Thread_local bool pl_net__on_io;

enum {
    /* I/O loop -> core loop */
    X_OPEN,   /* c became a message connection (pl_net__opened) */
    X_MSG,    /* p: a raw pl_frame_t holding one whole message */
    X_CLOSED, /* c is closed: run on_close, then release it */
    X_ADOPT,  /* p: adopt_t, a connection for the core (pl_net__hand_over) */
    X_DONE,   /* the I/O loop finished its shutdown */
    X_DRAIN,  /* c's queue emptied after a reply frame: run on_drain */
    /* core loop -> I/O loop */
    X_SEND,       /* p: a frame to queue on c; code: SEND_* bits */
    X_CLOSE,      /* close c with code and reason (p, owned, may be NULL) */
    X_SLOW,       /* the core found c a slow consumer: the protocol closes it */
    X_RELEASE,    /* the core forgot c: free it */
    X_AUTH,       /* the upper layer authenticated c (pl_conn_set_authenticated) */
    X_SHUTDOWN,   /* pl_server_shutdown on the I/O loop */
    X_TLS_LISTEN, /* p: tls_listen_t, the loop's TLS listener and context */
    X_TLS_CTX,    /* p: an SSL_CTX reference (SIGHUP): new connections use it */
};

/* X_TLS_LISTEN: a socket bound and listening on tls_listen (SO_REUSEPORT),
 * and a reference to the context, both owned until the loop takes them. */
typedef struct {
    int fd;
    SSL_CTX *ctx;
} tls_listen_t;

/* X_SEND's code bits. */
#define SEND_OWNS 1  /* the entry owns a reference to the frame */
#define SEND_REPLY 2 /* pl_conn_send_reply: the reply rule of the slow-consumer check */

typedef struct {
    uint8_t kind;
    uint16_t code;
    pl_conn_t *c;
    void *p;
} xent_t;

typedef struct xbatch {
    struct xbatch *next; /* link in the inbox stack */
    size_t n, cap;
    xent_t *e;
    pl_frame_t *run; /* frame of the last X_SEND that owns a reference */
} xbatch_t;

typedef struct {
    int fd;             /* owned until adopted */
    pl_peer_ent_t *ipe; /* its per-address count, owned until adopted */
    pl_peers_t *peers;  /* where ipe is counted */
    bool eof;           /* the peer already finished sending */
    pl_tls_conn_t *tls; /* its TLS session (NULL: plain), owned until adopted */
    size_t len;         /* bytes already read (plaintext for TLS) */
    char data[];
} adopt_t;

enum {
    ST_ACCEPTED,
    ST_OPENED,
    ST_WRITES,
    ST_SLOW,
    ST_TLS_HANDSHAKES,
    ST_TLS_FAILURES,
    ST_TLS_ERRORS,
    ST_N
};

struct pl_loop {
    pl_loops_t *g;
    int index;        /* 0: the core loop */
    uv_loop_t uvloop; /* I/O loops: their own loop */
    pl_server_t *srv;
    uv_thread_t thread;
    bool thread_started;
    uv_async_t async;          /* wakes this loop: its inbox has batches */
    _Atomic(xbatch_t *) inbox; /* published batches, newest first */
    /* owner side */
    xbatch_t *out; /* I/O loop: the batch for the core being filled */
    size_t held;   /* I/O loop: closed connections the core still holds */
    bool srv_down; /* I/O loop: its server finished shutting down */
    bool finished; /* I/O loop: done (set on the I/O thread) */
    /* core side */
    xbatch_t *cout;                 /* the core's batch for this I/O loop being filled */
    bool gone;                      /* the core heard X_DONE from this loop */
    atomic_uint_fast64_t pub[ST_N]; /* I/O loop's counters, published each turn */
};

struct pl_loops {
    int n;
    pl_loop_t *l;                 /* [0] core, [1..n-1] I/O */
    atomic_size_t nconns;         /* open connections on all loops (max_connections) */
    atomic_uint_fast64_t next_id; /* connection ids, unique across loops */
    int ngone;                    /* core: I/O loops finished */
};

/* ---- batches and inboxes ---- */

static void push(xbatch_t **bp, uint8_t kind, pl_conn_t *c, void *p, uint16_t code)
{
    xbatch_t *b = *bp;
    if (b == NULL)
        b = *bp = pl_xcalloc(1, sizeof *b);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->e = pl_xrealloc(b->e, b->cap * sizeof *b->e);
    }
    b->e[b->n++] = (xent_t){.kind = kind, .code = code, .c = c, .p = p};
}

static void batch_free(xbatch_t *b)
{
    free(b->e);
    free(b);
}

/* Publishes *bp (if it holds anything) to dst's inbox. */
static void publish(pl_loop_t *dst, xbatch_t **bp)
{
    xbatch_t *b = *bp;
    if (b == NULL || b->n == 0)
        return;
    *bp = NULL;
    xbatch_t *old = atomic_load_explicit(&dst->inbox, memory_order_relaxed);
    do
        b->next = old;
    while (!atomic_compare_exchange_weak_explicit(&dst->inbox, &old, b, memory_order_release,
                                                  memory_order_relaxed));
    /* A non-empty stack already has a wakeup on its way, issued after the
     * push that made it non-empty; the consumer's exchange comes after it. */
    if (old == NULL)
        uv_async_send(&dst->async);
}

/* Takes every published batch, oldest first. */
static xbatch_t *take(pl_loop_t *l)
{
    xbatch_t *b = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire), *fifo = NULL;
    while (b) {
        xbatch_t *next = b->next;
        b->next = fifo;
        fifo = b;
        b = next;
    }
    return fifo;
}

/* Frees what an entry owns (a batch nobody will handle). */
static void ent_dispose(xent_t *e)
{
    switch (e->kind) {
    case X_MSG:
        pl_frame_unref(e->p);
        break;
    case X_SEND:
        if (e->code & SEND_OWNS)
            pl_frame_unref(e->p);
        break;
    case X_ADOPT: {
        adopt_t *a = e->p;
        pl_net__peers_release(a->peers, a->ipe);
        pl_tls_conn_free(a->tls);
        close(a->fd);
        free(a);
        break;
    }
    case X_TLS_LISTEN: {
        tls_listen_t *tl = e->p;
        close(tl->fd);
        SSL_CTX_free(tl->ctx);
        free(tl);
        break;
    }
    case X_TLS_CTX:
        SSL_CTX_free(e->p);
        break;
    default:
        free(e->p); /* close reasons; NULL otherwise */
        break;
    }
}

static void discard(xbatch_t **bp)
{
    if (*bp == NULL)
        return;
    for (size_t i = 0; i < (*bp)->n; i++)
        ent_dispose(&(*bp)->e[i]);
    batch_free(*bp);
    *bp = NULL;
}

/* ---- configuration ---- */

int pl_loops__count(const pl_config_t *cfg)
{
    int64_t n = cfg->threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? cpus : 1;
    }
    return (int)PL_MIN(PL_MAX(n, 1), 256);
}

/* ---- counters ---- */

size_t pl_loops__nconns(const pl_server_t *srv)
{
    if (srv->loops == NULL)
        return srv->nconns;
    return atomic_load_explicit(&srv->loops->nconns, memory_order_relaxed);
}

uint64_t pl_loops__next_id(pl_server_t *srv)
{
    return atomic_fetch_add_explicit(&srv->loops->next_id, 1, memory_order_relaxed) + 1;
}

void pl_loops__count_conn(pl_server_t *srv, int delta)
{
    srv->nconns += (size_t)(ptrdiff_t)delta;
    if (srv->loops)
        atomic_fetch_add_explicit(&srv->loops->nconns, (size_t)(ptrdiff_t)delta,
                                  memory_order_relaxed);
}

static void publish_stats(pl_loop_t *l)
{
    const pl_server_stats_t *s = &l->srv->stats;
    /* One writer per slot: relaxed stores are plain moves. */
    atomic_store_explicit(&l->pub[ST_ACCEPTED], s->connections_accepted, memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_OPENED], s->opened, memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_WRITES], s->writes, memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_SLOW], s->slow_consumers, memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_TLS_HANDSHAKES], s->tls_handshakes, memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_TLS_FAILURES], s->tls_handshake_failures,
                          memory_order_relaxed);
    atomic_store_explicit(&l->pub[ST_TLS_ERRORS], s->tls_errors, memory_order_relaxed);
}

/* Loop k's published counters (k > 0) into out (zeroed fields only). */
static void read_pub(const pl_loop_t *l, pl_server_stats_t *out)
{
    out->connections_accepted = atomic_load_explicit(&l->pub[ST_ACCEPTED], memory_order_relaxed);
    out->opened = atomic_load_explicit(&l->pub[ST_OPENED], memory_order_relaxed);
    out->writes = atomic_load_explicit(&l->pub[ST_WRITES], memory_order_relaxed);
    out->slow_consumers = atomic_load_explicit(&l->pub[ST_SLOW], memory_order_relaxed);
    out->tls_handshakes = atomic_load_explicit(&l->pub[ST_TLS_HANDSHAKES], memory_order_relaxed);
    out->tls_handshake_failures =
        atomic_load_explicit(&l->pub[ST_TLS_FAILURES], memory_order_relaxed);
    out->tls_errors = atomic_load_explicit(&l->pub[ST_TLS_ERRORS], memory_order_relaxed);
}

void pl_loops__loop_stats(const pl_server_t *srv, int k, pl_server_stats_t *out)
{
    memset(out, 0, sizeof *out);
    pl_loops_t *g = srv->loops;
    if (g == NULL || k == 0)
        *out = srv->stats; /* the core's frames_queued counts every loop's (pl_loops__send) */
    else if (k > 0 && k < g->n)
        read_pub(&g->l[k], out);
}

void pl_loops__stats(const pl_server_t *srv, pl_server_stats_t *out)
{
    pl_loops_t *g = srv->loops;
    for (int k = 1; k < g->n; k++) {
        pl_server_stats_t s;
        read_pub(&g->l[k], &s);
        out->connections_accepted += s.connections_accepted;
        out->opened += s.opened;
        out->writes += s.writes;
        out->slow_consumers += s.slow_consumers;
        out->tls_handshakes += s.tls_handshakes;
        out->tls_handshake_failures += s.tls_handshake_failures;
        out->tls_errors += s.tls_errors;
    }
    /* frames_queued is counted by the core when it posts a send (I/O loops
     * queue no counted frames of their own), so it is exact at once. */
}

/* ---- end of a loop turn ---- */

void pl_loops__turn(pl_server_t *srv)
{
    pl_loop_t *l = srv->xl;
    pl_loops_t *g = l->g;
    if (srv->io) {
        publish(&g->l[0], &l->out);
        publish_stats(l);
        return;
    }
    for (int k = 1; k < g->n; k++) {
        if (g->l[k].gone)
            discard(&g->l[k].cout);
        else
            publish(&g->l[k], &g->l[k].cout);
    }
}

/* ---- the I/O loop side ---- */

static void io_finish(pl_loop_t *l)
{
    if (l->finished || !l->srv_down || l->held > 0)
        return;
    l->finished = true;
    pl_log(PL_LOG_DEBUG, "net", "loop=%d finished", l->index);
    push(&l->out, X_DONE, NULL, NULL, (uint16_t)l->index);
    publish(&l->g->l[0], &l->out);
    uv_close((uv_handle_t *)&l->async, NULL);
}

static void io_server_down(void *arg)
{
    pl_loop_t *l = arg;
    l->srv_down = true;
    io_finish(l);
}

/* *run: the frame reference of the current run of X_SEND entries (see
 * pl_loops__send), released when the next run starts or the batch ends. */
static void io_handle(pl_loop_t *l, xent_t *e, pl_frame_t **run)
{
    pl_conn_t *c = e->c;
    switch (e->kind) {
    case X_SEND: {
        pl_frame_t *f = e->p;
        if (e->code & SEND_OWNS) {
            pl_frame_unref(*run);
            *run = f;
        }
        /* Queue first, then count it taken: the core's view of the queue
         * (posted - taken + queued) never dips below the truth. The owner
         * applies the same rule the core did (its view is exact). */
        if (c->proto && c->proto->send)
            (void)c->proto->send(c, f, (e->code & SEND_REPLY) != 0);
        size_t t = atomic_load_explicit(&c->x->taken, memory_order_relaxed);
        atomic_store_explicit(&c->x->taken, t + f->len, memory_order_relaxed);
        break;
    }
    case X_SLOW:
        if (c->proto && c->proto->slow)
            c->proto->slow(c);
        break;
    case X_CLOSE:
        if (c->proto && c->proto->close)
            c->proto->close(c, e->code, e->p);
        free(e->p);
        break;
    case X_AUTH:
        if (c->proto && c->proto->authenticated)
            c->proto->authenticated(c);
        break;
    case X_RELEASE:
        PL_ASSERT(c->x->dead);
        free(c->x);
        free(c);
        l->held--;
        io_finish(l);
        break;
    case X_SHUTDOWN:
        pl_server_shutdown(l->srv, io_server_down, l);
        break;
    case X_TLS_LISTEN: {
        tls_listen_t *tl = e->p;
        pl_server_t *srv = l->srv;
        if (srv->shutting_down || srv->tls_listener) {
            ent_dispose(e);
            break;
        }
        srv->tls_ctx = tl->ctx;
        int rc = pl_server__tls_listen(srv, tl->fd, NULL);
        free(tl);
        if (rc != 0)
            pl_log(PL_LOG_ERROR, "tls", "loop=%d cannot listen err=%s", l->index, uv_strerror(rc));
        break;
    }
    case X_TLS_CTX:
        /* Sessions made from the old context hold their own reference. */
        SSL_CTX_free(l->srv->tls_ctx);
        l->srv->tls_ctx = e->p;
        break;
    default:
        PL_ASSERT(!"unexpected entry on an I/O loop");
    }
}

static void on_io_async(uv_async_t *a)
{
    pl_server_t *srv = a->data;
    pl_loop_t *l = srv->xl;
    for (xbatch_t *b = take(l), *next; b; b = next) {
        next = b->next;
        pl_frame_t *run = NULL;
        for (size_t i = 0; i < b->n; i++)
            io_handle(l, &b->e[i], &run);
        pl_frame_unref(run);
        batch_free(b);
    }
}

/* The message handlers of an I/O loop's server: post to the core loop. */
static void io_on_open(void *ud, pl_conn_t *c)
{
    pl_loop_t *l = ud;
    c->x->reported = true;
    push(&l->out, X_OPEN, c, NULL, 0);
}

static void io_on_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    pl_loop_t *l = ud;
    push(&l->out, X_MSG, c, pl_frame_new(NULL, 0, data, len), 0);
}

static void io_on_close(void *ud, pl_conn_t *c)
{
    pl_loop_t *l = ud;
    push(&l->out, X_CLOSED, c, NULL, 0);
}

static void io_on_drain(void *ud, pl_conn_t *c)
{
    pl_loop_t *l = ud;
    push(&l->out, X_DRAIN, c, NULL, 0);
}

void pl_loops__conn_free(pl_conn_t *c)
{
    if (c->x && c->x->reported) {
        /* The core may still hold c: wait for its X_RELEASE. */
        c->x->dead = true;
        c->srv->xl->held++;
        return;
    }
    free(c->x);
    free(c);
}

void pl_loops__hand_over(pl_conn_t *c)
{
    pl_loop_t *l = c->srv->xl;
    uv_os_fd_t fd;
    int nfd = -1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    bool movable = true;
    pl_tls_conn_t *tls = pl_net__tls_take(c, &movable);
    if (nfd < 0 || !movable) {
        pl_log(PL_LOG_WARN, "net", "conn=%" PRIu64 " cannot hand over err=%s", c->id,
               nfd < 0 ? strerror(errno) : "TLS write in flight");
        if (nfd >= 0)
            close(nfd);
        pl_buf_consume(&c->rbuf, c->rbuf.len);
        pl_net__abort(c);
        return;
    }
    size_t n = c->rbuf.len;
    adopt_t *a = pl_xmalloc(sizeof *a + n);
    a->fd = nfd;
    a->ipe = c->ipe; /* the count moves with the socket */
    a->peers = c->srv->peers;
    c->ipe = NULL;
    a->eof = c->peer_eof;
    a->tls = tls; /* the session moves with the socket (the core is its only user from now on) */
    a->len = n;
    memcpy(a->data, pl_buf_head(&c->rbuf), n);
    pl_buf_consume(&c->rbuf, n);
    /* uv_close removes our fd from this loop's epoll set and closes it; the
     * duplicate keeps the socket open for the core loop. */
    pl_net__abort(c);
    push(&l->out, X_ADOPT, NULL, a, 0);
}

static void io_main(void *arg)
{
    pl_loop_t *l = arg;
    pl_net__on_io = true;
    uv_run(&l->uvloop, UV_RUN_DEFAULT);
    /* The core posts nothing after our X_DONE; drop what might be left. */
    xbatch_t *b = take(l);
    while (b) {
        xbatch_t *next = b->next;
        discard(&b);
        b = next;
    }
    int rc = uv_loop_close(&l->uvloop);
    if (rc != 0)
        pl_log(PL_LOG_WARN, "net", "loop=%d closed with handles open err=%s", l->index,
               uv_strerror(rc));
}

/* ---- the core loop side ---- */

static void core_handle(pl_loops_t *g, pl_server_t *srv, xent_t *e)
{
    pl_conn_t *c = e->c;
    const pl_server_handlers_t *h = &srv->h;
    switch (e->kind) {
    case X_OPEN:
        if (h->on_open)
            h->on_open(h->ud, c);
        break;
    case X_MSG: {
        pl_frame_t *f = e->p;
        /* As on one loop: nothing is delivered once the server closes it. */
        if (!c->x->closing && h->on_message)
            h->on_message(h->ud, c, (const char *)f->data, f->len);
        pl_frame_unref(f);
        break;
    }
    case X_DRAIN:
        /* Posted before X_CLOSED, so c is still the core's. */
        if (!c->x->closing && h->on_drain)
            h->on_drain(h->ud, c);
        break;
    case X_CLOSED: {
        c->x->closing = true;
        if (h->on_close)
            h->on_close(h->ud, c);
        pl_loop_t *owner = c->srv->xl;
        push(&owner->cout, X_RELEASE, c, NULL, 0);
        break;
    }
    case X_ADOPT: {
        adopt_t *a = e->p;
        pl_net__adopt(srv, a->fd, a->data, a->len, a->eof, a->ipe, a->tls);
        free(a);
        break;
    }
    case X_DONE:
        break; /* handled by the caller */
    default:
        PL_ASSERT(!"unexpected entry on the core loop");
    }
    (void)g;
}

static void on_core_async(uv_async_t *a)
{
    pl_server_t *srv = a->data;
    pl_loops_t *g = srv->loops;
    for (xbatch_t *b = take(srv->xl), *next; b; b = next) {
        next = b->next;
        for (size_t i = 0; i < b->n; i++) {
            xent_t *e = &b->e[i];
            if (e->kind != X_DONE) {
                core_handle(g, srv, e);
                continue;
            }
            /* The last entry an I/O loop publishes: its thread is ending. */
            g->l[e->code].gone = true;
            g->ngone++;
            if (srv->shutting_down)
                pl_server__maybe_done(srv);
        }
        batch_free(b);
    }
}

static pl_server_stats_t *core_stats(pl_conn_t *c)
{
    return &c->srv->loops->l[0].srv->stats;
}

/* Reads the owner's counters into the core's estimate; returns it. */
static size_t refresh(pl_conn_t *c)
{
    c->x->seen_taken = atomic_load_explicit(&c->x->taken, memory_order_relaxed);
    c->x->seen_queued = atomic_load_explicit(&c->x->queued, memory_order_relaxed);
    return c->x->posted - c->x->seen_taken + c->x->seen_queued;
}

/* The queue size the core sees for c: the owner's counters as they are now. */
static size_t queued_estimate(const pl_conn_t *c)
{
    size_t taken = atomic_load_explicit(&c->x->taken, memory_order_relaxed);
    size_t queued = atomic_load_explicit(&c->x->queued, memory_order_relaxed);
    return c->x->posted - taken + queued;
}

int pl_loops__send(pl_conn_t *c, pl_frame_t *f, bool reply)
{
    if (c->x->closing)
        return PL_ECLOSED;
    pl_loop_t *owner = c->srv->xl;
    size_t max = (size_t)c->srv->cfg->max_write_queue;
    /* The estimate from the owner's counters as last read can only be too
     * high (taken only grows; queued grows only by what was taken, plus the
     * owner's few control frames), so the owner's cache line is read again
     * only when the estimate reaches the bound: about once per
     * max_write_queue bytes sent, not once per frame.
     * A reply is refused only when the queue already holds more than max
     * (the protocol's send, ws_conn.c: the same rule on the owner). */
    size_t add = reply ? 0 : f->len;
    if (c->x->posted - c->x->seen_taken + c->x->seen_queued + add > max && refresh(c) + add > max) {
        pl_log(PL_LOG_WARN, "net", "conn=%" PRIu64 " slow consumer queued=%zu max=%zu frame=%zu%s",
               c->id, queued_estimate(c), max, (size_t)f->len, reply ? " reply" : "");
        c->x->closing = true;
        push(&owner->cout, X_SLOW, c, NULL, 0);
        return PL_ETOOBIG;
    }
    c->x->posted += f->len;
    /* A fan-out sends one frame to many connections of a loop in a row: one
     * reference per run of such entries in a batch, not one per recipient,
     * so the frame's refcount is not bounced between the loops' caches for
     * every delivery. The owner holds the run's reference until the run
     * ends, and takes its own per queued copy as on one loop. */
    xbatch_t *b = owner->cout;
    uint16_t kind = reply ? SEND_REPLY : 0;
    if (b && b->run == f) {
        push(&owner->cout, X_SEND, c, f, kind);
    } else {
        push(&owner->cout, X_SEND, c, pl_frame_ref(f), kind | SEND_OWNS);
        owner->cout->run = f;
    }
    core_stats(c)->frames_queued++;
    return 0;
}

void pl_loops__close(pl_conn_t *c, uint16_t code, const char *reason)
{
    if (c->x->closing)
        return;
    c->x->closing = true;
    char *r = NULL;
    if (reason) {
        size_t n = PL_MIN(strlen(reason), 123);
        r = pl_xmalloc(n + 1);
        memcpy(r, reason, n);
        r[n] = '\0';
    }
    push(&c->srv->xl->cout, X_CLOSE, c, r, code);
}

void pl_loops__authenticated(pl_conn_t *c)
{
    if (!c->x->closing)
        push(&c->srv->xl->cout, X_AUTH, c, NULL, 0);
}

void pl_loops__shutdown(pl_server_t *srv)
{
    pl_loops_t *g = srv->loops;
    for (int k = 1; k < g->n; k++)
        if (!g->l[k].gone)
            push(&g->l[k].cout, X_SHUTDOWN, NULL, NULL, 0);
    pl_loops__turn(srv);
}

static int bound_socket(const struct sockaddr_storage *ss, bool reuseport);
static void set_port(struct sockaddr_storage *ss, int port);
static int get_port(int fd);

int pl_loops__tls_start(pl_server_t *srv, const struct sockaddr_storage *ss0)
{
    pl_loops_t *g = srv->loops;
    struct sockaddr_storage ss = *ss0;
    /* As for the plain listener: a plain bind first fails if anyone listens
     * there already and picks the port for 0. */
    int probe = bound_socket(&ss, false);
    if (probe < 0)
        return probe;
    int port = get_port(probe);
    close(probe);
    if (port < 0)
        return UV_EINVAL;
    set_port(&ss, port);
    int *fds = pl_xcalloc((size_t)g->n, sizeof *fds);
    int rc = 0;
    for (int k = 0; k < g->n; k++)
        fds[k] = -1;
    /* Every socket listens before any is handed out, so a failure is
     * reported here and no loop's listener is left half set up. */
    for (int k = 0; k < g->n && rc == 0; k++) {
        if (k > 0 && g->l[k].gone)
            continue;
        if ((fds[k] = bound_socket(&ss, true)) < 0)
            rc = fds[k];
        else if (listen(fds[k], 511) != 0)
            rc = uv_translate_sys_error(errno);
    }
    if (rc == 0) {
        int fd0 = fds[0];
        fds[0] = -1;
        rc = pl_server__tls_listen(srv, fd0, NULL);
    }
    if (rc != 0) {
        for (int k = 0; k < g->n; k++)
            if (fds[k] >= 0)
                close(fds[k]);
        free(fds);
        return rc;
    }
    for (int k = 1; k < g->n; k++) {
        if (fds[k] < 0)
            continue;
        tls_listen_t *tl = pl_xmalloc(sizeof *tl);
        tl->fd = fds[k];
        tl->ctx = srv->tls_ctx;
        SSL_CTX_up_ref(tl->ctx);
        push(&g->l[k].cout, X_TLS_LISTEN, NULL, tl, 0);
    }
    free(fds);
    pl_loops__turn(srv);
    return 0;
}

void pl_loops__tls_ctx(pl_server_t *srv, SSL_CTX *ctx)
{
    pl_loops_t *g = srv->loops;
    for (int k = 1; k < g->n; k++) {
        if (g->l[k].gone)
            continue;
        SSL_CTX_up_ref(ctx);
        push(&g->l[k].cout, X_TLS_CTX, NULL, ctx, 0);
    }
    pl_loops__turn(srv);
}

bool pl_loops__finished(const pl_server_t *srv)
{
    return srv->loops->ngone == srv->loops->n - 1;
}

uv_handle_t *pl_loops__handle(pl_server_t *srv)
{
    return (uv_handle_t *)&srv->xl->async;
}

/* ---- setup and teardown ---- */

/* A socket bound to ss with SO_REUSEADDR (as libuv does) and, when
 * reuseport, SO_REUSEPORT. Returns the fd or a negative UV_E* code. */
static int bound_socket(const struct sockaddr_storage *ss, bool reuseport)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int one = 1;
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0) {
        int rc = uv_translate_sys_error(errno);
        close(fd);
        return rc;
    }
    return fd;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static int get_port(int fd)
{
    struct sockaddr_storage b;
    socklen_t blen = sizeof b;
    if (getsockname(fd, (struct sockaddr *)&b, &blen) != 0)
        return -1;
    return ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port
                                         : ((struct sockaddr_in *)&b)->sin_port);
}

/* Closes an I/O loop that never ran (startup failed): its handles, then the
 * loop itself, on this thread. */
static void io_discard(pl_loop_t *l)
{
    if (l->srv) {
        pl_server_t *srv = l->srv;
        uv_close((uv_handle_t *)&srv->listener, NULL);
        uv_close((uv_handle_t *)&srv->sweep, NULL);
        uv_close((uv_handle_t *)&srv->prep, NULL);
        uv_close((uv_handle_t *)&srv->check, NULL);
    }
    uv_close((uv_handle_t *)&l->async, NULL);
    uv_run(&l->uvloop, UV_RUN_DEFAULT);
    uv_loop_close(&l->uvloop);
    free(l->srv);
    l->srv = NULL;
}

int pl_loops__new(uv_loop_t *loop, const pl_config_t *cfg, const pl_server_handlers_t *h, int n,
                  pl_server_t **out)
{
    struct sockaddr_storage ss;
    int rc = pl_server__addr(cfg, &ss);
    if (rc != 0)
        return rc;
    /* A plain bind first: it fails if anyone listens on the port already,
     * SO_REUSEPORT or not, and picks the port when cfg says 0. Closing the
     * unlistened socket frees the port at once for our own group. */
    int probe = bound_socket(&ss, false);
    if (probe < 0)
        return probe;
    int port = get_port(probe);
    close(probe);
    if (port < 0)
        return UV_EINVAL;
    set_port(&ss, port);
    int *fds = pl_xcalloc((size_t)n, sizeof *fds);
    for (int k = 0; k < n; k++) {
        if ((fds[k] = bound_socket(&ss, true)) < 0) {
            rc = fds[k];
            for (int j = 0; j < k; j++)
                close(fds[j]);
            free(fds);
            return rc;
        }
    }

    pl_loops_t *g = pl_xcalloc(1, sizeof *g);
    g->n = n;
    g->l = pl_xcalloc((size_t)n, sizeof *g->l);
    for (int k = 0; k < n; k++) {
        g->l[k].g = g;
        g->l[k].index = k;
    }
    pl_server_t *core = NULL;
    rc = pl_server__new_fd(loop, cfg, h, fds[0], &core);
    fds[0] = -1;
    int k = 1;
    if (rc != 0)
        goto fail;
    core->loops = g;
    core->xl = &g->l[0];
    core->peers = pl_net__peers_new(cfg); /* one table for every loop */
    g->l[0].srv = core;
    atomic_init(&g->nconns, 0);
    atomic_init(&g->next_id, 0);

    for (; k < n; k++) {
        pl_loop_t *l = &g->l[k];
        if ((rc = uv_loop_init(&l->uvloop)) != 0)
            goto fail;
        uv_async_init(&l->uvloop, &l->async, on_io_async);
        pl_server_handlers_t ioh = {
            .on_accept = h->on_accept,
            .accept_ud = h->accept_ud,
            .on_open = io_on_open,
            .on_message = io_on_message,
            .on_close = io_on_close,
            .on_drain = io_on_drain,
            .ud = l,
        };
        pl_server_t *srv = NULL;
        rc = pl_server__new_fd(&l->uvloop, cfg, &ioh, fds[k], &srv);
        fds[k] = -1;
        if (rc != 0) {
            io_discard(l); /* also frees the failed server (its close callback) */
            goto fail;
        }
        l->srv = srv;
        l->async.data = srv;
        srv->loops = g;
        srv->xl = l;
        srv->io = true;
        srv->peers = core->peers;
    }
    /* The core's inbox; unref'd: the listener and signals keep the loop up. */
    uv_async_init(loop, &g->l[0].async, on_core_async);
    g->l[0].async.data = core;
    uv_unref((uv_handle_t *)&g->l[0].async);
    for (k = 1; k < n; k++) {
        if ((rc = uv_thread_create(&g->l[k].thread, io_main, &g->l[k])) != 0) {
            /* Threads already running shut down with the core. */
            pl_log(PL_LOG_ERROR, "net", "cannot start loop thread err=%s", uv_strerror(rc));
            break;
        }
        g->l[k].thread_started = true;
    }
    /* Loops whose thread did not start never run. */
    for (int j = k; j < n; j++) {
        io_discard(&g->l[j]);
        g->l[j].gone = true;
        g->ngone++;
    }
    free(fds);
    pl_log(PL_LOG_INFO, "net", "listening on %s port=%d loops=%d", cfg->listen, core->port, k);
    *out = core;
    return 0;

fail:
    /* Loops 1..k-1 were set up and never ran: close them here. */
    for (int j = 1; j < k; j++)
        io_discard(&g->l[j]);
    for (int j = 0; j < n; j++)
        if (fds[j] >= 0)
            close(fds[j]);
    free(fds);
    if (core) {
        /* As for a failed single server: its handles close asynchronously. */
        core->loops = NULL;
        core->xl = NULL;
        pl_net__peers_free(core->peers);
        core->peers = NULL;
        pl_server__discard(core);
    }
    free(g->l);
    free(g);
    return rc;
}

void pl_loops__free(pl_server_t *srv)
{
    pl_loops_t *g = srv->loops;
    for (int k = 1; k < g->n; k++) {
        pl_loop_t *l = &g->l[k];
        if (l->thread_started)
            uv_thread_join(&l->thread);
        discard(&l->cout);
        if (l->srv) {
            free(l->srv->tls_listener);
            SSL_CTX_free(l->srv->tls_ctx);
        }
        free(l->srv);
    }
    free(g->l);
    free(g);
    srv->loops = NULL;
    srv->xl = NULL;
}
