/* SPDX-License-Identifier: MIT */
/* s3.c -- the harness's local S3 server (tests/s3/s3server.cjs) and the
 * checks that look at stored media whichever store holds it. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define OBJ_SUFFIX "._S3rver_object" /* s3rver's file for a complete object */

bool th_s3_mode(void)
{
    const char *v = getenv("PL_TEST_MEDIA_STORE");
    return v && !strcmp(v, "s3");
}

static void mkdir_p(const char *path)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(tmp, 0700);
        *p = '/';
    }
    mkdir(tmp, 0700);
}

void th_s3_start(th_s3_t *s3, const char *dir, const char *bucket)
{
    const char *src = getenv("PARLEY_SRC");
    if (!src || !*src)
        src = ".";
    char script[600], port[16];
    snprintf(script, sizeof script, "%s/tests/s3/s3server.cjs", src);
    if (access(script, R_OK) != 0)
        fail_msg("no %s (PARLEY_SRC)", script);
    char mods[640];
    snprintf(mods, sizeof mods, "%s/tests/s3/node_modules/s3rver", src);
    if (access(mods, R_OK) != 0)
        fail_msg("s3rver is not installed: run tests/s3/run.sh, or npm ci in tests/s3");
    if (dir != s3->dir)
        snprintf(s3->dir, sizeof s3->dir, "%s", dir);
    if (bucket != s3->bucket)
        snprintf(s3->bucket, sizeof s3->bucket, "%s", bucket);
    mkdir_p(s3->dir);
    snprintf(port, sizeof port, "%d", s3->port);
    int pfd[2];
    if (pipe(pfd) != 0)
        fail_msg("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char log[400];
        snprintf(log, sizeof log, "%s.log", s3->dir);
        execlp("node", "node", script, "--dir", s3->dir, "--port", port, "--bucket", s3->bucket,
               "--log", log, (char *)NULL);
        fprintf(stderr, "exec node: %s\n", strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    s3->pid = pid;
    /* Wait for "ready PORT". */
    char line[128];
    size_t n = 0;
    int waited = 0;
    while (n + 1 < sizeof line && waited < 15000) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, 100);
        waited += 100;
        if (r <= 0)
            continue;
        ssize_t k = read(pfd[0], line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        line[n] = '\0';
        if (strchr(line, '\n'))
            break;
    }
    close(pfd[0]);
    line[n] = '\0';
    if (sscanf(line, "ready %d", &s3->port) != 1) {
        th_s3_stop(s3);
        fail_msg("s3server did not start (got '%s')", line);
    }
    snprintf(s3->endpoint, sizeof s3->endpoint, "http://127.0.0.1:%d", s3->port);
}

void th_s3_stop(th_s3_t *s3)
{
    if (s3->pid <= 0)
        return;
    kill(s3->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(s3->pid, NULL, WNOHANG) == s3->pid) {
            s3->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(s3->pid, SIGKILL);
    waitpid(s3->pid, NULL, 0);
    s3->pid = 0;
}

const char *const *th_s3_settings(const th_s3_t *s3)
{
    static char endpoint[96], bucket[96];
    static const char *list[8];
    snprintf(endpoint, sizeof endpoint, "s3_endpoint=%s", s3->endpoint);
    snprintf(bucket, sizeof bucket, "s3_bucket=%s", s3->bucket);
    size_t n = 0;
    list[n++] = "media_store=s3";
    list[n++] = endpoint;
    list[n++] = bucket;
    list[n++] = "s3_access_key=S3RVER"; /* s3rver's built-in account */
    list[n++] = "s3_secret_key=S3RVER";
    list[n++] = "s3_timeout_ms=5000";
    list[n] = NULL;
    return list;
}

bool th_media_blob_exists(const th_server_t *s, const char *sha, const char *variant)
{
    char path[1024];
    if (s->s3.pid > 0 || s->s3.dir[0])
        snprintf(path, sizeof path, "%s/%s/media/%s%s%s" OBJ_SUFFIX, s->s3.dir, s->s3.bucket, sha,
                 variant ? "." : "", variant ? variant : "");
    else
        snprintf(path, sizeof path, "%s/media/%.2s/%s%s%s", s->data_dir, sha, sha + 2,
                 variant ? "." : "", variant ? variant : "");
    struct stat st;
    return stat(path, &st) == 0;
}

/* Counts entries of dir whose name ends with suffix and, when plain, has
 * no '.' before it (an original, not a variant). */
static int count_in(const char *dir, const char *suffix, bool plain)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        const char *dot = strchr(e->d_name, '.');
        if (plain && dot && (size_t)(dot - e->d_name) != l - sl)
            continue;
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

int th_media_count_blobs(const th_server_t *s)
{
    char path[700];
    if (s->s3.pid > 0 || s->s3.dir[0]) {
        snprintf(path, sizeof path, "%s/%s/media", s->s3.dir, s->s3.bucket);
        return count_in(path, OBJ_SUFFIX, true);
    }
    snprintf(path, sizeof path, "%s/media", s->data_dir);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 2)
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        DIR *sd = opendir(sub);
        struct dirent *f;
        while (sd && (f = readdir(sd)) != NULL)
            if (f->d_name[0] != '.' && !strchr(f->d_name, '.'))
                n++;
        if (sd)
            closedir(sd);
    }
    if (d)
        closedir(d);
    return n;
}

int th_s3_count_objects(const th_s3_t *s3)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s/media", s3->dir, s3->bucket);
    return count_in(path, OBJ_SUFFIX, false);
}
