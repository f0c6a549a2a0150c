/* SPDX-License-Identifier: MIT */
/* test_chat_command.c -- the command layer (chat/command.c): every op's
 * valid request, each missing required argument, wrong types, limits, bad
 * ids, unknown ops, non-objects and \u0000, with the documented error code
 * and the request id kept whenever it can be read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/command.h"

static pl_config_t cfg;

static int setup(void **state)
{
    (void)state;
    pl_config_init(&cfg);
    cfg.max_group_members = 4;
    cfg.max_content_bytes = 300;
    cfg.max_room_name = 16;
    cfg.max_client_id_len = 8;
    cfg.history_max_limit = 100;
    cfg.min_disappearing_ms = 1000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pl_config_dispose(&cfg);
    return 0;
}

/* Parses text; on failure checks code (NULL: expect success). Leaves the
 * command parsed in *c (dispose it). */
static int parse(const char *text, pl_cmd_t *c, pl_cmd_err_t *e)
{
    return pl_cmd_parse(text, strlen(text), &cfg, c, e);
}

static void ok_op(const char *text, pl_op_t op)
{
    pl_cmd_t c;
    pl_cmd_err_t e;
    int rc = parse(text, &c, &e);
    if (rc != 0)
        fail_msg("%s: expected ok, got %s: %s", text, e.code, e.msg);
    assert_int_equal(op, c.op);
    pl_cmd_dispose(&c);
}

static void err_is(const char *text, const char *code)
{
    pl_cmd_t c;
    pl_cmd_err_t e;
    int rc = parse(text, &c, &e);
    if (rc == 0)
        fail_msg("%s: expected %s, got ok", text, code);
    if (strcmp(e.code, code) != 0)
        fail_msg("%s: expected %s, got %s: %s", text, code, e.code, e.msg);
    assert_true(e.msg[0] != '\0');
    /* Every refused request with an id still names it. */
    if (c.root != NULL && strstr(text, "\"id\":5,") != NULL)
        assert_int_equal(5, json_integer_value(c.id));
    pl_cmd_dispose(&c);
}

#define BAD(text) err_is(text, "bad_request")

static void test_envelope(void **state)
{
    (void)state;
    err_is("{nope", "bad_json");
    err_is("", "bad_json");
    BAD("[1,2,3]");
    err_is("\"send\"", "bad_json"); /* a bare value is not a request text */
    BAD("{\"id\":{\"x\":1},\"op\":\"ping\"}");
    BAD("{\"id\":1.5,\"op\":\"ping\"}");
    BAD("{\"id\":true,\"op\":\"ping\"}");
    char big[200];
    snprintf(big, sizeof big, "{\"id\":\"%0129d\",\"op\":\"ping\"}", 0);
    BAD(big);
    BAD("{\"id\":5,\"op\":42}");
    BAD("{\"id\":5}");
    err_is("{\"id\":5,\"op\":\"no_such_op\"}", "unknown_op");
    err_is("{\"id\":5,\"op\":\"PING\"}", "unknown_op");
    /* Duplicate keys are refused by the parser. */
    err_is("{\"id\":5,\"op\":\"ping\",\"op\":\"auth\"}", "bad_json");
    ok_op("{\"op\":\"ping\"}", PL_OP_PING);
    ok_op("{\"id\":\"abc\",\"op\":\"ping\"}", PL_OP_PING);

    /* Ids: integer or a string of at most 128 bytes, kept as given. */
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"id\":\"q\\u00e9\",\"op\":\"ping\"}", &c, &e));
    assert_string_equal("q\xc3\xa9", json_string_value(c.id));
    pl_cmd_dispose(&c);
    /* An unknown op keeps the id too. */
    assert_int_equal(-1, parse("{\"id\":\"x\",\"op\":\"nope\"}", &c, &e));
    assert_string_equal("x", json_string_value(c.id));
    assert_int_equal(PL_OP__COUNT, c.op);
    pl_cmd_dispose(&c);
    /* A known op is named even when its arguments are refused (the
     * dispatcher answers unauthenticated before arguments). */
    assert_int_equal(-1, parse("{\"id\":1,\"op\":\"send\"}", &c, &e));
    assert_int_equal(PL_OP_SEND, c.op);
    pl_cmd_dispose(&c);
    pl_cmd_dispose(&c); /* idempotent */
}

/* \u0000: valid JSON the parser refuses in strings. The id is found
 * without parsing so the client can match the answer. */
static void test_nul(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{\"id\":77,\"op\":\"auth\",\"token\":\"a\\u0000b\"}", "77"},
        {"{\"op\":\"send\",\"content\":{\"body\":\"\\u0000\"},\"id\":\"s1\"}", "\"s1\""},
        {"{\"id\":\"\\u0000\",\"op\":\"ping\"}", "null"},
        {"{\"op\":\"ping\",\"\\u0000\":1}", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_cmd_t c;
        pl_cmd_err_t e;
        assert_int_equal(-1, parse(cases[i][0], &c, &e));
        assert_null(c.root);
        assert_string_equal("bad_request", e.code);
        assert_non_null(strstr(e.msg, "\\u0000"));
        char re[64];
        snprintf(re, sizeof re, "%.*s", (int)c.re_len, c.re);
        assert_string_equal(cases[i][1], re);
        pl_cmd_dispose(&c);
    }
    /* Not JSON at all: bad_json, and re stays null as documented. */
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(-1, parse("{\"id\":9,oops", &c, &e));
    assert_string_equal("bad_json", e.code);
    assert_int_equal(4, c.re_len);
    assert_memory_equal("null", c.re, 4);
    pl_cmd_dispose(&c);
}

static void test_auth(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"auth\",\"token\":\"t\"}", PL_OP_AUTH);
    BAD("{\"id\":5,\"op\":\"auth\"}");
    BAD("{\"id\":5,\"op\":\"auth\",\"token\":\"\"}");
    BAD("{\"id\":5,\"op\":\"auth\",\"token\":7}");
    char big[400];
    snprintf(big, sizeof big, "{\"id\":5,\"op\":\"auth\",\"token\":\"%0257d\"}", 0);
    BAD(big);
    BAD("{\"id\":5,\"op\":\"auth\",\"token\":\"t\",\"since\":[]}");
    BAD("{\"id\":5,\"op\":\"auth\",\"token\":\"t\",\"since\":{\"x1\":3}}");
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"op\":\"auth\",\"token\":\"tok\",\"since\":{\"r9\":3,\"r2\":"
                              "{\"seq\":4,\"version\":6}}}",
                              &c, &e));
    assert_int_equal(3, c.u.auth.token_len);
    assert_int_equal(2, c.u.auth.nsince);
    assert_int_equal(2, c.u.auth.since[0].room); /* sorted by room */
    assert_int_equal(4, c.u.auth.since[0].upto);
    assert_int_equal(6, c.u.auth.since[0].vupto);
    assert_int_equal(9, c.u.auth.since[1].room);
    pl_cmd_dispose(&c);
    assert_int_equal(0, parse("{\"op\":\"auth\",\"token\":\"tok\",\"since\":null}", &c, &e));
    assert_null(c.u.auth.since);
    pl_cmd_dispose(&c);
}

static void test_sync(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"sync\"}", PL_OP_SYNC);
    ok_op("{\"id\":5,\"op\":\"sync\",\"since\":{}}", PL_OP_SYNC);
    ok_op("{\"id\":5,\"op\":\"sync\",\"since\":{\"r1\":0}}", PL_OP_SYNC);
    BAD("{\"id\":5,\"op\":\"sync\",\"since\":3}");
    BAD("{\"id\":5,\"op\":\"sync\",\"since\":{\"r1\":-1}}");
    BAD("{\"id\":5,\"op\":\"sync\",\"since\":{\"r1\":\"3\"}}");
    BAD("{\"id\":5,\"op\":\"sync\",\"since\":{\"r1\":{\"version\":1}}}");
    BAD("{\"id\":5,\"op\":\"sync\",\"since\":{\"r1\":{\"seq\":1,\"version\":-1}}}");
}

static void test_rooms_and_members(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"Bob\"]}",
          PL_OP_CREATE_ROOM);
    ok_op("{\"id\":5,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[],\"name\":\"x\"}",
          PL_OP_CREATE_ROOM);
    BAD("{\"id\":5,\"op\":\"create_room\",\"members\":[\"bob\"]}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"chan\",\"members\":[\"bob\"]}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"dm\"}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"dm\",\"members\":\"bob\"}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[]}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"a b\"]}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[1]}");
    BAD("{\"id\":5,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[],\"name\":3}");
    err_is("{\"id\":5,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[\"a\",\"b\",\"c\","
           "\"d\"]}",
           "too_large");
    err_is("{\"id\":5,\"op\":\"create_room\",\"kind\":\"group\",\"members\":[],\"name\":"
           "\"0123456789abcdefg\"}",
           "too_large");
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"op\":\"create_room\",\"kind\":\"dm\",\"members\":[\"Bob\"],"
                              "\"name\":\"ignored\"}",
                              &c, &e));
    assert_string_equal("bob", c.u.create_room.other);
    assert_string_equal("", c.u.create_room.name);
    pl_cmd_dispose(&c);

    const char *room_ops[] = {"join", "leave", "decline"};
    for (size_t i = 0; i < 3; i++) {
        char t[128];
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r12\"}", room_ops[i]);
        ok_op(t, i == 0 ? PL_OP_JOIN : i == 1 ? PL_OP_LEAVE : PL_OP_DECLINE);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\"}", room_ops[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":12}", room_ops[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"u12\"}", room_ops[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r\"}", room_ops[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r0\"}", room_ops[i]);
        BAD(t);
    }
    ok_op("{\"id\":5,\"op\":\"invite\",\"room\":\"r1\",\"users\":[\"bob\",\"Carol\"]}",
          PL_OP_INVITE);
    BAD("{\"id\":5,\"op\":\"invite\",\"users\":[\"bob\"]}");
    BAD("{\"id\":5,\"op\":\"invite\",\"room\":\"r1\"}");
    BAD("{\"id\":5,\"op\":\"invite\",\"room\":\"r1\",\"users\":{}}");
    BAD("{\"id\":5,\"op\":\"invite\",\"room\":\"r1\",\"users\":[\"\"]}");
    err_is("{\"id\":5,\"op\":\"invite\",\"room\":\"r1\",\"users\":[\"a\",\"b\",\"c\",\"d\","
           "\"e\"]}",
           "too_large");
    ok_op("{\"id\":5,\"op\":\"invites\"}", PL_OP_INVITES);
    ok_op("{\"id\":5,\"op\":\"rooms\"}", PL_OP_ROOMS);
    ok_op("{\"id\":5,\"op\":\"rooms\",\"after\":\"r3\"}", PL_OP_ROOMS);
    ok_op("{\"id\":5,\"op\":\"rooms\",\"after\":null}", PL_OP_ROOMS);
    BAD("{\"id\":5,\"op\":\"rooms\",\"after\":3}");
    BAD("{\"id\":5,\"op\":\"rooms\",\"after\":\"m3\"}");

    ok_op("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"disappearing_ms\":0}",
          PL_OP_ROOM_SETTINGS);
    ok_op("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"name\":\"n\",\"avatar\":null}",
          PL_OP_ROOM_SETTINGS);
    BAD("{\"id\":5,\"op\":\"room_settings\",\"disappearing_ms\":0}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\"}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"disappearing_ms\":10}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"disappearing_ms\":2419200001}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"disappearing_ms\":\"1\"}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"name\":\"\"}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"name\":5}");
    BAD("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"avatar\":\"r1\"}");
    err_is("{\"id\":5,\"op\":\"room_settings\",\"room\":\"r1\",\"name\":\"0123456789abcdefg\"}",
           "too_large");
    assert_int_equal(0,
                     parse("{\"op\":\"room_settings\",\"room\":\"r1\",\"avatar\":\"f4\"}", &c, &e));
    assert_int_equal(-1, c.u.room_settings.ms);
    assert_null(c.u.room_settings.name);
    assert_int_equal(4, c.u.room_settings.avatar);
    pl_cmd_dispose(&c);
}

static void test_send(void **state)
{
    (void)state;
    const char *ok = "{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c1\",\"content\":"
                     "{\"type\":\"text\",\"body\":\"hi\"}}";
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse(ok, &c, &e));
    assert_int_equal(PL_OP_SEND, c.op);
    assert_int_equal(1, c.u.send.room);
    assert_string_equal("c1", c.u.send.client_id);
    assert_string_equal("{\"type\":\"text\",\"body\":\"hi\"}", c.u.send.content);
    assert_int_equal(0, c.u.send.media);
    assert_int_equal(0, c.u.send.reply_to);
    pl_cmd_dispose(&c);
    assert_int_equal(0, parse("{\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c1\","
                              "\"reply_to\":3,\"thread\":2,\"ttl_ms\":5000,\"content\":{\"type\":"
                              "\"sticker\",\"media\":\"f7\",\"emoji\":\"cat\"}}",
                              &c, &e));
    assert_int_equal(7, c.u.send.media);
    assert_true(c.u.send.sticker);
    assert_int_equal(3, c.u.send.reply_to);
    assert_int_equal(2, c.u.send.thread);
    assert_int_equal(5000, c.u.send.ttl_ms);
    pl_cmd_dispose(&c);

    BAD("{\"id\":5,\"op\":\"send\",\"client_id\":\"c1\",\"content\":{\"type\":\"text\","
        "\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"content\":{\"type\":\"text\",\"body\":"
        "\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c1\"}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"\",\"content\":{\"type\":"
        "\"text\",\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"123456789\",\"content\":{"
        "\"type\":\"text\",\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":1,\"content\":{\"type\":"
        "\"text\",\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":\"hi\"}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"body\":"
        "\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"text\",\"body\":\"\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"text\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"poll\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"reply_to\":0,"
        "\"content\":{\"type\":\"text\",\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"thread\":\"1\","
        "\"content\":{\"type\":\"text\",\"body\":\"hi\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"ttl_ms\":999,"
        "\"content\":{\"type\":\"text\",\"body\":\"hi\"}}");
    /* Media contents. */
    ok_op("{\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":\"image\","
          "\"media\":\"f1\",\"w\":10,\"h\":10,\"thumb\":\"f2\"}}",
          PL_OP_SEND);
    ok_op("{\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":\"file\","
          "\"media\":\"f1\",\"name\":\"a.txt\",\"size\":0,\"mime\":\"text/plain\"}}",
          PL_OP_SEND);
    ok_op("{\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":\"voice\","
          "\"media\":\"f1\",\"duration_ms\":10,\"waveform\":[0,255]}}",
          PL_OP_SEND);
    ok_op("{\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":\"video\","
          "\"media\":\"f1\"}}",
          PL_OP_SEND);
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"image\",\"media\":\"f1\",\"w\":10}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"image\",\"media\":\"m1\",\"w\":10,\"h\":10}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"image\",\"media\":\"f1\",\"w\":10,\"h\":10,\"x\":1}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"voice\",\"media\":\"f1\",\"duration_ms\":10,\"waveform\":[256]}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"file\",\"media\":\"f1\",\"name\":\"\",\"size\":0,\"mime\":\"x\"}}");
    BAD("{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":{\"type\":"
        "\"sticker\",\"media\":\"f1\",\"emoji\":\":cat:\"}}");
    /* Too long: the encoded content is limited (max_content_bytes 300 here). */
    char big[1024];
    snprintf(big, sizeof big,
             "{\"id\":5,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":"
             "{\"type\":\"text\",\"body\":\"%0300d\"}}",
             0);
    err_is(big, "too_large");
}

static void test_history_thread(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"history\",\"room\":\"r1\"}", PL_OP_HISTORY);
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"op\":\"history\",\"room\":\"r1\"}", &c, &e));
    assert_int_equal(50, c.u.history.limit);
    assert_int_equal(-1, c.u.history.after);
    assert_int_equal(0, c.u.history.before);
    pl_cmd_dispose(&c);
    ok_op("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"before\":9,\"limit\":100}",
          PL_OP_HISTORY);
    ok_op("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"after\":0}", PL_OP_HISTORY);
    BAD("{\"id\":5,\"op\":\"history\"}");
    BAD("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"limit\":101}");
    BAD("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"limit\":0}");
    BAD("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"before\":0}");
    BAD("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"after\":-1}");
    BAD("{\"id\":5,\"op\":\"history\",\"room\":\"r1\",\"limit\":\"5\"}");
    ok_op("{\"id\":5,\"op\":\"thread\",\"room\":\"r1\",\"root\":3}", PL_OP_THREAD);
    BAD("{\"id\":5,\"op\":\"thread\",\"room\":\"r1\"}");
    BAD("{\"id\":5,\"op\":\"thread\",\"root\":3}");
    BAD("{\"id\":5,\"op\":\"thread\",\"room\":\"r1\",\"root\":0}");
    BAD("{\"id\":5,\"op\":\"thread\",\"room\":\"r1\",\"root\":3,\"limit\":101}");
}

static void test_mutations(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"edit\",\"room\":\"r1\",\"seq\":2,\"content\":{\"type\":\"text\","
          "\"body\":\"b\"}}",
          PL_OP_EDIT);
    BAD("{\"id\":5,\"op\":\"edit\",\"room\":\"r1\",\"content\":{\"type\":\"text\",\"body\":"
        "\"b\"}}");
    BAD("{\"id\":5,\"op\":\"edit\",\"room\":\"r1\",\"seq\":2}");
    BAD("{\"id\":5,\"op\":\"edit\",\"seq\":2,\"content\":{\"type\":\"text\",\"body\":\"b\"}}");
    BAD("{\"id\":5,\"op\":\"edit\",\"room\":\"r1\",\"seq\":2,\"content\":{\"type\":\"image\","
        "\"media\":\"f1\",\"w\":1,\"h\":1}}");
    ok_op("{\"id\":5,\"op\":\"delete\",\"room\":\"r1\",\"seq\":2}", PL_OP_DELETE);
    BAD("{\"id\":5,\"op\":\"delete\",\"room\":\"r1\"}");
    BAD("{\"id\":5,\"op\":\"delete\",\"room\":\"r1\",\"seq\":0}");
    BAD("{\"id\":5,\"op\":\"delete\",\"seq\":1}");
    ok_op("{\"id\":5,\"op\":\"react\",\"room\":\"r1\",\"seq\":2,\"emoji\":\"\xf0\x9f\x91\x8d\"}",
          PL_OP_REACT);
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"op\":\"react\",\"room\":\"r1\",\"seq\":2,\"emoji\":\":party:\","
                              "\"remove\":true}",
                              &c, &e));
    assert_true(c.u.react.custom);
    assert_true(c.u.react.remove);
    pl_cmd_dispose(&c);
    BAD("{\"id\":5,\"op\":\"react\",\"room\":\"r1\",\"seq\":2}");
    BAD("{\"id\":5,\"op\":\"react\",\"room\":\"r1\",\"seq\":2,\"emoji\":\"ab\"}");
    BAD("{\"id\":5,\"op\":\"react\",\"room\":\"r1\",\"emoji\":\":party:\"}");
    BAD("{\"id\":5,\"op\":\"react\",\"room\":\"r1\",\"seq\":2,\"emoji\":\":party:\","
        "\"remove\":1}");
}

static void test_receipts_typing_presence(void **state)
{
    (void)state;
    const char *marks[] = {"read", "delivered"};
    for (int i = 0; i < 2; i++) {
        char t[128];
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r1\",\"seq\":0}", marks[i]);
        ok_op(t, i == 0 ? PL_OP_READ : PL_OP_DELIVERED);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r1\"}", marks[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"room\":\"r1\",\"seq\":-1}", marks[i]);
        BAD(t);
        snprintf(t, sizeof t, "{\"id\":5,\"op\":\"%s\",\"seq\":1}", marks[i]);
        BAD(t);
    }
    ok_op("{\"id\":5,\"op\":\"receipts\",\"room\":\"r1\",\"after\":\"u2\"}", PL_OP_RECEIPTS);
    BAD("{\"id\":5,\"op\":\"receipts\"}");
    BAD("{\"id\":5,\"op\":\"receipts\",\"room\":\"r1\",\"after\":\"r2\"}");
    ok_op("{\"id\":5,\"op\":\"typing\",\"room\":\"r1\",\"typing\":false}", PL_OP_TYPING);
    BAD("{\"id\":5,\"op\":\"typing\",\"room\":\"r1\"}");
    BAD("{\"id\":5,\"op\":\"typing\",\"room\":\"r1\",\"typing\":1}");
    BAD("{\"id\":5,\"op\":\"typing\",\"typing\":true}");
    ok_op("{\"id\":5,\"op\":\"presence\",\"status\":\"away\"}", PL_OP_PRESENCE);
    BAD("{\"id\":5,\"op\":\"presence\"}");
    BAD("{\"id\":5,\"op\":\"presence\",\"status\":\"offline\"}");
    BAD("{\"id\":5,\"op\":\"presence\",\"status\":1}");
    ok_op("{\"id\":5,\"op\":\"presence_query\"}", PL_OP_PRESENCE_QUERY);
}

static void test_profile_settings(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"profile_get\",\"user\":\"u3\"}", PL_OP_PROFILE_GET);
    pl_cmd_t c;
    pl_cmd_err_t e;
    assert_int_equal(0, parse("{\"op\":\"profile_get\",\"username\":\"BoB\"}", &c, &e));
    assert_string_equal("bob", c.u.profile_get.username);
    assert_int_equal(0, c.u.profile_get.user);
    pl_cmd_dispose(&c);
    BAD("{\"id\":5,\"op\":\"profile_get\"}");
    BAD("{\"id\":5,\"op\":\"profile_get\",\"user\":\"u3\",\"username\":\"bob\"}");
    BAD("{\"id\":5,\"op\":\"profile_get\",\"user\":3}");
    BAD("{\"id\":5,\"op\":\"profile_get\",\"username\":\"\"}");
    BAD("{\"id\":5,\"op\":\"profile_get\",\"username\":\"012345678901234567890123456789012\"}");
    ok_op("{\"id\":5,\"op\":\"profile_set\",\"bio\":\"\"}", PL_OP_PROFILE_SET);
    ok_op("{\"id\":5,\"op\":\"profile_set\",\"avatar\":null}", PL_OP_PROFILE_SET);
    BAD("{\"id\":5,\"op\":\"profile_set\"}");
    BAD("{\"id\":5,\"op\":\"profile_set\",\"display_name\":\"\"}");
    BAD("{\"id\":5,\"op\":\"profile_set\",\"display_name\":1}");
    BAD("{\"id\":5,\"op\":\"profile_set\",\"avatar\":\"u1\"}");
    char big[700];
    snprintf(big, sizeof big, "{\"id\":5,\"op\":\"profile_set\",\"bio\":\"%0501d\"}", 0);
    err_is(big, "too_large");
    ok_op("{\"id\":5,\"op\":\"settings_get\"}", PL_OP_SETTINGS_GET);
    ok_op("{\"id\":5,\"op\":\"settings_set\",\"settings\":{\"theme\":\"dark\",\"read_receipts\":"
          "false,\"group_add\":\"nobody\"}}",
          PL_OP_SETTINGS_SET);
    BAD("{\"id\":5,\"op\":\"settings_set\"}");
    BAD("{\"id\":5,\"op\":\"settings_set\",\"settings\":[]}");
    BAD("{\"id\":5,\"op\":\"settings_set\",\"settings\":{\"theme\":\"pink\"}}");
    BAD("{\"id\":5,\"op\":\"settings_set\",\"settings\":{\"show_presence\":\"yes\"}}");
    BAD("{\"id\":5,\"op\":\"settings_set\",\"settings\":{\"x\":1}}");
}

static void test_search_emoji(void **state)
{
    (void)state;
    ok_op("{\"id\":5,\"op\":\"search\",\"query\":\"q\"}", PL_OP_SEARCH);
    ok_op("{\"id\":5,\"op\":\"search\",\"query\":\"q\",\"room\":\"r1\",\"limit\":100,\"before\":"
          "\"m9\"}",
          PL_OP_SEARCH);
    BAD("{\"id\":5,\"op\":\"search\"}");
    BAD("{\"id\":5,\"op\":\"search\",\"query\":\"\"}");
    BAD("{\"id\":5,\"op\":\"search\",\"query\":\"q\",\"room\":null}");
    BAD("{\"id\":5,\"op\":\"search\",\"query\":\"q\",\"limit\":101}");
    BAD("{\"id\":5,\"op\":\"search\",\"query\":\"q\",\"before\":\"r9\"}");
    char big[300];
    snprintf(big, sizeof big, "{\"id\":5,\"op\":\"search\",\"query\":\"%0201d\"}", 0);
    BAD(big);
    ok_op("{\"id\":5,\"op\":\"emoji_add\",\"shortcode\":\"party\",\"media\":\"f1\"}",
          PL_OP_EMOJI_ADD);
    BAD("{\"id\":5,\"op\":\"emoji_add\",\"media\":\"f1\"}");
    BAD("{\"id\":5,\"op\":\"emoji_add\",\"shortcode\":\"party\"}");
    BAD("{\"id\":5,\"op\":\"emoji_add\",\"shortcode\":\":party:\",\"media\":\"f1\"}");
    ok_op("{\"id\":5,\"op\":\"emoji_remove\",\"shortcode\":\"party\"}", PL_OP_EMOJI_REMOVE);
    BAD("{\"id\":5,\"op\":\"emoji_remove\"}");
    BAD("{\"id\":5,\"op\":\"emoji_remove\",\"shortcode\":\"Party!\"}");
    ok_op("{\"id\":5,\"op\":\"emoji_list\"}", PL_OP_EMOJI_LIST);
    ok_op("{\"id\":5,\"op\":\"emoji_list\",\"after\":\"party\"}", PL_OP_EMOJI_LIST);
    BAD("{\"id\":5,\"op\":\"emoji_list\",\"after\":1}");
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < PL_OP__COUNT; i++) {
        const char *name = pl_cmd_op_name((pl_op_t)i);
        assert_non_null(name);
        assert_int_equal(i >= PL_OP_CREATE_ROOM, pl_cmd_needs_auth((pl_op_t)i));
    }
    assert_null(pl_cmd_op_name(PL_OP__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_rooms_and_members),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_history_thread),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_receipts_typing_presence),
        cmocka_unit_test(test_profile_settings),
        cmocka_unit_test(test_search_emoji),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
