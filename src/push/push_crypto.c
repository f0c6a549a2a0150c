/* SPDX-License-Identifier: MIT */
/* push_crypto.c -- RFC 8291 message encryption and RFC 8292 VAPID tokens on
 * OpenSSL 3's EVP interface. No I/O. */
#include "push/push_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
    if (cap < need + 1)
        return 0;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

int pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    /* Padding: up to two '=' at the end, only where a group is short. */
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
        return PL_EINVAL;
    size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    if (n > cap)
        return PL_ETOOBIG;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return PL_EINVAL;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* RFC 4648 3.5: the bits left over must be zero (one text, one value). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return PL_EINVAL;
    *outlen = o;
    return 0;
}

/* ---- keys ---- */

static EVP_PKEY *key_from_raw(const uint8_t *pub, const uint8_t *priv)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *d = NULL;
    OSSL_PARAM *params = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL)
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, PL_PUSH_PUBKEY_LEN))
        goto out;
    if (priv != NULL) {
        d = BN_bin2bn(priv, PL_PUSH_PRIVKEY_LEN, NULL);
        if (d == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
            goto out;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    return pkey;
}

/* A peer's public key, checked to lie on the curve (fromdata alone does not
 * check, and ECDH with an invalid point leaks the private key). */
static EVP_PKEY *peer_key(const uint8_t pub[PL_PUSH_PUBKEY_LEN])
{
    if (pub[0] != 0x04)
        return NULL;
    EVP_PKEY *k = key_from_raw(pub, NULL);
    if (k == NULL)
        return NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    int ok = c != NULL && EVP_PKEY_public_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    if (!ok) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

int pl_push_pubkey_check(const uint8_t pub[PL_PUSH_PUBKEY_LEN])
{
    EVP_PKEY *k = peer_key(pub);
    EVP_PKEY_free(k);
    return k != NULL ? 0 : PL_EINVAL;
}

int pl_push_pubkey_of(const uint8_t priv[PL_PUSH_PRIVKEY_LEN], uint8_t pub[PL_PUSH_PUBKEY_LEN])
{
    int rc = PL_EIO;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *d = BN_bin2bn(priv, PL_PUSH_PRIVKEY_LEN, NULL);
    EC_POINT *p = g != NULL ? EC_POINT_new(g) : NULL;
    if (g == NULL || d == NULL || p == NULL)
        goto out;
    /* 0 < d < n */
    if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
        rc = PL_EINVAL;
        goto out;
    }
    if (EC_POINT_mul(g, p, d, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, PL_PUSH_PUBKEY_LEN, NULL) !=
            PL_PUSH_PUBKEY_LEN)
        goto out;
    rc = 0;
out:
    EC_POINT_free(p);
    BN_clear_free(d);
    EC_GROUP_free(g);
    return rc;
}

int pl_push_keygen(uint8_t priv[PL_PUSH_PRIVKEY_LEN], uint8_t pub[PL_PUSH_PUBKEY_LEN])
{
    int rc = PL_EIO;
    BIGNUM *d = NULL;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL || EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, priv, PL_PUSH_PRIVKEY_LEN) != PL_PUSH_PRIVKEY_LEN)
        goto out;
    rc = pl_push_pubkey_of(priv, pub);
out:
    BN_clear_free(d);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- RFC 8291 ---- */

/* HKDF-SHA-256 (RFC 5869), extract then expand. */
static int hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (c == NULL)
        return PL_EIO;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(c, out, outlen, p) == 1;
    EVP_KDF_CTX_free(c);
    return ok ? 0 : PL_EIO;
}

static int ecdh(EVP_PKEY *mine, EVP_PKEY *peer, uint8_t secret[32])
{
    size_t n = 32;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    int ok = c != NULL && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
             EVP_PKEY_derive(c, secret, &n) == 1 && n == 32;
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : PL_EIO;
}

static int aes128gcm(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *in, size_t len,
                     uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    int ok = c != NULL && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce) == 1 &&
             EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 &&
             EVP_EncryptFinal_ex(c, out + n, &m) == 1 && (size_t)(n + m) == len &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, PL_PUSH_TAG_LEN, out + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : PL_EIO;
}

int pl_push_encrypt(const uint8_t ua_pub[PL_PUSH_PUBKEY_LEN], const uint8_t auth[PL_PUSH_AUTH_LEN],
                    const uint8_t *pt, size_t ptlen, const uint8_t *as_priv, const uint8_t *salt,
                    uint8_t **out, size_t *outlen)
{
    if (ptlen > PL_PUSH_PLAINTEXT_MAX)
        return PL_ETOOBIG;
    int rc = PL_EIO;
    uint8_t priv[PL_PUSH_PRIVKEY_LEN], as_pub[PL_PUSH_PUBKEY_LEN], s[PL_PUSH_SALT_LEN];
    uint8_t secret[32], ikm[32], cek[16], nonce[12];
    uint8_t *rec = NULL, *body = NULL;
    EVP_PKEY *mine = NULL, *peer = peer_key(ua_pub);
    if (peer == NULL)
        return PL_EINVAL;
    if (as_priv != NULL) {
        memcpy(priv, as_priv, sizeof priv);
        if ((rc = pl_push_pubkey_of(priv, as_pub)) != 0)
            goto out;
        rc = PL_EIO;
    } else if (pl_push_keygen(priv, as_pub) != 0) {
        goto out;
    }
    if (salt != NULL)
        memcpy(s, salt, sizeof s);
    else if (RAND_bytes(s, sizeof s) != 1)
        goto out;
    if ((mine = key_from_raw(as_pub, priv)) == NULL || ecdh(mine, peer, secret) != 0)
        goto out;
    /* RFC 8291 3.4: IKM = HKDF(auth, ecdh_secret, "WebPush: info" 0x00
     * ua_public as_public, 32). */
    static const char winfo[] = "WebPush: info";
    uint8_t key_info[sizeof winfo + 2 * PL_PUSH_PUBKEY_LEN];
    memcpy(key_info, winfo, sizeof winfo); /* with its NUL: the 0x00 */
    memcpy(key_info + sizeof winfo, ua_pub, PL_PUSH_PUBKEY_LEN);
    memcpy(key_info + sizeof winfo + PL_PUSH_PUBKEY_LEN, as_pub, PL_PUSH_PUBKEY_LEN);
    static const char cek_info[] = "Content-Encoding: aes128gcm";
    static const char nonce_info[] = "Content-Encoding: nonce";
    if (hkdf(auth, PL_PUSH_AUTH_LEN, secret, sizeof secret, key_info, sizeof key_info, ikm,
             sizeof ikm) != 0 ||
        hkdf(s, sizeof s, ikm, sizeof ikm, (const uint8_t *)cek_info, sizeof cek_info, cek,
             sizeof cek) != 0 ||
        hkdf(s, sizeof s, ikm, sizeof ikm, (const uint8_t *)nonce_info, sizeof nonce_info, nonce,
             sizeof nonce) != 0)
        goto out;
    /* RFC 8188 2: the last (only) record ends with the delimiter 0x02 and
     * no padding. */
    rec = malloc(ptlen + 1);
    size_t total = PL_PUSH_HEADER_LEN + ptlen + 1 + PL_PUSH_TAG_LEN;
    body = malloc(total);
    if (rec == NULL || body == NULL)
        goto out;
    if (ptlen > 0)
        memcpy(rec, pt, ptlen);
    rec[ptlen] = 0x02;
    memcpy(body, s, PL_PUSH_SALT_LEN);
    body[16] = PL_PUSH_RECORD_SIZE >> 24 & 0xff;
    body[17] = PL_PUSH_RECORD_SIZE >> 16 & 0xff;
    body[18] = PL_PUSH_RECORD_SIZE >> 8 & 0xff;
    body[19] = PL_PUSH_RECORD_SIZE & 0xff;
    body[20] = PL_PUSH_PUBKEY_LEN;
    memcpy(body + 21, as_pub, PL_PUSH_PUBKEY_LEN);
    if (aes128gcm(cek, nonce, rec, ptlen + 1, body + PL_PUSH_HEADER_LEN) != 0)
        goto out;
    *out = body;
    *outlen = total;
    body = NULL;
    rc = 0;
out:
    OPENSSL_cleanse(priv, sizeof priv);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(ikm, sizeof ikm);
    OPENSSL_cleanse(cek, sizeof cek);
    free(rec);
    free(body);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(peer);
    return rc;
}

/* ---- RFC 8292 ---- */

static bool claim_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

int pl_push_vapid_jwt(const uint8_t priv[PL_PUSH_PRIVKEY_LEN], const char *aud, const char *sub,
                      int64_t exp_s, char out[PL_PUSH_JWT_MAX])
{
    if (!claim_ok(aud, 300) || !claim_ok(sub, 200) || exp_s <= 0)
        return PL_EINVAL;
    static const char hdr[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
    char claims[600];
    int cn = snprintf(claims, sizeof claims, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", aud,
                      (long long)exp_s, sub);
    if (cn < 0 || (size_t)cn >= sizeof claims)
        return PL_EINVAL;
    size_t o = pl_b64url_encode((const uint8_t *)hdr, sizeof hdr - 1, out, PL_PUSH_JWT_MAX);
    out[o++] = '.';
    size_t c = pl_b64url_encode((const uint8_t *)claims, (size_t)cn, out + o, PL_PUSH_JWT_MAX - o);
    if (c == 0)
        return PL_EINVAL;
    o += c;
    size_t signed_len = o;

    int rc = PL_EIO;
    uint8_t pub[PL_PUSH_PUBKEY_LEN], der[80], raw[64];
    size_t derlen = sizeof der;
    EVP_PKEY *k = NULL;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = NULL;
    if ((rc = pl_push_pubkey_of(priv, pub)) != 0)
        return rc;
    rc = PL_EIO;
    if ((k = key_from_raw(pub, priv)) == NULL || (md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) != 1 ||
        EVP_DigestSign(md, der, &derlen, (const uint8_t *)out, signed_len) != 1)
        goto out;
    /* JWS wants R || S, 32 bytes each (RFC 7518 3.4); OpenSSL gives DER. */
    const uint8_t *p = der;
    const BIGNUM *r, *s;
    if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
        goto out;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto out;
    out[o++] = '.';
    if (pl_b64url_encode(raw, sizeof raw, out + o, PL_PUSH_JWT_MAX - o) == 0)
        goto out;
    rc = 0;
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

int pl_push_jwt_verify(const char *jwt, const uint8_t pub[PL_PUSH_PUBKEY_LEN])
{
    const char *dot = strrchr(jwt, '.');
    if (dot == NULL || dot == jwt)
        return PL_EINVAL;
    uint8_t raw[64], der[80];
    size_t rawlen = 0;
    if (pl_b64url_decode(dot + 1, strlen(dot + 1), raw, sizeof raw, &rawlen) != 0 || rawlen != 64)
        return PL_EINVAL;
    int rc = PL_EINVAL;
    EVP_PKEY *k = peer_key(pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    if (k == NULL || md == NULL || sig == NULL || r == NULL || s == NULL)
        goto out;
    if (ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by sig */
    uint8_t *dp = der;
    int dl = i2d_ECDSA_SIG(sig, NULL);
    if (dl <= 0 || (size_t)dl > sizeof der || i2d_ECDSA_SIG(sig, &dp) != dl)
        goto out;
    if (EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) == 1 &&
        EVP_DigestVerify(md, der, (size_t)dl, (const uint8_t *)jwt, (size_t)(dot - jwt)) == 1)
        rc = 0;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}
