/* SPDX-License-Identifier: MIT */
/* api_passkey.h -- the /v1/passkeys endpoints (register, list, rename,
 * delete, passwordless login) and the passkey check the second-factor step
 * of a password login calls. Verification is auth/webauthn.c's; challenges
 * live in auth/webauthn_challenges.c; rows in store_sqlite_passkey.c.
 * Thread: the loop that runs pl_api_on_http (the same as the login limits). */
#ifndef PL_API_API_PASSKEY_H
#define PL_API_API_PASSKEY_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "api/api_auth_state.h"
#include "core/addr.h"
#include "core/config.h"
#include "http/http.h"
#include "store/store.h"

typedef struct pl_api_passkey pl_api_passkey_t;

/** Creates the session of a verified login and answers req (api.c's
 * pl_api__login_session, the same step /v1/login ends with). */
typedef void (*pl_api_login_session_fn)(void *ud, pl_http_req_t *req, int64_t user_id,
                                        const char *username, const char *device_name);

/** Borrows everything (auth: the challenges and the login limits, in
 * memory or Redis). Free with pl_api_passkey_free (NULL-safe) before auth. */
pl_api_passkey_t *pl_api_passkey_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st,
                                     pl_api_auth_t *auth, pl_api_login_session_fn session,
                                     void *session_ud);
void pl_api_passkey_free(pl_api_passkey_t *p);

/** Answers a request whose path is /v1/passkeys or below it. */
void pl_api_passkey_on_http(pl_api_passkey_t *p, pl_http_req_t *req);

/** The result of pl_api_passkey_verify: status 0 and the passkey owner's
 * user_id when the assertion verified; otherwise a negative status:
 * PL_EFORBIDDEN (the credential is not valid for this login: unknown or
 * deleted passkey, another user's, bad signature, counter regression, wrong
 * challenge, origin or rpId), PL_EINVAL (the credential object is
 * malformed), PL_EAGAIN (login limits: retry_ms says when), PL_EIO or
 * PL_ECLOSED (storage). code names the reason (static text for the error
 * reply: "bad_credentials", "bad_challenge" (with PL_EFORBIDDEN: the
 * clientDataJSON names no outstanding login challenge), "bad_request",
 * "too_large" (with PL_EINVAL), "rate_limited", "internal"). */
typedef void (*pl_api_passkey_cb)(void *arg, int status, int64_t user_id, const char *code,
                                  uint64_t retry_ms);

/** Verifies a passkey assertion. credential (borrowed for the call) is the
 * JSON object a browser's navigator.credentials.get() gives, base64url
 * fields: {"id", "response": {"clientDataJSON", "authenticatorData",
 * "signature", "userHandle"?}}. Its clientDataJSON must name a challenge
 * from POST /v1/passkeys/login/options (single use, 5 minutes). expect_user
 * (0: any) is the user the passkey must belong to: the second factor of a
 * password login passes the user the password was checked for. The attempt
 * counts against the login limits of the passkey owner's account and addr
 * (borrowed). The passkey's counter and last use are stored before cb runs
 * (once, on the loop thread, possibly before this returns). */
void pl_api_passkey_verify(pl_api_passkey_t *p, const pl_addr_t *addr, json_t *credential,
                           int64_t expect_user, pl_api_passkey_cb cb, void *arg);

#endif
