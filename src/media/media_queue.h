/* SPDX-License-Identifier: MIT */
/* media_queue.h -- a few threads of its own for image decoding (thumbnails),
 * with a bounded queue. Decodes are slow and take tens of MiB each; on the
 * libuv pool (4 threads, shared with Argon2id and file I/O) four at once
 * made logins wait and took hundreds of MiB. Here at most `threads` run at
 * once, and the pool stays free for the rest.
 *
 * Jobs are structs the caller embeds (like uv_work_t): work runs on a decode
 * thread, done on the loop thread. While jobs are outstanding the queue keeps
 * the loop alive, as uv_queue_work does. */
#ifndef PL_MEDIA_MEDIA_QUEUE_H
#define PL_MEDIA_MEDIA_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pl_media_queue pl_media_queue_t;
typedef struct pl_media_job pl_media_job_t;

/** Runs on a decode thread. */
typedef void (*pl_media_work_cb)(pl_media_job_t *job);
/** Runs on the loop thread after work, once per accepted job. */
typedef void (*pl_media_done_cb)(pl_media_job_t *job);

/** A job; embed it in the caller's struct and find that with offsetof. */
struct pl_media_job {
    pl_media_work_cb work;
    pl_media_done_cb done;
    pl_media_job_t *next_; /* queue link, private */
};

/** Counters for /v1/stats (loop thread). */
typedef struct {
    uint64_t queued;  /* accepted, waiting for a thread */
    uint64_t running; /* on a thread now */
    uint64_t done;    /* finished since startup */
    uint64_t refused; /* submit found the queue full */
} pl_media_queue_stats_t;

/** Starts `threads` decode threads; at most max_queued jobs may wait. Borrows
 * loop. Returns 0 or a negative UV_E* code; *out only on success. */
int pl_media_queue_new(uv_loop_t *loop, int threads, size_t max_queued, pl_media_queue_t **out);

/** Queues job (borrowed until its done callback). Loop thread. Returns 0, or
 * PL_ETOOBIG without calling anything when max_queued jobs already wait. */
int pl_media_queue_submit(pl_media_queue_t *q, pl_media_job_t *job, pl_media_work_cb work,
                          pl_media_done_cb done);

void pl_media_queue_get_stats(const pl_media_queue_t *q, pl_media_queue_stats_t *out);

/** Tells the threads to stop and closes q's handle (NULL-safe). Call after
 * the loop ran every done callback (uv_run returned: outstanding jobs keep it
 * running), then run the loop once for the close callback, then
 * pl_media_queue_free. (Joining the threads waits for them to be scheduled,
 * which under load takes a while: close first, join after.) */
void pl_media_queue_close(pl_media_queue_t *q);

/** Joins the threads and frees q (NULL-safe), after pl_media_queue_close and
 * one loop run. */
void pl_media_queue_free(pl_media_queue_t *q);

#endif
