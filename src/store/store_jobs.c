/* SPDX-License-Identifier: MIT */
/* store_jobs.c -- what both backends share about durable jobs (store.h,
 * "durable background jobs"): the check of what is enqueued and the job
 * struct's disposal. Pure: no I/O. */
#include "store/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void pl_job_dispose(pl_job_t *j)
{
    if (j == NULL)
        return;
    free(j->kind);
    free(j->key);
    free(j->payload);
    j->kind = j->key = j->payload = NULL;
}

static bool kind_ok(const char *kind)
{
    size_t n = 0;
    for (const char *p = kind; *p != '\0'; p++, n++) {
        char c = *p;
        if (n >= PL_JOB_KIND_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return n > 0;
}

int pl_job_check(const char *kind, const char *key, const char *payload)
{
    if (kind == NULL || payload == NULL || !kind_ok(kind))
        return PL_EINVAL;
    if (key != NULL) {
        size_t n = strlen(key);
        if (n > PL_JOB_KEY_MAX)
            return PL_ETOOBIG;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
                return PL_EINVAL;
        json_t *k = json_stringn(key, n); /* NULL: not UTF-8 */
        if (k == NULL)
            return PL_EINVAL;
        json_decref(k);
    }
    size_t plen = strlen(payload);
    if (plen > PL_JOB_PAYLOAD_MAX)
        return PL_ETOOBIG;
    /* A handler parses it: refuse here what it never could (the enqueuer's
     * bug surfaces at once instead of as a dead job an hour later). */
    json_error_t e;
    json_t *j = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, &e);
    bool ok = j != NULL && (json_is_object(j) || json_is_array(j));
    json_decref(j);
    return ok ? 0 : PL_EINVAL;
}

size_t pl_job_error_len(const char *error)
{
    size_t n = strnlen(error, PL_JOB_ERROR_MAX);
    if (error[n] == '\0')
        return n;
    /* Cut before a UTF-8 continuation byte, never inside a character. */
    while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
        n--;
    return n;
}
