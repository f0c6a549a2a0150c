/* SPDX-License-Identifier: MIT */
/* cluster_fx.c -- helpers of the multi-node tests (cluster_fx.h). */
#include "cluster_fx.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(0, bind(fd, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

bool th_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

pid_t th_spawn(const char *const argv[], const char *log)
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

void th_proc_kill(th_proc_t *p, int sig)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, sig);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

void th_redis_start(th_proc_t *p, const char *dir)
{
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    const char *argv[] = {
        "redis-server", "--port", port,          "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no",     "--daemonize", "no",     "--dir",     dir,      NULL};
    p->pid = th_spawn(argv, log);
    int64_t deadline = th_now_ms() + 10000;
    while (!th_port_open(p->port)) {
        if (th_now_ms() > deadline)
            fail_msg("redis-server did not start; log: %s", log);
        usleep(20000);
    }
}

bool th_have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

void th_wait_ready(int port, int want)
{
    int64_t deadline = th_now_ms() + 10000;
    char body[256];
    while (th_http(port, "GET", "/readyz", NULL, NULL, body, sizeof body) != want) {
        if (th_now_ms() > deadline)
            fail_msg("/readyz on %d never answered %d", port, want);
        usleep(20000);
    }
}
