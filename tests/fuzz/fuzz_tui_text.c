/* SPDX-License-Identifier: MIT */
/* fuzz_tui_text.c -- libFuzzer target for the terminal client's pure input
 * paths (issue 20): the slash-command parser (client/tui/command.c), the
 * line wrapper (text.c), Tab completion and :shortcode: expansion
 * (complete.c), the line editor fed the bytes as keys (lineedit.c), and
 * the same bytes as a server event or room object applied to the model and
 * laid out as rows (model.c, view.c).
 * Input: byte 0 is the wrap width and the completion press count; the rest
 * is one composer line (and, when it parses, one JSON event). */
#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "complete.h"
#include "lineedit.h"
#include "model.h"
#include "text.h"
#include "view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        setlocale(LC_CTYPE, "C.UTF-8");
        init = 1;
    }
    if (size < 1)
        return 0;
    int width = data[0] % 90;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    tui_cmd_t cmd;
    const char *usage;
    if (tui_cmd_parse(s, len, &cmd, &usage) == 0) {
        /* Slices stay inside the input. */
        if (cmd.arg.len && (cmd.arg.p < s || cmd.arg.p + cmd.arg.len > s + len))
            abort();
        if (cmd.text.len && (cmd.text.p < s || cmd.text.p + cmd.text.len > s + len))
            abort();
    }

    tui_span_t sp[64];
    size_t n = tui_wrap(s, len, width, sp, 64);
    int w = width < 1 ? 1 : width;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (sp[i].off + sp[i].len > len)
            abort();
        /* A line is over the width only when one character is wider. */
        if (sp[i].cols > w && sp[i].cols > 2)
            abort();
    }

    char *z = malloc(len + 1);
    if (z == NULL)
        return 0;
    memcpy(z, s, len);
    z[len] = '\0';
    static const char *const nicks[] = {"alice", "bob", "日本"};
    static const char *const rooms[] = {"general", "👍room"};
    tui_complete_src_t src = {nicks, 3, rooms, 2};
    size_t cur;
    size_t zlen = strlen(z);
    char *c = tui_complete(z, (size_t)data[0] % (zlen + 1), &src, data[0] >> 4, &cur);
    if (c && cur > strlen(c))
        abort();
    free(c);
    free(tui_expand_shortcodes(z));

    /* The bytes as keys, then the line's text and history. */
    tui_line_t l;
    tui_line_init(&l);
    for (size_t i = 0; i < len; i++) {
        int key = (unsigned char)s[i];
        if (key == 0xF0 && i + 1 < len)
            key = TUI_K_LEFT + s[++i] % 7;
        if (tui_line_key(&l, key) == TUI_LINE_SUBMIT)
            free(tui_line_take(&l));
        if (l.cur > l.len)
            abort();
    }
    tui_line_set(&l, z, (size_t)data[0]);
    free(tui_line_text(&l));
    tui_line_dispose(&l);
    free(z);

    /* The bytes as what the server sends: an event, a room, a message. */
    json_t *ev = json_loadb(s, len, 0, NULL);
    if (ev) {
        tui_model_t m;
        tui_model_init(&m, "u1");
        json_t *room = json_pack("{s:s, s:s, s:s}", "id", "r1", "kind", "group", "name", "g");
        tui_model_room_upsert(&m, room);
        json_decref(room);
        tui_model_room_upsert(&m, ev);
        tui_model_apply(&m, ev, 0);
        tui_model_apply(&m, json_object_get(ev, "event"), 0);
        tui_model_insert(&m.rooms[0], ev);
        tui_rows_t rows = {0};
        for (size_t i = 0; i < m.nrooms; i++)
            tui_view_build(&rows, &m, m.rooms[i].msgs, width, 0, 0);
        for (size_t i = 0; i < rows.n; i++)
            if (tui_str_width(rows.rows[i].text, strlen(rows.rows[i].text)) > (w < 2 ? 2 : w))
                abort();
        tui_rows_free(&rows);
        tui_model_dispose(&m);
        json_decref(ev);
    }
    return 0;
}
