/* SPDX-License-Identifier: MIT */
/* webauthn_soft.h -- a software WebAuthn authenticator for tests: builds the
 * JSON bodies parleyd's passkey endpoints take, signed with Ed25519 keys of
 * its own, for rpId "localhost" and any origin (to test the wrong ones). */
#ifndef PL_TEST_WEBAUTHN_SOFT_H
#define PL_TEST_WEBAUTHN_SOFT_H

#include <sodium.h>
#include <stdint.h>

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char id[16]; /* the credential id */
    uint32_t counter;
} th_authn_t;

/* A new credential: fresh keys and id, counter 1. */
void th_authn_new(th_authn_t *a);

/* The registration body ({"name", "credential"}) answering challenge
 * (base64url, from the options); malloc'd JSON text. */
char *th_authn_registration(const th_authn_t *a, const char *challenge, const char *origin);

/* A login body ({"credential"}): an assertion over challenge with the given
 * signature counter; malloc'd JSON text. */
char *th_authn_assertion(const th_authn_t *a, const char *challenge, const char *origin,
                         uint32_t counter);

#endif
