/* SPDX-License-Identifier: MIT */
/* fuzz_media_name.c -- libFuzzer target for the upload's file-name parsing
 * (media/media.c: pl_media_query_name, the ?name= of POST /v1/media) and the
 * Content-Disposition filename made from a stored name
 * (pl_media_disposition_name). Pure, no I/O.
 * Input: byte 0 picks the output size, the rest is a query string. The
 * checks are the functions' contracts: a parsed name is valid UTF-8 with no
 * control character and no path separator, and a header filename holds only
 * bytes that cannot end or split a quoted header value. Also the payload
 * check of the collector's deletion jobs (pl_media_gc_payload_sha, media_gc.c:
 * a payload read back from the store): what it accepts is 64 lowercase hex
 * digits, the only thing the job handler turns into object names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = 1 + data[0]; /* 1..256: the real one is 256 */
    char *q = malloc(size);
    memcpy(q, data + 1, size - 1);
    q[size - 1] = '\0';
    char *name = malloc(cap);
    pl_media_query_name(q, name, cap);
    size_t n = strlen(name);
    if (n >= cap || !pl_utf8_valid(name, n) || !strcmp(name, ".") || !strcmp(name, ".."))
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\')
            abort();
    }
    /* The stored name may be anything a database holds: try the raw input
     * too. */
    char safe[256];
    for (int pass = 0; pass < 2; pass++) {
        size_t m = pl_media_disposition_name(pass ? q : name, safe, sizeof safe);
        if (m != strlen(safe) || m >= sizeof safe)
            abort();
        for (size_t i = 0; i < m; i++) {
            unsigned char ch = (unsigned char)safe[i];
            if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == ';')
                abort();
        }
    }
    char sha[65];
    if (pl_media_gc_payload_sha((const char *)data, size, sha) == 0 &&
        (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64))
        abort();
    free(name);
    free(q);
    return 0;
}
