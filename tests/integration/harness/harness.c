/* SPDX-License-Identifier: MIT */
/* harness.c -- start the real parleyd and talk to it over raw blocking
 * sockets (see harness.h). Failures abort the current cmocka test. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* The RFC 6455 sample nonce: its accept value is known, so the client can
 * check Sec-WebSocket-Accept without a SHA-1 of its own. */
#define TH_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define TH_WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free_port: %s", strerror(errno));
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void launch(th_server_t *s, const char *const *settings)
{
    const char *bin = getenv("PARLEYD");
    if (!bin || !*bin)
        bin = "build/parleyd";
    if (s->port == 0) /* a restart keeps its port so connected clients find it again */
        s->port = free_port();
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    const char *argv[128];
    char listen[64];
    char owned[64][256];
    int n = 0, o = 0;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data";
    argv[n++] = s->data_dir;
    /* PL_TEST_THREADS=N (set by CTest for the *-threads2 runs) starts every
     * server with N loop threads; a test's own settings still win. */
    char threads[32] = "";
    const char *tenv = getenv("PL_TEST_THREADS");
    if (tenv && *tenv)
        snprintf(threads, sizeof threads, "threads=%s", tenv);
    /* Suites register and log in hundreds of users from 127.0.0.1: lift the
     * per-address account limits (test_hostile_api sets its own). */
    const char *const defaults[] = {"argon2_opslimit=1",
                                    "argon2_memlimit=8k",
                                    "register_per_ip_hour=1000000000",
                                    "login_per_ip_min=1000000000",
                                    threads[0] ? threads : NULL,
                                    NULL};
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass == 0 ? defaults : settings;
        for (size_t i = 0; list && list[i] && n < 120 && o < 64; i++) {
            snprintf(owned[o], sizeof owned[o], "%s", list[i]);
            argv[n++] = "--set";
            argv[n++] = owned[o++];
        }
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* A test that fails between start and stop skips th_server_stop:
         * the server must not outlive the test process. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    int64_t deadline = mono_ms() + 10000;
    char body[256];
    while (mono_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("parleyd exited during startup (status %d); log: %s", status, s->log_path);
        }
        int fd = try_connect(s->port);
        if (fd >= 0) {
            close(fd);
            if (th_http(s->port, "GET", "/healthz", NULL, NULL, body, sizeof body) == 200)
                return;
        }
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    fail_msg("parleyd did not answer /healthz within 10 s; log: %s", s->log_path);
}

void th_server_start(th_server_t *s, const char *const *settings)
{
    memset(s, 0, sizeof *s);
    char tmpl[] = "/tmp/parley-it-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", tmpl);
    mkdir(s->data_dir, 0700);
    snprintf(s->log_path, sizeof s->log_path, "%s/parleyd.log", tmpl);
    launch(s, settings);
}

void th_server_restart(th_server_t *s, const char *const *settings)
{
    launch(s, settings);
}

int th_server_stop(th_server_t *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int status = 0;
    int64_t deadline = mono_ms() + 15000;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            break;
        if (mono_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            s->pid = 0;
            fail_msg("parleyd did not exit within 15 s of SIGTERM; log: %s", s->log_path);
        }
        usleep(10000);
    }
    s->pid = 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0)
        fail_msg("parleyd exited with %d; log: %s", code, s->log_path);
    return code;
}

void th_server_kill9(th_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void th_server_cleanup(th_server_t *s)
{
    if (s->pid > 0)
        th_server_kill9(s);
    char parent[256];
    snprintf(parent, sizeof parent, "%s", s->data_dir);
    char *slash = strrchr(parent, '/');
    if (!slash || strncmp(parent, "/tmp/parley-it-", 15) != 0)
        return;
    *slash = '\0';
    /* Keep the directory when PARLEY_KEEP_LOGS is set, for post-mortems. */
    if (getenv("PARLEY_KEEP_LOGS"))
        return;
    nftw(parent, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- sockets ---- */

int th_connect(int port)
{
    int fd = try_connect(port);
    if (fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    return fd;
}

void th_send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

/* Waits until fd is readable or timeout_ms passes; true if readable. */
static bool wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

size_t th_recv_until_close(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    while (n + 1 < cap) {
        int64_t left = deadline - mono_ms();
        if (left <= 0 || !wait_readable(fd, (int)left))
            break;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Reads exactly n bytes; false on EOF/timeout. */
static bool recv_exact(int fd, void *p, size_t n, int64_t deadline)
{
    char *s = p;
    while (n > 0) {
        int64_t left = deadline - mono_ms();
        if (left <= 0 || !wait_readable(fd, (int)left))
            return false;
        ssize_t r = recv(fd, s, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        s += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads an HTTP response head (up to and including CRLFCRLF) byte by byte,
 * so nothing after it is consumed. Returns its length or 0. */
static size_t recv_head(int fd, char *buf, size_t cap, int64_t deadline)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!recv_exact(fd, buf + n, 1, deadline))
            break;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return n;
        }
    }
    buf[n] = '\0';
    return 0;
}

int th_read_response(int fd, char *head, size_t hcap, char *body, size_t bcap)
{
    size_t n = 0;
    while (n + 1 < hcap) {
        ssize_t r = recv(fd, head + n, 1, 0);
        if (r <= 0)
            return -1;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    int status = -1;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0, got = 0;
    while (got < len) {
        char tmp[4096];
        size_t want = len - got < sizeof tmp ? len - got : sizeof tmp;
        ssize_t r = recv(fd, tmp, want, 0);
        if (r <= 0)
            return -1;
        if (body && got < bcap - 1)
            memcpy(body + got, tmp, (size_t)r < bcap - 1 - got ? (size_t)r : bcap - 1 - got);
        got += (size_t)r;
    }
    if (body)
        body[got < bcap - 1 ? got : bcap - 1] = '\0';
    return status;
}

bool th_peer_closed(int fd, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char buf[65536];
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        long left = timeout_ms - spent;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

int th_http(int port, const char *method, const char *path, const char *auth, const char *json_body,
            char *body, size_t body_cap)
{
    int fd = th_connect(port);
    char req[8192];
    char authz[600] = "";
    size_t blen = json_body ? strlen(json_body) : 0;
    if (auth)
        snprintf(authz, sizeof authz, "Authorization: Bearer %s\r\n", auth);
    int n =
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s",
                 method, path, port, authz);
    if (json_body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    th_send_all(fd, req, (size_t)n);
    if (blen)
        th_send_all(fd, json_body, blen);
    size_t cap = 1 << 20;
    char *resp = malloc(cap);
    size_t got = th_recv_until_close(fd, resp, cap, 10000);
    close(fd);
    int status = -1;
    if (got < 12 || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        free(resp);
        if (body && body_cap)
            body[0] = '\0';
        return -1;
    }
    if (body && body_cap) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(body, body_cap, "%s", b ? b + 4 : "");
    }
    free(resp);
    return status;
}

/* Copies the JSON string value of "key" in json into out. */
static bool json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '"')
        return false;
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
    return *p == '"';
}

void th_register(int port, const char *username, const char *password, char *token, char *user_id)
{
    char req[512], body[4096];
    snprintf(req, sizeof req, "{\"username\":\"%s\",\"password\":\"%s\"}", username, password);
    int st = th_http(port, "POST", "/v1/register", NULL, req, body, sizeof body);
    if (st != 201)
        fail_msg("register %s: status %d body %s", username, st, body);
    if (token && !json_str(body, "token", token, 128))
        fail_msg("register: no token in %s", body);
    if (user_id && !json_str(body, "user_id", user_id, 32))
        fail_msg("register: no user_id in %s", body);
}

/* ---- WebSocket client ---- */

int th_ws_connect(int port, const char *path)
{
    int fd = th_connect(port);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " TH_WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    th_send_all(fd, req, (size_t)n);
    char head[4096];
    if (!recv_head(fd, head, sizeof head, mono_ms() + 10000))
        fail_msg("ws %s: no handshake response (%s)", path, head);
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        fail_msg("ws %s: handshake refused: %s", path, head);
    /* Header names are case-insensitive (HAProxy sends them lowercase). */
    if (!strcasestr(head, "Sec-WebSocket-Accept: " TH_WS_ACCEPT "\r\n"))
        fail_msg("ws %s: bad Sec-WebSocket-Accept: %s", path, head);
    return fd;
}

/* Encodes the masked frame into a new buffer (free()); *n its length. */
static uint8_t *ws_frame_encode(uint8_t b0, const void *payload, size_t len, size_t *n)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = b0;
    if (len <= 125) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4];
    for (int i = 0; i < 4; i++)
        mask[i] = (uint8_t)(rand() & 0xFF);
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *buf = malloc(h + len + 1);
    memcpy(buf, hdr, h);
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = p[i] ^ mask[i & 3];
    *n = h + len;
    return buf;
}

void th_ws_send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    size_t n;
    uint8_t *buf = ws_frame_encode(b0, payload, len, &n);
    th_send_all(fd, buf, n);
    free(buf);
}

bool th_ws_try_send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    size_t n;
    uint8_t *buf = ws_frame_encode(b0, payload, len, &n);
    const uint8_t *p = buf;
    bool ok = true;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    free(buf);
    return ok;
}

void th_ws_send_text(int fd, const char *text)
{
    th_ws_send_frame(fd, 0x81, text, strlen(text));
}

int th_ws_recv(int fd, char *buf, size_t cap, size_t *len, int *close_code, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    uint8_t h[2];
    if (!recv_exact(fd, h, 2, deadline))
        return -1;
    uint64_t n = h[1] & 0x7F;
    if (n == 126) {
        uint8_t e[2];
        if (!recv_exact(fd, e, 2, deadline))
            return -1;
        n = ((uint64_t)e[0] << 8) | e[1];
    } else if (n == 127) {
        uint8_t e[8];
        if (!recv_exact(fd, e, 8, deadline))
            return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | e[i];
    }
    if (h[1] & 0x80)
        fail_msg("server sent a masked frame");
    size_t keep = cap ? (size_t)(n < cap - 1 ? n : cap - 1) : 0;
    char *tmp = malloc(n ? n : 1);
    if (!tmp || !recv_exact(fd, tmp, n, deadline)) {
        free(tmp);
        return -1;
    }
    if (cap) {
        memcpy(buf, tmp, keep);
        buf[keep] = '\0';
    }
    int op = h[0] & 0x0F;
    if (op == 0x8 && close_code)
        *close_code = n >= 2 ? (((uint8_t)tmp[0] << 8) | (uint8_t)tmp[1]) : 1005;
    free(tmp);
    if (len)
        *len = (size_t)n;
    return op;
}

long th_ws_recv_text(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        size_t len;
        int op = th_ws_recv(fd, buf, cap, &len, NULL, (int)left);
        if (op < 0 || op == 0x8)
            return -1;
        if (op == 0x9) {
            th_ws_send_frame(fd, 0x8A, buf, len);
            continue;
        }
        if (op == 0x1)
            return (long)len;
    }
}

/* Parses the integer after "re": in a JSON text; false if absent/not int. */
static bool json_re(const char *json, long *out)
{
    const char *p = strstr(json, "\"re\"");
    if (!p)
        return false;
    p += 4;
    while (*p == ' ' || *p == ':')
        p++;
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p)
        return false;
    *out = v;
    return true;
}

long th_ws_request(int fd, long id, const char *json, char *buf, size_t cap)
{
    th_ws_send_text(fd, json);
    int64_t deadline = mono_ms() + 10000;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        long n = th_ws_recv_text(fd, buf, cap, (int)left);
        if (n < 0)
            return -1;
        long re;
        if (json_re(buf, &re) && re == id)
            return n;
    }
}

int th_ws_expect_close(int fd, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    char buf[256];
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 1006;
        size_t len;
        int code = 1005;
        int op = th_ws_recv(fd, buf, sizeof buf, &len, &code, (int)left);
        if (op < 0)
            return 1006;
        if (op == 0x8)
            return code;
    }
}

const char *th_unique_name(const char *prefix, char *out, size_t cap)
{
    static unsigned counter;
    snprintf(out, cap, "%s%x%x%u", prefix, (unsigned)getpid() & 0xFFFF,
             (unsigned)(mono_ms() & 0xFFFFF), ++counter);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}
