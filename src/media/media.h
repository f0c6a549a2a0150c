/* SPDX-License-Identifier: MIT */
/* media.h -- uploads (POST /v1/media, streamed to disk), type sniffing
 * (libmagic), image dimensions and thumbnails (libvips, on the libuv thread
 * pool), and downloads (GET /v1/media/{id}[/thumb]) with access control,
 * Range, ETag and safe content types. Loop thread unless stated. */
#ifndef PL_MEDIA_MEDIA_H
#define PL_MEDIA_MEDIA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "http/http.h"
#include "store/store.h"

typedef struct pl_media pl_media_t;

/** Creates the media service: the local-disk store under cfg->data_dir
 * (directories created, media/tmp emptied), libmagic's database, libvips.
 * Blocking: call at startup. Borrows loop, cfg, st. Returns 0 or a negative
 * code; *out only on success. */
int pl_media_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_media_t **out);

/** Frees the service after the server stopped (no request in flight). NULL-safe. */
void pl_media_free(pl_media_t *m);
/** The server is down and the store about to close: starts no more jobs of
 * its own (the garbage collector's timer stops). Idempotent; loop thread. */
void pl_media_stop(pl_media_t *m);

/** pl_http_headers_cb with ud = media: claims authenticated POST /v1/media. */
bool pl_media_on_headers(void *ud, pl_http_req_t *req, pl_http_stream_t *out);

/** Answers requests under /v1/media (buffered path: downloads, and uploads
 * that were not claimed, e.g. without a token). Returns false, touching
 * nothing, when the path is not a media path. */
bool pl_media_on_http(pl_media_t *m, pl_http_req_t *req);

/** The Content-Type to serve for a sniffed type, and whether it must be
 * served as an attachment. Active types a browser would render on our origin
 * (HTML, SVG, XML, JavaScript, ...) become application/octet-stream. Pure. */
const char *pl_media_served_type(const char *mime, bool *attachment);

/** The file name of an upload from its query string q (borrowed, may be
 * NULL): the value of name=, percent-decoded, '+' as space, only its last
 * path segment, no control characters, valid UTF-8, at most cap - 1 bytes;
 * "" when absent or unusable (a bad escape, "." or ".."). out holds cap
 * bytes (cap >= 1). Pure. */
void pl_media_query_name(const char *q, char *out, size_t cap);

/** The filename of a Content-Disposition header for a stored name (borrowed,
 * may be NULL): printable ASCII except '"', '\\' and ';', each other byte
 * (CR, LF and non-ASCII included) as '_', at most cap - 1 bytes. Returns the
 * length written to out (NUL-terminated; cap >= 1). Pure. */
size_t pl_media_disposition_name(const char *name, char *out, size_t cap);

/** Image types we read dimensions of and make thumbnails for. Pure. */
bool pl_media_is_image(const char *mime);

/** Estimated peak memory, in bytes, of decoding an image of the sniffed type
 * mime, w x h pixels of `bands` bands of `sample` bytes each (as its header
 * says), into a variant that fits in box x box (crop: fills it), the way
 * parleyd does it with libvips. Images costing more than
 * max_image_decode_bytes get no thumbnail. Pure; UINT64_MAX for nonsense. */
uint64_t pl_media_decode_cost(const char *mime, int64_t w, int64_t h, int bands, int sample,
                              int box, bool crop);

/* ---- garbage collection through the durable job queue (issue 13) ---- */

/** The job kind of a blob deletion; its ordering key is the blob's sha256
 * and its payload {"sha256": "<64 lowercase hex>"}. */
#define PL_MEDIA_GC_JOB "media_delete"

/** What to call (loop thread) after a collection committed deletion jobs:
 * the job runner's wake-up. Before the first collection; wake NULL: none
 * (the runner's poll finds them). */
void pl_media_set_gc_wake(pl_media_t *m, void (*wake)(void *ud), void *ud);

/** The handler of PL_MEDIA_GC_JOB jobs (the job runner's handler form, with
 * ud the pl_media_t): deletes the blob and its variants from the media
 * store (a missing one is no error, so a job run twice is harmless).
 * Returns 0; PL_EINVAL for a payload that names no blob (the job can never
 * succeed); another negative code to be retried (S3 unreachable). On
 * failure writes a short reason into err. Pool thread. */
int pl_media_gc_job_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err,
                        size_t errcap);

/** The sha256 a PL_MEDIA_GC_JOB payload names (n bytes at payload, from the
 * store: checked again) into out: 0, or PL_EINVAL unless it is a JSON object
 * whose "sha256" is 64 lowercase hex digits. Pure. */
int pl_media_gc_payload_sha(const char *payload, size_t n, char out[65]);

/** Adds the media counters (decode queue, thumbnails skipped) to a /v1/stats
 * object (borrowed). */
void pl_media_stats_json(const pl_media_t *m, json_t *o);

#endif
