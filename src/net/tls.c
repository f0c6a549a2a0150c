/* SPDX-License-Identifier: MIT */
/* tls.c -- server-side TLS over two memory BIOs (OpenSSL 3). No I/O: see
 * tls.h; net/conn.c moves the bytes. */
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/log.h"

struct pl_tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl (SSL_set_bio); NULL while idle once established */
    size_t rgrow;     /* bytes fed since rbio was last renewed */
    size_t wgrow;     /* bytes produced since wbio was last renewed */
    uint64_t born;    /* accept time (the caller's clock) */
};

/* Mozilla "intermediate" (server side, v5.7): TLS 1.2 suites with forward
 * secrecy and AEAD only; TLS 1.3 suites are OpenSSL's defaults, all AEAD. */
static const char intermediate_12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

/* ALPN: http/1.1 is all parleyd speaks (RFC 7301 3.2: no overlap => alert,
 * but a client that offers only h2 is better served by http/1.1 anyway:
 * browsers always offer it, so "no overlap" means a non-browser client, and
 * we let the handshake go on without ALPN). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    static const unsigned char mine[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, mine, sizeof mine - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int pl_tls_ctx_policy(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, intermediate_12) != 1)
        return PL_EINVAL;
    /* No renegotiation (TLS 1.2; 1.3 has none), no compression, the
     * server's suite order (all are strong; it prefers AES-GCM with AES-NI
     * and lets ChaCha20 win for clients that prefer it). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    /* Buffers only while a record is in flight: an idle connection keeps
     * none (see docs/performance.md, "TLS"). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    /* Session tickets (stateless resumption) stay on; the stateful cache is
     * useless across loops and costs memory. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    return 0;
}

/* OpenSSL's reason for the last failure, for an error message. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, cap, "unknown error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

int pl_tls_ctx_load(const char *cert_path, const char *key_path, SSL_CTX **out, char *err,
                    size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || pl_tls_ctx_policy(ctx) != 0) {
        snprintf(err, errlen, "tls: cannot set up a context: %s", ssl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        return PL_EINVAL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        snprintf(err, errlen, "tls_cert '%s': %s", cert_path, ssl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        return PL_EINVAL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(err, errlen, "tls_key '%s' does not match tls_cert '%s'", key_path, cert_path);
        else
            snprintf(err, errlen, "tls_key '%s': %s", key_path, ssl_reason(why, sizeof why));
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return PL_EINVAL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls_key '%s' does not match tls_cert '%s': %s", key_path, cert_path,
                 ssl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        return PL_EINVAL;
    }
    *out = ctx;
    return 0;
}

static BIO *fresh_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b)
        BIO_set_mem_eof_return(b, -1);
    return b;
}

/* An established session gives its memory BIOs back while idle
 * (pl_tls_idle); these make them again before the session is used. False
 * when out of memory. */
static bool need_rbio(pl_tls_conn_t *t)
{
    if (t->rbio == NULL) {
        if ((t->rbio = fresh_bio()) == NULL)
            return false;
        SSL_set0_rbio(t->ssl, t->rbio);
        t->rgrow = 0;
    }
    return true;
}

static bool need_wbio(pl_tls_conn_t *t)
{
    if (t->wbio == NULL) {
        if ((t->wbio = fresh_bio()) == NULL)
            return false;
        SSL_set0_wbio(t->ssl, t->wbio);
        t->wgrow = 0;
    }
    return true;
}

pl_tls_conn_t *pl_tls_conn_new(SSL_CTX *ctx, uint64_t now)
{
    pl_tls_conn_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->born = now;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    /* An empty memory BIO reports "retry" rather than EOF. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

uint64_t pl_tls_born(const pl_tls_conn_t *t)
{
    return t->born;
}

void pl_tls_conn_free(pl_tls_conn_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

void pl_tls_feed(pl_tls_conn_t *t, const void *p, size_t n)
{
    /* A memory BIO write fails only when out of memory. */
    if (!need_rbio(t))
        return;
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0)
            break;
        p = (const char *)p + w;
        n -= (size_t)w;
        t->rgrow += (size_t)w;
    }
}

/* The session's failure reason, at debug (a bad handshake is the peer's
 * problem, not the server's). */
static void log_failure(const char *what, int code)
{
    char why[256];
    unsigned long e = ERR_peek_error();
    if (e != 0)
        ERR_error_string_n(e, why, sizeof why);
    else
        snprintf(why, sizeof why, "ssl_error=%d", code);
    ERR_clear_error();
    pl_log(PL_LOG_DEBUG, "tls", "%s failed err=%s", what, why);
}

int pl_tls_read(pl_tls_conn_t *t, void *out, size_t cap)
{
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    /* Reading may also write (handshake messages, a KeyUpdate's answer). */
    if (!need_rbio(t) || !need_wbio(t))
        return PL_EPROTO;
    /* SSL_read runs the handshake first while it is not finished. */
    int r = SSL_read(t->ssl, out, (int)cap);
    if (r > 0)
        return r;
    int code = SSL_get_error(t->ssl, r);
    switch (code) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* memory BIOs never block writing */
        return PL_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        log_failure(SSL_is_init_finished(t->ssl) ? "read" : "handshake", code);
        return PL_EPROTO;
    }
}

int pl_tls_write(pl_tls_conn_t *t, const void *p, size_t n)
{
    if (!SSL_is_init_finished(t->ssl) || !need_wbio(t))
        return PL_EPROTO;
    size_t before = (size_t)BIO_ctrl_pending(t->wbio);
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0) {
            log_failure("write", SSL_get_error(t->ssl, w));
            return PL_EPROTO;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    t->wgrow += (size_t)BIO_ctrl_pending(t->wbio) - before;
    return 0;
}

void pl_tls_close_notify(pl_tls_conn_t *t)
{
    if (!SSL_is_init_finished(t->ssl) || !need_wbio(t))
        return;
    size_t before = (size_t)BIO_ctrl_pending(t->wbio);
    if (SSL_shutdown(t->ssl) < 0)
        ERR_clear_error();
    t->wgrow += (size_t)BIO_ctrl_pending(t->wbio) - before;
}

size_t pl_tls_out_pending(const pl_tls_conn_t *t)
{
    return t->wbio ? (size_t)BIO_ctrl_pending(t->wbio) : 0;
}

size_t pl_tls_out_take(pl_tls_conn_t *t, void *out, size_t cap)
{
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    if (t->wbio == NULL)
        return 0;
    int r = BIO_read(t->wbio, out, (int)cap);
    return r > 0 ? (size_t)r : 0;
}

bool pl_tls_in_pending(const pl_tls_conn_t *t)
{
    return (t->rbio && BIO_ctrl_pending(t->rbio) > 0) || SSL_pending(t->ssl) > 0;
}

bool pl_tls_established(const pl_tls_conn_t *t)
{
    return SSL_is_init_finished(t->ssl);
}

const char *pl_tls_version(const pl_tls_conn_t *t)
{
    return SSL_is_init_finished(t->ssl) ? SSL_get_version(t->ssl) : "";
}

const char *pl_tls_cipher(const pl_tls_conn_t *t)
{
    const char *c = SSL_get_cipher_name(t->ssl);
    return c ? c : "";
}

/* A memory BIO keeps the largest buffer it ever held (BIO_reset clears it
 * but does not shrink it): after a 64 KiB read, 64 KiB would stay with an
 * idle connection, and the handshake alone leaves ~2 KB in the two. Each
 * memory BIO also costs ~330 bytes empty (the BIO, its lock, its BUF_MEM
 * pair). So once the session is established, an emptied BIO is freed and
 * made again at the next use (need_rbio / need_wbio): a few small
 * allocations per read or flush of a TLS connection for ~700 B less per idle
 * one (docs/performance.md, "TLS on every loop"). During the handshake
 * the BIOs stay (OpenSSL's buffering BIO is stacked on the write side then)
 * and are only renewed when they held anything. */
#define BIO_KEEP_MAX 0

void pl_tls_idle(pl_tls_conn_t *t)
{
    bool up = SSL_is_init_finished(t->ssl);
    if (t->rbio && (up || t->rgrow > BIO_KEEP_MAX) && BIO_ctrl_pending(t->rbio) == 0) {
        BIO *b = up ? NULL : fresh_bio();
        if (b || up) {
            SSL_set0_rbio(t->ssl, b); /* frees the old one */
            t->rbio = b;
            t->rgrow = 0;
        }
    }
    if (t->wbio && (up || t->wgrow > BIO_KEEP_MAX) && BIO_ctrl_pending(t->wbio) == 0) {
        BIO *b = up ? NULL : fresh_bio();
        if (b || up) {
            SSL_set0_wbio(t->ssl, b);
            t->wbio = b;
            t->wgrow = 0;
        }
    }
}

bool pl_tls_looks_like_http(const void *p, size_t n)
{
    /* A TLS record starts with its content type: 0x16 (handshake) for a
     * ClientHello. An HTTP request line starts with an upper-case token. */
    const unsigned char *s = p;
    if (n == 0 || s[0] == 0x16)
        return false;
    size_t i = 0;
    while (i < n && i < 8 && s[i] >= 'A' && s[i] <= 'Z')
        i++;
    return i > 0 && (i == n || s[i] == ' ');
}
