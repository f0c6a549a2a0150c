/* SPDX-License-Identifier: MIT */
/* test_hook_out.c -- src/hooks/hook_out.c and the shared SSRF guard
 * (src/core/ssrf.c) as outgoing webhooks use them (issue 16): target URLs
 * with and without the allow list, trigger words, the event body and the
 * receiver's reply, with hostile inputs for each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ssrf.h"
#include "hooks/hook_out.h"

static int url(const char *u, const char *allow, bool *local)
{
    pl_ssrf_url_t out;
    char err[200];
    return pl_hook_out_url_check(u, strlen(u), allow, &out, local, err, sizeof err);
}

static void test_url(void **state)
{
    (void)state;
    bool local = true;
    assert_int_equal(0, url("https://bots.example.com/hook?x=1", NULL, &local));
    assert_false(local);
    assert_int_equal(0, url("https://bots.example.com:8443/", "", &local));
    assert_false(local);
    /* http, and a loopback target, only to a host on the allow list */
    assert_int_equal(PL_EINVAL, url("http://127.0.0.1:9000/h", NULL, &local));
    assert_int_equal(PL_EINVAL, url("http://127.0.0.1:9000/h", "localhost, 10.0.0.1", &local));
    assert_int_equal(0, url("http://127.0.0.1:9000/h", "localhost, 127.0.0.1 ,x", &local));
    assert_true(local);
    assert_int_equal(0, url("https://LOCALHOST/h", "localhost", &local));
    assert_true(local);
    assert_int_equal(0, url("http://[::1]:9/h", "[::1]", &local));
    assert_true(local);
    /* a prefix or suffix of an entry is not the entry */
    assert_int_equal(PL_EINVAL, url("http://127.0.0.10/h", "127.0.0.1", &local));
    assert_int_equal(PL_EINVAL, url("http://localhost/h", "localhost.evil", &local));
    const char *bad[] = {
        "ftp://x.example/",
        "https://user:pw@x.example/",
        "https://x.example/#frag",
        "https://x.example:99999/",
        "https://x ample/",
        "javascript:alert(1)",
        "",
        "https://",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(PL_EINVAL, url(bad[i], "x.example", &local));
}

static void test_addr(void **state)
{
    (void)state;
    const char *priv[] = {"127.0.0.1",  "10.1.2.3",   "169.254.169.254", "192.168.1.1",
                          "172.16.0.1", "100.64.0.1", "0.0.0.0",         "224.0.0.1"};
    for (size_t i = 0; i < sizeof priv / sizeof *priv; i++) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        assert_int_equal(1, inet_pton(AF_INET, priv[i], &s.sin_addr));
        assert_false(pl_ssrf_addr_public((struct sockaddr *)&s));
    }
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, "93.184.216.34", &s.sin_addr);
    assert_true(pl_ssrf_addr_public((struct sockaddr *)&s));
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
    assert_false(pl_ssrf_addr_public((struct sockaddr *)&s6));
}

/* The resolver refuses loopback unless the caller allows it, and pins the
 * address it checked (IP literals: no DNS query is made). */
static void test_resolve(void **state)
{
    (void)state;
    pl_ssrf_url_t u;
    char err[200], pin[PL_SSRF_PIN_MAX];
    bool local;
    const char *t = "http://127.0.0.1:9000/h";
    assert_int_equal(0,
                     pl_hook_out_url_check(t, strlen(t), "127.0.0.1", &u, &local, err, sizeof err));
    assert_int_equal(PL_EINVAL, pl_ssrf_resolve(&u, false, pin, sizeof pin, err, sizeof err));
    assert_non_null(strstr(err, "non-public"));
    assert_int_equal(0, pl_ssrf_resolve(&u, local, pin, sizeof pin, err, sizeof err));
    assert_string_equal("127.0.0.1:9000:127.0.0.1", pin);
}

static char *trig(const char *json, int *rc)
{
    char *out = NULL, err[200];
    *rc = pl_hook_out_triggers_parse(json, json != NULL ? strlen(json) : 0, &out, err, sizeof err);
    return out;
}

static void test_triggers(void **state)
{
    (void)state;
    int rc;
    char *t = trig(NULL, &rc);
    assert_int_equal(0, rc);
    assert_string_equal("", t);
    free(t);
    t = trig("[\"!deploy\",\"ci\",\"!deploy\"]", &rc);
    assert_int_equal(0, rc);
    assert_string_equal("!deploy ci", t);
    assert_true(pl_hook_out_matches(t, "!deploy prod"));
    assert_true(pl_hook_out_matches(t, "  ci"));
    assert_false(pl_hook_out_matches(t, "!deployment"));
    assert_false(pl_hook_out_matches(t, "please ci"));
    assert_false(pl_hook_out_matches(t, "CI"));
    assert_false(pl_hook_out_matches(t, NULL));
    free(t);
    assert_true(pl_hook_out_matches("", "anything"));
    assert_true(pl_hook_out_matches("", NULL));
    const char *bad[] = {"{}",
                         "\"ci\"",
                         "[1]",
                         "[\"\"]",
                         "[\"a b\"]",
                         "[\"a\\u0000b\"]",
                         "[\"a\\nb\"]",
                         "[\"123456789012345678901234567890123\"]",
                         "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]",
                         "[",
                         "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        t = trig(bad[i], &rc);
        assert_int_equal(PL_EINVAL, rc);
        assert_null(t);
    }
}

static void test_event(void **state)
{
    (void)state;
    pl_hook_event_t ev = {.webhook = 3,
                          .room = 5,
                          .seq = 42,
                          .id = 991,
                          .sender = 1,
                          .ts_ms = 1732730000123,
                          .content = "{\"type\":\"text\",\"body\":\"hi \\\"there\\\"\"}"};
    char *out = NULL;
    assert_int_equal(0, pl_hook_out_event(&ev, &out));
    assert_string_equal("{\"webhook\":\"o3\",\"room\":\"r5\",\"seq\":42,\"id\":\"m991\","
                        "\"sender\":\"u1\",\"ts\":1732730000123,"
                        "\"content\":{\"type\":\"text\",\"body\":\"hi \\\"there\\\"\"}}",
                        out);
    free(out);
    const char *bad[] = {"[]", "1", "", "{", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ev.content = bad[i];
        out = NULL;
        assert_int_equal(PL_EINVAL, pl_hook_out_event(&ev, &out));
        assert_null(out);
    }
}

static int reply(const char *body, char **text)
{
    char err[200];
    return pl_hook_out_reply_parse(body, strlen(body), text, err, sizeof err);
}

static void test_reply(void **state)
{
    (void)state;
    char *t = (char *)1;
    assert_int_equal(0, reply("{\"text\":\"pong\",\"x\":1}", &t));
    assert_string_equal("pong", t);
    free(t);
    assert_int_equal(0, reply("", &t));
    assert_null(t);
    assert_int_equal(0, reply(" \r\n", &t));
    assert_null(t);
    assert_int_equal(0, reply("{}", &t));
    assert_null(t);
    assert_int_equal(0, reply("{\"text\":\"\"}", &t));
    assert_null(t);
    assert_int_equal(0, reply("[1,2]", &t));
    assert_null(t);
    assert_int_equal(PL_EINVAL, reply("ok", &t));
    assert_null(t);
    assert_int_equal(PL_EINVAL, reply("{\"text\":5}", &t));
    assert_null(t);
    assert_int_equal(PL_EINVAL, reply("{\"text\":\"a\",\"text\":\"b\"}", &t));
    assert_null(t);
    assert_int_equal(PL_EINVAL, reply("{\"text\":\"a\\u0000b\"}", &t)); /* jansson refuses NUL */
    assert_null(t);
    char big[PL_HOOK_REPLY_MAX + 32];
    memcpy(big, "{\"text\":\"", 9);
    memset(big + 9, 'a', PL_HOOK_REPLY_MAX + 1);
    strcpy(big + 9 + PL_HOOK_REPLY_MAX + 1, "\"}");
    assert_int_equal(PL_EINVAL, reply(big, &t));
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),     cmocka_unit_test(test_addr),
        cmocka_unit_test(test_resolve), cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_event),   cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
