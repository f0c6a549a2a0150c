/* SPDX-License-Identifier: MIT */
/* test_config_s3.c -- the media-on-S3 config keys: defaults, validation,
 * secrets kept out of --config-test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static int set_all(pl_config_t *c, const char *const *kv)
{
    char err[256];
    for (size_t i = 0; kv[i]; i += 2)
        if (pl_config_set(c, kv[i], kv[i + 1], err, sizeof err) < 0)
            return -1;
    return pl_config_validate(c, err, sizeof err);
}

static void test_defaults_and_valid(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    assert_string_equal(c.media_store, "local");
    assert_true(c.s3_path_style);
    assert_int_equal(c.s3_part_size, 8 << 20);
    static const char *const ok[] = {"media_store",
                                     "s3",
                                     "s3_endpoint",
                                     "http://127.0.0.1:9000",
                                     "s3_bucket",
                                     "parley-media",
                                     "s3_access_key",
                                     "AK",
                                     "s3_secret_key",
                                     "SK",
                                     NULL};
    assert_int_equal(0, set_all(&c, ok));
    pl_config_dispose(&c);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const cases[][16] = {
        {"media_store", "ftp", NULL},
        {"media_store", "s3", "s3_endpoint", "127.0.0.1:9000", "s3_bucket", "abc", "s3_access_key",
         "a", "s3_secret_key", "b", NULL},
        {"media_store", "s3", "s3_endpoint", "http://x", "s3_bucket", "ab", "s3_access_key", "a",
         "s3_secret_key", "b", NULL},
        {"media_store", "s3", "s3_endpoint", "http://x", "s3_bucket", "a/../b", "s3_access_key",
         "a", "s3_secret_key", "b", NULL},
        {"media_store", "s3", "s3_endpoint", "http://x", "s3_bucket", "Upper", "s3_access_key", "a",
         "s3_secret_key", "b", NULL},
        {"media_store", "s3", "s3_endpoint", "http://x", "s3_bucket", "abc", "s3_secret_key", "b",
         NULL},
        {"media_store", "s3", "s3_endpoint", "http://x", "s3_bucket", "abc", "s3_access_key", "a",
         "s3_secret_key", "b", "s3_region", "us east", NULL},
        {"s3_part_size", "1m", NULL}, /* S3's minimum part is 5 MiB */
        {"s3_retries", "11", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_config_t c;
        pl_config_init(&c);
        assert_int_not_equal(0, set_all(&c, cases[i]));
        pl_config_dispose(&c);
    }
}

static void test_secrets_not_printed(void **state)
{
    (void)state;
    pl_config_t c;
    pl_config_init(&c);
    char err[256];
    assert_int_equal(0, pl_config_set(&c, "s3_secret_key", "very-secret-value", err, sizeof err));
    assert_int_equal(0, pl_config_set(&c, "s3_access_key", "AKIDSECRETISH", err, sizeof err));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pl_config_print(&c, f);
    fclose(f);
    assert_null(strstr(text, "very-secret-value"));
    assert_null(strstr(text, "AKIDSECRETISH"));
    assert_non_null(strstr(text, "s3_bucket"));
    free(text);
    pl_config_dispose(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_secrets_not_printed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
