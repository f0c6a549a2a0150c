/* SPDX-License-Identifier: MIT */
/* media_s3_xml.c -- reading and writing the bits of S3 XML parleyd needs
 * (see media_s3_xml.h). No I/O. S3's answers are machine-written and flat;
 * a full XML parser would add a dependency for three element lookups. */
#include "media/media_s3_xml.h"

#include <string.h>

#include "core/err.h"

/* memmem over a length-bounded haystack. */
static const char *find(const char *p, const char *end, const char *needle, size_t nl)
{
    if (nl == 0 || p >= end || (size_t)(end - p) < nl)
        return NULL;
    return memmem(p, (size_t)(end - p), needle, nl);
}

static const struct {
    const char *ent;
    char ch;
} entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

int pl_s3_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t cap)
{
    char open[80], close[80];
    size_t tl = strlen(tag);
    out[0] = '\0';
    if (tl == 0 || tl + 3 >= sizeof open)
        return PL_EINVAL;
    memcpy(open, "<", 1);
    memcpy(open + 1, tag, tl);
    memcpy(open + 1 + tl, ">", 2);
    memcpy(close, "</", 2);
    memcpy(close + 2, tag, tl);
    memcpy(close + 2 + tl, ">", 2);
    const char *end = xml + len;
    const char *s = find(xml, end, open, tl + 2);
    if (!s)
        return PL_ENOTFOUND;
    s += tl + 2;
    const char *e = find(s, end, close, tl + 3);
    if (!e)
        return PL_ENOTFOUND;
    size_t n = 0;
    for (const char *p = s; p < e;) {
        char ch = *p++;
        if (ch == '&') {
            for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
                size_t el = strlen(entities[i].ent);
                if ((size_t)(e - (p - 1)) >= el && !memcmp(p - 1, entities[i].ent, el)) {
                    ch = entities[i].ch;
                    p += el - 1;
                    break;
                }
            }
        } else if ((unsigned char)ch < 0x20 || ch == 0x7f) {
            ch = '?';
        }
        if (n + 1 >= cap) {
            out[0] = '\0';
            return PL_ETOOBIG;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return 0;
}

bool pl_s3_xml_is_error(const char *xml, size_t len)
{
    const char *end = xml + len;
    return find(xml, end, "<Error>", 7) != NULL;
}

void pl_s3_xml_complete(pl_buf_t *b, const char *const *etags, size_t n)
{
    pl_buf_lit(b, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++) {
        pl_buf_printf(b, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
        for (const char *p = etags[i]; *p; p++) {
            switch (*p) {
            case '&':
                pl_buf_lit(b, "&amp;");
                break;
            case '<':
                pl_buf_lit(b, "&lt;");
                break;
            case '>':
                pl_buf_lit(b, "&gt;");
                break;
            case '"':
                pl_buf_lit(b, "&quot;");
                break;
            default:
                pl_buf_append(b, p, 1);
            }
        }
        pl_buf_lit(b, "</ETag></Part>");
    }
    pl_buf_lit(b, "</CompleteMultipartUpload>");
}
