/* SPDX-License-Identifier: MIT */
/* test_cluster_state.c -- state shared by the nodes in Redis (issue 13):
 * presence over two nodes (a user who closes one of two nodes stays
 * online; a node killed with -9 has its users go offline on the other
 * after the TTL, told once), presence_query answered from the shared
 * state, typing across nodes, a per-user rate limit shared by two nodes,
 * and Redis going down and coming back (per-node behaviour meanwhile, the
 * shared state rebuilt after).
 *
 * Two parleyd nodes on one SQLite data directory (or, under the `pg`
 * label, one PostgreSQL database) and a redis-server, all started here and
 * stopped by PID. Skipped without redis-server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_fx.h"
#include "harness.h"
#include "wsjson.h"

#define RATE 20 /* rate_limit_per_sec of both nodes (burst 40) */

static char tmpdir[256];
static th_proc_t redis;
static th_server_t na, nb;

static const char *const *node_settings(const char *node_id)
{
    static char r[2][64], n[2][64];
    int i = node_id[0] == 'a' ? 0 : 1;
    snprintf(r[i], sizeof r[i], "redis=127.0.0.1:%d", redis.port);
    snprintf(n[i], sizeof n[i], "node_id=%s", node_id);
    static const char *s[2][12];
    s[i][0] = r[i];
    s[i][1] = n[i];
    s[i][2] = "presence_grace_ms=200";
    s[i][3] = "presence_ttl_ms=1500";
    s[i][4] = "presence_heartbeat_ms=200";
    s[i][5] = "rate_sync_ms=50";
    s[i][6] = "rate_limit_per_sec=20" /* RATE */;
    s[i][7] = "redis_reconnect_max_ms=400";
    s[i][8] = NULL;
    return s[i];
}

static void node_start(th_server_t *n, const char *node_id)
{
    if (n == &na) {
        th_server_start(n, node_settings(node_id));
    } else {
        memset(n, 0, sizeof *n);
        snprintf(n->data_dir, sizeof n->data_dir, "%s", na.data_dir);
        snprintf(n->log_path, sizeof n->log_path, "%s/parleyd-%s.log", tmpdir, node_id);
        snprintf(n->pg_conninfo, sizeof n->pg_conninfo, "%s", na.pg_conninfo);
        n->pg_shared = na.pg_conninfo[0] != '\0';
        th_server_restart(n, node_settings(node_id));
    }
    th_wait_ready(n->port, 200);
}

static int setup(void **state)
{
    (void)state;
    if (!th_have("redis-server"))
        return 0; /* each test skips */
    char t[] = "/tmp/parley-it-XXXXXX";
    assert_non_null(mkdtemp(t));
    snprintf(tmpdir, sizeof tmpdir, "%s", t);
    redis.port = th_free_port();
    th_redis_start(&redis, tmpdir);
    node_start(&na, "a");
    node_start(&nb, "b");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (tmpdir[0] == '\0')
        return 0;
    if (na.pid > 0)
        th_server_stop(&na);
    if (nb.pid > 0)
        th_server_stop(&nb);
    th_proc_kill(&redis, SIGTERM);
    th_server_cleanup(&na);
    if (!getenv("PARLEY_KEEP_LOGS")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return 0;
}

#define NEED_CLUSTER()                                                                             \
    do {                                                                                           \
        if (tmpdir[0] == '\0')                                                                     \
            skip();                                                                                \
    } while (0)

/* ---- helpers ---- */

static void user_on(th_server_t *s, th_user_t *u, const char *prefix)
{
    th_json_bind(s);
    th_new_user(u, prefix);
}

static int login_on(th_server_t *s, const th_user_t *u)
{
    th_json_bind(s);
    return th_ws_login(u);
}

static json_int_t stat_of(th_server_t *s, const char *key)
{
    th_json_bind(s);
    return th_stat(key);
}

/* Waits until node s's stat key exceeds base. */
static void wait_stat_above(th_server_t *s, const char *key, json_int_t base)
{
    int64_t deadline = th_now_ms() + 15000;
    while (stat_of(s, key) <= base) {
        if (th_now_ms() > deadline)
            fail_msg("node on %d: %s never went above %lld", s->port, key, (long long)base);
        usleep(20000);
    }
}

/* presence_query on fd: the status of user uid. */
static char *query_status(int fd, const char *uid)
{
    json_t *r = th_call(fd, "\"op\":\"presence_query\"");
    th_expect_ok(r);
    json_t *arr = json_object_get(r, "presence");
    char *out = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        if (strcmp(th_jstr(e, "user"), uid) == 0)
            out = strdup(th_jstr(e, "status"));
    }
    json_decref(r);
    assert_non_null(out);
    return out;
}

/* Polls presence_query on fd until uid shows want (15 s). */
static void wait_status(int fd, const char *uid, const char *want)
{
    int64_t deadline = th_now_ms() + 15000;
    for (;;) {
        char *st = query_status(fd, uid);
        bool done = strcmp(st, want) == 0;
        if (!done && th_now_ms() > deadline)
            fail_msg("%s stayed %s, want %s", uid, st, want);
        free(st);
        if (done)
            return;
        usleep(50000);
    }
}

/* Sends a text message (the marker) on fd, then reads watcher's frames up
 * to that message, counting `presence` events about uid with the status
 * given (NULL: any). */
static int presence_until_marker(int fd, int watcher, const char *room, const char *uid,
                                 const char *status, const char *cid)
{
    json_t *r = th_call(fd,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"marker\"}",
                        room, cid);
    th_expect_ok(r);
    json_decref(r);
    static char buf[1 << 16];
    int n = 0;
    for (;;) {
        if (th_ws_recv_text(watcher, buf, sizeof buf, 10000) < 0)
            fail_msg("marker %s never arrived", cid);
        json_t *j = th_json_parse(buf);
        const char *ev = th_jstr(j, "ev");
        if (ev && !strcmp(ev, "presence") && !strcmp(th_jstr(j, "user"), uid) &&
            (status == NULL || !strcmp(th_jstr(j, "status"), status)))
            n++;
        bool end = ev && !strcmp(ev, "message") && !strcmp(th_jstr(j, "client_id"), cid);
        json_decref(j);
        if (end)
            return n;
    }
}

/* The next `presence` event about uid on fd (others skipped). */
static json_t *next_presence(int fd, const char *uid)
{
    for (;;) {
        json_t *e = th_next_event(fd, "presence");
        if (strcmp(th_jstr(e, "user"), uid) == 0)
            return e;
        json_decref(e);
    }
}

static char *group_of(int fd, const th_user_t *a, const th_user_t *b)
{
    char members[128];
    if (b != NULL)
        snprintf(members, sizeof members, "[\"%s\",\"%s\"]", a->name, b->name);
    else
        snprintf(members, sizeof members, "[\"%s\"]", a->name);
    return th_room_create(fd, "group", members, "g");
}

/* ---- tests ---- */

/* x on both nodes; closing b keeps x online for everyone (one `online`
 * event, no `offline`); typing crosses nodes; then x only on b, b killed
 * with -9: a tells x's contacts `offline` once, after the TTL. */
static void test_presence_two_nodes(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t w, x, v;
    user_on(&na, &w, "psw");
    user_on(&na, &x, "psx");
    user_on(&na, &v, "psv");
    int fw = login_on(&na, &w);
    char *g = group_of(fw, &x, &v);
    int fv = login_on(&nb, &v); /* a contact on node b */
    int fxa = login_on(&na, &x);
    int fxb = login_on(&nb, &x);
    /* Exactly one `online` for x reached w (two sessions, two nodes). */
    assert_int_equal(1, presence_until_marker(fxa, fw, g, x.id, NULL, "m1"));
    /* Typing on b reaches a. */
    json_t *r = th_call(fxb, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g);
    th_expect_ok(r);
    json_decref(r);
    json_t *e = th_next_event(fw, "typing");
    assert_string_equal(x.id, th_jstr(e, "user"));
    json_decref(e);
    /* x closes its session on b: b writes its offline after the grace;
     * x is still online on a: nobody is told anything. */
    json_int_t sets = stat_of(&nb, "presence_shared_sets");
    close(fxb);
    wait_stat_above(&nb, "presence_shared_sets", sets);
    assert_int_equal(0, presence_until_marker(fxa, fw, g, x.id, NULL, "m2"));
    /* v on b has no session of x there: its answer is the shared one. */
    char *st = query_status(fv, x.id);
    assert_string_equal("online", st);
    free(st);
    /* x moves to b only. */
    fxb = login_on(&nb, &x);
    sets = stat_of(&na, "presence_shared_sets");
    close(fxa);
    wait_stat_above(&na, "presence_shared_sets", sets);
    assert_int_equal(0, presence_until_marker(fxb, fw, g, x.id, NULL, "m3"));
    st = query_status(fw, x.id);
    assert_string_equal("online", st);
    free(st);
    /* Node b dies: a reaps it after the TTL and tells w once. */
    json_int_t reaped = stat_of(&na, "presence_reaped");
    th_server_kill9(&nb);
    close(fxb);
    close(fv);
    e = next_presence(fw, x.id);
    assert_string_equal("offline", th_jstr(e, "status"));
    json_decref(e);
    assert_true(stat_of(&na, "presence_reaped") > reaped);
    st = query_status(fw, x.id);
    assert_string_equal("offline", st);
    free(st);
    /* w stays online and nothing more about x comes. */
    int fw2 = login_on(&na, &w);
    assert_int_equal(0, presence_until_marker(fw2, fw, g, x.id, NULL, "m4"));
    close(fw2);
    close(fw);
    free(g);
    node_start(&nb, "b");
}

/* One user on both nodes, each connection sending as fast as replies come:
 * together they get about one node's allowance (2 x RATE burst + RATE per
 * second), not twice it. The bound below allows one extra burst (the other
 * node grants before its first sync) and scales with the measured time, so
 * a slow machine only makes it looser. */
static void test_rate_shared(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t u;
    user_on(&na, &u, "rls");
    int fds[2] = {login_on(&na, &u), login_on(&nb, &u)};
    json_int_t cuts = stat_of(&na, "rate_shared_cuts") + stat_of(&nb, "rate_shared_cuts");
    int granted = 0, refused[2] = {0, 0};
    long id = 1000;
    int64_t t0 = th_now_ms();
    static char buf[8192];
    while (th_now_ms() - t0 < 2500) {
        for (int k = 0; k < 2; k++) {
            char req[64];
            for (int i = 0; i < 5; i++) {
                snprintf(req, sizeof req, "{\"id\":%ld,\"op\":\"ping\"}", id++);
                th_ws_send_text(fds[k], req);
            }
            for (int i = 0; i < 5; i++) {
                if (th_ws_recv_text(fds[k], buf, sizeof buf, 10000) < 0)
                    fail_msg("no reply");
                if (strstr(buf, "\"re\"") == NULL) {
                    i--; /* an event */
                    continue;
                }
                if (strstr(buf, "rate_limited") != NULL)
                    refused[k]++;
                else
                    granted++;
            }
        }
        usleep(10000);
    }
    double secs = (double)(th_now_ms() - t0) / 1000.0;
    double one_node = 2.0 * RATE + RATE * secs;
    fprintf(stderr, "rate: granted %d in %.2f s over two nodes (one node's allowance %.0f)\n",
            granted, secs, one_node);
    assert_true(granted >= 2 * RATE);                        /* the burst was there */
    assert_true((double)granted <= one_node + 2 * RATE + 5); /* not twice */
    assert_true(refused[0] > 0 && refused[1] > 0);
    assert_true(stat_of(&na, "rate_shared_cuts") + stat_of(&nb, "rate_shared_cuts") > cuts);
    close(fds[0]);
    close(fds[1]);
}

/* Redis down: each node keeps presence itself (a contact on the same node
 * is told); Redis back: the nodes register their users again and a node
 * without the user's session answers from the shared state. */
static void test_redis_down_and_back(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t w, y, v;
    user_on(&na, &w, "rdw");
    user_on(&na, &y, "rdy");
    user_on(&na, &v, "rdv");
    int fw = login_on(&na, &w);
    char *g = group_of(fw, &y, &v);
    int fv = login_on(&nb, &v);
    json_int_t regs = stat_of(&na, "presence_registers");
    th_proc_kill(&redis, SIGKILL);
    th_wait_ready(na.port, 503);
    th_wait_ready(nb.port, 503);
    /* y comes online on a while Redis is down: w on a is told. */
    int fy = login_on(&na, &y);
    json_t *e = next_presence(fw, y.id);
    assert_string_equal("online", th_jstr(e, "status"));
    json_decref(e);
    char *st = query_status(fw, y.id); /* answered from a's own view */
    assert_string_equal("online", st);
    free(st);
    th_redis_start(&redis, tmpdir); /* same port, empty */
    th_wait_ready(na.port, 200);
    th_wait_ready(nb.port, 200);
    wait_stat_above(&na, "presence_registers", regs);
    /* v on b: y is online (only a holds y's session). */
    wait_status(fv, y.id, "online");
    /* And y leaving is told over both nodes again. */
    close(fy);
    e = next_presence(fv, y.id);
    while (strcmp(th_jstr(e, "status"), "offline") != 0) {
        json_decref(e);
        e = next_presence(fv, y.id);
    }
    json_decref(e);
    wait_status(fw, y.id, "offline");
    close(fw);
    close(fv);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presence_two_nodes),
        cmocka_unit_test(test_rate_shared),
        cmocka_unit_test(test_redis_down_and_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
