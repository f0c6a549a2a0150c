/* SPDX-License-Identifier: MIT */
/* password_policy.h -- which new passwords are refused (weak_password): too
 * short or too long, equal to the username (case-insensitively), or on the
 * list of common passwords the server loads at startup (the key
 * password_blocklist; share/common-passwords.txt in the repository). Pure:
 * the caller reads the file and passes its text. */
#ifndef PL_AUTH_PASSWORD_POLICY_H
#define PL_AUTH_PASSWORD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pl_pwlist pl_pwlist_t;

/** Builds a list from text: one password a line, '#' starts a comment line,
 * blank lines and trailing '\r' ignored, compared case-insensitively (ASCII).
 * Lines longer than 128 bytes are skipped. Free with pl_pwlist_free
 * (NULL-safe). */
pl_pwlist_t *pl_pwlist_parse(const char *text, size_t len);
void pl_pwlist_free(pl_pwlist_t *l);
/** Entries in the list. */
size_t pl_pwlist_size(const pl_pwlist_t *l);
/** Whether password (any case) is on the list. l may be NULL (empty). */
bool pl_pwlist_contains(const pl_pwlist_t *l, const char *password);

/** Checks a new password for username (normalized). Returns NULL when it is
 * acceptable, otherwise a message for people (static text) saying why not.
 * list may be NULL. */
const char *pl_password_check(const pl_pwlist_t *list, const char *username, const char *password);

#endif
