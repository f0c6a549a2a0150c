/* SPDX-License-Identifier: MIT */
/* media_image.c -- sniffing (libmagic) on the thread pool, image
 * size, thumbnails and variants (libvips) on the decode threads. */
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

/* ---- processing: sniffing on the thread pool, decoding on the decode queue ---- */

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
void pl_media__decode_thread_release(void)
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
int pl_media__make_variant(pl_media_t *m, const char *path, const char *mime, const char *tmp,
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
void pl_media__proc_work(uv_work_t *w)
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
void pl_media__thumb_work(pl_media_job_t *job)
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
    pl_media__decode_thread_release();
}
