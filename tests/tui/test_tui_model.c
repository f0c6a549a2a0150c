/* SPDX-License-Identifier: MIT */
/* test_tui_model.c -- the terminal client's model (rooms, messages once by
 * seq, unread and mention counts, receipts, typing) and the conversation
 * rows built from it (day separators, quotes, reactions, ✓/✓✓). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "text.h"
#include "view.h"

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    return setlocale(LC_CTYPE, "C.UTF-8") ? 0 : -1;
}

static json_t *msg(const char *room, long long seq, const char *sender, const char *body,
                   long long ts)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:{s:s, s:s}}", "ev", "message", "room", room,
                     "seq", (json_int_t)seq, "id", "m", "sender", sender, "ts", (json_int_t)ts,
                     "content", "type", "text", "body", body);
}

static void apply(tui_model_t *m, json_t *ev, int want)
{
    int got = tui_model_apply(m, ev, 1000);
    json_decref(ev);
    assert_int_equal(want, got);
}

static void setup_rooms(tui_model_t *m)
{
    tui_model_init(m, "u1");
    json_t *r1 = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "id", "r1", "kind", "group", "name",
                           "general", "last_seq", 5, "unread", 2, "mentions", 0);
    json_t *r2 = json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}]}", "id", "r2", "kind", "dm",
                           "last_seq", 0, "members", "id", "u1", "username", "me", "id", "u2",
                           "username", "bob");
    assert_non_null(tui_model_room_upsert(m, r1));
    assert_non_null(tui_model_room_upsert(m, r2));
    json_decref(r1);
    json_decref(r2);
}

static void test_rooms(void **state)
{
    (void)state;
    tui_model_t m;
    setup_rooms(&m);
    assert_int_equal(2, m.nrooms);
    assert_string_equal("general", m.rooms[0].name);
    assert_string_equal("bob", m.rooms[1].name); /* a dm is named after the peer */
    assert_string_equal("u2", m.rooms[1].peer_id);
    assert_int_equal(2, m.rooms[0].unread);
    assert_int_equal(1, tui_model_find_room(&m, "@bob"));
    assert_int_equal(0, tui_model_find_room(&m, "#general"));
    assert_int_equal(0, tui_model_find_room(&m, "r1"));
    assert_int_equal(-1, tui_model_find_room(&m, "nope"));
    /* Hostile room objects are refused. */
    json_t *bad = json_pack("{s:i}", "id", 5);
    assert_null(tui_model_room_upsert(&m, bad));
    json_decref(bad);
    assert_null(tui_model_room_upsert(&m, NULL));
    tui_model_dispose(&m);
}

static void test_messages_once(void **state)
{
    (void)state;
    tui_model_t m;
    setup_rooms(&m);
    tui_model_open(&m, 1);
    /* Out of order, twice: held once, in seq order. */
    apply(&m, msg("r1", 7, "u2", "seven", 0), TUI_EV_REDRAW);
    apply(&m, msg("r1", 6, "u2", "six", 0), TUI_EV_REDRAW);
    apply(&m, msg("r1", 7, "u2", "seven again", 0), TUI_EV_REDRAW);
    tui_room_t *r = &m.rooms[0];
    assert_int_equal(2, json_array_size(r->msgs));
    assert_int_equal(6, tui_model_oldest(r));
    assert_int_equal(4, r->unread); /* 2 from the server + 2 new, not 3 */
    /* Unknown room, no seq: ignored. */
    apply(&m, msg("r9", 1, "u2", "x", 0), TUI_EV_NONE);
    json_t *noseq = json_pack("{s:s, s:s}", "ev", "message", "room", "r1");
    apply(&m, noseq, TUI_EV_REDRAW);
    assert_int_equal(2, json_array_size(r->msgs));
    /* The open room: new, no unread. */
    apply(&m, msg("r2", 1, "u2", "hi", 0), TUI_EV_REDRAW | TUI_EV_NEW);
    assert_int_equal(0, m.rooms[1].unread);
    /* Our own message is no unread and no mention. */
    apply(&m, msg("r1", 8, "u1", "mine @me", 0), TUI_EV_REDRAW);
    assert_int_equal(4, r->unread);
    /* A mention. */
    json_t *men = msg("r1", 9, "u2", "hey @me", 0);
    json_object_set_new(men, "mentions", json_pack("[s]", "u1"));
    apply(&m, men, TUI_EV_REDRAW | TUI_EV_MENTION);
    assert_int_equal(1, r->mentions);
    /* Opening the room clears both counts. */
    assert_int_equal(9, tui_model_open(&m, 0));
    assert_int_equal(0, r->unread);
    assert_int_equal(0, r->mentions);
    /* An update replaces a held message; one outside the window is ignored. */
    json_t *up =
        json_pack("{s:s, s:s, s:i, s:{s:s, s:i, s:I, s:s, s:b, s:{s:s}}}", "ev", "update", "room",
                  "r1", "version", 3, "message", "room", "r1", "seq", 6, "ts", (json_int_t)0,
                  "sender", "u2", "deleted", 1, "content", "type", "deleted");
    apply(&m, up, TUI_EV_REDRAW);
    assert_true(json_is_true(json_object_get(tui_model_find(r, 6), "deleted")));
    up = json_pack("{s:s, s:s, s:{s:s, s:i}}", "ev", "update", "room", "r1", "message", "room",
                   "r1", "seq", 2);
    apply(&m, up, TUI_EV_NONE);
    tui_model_dispose(&m);
}

static void test_receipts_typing(void **state)
{
    (void)state;
    tui_model_t m;
    setup_rooms(&m);
    tui_model_open(&m, 1);
    apply(&m,
          json_pack("{s:s, s:s, s:s, s:i}", "ev", "receipt", "room", "r1", "user", "u2", "read_seq",
                    4),
          TUI_EV_REDRAW);
    assert_int_equal(4, m.rooms[0].peer_read);
    apply(&m,
          json_pack("{s:s, s:s, s:s, s:i}", "ev", "receipt", "room", "r1", "user", "u2", "read_seq",
                    2),
          TUI_EV_REDRAW);
    assert_int_equal(4, m.rooms[0].peer_read); /* never back */
    /* Our other device read everything: counts go. */
    apply(&m,
          json_pack("{s:s, s:s, s:s, s:i}", "ev", "receipt", "room", "r1", "user", "u1", "read_seq",
                    5),
          TUI_EV_REDRAW);
    assert_int_equal(0, m.rooms[0].unread);
    apply(&m,
          json_pack("{s:s, s:s, s:s, s:b, s:i}", "ev", "typing", "room", "r1", "user", "u2",
                    "typing", 1, "expires_in_ms", 6000),
          TUI_EV_REDRAW);
    assert_string_equal("u2", m.rooms[0].typing_user);
    assert_int_equal(7000, m.rooms[0].typing_until);
    /* Their message ends their typing. */
    apply(&m, msg("r1", 6, "u2", "done", 0), TUI_EV_REDRAW);
    assert_null(m.rooms[0].typing_user);
    apply(&m, json_pack("{s:s, s:s, s:s}", "ev", "presence", "user", "u2", "status", "online"),
          TUI_EV_REDRAW);
    assert_string_equal("online", json_string_value(json_object_get(m.presence, "u2")));
    apply(&m, json_pack("{s:s}", "ev", "whatever"), TUI_EV_NONE);
    apply(&m, json_pack("{s:i}", "ev", 3), TUI_EV_NONE);
    tui_model_dispose(&m);
}

static bool has_row(const tui_rows_t *rows, const char *needle, tui_row_style_t style)
{
    for (size_t i = 0; i < rows->n; i++)
        if (strstr(rows->rows[i].text, needle) && rows->rows[i].style == style)
            return true;
    return false;
}

static void test_view(void **state)
{
    (void)state;
    tui_model_t m;
    setup_rooms(&m);
    tui_room_t *r = &m.rooms[0];
    const long long day = 86400000LL;
    json_t *a = msg("r1", 1, "u2", "hello", 20000 * day + 3600000);
    json_t *b = msg("r1", 2, "u1", "mine", 20000 * day + 7200000);
    json_t *c =
        msg("r1", 3, "u2", "next day 日本語 👍👍 and a long tail of words to wrap", 20001 * day);
    json_object_set_new(c, "reply_to",
                        json_pack("{s:i, s:s, s:s}", "seq", 1, "sender", "u2", "preview", "hello"));
    json_object_set_new(c, "reactions", json_pack("[{s:s, s:i}]", "emoji", "👍", "count", 2));
    json_object_set_new(c, "thread_count", json_integer(3));
    json_object_set_new(c, "edited_ts", json_integer(1));
    json_t *d = msg("r1", 4, "u2", "in a thread", 20001 * day);
    json_object_set_new(d, "thread_root", json_integer(3));
    json_t *e =
        json_pack("{s:s, s:i, s:s, s:I, s:b, s:{s:s}}", "room", "r1", "seq", 5, "sender", "u2",
                  "ts", (json_int_t)(20001 * day), "deleted", 1, "content", "type", "deleted");
    json_t *all[] = {a, b, c, d, e};
    for (int i = 0; i < 5; i++) {
        tui_model_insert(r, all[i]);
        json_decref(all[i]);
    }
    tui_rows_t rows = {0};
    assert_int_equal(0, tui_view_build(&rows, &m, r->msgs, 40, 0, 1));
    assert_true(has_row(&rows, "── Friday 4 October 2024 ──", TUI_ROW_DAY));
    assert_true(has_row(&rows, "── Saturday 5 October 2024 ──", TUI_ROW_DAY));
    assert_true(has_row(&rows, "[1] 01:00 bob: hello", TUI_ROW_TEXT));
    assert_true(has_row(&rows, "mine ✓", TUI_ROW_TEXT));
    assert_false(has_row(&rows, "mine ✓✓", TUI_ROW_TEXT));
    assert_true(has_row(&rows, "↪ bob: hello", TUI_ROW_QUOTE));
    assert_true(has_row(&rows, "👍 2  🧵 3 replies", TUI_ROW_META));
    assert_true(has_row(&rows, "(edited)", TUI_ROW_TEXT));
    assert_true(has_row(&rows, "[deleted]", TUI_ROW_DELETED));
    assert_false(has_row(&rows, "in a thread", TUI_ROW_TEXT)); /* thread view only */
    /* Every row fits the width; the name span points at the name. */
    for (size_t i = 0; i < rows.n; i++) {
        const tui_row_t *row = &rows.rows[i];
        assert_true(tui_str_width(row->text, strlen(row->text)) <= 40);
        if (row->name_len)
            assert_true(
                strncmp(row->text + row->name_off, row->mine ? "me" : "bob", row->name_len) == 0);
    }
    /* Read by the peer: ✓✓. The thread view shows the replies. */
    tui_rows_clear(&rows);
    tui_view_build(&rows, &m, r->msgs, 40, 3, 2);
    assert_true(has_row(&rows, "mine ✓✓", TUI_ROW_TEXT));
    assert_true(has_row(&rows, "in a thread", TUI_ROW_TEXT));
    /* Tiny widths never overflow or loop. */
    for (int w = 1; w < 12; w++) {
        tui_rows_clear(&rows);
        assert_int_equal(0, tui_view_build(&rows, &m, r->msgs, w, 0, 0));
        for (size_t i = 0; i < rows.n; i++)
            assert_true(tui_str_width(rows.rows[i].text, strlen(rows.rows[i].text)) <=
                        (w < 2 ? 2 : w));
    }
    tui_rows_free(&rows);
    tui_model_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms),
        cmocka_unit_test(test_messages_once),
        cmocka_unit_test(test_receipts_typing),
        cmocka_unit_test(test_view),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
