/* SPDX-License-Identifier: MIT */
/* loadgen.c -- Parley's load generator and benchmark scenarios (issue 5).
 *
 * The parent process starts parleyd (pinned to one CPU), registers accounts
 * over HTTP, creates rooms over one WebSocket, then forks worker processes
 * (--procs, for more connections than one process' fd limit allows). Each
 * worker drives its share of the clients with epoll and non-blocking sockets
 * through a small WebSocket client (lg_util.c), connects them (paced, from
 * several 127.0.0.x source addresses), reports "ready", and then runs the
 * same timeline of steps from a common start time: open-loop constant-rate
 * sends, a slow-consumer step, a reconnect storm, a final seq check.
 * Latency = receive time - the scheduled send time carried in the message
 * body, so a stalled generator or server cannot hide queueing (no
 * coordinated omission). The parent samples the server's CPU time and RSS
 * from /proc at the step boundaries and merges the workers' results. */
#include "lg.h"
#include "lg_media.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_STEPS 24
#define MAX_INFLIGHT 256   /* connections between connect() and the auth reply */
#define SEND_ID_BASE 1000u /* request ids >= this are sends */
#define ID_SYNC 1
#define ID_ROOMS 2
#define ID_BASE 3 /* rooms, right after the first auth: where the client starts */

/* ---- options ---- */

static struct {
    const char *parleyd;
    int procs;
    int nsrc; /* 127.0.0.1 .. 127.0.0.nsrc */
    int server_cpu, gen_cpu;
    const char *threads;  /* parleyd's threads (--threads); NULL: see main */
    char threads_set[32]; /* "threads=N" for --set, or "" */
    bool shortrun;
    int body_pad;
    const char *only;
    bool verbose;
    bool sync_op; /* storm: auth, then a separate sync (the pre-`auth since` flow) */
    /* sizes */
    int idle_conns;
    int big_members;
    int ingest_senders;
    double step_s;
    int media_mib;       /* media: upload size (0: 100 short, 500 long) */
    int media_limit_mib; /* media: max_upload_bytes of the server */
    bool tls;            /* measured clients use wss:// on the server's TLS listener */
} opt = {.procs = 1, .nsrc = 8, .server_cpu = 0, .gen_cpu = 1, .body_pad = 40, .step_s = 2.0};

/* ---- the run description (set in the parent, inherited by workers) ---- */

enum { ACT_NONE, ACT_STORM, ACT_FINAL };

typedef struct {
    double dur_s;     /* length of the step */
    double rate;      /* sends per second over all senders (0: none) */
    double slow_frac; /* fraction of non-sender clients that stop reading */
    int action;       /* ACT_* at the step's start */
    double jitter_s;  /* ACT_STORM: reconnects spread over [0, jitter) */
} step_t;

typedef struct {
    int n;           /* clients */
    int *user;       /* user index of client i */
    int *room;       /* room index of client i */
    uint8_t *sender; /* client i sends */
    uint8_t *owner;  /* client i asks for its room's last_seq in ACT_FINAL */
    int *shard;      /* worker of client i */
    bool want_base;  /* clients learn their room's last_seq after the first
                      * auth: rooms reused from an earlier scenario already
                      * have history the client never saw */
    int nsteps;
    step_t steps[MAX_STEPS];
} run_t;

/* Accounts and rooms of the current server. */
static struct {
    int nusers;
    char (*token)[48];
    int nrooms;
    char (*room_id)[24];
    int port;     /* plain listener: setup (registration, rooms, stats) */
    int ws_port;  /* what the measured clients connect to: port, or the TLS port (--tls) */
    SSL_CTX *tls; /* --tls: the clients' context (no verification: the bench's own cert) */
} ac;

/* ---- results (a worker writes one to the parent; POD) ---- */

typedef struct {
    lg_hist_t lat; /* delivery latency, from the scheduled send time */
    lg_hist_t ack; /* send -> ok reply (after commit) */
    uint64_t deliveries, sends, acks, errors, skipped;
} step_res_t;

typedef struct {
    uint64_t connected, connect_fail, connect_ns;
    uint64_t closed_by_server;
    uint64_t errors;
    uint64_t lost, dup, back, back_ns, not_back, checked_rooms;
    uint64_t gen_cpu_us;
    step_res_t s[MAX_STEPS];
} res_t;

/* ---- worker: clients and the event loop ---- */

enum { C_IDLE, C_CONNECTING, C_HS, C_AUTH, C_SYNC, C_OPEN, C_DEAD };

typedef struct {
    int fd;
    int idx; /* index in run_t */
    uint8_t state;
    uint8_t slow;
    uint8_t want_out;
    uint8_t need_sync;
    uint8_t back;
    uint64_t at; /* connect no earlier than */
    uint32_t next_id;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap;
    uint64_t *seen; /* bitmap of seqs received (1-based) */
    size_t seen_words;
    SSL *ssl; /* --tls: the session on fd (NULL: plain) */
    int64_t hi;
    int64_t base; /* the room's last seq when the client first came online */
} client_t;

static struct {
    const run_t *run;
    int ep;
    client_t *cl;
    int ncl;
    int *pend; /* clients waiting to connect, ordered by `at` */
    int npend, pend_head;
    int inflight;
    int *snd; /* sender clients */
    int nsnd, snd_rr;
    int cur; /* current step; -1 before go */
    bool storm_active;
    uint64_t storm_t0;
    int64_t *room_final;
    res_t *res;
    uint8_t rbuf[1 << 18];
} W;

static void cl_fail(client_t *c, bool server_closed);

static void set_events(client_t *c)
{
    struct epoll_event ev = {.data.u32 = (uint32_t)(c - W.cl)};
    ev.events = (c->slow ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0);
    epoll_ctl(W.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* write(2), or SSL_write on a --tls client: -1 with errno EAGAIN when the
 * session must wait for the socket (either way: we poll for both). */
static ssize_t cl_write(client_t *c, const void *p, size_t n)
{
    if (!c->ssl)
        return write(c->fd, p, n);
    int w = SSL_write(c->ssl, p, (int)n);
    if (w > 0)
        return w;
    int e = SSL_get_error(c->ssl, w);
    ERR_clear_error();
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    return -1;
}

static ssize_t cl_read(client_t *c, void *p, size_t n)
{
    if (!c->ssl)
        return read(c->fd, p, n);
    int r = SSL_read(c->ssl, p, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static void flush_out(client_t *c)
{
    while (c->out_len > 0) {
        ssize_t w = cl_write(c, c->out, c->out_len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!c->want_out) {
                    c->want_out = 1;
                    set_events(c);
                }
                return;
            }
            cl_fail(c, true);
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    if (c->want_out) {
        c->want_out = 0;
        set_events(c);
    }
}

static void send_text(client_t *c, const char *s, size_t n)
{
    bool was_empty = c->out_len == 0;
    lg_ws_encode(&c->out, &c->out_len, &c->out_cap, 1, s, n);
    if (was_empty)
        flush_out(c);
}

static void schedule_connect(client_t *c, uint64_t at)
{
    c->at = at;
    c->state = C_IDLE;
    /* Keep pend ordered by `at`: append and let a later sort fix it (storms
     * sort once); retries go to the end, which is >= everything before. */
    W.pend[W.npend++] = (int)(c - W.cl);
}

static void cl_close(client_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        epoll_ctl(W.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->state >= C_CONNECTING && c->state <= C_AUTH)
        W.inflight--;
    c->in_len = c->out_len = 0;
    c->want_out = 0;
}

static void cl_fail(client_t *c, bool server_closed)
{
    if (c->state == C_DEAD || c->state == C_IDLE)
        return;
    bool was_connecting = c->state < C_SYNC;
    cl_close(c);
    if (was_connecting && (W.cur < 0 || c->need_sync)) {
        /* Connect failed (backlog overflow, reset): retry. */
        W.res->connect_fail++;
        schedule_connect(c, lg_now_ns() + 50000000u);
        return;
    }
    if (server_closed)
        W.res->closed_by_server++;
    c->state = C_DEAD;
}

static void start_connect(client_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(c->idx % opt.nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
        perror("bind source address");
        exit(1);
    }
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)ac.ws_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = fd;
    c->state = C_CONNECTING;
    c->in_len = c->out_len = 0;
    c->want_out = 1;
    W.inflight++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - W.cl)};
    epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)
        cl_fail(c, false);
}

static void pace_connects(uint64_t now)
{
    while (W.pend_head < W.npend && W.inflight < MAX_INFLIGHT) {
        client_t *c = &W.cl[W.pend[W.pend_head]];
        if (c->at > now)
            break;
        W.pend_head++;
        if (c->state == C_IDLE)
            start_connect(c);
    }
    if (W.pend_head == W.npend)
        W.pend_head = W.npend = 0;
}

/* ---- receiving ---- */

static bool seen_test_set(client_t *c, int64_t seq)
{
    size_t w = (size_t)seq / 64;
    if (w >= c->seen_words) {
        size_t nw = c->seen_words ? c->seen_words * 2 : 4;
        while (nw <= w)
            nw *= 2;
        c->seen = realloc(c->seen, nw * 8);
        memset(c->seen + c->seen_words, 0, (nw - c->seen_words) * 8);
        c->seen_words = nw;
    }
    uint64_t bit = 1ull << (seq % 64);
    bool was = (c->seen[w] & bit) != 0;
    c->seen[w] |= bit;
    return was;
}

static int64_t contiguous(const client_t *c)
{
    int64_t s = c->base;
    while ((size_t)(s + 1) / 64 < c->seen_words && (c->seen[(s + 1) / 64] >> ((s + 1) % 64) & 1))
        s++;
    return s;
}

static uint64_t body_ts(const char *m, size_t n)
{
    const char *p = memmem(m, n, "\"body\":\"t", 9);
    return p ? strtoull(p + 9, NULL, 10) : 0;
}

static step_res_t *cur_res(void)
{
    return W.cur >= 0 ? &W.res->s[W.cur] : NULL;
}

static void storm_back(client_t *c, uint64_t now, bool ok)
{
    c->state = C_OPEN;
    if (!c->back) {
        c->back = 1;
        W.res->back++;
        if (now - W.storm_t0 > W.res->back_ns)
            W.res->back_ns = now - W.storm_t0;
    }
    if (!ok)
        W.res->errors++;
}

/* more: the reply of an auth that carried `since` said more=true (or was
 * not such an auth): page on with a sync. */
static void on_authed(client_t *c, uint64_t now, bool more)
{
    W.inflight--;
    if (c->need_sync && !opt.sync_op && !more) {
        storm_back(c, now, true); /* auth with since did the sync */
        return;
    }
    if (c->need_sync) {
        char buf[128];
        int n =
            snprintf(buf, sizeof buf, "{\"id\":%d,\"op\":\"sync\",\"since\":{\"%s\":%" PRId64 "}}",
                     ID_SYNC, ac.room_id[W.run->room[c->idx]], contiguous(c));
        c->state = C_SYNC;
        send_text(c, buf, (size_t)n);
    } else {
        c->state = C_OPEN;
        W.res->connected++;
        if (W.run->want_base) {
            char buf[64];
            int n = snprintf(buf, sizeof buf, "{\"id\":%d,\"op\":\"rooms\"}", ID_BASE);
            send_text(c, buf, (size_t)n);
        }
        (void)now;
    }
}

static void on_text(client_t *c, const char *m, size_t n, uint64_t now)
{
    step_res_t *r = cur_res();
    if (n > 14 && memcmp(m, "{\"ev\":\"message\"", 15) == 0) {
        int64_t seq = lg_json_int(m, n, "seq");
        if (seq > 0) {
            if (seen_test_set(c, seq))
                W.res->dup++;
            if (seq > c->hi)
                c->hi = seq;
        }
        uint64_t ts = body_ts(m, n);
        if (r) {
            r->deliveries++;
            if (ts && now > ts)
                lg_hist_add(&r->lat, now - ts);
        }
        return;
    }
    if (n < 6 || memcmp(m, "{\"re\":", 6) != 0)
        return; /* room / member events */
    long id = strtol(m + 6, NULL, 10);
    bool ok = memmem(m, n < 64 ? n : 64, "\"ok\":true", 9) != NULL;
    if (id == 0 && c->state == C_AUTH) {
        if (!ok) {
            fprintf(stderr, "auth failed: %.*s\n", (int)(n < 200 ? n : 200), m);
            cl_fail(c, false);
            return;
        }
        on_authed(c, now, memmem(m, n, "\"more\":true", 11) != NULL);
        return;
    }
    if (id == ID_SYNC && c->state == C_SYNC) {
        if (ok && memmem(m, n, "\"more\":true", 11) != NULL) {
            /* Paged (by count or bytes): sync on from what arrived. */
            char buf[128];
            int k = snprintf(buf, sizeof buf,
                             "{\"id\":%d,\"op\":\"sync\",\"since\":{\"%s\":%" PRId64 "}}", ID_SYNC,
                             ac.room_id[W.run->room[c->idx]], contiguous(c));
            send_text(c, buf, (size_t)k);
            return;
        }
        storm_back(c, now, ok);
        return;
    }
    if (id == ID_BASE) {
        int64_t ls = lg_json_int(m, n, "last_seq");
        if (ls > 0)
            c->base = ls;
        return;
    }
    if (id == ID_ROOMS) {
        int64_t ls = lg_json_int(m, n, "last_seq");
        if (ls >= 0)
            W.room_final[W.run->room[c->idx]] = ls;
        return;
    }
    if (id >= (long)SEND_ID_BASE && r) {
        if (ok) {
            r->acks++;
            uint64_t ts = body_ts(m, n);
            if (ts && now > ts)
                lg_hist_add(&r->ack, now - ts);
        } else {
            if (r->errors++ < 3)
                fprintf(stderr, "send failed: %.*s\n", (int)(n < 300 ? n : 300), m);
        }
    }
}

static void parse_frames(client_t *c, const uint8_t *p, size_t len, size_t *used, uint64_t now)
{
    size_t off = 0;
    while (off < len && c->fd >= 0) {
        unsigned op;
        const uint8_t *pl;
        size_t plen;
        ssize_t fl = lg_ws_parse(p + off, len - off, &op, &pl, &plen);
        if (fl == 0)
            break;
        if (fl < 0) {
            cl_fail(c, true);
            break;
        }
        off += (size_t)fl;
        if (op == 1)
            on_text(c, (const char *)pl, plen, now);
        else if (op == 9) {
            bool was_empty = c->out_len == 0;
            lg_ws_encode(&c->out, &c->out_len, &c->out_cap, 10, pl, plen);
            if (was_empty)
                flush_out(c);
        } else if (op == 8) {
            cl_fail(c, true);
            break;
        }
    }
    *used = off;
}

static void keep_in(client_t *c, const uint8_t *p, size_t n)
{
    if (n > c->in_cap) {
        c->in_cap = n < 4096 ? 4096 : n * 2;
        c->in = realloc(c->in, c->in_cap);
    }
    memmove(c->in, p, n);
    c->in_len = n;
}

static void on_bytes(client_t *c, uint64_t now, ssize_t r);
static void on_writable(client_t *c);

static void on_readable(client_t *c, uint64_t now)
{
    if (c->state == C_CONNECTING) { /* --tls: the handshake waits for the server */
        on_writable(c);
        return;
    }
    /* A TLS session may hold decrypted records epoll cannot see: read until
     * it would block. A plain socket is read once per event. */
    do {
        ssize_t r = cl_read(c, W.rbuf, sizeof W.rbuf);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            cl_fail(c, true);
            return;
        }
        on_bytes(c, now, r);
    } while (c->ssl && c->fd >= 0 && c->state != C_DEAD);
}

static void on_bytes(client_t *c, uint64_t now, ssize_t r)
{
    const uint8_t *p = W.rbuf;
    size_t len = (size_t)r;
    if (c->in_len > 0) {
        /* Leftovers of a partial frame: append and parse from there. */
        if (c->in_len + len > c->in_cap) {
            c->in_cap = (c->in_len + len) * 2;
            c->in = realloc(c->in, c->in_cap);
        }
        memcpy(c->in + c->in_len, p, len);
        c->in_len += len;
        p = c->in;
        len = c->in_len;
    }
    if (c->state == C_HS) {
        const uint8_t *e = memmem(p, len, "\r\n\r\n", 4);
        if (!e) {
            keep_in(c, p, len);
            return;
        }
        if (len < 12 || memcmp(p + 9, "101", 3) != 0) {
            fprintf(stderr, "handshake refused: %.*s\n", (int)(len < 80 ? len : 80), p);
            cl_fail(c, false);
            return;
        }
        size_t hl = (size_t)(e + 4 - p);
        p += hl;
        len -= hl;
        c->state = C_AUTH;
        char buf[512];
        int n;
        if (c->need_sync && !opt.sync_op) /* reconnect: the sync runs inside auth */
            n = snprintf(
                buf, sizeof buf,
                "{\"id\":0,\"op\":\"auth\",\"token\":\"%s\",\"since\":{\"%s\":%" PRId64 "}}",
                ac.token[W.run->user[c->idx]], ac.room_id[W.run->room[c->idx]], contiguous(c));
        else
            n = snprintf(buf, sizeof buf, "{\"id\":0,\"op\":\"auth\",\"token\":\"%s\"}",
                         ac.token[W.run->user[c->idx]]);
        send_text(c, buf, (size_t)n);
    }
    size_t used = 0;
    parse_frames(c, p, len, &used, now);
    if (c->fd < 0)
        return;
    keep_in(c, p + used, len - used);
}

static void on_writable(client_t *c)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (!c->ssl) {
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                cl_fail(c, false);
                return;
            }
        }
        if (ac.tls) {
            /* --tls: the TLS handshake first (non-blocking), then the
             * WebSocket one inside it. */
            if (!c->ssl) {
                c->ssl = SSL_new(ac.tls);
                SSL_set_fd(c->ssl, c->fd);
                SSL_set_connect_state(c->ssl);
            }
            int r = SSL_do_handshake(c->ssl);
            if (r != 1) {
                int e = SSL_get_error(c->ssl, r);
                ERR_clear_error();
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    cl_fail(c, false);
                    return;
                }
                struct epoll_event ev = {.events = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT,
                                         .data.u32 = (uint32_t)(c - W.cl)};
                epoll_ctl(W.ep, EPOLL_CTL_MOD, c->fd, &ev);
                return;
            }
        }
        char hs[256];
        int n = lg_ws_handshake(hs, sizeof hs, "127.0.0.1", "/v1/ws");
        c->state = C_HS;
        c->want_out = 0;
        set_events(c);
        if (c->out_cap < (size_t)n) { /* out is empty here */
            c->out = realloc(c->out, (size_t)n);
            c->out_cap = (size_t)n;
        }
        memcpy(c->out, hs, (size_t)n);
        c->out_len = (size_t)n;
        flush_out(c);
        return;
    }
    flush_out(c);
}

/* ---- sending ---- */

static uint64_t rate_t0, rate_issued;
static double rate_cur;

static void send_one(client_t *c, uint64_t ts)
{
    char buf[512];
    uint32_t id = c->next_id++;
    int n =
        snprintf(buf, sizeof buf,
                 "{\"id\":%u,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c%d-%u\","
                 "\"content\":{\"type\":\"text\",\"body\":\"t%" PRIu64 " %.*s\"}}",
                 id, ac.room_id[W.run->room[c->idx]], (int)getpid(), id, ts, opt.body_pad,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    send_text(c, buf, (size_t)n);
}

static void sender_tick(uint64_t now)
{
    step_res_t *r = cur_res();
    if (!r || rate_cur <= 0 || W.nsnd == 0 || now < rate_t0)
        return;
    uint64_t due = (uint64_t)((double)(now - rate_t0) * rate_cur / 1e9);
    /* Bound one burst so receiving keeps up even after a stall. */
    for (int k = 0; rate_issued < due && k < 4096; k++) {
        uint64_t ts = rate_t0 + (uint64_t)((double)rate_issued * 1e9 / rate_cur);
        rate_issued++;
        client_t *c = &W.cl[W.snd[W.snd_rr]];
        W.snd_rr = (W.snd_rr + 1) % W.nsnd;
        if (c->state == C_OPEN || c->state == C_SYNC) {
            send_one(c, ts);
            r->sends++;
        } else {
            r->skipped++;
        }
    }
}

/* ---- worker timeline ---- */

static void loop_once(uint64_t now, uint64_t deadline)
{
    struct epoll_event evs[512];
    int64_t wait_ns = (int64_t)(deadline - now);
    if (rate_cur > 0 && W.nsnd > 0) {
        uint64_t next = rate_t0 + (uint64_t)((double)rate_issued * 1e9 / rate_cur);
        int64_t d = next > now ? (int64_t)(next - now) : 0;
        if (d < wait_ns)
            wait_ns = d;
    }
    if (W.pend_head < W.npend) {
        uint64_t at = W.cl[W.pend[W.pend_head]].at;
        int64_t d = W.inflight < MAX_INFLIGHT ? (at > now ? (int64_t)(at - now) : 0) : 1000000;
        if (d < wait_ns)
            wait_ns = d;
    }
    if (wait_ns < 0)
        wait_ns = 0;
    if (wait_ns > 50000000)
        wait_ns = 50000000;
    struct timespec ts = {wait_ns / 1000000000, wait_ns % 1000000000};
    int n = epoll_pwait2(W.ep, evs, 512, &ts, NULL);
    now = lg_now_ns();
    for (int i = 0; i < n; i++) {
        client_t *c = &W.cl[evs[i].data.u32];
        if (c->fd < 0)
            continue;
        if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            if (c->state == C_CONNECTING || (evs[i].events & EPOLLOUT))
                on_writable(c);
        }
        if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->slow)
            on_readable(c, now);
    }
}

static void storm(uint64_t now, double jitter_s)
{
    W.storm_active = true;
    W.storm_t0 = now;
    W.npend = W.pend_head = 0;
    for (int i = 0; i < W.ncl; i++) {
        client_t *c = &W.cl[i];
        if (c->state == C_DEAD || c->slow)
            continue;
        cl_close(c);
        c->need_sync = 1;
        c->back = 0;
        schedule_connect(c, now + (uint64_t)(drand48() * jitter_s * 1e9));
    }
    /* Order by reconnect time (insertion sort is too slow for 10k). */
    int *p = W.pend;
    int n = W.npend;
    for (int gap = n / 2; gap > 0; gap /= 2)
        for (int i = gap; i < n; i++) {
            int t = p[i], j = i;
            while (j >= gap && W.cl[p[j - gap]].at > W.cl[t].at) {
                p[j] = p[j - gap];
                j -= gap;
            }
            p[j] = t;
        }
}

static void final_check_start(void)
{
    for (int i = 0; i < W.ncl; i++) {
        client_t *c = &W.cl[i];
        if (W.run->owner[c->idx] && c->state == C_OPEN) {
            char buf[64];
            int n = snprintf(buf, sizeof buf, "{\"id\":%d,\"op\":\"rooms\"}", ID_ROOMS);
            send_text(c, buf, (size_t)n);
        }
    }
}

static void final_check_end(void)
{
    for (int i = 0; i < W.ncl; i++) {
        client_t *c = &W.cl[i];
        if (W.run->owner[c->idx])
            W.res->checked_rooms += W.room_final[W.run->room[c->idx]] >= 0;
        if (c->slow)
            continue;
        if (c->state != C_OPEN) {
            W.res->not_back++;
            continue;
        }
        int64_t fin = W.room_final[W.run->room[c->idx]];
        for (int64_t s = c->base + 1; s <= fin; s++) {
            size_t w = (size_t)s / 64;
            if (w >= c->seen_words || !(c->seen[w] >> (s % 64) & 1))
                W.res->lost++;
        }
    }
}

static int senders_total(const run_t *run);

static void worker(const run_t *run, int wid, int to_parent, int from_parent)
{
    memset(&W, 0, sizeof W);
    W.run = run;
    W.cur = -1;
    W.res = calloc(1, sizeof *W.res);
    W.ep = epoll_create1(0);
    W.room_final = malloc((size_t)ac.nrooms * sizeof *W.room_final);
    for (int i = 0; i < ac.nrooms; i++)
        W.room_final[i] = -1;
    for (int i = 0; i < run->n; i++)
        W.ncl += run->shard[i] == wid;
    W.cl = calloc((size_t)W.ncl + 1, sizeof *W.cl);
    W.pend = malloc(((size_t)W.ncl + 1) * 2 * sizeof *W.pend);
    W.snd = malloc(((size_t)W.ncl + 1) * sizeof *W.snd);
    int k = 0;
    for (int i = 0; i < run->n; i++) {
        if (run->shard[i] != wid)
            continue;
        client_t *c = &W.cl[k];
        c->fd = -1;
        c->idx = i;
        c->next_id = SEND_ID_BASE;
        if (run->sender[i])
            W.snd[W.nsnd++] = k;
        schedule_connect(c, 0);
        k++;
    }
    /* Phase 1: connect and authenticate everyone. */
    uint64_t t0 = lg_now_ns();
    uint64_t give_up = t0 + 120000000000ull;
    while (W.res->connected < (uint64_t)W.ncl && lg_now_ns() < give_up) {
        uint64_t now = lg_now_ns();
        pace_connects(now);
        loop_once(now, now + 10000000);
    }
    W.res->connect_ns = lg_now_ns() - t0;
    uint64_t ready = W.res->connected;
    if (write(to_parent, &ready, sizeof ready) != sizeof ready)
        _exit(1);
    /* Phase 2: wait for the common start time, keep answering meanwhile. */
    uint64_t go = 0;
    for (;;) {
        struct pollfd pf = {.fd = from_parent, .events = POLLIN};
        if (poll(&pf, 1, 0) == 1) {
            if (read(from_parent, &go, sizeof go) != sizeof go)
                _exit(1);
            break;
        }
        uint64_t now = lg_now_ns();
        loop_once(now, now + 5000000);
    }
    double gen_cpu0 = lg_self_cpu();
    uint64_t start = go;
    for (int s = 0; s < run->nsteps; s++) {
        const step_t *st = &run->steps[s];
        uint64_t end = start + (uint64_t)(st->dur_s * 1e9);
        while (lg_now_ns() < start)
            loop_once(lg_now_ns(), start);
        W.cur = s;
        rate_cur = st->rate * (double)W.nsnd / (double)senders_total(run);
        rate_t0 = start;
        rate_issued = 0;
        if (st->slow_frac > 0) {
            int want = (int)(st->slow_frac * (W.ncl - W.nsnd) + 0.5), got = 0;
            for (int i = 0; i < W.ncl && got < want; i++) {
                client_t *c = &W.cl[i];
                if (!run->sender[c->idx] && c->state == C_OPEN) {
                    c->slow = 1;
                    set_events(c);
                    got++;
                }
            }
        }
        if (st->action == ACT_STORM)
            storm(start, st->jitter_s);
        if (st->action == ACT_FINAL)
            final_check_start();
        for (uint64_t now = lg_now_ns(); now < end; now = lg_now_ns()) {
            pace_connects(now);
            sender_tick(now);
            loop_once(now, end);
        }
        if (st->action == ACT_FINAL)
            final_check_end();
        start = end;
    }
    W.res->gen_cpu_us = (uint64_t)((lg_self_cpu() - gen_cpu0) * 1e6);
    for (int i = 0; i < W.ncl; i++)
        if (W.cl[i].fd >= 0)
            close(W.cl[i].fd);
    const char *p = (const char *)W.res;
    size_t left = sizeof *W.res;
    while (left > 0) {
        ssize_t w = write(to_parent, p, left);
        if (w <= 0)
            _exit(1);
        p += w;
        left -= (size_t)w;
    }
    _exit(0);
}

/* ---- parent: running workers and sampling the server ---- */

typedef struct {
    double cpu[MAX_STEPS + 1]; /* server CPU seconds at each step boundary */
    uint64_t rss_max[MAX_STEPS];
    uint64_t rss_ready; /* after everyone connected (+1 s settle) */
    uint64_t rss_before;
    res_t r;
    int ready;
} outcome_t;

static void read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "worker died\n");
            exit(1);
        }
        c += r;
        n -= (size_t)r;
    }
}

static void run_workers(const run_t *run, lg_server_t *srv, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    o->rss_before = lg_proc_rss(srv->pid);
    int P = opt.procs;
    int up[64][2], down[64][2];
    pid_t pids[64];
    fflush(stdout);
    fflush(stderr);
    for (int w = 0; w < P; w++) {
        if (pipe(up[w]) != 0 || pipe(down[w]) != 0) {
            perror("pipe");
            exit(1);
        }
        pids[w] = fork();
        if (pids[w] == 0) {
            srand48(w + 1);
            close(up[w][0]);
            close(down[w][1]);
            worker(run, w, up[w][1], down[w][0]);
        }
        close(up[w][1]);
        close(down[w][0]);
    }
    for (int w = 0; w < P; w++) {
        uint64_t n;
        read_all(up[w][0], &n, sizeof n);
        o->ready += (int)n;
    }
    lg_sleep_ms(1000); /* let allocations settle before sampling RSS */
    o->rss_ready = lg_proc_rss(srv->pid);
    uint64_t go = lg_now_ns() + 20000000;
    for (int w = 0; w < P; w++)
        if (write(down[w][1], &go, sizeof go) != sizeof go)
            exit(1);
    uint64_t t = go;
    while (lg_now_ns() < t)
        lg_sleep_ms(1);
    o->cpu[0] = lg_proc_cpu(srv->pid);
    for (int s = 0; s < run->nsteps; s++) {
        uint64_t end = t + (uint64_t)(run->steps[s].dur_s * 1e9);
        for (;;) {
            uint64_t rss = lg_proc_rss(srv->pid);
            if (rss > o->rss_max[s])
                o->rss_max[s] = rss;
            uint64_t now = lg_now_ns();
            if (now >= end)
                break;
            uint64_t d = (end - now) / 1000000;
            lg_sleep_ms((unsigned)(d < 100 ? d + 1 : 100));
        }
        o->cpu[s + 1] = lg_proc_cpu(srv->pid);
        t = end;
    }
    res_t *tmp = malloc(sizeof *tmp);
    for (int w = 0; w < P; w++) {
        read_all(up[w][0], tmp, sizeof *tmp);
        res_t *r = &o->r;
        r->connected += tmp->connected;
        r->connect_fail += tmp->connect_fail;
        if (tmp->connect_ns > r->connect_ns)
            r->connect_ns = tmp->connect_ns;
        r->closed_by_server += tmp->closed_by_server;
        r->lost += tmp->lost;
        r->dup += tmp->dup;
        r->back += tmp->back;
        r->not_back += tmp->not_back;
        r->checked_rooms += tmp->checked_rooms;
        if (tmp->back_ns > r->back_ns)
            r->back_ns = tmp->back_ns;
        r->gen_cpu_us += tmp->gen_cpu_us;
        for (int s = 0; s < MAX_STEPS; s++) {
            lg_hist_merge(&r->s[s].lat, &tmp->s[s].lat);
            lg_hist_merge(&r->s[s].ack, &tmp->s[s].ack);
            r->s[s].deliveries += tmp->s[s].deliveries;
            r->s[s].sends += tmp->s[s].sends;
            r->s[s].acks += tmp->s[s].acks;
            r->s[s].errors += tmp->s[s].errors;
            r->s[s].skipped += tmp->s[s].skipped;
        }
        close(up[w][0]);
        close(down[w][1]);
        int st;
        waitpid(pids[w], &st, 0);
    }
    free(tmp);
}

static int senders_total(const run_t *run)
{
    int n = 0;
    for (int i = 0; i < run->n; i++)
        n += run->sender[i];
    return n ? n : 1;
}

static run_t *run_new(int n)
{
    run_t *r = calloc(1, sizeof *r);
    r->n = n;
    r->user = calloc((size_t)n, sizeof *r->user);
    r->room = calloc((size_t)n, sizeof *r->room);
    r->sender = calloc((size_t)n, 1);
    r->owner = calloc((size_t)n, 1);
    r->shard = calloc((size_t)n, sizeof *r->shard);
    return r;
}

static void run_free(run_t *r)
{
    free(r->user);
    free(r->room);
    free(r->sender);
    free(r->owner);
    free(r->shard);
    free(r);
}

static void add_step(run_t *r, double dur, double rate, double slow, int action, double jitter)
{
    if (r->nsteps == MAX_STEPS)
        return;
    r->steps[r->nsteps++] = (step_t){dur, rate, slow, action, jitter};
}

/* ---- setup: accounts and rooms ---- */

static struct {
    int next, n, fails;
    pthread_mutex_t mu;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *reg_thread(void *arg)
{
    (void)arg;
    int fd = -1;
    char body[1024], js[256];
    for (;;) {
        pthread_mutex_lock(&reg.mu);
        int i = reg.next++;
        pthread_mutex_unlock(&reg.mu);
        if (i >= reg.n)
            break;
        snprintf(js, sizeof js, "{\"username\":\"b%d\",\"password\":\"benchpass\"}", i);
        int st = lg_http(&fd, ac.port, "POST", "/v1/register", js, body, sizeof body);
        const char *t = st == 201 ? strstr(body, "\"token\":\"") : NULL;
        if (!t) {
            pthread_mutex_lock(&reg.mu);
            if (reg.fails++ < 3)
                fprintf(stderr, "register b%d failed: status=%d %s\n", i, st, body);
            pthread_mutex_unlock(&reg.mu);
            continue;
        }
        snprintf(ac.token[i], sizeof ac.token[i], "%.43s", t + 9);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Registers users b0..b(n-1) plus the admin b<n> (index n). */
static int register_users(int n, double *secs)
{
    free(ac.token);
    ac.nusers = n;
    ac.token = calloc((size_t)n + 1, sizeof *ac.token);
    reg.next = 0;
    reg.n = n + 1;
    reg.fails = 0;
    uint64_t t0 = lg_now_ns();
    pthread_t th[32];
    for (int i = 0; i < 32; i++)
        pthread_create(&th[i], NULL, reg_thread, NULL);
    for (int i = 0; i < 32; i++)
        pthread_join(th[i], NULL);
    *secs = (double)(lg_now_ns() - t0) / 1e9;
    return reg.fails ? -1 : 0;
}

/* Rooms are created by the admin (so the creator is not a member of every
 * room), which then leaves them. members(room, k) gives the k-th user. */
static int create_rooms(int nrooms, int per_room, int (*member)(int room, int k))
{
    lg_bws_t w;
    if (lg_bws_open(&w, ac.port, ac.token[ac.nusers]) != 0) {
        fprintf(stderr, "admin websocket failed\n");
        return -1;
    }
    free(ac.room_id);
    ac.nrooms = nrooms;
    ac.room_id = calloc((size_t)nrooms, sizeof *ac.room_id);
    size_t cap = (size_t)per_room * 16 + 256;
    char *req = malloc(cap);
    int sent = 0, done = 0, window = 16, rc = 0; /* <= max_inflight_requests */
    while (done < nrooms) {
        while (sent < nrooms && sent - done < window) {
            size_t n = (size_t)snprintf(req, cap,
                                        "{\"id\":%d,\"op\":\"create_room\",\"kind\":"
                                        "\"group\",\"name\":\"bench\",\"members\":[",
                                        100 + sent);
            for (int k = 0; k < per_room; k++)
                n += (size_t)snprintf(req + n, cap - n, "%s\"b%d\"", k ? "," : "", member(sent, k));
            n += (size_t)snprintf(req + n, cap - n, "]}");
            if (lg_bws_send(&w, req, n) != 0)
                goto fail;
            sent++;
        }
        size_t ml;
        const char *m = lg_bws_recv(&w, &ml);
        if (!m)
            goto fail;
        if (strncmp(m, "{\"re\":", 6) != 0)
            continue;
        int id = atoi(m + 6) - 100;
        const char *p = strstr(m, "\"room\":{\"id\":\"");
        if (id < 0 || id >= nrooms || !p || !strstr(m, "\"ok\":true")) {
            fprintf(stderr, "create_room failed: %.200s\n", m);
            goto fail;
        }
        snprintf(ac.room_id[id], sizeof ac.room_id[id], "%.*s", (int)strcspn(p + 14, "\""), p + 14);
        done++;
    }
    /* The admin leaves every room again. */
    sent = done = 0;
    while (done < nrooms) {
        while (sent < nrooms && sent - done < window) {
            size_t n = (size_t)snprintf(req, cap, "{\"id\":%d,\"op\":\"leave\",\"room\":\"%s\"}",
                                        100 + sent, ac.room_id[sent]);
            if (lg_bws_send(&w, req, n) != 0)
                goto fail;
            sent++;
        }
        size_t ml;
        const char *m = lg_bws_recv(&w, &ml);
        if (!m)
            goto fail;
        if (strncmp(m, "{\"re\":", 6) == 0)
            done++;
    }
    goto out;
fail:
    rc = -1;
out:
    free(req);
    lg_bws_close(&w);
    return rc;
}

/* ---- server lifecycle and stats ---- */

static lg_server_t srv;

/* The settings every run starts parleyd with (sets holds >= 16); returns how
 * many. Every per-user and per-address limit is lifted by configuration:
 * one admin account creates every room and adds every user, and every client
 * comes from a handful of 127.0.0.x addresses. */
static int base_sets(const char **sets)
{
    static const char *const base[] = {
        "argon2_opslimit=1",
        "argon2_memlimit=8k",
        "rate_limit_per_sec=1000000",
        "log_level=warn",
        "max_group_members=20000",
        "max_connections=30000",
        "max_connections_per_ip=0",
        "room_create_per_hour=1000000000",
        "member_adds_per_hour=1000000000",
        "rate_limit_ip_per_sec=1000000",
        "register_per_ip_hour=1000000000",
        "login_per_ip_min=1000000000",
    };
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        sets[n++] = base[i];
    return n;
}

/* --tls: a self-signed certificate (openssl CLI) in a temp dir of its own,
 * a TLS port, and the clients' context. The setup traffic stays plain. */
static struct {
    char dir[64];
    char listen[64], cert[128], key[128];
    int port;        /* 0: not prepared (no TLS listener) */
    SSL_CTX *client; /* the clients' context; ac.tls points here while they use TLS */
} tls;

static void tls_prepare(void)
{
    snprintf(tls.dir, sizeof tls.dir, "/tmp/parley-bench-tls-XXXXXX");
    if (!mkdtemp(tls.dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(tls.cert, sizeof tls.cert, "tls_cert=%s/cert.pem", tls.dir);
    snprintf(tls.key, sizeof tls.key, "tls_key=%s/key.pem", tls.dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-keyout %s/key.pem -out %s/cert.pem -subj /CN=127.0.0.1 >/dev/null 2>&1",
             tls.dir, tls.dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "--tls: openssl req failed\n");
        exit(1);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        perror("tls port");
        exit(1);
    }
    tls.port = ntohs(a.sin_port);
    close(fd);
    snprintf(tls.listen, sizeof tls.listen, "tls_listen=127.0.0.1:%d", tls.port);
    tls.client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(tls.client, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(tls.client, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_RELEASE_BUFFERS);
    ac.tls = opt.tls ? tls.client : NULL;
}

static void tls_cleanup(void)
{
    if (!tls.dir[0])
        return;
    char p[128];
    snprintf(p, sizeof p, "%s/cert.pem", tls.dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/key.pem", tls.dir);
    unlink(p);
    rmdir(tls.dir);
}

static void server_up(const char *const *extra)
{
    srv.pid = 0;
    const char *sets[32];
    int n = base_sets(sets);
    if (opt.threads_set[0])
        sets[n++] = opt.threads_set;
    if (tls.port) {
        sets[n++] = tls.listen;
        sets[n++] = tls.cert;
        sets[n++] = tls.key;
    }
    for (int i = 0; extra && extra[i] && n < 31; i++)
        sets[n++] = extra[i];
    sets[n] = NULL;
    if (lg_server_start(&srv, opt.parleyd, opt.server_cpu, sets) != 0) {
        fprintf(stderr, "cannot start %s\n", opt.parleyd);
        exit(1);
    }
    ac.port = srv.port;
    ac.ws_port = ac.tls ? tls.port : srv.port;
}

static void server_down(void)
{
    lg_server_stop(&srv);
}

typedef struct {
    int64_t writes, frames_queued, slow_consumers, commits, write_jobs, fanned;
} srv_stats_t;

static void server_stats(srv_stats_t *s)
{
    char body[4096];
    int fd = -1;
    memset(s, 0, sizeof *s);
    if (lg_http(&fd, srv.port, "GET", "/v1/stats", NULL, body, sizeof body) != 200)
        return;
    if (fd >= 0)
        close(fd);
    size_t n = strlen(body);
    s->writes = lg_json_int(body, n, "writes");
    s->frames_queued = lg_json_int(body, n, "frames_queued");
    s->slow_consumers = lg_json_int(body, n, "slow_consumers");
    s->commits = lg_json_int(body, n, "commits");
    s->write_jobs = lg_json_int(body, n, "write_jobs");
    s->fanned = lg_json_int(body, n, "events_fanned_out");
}

/* ---- reporting ---- */

static char summary[32][512];
static int nsummary;

static void report(const char *name, const char *result, const char *target, const char *verdict,
                   const char *json)
{
    char row[512];
    snprintf(row, sizeof row, "| %-15s | %s | %s | %s |", name, result, target, verdict);
    printf("%s\n", row);
    printf("JSON {\"scenario\":\"%s\",\"met\":\"%s\",%s}\n", name, verdict, json);
    fflush(stdout);
    if (nsummary < 32)
        snprintf(summary[nsummary++], sizeof summary[0], "%s", row);
}

#define MS(ns) ((double)(ns) / 1e6)

static void step_line(const char *tag, int i, const step_t *st, const step_res_t *r, double cpu)
{
    if (!opt.verbose)
        return;
    fprintf(stderr,
            "  %s step %d: rate=%.0f/s sends=%" PRIu64 " skipped=%" PRIu64 " acks=%" PRIu64
            " deliveries=%" PRIu64 " (%.0f/s) lat p50=%.2f p99=%.2f p99.9=%.2f max=%.2f ms ack "
            "p99=%.2f ms cpu=%.2fs errors=%" PRIu64 "\n",
            tag, i, st->rate, r->sends, r->skipped, r->acks, r->deliveries,
            (double)r->deliveries / st->dur_s, MS(lg_hist_q(&r->lat, .5)),
            MS(lg_hist_q(&r->lat, .99)), MS(lg_hist_q(&r->lat, .999)), MS(r->lat.max),
            MS(lg_hist_q(&r->ack, .99)), cpu, r->errors);
}

/* ---- scenarios ---- */

static int rooms10_member(int room, int k)
{
    return room * 10 + k;
}

static run_t *rooms10_run(int n)
{
    run_t *r = run_new(n);
    for (int i = 0; i < n; i++) {
        r->user[i] = i;
        r->room[i] = i / 10;
        r->sender[i] = 1;
        r->owner[i] = i % 10 == 0;
        r->shard[i] = (i / 10) % opt.procs;
    }
    return r;
}

/* idle, small rooms (ramp + fixed rate at half the maximum), reconnect storm:
 * one server with N users in N/10 rooms of 10. */
static void scenario_rooms10(void)
{
    int n = opt.idle_conns;
    server_up(NULL);
    double reg_s;
    if (register_users(n, &reg_s) != 0 || create_rooms(n / 10, 10, rooms10_member) != 0) {
        server_down();
        exit(1);
    }
    fprintf(stderr, "setup: %d users registered in %.1fs, %d rooms of 10\n", n, reg_s, n / 10);
    outcome_t *o = malloc(sizeof *o);
    char res[256], js[1024];
    bool all = !opt.only;

    /* 1. idle */
    if (all || strstr(opt.only, "idle") || strstr(opt.only, "small")) {
        run_t *r = rooms10_run(n);
        add_step(r, 0.5, 0, 0, ACT_NONE, 0);
        run_workers(r, &srv, o);
        double per = o->r.connected
                         ? ((double)o->rss_ready - (double)o->rss_before) / (double)o->r.connected
                         : 0;
        double rate = (double)o->r.connected / ((double)o->r.connect_ns / 1e9);
        snprintf(res, sizeof res,
                 "%" PRIu64 " conns; RSS %.1f -> %.1f MiB = **%.0f B/conn**; **%.0f sessions/s**",
                 o->r.connected, o->rss_before / 1048576.0, o->rss_ready / 1048576.0, per, rate);
        snprintf(js, sizeof js,
                 "\"conns\":%" PRIu64 ",\"rss_before\":%" PRIu64 ",\"rss_after\":%" PRIu64
                 ",\"rss_per_conn\":%.0f,\"sessions_per_s\":%.0f,\"connect_retries\":%" PRIu64
                 ",\"register_s\":%.2f",
                 o->r.connected, o->rss_before, o->rss_ready, per, rate, o->r.connect_fail, reg_s);
        report("idle", res, "<= 1024 B/conn; >= 10000/s",
               per <= 1024 && rate >= 10000 ? "met" : "not met", js);
        run_free(r);
    }

    /* 2. small rooms: ramp, then a fixed rate at half the maximum. */
    if (all || strstr(opt.only, "small")) {
        static const double short_rates[] = {2000,  4000,  6000,  8000, 10000,
                                             12000, 14000, 16000, 20000};
        static const double long_rates[] = {2000,  4000,  6000,  8000,  10000, 12000, 14000,
                                            16000, 18000, 20000, 24000, 28000, 32000};
        const double *rates = opt.shortrun ? short_rates : long_rates;
        int nr = opt.shortrun ? 9 : 13;
        double dur = opt.step_s;
        run_t *r = rooms10_run(n);
        for (int i = 0; i < nr; i++) {
            add_step(r, dur, rates[i], 0, ACT_NONE, 0);
            add_step(r, 0.5, 0, 0, ACT_NONE, 0);
        }
        srv_stats_t s0, s1;
        server_stats(&s0);
        run_workers(r, &srv, o);
        server_stats(&s1);
        double best = 0, best_dps = 0, best_p99 = 0, best_cpu = 0;
        for (int i = 0; i < nr; i++) {
            step_res_t *sr = &o->r.s[2 * i];
            double cpu = o->cpu[2 * i + 1] - o->cpu[2 * i];
            step_line("small", i, &r->steps[2 * i], sr, cpu);
            double expect = rates[i] * 10 * dur;
            double p99 = MS(lg_hist_q(&sr->lat, .99));
            if (p99 < 50 && (double)sr->deliveries >= 0.95 * expect && rates[i] > best) {
                best = rates[i];
                best_dps = (double)sr->deliveries / dur;
                best_p99 = p99;
                best_cpu = cpu;
            }
        }
        double fpw = s1.writes > s0.writes ? (double)(s1.frames_queued - s0.frames_queued) /
                                                 (double)(s1.writes - s0.writes)
                                           : 0;
        snprintf(res, sizeof res,
                 "max with p99<50ms: %.0f sends/s = **%.0f deliveries/s** (p99 %.1f ms, server "
                 "CPU %.0f%%)",
                 best, best_dps, best_p99, best_cpu / dur * 100);
        snprintf(js, sizeof js,
                 "\"max_sends_per_s\":%.0f,\"deliveries_per_s\":%.0f,\"p99_ms\":%.2f,"
                 "\"server_cpu_frac\":%.2f,\"frames_per_write\":%.2f,\"lost\":%" PRIu64
                 ",\"dup\":%" PRIu64,
                 best, best_dps, best_p99, best_cpu / dur, fpw, o->r.lost, o->r.dup);
        report("small-rooms max", res, ">= 150000 deliveries/s, p99 < 50 ms",
               best_dps >= 150000 ? "met" : "not met", js);
        run_free(r);

        /* Fixed rate at half the maximum: the latency target. */
        double half = best > 0 ? best / 2 : 1000;
        r = rooms10_run(n);
        add_step(r, 1.0, half, 0, ACT_NONE, 0);
        add_step(r, opt.shortrun ? 3.0 : 10.0, half, 0, ACT_NONE, 0);
        server_stats(&s0);
        run_workers(r, &srv, o);
        server_stats(&s1);
        step_res_t *sr = &o->r.s[1];
        double d = r->steps[1].dur_s, cpu = o->cpu[2] - o->cpu[1];
        step_line("small-half", 1, &r->steps[1], sr, cpu);
        double p50 = MS(lg_hist_q(&sr->lat, .5)), p99 = MS(lg_hist_q(&sr->lat, .99)),
               p999 = MS(lg_hist_q(&sr->lat, .999));
        fpw = s1.writes > s0.writes
                  ? (double)(s1.frames_queued - s0.frames_queued) / (double)(s1.writes - s0.writes)
                  : 0;
        snprintf(res, sizeof res,
                 "%.0f sends/s: %.0f deliveries/s, p50 %.2f / p99 %.2f / p99.9 %.2f / max %.1f ms; "
                 "%.0f deliveries per server CPU-s; %.2f frames/write",
                 half, (double)sr->deliveries / d, p50, p99, p999, MS(sr->lat.max),
                 cpu > 0 ? (double)sr->deliveries / cpu : 0, fpw);
        snprintf(js, sizeof js,
                 "\"sends_per_s\":%.0f,\"deliveries_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                 "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"server_cpu_s\":%.2f,"
                 "\"deliveries_per_cpu_s\":%.0f,\"frames_per_write\":%.2f,\"lost\":%" PRIu64
                 ",\"dup\":%" PRIu64,
                 half, (double)sr->deliveries / d, p50, p99, p999, MS(sr->lat.max), cpu,
                 cpu > 0 ? (double)sr->deliveries / cpu : 0, fpw, o->r.lost, o->r.dup);
        report("small-rooms half", res, "p50 <= 1, p99 <= 10, p99.9 <= 50 ms",
               p50 <= 1 && p99 <= 10 && p999 <= 50 ? "met" : "not met", js);
        run_free(r);
    }

    /* 5. reconnect storm */
    if (all || strstr(opt.only, "storm")) {
        run_t *r = rooms10_run(n);
        r->want_base = true; /* the rooms carry the small-rooms history */
        double rate = opt.shortrun ? 1000 : 2000;
        add_step(r, 2.0, rate, 0, ACT_NONE, 0);
        add_step(r, opt.shortrun ? 4.0 : 8.0, rate, 0, ACT_STORM, 1.0);
        add_step(r, 1.5, 0, 0, ACT_NONE, 0);
        add_step(r, 1.5, 0, 0, ACT_FINAL, 0);
        run_workers(r, &srv, o);
        uint64_t sends = 0, acks = 0;
        for (int i = 0; i < r->nsteps; i++)
            sends += o->r.s[i].sends, acks += o->r.s[i].acks;
        double back_s = (double)o->r.back_ns / 1e9;
        bool ok = o->r.back == (uint64_t)n && o->r.lost == 0 && o->r.dup == 0 && back_s <= 2.0;
        snprintf(res, sizeof res,
                 "%" PRIu64 "/%d back in **%.2f s** (jitter 1 s); %" PRIu64 " sent, %" PRIu64
                 " acked; **lost %" PRIu64 ", duplicated %" PRIu64 "** (%" PRIu64 " rooms checked)",
                 o->r.back, n, back_s, sends, acks, o->r.lost, o->r.dup, o->r.checked_rooms);
        snprintf(js, sizeof js,
                 "\"clients\":%d,\"back\":%" PRIu64 ",\"back_s\":%.3f,\"sent\":%" PRIu64
                 ",\"acked\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64
                 ",\"not_back\":%" PRIu64 ",\"rooms_checked\":%" PRIu64,
                 n, o->r.back, back_s, sends, acks, o->r.lost, o->r.dup, o->r.not_back,
                 o->r.checked_rooms);
        report("reconnect storm", res, "all back <= 2 s, 0 lost, 0 dup", ok ? "met" : "not met",
               js);
        run_free(r);
    }
    free(o);
    server_down();
}

/* tls: what TLS costs, plain and wss back to back on a fresh server each
 * (same settings, same scenario): idle bytes per authenticated connection,
 * setup rate, and small-rooms deliveries at fixed rates (throughput, p50 /
 * p99 latency, deliveries per server CPU-second). */
typedef struct {
    double per_conn, sessions_s;
    double dps[2], p50[2], p99[2], per_cpu[2];
} tls_side_t;

static void tls_side(bool use_tls, int n, const double rates[2], double dur, tls_side_t *out)
{
    memset(out, 0, sizeof *out);
    ac.tls = use_tls ? tls.client : NULL;
    server_up(NULL);
    double reg_s;
    if (register_users(n, &reg_s) != 0 || create_rooms(n / 10, 10, rooms10_member) != 0) {
        server_down();
        exit(1);
    }
    outcome_t *o = malloc(sizeof *o);
    run_t *r = rooms10_run(n);
    add_step(r, 0.5, 0, 0, ACT_NONE, 0); /* idle */
    for (int i = 0; i < 2; i++) {
        add_step(r, 1.0, rates[i], 0, ACT_NONE, 0); /* warm-up at the rate */
        add_step(r, dur, rates[i], 0, ACT_NONE, 0);
    }
    run_workers(r, &srv, o);
    out->per_conn = o->r.connected
                        ? ((double)o->rss_ready - (double)o->rss_before) / (double)o->r.connected
                        : 0;
    out->sessions_s =
        o->r.connect_ns ? (double)o->r.connected / ((double)o->r.connect_ns / 1e9) : 0;
    for (int i = 0; i < 2; i++) {
        int k = 2 + 2 * i; /* the measured step */
        step_res_t *sr = &o->r.s[k];
        double cpu = o->cpu[k + 1] - o->cpu[k];
        step_line(use_tls ? "tls" : "plain", k, &r->steps[k], sr, cpu);
        out->dps[i] = (double)sr->deliveries / dur;
        out->p50[i] = MS(lg_hist_q(&sr->lat, .5));
        out->p99[i] = MS(lg_hist_q(&sr->lat, .99));
        out->per_cpu[i] = cpu > 0 ? (double)sr->deliveries / cpu : 0;
    }
    run_free(r);
    free(o);
    server_down();
}

static void scenario_tls(void)
{
    int n = opt.shortrun ? 2000 : opt.idle_conns;
    double dur = opt.shortrun ? 3.0 : 10.0;
    static const double rates[2] = {500, 2000}; /* sends/s to rooms of 10 */
    bool had = tls.port != 0;
    if (!had)
        tls_prepare();
    tls_side_t p, t;
    fprintf(stderr, "tls: %d users in rooms of 10, plain then wss, fresh server each\n", n);
    tls_side(false, n, rates, dur, &p);
    tls_side(true, n, rates, dur, &t);
    ac.tls = opt.tls ? tls.client : NULL;
    char res[512], js[1024];
    snprintf(res, sizeof res,
             "%d conns: plain **%.0f B/conn**, wss **%.0f B/conn** (+%.0f B); setup %.0f vs %.0f "
             "sessions/s",
             n, p.per_conn, t.per_conn, t.per_conn - p.per_conn, p.sessions_s, t.sessions_s);
    snprintf(js, sizeof js,
             "\"conns\":%d,\"plain_rss_per_conn\":%.0f,\"tls_rss_per_conn\":%.0f,"
             "\"plain_sessions_per_s\":%.0f,\"tls_sessions_per_s\":%.0f",
             n, p.per_conn, t.per_conn, p.sessions_s, t.sessions_s);
    report("tls idle", res, "(measured: issue 12)", "-", js);
    for (int i = 0; i < 2; i++) {
        snprintf(
            res, sizeof res,
            "%.0f sends/s: plain %.0f deliveries/s, p50 %.2f / p99 %.2f ms, **%.0f per CPU-s**; "
            "wss %.0f deliveries/s, p50 %.2f / p99 %.2f ms, **%.0f per CPU-s** (%+.0f%% CPU "
            "per delivery)",
            rates[i], p.dps[i], p.p50[i], p.p99[i], p.per_cpu[i], t.dps[i], t.p50[i], t.p99[i],
            t.per_cpu[i], t.per_cpu[i] > 0 ? (p.per_cpu[i] / t.per_cpu[i] - 1) * 100 : 0);
        snprintf(js, sizeof js,
                 "\"sends_per_s\":%.0f,\"plain_deliveries_per_s\":%.0f,\"plain_p50_ms\":%.3f,"
                 "\"plain_p99_ms\":%.3f,\"plain_per_cpu_s\":%.0f,\"tls_deliveries_per_s\":%.0f,"
                 "\"tls_p50_ms\":%.3f,\"tls_p99_ms\":%.3f,\"tls_per_cpu_s\":%.0f",
                 rates[i], p.dps[i], p.p50[i], p.p99[i], p.per_cpu[i], t.dps[i], t.p50[i], t.p99[i],
                 t.per_cpu[i]);
        report("tls delivery", res, "(measured: issue 12)", "-", js);
    }
}

static int big_member(int room, int k)
{
    (void)room;
    return k;
}

/* big room and slow consumer: one server, one room of M members. */
static void scenario_bigroom(void)
{
    int m = opt.big_members;
    server_up(NULL);
    double reg_s;
    if (register_users(m, &reg_s) != 0 || create_rooms(1, m, big_member) != 0) {
        server_down();
        exit(1);
    }
    /* Restart: the big-room runs start from a server that loaded the room
     * from the database (as after a deploy), with the setup's allocations
     * gone. (It began as the work-around for a since-fixed chat bug: groups
     * created with more than 100 members were routed to their creator only.) */
    const char *sets[32];
    int n = base_sets(sets);
    if (opt.threads_set[0])
        sets[n++] = opt.threads_set;
    sets[n] = NULL;
    if (lg_server_start(&srv, opt.parleyd, opt.server_cpu, sets) != 0)
        exit(1);
    fprintf(stderr, "setup: %d users registered in %.1fs, 1 room of %d (server restarted)\n", m,
            reg_s, m);
    outcome_t *o = malloc(sizeof *o);
    char res[320], js[1024];
    int nsend = 10;
    run_t *r = run_new(m);
    for (int i = 0; i < m; i++) {
        r->user[i] = i;
        r->room[i] = 0;
        r->sender[i] = i < nsend;
        r->owner[i] = i == 0;
        r->shard[i] = i % opt.procs;
    }
    static const double short_rates[] = {20, 50, 100, 150, 200, 300};
    static const double long_rates[] = {20, 50, 100, 150, 200, 250, 300, 400};
    const double *rates = opt.shortrun ? short_rates : long_rates;
    int nr = opt.shortrun ? 6 : 8;
    double dur = opt.step_s;
    for (int i = 0; i < nr; i++) {
        add_step(r, dur, rates[i] * 5000.0 / m, 0, ACT_NONE, 0);
        add_step(r, 0.5, 0, 0, ACT_NONE, 0);
    }
    srv_stats_t s0, s1;
    server_stats(&s0);
    run_workers(r, &srv, o);
    server_stats(&s1);
    double best = 0, best_dps = 0, best_p99 = 0, best_cpu = 0, max_dpc = 0;
    for (int i = 0; i < nr; i++) {
        step_res_t *sr = &o->r.s[2 * i];
        double cpu = o->cpu[2 * i + 1] - o->cpu[2 * i];
        step_line("big", i, &r->steps[2 * i], sr, cpu);
        double expect = r->steps[2 * i].rate * m * dur;
        double p99 = MS(lg_hist_q(&sr->lat, .99));
        double dpc = cpu > 0 ? (double)sr->deliveries / cpu : 0;
        if (dpc > max_dpc)
            max_dpc = dpc;
        /* The big-room target is throughput; its p99 is reported, not gated. */
        if ((double)sr->deliveries >= 0.85 * expect && (double)sr->deliveries / dur > best_dps) {
            best = r->steps[2 * i].rate;
            best_dps = (double)sr->deliveries / dur;
            best_p99 = p99;
            best_cpu = cpu;
        }
    }
    double fpw = s1.writes > s0.writes ? (double)(s1.frames_queued - s0.frames_queued) /
                                             (double)(s1.writes - s0.writes)
                                       : 0;
    double dpc_best = best_cpu > 0 ? best_dps * dur / best_cpu : 0;
    snprintf(res, sizeof res,
             "%d members, %.0f sends/s: **%.0f deliveries/s**, p99 %.1f ms, server CPU %.0f%%, "
             "**%.0f deliveries per CPU-s**; %.1f frames/write",
             m, best, best_dps, best_p99, best_cpu / dur * 100, dpc_best, fpw);
    snprintf(js, sizeof js,
             "\"members\":%d,\"sends_per_s\":%.0f,\"deliveries_per_s\":%.0f,\"p99_ms\":%.2f,"
             "\"server_cpu_frac\":%.2f,\"deliveries_per_cpu_s\":%.0f,\"max_deliveries_per_cpu_s\":"
             "%.0f,\"frames_per_write\":%.2f,\"lost\":%" PRIu64 ",\"dup\":%" PRIu64,
             m, best, best_dps, best_p99, best_cpu / dur, dpc_best, max_dpc, fpw, o->r.lost,
             o->r.dup);
    report("big room", res, ">= 1000000 deliveries/s on one core",
           best_dps >= 1000000 ? "met" : "not met", js);
    run_free(r);

    /* 6. slow consumer: same rate with and without 1% of clients not reading. */
    if (!opt.only || strstr(opt.only, "slow")) {
        double rate = best > 0 ? best / 2 : 20;
        r = run_new(m);
        for (int i = 0; i < m; i++) {
            r->user[i] = i;
            r->room[i] = 0;
            r->sender[i] = i < nsend;
            r->shard[i] = i % opt.procs;
        }
        double d = opt.shortrun ? 4.0 : 15.0;
        add_step(r, 1.0, rate, 0, ACT_NONE, 0);
        add_step(r, d, rate, 0, ACT_NONE, 0);
        add_step(r, d, rate, 0.01, ACT_NONE, 0);
        server_stats(&s0);
        run_workers(r, &srv, o);
        server_stats(&s1);
        step_line("slow-base", 1, &r->steps[1], &o->r.s[1], o->cpu[2] - o->cpu[1]);
        step_line("slow-1%", 2, &r->steps[2], &o->r.s[2], o->cpu[3] - o->cpu[2]);
        double p99a = MS(lg_hist_q(&o->r.s[1].lat, .99)), p99b = MS(lg_hist_q(&o->r.s[2].lat, .99));
        double moved = p99a > 0 ? (p99b - p99a) / p99a * 100 : 0;
        uint64_t rssa = o->rss_max[1], rssb = o->rss_max[2];
        snprintf(res, sizeof res,
                 "%.0f sends/s, %d of %d stop reading: p99 %.2f -> %.2f ms (**%+.0f%%**); peak RSS "
                 "%.1f -> %.1f MiB; %" PRId64 " closed as slow (4008)",
                 rate, (int)(0.01 * (m - nsend) + 0.5), m, p99a, p99b, moved, rssa / 1048576.0,
                 rssb / 1048576.0, s1.slow_consumers - s0.slow_consumers);
        snprintf(js, sizeof js,
                 "\"sends_per_s\":%.0f,\"p99_base_ms\":%.3f,\"p99_slow_ms\":%.3f,\"p99_moved_pct\":"
                 "%.1f,\"rss_base\":%" PRIu64 ",\"rss_slow\":%" PRIu64 ",\"slow_closed\":%" PRId64,
                 rate, p99a, p99b, moved, rssa, rssb, s1.slow_consumers - s0.slow_consumers);
        report("slow consumer", res, "RSS bounded, others' p99 moves < 10%",
               moved < 10 ? "met" : "not met", js);
        run_free(r);
    }
    free(o);
    server_down();
}

static int ingest_member(int room, int k)
{
    (void)k;
    return room;
}

/* durable ingest: S senders, each alone in its room; acks come after COMMIT. */
static void scenario_ingest(void)
{
    int s = opt.ingest_senders;
    /* Open-loop offered load: past the server's commit rate a sender has
     * far more than max_inflight_requests sends unacknowledged. */
    static const char *const extra[] = {"max_inflight_requests=100000", NULL};
    server_up(extra);
    double reg_s;
    if (register_users(s, &reg_s) != 0 || create_rooms(s, 1, ingest_member) != 0) {
        server_down();
        exit(1);
    }
    outcome_t *o = malloc(sizeof *o);
    char res[320], js[1024];
    run_t *r = run_new(s);
    for (int i = 0; i < s; i++) {
        r->user[i] = i;
        r->room[i] = i;
        r->sender[i] = 1;
        r->owner[i] = 1;
        r->shard[i] = i % opt.procs;
    }
    static const double rates[] = {5000, 10000, 20000, 30000, 40000, 50000, 60000};
    int nr = 7;
    double dur = opt.step_s;
    for (int i = 0; i < nr; i++) {
        add_step(r, dur, rates[i], 0, ACT_NONE, 0);
        add_step(r, 0.5, 0, 0, ACT_NONE, 0);
    }
    srv_stats_t s0, s1;
    server_stats(&s0);
    run_workers(r, &srv, o);
    server_stats(&s1);
    double best = 0, best_p99 = 0, max_aps = 0, at40 = 0, at40p99 = 0;
    for (int i = 0; i < nr; i++) {
        step_res_t *sr = &o->r.s[2 * i];
        step_line("ingest", i, &r->steps[2 * i], sr, o->cpu[2 * i + 1] - o->cpu[2 * i]);
        double aps = (double)sr->acks / dur, p99 = MS(lg_hist_q(&sr->ack, .99));
        if (aps > max_aps)
            max_aps = aps;
        if (p99 <= 5 && aps >= 0.95 * rates[i] && aps > best) {
            best = aps;
            best_p99 = p99;
        }
        if (rates[i] == 40000) {
            at40 = aps;
            at40p99 = p99;
        }
    }
    double batch = s1.commits > s0.commits
                       ? (double)(s1.write_jobs - s0.write_jobs) / (double)(s1.commits - s0.commits)
                       : 0;
    snprintf(res, sizeof res,
             "%d senders: **%.0f msgs/s** with ack p99 %.2f ms; at 40000/s offered: %.0f acked/s, "
             "ack p99 %.1f ms; max %.0f/s; %.0f jobs/commit",
             s, best, best_p99, at40, at40p99, max_aps, batch);
    snprintf(js, sizeof js,
             "\"senders\":%d,\"msgs_per_s\":%.0f,\"ack_p99_ms\":%.3f,\"at40k_acked_per_s\":%.0f,"
             "\"at40k_ack_p99_ms\":%.3f,\"max_acked_per_s\":%.0f,\"jobs_per_commit\":%.1f",
             s, best, best_p99, at40, at40p99, max_aps, batch);
    report("durable ingest", res, ">= 40000 msgs/s, ack p99 <= 5 ms",
           best >= 40000 ? "met" : "not met", js);
    run_free(r);
    free(o);
    server_down();
}

static int media_member(int room, int k)
{
    return room * 4 + k;
}

/* media: 20 users in 5 rooms of 4 chat at 200 sends/s while user 0 uploads
 * a big file, then downloads it (issue 6). */
static void scenario_media(void)
{
    int mib = opt.media_mib > 0 ? opt.media_mib : opt.shortrun ? 100 : 500;
    char limit[64];
    snprintf(limit, sizeof limit, "max_upload_bytes=%" PRIu64, (uint64_t)opt.media_limit_mib << 20);
    const char *const extra[] = {limit, NULL};
    server_up(extra);
    double reg_s;
    int nusers = 20;
    if (register_users(nusers, &reg_s) != 0 || create_rooms(nusers / 4, 4, media_member) != 0) {
        server_down();
        exit(1);
    }
    const char *tokens[20], *rooms[20];
    for (int i = 0; i < nusers; i++) {
        tokens[i] = ac.token[i];
        rooms[i] = ac.room_id[i / 4];
    }
    lg_media_opt_t mo = {
        .port = srv.port,
        .server_pid = srv.pid,
        .nclients = nusers,
        .tokens = tokens,
        .rooms = rooms,
        .upload_token = ac.token[0],
        .rate = 200,
        .bytes = (uint64_t)mib << 20,
        .baseline_s = opt.shortrun ? 3 : 5,
    };
    lg_media_res_t *r = malloc(sizeof *r);
    int rc = lg_media_run(&mo, r);
    double up = r->up_s > 0 ? (double)mo.bytes / r->up_s / 1e6 : 0;
    double down = r->down_s > 0 ? (double)r->down_bytes / r->down_s / 1e6 : 0;
    double p50[3], p99[3];
    uint64_t rss_max = 0;
    for (int i = 0; i < 3; i++) {
        p50[i] = MS(lg_hist_q(&r->lat[i], .5));
        p99[i] = MS(lg_hist_q(&r->lat[i], .99));
        if (r->rss_max[i] > rss_max)
            rss_max = r->rss_max[i];
    }
    if (opt.verbose)
        fprintf(stderr,
                "  media: sends=%" PRIu64 " deliveries=%" PRIu64 "/%" PRIu64 "/%" PRIu64
                " up status=%d %.2fs down status=%d %" PRIu64 " bytes %.2fs rss before=%.1f "
                "MiB max=%.1f/%.1f/%.1f MiB cpu upload loop=%.2fs all=%.2fs download loop=%.2fs "
                "all=%.2fs\n",
                r->sends, r->deliveries[0], r->deliveries[1], r->deliveries[2], r->up_status,
                r->up_s, r->down_status, r->down_bytes, r->down_s, r->rss_before / 1048576.0,
                r->rss_max[0] / 1048576.0, r->rss_max[1] / 1048576.0, r->rss_max[2] / 1048576.0,
                r->loop_cpu[1], r->proc_cpu[1], r->loop_cpu[2], r->proc_cpu[2]);
    bool ok = rc == 0 && r->up_status == 201 && r->down_status == 200 && r->down_bytes == mo.bytes;
    char res[512], js[1024];
    snprintf(res, sizeof res,
             "%d MiB (limit %d MiB), chat 200/s: p50/p99 before %.2f/%.2f ms, during upload "
             "%.2f/%.2f ms, during download %.2f/%.2f ms; upload **%.0f MB/s**, download **%.0f "
             "MB/s**; server RSS %.0f MiB before, max %.0f MiB during%s",
             mib, opt.media_limit_mib, p50[0], p99[0], p50[1], p99[1], p50[2], p99[2], up, down,
             r->rss_before / 1048576.0, rss_max / 1048576.0, ok ? "" : " (TRANSFER FAILED)");
    snprintf(js, sizeof js,
             "\"mib\":%d,\"limit_mib\":%d,\"p50_before_ms\":%.3f,\"p99_before_ms\":%.3f,"
             "\"p50_upload_ms\":%.3f,\"p99_upload_ms\":%.3f,\"p50_download_ms\":%.3f,"
             "\"p99_download_ms\":%.3f,\"upload_mb_s\":%.1f,\"download_mb_s\":%.1f,"
             "\"rss_before_mib\":%.1f,\"rss_max_mib\":%.1f,\"upload_loop_cpu_s\":%.2f,"
             "\"upload_cpu_s\":%.2f,\"download_loop_cpu_s\":%.2f,\"download_cpu_s\":%.2f,\"ok\":%s",
             mib, opt.media_limit_mib, p50[0], p99[0], p50[1], p99[1], p50[2], p99[2], up, down,
             r->rss_before / 1048576.0, rss_max / 1048576.0, r->loop_cpu[1], r->proc_cpu[1],
             r->loop_cpu[2], r->proc_cpu[2], ok ? "true" : "false");
    bool met = ok && p99[1] <= 50 && p99[2] <= 50 && rss_max < r->rss_before + (64u << 20);
    report("media", res, "chat p99 <= 50 ms during transfers, RSS + < 64 MiB",
           met ? "met" : "not met", js);
    free(r);
    server_down();
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: loadgen [--short] [--only idle,small,storm,big,slow,ingest,media,tls] [--procs N]\n"
        "               [--conns N] [--big N] [--senders N] [--step S] [--src N]\n"
        "               [--parleyd PATH] [--server-cpu N] [--gen-cpu N] [--pad N] [-v]\n"
        "               [--media-mib N] [--media-limit-mib N]  (media upload size, limit)\n"
        "               [--threads N]  (parleyd loop threads; default 1 when the server\n"
        "                               is pinned to one CPU, else the server's default)\n"
        "               [--sync-op]  (storm: auth then sync, not auth with since)\n"
        "               [--tls]  (the measured clients use wss:// on a TLS listener)\n");
    exit(2);
}

static void on_signal(int sig)
{
    if (srv.pid > 0)
        kill(srv.pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    static char def_path[4096];
    snprintf(def_path, sizeof def_path, "%s", argv[0]);
    char *slash = strrchr(def_path, '/');
    snprintf(slash ? slash + 1 : def_path,
             sizeof def_path - (size_t)(slash ? slash + 1 - def_path : 0), "parleyd");
    opt.parleyd = def_path;
    opt.idle_conns = 10000;
    opt.big_members = 10000;
    opt.ingest_senders = 200;
    opt.media_limit_mib = 2048;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--short")) {
            opt.shortrun = true;
            opt.big_members = 5000;
            opt.step_s = 1.5;
        } else if (!strcmp(a, "-v"))
            opt.verbose = true;
        else if (!strcmp(a, "--sync-op"))
            opt.sync_op = true;
        else if (!strcmp(a, "--tls"))
            opt.tls = true;
        else if (!v)
            usage();
        else if (!strcmp(a, "--only"))
            opt.only = argv[++i];
        else if (!strcmp(a, "--procs"))
            opt.procs = atoi(argv[++i]);
        else if (!strcmp(a, "--conns"))
            opt.idle_conns = atoi(argv[++i]) / 10 * 10;
        else if (!strcmp(a, "--big"))
            opt.big_members = atoi(argv[++i]);
        else if (!strcmp(a, "--senders"))
            opt.ingest_senders = atoi(argv[++i]);
        else if (!strcmp(a, "--step"))
            opt.step_s = atof(argv[++i]);
        else if (!strcmp(a, "--src"))
            opt.nsrc = atoi(argv[++i]);
        else if (!strcmp(a, "--parleyd"))
            opt.parleyd = argv[++i];
        else if (!strcmp(a, "--server-cpu"))
            opt.server_cpu = atoi(argv[++i]);
        else if (!strcmp(a, "--gen-cpu"))
            opt.gen_cpu = atoi(argv[++i]);
        else if (!strcmp(a, "--pad"))
            opt.body_pad = atoi(argv[++i]);
        else if (!strcmp(a, "--media-mib"))
            opt.media_mib = atoi(argv[++i]);
        else if (!strcmp(a, "--media-limit-mib"))
            opt.media_limit_mib = atoi(argv[++i]);
        else if (!strcmp(a, "--threads"))
            opt.threads = argv[++i];
        else
            usage();
    }
    if (opt.procs < 1 || opt.procs > 64 || opt.nsrc < 1 || opt.nsrc > 250 || opt.body_pad < 0 ||
        opt.body_pad > 150 || opt.idle_conns < 10 || opt.media_mib < 0 || opt.media_limit_mib < 1 ||
        opt.media_mib > opt.media_limit_mib)
        usage();
    /* Pinned to one CPU, a second loop only adds hand-offs: the single-core
     * targets are measured with one loop unless asked otherwise. */
    if (opt.threads == NULL && opt.server_cpu >= 0)
        opt.threads = "1";
    if (opt.threads)
        snprintf(opt.threads_set, sizeof opt.threads_set, "threads=%s", opt.threads);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        int need =
            (opt.idle_conns > opt.big_members ? opt.idle_conns : opt.big_members) / opt.procs + 64;
        if ((rlim_t)need > rl.rlim_cur) {
            fprintf(stderr, "fd limit %lu < %d per process: use --procs %d\n",
                    (unsigned long)rl.rlim_cur, need, (int)(need / (int)rl.rlim_cur + 2));
            return 2;
        }
    }
    if (opt.gen_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt.gen_cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            perror("pinning the generator");
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("# parley loadgen: %s run, parleyd=%s pinned to CPU %d, generator on CPU %d, %d "
           "process(es), %d source addresses\n",
           opt.shortrun ? "short" : "long", opt.parleyd, opt.server_cpu, opt.gen_cpu, opt.procs,
           opt.nsrc);
    printf("# server settings: argon2_opslimit=1 argon2_memlimit=8k (bench only), "
           "rate_limit_per_sec=1000000, rate_limit_ip_per_sec=1000000, log_level=warn, "
           "max_group_members=20000, max_connections_per_ip=0 (and the other per-user and "
           "per-address limits lifted) %s\n",
           opt.threads_set[0] ? opt.threads_set : "(threads: server default)");
    if (opt.tls) {
        tls_prepare();
        printf(
            "# --tls: measured clients speak wss:// to tls_listen (TLS 1.3, self-signed P-256 "
            "certificate; TLS connections are spread over the loops like plain ones); setup stays "
            "plain\n");
    }
    printf("| scenario | result | target | met |\n| --- | --- | --- | --- |\n");
    fflush(stdout);
    uint64_t t0 = lg_now_ns();
    bool all = !opt.only;
    if (all || strstr(opt.only, "idle") || strstr(opt.only, "small") || strstr(opt.only, "storm"))
        scenario_rooms10();
    if (all || strstr(opt.only, "big") || strstr(opt.only, "slow"))
        scenario_bigroom();
    if (all || strstr(opt.only, "ingest"))
        scenario_ingest();
    if (all || strstr(opt.only, "media"))
        scenario_media();
    if (all || strstr(opt.only, "tls"))
        scenario_tls();
    printf("# total %.1f s\n", (double)(lg_now_ns() - t0) / 1e9);
    tls_cleanup();
    return 0;
}
