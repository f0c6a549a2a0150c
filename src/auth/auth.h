/* SPDX-License-Identifier: MIT */
/* auth.h -- credentials: username rules, Argon2id password hashing on the libuv
 * thread pool (never on a loop thread), session tokens. */
#ifndef PL_AUTH_AUTH_H
#define PL_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define PL_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */
#define PL_USERNAME_MAX 32
#define PL_PASSWORD_MIN 8
#define PL_PASSWORD_MAX 1024 /* bytes; longer is refused before hashing */
#define PL_DISPLAY_NAME_MAX 64

/** Checks 1-32 characters of [A-Za-z0-9_.-] and writes the lowercase form into
 * out (>= PL_USERNAME_MAX + 1 bytes). Returns false if invalid. */
bool pl_auth_username_normalize(const char *in, char *out);

/** Whether a normalized username may be registered: it needs at least one
 * letter or digit, so names made only of '.', '-' and '_' (".", "..", "-")
 * are reserved. Login still accepts any name pl_auth_username_normalize
 * does, so accounts made before this rule keep working. */
bool pl_auth_username_registrable(const char *norm);

/** Creates a new token (NUL-terminated, PL_TOKEN_LEN chars) into out (>= 44 bytes). */
void pl_auth_token_new(char out[PL_TOKEN_LEN + 1]);

/** SHA-256 of the token text; only this is stored. */
void pl_auth_token_hash(const char *token, size_t len, unsigned char out[32]);

/** Hashes the token of an "Authorization: Bearer <token>" header value
 * (NULL: none). Returns false when the header is missing, not Bearer, or
 * the token is empty or over 256 bytes. */
bool pl_auth_bearer_hash(const char *authorization, unsigned char out[32]);

/** Result of a pool job: run on a worker thread, done on the loop thread. */
typedef void (*pl_auth_hash_cb)(void *arg, int status, const char *hash);
typedef void (*pl_auth_verify_cb)(void *arg, bool ok);

/** Hashes password with Argon2id (opslimit/memlimit from config) on the thread
 * pool. cb gets status 0 and the encoded hash (borrowed for the call), or
 * PL_ENOMEM. password is copied. */
void pl_auth_hash_password(uv_loop_t *loop, const char *password, uint64_t opslimit,
                           size_t memlimit, pl_auth_hash_cb cb, void *arg);

/** Verifies password against an encoded hash on the thread pool. hash may be
 * NULL (unknown user): a dummy hash is checked so the answer takes as long. */
void pl_auth_verify_password(uv_loop_t *loop, const char *password, const char *hash,
                             uint64_t opslimit, size_t memlimit, pl_auth_verify_cb cb, void *arg);

/** How many password verifications (real or dummy, for unknown users) this
 * process has run: /v1/stats shows it, and the brute-force test counts the
 * guesses that reached Argon2id with it. Any thread. */
uint64_t pl_auth_password_verifications(void);

#endif
