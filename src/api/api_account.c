/* SPDX-License-Identifier: MIT */
/* api_account.c -- account security over HTTP: the second login step
 * (/v1/login/mfa), TOTP enrolment, recovery codes, the devices list,
 * password change and operator-issued resets and invite codes. Every
 * database access is a store job and every password check an Argon2id job
 * on the pool, as in api.c. */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "api/api_internal.h"
#include "auth/auth.h"
#include "auth/totp.h"
#include "core/err.h"
#include "core/util.h"
#include "jobs/jobs_mail.h"

#define SETUP_TTL_NS (600ull * 1000000000ull) /* a totp/setup secret waits this long */
#define SETUP_MAX 10000                       /* pending setups kept (oldest dropped) */

/* ---- pending TOTP setups: user id -> secret, until enable or 10 minutes ---- */

typedef struct {
    int64_t user_id;
    uint8_t secret[PL_TOTP_SECRET_BYTES];
    uint64_t expires_ns;
    UT_hash_handle hh;
} setup_t;

struct pl_totp_pending {
    setup_t *table; /* insertion order = expiry order */
};

static void setup_drop(pl_totp_pending_t *p, setup_t *e)
{
    HASH_DEL(p->table, e);
    sodium_memzero(e, sizeof *e);
    free(e);
}

static void setup_prune(pl_totp_pending_t *p, uint64_t now_ns)
{
    while (p->table && (p->table->expires_ns <= now_ns || HASH_COUNT(p->table) > SETUP_MAX))
        setup_drop(p, p->table);
}

static void setup_put(pl_totp_pending_t *p, int64_t user_id, const uint8_t *secret, uint64_t now_ns)
{
    setup_t *e = NULL;
    HASH_FIND(hh, p->table, &user_id, sizeof user_id, e);
    if (e)
        setup_drop(p, e);
    e = pl_xcalloc(1, sizeof *e);
    e->user_id = user_id;
    memcpy(e->secret, secret, sizeof e->secret);
    e->expires_ns = now_ns + SETUP_TTL_NS;
    HASH_ADD(hh, p->table, user_id, sizeof e->user_id, e);
    setup_prune(p, now_ns);
}

static setup_t *setup_get(pl_totp_pending_t *p, int64_t user_id, uint64_t now_ns)
{
    setup_prune(p, now_ns);
    setup_t *e = NULL;
    HASH_FIND(hh, p->table, &user_id, sizeof user_id, e);
    return e;
}

/* ---- lifecycle ---- */

static pl_pwlist_t *load_pwlist(const char *path)
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

void pl_api__account_init(pl_api_t *api)
{
    if (pl_totp_global_init() < 0)
        pl_log(PL_LOG_ERROR, "auth", "liboath failed to initialise: TOTP codes will not verify");
    api->mfa_tickets = pl_mfa_tickets_new((size_t)api->cfg->mfa_ticket_max);
    api->totp_setups = pl_xcalloc(1, sizeof *api->totp_setups);
    api->pwlist = load_pwlist(api->cfg->password_blocklist);
    const char *k = api->cfg->totp_secret_key;
    api->has_totp_key = k[0] != '\0' && sodium_hex2bin(api->totp_key, sizeof api->totp_key, k,
                                                       strlen(k), NULL, NULL, NULL) == 0;
}

void pl_api__account_dispose(pl_api_t *api)
{
    pl_mfa_tickets_free(api->mfa_tickets);
    if (api->totp_setups) {
        setup_t *e, *tmp;
        HASH_ITER(hh, api->totp_setups->table, e, tmp)
        {
            setup_drop(api->totp_setups, e);
        }
        free(api->totp_setups);
    }
    pl_pwlist_free(api->pwlist);
}

void pl_api__coarse_ip(const pl_addr_t *a, char out[64])
{
    if (pl_addr_unknown(a)) {
        out[0] = '\0';
        return;
    }
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a->b, v4mapped, 12) == 0) {
        snprintf(out, 64, "%u.%u.%u.0/24", a->b[12], a->b[13], a->b[14]);
        return;
    }
    pl_addr_t c = {0};
    memcpy(c.b, a->b, 6);
    char t[PL_ADDR_TEXT];
    snprintf(out, 64, "%s/48", pl_addr_format(&c, t));
}

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

void pl_api__respond_mfa_required(pl_api_t *api, pl_http_req_t *req,
                                  const pl_mfa_ticket_info_t *info, const pl_mfa_state_t *mfa)
{
    char ticket[PL_TOKEN_LEN + 1];
    pl_mfa_ticket_issue(api->mfa_tickets, info, uv_hrtime(), ticket);
    pl_log(PL_LOG_INFO, "auth", "login needs a second factor user=u%" PRId64, info->user_id);
    pl_api__respond_json(req, 401,
                         json_pack("{s:{s:s,s:s,s:o,s:s}}", "error", "code", "mfa_required",
                                   "message", "this account needs a second factor", "methods",
                                   methods_json(mfa), "mfa_ticket", ticket));
    sodium_memzero(ticket, sizeof ticket);
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

/* ---- one account request: optional auth, store jobs, password checks ---- */

typedef struct areq areq_t;
typedef void (*areq_work_fn)(pl_db_t *db, areq_t *r);
typedef void (*areq_next_fn)(areq_t *r);

struct areq {
    pl_api_t *api;
    pl_http_req_t *req;
    bool need_auth;
    uint8_t tok[32];
    int64_t user_id, device_id; /* the caller (need_auth) or the account concerned */
    pl_user_t user;
    pl_mfa_state_t mfa;
    json_t *result; /* owned: the 200 body */
    int status;
    const char *code, *msg;
    areq_work_fn work;
    areq_next_fn next;
    /* request fields (owned, zeroed on free) */
    char *password, *new_password, *totp, *recovery, *reset_token;
    bool revoke_others;
    int64_t target; /* DELETE /v1/sessions/{id} */
    /* results */
    int64_t *closed; /* device ids whose sockets close at the end (malloc'd) */
    size_t nclosed;
    char *pwhash;
    uint8_t salt[PL_RECOVERY_SALT_BYTES], secret[PL_TOTP_SECRET_BYTES];
    char codes[PL_RECOVERY_CODES][PL_RECOVERY_CODE_TEXT];
    uint8_t hashes[PL_RECOVERY_CODES][32];
    int64_t step;
    /* the second login step */
    char ticket[300];
    pl_mfa_ticket_info_t info;
    pl_login_ticket_t lticket;
    pl_addr_t addr;
    char ip[64], token[PL_TOKEN_LEN + 1];
    uint8_t token_hash[32];
    bool ok;
    bool passkey_ok; /* /v1/login/mfa: a passkey assertion verified (api_passkey.c) */
};

static void zfree(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

static void areq_free(areq_t *r)
{
    zfree(r->password);
    zfree(r->new_password);
    zfree(r->totp);
    zfree(r->recovery);
    zfree(r->reset_token);
    free(r->pwhash);
    free(r->closed);
    json_decref(r->result);
    pl_user_dispose(&r->user);
    sodium_memzero(r, sizeof *r);
    free(r);
}

static void fail(areq_t *r, int status, const char *code, const char *msg)
{
    r->status = status, r->code = code, r->msg = msg;
}

/* Answers and frees r; closes the sockets of the devices in r->closed. */
static void areq_finish(areq_t *r)
{
    if (r->lticket.active)
        pl_auth_limits_login_end(r->api->limits, r->user.username ? r->user.username : "", &r->addr,
                                 &r->lticket,
                                 r->ok ? PL_LOGIN_OK
                                 : r->code && (!strcmp(r->code, "wrong_password") ||
                                               !strcmp(r->code, "bad_second_factor"))
                                     ? PL_LOGIN_FAILED
                                     : PL_LOGIN_ABORTED,
                                 uv_hrtime());
    if (r->code != NULL) {
        pl_api_error(r->req, r->status, r->code, r->msg);
    } else {
        for (size_t i = 0; i < r->nclosed; i++)
            pl_chat_close_device(r->api->chat, r->user_id, r->closed[i], 1008, "session revoked");
        json_t *res = r->result ? r->result : json_object();
        r->result = NULL;
        pl_api__respond_json(r->req, 200, res);
    }
    areq_free(r);
}

static void areq_work(pl_db_t *db, void *arg)
{
    areq_t *r = arg;
    if (r->need_auth && r->user.username == NULL) {
        int rc = pl_db_session_lookup(db, r->tok, pl_now_ms(), &r->user_id, &r->device_id);
        if (rc == 0)
            rc = pl_db_user_by_id(db, r->user_id, &r->user);
        if (rc == PL_ENOTFOUND) {
            fail(r, 401, "unauthenticated", "invalid or revoked token");
            return;
        }
        if (rc == 0)
            rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
        if (rc < 0) {
            fail(r, 500, "internal", "storage error; try again");
            return;
        }
    }
    if (r->work)
        r->work(db, r);
}

static void areq_done(int status, void *arg)
{
    areq_t *r = arg;
    if (status < 0 && r->code == NULL)
        fail(r, status == PL_ECLOSED ? 503 : 500, status == PL_ECLOSED ? "unavailable" : "internal",
             status == PL_ECLOSED ? "the server is shutting down" : "storage error; try again");
    areq_next_fn next = r->next;
    r->next = NULL;
    if (r->code == NULL && next != NULL)
        next(r);
    else
        areq_finish(r);
}

/* Runs work in a store job (write or read), then next (NULL: answer). */
static void areq_job(areq_t *r, bool write, areq_work_fn work, areq_next_fn next)
{
    r->work = work;
    r->next = next;
    if (write)
        pl_store_write(r->api->st, areq_work, areq_done, r);
    else
        pl_store_read(r->api->st, areq_work, areq_done, r);
}

/* A new account request: JSON body parsed (NULL for none), bearer token
 * hashed when need_auth. Answers and returns NULL on a bad request. */
static areq_t *areq_new(pl_api_t *api, pl_http_req_t *req, bool need_auth, bool has_body,
                        json_t **body)
{
    uint8_t tok[32];
    if (need_auth && !pl_auth_bearer_hash(pl_http_header(req, "authorization"), tok)) {
        pl_api_error(req, 401, "unauthenticated", "missing Authorization: Bearer <token>");
        return NULL;
    }
    if (has_body) {
        if (!pl_api__require_json(req) || (*body = pl_api__body_object(req)) == NULL)
            return NULL;
    }
    areq_t *r = pl_xcalloc(1, sizeof *r);
    r->api = api;
    r->req = req;
    r->need_auth = need_auth;
    memcpy(r->tok, tok, sizeof tok);
    pl_http_client_addr(req, &r->addr);
    pl_api__coarse_ip(&r->addr, r->ip);
    return r;
}

/* Copies body[key] when it is a string of 1..max bytes without NUL; a
 * missing key leaves *out NULL. Returns false for any other value. */
static bool opt_str(json_t *body, const char *key, size_t max, char **out)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    if (json_string_length(v) > 0)
        *out = pl_xstrdup(json_string_value(v));
    return true;
}

/* ---- re-entering the password (under the login limits) ---- */

static void password_checked(void *arg, bool ok)
{
    areq_t *r = arg;
    if (!ok) {
        fail(r, 403, "wrong_password", "the password is wrong");
        pl_log(PL_LOG_INFO, "auth", "password check failed user=u%" PRId64 " peer=%s", r->user_id,
               pl_http_peer(r->req));
        areq_finish(r);
        return;
    }
    pl_auth_limits_login_end(r->api->limits, r->user.username, &r->addr, &r->lticket, PL_LOGIN_OK,
                             uv_hrtime());
    areq_next_fn next = r->next;
    r->next = NULL;
    next(r);
}

/* Verifies r->password against the user's hash, counted like a login
 * attempt (a stolen session must not become a password oracle), then runs
 * next; a wrong one answers 403 wrong_password. */
static void check_password(areq_t *r, areq_next_fn next)
{
    const char *why = "";
    uint64_t wait = pl_auth_limits_login_begin(r->api->limits, r->user.username, &r->addr,
                                               uv_hrtime(), &r->lticket, &why);
    if (wait > 0) {
        r->api->logins_limited++;
        pl_api__respond_limited(r->req, wait, "too many password attempts");
        areq_free(r);
        return;
    }
    r->next = next;
    pl_auth_verify_password(r->api->loop, r->password, r->user.pwhash,
                            (uint64_t)r->api->cfg->argon2_opslimit,
                            (size_t)r->api->cfg->argon2_memlimit, password_checked, r);
}

/* ---- POST /v1/login/mfa {mfa_ticket, totp | recovery_code, device_name?} ---- */

static void mfa_login_work(pl_db_t *db, areq_t *r)
{
    int64_t now = pl_now_ms(), count = 0;
    int rc = pl_db_mfa_get(db, r->info.user_id, &r->mfa);
    if (rc == 0 && !r->passkey_ok)
        rc =
            pl_api__second_factor_check(r->api, db, r->info.user_id, &r->mfa, r->totp, r->recovery);
    if (rc == PL_EFORBIDDEN) {
        fail(r, 401, "bad_second_factor", "wrong, expired or already used code");
        return;
    }
    if (rc == 0)
        rc = pl_db_session_count(db, r->info.user_id, &count);
    if (rc == 0 && count >= r->api->cfg->max_sessions_per_user) {
        fail(r, 429, "too_many_sessions", "too many devices are logged in; log one out first");
        return;
    }
    if (rc == 0)
        rc = pl_db_session_create(db, r->info.user_id, r->token_hash, r->info.device_name, now,
                                  &r->device_id);
    if (rc == 0)
        rc = pl_db_session_set_ip(db, r->device_id, r->ip);
    if (rc < 0) {
        fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    r->ok = true;
}

static void mfa_login_done(int status, void *arg)
{
    areq_t *r = arg;
    if (status < 0 && r->code == NULL)
        fail(r, 500, "internal", "storage error; try again");
    pl_mfa_ticket_finish(r->api->mfa_tickets, r->ticket, r->ok && r->code == NULL, uv_hrtime());
    pl_auth_limits_login_end(r->api->limits, r->info.username, &r->addr, &r->lticket,
                             r->ok && r->code == NULL                           ? PL_LOGIN_OK
                             : r->code && !strcmp(r->code, "bad_second_factor") ? PL_LOGIN_FAILED
                                                                                : PL_LOGIN_ABORTED,
                             uv_hrtime());
    if (r->code == NULL) {
        char uid[24], did[24];
        pl_log(PL_LOG_INFO, "auth", "login with second factor user=u%" PRId64, r->info.user_id);
        r->result = json_pack("{s:s,s:s,s:s,s:s}", "user_id", pl_id_fmt(uid, 'u', r->info.user_id),
                              "token", r->token, "device_id", pl_id_fmt(did, 'd', r->device_id),
                              "username", r->info.username);
    }
    areq_finish(r);
}

/* The passkey answer of a second login step (pl_api_passkey_verify, which
 * counted the attempt against the login limits itself). */
static void mfa_passkey_verified(void *arg, int status, int64_t user_id, const char *code,
                                 uint64_t retry_ms)
{
    areq_t *r = arg;
    if (status == 0 && user_id == r->info.user_id) {
        r->passkey_ok = true;
        r->work = mfa_login_work;
        pl_store_write(r->api->st, areq_work, mfa_login_done, r);
        return;
    }
    pl_mfa_ticket_finish(r->api->mfa_tickets, r->ticket, false, uv_hrtime());
    if (status == PL_EAGAIN) {
        r->api->logins_limited++;
        pl_api__respond_limited(r->req, retry_ms, "too many login attempts");
        areq_free(r);
        return;
    }
    if (status == PL_EINVAL)
        fail(r, 400, code && !strcmp(code, "too_large") ? "too_large" : "bad_request",
             "the passkey credential is malformed");
    else if (status == PL_EIO || status == PL_ECLOSED)
        fail(r, 500, "internal", "storage error; try again");
    else
        fail(r, 401, "bad_second_factor",
             code && !strcmp(code, "bad_challenge")
                 ? "the passkey answered no outstanding challenge: ask for new options"
                 : "that passkey is not valid for this account");
    areq_finish(r);
}

/* POST /v1/login/mfa with a passkey: the limits are applied by the passkey
 * check; the ticket is claimed first so two requests cannot race on it. */
static void login_mfa_passkey(pl_api_t *api, areq_t *r, json_t *passkey, const char *dev)
{
    if (!pl_mfa_ticket_peek(api->mfa_tickets, r->ticket, uv_hrtime(), &r->info) ||
        !pl_mfa_ticket_claim(api->mfa_tickets, r->ticket, uv_hrtime(), &r->info)) {
        pl_api_error(r->req, 401, "invalid_mfa_ticket",
                     "the login ticket is unknown, expired or spent: sign in again");
        areq_free(r);
        return;
    }
    if (dev != NULL)
        snprintf(r->info.device_name, sizeof r->info.device_name, "%s", dev);
    pl_auth_token_new(r->token);
    pl_auth_token_hash(r->token, strlen(r->token), r->token_hash);
    pl_api_passkey_verify(api->passkeys, &r->addr, passkey, r->info.user_id, mfa_passkey_verified,
                          r);
}

static void handle_login_mfa(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, false, true, &body);
    if (r == NULL)
        return;
    char *ticket = NULL, *dev = NULL;
    json_t *passkey = json_object_get(body, "passkey");
    bool ok = opt_str(body, "mfa_ticket", 256, &ticket) && opt_str(body, "totp", 64, &r->totp) &&
              opt_str(body, "recovery_code", 64, &r->recovery) &&
              opt_str(body, "device_name", 64, &dev) &&
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
        areq_free(r);
        return;
    }
    snprintf(r->ticket, sizeof r->ticket, "%s", ticket);
    zfree(ticket);
    if (passkey != NULL) {
        login_mfa_passkey(api, r, passkey, dev);
        free(dev);
        json_decref(passkey);
        return;
    }
    /* The limits first (a refused attempt costs the ticket nothing), then
     * the claim, so two requests cannot check factors on one ticket. */
    const char *why = "";
    uint64_t wait = 0;
    bool live = pl_mfa_ticket_peek(api->mfa_tickets, r->ticket, uv_hrtime(), &r->info);
    if (live)
        wait = pl_auth_limits_login_begin(api->limits, r->info.username, &r->addr, uv_hrtime(),
                                          &r->lticket, &why);
    if (live && wait > 0) {
        free(dev);
        api->logins_limited++;
        pl_api__respond_limited(req, wait, "too many login attempts");
        areq_free(r);
        return;
    }
    if (!live || !pl_mfa_ticket_claim(api->mfa_tickets, r->ticket, uv_hrtime(), &r->info)) {
        if (live)
            pl_auth_limits_login_end(api->limits, r->info.username, &r->addr, &r->lticket,
                                     PL_LOGIN_ABORTED, uv_hrtime());
        free(dev);
        pl_api_error(req, 401, "invalid_mfa_ticket",
                     "the login ticket is unknown, expired or spent: sign in again");
        areq_free(r);
        return;
    }
    if (dev != NULL)
        snprintf(r->info.device_name, sizeof r->info.device_name, "%s", dev);
    free(dev);
    pl_auth_token_new(r->token);
    pl_auth_token_hash(r->token, strlen(r->token), r->token_hash);
    r->work = mfa_login_work;
    pl_store_write(api->st, areq_work, mfa_login_done, r);
}

/* ---- TOTP enrolment ---- */

static void totp_setup_next(areq_t *r)
{
    if (r->mfa.totp) {
        fail(r, 409, "mfa_already_enabled", "TOTP is already on: disable it first");
        areq_finish(r);
        return;
    }
    pl_totp_secret_new(r->secret);
    setup_put(r->api->totp_setups, r->user_id, r->secret, uv_hrtime());
    char b32[PL_TOTP_B32_MAX + 1];
    pl_totp_base32(r->secret, sizeof r->secret, b32);
    char *uri = pl_totp_uri(r->api->cfg->totp_issuer, r->user.username, b32);
    char *svg = pl_qr_svg(uri);
    r->result = json_pack("{s:s,s:s,s:s?,s:i,s:i,s:s}", "secret", b32, "uri", uri, "qr_svg", svg,
                          "digits", PL_TOTP_DIGITS, "period", PL_TOTP_STEP_S, "algorithm", "SHA1");
    sodium_memzero(b32, sizeof b32);
    zfree(uri);
    free(svg);
    areq_finish(r);
}

static void handle_totp_setup(pl_api_t *api, pl_http_req_t *req)
{
    areq_t *r = areq_new(api, req, true, false, NULL);
    if (r)
        areq_job(r, false, NULL, totp_setup_next);
}

static void totp_enable_work(pl_db_t *db, areq_t *r)
{
    if (r->mfa.totp) {
        fail(r, 409, "mfa_already_enabled", "TOTP is already on: disable it first");
        return;
    }
    uint8_t stored[PL_TOTP_STORED_MAX];
    size_t n = pl_totp_seal(r->api->has_totp_key ? r->api->totp_key : NULL, r->secret,
                            sizeof r->secret, stored);
    int rc = pl_db_totp_enable(db, r->user_id, stored, n, r->salt, r->step,
                               (const uint8_t(*)[32])r->hashes, PL_RECOVERY_CODES, pl_now_ms());
    sodium_memzero(stored, sizeof stored);
    if (rc < 0)
        fail(r, 500, "internal", "storage error; try again");
}

static json_t *codes_json(areq_t *r)
{
    json_t *a = json_array();
    for (int i = 0; i < PL_RECOVERY_CODES; i++)
        json_array_append_new(a, json_string(r->codes[i]));
    return a;
}

static void new_recovery_codes(areq_t *r)
{
    randombytes_buf(r->salt, sizeof r->salt);
    for (int i = 0; i < PL_RECOVERY_CODES; i++) {
        pl_recovery_code_new(r->codes[i]);
        pl_recovery_code_hash(r->codes[i], r->salt, r->hashes[i]);
    }
}

static void totp_enable_next(areq_t *r)
{
    setup_t *s = setup_get(r->api->totp_setups, r->user_id, uv_hrtime());
    if (s == NULL) {
        fail(r, 409, "no_pending_setup", "call /v1/account/totp/setup first (it lasts 10 minutes)");
        areq_finish(r);
        return;
    }
    memcpy(r->secret, s->secret, sizeof r->secret);
    if (!pl_totp_verify(r->secret, sizeof r->secret, r->totp, pl_now_ms() / 1000, 0, &r->step)) {
        fail(r, 400, "bad_second_factor", "that code does not match: check the clock and retry");
        areq_finish(r);
        return;
    }
    setup_drop(r->api->totp_setups, s);
    new_recovery_codes(r);
    r->result = json_pack("{s:o}", "recovery_codes", codes_json(r));
    pl_log(PL_LOG_INFO, "auth", "totp enabled user=u%" PRId64, r->user_id);
    areq_job(r, true, totp_enable_work, NULL);
}

static void handle_totp_enable(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = opt_str(body, "code", 64, &r->totp);
    json_decref(body);
    if (!ok || r->totp == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"code\", the 6 digits the app shows");
        areq_free(r);
        return;
    }
    areq_job(r, false, NULL, totp_enable_next);
}

static void totp_disable_work(pl_db_t *db, areq_t *r)
{
    int rc = 0;
    if (r->totp != NULL || r->recovery != NULL) {
        /* The state is read again on the writer: check and spend at once. */
        rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
        if (rc == 0)
            rc = pl_api__second_factor_check(r->api, db, r->user_id, &r->mfa, r->totp, r->recovery);
        if (rc == PL_EFORBIDDEN) {
            fail(r, 403, "bad_second_factor", "wrong, expired or already used code");
            return;
        }
    }
    if (rc == 0)
        rc = pl_db_totp_disable(db, r->user_id);
    if (rc == PL_ENOTFOUND)
        fail(r, 409, "mfa_not_enabled", "TOTP is not on");
    else if (rc < 0)
        fail(r, 500, "internal", "storage error; try again");
    else
        pl_log(PL_LOG_INFO, "auth", "totp disabled user=u%" PRId64, r->user_id);
}

static void totp_disable_verified(areq_t *r)
{
    areq_job(r, true, totp_disable_work, NULL);
}

static void totp_disable_next(areq_t *r)
{
    if (!r->mfa.totp) {
        fail(r, 409, "mfa_not_enabled", "TOTP is not on");
        areq_finish(r);
    } else if (r->password != NULL) {
        check_password(r, totp_disable_verified);
    } else {
        totp_disable_verified(r);
    }
}

static void handle_totp_disable(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = opt_str(body, "password", PL_PASSWORD_MAX, &r->password) &&
              opt_str(body, "code", 64, &r->totp) &&
              opt_str(body, "recovery_code", 64, &r->recovery);
    json_decref(body);
    if (!ok || (r->password == NULL && r->totp == NULL && r->recovery == NULL)) {
        pl_api_error(req, 400, "bad_request",
                     "give \"password\", \"code\" (TOTP) or \"recovery_code\" to confirm");
        areq_free(r);
        return;
    }
    areq_job(r, false, NULL, totp_disable_next);
}

/* ---- POST /v1/account/recovery_codes {password} ---- */

static void recovery_work(pl_db_t *db, areq_t *r)
{
    int rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
    if (rc == 0 && !r->mfa.totp) {
        fail(r, 409, "mfa_not_enabled", "recovery codes come with TOTP: enable it first");
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
        fail(r, 500, "internal", "storage error; try again");
    else
        r->result = json_pack("{s:o}", "recovery_codes", codes_json(r));
}

static void recovery_verified(areq_t *r)
{
    areq_job(r, true, recovery_work, NULL);
}

static void recovery_next(areq_t *r)
{
    if (!r->mfa.totp) {
        fail(r, 409, "mfa_not_enabled", "recovery codes come with TOTP: enable it first");
        areq_finish(r);
        return;
    }
    check_password(r, recovery_verified);
}

static void handle_recovery_codes(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    bool ok = opt_str(body, "password", PL_PASSWORD_MAX, &r->password);
    json_decref(body);
    if (!ok || r->password == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"password\"");
        areq_free(r);
        return;
    }
    areq_job(r, false, NULL, recovery_next);
}

/* ---- devices ---- */

static void sessions_list_work(pl_db_t *db, areq_t *r)
{
    pl_session_info_t *v = NULL;
    size_t n = 0;
    if (pl_db_sessions_list(db, r->user_id, &v, &n) < 0) {
        fail(r, 500, "internal", "storage error; try again");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char did[24];
        json_t *o =
            json_pack("{s:s,s:s,s:I,s:I,s:b}", "device_id", pl_id_fmt(did, 'd', v[i].device_id),
                      "name", v[i].name, "created", (json_int_t)v[i].created_ms, "last_seen",
                      (json_int_t)v[i].last_seen_ms, "current", v[i].device_id == r->device_id);
        if (v[i].ip[0])
            json_object_set_new(o, "ip", json_string(v[i].ip));
        json_array_append_new(a, o);
        pl_session_info_dispose(&v[i]);
    }
    free(v);
    r->result = json_pack("{s:o}", "sessions", a);
}

static void handle_sessions_list(pl_api_t *api, pl_http_req_t *req)
{
    areq_t *r = areq_new(api, req, true, false, NULL);
    if (r)
        areq_job(r, false, sessions_list_work, NULL);
}

static void session_delete_work(pl_db_t *db, areq_t *r)
{
    int rc = pl_db_session_delete_id(db, r->user_id, r->target);
    if (rc == PL_ENOTFOUND) {
        fail(r, 404, "not_found", "no such device among yours");
    } else if (rc < 0) {
        fail(r, 500, "internal", "storage error; try again");
    } else {
        r->closed = pl_xmalloc(sizeof *r->closed);
        r->closed[0] = r->target;
        r->nclosed = 1;
        pl_log(PL_LOG_INFO, "auth", "session revoked user=u%" PRId64 " device=d%" PRId64,
               r->user_id, r->target);
    }
}

static void handle_session_delete(pl_api_t *api, pl_http_req_t *req, const char *id)
{
    int64_t target;
    if (!pl_id_parse(id, 'd', &target)) {
        pl_api_error(req, 404, "not_found", "no such device");
        return;
    }
    areq_t *r = areq_new(api, req, true, false, NULL);
    if (r == NULL)
        return;
    r->target = target;
    areq_job(r, true, session_delete_work, NULL);
}

/* Deletes the user's other sessions (all when keep is 0) into r->closed. */
static int revoke_sessions(pl_db_t *db, areq_t *r, int64_t keep)
{
    return pl_db_sessions_delete_others(db, r->user_id, keep, &r->closed, &r->nclosed);
}

static void revoke_others_work(pl_db_t *db, areq_t *r)
{
    if (revoke_sessions(db, r, r->device_id) < 0) {
        fail(r, 500, "internal", "storage error; try again");
        return;
    }
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
}

static void handle_revoke_others(pl_api_t *api, pl_http_req_t *req)
{
    areq_t *r = areq_new(api, req, true, false, NULL);
    if (r)
        areq_job(r, true, revoke_others_work, NULL);
}

/* ---- POST /v1/account/password {old_password, new_password, revoke_others?} ---- */

static void password_set_work(pl_db_t *db, areq_t *r)
{
    int rc = pl_db_user_set_pwhash(db, r->user_id, r->pwhash);
    if (rc == 0 && r->revoke_others)
        rc = revoke_sessions(db, r, r->device_id);
    if (rc < 0) {
        fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
    pl_log(PL_LOG_INFO, "auth", "password changed user=u%" PRId64, r->user_id);
}

static void password_hashed(void *arg, int status, const char *hash)
{
    areq_t *r = arg;
    if (status < 0) {
        fail(r, 500, "internal", "cannot hash the password");
        areq_finish(r);
        return;
    }
    r->pwhash = pl_xstrdup(hash);
    areq_job(r, true, password_set_work, NULL);
}

static void hash_new_password(areq_t *r)
{
    pl_auth_hash_password(r->api->loop, r->new_password, (uint64_t)r->api->cfg->argon2_opslimit,
                          (size_t)r->api->cfg->argon2_memlimit, password_hashed, r);
}

static void password_next(areq_t *r)
{
    const char *weak = pl_password_check(r->api->pwlist, r->user.username, r->new_password);
    if (weak != NULL) {
        fail(r, 400, "weak_password", weak);
        areq_finish(r);
        return;
    }
    check_password(r, hash_new_password);
}

static void handle_password(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, true, true, &body);
    if (r == NULL)
        return;
    json_t *ro = json_object_get(body, "revoke_others");
    bool ok = opt_str(body, "old_password", PL_PASSWORD_MAX, &r->password) &&
              opt_str(body, "new_password", PL_PASSWORD_MAX + 1, &r->new_password) &&
              (ro == NULL || json_is_boolean(ro));
    r->revoke_others = json_is_true(ro);
    json_decref(body);
    if (!ok || r->password == NULL || r->new_password == NULL) {
        pl_api_error(req, 400, "bad_request",
                     "give \"old_password\" and \"new_password\" (strings), \"revoke_others\"? "
                     "(boolean)");
        areq_free(r);
        return;
    }
    areq_job(r, false, NULL, password_next);
}

/* ---- POST /v1/account/reset {token, new_password} ---- */

static void reset_lookup_work(pl_db_t *db, areq_t *r)
{
    uint8_t h[32];
    pl_auth_token_hash(r->reset_token, strlen(r->reset_token), h);
    int rc = pl_db_reset_token_user(db, h, pl_now_ms(), &r->user_id);
    if (rc == 0)
        rc = pl_db_user_by_id(db, r->user_id, &r->user);
    if (rc == PL_ENOTFOUND)
        fail(r, 400, "invalid_reset_token", "that reset link is unknown, used or expired");
    else if (rc < 0)
        fail(r, 500, "internal", "storage error; try again");
}

static void reset_set_work(pl_db_t *db, areq_t *r)
{
    uint8_t h[32];
    int64_t uid = 0;
    pl_auth_token_hash(r->reset_token, strlen(r->reset_token), h);
    int rc = pl_db_reset_token_take(db, h, pl_now_ms(), &uid);
    if (rc == PL_ENOTFOUND || (rc == 0 && uid != r->user_id)) {
        fail(r, 400, "invalid_reset_token", "that reset link is unknown, used or expired");
        return;
    }
    if (rc == 0)
        rc = pl_db_user_set_pwhash(db, r->user_id, r->pwhash);
    if (rc == 0)
        rc = revoke_sessions(db, r, 0);
    if (rc < 0) {
        fail(r, 500, "internal", "storage error; try again");
        pl_db_rollback_job(db);
        return;
    }
    pl_log(PL_LOG_INFO, "auth", "password reset user=u%" PRId64 " sessions_revoked=%zu", r->user_id,
           r->nclosed);
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
}

static void reset_hashed(void *arg, int status, const char *hash)
{
    areq_t *r = arg;
    if (status < 0) {
        fail(r, 500, "internal", "cannot hash the password");
        areq_finish(r);
        return;
    }
    r->pwhash = pl_xstrdup(hash);
    areq_job(r, true, reset_set_work, NULL);
}

static void reset_next(areq_t *r)
{
    const char *weak = pl_password_check(r->api->pwlist, r->user.username, r->new_password);
    if (weak != NULL) {
        fail(r, 400, "weak_password", weak);
        areq_finish(r);
        return;
    }
    pl_auth_hash_password(r->api->loop, r->new_password, (uint64_t)r->api->cfg->argon2_opslimit,
                          (size_t)r->api->cfg->argon2_memlimit, reset_hashed, r);
}

static void handle_reset(pl_api_t *api, pl_http_req_t *req)
{
    json_t *body = NULL;
    areq_t *r = areq_new(api, req, false, true, &body);
    if (r == NULL)
        return;
    bool ok = opt_str(body, "token", 256, &r->reset_token) &&
              opt_str(body, "new_password", PL_PASSWORD_MAX + 1, &r->new_password);
    json_decref(body);
    if (!ok || r->reset_token == NULL || r->new_password == NULL) {
        pl_api_error(req, 400, "bad_request", "give \"token\" and \"new_password\" (strings)");
        areq_free(r);
        return;
    }
    areq_job(r, false, reset_lookup_work, reset_next);
}

/* ---- GET /v1/account/security: which second factors are on ---- */

static void security_next(areq_t *r)
{
    r->result = json_pack("{s:b,s:I,s:I,s:o}", "totp", r->mfa.totp, "recovery_codes_left",
                          (json_int_t)r->mfa.recovery_left, "passkeys", (json_int_t)r->mfa.passkeys,
                          "methods", methods_json(&r->mfa));
    areq_finish(r);
}

static void handle_security(pl_api_t *api, pl_http_req_t *req)
{
    areq_t *r = areq_new(api, req, true, false, NULL);
    if (r)
        areq_job(r, false, NULL, security_next);
}

/* ---- router ---- */

typedef struct {
    const char *method, *path;
    void (*fn)(pl_api_t *api, pl_http_req_t *req);
} aroute_t;

static const aroute_t aroutes[] = {
    {"POST", "/v1/login/mfa", handle_login_mfa},
    {"POST", "/v1/account/totp/setup", handle_totp_setup},
    {"POST", "/v1/account/totp/enable", handle_totp_enable},
    {"POST", "/v1/account/totp/disable", handle_totp_disable},
    {"POST", "/v1/account/recovery_codes", handle_recovery_codes},
    {"POST", "/v1/account/password", handle_password},
    {"POST", "/v1/account/reset", handle_reset},
    {"GET", "/v1/account/security", handle_security},
    {"GET", "/v1/sessions", handle_sessions_list},
    {"POST", "/v1/sessions/revoke_others", handle_revoke_others},
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
            handle_session_delete(api, req, path + sizeof dev - 1);
        else
            pl_api_error(req, 405, "method_not_allowed", "devices are revoked with DELETE");
        return true;
    }
    if (known)
        pl_api_error(req, 405, "method_not_allowed", "method not allowed for this path");
    return known;
}

/* ---- operator commands: parleyd --data DIR --reset-link USER / --invite-code ---- */

int pl_api_operator_command(pl_store_t *st, const pl_config_t *cfg, const char *cmd,
                            const char *arg, char *out, size_t cap)
{
    pl_db_t *db = pl_store_direct(st);
    char token[PL_TOKEN_LEN + 1];
    uint8_t h[32];
    int64_t now = pl_now_ms();
    pl_auth_token_new(token);
    pl_auth_token_hash(token, strlen(token), h);
    int rc;
    if (!strcmp(cmd, "reset-link")) {
        char norm[PL_USERNAME_MAX + 1];
        pl_user_t u = {0};
        if (!pl_auth_username_normalize(arg, norm) || pl_db_user_by_name(db, norm, &u) < 0) {
            snprintf(out, cap, "no user named '%s'", arg);
            return PL_ENOTFOUND;
        }
        rc = pl_db_reset_token_create(db, u.id, h, now, now + cfg->reset_link_ttl_ms);
        pl_user_dispose(&u);
        const char *base = cfg->public_url;
        size_t bl = strlen(base);
        if (rc == 0)
            snprintf(out, cap, "%.*s/#reset=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
                     base, token);
    } else if (!strcmp(cmd, "invite-code")) {
        rc = pl_db_invite_code_create(db, h, now, now + cfg->invite_code_ttl_ms);
        if (rc == 0)
            snprintf(out, cap, "%s", token);
    } else {
        rc = PL_EINVAL;
    }
    if (rc < 0 && rc != PL_EINVAL)
        snprintf(out, cap, "storage error: %s", pl_strerror(rc));
    sodium_memzero(token, sizeof token);
    return rc;
}

/* ---- parleyd --reset-link USER --mail-to ADDR (issue 13: the email job) ---- */

typedef struct {
    const pl_config_t *cfg;
    int64_t user_id;
    uint8_t hash[32];
    int64_t now;
    char *payload; /* the email job (holds the link) */
    int rc;
    int status;
    bool done;
} reset_mail_t;

static void reset_mail_work(pl_db_t *db, void *arg)
{
    reset_mail_t *m = arg;
    /* One transaction: never a link without its mail, nor a mail whose link
     * was not stored. */
    m->rc = pl_db_reset_token_create(db, m->user_id, m->hash, m->now,
                                     m->now + m->cfg->reset_link_ttl_ms);
    if (m->rc == 0)
        m->rc = pl_db_job_enqueue(db, "email", NULL, m->payload, m->now, m->now, NULL);
    if (m->rc != 0)
        pl_db_rollback_job(db);
}

static void reset_mail_done(int status, void *arg)
{
    reset_mail_t *m = arg;
    m->status = status;
    m->done = true;
}

int pl_api_operator_reset_mail(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg,
                               const char *user, const char *to, char *out, size_t cap)
{
    if (cfg->smtp_url[0] == '\0') {
        snprintf(out, cap, "--mail-to needs smtp_url (see docs/operations.md, Email)");
        return PL_EINVAL;
    }
    if (pl_mail_addr_ok(to) != 0) {
        snprintf(out, cap, "'%s' is not a plain email address", to);
        return PL_EINVAL;
    }
    char norm[PL_USERNAME_MAX + 1];
    pl_user_t u = {0};
    if (!pl_auth_username_normalize(user, norm) ||
        pl_db_user_by_name(pl_store_direct(st), norm, &u) < 0) {
        snprintf(out, cap, "no user named '%s'", user);
        return PL_ENOTFOUND;
    }
    reset_mail_t m = {.cfg = cfg, .user_id = u.id, .now = pl_now_ms()};
    char token[PL_TOKEN_LEN + 1];
    pl_auth_token_new(token);
    pl_auth_token_hash(token, strlen(token), m.hash);
    const char *base = cfg->public_url;
    size_t bl = strlen(base);
    char link[512], body[1024];
    snprintf(link, sizeof link, "%.*s/#reset=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
             base, token);
    snprintf(body, sizeof body,
             "A password reset link was issued for the Parley account %s.\n\n"
             "Open it within %" PRId64 " minutes to choose a new password:\n\n%s\n\n"
             "It works once. If you did not ask for it, ignore this message.\n",
             u.username, cfg->reset_link_ttl_ms / 60000, link);
    json_t *p =
        json_pack("{s:s, s:s, s:s}", "to", to, "subject", "Parley password reset", "body", body);
    m.payload = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    int rc = PL_EINVAL;
    if (m.payload != NULL) {
        pl_store_write(st, reset_mail_work, reset_mail_done, &m);
        while (!m.done)
            uv_run(loop, UV_RUN_ONCE);
        rc = m.status != 0 ? m.status : m.rc;
    }
    if (rc == 0)
        snprintf(out, cap, "a reset link for %s goes to %s (a running parleyd sends it)",
                 u.username, to);
    else
        snprintf(out, cap, "cannot queue the reset email: %s", pl_strerror(rc));
    pl_user_dispose(&u);
    if (m.payload != NULL) {
        sodium_memzero(m.payload, strlen(m.payload));
        free(m.payload);
    }
    sodium_memzero(token, sizeof token);
    sodium_memzero(link, sizeof link);
    sodium_memzero(body, sizeof body);
    return rc;
}
