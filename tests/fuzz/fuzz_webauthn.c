/* SPDX-License-Identifier: MIT */
/* fuzz_webauthn.c -- libFuzzer target for auth/webauthn.c: the attestation
 * object (CBOR), authenticatorData, COSE keys and clientDataJSON parsers,
 * and the whole registration check (pure, no I/O).
 * Input: byte 0 picks the parser (0 attestation object, 1 authData, 2 COSE
 * key, 3 clientDataJSON); for 0 byte 1 splits the rest into clientDataJSON
 * and the attestation object. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const unsigned char challenge[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const char *const origins[] = {"http://localhost:8080"};
    pl_webauthn_expect_t x = {.rp_id = "localhost",
                              .origins = origins,
                              .norigins = 1,
                              .challenge = challenge,
                              .challenge_len = sizeof challenge};
    const unsigned char *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        size_t split = data[1] * 2u < n - 1 ? data[1] * 2u : n - 1;
        static pl_webauthn_cred_t cred;
        int rc = pl_webauthn_register_verify(&x, p + 1, split, p + 1 + split, n - 1 - split, &cred);
        if (rc == PL_WA_OK) {
            /* A registered key must decode again from what would be stored. */
            pl_webauthn_pubkey_t k;
            if (pl_webauthn_cose_parse(cred.cose_key, cred.cose_key_len, &k) != PL_WA_OK)
                abort();
        }
        break;
    }
    case 1: {
        pl_webauthn_authdata_t ad;
        if (pl_webauthn_parse_authdata(p, n, &ad) == PL_WA_OK && ad.cose_key != NULL) {
            pl_webauthn_pubkey_t k;
            (void)pl_webauthn_cose_parse(ad.cose_key, ad.cose_key_len, &k);
        }
        break;
    }
    case 2: {
        pl_webauthn_pubkey_t k;
        (void)pl_webauthn_cose_parse(p, n, &k);
        break;
    }
    default:
        (void)pl_webauthn_check_client_data(p, n, "webauthn.create", &x);
        break;
    }
    return 0;
}
