/* SPDX-License-Identifier: MIT */
/* test_ratelimit.c -- token buckets and the bounded keyed table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/ratelimit.h"

#define S 1000000000ull /* one second in ns */

static void test_bucket(void **state)
{
    (void)state;
    pl_bucket_t b;
    pl_bucket_init(&b, 3, 0);
    /* Burst of 3, then empty: the next token is 1/rate away. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(0, pl_bucket_take(&b, 2, 3, 1, 0));
    assert_int_equal(500, pl_bucket_take(&b, 2, 3, 1, 0));
    assert_int_equal(250, pl_bucket_take(&b, 2, 3, 1, S / 4));
    assert_int_equal(0, pl_bucket_take(&b, 2, 3, 1, S / 2));
    /* Refill is capped at burst. */
    assert_int_equal(0, pl_bucket_take(&b, 2, 3, 3, 100 * S));
    assert_true(pl_bucket_take(&b, 2, 3, 1, 100 * S) > 0);
    /* More than the burst is never granted. */
    assert_int_equal(UINT64_MAX, pl_bucket_take(&b, 2, 3, 4, 1000 * S));
    /* A clock that goes backwards takes nothing and adds nothing. */
    pl_bucket_init(&b, 1, 10 * S);
    assert_int_equal(0, pl_bucket_take(&b, 1, 1, 1, 10 * S));
    assert_true(pl_bucket_take(&b, 1, 1, 1, 5 * S) > 0);
}

static void test_table(void **state)
{
    (void)state;
    pl_ratelimit_t *rl = pl_ratelimit_new(1, 2, 3);
    assert_int_equal(0, pl_ratelimit_take(rl, "a", 1, 1, 0));
    assert_int_equal(0, pl_ratelimit_take(rl, "a", 1, 1, 0));
    assert_int_equal(1000, pl_ratelimit_take(rl, "a", 1, 1, 0));
    /* Keys are independent and compared by bytes and length. */
    assert_int_equal(0, pl_ratelimit_take(rl, "ab", 2, 2, 0));
    assert_true(pl_ratelimit_take(rl, "ab", 2, 1, 0) > 0);
    assert_int_equal(0, pl_ratelimit_take(rl, "b", 1, 1, 0));
    assert_int_equal(3, pl_ratelimit_size(rl));
    /* A refund gives back (up to burst). */
    pl_ratelimit_refund(rl, "a", 1, 5);
    assert_int_equal(0, pl_ratelimit_take(rl, "a", 1, 2, 0));
    pl_ratelimit_refund(rl, "zz", 2, 1); /* unknown: ignored */
    assert_int_equal(3, pl_ratelimit_size(rl));
    /* A peek answers like a take but changes nothing: no new key, no
     * token taken, no LRU move. */
    assert_int_equal(0, pl_ratelimit_peek(rl, "new", 3, 1, 0));
    assert_int_equal(3, pl_ratelimit_size(rl));
    assert_int_equal(0, pl_ratelimit_peek(rl, "b", 1, 1, 0));
    assert_int_equal(0, pl_ratelimit_peek(rl, "b", 1, 1, 0));
    assert_int_equal(UINT64_MAX, pl_ratelimit_peek(rl, "new", 3, 5, 0));
    /* Full: a new key evicts the least recently used ("ab"), never grows. */
    assert_int_equal(0, pl_ratelimit_take(rl, "c", 1, 1, 0));
    assert_int_equal(3, pl_ratelimit_size(rl));
    assert_true(pl_ratelimit_take(rl, "a", 1, 1, 0) > 0);      /* "a" was kept */
    assert_int_equal(0, pl_ratelimit_take(rl, "ab", 2, 2, 0)); /* "ab" starts full again */
    /* Many distinct keys (an attacker rotating addresses): bounded. */
    char key[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        (void)pl_ratelimit_take(rl, key, (size_t)n, 1, 0);
    }
    assert_int_equal(3, pl_ratelimit_size(rl));
    /* Keys longer than 64 bytes are cut. */
    char k1[100], k2[100];
    memset(k1, 'x', sizeof k1);
    memcpy(k2, k1, sizeof k2);
    k2[99] = 'y';
    assert_int_equal(0, pl_ratelimit_take(rl, k1, sizeof k1, 2, 0));
    assert_true(pl_ratelimit_take(rl, k2, sizeof k2, 1, 0) > 0);
    pl_ratelimit_free(rl);
    pl_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
