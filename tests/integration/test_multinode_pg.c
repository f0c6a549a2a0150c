/* SPDX-License-Identifier: MIT */
/* test_multinode_pg.c -- two parleyd processes on one PostgreSQL database
 * (issue 13): both take sends to one room at the same time, including
 * retries of the same client_id through the other node, and the room's seqs
 * still come out 1..N without a gap or a duplicate, each client_id stored
 * once and answered with the same seq by both nodes. Then kill -9 of one
 * node under load: every acked message is in the database.
 * Runs only with PL_TEST_PG (the ctest label `pg`); skipped otherwise. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "wsjson.h"

#define PER_NODE 150 /* client_ids each node is sent (half of them also go to the other) */

static th_server_t a, b;

/* Each node keeps recent messages of a room in memory (sync_ring_size) and
 * would not see the other node's: multi-node deployments turn it off. */
static const char *const node_sets[] = {"sync_ring_size=0", "max_inflight_requests=1000", NULL};

/* Pipelines n sends on fd (ids from base), then reads until every reply is
 * in; seqs[i] receives the seq of request i (0 when refused). */
static void send_burst(int fd, const char *room, const char *const *cids, int n, long base,
                       int64_t *seqs)
{
    char req[512];
    for (int i = 0; i < n; i++) {
        snprintf(req, sizeof req,
                 "{\"id\":%ld,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\","
                 "\"content\":{\"type\":\"text\",\"body\":\"m %s\"}}",
                 base + i, room, cids[i], cids[i]);
        th_ws_send_text(fd, req);
    }
    int got = 0;
    enum { CAP = 1 << 16 };
    char *buf = malloc(CAP); /* one per thread: three bursts run at once */
    while (got < n) {
        long len = th_ws_recv_text(fd, buf, CAP, 20000);
        assert_true(len > 0);
        json_t *j = th_json_parse(buf);
        json_t *re = json_object_get(j, "re");
        if (json_is_integer(re) && json_integer_value(re) >= base &&
            json_integer_value(re) < base + n) {
            long i = (long)(json_integer_value(re) - base);
            if (!json_is_true(json_object_get(j, "ok")))
                fail_msg("send refused: %s", buf);
            seqs[i] = th_jint(json_object_get(j, "message"), "seq");
            got++;
        }
        json_decref(j);
    }
    free(buf);
}

typedef struct {
    int fd;
    const char *room;
    const char *const *cids;
    int n;
    long base;
    int64_t *seqs;
} burst_t;

static void *burst_main(void *arg)
{
    burst_t *x = arg;
    send_burst(x->fd, x->room, x->cids, x->n, x->base, x->seqs);
    return NULL;
}

static void test_two_nodes_one_room(void **state)
{
    (void)state;
    if (th_pg() == NULL)
        skip();
    th_server_start(&a, node_sets);
    th_json_bind(&a);
    th_user_t u, v;
    th_new_user(&u, "mn");
    th_new_user(&v, "mv");
    int fa = th_ws_login(&u);
    char members[128];
    snprintf(members, sizeof members, "[\"%s\"]", v.name);
    char *room = th_room_create(fa, "group", members, "multi");
    /* B starts after the room exists (it loads rooms at startup). */
    th_server_start_shared(&b, &a, node_sets);
    th_json_bind(&b);
    int fb = th_ws_login(&u);
    int fv = th_ws_login(&v); /* another sender, on B */

    /* Node A gets c0..c149, node B c75..c224: c75..c149 are sent to both
     * nodes at once (a client retrying through the other node). v sends
     * its own 100 through B meanwhile. */
    static char names[3 * PER_NODE][16];
    const char *ca[PER_NODE], *cb[PER_NODE], *cv[100];
    for (int i = 0; i < 3 * PER_NODE / 2 + PER_NODE / 2; i++)
        snprintf(names[i], sizeof names[i], "c%d", i);
    for (int i = 0; i < PER_NODE; i++) {
        ca[i] = names[i];
        cb[i] = names[i + PER_NODE / 2];
    }
    static char vnames[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(vnames[i], sizeof vnames[i], "v%d", i);
        cv[i] = vnames[i];
    }
    int64_t sa[PER_NODE], sb[PER_NODE], sv[100];
    burst_t xa = {fa, room, ca, PER_NODE, 1000, sa}, xb = {fb, room, cb, PER_NODE, 5000, sb},
            xv = {fv, room, cv, 100, 9000, sv};
    pthread_t ta, tb, tv;
    assert_int_equal(0, pthread_create(&ta, NULL, burst_main, &xa));
    assert_int_equal(0, pthread_create(&tb, NULL, burst_main, &xb));
    assert_int_equal(0, pthread_create(&tv, NULL, burst_main, &xv));
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_join(tv, NULL);

    /* The overlap got one seq, whichever node answered. */
    for (int i = PER_NODE / 2; i < PER_NODE; i++)
        assert_int_equal(sa[i], sb[i - PER_NODE / 2]);

    int distinct = PER_NODE + PER_NODE / 2 + 100;
    /* History (from A): seqs 1..distinct, each client_id once. */
    bool *seen = calloc((size_t)distinct + 1, 1);
    int64_t next = 0, count = 0;
    for (;;) {
        json_t *h = th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":%lld,\"limit\":100",
                            room, (long long)next);
        th_expect_ok(h);
        json_t *msgs = json_object_get(h, "messages");
        size_t n = json_array_size(msgs);
        for (size_t i = 0; i < n; i++) {
            int64_t seq = th_jint(json_array_get(msgs, i), "seq");
            assert_int_equal(next + 1, seq); /* no gap, no duplicate */
            next = seq;
            count++;
            assert_true(seq <= distinct);
            assert_false(seen[seq]);
            seen[seq] = true;
        }
        json_decref(h);
        if (n == 0)
            break;
    }
    assert_int_equal(distinct, count);
    free(seen);
    for (int i = 0; i < PER_NODE; i++) {
        assert_true(sa[i] >= 1 && sa[i] <= distinct);
        assert_true(sb[i] >= 1 && sb[i] <= distinct);
    }
    close(fa);
    close(fb);
    close(fv);
    free(room);
    th_server_stop(&b);
    th_server_cleanup(&b);
    th_server_stop(&a);
    th_server_cleanup(&a);
}

/* kill -9 of a node while both are loaded: what it acked is stored; the
 * surviving node keeps numbering the room after it. */
static void test_kill9_under_load(void **state)
{
    (void)state;
    if (th_pg() == NULL)
        skip();
    th_server_start(&a, node_sets);
    th_json_bind(&a);
    th_user_t u;
    th_new_user(&u, "k9");
    int fa = th_ws_login(&u);
    char *room = th_room_create(fa, "group", "[]", "crash");
    th_server_start_shared(&b, &a, node_sets);
    th_json_bind(&b);
    int fb = th_ws_login(&u);

    /* B gets a stream of sends; it is killed after some acks came back. */
    char req[512];
    int sent = 0;
    for (; sent < 400; sent++) {
        snprintf(req, sizeof req,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"k%d\","
                 "\"content\":{\"type\":\"text\",\"body\":\"x\"}}",
                 sent, room, sent);
        th_ws_send_text(fb, req);
    }
    int64_t acked[400];
    int nacked = 0;
    static char buf[1 << 16];
    while (nacked < 50) {
        long len = th_ws_recv_text(fb, buf, sizeof buf, 20000);
        assert_true(len > 0);
        json_t *j = th_json_parse(buf);
        if (json_is_integer(json_object_get(j, "re")) && json_is_true(json_object_get(j, "ok")))
            acked[nacked++] = json_integer_value(json_object_get(j, "re"));
        json_decref(j);
    }
    th_server_kill9(&b);
    close(fb);
    /* Every acked client_id is stored (a retry through A returns it, not a
     * new seq), and the room's seqs have no gap. */
    json_t *h = th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"limit\":100", room);
    th_expect_ok(h);
    json_decref(h);
    int64_t last = 0;
    for (int i = 0; i < nacked; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "k%lld", (long long)acked[i]);
        json_t *r = th_call(fa,
                            "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                            "{\"type\":\"text\",\"body\":\"retry\"}",
                            room, cid);
        th_expect_ok(r);
        json_t *m = json_object_get(r, "message");
        assert_string_equal("x", th_jstr(json_object_get(m, "content"), "body"));
        if (th_jint(m, "seq") > last)
            last = th_jint(m, "seq");
        json_decref(r);
    }
    /* A new message continues after everything B committed. */
    json_t *r = th_call(fa,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"after\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"after\"}",
                        room);
    th_expect_ok(r);
    int64_t seq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    assert_true(seq > last);
    int64_t next = 0;
    for (;;) {
        json_t *hh = th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":%lld,\"limit\":100",
                             room, (long long)next);
        json_t *msgs = json_object_get(hh, "messages");
        size_t n = json_array_size(msgs);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(next + 1, th_jint(json_array_get(msgs, i), "seq"));
            next++;
        }
        json_decref(hh);
        if (n == 0)
            break;
    }
    assert_int_equal(seq, next);
    close(fa);
    free(room);
    th_server_cleanup(&b);
    th_server_stop(&a);
    th_server_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes_one_room),
        cmocka_unit_test(test_kill9_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
