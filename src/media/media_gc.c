/* SPDX-License-Identifier: MIT */
/* media_gc.c -- garbage collection of media: a timer's write job deletes the
 * rows nothing references any more and, in the same transaction, enqueues
 * one durable job per blob left without a row (PL_MEDIA_GC_JOB); the job
 * runner (src/jobs) deletes the blob and its variants on the thread pool,
 * retried with backoff while the store refuses (S3 down). So a slow or
 * failing S3 never holds the store's writer, and no deletion is lost to a
 * crash or an outage.
 *
 * The race with uploads. An upload that ends on a blob whose deletion is
 * pending (the same bytes uploaded again, or deduplicated against it)
 * cancels the queued job in the write job that stores its row
 * (pl_db_job_cancel, media_upload.c); if the deletion is running already,
 * the upload is told to send again (it may be deleting the bytes just
 * stored). A claim is a write job too, so the two are ordered: the blob of
 * a row is never deleted. */
#include "media/media_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Every derived file of a blob, removed with it. */
static const char *const variants[] = {"thumb", "thumb1280", "square"};

typedef struct {
    pl_media_t *m;
    int rc;
    pl_media_gc_t res;
    uint64_t t0;
} gc_job_t;

static void gc_work(pl_db_t *db, void *arg)
{
    gc_job_t *g = arg;
    pl_media_t *m = g->m;
    int64_t now = pl_now_ms();
    g->rc = pl_db_media_gc(db, now, now - m->cfg->media_gc_grace_ms, GC_BATCH, &g->res);
    for (size_t i = 0; g->rc == 0 && i < g->res.nblobs; i++) {
        char payload[96];
        snprintf(payload, sizeof payload, "{\"sha256\":\"%s\"}", g->res.blobs[i]);
        g->rc = pl_db_job_enqueue(db, PL_MEDIA_GC_JOB, g->res.blobs[i], payload, now, now, NULL);
    }
    if (g->rc < 0)
        pl_db_rollback_job(db); /* rows and jobs together, or neither */
}

static void gc_done(int status, void *arg)
{
    gc_job_t *g = arg;
    pl_media_t *m = g->m;
    m->gc_busy = false;
    if (status < 0 || g->rc < 0)
        pl_log(PL_LOG_WARN, "media", "gc failed err=%s", pl_strerror(g->rc < 0 ? g->rc : PL_EIO));
    else if (g->res.rows > 0)
        pl_log(PL_LOG_INFO, "media", "gc deleted rows=%zu blob_jobs=%zu ms=%" PRIu64, g->res.rows,
               g->res.nblobs, uv_now(m->loop) - g->t0);
    bool ok = status == 0 && g->rc == 0;
    if (ok && g->res.nblobs > 0 && m->gc_wake != NULL)
        m->gc_wake(m->gc_wake_ud);
    bool more = ok && g->res.rows == GC_BATCH;
    free(g->res.blobs);
    free(g);
    if (more && !m->stopped) /* a full batch: there may be more right away */
        uv_timer_start(&m->gc_timer, m->gc_timer.timer_cb, 0,
                       (uint64_t)m->cfg->media_gc_interval_ms);
}

void pl_media__gc_timer(uv_timer_t *t)
{
    pl_media_t *m = t->data;
    if (m->gc_busy || m->stopped)
        return;
    gc_job_t *g = pl_xcalloc(1, sizeof *g);
    g->m = m;
    g->t0 = uv_now(m->loop);
    m->gc_busy = true;
    pl_store_write(m->st, gc_work, gc_done, g);
}

void pl_media_set_gc_wake(pl_media_t *m, void (*wake)(void *ud), void *ud)
{
    m->gc_wake = wake;
    m->gc_wake_ud = ud;
}

int pl_media_gc_payload_sha(const char *payload, size_t n, char out[65])
{
    json_t *j = json_loadb(payload, n, JSON_REJECT_DUPLICATES, NULL);
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    int rc = PL_EINVAL;
    if (sha != NULL && strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64) {
        memcpy(out, sha, 65);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

int pl_media_gc_job_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err, size_t errcap)
{
    (void)timeout_ms; /* each S3 request has s3_timeout_ms, far below it */
    pl_media_t *m = ud;
    char sha[65];
    if (job->payload == NULL ||
        pl_media_gc_payload_sha(job->payload, strlen(job->payload), sha) < 0) {
        snprintf(err, errcap, "payload names no blob");
        return PL_EINVAL;
    }
    /* The variants first: a retry after a partial failure still finds the
     * blob's name in the job, whatever is left. */
    int rc = 0;
    for (size_t k = 0; k < PL_ARRAY_LEN(variants) && rc == 0; k++)
        rc = m->ms->ops->remove(m->ms, sha, variants[k]);
    if (rc == 0)
        rc = m->ms->ops->remove(m->ms, sha, NULL);
    if (rc < 0) {
        pl_log(PL_LOG_WARN, "media", "op=gc_remove sha=%.12s err=%s", sha, pl_strerror(rc));
        snprintf(err, errcap, "remove: %s", pl_strerror(rc));
        return rc;
    }
    pl_log(PL_LOG_DEBUG, "media", "op=gc_remove sha=%.12s done", sha);
    return 0;
}
