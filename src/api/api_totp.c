/* SPDX-License-Identifier: MIT */
/* api_totp.c -- TOTP enrolment (setup, enable, disable) and recovery
 * codes (shown once, hashed at rest, regenerated with the password). A
 * setup's secret waits (api_auth_state.h: this node's memory, or Redis in
 * a cluster) until enable, on any node, confirms a code from it. */
#include "api/api_areq.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/totp.h"
#include "core/err.h"
#include "core/util.h"

/* ---- TOTP enrolment ---- */

static void totp_setup_kept(void *arg, int rc);

static void totp_setup_next(pl_areq_t *r)
{
    if (r->mfa.totp) {
        pl_api__areq_fail(r, 409, "mfa_already_enabled", "TOTP is already on: disable it first");
        pl_api__areq_finish(r);
        return;
    }
    pl_totp_secret_new(r->secret);
    pl_api_auth_totp_put(r->api->auth, r->user_id, r->secret,
                         r->api->has_totp_key ? r->api->totp_key : NULL, totp_setup_kept, r);
}

static void totp_setup_kept(void *arg, int rc)
{
    pl_areq_t *r = arg;
    if (rc < 0) {
        pl_api__respond_state_down(r->req);
        pl_api__areq_free(r);
        return;
    }
    char b32[PL_TOTP_B32_MAX + 1];
    pl_totp_base32(r->secret, sizeof r->secret, b32);
    char *uri = pl_totp_uri(r->api->cfg->totp_issuer, r->user.username, b32);
    char *svg = pl_qr_svg(uri);
    r->result = json_pack("{s:s,s:s,s:s?,s:i,s:i,s:s}", "secret", b32, "uri", uri, "qr_svg", svg,
                          "digits", PL_TOTP_DIGITS, "period", PL_TOTP_STEP_S, "algorithm", "SHA1");
    sodium_memzero(b32, sizeof b32);
    pl_api__zfree(uri);
    free(svg);
    pl_api__areq_finish(r);
}

void pl_api__handle_totp_setup(pl_api_t *api, pl_http_req_t *req)
{
    pl_areq_t *r = pl_api__areq_new(api, req, true, false, NULL);
    if (r)
        pl_api__areq_job(r, false, NULL, totp_setup_next);
}

static void totp_enable_work(pl_db_t *db, pl_areq_t *r)
{
    if (r->mfa.totp) {
        pl_api__areq_fail(r, 409, "mfa_already_enabled", "TOTP is already on: disable it first");
        return;
    }
    uint8_t stored[PL_TOTP_STORED_MAX];
    size_t n = pl_totp_seal(r->api->has_totp_key ? r->api->totp_key : NULL, r->secret,
                            sizeof r->secret, stored);
    int rc = pl_db_totp_enable(db, r->user_id, stored, n, r->salt, r->step,
                               (const uint8_t(*)[32])r->hashes, PL_RECOVERY_CODES, pl_now_ms());
    sodium_memzero(stored, sizeof stored);
    if (rc < 0)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
}

static json_t *codes_json(pl_areq_t *r)
{
    json_t *a = json_array();
    for (int i = 0; i < PL_RECOVERY_CODES; i++)
        json_array_append_new(a, json_string(r->codes[i]));
    return a;
}

static void new_recovery_codes(pl_areq_t *r)
{
    randombytes_buf(r->salt, sizeof r->salt);
    for (int i = 0; i < PL_RECOVERY_CODES; i++) {
        pl_recovery_code_new(r->codes[i]);
        pl_recovery_code_hash(r->codes[i], r->salt, r->hashes[i]);
    }
}

static void totp_enable_found(void *arg, int rc, const uint8_t *secret)
{
    pl_areq_t *r = arg;
    if (rc == PL_ECLOSED) {
        pl_api__respond_state_down(r->req);
        pl_api__areq_free(r);
        return;
    }
    if (rc < 0) {
        pl_api__areq_fail(r, 409, "no_pending_setup",
                          "call /v1/account/totp/setup first (it lasts 10 minutes)");
        pl_api__areq_finish(r);
        return;
    }
    memcpy(r->secret, secret, sizeof r->secret);
    if (!pl_totp_verify(r->secret, sizeof r->secret, r->totp, pl_now_ms() / 1000, 0, &r->step)) {
        pl_api__areq_fail(r, 400, "bad_second_factor",
                          "that code does not match: check the clock and retry");
        pl_api__areq_finish(r);
        return;
    }
    pl_api_auth_totp_drop(r->api->auth, r->user_id);
    new_recovery_codes(r);
    r->result = json_pack("{s:o}", "recovery_codes", codes_json(r));
    pl_log(PL_LOG_INFO, "auth", "totp enabled user=u%" PRId64, r->user_id);
    pl_api__areq_job(r, true, totp_enable_work, NULL);
}

static void totp_enable_next(pl_areq_t *r)
{
    pl_api_auth_totp_get(r->api->auth, r->user_id, r->api->has_totp_key ? r->api->totp_key : NULL,
                         totp_enable_found, r);
}

void pl_api__handle_totp_enable(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = pl_api__opt_str(body, "code", 64, &r->totp);
    json_decref(body);
    if (!ok || r->totp == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"code\", the 6 digits the app shows");
        pl_api__areq_free(r);
        return;
    }
    pl_api__areq_job(r, false, NULL, totp_enable_next);
}

static void totp_disable_work(pl_db_t *db, pl_areq_t *r)
{
    int rc = 0;
    if (r->totp != NULL || r->recovery != NULL) {
        /* The state is read again on the writer: check and spend at once. */
        rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
        if (rc == 0)
            rc = pl_api__second_factor_check(r->api, db, r->user_id, &r->mfa, r->totp, r->recovery);
        if (rc == PL_EFORBIDDEN) {
            pl_api__areq_fail(r, 403, "bad_second_factor", "wrong, expired or already used code");
            return;
        }
    }
    if (rc == 0)
        rc = pl_db_totp_disable(db, r->user_id);
    if (rc == PL_ENOTFOUND)
        pl_api__areq_fail(r, 409, "mfa_not_enabled", "TOTP is not on");
    else if (rc < 0)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
    else
        pl_log(PL_LOG_INFO, "auth", "totp disabled user=u%" PRId64, r->user_id);
}

static void totp_disable_verified(pl_areq_t *r)
{
    pl_api__areq_job(r, true, totp_disable_work, NULL);
}

static void totp_disable_next(pl_areq_t *r)
{
    if (!r->mfa.totp) {
        pl_api__areq_fail(r, 409, "mfa_not_enabled", "TOTP is not on");
        pl_api__areq_finish(r);
    } else if (r->password != NULL) {
        pl_api__check_password(r, totp_disable_verified);
    } else {
        totp_disable_verified(r);
    }
}

void pl_api__handle_totp_disable(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = pl_api__opt_str(body, "password", PL_PASSWORD_MAX, &r->password) &&
              pl_api__opt_str(body, "code", 64, &r->totp) &&
              pl_api__opt_str(body, "recovery_code", 64, &r->recovery);
    json_decref(body);
    if (!ok || (r->password == NULL && r->totp == NULL && r->recovery == NULL)) {
        pl_api_error(req, 400, "bad_request",
                     "give \"password\", \"code\" (TOTP) or \"recovery_code\" to confirm");
        pl_api__areq_free(r);
        return;
    }
    pl_api__areq_job(r, false, NULL, totp_disable_next);
}

/* ---- POST /v1/account/recovery_codes {password} ---- */

static void recovery_work(pl_db_t *db, pl_areq_t *r)
{
    int rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
    if (rc == 0 && !r->mfa.totp) {
        pl_api__areq_fail(r, 409, "mfa_not_enabled",
                          "recovery codes come with TOTP: enable it first");
        return;
    }
    /* The codes are keyed with the salt stored at enable. */
    memcpy(r->salt, r->mfa.recovery_salt, sizeof r->salt);
    for (int i = 0; rc == 0 && i < PL_RECOVERY_CODES; i++) {
        pl_recovery_code_new(r->codes[i]);
        pl_recovery_code_hash(r->codes[i], r->salt, r->hashes[i]);
    }
    if (rc == 0)
        rc = pl_db_recovery_codes_set(db, r->user_id, (const uint8_t(*)[32])r->hashes,
                                      PL_RECOVERY_CODES);
    if (rc < 0)
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
    else
        r->result = json_pack("{s:o}", "recovery_codes", codes_json(r));
}

static void recovery_verified(pl_areq_t *r)
{
    pl_api__areq_job(r, true, recovery_work, NULL);
}

static void recovery_next(pl_areq_t *r)
{
    if (!r->mfa.totp) {
        pl_api__areq_fail(r, 409, "mfa_not_enabled",
                          "recovery codes come with TOTP: enable it first");
        pl_api__areq_finish(r);
        return;
    }
    pl_api__check_password(r, recovery_verified);
}

void pl_api__handle_recovery_codes(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    pl_areq_t *r = pl_api__areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = pl_api__opt_str(body, "password", PL_PASSWORD_MAX, &r->password);
    json_decref(body);
    if (!ok || r->password == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"password\"");
        pl_api__areq_free(r);
        return;
    }
    pl_api__areq_job(r, false, NULL, recovery_next);
}
