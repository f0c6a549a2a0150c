/* SPDX-License-Identifier: MIT */
/* test_media_types.c -- which sniffed types are served inline; the payload
 * check of the collector's blob-deletion jobs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"

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

/* The decode budget's estimate (bytes) for what test_hostile_api uploads and
 * for ordinary photos; measured peaks are in the comments. */
static void test_decode_cost(void **state)
{
    (void)state;
    const uint64_t MiB = 1024 * 1024, budget = 128 * MiB; /* max_image_decode_bytes */
    /* 7000 x 7000 16-bit RGBA PNG: measured 44 MiB. */
    uint64_t bomb = pl_media_decode_cost("image/png", 7000, 7000, 4, 2, 320, false);
    assert_true(bomb > 44 * MiB && bomb < budget);
    /* 50000 x 1000 16-bit RGBA PNG: measured 200 MiB even in 8 bits. */
    assert_true(pl_media_decode_cost("image/png", 50000, 1000, 4, 2, 320, false) > budget);
    /* 7000 x 7000 GIF: measured 222 MiB (the whole frame). */
    assert_true(pl_media_decode_cost("image/gif", 7000, 7000, 4, 1, 320, false) > 222 * MiB);
    /* Photos fit: an 8000 x 6000 JPEG (shrunk on load: 6 MiB), a 4000 x 3000
     * WebP with alpha (44 MiB), a 4000 x 3000 RGBA PNG (19 MiB). */
    assert_true(pl_media_decode_cost("image/jpeg", 8000, 6000, 3, 1, 320, false) < 32 * MiB);
    assert_true(pl_media_decode_cost("image/jpeg", 8000, 6000, 3, 1, 1280, false) < budget);
    assert_true(pl_media_decode_cost("image/webp", 4000, 3000, 4, 1, 320, false) > 44 * MiB);
    assert_true(pl_media_decode_cost("image/webp", 4000, 3000, 4, 1, 320, false) < budget);
    assert_true(pl_media_decode_cost("image/png", 4000, 3000, 4, 1, 256, true) < budget);
    /* Nonsense and overflow. */
    assert_true(pl_media_decode_cost("image/png", 0, 5, 3, 1, 320, false) == UINT64_MAX);
    assert_true(pl_media_decode_cost("image/gif", INT64_MAX / 2, INT64_MAX / 2, 4, 8, 320, false) ==
                UINT64_MAX);
}

static int gc_sha(const char *payload, char out[65])
{
    return pl_media_gc_payload_sha(payload, strlen(payload), out);
}

/* A deletion job's payload comes back from the store: only a JSON object
 * naming 64 lowercase hex digits names a blob (anything else would become
 * an object key or a path). */
static void test_gc_payload(void **state)
{
    (void)state;
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char json[128], out[65] = "";
    snprintf(json, sizeof json, "{\"sha256\":\"%s\"}", hex);
    assert_int_equal(0, gc_sha(json, out));
    assert_string_equal(hex, out);
    static const char *const bad[] = {
        "",
        "{}",
        "[]",
        "null",
        "{\"sha256\":null}",
        "{\"sha256\":12}",
        "{\"sha256\":\"\"}",
        "{\"sha256\":\"../../etc/passwd\"}",
        "{\"sha256\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}",
        "{\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"}",
        "{\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\"}",
        "{\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/\"}",
        "{\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\\u0000f\"}",
        "{\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        ("{\"sha256\":\"a\",\"sha256\":"
         "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 'x', sizeof out);
        assert_int_equal(PL_EINVAL, gc_sha(bad[i], out));
        assert_int_equal('x', out[0]); /* untouched */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_served_types),
                                       cmocka_unit_test(test_decode_cost),
                                       cmocka_unit_test(test_gc_payload)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
