/* SPDX-License-Identifier: MIT */
/* test_store_push.c -- Web Push rows of the store (SQLite, and PostgreSQL
 * under the ctest label `pg`): subscriptions bounded per user, moved when an
 * endpoint is subscribed again, deleted with their session (logout,
 * revoke), by id and by endpoint (only the owner's); settings rows with
 * defaults, upserts and the `all` index. */
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

static int64_t mksession(pl_db_t *db, int64_t user, unsigned char tag)
{
    unsigned char h[32];
    memset(h, tag, sizeof h);
    int64_t dev = 0;
    assert_int_equal(0, pl_db_session_create(db, user, h, "dev", 1000, &dev));
    return dev;
}

static size_t nsubs(pl_db_t *db, int64_t user)
{
    pl_push_sub_row_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_push_subs(db, user, &v, &n));
    for (size_t i = 0; i < n; i++)
        pl_push_sub_row_dispose(&v[i]);
    free(v);
    return n;
}

static void test_subs(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    int64_t da = mksession(f->db, a, 1), da2 = mksession(f->db, a, 2), db_ = mksession(f->db, b, 3);
    int64_t id1 = 0, id2 = 0, id3 = 0;
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, da, "https://p/1", "K1", "A1", 2, 1, &id1));
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, da2, "https://p/2", "K2", "A2", 2, 1, &id2));
    /* the bound: a third is refused, the same endpoint again is not */
    assert_int_equal(PL_ETOOBIG,
                     pl_db_push_sub_put(f->db, a, da, "https://p/3", "K3", "A3", 2, 1, NULL));
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, da, "https://p/2", "K2b", "A2b", 2, 1, &id3));
    assert_int_equal(id2, id3);
    pl_push_sub_row_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_push_subs(f->db, a, &v, &n));
    assert_int_equal(2, n);
    assert_string_equal("https://p/1", v[0].endpoint);
    assert_int_equal(da, v[1].device_id); /* moved to the device that subscribed again */
    assert_string_equal("K2b", v[1].p256dh);
    assert_string_equal("A2b", v[1].auth);
    for (size_t i = 0; i < n; i++)
        pl_push_sub_row_dispose(&v[i]);
    free(v);
    /* another user subscribing the same browser takes it over */
    assert_int_equal(0, pl_db_push_sub_put(f->db, b, db_, "https://p/1", "K", "A", 2, 1, NULL));
    assert_int_equal(1, nsubs(f->db, a));
    assert_int_equal(1, nsubs(f->db, b));
    /* only the owner deletes by endpoint */
    assert_int_equal(PL_ENOTFOUND, pl_db_push_sub_delete(f->db, a, "https://p/1"));
    assert_int_equal(0, pl_db_push_sub_delete(f->db, b, "https://p/1"));
    assert_int_equal(0, nsubs(f->db, b));
    /* by id, twice */
    assert_int_equal(0, pl_db_push_sub_delete_id(f->db, id2));
    assert_int_equal(0, pl_db_push_sub_delete_id(f->db, id2));
    assert_int_equal(0, nsubs(f->db, a));
    /* a session that does not exist */
    assert_int_equal(PL_ENOTFOUND,
                     pl_db_push_sub_put(f->db, a, 999999, "https://p/9", "K", "A", 2, 1, NULL));
}

static void test_subs_die_with_session(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    int64_t d1 = mksession(f->db, a, 1), d2 = mksession(f->db, a, 2);
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, d1, "https://p/1", "K", "A", 9, 1, NULL));
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, d2, "https://p/2", "K", "A", 9, 1, NULL));
    unsigned char h[32];
    memset(h, 1, sizeof h);
    int64_t dev = 0;
    assert_int_equal(0, pl_db_session_delete(f->db, h, &dev)); /* logout */
    assert_int_equal(1, nsubs(f->db, a));
    assert_int_equal(0, pl_db_session_delete_id(f->db, a, d2)); /* revoke */
    assert_int_equal(0, nsubs(f->db, a));
}

/* The users the send path may push to (loaded at start, push_ops.c). */
static void test_sub_users(void **state)
{
    fx_t *f = *state;
    int64_t *ids = NULL;
    size_t n = 9;
    assert_int_equal(0, pl_db_push_sub_users(f->db, &ids, &n));
    assert_int_equal(0, n);
    free(ids);
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    mkuser(f->db, "carol");
    int64_t da = mksession(f->db, a, 1), db = mksession(f->db, b, 2);
    assert_int_equal(0, pl_db_push_sub_put(f->db, b, db, "https://p/b", "K", "A", 9, 1, NULL));
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, da, "https://p/a1", "K", "A", 9, 1, NULL));
    assert_int_equal(0, pl_db_push_sub_put(f->db, a, da, "https://p/a2", "K", "A", 9, 1, NULL));
    ids = NULL;
    assert_int_equal(0, pl_db_push_sub_users(f->db, &ids, &n));
    assert_int_equal(2, n); /* distinct, ascending */
    assert_int_equal(a < b ? a : b, ids[0]);
    assert_int_equal(a < b ? b : a, ids[1]);
    free(ids);
    assert_int_equal(0, pl_db_push_sub_delete(f->db, b, "https://p/b"));
    ids = NULL;
    assert_int_equal(0, pl_db_push_sub_users(f->db, &ids, &n));
    assert_int_equal(1, n);
    assert_int_equal(a, ids[0]);
    free(ids);
}

static void test_prefs(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    pl_push_pref_t p;
    assert_int_equal(PL_ENOTFOUND, pl_db_push_pref_get(f->db, a, 0, &p));
    pl_push_pref_t acct = {0, 0, 5000, 1, 22 * 60, 7 * 60};
    assert_int_equal(0, pl_db_push_pref_put(f->db, a, &acct));
    pl_push_pref_t room = {42, PL_PUSH_LEVEL_ALL, 0, -1, -1, -1};
    assert_int_equal(0, pl_db_push_pref_put(f->db, a, &room));
    room.level = PL_PUSH_LEVEL_NOTHING;
    room.mute_until = 77;
    assert_int_equal(0, pl_db_push_pref_put(f->db, b, &room));
    assert_int_equal(0, pl_db_push_pref_get(f->db, a, 0, &p));
    assert_int_equal(5000, p.mute_until);
    assert_int_equal(1, p.content_free);
    assert_int_equal(22 * 60, p.dnd_start);
    assert_int_equal(7 * 60, p.dnd_end);
    int64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_push_room_all(f->db, 42, &ids, &n));
    assert_int_equal(1, n);
    assert_int_equal(a, ids[0]);
    free(ids);
    /* upsert */
    room.level = PL_PUSH_LEVEL_MENTIONS;
    room.mute_until = 0;
    assert_int_equal(0, pl_db_push_pref_put(f->db, a, &room));
    assert_int_equal(0, pl_db_push_room_all(f->db, 42, &ids, &n));
    assert_int_equal(0, n);
    free(ids);
    pl_push_pref_t *v = NULL;
    assert_int_equal(0, pl_db_push_prefs(f->db, a, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(0, v[0].room_id);
    assert_int_equal(42, v[1].room_id);
    assert_int_equal(PL_PUSH_LEVEL_MENTIONS, v[1].level);
    free(v);
    /* the schema refuses a level out of range */
    pl_push_pref_t bad = {43, 9, 0, -1, -1, -1};
    assert_true(pl_db_push_pref_put(f->db, a, &bad) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_subs),
        T(test_subs_die_with_session),
        T(test_prefs),
        T(test_sub_users),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
