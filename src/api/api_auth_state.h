/* SPDX-License-Identifier: MIT */
/* api_auth_state.h -- where the login state lives: MFA tickets, pending
 * TOTP setups, WebAuthn challenges and the login / registration limits.
 *
 * One node (no `redis`): this node's memory, in the pure tables of src/auth
 * (mfa_ticket.h, webauthn_challenges.h, auth_limits.h) and the pending
 * setups below. A cluster (pl_api_auth_set_cluster with a bus): Redis
 * through cluster/auth_state.h, with the same rules, so every node sees the
 * same tickets, setups, challenges and buckets. The handlers call the same
 * functions either way; every answer comes through a callback, which runs
 * before the call returns on one node and from the loop later in a cluster.
 *
 * Redis down (or an unexpected reply): every call answers PL_ECLOSED and
 * the handlers answer 503 unavailable: logins and registrations fail
 * closed (no limit is skipped, no ticket is trusted) until Redis is back.
 * A login_end that cannot reach Redis leaves its reservation counted as a
 * failure (errs against the client, never for an attacker).
 *
 * Threading: the API loop. Not for use outside src/api/. */
#ifndef PL_API_API_AUTH_STATE_H
#define PL_API_API_AUTH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_limits.h"
#include "auth/mfa_ticket.h"
#include "auth/totp.h"
#include "auth/webauthn_challenges.h"
#include "cluster/cluster.h"
#include "core/addr.h"
#include "core/config.h"

#define PL_API_TOTP_SETUP_TTL_MS (600 * 1000)   /* a totp/setup secret waits this long */
#define PL_API_TOTP_SETUP_MAX 10000             /* pending setups kept (oldest dropped) */
#define PL_API_CHALLENGE_TTL_MS (5 * 60 * 1000) /* a WebAuthn challenge lives this long */
#define PL_API_TICKET_LEASE_MS 30000            /* a claim left by a dead node ends after this */

typedef struct pl_api_auth pl_api_auth_t;

/** Tables sized from cfg (borrowed: it outlives the state). */
pl_api_auth_t *pl_api_auth_new(const pl_config_t *cfg);
/** NULL ok. Calls still waiting for Redis answer PL_ECLOSED later: free
 * the cluster (which answers them) before the requests they belong to. */
void pl_api_auth_free(pl_api_auth_t *s);
/** Shares the state through cl from now on (NULL: this node's memory).
 * cl is borrowed; set NULL before freeing it. */
void pl_api_auth_set_cluster(pl_api_auth_t *s, pl_cluster_t *cl);
/** True when the state is in Redis. */
bool pl_api_auth_shared(const pl_api_auth_t *s);

/* ---- limits (auth_limits.h) ---- */

/** rc 0 with wait_ms (0: go on) and why (static text, when wait_ms > 0),
 * or PL_ECLOSED. */
typedef void (*pl_api_auth_wait_cb)(void *arg, int rc, uint64_t wait_ms, const char *why);

/** A registration from addr (borrowed for the call). */
void pl_api_auth_register(pl_api_auth_t *s, const pl_addr_t *addr, pl_api_auth_wait_cb cb,
                          void *arg);
/** login_begin of auth_limits.h; *t (owned by the caller, alive until cb)
 * is active after rc 0 and wait 0, and then pl_api_auth_login_end must
 * follow once. username and addr are borrowed for the call. */
void pl_api_auth_login_begin(pl_api_auth_t *s, const char *username, const pl_addr_t *addr,
                             pl_login_ticket_t *t, pl_api_auth_wait_cb cb, void *arg);
/** login_end of auth_limits.h (no answer; nothing when *t is inactive). */
void pl_api_auth_login_end(pl_api_auth_t *s, const char *username, const pl_addr_t *addr,
                           pl_login_ticket_t *t, pl_login_outcome_t outcome);

/* ---- MFA tickets (mfa_ticket.h) ---- */

/** rc 0 with the ticket text (borrowed for the call), or PL_ECLOSED. */
typedef void (*pl_api_auth_issue_cb)(void *arg, int rc, const char *ticket);
/** rc 0 with the ticket's info (borrowed for the call), PL_ENOTFOUND
 * (unknown, expired, spent or, for a claim, claimed) or PL_ECLOSED. */
typedef void (*pl_api_auth_ticket_cb)(void *arg, int rc, const pl_mfa_ticket_info_t *info);

void pl_api_auth_ticket_issue(pl_api_auth_t *s, const pl_mfa_ticket_info_t *info,
                              pl_api_auth_issue_cb cb, void *arg);
/** ticket is borrowed for the call. */
void pl_api_auth_ticket_peek(pl_api_auth_t *s, const char *ticket, pl_api_auth_ticket_cb cb,
                             void *arg);
void pl_api_auth_ticket_claim(pl_api_auth_t *s, const char *ticket, pl_api_auth_ticket_cb cb,
                              void *arg);
/** Ends a claim (pl_mfa_ticket_finish). No answer. */
void pl_api_auth_ticket_finish(pl_api_auth_t *s, const char *ticket, bool ok);
/** Tickets in this node's table (0 in a cluster), for /v1/stats. */
size_t pl_api_auth_ticket_count(pl_api_auth_t *s);

/* ---- pending TOTP setups: user id -> secret, until enable or 10 minutes ---- */

/** rc 0 or PL_ECLOSED. */
typedef void (*pl_api_auth_done_cb)(void *arg, int rc);
/** rc 0 with the secret (borrowed for the call), PL_ENOTFOUND or PL_ECLOSED. */
typedef void (*pl_api_auth_secret_cb)(void *arg, int rc, const uint8_t *secret);

/** Keeps secret (PL_TOTP_SECRET_BYTES, copied) as user_id's pending setup
 * (replacing one before). In Redis it is sealed with totp_key when given
 * (NULL: stored as it is, like the store without totp_secret_key). */
void pl_api_auth_totp_put(pl_api_auth_t *s, int64_t user_id, const uint8_t *secret,
                          const uint8_t *totp_key, pl_api_auth_done_cb cb, void *arg);
void pl_api_auth_totp_get(pl_api_auth_t *s, int64_t user_id, const uint8_t *totp_key,
                          pl_api_auth_secret_cb cb, void *arg);
/** Forgets user_id's pending setup. No answer. */
void pl_api_auth_totp_drop(pl_api_auth_t *s, int64_t user_id);

/* ---- WebAuthn challenges (webauthn_challenges.h) ---- */

/** rc 0 with the challenge (borrowed for the call), PL_ETOOBIG (addr has
 * webauthn_challenges_per_ip outstanding, or all are taken: 429) or
 * PL_ECLOSED. */
typedef void (*pl_api_auth_challenge_cb)(void *arg, int rc, const unsigned char *ch);
/** rc 0 with the user the challenge was bound to, PL_ENOTFOUND or PL_ECLOSED. */
typedef void (*pl_api_auth_take_cb)(void *arg, int rc, int64_t user_id);

void pl_api_auth_challenge_issue(pl_api_auth_t *s, const pl_addr_t *addr, pl_wa_purpose_t purpose,
                                 int64_t user_id, pl_api_auth_challenge_cb cb, void *arg);
/** ch (borrowed for the call) is taken back when it is outstanding for
 * purpose (single use). */
void pl_api_auth_challenge_take(pl_api_auth_t *s, const unsigned char ch[PL_WA_CHALLENGE_LEN],
                                pl_wa_purpose_t purpose, pl_api_auth_take_cb cb, void *arg);

#endif
