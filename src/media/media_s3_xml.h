/* SPDX-License-Identifier: MIT */
/* media_s3_xml.h -- the few pieces of S3's XML answers parleyd reads
 * (CreateMultipartUpload's UploadId, an error's Code and Message) and the
 * CompleteMultipartUpload body it writes. Pure: no I/O, no allocation
 * besides the caller's buffer; fuzzed (tests/fuzz/fuzz_s3_xml.c). */
#ifndef PL_MEDIA_MEDIA_S3_XML_H
#define PL_MEDIA_MEDIA_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/** Finds the text of the first element <tag>...</tag> in xml (len bytes, not
 * necessarily NUL-terminated; tag borrowed, a plain name), decodes the five
 * predefined XML entities, and writes it NUL-terminated into out (cap > 0
 * bytes). Control characters become '?'. Returns 0, PL_ENOTFOUND when there
 * is no such element, or PL_ETOOBIG when the text does not fit (out then
 * holds ""). */
int pl_s3_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t cap);

/** Whether an S3 answer body is an <Error> document (CompleteMultipartUpload
 * can answer 200 with one). Pure. */
bool pl_s3_xml_is_error(const char *xml, size_t len);

/** Appends to b the CompleteMultipartUpload body for parts 1..n whose ETags
 * (as the server sent them, quotes included; borrowed) are etags[0..n-1],
 * XML-escaped. */
void pl_s3_xml_complete(pl_buf_t *b, const char *const *etags, size_t n);

#endif
