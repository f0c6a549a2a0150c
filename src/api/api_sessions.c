/* SPDX-License-Identifier: MIT */
/* api_sessions.c -- devices: the signed-in sessions of an account
 * (GET /v1/sessions), revoking one (DELETE /v1/sessions/{id}) or all the
 * others; revoked devices' sockets are closed when the answer goes out. */
#include "api/api_areq.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

/* ---- devices ---- */

static void sessions_list_work(pl_db_t *db, pl_areq_t *r)
{
    pl_session_info_t *v = NULL;
    size_t n = 0;
    if (pl_db_sessions_list(db, r->user_id, &v, &n) < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char did[24];
        json_t *o =
            json_pack("{s:s,s:s,s:I,s:I,s:b}", "device_id", pl_id_fmt(did, 'd', v[i].device_id),
                      "name", v[i].name, "created", (json_int_t)v[i].created_ms, "last_seen",
                      (json_int_t)v[i].last_seen_ms, "current", v[i].device_id == r->device_id);
        if (v[i].ip[0])
            json_object_set_new(o, "ip", json_string(v[i].ip));
        json_array_append_new(a, o);
        pl_session_info_dispose(&v[i]);
    }
    free(v);
    r->result = json_pack("{s:o}", "sessions", a);
}

void pl_api__handle_sessions_list(pl_api_t *api, pl_http_req_t *req)
{
    pl_areq_t *r = pl_api__areq_new(api, req, true, false, NULL);
    if (r)
        pl_api__areq_job(r, false, sessions_list_work, NULL);
}

static void session_delete_work(pl_db_t *db, pl_areq_t *r)
{
    int rc = pl_db_session_delete_id(db, r->user_id, r->target);
    if (rc == PL_ENOTFOUND) {
        pl_api__areq_fail(r, 404, "not_found", "no such device among yours");
    } else if (rc < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
    } else {
        r->closed = pl_xmalloc(sizeof *r->closed);
        r->closed[0] = r->target;
        r->nclosed = 1;
        pl_log(PL_LOG_INFO, "auth", "session revoked user=u%" PRId64 " device=d%" PRId64,
               r->user_id, r->target);
    }
}

void pl_api__handle_session_delete(pl_api_t *api, pl_http_req_t *req, const char *id)
{
    int64_t target;
    if (!pl_id_parse(id, 'd', &target)) {
        pl_api_error(req, 404, "not_found", "no such device");
        return;
    }
    pl_areq_t *r = pl_api__areq_new(api, req, true, false, NULL);
    if (r == NULL)
        return;
    r->target = target;
    pl_api__areq_job(r, true, session_delete_work, NULL);
}

static void revoke_others_work(pl_db_t *db, pl_areq_t *r)
{
    if (pl_api__revoke_sessions(db, r, r->device_id) < 0) {
        pl_api__areq_fail(r, 500, "internal", "storage error; try again");
        return;
    }
    r->result = json_pack("{s:I}", "revoked", (json_int_t)r->nclosed);
}

void pl_api__handle_revoke_others(pl_api_t *api, pl_http_req_t *req)
{
    pl_areq_t *r = pl_api__areq_new(api, req, true, false, NULL);
    if (r)
        pl_api__areq_job(r, true, revoke_others_work, NULL);
}
