/* SPDX-License-Identifier: MIT */
/* test_store_hooks.c -- incoming webhook rows of the store (issue 16;
 * SQLite, and PostgreSQL under the ctest label `pg`): create with the
 * per-room bound, get (live and revoked), list (live only, oldest first),
 * revoke once, and the rows go with their room. Outgoing webhook rows
 * (step 2): the same, with url, trigger words and the signing secret kept
 * as given. */
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

static int64_t mkgroup(pl_db_t *db, int64_t creator)
{
    int64_t room = 0;
    assert_int_equal(0, pl_db_room_create_group(db, "g", creator, NULL, 0, 1000, &room));
    return room;
}

static int64_t mkhook(pl_db_t *db, int64_t room, int64_t creator, const char *name, int64_t max,
                      int want)
{
    pl_webhook_t w = {.room_id = room,
                      .creator = creator,
                      .name = (char *)name,
                      .icon_url = "https://example.org/i.png",
                      .created_ms = 2000};
    memset(w.secret_hash, 'a', PL_WEBHOOK_HASH_HEX);
    int64_t id = 0;
    assert_int_equal(want, pl_db_webhook_create(db, &w, max, &id));
    return id;
}

static void test_hooks(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    int64_t r1 = mkgroup(f->db, a), r2 = mkgroup(f->db, a);
    int64_t h1 = mkhook(f->db, r1, a, "ci", 2, 0), h2 = mkhook(f->db, r1, a, "deploy", 2, 0);
    assert_true(h1 > 0 && h2 > h1);
    mkhook(f->db, r1, a, "third", 2, PL_ETOOBIG); /* the bound counts live ones */
    int64_t h3 = mkhook(f->db, r2, a, "other room", 2, 0);
    pl_webhook_t w;
    assert_int_equal(0, pl_db_webhook_get(f->db, h1, &w));
    assert_int_equal(r1, w.room_id);
    assert_int_equal(a, w.creator);
    assert_string_equal("ci", w.name);
    assert_string_equal("https://example.org/i.png", w.icon_url);
    assert_int_equal(PL_WEBHOOK_HASH_HEX, strlen(w.secret_hash));
    assert_int_equal(0, w.revoked_ms);
    pl_webhook_dispose(&w);
    pl_webhook_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_webhook_list(f->db, r1, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(h1, v[0].id);
    assert_string_equal("deploy", v[1].name);
    pl_webhooks_free(v, n);
    /* revoke: once; the row stays readable as revoked, the list drops it */
    assert_int_equal(0, pl_db_webhook_revoke(f->db, h1, 3000));
    assert_int_equal(PL_ENOTFOUND, pl_db_webhook_revoke(f->db, h1, 3001));
    assert_int_equal(0, pl_db_webhook_get(f->db, h1, &w));
    assert_int_equal(3000, w.revoked_ms);
    pl_webhook_dispose(&w);
    v = NULL;
    assert_int_equal(0, pl_db_webhook_list(f->db, r1, &v, &n));
    assert_int_equal(1, n);
    assert_int_equal(h2, v[0].id);
    pl_webhooks_free(v, n);
    mkhook(f->db, r1, a, "again", 2, 0); /* room for one more after the revoke */
    assert_int_equal(PL_ENOTFOUND, pl_db_webhook_get(f->db, 999999, &w));
    assert_int_equal(PL_ENOTFOUND, pl_db_webhook_revoke(f->db, 999999, 1));
    v = NULL;
    assert_int_equal(0, pl_db_webhook_list(f->db, 999999, &v, &n));
    assert_int_equal(0, n);
    assert_null(v);
    (void)h3;
}

static int64_t mkout(pl_db_t *db, int64_t room, int64_t creator, const char *url,
                     const char *triggers, int want)
{
    pl_outhook_t w = {.room_id = room,
                      .creator = creator,
                      .url = (char *)url,
                      .triggers = (char *)triggers,
                      .secret = "c2VjcmV0LXNpZ25pbmcta2V5",
                      .created_ms = 2000};
    int64_t id = 0;
    assert_int_equal(want, pl_db_outhook_create(db, &w, 2, &id));
    return id;
}

static void test_outhooks(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    int64_t r1 = mkgroup(f->db, a), r2 = mkgroup(f->db, a);
    int64_t o1 = mkout(f->db, r1, a, "https://bots.example/a", "!deploy ci", 0);
    int64_t o2 = mkout(f->db, r1, a, "http://127.0.0.1:9/b", NULL, 0);
    assert_true(o1 > 0 && o2 > o1);
    mkout(f->db, r1, a, "https://bots.example/c", "", PL_ETOOBIG);
    mkout(f->db, r2, a, "https://bots.example/d", "", 0); /* the bound is per room */
    pl_outhook_t w;
    assert_int_equal(0, pl_db_outhook_get(f->db, o1, &w));
    assert_int_equal(r1, w.room_id);
    assert_int_equal(a, w.creator);
    assert_string_equal("https://bots.example/a", w.url);
    assert_string_equal("!deploy ci", w.triggers);
    assert_string_equal("c2VjcmV0LXNpZ25pbmcta2V5", w.secret);
    assert_int_equal(2000, w.created_ms);
    assert_int_equal(0, w.revoked_ms);
    pl_outhook_dispose(&w);
    pl_outhook_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_outhook_list(f->db, r1, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(o1, v[0].id);
    assert_string_equal("", v[1].triggers); /* NULL stored as every message */
    pl_outhooks_free(v, n);
    assert_int_equal(0, pl_db_outhook_revoke(f->db, o1, 3000));
    assert_int_equal(PL_ENOTFOUND, pl_db_outhook_revoke(f->db, o1, 3001));
    assert_int_equal(0, pl_db_outhook_get(f->db, o1, &w));
    assert_int_equal(3000, w.revoked_ms);
    pl_outhook_dispose(&w);
    v = NULL;
    assert_int_equal(0, pl_db_outhook_list(f->db, r1, &v, &n));
    assert_int_equal(1, n);
    assert_int_equal(o2, v[0].id);
    pl_outhooks_free(v, n);
    assert_int_equal(PL_ENOTFOUND, pl_db_outhook_get(f->db, 999999, &w));
    assert_int_equal(PL_ENOTFOUND, pl_db_outhook_revoke(f->db, 999999, 1));
    v = NULL;
    assert_int_equal(0, pl_db_outhook_list(f->db, 999999, &v, &n));
    assert_int_equal(0, n);
    assert_null(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outhooks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
