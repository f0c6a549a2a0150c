/* SPDX-License-Identifier: MIT */
/* test_push.c -- src/push's pure parts: RFC 8291 encryption against the
 * test vector of its Appendix A, the VAPID JWT's shape and signature
 * (raw R||S, verified), base64url, and hostile subscriptions, endpoint URLs,
 * addresses and job payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "push/push.h"
#include "push/push_crypto.h"
#include "push/push_sub.h"

static size_t dec(const char *b64, uint8_t *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(0, pl_b64url_decode(b64, strlen(b64), out, cap, &n));
    return n;
}

/* RFC 8291 Appendix A. */
#define A_PLAIN "When I grow up, I want to be a watermelon"
#define A_AS_PRIV "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define A_AS_PUB                                                                                   \
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define A_UA_PUB                                                                                   \
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define A_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define A_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define A_BODY                                                                                     \
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS" \
    "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_"   \
    "Qulcy4a-fN"

static void test_rfc8291_vector(void **state)
{
    (void)state;
    uint8_t as_priv[32], as_pub[65], ua_pub[65], auth[16], salt[16], want[256];
    assert_int_equal(32, dec(A_AS_PRIV, as_priv, sizeof as_priv));
    assert_int_equal(65, dec(A_AS_PUB, as_pub, sizeof as_pub));
    assert_int_equal(65, dec(A_UA_PUB, ua_pub, sizeof ua_pub));
    assert_int_equal(16, dec(A_AUTH, auth, sizeof auth));
    assert_int_equal(16, dec(A_SALT, salt, sizeof salt));
    size_t wn = dec(A_BODY, want, sizeof want);
    uint8_t pub[65];
    assert_int_equal(0, pl_push_pubkey_of(as_priv, pub));
    assert_memory_equal(as_pub, pub, 65);
    uint8_t *body = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_push_encrypt(ua_pub, auth, (const uint8_t *)A_PLAIN, strlen(A_PLAIN),
                                        as_priv, salt, &body, &n));
    assert_int_equal(wn, n);
    assert_memory_equal(want, body, n);
    free(body);
    /* Fresh keys and salt: same length, different bytes, header shape. */
    uint8_t *b2 = NULL;
    assert_int_equal(0, pl_push_encrypt(ua_pub, auth, (const uint8_t *)A_PLAIN, strlen(A_PLAIN),
                                        NULL, NULL, &b2, &n));
    assert_int_equal(wn, n);
    assert_memory_not_equal(want, b2, 16);
    assert_int_equal(0x00, b2[16]);
    assert_int_equal(0x10, b2[18]); /* rs 4096 */
    assert_int_equal(65, b2[20]);
    assert_int_equal(0x04, b2[21]);
    free(b2);
}

static void test_encrypt_hostile(void **state)
{
    (void)state;
    uint8_t ua_pub[65], auth[16] = {0}, *body = NULL;
    size_t n = 0;
    dec(A_UA_PUB, ua_pub, sizeof ua_pub);
    uint8_t bad[65];
    memcpy(bad, ua_pub, 65);
    bad[64] ^= 1; /* off the curve */
    assert_int_equal(PL_EINVAL,
                     pl_push_encrypt(bad, auth, (const uint8_t *)"x", 1, NULL, NULL, &body, &n));
    bad[0] = 0x02;
    assert_int_equal(PL_EINVAL,
                     pl_push_encrypt(bad, auth, (const uint8_t *)"x", 1, NULL, NULL, &body, &n));
    memset(bad, 0, sizeof bad);
    bad[0] = 4;
    assert_int_equal(PL_EINVAL, pl_push_pubkey_check(bad));
    static uint8_t big[PL_PUSH_PLAINTEXT_MAX + 1];
    assert_int_equal(PL_ETOOBIG,
                     pl_push_encrypt(ua_pub, auth, big, sizeof big, NULL, NULL, &body, &n));
    assert_int_equal(0, pl_push_encrypt(ua_pub, auth, big, sizeof big - 1, NULL, NULL, &body, &n));
    assert_int_equal(4096, n); /* the whole body fits RFC 8030 7.2's 4096 bytes */
    free(body);
    uint8_t zero[32] = {0}, pub[65];
    assert_int_equal(PL_EINVAL, pl_push_pubkey_of(zero, pub));
    uint8_t ff[32];
    memset(ff, 0xff, sizeof ff); /* >= the group order */
    assert_int_equal(PL_EINVAL, pl_push_pubkey_of(ff, pub));
}

static void test_b64url(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(0, pl_b64url_encode((const uint8_t *)"", 0, out, sizeof out));
    assert_int_equal(2, pl_b64url_encode((const uint8_t *)"\xfb", 1, out, sizeof out));
    assert_string_equal("-w", out);
    assert_int_equal(4, pl_b64url_encode((const uint8_t *)"\xfb\xff\xbf", 3, out, sizeof out));
    assert_string_equal("-_-_", out);
    assert_int_equal(0, pl_b64url_encode((const uint8_t *)"abcdef", 6, out, 8)); /* too small */
    uint8_t b[8];
    size_t n;
    assert_int_equal(0, pl_b64url_decode("-_-_", 4, b, sizeof b, &n));
    assert_int_equal(3, n);
    assert_int_equal(0, pl_b64url_decode("+/+/", 4, b, sizeof b, &n));
    assert_int_equal(0, pl_b64url_decode("YQ==", 4, b, sizeof b, &n));
    assert_int_equal(1, n);
    assert_int_equal(0, pl_b64url_decode("YQ", 2, b, sizeof b, &n));
    assert_int_equal(PL_EINVAL, pl_b64url_decode("YR", 2, b, sizeof b, &n)); /* stray bits */
    assert_int_equal(PL_EINVAL, pl_b64url_decode("Y", 1, b, sizeof b, &n));
    assert_int_equal(PL_EINVAL, pl_b64url_decode("YQ=", 3, b, sizeof b, &n));
    assert_int_equal(PL_EINVAL, pl_b64url_decode("Y Q", 3, b, sizeof b, &n));
    assert_int_equal(PL_EINVAL, pl_b64url_decode("Y=Q=", 4, b, sizeof b, &n));
    assert_int_equal(PL_ETOOBIG, pl_b64url_decode("YWJjZGVmZ2hp", 12, b, sizeof b, &n));
}

/* The claims segment of a JWT, decoded. */
static void jwt_part(const char *jwt, int idx, char *out, size_t cap)
{
    const char *p = jwt;
    for (int i = 0; i < idx; i++)
        p = strchr(p, '.') + 1;
    const char *e = strchr(p, '.');
    size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
    size_t n = 0;
    assert_int_equal(0, pl_b64url_decode(p, len, (uint8_t *)out, cap - 1, &n));
    out[n] = '\0';
}

static void test_vapid_jwt(void **state)
{
    (void)state;
    uint8_t priv[32], pub[65];
    assert_int_equal(0, pl_push_keygen(priv, pub));
    char jwt[PL_PUSH_JWT_MAX];
    assert_int_equal(0, pl_push_vapid_jwt(priv, "https://push.example.net", "mailto:ops@x.org",
                                          1700000000, jwt));
    /* three base64url segments */
    int dots = 0;
    for (const char *p = jwt; *p; p++) {
        dots += *p == '.';
        assert_true(*p == '.' || *p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') ||
                    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
    }
    assert_int_equal(2, dots);
    char part[512];
    jwt_part(jwt, 0, part, sizeof part);
    assert_string_equal("{\"typ\":\"JWT\",\"alg\":\"ES256\"}", part);
    jwt_part(jwt, 1, part, sizeof part);
    assert_string_equal(
        "{\"aud\":\"https://push.example.net\",\"exp\":1700000000,\"sub\":\"mailto:ops@x.org\"}",
        part);
    jwt_part(jwt, 2, part, sizeof part);
    size_t n = 0;
    uint8_t sig[80];
    const char *s = strrchr(jwt, '.') + 1;
    assert_int_equal(0, pl_b64url_decode(s, strlen(s), sig, sizeof sig, &n));
    assert_int_equal(64, n); /* raw R||S, not DER (web-push-libs/vapid#44) */
    assert_int_equal(0, pl_push_jwt_verify(jwt, pub));
    /* a flipped claim byte or another key fails */
    jwt[40] = jwt[40] == 'A' ? 'B' : 'A';
    assert_int_equal(PL_EINVAL, pl_push_jwt_verify(jwt, pub));
    uint8_t priv2[32], pub2[65];
    assert_int_equal(0, pl_push_keygen(priv2, pub2));
    assert_int_equal(0, pl_push_vapid_jwt(priv, "https://a.b", "mailto:c@d", 1, jwt));
    assert_int_equal(PL_EINVAL, pl_push_jwt_verify(jwt, pub2));
    /* claims that would break the JSON */
    assert_int_equal(PL_EINVAL, pl_push_vapid_jwt(priv, "https://a\"b", "mailto:c@d", 1, jwt));
    assert_int_equal(PL_EINVAL, pl_push_vapid_jwt(priv, "https://a", "mailto:c d", 1, jwt));
    assert_int_equal(PL_EINVAL, pl_push_vapid_jwt(priv, "", "mailto:c", 1, jwt));
}

static int url(const char *u, bool http, pl_push_url_t *out)
{
    char err[128];
    return pl_push_url_parse(u, strlen(u), http, out, err, sizeof err);
}

static void test_url(void **state)
{
    (void)state;
    pl_push_url_t u;
    assert_int_equal(0, url("https://fcm.googleapis.com/fcm/send/abc:def", false, &u));
    assert_string_equal("https://fcm.googleapis.com", u.origin);
    assert_int_equal(443, u.port);
    assert_int_equal(0, url("HTTPS://Push.Example.NET:8443/x?y=1", false, &u));
    assert_string_equal("https://push.example.net:8443", u.origin);
    assert_int_equal(0, url("https://[2001:db8::1]:444/p", false, &u));
    assert_string_equal("2001:db8::1", u.host);
    assert_string_equal("https://[2001:db8::1]:444", u.origin);
    assert_int_equal(0, url("http://127.0.0.1:9000/p", true, &u));
    assert_string_equal("http://127.0.0.1:9000", u.origin);
    const char *bad[] = {
        "http://127.0.0.1/p", /* not allowed without push_allow_local */
        "ftp://x/",
        "https://",
        "https:///p",
        "https://user:pw@host/p",
        "https://host/p#frag",
        "https://host:0/",
        "https://host:65536/",
        "https://host:12a/",
        "https://host:/",
        "https://ho st/",
        "https://host/\x01",
        "https://h\xc3\xa9/",
        "https://[::1/",
        "https://[zz::1]/",
        "https://-host/",
        "https://a..b/",
        "https://host_name/",
        "javascript:alert(1)",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(PL_EINVAL, url(bad[i], false, &u));
    char longu[PL_PUSH_ENDPOINT_MAX + 2];
    memset(longu, 'a', sizeof longu);
    memcpy(longu, "https://h/", 10);
    longu[PL_PUSH_ENDPOINT_MAX + 1] = '\0';
    assert_int_equal(PL_EINVAL, url(longu, false, &u));
    longu[PL_PUSH_ENDPOINT_MAX] = '\0';
    assert_int_equal(0, url(longu, false, &u));
}

static bool pub4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    assert_int_equal(1, inet_pton(AF_INET, a, &s.sin_addr));
    return pl_push_addr_public((struct sockaddr *)&s);
}

static bool pub6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(1, inet_pton(AF_INET6, a, &s.sin6_addr));
    return pl_push_addr_public((struct sockaddr *)&s);
}

static void test_addr(void **state)
{
    (void)state;
    assert_true(pub4("142.250.1.1"));
    assert_true(pub4("100.128.0.1"));
    const char *no4[] = {"127.0.0.1",   "10.1.2.3",        "172.16.0.1", "172.31.255.255",
                         "192.168.1.1", "169.254.169.254", "0.0.0.0",    "100.64.0.1",
                         "224.0.0.1",   "255.255.255.255", "198.18.0.1"};
    for (size_t i = 0; i < sizeof no4 / sizeof *no4; i++)
        assert_false(pub4(no4[i]));
    assert_true(pub6("2a00:1450:4001::1"));
    const char *no6[] = {"::1",
                         "::",
                         "fe80::1",
                         "fd00::1",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.0.0.1",
                         "2001:db8::1",
                         "64:ff9b::a00:1",
                         "2002:7f00:1::"};
    for (size_t i = 0; i < sizeof no6 / sizeof *no6; i++)
        assert_false(pub6(no6[i]));
    assert_true(pub6("::ffff:8.8.8.8"));
}

static int sub(const char *json, pl_push_sub_t *out)
{
    char err[128];
    return pl_push_sub_parse(json, strlen(json), false, out, err, sizeof err);
}

static void test_sub(void **state)
{
    (void)state;
    pl_push_sub_t s;
    assert_int_equal(0, sub("{\"endpoint\":\"https://p.example/x\",\"expirationTime\":null,"
                            "\"keys\":{\"p256dh\":\"" A_UA_PUB "\",\"auth\":\"" A_AUTH "\"}}",
                            &s));
    assert_string_equal("https://p.example/x", s.endpoint);
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"endpoint\":\"https://p.example/x\"}",
        "{\"endpoint\":\"http://p.example/x\",\"keys\":{\"p256dh\":\"" A_UA_PUB
        "\",\"auth\":\"" A_AUTH "\"}}",
        "{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" A_UA_PUB "\",\"auth\":"
        "\"BTBZMqHH6r4Tts7J_aSI\"}}", /* 15 bytes */
        "{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" A_AUTH
        "\",\"auth\":\"" A_AUTH "\"}}",
        "{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" A_AS_PRIV
        "\",\"auth\":\"" A_AUTH "\"}}",
        "{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":1,\"auth\":\"" A_AUTH "\"}}",
        "{\"endpoint\":\"https://p.example/x\",\"endpoint\":\"https://q/\",\"keys\":{\"p256dh\":"
        "\"" A_UA_PUB "\",\"auth\":\"" A_AUTH "\"}}", /* duplicate key */
        "{\"endpoint\":\"https://p.example/x\",\"keys\":[]}",
        "{\"endpoint\":\"https://p.example/\\u0000x\",\"keys\":{\"p256dh\":\"" A_UA_PUB
        "\",\"auth\":\"" A_AUTH "\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(PL_EINVAL, sub(bad[i], &s));
}

static void test_job_payload(void **state)
{
    (void)state;
    char *p = pl_push_job_build(7, "https://p.example/x", A_UA_PUB, A_AUTH, "r12", "high", 3600,
                                "{\"room\":\"r12\",\"body\":\"hi\"}");
    assert_non_null(p);
    pl_push_job_t j;
    char err[128];
    assert_int_equal(0, pl_push_job_parse(p, strlen(p), false, &j, err, sizeof err));
    assert_int_equal(7, j.sub_id);
    assert_string_equal("r12", j.topic);
    assert_string_equal("high", j.urgency);
    assert_int_equal(3600, j.ttl_s);
    assert_string_equal("{\"room\":\"r12\",\"body\":\"hi\"}", j.data);
    pl_push_job_dispose(&j);
    free(p);
    const char *bad[][3] = {{"r12", "urgent", "{}"},
                            {"r/12", "high", "{}"},
                            {"0123456789012345678901234567890123", "low", "{}"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = pl_push_job_build(7, "https://p.example/x", A_UA_PUB, A_AUTH, bad[i][0], bad[i][1], 1,
                              bad[i][2]);
        assert_non_null(p);
        assert_int_equal(PL_EINVAL, pl_push_job_parse(p, strlen(p), false, &j, err, sizeof err));
        free(p);
    }
    assert_int_equal(PL_EINVAL, pl_push_job_parse("{}", 2, false, &j, err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_push_job_parse("nope", 4, false, &j, err, sizeof err));
}

/* The settings decide: levels per room, mutes, do-not-disturb hours. */
static void test_wanted(void **state)
{
    (void)state;
    const int64_t noon = 12 * 3600000LL; /* 1970-01-01 12:00 UTC */
    pl_push_pref_t acct = {0, 0, 0, -1, -1, -1};
    pl_push_pref_t room = {5, PL_PUSH_LEVEL_DEFAULT, 0, -1, -1, -1};
    /* defaults: dm everything, group mentions and replies only */
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, noon));
    assert_true(pl_push_wanted(PL_PUSH_WHY_MENTION, &acct, NULL, noon));
    assert_true(pl_push_wanted(PL_PUSH_WHY_REPLY, &acct, &room, noon));
    assert_false(pl_push_wanted(PL_PUSH_WHY_MESSAGE, &acct, NULL, noon));
    assert_false(pl_push_wanted(PL_PUSH_WHY_NONE, &acct, NULL, noon));
    room.level = PL_PUSH_LEVEL_ALL;
    assert_true(pl_push_wanted(PL_PUSH_WHY_MESSAGE, &acct, &room, noon));
    room.level = PL_PUSH_LEVEL_MENTIONS;
    assert_false(pl_push_wanted(PL_PUSH_WHY_MESSAGE, &acct, &room, noon));
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, &room, noon));
    room.level = PL_PUSH_LEVEL_NOTHING;
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, &room, noon));
    assert_false(pl_push_wanted(PL_PUSH_WHY_MENTION, &acct, &room, noon));
    /* mutes: the room's, the account's; over when the time has passed */
    room.level = PL_PUSH_LEVEL_ALL;
    room.mute_until = noon + 1;
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, &room, noon));
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, &room, noon + 1));
    acct.mute_until = noon + 1000;
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, noon));
    acct.mute_until = 0;
    /* do-not-disturb 22:00-07:00 UTC (over midnight), then 09:00-17:00 */
    acct.dnd_start = 22 * 60;
    acct.dnd_end = 7 * 60;
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, noon));
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, 23 * 3600000LL));
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, 86400000LL + 3 * 3600000LL));
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, 7 * 3600000LL));
    acct.dnd_start = 9 * 60;
    acct.dnd_end = 17 * 60;
    assert_false(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, noon));
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, 8 * 3600000LL));
    acct.dnd_end = acct.dnd_start; /* empty window: off */
    assert_true(pl_push_wanted(PL_PUSH_WHY_DM, &acct, NULL, noon));
}

/* The notification text: content or content-free, cut at a character. */
static void test_notification(void **state)
{
    (void)state;
    char room_name[] = "crew", sender_name[] = "Al\"ice";
    pl_push_ctx_t c = {.dm = false, .room_name = room_name, .sender_name = sender_name};
    static const char pre[] = "{\"type\":\"text\",\"body\":\"";
    char body[1100 + 16];
    memset(body, 'a', sizeof body);
    memcpy(body, pre, sizeof pre - 1);
    /* a 2-byte character across the 1000-byte cut */
    memcpy(body + sizeof pre - 1 + 999, "\xc3\xa9", 2);
    memcpy(body + sizeof body - 3, "\"}", 3);
    pl_message_t m = {.id = 9, .room_id = 12, .seq = 3, .sender = 4, .ts = 5, .content = body};
    char *t = pl_push_notification(&c, &m, PL_PUSH_WHY_MENTION, false);
    assert_non_null(t);
    assert_non_null(strstr(t, "\"title\":\"Al\\\"ice in crew\""));
    assert_non_null(strstr(t, "\"why\":\"mention\""));
    assert_non_null(strstr(t, "\"room\":\"r12\""));
    char *b = strstr(t, "\"body\":\"");
    assert_non_null(b);
    assert_int_equal(999, strcspn(b + 8, "\"")); /* the cut character left out whole */
    assert_true(strlen(t) < PL_PUSH_PLAINTEXT_MAX);
    free(t);
    t = pl_push_notification(&c, &m, PL_PUSH_WHY_MENTION, true);
    assert_null(strstr(t, "body"));
    assert_null(strstr(t, "crew"));
    assert_non_null(strstr(t, "New message from Al\\\"ice"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8291_vector),
        cmocka_unit_test(test_encrypt_hostile),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_vapid_jwt),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_sub),
        cmocka_unit_test(test_job_payload),
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_notification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
