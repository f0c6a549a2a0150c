/* SPDX-License-Identifier: MIT */
/* hook_out.h -- outgoing webhooks (issue 16, step 2): the pure half. Which
 * URLs a webhook may target (https, or http only to a host on the
 * operator's allow list), its trigger words and which messages match them,
 * the JSON event POSTed for a message, and the receiver's answer that may
 * post a reply. Pure: no I/O, no libuv; unit-tested (test_hook_out) and
 * fuzzed (fuzz_hook_body, its outgoing half).
 *
 * Status: these pieces, the shared SSRF guard (core/ssrf.h), one delivery
 * attempt (hook_send.h) and the store rows (store.h, "outgoing webhooks")
 * only. The registration ops, the
 * enqueue after a message commits and the delivery job are not built yet
 * (docs/architecture.md). */
#ifndef PL_HOOKS_HOOK_OUT_H
#define PL_HOOKS_HOOK_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ssrf.h"

/** At most this many trigger words, each 1..PL_HOOK_TRIGGER_MAX bytes. */
#define PL_HOOK_TRIGGERS_MAX 10
#define PL_HOOK_TRIGGER_MAX 32
/** Longest reply text taken from a receiver's answer, in bytes. */
#define PL_HOOK_REPLY_MAX 4000

/** Checks a target URL (len bytes): pl_ssrf_url_parse's rules, https only,
 * except that http:// is accepted when the host is on allow_hosts (a
 * comma-separated list of host names or IP literals, case-insensitive,
 * spaces around entries ignored; NULL or "" = none). *local receives
 * whether the host is on that list: only then may it resolve to a loopback
 * or private address (pass it to pl_ssrf_resolve as allow_local). Returns 0
 * or PL_EINVAL with a reason in err. */
int pl_hook_out_url_check(const char *url, size_t len, const char *allow_hosts, pl_ssrf_url_t *out,
                          bool *local, char *err, size_t errcap);

/** Normalises trigger words given as a JSON array of strings (NULL = none)
 * into their stored form, the words separated by one space (*out owned,
 * free(); "" when none). A word is 1..PL_HOOK_TRIGGER_MAX bytes with no
 * space or control byte; duplicates are dropped. Returns 0 or PL_EINVAL
 * with a reason in err. */
int pl_hook_out_triggers_parse(const char *json, size_t len, char **out, char *err, size_t errcap);

/** Whether a message whose text body is body (NUL-terminated; NULL for a
 * content without text) fires a webhook with stored triggers: always when
 * triggers is "" (every message); otherwise when the body, after leading
 * white space, starts with one of the words followed by white space or its
 * end (Slack's trigger words; case-sensitive). */
bool pl_hook_out_matches(const char *triggers, const char *body);

/** The message a webhook is told about (borrowed). content is the stored
 * content's JSON text (an object). */
typedef struct {
    int64_t webhook; /* o<id> */
    int64_t room;    /* r<id> */
    int64_t seq;
    int64_t id;     /* m<id> */
    int64_t sender; /* u<id> */
    int64_t ts_ms;
    const char *content;
} pl_hook_event_t;

/** Writes the event body (compact JSON, owned, free()):
 *   {"webhook":"o1","room":"r5","seq":42,"id":"m991","sender":"u1",
 *    "ts":1732730000123,"content":{...}}
 * Returns 0, or PL_EINVAL when content is not a JSON object. */
int pl_hook_out_event(const pl_hook_event_t *ev, char **out);

/** Reads a receiver's 2xx answer (len bytes, any bytes): {"text": "..."}
 * with a non-empty text of at most PL_HOOK_REPLY_MAX bytes is a reply
 * (*text owned, free()); an empty body, or any other JSON, is none (*text
 * NULL; the delivery still succeeded). Returns 0, or PL_EINVAL when the
 * body is not JSON or text is too long or not a string (delivered, but no
 * reply; err says why, for the log). */
int pl_hook_out_reply_parse(const char *body, size_t len, char **text, char *err, size_t errcap);

#endif
