/* SPDX-License-Identifier: MIT */
/* test_config.c -- the config table: defaults, parsing, bounds, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"

static void test_defaults_valid(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    assert_string_equal("127.0.0.1:8080", c.listen);
    assert_int_equal(1 << 20, c.max_ws_message);
    assert_int_equal(65536, c.max_content_bytes);
    assert_false(c.ws_echo);
    assert_int_equal(0, pl_config_validate(&c, err, sizeof err));
    pl_config_dispose(&c);
}

static void test_parse_file(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    const char *text = "# comment\n\n  listen 0.0.0.0:9000  \nmax_ws_message = 2m\n"
                       "ws_echo yes\r\nlog_level debug\nmax_write_queue 512k\n";
    assert_int_equal(0, pl_config_parse(&c, text, strlen(text), "t.conf", err, sizeof err));
    assert_string_equal("0.0.0.0:9000", c.listen);
    assert_int_equal(2 << 20, c.max_ws_message);
    assert_int_equal(512 << 10, c.max_write_queue);
    assert_true(c.ws_echo);
    assert_string_equal("debug", c.log_level);
    pl_config_dispose(&c);
}

static void expect_error(const char *text, const char *needle)
{
    pl_config_t c;
    char err[256] = "";
    pl_config_init(&c);
    assert_int_equal(PL_EINVAL, pl_config_parse(&c, text, strlen(text), "x.conf", err, sizeof err));
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, needle);
    pl_config_dispose(&c);
}

static void test_errors_name_key_and_line(void **state)
{
    (void)state;
    expect_error("listen 1.2.3.4:5\nbogus_key 1\n", "x.conf:2: unknown config key 'bogus_key'");
    expect_error("max_ws_message lots\n", "'max_ws_message'");
    expect_error("max_ws_message 1\n", "out of range");
    expect_error("max_ws_message 99999999999999999999\n", "'max_ws_message'");
    expect_error("ws_echo maybe\n", "boolean");
    expect_error("log_level loud\n", "log_level");
    expect_error("listen\n", "x.conf:1: expected 'key value'");
    expect_error("max_connections 5k\n", "integer");
    expect_error("max_ws_message 9223372036854775807g\n", "max_ws_message");
}

/* ws_allowed_origins holds origins as browsers send them, nothing else. */
static void test_origin_list(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    assert_string_equal("", c.ws_allowed_origins);
    assert_int_equal(0, pl_config_set(&c, "ws_allowed_origins",
                                      "https://chat.example.com, http://localhost:8080 "
                                      "http://[::1]:80 https://10.0.0.1",
                                      err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "ws_allowed_origins", "", err, sizeof err));
    static const char *const bad[] = {
        "chat.example.com", "https://chat.example.com/", "ftp://x", "https://",
        "https://a:",       "https://a:123456",          "null",    "https://[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(PL_EINVAL,
                         pl_config_set(&c, "ws_allowed_origins", bad[i], err, sizeof err));
        assert_non_null(strstr(err, "ws_allowed_origins"));
    }
    pl_config_dispose(&c);
}

static void test_validate(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    assert_int_equal(0, pl_config_set(&c, "listen", "nonsense", err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "listen"));
    assert_int_equal(0, pl_config_set(&c, "listen", "[::1]:0", err, sizeof err));
    assert_int_equal(0, pl_config_validate(&c, err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "ws_idle_timeout_ms", "1000", err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "ws_ping_interval_ms", "5000", err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_config_validate(&c, err, sizeof err));
    pl_config_dispose(&c);
}

/* Retention: 0 (off) or at least a second; 1..999 ms would delete messages
 * as they are sent, so it is refused rather than taken literally. */
static void test_message_retention(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    static const struct {
        const char *v;
        int rc;
    } cases[] = {{"0", 0}, {"1", PL_EINVAL}, {"999", PL_EINVAL}, {"1000", 0}, {"86400000", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_config_init(&c);
        assert_int_equal(0, pl_config_set(&c, "message_retention_ms", cases[i].v, err, sizeof err));
        err[0] = '\0';
        assert_int_equal(cases[i].rc, pl_config_validate(&c, err, sizeof err));
        if (cases[i].rc != 0)
            assert_non_null(strstr(err, "message_retention_ms"));
        pl_config_dispose(&c);
    }
    pl_config_init(&c);
    assert_int_not_equal(0, pl_config_set(&c, "message_retention_ms", "-1", err, sizeof err));
    pl_config_dispose(&c);
}

/* Passkeys: the rpId is a host name (never an IP or with a port), and every
 * origin is on it or a subdomain of it. */
static void test_webauthn_keys(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    assert_string_equal("localhost", c.webauthn_rp_id);
    static const char *const bad_rp[] = {"127.0.0.1",  "localhost:8080", "https://example.com",
                                         "",           "example..com",   ".example.com",
                                         "Example.com"};
    for (size_t i = 0; i < sizeof bad_rp / sizeof bad_rp[0]; i++)
        assert_int_equal(PL_EINVAL,
                         pl_config_set(&c, "webauthn_rp_id", bad_rp[i], err, sizeof err));
    assert_int_equal(PL_EINVAL,
                     pl_config_set(&c, "webauthn_origins", "localhost", err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "webauthn_rp_id", "example.com", err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "webauthn_origins",
                                      "https://example.com, https://chat.example.com:8443", err,
                                      sizeof err));
    assert_int_equal(0, pl_config_validate(&c, err, sizeof err));
    assert_int_equal(
        0, pl_config_set(&c, "webauthn_origins", "https://badexample.com", err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "webauthn_origins"));
    pl_config_dispose(&c);
}

static void test_split_listen(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(0, pl_config_split_listen("127.0.0.1:8080", host, &port));
    assert_string_equal("127.0.0.1", host);
    assert_int_equal(8080, port);
    assert_int_equal(0, pl_config_split_listen("[::1]:80", host, &port));
    assert_string_equal("::1", host);
    assert_true(pl_config_split_listen("host:70000", host, &port) < 0);
    assert_true(pl_config_split_listen(":80", host, &port) < 0);
    assert_true(pl_config_split_listen("noport", host, &port) < 0);
    assert_true(pl_config_split_listen("[::1:80", host, &port) < 0);
}

static void test_env(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    setenv("PARLEYD_MAX_CONTENT_BYTES", "1000", 1);
    assert_int_equal(0, pl_config_load_env(&c, err, sizeof err));
    assert_int_equal(1000, c.max_content_bytes);
    setenv("PARLEYD_MAX_CONTENT_BYTES", "-5", 1);
    assert_int_equal(PL_EINVAL, pl_config_load_env(&c, err, sizeof err));
    assert_non_null(strstr(err, "PARLEYD_MAX_CONTENT_BYTES"));
    unsetenv("PARLEYD_MAX_CONTENT_BYTES");
    pl_config_dispose(&c);
}

/* The account-limit, stats and media-decoding keys (API hardening). */
static void test_api_keys(void **state)
{
    (void)state;
    pl_config_t c;
    char err[256];
    pl_config_init(&c);
    assert_int_equal(20, c.register_per_ip_hour);
    assert_string_equal("127.0.0.0/8 ::1", c.stats_allow);
    assert_string_equal("", c.stats_token);
    assert_int_equal(1, c.media_decode_threads);
    assert_int_equal(128 << 20, c.max_image_decode_bytes);
    assert_int_equal(PL_EINVAL, pl_config_set(&c, "stats_allow", "10.0.0.0/33", err, sizeof err));
    assert_non_null(strstr(err, "stats_allow"));
    assert_int_equal(PL_EINVAL, pl_config_set(&c, "media_decode_threads", "0", err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "stats_token", "short", err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "stats_token"));
    assert_int_equal(0, pl_config_set(&c, "stats_token", "0123456789abcdef", err, sizeof err));
    assert_int_equal(0, pl_config_validate(&c, err, sizeof err));
    pl_config_dispose(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_errors_name_key_and_line),
        cmocka_unit_test(test_origin_list),
        cmocka_unit_test(test_webauthn_keys),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_message_retention),
        cmocka_unit_test(test_split_listen),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_api_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
