/* SPDX-License-Identifier: MIT */
/* test_hostile_rooms.c -- attacks on group membership against the real
 * parleyd: joining a group by guessing its id, reading a group one is not in
 * (history, sync, media, avatars), adding a victim to thousands of groups,
 * flooding a victim with invitations. Each test reproduces the attack and
 * asserts the bounded outcome: private groups need an invitation, a stranger
 * gets the same bytes for an existing and a missing room, per-user limits cut
 * floods off (and configuration lifts them), pending invitations are capped
 * and expire. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;

/* The documented defaults, spelled out: the harness lifts some limits for
 * the other suites, and these tests are about the defaults. The connection
 * rate limit (another item) is lifted so the floods below reach the limits
 * this file tests. */
static const char *const default_limits[] = {
    "room_create_per_hour=60",          "member_adds_per_hour=600",
    "max_pending_invites_per_user=100", "max_pending_invites_per_room=1000",
    "rate_limit_per_sec=1000000",       NULL};

/* An 8x8 RGB PNG (libvips makes a thumbnail of it: usable as a group photo). */
static const char png8[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x08\x00\x00"
    "\x00\x08\x08\x02\x00\x00\x00\x4b\x6d\x29\xdc\x00\x00\x00\x6c\x49\x44\x41\x54\x78\x9c\x0d"
    "\xc9\x41\x01\x00\x30\x08\x03\x31\x94\xa0\x04\x25\x7d\x9f\x08\x94\x54\x49\x95\xa0\x68\xcb"
    "\x37\x55\x45\x17\x53\xa8\xd8\xc2\x45\x8a\x2b\xaa\x9a\x6e\xa6\x51\xb3\x8d\x9b\x34\xd7\x3f"
    "\x86\x1e\x66\xd0\xb0\x83\x87\x0c\x37\x3f\x44\x8b\x11\x12\x2b\x2c\x22\x4e\x3f\x96\x5e\x66"
    "\xd1\xb2\x8b\x97\x2c\xb7\x3f\x4c\x9b\x31\x32\x6b\x6c\x62\xce\x3f\x42\x87\x09\x0a\x1b\x1c"
    "\x12\x2e\x3f\x8e\x3e\xe6\xd0\xb1\x87\x8f\x1c\x77\x3c\xfa\xff\x4d\x81\x94\x89\xb2\xe0\x00"
    "\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/* ---- helpers ---- */

/* Under AddressSanitizer the server's RSS keeps what it freed (the
 * quarantine holds up to 256 MiB), so a memory bound says nothing there:
 * the sanitizer builds check everything else. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) /* TSan: shadow memory */
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

/* Asserts that the server grew by less than max_kib between two readings. */
static void assert_rss_growth(long before_kib, long after_kib, long max_kib)
{
    if (RSS_MEANINGFUL)
        assert_true(after_kib - before_kib < max_kib);
}

static long rss_kib(const th_server_t *s)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    assert_true(kib > 0);
    return kib;
}

/* Uploads the PNG as u (one media row per user); writes its id to id. */
static void upload_png(const th_server_t *s, const th_user_t *u, char *id, size_t cap)
{
    int fd = th_connect(s->port);
    char head[512];
    size_t len = sizeof png8 - 1;
    int n = snprintf(head, sizeof head,
                     "POST /v1/media?name=p.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     u->token, len);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, png8, len);
    static char buf[8192];
    size_t got = th_recv_until_close(fd, buf, sizeof buf, 10000);
    close(fd);
    assert_true(got > 12);
    int status = atoi(buf + 9);
    assert_true(status == 201 || status == 200);
    const char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    json_t *j = th_json_parse(body + 4);
    assert_true(json_integer_value(json_object_get(j, "thumb_w")) > 0);
    snprintf(id, cap, "%s", th_jstr(j, "id"));
    json_decref(j);
}

/* GET path as u: the status; the body into body (for byte comparisons). */
static int get_as(const th_user_t *u, const char *path, char *body, size_t cap)
{
    return th_http(srv.port, "GET", path, u->token, NULL, body, cap);
}

/* Sends {"id":4242,<fields>} raw and copies the reply text into out: two
 * requests with the same id can be compared byte for byte. */
static void raw_reply(int fd, const char *fields, char *out, size_t cap)
{
    char frame[512];
    snprintf(frame, sizeof frame, "{\"id\":4242,%s}", fields);
    long n = th_ws_request(fd, 4242, frame, out, cap);
    assert_true(n > 0);
}

static void settings_set(int fd, const char *key, const char *value)
{
    json_t *r = th_call(fd, "\"op\":\"settings_set\",\"settings\":{\"%s\":\"%s\"}", key, value);
    th_expect_ok(r);
    assert_string_equal(value, th_jstr(json_object_get(r, "settings"), key));
    json_decref(r);
}

static size_t list_len(json_t *r, const char *key)
{
    return json_array_size(json_object_get(r, key));
}

/* The number of pending invitations of the user on fd. */
static size_t invites_count(int fd)
{
    json_t *r = th_call(fd, "\"op\":\"invites\"");
    th_expect_ok(r);
    size_t n = list_len(r, "invites");
    json_decref(r);
    return n;
}

/* create_room group as fd with members (a JSON array); the reply (owned). */
static json_t *create_group(int fd, const char *members, const char *name)
{
    return th_call(fd, "\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"%s\",\"members\":%s",
                   name, members);
}

static char *room_id_of(json_t *r)
{
    return strdup(th_jstr(json_object_get(r, "room"), "id"));
}

/* ---- a stranger learns nothing ---- */

static void test_stranger_learns_nothing(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "sa");
    th_new_user(&b, "sb");
    th_new_user(&c, "sc");
    char img[32], photo[32];
    upload_png(&srv, &a, img, sizeof img);
    upload_png(&srv, &b, photo, sizeof photo);
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fc = th_ws_login(&c);
    char members[96];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    json_t *r = create_group(fa, members, "secret");
    th_expect_ok(r);
    char *g = room_id_of(r);
    json_decref(r);
    char *dm = th_room_create(fa, "dm", members, NULL);
    r = th_call(fa,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"s1\",\"content\":{\"type\":"
                "\"image\",\"media\":\"%s\",\"w\":8,\"h\":8,\"caption\":\"plans\"}",
                g, img);
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fb, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", g, photo);
    th_expect_ok(r);
    json_decref(r);

    /* The attack: join by id. Before the fix the stranger got ok and then
     * read everything. Now the group, the dm and a room that does not exist
     * answer with the same bytes. */
    static const char *const ops[] = {
        "\"op\":\"join\",\"room\":\"%s\"",
        "\"op\":\"leave\",\"room\":\"%s\"",
        "\"op\":\"history\",\"room\":\"%s\"",
        ("\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x1\",\"content\":{\"type\":\"text\","
         "\"body\":\"hi\"}"),
        "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true",
        "\"op\":\"read\",\"room\":\"%s\",\"seq\":1",
        "\"op\":\"receipts\",\"room\":\"%s\"",
        "\"op\":\"room_settings\",\"room\":\"%s\",\"name\":\"mine\"",
        "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"x\"]",
        "\"op\":\"thread\",\"room\":\"%s\",\"root\":1",
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char f1[256], f2[256], f3[256];
        static char r1[4096], r2[4096], r3[4096];
        snprintf(f1, sizeof f1, ops[i], g);
        snprintf(f2, sizeof f2, ops[i], "r987654321");
        snprintf(f3, sizeof f3, ops[i], dm);
        raw_reply(fc, f1, r1, sizeof r1);
        raw_reply(fc, f2, r2, sizeof r2);
        raw_reply(fc, f3, r3, sizeof r3);
        if (strcmp(r1, r2) != 0 || strcmp(r1, r3) != 0)
            fail_msg("op %s: the replies differ:\n%s\n%s\n%s", ops[i], r1, r2, r3);
        json_t *j = th_json_parse(r1);
        assert_false(json_is_true(json_object_get(j, "ok")));
        json_decref(j);
    }
    /* Nothing reached the members, and the stranger is still not one. */
    r = th_call(fa, "\"op\":\"history\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "messages"));
    json_decref(r);

    /* sync: the group's messages never come to a stranger, asked or not. */
    long id = th_next_id();
    char frame[256];
    snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"sync\",\"since\":{\"%s\":0}}", id, g);
    th_ws_send_text(fc, frame);
    static char buf[65536];
    for (;;) {
        long n = th_ws_recv_text(fc, buf, sizeof buf, 10000);
        assert_true(n > 0);
        json_t *j = th_json_parse(buf);
        const char *ev = th_jstr(j, "ev");
        if (ev != NULL)
            assert_true(strcmp(ev, "message") != 0 && strcmp(ev, "update") != 0);
        bool done = json_integer_value(json_object_get(j, "re")) == id;
        if (done) {
            th_expect_ok(j);
            assert_int_equal(0, th_jint(j, "count"));
        }
        json_decref(j);
        if (done)
            break;
    }
    r = th_call(fc, "\"op\":\"rooms\"");
    th_expect_ok(r);
    assert_int_equal(0, list_len(r, "rooms"));
    json_decref(r);
    r = th_call(fc, "\"op\":\"search\",\"query\":\"plans\"");
    th_expect_ok(r);
    assert_int_equal(0, list_len(r, "results"));
    json_decref(r);

    /* Media: the image sent in the group and the group's photo are 404 for
     * the stranger, the same answer as an id that does not exist. */
    static char missing[4096], body[4096];
    char path[96];
    assert_int_equal(404, get_as(&c, "/v1/media/f987654321", missing, sizeof missing));
    const char *paths[] = {"/v1/media/%s", "/v1/media/%s/thumb", "/v1/media/%s/thumb?square=1"};
    for (size_t i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, paths[i], k ? photo : img);
            assert_int_equal(404, get_as(&c, path, body, sizeof body));
            assert_string_equal(missing, body);
            static char ok[1 << 16];
            assert_int_equal(200, get_as(&a, path, ok, sizeof ok));
        }
    }
    free(g);
    free(dm);
    close(fa);
    close(fb);
    close(fc);
}

/* ---- invitations ---- */

/* The whole flow under group_add=nobody: create_room invites instead of
 * adding; the invitation shows up live and in `invites` (with the group's
 * photo readable); join accepts; leave ends membership and a rejoin needs a
 * new invitation; decline and leave drop one; an inviter who leaves
 * withdraws theirs. */
static void test_invitation_flow(void **state)
{
    (void)state;
    th_user_t a, b, d;
    th_new_user(&a, "fa");
    th_new_user(&b, "fb");
    th_new_user(&d, "fd");
    char photo[32];
    upload_png(&srv, &a, photo, sizeof photo);
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fd = th_ws_login(&d);
    settings_set(fb, "group_add", "nobody");
    json_decref(th_next_event(fb, "settings"));
    th_expect_err(th_call(fb, "\"op\":\"settings_set\",\"settings\":{\"group_add\":\"friends\"}"),
                  "bad_request");
    json_t *r = th_call(fb, "\"op\":\"settings_get\"");
    assert_string_equal("nobody", th_jstr(json_object_get(r, "settings"), "group_add"));
    json_decref(r);

    char members[96];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    r = create_group(fa, members, "team");
    th_expect_ok(r);
    char *g = room_id_of(r);
    assert_int_equal(1, th_jint(json_object_get(r, "room"), "member_count"));
    assert_int_equal(1, list_len(r, "invited"));
    assert_string_equal(b.id, th_jstr(json_array_get(json_object_get(r, "invited"), 0), "id"));
    json_decref(r);
    json_t *ev = th_next_event(fb, "invite");
    assert_string_equal("add", th_jstr(ev, "action"));
    json_t *inv = json_object_get(ev, "invite");
    assert_string_equal(g, th_jstr(inv, "room"));
    assert_string_equal("team", th_jstr(inv, "name"));
    assert_int_equal(1, th_jint(inv, "member_count"));
    assert_string_equal(a.name, th_jstr(json_object_get(inv, "inviter"), "username"));
    assert_true(th_jint(inv, "expires_ts") > th_jint(inv, "ts"));
    json_decref(ev);
    ev = th_next_event(fa, "member");
    assert_string_equal("invite", th_jstr(ev, "action"));
    assert_string_equal(b.id, th_jstr(json_object_get(ev, "user"), "id"));
    assert_string_equal(a.id, th_jstr(json_object_get(ev, "by"), "id"));
    json_decref(ev);

    /* Pending: listed, the group's photo is visible, its messages are not. */
    r = th_call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", g, photo);
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fb, "\"op\":\"invites\"");
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "invites"));
    inv = json_array_get(json_object_get(r, "invites"), 0);
    assert_string_equal(g, th_jstr(inv, "room"));
    assert_string_equal(photo, th_jstr(inv, "avatar"));
    json_decref(r);
    char path[96];
    static char body[1 << 16];
    snprintf(path, sizeof path, "/v1/media/%s/thumb?square=1", photo);
    assert_int_equal(200, get_as(&b, path, body, sizeof body));
    th_expect_err(th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", g), "forbidden");

    /* Accept. */
    r = th_call(fb, "\"op\":\"join\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    assert_int_equal(2, th_jint(json_object_get(r, "room"), "member_count"));
    json_decref(r);
    ev = th_next_event(fa, "member");
    assert_string_equal("join", th_jstr(ev, "action"));
    assert_string_equal(b.id, th_jstr(json_object_get(ev, "user"), "id"));
    json_decref(ev);
    ev = th_next_event(fb, "invite");
    assert_string_equal("remove", th_jstr(ev, "action"));
    assert_string_equal("accepted", th_jstr(ev, "reason"));
    json_decref(ev);
    assert_int_equal(0, invites_count(fb));
    r = th_call(fb, "\"op\":\"join\",\"room\":\"%s\"", g); /* idempotent for a member */
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_decref(r);

    /* Leave and join back to back: the join must not slip in on the loop's
     * stale view of the membership. */
    char frame[256];
    long l1 = th_next_id(), l2 = th_next_id();
    snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"leave\",\"room\":\"%s\"}", l1, g);
    th_ws_send_text(fb, frame);
    snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"join\",\"room\":\"%s\"}", l2, g);
    static char buf[8192];
    assert_true(th_ws_request(fb, l2, frame, buf, sizeof buf) > 0);
    th_expect_err(th_json_parse(buf), "forbidden");
    th_expect_err(th_call(fb, "\"op\":\"history\",\"room\":\"%s\"", g), "forbidden");
    snprintf(path, sizeof path, "/v1/media/%s/thumb?square=1", photo);
    assert_int_equal(404, get_as(&b, path, body, sizeof body));

    /* Decline. */
    r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, b.name);
    th_expect_ok(r);
    assert_int_equal(0, list_len(r, "added"));
    assert_int_equal(1, list_len(r, "invited"));
    json_decref(r);
    assert_int_equal(1, invites_count(fb));
    r = th_call(fb, "\"op\":\"decline\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_decref(r);
    assert_int_equal(0, invites_count(fb));
    th_expect_err(th_call(fb, "\"op\":\"decline\",\"room\":\"%s\"", g), "not_found");
    th_expect_err(th_call(fb, "\"op\":\"join\",\"room\":\"%s\"", g), "forbidden");
    /* leave drops a pending invitation too. */
    r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, b.name);
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fb, "\"op\":\"leave\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_decref(r);
    assert_int_equal(0, invites_count(fb));

    /* An inviter who leaves withdraws their invitations. */
    snprintf(members, sizeof members, "[\"%s\"]", d.name);
    r = create_group(fa, members, "short-lived");
    th_expect_ok(r);
    char *g2 = room_id_of(r);
    assert_int_equal(2, th_jint(json_object_get(r, "room"), "member_count")); /* d: everyone */
    json_decref(r);
    r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\",\"%s\"]", g2, b.name,
                d.name);
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "invited"));
    assert_int_equal(1, list_len(r, "skipped"));
    assert_string_equal("member",
                        th_jstr(json_array_get(json_object_get(r, "skipped"), 0), "reason"));
    json_decref(r);
    assert_int_equal(1, invites_count(fb));
    /* The creator owns the group: the last owner hands over before leaving
     * (issue 17). */
    r = th_call(fa, "\"op\":\"set_role\",\"room\":\"%s\",\"user\":\"%s\",\"role\":\"owner\"", g2,
                d.id);
    th_expect_ok(r);
    json_decref(r);
    r = th_call(fa, "\"op\":\"leave\",\"room\":\"%s\"", g2);
    th_expect_ok(r);
    json_decref(r);
    for (;;) { /* skip the add events of the earlier invitations */
        ev = th_next_event(fb, "invite");
        bool withdrawn =
            !strcmp(th_jstr(ev, "action"), "remove") && !strcmp(th_jstr(ev, "room"), g2);
        if (withdrawn)
            assert_string_equal("withdrawn", th_jstr(ev, "reason"));
        json_decref(ev);
        if (withdrawn)
            break;
    }
    assert_int_equal(0, invites_count(fb));
    th_expect_err(th_call(fb, "\"op\":\"join\",\"room\":\"%s\"", g2), "forbidden");
    /* No invitations to a dm: it is opened by either side. */
    char *dm = th_room_create(fa, "dm", members, NULL);
    th_expect_err(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", dm, b.name),
                  "bad_request");
    free(dm);
    free(g);
    free(g2);
    close(fa);
    close(fb);
    close(fd);
}

/* group_add=contacts: a stranger's add becomes an invitation, even after
 * they opened a dm and wrote in it; once the victim answers there, or
 * shares a group with someone, that person adds them directly. */
static void test_privacy_contacts(void **state)
{
    (void)state;
    th_user_t v, s, f;
    th_new_user(&v, "pv");
    th_new_user(&s, "ps");
    th_new_user(&f, "pf");
    int fv = th_ws_login(&v), fs = th_ws_login(&s), ff = th_ws_login(&f);
    settings_set(fv, "group_add", "contacts");
    char members[96];
    snprintf(members, sizeof members, "[\"%s\"]", v.name);
    char *dm = th_room_create(fs, "dm", members, NULL); /* dms need no consent */
    json_t *r = th_call(fs,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c1\",\"content\":{"
                        "\"type\":\"text\",\"body\":\"join my group\"}",
                        dm);
    th_expect_ok(r);
    json_decref(r);
    r = create_group(fs, members, "spam");
    th_expect_ok(r);
    assert_int_equal(0, list_len(r, "added"));
    assert_int_equal(1, list_len(r, "invited"));
    assert_int_equal(1, th_jint(json_object_get(r, "room"), "member_count"));
    json_decref(r);
    /* The victim answers in the dm: now the stranger is a contact. */
    r = th_call(fv,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c2\",\"content\":{"
                "\"type\":\"text\",\"body\":\"ok\"}",
                dm);
    th_expect_ok(r);
    json_decref(r);
    r = create_group(fs, members, "now ok");
    th_expect_ok(r);
    assert_int_equal(2, th_jint(json_object_get(r, "room"), "member_count"));
    assert_int_equal(0, list_len(r, "invited"));
    json_decref(r);
    /* f shares no room with v: invited. Once v makes a group with f, f is a
     * contact and adds v directly. */
    snprintf(members, sizeof members, "[\"%s\"]", v.name);
    r = create_group(ff, members, "f1");
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "invited"));
    json_decref(r);
    snprintf(members, sizeof members, "[\"%s\"]", f.name);
    r = create_group(fv, members, "v and f");
    th_expect_ok(r);
    assert_int_equal(2, th_jint(json_object_get(r, "room"), "member_count"));
    json_decref(r);
    snprintf(members, sizeof members, "[\"%s\"]", v.name);
    r = create_group(ff, members, "f2");
    th_expect_ok(r);
    assert_int_equal(2, th_jint(json_object_get(r, "room"), "member_count"));
    json_decref(r);
    free(dm);
    close(fv);
    close(fs);
    close(ff);
}

/* ---- floods ---- */

typedef struct {
    int ok, limited, other;
    long max_retry_ms;
} tally_t;

/* Sends n requests made by make(i, buf) on fd, at most 16 in flight (below
 * max_inflight_requests), and tallies the replies (events are skipped).
 * Request ids are 1000000 + i. */
static void flood(int fd, int n, void (*make)(int i, char *buf, size_t cap, void *ud), void *ud,
                  tally_t *t)
{
    static char frame[4096], in[1 << 20];
    int sent = 0, done = 0;
    memset(t, 0, sizeof *t);
    while (done < n) {
        while (sent < n && sent - done < 16) {
            make(sent, frame, sizeof frame, ud);
            th_ws_send_text(fd, frame);
            sent++;
        }
        long len = th_ws_recv_text(fd, in, sizeof in, 30000);
        assert_true(len > 0);
        json_t *j = th_json_parse(in);
        json_t *re = json_object_get(j, "re");
        if (json_is_integer(re) && json_integer_value(re) >= 1000000) {
            done++;
            const char *code =
                json_string_value(json_object_get(json_object_get(j, "error"), "code"));
            if (json_is_true(json_object_get(j, "ok"))) {
                t->ok++;
            } else if (code != NULL && !strcmp(code, "rate_limited")) {
                t->limited++;
                json_int_t ms = json_integer_value(
                    json_object_get(json_object_get(j, "error"), "retry_after_ms"));
                assert_true(ms > 0 && ms <= 3600000);
                if (ms > t->max_retry_ms)
                    t->max_retry_ms = (long)ms;
            } else {
                t->other++;
            }
        }
        json_decref(j);
    }
}

static void make_group_with(int i, char *buf, size_t cap, void *ud)
{
    snprintf(buf, cap,
             "{\"id\":%d,\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"spam %d\","
             "\"members\":[\"%s\"]}",
             1000000 + i, i, (const char *)ud);
}

/* The victim's `rooms` list, followed over its pages (`more`/`next`): its
 * room count and its size in bytes, all pages together. */
static void victim_rooms(const th_user_t *v, size_t *n, size_t *bytes)
{
    int fd = th_ws_login(v);
    static char buf[4 << 20];
    char after[32] = "";
    *n = 0;
    *bytes = 0;
    for (;;) {
        long id = th_next_id();
        char frame[128];
        snprintf(frame, sizeof frame, "{\"id\":%ld,\"op\":\"rooms\"%s%s%s}", id,
                 after[0] ? ",\"after\":\"" : "", after, after[0] ? "\"" : "");
        long len = th_ws_request(fd, id, frame, buf, sizeof buf);
        assert_true(len > 0);
        json_t *j = th_json_parse(buf);
        th_expect_ok(j);
        *n += list_len(j, "rooms");
        *bytes += (size_t)len;
        bool more = json_is_true(json_object_get(j, "more"));
        if (more)
            snprintf(after, sizeof after, "%s", th_jstr(j, "next"));
        json_decref(j);
        if (!more)
            break;
    }
    close(fd);
}

/* The reported attack: 3,000 groups containing the victim as fast as the
 * server answers. room_create_per_hour cuts the attacker off after its
 * burst, each refusal says when to retry, and the victim's rooms reply and
 * the server's memory stay small. */
static void test_group_flood_cut_off(void **state)
{
    (void)state;
    th_user_t x, v;
    th_new_user(&x, "gx");
    th_new_user(&v, "gv");
    int fx = th_ws_login(&x);
    long rss0 = rss_kib(&srv);
    tally_t t;
    flood(fx, 3000, make_group_with, v.name, &t);
    long rss1 = rss_kib(&srv);
    size_t n, bytes;
    victim_rooms(&v, &n, &bytes);
    fprintf(stderr,
            "group flood (defaults): ok=%d rate_limited=%d other=%d max_retry_ms=%ld "
            "victim rooms=%zu reply=%zu B rss %ld -> %ld KiB\n",
            t.ok, t.limited, t.other, t.max_retry_ms, n, bytes, rss0, rss1);
    assert_int_equal(0, t.other);
    assert_true(t.ok >= 1 && t.ok <= 62); /* the burst (60), plus what refilled meanwhile */
    assert_int_equal(3000, t.ok + t.limited);
    assert_true(t.max_retry_ms > 0);
    assert_int_equal((size_t)t.ok, n);
    assert_true(bytes < 64 * 1024);
    assert_rss_growth(rss0, rss1, 32 * 1024);
    /* The same user is still refused: the bucket is per user, not per
     * connection. */
    int fx2 = th_ws_login(&x);
    bool refused = false;
    for (int i = 0; i < 3 && !refused; i++) { /* a token may have refilled meanwhile */
        json_t *r = create_group(fx2, "[]", "again");
        refused = !json_is_true(json_object_get(r, "ok"));
        if (refused)
            th_expect_err(r, "rate_limited");
        else
            json_decref(r);
    }
    assert_true(refused);
    /* A request over a whole hour's allowance can never pass. */
    static char names[700 * 12];
    size_t k = 0;
    names[k++] = '[';
    for (int i = 0; i < 601; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s\"nu%d\"", i ? "," : "", i);
    names[k++] = ']';
    names[k] = '\0';
    th_user_t y;
    th_new_user(&y, "gy");
    int fy = th_ws_login(&y);
    th_expect_err(create_group(fy, names, "huge"), "too_large");
    /* What a request did not use is given back: unknown users fail the whole
     * request (nothing created) and cost nothing, over and over. */
    names[0] = '[';
    k = 1;
    for (int i = 0; i < 300; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s\"nobody-%d\"", i ? "," : "", i);
    names[k++] = ']';
    names[k] = '\0';
    for (int i = 0; i < 5; i++)
        th_expect_err(create_group(fy, names, "ghosts"), "user_not_found");
    char one[64];
    snprintf(one, sizeof one, "[\"%s\"]", v.name);
    json_t *r = create_group(fy, one, "real");
    th_expect_ok(r);
    json_decref(r);
    close(fx);
    close(fx2);
    close(fy);
}

typedef struct {
    char *rooms[40];
    const char *victim;
} invite_flood_t;

static void make_invite(int i, char *buf, size_t cap, void *ud)
{
    const invite_flood_t *a = ud;
    snprintf(buf, cap, "{\"id\":%d,\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]}",
             1000000 + i, a->rooms[i % 40], a->victim);
}

/* A victim who lets nobody add them gets invitations instead. Three
 * attackers with 40 groups each invite the victim 200 times apiece: the
 * victim's pending invitations stop at max_pending_invites_per_user (100),
 * so `invites` stays small, and the victim still decides. */
static void test_invite_flood_bounded(void **state)
{
    (void)state;
    th_user_t v, x[3];
    th_new_user(&v, "iv");
    int fv = th_ws_login(&v);
    settings_set(fv, "group_add", "nobody");
    invite_flood_t fl[3];
    int fx[3];
    for (int u = 0; u < 3; u++) {
        th_new_user(&x[u], "ix");
        fx[u] = th_ws_login(&x[u]);
        fl[u].victim = v.name;
        for (int i = 0; i < 40; i++) {
            json_t *r = create_group(fx[u], "[]", "bait");
            th_expect_ok(r);
            fl[u].rooms[i] = room_id_of(r);
            json_decref(r);
        }
    }
    long rss0 = rss_kib(&srv);
    for (int u = 0; u < 3; u++) {
        tally_t t;
        flood(fx[u], 200, make_invite, &fl[u], &t);
        assert_int_equal(200, t.ok); /* answered; the refused ones are listed as skipped */
    }
    long rss1 = rss_kib(&srv);
    json_t *r = th_call(fv, "\"op\":\"invites\"");
    th_expect_ok(r);
    size_t pending = list_len(r, "invites");
    char *text = json_dumps(r, JSON_COMPACT);
    fprintf(stderr,
            "invite flood: requests=600 groups=120 pending=%zu reply=%zu B rss %ld -> %ld KiB\n",
            pending, strlen(text), rss0, rss1);
    assert_int_equal(100, pending);
    assert_true(strlen(text) < 64 * 1024);
    free(text);
    const char *first = th_jstr(json_array_get(json_object_get(r, "invites"), 0), "room");
    json_t *d = th_call(fv, "\"op\":\"decline\",\"room\":\"%s\"", first);
    th_expect_ok(d);
    json_decref(d);
    json_decref(r);
    assert_int_equal(99, invites_count(fv));
    assert_rss_growth(rss0, rss1, 32 * 1024);
    for (int u = 0; u < 3; u++) {
        for (int i = 0; i < 40; i++)
            free(fl[u].rooms[i]);
        close(fx[u]);
    }
    close(fv);
}

/* ---- the same limits, configured small or lifted ---- */

static void with_server(th_server_t *s, const char *const *settings)
{
    th_server_start(s, settings);
    th_json_bind(s);
}

static void end_server(th_server_t *s)
{
    th_server_stop(s);
    th_server_cleanup(s);
    th_json_bind(&srv);
}

/* Small caps: per invitee, per room, the add limit with its retry hint,
 * the creation limit, and expiry. */
static void test_invite_caps_and_expiry(void **state)
{
    (void)state;
    static const char *const small[] = {"room_create_per_hour=8",
                                        "member_adds_per_hour=10",
                                        "max_pending_invites_per_user=3",
                                        "max_pending_invites_per_room=4",
                                        "invite_ttl_ms=1500",
                                        NULL};
    th_server_t s2;
    with_server(&s2, small);
    th_user_t v, x, u[6];
    th_new_user(&v, "cv");
    th_new_user(&x, "cx");
    int fv = th_ws_login(&v), fx = th_ws_login(&x);
    settings_set(fv, "group_add", "nobody");
    char members[256];
    snprintf(members, sizeof members, "[\"%s\"]", v.name);
    /* Per invitee: 3 pending, then refused. */
    for (int i = 0; i < 5; i++) {
        json_t *r = create_group(fx, members, "cap");
        th_expect_ok(r);
        assert_int_equal(i < 3 ? 1 : 0, list_len(r, "invited"));
        if (i >= 3)
            assert_string_equal(
                "invites_full",
                th_jstr(json_array_get(json_object_get(r, "skipped"), 0), "reason"));
        json_decref(r);
    }
    assert_int_equal(3, invites_count(fv));
    /* Per room: 4 pending in one group. (x has used 3 of 10 adds.) */
    size_t k = 0;
    members[k++] = '[';
    for (int i = 0; i < 6; i++) {
        th_new_user(&u[i], "cu");
        int f = th_ws_login(&u[i]);
        settings_set(f, "group_add", "nobody");
        close(f);
        k += (size_t)snprintf(members + k, sizeof members - k, "%s\"%s\"", i ? "," : "", u[i].name);
    }
    members[k++] = ']';
    members[k] = '\0';
    json_t *r = create_group(fx, members, "room cap");
    th_expect_ok(r);
    assert_int_equal(4, list_len(r, "invited"));
    assert_int_equal(2, list_len(r, "skipped"));
    assert_string_equal("room_invites_full",
                        th_jstr(json_array_get(json_object_get(r, "skipped"), 0), "reason"));
    char *g = room_id_of(r);
    json_decref(r);
    /* Adds: 3 + 4 used of 10; 4 more is over, with a retry hint; more than
     * the hourly allowance at once is too_large. */
    r = th_call(fx, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"a1\",\"a2\",\"a3\",\"a4\"]", g);
    json_t *e = json_object_get(r, "error");
    assert_string_equal("rate_limited", th_jstr(e, "code"));
    assert_true(th_jint(e, "retry_after_ms") > 0);
    json_decref(r);
    th_expect_err(
        th_call(fx,
                "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"a1\",\"a2\",\"a3\",\"a4\","
                "\"a5\",\"a6\",\"a7\",\"a8\",\"a9\",\"a10\",\"a11\"]",
                g),
        "too_large");
    /* Creation: 6 rooms so far, 2 more, then refused. */
    for (int i = 0; i < 2; i++) {
        r = create_group(fx, "[]", "more");
        th_expect_ok(r);
        json_decref(r);
    }
    r = create_group(fx, "[]", "one too many");
    e = json_object_get(r, "error");
    assert_string_equal("rate_limited", th_jstr(e, "code"));
    assert_true(th_jint(e, "retry_after_ms") > 0);
    json_decref(r);
    /* Expiry: after invite_ttl_ms the invitations are gone and accept
     * nothing. (Waiting for the outcome, 10 s at most: no timing assumed.) */
    struct timespec ts = {0, 100 * 1000000};
    int fu[6];
    for (int i = 0; i < 6; i++)
        fu[i] = th_ws_login(&u[i]);
    for (int i = 0; i < 100; i++) {
        size_t left = invites_count(fv);
        for (int j = 0; j < 6; j++)
            left += invites_count(fu[j]);
        if (left == 0)
            break;
        nanosleep(&ts, NULL);
    }
    assert_int_equal(0, invites_count(fv));
    for (int j = 0; j < 6; j++) {
        assert_int_equal(0, invites_count(fu[j]));
        th_expect_err(th_call(fu[j], "\"op\":\"join\",\"room\":\"%s\"", g), "forbidden");
        close(fu[j]);
    }
    free(g);
    close(fv);
    close(fx);
    end_server(&s2);
}

/* Every refusal of invite, join and leave, with its code: a dm, a
 * non-member, a bad list, only yourself, and a full group (joins and adds
 * are counted on the writer, so an invitation accepted into a full group
 * is refused and stays pending). */
static void test_membership_errors(void **state)
{
    (void)state;
    static const char *const sets[] = {"max_group_members=3", NULL};
    th_server_t s3;
    with_server(&s3, sets);
    th_user_t a, b, c, d, x;
    th_new_user(&a, "ea");
    th_new_user(&b, "eb");
    th_new_user(&c, "ec");
    th_new_user(&d, "ed");
    th_new_user(&x, "ex");
    int fa = th_ws_login(&a), fb = th_ws_login(&b), fd = th_ws_login(&d), fx = th_ws_login(&x);
    settings_set(fd, "group_add", "nobody");
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    json_t *g = create_group(fa, members, "full");
    th_expect_ok(g);
    char *room = room_id_of(g);
    json_decref(g);
    char *dm = th_room_create(fa, "dm", members, NULL);

    /* Not allowed or malformed. */
    th_expect_err(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", dm, c.name),
                  "bad_request");
    th_expect_err(th_call(fx, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, c.name),
                  "forbidden");
    th_expect_err(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":\"%s\"", room, c.name),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, a.name),
                  "bad_request");
    th_expect_err(th_call(fa, "\"op\":\"leave\",\"room\":\"%s\"", dm), "forbidden");

    /* d only takes invitations: invited while there is room. */
    json_t *r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, d.name);
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "invited"));
    json_decref(r);
    /* c fills the group (2 -> 3 members); a fourth add is skipped. */
    r = th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, c.name);
    th_expect_ok(r);
    assert_int_equal(1, list_len(r, "added"));
    json_decref(r);
    th_expect_err(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", room, x.name),
                  "too_large");
    /* d accepts into a full group: too_large, and the invitation stays. */
    th_expect_err(th_call(fd, "\"op\":\"join\",\"room\":\"%s\"", room), "too_large");
    assert_int_equal(1, invites_count(fd));
    /* Once b leaves, d's join goes through. */
    json_t *l = th_call(fb, "\"op\":\"leave\",\"room\":\"%s\"", room);
    th_expect_ok(l);
    json_decref(l);
    json_t *j = th_call(fd, "\"op\":\"join\",\"room\":\"%s\"", room);
    th_expect_ok(j);
    json_decref(j);
    assert_int_equal(0, invites_count(fd));
    free(room);
    free(dm);
    close(fa);
    close(fb);
    close(fd);
    close(fx);
    end_server(&s3);
}

/* A load test from one user lifts the limits by configuration, and the
 * original attack goes through again: that is what the limits prevent. */
static void test_limits_lifted_by_config(void **state)
{
    (void)state;
    static const char *const lifted[] = {"room_create_per_hour=1000000",
                                         "member_adds_per_hour=1000000",
                                         "rate_limit_per_sec=1000000", NULL};
    th_server_t s3;
    with_server(&s3, lifted);
    th_user_t x, v;
    th_new_user(&x, "lx");
    th_new_user(&v, "lv");
    int fx = th_ws_login(&x);
    long rss0 = rss_kib(&s3);
    tally_t t;
    flood(fx, 3000, make_group_with, v.name, &t);
    long rss1 = rss_kib(&s3);
    size_t n, bytes;
    victim_rooms(&v, &n, &bytes);
    fprintf(stderr,
            "group flood (limits lifted): ok=%d rate_limited=%d victim rooms=%zu reply=%zu B "
            "rss %ld -> %ld KiB\n",
            t.ok, t.limited, n, bytes, rss0, rss1);
    assert_int_equal(3000, t.ok);
    assert_int_equal(3000, n);
    close(fx);
    end_server(&s3);
}

static int group_setup(void **state)
{
    (void)state;
    th_server_start(&srv, default_limits);
    th_json_bind(&srv);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stranger_learns_nothing),
        cmocka_unit_test(test_invitation_flow),
        cmocka_unit_test(test_privacy_contacts),
        cmocka_unit_test(test_group_flood_cut_off),
        cmocka_unit_test(test_invite_flood_bounded),
        cmocka_unit_test(test_invite_caps_and_expiry),
        cmocka_unit_test(test_membership_errors),
        cmocka_unit_test(test_limits_lifted_by_config),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
