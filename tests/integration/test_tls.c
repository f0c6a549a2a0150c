/* SPDX-License-Identifier: MIT */
/* test_tls.c -- built-in TLS (issue 12) against the real parleyd: the policy
 * (TLS 1.2+, ALPN http/1.1), HSTS and tls_redirect, large messages both
 * ways, and hostile clients: garbage handshakes, plain HTTP to the TLS port,
 * a handshake that stalls (slowloris), a certificate replaced under SIGHUP
 * while a connection is open, bad files at SIGHUP and at start. The
 * certificates are made with the openssl CLI in the test's temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;
static char dir[300]; /* the server's temp dir (parent of its data dir) */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int group_setup(void **state)
{
    (void)state;
    setenv("PL_TEST_TLS", "1", 1);
    static const char *const settings[] = {"tls_handshake_timeout_ms=600", "tls_redirect=true",
                                           "ws_echo=true", "log_level=debug", NULL};
    th_server_start(&srv, settings);
    th_json_bind(&srv);
    snprintf(dir, sizeof dir, "%s", srv.data_dir);
    *strrchr(dir, '/') = '\0';
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

static bool log_has(const char *needle)
{
    FILE *f = fopen(srv.log_path, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Polls (10 s at most: sanitizer builds on a busy machine are slow) until
 * the server's log holds needle at least n times. */
static bool wait_log(const char *needle, int n)
{
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(srv.log_path, "r");
        int seen = 0;
        char line[2048];
        while (f && fgets(line, sizeof line, f))
            seen += strstr(line, needle) != NULL;
        if (f)
            fclose(f);
        if (seen >= n)
            return true;
        sleep_ms(25);
    }
    return false;
}

/* One TLS handshake to port without verification; true with the subject CN
 * of the server's certificate in cn. False when the handshake fails (a
 * refused connection), never failing the test. */
static bool tls_try_cn(int port, char *cn, size_t cap)
{
    int fd = th_connect_raw(port);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    bool ok = SSL_connect(ssl) == 1;
    cn[0] = '\0';
    if (ok) {
        X509 *x = SSL_get1_peer_certificate(ssl);
        if (x)
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cap);
        X509_free(x);
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return ok;
}

/* TLS 1.3 by default, 1.2 on request, nothing older; ALPN http/1.1. */
static void test_policy(void **state)
{
    (void)state;
    for (int pass = 0; pass < 3; pass++) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(ctx, srv.cert_path, NULL);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (pass == 1)
            SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
        if (pass == 2) {
            SSL_CTX_set_security_level(ctx, 0);
            SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
            SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
        }
        SSL *ssl = SSL_new(ctx);
        int s = th_connect_raw(srv.port);
        SSL_set_fd(ssl, s);
        SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2\x08http/1.1", 12);
        int ok = SSL_connect(ssl);
        if (pass < 2) {
            assert_int_equal(1, ok);
            assert_string_equal(pass == 0 ? "TLSv1.3" : "TLSv1.2", SSL_get_version(ssl));
            const unsigned char *alpn;
            unsigned int alen;
            SSL_get0_alpn_selected(ssl, &alpn, &alen);
            assert_int_equal(8, alen);
            assert_memory_equal("http/1.1", alpn, 8);
        } else {
            assert_int_not_equal(1, ok); /* TLS 1.1: refused */
        }
        ERR_clear_error();
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(s);
    }
    /* the server lived through it */
    char body[256];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
}

/* HSTS on every TLS response, never on plain ones; tls_redirect sends plain
 * requests to https (except /healthz). */
static void test_hsts_and_redirect(void **state)
{
    (void)state;
    char head[4096], body[4096];
    int fd = th_connect(srv.port);
    const char req[] = "GET /v1/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    th_send_all(fd, req, sizeof req - 1);
    assert_int_equal(404, th_read_response(fd, head, sizeof head, body, sizeof body));
    assert_non_null(strstr(head, "\r\nStrict-Transport-Security: max-age=31536000\r\n"));
    th_close(fd);

    fd = th_connect(srv.plain_port);
    const char req2[] =
        "GET /some/page?x=1 HTTP/1.1\r\nHost: chat.example:8080\r\nConnection: close\r\n\r\n";
    th_send_all(fd, req2, sizeof req2 - 1);
    assert_int_equal(301, th_read_response(fd, head, sizeof head, body, sizeof body));
    char want[128];
    snprintf(want, sizeof want, "\r\nLocation: https://chat.example:%d/some/page?x=1\r\n",
             srv.port);
    assert_non_null(strstr(head, want));
    assert_null(strstr(head, "Strict-Transport-Security"));
    th_close(fd);

    /* an IPv6 Host keeps its brackets (a hostile one never gets here: the
     * parser answers 400 invalid Host header) */
    fd = th_connect(srv.plain_port);
    const char req3[] = "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n";
    th_send_all(fd, req3, sizeof req3 - 1);
    assert_int_equal(301, th_read_response(fd, head, sizeof head, body, sizeof body));
    snprintf(want, sizeof want, "\r\nLocation: https://[::1]:%d/\r\n", srv.port);
    assert_non_null(strstr(head, want));
    th_close(fd);

    assert_int_equal(200,
                     th_http(srv.plain_port, "GET", "/healthz", NULL, NULL, body, sizeof body));
}

/* A WebSocket message near 1 MiB echoed back over wss: writes larger than
 * one flush's 64 KiB and reads larger than one record. */
static void test_large_echo(void **state)
{
    (void)state;
    int fd = th_ws_connect(srv.port, "/v1/echo");
    size_t n = 900 * 1024;
    char *msg = malloc(n + 1), *back = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)('a' + i % 26);
    msg[n] = '\0';
    th_ws_send_frame(fd, 0x81, msg, n);
    size_t len = 0;
    assert_int_equal(0x1, th_ws_recv(fd, back, n + 1, &len, NULL, 10000));
    assert_int_equal(n, len);
    assert_memory_equal(msg, back, n);
    free(msg);
    free(back);
    th_close(fd);
}

/* The protocol works over wss end to end (auth, send, event). */
static void test_wss_chat(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "tlsa");
    th_new_user(&b, "tlsb");
    int fa = th_ws_login(&a), fb = th_ws_login(&b);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    json_t *r = th_call(fa,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c1\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"over tls\"}",
                        room);
    th_expect_ok(r);
    json_decref(r);
    json_t *ev = th_next_event(fb, "message");
    assert_string_equal("over tls", th_jstr(json_object_get(ev, "content"), "body"));
    json_decref(ev);
    free(room);
    th_close(fa);
    th_close(fb);
}

/* Garbage that starts like a handshake record, and garbage that does not:
 * closed, counted, and the server is fine. */
static void test_bad_handshake_bytes(void **state)
{
    (void)state;
    json_int_t before = th_stat("tls_handshake_failures");
    static const unsigned char bad1[] = {0x16, 0x03, 0x01, 0x00, 0x05,
                                         0xde, 0xad, 0xbe, 0xef, 0x00};
    unsigned char bad2[4096];
    srand(7);
    for (size_t i = 0; i < sizeof bad2; i++)
        bad2[i] = (unsigned char)rand();
    bad2[0] = 0x80; /* not a record type, not a letter */
    /* a ClientHello record whose length claims more than a record may hold */
    static const unsigned char bad3[] = {0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb};
    const struct {
        const void *p;
        size_t n;
    } cases[] = {{bad1, sizeof bad1}, {bad2, sizeof bad2}, {bad3, sizeof bad3}};
    for (size_t i = 0; i < 3; i++) {
        int fd = th_connect_raw(srv.port);
        th_send_all(fd, cases[i].p, cases[i].n);
        assert_true(th_peer_closed(fd, 3000));
        close(fd);
    }
    assert_true(th_stat("tls_handshake_failures") >= before + 3);
    char body[256];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
}

/* http:// to the https port: a clear 400 naming the problem, then close. */
static void test_plain_http_to_tls_port(void **state)
{
    (void)state;
    int fd = th_connect_raw(srv.port);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    th_send_all(fd, req, sizeof req - 1);
    char buf[4096];
    th_recv_until_close(fd, buf, sizeof buf, 3000);
    assert_true(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    assert_non_null(strstr(buf, "plain_http_on_tls_port"));
    assert_null(strstr(buf, "Strict-Transport-Security"));
    close(fd);
    assert_true(log_has("plain HTTP sent to the TLS port"));
}

/* A client that sends part of a ClientHello and stalls, and one that sends
 * nothing: both cut at tls_handshake_timeout_ms (600 ms here). */
static void test_handshake_slowloris(void **state)
{
    (void)state;
    int quiet = th_connect_raw(srv.port);
    int partial = th_connect_raw(srv.port);
    static const unsigned char start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    th_send_all(partial, start, sizeof start);
    sleep_ms(200);
    /* not yet */
    char b;
    assert_int_equal(-1, (int)recv(partial, &b, 1, MSG_DONTWAIT));
    assert_true(th_peer_closed(quiet, 5000));
    assert_true(th_peer_closed(partial, 5000));
    close(quiet);
    close(partial);
    assert_true(log_has("handshake timeout"));
}

/* SIGHUP with a new certificate while a wss connection is open: that
 * connection keeps working on its session, a new one sees the new
 * certificate; a broken file at the next SIGHUP keeps the current one. */
static void test_sighup_reload(void **state)
{
    (void)state;
    th_user_t u;
    th_new_user(&u, "hup");
    int old = th_ws_login(&u);
    char cn[128];
    th_tls_peer_cn(old, cn, sizeof cn);
    assert_string_equal("parley-test", cn);

    char cert2[400], key2[400];
    snprintf(cert2, sizeof cert2, "%s/cert2.pem", dir);
    snprintf(key2, sizeof key2, "%s/key2.pem", dir);
    th_make_cert(cert2, key2, "parley-renewed");
    /* What a renewal does: new files in place of the old ones. */
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s/cert.new", dir);
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && cp '%s' '%s.new' && mv '%s.new' '%s' && mv '%s' '%s'", cert2, tmp,
             key2, srv.key_path, srv.key_path, srv.key_path, tmp, srv.cert_path);
    assert_int_equal(0, system(cmd));
    kill(srv.pid, SIGHUP);
    assert_true(wait_log("certificate reloaded", 1));

    int fresh = th_connect_tls(srv.port, cert2); /* verifies against the new one only */
    th_tls_peer_cn(fresh, cn, sizeof cn);
    assert_string_equal("parley-renewed", cn);
    th_close(fresh);
    /* the old connection is still up and served */
    json_t *r = th_call(old, "\"op\":\"rooms\"");
    th_expect_ok(r);
    json_decref(r);

    /* a broken certificate file: logged, the renewed one stays */
    FILE *f = fopen(srv.cert_path, "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    kill(srv.pid, SIGHUP);
    assert_true(wait_log("TLS reload failed", 1));
    fresh = th_connect_tls(srv.port, cert2);
    th_tls_peer_cn(fresh, cn, sizeof cn);
    assert_string_equal("parley-renewed", cn);
    th_close(fresh);
    r = th_call(old, "\"op\":\"rooms\"");
    th_expect_ok(r);
    json_decref(r);
    th_close(old);
    /* put a good certificate back for the tests that follow */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cert2, srv.cert_path);
    assert_int_equal(0, system(cmd));
    kill(srv.pid, SIGHUP);
    assert_true(wait_log("certificate reloaded", 2));
    /* the harness verifies the TLS port against srv.cert_path from now on */
}

/* Loop k's counter name in /v1/stats of s ("loops": one object per loop). */
static long long loop_stat(const th_server_t *s, int k, const char *name, int *nloops)
{
    char body[8192];
    assert_int_equal(200, th_http(s->port, "GET", "/v1/stats", NULL, NULL, body, sizeof body));
    json_t *o = th_json_parse(body);
    json_t *loops = json_object_get(o, "loops");
    assert_true(json_is_array(loops));
    *nloops = (int)json_array_size(loops);
    long long v = json_integer_value(json_object_get(json_array_get(loops, (size_t)k), name));
    json_decref(o);
    return v;
}

/* threads=2: TLS connections are accepted on both loops (one SO_REUSEPORT
 * TLS listener per loop), WebSockets stay on the loop that accepted them,
 * plain HTTP requests over TLS accepted by the I/O loop move to the core
 * loop with their session and are answered; a SIGHUP reload while wss
 * connections are open on both loops reaches every loop (new handshakes
 * see the new certificate) and leaves the open ones working. */
static void test_tls_on_every_loop(void **state)
{
    (void)state;
    th_server_t own;
    static const char *const settings[] = {"threads=2", "log_level=debug", NULL};
    th_server_start(&own, settings);
    th_json_bind(&own);
    char odir[300];
    snprintf(odir, sizeof odir, "%s", own.data_dir);
    *strrchr(odir, '/') = '\0';

    /* WebSockets until both loops hold some (each connect lands on a loop
     * by the kernel's hash of its port: a few suffice, 64 is the bound) */
    enum { MAXC = 64 };
    int fds[MAXC], n = 0, nloops = 0;
    th_user_t u;
    th_new_user(&u, "loops");
    long long ws0 = 0, ws1 = 0;
    while (n < MAXC && (n < 8 || ws0 == 0 || ws1 == 0)) {
        fds[n++] = th_ws_login(&u);
        ws0 = loop_stat(&own, 0, "ws_opened", &nloops);
        ws1 = loop_stat(&own, 1, "ws_opened", &nloops);
    }
    assert_int_equal(2, nloops);
    assert_true(ws0 > 0 && ws1 > 0);
    /* every one of them was a TLS handshake on its own loop (an I/O loop
     * publishes its counters at the end of its turn: poll) */
    long long hs0 = 0, hs1 = 0;
    for (int i = 0; i < 200; i++) {
        hs0 = loop_stat(&own, 0, "tls_handshakes", &nloops);
        hs1 = loop_stat(&own, 1, "tls_handshakes", &nloops);
        if (hs1 >= ws1)
            break;
        sleep_ms(50);
    }
    assert_true(hs0 >= ws0 && hs1 >= ws1);
    /* plain requests over TLS, some accepted by the I/O loop: all answered
     * (the ones above were too: loop_stat is one per call) */
    char body[256];
    for (int i = 0; i < 16; i++)
        assert_int_equal(200, th_http(own.port, "GET", "/healthz", NULL, NULL, body, sizeof body));

    /* SIGHUP with a renewed certificate */
    char cert2[400], key2[400], cmd[2000];
    snprintf(cert2, sizeof cert2, "%s/cert-loops.pem", odir);
    snprintf(key2, sizeof key2, "%s/key-loops.pem", odir);
    th_make_cert(cert2, key2, "parley-loops");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s' '%s'", key2, own.key_path, cert2,
             own.cert_path);
    assert_int_equal(0, system(cmd));
    kill(own.pid, SIGHUP);
    /* every loop switches: poll until 16 handshakes in a row present the
     * new certificate (the I/O loop takes it off its queue at its next
     * wakeup), with a generous deadline */
    char cn[128];
    int streak = 0;
    for (int i = 0; i < 400 && streak < 16; i++) {
        if (tls_try_cn(own.port, cn, sizeof cn) && strcmp(cn, "parley-loops") == 0) {
            streak++;
        } else {
            streak = 0;
            sleep_ms(25);
        }
    }
    assert_int_equal(16, streak);
    /* the connections opened before, on both loops, still work */
    for (int i = 0; i < n; i++) {
        json_t *r = th_call(fds[i], "\"op\":\"rooms\"");
        th_expect_ok(r);
        json_decref(r);
        th_close(fds[i]);
    }
    assert_int_equal(0, th_server_stop(&own));
    th_server_cleanup(&own);
    th_json_bind(&srv);
}

/* parleyd with a missing or mismatched certificate does not start, and
 * says why. */
static void test_bad_cert_at_start(void **state)
{
    (void)state;
    const char *bin = getenv("PARLEYD");
    if (!bin || !*bin)
        bin = "build/parleyd";
    char data[400], logp[400], cert2[400], key_other[400], cert_other[400];
    snprintf(data, sizeof data, "%s/startdata", dir);
    mkdir(data, 0700);
    snprintf(logp, sizeof logp, "%s/start.log", dir);
    snprintf(cert2, sizeof cert2, "%s/cert2.pem", dir);
    snprintf(cert_other, sizeof cert_other, "%s/cert3.pem", dir);
    snprintf(key_other, sizeof key_other, "%s/key3.pem", dir);
    th_make_cert(cert_other, key_other, "other");
    const struct {
        const char *cert, *key, *expect;
    } cases[] = {
        {"/nonexistent/cert.pem", key_other, "tls_cert '/nonexistent/cert.pem'"},
        {cert_other, "/nonexistent/key.pem", "tls_key '/nonexistent/key.pem'"},
        {cert2, key_other, "does not match"},
    };
    for (size_t i = 0; i < 3; i++) {
        char cmd[2000];
        snprintf(cmd, sizeof cmd,
                 "'%s' --listen 127.0.0.1:0 --data '%s' --set tls_listen=127.0.0.1:0 "
                 "--set tls_cert='%s' --set tls_key='%s' >'%s' 2>&1",
                 bin, data, cases[i].cert, cases[i].key, logp);
        int st = system(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(1, WEXITSTATUS(st));
        FILE *f = fopen(logp, "r");
        assert_non_null(f);
        char text[8192];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        if (!strstr(text, cases[i].expect))
            fail_msg("expected '%s' in: %s", cases[i].expect, text);
        assert_non_null(strstr(text, "cannot start TLS"));
    }
    /* tls_listen without a certificate is a config error */
    char cmd[1000];
    snprintf(cmd, sizeof cmd,
             "'%s' --listen 127.0.0.1:0 --data '%s' --set tls_listen=127.0.0.1:0 >'%s' 2>&1", bin,
             data, logp);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

/* Over max_connections_per_ip, a TLS client is closed during its handshake
 * (no plaintext 429 it could not read), and the server stays healthy. */
static void test_per_ip_cap_tls(void **state)
{
    (void)state;
    th_server_t own;
    static const char *const settings[] = {"max_connections_per_ip=2", NULL};
    th_server_start(&own, settings);
    int a = th_connect_tls(own.port, own.cert_path);
    int b = th_connect_tls(own.port, own.cert_path);
    int c = th_connect_raw(own.port);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_not_equal(1, SSL_connect(ssl));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* at once, not at the handshake timeout (10 s here) */
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms < 3000);
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(c);
    th_close(a);
    th_close(b);
    /* the two slots come back once the server has seen both closes (on
     * whichever loops they were): poll, with a generous deadline */
    char cn[128];
    for (int i = 0; i < 200 && !tls_try_cn(own.port, cn, sizeof cn); i++)
        sleep_ms(50);
    char body[256];
    assert_int_equal(200, th_http(own.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
    th_server_stop(&own);
    th_server_cleanup(&own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_hsts_and_redirect),
        cmocka_unit_test(test_large_echo),
        cmocka_unit_test(test_wss_chat),
        cmocka_unit_test(test_bad_handshake_bytes),
        cmocka_unit_test(test_plain_http_to_tls_port),
        cmocka_unit_test(test_handshake_slowloris),
        cmocka_unit_test(test_sighup_reload),
        cmocka_unit_test(test_bad_cert_at_start),
        cmocka_unit_test(test_per_ip_cap_tls),
        cmocka_unit_test(test_tls_on_every_loop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
