/* SPDX-License-Identifier: MIT */
/* test_ws_codec.c -- the pure WebSocket helpers: frame headers, handshake
 * keys, close-frame checks, and pl_utf8_valid edge cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "ws/ws.h"

static void check_header(uint64_t len, size_t want_size, const uint8_t *want)
{
    uint8_t out[PL_WS_MAX_HEADER];
    size_t n = pl_ws_frame_header(out, PL_WS_OP_TEXT, true, len);
    assert_int_equal(want_size, n);
    assert_memory_equal(want, out, n);
    /* Round trip through the decoder. */
    uint8_t b0;
    bool masked;
    uint64_t plen;
    assert_int_equal((int)n, pl_ws_frame_parse_header(out, n, &b0, &masked, &plen));
    assert_int_equal(0x81, b0);
    assert_false(masked);
    assert_true(plen == len);
}

static void test_frame_header_lengths(void **state)
{
    (void)state;
    check_header(0, 2, (const uint8_t[]){0x81, 0});
    check_header(125, 2, (const uint8_t[]){0x81, 125});
    check_header(126, 4, (const uint8_t[]){0x81, 126, 0, 126});
    check_header(65535, 4, (const uint8_t[]){0x81, 126, 0xFF, 0xFF});
    check_header(65536, 10, (const uint8_t[]){0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0});
    check_header(0x0102030405060708ull, 10, (const uint8_t[]){0x81, 127, 1, 2, 3, 4, 5, 6, 7, 8});
}

static void test_frame_header_opcodes(void **state)
{
    (void)state;
    uint8_t out[PL_WS_MAX_HEADER];
    pl_ws_frame_header(out, PL_WS_OP_CLOSE, true, 2);
    assert_int_equal(0x88, out[0]);
    pl_ws_frame_header(out, PL_WS_OP_BINARY, false, 2);
    assert_int_equal(0x02, out[0]);
    pl_ws_frame_header(out, PL_WS_OP_PONG, true, 0);
    assert_int_equal(0x8A, out[0]);
}

static void test_frame_parse_header(void **state)
{
    (void)state;
    uint8_t b0;
    bool masked;
    uint64_t len;
    const uint8_t short1[] = {0x81};
    assert_int_equal(PL_EAGAIN, pl_ws_frame_parse_header(short1, 1, &b0, &masked, &len));
    const uint8_t masked5[] = {0x81, 0x85, 1, 2, 3, 4};
    assert_int_equal(PL_EAGAIN, pl_ws_frame_parse_header(masked5, 5, &b0, &masked, &len));
    assert_int_equal(6, pl_ws_frame_parse_header(masked5, 6, &b0, &masked, &len));
    assert_true(masked);
    assert_true(len == 5);
    const uint8_t msb[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(PL_EPROTO, pl_ws_frame_parse_header(msb, sizeof msb, &b0, &masked, &len));
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[PL_WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(0, pl_ws_accept_key(key, strlen(key), out));
    assert_string_equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", out);
}

static void test_key_valid(void **state)
{
    (void)state;
    const char *good[] = {
        "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA==", "/////////////////////w=="};
    for (size_t i = 0; i < 3; i++)
        assert_true(pl_ws_key_valid(good[i], strlen(good[i])));
    const char *bad[] = {"",
                         "c2hvcnQ=",                  /* 5 bytes */
                         "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 chars */
                         "dGhlIHNhbXBsZSBub25jZQ===", /* 25 chars */
                         "dGhlIHNhbXBsZSBub25jZ===",  /* padding too early */
                         "dGhlIHNhbXBsZSBub25j*Q==",  /* bad alphabet */
                         "dGhlIHNhbXBsZSBub25jZR==",  /* non-zero trailing bits */
                         "dGhlIHNhbXBsZSBub25jZQAA"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(pl_ws_key_valid(bad[i], strlen(bad[i])));
}

static void test_close_codes(void **state)
{
    (void)state;
    const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        assert_true(pl_ws_close_code_valid(valid[i]));
    const unsigned invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        assert_false(pl_ws_close_code_valid(invalid[i]));
}

static void test_close_payload(void **state)
{
    (void)state;
    assert_int_equal(0, pl_ws_close_payload_check(NULL, 0));
    assert_int_equal(1002, pl_ws_close_payload_check((const uint8_t *)"\x03", 1));
    assert_int_equal(0, pl_ws_close_payload_check((const uint8_t *)"\x03\xe8", 2));
    assert_int_equal(1002, pl_ws_close_payload_check((const uint8_t *)"\x03\xed", 2)); /* 1005 */
    assert_int_equal(0, pl_ws_close_payload_check((const uint8_t *)"\x03\xe8ok", 4));
    assert_int_equal(1007, pl_ws_close_payload_check((const uint8_t *)"\x03\xe8\xff", 3));
}

static void test_utf8(void **state)
{
    (void)state;
    const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"hello", 5, true},
        {"\x00", 1, true}, /* NUL is a valid code point */
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true},
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xef\xbf\xbf", 3, true},      /* U+FFFF (noncharacter, valid) */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
        {"\xee\x80\x80", 3, true},      /* U+E000 */
        {"\x80", 1, false},             /* lone continuation */
        {"\xc0\x80", 2, false},         /* overlong NUL */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x9f\xbf", 3, false},     /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong 4-byte */
        {"\xed\xa0\x80", 3, false},     /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, false},     /* U+DFFF surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xfe", 1, false},
        {"\xff", 1, false},
        {"\xce", 1, false},         /* truncated */
        {"\xe2\x82", 2, false},     /* truncated */
        {"\xf0\x9f\x98", 3, false}, /* truncated */
        {"\xe2\x28\xa1", 3, false}, /* bad continuation */
        {"a\xc3\xa9z", 4, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (pl_utf8_valid(cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("utf8 case %zu: expected %d", i, cases[i].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header_lengths),
        cmocka_unit_test(test_frame_header_opcodes),
        cmocka_unit_test(test_frame_parse_header),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_payload),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
