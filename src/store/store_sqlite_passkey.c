/* SPDX-License-Identifier: MIT */
/* store_sqlite_passkey.c -- passkeys (WebAuthn credentials) and the
 * per-user WebAuthn user handle. Plain SQL. */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

enum {
    ST_HANDLE_GET,
    ST_HANDLE_INSERT,
    ST_PASSKEY_INSERT,
    ST_PASSKEY_LIST,
    ST_PASSKEY_BY_CRED,
    ST_PASSKEY_DELETE,
    ST_PASSKEY_RENAME,
    ST_PASSKEY_USED,
    ST__COUNT
};

#define PASSKEY_COLS                                                                               \
    "SELECT id, user_id, credential_id, public_key, alg, sign_count, name, created_ms, "           \
    "last_used_ms FROM passkeys "

static const char *const sql[ST__COUNT] = {
    [ST_HANDLE_GET] = "SELECT handle FROM passkey_users WHERE user_id = ?1",
    [ST_HANDLE_INSERT] = "INSERT INTO passkey_users(user_id, handle) VALUES (?1, ?2)",
    [ST_PASSKEY_INSERT] = "INSERT INTO passkeys(user_id, credential_id, public_key, alg, "
                          "sign_count, name, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PASSKEY_LIST] = PASSKEY_COLS "WHERE user_id = ?1 ORDER BY id",
    [ST_PASSKEY_BY_CRED] = PASSKEY_COLS "WHERE credential_id = ?1",
    [ST_PASSKEY_DELETE] = "DELETE FROM passkeys WHERE id = ?2 AND user_id = ?1",
    [ST_PASSKEY_RENAME] = "UPDATE passkeys SET name = ?3 WHERE id = ?2 AND user_id = ?1",
    [ST_PASSKEY_USED] = "UPDATE passkeys SET sign_count = ?2, last_used_ms = ?3 WHERE id = ?1 "
                        "AND (sign_count < ?2 OR (sign_count = 0 AND ?2 = 0))",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

void pl_passkey_dispose(pl_passkey_t *k)
{
    if (k == NULL)
        return;
    free(k->cred_id);
    free(k->public_key);
    free(k->name);
    k->cred_id = k->public_key = NULL;
    k->name = NULL;
}

void pl_passkeys_free(pl_passkey_t *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++)
        pl_passkey_dispose(&k[i]);
    free(k);
}

static unsigned char *col_blob(sqlite3_stmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(s, i);
    *len = (size_t)sqlite3_column_bytes(s, i);
    unsigned char *out = pl_xmalloc(*len ? *len : 1);
    if (*len)
        memcpy(out, p, *len);
    return out;
}

static void passkey_read(sqlite3_stmt *s, void *elem)
{
    pl_passkey_t *k = elem;
    k->id = sqlite3_column_int64(s, 0);
    k->user_id = sqlite3_column_int64(s, 1);
    k->cred_id = col_blob(s, 2, &k->cred_id_len);
    k->public_key = col_blob(s, 3, &k->public_key_len);
    k->alg = sqlite3_column_int(s, 4);
    k->sign_count = sqlite3_column_int64(s, 5);
    k->name = pl_store__col_str(s, 6);
    k->created_ms = sqlite3_column_int64(s, 7);
    k->last_used_ms = sqlite3_column_int64(s, 8);
}

static void passkey_dispose_elem(void *elem)
{
    pl_passkey_dispose(elem);
}

int pl_sq_passkey_handle(pl_db_t *db, int64_t user_id, bool create,
                         const unsigned char handle_new[PL_PASSKEY_HANDLE_LEN],
                         unsigned char out[PL_PASSKEY_HANDLE_LEN])
{
    sqlite3_stmt *s = STMT(db, ST_HANDLE_GET);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == PL_PASSKEY_HANDLE_LEN) {
        memcpy(out, sqlite3_column_blob(s, 0), PL_PASSKEY_HANDLE_LEN);
        rc = 0;
    } else {
        rc =
            rc == SQLITE_DONE || rc == SQLITE_ROW ? PL_ENOTFOUND : pl_store__fail(db, "handle_get");
    }
    pl_store__stmt_done(s);
    if (rc != PL_ENOTFOUND || !create)
        return rc;
    s = STMT(db, ST_HANDLE_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_blob(s, 2, handle_new, PL_PASSKEY_HANDLE_LEN, SQLITE_STATIC);
    rc = pl_store__step_done(db, s, "handle_insert");
    if (rc == 0)
        memcpy(out, handle_new, PL_PASSKEY_HANDLE_LEN);
    return rc;
}

int pl_sq_passkey_add(pl_db_t *db, const pl_passkey_t *k, int64_t *id)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_INSERT);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, k->user_id);
    sqlite3_bind_blob(s, 2, k->cred_id, (int)k->cred_id_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, k->public_key, (int)k->public_key_len, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, k->alg);
    sqlite3_bind_int64(s, 5, k->sign_count);
    pl_store__bind_text(s, 6, k->name);
    sqlite3_bind_int64(s, 7, k->created_ms);
    int rc = pl_store__step_done(db, s, "passkey_add");
    if (rc == 0)
        *id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

int pl_sq_passkey_list(pl_db_t *db, int64_t user_id, pl_passkey_t **out, size_t *n)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_LIST);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    pl_rows_t r = PL_ROWS(pl_passkey_t, passkey_read, passkey_dispose_elem);
    int rc = pl_store__collect(db, s, "passkey_list", &r);
    if (rc == 0) {
        *out = r.v;
        *n = r.n;
    }
    return rc;
}

int pl_sq_passkey_by_credential(pl_db_t *db, const unsigned char *cred_id, size_t len,
                                pl_passkey_t *out)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_BY_CRED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_blob(s, 1, cred_id, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        passkey_read(s, out);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? PL_ENOTFOUND : pl_store__fail(db, "passkey_by_credential");
    }
    pl_store__stmt_done(s);
    return rc;
}

/* Runs a bound UPDATE/DELETE; PL_ENOTFOUND when it changed no row. */
static int step_changed(pl_db_t *db, sqlite3_stmt *s, const char *op)
{
    int rc = pl_store__step_done(db, s, op);
    if (rc == 0 && sqlite3_changes(db->h) == 0)
        rc = PL_ENOTFOUND;
    return rc;
}

int pl_sq_passkey_delete(pl_db_t *db, int64_t user_id, int64_t id)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_DELETE);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, id);
    return step_changed(db, s, "passkey_delete");
}

int pl_sq_passkey_rename(pl_db_t *db, int64_t user_id, int64_t id, const char *name)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_RENAME);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_int64(s, 2, id);
    pl_store__bind_text(s, 3, name);
    return step_changed(db, s, "passkey_rename");
}

int pl_sq_passkey_used(pl_db_t *db, int64_t id, int64_t count, int64_t now_ms)
{
    sqlite3_stmt *s = STMT(db, ST_PASSKEY_USED);
    if (s == NULL)
        return PL_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, count);
    sqlite3_bind_int64(s, 3, now_ms);
    return step_changed(db, s, "passkey_used");
}
