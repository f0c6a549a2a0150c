/* SPDX-License-Identifier: MIT */
/* test_calls.c -- call signalling (issue 19) against the real parleyd over
 * raw sockets: a 1:1 call over two devices of the callee (the one that
 * answers wins), signals relayed to the right device only, hang up and the
 * history message; decline, a missed call by timeout, a disconnect mid-call;
 * group calls (mesh, join/leave, the participant limit); every bad input
 * (strangers, calls that are not yours, oversized SDP, unknown ids); floods
 * (rate limit, per-call signal cap, the global call cap); TURN credentials. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

#define TURN_SECRET "it-turn-secret"

static th_server_t srv;
static const char *const server_settings[] = {
    "sweep_interval_ms=100",
    "call_ring_timeout_ms=1500",
    "call_max_signals=100",
    "call_max_calls=4",
    "rate_limit_per_sec=100000",
    "turn_secret=" TURN_SECRET,
    "turn_urls=turn:127.0.0.1:3478?transport=udp, turns:127.0.0.1:5349",
    "stun_urls=stun:127.0.0.1:3478",
    "turn_ttl_s=300",
    NULL};

/* ---- helpers ---- */

static char *dm_with(int fd, const th_user_t *other)
{
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", other->name);
    return th_room_create(fd, "dm", members, NULL);
}

/* call_invite; returns the call id (free()). */
static char *invite(int fd, const char *room, const char *kind)
{
    json_t *r = th_call(fd, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"%s\"", room, kind);
    th_expect_ok(r);
    char *id = strdup(th_jstr(r, "call"));
    json_decref(r);
    assert_int_equal(17, strlen(id));
    return id;
}

static void ok_call(int fd, const char *op, const char *call)
{
    json_t *r = th_call(fd, "\"op\":\"%s\",\"call\":\"%s\"", op, call);
    th_expect_ok(r);
    json_decref(r);
}

static void err_call(int fd, const char *op, const char *call, const char *code)
{
    th_expect_err(th_call(fd, "\"op\":\"%s\",\"call\":\"%s\"", op, call), code);
}

static json_t *signal_req(int fd, const char *call, const char *to, const char *sig)
{
    char tobuf[64] = "";
    if (to != NULL)
        snprintf(tobuf, sizeof tobuf, ",\"to\":\"%s\"", to);
    return th_call(fd, "\"op\":\"call_signal\",\"call\":\"%s\"%s,\"signal\":%s", call, tobuf, sig);
}

/* The next event, whatever it is (owned). */
static json_t *th_next_event_any(int fd)
{
    static char buf[1 << 16];
    for (;;) {
        if (th_ws_recv_text(fd, buf, sizeof buf, 5000) < 0)
            fail_msg("no event");
        json_t *j = th_json_parse(buf);
        if (json_object_get(j, "ev") != NULL)
            return j;
        json_decref(j);
    }
}

/* The next event ev of this call (events of earlier calls are skipped). */
static json_t *call_ev(int fd, const char *ev, const char *call)
{
    for (int i = 0; i < 50; i++) {
        json_t *e = th_next_event(fd, ev);
        if (strcmp(call, th_jstr(e, "call")) == 0)
            return e;
        json_decref(e);
    }
    fail_msg("no %s event of %s", ev, call);
    return NULL;
}

static void expect_call_ev(int fd, const char *ev, const char *call)
{
    json_decref(call_ev(fd, ev, call));
}

/* A second device of u: a login of its own (a token, a device id). */
static void other_device(const th_user_t *u, th_user_t *out)
{
    char body[256], resp[1024];
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"correct horse\",\"device_name\":\"two\"}",
             u->name);
    assert_int_equal(200, th_http(srv.port, "POST", "/v1/login", NULL, body, resp, sizeof resp));
    json_t *j = th_json_parse(resp);
    *out = *u;
    snprintf(out->token, sizeof out->token, "%s", th_jstr(j, "token"));
    json_decref(j);
}

/* The next `message` event must be a call's history: returns its content
 * (owned). */
static json_t *history_event(int fd, const char *call, const char *outcome)
{
    json_t *c = NULL;
    for (int i = 0; i < 50 && c == NULL; i++) {
        json_t *e = th_next_event(fd, "message");
        json_t *ct = json_object_get(e, "content");
        const char *cid = json_string_value(json_object_get(ct, "call"));
        if (cid != NULL && strcmp(cid, call) == 0)
            c = json_incref(ct);
        json_decref(e);
    }
    assert_non_null(c);
    assert_string_equal("call", th_jstr(c, "type"));
    assert_string_equal(call, th_jstr(c, "call"));
    assert_string_equal(outcome, th_jstr(c, "outcome"));
    return c;
}

/* ---- tests ---- */

/* A calls B, who has two devices: both ring, the second answers, the first
 * is told; signals go between A's device and B's answering device only;
 * A hangs up: both end, the history message says ended with a duration and
 * is there after a reconnect. */
static void test_dm_call(void **state)
{
    (void)state;
    th_user_t a, b, b2;
    th_new_user(&a, "ca");
    th_new_user(&b, "cb");
    other_device(&b, &b2);
    int fa = th_ws_login(&a), fb1 = th_ws_login(&b), fb2 = th_ws_login(&b2);
    char *room = dm_with(fa, &b);
    char *call = invite(fa, room, "video");
    json_t *e = th_next_event(fb1, "call_invite");
    assert_string_equal(call, th_jstr(e, "call"));
    assert_string_equal(a.id, th_jstr(e, "from"));
    assert_string_equal("video", th_jstr(e, "kind"));
    assert_string_equal(room, th_jstr(e, "room"));
    json_decref(e);
    expect_call_ev(fb2, "call_invite", call);
    ok_call(fb1, "call_ring", call);
    e = th_next_event(fa, "call_ringing");
    assert_string_equal(b.id, th_jstr(e, "user"));
    json_decref(e);
    /* The caller cannot answer or decline its own call. */
    err_call(fa, "call_answer", call, "bad_call_state");
    err_call(fa, "call_reject", call, "bad_call_state");
    /* No signalling before the answer. */
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"offer\",\"sdp\":\"v=0\"}"),
                  "not_in_call");
    ok_call(fb2, "call_answer", call);
    expect_call_ev(fa, "call_answered", call);
    expect_call_ev(fb1, "call_answered", call); /* stop ringing */
    err_call(fb1, "call_answer", call, "bad_call_state");
    /* A's offer reaches B's second device, not the first. */
    json_t *r = signal_req(fa, call, NULL, "{\"type\":\"offer\",\"sdp\":\"v=0 offer\"}");
    th_expect_ok(r);
    assert_true(json_is_true(json_object_get(r, "delivered")));
    json_decref(r);
    e = th_next_event(fb2, "call_signal");
    assert_string_equal(a.id, th_jstr(e, "from"));
    assert_string_equal("v=0 offer", th_jstr(json_object_get(e, "signal"), "sdp"));
    json_decref(e);
    th_expect_ok(r = signal_req(fb2, call, a.id, "{\"type\":\"answer\",\"sdp\":\"v=0 answer\"}"));
    json_decref(r);
    e = th_next_event(fa, "call_signal");
    assert_string_equal("answer", th_jstr(json_object_get(e, "signal"), "type"));
    json_decref(e);
    th_expect_ok(r = signal_req(fb2, call, NULL,
                                "{\"type\":\"candidate\",\"candidate\":{\"candidate\":"
                                "\"candidate:1 1 udp 1 127.0.0.1 9 typ host\",\"sdpMid\":\"0\","
                                "\"sdpMLineIndex\":0}}"));
    json_decref(r);
    expect_call_ev(fa, "call_signal", call);
    th_expect_ok(r = signal_req(fb2, call, NULL, "{\"type\":\"candidate\",\"candidate\":null}"));
    json_decref(r);
    expect_call_ev(fa, "call_signal", call);
    /* B's other device is not in the call. */
    th_expect_err(signal_req(fb1, call, NULL, "{\"type\":\"offer\",\"sdp\":\"v=0\"}"),
                  "call_not_found");
    ok_call(fa, "call_hangup", call);
    e = th_next_event(fb2, "call_end");
    assert_string_equal("hangup", th_jstr(e, "reason"));
    assert_string_equal(a.id, th_jstr(e, "by"));
    json_decref(e);
    /* B's first device saw no signal of the call, only its end. */
    for (;;) {
        e = th_next_event_any(fb1);
        const char *ev = th_jstr(e, "ev");
        assert_string_not_equal("call_signal", ev);
        bool end = strcmp(ev, "call_end") == 0;
        json_decref(e);
        if (end)
            break;
    }
    json_t *c = history_event(fb2, call, "ended");
    assert_true(json_is_integer(json_object_get(c, "duration_ms")));
    assert_string_equal("video", th_jstr(c, "kind"));
    json_decref(c);
    json_decref(history_event(fa, call, "ended"));
    /* The call is gone. */
    err_call(fa, "call_hangup", call, "call_not_found");
    /* In the history after a reconnect, as the room's last message. */
    int fb3 = th_ws_login(&b);
    r = th_call(fb3, "\"op\":\"history\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    json_t *msgs = json_object_get(r, "messages");
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    assert_string_equal("call", th_jstr(json_object_get(last, "content"), "type"));
    json_decref(r);
    close(fa), close(fb1), close(fb2), close(fb3);
    free(call), free(room);
}

/* Every refusal, and that a stranger learns nothing about a call. */
static void test_bad_input(void **state)
{
    (void)state;
    th_user_t a, b, x;
    th_new_user(&a, "ba");
    th_new_user(&b, "bb");
    th_new_user(&x, "bx");
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fx = th_ws_login(&x);
    char *room = dm_with(fa, &b);
    /* A stranger cannot call into the room. */
    th_expect_err(th_call(fx, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"audio\"", room),
                  "forbidden");
    th_expect_err(th_call(fa, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"hologram\"", room),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"call_invite\",\"room\":5,\"kind\":\"audio\""),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"call_invite\",\"room\":\"r999999\",\"kind\":\"audio\""),
                  "forbidden");
    /* Only the server writes call history. */
    th_expect_err(th_call(fa,
                          "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x1\",\"content\":"
                          "{\"type\":\"call\",\"call\":\"c0123456789abcdef\",\"kind\":\"audio\","
                          "\"outcome\":\"ended\",\"duration_ms\":1}",
                          room),
                  "bad_request");
    /* Malformed and unknown call ids. */
    err_call(fa, "call_answer", "c12", "bad_request");
    err_call(fa, "call_answer", "c0000000000000000", "bad_request");
    err_call(fa, "call_answer", "cABCDEF0123456789", "bad_request");
    err_call(fa, "call_hangup", "c0123456789abcdef", "call_not_found");
    th_expect_err(th_call(fa, "\"op\":\"call_ring\""), "bad_request");
    char *call = invite(fa, room, "audio");
    /* Someone else's call: the same answer as no call at all. */
    err_call(fx, "call_answer", call, "call_not_found");
    err_call(fx, "call_reject", call, "call_not_found");
    err_call(fx, "call_hangup", call, "call_not_found");
    th_expect_err(signal_req(fx, call, NULL, "{\"type\":\"offer\",\"sdp\":\"v=0\"}"),
                  "call_not_found");
    /* Busy: X cannot call B while B is rung; A cannot call twice. */
    char *room2 = dm_with(fx, &b);
    th_expect_err(th_call(fx, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"audio\"", room2),
                  "callee_busy");
    th_expect_err(th_call(fa, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"audio\"", room),
                  "in_call");
    ok_call(fb, "call_answer", call);
    /* Malformed signals. */
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    char sig[20100];
    snprintf(sig, sizeof sig, "{\"type\":\"offer\",\"sdp\":\"%s\"}", big);
    th_expect_err(signal_req(fa, call, NULL, sig), "too_large");
    snprintf(sig, sizeof sig, "{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"%s\"}}", big);
    th_expect_err(signal_req(fa, call, NULL, sig), "too_large");
    free(big);
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"bye\"}"), "bad_request");
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"offer\"}"), "bad_request");
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"offer\",\"sdp\":\"\"}"), "bad_request");
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"offer\",\"sdp\":\"v\",\"x\":1}"),
                  "bad_request");
    th_expect_err(signal_req(fa, call, NULL, "{\"type\":\"candidate\",\"candidate\":5}"),
                  "bad_request");
    th_expect_err(signal_req(fa, call, NULL,
                             "{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"c\","
                             "\"sdpMLineIndex\":-1}}"),
                  "bad_request");
    th_expect_err(signal_req(fa, call, NULL, "\"offer\""), "bad_request");
    th_expect_err(signal_req(fa, call, "r1", "{\"type\":\"offer\",\"sdp\":\"v\"}"), "bad_request");
    th_expect_err(signal_req(fa, call, x.id, "{\"type\":\"offer\",\"sdp\":\"v\"}"), "not_in_call");
    th_expect_err(signal_req(fa, call, a.id, "{\"type\":\"offer\",\"sdp\":\"v\"}"), "not_in_call");
    /* A 1:1 call is answered, not joined; cancel is for a ringing call. */
    err_call(fa, "call_join", call, "bad_call_state");
    err_call(fa, "call_cancel", call, "bad_call_state");
    err_call(fb, "call_reject", call, "bad_call_state");
    ok_call(fb, "call_leave", call);
    expect_call_ev(fa, "call_end", call);
    json_decref(history_event(fa, call, "ended"));
    /* The connection survived all of it. */
    json_t *pong = th_call(fa, "\"op\":\"ping\"");
    th_expect_ok(pong);
    json_decref(pong);
    close(fa), close(fb), close(fx);
    free(call), free(room), free(room2);
}

/* Decline; cancel; no answer within call_ring_timeout_ms: missed, unread. */
static void test_decline_cancel_missed(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "da");
    th_new_user(&b, "db");
    int fa = th_ws_login(&a), fb = th_ws_login(&b);
    char *room = dm_with(fa, &b);
    char *call = invite(fa, room, "audio");
    expect_call_ev(fb, "call_invite", call);
    ok_call(fb, "call_reject", call);
    json_t *e = th_next_event(fa, "call_end");
    assert_string_equal("declined", th_jstr(e, "reason"));
    json_decref(e);
    json_decref(history_event(fa, call, "declined"));
    free(call);

    call = invite(fa, room, "audio");
    ok_call(fa, "call_cancel", call);
    e = call_ev(fb, "call_end", call);
    assert_string_equal("cancelled", th_jstr(e, "reason"));
    json_decref(e);
    json_t *c = history_event(fb, call, "missed");
    assert_string_equal("cancelled", th_jstr(c, "reason"));
    json_decref(c);
    free(call);

    /* Nobody answers: the server ends it (polling, no fixed sleep). */
    call = invite(fa, room, "video");
    e = call_ev(fb, "call_end", call); /* within 5 s; the timeout is 1.5 s */
    assert_string_equal("timeout", th_jstr(e, "reason"));
    json_decref(e);
    c = history_event(fb, call, "missed");
    assert_string_equal("timeout", th_jstr(c, "reason"));
    json_decref(c);
    json_t *r = th_call(fb, "\"op\":\"rooms\"");
    th_expect_ok(r);
    json_t *rooms = json_object_get(r, "rooms");
    bool found = false;
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *x = json_array_get(rooms, i);
        if (strcmp(th_jstr(x, "id"), room) == 0) {
            found = true;
            assert_true(th_jint(x, "unread") >= 1); /* calls made to B are unread */
        }
    }
    assert_true(found);
    json_decref(r);
    close(fa), close(fb);
    free(call), free(room);
}

/* The callee's device goes away mid-call: the caller is told. */
static void test_disconnect(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "ea");
    th_new_user(&b, "eb");
    int fa = th_ws_login(&a), fb = th_ws_login(&b);
    char *room = dm_with(fa, &b);
    char *call = invite(fa, room, "video");
    ok_call(fb, "call_answer", call);
    close(fb);
    json_t *e = th_next_event(fa, "call_end");
    assert_string_equal("disconnected", th_jstr(e, "reason"));
    assert_string_equal(b.id, th_jstr(e, "by"));
    json_decref(e);
    json_decref(history_event(fa, call, "ended"));
    /* The caller's disconnect while ringing cancels. */
    free(call);
    /* (fa is the same device: it must go too, or the call stays.) */
    int fb2 = th_ws_login(&b);
    int fa2 = th_ws_login(&a);
    close(fa);
    call = invite(fa2, room, "audio");
    close(fa2);
    e = call_ev(fb2, "call_end", call);
    assert_string_equal("cancelled", th_jstr(e, "reason"));
    json_decref(e);
    close(fb2);
    free(call), free(room);
}

/* Group calls: a mesh of at most call_max_participants (4). */
static void test_group_call(void **state)
{
    (void)state;
    th_user_t u[5];
    int fd[5];
    for (int i = 0; i < 5; i++) {
        th_new_user(&u[i], "g");
        fd[i] = th_ws_login(&u[i]);
    }
    char members[256];
    snprintf(members, sizeof members, "[\"%s\",\"%s\",\"%s\",\"%s\"]", u[1].name, u[2].name,
             u[3].name, u[4].name);
    char *room = th_room_create(fd[0], "group", members, "call group");
    char *call = invite(fd[0], room, "video");
    for (int i = 1; i < 5; i++)
        expect_call_ev(fd[i], "call_invite", call);
    th_expect_err(th_call(fd[1], "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"audio\"", room),
                  "call_exists");
    json_t *r = th_call(fd[1], "\"op\":\"call_join\",\"call\":\"%s\"", call);
    th_expect_ok(r);
    json_t *parts = json_object_get(r, "participants");
    assert_int_equal(1, json_array_size(parts));
    assert_string_equal(u[0].id, json_string_value(json_array_get(parts, 0)));
    json_decref(r);
    err_call(fd[1], "call_join", call, "bad_call_state");
    ok_call(fd[2], "call_answer", call); /* answering a group call joins it */
    ok_call(fd[3], "call_join", call);
    err_call(fd[4], "call_join", call, "call_full");
    ok_call(fd[4], "call_reject", call);
    expect_call_ev(fd[4], "call_dismissed", call);
    /* The roster event lists the four. */
    json_t *e;
    for (;;) {
        e = call_ev(fd[0], "call", call);
        if (json_array_size(json_object_get(e, "participants")) == 4)
            break;
        json_decref(e);
    }
    assert_true(json_is_true(json_object_get(e, "active")));
    json_decref(e);
    /* Mesh signalling names the recipient. */
    th_expect_err(signal_req(fd[3], call, NULL, "{\"type\":\"offer\",\"sdp\":\"v\"}"),
                  "bad_request");
    th_expect_ok(r = signal_req(fd[3], call, u[1].id, "{\"type\":\"offer\",\"sdp\":\"v=0 g\"}"));
    json_decref(r);
    e = th_next_event(fd[1], "call_signal");
    assert_string_equal(u[3].id, th_jstr(e, "from"));
    json_decref(e);
    th_expect_err(signal_req(fd[3], call, u[4].id, "{\"type\":\"offer\",\"sdp\":\"v\"}"),
                  "not_in_call");
    /* Leaving one by one; the last leave ends it. */
    for (int i = 0; i < 4; i++)
        ok_call(fd[i], i % 2 ? "call_leave" : "call_hangup", call);
    e = th_next_event(fd[4], "call_end");
    assert_string_equal(call, th_jstr(e, "call"));
    json_decref(e);
    json_t *c = history_event(fd[4], call, "ended");
    assert_true(json_is_true(json_object_get(c, "group")));
    json_decref(c);
    for (int i = 0; i < 5; i++)
        close(fd[i]);
    free(call), free(room);
}

/* A thousand call_signal as fast as one connection sends them: the per-user
 * bucket refuses most, the per-call cap the rest, the server stays up. The
 * global cap (call_max_calls=4) refuses a fifth call. */
static void test_floods(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "fa");
    th_new_user(&b, "fb");
    int fa = th_ws_login(&a), fb = th_ws_login(&b);
    char *room = dm_with(fa, &b);
    char *call = invite(fa, room, "audio");
    ok_call(fb, "call_answer", call);
    static char frame[512], buf[1 << 16];
    long first = 0;
    for (int i = 0; i < 1000; i++) {
        long id = th_next_id();
        if (i == 0)
            first = id;
        snprintf(frame, sizeof frame,
                 "{\"id\":%ld,\"op\":\"call_signal\",\"call\":\"%s\",\"signal\":{\"type\":"
                 "\"candidate\",\"candidate\":{\"candidate\":\"candidate:%d\"}}}",
                 id, call, i);
        th_ws_send_text(fa, frame);
    }
    int okn = 0, limited = 0, capped = 0, got = 0;
    while (got < 1000) {
        if (th_ws_recv_text(fa, buf, sizeof buf, 10000) < 0)
            fail_msg("replies stopped after %d", got);
        json_t *j = th_json_parse(buf);
        json_t *re = json_object_get(j, "re");
        if (json_is_integer(re) && json_integer_value(re) >= first) {
            got++;
            if (json_is_true(json_object_get(j, "ok")))
                okn++;
            else {
                const char *code = th_jstr(json_object_get(j, "error"), "code");
                if (strcmp(code, "rate_limited") == 0)
                    limited++;
                else if (strcmp(code, "signal_limit") == 0)
                    capped++;
                else
                    fail_msg("unexpected error %s", code);
            }
        }
        json_decref(j);
    }
    assert_true(limited > 0);
    assert_true(okn <= 100); /* call_max_signals */
    assert_true(okn + capped + limited == 1000);
    /* The connection survived: wait for the bucket, then hang up. */
    for (int i = 0; i < 100; i++) {
        json_t *r = th_call(fa, "\"op\":\"call_hangup\",\"call\":\"%s\"", call);
        bool done = json_is_true(json_object_get(r, "ok"));
        json_decref(r);
        if (done)
            break;
        usleep(100 * 1000);
    }
    free(call);
    /* Four calls at once is the cap here; the fifth is refused. */
    th_user_t c[5], d[5];
    int fc[5];
    char *rooms[5], *calls[5];
    for (int i = 0; i < 5; i++) {
        th_new_user(&c[i], "fc");
        th_new_user(&d[i], "fd");
        fc[i] = th_ws_login(&c[i]);
        rooms[i] = dm_with(fc[i], &d[i]);
    }
    for (int i = 0; i < 4; i++)
        calls[i] = invite(fc[i], rooms[i], "audio");
    th_expect_err(
        th_call(fc[4], "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"audio\"", rooms[4]),
        "too_many_calls");
    for (int i = 0; i < 4; i++) {
        ok_call(fc[i], "call_cancel", calls[i]);
        free(calls[i]);
    }
    for (int i = 0; i < 5; i++) {
        close(fc[i]);
        free(rooms[i]);
    }
    close(fa), close(fb);
    free(room);
}

/* TURN REST API credentials: "<expiry>:<user id>", base64(HMAC-SHA1). */
static void test_turn_credentials(void **state)
{
    (void)state;
    th_user_t a;
    th_new_user(&a, "ta");
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd, "\"op\":\"turn_credentials\""), "unauthenticated");
    close(fd);
    fd = th_ws_login(&a);
    json_t *r = th_call(fd, "\"op\":\"turn_credentials\"");
    th_expect_ok(r);
    json_t *urls = json_object_get(r, "urls");
    assert_int_equal(2, json_array_size(urls));
    assert_string_equal("turn:127.0.0.1:3478?transport=udp",
                        json_string_value(json_array_get(urls, 0)));
    assert_string_equal("turns:127.0.0.1:5349", json_string_value(json_array_get(urls, 1)));
    assert_string_equal("stun:127.0.0.1:3478",
                        json_string_value(json_array_get(json_object_get(r, "stun_urls"), 0)));
    assert_int_equal(300, th_jint(r, "ttl"));
    const char *user = th_jstr(r, "username");
    long long expiry = 0;
    char uid[32];
    assert_int_equal(2, sscanf(user, "%lld:%31s", &expiry, uid));
    assert_string_equal(a.id, uid);
    long long now = (long long)time(NULL);
    assert_true(expiry > now && expiry <= now + 301);
    unsigned char mac[20];
    unsigned int maclen = 0;
    HMAC(EVP_sha1(), TURN_SECRET, (int)strlen(TURN_SECRET), (const unsigned char *)user,
         strlen(user), mac, &maclen);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, mac, (int)maclen);
    assert_string_equal((const char *)b64, th_jstr(r, "credential"));
    json_decref(r);
    close(fd);
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
    if (getenv("PL_KEEP_DATA") == NULL)
        th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dm_call),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_decline_cancel_missed),
        cmocka_unit_test(test_disconnect),
        cmocka_unit_test(test_group_call),
        cmocka_unit_test(test_floods),
        cmocka_unit_test(test_turn_credentials),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
