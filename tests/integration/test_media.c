/* SPDX-License-Identifier: MIT */
/* test_media.c -- uploads, sniffing, thumbnails, downloads, access control
 * and media message content against the real parleyd binary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define LIMIT 1048576
static th_server_t srv;
static long next_id = 100;

typedef struct {
    char name[40], token[160], id[32];
} user_t;

/* ---- a valid PNG (RGB, stored deflate blocks), built here ---- */

static uint32_t crc_table[256];
static uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t c)
{
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t k = i;
            for (int j = 0; j < 8; j++)
                k = k & 1 ? 0xedb88320u ^ (k >> 1) : k >> 1;
            crc_table[i] = k;
        }
    c ^= 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static size_t chunk(uint8_t *out, const char *type, const uint8_t *data, size_t n)
{
    be32(out, (uint32_t)n);
    memcpy(out + 4, type, 4);
    if (n)
        memcpy(out + 8, data, n);
    be32(out + 8 + n, crc32_of(out + 4, n + 4, 0));
    return n + 12;
}

/* Returns a malloc'd PNG of w x h with a gradient (seed varies the bytes). */
static uint8_t *make_png(int w, int h, int seed, size_t *len)
{
    size_t raw_len = (size_t)h * (1 + 3 * (size_t)w);
    uint8_t *raw = malloc(raw_len);
    size_t k = 0;
    for (int y = 0; y < h; y++) {
        raw[k++] = 0;
        for (int x = 0; x < w; x++) {
            raw[k++] = (uint8_t)(x + seed), raw[k++] = (uint8_t)y, raw[k++] = (uint8_t)(x ^ y);
        }
    }
    size_t nblocks = raw_len / 65535 + 1;
    uint8_t *z = malloc(2 + raw_len + nblocks * 5 + 4);
    size_t zn = 0;
    z[zn++] = 0x78, z[zn++] = 0x01;
    for (size_t off = 0; off < raw_len || off == 0;) {
        size_t n = raw_len - off > 65535 ? 65535 : raw_len - off;
        z[zn++] = off + n == raw_len ? 1 : 0;
        z[zn++] = (uint8_t)n, z[zn++] = (uint8_t)(n >> 8);
        z[zn++] = (uint8_t)~n, z[zn++] = (uint8_t)(~n >> 8);
        memcpy(z + zn, raw + off, n);
        zn += n, off += n;
        if (off == raw_len)
            break;
    }
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    be32(z + zn, (b << 16) | a);
    zn += 4;
    uint8_t *png = malloc(zn + 100);
    size_t n = 0;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    uint8_t ihdr[13] = {0};
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2;
    n += chunk(png + n, "IHDR", ihdr, 13);
    n += chunk(png + n, "IDAT", z, zn);
    n += chunk(png + n, "IEND", NULL, 0);
    free(raw);
    free(z);
    *len = n;
    return png;
}

/* ---- HTTP helpers ---- */

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

static const char *hdr(const resp_t *r, const char *name, char *out, size_t cap)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = strcasestr(r->head, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    return out;
}

/* Reads one response (Content-Length framed) from fd. */
static void read_resp(int fd, resp_t *r)
{
    memset(r, 0, sizeof *r);
    size_t n = 0;
    while (n + 1 < sizeof r->head) {
        ssize_t k = recv(fd, r->head + n, 1, 0);
        if (k <= 0) {
            r->status = -1;
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
}

static void upload(const char *token, const char *ctype, const char *name, const void *data,
                   size_t len, resp_t *r)
{
    int fd = th_connect(srv.port);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "POST /v1/media%s%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     name ? "?name=" : "", name ? name : "", token, ctype, len);
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
        fail_msg("not JSON: %s", r->body);
    return j;
}

static int tmp_files(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/media/tmp", srv.data_dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void wait_tmp_empty(void)
{
    for (int i = 0; i < 100 && tmp_files() > 0; i++)
        usleep(20000);
    assert_int_equal(tmp_files(), 0);
}

/* ---- WebSocket helpers ---- */

static json_t *call(int fd, const char *fmt, ...)
{
    static char body[20000], frame[20100], buf[1 << 20];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    long id = next_id++;
    snprintf(frame, sizeof frame, "{\"id\":%ld,%s}", id, body);
    long n = th_ws_request(fd, id, frame, buf, sizeof buf);
    assert_true(n > 0);
    return json_loads(buf, 0, NULL);
}

static void expect_code(json_t *r, const char *code)
{
    const char *got = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
    if (code == NULL) {
        if (!json_is_true(json_object_get(r, "ok")))
            fail_msg("expected ok, got %s", json_dumps(r, 0));
    } else if (!got || strcmp(got, code) != 0) {
        fail_msg("expected %s, got %s", code, json_dumps(r, 0));
    }
    json_decref(r);
}

static int ws_login(const user_t *u)
{
    int fd = th_ws_connect(srv.port, "/v1/ws");
    expect_code(call(fd, "\"op\":\"auth\",\"token\":\"%s\"", u->token), NULL);
    return fd;
}

static void new_user(user_t *u, const char *prefix)
{
    th_unique_name(prefix, u->name, sizeof u->name);
    th_register(srv.port, u->name, "correct horse", u->token, u->id);
}

/* ---- tests ---- */

static void test_upload_png_thumb_dedup(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "pa");
    size_t len;
    uint8_t *png = make_png(400, 300, 1, &len);
    resp_t r;
    upload(a.token, "image/jpeg", "cat.png", png, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(j, "mime")), "image/png");
    assert_int_equal(json_integer_value(json_object_get(j, "w")), 400);
    assert_int_equal(json_integer_value(json_object_get(j, "h")), 300);
    assert_int_equal(json_integer_value(json_object_get(j, "thumb_w")), 320);
    assert_int_equal(json_integer_value(json_object_get(j, "thumb_h")), 240);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), (json_int_t)len);
    char id[32], sha[80];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(sha, sizeof sha, "%s", json_string_value(json_object_get(j, "sha256")));
    json_decref(j);
    resp_free(&r);
    /* Same bytes again: same id and sha256. */
    upload(a.token, "image/png", "again.png", png, len, &r);
    assert_int_equal(r.status, 200);
    j = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")), sha);
    json_decref(j);
    resp_free(&r);
    /* Download: whole, headers. */
    char path[128], v[256];
    snprintf(path, sizeof path, "/v1/media/%s", id);
    get(a.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, png, len);
    assert_string_equal(hdr(&r, "Content-Type", v, sizeof v), "image/png");
    assert_string_equal(hdr(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
    assert_non_null(strstr(hdr(&r, "Cache-Control", v, sizeof v), "immutable"));
    assert_non_null(strstr(hdr(&r, "ETag", v, sizeof v), sha));
    resp_free(&r);
    /* Conditional GET. */
    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: \"%s\"\r\n", sha);
    get(a.token, path, inm, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    /* Ranges. */
    get(a.token, path, "Range: bytes=8-15\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 8);
    assert_memory_equal(r.body, png + 8, 8);
    char want[64];
    snprintf(want, sizeof want, "bytes 8-15/%zu", len);
    assert_string_equal(hdr(&r, "Content-Range", v, sizeof v), want);
    resp_free(&r);
    get(a.token, path, "Range: bytes=-4\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, png + len - 4, 4);
    resp_free(&r);
    get(a.token, path, "Range: bytes=99999999-\r\n", &r);
    assert_int_equal(r.status, 416);
    snprintf(want, sizeof want, "bytes */%zu", len);
    assert_string_equal(hdr(&r, "Content-Range", v, sizeof v), want);
    resp_free(&r);
    /* Thumbnail: a 320x240 JPEG. */
    snprintf(path, sizeof path, "/v1/media/%s/thumb", id);
    get(a.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "Content-Type", v, sizeof v), "image/jpeg");
    assert_true(r.len > 100 && (uint8_t)r.body[0] == 0xff && (uint8_t)r.body[1] == 0xd8);
    resp_free(&r);
    free(png);
    wait_tmp_empty();
}

static void test_sniffing(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "sn");
    static const char html[] =
        "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n";
    resp_t r;
    upload(a.token, "image/png", "..%2F..%2Fevil.png", html, sizeof html - 1, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(j, "mime")), "text/html");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "evil.png");
    assert_null(json_object_get(j, "thumb_w"));
    char path[128], v[256];
    snprintf(path, sizeof path, "/v1/media/%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    get(a.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(hdr(&r, "Content-Type", v, sizeof v), "application/octet-stream");
    assert_non_null(strstr(hdr(&r, "Content-Disposition", v, sizeof v), "attachment"));
    resp_free(&r);
    /* A corrupt "image": stored as a file, no thumbnail, no crash. */
    size_t len;
    uint8_t *png = make_png(50, 50, 9, &len);
    len = 120; /* truncated inside the pixel data */
    upload(a.token, "image/png", NULL, png, len, &r);
    assert_int_equal(r.status, 201);
    j = jbody(&r);
    assert_null(json_object_get(j, "thumb_w"));
    json_decref(j);
    resp_free(&r);
    free(png);
}

static void test_limits_and_bad_uploads(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "li");
    size_t big = LIMIT + 4096;
    char *data = calloc(1, big);
    resp_t r;
    /* Declared over the limit. */
    upload(a.token, "application/octet-stream", NULL, data, big, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "too_large"));
    resp_free(&r);
    wait_tmp_empty();
    /* Chunked, no declared length: refused once the limit is passed. */
    int fd = th_connect(srv.port);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     a.token);
    th_send_all(fd, head, (size_t)n);
    for (size_t sent = 0; sent < big; sent += 65536) {
        char ch[16];
        n = snprintf(ch, sizeof ch, "%x\r\n", 65536);
        if (send(fd, ch, (size_t)n, MSG_NOSIGNAL) < 0 || send(fd, data, 65536, MSG_NOSIGNAL) < 0 ||
            send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
            break;
    }
    read_resp(fd, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);
    close(fd);
    wait_tmp_empty();
    /* Truncated: the client disconnects midway. */
    fd = th_connect(srv.port);
    n = snprintf(head, sizeof head,
                 "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                 "Content-Length: 500000\r\n\r\n",
                 a.token);
    th_send_all(fd, head, (size_t)n);
    th_send_all(fd, data, 100000);
    usleep(100000);
    close(fd);
    wait_tmp_empty();
    /* Malformed chunked framing. */
    fd = th_connect(srv.port);
    n = snprintf(head, sizeof head,
                 "POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\nzz\r\n",
                 a.token);
    th_send_all(fd, head, (size_t)n);
    read_resp(fd, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    close(fd);
    wait_tmp_empty();
    /* Multipart bodies are stored as the bytes they are (no crash). */
    static const char mp[] = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nhi\r\n--b";
    upload(a.token, "multipart/form-data; boundary=b", NULL, mp, sizeof mp - 1, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* Empty body, bad token, no token. */
    upload(a.token, "image/png", NULL, "", 0, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    upload("nope", "image/png", NULL, "abc", 3, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(th_http(srv.port, "POST", "/v1/media", NULL, "{}", NULL, 0), 401);
    free(data);
    /* Still alive. */
    assert_int_equal(th_http(srv.port, "GET", "/healthz", NULL, NULL, NULL, 0), 200);
}

static void test_access_and_send(void **state)
{
    (void)state;
    user_t a, b, c;
    new_user(&a, "ac");
    new_user(&b, "bc");
    new_user(&c, "cc");
    size_t len;
    uint8_t *png = make_png(64, 48, 3, &len);
    resp_t r;
    upload(a.token, "image/png", "p.png", png, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    char mid[32], path[128], tpath[128];
    snprintf(mid, sizeof mid, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/media/%s", mid);
    snprintf(tpath, sizeof tpath, "/v1/media/%s/thumb", mid);
    /* Before it is shared, b sees nothing (same answer as a missing id). */
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    get(b.token, "/v1/media/f999999", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    int fa = ws_login(&a), fb = ws_login(&b);
    json_t *rr =
        call(fa, "\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"pics\",\"members\":[\"%s\"]",
             b.name);
    char room[32];
    snprintf(room, sizeof room, "%s",
             json_string_value(json_object_get(json_object_get(rr, "room"), "id")));
    json_decref(rr);
    /* Bad media contents. */
    static const char *const bad[] = {
        "{\"type\":\"image\",\"media\":\"%s\"}", /* no w/h */
        "{\"type\":\"image\",\"media\":\"%s\",\"w\":0,\"h\":5}",
        "{\"type\":\"image\",\"media\":\"x1\",\"w\":5,\"h\":5}",
        "{\"type\":\"image\",\"media\":\"%s\",\"w\":5,\"h\":5,\"evil\":1}",
        "{\"type\":\"image\",\"media\":\"%s\",\"w\":5,\"h\":5,\"mime\":5}",
        "{\"type\":\"image\",\"media\":\"%s\",\"w\":5,\"h\":5,\"mime\":\"\"}",
        "{\"type\":\"file\",\"media\":\"%s\",\"name\":\"\",\"size\":1,\"mime\":\"a/b\"}",
        "{\"type\":\"file\",\"media\":\"%s\",\"name\":\"a\",\"size\":-1,\"mime\":\"a/b\"}",
        "{\"type\":\"voice\",\"media\":\"%s\"}",
        "{\"type\":\"voice\",\"media\":\"%s\",\"duration_ms\":5,\"waveform\":[1,300]}",
        "{\"type\":\"video\",\"media\":\"%s\",\"w\":\"5\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char content[512];
        snprintf(content, sizeof content, bad[i], mid);
        expect_code(call(fa,
                         "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"bad%zu\",\"content\":%s",
                         room, i, content),
                    "bad_request");
    }
    /* Unknown media, and someone else's media. */
    expect_code(
        call(fa,
             "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"nf1\",\"content\":"
             "{\"type\":\"file\",\"media\":\"f999999\",\"name\":\"a\",\"size\":1,\"mime\":\"a/b\"}",
             room),
        "not_found");
    expect_code(call(fb,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"nf2\",\"content\":"
                     "{\"type\":\"image\",\"media\":\"%s\",\"w\":64,\"h\":48}",
                     room, mid),
                "not_found");
    /* Shared in a room b is in: now b may read it; c still may not. */
    expect_code(call(fa,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"img1\",\"content\":"
                     "{\"type\":\"image\",\"media\":\"%s\",\"w\":64,\"h\":48,\"thumb\":\"%s\","
                     "\"caption\":\"hi\",\"mime\":\"image/png\"}",
                     room, mid, mid),
                NULL);
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    resp_free(&r);
    get(b.token, tpath, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    get(c.token, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* b may now forward it; the other content types are accepted too. */
    expect_code(call(fb,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"fwd\",\"content\":"
                     "{\"type\":\"file\",\"media\":\"%s\",\"name\":\"p.png\",\"size\":%zu,"
                     "\"mime\":\"image/png\"}",
                     room, mid, len),
                NULL);
    expect_code(call(fa,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"v1\",\"content\":"
                     "{\"type\":\"voice\",\"media\":\"%s\",\"duration_ms\":1200,"
                     "\"waveform\":[0,10,255]}",
                     room, mid),
                NULL);
    expect_code(call(fa,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"vid\",\"content\":"
                     "{\"type\":\"video\",\"media\":\"%s\"}",
                     room, mid),
                NULL);
    close(fa);
    close(fb);
    free(png);
}

/* Waits for the next event named ev on fd (other frames skipped). */
static json_t *wait_event(int fd, const char *ev)
{
    static char buf[1 << 16];
    for (int i = 0; i < 50; i++) {
        long n = th_ws_recv_text(fd, buf, sizeof buf, 5000);
        assert_true(n > 0);
        json_t *j = json_loads(buf, 0, NULL);
        const char *e = json_string_value(json_object_get(j, "ev"));
        if (e && !strcmp(e, ev))
            return j;
        json_decref(j);
    }
    fail_msg("no %s event", ev);
    return NULL;
}

/* Uploads a w x h PNG (or other bytes when png is false); returns its id. */
static void upload_id(const user_t *u, int w, int h, int seed, bool png, char *id, size_t cap)
{
    size_t len;
    uint8_t *data = png ? make_png(w, h, seed, &len) : (uint8_t *)strdup("just some text\n");
    if (!png)
        len = strlen((char *)data);
    resp_t r;
    upload(u->token, png ? "image/png" : "text/plain", png ? "a.png" : "a.txt", data, len, &r);
    assert_true(r.status == 201 || r.status == 200);
    json_t *j = jbody(&r);
    snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    free(data);
}

static void test_avatar(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "av");
    new_user(&b, "bv");
    char img[32], txt[32], other[32];
    upload_id(&a, 300, 200, 21, true, img, sizeof img);
    upload_id(&a, 0, 0, 0, false, txt, sizeof txt);
    upload_id(&b, 40, 40, 22, true, other, sizeof other);
    int fa = ws_login(&a), fb = ws_login(&b);
    /* A room in common, so b receives a's profile events. */
    json_t *rr =
        call(fa, "\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"av\",\"members\":[\"%s\"]",
             b.name);
    json_decref(rr);
    /* No avatar yet: null. */
    json_t *p = call(fb, "\"op\":\"profile_get\",\"user\":\"%s\"", a.id);
    if (!json_is_null(json_object_get(json_object_get(p, "user"), "avatar")))
        fail_msg("profile: %s", json_dumps(p, 0));
    json_decref(p);
    /* Errors: not an image, someone else's, unknown, malformed. */
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"%s\"", txt), "bad_request");
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"%s\"", other), "not_found");
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"f999999\""), "not_found");
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"x1\""), "bad_request");
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":5"), "bad_request");
    /* Before it is an avatar, b cannot read a's upload. */
    char path[128], spath[160], v[256];
    snprintf(path, sizeof path, "/v1/media/%s", img);
    snprintf(spath, sizeof spath, "/v1/media/%s/thumb?square=1", img);
    resp_t r;
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Set: the reply and the profile event (to b, a contact) carry it. */
    p = call(fa, "\"op\":\"profile_set\",\"avatar\":\"%s\"", img);
    assert_true(json_is_true(json_object_get(p, "ok")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "user"), "avatar")),
                        img);
    json_decref(p);
    json_t *ev = wait_event(fb, "profile");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "user"), "avatar")),
                        img);
    json_decref(ev);
    p = call(fb, "\"op\":\"profile_get\",\"user\":\"%s\"", a.id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "user"), "avatar")),
                        img);
    json_decref(p);
    /* Any signed-in user can download it, and its square thumbnail. */
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    for (int i = 0; i < 2; i++) { /* made, then cached */
        get(b.token, spath, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(hdr(&r, "Content-Type", v, sizeof v), "image/jpeg");
        assert_non_null(strstr(hdr(&r, "ETag", v, sizeof v), "-square"));
        assert_true(r.len > 100 && (uint8_t)r.body[0] == 0xff && (uint8_t)r.body[1] == 0xd8);
        /* SOF0 of the JPEG: height then width, both 256. */
        bool found = false;
        for (size_t k = 2; k + 9 < r.len; k++)
            if ((uint8_t)r.body[k] == 0xff && (uint8_t)r.body[k + 1] == 0xc0) {
                int hh = ((uint8_t)r.body[k + 5] << 8) | (uint8_t)r.body[k + 6];
                int ww = ((uint8_t)r.body[k + 7] << 8) | (uint8_t)r.body[k + 8];
                assert_int_equal(hh, 256);
                assert_int_equal(ww, 256);
                found = true;
                break;
            }
        assert_true(found);
        resp_free(&r);
    }
    wait_tmp_empty();
    /* Other fields keep the avatar; null removes it. */
    p = call(fa, "\"op\":\"profile_set\",\"bio\":\"hello\"");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "user"), "avatar")),
                        img);
    json_decref(p);
    p = call(fa, "\"op\":\"profile_set\",\"avatar\":null");
    assert_true(json_is_null(json_object_get(json_object_get(p, "user"), "avatar")));
    json_decref(p);
    p = call(fb, "\"op\":\"profile_get\",\"username\":\"%s\"", a.name);
    assert_true(json_is_null(json_object_get(json_object_get(p, "user"), "avatar")));
    json_decref(p);
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    close(fa);
    close(fb);
}

static void test_custom_emoji(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "ea");
    new_user(&b, "eb");
    char img[32], txt[32], bimg[32];
    upload_id(&a, 64, 64, 31, true, img, sizeof img);
    upload_id(&a, 0, 0, 0, false, txt, sizeof txt);
    upload_id(&b, 64, 64, 32, true, bimg, sizeof bimg);
    int fa = ws_login(&a), fb = ws_login(&b), fw = ws_login(&b); /* fw: watches events */
    char sc[40];
    snprintf(sc, sizeof sc, "p_%.20s", a.name + 2);
    for (char *c = sc; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            *c = '_';
    sc[20] = '\0';
    /* Bad input. */
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"A\",\"media\":\"%s\"", img),
                "bad_request");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"Bad-Code\",\"media\":\"%s\"", img),
                "bad_request");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\":%s:\",\"media\":\"%s\"", sc, img),
                "bad_request");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"%s\"", sc), "bad_request");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"%s\"", sc, txt),
                "bad_request");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"%s\"", sc, bimg),
                "not_found");
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"f999999\"", sc),
                "not_found");
    /* Add: reply, event to every session. */
    json_t *rep = call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"%s\"", sc, img);
    assert_true(json_is_true(json_object_get(rep, "ok")));
    json_t *e = json_object_get(rep, "emoji");
    assert_string_equal(json_string_value(json_object_get(e, "shortcode")), sc);
    assert_string_equal(json_string_value(json_object_get(e, "media")), img);
    assert_string_equal(json_string_value(json_object_get(e, "owner")), a.id);
    json_decref(rep);
    json_t *ev = wait_event(fw, "emoji");
    assert_string_equal(json_string_value(json_object_get(ev, "action")), "added");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "emoji"), "shortcode")), sc);
    json_decref(ev);
    /* Taken, by anyone. */
    expect_code(call(fb, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"%s\"", sc, bimg),
                "emoji_taken");
    /* Listed; its image is readable by any signed-in user. */
    json_t *l = call(fb, "\"op\":\"emoji_list\"");
    json_t *arr = json_object_get(l, "emoji");
    bool listed = false;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(arr, i), "shortcode")), sc)) {
            listed = true;
            assert_string_equal(json_string_value(json_object_get(json_array_get(arr, i), "media")),
                                img);
        }
    assert_true(listed);
    json_decref(l);
    char path[128];
    snprintf(path, sizeof path, "/v1/media/%s/thumb", img);
    resp_t r;
    get(b.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* Reactions: :shortcode: of an existing one, or a real emoji; not unknown ones. */
    json_t *rr =
        call(fa, "\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"em\",\"members\":[\"%s\"]",
             b.name);
    char room[32];
    snprintf(room, sizeof room, "%s",
             json_string_value(json_object_get(json_object_get(rr, "room"), "id")));
    json_decref(rr);
    json_t *sent = call(fa,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"e1\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"hi :%s: there\"}",
                        room, sc);
    assert_true(json_is_true(json_object_get(sent, "ok")));
    json_int_t seq = json_integer_value(json_object_get(json_object_get(sent, "message"), "seq"));
    json_decref(sent);
    json_t *re = call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\":%s:\"", room,
                      (long long)seq, sc);
    assert_true(json_is_true(json_object_get(re, "ok")));
    json_t *reacts = json_object_get(json_object_get(re, "message"), "reactions");
    assert_int_equal(json_array_size(reacts), 1);
    char want[48];
    snprintf(want, sizeof want, ":%s:", sc);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reacts, 0), "emoji")),
                        want);
    json_decref(re);
    expect_code(
        call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\":no_such_emoji_zz:\"",
             room, (long long)seq),
        "bad_request");
    expect_code(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"::\"", room,
                     (long long)seq),
                "bad_request");
    expect_code(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\"\\u2764\"",
                     room, (long long)seq),
                NULL);
    /* Remove: owner only. */
    expect_code(call(fb, "\"op\":\"emoji_remove\",\"shortcode\":\"%s\"", sc), "forbidden");
    expect_code(call(fa, "\"op\":\"emoji_remove\",\"shortcode\":\"zz_nothing_here\""), "not_found");
    expect_code(call(fa, "\"op\":\"emoji_remove\",\"shortcode\":\"%s\"", sc), NULL);
    ev = wait_event(fw, "emoji");
    assert_string_equal(json_string_value(json_object_get(ev, "action")), "removed");
    json_decref(ev);
    /* Gone: an existing reaction can still be taken back, a new one is refused. */
    expect_code(
        call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\":%s:\",\"remove\":true",
             room, (long long)seq, sc),
        NULL);
    expect_code(call(fb, "\"op\":\"react\",\"room\":\"%s\",\"seq\":%lld,\"emoji\":\":%s:\"", room,
                     (long long)seq, sc),
                "bad_request");
    /* The shortcode is free again. */
    expect_code(call(fb, "\"op\":\"emoji_add\",\"shortcode\":\"%s\",\"media\":\"%s\"", sc, bimg),
                NULL);
    expect_code(call(fb, "\"op\":\"emoji_remove\",\"shortcode\":\"%s\"", sc), NULL);
    close(fa);
    close(fb);
    close(fw);
}

static void test_emoji_policy_nobody(void **state)
{
    (void)state;
    th_server_t saved = srv;
    static const char *const settings[] = {"emoji_add_policy=nobody", NULL};
    th_server_start(&srv, settings);
    user_t a;
    new_user(&a, "np");
    char img[32];
    upload_id(&a, 32, 32, 41, true, img, sizeof img);
    int fa = ws_login(&a);
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"nope\",\"media\":\"%s\"", img),
                "forbidden");
    json_t *l = call(fa, "\"op\":\"emoji_list\"");
    assert_int_equal(json_array_size(json_object_get(l, "emoji")), 0);
    json_decref(l);
    close(fa);
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    srv = saved;
}

/* emoji_list is paged by bytes (server-wide, and anyone may add): every
 * emoji once, by shortcode, over several pages; a bad cursor is refused. */
static void test_emoji_list_paged(void **state)
{
    (void)state;
    th_server_t saved = srv;
    static const char *const settings[] = {"max_reply_bytes=16384", "rate_limit_per_sec=100000",
                                           NULL};
    th_server_start(&srv, settings);
    user_t a;
    new_user(&a, "pg");
    char img[32];
    upload_id(&a, 32, 32, 43, true, img, sizeof img);
    int fa = ws_login(&a);
    enum { N = 400 }; /* about 60 bytes each: more than one 16 KiB page */
    for (int i = 0; i < N; i++) {
        json_t *r =
            call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"e%03d\",\"media\":\"%s\"", i, img);
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
    expect_code(call(fa, "\"op\":\"emoji_list\",\"after\":7"), "bad_request");
    char after[40] = "";
    int seen = 0, pages = 0;
    for (;;) {
        json_t *l = after[0] ? call(fa, "\"op\":\"emoji_list\",\"after\":\"%s\"", after)
                             : call(fa, "\"op\":\"emoji_list\"");
        assert_true(json_is_true(json_object_get(l, "ok")));
        json_t *arr = json_object_get(l, "emoji");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char want[16];
            snprintf(want, sizeof want, "e%03d", seen++);
            assert_string_equal(
                json_string_value(json_object_get(json_array_get(arr, i), "shortcode")), want);
        }
        pages++;
        bool more = json_is_true(json_object_get(l, "more"));
        if (more)
            snprintf(after, sizeof after, "%s", json_string_value(json_object_get(l, "next")));
        json_decref(l);
        if (!more)
            break;
    }
    assert_int_equal(N, seen);
    assert_true(pages >= 2);
    close(fa);
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    srv = saved;
}

/* ---- garbage collection, access after release (issue 6) ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Uploads a small PNG; writes its id and sha256. */
static void upload_sha(const user_t *u, int seed, char *id, char *sha)
{
    size_t len;
    uint8_t *png = make_png(48, 40, seed, &len);
    resp_t r;
    upload(u->token, "image/png", "g.png", png, len, &r);
    assert_true(r.status == 201 || r.status == 200);
    json_t *j = jbody(&r);
    snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    snprintf(sha, 80, "%s", json_string_value(json_object_get(j, "sha256")));
    json_decref(j);
    resp_free(&r);
    free(png);
}

static bool blob_exists(const char *sha, const char *variant)
{
    return th_media_blob_exists(&srv, sha, variant); /* data dir or S3 (PL_TEST_MEDIA_STORE) */
}

static int media_status(const char *token, const char *id, const char *suffix)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/media/%s%s", id, suffix ? suffix : "");
    resp_t r;
    get(token, path, NULL, &r);
    resp_free(&r);
    return r.status;
}

/* Polls (20 s at most) until the media answers 404 to its owner and its blob
 * is gone from the data dir (when sha is given). */
static void wait_collected(const char *token, const char *id, const char *sha)
{
    uint64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        if (media_status(token, id, NULL) == 404 && (!sha || !blob_exists(sha, NULL)))
            break;
        usleep(50000);
    }
    assert_int_equal(media_status(token, id, NULL), 404);
    if (sha) {
        assert_false(blob_exists(sha, NULL));
        assert_false(blob_exists(sha, "thumb"));
    }
}

static void start_gc_server(th_server_t *saved, const char *grace, bool restart)
{
    char g[64];
    snprintf(g, sizeof g, "media_gc_grace_ms=%s", grace);
    const char *const settings[] = {g,
                                    "media_gc_interval_ms=50",
                                    "min_disappearing_ms=100",
                                    "sweep_interval_ms=50",
                                    "max_upload_bytes=1048576",
                                    NULL};
    if (!restart) {
        *saved = srv;
        th_server_start(&srv, settings);
    } else {
        th_server_restart(&srv, settings);
    }
}

static void stop_gc_server(th_server_t *saved)
{
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    srv = *saved;
}

static char *make_room(int fd, const char *other, char *room)
{
    json_t *rr =
        call(fd, "\"op\":\"create_room\",\"kind\":\"group\",\"name\":\"gc\",\"members\":[\"%s\"]",
             other);
    snprintf(room, 32, "%s", json_string_value(json_object_get(json_object_get(rr, "room"), "id")));
    json_decref(rr);
    return room;
}

/* Sends an image message with media id; returns its seq. */
static long send_image(int fd, const char *room, const char *id, const char *cid, const char *extra)
{
    json_t *m = call(fd,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                     "{\"type\":\"image\",\"media\":\"%s\",\"w\":48,\"h\":40}%s",
                     room, cid, id, extra ? extra : "");
    if (!json_is_true(json_object_get(m, "ok")))
        fail_msg("send failed: %s", json_dumps(m, 0));
    long seq = (long)json_integer_value(json_object_get(json_object_get(m, "message"), "seq"));
    json_decref(m);
    return seq;
}

static void test_gc_unreferenced_and_referenced(void **state)
{
    (void)state;
    th_server_t saved;
    start_gc_server(&saved, "1500", false);
    user_t a, b;
    new_user(&a, "ga");
    new_user(&b, "gb");
    int fa = ws_login(&a);
    char room[32];
    make_room(fa, b.name, room);
    char x[32], xs[80], y[32], ys[80], z[32], zs[80], e[32], es[80];
    /* Referenced right after upload (well within the grace period). */
    upload_sha(&a, 51, y, ys);
    long yseq = send_image(fa, room, y, "gc-y", NULL);
    upload_sha(&a, 52, z, zs);
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"%s\"", z), NULL);
    upload_sha(&a, 53, e, es);
    expect_code(call(fa, "\"op\":\"emoji_add\",\"shortcode\":\"gckeep\",\"media\":\"%s\"", e),
                NULL);
    char g[32], gs[80]; /* a group's avatar */
    upload_sha(&a, 54, g, gs);
    expect_code(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":\"%s\"", room, g),
                NULL);
    upload_sha(&a, 50, x, xs);
    assert_true(blob_exists(xs, NULL));
    assert_true(blob_exists(xs, "thumb"));
    /* Nothing references x: gone after the grace period, file and thumbnail too. */
    wait_collected(a.token, x, xs);
    /* The others are older than the grace period now and survive. */
    assert_int_equal(media_status(a.token, y, NULL), 200);
    assert_int_equal(media_status(b.token, y, NULL), 200);
    assert_int_equal(media_status(b.token, z, NULL), 200);
    assert_int_equal(media_status(b.token, e, NULL), 200);
    assert_int_equal(media_status(b.token, g, NULL), 200);
    assert_true(blob_exists(ys, NULL) && blob_exists(zs, NULL) && blob_exists(es, NULL) &&
                blob_exists(gs, NULL));
    /* Deleting the message releases y: gone at the next sweep, for everyone. */
    expect_code(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%ld", room, yseq), NULL);
    wait_collected(a.token, y, ys);
    assert_int_equal(media_status(b.token, y, NULL), 404);
    /* Removing the emoji releases e after its grace (it is long past). */
    expect_code(call(fa, "\"op\":\"emoji_remove\",\"shortcode\":\"gckeep\""), NULL);
    wait_collected(a.token, e, es);
    assert_int_equal(media_status(a.token, z, NULL), 200);
    /* Clearing the group's avatar releases it too. */
    expect_code(call(fa, "\"op\":\"room_settings\",\"room\":\"%s\",\"avatar\":null", room), NULL);
    wait_collected(a.token, g, gs);
    close(fa);
    assert_int_equal(th_http(srv.port, "GET", "/healthz", NULL, NULL, NULL, 0), 200);
    stop_gc_server(&saved);
}

static void test_gc_shared_blob_and_expiry(void **state)
{
    (void)state;
    th_server_t saved;
    /* A long grace: only released media goes, promptly. */
    start_gc_server(&saved, "86400000", false);
    user_t a, b;
    new_user(&a, "sa");
    new_user(&b, "sb");
    int fa = ws_login(&a), fb = ws_login(&b);
    char room[32];
    make_room(fa, b.name, room);
    /* The same bytes from two users: two rows, one blob. */
    char ia[32], sha_a[80], ib[32], sha_b[80];
    upload_sha(&a, 60, ia, sha_a);
    upload_sha(&b, 60, ib, sha_b);
    assert_string_equal(sha_a, sha_b);
    assert_string_not_equal(ia, ib);
    long seq = send_image(fa, room, ia, "sh-a", NULL);
    send_image(fb, room, ib, "sh-b", NULL);
    expect_code(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%ld", room, seq), NULL);
    /* a's row goes; the blob stays for b's. */
    wait_collected(a.token, ia, NULL);
    assert_true(blob_exists(sha_a, NULL));
    assert_int_equal(media_status(b.token, ib, NULL), 200);
    assert_int_equal(media_status(a.token, ib, NULL), 200); /* a is in the room of b's message */
    /* A disappearing message releases its media when it expires. */
    char d[32], ds[80];
    upload_sha(&a, 61, d, ds);
    send_image(fa, room, d, "sh-ttl", ",\"ttl_ms\":300");
    wait_collected(a.token, d, ds);
    assert_int_equal(media_status(b.token, d, NULL), 404);
    /* An unreferenced upload within the grace period stays. */
    char k[32], ks[80];
    upload_sha(&a, 62, k, ks);
    usleep(300000); /* a few sweeps: not an assertion on timing, only a chance to misbehave */
    assert_int_equal(media_status(a.token, k, NULL), 200);
    close(fa);
    close(fb);
    stop_gc_server(&saved);
}

static void test_gc_across_restart(void **state)
{
    (void)state;
    th_server_t saved;
    saved = srv;
    /* First run: no sweep happens (daily interval). */
    static const char *const first[] = {"media_gc_interval_ms=86400000", "max_upload_bytes=1048576",
                                        NULL};
    th_server_start(&srv, first);
    user_t a;
    new_user(&a, "ra");
    char x[32], xs[80], z[32], zs[80];
    upload_sha(&a, 70, x, xs);
    upload_sha(&a, 71, z, zs);
    int fa = ws_login(&a);
    expect_code(call(fa, "\"op\":\"profile_set\",\"avatar\":\"%s\"", z), NULL);
    close(fa);
    assert_int_equal(th_server_stop(&srv), 0);
    /* Second run with a short grace: the old unreferenced upload goes, the
     * avatar stays. */
    start_gc_server(&saved, "200", true);
    wait_collected(a.token, x, xs);
    assert_int_equal(media_status(a.token, z, NULL), 200);
    assert_true(blob_exists(zs, NULL));
    stop_gc_server(&saved);
}

/* Runs on the group's server (24 h grace): access follows live messages. */
static void test_access_after_delete(void **state)
{
    (void)state;
    user_t a, b;
    new_user(&a, "da");
    new_user(&b, "db");
    int fa = ws_login(&a);
    char room[32], id[32], sha[80];
    make_room(fa, b.name, room);
    upload_sha(&a, 80, id, sha);
    long s1 = send_image(fa, room, id, "ad-1", NULL);
    long s2 = send_image(fa, room, id, "ad-2", NULL);
    assert_int_equal(media_status(b.token, id, NULL), 200);
    expect_code(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%ld", room, s1), NULL);
    assert_int_equal(media_status(b.token, id, NULL), 200); /* the second still shares it */
    expect_code(call(fa, "\"op\":\"delete\",\"room\":\"%s\",\"seq\":%ld", room, s2), NULL);
    assert_int_equal(media_status(b.token, id, NULL), 404);
    assert_int_equal(media_status(b.token, id, "/thumb"), 404);
    /* A deleted message's media cannot be re-sent by the member either. */
    int fb = ws_login(&b);
    expect_code(call(fb,
                     "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"ad-3\",\"content\":"
                     "{\"type\":\"image\",\"media\":\"%s\",\"w\":48,\"h\":40}",
                     room, id),
                "not_found");
    close(fb);
    close(fa);
}

/* ---- thumbnails of two sizes ---- */

static void test_thumb_sizes(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "ts");
    size_t len;
    uint8_t *png = make_png(1400, 200, 9, &len);
    resp_t r;
    upload(a.token, "image/png", "wide.png", png, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    char id[32], path[160], v[256];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    free(png);
    static const struct {
        const char *q;
        int status, w, h;
    } cases[] = {
        {"", 200, 320, 46},
        {"?size=320", 200, 320, 46},
        {"?size=1280", 200, 1280, 183},
        {"?size=1280", 200, 1280, 183}, /* cached the second time */
        {"?size=64", 400, 0, 0},
        {"?size=", 400, 0, 0},
        {"?size=1280x", 400, 0, 0},
        {"?size=-1", 400, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "/v1/media/%s/thumb%s", id, cases[i].q);
        get(a.token, path, NULL, &r);
        if (r.status != cases[i].status)
            fail_msg("%s: status %d", path, r.status);
        if (r.status == 200) {
            assert_string_equal(hdr(&r, "Content-Type", v, sizeof v), "image/jpeg");
            /* JPEG SOF0/SOF2: the size is in the frame header. */
            int w = 0, h = 0;
            for (size_t k = 2; k + 9 < r.len; k++)
                if ((uint8_t)r.body[k] == 0xff &&
                    ((uint8_t)r.body[k + 1] == 0xc0 || (uint8_t)r.body[k + 1] == 0xc2)) {
                    h = ((uint8_t)r.body[k + 5] << 8) | (uint8_t)r.body[k + 6];
                    w = ((uint8_t)r.body[k + 7] << 8) | (uint8_t)r.body[k + 8];
                    break;
                }
            assert_int_equal(w, cases[i].w);
            assert_true(h >= cases[i].h - 1 && h <= cases[i].h + 1); /* rounding */
            if (strstr(cases[i].q, "1280"))
                assert_non_null(strstr(hdr(&r, "ETag", v, sizeof v), "-thumb1280"));
        } else {
            assert_non_null(strstr(r.body, "bad_request"));
        }
        resp_free(&r);
    }
    /* Smaller than 1280: its own size, never upscaled. */
    char small[32];
    upload_id(&a, 300, 200, 91, true, small, sizeof small);
    snprintf(path, sizeof path, "/v1/media/%s/thumb?size=1280", small);
    get(a.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    int w = 0, h = 0;
    for (size_t k = 2; k + 9 < r.len; k++)
        if ((uint8_t)r.body[k] == 0xff && (uint8_t)r.body[k + 1] == 0xc0) {
            h = ((uint8_t)r.body[k + 5] << 8) | (uint8_t)r.body[k + 6];
            w = ((uint8_t)r.body[k + 7] << 8) | (uint8_t)r.body[k + 8];
            break;
        }
    assert_int_equal(w, 300);
    assert_int_equal(h, 200);
    resp_free(&r);
}

/* ---- hostile input ---- */

static void test_decompression_bomb(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "bo");
    /* A tiny PNG whose header declares 30000 x 30000 (900 Mpx). */
    size_t len;
    uint8_t *png = make_png(4, 4, 1, &len);
    be32(png + 16, 30000);
    be32(png + 20, 30000);
    be32(png + 29, crc32_of(png + 12, 17, 0));
    resp_t r;
    upload(a.token, "image/png", "bomb.png", png, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(j, "mime")), "image/png");
    assert_null(json_object_get(j, "thumb_w"));
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    assert_int_equal(media_status(a.token, id, "/thumb"), 404);
    assert_int_equal(media_status(a.token, id, "/thumb?size=1280"), 404);
    assert_int_equal(media_status(a.token, id, "/thumb?square=1"), 404);
    assert_int_equal(media_status(a.token, id, NULL), 200); /* stored as a file */
    free(png);
}

static void test_path_tricks(void **state)
{
    (void)state;
    user_t a;
    new_user(&a, "pt");
    static const struct {
        const char *name, *want;
    } names[] = {
        {"..%2F..%2Fetc%2Fpasswd", "passwd"},
        {"../../x.txt", "x.txt"},
        {"a%00b.txt", "ab.txt"},
        {"dir%2Fsub%5Cfile.txt", "file.txt"},
        {"..", ""},
        {"%2E%2E", ""},
        {"%ff%fe.txt", ""}, /* not UTF-8 */
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "path trick %zu\n", i);
        resp_t r;
        upload(a.token, "text/plain", names[i].name, body, strlen(body), &r);
        assert_int_equal(r.status, 201);
        json_t *j = jbody(&r);
        const char *got = json_string_value(json_object_get(j, "name"));
        if (strcmp(got, names[i].want) != 0)
            fail_msg("name %s stored as '%s'", names[i].name, got);
        json_decref(j);
        resp_free(&r);
    }
    /* A very long name is cut to at most 255 bytes. */
    char longname[1200];
    memset(longname, 'n', 400);
    longname[400] = '\0';
    resp_t r;
    upload(a.token, "text/plain", longname, "long\n", 5, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    assert_true(strlen(json_string_value(json_object_get(j, "name"))) <= 255);
    json_decref(j);
    resp_free(&r);
    /* Paths that try to leave the media namespace: never a file, always 404. */
    static const char *const paths[] = {
        "/v1/media/..%2f..",
        "/v1/media/f1/../../x",
        "/v1/media/..",
        "/v1/media/f1%00",
        "/v1/media/f1x",
        "/v1/media/f01",
        "/v1/media/%66%31",
        "/v1/media/f1/thumb/..",
        "/v1/media/f-1",
        "/v1/media/f99999999999999999999999",
        "/v1/media/../../etc/passwd",
        "/v1/media/f1/..%2f..%2fparleyd.db",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        get(a.token, paths[i], NULL, &r);
        if (r.status != 404)
            fail_msg("%s answered %d", paths[i], r.status);
        assert_null(strstr(r.body, "SQLite"));
        resp_free(&r);
    }
    assert_int_equal(th_http(srv.port, "GET", "/healthz", NULL, NULL, NULL, 0), 200);
}

/* ---- concurrent uploads of the same bytes ---- */

typedef struct {
    const char *token;
    const uint8_t *data;
    size_t len;
    int status;
    char id[32], sha[80];
} cup_t;

static void *cup_run(void *arg)
{
    cup_t *c = arg;
    resp_t r;
    upload(c->token, "image/png", "same.png", c->data, c->len, &r);
    c->status = r.status;
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    if (j) {
        snprintf(c->id, sizeof c->id, "%s", json_string_value(json_object_get(j, "id")) ?: "");
        snprintf(c->sha, sizeof c->sha, "%s",
                 json_string_value(json_object_get(j, "sha256")) ?: "");
        json_decref(j);
    }
    resp_free(&r);
    return NULL;
}

static int count_blobs(void)
{
    return th_media_count_blobs(&srv);
}

static void concurrent_same(int n, bool same_user, int seed)
{
    user_t *u = calloc((size_t)n, sizeof *u);
    for (int i = 0; i < (same_user ? 1 : n); i++)
        new_user(&u[i], "cu");
    size_t len;
    uint8_t *png = make_png(200, 150, seed, &len);
    int before = count_blobs();
    cup_t *c = calloc((size_t)n, sizeof *c);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        c[i] = (cup_t){.token = u[same_user ? 0 : i].token, .data = png, .len = len};
        assert_int_equal(pthread_create(&t[i], NULL, cup_run, &c[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) {
        if (c[i].status != 201 && c[i].status != 200)
            fail_msg("upload %d of %d: status %d", i, n, c[i].status);
        assert_string_equal(c[i].sha, c[0].sha);
        if (same_user)
            assert_string_equal(c[i].id, c[0].id);
        assert_int_equal(media_status(u[same_user ? 0 : i].token, c[i].id, NULL), 200);
    }
    assert_int_equal(count_blobs(), before + 1);
    assert_true(blob_exists(c[0].sha, "thumb"));
    wait_tmp_empty();
    free(c);
    free(t);
    free(u);
    free(png);
}

static void test_concurrent_same_content(void **state)
{
    (void)state;
    concurrent_same(2, false, 101);
    concurrent_same(10, false, 102);
    concurrent_same(10, true, 103);
}

/* ---- streamed downloads ---- */

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_streamed_download(void **state)
{
    (void)state;
    th_server_t saved = srv;
    static const char *const settings[] = {"max_upload_bytes=67108864", "http_idle_timeout_ms=1500",
                                           NULL};
    th_server_start(&srv, settings);
    user_t a;
    new_user(&a, "dl");
    size_t len = 24u << 20;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    resp_t r;
    upload(a.token, "application/octet-stream", "big.bin", data, len, &r);
    assert_int_equal(r.status, 201);
    json_t *j = jbody(&r);
    char id[32], path[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/media/%s", id);
    /* Whole, and a range across chunk boundaries, byte-exact. */
    get(a.token, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, data, len);
    resp_free(&r);
    get(a.token, path, "Range: bytes=262000-1048700\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 1048700 - 262000 + 1);
    assert_memory_equal(r.body, data + 262000, r.len);
    resp_free(&r);
    /* Two on one keep-alive connection: the second follows the first. */
    int fd = th_connect(srv.port);
    char head[512];
    int n = snprintf(
        head, sizeof head,
        "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nRange: bytes=0-299999\r\n\r\n"
        "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nRange: bytes=-5\r\n\r\n",
        path, a.token, path, a.token);
    th_send_all(fd, head, (size_t)n);
    read_resp(fd, &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data, 300000);
    resp_free(&r);
    read_resp(fd, &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data + len - 5, 5);
    resp_free(&r);
    close(fd);
    /* HEAD: headers only. */
    fd = th_connect(srv.port);
    n = snprintf(
        head, sizeof head,
        "HEAD %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
        path, a.token);
    th_send_all(fd, head, (size_t)n);
    char buf[4096];
    th_recv_until_close(fd, buf, sizeof buf, 5000);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "Content-Length: 25165824"));
    assert_non_null(strstr(buf, "\r\n\r\n"));
    assert_int_equal(strlen(strstr(buf, "\r\n\r\n")), 4);
    close(fd);
    /* Disconnects mid-download, several at once: everything is released
     * (the file descriptors come back to what they were). */
    usleep(200000);
    int base = count_fds(srv.pid);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = th_connect(srv.port);
        n = snprintf(head, sizeof head,
                     "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path,
                     a.token);
        th_send_all(fds[i], head, (size_t)n);
        char part[65536];
        assert_true(recv(fds[i], part, sizeof part, MSG_WAITALL) > 0);
    }
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    /* On S3 the store keeps up to 8 idle curl easy handles
     * (media_store_s3.c IDLE_MAX), each with its keep-alive connection and
     * the socket pair of curl's internal multi handle: a bounded cache of at
     * most 3 fds each, not a leak. */
    int slack = th_s3_mode() ? 3 * 8 : 0;
    uint64_t deadline = now_ms() + 20000;
    while (count_fds(srv.pid) > base + slack && now_ms() < deadline)
        usleep(50000);
    assert_true(count_fds(srv.pid) <= base + slack);
    /* A reader that stalls (never reads) holds only its bounded queue; the
     * others are served meanwhile. */
    int stalled = th_connect(srv.port);
    n = snprintf(head, sizeof head,
                 "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, a.token);
    th_send_all(stalled, head, (size_t)n);
    get(a.token, path, "Range: bytes=0-9\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data, 10);
    resp_free(&r);
    /* ... until the idle timeout ends it: everything released again. */
    deadline = now_ms() + 20000;
    while (count_fds(srv.pid) > base + slack && now_ms() < deadline)
        usleep(50000);
    assert_true(count_fds(srv.pid) <= base + slack);
    close(stalled);
    /* A slow but steady reader (longer than the idle timeout in total) gets
     * the whole body. */
    fd = th_connect(srv.port);
    n = snprintf(head, sizeof head,
                 "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nRange: "
                 "bytes=0-8388607\r\nConnection: close\r\n\r\n",
                 path, a.token);
    th_send_all(fd, head, (size_t)n);
    int rcvbuf = 16384;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    size_t got = 0; /* 4 ms per read of at most 64 KiB: over 0.5 s, usually seconds */
    char *slow = malloc(9u << 20);
    for (;;) {
        ssize_t k = recv(fd, slow + got, 65536, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        usleep(4000);
    }
    char *body = strstr(slow, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    assert_int_equal(got - (size_t)(body - slow), 8388608);
    assert_memory_equal(body, data, 8388608);
    free(slow);
    close(fd);
    free(data);
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    srv = saved;
}

static int group_setup(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_upload_bytes=1048576", NULL};
    th_server_start(&srv, settings);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_png_thumb_dedup),
        cmocka_unit_test(test_sniffing),
        cmocka_unit_test(test_limits_and_bad_uploads),
        cmocka_unit_test(test_access_and_send),
        cmocka_unit_test(test_avatar),
        cmocka_unit_test(test_custom_emoji),
        cmocka_unit_test(test_emoji_policy_nobody),
        cmocka_unit_test(test_emoji_list_paged),
        cmocka_unit_test(test_access_after_delete),
        cmocka_unit_test(test_thumb_sizes),
        cmocka_unit_test(test_decompression_bomb),
        cmocka_unit_test(test_path_tricks),
        cmocka_unit_test(test_concurrent_same_content),
        cmocka_unit_test(test_streamed_download),
        cmocka_unit_test(test_gc_unreferenced_and_referenced),
        cmocka_unit_test(test_gc_shared_blob_and_expiry),
        cmocka_unit_test(test_gc_across_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
