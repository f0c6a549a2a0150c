/* SPDX-License-Identifier: MIT */
/* test_http_range.c -- the Range header parser (http_range.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_range.h"

static void expect(const char *v, uint64_t size, int want, uint64_t ws, uint64_t wl)
{
    uint64_t s = 777, l = 777;
    int rc = pl_http_range_parse(v, size, &s, &l);
    assert_int_equal(rc, want);
    if (want == 1) {
        assert_int_equal(s, ws);
        assert_int_equal(l, wl);
    } else {
        assert_int_equal(s, 777); /* out-parameters untouched */
        assert_int_equal(l, 777);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    expect("bytes=0-9", 100, 1, 0, 10);
    expect("bytes=10-", 100, 1, 10, 90);
    expect("bytes=-10", 100, 1, 90, 10);
    expect("bytes=-1000", 100, 1, 0, 100);   /* suffix longer than the file */
    expect("bytes=90-1000", 100, 1, 90, 10); /* last clamped */
    expect("bytes=99-99", 100, 1, 99, 1);
    expect(" bytes = 5-6 ", 100, 1, 5, 2);
    expect("BYTES=0-0", 1, 1, 0, 1);
}

static void test_unsatisfiable(void **state)
{
    (void)state;
    expect("bytes=100-", 100, -1, 0, 0);
    expect("bytes=100-200", 100, -1, 0, 0);
    expect("bytes=-0", 100, -1, 0, 0);
    expect("bytes=0-", 0, -1, 0, 0);
}

static void test_ignored(void **state)
{
    (void)state;
    expect(NULL, 100, 0, 0, 0);
    expect("", 100, 0, 0, 0);
    expect("items=0-9", 100, 0, 0, 0);
    expect("bytes=0-9,20-29", 100, 0, 0, 0); /* several ranges: whole file */
    expect("bytes=9-0", 100, 0, 0, 0);
    expect("bytes=a-b", 100, 0, 0, 0);
    expect("bytes=-", 100, 0, 0, 0);
    expect("bytes=1", 100, 0, 0, 0);
    expect("bytes=99999999999999999999-", 100, 0, 0, 0); /* overflow */
    expect("bytes 0-9", 100, 0, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
