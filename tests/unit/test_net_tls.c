/* SPDX-License-Identifier: MIT */
/* test_net_tls.c -- net/tls.c sessions against an in-process OpenSSL client
 * over memory: an established session that went idle (pl_tls_idle freed
 * its memory BIOs) keeps working for every call that needs them again:
 * reading records, a KeyUpdate that makes the server answer while
 * reading, encrypting, close_notify; and before the handshake the BIOs
 * stay. Also a hostile peer: garbage after an idle period fails the
 * session cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "net/tls.h"

static SSL_CTX *sctx, *cctx;

static int group_setup(void **state)
{
    (void)state;
    pl_log_set_level(PL_LOG_ERROR);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"unit", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    sctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(0, pl_tls_ctx_policy(sctx));
    assert_int_equal(1, SSL_CTX_use_certificate(sctx, x));
    assert_int_equal(1, SSL_CTX_use_PrivateKey(sctx, key));
    X509_free(x);
    EVP_PKEY_free(key);
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return 0;
}

typedef struct {
    SSL *cl;
    BIO *cin, *cout; /* the client's input and output */
    pl_tls_conn_t *t;
    char got[4096]; /* plaintext the server decrypted */
    size_t ngot;
    int last; /* the server's last pl_tls_read result */
} pair_t;

static void pair_new(pair_t *p, int max_version)
{
    memset(p, 0, sizeof *p);
    p->cl = SSL_new(cctx);
    p->cin = BIO_new(BIO_s_mem());
    p->cout = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->cin, -1);
    SSL_set_bio(p->cl, p->cin, p->cout);
    SSL_set_max_proto_version(p->cl, max_version);
    SSL_set_connect_state(p->cl);
    p->t = pl_tls_conn_new(sctx, 0);
    assert_non_null(p->t);
}

static void pair_free(pair_t *p)
{
    pl_tls_conn_free(p->t);
    SSL_free(p->cl);
}

/* Moves bytes both ways until quiet, as net/conn.c would (the server's
 * plaintext collected in got), then lets the server session go idle. */
static void pump(pair_t *p)
{
    char buf[16384];
    for (int round = 0; round < 16; round++) {
        bool moved = false;
        int n;
        while ((n = BIO_read(p->cout, buf, sizeof buf)) > 0) {
            pl_tls_feed(p->t, buf, (size_t)n);
            moved = true;
        }
        int r;
        while ((r = pl_tls_read(p->t, buf, sizeof buf)) > 0) {
            assert_true(p->ngot + (size_t)r < sizeof p->got);
            memcpy(p->got + p->ngot, buf, (size_t)r);
            p->ngot += (size_t)r;
        }
        p->last = r;
        size_t k;
        while ((k = pl_tls_out_take(p->t, buf, sizeof buf)) > 0) {
            BIO_write(p->cin, buf, (int)k);
            moved = true;
        }
        SSL_do_handshake(p->cl);
        if (!moved && BIO_ctrl_pending(p->cout) == 0)
            break;
    }
    if (!pl_tls_in_pending(p->t) && pl_tls_out_pending(p->t) == 0)
        pl_tls_idle(p->t);
}

/* What the client reads now (NUL-terminated into out). */
static size_t client_read(pair_t *p, char *out, size_t cap)
{
    size_t n = 0;
    int r;
    while (n + 1 < cap && (r = SSL_read(p->cl, out + n, (int)(cap - 1 - n))) > 0)
        n += (size_t)r;
    out[n] = '\0';
    return n;
}

static void handshake(pair_t *p)
{
    pump(p);
    assert_true(pl_tls_established(p->t));
    assert_int_equal(1, SSL_is_init_finished(p->cl));
    /* idle now: nothing pending either way */
    assert_int_equal(0, pl_tls_out_pending(p->t));
    assert_false(pl_tls_in_pending(p->t));
}

/* Requests and answers across several idle periods, both versions. */
static void test_idle_then_traffic(void **state)
{
    (void)state;
    static const int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};
    for (size_t v = 0; v < 2; v++) {
        pair_t p;
        pair_new(&p, versions[v]);
        handshake(&p);
        for (int i = 0; i < 5; i++) {
            char msg[64], back[256];
            int len = snprintf(msg, sizeof msg, "request %d", i);
            p.ngot = 0;
            assert_int_equal(len, SSL_write(p.cl, msg, len));
            pump(&p); /* the server decrypts, then goes idle (BIOs freed) */
            assert_int_equal(len, (int)p.ngot);
            assert_memory_equal(msg, p.got, (size_t)len);
            /* answer from idle: the write side is made again */
            assert_int_equal(0, pl_tls_out_pending(p.t));
            assert_int_equal(0, pl_tls_write(p.t, "answer", 6));
            assert_true(pl_tls_out_pending(p.t) > 0);
            pump(&p);
            assert_int_equal(6, (int)client_read(&p, back, sizeof back));
            assert_string_equal("answer", back);
        }
        pair_free(&p);
    }
}

/* A TLS 1.3 KeyUpdate asking for one back arrives at an idle session: the
 * server must write while reading, with both BIOs made again. */
static void test_key_update_while_idle(void **state)
{
    (void)state;
    pair_t p;
    pair_new(&p, TLS1_3_VERSION);
    handshake(&p);
    assert_int_equal(1, SSL_key_update(p.cl, SSL_KEY_UPDATE_REQUESTED));
    assert_int_equal(5, SSL_write(p.cl, "after", 5));
    pump(&p);
    assert_int_equal(5, (int)p.ngot);
    assert_memory_equal("after", p.got, 5);
    /* the server's own KeyUpdate went out; the client still reads it */
    assert_int_equal(0, pl_tls_write(p.t, "ok", 2));
    pump(&p);
    char back[64];
    assert_int_equal(2, (int)client_read(&p, back, sizeof back));
    assert_string_equal("ok", back);
    pair_free(&p);
}

/* close_notify from an idle session reaches the client. */
static void test_close_notify_from_idle(void **state)
{
    (void)state;
    pair_t p;
    pair_new(&p, TLS1_3_VERSION);
    handshake(&p);
    pl_tls_close_notify(p.t);
    assert_true(pl_tls_out_pending(p.t) > 0);
    pump(&p);
    char back[16];
    client_read(&p, back, sizeof back);
    assert_true((SSL_get_shutdown(p.cl) & SSL_RECEIVED_SHUTDOWN) != 0);
    pair_free(&p);
}

/* During the handshake an idle call keeps the BIOs: a ClientHello sent in
 * two pieces with an idle call between them still completes. */
static void test_idle_mid_handshake(void **state)
{
    (void)state;
    pair_t p;
    pair_new(&p, TLS1_3_VERSION);
    SSL_do_handshake(p.cl);
    char hello[4096];
    int n = BIO_read(p.cout, hello, sizeof hello);
    assert_true(n > 10);
    pl_tls_feed(p.t, hello, 7);
    char buf[256];
    assert_int_equal(PL_EAGAIN, pl_tls_read(p.t, buf, sizeof buf));
    pl_tls_idle(p.t);
    pl_tls_feed(p.t, hello + 7, (size_t)n - 7);
    handshake(&p);
    pair_free(&p);
}

/* Garbage records after an idle period: the session fails, no crash, and
 * what it still has to say (an alert) can be taken. */
static void test_garbage_after_idle(void **state)
{
    (void)state;
    pair_t p;
    pair_new(&p, TLS1_3_VERSION);
    handshake(&p);
    static const unsigned char junk[] = {
        0x17, 0x03, 0x03, 0x00, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
        15,   16,   17,   18,   19,   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    pl_tls_feed(p.t, junk, sizeof junk);
    char buf[256];
    assert_int_equal(PL_EPROTO, pl_tls_read(p.t, buf, sizeof buf));
    char out[256];
    while (pl_tls_out_take(p.t, out, sizeof out) > 0)
        ;
    pl_tls_idle(p.t);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_then_traffic),      cmocka_unit_test(test_key_update_while_idle),
        cmocka_unit_test(test_close_notify_from_idle), cmocka_unit_test(test_idle_mid_handshake),
        cmocka_unit_test(test_garbage_after_idle),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
