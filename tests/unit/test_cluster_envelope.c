/* SPDX-License-Identifier: MIT */
/* test_cluster_envelope.c -- the cluster bus's message format
 * (src/cluster/envelope.c): round trips and hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cluster/envelope.h"
#include "core/buf.h"
#include "core/err.h"

static int parse(const char *s, pl_env_t *e)
{
    return pl_env_parse(s, strlen(s), e);
}

static void test_round_trip(void **state)
{
    (void)state;
    pl_buf_t b;
    pl_buf_init(&b);
    const char ev[] = "{\"ev\":\"message\",\"room\":\"r7\",\"seq\":42}";
    pl_env_format(&b, "node-a", PL_ENV_ROOM, 7, 42, 0, 3, ev, sizeof ev - 1);
    pl_env_t e;
    assert_int_equal(0, pl_env_parse(pl_buf_head(&b), b.len, &e));
    assert_int_equal(6, e.node_len);
    assert_memory_equal("node-a", e.node, 6);
    assert_int_equal(PL_ENV_ROOM, e.kind);
    assert_int_equal(7, e.a);
    assert_int_equal(42, e.b);
    assert_int_equal(0, e.c);
    assert_int_equal(3, e.d);
    assert_int_equal(sizeof ev - 1, e.payload_len);
    assert_memory_equal(ev, e.payload, e.payload_len);
    pl_buf_dispose(&b);

    /* Empty payload; the largest number; binary and newlines in the payload. */
    pl_buf_init(&b);
    pl_env_format(&b, "n1", PL_ENV_MEMBER, 1000000000000000000LL, 5, 1, 0, "", 0);
    assert_int_equal(0, pl_env_parse(pl_buf_head(&b), b.len, &e));
    assert_int_equal(1000000000000000000LL, e.a);
    assert_int_equal(0, e.payload_len);
    pl_buf_dispose(&b);
    pl_buf_init(&b);
    pl_env_format(&b, "n1", PL_ENV_CLOSE, 1, 2, 1008, 0, "a\nb\0c", 5);
    assert_int_equal(0, pl_env_parse(pl_buf_head(&b), b.len, &e));
    assert_int_equal(5, e.payload_len);
    assert_memory_equal("a\nb\0c", e.payload, 5);
    pl_buf_dispose(&b);
    /* A mute (moderation, issue 17): room, user, until. */
    pl_buf_init(&b);
    pl_env_format(&b, "n1", PL_ENV_MUTE, 7, 9, 1765000000000LL, 0, "", 0);
    assert_int_equal(0, pl_env_parse(pl_buf_head(&b), b.len, &e));
    assert_int_equal(PL_ENV_MUTE, e.kind);
    assert_int_equal(9, e.b);
    assert_int_equal(1765000000000LL, e.c);
    pl_buf_dispose(&b);

    /* The failure-detection kinds on pl:nodes: a heartbeat and a notice of
     * lost publishes. */
    const char kinds[] = {PL_ENV_HEARTBEAT, PL_ENV_LOST};
    for (size_t i = 0; i < sizeof kinds; i++) {
        pl_buf_init(&b);
        pl_env_format(&b, "node-d", kinds[i], 0, 0, 0, 0, "", 0);
        assert_int_equal(0, pl_env_parse(pl_buf_head(&b), b.len, &e));
        assert_int_equal(kinds[i], e.kind);
        assert_int_equal(6, e.node_len);
        assert_int_equal(0, e.payload_len);
        pl_buf_dispose(&b);
    }
}

static void test_hostile(void **state)
{
    (void)state;
    pl_env_t e;
    const char *bad[] = {
        "",
        "PL1",
        "PL1 ",
        "PL2 a R 1 2 3 4\n",
        "PL1  R 1 2 3 4\n",                     /* empty node */
        "PL1 a/b R 1 2 3 4\n",                  /* bad node character */
        "PL1 a X 1 2 3 4\n",                    /* unknown kind */
        "PL1 a RR 1 2 3 4\n",                   /* kind of two letters */
        "PL1 a R 1 2 3\n",                      /* a number missing */
        "PL1 a R 1 2 3 4",                      /* no header end */
        "PL1 a R 1 2 3 4 5\n",                  /* one number too many */
        "PL1 a R -1 2 3 4\n",                   /* negative */
        "PL1 a R 1x 2 3 4\n",                   /* not a number */
        "PL1 a R 1  2 3 4\n",                   /* two spaces */
        "PL1 a R 1000000000000000001 2 3 4\n",  /* > 10^18 */
        "PL1 a R 99999999999999999999 2 3 4\n", /* would overflow */
        "PL1 a R 1 2 3 4 \n",                   /* trailing space */
        "PL1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa R 1 2 3 4\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.kind = 0;
        assert_int_equal(PL_EPROTO, parse(bad[i], &e));
        assert_int_equal(0, e.kind); /* out untouched on error */
    }
    /* A header cut anywhere is refused, never read past its length. */
    const char ok[] = "PL1 node R 12 34 56 78\n{}";
    for (size_t n = 0; n < strlen(ok) - 2; n++)
        assert_int_equal(PL_EPROTO, pl_env_parse(ok, n, &e));
    assert_int_equal(0, parse(ok, &e));
    assert_int_equal(64, PL_ENV_NODE_MAX);
    assert_true(pl_env_node_ok("a.b_c:d-9", 9));
    assert_false(pl_env_node_ok("a b", 3));
    assert_false(pl_env_node_ok("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
