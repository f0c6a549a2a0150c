/* SPDX-License-Identifier: MIT */
/* log.c -- one-line logging to stderr. */
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int pl_log_level = PL_LOG_INFO;

static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

int pl_log_parse_level(const char *s)
{
    static const char *lower[] = {"error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, lower[i]) == 0)
            return i;
    return -1;
}

void pl_log_set_level(int level)
{
    __atomic_store_n(&pl_log_level, level, __ATOMIC_RELAXED);
}

void pl_log_write(int level, const char *subsys, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (level < 0)
        level = 0;
    if (level > 4)
        level = 4;
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %-6s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], subsys);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: still one line */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int pl_log_gate(pl_log_gate_t *g, int level, uint64_t now_ns, uint64_t period_ns, uint64_t *quiet)
{
    if (g->last_ns != 0 && now_ns - g->last_ns < period_ns) {
        g->quiet++;
        return PL_LOG_DEBUG;
    }
    g->last_ns = now_ns ? now_ns : 1;
    if (quiet)
        *quiet = g->quiet;
    g->quiet = 0;
    return level;
}
