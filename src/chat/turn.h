/* SPDX-License-Identifier: MIT */
/* turn.h -- TURN credentials by the TURN REST API scheme (issue 19;
 * draft-uberti-behave-turn-rest, what coturn checks with use-auth-secret /
 * static-auth-secret): username "<expiry unix time>:<user id>", password
 * base64(HMAC-SHA1(secret, username)). Pure: no I/O. */
#ifndef PL_CHAT_TURN_H
#define PL_CHAT_TURN_H

#include <stddef.h>
#include <stdint.h>

/** Room for the username ("<20 digits>:u<19 digits>") and the credential
 * (base64 of 20 bytes: 28 characters), NULs included. */
#define PL_TURN_USERNAME_MAX 48
#define PL_TURN_CREDENTIAL_MAX 32

/** Writes the credentials of user (the wire id "u<n>" is the name part)
 * valid until expiry_s (seconds since the epoch) under secret (borrowed,
 * NUL-terminated, non-empty). Returns 0, or PL_EINVAL for an empty secret.
 * Any thread. */
int pl_turn_credentials(const char *secret, int64_t user, int64_t expiry_s,
                        char username[PL_TURN_USERNAME_MAX],
                        char credential[PL_TURN_CREDENTIAL_MAX]);

#endif
