/* SPDX-License-Identifier: MIT */
/* lg_util.c -- clocks, histograms, the client-side WebSocket codec, the
 * server process and blocking HTTP/WebSocket helpers for the load generator. */
#include "lg.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time ---- */

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lg_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- histogram ---- */

static unsigned hist_index(uint64_t v)
{
    if (v < (1u << LG_HIST_SUB))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - LG_HIST_SUB)) & ((1u << LG_HIST_SUB) - 1);
    return ((msb - LG_HIST_SUB + 1) << LG_HIST_SUB) | sub;
}

static uint64_t hist_upper(unsigned i)
{
    if (i < (1u << LG_HIST_SUB))
        return i;
    unsigned msb = (i >> LG_HIST_SUB) + LG_HIST_SUB - 1;
    uint64_t sub = i & ((1u << LG_HIST_SUB) - 1);
    return ((1ull << LG_HIST_SUB | sub) + 1) << (msb - LG_HIST_SUB);
}

void lg_hist_add(lg_hist_t *h, uint64_t ns)
{
    unsigned i = hist_index(ns);
    if (i >= LG_HIST_N)
        i = LG_HIST_N - 1;
    h->b[i]++;
    h->count++;
    h->sum += ns;
    if (ns > h->max)
        h->max = ns;
}

void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src)
{
    for (unsigned i = 0; i < LG_HIST_N; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t lg_hist_q(const lg_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)((double)h->count * q + 0.5);
    if (want < 1)
        want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < LG_HIST_N; i++) {
        acc += h->b[i];
        if (acc >= want) {
            uint64_t u = hist_upper(i);
            return u > h->max ? h->max : u;
        }
    }
    return h->max;
}

/* ---- WebSocket codec ---- */

static uint32_t xorshift(void)
{
    static uint32_t s = 2463534242u;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

void lg_ws_encode(uint8_t **buf, size_t *len, size_t *cap, unsigned opcode, const void *data,
                  size_t n)
{
    size_t need = *len + n + 14;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 512;
        while (nc < need)
            nc *= 2;
        *buf = realloc(*buf, nc);
        if (!*buf)
            abort();
        *cap = nc;
    }
    uint8_t *p = *buf + *len;
    size_t h = 0;
    p[h++] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (n <= 125) {
        p[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xFFFF) {
        p[h++] = 0x80 | 126;
        p[h++] = (uint8_t)(n >> 8);
        p[h++] = (uint8_t)n;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            p[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t m = xorshift();
    uint8_t mk[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
    memcpy(p + h, mk, 4);
    h += 4;
    const uint8_t *d = data;
    for (size_t i = 0; i < n; i++)
        p[h + i] = d[i] ^ mk[i & 3];
    *len += h + n;
}

ssize_t lg_ws_parse(const uint8_t *p, size_t len, unsigned *opcode, const uint8_t **payload,
                    size_t *plen)
{
    if (len < 2)
        return 0;
    if (p[1] & 0x80)
        return -1;
    uint64_t n = p[1] & 0x7F;
    size_t h = 2;
    if (n == 126) {
        if (len < 4)
            return 0;
        n = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (n == 127) {
        if (len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | p[2 + i];
        if (n > (1u << 30))
            return -1;
        h = 10;
    }
    if (len < h + n)
        return 0;
    *opcode = p[0] & 0x0F;
    *payload = p + h;
    *plen = (size_t)n;
    return (ssize_t)(h + n);
}

int lg_ws_handshake(char *out, size_t cap, const char *host, const char *path)
{
    return snprintf(out, cap,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n",
                    path, host);
}

/* ---- the server under test ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void stop_process(lg_server_t *s);

int lg_server_start(lg_server_t *s, const char *path, int cpu, const char *const *sets)
{
    if (s->pid > 0 && s->dir[0]) {
        /* Restart on the same data dir and port. */
        stop_process(s);
    } else {
        memset(s, 0, sizeof *s);
        snprintf(s->dir, sizeof s->dir, "/tmp/parley-bench-XXXXXX");
        if (!mkdtemp(s->dir)) {
            perror("mkdtemp");
            return -1;
        }
        s->port = free_port();
    }
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    const char *argv[64];
    int n = 0;
    argv[n++] = path;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data";
    argv[n++] = s->dir;
    for (int i = 0; sets && sets[i] && n < 60; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            sched_setaffinity(0, sizeof set, &set); /* same as taskset -c cpu */
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execv(path, (char *const *)argv);
        perror("exec parleyd");
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 500; i++) {
        int fd = -1;
        char body[256];
        if (lg_http(&fd, s->port, "GET", "/healthz", NULL, body, sizeof body) == 200) {
            close(fd);
            return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "parleyd exited during startup\n");
            s->pid = 0;
            return -1;
        }
        lg_sleep_ms(10);
    }
    fprintf(stderr, "parleyd did not become healthy\n");
    lg_server_stop(s);
    return -1;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void stop_process(lg_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st;
        bool done = false;
        for (int i = 0; i < 500 && !done; i++) {
            if (waitpid(s->pid, &st, WNOHANG) == s->pid)
                done = true;
            else
                lg_sleep_ms(10);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
        s->pid = 0;
    }
}

void lg_server_stop(lg_server_t *s)
{
    stop_process(s);
    if (s->dir[0]) {
        nftw(s->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        s->dir[0] = 0;
    }
}

double lg_proc_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the command name "(...)": state is field 3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

uint64_t lg_proc_rss(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu kB", (unsigned long *)&kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

double lg_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- blocking HTTP ---- */

static int connect_blocking(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int lg_http(int *fd, int port, const char *method, const char *path, const char *json, char *body,
            size_t cap)
{
    if (*fd < 0 && (*fd = connect_blocking(port)) < 0)
        return -1;
    char req[4096];
    size_t bl = json ? strlen(json) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, bl, json ? json : "");
    if (n < 0 || (size_t)n >= sizeof req || write_all(*fd, req, (size_t)n) != 0)
        goto fail;
    char hdr[8192];
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl == sizeof hdr - 1)
            goto fail;
        ssize_t r = read(*fd, hdr + hl, sizeof hdr - 1 - hl);
        if (r <= 0)
            goto fail;
        hl += (size_t)r;
        hdr[hl] = 0;
        end = strstr(hdr, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(hdr, "HTTP/1.%*d %d", &status) != 1)
        goto fail;
    size_t clen = 0;
    char *cl = strcasestr(hdr, "\r\ncontent-length:");
    if (cl)
        clen = strtoul(cl + 17, NULL, 10);
    size_t have = hl - (size_t)(end + 4 - hdr);
    size_t bn = 0;
    if (cap > 0) {
        size_t take = have < cap - 1 ? have : cap - 1;
        memcpy(body, end + 4, take);
        bn = take;
    }
    while (have < clen) {
        char tmp[4096];
        ssize_t r = read(*fd, tmp, clen - have < sizeof tmp ? clen - have : sizeof tmp);
        if (r <= 0)
            goto fail;
        if (cap > 0 && bn < cap - 1) {
            size_t take = (size_t)r < cap - 1 - bn ? (size_t)r : cap - 1 - bn;
            memcpy(body + bn, tmp, take);
            bn += take;
        }
        have += (size_t)r;
    }
    if (cap > 0)
        body[bn] = 0;
    if (strcasestr(hdr, "connection: close")) {
        close(*fd);
        *fd = -1;
    }
    return status;
fail:
    close(*fd);
    *fd = -1;
    return -1;
}

int64_t lg_json_int(const char *js, size_t len, const char *name)
{
    char key[64];
    int kl = snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = memmem(js, len, key, (size_t)kl);
    if (!p)
        return -1;
    return strtoll(p + kl, NULL, 10);
}

/* ---- blocking WebSocket ---- */

int lg_bws_open(lg_bws_t *w, int port, const char *token)
{
    memset(w, 0, sizeof *w);
    w->fd = connect_blocking(port);
    if (w->fd < 0)
        return -1;
    char hs[512];
    int n = lg_ws_handshake(hs, sizeof hs, "127.0.0.1", "/v1/ws");
    if (write_all(w->fd, hs, (size_t)n) != 0)
        return -1;
    /* Read the 101 byte by byte so no frame bytes are swallowed. */
    char h[2048];
    size_t hl = 0;
    while (hl < 4 || memcmp(h + hl - 4, "\r\n\r\n", 4) != 0) {
        if (hl == sizeof h || read(w->fd, h + hl, 1) != 1)
            return -1;
        hl++;
    }
    if (hl < 12 || memcmp(h + 9, "101", 3) != 0)
        return -1;
    char auth[256];
    n = snprintf(auth, sizeof auth, "{\"id\":0,\"op\":\"auth\",\"token\":\"%s\"}", token);
    if (lg_bws_send(w, auth, (size_t)n) != 0)
        return -1;
    size_t ml;
    const char *m;
    while ((m = lg_bws_recv(w, &ml)) != NULL) {
        if (strncmp(m, "{\"re\":0,", 8) == 0)
            return strstr(m, "\"ok\":true") ? 0 : -1;
    }
    return -1;
}

int lg_bws_send(lg_bws_t *w, const char *text, size_t n)
{
    uint8_t *b = NULL;
    size_t bl = 0, bc = 0;
    lg_ws_encode(&b, &bl, &bc, 1, text, n);
    int rc = write_all(w->fd, b, bl);
    free(b);
    return rc;
}

const char *lg_bws_recv(lg_bws_t *w, size_t *n)
{
    static uint8_t *msg;
    static size_t msg_cap;
    for (;;) {
        unsigned op;
        const uint8_t *pl;
        size_t plen;
        ssize_t fl = lg_ws_parse(w->in, w->in_len, &op, &pl, &plen);
        if (fl < 0)
            return NULL;
        if (fl > 0) {
            if (plen + 1 > msg_cap) {
                msg_cap = plen + 1;
                msg = realloc(msg, msg_cap);
            }
            memcpy(msg, pl, plen);
            msg[plen] = 0;
            memmove(w->in, w->in + fl, w->in_len - (size_t)fl);
            w->in_len -= (size_t)fl;
            if (op == 8)
                return NULL;
            if (op == 9) {
                uint8_t *b = NULL;
                size_t bl = 0, bc = 0;
                lg_ws_encode(&b, &bl, &bc, 10, msg, plen);
                write_all(w->fd, b, bl);
                free(b);
                continue;
            }
            if (op != 1)
                continue;
            *n = plen;
            return (const char *)msg;
        }
        if (w->in_cap - w->in_len < 65536) {
            w->in_cap = w->in_cap * 2 + 65536;
            w->in = realloc(w->in, w->in_cap);
        }
        ssize_t r = read(w->fd, w->in + w->in_len, w->in_cap - w->in_len);
        if (r <= 0)
            return NULL;
        w->in_len += (size_t)r;
    }
}

void lg_bws_close(lg_bws_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->in);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}
