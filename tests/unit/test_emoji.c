/* SPDX-License-Identifier: MIT */
/* test_emoji.c -- the pure text checks: single-emoji validation and
 * @mention parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "chat/emoji.h"

static bool one(const char *s)
{
    return pl_emoji_is_single(s, strlen(s));
}

static void test_emoji_accepts(void **state)
{
    (void)state;
    const char *ok[] = {
        "\xF0\x9F\x91\x8D",                 /* thumbs up */
        "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", /* + skin tone */
        "\xE2\x9D\xA4\xEF\xB8\x8F",         /* heart + FE0F */
        "\xE2\x9D\xA4",                     /* heart, text default */
        "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7", /* flag FR */
        "1\xEF\xB8\x8F\xE2\x83\xA3",        /* keycap 1 */
        "#\xE2\x83\xA3",                    /* keycap # without FE0F */
        "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", /* family */
        "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88", /* rainbow flag */
        /* England: black flag + tags g b e n g + cancel tag */
        ("\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xA5\xF3\xA0\x81\xAE"
         "\xF3\xA0\x81\xA7\xF3\xA0\x81\xBF"),
        "\xF0\x9F\x98\x82", /* joy */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!one(ok[i]))
            fail_msg("rejected emoji #%zu", i);
}

static void test_emoji_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "a",
        "ok",
        ":)",
        "1",
        "#",
        "\xF0\x9F\x91\x8D\xF0\x9F\x91\x8D",                 /* two emoji */
        "\xF0\x9F\x91\x8D ",                                /* trailing space */
        "\xEF\xB8\x8F",                                     /* lone FE0F */
        "\xE2\x80\x8D",                                     /* lone ZWJ */
        "\xF0\x9F\x91\xA8\xE2\x80\x8D",                     /* dangling ZWJ */
        "\xF0\x9F\x87\xAB",                                 /* lone regional indicator */
        "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB", /* three RIs */
        "\xF0\x9F\x8F\xBD",                                 /* lone skin tone */
        "\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7",                 /* tags without cancel */
        "\xF0\x9F\x91",                                     /* truncated UTF-8 */
        "\xC0\xAF",                                         /* overlong */
        "\xED\xA0\x80",                                     /* surrogate */
        "a\xE2\x83\xA3",                                    /* keycap on a letter */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (one(bad[i]))
            fail_msg("accepted non-emoji #%zu", i);
    /* Over 32 bytes: nine thumbs joined by ZWJ. */
    char big[128] = "";
    for (int i = 0; i < 9; i++)
        strcat(big, i ? "\xE2\x80\x8D\xF0\x9F\x91\x8D" : "\xF0\x9F\x91\x8D");
    assert_false(one(big));
    assert_false(pl_emoji_is_single(NULL, 0));
    assert_false(pl_emoji_is_single("\xF0\x9F\x91\x8D\0", 5)); /* embedded NUL */
}

static void test_mentions(void **state)
{
    (void)state;
    pl_mentions_t m;
    const char *t = "hi @Bob and @alice.smith, mail a@b.com; @bob again @room @x. @";
    pl_mentions_parse(t, strlen(t), &m);
    assert_int_equal(3, m.n);
    assert_string_equal("bob", m.names[0]);
    assert_string_equal("alice.smith", m.names[1]);
    assert_string_equal("x", m.names[2]);
    assert_true(m.room);

    t = "@abcdefghijabcdefghijabcdefghijabc too long, @@double, (@paren)";
    pl_mentions_parse(t, strlen(t), &m);
    assert_int_equal(1, m.n);
    assert_string_equal("paren", m.names[0]);
    assert_false(m.room);

    pl_mentions_parse("", 0, &m);
    assert_int_equal(0, m.n);
    /* Cap: at most PL_MENTIONS_MAX names. */
    char many[2048] = "";
    for (int i = 0; i < 40; i++) {
        char w[16];
        snprintf(w, sizeof w, "@u%d ", i);
        strcat(many, w);
    }
    pl_mentions_parse(many, strlen(many), &m);
    assert_int_equal(PL_MENTIONS_MAX, m.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emoji_accepts),
        cmocka_unit_test(test_emoji_rejects),
        cmocka_unit_test(test_mentions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
