/* SPDX-License-Identifier: MIT */
/* http_static.c -- static files (the web client) through the public
 * request API: safe paths, Content-Type by extension, ETag and 304. */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#define MAX_STATIC_FILE (64u << 20)

/* Percent-decodes path into out (cap bytes). Fails on bad escapes, NUL,
 * backslashes, and any ".." segment, so neither "/../" nor "%2e%2e%2f"
 * escapes root. */
static bool safe_path(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    if (path[0] != '/')
        return false;
    for (const char *s = path; *s; s++) {
        char ch = *s;
        if (ch == '%') {
            int hi = pl_hexval(s[1]), lo = hi < 0 ? -1 : pl_hexval(s[2]);
            if (lo < 0)
                return false;
            ch = (char)(hi * 16 + lo);
            s += 2;
        }
        if (ch == '\0' || ch == '\\' || n + 1 >= cap)
            return false;
        out[n++] = ch;
    }
    out[n] = '\0';
    for (const char *seg = out; seg;) {
        seg++;
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        seg = end;
    }
    return true;
}

static const char *content_type_for(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < PL_ARRAY_LEN(types); i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

void pl_http_serve_file(pl_http_req_t *req, const char *root, const char *path)
{
    const char *method = pl_http_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        pl_http_respond_error(req, 405, "method_not_allowed", "only GET and HEAD",
                              "Allow: GET, HEAD\r\n");
        return;
    }
    char rel[1024], full[2048];
    if (!safe_path(path, rel, sizeof rel - 16)) {
        pl_http_respond_error(req, 404, "not_found", "no such file", NULL);
        return;
    }
    if (rel[strlen(rel) - 1] == '/')
        strcat(rel, "index.html");
    if ((size_t)snprintf(full, sizeof full, "%s%s", root, rel) >= sizeof full) {
        pl_http_respond_error(req, 404, "not_found", "no such file", NULL);
        return;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > MAX_STATIC_FILE) {
        if (fd >= 0)
            close(fd);
        pl_http_respond_error(req, 404, "not_found", "no such file", NULL);
        return;
    }
    char etag[64], extra[160];
    /* Nanosecond mtime: a same-size edit within one second still changes it. */
    snprintf(etag, sizeof etag, "\"%llx-%llx.%lx\"", (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: no-cache\r\n", etag);
    const char *inm = pl_http_header(req, "If-None-Match");
    if (inm && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0)) {
        close(fd);
        pl_http_respond(req, 304, NULL, NULL, 0, extra);
        return;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *data = pl_xmalloc(size + 1);
    /* Small files from local disk: a blocking read is acceptable here. */
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(data);
        pl_http_respond_error(req, 500, "internal", "read failed", NULL);
        return;
    }
    pl_http_respond(req, 200, content_type_for(rel), data, size, extra);
    free(data);
}
