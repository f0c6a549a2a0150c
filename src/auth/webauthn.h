/* SPDX-License-Identifier: MIT */
/* webauthn.h -- passkeys: verification of WebAuthn registrations
 * (attestationObject + clientDataJSON) and assertions (authenticatorData +
 * clientDataJSON + signature). Pure: no I/O, no clock, no global state; the
 * caller passes what it expects (rpId, origins, challenge) and what it stored
 * (the COSE public key and the sign counter).
 *
 * libcbor decodes the attestation object and COSE keys; libfido2 imports the
 * keys (es256 / eddsa / rs256) and verifies assertion signatures
 * (fido_assert_verify); Parley itself checks clientDataJSON (type, challenge,
 * origin), the rpIdHash, the UP/UV flags and the sign counter.
 *
 * Spec references are to W3C WebAuthn Level 2: 6.1 (authenticator data),
 * 7.1 (registration), 7.2 (assertion), 8.7 ("none" attestation).
 * Thread: any; every call is independent. */
#ifndef PL_AUTH_WEBAUTHN_H
#define PL_AUTH_WEBAUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes a client can influence are capped before anything is decoded. */
#define PL_WEBAUTHN_CRED_ID_MAX 1023 /* 6.1: credentialIdLength is at most 1023 */
#define PL_WEBAUTHN_COSE_MAX 1024    /* an RSA-2048 COSE key is 272 bytes */
#define PL_WEBAUTHN_CLIENT_DATA_MAX 4096
#define PL_WEBAUTHN_ATTESTATION_MAX 16384
#define PL_WEBAUTHN_AUTH_DATA_MAX 4096
#define PL_WEBAUTHN_SIG_MAX 1024
#define PL_WEBAUTHN_CHALLENGE_LEN 32

/* COSE algorithm identifiers (RFC 8152 / IANA) that Parley accepts. */
#define PL_COSE_ES256 (-7)
#define PL_COSE_EDDSA (-8)
#define PL_COSE_RS256 (-257)

/* authenticatorData flags (6.1). */
#define PL_WEBAUTHN_FLAG_UP 0x01
#define PL_WEBAUTHN_FLAG_UV 0x04
#define PL_WEBAUTHN_FLAG_AT 0x40
#define PL_WEBAUTHN_FLAG_ED 0x80

/** Verification errors: negative, stable; pl_webauthn_code() names them. */
enum {
    PL_WA_OK = 0,
    PL_WA_EMALFORMED = -1,    /* not decodable: CBOR, authData or JSON structure, base64url */
    PL_WA_ETOOBIG = -2,       /* a field over its cap */
    PL_WA_EFORMAT = -3,       /* attestation fmt not supported (only "none") */
    PL_WA_ETYPE = -4,         /* clientDataJSON type is not the expected one */
    PL_WA_ECHALLENGE = -5,    /* clientDataJSON challenge differs */
    PL_WA_EORIGIN = -6,       /* clientDataJSON origin not allowed, or crossOrigin true */
    PL_WA_ERPID = -7,         /* rpIdHash is not SHA-256(rp_id) */
    PL_WA_EUP = -8,           /* user presence flag missing */
    PL_WA_EUV = -9,           /* user verification required but not done */
    PL_WA_EKEY = -10,         /* COSE key unsupported or invalid */
    PL_WA_ESIGNATURE = -11,   /* signature does not verify */
    PL_WA_ECOUNTER = -12,     /* sign counter did not increase: a cloned authenticator? */
    PL_WA_ENOCREDENTIAL = -13 /* registration without attested credential data */
};

/** Static snake_case name of a PL_WA_* code ("malformed", "counter", ...). */
const char *pl_webauthn_code(int err);

/** What the relying party expects; everything borrowed. */
typedef struct {
    const char *rp_id;          /* a host name, no scheme or port */
    const char *const *origins; /* allowed clientDataJSON origins, exact match */
    size_t norigins;
    const unsigned char *challenge; /* the raw challenge bytes the server issued */
    size_t challenge_len;
    bool require_uv; /* refuse when the UV flag is clear */
} pl_webauthn_expect_t;

/** Parsed authenticatorData (6.1). Pointers borrow the input buffer. */
typedef struct {
    unsigned char rp_id_hash[32];
    uint8_t flags;
    uint32_t sign_count;
    /* attested credential data, when flags has AT */
    unsigned char aaguid[16];
    const unsigned char *cred_id;
    size_t cred_id_len;
    const unsigned char *cose_key; /* one CBOR map */
    size_t cose_key_len;
} pl_webauthn_authdata_t;

/** Parses authenticatorData: 37 fixed bytes, then attested credential data
 * if AT, then one extensions map if ED; anything after that is refused.
 * Returns PL_WA_OK, PL_WA_EMALFORMED or PL_WA_ETOOBIG. */
int pl_webauthn_parse_authdata(const unsigned char *p, size_t len, pl_webauthn_authdata_t *out);

/** A public key in the form libfido2 imports (es256: x||y, eddsa: 32 bytes,
 * rs256: n||e with a 256-byte n and 3-byte e). */
typedef struct {
    int alg; /* PL_COSE_* */
    unsigned char raw[259];
    size_t raw_len;
} pl_webauthn_pubkey_t;

/** Decodes a COSE_Key (RFC 8152 13) of exactly len bytes: EC2 P-256 with
 * ES256, OKP Ed25519 with EdDSA, or RSA-2048 (e up to 3 bytes) with RS256.
 * Returns PL_WA_OK, PL_WA_EMALFORMED or PL_WA_EKEY. */
int pl_webauthn_cose_parse(const unsigned char *p, size_t len, pl_webauthn_pubkey_t *out);

/** Checks clientDataJSON (5.8.1): a JSON object whose "type" is type,
 * "challenge" (base64url, no padding) decodes to x->challenge, "origin" is
 * one of x->origins, and "crossOrigin" is absent or false. */
int pl_webauthn_check_client_data(const unsigned char *json, size_t len, const char *type,
                                  const pl_webauthn_expect_t *x);

/** The challenge a clientDataJSON names, decoded, when it is exactly
 * PL_WEBAUTHN_CHALLENGE_LEN bytes (what parleyd issues): lets a server find
 * the challenge it issued before verifying. PL_WA_OK, PL_WA_ETOOBIG,
 * PL_WA_EMALFORMED or PL_WA_ECHALLENGE. */
int pl_webauthn_client_data_challenge(const unsigned char *json, size_t len,
                                      unsigned char out[PL_WEBAUTHN_CHALLENGE_LEN]);

/** What a verified registration yields: store cred_id, cose_key, alg and
 * sign_count. */
typedef struct {
    unsigned char cred_id[PL_WEBAUTHN_CRED_ID_MAX];
    size_t cred_id_len;
    unsigned char cose_key[PL_WEBAUTHN_COSE_MAX];
    size_t cose_key_len;
    int alg;
    uint32_t sign_count;
    uint8_t flags;
    unsigned char aaguid[16];
} pl_webauthn_cred_t;

/** Verifies a registration (7.1): clientDataJSON of type "webauthn.create",
 * the attestation object (a CBOR map of fmt, attStmt, authData; fmt "none"
 * with an empty attStmt), rpIdHash, UP (and UV if required), attested
 * credential data with a key libfido2 can import. Fills *out on PL_WA_OK. */
int pl_webauthn_register_verify(const pl_webauthn_expect_t *x, const unsigned char *client_data,
                                size_t client_data_len, const unsigned char *att_obj,
                                size_t att_obj_len, pl_webauthn_cred_t *out);

/** Verifies an assertion (7.2) against a stored credential: clientDataJSON
 * of type "webauthn.get", rpIdHash, UP (and UV if required), the signature
 * over authenticatorData || SHA-256(clientDataJSON) with the stored COSE key
 * (libfido2), and the sign counter: when the new or the stored counter is
 * non-zero, the new one must be greater (else PL_WA_ECOUNTER, checked after
 * the signature so only the real authenticator's data can report a clone).
 * *new_count receives the authenticator's counter on PL_WA_OK. */
int pl_webauthn_assert_verify(const pl_webauthn_expect_t *x, const unsigned char *cose_key,
                              size_t cose_key_len, uint32_t stored_count,
                              const unsigned char *client_data, size_t client_data_len,
                              const unsigned char *auth_data, size_t auth_data_len,
                              const unsigned char *sig, size_t sig_len, uint32_t *new_count);

#endif
