/* SPDX-License-Identifier: MIT */
/* test_http_parse.c -- the pure HTTP request reader: assembly, pipelining,
 * limits, chunked bodies, upgrades, malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "http/http_parse.h"

static pl_http_parse_t hp;

static int setup(void **state)
{
    (void)state;
    pl_http_parse_init(&hp, 1024, 2048);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pl_http_parse_dispose(&hp);
    return 0;
}

/* Feeds all of s, one byte at a time when bytewise; returns the last rc. */
static int feed(const char *s, size_t len, size_t *used)
{
    return pl_http_parse_feed(&hp, s, len, used);
}

static void test_simple_get(void **state)
{
    (void)state;
    const char req[] = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Pad:   v  \r\n\r\n";
    size_t used;
    assert_int_equal(1, feed(req, sizeof req - 1, &used));
    assert_int_equal(sizeof req - 1, used);
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_non_null(m);
    assert_string_equal("GET", m->method);
    assert_string_equal("/a/b", m->path);
    assert_string_equal("x=1&y=2", m->query);
    assert_string_equal("h", pl_http_msg_header(m, "host"));
    assert_string_equal("v", pl_http_msg_header(m, "x-pad"));
    assert_null(pl_http_msg_header(m, "nope"));
    assert_true(m->keep_alive);
    assert_int_equal(0, m->body.len);
    pl_http_msg_free(m);
}

static void test_bytewise_and_pipelined(void **state)
{
    (void)state;
    const char reqs[] = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                        "GET /second HTTP/1.0\r\n\r\n";
    size_t off = 0, total = sizeof reqs - 1;
    /* Byte at a time until the first request completes. */
    int rc = 0;
    while (rc == 0) {
        size_t used;
        rc = feed(reqs + off, 1, &used);
        off += used;
    }
    assert_int_equal(1, rc);
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_string_equal("POST", m->method);
    assert_memory_equal("hello", pl_buf_head(&m->body), 5);
    pl_http_msg_free(m);
    size_t used;
    assert_int_equal(1, feed(reqs + off, total - off, &used));
    assert_int_equal(total - off, used);
    m = pl_http_parse_take(&hp);
    assert_string_equal("/second", m->path);
    assert_false(m->keep_alive); /* HTTP/1.0 without keep-alive */
    pl_http_msg_free(m);
}

static void test_paused_until_taken(void **state)
{
    (void)state;
    const char reqs[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t used;
    assert_int_equal(1, feed(reqs, sizeof reqs - 1, &used));
    assert_int_equal(28, used);
    /* Still complete: feeding again consumes nothing. */
    size_t used2;
    assert_int_equal(1, feed(reqs + used, sizeof reqs - 1 - used, &used2));
    assert_int_equal(0, used2);
    pl_http_msg_free(pl_http_parse_take(&hp));
    assert_int_equal(1, feed(reqs + used, sizeof reqs - 1 - used, &used2));
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_string_equal("/2", m->path);
    pl_http_msg_free(m);
}

static void test_chunked(void **state)
{
    (void)state;
    const char req[] = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    size_t used;
    assert_int_equal(1, feed(req, sizeof req - 1, &used));
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_int_equal(7, m->body.len);
    assert_string_equal("abcdefg", pl_buf_head(&m->body));
    pl_http_msg_free(m);
}

static void test_header_limit(void **state)
{
    (void)state;
    char req[2048];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX: ");
    memset(req + n, 'a', 1100);
    n += 1100;
    size_t used;
    assert_int_equal(PL_ETOOBIG, feed(req, (size_t)n, &used));
    assert_int_equal(431, hp.error_status);
    /* Sticky. */
    assert_int_equal(PL_ETOOBIG, feed("x", 1, &used));
}

static void test_many_empty_headers(void **state)
{
    (void)state;
    char req[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 300; i++)
        strcat(req, "a:\r\n");
    size_t used;
    assert_int_equal(PL_ETOOBIG, feed(req, strlen(req), &used));
    assert_int_equal(431, hp.error_status);
}

static void test_body_limit(void **state)
{
    (void)state;
    const char req[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4096\r\n\r\n";
    size_t used;
    assert_int_equal(PL_ETOOBIG, feed(req, sizeof req - 1, &used));
    assert_int_equal(413, hp.error_status);
}

static void test_chunked_body_limit(void **state)
{
    (void)state;
    const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    size_t used;
    assert_int_equal(0, feed(head, sizeof head - 1, &used));
    char chunk[1100];
    memcpy(chunk, "400\r\n", 5);
    memset(chunk + 5, 'z', 1024);
    memcpy(chunk + 1029, "\r\n", 2);
    assert_int_equal(0, feed(chunk, 1031, &used));
    assert_int_equal(0, feed(chunk, 1031, &used));
    assert_int_equal(PL_ETOOBIG, feed(chunk, 1031, &used));
    assert_int_equal(413, hp.error_status);
}

static void test_garbage(void **state)
{
    (void)state;
    size_t used;
    assert_int_equal(PL_EPROTO, feed("\x16\x03\x01\x00garbage\r\n\r\n", 15, &used));
    assert_int_equal(400, hp.error_status);
}

/* Smuggling and header injection through the request head: obs-fold, a
 * bare LF or CR, blanks before a colon. Whole and a byte at a time. */
static void test_strict_head(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\tfolded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\nContent-Length: 5\r\n\r\nhello",
        "GET / HTTP/1.1\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\rSet-Cookie: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            pl_http_parse_dispose(&hp);
            pl_http_parse_init(&hp, 1024, 2048);
            size_t len = strlen(bad[i]), off = 0, used = 0;
            int rc = 0;
            while (rc == 0 && off < len) {
                rc = feed(bad[i] + off, bytewise ? 1 : len - off, &used);
                off += rc == 0 ? used : 0;
            }
            if (rc != PL_EPROTO || hp.error_status != 400)
                fail_msg("case %zu (bytewise %d) not refused: rc=%d", i, bytewise, rc);
        }
    }
    /* Allowed: blanks around a value, an empty line before the request
     * line, and anything in a body; the next pipelined head is scanned. */
    pl_http_parse_dispose(&hp);
    pl_http_parse_init(&hp, 1024, 2048);
    const char ok[] = "\r\nPOST /p HTTP/1.1\r\nHost: h\r\nX-A: \t b c \r\nContent-Length: 6\r\n\r\n"
                      "a\n b\r\n"
                      "GET /2 HTTP/1.1\r\nHost: h\r\nX-B: x\r\n y\r\n\r\n";
    size_t used;
    assert_int_equal(1, feed(ok, sizeof ok - 1, &used));
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_string_equal("b c", pl_http_msg_header(m, "x-a"));
    assert_memory_equal("a\n b\r\n", pl_buf_head(&m->body), 6);
    pl_http_msg_free(m);
    size_t used2;
    assert_int_equal(PL_EPROTO, feed(ok + used, sizeof ok - 1 - used, &used2));
    assert_int_equal(400, hp.error_status);
}

static void test_bad_version(void **state)
{
    (void)state;
    size_t used;
    const char req[] = "GET / HTTP/2.0\r\n\r\n";
    assert_int_equal(PL_EPROTO, feed(req, sizeof req - 1, &used));
}

static void test_upgrade(void **state)
{
    (void)state;
    const char req[] =
        "GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, "
        "Upgrade\r\n\r\n\x81\x80\x01\x02\x03\x04";
    size_t used;
    assert_int_equal(1, feed(req, sizeof req - 1, &used));
    assert_int_equal(sizeof req - 1 - 6, used); /* frame bytes left over */
    pl_http_msg_t *m = pl_http_parse_take(&hp);
    assert_true(m->upgrade);
    assert_true(pl_http_token_list_has(pl_http_msg_header(m, "Connection"), "upgrade"));
    assert_false(pl_http_token_list_has(pl_http_msg_header(m, "Connection"), "close"));
    pl_http_msg_free(m);
}

/* RFC 9112 3.2: HTTP/1.1 needs exactly one Host; HTTP/1.0 may omit it;
 * two, or a value with a path or blanks in it, are refused. */
static void test_host_rules(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int rc;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", PL_EPROTO},
        {"GET / HTTP/1.0\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: chat.example.com:8080\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 1}, /* empty: allowed (no authority) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_http_parse_t p;
        pl_http_parse_init(&p, 1024, 2048);
        size_t used;
        int rc = pl_http_parse_feed(&p, cases[i].req, strlen(cases[i].req), &used);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d", i, cases[i].req, rc);
        if (rc < 0)
            assert_int_equal(400, p.error_status);
        pl_http_parse_dispose(&p);
    }
}

/* RFC 9110 10.1.1: Expect: 100-continue on a request with a body asks for
 * a 100 until the first body byte; any other expectation is 417; HTTP/1.0
 * expectations are ignored. */
static void test_expect(void **state)
{
    (void)state;
    size_t used;
    const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                        "Content-Length: 5\r\n\r\n";
    assert_int_equal(0, feed(head, sizeof head - 1, &used));
    assert_true(hp.continue_due);
    hp.continue_due = false; /* the caller sent it */
    assert_int_equal(1, feed("hello", 5, &used));
    pl_http_msg_free(pl_http_parse_take(&hp));

    /* The body came along: nothing is owed. */
    const char whole[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                         "Content-Length: 2\r\n\r\nhi";
    assert_int_equal(1, feed(whole, sizeof whole - 1, &used));
    assert_false(hp.continue_due);
    pl_http_msg_free(pl_http_parse_take(&hp));

    /* No body: nothing to wait for. */
    const char nobody[] = "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n";
    assert_int_equal(1, feed(nobody, sizeof nobody - 1, &used));
    assert_false(hp.continue_due);
    pl_http_msg_free(pl_http_parse_take(&hp));

    /* Over the body limit: 413 at once, no 100. */
    const char big[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                       "Content-Length: 99999\r\n\r\n";
    assert_int_equal(PL_ETOOBIG, feed(big, sizeof big - 1, &used));
    assert_int_equal(413, hp.error_status);
    assert_false(hp.continue_due);

    pl_http_parse_t p;
    pl_http_parse_init(&p, 1024, 2048);
    const char odd[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n";
    assert_int_equal(PL_EPROTO, pl_http_parse_feed(&p, odd, sizeof odd - 1, &used));
    assert_int_equal(417, p.error_status);
    pl_http_parse_dispose(&p);

    pl_http_parse_init(&p, 1024, 2048);
    const char old[] = "POST / HTTP/1.0\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx";
    assert_int_equal(1, pl_http_parse_feed(&p, old, sizeof old - 1, &used));
    assert_false(p.continue_due);
    pl_http_parse_dispose(&p);
}

static void test_token_list(void **state)
{
    (void)state;
    assert_true(pl_http_token_list_has("Upgrade", "upgrade"));
    assert_true(pl_http_token_list_has(" keep-alive ,  UPGRADE ", "upgrade"));
    assert_false(pl_http_token_list_has("upgrades", "upgrade"));
    assert_false(pl_http_token_list_has("", "upgrade"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_simple_get),
        T(test_bytewise_and_pipelined),
        T(test_paused_until_taken),
        T(test_chunked),
        T(test_header_limit),
        T(test_many_empty_headers),
        T(test_body_limit),
        T(test_chunked_body_limit),
        T(test_garbage),
        T(test_strict_head),
        T(test_bad_version),
        T(test_upgrade),
        T(test_host_rules),
        T(test_expect),
        T(test_token_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
