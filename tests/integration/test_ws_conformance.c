/* SPDX-License-Identifier: MIT */
/* test_ws_conformance.c -- RFC 6455 edge cases against parleyd's /v1/echo
 * endpoint (ws_echo=true), Autobahn-style: framing, fragmentation, control
 * frames, close codes, UTF-8, limits. Drives the real binary with raw bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static th_server_t srv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const settings[] = {"ws_echo=true", "max_ws_message=64k",
                                           "max_content_bytes=32k", NULL};
    th_server_start(&srv, settings);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (srv.pid > 0)
        th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

static int echo_fd(void)
{
    return th_ws_connect(srv.port, "/v1/echo");
}

/* After a close frame the server must close the TCP connection. */
static void assert_eof(int fd)
{
    char buf[256];
    size_t n = th_recv_until_close(fd, buf, sizeof buf, 4000);
    (void)n;
    /* th_recv_until_close returns at EOF; a timeout would take 4 s. Probe: */
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(r <= 0);
}

static void expect_close(int fd, int code)
{
    int got = th_ws_expect_close(fd, 5000);
    assert_int_equal(code, got);
    assert_eof(fd);
    close(fd);
}

static void expect_msg(int fd, int opcode, const void *data, size_t len)
{
    size_t cap = len + 16;
    char *buf = malloc(cap);
    size_t got = 0;
    int op = th_ws_recv(fd, buf, cap, &got, NULL, 5000);
    assert_int_equal(opcode, op);
    assert_int_equal(len, got);
    assert_memory_equal(data, buf, len);
    free(buf);
}

/* ---- echo ---- */

static void test_text_echo(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_text(fd, "hello");
    expect_msg(fd, 0x1, "hello", 5);
    th_ws_send_text(fd, "");
    expect_msg(fd, 0x1, "", 0);
    /* 126 and 16-bit lengths, and a 64-bit-length-sized one under the cap. */
    size_t sizes[] = {125, 126, 127, 65535, 65536};
    for (size_t i = 0; i < 5; i++) {
        char *p = malloc(sizes[i]);
        memset(p, 'a' + (int)i, sizes[i]);
        th_ws_send_frame(fd, 0x81, p, sizes[i]);
        expect_msg(fd, 0x1, p, sizes[i]);
        free(p);
    }
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_binary_echo(void **state)
{
    (void)state;
    int fd = echo_fd();
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);
    th_ws_send_frame(fd, 0x82, bin, sizeof bin);
    expect_msg(fd, 0x2, bin, sizeof bin);
    th_ws_send_frame(fd, 0x82, "\xff\x00\xfe", 3);
    expect_msg(fd, 0x2, "\xff\x00\xfe", 3);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_ping_pong(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x89, "ping!", 5);
    expect_msg(fd, 0xA, "ping!", 5);
    th_ws_send_frame(fd, 0x89, "", 0);
    expect_msg(fd, 0xA, "", 0);
    char big[125];
    memset(big, 'p', sizeof big);
    th_ws_send_frame(fd, 0x89, big, sizeof big);
    expect_msg(fd, 0xA, big, sizeof big);
    /* An unsolicited pong is ignored. */
    th_ws_send_frame(fd, 0x8A, "x", 1);
    th_ws_send_text(fd, "after");
    expect_msg(fd, 0x1, "after", 5);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

/* ---- fragmentation ---- */

static void test_fragmented(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "Hel", 3);
    th_ws_send_frame(fd, 0x00, "lo ", 3);
    th_ws_send_frame(fd, 0x00, "", 0);
    th_ws_send_frame(fd, 0x80, "World", 5);
    expect_msg(fd, 0x1, "Hello World", 11);
    th_ws_send_frame(fd, 0x02, "\x01", 1);
    th_ws_send_frame(fd, 0x80, "\x02", 1);
    expect_msg(fd, 0x2, "\x01\x02", 2);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_ping_inside_fragments(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "a", 1);
    th_ws_send_frame(fd, 0x89, "p1", 2);
    th_ws_send_frame(fd, 0x00, "b", 1);
    th_ws_send_frame(fd, 0x8A, "unsolicited", 11);
    th_ws_send_frame(fd, 0x89, "p2", 2);
    th_ws_send_frame(fd, 0x80, "c", 1);
    expect_msg(fd, 0xA, "p1", 2);
    expect_msg(fd, 0xA, "p2", 2);
    expect_msg(fd, 0x1, "abc", 3);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_continuation_without_start(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x80, "x", 1);
    expect_close(fd, 1002);
    fd = echo_fd();
    th_ws_send_frame(fd, 0x00, "x", 1);
    expect_close(fd, 1002);
}

static void test_new_message_inside_fragments(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "a", 1);
    th_ws_send_frame(fd, 0x81, "b", 1);
    expect_close(fd, 1002);
    fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "a", 1);
    th_ws_send_frame(fd, 0x02, "b", 1);
    expect_close(fd, 1002);
}

/* ---- framing violations ---- */

static void test_reserved_bits(void **state)
{
    (void)state;
    const uint8_t b0s[] = {0xC1, 0xA1, 0x91, 0xF1, 0xC9 /* ping with RSV1 */};
    for (size_t i = 0; i < sizeof b0s; i++) {
        int fd = echo_fd();
        th_ws_send_frame(fd, b0s[i], "x", 1);
        expect_close(fd, 1002);
    }
}

static void test_reserved_opcodes(void **state)
{
    (void)state;
    const uint8_t ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof ops; i++) {
        int fd = echo_fd();
        th_ws_send_frame(fd, (uint8_t)(0x80 | ops[i]), "x", 1);
        expect_close(fd, 1002);
    }
    /* A reserved opcode after a good message: the good one still echoes. */
    int fd = echo_fd();
    th_ws_send_text(fd, "ok");
    th_ws_send_frame(fd, 0x85, "", 0);
    expect_msg(fd, 0x1, "ok", 2);
    expect_close(fd, 1002);
}

static void test_control_frame_rules(void **state)
{
    (void)state;
    char big[126];
    memset(big, 'x', sizeof big);
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x89, big, sizeof big); /* ping > 125 */
    expect_close(fd, 1002);
    fd = echo_fd();
    th_ws_send_frame(fd, 0x09, "a", 1); /* fragmented ping */
    th_ws_send_frame(fd, 0x80, "b", 1);
    expect_close(fd, 1002);
    fd = echo_fd();
    th_ws_send_frame(fd, 0x88, big, sizeof big); /* close > 125 */
    expect_close(fd, 1002);
}

static void test_unmasked_frame(void **state)
{
    (void)state;
    int fd = echo_fd();
    const uint8_t frame[] = {0x81, 0x02, 'h', 'i'};
    th_send_all(fd, frame, sizeof frame);
    expect_close(fd, 1002);
}

static void test_length_msb_set(void **state)
{
    (void)state;
    int fd = echo_fd();
    const uint8_t frame[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4, 'x'};
    th_send_all(fd, frame, sizeof frame);
    int code = th_ws_expect_close(fd, 5000);
    /* Either a 1002 close or (for a length that can never be satisfied) 1009. */
    assert_true(code == 1002 || code == 1009);
    assert_eof(fd);
    close(fd);
}

/* ---- close handshake ---- */

static void close_with(const void *payload, size_t len, int expect)
{
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x88, payload, len);
    expect_close(fd, expect);
}

static void test_close_codes(void **state)
{
    (void)state;
    const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                         1010, 1011, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        uint8_t p[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
        close_with(p, 2, valid[i]);
    }
    const int invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        uint8_t p[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
        close_with(p, 2, 1002);
    }
    close_with("", 0, 1005);                         /* empty close: empty echo */
    close_with("\x03", 1, 1002);                     /* 1-byte body */
    close_with("\x03\xe8ok", 4, 1000);               /* valid reason */
    close_with("\x03\xe8\xce\xba\xcf\x83", 6, 1000); /* UTF-8 reason */
    close_with("\x03\xe8\xff\xfe", 4, 1007);         /* invalid UTF-8 reason */
    close_with("\x03\xe8\xed\xa0\x80", 5, 1007);     /* surrogate in reason */
}

static void test_close_then_data_ignored(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    th_ws_send_text(fd, "late");
    expect_close(fd, 1000);
}

/* ---- UTF-8 ---- */

static void test_invalid_utf8(void **state)
{
    (void)state;
    const char *bad[] = {"\xff",
                         "\xc0\xaf",
                         "\xe0\x80\xaf",
                         "\xed\xa0\x80",
                         "\xf4\x90\x80\x80",
                         "abc\xce",
                         "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int fd = echo_fd();
        th_ws_send_frame(fd, 0x81, bad[i], strlen(bad[i]));
        expect_close(fd, 1007);
    }
}

static void test_utf8_across_fragments(void **state)
{
    (void)state;
    /* "κόσμε" split inside multibyte sequences: valid once reassembled. */
    const char *s = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x01, s, 1);
    th_ws_send_frame(fd, 0x00, s + 1, 3);
    th_ws_send_frame(fd, 0x00, s + 4, 5);
    th_ws_send_frame(fd, 0x80, s + 9, 2);
    expect_msg(fd, 0x1, s, strlen(s));
    /* 4-byte sequence split byte by byte. */
    const char *emoji = "\xf0\x9f\x98\x80";
    th_ws_send_frame(fd, 0x01, emoji, 1);
    th_ws_send_frame(fd, 0x00, emoji + 1, 1);
    th_ws_send_frame(fd, 0x00, emoji + 2, 1);
    th_ws_send_frame(fd, 0x80, emoji + 3, 1);
    expect_msg(fd, 0x1, emoji, 4);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);

    /* Invalid across fragments: a lone lead byte then ASCII. */
    fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "ok\xce", 3);
    th_ws_send_frame(fd, 0x80, "x", 1);
    expect_close(fd, 1007);
    /* Message truncated in the middle of a sequence at FIN. */
    fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "ok", 2);
    th_ws_send_frame(fd, 0x80, "\xe2\x82", 2);
    expect_close(fd, 1007);
}

/* ---- limits ---- */

static void test_too_big(void **state)
{
    (void)state;
    size_t n = 64 * 1024 + 1;
    char *p = malloc(n);
    memset(p, 'a', n);
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x81, p, n);
    expect_close(fd, 1009);
    /* Over the cap only after reassembly. */
    fd = echo_fd();
    th_ws_send_frame(fd, 0x02, p, 30000);
    th_ws_send_frame(fd, 0x00, p, 30000);
    th_ws_send_frame(fd, 0x80, p, 30000);
    expect_close(fd, 1009);
    /* Exactly at the cap is fine. */
    fd = echo_fd();
    th_ws_send_frame(fd, 0x02, p, 32768);
    th_ws_send_frame(fd, 0x80, p, 32768);
    char *want = malloc(65536);
    memset(want, 'a', 65536);
    expect_msg(fd, 0x2, want, 65536);
    free(want);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
    free(p);
}

static void test_many_small_in_one_write(void **state)
{
    (void)state;
    int fd = echo_fd();
    for (int i = 0; i < 200; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        th_ws_send_text(fd, msg);
    }
    for (int i = 0; i < 200; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "m%d", i);
        expect_msg(fd, 0x1, msg, strlen(msg));
    }
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_binary_on_chat_endpoint(void **state)
{
    (void)state;
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_ws_send_frame(fd, 0x82, "\x01\x02", 2);
    expect_close(fd, 1003);
}

static void test_peer_drops_tcp(void **state)
{
    (void)state;
    /* Half a frame then a hard close must not disturb the server. */
    int fd = echo_fd();
    const uint8_t half[] = {0x81, 0x85, 1, 2};
    th_send_all(fd, half, sizeof half);
    close(fd);
    fd = echo_fd();
    th_ws_send_text(fd, "still here");
    expect_msg(fd, 0x1, "still here", 10);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

/* ---- delivery in pieces, close mid-message, server pings ---- */

/* Builds one masked client frame into out; returns its size. */
static size_t build_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t key[4] = {0xa1, 0x5c, 0x03, 0x7e};
    size_t n = 0;
    out[n++] = b0;
    out[n++] = (uint8_t)(0x80 | len); /* len <= 125 here */
    memcpy(out + n, key, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
    return n + len;
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    /* Every frame boundary and header field split across reads: a
     * fragmented text message with a ping between its fragments, sent one
     * byte per write. */
    uint8_t s[128];
    size_t n = build_frame(s, 0x01, "sl", 2);
    n += build_frame(s + n, 0x89, "pp", 2);
    n += build_frame(s + n, 0x80, "\xce\xbaow", 4);
    int fd = echo_fd();
    for (size_t i = 0; i < n; i++)
        th_send_all(fd, s + i, 1);
    expect_msg(fd, 0xA, "pp", 2);
    expect_msg(fd, 0x1, "sl\xce\xbaow", 6);
    th_ws_send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
}

static void test_close_inside_fragments(void **state)
{
    (void)state;
    /* A close between fragments ends the exchange: the half message is
     * never delivered, the close is echoed. */
    int fd = echo_fd();
    th_ws_send_frame(fd, 0x01, "half", 4);
    th_ws_send_frame(fd, 0x88, "\x0f\xa0", 2); /* 4000 */
    char buf[64];
    size_t len = 0;
    int code = 0;
    assert_int_equal(0x8, th_ws_recv(fd, buf, sizeof buf, &len, &code, 5000));
    assert_int_equal(4000, code);
    assert_eof(fd);
    close(fd);
}

static void test_server_ping_and_close_timeout(void **state)
{
    (void)state;
    static const char *const settings[] = {"ws_echo=true", "ws_ping_interval_ms=100",
                                           "ws_idle_timeout_ms=1500", NULL};
    th_server_t own;
    th_server_start(&own, settings);
    int fd = th_ws_connect(own.port, "/v1/echo");
    char buf[64];
    size_t len = 0;
    int code = 0;
    /* Quiet: the server pings; a pong (any input) re-arms the ping. */
    assert_int_equal(0x9, th_ws_recv(fd, buf, sizeof buf, &len, NULL, 5000));
    assert_int_equal(0, len);
    th_ws_send_frame(fd, 0x8A, "", 0);
    assert_int_equal(0x9, th_ws_recv(fd, buf, sizeof buf, &len, NULL, 5000));
    /* No answer this time: the idle timeout closes with 4000, and as we
     * never answer the close either, the server drops TCP after its close
     * handshake timeout. */
    assert_int_equal(0x8, th_ws_recv(fd, buf, sizeof buf, &len, &code, 10000));
    assert_int_equal(4000, code);
    assert_eof(fd);
    close(fd);
    th_server_stop(&own);
    th_server_cleanup(&own);
}

/* Last: SIGTERM with a WebSocket open sends 1001 and parleyd still exits 0. */
static void test_shutdown_sends_1001(void **state)
{
    (void)state;
    int fd = echo_fd();
    th_ws_send_text(fd, "before");
    expect_msg(fd, 0x1, "before", 6);
    th_server_stop(&srv); /* asserts exit status 0 */
    assert_int_equal(1001, th_ws_expect_close(fd, 5000));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_echo),
        cmocka_unit_test(test_binary_echo),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_ping_inside_fragments),
        cmocka_unit_test(test_continuation_without_start),
        cmocka_unit_test(test_new_message_inside_fragments),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_unmasked_frame),
        cmocka_unit_test(test_length_msb_set),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_then_data_ignored),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_utf8_across_fragments),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_many_small_in_one_write),
        cmocka_unit_test(test_binary_on_chat_endpoint),
        cmocka_unit_test(test_peer_drops_tcp),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_close_inside_fragments),
        cmocka_unit_test(test_server_ping_and_close_timeout),
        cmocka_unit_test(test_shutdown_sends_1001),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
