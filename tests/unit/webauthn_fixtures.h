/* SPDX-License-Identifier: MIT */
/* webauthn_fixtures.h -- a registration and two assertions per algorithm,
 * recorded once from Chromium's virtual authenticator (ctap2, internal,
 * resident key, user verification) by tests/e2e/record-webauthn-fixtures.mjs.
 * Registration challenge: 32 bytes of 0x01; assertions: 32 x 0x02, 32 x 0x03.
 * Every binary field is base64url without padding, as the browser sent it. */
#ifndef PL_TEST_WEBAUTHN_FIXTURES_H
#define PL_TEST_WEBAUTHN_FIXTURES_H

#define FX_ORIGIN "http://localhost:33077"
#define FX_RP_ID "localhost"

typedef struct {
    const char *client_data, *auth_data, *sig, *user_handle;
} fx_assertion_t;
typedef struct {
    const char *name;
    int alg;
    const char *id, *client_data, *att_obj;
    fx_assertion_t a[2];
} fx_vector_t;

static const fx_vector_t fx_vectors[] = {
    {"es256",
     -7,
     "WDjg6hOHfLsiuoITez4gP6Kf2XcCh2TfAOSkl1M2948",
     "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQVFFQkFRRUJBUUVCQVFFQkFRRUJB"
     "UUVCQVFFQkFRRUJBUUVCQVFFQkFRRSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJj"
     "cm9zc09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29t"
     "cGFyZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95"
     "YWJQZXgifQ",
     "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVikSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMd"
     "l2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIFg44OoTh3y7IrqCE3s-ID-in9l3Aodk3wDkpJdTNvePpQEC"
     "AyYgASFYIKquEug2gJ7lBlqTn2knhuVzRav1y64LA89OUUtLnRDdIlggdmTpjJT1RNXQiMle1j8ajsSB"
     "im2hmCZOwAS628luT2U",
     {
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQWdJQ0FnSUNBZ0lDQWdJQ0FnSUNBZ0lD"
          "QWdJQ0FnSUNBZ0lDQWdJQ0FnSSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2V9",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
          "MEYCIQDfpzbHlN4bjsTOl68kW84kKozwN_eBA24rDQtT9tnBzwIhAKCMkaocGAddtoEQwKepFLv0KOxC"
          "ybapwZEQmqQgm-xl",
          "BwcHBw"},
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQXdNREF3TURBd01EQXdNREF3TURBd01E"
          "QXdNREF3TURBd01EQXdNREF3TSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29tcGFy"
          "ZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95YWJQ"
          "ZXgifQ",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAw",
          "MEYCIQDqZN21O8qHrppO2mu9Fz3HhbXMgt8c598YPOtcMOllLAIhANPWPkdu36GQaKEZPdO0rzGw_SVu"
          "Wjwov6gr_eiVJelD",
          "BwcHBw"},
     }},
    {"eddsa",
     -8,
     "DKL5so_iPjbazIVxQ9aHVKrVS8TfcwTPJLZC1nzfLfo",
     "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQVFFQkFRRUJBUUVCQVFFQkFRRUJB"
     "UUVCQVFFQkFRRUJBUUVCQVFFQkFRRSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJj"
     "cm9zc09yaWdpbiI6ZmFsc2V9",
     "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViBSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMd"
     "l2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIAyi-bKP4j422syFcUPWh1Sq1UvE33MEzyS2QtZ83y36pAEB"
     "AycgBiFYIJ6BlBQix9cW24zGIqFQi8vVkBUFuYqDTZPQU4A-PzFY",
     {
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQWdJQ0FnSUNBZ0lDQWdJQ0FnSUNBZ0lD"
          "QWdJQ0FnSUNBZ0lDQWdJQ0FnSSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2V9",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
          "I-V-_jWVsgOMRs0MmoHkKWJjGg9NTA9k0986_JkADddQVB_ftk9QwKprf1KihlN5AFRQHZFCgxmY10k-"
          "gcReDg",
          "BwcHBw"},
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQXdNREF3TURBd01EQXdNREF3TURBd01E"
          "QXdNREF3TURBd01EQXdNREF3TSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29tcGFy"
          "ZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95YWJQ"
          "ZXgifQ",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAw",
          "Xeo3F_zcSobwhGzcm-Hfsayu70YY7dec-aRxXqXh38xT-YyKhth_stETXcL1nV2XBhOuugjoI5TXGU67"
          "8hY3BA",
          "BwcHBw"},
     }},
    {"rs256",
     -257,
     "IatqFvzEe9fntUqL8eyLAXY4IGEUNhGNk3TW6-ynUz0",
     "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQVFFQkFRRUJBUUVCQVFFQkFRRUJB"
     "UUVCQVFFQkFRRUJBUUVCQVFFQkFRRSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJj"
     "cm9zc09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29t"
     "cGFyZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95"
     "YWJQZXgifQ",
     "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVkBZ0mWDeWIDoxodDQXD2R2YFuP5K65ooYyx5lc87qD"
     "HZdjRQAAAAEBAgMEBQYHCAECAwQFBgcIACAhq2oW_MR71-e1Sovx7IsBdjggYRQ2EY2TdNbr7KdTPaQB"
     "AwM5AQAgWQEA3KQiyOUlkB7S2CqKHz0-c8vEo_V5Wz9G7g155R2o5ArJCyBlCGdZVDRk3k9qA22gbUoY"
     "z6gpSCj4js9Y-qPsBC2xOiMLYQynilNbMVLQ_Sxw1yV2bYfC0pP-y92Xf6Hy5oErEJ76WRtjCyywdx01"
     "X_4hRFQGX8fP34PefaX66Dx3ilSEY5DVdUFSNnc5T8Cn08CRdjtw_eWPeKg16b7ZWpG2ffk1fQ-LGpGQ"
     "7mseoUaabEQGNAs2yNOqxBET07WB48mpb2JRU_htoq_39DoPAq-_CGPT7XjuHy-EresYTdHdY_M6v-sX"
     "0xOyaiCO5ZBzBEHmxHKzcWYJSU5GAo7oGyFDAQAB",
     {
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQWdJQ0FnSUNBZ0lDQWdJQ0FnSUNBZ0lD"
          "QWdJQ0FnSUNBZ0lDQWdJQ0FnSSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2UsIm90aGVyX2tleXNfY2FuX2JlX2FkZGVkX2hlcmUiOiJkbyBub3QgY29tcGFy"
          "ZSBjbGllbnREYXRhSlNPTiBhZ2FpbnN0IGEgdGVtcGxhdGUuIFNlZSBodHRwczovL2dvby5nbC95YWJQ"
          "ZXgifQ",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
          "1BJyglsCdTQZ9Aenyh7nHcUDv4LYtORCIVefGcapfa0Wapox6Tl4h_Qbbh4_O5hrcmcNR1bU9CC1qO5x"
          "LpDWZQQgyV7gzw4mMOziux1jFOU4DsIQHuCkrd6Xs_62G2rYnh-mDfu6Fptlww1jF7sRh2VFL2Zd_TU4"
          "2pXQkRvNDvLyPUYCzf48EVwneOVjjToWCFmuPwfRCxzgHhPMqeykA1BWjkACCGGnb6wA10V3SUf5d3UO"
          "REpxBjakLdUISmPoJm281Xb4cCIDj0FaqA6lg-gJWbfT86_kOtOidSR5sdvXDr-tr9Urap2tEbj5jSMy"
          "HgwuVUTzqjTiyD98liQMqA",
          "BwcHBw"},
         {"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQXdNREF3TURBd01EQXdNREF3TURBd01E"
          "QXdNREF3TURBd01EQXdNREF3TSIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MzMwNzciLCJjcm9z"
          "c09yaWdpbiI6ZmFsc2V9",
          "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAw",
          "zreMfIqviYYfxYSKcCQdV8YJ7YCqTBmdFkuJbKURDqckSl-WFJQI5eE112AUL6El_I1W9qxcXL2qFqdR"
          "3wYfsQl0vcv8ItXBlbDZbKrg8OuTFhO5vFQb_lqUbIfGhmQ1YxM8deDqf2rgPOjCi6u9zaQkS7t8kI7Z"
          "YEIjJsVZwr5KcswbtMhZ6rKVRcgVRZlIh7fNcHuOMlYskl1x4p_MqDXD-Qru5lez5LSmpr3RNRN8HS4r"
          "BVox2U4oKb_Z8ssvxgmPAPbeEFCsqmv1TEHf4rmAicgZms6YWDADCs9IYLRGgacKYKIEKxkzcXF6CytJ"
          "UqSWyqzo0iZes023J13Mng",
          "BwcHBw"},
     }},
};

#endif
