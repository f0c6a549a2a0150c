/* SPDX-License-Identifier: MIT */
/* jobs_mail.c -- the `email` job's payload and message (jobs_mail.h). */
#include "jobs/jobs_mail.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"

void pl_mail_dispose(pl_mail_t *m)
{
    if (m == NULL)
        return;
    free(m->to);
    free(m->subject);
    free(m->body);
    m->to = m->subject = m->body = NULL;
}

int pl_mail_addr_ok(const char *a)
{
    size_t n = strlen(a), at = n;
    if (n == 0 || n > PL_MAIL_ADDR_MAX)
        return PL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        /* Printable ASCII only, and none of what would end or quote an
         * address in a header or an SMTP command. */
        if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c) != NULL)
            return PL_EINVAL;
        if (c == '@') {
            if (at != n)
                return PL_EINVAL;
            at = i;
        }
    }
    return at > 0 && at + 1 < n ? 0 : PL_EINVAL;
}

static int bad(char *err, size_t cap, const char *msg)
{
    snprintf(err, cap, "%s", msg);
    return PL_EINVAL;
}

int pl_mail_parse(const char *payload, size_t len, pl_mail_t *out, char *err, size_t errcap)
{
    json_error_t je;
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    const char *to = NULL, *subject = NULL, *body = NULL;
    size_t sl = 0, bl = 0;
    int rc = 0;
    if (o == NULL || json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:s%, s:s%}", "to", &to, "subject",
                                    &subject, &sl, "body", &body, &bl) != 0)
        rc = bad(err, errcap, "payload is not {\"to\", \"subject\", \"body\"}");
    else if (pl_mail_addr_ok(to) != 0)
        rc = bad(err, errcap, "bad recipient address");
    else if (sl > PL_MAIL_SUBJECT_MAX || bl > PL_MAIL_BODY_MAX)
        rc = bad(err, errcap, "subject or body too long");
    for (size_t i = 0; rc == 0 && i < sl; i++)
        if ((unsigned char)subject[i] < 0x20 || subject[i] == 0x7f)
            rc = bad(err, errcap, "control character in the subject");
    size_t line = 0;
    for (size_t i = 0; rc == 0 && i < bl; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\n') {
            line = 0;
            continue;
        }
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
            rc = bad(err, errcap, "control character in the body");
        else if (c == '\r' && (i + 1 >= bl || body[i + 1] != '\n'))
            rc = bad(err, errcap, "bare CR in the body");
        else if (c != '\r' && ++line > PL_MAIL_LINE_MAX)
            rc = bad(err, errcap, "body line too long");
    }
    if (rc == 0)
        *out = (pl_mail_t){pl_xstrdup(to), pl_xstrdup(subject), pl_xstrdup(body)};
    json_decref(o);
    return rc;
}

/* A growing text buffer (aborts on OOM like pl_xmalloc). */
typedef struct {
    char *p;
    size_t n, cap;
} sb_t;

static void sb_add(sb_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = pl_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sb_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static bool ascii(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

char *pl_mail_build(const pl_mail_t *m, const char *from, const char *message_id, int64_t now_ms,
                    size_t *len)
{
    if (pl_mail_addr_ok(from) != 0 || pl_mail_addr_ok(m->to) != 0)
        return NULL;
    sb_t b = {0};
    char date[64];
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S +0000\r\n", &tm);
    sb_str(&b, date);
    sb_str(&b, "From: <");
    sb_str(&b, from);
    sb_str(&b, ">\r\nTo: <");
    sb_str(&b, m->to);
    sb_str(&b, ">\r\nSubject: ");
    if (ascii(m->subject)) {
        sb_str(&b, m->subject);
    } else {
        /* RFC 2047: one encoded word per chunk of at most 45 input bytes
         * (60 base64 characters), cut on UTF-8 character boundaries. */
        size_t n = strlen(m->subject), i = 0;
        while (i < n) {
            size_t k = n - i < 45 ? n - i : 45;
            while (i + k < n && k > 0 && ((unsigned char)m->subject[i + k] & 0xc0) == 0x80)
                k--;
            char enc[sodium_base64_ENCODED_LEN(45, sodium_base64_VARIANT_ORIGINAL)];
            sodium_bin2base64(enc, sizeof enc, (const unsigned char *)m->subject + i, k,
                              sodium_base64_VARIANT_ORIGINAL);
            sb_str(&b, i > 0 ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
            sb_str(&b, enc);
            sb_str(&b, "?=");
            i += k;
        }
    }
    const char *domain = strchr(from, '@') + 1;
    sb_str(&b, "\r\nMessage-ID: <");
    sb_str(&b, message_id);
    sb_str(&b, "@");
    sb_str(&b, domain);
    sb_str(&b, ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n");
    /* Body lines end in CRLF; libcurl dot-stuffs lines that start with '.'. */
    for (const char *p = m->body; *p != '\0';) {
        size_t k = strcspn(p, "\r\n");
        sb_add(&b, p, k);
        sb_str(&b, "\r\n");
        p += k;
        if (*p == '\r')
            p++;
        if (*p == '\n')
            p++;
    }
    *len = b.n;
    return b.p;
}
