/* SPDX-License-Identifier: MIT */
/* test_addr.c -- address parsing, CIDR lists, X-Forwarded-For resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/addr.h"
#include "core/err.h"

static pl_addr_t A(const char *s)
{
    pl_addr_t a;
    assert_true(pl_addr_parse(s, strlen(s), &a));
    return a;
}

static void test_parse_format(void **state)
{
    (void)state;
    char buf[PL_ADDR_TEXT];
    pl_addr_t a = A("127.0.0.1");
    assert_string_equal("127.0.0.1", pl_addr_format(&a, buf));
    assert_true(pl_addr_is_loopback(&a));
    a = A("[::1]");
    assert_string_equal("::1", pl_addr_format(&a, buf));
    assert_true(pl_addr_is_loopback(&a));
    a = A("2001:db8::7");
    assert_string_equal("2001:db8::7", pl_addr_format(&a, buf));
    assert_false(pl_addr_is_loopback(&a));
    a = A("203.0.113.9");
    assert_false(pl_addr_is_loopback(&a));
    pl_addr_t z = {{0}};
    assert_true(pl_addr_unknown(&z));
    assert_string_equal("?", pl_addr_format(&z, buf));
    const char *bad[] = {"",          " 1.2.3.4",
                         "1.2.3.4 ",  "1.2.3",
                         "1.2.3.256", "::g",
                         "[::1",      "x",
                         "1.2.3.4/8", "0123456789012345678901234567890123456789012345678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pl_addr_parse(bad[i], strlen(bad[i]), &a));
    /* Limit keys: IPv4 whole, IPv6 by its /64. */
    pl_addr_t k1 = A("2001:db8:1:2:aaaa::1"), k2 = A("2001:db8:1:2:bbbb::9");
    pl_addr_t x1 = pl_addr_limit_key(&k1), x2 = pl_addr_limit_key(&k2);
    assert_memory_equal(x1.b, x2.b, 16);
    assert_string_equal("2001:db8:1:2::", pl_addr_format(&x1, buf));
    pl_addr_t k3 = A("2001:db8:1:3::1");
    pl_addr_t x3 = pl_addr_limit_key(&k3);
    assert_memory_not_equal(x1.b, x3.b, 16);
    pl_addr_t v4 = A("203.0.113.77");
    pl_addr_t x4 = pl_addr_limit_key(&v4);
    assert_string_equal("203.0.113.77", pl_addr_format(&x4, buf));
    /* An embedded NUL is not an address (inet_pton would stop at it). */
    assert_false(pl_addr_parse("::\0junk", 7, &a));
    assert_false(pl_addr_parse("1.2.3.4\0", 8, &a));
    /* Not NUL-terminated: only len bytes count. */
    assert_true(pl_addr_parse("10.0.0.1junk", 8, &a));
    assert_string_equal("10.0.0.1", pl_addr_format(&a, buf));
}

static void test_cidr(void **state)
{
    (void)state;
    pl_cidr_list_t l;
    char err[128];
    assert_int_equal(
        0, pl_cidr_list_parse("127.0.0.0/8, ::1 10.1.0.0/16,192.168.1.7", &l, err, sizeof err));
    assert_int_equal(4, l.n);
    pl_addr_t a = A("127.9.9.9");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("::1");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("10.1.200.3");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("10.2.0.1");
    assert_false(pl_cidr_list_match(&l, &a));
    a = A("192.168.1.7");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("192.168.1.8");
    assert_false(pl_cidr_list_match(&l, &a));
    a = A("::2");
    assert_false(pl_cidr_list_match(&l, &a));
    pl_cidr_list_dispose(&l);
    /* Odd prefix lengths and the host part of the network cleared. */
    assert_int_equal(0, pl_cidr_list_parse("10.0.0.255/9 2001:db8::1/33", &l, NULL, 0));
    a = A("10.127.255.255");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("10.128.0.0");
    assert_false(pl_cidr_list_match(&l, &a));
    a = A("2001:db8:7fff::");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("2001:db8:8000::");
    assert_false(pl_cidr_list_match(&l, &a));
    pl_cidr_list_dispose(&l);
    /* /0 matches its family only. */
    assert_int_equal(0, pl_cidr_list_parse("0.0.0.0/0", &l, NULL, 0));
    a = A("8.8.8.8");
    assert_true(pl_cidr_list_match(&l, &a));
    a = A("2001:db8::1");
    assert_false(pl_cidr_list_match(&l, &a));
    pl_cidr_list_dispose(&l);
    assert_int_equal(0, pl_cidr_list_parse("", &l, NULL, 0));
    assert_int_equal(0, l.n);
    pl_cidr_list_dispose(&l);
    const char *bad[] = {"1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/x", "host", "1.2.3.4/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(PL_EINVAL, pl_cidr_list_parse(bad[i], &l, err, sizeof err));
        assert_int_equal(0, l.n);
        assert_non_null(strstr(err, "is not an address"));
    }
}

static void test_client(void **state)
{
    (void)state;
    pl_cidr_list_t trusted;
    assert_int_equal(0, pl_cidr_list_parse("127.0.0.1 10.0.0.0/8", &trusted, NULL, 0));
    char buf[PL_ADDR_TEXT];
    pl_addr_t out, peer = A("127.0.0.1");
    /* Through our proxy: the client it saw. */
    assert_true(pl_addr_client(&peer, "203.0.113.9", &trusted, &out));
    assert_string_equal("203.0.113.9", pl_addr_format(&out, buf));
    /* A client-written prefix is ignored: the right-most untrusted wins. */
    assert_true(pl_addr_client(&peer, "1.1.1.1, 203.0.113.9", &trusted, &out));
    assert_string_equal("203.0.113.9", pl_addr_format(&out, buf));
    /* Several of our proxies in a row. */
    assert_true(pl_addr_client(&peer, "198.51.100.4 ,10.0.0.3,\t10.0.0.2", &trusted, &out));
    assert_string_equal("198.51.100.4", pl_addr_format(&out, buf));
    /* Only proxies: the left-most. */
    assert_true(pl_addr_client(&peer, "10.0.0.3, 10.0.0.2", &trusted, &out));
    assert_string_equal("10.0.0.3", pl_addr_format(&out, buf));
    /* A trusted proxy that sent no header or garbage. */
    assert_false(pl_addr_client(&peer, NULL, &trusted, &out));
    assert_string_equal("127.0.0.1", pl_addr_format(&out, buf));
    assert_false(pl_addr_client(&peer, "", &trusted, &out));
    assert_false(pl_addr_client(&peer, "unknown", &trusted, &out));
    assert_false(pl_addr_client(&peer, "1.2.3.4,,", &trusted, &out));
    assert_string_equal("127.0.0.1", pl_addr_format(&out, buf));
    /* A bad entry left of one of our proxies: no proxy address comes back. */
    assert_false(pl_addr_client(&peer, "junk, 10.0.0.2", &trusted, &out));
    assert_string_equal("127.0.0.1", pl_addr_format(&out, buf));
    /* A peer we do not trust: its header proves nothing. */
    pl_addr_t stranger = A("198.51.100.1");
    assert_true(pl_addr_client(&stranger, "127.0.0.1", &trusted, &out));
    assert_string_equal("198.51.100.1", pl_addr_format(&out, buf));
    pl_cidr_list_t none = {NULL, 0};
    assert_true(pl_addr_client(&peer, "203.0.113.9", &none, &out));
    assert_string_equal("127.0.0.1", pl_addr_format(&out, buf));
    pl_cidr_list_dispose(&trusted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
