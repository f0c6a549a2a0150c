/* SPDX-License-Identifier: MIT */
/* fuzz_tls.c -- libFuzzer target for the server side of net/tls.c: the
 * bytes a TLS client sends (ClientHello, records, alerts), fed through the
 * same calls conn.c makes for a real connection (pl_tls_feed, pl_tls_read,
 * pl_tls_out_take, pl_tls_idle, pl_tls_write once established), with the
 * server policy and a certificate made in memory at start.
 * Input: byte 0 sets the size of the pieces the rest is fed in (1..256, as
 * TCP may split it anywhere); the rest is the client's byte stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/log.h"
#include "net/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A self-signed P-256 certificate, made once (no files in a fuzz target). */
static SSL_CTX *server_ctx(void)
{
    static SSL_CTX *ctx;
    if (ctx)
        return ctx;
    pl_log_set_level(PL_LOG_ERROR); /* failed handshakes log at debug */
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    ctx = SSL_CTX_new(TLS_server_method());
    if (!key || !x || !ctx || pl_tls_ctx_policy(ctx) != 0 || SSL_CTX_use_certificate(ctx, x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1)
        abort();
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] + 1;
    data++, size--;
    pl_tls_conn_t *t = pl_tls_conn_new(server_ctx(), 0);
    if (!t)
        return 0;
    static char plain[16384], out[65536];
    bool failed = false;
    pl_tls_looks_like_http(data, size);
    for (size_t off = 0; off < size && !failed;) {
        size_t n = size - off < piece ? size - off : piece;
        pl_tls_feed(t, data + off, n);
        off += n;
        for (;;) {
            int r = pl_tls_read(t, plain, sizeof plain);
            if (r > 0) {
                /* What a protocol would answer goes back out encrypted. */
                if (pl_tls_write(t, plain, (size_t)r) != 0)
                    abort(); /* established sessions must encrypt */
                continue;
            }
            failed = r != PL_EAGAIN; /* close_notify or a failure: conn.c closes */
            break;
        }
        while (pl_tls_out_take(t, out, sizeof out) > 0)
            ;
        if (!pl_tls_in_pending(t))
            pl_tls_idle(t);
    }
    pl_tls_close_notify(t);
    while (pl_tls_out_take(t, out, sizeof out) > 0)
        ;
    pl_tls_conn_free(t);
    return 0;
}
