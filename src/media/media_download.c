/* SPDX-License-Identifier: MIT */
/* media_download.c -- downloads: the access check, variants made on
 * demand, ranged and streamed bodies. */
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

/* Whether the query has key=1 (or key=true). */
static bool query_flag(const char *q, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=')
            return !strncmp(p + kl + 1, "1", 1) || !strncmp(p + kl + 1, "true", 4);
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return false;
}

/* ---- downloads ----
 * Every body is streamed: the file is opened on the pool (a variant made
 * there first when it is not cached yet), then read CHUNK bytes at a time
 * with uv_fs_read, the next read only once fewer than SEND_HIGH bytes wait on
 * the connection. A download of any size holds at most one chunk here and
 * about SEND_HIGH + CHUNK in the connection's queue. */

typedef struct {
    pl_media_t *m;
    pl_http_req_t *req;
    unsigned char tok[32];
    int64_t id, user;
    bool thumb, visible;
    bool square;                      /* thumb?square=1: the centre-cropped square variant */
    bool big;                         /* thumb?size=1280 */
    char tmp[1024];                   /* square / 1280: where it is made when not cached yet */
    pl_media_job_t vjob;              /* making it, on the decode queue */
    bool need_variant, variant_tried; /* not cached: make it, once */
    int rc;
    pl_media_rec_t rec;
    /* the file, opened on the pool */
    uv_work_t work;
    char path[1200];
    uv_file fd;
    uint64_t start, len, total;
    int status;
    int io_rc;
    /* streaming */
    bool remote; /* the store is S3: ranged GETs on the pool instead of a file */
    size_t want; /* remote: bytes asked for by the read in flight */
    size_t got;  /* remote: bytes it returned */
    int read_rc; /* remote: its result */
    uv_fs_t fs;
    bool fs_busy, aborted;
    char *chunk;
    uint64_t sent; /* body bytes queued */
} dl_t;

static const char *dl_variant(const dl_t *d)
{
    return d->square ? "square" : d->big ? "thumb1280" : d->thumb ? "thumb" : NULL;
}

static void dl_free(dl_t *d)
{
    pl_media_rec_dispose(&d->rec);
    free(d->chunk);
    free(d);
}

/* Ends the download: closes the file (a regular file: close() does not
 * block), ends or releases the request, frees d. */
static void dl_finish(dl_t *d)
{
    if (d->fd >= 0)
        close(d->fd);
    pl_http_respond_end(d->req);
    dl_free(d);
}

static void dl_lookup(pl_db_t *db, void *arg)
{
    dl_t *d = arg;
    int64_t did = 0;
    d->rc = pl_db_session_lookup(db, d->tok, pl_now_ms(), &d->user, &did);
    if (d->rc < 0) {
        d->rc = d->rc == PL_ENOTFOUND ? PL_EFORBIDDEN : d->rc;
        return;
    }
    d->rc = pl_db_media_visible(db, d->id, d->user, pl_now_ms(), &d->visible);
    if (d->rc == 0 && d->visible)
        d->rc = pl_db_media_get(db, d->id, &d->rec);
}

/* Pool, remote store: the object's size by a HEAD; the same checks as for
 * a file. */
static void dl_open_remote(dl_t *d)
{
    pl_media_store_t *ms = d->m->ms;
    int rc = ms->ops->head(ms, d->rec.sha256, dl_variant(d), &d->total);
    if (rc < 0) {
        d->need_variant = rc == PL_ENOTFOUND && (d->square || d->big) && !d->variant_tried;
        d->io_rc = rc;
        return;
    }
    if (d->len == UINT64_MAX) { /* whole object */
        d->start = 0;
        d->len = d->total;
    }
    /* A row whose object is shorter than recorded: refuse rather than send
     * a body that does not match its headers. */
    d->io_rc = d->start + d->len > d->total ? PL_EIO : 0;
}

static void dl_open_work(uv_work_t *w)
{
    dl_t *d = w->data;
    if (d->remote) {
        dl_open_remote(d);
        return;
    }
    int fd = open(d->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        /* A variant is made on first request (on the decode queue), then
         * cached next to the thumbnail. */
        d->need_variant = fd < 0 && (d->square || d->big) && !d->variant_tried;
        d->io_rc = PL_ENOTFOUND;
        if (fd >= 0)
            close(fd);
        return;
    }
    d->total = (uint64_t)st.st_size;
    if (d->len == UINT64_MAX) { /* whole file */
        d->start = 0;
        d->len = d->total;
    }
    if (d->start + d->len > d->total) {
        close(fd);
        d->io_rc = PL_EIO;
        return;
    }
    d->fd = fd;
    d->io_rc = 0;
}

static void dl_headers(dl_t *d, pl_buf_t *h, const char *etag, bool *attachment, const char **ctype)
{
    const char *mime = d->thumb ? "image/jpeg" : d->rec.mime;
    *ctype = pl_media_served_type(mime, attachment);
    pl_buf_printf(h, "ETag: %s\r\n" CACHE_HDR "Accept-Ranges: bytes\r\n", etag);
    if (*attachment) {
        char safe[MAX_NAME + 1];
        if (pl_media_disposition_name(d->rec.name, safe, sizeof safe) > 0)
            pl_buf_printf(h, "Content-Disposition: attachment; filename=\"%s\"\r\n", safe);
        else
            pl_buf_printf(h, "Content-Disposition: attachment\r\n");
    }
}

static void dl_etag(const dl_t *d, char *out, size_t cap)
{
    const char *v = dl_variant(d);
    snprintf(out, cap, "\"%s%s%s\"", d->rec.sha256, v ? "-" : "", v ? v : "");
}

static void dl_pump(dl_t *d);

/* Pool: the next range of a remote object into d->chunk. */
static void dl_read_work(uv_work_t *w)
{
    dl_t *d = w->data;
    pl_media_store_t *ms = d->m->ms;
    d->got = 0;
    d->read_rc = ms->ops->read(ms, d->rec.sha256, dl_variant(d), d->start + d->sent, d->chunk,
                               d->want, &d->got);
}

static void dl_read_done(uv_work_t *w, int status)
{
    dl_t *d = w->data;
    d->fs_busy = false;
    if (d->aborted) {
        dl_finish(d);
        return;
    }
    if (status < 0 || d->read_rc < 0 || d->got == 0) {
        /* S3 failed mid-body (retries spent): the headers are gone, so end
         * early, which closes the connection (a truncated body, never a
         * wrong one). */
        pl_log(PL_LOG_WARN, "media", "op=s3_read media=m%" PRId64 " sent=%" PRIu64 " err=%s", d->id,
               d->sent,
               pl_strerror(status < 0       ? status
                           : d->read_rc < 0 ? d->read_rc
                                            : PL_EIO));
        dl_finish(d);
        return;
    }
    if (pl_http_respond_write(d->req, d->chunk, d->got) < 0) {
        d->aborted = true; /* on_abort follows or ran: it finishes */
        return;
    }
    d->sent += d->got;
    dl_pump(d);
}

static void dl_on_read(uv_fs_t *r)
{
    dl_t *d = r->data;
    ssize_t res = r->result;
    uv_fs_req_cleanup(r);
    d->fs_busy = false;
    if (d->aborted) {
        dl_finish(d);
        return;
    }
    if (res <= 0) {
        /* The file shrank or failed under us: end early, which closes the
         * connection (a truncated body, never a wrong one). */
        pl_log(PL_LOG_WARN, "media", "op=read media=m%" PRId64 " err=%s", d->id,
               res < 0 ? uv_strerror((int)res) : "short file");
        dl_finish(d);
        return;
    }
    if (pl_http_respond_write(d->req, d->chunk, (size_t)res) < 0) {
        d->aborted = true; /* on_abort follows or ran: it finishes */
        return;
    }
    d->sent += (uint64_t)res;
    dl_pump(d);
}

/* Reads the next chunk unless one is being read, the connection is still
 * busy with SEND_HIGH bytes, or the body is complete. */
static void dl_pump(dl_t *d)
{
    if (d->aborted || d->fs_busy)
        return;
    if (d->sent == d->len) {
        dl_finish(d);
        return;
    }
    if (pl_http_respond_queued(d->req) >= SEND_HIGH)
        return; /* dl_on_drain calls again */
    if (d->remote) {
        /* One ranged GET per REMOTE_CHUNK: memory stays bounded, and each
         * read is idempotent, so the store retries it on its own. */
        d->want = d->len - d->sent < REMOTE_CHUNK ? (size_t)(d->len - d->sent) : REMOTE_CHUNK;
        if (!d->chunk)
            d->chunk = pl_xmalloc(REMOTE_CHUNK);
        d->fs_busy = true;
        d->work.data = d;
        uv_queue_work(d->m->loop, &d->work, dl_read_work, dl_read_done);
        return;
    }
    uint64_t n = d->len - d->sent < CHUNK ? d->len - d->sent : CHUNK;
    if (!d->chunk)
        d->chunk = pl_xmalloc(CHUNK);
    uv_buf_t b = uv_buf_init(d->chunk, (unsigned)n);
    d->fs.data = d;
    d->fs_busy = true;
    int rc =
        uv_fs_read(d->m->loop, &d->fs, d->fd, &b, 1, (int64_t)(d->start + d->sent), dl_on_read);
    if (rc < 0) {
        d->fs_busy = false;
        dl_finish(d);
    }
}

static void dl_on_drain(void *ud, pl_http_req_t *req)
{
    (void)req;
    dl_pump(ud);
}

static void dl_on_abort(void *ud, pl_http_req_t *req)
{
    (void)req;
    dl_t *d = ud;
    pl_log(PL_LOG_DEBUG, "media", "download aborted media=m%" PRId64 " sent=%" PRIu64, d->id,
           d->sent);
    d->aborted = true;
    if (!d->fs_busy)
        dl_finish(d); /* otherwise dl_on_read does */
}

static void dl_open_done(uv_work_t *w, int status);

/* Decode thread: makes the missing variant. */
static void variant_work(pl_media_job_t *job)
{
    dl_t *d = (dl_t *)((char *)job - offsetof(dl_t, vjob));
    pl_media_t *m = d->m;
    char orig[1200];
    if (m->ms->ops->local_path(m->ms, d->rec.sha256, NULL, orig, sizeof orig) == 0)
        (void)pl_media__make_variant(m, orig, d->rec.mime, d->tmp, d->rec.sha256, d->square);
    pl_media__decode_thread_release();
}

/* Opens the file again: it is there unless the image is over a limit. */
static void variant_done(pl_media_job_t *job)
{
    dl_t *d = (dl_t *)((char *)job - offsetof(dl_t, vjob));
    uv_queue_work(d->m->loop, &d->work, dl_open_work, dl_open_done);
}

static void dl_open_done(uv_work_t *w, int status)
{
    dl_t *d = w->data;
    if (status == 0 && d->need_variant) {
        d->need_variant = false;
        d->variant_tried = true;
        if (pl_media_queue_submit(d->m->dq, &d->vjob, variant_work, variant_done) == 0)
            return;
        pl_log(PL_LOG_INFO, "media", "variant refused media=m%" PRId64 ": decode queue full",
               d->id);
        pl_http_respond_error(d->req, 503, "unavailable", "the server is busy; try again",
                              "Retry-After: 1\r\n");
        dl_free(d);
        return;
    }
    if (d->remote && (status < 0 || d->io_rc < 0)) {
        int st;
        const char *code, *msg;
        pl_media__store_error(d->m, status < 0 ? status : d->io_rc, &st, &code, &msg);
        if (st != 404)
            pl_log(PL_LOG_WARN, "media", "op=s3_open media=m%" PRId64 " err=%s", d->id,
                   pl_strerror(status < 0 ? status : d->io_rc));
        pl_http_respond_error(d->req, st, code, msg, st == 503 ? "Retry-After: 5\r\n" : NULL);
        dl_free(d);
        return;
    }
    if (status < 0 || d->io_rc < 0) {
        pl_http_respond_error(d->req, d->io_rc == PL_ENOTFOUND ? 404 : 500,
                              d->io_rc == PL_ENOTFOUND ? "not_found" : "internal",
                              d->io_rc == PL_ENOTFOUND ? "no such media" : "read failed", NULL);
        if (d->fd >= 0)
            close(d->fd);
        dl_free(d);
        return;
    }
    char etag[96];
    dl_etag(d, etag, sizeof etag);
    pl_buf_t h;
    pl_buf_init(&h);
    bool att;
    const char *ctype;
    dl_headers(d, &h, etag, &att, &ctype);
    if (d->status == 206)
        pl_buf_printf(&h, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", d->start,
                      d->start + d->len - 1, d->total);
    pl_buf_reserve(&h, 1)[0] = '\0';
    pl_http_resp_stream_t cb = {dl_on_drain, dl_on_abort, d};
    int rc = pl_http_respond_start(d->req, d->status, ctype, d->len, pl_buf_head(&h), &cb);
    pl_buf_dispose(&h);
    if (rc <= 0) { /* HEAD, an empty body, or the peer left */
        dl_finish(d);
        return;
    }
    dl_pump(d);
}

/* The value of key=... in a query string, copied into out; false when absent. */
static bool query_value(const char *q, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, "&");
            snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p + kl + 1);
            return true;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return false;
}

static void dl_found(int status, void *arg)
{
    dl_t *d = arg;
    pl_media_t *m = d->m;
    int st = status;
    if (st < 0 || (d->rc < 0 && d->rc != PL_ENOTFOUND && d->rc != PL_EFORBIDDEN)) {
        pl_http_respond_error(d->req, 500, "internal", "storage error; try again", NULL);
        dl_free(d);
        return;
    }
    if (d->rc == PL_EFORBIDDEN) {
        pl_http_respond_error(d->req, 401, "unauthenticated", "invalid or revoked token", NULL);
        dl_free(d);
        return;
    }
    /* Not visible and nonexistent look the same: existence is not revealed. */
    if (d->rc == PL_ENOTFOUND || !d->visible || (d->thumb && d->rec.thumb_w == 0) ||
        ((d->square || d->big) && !m->vips_ok)) {
        pl_http_respond_error(d->req, 404, "not_found", "no such media", NULL);
        dl_free(d);
        return;
    }
    char etag[96];
    dl_etag(d, etag, sizeof etag);
    const char *inm = pl_http_header(d->req, "if-none-match");
    if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
        pl_buf_t h;
        pl_buf_init(&h);
        bool att;
        const char *ctype;
        dl_headers(d, &h, etag, &att, &ctype);
        pl_buf_reserve(&h, 1)[0] = '\0';
        pl_http_respond(d->req, 304, NULL, NULL, 0, pl_buf_head(&h));
        pl_buf_dispose(&h);
        dl_free(d);
        return;
    }
    d->status = 200;
    d->len = UINT64_MAX;
    if (!d->thumb) {
        uint64_t start, len;
        const char *range = pl_http_header(d->req, "range");
        const char *ifr = pl_http_header(d->req, "if-range");
        /* RFC 9110 13.1.5: a Range with a stale If-Range gets the whole thing. */
        if (ifr && strcmp(ifr, etag) != 0)
            range = NULL;
        int r = pl_http_range_parse(range, (uint64_t)d->rec.size, &start, &len);
        if (r < 0) {
            char extra[96];
            snprintf(extra, sizeof extra, "Content-Range: bytes */%" PRId64 "\r\n", d->rec.size);
            pl_http_respond_error(d->req, 416, "range_not_satisfiable",
                                  "the range is outside the file", extra);
            dl_free(d);
            return;
        }
        if (r == 1) {
            d->status = 206;
            d->start = start;
            d->len = len;
        }
    }
    if (d->square || d->big)
        m->ms->ops->tmp_path(m->ms, ++m->seq, d->tmp, sizeof d->tmp);
    d->remote = m->ms->remote;
    if (!d->remote &&
        m->ms->ops->local_path(m->ms, d->rec.sha256, dl_variant(d), d->path, sizeof d->path) < 0) {
        pl_http_respond_error(d->req, 500, "internal", "bad media path", NULL);
        dl_free(d);
        return;
    }
    d->work.data = d;
    uv_queue_work(m->loop, &d->work, dl_open_work, dl_open_done);
}

bool pl_media_on_http(pl_media_t *m, pl_http_req_t *req)
{
    const char *path = pl_http_path(req), *method = pl_http_method(req);
    if (strncmp(path, "/v1/media", 9) != 0 || (path[9] != '\0' && path[9] != '/'))
        return false;
    unsigned char tok[32];
    bool authed = pl_auth_bearer_hash(pl_http_header(req, "authorization"), tok);
    if (!strcmp(path, "/v1/media") || !strcmp(path, "/v1/media/")) {
        if (strcmp(method, "POST") != 0)
            pl_http_respond_error(req, 405, "method_not_allowed", "POST to upload",
                                  "Allow: POST\r\n");
        else
            pl_http_respond_error(req, 401, "unauthenticated",
                                  "missing Authorization: Bearer <token>", NULL);
        return true;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        pl_http_respond_error(req, 405, "method_not_allowed", "only GET and HEAD",
                              "Allow: GET, HEAD\r\n");
        return true;
    }
    char idtext[32];
    const char *s = path + 10, *slash = strchr(s, '/');
    size_t idlen = slash ? (size_t)(slash - s) : strlen(s);
    bool thumb = slash && !strcmp(slash, "/thumb");
    int64_t id = 0;
    if (idlen == 0 || idlen >= sizeof idtext || (slash && !thumb)) {
        pl_http_respond_error(req, 404, "not_found", "no such media", NULL);
        return true;
    }
    memcpy(idtext, s, idlen);
    idtext[idlen] = '\0';
    if (!pl_id_parse(idtext, 'f', &id)) {
        pl_http_respond_error(req, 404, "not_found", "no such media", NULL);
        return true;
    }
    if (!authed) {
        pl_http_respond_error(req, 401, "unauthenticated", "missing Authorization: Bearer <token>",
                              NULL);
        return true;
    }
    bool big = false;
    char size[16];
    if (thumb && query_value(pl_http_query(req), "size", size, sizeof size)) {
        if (!strcmp(size, "1280")) {
            big = true;
        } else if (strcmp(size, "320") != 0) {
            pl_http_respond_error(req, 400, "bad_request", "size must be 320 or 1280", NULL);
            return true;
        }
    }
    dl_t *d = pl_xcalloc(1, sizeof *d);
    d->m = m;
    d->req = req;
    d->id = id;
    d->fd = -1;
    d->thumb = thumb;
    d->square = thumb && query_flag(pl_http_query(req), "square");
    d->big = big && !d->square;
    memcpy(d->tok, tok, sizeof tok);
    pl_store_read(m->st, dl_lookup, dl_found, d);
    return true;
}
