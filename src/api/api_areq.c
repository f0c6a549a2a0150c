/* SPDX-License-Identifier: MIT */
/* api_areq.c -- one account request (api_areq.h): optional bearer auth,
 * store jobs chained with loop-side steps, the answer, and re-entering the
 * password under the login limits. Shared by the account endpoints. */
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

void pl_api__zfree(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void pl_api__areq_free(pl_areq_t *r)
{
    pl_api__zfree(r->password);
    pl_api__zfree(r->new_password);
    pl_api__zfree(r->totp);
    pl_api__zfree(r->recovery);
    pl_api__zfree(r->reset_token);
    free(r->pwhash);
    free(r->closed);
    json_decref(r->result);
    json_decref(r->pending_passkey);
    pl_user_dispose(&r->user);
    sodium_memzero(r, sizeof *r);
    free(r);
}

void pl_api__areq_fail(pl_areq_t *r, int status, const char *code, const char *msg)
{
    r->status = status, r->code = code, r->msg = msg;
}

/* Answers and frees r; closes the sockets of the devices in r->closed. */
void pl_api__areq_finish(pl_areq_t *r)
{
    if (r->lticket.active)
        pl_api_auth_login_end(r->api->auth, r->user.username ? r->user.username : "", &r->addr,
                              &r->lticket,
                              r->ok ? PL_LOGIN_OK
                              : r->code && (!strcmp(r->code, "wrong_password") ||
                                            !strcmp(r->code, "bad_second_factor"))
                                  ? PL_LOGIN_FAILED
                                  : PL_LOGIN_ABORTED);
    if (r->code != NULL) {
        pl_api_error(r->req, r->status, r->code, r->msg);
    } else {
        for (size_t i = 0; i < r->nclosed; i++)
            pl_chat_close_device(r->api->chat, r->user_id, r->closed[i], 1008, "session revoked");
        json_t *res = r->result ? r->result : json_object();
        r->result = NULL;
        pl_api__respond_json(r->req, 200, res);
    }
    pl_api__areq_free(r);
}

void pl_api__areq_work(pl_db_t *db, void *arg)
{
    pl_areq_t *r = arg;
    if (r->need_auth && r->user.username == NULL) {
        int rc = pl_db_session_lookup(db, r->tok, pl_now_ms(), &r->user_id, &r->device_id);
        if (rc == 0)
            rc = pl_db_user_by_id(db, r->user_id, &r->user);
        if (rc == PL_ENOTFOUND) {
            pl_api__areq_fail(r, 401, "unauthenticated", "invalid or revoked token");
            return;
        }
        if (rc == 0)
            rc = pl_db_mfa_get(db, r->user_id, &r->mfa);
        if (rc < 0) {
            pl_api__areq_fail(r, 500, "internal", "storage error; try again");
            return;
        }
    }
    if (r->work)
        r->work(db, r);
}

static void areq_done(int status, void *arg)
{
    pl_areq_t *r = arg;
    if (status < 0 && r->code == NULL)
        pl_api__areq_fail(
            r, status == PL_ECLOSED ? 503 : 500, status == PL_ECLOSED ? "unavailable" : "internal",
            status == PL_ECLOSED ? "the server is shutting down" : "storage error; try again");
    pl_areq_next_fn next = r->next;
    r->next = NULL;
    if (r->code == NULL && next != NULL)
        next(r);
    else
        pl_api__areq_finish(r);
}

/* Runs work in a store job (write or read), then next (NULL: answer). */
void pl_api__areq_job(pl_areq_t *r, bool write, pl_areq_work_fn work, pl_areq_next_fn next)
{
    r->work = work;
    r->next = next;
    if (write)
        pl_store_write(r->api->st, pl_api__areq_work, areq_done, r);
    else
        pl_store_read(r->api->st, pl_api__areq_work, areq_done, r);
}

/* A new account request: JSON body parsed (NULL for none), bearer token
 * hashed when need_auth. Answers and returns NULL on a bad request. */
pl_areq_t *pl_api__areq_new(pl_api_t *api, pl_http_req_t *req, bool need_auth, bool has_body,
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
    pl_areq_t *r = pl_xcalloc(1, sizeof *r);
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
bool pl_api__opt_str(json_t *body, const char *key, size_t max, char **out)
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

/* The coarse form of a client address kept with a session (api_internal.h). */
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

/* ---- re-entering the password (under the login limits) ---- */

static void password_checked(void *arg, bool ok)
{
    pl_areq_t *r = arg;
    if (!ok) {
        pl_api__areq_fail(r, 403, "wrong_password", "the password is wrong");
        pl_log(PL_LOG_INFO, "auth", "password check failed user=u%" PRId64 " peer=%s", r->user_id,
               pl_http_peer(r->req));
        pl_api__areq_finish(r);
        return;
    }
    pl_api_auth_login_end(r->api->auth, r->user.username, &r->addr, &r->lticket, PL_LOGIN_OK);
    pl_areq_next_fn next = r->next;
    r->next = NULL;
    next(r);
}

/* The login limits allowed the check (or not). */
static void password_allowed(void *arg, int rc, uint64_t wait, const char *why)
{
    pl_areq_t *r = arg;
    (void)why;
    if (rc < 0 || wait > 0) {
        if (rc < 0) {
            pl_api__respond_state_down(r->req);
        } else {
            r->api->logins_limited++;
            pl_api__respond_limited(r->req, wait, "too many password attempts");
        }
        pl_api__areq_free(r);
        return;
    }
    pl_auth_verify_password(r->api->loop, r->password, r->user.pwhash,
                            (uint64_t)r->api->cfg->argon2_opslimit,
                            (size_t)r->api->cfg->argon2_memlimit, password_checked, r);
}

/* Verifies r->password against the user's hash, counted like a login
 * attempt (a stolen session must not become a password oracle), then runs
 * next; a wrong one answers 403 wrong_password. */
void pl_api__check_password(pl_areq_t *r, pl_areq_next_fn next)
{
    r->next = next;
    pl_api_auth_login_begin(r->api->auth, r->user.username, &r->addr, &r->lticket, password_allowed,
                            r);
}

/* Deletes the user's other sessions (all when keep is 0) into r->closed. */
int pl_api__revoke_sessions(pl_db_t *db, pl_areq_t *r, int64_t keep)
{
    return pl_db_sessions_delete_others(db, r->user_id, keep, &r->closed, &r->nclosed);
}
