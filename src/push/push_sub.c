/* SPDX-License-Identifier: MIT */
/* push_sub.c -- push subscriptions, endpoint URLs and the `push` job's
 * payload: parsing and checks only, no I/O. */
#include "push/push_sub.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return PL_EINVAL;
}

int pl_push_url_parse(const char *url, size_t len, bool allow_http, pl_push_url_t *out, char *err,
                      size_t errcap)
{
    return pl_ssrf_url_parse(url, len, allow_http, out, err, errcap);
}

bool pl_push_addr_public(const struct sockaddr *sa)
{
    return pl_ssrf_addr_public(sa);
}

static int key_field(json_t *keys, const char *name, uint8_t *out, size_t want, char *err,
                     size_t errcap)
{
    json_t *v = json_object_get(keys, name);
    if (!json_is_string(v))
        return fail(err, errcap, "keys.%s must be a string", name);
    size_t n = 0;
    uint8_t tmp[PL_PUSH_PUBKEY_LEN + 1];
    if (pl_b64url_decode(json_string_value(v), json_string_length(v), tmp, sizeof tmp, &n) != 0 ||
        n != want)
        return fail(err, errcap, "keys.%s must be base64url of %zu bytes", name, want);
    memcpy(out, tmp, want);
    return 0;
}

/* Checks a parsed subscription object. */
static int sub_from(json_t *o, bool allow_http, pl_push_sub_t *out, char *err, size_t errcap)
{
    if (!json_is_object(o))
        return fail(err, errcap, "a subscription is an object");
    json_t *ep = json_object_get(o, "endpoint"), *keys = json_object_get(o, "keys");
    if (!json_is_string(ep))
        return fail(err, errcap, "endpoint must be a string");
    size_t el = json_string_length(ep);
    int rc = pl_push_url_parse(json_string_value(ep), el, allow_http, &out->url, err, errcap);
    if (rc != 0)
        return rc;
    memcpy(out->endpoint, json_string_value(ep), el);
    out->endpoint[el] = '\0';
    if (!json_is_object(keys))
        return fail(err, errcap, "keys must be an object");
    if ((rc = key_field(keys, "p256dh", out->p256dh, PL_PUSH_PUBKEY_LEN, err, errcap)) != 0 ||
        (rc = key_field(keys, "auth", out->auth, PL_PUSH_AUTH_LEN, err, errcap)) != 0)
        return rc;
    if (pl_push_pubkey_check(out->p256dh) != 0)
        return fail(err, errcap, "keys.p256dh is not a P-256 public key");
    return 0;
}

int pl_push_sub_parse(const char *json, size_t len, bool allow_http, pl_push_sub_t *out, char *err,
                      size_t errcap)
{
    json_error_t e;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (o == NULL)
        return fail(err, errcap, "subscription is not JSON");
    int rc = sub_from(o, allow_http, out, err, errcap);
    json_decref(o);
    return rc;
}

void pl_push_job_dispose(pl_push_job_t *j)
{
    if (j == NULL)
        return;
    free(j->data);
    j->data = NULL;
}

char *pl_push_job_build(int64_t sub_id, const char *endpoint, const char *p256dh, const char *auth,
                        const char *topic, const char *urgency, int64_t ttl_s, const char *data)
{
    json_t *d = json_loads(data, 0, NULL);
    if (d == NULL)
        return NULL;
    json_t *o = json_pack("{sI s{ss s{ss ss}} ss ss sI so}", "sub", (json_int_t)sub_id, "s",
                          "endpoint", endpoint, "keys", "p256dh", p256dh, "auth", auth, "topic",
                          topic, "urgency", urgency, "ttl", (json_int_t)ttl_s, "data", d);
    if (o == NULL)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* RFC 8030 5.4: the Topic is at most 32 characters of the URL-safe base64
 * alphabet. */
static bool topic_ok(const char *t)
{
    size_t n = strlen(t);
    if (n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool urgency_ok(const char *u)
{
    return strcmp(u, "very-low") == 0 || strcmp(u, "low") == 0 || strcmp(u, "normal") == 0 ||
           strcmp(u, "high") == 0;
}

int pl_push_job_parse(const char *payload, size_t len, bool allow_http, pl_push_job_t *out,
                      char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    json_error_t e;
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &e);
    int rc = PL_EINVAL;
    json_int_t sub = 0, ttl = 0;
    const char *topic = NULL, *urgency = NULL;
    json_t *s = NULL, *data = NULL;
    if (o == NULL || json_unpack(o, "{sI so ss ss sI so}", "sub", &sub, "s", &s, "topic", &topic,
                                 "urgency", &urgency, "ttl", &ttl, "data", &data) != 0) {
        rc = fail(err, errcap, "push payload: not {sub, s, topic, urgency, ttl, data}");
        goto out;
    }
    if (sub <= 0 || ttl < 0 || ttl > 4 * 7 * 86400 || !topic_ok(topic) || !urgency_ok(urgency) ||
        !json_is_object(data)) {
        rc = fail(err, errcap, "push payload: bad sub, ttl, topic, urgency or data");
        goto out;
    }
    if ((rc = sub_from(s, allow_http, &out->sub, err, errcap)) != 0)
        goto out;
    out->sub_id = sub;
    out->ttl_s = ttl;
    snprintf(out->topic, sizeof out->topic, "%s", topic);
    snprintf(out->urgency, sizeof out->urgency, "%s", urgency);
    out->data = json_dumps(data, JSON_COMPACT);
    if (out->data == NULL || strlen(out->data) > PL_PUSH_PLAINTEXT_MAX) {
        free(out->data);
        out->data = NULL;
        rc = fail(err, errcap, "push payload: data too large");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}
