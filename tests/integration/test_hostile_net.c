/* SPDX-License-Identifier: MIT */
/* test_hostile_net.c -- attacks on parleyd's network layer, each reproduced
 * against the real binary with the bounded outcome asserted: pipelined
 * requests from a client that never reads, keep-alive tricklers, ping floods,
 * one address holding many sockets, unauthenticated WebSockets (deadline,
 * message size), Host and Expect rules, Origin allow lists, and a low
 * open-file limit. Memory is read from the server's /proc/<pid>/status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

#define MiB (1024L * 1024)

/* How much a server's peak RSS may grow during an attack. Each attack made
 * it grow by 70-240 MiB before it was bounded; bounded, by a few MiB. Under
 * AddressSanitizer, freed blocks sit in its quarantine and every block has
 * redzones, so RSS says less: the bound is looser there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) /* TSan: shadow memory */
#define GROWTH_MAX_KB (96L * 1024)
#else
#define GROWTH_MAX_KB (32L * 1024)
#endif

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One line of the server's /proc/<pid>/status, in KiB. */
static long proc_kb(const th_server_t *s, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kb = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            kb = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    assert_true(kb >= 0);
    return kb;
}

/* The server's peak RSS so far (VmHWM): an attack's memory shows even if
 * it was freed again before the test looks. */
static long peak_kb(const th_server_t *s)
{
    return proc_kb(s, "VmHWM");
}

/* True once the server log holds needle (waits up to timeout_ms). */
static bool log_has(const th_server_t *s, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t cap = 8 * MiB;
    char *buf = malloc(cap);
    bool found = false;
    do {
        FILE *f = fopen(s->log_path, "r");
        if (f) {
            size_t n = fread(buf, 1, cap - 1, f);
            buf[n] = '\0';
            fclose(f);
            found = strstr(buf, needle) != NULL;
        }
        if (!found)
            sleep_ms(50);
    } while (!found && now_ms() < deadline);
    free(buf);
    return found;
}

/* A TCP connection to 127.0.0.1:port from src (NULL: any), with a small
 * receive buffer when rcvbuf > 0 (set before connect, so the window stays
 * small). Blocking, 10 s receive timeout. Returns -1 if connect fails. */
static int connect_from(const char *src, int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &s.sin_addr);
        if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0)
            fail_msg("bind %s: %s", src, strerror(errno));
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
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

/* Sends what it can: false when the peer is gone (no SIGPIPE). */
static bool send_some(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

/* A plain request on an open connection; returns the status. */
static int request_on(int fd, const char *req, char *body, size_t bcap)
{
    char head[8192];
    if (!send_some(fd, req, strlen(req)))
        return -1;
    return th_read_response(fd, head, sizeof head, body, bcap);
}

/* A web root of its own with one 140 KB file (/big.js), so the tests below
 * do not depend on the size of the web client's files. */
#define BIG_SIZE 139882
static char big_dir[256];

static const char *web_root_setting(void)
{
    static char s[300];
    snprintf(big_dir, sizeof big_dir, "/tmp/parley-it-web-XXXXXX");
    assert_non_null(mkdtemp(big_dir));
    char path[300];
    snprintf(path, sizeof path, "%s/big.js", big_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < BIG_SIZE; i++)
        fputc(i % 64 == 63 ? '\n' : 'a' + i % 26, f);
    fclose(f);
    snprintf(s, sizeof s, "web_root=%s", big_dir);
    return s;
}

static void web_root_remove(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/big.js", big_dir);
    unlink(path);
    rmdir(big_dir);
}

/* ---- 1: pipelined requests from a client that never reads ---- */

/* 1,500 "GET /big.js" (140 KB each) in one write on a socket with a small
 * receive window, never read. Before: every response was queued (RSS
 * 33 -> 234 MiB in 2 s) and the connection lived on. Now the server stops
 * parsing past max_http_unsent_bytes, another client is served meanwhile,
 * and the stuck connection is dropped after http_idle_timeout_ms. */
static void test_pipelined_static_no_read(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {web_root_setting(), "http_idle_timeout_ms=1000", "log_level=debug", NULL};
    th_server_start(&s, set);
    long peak0 = peak_kb(&s);

    int fd = connect_from(NULL, s.port, 4096);
    assert_true(fd >= 0);
    static const char one[] = "GET /big.js HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 1500, len = (sizeof one - 1) * n;
    char *reqs = malloc(len);
    for (size_t i = 0; i < n; i++)
        memcpy(reqs + i * (sizeof one - 1), one, sizeof one - 1);
    assert_true(send_some(fd, reqs, len));
    free(reqs);

    /* Meanwhile another client is served as usual. */
    char body[4096];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(200, th_http(s.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
        sleep_ms(400);
    }
    long grown = peak_kb(&s) - peak0;
    print_message("pipelined big.js x1500, not read: peak RSS grew %ld KiB\n", grown);
    assert_true(grown < GROWTH_MAX_KB);

    /* Dropped (the server says so), without the client reading anything. */
    assert_true(log_has(&s, "idle timeout", 20000));
    /* Reading now finds the end of the stream long before 1,500 answers. */
    size_t got = 0;
    char *buf = malloc(1 << 20);
    for (;;) {
        ssize_t r = recv(fd, buf, 1 << 20, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    free(buf);
    print_message("bytes readable after the drop: %zu (all answers: %zu)\n", got,
                  (size_t)1500 * BIG_SIZE);
    assert_true(got < (size_t)100 * BIG_SIZE);
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
    web_root_remove();
}

/* The bound must not cost a well-behaved pipelining client anything: ten
 * app.js requests (1.4 MB of answers, twenty times the bound) sent at once
 * with the write side then closed, all read: ten answers, in order, then
 * the end of the stream. */
static void test_pipelined_half_close_all_answered(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {web_root_setting(), NULL};
    th_server_start(&s, set);
    int fd = connect_from(NULL, s.port, 0);
    char reqs[1024] = "";
    for (int i = 0; i < 10; i++)
        strcat(reqs, i % 2 ? "GET /big.js HTTP/1.1\r\nHost: x\r\n\r\n"
                           : "GET /big.js?n=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(send_some(fd, reqs, strlen(reqs)));
    shutdown(fd, SHUT_WR);
    char head[4096];
    for (int i = 0; i < 10; i++)
        assert_int_equal(200, th_read_response(fd, head, sizeof head, NULL, 0));
    assert_true(th_peer_closed(fd, 10000));
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
    web_root_remove();
}

/* 600k pipelined GET /healthz (21 MB) as fast as the socket takes them,
 * never read. Before: RSS -> 326 MiB. Now the server stops parsing while
 * answers wait (and after http_keepalive_requests it only reads to discard
 * until the connection closes): memory stays flat, and the connection is
 * dropped once nothing moves for http_idle_timeout_ms. */
static void test_pipelined_healthz_flood(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"http_idle_timeout_ms=1500", NULL};
    th_server_start(&s, set);
    long peak0 = peak_kb(&s);
    int fd = connect_from(NULL, s.port, 4096);
    assert_true(fd >= 0);
    static const char one[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t per = 1000, chunk = (sizeof one - 1) * per;
    char *reqs = malloc(chunk);
    for (size_t i = 0; i < per; i++)
        memcpy(reqs + i * (sizeof one - 1), one, sizeof one - 1);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t sent = 0, total = chunk * 600;
    while (sent < total) {
        ssize_t w = send(fd, reqs + sent % chunk, chunk - sent % chunk, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN)
            break; /* dropped */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) <= 0)
            break; /* the server stopped reading */
    }
    free(reqs);
    long grown = peak_kb(&s) - peak0;
    print_message("healthz flood: sent %zu of %zu bytes, peak RSS grew %ld KiB\n", sent, total,
                  grown);
    assert_true(grown < GROWTH_MAX_KB);
    char body[256];
    assert_int_equal(200, th_http(s.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
    /* The stuck connection goes: its socket stops accepting our bytes with
     * an error once the server closed it. */
    int64_t deadline = now_ms() + 30000;
    bool gone = false;
    while (!gone && now_ms() < deadline) {
        if (send(fd, one, sizeof one - 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            gone = true;
        else
            sleep_ms(100);
    }
    assert_true(gone);
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 1: tricklers ---- */

/* One request at a time, each answer read: the connection is closed after
 * http_keepalive_requests answers, the last one saying Connection: close. */
static void test_trickler_request_cap(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"http_keepalive_requests=5", NULL};
    th_server_start(&s, set);
    int fd = connect_from(NULL, s.port, 0);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char head[4096], body[256];
    int answered = 0;
    for (int i = 0; i < 20; i++) {
        if (!send_some(fd, req, sizeof req - 1) ||
            th_read_response(fd, head, sizeof head, body, sizeof body) != 200)
            break;
        answered++;
        if (strcasestr(head, "\r\nConnection: close\r\n"))
            break;
        sleep_ms(100);
    }
    assert_int_equal(5, answered);
    assert_true(th_peer_closed(fd, 10000));
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* A request every 200 ms, answers read: http_keepalive_time_ms ends it. */
static void test_trickler_age_cap(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"http_keepalive_time_ms=1000", NULL};
    th_server_start(&s, set);
    int fd = connect_from(NULL, s.port, 0);
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char head[4096], body[256];
    bool told = false;
    for (int i = 0; i < 200 && !told; i++) {
        if (!send_some(fd, req, sizeof req - 1) ||
            th_read_response(fd, head, sizeof head, body, sizeof body) != 200)
            break;
        told = strcasestr(head, "\r\nConnection: close\r\n") != NULL;
        sleep_ms(200);
    }
    assert_true(told);
    assert_true(th_peer_closed(fd, 10000));
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* A request every 200 ms, nothing read: answers pile up behind a full
 * window, and queuing more of them does not keep the connection alive:
 * the server drops it (before, every answer reset the idle clock). */
static void test_trickler_no_read(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {web_root_setting(), "http_idle_timeout_ms=1000", NULL};
    th_server_start(&s, set);
    int fd = connect_from(NULL, s.port, 4096);
    static const char req[] = "GET /big.js HTTP/1.1\r\nHost: x\r\n\r\n";
    bool gone = false;
    int64_t deadline = now_ms() + 60000;
    while (!gone && now_ms() < deadline) {
        gone = !send_some(fd, req, sizeof req - 1);
        sleep_ms(200);
    }
    assert_true(gone);
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
    web_root_remove();
}

/* ---- 2: ping flood without reading ---- */

/* 2M pings, nothing read. Before: every pong was queued beyond
 * max_write_queue (RSS 36 -> 351 MiB, no 4008). Now pongs count against it
 * (with each entry's overhead): 4008, flat memory. */
static void test_ping_flood(void **state)
{
    (void)state;
    th_server_t s;
    th_server_start(&s, NULL);
    th_json_bind(&s);
    json_int_t slow0 = th_stat("slow_consumers");
    long peak0 = peak_kb(&s);
    int fd = connect_from(NULL, s.port, 4096);
    char hs[512];
    int hn = snprintf(hs, sizeof hs,
                      "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                      "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n");
    assert_true(send_some(fd, hs, (size_t)hn));
    /* Empty masked pings: 0x89 0x80 + a zero mask key. */
    size_t per = 10000;
    uint8_t *pings = calloc(per, 6);
    for (size_t i = 0; i < per; i++) {
        pings[i * 6] = 0x89;
        pings[i * 6 + 1] = 0x80;
    }
    size_t sent = 0;
    for (int i = 0; i < 200 && send_some(fd, pings, per * 6); i++)
        sent += per;
    free(pings);
    sleep_ms(1000); /* let the server catch up with what the kernel holds */
    long grown = peak_kb(&s) - peak0;
    print_message("ping flood: %zu pings sent, peak RSS grew %ld KiB\n", sent, grown);
    assert_true(grown < GROWTH_MAX_KB);
    json_int_t slow = 0;
    for (int i = 0; i < 200 && (slow = th_stat("slow_consumers")) == slow0; i++)
        sleep_ms(50);
    assert_true(slow > slow0);
    /* The client, reading at last, finds the pongs and then 4008. */
    char head[1024];
    size_t n = 0;
    while (n + 1 < sizeof head) {
        if (recv(fd, head + n, 1, 0) <= 0)
            break;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    assert_non_null(strstr(head, "101"));
    int code = th_ws_expect_close(fd, 20000);
    assert_true(code == 4008 || code == 1006); /* 1006: reset before we read it */
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 6: one address, many sockets ---- */

static bool refused_429(int fd)
{
    char head[4096], body[512];
    int st = th_read_response(fd, head, sizeof head, body, sizeof body);
    return st == 429 && strstr(body, "\"too_many_connections\"") != NULL &&
           th_peer_closed(fd, 5000);
}

/* max_connections_per_ip=4: the fifth socket from 127.0.0.1 is refused
 * with 429 at once, while 127.0.0.2 is served; closing one frees a slot.
 * The count spans the loops (connections land on either with threads=2),
 * includes WebSockets, and trusted proxies are exempt. */
static void test_per_ip_cap(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"max_connections_per_ip=4", "trusted_proxies=127.0.0.3", "log_level=debug",
                         NULL};
    th_server_start(&s, set);
    int held[4];
    for (int i = 0; i < 3; i++) {
        held[i] = connect_from("127.0.0.1", s.port, 0);
        assert_true(held[i] >= 0);
        assert_int_equal(200,
                         request_on(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0));
    }
    held[3] = th_ws_connect(s.port, "/v1/ws");
    for (int i = 0; i < 3; i++) {
        int x = connect_from("127.0.0.1", s.port, 0);
        assert_true(x >= 0);
        if (i % 2) {
            /* A browser sends its request right away, after the server has
             * answered: the 429 must survive the request's arrival (no
             * RST from a socket closed under it). */
            usleep(50 * 1000);
            const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
            assert_true(send_some(x, get, strlen(get)));
        }
        assert_true(refused_429(x));
        close(x);
    }
    assert_true(log_has(&s, "too many from one address peer=127.0.0.1", 5000));

    /* Another address is not affected. */
    int other = connect_from("127.0.0.2", s.port, 0);
    assert_int_equal(200, request_on(other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0));

    /* A trusted proxy carries many clients: not capped. */
    int prox[8];
    for (int i = 0; i < 8; i++) {
        prox[i] = connect_from("127.0.0.3", s.port, 0);
        assert_int_equal(200, request_on(prox[i],
                                         "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                         "X-Forwarded-For: 203.0.113.9\r\n\r\n",
                                         NULL, 0));
    }

    /* Closing one frees its slot (the WebSocket, whose close runs through
     * the chat layer too). */
    close(held[3]);
    int64_t deadline = now_ms() + 10000;
    bool served = false;
    while (!served && now_ms() < deadline) {
        int x = connect_from("127.0.0.1", s.port, 0);
        served = request_on(x, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0) == 200;
        close(x);
        if (!served)
            sleep_ms(100);
    }
    assert_true(served);
    for (int i = 0; i < 3; i++)
        close(held[i]);
    for (int i = 0; i < 8; i++)
        close(prox[i]);
    close(other);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 6: unauthenticated WebSockets ---- */

/* An upgrade that never authenticates is closed with 4001 after
 * ws_auth_timeout_ms even though it answers pings; an authenticated one
 * outlives the deadline. */
static void test_auth_deadline(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"ws_auth_timeout_ms=800", "ws_ping_interval_ms=200",
                         "ws_idle_timeout_ms=60000", NULL};
    th_server_start(&s, set);
    th_json_bind(&s);
    th_user_t u;
    th_new_user(&u, "dl");
    int authed = th_ws_login(&u);
    int fd = th_ws_connect(s.port, "/v1/ws");
    int code = 0;
    int64_t deadline = now_ms() + 20000;
    char buf[256];
    while (now_ms() < deadline) {
        size_t len;
        int cc = 0;
        int op = th_ws_recv(fd, buf, sizeof buf, &len, &cc, 20000);
        if (op == 0x9) {
            th_ws_send_frame(fd, 0x8A, buf, len); /* a live, answering client */
            continue;
        }
        code = op == 0x8 ? cc : 1006;
        break;
    }
    assert_int_equal(4001, code);
    close(fd);
    sleep_ms(1000); /* past the deadline for the authenticated one too */
    json_t *r = th_call(authed, "\"op\":\"ping\"");
    th_expect_ok(r);
    json_decref(r);
    close(authed);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* Sends the handshake and returns the fd, without waiting for the 101. */
static int ws_start(int port)
{
    int fd = connect_from(NULL, port, 0);
    char hs[512];
    int n = snprintf(hs, sizeof hs,
                     "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
    assert_true(send_some(fd, hs, (size_t)n));
    return fd;
}

/* 150 unauthenticated sockets each start a 1 MiB fragmented message and
 * never finish it. Before: all of it was buffered (+156 MiB). Now each is
 * closed with 1009 at max_ws_preauth_message (64 KiB). The same 200 KiB
 * message is fine after auth. */
static void test_preauth_message_cap(void **state)
{
    (void)state;
    th_server_t s;
    th_server_start(&s, NULL);
    th_json_bind(&s);
    long peak0 = peak_kb(&s);
    enum { N = 150, FRAG = 16384 };
    int fds[N];
    uint8_t *frag = malloc(FRAG);
    memset(frag, 'a', FRAG);
    for (int i = 0; i < N; i++) {
        fds[i] = ws_start(s.port);
        /* The first fragment, then continuations up to 1 MiB (or until the
         * server closes on us). */
        bool ok = th_ws_try_send_frame(fds[i], 0x01, frag, FRAG);
        for (int k = 1; ok && k < (1 << 20) / FRAG; k++)
            ok = th_ws_try_send_frame(fds[i], 0x00, frag, FRAG);
    }
    free(frag);
    sleep_ms(1000); /* let the server catch up with what the kernel holds */
    long grown = peak_kb(&s) - peak0;
    print_message("150 unauthenticated 1 MiB fragmented messages: peak RSS grew %ld KiB\n", grown);
    assert_true(grown < GROWTH_MAX_KB);
    for (int i = 0; i < N; i++) {
        char head[1024];
        assert_true(th_read_response(fds[i], head, sizeof head, NULL, 0) == -1 ||
                    strstr(head, "101") != NULL);
        int code = th_ws_expect_close(fds[i], 10000);
        assert_true(code == 1009 || code == 1006);
        close(fds[i]);
    }

    /* One clean case: a 200 KiB message before auth is 1009 ... */
    size_t big = 200 * 1024;
    char *msg = malloc(big + 64);
    int k = snprintf(msg, 64, "{\"id\":77,\"op\":\"ping\",\"pad\":\"");
    memset(msg + k, 'p', big);
    strcpy(msg + k + big, "\"}");
    int fd = th_ws_connect(s.port, "/v1/ws");
    th_ws_send_text(fd, msg);
    assert_int_equal(1009, th_ws_expect_close(fd, 10000));
    close(fd);
    /* ... and answered after auth. */
    th_user_t u;
    th_new_user(&u, "pa");
    fd = th_ws_login(&u);
    char reply[4096];
    assert_true(th_ws_request(fd, 77, msg, reply, sizeof reply) > 0);
    close(fd);
    free(msg);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 10: Host ---- */

static void test_host_header(void **state)
{
    (void)state;
    th_server_t s;
    th_server_start(&s, NULL);
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET /healthz HTTP/1.1\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"GET /healthz HTTP/1.0\r\n\r\n", 200},
        {"GET /healthz HTTP/1.1\r\nHost: chat.example.com\r\n\r\n", 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = th_connect(s.port);
        char body[512];
        int st = request_on(fd, cases[i].req, body, sizeof body);
        if (st != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, st, cases[i].status);
        if (st == 400) {
            assert_non_null(strstr(body, "\"bad_request\""));
            assert_true(th_peer_closed(fd, 5000));
        }
        close(fd);
    }
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 11: Expect: 100-continue ---- */

/* Reads exactly the interim response, or fails. */
static void expect_100(int fd)
{
    static const char want[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char got[sizeof want];
    size_t n = 0;
    while (n < sizeof want - 1) {
        ssize_t r = recv(fd, got + n, sizeof want - 1 - n, 0);
        if (r <= 0)
            fail_msg("no 100 Continue (got %zu bytes)", n);
        n += (size_t)r;
    }
    got[n] = '\0';
    assert_string_equal(want, got);
}

/* Nothing arrives within ms (the server waits for us). */
static bool nothing_for(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 0;
}

static void test_expect_continue_raw(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"max_upload_bytes=1m", NULL};
    th_server_start(&s, set);
    char token[160], name[64], head[4096], body[4096], req[1024];
    th_register(s.port, th_unique_name("ec", name, sizeof name), "correct horse", token, NULL);

    /* A buffered JSON body: 100, then the body, then the answer. */
    char json[256];
    int jn = snprintf(json, sizeof json, "{\"username\":\"%s\",\"password\":\"correct horse\"}",
                      th_unique_name("ed", name, sizeof name));
    int fd = th_connect(s.port);
    snprintf(req, sizeof req,
             "POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Expect: 100-continue\r\nContent-Length: %d\r\n\r\n",
             jn);
    assert_true(send_some(fd, req, strlen(req)));
    expect_100(fd);
    assert_true(send_some(fd, json, (size_t)jn));
    assert_int_equal(201, th_read_response(fd, head, sizeof head, body, sizeof body));
    close(fd);

    /* A streamed upload claimed by media: 100, then 201. */
    fd = th_connect(s.port);
    snprintf(req, sizeof req,
             "POST /v1/media?name=a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
             token);
    assert_true(send_some(fd, req, strlen(req)));
    expect_100(fd);
    assert_true(send_some(fd, "hello", 5));
    assert_int_equal(201, th_read_response(fd, head, sizeof head, body, sizeof body));
    close(fd);

    /* An upload with a token that is not valid: the 401 comes instead of a
     * 100 (media checks the token before the body is read). */
    fd = th_connect(s.port);
    snprintf(req, sizeof req,
             "POST /v1/media?name=a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_true(send_some(fd, req, strlen(req)));
    assert_int_equal(401, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(body, "\"unauthenticated\""));
    close(fd);

    /* Over max_http_body_bytes: the final 413 and no 100. */
    fd = th_connect(s.port);
    snprintf(req, sizeof req,
             "POST /v1/register HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Length: 99999999\r\n\r\n");
    assert_true(send_some(fd, req, strlen(req)));
    assert_int_equal(413, th_read_response(fd, head, sizeof head, body, sizeof body));
    close(fd);

    /* An upload over max_upload_bytes: media refuses it from the headers,
     * so its 413 comes instead of a 100. */
    fd = th_connect(s.port);
    snprintf(req, sizeof req,
             "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n",
             token);
    assert_true(send_some(fd, req, strlen(req)));
    assert_int_equal(413, th_read_response(fd, head, sizeof head, body, sizeof body));
    close(fd);

    /* Without Expect nothing is sent before the body. */
    fd = th_connect(s.port);
    snprintf(req, sizeof req, "POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             jn);
    assert_true(send_some(fd, req, strlen(req)));
    assert_true(nothing_for(fd, 300));
    close(fd);

    /* Any other expectation: 417. */
    fd = th_connect(s.port);
    snprintf(
        req, sizeof req,
        "POST /v1/register HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n");
    assert_true(send_some(fd, req, strlen(req)));
    assert_int_equal(417, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(body, "\"expectation_failed\""));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* curl sends Expect: 100-continue for a 2 MiB upload and waits for the 100
 * (1 s by default; 30 s here, so a missing 100 shows as a missing line, not
 * as a slow test). */
static void test_expect_continue_curl(void **state)
{
    (void)state;
    th_server_t s;
    th_server_start(&s, NULL);
    char token[160], name[64];
    th_register(s.port, th_unique_name("cu", name, sizeof name), "correct horse", token, NULL);
    char dir[] = "/tmp/parley-curl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], out[128], cmd[1024];
    snprintf(file, sizeof file, "%s/up.bin", dir);
    snprintf(out, sizeof out, "%s/curl.txt", dir);
    FILE *f = fopen(file, "wb");
    assert_non_null(f);
    char blk[4096];
    for (int i = 0; i < 512; i++) {
        for (size_t k = 0; k < sizeof blk; k++)
            blk[k] = (char)(rand() & 0xFF);
        fwrite(blk, 1, sizeof blk, f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "curl -sS -v --expect100-timeout 30 -H 'Expect: 100-continue' "
             "-H 'Authorization: Bearer %s' -H 'Content-Type: application/octet-stream' "
             "--data-binary @%s -o /dev/null -w 'status=%%{http_code}\\n' "
             "'http://127.0.0.1:%d/v1/media?name=up.bin' >%s 2>&1",
             token, file, s.port, out);
    assert_int_equal(0, system(cmd));
    f = fopen(out, "r");
    assert_non_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    if (!strstr(text, "< HTTP/1.1 100 Continue") || !strstr(text, "status=201"))
        fail_msg("curl output:\n%s", text);
    unlink(file);
    unlink(out);
    rmdir(dir);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 13: Origin ---- */

static int upgrade_status(int port, const char *origin)
{
    int fd = th_connect(port);
    char req[512], head[4096];
    int n = snprintf(req, sizeof req,
                     "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "");
    assert_true(send_some(fd, req, (size_t)n));
    size_t k = 0;
    while (k + 1 < sizeof head && recv(fd, head + k, 1, 0) == 1) {
        k++;
        if (k >= 4 && memcmp(head + k - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[k] = '\0';
    close(fd);
    int st = -1;
    sscanf(head, "HTTP/1.1 %d", &st);
    return st;
}

static void test_origin_allow_list(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"ws_allowed_origins=https://chat.example.com, http://localhost:8080",
                         NULL};
    th_server_start(&s, set);
    assert_int_equal(403, upgrade_status(s.port, "https://evil.example"));
    assert_int_equal(403, upgrade_status(s.port, "https://chat.example.com.evil.example"));
    assert_int_equal(403, upgrade_status(s.port, "null"));
    assert_int_equal(101, upgrade_status(s.port, "https://chat.example.com"));
    assert_int_equal(101, upgrade_status(s.port, "HTTP://LOCALHOST:8080"));
    assert_int_equal(101, upgrade_status(s.port, NULL)); /* not a browser */
    th_server_stop(&s);
    th_server_cleanup(&s);

    /* Default: any origin (the token is no ambient credential). */
    th_server_start(&s, NULL);
    assert_int_equal(101, upgrade_status(s.port, "https://evil.example"));
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* ---- 12: the open-file limit ---- */

/* Soft limit 64, hard 256, inherited by parleyd: it raises the soft limit
 * to 256 and caps max_connections below it (log line). More connections
 * than fit are refused at accept, and the connections it has keep working,
 * an upload (a file descriptor of its own) included. Before: new
 * connections were reset at random and uploads failed with 500. Runs last:
 * this process keeps the lowered hard limit. */
/* Descriptors this process has open. */
static int my_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void test_fd_limit(void **state)
{
    (void)state;
    /* A low soft limit that still leaves this process room to start the
     * server (sanitizers and earlier tests may hold a few descriptors). */
    rlim_t soft = (rlim_t)my_open_fds() + 48;
    if (soft < 64)
        soft = 64;
    assert_true(soft < 128);
    struct rlimit rl = {soft, 256};
    assert_int_equal(0, setrlimit(RLIMIT_NOFILE, &rl));
    th_server_t s;
    th_server_start(&s, NULL);
    rl.rlim_cur = 256;
    assert_int_equal(0, setrlimit(RLIMIT_NOFILE, &rl));
    char raised[80];
    snprintf(raised, sizeof raised, "open-file limit raised from=%d to=256", (int)soft);
    assert_true(log_has(&s, raised, 5000));
    assert_true(log_has(&s, "max_connections capped", 5000));
    char token[160], name[64];
    th_register(s.port, th_unique_name("fd", name, sizeof name), "correct horse", token, NULL);

    int keep[2];
    for (int i = 0; i < 2; i++) {
        keep[i] = th_connect(s.port);
        assert_int_equal(200,
                         request_on(keep[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0));
    }
    enum { MORE = 200 };
    int fds[MORE], refused = 0, opened = 0;
    for (int i = 0; i < MORE; i++) {
        fds[i] = connect_from(NULL, s.port, 0);
        if (fds[i] >= 0)
            opened++;
    }
    for (int i = 0; i < MORE; i++)
        if (fds[i] >= 0 && th_peer_closed(fds[i], i == 0 ? 2000 : 20))
            refused++;
    print_message("fd limit 256: %d connections opened, %d refused at accept\n", opened, refused);
    assert_true(refused > 0);

    assert_int_equal(200, request_on(keep[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0));
    char req[1024], body[4096];
    snprintf(req, sizeof req,
             "POST /v1/media?name=b.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
             token);
    assert_int_equal(201, request_on(keep[1], req, body, sizeof body));
    for (int i = 0; i < MORE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    close(keep[0]);
    close(keep[1]);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_static_no_read),
        cmocka_unit_test(test_pipelined_half_close_all_answered),
        cmocka_unit_test(test_pipelined_healthz_flood),
        cmocka_unit_test(test_trickler_request_cap),
        cmocka_unit_test(test_trickler_age_cap),
        cmocka_unit_test(test_trickler_no_read),
        cmocka_unit_test(test_ping_flood),
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_auth_deadline),
        cmocka_unit_test(test_preauth_message_cap),
        cmocka_unit_test(test_host_header),
        cmocka_unit_test(test_expect_continue_raw),
        cmocka_unit_test(test_expect_continue_curl),
        cmocka_unit_test(test_origin_allow_list),
        cmocka_unit_test(test_fd_limit), /* last: lowers this process's hard limit */
    };
    /* PL_TEST_ONLY=pattern (cmocka's * and ?) runs the matching tests only. */
    if (getenv("PL_TEST_ONLY"))
        cmocka_set_test_filter(getenv("PL_TEST_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
