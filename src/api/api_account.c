/* SPDX-License-Identifier: MIT */
/* api_account.c -- account security over HTTP: the state the account
 * endpoints share (set up and torn down with the api) and their routes.
 * The endpoints live by concept: api_mfa.c (second factors, the MFA login
 * step), api_totp.c (TOTP enrolment, recovery codes), api_sessions.c
 * (devices), api_password.c (password change and reset), api_operator.c
 * (operator commands); api_areq.c is the request machinery they share.
 * Every database access is a store job and every password check an
 * Argon2id job on the pool, as in api.c. */
#include "api/api_areq.h"

#include <sodium.h>
#include <string.h>

#include "auth/totp.h"
#include "core/util.h"

void pl_api__account_init(pl_api_t *api)
{
    if (pl_totp_global_init() < 0)
        pl_log(PL_LOG_ERROR, "auth", "liboath failed to initialise: TOTP codes will not verify");
    api->pwlist = pl_api__pwlist_load(api->cfg->password_blocklist);
    const char *k = api->cfg->totp_secret_key;
    api->has_totp_key = k[0] != '\0' && sodium_hex2bin(api->totp_key, sizeof api->totp_key, k,
                                                       strlen(k), NULL, NULL, NULL) == 0;
}

void pl_api__account_dispose(pl_api_t *api)
{
    pl_pwlist_free(api->pwlist);
}

/* ---- router ---- */

typedef struct {
    const char *method, *path;
    void (*fn)(pl_api_t *api, pl_http_req_t *req);
} aroute_t;

static const aroute_t aroutes[] = {
    {"POST", "/v1/login/mfa", pl_api__handle_login_mfa},
    {"POST", "/v1/account/totp/setup", pl_api__handle_totp_setup},
    {"POST", "/v1/account/totp/enable", pl_api__handle_totp_enable},
    {"POST", "/v1/account/totp/disable", pl_api__handle_totp_disable},
    {"POST", "/v1/account/recovery_codes", pl_api__handle_recovery_codes},
    {"POST", "/v1/account/password", pl_api__handle_password},
    {"POST", "/v1/account/reset", pl_api__handle_reset},
    {"GET", "/v1/account/security", pl_api__handle_security},
    {"GET", "/v1/sessions", pl_api__handle_sessions_list},
    {"POST", "/v1/sessions/revoke_others", pl_api__handle_revoke_others},
};

bool pl_api__account_route(pl_api_t *api, pl_http_req_t *req, const char *method, const char *path)
{
    bool known = false;
    for (size_t i = 0; i < PL_ARRAY_LEN(aroutes); i++) {
        if (strcmp(aroutes[i].path, path) != 0)
            continue;
        known = true;
        if (!strcmp(aroutes[i].method, method) ||
            (!strcmp(method, "HEAD") && !strcmp(aroutes[i].method, "GET"))) {
            aroutes[i].fn(api, req);
            return true;
        }
    }
    static const char dev[] = "/v1/sessions/";
    if (!known && !strncmp(path, dev, sizeof dev - 1) && path[sizeof dev - 1] != '\0') {
        if (!strcmp(method, "DELETE"))
            pl_api__handle_session_delete(api, req, path + sizeof dev - 1);
        else
            pl_api_error(req, 405, "method_not_allowed", "devices are revoked with DELETE");
        return true;
    }
    if (known)
        pl_api_error(req, 405, "method_not_allowed", "method not allowed for this path");
    return known;
}
