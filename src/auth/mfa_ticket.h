/* SPDX-License-Identifier: MIT */
/* mfa_ticket.h -- the second step of a login with MFA. A right password on
 * an account with a second factor answers 401 mfa_required with an opaque
 * mfa_ticket; POST /v1/login/mfa (TOTP, recovery code) or a passkey
 * assertion redeems it for a session. A ticket names the user, the device
 * name and the client address of the password step, lives 5 minutes, is
 * spent by its first success or after PL_MFA_TICKET_TRIES wrong second
 * factors.
 *
 * This table is the single-node engine: one node's memory. In cluster
 * mode (`redis` set) api/api_auth_state.c keeps the same records in Redis
 * instead (cluster/auth_state.h), with the same rules (single use, TTL,
 * PL_MFA_TICKET_TRIES over all nodes, one claim at a time), so the second
 * step may reach any node; pl_mfa_ticket_info_encode / _decode are the
 * record's value there.
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

/** Room for an encoded ticket info: user id, address, username, device. */
#define PL_MFA_TICKET_INFO_TEXT (20 + 1 + 32 + 1 + PL_USERNAME_MAX + 1 + 64 + 1)

/** Encodes info as "<user id>\n<address: 32 hex>\n<username>\n<device name>"
 * into out (NUL-terminated). Returns the length. */
size_t pl_mfa_ticket_info_encode(const pl_mfa_ticket_info_t *info,
                                 char out[PL_MFA_TICKET_INFO_TEXT + 1]);

/** Parses len bytes written by pl_mfa_ticket_info_encode (they come back
 * from Redis: checked like any input). Returns true and fills *out. */
bool pl_mfa_ticket_info_decode(const char *p, size_t len, pl_mfa_ticket_info_t *out);

/** The table key of a ticket as 64 hex digits (SHA-256 of its text), for
 * shared stores. False for an empty or over-long (> 256 bytes) ticket. */
bool pl_mfa_ticket_key_hex(const char *ticket, char out[65]);

/** Live tickets in the table (tests, stats). */
size_t pl_mfa_tickets_count(pl_mfa_tickets_t *t, uint64_t now_ns);

#endif
