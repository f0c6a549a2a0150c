/* SPDX-License-Identifier: MIT */
/* test_store_messages.c -- the store's message operations on the direct
 * connection: posting (dedupe, reply and thread checks, media visibility,
 * mentions) and reactions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "store/store.h"

#include "test_store_fx.h"

static int64_t mkgroup(pl_db_t *db, int64_t owner, const int64_t *others, size_t n)
{
    int64_t r = 0;
    assert_int_equal(0, pl_db_room_create_group(db, "g", owner, others, n, 1000, &r));
    return r;
}

/* Posts a plain text message through pl_db_message_post; returns its seq. */
static int64_t post_text(pl_db_t *db, int64_t room, int64_t sender, const char *cid)
{
    pl_message_new_t in = {.room_id = room,
                           .sender = sender,
                           .client_id = cid,
                           .content = "{\"type\":\"text\",\"body\":\"hi\"}",
                           .now_ms = 5000};
    pl_message_t m = {0}, root = {0};
    bool dup = true;
    assert_int_equal(0, pl_db_message_post(db, &in, &m, &dup, &root));
    assert_false(dup);
    int64_t seq = m.seq;
    pl_message_dispose(&m);
    pl_message_dispose(&root);
    return seq;
}

/* ---- reactions ---- */

/* docs/protocol.md: reactions come "in order of first use" and users oldest
 * first. Within one millisecond the order is the order of the calls, not the
 * emoji's bytes or the user ids. */
static void test_reactions_order_same_ms(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    int64_t g = mkgroup(f->db, a, &b, 1);
    int64_t seq = post_text(f->db, g, a, "c1");
    pl_message_t m = {0};
    bool changed = false;
    /* U+1F600 (F0 9F 98 80) first, then U+1F44D (F0 9F 91 8D), whose bytes
     * sort before it; bob before alice, whose id sorts before his. */
    const char *grin = "\xF0\x9F\x98\x80", *thumbs = "\xF0\x9F\x91\x8D";
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, b, grin, true, 20, 7000, &changed, &m));
    pl_message_dispose(&m);
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, b, thumbs, true, 20, 7000, &changed, &m));
    pl_message_dispose(&m);
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, a, thumbs, true, 20, 7000, &changed, &m));
    assert_true(changed);
    char want[256];
    snprintf(want, sizeof want,
             "[{\"emoji\":\"%s\",\"count\":1,\"users\":[\"u%lld\"]},"
             "{\"emoji\":\"%s\",\"count\":2,\"users\":[\"u%lld\",\"u%lld\"]}]",
             grin, (long long)b, thumbs, (long long)b, (long long)a);
    assert_string_equal(want, m.reactions);
    pl_message_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_reactions_order_same_ms),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
