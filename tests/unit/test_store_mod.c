/* SPDX-License-Identifier: MIT */
/* test_store_mod.c -- moderation rows of the store (issue 17; SQLite, and
 * PostgreSQL under the ctest label `pg`): roles and mutes on the membership
 * row, bans, the audit log (paged, per room and server-wide), server
 * admins, a moderator's tombstone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"

#include "test_store_fx.h"

static void test_roles_mutes(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), c = mkuser(f->db, "carol");
    int64_t room = 0;
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", a, &b, 1, 1000, &room));
    pl_member_mod_t mm = {0};
    assert_int_equal(0, pl_db_member_mod_get(f->db, room, b, &mm));
    assert_int_equal(0, mm.role);
    assert_int_equal(0, mm.muted_until);
    assert_int_equal(PL_ENOTFOUND, pl_db_member_mod_get(f->db, room, c, &mm));
    assert_int_equal(0, pl_db_member_role_set(f->db, room, a, 3));
    assert_int_equal(0, pl_db_member_role_set(f->db, room, b, 1));
    assert_int_equal(PL_ENOTFOUND, pl_db_member_role_set(f->db, room, c, 1));
    assert_int_equal(0, pl_db_member_mute_set(f->db, room, b, 5000));
    assert_int_equal(PL_ENOTFOUND, pl_db_member_mute_set(f->db, room, c, 5000));
    assert_int_equal(0, pl_db_member_mod_get(f->db, room, b, &mm));
    assert_int_equal(1, mm.role);
    assert_int_equal(5000, mm.muted_until);
    int64_t n = 0;
    assert_int_equal(0, pl_db_room_role_count(f->db, room, 3, &n));
    assert_int_equal(1, n);
    assert_int_equal(0, pl_db_room_role_count(f->db, room, 1, &n));
    assert_int_equal(2, n);
    /* room_mods: both (a role, b role and mute); all mutes: b while due */
    pl_member_mod_t *v = NULL;
    size_t k = 0;
    assert_int_equal(0, pl_db_room_mods(f->db, room, 2000, &v, &k));
    assert_int_equal(2, k);
    assert_int_equal(a, v[0].user_id);
    assert_int_equal(b, v[1].user_id);
    free(v);
    assert_int_equal(0, pl_db_room_mods(f->db, 0, 2000, &v, &k));
    assert_int_equal(1, k);
    assert_int_equal(room, v[0].room_id);
    assert_int_equal(5000, v[0].muted_until);
    free(v);
    assert_int_equal(0, pl_db_room_mods(f->db, 0, 6000, &v, &k));
    assert_int_equal(0, k);
    free(v);
}

static void test_bans(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    int64_t room = 0;
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", a, NULL, 0, 1000, &room));
    bool banned = true;
    assert_int_equal(0, pl_db_ban_get(f->db, room, b, &banned));
    assert_false(banned);
    pl_ban_t ban = {.room_id = room, .user_id = b, .by = a, .reason = "spam", .created_ms = 2000};
    assert_int_equal(0, pl_db_ban_put(f->db, &ban));
    ban.reason = "spam again"; /* a second ban replaces the first */
    assert_int_equal(0, pl_db_ban_put(f->db, &ban));
    assert_int_equal(0, pl_db_ban_get(f->db, room, b, &banned));
    assert_true(banned);
    pl_ban_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_bans(f->db, room, 10, &v, &n));
    assert_int_equal(1, n);
    assert_string_equal("spam again", v[0].reason);
    assert_int_equal(a, v[0].by);
    pl_bans_free(v, n);
    assert_int_equal(0, pl_db_ban_delete(f->db, room, b));
    assert_int_equal(PL_ENOTFOUND, pl_db_ban_delete(f->db, room, b));
    assert_int_equal(0, pl_db_ban_get(f->db, room, b, &banned));
    assert_false(banned);
}

static void test_audit_admin(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    for (int i = 0; i < 5; i++) {
        pl_audit_t e = {.ts = 1000 + i,
                        .room_id = i < 3 ? 7 : 0,
                        .actor = a,
                        .action = i < 3 ? "kick" : "make_admin",
                        .target = b,
                        .reason = i == 0 ? "first" : "",
                        .detail = "{\"seq\":1}"};
        assert_int_equal(0, pl_db_audit_add(f->db, &e));
    }
    pl_audit_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_audit_list(f->db, 7, 0, 10, &v, &n));
    assert_int_equal(3, n);
    assert_true(v[0].id > v[1].id); /* newest first */
    assert_string_equal("first", v[2].reason);
    assert_string_equal("{\"seq\":1}", v[2].detail);
    int64_t cursor = v[0].id;
    pl_audit_free(v, n);
    assert_int_equal(0, pl_db_audit_list(f->db, 7, cursor, 1, &v, &n));
    assert_int_equal(1, n);
    assert_true(v[0].id < cursor);
    pl_audit_free(v, n);
    assert_int_equal(0, pl_db_audit_list(f->db, 0, 0, 10, &v, &n));
    assert_int_equal(5, n);
    assert_string_equal("make_admin", v[0].action);
    pl_audit_free(v, n);

    bool admin = true;
    assert_int_equal(0, pl_db_user_admin_get(f->db, a, &admin));
    assert_false(admin);
    assert_int_equal(0, pl_db_user_admin_set(f->db, a, true));
    assert_int_equal(0, pl_db_user_admin_get(f->db, a, &admin));
    assert_true(admin);
    assert_int_equal(PL_ENOTFOUND, pl_db_user_admin_set(f->db, 999999, true));
    assert_int_equal(0, pl_db_user_admin_get(f->db, 999999, &admin));
    assert_false(admin);
}

static void test_tombstone(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    int64_t room = 0;
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", a, NULL, 0, 1000, &room));
    pl_message_new_t in = {.room_id = room,
                           .sender = a,
                           .client_id = "c1",
                           .content = "{\"type\":\"text\",\"body\":\"hi\"}",
                           .now_ms = 1000};
    pl_message_t m = {0};
    bool dup = false;
    assert_int_equal(0, pl_db_message_post(f->db, &in, &m, &dup, NULL));
    pl_message_dispose(&m);
    /* a live message keeps its text */
    assert_int_equal(PL_ENOTFOUND, pl_db_tombstone_set(f->db, room, 1, "{\"type\":\"deleted\"}"));
    assert_int_equal(0, pl_db_message_delete(f->db, room, 1, &m));
    pl_message_dispose(&m);
    assert_int_equal(0,
                     pl_db_tombstone_set(f->db, room, 1, "{\"type\":\"deleted\",\"by\":\"u1\"}"));
    assert_int_equal(0, pl_db_message_get(f->db, room, 1, &m));
    assert_true(m.deleted);
    assert_string_equal("{\"type\":\"deleted\",\"by\":\"u1\"}", m.content);
    pl_message_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_roles_mutes),
        T(test_bans),
        T(test_audit_admin),
        T(test_tombstone),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
