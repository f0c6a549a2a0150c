/* SPDX-License-Identifier: MIT */
/* media.c -- blocking media transfer: parley_upload streams a file from disk to
 * POST /v1/media, parley_download streams GET /v1/media/{id} to a file. Plain
 * blocking sockets (send with MSG_NOSIGNAL, SO_RCVTIMEO/SO_SNDTIMEO) and
 * http-parser for the response; at most one chunk of the file is in memory. */
#include "lib_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <http_parser.h>

#include "tls.h"

/* https://: the TLS session of this thread's transfer socket (one transfer
 * at a time per thread: the calls are blocking). NULL: plain. */
static _Thread_local parley__tls_t *media_tls;

static void media_close(int fd)
{
    parley__tls_free(media_tls);
    media_tls = NULL;
    close(fd);
}

#define MEDIA_CHUNK 65536
#define MEDIA_TIMEOUT_S 30
/* A JSON reply (upload answer or error object) larger than this is refused. */
#define MEDIA_MAX_JSON (1u << 20)

/* Appends the percent-encoding of s (RFC 3986 unreserved kept) to out. */
static int pct_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (n + (keep ? 1 : 3) >= cap)
            return -1;
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

static int tcp_connect(const parley__url_t *url, parley_error_t *err)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", url->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = strchr(url->host, ':') ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(url->host, port, &hints, &res);
    if (g != 0 || res == NULL) {
        parley__set_error(err, "network", "cannot resolve %s: %s", url->host,
                          g ? gai_strerror(g) : "no address");
        return PARLEY_EIO;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = MEDIA_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        parley__set_error(err, "network", "cannot connect: %s", strerror(e));
        return PARLEY_EIO;
    }
    parley__tls_free(media_tls);
    media_tls = NULL;
    if (url->tls) {
        char why[300];
        media_tls = parley__tls_connect_fd(fd, url->host, why, sizeof why);
        if (media_tls == NULL) {
            close(fd);
            parley__set_error(err, "tls", "%s", why);
            return PARLEY_EIO;
        }
    }
    return fd;
}

/* Sends all of buf. Returns 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n =
            media_tls ? parley__tls_fd_send(media_tls, buf, len) : send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- response reading ---- */

typedef struct {
    http_parser parser;
    http_parser_settings settings;
    bool headers_done;
    bool complete;
    int status;
    int sink_fd;   /* download: body goes here when status == 200, else -1 */
    bool sink_err; /* a write to sink_fd failed (errno in sink_errno) */
    int sink_errno;
    char *json; /* otherwise: body collected here */
    size_t json_len;
    bool too_big;
    char field[64]; /* current header name (truncated), lowercase compare */
    size_t field_len;
    bool in_value;
    bool in_disp;    /* the current header is Content-Disposition */
    char disp[1024]; /* its value (truncated) */
    size_t disp_len;
} resp_t;

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->in_value) {
        r->in_value = false;
        r->field_len = 0;
    }
    for (size_t i = 0; i < len && r->field_len + 1 < sizeof(r->field); i++)
        r->field[r->field_len++] = at[i];
    r->field[r->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (!r->in_value) {
        r->in_value = true;
        r->in_disp = strcasecmp(r->field, "content-disposition") == 0;
        if (r->in_disp)
            r->disp_len = 0;
    }
    for (size_t i = 0; r->in_disp && i < len && r->disp_len + 1 < sizeof(r->disp); i++)
        r->disp[r->disp_len++] = at[i];
    r->disp[r->disp_len] = '\0';
    return 0;
}

/* The filename="..." of a Content-Disposition value, malloc'ed, or NULL. */
static char *disposition_name(const char *v)
{
    const char *f = strstr(v, "filename=");
    if (f == NULL)
        return NULL;
    f += 9;
    size_t n;
    if (*f == '"') {
        f++;
        const char *end = strchr(f, '"');
        if (end == NULL)
            return NULL;
        n = (size_t)(end - f);
    } else {
        n = strcspn(f, "; \t");
    }
    if (n == 0)
        return NULL;
    return strndup(f, n);
}

static int on_headers_complete(http_parser *p)
{
    resp_t *r = p->data;
    r->headers_done = true;
    r->status = (int)p->status_code;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->sink_fd >= 0 && r->status == 200) {
        while (len > 0) {
            ssize_t n = write(r->sink_fd, at, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                r->sink_err = true;
                r->sink_errno = errno;
                return 1;
            }
            at += n;
            len -= (size_t)n;
        }
        return 0;
    }
    if (parley__buf_append(&r->json, &r->json_len, at, len, MEDIA_MAX_JSON) < 0) {
        r->too_big = true;
        return 1;
    }
    return 0;
}

static int on_complete(http_parser *p)
{
    resp_t *r = p->data;
    r->complete = true;
    return 0;
}

static void resp_init(resp_t *r, int sink_fd)
{
    memset(r, 0, sizeof(*r));
    r->sink_fd = sink_fd;
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    http_parser_settings_init(&r->settings);
    r->settings.on_header_field = on_header_field;
    r->settings.on_header_value = on_header_value;
    r->settings.on_headers_complete = on_headers_complete;
    r->settings.on_body = on_body;
    r->settings.on_message_complete = on_complete;
}

/* Reads and parses the response until complete. Returns PARLEY_OK or an error
 * (err filled). */
static int read_response(int fd, resp_t *r, parley_error_t *err)
{
    char buf[16384];
    while (!r->complete) {
        ssize_t n = media_tls ? parley__tls_fd_recv(media_tls, buf, sizeof(buf))
                              : recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bool to = errno == EAGAIN || errno == EWOULDBLOCK;
            parley__set_error(err, to ? "timeout" : "network", "%s",
                              to ? "request timed out" : strerror(errno));
            return to ? PARLEY_ETIMEDOUT : PARLEY_EIO;
        }
        size_t used = http_parser_execute(&r->parser, &r->settings, buf, (size_t)n);
        if (r->complete)
            break;
        if (r->sink_err) {
            parley__set_error(err, "io_error", "cannot write the file: %s",
                              strerror(r->sink_errno));
            return PARLEY_EIO;
        }
        if (r->too_big) {
            parley__set_error(err, "protocol", "response body too large");
            return PARLEY_EPROTO;
        }
        if (used != (size_t)n || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK) {
            parley__set_error(err, "protocol", "%s",
                              http_errno_description(HTTP_PARSER_ERRNO(&r->parser)));
            return PARLEY_EPROTO;
        }
        if (n == 0) {
            parley__set_error(err, "network", "connection closed before the response was complete");
            return PARLEY_EIO;
        }
    }
    if (err)
        err->status = r->status;
    return PARLEY_OK;
}

/* Turns a non-success response into PARLEY_ESERVER with the server's code. */
static int server_error(resp_t *r, parley_error_t *err)
{
    json_t *body = r->json ? json_loadb(r->json, r->json_len, 0, NULL) : NULL;
    json_t *e = json_object_get(body, "error");
    if (json_is_object(e))
        parley__set_error_json(err, e);
    else
        parley__set_error(err, "http_error", "unexpected HTTP status %d", r->status);
    if (err)
        err->status = r->status;
    json_decref(body);
    return PARLEY_ESERVER;
}

static int format_head(char *out, size_t cap, const char *method, const parley__url_t *url,
                       const char *path, const char *token, const char *extra)
{
    const char *v6 = strchr(url->host, ':') ? "[" : "";
    const char *v6e = *v6 ? "]" : "";
    int n = snprintf(out, cap,
                     "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: libparley\r\n"
                     "Authorization: Bearer %s\r\nConnection: close\r\n%s\r\n",
                     method, url->prefix, path, v6, url->host, v6e, url->port, token, extra);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int common_checks(const char *url_s, const char *token, parley__url_t *url,
                         parley_error_t *err)
{
    if (url_s == NULL || parley__url_parse(url_s, url) < 0) {
        parley__set_error(err, "invalid_argument", "bad server URL");
        return PARLEY_EINVAL;
    }
    if (token == NULL || *token == '\0' || strlen(token) > 512 || strpbrk(token, "\r\n")) {
        parley__set_error(err, "invalid_argument", "no valid token");
        return PARLEY_EINVAL;
    }
    return PARLEY_OK;
}

int parley_upload(const char *url_s, const char *token, const char *path, const char *name,
                  json_t **out, parley_error_t *err)
{
    parley__url_t url;
    int rc = common_checks(url_s, token, &url, err);
    if (rc < 0)
        return rc;
    if (path == NULL) {
        parley__set_error(err, "invalid_argument", "no file");
        return PARLEY_EINVAL;
    }
    int file = open(path, O_RDONLY | O_CLOEXEC);
    if (file < 0) {
        parley__set_error(err, "invalid_argument", "%s: %s", path, strerror(errno));
        return PARLEY_EINVAL;
    }
    struct stat st;
    if (fstat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
        parley__set_error(err, "invalid_argument", "%s: not a regular file", path);
        close(file);
        return PARLEY_EINVAL;
    }
    if (name == NULL) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    char enc[1024], target[1100], extra[128], head[2400];
    if (pct_encode(name, enc, sizeof(enc)) < 0) {
        parley__set_error(err, "invalid_argument", "file name too long");
        close(file);
        return PARLEY_EINVAL;
    }
    snprintf(target, sizeof(target), "/v1/media%s%s", *enc ? "?name=" : "", enc);
    snprintf(extra, sizeof(extra),
             "Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n",
             (long long)st.st_size);
    int hl = format_head(head, sizeof(head), "POST", &url, target, token, extra);
    if (hl < 0) {
        parley__set_error(err, "invalid_argument", "request too long");
        close(file);
        return PARLEY_EINVAL;
    }
    int fd = tcp_connect(&url, err);
    if (fd < 0) {
        close(file);
        return fd;
    }
    char *chunk = malloc(MEDIA_CHUNK);
    if (chunk == NULL) {
        close(file);
        media_close(fd);
        parley__set_error(err, "no_memory", "out of memory");
        return PARLEY_ENOMEM;
    }
    /* A send failure may mean the server answered early (413, 401) and
     * closed: still try to read its answer. */
    bool send_failed = send_all(fd, head, (size_t)hl) < 0;
    off_t left = st.st_size;
    while (!send_failed && left > 0) {
        ssize_t n = read(file, chunk, left < MEDIA_CHUNK ? (size_t)left : MEDIA_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            parley__set_error(err, "io_error", "%s: %s", path,
                              n < 0 ? strerror(errno) : "file shrank while uploading");
            free(chunk);
            close(file);
            media_close(fd);
            return PARLEY_EIO;
        }
        if (send_all(fd, chunk, (size_t)n) < 0)
            send_failed = true;
        left -= n;
    }
    free(chunk);
    close(file);
    resp_t r;
    resp_init(&r, -1);
    rc = read_response(fd, &r, err);
    media_close(fd);
    if (rc == PARLEY_OK && r.status != 200 && r.status != 201)
        rc = server_error(&r, err);
    if (rc == PARLEY_OK) {
        json_t *body = r.json ? json_loadb(r.json, r.json_len, 0, NULL) : NULL;
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "id"))) {
            json_decref(body);
            parley__set_error(err, "protocol", "upload answer is not a Media object");
            rc = PARLEY_EPROTO;
        } else if (out) {
            *out = body;
        } else {
            json_decref(body);
        }
    }
    free(r.json);
    return rc;
}

int parley_download(const char *url_s, const char *token, const char *media_id,
                    const char *out_path, parley_error_t *err)
{
    return parley_download_ex(url_s, token, media_id, out_path, NULL, err);
}

int parley_download_ex(const char *url_s, const char *token, const char *media_id,
                       const char *out_path, char **out_name, parley_error_t *err)
{
    parley__url_t url;
    int rc = common_checks(url_s, token, &url, err);
    if (rc < 0)
        return rc;
    if (media_id == NULL || *media_id == '\0' || out_path == NULL || *out_path == '\0') {
        parley__set_error(err, "invalid_argument", "media id and output path are required");
        return PARLEY_EINVAL;
    }
    char enc[512], target[600], head[2400];
    if (pct_encode(media_id, enc, sizeof(enc)) < 0) {
        parley__set_error(err, "invalid_argument", "media id too long");
        return PARLEY_EINVAL;
    }
    snprintf(target, sizeof(target), "/v1/media/%s", enc);
    int hl = format_head(head, sizeof(head), "GET", &url, target, token, "");
    if (hl < 0) {
        parley__set_error(err, "invalid_argument", "request too long");
        return PARLEY_EINVAL;
    }
    size_t tl = strlen(out_path) + 32;
    char *tmp = malloc(tl);
    if (tmp == NULL) {
        parley__set_error(err, "no_memory", "out of memory");
        return PARLEY_ENOMEM;
    }
    snprintf(tmp, tl, "%s.partXXXXXX", out_path);
    int file = mkostemp(tmp, O_CLOEXEC);
    if (file < 0) {
        parley__set_error(err, "io_error", "%s: %s", out_path, strerror(errno));
        free(tmp);
        return PARLEY_EIO;
    }
    /* mkstemp creates 0600; give the file the usual umask-derived mode. */
    mode_t um = umask(0);
    umask(um);
    fchmod(file, 0666 & ~um);
    int fd = tcp_connect(&url, err);
    if (fd >= 0 && send_all(fd, head, (size_t)hl) < 0) {
        parley__set_error(err, "network", "send failed: %s", strerror(errno));
        media_close(fd);
        fd = PARLEY_EIO;
    }
    resp_t r;
    resp_init(&r, file);
    if (fd >= 0) {
        rc = read_response(fd, &r, err);
        media_close(fd);
        if (rc == PARLEY_OK && r.status != 200)
            rc = server_error(&r, err);
    } else {
        rc = fd;
    }
    if (rc == PARLEY_OK && fsync(file) < 0) {
        parley__set_error(err, "io_error", "%s: %s", out_path, strerror(errno));
        rc = PARLEY_EIO;
    }
    if (close(file) < 0 && rc == PARLEY_OK) {
        parley__set_error(err, "io_error", "%s: %s", out_path, strerror(errno));
        rc = PARLEY_EIO;
    }
    if (rc == PARLEY_OK && rename(tmp, out_path) < 0) {
        parley__set_error(err, "io_error", "%s: %s", out_path, strerror(errno));
        rc = PARLEY_EIO;
    }
    if (rc != PARLEY_OK)
        unlink(tmp);
    else if (out_name)
        *out_name = disposition_name(r.disp);
    free(tmp);
    free(r.json);
    return rc;
}
