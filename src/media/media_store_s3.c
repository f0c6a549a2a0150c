/* SPDX-License-Identifier: MIT */
/* media_store_s3.c -- the S3-compatible media backend (see media_store.h):
 * libcurl easy handles on the libuv thread pool, every request signed by
 * libcurl's own SigV4 (CURLOPT_AWS_SIGV4; no signer of ours). */
#include "media/media_store.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "media/media_s3_xml.h"

#define IDLE_MAX 8         /* easy handles kept for reuse (their connections with them) */
#define XML_MAX (1u << 20) /* an S3 XML answer we read; more is refused */
#define MAX_PARTS 10000    /* S3's limit of parts per multipart upload */

typedef struct {
    pl_media_store_t base;
    char root[1024]; /* data_dir/media: tmp/ (uploads in progress) and cache/ */
    int pid;
    char *base_url; /* scheme://host[:port]/bucket (path style) or scheme://bucket.host[:port] */
    char *bucket;
    char *access_key, *secret_key; /* never logged */
    char sigv4[160];               /* "aws:amz:<region>:s3" */
    uint64_t part_size;
    long timeout_ms;
    int retries;
    uint64_t cache_max;
    uv_mutex_t lock; /* idle handles */
    CURL *idle[IDLE_MAX];
    int nidle;
    uv_mutex_t cache_lock; /* trimming the cache */
} s3_t;

/* One request. The body comes from memory (body/body_len) or from a file
 * (fd at foff, body_len bytes); the answer goes into a fixed buffer (out),
 * a growable one (xml) or a file (out_fd). */
typedef struct {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* object key, NULL for the bucket itself */
    const char *query;  /* canonical (sorted, encoded, "k=v") or NULL */
    const char *range;  /* "a-b" or NULL */
    const char *body;
    int fd;
    uint64_t foff, body_len, sent;
    bool has_body;
    char *out;
    size_t out_cap, out_len;
    pl_buf_t *xml;
    int out_fd;
    uint64_t out_off;
    bool write_failed;
    /* results */
    long status;
    char etag[128];
    uint64_t length; /* Content-Length of the answer */
} req_t;

static bool sha_ok(const char *sha)
{
    if (strlen(sha) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f')))
            return false;
    return true;
}

/* media/<sha>[.<variant>]: only hex and [a-z0-9], nothing to URL-encode. */
static int object_key(const char *sha, const char *variant, char *out, size_t cap)
{
    if (!sha_ok(sha) ||
        (variant && strspn(variant, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(variant)))
        return PL_EINVAL;
    int n = snprintf(out, cap, "media/%s%s%s", sha, variant ? "." : "", variant ? variant : "");
    return n < 0 || (size_t)n >= cap ? PL_ETOOBIG : 0;
}

/* ---- easy handles ---- */

static CURL *handle_get(s3_t *s)
{
    CURL *c = NULL;
    uv_mutex_lock(&s->lock);
    if (s->nidle > 0)
        c = s->idle[--s->nidle];
    uv_mutex_unlock(&s->lock);
    if (!c)
        c = curl_easy_init();
    else
        curl_easy_reset(c); /* keeps the connection cache */
    return c;
}

static void handle_put(s3_t *s, CURL *c)
{
    uv_mutex_lock(&s->lock);
    if (s->nidle < IDLE_MAX) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }
    uv_mutex_unlock(&s->lock);
    if (c)
        curl_easy_cleanup(c);
}

/* ---- one request ---- */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    req_t *r = ud;
    size_t want = size * nitems;
    uint64_t left = r->body_len - r->sent;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (r->body) {
        memcpy(buf, r->body + r->sent, want);
    } else {
        ssize_t k;
        do
            k = pread(r->fd, buf, want, (off_t)(r->foff + r->sent));
        while (k < 0 && errno == EINTR);
        if (k <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)k;
    }
    r->sent += want;
    return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    /* curl rewinds the body to resend it (a redirect, an auth retry). */
    req_t *r = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->sent = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    req_t *r = ud;
    size_t n = size * nmemb;
    if (r->out) {
        if (n > r->out_cap - r->out_len) {
            r->write_failed = true;
            return 0;
        }
        memcpy(r->out + r->out_len, data, n);
        r->out_len += n;
        return n;
    }
    if (r->out_fd >= 0) {
        size_t done = 0;
        while (done < n) {
            ssize_t k = pwrite(r->out_fd, data + done, n - done, (off_t)(r->out_off + done));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                r->write_failed = true;
                return 0;
            }
            done += (size_t)k;
        }
        r->out_off += n;
        return n;
    }
    if (r->xml) {
        if (r->xml->len + n > XML_MAX) {
            r->write_failed = true;
            return 0;
        }
        pl_buf_append(r->xml, data, n);
    }
    return n; /* nobody wants it: dropped */
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    req_t *r = ud;
    size_t n = size * nitems;
    if (n > 5 && !strncasecmp(line, "etag:", 5)) {
        const char *v = line + 5;
        while (*v == ' ' && v < line + n)
            v++;
        size_t vl = (size_t)(line + n - v);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof r->etag) {
            memcpy(r->etag, v, vl);
            r->etag[vl] = '\0';
        }
    }
    return n;
}

/* Whether a failed attempt may be tried again: a transport failure or a
 * 5xx (S3's 500 InternalError and 503 SlowDown ask for exactly that). */
static bool retryable(CURLcode cc, long status)
{
    if (cc != CURLE_OK)
        return cc != CURLE_WRITE_ERROR && cc != CURLE_ABORTED_BY_CALLBACK && cc != CURLE_READ_ERROR;
    return status >= 500;
}

/* Runs r once per attempt, up to 1 + retries times when idempotent, with a
 * 100 ms x 4^n pause between attempts (pool thread: sleeping only holds
 * this job). Returns 0 when an answer arrived (r->status says which), or
 * PL_EIO when none did. Logs failures without the credentials. */
static int request(s3_t *s, req_t *r, bool idempotent)
{
    char url[1400];
    int n = snprintf(url, sizeof url, "%s/%s%s%s", s->base_url, r->key ? r->key : "",
                     r->query ? "?" : "", r->query ? r->query : "");
    if (n < 0 || (size_t)n >= sizeof url)
        return PL_ETOOBIG;
    int attempts = idempotent ? 1 + s->retries : 1;
    CURLcode cc = CURLE_OK;
    char errbuf[CURL_ERROR_SIZE];
    for (int a = 0; a < attempts; a++) {
        if (a > 0) {
            struct timespec ts = {0, 100L * 1000 * 1000};
            for (int k = 1; k < a; k++)
                ts.tv_nsec *= 4;
            ts.tv_sec = ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            nanosleep(&ts, NULL);
        }
        CURL *c = handle_get(s);
        if (!c)
            return PL_ENOMEM;
        r->sent = 0;
        r->out_len = 0;
        r->status = 0;
        r->etag[0] = '\0';
        r->write_failed = false;
        if (r->xml)
            pl_buf_reset(r->xml, 0);
        if (r->out_fd >= 0) {
            r->out_off = 0;
            if (ftruncate(r->out_fd, 0) != 0)
                return uv_translate_sys_error(errno);
        }
        errbuf[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        /* One kept-alive connection per idle handle: at most IDLE_MAX open
         * to S3 between requests. */
        curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         s->timeout_ms < 5000 ? s->timeout_ms : 5000L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        struct curl_slist *hdrs = NULL;
        /* No "Expect: 100-continue" round trip before each part. */
        hdrs = curl_slist_append(hdrs, "Expect:");
        /* S3 requires the payload hash header; libcurl signs it with the
         * value given. The body is streamed, so it is not hashed ahead
         * (integrity on the wire: use an https endpoint). */
        hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        if (!strcmp(r->method, "HEAD")) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(r->method, "PUT") || (!strcmp(r->method, "POST") && r->has_body)) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, r);
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
            if (!strcmp(r->method, "POST"))
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
        } else if (!strcmp(r->method, "POST")) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        } else if (strcmp(r->method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
        }
        if (r->range)
            curl_easy_setopt(c, CURLOPT_RANGE, r->range);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        cc = curl_easy_perform(c);
        curl_off_t cl = -1;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
            curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            r->length = cl >= 0 ? (uint64_t)cl : 0;
        }
        curl_slist_free_all(hdrs);
        handle_put(s, c);
        if (!retryable(cc, r->status))
            break;
        pl_log(PL_LOG_WARN, "media", "op=s3 method=%s key=%.24s status=%ld attempt=%d/%d err=%s",
               r->method, r->key ? r->key : "-", r->status, a + 1, attempts,
               cc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(cc)) : "server error");
    }
    if (cc != CURLE_OK) {
        if (r->write_failed || cc == CURLE_WRITE_ERROR)
            return PL_ETOOBIG;
        return PL_EIO;
    }
    return 0;
}

/* Logs an answer that is neither 2xx nor 404 with S3's error code, and maps
 * it: 404 => PL_ENOTFOUND, everything else => PL_EIO (storage unavailable:
 * the client is not at fault, whatever S3 says). */
static int answer_rc(req_t *r, pl_buf_t *xml)
{
    if (r->status >= 200 && r->status < 300)
        return 0;
    if (r->status == 404)
        return PL_ENOTFOUND;
    char code[64] = "-";
    if (xml && xml->len)
        (void)pl_s3_xml_text(pl_buf_head(xml), xml->len, "Code", code, sizeof code);
    pl_log(PL_LOG_WARN, "media", "op=s3 method=%s key=%.24s status=%ld code=%s", r->method,
           r->key ? r->key : "-", r->status, code);
    return r->status == 403 ? PL_EFORBIDDEN : PL_EIO;
}

static int simple(s3_t *s, const char *method, const char *key, const char *query, req_t *out)
{
    pl_buf_t xml;
    pl_buf_init(&xml);
    req_t r = {.method = method, .key = key, .query = query, .fd = -1, .out_fd = -1, .xml = &xml};
    int rc = request(s, &r, strcmp(method, "POST") != 0);
    if (rc == 0)
        rc = answer_rc(&r, &xml);
    if (out)
        *out = r;
    pl_buf_dispose(&xml);
    return rc;
}

/* ---- the cache of local copies (thumbnails read images from a file) ---- */

static int cache_path(s3_t *s, const char *key, char *out, size_t cap)
{
    /* key is media/<sha>[.<variant>]: flatten it into cache/<sha>[.<variant>] */
    int n = snprintf(out, cap, "%s/cache/%s", s->root, key + 6);
    return n < 0 || (size_t)n >= cap ? PL_ETOOBIG : 0;
}

typedef struct {
    char name[96];
    time_t mtime;
    uint64_t size;
} centry_t;

static int by_age(const void *a, const void *b)
{
    const centry_t *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* Drops the oldest copies until the cache holds at most cache_max bytes,
 * keeping `keep` (the file just added, about to be read). A copy removed
 * while someone opens it costs that one thumbnail; open files stay
 * readable. */
static void cache_trim(s3_t *s, const char *keep)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/cache", s->root);
    uv_mutex_lock(&s->cache_lock);
    DIR *d = opendir(dir);
    centry_t *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof v->name)
            continue;
        char p[1400]; /* dir (1100) + '/' + a name (256) */
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            v = pl_xrealloc(v, cap * sizeof *v);
        }
        memcpy(v[n].name, e->d_name, strlen(e->d_name) + 1); /* fits: checked above */
        v[n].mtime = st.st_mtime;
        v[n].size = (uint64_t)st.st_size;
        total += v[n].size;
        n++;
    }
    if (d)
        closedir(d);
    qsort(v, n, sizeof *v, by_age);
    const char *kb = strrchr(keep, '/');
    kb = kb ? kb + 1 : keep;
    for (size_t i = 0; i < n && total > s->cache_max; i++) {
        if (!strcmp(v[i].name, kb) || strchr(v[i].name, '~'))
            continue; /* the new copy; downloads in progress */
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, v[i].name);
        if (unlink(p) == 0)
            total -= v[i].size;
    }
    uv_mutex_unlock(&s->cache_lock);
    free(v);
}

/* ---- operations ---- */

static int s3_tmp_path(pl_media_store_t *ms, uint64_t seq, char *out, size_t cap)
{
    s3_t *s = (s3_t *)ms;
    int n = snprintf(out, cap, "%s/tmp/%d-%" PRIu64, s->root, s->pid, seq);
    return n < 0 || (size_t)n >= cap ? PL_ETOOBIG : 0;
}

static int s3_head(pl_media_store_t *ms, const char *sha, const char *variant, uint64_t *size)
{
    s3_t *s = (s3_t *)ms;
    char key[128];
    int rc = object_key(sha, variant, key, sizeof key);
    if (rc < 0)
        return rc;
    req_t r;
    rc = simple(s, "HEAD", key, NULL, &r);
    if (rc == 0)
        *size = r.length;
    return rc == PL_EFORBIDDEN ? PL_EIO : rc;
}

static int put_single(s3_t *s, const char *key, int fd, uint64_t size)
{
    pl_buf_t xml;
    pl_buf_init(&xml);
    req_t r = {.method = "PUT",
               .key = key,
               .fd = fd,
               .body_len = size,
               .has_body = true,
               .out_fd = -1,
               .xml = &xml};
    int rc = request(s, &r, true);
    if (rc == 0)
        rc = answer_rc(&r, &xml);
    pl_buf_dispose(&xml);
    return rc;
}

/* CreateMultipartUpload, UploadPart x N (part_size each, from the file),
 * CompleteMultipartUpload; AbortMultipartUpload when any step fails, so no
 * parts are left billed and no partial object ever becomes visible (S3
 * shows a multipart object only once it is completed). */
static int put_multipart(s3_t *s, const char *key, int fd, uint64_t size)
{
    pl_buf_t xml;
    pl_buf_init(&xml);
    /* AWS upload ids are about 100-200 characters; encoded at most 3x. */
    char upload_id[256], query[64 + 3 * 256];
    uint64_t nparts = (size + s->part_size - 1) / s->part_size;
    char **etags = NULL;
    int rc;
    if (nparts > MAX_PARTS) {
        pl_log(PL_LOG_WARN, "media",
               "op=s3_multipart key=%.24s size=%" PRIu64 " err=too many parts", key, size);
        return PL_ETOOBIG;
    }
    req_t r = {
        .method = "POST", .key = key, .query = "uploads=", .fd = -1, .out_fd = -1, .xml = &xml};
    rc = request(s, &r, false);
    if (rc == 0)
        rc = answer_rc(&r, &xml);
    if (rc == 0 &&
        pl_s3_xml_text(pl_buf_head(&xml), xml.len, "UploadId", upload_id, sizeof upload_id) < 0)
        rc = PL_EIO;
    if (rc < 0)
        goto out;
    /* Upload ids are opaque: percent-encode all but unreserved characters. */
    char enc[sizeof upload_id * 3];
    char *e = enc;
    for (const char *p = upload_id; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            *e++ = (char)ch;
        else
            e += sprintf(e, "%%%02X", ch);
    }
    *e = '\0';
    etags = pl_xcalloc(nparts, sizeof *etags);
    for (uint64_t i = 0; i < nparts && rc == 0; i++) {
        uint64_t off = i * s->part_size;
        uint64_t len = size - off < s->part_size ? size - off : s->part_size;
        /* SigV4 wants the query in canonical order: partNumber < uploadId. */
        snprintf(query, sizeof query, "partNumber=%" PRIu64 "&uploadId=%s", i + 1, enc);
        req_t p = {.method = "PUT",
                   .key = key,
                   .query = query,
                   .fd = fd,
                   .foff = off,
                   .body_len = len,
                   .has_body = true,
                   .out_fd = -1,
                   .xml = &xml};
        rc = request(s, &p, true);
        if (rc == 0)
            rc = answer_rc(&p, &xml);
        if (rc == 0 && !p.etag[0])
            rc = PL_EIO;
        if (rc == 0)
            etags[i] = pl_xstrdup(p.etag);
    }
    snprintf(query, sizeof query, "uploadId=%s", enc);
    if (rc == 0) {
        pl_buf_t body;
        pl_buf_init(&body);
        pl_s3_xml_complete(&body, (const char *const *)etags, (size_t)nparts);
        req_t c = {.method = "POST",
                   .key = key,
                   .query = query,
                   .body = pl_buf_head(&body),
                   .body_len = body.len,
                   .has_body = true,
                   .fd = -1,
                   .out_fd = -1,
                   .xml = &xml};
        rc = request(s, &c, false);
        if (rc == 0)
            rc = answer_rc(&c, &xml);
        /* A 200 may still carry an <Error> (the server failed while
         * assembling): the object is not there. */
        if (rc == 0 && pl_s3_xml_is_error(pl_buf_head(&xml), xml.len)) {
            pl_log(PL_LOG_WARN, "media", "op=s3_complete key=%.24s err=error in a 200 answer", key);
            rc = PL_EIO;
        }
        pl_buf_dispose(&body);
    }
    if (rc < 0) {
        int arc = simple(s, "DELETE", key, query, NULL);
        pl_log(PL_LOG_WARN, "media", "op=s3_multipart key=%.24s size=%" PRIu64 " err=%s abort=%s",
               key, size, pl_strerror(rc), arc == 0 ? "ok" : pl_strerror(arc));
    }
out:
    for (uint64_t i = 0; etags && i < nparts; i++)
        free(etags[i]);
    free(etags);
    pl_buf_dispose(&xml);
    return rc;
}

static int s3_commit(pl_media_store_t *ms, const char *tmp, const char *sha, const char *variant,
                     bool *existed)
{
    s3_t *s = (s3_t *)ms;
    char key[128], cpath[1200];
    int rc = object_key(sha, variant, key, sizeof key);
    if (rc == 0)
        rc = cache_path(s, key, cpath, sizeof cpath);
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    uint64_t have = 0;
    rc = s3_head(ms, sha, variant, &have);
    if (rc == 0) {
        /* Same bytes (same sha256) are already stored: keep one copy. */
        unlink(tmp);
        *existed = true;
        return 0;
    }
    if (rc != PL_ENOTFOUND) {
        unlink(tmp);
        return rc;
    }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = uv_translate_sys_error(errno);
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size;
    rc = size <= s->part_size ? put_single(s, key, fd, size) : put_multipart(s, key, fd, size);
    close(fd);
    if (rc < 0) {
        unlink(tmp);
        return rc == PL_EFORBIDDEN || rc == PL_ENOTFOUND ? PL_EIO : rc;
    }
    /* The upload is about to be sniffed and thumbnailed: keep it as the
     * cached copy instead of downloading it again. */
    if (s->cache_max > 0 && rename(tmp, cpath) == 0)
        cache_trim(s, cpath);
    else
        unlink(tmp);
    *existed = false;
    return 0;
}

static int s3_local_path(pl_media_store_t *ms, const char *sha, const char *variant, char *out,
                         size_t cap)
{
    s3_t *s = (s3_t *)ms;
    char key[128], part[1300];
    int rc = object_key(sha, variant, key, sizeof key);
    if (rc == 0)
        rc = cache_path(s, key, out, cap);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(out, &st) == 0)
        return 0;
    /* Not cached: download into a private name, then rename (atomic), so a
     * concurrent reader never sees half a file. */
    static _Atomic unsigned long dl_seq;
    snprintf(part, sizeof part, "%s~%lu", out, ++dl_seq);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    pl_buf_t xml;
    pl_buf_init(&xml);
    req_t r = {.method = "GET", .key = key, .fd = -1, .out_fd = fd};
    rc = request(s, &r, true);
    close(fd);
    if (rc == 0 && !(r.status >= 200 && r.status < 300))
        rc = answer_rc(&r, NULL);
    if (rc == 0 && rename(part, out) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc < 0)
        unlink(part);
    else
        cache_trim(s, out);
    pl_buf_dispose(&xml);
    return rc == PL_EFORBIDDEN ? PL_EIO : rc;
}

static int s3_read(pl_media_store_t *ms, const char *sha, const char *variant, uint64_t off,
                   char *buf, size_t len, size_t *got)
{
    s3_t *s = (s3_t *)ms;
    char key[128], range[64];
    int rc = object_key(sha, variant, key, sizeof key);
    if (rc < 0)
        return rc;
    if (len == 0) {
        *got = 0;
        return 0;
    }
    snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, off, off + len - 1);
    req_t r = {.method = "GET",
               .key = key,
               .range = range,
               .fd = -1,
               .out_fd = -1,
               .out = buf,
               .out_cap = len};
    rc = request(s, &r, true);
    if (rc == 0 && r.status != 206 && !(r.status == 200 && off == 0)) {
        /* The error body went into buf; it is no object data. */
        pl_buf_t xml;
        pl_buf_init(&xml);
        pl_buf_append(&xml, buf, r.out_len);
        rc = answer_rc(&r, &xml);
        pl_buf_dispose(&xml);
        if (rc == 0)
            rc = PL_EIO;
    }
    if (rc < 0)
        return rc == PL_EFORBIDDEN ? PL_EIO : rc;
    *got = r.out_len;
    return 0;
}

static int s3_remove(pl_media_store_t *ms, const char *sha, const char *variant)
{
    s3_t *s = (s3_t *)ms;
    char key[128], cpath[1200];
    int rc = object_key(sha, variant, key, sizeof key);
    if (rc < 0)
        return rc;
    if (cache_path(s, key, cpath, sizeof cpath) == 0)
        unlink(cpath);
    rc = simple(s, "DELETE", key, NULL, NULL);
    return rc == PL_ENOTFOUND ? 0 : rc; /* S3 answers 204 for a missing key anyway */
}

static void s3_free(pl_media_store_t *ms)
{
    s3_t *s = (s3_t *)ms;
    for (int i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    uv_mutex_destroy(&s->lock);
    uv_mutex_destroy(&s->cache_lock);
    if (s->secret_key)
        memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->base_url);
    free(s->bucket);
    free(s->access_key);
    free(s->secret_key);
    free(s);
    curl_global_cleanup();
}

static const pl_media_store_ops_t s3_ops = {
    .tmp_path = s3_tmp_path,
    .commit = s3_commit,
    .local_path = s3_local_path,
    .head = s3_head,
    .read = s3_read,
    .remove = s3_remove,
    .free = s3_free,
};

/* ---- setup ---- */

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

static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

/* scheme://host[:port][/] -> base URL with the bucket in the path or in
 * the host name. */
static char *make_base(const char *endpoint, const char *bucket, bool path_style)
{
    size_t el = strlen(endpoint);
    while (el > 0 && endpoint[el - 1] == '/')
        el--;
    pl_buf_t b;
    pl_buf_init(&b);
    if (path_style) {
        pl_buf_printf(&b, "%.*s/%s", (int)el, endpoint, bucket);
    } else {
        const char *host = strstr(endpoint, "://");
        host = host ? host + 3 : endpoint;
        pl_buf_printf(&b, "%.*s%s.%.*s", (int)(host - endpoint), endpoint, bucket,
                      (int)(el - (size_t)(host - endpoint)), host);
    }
    char *out = pl_xstrndup(pl_buf_head(&b), b.len);
    pl_buf_dispose(&b);
    return out;
}

int pl_media_store_s3_new(const char *data_dir, const char *endpoint, const char *bucket,
                          const char *region, const char *access_key, const char *secret_key,
                          bool path_style, uint64_t part_size, long timeout_ms, int retries,
                          uint64_t cache_bytes, pl_media_store_t **out)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return PL_EIO;
    s3_t *s = pl_xcalloc(1, sizeof *s);
    s->base.ops = &s3_ops;
    s->base.remote = true;
    s->pid = (int)getpid();
    s->base_url = make_base(endpoint, bucket, path_style);
    s->bucket = pl_xstrdup(bucket);
    s->access_key = pl_xstrdup(access_key);
    s->secret_key = pl_xstrdup(secret_key);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
    s->part_size = part_size;
    s->timeout_ms = timeout_ms;
    s->retries = retries;
    s->cache_max = cache_bytes;
    uv_mutex_init(&s->lock);
    uv_mutex_init(&s->cache_lock);
    char dir[1100];
    int n = snprintf(s->root, sizeof s->root, "%s/media", data_dir);
    int rc = n < 0 || (size_t)n >= sizeof s->root - 64 ? PL_ETOOBIG : 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        snprintf(dir, sizeof dir, "%s/%s", s->root, i ? "cache" : "tmp");
        rc = mkdir_p(dir);
        /* Leftovers of a crash (tmp) and copies that may be stale (cache:
         * the bucket may have changed while we were down). */
        empty_dir(dir);
    }
    if (rc < 0) {
        pl_log(PL_LOG_ERROR, "media", "op=init dir=%s err=%s", s->root, pl_strerror(rc));
        s3_free(&s->base);
        return rc;
    }
    /* Probe the bucket: wrong credentials or a missing bucket are
     * configuration errors, reported now rather than on the first upload.
     * A one-key ListObjects needs the same permission as HeadBucket
     * (s3:ListBucket), but unlike a HEAD its error has a body, whose Code
     * (SignatureDoesNotMatch, InvalidAccessKeyId, ...) goes to the log. */
    req_t r;
    rc = simple(s, "GET", NULL, "max-keys=1", &r);
    if (rc == PL_EFORBIDDEN || rc == PL_ENOTFOUND || (rc == 0 && r.status != 200)) {
        pl_log(PL_LOG_ERROR, "media", "op=s3_probe bucket=%s status=%ld err=%s", bucket, r.status,
               rc == PL_ENOTFOUND ? "no such bucket"
                                  : "credentials refused (s3_access_key / s3_secret_key)");
        s3_free(&s->base);
        return rc < 0 ? rc : PL_EFORBIDDEN;
    }
    if (rc < 0)
        pl_log(PL_LOG_WARN, "media",
               "op=s3_probe bucket=%s err=%s: unreachable, media answers 503 until it is back",
               bucket, pl_strerror(rc));
    else
        pl_log(PL_LOG_INFO, "media", "store=s3 bucket=%s path_style=%d part_size=%" PRIu64, bucket,
               (int)path_style, part_size);
    *out = &s->base;
    return 0;
}
