/* SPDX-License-Identifier: MIT */
/* media.c -- the media service: pure helpers, garbage collection of
 * unreferenced blobs, lifecycle. Uploads: media_upload.c; downloads:
 * media_download.c; sniffing and thumbnails: media_image.c. */
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

/* ---- pure helpers ---- */

void pl_media_query_name(const char *q, char *out, size_t cap)
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

size_t pl_media_disposition_name(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *s = name ? name : ""; *s && n + 1 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        /* RFC 6266 quoted-string, and nothing a header could split on. */
        out[n++] =
            (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != ';') ? (char)ch : '_';
    }
    out[n] = '\0';
    return n;
}

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
    if (!strncmp(mime, "application/", 12) &&
        strspn(mime, "abcdefghijklmnopqrstuvwxyz0123456789/.+-") == strlen(mime))
        return mime;
    return "application/octet-stream";
}

void pl_media__store_error(const pl_media_t *m, int rc, int *status, const char **code,
                           const char **msg)
{
    if (rc == PL_ENOTFOUND) {
        *status = 404;
        *code = "not_found";
        *msg = "no such media";
    } else if (m->ms->remote) {
        *status = 503;
        *code = "storage_unavailable";
        *msg = "the media storage is unavailable; try again later";
    } else if (rc == UV_ENOSPC) {
        *status = 507;
        *code = "insufficient_storage";
        *msg = "the server's disk is full";
    } else {
        *status = 500;
        *code = "internal";
        *msg = "storage error; try again";
    }
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
    int rc;
    if (!strcmp(cfg->media_store, "s3"))
        rc = pl_media_store_s3_new(cfg->data_dir, cfg->s3_endpoint, cfg->s3_bucket, cfg->s3_region,
                                   cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_path_style,
                                   (uint64_t)cfg->s3_part_size, (long)cfg->s3_timeout_ms,
                                   (int)cfg->s3_retries, (uint64_t)cfg->s3_cache_bytes, &m->ms);
    else
        rc = pl_media_store_local_new(cfg->data_dir, &m->ms);
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
    uv_timer_start(&m->gc_timer, pl_media__gc_timer, (uint64_t)cfg->media_gc_interval_ms,
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
