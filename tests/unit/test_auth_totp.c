/* SPDX-License-Identifier: MIT */
/* test_auth_totp.c -- TOTP against RFC 6238's test vectors (SHA-1), the
 * window and single use, code parsing, base32, the otpauth URI and its QR
 * SVG, recovery codes, the mfa_ticket table and the password policy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/mfa_ticket.h"
#include "auth/password_policy.h"
#include "auth/totp.h"
#include "core/err.h"

#define SEC 1000000000ULL

static const uint8_t rfc_secret[] = "12345678901234567890"; /* RFC 6238 appendix B, SHA-1 */

/* RFC 6238 appendix B: time, 8-digit TOTP (SHA-1). */
static void test_rfc6238_vectors(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *code;
    } v[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
    };
    char out[9];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(0, pl_totp_code(rfc_secret, 20, v[i].t, 8, out));
        assert_string_equal(v[i].code, out);
        /* Parley's 6 digits are the last 6 of the 8 (the same truncation mod 10^6). */
        assert_int_equal(0, pl_totp_code(rfc_secret, 20, v[i].t, 6, out));
        assert_string_equal(v[i].code + 2, out);
    }
    assert_int_equal(PL_EINVAL, pl_totp_code(rfc_secret, 20, 59, 5, out));
}

static void test_window_and_single_use(void **state)
{
    (void)state;
    int64_t t = 1111111111, step = 0; /* step 37037037 */
    char prev[9], now[9], next[9], far[9];
    pl_totp_code(rfc_secret, 20, t - 30, 6, prev);
    pl_totp_code(rfc_secret, 20, t, 6, now);
    pl_totp_code(rfc_secret, 20, t + 30, 6, next);
    pl_totp_code(rfc_secret, 20, t + 90, 6, far);
    assert_true(pl_totp_verify(rfc_secret, 20, now, t, 0, &step));
    assert_int_equal(pl_totp_step(t), step);
    /* Used once: refused again within its window. */
    assert_false(pl_totp_verify(rfc_secret, 20, now, t, step, &step));
    assert_false(pl_totp_verify(rfc_secret, 20, prev, t, pl_totp_step(t), &step));
    /* One step either side is accepted (clock skew), not more. */
    assert_true(pl_totp_verify(rfc_secret, 20, prev, t, 0, &step));
    assert_int_equal(pl_totp_step(t) - 1, step);
    assert_true(pl_totp_verify(rfc_secret, 20, next, t, pl_totp_step(t), &step));
    assert_int_equal(pl_totp_step(t) + 1, step);
    assert_false(pl_totp_verify(rfc_secret, 20, far, t, 0, &step));
    /* Blanks are ignored; anything else is not a code. */
    char spaced[16];
    snprintf(spaced, sizeof spaced, "%.3s %.3s", now, now + 3);
    assert_true(pl_totp_verify(rfc_secret, 20, spaced, t, 0, &step));
    const char *bad[] = {"", "12345", "1234567", "12345a", "１２３４５６", "000000\n", "-12345"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pl_totp_verify(rfc_secret, 20, bad[i], t, 0, &step));
    char parsed[PL_TOTP_DIGITS + 1];
    assert_true(pl_totp_parse(" 123 456 ", parsed));
    assert_string_equal("123456", parsed);
}

static void test_base32_uri_qr(void **state)
{
    (void)state;
    char b32[PL_TOTP_B32_MAX + 1];
    assert_int_equal(0, pl_totp_base32(rfc_secret, 20, b32));
    assert_string_equal("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", b32);
    assert_int_equal(0, pl_totp_base32((const uint8_t *)"f", 1, b32));
    assert_string_equal("MY", b32); /* RFC 4648 10, unpadded */
    char *uri = pl_totp_uri("Parley Chat", "al&ce", "GEZDGNBV");
    assert_string_equal("otpauth://totp/Parley%20Chat:al%26ce?secret=GEZDGNBV&issuer=Parley%20Chat"
                        "&algorithm=SHA1&digits=6&period=30",
                        uri);
    char *svg = pl_qr_svg(uri);
    assert_non_null(svg);
    assert_true(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    assert_non_null(strstr(svg, "<path fill=\"#000\" d=\"M4 4h7v1h-7z")); /* finder pattern */
    assert_true(strlen(svg) > 500 && strcmp(svg + strlen(svg) - 6, "</svg>") == 0);
    free(svg);
    free(uri);
    uint8_t s1[PL_TOTP_SECRET_BYTES], s2[PL_TOTP_SECRET_BYTES];
    pl_totp_secret_new(s1);
    pl_totp_secret_new(s2);
    assert_memory_not_equal(s1, s2, sizeof s1);
}

static void test_seal_open(void **state)
{
    (void)state;
    uint8_t key[PL_TOTP_KEY_BYTES], other[PL_TOTP_KEY_BYTES], stored[PL_TOTP_STORED_MAX], out[32];
    randombytes_buf(key, sizeof key);
    randombytes_buf(other, sizeof other);
    size_t n = pl_totp_seal(key, rfc_secret, 20, stored);
    assert_int_equal(61, n);
    assert_int_equal('S', stored[0]);
    assert_null(memmem(stored, n, rfc_secret, 20)); /* not in the clear */
    assert_int_equal(20, pl_totp_open(key, stored, n, out));
    assert_memory_equal(rfc_secret, out, 20);
    assert_int_equal(0, pl_totp_open(other, stored, n, out));
    assert_int_equal(0, pl_totp_open(NULL, stored, n, out));
    stored[30] ^= 1;
    assert_int_equal(0, pl_totp_open(key, stored, n, out));
    /* Without a key: stored as is; a plain secret opens with or without one. */
    assert_int_equal(20, pl_totp_seal(NULL, rfc_secret, 20, stored));
    assert_memory_equal(rfc_secret, stored, 20);
    assert_int_equal(20, pl_totp_open(key, stored, 20, out));
    assert_int_equal(20, pl_totp_open(NULL, stored, 20, out));
    assert_int_equal(0, pl_totp_open(key, stored, 0, out));
}

static void test_recovery_codes(void **state)
{
    (void)state;
    uint8_t salt[PL_RECOVERY_SALT_BYTES] = {1}, salt2[PL_RECOVERY_SALT_BYTES] = {2};
    char code[PL_RECOVERY_CODE_TEXT], other[PL_RECOVERY_CODE_TEXT];
    pl_recovery_code_new(code);
    pl_recovery_code_new(other);
    assert_int_equal(14, strlen(code));
    assert_true(code[4] == '-' && code[9] == '-');
    assert_string_not_equal(code, other);
    uint8_t h1[32], h2[32];
    assert_true(pl_recovery_code_hash(code, salt, h1));
    /* Case, blanks and dashes do not matter. */
    char typed[32];
    snprintf(typed, sizeof typed, " %.4s %.4s%.4s ", code, code + 5, code + 10);
    for (char *p = typed; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    assert_true(pl_recovery_code_hash(typed, salt, h2));
    assert_memory_equal(h1, h2, 32);
    /* Another salt, another hash. */
    assert_true(pl_recovery_code_hash(code, salt2, h2));
    assert_memory_not_equal(h1, h2, 32);
    const char *bad[] = {"", "abcd-efgh-ijk", "abcd-efgh-ijklm", "abcd-efgh-ijk1",
                         "abcd-efgh-ij\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(pl_recovery_code_hash(bad[i], salt, h2));
}

static void test_mfa_tickets(void **state)
{
    (void)state;
    pl_mfa_tickets_t *t = pl_mfa_tickets_new(2);
    pl_mfa_ticket_info_t info = {.user_id = 7}, out;
    strcpy(info.username, "alice");
    char a[PL_TOKEN_LEN + 1], b[PL_TOKEN_LEN + 1], c[PL_TOKEN_LEN + 1];
    pl_mfa_ticket_issue(t, &info, 0, a);
    assert_int_equal(PL_TOKEN_LEN, strlen(a));
    assert_true(pl_mfa_ticket_peek(t, a, 1, &out));
    assert_int_equal(7, out.user_id);
    assert_string_equal("alice", out.username);
    /* A claim excludes a second one until it finishes. */
    assert_true(pl_mfa_ticket_claim(t, a, 1, &out));
    assert_false(pl_mfa_ticket_claim(t, a, 1, &out));
    pl_mfa_ticket_finish(t, a, false, 1);
    assert_true(pl_mfa_ticket_claim(t, a, 1, &out));
    pl_mfa_ticket_finish(t, a, false, 1);
    assert_true(pl_mfa_ticket_claim(t, a, 1, &out));
    pl_mfa_ticket_finish(t, a, false, 1); /* the third wrong factor spends it */
    assert_false(pl_mfa_ticket_peek(t, a, 1, &out));
    /* A success spends it at once. */
    pl_mfa_ticket_issue(t, &info, 0, b);
    assert_true(pl_mfa_ticket_claim(t, b, 1, &out));
    pl_mfa_ticket_finish(t, b, true, 1);
    assert_false(pl_mfa_ticket_claim(t, b, 1, &out));
    /* Five minutes, then gone. */
    pl_mfa_ticket_issue(t, &info, 0, b);
    assert_true(pl_mfa_ticket_peek(t, b, 300 * SEC - 1, &out));
    assert_false(pl_mfa_ticket_peek(t, b, 300 * SEC, &out));
    /* Bounded: the oldest goes. */
    pl_mfa_ticket_issue(t, &info, 10, a);
    pl_mfa_ticket_issue(t, &info, 11, b);
    pl_mfa_ticket_issue(t, &info, 12, c);
    assert_int_equal(2, pl_mfa_tickets_count(t, 13));
    assert_false(pl_mfa_ticket_peek(t, a, 13, &out));
    assert_true(pl_mfa_ticket_peek(t, c, 13, &out));
    /* Hostile texts. */
    assert_false(pl_mfa_ticket_peek(t, "", 13, &out));
    char big[400];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(pl_mfa_ticket_claim(t, big, 13, &out));
    pl_mfa_ticket_finish(t, big, true, 13);
    pl_mfa_tickets_free(t);
    pl_mfa_tickets_free(NULL);
}

static void test_password_policy(void **state)
{
    (void)state;
    static const char text[] = "# comment\r\npassword1\r\nQwerty123\n\nletmein!\nqwerty123\n";
    pl_pwlist_t *l = pl_pwlist_parse(text, sizeof text - 1);
    assert_int_equal(3, pl_pwlist_size(l));
    assert_true(pl_pwlist_contains(l, "PASSWORD1"));
    assert_true(pl_pwlist_contains(l, "qwerty123"));
    assert_false(pl_pwlist_contains(l, "# comment"));
    assert_false(pl_pwlist_contains(l, "password"));
    assert_non_null(pl_password_check(l, "bob", "short"));
    assert_non_null(pl_password_check(l, "bob", "Password1"));
    assert_non_null(pl_password_check(l, "bob.smith", "BOB.SMITH"));
    assert_null(pl_password_check(l, "bob", "correct horse battery"));
    assert_null(pl_password_check(NULL, "bob", "password1"));
    pl_pwlist_free(l);
    l = pl_pwlist_parse("", 0);
    assert_int_equal(0, pl_pwlist_size(l));
    assert_false(pl_pwlist_contains(l, "x"));
    pl_pwlist_free(l);
}

int main(void)
{
    if (sodium_init() < 0 || pl_totp_global_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors), cmocka_unit_test(test_window_and_single_use),
        cmocka_unit_test(test_base32_uri_qr),   cmocka_unit_test(test_recovery_codes),
        cmocka_unit_test(test_mfa_tickets),     cmocka_unit_test(test_password_policy),
        cmocka_unit_test(test_seal_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
