/* SPDX-License-Identifier: MIT */
/* tls.c -- libparley's client TLS (see tls.h): one SSL_CTX per process,
 * memory BIOs for the libuv transports, a socket BIO for blocking media. */
#include "tls.h"

#include "parley.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct parley__tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* memory BIOs (NULL for a blocking fd session) */
    char *pend;       /* plaintext queued before the handshake finished */
    size_t pend_len;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cfg_ca_file; /* NULL: the system's CAs */
static bool cfg_insecure;
static SSL_CTX *cfg_ctx; /* made on first use, remade after parley_tls_config */

int parley_tls_config(const char *ca_file, bool insecure)
{
    pthread_mutex_lock(&cfg_lock);
    free(cfg_ca_file);
    cfg_ca_file = ca_file ? strdup(ca_file) : NULL;
    cfg_insecure = insecure;
    SSL_CTX_free(cfg_ctx);
    cfg_ctx = NULL;
    pthread_mutex_unlock(&cfg_lock);
    return PARLEY_OK;
}

/* The process' context (a new reference), or NULL with err. */
static SSL_CTX *get_ctx(char *err, size_t errlen)
{
    pthread_mutex_lock(&cfg_lock);
    if (cfg_ctx == NULL) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        int ok = ctx != NULL && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
        if (ok && cfg_ca_file)
            ok = SSL_CTX_load_verify_locations(ctx, cfg_ca_file, NULL) == 1;
        else if (ok)
            ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
        if (!ok) {
            snprintf(err, errlen, "TLS: cannot load CA certificates%s%s",
                     cfg_ca_file ? " from " : "", cfg_ca_file ? cfg_ca_file : "");
            SSL_CTX_free(ctx);
            ERR_clear_error();
            pthread_mutex_unlock(&cfg_lock);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, cfg_insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
        cfg_ctx = ctx;
    }
    SSL_CTX_up_ref(cfg_ctx);
    SSL_CTX *ctx = cfg_ctx;
    pthread_mutex_unlock(&cfg_lock);
    return ctx;
}

/* SNI and the identity the certificate must carry: a name, or an address. */
static void set_peer(SSL *ssl, const char *host)
{
    unsigned char buf[16];
    bool is_ip = inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
}

static void failure(SSL *ssl, int r, char *err, size_t errlen)
{
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_error();
    char why[256] = "";
    if (e)
        ERR_error_string_n(e, why, sizeof why);
    if (v != X509_V_OK)
        snprintf(err, errlen, "TLS: server certificate not trusted: %s",
                 X509_verify_cert_error_string(v));
    else
        snprintf(err, errlen, "TLS handshake failed: %s", why[0] ? why : "ssl_error");
    (void)r;
    ERR_clear_error();
}

parley__tls_t *parley__tls_new(const char *host, char *err, size_t errlen)
{
    SSL_CTX *ctx = get_ctx(err, errlen);
    if (!ctx)
        return NULL;
    parley__tls_t *t = calloc(1, sizeof *t);
    t->ssl = t ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx); /* the session holds its own reference */
    if (!t || !t->ssl) {
        snprintf(err, errlen, "TLS: out of memory");
        free(t);
        return NULL;
    }
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    set_peer(t->ssl, host);
    SSL_set_connect_state(t->ssl);
    return t;
}

void parley__tls_free(parley__tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->pend);
    free(t);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status; /* errors surface as read errors on the same stream */
    free(w);
}

/* Writes the ciphertext waiting in wbio to s. */
static int flush(parley__tls_t *t, uv_stream_t *s)
{
    size_t n = (size_t)BIO_ctrl_pending(t->wbio);
    if (n == 0)
        return 0;
    uv_write_t *w = malloc(sizeof *w + n);
    if (!w)
        return -1;
    char *p = (char *)(w + 1);
    int got = BIO_read(t->wbio, p, (int)n);
    uv_buf_t b = uv_buf_init(p, got > 0 ? (unsigned)got : 0);
    if (uv_write(w, s, &b, 1, on_written) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Encrypts the queued plaintext once the handshake is done. */
static int drain_pending(parley__tls_t *t)
{
    if (t->pend_len == 0 || !SSL_is_init_finished(t->ssl))
        return 0;
    size_t off = 0;
    while (off < t->pend_len) {
        int w = SSL_write(t->ssl, t->pend + off, (int)(t->pend_len - off));
        if (w <= 0)
            return -1; /* memory BIOs do not block: a failed session */
        off += (size_t)w;
    }
    t->pend_len = 0;
    return 0;
}

int parley__tls_send(parley__tls_t *t, uv_stream_t *s, const void *p, size_t n)
{
    char *np = realloc(t->pend, t->pend_len + n + 1);
    if (!np)
        return -1;
    t->pend = np;
    memcpy(t->pend + t->pend_len, p, n);
    t->pend_len += n;
    if (!SSL_is_init_finished(t->ssl)) {
        /* Starts (or continues) the handshake: the ClientHello goes out. */
        int r = SSL_do_handshake(t->ssl);
        if (r != 1 && SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
            return -1;
    }
    if (drain_pending(t) < 0)
        return -1;
    return flush(t, s);
}

int parley__tls_recv(parley__tls_t *t, uv_stream_t *s, const char *p, size_t n,
                     void (*deliver)(void *ud, const char *p, size_t n), void *ud, char *err,
                     size_t errlen)
{
    if (n > 0 && BIO_write(t->rbio, p, (int)n) != (int)n) {
        snprintf(err, errlen, "TLS: out of memory");
        return -1;
    }
    char buf[16384];
    for (;;) {
        int r = SSL_read(t->ssl, buf, sizeof buf);
        if (r > 0) {
            deliver(ud, buf, (size_t)r);
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN)
            break; /* need more, or close_notify (the TCP EOF follows) */
        failure(t->ssl, r, err, errlen);
        flush(t, s); /* the alert */
        return -1;
    }
    if (drain_pending(t) < 0) {
        snprintf(err, errlen, "TLS: session failed");
        return -1;
    }
    return flush(t, s);
}

parley__tls_t *parley__tls_connect_fd(int fd, const char *host, char *err, size_t errlen)
{
    SSL_CTX *ctx = get_ctx(err, errlen);
    if (!ctx)
        return NULL;
    parley__tls_t *t = calloc(1, sizeof *t);
    t->ssl = t ? SSL_new(ctx) : NULL;
    SSL_CTX_free(ctx);
    if (!t || !t->ssl) {
        snprintf(err, errlen, "TLS: out of memory");
        free(t);
        return NULL;
    }
    SSL_set_fd(t->ssl, fd);
    set_peer(t->ssl, host);
    int r = SSL_connect(t->ssl);
    if (r != 1) {
        failure(t->ssl, r, err, errlen);
        parley__tls_free(t);
        return NULL;
    }
    return t;
}

long parley__tls_fd_send(parley__tls_t *t, const void *p, size_t n)
{
    int w = SSL_write(t->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
    if (w > 0)
        return w;
    ERR_clear_error();
    return -1;
}

long parley__tls_fd_recv(parley__tls_t *t, void *p, size_t n)
{
    int r = SSL_read(t->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
}
