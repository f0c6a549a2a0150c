/* SPDX-License-Identifier: MIT */
/* test_media_s3_xml.c -- the S3 XML reader and writer (media_s3_xml.c),
 * with the answers s3rver and AWS send and hostile ones. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "media/media_s3_xml.h"

#define X(s) s, sizeof(s) - 1

static void test_reads_elements(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(0, pl_s3_xml_text(X("<?xml version=\"1.0\"?>\n<InitiateMultipartUploadResult>"
                                         "<Bucket>b</Bucket><UploadId>abc-123_x.y~</UploadId>"
                                         "</InitiateMultipartUploadResult>"),
                                       "UploadId", out, sizeof out));
    assert_string_equal(out, "abc-123_x.y~");
    assert_int_equal(0, pl_s3_xml_text(X("<Error><Code>SignatureDoesNotMatch</Code>"
                                         "<Message>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e"
                                         "&apos; &bogus;</Message></Error>"),
                                       "Message", out, sizeof out));
    assert_string_equal(out, "a & b <c> \"d\" 'e' &bogus;");
    assert_true(pl_s3_xml_is_error(X("<?xml?>\n<Error><Code>InternalError</Code></Error>")));
    assert_false(pl_s3_xml_is_error(X("<CompleteMultipartUploadResult/>")));
}

static void test_hostile(void **state)
{
    (void)state;
    char out[8];
    /* Missing, unterminated, empty, truncated in the middle of a tag. */
    assert_int_equal(PL_ENOTFOUND, pl_s3_xml_text(X("<Code>abc"), "Code", out, sizeof out));
    assert_int_equal(PL_ENOTFOUND, pl_s3_xml_text(X(""), "Code", out, sizeof out));
    assert_int_equal(PL_ENOTFOUND, pl_s3_xml_text(X("<Cod"), "Code", out, sizeof out));
    assert_int_equal(PL_ENOTFOUND, pl_s3_xml_text(X("</Code><Code"), "Code", out, sizeof out));
    assert_int_equal(0, pl_s3_xml_text(X("<Code></Code>"), "Code", out, sizeof out));
    assert_string_equal(out, "");
    /* Longer than the buffer: refused, never cut. */
    assert_int_equal(PL_ETOOBIG,
                     pl_s3_xml_text(X("<Code>12345678</Code>"), "Code", out, sizeof out));
    assert_string_equal(out, "");
    assert_int_equal(0, pl_s3_xml_text(X("<Code>1234567</Code>"), "Code", out, sizeof out));
    /* Control characters and NULs do not reach a log line. */
    assert_int_equal(0, pl_s3_xml_text(X("<Code>a\r\nb\0c</Code>"), "Code", out, sizeof out));
    assert_string_equal(out, "a??b?c");
    /* An entity cut by the end of the element. */
    assert_int_equal(0, pl_s3_xml_text(X("<Code>&am</Code>"), "Code", out, sizeof out));
    assert_string_equal(out, "&am");
    /* Not NUL-terminated input: only len bytes are looked at. */
    const char buf[] = {'<', 'C', 'o', 'd', 'e', '>', 'x', '<', '/', 'C', 'o', 'd', 'e', '>'};
    assert_int_equal(PL_ENOTFOUND, pl_s3_xml_text(buf, sizeof buf - 1, "Code", out, sizeof out));
    assert_int_equal(0, pl_s3_xml_text(buf, sizeof buf, "Code", out, sizeof out));
    assert_string_equal(out, "x");
}

static void test_complete_body(void **state)
{
    (void)state;
    const char *const etags[] = {"\"e1\"", "\"a&b<c>\""};
    pl_buf_t b;
    pl_buf_init(&b);
    pl_s3_xml_complete(&b, etags, 2);
    pl_buf_reserve(&b, 1)[0] = '\0';
    assert_string_equal(pl_buf_head(&b),
                        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1"
                        "&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;a&amp;b"
                        "&lt;c&gt;&quot;</ETag></Part></CompleteMultipartUpload>");
    pl_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_elements),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_complete_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
