/* SPDX-License-Identifier: MIT */
/* webauthn_soft.c -- a software WebAuthn authenticator (Ed25519, "none"
 * attestation, rpId "localhost") for the passkey tests (webauthn_soft.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webauthn_soft.h"

void th_authn_new(th_authn_t *a)
{
    crypto_sign_keypair(a->pk, a->sk);
    randombytes_buf(a->id, sizeof a->id);
    a->counter = 1;
}

static char *b64u(const unsigned char *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return s;
}

/* rpIdHash, flags, counter: the 37 bytes every authData starts with. */
static size_t authdata_head(unsigned char *out, uint8_t flags, uint32_t counter)
{
    crypto_hash_sha256(out, (const unsigned char *)"localhost", 9);
    out[32] = flags;
    out[33] = (unsigned char)(counter >> 24), out[34] = (unsigned char)(counter >> 16);
    out[35] = (unsigned char)(counter >> 8), out[36] = (unsigned char)counter;
    return 37;
}

static char *client_data(const char *type, const char *challenge, const char *origin)
{
    char buf[512];
    snprintf(buf, sizeof buf, "{\"type\":\"%s\",\"challenge\":\"%s\",\"origin\":\"%s\"}", type,
             challenge, origin);
    return b64u((const unsigned char *)buf, strlen(buf));
}

/* The registration body for challenge (base64url, from the options). */
char *th_authn_registration(const th_authn_t *a, const char *challenge, const char *origin)
{
    unsigned char ad[256];
    size_t n = authdata_head(ad, 0x45 /* UP UV AT */, 0);
    memset(ad + n, 0, 16); /* aaguid */
    n += 16;
    ad[n++] = 0, ad[n++] = sizeof a->id;
    memcpy(ad + n, a->id, sizeof a->id);
    n += sizeof a->id;
    /* COSE_Key {1: 1 (OKP), 3: -8 (EdDSA), -1: 6 (Ed25519), -2: x} */
    static const unsigned char cose[] = {0xa4, 0x01, 0x01, 0x03, 0x27,
                                         0x20, 0x06, 0x21, 0x58, 0x20};
    memcpy(ad + n, cose, sizeof cose);
    n += sizeof cose;
    memcpy(ad + n, a->pk, 32);
    n += 32;
    unsigned char ao[512];
    static const unsigned char head[] = {0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n',  'e',
                                         0x67, 'a',  't', 't', 'S', 't',  'm', 't', 0xa0, 0x68,
                                         'a',  'u',  't', 'h', 'D', 'a',  't', 'a', 0x58};
    memcpy(ao, head, sizeof head);
    size_t m = sizeof head;
    ao[m++] = (unsigned char)n;
    memcpy(ao + m, ad, n);
    m += n;
    char *id = b64u(a->id, sizeof a->id), *aob = b64u(ao, m);
    char *cd = client_data("webauthn.create", challenge, origin);
    json_t *body = json_pack("{s:s,s:{s:s,s:s,s:s,s:{s:s,s:s}}}", "name", "test key", "credential",
                             "id", id, "rawId", id, "type", "public-key", "response",
                             "clientDataJSON", cd, "attestationObject", aob);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(id), free(aob), free(cd);
    return text;
}

/* A login body: an assertion over challenge with the given counter. */
char *th_authn_assertion(const th_authn_t *a, const char *challenge, const char *origin,
                         uint32_t counter)
{
    unsigned char ad[64];
    size_t n = authdata_head(ad, 0x05 /* UP UV */, counter);
    char *cd = client_data("webauthn.get", challenge, origin);
    unsigned char raw_cd[512], msg[64 + 32], sig[crypto_sign_BYTES];
    size_t cd_len;
    assert_int_equal(0, sodium_base642bin(raw_cd, sizeof raw_cd, cd, strlen(cd), NULL, &cd_len,
                                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    memcpy(msg, ad, n);
    crypto_hash_sha256(msg + n, raw_cd, cd_len);
    crypto_sign_detached(sig, NULL, msg, n + 32, a->sk);
    char *id = b64u(a->id, sizeof a->id), *adb = b64u(ad, n), *sigb = b64u(sig, sizeof sig);
    json_t *body =
        json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "credential", "id", id, "type", "public-key",
                  "response", "clientDataJSON", cd, "authenticatorData", adb, "signature", sigb);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(id), free(adb), free(sigb), free(cd);
    return text;
}
