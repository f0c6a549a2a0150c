/* SPDX-License-Identifier: MIT */
/* test_cluster_state.c -- the decoders of Redis replies to the shared-state
 * scripts (cluster/state.h): well-formed replies, and hostile ones (wrong
 * types, odd pair counts, bad numbers) refused with PL_EPROTO. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/state.h"
#include "core/err.h"

/* A reply tree on the stack: up to 8 elements. */
typedef struct {
    redisReply top;
    redisReply el[8];
    redisReply *ptr[8];
} fake_t;

static void fake_array(fake_t *f, size_t n)
{
    memset(f, 0, sizeof *f);
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = n;
    f->top.element = f->ptr;
    for (size_t i = 0; i < 8; i++)
        f->ptr[i] = &f->el[i];
}

static void fake_str(fake_t *f, size_t i, const char *s)
{
    f->el[i].type = REDIS_REPLY_STRING;
    f->el[i].str = (char *)s;
    f->el[i].len = strlen(s);
}

static void fake_int(fake_t *f, size_t i, long long v)
{
    f->el[i].type = REDIS_REPLY_INTEGER;
    f->el[i].integer = v;
}

static void test_changes_ok(void **state)
{
    (void)state;
    fake_t f;
    fake_array(&f, 5);
    fake_int(&f, 0, 1); /* the heartbeat's rejoined flag */
    fake_str(&f, 1, "42");
    fake_int(&f, 2, 0);
    fake_str(&f, 3, "9223372036854775807");
    fake_int(&f, 4, 2);
    pl_cstate_pres_t *c;
    assert_int_equal(2, pl_cstate__decode_changes(&f.top, 1, &c));
    assert_int_equal(42, c[0].user);
    assert_int_equal(0, c[0].status);
    assert_int_equal(INT64_MAX, c[1].user);
    assert_int_equal(2, c[1].status);
    free(c);
    fake_array(&f, 0);
    assert_int_equal(0, pl_cstate__decode_changes(&f.top, 0, &c));
    assert_null(c);
}

static void test_changes_hostile(void **state)
{
    (void)state;
    fake_t f;
    pl_cstate_pres_t *c;
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(NULL, 0, &c));
    fake_array(&f, 3); /* odd pairs */
    fake_str(&f, 0, "1");
    fake_int(&f, 1, 1);
    fake_str(&f, 2, "2");
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 5, &c)); /* first past end */
    const char *bad_users[] = {"", "-1", "0", "1a", " 1", "92233720368547758070", "1.5"};
    for (size_t i = 0; i < sizeof bad_users / sizeof bad_users[0]; i++) {
        fake_array(&f, 2);
        fake_str(&f, 0, bad_users[i]);
        fake_int(&f, 1, 1);
        assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
        assert_null(c);
    }
    long long bad_status[] = {-1, 3, 1LL << 40};
    for (size_t i = 0; i < 3; i++) {
        fake_array(&f, 2);
        fake_str(&f, 0, "7");
        fake_int(&f, 1, bad_status[i]);
        assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
    }
    fake_array(&f, 2); /* status as a string */
    fake_str(&f, 0, "7");
    fake_str(&f, 1, "1");
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
    fake_array(&f, 2); /* a NULL element */
    fake_str(&f, 0, "7");
    f.ptr[1] = NULL;
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
    f.top.type = REDIS_REPLY_ERROR; /* not an array */
    assert_int_equal(PL_EPROTO, pl_cstate__decode_changes(&f.top, 0, &c));
}

static void test_status(void **state)
{
    (void)state;
    fake_t f;
    int st[4];
    fake_array(&f, 3);
    f.el[0].type = REDIS_REPLY_NIL;
    fake_str(&f, 1, "1");
    fake_str(&f, 2, "2");
    assert_int_equal(0, pl_cstate__decode_status(&f.top, 3, st));
    assert_int_equal(0, st[0]);
    assert_int_equal(1, st[1]);
    assert_int_equal(2, st[2]);
    assert_int_equal(PL_EPROTO, pl_cstate__decode_status(&f.top, 2, st)); /* count differs */
    const char *bad[] = {"0", "3", "11", "", "x"};
    for (size_t i = 0; i < 5; i++) {
        fake_array(&f, 1);
        fake_str(&f, 0, bad[i]);
        assert_int_equal(PL_EPROTO, pl_cstate__decode_status(&f.top, 1, st));
    }
    fake_array(&f, 1);
    fake_int(&f, 0, 1);
    assert_int_equal(PL_EPROTO, pl_cstate__decode_status(&f.top, 1, st));
}

static void test_tokens(void **state)
{
    (void)state;
    fake_t f;
    double t[4];
    fake_array(&f, 3);
    fake_str(&f, 0, "12.5");
    fake_str(&f, 1, "-40");
    fake_str(&f, 2, "1e+15");
    assert_int_equal(0, pl_cstate__decode_tokens(&f.top, 3, t));
    assert_true(t[0] == 12.5 && t[1] == -40 && t[2] == 1e15);
    const char *bad[] = {
        "",      "nan",
        "inf",   "-inf",
        "1e400", "12abc",
        " ",     "123456789012345678901234567890123456789012345678901234567890123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_array(&f, 1);
        fake_str(&f, 0, bad[i]);
        assert_int_equal(PL_EPROTO, pl_cstate__decode_tokens(&f.top, 1, t));
    }
    fake_array(&f, 1);
    fake_int(&f, 0, 5);
    assert_int_equal(PL_EPROTO, pl_cstate__decode_tokens(&f.top, 1, t));
    assert_int_equal(PL_EPROTO, pl_cstate__decode_tokens(NULL, 1, t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_ok),
        cmocka_unit_test(test_changes_hostile),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
