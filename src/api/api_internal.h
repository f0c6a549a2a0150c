/* SPDX-License-Identifier: MIT */
/* api_internal.h -- what the files of src/api share: the JSON answer
 * helpers (api_http.c) and the session-creating end of a login (api.c).
 * Not for use outside src/api/. Thread: the loop that runs pl_api_on_http. */
#ifndef PL_API_API_INTERNAL_H
#define PL_API_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "api/api_passkey.h"

/** Answers status with body (takes the reference) and releases req. */
void pl_api__respond_json(pl_http_req_t *req, int status, json_t *body);

/** Whether the request is Content-Type: application/json; answers 415 and
 * returns false otherwise (a cross-site form cannot send that type without
 * a CORS preflight, which parleyd never grants). */
bool pl_api__require_json(pl_http_req_t *req);

/** The request's body as a JSON object (owned reference), or NULL after
 * answering 400 (bad_json, or not an object). */
json_t *pl_api__body_object(pl_http_req_t *req);

/** pl_api__require_json, then pl_api__body_object. */
json_t *pl_api__json_body(pl_http_req_t *req);

/** 429 rate_limited with Retry-After (wait_ms rounded up to seconds). */
void pl_api__respond_limited(pl_http_req_t *req, uint64_t wait_ms, const char *what);

/** The login's last step, shared by /v1/login and passkey logins (api.c;
 * api_passkey.c gets it as a pl_api_login_session_fn, ud = the pl_api_t):
 * checks max_sessions_per_user, creates a session (device) for user_id and
 * answers 200 {"user_id", "token", "device_id", "username"} (or the error).
 * The caller verified the credential and ended its login-limit ticket.
 * username and device_name are copied. */
void pl_api__login_session(void *ud, pl_http_req_t *req, int64_t user_id, const char *username,
                           const char *device_name);

/** The passkey endpoints' state (never NULL after pl_api_new). */
pl_api_passkey_t *pl_api__passkeys(pl_api_t *api);

#endif
