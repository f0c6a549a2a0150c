/* SPDX-License-Identifier: MIT */
/* log.h -- level-gated, one-line key=value logging to stderr.
 * Thread-safe: each line is written with a single write(2). */
#ifndef PL_CORE_LOG_H
#define PL_CORE_LOG_H

#include <stdarg.h>

typedef enum {
    PL_LOG_ERROR = 0,
    PL_LOG_WARN = 1,
    PL_LOG_INFO = 2,
    PL_LOG_DEBUG = 3,
    PL_LOG_TRACE = 4,
} pl_log_level_t;

extern int pl_log_level; /* current threshold; lines above it are skipped */

/** Parses "error|warn|info|debug|trace"; returns the level or -1. */
int pl_log_parse_level(const char *s);
/** Sets the threshold. */
void pl_log_set_level(int level);

/** Writes one line: "<ts> <LEVEL> <subsys> <message>". Never log message
 * bodies, passwords or tokens. */
void pl_log_write(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The macro checks the level before any argument is evaluated or formatted. */
#define pl_log(level, subsys, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= pl_log_level)                                                               \
            pl_log_write((level), (subsys), __VA_ARGS__);                                          \
    } while (0)

#endif
