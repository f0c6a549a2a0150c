/* SPDX-License-Identifier: MIT */
/* test_ws_server.c -- in-process loopback test of the network front: the
 * server listens on 127.0.0.1:0 in this thread's loop while a client thread
 * drives it with raw blocking sockets. Covers HTTP (sync, async and
 * pipelined answers), /v1/ws open/message/close, encode-once fan-out
 * (stats), the slow-consumer close, /v1/echo, and graceful shutdown with
 * 1001; ends with uv_loop_close() == 0 as the leak gate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "net/server.h"
#include "ws/ws_conn.h"

/* ---- server side (loop thread) ---- */

typedef struct {
    uv_loop_t loop;
    pl_config_t cfg;
    pl_server_t *srv;
    uv_async_t done_async;
    uv_timer_t later;
    pl_http_req_t *later_req;
    pl_conn_t *conns[16];
    int nconns;
    int opened, closed, messages;
    int send_rc_flood;
    uint64_t encoded_before, encoded_after, queued_before, queued_after;
    bool shutdown_cb_ran;
    int port;
} world_t;

static world_t W;

/* Frames data (copied) and queues it on c. */
static int send_text(pl_conn_t *c, const char *data, size_t len)
{
    pl_frame_t *f = pl_frame_new_text(data, len);
    int rc = pl_conn_send_frame(c, f);
    pl_frame_unref(f);
    return rc;
}

static void on_later(uv_timer_t *t)
{
    (void)t;
    pl_http_respond(W.later_req, 200, "text/plain", "later", 5, NULL);
    W.later_req = NULL;
}

static void on_http(void *ud, pl_http_req_t *req)
{
    (void)ud;
    if (strcmp(pl_http_path(req), "/hello") == 0) {
        pl_http_respond(req, 200, "text/plain", "hi", 2, "X-Test: 1\r\n");
    } else if (strcmp(pl_http_path(req), "/async") == 0) {
        W.later_req = req;
        uv_timer_start(&W.later, on_later, 20, 0);
    } else {
        pl_http_respond_error(req, 404, "not_found", "nothing \"here\"", NULL);
    }
}

static void on_ws_open(void *ud, pl_conn_t *c)
{
    (void)ud;
    W.opened++;
    W.conns[W.nconns++] = c;
    pl_conn_set_data(c, &W);
}

static void on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    (void)ud;
    W.messages++;
    pl_server_stats_t st;
    if (len == 9 && memcmp(data, "broadcast", 9) == 0) {
        pl_server_get_stats(W.srv, &st);
        W.encoded_before = st.frames_encoded;
        W.queued_before = st.frames_queued;
        pl_frame_t *f = pl_frame_new_text("payload", 7);
        for (int i = 0; i < W.nconns; i++)
            if (W.conns[i])
                assert_int_equal(0, pl_conn_send_frame(W.conns[i], f));
        pl_frame_unref(f);
        pl_server_get_stats(W.srv, &st);
        W.encoded_after = st.frames_encoded;
        W.queued_after = st.frames_queued;
    } else if (len == 8 && memcmp(data, "close-me", 8) == 0) {
        pl_conn_close(c, 4001, "bye");
        assert_int_equal(PL_ECLOSED, send_text(c, "x", 1));
    } else if (len == 5 && memcmp(data, "flood", 5) == 0) {
        char chunk[1024];
        memset(chunk, 'f', sizeof chunk);
        int rc = 0;
        for (int i = 0; i < 200 && rc == 0; i++)
            rc = send_text(c, chunk, sizeof chunk);
        W.send_rc_flood = rc;
    } else {
        send_text(c, data, len); /* echo on /v1/ws */
    }
}

static void on_ws_close(void *ud, pl_conn_t *c)
{
    (void)ud;
    W.closed++;
    for (int i = 0; i < W.nconns; i++)
        if (W.conns[i] == c)
            W.conns[i] = NULL;
}

static void on_shutdown_done(void *arg)
{
    (void)arg;
    W.shutdown_cb_ran = true;
}

static void on_done(uv_async_t *a)
{
    (void)a;
    pl_server_shutdown(W.srv, on_shutdown_done, NULL);
    uv_close((uv_handle_t *)&W.done_async, NULL);
    uv_close((uv_handle_t *)&W.later, NULL);
}

/* ---- client side (thread, plain blocking sockets) ---- */

typedef struct {
    int failures;
    char why[256];
} client_result_t;

static client_result_t R;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!R.failures++)                                                                     \
                snprintf(R.why, sizeof R.why, "%s:%d: %s", __FILE__, __LINE__, #cond);             \
        }                                                                                          \
    } while (0)

static int cl_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)W.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void cl_send(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static bool cl_recv(int fd, void *p, size_t n)
{
    char *s = p;
    while (n) {
        ssize_t r = recv(fd, s, n, 0);
        if (r <= 0)
            return false;
        s += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads one HTTP response; returns status and copies the body. */
static int cl_response(int fd, char *body, size_t cap)
{
    char head[2048];
    size_t n = 0;
    while (n + 1 < sizeof head && cl_recv(fd, head + n, 1)) {
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    int st = -1;
    sscanf(head, "HTTP/1.1 %d", &st);
    const char *cl = strstr(head, "Content-Length: ");
    size_t len = cl ? strtoul(cl + 16, NULL, 10) : 0;
    if (len >= cap || !strstr(head, "X-Content-Type-Options: nosniff"))
        return -1;
    if (!cl_recv(fd, body, len))
        return -1;
    body[len] = '\0';
    return st;
}

static int cl_ws(const char *path)
{
    int fd = cl_connect();
    char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path);
    cl_send(fd, req, strlen(req));
    char head[1024];
    size_t n = 0;
    while (n + 1 < sizeof head && cl_recv(fd, head + n, 1)) {
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    CHECK(strstr(head, "101 Switching Protocols") != NULL);
    CHECK(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL);
    return fd;
}

static void cl_frame(int fd, uint8_t b0, const void *p, size_t len)
{
    uint8_t buf[256];
    size_t h = 0;
    buf[h++] = b0;
    buf[h++] = (uint8_t)(0x80 | len); /* len <= 125 here */
    const uint8_t mask[4] = {9, 8, 7, 6};
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
    cl_send(fd, buf, h + len);
}

/* Returns the opcode, payload into buf (NUL-terminated), or -1. */
static int cl_read_frame(int fd, char *buf, size_t cap, size_t *len)
{
    uint8_t h[2];
    if (!cl_recv(fd, h, 2))
        return -1;
    uint64_t n = h[1] & 0x7F;
    if (n == 126) {
        uint8_t e[2];
        cl_recv(fd, e, 2);
        n = ((uint64_t)e[0] << 8) | e[1];
    } else if (n == 127) {
        uint8_t e[8];
        cl_recv(fd, e, 8);
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | e[i];
    }
    if (n >= cap)
        return -1;
    if (!cl_recv(fd, buf, n))
        return -1;
    buf[n] = '\0';
    *len = n;
    return h[0] & 0x0F;
}

static int close_code(const char *p, size_t len)
{
    return len >= 2 ? ((uint8_t)p[0] << 8 | (uint8_t)p[1]) : 1005;
}

static bool cl_eof(int fd)
{
    char b[64];
    return recv(fd, b, sizeof b, 0) == 0;
}

static void *client_main(void *arg)
{
    (void)arg;
    char body[8192];
    size_t len;
    /* HTTP: sync, async, 404 JSON, pipelined order. */
    int fd = cl_connect();
    cl_send(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
    CHECK(cl_response(fd, body, sizeof body) == 200 && strcmp(body, "hi") == 0);
    cl_send(fd, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", 32);
    CHECK(cl_response(fd, body, sizeof body) == 200 && strcmp(body, "later") == 0);
    cl_send(fd, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    CHECK(cl_response(fd, body, sizeof body) == 404 &&
          strcmp(body,
                 "{\"error\":{\"code\":\"not_found\",\"message\":\"nothing \\\"here\\\"\"}}") == 0);
    const char pipe[] =
        "GET /async HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /async HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cl_send(fd, pipe, sizeof pipe - 1);
    CHECK(cl_response(fd, body, sizeof body) == 200 && strcmp(body, "later") == 0);
    CHECK(cl_response(fd, body, sizeof body) == 200 && strcmp(body, "hi") == 0);
    CHECK(cl_response(fd, body, sizeof body) == 200 && strcmp(body, "later") == 0);
    CHECK(cl_eof(fd));
    close(fd);

    /* WebSocket fan-out: one encode, three queued references. */
    int a = cl_ws("/v1/ws"), b = cl_ws("/v1/ws"), c = cl_ws("/v1/ws");
    /* An echo proves the handler saw the open: with several loops the 101
     * leaves an I/O loop before the core loop hears of the connection. */
    int abc[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        cl_frame(abc[i], 0x81, "hey", 3);
        CHECK(cl_read_frame(abc[i], body, sizeof body, &len) == 1 && strcmp(body, "hey") == 0);
    }
    cl_frame(a, 0x81, "broadcast", 9);
    CHECK(cl_read_frame(a, body, sizeof body, &len) == 1 && strcmp(body, "payload") == 0);
    CHECK(cl_read_frame(b, body, sizeof body, &len) == 1 && strcmp(body, "payload") == 0);
    CHECK(cl_read_frame(c, body, sizeof body, &len) == 1 && strcmp(body, "payload") == 0);

    /* Server-initiated close: 4001, we answer, then the server closes TCP. */
    cl_frame(b, 0x81, "close-me", 8);
    CHECK(cl_read_frame(b, body, sizeof body, &len) == 8 && close_code(body, len) == 4001);
    cl_frame(b, 0x88, "\x0f\xa1", 2);
    CHECK(cl_eof(b));
    close(b);

    /* Slow consumer: 200 KiB queued in one turn against a 64 KiB cap. */
    cl_frame(c, 0x81, "flood", 5);
    int op, frames = 0, code = 0;
    char *big = malloc(1 << 16);
    while ((op = cl_read_frame(c, big, 1 << 16, &len)) == 1)
        frames++;
    if (op == 8)
        code = close_code(big, len);
    free(big);
    CHECK(op == 8 && code == 4008);
    CHECK(frames < 64);
    close(c);

    /* Echo endpoint. */
    int e = cl_ws("/v1/echo");
    cl_frame(e, 0x82, "\x00\x01", 2);
    CHECK(cl_read_frame(e, body, sizeof body, &len) == 2 && len == 2);
    cl_frame(e, 0x88, "\x03\xe8", 2);
    CHECK(cl_read_frame(e, body, sizeof body, &len) == 8 && close_code(body, len) == 1000);
    CHECK(cl_eof(e));
    close(e);

    /* Shutdown: the open socket gets 1001. */
    uv_async_send(&W.done_async);
    CHECK(cl_read_frame(a, body, sizeof body, &len) == 8 && close_code(body, len) == 1001);
    cl_frame(a, 0x88, "\x03\xe9", 2);
    CHECK(cl_eof(a));
    close(a);
    return NULL;
}

/* threads: "1" (one loop) or "3" (a core loop and two I/O loops; the
 * client's connections land on either, so the same checks cover both). */
static void loopback(const char *threads)
{
    pl_log_set_level(PL_LOG_WARN);
    memset(&W, 0, sizeof W);
    memset(&R, 0, sizeof R);
    assert_int_equal(0, uv_loop_init(&W.loop));
    pl_config_init(&W.cfg);
    char err[128];
    assert_int_equal(0, pl_config_set(&W.cfg, "threads", threads, err, sizeof err));
    assert_int_equal(0, pl_config_set(&W.cfg, "listen", "127.0.0.1:0", err, sizeof err));
    assert_int_equal(0, pl_config_set(&W.cfg, "ws_echo", "true", err, sizeof err));
    assert_int_equal(0, pl_config_set(&W.cfg, "max_write_queue", "65536", err, sizeof err));
    pl_http_handlers_t hh = {.on_http = on_http, .on_upgrade = pl_ws_upgrade};
    pl_server_handlers_t h = {
        .on_accept = pl_http_accept,
        .accept_ud = &hh,
        .on_open = on_ws_open,
        .on_message = on_ws_message,
        .on_close = on_ws_close,
    };
    assert_int_equal(0, pl_server_new(&W.loop, &W.cfg, &h, &W.srv));
    W.port = pl_server_port(W.srv);
    assert_true(W.port > 0);
    uv_async_init(&W.loop, &W.done_async, on_done);
    uv_timer_init(&W.loop, &W.later);

    pthread_t th;
    pthread_create(&th, NULL, client_main, NULL);
    uv_run(&W.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    if (R.failures)
        fail_msg("%d client check(s) failed, first: %s", R.failures, R.why);

    assert_true(W.shutdown_cb_ran);
    assert_int_equal(3, W.opened);
    assert_int_equal(3, W.closed);
    assert_int_equal(1, (int)(W.encoded_after - W.encoded_before));
    assert_int_equal(3, (int)(W.queued_after - W.queued_before));
    assert_int_equal(PL_ETOOBIG, W.send_rc_flood);
    pl_server_stats_t st;
    pl_server_get_stats(W.srv, &st);
    assert_int_equal(1, (int)st.slow_consumers);
    assert_int_equal(4, (int)st.opened);
    assert_true(st.writes > 0);
    pl_server_free(W.srv);
    assert_int_equal(0, uv_loop_close(&W.loop));
    pl_config_dispose(&W.cfg);
}

static void test_loopback(void **state)
{
    (void)state;
    loopback("1");
}

static void test_loopback_threads(void **state)
{
    (void)state;
    loopback("3");
}

static void test_bind_error(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pl_config_t cfg;
    pl_config_init(&cfg);
    char err[128];
    pl_config_set(&cfg, "listen", "127.0.0.1:0", err, sizeof err);
    pl_http_handlers_t hh = {0};
    pl_server_handlers_t h = {.on_accept = pl_http_accept, .accept_ud = &hh};
    pl_server_t *a = NULL, *b = NULL;
    assert_int_equal(0, pl_server_new(&loop, &cfg, &h, &a));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", pl_server_port(a));
    pl_config_t cfg2;
    pl_config_init(&cfg2);
    pl_config_set(&cfg2, "listen", addr, err, sizeof err);
    assert_int_equal(UV_EADDRINUSE, pl_server_new(&loop, &cfg2, &h, &b));
    assert_null(b);
    pl_server_shutdown(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    pl_server_free(a);
    assert_int_equal(0, uv_loop_close(&loop));
    pl_config_dispose(&cfg);
    pl_config_dispose(&cfg2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_loopback_threads),
        cmocka_unit_test(test_bind_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
