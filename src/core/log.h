/* SPDX-License-Identifier: MIT */
/* log.h -- level-gated, one-line key=value logging to stderr.
 * Thread-safe: each line is written with a single write(2). */
#ifndef PL_CORE_LOG_H
#define PL_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

typedef enum {
    PL_LOG_ERROR = 0,
    PL_LOG_WARN = 1,
    PL_LOG_INFO = 2,
    PL_LOG_DEBUG = 3,
    PL_LOG_TRACE = 4,
} pl_log_level_t;

/* Current threshold; lines above it are skipped. Any thread reads it while
 * pl_log_set_level may change it: relaxed atomic loads and stores. */
extern int pl_log_level;

/** Parses "error|warn|info|debug|trace"; returns the level or -1. */
int pl_log_parse_level(const char *s);
/** Sets the threshold. */
void pl_log_set_level(int level);

/** Writes one line: "<ts> <LEVEL> <subsys> <message>". Never log message
 * bodies, passwords or tokens. */
void pl_log_write(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** A throttle for lines a peer can trigger at will (refusals, accept
 * errors): at most one line per period at the wanted level, the others at
 * debug, counted. Zero-initialise. Belongs to one thread. */
typedef struct {
    uint64_t last_ns; /* when the last line went out at the wanted level; 0: never */
    uint64_t quiet;   /* lines held back to debug since */
} pl_log_gate_t;

/** Returns level if a line may go out at it now (then *quiet, when not
 * NULL, gets how many were held back since the previous one), otherwise
 * PL_LOG_DEBUG. now_ns is any monotonic clock in ns. */
int pl_log_gate(pl_log_gate_t *g, int level, uint64_t now_ns, uint64_t period_ns, uint64_t *quiet);

/** The usual period of a gate: one line a second. */
#define PL_LOG_GATE_NS 1000000000ULL

/* The macro checks the level before any argument is evaluated or formatted. */
#define pl_log(level, subsys, ...)                                                                 \
    do {                                                                                           \
        if ((level) <= __atomic_load_n(&pl_log_level, __ATOMIC_RELAXED))                           \
            pl_log_write((level), (subsys), __VA_ARGS__);                                          \
    } while (0)

/** Programmer errors only, never peer input: logs the condition and where,
 * then aborts. Compiled in every build (the checks are cheap). */
#define PL_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            pl_log_write(PL_LOG_ERROR, "assert", "assertion failed: %s (%s:%d)", #cond, __FILE__,  \
                         __LINE__);                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
