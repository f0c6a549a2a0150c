/* SPDX-License-Identifier: MIT */
/* media_store_local.c -- the local-disk media backend (see media_store.h). */
#include "media/media_store.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

typedef struct {
    pl_media_store_t base;
    char root[1024]; /* data_dir/media */
    int pid;         /* keeps tmp names unique across restarts on one dir */
} local_t;

static bool sha_ok(const char *sha)
{
    if (strlen(sha) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f')))
            return false;
    return true;
}

static int blob_path(local_t *l, const char *sha, const char *variant, char *out, size_t cap)
{
    /* Variants come from code, never from a client; sha256 from our hash. */
    if (!sha_ok(sha) ||
        (variant && strspn(variant, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(variant)))
        return PL_EINVAL;
    int n = snprintf(out, cap, "%s/%.2s/%s%s%s", l->root, sha, sha + 2, variant ? "." : "",
                     variant ? variant : "");
    return n < 0 || (size_t)n >= cap ? PL_ETOOBIG : 0;
}

static int local_tmp_path(pl_media_store_t *ms, uint64_t seq, char *out, size_t cap)
{
    local_t *l = (local_t *)ms;
    int n = snprintf(out, cap, "%s/tmp/%d-%" PRIu64, l->root, l->pid, seq);
    return n < 0 || (size_t)n >= cap ? PL_ETOOBIG : 0;
}

static int local_commit(pl_media_store_t *ms, const char *tmp, const char *sha, const char *variant,
                        bool *existed)
{
    local_t *l = (local_t *)ms;
    char path[1200], dir[1100];
    int rc = blob_path(l, sha, variant, path, sizeof path);
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    snprintf(dir, sizeof dir, "%s/%.2s", l->root, sha);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = uv_translate_sys_error(errno);
        unlink(tmp);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        /* Same bytes (same sha256) are already stored: keep one copy. */
        unlink(tmp);
        *existed = true;
        return 0;
    }
    /* rename() is atomic: a concurrent upload of the same content at worst
     * replaces the blob with identical bytes. */
    if (rename(tmp, path) != 0) {
        rc = uv_translate_sys_error(errno);
        unlink(tmp);
        return rc;
    }
    *existed = false;
    return 0;
}

static int local_path(pl_media_store_t *ms, const char *sha, const char *variant, char *out,
                      size_t cap)
{
    return blob_path((local_t *)ms, sha, variant, out, cap);
}

static int local_remove(pl_media_store_t *ms, const char *sha, const char *variant)
{
    local_t *l = (local_t *)ms;
    char path[1200];
    int rc = blob_path(l, sha, variant, path, sizeof path);
    if (rc < 0)
        return rc;
    if (unlink(path) != 0)
        return errno == ENOENT ? 0 : uv_translate_sys_error(errno);
    return 0;
}

static int local_head(pl_media_store_t *ms, const char *sha, const char *variant, uint64_t *size)
{
    local_t *l = (local_t *)ms;
    char path[1200];
    int rc = blob_path(l, sha, variant, path, sizeof path);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? PL_ENOTFOUND : uv_translate_sys_error(errno);
    *size = (uint64_t)st.st_size;
    return 0;
}

static void local_free(pl_media_store_t *ms)
{
    free(ms);
}

static const pl_media_store_ops_t local_ops = {
    .tmp_path = local_tmp_path,
    .commit = local_commit,
    .local_path = local_path,
    .head = local_head,
    .read = NULL, /* downloads open local_path themselves */
    .remove = local_remove,
    .free = local_free,
};

static int mkdir_p(const char *path)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return uv_translate_sys_error(errno);
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return uv_translate_sys_error(errno);
    return 0;
}

int pl_media_store_local_new(const char *data_dir, pl_media_store_t **out)
{
    local_t *l = pl_xcalloc(1, sizeof *l);
    l->base.ops = &local_ops;
    l->pid = (int)getpid();
    char tmpdir[1100];
    int n = snprintf(l->root, sizeof l->root, "%s/media", data_dir);
    int rc = n < 0 || (size_t)n >= sizeof l->root - 64 ? PL_ETOOBIG : 0;
    if (rc == 0) {
        snprintf(tmpdir, sizeof tmpdir, "%s/tmp", l->root);
        rc = mkdir_p(tmpdir);
    }
    if (rc < 0) {
        pl_log(PL_LOG_ERROR, "media", "op=init dir=%s err=%s", l->root, pl_strerror(rc));
        free(l);
        return rc;
    }
    /* Uploads that were in progress when the server died are garbage. */
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[1400];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    *out = &l->base;
    return 0;
}
