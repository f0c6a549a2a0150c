/* SPDX-License-Identifier: MIT */
/* test_chat_wire.c -- the chat core's pure pieces: finding a request's id
 * without parsing it (answers given before the parser runs) and the
 * byte-budgeted pages of list replies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/wire_peek.h"

/* The id's text as peeked, or "null" when none is found. */
static const char *peek(const char *req)
{
    static char out[512];
    const char *id;
    size_t len;
    if (!pl_wire_peek_id(req, strlen(req), &id, &len))
        return "null";
    snprintf(out, sizeof out, "%.*s", (int)len, id);
    return out;
}

static void test_peek_id(void **state)
{
    (void)state;
    assert_string_equal("7", peek("{\"id\":7,\"op\":\"ping\"}"));
    assert_string_equal("-12", peek(" { \"id\" : -12 , \"op\":\"ping\"}"));
    assert_string_equal("\"a\\\"b\"", peek("{\"id\":\"a\\\"b\",\"op\":\"x\"}"));
    /* Not the first key: earlier values of any shape are skipped. */
    assert_string_equal("42", peek("{\"op\":\"send\",\"content\":{\"body\":\"}{\\\"id\\\":1\","
                                   "\"a\":[1,{\"id\":3}]},\"n\":null,\"id\":42}"));
    /* Malformed JSON after the id does not matter: the id is still echoed. */
    assert_string_equal("9", peek("{\"id\":9,oops"));
    /* Nested ids are not the request's. */
    assert_string_equal("null", peek("{\"x\":{\"id\":5}}"));
    /* Ids the protocol refuses, and garbage. */
    assert_string_equal("null", peek("{\"id\":1.5}"));
    assert_string_equal("null", peek("{\"id\":1e3}"));
    assert_string_equal("null", peek("{\"id\":0123}"));
    assert_string_equal("null", peek("{\"id\":12345678901234567890}"));
    assert_string_equal("null", peek("{\"id\":true}"));
    assert_string_equal("null", peek("{\"id\":[1]}"));
    assert_string_equal("null", peek("{\"id\":\"bad\\q\"}"));
    assert_string_equal("null", peek("{\"id\":\"unterminated"));
    /* Escapes the JSON parser refuses are not echoed either. */
    assert_string_equal("null", peek("{\"id\":\"a\\udddd\"}"));
    assert_string_equal("null", peek("{\"id\":\"a\\ud83dx\"}"));
    assert_string_equal("null", peek("{\"id\":\"\\u0000\"}"));
    assert_string_equal("\"\\ud83d\\ude00\\\\u\"", peek("{\"id\":\"\\ud83d\\ude00\\\\u\"}"));
    assert_string_equal("null", peek("[1,2]"));
    assert_string_equal("null", peek(""));
    assert_string_equal("null", peek("{\"a\":\"x\" \"id\":1}"));
    char raw[200];
    memset(raw, 'x', sizeof raw);
    snprintf(raw, sizeof raw, "{\"id\":\"%0150d\"}", 0);
    assert_string_equal("null", peek(raw)); /* longer than 128 bytes */
    /* Every prefix of a request is handled without reading past it. */
    const char *full = "{\"op\":\"a\",\"x\":[{\"y\":\"\\u00e9]\"}],\"id\":\"q\"}";
    for (size_t n = 0; n < strlen(full); n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, full, n);
        const char *id;
        size_t len;
        (void)pl_wire_peek_id(cut, n, &id, &len);
        free(cut);
    }
    assert_string_equal("\"q\"", peek(full));
}

static pl_message_t msg(int64_t seq, const char *content)
{
    pl_message_t m = {0};
    m.room_id = 1;
    m.seq = seq;
    m.id = seq;
    m.sender = 1;
    m.ts = 1;
    m.client_id = (char *)"c";
    m.content = (char *)content;
    return m;
}

static void test_page_budget(void **state)
{
    (void)state;
    char *big = malloc(1002);
    big[0] = '"';
    memset(big + 1, 'x', 999);
    big[1000] = '"';
    big[1001] = '\0';
    pl_page_t p;
    /* The first entry always fits, however large. */
    pl_page_init(&p, 100);
    pl_message_t m = msg(1, big);
    assert_true(pl_page_add(&p, &m, PL_PAGE_MESSAGE));
    m.seq = 2;
    assert_false(pl_page_add(&p, &m, PL_PAGE_MESSAGE));
    assert_true(p.full);
    assert_int_equal(1, p.n);
    pl_page_dispose(&p);
    /* Within the budget: entries until the next would pass it. */
    pl_page_init(&p, 3500);
    int kept = 0;
    for (int i = 1; i <= 10; i++) {
        m = msg(i, big);
        if (!pl_page_add(&p, &m, i % 2 ? PL_PAGE_EV_MESSAGE : PL_PAGE_EV_UPDATE))
            break;
        kept++;
    }
    assert_int_equal(3, kept);
    assert_true(p.text.len <= 3500);
    /* Entries are whole JSON objects; join keeps or reverses their order. */
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "[");
    pl_page_join(&p, &b, true);
    pl_buf_lit(&b, "]");
    pl_buf_append(&b, "", 1);
    json_error_t e;
    json_t *j = json_loads(pl_buf_head(&b), 0, &e);
    assert_non_null(j);
    assert_int_equal(3, json_array_size(j));
    assert_int_equal(3, json_integer_value(json_object_get(json_array_get(j, 0), "seq")));
    assert_string_equal("update", json_string_value(json_object_get(json_array_get(j, 1), "ev")));
    json_decref(j);
    pl_buf_dispose(&b);
    pl_str_t first = pl_page_entry(&p, 0);
    assert_true(first.len > 1000 && first.p[0] == '{' && first.p[first.len - 1] == '}');
    pl_page_dispose(&p);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peek_id),
        cmocka_unit_test(test_page_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
