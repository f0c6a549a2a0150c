/* SPDX-License-Identifier: MIT */
/* api_metrics.h -- GET /metrics (issue 17): the /v1/stats numbers and the
 * process's, in the Prometheus text exposition format (version 0.0.4). The
 * renderer is pure (no I/O) so a unit test checks its output. */
#ifndef PL_API_METRICS_H
#define PL_API_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"

/** What the process reports about itself (read from getrusage and
 * /proc/self; a field that could not be read is -1 and left out). */
typedef struct {
    double cpu_seconds;     /* user + system */
    int64_t rss_bytes;      /* resident set */
    int64_t virtual_bytes;  /* address space */
    int64_t open_fds;       /* entries of /proc/self/fd */
    int64_t max_fds;        /* RLIMIT_NOFILE soft limit */
    double start_time_unix; /* seconds since the epoch */
} pl_proc_stats_t;

/** Reads the calling process's numbers. Thread: any (a few syscalls). */
void pl_proc_stats_read(pl_proc_stats_t *out);

/** Appends the exposition of stats (the /v1/stats object: integers become
 * parley_<key> gauges or parley_<key>_total counters, the "loops" array
 * per-loop series with a loop label, "errors" {code: n}
 * parley_errors_total{code}) and of proc (process_* as the
 * Prometheus client libraries name them) to out. Keys that are not
 * integers or not [a-z0-9_] are skipped. Borrows both. */
void pl_metrics_render(pl_buf_t *out, json_t *stats, const pl_proc_stats_t *proc);

#endif
