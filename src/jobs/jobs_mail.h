/* SPDX-License-Identifier: MIT */
/* jobs_mail.h -- the `email` job: its payload and the RFC 5322 message made
 * from it. Pure (no I/O), so it is unit-tested and fuzzed (fuzz_mail); the
 * SMTP delivery is jobs_smtp.c. */
#ifndef PL_JOBS_JOBS_MAIL_H
#define PL_JOBS_JOBS_MAIL_H

#include <stddef.h>
#include <stdint.h>

#define PL_MAIL_ADDR_MAX 254    /* RFC 5321 path limit */
#define PL_MAIL_SUBJECT_MAX 200 /* bytes of UTF-8 */
#define PL_MAIL_BODY_MAX 32768  /* bytes of UTF-8 */
#define PL_MAIL_LINE_MAX 998    /* RFC 5322 line limit, CRLF excluded */

typedef struct {
    char *to;      /* owned; one addr-spec, local@domain */
    char *subject; /* owned; one line */
    char *body;    /* owned; text, LF or CRLF line ends */
} pl_mail_t;
void pl_mail_dispose(pl_mail_t *m);

/** Parses an `email` payload {"to": addr, "subject": text, "body": text}.
 * Returns 0, or PL_EINVAL naming the problem in err: not such an object, an
 * address that is not a plain addr-spec (no spaces, brackets, quotes, control
 * bytes, exactly one '@', both sides non-empty), a subject with a control
 * byte, a body with a control byte other than tab/CR/LF or a line over
 * PL_MAIL_LINE_MAX, or anything over its limit. Nothing of the payload can
 * reach a header unchecked (no header injection). */
int pl_mail_parse(const char *payload, size_t len, pl_mail_t *out, char *err, size_t errcap);

/** Checks one address as pl_mail_parse does. */
int pl_mail_addr_ok(const char *addr);

/** The message text with CRLF line ends: Date (now_ms), From, To, Subject
 * (RFC 2047 B-encoded when not ASCII), Message-ID <message_id@from's
 * domain> (the job id: the receiver's duplicate check), MIME headers, body.
 * from must pass pl_mail_addr_ok. Returns malloc'd text (*len bytes) or
 * NULL when from is bad. */
char *pl_mail_build(const pl_mail_t *m, const char *from, const char *message_id, int64_t now_ms,
                    size_t *len);

#endif
