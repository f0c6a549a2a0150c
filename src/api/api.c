/* SPDX-License-Identifier: MIT */
/* api.c -- HTTP routes. Password hashing runs on the thread pool and every
 * database access is a store job, so no handler blocks the loop. */
#include "api/api.h"
#include "api/api_internal.h"
#include "api/api_metrics.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "auth/auth_limits.h"
#include "core/addr.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/util.h"
#include "media/media.h"

#include "api/api_internal.h"

pl_api_t *pl_api_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_chat_t *chat)
{
    pl_api_t *api = pl_xcalloc(1, sizeof *api);
    api->loop = loop;
    api->cfg = cfg;
    api->st = st;
    api->chat = chat;
    api->auth = pl_api_auth_new(cfg);
    /* Both lists were validated when the config was loaded. */
    if (pl_cidr_list_parse(cfg->stats_allow, &api->stats_allow, NULL, 0) < 0)
        pl_log(PL_LOG_ERROR, "api", "bad stats_allow: stats refused");
    if (pl_media_new(loop, cfg, st, &api->media) < 0)
        pl_log(PL_LOG_ERROR, "api", "media service unavailable: uploads answer 503");
    pl_api__account_init(api);
    pl_api__hooks_init(api); /* issue 16 */
    api->passkeys = pl_api_passkey_new(loop, cfg, st, api->auth, pl_api__login_session, api);
    return api;
}

void pl_api_stop(pl_api_t *api)
{
    if (api)
        pl_media_stop(api->media);
}

void pl_api_free(pl_api_t *api)
{
    if (!api)
        return;
    pl_media_free(api->media);
    pl_api_passkey_free(api->passkeys);
    pl_api__account_dispose(api);
    pl_api__hooks_dispose(api);
    pl_api_auth_free(api->auth);
    pl_cidr_list_dispose(&api->stats_allow);
    free(api);
}

void pl_api_set_server(pl_api_t *api, pl_server_t *srv)
{
    api->srv = srv;
}

bool pl_api_on_headers(void *ud, pl_http_req_t *req, pl_http_stream_t *out)
{
    pl_api_t *api = ud;
    return api->media && pl_media_on_headers(api->media, req, out);
}

/* ---- register / login: a small state machine over pool and store jobs ---- */

typedef struct {
    pl_api_t *api;
    pl_http_req_t *req;
    char username[PL_USERNAME_MAX + 1];
    char *password;
    char *display_name;
    char *device_name;
    char *pwhash;
    pl_user_t user;
    char token[PL_TOKEN_LEN + 1];
    unsigned char token_hash[32];
    int64_t user_id, device_id;
    int status;       /* HTTP status of the answer */
    const char *code; /* error code or NULL */
    const char *msg;
    pl_addr_t addr;           /* the client (behind a trusted proxy: the one it names) */
    pl_login_ticket_t ticket; /* login: what the limits reserved */
    bool verified;            /* login: the password (and second factor) were right */
    char *totp, *recovery;    /* login: a second factor given with the password */
    char *invite;             /* register: invite_code */
    pl_mfa_state_t mfa;       /* login: the account's second factors */
    char ip[64];              /* coarse client address for the devices list */
} acct_t;

static void acct_free(acct_t *a)
{
    if (a->password) {
        sodium_memzero(a->password, strlen(a->password));
        free(a->password);
    }
    free(a->display_name);
    free(a->device_name);
    free(a->pwhash);
    free(a->totp);
    free(a->recovery);
    free(a->invite);
    sodium_memzero(&a->mfa, sizeof a->mfa);
    pl_user_dispose(&a->user);
    sodium_memzero(a->token, sizeof a->token);
    free(a);
}

static void acct_finish(int status, void *arg)
{
    acct_t *a = arg;
    if (a->ticket.active) {
        bool failed = a->code && (!strcmp(a->code, "bad_credentials") ||
                                  !strcmp(a->code, "bad_second_factor"));
        pl_login_outcome_t o = a->verified ? PL_LOGIN_OK
                               : failed    ? PL_LOGIN_FAILED
                                           : PL_LOGIN_ABORTED;
        pl_api_auth_login_end(a->api->auth, a->username, &a->addr, &a->ticket, o);
    }
    int st = status;
    if (st < 0 && a->code == NULL) {
        a->status = st == PL_ECLOSED ? 503 : 500;
        a->code = st == PL_ECLOSED ? "unavailable" : "internal";
        a->msg = st == PL_ECLOSED ? "the server is shutting down" : "storage error; try again";
    }
    if (a->code != NULL) {
        pl_api_error(a->req, a->status, a->code, a->msg);
    } else {
        char uid[24], did[24];
        pl_api__respond_json(a->req, a->status,
                             json_pack("{s:s,s:s,s:s,s:s}", "user_id",
                                       pl_id_fmt(uid, 'u', a->user_id), "token", a->token,
                                       "device_id", pl_id_fmt(did, 'd', a->device_id), "username",
                                       a->username));
    }
    acct_free(a);
}

static void register_work(pl_db_t *db, void *arg)
{
    acct_t *a = arg;
    int64_t now = pl_now_ms();
    int rc = pl_db_user_create(db, a->username, a->display_name, a->pwhash, now, &a->user_id);
    if (rc == 0 && a->invite != NULL) {
        uint8_t h[32];
        pl_auth_token_hash(a->invite, strlen(a->invite), h);
        rc = pl_db_invite_code_take(db, h, a->user_id, now);
        if (rc == PL_ENOTFOUND) {
            a->status = 403, a->code = "invalid_invite",
            a->msg = "that invite code is unknown, used or expired";
            pl_db_rollback_job(db);
            return;
        }
    }
    if (rc == 0)
        rc =
            pl_db_session_create(db, a->user_id, a->token_hash, a->device_name, now, &a->device_id);
    if (rc == 0)
        rc = pl_db_session_set_ip(db, a->device_id, a->ip);
    if (rc == PL_EEXIST) {
        a->status = 409, a->code = "username_taken", a->msg = "that username is taken";
    } else if (rc < 0) {
        a->status = 500, a->code = "internal", a->msg = "storage error; try again";
    }
    if (rc < 0)
        pl_db_rollback_job(db);
    else
        pl_log(PL_LOG_INFO, "auth", "registered user=u%" PRId64, a->user_id);
}

static void register_hashed(void *arg, int status, const char *hash)
{
    acct_t *a = arg;
    if (status < 0) {
        a->status = 500, a->code = "internal", a->msg = "cannot hash the password";
        acct_finish(0, a); /* not a store job */
        return;
    }
    a->pwhash = pl_xstrdup(hash);
    pl_auth_token_new(a->token);
    pl_auth_token_hash(a->token, strlen(a->token), a->token_hash);
    a->status = 201;
    pl_store_write(a->api->st, register_work, acct_finish, a);
}

/* Validates the common fields of register and login. */
static acct_t *acct_parse(pl_api_t *api, pl_http_req_t *req, json_t *body, bool reg)
{
    json_t *u = json_object_get(body, "username"), *p = json_object_get(body, "password");
    json_t *d = json_object_get(body, "display_name"), *dev = json_object_get(body, "device_name");
    char norm[PL_USERNAME_MAX + 1];
    if (!json_is_string(u) || !json_is_string(p)) {
        pl_api_error(req, 400, "bad_request", "\"username\" and \"password\" are required strings");
        return NULL;
    }
    if (!pl_auth_username_normalize(json_string_value(u), norm)) {
        pl_api_error(req, reg ? 400 : 401, reg ? "invalid_username" : "bad_credentials",
                     reg ? "usernames are 1-32 characters of a-z, 0-9, _ . -"
                         : "wrong username or password");
        return NULL;
    }
    if (reg && !pl_auth_username_registrable(norm)) {
        pl_api_error(req, 400, "invalid_username", "usernames need at least one letter or digit");
        return NULL;
    }
    size_t plen = json_string_length(p);
    if (plen > PL_PASSWORD_MAX || strlen(json_string_value(p)) != plen) {
        pl_api_error(req, 400, reg ? "weak_password" : "bad_request",
                     "passwords are 8 to 1024 bytes without NUL");
        return NULL;
    }
    const char *weak = reg ? pl_password_check(api->pwlist, norm, json_string_value(p)) : NULL;
    if (weak != NULL) {
        pl_api_error(req, 400, "weak_password", weak);
        return NULL;
    }
    json_t *totp = json_object_get(body, "totp"), *rec = json_object_get(body, "recovery_code");
    json_t *inv = json_object_get(body, "invite_code");
    if ((totp && !json_is_null(totp) && (!json_is_string(totp) || json_string_length(totp) > 64)) ||
        (rec && !json_is_null(rec) && (!json_is_string(rec) || json_string_length(rec) > 64)) ||
        (inv && !json_is_null(inv) && (!json_is_string(inv) || json_string_length(inv) > 256))) {
        pl_api_error(req, 400, "bad_request",
                     "\"totp\", \"recovery_code\" and \"invite_code\" are short strings");
        return NULL;
    }
    if ((d && !json_is_null(d) &&
         (!json_is_string(d) || json_string_length(d) > PL_DISPLAY_NAME_MAX)) ||
        (dev && !json_is_null(dev) && (!json_is_string(dev) || json_string_length(dev) > 64))) {
        pl_api_error(req, 400, "bad_request",
                     "\"display_name\" and \"device_name\" are strings of at most 64 bytes");
        return NULL;
    }
    acct_t *a = pl_xcalloc(1, sizeof *a);
    a->api = api;
    a->req = req;
    memcpy(a->username, norm, sizeof norm);
    a->password = pl_xstrdup(json_string_value(p));
    a->display_name =
        pl_xstrdup(json_is_string(d) && json_string_length(d) ? json_string_value(d) : norm);
    a->device_name = pl_xstrdup(json_is_string(dev) ? json_string_value(dev) : "");
    if (json_is_string(totp) && json_string_length(totp) > 0)
        a->totp = pl_xstrdup(json_string_value(totp));
    if (json_is_string(rec) && json_string_length(rec) > 0)
        a->recovery = pl_xstrdup(json_string_value(rec));
    if (json_is_string(inv) && json_string_length(inv) > 0)
        a->invite = pl_xstrdup(json_string_value(inv));
    pl_http_client_addr(req, &a->addr);
    pl_api__coarse_ip(&a->addr, a->ip);
    return a;
}

static void register_allowed(void *arg, int rc, uint64_t wait_ms, const char *why)
{
    acct_t *a = arg;
    pl_api_t *api = a->api;
    (void)why;
    if (rc < 0) {
        pl_api__respond_state_down(a->req);
        acct_free(a);
        return;
    }
    if (wait_ms > 0) {
        api->registrations_limited++;
        int lvl = pl_api__refusal_log_level(api);
        pl_log(lvl, "auth", "register refused peer=%s limit=register_per_ip_hour retry_ms=%" PRIu64,
               pl_http_peer(a->req), wait_ms);
        pl_api__respond_limited(a->req, wait_ms, "too many registrations from this address");
        acct_free(a);
        return;
    }
    pl_auth_hash_password(api->loop, a->password, (uint64_t)api->cfg->argon2_opslimit,
                          (size_t)api->cfg->argon2_memlimit, register_hashed, a);
}

static void handle_register(pl_api_t *api, pl_http_req_t *req)
{
    if (!pl_api__require_json(req))
        return;
    json_t *body = pl_api__body_object(req);
    if (body == NULL)
        return;
    if (!strcmp(api->cfg->registration, "closed")) {
        json_decref(body);
        pl_api_error(req, 403, "registration_closed", "this server does not take new accounts");
        return;
    }
    acct_t *a = acct_parse(api, req, body, true);
    json_decref(body);
    if (a == NULL)
        return;
    if (!strcmp(api->cfg->registration, "invite") && a->invite == NULL) {
        pl_api_error(req, 403, "invite_required",
                     "this server takes new accounts by invitation: give \"invite_code\"");
        acct_free(a);
        return;
    }
    if (strcmp(api->cfg->registration, "invite") != 0) {
        free(a->invite); /* open registration: a code is neither needed nor spent */
        a->invite = NULL;
    }
    /* Before the Argon2id work: that is what a flood would cost. */
    pl_api_auth_register(api->auth, &a->addr, register_allowed, a);
}

static void login_work(pl_db_t *db, void *arg)
{
    acct_t *a = arg;
    int64_t now = pl_now_ms(), count = 0;
    if (a->mfa.totp || a->mfa.passkeys > 0) {
        /* The state read before the Argon2id work may be stale: read it
         * again here, on the writer, where the check and the spending of
         * the code are one step. */
        int rc = pl_db_mfa_get(db, a->user.id, &a->mfa);
        if (rc == 0)
            rc = pl_api__second_factor_check(a->api, db, a->user.id, &a->mfa, a->totp, a->recovery);
        if (rc == PL_EFORBIDDEN) {
            a->verified = false;
            a->status = 401, a->code = "bad_second_factor",
            a->msg = "wrong, expired or already used code";
            return;
        }
        if (rc < 0) {
            a->verified = false;
            a->status = 500, a->code = "internal", a->msg = "storage error; try again";
            return;
        }
    }
    int rc = pl_db_session_count(db, a->user.id, &count);
    if (rc == 0 && count >= a->api->cfg->max_sessions_per_user) {
        a->status = 429, a->code = "too_many_sessions",
        a->msg = "too many devices are logged in; log one out first";
        return;
    }
    if (rc == 0)
        rc =
            pl_db_session_create(db, a->user.id, a->token_hash, a->device_name, now, &a->device_id);
    if (rc == 0)
        rc = pl_db_session_set_ip(db, a->device_id, a->ip);
    if (rc < 0) {
        a->verified = false;
        a->status = 500, a->code = "internal", a->msg = "storage error; try again";
        pl_db_rollback_job(db);
    }
}

static void login_verified(void *arg, bool ok)
{
    acct_t *a = arg;
    if (!ok) {
        a->status = 401, a->code = "bad_credentials", a->msg = "wrong username or password";
        pl_log(PL_LOG_INFO, "auth", "login failed user=%s peer=%s", a->username,
               pl_http_peer(a->req));
        acct_finish(0, a); /* not a store job */
        return;
    }
    a->user_id = a->user.id;
    bool needs_mfa = a->mfa.totp || a->mfa.passkeys > 0;
    if (needs_mfa && a->totp == NULL && a->recovery == NULL) {
        /* The password was right: neither a success nor a failure for the
         * limits (ABORTED) until the second step says which. */
        pl_mfa_ticket_info_t info = {.user_id = a->user.id, .addr = a->addr};
        memcpy(info.username, a->username, sizeof a->username);
        snprintf(info.device_name, sizeof info.device_name, "%s", a->device_name);
        pl_api_auth_login_end(a->api->auth, a->username, &a->addr, &a->ticket, PL_LOGIN_ABORTED);
        pl_api__respond_mfa_required(a->api, a->req, &info, &a->mfa);
        acct_free(a);
        return;
    }
    a->verified = true; /* login_work may still find the second factor wrong */
    pl_auth_token_new(a->token);
    pl_auth_token_hash(a->token, strlen(a->token), a->token_hash);
    a->status = 200;
    pl_store_write(a->api->st, login_work, acct_finish, a);
}

static void login_lookup_work(pl_db_t *db, void *arg)
{
    acct_t *a = arg;
    int rc = pl_db_user_by_name(db, a->username, &a->user);
    if (rc == 0)
        rc = pl_db_mfa_get(db, a->user.id, &a->mfa);
    if (rc < 0 && rc != PL_ENOTFOUND)
        a->status = 500, a->code = "internal", a->msg = "storage error; try again";
}

static void login_looked_up(int status, void *arg)
{
    acct_t *a = arg;
    if (status < 0 && a->code == NULL)
        a->status = 503, a->code = "unavailable", a->msg = "the server is shutting down";
    if (a->code != NULL) {
        acct_finish(status, a);
        return;
    }
    /* A missing user still costs one Argon2id verification (see auth.c). */
    pl_auth_verify_password(a->api->loop, a->password, a->user.pwhash,
                            (uint64_t)a->api->cfg->argon2_opslimit,
                            (size_t)a->api->cfg->argon2_memlimit, login_verified, a);
}

static void login_allowed(void *arg, int rc, uint64_t wait_ms, const char *why)
{
    acct_t *a = arg;
    pl_api_t *api = a->api;
    if (rc < 0) {
        pl_api__respond_state_down(a->req);
        acct_free(a);
        return;
    }
    if (wait_ms > 0) {
        api->logins_limited++;
        int lvl = pl_api__refusal_log_level(api);
        pl_log(lvl, "auth", "login refused user=%s peer=%s limit=%s retry_ms=%" PRIu64, a->username,
               pl_http_peer(a->req), why, wait_ms);
        pl_api__respond_limited(a->req, wait_ms, "too many login attempts");
        acct_free(a);
        return;
    }
    pl_store_read(api->st, login_lookup_work, login_looked_up, a);
}

static void handle_login(pl_api_t *api, pl_http_req_t *req)
{
    if (!pl_api__require_json(req))
        return;
    json_t *body = pl_api__body_object(req);
    if (body == NULL)
        return;
    acct_t *a = acct_parse(api, req, body, false);
    json_decref(body);
    if (a == NULL)
        return;
    /* Before the lookup and the Argon2id work; see auth_limits.h. */
    pl_api_auth_login_begin(api->auth, a->username, &a->addr, &a->ticket, login_allowed, a);
}

/* ---- logout ---- */

typedef struct {
    pl_api_t *api;
    pl_http_req_t *req;
    unsigned char hash[32];
    int64_t user_id, device_id;
    int rc;
} logout_t;

static void logout_work(pl_db_t *db, void *arg)
{
    logout_t *l = arg;
    l->rc = pl_db_session_lookup(db, l->hash, pl_now_ms(), &l->user_id, &l->device_id);
    if (l->rc == 0)
        l->rc = pl_db_session_delete(db, l->hash, &l->device_id);
    if (l->rc < 0)
        pl_db_rollback_job(db);
}

static void logout_done(int status, void *arg)
{
    logout_t *l = arg;
    int st = status;
    if (st < 0)
        l->rc = st;
    if (l->rc == PL_ENOTFOUND) {
        pl_api_error(l->req, 401, "unauthenticated", "invalid or revoked token");
    } else if (l->rc < 0) {
        pl_api_error(l->req, 500, "internal", "storage error; try again");
    } else {
        pl_chat_close_device(l->api->chat, l->user_id, l->device_id, 1008, "logged out");
        pl_http_respond(l->req, 200, "application/json", "{}", 2, NULL);
        pl_log(PL_LOG_INFO, "auth", "logout user=u%" PRId64 " device=d%" PRId64, l->user_id,
               l->device_id);
    }
    free(l);
}

static void handle_logout(pl_api_t *api, pl_http_req_t *req)
{
    logout_t *l = pl_xcalloc(1, sizeof *l);
    l->api = api;
    l->req = req;
    if (!pl_auth_bearer_hash(pl_http_header(req, "authorization"), l->hash)) {
        free(l);
        pl_api_error(req, 401, "unauthenticated", "missing Authorization: Bearer <token>");
        return;
    }
    pl_store_write(api->st, logout_work, logout_done, l);
}

/* ---- stats: to stats_allow clients, or with stats_token ---- */

/* Whether the request carries stats_token as its Bearer token. Both sides
 * are hashed first, so the comparison takes the same time whatever the
 * token's length or content. */
static bool stats_token_ok(pl_api_t *api, pl_http_req_t *req)
{
    const char *want = api->cfg->stats_token;
    unsigned char a[32], b[32];
    if (want[0] == '\0' || !pl_auth_bearer_hash(pl_http_header(req, "authorization"), a))
        return false;
    pl_auth_token_hash(want, strlen(want), b);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

/* Whether the request's client is in stats_allow. Returns false with *why
 * set otherwise. A request carrying X-Forwarded-For or Forwarded came through
 * a proxy; it is judged by the client that proxy names, and only when the
 * proxy is one of trusted_proxies: a same-host proxy nobody configured would
 * otherwise make every client look local. */
static bool stats_client_ok(pl_api_t *api, pl_http_req_t *req, const char **why)
{
    pl_addr_t client;
    pl_http_client_addr(req, &client);
    bool xff = pl_http_header(req, "x-forwarded-for") != NULL;
    if (pl_http_via_trusted_proxy(req) && !xff) {
        /* Our proxy always names its client; without it the client is
         * unknown (it would look like the proxy's own address). */
        *why = "a trusted proxy named no client (X-Forwarded-For)";
        return false;
    }
    if (!pl_http_via_trusted_proxy(req) && (xff || pl_http_header(req, "forwarded") != NULL)) {
        *why = "forwarded by a proxy that is not in trusted_proxies";
        return false;
    }
    if (!pl_cidr_list_match(&api->stats_allow, &client)) {
        *why = "client not in stats_allow";
        return false;
    }
    return true;
}

/* Whether the request may read stats (stats_token or a stats_allow
 * client); answers 403 forbidden (logged, rate-gated) and returns false
 * otherwise. /v1/stats and /metrics (issue 17) alike. */
static bool stats_allowed(pl_api_t *api, pl_http_req_t *req)
{
    const char *why = "";
    if (stats_token_ok(api, req) || stats_client_ok(api, req, &why))
        return true;
    int lvl = pl_api__refusal_log_level(api);
    pl_log(lvl, "api", "stats refused conn=%" PRIu64 " peer=%s path=%s why=\"%s\"",
           pl_http_conn_id(req), pl_http_peer(req), pl_http_path(req), why);
    pl_api_error(req, 403, "forbidden",
                 "stats are served to the addresses in stats_allow or with stats_token");
    return false;
}

static json_t *stats_object(pl_api_t *api);

static void handle_stats(pl_api_t *api, pl_http_req_t *req)
{
    if (stats_allowed(api, req))
        pl_api__respond_json(req, 200, stats_object(api));
}

/* GET /metrics (issue 17): the same numbers and the process's in the
 * Prometheus text format (api_metrics.c renders them). */
static void handle_metrics(pl_api_t *api, pl_http_req_t *req)
{
    if (!stats_allowed(api, req))
        return;
    json_t *o = stats_object(api);
    pl_proc_stats_t p;
    pl_proc_stats_read(&p);
    pl_buf_t b;
    pl_buf_init(&b);
    pl_metrics_render(&b, o, &p);
    json_decref(o);
    pl_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", pl_buf_head(&b), b.len,
                    NULL);
    pl_buf_dispose(&b);
}

/* {"le": [bounds], "counts": [per bucket, the last +Inf], "sum": s} */
static json_t *hist_json(const double *le, const uint64_t *counts, double sum)
{
    json_t *b = json_array(), *c = json_array();
    for (size_t i = 0; i < PL_STORE_HIST_N; i++) {
        if (i + 1 < PL_STORE_HIST_N)
            json_array_append_new(b, json_real(le[i]));
        json_array_append_new(c, json_integer((json_int_t)counts[i]));
    }
    return json_pack("{s:o,s:o,s:f}", "le", b, "counts", c, "sum", sum);
}

/* The /v1/stats object (owned). */
static json_t *stats_object(pl_api_t *api)
{
    pl_server_stats_t ss;
    pl_chat_stats_t cs;
    pl_store_stats_t st;
    pl_server_get_stats(api->srv, &ss);
    pl_chat_get_stats(api->chat, &cs);
    pl_store_get_stats(api->st, &st);
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "connections_accepted",
        (json_int_t)ss.connections_accepted, "ws_opened", (json_int_t)ss.opened, "frames_encoded",
        (json_int_t)ss.frames_encoded, "frames_queued", (json_int_t)ss.frames_queued, "writes",
        (json_int_t)ss.writes, "slow_consumers", (json_int_t)ss.slow_consumers, "sessions",
        (json_int_t)cs.sessions, "messages_stored", (json_int_t)cs.messages_stored,
        "events_fanned_out", (json_int_t)cs.events_fanned_out, "message_frames_built",
        (json_int_t)cs.frames_built, "syncs_from_ring", (json_int_t)cs.syncs_from_ring,
        "syncs_from_store", (json_int_t)cs.syncs_from_store, "ring_bytes",
        (json_int_t)cs.ring_bytes, "commits", (json_int_t)st.commits, "write_jobs",
        (json_int_t)st.write_jobs);
    /* built-in TLS (issue 12) */
    json_object_set_new(o, "tls_handshakes", json_integer((json_int_t)ss.tls_handshakes));
    json_object_set_new(o, "tls_handshake_failures",
                        json_integer((json_int_t)ss.tls_handshake_failures));
    json_object_set_new(o, "tls_errors", json_integer((json_int_t)ss.tls_errors));
    /* per loop (loop 0 is the core): how connections spread over the loops */
    json_t *loops = json_array();
    for (int k = 0; k < pl_server_loop_count(api->srv); k++) {
        pl_server_stats_t ls;
        pl_server_get_loop_stats(api->srv, k, &ls);
        json_array_append_new(loops, json_pack("{s:I,s:I,s:I}", "connections_accepted",
                                               (json_int_t)ls.connections_accepted, "ws_opened",
                                               (json_int_t)ls.opened, "tls_handshakes",
                                               (json_int_t)ls.tls_handshakes));
    }
    json_object_set_new(o, "loops", loops);
    /* account limits and media decoding */
    json_object_set_new(o, "logins_rate_limited", json_integer((json_int_t)api->logins_limited));
    json_object_set_new(o, "registrations_rate_limited",
                        json_integer((json_int_t)api->registrations_limited));
    json_object_set_new(o, "password_verifications",
                        json_integer((json_int_t)pl_auth_password_verifications()));
    json_object_set_new(o, "mfa_tickets",
                        json_integer((json_int_t)pl_api_auth_ticket_count(api->auth)));
    if (api->media)
        pl_media_stats_json(api->media, o);
    /* durable jobs (issue 13): this node's runner, and the shared table's
     * states (refreshed every few seconds) */
    pl_jobs_stats_t js = {0};
    if (api->jobs)
        pl_jobs_get_stats(api->jobs, &js);
    const struct {
        const char *k;
        int64_t v;
    } jstats[] = {
        {"jobs_claimed", (int64_t)js.claimed},  {"jobs_succeeded", (int64_t)js.succeeded},
        {"jobs_failed", (int64_t)js.failed},    {"jobs_died", (int64_t)js.died},
        {"jobs_overran", (int64_t)js.overran},  {"jobs_unknown_kind", (int64_t)js.unknown},
        {"jobs_lease_lost", (int64_t)js.lost},  {"jobs_running", (int64_t)js.running},
        {"jobs_queued", js.table.queued},       {"jobs_retrying", js.table.retrying},
        {"jobs_claimed_now", js.table.running}, {"jobs_done", js.table.done},
        {"jobs_dead", js.table.dead},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(jstats); i++)
        json_object_set_new(o, jstats[i].k, json_integer((json_int_t)jstats[i].v));
    /* the cluster bus (0 without one) */
    pl_cluster_stats_t cl = {0};
    if (api->cluster)
        pl_cluster_get_stats(api->cluster, &cl);
    const struct {
        const char *k;
        uint64_t v;
    } cstats[] = {
        {"cluster_connected", cl.connected},
        {"cluster_subscriptions", cl.subscriptions},
        {"cluster_wanted", cl.wanted},
        {"cluster_sub_commands", cl.sub_commands},
        {"cluster_published", cl.published},
        {"cluster_publish_dropped", cl.publish_dropped},
        {"cluster_publish_failed", cl.publish_failed},
        {"cluster_heartbeats", cl.heartbeats},
        {"cluster_peers", cl.peers},
        {"cluster_peers_lost", cl.peers_lost},
        {"cluster_peer_catchups", cs.cluster_peer_catchups},
        {"cluster_room_loads", cs.cluster_room_loads},
        {"cluster_catchups", cs.cluster_catchups},
        {"cluster_caught_up", cs.cluster_caught_up},
        {"cluster_reconnects", cl.reconnects},
        {"cluster_received", cs.cluster_received},
        {"cluster_bad", cs.cluster_bad},
        {"cluster_duplicates", cs.cluster_duplicates},
        {"cluster_gaps", cs.cluster_gaps},
        {"cluster_backfills", cs.cluster_backfills},
        {"cluster_backfilled", cs.cluster_backfilled},
        {"cluster_resyncs", cs.cluster_resyncs},
        {"presence_shared_sets", cs.presence_shared_sets},
        {"presence_shared_events", cs.presence_shared_events},
        {"presence_registers", cs.presence_registers},
        {"presence_reaped", cs.presence_reaped},
        {"rate_shared_syncs", cs.rate_shared_syncs},
        {"rate_shared_cuts", cs.rate_shared_cuts},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cstats); i++)
        json_object_set_new(o, cstats[i].k, json_integer((json_int_t)cstats[i].v));
    /* error replies by code (issue 17) */
    json_t *errs = json_object();
    for (uint32_t i = 0; i < PL_CHAT_ERR_CODES; i++)
        if (cs.errors[i].code != NULL && cs.errors[i].n > 0)
            json_object_set_new(errs, cs.errors[i].code, json_integer((json_int_t)cs.errors[i].n));
    json_object_set_new(o, "errors", errs);
    /* the store writer's histograms (issue 17) */
    json_t *h = json_object();
    json_object_set_new(h, "store_commit_seconds",
                        hist_json(pl_store_commit_le, st.commit_counts, st.commit_sum));
    json_object_set_new(h, "store_commit_jobs",
                        hist_json(pl_store_batch_le, st.batch_counts, (double)st.batch_sum));
    json_object_set_new(o, "histograms", h);
    return o;
}

/* ---- router ---- */

typedef struct {
    const char *method;
    const char *path;
    void (*fn)(pl_api_t *api, pl_http_req_t *req);
} route_t;

static void handle_health(pl_api_t *api, pl_http_req_t *req)
{
    (void)api;
    static const char ok[] = "{\"status\":\"ok\"}";
    pl_http_respond(req, 200, "application/json", ok, sizeof ok - 1, NULL);
}

/* ---- readiness: for the load balancer (HAProxy `option httpchk GET /readyz`) ---- */

typedef struct {
    pl_api_t *api;
    pl_http_req_t *req;
    int rc;
} ready_t;

/* One indexed read: a room that never exists (ids start at 1). */
static void ready_work(pl_db_t *db, void *arg)
{
    ready_t *q = arg;
    pl_room_t r = {0};
    q->rc = pl_db_room_get(db, 0, &r);
    if (q->rc == 0)
        pl_room_dispose(&r);
    else if (q->rc == PL_ENOTFOUND)
        q->rc = 0;
}

static void not_ready(pl_http_req_t *req, const char *status)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    pl_http_respond(req, 503, "application/json", body, (size_t)n, NULL);
}

static void ready_done(int status, void *arg)
{
    ready_t *q = arg;
    if (status < 0 || q->rc < 0)
        not_ready(q->req, "store_down");
    else if (q->api->draining)
        not_ready(q->req, "draining");
    else if (q->api->cluster != NULL && !pl_cluster_ready(q->api->cluster))
        not_ready(q->req, "redis_down");
    else
        pl_http_respond(q->req, 200, "application/json", "{\"status\":\"ready\"}", 18, NULL);
    free(q);
}

static void handle_ready(pl_api_t *api, pl_http_req_t *req)
{
    if (api->draining) {
        not_ready(req, "draining");
        return;
    }
    if (api->cluster != NULL && !pl_cluster_ready(api->cluster)) {
        not_ready(req, "redis_down");
        return;
    }
    ready_t *q = pl_xcalloc(1, sizeof *q);
    q->api = api;
    q->req = req;
    pl_store_read(api->st, ready_work, ready_done, q);
}

void pl_api_set_cluster(pl_api_t *api, pl_cluster_t *cl)
{
    api->cluster = cl;
    pl_api_auth_set_cluster(api->auth, cl);
}

static void media_gc_wake(void *ud)
{
    pl_jobs_wake(ud);
}

void pl_api_set_jobs(pl_api_t *api, pl_jobs_t *jobs)
{
    api->jobs = jobs;
    /* Media GC deletes blobs through the job queue (media_gc.c). */
    if (jobs != NULL && api->media != NULL) {
        pl_jobs_register(jobs, PL_MEDIA_GC_JOB, pl_media_gc_job_run, api->media);
        pl_media_set_gc_wake(api->media, media_gc_wake, jobs);
    }
}

void pl_api_set_draining(pl_api_t *api)
{
    api->draining = true;
}

static const route_t routes[] = {
    {"GET", "/healthz", handle_health},        {"GET", "/readyz", handle_ready},
    {"POST", "/v1/register", handle_register}, {"POST", "/v1/login", handle_login},
    {"POST", "/v1/logout", handle_logout},     {"GET", "/v1/stats", handle_stats},
    {"GET", "/metrics", handle_metrics}, /* Prometheus (issue 17): api_metrics.c */
};

void pl_api_on_http(void *ud, pl_http_req_t *req)
{
    pl_api_t *api = ud;
    const char *method = pl_http_method(req), *path = pl_http_path(req);
    bool path_known = false;
    for (size_t i = 0; i < PL_ARRAY_LEN(routes); i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) == 0 ||
            (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
            routes[i].fn(api, req);
            return;
        }
    }
    if (path_known) {
        pl_api_error(req, 405, "method_not_allowed", "method not allowed for this path");
        return;
    }
    if (pl_api__account_route(api, req, method, path))
        return;
    if (pl_api__hooks_route(api, req, method, path)) /* incoming webhooks (issue 16) */
        return;
    if (!strncmp(path, "/v1/passkeys", 12) && (path[12] == '\0' || path[12] == '/')) {
        pl_api_passkey_on_http(api->passkeys, req);
        return;
    }
    if (!strncmp(path, "/v1/media", 9) && (path[9] == '\0' || path[9] == '/')) {
        if (api->media == NULL)
            pl_api_error(req, 503, "unavailable", "the media service is not available");
        else
            pl_media_on_http(api->media, req);
        return;
    }
    if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) {
        pl_api_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        pl_api_error(req, 405, "method_not_allowed", "static files are GET only");
        return;
    }
    pl_http_serve_file(req, api->cfg->web_root, path);
}

/* ---- shared with api_passkey.c (through a callback: no call cycle) ---- */

void pl_api__login_session(void *ud, pl_http_req_t *req, int64_t user_id, const char *username,
                           const char *device_name)
{
    pl_api_t *api = ud;
    acct_t *a = pl_xcalloc(1, sizeof *a);
    a->api = api;
    a->req = req;
    snprintf(a->username, sizeof a->username, "%s", username);
    a->device_name = pl_xstrdup(device_name ? device_name : "");
    pl_http_client_addr(req, &a->addr);
    pl_api__coarse_ip(&a->addr, a->ip);
    a->verified = true;
    a->user.id = a->user_id = user_id;
    pl_auth_token_new(a->token);
    pl_auth_token_hash(a->token, strlen(a->token), a->token_hash);
    a->status = 200;
    pl_store_write(api->st, login_work, acct_finish, a);
}

pl_api_passkey_t *pl_api__passkeys(pl_api_t *api)
{
    return api->passkeys;
}
