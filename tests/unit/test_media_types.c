/* SPDX-License-Identifier: MIT */
/* test_media_types.c -- which sniffed types are served inline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "media/media.h"

static void served(const char *mime, const char *want, bool want_att)
{
    bool att = !want_att;
    assert_string_equal(pl_media_served_type(mime, &att), want);
    assert_int_equal(att, want_att);
}

static void test_served_types(void **state)
{
    (void)state;
    served("image/png", "image/png", false);
    served("image/jpeg", "image/jpeg", false);
    served("image/gif", "image/gif", false);
    served("audio/ogg", "audio/ogg", false);
    served("video/mp4", "video/mp4", false);
    served("text/html", "application/octet-stream", true);
    served("image/svg+xml", "application/octet-stream", true);
    served("text/xml", "application/octet-stream", true);
    served("application/xml", "application/octet-stream", true);
    served("application/xhtml+xml", "application/octet-stream", true);
    served("application/javascript", "application/octet-stream", true);
    served("text/javascript", "application/octet-stream", true);
    served("text/plain", "text/plain; charset=utf-8", true);
    served("application/zip", "application/zip", true);
    served("weird\r\nX-Injected: 1", "application/octet-stream", true);
    assert_true(pl_media_is_image("image/webp"));
    assert_false(pl_media_is_image("image/svg+xml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_served_types)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
