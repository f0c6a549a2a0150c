/* SPDX-License-Identifier: MIT */
/* test_chat_calls.c -- the call ops' arguments (chat/call_cmd.c, through
 * the command layer) and TURN REST API credentials (chat/turn.c): valid
 * requests, each bad argument with its documented code, SDP and candidate
 * size limits, and a credential checked against the openssl CLI's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/call_cmd.h"
#include "chat/command.h"
#include "chat/turn.h"
#include "core/err.h"

static pl_config_t cfg;

static int setup(void **state)
{
    (void)state;
    pl_config_init(&cfg);
    cfg.call_max_sdp_bytes = 1024;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pl_config_dispose(&cfg);
    return 0;
}

static void ok_cmd(const char *text, pl_op_t op, pl_cmd_t *c)
{
    pl_cmd_err_t e;
    if (pl_cmd_parse(text, strlen(text), &cfg, c, &e) != 0)
        fail_msg("%s: expected ok, got %s: %s", text, e.code, e.msg);
    assert_int_equal(op, c->op);
}

static void err_is(const char *text, const char *code)
{
    pl_cmd_t c;
    pl_cmd_err_t e;
    int rc = pl_cmd_parse(text, strlen(text), &cfg, &c, &e);
    if (rc == 0)
        fail_msg("%s: expected %s, got ok", text, code);
    assert_string_equal(code, e.code);
    assert_non_null(c.id); /* the id can be answered */
    pl_cmd_dispose(&c);
}

static void test_call_ids(void **state)
{
    (void)state;
    uint64_t v = 0;
    char out[18];
    assert_true(pl_call_id_parse("c0123456789abcdef", &v));
    assert_true(v == 0x0123456789abcdefULL);
    pl_call_id_format(v, out);
    assert_string_equal("c0123456789abcdef", out);
    assert_false(pl_call_id_parse("c0000000000000000", &v));
    assert_false(pl_call_id_parse("c0123456789ABCDEF", &v));
    assert_false(pl_call_id_parse("c0123456789abcde", &v));
    assert_false(pl_call_id_parse("c0123456789abcdef0", &v));
    assert_false(pl_call_id_parse("r0123456789abcdef", &v));
    assert_false(pl_call_id_parse("c0123456789abcdeg", &v));
    assert_false(pl_call_id_parse("", &v));
    assert_false(pl_call_id_parse(NULL, &v));
}

static void test_invite_and_ids(void **state)
{
    (void)state;
    pl_cmd_t c;
    ok_cmd("{\"id\":1,\"op\":\"call_invite\",\"room\":\"r7\",\"kind\":\"video\"}",
           PL_OP_CALL_INVITE, &c);
    assert_int_equal(7, c.u.call.room);
    assert_true(c.u.call.video);
    pl_cmd_dispose(&c);
    ok_cmd("{\"id\":1,\"op\":\"call_invite\",\"room\":\"r7\",\"kind\":\"audio\"}",
           PL_OP_CALL_INVITE, &c);
    assert_false(c.u.call.video);
    pl_cmd_dispose(&c);
    err_is("{\"id\":1,\"op\":\"call_invite\",\"room\":\"r7\"}", "bad_request");
    err_is("{\"id\":1,\"op\":\"call_invite\",\"room\":\"r7\",\"kind\":\"VIDEO\"}", "bad_request");
    err_is("{\"id\":1,\"op\":\"call_invite\",\"room\":7,\"kind\":\"audio\"}", "bad_request");
    err_is("{\"id\":1,\"op\":\"call_invite\",\"kind\":\"audio\"}", "bad_request");
    static const char *const ops[] = {"call_ring",   "call_answer", "call_reject", "call_cancel",
                                      "call_hangup", "call_join",   "call_leave"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char t[160];
        snprintf(t, sizeof t, "{\"id\":1,\"op\":\"%s\",\"call\":\"c00000000000000ff\"}", ops[i]);
        pl_cmd_err_t e;
        assert_int_equal(0, pl_cmd_parse(t, strlen(t), &cfg, &c, &e));
        assert_true(c.u.call.call == 0xff);
        pl_cmd_dispose(&c);
        snprintf(t, sizeof t, "{\"id\":1,\"op\":\"%s\"}", ops[i]);
        err_is(t, "bad_request");
        snprintf(t, sizeof t, "{\"id\":1,\"op\":\"%s\",\"call\":255}", ops[i]);
        err_is(t, "bad_request");
    }
    ok_cmd("{\"id\":1,\"op\":\"turn_credentials\"}", PL_OP_TURN_CREDENTIALS, &c);
    assert_true(pl_cmd_needs_auth(c.op));
    pl_cmd_dispose(&c);
}

static void test_signal(void **state)
{
    (void)state;
    pl_cmd_t c;
    ok_cmd("{\"id\":1,\"op\":\"call_signal\",\"call\":\"c0000000000000001\",\"signal\":"
           "{\"type\":\"offer\",\"sdp\":\"v=0\"}}",
           PL_OP_CALL_SIGNAL, &c);
    assert_int_equal(0, c.u.call.to);
    assert_string_equal("{\"type\":\"offer\",\"sdp\":\"v=0\"}", c.u.call.signal);
    pl_cmd_dispose(&c);
    ok_cmd("{\"id\":1,\"op\":\"call_signal\",\"call\":\"c0000000000000001\",\"to\":\"u9\","
           "\"signal\":{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"c\",\"sdpMid\":"
           "null,\"sdpMLineIndex\":3,\"usernameFragment\":\"u\"}}}",
           PL_OP_CALL_SIGNAL, &c);
    assert_int_equal(9, c.u.call.to);
    pl_cmd_dispose(&c);
    ok_cmd("{\"id\":1,\"op\":\"call_signal\",\"call\":\"c0000000000000001\",\"signal\":"
           "{\"type\":\"candidate\",\"candidate\":null}}",
           PL_OP_CALL_SIGNAL, &c);
    pl_cmd_dispose(&c);
    const char *pre = "{\"id\":1,\"op\":\"call_signal\",\"call\":\"c0000000000000001\"";
    static const char *const bad[] = {
        "}",
        ",\"signal\":null}",
        ",\"signal\":\"offer\"}",
        ",\"signal\":{}}",
        ",\"signal\":{\"type\":\"bye\"}}",
        ",\"signal\":{\"type\":\"offer\"}}",
        ",\"signal\":{\"type\":\"offer\",\"sdp\":\"\"}}",
        ",\"signal\":{\"type\":\"offer\",\"sdp\":5}}",
        ",\"signal\":{\"type\":\"answer\",\"sdp\":\"v\",\"extra\":1}}",
        ",\"signal\":{\"type\":\"candidate\"}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":7}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":{}}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"c\",\"x\":1}}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":{\"sdpMLineIndex\":256}}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"c\",\"sdpMid\":5}}}",
        ",\"signal\":{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"c\"},\"sdp\":\"x\"}}",
        ",\"to\":\"r1\",\"signal\":{\"type\":\"offer\",\"sdp\":\"v\"}}",
        ",\"to\":5,\"signal\":{\"type\":\"offer\",\"sdp\":\"v\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[512];
        snprintf(t, sizeof t, "%s%s", pre, bad[i]);
        err_is(t, "bad_request");
    }
    static const char idx256[] = "{\"candidate\":\"c\",\"sdpMLineIndex\":256}";
    char t2[512];
    snprintf(t2, sizeof t2, "%s,\"signal\":{\"type\":\"candidate\",\"candidate\":%s}}", pre,
             idx256);
    err_is(t2, "bad_request");
    /* The size limits: call_max_sdp_bytes (1024 here) is allowed, one more
     * is too_large, for an SDP and for a candidate. */
    char big[1100], t[1400];
    memset(big, 'a', 1024);
    big[1024] = '\0';
    snprintf(t, sizeof t, "%s,\"signal\":{\"type\":\"offer\",\"sdp\":\"%s\"}}", pre, big);
    ok_cmd(t, PL_OP_CALL_SIGNAL, &c);
    pl_cmd_dispose(&c);
    big[1024] = 'a';
    big[1025] = '\0';
    snprintf(t, sizeof t, "%s,\"signal\":{\"type\":\"offer\",\"sdp\":\"%s\"}}", pre, big);
    err_is(t, "too_large");
    snprintf(t, sizeof t,
             "%s,\"signal\":{\"type\":\"candidate\",\"candidate\":{\"candidate\":\"%s\"}}}", pre,
             big);
    err_is(t, "too_large");
}

/* Expected value: printf '%s' "1700000000:u42" | openssl dgst -sha1 -hmac
 * "s3cret" -binary | base64 */
static void test_turn(void **state)
{
    (void)state;
    char user[PL_TURN_USERNAME_MAX], cred[PL_TURN_CREDENTIAL_MAX];
    assert_int_equal(0, pl_turn_credentials("s3cret", 42, 1700000000, user, cred));
    assert_string_equal("1700000000:u42", user);
    assert_string_equal("d9xA9u7SpqsILSM31mVbDKZZ78w=", cred);
    assert_int_equal(PL_EINVAL, pl_turn_credentials("", 42, 1700000000, user, cred));
    assert_int_equal(0, pl_turn_credentials("s", INT64_MAX, INT64_MAX, user, cred));
    assert_true(strlen(user) < PL_TURN_USERNAME_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_ids),
        cmocka_unit_test(test_invite_and_ids),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_turn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
