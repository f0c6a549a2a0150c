/* SPDX-License-Identifier: MIT */
/* app_cmd.c -- the composer's commands as requests: messages, replies,
 * threads, reactions, edits, rooms, search, and uploads and downloads on
 * the thread pool (parley_upload and parley_download block). */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../cli/cli.h"
#include "command.h"
#include "complete.h"

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void open_view(tui_app_t *a, const char *title, json_t *msgs, const char *room,
                      long long thread)
{
    tui_app_close_view(a);
    a->view_title = strdup(title);
    a->view_msgs = json_incref(msgs);
    a->view_room = room ? strdup(room) : NULL;
    a->view_thread = thread;
    a->scroll = 0;
}

/* ---- commands ---- */

static void new_client_id(char cid[40])
{
    unsigned char r[12];
    randombytes_buf(r, sizeof(r));
    strcpy(cid, "tui-");
    sodium_bin2hex(cid + 4, 40 - 4, r, sizeof(r));
}

static void on_message_reply(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (!tui_app__reply_ok(a, reply, "send")) {
        tui_screen_draw(a);
        return;
    }
    /* The message event comes too; the reply alone may arrive first. */
    json_t *m = json_object_get(reply, "message");
    tui_room_t *r = tui_model_room(&a->model, str_of(m, "room"));
    if (r && json_is_object(m)) {
        if (tui_model_find(r, int_of(m, "seq")) || int_of(m, "seq") == r->last_seq + 1)
            tui_model_insert(r, m);
        if (int_of(m, "seq") > r->read_seq)
            r->read_seq = int_of(m, "seq");
    }
    tui_screen_draw(a);
}

static void send_content(tui_app_t *a, const char *room, json_t *content, long long reply_to,
                         long long thread)
{
    char cid[40];
    new_client_id(cid);
    json_t *req = json_pack("{s:s, s:s, s:s, s:o}", "op", "send", "room", room, "client_id", cid,
                            "content", content);
    if (req && reply_to > 0)
        json_object_set_new(req, "reply_to", json_integer(reply_to));
    if (req && thread > 0)
        json_object_set_new(req, "thread", json_integer(thread));
    tui_app__request(a, req, on_message_reply);
}

static json_t *text_content(const char *text, size_t len)
{
    char *t = strndup(text, len);
    char *e = t ? tui_expand_shortcodes(t) : NULL;
    free(t);
    json_t *c = e ? json_pack("{s:s, s:s}", "type", "text", "body", e) : NULL;
    free(e);
    return c;
}

static tui_room_t *need_room(tui_app_t *a)
{
    tui_room_t *r = tui_model_current(&a->model);
    if (r == NULL)
        tui_app_notice(a, "no room open: /join ROOM or /dm USER");
    return r;
}

static void on_room_reply(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (!tui_app__reply_ok(a, reply, "room")) {
        tui_screen_draw(a);
        return;
    }
    tui_room_t *r = tui_model_room_upsert(&a->model, json_object_get(reply, "room"));
    if (r)
        tui_app_open(a, (size_t)(r - a->model.rooms));
    tui_screen_draw(a);
}

static void on_generic(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (tui_app__reply_ok(a, reply, "request")) {
        /* edit/delete/react answer with the message: show it at once. */
        json_t *m = json_object_get(reply, "message");
        tui_room_t *r = tui_model_room(&a->model, str_of(m, "room"));
        if (r && tui_model_find(r, int_of(m, "seq")))
            tui_model_insert(r, m);
    }
    tui_screen_draw(a);
}

static void on_search(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (!tui_app__reply_ok(a, reply, "search")) {
        tui_screen_draw(a);
        return;
    }
    /* Results come newest first: the view shows them oldest first. */
    json_t *res = json_object_get(reply, "results"), *sorted = json_array();
    for (size_t i = json_array_size(res); i > 0; i--)
        json_array_append(sorted, json_array_get(res, i - 1));
    char title[128];
    snprintf(title, sizeof(title), "search: %zu result%s (Esc closes)", json_array_size(res),
             json_array_size(res) == 1 ? "" : "s");
    open_view(a, title, sorted, NULL, 0);
    json_decref(sorted);
    tui_screen_draw(a);
}

static void on_thread(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tui_app_t *a = ud;
    if (!tui_app__reply_ok(a, reply, "thread")) {
        tui_screen_draw(a);
        return;
    }
    json_t *root = json_object_get(reply, "root");
    json_t *msgs = json_array();
    json_array_append(msgs, root);
    json_array_extend(msgs, json_object_get(reply, "messages"));
    char title[128];
    snprintf(title, sizeof(title), "thread of [%lld] (type to reply in it, Esc closes)",
             int_of(root, "seq"));
    open_view(a, title, msgs, str_of(root, "room"), int_of(root, "seq"));
    json_decref(msgs);
    tui_screen_draw(a);
}

/* ---- uploads and downloads on the thread pool (parley_upload and
 * parley_download block) ---- */

typedef struct {
    uv_work_t work;
    tui_app_t *a;
    char *server, *token, *room, *path, *media_id;
    json_t *media;
    char *name;
    parley_error_t err;
    int rc;
    bool upload;
} xfer_t;

static void xfer_work(uv_work_t *w)
{
    xfer_t *x = w->data;
    if (x->upload)
        x->rc = parley_upload(x->server, x->token, x->path, NULL, &x->media, &x->err);
    else
        x->rc = parley_download_ex(x->server, x->token, x->media_id, x->path, &x->name, &x->err);
}

static json_t *media_content(const json_t *media, const char *path)
{
    const char *id = str_of(media, "id"), *mime = str_of(media, "mime");
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *name = str_of(media, "name") ? str_of(media, "name") : base;
    if (id == NULL)
        return NULL;
    if (mime && strncmp(mime, "image/", 6) == 0 && int_of(media, "w") > 0 && int_of(media, "h") > 0)
        return json_pack("{s:s, s:s, s:I, s:I}", "type", "image", "media", id, "w",
                         (json_int_t)int_of(media, "w"), "h", (json_int_t)int_of(media, "h"));
    return json_pack("{s:s, s:s, s:s, s:I, s:s}", "type", "file", "media", id, "name", name, "size",
                     (json_int_t)int_of(media, "size"), "mime",
                     mime && *mime ? mime : "application/octet-stream");
}

static void xfer_done(uv_work_t *w, int status)
{
    xfer_t *x = w->data;
    tui_app_t *a = x->a;
    a->uploads--;
    if (status != 0 || x->rc != PARLEY_OK) {
        tui_app_notice(a, "%s failed: %s %s", x->upload ? "upload" : "download",
                       x->err.code[0] ? x->err.code : parley_strerror(x->rc), x->err.message);
    } else if (x->upload) {
        json_t *content = media_content(x->media, x->path);
        if (content)
            send_content(a, x->room, content, 0, 0);
        tui_app_notice(a, "uploaded %s", x->path);
    } else {
        tui_app_notice(a, "saved %s%s%s", x->path, x->name ? " (sent as " : "",
                       x->name ? x->name : "");
        if (x->name)
            strncat(a->notice, ")", sizeof(a->notice) - strlen(a->notice) - 1);
    }
    free(x->server);
    free(x->token);
    free(x->room);
    free(x->path);
    free(x->media_id);
    free(x->name);
    json_decref(x->media);
    free(x);
    if (!a->quit)
        tui_screen_draw(a);
}

static void start_xfer(tui_app_t *a, bool upload, const char *room, tui_slice_t path,
                       tui_slice_t media_id)
{
    xfer_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    x->a = a;
    x->upload = upload;
    x->server = strdup(a->server);
    x->token = strdup(a->token);
    x->room = room ? strdup(room) : NULL;
    x->media_id = media_id.len ? strndup(media_id.p, media_id.len) : NULL;
    if (path.len)
        x->path = strndup(path.p, path.len);
    else if (x->media_id && asprintf(&x->path, "parley-%s", x->media_id) < 0)
        x->path = NULL;
    x->work.data = x;
    if (x->path == NULL || uv_queue_work(a->loop, &x->work, xfer_work, xfer_done) != 0) {
        tui_app_notice(a, "cannot start the transfer");
        free(x->server);
        free(x->token);
        free(x->room);
        free(x->path);
        free(x->media_id);
        free(x);
        return;
    }
    a->uploads++;
    tui_app_notice(a, "%s %s...", upload ? "uploading" : "downloading", x->path);
}

/* ---- running a command ---- */

static void cmd_join(tui_app_t *a, const tui_cmd_t *cmd)
{
    char *name = strndup(cmd->arg.p, cmd->arg.len);
    if (name == NULL)
        return;
    int i = tui_model_find_room(&a->model, name);
    if (i >= 0)
        tui_app_open(a, (size_t)i);
    else if (name[0] == '@')
        tui_app__request(
            a,
            json_pack("{s:s, s:s, s:[s]}", "op", "create_room", "kind", "dm", "members", name + 1),
            on_room_reply);
    else
        tui_app__request(a, parley_req_join(name[0] == '#' ? name + 1 : name), on_generic);
    free(name);
}

/* "a, b c" -> ["a", "b", "c"] */
static json_t *words(tui_slice_t s)
{
    json_t *arr = json_array();
    size_t i = 0;
    while (arr && i < s.len) {
        while (i < s.len && (s.p[i] == ' ' || s.p[i] == ','))
            i++;
        size_t b = i;
        while (i < s.len && s.p[i] != ' ' && s.p[i] != ',')
            i++;
        if (i > b) {
            const char *w = s.p + b;
            size_t n = i - b;
            if (*w == '@')
                w++, n--;
            if (n)
                json_array_append_new(arr, json_stringn(w, n));
        }
    }
    return arr;
}

static void show_help(tui_app_t *a)
{
    json_t *msgs = json_array();
    open_view(a, "help (Esc closes)", msgs, NULL, 0);
    json_decref(msgs);
    tui_app_notice(a, "keys: Alt-1..9 Ctrl-N/P rooms, PageUp/PageDown scroll, Tab completes, "
                      "Ctrl-A/E/W/U/K edit, Up/Down history, Ctrl-Z suspend");
}

static void run_cmd(tui_app_t *a, const tui_cmd_t *cmd)
{
    tui_room_t *r = NULL;
    json_t *c;
    char *text;
    switch (cmd->kind) {
    case TUI_CMD_NONE:
        return;
    case TUI_CMD_SAY:
        if (a->view_thread && a->view_room) {
            send_content(a, a->view_room, text_content(cmd->text.p, cmd->text.len), 0,
                         a->view_thread);
            return;
        }
        if ((r = need_room(a)))
            send_content(a, r->id, text_content(cmd->text.p, cmd->text.len), 0, 0);
        return;
    case TUI_CMD_ME:
        if ((r = need_room(a)) == NULL)
            return;
        if (asprintf(&text, "* %s %.*s", a->username ? a->username : "", (int)cmd->text.len,
                     cmd->text.p) < 0)
            return;
        send_content(a, r->id, text_content(text, strlen(text)), 0, 0);
        free(text);
        return;
    case TUI_CMD_JOIN:
        cmd_join(a, cmd);
        return;
    case TUI_CMD_DM:
        tui_app__request(a,
                         json_pack("{s:s, s:s, s:[s%]}", "op", "create_room", "kind", "dm",
                                   "members", cmd->arg.p[0] == '@' ? cmd->arg.p + 1 : cmd->arg.p,
                                   cmd->arg.p[0] == '@' ? cmd->arg.len - 1 : cmd->arg.len),
                         on_room_reply);
        return;
    case TUI_CMD_GROUP:
        tui_app__request(a,
                         json_pack("{s:s, s:s, s:s%, s:o}", "op", "create_room", "kind", "group",
                                   "name", cmd->arg.p, cmd->arg.len, "members", words(cmd->text)),
                         on_room_reply);
        return;
    case TUI_CMD_REACT:
        if ((r = need_room(a)) == NULL)
            return;
        text = strndup(cmd->arg.p, cmd->arg.len);
        /* A known :shortcode: becomes its emoji; others go as typed (the
         * server's custom emoji). */
        c = text ? json_string(tui_shortcode(text + 1, strlen(text) > 2 ? strlen(text) - 2 : 0)
                                   ? tui_shortcode(text + 1, strlen(text) - 2)
                                   : text)
                 : NULL;
        free(text);
        tui_app__request(a,
                         json_pack("{s:s, s:s, s:I, s:o}", "op", "react", "room", r->id, "seq",
                                   (json_int_t)cmd->seq, "emoji", c),
                         on_generic);
        return;
    case TUI_CMD_EDIT:
        if ((r = need_room(a)))
            tui_app__request(a,
                             json_pack("{s:s, s:s, s:I, s:o}", "op", "edit", "room", r->id, "seq",
                                       (json_int_t)cmd->seq, "content",
                                       text_content(cmd->text.p, cmd->text.len)),
                             on_generic);
        return;
    case TUI_CMD_DELETE:
        if ((r = need_room(a)))
            tui_app__request(a,
                             json_pack("{s:s, s:s, s:I}", "op", "delete", "room", r->id, "seq",
                                       (json_int_t)cmd->seq),
                             on_generic);
        return;
    case TUI_CMD_REPLY:
        if ((r = need_room(a)))
            send_content(a, r->id, text_content(cmd->text.p, cmd->text.len), cmd->seq, 0);
        return;
    case TUI_CMD_THREAD:
        if ((r = need_room(a)) == NULL)
            return;
        if (cmd->text.len)
            send_content(a, r->id, text_content(cmd->text.p, cmd->text.len), 0, cmd->seq);
        else
            tui_app__request(a,
                             json_pack("{s:s, s:s, s:I}", "op", "thread", "room", r->id, "root",
                                       (json_int_t)cmd->seq),
                             on_thread);
        return;
    case TUI_CMD_SEARCH:
        tui_app__request(
            a, json_pack("{s:s, s:s%}", "op", "search", "query", cmd->text.p, cmd->text.len),
            on_search);
        return;
    case TUI_CMD_UPLOAD:
        if ((r = need_room(a)))
            start_xfer(a, true, r->id, cmd->text, (tui_slice_t){NULL, 0});
        return;
    case TUI_CMD_DOWNLOAD:
        start_xfer(a, false, NULL, cmd->text, cmd->arg);
        return;
    case TUI_CMD_QUIT:
        a->quit = true;
        return;
    case TUI_CMD_HELP:
        show_help(a);
        return;
    }
}

void tui_app_submit(tui_app_t *a, const char *line)
{
    tui_cmd_t cmd;
    const char *usage = NULL;
    if (tui_cmd_parse(line, strlen(line), &cmd, &usage) < 0) {
        tui_app_notice(a, "%s", usage ? usage : "bad command");
        return;
    }
    a->notice[0] = '\0';
    a->scroll = 0;
    run_cmd(a, &cmd);
    if (cmd.kind == TUI_CMD_SAY || cmd.kind == TUI_CMD_ME) {
        tui_room_t *r = tui_model_current(&a->model);
        if (r && a->typing_sent_ms) {
            a->typing_sent_ms = 0;
            tui_app__request(
                a, json_pack("{s:s, s:s, s:b}", "op", "typing", "room", r->id, "typing", 0), NULL);
        }
    }
}

void tui_app_typing(tui_app_t *a)
{
    tui_room_t *r = tui_model_current(&a->model);
    uint64_t now = tui_app_now(a);
    if (r == NULL || a->state != PARLEY_STATE_READY || a->line.len == 0 || a->line.buf[0] == '/' ||
        (a->typing_sent_ms && now - a->typing_sent_ms < 3000))
        return;
    a->typing_sent_ms = now;
    tui_app__request(a, json_pack("{s:s, s:s, s:b}", "op", "typing", "room", r->id, "typing", 1),
                     NULL);
}
