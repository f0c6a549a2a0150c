/* SPDX-License-Identifier: MIT */
/* auth_limits.h -- how often one address may register and log in, and how
 * many wrong passwords an account takes, checked before any Argon2id work.
 * Token buckets in bounded tables (core/ratelimit.h); the caller passes the
 * clock, so this is pure and unit-tested.
 *
 * Login limits count failures only, per account and per (account, address),
 * so a stranger cannot lock a user out from everywhere: the user's own
 * address has its own bucket, and the account-wide bucket (the defence
 * against guessing from many addresses) does not apply to addresses the
 * account logged in from within the last 30 days. See docs/protocol.md.
 *
 * These tables are the single-node engine. In cluster mode (`redis` set)
 * api/api_auth_state.c applies the same buckets, reservations, backoff
 * and known addresses in Redis (cluster/auth_state.c's limits script, on
 * Redis' clock), so they count over all nodes together; Redis unreachable
 * fails closed (503). Differences there: a pair's backoff count is
 * forgotten an hour after its last failure (here: on a slot collision).
 *
 * Threading: one table set belongs to one thread (the core loop). */
#ifndef PL_AUTH_AUTH_LIMITS_H
#define PL_AUTH_AUTH_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/config.h"

typedef struct pl_auth_limits pl_auth_limits_t;

/** Reads the limits from cfg (borrowed for the call only). Free with
 * pl_auth_limits_free (NULL-safe). */
pl_auth_limits_t *pl_auth_limits_new(const pl_config_t *cfg);
void pl_auth_limits_free(pl_auth_limits_t *l);

/** A registration from addr. Returns 0 when it may proceed (it is counted),
 * otherwise the milliseconds until it would be allowed (for Retry-After). */
uint64_t pl_auth_limits_register(pl_auth_limits_t *l, const pl_addr_t *addr, uint64_t now_ns);

/** What pl_auth_limits_login_begin reserved; pass it back to _login_end. */
typedef struct {
    bool active;  /* begin allowed the attempt: end must be called */
    bool account; /* a failure was reserved against the account-wide bucket */
} pl_login_ticket_t;

/** How a login ended: the password was right; it was wrong (or the user does
 * not exist); or it never got a verdict (storage error, shutdown). */
typedef enum { PL_LOGIN_OK, PL_LOGIN_FAILED, PL_LOGIN_ABORTED } pl_login_outcome_t;

/** A login attempt for username (normalized, borrowed) from addr, before the
 * lookup and the Argon2id verification. Returns 0 when it may proceed: one
 * attempt is counted and one failure reserved against each failure limit,
 * and the caller must call pl_auth_limits_login_end exactly once with the
 * same username and addr. Otherwise returns the milliseconds to wait, writes
 * the name of the limit that refused into *why (static text, for logs) and
 * leaves *t inactive. */
uint64_t pl_auth_limits_login_begin(pl_auth_limits_t *l, const char *username,
                                    const pl_addr_t *addr, uint64_t now_ns, pl_login_ticket_t *t,
                                    const char **why);

/** Milliseconds (account, address) must wait under the exponential backoff
 * (0: none); login_begin refuses with why "login_backoff" meanwhile. After
 * login_backoff_free_failures failures in a row, each further failure
 * doubles the wait from 1 s up to login_backoff_max_ms; a success ends it.
 * Only the pair is delayed: the account's owner at another address is not.
 * Peeks only. */
uint64_t pl_auth_limits_backoff(pl_auth_limits_t *l, const char *username, const pl_addr_t *addr,
                                uint64_t now_ns);

/** Ends an attempt: a failure keeps its reservations; anything else gives
 * them back, and a success marks addr as one the account logs in from. */
void pl_auth_limits_login_end(pl_auth_limits_t *l, const char *username, const pl_addr_t *addr,
                              pl_login_ticket_t *t, pl_login_outcome_t outcome, uint64_t now_ns);

#endif
