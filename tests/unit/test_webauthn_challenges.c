/* SPDX-License-Identifier: MIT */
/* test_webauthn_challenges.c -- the passkey challenge table: single use,
 * purpose-bound, expiry, and its bounds in total and per address (IPv6 per
 * /64) under a flood. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/webauthn_challenges.h"
#include "core/err.h"

#define SEC 1000000000ULL

static pl_addr_t addr(const char *text)
{
    pl_addr_t a;
    assert_true(pl_addr_parse(text, strlen(text), &a));
    return a;
}

static void test_single_use_and_purpose(void **state)
{
    (void)state;
    pl_wa_challenges_t *t = pl_wa_challenges_new(100, 10, 300 * SEC);
    pl_addr_t a = addr("192.0.2.1");
    unsigned char c1[32], c2[32];
    int64_t user = -1;
    assert_int_equal(0, pl_wa_challenge_issue(t, &a, PL_WA_FOR_REGISTER, 7, 0, c1));
    assert_int_equal(0, pl_wa_challenge_issue(t, &a, PL_WA_FOR_LOGIN, 0, 0, c2));
    assert_memory_not_equal(c1, c2, 32);
    /* the wrong purpose does not consume it */
    assert_int_equal(PL_ENOTFOUND, pl_wa_challenge_take(t, c1, PL_WA_FOR_LOGIN, SEC, &user));
    assert_int_equal(0, pl_wa_challenge_take(t, c1, PL_WA_FOR_REGISTER, SEC, &user));
    assert_int_equal(7, user);
    assert_int_equal(PL_ENOTFOUND, pl_wa_challenge_take(t, c1, PL_WA_FOR_REGISTER, SEC, &user));
    unsigned char unknown[32] = {0};
    assert_int_equal(PL_ENOTFOUND, pl_wa_challenge_take(t, unknown, PL_WA_FOR_LOGIN, SEC, &user));
    assert_int_equal(1, pl_wa_challenges_count(t));
    pl_wa_challenges_free(t);
}

static void test_expiry(void **state)
{
    (void)state;
    pl_wa_challenges_t *t = pl_wa_challenges_new(100, 10, 300 * SEC);
    pl_addr_t a = addr("192.0.2.1");
    unsigned char c[32];
    int64_t user;
    assert_int_equal(0, pl_wa_challenge_issue(t, &a, PL_WA_FOR_LOGIN, 0, 0, c));
    assert_int_equal(PL_ENOTFOUND, pl_wa_challenge_take(t, c, PL_WA_FOR_LOGIN, 300 * SEC, &user));
    assert_int_equal(0, pl_wa_challenges_count(t));
    pl_wa_challenges_free(t);
}

/* A flood from one address stops at per_addr; other addresses still get
 * theirs until the table is full; expiry frees room again. */
static void test_bounds(void **state)
{
    (void)state;
    pl_wa_challenges_t *t = pl_wa_challenges_new(40, 32, 300 * SEC);
    pl_addr_t a = addr("192.0.2.1"), b = addr("2001:db8:1:2::1"), b2 = addr("2001:db8:1:2::99");
    pl_addr_t third = addr("198.51.100.1");
    unsigned char c[32];
    int ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += pl_wa_challenge_issue(t, &a, PL_WA_FOR_LOGIN, 0, (uint64_t)i, c) == 0;
    assert_int_equal(32, ok);
    assert_int_equal(32, pl_wa_challenges_count(t));
    /* the same /64 shares a bucket; the table holds 40 */
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += pl_wa_challenge_issue(t, i % 2 ? &b : &b2, PL_WA_FOR_LOGIN, 0, 0, c) == 0;
    assert_int_equal(8, ok);
    assert_int_equal(PL_ETOOBIG, pl_wa_challenge_issue(t, &third, PL_WA_FOR_LOGIN, 0, 0, c));
    /* five minutes later everything has expired */
    assert_int_equal(0, pl_wa_challenge_issue(t, &a, PL_WA_FOR_LOGIN, 0, 301 * SEC + 1000, c));
    assert_int_equal(1, pl_wa_challenges_count(t));
    pl_wa_challenges_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_use_and_purpose),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
