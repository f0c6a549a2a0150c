/* SPDX-License-Identifier: MIT */
/* media_queue.c -- decode threads and their bounded FIFO (see media_queue.h).
 * One mutex guards the waiting and finished lists; finished jobs go back to
 * the loop through one uv_async_t. */
#include "media/media_queue.h"

#include <stdbool.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

struct pl_media_queue {
    uv_loop_t *loop;
    uv_async_t async; /* decode thread -> loop: jobs finished */
    uv_mutex_t lock;
    uv_cond_t cond;
    uv_thread_t *threads;
    int nthreads;
    size_t max_queued;
    /* under lock */
    pl_media_job_t *head, *tail;           /* waiting, oldest first */
    pl_media_job_t *done_head, *done_tail; /* finished, oldest first */
    size_t waiting, running;
    bool stop;
    /* loop thread only */
    size_t outstanding; /* submitted, done callback not run yet */
    uint64_t done, refused;
};

static void push(pl_media_job_t **head, pl_media_job_t **tail, pl_media_job_t *j)
{
    j->next_ = NULL;
    if (*tail)
        (*tail)->next_ = j;
    else
        *head = j;
    *tail = j;
}

static void thread_main(void *arg)
{
    pl_media_queue_t *q = arg;
    uv_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->stop)
            uv_cond_wait(&q->cond, &q->lock);
        if (q->stop)
            break;
        pl_media_job_t *j = q->head;
        q->head = j->next_;
        if (q->head == NULL)
            q->tail = NULL;
        q->waiting--;
        q->running++;
        uv_mutex_unlock(&q->lock);
        j->work(j);
        uv_mutex_lock(&q->lock);
        q->running--;
        push(&q->done_head, &q->done_tail, j);
        uv_async_send(&q->async);
        if (q->head == NULL && q->running == 0) {
            /* The queue went idle: give the decodes' freed memory back to
             * the system (trimming after every job would lock malloc's
             * arenas under the loop threads' feet during a burst). */
            uv_mutex_unlock(&q->lock);
#ifdef __GLIBC__
            malloc_trim(0);
#endif
            uv_mutex_lock(&q->lock);
        }
    }
    uv_mutex_unlock(&q->lock);
}

static void on_async(uv_async_t *a)
{
    pl_media_queue_t *q = a->data;
    uv_mutex_lock(&q->lock);
    pl_media_job_t *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    uv_mutex_unlock(&q->lock);
    while (j) {
        pl_media_job_t *next = j->next_;
        q->outstanding--;
        q->done++;
        j->done(j); /* may submit again */
        j = next;
    }
    if (q->outstanding == 0)
        uv_unref((uv_handle_t *)&q->async);
}

/* Wakes every thread to exit (they finish the job in hand first). */
static void stop_threads(pl_media_queue_t *q)
{
    uv_mutex_lock(&q->lock);
    q->stop = true;
    uv_cond_broadcast(&q->cond);
    uv_mutex_unlock(&q->lock);
}

static void free_on_close(uv_handle_t *h)
{
    pl_media_queue_free(h->data);
}

int pl_media_queue_new(uv_loop_t *loop, int threads, size_t max_queued, pl_media_queue_t **out)
{
    pl_media_queue_t *q = pl_xcalloc(1, sizeof *q);
    q->loop = loop;
    q->max_queued = max_queued;
    int rc = uv_async_init(loop, &q->async, on_async);
    if (rc < 0) {
        free(q);
        return rc;
    }
    q->async.data = q;
    uv_unref((uv_handle_t *)&q->async);
    uv_mutex_init(&q->lock);
    uv_cond_init(&q->cond);
    q->threads = pl_xcalloc((size_t)threads, sizeof *q->threads);
    for (; q->nthreads < threads; q->nthreads++) {
        /* libvips recurses: give decodes the stack of a normal thread. */
        uv_thread_options_t opt = {UV_THREAD_HAS_STACK_SIZE, 8u << 20};
        rc = uv_thread_create_ex(&q->threads[q->nthreads], &opt, thread_main, q);
        if (rc < 0) {
            pl_log(PL_LOG_ERROR, "media", "op=thread_create err=%s", uv_strerror(rc));
            stop_threads(q);
            uv_close((uv_handle_t *)&q->async, free_on_close); /* the loop frees q later */
            return rc;
        }
    }
    *out = q;
    return 0;
}

int pl_media_queue_submit(pl_media_queue_t *q, pl_media_job_t *job, pl_media_work_cb work,
                          pl_media_done_cb done)
{
    job->work = work;
    job->done = done;
    uv_mutex_lock(&q->lock);
    if (q->waiting >= q->max_queued) {
        uv_mutex_unlock(&q->lock);
        q->refused++;
        return PL_ETOOBIG;
    }
    push(&q->head, &q->tail, job);
    q->waiting++;
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->lock);
    q->outstanding++;
    uv_ref((uv_handle_t *)&q->async);
    return 0;
}

void pl_media_queue_get_stats(const pl_media_queue_t *q, pl_media_queue_stats_t *out)
{
    pl_media_queue_t *mq = (pl_media_queue_t *)q; /* the lock is not part of the value */
    uv_mutex_lock(&mq->lock);
    out->queued = q->waiting;
    out->running = q->running;
    uv_mutex_unlock(&mq->lock);
    out->done = q->done;
    out->refused = q->refused;
}

void pl_media_queue_close(pl_media_queue_t *q)
{
    if (!q)
        return;
    stop_threads(q);
    /* Closed only after the loop ran dry, i.e. every job's done callback ran
     * (the async handle keeps the loop alive while any is outstanding);
     * a job dropped here would leak its upload or download. */
    if (q->outstanding > 0) {
        pl_log(PL_LOG_ERROR, "media", "decode queue closed with jobs=%zu outstanding",
               q->outstanding);
        abort();
    }
    /* No thread touches the handle any more: they only signal after a job. */
    uv_close((uv_handle_t *)&q->async, NULL);
}

void pl_media_queue_free(pl_media_queue_t *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nthreads; i++)
        uv_thread_join(&q->threads[i]);
    uv_cond_destroy(&q->cond);
    uv_mutex_destroy(&q->lock);
    free(q->threads);
    free(q);
}
