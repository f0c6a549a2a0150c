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
#include "wsjson.h"

static th_server_t srv;
/* A small ring so tests reach both sync paths (test_sync_ring). */
static const char *const server_settings[] = {"min_disappearing_ms=100", "sweep_interval_ms=100",
                                              "presence_grace_ms=300", "sync_ring_size=4", NULL};

/* ---- helpers ---- */

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
    th_expect_ok(r);
    return r;
}

static json_int_t send_msg(int fd, const char *room, const char *cid, const char *body,
                           const char *extra)
{
    json_t *r = ok(th_call(fd,
                           "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                           "{\"type\":\"text\",\"body\":\"%s\"}%s",
                           room, cid, body, extra ? extra : ""));
    json_int_t seq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    return seq;
}

static char *group_of(int fd, const th_user_t *const *others, size_t n)
{
    char members[512] = "[";
    for (size_t i = 0; i < n; i++) {
        strcat(members, i ? ",\"" : "\"");
        strcat(members, others[i]->name);
        strcat(members, "\"");
    }
    strcat(members, "]");
    return th_room_create(fd, "group", members, "g");
}

static char *dm_with(int fd, const th_user_t *other)
{
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", other->name);
    return th_room_create(fd, "dm", members, NULL);
}

/* Lines of the server log (all runs of this data dir) containing needle. */
static int log_count(const char *needle)
{
    FILE *f = fopen(srv.log_path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Counts events named ev arriving within ms. */
static int count_events(int fd, const char *name, int ms)
{
    static char buf[1 << 20];
    int n = 0;
    while (th_ws_recv_text(fd, buf, sizeof buf, ms) >= 0) {
        json_t *j = th_json_parse(buf);
        const char *ev = th_jstr(j, "ev");
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
    th_user_t a, b;
    th_new_user(&a, "eda");
    th_new_user(&b, "edb");
    int fa = th_ws_login(&a), fa2 = th_ws_login(&a), fb = th_ws_login(&b);
    char *dm = dm_with(fa, &b);
    json_int_t seq = send_msg(fa, dm, "e1", "hello", NULL);
    json_decref(th_next_event(fb, "message"));
    json_decref(th_next_event(fa2, "message"));

    /* Only the sender edits. */
    th_expect_err(th_call(fb,
                          "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                          "\"text\",\"body\":\"hacked\"}",
                          dm, seq),
                  "forbidden");
    json_t *r = ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                           "\"text\",\"body\":\"hello, edited\"}",
                           dm, seq));
    json_t *m = json_object_get(r, "message");
    assert_int_equal(1, th_jint(m, "version"));
    assert_true(th_jint(m, "edited_ts") > 0);
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        json_t *u = th_next_event(i ? fb : fa2, "update");
        assert_int_equal(1, th_jint(u, "version"));
        assert_string_equal(dm, th_jstr(u, "room"));
        assert_string_equal(
            "hello, edited",
            th_jstr(json_object_get(json_object_get(u, "message"), "content"), "body"));
        json_decref(u);
    }

    /* Reactions: aggregated, both devices converge, remove works. */
    json_decref(ok(th_call(
        fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"", dm, seq)));
    json_decref(ok(th_call(
        fa2, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"", dm, seq)));
    /* Reacting twice is a no-op: no new version. */
    r = ok(th_call(fa, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"", dm,
                   seq));
    m = json_object_get(r, "message");
    assert_int_equal(3, th_jint(m, "version"));
    json_t *rx = json_array_get(json_object_get(m, "reactions"), 0);
    assert_string_equal(THUMBS, th_jstr(rx, "emoji"));
    assert_int_equal(2, th_jint(rx, "count"));
    assert_int_equal(2, json_array_size(json_object_get(rx, "users")));
    json_decref(r);
    /* fa2 saw v2 and v3 (v1 was read above); the no-op sent nothing. */
    assert_int_equal(1, count_events(fa2, "update", 300)); /* its own call skipped v2 */
    assert_true(th_quiet(fb, 100) || true);
    json_t *u;
    r = ok(th_call(fb,
                   "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS
                   "\",\"remove\":true",
                   dm, seq));
    rx = json_array_get(json_object_get(json_object_get(r, "message"), "reactions"), 0);
    assert_int_equal(1, th_jint(rx, "count"));
    json_decref(r);

    /* Bad reactions. */
    th_expect_err(
        th_call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"ok\"", dm, seq),
        "bad_request");
    th_expect_err(
        th_call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS THUMBS "\"",
                dm, seq),
        "bad_request");
    th_expect_err(
        th_call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":999,\"emoji\":\"" THUMBS "\"", dm),
        "not_found");
    th_expect_err(th_call(fb,
                          "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" HEART
                          "\",\"remove\":1",
                          dm, seq),
                  "bad_request");

    /* Delete: tombstone, content gone, no reactions; only the sender. */
    th_expect_err(th_call(fb, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", dm, seq),
                  "forbidden");
    r = ok(th_call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", dm, seq));
    m = json_object_get(r, "message");
    assert_true(json_is_true(json_object_get(m, "deleted")));
    assert_string_equal("deleted", th_jstr(json_object_get(m, "content"), "type"));
    assert_null(json_object_get(m, "reactions"));
    json_decref(r);
    u = th_next_event(fb, "update");
    while (!json_is_true(json_object_get(json_object_get(u, "message"), "deleted"))) {
        json_decref(u);
        u = th_next_event(fb, "update");
    }
    json_decref(u);
    th_expect_err(th_call(fa,
                          "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                          "\"text\",\"body\":\"x\"}",
                          dm, seq),
                  "bad_request");
    th_expect_err(th_call(fb,
                          "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"" THUMBS "\"",
                          dm, seq),
                  "not_found");
    json_t *h = ok(th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
    m = json_array_get(json_object_get(h, "messages"), 0);
    assert_true(json_is_true(json_object_get(m, "deleted")));
    assert_false(contains(h, "hello"));
    json_decref(h);
    /* Rooms carry last_version. */
    h = ok(th_call(fb, "\"op\":\"rooms\""));
    assert_true(th_jint(json_array_get(json_object_get(h, "rooms"), 0), "last_version") >= 5);
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
    th_user_t a, b;
    th_new_user(&a, "sva");
    th_new_user(&b, "svb");
    int fa = th_ws_login(&a);
    char *dm = dm_with(fa, &b);
    for (int i = 1; i <= 4; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "s%d", i);
        send_msg(fa, dm, cid, "text", NULL);
    }
    /* b was "online" up to seq 4, version 0; now offline. a changes 3
     * messages (one of them twice) and sends a new one, then edits it. */
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                           "\"text\",\"body\":\"one\"}",
                           dm)));
    json_decref(
        ok(th_call(fa, "\"op\":\"react\",\"room\":\"%s\",\"seq\":2,\"emoji\":\"" THUMBS "\"", dm)));
    json_decref(ok(th_call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":3", dm)));
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                           "\"text\",\"body\":\"one again\"}",
                           dm)));
    send_msg(fa, dm, "s5", "five", NULL);
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":5,\"content\":{\"type\":"
                           "\"text\",\"body\":\"five!\"}",
                           dm)));

    int fb = th_ws_login(&b);
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":1,\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":4,\"version\":0}}}", dm);
    th_ws_send_text(fb, req);
    static char buf[1 << 16];
    int updates = 0, messages = 0;
    json_int_t last_version = 0;
    for (;;) {
        assert_true(th_ws_recv_text(fb, buf, sizeof buf, 5000) > 0);
        json_t *j = th_json_parse(buf);
        if (json_object_get(j, "re") != NULL) {
            assert_int_equal(4, th_jint(j, "count"));
            assert_false(json_is_true(json_object_get(j, "more")));
            json_decref(j);
            break;
        }
        const char *ev = th_jstr(j, "ev");
        if (!strcmp(ev, "update")) {
            /* updates first, in version order, before any new message */
            assert_int_equal(0, messages);
            assert_true(th_jint(j, "version") > last_version);
            last_version = th_jint(j, "version");
            updates++;
        } else if (!strcmp(ev, "message")) {
            assert_int_equal(5, th_jint(j, "seq"));
            assert_string_equal("five!", th_jstr(json_object_get(j, "content"), "body"));
            assert_int_equal(5, th_jint(j, "version"));
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
    json_t *ha = ok(th_call(fa, "\"op\":\"history\",\"room\":\"%s\"", dm));
    json_t *hb = ok(th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
    assert_true(json_equal(json_object_get(ha, "messages"), json_object_get(hb, "messages")));
    json_decref(ha);
    json_decref(hb);
    json_t *r = ok(th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":5,\"version\":5}}", dm));
    assert_int_equal(0, th_jint(r, "count"));
    json_decref(r);
    /* Plain numbers still work (version 0). */
    r = ok(th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":5}", dm));
    assert_int_equal(4, th_jint(r, "count"));
    json_decref(r);
    th_expect_err(th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":-1}}", dm),
                  "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":{\"version\":1}}", dm),
                  "bad_request");
    free(dm);
    close(fa);
    close(fb);
}

/* ---- typing: throttled, never to the typist, never stored ---- */

static void test_typing(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "tya");
    th_new_user(&b, "tyb");
    th_new_user(&c, "tyc");
    int fa = th_ws_login(&a), fa2 = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    const th_user_t *others[] = {&b, &c};
    char *g = group_of(fa, others, 2);
    json_decref(th_next_event(fb, "room"));
    json_decref(th_next_event(fc, "room"));
    json_decref(th_next_event(fa2, "room"));
    int dropped = 0;
    for (int i = 0; i < 50; i++) {
        json_t *r = ok(th_call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g));
        dropped += json_is_true(json_object_get(r, "dropped"));
        json_decref(r);
    }
    assert_int_equal(49, dropped);
    assert_int_equal(1, count_events(fb, "typing", 500));
    assert_int_equal(1, count_events(fc, "typing", 100));
    assert_int_equal(0, count_events(fa2, "typing", 100));
    json_decref(ok(th_call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":false", g)));
    json_t *e = th_next_event(fb, "typing");
    assert_false(json_is_true(json_object_get(e, "typing")));
    assert_string_equal(a.id, th_jstr(e, "user"));
    assert_int_equal(6000, th_jint(e, "expires_in_ms"));
    json_decref(e);
    th_expect_err(th_call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":\"yes\"", g),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"typing\",\"room\":\"r999999\",\"typing\":true"),
                  "forbidden"); /* an unknown room answers like one you are not in */
    th_user_t d;
    th_new_user(&d, "tyd");
    int fd = th_ws_login(&d);
    th_expect_err(th_call(fd, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g), "forbidden");
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
    th_user_t a, b;
    th_new_user(&a, "rca");
    th_new_user(&b, "rcb");
    int fa = th_ws_login(&a), fa2 = th_ws_login(&a), fb = th_ws_login(&b);
    char *dm = dm_with(fa, &b);
    send_msg(fb, dm, "r1", "one", NULL);
    send_msg(fb, dm, "r2", "two", NULL);
    json_decref(ok(th_call(fa, "\"op\":\"delivered\",\"room\":\"%s\",\"seq\":2", dm)));
    json_t *e = th_next_event(fb, "receipt");
    assert_int_equal(2, th_jint(e, "delivered_seq"));
    assert_int_equal(0, th_jint(e, "read_seq"));
    json_decref(e);
    json_decref(ok(th_call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":99", dm))); /* clamped */
    e = th_next_event(fa2, "receipt"); /* the delivered one first */
    assert_int_equal(0, th_jint(e, "read_seq"));
    json_decref(e);
    e = th_next_event(fa2, "receipt");
    assert_int_equal(2, th_jint(e, "read_seq"));
    json_decref(e);
    e = th_next_event(fb, "receipt");
    assert_int_equal(2, th_jint(e, "read_seq"));
    assert_string_equal(a.id, th_jstr(e, "user"));
    json_decref(e);
    /* The second device sees unread 0 through rooms. */
    json_t *r = ok(th_call(fa2, "\"op\":\"rooms\""));
    json_t *room = json_array_get(json_object_get(r, "rooms"), 0);
    assert_int_equal(0, th_jint(room, "unread"));
    assert_int_equal(2, th_jint(room, "read_seq"));
    json_decref(r);
    /* Reading backwards changes nothing and sends nothing. */
    json_decref(ok(th_call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":1", dm)));
    assert_int_equal(0, count_events(fb, "receipt", 300));

    /* a turns read receipts off: b sees delivered only, a's devices all. */
    r = ok(th_call(fa, "\"op\":\"settings_set\",\"settings\":{\"read_receipts\":false}"));
    assert_false(json_is_true(json_object_get(json_object_get(r, "settings"), "read_receipts")));
    json_decref(r);
    e = th_next_event(fa2, "settings");
    assert_false(json_is_true(json_object_get(json_object_get(e, "settings"), "read_receipts")));
    json_decref(e);
    send_msg(fb, dm, "r3", "three", NULL);
    json_decref(ok(th_call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":3", dm)));
    e = th_next_event(fb, "receipt");
    assert_null(json_object_get(e, "read_seq"));
    assert_int_equal(3, th_jint(e, "delivered_seq"));
    json_decref(e);
    e = th_next_event(fa2, "receipt");
    assert_int_equal(3, th_jint(e, "read_seq"));
    json_decref(e);
    r = ok(th_call(fb, "\"op\":\"receipts\",\"room\":\"%s\"", dm));
    json_t *list = json_object_get(r, "receipts");
    assert_int_equal(2, json_array_size(list));
    for (size_t i = 0; i < 2; i++) {
        json_t *x = json_array_get(list, i);
        if (!strcmp(th_jstr(x, "user"), a.id))
            assert_null(json_object_get(x, "read_seq"));
        else
            assert_non_null(json_object_get(x, "read_seq"));
        assert_non_null(json_object_get(x, "delivered_seq"));
    }
    json_decref(r);
    th_expect_err(th_call(fb, "\"op\":\"delivered\",\"room\":\"%s\"", dm), "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"receipts\",\"room\":\"x\""), "bad_request");
    free(dm);
    close(fa);
    close(fa2);
    close(fb);
}

/* ---- replies, threads, mentions ---- */

static void test_replies_threads_mentions(void **state)
{
    (void)state;
    th_user_t a, b, c, d;
    th_new_user(&a, "tha");
    th_new_user(&b, "thb");
    th_new_user(&c, "thc");
    th_new_user(&d, "thd"); /* not a member */
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    const th_user_t *others[] = {&b, &c};
    char *g = group_of(fa, others, 2);
    json_int_t root = send_msg(fa, g, "t1", "a long enough root message", NULL);
    json_t *r = ok(th_call(fb,
                           "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t2\",\"reply_to\":%lld,"
                           "\"content\":{\"type\":\"text\",\"body\":\"quoting\"}",
                           g, root));
    json_t *rt = json_object_get(json_object_get(r, "message"), "reply_to");
    assert_int_equal(root, th_jint(rt, "seq"));
    assert_string_equal(a.id, th_jstr(rt, "sender"));
    assert_string_equal("a long enough root message", th_jstr(rt, "preview"));
    json_decref(r);
    char extra[64];
    snprintf(extra, sizeof extra, ",\"thread\":%lld", root);
    json_int_t t1 = send_msg(fb, g, "t3", "in thread", extra);
    send_msg(fc, g, "t4", "also in thread", extra);
    json_t *u = th_next_event(fa, "update");
    while (th_jint(json_object_get(u, "message"), "thread_count") != 2) {
        json_decref(u);
        u = th_next_event(fa, "update");
    }
    assert_int_equal(root, th_jint(json_object_get(u, "message"), "seq"));
    json_decref(u);
    r = ok(th_call(fc, "\"op\":\"thread\",\"room\":\"%s\",\"root\":%lld", g, root));
    assert_int_equal(2, th_jint(json_object_get(r, "root"), "thread_count"));
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(2, json_array_size(msgs));
    assert_int_equal(root, th_jint(json_array_get(msgs, 0), "thread_root"));
    assert_string_equal("in thread",
                        th_jstr(json_object_get(json_array_get(msgs, 0), "content"), "body"));
    json_decref(r);
    /* No threads of thread replies; unknown references. */
    snprintf(extra, sizeof extra, ",\"thread\":%lld", t1);
    th_expect_err(th_call(fb,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t5\",\"thread\":%lld,"
                          "\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          g, t1),
                  "bad_request");
    th_expect_err(th_call(fb,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t6\",\"reply_to\":999,"
                          "\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          g),
                  "not_found");
    th_expect_err(th_call(fb,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t7\",\"thread\":999,"
                          "\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          g),
                  "not_found");
    th_expect_err(th_call(fb,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t8\",\"reply_to\":\"1\","
                          "\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          g),
                  "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"thread\",\"room\":\"%s\",\"root\":999", g), "not_found");
    th_expect_err(th_call(fb, "\"op\":\"thread\",\"room\":\"%s\"", g), "bad_request");

    /* Mentions: members only, case-insensitive; @room in a group. */
    char body[256];
    snprintf(body, sizeof body, "hey @%s and @%s, also @%s", c.name, d.name, a.name);
    for (char *p = body + 5; *p && *p != ' '; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    r = ok(th_call(fb,
                   "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"m1\",\"content\":{\"type\":"
                   "\"text\",\"body\":\"%s\"}",
                   g, body));
    json_t *men = json_object_get(json_object_get(r, "message"), "mentions");
    assert_int_equal(2, json_array_size(men));
    assert_string_equal(c.id, json_string_value(json_array_get(men, 0)));
    assert_string_equal(a.id, json_string_value(json_array_get(men, 1)));
    json_decref(r);
    send_msg(fb, g, "m2", "everyone look @room", NULL);
    r = ok(th_call(fc, "\"op\":\"rooms\""));
    assert_int_equal(2, th_jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
    json_decref(r);
    r = ok(th_call(fb, "\"op\":\"rooms\""));
    assert_int_equal(0, th_jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
    json_decref(r);
    json_int_t last = send_msg(fa, g, "m3", "later", NULL);
    json_decref(ok(th_call(fc, "\"op\":\"read\",\"room\":\"%s\",\"seq\":%lld", g, last)));
    r = ok(th_call(fc, "\"op\":\"rooms\""));
    assert_int_equal(0, th_jint(json_array_get(json_object_get(r, "rooms"), 0), "mentions"));
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
    th_user_t a, b;
    th_new_user(&a, "pra");
    th_new_user(&b, "prb");
    int fb = th_ws_login(&b);
    int fa = th_ws_login(&a);
    char *dm = dm_with(fa, &b);
    json_decref(th_next_event(fb, "room"));
    /* b sees a come online only once the dm exists: a reports away, then
     * online; each change is one event. */
    json_decref(ok(th_call(fa, "\"op\":\"presence\",\"status\":\"away\"")));
    json_t *e = th_next_event(fb, "presence");
    assert_string_equal("away", th_jstr(e, "status"));
    assert_string_equal(a.id, th_jstr(e, "user"));
    json_decref(e);
    json_decref(ok(th_call(fa, "\"op\":\"presence\",\"status\":\"away\""))); /* no change */
    int fa2 = th_ws_login(&a); /* a new session reports online by default */
    e = th_next_event(fb, "presence");
    assert_string_equal("online", th_jstr(e, "status"));
    json_decref(e);
    /* Connection churn inside the grace period: no event. */
    json_decref(ok(th_call(fa, "\"op\":\"presence\",\"status\":\"online\"")));
    close(fa2);
    fa2 = th_ws_login(&a);
    assert_int_equal(0, count_events(fb, "presence", 200));
    json_t *r = ok(th_call(fb, "\"op\":\"presence_query\""));
    json_t *p = json_array_get(json_object_get(r, "presence"), 0);
    assert_string_equal(a.id, th_jstr(p, "user"));
    assert_string_equal("online", th_jstr(p, "status"));
    json_decref(r);
    th_expect_err(th_call(fa, "\"op\":\"presence\",\"status\":\"busy\""), "bad_request");

    /* Profiles: set, event to contacts and own devices, get by id and name. */
    r = ok(th_call(fa, "\"op\":\"profile_set\",\"display_name\":\"Alice A\",\"bio\":\"hi\","
                       "\"status_text\":\"coding\""));
    assert_string_equal("Alice A", th_jstr(json_object_get(r, "user"), "display_name"));
    json_decref(r);
    e = th_next_event(fb, "profile");
    assert_string_equal("coding", th_jstr(json_object_get(e, "user"), "status_text"));
    json_decref(e);
    json_decref(th_next_event(fa2, "profile"));
    r = ok(th_call(fb, "\"op\":\"profile_get\",\"username\":\"%s\"", a.name));
    assert_string_equal("hi", th_jstr(json_object_get(r, "user"), "bio"));
    json_decref(r);
    r = ok(th_call(fb, "\"op\":\"profile_get\",\"user\":\"%s\"", a.id));
    assert_string_equal(a.name, th_jstr(json_object_get(r, "user"), "username"));
    json_decref(r);
    th_expect_err(th_call(fb, "\"op\":\"profile_get\",\"username\":\"nobody-here-x\""),
                  "user_not_found");
    th_expect_err(th_call(fb, "\"op\":\"profile_get\",\"user\":\"u99999999\""), "user_not_found");
    th_expect_err(th_call(fb, "\"op\":\"profile_get\""), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"profile_set\",\"display_name\":\"\""), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"profile_set\",\"bio\":7"), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"profile_set\""), "bad_request");
    char big[700];
    memset(big, 'x', 600);
    big[600] = '\0';
    th_expect_err(th_call(fa, "\"op\":\"profile_set\",\"bio\":\"%s\"", big), "too_large");

    /* Settings: defaults, partial updates, other devices converge. */
    r = ok(th_call(fa, "\"op\":\"settings_get\""));
    json_t *st = json_object_get(r, "settings");
    assert_string_equal("system", th_jstr(st, "theme"));
    assert_true(json_is_true(json_object_get(st, "notifications")));
    json_decref(r);
    json_decref(ok(th_call(fa2, "\"op\":\"settings_set\",\"settings\":{\"theme\":\"dark\"}")));
    e = th_next_event(fa, "settings");
    assert_string_equal("dark", th_jstr(json_object_get(e, "settings"), "theme"));
    json_decref(e);
    th_expect_err(th_call(fa, "\"op\":\"settings_set\",\"settings\":{\"theme\":\"pink\"}"),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"settings_set\",\"settings\":{\"colour\":1}"),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"settings_set\",\"settings\":[]"), "bad_request");

    /* Hidden presence looks offline; all sessions gone: offline after the
     * grace period, once. */
    json_decref(ok(th_call(fa, "\"op\":\"settings_set\",\"settings\":{\"show_presence\":false}")));
    e = th_next_event(fb, "presence");
    assert_string_equal("offline", th_jstr(e, "status"));
    assert_null(json_object_get(e, "last_seen"));
    json_decref(e);
    json_decref(ok(th_call(fa, "\"op\":\"settings_set\",\"settings\":{\"show_presence\":true}")));
    e = th_next_event(fb, "presence");
    assert_string_equal("online", th_jstr(e, "status"));
    json_decref(e);
    close(fa);
    close(fa2);
    e = th_next_event(fb, "presence");
    assert_string_equal("offline", th_jstr(e, "status"));
    assert_true(th_jint(e, "last_seen") > 0);
    json_decref(e);
    assert_int_equal(0, count_events(fb, "presence", 500));
    free(dm);
    close(fb);
}

/* ---- disappearing messages, also across a restart ---- */

static void test_disappearing(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "dsa");
    th_new_user(&b, "dsb");
    int fa = th_ws_login(&a), fb = th_ws_login(&b);
    char *dm = dm_with(fa, &b);
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x1\",\"ttl_ms\":50,"
                          "\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          dm),
                  "bad_request");
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x2\",\"ttl_ms\":"
                          "2419200001,\"content\":{\"type\":\"text\",\"body\":\"x\"}",
                          dm),
                  "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":-1", dm),
        "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":50", dm),
        "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\"", dm), "bad_request");

    /* Live: a per-message ttl. */
    json_int_t s1 = send_msg(fa, dm, "d1", "secret", ",\"ttl_ms\":300");
    json_t *u = th_next_event(fb, "update");
    json_t *m = json_object_get(u, "message");
    assert_int_equal(s1, th_jint(m, "seq"));
    assert_true(json_is_true(json_object_get(m, "deleted")));
    json_decref(u);

    /* The room timer, then a restart before expiry. */
    json_t *r =
        ok(th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":1500", dm));
    assert_int_equal(1500, th_jint(json_object_get(r, "room"), "disappearing_ms"));
    json_decref(r);
    json_t *ev = th_next_event(fb, "room");
    assert_int_equal(1500, th_jint(json_object_get(ev, "room"), "disappearing_ms"));
    json_decref(ev);
    r = ok(th_call(fa,
                   "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"d2\",\"content\":{\"type\":"
                   "\"text\",\"body\":\"gone after restart\"}",
                   dm));
    json_int_t s2 = th_jint(json_object_get(r, "message"), "seq");
    assert_true(th_jint(json_object_get(r, "message"), "expires_ts") > 0);
    json_decref(r);
    json_t *rooms = ok(th_call(fb, "\"op\":\"rooms\""));
    json_int_t ver = th_jint(json_array_get(json_object_get(rooms, "rooms"), 0), "last_version");
    json_decref(rooms);
    close(fa);
    close(fb);
    assert_int_equal(0, th_server_stop(&srv));
    usleep(1800 * 1000);
    th_server_restart(&srv, server_settings);
    fb = th_ws_login(&b);
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":1,\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":%lld,\"version\":%lld}}}", dm,
             s2, ver);
    th_ws_send_text(fb, req);
    u = th_next_event(fb, "update");
    m = json_object_get(u, "message");
    assert_int_equal(s2, th_jint(m, "seq"));
    assert_true(json_is_true(json_object_get(m, "deleted")));
    json_decref(u);
    json_t *h = ok(th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", dm));
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
    th_user_t a, b, c;
    th_new_user(&a, "sra");
    th_new_user(&b, "srb");
    th_new_user(&c, "src");
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    char *ab = dm_with(fa, &b), *bc = dm_with(fb, &c);
    send_msg(fa, ab, "q1", "the quick brown zebrafox", NULL);
    json_int_t del = send_msg(fa, ab, "q2", "zebrafox to be deleted", NULL);
    send_msg(fc, bc, "q3", "another zebrafox elsewhere", NULL);
    json_decref(ok(th_call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", ab, del)));
    json_t *r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"zebrafox\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(th_call(fb, "\"op\":\"search\",\"query\":\"ZEBRA\""));
    json_t *res = json_object_get(r, "results");
    assert_int_equal(2, json_array_size(res));
    /* newest first */
    assert_string_equal(bc, th_jstr(json_array_get(res, 0), "room"));
    const char *mid = th_jstr(json_array_get(res, 0), "id");
    char before[200];
    snprintf(before, sizeof before, "\"op\":\"search\",\"query\":\"zebra\",\"before\":\"%s\"", mid);
    json_t *r2 = ok(th_call(fb, "%s", before));
    assert_int_equal(1, json_array_size(json_object_get(r2, "results")));
    json_decref(r2);
    json_decref(r);
    r = ok(th_call(fb, "\"op\":\"search\",\"query\":\"zebra\",\"room\":\"%s\"", ab));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    /* Edited text is found by its new words only. */
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                           "\"text\",\"body\":\"the slow giraffe\"}",
                           ab)));
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"zebrafox\""));
    assert_int_equal(0, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"giraffe slow\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    /* Operators are literal text, never an error. */
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"\\\"* OR ( NEAR\""));
    json_decref(r);
    /* ... and so are the PostgreSQL backend's tsquery characters. */
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"it's \\\\ b:* & | ! <-> () '' \\\\'\""));
    json_decref(r);
    th_expect_err(th_call(fa, "\"op\":\"search\",\"query\":\"\""), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"search\""), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"search\",\"query\":\"x\",\"limit\":101"), "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"search\",\"query\":\"x\",\"before\":\"r1\""),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"search\",\"query\":\"x\",\"room\":\"%s\"", bc),
                  "forbidden");

    /* The index is derived data in its own file: after kill -9 it is rebuilt
     * from the messages (acked ones included, edits and deletes applied);
     * after a clean stop it is reused as is. */
    /* (On PostgreSQL the index is a column of messages, changed in the same
     * transaction: there is nothing to rebuild, the searches must pass all
     * the same.) */
    int rebuilds = log_count("op=index_rebuild state=done");
    if (th_pg() == NULL)
        assert_true(rebuilds >= 1); /* the first start built an empty one */
    send_msg(fa, ab, "q4", "xylophonic news", NULL);
    close(fa);
    close(fb);
    close(fc);
    th_server_kill9(&srv);
    th_server_restart(&srv, server_settings);
    fa = th_ws_login(&a);
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"xylophonic\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"giraffe\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"zebrafox\""));
    assert_int_equal(0, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    if (th_pg() == NULL)
        assert_int_equal(rebuilds + 1, log_count("op=index_rebuild state=done"));
    close(fa);
    assert_int_equal(0, th_server_stop(&srv));
    th_server_restart(&srv, server_settings);
    fa = th_ws_login(&a);
    r = ok(th_call(fa, "\"op\":\"search\",\"query\":\"xylophonic\""));
    assert_int_equal(1, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    if (th_pg() == NULL)
        assert_int_equal(rebuilds + 1, log_count("op=index_rebuild state=done"));
    close(fa);
    free(ab);
    free(bc);
}

/* ---- history after, and bad input for the message ops ---- */

static void test_history_after_and_bad_input(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "bia");
    th_new_user(&b, "bib");
    int fa = th_ws_login(&a);
    char *dm = dm_with(fa, &b);
    for (int i = 1; i <= 6; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "h%d", i);
        send_msg(fa, dm, cid, "m", NULL);
    }
    json_t *h = ok(th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":2,\"limit\":2", dm));
    json_t *ms = json_object_get(h, "messages");
    assert_int_equal(2, json_array_size(ms));
    assert_int_equal(3, th_jint(json_array_get(ms, 0), "seq"));
    json_decref(h);
    h = ok(th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":2,\"before\":5", dm));
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
        th_expect_err(th_call(fa, bad[i], dm), "bad_request");
    th_expect_err(th_call(fa,
                          "\"op\":\"edit\",\"room\":\"%s\",\"seq\":99,\"content\":{\"type\":"
                          "\"text\",\"body\":\"x\"}",
                          dm),
                  "not_found");
    th_expect_err(th_call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":99", dm), "not_found");
    th_expect_err(th_call(fa, "\"op\":\"delete\",\"room\":\"r99999\",\"seq\":1"), "forbidden");
    char big[70000];
    memset(big, 'x', 66000);
    big[66000] = '\0';
    th_expect_err(th_call(fa,
                          "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                          "\"text\",\"body\":\"%s\"}",
                          dm, big),
                  "too_large");
    /* Not a member. */
    int fx = th_ws_login(&b);
    th_user_t c;
    th_new_user(&c, "bic");
    int fc = th_ws_login(&c);
    th_expect_err(th_call(fc,
                          "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                          "\"text\",\"body\":\"x\"}",
                          dm),
                  "forbidden");
    th_expect_err(
        th_call(fc, "\"op\":\"react\",\"room\":\"%s\",\"seq\":1,\"emoji\":\"" THUMBS "\"", dm),
        "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"receipts\",\"room\":\"%s\"", dm), "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"room_settings\",\"room\":\"%s\",\"disappearing_ms\":0", dm),
                  "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"thread\",\"room\":\"%s\",\"root\":1", dm), "forbidden");
    close(fc);
    close(fx);
    free(dm);
    close(fa);
}

/* ---- sync from the in-memory ring of recent messages ---- */

/* Sends a sync (or, with token, an auth) with since {room: {seq, version}}
 * and returns the event texts before its reply, joined by newlines (owned);
 * *count gets the reply's count. */
static char *sync_texts(int fd, const char *token, const char *room, json_int_t seq,
                        json_int_t version, json_int_t *count)
{
    char req[512];
    if (token != NULL)
        snprintf(req, sizeof req,
                 "{\"id\":7,\"op\":\"auth\",\"token\":\"%s\",\"since\":{\"%s\":{\"seq\":%lld,"
                 "\"version\":%lld}}}",
                 token, room, (long long)seq, (long long)version);
    else
        snprintf(req, sizeof req,
                 "{\"id\":7,\"op\":\"sync\",\"since\":{\"%s\":{\"seq\":%lld,\"version\":%lld}}}",
                 room, (long long)seq, (long long)version);
    th_ws_send_text(fd, req);
    static char buf[1 << 16];
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    for (;;) {
        long n = th_ws_recv_text(fd, buf, sizeof buf, 5000);
        assert_true(n > 0);
        json_t *j = th_json_parse(buf);
        if (json_object_get(j, "re") != NULL) {
            th_expect_ok(j);
            assert_false(json_is_true(json_object_get(j, "more")));
            *count = th_jint(j, "count");
            json_decref(j);
            return out;
        }
        const char *ev = th_jstr(j, "ev");
        if (!strcmp(ev, "message") || !strcmp(ev, "update")) {
            while (len + (size_t)n + 2 > cap)
                out = realloc(out, cap *= 2);
            memcpy(out + len, buf, (size_t)n);
            len += (size_t)n;
            out[len++] = '\n';
            out[len] = 0;
        }
        json_decref(j);
    }
}

static void test_sync_ring(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "rga");
    th_new_user(&b, "rgb");
    int fa = th_ws_login(&a);
    char *dm = dm_with(fa, &b);
    for (int i = 1; i <= 6; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "r%d", i);
        send_msg(fa, dm, cid, "ring", NULL);
    }
    int fb = th_ws_login(&b);
    json_int_t ring0 = th_stat("syncs_from_ring"), store0 = th_stat("syncs_from_store"), n = 0;
    assert_true(th_stat("ring_bytes") > 0);

    /* The gap (2, 6] is in the ring (size 4 in this server: seqs 3..6). */
    char *ring_texts = sync_texts(fb, NULL, dm, 2, 0, &n);
    assert_int_equal(4, n);
    assert_int_equal(ring0 + 1, th_stat("syncs_from_ring"));
    /* (1, 6] is not: the store answers, with the same five messages. */
    free(sync_texts(fb, NULL, dm, 1, 0, &n));
    assert_int_equal(5, n);
    assert_int_equal(store0 + 1, th_stat("syncs_from_store"));
    /* Up to date: nothing to send, answered from memory. */
    free(sync_texts(fb, NULL, dm, 6, 0, &n));
    assert_int_equal(0, n);
    assert_int_equal(ring0 + 2, th_stat("syncs_from_ring"));

    /* An edit of seq 4 (version 1): the ring keeps only 5..6. A client that
     * has version 0 needs the update: store. One that saw it (version 1)
     * and is at seq 4 gets 5..6 from the ring; at seq 3 it needs seq 4's
     * current state, which the ring no longer holds: store. */
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":4,\"content\":{\"type\":"
                           "\"text\",\"body\":\"edited\"}",
                           dm)));
    char *t = sync_texts(fb, NULL, dm, 6, 0, &n);
    assert_int_equal(1, n);
    assert_non_null(strstr(t, "\"ev\":\"update\""));
    assert_non_null(strstr(t, "edited"));
    free(t);
    assert_int_equal(store0 + 2, th_stat("syncs_from_store"));
    free(sync_texts(fb, NULL, dm, 4, 1, &n));
    assert_int_equal(2, n);
    assert_int_equal(ring0 + 3, th_stat("syncs_from_ring"));
    t = sync_texts(fb, NULL, dm, 3, 1, &n);
    assert_int_equal(3, n);
    assert_non_null(strstr(t, "edited"));
    free(t);
    assert_int_equal(store0 + 3, th_stat("syncs_from_store"));

    /* auth with since, answered from the ring: events, then the reply, and
     * then live messages exactly once. */
    int fc = th_ws_connect(srv.port, "/v1/ws");
    t = sync_texts(fc, b.token, dm, 4, 1, &n);
    assert_int_equal(2, n);
    free(t);
    assert_int_equal(ring0 + 4, th_stat("syncs_from_ring"));
    send_msg(fa, dm, "r7", "seven", NULL);
    json_t *ev = th_next_event(fc, "message");
    assert_int_equal(7, th_jint(ev, "seq"));
    json_decref(ev);
    assert_int_equal(0, count_events(fc, "message", 300));
    close(fc);
    ev = th_next_event(fb, "message"); /* fb got it live too */
    assert_int_equal(7, th_jint(ev, "seq"));
    json_decref(ev);

    /* After a restart the rings are empty: the same gap comes from the store,
     * byte for byte what the ring sent (5..6 did not change since). */
    free(ring_texts);
    ring_texts = sync_texts(fb, NULL, dm, 4, 1, &n);
    assert_int_equal(3, n);
    close(fa);
    close(fb);
    assert_int_equal(0, th_server_stop(&srv));
    th_server_restart(&srv, server_settings);
    fb = th_ws_login(&b);
    store0 = th_stat("syncs_from_store");
    t = sync_texts(fb, NULL, dm, 4, 1, &n);
    assert_int_equal(3, n);
    assert_int_equal(store0 + 1, th_stat("syncs_from_store"));
    assert_string_equal(ring_texts, t);
    free(t);
    free(ring_texts);
    close(fb);
    free(dm);
}

static int setup(void **state)
{
    (void)state;
    th_server_start(&srv, server_settings);
    th_json_bind(&srv);
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
        cmocka_unit_test(test_sync_ring),
        cmocka_unit_test(test_disappearing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
