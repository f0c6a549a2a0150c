/* SPDX-License-Identifier: MIT */
/* hook_out.c -- outgoing webhooks: target URLs, trigger words, the event
 * body and the receiver's reply. Parsing only, no I/O. */
#include "hooks/hook_out.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"

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

/* Whether host (lowercase, as the URL parser gives it) is an entry of the
 * comma-separated list. */
static bool host_listed(const char *list, const char *host)
{
    if (list == NULL)
        return false;
    size_t hl = strlen(host);
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        size_t n = (size_t)(t - p);
        /* an IPv6 entry may be written with brackets */
        if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
            p++;
            n -= 2;
        }
        if (n > 0 && n == hl && strncasecmp(p, host, n) == 0)
            return true;
        p = e;
    }
    return false;
}

int pl_hook_out_url_check(const char *url, size_t len, const char *allow_hosts, pl_ssrf_url_t *out,
                          bool *local, char *err, size_t errcap)
{
    *local = false;
    if (pl_ssrf_url_parse(url, len, true, out, err, errcap) != 0)
        return PL_EINVAL;
    bool listed = host_listed(allow_hosts, out->host);
    if (!out->https && !listed)
        return fail(err, errcap, "url must be https:// (http only to hosts the operator allows)");
    *local = listed;
    return 0;
}

static bool word_ok(const char *s, size_t n)
{
    if (n == 0 || n > PL_HOOK_TRIGGER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int pl_hook_out_triggers_parse(const char *json, size_t len, char **out, char *err, size_t errcap)
{
    if (json == NULL) {
        *out = pl_xstrdup("");
        return 0;
    }
    json_t *a = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return fail(err, errcap, "triggers must be an array of words");
    }
    if (json_array_size(a) > PL_HOOK_TRIGGERS_MAX) {
        json_decref(a);
        return fail(err, errcap, "at most %d trigger words", PL_HOOK_TRIGGERS_MAX);
    }
    char buf[PL_HOOK_TRIGGERS_MAX * (PL_HOOK_TRIGGER_MAX + 1) + 1];
    size_t bl = 0;
    buf[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *w = json_string_value(v);
        size_t n = json_string_length(v);
        if (w == NULL || !word_ok(w, n) || memchr(w, '\0', n) != NULL) {
            json_decref(a);
            return fail(err, errcap,
                        "a trigger word is 1..%d bytes without spaces or control characters",
                        PL_HOOK_TRIGGER_MAX);
        }
        bool dup = false;
        for (const char *p = buf; *p != '\0' && !dup;) {
            size_t wl = strcspn(p, " ");
            dup = wl == n && memcmp(p, w, n) == 0;
            p += wl + (p[wl] == ' ');
        }
        if (dup)
            continue;
        if (bl > 0)
            buf[bl++] = ' ';
        memcpy(buf + bl, w, n);
        bl += n;
        buf[bl] = '\0';
    }
    json_decref(a);
    *out = pl_xstrdup(buf);
    return 0;
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool pl_hook_out_matches(const char *triggers, const char *body)
{
    if (triggers == NULL || triggers[0] == '\0')
        return true;
    if (body == NULL)
        return false;
    while (space(*body))
        body++;
    for (const char *p = triggers; *p != '\0';) {
        size_t wl = strcspn(p, " ");
        if (wl > 0 && strncmp(body, p, wl) == 0 && (body[wl] == '\0' || space(body[wl])))
            return true;
        p += wl + (p[wl] == ' ');
    }
    return false;
}

int pl_hook_out_event(const pl_hook_event_t *ev, char **out)
{
    json_t *c = json_loads(ev->content != NULL ? ev->content : "", 0, NULL);
    if (!json_is_object(c)) {
        json_decref(c);
        return PL_EINVAL;
    }
    char w[24], r[24], m[24], u[24];
    snprintf(w, sizeof w, "o%" PRId64, ev->webhook);
    snprintf(r, sizeof r, "r%" PRId64, ev->room);
    snprintf(m, sizeof m, "m%" PRId64, ev->id);
    snprintf(u, sizeof u, "u%" PRId64, ev->sender);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:o}", "webhook", w, "room", r, "seq",
                          (json_int_t)ev->seq, "id", m, "sender", u, "ts", (json_int_t)ev->ts_ms,
                          "content", c);
    if (o == NULL)
        return PL_EINVAL;
    *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return *out != NULL ? 0 : PL_EINVAL;
}

int pl_hook_out_reply_parse(const char *body, size_t len, char **text, char *err, size_t errcap)
{
    *text = NULL;
    size_t i = 0;
    while (i < len && space(body[i]))
        i++;
    if (i == len)
        return 0;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (o == NULL)
        return fail(err, errcap, "answer is not JSON");
    json_t *t = json_is_object(o) ? json_object_get(o, "text") : NULL;
    int rc = 0;
    if (t == NULL) {
        rc = 0;
    } else if (!json_is_string(t)) {
        rc = fail(err, errcap, "answer's text is not a string");
    } else if (json_string_length(t) > PL_HOOK_REPLY_MAX) {
        rc = fail(err, errcap, "answer's text is over %d bytes", PL_HOOK_REPLY_MAX);
    } else if (json_string_length(t) > 0 &&
               memchr(json_string_value(t), '\0', json_string_length(t)) == NULL) {
        *text = pl_xstrdup(json_string_value(t));
    }
    json_decref(o);
    return rc;
}
