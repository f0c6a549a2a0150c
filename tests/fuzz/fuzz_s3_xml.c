/* SPDX-License-Identifier: MIT */
/* fuzz_s3_xml.c -- libFuzzer target: the S3 XML reader (media_s3_xml.c)
 * over arbitrary answers, for every tag parleyd looks up. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "media/media_s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tags[] = {"UploadId", "Code", "Message", "ETag", "Key"};
    const char *xml = (const char *)data;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char out[64], big[4096];
        (void)pl_s3_xml_text(xml, size, tags[i], out, sizeof out);
        (void)pl_s3_xml_text(xml, size, tags[i], big, sizeof big);
        (void)pl_s3_xml_text(xml, size, tags[i], out, 1);
    }
    (void)pl_s3_xml_is_error(xml, size);
    /* The writer: the input split into ETags (NUL-separated). */
    char copy[512];
    size_t n = size < sizeof copy - 1 ? size : sizeof copy - 1;
    memcpy(copy, data, n);
    copy[n] = '\0';
    const char *etags[2] = {copy, copy + strlen(copy)};
    pl_buf_t b;
    pl_buf_init(&b);
    pl_s3_xml_complete(&b, etags, 2);
    pl_buf_dispose(&b);
    return 0;
}
