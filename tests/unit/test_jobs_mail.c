/* SPDX-License-Identifier: MIT */
/* test_jobs_mail.c -- the pure parts of src/jobs: the `email` job payload
 * (hostile addresses, header injection, limits), the message it builds
 * (headers, RFC 2047 subject, CRLF body) and the retry backoff (doubling,
 * cap, jitter bounds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "jobs/jobs.h"
#include "jobs/jobs_mail.h"

static int parse(const char *payload)
{
    pl_mail_t m = {0};
    char err[128];
    int rc = pl_mail_parse(payload, strlen(payload), &m, err, sizeof err);
    pl_mail_dispose(&m);
    return rc;
}

static void test_addresses(void **state)
{
    (void)state;
    assert_int_equal(0, pl_mail_addr_ok("alice@example.org"));
    assert_int_equal(0, pl_mail_addr_ok("a.b+tag@sub.example.org"));
    const char *bad[] = {"",      "alice", "@example.org",     "alice@",       "a@b@c",
                         "a b@c", "<a@b>", "a@b>\r\nBcc: x@y", "a@b\n",        "\"a\"@b",
                         "a,b@c", "a@b;c", "a@[1.2.3.4]",      "al\xc3\xa9@b", "a@b\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(PL_EINVAL, pl_mail_addr_ok(bad[i]));
    char longa[300];
    memset(longa, 'a', sizeof longa);
    memcpy(longa + 250, "@b.c", 5); /* 254 bytes: the limit */
    assert_int_equal(0, pl_mail_addr_ok(longa));
    memcpy(longa + 251, "@b.c", 5);
    assert_int_equal(PL_EINVAL, pl_mail_addr_ok(longa));
}

static void test_payloads(void **state)
{
    (void)state;
    assert_int_equal(0, parse("{\"to\":\"a@b.c\",\"subject\":\"s\",\"body\":\"x\\ny\\r\\n\"}"));
    assert_int_equal(PL_EINVAL, parse(""));
    assert_int_equal(PL_EINVAL, parse("[]"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\"}"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\",\"body\":\"\","
                                      "\"bcc\":\"x@y\"}")); /* unknown key */
    assert_int_equal(PL_EINVAL, parse("{\"to\":1,\"subject\":\"s\",\"body\":\"\"}"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\\r\\nBcc: x@y\","
                                      "\"body\":\"\"}"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\\u0000\",\"body\":\"\"}"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\",\"body\":\"a\\rb\"}"));
    assert_int_equal(PL_EINVAL, parse("{\"to\":\"a@b.c\",\"subject\":\"s\",\"body\":\"\\u0001\"}"));
    /* limits: a body line of 998 bytes passes, 999 does not */
    char *p = malloc(PL_MAIL_BODY_MAX + 200);
    int n = snprintf(p, 100, "{\"to\":\"a@b.c\",\"subject\":\"s\",\"body\":\"");
    memset(p + n, 'x', PL_MAIL_LINE_MAX);
    strcpy(p + n + PL_MAIL_LINE_MAX, "\"}");
    assert_int_equal(0, parse(p));
    memset(p + n, 'x', PL_MAIL_LINE_MAX + 1);
    strcpy(p + n + PL_MAIL_LINE_MAX + 1, "\"}");
    assert_int_equal(PL_EINVAL, parse(p));
    for (int i = 0; i < PL_MAIL_BODY_MAX + 1; i++)
        p[n + i] = i % 80 == 79 ? 'n' : 'x';
    for (int i = 79; i < PL_MAIL_BODY_MAX + 1; i += 80)
        p[n + i] = '\n'; /* raw newline inside a JSON string: invalid JSON */
    strcpy(p + n + PL_MAIL_BODY_MAX + 1, "\"}");
    assert_int_equal(PL_EINVAL, parse(p));
    free(p);
}

static void test_build(void **state)
{
    (void)state;
    pl_mail_t m = {"alice@example.org",
                   "Gr\xc3\xbc\xc3\x9f"
                   "e",
                   "line 1\n.dot\r\nend"};
    size_t len = 0;
    char *msg = pl_mail_build(&m, "parley@example.org", "parley-job-7.1", 0, &len);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), len);
    assert_non_null(strstr(msg, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(strstr(msg, "From: <parley@example.org>\r\nTo: <alice@example.org>\r\n"));
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"));
    assert_non_null(strstr(msg, "Message-ID: <parley-job-7.1@example.org>\r\n"));
    assert_non_null(strstr(msg, "\r\n\r\nline 1\r\n.dot\r\nend\r\n"));
    free(msg);
    assert_null(pl_mail_build(&m, "not an address", "x", 0, &len));
}

static void test_backoff(void **state)
{
    (void)state;
    /* rnd 2^31: factor 1.0 */
    assert_int_equal(1000, pl_jobs_backoff_ms(1000, 3600000, 1, 1u << 31));
    assert_int_equal(2000, pl_jobs_backoff_ms(1000, 3600000, 2, 1u << 31));
    assert_int_equal(8000, pl_jobs_backoff_ms(1000, 3600000, 4, 1u << 31));
    assert_int_equal(3600000, pl_jobs_backoff_ms(1000, 3600000, 30, 1u << 31));
    assert_int_equal(3600000, pl_jobs_backoff_ms(1000, 3600000, INT64_MAX, 1u << 31));
    /* jitter bounds: [0.8, 1.2) */
    assert_int_equal(800, pl_jobs_backoff_ms(1000, 3600000, 1, 0));
    int64_t hi = pl_jobs_backoff_ms(1000, 3600000, 1, UINT32_MAX);
    assert_true(hi >= 1199 && hi < 1200);
    assert_true(pl_jobs_backoff_ms(0, 0, 1, 0) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_payloads),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
