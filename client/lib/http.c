/* SPDX-License-Identifier: MIT */
/* http.c -- one-shot HTTP/1.1 client over uv_tcp (http-parser reads the
 * response; Content-Length or close-delimited bodies), and the blocking account
 * calls built on it: parley_register, parley_login, parley_logout. */
#include "lib_internal.h"

#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "tls.h"

/* A response body larger than this is refused: account replies are tiny. */
#define HTTP_MAX_BODY (1u << 20)

typedef struct http_req {
    uv_loop_t *loop;
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    char *out; /* request bytes, alive until the write completes */
    size_t out_len;
    http_parser parser;
    http_parser_settings settings;
    char *body;
    size_t body_len;
    bool complete; /* on_message_complete seen */
    bool done;     /* cb called */
    int refs;      /* open handles + pending getaddrinfo */
    bool gai_pending;
    bool tcp_open;
    char rbuf[16384];
    parley__http_cb cb;
    void *ud;
    bool tls;            /* https:// */
    char host[256];      /* for the certificate check */
    parley__tls_t *sess; /* the TLS session once connected */
} http_req_t;

static void req_unref(http_req_t *r)
{
    if (--r->refs == 0) {
        parley__tls_free(r->sess);
        free(r->out);
        free(r->body);
        free(r);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    req_unref(h->data);
}

/* Delivers the result once, then tears everything down. */
static void finish(http_req_t *r, int status_or_rc, const char *msg)
{
    if (r->done)
        return;
    r->done = true;
    json_t *body = NULL;
    if (status_or_rc > 0 && r->body_len > 0)
        body = json_loadb(r->body, r->body_len, 0, NULL);
    r->cb(status_or_rc, body, msg, r->ud);
    json_decref(body);
    if (r->gai_pending)
        uv_cancel((uv_req_t *)&r->gai);
    if (r->tcp_open) {
        r->tcp_open = false;
        uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
    }
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    http_req_t *r = p->data;
    return parley__buf_append(&r->body, &r->body_len, at, len, HTTP_MAX_BODY) < 0 ? 1 : 0;
}

static int on_message_complete(http_parser *p)
{
    http_req_t *r = p->data;
    r->complete = true;
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, PARLEY_ETIMEDOUT, "request timed out");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_req_t *r = h->data;
    *buf = uv_buf_init(r->rbuf, sizeof(r->rbuf));
}

/* Response bytes (plaintext) into the parser. */
static void parse_bytes(void *ud, const char *p, size_t len)
{
    http_req_t *r = ud;
    if (r->done)
        return;
    size_t n = http_parser_execute(&r->parser, &r->settings, p, len);
    if (r->complete) {
        finish(r, (int)r->parser.status_code, NULL);
        return;
    }
    if (n != len || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
        finish(r, PARLEY_EPROTO, http_errno_description(HTTP_PARSER_ERRNO(&r->parser)));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_req_t *r = s->data;
    if (r->done)
        return;
    if (nread == UV_EOF) {
        /* A zero-length execute tells http-parser about EOF, which completes a
         * close-delimited body. */
        http_parser_execute(&r->parser, &r->settings, NULL, 0);
        if (r->complete)
            finish(r, (int)r->parser.status_code, NULL);
        else
            finish(r, PARLEY_EIO, "connection closed before the response was complete");
        return;
    }
    if (nread < 0) {
        finish(r, PARLEY_EIO, uv_strerror((int)nread));
        return;
    }
    if (r->sess) {
        char why[300];
        if (parley__tls_recv(r->sess, s, buf->base, (size_t)nread, parse_bytes, r, why,
                             sizeof why) < 0)
            finish(r, PARLEY_EIO, why);
        return;
    }
    parse_bytes(r, buf->base, (size_t)nread);
}

static void on_write(uv_write_t *w, int status)
{
    http_req_t *r = w->data;
    if (status < 0 && status != UV_ECANCELED)
        finish(r, PARLEY_EIO, uv_strerror(status));
}

static void on_connect(uv_connect_t *c, int status)
{
    http_req_t *r = c->data;
    if (r->done)
        return;
    if (status < 0) {
        finish(r, PARLEY_EIO, uv_strerror(status));
        return;
    }
    uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
    r->write.data = r;
    int rc;
    if (r->tls) {
        char why[300];
        r->sess = parley__tls_new(r->host, why, sizeof why);
        if (r->sess == NULL) {
            finish(r, PARLEY_EIO, why);
            return;
        }
        rc = parley__tls_send(r->sess, (uv_stream_t *)&r->tcp, r->out, r->out_len) < 0 ? UV_EIO : 0;
    } else {
        rc = uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_write);
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read);
    if (rc < 0)
        finish(r, PARLEY_EIO, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    http_req_t *r = g->data;
    r->gai_pending = false;
    if (status < 0 || res == NULL) {
        finish(r, PARLEY_EIO, status < 0 ? uv_strerror(status) : "no address");
    } else if (!r->done) {
        int rc = uv_tcp_init(r->loop, &r->tcp);
        if (rc == 0) {
            r->tcp.data = r;
            r->tcp_open = true;
            r->refs++;
            r->connect.data = r;
            rc = uv_tcp_connect(&r->connect, &r->tcp, res->ai_addr, on_connect);
        }
        if (rc < 0)
            finish(r, PARLEY_EIO, uv_strerror(rc));
    }
    uv_freeaddrinfo(res);
    req_unref(r);
}

int parley__http_start(uv_loop_t *loop, const parley__url_t *url, const char *method,
                       const char *path, const char *token, const json_t *body, int timeout_ms,
                       parley__http_cb cb, void *ud)
{
    http_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return PARLEY_ENOMEM;
    r->loop = loop;
    r->cb = cb;
    r->ud = ud;
    r->tls = url->tls;
    snprintf(r->host, sizeof r->host, "%s", url->host);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && payload == NULL) {
        free(r);
        return PARLEY_ENOMEM;
    }
    size_t plen = payload ? strlen(payload) : 0;
    char auth[1200] = "";
    if (token != NULL) {
        int n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
        if (n < 0 || (size_t)n >= sizeof(auth)) {
            free(payload);
            free(r);
            return PARLEY_EINVAL;
        }
    }
    const char *v6 = strchr(url->host, ':') ? "[" : "";
    const char *v6e = *v6 ? "]" : "";
    size_t cap = plen + strlen(path) + strlen(url->prefix) + strlen(url->host) + 2048;
    r->out = malloc(cap);
    if (r->out == NULL) {
        free(payload);
        free(r);
        return PARLEY_ENOMEM;
    }
    int n = snprintf(r->out, cap,
                     "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUser-Agent: libparley\r\n"
                     "Accept: application/json\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, url->prefix, path, v6, url->host, v6e, url->port, auth, plen,
                     payload ? payload : "");
    free(payload);
    r->out_len = (size_t)n;

    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    http_parser_settings_init(&r->settings);
    r->settings.on_body = on_body;
    r->settings.on_message_complete = on_message_complete;

    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->refs = 1; /* the timer */
    if (timeout_ms > 0)
        uv_timer_start(&r->timer, on_timeout, (uint64_t)timeout_ms, 0);

    char port[16];
    snprintf(port, sizeof(port), "%d", url->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = strchr(url->host, ':') ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    r->gai.data = r;
    int rc = uv_getaddrinfo(loop, &r->gai, on_resolved, url->host, port, &hints);
    if (rc < 0) {
        /* The callback contract says cb is never called when start fails. */
        r->done = true;
        uv_close((uv_handle_t *)&r->timer, on_handle_closed);
        return PARLEY_EIO;
    }
    r->gai_pending = true;
    r->refs++;
    return PARLEY_OK;
}

/* ---- blocking account calls ---- */

typedef struct {
    int rc;
    int status;
    json_t *body;
    char msg[200];
} http_result_t;

static void on_http_done(int status_or_rc, json_t *body, const char *errmsg, void *ud)
{
    http_result_t *res = ud;
    res->rc = status_or_rc;
    res->body = json_incref(body);
    snprintf(res->msg, sizeof(res->msg), "%s", errmsg ? errmsg : "");
}

/* Runs one request on a private loop; on success *out_body is owned. */
static int http_blocking(const char *url_s, const char *method, const char *path, const char *token,
                         const json_t *body, int expect_status, json_t **out_body,
                         parley_error_t *err)
{
    parley__url_t url;
    if (parley__url_parse(url_s, &url) < 0) {
        parley__set_error(err, "invalid_argument", "bad server URL");
        return PARLEY_EINVAL;
    }
    struct sigaction sa; /* see parley_client_new */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        parley__set_error(err, "no_memory", "cannot create a loop");
        return PARLEY_ENOMEM;
    }
    http_result_t res = {.rc = 0};
    int rc = parley__http_start(&loop, &url, method, path, token, body, 30000, on_http_done, &res);
    uv_run(&loop, UV_RUN_DEFAULT); /* also closes the timer when start failed */
    (void)uv_loop_close(&loop);
    if (rc < 0) {
        parley__set_error_rc(err, rc);
        return rc;
    }
    if (res.rc < 0) {
        parley__set_error(err, parley__rc_code(res.rc), "%s",
                          res.msg[0] ? res.msg : parley_strerror(res.rc));
        json_decref(res.body);
        return res.rc;
    }
    if (err)
        err->status = res.rc;
    if (res.rc != expect_status) {
        json_t *e = json_object_get(res.body, "error");
        if (json_is_object(e))
            parley__set_error_json(err, e);
        else
            parley__set_error(err, "http_error", "unexpected HTTP status %d", res.rc);
        if (err)
            err->status = res.rc;
        json_decref(res.body);
        return PARLEY_ESERVER;
    }
    if (!json_is_object(res.body)) {
        parley__set_error(err, "protocol", "response body is not a JSON object");
        json_decref(res.body);
        return PARLEY_EPROTO;
    }
    *out_body = res.body;
    return PARLEY_OK;
}

static int take_credentials(json_t *body, char **out_token, char **out_user_id, parley_error_t *err)
{
    const char *tok = json_string_value(json_object_get(body, "token"));
    const char *uid = json_string_value(json_object_get(body, "user_id"));
    if (tok == NULL || uid == NULL) {
        parley__set_error(err, "protocol", "response lacks token or user_id");
        return PARLEY_EPROTO;
    }
    char *t = strdup(tok);
    char *u = strdup(uid);
    if (t == NULL || u == NULL) {
        free(t);
        free(u);
        parley__set_error(err, "no_memory", "out of memory");
        return PARLEY_ENOMEM;
    }
    if (out_token)
        *out_token = t;
    else
        free(t);
    if (out_user_id)
        *out_user_id = u;
    else
        free(u);
    return PARLEY_OK;
}

static int account_call(const char *url, const char *path, int expect, const char *username,
                        const char *password, const char *extra_key, const char *extra_val,
                        char **out_token, char **out_user_id, parley_error_t *err)
{
    if (username == NULL || password == NULL) {
        parley__set_error(err, "invalid_argument", "username and password are required");
        return PARLEY_EINVAL;
    }
    json_t *req = json_pack("{s:s, s:s}", "username", username, "password", password);
    if (req == NULL) {
        parley__set_error(err, "invalid_argument", "username/password are not valid UTF-8");
        return PARLEY_EINVAL;
    }
    if (extra_val != NULL)
        json_object_set_new(req, extra_key, json_string(extra_val));
    json_t *body = NULL;
    int rc = http_blocking(url, "POST", path, NULL, req, expect, &body, err);
    json_decref(req);
    if (rc == PARLEY_OK)
        rc = take_credentials(body, out_token, out_user_id, err);
    json_decref(body);
    return rc;
}

int parley_register(const char *url, const char *username, const char *password,
                    const char *display_name, char **out_token, char **out_user_id,
                    parley_error_t *err)
{
    return account_call(url, "/v1/register", 201, username, password, "display_name", display_name,
                        out_token, out_user_id, err);
}

int parley_login(const char *url, const char *username, const char *password,
                 const char *device_name, char **out_token, char **out_user_id, parley_error_t *err)
{
    return account_call(url, "/v1/login", 200, username, password, "device_name", device_name,
                        out_token, out_user_id, err);
}

int parley_logout(const char *url, const char *token, parley_error_t *err)
{
    if (token == NULL) {
        parley__set_error(err, "invalid_argument", "no token");
        return PARLEY_EINVAL;
    }
    json_t *req = json_object();
    json_t *body = NULL;
    int rc = http_blocking(url, "POST", "/v1/logout", token, req, 200, &body, err);
    json_decref(req);
    json_decref(body);
    return rc;
}
