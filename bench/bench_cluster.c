/* SPDX-License-Identifier: MIT */
/* bench_cluster.c -- the cross-node scenario of issue 13: one sender on
 * node a, receivers on node a (same node) and on node b (across Redis);
 * p50/p99 delivery latency of each group at a steady rate, then the
 * delivery throughput of a burst with every receiver on one node (no bus)
 * and split over two nodes.
 *
 * It starts redis-server and two parleyd nodes (the binary next to it, or
 * $PARLEYD) on one temp SQLite data dir, on 127.0.0.1 free ports, and stops
 * them by PID. Built on the integration harness (tests/integration/harness).
 * Prints Markdown rows and JSON lines. Timing on a shared machine is noisy:
 * read the numbers with docs/performance.md's caveats.
 *
 *     build/bench_cluster [receivers-per-node] [messages] [rate-per-sec]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
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

static int RECV = 10, MSGS = 2000, RATE = 500;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t redis_pid;
static int redis_port;

static void redis_start(const char *dir)
{
    char port[16];
    redis_port = free_port();
    snprintf(port, sizeof port, "%d", redis_port);
    fflush(NULL);
    redis_pid = fork();
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)redis_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return;
        usleep(10000);
    }
    fail_msg("redis-server did not start");
}

static const char *const *settings(const char *node, bool bus)
{
    static char r[2][64], n[2][64];
    static const char *s[2][8];
    int i = node[0] == 'a' ? 0 : 1;
    snprintf(r[i], sizeof r[i], "redis=127.0.0.1:%d", redis_port);
    snprintf(n[i], sizeof n[i], "node_id=%s", node);
    int k = 0;
    if (bus) {
        s[i][k++] = r[i];
        s[i][k++] = n[i];
    }
    s[i][k++] = "rate_limit_per_sec=1000000";
    s[i][k++] = "max_inflight_requests=100000";
    s[i][k++] = "log_level=warn";
    s[i][k] = NULL;
    return s[i];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1000.0; /* us */
}

/* Reads every frame available on the receivers (waiting up to ms for the
 * first), recording latencies (group 0: same node, 1: other node). */
typedef struct {
    int fd;
    int group;
    long got;
} rx_t;

static int64_t *lat[2];
static size_t nlat[2];

static void pump(rx_t *rx, int n, int ms)
{
    struct pollfd p[64];
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = rx[i].fd, .events = POLLIN};
    if (poll(p, (nfds_t)n, ms) <= 0)
        return;
    static char buf[1 << 16];
    for (int i = 0; i < n; i++) {
        if (!(p[i].revents & POLLIN))
            continue;
        for (;;) {
            struct pollfd q = {.fd = rx[i].fd, .events = POLLIN};
            if (poll(&q, 1, 0) <= 0)
                break;
            if (th_ws_recv_text(rx[i].fd, buf, sizeof buf, 5000) < 0)
                fail_msg("receiver lost");
            const char *t = strstr(buf, "\"body\":\"t");
            if (t == NULL || strstr(buf, "\"ev\":\"message\"") == NULL)
                continue;
            int64_t sent = strtoll(t + 9, NULL, 10);
            int g = rx[i].group;
            lat[g][nlat[g]++] = now_ns() - sent;
            rx[i].got++;
        }
    }
}

/* Registers users, makes a group, logs receivers in on the given nodes. */
static char *setup_room(th_server_t *on_a, th_server_t **nodes_of, int n, th_user_t *snd,
                        th_user_t *rcv, rx_t *rx, int *fsend)
{
    th_json_bind(on_a);
    th_new_user(snd, "bs");
    char members[8192] = "[";
    for (int i = 0; i < n; i++) {
        th_new_user(&rcv[i], "br");
        strcat(members, i ? ",\"" : "\"");
        strcat(members, rcv[i].name);
        strcat(members, "\"");
    }
    strcat(members, "]");
    *fsend = th_ws_login(snd);
    char *g = th_room_create(*fsend, "group", members, "bench");
    for (int i = 0; i < n; i++) {
        th_json_bind(nodes_of[i]);
        rx[i].fd = th_ws_login(&rcv[i]);
        rx[i].group = nodes_of[i] == on_a ? 0 : 1;
        rx[i].got = 0;
    }
    return g;
}

static void send_one(int fd, const char *room, int i)
{
    char req[256];
    snprintf(req, sizeof req,
             "{\"id\":%d,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"b%d\","
             "\"content\":{\"type\":\"text\",\"body\":\"t%lld\"}}",
             i + 10, room, i, (long long)now_ns());
    th_ws_send_text(fd, req);
}

static void drain_sender(int fd)
{
    static char buf[1 << 16];
    for (;;) {
        struct pollfd q = {.fd = fd, .events = POLLIN};
        if (poll(&q, 1, 0) <= 0)
            return;
        th_ws_recv_text(fd, buf, sizeof buf, 5000);
    }
}

static void wait_subs(th_server_t *s)
{
    th_json_bind(s);
    for (int i = 0; i < 500 && th_stat("cluster_subscriptions") != th_stat("cluster_wanted"); i++)
        usleep(10000);
}

/* Latency at a steady rate: RECV receivers on a, RECV on b. */
static void latency(th_server_t *a, th_server_t *b)
{
    int n = 2 * RECV;
    th_user_t snd, *rcv = calloc((size_t)n, sizeof *rcv);
    rx_t rx[64];
    th_server_t *nodes[64];
    for (int i = 0; i < n; i++)
        nodes[i] = i % 2 ? b : a;
    int fs;
    char *g = setup_room(a, nodes, n, &snd, rcv, rx, &fs);
    wait_subs(a);
    wait_subs(b);
    for (int k = 0; k < 2; k++) {
        lat[k] = calloc((size_t)MSGS * (size_t)RECV + 16, sizeof *lat[k]);
        nlat[k] = 0;
    }
    int64_t start = now_ns(), gap = 1000000000LL / RATE;
    for (int i = 0; i < MSGS; i++) {
        int64_t due = start + (int64_t)i * gap;
        while (now_ns() < due)
            pump(rx, n, (int)((due - now_ns()) / 1000000));
        send_one(fs, g, i);
        drain_sender(fs);
    }
    int64_t until = now_ns() + 3000000000LL;
    while (now_ns() < until && (nlat[0] + nlat[1]) < (size_t)MSGS * (size_t)n)
        pump(rx, n, 100);
    double p50s = pct(lat[0], nlat[0], 0.50), p99s = pct(lat[0], nlat[0], 0.99);
    double p50x = pct(lat[1], nlat[1], 0.50), p99x = pct(lat[1], nlat[1], 0.99);
    printf(
        "| cross-node latency | %d msg/s x %d msgs, %d receivers per node | same node p50 %.0f us "
        "p99 %.0f us | other node p50 %.0f us p99 %.0f us | delivered %zu/%ld |\n",
        RATE, MSGS, RECV, p50s, p99s, p50x, p99x, nlat[0] + nlat[1], (long)MSGS * n);
    printf(
        "JSON {\"scenario\":\"cluster_latency\",\"rate\":%d,\"msgs\":%d,\"receivers_per_node\":%d,"
        "\"same_p50_us\":%.0f,\"same_p99_us\":%.0f,\"cross_p50_us\":%.0f,\"cross_p99_us\":%.0f,"
        "\"delivered\":%zu,\"expected\":%ld}\n",
        RATE, MSGS, RECV, p50s, p99s, p50x, p99x, nlat[0] + nlat[1], (long)MSGS * n);
    for (int i = 0; i < n; i++)
        close(rx[i].fd);
    close(fs);
    free(g);
    free(rcv);
    free(lat[0]);
    free(lat[1]);
}

/* Throughput: a burst of MSGS pipelined sends; deliveries per second until
 * every receiver has every message. */
static double burst(th_server_t *a, th_server_t *b, const char *label)
{
    int n = 2 * RECV;
    th_user_t snd, *rcv = calloc((size_t)n, sizeof *rcv);
    rx_t rx[64];
    th_server_t *nodes[64];
    for (int i = 0; i < n; i++)
        nodes[i] = (b != NULL && i % 2) ? b : a;
    int fs;
    char *g = setup_room(a, nodes, n, &snd, rcv, rx, &fs);
    if (b) {
        wait_subs(a);
        wait_subs(b);
    }
    for (int k = 0; k < 2; k++) {
        lat[k] = calloc((size_t)MSGS * (size_t)n + 16, sizeof *lat[k]);
        nlat[k] = 0;
    }
    int64_t t0 = now_ns();
    for (int i = 0; i < MSGS; i++) {
        send_one(fs, g, i);
        if (i % 64 == 63) {
            drain_sender(fs);
            pump(rx, n, 0);
        }
    }
    int64_t until = now_ns() + 20000000000LL;
    while (now_ns() < until && (nlat[0] + nlat[1]) < (size_t)MSGS * (size_t)n) {
        drain_sender(fs);
        pump(rx, n, 50);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    size_t got = nlat[0] + nlat[1];
    double rate = (double)got / secs;
    printf("| burst %s | %d msgs to %d receivers | %.0f deliveries/s | %.0f msgs/s | delivered "
           "%zu/%ld |\n",
           label, MSGS, n, rate, (double)MSGS / secs, got, (long)MSGS * n);
    printf("JSON {\"scenario\":\"cluster_burst_%s\",\"msgs\":%d,\"receivers\":%d,"
           "\"deliveries_per_s\":%.0f,\"msgs_per_s\":%.0f,\"delivered\":%zu}\n",
           label, MSGS, n, rate, (double)MSGS / secs, got);
    for (int i = 0; i < n; i++)
        close(rx[i].fd);
    close(fs);
    free(g);
    free(rcv);
    free(lat[0]);
    free(lat[1]);
    return rate;
}

static void run(void **state)
{
    (void)state;
    char t[] = "/tmp/parley-bench-XXXXXX";
    if (!mkdtemp(t))
        fail_msg("mkdtemp");
    /* One node without a bus first: the baseline. */
    th_server_t one;
    th_server_start(&one, settings("a", false));
    burst(&one, NULL, "one_node");
    th_server_stop(&one);
    th_server_cleanup(&one);

    redis_start(t);
    th_server_t a, b;
    th_server_start(&a, settings("a", true));
    memset(&b, 0, sizeof b);
    snprintf(b.data_dir, sizeof b.data_dir, "%s", a.data_dir);
    snprintf(b.log_path, sizeof b.log_path, "%s/parleyd-b.log", t);
    th_server_restart(&b, settings("b", true));
    latency(&a, &b);
    burst(&a, &b, "two_nodes");
    th_server_stop(&b);
    th_server_stop(&a);
    th_server_cleanup(&a);
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        RECV = atoi(argv[1]) > 0 && atoi(argv[1]) <= 32 ? atoi(argv[1]) : RECV;
    if (argc > 2)
        MSGS = atoi(argv[2]) > 0 ? atoi(argv[2]) : MSGS;
    if (argc > 3)
        RATE = atoi(argv[3]) > 0 ? atoi(argv[3]) : RATE;
    if (!getenv("PARLEYD")) {
        static char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
        if (n > 0) {
            path[n] = '\0';
            char *slash = strrchr(path, '/');
            strcpy(slash + 1, "parleyd");
            setenv("PARLEYD", path, 1);
        }
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
