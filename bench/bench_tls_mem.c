/* SPDX-License-Identifier: MIT */
/* bench_tls_mem.c -- heap bytes an idle server-side TLS session keeps
 * (issue 12): K sessions of net/tls.c (pl_tls_conn_*, the code parleyd
 * runs) over memory BIOs against OpenSSL clients in the same process, each
 * through a full handshake and one request/response, then left idle as
 * net/conn.c leaves them (pl_tls_idle). Prints the heap in use per session
 * (glibc mallinfo2, the server sessions freed at the end to subtract the
 * clients' share), for TLS 1.3 and TLS 1.2. Unlike the RSS figure of
 * `loadgen --only tls`, it does not depend on the machine's load.
 *
 *   build/bench_tls_mem [sessions=500] [--sites]
 *
 * --sites also lists where the bytes are, by OpenSSL allocation site
 * (CRYPTO_set_mem_functions; sites under 32 B per session left out). */
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/tls.h"

/* ---- allocation sites (--sites) ---- */

typedef struct {
    void *p;
    const char *file;
    int line;
} site_t;

static site_t *sites;
static size_t nsites, capsites;
static bool tracking;

static void site_add(void *p, const char *file, int line)
{
    if (!tracking || p == NULL)
        return;
    if (nsites == capsites) {
        capsites = capsites ? capsites * 2 : 65536;
        sites = realloc(sites, capsites * sizeof *sites);
        if (sites == NULL)
            abort();
    }
    sites[nsites++] = (site_t){p, file ? file : "?", line};
}

static void site_del(void *p)
{
    if (p == NULL)
        return;
    for (size_t i = nsites; i-- > 0;)
        if (sites[i].p == p) {
            sites[i].p = NULL;
            return;
        }
}

static void *t_malloc(size_t n, const char *file, int line)
{
    void *p = malloc(n);
    site_add(p, file, line);
    return p;
}

static void *t_realloc(void *old, size_t n, const char *file, int line)
{
    site_del(old);
    void *p = realloc(old, n);
    site_add(p, file, line);
    return p;
}

static void t_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    site_del(p);
    free(p);
}

static int site_cmp(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->line - y->line;
}

typedef struct {
    const char *file;
    int line;
    size_t bytes;
} sum_t;

/* Live bytes by site of the allocations made while tracking; *n entries. */
static sum_t *sites_sum(size_t *n)
{
    qsort(sites, nsites, sizeof *sites, site_cmp);
    sum_t *out = calloc(nsites + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < nsites;) {
        size_t j = i, sum = 0;
        for (; j < nsites && site_cmp(&sites[i], &sites[j]) == 0; j++)
            if (sites[j].p)
                sum += malloc_usable_size(sites[j].p) + 8; /* + the chunk header */
        out[(*n)++] = (sum_t){sites[i].file, sites[i].line, sum};
        i = j;
    }
    return out;
}

/* The server sessions' bytes by site: live before they were freed (before)
 * minus live after (the clients' share). */
static void sites_print(const sum_t *before, size_t nb, const sum_t *after, size_t na, int k)
{
    for (size_t i = 0; i < nb; i++) {
        size_t left = 0;
        for (size_t j = 0; j < na; j++)
            if (after[j].line == before[i].line && strcmp(after[j].file, before[i].file) == 0)
                left = after[j].bytes;
        size_t d = before[i].bytes > left ? before[i].bytes - left : 0;
        if (d / (size_t)k >= 32)
            printf("    %6zu B  %s:%d\n", d / (size_t)k, before[i].file, before[i].line);
    }
}

/* ---- sessions ---- */

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks;
}

typedef struct {
    SSL *cl;
    BIO *cin, *cout; /* the client's BIOs: cin its input, cout its output */
    pl_tls_conn_t *t;
} pair_t;

/* Moves bytes both ways until neither side has anything to say; the
 * server echoes what it decrypts. Leaves the server session idle. */
static void pump(pair_t *p)
{
    static char buf[65536];
    for (int round = 0; round < 16; round++) {
        int n;
        bool moved = false;
        while ((n = BIO_read(p->cout, buf, sizeof buf)) > 0) {
            pl_tls_feed(p->t, buf, (size_t)n);
            moved = true;
        }
        int r;
        while ((r = pl_tls_read(p->t, buf, 16384)) > 0)
            pl_tls_write(p->t, buf, (size_t)r);
        size_t k;
        while ((k = pl_tls_out_take(p->t, buf, sizeof buf)) > 0) {
            BIO_write(p->cin, buf, (int)k);
            moved = true;
        }
        SSL_do_handshake(p->cl);
        while (SSL_read(p->cl, buf, sizeof buf) > 0)
            ;
        if (!moved && BIO_ctrl_pending(p->cout) == 0)
            break;
    }
    if (!pl_tls_in_pending(p->t) && pl_tls_out_pending(p->t) == 0)
        pl_tls_idle(p->t);
}

static int run(SSL_CTX *sctx, int max_version, int k, bool show_sites)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_max_proto_version(cctx, max_version);
    pair_t *ps = calloc((size_t)k, sizeof *ps);
    for (int i = 0; i < k; i++) {
        ps[i].cl = SSL_new(cctx);
        ps[i].cin = BIO_new(BIO_s_mem());
        ps[i].cout = BIO_new(BIO_s_mem());
        SSL_set_bio(ps[i].cl, ps[i].cin, ps[i].cout);
        SSL_set_connect_state(ps[i].cl);
    }
    nsites = 0;
    tracking = show_sites;
    int established = 0;
    for (int i = 0; i < k; i++) {
        ps[i].t = pl_tls_conn_new(sctx, 0);
        SSL_do_handshake(ps[i].cl);
        pump(&ps[i]);
        static const char req[] = "GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n";
        SSL_write(ps[i].cl, req, (int)sizeof req - 1);
        pump(&ps[i]);
        established += pl_tls_established(ps[i].t);
    }
    tracking = false;
    size_t nb = 0, na = 0;
    sum_t *before = show_sites ? sites_sum(&nb) : NULL;
    size_t h1 = heap_in_use();
    const char *version = established ? pl_tls_version(ps[0].t) : "?";
    char ver[16];
    snprintf(ver, sizeof ver, "%s", version);
    /* The clients' memory grew too: free the server sessions and take the
     * difference. */
    for (int i = 0; i < k; i++)
        pl_tls_conn_free(ps[i].t);
    size_t h2 = heap_in_use();
    printf("%s: %d/%d sessions established; idle server session: %zu B of heap each\n", ver,
           established, k, (h1 - h2) / (size_t)k);
    if (show_sites) {
        sum_t *after = sites_sum(&na);
        printf("  by OpenSSL allocation site (B per session, sites >= 32 B):\n");
        sites_print(before, nb, after, na, k);
        free(after);
        free(before);
    }
    for (int i = 0; i < k; i++)
        SSL_free(ps[i].cl);
    free(ps);
    SSL_CTX_free(cctx);
    return established == k ? 0 : 1;
}

int main(int argc, char **argv)
{
    int k = 500;
    bool show_sites = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sites") == 0)
            show_sites = true;
        else
            k = atoi(argv[i]);
    }
    if (k < 1 || k > 100000) {
        fprintf(stderr, "usage: bench_tls_mem [sessions=500] [--sites]\n");
        return 2;
    }
    if (show_sites)
        CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free);
    /* A self-signed P-256 certificate, as loadgen --tls makes. */
    char dir[] = "/tmp/parley-bench-tlsmem-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char cmd[512], cert[128], key[128], err[512];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-keyout %s -out %s -subj /CN=127.0.0.1 >/dev/null 2>&1",
             key, cert);
    SSL_CTX *sctx = NULL;
    int rc = system(cmd) == 0 ? pl_tls_ctx_load(cert, key, &sctx, err, sizeof err) : -1;
    unlink(cert);
    unlink(key);
    rmdir(dir);
    if (rc != 0) {
        fprintf(stderr, "bench_tls_mem: no certificate: %s\n",
                rc == -1 ? "openssl req failed" : err);
        return 1;
    }
    printf("# bench_tls_mem: %d sessions, %s, server policy of net/tls.c, P-256 certificate\n", k,
           OpenSSL_version(OPENSSL_VERSION));
    rc = run(sctx, TLS1_3_VERSION, k, show_sites);
    rc |= run(sctx, TLS1_2_VERSION, k, show_sites);
    SSL_CTX_free(sctx);
    return rc;
}
