/* SPDX-License-Identifier: MIT */
/* api_passkey.c -- /v1/passkeys: registration options and registration,
 * list, rename, delete (Bearer auth), and passwordless login (options and
 * assertion). Each request is parsed and size-checked first, challenges are
 * taken back on the loop thread before any store job, verification
 * (auth/webauthn.c) runs on the loop thread (no Argon2id here: a P-256 or
 * Ed25519 verification is tens of microseconds), and rows move in store
 * jobs. See docs/protocol.md, "Passkeys". */
#include "api/api_passkey.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/auth.h"
#include "auth/webauthn.h"
#include "auth/webauthn_challenges.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define CHALLENGE_TTL_MS PL_API_CHALLENGE_TTL_MS /* also the options' timeout */
#define PASSKEYS_PER_USER 20
#define PASSKEY_NAME_MAX 64
#define DEVICE_NAME_MAX 64
#define ORIGINS_MAX 16

struct pl_api_passkey {
    pl_api_login_session_fn session; /* api.c's end of a login */
    void *session_ud;
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_api_auth_t *auth;              /* challenges and login limits (memory or Redis) */
    char *origins_buf;                /* webauthn_origins, split in place */
    const char *origins[ORIGINS_MAX]; /* into origins_buf */
    size_t norigins;
    unsigned char decoy_key[crypto_auth_hmacsha256_KEYBYTES]; /* decoy credential ids */
};

pl_api_passkey_t *pl_api_passkey_new(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t *st,
                                     pl_api_auth_t *auth, pl_api_login_session_fn session,
                                     void *session_ud)
{
    pl_api_passkey_t *p = pl_xcalloc(1, sizeof *p);
    p->session = session;
    p->session_ud = session_ud;
    p->loop = loop;
    p->cfg = cfg;
    p->st = st;
    p->auth = auth;
    p->origins_buf = pl_xstrdup(cfg->webauthn_origins);
    for (char *save = NULL, *o = strtok_r(p->origins_buf, " \t,", &save);
         o && p->norigins < ORIGINS_MAX; o = strtok_r(NULL, " \t,", &save))
        p->origins[p->norigins++] = o;
    crypto_auth_hmacsha256_keygen(p->decoy_key);
    return p;
}

void pl_api_passkey_free(pl_api_passkey_t *p)
{
    if (p == NULL)
        return;
    free(p->origins_buf);
    sodium_memzero(p->decoy_key, sizeof p->decoy_key);
    free(p);
}

/* ---- request fields ---- */

static void b64u(char *out, size_t cap, const unsigned char *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static json_t *b64u_json(const unsigned char *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = pl_xmalloc(cap);
    b64u(s, cap, p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Decodes the base64url string o[key] into *out (malloc'd, free()).
 * Returns 0, PL_ENOTFOUND (absent or null), PL_EINVAL (not base64url text)
 * or PL_ETOOBIG (more than max bytes), checked on the text's length before
 * anything is allocated. */
static int b64u_field(json_t *o, const char *key, size_t max, unsigned char **out, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return PL_ENOTFOUND;
    if (!json_is_string(v))
        return PL_EINVAL;
    size_t n = json_string_length(v);
    if (n > max / 3 * 4 + 4)
        return PL_ETOOBIG;
    unsigned char *buf = pl_xmalloc(n + 1);
    if (sodium_base642bin(buf, n + 1, json_string_value(v), n, NULL, len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(buf);
        return PL_EINVAL;
    }
    if (*len > max) {
        free(buf);
        return PL_ETOOBIG;
    }
    *out = buf;
    return 0;
}

/* A credential from a browser: PublicKeyCredential.toJSON()'s shape. */
typedef struct {
    unsigned char *id, *client_data, *att_obj, *auth_data, *sig, *user_handle;
    size_t id_len, client_data_len, att_obj_len, auth_data_len, sig_len, user_handle_len;
} cred_in_t;

static void cred_in_dispose(cred_in_t *c)
{
    free(c->id);
    free(c->client_data);
    free(c->att_obj);
    free(c->auth_data);
    free(c->sig);
    free(c->user_handle);
    memset(c, 0, sizeof *c);
}

/* Reads {"id", "response": {...}} for a registration (attestationObject)
 * or an assertion (authenticatorData, signature, userHandle?). Returns 0,
 * PL_EINVAL or PL_ETOOBIG with *msg for the error reply. */
static int cred_parse(json_t *cred, bool reg, cred_in_t *c, const char **msg)
{
    memset(c, 0, sizeof *c);
    json_t *resp = json_object_get(cred, "response"), *type = json_object_get(cred, "type");
    if (!json_is_object(cred) || !json_is_object(resp) ||
        (type && (!json_is_string(type) || strcmp(json_string_value(type), "public-key") != 0))) {
        *msg = "\"credential\" must be a public-key credential object with a \"response\"";
        return PL_EINVAL;
    }
    struct {
        json_t *obj;
        const char *key;
        size_t max;
        unsigned char **out;
        size_t *len;
        bool need;
    } f[] = {
        {cred, "id", PL_WEBAUTHN_CRED_ID_MAX, &c->id, &c->id_len, true},
        {resp, "clientDataJSON", PL_WEBAUTHN_CLIENT_DATA_MAX, &c->client_data, &c->client_data_len,
         true},
        {resp, "attestationObject", PL_WEBAUTHN_ATTESTATION_MAX, &c->att_obj, &c->att_obj_len, reg},
        {resp, "authenticatorData", PL_WEBAUTHN_AUTH_DATA_MAX, &c->auth_data, &c->auth_data_len,
         !reg},
        {resp, "signature", PL_WEBAUTHN_SIG_MAX, &c->sig, &c->sig_len, !reg},
        {resp, "userHandle", 64, &c->user_handle, &c->user_handle_len, false},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(f); i++) {
        if (!f[i].need && (reg ? i != 2 : i == 2))
            continue; /* not a field of this kind of credential */
        int rc = b64u_field(f[i].obj, f[i].key, f[i].max, f[i].out, f[i].len);
        if (rc == PL_ENOTFOUND && !f[i].need)
            continue;
        if (rc < 0) {
            *msg = rc == PL_ETOOBIG
                       ? "a credential field is larger than any authenticator makes"
                       : "credential fields are base64url strings (id, clientDataJSON, "
                         "attestationObject or authenticatorData and signature)";
            cred_in_dispose(c);
            return rc == PL_ETOOBIG ? PL_ETOOBIG : PL_EINVAL;
        }
    }
    return 0;
}

static void respond_cred_error(pl_http_req_t *req, int rc, const char *msg)
{
    if (rc == PL_ETOOBIG)
        pl_api_error(req, 413, "too_large", msg);
    else
        pl_api_error(req, 400, "bad_request", msg);
}

static pl_webauthn_expect_t expect_for(const pl_api_passkey_t *p, const unsigned char *ch)
{
    pl_webauthn_expect_t x = {.rp_id = p->cfg->webauthn_rp_id,
                              .origins = p->origins,
                              .norigins = p->norigins,
                              .challenge = ch,
                              .challenge_len = PL_WA_CHALLENGE_LEN};
    return x;
}

/* Takes back the challenge clientDataJSON names (single use) into ch;
 * cb gets PL_ENOTFOUND when there is none outstanding for purpose, else
 * the user it was issued to (or PL_ECLOSED). */
static void challenge_take(pl_api_passkey_t *p, const cred_in_t *c, pl_wa_purpose_t purpose,
                           unsigned char ch[PL_WA_CHALLENGE_LEN], pl_api_auth_take_cb cb, void *arg)
{
    if (pl_webauthn_client_data_challenge(c->client_data, c->client_data_len, ch) != PL_WA_OK) {
        cb(arg, PL_ENOTFOUND, 0);
        return;
    }
    pl_api_auth_challenge_take(p->auth, ch, purpose, cb, arg);
}

/* An issue refused: 429 (too many outstanding) or 503 (Redis down). */
static void challenge_issue_failed(pl_http_req_t *req, int rc)
{
    if (rc == PL_ECLOSED) {
        pl_api__respond_state_down(req);
        return;
    }
    pl_log(PL_LOG_DEBUG, "auth", "passkey challenge refused peer=%s", pl_http_peer(req));
    pl_api__respond_limited(req, CHALLENGE_TTL_MS, "too many passkey challenges outstanding");
}

/* ---- authenticated requests: one job struct, a work and a done each ---- */

typedef struct {
    pl_api_passkey_t *p;
    pl_http_req_t *req;
    unsigned char tok[32];
    int64_t user_id, device_id;
    int rc;           /* of the work, before status */
    const char *code; /* error to answer, set by the work */
    const char *msg;
    int status;
    pl_user_t user;
    pl_passkey_t *keys;
    size_t nkeys;
    unsigned char handle[PL_PASSKEY_HANDLE_LEN], handle_new[PL_PASSKEY_HANDLE_LEN];
    int64_t target; /* delete, rename: the passkey; register: the new row */
    int64_t challenge_user;
    char name[PASSKEY_NAME_MAX + 1];
    pl_webauthn_cred_t *cred; /* register: the verified credential */
    cred_in_t in;             /* register: the credential, while its challenge is taken */
    unsigned char ch[PL_WA_CHALLENGE_LEN];
} job_t;

static job_t *job_new(pl_api_passkey_t *p, pl_http_req_t *req)
{
    job_t *j = pl_xcalloc(1, sizeof *j);
    j->p = p;
    j->req = req;
    if (!pl_auth_bearer_hash(pl_http_header(req, "authorization"), j->tok)) {
        pl_api_error(req, 401, "unauthenticated", "missing Authorization: Bearer <token>");
        free(j);
        return NULL;
    }
    return j;
}

static void job_free(job_t *j)
{
    cred_in_dispose(&j->in);
    pl_user_dispose(&j->user);
    pl_passkeys_free(j->keys, j->nkeys);
    free(j->cred);
    free(j);
}

/* Resolves the Bearer token inside a store job; false (with the error set)
 * when it is not a live session. */
static bool job_auth(pl_db_t *db, job_t *j)
{
    j->rc = pl_db_session_lookup(db, j->tok, pl_now_ms(), &j->user_id, &j->device_id);
    if (j->rc == PL_ENOTFOUND)
        j->status = 401, j->code = "unauthenticated", j->msg = "invalid or revoked token";
    else if (j->rc < 0)
        j->status = 500, j->code = "internal", j->msg = "storage error; try again";
    return j->rc == 0;
}

static void job_fail(job_t *j, int rc)
{
    j->rc = rc;
    if (rc < 0 && j->code == NULL)
        j->status = 500, j->code = "internal", j->msg = "storage error; try again";
}

/* The common start of a done callback: answers and frees on any error.
 * Returns false when it did. */
static bool job_ok(job_t *j, int status)
{
    if (status < 0 && j->code == NULL) {
        j->status = status == PL_ECLOSED ? 503 : 500;
        j->code = status == PL_ECLOSED ? "unavailable" : "internal";
        j->msg = status == PL_ECLOSED ? "the server is shutting down" : "storage error; try again";
    }
    if (j->code == NULL)
        return true;
    pl_api_error(j->req, j->status, j->code, j->msg);
    job_free(j);
    return false;
}

static json_t *passkey_json(const pl_passkey_t *k)
{
    char id[24];
    return json_pack("{s:s,s:s,s:I,s:I,s:i}", "id", pl_id_fmt(id, 'k', k->id), "name", k->name,
                     "created", (json_int_t)k->created_ms, "last_used", (json_int_t)k->last_used_ms,
                     "alg", k->alg);
}

/* -- POST /v1/passkeys/register/options -- */

static void regopt_work(pl_db_t *db, void *arg)
{
    job_t *j = arg;
    if (!job_auth(db, j))
        return;
    int rc = pl_db_user_by_id(db, j->user_id, &j->user);
    if (rc == 0)
        rc = pl_db_passkey_handle(db, j->user_id, true, j->handle_new, j->handle);
    if (rc == 0)
        rc = pl_db_passkey_list(db, j->user_id, &j->keys, &j->nkeys);
    if (rc < 0)
        job_fail(j, rc);
}

static void regopt_issued(void *arg, int rc, const unsigned char *ch);

static void regopt_done(int status, void *arg)
{
    job_t *j = arg;
    if (!job_ok(j, status))
        return;
    pl_addr_t addr;
    pl_http_client_addr(j->req, &addr);
    pl_api_auth_challenge_issue(j->p->auth, &addr, PL_WA_FOR_REGISTER, j->user_id, regopt_issued,
                                j);
}

static void regopt_issued(void *arg, int rc, const unsigned char *ch)
{
    job_t *j = arg;
    pl_api_passkey_t *p = j->p;
    if (rc < 0) {
        challenge_issue_failed(j->req, rc);
        job_free(j);
        return;
    }
    json_t *exclude = json_array();
    for (size_t i = 0; i < j->nkeys; i++)
        json_array_append_new(exclude,
                              json_pack("{s:s,s:o}", "type", "public-key", "id",
                                        b64u_json(j->keys[i].cred_id, j->keys[i].cred_id_len)));
    json_t *o = json_pack(
        "{s:o,s:{s:s,s:s},s:{s:o,s:s,s:s},s:[{s:s,s:i},{s:s,s:i},{s:s,s:i}],s:i,s:o,"
        "s:{s:s,s:b,s:s},s:s}",
        "challenge", b64u_json(ch, PL_WA_CHALLENGE_LEN), "rp", "id", p->cfg->webauthn_rp_id, "name",
        p->cfg->webauthn_rp_name, "user", "id", b64u_json(j->handle, sizeof j->handle), "name",
        j->user.username, "displayName", j->user.display_name, "pubKeyCredParams", "type",
        "public-key", "alg", PL_COSE_ES256, "type", "public-key", "alg", PL_COSE_EDDSA, "type",
        "public-key", "alg", PL_COSE_RS256, "timeout", CHALLENGE_TTL_MS, "excludeCredentials",
        exclude, "authenticatorSelection", "residentKey", "preferred", "requireResidentKey", 0,
        "userVerification", "preferred", "attestation", "none");
    pl_api__respond_json(j->req, 200, o);
    job_free(j);
}

static void handle_register_options(pl_api_passkey_t *p, pl_http_req_t *req)
{
    job_t *j = job_new(p, req);
    if (j == NULL)
        return;
    randombytes_buf(j->handle_new, sizeof j->handle_new);
    pl_store_write(p->st, regopt_work, regopt_done, j);
}

/* -- POST /v1/passkeys/register -- */

static void register_work(pl_db_t *db, void *arg)
{
    job_t *j = arg;
    if (!job_auth(db, j))
        return;
    if (j->user_id != j->challenge_user) {
        j->status = 400, j->code = "bad_challenge",
        j->msg = "the challenge was issued to another account";
        return;
    }
    int rc = pl_db_passkey_list(db, j->user_id, &j->keys, &j->nkeys);
    if (rc == 0 && j->nkeys >= PASSKEYS_PER_USER) {
        j->status = 409, j->code = "too_many_passkeys", j->msg = "remove a passkey first";
        return;
    }
    pl_passkey_t k = {.user_id = j->user_id,
                      .cred_id = j->cred->cred_id,
                      .cred_id_len = j->cred->cred_id_len,
                      .public_key = j->cred->cose_key,
                      .public_key_len = j->cred->cose_key_len,
                      .alg = j->cred->alg,
                      .sign_count = j->cred->sign_count,
                      .name = j->name,
                      .created_ms = pl_now_ms()};
    if (rc == 0)
        rc = pl_db_passkey_add(db, &k, &j->target);
    if (rc == PL_EEXIST)
        j->status = 409, j->code = "passkey_exists", j->msg = "this passkey is registered already";
    else if (rc < 0)
        job_fail(j, rc);
    else
        j->user.created_ms = k.created_ms; /* for the answer */
}

static void register_done(int status, void *arg)
{
    job_t *j = arg;
    if (!job_ok(j, status))
        return;
    pl_log(PL_LOG_INFO, "auth", "passkey registered user=u%" PRId64 " key=k%" PRId64 " alg=%d",
           j->user_id, j->target, j->cred->alg);
    char id[24];
    pl_api__respond_json(j->req, 201,
                         json_pack("{s:{s:s,s:s,s:I}}", "passkey", "id",
                                   pl_id_fmt(id, 'k', j->target), "name", j->name, "created",
                                   (json_int_t)j->user.created_ms));
    job_free(j);
}

/* The optional name: at most PASSKEY_NAME_MAX bytes of text. */
static bool name_field(json_t *body, char out[PASSKEY_NAME_MAX + 1], const char *dflt)
{
    json_t *n = json_object_get(body, "name");
    if (n == NULL || json_is_null(n)) {
        snprintf(out, PASSKEY_NAME_MAX + 1, "%s", dflt);
        return true;
    }
    if (!json_is_string(n) || json_string_length(n) > PASSKEY_NAME_MAX ||
        strlen(json_string_value(n)) != json_string_length(n))
        return false;
    snprintf(out, PASSKEY_NAME_MAX + 1, "%s", json_string_value(n));
    return true;
}

/* Verifies the registration on the loop thread; answers and returns false
 * when it does not verify. */
static bool register_verify(job_t *j, const cred_in_t *c, const unsigned char *ch)
{
    pl_webauthn_expect_t x = expect_for(j->p, ch);
    j->cred = pl_xmalloc(sizeof *j->cred);
    int rc = pl_webauthn_register_verify(&x, c->client_data, c->client_data_len, c->att_obj,
                                         c->att_obj_len, j->cred);
    if (rc == PL_WA_OK &&
        (c->id_len != j->cred->cred_id_len || memcmp(c->id, j->cred->cred_id, c->id_len) != 0))
        rc = PL_WA_EMALFORMED; /* "id" is not the attested credential's */
    if (rc == PL_WA_OK)
        return true;
    char msg[128];
    snprintf(msg, sizeof msg, "the passkey did not verify: %s", pl_webauthn_code(rc));
    pl_log(PL_LOG_INFO, "auth", "passkey registration refused peer=%s err=%s", pl_http_peer(j->req),
           pl_webauthn_code(rc));
    pl_api_error(j->req, 400, "passkey_invalid", msg);
    return false;
}

static void register_challenge_taken(void *arg, int rc, int64_t user_id)
{
    job_t *j = arg;
    bool ok = false;
    if (rc == PL_ECLOSED)
        pl_api__respond_state_down(j->req);
    else if (rc < 0)
        pl_api_error(j->req, 400, "bad_challenge",
                     "unknown, used or expired challenge: ask /v1/passkeys/register/options");
    else
        ok = register_verify(j, &j->in, j->ch);
    cred_in_dispose(&j->in);
    if (!ok) {
        job_free(j);
        return;
    }
    j->challenge_user = user_id;
    pl_store_write(j->p->st, register_work, register_done, j);
}

static void handle_register(pl_api_passkey_t *p, pl_http_req_t *req)
{
    job_t *j = job_new(p, req);
    if (j == NULL)
        return;
    json_t *body = pl_api__json_body(req);
    if (body == NULL) {
        job_free(j);
        return;
    }
    const char *msg = NULL;
    bool ok = false;
    int rc = 0;
    if (!name_field(body, j->name, "Passkey"))
        pl_api_error(req, 400, "bad_request", "\"name\" is a string of at most 64 bytes");
    else if ((rc = cred_parse(json_object_get(body, "credential"), true, &j->in, &msg)) < 0)
        respond_cred_error(req, rc, msg);
    else
        ok = true;
    json_decref(body);
    if (!ok) {
        job_free(j);
        return;
    }
    challenge_take(p, &j->in, PL_WA_FOR_REGISTER, j->ch, register_challenge_taken, j);
}

/* -- GET /v1/passkeys -- */

static void list_work(pl_db_t *db, void *arg)
{
    job_t *j = arg;
    if (!job_auth(db, j))
        return;
    int rc = pl_db_passkey_list(db, j->user_id, &j->keys, &j->nkeys);
    if (rc < 0)
        job_fail(j, rc);
}

static void list_done(int status, void *arg)
{
    job_t *j = arg;
    if (!job_ok(j, status))
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < j->nkeys; i++)
        json_array_append_new(a, passkey_json(&j->keys[i]));
    pl_api__respond_json(j->req, 200, json_pack("{s:o}", "passkeys", a));
    job_free(j);
}

static void handle_list(pl_api_passkey_t *p, pl_http_req_t *req)
{
    job_t *j = job_new(p, req);
    if (j != NULL)
        pl_store_read(p->st, list_work, list_done, j);
}

/* -- DELETE and PATCH /v1/passkeys/k<id> -- */

static void change_work(pl_db_t *db, void *arg)
{
    job_t *j = arg;
    if (!job_auth(db, j))
        return;
    int rc = j->name[0] ? pl_db_passkey_rename(db, j->user_id, j->target, j->name)
                        : pl_db_passkey_delete(db, j->user_id, j->target);
    if (rc == PL_ENOTFOUND)
        j->status = 404, j->code = "not_found", j->msg = "no such passkey";
    else if (rc < 0)
        job_fail(j, rc);
}

static void change_done(int status, void *arg)
{
    job_t *j = arg;
    if (!job_ok(j, status))
        return;
    if (!j->name[0])
        pl_log(PL_LOG_INFO, "auth", "passkey removed user=u%" PRId64 " key=k%" PRId64, j->user_id,
               j->target);
    pl_http_respond(j->req, 200, "application/json", "{}", 2, NULL);
    job_free(j);
}

static void handle_change(pl_api_passkey_t *p, pl_http_req_t *req, const char *id, bool rename)
{
    job_t *j = job_new(p, req);
    if (j == NULL)
        return;
    if (!pl_id_parse(id, 'k', &j->target)) {
        pl_api_error(req, 404, "not_found", "no such passkey");
        job_free(j);
        return;
    }
    if (rename) {
        json_t *body = pl_api__json_body(req);
        bool ok = body && name_field(body, j->name, "") && j->name[0];
        if (body && !ok)
            pl_api_error(req, 400, "bad_request", "\"name\" is a string of 1 to 64 bytes");
        json_decref(body);
        if (!ok) {
            job_free(j);
            return;
        }
    }
    pl_store_write(p->st, change_work, change_done, j);
}

/* ---- passwordless login and the second factor ---- */

/* -- POST /v1/passkeys/login/options -- */

typedef struct {
    pl_api_passkey_t *p;
    pl_http_req_t *req;
    char username[PL_USERNAME_MAX + 1];
    unsigned char ch[PL_WA_CHALLENGE_LEN];
    pl_user_t user;
    pl_passkey_t *keys;
    size_t nkeys;
} loginopt_t;

static void loginopt_work(pl_db_t *db, void *arg)
{
    loginopt_t *o = arg;
    if (pl_db_user_by_name(db, o->username, &o->user) == 0)
        (void)pl_db_passkey_list(db, o->user.id, &o->keys, &o->nkeys);
}

static void loginopt_answer(loginopt_t *o)
{
    json_t *allow = json_array();
    for (size_t i = 0; i < o->nkeys; i++)
        json_array_append_new(allow,
                              json_pack("{s:s,s:o}", "type", "public-key", "id",
                                        b64u_json(o->keys[i].cred_id, o->keys[i].cred_id_len)));
    if (o->username[0] && o->nkeys == 0) {
        /* An unknown user, or one without passkeys, gets one credential id
         * all the same: HMAC(key of this process, username), stable for the
         * name, so the answer does not tell whether the account exists. */
        unsigned char decoy[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256(decoy, (const unsigned char *)o->username, strlen(o->username),
                               o->p->decoy_key);
        json_array_append_new(allow, json_pack("{s:s,s:o}", "type", "public-key", "id",
                                               b64u_json(decoy, sizeof decoy)));
    }
    pl_api__respond_json(o->req, 200,
                         json_pack("{s:o,s:s,s:i,s:s,s:o}", "challenge",
                                   b64u_json(o->ch, sizeof o->ch), "rpId",
                                   o->p->cfg->webauthn_rp_id, "timeout", CHALLENGE_TTL_MS,
                                   "userVerification", "preferred", "allowCredentials", allow));
    pl_user_dispose(&o->user);
    pl_passkeys_free(o->keys, o->nkeys);
    free(o);
}

static void loginopt_done(int status, void *arg)
{
    loginopt_t *o = arg;
    if (status < 0) {
        pl_api_error(o->req, status == PL_ECLOSED ? 503 : 500,
                     status == PL_ECLOSED ? "unavailable" : "internal", "try again");
        pl_user_dispose(&o->user);
        pl_passkeys_free(o->keys, o->nkeys);
        free(o);
        return;
    }
    loginopt_answer(o);
}

static void loginopt_issued(void *arg, int rc, const unsigned char *ch)
{
    loginopt_t *o = arg;
    if (rc < 0) {
        challenge_issue_failed(o->req, rc);
        free(o);
        return;
    }
    memcpy(o->ch, ch, sizeof o->ch);
    if (o->username[0])
        pl_store_read(o->p->st, loginopt_work, loginopt_done, o);
    else
        loginopt_answer(o);
}

static void handle_login_options(pl_api_passkey_t *p, pl_http_req_t *req)
{
    json_t *body = pl_api__json_body(req);
    if (body == NULL)
        return;
    json_t *u = json_object_get(body, "username");
    loginopt_t *o = pl_xcalloc(1, sizeof *o);
    o->p = p;
    o->req = req;
    bool bad = u && !json_is_null(u) &&
               (!json_is_string(u) || json_string_length(u) > PL_USERNAME_MAX ||
                strlen(json_string_value(u)) != json_string_length(u));
    /* A name that cannot exist is answered like an unknown one. */
    if (!bad && json_is_string(u) && !pl_auth_username_normalize(json_string_value(u), o->username))
        snprintf(o->username, sizeof o->username, "%s", json_string_value(u));
    json_decref(body);
    if (bad) {
        pl_api_error(req, 400, "bad_request", "\"username\" is an optional string");
        free(o);
        return;
    }
    pl_addr_t addr;
    pl_http_client_addr(req, &addr);
    pl_api_auth_challenge_issue(p->auth, &addr, PL_WA_FOR_LOGIN, 0, loginopt_issued, o);
}

/* -- the assertion check (pl_api_passkey_verify) -- */

typedef struct verify verify_t;
typedef void (*verify_done_cb)(verify_t *v, int status, const char *code, uint64_t retry_ms);

struct verify {
    pl_api_passkey_t *p;
    pl_addr_t addr;
    int64_t expect_user;
    cred_in_t in;
    unsigned char ch[PL_WA_CHALLENGE_LEN];
    int lookup_rc;
    pl_passkey_t key;
    pl_user_t user;
    unsigned char handle[PL_PASSKEY_HANDLE_LEN];
    bool has_handle;
    uint32_t new_count;
    int used_rc;
    pl_login_ticket_t ticket;
    const char *why; /* for the log: why it failed */
    verify_done_cb done;
    void *arg;
    /* login only */
    pl_http_req_t *req;
    char device_name[DEVICE_NAME_MAX + 1];
    /* pl_api_passkey_verify only */
    pl_api_passkey_cb cb;
};

static void verify_free(verify_t *v)
{
    cred_in_dispose(&v->in);
    pl_passkey_dispose(&v->key);
    pl_user_dispose(&v->user);
    free(v);
}

/* Ends the login-limit ticket and reports. */
static void verify_end(verify_t *v, int status, const char *code, uint64_t retry_ms)
{
    if (v->ticket.active) {
        pl_login_outcome_t o = status == 0               ? PL_LOGIN_OK
                               : status == PL_EFORBIDDEN ? PL_LOGIN_FAILED
                                                         : PL_LOGIN_ABORTED;
        pl_api_auth_login_end(v->p->auth, v->user.username ? v->user.username : "", &v->addr,
                              &v->ticket, o);
    }
    if (status == PL_EFORBIDDEN) {
        char peer[PL_ADDR_TEXT];
        pl_log(PL_LOG_INFO, "auth", "passkey assertion refused user=u%" PRId64 " peer=%s why=%s",
               v->user.id, pl_addr_format(&v->addr, peer), v->why ? v->why : "?");
    }
    v->done(v, status, code, retry_ms);
}

static void verify_used_work(pl_db_t *db, void *arg)
{
    verify_t *v = arg;
    v->used_rc = pl_db_passkey_used(db, v->key.id, v->new_count, pl_now_ms());
}

static void verify_used_done(int status, void *arg)
{
    verify_t *v = arg;
    int rc = status < 0 ? status : v->used_rc;
    if (rc == PL_ENOTFOUND) {
        v->why = "deleted meanwhile, or a racing assertion had a higher counter";
        verify_end(v, PL_EFORBIDDEN, "bad_credentials", 0);
    } else if (rc < 0) {
        verify_end(v, rc, "internal", 0);
    } else {
        verify_end(v, 0, NULL, 0);
    }
}

/* The signature, counter and owner checks, on the loop thread. Returns
 * NULL when everything holds, else why not (for the log). */
static const char *verify_checks(verify_t *v)
{
    if (v->lookup_rc == PL_ENOTFOUND)
        return "unknown credential";
    if (v->expect_user && v->key.user_id != v->expect_user)
        return "another user's passkey";
    if (v->in.user_handle && (!v->has_handle || v->in.user_handle_len != PL_PASSKEY_HANDLE_LEN ||
                              memcmp(v->in.user_handle, v->handle, PL_PASSKEY_HANDLE_LEN) != 0))
        return "userHandle is not the owner's";
    pl_webauthn_expect_t x = expect_for(v->p, v->ch);
    /* Without a password, the passkey must have verified the user (PIN,
     * biometrics): it is then two factors by itself. */
    x.require_uv = v->expect_user == 0;
    uint32_t stored = v->key.sign_count > UINT32_MAX ? UINT32_MAX : (uint32_t)v->key.sign_count;
    int rc =
        pl_webauthn_assert_verify(&x, v->key.public_key, v->key.public_key_len, stored,
                                  v->in.client_data, v->in.client_data_len, v->in.auth_data,
                                  v->in.auth_data_len, v->in.sig, v->in.sig_len, &v->new_count);
    if (rc == PL_WA_ECOUNTER)
        pl_log(PL_LOG_WARN, "auth",
               "passkey sign counter did not grow user=u%" PRId64 " key=k%" PRId64
               " stored=%" PRIu32 " (cloned authenticator?)",
               v->key.user_id, v->key.id, stored);
    return rc == PL_WA_OK ? NULL : pl_webauthn_code(rc);
}

static void verify_lookup_work(pl_db_t *db, void *arg)
{
    verify_t *v = arg;
    v->lookup_rc = pl_db_passkey_by_credential(db, v->in.id, v->in.id_len, &v->key);
    if (v->lookup_rc == 0)
        v->lookup_rc = pl_db_user_by_id(db, v->key.user_id, &v->user);
    if (v->lookup_rc == 0)
        v->has_handle = pl_db_passkey_handle(db, v->key.user_id, false, v->handle, v->handle) == 0;
}

static void verify_allowed(void *arg, int rc, uint64_t wait, const char *why);

static void verify_looked_up(int status, void *arg)
{
    verify_t *v = arg;
    int rc = status < 0 ? status : v->lookup_rc;
    if (rc < 0 && rc != PL_ENOTFOUND) {
        verify_end(v, rc, "internal", 0);
        return;
    }
    /* Counted against the owner's account (an unknown credential against
     * the address only, under the empty name), before the signature check. */
    pl_api_auth_login_begin(v->p->auth, v->user.username ? v->user.username : "", &v->addr,
                            &v->ticket, verify_allowed, v);
}

static void verify_allowed(void *arg, int rc, uint64_t wait, const char *why)
{
    verify_t *v = arg;
    (void)why;
    if (rc < 0) {
        verify_end(v, PL_ECLOSED, "unavailable", 0);
        return;
    }
    if (wait > 0) {
        verify_end(v, PL_EAGAIN, "rate_limited", wait);
        return;
    }
    v->why = verify_checks(v);
    if (v->why != NULL) {
        verify_end(v, PL_EFORBIDDEN, "bad_credentials", 0);
        return;
    }
    /* The counter is stored only if it still grows (a racing assertion). */
    pl_store_write(v->p->st, verify_used_work, verify_used_done, v);
}

static void verify_challenge_taken(void *arg, int rc, int64_t bound)
{
    verify_t *v = arg;
    (void)bound;
    if (rc == PL_ECLOSED) {
        v->done(v, PL_ECLOSED, "unavailable", 0);
        return;
    }
    if (rc < 0) {
        v->done(v, PL_EFORBIDDEN, "bad_challenge", 0);
        return;
    }
    pl_store_read(v->p->st, verify_lookup_work, verify_looked_up, v);
}

static void verify_start(pl_api_passkey_t *p, const pl_addr_t *addr, json_t *credential,
                         int64_t expect_user, verify_t *v)
{
    v->p = p;
    v->addr = *addr;
    v->expect_user = expect_user;
    const char *msg = NULL;
    int rc = cred_parse(credential, false, &v->in, &msg);
    if (rc < 0) {
        v->done(v, PL_EINVAL, rc == PL_ETOOBIG ? "too_large" : "bad_request", 0);
        return;
    }
    challenge_take(p, &v->in, PL_WA_FOR_LOGIN, v->ch, verify_challenge_taken, v);
}

static void verify_api_done(verify_t *v, int status, const char *code, uint64_t retry_ms)
{
    v->cb(v->arg, status, status == 0 ? v->key.user_id : 0, code, retry_ms);
    verify_free(v);
}

void pl_api_passkey_verify(pl_api_passkey_t *p, const pl_addr_t *addr, json_t *credential,
                           int64_t expect_user, pl_api_passkey_cb cb, void *arg)
{
    verify_t *v = pl_xcalloc(1, sizeof *v);
    v->done = verify_api_done;
    v->cb = cb;
    v->arg = arg;
    verify_start(p, addr, credential, expect_user, v);
}

/* -- POST /v1/passkeys/login -- */

static void login_done(verify_t *v, int status, const char *code, uint64_t retry_ms)
{
    pl_http_req_t *req = v->req;
    if (status == 0) {
        pl_log(PL_LOG_INFO, "auth", "passkey login user=u%" PRId64 " key=k%" PRId64, v->user.id,
               v->key.id);
        v->p->session(v->p->session_ud, req, v->user.id, v->user.username, v->device_name);
    } else if (status == PL_EAGAIN) {
        pl_api__respond_limited(req, retry_ms, "too many login attempts");
    } else if (!strcmp(code, "bad_challenge")) {
        pl_api_error(req, 400, "bad_challenge",
                     "unknown, used or expired challenge: ask /v1/passkeys/login/options");
    } else if (status == PL_EFORBIDDEN) {
        pl_api_error(req, 401, "bad_credentials", "the passkey was not accepted");
    } else if (status == PL_EINVAL) {
        respond_cred_error(req, strcmp(code, "too_large") ? PL_EINVAL : PL_ETOOBIG,
                           "\"credential\" must hold base64url id, clientDataJSON, "
                           "authenticatorData and signature of a size authenticators make");
    } else {
        pl_api_error(req, status == PL_ECLOSED ? 503 : 500,
                     status == PL_ECLOSED ? "unavailable" : "internal", "try again");
    }
    verify_free(v);
}

static void handle_login(pl_api_passkey_t *p, pl_http_req_t *req)
{
    json_t *body = pl_api__json_body(req);
    if (body == NULL)
        return;
    json_t *dev = json_object_get(body, "device_name");
    if (dev && !json_is_null(dev) &&
        (!json_is_string(dev) || json_string_length(dev) > DEVICE_NAME_MAX ||
         strlen(json_string_value(dev)) != json_string_length(dev))) {
        pl_api_error(req, 400, "bad_request", "\"device_name\" is a string of at most 64 bytes");
        json_decref(body);
        return;
    }
    verify_t *v = pl_xcalloc(1, sizeof *v);
    v->req = req;
    v->done = login_done;
    snprintf(v->device_name, sizeof v->device_name, "%s",
             json_is_string(dev) ? json_string_value(dev) : "");
    pl_addr_t addr;
    pl_http_client_addr(req, &addr);
    verify_start(p, &addr, json_object_get(body, "credential"), 0, v);
    json_decref(body);
}

/* ---- router ---- */

void pl_api_passkey_on_http(pl_api_passkey_t *p, pl_http_req_t *req)
{
    const char *m = pl_http_method(req), *path = pl_http_path(req) + strlen("/v1/passkeys");
    bool post = !strcmp(m, "POST");
    if (!strcmp(path, "") || !strcmp(path, "/")) {
        if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
            handle_list(p, req);
        else
            pl_api_error(req, 405, "method_not_allowed", "method not allowed for this path");
        return;
    }
    static const struct {
        const char *path;
        void (*fn)(pl_api_passkey_t *p, pl_http_req_t *req);
    } routes[] = {
        {"/register/options", handle_register_options},
        {"/register", handle_register},
        {"/login/options", handle_login_options},
        {"/login", handle_login},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(routes); i++) {
        if (strcmp(path, routes[i].path) != 0)
            continue;
        if (post)
            routes[i].fn(p, req);
        else
            pl_api_error(req, 405, "method_not_allowed", "method not allowed for this path");
        return;
    }
    if (path[0] == '/' && strchr(path + 1, '/') == NULL &&
        (!strcmp(m, "DELETE") || !strcmp(m, "PATCH"))) {
        handle_change(p, req, path + 1, !strcmp(m, "PATCH"));
        return;
    }
    pl_api_error(req, 404, "not_found", "no such endpoint");
}
