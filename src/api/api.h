/* SPDX-License-Identifier: MIT */
/* api.h -- the HTTP side of parleyd: /healthz, /readyz, account endpoints (register,
 * login, logout), counters, and the web client's static files. */
#ifndef PL_API_API_H
#define PL_API_API_H

#include <stdbool.h>
#include <uv.h>

#include "chat/chat.h"
#include "core/config.h"
#include "http/http.h"
#include "store/store.h"

typedef struct pl_api pl_api_t;
struct pl_jobs; /* jobs/jobs.h */

/** Borrows everything; free with pl_api_free after the server stopped. */
pl_api_t *pl_api_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st, pl_chat_t *chat);
void pl_api_free(pl_api_t *api);
/** The server is down and the store about to close: timers that would start
 * store jobs stop (media garbage collection). Loop thread. */
void pl_api_stop(pl_api_t *api);
void pl_api_set_server(pl_api_t *api, pl_server_t *srv);
/** The cluster bus whose connection /readyz requires (borrowed; NULL: none). */
void pl_api_set_cluster(pl_api_t *api, pl_cluster_t *cl);
/** The durable job runner whose counters /v1/stats shows (borrowed; NULL:
 * none). Issue 13. Also registers the media collector's blob deletions
 * (PL_MEDIA_GC_JOB) with it: call before pl_jobs_start. */
void pl_api_set_jobs(pl_api_t *api, struct pl_jobs *jobs);
/** Draining (SIGTERM with drain_ms): /readyz answers 503 from now on. */
void pl_api_set_draining(pl_api_t *api);

/** pl_http_handlers_t.on_http, ud = api. */
void pl_api_on_http(void *ud, pl_http_req_t *req);
/** pl_http_handlers_t.on_headers, ud = api: uploads stream their bodies
 * (media claims them before the body is read). */
bool pl_api_on_headers(void *ud, pl_http_req_t *req, pl_http_stream_t *out);

/** Answers a JSON error {"error":{"code","message"}} and releases req. */
void pl_api_error(pl_http_req_t *req, int status, const char *code, const char *message);

/** Whether a Content-Type header value (may be NULL) is application/json,
 * case-insensitive, parameters such as "; charset=utf-8" allowed. Pure. */
bool pl_api_is_json_type(const char *content_type);

/** An operator command run without the server (main.c): cmd "reset-link"
 * (arg: a username) stores a one-time password reset token and writes the
 * link "<public_url>/#reset=<token>" into out; "invite-code" (arg unused)
 * stores a one-time invite code and writes it into out. st is open; uses
 * its direct connection (caller's thread). Returns 0, or a negative code
 * with a message in out. */
int pl_api_operator_command(pl_store_t *st, const pl_config_t *cfg, const char *cmd,
                            const char *arg, char *out, size_t cap);
/** parleyd --reset-link USER --mail-to ADDR: makes a reset link as
 * "reset-link" does and, in the same transaction, enqueues an `email` job
 * that sends it to ADDR (a running node's job runner delivers it, with
 * retries). Runs loop until the write committed. Needs smtp_url. Returns 0
 * with a confirmation (not the link) in out, or a negative code with a
 * message. */
int pl_api_operator_reset_mail(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg,
                               const char *user, const char *to, char *out, size_t cap);

#endif
