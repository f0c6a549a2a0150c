/* SPDX-License-Identifier: MIT */
/* api_metrics.c -- GET /metrics in the Prometheus text format (issue 17). */
#include "api/api_metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

/* The /v1/stats keys that are levels (may go down); every other integer key
 * counts events since the start and is exposed as a counter. */
static const char *const gauges[] = {
    "sessions",      "ring_bytes",           "mfa_tickets",           "jobs_running",
    "jobs_queued",   "jobs_retrying",        "jobs_claimed_now",      "jobs_done",
    "jobs_dead",     "cluster_connected",    "cluster_subscriptions", "cluster_wanted",
    "cluster_peers", "media_decodes_queued", "media_decodes_running",
};

static bool is_gauge(const char *k)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(gauges); i++)
        if (!strcmp(gauges[i], k))
            return true;
    return false;
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; the keys are ours, but checked. */
static bool name_ok(const char *k)
{
    if (*k == '\0' || (*k >= '0' && *k <= '9'))
        return false;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
            return false;
    return true;
}

static void one(pl_buf_t *b, const char *name, const char *type, const char *help, double v)
{
    pl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* The per-loop series: one family per key, a sample per loop. */
static void loops_render(pl_buf_t *b, json_t *loops)
{
    json_t *first = json_array_get(loops, 0);
    const char *k;
    json_t *v;
    json_object_foreach(first, k, v)
    {
        if (!json_is_integer(v) || !name_ok(k))
            continue;
        pl_buf_printf(b,
                      "# HELP parley_loop_%s_total %s per event loop (loop 0 is the core)\n"
                      "# TYPE parley_loop_%s_total counter\n",
                      k, k, k);
        size_t i;
        json_t *l;
        json_array_foreach(loops, i, l)
        {
            pl_buf_printf(b, "parley_loop_%s_total{loop=\"%zu\"} %" JSON_INTEGER_FORMAT "\n", k, i,
                          json_integer_value(json_object_get(l, k)));
        }
    }
}

/* A histogram {"le": [...], "counts": [per bucket, last +Inf], "sum"} as
 * parley_<name> with cumulative buckets, _sum and _count. */
static void hist_render(pl_buf_t *b, const char *name, json_t *h)
{
    json_t *le = json_object_get(h, "le"), *counts = json_object_get(h, "counts");
    size_t n = json_array_size(counts);
    if (!json_is_array(le) || n == 0 || json_array_size(le) + 1 != n)
        return;
    pl_buf_printf(b, "# HELP parley_%s The store writer's %s.\n# TYPE parley_%s histogram\n", name,
                  name, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += (uint64_t)json_integer_value(json_array_get(counts, i));
        if (i + 1 < n)
            pl_buf_printf(b, "parley_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                          json_number_value(json_array_get(le, i)), cum);
        else
            pl_buf_printf(b, "parley_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    }
    pl_buf_printf(b, "parley_%s_sum %.17g\nparley_%s_count %" PRIu64 "\n", name,
                  json_number_value(json_object_get(h, "sum")), name, cum);
}

void pl_metrics_render(pl_buf_t *out, json_t *stats, const pl_proc_stats_t *proc)
{
    const char *k;
    json_t *v;
    json_object_foreach(stats, k, v)
    {
        if (!json_is_integer(v) || !name_ok(k))
            continue;
        bool g = is_gauge(k);
        pl_buf_printf(out,
                      "# HELP parley_%s%s /v1/stats %s\n# TYPE parley_%s%s %s\n"
                      "parley_%s%s %" JSON_INTEGER_FORMAT "\n",
                      k, g ? "" : "_total", k, k, g ? "" : "_total", g ? "gauge" : "counter", k,
                      g ? "" : "_total", json_integer_value(v));
    }
    json_t *errors = json_object_get(stats, "errors");
    if (json_is_object(errors)) {
        pl_buf_lit(out, "# HELP parley_errors_total Error replies on WebSocket requests by code.\n"
                        "# TYPE parley_errors_total counter\n");
        json_object_foreach(errors, k, v)
        {
            if (json_is_integer(v) && name_ok(k))
                pl_buf_printf(out, "parley_errors_total{code=\"%s\"} %" JSON_INTEGER_FORMAT "\n", k,
                              json_integer_value(v));
        }
    }
    json_t *hists = json_object_get(stats, "histograms");
    json_object_foreach(hists, k, v)
    {
        if (name_ok(k))
            hist_render(out, k, v);
    }
    json_t *loops = json_object_get(stats, "loops");
    if (json_is_array(loops) && json_array_size(loops) > 0)
        loops_render(out, loops);
    if (proc == NULL)
        return;
    if (proc->cpu_seconds >= 0)
        one(out, "process_cpu_seconds_total", "counter", "User and system CPU time in seconds.",
            proc->cpu_seconds);
    if (proc->rss_bytes >= 0)
        one(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
            (double)proc->rss_bytes);
    if (proc->virtual_bytes >= 0)
        one(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
            (double)proc->virtual_bytes);
    if (proc->open_fds >= 0)
        one(out, "process_open_fds", "gauge", "Number of open file descriptors.",
            (double)proc->open_fds);
    if (proc->max_fds >= 0)
        one(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
            (double)proc->max_fds);
    if (proc->start_time_unix >= 0)
        one(out, "process_start_time_seconds", "gauge",
            "Start time of the process since the epoch in seconds.", proc->start_time_unix);
}

/* ---- the process ---- */

static double start_time(void)
{
    /* Field 22 of /proc/self/stat: start time in clock ticks after boot;
     * boot time from /proc/stat's btime. */
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ticks = 0;
    int field = 2;
    for (; p != NULL && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (p == NULL || sscanf(p, "%llu", &ticks) != 1)
        return -1;
    f = fopen("/proc/stat", "r");
    unsigned long long btime = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return btime > 0 && hz > 0 ? (double)btime + (double)ticks / (double)hz : -1;
}

void pl_proc_stats_read(pl_proc_stats_t *out)
{
    struct rusage ru;
    out->cpu_seconds = getrusage(RUSAGE_SELF, &ru) == 0
                           ? (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6
                           : -1;
    out->rss_bytes = out->virtual_bytes = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f != NULL && fscanf(f, "%llu %llu", &size, &resident) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        out->virtual_bytes = (int64_t)(size * (unsigned long long)page);
        out->rss_bytes = (int64_t)(resident * (unsigned long long)page);
    }
    if (f)
        fclose(f);
    out->open_fds = -1;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        int64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            n += e->d_name[0] != '.';
        closedir(d);
        out->open_fds = n - 1; /* the directory's own descriptor */
    }
    struct rlimit rl;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (int64_t)rl.rlim_cur
                       : -1;
    out->start_time_unix = start_time();
}
