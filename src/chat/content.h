/* SPDX-License-Identifier: MIT */
/* content.h -- checking a message's content object (send, edit). Pure. */
#ifndef PL_CHAT_CONTENT_H
#define PL_CHAT_CONTENT_H

#include <jansson.h>
#include <stdint.h>

/** Checks content (borrowed; any JSON value or NULL): an object with a
 * known "type" and that type's fields. Media types refuse unknown keys, so
 * a client cannot smuggle fields other clients would trust. Returns NULL
 * when valid, with *media the media id it references (0 for text); else
 * the bad_request message (a static string). */
const char *pl_content_check(json_t *content, int64_t *media);

#endif
