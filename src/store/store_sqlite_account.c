/* SPDX-License-Identifier: MIT */
/* store_sqlite_account.c -- second factors (TOTP, recovery codes), the
 * devices list, password changes and resets, invite codes. */
#include "store/store_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

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
                   "WHERE user_id = ?1",
    [ST_RECOVERY_LEFT] = "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_ms = 0",
    [ST_PASSKEY_COUNT] = "SELECT count(*) FROM passkeys WHERE user_id = ?1",
    [ST_TOTP_UPSERT] = "INSERT INTO user_mfa(user_id, totp_secret, totp_last_step, recovery_salt, "
                       "enabled_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE "
                       "SET totp_secret = excluded.totp_secret, totp_last_step = "
                       "excluded.totp_last_step, recovery_salt = excluded.recovery_salt, "
                       "enabled_ms = excluded.enabled_ms",
    [ST_TOTP_DELETE] = "DELETE FROM user_mfa WHERE user_id = ?1",
    [ST_TOTP_STEP] = "UPDATE user_mfa SET totp_last_step = ?2 WHERE user_id = ?1 "
                     "AND totp_last_step < ?2",
    [ST_RECOVERY_CLEAR] = "DELETE FROM recovery_codes WHERE user_id = ?1",
    [ST_RECOVERY_INSERT] = "INSERT INTO recovery_codes(user_id, code_hash) VALUES (?1, ?2)",
    [ST_RECOVERY_USE] = "UPDATE recovery_codes SET used_ms = ?3 WHERE user_id = ?1 "
                        "AND code_hash = ?2 AND used_ms = 0",
    [ST_SESSIONS_LIST] = "SELECT id, device_name, ip, created_ms, last_seen_ms FROM sessions "
                         "WHERE user_id = ?1 ORDER BY id",
    [ST_SESSION_SET_IP] = "UPDATE sessions SET ip = ?2 WHERE id = ?1",
    [ST_SESSION_DELETE_ID] = "DELETE FROM sessions WHERE id = ?2 AND user_id = ?1",
    [ST_SESSIONS_DELETE_OTHERS] = "DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2 "
                                  "RETURNING id",
    [ST_USER_SET_PWHASH] = "UPDATE users SET pwhash = ?2 WHERE id = ?1",
    [ST_RESET_INSERT] = "INSERT INTO password_resets(token_hash, user_id, created_ms, expires_ms) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_RESET_TAKE] = "DELETE FROM password_resets WHERE token_hash = ?1 RETURNING user_id, "
                      "expires_ms",
    [ST_RESET_USER] = "SELECT user_id FROM password_resets WHERE token_hash = ?1 "
                      "AND expires_ms > ?2",
    [ST_RESET_CLEAR_USER] = "DELETE FROM password_resets WHERE user_id = ?1",
    [ST_INVITE_INSERT] = "INSERT INTO invite_codes(code_hash, created_ms, expires_ms) "
                         "VALUES (?1, ?2, ?3)",
    [ST_INVITE_TAKE] = "UPDATE invite_codes SET used_by = ?2, used_ms = ?3 WHERE code_hash = ?1 "
                       "AND used_ms = 0 AND expires_ms > ?3",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

static void bind_hash(sqlite3_stmt *s, int i, const uint8_t hash[32])
{
    sqlite3_bind_blob(s, i, hash, 32, SQLITE_STATIC);
}

/* Runs a statement with one or two integer parameters that returns one
 * integer row (count). */
static int count_query(pl_db_t *db, int id, const char *op, int64_t a, int64_t *out)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    if (sqlite3_bind_parameter_count(s) > 0)
        sqlite3_bind_int64(s, 1, a);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : pl_store__fail(db, op);
    if (rc == 0)
        *out = sqlite3_column_int64(s, 0);
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_passkey_count(pl_db_t *db, int64_t user_id, int64_t *n)
{
    return count_query(db, ST_PASSKEY_COUNT, "passkey_count", user_id, n);
}

int pl_sq_mfa_get(pl_db_t *db, int64_t user_id, pl_mfa_state_t *out)
{
    pl_mfa_state_t m = {0};
    sqlite3_stmt *s = STMT(db, ST_MFA_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        size_t slen = (size_t)sqlite3_column_bytes(s, 2);
        if (len > 0 && len <= sizeof m.totp_secret && slen == sizeof m.recovery_salt) {
            m.totp = true;
            memcpy(m.totp_secret, sqlite3_column_blob(s, 0), len);
            m.totp_secret_len = len;
            m.totp_last_step = sqlite3_column_int64(s, 1);
            memcpy(m.recovery_salt, sqlite3_column_blob(s, 2), slen);
        }
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : pl_store__fail(db, "mfa_get");
    }
    pl_store__stmt_done(s);
    if (rc == 0 && m.totp)
        rc = count_query(db, ST_RECOVERY_LEFT, "recovery_left", user_id, &m.recovery_left);
    if (rc == 0)
        rc = pl_sq_passkey_count(db, user_id, &m.passkeys);
    if (rc == 0)
        *out = m;
    sodium_memzero(&m, sizeof m);
    return rc;
}

static int exec_id(pl_db_t *db, int id, const char *op, int64_t a)
{
    sqlite3_stmt *s = STMT(db, id);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, a);
    return pl_store__step_done(db, s, op);
}

static int recovery_insert(pl_db_t *db, int64_t user_id, const uint8_t (*hashes)[32], size_t n)
{
    int rc = exec_id(db, ST_RECOVERY_CLEAR, "recovery_clear", user_id);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *s = STMT(db, ST_RECOVERY_INSERT);
        if (s == NULL)
            return PL_EIO;
        sqlite3_bind_int64(s, 1, user_id);
        bind_hash(s, 2, hashes[i]);
        rc = pl_store__step_done(db, s, "recovery_insert");
    }
    return rc;
}

int pl_sq_totp_enable(pl_db_t *db, int64_t user_id, const uint8_t *secret, size_t len,
                      const uint8_t salt[16], int64_t last_step, const uint8_t (*hashes)[32],
                      size_t n, int64_t now_ms)
{
    if (len == 0 || len > 64)
        return PL_EINVAL;
    int rc;
    WITH_FN(db, rc, {
        sqlite3_stmt *s = STMT(db, ST_TOTP_UPSERT);
        rc = PL_EIO;
        if (s != NULL) {
            sqlite3_bind_int64(s, 1, user_id);
            sqlite3_bind_blob(s, 2, secret, (int)len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, last_step);
            sqlite3_bind_blob(s, 4, salt, 16, SQLITE_STATIC);
            sqlite3_bind_int64(s, 5, now_ms);
            rc = pl_store__step_done(db, s, "totp_enable");
        }
        if (rc == 0)
            rc = recovery_insert(db, user_id, hashes, n);
    });
    return rc;
}

int pl_sq_totp_disable(pl_db_t *db, int64_t user_id)
{
    int rc;
    WITH_FN(db, rc, {
        rc = exec_id(db, ST_TOTP_DELETE, "totp_disable", user_id);
        if (rc == 0 && sqlite3_changes(db->h) == 0)
            rc = PL_ENOTFOUND;
        if (rc == 0)
            rc = exec_id(db, ST_RECOVERY_CLEAR, "recovery_clear", user_id);
    });
    return rc;
}

int pl_sq_totp_use_step(pl_db_t *db, int64_t user_id, int64_t step)
{
    sqlite3_stmt *s = STMT(db, ST_TOTP_STEP);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, step);
    int rc = pl_store__step_done(db, s, "totp_use_step");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_EEXIST;
    return rc;
}

int pl_sq_recovery_codes_set(pl_db_t *db, int64_t user_id, const uint8_t (*hashes)[32], size_t n)
{
    int rc;
    WITH_FN(db, rc, rc = recovery_insert(db, user_id, hashes, n));
    return rc;
}

int pl_sq_recovery_code_use(pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_RECOVERY_USE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    bind_hash(s, 2, hash);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = pl_store__step_done(db, s, "recovery_use");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

void pl_session_info_dispose(pl_session_info_t *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->ip);
    s->name = s->ip = NULL;
}

static void session_read(sqlite3_stmt *s, void *elem)
{
    pl_session_info_t *v = elem;
    v->device_id = sqlite3_column_int64(s, 0);
    v->name = pl_store__col_str(s, 1);
    v->ip = pl_store__col_str(s, 2);
    v->created_ms = sqlite3_column_int64(s, 3);
    v->last_seen_ms = sqlite3_column_int64(s, 4);
}

static void session_dispose(void *elem)
{
    pl_session_info_dispose(elem);
}

int pl_sq_sessions_list(pl_db_t *db, int64_t user_id, pl_session_info_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_SESSIONS_LIST);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_rows_t r = PL_ROWS(pl_session_info_t, session_read, session_dispose);
    int rc = pl_store__collect(db, s, "sessions_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_session_set_ip(pl_db_t *db, int64_t device_id, const char *ip)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_SET_IP);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, device_id);
    pl_store__bind_text(s, 2, ip);
    return pl_store__step_done(db, s, "session_set_ip");
}

int pl_sq_session_delete_id(pl_db_t *db, int64_t user_id, int64_t device_id)
{
    sqlite3_stmt *s = STMT(db, ST_SESSION_DELETE_ID);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, device_id);
    int rc = pl_store__step_done(db, s, "session_delete_id");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_sessions_delete_others(pl_db_t *db, int64_t user_id, int64_t keep, int64_t **ids,
                                 size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_SESSIONS_DELETE_OTHERS);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, keep);
    pl_rows_t r = PL_ROWS(int64_t, pl_store__row_id, NULL);
    int rc = pl_store__collect(db, s, "sessions_delete_others", &r);
    if (rc == 0) {
        *ids = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_user_set_pwhash(pl_db_t *db, int64_t user_id, const char *pwhash)
{
    sqlite3_stmt *s = STMT(db, ST_USER_SET_PWHASH);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_store__bind_text(s, 2, pwhash);
    int rc = pl_store__step_done(db, s, "user_set_pwhash");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_reset_token_create(pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms,
                             int64_t expires_ms)
{
    sqlite3_stmt *s = STMT(db, ST_RESET_INSERT);
    if (s == NULL)
        return PL_EIO;
    bind_hash(s, 1, hash);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_int64(s, 4, expires_ms);
    return pl_store__step_done(db, s, "reset_create");
}

int pl_sq_reset_token_user(pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id)
{
    sqlite3_stmt *s = STMT(db, ST_RESET_USER);
    if (s == NULL)
        return PL_EIO;
    bind_hash(s, 1, hash);
    sqlite3_bind_int64(s, 2, now_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *user_id = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "reset_user");
    }
    pl_store__stmt_done(s);
    return rc;
}

int pl_sq_reset_token_take(pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id)
{
    int rc;
    int64_t uid = 0, expires = 0;
    WITH_FN(db, rc, {
        sqlite3_stmt *s = STMT(db, ST_RESET_TAKE);
        rc = PL_EIO;
        if (s != NULL) {
            bind_hash(s, 1, hash);
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW) {
                uid = sqlite3_column_int64(s, 0);
                expires = sqlite3_column_int64(s, 1);
                rc = 0;
            } else {
                rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "reset_take");
            }
            pl_store__stmt_done(s);
        }
        if (rc == 0)
            rc = exec_id(db, ST_RESET_CLEAR_USER, "reset_clear", uid);
    });
    /* An expired token is deleted all the same: it can never be used. */
    if (rc == 0 && expires <= now_ms)
        return PL_ENOTFOUND;
    if (rc == 0)
        *user_id = uid;
    return rc;
}

int pl_sq_invite_code_create(pl_db_t *db, const uint8_t hash[32], int64_t now_ms,
                             int64_t expires_ms)
{
    sqlite3_stmt *s = STMT(db, ST_INVITE_INSERT);
    if (s == NULL)
        return PL_EIO;
    bind_hash(s, 1, hash);
    sqlite3_bind_int64(s, 2, now_ms);
    sqlite3_bind_int64(s, 3, expires_ms);
    return pl_store__step_done(db, s, "invite_code_create");
}

int pl_sq_invite_code_take(pl_db_t *db, const uint8_t hash[32], int64_t user_id, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_INVITE_TAKE);
    if (s == NULL)
        return PL_EIO;
    bind_hash(s, 1, hash);
    sqlite3_bind_int64(s, 2, user_id);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = pl_store__step_done(db, s, "invite_code_take");
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}
