/* SPDX-License-Identifier: MIT */
/* test_auth_limits.c -- registration and login limits: what is counted, what
 * is given back, per address (IPv6 per /64) and per account, and the
 * known-address exemption that keeps an owner from being locked out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/auth_limits.h"
#include "core/util.h"

#define SEC 1000000000ULL

static pl_addr_t addr(const char *text)
{
    pl_addr_t a;
    assert_true(pl_addr_parse(text, strlen(text), &a));
    return a;
}

static void config(pl_config_t *c, const char *key, const char *value)
{
    char err[256];
    assert_int_equal(0, pl_config_set(c, key, value, err, sizeof err));
}

/* One login with its outcome; returns begin's wait (0: it ran). */
static uint64_t login(pl_auth_limits_t *l, const char *user, const char *ip,
                      pl_login_outcome_t outcome, uint64_t now)
{
    pl_addr_t a = addr(ip);
    pl_login_ticket_t t;
    const char *why = NULL;
    uint64_t w = pl_auth_limits_login_begin(l, user, &a, now, &t, &why);
    if (w > 0) {
        assert_false(t.active);
        assert_non_null(why);
        return w;
    }
    assert_true(t.active);
    pl_auth_limits_login_end(l, user, &a, &t, outcome, now);
    assert_false(t.active);
    return 0;
}

static void test_register_per_address(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "register_per_ip_hour", "3");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    pl_addr_t a = addr("192.0.2.1"), b = addr("192.0.2.2");
    for (int i = 0; i < 3; i++)
        assert_int_equal(0, pl_auth_limits_register(l, &a, 0));
    uint64_t w = pl_auth_limits_register(l, &a, 0);
    assert_true(w > 1100 * 1000 - 1000 && w <= 1200 * 1000); /* one per 20 minutes */
    assert_int_equal(0, pl_auth_limits_register(l, &b, 0));
    assert_int_equal(0, pl_auth_limits_register(l, &a, 1200 * SEC)); /* refilled */
    /* IPv6 counts per /64. */
    pl_addr_t v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2:ffff::9");
    pl_addr_t v6c = addr("2001:db8:1:3::1");
    for (int i = 0; i < 3; i++)
        assert_int_equal(0, pl_auth_limits_register(l, i % 2 ? &v6a : &v6b, 0));
    assert_true(pl_auth_limits_register(l, &v6b, 0) > 0);
    assert_int_equal(0, pl_auth_limits_register(l, &v6c, 0));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

static void test_only_failures_count(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_failures_per_account_ip_hour", "3");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    /* Successes and aborted attempts give their reservations back. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, 0));
        assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_ABORTED, 0));
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, 0));
    assert_true(login(l, "alice", "192.0.2.1", PL_LOGIN_OK, 0) > 0);
    /* Same account elsewhere, same address for another account: unaffected. */
    assert_int_equal(0, login(l, "alice", "192.0.2.7", PL_LOGIN_OK, 0));
    assert_int_equal(0, login(l, "bob", "192.0.2.1", PL_LOGIN_FAILED, 0));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

static void test_attempts_per_address(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_per_ip_min", "2");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, 0));
    assert_int_equal(0, login(l, "bob", "192.0.2.1", PL_LOGIN_OK, 0));
    uint64_t w = login(l, "carol", "192.0.2.1", PL_LOGIN_OK, 0);
    assert_true(w > 29000 && w <= 30000);
    assert_int_equal(0, login(l, "carol", "192.0.2.1", PL_LOGIN_OK, 30 * SEC));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

static void test_account_limit_spares_known_addresses(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_failures_per_account_hour", "4");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, 0)); /* her laptop */
    char ip[32];
    for (int i = 0; i < 4; i++) {
        snprintf(ip, sizeof ip, "198.51.100.%d", i + 1);
        assert_int_equal(0, login(l, "alice", ip, PL_LOGIN_FAILED, SEC));
    }
    assert_true(login(l, "alice", "198.51.100.99", PL_LOGIN_OK, SEC) > 0);
    assert_true(login(l, "alice", "203.0.113.5", PL_LOGIN_OK, SEC) > 0);
    /* Known: still allowed, any number of times. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, SEC));
    /* A refused probe did not make the new address known. */
    assert_true(login(l, "alice", "203.0.113.5", PL_LOGIN_OK, 2 * SEC) > 0);
    /* The bucket refills (4 per hour). */
    assert_int_equal(0, login(l, "alice", "203.0.113.5", PL_LOGIN_OK, 902 * SEC));
    /* Other accounts never noticed. */
    assert_int_equal(0, login(l, "bob", "198.51.100.99", PL_LOGIN_FAILED, SEC));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

/* An attacker guessing from far more addresses than the tables hold cannot
 * push the owner's known address out: refused probes only peek at it. */
static void test_known_address_not_evicted(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_failures_per_account_hour", "2");
    config(&c, "auth_limit_max_keys", "16");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, 0));
    char ip[48];
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof ip, "2001:db8:%x::1", i);
        (void)login(l, "alice", ip, PL_LOGIN_FAILED, SEC);
    }
    assert_true(login(l, "alice", "2001:db8:ffff::1", PL_LOGIN_OK, SEC) > 0);
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, SEC));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

static void test_spraying_per_address(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_failures_per_ip_hour", "5");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    char user[16];
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof user, "user%d", i);
        assert_int_equal(0, login(l, user, "192.0.2.1", PL_LOGIN_FAILED, 0));
    }
    assert_true(login(l, "user9", "192.0.2.1", PL_LOGIN_FAILED, 0) > 0);
    assert_int_equal(0, login(l, "user9", "192.0.2.2", PL_LOGIN_FAILED, 0));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

/* Past login_backoff_free_failures failures in a row from one address, each
 * failure doubles the wait for that (account, address); the owner's other
 * address is not delayed, and a success ends the backoff. */
static void test_exponential_backoff(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    config(&c, "login_backoff_free_failures", "2");
    config(&c, "login_backoff_max_ms", "8000");
    config(&c, "login_failures_per_account_ip_hour", "1000");
    pl_auth_limits_t *l = pl_auth_limits_new(&c);
    pl_addr_t a = addr("192.0.2.1");
    uint64_t t = 0;
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t));
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t));
    /* Third and later failures: 1 s, 2 s, 4 s, 8 s, 8 s (capped). */
    uint64_t want[] = {1000, 2000, 4000, 8000, 8000};
    for (size_t i = 0; i < PL_ARRAY_LEN(want); i++) {
        assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t));
        assert_int_equal(want[i], pl_auth_limits_backoff(l, "alice", &a, t));
        uint64_t w = login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t);
        assert_int_equal(want[i], w);
        assert_int_equal(0, login(l, "alice", "198.51.100.7", PL_LOGIN_ABORTED, t));
        t += want[i] * 1000000ULL;
    }
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_OK, t));
    assert_int_equal(0, pl_auth_limits_backoff(l, "alice", &a, t));
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t));
    assert_int_equal(0, login(l, "alice", "192.0.2.1", PL_LOGIN_FAILED, t));
    pl_auth_limits_free(l);
    pl_config_dispose(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_per_address),
        cmocka_unit_test(test_only_failures_count),
        cmocka_unit_test(test_attempts_per_address),
        cmocka_unit_test(test_account_limit_spares_known_addresses),
        cmocka_unit_test(test_known_address_not_evicted),
        cmocka_unit_test(test_spraying_per_address),
        cmocka_unit_test(test_exponential_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
