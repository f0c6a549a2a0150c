/* SPDX-License-Identifier: MIT */
/* media_upload.c -- streamed uploads. Each upload is a small state
 * machine driven by up_step(): whenever an asynchronous step (file
 * open/write/close, the token lookup, the pool job, the store job) finishes,
 * up_step() decides what is next. Only one of each kind is in flight at a
 * time. */
#include "media/media_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <magic.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http_range.h"

/* ---- uploads ---- */

typedef struct {
    pl_media_t *m;
    pl_http_req_t *req; /* NULL once answered */
    char tmp[1024];
    bool tmp_exists;
    uv_file fd;
    uv_fs_t fs;
    bool fs_busy;        /* an fs request or a write batch (wwork) is in flight */
    uv_work_t wwork;     /* write_work: hash + write infl on the pool */
    ssize_t wres;        /* its result: bytes written or a negative UV_E* code */
    pl_buf_t pend, infl; /* received, not written / being written */
    uint64_t woff;       /* file offset of infl */
    bool paused;
    crypto_hash_sha256_state hs;
    uint64_t size, limit;
    unsigned char head[SNIFF_BYTES];
    size_t head_len;
    unsigned char tok[32];
    bool auth_busy, auth_done;
    bool auth_hold; /* Expect: 100-continue: no body read (no 100) until the token checked out */
    int64_t user;
    bool body_done, aborted, closed;
    uv_work_t work;
    bool work_busy, processed, db_busy, stored;
    proc_t proc;
    char name[MAX_NAME + 1];
    int fail_status;
    const char *fail_code, *fail_msg;
    pl_media_rec_t rec;
    bool existed;
    bool gone;      /* the blob was collected between the file and the row steps */
    bool store_err; /* the store could not say whether the blob is there (S3 down) */
    uint64_t t0;
} upload_t;

static void up_step(upload_t *u);

static void up_fail(upload_t *u, int status, const char *code, const char *msg)
{
    if (u->fail_status)
        return;
    u->fail_status = status;
    u->fail_code = code;
    u->fail_msg = msg;
    /* Stop reading the rest; the answer goes out once the temp file is gone. */
    if (u->req)
        pl_http_stream_pause(u->req, true);
}

static void up_free(upload_t *u)
{
    pl_buf_dispose(&u->pend);
    pl_buf_dispose(&u->infl);
    pl_media_rec_dispose(&u->rec);
    free(u);
}

static void on_fs(uv_fs_t *r)
{
    upload_t *u = r->data;
    ssize_t res = r->result;
    uv_fs_type type = r->fs_type;
    uv_fs_req_cleanup(r);
    u->fs_busy = false;
    switch (type) {
    case UV_FS_OPEN:
        if (res < 0) {
            pl_log(PL_LOG_WARN, "media", "op=open path=%s err=%s", u->tmp, uv_strerror((int)res));
            up_fail(u, 500, "internal", "cannot store the upload");
        } else {
            u->fd = (uv_file)res;
            u->tmp_exists = true;
        }
        break;
    case UV_FS_CLOSE:
        u->fd = -1;
        u->closed = true;
        break;
    case UV_FS_UNLINK:
        u->tmp_exists = false;
        break;
    default:
        break;
    }
    up_step(u);
}

/* Hashes and writes one batch of the body (u->infl) on the pool: SHA-256
 * over hundreds of MiB would otherwise take the loop thread's time from
 * chat. Batches run one at a time, in order, so the hash state is only ever
 * touched by one thread; up_step finalizes it after the last one. */
static void write_work(uv_work_t *w)
{
    upload_t *u = w->data;
    const char *p = pl_buf_head(&u->infl);
    size_t n = u->infl.len, done = 0;
    crypto_hash_sha256_update(&u->hs, (const unsigned char *)p, n);
    u->wres = 0;
    while (done < n) {
        ssize_t k = pwrite(u->fd, p + done, n - done, (off_t)(u->woff + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            u->wres = k < 0 ? uv_translate_sys_error(errno) : UV_EIO;
            return;
        }
        done += (size_t)k;
    }
    u->wres = (ssize_t)done;
}

static void write_done(uv_work_t *w, int status)
{
    upload_t *u = w->data;
    u->fs_busy = false;
    ssize_t res = status < 0 ? status : u->wres;
    if (res < 0 || (size_t)res != u->infl.len) {
        pl_log(PL_LOG_WARN, "media", "op=write path=%s err=%s", u->tmp,
               res < 0 ? uv_strerror((int)res) : "short write");
        up_fail(u, res == UV_ENOSPC ? 507 : 500,
                res == UV_ENOSPC ? "insufficient_storage" : "internal",
                res == UV_ENOSPC ? "the server's disk is full" : "cannot store the upload");
    }
    u->woff += u->infl.len;
    pl_buf_reset(&u->infl, 2 * PEND_HIGH);
    up_step(u);
}

static void auth_work(pl_db_t *db, void *arg)
{
    upload_t *u = arg;
    int64_t did = 0;
    if (pl_db_session_lookup(db, u->tok, pl_now_ms(), &u->user, &did) < 0)
        u->user = 0;
}

static void auth_done(int status, void *arg)
{
    upload_t *u = arg;
    u->auth_busy = false;
    u->auth_done = true;
    if (status < 0 || u->user <= 0) {
        up_fail(u, 401, "unauthenticated", "invalid or revoked token");
    } else if (u->auth_hold) {
        u->auth_hold = false;
        if (!u->paused && !u->fail_status && u->req)
            pl_http_stream_pause(u->req, false); /* the 100 goes out now */
    }
    up_step(u);
}

static void thumb_done(pl_media_job_t *job)
{
    upload_t *u = (upload_t *)((char *)job - offsetof(upload_t, proc.job));
    u->work_busy = false;
    u->processed = true;
    up_step(u);
}

static void proc_done(uv_work_t *w, int status)
{
    upload_t *u = (upload_t *)((char *)w - offsetof(upload_t, work));
    pl_media_t *m = u->m;
    u->tmp_exists = false; /* commit moved or removed it */
    if (status < 0 || u->proc.rc < 0) {
        pl_log(PL_LOG_WARN, "media", "op=commit err=%s",
               pl_strerror(status < 0 ? status : u->proc.rc));
        if (m->ms->remote) /* S3 unreachable or refusing: not the client's fault */
            up_fail(u, 503, "storage_unavailable",
                    "the media storage is unavailable; try again later");
        else
            up_fail(u, 500, "internal", "cannot store the upload");
    } else if (u->proc.over_budget) {
        m->thumbs_over_budget++;
    } else if (u->proc.want_thumb) {
        /* The answer waits for the thumbnail (its size is part of it). */
        if (pl_media_queue_submit(m->dq, &u->proc.job, pl_media__thumb_work, thumb_done) == 0)
            return;
        pl_log(PL_LOG_INFO, "media", "no thumbnail user=u%" PRId64 " sha=%.12s: decode queue full",
               u->user, u->proc.sha);
    }
    u->work_busy = false;
    u->processed = true;
    up_step(u);
}

static void db_work(pl_db_t *db, void *arg)
{
    upload_t *u = arg;
    pl_media_rec_t in = {0};
    snprintf(in.sha256, sizeof in.sha256, "%s", u->proc.sha);
    in.size = (int64_t)u->size;
    in.mime = u->proc.mime;
    in.owner = u->user;
    in.name = u->name;
    in.width = u->proc.w;
    in.height = u->proc.h;
    in.thumb_w = u->proc.tw;
    in.thumb_h = u->proc.th;
    in.created_ms = pl_now_ms();
    /* The collector's deletion jobs (media_gc.c) may have removed the blob
     * this upload was deduplicated against after the file step: the row
     * must not point at nothing. Rare; the client retries. */
    pl_media_t *m = u->m;
    uint64_t have = 0;
    int rc = m->ms->ops->head(m->ms, u->proc.sha, NULL, &have);
    if (rc < 0) {
        /* On S3 this is a round trip on the writer thread: the price of
         * deciding against the collector. */
        if (rc == PL_ENOTFOUND)
            u->gone = true;
        else
            u->store_err = true;
        return;
    }
    /* A deletion of this blob still queued is no longer wanted; one
     * running may remove the bytes this upload relies on: send again. */
    int64_t running = 0;
    if (pl_db_job_cancel(db, PL_MEDIA_GC_JOB, u->proc.sha, &running) < 0) {
        u->store_err = true;
        pl_db_rollback_job(db);
        return;
    }
    if (running > 0) {
        u->gone = true;
        return;
    }
    if (pl_db_media_put(db, &in, &u->rec, &u->existed) < 0)
        pl_db_rollback_job(db);
}

static void db_done(int status, void *arg)
{
    upload_t *u = arg;
    u->db_busy = false;
    u->stored = true;
    if (u->gone)
        up_fail(u, 503, "unavailable", "the upload raced a cleanup; send it again");
    else if (u->store_err)
        up_fail(u, 503, "storage_unavailable", "the media storage is unavailable; try again later");
    else if (status < 0 || u->rec.id == 0)
        up_fail(u, 500, "internal", "storage error; try again");
    up_step(u);
}

/* Writes a media row as the JSON the API returns. */
static json_t *media_json(const pl_media_rec_t *r)
{
    char id[24];
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", pl_id_fmt(id, 'f', r->id), "sha256", r->sha256,
                  "size", (json_int_t)r->size, "mime", r->mime, "name", r->name ? r->name : "");
    if (r->width > 0) {
        json_object_set_new(o, "w", json_integer(r->width));
        json_object_set_new(o, "h", json_integer(r->height));
    }
    if (r->thumb_w > 0) {
        json_object_set_new(o, "thumb_w", json_integer(r->thumb_w));
        json_object_set_new(o, "thumb_h", json_integer(r->thumb_h));
    }
    return o;
}

static void respond_json(pl_http_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    pl_http_respond(req, status, "application/json", text, strlen(text), NULL);
    free(text);
}

static void up_step(upload_t *u)
{
    pl_media_t *m = u->m;
    if (u->fs_busy || u->auth_busy || u->work_busy || u->db_busy)
        return;
    if (u->fail_status || u->aborted) {
        /* Clean up first, so nothing is left on disk when the answer arrives. */
        if (u->fd >= 0) {
            u->fs_busy = true;
            uv_fs_close(m->loop, &u->fs, u->fd, on_fs);
            return;
        }
        if (u->tmp_exists) {
            u->fs_busy = true;
            uv_fs_unlink(m->loop, &u->fs, u->tmp, on_fs);
            return;
        }
        if (u->req) {
            if (u->aborted)
                pl_http_respond(u->req, 400, NULL, NULL, 0, NULL); /* detached: frees */
            else
                pl_http_respond_error(u->req, u->fail_status, u->fail_code, u->fail_msg, NULL);
            u->req = NULL;
        }
        pl_log(PL_LOG_INFO, "media", "upload failed user=u%" PRId64 " bytes=%" PRIu64 " status=%d",
               u->user, u->size, u->aborted ? 0 : u->fail_status);
        up_free(u);
        return;
    }
    if (u->fd < 0 && !u->tmp_exists && !u->closed) {
        u->fs_busy = true;
        uv_fs_open(m->loop, &u->fs, u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600, on_fs);
        return;
    }
    if (u->pend.len > 0 && u->fd >= 0) {
        pl_buf_t t = u->infl;
        u->infl = u->pend;
        u->pend = t;
        u->fs_busy = true;
        u->wwork.data = u;
        uv_queue_work(m->loop, &u->wwork, write_work, write_done);
        if (u->paused && u->req) {
            u->paused = false;
            pl_http_stream_pause(u->req, false);
        }
        return;
    }
    if (!u->body_done || !u->auth_done)
        return;
    if (u->size == 0) {
        up_fail(u, 400, "bad_request", "empty upload");
        up_step(u);
        return;
    }
    if (u->fd >= 0) {
        u->fs_busy = true;
        uv_fs_close(m->loop, &u->fs, u->fd, on_fs);
        return;
    }
    if (!u->processed) {
        proc_t *p = &u->proc;
        p->m = m;
        snprintf(p->tmp, sizeof p->tmp, "%s", u->tmp);
        unsigned char d[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&u->hs, d);
        sodium_bin2hex(p->sha, sizeof p->sha, d, sizeof d);
        memcpy(p->head, u->head, u->head_len);
        p->head_len = u->head_len;
        u->work.data = p;
        u->work_busy = true;
        uv_queue_work(m->loop, &u->work, pl_media__proc_work, proc_done);
        return;
    }
    if (!u->stored) {
        u->db_busy = true;
        pl_store_write(m->st, db_work, db_done, u);
        return;
    }
    uint64_t ms = uv_now(m->loop) - u->t0;
    pl_log(PL_LOG_INFO, "media",
           "upload user=u%" PRId64 " media=m%" PRId64 " bytes=%" PRIu64
           " mime=%s dedup=%d ms=%" PRIu64,
           u->user, u->rec.id, u->size, u->rec.mime, (int)u->existed, ms);
    if (u->req)
        respond_json(u->req, u->existed ? 200 : 201, media_json(&u->rec));
    up_free(u);
}

static int up_on_body(void *ud, pl_http_req_t *req, const char *data, size_t len)
{
    (void)req;
    upload_t *u = ud;
    if (u->fail_status)
        return 0; /* draining what was already read; the answer follows */
    if (len > u->limit || u->size > u->limit - len) {
        up_fail(u, 413, "too_large", "the upload exceeds max_upload_bytes");
        up_step(u);
        return 0;
    }
    u->size += len;
    if (u->head_len < SNIFF_BYTES) {
        size_t n = SNIFF_BYTES - u->head_len < len ? SNIFF_BYTES - u->head_len : len;
        memcpy(u->head + u->head_len, data, n);
        u->head_len += n;
    }
    pl_buf_append(&u->pend, data, len);
    if (u->pend.len >= PEND_HIGH && !u->paused) {
        u->paused = true;
        pl_http_stream_pause(u->req, true);
    }
    up_step(u);
    return 0;
}

static void up_on_complete(void *ud, pl_http_req_t *req)
{
    (void)req;
    upload_t *u = ud;
    u->body_done = true;
    up_step(u);
}

static void up_on_abort(void *ud, pl_http_req_t *req)
{
    (void)req;
    upload_t *u = ud;
    u->aborted = true;
    pl_log(PL_LOG_INFO, "media", "upload aborted bytes=%" PRIu64, u->size);
    up_step(u);
}

bool pl_media_on_headers(void *ud, pl_http_req_t *req, pl_http_stream_t *out)
{
    pl_media_t *m = ud;
    if (strcmp(pl_http_method(req), "POST") != 0 || strcmp(pl_http_path(req), "/v1/media") != 0)
        return false;
    unsigned char tok[32];
    if (!pl_auth_bearer_hash(pl_http_header(req, "authorization"), tok))
        return false; /* the buffered path answers 401 */
    upload_t *u = pl_xcalloc(1, sizeof *u);
    u->m = m;
    u->req = req;
    u->fd = -1;
    u->limit = (uint64_t)m->cfg->max_upload_bytes;
    u->t0 = uv_now(m->loop);
    memcpy(u->tok, tok, sizeof tok);
    u->fs.data = u;
    pl_buf_init(&u->pend);
    pl_buf_init(&u->infl);
    crypto_hash_sha256_init(&u->hs);
    pl_media_query_name(pl_http_query(req), u->name, sizeof u->name);
    m->ms->ops->tmp_path(m->ms, ++m->seq, u->tmp, sizeof u->tmp);
    const char *cl = pl_http_header(req, "content-length");
    if (cl && strtoull(cl, NULL, 10) > u->limit)
        up_fail(u, 413, "too_large", "the upload exceeds max_upload_bytes");
    /* A client that asked for 100-continue waits for it before sending the
     * body: hold it until the token is known, so an unknown token gets its
     * 401 instead of a 100 and an upload it would only throw away. */
    const char *expect = pl_http_header(req, "expect");
    if (!u->fail_status && expect && strcasecmp(expect, "100-continue") == 0) {
        u->auth_hold = true;
        pl_http_stream_pause(req, true);
    }
    u->auth_busy = true;
    pl_store_read(m->st, auth_work, auth_done, u);
    *out = (pl_http_stream_t){up_on_body, up_on_complete, up_on_abort, u};
    return true;
}
