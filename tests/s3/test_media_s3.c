/* SPDX-License-Identifier: MIT */
/* test_media_s3.c -- media on S3 (media_store s3) against a local
 * s3server.cjs (s3rver behind a SigV4 check): the multipart path, ranged
 * downloads, thumbnails, garbage collection deleting objects, S3 going away
 * mid-upload, refused credentials, objects missing from the bucket.
 * Run by tests/s3/run.sh (CTest label s3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static th_server_t srv;

/* ---- helpers ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct {
    int status;
    char head[4096];
    char *body;
    size_t len;
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

static void read_resp(int fd, resp_t *r)
{
    memset(r, 0, sizeof *r);
    size_t n = 0;
    while (n + 1 < sizeof r->head) {
        ssize_t k = recv(fd, r->head + n, 1, 0);
        if (k <= 0) {
            r->status = -1;
            r->body = calloc(1, 1);
            return;
        }
        n++;
        if (n >= 4 && !memcmp(r->head + n - 4, "\r\n\r\n", 4))
            break;
    }
    r->head[n] = '\0';
    sscanf(r->head, "HTTP/1.1 %d", &r->status);
    const char *cl = strcasestr(r->head, "\r\nContent-Length:");
    r->len = cl ? strtoul(cl + 17, NULL, 10) : 0;
    r->body = malloc(r->len + 1);
    size_t got = 0;
    while (got < r->len) {
        ssize_t k = recv(fd, r->body + got, r->len - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    r->body[got] = '\0';
    r->len = got;
}

/* POST /v1/media with the whole body; the answer into r. */
static void upload(const char *token, const void *data, size_t len, resp_t *r)
{
    int fd = th_connect(srv.port);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     token, len);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, data, len);
    read_resp(fd, r);
    close(fd);
}

static void get(const char *token, const char *path, const char *extra, resp_t *r)
{
    int fd = th_connect(srv.port);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%sConnection: "
                     "close\r\n\r\n",
                     path, token, extra ? extra : "");
    th_send_all(fd, head, (size_t)n);
    read_resp(fd, r);
    close(fd);
}

static json_t *jbody(const resp_t *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    if (!j)
        fail_msg("not JSON (status %d): %s", r->status, r->body);
    return j;
}

/* The error code of a JSON error answer, copied into out. */
static const char *err_code(const resp_t *r, char *out, size_t cap)
{
    json_t *j = jbody(r);
    snprintf(out, cap, "%s",
             json_string_value(json_object_get(json_object_get(j, "error"), "code")) ?: "");
    json_decref(j);
    return out;
}

static void new_user(const char *prefix, char *token)
{
    char name[40];
    th_register(srv.port, th_unique_name(prefix, name, sizeof name), "password123", token, NULL);
}

/* Deterministic pseudo-random bytes (incompressible, distinct per seed). */
static unsigned char *make_bytes(size_t n, uint32_t seed)
{
    unsigned char *p = malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* Uploads; asserts 201 and returns the id and sha256. */
static void upload_ok(const char *token, const void *data, size_t len, char *id, char *sha)
{
    resp_t r;
    upload(token, data, len, &r);
    if (r.status != 201)
        fail_msg("upload: %d %s", r.status, r.body);
    json_t *j = jbody(&r);
    snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(sha, 80, "%s", json_string_value(json_object_get(j, "sha256")));
    json_decref(j);
    resp_free(&r);
}

/* Lines of the S3 server's request log that contain every given piece. */
static int log_count(const char *a, const char *b)
{
    char path[400], line[2048];
    snprintf(path, sizeof path, "%s.log", srv.s3.dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
    if (f)
        fclose(f);
    return n;
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Lines of the file at path that hold needle. */
static int file_count(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static void start(const char *const *settings)
{
    if (!th_s3_mode())
        fail_msg("run through tests/s3/run.sh (PL_TEST_MEDIA_STORE=s3)");
    th_server_start(&srv, settings);
}

static void stop(void)
{
    th_server_stop(&srv);
    th_server_cleanup(&srv);
}

/* ---- a PNG (RGB, stored deflate blocks), for the thumbnail ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data, size_t n)
{
    be32(out, (uint32_t)n);
    memcpy(out + 4, type, 4);
    if (n)
        memcpy(out + 8, data, n);
    be32(out + 8 + n, crc32_of(out + 4, n + 4));
    return n + 12;
}

/* w x h, small enough for one stored block (w*3+1)*h <= 65535. */
static uint8_t *make_png(int w, int h, size_t *len)
{
    size_t raw_len = (size_t)h * (1 + 3 * (size_t)w), k = 0;
    uint8_t *raw = malloc(raw_len);
    for (int y = 0; y < h; y++) {
        raw[k++] = 0;
        for (int x = 0; x < w; x++)
            raw[k++] = (uint8_t)(x * 3), raw[k++] = (uint8_t)(y * 5), raw[k++] = (uint8_t)(x ^ y);
    }
    uint8_t *z = malloc(raw_len + 16);
    size_t zn = 0;
    z[zn++] = 0x78, z[zn++] = 0x01, z[zn++] = 1;
    z[zn++] = (uint8_t)raw_len, z[zn++] = (uint8_t)(raw_len >> 8);
    z[zn++] = (uint8_t)~raw_len, z[zn++] = (uint8_t)(~raw_len >> 8);
    memcpy(z + zn, raw, raw_len);
    zn += raw_len;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    be32(z + zn, (b << 16) | a);
    zn += 4;
    uint8_t *png = malloc(zn + 100), ihdr[13] = {0};
    size_t n = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2;
    n += png_chunk(png + n, "IHDR", ihdr, 13);
    n += png_chunk(png + n, "IDAT", z, zn);
    n += png_chunk(png + n, "IEND", NULL, 0);
    free(raw);
    free(z);
    *len = n;
    return png;
}

/* ---- tests ---- */

/* 12 MiB with 5 MiB parts: CreateMultipartUpload, three UploadParts,
 * CompleteMultipartUpload; the object reads back byte-exact, whole and in
 * ranges across part and chunk boundaries. */
static void test_multipart_and_ranges(void **state)
{
    (void)state;
    static const char *const settings[] = {"s3_part_size=5m", "max_upload_bytes=64m", NULL};
    start(settings);
    char tok[160], id[32], sha[80], path[64];
    new_user("mp", tok);
    size_t len = 12u << 20;
    unsigned char *data = make_bytes(len, 7);
    upload_ok(tok, data, len, id, sha);
    assert_true(th_media_blob_exists(&srv, sha, NULL));
    assert_int_equal(log_count("POST /parley/media/", "?uploads= 200"), 1);
    assert_int_equal(log_count("PUT /parley/media/", "partNumber=3&uploadId="), 1);
    assert_int_equal(log_count("PUT /parley/media/", "partNumber=4&"), 0);
    assert_int_equal(log_count("POST /parley/media/", "?uploadId="), 1);
    snprintf(path, sizeof path, "/v1/media/%s", id);
    resp_t r;
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, data, len);
    resp_free(&r);
    /* Across the first part boundary (5 MiB) and a 1 MiB read chunk. */
    get(tok, path, "Range: bytes=5242000-6291500\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 6291500 - 5242000 + 1);
    assert_memory_equal(r.body, data + 5242000, r.len);
    assert_non_null(strstr(r.head, "Content-Range: bytes 5242000-6291500/12582912"));
    resp_free(&r);
    get(tok, path, "Range: bytes=-7\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data + len - 7, 7);
    resp_free(&r);
    /* The ranged reads were ranged GETs, not whole-object ones. */
    assert_true(log_count("GET /parley/media/", " 206") >= 2);
    /* A small one goes in a single PUT. */
    unsigned char *small = make_bytes(1000, 8);
    char id2[32], sha2[80];
    upload_ok(tok, small, 1000, id2, sha2);
    char want[200];
    snprintf(want, sizeof want, "PUT /parley/media/%s 200", sha2);
    assert_int_equal(log_count(want, NULL), 1);
    /* The same bytes again: deduplicated (a HEAD, no second PUT). */
    resp_t d;
    upload(tok, small, 1000, &d);
    assert_int_equal(d.status, 200);
    resp_free(&d);
    assert_int_equal(log_count(want, NULL), 1);
    free(small);
    free(data);
    stop();
}

static void test_thumbnail(void **state)
{
    (void)state;
    start(NULL);
    char tok[160], id[32], sha[80], path[80];
    new_user("th", tok);
    size_t len;
    uint8_t *png = make_png(200, 100, &len);
    resp_t r;
    upload(tok, png, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(sha, sizeof sha, "%s", json_string_value(json_object_get(j, "sha256")));
    assert_int_equal(json_integer_value(json_object_get(j, "w")), 200);
    assert_true(json_integer_value(json_object_get(j, "thumb_w")) > 0);
    json_decref(j);
    resp_free(&r);
    assert_true(th_media_blob_exists(&srv, sha, "thumb"));
    snprintf(path, sizeof path, "/v1/media/%s/thumb", id);
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "Content-Type: image/jpeg"));
    assert_true(r.len > 100 && !memcmp(r.body, "\xff\xd8", 2));
    resp_free(&r);
    /* A variant made on demand: the original read back from S3 (the local
     * copy of the upload is dropped first: s3_cache_bytes is not 0 here, so
     * remove it by hand to force the download). */
    char cache[600];
    snprintf(cache, sizeof cache, "%s/media/cache/%s", srv.data_dir, sha);
    unlink(cache);
    snprintf(path, sizeof path, "/v1/media/%s/thumb?square=1", id);
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 100 && !memcmp(r.body, "\xff\xd8", 2));
    resp_free(&r);
    assert_true(th_media_blob_exists(&srv, sha, "square"));
    char want[200];
    snprintf(want, sizeof want, "GET /parley/media/%s 200", sha);
    assert_int_equal(log_count(want, NULL), 1);
    free(png);
    stop();
}

/* An unreferenced upload is collected: its row, its object and its
 * thumbnail's object (DeleteObject). */
static void test_gc_deletes_objects(void **state)
{
    (void)state;
    /* The deletes are background jobs: a failed first attempt (a slow
     * sanitizer build) is retried in 200 ms, not the default 10 s. */
    static const char *const settings[] = {"media_gc_grace_ms=300", "media_gc_interval_ms=100",
                                           "jobs_retry_base_ms=200", "jobs_poll_ms=100", NULL};
    start(settings);
    char tok[160], id[32], sha[80], path[64];
    new_user("gc", tok);
    size_t len;
    uint8_t *png = make_png(64, 64, &len);
    upload_ok(tok, png, len, id, sha);
    snprintf(path, sizeof path, "/v1/media/%s", id);
    uint64_t deadline = now_ms() + 60000;
    while (now_ms() < deadline &&
           (th_media_blob_exists(&srv, sha, NULL) || th_media_blob_exists(&srv, sha, "thumb")))
        usleep(50000);
    assert_false(th_media_blob_exists(&srv, sha, NULL));
    assert_false(th_media_blob_exists(&srv, sha, "thumb"));
    char want[200];
    snprintf(want, sizeof want, "DELETE /parley/media/%s 204", sha);
    /* The S3 server logs a request after answering it: the object may be
     * gone a moment before its line is written. */
    while (now_ms() < deadline && log_count(want, NULL) == 0)
        usleep(50000);
    assert_int_equal(log_count(want, NULL), 1);
    resp_t r;
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    free(png);
    stop();
}

/* s3_path_style false: bucket.endpoint/key URLs (what AWS wants), signed
 * for that host. The endpoint s3.localhost:PORT makes the bucket's host
 * parley.s3.localhost, which curl resolves to loopback. */
static void test_virtual_host_style(void **state)
{
    (void)state;
    start(NULL);
    th_server_stop(&srv);
    char ep[96];
    snprintf(ep, sizeof ep, "s3_endpoint=http://s3.localhost:%d", srv.s3.port);
    const char *const settings[] = {ep, "s3_path_style=false", NULL};
    th_server_restart(&srv, settings);
    char tok[160], id[32], sha[80], path[64], want[200];
    new_user("vh", tok);
    unsigned char *data = make_bytes(4000, 41);
    upload_ok(tok, data, 4000, id, sha);
    snprintf(want, sizeof want, "PUT /media/%s 200", sha); /* no bucket in the path */
    assert_int_equal(log_count(want, NULL), 1);
    assert_true(th_media_blob_exists(&srv, sha, NULL));
    snprintf(path, sizeof path, "/v1/media/%s", id);
    resp_t r;
    get(tok, path, "Range: bytes=10-19\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data + 10, 10);
    resp_free(&r);
    free(data);
    stop();
}

/* S3 down while the collector runs: the sweep needs no S3 (it deletes the
 * row and queues a durable deletion job in one transaction, so the store's
 * writer never waits on S3), the media is gone at once, and the job fails
 * and is retried with backoff until S3 is back, then deletes the object
 * instead of leaving it orphaned in the bucket. */
static void test_gc_while_s3_down(void **state)
{
    (void)state;
    static const char *const settings[] = {"media_gc_grace_ms=300",  "media_gc_interval_ms=100",
                                           "s3_retries=0",           "s3_timeout_ms=1000",
                                           "jobs_poll_ms=100",       "jobs_retry_base_ms=200",
                                           "jobs_retry_max_ms=1000", NULL};
    start(settings);
    char tok[160], id[32], sha[80], path[64];
    new_user("gd", tok);
    unsigned char *data = make_bytes(3000, 31);
    upload_ok(tok, data, 3000, id, sha);
    th_s3_stop(&srv.s3);
    /* Two failed attempts: the job is retried, not given up. */
    uint64_t deadline = now_ms() + 30000;
    while (now_ms() < deadline && file_count(srv.log_path, "op=gc_remove") < 2)
        usleep(50000);
    assert_true(file_count(srv.log_path, "op=gc_remove") >= 2);
    assert_false(file_has(srv.log_path, "gc failed")); /* the sweep itself went through */
    snprintf(path, sizeof path, "/v1/media/%s", id);
    resp_t r;
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 404); /* the row went with the sweep */
    resp_free(&r);
    assert_true(th_media_blob_exists(&srv, sha, NULL)); /* still in the bucket's directory */
    th_s3_start(&srv.s3, srv.s3.dir, srv.s3.bucket);
    deadline = now_ms() + 30000;
    while (now_ms() < deadline && th_media_blob_exists(&srv, sha, NULL))
        usleep(50000);
    assert_false(th_media_blob_exists(&srv, sha, NULL));
    free(data);
    stop();
}

/* S3 goes away: an upload answers 503 storage_unavailable (after the
 * retries), no object or part of one is visible, downloads answer 503 too,
 * and everything works again once S3 is back. */
static void test_s3_down(void **state)
{
    (void)state;
    static const char *const settings[] = {"s3_part_size=5m", "max_upload_bytes=64m",
                                           "s3_retries=1", NULL};
    start(settings);
    char tok[160], id[32], sha[80], path[64], code[64];
    new_user("dn", tok);
    unsigned char *small = make_bytes(5000, 21);
    upload_ok(tok, small, 5000, id, sha);
    snprintf(path, sizeof path, "/v1/media/%s", id);
    int objects = th_s3_count_objects(&srv.s3);
    /* Mid-upload: half the body sent, S3 stopped, the rest sent. */
    size_t len = 12u << 20;
    unsigned char *data = make_bytes(len, 22);
    int fd = th_connect(srv.port);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     tok, len);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, data, len / 2);
    th_s3_stop(&srv.s3);
    th_send_all(fd, data + len / 2, len - len / 2);
    resp_t r;
    read_resp(fd, &r);
    close(fd);
    assert_int_equal(r.status, 503);
    assert_string_equal(err_code(&r, code, sizeof code), "storage_unavailable");
    resp_free(&r);
    /* Reads fail cleanly too: 503, never a 500 or a hang. */
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(err_code(&r, code, sizeof code), "storage_unavailable");
    assert_non_null(strcasestr(r.head, "Retry-After:"));
    resp_free(&r);
    assert_true(file_has(srv.log_path, "op=s3 "));
    /* Nothing partial became visible, nothing is left in media/tmp. */
    assert_int_equal(th_s3_count_objects(&srv.s3), objects);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/media/tmp", srv.data_dir);
    uint64_t deadline = now_ms() + 5000;
    bool empty = false;
    while (!empty && now_ms() < deadline) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", tmp);
        empty = system(cmd) == 0;
        if (!empty)
            usleep(50000);
    }
    assert_true(empty);
    /* S3 back (same port and data): both work again. */
    th_s3_start(&srv.s3, srv.s3.dir, srv.s3.bucket);
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, small, 5000);
    resp_free(&r);
    upload_ok(tok, data, len, id, sha);
    assert_true(th_media_blob_exists(&srv, sha, NULL));
    /* S3 stopped while the multipart upload runs (right after the body):
     * either the upload made it whole before, or it failed cleanly with
     * nothing visible. */
    unsigned char *data2 = make_bytes(len, 23);
    objects = th_s3_count_objects(&srv.s3);
    fd = th_connect(srv.port);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, data2, len);
    usleep(20000);
    th_s3_stop(&srv.s3);
    read_resp(fd, &r);
    close(fd);
    if (r.status == 201) {
        assert_int_equal(th_s3_count_objects(&srv.s3), objects + 1);
    } else {
        assert_int_equal(r.status, 503);
        assert_string_equal(err_code(&r, code, sizeof code), "storage_unavailable");
        assert_int_equal(th_s3_count_objects(&srv.s3), objects);
    }
    resp_free(&r);
    free(data2);
    free(data);
    free(small);
    stop();
}

/* Starts a second parleyd on srv's S3 with other keys; returns whether
 * its media answers 503 unavailable (the media service did not start) and
 * whether its log has needle. The secret is never in the log. */
static void check_refused(const char *ak, const char *sk, const char *bucket, const char *needle)
{
    char set_ak[120], set_sk[120], set_b[120], tok[160], code[64];
    snprintf(set_ak, sizeof set_ak, "s3_access_key=%s", ak);
    snprintf(set_sk, sizeof set_sk, "s3_secret_key=%s", sk);
    snprintf(set_b, sizeof set_b, "s3_bucket=%s", bucket);
    const char *const settings[] = {set_ak, set_sk, set_b, "s3_retries=0", NULL};
    th_server_t main_srv = srv;
    th_server_start(&srv, settings); /* its own S3 server: the same keys apply */
    assert_true(file_has(srv.log_path, "op=s3_probe"));
    assert_true(file_has(srv.log_path, needle));
    assert_true(file_has(srv.log_path, "media service unavailable"));
    assert_false(file_has(srv.log_path, sk));
    /* Chat works; media answers 503 at once, for every request. */
    new_user("bc", tok);
    resp_t r;
    upload(tok, "hello", 5, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(err_code(&r, code, sizeof code), "unavailable");
    resp_free(&r);
    get(tok, "/v1/media/f1", NULL, &r);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    stop();
    srv = main_srv;
}

/* Refused credentials are a configuration error found at startup
 * (HeadBucket), with a log line saying which: a wrong secret (the
 * signature does not verify: s3server.cjs checks SigV4, s3rver itself does
 * not), an unknown access key, a missing bucket. */
static void test_bad_credentials_at_startup(void **state)
{
    (void)state;
    start(NULL);
    check_refused("S3RVER", "not-the-secret-xyz", "parley", "code=SignatureDoesNotMatch");
    check_refused("NOBODY", "S3RVER", "parley", "code=InvalidAccessKeyId");
    check_refused("S3RVER", "S3RVER", "no-such-bucket", "no such bucket");
    /* The right keys: media works (the harness's own server). */
    char tok[160], id[32], sha[80];
    new_user("ok", tok);
    upload_ok(tok, "12345", 5, id, sha);
    stop();
}

/* An object deleted behind parleyd's back: 404 not_found, not a 500. */
static void test_object_missing(void **state)
{
    (void)state;
    start(NULL);
    char tok[160], id[32], sha[80], path[80], obj[700], code[64];
    new_user("ms", tok);
    size_t len;
    uint8_t *png = make_png(50, 40, &len);
    upload_ok(tok, png, len, id, sha);
    snprintf(obj, sizeof obj, "%s/%s/media/%s._S3rver_object", srv.s3.dir, srv.s3.bucket, sha);
    assert_int_equal(unlink(obj), 0);
    snprintf(obj, sizeof obj, "%s/%s/media/%s.thumb._S3rver_object", srv.s3.dir, srv.s3.bucket,
             sha);
    assert_int_equal(unlink(obj), 0);
    snprintf(path, sizeof path, "/v1/media/%s", id);
    resp_t r;
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(err_code(&r, code, sizeof code), "not_found");
    resp_free(&r);
    get(tok, path, "Range: bytes=0-9\r\n", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/media/%s/thumb", id);
    get(tok, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Uploading the same bytes again puts the object back (no stale dedup). */
    resp_t u;
    upload(tok, png, len, &u);
    assert_true(u.status == 200 || u.status == 201);
    resp_free(&u);
    assert_true(th_media_blob_exists(&srv, sha, NULL));
    free(png);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_and_ranges),
        cmocka_unit_test(test_thumbnail),
        cmocka_unit_test(test_gc_deletes_objects),
        cmocka_unit_test(test_virtual_host_style),
        cmocka_unit_test(test_gc_while_s3_down),
        cmocka_unit_test(test_s3_down),
        cmocka_unit_test(test_bad_credentials_at_startup),
        cmocka_unit_test(test_object_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
