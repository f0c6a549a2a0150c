/* SPDX-License-Identifier: MIT */
/* test_http.c -- parleyd's HTTP/1.1 front against the real binary: keep-alive,
 * pipelining, limits, malformed input, WebSocket handshake errors, idle
 * timeouts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static th_server_t srv;

static int group_setup(void **state)
{
    (void)state;
    /* Timeouts short enough to test, long enough that a test process starved
     * for a few hundred ms on a loaded CI machine (ASan, two loops) is not
     * mistaken for an idle peer between two steps of a test. */
    static const char *const settings[] = {
        "http_idle_timeout_ms=1000", "max_http_header_bytes=4096", "max_http_body_bytes=4096",
        "ws_ping_interval_ms=300",   "ws_idle_timeout_ms=1500",    NULL};
    th_server_start(&srv, settings);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

static void test_healthz(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    th_send_all(fd, req, sizeof req - 1);
    char head[4096], body[4096];
    assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(body, "\"ok\""));
    assert_non_null(strcasestr(head, "\r\nX-Content-Type-Options: nosniff\r\n"));
    assert_non_null(strcasestr(head, "\r\nConnection: keep-alive\r\n"));
    assert_non_null(strcasestr(head, "\r\nContent-Length: "));
    close(fd);
}

static void test_not_found_json(void **state)
{
    (void)state;
    char body[4096];
    assert_int_equal(404,
                     th_http(srv.port, "GET", "/no/such/thing", NULL, NULL, body, sizeof body));
    assert_non_null(strstr(body, "\"error\""));
    assert_non_null(strstr(body, "\"code\""));
}

static void test_keep_alive(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char head[4096], body[4096];
    for (int i = 0; i < 3; i++) {
        th_send_all(fd, req, sizeof req - 1);
        assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    }
    const char last[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    th_send_all(fd, last, sizeof last - 1);
    assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strcasestr(head, "\r\nConnection: close\r\n"));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
}

static void test_pipelined(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    const char reqs[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /nope-pipelined HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    th_send_all(fd, reqs, sizeof reqs - 1);
    char head[4096], body[4096];
    assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_int_equal(404, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_int_equal(200, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
}

static void test_header_too_large(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    char req[10000];
    int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', 8000);
    n += 8000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    th_send_all(fd, req, (size_t)n);
    char head[4096], body[4096];
    int st = th_read_response(fd, head, sizeof head, body, sizeof body);
    assert_true(st == 431 || st == 400);
    assert_non_null(strstr(body, "\"error\""));
    assert_non_null(strcasestr(head, "\r\nConnection: close\r\n"));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
}

static void test_body_too_large(void **state)
{
    (void)state;
    char head[4096], body[4096];
    int fd = th_connect(srv.port);
    const char req[] = "POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 10000\r\n\r\n{\"username\":";
    th_send_all(fd, req, sizeof req - 1);
    assert_int_equal(413, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(body, "\"too_large\""));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);

    /* Chunked: no declared length, the cap applies while decoding. */
    fd = th_connect(srv.port);
    const char creq[] = "POST /v1/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Type: application/json\r\n\r\n";
    th_send_all(fd, creq, sizeof creq - 1);
    char chunk[1100];
    memset(chunk, ' ', sizeof chunk);
    memcpy(chunk, "400\r\n", 5);
    memcpy(chunk + 5 + 1024, "\r\n", 2);
    for (int i = 0; i < 5; i++)
        th_send_all(fd, chunk, 5 + 1024 + 2);
    assert_int_equal(413, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(body, "\"too_large\""));
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
}

static void test_chunked_body_ok(void **state)
{
    (void)state;
    char name[64], json[256], head[4096], body[4096], req[1024];
    th_unique_name("ck", name, sizeof name);
    int jl =
        snprintf(json, sizeof json, "{\"username\":\"%s\",\"password\":\"correct horse\"}", name);
    int half = jl / 2;
    int n = snprintf(req, sizeof req,
                     "POST /v1/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: application/json\r\n\r\n%x\r\n%.*s\r\n%x\r\n%s\r\n0\r\n\r\n",
                     half, half, json, jl - half, json + half);
    int fd = th_connect(srv.port);
    th_send_all(fd, req, (size_t)n);
    assert_int_equal(201, th_read_response(fd, head, sizeof head, body, sizeof body));
    close(fd);
}

static void test_truncated_request(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ";
    th_send_all(fd, part, sizeof part - 1);
    close(fd);
    fd = th_connect(srv.port);
    const char part2[] = "POST /v1/register HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\":";
    th_send_all(fd, part2, sizeof part2 - 1);
    close(fd);
    char body[256];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
}

static void test_garbage(void **state)
{
    (void)state;
    const char *garbage[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n",
        "HELLO THERE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"};
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++) {
        int fd = th_connect(srv.port);
        th_send_all(fd, garbage[i], strlen(garbage[i]));
        char head[4096], body[4096];
        assert_int_equal(400, th_read_response(fd, head, sizeof head, body, sizeof body));
        assert_non_null(strstr(body, "\"bad_request\""));
        assert_true(th_peer_closed(fd, 5000));
        close(fd);
    }
}

static int handshake(const char *req)
{
    int fd = th_connect(srv.port);
    th_send_all(fd, req, strlen(req));
    char head[4096], body[4096];
    int st = th_read_response(fd, head, sizeof head, body, sizeof body);
    if (st == 400)
        assert_non_null(strstr(body, "\"error\""));
    close(fd);
    return st;
}

static void test_bad_ws_handshake(void **state)
{
    (void)state;
    assert_int_equal(400, handshake("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    assert_int_equal(400, handshake("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
    assert_int_equal(400, handshake("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                    "Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n"));
    assert_int_equal(400, handshake("POST /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Content-Length: 0\r\n\r\n"));
    assert_int_equal(400, handshake("GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n"));
    /* A good handshake still works. */
    int fd = th_ws_connect(srv.port, "/v1/ws");
    close(fd);
}

static void test_echo_disabled(void **state)
{
    (void)state;
    assert_int_equal(404, handshake("GET /v1/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
}

static void test_idle_timeout(void **state)
{
    (void)state;
    int fd = th_connect(srv.port);
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
    /* A request that never finishes is cut off too. */
    fd = th_connect(srv.port);
    th_send_all(fd, "GET /healthz HTTP/1.1\r\n", 23);
    usleep(150 * 1000);
    th_send_all(fd, "Host: x\r\n", 9);
    assert_true(th_peer_closed(fd, 5000));
    close(fd);
}

static void test_ws_ping_then_idle_close(void **state)
{
    (void)state;
    int fd = th_ws_connect(srv.port, "/v1/ws");
    char buf[256];
    size_t len;
    int code = 0, op;
    /* A silent peer is pinged after ws_ping_interval_ms ... */
    do {
        op = th_ws_recv(fd, buf, sizeof buf, &len, &code, 2000);
    } while (op == 0x1);
    assert_int_equal(0x9, op);
    /* ... and, still silent, closed with 4000 after ws_idle_timeout_ms. */
    assert_int_equal(4000, th_ws_expect_close(fd, 5000));
    close(fd);

    /* Answering pings (any inbound bytes) keeps it alive past the timeout. */
    fd = th_ws_connect(srv.port, "/v1/ws");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        op = th_ws_recv(fd, buf, sizeof buf, &len, &code, 2000);
        assert_true(op == 0x9 || op == 0x1);
        if (op == 0x9)
            th_ws_send_frame(fd, 0x8A, buf, len);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > 2500)
            break;
    }
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    assert_int_equal(1000, th_ws_expect_close(fd, 3000));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_not_found_json),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_header_too_large),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_chunked_body_ok),
        cmocka_unit_test(test_truncated_request),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_ws_handshake),
        cmocka_unit_test(test_echo_disabled),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_ws_ping_then_idle_close),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
