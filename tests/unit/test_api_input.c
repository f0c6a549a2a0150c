/* SPDX-License-Identifier: MIT */
/* test_api_input.c -- the account endpoints' input rules: the JSON content
 * type and which usernames may be registered. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"
#include "auth/auth.h"

static void test_json_type(void **state)
{
    (void)state;
    assert_true(pl_api_is_json_type("application/json"));
    assert_true(pl_api_is_json_type("Application/JSON"));
    assert_true(pl_api_is_json_type("application/json; charset=utf-8"));
    assert_true(pl_api_is_json_type("application/json;charset=UTF-8"));
    assert_true(pl_api_is_json_type(" application/json "));
    assert_false(pl_api_is_json_type(NULL));
    assert_false(pl_api_is_json_type(""));
    assert_false(pl_api_is_json_type("text/plain"));
    assert_false(pl_api_is_json_type("text/plain; application/json"));
    assert_false(pl_api_is_json_type("application/jsonp"));
    assert_false(pl_api_is_json_type("application/json-seq"));
    assert_false(pl_api_is_json_type("application/x-www-form-urlencoded"));
    assert_false(pl_api_is_json_type("multipart/form-data; boundary=application/json"));
    assert_false(pl_api_is_json_type("application/json x"));
}

static void test_registrable_usernames(void **state)
{
    (void)state;
    const char *reserved[] = {".", "..", "-", "_", "...", "-_.", "__"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        assert_false(pl_auth_username_registrable(reserved[i]));
    const char *fine[] = {"a", "0", "a.b", "-x-", "_9", "..z"};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++)
        assert_true(pl_auth_username_registrable(fine[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_type),
        cmocka_unit_test(test_registrable_usernames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
