/* SPDX-License-Identifier: MIT */
/* media_internal.h -- shared by the media service's files: media.c (pure
 * helpers, garbage collection, lifecycle), media_image.c (sniffing and
 * thumbnails), media_upload.c and media_download.c. Not for use outside
 * src/media/. */
#ifndef PL_MEDIA_MEDIA_INTERNAL_H
#define PL_MEDIA_MEDIA_INTERNAL_H

#include <magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "media/media.h"
#include "media/media_queue.h"
#include "media/media_store.h"

#define SNIFF_BYTES 8192     /* what libmagic sees of an upload */
#define PEND_HIGH (1u << 20) /* queued unwritten bytes: stop reading the socket */
#define THUMB_PX 320         /* thumbnail bounding box */
#define BIG_PX 1280          /* the large thumbnail (?size=1280), made on demand */
#define SQUARE_PX 256        /* the square (avatar) thumbnail: centre-cropped */
#define MAX_NAME 255         /* bytes of a file name */
#define CACHE_HDR "Cache-Control: private, max-age=31536000, immutable\r\n"
#define CHUNK (256u << 10)      /* one read of a streamed download */
#define SEND_HIGH (512u << 10)  /* queued response bytes: wait for the drain to read more */
#define GC_BATCH 1000           /* media rows one collection job deletes at most */
#define REMOTE_CHUNK (1u << 20) /* one ranged GET of a download streamed from S3 */

struct pl_media {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_media_store_t *ms;
    magic_t magic; /* not thread-safe: used under magic_lock */
    uv_mutex_t magic_lock;
    bool vips_ok;
    pl_media_queue_t *dq;        /* image decodes (thumbnails); NULL without libvips */
    uint64_t thumbs_over_budget; /* images left without a thumbnail by max_image_decode_bytes */
    uint64_t seq;                /* tmp file names */
    uv_timer_t gc_timer;
    bool gc_busy; /* a collection job is in flight */
    /* Blob deletions go through the durable job queue (PL_MEDIA_GC_JOB):
     * called after a collection committed some (pl_media_set_gc_wake). */
    void (*gc_wake)(void *ud);
    void *gc_wake_ud;
    bool stopped; /* pl_media_stop: the store is closing, no new jobs */
};

/* ---- media_gc.c: garbage collection ---- */

/** The collection timer's callback (data: the pl_media_t). */
void pl_media__gc_timer(uv_timer_t *t);

/* ---- media_image.c: processing, sniffing on the thread pool, decoding on
 * the decode queue ---- */

typedef struct {
    pl_media_t *m;
    char tmp[1024];
    char sha[65];
    unsigned char head[SNIFF_BYTES];
    size_t head_len;
    pl_media_job_t job; /* the thumbnail, on the decode queue */
    /* results */
    int rc;
    char mime[128];
    int64_t w, h, tw, th;
    bool want_thumb;  /* an image within max_image_pixels and max_image_decode_bytes */
    bool over_budget; /* no thumbnail: decoding would cost more than max_image_decode_bytes */
} proc_t;

/** Pool: sniffs the upload's type (libmagic) and reads an image's size;
 * w->data is the upload's proc_t. */
void pl_media__proc_work(uv_work_t *w);
/** Decode thread: makes the thumbnail of p (job is &p->job). */
void pl_media__thumb_work(pl_media_job_t *job);
/** Pool or decode thread: makes a variant (the square or the 1280 one) of
 * an image into tmp and stores it as sha's variant. Returns 0 or an error. */
int pl_media__make_variant(pl_media_t *m, const char *path, const char *mime, const char *tmp,
                           const char *sha, bool square);
/** Decode thread: releases libvips' per-thread state after a job. */
void pl_media__decode_thread_release(void);

/* ---- errors of the media store ---- */

/** The HTTP answer for a failed store operation rc: 404 not_found for
 * PL_ENOTFOUND; on a remote store (S3) anything else is 503
 * storage_unavailable (the client is not at fault and may retry); on local
 * disk 507 insufficient_storage for ENOSPC, else 500 internal. Pure. */
void pl_media__store_error(const pl_media_t *m, int rc, int *status, const char **code,
                           const char **msg);

#endif
