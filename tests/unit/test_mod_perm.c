/* SPDX-License-Identifier: MIT */
/* test_mod_perm.c -- the permission table of room roles, every
 * (actor, action, target[, grant]) combination against a table written out
 * by hand (docs/protocol.md, "Roles and moderation"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "chat/mod_perm.h"

#define M PL_ROLE_MEMBER
#define D PL_ROLE_MODERATOR
#define A PL_ROLE_ADMIN
#define O PL_ROLE_OWNER

/* Actions on a person other than set_role: [actor][target]. */
static const bool person[4][4] = {
    /*            M      D      A      O */
    /* M */ {false, false, false, false},
    /* D */ {true, false, false, false},
    /* A */ {true, true, false, false},
    /* O */ {true, true, true, false},
};

/* Actions on the room: [action] -> allowed for [actor]. */
static const struct {
    pl_mod_action_t a;
    bool by[4];
} room_actions[] = {
    {PL_MOD_INVITE, {true, true, true, true}},
    {PL_MOD_SETTINGS, {false, false, true, true}},
    {PL_MOD_PIN, {false, true, true, true}},
    {PL_MOD_AUDIT, {false, false, true, true}},
};

/* set_role: every allowed (actor, target, grant); all else is refused. */
static const int set_role_ok[][3] = {
    {A, M, M}, {A, M, D}, {A, D, M}, {A, D, D},                       /* admin */
    {O, M, M}, {O, M, D}, {O, M, A}, {O, M, O}, {O, D, M}, {O, D, D}, /* owner */
    {O, D, A}, {O, D, O}, {O, A, M}, {O, A, D}, {O, A, A}, {O, A, O},
};

static void test_person_actions(void **state)
{
    (void)state;
    const pl_mod_action_t acts[] = {PL_MOD_KICK, PL_MOD_BAN, PL_MOD_MUTE, PL_MOD_DELETE_OTHERS};
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++)
        for (int a = 0; a < 4; a++)
            for (int t = 0; t < 4; t++)
                for (int g = 0; g < 4; g++) { /* grant is ignored */
                    bool got = pl_mod_allowed((pl_role_t)a, acts[k], (pl_role_t)t, (pl_role_t)g);
                    if (got != person[a][t])
                        fail_msg("action %s actor %d target %d: got %d",
                                 pl_mod_action_name(acts[k]), a, t, got);
                }
}

static void test_room_actions(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof room_actions / sizeof *room_actions; k++)
        for (int a = 0; a < 4; a++)
            for (int t = 0; t < 4; t++)
                assert_int_equal(room_actions[k].by[a],
                                 pl_mod_allowed((pl_role_t)a, room_actions[k].a, (pl_role_t)t, M));
}

static void test_set_role(void **state)
{
    (void)state;
    size_t allowed = 0;
    for (int a = 0; a < 4; a++)
        for (int t = 0; t < 4; t++)
            for (int g = 0; g < 4; g++) {
                bool want = false;
                for (size_t i = 0; i < sizeof set_role_ok / sizeof *set_role_ok; i++)
                    want |=
                        set_role_ok[i][0] == a && set_role_ok[i][1] == t && set_role_ok[i][2] == g;
                bool got =
                    pl_mod_allowed((pl_role_t)a, PL_MOD_SET_ROLE, (pl_role_t)t, (pl_role_t)g);
                if (got != want)
                    fail_msg("set_role actor %d target %d grant %d: got %d", a, t, g, got);
                allowed += got;
            }
    assert_int_equal(sizeof set_role_ok / sizeof *set_role_ok, allowed);
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_false(pl_mod_allowed((pl_role_t)4, PL_MOD_KICK, M, M));
    assert_false(pl_mod_allowed((pl_role_t)-1, PL_MOD_INVITE, M, M));
    assert_false(pl_mod_allowed(O, PL_MOD__COUNT, M, M));
    assert_false(pl_mod_allowed(O, (pl_mod_action_t)-1, M, M));
    assert_false(pl_mod_allowed(O, PL_MOD_KICK, (pl_role_t)-1, M));
    assert_false(pl_mod_allowed(O, PL_MOD_SET_ROLE, M, (pl_role_t)4));
    assert_false(pl_mod_allowed(O, PL_MOD_SET_ROLE, M, (pl_role_t)-1));
}

static void test_names(void **state)
{
    (void)state;
    const char *names[] = {"member", "moderator", "admin", "owner"};
    for (int i = 0; i < 4; i++) {
        pl_role_t r;
        assert_string_equal(names[i], pl_mod_role_name((pl_role_t)i));
        assert_true(pl_mod_role_parse(names[i], &r));
        assert_int_equal(i, r);
    }
    pl_role_t r = M;
    assert_false(pl_mod_role_parse("Owner", &r));
    assert_false(pl_mod_role_parse("", &r));
    assert_false(pl_mod_role_parse(NULL, &r));
    assert_null(pl_mod_role_name((pl_role_t)4));
    for (int a = 0; a < PL_MOD__COUNT; a++)
        assert_non_null(pl_mod_action_name((pl_mod_action_t)a));
    assert_null(pl_mod_action_name(PL_MOD__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_actions), cmocka_unit_test(test_room_actions),
        cmocka_unit_test(test_set_role),       cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
