/* SPDX-License-Identifier: MIT */
/* api_operator.c -- the operator commands run on the store's direct
 * connection while the server may be running: --reset-link USER and
 * --invite-code. Both print a secret once; only its hash is stored.
 * --reset-link USER --mail-to ADDR queues the link as an email job instead. */
#include "api/api.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/err.h"
#include "core/util.h"
#include "jobs/jobs_mail.h"
#include "store/store.h"

/* ---- operator commands: parleyd --data DIR --reset-link USER / --invite-code ---- */

int pl_api_operator_command(pl_store_t *st, const pl_config_t *cfg, const char *cmd,
                            const char *arg, char *out, size_t cap)
{
    pl_db_t *db = pl_store_direct(st);
    char token[PL_TOKEN_LEN + 1];
    uint8_t h[32];
    int64_t now = pl_now_ms();
    pl_auth_token_new(token);
    pl_auth_token_hash(token, strlen(token), h);
    int rc;
    if (!strcmp(cmd, "reset-link")) {
        char norm[PL_USERNAME_MAX + 1];
        pl_user_t u = {0};
        if (!pl_auth_username_normalize(arg, norm) || pl_db_user_by_name(db, norm, &u) < 0) {
            snprintf(out, cap, "no user named '%s'", arg);
            return PL_ENOTFOUND;
        }
        rc = pl_db_reset_token_create(db, u.id, h, now, now + cfg->reset_link_ttl_ms);
        pl_user_dispose(&u);
        const char *base = cfg->public_url;
        size_t bl = strlen(base);
        if (rc == 0)
            snprintf(out, cap, "%.*s/#reset=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
                     base, token);
    } else if (!strcmp(cmd, "make-admin") || !strcmp(cmd, "revoke-admin")) {
        /* Server admins (issue 17): read every audit log. Audited with
         * actor 0, the operator at the shell. */
        char norm[PL_USERNAME_MAX + 1];
        pl_user_t u = {0};
        bool make = !strcmp(cmd, "make-admin");
        if (!pl_auth_username_normalize(arg, norm) || pl_db_user_by_name(db, norm, &u) < 0) {
            snprintf(out, cap, "no user named '%s'", arg);
            return PL_ENOTFOUND;
        }
        rc = pl_db_user_admin_set(db, u.id, make);
        pl_audit_t e = {.ts = now,
                        .actor = 0,
                        .action = make ? "make_admin" : "revoke_admin",
                        .target = u.id,
                        .reason = "",
                        .detail = ""};
        if (rc == 0)
            rc = pl_db_audit_add(db, &e);
        if (rc == 0)
            snprintf(out, cap, "%s is %s a server admin", u.username, make ? "now" : "no longer");
        pl_user_dispose(&u);
    } else if (!strcmp(cmd, "invite-code")) {
        rc = pl_db_invite_code_create(db, h, now, now + cfg->invite_code_ttl_ms);
        if (rc == 0)
            snprintf(out, cap, "%s", token);
    } else {
        rc = PL_EINVAL;
    }
    if (rc < 0 && rc != PL_EINVAL)
        snprintf(out, cap, "storage error: %s", pl_strerror(rc));
    sodium_memzero(token, sizeof token);
    return rc;
}

/* ---- parleyd --reset-link USER --mail-to ADDR (issue 13: the email job) ---- */

typedef struct {
    const pl_config_t *cfg;
    int64_t user_id;
    uint8_t hash[32];
    int64_t now;
    char *payload; /* the email job (holds the link) */
    int rc;
    int status;
    bool done;
} reset_mail_t;

static void reset_mail_work(pl_db_t *db, void *arg)
{
    reset_mail_t *m = arg;
    /* One transaction: never a link without its mail, nor a mail whose link
     * was not stored. */
    m->rc = pl_db_reset_token_create(db, m->user_id, m->hash, m->now,
                                     m->now + m->cfg->reset_link_ttl_ms);
    if (m->rc == 0)
        m->rc = pl_db_job_enqueue(db, "email", NULL, m->payload, m->now, m->now, NULL);
    if (m->rc != 0)
        pl_db_rollback_job(db);
}

static void reset_mail_done(int status, void *arg)
{
    reset_mail_t *m = arg;
    m->status = status;
    m->done = true;
}

int pl_api_operator_reset_mail(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg,
                               const char *user, const char *to, char *out, size_t cap)
{
    if (cfg->smtp_url[0] == '\0') {
        snprintf(out, cap, "--mail-to needs smtp_url (see docs/operations.md, Email)");
        return PL_EINVAL;
    }
    if (pl_mail_addr_ok(to) != 0) {
        snprintf(out, cap, "'%s' is not a plain email address", to);
        return PL_EINVAL;
    }
    char norm[PL_USERNAME_MAX + 1];
    pl_user_t u = {0};
    if (!pl_auth_username_normalize(user, norm) ||
        pl_db_user_by_name(pl_store_direct(st), norm, &u) < 0) {
        snprintf(out, cap, "no user named '%s'", user);
        return PL_ENOTFOUND;
    }
    reset_mail_t m = {.cfg = cfg, .user_id = u.id, .now = pl_now_ms()};
    char token[PL_TOKEN_LEN + 1];
    pl_auth_token_new(token);
    pl_auth_token_hash(token, strlen(token), m.hash);
    const char *base = cfg->public_url;
    size_t bl = strlen(base);
    char link[512], body[1024];
    snprintf(link, sizeof link, "%.*s/#reset=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl),
             base, token);
    snprintf(body, sizeof body,
             "A password reset link was issued for the Parley account %s.\n\n"
             "Open it within %" PRId64 " minutes to choose a new password:\n\n%s\n\n"
             "It works once. If you did not ask for it, ignore this message.\n",
             u.username, cfg->reset_link_ttl_ms / 60000, link);
    json_t *p =
        json_pack("{s:s, s:s, s:s}", "to", to, "subject", "Parley password reset", "body", body);
    m.payload = p != NULL ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    int rc = PL_EINVAL;
    if (m.payload != NULL) {
        pl_store_write(st, reset_mail_work, reset_mail_done, &m);
        while (!m.done)
            uv_run(loop, UV_RUN_ONCE);
        rc = m.status != 0 ? m.status : m.rc;
    }
    if (rc == 0)
        snprintf(out, cap, "a reset link for %s goes to %s (a running parleyd sends it)",
                 u.username, to);
    else
        snprintf(out, cap, "cannot queue the reset email: %s", pl_strerror(rc));
    pl_user_dispose(&u);
    if (m.payload != NULL) {
        sodium_memzero(m.payload, strlen(m.payload));
        free(m.payload);
    }
    sodium_memzero(token, sizeof token);
    sodium_memzero(link, sizeof link);
    sodium_memzero(body, sizeof body);
    return rc;
}
