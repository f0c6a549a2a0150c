/* SPDX-License-Identifier: MIT */
/* webauthn.c -- passkey registration and assertion verification. No I/O. */
#include "auth/webauthn.h"

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

const char *pl_webauthn_code(int err)
{
    switch (err) {
    case PL_WA_OK:
        return "ok";
    case PL_WA_EMALFORMED:
        return "malformed";
    case PL_WA_ETOOBIG:
        return "too_large";
    case PL_WA_EFORMAT:
        return "unsupported_attestation";
    case PL_WA_ETYPE:
        return "wrong_type";
    case PL_WA_ECHALLENGE:
        return "wrong_challenge";
    case PL_WA_EORIGIN:
        return "wrong_origin";
    case PL_WA_ERPID:
        return "wrong_rp_id";
    case PL_WA_EUP:
        return "user_not_present";
    case PL_WA_EUV:
        return "user_not_verified";
    case PL_WA_EKEY:
        return "unsupported_key";
    case PL_WA_ESIGNATURE:
        return "bad_signature";
    case PL_WA_ECOUNTER:
        return "counter_regressed";
    case PL_WA_ENOCREDENTIAL:
        return "no_credential";
    default:
        return "unknown";
    }
}

/* ---- a bounded walk over one CBOR item ----
 * libcbor's cbor_load allocates an array or map of the size its header
 * claims before it reads the elements, so a 9-byte header could ask for
 * gigabytes. The walk runs first, over headers only (cbor_stream_decode):
 * it finds where the first item ends, refuses nesting deeper than WALK_DEPTH
 * (WebAuthn structures are 4 deep) and refuses a total of claimed elements
 * greater than the bytes left, which no well-formed item can have (every
 * element takes at least one byte). */

#define WALK_DEPTH 16

typedef struct {
    int depth;
    uint64_t need[WALK_DEPTH]; /* elements left in each open container; 0 = indefinite */
    size_t claimed, budget;    /* elements claimed so far; bytes of input */
    bool done, bad;
} walk_t;

static void walk_item_done(walk_t *w)
{
    while (w->depth > 0) {
        uint64_t *n = &w->need[w->depth - 1];
        if (*n == 0) /* indefinite: ends at its break */
            return;
        if (--*n > 0)
            return;
        w->depth--; /* the container is complete: it is an item of its parent */
    }
    w->done = true;
}

static void walk_open(walk_t *w, uint64_t elems, bool indefinite)
{
    if (!indefinite && elems == 0) {
        walk_item_done(w);
        return;
    }
    if (w->depth == WALK_DEPTH || elems > w->budget - w->claimed) {
        w->bad = true;
        return;
    }
    w->claimed += (size_t)elems;
    w->need[w->depth++] = indefinite ? 0 : elems;
}

static void walk_u8(void *c, uint8_t v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_u16(void *c, uint16_t v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_u32(void *c, uint32_t v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_u64(void *c, uint64_t v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_str(void *c, cbor_data d, size_t n)
{
    (void)d, (void)n;
    walk_item_done(c);
}
static void walk_leaf(void *c)
{
    walk_item_done(c);
}
static void walk_f(void *c, float v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_d(void *c, double v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_b(void *c, bool v)
{
    (void)v;
    walk_item_done(c);
}
static void walk_indef(void *c)
{
    walk_open(c, 0, true);
}
static void walk_array(void *c, size_t n)
{
    walk_open(c, n, false);
}
static void walk_map(void *c, size_t n)
{
    walk_t *w = c;
    if (n > SIZE_MAX / 2) {
        w->bad = true;
        return;
    }
    walk_open(c, (uint64_t)n * 2, false);
}
static void walk_tag(void *c, uint64_t v)
{
    (void)v;
    walk_open(c, 1, false);
}
static void walk_break(void *c)
{
    walk_t *w = c;
    if (w->depth == 0 || w->need[w->depth - 1] != 0) {
        w->bad = true;
        return;
    }
    w->depth--;
    walk_item_done(w);
}

static const struct cbor_callbacks walk_cb = {
    .uint8 = walk_u8,
    .uint16 = walk_u16,
    .uint32 = walk_u32,
    .uint64 = walk_u64,
    .negint8 = walk_u8,
    .negint16 = walk_u16,
    .negint32 = walk_u32,
    .negint64 = walk_u64,
    .byte_string_start = walk_indef,
    .byte_string = walk_str,
    .string = walk_str,
    .string_start = walk_indef,
    .indef_array_start = walk_indef,
    .array_start = walk_array,
    .indef_map_start = walk_indef,
    .map_start = walk_map,
    .tag = walk_tag,
    .float2 = walk_f,
    .float4 = walk_f,
    .float8 = walk_d,
    .undefined = walk_leaf,
    .null = walk_leaf,
    .boolean = walk_b,
    .indef_break = walk_break,
};

/* Sets *used to the length of the CBOR item at the start of p. Returns
 * PL_WA_OK or PL_WA_EMALFORMED (truncated, invalid, too deep, or claiming
 * more elements than it could hold). */
static int cbor_item_len(const unsigned char *p, size_t len, size_t *used)
{
    walk_t w = {.budget = len};
    size_t off = 0;
    while (!w.done) {
        if (off >= len)
            return PL_WA_EMALFORMED;
        struct cbor_decoder_result r = cbor_stream_decode(p + off, len - off, &walk_cb, &w);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || w.bad)
            return PL_WA_EMALFORMED;
        off += r.read;
    }
    *used = off;
    return PL_WA_OK;
}

/* Decodes exactly len bytes as one CBOR item (NULL if that fails). Free
 * with cbor_decref. */
static cbor_item_t *cbor_decode_exact(const unsigned char *p, size_t len)
{
    size_t used;
    if (cbor_item_len(p, len, &used) != PL_WA_OK || used != len)
        return NULL;
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(p, len, &res);
    if (item != NULL && (res.error.code != CBOR_ERR_NONE || res.read != len)) {
        cbor_decref(&item);
        return NULL;
    }
    return item;
}

/* ---- authenticator data (6.1) ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pl_webauthn_parse_authdata(const unsigned char *p, size_t len, pl_webauthn_authdata_t *out)
{
    if (len > PL_WEBAUTHN_AUTH_DATA_MAX)
        return PL_WA_ETOOBIG;
    if (len < 37)
        return PL_WA_EMALFORMED;
    memset(out, 0, sizeof *out);
    memcpy(out->rp_id_hash, p, 32);
    out->flags = p[32];
    out->sign_count = be32(p + 33);
    size_t off = 37, used;
    if (out->flags & PL_WEBAUTHN_FLAG_AT) {
        if (len - off < 18)
            return PL_WA_EMALFORMED;
        memcpy(out->aaguid, p + off, 16);
        size_t idlen = (size_t)p[off + 16] << 8 | p[off + 17];
        off += 18;
        if (idlen > PL_WEBAUTHN_CRED_ID_MAX)
            return PL_WA_ETOOBIG;
        if (idlen == 0 || len - off < idlen)
            return PL_WA_EMALFORMED;
        out->cred_id = p + off;
        out->cred_id_len = idlen;
        off += idlen;
        if (cbor_item_len(p + off, len - off, &used) != PL_WA_OK)
            return PL_WA_EMALFORMED;
        if (used > PL_WEBAUTHN_COSE_MAX)
            return PL_WA_ETOOBIG;
        out->cose_key = p + off;
        out->cose_key_len = used;
        off += used;
    }
    if (out->flags & PL_WEBAUTHN_FLAG_ED) {
        if (cbor_item_len(p + off, len - off, &used) != PL_WA_OK)
            return PL_WA_EMALFORMED;
        off += used;
    }
    return off == len ? PL_WA_OK : PL_WA_EMALFORMED;
}

/* ---- COSE keys (RFC 8152 13, 13.1, 13.2; RFC 8230 for RSA) ---- */

/* A map key or value as an integer; false if it is not one (or too big). */
static bool cbor_int(const cbor_item_t *it, int64_t *v)
{
    if (cbor_isa_uint(it) && cbor_get_int(it) <= INT64_MAX) {
        *v = (int64_t)cbor_get_int(it);
        return true;
    }
    if (cbor_isa_negint(it) && cbor_get_int(it) < INT64_MAX) {
        *v = -1 - (int64_t)cbor_get_int(it);
        return true;
    }
    return false;
}

static bool cbor_bytes(const cbor_item_t *it, const unsigned char **p, size_t *n)
{
    if (!cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
        return false;
    *p = cbor_bytestring_handle(it);
    *n = cbor_bytestring_length(it);
    return true;
}

/* The COSE parameters Parley reads; labels 1 kty, 3 alg, -1 crv (or RSA n),
 * -2 x (or RSA e), -3 y. */
typedef struct {
    int64_t kty, alg, crv; /* 0 = absent */
    const unsigned char *m1, *m2, *m3;
    size_t m1_len, m2_len, m3_len;
    bool m1_int;
} cose_t;

static int cose_fields(const cbor_item_t *map, cose_t *c)
{
    struct cbor_pair *pairs = cbor_map_handle(map);
    size_t n = cbor_map_size(map);
    unsigned seen = 0;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        int64_t k, v;
        if (!cbor_int(pairs[i].key, &k))
            continue; /* text labels are allowed and unused */
        if (k >= -3 && k <= 3) {
            unsigned bit = 1u << (k + 3);
            if (seen & bit)
                return PL_WA_EMALFORMED; /* duplicate label */
            seen |= bit;
        }
        const cbor_item_t *val = pairs[i].value;
        if (k == 1 || k == 3) {
            if (!cbor_int(val, &v))
                return PL_WA_EMALFORMED;
            *(k == 1 ? &c->kty : &c->alg) = v;
        } else if (k == -1) {
            if (cbor_int(val, &v))
                c->crv = v, c->m1_int = true;
            else if (!cbor_bytes(val, &c->m1, &c->m1_len))
                return PL_WA_EMALFORMED;
        } else if (k == -2 && !cbor_bytes(val, &c->m2, &c->m2_len)) {
            return PL_WA_EMALFORMED;
        } else if (k == -3 && !cbor_bytes(val, &c->m3, &c->m3_len)) {
            return PL_WA_EMALFORMED;
        }
    }
    return PL_WA_OK;
}

/* Whether libfido2 accepts the raw key (an EC point off the curve, a bad
 * RSA modulus). */
static bool pubkey_importable(const pl_webauthn_pubkey_t *k)
{
    int rc = FIDO_ERR_INVALID_ARGUMENT;
    if (k->alg == PL_COSE_ES256) {
        es256_pk_t *pk = es256_pk_new();
        if (pk) {
            rc = es256_pk_from_ptr(pk, k->raw, k->raw_len);
            if (rc == FIDO_OK) {
                EVP_PKEY *e = es256_pk_to_EVP_PKEY(pk);
                rc = e ? FIDO_OK : FIDO_ERR_INVALID_ARGUMENT;
                EVP_PKEY_free(e);
            }
        }
        es256_pk_free(&pk);
    } else if (k->alg == PL_COSE_EDDSA) {
        eddsa_pk_t *pk = eddsa_pk_new();
        if (pk)
            rc = eddsa_pk_from_ptr(pk, k->raw, k->raw_len);
        eddsa_pk_free(&pk);
    } else if (k->alg == PL_COSE_RS256) {
        rs256_pk_t *pk = rs256_pk_new();
        if (pk) {
            rc = rs256_pk_from_ptr(pk, k->raw, k->raw_len);
            if (rc == FIDO_OK) {
                EVP_PKEY *e = rs256_pk_to_EVP_PKEY(pk);
                rc = e ? FIDO_OK : FIDO_ERR_INVALID_ARGUMENT;
                EVP_PKEY_free(e);
            }
        }
        rs256_pk_free(&pk);
    }
    return rc == FIDO_OK;
}

static int cose_to_raw(const cose_t *c, pl_webauthn_pubkey_t *out)
{
    out->alg = (int)c->alg;
    if (c->kty == 2 && c->alg == PL_COSE_ES256 && c->m1_int && c->crv == 1 && c->m2_len == 32 &&
        c->m3_len == 32) {
        memcpy(out->raw, c->m2, 32);
        memcpy(out->raw + 32, c->m3, 32);
        out->raw_len = 64;
    } else if (c->kty == 1 && c->alg == PL_COSE_EDDSA && c->m1_int && c->crv == 6 &&
               c->m2_len == 32 && c->m3 == NULL) {
        memcpy(out->raw, c->m2, 32);
        out->raw_len = 32;
    } else if (c->kty == 3 && c->alg == PL_COSE_RS256 && !c->m1_int && c->m1_len == 256 &&
               c->m2_len >= 1 && c->m2_len <= 3 && c->m3 == NULL) {
        /* rs256_pk_t is n (256 bytes) || e (3 bytes, big-endian). */
        memcpy(out->raw, c->m1, 256);
        memset(out->raw + 256, 0, 3);
        memcpy(out->raw + 256 + (3 - c->m2_len), c->m2, c->m2_len);
        out->raw_len = 259;
    } else {
        return PL_WA_EKEY;
    }
    return pubkey_importable(out) ? PL_WA_OK : PL_WA_EKEY;
}

int pl_webauthn_cose_parse(const unsigned char *p, size_t len, pl_webauthn_pubkey_t *out)
{
    if (len > PL_WEBAUTHN_COSE_MAX)
        return PL_WA_ETOOBIG;
    memset(out, 0, sizeof *out);
    cbor_item_t *map = cbor_decode_exact(p, len);
    if (map == NULL)
        return PL_WA_EMALFORMED;
    cose_t c;
    int rc = PL_WA_EMALFORMED;
    if (cbor_isa_map(map) && cbor_map_is_definite(map))
        rc = cose_fields(map, &c);
    if (rc == PL_WA_OK)
        rc = cose_to_raw(&c, out);
    cbor_decref(&map);
    return rc;
}

/* The base64url alphabet: browsers encode the challenge without padding. */
#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* ---- clientDataJSON (5.8.1, 7.1 steps 7-10, 7.2 steps 11-14) ---- */

static bool origin_allowed(const pl_webauthn_expect_t *x, const char *origin)
{
    for (size_t i = 0; i < x->norigins; i++)
        if (strcmp(x->origins[i], origin) == 0)
            return true;
    return false;
}

int pl_webauthn_check_client_data(const unsigned char *json, size_t len, const char *type,
                                  const pl_webauthn_expect_t *x)
{
    if (len > PL_WEBAUTHN_CLIENT_DATA_MAX)
        return PL_WA_ETOOBIG;
    json_t *o = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return PL_WA_EMALFORMED;
    }
    json_t *t = json_object_get(o, "type"), *ch = json_object_get(o, "challenge");
    json_t *org = json_object_get(o, "origin"), *cross = json_object_get(o, "crossOrigin");
    int rc = PL_WA_OK;
    unsigned char raw[PL_WEBAUTHN_CHALLENGE_LEN * 2];
    size_t raw_len = 0;
    if (!json_is_string(t) || !json_is_string(ch) || !json_is_string(org) ||
        (cross && !json_is_boolean(cross)))
        rc = PL_WA_EMALFORMED;
    else if (strcmp(json_string_value(t), type) != 0)
        rc = PL_WA_ETYPE;
    else if (strspn(json_string_value(ch), B64URL) != json_string_length(ch) ||
             sodium_base642bin(raw, sizeof raw, json_string_value(ch), json_string_length(ch), NULL,
                               &raw_len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
             raw_len != x->challenge_len || sodium_memcmp(raw, x->challenge, x->challenge_len) != 0)
        rc = PL_WA_ECHALLENGE;
    else if (json_string_length(org) != strlen(json_string_value(org)) ||
             !origin_allowed(x, json_string_value(org)) || json_is_true(cross))
        rc = PL_WA_EORIGIN;
    json_decref(o);
    return rc;
}

int pl_webauthn_client_data_challenge(const unsigned char *json, size_t len,
                                      unsigned char out[PL_WEBAUTHN_CHALLENGE_LEN])
{
    if (len > PL_WEBAUTHN_CLIENT_DATA_MAX)
        return PL_WA_ETOOBIG;
    json_t *o = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *ch = json_object_get(o, "challenge");
    int rc = PL_WA_EMALFORMED;
    unsigned char raw[PL_WEBAUTHN_CHALLENGE_LEN * 2];
    size_t raw_len = 0;
    if (json_is_string(ch)) {
        rc = strspn(json_string_value(ch), B64URL) == json_string_length(ch) &&
                     sodium_base642bin(raw, sizeof raw, json_string_value(ch),
                                       json_string_length(ch), NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
                     raw_len == PL_WEBAUTHN_CHALLENGE_LEN
                 ? PL_WA_OK
                 : PL_WA_ECHALLENGE;
        if (rc == PL_WA_OK)
            memcpy(out, raw, PL_WEBAUTHN_CHALLENGE_LEN);
    }
    json_decref(o);
    return rc;
}

/* rpIdHash, UP and (when asked) UV: 7.1 steps 13-15, 7.2 steps 15-17. */
static int check_authdata(const pl_webauthn_expect_t *x, const pl_webauthn_authdata_t *ad)
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)x->rp_id, strlen(x->rp_id));
    if (memcmp(h, ad->rp_id_hash, 32) != 0)
        return PL_WA_ERPID;
    if (!(ad->flags & PL_WEBAUTHN_FLAG_UP))
        return PL_WA_EUP;
    if (x->require_uv && !(ad->flags & PL_WEBAUTHN_FLAG_UV))
        return PL_WA_EUV;
    return PL_WA_OK;
}

/* ---- registration (7.1) ---- */

/* The attestation object: a map {"fmt": text, "attStmt": map, "authData":
 * bytes}. Only fmt "none" (8.7) is accepted, with an empty attStmt. Sets
 * *ad / *ad_len to authData inside the item. */
static int attestation_fields(const cbor_item_t *map, const unsigned char **ad, size_t *ad_len)
{
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return PL_WA_EMALFORMED;
    struct cbor_pair *pairs = cbor_map_handle(map);
    const cbor_item_t *fmt = NULL, *stmt = NULL, *auth = NULL;
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        const cbor_item_t *k = pairs[i].key;
        if (!cbor_isa_string(k) || !cbor_string_is_definite(k))
            return PL_WA_EMALFORMED;
        const char *name = (const char *)cbor_string_handle(k);
        size_t n = cbor_string_length(k);
        const cbor_item_t **slot = n == 3 && !memcmp(name, "fmt", 3)        ? &fmt
                                   : n == 7 && !memcmp(name, "attStmt", 7)  ? &stmt
                                   : n == 8 && !memcmp(name, "authData", 8) ? &auth
                                                                            : NULL;
        if (slot == NULL)
            continue;
        if (*slot != NULL)
            return PL_WA_EMALFORMED;
        *slot = pairs[i].value;
    }
    if (fmt == NULL || stmt == NULL || auth == NULL || !cbor_isa_string(fmt) ||
        !cbor_string_is_definite(fmt) || !cbor_isa_map(stmt) || !cbor_bytes(auth, ad, ad_len))
        return PL_WA_EMALFORMED;
    if (cbor_string_length(fmt) != 4 || memcmp(cbor_string_handle(fmt), "none", 4) != 0)
        return PL_WA_EFORMAT;
    if (!cbor_map_is_definite(stmt) || cbor_map_size(stmt) != 0)
        return PL_WA_EFORMAT; /* "none" carries an empty statement */
    return PL_WA_OK;
}

int pl_webauthn_register_verify(const pl_webauthn_expect_t *x, const unsigned char *client_data,
                                size_t client_data_len, const unsigned char *att_obj,
                                size_t att_obj_len, pl_webauthn_cred_t *out)
{
    if (att_obj_len > PL_WEBAUTHN_ATTESTATION_MAX)
        return PL_WA_ETOOBIG;
    int rc = pl_webauthn_check_client_data(client_data, client_data_len, "webauthn.create", x);
    if (rc != PL_WA_OK)
        return rc;
    cbor_item_t *map = cbor_decode_exact(att_obj, att_obj_len);
    if (map == NULL)
        return PL_WA_EMALFORMED;
    const unsigned char *adp = NULL;
    size_t ad_len = 0;
    pl_webauthn_authdata_t ad;
    pl_webauthn_pubkey_t key;
    rc = attestation_fields(map, &adp, &ad_len);
    if (rc == PL_WA_OK)
        rc = pl_webauthn_parse_authdata(adp, ad_len, &ad);
    if (rc == PL_WA_OK)
        rc = check_authdata(x, &ad);
    if (rc == PL_WA_OK && !(ad.flags & PL_WEBAUTHN_FLAG_AT))
        rc = PL_WA_ENOCREDENTIAL;
    if (rc == PL_WA_OK)
        rc = pl_webauthn_cose_parse(ad.cose_key, ad.cose_key_len, &key);
    if (rc == PL_WA_OK) {
        memset(out, 0, sizeof *out);
        memcpy(out->cred_id, ad.cred_id, ad.cred_id_len);
        out->cred_id_len = ad.cred_id_len;
        memcpy(out->cose_key, ad.cose_key, ad.cose_key_len);
        out->cose_key_len = ad.cose_key_len;
        out->alg = key.alg;
        out->sign_count = ad.sign_count;
        out->flags = ad.flags;
        memcpy(out->aaguid, ad.aaguid, 16);
    }
    cbor_decref(&map);
    return rc;
}

/* ---- assertion (7.2) ---- */

/* fido_assert_verify with the key imported into the matching libfido2 type. */
static int assert_sig_verify(const fido_assert_t *a, const pl_webauthn_pubkey_t *k)
{
    int rc = FIDO_ERR_INVALID_ARGUMENT;
    if (k->alg == PL_COSE_ES256) {
        es256_pk_t *pk = es256_pk_new();
        if (pk && es256_pk_from_ptr(pk, k->raw, k->raw_len) == FIDO_OK)
            rc = fido_assert_verify(a, 0, COSE_ES256, pk);
        es256_pk_free(&pk);
    } else if (k->alg == PL_COSE_EDDSA) {
        eddsa_pk_t *pk = eddsa_pk_new();
        if (pk && eddsa_pk_from_ptr(pk, k->raw, k->raw_len) == FIDO_OK)
            rc = fido_assert_verify(a, 0, COSE_EDDSA, pk);
        eddsa_pk_free(&pk);
    } else if (k->alg == PL_COSE_RS256) {
        rs256_pk_t *pk = rs256_pk_new();
        if (pk && rs256_pk_from_ptr(pk, k->raw, k->raw_len) == FIDO_OK)
            rc = fido_assert_verify(a, 0, COSE_RS256, pk);
        rs256_pk_free(&pk);
    }
    return rc;
}

static int assert_signature(const pl_webauthn_expect_t *x, const pl_webauthn_pubkey_t *key,
                            const unsigned char *client_data, size_t client_data_len,
                            const unsigned char *auth_data, size_t auth_data_len,
                            const unsigned char *sig, size_t sig_len)
{
    unsigned char cdh[32];
    crypto_hash_sha256(cdh, client_data, client_data_len);
    fido_assert_t *a = fido_assert_new();
    if (a == NULL)
        return PL_WA_ESIGNATURE;
    int rc = PL_WA_ESIGNATURE;
    /* libfido2 checks the rpIdHash and the flags again, as asked here. */
    if (fido_assert_set_count(a, 1) == FIDO_OK && fido_assert_set_rp(a, x->rp_id) == FIDO_OK &&
        fido_assert_set_clientdata_hash(a, cdh, sizeof cdh) == FIDO_OK &&
        fido_assert_set_authdata_raw(a, 0, auth_data, auth_data_len) == FIDO_OK &&
        fido_assert_set_sig(a, 0, sig, sig_len) == FIDO_OK &&
        fido_assert_set_up(a, FIDO_OPT_TRUE) == FIDO_OK &&
        fido_assert_set_uv(a, x->require_uv ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) == FIDO_OK &&
        assert_sig_verify(a, key) == FIDO_OK)
        rc = PL_WA_OK;
    fido_assert_free(&a);
    return rc;
}

int pl_webauthn_assert_verify(const pl_webauthn_expect_t *x, const unsigned char *cose_key,
                              size_t cose_key_len, uint32_t stored_count,
                              const unsigned char *client_data, size_t client_data_len,
                              const unsigned char *auth_data, size_t auth_data_len,
                              const unsigned char *sig, size_t sig_len, uint32_t *new_count)
{
    if (sig_len > PL_WEBAUTHN_SIG_MAX)
        return PL_WA_ETOOBIG;
    if (sig_len == 0)
        return PL_WA_EMALFORMED;
    int rc = pl_webauthn_check_client_data(client_data, client_data_len, "webauthn.get", x);
    pl_webauthn_authdata_t ad;
    pl_webauthn_pubkey_t key;
    if (rc == PL_WA_OK)
        rc = pl_webauthn_parse_authdata(auth_data, auth_data_len, &ad);
    if (rc == PL_WA_OK && (ad.flags & PL_WEBAUTHN_FLAG_AT))
        rc = PL_WA_EMALFORMED; /* 6.1: assertions carry no attested credential */
    if (rc == PL_WA_OK)
        rc = check_authdata(x, &ad);
    if (rc == PL_WA_OK)
        rc = pl_webauthn_cose_parse(cose_key, cose_key_len, &key);
    if (rc == PL_WA_OK)
        rc = assert_signature(x, &key, client_data, client_data_len, auth_data, auth_data_len, sig,
                              sig_len);
    /* 7.2 step 21: a counter that does not grow means two authenticators
     * hold the key (or the one there is was rolled back). */
    if (rc == PL_WA_OK && (ad.sign_count != 0 || stored_count != 0) &&
        ad.sign_count <= stored_count)
        rc = PL_WA_ECOUNTER;
    if (rc == PL_WA_OK)
        *new_count = ad.sign_count;
    return rc;
}
