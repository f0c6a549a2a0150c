/* SPDX-License-Identifier: MIT */
/* test_util.c -- ids, UTF-8 validation, buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"

static void test_ids(void **state)
{
    (void)state;
    char buf[24];
    int64_t id;
    assert_string_equal("r42", pl_id_fmt(buf, 'r', 42));
    assert_true(pl_id_parse("r42", 'r', &id));
    assert_int_equal(42, id);
    assert_true(pl_id_parse("u9223372036854775807", 'u', &id));
    assert_false(pl_id_parse("u9223372036854775808", 'u', &id));
    assert_false(pl_id_parse("r0", 'r', &id));
    assert_false(pl_id_parse("r042", 'r', &id));
    assert_false(pl_id_parse("r", 'r', &id));
    assert_false(pl_id_parse("u42", 'r', &id));
    assert_false(pl_id_parse("r4x", 'r', &id));
    assert_false(pl_id_parse("r-1", 'r', &id));
    assert_false(pl_id_parse("", 'r', &id));
    assert_false(pl_id_parse(NULL, 'r', &id));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(pl_utf8_valid("", 0));
    assert_true(pl_utf8_valid("hello", 5));
    assert_true(pl_utf8_valid("\xc3\xa9", 2));         /* é */
    assert_true(pl_utf8_valid("\xe2\x82\xac", 3));     /* € */
    assert_true(pl_utf8_valid("\xf0\x9f\x98\x80", 4)); /* 😀 */
    assert_true(pl_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    assert_false(pl_utf8_valid("\xff", 1));
    assert_false(pl_utf8_valid("\xc0\xaf", 2));         /* overlong / */
    assert_false(pl_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(pl_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(pl_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(pl_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(pl_utf8_valid("\x80", 1));             /* lone continuation */
    assert_false(pl_utf8_valid("a\xc3", 2));
}

static void test_buf(void **state)
{
    (void)state;
    pl_buf_t b;
    pl_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        pl_buf_printf(&b, "%d,", i);
    assert_int_equal(0, memcmp(pl_buf_head(&b), "0,1,2,", 6));
    pl_buf_consume(&b, 4);
    assert_int_equal(0, memcmp(pl_buf_head(&b), "2,3,", 4));
    char big[1000];
    memset(big, 'z', sizeof big);
    pl_buf_printf(&b, "%.*s", (int)sizeof big, big);
    assert_int_equal('z', pl_buf_head(&b)[b.len - 1]);
    pl_buf_consume(&b, b.len);
    assert_int_equal(0, b.len);
    pl_buf_lit(&b, "abc");
    assert_int_equal(0, memcmp(pl_buf_head(&b), "abc", 3));
    pl_buf_reset(&b, 0);
    assert_null(b.data);
    pl_buf_dispose(&b);
}

/* The escaper writes what jansson's compact dump writes, byte for byte. */
static void json_same(const char *s, size_t n)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_json_str(&b, s, n);
    json_t *j = json_stringn(s, n);
    char *want = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("\"\"");
    assert_int_equal(strlen(want), b.len);
    assert_memory_equal(want, pl_buf_head(&b), b.len);
    free(want);
    json_decref(j);
    pl_buf_dispose(&b);
}

#define JSON_SAME(lit) json_same(lit, sizeof(lit) - 1)

static void test_json_str(void **state)
{
    (void)state;
    char s[2] = {0};
    for (int c = 1; c < 256; c++) { /* every single byte (>= 0x80 alone: not UTF-8) */
        s[0] = (char)c;
        json_same(s, 1);
    }
    JSON_SAME("");
    JSON_SAME("plain text, \"quoted\" and back\\slash / slash");
    JSON_SAME("tab\tnl\ncr\rbs\bff\f\x01\x1f\x7f");
    JSON_SAME("h\xc3\xa9llo \xf0\x9f\x98\x80"); /* UTF-8 kept as is */
    JSON_SAME("\xed\xa0\x80");                  /* a surrogate: not UTF-8 */
    JSON_SAME("a\0b");                          /* NUL inside: \\u0000 */
    JSON_SAME("\xc3");                          /* truncated sequence */
    pl_buf_t b;
    pl_buf_init(&b);
    pl_json_cstr(&b, NULL);
    assert_int_equal(2, b.len);
    pl_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_json_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
