/* SPDX-License-Identifier: MIT */
/* store_pg_account.c -- second factors (TOTP, recovery codes), the devices
 * list, password changes and resets, invite codes on PostgreSQL (see
 * store_sqlite_account.c, whose semantics these keep statement for
 * statement). Hashes and secrets travel as hex text, decode($n, 'hex'). */
#include "store/store_pg_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum {
    ST_MFA_GET,
    ST_RECOVERY_LEFT,
    ST_PASSKEY_COUNT,
    ST_TOTP_UPSERT,
    ST_TOTP_DELETE,
    ST_TOTP_STEP,
    ST_RECOVERY_CLEAR,
    ST_RECOVERY_INSERT,
    ST_RECOVERY_USE,
    ST_SESSIONS_LIST,
    ST_SESSION_SET_IP,
    ST_SESSION_DELETE_ID,
    ST_SESSIONS_DELETE_OTHERS,
    ST_USER_SET_PWHASH,
    ST_RESET_INSERT,
    ST_RESET_TAKE,
    ST_RESET_USER,
    ST_RESET_CLEAR_USER,
    ST_INVITE_INSERT,
    ST_INVITE_TAKE,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_MFA_GET] = "SELECT totp_secret, totp_last_step, recovery_salt FROM user_mfa "
                   "WHERE user_id = $1",
    [ST_RECOVERY_LEFT] = "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_ms = 0",
    [ST_PASSKEY_COUNT] = "SELECT count(*) FROM passkeys WHERE user_id = $1",
    [ST_TOTP_UPSERT] = "INSERT INTO user_mfa(user_id, totp_secret, totp_last_step, recovery_salt, "
                       "enabled_ms) VALUES ($1, decode($2, 'hex'), $3, decode($4, 'hex'), $5) "
                       "ON CONFLICT (user_id) DO UPDATE "
                       "SET totp_secret = excluded.totp_secret, totp_last_step = "
                       "excluded.totp_last_step, recovery_salt = excluded.recovery_salt, "
                       "enabled_ms = excluded.enabled_ms",
    [ST_TOTP_DELETE] = "DELETE FROM user_mfa WHERE user_id = $1",
    /* One statement: under READ COMMITTED a racing update of the row is
     * waited for and the condition re-checked, so a step verifies once. */
    [ST_TOTP_STEP] = "UPDATE user_mfa SET totp_last_step = $2 WHERE user_id = $1 "
                     "AND totp_last_step < $2",
    [ST_RECOVERY_CLEAR] = "DELETE FROM recovery_codes WHERE user_id = $1",
    [ST_RECOVERY_INSERT] = "INSERT INTO recovery_codes(user_id, code_hash) "
                           "VALUES ($1, decode($2, 'hex'))",
    [ST_RECOVERY_USE] = "UPDATE recovery_codes SET used_ms = $3 WHERE user_id = $1 "
                        "AND code_hash = decode($2, 'hex') AND used_ms = 0",
    [ST_SESSIONS_LIST] = "SELECT id, device_name, ip, created_ms, last_seen_ms FROM sessions "
                         "WHERE user_id = $1 ORDER BY id",
    [ST_SESSION_SET_IP] = "UPDATE sessions SET ip = $2 WHERE id = $1",
    [ST_SESSION_DELETE_ID] = "DELETE FROM sessions WHERE id = $2 AND user_id = $1",
    [ST_SESSIONS_DELETE_OTHERS] = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2 "
                                  "RETURNING id",
    [ST_USER_SET_PWHASH] = "UPDATE users SET pwhash = $2 WHERE id = $1",
    [ST_RESET_INSERT] = "INSERT INTO password_resets(token_hash, user_id, created_ms, expires_ms) "
                        "VALUES (decode($1, 'hex'), $2, $3, $4)",
    [ST_RESET_TAKE] = "DELETE FROM password_resets WHERE token_hash = decode($1, 'hex') "
                      "RETURNING user_id, expires_ms",
    [ST_RESET_USER] = "SELECT user_id FROM password_resets WHERE token_hash = decode($1, 'hex') "
                      "AND expires_ms > $2",
    [ST_RESET_CLEAR_USER] = "DELETE FROM password_resets WHERE user_id = $1",
    [ST_INVITE_INSERT] = "INSERT INTO invite_codes(code_hash, created_ms, expires_ms) "
                         "VALUES (decode($1, 'hex'), $2, $3)",
    [ST_INVITE_TAKE] = "UPDATE invite_codes SET used_by = $2, used_ms = $3 "
                       "WHERE code_hash = decode($1, 'hex') AND used_ms = 0 AND expires_ms > $3",
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define ONE(db, id, a, op, res) pl_pg__one((db), &stmts, (id), (a), false, (op), (res))
#define CHANGED(db, id, a, op) pl_pg__changed((db), &stmts, (id), (a), false, (op))

static void hex32(const uint8_t h[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[64] = '\0';
}

/* A statement with one integer parameter answering one count row. */
static int count_query(pl_pg_db_t *db, int id, const char *op, int64_t a, int64_t *out)
{
    pl_pg_args_t p = {0};
    pl_pg__int(&p, a);
    PGresult *r = NULL;
    int rc = ONE(db, id, &p, op, &r);
    if (rc == PL_ENOTFOUND)
        return pl_pg__fail(db, op, NULL);
    if (rc == 0) {
        *out = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

/* A command with one integer parameter. */
static int exec_id(pl_pg_db_t *db, int id, const char *op, int64_t a)
{
    pl_pg_args_t p = {0};
    pl_pg__int(&p, a);
    return RUN(db, id, &p, false, op, NULL);
}

int pl_pg_passkey_count(pl_db_t *d, int64_t user_id, int64_t *n)
{
    return count_query(PG_DB(d), ST_PASSKEY_COUNT, "passkey_count", user_id, n);
}

int pl_pg_mfa_get(pl_db_t *d, int64_t user_id, pl_mfa_state_t *out)
{
    pl_pg_db_t *db = PG_DB(d);
    pl_mfa_state_t m = {0};
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(db, ST_MFA_GET, &a, false, "mfa_get", &r);
    if (rc == 0 && PQntuples(r) > 0) {
        size_t len = 0, slen = 0;
        unsigned char *secret = pl_pg__bytes(r, 0, 0, &len);
        unsigned char *salt = pl_pg__bytes(r, 0, 2, &slen);
        if (len > 0 && len <= sizeof m.totp_secret && slen == sizeof m.recovery_salt) {
            m.totp = true;
            memcpy(m.totp_secret, secret, len);
            m.totp_secret_len = len;
            m.totp_last_step = pl_pg__i64(r, 0, 1);
            memcpy(m.recovery_salt, salt, slen);
        }
        if (secret != NULL)
            sodium_memzero(secret, len);
        free(secret);
        free(salt);
    }
    if (r != NULL) {
        /* the result holds the secret too */
        if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            sodium_memzero(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
        PQclear(r);
    }
    if (rc == 0 && m.totp)
        rc = count_query(db, ST_RECOVERY_LEFT, "recovery_left", user_id, &m.recovery_left);
    if (rc == 0)
        rc = pl_pg_passkey_count(d, user_id, &m.passkeys);
    if (rc == 0)
        *out = m;
    sodium_memzero(&m, sizeof m);
    return rc;
}

static int recovery_insert(pl_pg_db_t *db, int64_t user_id, const uint8_t (*hashes)[32], size_t n)
{
    int rc = exec_id(db, ST_RECOVERY_CLEAR, "recovery_clear", user_id);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char hex[65];
        hex32(hashes[i], hex);
        pl_pg_args_t a = {0};
        pl_pg__int(&a, user_id);
        pl_pg__text(&a, hex);
        /* inside the function's savepoint: its rollback undoes a failure */
        rc = RUN(db, ST_RECOVERY_INSERT, &a, false, "recovery_insert", NULL);
    }
    return rc;
}

int pl_pg_totp_enable(pl_db_t *d, int64_t user_id, const uint8_t *secret, size_t len,
                      const uint8_t salt[16], int64_t last_step, const uint8_t (*hashes)[32],
                      size_t n, int64_t now_ms)
{
    if (len == 0 || len > 64)
        return PL_EINVAL;
    pl_pg_db_t *db = PG_DB(d);
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    char *shex = pl_pg__hex(secret, len), *salthex = pl_pg__hex(salt, 16);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, shex);
    pl_pg__int(&a, last_step);
    pl_pg__text(&a, salthex);
    pl_pg__int(&a, now_ms);
    rc = RUN(db, ST_TOTP_UPSERT, &a, false, "totp_enable", NULL);
    sodium_memzero(shex, 2 * len);
    free(shex);
    free(salthex);
    if (rc == 0)
        rc = recovery_insert(db, user_id, hashes, n);
    return pl_pg__fn_end(db, rc);
}

int pl_pg_totp_disable(pl_db_t *d, int64_t user_id)
{
    pl_pg_db_t *db = PG_DB(d);
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    rc = CHANGED(db, ST_TOTP_DELETE, &a, "totp_disable");
    if (rc == 0)
        rc = exec_id(db, ST_RECOVERY_CLEAR, "recovery_clear", user_id);
    return pl_pg__fn_end(db, rc);
}

int pl_pg_totp_use_step(pl_db_t *d, int64_t user_id, int64_t step)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, step);
    int rc = CHANGED(PG_DB(d), ST_TOTP_STEP, &a, "totp_use_step");
    /* as on SQLite: no row changed means the step (or a later one) is used */
    return rc == PL_ENOTFOUND ? PL_EEXIST : rc;
}

int pl_pg_recovery_codes_set(pl_db_t *d, int64_t user_id, const uint8_t (*hashes)[32], size_t n)
{
    pl_pg_db_t *db = PG_DB(d);
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    rc = recovery_insert(db, user_id, hashes, n);
    return pl_pg__fn_end(db, rc);
}

int pl_pg_recovery_code_use(pl_db_t *d, int64_t user_id, const uint8_t hash[32], int64_t now_ms)
{
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, hex);
    pl_pg__int(&a, now_ms);
    return CHANGED(PG_DB(d), ST_RECOVERY_USE, &a, "recovery_use");
}

int pl_pg_sessions_list(pl_db_t *d, int64_t user_id, pl_session_info_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_SESSIONS_LIST, &a, false, "sessions_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_session_info_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++) {
        v[i].device_id = pl_pg__i64(r, i, 0);
        v[i].name = pl_pg__str(r, i, 1);
        v[i].ip = pl_pg__str(r, i, 2);
        v[i].created_ms = pl_pg__i64(r, i, 3);
        v[i].last_seen_ms = pl_pg__i64(r, i, 4);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_session_set_ip(pl_db_t *d, int64_t device_id, const char *ip)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, device_id);
    pl_pg__text(&a, ip);
    return RUN(PG_DB(d), ST_SESSION_SET_IP, &a, false, "session_set_ip", NULL);
}

int pl_pg_session_delete_id(pl_db_t *d, int64_t user_id, int64_t device_id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, device_id);
    return CHANGED(PG_DB(d), ST_SESSION_DELETE_ID, &a, "session_delete_id");
}

int pl_pg_sessions_delete_others(pl_db_t *d, int64_t user_id, int64_t keep, int64_t **ids,
                                 size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, keep);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_SESSIONS_DELETE_OTHERS, &a, false, "sessions_delete_others", &r);
    if (rc != 0)
        return rc;
    pl_pg__ids(r, ids, n);
    PQclear(r);
    return 0;
}

int pl_pg_user_set_pwhash(pl_db_t *d, int64_t user_id, const char *pwhash)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, pwhash);
    return CHANGED(PG_DB(d), ST_USER_SET_PWHASH, &a, "user_set_pwhash");
}

int pl_pg_reset_token_create(pl_db_t *d, int64_t user_id, const uint8_t hash[32], int64_t now_ms,
                             int64_t expires_ms)
{
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, expires_ms);
    return RUN(PG_DB(d), ST_RESET_INSERT, &a, true, "reset_create", NULL);
}

int pl_pg_reset_token_user(pl_db_t *d, const uint8_t hash[32], int64_t now_ms, int64_t *user_id)
{
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    pl_pg__int(&a, now_ms);
    PGresult *r = NULL;
    int rc = ONE(PG_DB(d), ST_RESET_USER, &a, "reset_user", &r);
    if (rc == 0) {
        *user_id = pl_pg__i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

int pl_pg_reset_token_take(pl_db_t *d, const uint8_t hash[32], int64_t now_ms, int64_t *user_id)
{
    pl_pg_db_t *db = PG_DB(d);
    int rc = pl_pg__fn_begin(db);
    if (rc != 0)
        return rc;
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    PGresult *r = NULL;
    int64_t uid = 0, expires = 0;
    /* DELETE ... RETURNING: of two racing takes, the second waits for the
     * first's row lock and then finds no row, so a token is spent once. */
    if ((rc = ONE(db, ST_RESET_TAKE, &a, "reset_take", &r)) == 0) {
        uid = pl_pg__i64(r, 0, 0);
        expires = pl_pg__i64(r, 0, 1);
        PQclear(r);
    }
    if (rc == 0)
        rc = exec_id(db, ST_RESET_CLEAR_USER, "reset_clear", uid);
    rc = pl_pg__fn_end(db, rc);
    /* An expired token is deleted all the same: it can never be used. */
    if (rc == 0 && expires <= now_ms)
        return PL_ENOTFOUND;
    if (rc == 0)
        *user_id = uid;
    return rc;
}

int pl_pg_invite_code_create(pl_db_t *d, const uint8_t hash[32], int64_t now_ms, int64_t expires_ms)
{
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, expires_ms);
    return RUN(PG_DB(d), ST_INVITE_INSERT, &a, true, "invite_code_create", NULL);
}

int pl_pg_invite_code_take(pl_db_t *d, const uint8_t hash[32], int64_t user_id, int64_t now_ms)
{
    char hex[65];
    hex32(hash, hex);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, now_ms);
    return CHANGED(PG_DB(d), ST_INVITE_TAKE, &a, "invite_code_take");
}
