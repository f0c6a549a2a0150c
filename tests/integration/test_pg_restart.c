/* SPDX-License-Identifier: MIT */
/* test_pg_restart.c -- PostgreSQL goes away under two parleyd nodes while
 * clients send (issue 13): a crash (pg_ctl stop -m immediate, then start:
 * crash recovery) and a longer outage (stop -m fast; /readyz must say 503
 * store_down until it is back). Each node has a client sending one message
 * at a time into one room throughout. Afterwards every acked message is in
 * history exactly once with the seq it was acked with, the room's seqs are
 * 1..N without a gap, each client's acks came in seq order, every refused
 * send was answered `internal` (never acked), and resending those with the
 * same client_id succeeds (once: a send whose COMMIT reply was lost may have
 * been stored, and then the resend returns it).
 *
 * The test restarts a cluster of its own (tests/pg/pg-cluster.sh in a temp
 * dir, Unix socket only), not the label's shared one. Runs only with
 * PL_TEST_PG (the ctest label `pg`); skipped otherwise. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "wsjson.h"

#define MAXN 20000 /* sends per client, at most */

static const char *const node_sets[] = {"sync_ring_size=0", "rate_limit_per_sec=1000000", NULL};

static char cluster_dir[128];

static void cluster(const char *cmd_args)
{
    const char *src = getenv("PARLEY_SRC");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "PG_LISTEN= sh '%s/tests/pg/pg-cluster.sh' %s", src ? src : ".",
             cmd_args);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum { UNSENT, ACKED, REFUSED, LOST };

typedef struct {
    int fd;
    const char *room;
    char prefix;
    int state[MAXN];
    int64_t seq[MAXN];
    char bad[256]; /* first unexpected answer */
    int sent;
    _Atomic int acked, refused;
    _Atomic bool stop;
} sender_t;

/* One send at a time, until told to stop: records each answer. */
static void *sender_main(void *arg)
{
    sender_t *s = arg;
    enum { CAP = 1 << 16 };
    char *buf = malloc(CAP), req[512];
    while (!atomic_load(&s->stop) && s->sent < MAXN) {
        int i = s->sent++;
        snprintf(req, sizeof req,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%c%d\","
                 "\"content\":{\"type\":\"text\",\"body\":\"%c%d\"}}",
                 i, s->room, s->prefix, i, s->prefix, i);
        th_ws_send_text(s->fd, req);
        s->state[i] = LOST;
        for (;;) {
            long len = th_ws_recv_text(s->fd, buf, CAP, 30000);
            if (len <= 0) {
                snprintf(s->bad, sizeof s->bad, "no answer to %c%d", s->prefix, i);
                atomic_store(&s->stop, true);
                break;
            }
            json_t *j = th_json_parse(buf);
            json_t *re = json_object_get(j, "re");
            if (!json_is_integer(re) || json_integer_value(re) != i) {
                json_decref(j); /* an event (our own message fanned out) */
                continue;
            }
            if (json_is_true(json_object_get(j, "ok"))) {
                s->state[i] = ACKED;
                s->seq[i] = th_jint(json_object_get(j, "message"), "seq");
                atomic_fetch_add(&s->acked, 1);
            } else {
                const char *code =
                    json_string_value(json_object_get(json_object_get(j, "error"), "code"));
                s->state[i] = REFUSED;
                atomic_fetch_add(&s->refused, 1);
                if ((code == NULL || strcmp(code, "internal") != 0) && s->bad[0] == '\0')
                    snprintf(s->bad, sizeof s->bad, "refused with: %.200s", buf);
                usleep(20000); /* a client backs off before its next send */
            }
            json_decref(j);
            break;
        }
    }
    free(buf);
    return NULL;
}

/* Polls until both senders have `more` acks beyond `base` (generous deadline). */
static void wait_acks(sender_t *x, sender_t *y, int bx, int by, int more)
{
    int64_t deadline = now_ms() + 120000;
    while (atomic_load(&x->acked) < bx + more || atomic_load(&y->acked) < by + more) {
        if (now_ms() > deadline || atomic_load(&x->stop) || atomic_load(&y->stop))
            fail_msg("senders stalled: %d/%d acks (%s; %s)", atomic_load(&x->acked),
                     atomic_load(&y->acked), x->bad, y->bad);
        usleep(10000);
    }
}

/* Polls /readyz until it answers status with a body containing want. */
static void wait_ready(int port, int status, const char *want)
{
    int64_t deadline = now_ms() + 60000;
    char body[256];
    for (;;) {
        int st = th_http(port, "GET", "/readyz", NULL, NULL, body, sizeof body);
        if (st == status && strstr(body, want) != NULL)
            return;
        if (now_ms() > deadline)
            fail_msg("/readyz: wanted %d %s, got %d %s", status, want, st, body);
        usleep(50000);
    }
}

static void test_pg_restart_under_load(void **state)
{
    (void)state;
    if (th_pg() == NULL)
        skip();
    /* A cluster of our own, so restarting it disturbs no other test. */
    snprintf(cluster_dir, sizeof cluster_dir, "/tmp/parley-pgrestart-%ld", (long)getpid());
    /* Unix socket only, in the cluster's own directory: the port only
     * names the socket file. */
    int port = 5432;
    char args[256];
    /* The server's default is asynchronous commit, with WAL flushed rarely:
     * only parleyd's own `SET synchronous_commit = on` (on every connection,
     * reconnects included) makes an ack durable, and a crash after acks
     * that were not would lose them. */
    snprintf(args, sizeof args, "start %s %d >/dev/null", cluster_dir, port);
    setenv("PG_EXTRA_OPTS", "-c synchronous_commit=off -c wal_writer_delay=10s", 1);
    cluster(args);
    unsetenv("PG_EXTRA_OPTS");
    char ci[256];
    snprintf(ci, sizeof ci, "host=%s/sock port=%d user=postgres", cluster_dir, port);
    setenv("PL_TEST_PG", ci, 1);

    static th_server_t a, b;
    th_server_start(&a, node_sets);
    th_json_bind(&a);
    th_user_t u;
    th_new_user(&u, "pr");
    int fa = th_ws_login(&u);
    char *room = th_room_create(fa, "group", "[]", "restart");
    th_server_start_shared(&b, &a, node_sets);
    th_json_bind(&b);
    int fb = th_ws_login(&u);
    th_json_bind(&a);
    int fa2 = th_ws_login(&u);

    static sender_t sa, sb;
    sa = (sender_t){.fd = fa2, .room = room, .prefix = 'a'};
    sb = (sender_t){.fd = fb, .room = room, .prefix = 'b'};
    pthread_t ta, tb;
    assert_int_equal(0, pthread_create(&ta, NULL, sender_main, &sa));
    assert_int_equal(0, pthread_create(&tb, NULL, sender_main, &sb));

    wait_acks(&sa, &sb, 0, 0, 20);
    /* 1: crashes of PostgreSQL (then crash recovery): the second one checks
     * what was acked on the connections made after the first. */
    for (int crash = 0; crash < 2; crash++) {
        snprintf(args, sizeof args, "down %s immediate", cluster_dir);
        cluster(args);
        snprintf(args, sizeof args, "up %s", cluster_dir);
        cluster(args);
        wait_acks(&sa, &sb, atomic_load(&sa.acked), atomic_load(&sb.acked), 20);
    }

    /* 2: an outage: not ready while it lasts, ready again by itself. */
    snprintf(args, sizeof args, "down %s fast", cluster_dir);
    cluster(args);
    wait_ready(a.port, 503, "store_down");
    wait_ready(b.port, 503, "store_down");
    int ra = atomic_load(&sa.refused), rb = atomic_load(&sb.refused);
    int64_t deadline = now_ms() + 60000;
    while (atomic_load(&sa.refused) == ra || atomic_load(&sb.refused) == rb) {
        if (now_ms() > deadline)
            fail_msg("no send refused while PostgreSQL is down");
        usleep(10000);
    }
    snprintf(args, sizeof args, "up %s", cluster_dir);
    cluster(args);
    wait_ready(a.port, 200, "ready");
    wait_ready(b.port, 200, "ready");
    wait_acks(&sa, &sb, atomic_load(&sa.acked), atomic_load(&sb.acked), 20);

    atomic_store(&sa.stop, true);
    atomic_store(&sb.stop, true);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (sa.bad[0] || sb.bad[0])
        fail_msg("%s; %s", sa.bad, sb.bad);
    assert_true(atomic_load(&sa.refused) > 0 && atomic_load(&sb.refused) > 0);
    fprintf(stderr, "sent %d/%d, acked %d/%d, refused %d/%d (node a/b)\n", sa.sent, sb.sent,
            atomic_load(&sa.acked), atomic_load(&sb.acked), atomic_load(&sa.refused),
            atomic_load(&sb.refused));

    /* Each client's acks came in seq order (one send at a time). */
    sender_t *both[2] = {&sa, &sb};
    for (int k = 0; k < 2; k++) {
        int64_t last = 0;
        for (int i = 0; i < both[k]->sent; i++)
            if (both[k]->state[i] == ACKED) {
                assert_true(both[k]->seq[i] > last);
                last = both[k]->seq[i];
            }
    }

    /* Resends of the refused (same client_id): accepted now. */
    th_json_bind(&a);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < both[k]->sent; i++) {
            if (both[k]->state[i] == ACKED)
                continue;
            json_t *r = th_call(fa,
                                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%c%d\","
                                "\"content\":{\"type\":\"text\",\"body\":\"%c%d\"}",
                                room, both[k]->prefix, i, both[k]->prefix, i);
            th_expect_ok(r);
            both[k]->seq[i] = th_jint(json_object_get(r, "message"), "seq");
            both[k]->state[i] = ACKED;
            json_decref(r);
        }

    /* History: 1..N, no gap, every client_id once with the seq it got. */
    int total = sa.sent + sb.sent;
    char *seen = calloc((size_t)total + 1, 1);
    int64_t next = 0;
    for (;;) {
        json_t *h = th_call(fa, "\"op\":\"history\",\"room\":\"%s\",\"after\":%lld,\"limit\":100",
                            room, (long long)next);
        th_expect_ok(h);
        json_t *msgs = json_object_get(h, "messages");
        size_t n = json_array_size(msgs);
        for (size_t i = 0; i < n; i++) {
            json_t *m = json_array_get(msgs, i);
            int64_t seq = th_jint(m, "seq");
            assert_int_equal(next + 1, seq);
            next = seq;
            const char *cid = th_jstr(m, "client_id");
            assert_true(cid[0] == 'a' || cid[0] == 'b');
            sender_t *s = cid[0] == 'a' ? &sa : &sb;
            int idx = atoi(cid + 1);
            assert_true(idx >= 0 && idx < s->sent);
            assert_int_equal(s->seq[idx], seq);
            int slot = (cid[0] == 'a' ? 0 : sa.sent) + idx;
            assert_false(seen[slot]);
            seen[slot] = 1;
        }
        json_decref(h);
        if (n == 0)
            break;
    }
    assert_int_equal(total, next);
    free(seen);

    close(fa);
    close(fa2);
    close(fb);
    free(room);
    th_server_stop(&b);
    th_server_cleanup(&b);
    th_server_stop(&a);
    th_server_cleanup(&a);
}

/* The cluster goes, whatever happened to the test. */
static int teardown(void **state)
{
    (void)state;
    if (cluster_dir[0] != '\0') {
        const char *src = getenv("PARLEY_SRC");
        char cmd[512];
        snprintf(cmd, sizeof cmd, "sh '%s/tests/pg/pg-cluster.sh' stop %s", src ? src : ".",
                 cluster_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "failed: %s\n", cmd);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_restart_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
