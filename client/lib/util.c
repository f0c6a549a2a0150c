/* SPDX-License-Identifier: MIT */
/* util.c -- libparley helpers: URL parsing, error filling, WebSocket accept key. */
#include "lib_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

const char *parley_strerror(int rc)
{
    switch (rc) {
    case PARLEY_OK:
        return "success";
    case PARLEY_EINVAL:
        return "invalid argument";
    case PARLEY_ENOMEM:
        return "out of memory";
    case PARLEY_EIO:
        return "network error";
    case PARLEY_ETIMEDOUT:
        return "timed out";
    case PARLEY_EPROTO:
        return "protocol error";
    case PARLEY_ESERVER:
        return "server error";
    case PARLEY_EDISCONNECTED:
        return "disconnected";
    case PARLEY_ECLOSED:
        return "client closed";
    default:
        return "unknown error";
    }
}

const char *parley__rc_code(int rc)
{
    switch (rc) {
    case PARLEY_EINVAL:
        return "invalid_argument";
    case PARLEY_ENOMEM:
        return "no_memory";
    case PARLEY_EIO:
        return "network";
    case PARLEY_ETIMEDOUT:
        return "timeout";
    case PARLEY_EPROTO:
        return "protocol";
    case PARLEY_EDISCONNECTED:
        return "disconnected";
    case PARLEY_ECLOSED:
        return "closed";
    default:
        return "error";
    }
}

void parley__set_error(parley_error_t *err, const char *code, const char *fmt, ...)
{
    if (err == NULL)
        return;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

void parley__set_error_rc(parley_error_t *err, int rc)
{
    parley__set_error(err, parley__rc_code(rc), "%s", parley_strerror(rc));
}

void parley__set_error_json(parley_error_t *err, const json_t *error)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    parley__set_error(err, code ? code : "error", "%s", msg ? msg : "server error");
}

int parley__buf_append(char **buf, size_t *len, const char *at, size_t n, size_t max)
{
    if (n > max || *len > max - n)
        return -1;
    char *nb = realloc(*buf, *len + n + 1);
    if (nb == NULL)
        return -1;
    *buf = nb;
    memcpy(nb + *len, at, n);
    *len += n;
    nb[*len] = '\0';
    return 0;
}

uint64_t parley__now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

int parley__url_parse(const char *url, parley__url_t *out)
{
    if (url == NULL)
        return PARLEY_EINVAL;
    memset(out, 0, sizeof(*out));
    const char *p;
    bool is_ws;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        is_ws = false;
    } else if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        is_ws = true;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        is_ws = false;
        out->tls = true;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        is_ws = true;
        out->tls = true;
    } else {
        return PARLEY_EINVAL;
    }
    /* Host: "[v6]" or up to ':' or '/'. */
    const char *hend;
    const char *after;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL)
            return PARLEY_EINVAL;
        p++;
        after = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        after = hend;
    }
    size_t hlen = (size_t)(hend - p);
    if (hlen == 0 || hlen >= sizeof(out->host))
        return PARLEY_EINVAL;
    memcpy(out->host, p, hlen);
    out->port = out->tls ? 443 : 80;
    p = after;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return PARLEY_EINVAL;
        out->port = (int)port;
        p = end;
    }
    if (*p != '\0' && *p != '/')
        return PARLEY_EINVAL;
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(out->prefix))
        return PARLEY_EINVAL;
    if (is_ws && plen > 0) {
        memcpy(out->ws_path, p, plen);
        /* For ws:// URLs with a path, HTTP calls go to the server root. */
    } else {
        memcpy(out->prefix, p, plen);
        snprintf(out->ws_path, sizeof(out->ws_path), "%s/v1/ws", out->prefix);
    }
    return PARLEY_OK;
}

int parley__ws_accept(const char *key, char *out, size_t cap)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s%s", key, guid);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return PARLEY_EINVAL;
    if (EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return PARLEY_EPROTO;
    if (cap < sodium_base64_ENCODED_LEN(20, sodium_base64_VARIANT_ORIGINAL))
        return PARLEY_EINVAL;
    sodium_bin2base64(out, cap, md, mdlen, sodium_base64_VARIANT_ORIGINAL);
    return PARLEY_OK;
}
