/* SPDX-License-Identifier: MIT */
/* cluster_fx.h -- helpers of the multi-node tests: child processes (Redis)
 * started and stopped by PID, free ports, a monotonic clock, /readyz. */
#ifndef TH_CLUSTER_FX_H
#define TH_CLUSTER_FX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
} th_proc_t;

/** Monotonic milliseconds. */
int64_t th_now_ms(void);
/** A loopback TCP port nobody listens on right now. */
int th_free_port(void);
/** True if something accepts on 127.0.0.1:port. */
bool th_port_open(int port);
/** Starts argv (PATH lookup) with stdout and stderr appended to log; the
 * child dies with the test (PR_SET_PDEATHSIG). */
pid_t th_spawn(const char *const argv[], const char *log);
/** Sends sig and waits for the process; p->pid becomes 0. */
void th_proc_kill(th_proc_t *p, int sig);
/** Starts redis-server on 127.0.0.1:p->port (no persistence, files in
 * dir, log dir/redis.log) and waits until it accepts (10 s). */
void th_redis_start(th_proc_t *p, const char *dir);
/** True if prog is on PATH. */
bool th_have(const char *prog);
/** Waits (10 s) until GET /readyz on port answers want. */
void th_wait_ready(int port, int want);

#endif
