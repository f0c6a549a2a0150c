/* SPDX-License-Identifier: MIT */
/* test_hook_send.c -- src/hooks/hook_send.c (issue 16): one signed POST
 * of an outgoing webhook event to a receiver on 127.0.0.1 run by this test
 * (a thread answering one request per case). The receiver checks the
 * signature with pl_hook_verify; cases: 200 with a {"text"} reply, 503
 * (retry), 404 (permanent), an answer over the cap (delivered, no reply),
 * a receiver that never answers (retry after the timeout), and the SSRF
 * guard: loopback refused without the allow list, before any connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "hooks/hook_send.h"
#include "hooks/hook_sign.h"

#define KEY ((const uint8_t *)"whsec_send_test")
#define KLEN 15
#define BODY "{\"webhook\":\"o1\",\"room\":\"r5\",\"seq\":1}"

typedef struct {
    int lfd;
    const char *answer; /* the whole HTTP answer; NULL = never answer */
    int accepted;
    pl_hook_sig_err_t sig;
    char body[512];
} rx_t;

static const char *header(const char *req, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = req; (p = strstr(p, "\r\n")) != NULL;) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, "\r\n");
            snprintf(out, cap, "%.*s", (int)n, p);
            return out;
        }
    }
    return NULL;
}

static void *rx_run(void *arg)
{
    rx_t *r = arg;
    int fd = accept(r->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    r->accepted = 1;
    char req[4096];
    size_t got = 0;
    char *end = NULL;
    while (got < sizeof req - 1) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if ((end = strstr(req, "\r\n\r\n")) != NULL) {
            char cl[32];
            size_t want = header(req, "Content-Length", cl, sizeof cl) ? (size_t)atol(cl) : 0;
            if (got >= (size_t)(end + 4 - req) + want)
                break;
        }
    }
    if (end != NULL) {
        char ts[64], sig[PL_HOOK_SIG_HEADER_MAX];
        snprintf(r->body, sizeof r->body, "%s", end + 4);
        r->sig = pl_hook_verify(KEY, KLEN, header(req, "X-Parley-Timestamp", ts, sizeof ts),
                                header(req, "X-Parley-Signature", sig, sizeof sig), r->body,
                                strlen(r->body), (int64_t)time(NULL), 300);
    }
    if (r->answer != NULL) {
        ssize_t w = write(fd, r->answer, strlen(r->answer));
        (void)w;
    } else {
        char sink[64];
        while (read(fd, sink, sizeof sink) > 0) /* until the client gives up */
            ;
    }
    close(fd);
    return NULL;
}

static int run(const char *answer, const char *allow, long *status, char **reply, rx_t *r)
{
    memset(r, 0, sizeof *r);
    r->sig = PL_HOOK_SIG_BAD_HEADER;
    r->answer = answer;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(0, bind(r->lfd, (struct sockaddr *)&a, sizeof a));
    assert_int_equal(0, listen(r->lfd, 1));
    socklen_t al = sizeof a;
    getsockname(r->lfd, (struct sockaddr *)&a, &al);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", (unsigned)ntohs(a.sin_port));
    pthread_t t;
    pthread_create(&t, NULL, rx_run, r);
    pl_hook_send_t s = {.url = url,
                        .allow_hosts = allow,
                        .key = KEY,
                        .klen = KLEN,
                        .body = BODY,
                        .now_s = (int64_t)time(NULL),
                        .timeout_ms = 1500};
    char err[256] = "";
    int rc = pl_hook_send(&s, status, reply, err, sizeof err);
    shutdown(r->lfd, SHUT_RDWR); /* wakes an accept that never came */
    pthread_join(t, NULL);
    close(r->lfd);
    return rc;
}

#define OK_REPLY                                                                                   \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"                  \
    "Connection: close\r\n\r\n{\"text\":\"pong\"}"

static void test_delivered_with_reply(void **state)
{
    (void)state;
    rx_t r;
    long status;
    char *reply = NULL;
    assert_int_equal(0, run(OK_REPLY, "127.0.0.1", &status, &reply, &r));
    assert_int_equal(200, status);
    assert_int_equal(PL_HOOK_SIG_OK, r.sig);
    assert_string_equal(BODY, r.body);
    assert_non_null(reply);
    assert_string_equal("pong", reply);
    free(reply);
}

static void test_statuses(void **state)
{
    (void)state;
    rx_t r;
    long status;
    char *reply = NULL;
    assert_int_equal(PL_EIO, run("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: "
                                 "close\r\n\r\n",
                                 "127.0.0.1", &status, &reply, &r));
    assert_int_equal(503, status);
    assert_int_equal(PL_HOOK_SIG_OK, r.sig);
    assert_null(reply);
    assert_int_equal(PL_EINVAL, run("HTTP/1.1 404 No\r\nContent-Length: 0\r\nConnection: "
                                    "close\r\n\r\n",
                                    "127.0.0.1", &status, &reply, &r));
    assert_int_equal(404, status);
    assert_null(reply);
    /* 204, no body: delivered, no reply */
    assert_int_equal(0, run("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", "127.0.0.1",
                            &status, &reply, &r));
    assert_null(reply);
}

static void test_answer_cap(void **state)
{
    (void)state;
    size_t n = PL_HOOK_ANSWER_MAX + 100;
    char *ans = malloc(n + 200);
    int h = snprintf(ans, 200,
                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n"
                     "{\"text\":\"",
                     n);
    memset(ans + h, 'a', n - 10);
    strcpy(ans + h + n - 10, "\"}");
    rx_t r;
    long status;
    char *reply = NULL;
    assert_int_equal(0, run(ans, "127.0.0.1", &status, &reply, &r));
    assert_int_equal(200, status);
    assert_null(reply);
    free(ans);
}

static void test_no_answer(void **state)
{
    (void)state;
    rx_t r;
    long status;
    char *reply = NULL;
    assert_int_equal(PL_EIO, run(NULL, "127.0.0.1", &status, &reply, &r));
    assert_int_equal(0, status);
    assert_null(reply);
}

static void test_ssrf(void **state)
{
    (void)state;
    rx_t r;
    long status;
    char *reply = NULL;
    assert_int_equal(PL_EINVAL, run(OK_REPLY, NULL, &status, &reply, &r));
    assert_int_equal(0, r.accepted); /* refused before connecting */
    assert_int_equal(PL_EINVAL, run(OK_REPLY, "localhost", &status, &reply, &r));
    assert_int_equal(0, r.accepted);
    assert_null(reply);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the receiver may write to a client that gave up */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered_with_reply),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_answer_cap),
        cmocka_unit_test(test_no_answer),
        cmocka_unit_test(test_ssrf),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
