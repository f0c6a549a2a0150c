/* SPDX-License-Identifier: MIT */
/* push.c -- the VAPID key file, the `push` job handler (one POST per job
 * over libcurl, on a pool thread) and the removal of subscriptions the push
 * service calls gone (handed from the pool thread to the loop, then to a
 * store write job). */
#include "push/push.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "push/push_sub.h"

#define KEY_FILE "vapid.key"
#define RESPONSE_MAX 65536      /* bytes of a push service's answer we read */
#define VAPID_EXP_S (12 * 3600) /* RFC 8292 2: exp at most 24 h ahead */
#define GONE_MAX 4096           /* deletions waiting for the loop */

struct pl_push {
    uv_loop_t *loop;
    pl_store_t *st;
    const pl_config_t *cfg;
    uint8_t priv[PL_PUSH_PRIVKEY_LEN];
    char pub_b64[96];
    uv_async_t async; /* gone subscriptions to delete */
    uv_mutex_t mu;
    int64_t gone[GONE_MAX];
    size_t ngone;
};

/* ---- the key file ---- */

static int key_load(pl_push_t *p, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? PL_ENOTFOUND : PL_EIO;
    char line[128] = "";
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t len = strcspn(line, "\r\n"), n = 0;
    uint8_t pub[PL_PUSH_PUBKEY_LEN];
    if (!ok || pl_b64url_decode(line, len, p->priv, sizeof p->priv, &n) != 0 || n != 32 ||
        pl_push_pubkey_of(p->priv, pub) != 0)
        return PL_EINVAL;
    pl_b64url_encode(pub, sizeof pub, p->pub_b64, sizeof p->pub_b64);
    return 0;
}

/* A new key, written to a temp file (0600) and renamed into place, so a
 * crash never leaves half a key. */
static int key_make(pl_push_t *p, const char *path)
{
    uint8_t pub[PL_PUSH_PUBKEY_LEN];
    if (pl_push_keygen(p->priv, pub) != 0)
        return PL_EIO;
    char tmp[PATH_MAX + 8], text[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    size_t n = pl_b64url_encode(p->priv, sizeof p->priv, text, sizeof text - 1);
    text[n++] = '\n';
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return PL_EIO;
    bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return PL_EIO;
    }
    pl_b64url_encode(pub, sizeof pub, p->pub_b64, sizeof p->pub_b64);
    return 0;
}

/* ---- gone subscriptions ---- */

static void delete_work(pl_db_t *db, void *arg)
{
    int64_t *ids = arg;
    for (size_t i = 1; i <= (size_t)ids[0]; i++)
        if (pl_db_push_sub_delete_id(db, ids[i]) == PL_EIO) {
            pl_db_rollback_job(db);
            return;
        }
}

static void delete_done(int status, void *arg)
{
    int64_t *ids = arg;
    if (status == 0)
        pl_log(PL_LOG_INFO, "push", "op=unsubscribe_gone subscriptions=%" PRId64, ids[0]);
    free(ids);
}

static void on_gone(uv_async_t *h)
{
    pl_push_t *p = h->data;
    uv_mutex_lock(&p->mu);
    size_t n = p->ngone;
    int64_t *ids = NULL;
    if (n > 0) {
        ids = pl_xmalloc((n + 1) * sizeof *ids);
        ids[0] = (int64_t)n;
        memcpy(ids + 1, p->gone, n * sizeof *ids);
        p->ngone = 0;
    }
    uv_mutex_unlock(&p->mu);
    if (ids != NULL)
        pl_store_write(p->st, delete_work, delete_done, ids);
}

static void gone(pl_push_t *p, int64_t sub_id)
{
    uv_mutex_lock(&p->mu);
    /* Full: the next push to it hears 410 again and retries the removal. */
    if (p->ngone < GONE_MAX)
        p->gone[p->ngone++] = sub_id;
    uv_mutex_unlock(&p->mu);
    uv_async_send(&p->async);
}

/* ---- lifecycle ---- */

int pl_push_new(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg, pl_push_t **out)
{
    pl_push_t *p = pl_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->st = st;
    p->cfg = cfg;
    char path[PATH_MAX];
    int pn = snprintf(path, sizeof path, "%s/%s", cfg->data_dir, KEY_FILE);
    if (pn < 0 || (size_t)pn >= sizeof path) {
        free(p);
        return PL_EIO;
    }
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        pl_log(PL_LOG_ERROR, "push", "op=mkdir path=%s err=%s", cfg->data_dir, strerror(errno));
        free(p);
        return PL_EIO;
    }
    int rc = key_load(p, path);
    if (rc == PL_ENOTFOUND) {
        rc = key_make(p, path);
        if (rc == 0)
            pl_log(PL_LOG_INFO, "push", "op=vapid_keygen path=%s", path);
    }
    if (rc != 0) {
        pl_log(PL_LOG_ERROR, "push", "op=vapid_key path=%s err=%s", path,
               rc == PL_EINVAL ? "not a base64url P-256 private key" : pl_strerror(rc));
        memset(p->priv, 0, sizeof p->priv);
        free(p);
        return PL_EIO;
    }
    uv_mutex_init(&p->mu);
    uv_async_init(loop, &p->async, on_gone);
    p->async.data = p;
    *out = p;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    pl_push_t *p = h->data;
    uv_mutex_destroy(&p->mu);
    memset(p->priv, 0, sizeof p->priv);
    free(p);
}

void pl_push_close(pl_push_t *p)
{
    if (p != NULL)
        uv_close((uv_handle_t *)&p->async, on_closed);
}

const char *pl_push_public_key(const pl_push_t *p)
{
    return p->pub_b64;
}

/* ---- delivery ---- */

typedef struct {
    size_t got;
} sink_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    sink_t *s = arg;
    s->got += size * nmemb;
    return s->got > RESPONSE_MAX ? 0 : size * nmemb; /* 0 aborts the transfer */
}

static struct curl_slist *headers(const pl_push_job_t *j, const char *jwt, const char *pub)
{
    char h[PL_PUSH_JWT_MAX + 160];
    struct curl_slist *l = NULL;
    snprintf(h, sizeof h, "TTL: %" PRId64, j->ttl_s);
    l = curl_slist_append(l, h);
    snprintf(h, sizeof h, "Urgency: %s", j->urgency);
    l = curl_slist_append(l, h);
    if (j->topic[0] != '\0') {
        snprintf(h, sizeof h, "Topic: %s", j->topic);
        l = curl_slist_append(l, h);
    }
    l = curl_slist_append(l, "Content-Encoding: aes128gcm");
    l = curl_slist_append(l, "Content-Type: application/octet-stream");
    snprintf(h, sizeof h, "Authorization: vapid t=%s, k=%s", jwt, pub);
    l = curl_slist_append(l, h);
    l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
    return l;
}

int pl_push_job_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err, size_t errcap)
{
    pl_push_t *p = ud;
    const pl_config_t *cfg = p->cfg;
    /* PL_EINVAL is the runner's "permanent" (jobs.h PL_JOBS_PERMANENT). */
    pl_push_job_t j;
    if (pl_push_job_parse(job->payload, strlen(job->payload), cfg->push_allow_local, &j, err,
                          errcap) != 0)
        return PL_EINVAL;
    int rc = PL_EIO;
    uint8_t *body = NULL;
    size_t blen = 0;
    struct curl_slist *hl = NULL, *pins = NULL;
    CURL *c = NULL;
    char pin[PL_SSRF_PIN_MAX], jwt[PL_PUSH_JWT_MAX];
    if ((rc = pl_ssrf_resolve(&j.sub.url, cfg->push_allow_local, pin, sizeof pin, err, errcap)) !=
        0)
        goto out; /* a non-public address: permanent (PL_EINVAL); DNS: retried */
    rc = pl_push_encrypt(j.sub.p256dh, j.sub.auth, (const uint8_t *)j.data, strlen(j.data), NULL,
                         NULL, &body, &blen);
    if (rc != 0) {
        snprintf(err, errcap, "encrypt: %s", pl_strerror(rc));
        rc = rc == PL_EIO ? PL_EIO : PL_EINVAL;
        goto out;
    }
    int64_t exp = pl_now_ms() / 1000 + VAPID_EXP_S;
    if (pl_push_vapid_jwt(p->priv, j.sub.url.origin, cfg->push_subject, exp, jwt) != 0) {
        snprintf(err, errcap, "vapid: cannot sign for %s", j.sub.url.origin);
        rc = PL_EINVAL;
        goto out;
    }
    hl = headers(&j, jwt, p->pub_b64);
    pins = curl_slist_append(NULL, pin);
    int64_t t = timeout_ms < cfg->push_timeout_ms ? timeout_ms : cfg->push_timeout_ms;
    sink_t sink = {0};
    if ((c = curl_easy_init()) == NULL || hl == NULL || pins == NULL) {
        rc = PL_EIO;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, j.sub.endpoint);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, cfg->push_allow_local ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* no redirects: the SSRF check holds */
    curl_easy_setopt(c, CURLOPT_PROXY, "");          /* nor an environment proxy */
    curl_easy_setopt(c, CURLOPT_RESOLVE, pins);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)t);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parleyd-push");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status > 0)) {
        snprintf(err, errcap, "push service %s: %s", j.sub.url.origin, curl_easy_strerror(cc));
        rc = PL_EIO;
    } else if (status == 200 || status == 201 || status == 202) {
        rc = 0;
    } else if (status == 404 || status == 410) {
        /* RFC 8030 7.3: the subscription expired or was dropped. */
        gone(p, j.sub_id);
        rc = 0;
    } else if (status == 429 || status >= 500) {
        snprintf(err, errcap, "push service %s: status %ld", j.sub.url.origin, status);
        rc = PL_EIO;
    } else {
        snprintf(err, errcap, "push service %s refused: status %ld", j.sub.url.origin, status);
        rc = PL_EINVAL;
    }
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    curl_slist_free_all(pins);
    free(body);
    pl_push_job_dispose(&j);
    return rc;
}
