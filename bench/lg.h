/* SPDX-License-Identifier: MIT */
/* lg.h -- shared pieces of the load generator: clocks, log-scale latency
 * histograms, the minimal WebSocket client codec, the server process
 * (start, /proc sampling, stop) and the blocking HTTP helpers used for setup.
 * Single-threaded per process; worker processes are forked by loadgen.c. */
#ifndef PL_BENCH_LG_H
#define PL_BENCH_LG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- time ---- */

/** CLOCK_MONOTONIC in nanoseconds (system-wide: comparable across the
 * generator's processes, so a send timestamp in one process can be
 * subtracted from a receive time in another). */
uint64_t lg_now_ns(void);
void lg_sleep_ms(unsigned ms);

/* ---- histogram: 32 sub-buckets per power of two of nanoseconds (~3%) ---- */

#define LG_HIST_SUB 5
#define LG_HIST_N (64 << LG_HIST_SUB)

typedef struct {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint32_t b[LG_HIST_N];
} lg_hist_t;

void lg_hist_add(lg_hist_t *h, uint64_t ns);
void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src);
/** The q-quantile (0..1) in nanoseconds (upper edge of its bucket); 0 if empty. */
uint64_t lg_hist_q(const lg_hist_t *h, double q);

/* ---- WebSocket client codec (RFC 6455, client side) ---- */

/** Appends one masked frame (FIN set) to the buffer (buf, len, cap), growing it with realloc. */
void lg_ws_encode(uint8_t **buf, size_t *len, size_t *cap, unsigned opcode, const void *data,
                  size_t n);
/** Parses one unmasked server frame at p[0..len). Returns the total frame size
 * and sets *opcode, *payload, *plen; 0 when more bytes are needed; -1 on a
 * protocol error (masked server frame, 64-bit length over 1 GiB). */
ssize_t lg_ws_parse(const uint8_t *p, size_t len, unsigned *opcode, const uint8_t **payload,
                    size_t *plen);
/** The opening handshake request for path on host. */
int lg_ws_handshake(char *out, size_t cap, const char *host, const char *path);

/* ---- the server under test ---- */

typedef struct {
    pid_t pid;
    int port;
    char dir[256];
} lg_server_t;

/** Starts parleyd (path) pinned to cpu (-1: no pinning) on 127.0.0.1 with a
 * fresh temp data dir and the extra "--set k=v" settings (NULL-terminated),
 * and waits until /healthz answers. Returns 0 or -1. If s already runs a
 * server, restarts it on the same data dir and port instead. */
int lg_server_start(lg_server_t *s, const char *path, int cpu, const char *const *sets);
/** SIGTERM, wait (5 s), then SIGKILL; removes the data dir. */
void lg_server_stop(lg_server_t *s);
/** utime+stime of pid in seconds (all threads), from /proc/<pid>/stat. */
double lg_proc_cpu(pid_t pid);
/** VmRSS of pid in bytes, from /proc/<pid>/status. */
uint64_t lg_proc_rss(pid_t pid);
/** This process' CPU seconds (user+system). */
double lg_self_cpu(void);

/* ---- blocking HTTP for setup ---- */

/** One request on a new or kept-alive blocking connection *fd (-1 to open).
 * Writes the status and up to cap-1 body bytes (NUL-terminated) into body.
 * Returns the HTTP status or -1 (then *fd is closed and set to -1). */
int lg_http(int *fd, int port, const char *method, const char *path, const char *json, char *body,
            size_t cap);
/** Reads a numeric field "name":N from a JSON text (first occurrence); -1 if absent. */
int64_t lg_json_int(const char *js, size_t len, const char *name);

/* ---- blocking WebSocket (setup only) ---- */

typedef struct {
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
} lg_bws_t;

/** Connects, handshakes on /v1/ws and authenticates with token. 0 or -1. */
int lg_bws_open(lg_bws_t *w, int port, const char *token);
int lg_bws_send(lg_bws_t *w, const char *text, size_t n);
/** Next text message (NUL-terminated, owned by w until the next call), or
 * NULL on error / close. Answers pings. */
const char *lg_bws_recv(lg_bws_t *w, size_t *n);
void lg_bws_close(lg_bws_t *w);

#endif
