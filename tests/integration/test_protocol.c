/* SPDX-License-Identifier: MIT */
/* test_protocol.c -- every row of protocol-core.md against the real parleyd,
 * driven with raw sockets, plus hostile input, durability, fan-out and
 * shutdown. */
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

/* ---- helpers ---- */

static json_t *send_text(int fd, const char *room, const char *cid, const char *body)
{
    json_t *r = th_call(fd,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"%s\"}",
                        room, cid, body);
    th_expect_ok(r);
    json_t *m = json_incref(json_object_get(r, "message"));
    json_decref(r);
    return m;
}

/* ---- HTTP accounts ---- */

static void test_http_accounts(void **state)
{
    (void)state;
    char body[4096], name[40], req[512];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
    json_t *j = th_json_parse(body);
    assert_string_equal("ok", th_jstr(j, "status"));
    json_decref(j);

    th_unique_name("acct", name, sizeof name);
    snprintf(req, sizeof req, "{\"username\":\"%s\",\"password\":\"password1\"}", name);
    assert_int_equal(201, th_http(srv.port, "POST", "/v1/register", NULL, req, body, sizeof body));
    j = th_json_parse(body);
    assert_non_null(th_jstr(j, "token"));
    assert_true(th_jstr(j, "user_id")[0] == 'u');
    assert_true(th_jstr(j, "device_id")[0] == 'd');
    json_decref(j);

    /* Usernames are case-insensitive: the same name in capitals is taken. */
    for (char *p = name; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    snprintf(req, sizeof req, "{\"username\":\"%s\",\"password\":\"password1\"}", name);
    assert_int_equal(409, th_http(srv.port, "POST", "/v1/register", NULL, req, body, sizeof body));
    th_expect_err(th_json_parse(body), "username_taken");

    assert_int_equal(400, th_http(srv.port, "POST", "/v1/register", NULL,
                                  "{\"username\":\"bad name!\",\"password\":\"password1\"}", body,
                                  sizeof body));
    th_expect_err(th_json_parse(body), "invalid_username");
    assert_int_equal(400,
                     th_http(srv.port, "POST", "/v1/register", NULL,
                             "{\"username\":\"\",\"password\":\"password1\"}", body, sizeof body));
    th_expect_err(th_json_parse(body), "invalid_username");
    assert_int_equal(400, th_http(srv.port, "POST", "/v1/register", NULL,
                                  "{\"username\":\"abcdefghijabcdefghijabcdefghijabc\","
                                  "\"password\":\"password1\"}",
                                  body, sizeof body));
    th_expect_err(th_json_parse(body), "invalid_username");
    assert_int_equal(400, th_http(srv.port, "POST", "/v1/register", NULL,
                                  "{\"username\":\"shorty\",\"password\":\"short\"}", body,
                                  sizeof body));
    th_expect_err(th_json_parse(body), "weak_password");
    assert_int_equal(
        400, th_http(srv.port, "POST", "/v1/register", NULL, "{\"username\":", body, sizeof body));
    th_expect_err(th_json_parse(body), "bad_json");
    assert_int_equal(400,
                     th_http(srv.port, "POST", "/v1/register", NULL, "[1,2]", body, sizeof body));
    th_expect_err(th_json_parse(body), "bad_request");
    assert_int_equal(405, th_http(srv.port, "GET", "/v1/register", NULL, NULL, body, sizeof body));
    th_expect_err(th_json_parse(body), "method_not_allowed");
    assert_int_equal(404, th_http(srv.port, "GET", "/v1/nothing", NULL, NULL, body, sizeof body));
    th_expect_err(th_json_parse(body), "not_found");

    /* login: right password, wrong password, unknown user */
    assert_int_equal(200, th_http(srv.port, "POST", "/v1/login", NULL, req, body, sizeof body));
    j = th_json_parse(body);
    char token2[160];
    snprintf(token2, sizeof token2, "%s", th_jstr(j, "token"));
    json_decref(j);
    snprintf(req, sizeof req, "{\"username\":\"%s\",\"password\":\"password2\"}", name);
    assert_int_equal(401, th_http(srv.port, "POST", "/v1/login", NULL, req, body, sizeof body));
    th_expect_err(th_json_parse(body), "bad_credentials");
    assert_int_equal(401, th_http(srv.port, "POST", "/v1/login", NULL,
                                  "{\"username\":\"nobody-here\",\"password\":\"password1\"}", body,
                                  sizeof body));
    th_expect_err(th_json_parse(body), "bad_credentials");

    /* logout revokes the token: WebSocket auth with it fails afterwards */
    assert_int_equal(401, th_http(srv.port, "POST", "/v1/logout", NULL, NULL, body, sizeof body));
    th_expect_err(th_json_parse(body), "unauthenticated");
    assert_int_equal(200, th_http(srv.port, "POST", "/v1/logout", token2, NULL, body, sizeof body));
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", token2), "unauthenticated");
    close(fd);
}

/* ---- security headers on every response (the web client's first defence) ---- */

static void test_security_headers(void **state)
{
    (void)state;
    static const char *paths[] = {"/healthz", "/", "/no-such-file.js", "/../etc/passwd"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = th_connect(srv.port);
        char req[256], resp[65536];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 paths[i]);
        th_send_all(fd, req, strlen(req));
        th_recv_until_close(fd, resp, sizeof resp, 5000);
        close(fd);
        char *end = strstr(resp, "\r\n\r\n");
        assert_non_null(end);
        *end = '\0';
        assert_non_null(strstr(resp, "X-Content-Type-Options: nosniff"));
        assert_non_null(strstr(resp, "Content-Security-Policy: default-src 'self'"));
        assert_non_null(strstr(resp, "frame-ancestors 'none'"));
        assert_null(strstr(resp, "unsafe-inline"));
        if (i >= 2)
            assert_non_null(strstr(resp, "HTTP/1.1 404"));
    }
}

/* ---- WebSocket requests before and around auth, malformed frames ---- */

static void test_ws_auth_and_malformed(void **state)
{
    (void)state;
    th_user_t a;
    th_new_user(&a, "auth");
    int fd = th_ws_connect(srv.port, "/v1/ws");
    char buf[65536];

    th_expect_err(th_call(fd, "\"op\":\"rooms\""), "unauthenticated");
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"not-a-token\""), "unauthenticated");
    th_expect_err(th_call(fd, "\"op\":\"auth\""), "bad_request");

    /* Not JSON: re is null and the connection stays open. */
    th_ws_send_text(fd, "{nope");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    json_t *j = th_json_parse(buf);
    assert_true(json_is_null(json_object_get(j, "re")));
    th_expect_err(j, "bad_json");
    th_ws_send_text(fd, "[1,2,3]");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    th_expect_err(th_json_parse(buf), "bad_request");
    th_ws_send_text(fd, "{\"id\":{\"x\":1},\"op\":\"rooms\"}");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    th_expect_err(th_json_parse(buf), "bad_request");
    th_ws_send_text(fd, "{\"id\":\"str-id\",\"op\":\"no_such_op\"}");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    j = th_json_parse(buf);
    assert_string_equal("str-id", th_jstr(j, "re"));
    th_expect_err(j, "unknown_op");
    th_expect_err(th_call(fd, "\"op\":42"), "bad_request");
    /* Valid JSON holding \u0000 (which the parser refuses in strings): the
     * answer still names the request, or the client would wait forever. */
    th_ws_send_text(fd, "{\"id\":77,\"op\":\"auth\",\"token\":\"a\\u0000b\"}");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    j = th_json_parse(buf);
    assert_int_equal(77, json_integer_value(json_object_get(j, "re")));
    th_expect_err(j, "bad_request");
    th_ws_send_text(fd, "{\"op\":\"ping\",\"x\":[\"\\u0000\"],\"id\":\"nul-id\"}");
    assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
    j = th_json_parse(buf);
    assert_string_equal("nul-id", th_jstr(j, "re"));
    th_expect_err(j, "bad_request");

    /* The connection survived all of that: auth now succeeds. */
    json_t *r = th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", a.token);
    th_expect_ok(r);
    assert_string_equal(a.name, th_jstr(json_object_get(r, "user"), "username"));
    json_decref(r);
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", a.token), "bad_request");
    close(fd);
}

/* ---- dm, group, send, idempotency, fan-out, history, rooms, read ---- */

static void test_rooms_and_messages(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "alice");
    th_new_user(&b, "bob");
    th_new_user(&c, "carol");
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fb2 = th_ws_login(&b), fc = th_ws_login(&c);
    char members[256];

    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    json_t *ev = th_next_event(fb, "room");
    assert_string_equal(dm, th_jstr(json_object_get(ev, "room"), "id"));
    assert_string_equal("dm", th_jstr(json_object_get(ev, "room"), "kind"));
    json_decref(ev);
    json_decref(th_next_event(fb2, "room"));
    /* The same pair gets the same dm, from either side, with no new event. */
    char *dm2 = th_room_create(fa, "dm", members, NULL);
    assert_string_equal(dm, dm2);
    snprintf(members, sizeof members, "[\"%s\"]", a.name);
    char *dm3 = th_room_create(fb, "dm", members, NULL);
    assert_string_equal(dm, dm3);
    free(dm2);
    free(dm3);

    th_expect_err(
        th_call(fa, "\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"no-such-user\"]"),
        "user_not_found");
    th_expect_err(
        th_call(fa, "\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"%s\"]", a.name),
        "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"create_room\",\"kind\":\"chan\",\"members\":[]"),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"create_room\",\"kind\":\"group\",\"members\":[1]"),
                  "bad_request");

    /* send: seq starts at 1; every connection of every member gets the event */
    json_t *m1 = send_text(fa, dm, "c-1", "hello bob");
    assert_int_equal(1, th_jint(m1, "seq"));
    assert_string_equal(a.id, th_jstr(m1, "sender"));
    assert_true(th_jint(m1, "ts") > 1700000000000LL);
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? fb : i == 1 ? fb2 : fa;
        ev = th_next_event(fd, "message");
        assert_string_equal(dm, th_jstr(ev, "room"));
        assert_int_equal(1, th_jint(ev, "seq"));
        assert_string_equal(th_jstr(m1, "id"), th_jstr(ev, "id"));
        assert_string_equal("c-1", th_jstr(ev, "client_id"));
        assert_string_equal("hello bob", th_jstr(json_object_get(ev, "content"), "body"));
        assert_string_equal("text", th_jstr(json_object_get(ev, "content"), "type"));
        json_decref(ev);
    }
    assert_true(th_quiet(fc, 200)); /* carol is no member */

    /* Same client_id again: the original, nothing new. */
    json_t *again = send_text(fa, dm, "c-1", "hello bob (retry)");
    assert_string_equal(th_jstr(m1, "id"), th_jstr(again, "id"));
    assert_int_equal(1, th_jint(again, "seq"));
    assert_string_equal("hello bob", th_jstr(json_object_get(again, "content"), "body"));
    json_decref(again);
    assert_true(th_quiet(fb, 300));
    json_t *m2 = send_text(fb, dm, "c-1", "hi alice"); /* client_id is per sender */
    assert_int_equal(2, th_jint(m2, "seq"));
    json_decref(m2);
    json_decref(m1);

    /* outsiders */
    th_expect_err(th_call(fc,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x\",\"content\":"
                          "{\"type\":\"text\",\"body\":\"hi\"}",
                          dm),
                  "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"%s\"", dm), "forbidden");
    /* An unknown room answers like a room one is not in (ids are guessable). */
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"r999999\""), "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"u1\""), "bad_request");
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":7"), "bad_request");

    /* bad send arguments */
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"content\":{\"type\":\"text\",\"body\":"
                          "\"x\"}",
                          dm),
                  "bad_request");
    th_expect_err(
        th_call(fa, "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"q\",\"content\":\"x\"", dm),
        "bad_request");
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"q\",\"content\":"
                          "{\"type\":\"bogus\"}",
                          dm),
                  "bad_request");
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"q\",\"content\":"
                          "{\"type\":\"text\",\"body\":\"\"}",
                          dm),
                  "bad_request");

    /* group of three */
    snprintf(members, sizeof members, "[\"%s\",\"%s\",\"%s\"]", b.name, c.name, b.name);
    char *g = th_room_create(fa, "group", members, "Team");
    ev = th_next_event(fc, "room");
    json_t *room = json_object_get(ev, "room");
    assert_string_equal("group", th_jstr(room, "kind"));
    assert_string_equal("Team", th_jstr(room, "name"));
    assert_int_equal(3, json_array_size(json_object_get(room, "members")));
    json_decref(ev);
    for (int i = 0; i < 30; i++) {
        char cid[32], text[32];
        snprintf(cid, sizeof cid, "g-%d", i);
        snprintf(text, sizeof text, "msg %d", i);
        json_decref(send_text(i % 2 ? fb : fa, g, cid, text));
    }
    for (int i = 0; i < 30; i++) {
        ev = th_next_event(fc, "message");
        assert_int_equal(i + 1, th_jint(ev, "seq"));
        json_decref(ev);
    }

    /* history: newest page, then older pages, oldest first within a page */
    json_t *h = th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"limit\":10", g);
    th_expect_ok(h);
    json_t *msgs = json_object_get(h, "messages");
    assert_int_equal(10, json_array_size(msgs));
    assert_int_equal(21, th_jint(json_array_get(msgs, 0), "seq"));
    assert_int_equal(30, th_jint(json_array_get(msgs, 9), "seq"));
    json_decref(h);
    h = th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"before\":5", g);
    msgs = json_object_get(h, "messages");
    assert_int_equal(4, json_array_size(msgs));
    assert_int_equal(1, th_jint(json_array_get(msgs, 0), "seq"));
    assert_string_equal("msg 0",
                        th_jstr(json_object_get(json_array_get(msgs, 0), "content"), "body"));
    json_decref(h);
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"limit\":0", g), "bad_request");
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"limit\":501", g),
                  "bad_request");
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"before\":\"x\"", g),
                  "bad_request");

    /* rooms with unread counts; read marker moves them */
    json_t *rr = th_call(fc, "\"op\":\"rooms\"");
    th_expect_ok(rr);
    json_t *list = json_object_get(rr, "rooms");
    assert_int_equal(1, json_array_size(list));
    assert_string_equal(g, th_jstr(json_array_get(list, 0), "id"));
    assert_int_equal(30, th_jint(json_array_get(list, 0), "last_seq"));
    assert_int_equal(30, th_jint(json_array_get(list, 0), "unread"));
    assert_int_equal(0, th_jint(json_array_get(list, 0), "read_seq"));
    json_t *last = json_object_get(json_array_get(list, 0), "last_message");
    assert_int_equal(30, th_jint(last, "seq"));
    assert_string_equal("msg 29", th_jstr(json_object_get(last, "content"), "body"));
    json_decref(rr);
    json_t *rd = th_call(fc, "\"op\":\"read\",\"room\":\"%s\",\"seq\":25", g);
    th_expect_ok(rd);
    json_decref(rd);
    rr = th_call(fc, "\"op\":\"rooms\"");
    assert_int_equal(5, th_jint(json_array_get(json_object_get(rr, "rooms"), 0), "unread"));
    assert_int_equal(25, th_jint(json_array_get(json_object_get(rr, "rooms"), 0), "read_seq"));
    json_decref(rr);
    rr = th_call(fa, "\"op\":\"rooms\"");
    list = json_object_get(rr, "rooms");
    assert_int_equal(2, json_array_size(list));
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(list, i);
        if (!strcmp(th_jstr(e, "id"), g))
            assert_int_equal(15, th_jint(e, "unread")); /* bob's 15; alice's own don't count */
        else
            assert_int_equal(1, th_jint(e, "unread"));
    }
    json_decref(rr);

    /* leave and join a group */
    json_t *lv = th_call(fc, "\"op\":\"leave\",\"room\":\"%s\"", g);
    th_expect_ok(lv);
    json_decref(lv);
    ev = th_next_event(fa, "member");
    assert_string_equal("leave", th_jstr(ev, "action"));
    json_decref(ev);
    th_expect_err(th_call(fc, "\"op\":\"history\",\"room\":\"%s\"", g), "forbidden");
    th_expect_err(th_call(fc, "\"op\":\"leave\",\"room\":\"%s\"", dm), "forbidden");
    /* Groups are private: rejoining after leaving needs a new invitation. */
    th_expect_err(th_call(fc, "\"op\":\"join\",\"room\":\"%s\"", g), "forbidden");
    json_t *inv = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, c.name);
    th_expect_ok(inv);
    /* carol's group_add is "everyone" (the default): she is added at once. */
    assert_int_equal(1, json_array_size(json_object_get(inv, "added")));
    json_decref(inv);
    ev = th_next_event(fc, "room");
    assert_string_equal(g, th_jstr(json_object_get(ev, "room"), "id"));
    json_decref(ev);
    json_t *jn = th_call(fc, "\"op\":\"join\",\"room\":\"%s\"", g);
    th_expect_ok(jn); /* a member's join is a no-op */
    json_decref(jn);
    h = th_call(fc, "\"op\":\"history\",\"room\":\"%s\",\"limit\":1", g);
    th_expect_ok(h);
    json_decref(h);

    free(dm);
    free(g);
    close(fa);
    close(fb);
    close(fb2);
    close(fc);
}

/* ---- a group larger than the listed-members cap routes to everyone ---- */

static void test_big_group(void **state)
{
    (void)state;
    enum { N = 120 };
    static th_user_t u[N + 1];
    size_t cap = N * 48 + 8;
    char *members = malloc(cap);
    size_t len = 0;
    members[len++] = '[';
    for (int i = 0; i <= N; i++) {
        th_new_user(&u[i], "big");
        if (i > 0)
            len +=
                (size_t)snprintf(members + len, cap - len, "%s\"%s\"", i > 1 ? "," : "", u[i].name);
    }
    members[len++] = ']';
    members[len] = '\0';
    int owner = th_ws_login(&u[0]);
    char *g = th_room_create(owner, "group", members, "crowd");
    /* The last member, far past the 100 listed in room objects, may talk. */
    int last = th_ws_login(&u[N]);
    json_t *m = send_text(last, g, "hello-crowd", "hi all");
    assert_int_equal(1, th_jint(m, "seq"));
    json_decref(m);
    json_t *ev = th_next_event(owner, "message");
    assert_string_equal("hi all", th_jstr(json_object_get(ev, "content"), "body"));
    json_decref(ev);
    json_t *r = th_call(last, "\"op\":\"history\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_decref(r);
    free(g);
    free(members);
    close(owner);
    close(last);
}

/* ---- sync: exactly once, in order, paged ---- */

/* Syncs room from position `from` until the reply says more=false, checking
 * that events arrive gap-free in seq order; returns how many arrived and
 * asserts the final position is `last`. */
static int sync_all(int fd, const char *room, long from, long last_expected)
{
    static char buf[1 << 20];
    char frame[256];
    long pos = from;
    int seen = 0;
    for (int round = 0; round < 100; round++) {
        long id = th_next_id();
        snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"sync\",\"since\":{\"%s\":%ld}}", id,
                 room, pos);
        th_ws_send_text(fd, frame);
        bool more = false;
        for (;;) {
            assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
            json_t *j = th_json_parse(buf);
            if (json_object_get(j, "re") != NULL) {
                th_expect_ok(j);
                assert_int_equal(id, th_jint(j, "re"));
                more = json_is_true(json_object_get(j, "more"));
                json_decref(j);
                break;
            }
            assert_string_equal("message", th_jstr(j, "ev"));
            assert_string_equal(room, th_jstr(j, "room"));
            assert_int_equal(pos + 1, th_jint(j, "seq"));
            pos = (long)th_jint(j, "seq");
            seen++;
            json_decref(j);
        }
        if (!more)
            break;
    }
    assert_int_equal(last_expected, pos);
    return seen;
}

static void test_sync(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "sa");
    th_new_user(&b, "sb");
    int fa = th_ws_login(&a);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    for (int i = 1; i <= 25; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "s%d", i);
        json_decref(send_text(fa, dm, cid, "offline message"));
    }
    /* bob was offline; he last saw seq 3. With sync_max_messages=10 (set
     * for this server) the first reply says more=true; paging on from the
     * positions received delivers every message once, in order. */
    int fb = th_ws_login(&b);
    assert_int_equal(22, sync_all(fb, dm, 3, 25));
    /* A second sync from the end sends nothing but the reply. */
    json_t *r = th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":25}", dm);
    assert_int_equal(0, th_jint(r, "count"));
    json_decref(r);
    th_expect_err(th_call(fb, "\"op\":\"sync\",\"since\":[1]"), "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"sync\",\"since\":{\"x\":1}"), "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"sync\",\"since\":{\"%s\":-1}", dm), "bad_request");
    close(fb);

    /* From nothing: all 25, in three pages. */
    fb = th_ws_login(&b);
    int seen = sync_all(fb, dm, 0, 25);
    assert_int_equal(25, seen);
    free(dm);
    close(fa);
    close(fb);
}

/* ---- auth with since: the sync runs inside auth, each message once ---- */

/* Sends auth with `since` and reads until its reply: every event before it
 * must be a `message` of room continuing from *pos (which advances). Returns
 * the reply. */
static json_t *auth_since(int fd, const th_user_t *u, const char *since, const char *room,
                          long *pos)
{
    static char buf[1 << 20];
    char frame[512];
    long id = th_next_id();
    snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"auth\",\"token\":\"%s\",\"since\":%s}", id,
             u->token, since);
    th_ws_send_text(fd, frame);
    for (;;) {
        assert_true(th_ws_recv_text(fd, buf, sizeof buf, 5000) > 0);
        json_t *j = th_json_parse(buf);
        if (json_object_get(j, "re") != NULL) {
            assert_int_equal(id, th_jint(j, "re"));
            return j;
        }
        assert_string_equal("message", th_jstr(j, "ev"));
        assert_string_equal(room, th_jstr(j, "room"));
        assert_int_equal(*pos + 1, th_jint(j, "seq"));
        *pos = (long)th_jint(j, "seq");
        json_decref(j);
    }
}

static void test_auth_since(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "asa");
    th_new_user(&b, "asb");
    int fa = th_ws_login(&a);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    for (int i = 1; i <= 5; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "as%d", i);
        json_decref(send_text(fa, dm, cid, "while bob was away"));
    }

    /* Bob saw seq 2: seqs 3..5 arrive before the auth reply, which carries
     * the user, more=false and the count. */
    int fb = th_ws_connect(srv.port, "/v1/ws");
    char since[128];
    snprintf(since, sizeof since, "{\"%s\":2}", dm);
    long pos = 2;
    json_t *r = auth_since(fb, &b, since, dm, &pos);
    th_expect_ok(r);
    assert_int_equal(5, pos);
    assert_string_equal(b.id, th_jstr(json_object_get(r, "user"), "id"));
    assert_false(json_is_true(json_object_get(r, "more")));
    assert_int_equal(3, th_jint(r, "count"));
    json_decref(r);
    /* Then live events, once each: nothing is replayed. */
    json_decref(send_text(fa, dm, "as6", "live"));
    json_t *ev = th_next_event(fb, "message");
    assert_int_equal(6, th_jint(ev, "seq"));
    json_decref(ev);
    assert_true(th_quiet(fb, 200));
    /* The session is authenticated: ops work, a second auth does not. */
    r = th_call(fb, "\"op\":\"history\",\"room\":\"%s\",\"limit\":1", dm);
    th_expect_ok(r);
    json_decref(r);
    th_expect_err(th_call(fb, "\"op\":\"auth\",\"token\":\"%s\",\"since\":{}", b.token),
                  "bad_request");
    close(fb);

    /* Messages sent while the auth's sync is in flight arrive once, after
     * the reply (or inside the sync, never both). */
    fb = th_ws_connect(srv.port, "/v1/ws");
    snprintf(since, sizeof since, "{\"%s\":{\"seq\":6,\"version\":0}}", dm);
    char frame[512];
    long id = th_next_id();
    snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"auth\",\"token\":\"%s\",\"since\":%s}", id,
             b.token, since);
    th_ws_send_text(fb, frame);
    for (int i = 7; i <= 12; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "as%d", i);
        json_decref(send_text(fa, dm, cid, "racing the auth"));
    }
    static char buf[1 << 16];
    pos = 6;
    bool replied = false;
    while (pos < 12 || !replied) {
        assert_true(th_ws_recv_text(fb, buf, sizeof buf, 5000) > 0);
        json_t *j = th_json_parse(buf);
        if (json_object_get(j, "re") != NULL) {
            th_expect_ok(j);
            assert_int_equal(id, th_jint(j, "re"));
            assert_false(replied);
            replied = true;
        } else if (!strcmp(th_jstr(j, "ev"), "message")) {
            assert_int_equal(pos + 1, th_jint(j, "seq"));
            pos = (long)th_jint(j, "seq");
        }
        json_decref(j);
    }
    assert_true(th_quiet(fb, 200));
    close(fb);

    /* Paging: from nothing with sync_max_messages=10, the auth reply says
     * more=true after 10; sync pages on from there. */
    fb = th_ws_connect(srv.port, "/v1/ws");
    pos = 0;
    r = auth_since(fb, &b, "{}", dm, &pos);
    th_expect_ok(r);
    assert_true(json_is_true(json_object_get(r, "more")));
    assert_int_equal(10, th_jint(r, "count"));
    assert_int_equal(10, pos);
    json_decref(r);
    assert_int_equal(2, sync_all(fb, dm, 10, 12));
    close(fb);

    /* A bad since is refused before anything happens; without since the
     * reply is the protocol-core one (no more/count). */
    fb = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fb, "\"op\":\"auth\",\"token\":\"%s\",\"since\":[1]", b.token),
                  "bad_request");
    th_expect_err(
        th_call(fb, "\"op\":\"auth\",\"token\":\"%s\",\"since\":{\"%s\":-1}", b.token, dm),
        "bad_request");
    th_expect_err(th_call(fb, "\"op\":\"rooms\""), "unauthenticated");
    r = th_call(fb, "\"op\":\"auth\",\"token\":\"%s\",\"since\":null", b.token);
    th_expect_ok(r);
    assert_null(json_object_get(r, "more"));
    json_decref(r);
    close(fb);
    free(dm);
    close(fa);
}

/* ---- size limits and WebSocket violations on /v1/ws ---- */

static void test_limits(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "la");
    th_new_user(&b, "lb");
    int fa = th_ws_login(&a);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);

    /* content over max_content_bytes (64 KiB) but under the frame limit */
    size_t n = 100000;
    char *big = malloc(n + 256);
    int k = snprintf(big, 256,
                     "{\"id\":9,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"big\","
                     "\"content\":{\"type\":\"text\",\"body\":\"",
                     dm);
    memset(big + k, 'x', n);
    strcpy(big + k + n, "\"}}");
    char buf[4096];
    assert_true(th_ws_request(fa, 9, big, buf, sizeof buf) > 0);
    th_expect_err(th_json_parse(buf), "too_large");

    /* invalid UTF-8 in a text frame: close 1007 */
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_ws_send_frame(fd, 0x81, "{\"op\":\"\xff\xfe\"}", 12);
    assert_int_equal(1007, th_ws_expect_close(fd, 5000));
    close(fd);

    /* binary frames are not part of the protocol: 1003 */
    fd = th_ws_connect(srv.port, "/v1/ws");
    th_ws_send_frame(fd, 0x82, "abc", 3);
    assert_int_equal(1003, th_ws_expect_close(fd, 5000));
    close(fd);

    /* a 4 MiB message: 1009 */
    size_t huge = 4u << 20;
    char *h = malloc(huge);
    memset(h, 'a', huge);
    fd = th_ws_connect(srv.port, "/v1/ws");
    th_ws_send_frame(fd, 0x81, h, huge);
    assert_int_equal(1009, th_ws_expect_close(fd, 10000));
    close(fd);
    free(h);
    free(big);

    /* the server is fine afterwards */
    json_t *r = th_call(fa, "\"op\":\"rooms\"");
    th_expect_ok(r);
    json_decref(r);
    free(dm);
    close(fa);
}

/* ---- encode once, write many ---- */

static void test_fanout_encodes_once(void **state)
{
    (void)state;
    th_user_t u[3];
    int fds[6];
    for (int i = 0; i < 3; i++) {
        th_new_user(&u[i], "fo");
        fds[2 * i] = th_ws_login(&u[i]);
        fds[2 * i + 1] = th_ws_login(&u[i]);
    }
    char members[128];
    snprintf(members, sizeof members, "[\"%s\",\"%s\"]", u[1].name, u[2].name);
    char *g = th_room_create(fds[0], "group", members, "fanout");
    json_int_t built = th_stat("message_frames_built"), fanned = th_stat("events_fanned_out");
    json_decref(send_text(fds[0], g, "once", "one frame for six connections"));
    for (int i = 0; i < 6; i++)
        json_decref(th_next_event(fds[i], "message"));
    assert_int_equal(built + 1, th_stat("message_frames_built"));
    assert_int_equal(fanned + 6, th_stat("events_fanned_out"));
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    free(g);
}

/* ---- slow consumer: bounded queue, clear close code ---- */

static void test_slow_consumer(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "fast");
    th_new_user(&b, "slow");
    int fa = th_ws_login(&a);
    int fb = th_ws_login(&b);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    /* Bob never reads. Alice sends up to ~24 MiB, far more than bob's
     * socket buffers plus max_write_queue (256 KiB for this server). */
    char *body = malloc(60001);
    memset(body, 'y', 60000);
    body[60000] = '\0';
    json_int_t before = th_stat("slow_consumers");
    for (int i = 0; i < 400 && th_stat("slow_consumers") == before; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "sc%d", i);
        json_decref(send_text(fa, dm, cid, body));
    }
    assert_true(th_stat("slow_consumers") > before);
    /* Bob reads now: after whatever was queued, the close says why. */
    assert_int_equal(4008, th_ws_expect_close(fb, 10000));
    close(fb);
    /* He reconnects and catches up with sync. */
    fb = th_ws_login(&b);
    json_t *r = th_call(fb, "\"op\":\"history\",\"room\":\"%s\",\"limit\":1", dm);
    th_expect_ok(r);
    json_decref(r);
    free(body);
    free(dm);
    close(fa);
    close(fb);
}

/* ---- durability: acked messages survive kill -9, seq continues ---- */

static void test_durability(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "da");
    th_new_user(&b, "db");
    int fa = th_ws_login(&a);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    for (int i = 1; i <= 20; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "d%d", i);
        json_decref(send_text(fa, dm, cid, "durable"));
    }
    th_server_kill9(&srv); /* right after the last ack */
    close(fa);
    const char *const settings[] = {"sync_max_messages=10", "max_write_queue=256k", NULL};
    th_server_restart(&srv, settings);
    fa = th_ws_login(&a);
    json_t *h = th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"limit\":100", dm);
    assert_int_equal(20, json_array_size(json_object_get(h, "messages")));
    json_decref(h);
    json_t *m = send_text(fa, dm, "d21", "after the crash");
    assert_int_equal(21, th_jint(m, "seq"));
    json_decref(m);
    /* A retry of an acked client_id after the crash is still deduplicated. */
    m = send_text(fa, dm, "d20", "retry");
    assert_int_equal(20, th_jint(m, "seq"));
    json_decref(m);
    free(dm);
    close(fa);
}

/* ---- graceful shutdown: WebSockets get 1001, exit status 0 ---- */

static void test_shutdown(void **state)
{
    (void)state;
    th_user_t a;
    th_new_user(&a, "bye");
    int fa = th_ws_login(&a);
    kill(srv.pid, SIGTERM);
    assert_int_equal(1001, th_ws_expect_close(fa, 5000));
    close(fa);
    int status = 0;
    assert_int_equal(srv.pid, waitpid(srv.pid, &status, 0));
    srv.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(0, WEXITSTATUS(status));
}

static int setup(void **state)
{
    (void)state;
    const char *const settings[] = {"sync_max_messages=10", "max_write_queue=256k", NULL};
    th_server_start(&srv, settings);
    th_json_bind(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (srv.pid > 0)
        th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_accounts),
        cmocka_unit_test(test_security_headers),
        cmocka_unit_test(test_ws_auth_and_malformed),
        cmocka_unit_test(test_rooms_and_messages),
        cmocka_unit_test(test_big_group),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_auth_since),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_fanout_encodes_once),
        cmocka_unit_test(test_slow_consumer),
        cmocka_unit_test(test_durability),
        cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
