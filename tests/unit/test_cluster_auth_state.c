/* SPDX-License-Identifier: MIT */
/* test_cluster_auth_state.c -- the decoders of Redis replies to the login
 * state scripts (cluster/auth_state.h): well-formed replies, and hostile
 * ones (wrong types, counts, negative or oversized values) refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/auth_state.h"
#include "core/err.h"

typedef struct {
    redisReply top;
    redisReply el[4];
    redisReply *ptr[4];
} fake_t;

static void fake_array(fake_t *f, size_t n)
{
    memset(f, 0, sizeof *f);
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = n;
    f->top.element = f->ptr;
    for (size_t i = 0; i < 4; i++) {
        f->ptr[i] = &f->el[i];
        f->el[i].type = REDIS_REPLY_INTEGER;
    }
}

static void test_str(void **state)
{
    (void)state;
    redisReply r = {.type = REDIS_REPLY_STRING, .str = (char *)"abc", .len = 3};
    const char *v = NULL;
    size_t len = 0;
    assert_int_equal(0, pl_cauth__decode_str(&r, &v, &len));
    assert_int_equal(3, len);
    assert_memory_equal("abc", v, 3);
    r.type = REDIS_REPLY_NIL;
    assert_int_equal(PL_ENOTFOUND, pl_cauth__decode_str(&r, &v, &len));
    /* Hostile: other types, and a value over PL_CAUTH_VALUE_MAX. */
    r.type = REDIS_REPLY_INTEGER;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_str(&r, &v, &len));
    r.type = REDIS_REPLY_ARRAY;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_str(&r, &v, &len));
    r.type = REDIS_REPLY_STRING;
    r.len = PL_CAUTH_VALUE_MAX + 1;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_str(&r, &v, &len));
    assert_int_equal(PL_EPROTO, pl_cauth__decode_str(NULL, &v, &len));
}

static void test_int(void **state)
{
    (void)state;
    redisReply r = {.type = REDIS_REPLY_INTEGER, .integer = 2};
    int64_t v = -1;
    assert_int_equal(0, pl_cauth__decode_int(&r, &v));
    assert_int_equal(2, v);
    r.type = REDIS_REPLY_STRING;
    r.str = (char *)"2";
    r.len = 1;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_int(&r, &v));
    assert_int_equal(PL_EPROTO, pl_cauth__decode_int(NULL, &v));
}

static void test_ints(void **state)
{
    (void)state;
    fake_t f;
    int64_t out[3] = {0};
    fake_array(&f, 3);
    f.el[0].integer = 1500, f.el[1].integer = 3, f.el[2].integer = 0;
    assert_int_equal(0, pl_cauth__decode_ints(&f.top, 3, out));
    assert_int_equal(1500, out[0]);
    assert_int_equal(3, out[1]);
    /* Hostile: wrong count, a string, a negative wait, not an array. */
    assert_int_equal(PL_EPROTO, pl_cauth__decode_ints(&f.top, 2, out));
    f.el[1].type = REDIS_REPLY_STRING;
    f.el[1].str = (char *)"3";
    f.el[1].len = 1;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_ints(&f.top, 3, out));
    fake_array(&f, 3);
    f.el[0].integer = -5;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_ints(&f.top, 3, out));
    f.top.type = REDIS_REPLY_INTEGER;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_ints(&f.top, 3, out));
    fake_array(&f, 1);
    f.ptr[0] = NULL;
    assert_int_equal(PL_EPROTO, pl_cauth__decode_ints(&f.top, 1, out));
}

/* Calls with bad names are refused before anything is sent (no Redis
 * needed: the checks come first). */
static void test_bad_names(void **state)
{
    (void)state;
    pl_cauth_t *a = pl_cauth_new(NULL);
    pl_cauth_put_t p = {.kind = "mt",
                        .id = "ab:cd",
                        .value = "x",
                        .value_len = 1,
                        .tag = "",
                        .ttl_ms = 1000,
                        .max = 10,
                        .addr = ""};
    assert_int_equal(PL_EINVAL, pl_cauth_slot_put(a, &p, NULL, NULL));
    p.id = "";
    assert_int_equal(PL_EINVAL, pl_cauth_slot_put(a, &p, NULL, NULL));
    p.id = "ab";
    p.addr = "1.2.3.4";
    assert_int_equal(PL_EINVAL, pl_cauth_slot_put(a, &p, NULL, NULL));
    p.addr = "";
    p.value_len = PL_CAUTH_VALUE_MAX + 1;
    assert_int_equal(PL_EINVAL, pl_cauth_slot_put(a, &p, NULL, NULL));
    char long_id[PL_CAUTH_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(PL_EINVAL,
                     pl_cauth_slot_read(a, PL_CAUTH_GET, "mt", long_id, "", 0, NULL, NULL));
    assert_int_equal(PL_EINVAL,
                     pl_cauth_slot_read(a, PL_CAUTH_TAKE, "m t", "ab", "", 0, NULL, NULL));
    assert_int_equal(PL_EINVAL, pl_cauth_slot_finish(a, "mt", "*", false, 3, NULL, NULL));
    pl_cauth_limits_t l = {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 5, 1000, 1000};
    assert_int_equal(PL_EINVAL, pl_cauth_register(a, &l, "zz", NULL, NULL));
    assert_int_equal(PL_EINVAL, pl_cauth_login_begin(a, &l, "", "00", NULL, NULL));
    assert_int_equal(PL_EINVAL, pl_cauth_login_end(a, &l, "61", "00", 'x', false, NULL, NULL));
    pl_cauth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
