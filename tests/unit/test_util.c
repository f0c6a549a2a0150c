/* SPDX-License-Identifier: MIT */
/* test_util.c -- ids, UTF-8 validation, buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
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
    pl_buf_append(&b, "abc", 3);
    assert_int_equal(0, memcmp(pl_buf_head(&b), "abc", 3));
    pl_buf_reset(&b, 0);
    assert_null(b.data);
    pl_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
