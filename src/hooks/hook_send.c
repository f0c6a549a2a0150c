/* SPDX-License-Identifier: MIT */
/* hook_send.c -- one signed POST of an outgoing webhook event over libcurl. */
#include "hooks/hook_send.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ssrf.h"
#include "hooks/hook_out.h"
#include "hooks/hook_sign.h"

typedef struct {
    char buf[PL_HOOK_ANSWER_MAX];
    size_t len;
    bool cut;
} sink_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;
    if (s->len + n > sizeof s->buf) {
        s->cut = true;
        return 0; /* aborts the transfer */
    }
    memcpy(s->buf + s->len, ptr, n);
    s->len += n;
    return n;
}

int pl_hook_send(const pl_hook_send_t *a, long *status, char **reply, char *err, size_t errcap)
{
    *status = 0;
    *reply = NULL;
    pl_ssrf_url_t u;
    bool local = false;
    if (pl_hook_out_url_check(a->url, strlen(a->url), a->allow_hosts, &u, &local, err, errcap) != 0)
        return PL_EINVAL;
    char pin[PL_SSRF_PIN_MAX];
    int rc = pl_ssrf_resolve(&u, local, pin, sizeof pin, err, errcap);
    if (rc != 0)
        return rc; /* a non-public address: permanent; DNS: retried */
    char sig[PL_HOOK_SIG_LEN + 1], h[PL_HOOK_SIG_LEN + 40];
    size_t blen = strlen(a->body);
    pl_hook_sign(a->key, a->klen, a->now_s, a->body, blen, sig);
    struct curl_slist *hl = NULL, *pins = curl_slist_append(NULL, pin);
    snprintf(h, sizeof h, "X-Parley-Timestamp: %" PRId64, a->now_s);
    hl = curl_slist_append(hl, h);
    snprintf(h, sizeof h, "X-Parley-Signature: %s", sig);
    hl = curl_slist_append(hl, h);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    CURL *c = curl_easy_init();
    sink_t *sink = calloc(1, sizeof *sink);
    rc = PL_EIO;
    if (c == NULL || hl == NULL || pins == NULL || sink == NULL) {
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, a->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, u.https ? "https" : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* no redirects: the SSRF check holds */
    curl_easy_setopt(c, CURLOPT_PROXY, "");          /* nor an environment proxy */
    curl_easy_setopt(c, CURLOPT_RESOLVE, pins);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parleyd-webhook");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && *status > 0)) {
        snprintf(err, errcap, "webhook %s: %s", u.origin, curl_easy_strerror(cc));
        rc = PL_EIO;
    } else if (*status >= 200 && *status < 300) {
        rc = 0;
        char e[120];
        /* a cut-off or malformed answer still means delivered, without a reply */
        if (!sink->cut && pl_hook_out_reply_parse(sink->buf, sink->len, reply, e, sizeof e) != 0)
            snprintf(err, errcap, "webhook %s: no reply: %s", u.origin, e);
    } else if (*status == 429 || *status >= 500 || *status == 408) {
        snprintf(err, errcap, "webhook %s: status %ld", u.origin, *status);
        rc = PL_EIO;
    } else {
        snprintf(err, errcap, "webhook %s refused: status %ld", u.origin, *status);
        rc = PL_EINVAL;
    }
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    curl_slist_free_all(pins);
    free(sink);
    return rc;
}
