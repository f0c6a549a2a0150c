/* SPDX-License-Identifier: MIT */
/* api_password.c -- password change (the old one re-entered under the
 * login limits, optionally revoking the other devices), the reset by an
 * operator-issued one-time link, and the common-password list. */
#include "api/api_areq.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/err.h"
#include "core/util.h"

/* ---- the common-password list (password_blocklist) ---- */

pl_pwlist_t *pl_api__pwlist_load(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pl_log(PL_LOG_WARN, "auth",
               "password_blocklist %s cannot be read: common passwords are not refused", path);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && len < 64u * 1024 * 1024) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            text = pl_xrealloc(text, cap);
        }
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    pl_pwlist_t *l = pl_pwlist_parse(text ? text : "", len);
    free(text);
    pl_log(PL_LOG_INFO, "auth", "password_blocklist %s: %zu passwords", path, pl_pwlist_size(l));
    return l;
}

/* ---- POST /v1/account/password {old_password, new_password, revoke_others?} ---- */

static void password_set_work(pl_db_t *db, pl_areq_t *r)
{
    int rc = pl_db_user_set_pwhash(db, r->user_id, r->pwhash);
    if (rc == 0 && r->revoke_others)
        rc = pl_api__revoke_sessions(db, r, r->device_id);
    if (rc < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
    pl_log(PL_LOG_INFO, "auth", "password changed user=u%" PRId64, r->user_id);
}

static void password_hashed(void *arg, int status, const char *hash)
{
    pl_areq_t *r = arg;
    if (status < 0) {
        pl_api__areq_fail(r, 500, "internal", "cannot hash the password");
        pl_api__areq_finish(r);
        return;
    }
    r->pwhash = pl_xstrdup(hash);
    pl_api__areq_job(r, true, password_set_work, NULL);
}

static void hash_new_password(pl_areq_t *r)
{
    pl_auth_hash_password(r->api->loop, r->new_password, (uint64_t)r->api->cfg->argon2_opslimit,
                          (size_t)r->api->cfg->argon2_memlimit, password_hashed, r);
}

static void password_next(pl_areq_t *r)
{
    const char *weak = pl_password_check(r->api->pwlist, r->user.username, r->new_password);
    if (weak != NULL) {
        pl_api__areq_fail(r, 400, "weak_password", weak);
        pl_api__areq_finish(r);
        return;
    }
    pl_api__check_password(r, hash_new_password);
}

void pl_api__handle_password(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    json_t *ro = json_object_get(body, "revoke_others");
    bool ok = pl_api__opt_str(body, "old_password", PL_PASSWORD_MAX, &r->password) &&
              pl_api__opt_str(body, "new_password", PL_PASSWORD_MAX + 1, &r->new_password) &&
              (ro == NULL || json_is_boolean(ro));
    r->revoke_others = json_is_true(ro);
    json_decref(body);
    if (!ok || r->password == NULL || r->new_password == NULL) {
        pl_api_error(req, 400, "bad_request",
                     "give \"old_password\" and \"new_password\" (strings), \"revoke_others\"? "
                     "(boolean)");
        pl_api__areq_free(r);
        return;
    }
    pl_api__areq_job(r, false, NULL, password_next);
}

/* ---- POST /v1/account/reset {token, new_password} ---- */

static void reset_lookup_work(pl_db_t *db, pl_areq_t *r)
{
    uint8_t h[32];
    pl_auth_token_hash(r->reset_token, strlen(r->reset_token), h);
    int rc = pl_db_reset_token_user(db, h, pl_now_ms(), &r->user_id);
    if (rc == 0)
        rc = pl_db_user_by_id(db, r->user_id, &r->user);
    if (rc == PL_ENOTFOUND)
        pl_api__areq_fail(r, 400, "invalid_reset_token",
                          "that reset link is unknown, used or expired");
    else if (rc < 0)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
}

static void reset_set_work(pl_db_t *db, pl_areq_t *r)
{
    uint8_t h[32];
    int64_t uid = 0;
    pl_auth_token_hash(r->reset_token, strlen(r->reset_token), h);
    int rc = pl_db_reset_token_take(db, h, pl_now_ms(), &uid);
    if (rc == PL_ENOTFOUND || (rc == 0 && uid != r->user_id)) {
        pl_api__areq_fail(r, 400, "invalid_reset_token",
                          "that reset link is unknown, used or expired");
        return;
    }
    if (rc == 0)
        rc = pl_db_user_set_pwhash(db, r->user_id, r->pwhash);
    if (rc == 0)
        rc = pl_api__revoke_sessions(db, r, 0);
    if (rc < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    pl_log(PL_LOG_INFO, "auth", "password reset user=u%" PRId64 " sessions_revoked=%zu", r->user_id,
           r->nclosed);
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
}

static void reset_hashed(void *arg, int status, const char *hash)
{
    pl_areq_t *r = arg;
    if (status < 0) {
        pl_api__areq_fail(r, 500, "internal", "cannot hash the password");
        pl_api__areq_finish(r);
        return;
    }
    r->pwhash = pl_xstrdup(hash);
    pl_api__areq_job(r, true, reset_set_work, NULL);
}

static void reset_next(pl_areq_t *r)
{
    const char *weak = pl_password_check(r->api->pwlist, r->user.username, r->new_password);
    if (weak != NULL) {
        pl_api__areq_fail(r, 400, "weak_password", weak);
        pl_api__areq_finish(r);
        return;
    }
    pl_auth_hash_password(r->api->loop, r->new_password, (uint64_t)r->api->cfg->argon2_opslimit,
                          (size_t)r->api->cfg->argon2_memlimit, reset_hashed, r);
}

void pl_api__handle_reset(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, false, true, &body);
    if (r == NULL)
        return;
    bool ok = pl_api__opt_str(body, "token", 256, &r->reset_token) &&
              pl_api__opt_str(body, "new_password", PL_PASSWORD_MAX + 1, &r->new_password);
    json_decref(body);
    if (!ok || r->reset_token == NULL || r->new_password == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"token\" and \"new_password\" (strings)");
        pl_api__areq_free(r);
        return;
    }
    pl_api__areq_job(r, false, reset_lookup_work, reset_next);
}
