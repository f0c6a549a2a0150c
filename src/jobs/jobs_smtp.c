/* SPDX-License-Identifier: MIT */
/* jobs_smtp.c -- the `email` job handler: the message of jobs_mail.c sent
 * with libcurl's SMTP client (smtp:// or smtps://, optional AUTH) on a pool
 * thread. The job id is the Message-ID, so a retry after a delivery whose
 * completion was lost carries the same id (receivers may drop duplicates). */
#include "jobs/jobs.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "jobs/jobs_mail.h"

typedef struct {
    const char *p;
    size_t left;
} src_t;

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
    src_t *s = arg;
    size_t n = size * nmemb < s->left ? size * nmemb : s->left;
    memcpy(buf, s->p, n);
    s->p += n;
    s->left -= n;
    return n;
}

int pl_jobs_email_setup(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : PL_EIO;
}

int pl_jobs_email_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err, size_t errcap)
{
    const pl_config_t *cfg = ud;
    if (cfg->smtp_url[0] == '\0') {
        snprintf(err, errcap, "smtp_url is not configured");
        return PL_EIO; /* retried: the operator may configure it */
    }
    pl_mail_t m = {0};
    if (pl_mail_parse(job->payload, strlen(job->payload), &m, err, errcap) != 0)
        return PL_JOBS_PERMANENT;
    char mid[64];
    snprintf(mid, sizeof mid, "parley-job-%" PRId64 ".%" PRId64, job->id, job->created_ms);
    size_t len = 0;
    char *msg = pl_mail_build(&m, cfg->smtp_from, mid, pl_now_ms(), &len);
    if (msg == NULL) {
        pl_mail_dispose(&m);
        snprintf(err, errcap, "smtp_from is not a plain address");
        return PL_JOBS_PERMANENT;
    }
    char from[PL_MAIL_ADDR_MAX + 3], to[PL_MAIL_ADDR_MAX + 3];
    snprintf(from, sizeof from, "<%s>", cfg->smtp_from);
    snprintf(to, sizeof to, "<%s>", m.to);
    int rc = PL_EIO;
    CURL *c = curl_easy_init();
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    if (c != NULL && rcpt != NULL) {
        src_t src = {msg, len};
        char cerr[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(timeout_ms < 10000 ? timeout_ms : 10000));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        /* smtp://: STARTTLS when the server offers it, and required when
         * there is a password to send (never AUTH in the clear). */
        curl_easy_setopt(c, CURLOPT_USE_SSL,
                         (long)(cfg->smtp_user[0] != '\0' ? CURLUSESSL_ALL : CURLUSESSL_TRY));
        if (cfg->smtp_user[0] != '\0') {
            curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_user);
            curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
        }
        CURLcode cc = curl_easy_perform(c);
        if (cc == CURLE_OK) {
            rc = 0;
        } else {
            long code = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            snprintf(err, errcap, "smtp: %s (%ld)", cerr[0] ? cerr : curl_easy_strerror(cc), code);
            /* A 5xx reply: the server will never take it; everything
             * else (connection refused, timeouts, 4xx) is retried. */
            if (code >= 500 && code < 600)
                rc = PL_JOBS_PERMANENT;
        }
    } else {
        snprintf(err, errcap, "smtp: cannot set up libcurl");
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    sodium_memzero(msg, len); /* a reset link */
    free(msg);
    pl_mail_dispose(&m);
    return rc;
}
