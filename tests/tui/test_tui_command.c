/* SPDX-License-Identifier: MIT */
/* test_tui_command.c -- the terminal client's slash-command parser and Tab
 * completion, with hostile lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "complete.h"

static int parse(const char *s, tui_cmd_t *c)
{
    return tui_cmd_parse(s, strlen(s), c, NULL);
}

static void assert_slice(const char *want, tui_slice_t s)
{
    assert_int_equal(strlen(want), s.len);
    assert_memory_equal(want, s.p, s.len);
}

static void test_commands(void **state)
{
    (void)state;
    tui_cmd_t c;
    assert_int_equal(0, parse("hello there", &c));
    assert_int_equal(TUI_CMD_SAY, c.kind);
    assert_slice("hello there", c.text);
    assert_int_equal(0, parse("//not a command", &c));
    assert_int_equal(TUI_CMD_SAY, c.kind);
    assert_slice("/not a command", c.text);
    assert_int_equal(0, parse("   ", &c));
    assert_int_equal(TUI_CMD_NONE, c.kind);
    assert_int_equal(0, parse("/join general", &c));
    assert_int_equal(TUI_CMD_JOIN, c.kind);
    assert_slice("general", c.arg);
    assert_int_equal(0, parse("/dm @bob", &c));
    assert_slice("@bob", c.arg);
    assert_int_equal(0, parse("/group team alice bob", &c));
    assert_int_equal(TUI_CMD_GROUP, c.kind);
    assert_slice("team", c.arg);
    assert_slice("alice bob", c.text);
    assert_int_equal(0, parse("/me waves", &c));
    assert_slice("waves", c.text);
    assert_int_equal(0, parse("/react 12 👍", &c));
    assert_int_equal(TUI_CMD_REACT, c.kind);
    assert_int_equal(12, c.seq);
    assert_slice("👍", c.arg);
    assert_int_equal(0, parse("/edit 3   fixed  text ", &c));
    assert_int_equal(3, c.seq);
    assert_slice("fixed  text", c.text);
    assert_int_equal(0, parse("/delete 9", &c));
    assert_int_equal(TUI_CMD_DELETE, c.kind);
    assert_int_equal(0, parse("/reply 4 sure", &c));
    assert_int_equal(TUI_CMD_REPLY, c.kind);
    assert_int_equal(0, parse("/thread 4", &c));
    assert_int_equal(0, c.text.len);
    assert_int_equal(0, parse("/thread 4 in the thread", &c));
    assert_slice("in the thread", c.text);
    assert_int_equal(0, parse("/search lunch friday", &c));
    assert_slice("lunch friday", c.text);
    assert_int_equal(0, parse("/upload my file.txt", &c));
    assert_slice("my file.txt", c.text);
    assert_int_equal(0, parse("/download f5", &c));
    assert_slice("f5", c.arg);
    assert_int_equal(0, c.text.len);
    assert_int_equal(0, parse("/download f5 out.bin", &c));
    assert_slice("out.bin", c.text);
    assert_int_equal(0, parse("/quit", &c));
    assert_int_equal(TUI_CMD_QUIT, c.kind);
}

static void test_command_errors(void **state)
{
    (void)state;
    tui_cmd_t c;
    const char *usage = NULL;
    assert_int_equal(TUI_CMD_EUNKNOWN, tui_cmd_parse("/frobnicate", 11, &c, &usage));
    assert_non_null(usage);
    const char *bad[] = {
        "/join",      "/join a b",
        "/dm",        "/group team",
        "/me",        "/react x 👍",
        "/react 0 👍", "/react -1 👍",
        "/react 5",   "/react 5 a b",
        "/edit 5",    "/edit abc def",
        "/delete",    "/delete 5 x",
        "/reply 5",   "/thread",
        "/thread 1x", "/search   ",
        "/upload",    "/download",
        "/quit now",  "/react 9999999999999999 x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        usage = NULL;
        int rc = tui_cmd_parse(bad[i], strlen(bad[i]), &c, &usage);
        if (rc != TUI_CMD_EUSAGE)
            fail_msg("%s: rc %d", bad[i], rc);
        assert_non_null(usage);
        assert_int_equal(0, c.seq);
    }
    /* Case matters, as in irssi: "/JOIN" is unknown. */
    assert_int_equal(TUI_CMD_EUNKNOWN, parse("/JOIN x", &c));
    /* An embedded NUL ends the line. */
    assert_int_equal(0, tui_cmd_parse("/quit\0garbage", 13, &c, NULL));
    assert_int_equal(TUI_CMD_QUIT, c.kind);
    /* Slices stay inside the line. */
    const char *s = "/edit 7 x";
    assert_int_equal(0, tui_cmd_parse(s, 9, &c, NULL));
    assert_true(c.text.p >= s && c.text.p + c.text.len <= s + 9);
}

static char *complete(const char *line, unsigned nth)
{
    static const char *const nicks[] = {"alice", "albert", "bob"};
    static const char *const rooms[] = {"general", "games"};
    tui_complete_src_t src = {nicks, 3, rooms, 2};
    size_t cur = 0;
    char *out = tui_complete(line, strlen(line), &src, nth, &cur);
    if (out)
        assert_int_equal(strlen(out), cur);
    return out;
}

static void expect(const char *line, unsigned nth, const char *want)
{
    char *got = complete(line, nth);
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(want, got);
    free(got);
}

static void test_complete(void **state)
{
    (void)state;
    expect("/jo", 0, "/join ");
    expect("/d", 0, "/dm ");
    expect("/d", 1, "/delete ");
    expect("/d", 2, "/download ");
    expect("/d", 3, "/dm "); /* cycles */
    expect("/join ge", 0, "/join general ");
    expect("/join ga", 0, "/join games ");
    expect("al", 0, "alice: ");
    expect("al", 1, "albert: ");
    expect("hi @b", 0, "hi @bob ");
    expect("hi Bo", 0, "hi bob ");
    expect("go to #gen", 0, "go to #general ");
    expect("nice :thumbsu", 0, "nice 👍 ");
    expect(":tad", 0, "🎉 ");
    expect("zz", 0, NULL);
    expect("", 0, NULL);
    expect("hi ", 0, NULL);
    expect(":nosuchcode", 0, NULL);
    /* The cursor in the middle: the rest of the line stays. */
    static const char *const nicks[] = {"alice"};
    tui_complete_src_t src = {nicks, 1, NULL, 0};
    size_t cur;
    char *out = tui_complete("hi al, ok", 5, &src, 0, &cur);
    assert_string_equal("hi alice , ok", out);
    assert_int_equal(9, cur);
    free(out);
}

static void test_shortcodes(void **state)
{
    (void)state;
    char *s = tui_expand_shortcodes("ok :thumbsup: :nope: :tada::fire:");
    assert_string_equal("ok 👍 :nope: 🎉🔥", s);
    free(s);
    s = tui_expand_shortcodes(":::x:::");
    assert_string_equal("::❌::", s);
    free(s);
    assert_null(tui_shortcode("thumbsup", 5));
    assert_string_equal("👍", tui_shortcode("+1", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_command_errors),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_shortcodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
