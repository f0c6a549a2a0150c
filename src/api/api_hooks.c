/* SPDX-License-Identifier: MIT */
/* api_hooks.c -- POST /v1/hooks/w<id>/<secret>: an incoming webhook
 * (issue 16) posts its body's text into its room, as its creator, marked
 * with the webhook in `content.via`, through pl_chat_post (the `send`
 * path). The secret is compared, as a hash, in constant time; a wrong
 * secret and an unknown webhook get the same 404; every refusal stores
 * nothing. Memory stays bounded under floods: the per-webhook buckets and
 * the per-address failure buckets are LRU tables of fixed size, and a
 * request holds nothing past its answer. */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/ratelimit.h"
#include "core/util.h"
#include "hooks/hook_body.h"

/* Wrong secrets an address may send: a burst, then one a second. */
#define FAIL_BURST 20.0
#define FAIL_RATE 1.0
#define RL_KEYS 4096
/* Idempotency-Key: printable ASCII, at most this long. */
#define IDEM_MAX 64

struct pl_api_hooks {
    pl_ratelimit_t *per_hook; /* posts per webhook (webhook_rate_per_min, webhook_burst) */
    pl_ratelimit_t *fails;    /* wrong secrets per client address */
};

void pl_api__hooks_init(pl_api_t *api)
{
    pl_api_hooks_t *h = pl_xcalloc(1, sizeof *h);
    h->per_hook = pl_ratelimit_new((double)api->cfg->webhook_rate_per_min / 60.0,
                                   (double)api->cfg->webhook_burst, RL_KEYS);
    h->fails = pl_ratelimit_new(FAIL_RATE, FAIL_BURST, RL_KEYS);
    api->hooks = h;
}

void pl_api__hooks_dispose(pl_api_t *api)
{
    if (api->hooks == NULL)
        return;
    pl_ratelimit_free(api->hooks->per_hook);
    pl_ratelimit_free(api->hooks->fails);
    free(api->hooks);
    api->hooks = NULL;
}

typedef struct {
    pl_api_t *api;
    pl_http_req_t *req;
    int64_t id;
    unsigned char hash[32]; /* of the secret in the path */
    pl_addr_t addr;
    char client_id[96];
    int rc;
    pl_webhook_t w;
} hook_req_t;

static void hook_req_free(hook_req_t *q)
{
    pl_webhook_dispose(&q->w);
    sodium_memzero(q->hash, sizeof q->hash);
    free(q);
}

static void hook_get_work(pl_db_t *db, void *arg)
{
    hook_req_t *q = arg;
    q->rc = pl_db_webhook_get(db, q->id, &q->w);
}

static void posted(void *ud, int status, const pl_message_t *m, bool duplicate)
{
    hook_req_t *q = ud;
    if (status == PL_ENOTFOUND) {
        pl_api_error(q->req, 410, "webhook_revoked", "the webhook's room is gone");
    } else if (status < 0) {
        pl_api_error(q->req, 503, "unavailable", "storage error; try again");
    } else {
        char mid[24], rid[24];
        pl_api__respond_json(q->req, 200,
                             json_pack("{s:b,s:{s:s,s:s,s:I,s:I},s:b}", "ok", 1, "message", "id",
                                       pl_id_fmt(mid, 'm', m->id), "room",
                                       pl_id_fmt(rid, 'r', m->room_id), "seq", (json_int_t)m->seq,
                                       "ts", (json_int_t)m->ts, "duplicate", duplicate));
    }
    hook_req_free(q);
}

/* The webhook's row is read: check the secret, then its state, the rate,
 * the body; then post. */
static void hook_got(int status, void *arg)
{
    hook_req_t *q = arg;
    pl_api_t *api = q->api;
    pl_http_req_t *req = q->req;
    unsigned char want[32] = {0};
    size_t wlen = 0;
    bool match = false;
    if (status == 0 && q->rc == 0 &&
        sodium_hex2bin(want, sizeof want, q->w.secret_hash, strlen(q->w.secret_hash), NULL, &wlen,
                       NULL) == 0 &&
        wlen == sizeof want)
        match = sodium_memcmp(want, q->hash, sizeof want) == 0;
    if (status < 0 || (q->rc < 0 && q->rc != PL_ENOTFOUND)) {
        pl_api_error(req, 503, "unavailable", "storage error; try again");
        goto out;
    }
    if (!match) {
        pl_ratelimit_take(api->hooks->fails, &q->addr, sizeof q->addr, 1, uv_hrtime());
        int lvl = pl_api__refusal_log_level(api);
        pl_log(lvl, "hooks",
               "webhook refused hook=w%" PRId64 " peer=%s err=unknown_or_wrong_secret", q->id,
               pl_http_peer(req));
        pl_api_error(req, 404, "not_found", "no such webhook");
        goto out;
    }
    if (q->w.revoked_ms != 0) {
        pl_api_error(req, 410, "webhook_revoked", "this webhook was revoked");
        goto out;
    }
    uint64_t wait = pl_ratelimit_take(api->hooks->per_hook, &q->id, sizeof q->id, 1, uv_hrtime());
    if (wait > 0) {
        pl_api__respond_limited(req, wait, "too many posts through this webhook");
        goto out;
    }
    size_t len;
    const char *body = pl_http_body(req, &len);
    char err[256];
    char *content = NULL;
    pl_hook_ident_t who = {q->id, q->w.name, q->w.icon_url};
    pl_hook_err_t e = pl_hook_body_parse(body, len, &who, (size_t)api->cfg->max_content_bytes,
                                         &content, err, sizeof err);
    if (e != PL_HOOK_OK) {
        /* A refused body does not spend the webhook's rate. */
        pl_ratelimit_refund(api->hooks->per_hook, &q->id, sizeof q->id, 1);
        pl_api_error(req, e == PL_HOOK_TOO_LARGE ? 413 : 400,
                     e == PL_HOOK_BAD_JSON    ? "bad_json"
                     : e == PL_HOOK_TOO_LARGE ? "too_large"
                                              : "bad_request",
                     err);
        goto out;
    }
    int rc = pl_chat_post(api->chat, q->w.room_id, q->w.creator, q->w.name, q->client_id, content,
                          posted, q);
    if (rc == 0)
        return; /* posted() answers */
    pl_api_error(req, 403, "forbidden", "the webhook's creator is no longer a member of its room");
out:
    hook_req_free(q);
}

/* Idempotency-Key → the post's client_id ("hook:w<id>:<key>"), so a
 * retried request posts once; without one, each request is new. */
static bool hook_client_id(pl_http_req_t *req, int64_t id, char *out, size_t cap)
{
    const char *k = pl_http_header(req, "idempotency-key");
    if (k == NULL) {
        unsigned char r[12];
        char hex[25];
        randombytes_buf(r, sizeof r);
        sodium_bin2hex(hex, sizeof hex, r, sizeof r);
        snprintf(out, cap, "hook:w%" PRId64 ":%s", id, hex);
        return true;
    }
    size_t n = strlen(k);
    if (n == 0 || n > IDEM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return false;
    snprintf(out, cap, "hook:w%" PRId64 ":%s", id, k);
    return true;
}

bool pl_api__hooks_route(pl_api_t *api, pl_http_req_t *req, const char *method, const char *path)
{
    static const char pre[] = "/v1/hooks/";
    if (strncmp(path, pre, sizeof pre - 1) != 0)
        return false;
    int64_t id;
    char secret[PL_HOOK_SECRET_LEN + 1];
    if (pl_hook_path_parse(path, &id, secret) != PL_HOOK_OK) {
        pl_api_error(req, 404, "not_found", "no such webhook");
        return true;
    }
    if (strcmp(method, "POST") != 0) {
        sodium_memzero(secret, sizeof secret);
        pl_http_respond_error(req, 405, "method_not_allowed", "webhooks take POST",
                              "Allow: POST\r\n");
        return true;
    }
    hook_req_t *q = pl_xcalloc(1, sizeof *q);
    q->api = api;
    q->req = req;
    q->id = id;
    pl_auth_token_hash(secret, strlen(secret), q->hash);
    sodium_memzero(secret, sizeof secret);
    pl_http_client_addr(req, &q->addr);
    /* An address that keeps guessing secrets is turned away before any
     * store read. */
    uint64_t wait = pl_ratelimit_peek(api->hooks->fails, &q->addr, sizeof q->addr, 1, uv_hrtime());
    size_t len;
    pl_http_body(req, &len);
    if (wait > 0) {
        pl_api__respond_limited(req, wait, "too many requests with unknown webhooks");
    } else if (!pl_api_is_json_type(pl_http_header(req, "content-type"))) {
        pl_api_error(req, 415, "unsupported_media_type",
                     "send the body as Content-Type: application/json");
    } else if (len > (size_t)api->cfg->webhook_max_body) {
        pl_api_error(req, 413, "too_large", "the body exceeds webhook_max_body");
    } else if (!hook_client_id(req, id, q->client_id, sizeof q->client_id)) {
        pl_api_error(req, 400, "bad_request",
                     "Idempotency-Key must be 1 to 64 printable ASCII characters");
    } else {
        pl_store_read(api->st, hook_get_work, hook_got, q);
        return true;
    }
    hook_req_free(q);
    return true;
}
