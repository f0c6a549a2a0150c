/* SPDX-License-Identifier: MIT */
/* harness.c -- start the real parleyd and talk to it over raw blocking
 * sockets (see harness.h). Failures abort the current cmocka test. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <parley.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The RFC 6455 sample nonce: its accept value is known, so the client can
 * check Sec-WebSocket-Accept without a SHA-1 of its own. */
#define TH_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define TH_WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free_port: %s", strerror(errno));
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int try_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---- TLS (PL_TEST_TLS=1) ----
 * Every socket helper below goes through io_send / io_recv / io_readable,
 * which use the fd's TLS session when it has one, so the suites run
 * unchanged over https/wss. */

#define TH_MAX_FD 4096
static SSL *tls_of[TH_MAX_FD];
static struct {
    int port;
    char ca[300];
} tls_ports[16]; /* servers started in TLS mode: connections to these speak TLS */

bool th_tls_mode(void)
{
    const char *e = getenv("PL_TEST_TLS");
    return e && strcmp(e, "1") == 0;
}

void th_make_cert(const char *cert_path, const char *key_path, const char *cn)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-keyout '%s' -out '%s' -subj '/CN=%s' "
             "-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' >/dev/null 2>&1",
             key_path, cert_path, cn);
    if (system(cmd) != 0)
        fail_msg("openssl req failed: %s", cmd);
}

static void tls_forget(int fd)
{
    if (fd >= 0 && fd < TH_MAX_FD && tls_of[fd]) {
        SSL_free(tls_of[fd]); /* the fd itself is not closed by OpenSSL (BIO_NOCLOSE) */
        tls_of[fd] = NULL;
    }
}

static SSL *tls_get(int fd)
{
    return fd >= 0 && fd < TH_MAX_FD ? tls_of[fd] : NULL;
}

void th_close(int fd)
{
    tls_forget(fd);
    close(fd);
}

static int tls_handshake(int fd, const char *ca_path)
{
    static SSL_CTX *ctx;
    static char ctx_ca[300];
    if (ctx == NULL || strcmp(ctx_ca, ca_path) != 0) {
        SSL_CTX_free(ctx);
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1)
            fail_msg("tls: cannot load %s", ca_path);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        snprintf(ctx_ca, sizeof ctx_ca, "%s", ca_path);
    }
    tls_forget(fd); /* a stale session of a closed fd with the same number */
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    SSL_set_alpn_protos(ssl, (const unsigned char *)"\x08http/1.1", 9);
    if (SSL_connect(ssl) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        SSL_free(ssl);
        errno = EPROTO;
        fprintf(stderr, "tls handshake failed: %s\n", why);
        return -1;
    }
    if (fd < TH_MAX_FD)
        tls_of[fd] = ssl;
    return 0;
}

int th_connect_tls(int port, const char *ca_path)
{
    int fd = try_connect(port);
    if (fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    if (tls_handshake(fd, ca_path) != 0) {
        close(fd);
        fail_msg("tls handshake with port %d failed", port);
    }
    return fd;
}

void th_tls_peer_cn(int fd, char *out, size_t cap)
{
    out[0] = '\0';
    SSL *ssl = tls_get(fd);
    X509 *x = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (x) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
        X509_free(x);
    }
}

static const char *tls_ca_for(int port)
{
    for (size_t i = 0; i < sizeof tls_ports / sizeof tls_ports[0]; i++)
        if (tls_ports[i].port == port)
            return tls_ports[i].ca;
    return NULL;
}

static void tls_port_add(int port, const char *ca)
{
    for (size_t i = 0; i < sizeof tls_ports / sizeof tls_ports[0]; i++)
        if (tls_ports[i].port == 0 || tls_ports[i].port == port) {
            tls_ports[i].port = port;
            snprintf(tls_ports[i].ca, sizeof tls_ports[i].ca, "%s", ca);
            return;
        }
}

static ssize_t io_send(int fd, const void *p, size_t n)
{
    SSL *ssl = tls_get(fd);
    if (!ssl)
        return send(fd, p, n, MSG_NOSIGNAL);
    int w = SSL_write(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (w > 0)
        return w;
    ERR_clear_error();
    errno = EPIPE;
    return -1;
}

/* recv over TLS: 0 on EOF (close_notify or a bare FIN), -1 with errno
 * EAGAIN on timeout / nothing there (dontwait), ECONNRESET otherwise. */
static ssize_t io_recv(int fd, void *p, size_t n, bool dontwait)
{
    SSL *ssl = tls_get(fd);
    if (!ssl)
        return recv(fd, p, n, dontwait ? MSG_DONTWAIT : 0);
    if (dontwait && SSL_pending(ssl) == 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0) {
            errno = EAGAIN;
            return -1;
        }
    }
    int r = SSL_read(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(ssl, r);
    int saved = errno;
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && saved == 0))
        return 0;
    if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && saved == EAGAIN)) {
        errno = EAGAIN;
        return -1;
    }
    errno = ECONNRESET;
    return -1;
}

/* TLS mode: one certificate for every server of this test process (a
 * suite may run several at once, and libparley trusts one CA file per
 * process), made once in a directory of its own and copied into each
 * server's dir (test_tls replaces a server's copy). Removed at exit. */
static char shared_tls_dir[64];

static void tls_shared_cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/cert.pem", shared_tls_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/key.pem", shared_tls_dir);
    unlink(p);
    rmdir(shared_tls_dir);
}

static void tls_shared_cert(th_server_t *s)
{
    char cert[128], key[128];
    if (!shared_tls_dir[0]) {
        snprintf(shared_tls_dir, sizeof shared_tls_dir, "/tmp/parley-it-XXXXXX");
        if (!mkdtemp(shared_tls_dir))
            fail_msg("mkdtemp: %s", strerror(errno));
        atexit(tls_shared_cleanup);
    }
    snprintf(cert, sizeof cert, "%s/cert.pem", shared_tls_dir);
    snprintf(key, sizeof key, "%s/key.pem", shared_tls_dir);
    if (access(cert, R_OK) != 0) {
        th_make_cert(cert, key, "parley-test");
        /* libparley in this process, and the parley CLIs it starts, trust it */
        parley_tls_config(cert, false);
        setenv("PARLEY_CA_FILE", cert, 1);
    }
    char cmd[900];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s' '%s'", cert, s->cert_path, key, s->key_path);
    if (system(cmd) != 0)
        fail_msg("cannot copy the test certificate: %s", cmd);
}

const char *th_pg(void)
{
    const char *pg = getenv("PL_TEST_PG");
    return pg != NULL && pg[0] != '\0' ? pg : NULL;
}

static void pg_admin(const char *sql)
{
    char ci[512];
    snprintf(ci, sizeof ci, "%s dbname=postgres", th_pg());
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("PL_TEST_PG: connect: %s", msg);
    }
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok)
        fail_msg("PL_TEST_PG: %s: %s", sql, msg);
}

void th_pg_create_db(char *ci, size_t cilen)
{
    static int seq;
    char name[64], sql[128];
    snprintf(name, sizeof name, "it_%ld_%d", (long)getpid(), ++seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pg_admin(sql);
    snprintf(ci, cilen, "%s dbname=%s", th_pg(), name);
}

void th_pg_drop_db(const char *ci)
{
    const char *p = strstr(ci, "dbname=it_");
    if (p == NULL)
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %.60s WITH (FORCE)", p + 7);
    pg_admin(sql);
}

static void launch(th_server_t *s, const char *const *settings)
{
    const char *bin = getenv("PARLEYD");
    if (!bin || !*bin)
        bin = "build/parleyd";
    if (s->port == 0) { /* a restart keeps its ports so connected clients find them again */
        s->port = free_port();
        s->plain_port = s->port;
        if (s->tls) {
            s->plain_port = free_port();
            while (s->plain_port == s->port)
                s->plain_port = free_port();
        }
    }
    snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%d", s->tls ? "https" : "http", s->port);
    const char *argv[128];
    char listen[64];
    char owned[64][448];
    int n = 0, o = 0;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->plain_port);
    char tls_set[3][400];
    if (s->tls) {
        snprintf(tls_set[0], sizeof tls_set[0], "tls_listen=127.0.0.1:%d", s->port);
        snprintf(tls_set[1], sizeof tls_set[1], "tls_cert=%s", s->cert_path);
        snprintf(tls_set[2], sizeof tls_set[2], "tls_key=%s", s->key_path);
        tls_port_add(s->port, s->cert_path);
    }
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data";
    argv[n++] = s->data_dir;
    /* PL_TEST_THREADS=N (set by CTest for the *-threads2 runs) starts every
     * server with N loop threads; a test's own settings still win. */
    char threads[32] = "";
    const char *tenv = getenv("PL_TEST_THREADS");
    if (tenv && *tenv)
        snprintf(threads, sizeof threads, "threads=%s", tenv);
    /* Suites register and log in hundreds of users from 127.0.0.1: lift the
     * per-address account limits (test_hostile_api sets its own). */
    /* PL_TEST_MEDIA_STORE=s3: media on this server's own S3 (th_server_start). */
    const char *const *s3set = s->s3.pid > 0 ? th_s3_settings(&s->s3) : NULL;
    for (size_t i = 0; s3set && s3set[i] && n < 120; i++) {
        argv[n++] = "--set";
        argv[n++] = s3set[i];
    }
    /* PL_TEST_PG: this server's PostgreSQL database. */
    char pg[448] = "";
    if (s->pg_conninfo[0] != '\0')
        snprintf(pg, sizeof pg, "pg_conninfo=%s", s->pg_conninfo);
    const char *defaults[12] = {"argon2_opslimit=1", "argon2_memlimit=8k",
                                "register_per_ip_hour=1000000000", "login_per_ip_min=1000000000"};
    size_t nd = 4;
    if (pg[0]) {
        defaults[nd++] = "store=postgres";
        defaults[nd++] = pg;
    }
    if (threads[0])
        defaults[nd++] = threads;
    for (int i = 0; s->tls && i < 3; i++)
        defaults[nd++] = tls_set[i];
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass == 0 ? defaults : settings;
        for (size_t i = 0; list && list[i] && n < 120 && o < 64; i++) {
            if (strlen(list[i]) >= sizeof owned[o])
                fail_msg("setting too long: %s", list[i]);
            snprintf(owned[o], sizeof owned[o], "%s", list[i]);
            argv[n++] = "--set";
            argv[n++] = owned[o++];
        }
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* A test that fails between start and stop skips th_server_stop:
         * the server must not outlive the test process. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    int64_t deadline = mono_ms() + 10000;
    char body[256];
    while (mono_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("parleyd exited during startup (status %d); log: %s", status, s->log_path);
        }
        int fd = try_connect(s->plain_port);
        if (fd >= 0) {
            close(fd);
            if (th_http(s->plain_port, "GET", "/healthz", NULL, NULL, body, sizeof body) == 200 &&
                (!s->tls ||
                 th_http(s->port, "GET", "/healthz", NULL, NULL, body, sizeof body) == 200))
                return;
        }
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    fail_msg("parleyd did not answer /healthz within 10 s; log: %s", s->log_path);
}

void th_server_start(th_server_t *s, const char *const *settings)
{
    memset(s, 0, sizeof *s);
    char tmpl[] = "/tmp/parley-it-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", tmpl);
    mkdir(s->data_dir, 0700);
    snprintf(s->log_path, sizeof s->log_path, "%s/parleyd.log", tmpl);
    if (th_tls_mode()) {
        s->tls = true;
        snprintf(s->cert_path, sizeof s->cert_path, "%s/cert.pem", tmpl);
        snprintf(s->key_path, sizeof s->key_path, "%s/key.pem", tmpl);
        tls_shared_cert(s);
    }
    if (th_s3_mode()) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/s3", tmpl);
        th_s3_start(&s->s3, dir, "parley");
    }
    if (th_pg() != NULL)
        th_pg_create_db(s->pg_conninfo, sizeof s->pg_conninfo);
    launch(s, settings);
}

void th_server_start_shared(th_server_t *s, const th_server_t *peer, const char *const *settings)
{
    memset(s, 0, sizeof *s);
    char tmpl[] = "/tmp/parley-it-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", tmpl);
    mkdir(s->data_dir, 0700);
    snprintf(s->log_path, sizeof s->log_path, "%s/parleyd.log", tmpl);
    snprintf(s->pg_conninfo, sizeof s->pg_conninfo, "%s", peer->pg_conninfo);
    launch(s, settings);
    s->pg_shared = true;
}

void th_server_restart(th_server_t *s, const char *const *settings)
{
    launch(s, settings);
}

int th_server_stop(th_server_t *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int status = 0;
    int64_t deadline = mono_ms() + 15000;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            break;
        if (mono_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            s->pid = 0;
            fail_msg("parleyd did not exit within 15 s of SIGTERM; log: %s", s->log_path);
        }
        usleep(10000);
    }
    s->pid = 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0)
        fail_msg("parleyd exited with %d; log: %s", code, s->log_path);
    return code;
}

void th_server_kill9(th_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void th_server_cleanup(th_server_t *s)
{
    if (s->pid > 0)
        th_server_kill9(s);
    th_s3_stop(&s->s3);
    if (s->pg_conninfo[0] != '\0' && !s->pg_shared && !getenv("PARLEY_KEEP_LOGS")) {
        th_pg_drop_db(s->pg_conninfo);
        s->pg_conninfo[0] = '\0';
    }
    char parent[256];
    snprintf(parent, sizeof parent, "%s", s->data_dir);
    char *slash = strrchr(parent, '/');
    if (!slash || strncmp(parent, "/tmp/parley-it-", 15) != 0)
        return;
    *slash = '\0';
    /* Keep the directory when PARLEY_KEEP_LOGS is set, for post-mortems. */
    if (getenv("PARLEY_KEEP_LOGS"))
        return;
    nftw(parent, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- sockets ---- */

int th_connect_raw(int port)
{
    int fd = try_connect(port);
    if (fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    tls_forget(fd);
    return fd;
}

int th_connect(int port)
{
    const char *ca = tls_ca_for(port);
    if (ca)
        return th_connect_tls(port, ca);
    int fd = try_connect(port);
    if (fd < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    tls_forget(fd);
    return fd;
}

void th_send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = io_send(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

/* Waits until fd is readable or timeout_ms passes; true if readable. */
static bool wait_readable(int fd, int timeout_ms)
{
    SSL *ssl = tls_get(fd);
    if (ssl && SSL_pending(ssl) > 0)
        return true;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

size_t th_recv_until_close(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    while (n + 1 < cap) {
        int64_t left = deadline - mono_ms();
        if (left <= 0 || !wait_readable(fd, (int)left))
            break;
        ssize_t r = io_recv(fd, buf + n, cap - 1 - n, false);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Reads exactly n bytes; false on EOF/timeout. */
static bool recv_exact(int fd, void *p, size_t n, int64_t deadline)
{
    char *s = p;
    while (n > 0) {
        int64_t left = deadline - mono_ms();
        if (left <= 0 || !wait_readable(fd, (int)left))
            return false;
        ssize_t r = io_recv(fd, s, n, false);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        s += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads an HTTP response head (up to and including CRLFCRLF) byte by byte,
 * so nothing after it is consumed. Returns its length or 0. */
static size_t recv_head(int fd, char *buf, size_t cap, int64_t deadline)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!recv_exact(fd, buf + n, 1, deadline))
            break;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return n;
        }
    }
    buf[n] = '\0';
    return 0;
}

int th_read_response(int fd, char *head, size_t hcap, char *body, size_t bcap)
{
    size_t n = 0;
    while (n + 1 < hcap) {
        ssize_t r = io_recv(fd, head + n, 1, false);
        if (r <= 0)
            return -1;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    int status = -1;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0, got = 0;
    while (got < len) {
        char tmp[4096];
        size_t want = len - got < sizeof tmp ? len - got : sizeof tmp;
        ssize_t r = io_recv(fd, tmp, want, false);
        if (r <= 0)
            return -1;
        if (body && got < bcap - 1)
            memcpy(body + got, tmp, (size_t)r < bcap - 1 - got ? (size_t)r : bcap - 1 - got);
        got += (size_t)r;
    }
    if (body)
        body[got < bcap - 1 ? got : bcap - 1] = '\0';
    return status;
}

bool th_peer_closed(int fd, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char buf[65536];
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        long left = timeout_ms - spent;
        if (left <= 0 || !wait_readable(fd, (int)left))
            return false;
        ssize_t r = io_recv(fd, buf, sizeof buf, true);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

int th_http(int port, const char *method, const char *path, const char *auth, const char *json_body,
            char *body, size_t body_cap)
{
    int fd = th_connect(port);
    char req[8192];
    char authz[600] = "";
    size_t blen = json_body ? strlen(json_body) : 0;
    if (auth)
        snprintf(authz, sizeof authz, "Authorization: Bearer %s\r\n", auth);
    int n =
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s",
                 method, path, port, authz);
    if (json_body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    th_send_all(fd, req, (size_t)n);
    if (blen)
        th_send_all(fd, json_body, blen);
    size_t cap = 1 << 20;
    char *resp = malloc(cap);
    size_t got = th_recv_until_close(fd, resp, cap, 10000);
    th_close(fd);
    int status = -1;
    if (got < 12 || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        free(resp);
        if (body && body_cap)
            body[0] = '\0';
        return -1;
    }
    if (body && body_cap) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(body, body_cap, "%s", b ? b + 4 : "");
    }
    free(resp);
    return status;
}

/* Copies the JSON string value of "key" in json into out. */
static bool json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '"')
        return false;
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap)
        out[n++] = *p++;
    out[n] = '\0';
    return *p == '"';
}

void th_register(int port, const char *username, const char *password, char *token, char *user_id)
{
    char req[512], body[4096];
    snprintf(req, sizeof req, "{\"username\":\"%s\",\"password\":\"%s\"}", username, password);
    int st = th_http(port, "POST", "/v1/register", NULL, req, body, sizeof body);
    if (st != 201)
        fail_msg("register %s: status %d body %s", username, st, body);
    if (token && !json_str(body, "token", token, 128))
        fail_msg("register: no token in %s", body);
    if (user_id && !json_str(body, "user_id", user_id, 32))
        fail_msg("register: no user_id in %s", body);
}

/* ---- WebSocket client ---- */

int th_ws_connect(int port, const char *path)
{
    int fd = th_connect(port);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " TH_WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    th_send_all(fd, req, (size_t)n);
    char head[4096];
    if (!recv_head(fd, head, sizeof head, mono_ms() + 10000))
        fail_msg("ws %s: no handshake response (%s)", path, head);
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        fail_msg("ws %s: handshake refused: %s", path, head);
    /* Header names are case-insensitive (HAProxy sends them lowercase). */
    if (!strcasestr(head, "Sec-WebSocket-Accept: " TH_WS_ACCEPT "\r\n"))
        fail_msg("ws %s: bad Sec-WebSocket-Accept: %s", path, head);
    return fd;
}

/* Encodes the masked frame into a new buffer (free()); *n its length. */
static uint8_t *ws_frame_encode(uint8_t b0, const void *payload, size_t len, size_t *n)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = b0;
    if (len <= 125) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4];
    for (int i = 0; i < 4; i++)
        mask[i] = (uint8_t)(rand() & 0xFF);
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *buf = malloc(h + len + 1);
    memcpy(buf, hdr, h);
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = p[i] ^ mask[i & 3];
    *n = h + len;
    return buf;
}

void th_ws_send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    size_t n;
    uint8_t *buf = ws_frame_encode(b0, payload, len, &n);
    th_send_all(fd, buf, n);
    free(buf);
}

bool th_ws_try_send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    size_t n;
    uint8_t *buf = ws_frame_encode(b0, payload, len, &n);
    const uint8_t *p = buf;
    bool ok = true;
    while (n > 0) {
        ssize_t w = io_send(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    free(buf);
    return ok;
}

void th_ws_send_text(int fd, const char *text)
{
    th_ws_send_frame(fd, 0x81, text, strlen(text));
}

int th_ws_recv(int fd, char *buf, size_t cap, size_t *len, int *close_code, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    uint8_t h[2];
    if (!recv_exact(fd, h, 2, deadline))
        return -1;
    uint64_t n = h[1] & 0x7F;
    if (n == 126) {
        uint8_t e[2];
        if (!recv_exact(fd, e, 2, deadline))
            return -1;
        n = ((uint64_t)e[0] << 8) | e[1];
    } else if (n == 127) {
        uint8_t e[8];
        if (!recv_exact(fd, e, 8, deadline))
            return -1;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = (n << 8) | e[i];
    }
    if (h[1] & 0x80)
        fail_msg("server sent a masked frame");
    size_t keep = cap ? (size_t)(n < cap - 1 ? n : cap - 1) : 0;
    char *tmp = malloc(n ? n : 1);
    if (!tmp || !recv_exact(fd, tmp, n, deadline)) {
        free(tmp);
        return -1;
    }
    if (cap) {
        memcpy(buf, tmp, keep);
        buf[keep] = '\0';
    }
    int op = h[0] & 0x0F;
    if (op == 0x8 && close_code)
        *close_code = n >= 2 ? (((uint8_t)tmp[0] << 8) | (uint8_t)tmp[1]) : 1005;
    free(tmp);
    if (len)
        *len = (size_t)n;
    return op;
}

long th_ws_recv_text(int fd, char *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        size_t len;
        int op = th_ws_recv(fd, buf, cap, &len, NULL, (int)left);
        if (op < 0 || op == 0x8)
            return -1;
        if (op == 0x9) {
            th_ws_send_frame(fd, 0x8A, buf, len);
            continue;
        }
        if (op == 0x1)
            return (long)len;
    }
}

/* Parses the integer after "re": in a JSON text; false if absent/not int. */
static bool json_re(const char *json, long *out)
{
    const char *p = strstr(json, "\"re\"");
    if (!p)
        return false;
    p += 4;
    while (*p == ' ' || *p == ':')
        p++;
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p)
        return false;
    *out = v;
    return true;
}

long th_ws_request(int fd, long id, const char *json, char *buf, size_t cap)
{
    th_ws_send_text(fd, json);
    int64_t deadline = mono_ms() + 10000;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        long n = th_ws_recv_text(fd, buf, cap, (int)left);
        if (n < 0)
            return -1;
        long re;
        if (json_re(buf, &re) && re == id)
            return n;
    }
}

int th_ws_expect_close(int fd, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    char buf[256];
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 1006;
        size_t len;
        int code = 1005;
        int op = th_ws_recv(fd, buf, sizeof buf, &len, &code, (int)left);
        if (op < 0)
            return 1006;
        if (op == 0x8)
            return code;
    }
}

void th_assert_not_in_file(const char *path, const char *const *secrets, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap + 1);
    size_t got;
    while (text != NULL && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            text = realloc(text, (cap *= 2) + 1);
    }
    fclose(f);
    if (text == NULL)
        fail_msg("out of memory reading %s", path);
    text[len] = '\0';
    if (len == 0)
        fail_msg("%s is empty: nothing was scanned", path);
    for (size_t i = 0; i < n; i++) {
        char piece[17];
        snprintf(piece, sizeof piece, "%s", secrets[i]);
        if (secrets[i][0] == '\0')
            fail_msg("secret %zu is empty: the test did not get it", i);
        /* memmem, not strstr: a NUL byte in the log must not end the scan. */
        if (memmem(text, len, secrets[i], strlen(secrets[i])) != NULL ||
            memmem(text, len, piece, strlen(piece)) != NULL)
            fail_msg("secret %zu (%s) is in %s", i, secrets[i], path);
    }
    free(text);
}

bool th_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = strlen(needle), len = 0;
    char *text = NULL;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *t = realloc(text, len + got);
        if (t == NULL)
            break;
        text = t;
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    bool found = text != NULL && memmem(text, len, needle, n) != NULL;
    free(text);
    return found;
}

const char *th_unique_name(const char *prefix, char *out, size_t cap)
{
    static unsigned counter;
    snprintf(out, cap, "%s%x%x%u", prefix, (unsigned)getpid() & 0xFFFF,
             (unsigned)(mono_ms() & 0xFFFFF), ++counter);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}
