/* SPDX-License-Identifier: MIT */
/* push_crypto.h -- Web Push cryptography on OpenSSL 3: RFC 8291 message
 * encryption (the RFC 8188 `aes128gcm` content coding, one record) and
 * RFC 8292 VAPID (an ES256 JWT with the raw 64-byte R||S signature). Pure:
 * no I/O, no global state; any thread. */
#ifndef PL_PUSH_PUSH_CRYPTO_H
#define PL_PUSH_PUSH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define PL_PUSH_PUBKEY_LEN 65  /* uncompressed P-256 point: 0x04 || X || Y */
#define PL_PUSH_PRIVKEY_LEN 32 /* P-256 scalar, big endian */
#define PL_PUSH_AUTH_LEN 16    /* RFC 8291 3.2: the auth secret */
#define PL_PUSH_SALT_LEN 16
/* RFC 8188 2.1 header: salt (16), rs (4), idlen (1), keyid = the
 * application server's public key (65). */
#define PL_PUSH_HEADER_LEN 86
#define PL_PUSH_TAG_LEN 16
#define PL_PUSH_RECORD_SIZE 4096
/* One record holds the plaintext, the 0x02 delimiter and the tag. Push
 * services accept at least 4096 bytes of body (RFC 8030 7.2). */
#define PL_PUSH_PLAINTEXT_MAX (PL_PUSH_RECORD_SIZE - PL_PUSH_HEADER_LEN - PL_PUSH_TAG_LEN - 1)
#define PL_PUSH_JWT_MAX 1024

/** Base64url without padding (RFC 4648 5) of in[0..len) into out (cap
 * bytes, NUL-terminated). Returns the text length, or 0 when out is too
 * small (cap < 4 * ceil(len / 3) + 1 suffices). */
size_t pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/** Decodes base64url, padded or not ('+' and '/' are accepted too: some
 * browsers' toJSON gave standard base64). Returns 0 and *outlen, or
 * PL_EINVAL (a byte outside the alphabet, a bad length, non-zero trailing
 * bits) or PL_ETOOBIG (more than cap bytes). */
int pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/** Checks a raw public key: 65 bytes, uncompressed, on P-256. 0 or PL_EINVAL. */
int pl_push_pubkey_check(const uint8_t pub[PL_PUSH_PUBKEY_LEN]);

/** Encrypts pt for a subscription (RFC 8291 3.4 and 4): ECDH with
 * ua_pub, the auth secret, a fresh salt and application server key pair.
 * as_priv and salt are for the RFC's test vector only: NULL makes them
 * fresh (they must be fresh for every message). On success *out is a
 * malloc'd body (header + one record; free()) of *outlen bytes. Returns 0,
 * PL_EINVAL (a bad key), PL_ETOOBIG (ptlen > PL_PUSH_PLAINTEXT_MAX) or
 * PL_EIO (OpenSSL failed). */
int pl_push_encrypt(const uint8_t ua_pub[PL_PUSH_PUBKEY_LEN], const uint8_t auth[PL_PUSH_AUTH_LEN],
                    const uint8_t *pt, size_t ptlen, const uint8_t *as_priv, const uint8_t *salt,
                    uint8_t **out, size_t *outlen);

/** A fresh P-256 key pair (the VAPID keys). 0 or PL_EIO. */
int pl_push_keygen(uint8_t priv[PL_PUSH_PRIVKEY_LEN], uint8_t pub[PL_PUSH_PUBKEY_LEN]);
/** The public key of a private scalar. 0, PL_EINVAL (not a valid scalar)
 * or PL_EIO. */
int pl_push_pubkey_of(const uint8_t priv[PL_PUSH_PRIVKEY_LEN], uint8_t pub[PL_PUSH_PUBKEY_LEN]);

/** The RFC 8292 JWT: header {"typ":"JWT","alg":"ES256"}, claims {"aud":
 * aud (the endpoint's origin), "exp": exp_s (seconds; the caller keeps it
 * within 24 h of now), "sub": sub (mailto: or https: contact)}, signed with
 * ES256 as JWS wants it: the raw 64-byte R||S, not DER (RFC 7518 3.4).
 * Writes the NUL-terminated token into out (PL_PUSH_JWT_MAX bytes).
 * Returns 0, PL_EINVAL (aud or sub not plain printable ASCII without quotes
 * or backslashes, or too long) or PL_EIO. */
int pl_push_vapid_jwt(const uint8_t priv[PL_PUSH_PRIVKEY_LEN], const char *aud, const char *sub,
                      int64_t exp_s, char out[PL_PUSH_JWT_MAX]);

/** Verifies an ES256 JWS (header.claims.signature with a raw R||S) with a
 * raw public key: 0 when the signature is good, PL_EINVAL otherwise. For
 * tests and for the shape check of a token made here. */
int pl_push_jwt_verify(const char *jwt, const uint8_t pub[PL_PUSH_PUBKEY_LEN]);

#endif
