/* SPDX-License-Identifier: MIT */
/* fuzz_mail.c -- src/jobs/jobs_mail.c: an `email` job payload (untrusted:
 * it sat in the database) parsed and, when accepted, built into a message.
 * Checks the header-injection guarantee: the headers of a built message hold
 * exactly the 8 lines pl_mail_build writes (a non-ASCII subject may fold into
 * more lines, each starting with a space), and no bare CR or LF anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs_mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_mail_t m = {0};
    char err[128];
    if (pl_mail_parse((const char *)data, size, &m, err, sizeof err) != 0)
        return 0;
    size_t len = 0;
    char *msg = pl_mail_build(&m, "parley@example.org", "parley-job-1.2", 0, &len);
    if (msg == NULL)
        abort(); /* a parsed mail always builds */
    const char *end = strstr(msg, "\r\n\r\n");
    if (end == NULL)
        abort();
    int lines = 0;
    for (const char *p = msg; p < end + 2; p++) {
        if (*p == '\n' && (p == msg || p[-1] != '\r'))
            abort(); /* bare LF */
        if (*p == '\r' && p[1] != '\n')
            abort(); /* bare CR */
        if (*p == '\n' && p + 1 < end + 2 && p[1] != ' ')
            lines++; /* a new header line (not a folded continuation) */
    }
    if (lines + 1 != 8)
        abort();
    for (size_t i = 0; i + 1 < len; i++)
        if ((msg[i] == '\r') != (msg[i + 1] == '\n') && (msg[i] == '\r' || msg[i + 1] == '\n'))
            abort();
    free(msg);
    pl_mail_dispose(&m);
    return 0;
}
