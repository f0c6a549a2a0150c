/* SPDX-License-Identifier: MIT */
/* call_cmd.c -- call op arguments to a typed command or an error (issue
 * 19). No I/O. */
#include "chat/call_cmd.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define SDP_MID_MAX 64
#define UFRAG_MAX 256

__attribute__((format(printf, 3, 4))) static bool fail(pl_cmd_err_t *e, const char *code,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return false;
}

bool pl_call_id_parse(const char *s, uint64_t *out)
{
    if (s == NULL || s[0] != 'c' || strlen(s) != 17)
        return false;
    uint64_t v = 0;
    for (int i = 1; i <= 16; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (v == 0)
        return false;
    *out = v;
    return true;
}

void pl_call_id_format(uint64_t id, char out[18])
{
    snprintf(out, 18, "c%016" PRIx64, id);
}

static bool arg_call(json_t *req, uint64_t *out, pl_cmd_err_t *e)
{
    json_t *v = json_object_get(req, "call");
    if (!json_is_string(v) || !pl_call_id_parse(json_string_value(v), out))
        return fail(e, "bad_request", "\"call\" must be a call id like \"c\" + 16 hex digits");
    return true;
}

bool pl_call_cmd_invite(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    json_t *room = json_object_get(req, "room");
    if (!json_is_string(room) || !pl_id_parse(json_string_value(room), 'r', &c->u.call.room))
        return fail(e, "bad_request", "\"room\" must be a room id like \"r1\"");
    const char *kind = json_string_value(json_object_get(req, "kind"));
    if (kind == NULL || (strcmp(kind, "audio") != 0 && strcmp(kind, "video") != 0))
        return fail(e, "bad_request", "\"kind\" must be \"audio\" or \"video\"");
    c->u.call.video = strcmp(kind, "video") == 0;
    return true;
}

bool pl_call_cmd_id(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_call(req, &c->u.call.call, e);
}

/* A string member of at most max bytes without NUL; absent is fine unless
 * required. */
static bool str_ok(json_t *o, const char *key, bool required, size_t max)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return !required;
    return json_is_string(v) && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

static bool only_keys(json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known)
            return false;
    }
    return true;
}

/* An RTCIceCandidateInit (or null: the end of candidates). */
static bool candidate_ok(json_t *cand, size_t max, pl_cmd_err_t *e)
{
    static const char *const keys[] = {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment",
                                       NULL};
    if (json_is_null(cand))
        return true;
    if (!json_is_object(cand))
        return fail(e, "bad_request", "\"signal.candidate\" must be an object or null");
    json_t *text = json_object_get(cand, "candidate");
    if (json_is_string(text) && json_string_length(text) > max)
        return fail(e, "too_large", "the candidate exceeds call_max_sdp_bytes");
    json_t *idx = json_object_get(cand, "sdpMLineIndex");
    if (!str_ok(cand, "candidate", true, max) ||
        !(json_object_get(cand, "sdpMid") == NULL ||
          json_is_null(json_object_get(cand, "sdpMid")) ||
          str_ok(cand, "sdpMid", false, SDP_MID_MAX)) ||
        !(idx == NULL || json_is_null(idx) ||
          (json_is_integer(idx) && json_integer_value(idx) >= 0 &&
           json_integer_value(idx) <= 255)) ||
        !(json_object_get(cand, "usernameFragment") == NULL ||
          json_is_null(json_object_get(cand, "usernameFragment")) ||
          str_ok(cand, "usernameFragment", false, UFRAG_MAX)) ||
        !only_keys(cand, keys))
        return fail(e, "bad_request",
                    "\"signal.candidate\" takes candidate (string), sdpMid, sdpMLineIndex "
                    "(0..255) and usernameFragment");
    return true;
}

bool pl_call_cmd_signal(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    static const char *const sdp_keys[] = {"type", "sdp", NULL};
    static const char *const cand_keys[] = {"type", "candidate", NULL};
    size_t max = (size_t)cfg->call_max_sdp_bytes;
    if (!arg_call(req, &c->u.call.call, e))
        return false;
    json_t *to = json_object_get(req, "to");
    if (to != NULL && !json_is_null(to) &&
        (!json_is_string(to) || !pl_id_parse(json_string_value(to), 'u', &c->u.call.to)))
        return fail(e, "bad_request", "\"to\" must be a user id like \"u1\"");
    json_t *sig = json_object_get(req, "signal");
    if (!json_is_object(sig))
        return fail(e, "bad_request", "\"signal\" must be an object");
    const char *type = json_string_value(json_object_get(sig, "type"));
    if (type == NULL)
        return fail(e, "bad_request", "\"signal.type\" must be offer, answer or candidate");
    if (strcmp(type, "offer") == 0 || strcmp(type, "answer") == 0) {
        json_t *sdp = json_object_get(sig, "sdp");
        if (json_is_string(sdp) && json_string_length(sdp) > max)
            return fail(e, "too_large", "the SDP exceeds call_max_sdp_bytes");
        if (!str_ok(sig, "sdp", true, max) || json_string_length(sdp) == 0 ||
            !only_keys(sig, sdp_keys))
            return fail(e, "bad_request", "an offer or answer takes a non-empty \"sdp\" string");
    } else if (strcmp(type, "candidate") == 0) {
        if (json_object_get(sig, "candidate") == NULL)
            return fail(e, "bad_request", "a candidate signal needs \"candidate\"");
        if (!candidate_ok(json_object_get(sig, "candidate"), max, e))
            return false;
        if (!only_keys(sig, cand_keys))
            return fail(e, "bad_request", "unknown key in a candidate signal");
    } else {
        return fail(e, "bad_request", "\"signal.type\" must be offer, answer or candidate");
    }
    char *text = json_dumps(sig, JSON_COMPACT);
    if (text == NULL)
        return fail(e, "internal", "cannot encode the signal");
    c->u.call.signal = text;
    return true;
}
