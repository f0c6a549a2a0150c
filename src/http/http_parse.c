/* SPDX-License-Identifier: MIT */
/* http_parse.c -- limits and request assembly around http-parser. No I/O. */
#include "http/http_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"

/* Bytes charged per header line for ": " and CRLF, so a flood of empty
 * headers still counts against max_header. */
#define HDR_OVERHEAD 4

static pl_http_parse_t *hp_of(http_parser *p)
{
    return (pl_http_parse_t *)p->data;
}

static int fail(pl_http_parse_t *hp, int status, const char *msg)
{
    hp->error_status = status;
    hp->error_msg = msg;
    return -1;
}

static int charge_header(pl_http_parse_t *hp, size_t n)
{
    hp->header_bytes += n;
    if (hp->header_bytes > hp->max_header)
        return fail(hp, 431, "request header fields too large");
    return 0;
}

/* Returns an owned NUL-terminated copy of b's bytes (b may be empty/NULL). */
static char *buf_dup(pl_buf_t *b, size_t skip, size_t len)
{
    pl_buf_reserve(b, 1);
    return pl_xstrndup(pl_buf_head(b) + skip, len);
}

static void flush_header(pl_http_parse_t *hp)
{
    pl_http_msg_t *m = hp->msg;
    if (hp->last != 2)
        return;
    if (m->nheaders == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->headers = pl_xrealloc(m->headers, m->cap * sizeof *m->headers);
    }
    pl_buf_reserve(&hp->value, 1);
    const char *v = pl_buf_head(&hp->value);
    size_t skip = 0, vl = hp->value.len;
    while (vl > 0 && (v[skip] == ' ' || v[skip] == '\t'))
        skip++, vl--;
    while (vl > 0 && (v[skip + vl - 1] == ' ' || v[skip + vl - 1] == '\t'))
        vl--;
    m->headers[m->nheaders].name = buf_dup(&hp->field, 0, hp->field.len);
    m->headers[m->nheaders].value = buf_dup(&hp->value, skip, vl);
    m->nheaders++;
    pl_buf_reset(&hp->field, 256);
    pl_buf_reset(&hp->value, 1024);
    hp->last = 0;
}

/* Where scan_head is in a request head. */
enum { HEAD_REQ_START, HEAD_REQ, HEAD_LINE, HEAD_NAME, HEAD_VALUE, HEAD_DONE };

/* Scans the bytes of a request head before http-parser sees them.
 * Debian's http-parser is built without HTTP_PARSER_STRICT: it ends a line at
 * a bare LF, joins an obs-fold line to the previous value and takes blanks
 * inside a field name. Each lets a proxy in front and this server read
 * different headers (request smuggling, header injection), so each is a
 * 400, as RFC 9112 allows (2.2: a bare CR; 5.1: whitespace between a field
 * name and its colon MUST be rejected; 5.2: obs-fold MAY be). A bare LF
 * (2.2 lets a recipient accept it) is refused too. Returns the reason, or
 * NULL. The scan stops at the empty line; on_message_complete restarts it
 * for the next request. */
static const char *scan_head(pl_http_parse_t *hp, const char *data, size_t len)
{
    for (size_t i = 0; i < len && hp->head != HEAD_DONE; i++) {
        char c = data[i];
        if (hp->head_cr) {
            hp->head_cr = false;
            if (c != '\n')
                return "CR without LF in the request head";
            if (hp->head == HEAD_LINE)
                hp->head = HEAD_DONE; /* the empty line */
            else if (hp->head != HEAD_REQ_START)
                hp->head = HEAD_LINE;
            continue;
        }
        if (c == '\r') {
            hp->head_cr = true;
        } else if (c == '\n') {
            return "LF without CR in the request head";
        } else if (hp->head == HEAD_REQ_START) {
            hp->head = HEAD_REQ;
        } else if (hp->head == HEAD_LINE) {
            if (c == ' ' || c == '\t')
                return "obsolete line folding (obs-fold) in a header";
            hp->head = HEAD_NAME;
        } else if (hp->head == HEAD_NAME) {
            if (c == ':')
                hp->head = HEAD_VALUE;
            else if (c == ' ' || c == '\t')
                return "whitespace in a header field name";
        }
    }
    return NULL;
}

static int on_message_begin(http_parser *p)
{
    pl_http_parse_t *hp = hp_of(p);
    hp->msg = pl_xcalloc(1, sizeof *hp->msg);
    pl_buf_init(&hp->msg->body);
    hp->header_bytes = 0;
    hp->last = 0;
    hp->in_message = true;
    hp->streaming = false;
    pl_buf_reset(&hp->url, 1024);
    pl_buf_reset(&hp->field, 256);
    pl_buf_reset(&hp->value, 1024);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    pl_http_parse_t *hp = hp_of(p);
    if (charge_header(hp, len) < 0)
        return -1;
    if (len)
        pl_buf_append(&hp->url, at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    pl_http_parse_t *hp = hp_of(p);
    if (charge_header(hp, len + (hp->last != 1 ? HDR_OVERHEAD : 0)) < 0)
        return -1;
    if (hp->last == 2)
        flush_header(hp);
    if (len)
        pl_buf_append(&hp->field, at, len);
    hp->last = 1;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    pl_http_parse_t *hp = hp_of(p);
    if (charge_header(hp, len) < 0)
        return -1;
    if (len)
        pl_buf_append(&hp->value, at, len);
    hp->last = 2;
    return 0;
}

/* RFC 9112 3.2: a Host value is a uri-host and an optional port; anything
 * that could change the meaning of a URL built from it is refused. */
static bool host_ok(const char *v)
{
    for (const unsigned char *s = (const unsigned char *)v; *s; s++)
        if (*s <= 0x20 || *s >= 0x7F || *s == '/' || *s == '\\' || *s == '?' || *s == '#' ||
            *s == '@')
            return false;
    return true;
}

/* RFC 9112 3.2: exactly one Host in HTTP/1.1 (HTTP/1.0 may omit it), never
 * two; RFC 9110 10.1.1: an Expect other than 100-continue gets 417, and an
 * HTTP/1.0 request's Expect is ignored. */
static int check_host_expect(pl_http_parse_t *hp, const http_parser *p)
{
    const pl_http_msg_t *m = hp->msg;
    size_t hosts = 0;
    const char *host = NULL;
    for (size_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->headers[i].name, "Host") == 0)
            hosts++, host = m->headers[i].value;
    if (hosts > 1)
        return fail(hp, 400, "more than one Host header");
    if (hosts == 0 && p->http_minor >= 1)
        return fail(hp, 400, "missing Host header");
    if (host && !host_ok(host))
        return fail(hp, 400, "invalid Host header");
    const char *expect = pl_http_msg_header(m, "Expect");
    hp->continue_due = false;
    if (expect && p->http_minor >= 1) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail(hp, 417, "unsupported expectation (only 100-continue)");
        hp->continue_due =
            (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    pl_http_parse_t *hp = hp_of(p);
    pl_http_msg_t *m = hp->msg;
    flush_header(hp);
    if (p->http_major != 1)
        return fail(hp, 400, "unsupported HTTP version");
    if (check_host_expect(hp, p) < 0)
        return -1;
    pl_buf_reserve(&hp->url, 1);
    if (memchr(pl_buf_head(&hp->url), '\0', hp->url.len) != NULL)
        return fail(hp, 400, "NUL in request target");
    const char *u = pl_buf_head(&hp->url);
    size_t ul = hp->url.len;
    const char *q = memchr(u, '?', ul);
    if (q) {
        m->path = buf_dup(&hp->url, 0, (size_t)(q - u));
        m->query = buf_dup(&hp->url, (size_t)(q - u) + 1, ul - (size_t)(q - u) - 1);
    } else {
        m->path = buf_dup(&hp->url, 0, ul);
        m->query = pl_xstrdup("");
    }
    snprintf(m->method, sizeof m->method, "%s", http_method_str((enum http_method)p->method));
    m->http_major = p->http_major;
    m->http_minor = p->http_minor;
    if (p->upgrade)
        hp->continue_due = false; /* an upgrade has no body to wait for */
    if (hp->on_headers && !p->upgrade) {
        int rc = hp->on_headers(hp->hook_ud, m);
        if (rc < 0) {
            hp->continue_due = false;
            return fail(hp, PL_HTTP_REFUSED, "refused");
        }
        hp->streaming = rc == 1;
        if (hp->streaming)
            return 0; /* the stream's owner enforces its own size limit */
    }
    /* Refuse a declared body over the cap before reading any of it (and
     * before a 100 Continue would invite it). */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > hp->max_body) {
        hp->continue_due = false;
        return fail(hp, 413, "request body too large");
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    pl_http_parse_t *hp = hp_of(p);
    /* The client sent the body without waiting: no 100 is needed (RFC 9110
     * 10.1.1 lets a server omit it once content arrived). */
    if (len)
        hp->continue_due = false;
    if (hp->streaming) {
        if (len && hp->on_body(hp->hook_ud, at, len) < 0)
            return fail(hp, PL_HTTP_REFUSED, "refused");
        return 0;
    }
    /* Chunked bodies have no declared length: enforce the cap as they grow. */
    if (len > hp->max_body || hp->msg->body.len > hp->max_body - len)
        return fail(hp, 413, "request body too large");
    if (len)
        pl_buf_append(&hp->msg->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    pl_http_parse_t *hp = hp_of(p);
    pl_http_msg_t *m = hp->msg;
    /* Keep the body NUL-terminated for callers that treat it as text. */
    pl_buf_reserve(&m->body, 1)[0] = '\0';
    m->keep_alive = http_should_keep_alive(p) != 0;
    m->upgrade = p->upgrade != 0;
    hp->complete = true;
    hp->in_message = false;
    hp->head = HEAD_REQ_START; /* the next request's head is scanned again */
    hp->head_cr = false;
    /* One request at a time: stop here until the caller takes it. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void pl_http_parse_init(pl_http_parse_t *hp, size_t max_header, size_t max_body)
{
    memset(hp, 0, sizeof *hp);
    http_parser_init(&hp->p, HTTP_REQUEST);
    hp->p.data = hp;
    hp->max_header = max_header;
    hp->max_body = max_body;
    pl_buf_init(&hp->url);
    pl_buf_init(&hp->field);
    pl_buf_init(&hp->value);
}

void pl_http_parse_set_hooks(pl_http_parse_t *hp, int (*headers_cb)(void *ud, pl_http_msg_t *m),
                             int (*body_cb)(void *ud, const char *data, size_t len), void *ud)
{
    hp->on_headers = headers_cb;
    hp->on_body = body_cb;
    hp->hook_ud = ud;
}

pl_http_msg_t *pl_http_msg_clone_head(const pl_http_msg_t *m)
{
    pl_http_msg_t *c = pl_xcalloc(1, sizeof *c);
    memcpy(c->method, m->method, sizeof c->method);
    c->path = pl_xstrdup(m->path ? m->path : "");
    c->query = pl_xstrdup(m->query ? m->query : "");
    pl_buf_init(&c->body);
    pl_buf_reserve(&c->body, 1)[0] = '\0';
    if (m->nheaders) {
        c->headers = pl_xcalloc(m->nheaders, sizeof *c->headers);
        c->cap = m->nheaders;
        for (size_t i = 0; i < m->nheaders; i++) {
            c->headers[i].name = pl_xstrdup(m->headers[i].name);
            c->headers[i].value = pl_xstrdup(m->headers[i].value);
        }
        c->nheaders = m->nheaders;
    }
    c->keep_alive = false; /* known only once the message completes */
    c->http_major = m->http_major;
    c->http_minor = m->http_minor;
    return c;
}

void pl_http_parse_dispose(pl_http_parse_t *hp)
{
    pl_http_msg_free(hp->msg);
    hp->msg = NULL;
    pl_buf_dispose(&hp->url);
    pl_buf_dispose(&hp->field);
    pl_buf_dispose(&hp->value);
}

int pl_http_parse_feed(pl_http_parse_t *hp, const char *data, size_t len, size_t *consumed)
{
    if (hp->error_status)
        return hp->error_status == 413 || hp->error_status == 431 ? PL_ETOOBIG : PL_EPROTO;
    if (hp->complete) {
        *consumed = 0;
        return 1;
    }
    const char *bad = hp->head != HEAD_DONE ? scan_head(hp, data, len) : NULL;
    if (bad != NULL) {
        fail(hp, 400, bad);
        return PL_EPROTO;
    }
    size_t n = http_parser_execute(&hp->p, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&hp->p);
    if (hp->complete) {
        /* Paused in on_message_complete, or an upgrade stopped the parser
         * right after the headers: either way n counts the request's bytes. */
        *consumed = n;
        return 1;
    }
    if (e != HPE_OK || n != len) {
        if (!hp->error_status)
            fail(hp, 400, e == HPE_OK ? "malformed request" : http_errno_description(e));
        return hp->error_status == 413 || hp->error_status == 431 ? PL_ETOOBIG : PL_EPROTO;
    }
    *consumed = n;
    return 0;
}

pl_http_msg_t *pl_http_parse_take(pl_http_parse_t *hp)
{
    if (!hp->complete)
        return NULL;
    pl_http_msg_t *m = hp->msg;
    hp->msg = NULL;
    hp->complete = false;
    hp->streaming = false;
    hp->continue_due = false;
    if (HTTP_PARSER_ERRNO(&hp->p) == HPE_PAUSED)
        http_parser_pause(&hp->p, 0);
    return m;
}

bool pl_http_parse_busy(const pl_http_parse_t *hp)
{
    return hp->in_message;
}

const char *pl_http_msg_header(const pl_http_msg_t *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->headers[i].name, name) == 0)
            return m->headers[i].value;
    return NULL;
}

bool pl_http_msg_header_list(const pl_http_msg_t *m, const char *name, pl_buf_t *out)
{
    bool any = false;
    for (size_t i = 0; i < m->nheaders; i++) {
        if (strcasecmp(m->headers[i].name, name) != 0)
            continue;
        if (any)
            pl_buf_lit(out, ", ");
        pl_buf_append(out, m->headers[i].value, strlen(m->headers[i].value));
        any = true;
    }
    if (any)
        pl_buf_append(out, "", 1); /* NUL-terminated */
    return any;
}

bool pl_http_token_list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *s = list;
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
        s = e;
    }
    return false;
}

void pl_http_msg_free(pl_http_msg_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nheaders; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    free(m->path);
    free(m->query);
    pl_buf_dispose(&m->body);
    free(m);
}
