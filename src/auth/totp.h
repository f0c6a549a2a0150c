/* SPDX-License-Identifier: MIT */
/* totp.h -- TOTP (RFC 6238) second factor over liboath, recovery codes, and
 * the otpauth:// URI with its QR code as SVG (libqrencode). Pure: no I/O,
 * no libuv, no store; the caller passes the clock and keeps the state (the
 * last step used, the code hashes).
 *
 * Parley's TOTP: HMAC-SHA-1, 30 s steps from the Unix epoch, 6 digits (what
 * every authenticator app does by default), accepted one step either side of
 * now (clock skew), and single use: a code is accepted only for a step later
 * than the last step that verified, so a code that worked once is refused for
 * the rest of its window (RFC 6238 5.2). */
#ifndef PL_AUTH_TOTP_H
#define PL_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_TOTP_SECRET_BYTES 20 /* 160 bits, RFC 4226 4's recommendation */
#define PL_TOTP_B32_MAX 40      /* base32 of the secret: 32 characters, no padding */
#define PL_TOTP_STEP_S 30
#define PL_TOTP_DIGITS 6
#define PL_TOTP_WINDOW 1 /* steps accepted either side of now */

#define PL_RECOVERY_CODES 10      /* codes issued at a time */
#define PL_RECOVERY_CODE_TEXT 15  /* "xxxx-xxxx-xxxx" and its NUL */
#define PL_RECOVERY_SALT_BYTES 16 /* per user */

/** Initialises liboath once (idempotent, not thread-safe: call at startup,
 * before threads use it). Returns 0 or PL_EIO. */
int pl_totp_global_init(void);

/** A fresh random secret. */
void pl_totp_secret_new(uint8_t secret[PL_TOTP_SECRET_BYTES]);

/** Base32 (RFC 4648, no padding) of secret into out (>= PL_TOTP_B32_MAX + 1
 * bytes). Returns 0, or PL_EINVAL for a secret longer than 25 bytes. */
int pl_totp_base32(const uint8_t *secret, size_t len, char *out);

/** The code for Unix time now_s with `digits` digits (6..8), SHA-1, 30 s
 * steps, into out (>= 9 bytes). Returns 0 or PL_EINVAL. (RFC 6238's test
 * vectors use 8 digits; Parley uses PL_TOTP_DIGITS.) */
int pl_totp_code(const uint8_t *secret, size_t len, int64_t now_s, unsigned digits, char *out);

/** The step (counter) of Unix time t. */
int64_t pl_totp_step(int64_t t);

/** Normalises a code typed by a person: blanks dropped, then exactly
 * PL_TOTP_DIGITS digits. Writes out (>= PL_TOTP_DIGITS + 1) and returns
 * true, or false when it is not a code. */
bool pl_totp_parse(const char *in, char out[PL_TOTP_DIGITS + 1]);

/** Verifies code (raw user input) against secret at now_s: accepted for a
 * step within PL_TOTP_WINDOW of now that is later than last_step (the last
 * step that verified for this secret; 0 for none). Every step of the window
 * is computed and compared in constant time. Returns true and writes the
 * step that matched into *step (the caller stores it as the new last_step),
 * false otherwise. */
bool pl_totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s,
                    int64_t last_step, int64_t *step);

#define PL_TOTP_KEY_BYTES 32  /* totp_secret_key */
#define PL_TOTP_STORED_MAX 64 /* stored form of a secret, sealed or not */

/** The stored form of secret (len <= 32): with key (PL_TOTP_KEY_BYTES, may
 * be NULL) 'S', a random 24-byte nonce and the secret sealed with
 * XSalsa20-Poly1305 (crypto_secretbox; 61 bytes for 20); without a key the
 * secret as is. Returns the bytes written to out. */
size_t pl_totp_seal(const uint8_t *key, const uint8_t *secret, size_t len,
                    uint8_t out[PL_TOTP_STORED_MAX]);

/** Reverses pl_totp_seal into out (>= 32 bytes) and returns the secret's
 * length, or 0 when it cannot: a sealed form without the key, with another
 * key, or altered. A plain form (not starting with 'S' and 61 bytes) is
 * returned as is, key or not, so secrets stored before a key was set keep
 * working. */
size_t pl_totp_open(const uint8_t *key, const uint8_t *stored, size_t len, uint8_t out[32]);

/** The otpauth:// URI an authenticator app scans: issuer and account name
 * are percent-encoded. Returns a malloc'd string (free()). */
char *pl_totp_uri(const char *issuer, const char *account, const char *secret_b32);

/** The QR code of text as an SVG document (black modules on white, a quiet
 * zone of 4 modules, scalable). Returns a malloc'd string (free()), or NULL
 * if text does not fit a QR code. */
char *pl_qr_svg(const char *text);

/** A fresh recovery code "xxxx-xxxx-xxxx" of 12 base32 characters (60
 * random bits) into out. */
void pl_recovery_code_new(char out[PL_RECOVERY_CODE_TEXT]);

/** The stored form of a recovery code typed by a person (case, blanks and
 * dashes ignored): BLAKE2b-256 keyed with the user's salt. Returns false
 * when the input cannot be a recovery code. Why not Argon2id: the codes
 * carry 60 random bits, so a fast keyed hash already makes an offline search
 * of a leaked table cost ~2^59 hashes per code per user, and a slow hash
 * would let ten wrong codes cost ten Argon2id runs on the login path. */
bool pl_recovery_code_hash(const char *code, const uint8_t salt[PL_RECOVERY_SALT_BYTES],
                           uint8_t out[32]);

#endif
