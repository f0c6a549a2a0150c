/* SPDX-License-Identifier: MIT */
/* lg_media.c -- the media scenario of the load generator (issue 6): small
 * rooms chat at a fixed, modest rate while one client streams a big upload
 * and then downloads it. Chat latency is reported per phase (before, during
 * the upload, during the download), with the transfer rates and the server's
 * RSS (max per phase, sampled every 100 ms).
 *
 * One process: the chat clients run in a poll() loop on this thread; the
 * transfer runs on a second thread with blocking sockets. */
#include "lg_media.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define XFER_BUF (1u << 20) /* the generated upload is this pattern, repeated */

typedef struct {
    lg_bws_t w; /* connection and input buffer */
    uint8_t *out;
    size_t out_len, out_cap;
} mclient_t;

/* Phase boundaries set by the transfer thread (CLOCK_MONOTONIC ns; 0 = not yet). */
static _Atomic uint64_t t_up, t_down, t_end;

typedef struct {
    const lg_media_opt_t *o;
    lg_media_res_t *r;
} xfer_arg_t;

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads a response head into h (NUL-terminated); returns the status or -1. */
static int read_head(int fd, char *h, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = recv(fd, h + n, 1, 0);
        if (k <= 0)
            return -1;
        n++;
        if (n >= 4 && !memcmp(h + n - 4, "\r\n\r\n", 4))
            break;
    }
    h[n] = '\0';
    int st = -1;
    return sscanf(h, "HTTP/1.1 %d", &st) == 1 ? st : -1;
}

static uint64_t content_length(const char *h)
{
    const char *p = strcasestr(h, "\r\nContent-Length:");
    return p ? strtoull(p + 17, NULL, 10) : 0;
}

static void *xfer_thread(void *arg)
{
    xfer_arg_t *x = arg;
    const lg_media_opt_t *o = x->o;
    lg_media_res_t *r = x->r;
    lg_sleep_ms((unsigned)(o->baseline_s * 1000));
    char *buf = malloc(XFER_BUF);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < XFER_BUF; i += 8) { /* xorshift: incompressible */
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        memcpy(buf + i, &seed, 8);
    }
    char head[1024], id[32] = "";
    /* Upload. */
    atomic_store(&t_up, lg_now_ns());
    int fd = connect_to(o->port);
    int n = snprintf(head, sizeof head,
                     "POST /v1/media?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Length: %" PRIu64 "\r\n\r\n",
                     o->upload_token, o->bytes);
    uint64_t t0 = lg_now_ns();
    if (fd >= 0 && send_all(fd, head, (size_t)n) == 0) {
        uint64_t sent = 0;
        while (sent < o->bytes) {
            size_t k = o->bytes - sent < XFER_BUF ? (size_t)(o->bytes - sent) : XFER_BUF;
            memcpy(buf, &sent, sizeof sent); /* every MiB differs */
            if (send_all(fd, buf, k) != 0)
                break;
            sent += k;
        }
        r->up_status = read_head(fd, head, sizeof head);
        uint64_t cl = content_length(head);
        char body[1024];
        if (cl < sizeof body && recv(fd, body, cl, MSG_WAITALL) == (ssize_t)cl) {
            body[cl] = '\0';
            const char *p = strstr(body, "\"id\":\"");
            if (p)
                sscanf(p + 6, "%31[^\"]", id);
        }
    }
    r->up_s = (double)(lg_now_ns() - t0) / 1e9;
    if (fd >= 0)
        close(fd);
    /* Download, read and dropped as it comes. */
    atomic_store(&t_down, lg_now_ns());
    t0 = lg_now_ns();
    fd = id[0] ? connect_to(o->port) : -1;
    if (fd >= 0) {
        n = snprintf(head, sizeof head,
                     "GET /v1/media/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
                     id, o->upload_token);
        if (send_all(fd, head, (size_t)n) == 0 &&
            (r->down_status = read_head(fd, head, sizeof head)) == 200) {
            uint64_t want = content_length(head);
            while (r->down_bytes < want) {
                ssize_t k = recv(fd, buf, XFER_BUF, 0);
                if (k <= 0)
                    break;
                r->down_bytes += (uint64_t)k;
            }
        }
        close(fd);
    }
    r->down_s = (double)(lg_now_ns() - t0) / 1e9;
    atomic_store(&t_end, lg_now_ns());
    free(buf);
    return NULL;
}

/* CPU seconds (user + system) of the server's main thread: its event loop. */
static double loop_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int phase_of(uint64_t ns)
{
    uint64_t u = atomic_load(&t_up), d = atomic_load(&t_down), e = atomic_load(&t_end);
    if (!u || ns < u)
        return 0;
    if (!d || ns < d)
        return 1;
    if (!e || ns < e)
        return 2;
    return -1;
}

static void queue_frame(mclient_t *c, const char *text, size_t n)
{
    lg_ws_encode(&c->out, &c->out_len, &c->out_cap, 0x1, text, n);
}

static int flush_out(mclient_t *c)
{
    while (c->out_len > 0) {
        ssize_t k = send(c->w.fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (k <= 0)
            return -1;
        memmove(c->out, c->out + k, c->out_len - (size_t)k);
        c->out_len -= (size_t)k;
    }
    return 0;
}

/* Parses the frames buffered on c: message events add their latency. */
static int read_frames(mclient_t *c, lg_media_res_t *r, uint64_t now)
{
    for (;;) {
        if (c->w.in_cap - c->w.in_len < 65536) {
            c->w.in_cap = c->w.in_cap ? c->w.in_cap * 2 : 131072;
            c->w.in = realloc(c->w.in, c->w.in_cap);
        }
        ssize_t k = recv(c->w.fd, c->w.in + c->w.in_len, c->w.in_cap - c->w.in_len, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (k <= 0)
            return -1;
        c->w.in_len += (size_t)k;
    }
    size_t off = 0;
    for (;;) {
        unsigned op;
        const uint8_t *pl;
        size_t plen;
        ssize_t fs = lg_ws_parse(c->w.in + off, c->w.in_len - off, &op, &pl, &plen);
        if (fs < 0)
            return -1;
        if (fs == 0)
            break;
        off += (size_t)fs;
        if (op == 0x9) { /* ping: pong */
            lg_ws_encode(&c->out, &c->out_len, &c->out_cap, 0xA, pl, plen);
            continue;
        }
        if (op != 0x1 || plen < 20 || memcmp(pl, "{\"ev\":\"message\"", 15) != 0)
            continue;
        const char *b = memmem(pl, plen, "\"body\":\"t", 9);
        if (!b)
            continue;
        uint64_t ts = strtoull(b + 9, NULL, 10);
        int ph = phase_of(ts);
        if (ph >= 0 && now > ts) {
            lg_hist_add(&r->lat[ph], now - ts);
            r->deliveries[ph]++;
        }
    }
    memmove(c->w.in, c->w.in + off, c->w.in_len - off);
    c->w.in_len -= off;
    return 0;
}

int lg_media_run(const lg_media_opt_t *o, lg_media_res_t *r)
{
    memset(r, 0, sizeof *r);
    atomic_store(&t_up, 0);
    atomic_store(&t_down, 0);
    atomic_store(&t_end, 0);
    int n = o->nclients;
    mclient_t *c = calloc((size_t)n, sizeof *c);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (lg_bws_open(&c[i].w, o->port, o->tokens[i]) != 0) {
            fprintf(stderr, "media: client %d could not connect\n", i);
            if (c[i].w.fd > 0)
                close(c[i].w.fd);
            free(c[i].w.in);
            n = i;
            rc = -1;
            goto out;
        }
        fcntl(c[i].w.fd, F_SETFL, fcntl(c[i].w.fd, F_GETFL) | O_NONBLOCK);
        int one = 1;
        setsockopt(c[i].w.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    r->rss_before = lg_proc_rss(o->server_pid);
    xfer_arg_t xa = {o, r};
    pthread_t th;
    pthread_create(&th, NULL, xfer_thread, &xa);
    uint64_t start = lg_now_ns(), next = start, interval = (uint64_t)(1e9 / o->rate);
    uint64_t next_rss = start, sent = 0, end_at = 0;
    int cpu_phase = 0;
    double cpu_mark[2] = {0, 0}; /* loop and process CPU at the last phase change */
    char msg[512];
    for (;;) {
        uint64_t now = lg_now_ns();
        uint64_t e = atomic_load(&t_end);
        if (e && !end_at)
            end_at = now + 500000000ull; /* let the last messages arrive */
        if (end_at && now >= end_at)
            break;
        /* Open loop: every message due by now goes out, stamped with the
         * time it was due, so a stall shows up as latency. */
        while (next <= now && !e) {
            mclient_t *s = &c[sent % (uint64_t)n];
            int len = snprintf(msg, sizeof msg,
                               "{\"id\":%" PRIu64 ",\"op\":\"send\",\"room\":\"%s\",\"client_id\":"
                               "\"m%" PRIu64
                               "\",\"content\":{\"type\":\"text\",\"body\":\"t%" PRIu64 "\"}}",
                               sent, o->rooms[sent % (uint64_t)n], sent, next);
            queue_frame(s, msg, (size_t)len);
            sent++;
            next += interval;
        }
        int cur = phase_of(now);
        if (cur != cpu_phase) { /* charge the CPU since the last change to the phase that ended */
            double l = loop_cpu(o->server_pid), p = lg_proc_cpu(o->server_pid);
            if (cpu_phase >= 1 && cpu_phase <= 2) {
                r->loop_cpu[cpu_phase] = l - cpu_mark[0];
                r->proc_cpu[cpu_phase] = p - cpu_mark[1];
            }
            cpu_mark[0] = l;
            cpu_mark[1] = p;
            cpu_phase = cur;
        }
        if (now >= next_rss) {
            uint64_t rss = lg_proc_rss(o->server_pid);
            int ph = phase_of(now);
            if (ph >= 0 && rss > r->rss_max[ph])
                r->rss_max[ph] = rss;
            next_rss = now + 100000000ull;
        }
        for (int i = 0; i < n; i++) {
            if (flush_out(&c[i]) != 0) {
                rc = -1;
                break;
            }
            pf[i] =
                (struct pollfd){.fd = c[i].w.fd, .events = POLLIN | (c[i].out_len ? POLLOUT : 0)};
        }
        if (rc != 0)
            break;
        if (poll(pf, (nfds_t)n, 1) < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        now = lg_now_ns();
        for (int i = 0; i < n; i++)
            if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) && read_frames(&c[i], r, now) != 0) {
                fprintf(stderr, "media: client %d lost its connection\n", i);
                rc = -1;
            }
        if (rc != 0)
            break;
    }
    pthread_join(th, NULL);
    r->sends = sent;
out:
    for (int i = 0; i < n; i++) {
        lg_bws_close(&c[i].w);
        free(c[i].out);
    }
    free(c);
    free(pf);
    return rc;
}
