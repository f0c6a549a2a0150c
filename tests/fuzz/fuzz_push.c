/* SPDX-License-Identifier: MIT */
/* fuzz_push.c -- src/push/push_sub.c: what a user hands us for Web Push
 * (a PushSubscription; its endpoint URL) and the `push` job payload (it sat
 * in the database). Byte 0 picks the parser. Checks what the sender relies
 * on: an accepted endpoint is printable ASCII with an https (or, when
 * allowed, http) origin that prefixes it, and an accepted payload's topic
 * and urgency are header-safe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "push/push_sub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_url(const pl_push_url_t *u, const char *endpoint, size_t len)
{
    size_t ol = strlen(u->origin);
    if (strncmp(u->origin, u->https ? "https://" : "http://", u->https ? 8 : 7) != 0)
        abort();
    for (size_t i = 0; i < len; i++)
        if (endpoint[i] < 0x21 || endpoint[i] > 0x7e)
            abort();
    if (u->host[0] == '\0' || u->port == 0 || ol > len + 6)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool allow_http = data[0] & 1;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char err[128];
    switch (data[0] >> 1 & 3) {
    case 0: {
        pl_push_url_t u;
        if (pl_push_url_parse(in, n, allow_http, &u, err, sizeof err) == 0)
            check_url(&u, in, n);
        break;
    }
    case 1: {
        pl_push_sub_t s;
        if (pl_push_sub_parse(in, n, allow_http, &s, err, sizeof err) == 0)
            check_url(&s.url, s.endpoint, strlen(s.endpoint));
        break;
    }
    default: {
        pl_push_job_t j;
        if (pl_push_job_parse(in, n, allow_http, &j, err, sizeof err) == 0) {
            check_url(&j.sub.url, j.sub.endpoint, strlen(j.sub.endpoint));
            for (const char *p = j.topic; *p; p++)
                if (*p < 0x21 || *p > 0x7e)
                    abort();
            if (j.data == NULL || strlen(j.data) > PL_PUSH_PLAINTEXT_MAX)
                abort();
            pl_push_job_dispose(&j);
        }
        break;
    }
    }
    return 0;
}
