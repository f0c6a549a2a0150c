/* SPDX-License-Identifier: MIT */
/* test_client.c -- libparley and the parley CLI against the real parleyd:
 * accounts, live DMs both ways, reconnect across a server restart with
 * exactly-once delivery, dedupe and gap handling in sync, several clients on
 * one loop, and the CLI end to end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <parley.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PW "correct horse battery"
#define T_MS 10000

static th_server_t srv;

/* ---- helpers ---- */

static void expect_rc(int rc, int want, const parley_error_t *err)
{
    if (rc != want)
        fail_msg("rc=%d (%s) want %d; err=%s: %s", rc, parley_strerror(rc), want,
                 err ? err->code : "", err ? err->message : "");
}

/* Registers a fresh user; returns its name in name (>= 64) and token (owned). */
static char *new_user(const char *prefix, char *name, char **uid)
{
    th_unique_name(prefix, name, 64);
    char *token = NULL;
    parley_error_t err = {{0}, {0}, 0};
    int rc = parley_register(srv.url, name, PW, NULL, &token, uid, &err);
    expect_rc(rc, PARLEY_OK, &err);
    return token;
}

static parley_client_t *connect_user(const char *token)
{
    parley_client_t *c = NULL;
    parley_error_t err = {{0}, {0}, 0};
    int rc = parley_sync_connect(srv.url, token, true, T_MS, &c, &err);
    expect_rc(rc, PARLEY_OK, &err);
    return c;
}

/* Calls op and returns the ok reply (owned); fails the test otherwise. */
static json_t *call_ok(parley_client_t *c, json_t *req)
{
    json_t *reply = NULL;
    parley_error_t err = {{0}, {0}, 0};
    int rc = parley_call(c, req, &reply, T_MS, &err);
    expect_rc(rc, PARLEY_OK, &err);
    return reply;
}

static char *create_dm(parley_client_t *c, const char *other)
{
    json_t *r = call_ok(
        c, json_pack("{s:s, s:s, s:[s]}", "op", "create_room", "kind", "dm", "members", other));
    const char *id = json_string_value(json_object_get(json_object_get(r, "room"), "id"));
    assert_non_null(id);
    char *out = strdup(id);
    json_decref(r);
    return out;
}

/* Sends text with a given client_id, retrying while the connection is being
 * re-established (the same client_id makes retries idempotent). */
static int64_t send_text(parley_client_t *c, const char *room, const char *cid, const char *text)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        json_t *req = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "op", "send", "room", room,
                                "client_id", cid, "content", "type", "text", "body", text);
        json_t *reply = NULL;
        parley_error_t err = {{0}, {0}, 0};
        int rc = parley_call(c, req, &reply, T_MS, &err);
        if (rc == PARLEY_EDISCONNECTED) {
            parley_wait_ready(c, T_MS, NULL);
            continue;
        }
        expect_rc(rc, PARLEY_OK, &err);
        int64_t seq = json_integer_value(json_object_get(json_object_get(reply, "message"), "seq"));
        json_decref(reply);
        return seq;
    }
    fail_msg("send never succeeded");
    return -1;
}

/* Waits for the next "message" event (skipping others); owned, or NULL. */
static json_t *next_message(parley_client_t *c, int timeout_ms)
{
    for (;;) {
        json_t *ev = parley_wait_event(c, timeout_ms);
        if (ev == NULL)
            return NULL;
        const char *name = json_string_value(json_object_get(ev, "ev"));
        if (name && strcmp(name, "message") == 0)
            return ev;
        json_decref(ev);
    }
}

static void expect_message(parley_client_t *c, const char *room, int64_t seq, const char *body)
{
    json_t *ev = next_message(c, T_MS);
    if (ev == NULL)
        fail_msg("no message event (wanted seq %lld %s)", (long long)seq, body);
    assert_string_equal(json_string_value(json_object_get(ev, "room")), room);
    assert_int_equal(json_integer_value(json_object_get(ev, "seq")), seq);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "content"), "body")),
                        body);
    json_decref(ev);
}

static void expect_no_message(parley_client_t *c, int timeout_ms)
{
    json_t *ev = next_message(c, timeout_ms);
    if (ev != NULL) {
        char *t = json_dumps(ev, 0);
        fail_msg("unexpected event %s", t);
    }
}

/* ---- tests ---- */

static void test_accounts(void **state)
{
    (void)state;
    char name[64], *uid = NULL;
    char *token = new_user("acct", name, &uid);
    assert_non_null(token);
    assert_non_null(uid);

    parley_error_t err = {{0}, {0}, 0};
    char *t2 = NULL, *u2 = NULL;
    expect_rc(parley_register(srv.url, name, PW, NULL, &t2, &u2, &err), PARLEY_ESERVER, &err);
    assert_string_equal(err.code, "username_taken");
    assert_int_equal(err.status, 409);
    expect_rc(parley_login(srv.url, name, "wrong password", NULL, &t2, &u2, &err), PARLEY_ESERVER,
              &err);
    assert_string_equal(err.code, "bad_credentials");
    expect_rc(parley_login(srv.url, name, PW, "test-device", &t2, &u2, &err), PARLEY_OK, &err);
    assert_string_equal(u2, uid);

    /* Both tokens authenticate. */
    parley_client_t *c = connect_user(t2);
    const json_t *user = parley_client_user(c);
    assert_string_equal(json_string_value(json_object_get(user, "username")), name);
    assert_string_equal(json_string_value(json_object_get(user, "id")), uid);
    parley_client_free(c);

    /* A bad token fails with the server's code. */
    c = NULL;
    expect_rc(parley_sync_connect(srv.url, "not-a-token", true, T_MS, &c, &err), PARLEY_ESERVER,
              &err);
    assert_string_equal(err.code, "unauthenticated");
    assert_null(c);

    /* Logout revokes t2. */
    expect_rc(parley_logout(srv.url, t2, &err), PARLEY_OK, &err);
    expect_rc(parley_sync_connect(srv.url, t2, true, T_MS, &c, &err), PARLEY_ESERVER, &err);

    /* Nothing listening: a network error, quickly. */
    expect_rc(parley_login("http://127.0.0.1:1", name, PW, NULL, &t2, &u2, &err), PARLEY_EIO, &err);
    expect_rc(parley_sync_connect("ws://127.0.0.1:1", token, true, T_MS, &c, &err), PARLEY_EIO,
              &err);
    assert_null(parley_client_new(uv_default_loop(), "ftp://example.com"));
    free(t2);
    free(u2);
    free(token);
    free(uid);
}

static void test_dm_live_both_ways(void **state)
{
    (void)state;
    char an[64], bn[64];
    char *ta = new_user("dma", an, NULL), *tb = new_user("dmb", bn, NULL);
    parley_client_t *a = connect_user(ta), *b = connect_user(tb);
    char *room = create_dm(a, bn);
    /* The dm is created once: asking again (from either side) returns it. */
    char *again = create_dm(b, an);
    assert_string_equal(room, again);

    assert_int_equal(send_text(a, room, "a1", "hello bob"), 1);
    expect_message(b, room, 1, "hello bob");
    assert_int_equal(send_text(b, room, "b1", "hi alice"), 2);
    expect_message(a, room, 1, "hello bob"); /* a's own message, once */
    expect_message(a, room, 2, "hi alice");
    expect_message(b, room, 2, "hi alice");
    assert_int_equal(send_text(a, room, "a2", "how are you"), 3);
    expect_message(b, room, 3, "how are you");
    expect_message(a, room, 3, "how are you");
    expect_no_message(a, 200);
    expect_no_message(b, 200);
    assert_int_equal(parley_client_get_position(a, room), 3);
    assert_int_equal(parley_client_get_position(b, room), 3);

    /* A server error comes back as PARLEY_ESERVER with its code. */
    parley_error_t err = {{0}, {0}, 0};
    expect_rc(parley_call(a, json_pack("{s:s, s:s}", "op", "history", "room", "r999999"), NULL,
                          T_MS, &err),
              PARLEY_ESERVER, &err);
    assert_true(err.code[0] != '\0');
    expect_rc(parley_call(a, json_pack("{s:s}", "op", "no_such_op"), NULL, T_MS, &err),
              PARLEY_ESERVER, &err);
    assert_string_equal(err.code, "unknown_op");

    parley_client_free(a);
    parley_client_free(b);
    free(room);
    free(again);
    free(ta);
    free(tb);
}

static void test_dedupe_and_gap(void **state)
{
    (void)state;
    char an[64], bn[64];
    char *ta = new_user("dda", an, NULL), *tb = new_user("ddb", bn, NULL);
    parley_client_t *a = connect_user(ta), *b = connect_user(tb);
    char *room = create_dm(b, an);
    send_text(b, room, "m1", "one");
    send_text(b, room, "m2", "two");
    send_text(b, room, "m3", "three");
    expect_message(a, room, 1, "one");
    expect_message(a, room, 2, "two");
    expect_message(a, room, 3, "three");

    /* An explicit full sync replays everything: the library drops it all. */
    json_t *r = call_ok(a, json_pack("{s:s, s:{}}", "op", "sync", "since"));
    json_decref(r);
    expect_no_message(a, 300);
    assert_int_equal(parley_client_get_position(a, room), 3);

    /* A second device seeded at 2 (async API, own loop) gets only seq 3. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    parley_client_t *c = parley_client_new(&loop, srv.url);
    assert_non_null(c);
    assert_int_equal(parley_client_set_token(c, ta), PARLEY_OK);
    assert_int_equal(parley_client_set_position(c, room, 2), PARLEY_OK);
    assert_int_equal(parley_client_connect(c), PARLEY_OK);
    parley_error_t err = {{0}, {0}, 0};
    expect_rc(parley_wait_ready(c, T_MS, &err), PARLEY_OK, &err);
    expect_message(c, room, 3, "three");
    expect_no_message(c, 200);

    /* Pretend c missed 3 and 4: live seq 5 is a gap, so the library syncs and
     * delivers 3, 4, 5 in order instead of 5 alone. */
    send_text(b, room, "m4", "four");
    expect_message(c, room, 4, "four");
    assert_int_equal(parley_client_set_position(c, room, 2), PARLEY_OK);
    send_text(b, room, "m5", "five");
    expect_message(c, room, 3, "three");
    expect_message(c, room, 4, "four");
    expect_message(c, room, 5, "five");
    expect_no_message(c, 200);
    json_t *pos = parley_client_positions(c);
    assert_int_equal(json_integer_value(json_object_get(pos, room)), 5);
    json_decref(pos);

    /* Sending the same client_id again returns the original message. */
    assert_int_equal(send_text(b, room, "m5", "five again"), 5);

    parley_client_free(c);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    parley_client_free(a);
    parley_client_free(b);
    free(room);
    free(ta);
    free(tb);
}

/* ---- several async clients on one loop ---- */

typedef struct {
    int messages;
    int64_t last_seq;
    bool replied;
    bool ok;
} tally_t;

static void on_tally_event(parley_client_t *c, json_t *ev, void *ud)
{
    (void)c;
    tally_t *t = ud;
    if (strcmp(json_string_value(json_object_get(ev, "ev")), "message") == 0) {
        int64_t seq = json_integer_value(json_object_get(ev, "seq"));
        assert_int_equal(seq, t->last_seq + 1);
        t->last_seq = seq;
        t->messages++;
    }
}

static void on_tally_reply(parley_client_t *c, json_t *reply, void *ud)
{
    (void)c;
    tally_t *t = ud;
    t->replied = true;
    t->ok = json_is_true(json_object_get(reply, "ok"));
}

static void test_three_clients_one_loop(void **state)
{
    (void)state;
    char n[3][64];
    char *tok[3];
    for (int i = 0; i < 3; i++)
        tok[i] = new_user("grp", n[i], NULL);
    /* Make the group with a blocking client first. */
    parley_client_t *admin = connect_user(tok[0]);
    json_t *r = call_ok(admin, json_pack("{s:s, s:s, s:s, s:[s,s]}", "op", "create_room", "kind",
                                         "group", "name", "trio", "members", n[1], n[2]));
    char *room = strdup(json_string_value(json_object_get(json_object_get(r, "room"), "id")));
    json_decref(r);
    parley_client_free(admin);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    parley_client_t *c[3];
    tally_t t[3];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 3; i++) {
        c[i] = parley_client_new(&loop, srv.url);
        parley_client_set_token(c[i], tok[i]);
        parley_client_set_event_cb(c[i], on_tally_event, &t[i]);
        assert_int_equal(parley_client_connect(c[i]), PARLEY_OK);
    }
    /* Requests made before auth are queued and sent after it. */
    tally_t sent[6];
    memset(sent, 0, sizeof(sent));
    for (int k = 0; k < 6; k++) {
        char cid[16], body[32];
        snprintf(cid, sizeof(cid), "k%d", k);
        snprintf(body, sizeof(body), "msg %d", k);
        int64_t id = parley_client_request(c[k % 3],
                                           json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "op", "send",
                                                     "room", room, "client_id", cid, "content",
                                                     "type", "text", "body", body),
                                           on_tally_reply, &sent[k]);
        assert_true(id > 0);
    }
    uint64_t deadline = uv_hrtime() + 10000000000ull;
    while ((t[0].messages < 6 || t[1].messages < 6 || t[2].messages < 6) && uv_hrtime() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t[i].messages, 6);
        assert_int_equal(parley_client_state(c[i]), PARLEY_STATE_READY);
    }
    for (int k = 0; k < 6; k++)
        assert_true(sent[k].replied && sent[k].ok);
    /* Freeing fails what is still pending, and the loop closes cleanly. */
    tally_t late = {0};
    parley_client_request(c[0], json_pack("{s:s}", "op", "rooms"), on_tally_reply, &late);
    for (int i = 0; i < 3; i++)
        parley_client_free(c[i]);
    assert_true(late.replied);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(room);
    for (int i = 0; i < 3; i++)
        free(tok[i]);
}

static void test_reconnect_exactly_once(void **state)
{
    (void)state;
    th_server_t own;
    th_server_start(&own, NULL);
    th_server_t saved = srv;
    srv = own; /* helpers use srv.url */

    char an[64], bn[64];
    char *ta = new_user("rca", an, NULL), *tb = new_user("rcb", bn, NULL);
    parley_client_t *a = connect_user(ta), *b = connect_user(tb);
    parley_client_set_timing(a, 50, 1000, 20000);
    parley_client_set_timing(b, 50, 1000, 20000);
    char *room = create_dm(b, an);
    send_text(b, room, "r1", "before");
    expect_message(a, room, 1, "before");

    assert_int_equal(th_server_stop(&own), 0);
    th_server_restart(&own, NULL); /* same port and data dir */

    /* b notices the drop on its next call and retries (idempotent client_id). */
    send_text(b, room, "r2", "while a was away 1");
    send_text(b, room, "r3", "while a was away 2");
    send_text(b, room, "r4", "while a was away 3");

    /* a reconnects, re-authenticates and syncs: each message once, in order. */
    expect_message(a, room, 2, "while a was away 1");
    expect_message(a, room, 3, "while a was away 2");
    expect_message(a, room, 4, "while a was away 3");
    expect_no_message(a, 300);
    assert_int_equal(parley_client_state(a), PARLEY_STATE_READY);

    /* And live traffic flows again. */
    send_text(b, room, "r5", "live again");
    expect_message(a, room, 5, "live again");
    expect_no_message(a, 200);

    /* A request in flight when the server dies fails with "disconnected". */
    assert_int_equal(th_server_stop(&own), 0);
    parley_error_t err = {{0}, {0}, 0};
    int rc = parley_call(a, json_pack("{s:s}", "op", "rooms"), NULL, T_MS, &err);
    assert_true(rc == PARLEY_EDISCONNECTED);
    assert_string_equal(err.code, "disconnected");
    assert_int_not_equal(parley_client_state(a), PARLEY_STATE_READY);

    parley_client_free(a);
    parley_client_free(b);
    th_server_cleanup(&own);
    srv = saved;
    free(room);
    free(ta);
    free(tb);
}

/* A user in thousands of rooms: `since` for all of them is larger than the
 * server takes before auth (max_ws_preauth_message, 64 KiB), so libparley
 * reconnects with a bare auth and catches up with a sync afterwards instead
 * of being closed with 1009 on every attempt. */
static void test_reconnect_many_rooms(void **state)
{
    (void)state;
    enum { NROOMS = 2400 }; /* ~30 bytes of `since` each: about 70 KiB */
    static const char *const sets[] = {"room_create_per_hour=100000", "rate_limit_per_sec=100000",
                                       NULL};
    th_server_t own;
    th_server_start(&own, sets);
    th_server_t saved = srv;
    srv = own;
    char an[64];
    char *ta = new_user("mra", an, NULL);
    /* Create the rooms over a raw socket, 16 requests in flight. */
    int fd = th_ws_connect(own.port, "/v1/ws");
    char frame[512], buf[65536];
    snprintf(frame, sizeof frame, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", ta);
    assert_true(th_ws_request(fd, 1, frame, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "\"ok\":true"));
    int sent = 0, done = 0;
    char last_room[32] = "";
    while (done < NROOMS) {
        while (sent < NROOMS && sent - done < 16) {
            snprintf(frame, sizeof frame,
                     "{\"id\":%d,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[],"
                     "\"name\":\"m%d\"}",
                     100 + sent, sent);
            th_ws_send_text(fd, frame);
            sent++;
        }
        assert_true(th_ws_recv_text(fd, buf, sizeof buf, 30000) > 0);
        if (strstr(buf, "\"re\":") == NULL)
            continue; /* a room event */
        if (strstr(buf, "\"ok\":true") == NULL)
            fail_msg("create_room: %.300s", buf);
        char *id = strstr(buf, "\"id\":\"r");
        assert_non_null(id);
        snprintf(last_room, sizeof last_room, "%.*s", (int)strcspn(id + 6, "\""), id + 6);
        done++;
    }
    close(fd);

    /* From "now": the client seeds a position for every room (over the
     * rooms pages), so its reconnect has all 2,400 to send. */
    parley_client_t *a = NULL;
    parley_error_t err = {{0}, {0}, 0};
    /* 2,400 rooms' first sync: on PostgreSQL under a loaded CI machine this
     * took over 10 s, so this connect gets a minute. */
    expect_rc(parley_sync_connect(srv.url, ta, false, 6 * T_MS, &a, &err), PARLEY_OK, &err);
    parley_client_set_timing(a, 50, 1000, 20000);
    json_t *pos = parley_client_positions(a);
    assert_int_equal(NROOMS, json_object_size(pos));
    json_decref(pos);
    assert_int_equal(th_server_stop(&own), 0);
    th_server_restart(&own, sets);
    /* A message sent while a is away, from a raw connection of a's own. */
    fd = th_ws_connect(own.port, "/v1/ws");
    snprintf(frame, sizeof frame, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", ta);
    assert_true(th_ws_request(fd, 1, frame, buf, sizeof buf) > 0);
    snprintf(frame, sizeof frame,
             "{\"id\":2,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"away\","
             "\"content\":{\"type\":\"text\",\"body\":\"while away\"}}",
             last_room);
    assert_true(th_ws_request(fd, 2, frame, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "\"ok\":true"));
    close(fd);
    /* a reconnects (bare auth, then sync) and gets it exactly once. */
    expect_message(a, last_room, 1, "while away");
    expect_no_message(a, 300);
    assert_int_equal(parley_client_state(a), PARLEY_STATE_READY);

    parley_client_free(a);
    assert_int_equal(th_server_stop(&own), 0);
    th_server_cleanup(&own);
    srv = saved;
    free(ta);
}

/* ---- requests the server refuses for now (rate_limited) ---- */

/* Sends one request over a raw connection; returns its reply in buf and
 * fails the test unless it is ok. */
static void raw_ok(int fd, long id, const char *frame, char *buf, size_t cap)
{
    assert_true(th_ws_request(fd, id, frame, buf, cap) > 0);
    if (strstr(buf, "\"ok\":true") == NULL)
        fail_msg("request %ld: %.300s", id, buf);
}

/* On a server that allows each user 3 requests a second (burst 6): b opens
 * a dm with a and sends two messages; then a's bucket is emptied from a raw
 * connection of a's own, so the next request a makes is refused with
 * rate_limited. Writes the dm's id to room (>= 32). */
static void limited_dm(th_server_t *own, const char *ta, const char *an, const char *tb, char *room)
{
    char frame[512], buf[65536];
    int fd = th_ws_connect(own->port, "/v1/ws");
    snprintf(frame, sizeof frame, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", tb);
    raw_ok(fd, 1, frame, buf, sizeof buf);
    snprintf(frame, sizeof frame,
             "{\"id\":2,\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"%s\"]}", an);
    raw_ok(fd, 2, frame, buf, sizeof buf);
    char *id = strstr(buf, "\"id\":\"r");
    assert_non_null(id);
    snprintf(room, 32, "%.*s", (int)strcspn(id + 6, "\""), id + 6);
    for (int i = 1; i <= 2; i++) {
        snprintf(frame, sizeof frame,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"l%d\","
                 "\"content\":{\"type\":\"text\",\"body\":\"limited %d\"}}",
                 2 + i, room, i, i);
        raw_ok(fd, 2 + i, frame, buf, sizeof buf);
    }
    close(fd);

    fd = th_ws_connect(own->port, "/v1/ws");
    snprintf(frame, sizeof frame, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", ta);
    raw_ok(fd, 1, frame, buf, sizeof buf);
    bool refused = false;
    for (int i = 2; i < 40 && !refused; i++) {
        snprintf(frame, sizeof frame, "{\"id\":%d,\"op\":\"ping\"}", i);
        assert_true(th_ws_request(fd, i, frame, buf, sizeof buf) > 0);
        refused = strstr(buf, "\"rate_limited\"") != NULL;
    }
    assert_true(refused);
    close(fd);
}

static void on_state_count(parley_client_t *c, parley_state_t st, const parley_error_t *err,
                           void *ud)
{
    (void)c;
    (void)err;
    ((int *)ud)[st]++;
}

/* Connects a client on loop that counts its state changes in states. */
static parley_client_t *connect_counted(uv_loop_t *loop, const char *token, bool replay,
                                        int *states)
{
    parley_client_t *c = parley_client_new(loop, srv.url);
    assert_non_null(c);
    parley_client_set_token(c, token);
    parley_client_set_timing(c, 50, 1000, 20000);
    parley_client_set_initial_sync(c, replay);
    parley_client_set_state_cb(c, on_state_count, states);
    assert_int_equal(parley_client_connect(c), PARLEY_OK);
    parley_error_t err = {{0}, {0}, 0};
    expect_rc(parley_wait_ready(c, T_MS, &err), PARLEY_OK, &err);
    return c;
}

/* A sync refused with rate_limited is asked again after retry_after_ms on
 * the same connection (no reconnect), and delivers each message once. A
 * client starting "from now" whose rooms pages are refused waits for them
 * too: it goes live only with every room's position seeded, so it does not
 * replay the history of the rooms it missed. */
static void test_refused_sync_and_rooms(void **state)
{
    (void)state;
    static const char *const sets[] = {"rate_limit_per_sec=3", NULL};
    th_server_t own;
    th_server_start(&own, sets);
    th_server_t saved = srv;
    srv = own;
    char an[64], bn[64], room[32];
    char *ta = new_user("rla", an, NULL), *tb = new_user("rlb", bn, NULL);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);

    /* Replaying history: the sync after auth is refused, then asked again. */
    limited_dm(&own, ta, an, tb, room);
    int states[PARLEY_STATE_CLOSED + 1] = {0};
    parley_client_t *a = connect_counted(&loop, ta, true, states);
    expect_message(a, room, 1, "limited 1");
    expect_message(a, room, 2, "limited 2");
    expect_no_message(a, 300);
    assert_int_equal(states[PARLEY_STATE_CONNECTING], 1);
    assert_int_equal(states[PARLEY_STATE_WAITING], 0);
    parley_client_free(a);

    /* From now: the rooms page is refused, then asked again. */
    limited_dm(&own, ta, an, tb, room);
    memset(states, 0, sizeof states);
    a = connect_counted(&loop, ta, false, states);
    assert_int_equal(parley_client_get_position(a, room), 2);
    expect_no_message(a, 300);
    assert_int_equal(states[PARLEY_STATE_CONNECTING], 1);
    assert_int_equal(states[PARLEY_STATE_WAITING], 0);
    parley_client_free(a);

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(th_server_stop(&own), 0);
    th_server_cleanup(&own);
    srv = saved;
    free(ta);
    free(tb);
}

/* ---- versions: updates exactly once, also after being offline ---- */

/* What a client has seen: messages by seq (in their latest state), how many
 * updates each seq got, and every other event in order. */
typedef struct {
    json_t *state;   /* {"seq": Message} */
    json_t *updates; /* {"seq": count} */
    json_t *others;  /* [event] */
} view_t;

static void view_init(view_t *v)
{
    v->state = json_object();
    v->updates = json_object();
    v->others = json_array();
}

static void view_dispose(view_t *v)
{
    json_decref(v->state);
    json_decref(v->updates);
    json_decref(v->others);
}

static void view_apply(view_t *v, json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "ev"));
    char key[32];
    if (strcmp(name, "message") == 0) {
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(ev, "seq")));
        json_t *m = json_deep_copy(ev);
        json_object_del(m, "ev");
        json_object_set_new(v->state, key, m);
    } else if (strcmp(name, "update") == 0) {
        json_t *m = json_object_get(ev, "message");
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(m, "seq")));
        /* The update's version is the message's. */
        assert_int_equal(json_integer_value(json_object_get(ev, "version")),
                         json_integer_value(json_object_get(m, "version")));
        json_object_set(v->state, key, m);
        json_object_set_new(v->updates, key,
                            json_integer(json_integer_value(json_object_get(v->updates, key)) + 1));
    } else {
        json_array_append(v->others, ev);
    }
}

/* Applies events until the message with seq `until` (0: none) is in the
 * view, then until none arrives for quiet_ms. */
static void view_collect(view_t *v, parley_client_t *c, int64_t until, int quiet_ms)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)until);
    while (until > 0 && json_object_get(v->state, key) == NULL) {
        json_t *ev = parley_wait_event(c, T_MS);
        if (ev == NULL)
            fail_msg("no event while waiting for seq %lld", (long long)until);
        view_apply(v, ev);
        json_decref(ev);
    }
    json_t *ev;
    while ((ev = parley_wait_event(c, quiet_ms)) != NULL) {
        view_apply(v, ev);
        json_decref(ev);
    }
}

static int64_t update_count(const view_t *v, int64_t seq)
{
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)seq);
    return json_integer_value(json_object_get(v->updates, key));
}

static void expect_same_json(const json_t *a, const json_t *b, const char *what)
{
    if (!json_equal((json_t *)a, (json_t *)b)) {
        char *ta = json_dumps(a, JSON_SORT_KEYS), *tb = json_dumps(b, JSON_SORT_KEYS);
        fail_msg("%s differ:\n%s\n%s", what, ta, tb);
    }
}

/* The state history reports: {"seq": Message}. */
static json_t *history_state(parley_client_t *c, const char *room)
{
    json_t *r =
        call_ok(c, json_pack("{s:s, s:s, s:i}", "op", "history", "room", room, "limit", 100));
    json_t *out = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "messages"), i, m)
    {
        char key[32];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(m, "seq")));
        json_object_set(out, key, m);
    }
    json_decref(r);
    return out;
}

static json_t *op_on(const char *op, const char *room, int64_t seq)
{
    return json_pack("{s:s, s:s, s:I}", "op", op, "room", room, "seq", (json_int_t)seq);
}

static void edit_text(parley_client_t *c, const char *room, int64_t seq, const char *body)
{
    json_t *req = op_on("edit", room, seq);
    json_object_set_new(req, "content", json_pack("{s:s, s:s}", "type", "text", "body", body));
    json_decref(call_ok(c, req));
}

/* Keeps only the events whose "ev" is one of the pass-through kinds. */
static json_t *pass_through_events(const json_t *others)
{
    static const char *const kinds[] = {"typing",   "receipt", "presence", "profile",
                                        "settings", "room",    "member"};
    json_t *out = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(others, i, ev)
    {
        const char *name = json_string_value(json_object_get(ev, "ev"));
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
            if (strcmp(name, kinds[k]) == 0)
                json_array_append(out, ev);
    }
    return out;
}

static const json_t *find_event(const json_t *events, const char *name)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "ev")), name) == 0)
            return ev;
    }
    fail_msg("no %s event", name);
    return NULL;
}

static void test_updates_offline_catch_up(void **state)
{
    (void)state;
    th_server_t own;
    th_server_start(&own, NULL);
    th_server_t saved = srv;
    srv = own;

    char an[64], bn[64], *buid = NULL;
    char *ta = new_user("upa", an, NULL), *tb = new_user("upb", bn, &buid);
    parley_client_t *a = connect_user(ta);
    char *room = create_dm(a, bn);
    send_text(a, room, "u1", "one");
    send_text(a, room, "u2", "two");
    send_text(a, room, "u3", "three");
    send_text(a, room, "u4", "four");
    send_text(a, room, "u5", "five");

    /* bob's second device catches up, then sees a live edit: version 1. */
    parley_client_t *off = connect_user(tb);
    parley_client_set_timing(off, 50, 1000, 20000);
    view_t voff;
    view_init(&voff);
    view_collect(&voff, off, 5, 100);
    assert_int_equal(parley_client_get_version(off, room), 0);
    edit_text(a, room, 5, "five, edited");
    view_collect(&voff, off, 0, 300);
    assert_int_equal(update_count(&voff, 5), 1);
    int64_t vbefore = parley_client_get_version(off, room);
    assert_int_equal(vbefore, 1);
    json_t *pos = parley_client_versions(off);
    assert_int_equal(json_integer_value(json_object_get(pos, room)), 1);
    json_decref(pos);

    /* The server restarts; `off` does not run its loop, so it stays offline
     * while alice and bob's live device change things. */
    parley_client_free(a);
    assert_int_equal(th_server_stop(&own), 0);
    th_server_restart(&own, NULL);
    a = connect_user(ta);
    parley_client_t *live = connect_user(tb);
    view_t vlive;
    view_init(&vlive);
    view_collect(&vlive, live, 5, 100);
    assert_int_equal(parley_client_get_version(live, room), 1); /* from message 5's version */

    edit_text(a, room, 1, "one, edited");  /* v2 */
    json_t *req = op_on("react", room, 2); /* v3 */
    json_object_set_new(req, "emoji", json_string("👍"));
    json_decref(call_ok(live, req));
    json_decref(call_ok(a, op_on("delete", room, 3))); /* v4 */
    req = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:i}", "op", "send", "room", room, "client_id",
                    "u6", "content", "type", "text", "body", "in the thread", "thread", 4);
    json_decref(call_ok(a, req));           /* seq 6, root 4 at v5 */
    send_text(a, room, "u7", "seven");      /* seq 7 */
    edit_text(a, room, 7, "seven, edited"); /* v6 */
    /* No-ops take no version and send nothing. */
    json_decref(call_ok(a, op_on("delete", room, 3)));

    /* The live device saw every change as it happened... */
    view_collect(&vlive, live, 7, 300);
    for (int64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(update_count(&vlive, seq), 1);
    assert_int_equal(update_count(&vlive, 7), 1);
    assert_int_equal(parley_client_get_version(live, room), 6);

    /* ...and the offline one, once it runs again, reconnects and gets one
     * update per changed message it had, and the new messages in their
     * current state (seven arrives edited: no update for it). */
    view_collect(&voff, off, 7, 500);
    assert_int_equal(parley_client_state(off), PARLEY_STATE_READY);
    for (int64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(update_count(&voff, seq), 1);
    assert_int_equal(update_count(&voff, 5), 1); /* the live one from before */
    assert_int_equal(update_count(&voff, 6), 0);
    assert_int_equal(update_count(&voff, 7), 0);
    assert_int_equal(parley_client_get_version(off, room), 6);
    assert_int_equal(parley_client_get_position(off, room), 7);

    /* Both devices end in the state the server reports. */
    json_t *hist = history_state(a, room);
    expect_same_json(voff.state, vlive.state, "offline and live device states");
    expect_same_json(voff.state, hist, "device and history states");
    json_decref(hist);
    json_t *m3 = json_object_get(voff.state, "3");
    assert_true(json_is_true(json_object_get(m3, "deleted")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(voff.state, "4"), "thread_count")), 1);

    /* Replayed updates (an explicit sync from version 0) are all dropped. */
    json_decref(call_ok(live, json_pack("{s:s, s:{s:{s:i, s:i}}}", "op", "sync", "since", room,
                                        "seq", 7, "version", 0)));
    json_t *ev = parley_wait_event(live, 300);
    if (ev != NULL)
        fail_msg("replayed event delivered: %s", json_dumps(ev, 0));

    /* Restored position and version (async API): exactly the updates after
     * version 1 for messages up to seq 5, then messages 6 and 7. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    parley_client_t *c = parley_client_new(&loop, srv.url);
    assert_non_null(c);
    assert_int_equal(parley_client_set_token(c, tb), PARLEY_OK);
    assert_int_equal(parley_client_set_position(c, room, 5), PARLEY_OK);
    assert_int_equal(parley_client_set_version(c, room, vbefore), PARLEY_OK);
    assert_int_equal(parley_client_set_version(c, room, -1), PARLEY_EINVAL);
    assert_int_equal(parley_client_set_version(c, NULL, 1), PARLEY_EINVAL);
    assert_int_equal(parley_client_get_version(c, room), vbefore);
    assert_int_equal(parley_client_get_version(c, "r999999"), 0);
    assert_int_equal(parley_client_connect(c), PARLEY_OK);
    parley_error_t err = {{0}, {0}, 0};
    expect_rc(parley_wait_ready(c, T_MS, &err), PARLEY_OK, &err);
    view_t vres;
    view_init(&vres);
    view_collect(&vres, c, 7, 200);
    for (int64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(update_count(&vres, seq), 1);
    assert_int_equal(update_count(&vres, 5), 0);
    assert_int_equal(json_object_size(vres.state), 6); /* updates 1-4, messages 6-7 */
    assert_int_equal(parley_client_get_version(c, room), 6);
    parley_client_free(c);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    view_dispose(&vres);

    /* Every other event passes through unchanged: both of bob's devices
     * receive the same frames. */
    view_collect(&voff, off, 0, 200);
    view_collect(&vlive, live, 0, 200);
    json_array_clear(voff.others);
    json_array_clear(vlive.others);
    json_decref(
        call_ok(a, json_pack("{s:s, s:s, s:b}", "op", "typing", "room", room, "typing", 1)));
    json_decref(call_ok(a, op_on("read", room, 7)));
    json_decref(
        call_ok(a, json_pack("{s:s, s:s}", "op", "profile_set", "display_name", "Alice A")));
    json_decref(call_ok(a, json_pack("{s:s, s:s}", "op", "presence", "status", "away")));
    json_decref(call_ok(
        live, json_pack("{s:s, s:{s:s}}", "op", "settings_set", "settings", "theme", "dark")));
    json_t *g = call_ok(a, json_pack("{s:s, s:s, s:s, s:[s]}", "op", "create_room", "kind", "group",
                                     "name", "pass", "members", bn));
    const char *gid = json_string_value(json_object_get(json_object_get(g, "room"), "id"));
    /* The creator owns the group: the last owner hands over before leaving
     * (issue 17); the other member is the one who is not a. */
    json_t *gm = json_object_get(json_object_get(g, "room"), "members");
    const char *other = NULL;
    for (size_t i = 0; i < json_array_size(gm); i++) {
        const char *uname = json_string_value(json_object_get(json_array_get(gm, i), "username"));
        if (uname != NULL && !strcmp(uname, bn))
            other = json_string_value(json_object_get(json_array_get(gm, i), "id"));
    }
    assert_non_null(other);
    json_decref(call_ok(a, json_pack("{s:s, s:s, s:s, s:s}", "op", "set_role", "room", gid, "user",
                                     other, "role", "owner")));
    json_decref(call_ok(a, json_pack("{s:s, s:s}", "op", "leave", "room", gid)));
    json_decref(g);
    view_collect(&voff, off, 0, 500);
    view_collect(&vlive, live, 0, 300);
    json_t *po = pass_through_events(voff.others), *pl = pass_through_events(vlive.others);
    const json_t *typing = find_event(po, "typing");
    assert_string_equal(json_string_value(json_object_get(typing, "room")), room);
    assert_true(json_is_true(json_object_get(typing, "typing")));
    assert_int_equal(json_integer_value(json_object_get(find_event(po, "receipt"), "read_seq")), 7);
    const json_t *prof = json_object_get(find_event(po, "profile"), "user");
    assert_string_equal(json_string_value(json_object_get(prof, "display_name")), "Alice A");
    assert_string_equal(json_string_value(json_object_get(find_event(po, "presence"), "status")),
                        "away");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(find_event(po, "settings"), "settings"), "theme")),
                        "dark");
    find_event(po, "room");
    /* The handover (issue 17: a `role` member event), then the leave. */
    assert_string_equal(json_string_value(json_object_get(find_event(po, "member"), "action")),
                        "role");
    bool left = false;
    size_t ei;
    json_t *mev;
    json_array_foreach(po, ei, mev)
    {
        left |= !strcmp(json_string_value(json_object_get(mev, "ev")), "member") &&
                !strcmp(json_string_value(json_object_get(mev, "action")), "leave");
    }
    assert_true(left);
    expect_same_json(po, pl, "pass-through events on two devices");
    json_decref(po);
    json_decref(pl);

    view_dispose(&voff);
    view_dispose(&vlive);
    parley_client_free(off);
    parley_client_free(live);
    parley_client_free(a);
    th_server_stop(&own);
    th_server_cleanup(&own);
    srv = saved;
    free(room);
    free(ta);
    free(tb);
    free(buid);
}

/* ---- CLI ---- */

/* Runs the CLI with XDG_CONFIG_HOME=home; stdout into out (may be NULL).
 * Returns the exit status. */
static int run_cli(const char *home, const char *stdin_text, char *out, size_t cap, const char *fmt,
                   ...)
{
    const char *cli = getenv("PARLEY_CLI");
    if (cli == NULL)
        fail_msg("PARLEY_CLI is not set");
    char args[2048], cmd[4096], infile[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(infile, sizeof(infile), "%s/stdin.txt", home);
    FILE *f = fopen(infile, "w");
    assert_non_null(f);
    fputs(stdin_text ? stdin_text : "", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "env -u PARLEY_PASSWORD XDG_CONFIG_HOME='%s' '%s' --server %s %s < '%s/stdin.txt' "
             "2>'%s/stderr.txt'",
             home, cli, srv.url, args, home, home);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0;
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), p)) > 0) {
        if (out && n + r < cap) {
            memcpy(out + n, tmp, r);
            n += r;
        }
    }
    if (out)
        out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs `parley tail ROOM` until it reports (on stderr) that it caught up and
 * follows live, then stops it with SIGINT. Returns the exit status with
 * stdout in out. No timing: it waits for that line (30 s at most). */
static int run_tail(const char *home, const char *room, char *out, size_t cap)
{
    int o[2], e[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        setenv("XDG_CONFIG_HOME", home, 1);
        execl(getenv("PARLEY_CLI"), "parley", "--server", srv.url, "tail", room, (char *)NULL);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    char err[4096] = "";
    size_t elen = 0;
    int64_t deadline = now_ms() + 30000;
    while (strstr(err, "following") == NULL && now_ms() < deadline) {
        struct pollfd p = {.fd = e[0], .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t r = read(e[0], err + elen, sizeof(err) - 1 - elen);
            if (r <= 0)
                break;
            elen += (size_t)r;
            err[elen] = '\0';
        }
    }
    if (strstr(err, "following") == NULL)
        fail_msg("parley tail never caught up; stderr: %s", err);
    kill(pid, SIGINT);
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(o[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(o[0]);
    close(e[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A tail that is stopped and started again prints what arrived in between,
 * once, in order: the CLI's offline catch-up. */
static void test_cli_tail_resumes(void **state)
{
    (void)state;
    char ha[] = "/tmp/parley-tail-a-XXXXXX", hb[] = "/tmp/parley-tail-b-XXXXXX";
    assert_non_null(mkdtemp(ha));
    assert_non_null(mkdtemp(hb));
    char an[64], bn[64], out[8192], room[64];
    th_unique_name("taila", an, sizeof(an));
    th_unique_name("tailb", bn, sizeof(bn));
    assert_int_equal(run_cli(ha, PW "\n", out, sizeof(out), "register %s", an), 0);
    assert_int_equal(run_cli(hb, PW "\n", out, sizeof(out), "register %s", bn), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "dm %s", bn), 0);
    assert_int_equal(sscanf(out, "%63s", room), 1);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s before", room), 0);

    /* First tail starts at "now": nothing old is printed. */
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    assert_null(strstr(out, "before"));
    /* While bob's tail is stopped, alice sends two messages. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s away one", room), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s away two", room), 0);
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    char *one = strstr(out, "[2] "), *two = strstr(out, "[3] ");
    assert_non_null(one);
    assert_non_null(two);
    assert_true(one < two);
    assert_non_null(strstr(one, "away one"));
    assert_null(strstr(two + 1, "[3] ")); /* once */
    assert_null(strstr(out, "before"));
    /* And a third run has nothing new. */
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    assert_null(strstr(out, "away"));

    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", ha, hb);
    assert_int_equal(system(rm), 0);
}

static void test_cli_end_to_end(void **state)
{
    (void)state;
    char ha[] = "/tmp/parley-cli-a-XXXXXX", hb[] = "/tmp/parley-cli-b-XXXXXX";
    assert_non_null(mkdtemp(ha));
    assert_non_null(mkdtemp(hb));
    char an[64], bn[64], out[8192], path[400];
    th_unique_name("clia", an, sizeof(an));
    th_unique_name("clib", bn, sizeof(bn));

    /* Password from stdin (not a tty). */
    assert_int_equal(run_cli(ha, PW "\n", out, sizeof(out), "register %s --display Alice", an), 0);
    assert_non_null(strstr(out, an));
    assert_int_equal(run_cli(hb, PW "\n", out, sizeof(out), "register %s", bn), 0);

    struct stat st;
    snprintf(path, sizeof(path), "%s/parley/session.json", ha);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/parley", ha);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "whoami"), 0);
    assert_non_null(strstr(out, an));

    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "dm %s", bn), 0);
    char room[64];
    assert_int_equal(sscanf(out, "%63s", room), 1);
    assert_int_equal(room[0], 'r');

    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s hello from the cli", room), 0);
    assert_non_null(strstr(out, "[1] "));
    assert_int_equal(run_cli(hb, "piped text\n", out, sizeof(out), "send @%s", an), 0);
    assert_non_null(strstr(out, "[2] "));

    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s", room), 0);
    char want[200];
    snprintf(want, sizeof(want), "%s: hello from the cli", an);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "%s: piped text", bn);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "[1] "));

    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "--json history @%s --limit 1", an), 0);
    json_t *arr = json_loads(out, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);

    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "rooms"), 0);
    assert_non_null(strstr(out, room));
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "read %s 2", room), 0);

    /* Errors: server code on stderr and exit 1; usage errors exit 2. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send r99999999 nope"), 1);
    snprintf(path, sizeof(path), "%s/stderr.txt", ha);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char err[512] = "";
    size_t n = fread(err, 1, sizeof(err) - 1, f);
    err[n] = '\0';
    fclose(f);
    assert_non_null(strstr(err, "parley: "));
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "frobnicate"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "history"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "--version"), 0);
    assert_non_null(strstr(out, "parley "));

    /* Logout forgets the session. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "logout"), 0);
    snprintf(path, sizeof(path), "%s/parley/session.json", ha);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "whoami"), 1);

    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", ha, hb);
    assert_int_equal(system(rm), 0);
}

/* The CLI's last stderr (run_cli writes it to HOME/stderr.txt). */
static void cli_stderr(const char *home, char *buf, size_t cap)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/stderr.txt", home);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Expects `out` to contain the printf-formatted text. */
static void expect_has(const char *out, const char *fmt, ...)
{
    char want[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    if (strstr(out, want) == NULL)
        fail_msg("expected \"%s\" in:\n%s", want, out);
}

/* A 3x2 RGB PNG. */
static const unsigned char tiny_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12,
    0x16, 0xf1, 0x4d, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
    0xcf, 0xc0, 0x00, 0x41, 0x0c, 0x70, 0x16, 0x00, 0x41, 0xd2, 0x05, 0xfb, 0x87, 0xf0, 0xb9,
    0x48, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole (small) file into buf; returns its length. */
static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* upload (file and photo), media lines in history, download with -o, errors. */
static void test_cli_media(void **state)
{
    (void)state;
    char ha[] = "/tmp/parley-media-a-XXXXXX", hb[] = "/tmp/parley-media-b-XXXXXX";
    assert_non_null(mkdtemp(ha));
    assert_non_null(mkdtemp(hb));
    char an[64], bn[64], out[8192], err[2048], room[64], path[400], dst[400];
    th_unique_name("mda", an, sizeof(an));
    th_unique_name("mdb", bn, sizeof(bn));
    assert_int_equal(run_cli(ha, PW "\n", out, sizeof(out), "register %s", an), 0);
    assert_int_equal(run_cli(hb, PW "\n", out, sizeof(out), "register %s", bn), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "dm %s", bn), 0);
    assert_int_equal(sscanf(out, "%63s", room), 1);

    static const char text[] = "hello media world\nline 2\n";
    snprintf(path, sizeof(path), "%s/notes.txt", ha);
    write_file(path, text, sizeof(text) - 1);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "upload %s '%s'", room, path), 0);
    char fid[32];
    const char *p = strstr(out, "[file f");
    if (p == NULL)
        fail_msg("no file line in: %s", out);
    assert_int_equal(sscanf(p, "[file %31s", fid), 1);
    expect_has(out, "[file %s notes.txt %zu B]", fid, sizeof(text) - 1);

    snprintf(path, sizeof(path), "%s/pixel.png", ha);
    write_file(path, tiny_png, sizeof(tiny_png));
    assert_int_equal(
        run_cli(ha, NULL, out, sizeof(out), "upload @%s '%s' --caption 'tiny pic'", bn, path), 0);
    expect_has(out, "3x2] tiny pic");
    expect_has(out, "[photo f");

    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s", room), 0);
    expect_has(out, "%s: [file %s notes.txt %zu B]", an, fid, sizeof(text) - 1);
    expect_has(out, "%s: [photo f", an);
    expect_has(out, " 3x2] tiny pic");

    /* A sticker made of the photo (sent through libparley with a's saved
     * session): history prints it with its shortcode. */
    const char *pid = strstr(out, "[photo ");
    char photo[32];
    assert_int_equal(sscanf(pid, "[photo %31s", photo), 1);
    snprintf(path, sizeof(path), "%s/parley/session.json", ha);
    json_t *sess = json_load_file(path, 0, NULL);
    assert_non_null(sess);
    parley_client_t *ca = connect_user(json_string_value(json_object_get(sess, "token")));
    json_decref(call_ok(ca, json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "op", "send", "room", room,
                                      "client_id", "cli-sticker", "content", "type", "sticker",
                                      "media", photo, "emoji", "tiny_pic")));
    parley_client_free(ca);
    json_decref(sess);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s", room), 0);
    expect_has(out, "%s: [sticker %s :tiny_pic:]", an, photo);

    /* The other member downloads the file: identical bytes. */
    snprintf(dst, sizeof(dst), "%s/got.txt", hb);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "download %s -o '%s'", fid, dst), 0);
    char got[256];
    size_t n = read_file(dst, got, sizeof(got));
    assert_int_equal(n, sizeof(text) - 1);
    assert_memory_equal(got, text, n);
    /* -o given explicitly replaces an existing file. */
    write_file(dst, "old", 3);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "download %s -o '%s'", fid, dst), 0);
    n = read_file(dst, got, sizeof(got));
    assert_int_equal(n, sizeof(text) - 1);
    assert_memory_equal(got, text, n);

    /* Without -o: the server's name in the current directory, never
     * overwritten. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(hb), 0);
    int r1 = run_cli(hb, NULL, out, sizeof(out), "download %s", fid);
    int r2 = run_cli(hb, NULL, NULL, 0, "download %s", fid);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r1, 0);
    expect_has(out, "saved notes.txt");
    assert_int_equal(r2, 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: file_exists: ");
    snprintf(dst, sizeof(dst), "%s/notes.txt", hb);
    n = read_file(dst, got, sizeof(got));
    assert_int_equal(n, sizeof(text) - 1);
    assert_memory_equal(got, text, n);

    /* Unknown id: not_found, exit 1, nothing written. */
    snprintf(dst, sizeof(dst), "%s/nope.bin", hb);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "download f999999999 -o '%s'", dst), 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: not_found: ");
    struct stat st;
    assert_int_not_equal(stat(dst, &st), 0);

    /* Usage errors exit 2; a missing local file is an error (1). */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "upload %s", room), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "download"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "upload %s /nonexistent/x", room), 1);

    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", ha, hb);
    assert_int_equal(system(rm), 0);
}

/* react, edit, delete, search, profile, reply and thread markers in history,
 * and changes printed by a resumed tail. */
static void test_cli_conversation(void **state)
{
    (void)state;
    char ha[] = "/tmp/parley-conv-a-XXXXXX", hb[] = "/tmp/parley-conv-b-XXXXXX";
    assert_non_null(mkdtemp(ha));
    assert_non_null(mkdtemp(hb));
    char an[64], bn[64], out[16384], err[2048], room[64];
    th_unique_name("cva", an, sizeof(an));
    th_unique_name("cvb", bn, sizeof(bn));
    assert_int_equal(run_cli(ha, PW "\n", out, sizeof(out), "register %s", an), 0);
    assert_int_equal(run_cli(hb, PW "\n", out, sizeof(out), "register %s", bn), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "dm %s", bn), 0);
    assert_int_equal(sscanf(out, "%63s", room), 1);

    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s hello world", room), 0);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "send %s --reply 1 sure thing", room), 0);
    expect_has(out, "[2] ");
    expect_has(out, "(↪ %s: hello world) sure thing", an);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "send %s --thread 1 in the thread", room),
                     0);
    expect_has(out, "[3] ");
    expect_has(out, "[thread 1] in the thread");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s doomed message", room), 0);
    expect_has(out, "[4] ");

    /* edit: own messages only. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "edit %s 1 hello there", room), 0);
    expect_has(out, "[1] ");
    expect_has(out, "hello there (edited)");
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "edit %s 1 not mine", room), 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: forbidden: ");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "edit %s 99 nope", room), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "parley: not_found: ");

    /* react: counts, --remove, bad emoji. */
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "react %s 1 👍", room), 0);
    expect_has(out, "👍 1");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 1 👍", room), 0);
    expect_has(out, "👍 2");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 1 ❤️", room), 0);
    expect_has(out, "👍 2  ❤️ 1");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 1 ❤️ --remove", room), 0);
    assert_null(strstr(out, "❤️"));
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 1 notanemoji", room), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "parley: bad_request: ");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 99 👍", room), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "parley: not_found: ");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "--json react %s 2 🎉", room), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_true(json_is_object(j));
    assert_int_equal(json_array_size(json_object_get(j, "reactions")), 1);
    json_decref(j);

    /* delete: own messages only; the tombstone keeps its seq. */
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "delete %s 4", room), 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: forbidden: ");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "delete %s 4", room), 0);
    expect_has(out, "[4] ");
    expect_has(out, "[deleted]");

    /* history shows every marker. */
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s", room), 0);
    expect_has(out, "%s: hello there (edited)  👍 2  🧵 1 reply", an);
    /* The server renders the quote from the original's current text. */
    expect_has(out, "(↪ %s: hello there) sure thing  🎉 1", an);
    expect_has(out, "%s: [thread 1] in the thread", bn);
    expect_has(out, "%s: [deleted]", an);
    assert_null(strstr(out, "doomed"));
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s --after 2 --limit 1", room),
                     0);
    expect_has(out, "[3] ");
    assert_null(strstr(out, "[4] "));

    /* search: current text only, deleted messages never match. */
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "search hello there"), 0);
    expect_has(out, "%s [1] ", room);
    expect_has(out, "%s: hello there (edited)", an);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "search doomed"), 0);
    assert_string_equal(out, "");
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "search th --room %s --limit 1", room), 0);
    expect_has(out, "[3] "); /* newest first: "thread" */
    assert_null(strstr(out, "[1] "));
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "--json search thing"), 0);
    j = json_loads(out, 0, NULL);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "search hello --room r99999999"), 1);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "search --limit 3"), 2);

    /* profile: set, show own, show someone else's. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out),
                             "profile set --display 'Alice X' --bio 'likes tea' --status around"),
                     0);
    expect_has(out, "display name: Alice X");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "profile"), 0);
    expect_has(out, "%s (u", an);
    expect_has(out, "status: around");
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "profile @%s", an), 0);
    expect_has(out, "bio: likes tea");
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "--json profile %s", an), 0);
    j = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "display_name")), "Alice X");
    json_decref(j);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "profile nosuchuser0000"), 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: user_not_found: ");
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "profile set --display ''"), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "parley: bad_request: ");

    /* Usage errors exit 2; --help lists the commands. */
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 1", room), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "edit %s x text", room), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "delete %s", room), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "search"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "profile set"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "profile set --mood x"), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "--help"), 0);
    expect_has(out, "react ROOM SEQ EMOJI [--remove]");
    expect_has(out, "profile set [--display NAME]");

    /* tail: a resumed tail prints the changes made while it was stopped. */
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "edit %s 1 hello again", room), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "react %s 2 ❤️", room), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "send %s fresh one", room), 0);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "delete %s 5", room), 0);
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    expect_has(out, "[1] edited: hello again");
    expect_has(out, "[2] reactions: 🎉 1  ❤️ 1");
    expect_has(out, "[5] ");
    expect_has(out, "[deleted]"); /* message 5 arrives as a tombstone */
    assert_null(strstr(out, "fresh one"));
    /* Each change once: nothing new on the next run. */
    assert_int_equal(run_tail(hb, room, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", ha, hb);
    assert_int_equal(system(rm), 0);
}

/* ---- the CLI's command table ---- */

/* The commands `parley --help` lists, in its order. */
static const char *const cli_command_names[] = {
    "register",       "login",    "logout",         "whoami", "rooms",   "dm",
    "group",          "invite",   "invites",        "join",   "decline", "leave",
    "send",           "history",  "tail",           "read",   "react",   "edit",
    "delete",         "upload",   "download",       "search", "profile", "profile set",
    "webhook create", "webhooks", "webhook revoke",
};

/* Runs the CLI; expects exit code want and, when err_want is not NULL, that
 * text in its stderr. */
static void expect_cli(const char *home, int want, const char *err_want, const char *args)
{
    char out[8192], err[2048];
    int rc = run_cli(home, NULL, out, sizeof(out), "%s", args);
    cli_stderr(home, err, sizeof(err));
    if (rc != want)
        fail_msg("parley %s: exit %d, want %d; stderr: %s", args, rc, want, err);
    if (err_want != NULL)
        expect_has(err, "%s", err_want);
}

/* Help, usage errors and argument shapes all come from one table: every
 * command is listed and accepted, unknown ones and wrong argument counts are
 * usage errors (exit 2) found before anything needs a login. */
static void test_cli_command_table(void **state)
{
    (void)state;
    char home[] = "/tmp/parley-cli-tbl-XXXXXX";
    assert_non_null(mkdtemp(home));
    char out[8192];

    /* --help lists exactly the commands, in order, each with its synopsis
     * on the same line; each listed name is a command (NAME --help is the
     * help, an unknown NAME is a usage error). */
    assert_int_equal(run_cli(home, NULL, out, sizeof(out), "--help"), 0);
    const char *p = strstr(out, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    size_t n = 0, want = sizeof(cli_command_names) / sizeof(cli_command_names[0]);
    while (*p != '\n' && *p != '\0') {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol);
        if (strncmp(p, "  ", 2) == 0 && p[2] != ' ') {
            assert_true(n < want);
            size_t len = strlen(cli_command_names[n]);
            if (strncmp(p + 2, cli_command_names[n], len) != 0 ||
                (p[2 + len] != ' ' && p[2 + len] != '\n'))
                fail_msg("help entry %zu is not %s: %.*s", n, cli_command_names[n], (int)(eol - p),
                         p);
            n++;
        }
        p = eol + 1;
    }
    assert_int_equal(n, want);
    for (size_t i = 0; i < want; i++) {
        char args[64];
        snprintf(args, sizeof(args), "%s --help", cli_command_names[i]);
        expect_cli(home, 0, NULL, args);
    }

    /* Unknown commands and options. */
    expect_cli(home, 2, "parley: unknown command frobnicate\nTry 'parley --help'.", "frobnicate");
    expect_cli(home, 2, "parley: unknown command frobnicate", "frobnicate --help");
    expect_cli(home, 2, "parley: unknown option --frob", "--frob whoami");
    expect_cli(home, 2, "parley: history: unknown option --frob", "history r1 --frob");
    expect_cli(home, 2, "parley: profile set: unknown option --mood", "profile set --mood x");

    /* Too few and too many arguments, by the table; no session is stored in
     * home, so reaching the server would exit 1. */
    expect_cli(home, 2, "parley: dm: expected USER", "dm");
    expect_cli(home, 2, "parley: dm: unexpected argument c", "dm b c");
    expect_cli(home, 2, "parley: whoami: unexpected argument x", "whoami x");
    expect_cli(home, 2, "parley: rooms: unexpected argument x", "rooms x");
    expect_cli(home, 2, "parley: login: expected USER", "login");
    expect_cli(home, 2, "parley: read: expected ROOM SEQ", "read r1");
    expect_cli(home, 2, "parley: read: unexpected argument 3", "read r1 2 3");
    expect_cli(home, 2, "parley: invite: expected ROOM USER...", "invite r1");
    expect_cli(home, 2, "parley: join: unexpected argument r2", "join r1 r2");
    expect_cli(home, 2, "parley: upload: expected ROOM FILE", "upload r1");
    expect_cli(home, 2, "parley: profile: unexpected argument b", "profile a b");
    expect_cli(home, 2, "parley: search: expected QUERY...", "search --limit 3");

    /* Argument and option values, by their kind. */
    expect_cli(home, 2, "parley: react: expected ROOM SEQ EMOJI", "react r1 0 x");
    expect_cli(home, 2, "parley: edit: expected ROOM SEQ TEXT...", "edit r1 one two");
    expect_cli(home, 2, "parley: history: bad --limit -1", "history r1 --limit -1");
    expect_cli(home, 2, "parley: history: --limit needs a value", "history r1 --limit");
    expect_cli(home, 2, "parley: send: bad --reply 0", "send r1 --reply 0 hi");
    expect_cli(home, 2, "parley: download: empty -o", "download f1 -o ''");
    /* Well-formed: it gets as far as needing a login. */
    expect_cli(home, 1, "parley: unauthenticated: ", "read r1 0");
    expect_cli(home, 1, "parley: unauthenticated: ", "send r1 --reply 1 hi --reply");
    expect_cli(home, 1, "parley: unauthenticated: ", "edit r1 1 --not-an-option");
    expect_cli(home, 1, "parley: unauthenticated: ", "profile set --bio x");

    char rm[400];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", home);
    assert_int_equal(system(rm), 0);
}

/* ---- groups and invitations: libparley builders and the CLI ---- */

/* Waits for the next event named name (others skipped); owned. */
static json_t *next_event(parley_client_t *c, const char *name)
{
    for (;;) {
        json_t *ev = parley_wait_event(c, T_MS);
        if (ev == NULL)
            fail_msg("no %s event", name);
        const char *n = json_string_value(json_object_get(ev, "ev"));
        if (n && strcmp(n, name) == 0)
            return ev;
        json_decref(ev);
    }
}

static void test_invitations_lib(void **state)
{
    (void)state;
    char an[64], bn[64];
    char *ta = new_user("lia", an, NULL), *tb = new_user("lib", bn, NULL);
    parley_client_t *a = connect_user(ta), *b = connect_user(tb);
    json_decref(call_ok(
        b, json_pack("{s:s, s:{s:s}}", "op", "settings_set", "settings", "group_add", "nobody")));
    const char *users[] = {bn};
    json_t *r = call_ok(a, parley_req_create_group("lib team", users, 1));
    char *g = strdup(json_string_value(json_object_get(json_object_get(r, "room"), "id")));
    assert_int_equal(1, json_array_size(json_object_get(r, "invited")));
    json_decref(r);
    /* The invitation reaches b live, and through `invites`. */
    json_t *ev = next_event(b, "invite");
    assert_string_equal("add", json_string_value(json_object_get(ev, "action")));
    assert_string_equal(g,
                        json_string_value(json_object_get(json_object_get(ev, "invite"), "room")));
    json_decref(ev);
    r = call_ok(b, parley_req_invites());
    assert_int_equal(1, json_array_size(json_object_get(r, "invites")));
    json_decref(r);
    /* Not a member yet: join accepts; then b reads and sends. */
    json_t *reply = NULL;
    parley_error_t err = {{0}, {0}, 0};
    json_t *hist = json_pack("{s:s, s:s}", "op", "history", "room", g);
    expect_rc(parley_call(b, hist, &reply, T_MS, &err), PARLEY_ESERVER, &err);
    assert_string_equal("forbidden", err.code);
    r = call_ok(b, parley_req_join(g));
    json_decref(r);
    send_text(b, g, "lib-1", "thanks for the invite");
    json_decref(call_ok(b, parley_req_leave(g)));
    /* Left: a rejoin needs a new invitation; a declined one is gone. */
    expect_rc(parley_call(b, parley_req_join(g), &reply, T_MS, &err), PARLEY_ESERVER, &err);
    assert_string_equal("forbidden", err.code);
    r = call_ok(a, parley_req_invite(g, users, 1));
    assert_int_equal(1, json_array_size(json_object_get(r, "invited")));
    json_decref(r);
    json_decref(call_ok(b, parley_req_decline(g)));
    expect_rc(parley_call(b, parley_req_decline(g), &reply, T_MS, &err), PARLEY_ESERVER, &err);
    assert_string_equal("not_found", err.code);
    /* Builders refuse what cannot be a request. */
    assert_null(parley_req_join(NULL));
    assert_null(parley_req_join(""));
    assert_null(parley_req_invite(g, users, 0));
    free(g);
    parley_client_free(a);
    parley_client_free(b);
    free(ta);
    free(tb);
}

static void test_cli_invitations(void **state)
{
    (void)state;
    char ha[] = "/tmp/parley-cli-ia-XXXXXX", hb[] = "/tmp/parley-cli-ib-XXXXXX";
    assert_non_null(mkdtemp(ha));
    assert_non_null(mkdtemp(hb));
    char an[64], bn[64], out[8192], err[2048];
    th_unique_name("cia", an, sizeof(an));
    th_unique_name("cib", bn, sizeof(bn));
    assert_int_equal(run_cli(ha, PW "\n", out, sizeof(out), "register %s", an), 0);
    assert_int_equal(run_cli(hb, PW "\n", out, sizeof(out), "register %s", bn), 0);
    /* b asks to be invited rather than added (the setting over libparley:
     * the CLI has no settings command). */
    char *tb = NULL;
    parley_error_t perr = {{0}, {0}, 0};
    expect_rc(parley_login(srv.url, bn, PW, NULL, &tb, NULL, &perr), PARLEY_OK, &perr);
    parley_client_t *b = connect_user(tb);
    json_decref(call_ok(
        b, json_pack("{s:s, s:{s:s}}", "op", "settings_set", "settings", "group_add", "nobody")));
    parley_client_free(b);
    free(tb);

    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "group friends @%s", bn), 0);
    char room[64];
    assert_int_equal(sscanf(out, "%63s", room), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "invited (they accept with 'parley join'): @%s", bn);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "invites"), 0);
    expect_has(out, "%s\tfriends\t@%s\t1 members", room, an);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "history %s", room), 1);
    cli_stderr(hb, err, sizeof(err));
    expect_has(err, "parley: forbidden: ");
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "join %s", room), 0);
    expect_has(out, "%s\n", room);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "invites"), 0);
    assert_string_equal("", out);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "leave %s", room), 0);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "join %s", room), 1);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "invite %s %s", room, bn), 0);
    expect_has(out, "invited: @%s", bn);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "decline %s", room), 0);
    assert_int_equal(run_cli(hb, NULL, out, sizeof(out), "invites"), 0);
    assert_string_equal("", out);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "invite %s", room), 2);
    assert_int_equal(run_cli(ha, NULL, out, sizeof(out), "invite %s nosuchuser1", room), 1);
    cli_stderr(ha, err, sizeof(err));
    expect_has(err, "parley: user_not_found: ");
    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s' '%s'", ha, hb);
    assert_int_equal(system(rm), 0);
}

static int setup(void **state)
{
    (void)state;
    static const char *const dbg[] = {"log_level=trace", NULL};
    th_server_start(&srv, getenv("TEST_SERVER_TRACE") ? dbg : NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_dm_live_both_ways),
        cmocka_unit_test(test_dedupe_and_gap),
        cmocka_unit_test(test_three_clients_one_loop),
        cmocka_unit_test(test_reconnect_exactly_once),
        cmocka_unit_test(test_reconnect_many_rooms),
        cmocka_unit_test(test_refused_sync_and_rooms),
        cmocka_unit_test(test_updates_offline_catch_up),
        cmocka_unit_test(test_cli_end_to_end),
        cmocka_unit_test(test_cli_tail_resumes),
        cmocka_unit_test(test_cli_conversation),
        cmocka_unit_test(test_cli_media),
        cmocka_unit_test(test_invitations_lib),
        cmocka_unit_test(test_cli_invitations),
        cmocka_unit_test(test_cli_command_table),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
