/* SPDX-License-Identifier: MIT */
/* test_hook_sign.c -- src/hooks/hook_sign.c (issue 16): the outgoing
 * webhook signature against a vector computed with `openssl dgst -sha256
 * -hmac`, and the receiver's check: stale and future timestamps (replay),
 * wrong keys and bodies, several v1= entries, malformed headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hooks/hook_sign.h"

#define KEY ((const uint8_t *)"whsec_test")
#define KLEN 10
#define BODY "{\"text\":\"hi\"}"
/* printf '%s' '1700000000.{"text":"hi"}' | openssl dgst -sha256 -hmac whsec_test */
#define SIG "v1=add2fc7010ee7aa23f65449ce9240cd32763de7515ca26c43cd1e9d447a5361a"
#define T0 1700000000

static pl_hook_sig_err_t verify(const char *ts, const char *sig, const char *body, int64_t now)
{
    return pl_hook_verify(KEY, KLEN, ts, sig, body, strlen(body), now, 300);
}

static void test_sign(void **state)
{
    (void)state;
    char out[PL_HOOK_SIG_LEN + 1];
    pl_hook_sign(KEY, KLEN, T0, BODY, strlen(BODY), out);
    assert_string_equal(SIG, out);
}

static void test_verify(void **state)
{
    (void)state;
    assert_int_equal(PL_HOOK_SIG_OK, verify("1700000000", SIG, BODY, T0));
    assert_int_equal(PL_HOOK_SIG_OK, verify("1700000000", SIG, BODY, T0 + 300));
    assert_int_equal(PL_HOOK_SIG_OK, verify("1700000000", SIG, BODY, T0 - 300));
    /* replay: older (or later) than the tolerance */
    assert_int_equal(PL_HOOK_SIG_STALE, verify("1700000000", SIG, BODY, T0 + 301));
    assert_int_equal(PL_HOOK_SIG_STALE, verify("1700000000", SIG, BODY, T0 - 301));
    /* another body, timestamp or key */
    assert_int_equal(PL_HOOK_SIG_MISMATCH, verify("1700000000", SIG, "{\"text\":\"ho\"}", T0));
    assert_int_equal(PL_HOOK_SIG_MISMATCH, verify("1700000001", SIG, BODY, T0));
    assert_int_equal(PL_HOOK_SIG_MISMATCH,
                     pl_hook_verify(KEY, KLEN - 1, "1700000000", SIG, BODY, strlen(BODY), T0, 300));
    /* several entries (a rotation), unknown versions skipped */
    assert_int_equal(
        PL_HOOK_SIG_OK,
        verify("1700000000",
               "v0=zz, v1=0000000000000000000000000000000000000000000000000000000000000000"
               "," SIG,
               BODY, T0));
    /* malformed */
    const char *const bad_sig[] = {
        "",        "v1=",
        "v1=ADD2", SIG "0",
        "v0=abc",  ",",
        SIG ",,",  "v1=add2fc7010ee7aa23f65449ce9240cd32763de7515ca26c43cd1e9d447a5361A"};
    for (size_t i = 0; i < sizeof bad_sig / sizeof *bad_sig; i++)
        if (verify("1700000000", bad_sig[i], BODY, T0) != PL_HOOK_SIG_BAD_HEADER)
            fail_msg("accepted signature header \"%s\"", bad_sig[i]);
    const char *const bad_ts[] = {"", "-1", "17e8", "1700000000 ", " 1700000000", "1234567890123"};
    for (size_t i = 0; i < sizeof bad_ts / sizeof *bad_ts; i++)
        assert_int_equal(PL_HOOK_SIG_BAD_HEADER, verify(bad_ts[i], SIG, BODY, T0));
    assert_int_equal(PL_HOOK_SIG_BAD_HEADER,
                     pl_hook_verify(KEY, KLEN, NULL, SIG, BODY, strlen(BODY), T0, 300));
    assert_int_equal(PL_HOOK_SIG_BAD_HEADER,
                     pl_hook_verify(KEY, KLEN, "1700000000", NULL, BODY, strlen(BODY), T0, 300));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
