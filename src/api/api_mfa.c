/* SPDX-License-Identifier: MIT */
/* api_mfa.c -- second factors: which ones an account has, checking and
 * spending a TOTP or recovery code inside a write job, the second login
 * step (POST /v1/login/mfa with a TOTP code, a recovery code or a passkey
 * assertion) and GET /v1/account/security. */
#include "api/api_areq.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/totp.h"
#include "core/err.h"
#include "core/util.h"

/* ---- second factors ---- */

static json_t *methods_json(const pl_mfa_state_t *m)
{
    json_t *a = json_array();
    if (m->totp) {
        json_array_append_new(a, json_string("totp"));
        if (m->recovery_left > 0)
            json_array_append_new(a, json_string("recovery_code"));
    }
    if (m->passkeys > 0)
        json_array_append_new(a, json_string("passkey"));
    return a;
}

typedef struct {
    pl_http_req_t *req;
    json_t *methods;
    int64_t user_id;
} mfa_required_t;

static void mfa_ticket_issued(void *arg, int rc, const char *ticket)
{
    mfa_required_t *m = arg;
    if (rc < 0) {
        json_decref(m->methods);
        pl_api__respond_state_down(m->req);
        free(m);
        return;
    }
    pl_log(PL_LOG_INFO, "auth", "login needs a second factor user=u%" PRId64, m->user_id);
    pl_api__respond_json(m->req, 401,
                         json_pack("{s:{s:s,s:s,s:o,s:s}}", "error", "code", "mfa_required",
                                   "message", "this account needs a second factor", "methods",
                                   m->methods, "mfa_ticket", ticket));
    free(m);
}

void pl_api__respond_mfa_required(pl_api_t *api, pl_http_req_t *req,
                                  const pl_mfa_ticket_info_t *info, const pl_mfa_state_t *mfa)
{
    mfa_required_t *m = pl_xcalloc(1, sizeof *m);
    m->req = req;
    m->methods = methods_json(mfa);
    m->user_id = info->user_id;
    pl_api_auth_ticket_issue(api->auth, info, mfa_ticket_issued, m);
}

int pl_api__second_factor_check(const pl_api_t *api, pl_db_t *db, int64_t user_id,
                                const pl_mfa_state_t *m, const char *totp,
                                const char *recovery_code)
{
    if (totp != NULL) {
        int64_t step = 0;
        uint8_t secret[32];
        size_t len = m->totp ? pl_totp_open(api->has_totp_key ? api->totp_key : NULL,
                                            m->totp_secret, m->totp_secret_len, secret)
                             : 0;
        if (m->totp && len == 0) {
            pl_log(PL_LOG_ERROR, "auth",
                   "TOTP secret of user=u%" PRId64 " cannot be opened: wrong or missing "
                   "totp_secret_key",
                   user_id);
            return PL_EIO;
        }
        bool ok = len > 0 &&
                  pl_totp_verify(secret, len, totp, pl_now_ms() / 1000, m->totp_last_step, &step);
        sodium_memzero(secret, sizeof secret);
        if (!ok)
            return PL_EFORBIDDEN;
        int rc = pl_db_totp_use_step(db, user_id, step);
        return rc == PL_EEXIST || rc == PL_ENOTFOUND ? PL_EFORBIDDEN : rc;
    }
    if (recovery_code != NULL) {
        uint8_t h[32];
        if (!m->totp || !pl_recovery_code_hash(recovery_code, m->recovery_salt, h))
            return PL_EFORBIDDEN;
        int rc = pl_db_recovery_code_use(db, user_id, h, pl_now_ms());
        return rc == PL_ENOTFOUND ? PL_EFORBIDDEN : rc;
    }
    return PL_EFORBIDDEN;
}

/* ---- POST /v1/login/mfa {mfa_ticket, totp | recovery_code, device_name?} ---- */

static void mfa_login_work(pl_db_t *db, pl_areq_t *r)
{
    int64_t now = pl_now_ms(), count = 0;
    int rc = pl_db_mfa_get(db, r->info.user_id, &r->mfa);
    if (rc == 0 && !r->passkey_ok)
        rc =
            pl_api__second_factor_check(r->api, db, r->info.user_id, &r->mfa, r->totp, r->recovery);
    if (rc == PL_EFORBIDDEN) {
        pl_api__areq_fail(r, 401, "bad_second_factor", "wrong, expired or already used code");
        return;
    }
    if (rc == 0)
        rc = pl_db_session_count(db, r->info.user_id, &count);
    if (rc == 0 && count >= r->api->cfg->max_sessions_per_user) {
        pl_api__areq_fail(r, 429, "too_many_sessions",
                          "too many devices are logged in; log one out first");
        return;
    }
    if (rc == 0)
        rc = pl_db_session_create(db, r->info.user_id, r->token_hash, r->info.device_name, now,
                                  &r->device_id);
    if (rc == 0)
        rc = pl_db_session_set_ip(db, r->device_id, r->ip);
    if (rc < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    r->ok = true;
}

static void mfa_login_done(int status, void *arg)
{
    pl_areq_t *r = arg;
    if (status < 0 && r->code == NULL)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
    pl_api_auth_ticket_finish(r->api->auth, r->ticket, r->ok && r->code == NULL);
    pl_api_auth_login_end(r->api->auth, r->info.username, &r->addr, &r->lticket,
                          r->ok && r->code == NULL                           ? PL_LOGIN_OK
                          : r->code && !strcmp(r->code, "bad_second_factor") ? PL_LOGIN_FAILED
                                                                             : PL_LOGIN_ABORTED);
    if (r->code == NULL) {
        char uid[24], did[24];
        pl_log(PL_LOG_INFO, "auth", "login with second factor user=u%" PRId64, r->info.user_id);
        r->result = json_pack("{s:s,s:s,s:s,s:s}", "user_id", pl_id_fmt(uid, 'u', r->info.user_id),
                              "token", r->token, "device_id", pl_id_fmt(did, 'd', r->device_id),
                              "username", r->info.username);
    }
    pl_api__areq_finish(r);
}

/* The passkey answer of a second login step (pl_api_passkey_verify, which
 * counted the attempt against the login limits itself). */
static void mfa_passkey_verified(void *arg, int status, int64_t user_id, const char *code,
                                 uint64_t retry_ms)
{
    pl_areq_t *r = arg;
    if (status == 0 && user_id == r->info.user_id) {
        r->passkey_ok = true;
        r->work = mfa_login_work;
        pl_store_write(r->api->st, pl_api__areq_work, mfa_login_done, r);
        return;
    }
    pl_api_auth_ticket_finish(r->api->auth, r->ticket, false);
    if (status == PL_EAGAIN) {
        r->api->logins_limited++;
        pl_api__respond_limited(r->req, retry_ms, "too many login attempts");
        pl_api__areq_free(r);
        return;
    }
    if (status == PL_EINVAL)
        pl_api__areq_fail(r, 400, code && !strcmp(code, "too_large") ? "too_large" : "bad_request",
                          "the passkey credential is malformed");
    else if (status == PL_ECLOSED)
        pl_api__areq_fail(r, 503, "unavailable", "the server cannot answer now; try again");
    else if (status == PL_EIO)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
    else
        pl_api__areq_fail(r, 401, "bad_second_factor",
                          code && !strcmp(code, "bad_challenge")
                              ? "the passkey answered no outstanding challenge: ask for new options"
                              : "that passkey is not valid for this account");
    pl_api__areq_finish(r);
}

static void respond_bad_ticket(pl_areq_t *r, int rc)
{
    if (rc == PL_ECLOSED)
        pl_api__respond_state_down(r->req);
    else
        pl_api_error(r->req, 401, "invalid_mfa_ticket",
                     "the login ticket is unknown, expired or spent: sign in again");
    json_decref(r->pending_passkey);
    r->pending_passkey = NULL;
    pl_api__areq_free(r);
}

/* The second step's device_name, when it gave one, replaces the first's. */
static void take_info(pl_areq_t *r, const pl_mfa_ticket_info_t *info)
{
    char dev[sizeof r->info.device_name];
    snprintf(dev, sizeof dev, "%s", r->info.device_name);
    r->info = *info;
    if (r->has_device)
        snprintf(r->info.device_name, sizeof r->info.device_name, "%s", dev);
}

static void mfa_passkey_claimed(void *arg, int rc, const pl_mfa_ticket_info_t *info)
{
    pl_areq_t *r = arg;
    if (rc < 0) {
        respond_bad_ticket(r, rc);
        return;
    }
    take_info(r, info);
    pl_auth_token_new(r->token);
    pl_auth_token_hash(r->token, strlen(r->token), r->token_hash);
    json_t *passkey = r->pending_passkey;
    r->pending_passkey = NULL;
    pl_api_passkey_verify(r->api->passkeys, &r->addr, passkey, r->info.user_id,
                          mfa_passkey_verified, r);
    json_decref(passkey);
}

/* POST /v1/login/mfa with a passkey: the limits are applied by the passkey
 * check; the ticket is claimed first so two requests cannot race on it. */
static void login_mfa_passkey(pl_api_t *api, pl_areq_t *r, json_t *passkey)
{
    r->pending_passkey = json_incref(passkey);
    pl_api_auth_ticket_claim(api->auth, r->ticket, mfa_passkey_claimed, r);
}

static void mfa_ticket_claimed(void *arg, int rc, const pl_mfa_ticket_info_t *info)
{
    pl_areq_t *r = arg;
    if (rc < 0) {
        pl_api_auth_login_end(r->api->auth, r->info.username, &r->addr, &r->lticket,
                              PL_LOGIN_ABORTED);
        respond_bad_ticket(r, rc);
        return;
    }
    take_info(r, info);
    pl_auth_token_new(r->token);
    pl_auth_token_hash(r->token, strlen(r->token), r->token_hash);
    r->work = mfa_login_work;
    pl_store_write(r->api->st, pl_api__areq_work, mfa_login_done, r);
}

static void mfa_login_allowed(void *arg, int rc, uint64_t wait, const char *why)
{
    pl_areq_t *r = arg;
    (void)why;
    if (rc < 0) {
        respond_bad_ticket(r, rc);
        return;
    }
    if (wait > 0) {
        r->api->logins_limited++;
        pl_api__respond_limited(r->req, wait, "too many login attempts");
        pl_api__areq_free(r);
        return;
    }
    pl_api_auth_ticket_claim(r->api->auth, r->ticket, mfa_ticket_claimed, r);
}

static void mfa_ticket_peeked(void *arg, int rc, const pl_mfa_ticket_info_t *info)
{
    pl_areq_t *r = arg;
    if (rc < 0) {
        respond_bad_ticket(r, rc);
        return;
    }
    take_info(r, info);
    pl_api_auth_login_begin(r->api->auth, r->info.username, &r->addr, &r->lticket,
                            mfa_login_allowed, r);
}

void pl_api__handle_login_mfa(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, false, true, &body);
    if (r == NULL)
        return;
    char *ticket = NULL, *dev = NULL;
    json_t *passkey = json_object_get(body, "passkey");
    bool ok = pl_api__opt_str(body, "mfa_ticket", 256, &ticket) &&
              pl_api__opt_str(body, "totp", 64, &r->totp) &&
              pl_api__opt_str(body, "recovery_code", 64, &r->recovery) &&
              pl_api__opt_str(body, "device_name", 64, &dev) &&
              (passkey == NULL || json_is_object(passkey));
    int factors = (r->totp != NULL) + (r->recovery != NULL) + (passkey != NULL);
    json_incref(passkey);
    json_decref(body);
    if (!ok || ticket == NULL || factors != 1) {
        free(ticket);
        free(dev);
        json_decref(passkey);
        pl_api_error(req, 400, "bad_request",
                     "give \"mfa_ticket\" and one of \"totp\" or \"recovery_code\" (strings) or "
                     "\"passkey\" (an assertion object)");
        pl_api__areq_free(r);
        return;
    }
    snprintf(r->ticket, sizeof r->ticket, "%s", ticket);
    pl_api__zfree(ticket);
    if (dev != NULL) {
        r->has_device = true;
        snprintf(r->info.device_name, sizeof r->info.device_name, "%s", dev);
        free(dev);
    }
    if (passkey != NULL) {
        login_mfa_passkey(api, r, passkey);
        json_decref(passkey);
        return;
    }
    /* The limits first (a refused attempt costs the ticket nothing), then
     * the claim, so two requests cannot check factors on one ticket. */
    pl_api_auth_ticket_peek(api->auth, r->ticket, mfa_ticket_peeked, r);
}

/* ---- GET /v1/account/security: which second factors are on ---- */

static void security_next(pl_areq_t *r)
{
    r->result = json_pack("{s:b,s:I,s:I,s:o}", "totp", r->mfa.totp, "recovery_codes_left",
                          (json_int_t)r->mfa.recovery_left, "passkeys", (json_int_t)r->mfa.passkeys,
                          "methods", methods_json(&r->mfa));
    pl_api__areq_finish(r);
}

void pl_api__handle_security(pl_api_t *api, pl_http_req_t *req)
{
    pl_areq_t *r = pl_api__areq_new(api, req, true, false, NULL);
    if (r)
        pl_api__areq_job(r, false, NULL, security_next);
}
