/* SPDX-License-Identifier: MIT */
/* test_mfa_ticket.c -- the single-node ticket table (issue, peek, one
 * claim at a time, PL_MFA_TICKET_TRIES, TTL, bound) and the record a
 * shared store keeps (pl_mfa_ticket_info_encode / _decode): round trips,
 * and hostile records (what a broken or hostile Redis could hand back). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/mfa_ticket.h"

static pl_mfa_ticket_info_t sample(void)
{
    pl_mfa_ticket_info_t i = {.user_id = 42};
    snprintf(i.username, sizeof i.username, "alice");
    snprintf(i.device_name, sizeof i.device_name, "my\nphone: \"x\"");
    pl_addr_parse("203.0.113.7", 11, &i.addr);
    return i;
}

static void test_table(void **state)
{
    (void)state;
    pl_mfa_tickets_t *t = pl_mfa_tickets_new(16);
    pl_mfa_ticket_info_t in = sample(), out;
    char tk[PL_TOKEN_LEN + 1];
    pl_mfa_ticket_issue(t, &in, 1000, tk);
    assert_true(pl_mfa_ticket_peek(t, tk, 1000, &out));
    assert_int_equal(42, out.user_id);
    assert_true(pl_mfa_ticket_claim(t, tk, 1000, &out));
    assert_false(pl_mfa_ticket_claim(t, tk, 1000, &out)); /* one claim at a time */
    pl_mfa_ticket_finish(t, tk, false, 1000);
    for (int i = 1; i < PL_MFA_TICKET_TRIES; i++) {
        assert_true(pl_mfa_ticket_claim(t, tk, 1000, &out));
        pl_mfa_ticket_finish(t, tk, false, 1000);
    }
    assert_false(pl_mfa_ticket_peek(t, tk, 1000, &out)); /* spent by the tries */
    pl_mfa_ticket_issue(t, &in, 1000, tk);
    assert_false(pl_mfa_ticket_peek(t, tk, 1000 + PL_MFA_TICKET_TTL_NS, &out)); /* expired */
    assert_false(pl_mfa_ticket_peek(t, "", 1000, &out));
    pl_mfa_tickets_free(t);
}

static void test_encode_decode(void **state)
{
    (void)state;
    pl_mfa_ticket_info_t in = sample(), out;
    char text[PL_MFA_TICKET_INFO_TEXT + 1];
    size_t n = pl_mfa_ticket_info_encode(&in, text);
    assert_true(pl_mfa_ticket_info_decode(text, n, &out));
    assert_int_equal(in.user_id, out.user_id);
    assert_string_equal(in.username, out.username);
    assert_string_equal(in.device_name, out.device_name);
    assert_memory_equal(in.addr.b, out.addr.b, 16);
    /* The longest fields still fit. */
    memset(in.username, 'u', PL_USERNAME_MAX);
    in.username[PL_USERNAME_MAX] = '\0';
    memset(in.device_name, 'd', 64);
    in.device_name[64] = '\0';
    in.user_id = 999999999999999999;
    n = pl_mfa_ticket_info_encode(&in, text);
    assert_true(pl_mfa_ticket_info_decode(text, n, &out));
    assert_string_equal(in.device_name, out.device_name);
    /* An empty device name. */
    in.device_name[0] = '\0';
    n = pl_mfa_ticket_info_encode(&in, text);
    assert_true(pl_mfa_ticket_info_decode(text, n, &out));
    assert_string_equal("", out.device_name);
}

static void test_decode_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "42",
        "42\n",
        "42\n00000000000000000000ffffcb007107\n",                         /* no username */
        "0\n00000000000000000000ffffcb007107\nalice\n",                   /* user 0 */
        "-4\n00000000000000000000ffffcb007107\nalice\n",                  /* not digits */
        "4x\n00000000000000000000ffffcb007107\nalice\n",                  /* not digits */
        "9999999999999999999\n00000000000000000000ffffcb007107\nalice\n", /* overflow */
        "42\n00000000000000000000ffffcb0071\nalice\n",                    /* short address */
        "42\n00000000000000000000ffffcb0071zz\nalice\n",                  /* not hex */
        "42\n00000000000000000000ffffcb007107\n"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", /* username of 33 */
        "42\n00000000000000000000ffffcb007107\nalice\n"
        "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", /* device of 65 */
    };
    pl_mfa_ticket_info_t out;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(pl_mfa_ticket_info_decode(bad[i], strlen(bad[i]), &out));
    /* A NUL inside, and NULL. */
    const char nul[] = "42\n00000000000000000000ffffcb007107\nal\0ce\n";
    assert_false(pl_mfa_ticket_info_decode(nul, sizeof nul - 1, &out));
    assert_false(pl_mfa_ticket_info_decode(NULL, 0, &out));
    const char ok[] = "42\n00000000000000000000ffffcb007107\nalice\n";
    assert_true(pl_mfa_ticket_info_decode(ok, sizeof ok - 1, &out));
}

static void test_key_hex(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_true(pl_mfa_ticket_key_hex("ticket", a));
    assert_true(pl_mfa_ticket_key_hex("ticket", b));
    assert_string_equal(a, b);
    assert_int_equal(64, strlen(a));
    assert_null(strstr(a, "ticket"));
    assert_false(pl_mfa_ticket_key_hex("", a));
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(pl_mfa_ticket_key_hex(big, a));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test(test_key_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
