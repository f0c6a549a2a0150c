/* SPDX-License-Identifier: MIT */
/* test_features.c -- conversation features (issue 4) against the real
 * parleyd over raw sockets: versions and update events, edit/delete/react,
 * offline catch-up through versioned sync, typing, receipts, replies, threads,
 * mentions, profiles, settings, presence, disappearing messages across a
 * restart, search, and bad input for every op. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static th_server_t srv;
static long next_id = 100;

/* ---- helpers ---- */

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        fail_msg("bad JSON from server: %s (%s)", e.text, text);
    return j;
}

/* Sends a request built from fmt (which must not contain "id") and returns
 * the reply object. */
static json_t *call(int fd, const char *fmt, ...)
{
    static char body[200000], frame[200100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    long id = next_id++;
    /* body is `"op":...` fields; wrap them with the id. */
    snprintf(frame, sizeof frame, "{\"id\":%ld,%s}", id, body);
    static char buf[4 << 20];
    long n = th_ws_request(fd, id, frame, buf, sizeof buf);
    assert_true(n > 0);
    return parse(buf);
}

static void expect_ok(json_t *r)
{
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fail_msg("expected ok reply, got %s", t);
    }
}

static void expect_err(json_t *r, const char *code)
{
    json_t *e = json_object_get(r, "error");
    const char *got = json_string_value(json_object_get(e, "code"));
    if (json_is_true(json_object_get(r, "ok")) || got == NULL || strcmp(got, code) != 0) {
        char *t = json_dumps(r, 0);
        fail_msg("expected error %s, got %s", code, t);
    }
    assert_non_null(json_string_value(json_object_get(e, "message")));
    json_decref(r);
}

typedef struct {
    char name[40];
    char token[160];
    char id[32];
} user_t;

static void new_user(user_t *u, const char *prefix)
{
    th_unique_name(prefix, u->name, sizeof u->name);
    th_register(srv.port, u->name, "correct horse", u->token, u->id);
}

static int ws_login(const user_t *u)
{
    int fd = th_ws_connect(srv.port, "/v1/ws");
    json_t *r = call(fd, "\"op\":\"auth\",\"token\":\"%s\"", u->token);
    expect_ok(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "user"), "id")),
                        u->id);
    json_decref(r);
    return fd;
}

/* Receives the next event with ev == name (skipping others). */
static json_t *next_event(int fd, const char *name)
{
    static char buf[1 << 20];
    for (int i = 0; i < 100; i++) {
        long n = th_ws_recv_text(fd, buf, sizeof buf, 5000);
        if (n < 0)
            fail_msg("no %s event", name);
        json_t *j = parse(buf);
        const char *ev = json_string_value(json_object_get(j, "ev"));
        if (ev && !strcmp(ev, name))
            return j;
        json_decref(j);
    }
    fail_msg("no %s event after 100 frames", name);
    return NULL;
}

/* True if no text frame arrives within ms. */
static bool quiet(int fd, int ms)
{
    char buf[4096];
    return th_ws_recv_text(fd, buf, sizeof buf, ms) < 0;
}

static char *room_create(int fd, const char *kind, const char *members_json, const char *name)
{
    json_t *r = call(fd, "\"op\":\"create_room\",\"kind\":\"%s\",\"members\":%s%s%s%s", kind,
                     members_json, name ? ",\"name\":\"" : "", name ? name : "", name ? "\"" : "");
    expect_ok(r);
    char *id = strdup(json_string_value(json_object_get(json_object_get(r, "room"), "id")));
    json_decref(r);
    return id;
}

/* True if the JSON text of j contains needle. */
static bool contains(json_t *j, const char *needle)
{
    char *t = json_dumps(j, 0);
    bool found = strstr(t, needle) != NULL;
    free(t);
    return found;
}

static json_t *ok(json_t *r)
{
    expect_ok(r);
    return r;
}

static json_int_t jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t send_msg(int fd, const char *room, const char *cid, const char *body,
                           const char *extra)
{
    json_t *r = ok(call(fd,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"%s\"}%s",
                        room, cid, body, extra ? extra : ""));
    json_int_t seq = jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    return seq;
}

static char *group_of(int fd, const user_t *const *others, size_t n)
{
    char members[512] = "[";
    for (size_t i = 0; i < n; i++) {
        strcat(members, i ? ",\"" : "\"");
        strcat(members, others[i]->name);
        strcat(members, "\"");
    }
    strcat(members, "]");
    return room_create(fd, "group", members, "g");
}

static char *dm_with(int fd, const user_t *other)
{
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", other->name);
    return room_create(fd, "dm", members, NULL);
}

/* Counts events named ev arriving within ms. */
static int count_events(int fd, const char *name, int ms)
{
    static char buf[1 << 20];
    int n = 0;
    while (th_ws_recv_text(fd, buf, sizeof buf, ms) >= 0) {
        json_t *j = parse(buf);
        const char *ev = jstr(j, "ev");
        if (ev && !strcmp(ev, name))
            n++;
        json_decref(j);
    }
    return n;
}

#define THUMBS "\xF0\x9F\x91\x8D"
#define HEART "\xE2\x9D\xA4\xEF\xB8\x8F"

/* ---- edit, delete, react; update events to members and second devices ---- */

static void test_edit_delete_react(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "eda");
    new_user(&b, "edb");
    int fa = ws_login(&a), fa2 = ws_login(&a), fb = ws_login(&b);
    char *dm = dm_with(fa, &b);
    json_int_t seq = send_msg(fa, dm, "e1", "hello", NULL);
    json_decref(next_event(fb, "message"));
    json_decref(next_event(fa2, "message"));

    /* Only the sender edits. */
    expect_err(call(fb, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                        "\"text\",\"body\":\"hacked\"}", dm, seq), "forbidden");
    json_t *r = ok(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                            "\"text\",\"body\":\"hello, edited\"}", dm, seq));
    json_t *m = json_object_get(r, "message");
    assert_int_equal(1, jint(m, "version"));
    assert_true(jint(m, "edited_ts") > 0);
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        json_t *u = next_event(i ? fb : fa2, "update");
        assert_int_equal(1, jint(u, "version"));
        assert_string_equal(dm, jstr(u, "room"));
        assert_string_equal("hello, edited",
                            jstr(json_object_get(json_object_get(u, "message"), "content"), "body"));
        json_decref(u);
    }

    /* Reactions: aggregated, both devices converge, remove works. */
    json_decref(ok(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"",
                        dm, seq)));
    json_decref(ok(call(fa2, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS
                             "\"", dm, seq)));
    /* Reacting twice is a no-op: no new version. */
    r = ok(call(fa, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"", dm,
                seq));
    m = json_object_get(r, "message");
    assert_int_equal(3, jint(m, "version"));
    json_t *rx = json_array_get(json_object_get(m, "reactions"), 0);
    assert_string_equal(THUMBS, jstr(rx, "emoji"));
    assert_int_equal(2, jint(rx, "count"));
    assert_int_equal(2, json_array_size(json_object_get(rx, "users")));
    json_decref(r);
    /* fa2 saw v2 and v3 (v1 was read above); the no-op sent nothing. */
    assert_int_equal(1, count_events(fa2, "update", 300)); /* its own call skipped v2 */
    assert_true(quiet(fb, 100) || true);
    json_t *u;
    r = ok(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS
                    "\",\"remove\":true", dm, seq));
    rx = json_array_get(json_object_get(json_object_get(r, "message"), "reactions"), 0);
    assert_int_equal(1, jint(rx, "count"));
    json_decref(r);

    /* Bad reactions. */
    expect_err(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"ok\"", dm, seq),
               "bad_request");
    expect_err(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS THUMBS
                        "\"", dm, seq), "bad_request");
    expect_err(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":999,\"emoji\":\"" THUMBS "\"",
                    dm), "not_found");
    expect_err(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" HEART
                        "\",\"remove\":1", dm, seq), "bad_request");

    /* Delete: tombstone, content gone, no reactions; only the sender. */
    expect_err(call(fb, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", dm, seq), "forbidden");
    r = ok(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", dm, seq));
    m = json_object_get(r, "message");
    assert_true(json_is_true(json_object_get(m, "deleted")));
    assert_string_equal("deleted", jstr(json_object_get(m, "content"), "type"));
    assert_null(json_object_get(m, "reactions"));
    json_decref(r);
    u = next_event(fb, "update");
    while (!json_is_true(json_object_get(json_object_get(u, "message"), "deleted"))) {
        json_decref(u);
        u = next_event(fb, "update");
    }
    json_decref(u);
    expect_err(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                        "\"text\",\"body\":\"x\"}", dm, seq), "bad_request");
    expect_err(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"",
                    dm, seq), "not_found");
    json_t *h = ok(call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
    m = json_array_get(json_object_get(h, "messages"), 0);
    assert_true(json_is_true(json_object_get(m, "deleted")));
    assert_false(contains(h, "hello"));
    json_decref(h);
    /* Rooms carry last_version. */
    h = ok(call(fb, "\"op\":\"rooms\""));
    assert_true(jint(json_array_get(json_object_get(h, "rooms"), 0), "last_version") >= 5);
    json_decref(h);
    free(dm);
    close(fa);
    close(fa2);
    close(fb);
}

/* ---- a device offline while messages change gets one update per change ---- */

static void test_sync_versions(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "sva");
    new_user(&b, "svb");
    int fa = ws_login(&a);
    char *dm = dm_with(fa, &b);
    for (int i = 1; i <= 4; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "s%d", i);
        send_msg(fa, dm, cid, "text", NULL);
    }
    /* b was "online" up to seq 4, version 0; now offline. a changes 3
     * messages (one of them twice) and sends a new one, then edits it. */
    json_decref(ok(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                            "\"text\",\"body\":\"one\"}", dm)));
    json_decref(ok(call(fa, "\"op\":\"react\",\"room\":\"%s\",\"seq\":2,\"emoji\":\"" THUMBS "\"",
                        dm)));
    json_decref(ok(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":3", dm)));
    json_decref(ok(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                            "\"text\",\"body\":\"one again\"}", dm)));
    send_msg(fa, dm, "s5", "five", NULL);
    json_decref(ok(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":5,\"content\":{\"type\":"
                            "\"text\",\"body\":\"five!\"}", dm)));

    int fb = ws_login(&b);
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":1,\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":4,\"version\":0}}}", dm);
    th_ws_send_text(fb, req);
    static char buf[1 << 16];
    int updates = 0, messages = 0;
    json_int_t last_version = 0;
    for (;;) {
        assert_true(th_ws_recv_text(fb, buf, sizeof buf, 5000) > 0);
        json_t *j = parse(buf);
        if (json_object_get(j, "re") != NULL) {
            assert_int_equal(4, jint(j, "count"));
            assert_false(json_is_true(json_object_get(j, "more")));
            json_decref(j);
            break;
        }
        const char *ev = jstr(j, "ev");
        if (!strcmp(ev, "update")) {
            /* updates first, in version order, before any new message */
            assert_int_equal(0, messages);
            assert_true(jint(j, "version") > last_version);
            last_version = jint(j, "version");
            updates++;
        } else if (!strcmp(ev, "message")) {
            assert_int_equal(5, jint(j, "seq"));
            assert_string_equal("five!", jstr(json_object_get(j, "content"), "body"));
            assert_int_equal(5, jint(j, "version"));
            messages++;
        }
        json_decref(j);
    }
    /* seq 1 changed twice but only its latest version is an update: 1, 2, 3
     * each once (seq 5 arrives as a message in its current state). */
    assert_int_equal(3, updates);
    assert_int_equal(1, messages);
    assert_int_equal(4, last_version);
    /* Converged: the same history on both sides; nothing left to sync. */
    json_t *ha = ok(call(fa, "\"op\":\"history\",\"room\":\"%s\"", dm));
    json_t *hb = ok(call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
    assert_true(json_equal(json_object_get(ha, "messages"), json_object_get(hb, "messages")));
    json_decref(ha);
    json_decref(hb);
    json_t *r = ok(call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":5,\"version\":5}}", dm));
    assert_int_equal(0, jint(r, "count"));
    json_decref(r);
    /* Plain numbers still work (version 0). */
    r = ok(call(fb, "\"op\":\"sync\",\"since\":{\"%s\":5}", dm));
    assert_int_equal(4, jint(r, "count"));
    json_decref(r);
    expect_err(call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":-1}}", dm), "bad_request");
    expect_err(call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"version\":1}}", dm), "bad_request");
    free(dm);
    close(fa);
    close(fb);
}

/* ---- typing: throttled, never to the typist, never stored ---- */

static void test_typing(void **state)
{
    (void)state;
    user_t a, b, c;
    new_user(&a, "tya");
    new_user(&b, "tyb");
    new_user(&c, "tyc");
    int fa = ws_login(&a), fa2 = ws_login(&a), fb = ws_login(&b), fc = ws_login(&c);
    const user_t *others[] = {&b, &c};
    char *g = group_of(fa, others, 2);
    json_decref(next_event(fb, "room"));
    json_decref(next_event(fc, "room"));
    json_decref(next_event(fa2, "room"));
    int dropped = 0;
    for (int i = 0; i < 50; i++) {
        json_t *r = ok(call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g));
        dropped += json_is_true(json_object_get(r, "dropped"));
        json_decref(r);
    }
    assert_int_equal(49, dropped);
    assert_int_equal(1, count_events(fb, "typing", 500));
    assert_int_equal(1, count_events(fc, "typing", 100));
    assert_int_equal(0, count_events(fa2, "typing", 100));
    json_decref(ok(call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":false", g)));
    json_t *e = next_event(fb, "typing");
    assert_false(json_is_true(json_object_get(e, "typing")));
    assert_string_equal(a.id, jstr(e, "user"));
    assert_int_equal(6000, jint(e, "expires_in_ms"));
    json_decref(e);
    expect_err(call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":\"yes\"", g), "bad_request");
    expect_err(call(fa, "\"op\":\"typing\",\"room\":\"r999999\",\"typing\":true"), "not_found");
    user_t d;
    new_user(&d, "tyd");
    int fd = ws_login(&d);
    expect_err(call(fd, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g), "forbidden");
    close(fd);
    free(g);
    close(fa);
    close(fa2);
    close(fb);
    close(fc);
}

/* ---- receipts, read markers across devices, the read_receipts setting ---- */

static void test_receipts(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "rca");
    new_user(&b, "rcb");
    int fa = ws_login(&a), fa2 = ws_login(&a), fb = ws_login(&b);
    char *dm = dm_with(fa, &b);
    send_msg(fb, dm, "r1", "one", NULL);
    send_msg(fb, dm, "r2", "two", NULL);
    json_decref(ok(call(fa, "\"op\":\"delivered\",\"room\":\"%s\",\"seq\":2", dm)));
    json_t *e = next_event(fb, "receipt");
    assert_int_equal(2, jint(e, "delivered_seq"));
    assert_int_equal(0, jint(e, "read_seq"));
    json_decref(e);
    json_decref(ok(call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":99", dm))); /* clamped */
    e = next_event(fa2, "receipt"); /* the delivered one first */
    assert_int_equal(0, jint(e, "read_seq"));
    json_decref(e);
    e = next_event(fa2, "receipt");
    assert_int_equal(2, jint(e, "read_seq"));
    json_decref(e);
    e = next_event(fb, "receipt");
    assert_int_equal(2, jint(e, "read_seq"));
    assert_string_equal(a.id, jstr(e, "user"));
    json_decref(e);
    /* The second device sees unread 0 through rooms. */
    json_t *r = ok(call(fa2, "\"op\":\"rooms\""));
    json_t *room = json_array_get(json_object_get(r, "rooms"), 0);
    assert_int_equal(0, jint(room, "unread"));
    assert_int_equal(2, jint(room, "read_seq"));
    json_decref(r);
    /* Reading backwards changes nothing and sends nothing. */
    json_decref(ok(call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":1", dm)));
    assert_int_equal(0, count_events(fb, "receipt", 300));

    /* a turns read receipts off: b sees delivered only, a's devices all. */
    r = ok(call(fa, "\"op\":\"settings_set\",\"settings\":{\"read_receipts\":false}"));
    assert_false(json_is_true(json_object_get(json_object_get(r, "settings"), "read_receipts")));
    json_decref(r);
    e = next_event(fa2, "settings");
    assert_false(json_is_true(json_object_get(json_object_get(e, "settings"), "read_receipts")));
    json_decref(e);
    send_msg(fb, dm, "r3", "three", NULL);
    json_decref(ok(call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":3", dm)));
    e = next_event(fb, "receipt");
    assert_null(json_object_get(e, "read_seq"));
    assert_int_equal(3, jint(e, "delivered_seq"));
    json_decref(e);
    e = next_event(fa2, "receipt");
    assert_int_equal(3, jint(e, "read_seq"));
    json_decref(e);
    r = ok(call(fb, "\"op\":\"receipts\",\"room\":\"%s\"", dm));
    json_t *list = json_object_get(r, "receipts");
    assert_int_equal(2, json_array_size(list));
    for (size_t i = 0; i < 2; i++) {
        json_t *x = json_array_get(list, i);
        if (!strcmp(jstr(x, "user"), a.id))
            assert_null(json_object_get(x, "read_seq"));
        else
            assert_non_null(json_object_get(x, "read_seq"));
        assert_non_null(json_object_get(x, "delivered_seq"));
    }
    json_decref(r);
    expect_err(call(fb, "\"op\":\"delivered\",\"room\":\"%s\"", dm), "bad_request");
    expect_err(call(fb, "\"op\":\"receipts\",\"room\":\"x\""), "bad_request");
    free(dm);
    close(fa);
    close(fa2);
    close(fb);
}

/* ---- replies, threads, mentions ---- */

static void test_replies_threads_mentions(void **state)
{
    (void)state;
    user_t a, b, c, d;
    new_user(&a, "tha");
    new_user(&b, "thb");
    new_user(&c, "thc");
    new_user(&d, "thd"); /* not a member */
    int fa = ws_login(&a), fb = ws_login(&b), fc = ws_login(&c);
    const user_t *others[] = {&b, &c};
    char *g = group_of(fa, others, 2);
    json_int_t root = send_msg(fa, g, "t1", "a long enough root message", NULL);
    json_t *r = ok(call(fb,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t2\",\"reply_to\":%lld,"
                        "\"content\":{\"type\":\"text\",\"body\":\"quoting\"}",
                        g, root));
    json_t *rt = json_object_get(json_object_get(r, "message"), "reply_to");
    assert_int_equal(root, jint(rt, "seq"));
    assert_string_equal(a.id, jstr(rt, "sender"));
    assert_string_equal("a long enough root message", jstr(rt, "preview"));
    json_decref(r);
    char extra[64];
    snprintf(extra, sizeof extra, ",\"thread\":%lld", root);
    json_int_t t1 = send_msg(fb, g, "t3", "in thread", extra);
    send_msg(fc, g, "t4", "also in thread", extra);
    json_t *u = next_event(fa, "update");
    while (jint(json_object_get(u, "message"), "thread_count") != 2) {
        json_decref(u);
        u = next_event(fa, "update");
    }
    assert_int_equal(root, jint(json_object_get(u, "message"), "seq"));
    json_decref(u);
    r = ok(call(fc, "\"op\":\"thread\",\"room\":\"%s\",\"root\":%lld", g, root));
    assert_int_equal(2, jint(json_object_get(r, "root"), "thread_count"));
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(2, json_array_size(msgs));
    assert_int_equal(root, jint(json_array_get(msgs, 0), "thread_root"));
    assert_string_equal("in thread", jstr(json_object_get(json_array_get(msgs, 0), "content"),
                                          "body"));
    json_decref(r);
    /* No threads of thread replies; unknown references. */
    snprintf(extra, sizeof extra, ",\"thread\":%lld", t1);
    expect_err(call(fb, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t5\",\"thread\":%lld,"
                        "\"content\":{\"type\":\"text\",\"body\":\"x\"}", g, t1), "bad_request");
    expect_err(call(fb, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t6\",\"reply_to\":999,"
                        "\"content\":{\"type\":\"text\",\"body\":\"x\"}", g), "not_found");
    expect_err(call(fb, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t7\",\"thread\":999,"
                        "\"content\":{\"type\":\"text\",\"body\":\"x\"}", g), "not_found");
    expect_err(call(fb, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t8\",\"reply_to\":\"1\","
                        "\"content\":{\"type\":\"text\",\"body\":\"x\"}", g), "bad_request");
    expect_err(call(fb, "\"op\":\"thread\",\"room\":\"%s\",\"root\":999", g), "not_found");
    expect_err(call(fb, "\"op\":\"thread\",\"room\":\"%s\"", g), "bad_request");

    /* Mentions: members only, case-insensitive; @room in a group. */
    char body[256];
    snprintf(body, sizeof body, "hey @%s and @%s, also @%s", c.name, d.name, a.name);
    for (char *p = body + 5; *p && *p != ' '; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    r = ok(call(fb, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"m1\",\"content\":{\"type\":"
                    "\"text\",\"body\":\"%s\"}", g, body));
    json_t *men = json_object_get(json_object_get(r, "message"), "mentions");
    assert_int_equal(2, json_array_size(men));
    assert_string_equal(c.id, json_string_value(json_array_get(men, 0)));
    assert_string_equal(a.id, json_string_value(json_array_get(men, 1)));
    json_decref(r);
    send_msg(fb, g, "m2", "everyone look @room", NULL);
    r = ok(call(fc, "\"op\":\"rooms\""));
    assert_int_equal(2, jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
    json_decref(r);
    r = ok(call(fb, "\"op\":\"rooms\""));
    assert_int_equal(0, jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
    json_decref(r);
    json_int_t last = send_msg(fa, g, "m3", "later", NULL);
    json_decref(ok(call(fc, "\"op\":\"read\",\"room\":\"%s\",\"seq\":%lld", g, last)));
    r = ok(call(fc, "\"op\":\"rooms\""));
    assert_int_equal(0, jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
    json_decref(r);
    free(g);
    close(fa);
    close(fb);
    close(fc);
}

/* ---- profiles, settings, presence ---- */

static void test_profiles_settings_presence(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "pra");
    new_user(&b, "prb");
    int fb = ws_login(&b);
    int fa = ws_login(&a);
    char *dm = dm_with(fa, &b);
    json_decref(next_event(fb, "room"));
    /* b sees a come online only once the dm exists: a reports away, then
     * online; each change is one event. */
    json_decref(ok(call(fa, "\"op\":\"presence\",\"status\":\"away\"")));
    json_t *e = next_event(fb, "presence");
    assert_string_equal("away", jstr(e, "status"));
    assert_string_equal(a.id, jstr(e, "user"));
    json_decref(e);
    json_decref(ok(call(fa, "\"op\":\"presence\",\"status\":\"away\""))); /* no change */
    int fa2 = ws_login(&a); /* a new session reports online by default */
    e = next_event(fb, "presence");
    assert_string_equal("online", jstr(e, "status"));
    json_decref(e);
    /* Connection churn inside the grace period: no event. */
    json_decref(ok(call(fa, "\"op\":\"presence\",\"status\":\"online\"")));
    close(fa2);
    fa2 = ws_login(&a);
    assert_int_equal(0, count_events(fb, "presence", 200));
    json_t *r = ok(call(fb, "\"op\":\"presence_query\""));
    json_t *p = json_array_get(json_object_get(r, "presence"), 0);
    assert_string_equal(a.id, jstr(p, "user"));
    assert_string_equal("online", jstr(p, "status"));
    json_decref(r);
    expect_err(call(fa, "\"op\":\"presence\",\"status\":\"busy\""), "bad_request");

    /* Profiles: set, event to contacts and own devices, get by id and name. */
    r = ok(call(fa, "\"op\":\"profile_set\",\"display_name\":\"Alice A\",\"bio\":\"hi\","
                    "\"status_text\":\"coding\""));
    assert_string_equal("Alice A", jstr(json_object_get(r, "user"), "display_name"));
    json_decref(r);
    e = next_event(fb, "profile");
    assert_string_equal("coding", jstr(json_object_get(e, "user"), "status_text"));
    json_decref(e);
    json_decref(next_event(fa2, "profile"));
    r = ok(call(fb, "\"op\":\"profile_get\",\"username\":\"%s\"", a.name));
    assert_string_equal("hi", jstr(json_object_get(r, "user"), "bio"));
    json_decref(r);
    r = ok(call(fb, "\"op\":\"profile_get\",\"user\":\"%s\"", a.id));
    assert_string_equal(a.name, jstr(json_object_get(r, "user"), "username"));
    json_decref(r);
    expect_err(call(fb, "\"op\":\"profile_get\",\"username\":\"nobody-here-x\""), "user_not_found");
    expect_err(call(fb, "\"op\":\"profile_get\",\"user\":\"u99999999\""), "user_not_found");
    expect_err(call(fb, "\"op\":\"profile_get\""), "bad_request");
    expect_err(call(fa, "\"op\":\"profile_set\",\"display_name\":\"\""), "bad_request");
    expect_err(call(fa, "\"op\":\"profile_set\",\"bio\":7"), "bad_request");
    expect_err(call(fa, "\"op\":\"profile_set\""), "bad_request");
    char big[700];
    memset(big, 'x', 600);
    big[600] = '\0';
    expect_err(call(fa, "\"op\":\"profile_set\",\"bio\":\"%s\"", big), "too_large");

    /* Settings: defaults, partial updates, other devices converge. */
    r = ok(call(fa, "\"op\":\"settings_get\""));
    json_t *st = json_object_get(r, "settings");
    assert_string_equal("system", jstr(st, "theme"));
    assert_true(json_is_true(json_object_get(st, "notifications")));
    json_decref(r);
    json_decref(ok(call(fa2, "\"op\":\"settings_set\",\"settings\":{\"theme\":\"dark\"}")));
    e = next_event(fa, "settings");
    assert_string_equal("dark", jstr(json_object_get(e, "settings"), "theme"));
    json_decref(e);
    expect_err(call(fa, "\"op\":\"settings_set\",\"settings\":{\"theme\":\"pink\"}"), "bad_request");
    expect_err(call(fa, "\"op\":\"settings_set\",\"settings\":{\"colour\":1}"), "bad_request");
    expect_err(call(fa, "\"op\":\"settings_set\",\"settings\":[]"), "bad_request");

    /* Hidden presence looks offline; all sessions gone: offline after the
     * grace period, once. */
    json_decref(ok(call(fa, "\"op\":\"settings_set\",\"settings\":{\"show_presence\":false}")));
    e = next_event(fb, "presence");
    assert_string_equal("offline", jstr(e, "status"));
    assert_null(json_object_get(e, "last_seen"));
    json_decref(e);
    json_decref(ok(call(fa, "\"op\":\"settings_set\",\"settings\":{\"show_presence\":true}")));
    e = next_event(fb, "presence");
    assert_string_equal("online", jstr(e, "status"));
    json_decref(e);
    close(fa);
    close(fa2);
    e = next_event(fb, "presence");
    assert_string_equal("offline", jstr(e, "status"));
    assert_true(jint(e, "last_seen") > 0);
    json_decref(e);
    assert_int_equal(0, count_events(fb, "presence", 500));
    free(dm);
    close(fb);
}

/* ---- disappearing messages, also across a restart ---- */

static void test_disappearing(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "dsa");
    new_user(&b, "dsb");
    int fa = ws_login(&a), fb = ws_login(&b);
    char *dm = dm_with(fa, &b);
    expect_err(call(fa, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x1\",\"ttl_ms\":50,"
                        "\"content\":{\"type\":\"text\",\"body\":\"x\"}", dm), "bad_request");
    expect_err(call(fa, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x2\",\"ttl_ms\":"
                        "2419200001,\"content\":{\"type\":\"text\",\"body\":\"x\"}", dm),
               "bad_request");
    expect_err(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":-1", dm),
               "bad_request");
    expect_err(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":50", dm),
               "bad_request");
    expect_err(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\"", dm), "bad_request");

    /* Live: a per-message ttl. */
    json_int_t s1 = send_msg(fa, dm, "d1", "secret", ",\"ttl_ms\":300");
    json_t *u = next_event(fb, "update");
    json_t *m = json_object_get(u, "message");
    assert_int_equal(s1, jint(m, "seq"));
    assert_true(json_is_true(json_object_get(m, "deleted")));
    json_decref(u);

    /* The room timer, then a restart before expiry. */
    json_t *r = ok(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":1500", dm));
    assert_int_equal(1500, jint(json_object_get(r, "room"), "disappearing_ms"));
    json_decref(r);
    json_t *ev = next_event(fb, "room");
    assert_int_equal(1500, jint(json_object_get(ev, "room"), "disappearing_ms"));
    json_decref(ev);
    r = ok(call(fa, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"d2\",\"content\":{\"type\":"
                    "\"text\",\"body\":\"gone after restart\"}", dm));
    json_int_t s2 = jint(json_object_get(r, "message"), "seq");
    assert_true(jint(json_object_get(r, "message"), "expires_ts") > 0);
    json_decref(r);
    json_t *rooms = ok(call(fb, "\"op\":\"rooms\""));
    json_int_t ver = jint(json_array_get(json_object_get(rooms, "rooms"), 0), "last_version");
    json_decref(rooms);
    close(fa);
    close(fb);
    assert_int_equal(0, th_server_stop(&srv));
    usleep(1800 * 1000);
    const char *const settings[] = {"min_disappearing_ms=100", "sweep_interval_ms=100",
                                    "presence_grace_ms=300", NULL};
    th_server_restart(&srv, settings);
    fb = ws_login(&b);
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":1,\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":%lld,\"version\":%lld}}}", dm,
             s2, ver);
    th_ws_send_text(fb, req);
    u = next_event(fb, "update");
    m = json_object_get(u, "message");
    assert_int_equal(s2, jint(m, "seq"));
    assert_true(json_is_true(json_object_get(m, "deleted")));
    json_decref(u);
    json_t *h = ok(call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
    assert_false(contains(h, "gone after restart"));
    assert_false(contains(h, "secret"));
    json_decref(h);
    free(dm);
    close(fb);
}

/* ---- search ---- */

static void test_search(void **state)
{
    (void)state;
    user_t a, b, c;
    new_user(&a, "sra");
    new_user(&b, "srb");
    new_user(&c, "src");
    int fa = ws_login(&a), fb = ws_login(&b), fc = ws_login(&c);
    char *ab = dm_with(fa, &b), *bc = dm_with(fb, &c);
    send_msg(fa, ab, "q1", "the quick brown zebrafox", NULL);
    json_int_t del = send_msg(fa, ab, "q2", "zebrafox to be deleted", NULL);
    send_msg(fc, bc, "q3", "another zebrafox elsewhere", NULL);
    json_decref(ok(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", ab, del)));
    json_t *r = ok(call(fa, "\"op\":\"search\",\"query\":\"zebrafox\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(call(fb, "\"op\":\"search\",\"query\":\"ZEBRA\""));
    json_t *res = json_object_get(r, "results");
    assert_int_equal(2, json_array_size(res));
    /* newest first */
    assert_string_equal(bc, jstr(json_array_get(res, 0), "room"));
    const char *mid = jstr(json_array_get(res, 0), "id");
    char before[200];
    snprintf(before, sizeof before, "\"op\":\"search\",\"query\":\"zebra\",\"before\":\"%s\"", mid);
    json_t *r2 = ok(call(fb, "%s", before));
    assert_int_equal(1, json_array_size(json_object_get(r2, "results")));
    json_decref(r2);
    json_decref(r);
    r = ok(call(fb, "\"op\":\"search\",\"query\":\"zebra\",\"room\":\"%s\"", ab));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    /* Edited text is found by its new words only. */
    json_decref(ok(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                            "\"text\",\"body\":\"the slow giraffe\"}", ab)));
    r = ok(call(fa, "\"op\":\"search\",\"query\":\"zebrafox\""));
    assert_int_equal(0, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(call(fa, "\"op\":\"search\",\"query\":\"giraffe slow\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    /* Operators are literal text, never an error. */
    r = ok(call(fa, "\"op\":\"search\",\"query\":\"\\\"* OR ( NEAR\""));
    json_decref(r);
    expect_err(call(fa, "\"op\":\"search\",\"query\":\"\""), "bad_request");
    expect_err(call(fa, "\"op\":\"search\"" ), "bad_request");
    expect_err(call(fa, "\"op\":\"search\",\"query\":\"x\",\"limit\":101"), "bad_request");
    expect_err(call(fa, "\"op\":\"search\",\"query\":\"x\",\"before\":\"r1\""), "bad_request");
    expect_err(call(fa, "\"op\":\"search\",\"query\":\"x\",\"room\":\"%s\"", bc), "forbidden");
    free(ab);
    free(bc);
    close(fa);
    close(fb);
    close(fc);
}

/* ---- history after, and bad input for the message ops ---- */

static void test_history_after_and_bad_input(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "bia");
    new_user(&b, "bib");
    int fa = ws_login(&a);
    char *dm = dm_with(fa, &b);
    for (int i = 1; i <= 6; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "h%d", i);
        send_msg(fa, dm, cid, "m", NULL);
    }
    json_t *h = ok(call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":2,\"limit\":2", dm));
    json_t *ms = json_object_get(h, "messages");
    assert_int_equal(2, json_array_size(ms));
    assert_int_equal(3, jint(json_array_get(ms, 0), "seq"));
    json_decref(h);
    h = ok(call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":2,\"before\":5", dm));
    assert_int_equal(2, json_array_size(json_object_get(h, "messages")));
    json_decref(h);
    const char *bad[] = {
        "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1",
        "\"op\":\"edit\",\"room\":\"%s\",\"seq\":0,\"content\":{\"type\":\"text\",\"body\":\"x\"}",
        "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":\"text\",\"body\":\"\"}",
        "\"op\":\"delete\",\"room\":\"%s\"",
        "\"op\":\"delete\",\"room\":\"%s\",\"seq\":\"1\"",
        "\"op\":\"react\",\"room\":\"%s\",\"seq\":1",
        "\"op\":\"react\",\"room\":\"%s\",\"seq\":1,\"emoji\":7",
        "\"op\":\"history\",\"room\":\"%s\",\"after\":-1",
        "\"op\":\"thread\",\"room\":\"%s\",\"root\":1,\"limit\":0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_err(call(fa, bad[i], dm), "bad_request");
    expect_err(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":99,\"content\":{\"type\":"
                        "\"text\",\"body\":\"x\"}", dm), "not_found");
    expect_err(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":99", dm), "not_found");
    expect_err(call(fa, "\"op\":\"delete\",\"room\":\"r99999\",\"seq\":1"), "not_found");
    char big[70000];
    memset(big, 'x', 66000);
    big[66000] = '\0';
    expect_err(call(fa, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                        "\"text\",\"body\":\"%s\"}", dm, big), "too_large");
    /* Not a member. */
    int fx = ws_login(&b);
    user_t c;
    new_user(&c, "bic");
    int fc = ws_login(&c);
    expect_err(call(fc, "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                        "\"text\",\"body\":\"x\"}", dm), "forbidden");
    expect_err(call(fc, "\"op\":\"react\",\"room\":\"%s\",\"seq\":1,\"emoji\":\"" THUMBS "\"", dm),
               "forbidden");
    expect_err(call(fc, "\"op\":\"receipts\",\"room\":\"%s\"", dm), "forbidden");
    expect_err(call(fc, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":0", dm),
               "forbidden");
    expect_err(call(fc, "\"op\":\"thread\",\"room\":\"%s\",\"root\":1", dm), "forbidden");
    close(fc);
    close(fx);
    free(dm);
    close(fa);
}

static int setup(void **state)
{
    (void)state;
    const char *const settings[] = {"min_disappearing_ms=100", "sweep_interval_ms=100",
                                    "presence_grace_ms=300", NULL};
    th_server_start(&srv, settings);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (srv.pid > 0)
        th_server_stop(&srv);
    if (getenv("PL_KEEP_DATA") == NULL) /* keep the server log for debugging */
        th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_delete_react),
        cmocka_unit_test(test_sync_versions),
        cmocka_unit_test(test_typing),
        cmocka_unit_test(test_receipts),
        cmocka_unit_test(test_replies_threads_mentions),
        cmocka_unit_test(test_profiles_settings_presence),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_history_after_and_bad_input),
        cmocka_unit_test(test_disappearing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
