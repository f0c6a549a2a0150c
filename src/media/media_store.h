/* SPDX-License-Identifier: MIT */
/* media_store.h -- where media bytes live: content-addressed blobs (one per
 * SHA-256) plus derived variants (thumbnails). Two backends: local disk
 * (media_store_local.c) and an S3-compatible object store
 * (media_store_s3.c, libcurl with SigV4).
 *
 * Thread: every operation may block (file system or network) and runs on the
 * libuv thread pool, except tmp_path, which only formats a name. A backend is
 * safe to call from several pool threads at once. */
#ifndef PL_MEDIA_MEDIA_STORE_H
#define PL_MEDIA_MEDIA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_media_store pl_media_store_t;

typedef struct {
    /** Writes into out (cap bytes) a fresh local path for an upload in
     * progress (data_dir/media/tmp/...). Never blocks. Returns 0 or PL_ETOOBIG. */
    int (*tmp_path)(pl_media_store_t *ms, uint64_t seq, char *out, size_t cap);
    /** Moves the finished local file tmp into the store as the blob sha256
     * (64 lowercase hex) or as its variant (NULL = the original, "thumb").
     * If that blob already exists, tmp is removed and *existed is true
     * (dedup). Returns 0 or a negative UV_E* / PL_E* code; tmp is removed in
     * every case. */
    int (*commit)(pl_media_store_t *ms, const char *tmp, const char *sha256, const char *variant,
                  bool *existed);
    /** Writes into out a local path from which the blob (or variant) can be
     * read. A remote backend would download into a cache first. */
    int (*local_path)(pl_media_store_t *ms, const char *sha256, const char *variant, char *out,
                      size_t cap);
    /** Whether the blob (or variant) exists; its size into *size. Returns 0,
     * PL_ENOTFOUND, or another negative code when the store cannot tell
     * (remote store unreachable: PL_EIO). */
    int (*head)(pl_media_store_t *ms, const char *sha256, const char *variant, uint64_t *size);
    /** Remote backends only (NULL for local disk, read through local_path):
     * reads len bytes at off of the blob (or variant) into buf; *got is the
     * count read (len unless the object is shorter). Returns 0,
     * PL_ENOTFOUND, or PL_EIO (store unreachable or refusing). */
    int (*read)(pl_media_store_t *ms, const char *sha256, const char *variant, uint64_t off,
                char *buf, size_t len, size_t *got);
    /** Deletes the blob sha256 (variant NULL) or one of its variants. A
     * missing one is not an error. Returns 0 or a negative code. */
    int (*remove)(pl_media_store_t *ms, const char *sha256, const char *variant);
    /** Frees the backend. Loop thread, after every job finished. */
    void (*free)(pl_media_store_t *ms);
} pl_media_store_ops_t;

struct pl_media_store {
    const pl_media_store_ops_t *ops;
    bool remote; /* every operation is a network round trip (S3): read is set,
                    errors other than PL_ENOTFOUND mean "storage unavailable" */
};

/** The local-disk backend rooted at data_dir/media: blobs at media/ab/cdef...
 * (the first two hex digits name the directory), variants next to them as
 * media/ab/cdef....<variant>, uploads in progress in media/tmp (emptied at
 * startup: leftovers of a crash). Creates the directories (blocking: call at
 * startup). Returns 0 or a negative code; *out only on success. */
int pl_media_store_local_new(const char *data_dir, pl_media_store_t **out);

/** The S3 backend: objects media/<sha256>[.<variant>] in cfg->s3_bucket at
 * cfg->s3_endpoint, signed with SigV4 by libcurl (CURLOPT_AWS_SIGV4). Uploads
 * in progress and a bounded cache of local copies (for thumbnailing) live
 * in data_dir/media/{tmp,cache}, both emptied here. Probes the bucket
 * (a one-key ListObjects): refused credentials or a missing bucket fail with
 * PL_EFORBIDDEN / PL_ENOTFOUND; an unreachable endpoint only logs a warning
 * (media answers 503 storage_unavailable until it is back). Blocking: call at
 * startup. Copies every string. Returns 0 or a negative
 * code; *out only on success. */
int pl_media_store_s3_new(const char *data_dir, const char *endpoint, const char *bucket,
                          const char *region, const char *access_key, const char *secret_key,
                          bool path_style, uint64_t part_size, long timeout_ms, int retries,
                          uint64_t cache_bytes, pl_media_store_t **out);

#endif
