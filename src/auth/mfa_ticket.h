/* SPDX-License-Identifier: MIT */
/* mfa_ticket.h -- the second step of a login with MFA. A right password on
 * an account with a second factor answers 401 mfa_required with an opaque
 * mfa_ticket; POST /v1/login/mfa (TOTP, recovery code) or a passkey
 * assertion redeems it for a session. A ticket names the user, the device
 * name and the client address of the password step, lives 5 minutes, is
 * spent by its first success or after PL_MFA_TICKET_TRIES wrong second
 * factors, and is kept only in this node's memory (a cluster routes the
 * second step to any node: the client retries the password there).
 *
 * The table is bounded (max entries); when full, the oldest ticket goes.
 * Only SHA-256 of a ticket is kept. Pure: the caller passes the clock.
 * Threading: a table belongs to one thread (the core loop). */
#ifndef PL_AUTH_MFA_TICKET_H
#define PL_AUTH_MFA_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/addr.h"

#define PL_MFA_TICKET_TTL_NS (300ull * 1000000000ull) /* 5 minutes */
#define PL_MFA_TICKET_TRIES 3 /* wrong second factors before a ticket is spent */

typedef struct pl_mfa_tickets pl_mfa_tickets_t;

/** What a ticket stands for (copied in and out). */
typedef struct {
    int64_t user_id;
    char username[PL_USERNAME_MAX + 1]; /* normalized */
    char device_name[65];               /* what the password step asked for */
    pl_addr_t addr;                     /* client address of the password step */
} pl_mfa_ticket_info_t;

/** A table of at most max tickets. Free with pl_mfa_tickets_free (NULL-safe). */
pl_mfa_tickets_t *pl_mfa_tickets_new(size_t max);
void pl_mfa_tickets_free(pl_mfa_tickets_t *t);

/** Issues a ticket for info (borrowed) and writes its text (PL_TOKEN_LEN
 * characters, base64url) into out. */
void pl_mfa_ticket_issue(pl_mfa_tickets_t *t, const pl_mfa_ticket_info_t *info, uint64_t now_ns,
                         char out[PL_TOKEN_LEN + 1]);

/** Looks a live ticket up without claiming it (e.g. to build a passkey
 * challenge for its user). Returns true and copies its info into *out. */
bool pl_mfa_ticket_peek(pl_mfa_tickets_t *t, const char *ticket, uint64_t now_ns,
                        pl_mfa_ticket_info_t *out);

/** Claims a live ticket for one check of a second factor: copies its info
 * into *out and returns true; false for an unknown, expired, spent or
 * already claimed ticket (two requests cannot race on one ticket). The
 * caller checks the factor against out->user_id and then must call
 * pl_mfa_ticket_finish once. */
bool pl_mfa_ticket_claim(pl_mfa_tickets_t *t, const char *ticket, uint64_t now_ns,
                         pl_mfa_ticket_info_t *out);

/** Ends a claim: ok=true spends the ticket (the caller creates the
 * session); ok=false counts a wrong factor, spends the ticket at the
 * PL_MFA_TICKET_TRIES-th and otherwise releases the claim. */
void pl_mfa_ticket_finish(pl_mfa_tickets_t *t, const char *ticket, bool ok, uint64_t now_ns);

/** Live tickets in the table (tests, stats). */
size_t pl_mfa_tickets_count(pl_mfa_tickets_t *t, uint64_t now_ns);

#endif
