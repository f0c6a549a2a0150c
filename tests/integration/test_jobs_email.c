/* SPDX-License-Identifier: MIT */
/* test_jobs_email.c -- durable jobs end to end (issue 13): an operator's
 * password reset link (issue 12) mailed through the job queue to a real SMTP
 * server on 127.0.0.1 (Debian's python3-aiosmtpd with its Mailbox handler,
 * started and stopped by PID). The SMTP server is down when the job is
 * enqueued and comes up later: the job is retried with backoff and the mail
 * arrives exactly once, with a link that works. Also: hostile --mail-to
 * addresses and a missing smtp_url are refused and queue nothing. Runs on
 * PostgreSQL too (label pg). Skipped without python3-aiosmtpd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PYTHON "/usr/bin/python3" /* Debian's, where python3-aiosmtpd is */

static int64_t now_ms(void)
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

static bool have_aiosmtpd(void)
{
    return system(PYTHON " -c 'import aiosmtpd.handlers' >/dev/null 2>&1") == 0;
}

/* Starts aiosmtpd on 127.0.0.1:port writing each message into maildir. */
static pid_t smtp_start(int port, const char *maildir)
{
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server */
        execl(PYTHON, PYTHON, "-m", "aiosmtpd", "-n", "-l", listen, "-c",
              "aiosmtpd.handlers.Mailbox", maildir, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    /* Up when it accepts a connection (poll, generous deadline). */
    int64_t deadline = now_ms() + 20000;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return pid;
        if (now_ms() > deadline)
            fail_msg("aiosmtpd did not start on %d", port);
        usleep(50000);
    }
}

static void smtp_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Files in maildir/new and maildir/cur; the first one's path into first. */
static int count_mail(const char *maildir, char *first, size_t cap)
{
    int n = 0;
    const char *subs[] = {"new", "cur"};
    for (int i = 0; i < 2; i++) {
        char d[400];
        snprintf(d, sizeof d, "%s/%s", maildir, subs[i]);
        DIR *dir = opendir(d);
        if (dir == NULL)
            continue;
        for (struct dirent *e; (e = readdir(dir)) != NULL;) {
            if (e->d_name[0] == '.')
                continue;
            if (n++ == 0 && first != NULL && strlen(d) + strlen(e->d_name) + 2 <= cap)
                snprintf(first, cap, "%.400s/%.255s", d, e->d_name);
        }
        closedir(dir);
    }
    return n;
}

static int64_t stat_of(int port, const char *key)
{
    char body[16384];
    assert_int_equal(200, th_http(port, "GET", "/v1/stats", NULL, NULL, body, sizeof body));
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    int64_t x = (int64_t)json_integer_value(v);
    json_decref(o);
    return x;
}

/* Polls /v1/stats until key >= want (deadline 60 s: retries back off). */
static void wait_stat(int port, const char *key, int64_t want)
{
    int64_t deadline = now_ms() + 60000;
    while (stat_of(port, key) < want) {
        if (now_ms() > deadline)
            fail_msg("stat %s never reached %lld", key, (long long)want);
        usleep(50000);
    }
}

static const char *store_opts(const th_server_t *s)
{
    static char buf[600];
    buf[0] = '\0';
    if (s->pg_conninfo[0] != '\0')
        snprintf(buf, sizeof buf, " --set store=postgres --set 'pg_conninfo=%s'", s->pg_conninfo);
    return buf;
}

/* Runs parleyd's operator command; returns its exit status, stdout in out. */
static int operator(const th_server_t *s, const char *smtp, const char *user, const char *to,
                    char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' --data '%s'%s --log-level error --set public_url=https://chat.example.org/ "
             "--set 'smtp_url=%s' --reset-link '%s' --mail-to '%s' 2>&1",
             getenv("PARLEYD"), s->data_dir, store_opts(s), smtp, user, to);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_reset_mail_survives_smtp_outage(void **state)
{
    (void)state;
    if (!have_aiosmtpd())
        skip();
    int sport = free_port();
    char smtp[64], tmp[200], maildir[300], mailpath[1024];
    snprintf(smtp, sizeof smtp, "smtp://127.0.0.1:%d", sport);
    snprintf(tmp, sizeof tmp, "/tmp/parley-it-mail-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(maildir, sizeof maildir, "%s/box", tmp); /* the Maildir handler creates it */
    char set_smtp[96];
    snprintf(set_smtp, sizeof set_smtp, "smtp_url=%s", smtp);
    const char *set[] = {set_smtp,
                         "smtp_from=parley@example.org",
                         "jobs_poll_ms=100",
                         "jobs_retry_base_ms=200",
                         "jobs_retry_max_ms=1000",
                         "jobs_timeout_ms=5000",
                         NULL};
    th_server_t s;
    th_server_start(&s, set);
    char user[40], out[1024];
    th_unique_name("mail", user, sizeof user);
    th_register(s.port, user, "correct horse battery", NULL, NULL);

    /* Hostile and misconfigured requests queue nothing. */
    assert_int_not_equal(
        0, operator(&s, smtp, user, "a@b>\r\nBcc: evil@example.org", out, sizeof out));
    assert_int_not_equal(0, operator(&s, smtp, user, "two@at@example.org", out, sizeof out));
    assert_int_not_equal(0, operator(&s, smtp, user, "<a@example.org>", out, sizeof out));
    assert_int_not_equal(0, operator(&s, "", user, "a@example.org", out, sizeof out));
    assert_int_not_equal(0, operator(&s, smtp, "nobody_here", "a@example.org", out, sizeof out));

    /* The SMTP server is down: the job fails and is retried. */
    assert_int_equal(0, operator(&s, smtp, user, "alice@example.org", out, sizeof out));
    assert_null(strstr(out, "#reset=")); /* the link goes by mail only */
    wait_stat(s.port, "jobs_failed", 2);
    assert_int_equal(0, stat_of(s.port, "jobs_succeeded"));
    wait_stat(s.port, "jobs_retrying", 1);

    /* It comes back: the mail arrives, once. */
    pid_t smtpd = smtp_start(sport, maildir);
    wait_stat(s.port, "jobs_succeeded", 1);
    int64_t deadline = now_ms() + 30000;
    while (count_mail(maildir, NULL, 0) < 1 && now_ms() < deadline)
        usleep(50000);
    assert_int_equal(1, count_mail(maildir, mailpath, sizeof mailpath));
    wait_stat(s.port, "jobs_done", 1);
    assert_int_equal(0, stat_of(s.port, "jobs_queued"));
    assert_int_equal(0, stat_of(s.port, "jobs_dead"));
    assert_int_equal(1, stat_of(s.port, "jobs_succeeded"));

    FILE *f = fopen(mailpath, "r");
    assert_non_null(f);
    char mail[8192];
    size_t n = fread(mail, 1, sizeof mail - 1, f);
    mail[n] = '\0';
    fclose(f);
    assert_non_null(strstr(mail, "To: <alice@example.org>"));
    assert_non_null(strstr(mail, "From: <parley@example.org>"));
    assert_non_null(strstr(mail, "Subject: Parley password reset"));
    assert_non_null(strstr(mail, "Message-ID: <parley-job-"));
    assert_non_null(strstr(mail, user));
    const char *l = strstr(mail, "https://chat.example.org/#reset=");
    assert_non_null(l);
    l += strlen("https://chat.example.org/#reset=");
    char token[128], body[512];
    snprintf(token, sizeof token, "%.*s", (int)strcspn(l, "\r\n"), l);
    assert_true(strlen(token) >= 20);

    /* The mailed link works, once. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"reset by mail ok\"}", token);
    assert_int_equal(200, th_http(s.port, "POST", "/v1/account/reset", NULL, body, NULL, 0));
    assert_int_equal(400, th_http(s.port, "POST", "/v1/account/reset", NULL, body, NULL, 0));

    /* Nothing more is sent: the job is done (a few more polls to be sure
     * a retry would have had its chance: it is not a timing assertion, the
     * job's state above already says done). */
    for (int i = 0; i < 5; i++)
        (void)stat_of(s.port, "jobs_queued");
    assert_int_equal(1, count_mail(maildir, NULL, 0));

    smtp_stop(smtpd);
    th_server_stop(&s);
    th_server_cleanup(&s);
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    (void)system(rm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_mail_survives_smtp_outage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
