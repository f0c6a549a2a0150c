/* SPDX-License-Identifier: MIT */
/* api_util.c -- what every HTTP handler of src/api uses: JSON answers and
 * errors, the Content-Type rule, request bodies, 429 answers. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/util.h"

void pl_api__respond_json(pl_http_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    pl_http_respond(req, status, "application/json", text, strlen(text), NULL);
    free(text);
}

void pl_api_error(pl_http_req_t *req, int status, const char *code, const char *message)
{
    pl_log(PL_LOG_DEBUG, "api", "%s %s -> %d %s", pl_http_method(req), pl_http_path(req), status,
           code);
    pl_api__respond_json(req, status,
                         json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

bool pl_api_is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL)
        return false;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    ct += sizeof want - 1;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

/* JSON endpoints take only Content-Type: application/json, so a cross-site
 * form or fetch() POST needs a CORS preflight, which parleyd never grants.
 * Answers 415 and returns false otherwise. */
bool pl_api__require_json(pl_http_req_t *req)
{
    if (pl_api_is_json_type(pl_http_header(req, "content-type")))
        return true;
    pl_api_error(req, 415, "unsupported_media_type",
                 "send the body as Content-Type: application/json");
    return false;
}

/* The level of a line about a refused request: info at most about once a
 * second, so a flood cannot flood the log; debug for the rest. Keep the
 * result in a variable: pl_log evaluates its level argument twice. */
int pl_api__refusal_log_level(pl_api_t *api)
{
    return pl_log_gate(&api->refused_log, PL_LOG_INFO, uv_hrtime(), PL_LOG_GATE_NS, NULL);
}

/* 429 rate_limited with Retry-After: wait_ms rounded up to whole seconds
 * (also in the message, for people). */
void pl_api__respond_limited(pl_http_req_t *req, uint64_t wait_ms, const char *what)
{
    uint64_t s = wait_ms == UINT64_MAX ? 3600 : PL_MAX((wait_ms + 999) / 1000, 1);
    char extra[64], msg[160];
    snprintf(extra, sizeof extra, "Retry-After: %" PRIu64 "\r\n", s);
    snprintf(msg, sizeof msg, "%s; try again in %" PRIu64 " s", what, s);
    pl_log(PL_LOG_DEBUG, "api", "%s %s -> 429 rate_limited", pl_http_method(req),
           pl_http_path(req));
    pl_http_respond_error(req, 429, "rate_limited", msg, extra);
}

/* Parses the request body as a JSON object; answers 400 and returns NULL if
 * it is not one. */
json_t *pl_api__body_object(pl_http_req_t *req)
{
    size_t len;
    const char *body = pl_http_body(req, &len);
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON at position %d: %s", jerr.position, jerr.text);
        pl_api_error(req, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        pl_api_error(req, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

json_t *pl_api__json_body(pl_http_req_t *req)
{
    return pl_api__require_json(req) ? pl_api__body_object(req) : NULL;
}

/* 503 unavailable with Retry-After: 1: the shared login state (Redis)
 * did not answer, and logins fail closed meanwhile. */
void pl_api__respond_state_down(pl_http_req_t *req)
{
    pl_http_respond_error(req, 503, "unavailable",
                          "login state is unreachable right now; try again shortly",
                          "Retry-After: 1\r\n");
}
