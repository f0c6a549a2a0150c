/* SPDX-License-Identifier: MIT */
/* client_conn.c -- libparley's connection: resolve, TCP connect, the
 * WebSocket upgrade handshake, framing (parleyd's own decoder from src/ws,
 * masked frames out), pings, and reconnect with backoff. */
#include "client_internal.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "tls.h"

/* Largest WebSocket message accepted from the server (sync pages can be big). */
#define WS_MAX_MSG ((size_t)64 << 20)
/* Largest HTTP upgrade response header block. */
#define HS_MAX 16384

static void on_reconnect_timer(uv_timer_t *t);
static void on_ping_timer(uv_timer_t *t);

/* ------------------------------------------------------------------ */
/* Sending */

static void on_write_done(uv_write_t *w, int status)
{
    (void)status; /* errors surface as read errors / EOF on the same socket */
    free(w);
}

/* Frames payload as one masked client frame (RFC 6455 5.3: a fresh random
 * key per frame) and writes it. uv_write keeps the order of frames. Returns
 * 0, or -1 when the write could not start. */
static int write_frame(conn_t *k, unsigned opcode, const void *payload, size_t len)
{
    if (k->closing)
        return -1;
    /* One allocation holds the request and its bytes, freed in on_write_done. */
    uv_write_t *w = malloc(sizeof(*w) + PL_WS_MAX_HEADER + 4 + len);
    if (w == NULL)
        return -1;
    uint8_t *out = (uint8_t *)(w + 1);
    size_t hl = pl_ws_frame_header(out, opcode, true, len);
    out[1] |= 0x80; /* MASK */
    uint8_t *key = out + hl;
    randombytes_buf(key, 4);
    if (len)
        memcpy(key + 4, payload, len);
    pl_ws_unmask(key + 4, len, key); /* masking is the same XOR */
    if (k->tls) {
        int rc = parley__tls_send(k->tls, (uv_stream_t *)&k->tcp, out, hl + 4 + len);
        free(w);
        return rc;
    }
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)(hl + 4 + len));
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, on_write_done) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Encodes and queues one JSON text frame on the current connection. */
int parley__send_json(parley_client_t *c, const json_t *msg)
{
    conn_t *k = c->conn;
    if (k == NULL || !k->upgraded || k->closing)
        return PARLEY_EDISCONNECTED;
    char *s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL)
        return PARLEY_ENOMEM;
    if (c->trace)
        fprintf(stderr, "parley: >> %s\n", s);
    int rc = write_frame(k, PL_WS_OP_TEXT, s, strlen(s)); /* copies the bytes */
    free(s);
    if (rc < 0) {
        parley__conn_drop(c, 1006, "network", "write failed");
        return PARLEY_EDISCONNECTED;
    }
    return PARLEY_OK;
}

/* ------------------------------------------------------------------ */
/* Connection */

static void conn_unref(conn_t *k)
{
    if (--k->refs > 0)
        return;
    pl_ws_decoder_dispose(&k->dec);
    parley__tls_free(k->tls);
    free(k->in);
    free(k);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

void parley__conn_close(conn_t *k)
{
    if (k->closing)
        return;
    k->closing = true;
    if (k->gai_pending)
        uv_cancel((uv_req_t *)&k->gai);
    uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
}

/* Detaches and closes the current connection, fails its in-flight requests
 * and schedules a reconnect (unless the client is closing or auth failed). */
void parley__conn_drop(parley_client_t *c, int close_code, const char *code, const char *msg)
{
    conn_t *k = c->conn;
    if (k == NULL)
        return;
    c->conn = NULL;
    k->c = NULL;
    parley__conn_close(k);
    uv_timer_stop(&c->ping_timer);
    uv_timer_stop(&c->retry_timer);
    c->authed = false;
    c->sync_inflight = false;
    c->resync_needed = false;
    c->seeding = false;
    free(c->seed_after);
    c->seed_after = NULL;
    json_array_clear(c->held);
    json_object_clear(c->sync_base);
    json_object_clear(c->sync_seen);
    c->last_close_code = close_code;
    if (!c->auth_refused)
        parley__set_error(&c->last_err, code, "%s (close %d)", msg, close_code);
    parley__pending_fail(c, k->gen, "disconnected", "connection lost before the reply");
    if (c->torn_down || c->free_requested)
        return;
    if (c->auth_refused) {
        parley__pending_fail(c, 0, c->last_err.code, c->last_err.message);
        parley__set_state(c, PARLEY_STATE_CLOSED, &c->last_err);
        return;
    }
    /* Exponential backoff with +-25 % jitter. */
    uint64_t base = c->backoff_cur ? c->backoff_cur : c->backoff_min;
    uint64_t delay = base * (750 + randombytes_uniform(501)) / 1000;
    c->backoff_cur = base * 2 > c->backoff_max ? c->backoff_max : (unsigned)(base * 2);
    parley__set_state(c, PARLEY_STATE_WAITING, &c->last_err);
    if (c->conn == NULL && !c->torn_down && !c->free_requested && c->state == PARLEY_STATE_WAITING)
        uv_timer_start(&c->reconnect_timer, on_reconnect_timer, delay, 0);
}

/* Decodes buffered bytes and reacts to what arrived. */
static void ws_process(parley_client_t *c, conn_t *k)
{
    bool closed = false;
    while (k->in_off < k->in_len && !closed) {
        size_t used = 0;
        pl_ws_msg_t m;
        int rc = pl_ws_decode_client(&k->dec, k->in + k->in_off, k->in_len - k->in_off, WS_MAX_MSG,
                                     &used, &m);
        if (rc == PL_EAGAIN) {
            k->in_off += used;
            break;
        }
        if (rc < 0) {
            parley__conn_drop(c, 1002, "protocol", "WebSocket protocol error");
            return;
        }
        /* m may point into k->in: handle it before moving the buffer. */
        if (m.opcode == PL_WS_OP_TEXT) {
            parley__handle_frame(c, m.data, m.len);
        } else if (m.opcode == PL_WS_OP_PING) {
            write_frame(k, PL_WS_OP_PONG, m.data, m.len); /* RFC 6455 5.5.2 */
        } else if (m.opcode == PL_WS_OP_CLOSE) {
            /* RFC 6455 5.5.1: echo the code; the server closes TCP. */
            k->close_code = (int)m.close_code;
            uint8_t body[2] = {(uint8_t)(m.close_code >> 8), (uint8_t)m.close_code};
            write_frame(k, PL_WS_OP_CLOSE, body, m.close_code == 1005 ? 0 : 2);
            closed = true;
        }
        k->in_off += used;
        if (k->closing || c->conn != k)
            return;
    }
    /* Compact the input buffer. */
    if (k->in_off > 0) {
        memmove(k->in, k->in + k->in_off, k->in_len - k->in_off);
        k->in_len -= k->in_off;
        k->in_off = 0;
    }
    if (closed) {
        int code = k->close_code ? k->close_code : 1005;
        const char *why = code == 4008   ? "server closed a slow consumer"
                          : code == 4000 ? "server closed an idle connection"
                          : code == 1001 ? "server shutting down"
                                         : "server closed the connection";
        parley__conn_drop(c, code, "disconnected", why);
    }
}

/* Validates the 101 response and switches to WebSocket framing. Returns the
 * header length consumed, 0 when incomplete, -1 on failure. */
static long handshake_check(conn_t *k)
{
    char *end = memmem(k->in, k->in_len, "\r\n\r\n", 4);
    if (end == NULL)
        return k->in_len > HS_MAX ? -1 : 0;
    *end = '\0';
    long used = (long)(end - (char *)k->in) + 4;
    char *save = NULL;
    char *line = strtok_r((char *)k->in, "\r\n", &save);
    int major, minor, status;
    if (line == NULL || sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 ||
        status != 101)
        return -1;
    bool upgrade = false, connection = false, accept_ok = false;
    char expect[64];
    if (parley__ws_accept(k->key, expect, sizeof(expect)) < 0)
        return -1;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (strcasecmp(line, "upgrade") == 0 && strcasestr(v, "websocket"))
            upgrade = true;
        else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "upgrade"))
            connection = true;
        else if (strcasecmp(line, "sec-websocket-accept") == 0 && strcmp(v, expect) == 0)
            accept_ok = true;
    }
    return (upgrade && connection && accept_ok) ? used : -1;
}

static void ws_open(parley_client_t *c, conn_t *k)
{
    k->upgraded = true;
    parley__set_state(c, PARLEY_STATE_AUTHENTICATING, NULL);
    if (c->ping_interval > 0)
        uv_timer_start(&c->ping_timer, on_ping_timer, c->ping_interval, c->ping_interval);
    if (parley__auth_start(c) < 0 && c->conn == k)
        parley__conn_drop(c, 1006, "network", "cannot send auth");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *k = h->data;
    if (k->in_cap - k->in_len < 16384) {
        size_t ncap = k->in_cap ? k->in_cap * 2 : 65536;
        uint8_t *n = realloc(k->in, ncap);
        if (n == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        k->in = n;
        k->in_cap = ncap;
    }
    *buf = uv_buf_init((char *)k->in + k->in_len, (unsigned)(k->in_cap - k->in_len));
}

/* wss://: plaintext the session decrypted, appended to k->in. */
static void tls_deliver(void *ud, const char *p, size_t n)
{
    conn_t *k = ud;
    if (k->in_cap - k->in_len < n) {
        size_t ncap = (k->in_len + n) * 2;
        uint8_t *np = realloc(k->in, ncap);
        if (np == NULL) {
            k->tls_oom = true;
            return;
        }
        k->in = np;
        k->in_cap = ncap;
    }
    memcpy(k->in + k->in_len, p, n);
    k->in_len += n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *k = s->data;
    parley_client_t *c = k->c;
    if (c == NULL || k->closing)
        return;
    if (nread == 0)
        return;
    parley__enter(c);
    if (nread < 0) {
        int code = k->close_code ? k->close_code : 1006;
        parley__conn_drop(c, code, "disconnected",
                          nread == UV_EOF ? "connection closed by server"
                                          : uv_strerror((int)nread));
        goto out;
    }
    c->last_rx = parley__now_ms();
    if (k->tls) {
        /* The ciphertext landed after in_len (on_alloc): take it out, then
         * put the plaintext there instead. */
        char *cipher = malloc((size_t)nread);
        char why[300];
        if (cipher == NULL) {
            parley__conn_drop(c, 1006, "no_memory", "out of memory");
            goto out;
        }
        memcpy(cipher, k->in + k->in_len, (size_t)nread);
        int rc = parley__tls_recv(k->tls, (uv_stream_t *)&k->tcp, cipher, (size_t)nread,
                                  tls_deliver, k, why, sizeof why);
        free(cipher);
        if (rc < 0 || k->tls_oom) {
            parley__conn_drop(c, 1015, "tls", k->tls_oom ? "out of memory" : why);
            goto out;
        }
        if (k->in_len == 0)
            goto out;
    } else {
        k->in_len += (size_t)nread;
    }
    if (!k->upgraded) {
        long used = handshake_check(k);
        if (used < 0) {
            parley__conn_drop(c, 1002, "protocol", "WebSocket upgrade refused");
            goto out;
        }
        if (used == 0)
            goto out;
        memmove(k->in, k->in + used, k->in_len - (size_t)used);
        k->in_len -= (size_t)used;
        ws_open(c, k);
        if (c->conn != k || k->in_len == 0)
            goto out;
    }
    ws_process(c, k);
out:
    parley__leave(c);
}

static void on_hs_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *k = req->data;
    parley_client_t *c = k->c;
    if (c == NULL || k->closing)
        return;
    parley__enter(c);
    if (status < 0) {
        parley__conn_drop(c, 1006, "network", uv_strerror(status));
        goto out;
    }
    /* Frames go out as header + payload writes; don't let Nagle hold them. */
    uv_tcp_nodelay(&k->tcp, 1);
    uint8_t raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(k->key, sizeof(k->key), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    const char *v6 = strchr(c->url.host, ':') ? "[" : "";
    size_t cap = 1024 + strlen(c->url.ws_path) + strlen(c->url.host);
    uv_write_t *w = malloc(sizeof(*w) + cap);
    if (w == NULL) {
        parley__conn_drop(c, 1006, "no_memory", "out of memory");
        goto out;
    }
    char *p = (char *)(w + 1);
    int n = snprintf(p, cap,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nUser-Agent: libparley\r\n\r\n",
                     c->url.ws_path, v6, c->url.host, *v6 ? "]" : "", c->url.port, k->key);
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    int rc;
    if (c->url.tls) {
        char why[300];
        k->tls = parley__tls_new(c->url.host, why, sizeof why);
        if (k->tls == NULL) {
            free(w);
            parley__conn_drop(c, 1015, "tls", why);
            goto out;
        }
        /* The upgrade request waits in the session until the handshake is
         * done; the ClientHello goes out now. */
        rc = parley__tls_send(k->tls, (uv_stream_t *)&k->tcp, p, (size_t)n) < 0 ? UV_EIO : 0;
        free(w);
    } else {
        rc = uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, on_hs_written);
        if (rc < 0)
            free(w);
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (rc < 0)
        parley__conn_drop(c, 1006, "network", uv_strerror(rc));
out:
    parley__leave(c);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    conn_t *k = g->data;
    k->gai_pending = false;
    parley_client_t *c = k->c;
    if (c != NULL && !k->closing) {
        parley__enter(c);
        int rc = status;
        if (rc == 0 && res == NULL)
            rc = UV_EAI_NONAME;
        if (rc == 0) {
            k->creq.data = k;
            rc = uv_tcp_connect(&k->creq, &k->tcp, res->ai_addr, on_connect);
        }
        if (rc < 0)
            parley__conn_drop(c, 1006, "network", uv_strerror(rc));
        parley__leave(c);
    }
    uv_freeaddrinfo(res);
    conn_unref(k);
}

void parley__start_attempt(parley_client_t *c)
{
    conn_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto fail;
    if (uv_tcp_init(c->loop, &k->tcp) < 0) {
        free(k);
        goto fail;
    }
    k->tcp.data = k;
    k->refs = 1;
    k->c = c;
    k->gen = ++c->gen;
    c->conn = k;
    c->last_rx = parley__now_ms();
    parley__set_state(c, PARLEY_STATE_CONNECTING, NULL);
    if (c->conn != k)
        return;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->url.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = strchr(c->url.host, ':') ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    k->gai.data = k;
    int rc = uv_getaddrinfo(c->loop, &k->gai, on_resolved, c->url.host, port, &hints);
    if (rc < 0) {
        parley__conn_drop(c, 1006, "network", uv_strerror(rc));
        return;
    }
    k->gai_pending = true;
    k->refs++;
    return;
fail:
    /* Out of memory: retry later like any failed attempt. */
    uv_timer_start(&c->reconnect_timer, on_reconnect_timer, c->backoff_max, 0);
}

static void on_reconnect_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    parley__enter(c);
    if (c->conn == NULL && !c->auth_refused)
        parley__start_attempt(c);
    parley__leave(c);
}

static void on_ping_timer(uv_timer_t *t)
{
    parley_client_t *c = t->data;
    conn_t *k = c->conn;
    if (k == NULL || !k->upgraded)
        return;
    parley__enter(c);
    if (parley__now_ms() - c->last_rx > 2ull * c->ping_interval + 1000)
        parley__conn_drop(c, 1006, "timeout", "no traffic from the server");
    else if (write_frame(k, PL_WS_OP_PING, "p", 1) < 0)
        parley__conn_drop(c, 1006, "network", "write failed");
    parley__leave(c);
}
