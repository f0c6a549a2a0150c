/* SPDX-License-Identifier: MIT */
/* test_moderation.c -- room roles, kick, ban, mute, moderators' deletes,
 * the last-owner rule and the audit log (issue 17) against the real
 * parleyd: every op once allowed and every forbidden case the permission
 * table names (a member kicks, a moderator kicks an admin, a banned user
 * joins, is invited and sends, a muted user sends, a stranger and a member
 * read the audit log). Runs on PostgreSQL too (ctest label pg). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;

static const char *const settings[] = {"rate_limit_per_sec=1000000", NULL};

/* The next `member` event whose action is action (other frames skipped). */
static json_t *member_ev(int fd, const char *action)
{
    for (int i = 0; i < 20; i++) {
        json_t *ev = th_next_event(fd, "member");
        if (!strcmp(th_jstr(ev, "action"), action))
            return ev;
        json_decref(ev);
    }
    fail_msg("no member event %s", action);
    return NULL;
}

/* The member object of user in a Room object. */
static json_t *member_of(json_t *room, const char *user_id)
{
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(room, "members"), i, v)
    {
        if (!strcmp(th_jstr(v, "id"), user_id))
            return v;
    }
    fail_msg("%s is not in the room's members", user_id);
    return NULL;
}

/* The room as a member sees it now (create_room of the same dm is not
 * available for groups: the `rooms` op has no members, so this joins, a
 * no-op for a member, whose reply is the Room object). */
static json_t *room_now(int fd, const char *room)
{
    json_t *r = th_call(fd, "\"op\":\"join\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    return r;
}

static json_t *op_user(int fd, const char *op, const char *room, const char *user, const char *more)
{
    return th_call(fd, "\"op\":\"%s\",\"room\":\"%s\",\"user\":\"%s\"%s", op, room, user,
                   more ? more : "");
}

static void send_text(int fd, const char *room, const char *cid, const char *body, const char *code)
{
    json_t *r =
        th_call(fd,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":{\"type\":"
                "\"text\",\"body\":\"%s\"}",
                room, cid, body);
    if (code == NULL) {
        th_expect_ok(r);
        json_decref(r);
    } else {
        th_expect_err(r, code);
    }
}

static json_int_t send_seq(int fd, const char *room, const char *cid)
{
    json_t *r =
        th_call(fd,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":{\"type\":"
                "\"text\",\"body\":\"x\"}",
                room, cid);
    th_expect_ok(r);
    json_int_t seq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    return seq;
}

/* A group of owner o with everyone else added (group_add: everyone). */
static char *group_of(int fo, const th_user_t *const *others, size_t n)
{
    char members[512] = "[";
    for (size_t i = 0; i < n; i++)
        snprintf(members + strlen(members), sizeof members - strlen(members), "%s\"%s\"",
                 i ? "," : "", others[i]->name);
    strcat(members, "]");
    return th_room_create(fo, "group", members, "modroom");
}

static void test_roles(void **state)
{
    (void)state;
    th_user_t o, m, ad, x, y;
    th_new_user(&o, "mo");
    th_new_user(&m, "mm");
    th_new_user(&ad, "ma");
    th_new_user(&x, "mx");
    th_new_user(&y, "my");
    int fo = th_ws_login(&o), fm = th_ws_login(&m), fa = th_ws_login(&ad), fx = th_ws_login(&x),
        fy = th_ws_login(&y);
    const th_user_t *others[] = {&m, &ad, &x, &y};
    char *g = group_of(fo, others, 4);

    /* The creator owns the group; the room shows it. */
    json_t *r = room_now(fo, g);
    assert_string_equal("owner", th_jstr(member_of(json_object_get(r, "room"), o.id), "role"));
    assert_null(json_object_get(member_of(json_object_get(r, "room"), x.id), "role"));
    json_decref(r);

    /* A member may not kick, mute, ban or give roles. */
    th_expect_err(op_user(fx, "kick", g, y.id, NULL), "forbidden");
    th_expect_err(op_user(fx, "mute", g, y.id, ",\"duration_ms\":1000"), "forbidden");
    th_expect_err(op_user(fx, "ban", g, y.id, NULL), "forbidden");
    th_expect_err(op_user(fx, "set_role", g, x.id, ",\"role\":\"moderator\""), "forbidden");

    /* The owner makes a moderator and an admin; everyone hears of it. */
    r = op_user(fo, "set_role", g, m.id, ",\"role\":\"moderator\"");
    th_expect_ok(r);
    assert_string_equal("moderator", th_jstr(r, "role"));
    json_decref(r);
    json_t *ev = member_ev(fx, "role");
    assert_string_equal(m.id, th_jstr(json_object_get(ev, "user"), "id"));
    assert_string_equal(o.id, th_jstr(json_object_get(ev, "by"), "id"));
    assert_string_equal("moderator", th_jstr(ev, "role"));
    json_decref(ev);
    th_expect_ok(r = op_user(fo, "set_role", g, ad.id, ",\"role\":\"admin\""));
    json_decref(r);

    /* A moderator acts only below their rank. */
    th_expect_err(op_user(fm, "kick", g, ad.id, NULL), "forbidden");
    th_expect_err(op_user(fm, "kick", g, o.id, NULL), "forbidden");
    th_expect_err(op_user(fm, "set_role", g, y.id, ",\"role\":\"moderator\""), "forbidden");
    /* An admin gives roles below their own only, and not to an equal. */
    th_expect_err(op_user(fa, "set_role", g, y.id, ",\"role\":\"admin\""), "forbidden");
    th_expect_err(op_user(fa, "set_role", g, o.id, ",\"role\":\"member\""), "forbidden");
    th_expect_ok(r = op_user(fa, "set_role", g, y.id, ",\"role\":\"moderator\""));
    json_decref(r);
    th_expect_err(op_user(fm, "kick", g, y.id, NULL), "forbidden"); /* equal rank */
    th_expect_ok(r = op_user(fa, "set_role", g, y.id, ",\"role\":\"member\""));
    json_decref(r);

    /* The moderator kicks a member: out of the room, told so. */
    r = op_user(fm, "kick", g, x.id, ",\"reason\":\"off topic\"");
    th_expect_ok(r);
    json_decref(r);
    ev = member_ev(fx, "kick");
    assert_string_equal(x.id, th_jstr(json_object_get(ev, "user"), "id"));
    assert_string_equal(m.id, th_jstr(json_object_get(ev, "by"), "id"));
    assert_string_equal("off topic", th_jstr(ev, "reason"));
    json_decref(ev);
    send_text(fx, g, "k1", "still here?", "forbidden");
    th_expect_err(op_user(fm, "kick", g, x.id, NULL), "not_found"); /* not a member any more */

    /* Bad arguments and unknown targets. */
    th_expect_err(op_user(fo, "set_role", g, y.id, ",\"role\":\"king\""), "bad_request");
    th_expect_err(th_call(fo, "\"op\":\"kick\",\"room\":\"%s\",\"user\":\"bob\"", g),
                  "bad_request");
    th_expect_err(op_user(fo, "kick", g, "u999999", NULL), "user_not_found");
    th_expect_err(op_user(fo, "kick", g, o.id, NULL), "bad_request"); /* oneself */
    /* A stranger gets what a non-member gets anywhere. */
    th_expect_err(op_user(fx, "kick", g, y.id, NULL), "forbidden");

    /* The last owner cannot leave, nor step down, before handing over. */
    th_expect_err(th_call(fo, "\"op\":\"leave\",\"room\":\"%s\"", g), "forbidden");
    th_expect_err(op_user(fo, "set_role", g, o.id, ",\"role\":\"admin\""), "forbidden");
    th_expect_ok(r = op_user(fo, "set_role", g, ad.id, ",\"role\":\"owner\""));
    json_decref(r);
    r = th_call(fo, "\"op\":\"leave\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_decref(r);

    /* A dm has no roles. */
    char dm_members[64];
    snprintf(dm_members, sizeof dm_members, "[\"%s\"]", y.name);
    char *dm = th_room_create(fm, "dm", dm_members, NULL);
    th_expect_err(op_user(fm, "kick", dm, y.id, NULL), "bad_request");
    free(dm);
    free(g);
    th_close(fo), th_close(fm), th_close(fa), th_close(fx), th_close(fy);
}

static void test_ban_mute_delete(void **state)
{
    (void)state;
    th_user_t o, m, x, y, z;
    th_new_user(&o, "bo");
    th_new_user(&m, "bm");
    th_new_user(&x, "bx");
    th_new_user(&y, "by");
    th_new_user(&z, "bz");
    int fo = th_ws_login(&o), fm = th_ws_login(&m), fx = th_ws_login(&x), fy = th_ws_login(&y);
    const th_user_t *others[] = {&m, &x, &y};
    char *g = group_of(fo, others, 3);
    json_t *r;
    th_expect_ok(r = op_user(fo, "set_role", g, m.id, ",\"role\":\"moderator\""));
    json_decref(r);

    /* Ban: out, told with the reason, kept out until unbanned. */
    th_expect_ok(r = op_user(fm, "ban", g, x.id, ",\"reason\":\"spam links\""));
    json_decref(r);
    json_t *ev = member_ev(fx, "ban");
    assert_string_equal("spam links", th_jstr(ev, "reason"));
    json_decref(ev);
    send_text(fx, g, "b1", "let me in", "forbidden");
    th_expect_err(th_call(fx, "\"op\":\"join\",\"room\":\"%s\"", g), "forbidden");
    r = th_call(fy, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, x.name);
    th_expect_ok(r);
    json_t *sk = json_array_get(json_object_get(r, "skipped"), 0);
    assert_string_equal("banned", th_jstr(sk, "reason"));
    assert_int_equal(0, json_array_size(json_object_get(r, "added")));
    json_decref(r);
    /* A ban ahead of time: z never was a member. */
    th_expect_ok(r = op_user(fm, "ban", g, z.id, NULL));
    json_decref(r);
    /* The bans list: moderators only. */
    r = th_call(fm, "\"op\":\"bans\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    assert_int_equal(2, json_array_size(json_object_get(r, "bans")));
    assert_string_equal("spam links",
                        th_jstr(json_array_get(json_object_get(r, "bans"), 0), "reason"));
    json_decref(r);
    th_expect_err(th_call(fy, "\"op\":\"bans\",\"room\":\"%s\"", g), "forbidden");
    /* Unban: invitable again. */
    th_expect_ok(r = op_user(fm, "unban", g, x.id, NULL));
    json_decref(r);
    th_expect_err(op_user(fm, "unban", g, x.id, NULL), "not_found");
    r = th_call(fy, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, x.name);
    th_expect_ok(r);
    assert_int_equal(1, json_array_size(json_object_get(r, "added")));
    json_decref(r);

    /* Mute: no sending until the time, visible in the room; unmute. */
    r = op_user(fm, "mute", g, y.id, ",\"duration_ms\":600000");
    th_expect_ok(r);
    json_int_t until = th_jint(r, "until");
    assert_true(until > 0);
    json_decref(r);
    ev = member_ev(fy, "mute");
    assert_int_equal(until, th_jint(ev, "until"));
    json_decref(ev);
    send_text(fy, g, "m1", "hello?", "muted");
    r = room_now(fo, g);
    assert_int_equal(until, th_jint(member_of(json_object_get(r, "room"), y.id), "muted_until"));
    json_decref(r);
    th_expect_err(op_user(fm, "mute", g, y.id, NULL), "bad_request"); /* duration required */
    th_expect_ok(r = op_user(fm, "mute", g, y.id, ",\"duration_ms\":0"));
    json_decref(r);
    send_text(fy, g, "m2", "back", NULL);

    /* Deleting others' messages: moderators, below their rank. */
    json_int_t sy = send_seq(fy, g, "d1"), so = send_seq(fo, g, "d2");
    th_expect_err(th_call(fx, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", g, (long long)sy),
                  "forbidden");
    th_expect_err(th_call(fm, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", g, (long long)so),
                  "forbidden");
    r = th_call(fm, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%lld", g, (long long)sy);
    th_expect_ok(r);
    json_t *content = json_object_get(json_object_get(r, "message"), "content");
    assert_string_equal("deleted", th_jstr(content, "type"));
    assert_string_equal(m.id, th_jstr(content, "by"));
    json_decref(r);
    /* The stored tombstone says so too. */
    r = th_call(fx, "\"op\":\"history\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_t *msgs = json_object_get(r, "messages");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *mm = json_array_get(msgs, i);
        if (th_jint(mm, "seq") == sy) {
            assert_string_equal(m.id, th_jstr(json_object_get(mm, "content"), "by"));
            seen = true;
        }
    }
    assert_true(seen);
    json_decref(r);
    free(g);
    th_close(fo), th_close(fm), th_close(fx), th_close(fy);
}

static int audit_has(json_t *r, const char *action, const char *target)
{
    int n = 0;
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(r, "entries"), i, v)
    {
        n += !strcmp(th_jstr(v, "action"), action) &&
             (target == NULL || (th_jstr(v, "target") && !strcmp(th_jstr(v, "target"), target)));
    }
    return n;
}

static void test_audit(void **state)
{
    (void)state;
    th_user_t o, m, x, s;
    th_new_user(&o, "ao");
    th_new_user(&m, "am");
    th_new_user(&x, "ax");
    th_new_user(&s, "as");
    int fo = th_ws_login(&o), fm = th_ws_login(&m), fx = th_ws_login(&x), fs = th_ws_login(&s);
    const th_user_t *others[] = {&m, &x};
    char *g = group_of(fo, others, 2);
    json_t *r;
    th_expect_ok(r = op_user(fo, "set_role", g, m.id, ",\"role\":\"moderator\""));
    json_decref(r);
    th_expect_ok(r = op_user(fm, "mute", g, x.id, ",\"duration_ms\":1000,\"reason\":\"calm\""));
    json_decref(r);
    th_expect_ok(r = op_user(fm, "kick", g, x.id, NULL));
    json_decref(r);

    /* The owner reads the room's log, newest first. */
    r = th_call(fo, "\"op\":\"audit\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    json_t *e0 = json_array_get(json_object_get(r, "entries"), 0);
    assert_string_equal("kick", th_jstr(e0, "action"));
    assert_string_equal(m.id, th_jstr(e0, "actor"));
    assert_string_equal(x.id, th_jstr(e0, "target"));
    assert_string_equal(g, th_jstr(e0, "room"));
    assert_int_equal(1, audit_has(r, "set_role", m.id));
    assert_int_equal(1, audit_has(r, "mute", x.id));
    json_int_t first = th_jint(e0, "id");
    json_decref(r);
    /* Paging. */
    r = th_call(fo, "\"op\":\"audit\",\"room\":\"%s\",\"limit\":1,\"before\":%lld", g,
                (long long)first);
    th_expect_ok(r);
    assert_int_equal(1, json_array_size(json_object_get(r, "entries")));
    assert_true(json_is_true(json_object_get(r, "more")));
    assert_string_equal("mute",
                        th_jstr(json_array_get(json_object_get(r, "entries"), 0), "action"));
    assert_string_equal("calm",
                        th_jstr(json_array_get(json_object_get(r, "entries"), 0), "reason"));
    json_decref(r);

    /* Refused: a moderator, a stranger, the server-wide log for non-admins. */
    th_expect_err(th_call(fm, "\"op\":\"audit\",\"room\":\"%s\"", g), "forbidden");
    th_expect_err(th_call(fs, "\"op\":\"audit\",\"room\":\"%s\"", g), "forbidden");
    th_expect_err(th_call(fx, "\"op\":\"audit\",\"room\":\"%s\"", g), "forbidden");
    th_expect_err(th_call(fo, "\"op\":\"audit\""), "forbidden");
    th_expect_err(th_call(fo, "\"op\":\"audit\",\"room\":\"nope\""), "bad_request");

    /* The operator makes s a server admin: every room's log, and all. */
    char cmd[1024], out[256] = "";
    char store[600] = "";
    if (srv.pg_conninfo[0] != '\0')
        snprintf(store, sizeof store, " --set store=postgres --set 'pg_conninfo=%s'",
                 srv.pg_conninfo);
    snprintf(cmd, sizeof cmd, "'%s' --data '%s'%s --log-level error --make-admin %s",
             getenv("PARLEYD"), srv.data_dir, store, s.name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof out, p));
    assert_int_equal(0, pclose(p));
    assert_non_null(strstr(out, "is now a server admin"));
    r = th_call(fs, "\"op\":\"audit\",\"room\":\"%s\"", g);
    th_expect_ok(r);
    assert_int_equal(1, audit_has(r, "kick", x.id));
    json_decref(r);
    r = th_call(fs, "\"op\":\"audit\",\"limit\":200");
    th_expect_ok(r);
    assert_int_equal(1, audit_has(r, "make_admin", s.id));
    assert_true(audit_has(r, "kick", x.id) >= 1);
    json_decref(r);
    free(g);
    th_close(fo), th_close(fm), th_close(fx), th_close(fs);
}

/* A mute outlives a restart (the send path's view is loaded at startup). */
static void test_mute_survives_restart(void **state)
{
    (void)state;
    th_user_t o, y;
    th_new_user(&o, "ro");
    th_new_user(&y, "ry");
    int fo = th_ws_login(&o);
    const th_user_t *others[] = {&y};
    char *g = group_of(fo, others, 1);
    json_t *r;
    th_expect_ok(r = op_user(fo, "mute", g, y.id, ",\"duration_ms\":600000"));
    json_decref(r);
    th_close(fo);
    th_server_stop(&srv);
    th_server_restart(&srv, settings);
    int fy = th_ws_login(&y);
    send_text(fy, g, "r1", "after restart", "muted");
    th_close(fy);
    free(g);
}

static int group_setup(void **state)
{
    (void)state;
    th_server_start(&srv, settings);
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
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_ban_mute_delete),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_mute_survives_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
