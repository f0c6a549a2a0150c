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

/* The receipt markers the cluster relay reads from other nodes' receipt
 * events: exactly the two layouts receipts.c frames, nothing else. */
static bool rpeek(const char *ev, int64_t *room, int64_t *user, int64_t *rd, int64_t *dl)
{
    return pl_wire_peek_receipt(ev, strlen(ev), room, user, rd, dl);
}

static void test_peek_receipt(void **state)
{
    (void)state;
    int64_t room = 0, user = 0, rd = 0, dl = 0;
    assert_true(rpeek("{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"read_seq\":3,"
                      "\"delivered_seq\":4,\"ts\":1}",
                      &room, &user, &rd, &dl));
    assert_int_equal(5, room);
    assert_int_equal(7, user);
    assert_int_equal(3, rd);
    assert_int_equal(4, dl);
    assert_true(rpeek("{\"ev\":\"receipt\",\"room\":\"r12\",\"user\":\"u1\",\"delivered_seq\":0}",
                      &room, &user, &rd, &dl));
    assert_int_equal(12, room);
    assert_int_equal(-1, rd); /* no read_seq: the user hides read receipts */
    assert_int_equal(0, dl);
    /* Hostile or foreign text: refused, outputs untouched. */
    static const char *const bad[] = {
        "",
        "{",
        "{\"ev\":\"receipt\"",
        "{\"ev\":\"message\",\"room\":\"r5\",\"user\":\"u7\",\"delivered_seq\":4}",
        "{\"ev\":\"receipt\",\"room\":\"r\",\"user\":\"u7\",\"delivered_seq\":4}",
        "{\"ev\":\"receipt\",\"room\":\"r-5\",\"user\":\"u7\",\"delivered_seq\":4}",
        "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"delivered_seq\":4",
        "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"delivered_seq\":4x}",
        "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"read_seq\":1}",
        "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"read_seq\":,\"delivered_seq\":4}",
        "{\"ev\":\"receipt\",\"room\":\"r1234567890123456789\",\"user\":\"u7\",\"delivered_seq\":"
        "4}",
        "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"delivered_seq\":"
        "99999999999999999999}",
        " {\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"delivered_seq\":4}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        room = user = rd = dl = 77;
        assert_false(rpeek(bad[i], &room, &user, &rd, &dl));
        assert_int_equal(77, room);
        assert_int_equal(77, dl);
    }
    /* A cut-off prefix of a good event is refused at every length. */
    const char *good = "{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"read_seq\":3,"
                       "\"delivered_seq\":4,\"ts\":1}";
    size_t glen = strlen(good);
    size_t cut = strlen("{\"ev\":\"receipt\",\"room\":\"r5\",\"user\":\"u7\",\"read_seq\":3,"
                        "\"delivered_seq\":4");
    for (size_t n = 0; n <= cut; n++)
        assert_false(pl_wire_peek_receipt(good, n, &room, &user, &rd, &dl));
    assert_true(pl_wire_peek_receipt(good, cut + 1, &room, &user, &rd, &dl));
    assert_true(pl_wire_peek_receipt(good, glen, &room, &user, &rd, &dl));
}

/* The receipt markers a watched room's sessions were given (route.c): only
 * members are recorded, and only a marker past the record is news, so a
 * catch-up from the store or a late publish is not delivered twice. */
static void test_rcpt_record(void **state)
{
    (void)state;
    room_t r;
    memset(&r, 0, sizeof r);
    int64_t members[] = {3, 5, 9};
    r.members = members;
    r.nmembers = 3;
    assert_false(pl_chat__rcpt_seen(&r, 4, 1, 1)); /* not a member: never news */
    assert_false(pl_chat__rcpt_known(&r, 4));
    assert_true(pl_chat__rcpt_seen(&r, 5, 2, 3));  /* first */
    assert_false(pl_chat__rcpt_seen(&r, 5, 2, 3)); /* the same again */
    assert_false(pl_chat__rcpt_seen(&r, 5, 1, 2)); /* older */
    assert_true(pl_chat__rcpt_seen(&r, 5, -1, 4)); /* delivered moved (no read shown) */
    assert_true(pl_chat__rcpt_seen(&r, 5, 4, 4));  /* read moved */
    assert_true(pl_chat__rcpt_seen(&r, 3, -1, 1)); /* only the delivered marker heard */
    assert_true(pl_chat__rcpt_seen(&r, 3, 1, 1));  /* then the read marker: news */
    assert_false(pl_chat__rcpt_seen(&r, 3, -1, 1));
    assert_true(pl_chat__rcpt_known(&r, 3) && pl_chat__rcpt_known(&r, 5));
    assert_false(pl_chat__rcpt_known(&r, 9));
    assert_int_equal(2, r.nrcpt);
    assert_true(r.rcpt[0].user < r.rcpt[1].user); /* kept sorted */
    free(r.rcpt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peek_id),
        cmocka_unit_test(test_peek_receipt),
        cmocka_unit_test(test_rcpt_record),
        cmocka_unit_test(test_page_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
