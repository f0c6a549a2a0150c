/* SPDX-License-Identifier: MIT */
/* store_pg_passkey.c -- passkeys (WebAuthn credentials) and the per-user
 * WebAuthn user handle on PostgreSQL (see store_sqlite_passkey.c, whose
 * semantics these keep). Byte fields travel as hex text, decode($n, 'hex'). */
#include "store/store_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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
    [ST_HANDLE_GET] = "SELECT handle FROM passkey_users WHERE user_id = $1",
    [ST_HANDLE_INSERT] =
        "INSERT INTO passkey_users(user_id, handle) VALUES ($1, decode($2, 'hex'))",
    [ST_PASSKEY_INSERT] = "INSERT INTO passkeys(user_id, credential_id, public_key, alg, "
                          "sign_count, name, created_ms) VALUES ($1, decode($2, 'hex'), "
                          "decode($3, 'hex'), $4, $5, $6, $7) RETURNING id",
    [ST_PASSKEY_LIST] = PASSKEY_COLS "WHERE user_id = $1 ORDER BY id",
    [ST_PASSKEY_BY_CRED] = PASSKEY_COLS "WHERE credential_id = decode($1, 'hex')",
    [ST_PASSKEY_DELETE] = "DELETE FROM passkeys WHERE id = $2 AND user_id = $1",
    [ST_PASSKEY_RENAME] = "UPDATE passkeys SET name = $3 WHERE id = $2 AND user_id = $1",
    /* The counter check is part of the UPDATE: of two racing assertions with
     * one counter, the second re-checks the row after the first's commit
     * (READ COMMITTED) and changes nothing. */
    [ST_PASSKEY_USED] = ("UPDATE passkeys SET sign_count = $2, last_used_ms = $3 WHERE id = $1 "
                         "AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))"),
};
static pl_pg_table_t stmts = PL_PG_TABLE(sql);
#define RUN(db, id, a, guard, op, res) pl_pg__run((db), &stmts, (id), (a), (guard), (op), (res))
#define CHANGED(db, id, a, op) pl_pg__changed((db), &stmts, (id), (a), false, (op))

static void passkey_read(const PGresult *r, int row, pl_passkey_t *k)
{
    k->id = pl_pg__i64(r, row, 0);
    k->user_id = pl_pg__i64(r, row, 1);
    k->cred_id = pl_pg__bytes(r, row, 2, &k->cred_id_len);
    k->public_key = pl_pg__bytes(r, row, 3, &k->public_key_len);
    k->alg = (int)pl_pg__i64(r, row, 4);
    k->sign_count = pl_pg__i64(r, row, 5);
    k->name = pl_pg__str(r, row, 6);
    k->created_ms = pl_pg__i64(r, row, 7);
    k->last_used_ms = pl_pg__i64(r, row, 8);
}

int pl_pg_passkey_handle(pl_db_t *d, int64_t user_id, bool create,
                         const unsigned char handle_new[PL_PASSKEY_HANDLE_LEN],
                         unsigned char out[PL_PASSKEY_HANDLE_LEN])
{
    pl_pg_db_t *db = PG_DB(d);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(db, ST_HANDLE_GET, &a, false, "handle_get", &r);
    if (rc != 0)
        return rc;
    rc = PL_ENOTFOUND;
    if (PQntuples(r) > 0) {
        size_t len = 0;
        unsigned char *h = pl_pg__bytes(r, 0, 0, &len);
        if (h != NULL && len == PL_PASSKEY_HANDLE_LEN) {
            memcpy(out, h, PL_PASSKEY_HANDLE_LEN);
            rc = 0;
        }
        free(h);
    }
    PQclear(r);
    if (rc != PL_ENOTFOUND || !create)
        return rc;
    char *hex = pl_pg__hex(handle_new, PL_PASSKEY_HANDLE_LEN);
    pl_pg_args_t b = {0};
    pl_pg__int(&b, user_id);
    pl_pg__text(&b, hex);
    rc = RUN(db, ST_HANDLE_INSERT, &b, true, "handle_insert", NULL);
    free(hex);
    if (rc == 0)
        memcpy(out, handle_new, PL_PASSKEY_HANDLE_LEN);
    return rc;
}

int pl_pg_passkey_add(pl_db_t *d, const pl_passkey_t *k, int64_t *id)
{
    char *cred = pl_pg__hex(k->cred_id, k->cred_id_len);
    char *pub = pl_pg__hex(k->public_key, k->public_key_len);
    pl_pg_args_t a = {0};
    pl_pg__int(&a, k->user_id);
    pl_pg__text(&a, cred);
    pl_pg__text(&a, pub);
    pl_pg__int(&a, k->alg);
    pl_pg__int(&a, k->sign_count);
    pl_pg__text(&a, k->name);
    pl_pg__int(&a, k->created_ms);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_PASSKEY_INSERT, &a, true, "passkey_add", &r);
    free(cred);
    free(pub);
    if (rc == 0) {
        *id = PQntuples(r) > 0 ? pl_pg__i64(r, 0, 0) : 0;
        PQclear(r);
    }
    return rc;
}

int pl_pg_passkey_list(pl_db_t *d, int64_t user_id, pl_passkey_t **out, size_t *n)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    PGresult *r = NULL;
    int rc = RUN(PG_DB(d), ST_PASSKEY_LIST, &a, false, "passkey_list", &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pl_passkey_t *v = rows ? pl_xcalloc((size_t)rows, sizeof *v) : NULL;
    for (int i = 0; i < rows; i++)
        passkey_read(r, i, &v[i]);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int pl_pg_passkey_by_credential(pl_db_t *d, const unsigned char *cred_id, size_t len,
                                pl_passkey_t *out)
{
    char *hex = pl_pg__hex(cred_id, len);
    pl_pg_args_t a = {0};
    pl_pg__text(&a, hex);
    PGresult *r = NULL;
    int rc =
        pl_pg__one(PG_DB(d), &stmts, ST_PASSKEY_BY_CRED, &a, false, "passkey_by_credential", &r);
    free(hex);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof *out);
    passkey_read(r, 0, out);
    PQclear(r);
    return 0;
}

int pl_pg_passkey_delete(pl_db_t *d, int64_t user_id, int64_t id)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, id);
    return CHANGED(PG_DB(d), ST_PASSKEY_DELETE, &a, "passkey_delete");
}

int pl_pg_passkey_rename(pl_db_t *d, int64_t user_id, int64_t id, const char *name)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__int(&a, id);
    pl_pg__text(&a, name);
    return CHANGED(PG_DB(d), ST_PASSKEY_RENAME, &a, "passkey_rename");
}

int pl_pg_passkey_used(pl_db_t *d, int64_t id, int64_t count, int64_t now_ms)
{
    pl_pg_args_t a = {0};
    pl_pg__int(&a, id);
    pl_pg__int(&a, count);
    pl_pg__int(&a, now_ms);
    return CHANGED(PG_DB(d), ST_PASSKEY_USED, &a, "passkey_used");
}
