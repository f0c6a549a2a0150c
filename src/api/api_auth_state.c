/* SPDX-License-Identifier: MIT */
/* api_auth_state.c -- login state in this node's memory or in Redis (see
 * api_auth_state.h). */
#include "api/api_auth_state.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <uv.h>

#include "auth/auth.h"
#include "cluster/auth_state.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define HOUR_S 3600.0
#define KNOWN_MS (30ll * 86400 * 1000) /* as auth_limits.c's KNOWN_S */

/* Record kinds in Redis (cluster/auth_state.h). */
#define KIND_TICKET "mt"
#define KIND_TOTP "ts"
#define KIND_CHALLENGE "wc"

/* ---- pending TOTP setups in memory ---- */

typedef struct {
    int64_t user_id;
    uint8_t secret[PL_TOTP_SECRET_BYTES];
    uint64_t expires_ns;
    UT_hash_handle hh;
} setup_t;

struct pl_api_auth {
    const pl_config_t *cfg;
    /* one node */
    pl_auth_limits_t *limits;
    pl_mfa_tickets_t *tickets;
    pl_wa_challenges_t *challenges;
    setup_t *setups; /* insertion order = expiry order */
    /* a cluster */
    pl_cauth_t *shared; /* NULL: one node */
    pl_cauth_limits_t lim;
};

static void setup_drop(pl_api_auth_t *s, setup_t *e)
{
    HASH_DEL(s->setups, e);
    sodium_memzero(e, sizeof *e);
    free(e);
}

static void setup_prune(pl_api_auth_t *s, uint64_t now_ns)
{
    while (s->setups &&
           (s->setups->expires_ns <= now_ns || HASH_COUNT(s->setups) > PL_API_TOTP_SETUP_MAX))
        setup_drop(s, s->setups);
}

static pl_cauth_rate_t per(int64_t n, double period_s)
{
    pl_cauth_rate_t r = {(double)n / period_s, (double)n};
    return r;
}

pl_api_auth_t *pl_api_auth_new(const pl_config_t *cfg)
{
    pl_api_auth_t *s = pl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->limits = pl_auth_limits_new(cfg);
    s->tickets = pl_mfa_tickets_new((size_t)cfg->mfa_ticket_max);
    s->challenges = pl_wa_challenges_new((size_t)cfg->webauthn_challenges_max,
                                         (size_t)cfg->webauthn_challenges_per_ip,
                                         (uint64_t)PL_API_CHALLENGE_TTL_MS * 1000000);
    s->lim.reg_ip = per(cfg->register_per_ip_hour, HOUR_S);
    s->lim.login_ip = per(cfg->login_per_ip_min, 60.0);
    s->lim.fail_ip = per(cfg->login_failures_per_ip_hour, HOUR_S);
    s->lim.fail_acct_ip = per(cfg->login_failures_per_account_ip_hour, HOUR_S);
    s->lim.fail_acct = per(cfg->login_failures_per_account_hour, HOUR_S);
    s->lim.free_failures = cfg->login_backoff_free_failures;
    s->lim.backoff_max_ms = cfg->login_backoff_max_ms;
    s->lim.known_ms = KNOWN_MS;
    return s;
}

void pl_api_auth_free(pl_api_auth_t *s)
{
    if (s == NULL)
        return;
    pl_cauth_free(s->shared);
    pl_auth_limits_free(s->limits);
    pl_mfa_tickets_free(s->tickets);
    pl_wa_challenges_free(s->challenges);
    setup_t *e, *tmp;
    HASH_ITER(hh, s->setups, e, tmp)
    {
        setup_drop(s, e);
    }
    free(s);
}

void pl_api_auth_set_cluster(pl_api_auth_t *s, pl_cluster_t *cl)
{
    pl_cauth_free(s->shared);
    s->shared = cl ? pl_cauth_new(cl) : NULL;
}

bool pl_api_auth_shared(const pl_api_auth_t *s)
{
    return s->shared != NULL;
}

/* ---- keys ---- */

static void ip_hex(const pl_addr_t *a, char out[33])
{
    pl_addr_t k = pl_addr_limit_key(a);
    sodium_bin2hex(out, 33, k.b, sizeof k.b);
}

/* The hex of a username; "0" (no name's hex: odd length) for none. */
static void user_hex(const char *username, char out[2 * PL_USERNAME_MAX + 1])
{
    size_t n = strnlen(username, PL_USERNAME_MAX);
    if (n == 0)
        snprintf(out, 2 * PL_USERNAME_MAX + 1, "0");
    else
        sodium_bin2hex(out, 2 * PL_USERNAME_MAX + 1, (const unsigned char *)username, n);
}

/* A failed call to Redis: logged once a second at most. */
static void shared_failed(const char *what, int rc)
{
    static uint64_t last_ns;
    uint64_t now = uv_hrtime();
    if (now - last_ns < 1000000000ull && last_ns != 0)
        return;
    last_ns = now;
    pl_log(PL_LOG_WARN, "auth", "shared login state unavailable op=%s err=%d", what, rc);
}

/* ---- limits ---- */

typedef struct {
    pl_api_auth_wait_cb cb;
    void *arg;
    pl_login_ticket_t *t;
} wait_ctx_t;

static const char *why_name(int64_t why)
{
    switch (why) {
    case PL_CAUTH_WHY_LOGIN_IP:
        return "login_per_ip_min";
    case PL_CAUTH_WHY_BACKOFF:
        return "login_backoff";
    case PL_CAUTH_WHY_FAIL_ACCT_IP:
        return "login_failures_per_account_ip_hour";
    case PL_CAUTH_WHY_FAIL_IP:
        return "login_failures_per_ip_hour";
    default:
        return "login_failures_per_account_hour";
    }
}

static void on_limit(void *arg, int rc, const int64_t *v, size_t n)
{
    wait_ctx_t *c = arg;
    if (rc < 0) {
        shared_failed("limits", rc);
        c->cb(c->arg, PL_ECLOSED, 0, "");
    } else if (n == 1) {
        c->cb(c->arg, 0, (uint64_t)v[0], "register_per_ip_hour");
    } else {
        if (v[0] == 0 && c->t != NULL)
            *c->t = (pl_login_ticket_t){.active = true, .account = v[2] == 1};
        c->cb(c->arg, 0, (uint64_t)v[0], v[0] > 0 ? why_name(v[1]) : "");
    }
    free(c);
}

void pl_api_auth_register(pl_api_auth_t *s, const pl_addr_t *addr, pl_api_auth_wait_cb cb,
                          void *arg)
{
    if (s->shared == NULL) {
        cb(arg, 0, pl_auth_limits_register(s->limits, addr, uv_hrtime()), "register_per_ip_hour");
        return;
    }
    char ip[33];
    ip_hex(addr, ip);
    wait_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    int rc = pl_cauth_register(s->shared, &s->lim, ip, on_limit, c);
    if (rc < 0)
        on_limit(c, rc, NULL, 0);
}

void pl_api_auth_login_begin(pl_api_auth_t *s, const char *username, const pl_addr_t *addr,
                             pl_login_ticket_t *t, pl_api_auth_wait_cb cb, void *arg)
{
    *t = (pl_login_ticket_t){0};
    if (s->shared == NULL) {
        const char *why = "";
        uint64_t w = pl_auth_limits_login_begin(s->limits, username, addr, uv_hrtime(), t, &why);
        cb(arg, 0, w, why);
        return;
    }
    char ip[33], user[2 * PL_USERNAME_MAX + 1];
    ip_hex(addr, ip);
    user_hex(username, user);
    wait_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    c->t = t;
    int rc = pl_cauth_login_begin(s->shared, &s->lim, user, ip, on_limit, c);
    if (rc < 0)
        on_limit(c, rc, NULL, 0);
}

static void on_end(void *arg, int rc, const int64_t *v, size_t n)
{
    (void)arg, (void)v, (void)n;
    if (rc < 0)
        shared_failed("login_end", rc);
}

void pl_api_auth_login_end(pl_api_auth_t *s, const char *username, const pl_addr_t *addr,
                           pl_login_ticket_t *t, pl_login_outcome_t outcome)
{
    if (!t->active)
        return;
    if (s->shared == NULL) {
        pl_auth_limits_login_end(s->limits, username, addr, t, outcome, uv_hrtime());
        return;
    }
    t->active = false;
    char ip[33], user[2 * PL_USERNAME_MAX + 1];
    ip_hex(addr, ip);
    user_hex(username, user);
    char o = outcome == PL_LOGIN_OK ? 'o' : outcome == PL_LOGIN_FAILED ? 'f' : 'a';
    int rc = pl_cauth_login_end(s->shared, &s->lim, user, ip, o, t->account, on_end, NULL);
    if (rc < 0)
        shared_failed("login_end", rc);
}

/* ---- MFA tickets ---- */

typedef struct {
    pl_api_auth_issue_cb cb;
    pl_api_auth_ticket_cb tcb;
    void *arg;
    char ticket[PL_TOKEN_LEN + 1];
} ticket_ctx_t;

static void on_ticket_put(void *arg, int rc, int64_t v)
{
    ticket_ctx_t *c = arg;
    if (rc == 0 && v != 0)
        rc = PL_EPROTO; /* evicting puts are never refused */
    if (rc < 0)
        shared_failed("ticket_issue", rc);
    c->cb(c->arg, rc < 0 ? PL_ECLOSED : 0, rc < 0 ? NULL : c->ticket);
    sodium_memzero(c, sizeof *c);
    free(c);
}

void pl_api_auth_ticket_issue(pl_api_auth_t *s, const pl_mfa_ticket_info_t *info,
                              pl_api_auth_issue_cb cb, void *arg)
{
    if (s->shared == NULL) {
        char ticket[PL_TOKEN_LEN + 1];
        pl_mfa_ticket_issue(s->tickets, info, uv_hrtime(), ticket);
        cb(arg, 0, ticket);
        sodium_memzero(ticket, sizeof ticket);
        return;
    }
    ticket_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    pl_auth_token_new(c->ticket);
    char id[65], val[PL_MFA_TICKET_INFO_TEXT + 1];
    pl_mfa_ticket_key_hex(c->ticket, id);
    size_t vlen = pl_mfa_ticket_info_encode(info, val);
    pl_cauth_put_t p = {.kind = KIND_TICKET,
                        .id = id,
                        .value = val,
                        .value_len = vlen,
                        .tag = "",
                        .ttl_ms = (int64_t)(PL_MFA_TICKET_TTL_NS / 1000000),
                        .max = s->cfg->mfa_ticket_max,
                        .evict = true,
                        .addr = ""};
    int rc = pl_cauth_slot_put(s->shared, &p, on_ticket_put, c);
    if (rc < 0)
        on_ticket_put(c, rc, 0);
}

static void on_ticket_read(void *arg, int rc, const char *v, size_t len)
{
    ticket_ctx_t *c = arg;
    pl_mfa_ticket_info_t info;
    if (rc == 0 && !pl_mfa_ticket_info_decode(v, len, &info)) {
        pl_log(PL_LOG_WARN, "auth", "malformed MFA ticket record in Redis");
        rc = PL_ENOTFOUND; /* never trusted */
    }
    if (rc < 0 && rc != PL_ENOTFOUND) {
        shared_failed("ticket_read", rc);
        rc = PL_ECLOSED;
    }
    c->tcb(c->arg, rc, rc == 0 ? &info : NULL);
    free(c);
}

static void ticket_read(pl_api_auth_t *s, const char *ticket, pl_cauth_read_t op,
                        pl_api_auth_ticket_cb cb, void *arg)
{
    pl_mfa_ticket_info_t info;
    if (s->shared == NULL) {
        bool ok = op == PL_CAUTH_GET ? pl_mfa_ticket_peek(s->tickets, ticket, uv_hrtime(), &info)
                                     : pl_mfa_ticket_claim(s->tickets, ticket, uv_hrtime(), &info);
        cb(arg, ok ? 0 : PL_ENOTFOUND, ok ? &info : NULL);
        return;
    }
    char id[65];
    if (!pl_mfa_ticket_key_hex(ticket, id)) {
        cb(arg, PL_ENOTFOUND, NULL);
        return;
    }
    ticket_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->tcb = cb;
    c->arg = arg;
    int rc = pl_cauth_slot_read(s->shared, op, KIND_TICKET, id, "", PL_API_TICKET_LEASE_MS,
                                on_ticket_read, c);
    if (rc < 0)
        on_ticket_read(c, rc, NULL, 0);
}

void pl_api_auth_ticket_peek(pl_api_auth_t *s, const char *ticket, pl_api_auth_ticket_cb cb,
                             void *arg)
{
    ticket_read(s, ticket, PL_CAUTH_GET, cb, arg);
}

void pl_api_auth_ticket_claim(pl_api_auth_t *s, const char *ticket, pl_api_auth_ticket_cb cb,
                              void *arg)
{
    ticket_read(s, ticket, PL_CAUTH_CLAIM, cb, arg);
}

static void on_finished(void *arg, int rc, int64_t v)
{
    (void)arg, (void)v;
    if (rc < 0)
        shared_failed("ticket_finish", rc);
}

void pl_api_auth_ticket_finish(pl_api_auth_t *s, const char *ticket, bool ok)
{
    if (s->shared == NULL) {
        pl_mfa_ticket_finish(s->tickets, ticket, ok, uv_hrtime());
        return;
    }
    char id[65];
    if (!pl_mfa_ticket_key_hex(ticket, id))
        return;
    /* Unanswered (Redis down): the claim lapses after its lease and the
     * ticket after its TTL; a success's session exists already. */
    int rc = pl_cauth_slot_finish(s->shared, KIND_TICKET, id, ok, PL_MFA_TICKET_TRIES, on_finished,
                                  NULL);
    if (rc < 0)
        shared_failed("ticket_finish", rc);
}

size_t pl_api_auth_ticket_count(pl_api_auth_t *s)
{
    return pl_mfa_tickets_count(s->tickets, uv_hrtime());
}

/* ---- pending TOTP setups ---- */

typedef struct {
    pl_api_auth_done_cb cb;
    pl_api_auth_secret_cb scb;
    void *arg;
    const uint8_t *key;
} totp_ctx_t;

static void on_totp_put(void *arg, int rc, int64_t v)
{
    totp_ctx_t *c = arg;
    if (rc == 0 && v != 0)
        rc = PL_EPROTO;
    if (rc < 0)
        shared_failed("totp_put", rc);
    c->cb(c->arg, rc < 0 ? PL_ECLOSED : 0);
    free(c);
}

void pl_api_auth_totp_put(pl_api_auth_t *s, int64_t user_id, const uint8_t *secret,
                          const uint8_t *totp_key, pl_api_auth_done_cb cb, void *arg)
{
    if (s->shared == NULL) {
        uint64_t now = uv_hrtime();
        setup_t *e = NULL;
        HASH_FIND(hh, s->setups, &user_id, sizeof user_id, e);
        if (e)
            setup_drop(s, e);
        e = pl_xcalloc(1, sizeof *e);
        e->user_id = user_id;
        memcpy(e->secret, secret, sizeof e->secret);
        e->expires_ns = now + (uint64_t)PL_API_TOTP_SETUP_TTL_MS * 1000000;
        HASH_ADD(hh, s->setups, user_id, sizeof e->user_id, e);
        setup_prune(s, now);
        cb(arg, 0);
        return;
    }
    uint8_t stored[PL_TOTP_STORED_MAX];
    char hex[2 * PL_TOTP_STORED_MAX + 1], id[24];
    size_t n = pl_totp_seal(totp_key, secret, PL_TOTP_SECRET_BYTES, stored);
    sodium_bin2hex(hex, sizeof hex, stored, n);
    snprintf(id, sizeof id, "%" PRId64, user_id);
    totp_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    pl_cauth_put_t p = {.kind = KIND_TOTP,
                        .id = id,
                        .value = hex,
                        .value_len = 2 * n,
                        .tag = "",
                        .ttl_ms = PL_API_TOTP_SETUP_TTL_MS,
                        .max = PL_API_TOTP_SETUP_MAX,
                        .evict = true,
                        .addr = ""};
    int rc = pl_cauth_slot_put(s->shared, &p, on_totp_put, c);
    sodium_memzero(stored, sizeof stored);
    sodium_memzero(hex, sizeof hex);
    if (rc < 0)
        on_totp_put(c, rc, 0);
}

static void on_totp_get(void *arg, int rc, const char *v, size_t len)
{
    totp_ctx_t *c = arg;
    uint8_t stored[PL_TOTP_STORED_MAX], secret[32];
    size_t n = 0;
    if (rc == 0 && (len > 2 * sizeof stored ||
                    sodium_hex2bin(stored, sizeof stored, v, len, NULL, &n, NULL) != 0 ||
                    pl_totp_open(c->key, stored, n, secret) != PL_TOTP_SECRET_BYTES)) {
        pl_log(PL_LOG_WARN, "auth",
               "pending TOTP setup in Redis cannot be opened "
               "(malformed, or totp_secret_key differs between nodes)");
        rc = PL_ENOTFOUND;
    }
    if (rc < 0 && rc != PL_ENOTFOUND) {
        shared_failed("totp_get", rc);
        rc = PL_ECLOSED;
    }
    c->scb(c->arg, rc, rc == 0 ? secret : NULL);
    sodium_memzero(stored, sizeof stored);
    sodium_memzero(secret, sizeof secret);
    free(c);
}

void pl_api_auth_totp_get(pl_api_auth_t *s, int64_t user_id, const uint8_t *totp_key,
                          pl_api_auth_secret_cb cb, void *arg)
{
    if (s->shared == NULL) {
        setup_prune(s, uv_hrtime());
        setup_t *e = NULL;
        HASH_FIND(hh, s->setups, &user_id, sizeof user_id, e);
        cb(arg, e ? 0 : PL_ENOTFOUND, e ? e->secret : NULL);
        return;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, user_id);
    totp_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->scb = cb;
    c->arg = arg;
    c->key = totp_key;
    int rc = pl_cauth_slot_read(s->shared, PL_CAUTH_GET, KIND_TOTP, id, "", 0, on_totp_get, c);
    if (rc < 0)
        on_totp_get(c, rc, NULL, 0);
}

static void on_dropped(void *arg, int rc, const char *v, size_t len)
{
    (void)arg, (void)v, (void)len;
    if (rc < 0 && rc != PL_ENOTFOUND)
        shared_failed("totp_drop", rc);
}

void pl_api_auth_totp_drop(pl_api_auth_t *s, int64_t user_id)
{
    if (s->shared == NULL) {
        setup_t *e = NULL;
        HASH_FIND(hh, s->setups, &user_id, sizeof user_id, e);
        if (e)
            setup_drop(s, e);
        return;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, user_id);
    int rc = pl_cauth_slot_read(s->shared, PL_CAUTH_TAKE, KIND_TOTP, id, "", 0, on_dropped, NULL);
    if (rc < 0)
        shared_failed("totp_drop", rc);
}

/* ---- WebAuthn challenges ---- */

typedef struct {
    pl_api_auth_challenge_cb cb;
    pl_api_auth_take_cb tcb;
    void *arg;
    unsigned char ch[PL_WA_CHALLENGE_LEN];
} ch_ctx_t;

/* The record id of a challenge: SHA-256, hex. */
static void challenge_id(const unsigned char ch[PL_WA_CHALLENGE_LEN], char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, ch, PL_WA_CHALLENGE_LEN);
    sodium_bin2hex(out, 65, h, sizeof h);
}

static void on_challenge_put(void *arg, int rc, int64_t v)
{
    ch_ctx_t *c = arg;
    if (rc < 0)
        shared_failed("challenge_issue", rc);
    rc = rc < 0 ? PL_ECLOSED : v == 0 ? 0 : PL_ETOOBIG;
    c->cb(c->arg, rc, rc == 0 ? c->ch : NULL);
    free(c);
}

void pl_api_auth_challenge_issue(pl_api_auth_t *s, const pl_addr_t *addr, pl_wa_purpose_t purpose,
                                 int64_t user_id, pl_api_auth_challenge_cb cb, void *arg)
{
    if (s->shared == NULL) {
        unsigned char ch[PL_WA_CHALLENGE_LEN];
        int rc = pl_wa_challenge_issue(s->challenges, addr, purpose, user_id, uv_hrtime(), ch);
        cb(arg, rc < 0 ? PL_ETOOBIG : 0, rc < 0 ? NULL : ch);
        return;
    }
    ch_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    randombytes_buf(c->ch, sizeof c->ch);
    char id[65], ip[33], val[24];
    challenge_id(c->ch, id);
    ip_hex(addr, ip);
    int vlen = snprintf(val, sizeof val, "%" PRId64, user_id);
    pl_cauth_put_t p = {.kind = KIND_CHALLENGE,
                        .id = id,
                        .value = val,
                        .value_len = (size_t)vlen,
                        .tag = purpose == PL_WA_FOR_REGISTER ? "r" : "l",
                        .ttl_ms = PL_API_CHALLENGE_TTL_MS,
                        .max = s->cfg->webauthn_challenges_max,
                        .evict = false,
                        .addr = ip,
                        .per_addr = s->cfg->webauthn_challenges_per_ip};
    int rc = pl_cauth_slot_put(s->shared, &p, on_challenge_put, c);
    if (rc < 0)
        on_challenge_put(c, rc, 0);
}

static void on_challenge_take(void *arg, int rc, const char *v, size_t len)
{
    ch_ctx_t *c = arg;
    int64_t user = 0;
    if (rc == 0) {
        bool ok = len > 0 && len <= 18;
        for (size_t i = 0; ok && i < len; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            user = user * 10 + (v[i] - '0');
        }
        if (!ok) {
            pl_log(PL_LOG_WARN, "auth", "malformed WebAuthn challenge record in Redis");
            rc = PL_ENOTFOUND;
        }
    }
    if (rc < 0 && rc != PL_ENOTFOUND) {
        shared_failed("challenge_take", rc);
        rc = PL_ECLOSED;
    }
    c->tcb(c->arg, rc, rc == 0 ? user : 0);
    free(c);
}

void pl_api_auth_challenge_take(pl_api_auth_t *s, const unsigned char ch[PL_WA_CHALLENGE_LEN],
                                pl_wa_purpose_t purpose, pl_api_auth_take_cb cb, void *arg)
{
    if (s->shared == NULL) {
        int64_t user = 0;
        int rc = pl_wa_challenge_take(s->challenges, ch, purpose, uv_hrtime(), &user);
        cb(arg, rc == 0 ? 0 : PL_ENOTFOUND, user);
        return;
    }
    char id[65];
    challenge_id(ch, id);
    ch_ctx_t *c = pl_xcalloc(1, sizeof *c);
    c->tcb = cb;
    c->arg = arg;
    int rc = pl_cauth_slot_read(s->shared, PL_CAUTH_TAKE, KIND_CHALLENGE, id,
                                purpose == PL_WA_FOR_REGISTER ? "r" : "l", 0, on_challenge_take, c);
    if (rc < 0)
        on_challenge_take(c, rc, NULL, 0);
}
