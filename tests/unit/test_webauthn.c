/* SPDX-License-Identifier: MIT */
/* test_webauthn.c -- passkey verification (src/auth/webauthn.c) on vectors
 * recorded from Chromium's virtual authenticator (webauthn_fixtures.h), and
 * on tampered copies of them: wrong origin, challenge, type, rpId, flags,
 * signature, counter, truncated or padded CBOR and hostile CBOR headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/webauthn.h"
#include "webauthn_fixtures.h"

typedef struct {
    unsigned char *p;
    size_t len;
} bin_t;

static bin_t b64(const char *s)
{
    bin_t b;
    size_t cap = strlen(s) + 1;
    b.p = malloc(cap);
    assert_non_null(b.p);
    assert_int_equal(0, sodium_base642bin(b.p, cap, s, strlen(s), NULL, &b.len, NULL,
                                          sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    return b;
}

static const char *const origins[] = {"http://localhost:8080", FX_ORIGIN};

static pl_webauthn_expect_t expect(unsigned char fill, unsigned char chal[32])
{
    memset(chal, fill, 32);
    pl_webauthn_expect_t x = {.rp_id = FX_RP_ID,
                              .origins = origins,
                              .norigins = 2,
                              .challenge = chal,
                              .challenge_len = 32};
    return x;
}

static int reg(const fx_vector_t *v, const pl_webauthn_expect_t *x, pl_webauthn_cred_t *out)
{
    bin_t cd = b64(v->client_data), ao = b64(v->att_obj);
    int rc = pl_webauthn_register_verify(x, cd.p, cd.len, ao.p, ao.len, out);
    free(cd.p);
    free(ao.p);
    return rc;
}

static int assertion(const pl_webauthn_expect_t *x, const pl_webauthn_cred_t *c,
                     const fx_assertion_t *a, uint32_t stored, uint32_t *count)
{
    bin_t cd = b64(a->client_data), ad = b64(a->auth_data), sig = b64(a->sig);
    int rc = pl_webauthn_assert_verify(x, c->cose_key, c->cose_key_len, stored, cd.p, cd.len, ad.p,
                                       ad.len, sig.p, sig.len, count);
    free(cd.p);
    free(ad.p);
    free(sig.p);
    return rc;
}

static void registered(const fx_vector_t *v, pl_webauthn_cred_t *c)
{
    unsigned char ch[32];
    pl_webauthn_expect_t x = expect(1, ch);
    assert_int_equal(PL_WA_OK, reg(v, &x, c));
}

static void test_register_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fx_vectors / sizeof fx_vectors[0]; i++) {
        const fx_vector_t *v = &fx_vectors[i];
        pl_webauthn_cred_t c;
        registered(v, &c);
        assert_int_equal(v->alg, c.alg);
        bin_t id = b64(v->id);
        assert_int_equal(id.len, c.cred_id_len);
        assert_memory_equal(id.p, c.cred_id, id.len);
        free(id.p);
        assert_true(c.flags & PL_WEBAUTHN_FLAG_UP);
        assert_true(c.flags & PL_WEBAUTHN_FLAG_UV);
        pl_webauthn_pubkey_t k;
        assert_int_equal(PL_WA_OK, pl_webauthn_cose_parse(c.cose_key, c.cose_key_len, &k));
        assert_int_equal(v->alg, k.alg);
    }
}

static void test_assert_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fx_vectors / sizeof fx_vectors[0]; i++) {
        const fx_vector_t *v = &fx_vectors[i];
        pl_webauthn_cred_t c;
        registered(v, &c);
        unsigned char ch[32];
        pl_webauthn_expect_t x = expect(2, ch);
        x.require_uv = true;
        uint32_t n1 = 0, n2 = 0;
        assert_int_equal(PL_WA_OK, assertion(&x, &c, &v->a[0], c.sign_count, &n1));
        assert_true(n1 > c.sign_count);
        x = expect(3, ch);
        assert_int_equal(PL_WA_OK, assertion(&x, &c, &v->a[1], n1, &n2));
        assert_true(n2 > n1);
    }
}

/* The same assertion again (a replay) or an older one after a newer: the
 * counter did not grow. */
static void test_counter_regression(void **state)
{
    (void)state;
    pl_webauthn_cred_t c;
    registered(&fx_vectors[0], &c);
    unsigned char ch[32];
    pl_webauthn_expect_t x = expect(2, ch);
    uint32_t n = 0;
    assert_int_equal(PL_WA_OK, assertion(&x, &c, &fx_vectors[0].a[0], 0, &n));
    assert_int_equal(PL_WA_ECOUNTER, assertion(&x, &c, &fx_vectors[0].a[0], n, &n));
    assert_int_equal(PL_WA_ECOUNTER, assertion(&x, &c, &fx_vectors[0].a[0], n + 5, &n));
    assert_string_equal("counter_regressed", pl_webauthn_code(PL_WA_ECOUNTER));
}

static void test_wrong_origin_challenge_type_rpid(void **state)
{
    (void)state;
    const fx_vector_t *v = &fx_vectors[0];
    pl_webauthn_cred_t c;
    registered(v, &c);
    unsigned char ch[32];
    uint32_t n;
    pl_webauthn_expect_t x = expect(2, ch);
    const char *only_other[] = {"http://localhost:8080"};
    x.origins = only_other, x.norigins = 1;
    assert_int_equal(PL_WA_EORIGIN, assertion(&x, &c, &v->a[0], 0, &n));
    x = expect(9, ch);
    assert_int_equal(PL_WA_ECHALLENGE, assertion(&x, &c, &v->a[0], 0, &n));
    x = expect(1, ch);
    x.origins = only_other, x.norigins = 1;
    assert_int_equal(PL_WA_EORIGIN, reg(v, &x, &c));
    /* A registration's clientDataJSON presented as an assertion's. */
    x = expect(1, ch);
    fx_assertion_t swapped = v->a[0];
    swapped.client_data = v->client_data;
    assert_int_equal(PL_WA_ETYPE, assertion(&x, &c, &swapped, 0, &n));
    /* and the other way round */
    fx_vector_t rv = *v;
    rv.client_data = v->a[0].client_data;
    x = expect(2, ch);
    assert_int_equal(PL_WA_ETYPE, reg(&rv, &x, &c));
    x = expect(1, ch);
    x.rp_id = "example.com";
    assert_int_equal(PL_WA_ERPID, reg(v, &x, &c));
    registered(v, &c);
    x = expect(2, ch);
    x.rp_id = "localhost:8080"; /* a port is not part of an rpId */
    assert_int_equal(PL_WA_ERPID, assertion(&x, &c, &v->a[0], 0, &n));
}

static void test_flipped_signature_and_authdata(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fx_vectors / sizeof fx_vectors[0]; i++) {
        const fx_vector_t *v = &fx_vectors[i];
        pl_webauthn_cred_t c;
        registered(v, &c);
        unsigned char ch[32];
        pl_webauthn_expect_t x = expect(2, ch);
        bin_t cd = b64(v->a[0].client_data), ad = b64(v->a[0].auth_data), sig = b64(v->a[0].sig);
        uint32_t n;
        for (size_t k = 0; k < sig.len; k += 7) {
            sig.p[k] ^= 0x01;
            assert_int_not_equal(PL_WA_OK, pl_webauthn_assert_verify(&x, c.cose_key, c.cose_key_len,
                                                                     0, cd.p, cd.len, ad.p, ad.len,
                                                                     sig.p, sig.len, &n));
            sig.p[k] ^= 0x01;
        }
        ad.p[36] ^= 0x40; /* the counter */
        assert_int_equal(PL_WA_ESIGNATURE,
                         pl_webauthn_assert_verify(&x, c.cose_key, c.cose_key_len, 0, cd.p, cd.len,
                                                   ad.p, ad.len, sig.p, sig.len, &n));
        ad.p[36] ^= 0x40;
        ad.p[32] &= (unsigned char)~PL_WEBAUTHN_FLAG_UP;
        assert_int_equal(PL_WA_EUP,
                         pl_webauthn_assert_verify(&x, c.cose_key, c.cose_key_len, 0, cd.p, cd.len,
                                                   ad.p, ad.len, sig.p, sig.len, &n));
        ad.p[32] |= PL_WEBAUTHN_FLAG_UP;
        /* another algorithm's key */
        pl_webauthn_cred_t other;
        registered(&fx_vectors[(i + 1) % 3], &other);
        assert_int_equal(PL_WA_ESIGNATURE,
                         pl_webauthn_assert_verify(&x, other.cose_key, other.cose_key_len, 0, cd.p,
                                                   cd.len, ad.p, ad.len, sig.p, sig.len, &n));
        assert_int_equal(PL_WA_OK,
                         pl_webauthn_assert_verify(&x, c.cose_key, c.cose_key_len, 0, cd.p, cd.len,
                                                   ad.p, ad.len, sig.p, sig.len, &n));
        free(cd.p);
        free(ad.p);
        free(sig.p);
    }
}

/* The authData inside the attestation object starts with SHA-256("localhost"). */
static size_t authdata_offset(const bin_t *ao)
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)FX_RP_ID, strlen(FX_RP_ID));
    for (size_t i = 0; i + 32 <= ao->len; i++)
        if (memcmp(ao->p + i, h, 32) == 0)
            return i;
    fail();
    return 0;
}

static void test_registration_flags_and_format(void **state)
{
    (void)state;
    const fx_vector_t *v = &fx_vectors[0];
    unsigned char ch[32];
    pl_webauthn_expect_t x = expect(1, ch);
    bin_t cd = b64(v->client_data), ao = b64(v->att_obj);
    pl_webauthn_cred_t c;
    size_t off = authdata_offset(&ao);
    ao.p[off + 32] &= (unsigned char)~PL_WEBAUTHN_FLAG_UP;
    assert_int_equal(PL_WA_EUP, pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    ao.p[off + 32] |= PL_WEBAUTHN_FLAG_UP;
    ao.p[off + 32] &= (unsigned char)~PL_WEBAUTHN_FLAG_UV;
    x.require_uv = true;
    assert_int_equal(PL_WA_EUV, pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    x.require_uv = false;
    assert_int_equal(PL_WA_OK, pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    /* AT cleared: the rest of authData is then trailing garbage */
    ao.p[off + 32] &= (unsigned char)~PL_WEBAUTHN_FLAG_AT;
    assert_int_equal(PL_WA_EMALFORMED,
                     pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    ao.p[off + 32] |= PL_WEBAUTHN_FLAG_AT;
    /* fmt "none" -> "nonf" */
    unsigned char *f = memmem(ao.p, ao.len, "none", 4);
    assert_non_null(f);
    f[3] = 'f';
    assert_int_equal(PL_WA_EFORMAT,
                     pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    f[3] = 'e';
    /* a COSE x coordinate off the curve */
    ao.p[ao.len - 1] ^= 0x55;
    assert_int_equal(PL_WA_EKEY, pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    ao.p[ao.len - 1] ^= 0x55;
    assert_int_equal(PL_WA_OK, pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, ao.len, &c));
    free(cd.p);
    free(ao.p);
}

/* Every proper prefix of an attestation object and of authData is refused,
 * and so is one byte more. */
static void test_truncated_and_trailing(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fx_vectors / sizeof fx_vectors[0]; i++) {
        const fx_vector_t *v = &fx_vectors[i];
        unsigned char ch[32];
        pl_webauthn_expect_t x = expect(1, ch);
        bin_t cd = b64(v->client_data), ao = b64(v->att_obj);
        pl_webauthn_cred_t c;
        for (size_t n = 0; n < ao.len; n++)
            assert_int_not_equal(PL_WA_OK,
                                 pl_webauthn_register_verify(&x, cd.p, cd.len, ao.p, n, &c));
        unsigned char *longer = malloc(ao.len + 1);
        memcpy(longer, ao.p, ao.len);
        longer[ao.len] = 0;
        assert_int_equal(PL_WA_EMALFORMED,
                         pl_webauthn_register_verify(&x, cd.p, cd.len, longer, ao.len + 1, &c));
        free(longer);
        for (size_t n = 0; n < cd.len; n++)
            assert_int_not_equal(PL_WA_OK,
                                 pl_webauthn_register_verify(&x, cd.p, n, ao.p, ao.len, &c));
        size_t off = authdata_offset(&ao);
        pl_webauthn_authdata_t ad;
        size_t ad_len = ao.len - off;
        assert_int_equal(PL_WA_OK, pl_webauthn_parse_authdata(ao.p + off, ad_len, &ad));
        for (size_t n = 0; n < ad_len; n++)
            assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_parse_authdata(ao.p + off, n, &ad));
        free(cd.p);
        free(ao.p);
    }
}

static void test_hostile_cbor(void **state)
{
    (void)state;
    pl_webauthn_pubkey_t k;
    /* An array claiming 2^64-1 elements, a map claiming 2^32: refused
     * before libcbor allocates for them. */
    static const unsigned char huge_array[] = {0x9b, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0x00};
    static const unsigned char huge_map[] = {0xba, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(huge_array, sizeof huge_array, &k));
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(huge_map, sizeof huge_map, &k));
    /* nesting 200 deep */
    unsigned char deep[201];
    memset(deep, 0x81, 200);
    deep[200] = 0x00;
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(deep, sizeof deep, &k));
    /* indefinite map never closed, and a stray break */
    static const unsigned char open_map[] = {0xbf, 0x01, 0x02};
    static const unsigned char stray_break[] = {0xff};
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(open_map, sizeof open_map, &k));
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(stray_break, 1, &k));
    /* a well-formed map that is no key, and a duplicate label */
    static const unsigned char empty_map[] = {0xa0};
    static const unsigned char dup[] = {0xa2, 0x01, 0x02, 0x01, 0x02};
    assert_int_equal(PL_WA_EKEY, pl_webauthn_cose_parse(empty_map, 1, &k));
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_cose_parse(dup, sizeof dup, &k));
    /* authData: a credential id length over 1023 */
    unsigned char ad[37 + 18 + 4] = {0};
    ad[32] = PL_WEBAUTHN_FLAG_UP | PL_WEBAUTHN_FLAG_AT;
    ad[37 + 16] = 0x04, ad[37 + 17] = 0x00;
    pl_webauthn_authdata_t a;
    assert_int_equal(PL_WA_ETOOBIG, pl_webauthn_parse_authdata(ad, sizeof ad, &a));
}

/* clientDataJSON built from fmt with the challenge and origin filled in. */
static int client_data(const pl_webauthn_expect_t *x, const char *fmt, const char *origin)
{
    char chal[64], buf[512];
    sodium_bin2base64(chal, sizeof chal, x->challenge, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int n = snprintf(buf, sizeof buf, fmt, chal, origin);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return pl_webauthn_check_client_data((const unsigned char *)buf, (size_t)n, "webauthn.get", x);
}

static void test_client_data(void **state)
{
    (void)state;
    unsigned char ch[32];
    pl_webauthn_expect_t x = expect(2, ch);
    assert_int_equal(
        PL_WA_OK,
        client_data(&x, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"}",
                    FX_ORIGIN));
    assert_int_equal(
        PL_WA_EORIGIN,
        client_data(&x,
                    "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\","
                    "\"crossOrigin\":true}",
                    FX_ORIGIN));
    assert_int_equal(
        PL_WA_EORIGIN,
        client_data(&x, "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":\"%s\"}",
                    "http://localhost:8081"));
    assert_int_equal(PL_WA_EMALFORMED,
                     client_data(&x,
                                 "{\"type\":\"webauthn.get\",\"type\":\"webauthn.get\","
                                 "\"challenge\":\"%s\",\"origin\":\"%s\"}",
                                 FX_ORIGIN));
    /* padded base64 is not what browsers send */
    assert_int_equal(
        PL_WA_ECHALLENGE,
        client_data(&x, "{\"type\":\"webauthn.get\",\"challenge\":\"%s=\",\"origin\":\"%s\"}",
                    FX_ORIGIN));
    assert_int_equal(
        PL_WA_ETYPE,
        client_data(&x, "{\"type\":\"webauthn.create\",\"challenge\":\"%s\",\"origin\":\"%s\"}",
                    FX_ORIGIN));
    /* an origin with a NUL inside: jansson refuses \u0000 */
    assert_int_equal(PL_WA_EMALFORMED,
                     client_data(&x,
                                 "{\"type\":\"webauthn.get\",\"challenge\":\"%s\",\"origin\":"
                                 "\"%s\\u0000x\"}",
                                 FX_ORIGIN));
    assert_int_equal(PL_WA_EMALFORMED, pl_webauthn_check_client_data((const unsigned char *)"[]", 2,
                                                                     "webauthn.get", &x));
    static unsigned char big[PL_WEBAUTHN_CLIENT_DATA_MAX + 1];
    assert_int_equal(PL_WA_ETOOBIG,
                     pl_webauthn_check_client_data(big, sizeof big, "webauthn.get", &x));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_vectors),
        cmocka_unit_test(test_assert_vectors),
        cmocka_unit_test(test_counter_regression),
        cmocka_unit_test(test_wrong_origin_challenge_type_rpid),
        cmocka_unit_test(test_flipped_signature_and_authdata),
        cmocka_unit_test(test_registration_flags_and_format),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_hostile_cbor),
        cmocka_unit_test(test_client_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
