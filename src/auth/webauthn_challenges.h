/* SPDX-License-Identifier: MIT */
/* webauthn_challenges.h -- the passkey challenges parleyd has issued and not
 * yet seen back: random 32 bytes each, single use, alive for a fixed time,
 * in a table bounded in total and per client address (IPv6 per /64), so a
 * flood of option requests costs bounded memory and is answered 429.
 * Pure apart from the CSPRNG: the caller passes the clock.
 *
 * This table is the single-node engine. In cluster mode (`redis` set)
 * api/api_auth_state.c keeps the challenges in Redis instead
 * (cluster/auth_state.h: SHA-256 of each as its key, the purpose as its
 * tag, the same total and per-address bounds over all nodes), so the
 * options may come from one node and the answer go to another.
 *
 * Threading: one table belongs to one thread (the core loop). */
#ifndef PL_AUTH_WEBAUTHN_CHALLENGES_H
#define PL_AUTH_WEBAUTHN_CHALLENGES_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define PL_WA_CHALLENGE_LEN 32

/** What a challenge was issued for; an answer must be of the same kind. */
typedef enum { PL_WA_FOR_REGISTER = 1, PL_WA_FOR_LOGIN = 2 } pl_wa_purpose_t;

typedef struct pl_wa_challenges pl_wa_challenges_t;

/** A table of at most max challenges, per_addr per address, each alive
 * ttl_ns. Free with pl_wa_challenges_free (NULL-safe). */
pl_wa_challenges_t *pl_wa_challenges_new(size_t max, size_t per_addr, uint64_t ttl_ns);
void pl_wa_challenges_free(pl_wa_challenges_t *t);

/** Issues a challenge for purpose, bound to user_id (0: none) and addr
 * (borrowed), into out. Expired ones are dropped first. Returns 0, or
 * PL_ETOOBIG when addr has per_addr outstanding or the table is full. */
int pl_wa_challenge_issue(pl_wa_challenges_t *t, const pl_addr_t *addr, pl_wa_purpose_t purpose,
                          int64_t user_id, uint64_t now_ns, unsigned char out[PL_WA_CHALLENGE_LEN]);

/** Takes a challenge back: when it is outstanding, unexpired and was issued
 * for purpose, it is removed (single use), *user_id receives what it was
 * bound to and 0 is returned; otherwise PL_ENOTFOUND (a challenge of another
 * purpose stays). */
int pl_wa_challenge_take(pl_wa_challenges_t *t, const unsigned char ch[PL_WA_CHALLENGE_LEN],
                         pl_wa_purpose_t purpose, uint64_t now_ns, int64_t *user_id);

/** Outstanding challenges (expired ones not yet dropped included). */
size_t pl_wa_challenges_count(const pl_wa_challenges_t *t);

#endif
