/* SPDX-License-Identifier: MIT */
/* test_store_account.c -- the store's account rows on the direct connection
 * (SQLite, and PostgreSQL under the ctest label `pg`): TOTP and its
 * single-use steps, recovery codes used once, the devices list and its
 * deletions, password hashes, single-use reset tokens and invite codes with
 * expiry, and the passkey count of mfa_get. */
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

static void hash_of(uint8_t h[32], int v)
{
    memset(h, v, 32);
}

static void test_totp(void **state)
{
    fx_t *f = *state;
    int64_t u = mkuser(f->db, "alice");
    pl_mfa_state_t m;
    memset(&m, 0xff, sizeof m);
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_false(m.totp);
    assert_int_equal(0, m.recovery_left);
    assert_int_equal(0, m.passkeys);
    assert_int_equal(PL_ENOTFOUND, pl_db_totp_disable(f->db, u));

    uint8_t secret[40], salt[16], codes[3][32];
    memset(secret, 0x5a, sizeof secret);
    secret[0] = 0; /* bytes, not a string */
    memset(salt, 0x11, sizeof salt);
    for (int i = 0; i < 3; i++)
        hash_of(codes[i], 0x20 + i);
    assert_int_equal(PL_EINVAL, pl_db_totp_enable(f->db, u, secret, 0, salt, 7, codes, 3, 1000));
    assert_int_equal(PL_EINVAL, pl_db_totp_enable(f->db, u, secret, 65, salt, 7, codes, 3, 1000));
    assert_int_equal(0,
                     pl_db_totp_enable(f->db, u, secret, sizeof secret, salt, 7, codes, 3, 1000));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_true(m.totp);
    assert_int_equal(sizeof secret, m.totp_secret_len);
    assert_memory_equal(secret, m.totp_secret, sizeof secret);
    assert_memory_equal(salt, m.recovery_salt, sizeof salt);
    assert_int_equal(7, m.totp_last_step);
    assert_int_equal(3, m.recovery_left);

    /* steps verify once, in order */
    assert_int_equal(PL_EEXIST, pl_db_totp_use_step(f->db, u, 7));
    assert_int_equal(PL_EEXIST, pl_db_totp_use_step(f->db, u, 6));
    assert_int_equal(0, pl_db_totp_use_step(f->db, u, 8));
    assert_int_equal(PL_EEXIST, pl_db_totp_use_step(f->db, u, 8));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_int_equal(8, m.totp_last_step);

    /* recovery codes: each once */
    assert_int_equal(0, pl_db_recovery_code_use(f->db, u, codes[1], 2000));
    assert_int_equal(PL_ENOTFOUND, pl_db_recovery_code_use(f->db, u, codes[1], 2001));
    uint8_t other[32];
    hash_of(other, 0x77);
    assert_int_equal(PL_ENOTFOUND, pl_db_recovery_code_use(f->db, u, other, 2002));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_int_equal(2, m.recovery_left);
    /* a new set replaces the old one */
    assert_int_equal(0, pl_db_recovery_codes_set(f->db, u, (const uint8_t(*)[32]) & other, 1));
    assert_int_equal(PL_ENOTFOUND, pl_db_recovery_code_use(f->db, u, codes[0], 2003));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_int_equal(1, m.recovery_left);
    /* a duplicate hash in one set fails as a whole */
    uint8_t dup[2][32];
    hash_of(dup[0], 0x42);
    hash_of(dup[1], 0x42);
    assert_int_equal(PL_EEXIST, pl_db_recovery_codes_set(f->db, u, dup, 2));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_int_equal(1, m.recovery_left);

    /* enable again replaces secret and codes */
    secret[1] = 0x01;
    assert_int_equal(0, pl_db_totp_enable(f->db, u, secret, 20, salt, 3, codes, 2, 3000));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_int_equal(20, m.totp_secret_len);
    assert_memory_equal(secret, m.totp_secret, 20);
    assert_int_equal(3, m.totp_last_step);
    assert_int_equal(2, m.recovery_left);

    assert_int_equal(0, pl_db_totp_disable(f->db, u));
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_false(m.totp);
    assert_int_equal(0, m.recovery_left);
    assert_int_equal(PL_ENOTFOUND, pl_db_recovery_code_use(f->db, u, codes[0], 4000));
    assert_int_equal(PL_ENOTFOUND, pl_db_totp_disable(f->db, u));
}

static void test_mfa_passkeys(void **state)
{
    fx_t *f = *state;
    int64_t u = mkuser(f->db, "alice");
    pl_passkey_t k = {.user_id = u,
                      .cred_id = (unsigned char *)"c1",
                      .cred_id_len = 2,
                      .public_key = (unsigned char *)"\xa1\x01\x02",
                      .public_key_len = 3,
                      .alg = -7,
                      .name = "key",
                      .created_ms = 1000};
    int64_t id = 0, n = -1;
    assert_int_equal(0, pl_db_passkey_count(f->db, u, &n));
    assert_int_equal(0, n);
    assert_int_equal(0, pl_db_passkey_add(f->db, &k, &id));
    assert_int_equal(0, pl_db_passkey_count(f->db, u, &n));
    assert_int_equal(1, n);
    pl_mfa_state_t m;
    assert_int_equal(0, pl_db_mfa_get(f->db, u, &m));
    assert_false(m.totp);
    assert_int_equal(1, m.passkeys);
}

static void test_sessions(void **state)
{
    fx_t *f = *state;
    int64_t alice = mkuser(f->db, "alice"), bob = mkuser(f->db, "bob");
    int64_t d[3], bd = 0;
    for (int i = 0; i < 3; i++) {
        unsigned char tok[32];
        memset(tok, 0x30 + i, sizeof tok);
        char name[16];
        snprintf(name, sizeof name, "dev%d", i);
        assert_int_equal(0, pl_db_session_create(f->db, alice, tok, name, 1000 + i, &d[i]));
    }
    unsigned char btok[32];
    memset(btok, 0x99, sizeof btok);
    assert_int_equal(0, pl_db_session_create(f->db, bob, btok, "bobdev", 5000, &bd));
    assert_int_equal(0, pl_db_session_set_ip(f->db, d[1], "192.0.2.0/24"));

    pl_session_info_t *v = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_sessions_list(f->db, alice, &v, &n));
    assert_int_equal(3, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i], v[i].device_id);
        char name[32];
        snprintf(name, sizeof name, "dev%zu", i);
        assert_string_equal(name, v[i].name);
        assert_string_equal(i == 1 ? "192.0.2.0/24" : "", v[i].ip);
        assert_int_equal(1000 + (int64_t)i, v[i].created_ms);
        pl_session_info_dispose(&v[i]);
    }
    free(v);

    /* only the owner deletes a device */
    assert_int_equal(PL_ENOTFOUND, pl_db_session_delete_id(f->db, bob, d[0]));
    assert_int_equal(0, pl_db_session_delete_id(f->db, alice, d[0]));
    assert_int_equal(PL_ENOTFOUND, pl_db_session_delete_id(f->db, alice, d[0]));

    int64_t *ids = NULL;
    assert_int_equal(0, pl_db_sessions_delete_others(f->db, alice, d[2], &ids, &n));
    assert_int_equal(1, n);
    assert_int_equal(d[1], ids[0]);
    free(ids);
    ids = NULL;
    assert_int_equal(0, pl_db_sessions_delete_others(f->db, alice, d[2], &ids, &n));
    assert_int_equal(0, n);
    free(ids);
    assert_int_equal(0, pl_db_sessions_list(f->db, alice, &v, &n));
    assert_int_equal(1, n);
    assert_int_equal(d[2], v[0].device_id);
    pl_session_info_dispose(&v[0]);
    free(v);
    /* keep 0: all of them; bob's stay */
    ids = NULL;
    assert_int_equal(0, pl_db_sessions_delete_others(f->db, alice, 0, &ids, &n));
    assert_int_equal(1, n);
    assert_int_equal(d[2], ids[0]);
    free(ids);
    int64_t count = 0;
    assert_int_equal(0, pl_db_session_count(f->db, bob, &count));
    assert_int_equal(1, count);
}

static void test_pwhash(void **state)
{
    fx_t *f = *state;
    int64_t u = mkuser(f->db, "alice");
    assert_int_equal(0, pl_db_user_set_pwhash(f->db, u, "$argon2id$new"));
    pl_user_t user = {0};
    assert_int_equal(0, pl_db_user_by_id(f->db, u, &user));
    assert_string_equal("$argon2id$new", user.pwhash);
    pl_user_dispose(&user);
    assert_int_equal(PL_ENOTFOUND, pl_db_user_set_pwhash(f->db, u + 100, "$argon2id$x"));
}

static void test_reset_tokens(void **state)
{
    fx_t *f = *state;
    int64_t alice = mkuser(f->db, "alice"), bob = mkuser(f->db, "bob");
    uint8_t t1[32], t2[32], t3[32], tb[32], none[32];
    hash_of(t1, 1);
    hash_of(t2, 2);
    hash_of(t3, 3);
    hash_of(tb, 4);
    hash_of(none, 5);
    assert_int_equal(0, pl_db_reset_token_create(f->db, alice, t1, 1000, 5000));
    assert_int_equal(0, pl_db_reset_token_create(f->db, alice, t2, 1000, 5000));
    assert_int_equal(0, pl_db_reset_token_create(f->db, alice, t3, 1000, 1500));
    assert_int_equal(0, pl_db_reset_token_create(f->db, bob, tb, 1000, 5000));
    assert_int_equal(PL_EEXIST, pl_db_reset_token_create(f->db, bob, t1, 1000, 5000));

    int64_t uid = 0;
    assert_int_equal(0, pl_db_reset_token_user(f->db, t1, 2000, &uid));
    assert_int_equal(alice, uid);
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_user(f->db, t3, 2000, &uid)); /* expired */
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_user(f->db, none, 2000, &uid));
    /* taking one spends every token of the user */
    uid = 0;
    assert_int_equal(0, pl_db_reset_token_take(f->db, t1, 2000, &uid));
    assert_int_equal(alice, uid);
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_take(f->db, t1, 2000, &uid));
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_take(f->db, t2, 2000, &uid));
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_user(f->db, t2, 2000, &uid));
    /* bob's token is untouched */
    assert_int_equal(0, pl_db_reset_token_user(f->db, tb, 2000, &uid));
    assert_int_equal(bob, uid);
    /* an expired token is not taken, and taking it spends the user's others */
    assert_int_equal(0, pl_db_reset_token_create(f->db, bob, t3, 1000, 1500));
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_take(f->db, t3, 2000, &uid));
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_user(f->db, tb, 2000, &uid));
    assert_int_equal(PL_ENOTFOUND, pl_db_reset_token_take(f->db, tb, 2000, &uid));
}

static void test_invite_codes(void **state)
{
    fx_t *f = *state;
    int64_t alice = mkuser(f->db, "alice"), bob = mkuser(f->db, "bob");
    uint8_t c1[32], c2[32], none[32];
    hash_of(c1, 0x61);
    hash_of(c2, 0x62);
    hash_of(none, 0x63);
    assert_int_equal(0, pl_db_invite_code_create(f->db, c1, 1000, 5000));
    assert_int_equal(0, pl_db_invite_code_create(f->db, c2, 1000, 1500));
    assert_int_equal(PL_EEXIST, pl_db_invite_code_create(f->db, c1, 1000, 9000));
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_code_take(f->db, none, alice, 2000));
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_code_take(f->db, c2, alice, 2000)); /* expired */
    assert_int_equal(0, pl_db_invite_code_take(f->db, c1, alice, 2000));
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_code_take(f->db, c1, bob, 2001)); /* used */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_totp),   T(test_mfa_passkeys), T(test_sessions),
        T(test_pwhash), T(test_reset_tokens), T(test_invite_codes),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
