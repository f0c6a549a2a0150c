/* SPDX-License-Identifier: MIT */
/* test_store_passkey.c -- the store's passkey rows on the direct connection:
 * user handles, add (unique credential ids over all users), list, delete and
 * rename only by the owner, and the sign counter that only grows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "store/store.h"

#include "test_store_fx.h"

static int64_t add(pl_db_t *db, int64_t user, const char *cred, int64_t count)
{
    pl_passkey_t k = {.user_id = user,
                      .cred_id = (unsigned char *)cred,
                      .cred_id_len = strlen(cred),
                      .public_key = (unsigned char *)"\xa1\x01\x02",
                      .public_key_len = 3,
                      .alg = -7,
                      .sign_count = count,
                      .name = "key",
                      .created_ms = 1000};
    int64_t id = 0;
    int rc = pl_db_passkey_add(db, &k, &id);
    return rc < 0 ? rc : id;
}

static void test_handle(void **state)
{
    fx_t *f = *state;
    int64_t u = mkuser(f->db, "alice");
    unsigned char a[PL_PASSKEY_HANDLE_LEN], b[PL_PASSKEY_HANDLE_LEN], out[PL_PASSKEY_HANDLE_LEN];
    memset(a, 0xAA, sizeof a);
    memset(b, 0xBB, sizeof b);
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_handle(f->db, u, false, a, out));
    assert_int_equal(0, pl_db_passkey_handle(f->db, u, true, a, out));
    assert_memory_equal(a, out, sizeof a);
    /* stable: a second create keeps the first handle */
    assert_int_equal(0, pl_db_passkey_handle(f->db, u, true, b, out));
    assert_memory_equal(a, out, sizeof a);
}

static void test_add_list_delete(void **state)
{
    fx_t *f = *state;
    int64_t alice = mkuser(f->db, "alice"), bob = mkuser(f->db, "bob");
    int64_t k1 = add(f->db, alice, "cred-1", 0), k2 = add(f->db, alice, "cred-2", 5);
    assert_true(k1 > 0 && k2 > k1);
    assert_int_equal(PL_EEXIST, add(f->db, bob, "cred-1", 0)); /* another user's credential id */
    pl_passkey_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_passkey_list(f->db, alice, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(k1, v[0].id);
    assert_memory_equal("cred-2", v[1].cred_id, 6);
    assert_int_equal(5, v[1].sign_count);
    assert_int_equal(3, v[1].public_key_len);
    pl_passkeys_free(v, n);
    assert_int_equal(0, pl_db_passkey_list(f->db, bob, &v, &n));
    assert_int_equal(0, n);
    pl_passkeys_free(v, n);
    /* bob can neither rename nor delete alice's */
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_rename(f->db, bob, k1, "mine"));
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_delete(f->db, bob, k1));
    assert_int_equal(0, pl_db_passkey_rename(f->db, alice, k1, "laptop"));
    pl_passkey_t k;
    assert_int_equal(0, pl_db_passkey_by_credential(f->db, (const unsigned char *)"cred-1", 6, &k));
    assert_string_equal("laptop", k.name);
    assert_int_equal(alice, k.user_id);
    pl_passkey_dispose(&k);
    assert_int_equal(0, pl_db_passkey_delete(f->db, alice, k1));
    assert_int_equal(PL_ENOTFOUND,
                     pl_db_passkey_by_credential(f->db, (const unsigned char *)"cred-1", 6, &k));
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_used(f->db, k1, 1, 2000));
}

static void test_counter(void **state)
{
    fx_t *f = *state;
    int64_t u = mkuser(f->db, "alice");
    int64_t zero = add(f->db, u, "z", 0), five = add(f->db, u, "f", 5);
    /* authenticators without a counter report 0 every time */
    assert_int_equal(0, pl_db_passkey_used(f->db, zero, 0, 2000));
    assert_int_equal(0, pl_db_passkey_used(f->db, zero, 0, 3000));
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_used(f->db, five, 5, 2000)); /* replayed */
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_used(f->db, five, 4, 2000)); /* went back */
    assert_int_equal(PL_ENOTFOUND, pl_db_passkey_used(f->db, five, 0, 2000));
    assert_int_equal(0, pl_db_passkey_used(f->db, five, 6, 2000));
    pl_passkey_t k;
    assert_int_equal(0, pl_db_passkey_by_credential(f->db, (const unsigned char *)"f", 1, &k));
    assert_int_equal(6, k.sign_count);
    assert_int_equal(2000, k.last_used_ms);
    pl_passkey_dispose(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_handle),
        T(test_add_list_delete),
        T(test_counter),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
