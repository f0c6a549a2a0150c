/* SPDX-License-Identifier: MIT */
/* jobs.h -- the runner of durable background jobs (issue 13). Jobs are rows
 * of the store's `jobs` table (store.h, "durable background jobs"): anyone
 * enqueues with pl_db_job_enqueue inside the write job that causes the job;
 * this runner claims due jobs on the loop thread through store write jobs,
 * runs each kind's handler on the libuv thread pool (never on an I/O loop or
 * the store writer), and records success, a retry with exponential backoff
 * and jitter, or a dead job. Every node runs one; on PostgreSQL they share
 * the table without running a job twice (SKIP LOCKED claims).
 *
 * Delivery is at least once: a node can die after a handler's side effect
 * and before its completion is committed, and a handler that overruns the
 * lease may run again elsewhere. Handlers are idempotent or hand the job id
 * to the far side as an idempotency key (the email handler's Message-ID).
 * Loop-thread only, except pl_jobs_wake. */
#ifndef PL_JOBS_JOBS_H
#define PL_JOBS_JOBS_H

#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

typedef struct pl_jobs pl_jobs_t;

/* What a handler returns besides 0 (done) and other negatives (retry): the
 * job can never succeed (a payload it refuses): dead at once. */
#define PL_JOBS_PERMANENT PL_EINVAL

/** Runs one job on a pool thread. timeout_ms: the handler must give up by
 * then (the runner cannot stop a thread). Returns 0 when the job is done;
 * PL_JOBS_PERMANENT when it can never succeed; any other negative to retry.
 * On failure writes a short reason (no secrets) into err. */
typedef int (*pl_jobs_handler_cb)(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err,
                                  size_t errcap);

typedef struct {
    uint64_t claimed;      /* jobs claimed by this node */
    uint64_t succeeded;    /* handler returned 0 and the completion committed */
    uint64_t failed;       /* attempts that failed (retried or dead) */
    uint64_t died;         /* jobs this node declared dead */
    uint64_t overran;      /* handler returned after its timeout */
    uint64_t unknown;      /* claimed jobs of a kind with no handler here */
    uint64_t lost;         /* completions refused: the lease had passed to another */
    uint64_t running;      /* handlers running now */
    pl_job_counts_t table; /* the table's states, refreshed every few seconds */
} pl_jobs_stats_t;

/** A runner for store st with cfg's jobs_* keys. worker: this node's name
 * in claimed_by (node_id, or "local" on one SQLite node, or hostname-pid). */
int pl_jobs_new(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg, pl_jobs_t **out);
/** Registers the handler of a kind (before pl_jobs_start). PL_EEXIST,
 * PL_EINVAL for a bad kind name. */
int pl_jobs_register(pl_jobs_t *j, const char *kind, pl_jobs_handler_cb run, void *ud);
/** Releases this worker's old claims (a restart) and starts polling; with
 * jobs_workers 0 it does nothing. */
void pl_jobs_start(pl_jobs_t *j);
/** A job was enqueued on this node: claim now instead of at the next poll.
 * Any thread. */
void pl_jobs_wake(pl_jobs_t *j);
/** Stops claiming, waits for running handlers and their completions to be
 * committed, closes the handles, then calls cb (on the loop). The store must
 * stay open until then. */
void pl_jobs_stop(pl_jobs_t *j, void (*cb)(void *arg), void *arg);
/** Frees a stopped (or never started) runner. NULL is ok. */
void pl_jobs_free(pl_jobs_t *j);
void pl_jobs_get_stats(pl_jobs_t *j, pl_jobs_stats_t *out);

/** The `email` handler (jobs_smtp.c): ud is the pl_config_t (smtp_* keys);
 * payload as pl_mail_parse takes it. Sends with libcurl's SMTP. */
int pl_jobs_email_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err, size_t errcap);
/** libcurl's global setup, once, on the loop thread before any handler runs. */
int pl_jobs_email_setup(void);

/** Delay before the next attempt after `attempts` failed ones (1..):
 * base * 2^(attempts-1), capped at max, times a jitter factor in
 * [0.8, 1.2) taken from rnd (uniform over uint32). Pure. */
int64_t pl_jobs_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t attempts, uint32_t rnd);

#endif
