/* SPDX-License-Identifier: MIT */
/* api_areq.h -- one account request, shared by the account endpoints
 * (api_mfa.c, api_totp.c, api_sessions.c, api_password.c) and their router
 * (api_account.c): optional bearer auth, store jobs chained with steps on
 * the loop, one answer. Not for use outside src/api/. Loop thread only,
 * except the work functions, which run in a store job. */
#ifndef PL_API_API_AREQ_H
#define PL_API_API_AREQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api_internal.h"
#include "auth/auth.h"
#include "auth/totp.h"

typedef struct pl_areq pl_areq_t;
typedef void (*pl_areq_work_fn)(pl_db_t *db, pl_areq_t *r);
typedef void (*pl_areq_next_fn)(pl_areq_t *r);

struct pl_areq {
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
    pl_areq_work_fn work;
    pl_areq_next_fn next;
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
    bool passkey_ok;         /* /v1/login/mfa: a passkey assertion verified (api_passkey.c) */
    bool has_device;         /* /v1/login/mfa: device_name given (in info.device_name) */
    json_t *pending_passkey; /* /v1/login/mfa: the assertion, while the ticket is claimed */
};

/** Zeroes and frees a NUL-terminated secret (NULL is fine). */
void pl_api__zfree(char *s);
/** Frees r and everything it owns, zeroing the secrets. */
void pl_api__areq_free(pl_areq_t *r);
/** Records the error r answers with (status, code and msg are borrowed
 * literals); no effect on r's flow until it finishes. */
void pl_api__areq_fail(pl_areq_t *r, int status, const char *code, const char *msg);
/** Answers (the error, or 200 with r->result), closes the sockets of the
 * devices in r->closed, ends an active login-limit ticket, frees r. */
void pl_api__areq_finish(pl_areq_t *r);
/** A store job's body (arg = r): looks up the bearer token first when
 * need_auth, then runs r->work. Runs on a store thread. */
void pl_api__areq_work(pl_db_t *db, void *arg);
/** Runs work in a store job (write or read), then next on the loop (NULL:
 * answer). A failure on the way answers instead of calling next. */
void pl_api__areq_job(pl_areq_t *r, bool write, pl_areq_work_fn work, pl_areq_next_fn next);
/** A new account request: JSON body parsed into *body (owned; only when
 * has_body), bearer token hashed when need_auth, client address noted.
 * Answers and returns NULL on a bad request. */
pl_areq_t *pl_api__areq_new(pl_api_t *api, pl_http_req_t *req, bool need_auth, bool has_body,
                            json_t **body);
/** Copies body[key] into *out (owned) when it is a string of 1..max bytes
 * without NUL; a missing or null key leaves *out NULL. Returns false for
 * any other value. */
bool pl_api__opt_str(json_t *body, const char *key, size_t max, char **out);
/** Verifies r->password against the user's hash, counted like a login
 * attempt (a stolen session must not become a password oracle), then runs
 * next; a wrong one answers 403 wrong_password, a limited one 429. */
void pl_api__check_password(pl_areq_t *r, pl_areq_next_fn next);
/** Store job: deletes r's user's sessions but keep (0: all) and collects
 * their device ids into r->closed. Returns 0 or a negative PL_E* code. */
int pl_api__revoke_sessions(pl_db_t *db, pl_areq_t *r, int64_t keep);

/** api_password.c: loads the common-password list at path (NULL when path
 * is empty or cannot be read, with a warning); free with pl_pwlist_free. */
pl_pwlist_t *pl_api__pwlist_load(const char *path);

/* The endpoints, routed by pl_api__account_route (api_account.c). Each
 * answers req itself. */
void pl_api__handle_login_mfa(pl_api_t *api, pl_http_req_t *req);      /* api_mfa.c */
void pl_api__handle_security(pl_api_t *api, pl_http_req_t *req);       /* api_mfa.c */
void pl_api__handle_totp_setup(pl_api_t *api, pl_http_req_t *req);     /* api_totp.c */
void pl_api__handle_totp_enable(pl_api_t *api, pl_http_req_t *req);    /* api_totp.c */
void pl_api__handle_totp_disable(pl_api_t *api, pl_http_req_t *req);   /* api_totp.c */
void pl_api__handle_recovery_codes(pl_api_t *api, pl_http_req_t *req); /* api_totp.c */
void pl_api__handle_sessions_list(pl_api_t *api, pl_http_req_t *req);  /* api_sessions.c */
void pl_api__handle_revoke_others(pl_api_t *api, pl_http_req_t *req);  /* api_sessions.c */
void pl_api__handle_session_delete(pl_api_t *api, pl_http_req_t *req,
                                   const char *id);              /* api_sessions.c */
void pl_api__handle_password(pl_api_t *api, pl_http_req_t *req); /* api_password.c */
void pl_api__handle_reset(pl_api_t *api, pl_http_req_t *req);    /* api_password.c */

#endif
