/* SPDX-License-Identifier: MIT */
/* media.c -- the media service: streamed uploads, sniffing and thumbnails on
 * the thread pool, downloads. Each upload is a small state machine driven by
 * up_step(): whenever an asynchronous step (file open/write/close, the token
 * lookup, the pool job, the store job) finishes, up_step() decides what is
 * next. Only one of each kind is in flight at a time. */
#include "media/media.h"

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
#include "media/media_queue.h"
#include "media/media_store.h"

#define SNIFF_BYTES 8192           /* what libmagic sees of an upload */
#define PEND_HIGH (1u << 20)       /* queued unwritten bytes: stop reading the socket */
#define THUMB_PX 320               /* thumbnail bounding box */
#define BIG_PX 1280                /* the large thumbnail (?size=1280), made on demand */
#define SQUARE_PX 256              /* the square (avatar) thumbnail: centre-cropped */
#define MAX_NAME 255               /* bytes of a file name */
#define CACHE_HDR "Cache-Control: private, max-age=31536000, immutable\r\n"
#define CHUNK (256u << 10)     /* one read of a streamed download */
#define SEND_HIGH (512u << 10) /* queued response bytes: wait for the drain to read more */
#define GC_BATCH 1000          /* media rows one collection job deletes at most */

/* Every derived file of a blob, removed with it. */
static const char *const variants[] = {"thumb", "thumb1280", "square"};

struct pl_media {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_media_store_t *ms;
    magic_t magic;        /* not thread-safe: used under magic_lock */
    uv_mutex_t magic_lock;
    bool vips_ok;
    pl_media_queue_t *dq;        /* image decodes (thumbnails); NULL without libvips */
    uint64_t thumbs_over_budget; /* images left without a thumbnail by max_image_decode_bytes */
    uint64_t seq;                /* tmp file names */
    uv_timer_t gc_timer;
    bool gc_busy; /* a collection job is in flight */
    bool stopped; /* pl_media_stop: the store is closing, no new jobs */
};

/* ---- pure helpers ---- */

bool pl_media_is_image(const char *mime)
{
    return !strcmp(mime, "image/jpeg") || !strcmp(mime, "image/png") ||
           !strcmp(mime, "image/gif") || !strcmp(mime, "image/webp");
}

const char *pl_media_served_type(const char *mime, bool *attachment)
{
    /* Types that are safe to render inline on our origin. */
    static const char *const inline_ok[] = {
        "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(inline_ok); i++)
        if (!strcmp(mime, inline_ok[i])) {
            *attachment = false;
            return mime;
        }
    if (!strncmp(mime, "audio/", 6) || !strncmp(mime, "video/", 6)) {
        *attachment = false;
        return mime;
    }
    *attachment = true;
    if (!strcmp(mime, "text/plain"))
        return "text/plain; charset=utf-8";
    /* Anything a browser might execute or render as a document (HTML, SVG,
     * XML, JavaScript, ...) and everything unknown is opaque bytes. */
    if (!strncmp(mime, "text/", 5) || strstr(mime, "html") || strstr(mime, "xml") ||
        strstr(mime, "svg") || strstr(mime, "script"))
        return "application/octet-stream";
    if (!strncmp(mime, "application/", 12) && strspn(mime, "abcdefghijklmnopqrstuvwxyz0123456789/.+-") == strlen(mime))
        return mime;
    return "application/octet-stream";
}

/* The file name from ?name=: percent-decoded, '+' as space, only its last
 * path segment, no control characters, valid UTF-8, at most MAX_NAME bytes;
 * "" when absent or unusable. */
static void query_name(const char *q, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = q;
    while (p && *p) {
        if (!strncmp(p, "name=", 5))
            break;
        p = strchr(p, '&');
        if (p)
            p++;
    }
    if (!p || !*p)
        return;
    p += 5;
    size_t n = 0;
    for (; *p && *p != '&' && n + 1 < cap; p++) {
        int ch = (unsigned char)*p;
        if (ch == '%') {
            int hi = pl_hexval(p[1]), lo = hi < 0 ? -1 : pl_hexval(p[2]);
            if (lo < 0) {
                out[0] = '\0';
                return;
            }
            ch = hi * 16 + lo;
            p += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (ch == '/' || ch == '\\') {
            n = 0; /* keep only the last path segment */
            continue;
        }
        if (ch < 0x20 || ch == 0x7f)
            continue;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    if (!pl_utf8_valid(out, n) || !strcmp(out, ".") || !strcmp(out, ".."))
        out[0] = '\0';
}

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

/* ---- processing: sniffing on the thread pool, decoding on the decode queue ---- */

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

static void sniff(pl_media_t *m, proc_t *p)
{
    uv_mutex_lock(&m->magic_lock);
    const char *t = m->magic ? magic_buffer(m->magic, p->head, p->head_len) : NULL;
    snprintf(p->mime, sizeof p->mime, "%s", t ? t : "application/octet-stream");
    uv_mutex_unlock(&m->magic_lock);
}

uint64_t pl_media_decode_cost(const char *mime, int64_t w, int64_t h, int bands, int sample,
                              int box, bool crop)
{
    if (w <= 0 || h <= 0 || bands <= 0 || sample <= 0 || box <= 0)
        return UINT64_MAX;
    /* Measured with libvips 8.14 (/proc VmHWM, one decode thread); each term
     * errs on the high side. Rows: libvips keeps a few hundred input rows of
     * the full width in line caches and strips, so the width, not the
     * height, drives the cost. Whole frames: GIF and WebP decode the full
     * frame (RGBA) before anything is shrunk. */
    double W = (double)w, H = (double)h, bpp = (double)bands * sample;
    double sx = W / box, sy = H / box, s = crop ? PL_MIN(sx, sy) : PL_MAX(sx, sy);
    double cost = 8.0 * 1024 * 1024; /* libvips' own working set */
    if (!strcmp(mime, "image/jpeg")) {
        /* vips_thumbnail shrinks JPEG while decoding, by the power of two
         * that leaves at least 2x for the final resize. */
        int shrink = s >= 16 ? 8 : s >= 8 ? 4 : s >= 4 ? 2 : 1;
        cost += (W / shrink) * bpp * 2048;
    } else {
        cost += W * bpp * 512 + W * 3 * 1024;
        if (!strcmp(mime, "image/gif") || !strcmp(mime, "image/webp"))
            cost += W * H * 4;
    }
    return cost >= 0x1p63 ? UINT64_MAX : (uint64_t)cost;
}

/* An image's header: size as stored (before EXIF orientation), bands and
 * bytes per band, orientation. Only the header is read. */
typedef struct {
    int64_t w, h;
    int bands, sample, orient;
} img_info_t;

static int image_info(const char *path, img_info_t *out)
{
    VipsImage *img = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!img) {
        vips_error_clear();
        return PL_EIO;
    }
    /* For animations, libvips reports one frame's height only with n=1 (the
     * default). */
    out->w = vips_image_get_width(img);
    out->h = vips_image_get_height(img);
    out->bands = vips_image_get_bands(img);
    out->sample = (int)vips_format_sizeof(vips_image_get_format(img));
    out->orient = 1;
    if (vips_image_get_typeof(img, VIPS_META_ORIENTATION))
        (void)vips_image_get_int(img, VIPS_META_ORIENTATION, &out->orient);
    g_object_unref(img);
    return out->w > 0 && out->h > 0 ? 0 : PL_EIO;
}

/* Replaces *t by n when rc (the result of the libvips call that made n;
 * call it first: argument order is unspecified) is 0; returns rc. */
static int step(VipsImage **t, VipsImage *n, int rc)
{
    if (rc == 0) {
        g_object_unref(*t);
        *t = n;
    }
    return rc;
}

/* Flattens *t on white when it has an alpha channel (JPEG has none). */
static int flatten_white(VipsImage **t)
{
    if (!vips_image_hasalpha(*t))
        return 0;
    VipsImage *n = NULL;
    VipsArrayDouble *bg = vips_array_double_newv(1, 255.0);
    int rc = vips_flatten(*t, &n, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return step(t, n, rc);
}

/* 16-bit (or wider) samples down to 8 bits, alpha included, before anything
 * else touches the full-size rows: they are then a half (or less) as wide
 * in bytes, and flatten_white runs in 8 bits. */
static int to_8bit(VipsImage **t)
{
    if (vips_image_get_format(*t) == VIPS_FORMAT_UCHAR)
        return 0;
    VipsImage *n = NULL;
    bool sixteen = vips_image_get_format(*t) == VIPS_FORMAT_USHORT;
    int rc = vips_cast(*t, &n, VIPS_FORMAT_UCHAR, "shift", sixteen, NULL);
    if (step(t, n, rc) != 0)
        return rc;
    VipsInterpretation i =
        vips_image_get_bands(*t) >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    rc = vips_copy(*t, &n, "interpretation", i, NULL);
    return step(t, n, rc);
}

/* A box filter by the integer factor that leaves the image at least twice
 * the target size, so vips_thumbnail_image's better filter only sees rows a
 * k-th as wide (its strips would otherwise hold k times more input rows). */
static int box_shrink(VipsImage **t, int box, bool crop)
{
    double sx = (double)vips_image_get_width(*t) / box;
    double sy = (double)vips_image_get_height(*t) / box;
    int k = (int)((crop ? PL_MIN(sx, sy) : PL_MAX(sx, sy)) / 2);
    if (k < 2)
        return 0;
    VipsImage *n = NULL;
    int rc = vips_shrinkv(*t, &n, k, NULL);
    if (step(t, n, rc) != 0)
        return rc;
    rc = vips_shrinkh(*t, &n, k, NULL);
    return step(t, n, rc);
}

/* Writes a JPEG (quality q) of the image at path to out: fitting in
 * box x box and never upscaled, or (crop) box x box scaled to fill and
 * centre-cropped; EXIF orientation applied, metadata stripped, transparency
 * flattened on white; the first frame of an animation. Decode thread. JPEG
 * and WebP go through vips_thumbnail, which shrinks them while decoding.
 * PNG and GIF cannot shrink on load: they are read sequentially, brought to
 * 8 bits and flattened, then box-shrunk, which keeps decoding to roughly
 * pl_media_decode_cost. Writes the output size into *ow, *oh. */
static int render(const char *path, const char *mime, int box, bool crop, int q, const char *out,
                  int64_t *ow, int64_t *oh)
{
    VipsImage *t = NULL, *n = NULL;
    VipsSize size = crop ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
    VipsInteresting how = crop ? VIPS_INTERESTING_CENTRE : VIPS_INTERESTING_NONE;
    int rc = -1;
    if (!strcmp(mime, "image/jpeg") || !strcmp(mime, "image/webp")) {
        if (vips_thumbnail(path, &t, box, "height", box, "size", size, "crop", how, "fail_on",
                           VIPS_FAIL_ON_ERROR, NULL) != 0)
            goto out;
    } else {
        t = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                     VIPS_FAIL_ON_ERROR, NULL);
        if (t == NULL || to_8bit(&t) != 0 || flatten_white(&t) != 0 || box_shrink(&t, box, crop))
            goto out;
        /* vips_thumbnail_image applies the EXIF orientation itself. */
        int vr = vips_thumbnail_image(t, &n, box, "height", box, "size", size, "crop", how, NULL);
        if (step(&t, n, vr) != 0)
            goto out;
    }
    if (flatten_white(&t) != 0)
        goto out;
    if (vips_jpegsave(t, out, "Q", q, "strip", TRUE, NULL) != 0) {
        unlink(out);
        goto out;
    }
    *ow = vips_image_get_width(t);
    *oh = vips_image_get_height(t);
    rc = 0;
out:
    if (t)
        g_object_unref(t);
    if (rc != 0)
        vips_error_clear();
    return rc == 0 ? 0 : PL_EIO;
}

/* After a decode: libvips' per-thread buffers go (the queue trims malloc
 * once it is idle, so an idle server does not keep a decode's peak). */
static void decode_thread_release(void)
{
    vips_thread_shutdown();
}

/* Whether an image of this header may be decoded into a box x box variant;
 * logs why not. Any thread. */
static bool decode_allowed(pl_media_t *m, const char *sha, const char *mime, const img_info_t *ii,
                           int box, bool crop, bool *over_budget)
{
    if (ii->w * ii->h > m->cfg->max_image_pixels) {
        pl_log(PL_LOG_INFO, "media", "no thumbnail sha=%.12s pixels=%" PRId64 " max=%" PRId64, sha,
               ii->w * ii->h, m->cfg->max_image_pixels);
        return false;
    }
    uint64_t cost = pl_media_decode_cost(mime, ii->w, ii->h, ii->bands, ii->sample, box, crop);
    if (cost > (uint64_t)m->cfg->max_image_decode_bytes) {
        pl_log(PL_LOG_INFO, "media",
               "no thumbnail sha=%.12s size=%" PRId64 "x%" PRId64 " bands=%d decode_bytes=%" PRIu64
               " max=%" PRId64,
               sha, ii->w, ii->h, ii->bands, cost, m->cfg->max_image_decode_bytes);
        *over_budget = true;
        return false;
    }
    return true;
}

/* Makes a variant made on first request of the image at path, committed as
 * "square" (SQUARE_PX x SQUARE_PX, scaled to fill and centre-cropped) or
 * "thumb1280" (fits in BIG_PX x BIG_PX, never upscaled). Decode thread.
 * Returns 0 or a negative code (the image is over a limit: PL_ETOOBIG). */
static int make_variant(pl_media_t *m, const char *path, const char *mime, const char *tmp,
                        const char *sha, bool square)
{
    const char *variant = square ? "square" : "thumb1280";
    int box = square ? SQUARE_PX : BIG_PX;
    char out[1100];
    snprintf(out, sizeof out, "%s.%s.jpg", tmp, variant);
    img_info_t ii;
    bool over = false;
    if (image_info(path, &ii) < 0)
        return PL_EIO;
    if (!decode_allowed(m, sha, mime, &ii, box, square, &over))
        return PL_ETOOBIG;
    int64_t w, h;
    if (render(path, mime, box, square, 85, out, &w, &h) < 0)
        return PL_EIO;
    bool existed = false;
    return m->ms->ops->commit(m->ms, out, sha, variant, &existed);
}

/* Thread pool: sniffs the type, moves the upload to its content address and,
 * for an image, reads its header and decides whether it gets a thumbnail.
 * A corrupt image or one over max_image_pixels or max_image_decode_bytes
 * simply gets none. */
static void proc_work(uv_work_t *w)
{
    proc_t *p = w->data; /* the upload points work.data at its proc_t */
    pl_media_t *m = p->m;
    sniff(m, p);
    bool existed = false;
    p->rc = m->ms->ops->commit(m->ms, p->tmp, p->sha, NULL, &existed);
    if (p->rc < 0 || !pl_media_is_image(p->mime) || !m->vips_ok)
        return;
    char path[1200];
    img_info_t ii;
    if (m->ms->ops->local_path(m->ms, p->sha, NULL, path, sizeof path) < 0 ||
        image_info(path, &ii) < 0)
        return;
    bool turned = ii.orient >= 5 && ii.orient <= 8;
    p->w = turned ? ii.h : ii.w;
    p->h = turned ? ii.w : ii.h;
    p->want_thumb = decode_allowed(m, p->sha, p->mime, &ii, THUMB_PX, false, &p->over_budget);
}

/* Decode thread: the thumbnail. */
static void thumb_work(pl_media_job_t *job)
{
    proc_t *p = (proc_t *)((char *)job - offsetof(proc_t, job));
    pl_media_t *m = p->m;
    char path[1200], out[1100];
    int64_t tw = 0, th = 0;
    snprintf(out, sizeof out, "%s.thumb.jpg", p->tmp);
    bool existed = false;
    if (m->ms->ops->local_path(m->ms, p->sha, NULL, path, sizeof path) == 0 &&
        render(path, p->mime, THUMB_PX, false, 80, out, &tw, &th) == 0 &&
        m->ms->ops->commit(m->ms, out, p->sha, "thumb", &existed) == 0) {
        p->tw = tw;
        p->th = th;
    }
    decode_thread_release();
}

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
    bool gone; /* the blob was collected between the file and the row steps */
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
        up_fail(u, 500, "internal", "cannot store the upload");
    } else if (u->proc.over_budget) {
        m->thumbs_over_budget++;
    } else if (u->proc.want_thumb) {
        /* The answer waits for the thumbnail (its size is part of it). */
        if (pl_media_queue_submit(m->dq, &u->proc.job, thumb_work, thumb_done) == 0)
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
    /* The collector deletes blobs on this (writer) thread too: if it removed
     * the blob this upload was deduplicated against after the file step, the
     * row must not point at nothing. Rare; the client retries. */
    pl_media_t *m = u->m;
    char path[1200];
    struct stat st;
    if (m->ms->ops->local_path(m->ms, u->proc.sha, NULL, path, sizeof path) < 0 ||
        stat(path, &st) != 0) {
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
    else if (status < 0 || u->rec.id == 0)
        up_fail(u, 500, "internal", "storage error; try again");
    up_step(u);
}

/* Writes a media row as the JSON the API returns. */
static json_t *media_json(const pl_media_rec_t *r)
{
    char id[24];
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", pl_id_fmt(id, 'f', r->id), "sha256",
                          r->sha256, "size", (json_int_t)r->size, "mime", r->mime, "name",
                          r->name ? r->name : "");
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
        uv_queue_work(m->loop, &u->work, proc_work, proc_done);
        return;
    }
    if (!u->stored) {
        u->db_busy = true;
        pl_store_write(m->st, db_work, db_done, u);
        return;
    }
    uint64_t ms = uv_now(m->loop) - u->t0;
    pl_log(PL_LOG_INFO, "media",
           "upload user=u%" PRId64 " media=m%" PRId64 " bytes=%" PRIu64 " mime=%s dedup=%d ms=%" PRIu64,
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
    query_name(pl_http_query(req), u->name, sizeof u->name);
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
    bool square;    /* thumb?square=1: the centre-cropped square variant */
    bool big;       /* thumb?size=1280 */
    char tmp[1024]; /* square / 1280: where it is made when not cached yet */
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

static void dl_open_work(uv_work_t *w)
{
    dl_t *d = w->data;
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

static void dl_headers(dl_t *d, pl_buf_t *h, const char *etag, bool *attachment,
                       const char **ctype)
{
    const char *mime = d->thumb ? "image/jpeg" : d->rec.mime;
    *ctype = pl_media_served_type(mime, attachment);
    pl_buf_printf(h, "ETag: %s\r\n" CACHE_HDR "Accept-Ranges: bytes\r\n", etag);
    if (*attachment) {
        char safe[MAX_NAME + 1];
        size_t n = 0;
        for (const char *s = d->rec.name ? d->rec.name : ""; *s && n < MAX_NAME; s++) {
            unsigned char ch = (unsigned char)*s;
            safe[n++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != ';') ? (char)ch : '_';
        }
        safe[n] = '\0';
        if (n)
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
        (void)make_variant(m, orig, d->rec.mime, d->tmp, d->rec.sha256, d->square);
    decode_thread_release();
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
        pl_buf_printf(&h, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
                      d->start, d->start + d->len - 1, d->total);
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
    if (m->ms->ops->local_path(m->ms, d->rec.sha256, dl_variant(d), d->path, sizeof d->path) < 0) {
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
            pl_http_respond_error(req, 405, "method_not_allowed", "POST to upload", "Allow: POST\r\n");
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

/* ---- garbage collection ----
 * One write job per sweep (never two at once): the rows go in the job's
 * transaction and their blobs are unlinked in the same job, on the writer
 * thread, so an upload that deduplicates against a blob (its row is written
 * on that thread too) either keeps the blob alive or sees it gone. */

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
    if (g->rc < 0) {
        pl_db_rollback_job(db);
        return;
    }
    for (size_t i = 0; i < g->res.nblobs; i++) {
        const char *sha = g->res.blobs[i];
        int rc = m->ms->ops->remove(m->ms, sha, NULL);
        for (size_t k = 0; k < PL_ARRAY_LEN(variants); k++)
            if (rc == 0)
                rc = m->ms->ops->remove(m->ms, sha, variants[k]);
        if (rc < 0)
            pl_log(PL_LOG_WARN, "media", "op=gc_remove sha=%.12s err=%s", sha, pl_strerror(rc));
    }
}

static void gc_done(int status, void *arg)
{
    gc_job_t *g = arg;
    pl_media_t *m = g->m;
    m->gc_busy = false;
    if (status < 0 || g->rc < 0)
        pl_log(PL_LOG_WARN, "media", "gc failed err=%s", pl_strerror(g->rc < 0 ? g->rc : PL_EIO));
    else if (g->res.rows > 0)
        pl_log(PL_LOG_INFO, "media", "gc deleted rows=%zu blobs=%zu ms=%" PRIu64, g->res.rows,
               g->res.nblobs, uv_now(m->loop) - g->t0);
    bool more = g->rc == 0 && g->res.rows == GC_BATCH;
    free(g->res.blobs);
    free(g);
    if (more && !m->stopped) /* a full batch: there may be more right away */
        uv_timer_start(&m->gc_timer, m->gc_timer.timer_cb, 0,
                       (uint64_t)m->cfg->media_gc_interval_ms);
}

static void on_gc_timer(uv_timer_t *t)
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

void pl_media_stats_json(const pl_media_t *m, json_t *o)
{
    pl_media_queue_stats_t q = {0};
    if (m->dq)
        pl_media_queue_get_stats(m->dq, &q);
    json_object_set_new(o, "media_decodes_queued", json_integer((json_int_t)q.queued));
    json_object_set_new(o, "media_decodes_running", json_integer((json_int_t)q.running));
    json_object_set_new(o, "media_decodes_done", json_integer((json_int_t)q.done));
    json_object_set_new(o, "media_decodes_refused", json_integer((json_int_t)q.refused));
    json_object_set_new(o, "media_thumbs_over_budget",
                        json_integer((json_int_t)m->thumbs_over_budget));
}

/* ---- lifecycle ---- */

int pl_media_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_media_t **out)
{
    pl_media_t *m = pl_xcalloc(1, sizeof *m);
    m->loop = loop;
    m->cfg = cfg;
    m->st = st;
    int rc = pl_media_store_local_new(cfg->data_dir, &m->ms);
    if (rc < 0) {
        free(m);
        return rc;
    }
    uv_mutex_init(&m->magic_lock);
    m->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (m->magic && magic_load(m->magic, NULL) != 0) {
        pl_log(PL_LOG_WARN, "media", "op=magic_load err=%s", magic_error(m->magic));
        magic_close(m->magic);
        m->magic = NULL;
    }
    if (VIPS_INIT("parleyd") == 0) {
        m->vips_ok = true;
        /* Each decode runs on one decode thread (media_queue.c): no nested
         * pools, and no cache of opened images between unrelated requests. */
        vips_concurrency_set(1);
        vips_cache_set_max(0);
        rc = pl_media_queue_new(loop, (int)cfg->media_decode_threads,
                                (size_t)cfg->media_decode_queue_max, &m->dq);
        if (rc < 0) {
            pl_log(PL_LOG_WARN, "media", "op=decode_threads err=%s: no thumbnails",
                   pl_strerror(rc));
            vips_shutdown();
            m->vips_ok = false;
        }
    } else {
        pl_log(PL_LOG_WARN, "media", "op=vips_init err=%s", vips_error_buffer());
        vips_error_clear();
    }
    uv_timer_init(loop, &m->gc_timer);
    m->gc_timer.data = m;
    uv_timer_start(&m->gc_timer, on_gc_timer, (uint64_t)cfg->media_gc_interval_ms,
                   (uint64_t)cfg->media_gc_interval_ms);
    uv_unref((uv_handle_t *)&m->gc_timer);
    *out = m;
    return 0;
}

void pl_media_stop(pl_media_t *m)
{
    if (!m)
        return;
    m->stopped = true;
    uv_timer_stop(&m->gc_timer);
}

void pl_media_free(pl_media_t *m)
{
    if (!m)
        return;
    /* Called after uv_run returned: close the timer and the decode queue's
     * handle and let the loop run their close callbacks, so uv_loop_close
     * finds no open handle. That run also runs any timer that is due, so it
     * comes at once; the decode threads are joined after it. */
    pl_media_queue_close(m->dq);
    uv_close((uv_handle_t *)&m->gc_timer, NULL);
    uv_run(m->loop, UV_RUN_NOWAIT);
    pl_media_queue_free(m->dq);
    if (m->magic)
        magic_close(m->magic);
    uv_mutex_destroy(&m->magic_lock);
    m->ms->ops->free(m->ms);
    if (m->vips_ok)
        vips_shutdown();
    free(m);
}
