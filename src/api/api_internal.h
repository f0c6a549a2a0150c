/* SPDX-License-Identifier: MIT */
/* api_internal.h -- shared by api.c (routes, register, login, stats),
 * the account endpoints (api_account.c and the files it routes to, see
 * api_areq.h), api_passkey.c (through callbacks) and api_util.c (JSON
 * answers). Not for use outside src/api/. Loop thread only. */
#ifndef PL_API_API_INTERNAL_H
#define PL_API_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "api/api_auth_state.h"
#include "api/api_passkey.h"
#include "auth/auth_limits.h"
#include "auth/mfa_ticket.h"
#include "auth/password_policy.h"
#include "core/addr.h"
#include "core/log.h"
#include "jobs/jobs.h"
#include "media/media.h"

struct pl_api {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_chat_t *chat;
    pl_server_t *srv;
    pl_media_t *media;          /* NULL if the media service could not start */
    pl_api_auth_t *auth;        /* limits, MFA tickets, TOTP setups, challenges: memory or Redis */
    pl_cidr_list_t stats_allow; /* who may read /v1/stats (cfg->stats_allow) */
    pl_log_gate_t refused_log;  /* info lines about refused requests: one a second */
    uint64_t logins_limited, registrations_limited; /* 429s, for /v1/stats */
    /* accounts (api_account.c) */
    pl_pwlist_t *pwlist;  /* common passwords (password_blocklist); may be NULL */
    uint8_t totp_key[32]; /* totp_secret_key, when has_totp_key */
    bool has_totp_key;
    pl_api_passkey_t *passkeys; /* /v1/passkeys (api_passkey.c) */
    pl_cluster_t *cluster;      /* /readyz needs it connected; NULL: none */
    bool draining;              /* /readyz: 503 */
    pl_jobs_t *jobs;            /* durable jobs runner, for /v1/stats (issue 13); may be NULL */
    struct pl_api_hooks *hooks; /* incoming webhooks' limits (issue 16, api_hooks.c) */
};

/** Answers body (taken) as JSON with status, and releases req. */
void pl_api__respond_json(pl_http_req_t *req, int status, json_t *body);
/** Answers 415 unless the body is application/json. */
bool pl_api__require_json(pl_http_req_t *req);
/** The level of a log line about a refused request (info once a second). */
int pl_api__refusal_log_level(pl_api_t *api);

/** 429 rate_limited with Retry-After. */
void pl_api__respond_limited(pl_http_req_t *req, uint64_t wait_ms, const char *what);
/** The body as a JSON object (owned), or NULL after answering 400. */
json_t *pl_api__body_object(pl_http_req_t *req);

/** pl_api__require_json, then pl_api__body_object. */
json_t *pl_api__json_body(pl_http_req_t *req);

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

/** api_account.c: state set up and torn down with the api. */
void pl_api__account_init(pl_api_t *api);
void pl_api__account_dispose(pl_api_t *api);
/** api_areq.c: the coarse form of a client address kept with a session: an IPv4 /24
 * ("203.0.113.0/24") or an IPv6 /48; "" when unknown. */
void pl_api__coarse_ip(const pl_addr_t *a, char out[64]);
/** Routes of api_account.c: returns false when path is not one of them. */
bool pl_api__account_route(pl_api_t *api, pl_http_req_t *req, const char *method, const char *path);
/** api_mfa.c: issues an mfa_ticket for a user whose password was right and answers
 * 401 mfa_required with the methods the account has (503 unavailable when
 * the shared state cannot be reached). info and mfa are copied. */
void pl_api__respond_mfa_required(pl_api_t *api, pl_http_req_t *req,
                                  const pl_mfa_ticket_info_t *info, const pl_mfa_state_t *mfa);
/** 503 unavailable: the shared login state (Redis) cannot be reached. */
void pl_api__respond_state_down(pl_http_req_t *req);
/** api_mfa.c: verifies a second factor (totp or recovery_code; one is non-NULL) of
 * user_id against m and spends it (single use). Store write job. Returns
 * 0, PL_EFORBIDDEN for a wrong, replayed or used one, or PL_EIO. */
int pl_api__second_factor_check(const pl_api_t *api, pl_db_t *db, int64_t user_id,
                                const pl_mfa_state_t *m, const char *totp,
                                const char *recovery_code);

/* ---- incoming webhooks (issue 16, api_hooks.c) ---- */
typedef struct pl_api_hooks pl_api_hooks_t;
/** State set up and torn down with the api. */
void pl_api__hooks_init(pl_api_t *api);
void pl_api__hooks_dispose(pl_api_t *api);
/** POST /v1/hooks/w<id>/<secret>: returns false when path is not below
 * /v1/hooks/ (then nothing was answered). */
bool pl_api__hooks_route(pl_api_t *api, pl_http_req_t *req, const char *method, const char *path);

#endif
