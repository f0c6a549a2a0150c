/* SPDX-License-Identifier: MIT */
/* test_cluster.c -- two parleyd nodes on loopback sharing one store, a
 * redis-server and an HAProxy started by the test (issue 13): cross-node
 * delivery in order exactly once; typing, receipts, presence, edits and
 * membership across nodes; logout on one node closing sockets on the other;
 * per-room subscriptions and batched resubscription; /readyz and draining;
 * kill -9 of a node under load (clients reconnect through HAProxy and catch
 * up) and a Redis restart (nodes backfill from the store), with every acked
 * message delivered once, in order.
 *
 * The store: both nodes open the same SQLite data directory (WAL; a
 * single-host test setup, see docs/operations.md), or under the `pg` label
 * (PL_TEST_PG) the same PostgreSQL database (node_start).
 *
 * Skipped when redis-server or haproxy is not installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

/* ---- processes the test starts (stopped by PID) ---- */

typedef struct {
    pid_t pid;
    int port;
} proc_t;

static char tmpdir[256];   /* this run's directory (redis, haproxy files) */
static proc_t redis, hap;  /* hap.port: the front door */
static th_server_t na, nb; /* node a and node b (same data dir) */
static th_server_t front;  /* a th_server_t naming HAProxy's port, for th_json_bind */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(0, bind(fd, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pid_t spawn(const char *const argv[], const char *log)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void proc_kill(proc_t *p, int sig)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, sig);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* ---- a relay in front of Redis that the test can cut ----
 * One node's bus connections go through it, so that node alone loses Redis
 * while the others keep it. A process group: the listener forks a child per
 * connection; cutting kills the whole group (every connection ends at
 * once, and new ones are refused until relay_up). */
static proc_t relay;

static void relay_copy(int a, int b)
{
    static char buf[65536];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(0);
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].revents == 0)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0)
                _exit(0);
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(p[1 - i].fd, buf + off, (size_t)(n - off));
                if (w <= 0)
                    _exit(0);
                off += w;
            }
        }
    }
}

static void relay_serve(int lfd)
{
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            _exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the listener */
            close(lfd);
            int r = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)redis.port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            if (connect(r, (struct sockaddr *)&a, sizeof a) != 0)
                _exit(0);
            relay_copy(c, r);
        }
        close(c);
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
}

static void relay_up(void)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)relay.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0)
            _exit(1);
        relay_serve(lfd);
    }
    setpgid(pid, pid); /* also here: the kill below must find the group */
    relay.pid = pid;
    int64_t deadline = now_ms() + 30000;
    while (!port_open(relay.port)) {
        if (now_ms() > deadline)
            fail_msg("the relay did not start");
        usleep(10000);
    }
}

static void relay_cut(void)
{
    if (relay.pid <= 0)
        return;
    kill(-relay.pid, SIGKILL);
    waitpid(relay.pid, NULL, 0);
    relay.pid = 0;
}

static void redis_start(void)
{
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", redis.port);
    snprintf(log, sizeof log, "%s/redis.log", tmpdir);
    const char *argv[] = {"redis-server", "--port", port,           "--bind", "127.0.0.1",
                          "--save",       "",       "--appendonly", "no",     "--daemonize",
                          "no",           "--dir",  tmpdir,         NULL};
    redis.pid = spawn(argv, log);
    int64_t deadline = now_ms() + 30000;
    while (!port_open(redis.port)) {
        if (now_ms() > deadline)
            fail_msg("redis-server did not start; log: %s", log);
        usleep(20000);
    }
}

/* A node's settings: the bus, a name, the proxy it trusts, a short drain.
 * Node a has slot 0, every other node slot 1 (taken before the next node
 * starts). redis_port: Redis, or a relay in front of it. */
static const char *const *node_settings_on(const char *node_id, int redis_port)
{
    static char r[2][64], n[2][64];
    int i = node_id[0] == 'a' ? 0 : 1;
    snprintf(r[i], sizeof r[i], "redis=127.0.0.1:%d", redis_port);
    snprintf(n[i], sizeof n[i], "node_id=%s", node_id);
    static const char *s[2][12];
    s[i][0] = r[i];
    s[i][1] = n[i];
    s[i][2] = "trusted_proxies=127.0.0.2/32"; /* HAProxy's source address (haproxy_start) */
    s[i][3] = "presence_grace_ms=300";
    s[i][4] = "drain_ms=1500";
    s[i][5] = "redis_reconnect_max_ms=400";
    s[i][6] = "rate_limit_per_sec=100000"; /* senders pipeline hundreds of sends */
    s[i][7] = "max_inflight_requests=1000";
    /* A silent node is buried (and caught up on) within about a second. */
    s[i][8] = "cluster_heartbeat_ms=250";
    s[i][9] = "cluster_peer_timeout_ms=1500";
    s[i][10] = NULL;
    return s[i];
}

static const char *const *node_settings(const char *node_id)
{
    return node_settings_on(node_id, redis.port);
}

static int ready_status(int port)
{
    char body[256];
    return th_http(port, "GET", "/readyz", NULL, NULL, body, sizeof body);
}

static void wait_ready(int port, int want)
{
    int64_t deadline = now_ms() + 30000;
    while (ready_status(port) != want) {
        if (now_ms() > deadline)
            fail_msg("/readyz on %d never answered %d", port, want);
        usleep(20000);
    }
}

static void node_start(th_server_t *n, const char *node_id)
{
    if (n == &na) {
        th_server_start(n, node_settings(node_id));
    } else {
        /* Same data directory as node a, its own port and log; under the
         * `pg` label (PL_TEST_PG) also node a's PostgreSQL database. */
        memset(n, 0, sizeof *n);
        snprintf(n->data_dir, sizeof n->data_dir, "%s", na.data_dir);
        snprintf(n->log_path, sizeof n->log_path, "%s/parleyd-%s.log", tmpdir, node_id);
        snprintf(n->pg_conninfo, sizeof n->pg_conninfo, "%s", na.pg_conninfo);
        n->pg_shared = na.pg_conninfo[0] != '\0';
        th_server_restart(n, node_settings(node_id));
    }
    wait_ready(n->port, 200);
}

static void haproxy_start(void)
{
    char cfg[300], log[300];
    snprintf(cfg, sizeof cfg, "%s/haproxy.cfg", tmpdir);
    snprintf(log, sizeof log, "%s/haproxy.log", tmpdir);
    /* The repository's template with the ports filled in. */
    char tpl[512];
    const char *src = getenv("PARLEY_SRC");
    snprintf(tpl, sizeof tpl, "%s/conf/haproxy.cfg.in", src ? src : ".");
    FILE *in = fopen(tpl, "r");
    assert_non_null(in);
    FILE *out = fopen(cfg, "w");
    assert_non_null(out);
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        char buf[1200];
        char *p;
        if ((p = strstr(line, "@FRONT_PORT@")) != NULL) {
            *p = '\0';
            snprintf(buf, sizeof buf, "%s%d%s", line, hap.port, p + 12);
        } else if ((p = strstr(line, "@NODE_A_PORT@")) != NULL) {
            *p = '\0';
            snprintf(buf, sizeof buf, "%s%d%s", line, na.port, p + 13);
        } else if ((p = strstr(line, "@NODE_B_PORT@")) != NULL) {
            *p = '\0';
            snprintf(buf, sizeof buf, "%s%d%s", line, nb.port, p + 13);
        } else if ((p = strstr(line, "@SERVER_OPTS@")) != NULL && line[4] != '#') {
            *p = '\0';
            snprintf(buf, sizeof buf, "%ssource 127.0.0.2%s", line, p + 13);
        } else {
            snprintf(buf, sizeof buf, "%s", line);
        }
        fputs(buf, out);
    }
    fclose(in);
    fclose(out);
    const char *argv[] = {"haproxy", "-db", "-f", cfg, NULL};
    hap.pid = spawn(argv, log);
    int64_t deadline = now_ms() + 30000;
    while (!port_open(hap.port)) {
        if (now_ms() > deadline)
            fail_msg("haproxy did not start; log: %s", log);
        usleep(20000);
    }
    memset(&front, 0, sizeof front);
    front.port = hap.port;
}

static bool have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static int setup(void **state)
{
    (void)state;
    if (!have("redis-server") || !have("haproxy"))
        return 0; /* each test skips */
    char t[] = "/tmp/parley-it-XXXXXX";
    assert_non_null(mkdtemp(t));
    snprintf(tmpdir, sizeof tmpdir, "%s", t);
    redis.port = free_port();
    redis_start();
    node_start(&na, "a");
    node_start(&nb, "b");
    hap.port = free_port();
    haproxy_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (tmpdir[0] == '\0')
        return 0;
    proc_kill(&hap, SIGTERM);
    if (na.pid > 0)
        th_server_stop(&na);
    if (nb.pid > 0)
        th_server_stop(&nb);
    proc_kill(&redis, SIGTERM);
    th_server_cleanup(&na); /* removes the shared data dir's parent */
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

static json_t *ok(json_t *r)
{
    th_expect_ok(r);
    return r;
}

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

static json_int_t send_text(int fd, const char *room, const char *cid, const char *body)
{
    json_t *r = ok(th_call(fd,
                           "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                           "{\"type\":\"text\",\"body\":\"%s\"}",
                           room, cid, body));
    json_int_t seq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    return seq;
}

static json_int_t stat_of(th_server_t *s, const char *key)
{
    th_json_bind(s);
    return th_stat(key);
}

/* Waits until node s's bus has confirmed every channel it wants. */
static void wait_subscribed(th_server_t *s)
{
    int64_t deadline = now_ms() + 30000;
    while (stat_of(s, "cluster_subscriptions") != stat_of(s, "cluster_wanted")) {
        if (now_ms() > deadline)
            fail_msg("node on %d: subscriptions never matched", s->port);
        usleep(10000);
    }
}

/* The seqs of `message` events for room seen on fd, appended to seqs (cap
 * entries); reads until ms pass without a frame. Returns false if the
 * connection ended (close frame or EOF). */
static int failed_ids[1024]; /* ids of requests answered ok:false (collect) */
static size_t nfailed;
static size_t nupdates; /* `update` events of the room seen by collect */

static bool collect(int fd, const char *room, json_int_t *seqs, size_t *n, size_t cap, int ms)
{
    static char buf[1 << 20];
    for (;;) {
        size_t len;
        int cc;
        /* Wait for the first byte only: a frame once started is read whole
         * (a timeout inside a frame would lose its place in the stream). */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            return true;
        int op = th_ws_recv(fd, buf, sizeof buf, &len, &cc, 5000);
        if (op == 0x8)
            return false;
        if (op < 0) {
            char c;
            ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            return !(r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK));
        }
        if (op == 0x9) {
            th_ws_send_frame(fd, 0x8A, buf, len); /* pong */
            continue;
        }
        if (op != 0x1)
            continue;
        json_t *j = th_json_parse(buf);
        const char *ev = th_jstr(j, "ev");
        const char *r = th_jstr(j, "room");
        if (ev && r && !strcmp(ev, "message") && !strcmp(r, room) && *n < cap)
            seqs[(*n)++] = th_jint(j, "seq");
        if (ev && r && !strcmp(ev, "update") && !strcmp(r, room))
            nupdates++;
        json_t *okv = json_object_get(j, "ok");
        if (okv != NULL && json_is_false(okv) &&
            nfailed < sizeof failed_ids / sizeof failed_ids[0]) {
            /* A refused request (e.g. a storage error when the two nodes'
             * commits collide): the caller may retry it. */
            fprintf(stderr, "note: request %lld refused: %s\n", (long long)th_jint(j, "re"), buf);
            failed_ids[nfailed++] = (int)th_jint(j, "re");
        }
        json_decref(j);
    }
}

/* Like collect, but reads until want messages of room arrived (or the
 * connection ended, or deadline_ms passed: the check that follows fails),
 * then for quiet_ms more, so a duplicate that follows is seen too. */
static bool collect_until(int fd, const char *room, json_int_t *seqs, size_t *n, size_t cap,
                          size_t want, int deadline_ms, int quiet_ms)
{
    int64_t deadline = now_ms() + deadline_ms;
    while (*n < want && now_ms() < deadline)
        if (!collect(fd, room, seqs, n, cap, 100))
            return false;
    return collect(fd, room, seqs, n, cap, quiet_ms);
}

/* seqs must be exactly 1..want, in order. */
static void expect_exact(const json_int_t *seqs, size_t n, json_int_t want, const char *who)
{
    for (size_t i = 0; i < n; i++)
        if (seqs[i] != (json_int_t)i + 1)
            fail_msg("%s: event %zu has seq %lld, want %zu (n=%zu)", who, i, (long long)seqs[i],
                     i + 1, n);
    if ((json_int_t)n != want)
        fail_msg("%s: %zu messages, want %lld", who, n, (long long)want);
}

static char *group_with(int fd, const th_user_t *const *others, size_t n)
{
    char members[512] = "[";
    for (size_t i = 0; i < n; i++) {
        strcat(members, i ? ",\"" : "\"");
        strcat(members, others[i]->name);
        strcat(members, "\"");
    }
    strcat(members, "]");
    return th_room_create(fd, "group", members, "g");
}

/* ---- tests ---- */

/* A message sent on node a reaches members on node b (and a second device
 * on a), in order, exactly once; published once per message. */
static void test_cross_node_order(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo;
    user_on(&na, &al, "cxa");
    user_on(&nb, &bo, "cxb");
    int fa = login_on(&na, &al);
    const th_user_t *others[] = {&bo};
    char *g = group_with(fa, others, 1);
    int fb = login_on(&nb, &bo), fb2 = login_on(&na, &bo);
    wait_subscribed(&nb);
    json_int_t pub0 = stat_of(&na, "cluster_published");
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "c%d", i);
        assert_int_equal(i + 1, send_text(fa, g, cid, "hi"));
    }
    static json_int_t s1[N + 10], s2[N + 10];
    size_t n1 = 0, n2 = 0;
    assert_true(collect_until(fb, g, s1, &n1, N + 10, N, 30000, 300));
    assert_true(collect_until(fb2, g, s2, &n2, N + 10, N, 30000, 300));
    expect_exact(s1, n1, N, "member on node b");
    expect_exact(s2, n2, N, "second device on node a");
    /* One publish per message on its room channel (plus little else). */
    json_int_t pubs = stat_of(&na, "cluster_published") - pub0;
    assert_true(pubs >= N && pubs < N + 10);
    assert_int_equal(0, stat_of(&nb, "cluster_bad"));
    close(fa);
    close(fb);
    close(fb2);
    free(g);
}

/* Both nodes send into one room at once: every member sees one gap-free
 * sequence (publishes overtaking each other are reordered or backfilled). */
static void test_two_senders(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo;
    user_on(&na, &al, "tsa");
    user_on(&nb, &bo, "tsb");
    int fa = login_on(&na, &al);
    const th_user_t *others[] = {&bo};
    char *g = group_with(fa, others, 1);
    int fb = login_on(&nb, &bo);
    int ra = login_on(&na, &bo), rb = login_on(&nb, &al); /* readers on both nodes */
    wait_subscribed(&na);
    wait_subscribed(&nb);
    enum { N = 150 };
    char req[256];
    /* Pipelined: both senders have many sends in flight at once. */
    for (int i = 0; i < N; i++) {
        snprintf(req, sizeof req,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x%d\","
                 "\"content\":{\"type\":\"text\",\"body\":\"a\"}}",
                 1000 + i, g, i);
        th_ws_send_text(fa, req);
        snprintf(req, sizeof req,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"y%d\","
                 "\"content\":{\"type\":\"text\",\"body\":\"b\"}}",
                 1000 + i, g, i);
        th_ws_send_text(fb, req);
        if (i % 16 == 15)
            usleep(2000); /* stay under the per-user rate limit */
    }
    static json_int_t s[4][2 * N + 10];
    size_t n[4] = {0};
    int fds[4] = {fa, fb, ra, rb};
    /* A send refused with a storage error (one node's group commit losing a
     * deadlock to the other's on PostgreSQL) is retried with its client_id,
     * as clients do; the order check below still holds. Reads until every
     * connection has all 2N (or a generous deadline passed). */
    int64_t deadline = now_ms() + 60000;
    for (;;) {
        bool all = true;
        nfailed = 0;
        for (int k = 0; k < 4; k++) {
            size_t before = nfailed;
            collect(fds[k], g, s[k], &n[k], 2 * N + 10, 100);
            all = all && n[k] >= 2 * N;
            for (size_t f = before; k < 2 && f < nfailed; f++) {
                int i = failed_ids[f] - 1000;
                snprintf(req, sizeof req,
                         "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%c%d\","
                         "\"content\":{\"type\":\"text\",\"body\":\"%c\"}}",
                         failed_ids[f], g, k == 0 ? 'x' : 'y', i, k == 0 ? 'a' : 'b');
                th_ws_send_text(fds[k], req);
                all = false;
            }
        }
        if (all || now_ms() > deadline)
            break;
    }
    const char *who[] = {"sender a", "sender b", "reader on a", "reader on b"};
    for (int k = 0; k < 4; k++) {
        collect(fds[k], g, s[k], &n[k], 2 * N + 10, 300); /* a duplicate would follow */
        expect_exact(s[k], n[k], 2 * N, who[k]);
    }
    /* client_id is idempotent across nodes: a's first message sent again by
     * the same user on node b returns the original and stores nothing. */
    json_t *r = ok(th_call(rb,
                           "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"x0\",\"content\":"
                           "{\"type\":\"text\",\"body\":\"a\"}",
                           g));
    json_t *m = json_object_get(r, "message");
    assert_true(json_is_true(json_object_get(r, "duplicate")));
    assert_true(th_jint(m, "seq") >= 1 && th_jint(m, "seq") <= 2 * N);
    json_decref(r);
    json_int_t more[4];
    size_t nmore = 0;
    for (int k = 0; k < 4; k++)
        collect(fds[k], g, more, &nmore, 4, 200);
    assert_int_equal(0, nmore); /* no new message anywhere */
    for (int k = 0; k < 4; k++)
        close(fds[k]);
    free(g);
}

/* Typing, receipts, presence and edits cross nodes too. */
static void test_ephemeral_across(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo;
    user_on(&na, &al, "eva");
    user_on(&nb, &bo, "evb");
    int fa = login_on(&na, &al);
    const th_user_t *others[] = {&bo};
    char *g = group_with(fa, others, 1);
    int fb = login_on(&nb, &bo);
    wait_subscribed(&nb);
    wait_subscribed(&na);
    /* presence: bo came online on b; al on a is told. */
    json_t *e = th_next_event(fa, "presence");
    assert_string_equal(bo.id, th_jstr(e, "user"));
    assert_string_equal("online", th_jstr(e, "status"));
    json_decref(e);
    /* a message, then its edit: the update reaches b */
    json_int_t seq = send_text(fa, g, "e1", "before");
    e = th_next_event(fb, "message");
    assert_int_equal(seq, th_jint(e, "seq"));
    json_decref(e);
    json_decref(ok(th_call(fa,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":%lld,\"content\":{\"type\":"
                           "\"text\",\"body\":\"after\"}",
                           g, (long long)seq)));
    e = th_next_event(fb, "update");
    json_t *m = json_object_get(e, "message");
    assert_string_equal("after", th_jstr(json_object_get(m, "content"), "body"));
    json_decref(e);
    /* typing on a reaches b (the message above proved b watches the room:
     * typing is never stored, so one sent before would be gone) */
    json_decref(ok(th_call(fa, "\"op\":\"typing\",\"room\":\"%s\",\"typing\":true", g)));
    e = th_next_event(fb, "typing");
    assert_string_equal(al.id, th_jstr(e, "user"));
    json_decref(e);
    /* a read receipt on b reaches a */
    json_decref(ok(th_call(fb, "\"op\":\"read\",\"room\":\"%s\",\"seq\":%lld", g, (long long)seq)));
    for (;;) {
        e = th_next_event(fa, "receipt");
        if (th_jint(e, "read_seq") == seq)
            break;
        json_decref(e);
    }
    assert_string_equal(bo.id, th_jstr(e, "user"));
    json_decref(e);
    /* presence: bo leaves b; al on a sees offline after the grace */
    close(fb);
    e = th_next_event(fa, "presence");
    assert_string_equal("offline", th_jstr(e, "status"));
    json_decref(e);
    close(fa);
    free(g);
}

/* A room created on a with a member whose session is on b: b learns the
 * room and the membership, and messages sent on b reach a and the other way
 * round; an invited member who joins on b gets the messages sent on a. */
static void test_membership_across(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo, cy;
    user_on(&na, &al, "mba");
    user_on(&nb, &bo, "mbb");
    user_on(&nb, &cy, "mbc");
    int fb = login_on(&nb, &bo), fc = login_on(&nb, &cy);
    int fa = login_on(&na, &al);
    wait_subscribed(&nb); /* bo's and cy's user channels */
    const th_user_t *others[] = {&bo};
    char *g = group_with(fa, others, 1);   /* created on a */
    json_t *e = th_next_event(fb, "room"); /* bo on b is told */
    json_decref(e);
    wait_subscribed(&nb);
    send_text(fb, g, "m1", "from b");
    e = th_next_event(fa, "message");
    assert_int_equal(1, th_jint(e, "seq"));
    json_decref(e);
    /* cy (on b) is invited by al (on a): policy is everyone: added at once */
    json_decref(
        ok(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g, cy.name)));
    e = th_next_event(fc, "room");
    json_decref(e);
    wait_subscribed(&nb);
    send_text(fa, g, "m2", "from a");
    e = th_next_event(fc, "message");
    assert_int_equal(2, th_jint(e, "seq"));
    json_decref(e);
    /* cy leaves on b: node b's routing table drops cy; a message sent on a
     * after that reaches bo on b but not cy. */
    json_decref(ok(th_call(fc, "\"op\":\"leave\",\"room\":\"%s\"", g)));
    e = th_next_event(fa, "member"); /* a heard of the leave */
    assert_string_equal("leave", th_jstr(e, "action"));
    json_decref(e);
    send_text(fa, g, "m3", "after leave");
    e = th_next_event(fb, "message");
    while (th_jint(e, "seq") < 3) {
        json_decref(e);
        e = th_next_event(fb, "message");
    }
    assert_int_equal(3, th_jint(e, "seq"));
    json_decref(e);
    json_int_t seqs[8];
    size_t n = 0;
    assert_true(collect(fc, g, seqs, &n, 8, 500));
    assert_int_equal(0, n); /* no message for the one who left */
    close(fa);
    close(fb);
    close(fc);
    free(g);
}

/* Logout on node a closes the device's WebSocket on node b. */
static void test_logout_across(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t bo;
    user_on(&na, &bo, "lgb");
    int fb = login_on(&nb, &bo);
    wait_subscribed(&nb);
    char body[256];
    assert_int_equal(200,
                     th_http(na.port, "POST", "/v1/logout", bo.token, "{}", body, sizeof body));
    assert_int_equal(1008, th_ws_expect_close(fb, 15000));
    close(fb);
}

/* One subscription per room with local members and per local user (plus
 * pl:all), not per connection; going away unsubscribes. */
static void test_subscription_count(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo;
    user_on(&na, &al, "sca");
    user_on(&na, &bo, "scb");
    int fa = login_on(&na, &al);
    const th_user_t *others[] = {&bo};
    enum { ROOMS = 20 };
    char *rooms[ROOMS];
    json_int_t loads0 = stat_of(&nb, "cluster_room_loads");
    for (int i = 0; i < ROOMS; i++)
        rooms[i] = group_with(fa, others, 1);
    /* b has loaded the rooms created on a before bo connects there, so his
     * sessions want all of them in one turn. */
    int64_t deadline = now_ms() + 20000;
    while (stat_of(&nb, "cluster_room_loads") < loads0 + ROOMS) {
        if (now_ms() > deadline)
            fail_msg("node b never loaded the %d rooms created on a", ROOMS);
        usleep(10000);
    }
    wait_subscribed(&nb);
    json_int_t base = stat_of(&nb, "cluster_subscriptions");
    json_int_t cmds0 = stat_of(&nb, "cluster_sub_commands");
    /* Three connections of bo on b: ROOMS rooms + bo's user channel. */
    int f[3];
    for (int i = 0; i < 3; i++)
        f[i] = login_on(&nb, &bo);
    wait_subscribed(&nb);
    assert_int_equal(base + ROOMS + 1, stat_of(&nb, "cluster_subscriptions"));
    /* Batched: far fewer commands than channels. */
    assert_true(stat_of(&nb, "cluster_sub_commands") - cmds0 <= 3);
    for (int i = 0; i < 3; i++)
        close(f[i]);
    deadline = now_ms() + 20000;
    while (stat_of(&nb, "cluster_subscriptions") != base && now_ms() < deadline)
        usleep(20000);
    assert_int_equal(base, stat_of(&nb, "cluster_subscriptions"));
    for (int i = 0; i < ROOMS; i++)
        free(rooms[i]);
    close(fa);
}

/* The sender: one message at a time through the front door, each retried
 * with the same client_id over a new connection when the connection dies,
 * so an acked message is never sent twice and never lost. */
typedef struct {
    const th_user_t *u;
    const char *room;
    int port; /* the front door, or a node */
    int fd;
    int acked;
} sender_t;

/* Sends req and waits for the reply to id; false if the connection died
 * (no test failure: the node may have been killed). */
static bool try_request(int fd, long id, const char *req, char *buf, size_t cap)
{
    if (!th_ws_try_send_frame(fd, 0x81, req, strlen(req)))
        return false;
    int64_t deadline = now_ms() + 10000;
    char needle[32];
    snprintf(needle, sizeof needle, "\"re\":%ld", id);
    while (now_ms() < deadline) {
        if (th_ws_recv_text(fd, buf, cap, (int)(deadline - now_ms())) < 0)
            return false;
        if (strstr(buf, needle) != NULL)
            return true;
    }
    return false;
}

static int front_login(int port, const th_user_t *u)
{
    for (int tries = 0; tries < 50; tries++) {
        int fd = th_ws_connect(port, "/v1/ws");
        char req[512], buf[8192];
        snprintf(req, sizeof req, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", u->token);
        if (try_request(fd, 1, req, buf, sizeof buf) && strstr(buf, "\"ok\":true"))
            return fd;
        close(fd);
        usleep(100000);
    }
    fail_msg("could not log in through the front door");
    return -1;
}

static void sender_send(sender_t *s, int i)
{
    char cid[32], req[512], buf[8192];
    snprintf(cid, sizeof cid, "k%d", i);
    for (int tries = 0; tries < 20; tries++) {
        if (s->fd < 0)
            s->fd = front_login(s->port, s->u);
        snprintf(req, sizeof req,
                 "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\","
                 "\"content\":{\"type\":\"text\",\"body\":\"m\"}}",
                 100 + i, s->room, cid);
        if (try_request(s->fd, 100 + i, req, buf, sizeof buf)) {
            if (strstr(buf, "\"ok\":true")) {
                s->acked++;
                return;
            }
            if (strstr(buf, "rate_limited")) {
                usleep(200000);
                continue;
            }
            fail_msg("send refused: %s", buf);
        }
        close(s->fd); /* the node went away: reconnect, same client_id */
        s->fd = -1;
    }
    fail_msg("message %d never acked", i);
}

/* A receiver that reconnects through the front door with `since` and keeps
 * every seq it saw. */
typedef struct {
    const th_user_t *u;
    int fd;
    json_int_t seqs[2048];
    size_t n;
    int reconnects;
} receiver_t;

static void receiver_drain(receiver_t *r, const char *room, int ms)
{
    while (!collect(r->fd, room, r->seqs, &r->n, 2048, ms)) {
        close(r->fd);
        r->reconnects++;
        /* Reconnect through the front door with since = the last seq seen. */
        json_int_t last = r->n ? r->seqs[r->n - 1] : 0;
        for (int tries = 0;; tries++) {
            if (tries > 50)
                fail_msg("receiver could not reconnect");
            int fd = th_ws_connect(hap.port, "/v1/ws");
            char req[600], buf[8192];
            snprintf(req, sizeof req,
                     "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\",\"since\":{\"%s\":%lld}}",
                     r->u->token, room, (long long)last);
            if (!th_ws_try_send_frame(fd, 0x81, req, strlen(req))) {
                close(fd);
                usleep(100000);
                continue;
            }
            /* The sync's events come before the reply: collect them too. */
            r->fd = fd;
            (void)buf;
            break;
        }
    }
}

static void run_under_load(bool kill_node)
{
    th_user_t al, rcv[4];
    user_on(&na, &al, kill_node ? "kna" : "rra");
    const th_user_t *others[4];
    for (int i = 0; i < 4; i++) {
        user_on(&na, &rcv[i], kill_node ? "knr" : "rrr");
        others[i] = &rcv[i];
    }
    int fa = login_on(&na, &al);
    char *g = group_with(fa, others, 4);
    close(fa);
    static receiver_t rx[4];
    memset(rx, 0, sizeof rx);
    for (int i = 0; i < 4; i++) {
        rx[i].u = &rcv[i];
        /* Two receivers on each node (direct), so the killed node has some. */
        rx[i].fd = login_on(i % 2 ? &nb : &na, &rcv[i]);
    }
    wait_subscribed(&na);
    wait_subscribed(&nb);
    /* Killing a node: the sender goes through the front door and fails
     * over. Restarting Redis: both nodes are not ready meanwhile (HAProxy
     * has no server), so the sender talks to node a directly. */
    sender_t s = {.u = &al, .room = g, .fd = -1, .port = kill_node ? hap.port : na.port};
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        sender_send(&s, i);
        if (i == N / 2) {
            if (kill_node) {
                th_server_kill9(&na);
            } else {
                proc_kill(&redis, SIGKILL);
            }
        }
        if (!kill_node && i == N / 2 + 40)
            redis_start(); /* same port: the nodes reconnect */
        if (i % 10 == 0)
            for (int k = 0; k < 4; k++)
                receiver_drain(&rx[k], g, 1);
    }
    if (!kill_node)
        wait_subscribed(&nb), wait_subscribed(&na);
    for (int k = 0; k < 4; k++) {
        /* Until every acked message is there (a generous deadline), then a
         * little longer: a duplicate would follow. */
        int64_t deadline = now_ms() + 30000;
        while (rx[k].n < (size_t)s.acked && now_ms() < deadline)
            receiver_drain(&rx[k], g, 100);
        receiver_drain(&rx[k], g, 300);
        char who[64];
        snprintf(who, sizeof who, "receiver %d (%d reconnects)", k, rx[k].reconnects);
        expect_exact(rx[k].seqs, rx[k].n, s.acked, who);
        if (!kill_node)
            assert_int_equal(0, rx[k].reconnects); /* caught up without reconnecting */
        close(rx[k].fd);
    }
    assert_int_equal(N, s.acked);
    if (s.fd >= 0)
        close(s.fd);
    free(g);
}

/* Redis killed and restarted under load: nothing acked is lost, nodes
 * resubscribe (batched) and backfill; clients stay connected. */
static void test_redis_restart(void **state)
{
    (void)state;
    NEED_CLUSTER();
    json_int_t resyncs = stat_of(&nb, "cluster_resyncs");
    run_under_load(false);
    assert_true(stat_of(&nb, "cluster_resyncs") > resyncs);
    assert_true(stat_of(&nb, "cluster_reconnects") >= 1);
}

/* Polls node s's /v1/stats until key reaches at least want. */
static void wait_stat(th_server_t *s, const char *key, json_int_t want)
{
    int64_t deadline = now_ms() + 30000;
    while (stat_of(s, key) < want) {
        if (now_ms() > deadline)
            fail_msg("node on %d: %s never reached %lld (is %lld)", s->port, key, (long long)want,
                     (long long)stat_of(s, key));
        usleep(20000);
    }
}

/* PUBLISHes raw bytes on a channel, as any Redis client could. */
static void redis_publish(const char *channel, const char *data, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)redis.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(0, connect(fd, (struct sockaddr *)&a, sizeof a));
    char head[256];
    int n = snprintf(head, sizeof head, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                     strlen(channel), channel, len);
    assert_int_equal(n, write(fd, head, (size_t)n));
    assert_int_equal((ssize_t)len, write(fd, data, len));
    assert_int_equal(2, write(fd, "\r\n", 2));
    char reply[64];
    assert_true(read(fd, reply, sizeof reply) > 0); /* ":<receivers>" */
    close(fd);
}

/* pl:nodes carries heartbeats and lost-publish notices. Garbage on it is
 * dropped; a node heard once and then silent is buried after
 * cluster_peer_timeout_ms and the others catch up from the store. */
static void test_peer_heartbeats(void **state)
{
    (void)state;
    NEED_CLUSTER();
    wait_subscribed(&nb);
    json_int_t peers0 = stat_of(&nb, "cluster_peers");
    json_int_t lost0 = stat_of(&nb, "cluster_peers_lost");
    json_int_t catchups0 = stat_of(&nb, "cluster_peer_catchups");
    static const char *const bad[] = {
        "",
        "PL1",
        "PL1 zz R 1 2 3 4\n",
        "PL1 z/z H 0 0 0 0\n",
        "PL1 zz H 0 0 0\n",
        "\xff\xfe",
        "PL1 zz H 0 0 0 0", /* no header end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        redis_publish("pl:nodes", bad[i], strlen(bad[i]));
    /* A made-up node beats once and falls silent. */
    redis_publish("pl:nodes", "PL1 zz H 0 0 0 0\n", 17);
    wait_stat(&nb, "cluster_peers_lost", lost0 + 1);
    assert_true(stat_of(&nb, "cluster_peer_catchups") > catchups0);
    assert_int_equal(peers0, stat_of(&nb, "cluster_peers"));
    /* A lost-publish notice makes b catch up at once. */
    json_int_t c1 = stat_of(&nb, "cluster_peer_catchups");
    redis_publish("pl:nodes", "PL1 zz L 0 0 0 0\n", 17);
    wait_stat(&nb, "cluster_peer_catchups", c1 + 1);
    /* Heard again, so alive again: silent, it is buried once more (the
     * peer count is back where it was for the tests that follow). */
    wait_stat(&nb, "cluster_peers_lost", lost0 + 2);
    assert_int_equal(peers0, stat_of(&nb, "cluster_peers"));
    assert_int_equal(200, ready_status(nb.port)); /* alive and well */
    assert_int_equal(0, stat_of(&nb, "cluster_bad"));
}

/* Node d reaches Redis through a relay the test cuts, so d alone loses the
 * bus while b keeps it (b never resyncs). Messages d commits meanwhile are
 * acked but their publishes are dropped, and no later message follows:
 * b's member must still get them, without reconnecting, once d's bus is
 * back (d says it lost publishes) -- and again when d is killed -9 before
 * its bus comes back (b buries the silent d and reads the store). */
static void test_lost_publishes(void **state)
{
    (void)state;
    NEED_CLUSTER();
    relay.port = free_port();
    relay_up();
    json_int_t peers0 = stat_of(&nb, "cluster_peers");
    th_server_t nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.data_dir, sizeof nd.data_dir, "%s", na.data_dir);
    snprintf(nd.log_path, sizeof nd.log_path, "%s/parleyd-d.log", tmpdir);
    snprintf(nd.pg_conninfo, sizeof nd.pg_conninfo, "%s", na.pg_conninfo);
    nd.pg_shared = na.pg_conninfo[0] != '\0';
    th_server_restart(&nd, node_settings_on("d", relay.port));
    wait_ready(nd.port, 200);
    /* b knows d (its heartbeat), so it can notice d's silence later. */
    wait_stat(&nb, "cluster_peers", peers0 + 1);
    th_user_t al, bo;
    user_on(&nd, &al, "lpa");
    user_on(&nb, &bo, "lpb");
    int fd = login_on(&nd, &al);
    const th_user_t *others[] = {&bo};
    char *g = group_with(fd, others, 1);
    int fb = login_on(&nb, &bo);
    wait_subscribed(&nb);
    wait_subscribed(&nd);
    enum { CAP = 16 };
    json_int_t seqs[CAP];
    size_t n = 0;
    assert_int_equal(1, send_text(fd, g, "p0", "before"));
    assert_true(collect_until(fb, g, seqs, &n, CAP, 1, 30000, 0));
    json_int_t catchups0 = stat_of(&nb, "cluster_peer_catchups");
    /* 1. d's bus cut: three messages acked on d and an edit of the first,
     * their publishes dropped. */
    relay_cut();
    wait_ready(nd.port, 503);
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "p%d", i + 1);
        assert_int_equal(i + 2, send_text(fd, g, cid, "while cut"));
    }
    json_decref(ok(th_call(fd,
                           "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":"
                           "\"text\",\"body\":\"edited while cut\"}",
                           g)));
    assert_true(stat_of(&nd, "cluster_publish_dropped") >= 4);
    nupdates = 0;
    relay_up();
    wait_ready(nd.port, 200);
    assert_true(collect_until(fb, g, seqs, &n, CAP, 4, 30000, 300));
    expect_exact(seqs, n, 4, "member on b after d's bus came back");
    int64_t deadline = now_ms() + 30000;
    while (nupdates == 0 && now_ms() < deadline)
        assert_true(collect(fb, g, seqs, &n, CAP, 100));
    assert_true(collect(fb, g, seqs, &n, CAP, 300)); /* a duplicate would follow */
    assert_int_equal(1, nupdates);                   /* the edit, once */
    assert_int_equal(4, n);
    assert_true(stat_of(&nb, "cluster_peer_catchups") > catchups0);
    /* 2. Cut again; one message acked on d, then d is killed before its
     * bus comes back: b takes the silent d for dead and catches up. */
    json_int_t lost0 = stat_of(&nb, "cluster_peers_lost");
    relay_cut();
    wait_ready(nd.port, 503);
    assert_int_equal(5, send_text(fd, g, "p4", "last words"));
    th_server_kill9(&nd);
    assert_true(collect_until(fb, g, seqs, &n, CAP, 5, 30000, 300));
    expect_exact(seqs, n, 5, "member on b after d died");
    /* b buries d (it may have caught up before, on another dead peer's
     * recheck: the counter is awaited, not read once). */
    wait_stat(&nb, "cluster_peers_lost", lost0 + 1);
    close(fd);
    close(fb);
    free(g);
}

/* ---- catch-up of membership, invitations and receipts ---- */

/* The events a connection received, as (ev, room, user) strings. */
typedef struct {
    char ev[16], room[24], user[24];
    json_int_t seq; /* message seq, receipt read_seq (-1: none) */
} seen_t;
typedef struct {
    seen_t v[256];
    size_t n;
} seen_log_t;

/* Reads frames of fd into log until ms pass without one. */
static void seen_drain(int fd, seen_log_t *log, int ms)
{
    static char buf[1 << 20];
    while (th_ws_recv_text(fd, buf, sizeof buf, ms) >= 0) {
        json_t *j = th_json_parse(buf);
        const char *ev = th_jstr(j, "ev");
        if (ev != NULL && log->n < sizeof log->v / sizeof log->v[0]) {
            seen_t *e = &log->v[log->n++];
            memset(e, 0, sizeof *e);
            snprintf(e->ev, sizeof e->ev, "%s", ev);
            json_t *room = json_object_get(j, "room");
            if (json_is_object(room))
                room = json_object_get(room, "id"); /* the `room` event */
            json_t *inv = json_object_get(j, "invite");
            if (json_is_object(inv))
                room = json_object_get(inv, "room");
            snprintf(e->room, sizeof e->room, "%s",
                     json_is_string(room) ? json_string_value(room) : "");
            json_t *user = json_object_get(j, "user");
            if (json_is_object(user))
                user = json_object_get(user, "id");
            snprintf(e->user, sizeof e->user, "%s",
                     json_is_string(user) ? json_string_value(user) : "");
            if (!strcmp(ev, "message"))
                e->seq = th_jint(j, "seq");
            else if (!strcmp(ev, "receipt"))
                e->seq = json_object_get(j, "read_seq") ? th_jint(j, "read_seq") : -1;
        }
        json_decref(j);
    }
}

/* How many events ev of room (and user, when not NULL) are in log. */
static size_t seen_count(const seen_log_t *log, const char *ev, const char *room, const char *user)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->v[i].ev, ev) && !strcmp(log->v[i].room, room) &&
            (user == NULL || !strcmp(log->v[i].user, user)))
            n++;
    return n;
}

/* Drains fd until log has at least want events ev of room (30 s), then
 * for quiet_ms more, so a duplicate that follows is seen too. */
static void seen_wait(int fd, seen_log_t *log, const char *ev, const char *room, const char *user,
                      size_t want, int quiet_ms)
{
    int64_t deadline = now_ms() + 30000;
    while (seen_count(log, ev, room, user) < want && now_ms() < deadline)
        seen_drain(fd, log, 100);
    seen_drain(fd, log, quiet_ms);
}

/* Redis is stopped; on node a a group is created with bo (whose sessions
 * are on node b), cy (on b, group_add=nobody) is invited, and al reads bo's
 * message; dee connects to node b, which watched none of dee's rooms, and
 * al sends to dee. When Redis is back, b's sessions get, without
 * reconnecting and exactly once: the new room, the invitation, the
 * receipt (on bo's device and al's own device on b) and dee's message. */
static void test_catchup_after_redis(void **state)
{
    (void)state;
    NEED_CLUSTER();
    th_user_t al, bo, cy, dee;
    user_on(&na, &al, "cua");
    user_on(&nb, &bo, "cub");
    user_on(&nb, &cy, "cuc");
    user_on(&na, &dee, "cud");
    int fa = login_on(&na, &al);
    int fb = login_on(&nb, &bo);
    int fc = login_on(&nb, &cy);
    int fa2 = login_on(&nb, &al); /* al's second device, on b */
    json_decref(ok(th_call(fc, "\"op\":\"settings_set\",\"settings\":{\"group_add\":\"nobody\"}")));
    const th_user_t *with_bo[] = {&bo}, *with_dee[] = {&dee};
    char *g1 = group_with(fa, with_bo, 1);
    char *g3 = group_with(fa, with_dee, 1); /* dee is not connected anywhere yet */
    seen_log_t lb = {0}, la2 = {0}, lc = {0}, ld = {0};
    seen_wait(fb, &lb, "room", g1, NULL, 1, 0);
    seen_wait(fa2, &la2, "room", g3, NULL, 1, 0); /* b has loaded g3 */
    wait_subscribed(&na);
    wait_subscribed(&nb);
    assert_int_equal(1, send_text(fb, g1, "cu1", "from bo"));
    seen_wait(fa2, &la2, "message", g1, NULL, 1, 0);
    json_int_t catchups0 = stat_of(&nb, "cluster_catchups");

    proc_kill(&redis, SIGKILL);
    wait_ready(na.port, 503);
    wait_ready(nb.port, 503);
    char *g2 = group_with(fa, with_bo, 1); /* bo added (group_add everyone) */
    json_t *r =
        ok(th_call(fa, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g1, cy.name));
    assert_int_equal(1, json_array_size(json_object_get(r, "invited")));
    json_decref(r);
    json_decref(ok(th_call(fa, "\"op\":\"read\",\"room\":\"%s\",\"seq\":1", g1)));
    int fd = login_on(&nb, &dee); /* b starts watching g3 while the bus is down */
    assert_int_equal(1, send_text(fa, g3, "cu3", "to dee"));
    /* Nothing of it reached b yet (no bus): b's sessions heard nothing. */
    seen_drain(fb, &lb, 300);
    assert_int_equal(0, seen_count(&lb, "room", g2, NULL));
    assert_int_equal(0, seen_count(&lb, "receipt", g1, al.id));

    redis_start(); /* same port: the nodes reconnect and catch up */
    wait_ready(na.port, 200);
    wait_ready(nb.port, 200);
    seen_wait(fb, &lb, "room", g2, NULL, 1, 0);
    seen_wait(fb, &lb, "receipt", g1, al.id, 1, 1000);
    seen_wait(fa2, &la2, "receipt", g1, al.id, 1, 0);
    seen_wait(fa2, &la2, "room", g2, NULL, 1, 1000);
    seen_wait(fc, &lc, "invite", g1, NULL, 1, 1000);
    seen_wait(fd, &ld, "message", g3, NULL, 1, 1000);
    assert_int_equal(1, seen_count(&lb, "room", g2, NULL));
    assert_int_equal(1, seen_count(&lb, "receipt", g1, al.id));
    assert_int_equal(1, seen_count(&la2, "receipt", g1, al.id));
    assert_int_equal(1, seen_count(&la2, "room", g2, NULL));
    assert_int_equal(1, seen_count(&lc, "invite", g1, NULL));
    assert_int_equal(1, seen_count(&ld, "message", g3, NULL));
    /* al's own device sees the read marker, bo too (read receipts on). */
    for (size_t i = 0; i < lb.n; i++)
        if (!strcmp(lb.v[i].ev, "receipt"))
            assert_int_equal(1, lb.v[i].seq);
    assert_true(stat_of(&nb, "cluster_catchups") > catchups0);
    /* b routes g2 now: a message on a reaches bo live, once. */
    wait_subscribed(&nb);
    assert_int_equal(1, send_text(fa, g2, "cu2", "after"));
    seen_wait(fb, &lb, "message", g2, NULL, 1, 300);
    assert_int_equal(1, seen_count(&lb, "message", g2, NULL));
    /* Nothing came twice meanwhile. */
    assert_int_equal(1, seen_count(&lb, "room", g2, NULL));
    assert_int_equal(1, seen_count(&lb, "receipt", g1, al.id));
    close(fa);
    close(fb);
    close(fc);
    close(fa2);
    close(fd);
    free(g1);
    free(g2);
    free(g3);
}

/* Node d is cut from Redis (relay): while cut, al on d adds bo (on b) to
 * a group and removes himself from another one bo is in. b's bus stays up,
 * so only d's lost-publish notice reveals it: bo gets the room and the
 * leave without reconnecting, once. */
static void test_catchup_lost_membership(void **state)
{
    (void)state;
    NEED_CLUSTER();
    relay.port = free_port();
    relay_up();
    json_int_t peers0 = stat_of(&nb, "cluster_peers");
    th_server_t nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.data_dir, sizeof nd.data_dir, "%s", na.data_dir);
    snprintf(nd.log_path, sizeof nd.log_path, "%s/parleyd-d2.log", tmpdir);
    snprintf(nd.pg_conninfo, sizeof nd.pg_conninfo, "%s", na.pg_conninfo);
    nd.pg_shared = na.pg_conninfo[0] != '\0';
    th_server_restart(&nd, node_settings_on("d", relay.port));
    wait_ready(nd.port, 200);
    wait_stat(&nb, "cluster_peers", peers0 + 1);
    th_user_t al, bo, cy;
    user_on(&nd, &al, "cla");
    user_on(&nb, &bo, "clb");
    user_on(&nb, &cy, "clc");
    int fd = login_on(&nd, &al);
    int fb = login_on(&nb, &bo);
    const th_user_t *both[] = {&bo, &cy}, *with_cy[] = {&cy};
    char *g1 = group_with(fd, both, 2);
    seen_log_t lb = {0};
    seen_wait(fb, &lb, "room", g1, NULL, 1, 0);
    wait_subscribed(&nb);
    wait_subscribed(&nd);
    json_int_t loads0 = stat_of(&nb, "cluster_room_loads");
    char *g2 = group_with(fd, with_cy, 1); /* bo is not in it (yet) */
    /* b knows g2 before the cut (else, new to b, it is announced by `room`
     * alone, as at creation). */
    wait_stat(&nb, "cluster_room_loads", loads0 + 1);
    json_int_t catchups0 = stat_of(&nb, "cluster_catchups");

    relay_cut();
    wait_ready(nd.port, 503);
    json_t *r =
        ok(th_call(fd, "\"op\":\"invite\",\"room\":\"%s\",\"users\":[\"%s\"]", g2, bo.name));
    assert_int_equal(1, json_array_size(json_object_get(r, "added")));
    json_decref(r);
    /* The creator owns g1: the last owner hands over first (issue 17). */
    json_decref(ok(th_call(
        fd, "\"op\":\"set_role\",\"room\":\"%s\",\"user\":\"%s\",\"role\":\"owner\"", g1, bo.id)));
    json_decref(ok(th_call(fd, "\"op\":\"leave\",\"room\":\"%s\"", g1)));
    assert_true(stat_of(&nd, "cluster_publish_dropped") >= 2);
    relay_up();
    wait_ready(nd.port, 200);
    wait_stat(&nb, "cluster_catchups", catchups0 + 1);
    seen_wait(fb, &lb, "room", g2, NULL, 1, 0);
    seen_wait(fb, &lb, "member", g1, al.id, 1, 1000);
    assert_int_equal(1, seen_count(&lb, "room", g2, NULL));
    assert_int_equal(1, seen_count(&lb, "member", g1, al.id)); /* al left g1 */
    assert_int_equal(1, seen_count(&lb, "member", g2, bo.id)); /* bo joined g2 */
    /* b routes it: a message in g2 from d reaches bo; one in g1 no longer
     * goes to al (not checked here: al is on d). */
    wait_subscribed(&nb);
    assert_int_equal(1, send_text(fd, g2, "cl1", "welcome"));
    seen_wait(fb, &lb, "message", g2, NULL, 1, 300);
    assert_int_equal(1, seen_count(&lb, "message", g2, NULL));
    assert_int_equal(1, seen_count(&lb, "room", g2, NULL));
    close(fd);
    close(fb);
    th_server_stop(&nd);
    relay_cut();
    free(g1);
    free(g2);
}

/* /readyz: 503 while draining; the drained node closes its WebSockets with
 * 1001 and exits 0. (Runs after the Redis test, before the kill test.) */
static void test_readyz_drain(void **state)
{
    (void)state;
    NEED_CLUSTER();
    assert_int_equal(200, ready_status(na.port));
    /* A third node on the same store, drained. */
    th_server_t nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.data_dir, sizeof nc.data_dir, "%s", na.data_dir);
    snprintf(nc.log_path, sizeof nc.log_path, "%s/parleyd-c.log", tmpdir);
    /* A drain long enough for a slow poll to see the 503 on a busy host. */
    const char *const *base = node_settings("c");
    const char *set[16];
    size_t k = 0;
    for (; base[k] != NULL && k < 15; k++)
        set[k] = strncmp(base[k], "drain_ms=", 9) ? base[k] : "drain_ms=4000";
    set[k] = NULL;
    th_server_restart(&nc, set);
    wait_ready(nc.port, 200);
    th_user_t u;
    user_on(&nc, &u, "drn");
    int fd = login_on(&nc, &u);
    kill(nc.pid, SIGTERM);
    wait_ready(nc.port, 503);
    assert_int_equal(1001, th_ws_expect_close(fd, 20000));
    close(fd);
    int status = 0;
    waitpid(nc.pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    nc.pid = 0;
}

/* Node a killed with SIGKILL under load: its clients reconnect through
 * HAProxy to node b and catch up; every acked message exactly once. */
static void test_kill9_node(void **state)
{
    (void)state;
    NEED_CLUSTER();
    run_under_load(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_node_order),
        cmocka_unit_test(test_two_senders),
        cmocka_unit_test(test_ephemeral_across),
        cmocka_unit_test(test_membership_across),
        cmocka_unit_test(test_logout_across),
        cmocka_unit_test(test_subscription_count),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_peer_heartbeats),
        cmocka_unit_test(test_lost_publishes),
        cmocka_unit_test(test_catchup_after_redis),
        cmocka_unit_test(test_catchup_lost_membership),
        cmocka_unit_test(test_readyz_drain),
        cmocka_unit_test(test_kill9_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
