/* SPDX-License-Identifier: MIT */
/* test_tui_text.c -- the terminal client's pure text modules: UTF-8,
 * display width (wide characters, emoji, combining marks), wrapping, and
 * the composer's line editor (readline keys, history). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineedit.h"
#include "text.h"

static int setup(void **state)
{
    (void)state;
    /* wcwidth needs a UTF-8 locale; C.UTF-8 is always there on Debian. */
    return setlocale(LC_CTYPE, "C.UTF-8") ? 0 : -1;
}

static void test_utf8(void **state)
{
    (void)state;
    wchar_t wc;
    assert_int_equal(1, tui_utf8_decode("a", 1, &wc));
    assert_int_equal('a', wc);
    assert_int_equal(2, tui_utf8_decode("é", 2, &wc));
    assert_int_equal(0xE9, wc);
    assert_int_equal(4, tui_utf8_decode("👍", 4, &wc));
    assert_int_equal(0x1F44D, wc);
    /* Hostile: truncated, overlong, surrogate, stray continuation, > U+10FFFF. */
    const char *bad[] = {"\xF0\x9F\x91", "\xC0\xAF",         "\xED\xA0\x80",
                         "\x80",         "\xF4\x90\x80\x80", "\xFF"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(1, tui_utf8_decode(bad[i], strlen(bad[i]), &wc));
        assert_int_equal(0xFFFD, wc);
    }
    char out[4];
    assert_int_equal(4, tui_utf8_encode(0x1F44D, out));
    assert_memory_equal("👍", out, 4);
    assert_int_equal(0, tui_utf8_encode(0xD800, out));
    assert_int_equal(0, tui_utf8_encode(0x110000, out));
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(5, tui_str_width("hello", 5));
    assert_int_equal(4, tui_str_width("日本", strlen("日本")));
    assert_int_equal(2, tui_str_width("👍", strlen("👍")));
    /* e + combining acute: one column. */
    assert_int_equal(1, tui_str_width("e\xCC\x81", 3));
    /* A ZWJ family: the joiners take no column. */
    const char *fam = "👩\u200d👩\u200d👧";
    assert_int_equal(6, tui_str_width(fam, strlen(fam)));
    /* Control characters are drawn as one '?'. */
    assert_int_equal(3, tui_str_width("a\x01"
                                      "b",
                                      3));
    assert_int_equal(0, tui_wc_width(0xFE0F));
}

/* Wraps s at width and checks every line fits and the text is all there. */
static size_t wrap_check(const char *s, int width, tui_span_t *sp, size_t max)
{
    size_t n = tui_wrap(s, strlen(s), width, sp, max);
    assert_true(n >= 1);
    for (size_t i = 0; i < n && i < max; i++) {
        assert_true(sp[i].cols <= width || sp[i].cols == tui_str_width(s + sp[i].off, sp[i].len));
        assert_int_equal(sp[i].cols, tui_str_width(s + sp[i].off, sp[i].len));
        assert_true(sp[i].off + sp[i].len <= strlen(s));
    }
    return n;
}

static void test_wrap(void **state)
{
    (void)state;
    tui_span_t sp[64];
    assert_int_equal(1, wrap_check("", 10, sp, 64));
    assert_int_equal(1, wrap_check("short", 10, sp, 64));
    /* Breaks at the last space that fits; the space is dropped. */
    assert_int_equal(2, wrap_check("hello brave world", 12, sp, 64));
    assert_int_equal(11, sp[0].len); /* "hello brave" */
    assert_memory_equal("world", &"hello brave world"[sp[1].off], 5);
    /* A word longer than the line is cut. */
    assert_int_equal(3, wrap_check("abcdefghij", 4, sp, 64));
    assert_int_equal(4, sp[0].cols);
    /* Wide characters never straddle the edge: 5 of them in 4 columns. */
    const char *cjk = "日本語日本";
    assert_int_equal(3, wrap_check(cjk, 4, sp, 64));
    assert_int_equal(4, sp[0].cols);
    assert_int_equal(2, sp[2].cols);
    /* Emoji: 2 columns each, width 5 holds 2. */
    const char *emo = "👍👍👍👍👍";
    assert_int_equal(3, wrap_check(emo, 5, sp, 64));
    assert_int_equal(4, sp[0].cols);
    /* A combining mark stays with its letter. */
    const char *comb = "abe\xCC\x81"
                       "cd";
    assert_int_equal(2, wrap_check(comb, 3, sp, 64));
    assert_int_equal(5, sp[0].len); /* "abé" with its mark */
    /* Newlines end lines. */
    assert_int_equal(3, wrap_check("a\nb\nc", 10, sp, 64));
    /* Width 1 and below: still one character per line, no loop. */
    assert_int_equal(3, wrap_check("abc", 0, sp, 64));
    assert_int_equal(2, wrap_check("👍👍", 1, sp, 64));
    /* More lines than spans given: the count is still right. */
    assert_int_equal(10, tui_wrap("aaaaaaaaaa", 10, 1, sp, 2));
    /* A very long message. */
    char *big = malloc(20001);
    for (int i = 0; i < 20000; i++)
        big[i] = i % 7 == 6 ? ' ' : 'x';
    big[20000] = '\0';
    size_t n = tui_wrap(big, 20000, 80, NULL, 0);
    assert_true(n > 250 && n < 300);
    free(big);
}

static char *text_of(tui_line_t *l)
{
    static char buf[1024];
    char *t = tui_line_text(l);
    snprintf(buf, sizeof(buf), "%s", t);
    free(t);
    return buf;
}

static void type(tui_line_t *l, const char *s)
{
    size_t i = 0, len = strlen(s);
    while (i < len) {
        wchar_t wc;
        i += tui_utf8_decode(s + i, len - i, &wc);
        assert_int_equal(TUI_LINE_CHANGED, tui_line_key(l, (int)wc));
    }
}

static void test_line_keys(void **state)
{
    (void)state;
    tui_line_t l;
    tui_line_init(&l);
    /* Every key on a fresh line (no buffer yet): nothing happens (the
     * fuzzer found Ctrl-U computing an offset from its NULL buffer). */
    const int keys[] = {TUI_K_CTRL_U, TUI_K_CTRL_W, TUI_K_CTRL_K, TUI_K_BACKSPACE, TUI_K_DELETE,
                        TUI_K_LEFT,   TUI_K_RIGHT,  TUI_K_UP,     TUI_K_DOWN,      TUI_K_HOME};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        tui_line_key(&l, keys[i]);
    assert_int_equal(0, l.len);
    assert_string_equal("", text_of(&l));
    type(&l, "hello wörld");
    assert_string_equal("hello wörld", text_of(&l));
    tui_line_key(&l, TUI_K_CTRL_A);
    assert_int_equal(0, l.cur);
    tui_line_key(&l, TUI_K_CTRL_E);
    assert_int_equal(11, l.cur);
    assert_int_equal(12, tui_line_cursor_byte(&l));
    tui_line_key(&l, TUI_K_CTRL_W);
    assert_string_equal("hello ", text_of(&l));
    tui_line_key(&l, TUI_K_CTRL_W);
    assert_string_equal("", text_of(&l));
    type(&l, "abc def");
    tui_line_key(&l, TUI_K_LEFT);
    tui_line_key(&l, TUI_K_LEFT);
    tui_line_key(&l, TUI_K_LEFT);
    tui_line_key(&l, TUI_K_CTRL_K);
    assert_string_equal("abc ", text_of(&l));
    tui_line_key(&l, TUI_K_LEFT);
    tui_line_key(&l, TUI_K_CTRL_U);
    assert_string_equal(" ", text_of(&l));
    assert_int_equal(0, l.cur);
    tui_line_key(&l, TUI_K_DELETE);
    assert_string_equal("", text_of(&l));
    /* Keys at the edges do nothing harmful. */
    tui_line_key(&l, TUI_K_BACKSPACE);
    tui_line_key(&l, TUI_K_LEFT);
    tui_line_key(&l, TUI_K_DELETE);
    tui_line_key(&l, TUI_K_CTRL_W);
    assert_int_equal(0, l.len);
    /* Wide characters: cursor column counts cells. */
    type(&l, "日👍");
    assert_int_equal(4, tui_line_cursor_col(&l));
    tui_line_key(&l, TUI_K_BACKSPACE);
    assert_string_equal("日", text_of(&l));
    /* Not characters: ignored. */
    assert_int_equal(TUI_LINE_IGNORED, tui_line_key(&l, 0xD800));
    assert_int_equal(TUI_LINE_IGNORED, tui_line_key(&l, '\t'));
    assert_int_equal(TUI_LINE_IGNORED, tui_line_key(&l, -5));
    assert_int_equal(TUI_LINE_SUBMIT, tui_line_key(&l, TUI_K_ENTER));
    tui_line_dispose(&l);
}

static void test_line_history(void **state)
{
    (void)state;
    tui_line_t l;
    tui_line_init(&l);
    type(&l, "first");
    free(tui_line_take(&l));
    type(&l, "second");
    free(tui_line_take(&l));
    free(tui_line_take(&l)); /* empty: not kept */
    type(&l, "draft");
    tui_line_key(&l, TUI_K_UP);
    assert_string_equal("second", text_of(&l));
    tui_line_key(&l, TUI_K_UP);
    assert_string_equal("first", text_of(&l));
    tui_line_key(&l, TUI_K_UP); /* at the oldest: stays */
    assert_string_equal("first", text_of(&l));
    tui_line_key(&l, TUI_K_DOWN);
    tui_line_key(&l, TUI_K_DOWN);
    assert_string_equal("draft", text_of(&l));
    /* The same line twice is kept once; the cap drops the oldest. */
    tui_line_set(&l, "x", 1);
    free(tui_line_take(&l));
    tui_line_set(&l, "x", 1);
    free(tui_line_take(&l));
    assert_int_equal(3, l.nhist);
    for (int i = 0; i < TUI_HISTORY_MAX + 10; i++) {
        char s[16];
        snprintf(s, sizeof(s), "n%d", i);
        tui_line_set(&l, s, 0);
        free(tui_line_take(&l));
    }
    assert_int_equal(TUI_HISTORY_MAX, l.nhist);
    /* set: the cursor lands on a character boundary. */
    tui_line_set(&l, "aé👍b", 3);
    assert_int_equal(2, l.cur);
    assert_int_equal(3, tui_line_cursor_byte(&l));
    /* Too long: refused, the line unchanged. */
    char *huge = malloc(TUI_LINE_MAX + 2);
    memset(huge, 'a', TUI_LINE_MAX + 1);
    huge[TUI_LINE_MAX + 1] = '\0';
    assert_int_equal(-1, tui_line_set(&l, huge, 0));
    free(huge);
    assert_string_equal("aé👍b", text_of(&l));
    tui_line_dispose(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),         cmocka_unit_test(test_width),
        cmocka_unit_test(test_wrap),         cmocka_unit_test(test_line_keys),
        cmocka_unit_test(test_line_history),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
