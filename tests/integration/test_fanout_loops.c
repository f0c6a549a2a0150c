/* SPDX-License-Identifier: MIT */
/* test_fanout_loops.c -- parleyd with several loop threads (threads=4): many
 * connections, spread over the loops by SO_REUSEPORT, each get every
 * broadcast exactly once and in order; plain HTTP connections handed from an
 * I/O loop to the core loop keep their pipelined and split requests; a
 * slow consumer on any loop is closed with 4008; max_connections counts all
 * loops together; shutdown closes every WebSocket on every loop with 1001
 * and exits 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;

#define USERS 4
#define PER_USER 8
#define NCONN (USERS * PER_USER)
#define NMSG 40

/* Sends without waiting for the reply (requests pipelined on one socket). */
static void send_nowait(int fd, const char *room, int i)
{
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":%ld,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"lp%d\","
             "\"content\":{\"type\":\"text\",\"body\":\"m%d\"}}",
             th_next_id(), room, i, i);
    th_ws_send_text(fd, req);
}

/* Reads the next message event on fd and checks it is number i of room. */
static void expect_msg(int fd, const char *room, int i, json_int_t *seq)
{
    json_t *m = th_next_event(fd, "message");
    char cid[32];
    snprintf(cid, sizeof cid, "lp%d", i);
    assert_string_equal(room, th_jstr(m, "room"));
    assert_string_equal(cid, th_jstr(m, "client_id"));
    json_int_t s = th_jint(m, "seq");
    if (*seq > 0)
        assert_int_equal(*seq + 1, s); /* in order, none twice, none missing */
    *seq = s;
    json_decref(m);
}

static void test_broadcast_once_in_order(void **state)
{
    (void)state;
    th_user_t u[USERS];
    int fds[NCONN];
    for (int i = 0; i < USERS; i++) {
        th_new_user(&u[i], "lp");
        for (int j = 0; j < PER_USER; j++)
            fds[i * PER_USER + j] = th_ws_login(&u[i]);
    }
    char members[256] = "[";
    for (int i = 1; i < USERS; i++)
        snprintf(members + strlen(members), sizeof members - strlen(members), "%s\"%s\"",
                 i > 1 ? "," : "", u[i].name);
    strcat(members, "]");
    char *room = th_room_create(fds[0], "group", members, "loops");
    /* Two senders on (most likely) different loops, requests pipelined. */
    for (int i = 0; i < NMSG; i++)
        send_nowait(fds[i % 2 == 0 ? 0 : PER_USER + 1], room, i);
    /* Every connection sees all NMSG messages, gap-free and in seq order;
     * the client ids may interleave between the two senders, so only seq
     * order and the set of ids are checked. */
    for (int c = 0; c < NCONN; c++) {
        json_int_t prev = 0;
        bool seen[NMSG] = {false};
        for (int k = 0; k < NMSG; k++) {
            json_t *m = th_next_event(fds[c], "message");
            assert_string_equal(room, th_jstr(m, "room"));
            int i = -1;
            assert_int_equal(1, sscanf(th_jstr(m, "client_id"), "lp%d", &i));
            assert_true(i >= 0 && i < NMSG);
            assert_false(seen[i]);
            seen[i] = true;
            json_int_t s = th_jint(m, "seq");
            if (prev > 0)
                assert_int_equal(prev + 1, s);
            prev = s;
            json_decref(m);
        }
    }
    /* Nothing was delivered twice: the next event everywhere is a marker. */
    send_nowait(fds[3], room, NMSG);
    for (int c = 0; c < NCONN; c++) {
        json_int_t seq = 0;
        expect_msg(fds[c], room, NMSG, &seq);
    }
    for (int c = 0; c < NCONN; c++)
        close(fds[c]);
    free(room);
}

/* Many connections come and go (some vanish without a close frame) while a
 * room is busy: the rest still get everything, and the server keeps serving. */
static void test_churn(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "ch");
    th_new_user(&b, "ch");
    int fa = th_ws_login(&a);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "group", members, "churn");
    int keep[8];
    for (int i = 0; i < 8; i++)
        keep[i] = th_ws_login(&b);
    for (int round = 0; round < 4; round++) {
        int gone[8];
        for (int i = 0; i < 8; i++)
            gone[i] = th_ws_login(&b);
        send_nowait(fa, room, round);
        for (int i = 0; i < 8; i++)
            close(gone[i]); /* abrupt: no close frame, maybe unread data */
    }
    for (int i = 0; i < 8; i++) {
        json_int_t seq = 0;
        for (int r = 0; r < 4; r++)
            expect_msg(keep[i], room, r, &seq);
        close(keep[i]);
    }
    char body[256];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
    close(fa);
    free(room);
}

/* Plain HTTP on I/O loops is handed to the core loop with the bytes already
 * read: pipelined requests and a request line split across writes both
 * survive. Several connections, so some land on I/O loops. */
static void test_http_handover(void **state)
{
    (void)state;
    static const char two[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[8192];
    for (int i = 0; i < 8; i++) {
        int fd = th_connect(srv.port);
        if (i % 2 == 0) {
            th_send_all(fd, two, sizeof two - 1);
        } else {
            th_send_all(fd, "GET /hea", 8);
            th_send_all(fd, two + 8, sizeof two - 1 - 8);
        }
        size_t n = th_recv_until_close(fd, buf, sizeof buf, 10000);
        close(fd);
        assert_true(n > 0);
        int oks = 0;
        for (char *p = buf; (p = strstr(p, "HTTP/1.1 200 OK")) != NULL; p++)
            oks++;
        assert_int_equal(2, oks);
    }
    /* A few bytes that cannot start a WebSocket upgrade are handed over at
     * once (no waiting for a request line that never comes): 400 now. */
    for (int i = 0; i < 8; i++) {
        int fd = th_connect(srv.port);
        th_send_all(fd, "\x16\x03\x01\x02", 4);
        size_t n = th_recv_until_close(fd, buf, sizeof buf, 10000);
        close(fd);
        assert_true(n > 0);
        assert_non_null(strstr(buf, "HTTP/1.1 400 "));
    }
}

/* A reader that never reads is closed with 4008 once its queue passes
 * max_write_queue, whichever loop it is on (four rounds: most land on an I/O
 * loop, where the core's view of the queue is a mirror). */
static void test_slow_consumer_any_loop(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "sf");
    th_new_user(&b, "ss");
    int fa = th_ws_login(&a);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "group", members, "slow");
    char *body = malloc(60001);
    memset(body, 'z', 60000);
    body[60000] = '\0';
    for (int round = 0; round < 4; round++) {
        int fb = th_ws_login(&b);
        json_int_t before = th_stat("slow_consumers");
        for (int i = 0; i < 400 && th_stat("slow_consumers") == before; i++) {
            json_t *r = th_call(fa,
                                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"sl%d-%d\","
                                "\"content\":{\"type\":\"text\",\"body\":\"%s\"}",
                                room, round, i, body);
            th_expect_ok(r);
            json_decref(r);
        }
        assert_true(th_stat("slow_consumers") > before);
        assert_int_equal(4008, th_ws_expect_close(fb, 10000));
        close(fb);
    }
    free(body);
    free(room);
    close(fa);
}

/* Opens a WebSocket on /v1/echo without failing the test: the fd, or -1
 * when the server closed the connection instead of upgrading it. */
static int ws_try(int port)
{
    static const char req[] = "GET /v1/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    int fd = th_connect(port);
    th_send_all(fd, req, sizeof req - 1);
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n > 12 && memcmp(buf, "HTTP/1.1 101", 12) == 0)
        return fd;
    close(fd);
    return -1;
}

/* max_connections counts every loop's connections together: with four loops
 * and a limit of 8, no more than 8 WebSockets are ever open (per-loop counts
 * would let up to 32 in), and the server still serves once they close. */
static void test_max_connections_all_loops(void **state)
{
    (void)state;
    th_server_t small = {0};
    const char *const settings[] = {"threads=4", "max_connections=8", "ws_echo=true", NULL};
    th_server_start(&small, settings);
    int fds[40], open = 0;
    while (open < 40 && (fds[open] = ws_try(small.port)) >= 0)
        open++;
    assert_true(open >= 1);
    assert_true(open <= 8);
    for (int i = 0; i < open; i++)
        close(fds[i]);
    /* Closes are noticed asynchronously: poll until a new one gets in. */
    int fd = -1;
    for (int i = 0; i < 1000 && fd < 0; i++) {
        fd = ws_try(small.port);
        if (fd < 0)
            usleep(10000);
    }
    assert_true(fd >= 0);
    close(fd);
    th_server_stop(&small);
    th_server_cleanup(&small);
}

static void test_shutdown_all_loops(void **state)
{
    (void)state;
    th_user_t a;
    th_new_user(&a, "down");
    int fds[16];
    for (int i = 0; i < 16; i++)
        fds[i] = th_ws_login(&a);
    kill(srv.pid, SIGTERM);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(1001, th_ws_expect_close(fds[i], 5000));
        close(fds[i]);
    }
    int status = 0;
    assert_int_equal(srv.pid, waitpid(srv.pid, &status, 0));
    srv.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
}

static int setup(void **state)
{
    (void)state;
    const char *const settings[] = {"threads=4", "max_write_queue=256k", NULL};
    th_server_start(&srv, settings);
    th_json_bind(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (srv.pid > 0)
        th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_once_in_order),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_http_handover),
        cmocka_unit_test(test_slow_consumer_any_loop),
        cmocka_unit_test(test_max_connections_all_loops),
        cmocka_unit_test(test_shutdown_all_loops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
