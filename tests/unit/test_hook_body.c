/* SPDX-License-Identifier: MIT */
/* test_hook_body.c -- src/hooks/hook_body.c (issue 16): the incoming
 * webhook's secret path and its Slack-compatible body. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hook_body.h"

#define SECRET "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd"

static void test_path(void **state)
{
    (void)state;
    int64_t id = 0;
    char s[PL_HOOK_SECRET_LEN + 1];
    assert_int_equal(43, strlen(SECRET "e"));
    assert_int_equal(PL_HOOK_OK, pl_hook_path_parse("/v1/hooks/w12/" SECRET "e", &id, s));
    assert_int_equal(12, id);
    assert_string_equal(SECRET "e", s);
    assert_int_equal(PL_HOOK_OK,
                     pl_hook_path_parse("/v1/hooks/w999999999999999999/" SECRET "e", &id, s));
    const char *const bad[] = {
        "/v1/hooks/w12/" SECRET,                      /* short */
        "/v1/hooks/w12/" SECRET "ef",                 /* long */
        "/v1/hooks/w12/" SECRET "e/",                 /* trailing slash */
        "/v1/hooks/w12/" SECRET "=",                  /* padding */
        "/v1/hooks/w12/" SECRET "%",                  /* escapes */
        "/v1/hooks/w0/" SECRET "e",                   /* id 0 */
        "/v1/hooks/w012/" SECRET "e",                 /* leading zero */
        "/v1/hooks/w1234567890123456789/" SECRET "e", /* 19 digits */
        "/v1/hooks/w9999999999999999999/" SECRET "e", /* 19 nines: would overflow (fuzz) */
        "/v1/hooks/w99999999999999999999999/x",       /* many more digits */
        "/v1/hooks/12/" SECRET "e",                   /* no w */
        "/v1/hooks/w/" SECRET "e",                    /* no digits */
        "/v1/hooks/w-1/" SECRET "e",
        "/v1/hook/w1/" SECRET "e",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        id = -7;
        if (pl_hook_path_parse(bad[i], &id, s) != PL_HOOK_NOT_HOOK)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(-7, id);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_true(pl_hook_name_ok("CI"));
    assert_true(pl_hook_name_ok("Déploiement 🚀"));
    assert_false(pl_hook_name_ok(""));
    assert_false(pl_hook_name_ok("   "));
    assert_false(pl_hook_name_ok("a\nb"));
    char big[70];
    memset(big, 'a', 65);
    big[65] = 0;
    assert_false(pl_hook_name_ok(big));
    assert_true(pl_hook_icon_ok(""));
    assert_true(pl_hook_icon_ok("https://x.example/i.png"));
    assert_true(pl_hook_icon_ok("http://x.example/i.png"));
    assert_false(pl_hook_icon_ok("https://"));
    assert_false(pl_hook_icon_ok("javascript:alert(1)"));
    assert_false(pl_hook_icon_ok("data:image/png;base64,AAAA"));
    assert_false(pl_hook_icon_ok("https://x/\"onerror=\""));
    assert_false(pl_hook_icon_ok("https://x/ y"));
}

static pl_hook_err_t parse(const char *body, size_t max, char **out)
{
    pl_hook_ident_t who = {3, "CI", ""};
    char err[256] = "";
    *out = NULL;
    pl_hook_err_t rc = pl_hook_body_parse(body, strlen(body), &who, max, out, err, sizeof err);
    if (rc != PL_HOOK_OK)
        assert_true(strlen(err) > 0);
    return rc;
}

static void test_body(void **state)
{
    (void)state;
    char *c;
    assert_int_equal(PL_HOOK_OK, parse("{\"text\":\"*hi* <b>\",\"channel\":\"#x\"}", 1000, &c));
    assert_string_equal("{\"type\":\"text\",\"body\":\"*hi* <b>\",\"via\":{\"webhook\":\"w3\","
                        "\"name\":\"CI\"}}",
                        c);
    free(c);
    assert_int_equal(PL_HOOK_OK, parse("{\"text\":\"x\",\"username\":\"Bob\",\"icon_url\":"
                                       "\"https://i/x.png\",\"attachments\":[]}",
                                       1000, &c));
    json_t *j = json_loads(c, 0, NULL);
    json_t *via = json_object_get(j, "via");
    assert_string_equal("Bob", json_string_value(json_object_get(via, "username")));
    assert_string_equal("https://i/x.png", json_string_value(json_object_get(via, "icon_url")));
    json_decref(j);
    free(c);
    /* null optional fields are absent ones */
    assert_int_equal(PL_HOOK_OK, parse("{\"text\":\"x\",\"username\":null}", 1000, &c));
    free(c);
    assert_int_equal(PL_HOOK_BAD_JSON, parse("{\"text\":", 1000, &c));
    assert_int_equal(PL_HOOK_BAD_JSON, parse("", 1000, &c));
    assert_int_equal(PL_HOOK_BAD_JSON, parse("{\"text\":\"a\",\"text\":\"b\"}", 1000, &c));
    const char *const bad[] = {"[]",
                               "{}",
                               "{\"text\":\"\"}",
                               "{\"text\":\" \\n\"}",
                               "{\"text\":[\"x\"]}",
                               "{\"text\":\"x\",\"username\":5}",
                               "{\"text\":\"x\",\"username\":\"a\\tb\"}",
                               "{\"text\":\"x\",\"icon_url\":\"ftp://x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (parse(bad[i], 1000, &c) != PL_HOOK_BAD_BODY)
            fail_msg("accepted %s", bad[i]);
        assert_null(c);
    }
    /* the limit applies to the content as stored */
    assert_int_equal(PL_HOOK_TOO_LARGE, parse("{\"text\":\"hello\"}", 40, &c));
    assert_null(c);
    /* a NUL inside the body is not JSON jansson takes */
    pl_hook_ident_t who = {3, "CI", ""};
    char err[64];
    assert_int_equal(PL_HOOK_BAD_JSON, pl_hook_body_parse("{\"text\":\"a\0b\"}", 14, &who, 1000, &c,
                                                          err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
